/* SPDX-License-Identifier: Apache-2.0 */
#include "crypto/hash.h"

#include <errno.h>
#include <pthread.h>
#include <openssl/evp.h>

static const EVP_MD *md_legacy(enum hash_alg alg)
{
	switch (alg) {
	case HASH_SHA256: return EVP_sha256();
	case HASH_SHA384: return EVP_sha384();
	case HASH_SHA512: return EVP_sha512();
	case HASH_SHA3_256: return EVP_sha3_256();
	case HASH_SHA3_512: return EVP_sha3_512();
	}
	return NULL;
}

/*
 * The digests, fetched once: initialising a context with a legacy EVP_MD
 * (EVP_sha384()) fetches the provider's implementation on every call.
 */
#define N_ALGS (HASH_SHA3_512 + 1)
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_fetched[N_ALGS];

static void md_fetch_all(void)
{
	for (int a = 0; a < N_ALGS; a++)
		if (hash_name((enum hash_alg)a))
			md_fetched[a] = EVP_MD_fetch(NULL, hash_name((enum hash_alg)a), NULL);
}

static const EVP_MD *md_of(enum hash_alg alg)
{
	pthread_once(&md_once, md_fetch_all);
	if ((unsigned)alg < N_ALGS && md_fetched[alg])
		return md_fetched[alg];
	return md_legacy(alg);
}

size_t hash_len(enum hash_alg alg)
{
	switch (alg) {
	case HASH_SHA256:
	case HASH_SHA3_256: return 32;
	case HASH_SHA384: return 48;
	case HASH_SHA512:
	case HASH_SHA3_512: return 64;
	}
	return 0;
}

const char *hash_name(enum hash_alg alg)
{
	switch (alg) {
	case HASH_SHA256: return "SHA2-256";
	case HASH_SHA384: return "SHA2-384";
	case HASH_SHA512: return "SHA2-512";
	case HASH_SHA3_256: return "SHA3-256";
	case HASH_SHA3_512: return "SHA3-512";
	}
	return NULL;
}

int hash_init(struct hash_ctx *c, enum hash_alg alg)
{
	const EVP_MD *md = md_of(alg);
	EVP_MD_CTX *ctx;

	c->md = NULL;
	if (!md)
		return -EINVAL;
	if (!(ctx = EVP_MD_CTX_new()))
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -EIO;
	}
	c->md = ctx;
	c->alg = alg;
	return 0;
}

int hash_update(struct hash_ctx *c, const void *in, size_t len)
{
	if (!c->md)
		return -EINVAL;
	return EVP_DigestUpdate(c->md, in, len) == 1 ? 0 : -EIO;
}

int hash_final(struct hash_ctx *c, uint8_t *out)
{
	int r;

	if (!c->md)
		return -EINVAL;
	r = EVP_DigestFinal_ex(c->md, out, NULL) == 1 ? 0 : -EIO;
	hash_done(c);
	return r;
}

void hash_done(struct hash_ctx *c)
{
	if (c && c->md) {
		EVP_MD_CTX_free(c->md);
		c->md = NULL;
	}
}

int hash_v(enum hash_alg alg, const struct cbuf *parts, size_t n, uint8_t *out)
{
	struct hash_ctx c;
	int r;

	if ((r = hash_init(&c, alg)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if ((r = hash_update(&c, parts[i].p, parts[i].len)) < 0) {
			hash_done(&c);
			return r;
		}
	}
	return hash_final(&c, out);
}

int hash(enum hash_alg alg, const void *in, size_t len, uint8_t *out)
{
	return hash_v(alg, &CBUF(in, len), 1, out);
}

int shake256(const void *in, size_t len, uint8_t *out, size_t out_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int r = -EIO;

	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_shake256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, in, len) == 1 &&
	    EVP_DigestFinalXOF(ctx, out, out_len) == 1)
		r = 0;
	EVP_MD_CTX_free(ctx);
	return r;
}
