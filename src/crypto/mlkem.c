/* SPDX-License-Identifier: Apache-2.0 */
#include "crypto/mlkem.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "base/secret.h"

size_t mlkem_pk_len(enum mlkem_alg alg)
{
	switch (alg) {
	case MLKEM_768: return MLKEM768_PK_LEN;
	case MLKEM_1024: return MLKEM1024_PK_LEN;
	}
	return 0;
}

size_t mlkem_dk_len(enum mlkem_alg alg)
{
	switch (alg) {
	case MLKEM_768: return MLKEM768_DK_LEN;
	case MLKEM_1024: return MLKEM1024_DK_LEN;
	}
	return 0;
}

size_t mlkem_ct_len(enum mlkem_alg alg)
{
	switch (alg) {
	case MLKEM_768: return MLKEM768_CT_LEN;
	case MLKEM_1024: return MLKEM1024_CT_LEN;
	}
	return 0;
}

const char *mlkem_name(enum mlkem_alg alg)
{
	switch (alg) {
	case MLKEM_768: return "ML-KEM-768";
	case MLKEM_1024: return "ML-KEM-1024";
	}
	return NULL;
}

/* 0 = not probed yet, 1 = available, -1 = not available. Races are benign. */
static atomic_int probed[2];

bool mlkem_available(enum mlkem_alg alg)
{
	const char *name = mlkem_name(alg);
	EVP_KEM *kem;
	EVP_KEYMGMT *km;
	int v;

	if (!name)
		return false;
	if ((v = atomic_load(&probed[alg])) != 0)
		return v > 0;
	kem = EVP_KEM_fetch(NULL, name, NULL);
	km = EVP_KEYMGMT_fetch(NULL, name, NULL);
	v = kem && km ? 1 : -1;
	EVP_KEM_free(kem);
	EVP_KEYMGMT_free(km);
	ERR_clear_error();
	atomic_store(&probed[alg], v);
	return v > 0;
}

void mlkem_key_done(struct mlkem_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);	/* the provider cleanses the private key */
	k->pkey = NULL;
	k->has_private = false;
}

/* Build a key from one octet-string parameter (pub, priv or seed). */
static int key_fromdata(struct mlkem_key *k, enum mlkem_alg alg, const char *param,
			const uint8_t *p, size_t len, int selection)
{
	OSSL_PARAM params[2];
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	int r;

	params[0] = OSSL_PARAM_construct_octet_string(param, (void *)p, len);
	params[1] = OSSL_PARAM_construct_end();
	if (!(ctx = EVP_PKEY_CTX_new_from_name(NULL, mlkem_name(alg), NULL))) {
		r = -EOPNOTSUPP;
		goto out;
	}
	if (EVP_PKEY_fromdata_init(ctx) != 1) {
		r = -EIO;
		goto out;
	}
	/*
	 * The lengths were checked by the caller, so a refusal here is a
	 * failed key check (modulus, H(ek), pairwise test).
	 */
	if (EVP_PKEY_fromdata(ctx, &pkey, selection, params) != 1) {
		r = -EKEYREJECTED;
		goto out;
	}
	k->pkey = pkey;
	k->alg = alg;
	k->has_private = selection == EVP_PKEY_KEYPAIR;
	pkey = NULL;
	r = 0;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

int mlkem_key_generate(struct mlkem_key *k, enum mlkem_alg alg, const uint8_t *seed)
{
	OSSL_PARAM params[2];
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	int r;

	if (!mlkem_name(alg))
		return -EINVAL;
	if (!(ctx = EVP_PKEY_CTX_new_from_name(NULL, mlkem_name(alg), NULL))) {
		r = -EOPNOTSUPP;
		goto out;
	}
	if (EVP_PKEY_keygen_init(ctx) != 1) {
		r = -EIO;
		goto out;
	}
	if (seed) {
		params[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_ML_KEM_SEED,
							      (void *)seed, MLKEM_SEED_LEN);
		params[1] = OSSL_PARAM_construct_end();
		if (EVP_PKEY_CTX_set_params(ctx, params) != 1) {
			r = -EIO;
			goto out;
		}
	}
	if (EVP_PKEY_generate(ctx, &pkey) != 1) {
		r = -EIO;
		goto out;
	}
	k->pkey = pkey;
	k->alg = alg;
	k->has_private = true;
	pkey = NULL;
	r = 0;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);	/* also cleanses the seed copy it held */
	ERR_clear_error();
	return r;
}

