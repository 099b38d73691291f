/* SPDX-License-Identifier: Apache-2.0 */
/* Message digests through OpenSSL EVP: SHA-2, SHA-3 and SHAKE256. */
#ifndef MFS_CRYPTO_HASH_H
#define MFS_CRYPTO_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "base/iov.h"

enum hash_alg {
	HASH_SHA256,
	HASH_SHA384,
	HASH_SHA512,
	HASH_SHA3_256,
	HASH_SHA3_512,
};

#define HASH_MAX_LEN 64

/* Output length in bytes (32, 48 or 64). */
size_t hash_len(enum hash_alg alg);
/* OpenSSL's name for the digest ("SHA2-384", ...). */
const char *hash_name(enum hash_alg alg);

/* out[hash_len(alg)] = H(parts[0] || ... || parts[n-1]). */
int hash_v(enum hash_alg alg, const struct cbuf *parts, size_t n, uint8_t *out);
int hash(enum hash_alg alg, const void *in, size_t len, uint8_t *out);
/* SHAKE256 with out_len bytes of output. */
int shake256(const void *in, size_t len, uint8_t *out, size_t out_len);

/* Incremental hashing (transcripts). The context is opaque. */
struct hash_ctx {
	void *md;	/* EVP_MD_CTX */
	enum hash_alg alg;
};
int hash_init(struct hash_ctx *c, enum hash_alg alg);
int hash_update(struct hash_ctx *c, const void *in, size_t len);
/* Writes hash_len bytes and releases the context. */
int hash_final(struct hash_ctx *c, uint8_t *out);
/* Release without output; NULL-safe, idempotent. */
void hash_done(struct hash_ctx *c);

#endif
