/* SPDX-License-Identifier: Apache-2.0 */
#include "crypto/mac.h"

#include <errno.h>
#include <pthread.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "base/secret.h"

/* A non-NULL pointer for empty inputs: OpenSSL treats NULL keys as "reuse". */
static const uint8_t empty[1];

/*
 * Templates: one HMAC and one HKDF context per digest, with the digest (and
 * for HKDF nothing else) set once. Each call duplicates its template and sets
 * only the key and data, instead of fetching the algorithm and parsing the
 * digest name again (an EVP_MD fetch per call): the derivations of one
 * exchange cost about half as much (docs/performance.md). The templates
 * are never changed after they are made, so threads may duplicate them at
 * the same time. A failure to make them falls back to the slow path.
 */
#define N_ALGS (HASH_SHA3_512 + 1)

static pthread_once_t tmpl_once = PTHREAD_ONCE_INIT;
static EVP_MAC_CTX *mac_tmpl[N_ALGS];
static EVP_KDF_CTX *kdf_tmpl[N_ALGS];

static void tmpl_make(void)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);

	for (int a = 0; a < N_ALGS; a++) {
		const char *name = hash_name((enum hash_alg)a);
		OSSL_PARAM params[2];

		if (!name)
			continue;
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_ALG_PARAM_DIGEST, (char *)name, 0);
		params[1] = OSSL_PARAM_construct_end();
		if (mac && (mac_tmpl[a] = EVP_MAC_CTX_new(mac)) &&
		    EVP_MAC_CTX_set_params(mac_tmpl[a], params) != 1) {
			EVP_MAC_CTX_free(mac_tmpl[a]);
			mac_tmpl[a] = NULL;
		}
		if (kdf && (kdf_tmpl[a] = EVP_KDF_CTX_new(kdf)) &&
		    EVP_KDF_CTX_set_params(kdf_tmpl[a], params) != 1) {
			EVP_KDF_CTX_free(kdf_tmpl[a]);
			kdf_tmpl[a] = NULL;
		}
	}
	EVP_MAC_free(mac);	/* the contexts hold their own references */
	EVP_KDF_free(kdf);
}

static EVP_MAC_CTX *mac_ctx(enum hash_alg alg)
{
	pthread_once(&tmpl_once, tmpl_make);
	return (unsigned)alg < N_ALGS && mac_tmpl[alg] ? EVP_MAC_CTX_dup(mac_tmpl[alg]) : NULL;
}

static EVP_KDF_CTX *kdf_ctx(enum hash_alg alg)
{
	pthread_once(&tmpl_once, tmpl_make);
	return (unsigned)alg < N_ALGS && kdf_tmpl[alg] ? EVP_KDF_CTX_dup(kdf_tmpl[alg]) : NULL;
}

int hmac_v(enum hash_alg alg, const uint8_t *key, size_t key_len,
	   const struct cbuf *parts, size_t n, uint8_t *out)
{
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	size_t out_len = 0;
	int r = -EIO;

	if (!hash_name(alg))
		return -EINVAL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)hash_name(alg), 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((ctx = mac_ctx(alg))) {
		if (EVP_MAC_init(ctx, key_len ? key : empty, key_len, NULL) != 1)
			goto out;
	} else {
		if (!(mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) || !(ctx = EVP_MAC_CTX_new(mac)))
			goto out;
		if (EVP_MAC_init(ctx, key_len ? key : empty, key_len, params) != 1)
			goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (EVP_MAC_update(ctx, parts[i].len ? parts[i].p : empty, parts[i].len) != 1)
			goto out;
	if (EVP_MAC_final(ctx, out, &out_len, hash_len(alg)) != 1 || out_len != hash_len(alg))
		goto out;
	r = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return r;
}

int hmac(enum hash_alg alg, const uint8_t *key, size_t key_len,
	 const void *msg, size_t msg_len, uint8_t *out)
{
	return hmac_v(alg, key, key_len, &CBUF(msg, msg_len), 1, out);
}

static int hkdf_run(enum hash_alg alg, int mode, const uint8_t *salt, size_t salt_len,
		    const uint8_t *key, size_t key_len, const uint8_t *info, size_t info_len,
		    uint8_t *out, size_t out_len)
{
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *ctx = NULL;
	OSSL_PARAM params[6], *p = params;
	int r = -EIO;

	if (!hash_name(alg) || out_len == 0)
		return -EINVAL;
	if (mode == EVP_KDF_HKDF_MODE_EXPAND_ONLY && out_len > 255 * hash_len(alg))
		return -EINVAL;
	if (!(ctx = kdf_ctx(alg)))
		*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
							(char *)hash_name(alg), 0);
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)(key_len ? key : empty), key_len);
	if (mode != EVP_KDF_HKDF_MODE_EXPAND_ONLY && salt_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
	if (mode != EVP_KDF_HKDF_MODE_EXTRACT_ONLY && info_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
	*p = OSSL_PARAM_construct_end();
	if (!ctx && (!(kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) || !(ctx = EVP_KDF_CTX_new(kdf))))
		goto out;
	if (EVP_KDF_derive(ctx, out, out_len, params) != 1)
		goto out;
	r = 0;
out:
	if (r < 0)
		mfs_wipe(out, out_len);
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return r;
}

int hkdf_extract(enum hash_alg alg, const uint8_t *salt, size_t salt_len,
		 const uint8_t *ikm, size_t ikm_len, uint8_t *prk)
{
	return hkdf_run(alg, EVP_KDF_HKDF_MODE_EXTRACT_ONLY, salt, salt_len, ikm, ikm_len,
			NULL, 0, prk, hash_len(alg));
}

int hkdf_expand(enum hash_alg alg, const uint8_t *prk, size_t prk_len,
		const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len)
{
	return hkdf_run(alg, EVP_KDF_HKDF_MODE_EXPAND_ONLY, NULL, 0, prk, prk_len,
			info, info_len, out, out_len);
}

int hkdf(enum hash_alg alg, const uint8_t *salt, size_t salt_len,
	 const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len,
	 uint8_t *out, size_t out_len)
{
	uint8_t prk[HASH_MAX_LEN];
	int r;

	if (out_len > 255 * hash_len(alg)) {
		mfs_wipe(out, out_len);
		return -EINVAL;
	}
	r = hkdf_extract(alg, salt, salt_len, ikm, ikm_len, prk);
	if (r == 0)
		r = hkdf_expand(alg, prk, hash_len(alg), info, info_len, out, out_len);
	mfs_wipe(prk, sizeof(prk));
	return r;
}