int mlkem_key_from_pk(struct mlkem_key *k, enum mlkem_alg alg, const uint8_t *pk, size_t pk_len)
{
	if (!mlkem_name(alg))
		return -EINVAL;
	if (pk_len != mlkem_pk_len(alg))
		return -EBADMSG;
	return key_fromdata(k, alg, OSSL_PKEY_PARAM_PUB_KEY, pk, pk_len, EVP_PKEY_PUBLIC_KEY);
}

int mlkem_key_from_sk(struct mlkem_key *k, enum mlkem_alg alg, const uint8_t *sk, size_t sk_len)
{
	if (!mlkem_name(alg))
		return -EINVAL;
	if (sk_len == MLKEM_SEED_LEN)
		return key_fromdata(k, alg, OSSL_PKEY_PARAM_ML_KEM_SEED, sk, sk_len,
				    EVP_PKEY_KEYPAIR);
	if (sk_len == mlkem_dk_len(alg))
		return key_fromdata(k, alg, OSSL_PKEY_PARAM_PRIV_KEY, sk, sk_len,
				    EVP_PKEY_KEYPAIR);
	return -EBADMSG;
}

/* Copy an octet-string parameter of exactly len bytes out of the key. */
static int key_get(const struct mlkem_key *k, const char *param, uint8_t *out, size_t len)
{
	size_t got = 0;

	if (!k->pkey)
		return -EINVAL;
	if (EVP_PKEY_get_octet_string_param(k->pkey, param, out, len, &got) != 1 ||
	    got != len) {
		mfs_wipe(out, len);
		ERR_clear_error();
		return -ENOKEY;
	}
	return 0;
}

int mlkem_key_pk(const struct mlkem_key *k, uint8_t *pk)
{
	return key_get(k, OSSL_PKEY_PARAM_PUB_KEY, pk, mlkem_pk_len(k->alg));
}

int mlkem_key_seed(const struct mlkem_key *k, uint8_t seed[static MLKEM_SEED_LEN])
{
	if (!k->has_private) {
		mfs_wipe(seed, MLKEM_SEED_LEN);
		return -ENOKEY;
	}
	return key_get(k, OSSL_PKEY_PARAM_ML_KEM_SEED, seed, MLKEM_SEED_LEN);
}

int mlkem_key_dk(const struct mlkem_key *k, uint8_t *dk)
{
	if (!k->has_private) {
		mfs_wipe(dk, mlkem_dk_len(k->alg));
		return -ENOKEY;
	}
	return key_get(k, OSSL_PKEY_PARAM_PRIV_KEY, dk, mlkem_dk_len(k->alg));
}

int mlkem_key_encap(const struct mlkem_key *k, uint8_t *ct, uint8_t ss[static MLKEM_SS_LEN],
		    const uint8_t *m)
{
	OSSL_PARAM params[2];
	EVP_PKEY_CTX *ctx = NULL;
	size_t ct_len = mlkem_ct_len(k->alg), ss_len = MLKEM_SS_LEN;
	int r;

	if (!k->pkey) {
		r = -EINVAL;
		goto out;
	}
	if (m) {
		params[0] = OSSL_PARAM_construct_octet_string(OSSL_KEM_PARAM_IKME, (void *)m,
							      MLKEM_M_LEN);
		params[1] = OSSL_PARAM_construct_end();
	}
	if (!(ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL))) {
		r = -ENOMEM;
		goto out;
	}
	if (EVP_PKEY_encapsulate_init(ctx, m ? params : NULL) != 1 ||
	    EVP_PKEY_encapsulate(ctx, ct, &ct_len, ss, &ss_len) != 1 ||
	    ct_len != mlkem_ct_len(k->alg) || ss_len != MLKEM_SS_LEN) {
		r = -EIO;
		goto out;
	}
	r = 0;
