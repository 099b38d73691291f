/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pre-shared keys on disk, kept apart from the PSK method (methods do no
 * I/O; they reach keys through kex_env.psk_lookup).
 *
 * A PSK file holds the raw key bytes, KEX_PSK_MIN_LEN..KEX_PSK_MAX_LEN
 * (32..1024) of them, no encoding. It must be a regular file (not a
 * symlink), owned by the effective user, with no group or other permission
 * bits (0600 or stricter). A PSK directory holds one file per key:
 * <dir>/<id>.psk, where id matches [A-Za-z0-9._-]{1,64}, so an ID can
 * never name a path outside the directory.
 *
 * Errors (negative errno), chosen so that the caller can print what to fix:
 *   -EINVAL        the PSK ID is not [A-Za-z0-9._-]{1,64} (lookup only)
 *   -ENOKEY        no file for this ID in the directory, or no such
 *                  directory (lookup only)
 *   -ENOENT        the file does not exist (psk_file_load only)
 *   -ENAMETOOLONG  <dir>/<id>.psk does not fit in PATH_MAX
 *   -ELOOP         the file is a symbolic link
 *   -EISDIR        the file is a directory
 *   -EBADFD        the file is not a regular file (FIFO, device, socket)
 *   -EACCES        the file cannot be opened (permission denied), or it is
 *                  not owned by the effective user (fix: chown)
 *   -EPERM         the file mode grants group or other access (fix: chmod 600)
 *   -EBADMSG       the file is shorter than KEX_PSK_MIN_LEN bytes (or empty)
 *   -EMSGSIZE      the file is longer than KEX_PSK_MAX_LEN bytes
 *   -EIO           a read failed, or the file changed size while being read
 *   -ENOMEM        no memory for the secret
 *   other          an errno from open() or fstat(), negated
 */
#ifndef MFS_KEX_PSK_FILE_H
#define MFS_KEX_PSK_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/secret.h"
#include "kex/kex.h"

#define PSK_FILE_SUFFIX ".psk"

/* True when id[0..len) matches [A-Za-z0-9._-]{1,KEX_PSK_ID_MAX}. */
bool psk_id_valid(const char *id, size_t len);
/* The same for a NUL-terminated string: 0, or -EINVAL (also for NULL). */
int psk_id_check(const char *id);

/*
 * Load the PSK file at path into a new secret (caller frees with
 * secret_free()). *ret is written only on success.
 */
int psk_file_load(const char *path, struct secret **ret);

/*
 * Load <dir>/<id>.psk after checking the ID syntax (-EINVAL). A missing
 * file or directory is -ENOKEY (unknown ID); every other error is
 * psk_file_load()'s.
 */
int psk_dir_load(const char *dir, const char *id, struct secret **ret);

/*
 * psk_dir_load() in the shape of kex_env.psk_lookup; arg is the directory
 * path (const char *), which must outlive the exchange. Cached: while the
 * file keeps its device, inode, size, mtime and ctime (one lstat() per
 * lookup, with the same mode and owner checks), the contents come from a
 * small in-memory cache (secret memory, shared by all threads) instead of a
 * new read; any change, or removal, reads again or fails as psk_dir_load().
 */
int psk_dir_lookup(void *arg, const char *id, struct secret **ret);

#endif
