/* SPDX-License-Identifier: Apache-2.0 */
#include "base/clock.h"
#include "kex/psk_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

/* path = dir/id.psk (PATH_MAX bytes); id checked; 0 or -EINVAL / -ENAMETOOLONG. */
static int psk_dir_path(const char *dir, const char *id, char path[static PATH_MAX])
{
	int n;

	if (!dir || psk_id_check(id) < 0)
		return -EINVAL;
	n = snprintf(path, PATH_MAX, "%s/%s%s", dir, id, PSK_FILE_SUFFIX);
	if (n < 0)
		return -EINVAL;
	if (n >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int psk_dir_load(const char *dir, const char *id, struct secret **ret)
{
	char path[PATH_MAX];
	int r;

	if (!ret)
		return -EINVAL;
	r = psk_dir_path(dir, id, path);
	if (r < 0)
		return r;
	r = psk_file_load(path, ret);
	return r == -ENOENT ? -ENOKEY : r;
}

/*
 * The daemon looks a PSK up once per exchange. A small cache keeps each
 * file's contents (in secret memory) with its identity and times; a lookup
 * costs one lstat() and a copy while the file stays the same, and reads
 * the file again as soon as any of device, inode, size, mtime or ctime
 * differ (an edit, a rename over it, a chmod), and at least once a second:
 * file times have a coarse granularity, so a same-size rewrite that reuses
 * the inode within one tick is not otherwise seen. The mode and owner
 * checks run on every lookup, against the lstat() result.
 */
#define PSK_CACHE_MAX 16
#define PSK_CACHE_TTL_NS 1000000000LL

struct psk_cached {
	char path[PATH_MAX];
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	int64_t loaded_ns;	/* CLOCK_MONOTONIC */
	struct secret *s;
};

static pthread_mutex_t psk_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct psk_cached psk_cache[PSK_CACHE_MAX];
static size_t psk_cache_next;

static bool same_file(const struct psk_cached *c, const struct stat *st)
{
	return c->dev == st->st_dev && c->ino == st->st_ino && c->size == st->st_size &&
	       c->mtime.tv_sec == st->st_mtim.tv_sec && c->mtime.tv_nsec == st->st_mtim.tv_nsec &&
	       c->ctime.tv_sec == st->st_ctim.tv_sec && c->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

static struct psk_cached *cache_find(const char *path)
{
	for (size_t i = 0; i < PSK_CACHE_MAX; i++)
		if (psk_cache[i].s && strcmp(psk_cache[i].path, path) == 0)
			return &psk_cache[i];
	return NULL;
}

static void cache_drop(struct psk_cached *c)
{
	secret_free(c->s);
	memset(c, 0, sizeof(*c));
}

int psk_dir_lookup(void *arg, const char *id, struct secret **ret)
{
	const char *dir = arg;
	char path[PATH_MAX];
	struct psk_cached *c;
	struct stat st, st2;
	struct secret *s = NULL;
	int r;

	if (!ret)
		return -EINVAL;
	r = psk_dir_path(dir, id, path);
	if (r < 0)
		return r;
	pthread_mutex_lock(&psk_cache_lock);
	if (lstat(path, &st) < 0) {
		r = errno == ENOENT ? -ENOKEY : -errno;
		if ((c = cache_find(path)))
			cache_drop(c);
		goto out;
	}
	if ((r = psk_file_check(&st)) < 0) {
		if ((c = cache_find(path)))
			cache_drop(c);
		goto out;
	}
	if ((c = cache_find(path)) && same_file(c, &st) &&
	    mfs_mono_ns() - c->loaded_ns < PSK_CACHE_TTL_NS) {
		r = (*ret = secret_dup(c->s->p, c->s->len)) ? 0 : -ENOMEM;
		goto out;
	}
	if (c)
		cache_drop(c);
	if ((r = psk_file_load(path, &s)) < 0) {
		r = r == -ENOENT ? -ENOKEY : r;
		goto out;
	}
	/* cache it only if the file did not change while it was read */
	if (lstat(path, &st2) == 0 && st2.st_dev == st.st_dev && st2.st_ino == st.st_ino &&
	    st2.st_size == (off_t)s->len && st2.st_mtim.tv_sec == st.st_mtim.tv_sec &&
	    st2.st_mtim.tv_nsec == st.st_mtim.tv_nsec && st2.st_ctim.tv_sec == st.st_ctim.tv_sec &&
	    st2.st_ctim.tv_nsec == st.st_ctim.tv_nsec) {
		c = &psk_cache[psk_cache_next];
		psk_cache_next = (psk_cache_next + 1) % PSK_CACHE_MAX;
		cache_drop(c);
		if ((c->s = secret_dup(s->p, s->len))) {
			memcpy(c->path, path, strlen(path) + 1);
			c->dev = st.st_dev;
			c->ino = st.st_ino;
			c->size = st.st_size;
			c->mtime = st.st_mtim;
			c->ctime = st.st_ctim;
			c->loaded_ns = mfs_mono_ns();
		}
	}
	*ret = s;
	s = NULL;
	r = 0;
out:
	pthread_mutex_unlock(&psk_cache_lock);
	secret_free(s);
	return r;
}
