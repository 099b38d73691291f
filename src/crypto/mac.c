/* SPDX-License-Identifier: Apache-2.0 */
#include "crypto/mac.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "base/secret.h"

/* A non-NULL pointer for empty inputs: OpenSSL treats NULL keys as "reuse". */
static const uint8_t empty[1];

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
	if (!(mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) || !(ctx = EVP_MAC_CTX_new(mac)))
		goto out;
	if (EVP_MAC_init(ctx, key_len ? key : empty, key_len, params) != 1)
		goto out;
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
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)hash_name(alg), 0);
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)(key_len ? key : empty), key_len);
	if (mode != EVP_KDF_HKDF_MODE_EXPAND_ONLY && salt_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
	if (mode != EVP_KDF_HKDF_MODE_EXTRACT_ONLY && info_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
	*p = OSSL_PARAM_construct_end();
	if (!(kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) || !(ctx = EVP_KDF_CTX_new(kdf)))
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
