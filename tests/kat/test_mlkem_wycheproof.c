/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Wycheproof ML-KEM vectors through crypto/mlkem.h (tests/vectors/README.md §2):
 *   mlkem_N_test.json                    decapsulation from a seed (MLKEMTest)
 *   mlkem_N_encaps_test.json             encapsulation with a fixed m (MLKEMEncapsTest)
 *   mlkem_N_semi_expanded_decaps_test    decapsulation from an expanded dk
 * Valid cases must reproduce K; invalid ones must be refused with the error
 * their defect calls for. The valid/invalid counts are asserted per file.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "crypto/mlkem.h"
#include "vectors.h"

struct counts {
	size_t valid, invalid;
};

/* Expected case counts of the trimmed files (tests/vectors/README.md). */
#define SEED_VALID 18
#define SEED_INVALID 8
#define ENCAPS_VALID 14
#define ENCAPS_INVALID 14
#define SEMI_VALID 3
#define SEMI_INVALID 6

static enum mlkem_alg group_alg(const json_t *g)
{
	const char *ps = vec_str(g, "parameterSet");

	if (strcmp(ps, "ML-KEM-768") == 0)
		return MLKEM_768;
	if (strcmp(ps, "ML-KEM-1024") == 0)
		return MLKEM_1024;
	fail_msg("unexpected parameterSet %s", ps);
	return MLKEM_768;
}

static bool is_valid(const json_t *t)
{
	const char *res = vec_str(t, "result");

	if (strcmp(res, "valid") == 0)
		return true;
	if (strcmp(res, "invalid") != 0)
		fail_msg("tcId %lld: unexpected result %s", vec_int(t, "tcId"), res);
	return false;
}

static bool has_flag(const json_t *t, const char *flag)
{
	const json_t *flags = json_object_get(t, "flags"), *f;
	size_t i;

	json_array_foreach(flags, i, f)
		if (json_is_string(f) && strcmp(json_string_value(f), flag) == 0)
			return true;
	return false;
}

static void check_rc(const json_t *t, int got, int want)
{
	if (got != want)
		fail_msg("tcId %lld: got %d, want %d", vec_int(t, "tcId"), got, want);
}

/* Check that the file holds numberOfTests cases and that all were run. */
static void check_total(const json_t *j, const struct counts *c)
{
	assert_int_equal(c->valid + c->invalid, (size_t)vec_int(j, "numberOfTests"));
}

/* MLKEMTest: seed (d||z), optional ek, c, K. */
static void run_seed_file(const char *path, enum mlkem_alg want_alg, struct counts *c)
{
	json_t *j = vec_load(path);
	const json_t *g, *t;
	size_t gi, ti;

	json_array_foreach(json_object_get(j, "testGroups"), gi, g) {
		enum mlkem_alg alg = group_alg(g);

		assert_int_equal(alg, want_alg);
		json_array_foreach(json_object_get(g, "tests"), ti, t) {
			size_t seed_len, c_len, k_len;
			uint8_t *seed = vec_hex(t, "seed", &seed_len);
			uint8_t *ct = vec_hex(t, "c", &c_len), *kk = vec_hex(t, "K", &k_len);
			uint8_t ss[MLKEM_SS_LEN];
			int r = mlkem_decap(alg, ss, ct, c_len, seed, seed_len);

			if (is_valid(t)) {
				check_rc(t, r, 0);
				assert_int_equal(k_len, MLKEM_SS_LEN);
				assert_memory_equal(ss, kk, MLKEM_SS_LEN);
				if (json_object_get(t, "ek")) {
					size_t ek_len;
					uint8_t *ek = vec_hex(t, "ek", &ek_len);
					uint8_t pk[MLKEM_PK_MAX], sd[MLKEM_SEED_LEN];

					assert_int_equal(seed_len, MLKEM_SEED_LEN);
					assert_int_equal(mlkem_keypair(alg, seed, pk, sd), 0);
					assert_int_equal(ek_len, mlkem_pk_len(alg));
					assert_memory_equal(pk, ek, ek_len);
					free(ek);
				}
				c->valid++;
			} else {
				/* Every invalid case here is a seed or ct of the wrong length. */
				assert_true(seed_len != MLKEM_SEED_LEN || c_len != mlkem_ct_len(alg));
				check_rc(t, r, -EBADMSG);
				/* ...and the output buffer is left zeroed. */
				for (size_t b = 0; b < MLKEM_SS_LEN; b++)
					assert_int_equal(ss[b], 0);
				c->invalid++;
			}
			free(seed);
			free(ct);
			free(kk);
		}
	}
	check_total(j, c);
	json_decref(j);
}

/* MLKEMEncapsTest: ek, m, c, K. */
static void run_encaps_file(const char *path, enum mlkem_alg want_alg, struct counts *c)
{
	json_t *j = vec_load(path);
	const json_t *g, *t;
	size_t gi, ti;

	json_array_foreach(json_object_get(j, "testGroups"), gi, g) {
		enum mlkem_alg alg = group_alg(g);

		assert_int_equal(alg, want_alg);
		json_array_foreach(json_object_get(g, "tests"), ti, t) {
			size_t ek_len, m_len, c_len, k_len;
			uint8_t *ek = vec_hex(t, "ek", &ek_len), *m = vec_hex(t, "m", &m_len);
			uint8_t *cc = vec_hex(t, "c", &c_len), *kk = vec_hex(t, "K", &k_len);
			uint8_t ct[MLKEM_CT_MAX], ss[MLKEM_SS_LEN];
			int r;

			assert_int_equal(m_len, MLKEM_M_LEN);
			r = mlkem_encap(alg, ct, ss, ek, ek_len, m);
			if (is_valid(t)) {
				check_rc(t, r, 0);
				assert_int_equal(c_len, mlkem_ct_len(alg));
				assert_int_equal(k_len, MLKEM_SS_LEN);
				assert_memory_equal(ct, cc, c_len);
				assert_memory_equal(ss, kk, k_len);
				c->valid++;
			} else {
				/* Right length: the §7.2 modulus check must refuse it. */
				check_rc(t, r, ek_len == mlkem_pk_len(alg) ? -EKEYREJECTED : -EBADMSG);
				for (size_t b = 0; b < MLKEM_SS_LEN; b++)
					assert_int_equal(ss[b], 0);
				c->invalid++;
			}
			free(ek);
			free(m);
			free(cc);
			free(kk);
		}
	}
	check_total(j, c);
	json_decref(j);
}

