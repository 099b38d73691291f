/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Careful file I/O for keys and configuration.
 *
 * Reading is bounded (a file larger than max is -EMSGSIZE, never read
 * whole) and refuses anything but a regular file. Writing is atomic: the
 * data goes to a temporary file in the target directory, is fsync()ed and
 * renamed over the target, then the directory is fsync()ed, so a crash
 * leaves either the old file or the complete new one, never half of it.
 */
#ifndef MFS_BASE_FILE_H
#define MFS_BASE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/secret.h"

enum file_flags {
	FILE_SECRET = 1U << 0,		/* read: refuse group/other access bits; write: 0600 */
	FILE_NO_FOLLOW = 1U << 1,	/* read: refuse a symbolic link */
	FILE_OVERWRITE = 1U << 2,	/* write: replace an existing file */
};

/*
 * Read a whole regular file of at most max bytes into a new malloc()ed
 * buffer (*ret, caller frees; one extra NUL byte is appended and not
 * counted). Errors: -ENOENT/-EACCES (open), -EINVAL not a regular file,
 * -EMSGSIZE larger than max, -EPERM FILE_SECRET and the mode lets group or
 * others read it, -ELOOP a link with FILE_NO_FOLLOW.
 */
int file_read(const char *path, size_t max, unsigned flags, uint8_t **ret, size_t *ret_len);
/* Same into secret memory (FILE_SECRET implied); *ret is freed with secret_free(). */
int file_read_secret(const char *path, size_t max, unsigned flags, struct secret **ret);

/*
 * Write len bytes atomically to path with mode 0600 (FILE_SECRET) or 0644.
 * -EEXIST when the file exists and FILE_OVERWRITE is not given; -ENOSPC and
 * other I/O errors leave no partial file behind.
 */
int file_write_atomic(const char *path, const void *data, size_t len, unsigned flags);

#endif
