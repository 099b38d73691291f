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
#include "proto/pool.h"
#include "store/store.h"

#define T_KEY_LEN 32

/*
 * A test exchange ID: seq in bytes 0..3 (so in the tag), a fixed filler,
 * made a valid pool exchange ID (version 8, direction 0, index 0).
 */
static inline void t_exchange_id(uint32_t seq, uint8_t id[static STORE_KEY_ID_LEN])
{
	static const uint8_t fill[STORE_KEY_ID_LEN] = "....xc.g..-mfs-t";

	memcpy(id, fill, STORE_KEY_ID_LEN);
	id[0] = (uint8_t)(seq >> 24);
	id[1] = (uint8_t)(seq >> 16);
	id[2] = (uint8_t)(seq >> 8);
	id[3] = (uint8_t)seq;
	pool_exchange_id_from(id);
}

static inline void t_exchange(struct store_exchange *x, const char *peer, const char *cls,
			      uint32_t seq, const uint16_t *methods, size_t n_methods)
{
	memset(x, 0, sizeof(*x));
	x->peer = peer;
	x->class_name = cls;
	x->id_len = STORE_KEY_ID_LEN;
	t_exchange_id(seq, x->id);
	memcpy(x->methods, methods, n_methods * sizeof(*methods));
	x->n_methods = n_methods;
}

/*
 * The pool secrets of a test exchange (protocol direction 0 then 1): bytes
 * that say which they are: 0xA5, 0x5A ^ d, the exchange ID, a marker.
 */
static inline void t_pool_secrets(const uint8_t xid[static STORE_KEY_ID_LEN],
				  uint8_t out[static 2 * STORE_POOL_SECRET_LEN])
{
	for (unsigned d = 0; d < 2; d++) {
		uint8_t *o = out + d * STORE_POOL_SECRET_LEN;

		o[0] = 0xa5;
		o[1] = (uint8_t)(0x5a ^ d);
		memcpy(o + 2, xid, STORE_KEY_ID_LEN);
		memcpy(o + 18, "MFS-SENTINEL-K", 14);
	}
}

/* The key bytes a test key ID must have: derived from its exchange's t_pool_secrets(). */
static inline void t_key_bytes(const struct store_key_id *id, uint8_t out[static T_KEY_LEN])
{
	uint8_t xid[STORE_KEY_ID_LEN], s[2 * STORE_POOL_SECRET_LEN];
	unsigned d = 0, i = 0;
	uint64_t tag;

	memset(out, 0, T_KEY_LEN);
	if (pool_key_id_parse(id->b, &tag, &d, &i, xid) < 0)
		return;
	t_pool_secrets(xid, s);
	if (pool_key_derive(s + d * STORE_POOL_SECRET_LEN, d, i, T_KEY_LEN, out) < 0)
		memset(out, 0, T_KEY_LEN);
}

/*
 * in: one test exchange of n keys per direction; secrets: its storage
 * (2 * STORE_POOL_SECRET_LEN). The key IDs of this side's outbound and
 * inbound keys go to out_ids/in_ids when given.
 */
static inline void t_pool_in(struct store_pool_in *in, uint8_t *secrets, const char *peer,
			     const char *cls, uint32_t seq, const uint16_t *methods, size_t n_methods,
			     enum store_role role, size_t n, int64_t nb, int64_t hard,
			     struct store_key_id *out_ids, struct store_key_id *in_ids)
{
	memset(in, 0, sizeof(*in));
	t_exchange(&in->x, peer, cls, seq, methods, n_methods);
	t_pool_secrets(in->x.id, secrets);
	in->role = role;
	in->secret = secrets;
	in->n_keys = n;
	in->key_len = T_KEY_LEN;
	in->not_before = nb;
	in->soft_expiry = nb + (hard - nb) / 2;
	in->hard_expiry = hard;
	for (unsigned i = 0; i < n; i++) {
		/* outbound is protocol direction 0 for the initiator */
		if (out_ids)
			pool_key_id(in->x.id, (unsigned)role, i, out_ids[i].b);
		if (in_ids)
			pool_key_id(in->x.id, 1U - (unsigned)role, i, in_ids[i].b);
	}
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
