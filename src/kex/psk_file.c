/* SPDX-License-Identifier: Apache-2.0 */
#include "kex/psk_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool psk_id_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
}

bool psk_id_valid(const char *id, size_t len)
{
	if (!id || len == 0 || len > KEX_PSK_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!psk_id_char(id[i]))
			return false;
	return true;
}

int psk_id_check(const char *id)
{
	if (!id)
		return -EINVAL;
	/* Looking one past the maximum is enough to know the ID is too long. */
	return psk_id_valid(id, strnlen(id, KEX_PSK_ID_MAX + 1)) ? 0 : -EINVAL;
}

/* Regular, ours, 0600 or stricter, 32..1024 bytes. */
static int psk_file_check(const struct stat *st)
{
	if (S_ISLNK(st->st_mode))
		return -ELOOP;
	if (S_ISDIR(st->st_mode))
		return -EISDIR;
	if (!S_ISREG(st->st_mode))
		return -EBADFD;
	if (st->st_uid != geteuid())
		return -EACCES;
	if (st->st_mode & (S_IRWXG | S_IRWXO))
		return -EPERM;
	if (st->st_size < KEX_PSK_MIN_LEN)
		return -EBADMSG;
	if (st->st_size > KEX_PSK_MAX_LEN)
		return -EMSGSIZE;
	return 0;
}

int psk_file_load(const char *path, struct secret **ret)
{
	struct secret *s = NULL;
	struct stat st;
	uint8_t extra = 0;
	size_t got = 0;
	ssize_t n;
	int fd = -1, r;

	if (!path || !ret)
		return -EINVAL;
	/*
	 * O_NOFOLLOW: a symlink as the last component fails with ELOOP.
	 * O_NONBLOCK: opening a FIFO must not hang; fstat() then rejects it.
	 */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if ((r = psk_file_check(&st)) < 0)
		goto out;
	if (!(s = secret_alloc((size_t)st.st_size))) {
		r = -ENOMEM;
		goto out;
	}
	while (got < s->len) {
		n = read(fd, s->p + got, s->len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {	/* error, or the file shrank under us */
			r = -EIO;
			goto out;
		}
		got += (size_t)n;
	}
	/* The file grew under us: refuse rather than take a prefix. */
	do {
		n = read(fd, &extra, 1);
	} while (n < 0 && errno == EINTR);
	if (n != 0) {
		r = -EIO;
		goto out;
	}
	*ret = s;
	s = NULL;
	r = 0;
out:
	mfs_wipe(&extra, sizeof(extra));
	secret_free(s);
	if (fd >= 0)
		close(fd);
	return r;
}

int psk_dir_load(const char *dir, const char *id, struct secret **ret)
{
	char path[PATH_MAX];
	int n, r;

	if (!dir || !ret || psk_id_check(id) < 0)
		return -EINVAL;
	n = snprintf(path, sizeof(path), "%s/%s%s", dir, id, PSK_FILE_SUFFIX);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	r = psk_file_load(path, ret);
	return r == -ENOENT ? -ENOKEY : r;
}

int psk_dir_lookup(void *arg, const char *id, struct secret **ret)
{
	return psk_dir_load(arg, id, ret);
}
