/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Classic McEliece known-answer test: the first NIST KAT entry (count = 0)
 * of mceliece460896 and mceliece6688128, from
 * tests/vectors/mceliece/mceliece_first_kat_summary.json.
 *
 * NIST's KAT generator (PQCgenKAT_kem.c) feeds the KEM from an
 * AES-256 CTR_DRBG without derivation function (SP 800-90A, 10.2.1),
 * instantiated with the 48-byte per-entry seed and no personalization.
 * We build the same DRBG from OpenSSL (EVP_RAND "CTR-DRBG" on top of a
 * "TEST-RAND" that supplies the seed as entropy) and route libmceliece's
 * randomness to it, then compare pk/sk hashes, ct and ss.
 *
 * How the randomness gets in: libmceliece has no API for it, but its
 * shared library imports one symbol from librandombytes,
 * randombytes_internal_void_voidstar_longlong(), resolved at load time.
 * Defining that symbol in this executable interposes it (the executable
 * comes first in ELF symbol lookup). This relies on libmceliece being a
 * shared library and on a librandombytes-internal name, so it belongs in
 * a test only; the hook counts its calls so that a silent bypass fails.
 */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/secret.h"
#include "crypto/hash.h"
#include "crypto/mceliece.h"
#include "vectors.h"

#define NIST_SEED_LEN 48	/* AES-256 key + 128-bit V: the CTR_DRBG seedlen */

struct nist_drbg {
	EVP_RAND_CTX *entropy;	/* TEST-RAND: hands out the seed */
	EVP_RAND_CTX *drbg;	/* CTR-DRBG, AES-256, no df */
};

static EVP_RAND_CTX *kat_drbg;
static unsigned long hook_calls;

void randombytes_internal_void_voidstar_longlong(void *p, long long n);
void randombytes_internal_void_voidstar_longlong(void *p, long long n)
{
	hook_calls++;
	if (!kat_drbg || n < 0 ||
	    EVP_RAND_generate(kat_drbg, p, (size_t)n, 256, 0, NULL, 0) != 1) {
		fprintf(stderr, "kat_mceliece: randombytes(%lld) without a working DRBG\n", n);
		abort();
	}
}

static void nist_drbg_free(struct nist_drbg *d)
{
	EVP_RAND_CTX_free(d->drbg);
	EVP_RAND_CTX_free(d->entropy);
	d->drbg = d->entropy = NULL;
}

/* randombytes_init(seed, NULL, 256) of NIST's rng.c, in OpenSSL terms. */
static void nist_drbg_init(struct nist_drbg *d, const uint8_t seed[NIST_SEED_LEN])
{
	EVP_RAND *test_rand = EVP_RAND_fetch(NULL, "TEST-RAND", NULL);
	EVP_RAND *ctr = EVP_RAND_fetch(NULL, "CTR-DRBG", NULL);
	unsigned int strength = 256;
	int use_df = 0;
	/*
	 * Without df the personalization string is XORed into the seed, so
	 * zeros mean "none". It must be given explicitly: with NULL, OpenSSL
	 * substitutes its own default personalization string.
	 */
	static const uint8_t no_pers[NIST_SEED_LEN];
	OSSL_PARAM ep[] = {
		OSSL_PARAM_uint(OSSL_RAND_PARAM_STRENGTH, &strength),
		OSSL_PARAM_END,
	};
	OSSL_PARAM es[] = {
		OSSL_PARAM_octet_string(OSSL_RAND_PARAM_TEST_ENTROPY, (void *)seed, NIST_SEED_LEN),
		OSSL_PARAM_END,
	};
	OSSL_PARAM dp[] = {
		OSSL_PARAM_utf8_string(OSSL_DRBG_PARAM_CIPHER, "AES-256-CTR",
				       sizeof("AES-256-CTR") - 1),
		OSSL_PARAM_int(OSSL_DRBG_PARAM_USE_DF, &use_df),
		OSSL_PARAM_END,
	};

	assert_non_null(test_rand);
	assert_non_null(ctr);
	d->entropy = EVP_RAND_CTX_new(test_rand, NULL);
	assert_non_null(d->entropy);
	assert_int_equal(EVP_RAND_CTX_set_params(d->entropy, ep), 1);
	assert_int_equal(EVP_RAND_instantiate(d->entropy, 256, 0, NULL, 0, es), 1);
	d->drbg = EVP_RAND_CTX_new(ctr, d->entropy);
	assert_non_null(d->drbg);
	assert_int_equal(EVP_RAND_instantiate(d->drbg, 256, 0, no_pers, sizeof(no_pers), dp), 1);
	EVP_RAND_free(test_rand);
	EVP_RAND_free(ctr);
}

static json_t *doc;

static int setup(void **state)
{
	(void)state;
	doc = vec_load("mceliece/mceliece_first_kat_summary.json");
	return doc ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	json_decref(doc);
	return 0;
}

/*
 * Check the DRBG itself: PQCgenKAT_kem seeds a master DRBG with the bytes
 * 0, 1, ..., 47 and draws each entry's seed from it, so the first 48
 * output bytes must be the seed of entry 0.
 */