out:
	if (r < 0)
		mfs_wipe(ss, MLKEM_SS_LEN);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

int mlkem_key_decap(const struct mlkem_key *k, uint8_t ss[static MLKEM_SS_LEN],
		    const uint8_t *ct, size_t ct_len)
{
	EVP_PKEY_CTX *ctx = NULL;
	size_t ss_len = MLKEM_SS_LEN;
	int r;

	if (!k->pkey) {
		r = -EINVAL;
		goto out;
	}
	if (!k->has_private) {
		r = -ENOKEY;
		goto out;
	}
	if (ct_len != mlkem_ct_len(k->alg)) {
		r = -EBADMSG;
		goto out;
	}
	if (!(ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL))) {
		r = -ENOMEM;
		goto out;
	}
	/* A modified ct is not an error: FIPS 203 returns J(z||c) (implicit rejection). */
	if (EVP_PKEY_decapsulate_init(ctx, NULL) != 1 ||
	    EVP_PKEY_decapsulate(ctx, ss, &ss_len, ct, ct_len) != 1 ||
	    ss_len != MLKEM_SS_LEN) {
		r = -EIO;
		goto out;
	}
	r = 0;
out:
	if (r < 0)
		mfs_wipe(ss, MLKEM_SS_LEN);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

int mlkem_keypair(enum mlkem_alg alg, const uint8_t *in_seed, uint8_t *pk,
		  uint8_t seed[static MLKEM_SEED_LEN])
{
	struct mlkem_key k = { 0 };
	int r;

	if ((r = mlkem_key_generate(&k, alg, in_seed)) < 0 ||
	    (r = mlkem_key_pk(&k, pk)) < 0 ||
	    (r = mlkem_key_seed(&k, seed)) < 0)
		goto out;
	r = 0;
out:
	if (r < 0)
		mfs_wipe(seed, MLKEM_SEED_LEN);
	mlkem_key_done(&k);
	return r;
}

int mlkem_expand(enum mlkem_alg alg, const uint8_t seed[static MLKEM_SEED_LEN], uint8_t *dk)
{
	struct mlkem_key k = { 0 };
	int r;

	if ((r = mlkem_key_from_sk(&k, alg, seed, MLKEM_SEED_LEN)) < 0 ||
	    (r = mlkem_key_dk(&k, dk)) < 0)
		goto out;
	r = 0;
out:
	if (r < 0 && mlkem_dk_len(alg))
		mfs_wipe(dk, mlkem_dk_len(alg));
	mlkem_key_done(&k);
	return r;
}

int mlkem_encap(enum mlkem_alg alg, uint8_t *ct, uint8_t ss[static MLKEM_SS_LEN],
		const uint8_t *pk, size_t pk_len, const uint8_t *m)
{
	struct mlkem_key k = { 0 };
	int r;

	if ((r = mlkem_key_from_pk(&k, alg, pk, pk_len)) < 0 ||
	    (r = mlkem_key_encap(&k, ct, ss, m)) < 0)
		goto out;
	r = 0;
out:
	if (r < 0)
		mfs_wipe(ss, MLKEM_SS_LEN);
	mlkem_key_done(&k);
	return r;
}

int mlkem_decap(enum mlkem_alg alg, uint8_t ss[static MLKEM_SS_LEN],
		const uint8_t *ct, size_t ct_len, const uint8_t *sk, size_t sk_len)
{
	struct mlkem_key k = { 0 };
	int r;

	/* Check the cheap length first: no key import for a malformed ct. */
	if (ct_len != mlkem_ct_len(alg)) {
		r = -EBADMSG;
		goto out;
	}
	if ((r = mlkem_key_from_sk(&k, alg, sk, sk_len)) < 0 ||
	    (r = mlkem_key_decap(&k, ss, ct, ct_len)) < 0)
		goto out;
	r = 0;
out:
	if (r < 0)
		mfs_wipe(ss, MLKEM_SS_LEN);
	mlkem_key_done(&k);
	return r;
}
