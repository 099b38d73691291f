/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AES-256-GCM (NIST SP 800-38D) through OpenSSL EVP.
 *
 * struct aead holds one key schedule, prepared once and reused for many
 * packets (no allocation per message). The tag is 16 bytes. The IV is
 * normally 12 bytes; other non-zero lengths are accepted for interop.
 */
#ifndef MFS_CRYPTO_AEAD_H
#define MFS_CRYPTO_AEAD_H

#include <stddef.h>
#include <stdint.h>

#define AEAD_KEY_LEN 32
#define AEAD_TAG_LEN 16
#define AEAD_IV_LEN 12

struct aead {
	void *enc;	/* EVP_CIPHER_CTX keyed for encryption */
	void *dec;	/* EVP_CIPHER_CTX keyed for decryption */
};

/* Key both directions; the key is copied into OpenSSL and not kept here. */
int aead_init(struct aead *a, const uint8_t key[static AEAD_KEY_LEN]);
/* Wipe and release; NULL-safe, idempotent. */
void aead_done(struct aead *a);

/* ct[pt_len] and tag = AES-256-GCM(iv, aad, pt). ct may equal pt. */
int aead_seal(struct aead *a, const uint8_t *iv, size_t iv_len,
	      const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
	      uint8_t *ct, uint8_t tag[static AEAD_TAG_LEN]);
/*
 * pt[ct_len] = decryption; -EKEYREJECTED when the tag does not verify (or is
 * not 16 bytes), -EINVAL for a zero-length IV. On any failure pt is zeroed.
 * pt may equal ct.
 */
int aead_open(struct aead *a, const uint8_t *iv, size_t iv_len,
	      const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
	      const uint8_t *tag, size_t tag_len, uint8_t *pt);

#endif
