/* SPDX-License-Identifier: Apache-2.0 */
/*
 * X25519 (RFC 7748) through OpenSSL EVP, on raw 32-byte keys.
 *
 * A shared secret that comes out all zero (the peer sent a small-order
 * point) is refused with -EKEYREJECTED (RFC 7748 §6.1, RFC 8446 §7.4.2).
 * Any 32-byte string is accepted as a public key; the zero check is what
 * rejects bad ones. Secret outputs are zeroed on failure.
 *
 * struct x25519_key keeps a private key in OpenSSL's form: importing a raw
 * private key costs a scalar multiplication (OpenSSL derives the public
 * key), so an ephemeral key is kept rather than re-imported.
 */
#ifndef MFS_CRYPTO_X25519_H
#define MFS_CRYPTO_X25519_H

#include <stdbool.h>
#include <stdint.h>

#define X25519_KEY_LEN 32	/* private key, public key and shared secret */

/* Whether the default providers implement X25519. Probed once, cached. */
bool x25519_available(void);

struct x25519_key {
	void *pkey;	/* EVP_PKEY holding the private key */
};

/* Generate a key pair; from priv[X25519_KEY_LEN] when priv is non-NULL (tests). */
int x25519_key_generate(struct x25519_key *k, const uint8_t *priv);
/* Release and cleanse; NULL-safe, idempotent, safe on a zeroed struct. */
void x25519_key_done(struct x25519_key *k);
/* The public key. */
int x25519_key_pk(const struct x25519_key *k, uint8_t pk[static X25519_KEY_LEN]);
/* The raw private key (for the raw KEM view and tests). */
int x25519_key_sk(const struct x25519_key *k, uint8_t sk[static X25519_KEY_LEN]);
/* ss = X25519(k, peer_pk); -EKEYREJECTED if the result is all zero. */
int x25519_key_shared(const struct x25519_key *k, uint8_t ss[static X25519_KEY_LEN],
		      const uint8_t peer_pk[static X25519_KEY_LEN]);

/* pk and sk of a fresh key pair. */
int x25519_keypair(uint8_t pk[static X25519_KEY_LEN], uint8_t sk[static X25519_KEY_LEN]);
/* pk of the private key sk. */
int x25519_public(uint8_t pk[static X25519_KEY_LEN], const uint8_t sk[static X25519_KEY_LEN]);
/* ss = X25519(sk, peer_pk); -EKEYREJECTED if the result is all zero. */
int x25519_shared(uint8_t ss[static X25519_KEY_LEN], const uint8_t sk[static X25519_KEY_LEN],
		  const uint8_t peer_pk[static X25519_KEY_LEN]);

#endif