/* MLKEMDecapsValidationTest: dk (expanded), ek, c, K when valid. */
static void run_semi_file(const char *path, enum mlkem_alg want_alg, struct counts *c)
{
	json_t *j = vec_load(path);
	const json_t *g, *t;
	size_t gi, ti;

	json_array_foreach(json_object_get(j, "testGroups"), gi, g) {
		enum mlkem_alg alg = group_alg(g);

		assert_int_equal(alg, want_alg);
		json_array_foreach(json_object_get(g, "tests"), ti, t) {
			size_t dk_len, c_len;
			uint8_t *dk = vec_hex(t, "dk", &dk_len), *ct = vec_hex(t, "c", &c_len);
			uint8_t ss[MLKEM_SS_LEN];
			int r = mlkem_decap(alg, ss, ct, c_len, dk, dk_len);

			if (is_valid(t)) {
				size_t k_len, ek_len;
				uint8_t *kk = vec_hex(t, "K", &k_len), *ek = vec_hex(t, "ek", &ek_len);
				struct mlkem_key k = { 0 };
				uint8_t pk[MLKEM_PK_MAX];

				check_rc(t, r, 0);
				assert_int_equal(k_len, MLKEM_SS_LEN);
				assert_memory_equal(ss, kk, k_len);
				/* The ek embedded in dk is the one the vector names. */
				assert_int_equal(mlkem_key_from_sk(&k, alg, dk, dk_len), 0);
				assert_int_equal(mlkem_key_pk(&k, pk), 0);
				assert_int_equal(ek_len, mlkem_pk_len(alg));
				assert_memory_equal(pk, ek, ek_len);
				mlkem_key_done(&k);
				free(kk);
				free(ek);
				c->valid++;
			} else {
				int want = 1;

				if (has_flag(t, "IncorrectCiphertextLength") ||
				    has_flag(t, "IncorrectDecapsulationKeyLength"))
					want = -EBADMSG;
				else if (has_flag(t, "InvalidDecapsulationKey"))
					want = -EKEYREJECTED;
				else
					fail_msg("tcId %lld: unknown defect", vec_int(t, "tcId"));
				check_rc(t, r, want);
				for (size_t b = 0; b < MLKEM_SS_LEN; b++)
					assert_int_equal(ss[b], 0);
				c->invalid++;
			}
			free(dk);
			free(ct);
		}
	}
	check_total(j, c);
	json_decref(j);
}

static void check_counts(const char *what, const struct counts *c, size_t valid, size_t invalid)
{
	printf("wycheproof %s: %zu valid + %zu invalid passed\n", what, c->valid, c->invalid);
	assert_int_equal(c->valid, valid);
	assert_int_equal(c->invalid, invalid);
}

/* One Wycheproof file: how to run it, and how many valid/invalid cases it must have. */
struct wp_file {
	const char *name;	/* under tests/vectors/wycheproof/, without ".json" */
	void (*run)(const char *path, enum mlkem_alg alg, struct counts *c);
	enum mlkem_alg alg;
	size_t valid, invalid;
};

static const struct wp_file files[] = {
	{ "mlkem_768_test", run_seed_file, MLKEM_768, SEED_VALID, SEED_INVALID },
	{ "mlkem_1024_test", run_seed_file, MLKEM_1024, SEED_VALID, SEED_INVALID },
	{ "mlkem_768_encaps_test", run_encaps_file, MLKEM_768, ENCAPS_VALID, ENCAPS_INVALID },
	{ "mlkem_1024_encaps_test", run_encaps_file, MLKEM_1024, ENCAPS_VALID, ENCAPS_INVALID },
	{ "mlkem_768_semi_expanded_decaps_test", run_semi_file, MLKEM_768, SEMI_VALID, SEMI_INVALID },
	{ "mlkem_1024_semi_expanded_decaps_test", run_semi_file, MLKEM_1024, SEMI_VALID, SEMI_INVALID },
};

static void test_file(void **state)
{
	const struct wp_file *f = *state;
	struct counts c = { 0, 0 };
	char path[128];

	snprintf(path, sizeof(path), "wycheproof/%s.json", f->name);
	f->run(path, f->alg, &c);
	check_counts(f->name, &c, f->valid, f->invalid);
}

#define FILE_TEST(i) { files[i].name, test_file, NULL, NULL, (void *)&files[i] }

int main(void)
{
	const struct CMUnitTest tests[] = {
		FILE_TEST(0), FILE_TEST(1), FILE_TEST(2), FILE_TEST(3), FILE_TEST(4), FILE_TEST(5),
	};

	_Static_assert(sizeof(tests) / sizeof(tests[0]) == sizeof(files) / sizeof(files[0]),
		       "one test per vector file");
	if (!mlkem_available(MLKEM_768) || !mlkem_available(MLKEM_1024)) {
		fprintf(stderr, "ML-KEM missing from the OpenSSL providers\n");
		return 1;	/* a KAT that cannot run is a failure, not a skip */
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
