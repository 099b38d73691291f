/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the key store tests: a scratch directory, exchanges, raw file search. */
#ifndef MFS_TEST_STORE_UTIL_H
#define MFS_TEST_STORE_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kex/kex.h"
#include "store/store.h"

#define T_KEY_LEN 32

/* Key bytes that say which key they are: 0xA5 0x5A, then the key ID, then a marker. */
static inline void t_key_bytes(const struct store_key_id *id, uint8_t out[static T_KEY_LEN])
{
	out[0] = 0xa5;
	out[1] = 0x5a;
	memcpy(out + 2, id->b, STORE_KEY_ID_LEN);
	memcpy(out + 18, "MFS-SENTINEL-K", 14);
}

static inline void t_exchange(struct store_exchange *x, const char *peer, const char *cls,
			      uint32_t seq, const uint16_t *methods, size_t n_methods)
{
	memset(x, 0, sizeof(*x));
	x->peer = peer;
	x->class_name = cls;
	x->id_len = 8;
	memcpy(x->id, "xchg", 4);
	x->id[4] = (uint8_t)(seq >> 24);
	x->id[5] = (uint8_t)(seq >> 16);
	x->id[6] = (uint8_t)(seq >> 8);
	x->id[7] = (uint8_t)seq;
	memcpy(x->methods, methods, n_methods * sizeof(*methods));
	x->n_methods = n_methods;
}

/* Whole file into a malloc()ed buffer (NULL and *len 0 when missing). */
static inline uint8_t *t_slurp(const char *path, size_t *len)
{
	struct stat stt;
	uint8_t *buf;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*len = 0;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &stt) < 0 || !(buf = malloc((size_t)stt.st_size + 1))) {
		close(fd);
		return NULL;
	}
	n = read(fd, buf, (size_t)stt.st_size);
	close(fd);
	*len = n > 0 ? (size_t)n : 0;
	return buf;
}

/* True when needle occurs in the file at path. */
static inline bool t_file_contains(const char *path, const void *needle, size_t nlen)
{
	size_t len;
	uint8_t *buf = t_slurp(path, &len);
	bool found = buf && memmem(buf, len, needle, nlen) != NULL;

	free(buf);
	return found;
}

#endif
