/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HMAC and HKDF (RFC 2104, RFC 5869) over SHA-256 / SHA-384 through
 * OpenSSL's EVP_MAC and EVP_KDF. Keys may be empty (zero length).
 */
#ifndef MFS_CRYPTO_MAC_H
#define MFS_CRYPTO_MAC_H

#include <stddef.h>
#include <stdint.h>

#include "base/iov.h"
#include "crypto/hash.h"

/* out[hash_len(alg)] = HMAC(key, parts[0] || ... || parts[n-1]). */
int hmac_v(enum hash_alg alg, const uint8_t *key, size_t key_len,
	   const struct cbuf *parts, size_t n, uint8_t *out);
int hmac(enum hash_alg alg, const uint8_t *key, size_t key_len,
	 const void *msg, size_t msg_len, uint8_t *out);

/* RFC 5869 Extract: prk[hash_len(alg)]. An empty salt means hash_len zeros. */
int hkdf_extract(enum hash_alg alg, const uint8_t *salt, size_t salt_len,
		 const uint8_t *ikm, size_t ikm_len, uint8_t *prk);
/* RFC 5869 Expand: -EINVAL if out_len > 255 * hash_len(alg) or is 0. */
int hkdf_expand(enum hash_alg alg, const uint8_t *prk, size_t prk_len,
		const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len);
/* Extract then Expand. out is zeroed on failure. */
int hkdf(enum hash_alg alg, const uint8_t *salt, size_t salt_len,
	 const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len,
	 uint8_t *out, size_t out_len);

#endif
