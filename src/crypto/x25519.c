/* SPDX-License-Identifier: Apache-2.0 */
#include "crypto/x25519.h"

#include <errno.h>
#include <stdatomic.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "base/secret.h"

/* 0 = not probed yet, 1 = available, -1 = not available. Races are benign. */
static atomic_int probed;

bool x25519_available(void)
{
	EVP_KEYMGMT *km;
	EVP_KEYEXCH *kx;
	int v;

	if ((v = atomic_load(&probed)) != 0)
		return v > 0;
	km = EVP_KEYMGMT_fetch(NULL, "X25519", NULL);
	kx = EVP_KEYEXCH_fetch(NULL, "X25519", NULL);
	v = km && kx ? 1 : -1;
	EVP_KEYMGMT_free(km);
	EVP_KEYEXCH_free(kx);
	ERR_clear_error();
	atomic_store(&probed, v);
	return v > 0;
}

int x25519_key_generate(struct x25519_key *k, const uint8_t *priv)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	int r;

	if (priv) {
		if (!(pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv,
							  X25519_KEY_LEN))) {
			r = -EIO;
			goto out;
		}
	} else if (!(ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL)) ||
		   EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_generate(ctx, &pkey) != 1) {
		r = -EIO;
		goto out;
	}
	k->pkey = pkey;
	pkey = NULL;
	r = 0;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

void x25519_key_done(struct x25519_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);	/* cleanses the private key */
	k->pkey = NULL;
}

int x25519_key_pk(const struct x25519_key *k, uint8_t pk[static X25519_KEY_LEN])
{
	size_t len = X25519_KEY_LEN;

	if (!k->pkey)
		return -EINVAL;
	if (EVP_PKEY_get_raw_public_key(k->pkey, pk, &len) != 1 || len != X25519_KEY_LEN) {
		ERR_clear_error();
		return -EIO;
	}
	return 0;
}

int x25519_key_sk(const struct x25519_key *k, uint8_t sk[static X25519_KEY_LEN])
{
	size_t len = X25519_KEY_LEN;

	if (!k->pkey) {
		mfs_wipe(sk, X25519_KEY_LEN);
		return -EINVAL;
	}
	if (EVP_PKEY_get_raw_private_key(k->pkey, sk, &len) != 1 || len != X25519_KEY_LEN) {
		mfs_wipe(sk, X25519_KEY_LEN);
		ERR_clear_error();
		return -EIO;
	}
	return 0;
}

int x25519_key_shared(const struct x25519_key *k, uint8_t ss[static X25519_KEY_LEN],
		      const uint8_t peer_pk[static X25519_KEY_LEN])
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *peer = NULL;
	size_t len = X25519_KEY_LEN;
	int r;

	if (!k->pkey) {
		r = -EINVAL;
		goto out;
	}
	if (!(peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer_pk,
						 X25519_KEY_LEN)) ||
	    !(ctx = EVP_PKEY_CTX_new(k->pkey, NULL)) ||
	    EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer(ctx, peer) != 1) {
		r = -EIO;
		goto out;
	}
	/*
	 * OpenSSL itself fails the derivation when the result is all zero,
	 * which for fixed-size, well-formed inputs is the only way it fails.
	 */
	if (EVP_PKEY_derive(ctx, ss, &len) != 1 || len != X25519_KEY_LEN) {
		r = -EKEYREJECTED;
		goto out;
	}
	/* Do not rely on that: check it ourselves (OpenSSH kexc25519.c). */
	if (mfs_ct_is_zero(ss, X25519_KEY_LEN)) {
		r = -EKEYREJECTED;
		goto out;
	}
	r = 0;
out:
	if (r < 0)
		mfs_wipe(ss, X25519_KEY_LEN);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	ERR_clear_error();
	return r;
}

int x25519_keypair(uint8_t pk[static X25519_KEY_LEN], uint8_t sk[static X25519_KEY_LEN])
{
	struct x25519_key k = { 0 };
	int r;

	if ((r = x25519_key_generate(&k, NULL)) < 0 ||
	    (r = x25519_key_pk(&k, pk)) < 0 ||
	    (r = x25519_key_sk(&k, sk)) < 0)
		goto out;
	r = 0;
out:
	if (r < 0)
		mfs_wipe(sk, X25519_KEY_LEN);
	x25519_key_done(&k);
	return r;
}

int x25519_public(uint8_t pk[static X25519_KEY_LEN], const uint8_t sk[static X25519_KEY_LEN])
{
	struct x25519_key k = { 0 };
	int r;

	if ((r = x25519_key_generate(&k, sk)) < 0 || (r = x25519_key_pk(&k, pk)) < 0)
		goto out;
	r = 0;
out:
	x25519_key_done(&k);
	return r;
}

int x25519_shared(uint8_t ss[static X25519_KEY_LEN], const uint8_t sk[static X25519_KEY_LEN],
		  const uint8_t peer_pk[static X25519_KEY_LEN])
{
	struct x25519_key k = { 0 };
	int r;

	if ((r = x25519_key_generate(&k, sk)) < 0 ||
	    (r = x25519_key_shared(&k, ss, peer_pk)) < 0)
		goto out;
	r = 0;
out:
	if (r < 0)
		mfs_wipe(ss, X25519_KEY_LEN);
	x25519_key_done(&k);
	return r;
}