static void test_drbg_is_nist(void **state)
{
	json_t *entries = json_object_get(doc, "entries");
	uint8_t entropy[NIST_SEED_LEN], out[NIST_SEED_LEN];
	struct nist_drbg d;
	uint8_t *seed;
	size_t seed_len;

	(void)state;
	assert_true(json_array_size(entries) > 0);
	for (size_t i = 0; i < sizeof(entropy); i++)
		entropy[i] = (uint8_t)i;
	nist_drbg_init(&d, entropy);
	assert_int_equal(EVP_RAND_generate(d.drbg, out, sizeof(out), 256, 0, NULL, 0), 1);
	seed = vec_hex(json_array_get(entries, 0), "seed", &seed_len);
	assert_int_equal(seed_len, NIST_SEED_LEN);
	assert_memory_equal(out, seed, NIST_SEED_LEN);
	free(seed);
	nist_drbg_free(&d);
}

struct set {
	const char *name;
	size_t pk_len, sk_len, ct_len;
	int (*keypair)(uint8_t *pk, uint8_t *sk);
	int (*encap)(uint8_t *ct, uint8_t *ss, const uint8_t *pk);
	int (*decap)(uint8_t *ss, const uint8_t *ct, const uint8_t *sk);
};

static const struct set sets[] = {
	{ "mceliece460896", CMCE460896_PK_LEN, CMCE460896_SK_LEN, CMCE460896_CT_LEN,
	  cmce460896_keypair, cmce460896_encap, cmce460896_decap },
	{ "mceliece6688128", CMCE6688128_PK_LEN, CMCE6688128_SK_LEN, CMCE6688128_CT_LEN,
	  cmce6688128_keypair, cmce6688128_encap, cmce6688128_decap },
};

static void expect_hash(const json_t *e, const char *field, const uint8_t *p, size_t len,
			bool use_shake)
{
	uint8_t got[64];
	size_t want_len;
	uint8_t *want = vec_hex(e, field, &want_len);

	if (use_shake) {
		assert_int_equal(want_len, 64);
		assert_int_equal(shake256(p, len, got, 64), 0);
	} else {
		assert_int_equal(want_len, 32);
		assert_int_equal(hash(HASH_SHA256, p, len, got), 0);
	}
	assert_memory_equal(got, want, want_len);
	free(want);
}

static void run_entry(const json_t *e)
{
	const char *name = vec_str(e, "parameterSet");
	const struct set *s = NULL;
	uint8_t ct[CMCE6688128_CT_LEN], ss[CMCE_SS_LEN], ss2[CMCE_SS_LEN];
	struct nist_drbg d;
	struct secret *sk;
	uint8_t *pk, *seed, *want_ct, *want_ss;
	size_t seed_len, ct_len, ss_len;
	unsigned long calls;

	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
		if (strcmp(sets[i].name, name) == 0)
			s = &sets[i];
	assert_non_null(s);
	assert_int_equal(vec_int(e, "pk_len"), s->pk_len);
	assert_int_equal(vec_int(e, "sk_len"), s->sk_len);
	assert_int_equal(vec_int(e, "ct_len"), s->ct_len);
	seed = vec_hex(e, "seed", &seed_len);
	want_ct = vec_hex(e, "ct", &ct_len);
	want_ss = vec_hex(e, "ss", &ss_len);
	assert_int_equal(seed_len, NIST_SEED_LEN);
	assert_int_equal(ct_len, s->ct_len);
	assert_int_equal(ss_len, CMCE_SS_LEN);
	pk = malloc(s->pk_len);
	sk = secret_alloc(s->sk_len);
	assert_non_null(pk);
	assert_non_null(sk);

	/* keypair, then enc, from one DRBG stream, as in PQCgenKAT_kem */
	nist_drbg_init(&d, seed);
	kat_drbg = d.drbg;
	calls = hook_calls;
	assert_int_equal(s->keypair(pk, sk->p), 0);
	assert_true(hook_calls > calls);	/* the library really used our DRBG */
	calls = hook_calls;
	assert_int_equal(s->encap(ct, ss, pk), 0);
	assert_true(hook_calls > calls);
	kat_drbg = NULL;
	nist_drbg_free(&d);

	expect_hash(e, "sha256_pk", pk, s->pk_len, false);
	expect_hash(e, "sha256_sk", sk->p, s->sk_len, false);
	expect_hash(e, "shake256_512_pk", pk, s->pk_len, true);
	expect_hash(e, "shake256_512_sk", sk->p, s->sk_len, true);
	assert_memory_equal(ct, want_ct, s->ct_len);
	assert_memory_equal(ss, want_ss, CMCE_SS_LEN);
	/* decapsulation is deterministic and needs no randomness */
	assert_int_equal(s->decap(ss2, want_ct, sk->p), 0);
	assert_memory_equal(ss2, want_ss, CMCE_SS_LEN);
	/* tampered ciphertext: implicit rejection, a different key */
	want_ct[0] ^= 1;
	assert_int_equal(s->decap(ss2, want_ct, sk->p), 0);
	assert_memory_not_equal(ss2, want_ss, CMCE_SS_LEN);

	free(pk);
	secret_free(sk);
	free(seed);
	free(want_ct);
	free(want_ss);
}

static void test_kat(void **state)
{
	json_t *entries = json_object_get(doc, "entries");
	size_t seen = 0;

	(void)state;
	for (size_t i = 0; i < json_array_size(entries); i++) {
		print_message("%s\n", vec_str(json_array_get(entries, i), "parameterSet"));
		run_entry(json_array_get(entries, i));
		seen++;
	}
	assert_int_equal(seen, sizeof(sets) / sizeof(sets[0]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drbg_is_nist),
		cmocka_unit_test(test_kat),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
