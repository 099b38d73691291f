/* SPDX-License-Identifier: Apache-2.0 */
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_checked(const char *path, size_t max, unsigned flags, size_t *ret_size)
{
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | ((flags & FILE_NO_FOLLOW) ? O_NOFOLLOW : 0));
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto fail;
	}
	if ((flags & FILE_SECRET) && (st.st_mode & (S_IRWXG | S_IRWXO))) {
		r = -EPERM;
		goto fail;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > max) {
		r = -EMSGSIZE;
		goto fail;
	}
	*ret_size = (size_t)st.st_size;
	return fd;
fail:
	close(fd);
	return r;
}

/* Read exactly size bytes; a file that grew or shrank meanwhile is -EMSGSIZE / -EBADMSG. */
static int read_all(int fd, uint8_t *buf, size_t size)
{
	size_t got = 0;
	uint8_t extra;

	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EBADMSG;
		got += (size_t)n;
	}
	for (;;) {
		ssize_t n = read(fd, &extra, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		return n == 0 ? 0 : -EMSGSIZE;
	}
}

int file_read(const char *path, size_t max, unsigned flags, uint8_t **ret, size_t *ret_len)
{
	size_t size;
	uint8_t *buf;
	int fd, r;

	if ((fd = open_checked(path, max, flags, &size)) < 0)
		return fd;
	if (!(buf = malloc(size + 1))) {
		close(fd);
		return -ENOMEM;
	}
	r = read_all(fd, buf, size);
	close(fd);
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[size] = 0;
	*ret = buf;
	*ret_len = size;
	return 0;
}

int file_read_secret(const char *path, size_t max, unsigned flags, struct secret **ret)
{
	struct secret *s = NULL;
	size_t size;
	int fd, r;

	if ((fd = open_checked(path, max, flags | FILE_SECRET, &size)) < 0)
		return fd;
	if (size == 0) {
		close(fd);
		return -EBADMSG;
	}
	if (!(s = secret_alloc(size))) {
		close(fd);
		return -ENOMEM;
	}
	r = read_all(fd, s->p, size);
	close(fd);
	if (r < 0) {
		secret_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;
	int fd, r = 0;

	if (!slash) {
		dir[0] = '.';
		dir[1] = '\0';
	} else {
		n = slash == path ? 1 : (size_t)(slash - path);
		if (n >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int file_write_atomic(const char *path, const void *data, size_t len, unsigned flags)
{
	char tmp[PATH_MAX];
	const uint8_t *p = data;
	size_t done = 0;
	int fd, r, n;

	if (!(flags & FILE_OVERWRITE) && access(path, F_OK) == 0)
		return -EEXIST;
	n = snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)	/* created 0600 */
		return -errno;
	if (!(flags & FILE_SECRET) && fchmod(fd, 0644) < 0) {
		r = -errno;
		goto fail;
	}
	while (done < len) {
		ssize_t w = write(fd, p + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = -errno;
			goto fail;
		}
		done += (size_t)w;
	}
	if (fsync(fd) < 0) {
		r = -errno;
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		goto fail;
	}
	fd = -1;
	if (!(flags & FILE_OVERWRITE)) {
		/* link() fails if the target appeared meanwhile: never clobber. */
		if (link(tmp, path) < 0) {
			r = -errno;
			goto fail;
		}
		unlink(tmp);
	} else if (rename(tmp, path) < 0) {
		r = -errno;
		goto fail;
	}
	return fsync_dir_of(path);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}
