/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ML-KEM-768 and ML-KEM-1024 (FIPS 203) through OpenSSL 3.5 EVP, on raw bytes.
 *
 * Key forms:
 *   ek    the encoded encapsulation (public) key, pk_len bytes;
 *   seed  the 64-byte d||z from which KeyGen_internal derives the key pair:
 *         our secret-key form (short, and OpenSSL re-derives the whole key);
 *   dk    the expanded FIPS 203 decapsulation key, dk_len bytes, accepted
 *         on input and exported only for KATs and interop.
 *
 * Every imported ek passes the FIPS 203 §7.2 modulus check and every
 * imported dk the §7.3 hash check (plus OpenSSL's pairwise test), else
 * -EKEYREJECTED. A buffer of the wrong length is -EBADMSG. Decapsulation
 * of a well-formed but modified ciphertext succeeds and returns the
 * implicit-rejection key J(z||c), as the standard requires.
 *
 * struct mlkem_key keeps an imported or generated key in OpenSSL's form so
 * that an ephemeral key pair is not exported and re-imported for each
 * operation. The raw-bytes functions below it are one-shot conveniences.
 * Secret outputs (seed, dk, shared secret) are zeroed on failure.
 */
#ifndef MFS_CRYPTO_MLKEM_H
#define MFS_CRYPTO_MLKEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mlkem_alg {
	MLKEM_768,
	MLKEM_1024,
};

#define MLKEM_SEED_LEN 64	/* d || z */
#define MLKEM_SS_LEN 32		/* shared secret K */
#define MLKEM_M_LEN 32		/* Encaps_internal randomness m */

#define MLKEM768_PK_LEN 1184
#define MLKEM768_DK_LEN 2400
#define MLKEM768_CT_LEN 1088
#define MLKEM1024_PK_LEN 1568
#define MLKEM1024_DK_LEN 3168
#define MLKEM1024_CT_LEN 1568

#define MLKEM_PK_MAX MLKEM1024_PK_LEN
#define MLKEM_DK_MAX MLKEM1024_DK_LEN
#define MLKEM_CT_MAX MLKEM1024_CT_LEN

/* Sizes of one parameter set; 0 for an unknown alg. */
size_t mlkem_pk_len(enum mlkem_alg alg);
size_t mlkem_dk_len(enum mlkem_alg alg);
size_t mlkem_ct_len(enum mlkem_alg alg);
/* OpenSSL's algorithm name ("ML-KEM-768"); NULL for an unknown alg. */
const char *mlkem_name(enum mlkem_alg alg);

/*
 * Whether the default library context's providers implement this ML-KEM
 * parameter set (KEM operation and key management). Probed once, cached.
 */
bool mlkem_available(enum mlkem_alg alg);

/* A key held by OpenSSL; zero-initialize or let a constructor fill it. */
struct mlkem_key {
	void *pkey;		/* EVP_PKEY */
	enum mlkem_alg alg;
	bool has_private;
};

/*
 * Generate a key pair, from seed[MLKEM_SEED_LEN] (d||z, deterministic) or
 * from fresh randomness when seed is NULL. On success *k owns the key.
 */
int mlkem_key_generate(struct mlkem_key *k, enum mlkem_alg alg, const uint8_t *seed);
/* Import an ek. -EBADMSG on a wrong length, -EKEYREJECTED on a failed modulus check. */
int mlkem_key_from_pk(struct mlkem_key *k, enum mlkem_alg alg, const uint8_t *pk, size_t pk_len);
/*
 * Import a secret key: a seed when sk_len == MLKEM_SEED_LEN, an expanded dk
 * when sk_len == mlkem_dk_len(alg); anything else -EBADMSG. An expanded dk
 * whose stored H(ek) or embedded ek is inconsistent is -EKEYREJECTED.
 */
int mlkem_key_from_sk(struct mlkem_key *k, enum mlkem_alg alg, const uint8_t *sk, size_t sk_len);
/* Release and cleanse; NULL-safe, idempotent, safe on a zeroed struct. */
void mlkem_key_done(struct mlkem_key *k);

/* Write the ek, mlkem_pk_len(k->alg) bytes. */
int mlkem_key_pk(const struct mlkem_key *k, uint8_t *pk);
/* Write the seed; -ENOKEY if the key was not made or imported from a seed. */
int mlkem_key_seed(const struct mlkem_key *k, uint8_t seed[static MLKEM_SEED_LEN]);
/* Write the expanded dk, mlkem_dk_len(k->alg) bytes; -ENOKEY for a public key. */
int mlkem_key_dk(const struct mlkem_key *k, uint8_t *dk);

/*
 * Encapsulate to k: ct[mlkem_ct_len(k->alg)] and ss[MLKEM_SS_LEN]. m is the
 * 32-byte Encaps_internal randomness for known-answer tests, NULL for fresh
 * randomness (always NULL outside tests).
 */
int mlkem_key_encap(const struct mlkem_key *k, uint8_t *ct, uint8_t ss[static MLKEM_SS_LEN],
		    const uint8_t *m);
/*
 * Decapsulate ct with the private key k into ss[MLKEM_SS_LEN]. -EBADMSG when
 * ct_len is not mlkem_ct_len(k->alg); -ENOKEY for a public-only key.
 */
int mlkem_key_decap(const struct mlkem_key *k, uint8_t ss[static MLKEM_SS_LEN],
		    const uint8_t *ct, size_t ct_len);

/* One-shot raw-bytes interface. */

/*
 * pk[mlkem_pk_len(alg)] and seed[MLKEM_SEED_LEN] (the secret key) of a key
 * pair derived from in_seed (d||z), or of a fresh one when in_seed is NULL.
 */
int mlkem_keypair(enum mlkem_alg alg, const uint8_t *in_seed, uint8_t *pk,
		  uint8_t seed[static MLKEM_SEED_LEN]);
/* The expanded dk[mlkem_dk_len(alg)] of a seed. */
int mlkem_expand(enum mlkem_alg alg, const uint8_t seed[static MLKEM_SEED_LEN], uint8_t *dk);
/* ct, ss from a raw ek; m as for mlkem_key_encap(). */
int mlkem_encap(enum mlkem_alg alg, uint8_t *ct, uint8_t ss[static MLKEM_SS_LEN],
		const uint8_t *pk, size_t pk_len, const uint8_t *m);
/* ss from a ciphertext and a secret key in either form (see mlkem_key_from_sk). */
int mlkem_decap(enum mlkem_alg alg, uint8_t ss[static MLKEM_SS_LEN],
		const uint8_t *ct, size_t ct_len, const uint8_t *sk, size_t sk_len);

#endif
