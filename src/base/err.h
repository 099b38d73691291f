/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Errors are negative errno values (STYLE.md §4):
 *   -EBADMSG malformed, -EMSGSIZE too big, -EKEYREJECTED auth/MAC failure,
 *   -EALREADY replay, -EPROTO bad state, -EOPNOTSUPP unsupported,
 *   -EAGAIN not ready, -ENOKEY unknown key/PSK ID, -EINVAL bad argument.
 */
#ifndef MFS_BASE_ERR_H
#define MFS_BASE_ERR_H

/* A short human description of a negative errno, in the project's terms. */
const char *mfs_strerror(int err);

#endif
