/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Conversion between raw key bytes and OpenSSL PEM (PKCS#8 "PRIVATE KEY",
 * SubjectPublicKeyInfo "PUBLIC KEY"), so keys interoperate with
 * `openssl genpkey` / `openssl pkeyutl -encap/-decap`.
 *
 * alg is OpenSSL's key type name: "ML-KEM-768", "ML-KEM-1024", "X25519".
 * Raw forms: public = the encoded public key (FIPS 203 ek / RFC 7748 u);
 * ML-KEM private = the 64-byte seed d||z when the key carries it, else the
 * expanded FIPS 203 dk; X25519 private = the 32-byte scalar.
 */
#ifndef MFS_CRYPTO_PKEY_CODEC_H
#define MFS_CRYPTO_PKEY_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * PEM text for a raw key. *ret_pem is malloc()ed (NUL-terminated, length in
 * *ret_len); free it with pkey_pem_free(). -EKEYREJECTED when OpenSSL
 * refuses the key (bad length or failed key check).
 */
int pkey_raw_to_pem(const char *alg, bool is_private, const uint8_t *raw, size_t raw_len,
		    char **ret_pem, size_t *ret_len);
/* Wipe and free PEM text from pkey_raw_to_pem(); NULL-safe. */
void pkey_pem_free(char *pem, size_t len);

/*
 * Raw key bytes from PEM text of the given type into out[cap]; *ret_len is
 * the length written. -EBADMSG when it is not a PEM key, -EKEYREJECTED when
 * the key is of another type than alg, -EMSGSIZE when out is too small.
 * Encrypted private keys are refused (-EBADMSG) without asking for a
 * passphrase: nothing here ever reads the terminal.
 */
int pkey_pem_to_raw(const char *alg, bool is_private, const char *pem, size_t pem_len,
		    uint8_t *out, size_t cap, size_t *ret_len);

/* True when buf looks like PEM ("-----BEGIN " after optional whitespace). */
bool pkey_is_pem(const uint8_t *buf, size_t len);

#endif
