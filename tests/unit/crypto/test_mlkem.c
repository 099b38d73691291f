/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crypto/mlkem.h beyond the KATs: sizes, key handles, the error contract
 * (lengths, key checks, missing private key) and implicit rejection.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "crypto/mlkem.h"

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void test_sizes(void **state)
{
	(void)state;
	assert_int_equal(mlkem_pk_len(MLKEM_768), 1184);
	assert_int_equal(mlkem_dk_len(MLKEM_768), 2400);
	assert_int_equal(mlkem_ct_len(MLKEM_768), 1088);
	assert_int_equal(mlkem_pk_len(MLKEM_1024), 1568);
	assert_int_equal(mlkem_dk_len(MLKEM_1024), 3168);
	assert_int_equal(mlkem_ct_len(MLKEM_1024), 1568);
	assert_int_equal(mlkem_pk_len((enum mlkem_alg)9), 0);
	assert_null(mlkem_name((enum mlkem_alg)9));
	assert_false(mlkem_available((enum mlkem_alg)9));
	assert_true(mlkem_available(MLKEM_768));
	assert_true(mlkem_available(MLKEM_1024));
}

static void test_roundtrip(void **state)
{
	enum mlkem_alg alg = (enum mlkem_alg)(uintptr_t)*state;
	struct mlkem_key k = { 0 }, pub = { 0 };
	uint8_t pk[MLKEM_PK_MAX], seed[MLKEM_SEED_LEN], ct[MLKEM_CT_MAX];
	uint8_t s1[MLKEM_SS_LEN], s2[MLKEM_SS_LEN], s3[MLKEM_SS_LEN];

	assert_int_equal(mlkem_key_generate(&k, alg, NULL), 0);
	assert_int_equal(mlkem_key_pk(&k, pk), 0);
	assert_int_equal(mlkem_key_seed(&k, seed), 0);
	assert_int_equal(mlkem_key_from_pk(&pub, alg, pk, mlkem_pk_len(alg)), 0);
	assert_int_equal(mlkem_key_encap(&pub, ct, s1, NULL), 0);
	assert_int_equal(mlkem_key_decap(&k, s2, ct, mlkem_ct_len(alg)), 0);
	assert_memory_equal(s1, s2, MLKEM_SS_LEN);
	assert_int_equal(mlkem_decap(alg, s3, ct, mlkem_ct_len(alg), seed, MLKEM_SEED_LEN), 0);
	assert_memory_equal(s1, s3, MLKEM_SS_LEN);

	/* A public key cannot decapsulate nor give a seed or dk. */
	memset(s2, 0xff, sizeof(s2));
	assert_int_equal(mlkem_key_decap(&pub, s2, ct, mlkem_ct_len(alg)), -ENOKEY);
	assert_true(all_zero(s2, sizeof(s2)));
	assert_int_equal(mlkem_key_seed(&pub, seed), -ENOKEY);

	/* Fresh randomness: encapsulating twice gives two different secrets. */
	assert_int_equal(mlkem_key_encap(&pub, ct, s2, NULL), 0);
	assert_memory_not_equal(s1, s2, MLKEM_SS_LEN);

	/* A modified ciphertext decapsulates (implicit rejection) to another value. */
	ct[0] ^= 1;
	assert_int_equal(mlkem_key_decap(&k, s3, ct, mlkem_ct_len(alg)), 0);
	assert_memory_not_equal(s2, s3, MLKEM_SS_LEN);
	memset(s3, 0xff, sizeof(s3));
	assert_int_equal(mlkem_key_decap(&k, s3, ct, mlkem_ct_len(alg) - 1), -EBADMSG);
	assert_true(all_zero(s3, sizeof(s3)));

	mlkem_key_done(&k);
	mlkem_key_done(&k);
	mlkem_key_done(&pub);
	mlkem_key_done(NULL);
	assert_null(k.pkey);
}

static void test_import_errors(void **state)
{
	enum mlkem_alg alg = (enum mlkem_alg)(uintptr_t)*state;
	struct mlkem_key k = { 0 };
	uint8_t buf[MLKEM_DK_MAX + 1] = { 0 }, seed[MLKEM_SEED_LEN], ct[MLKEM_CT_MAX] = { 0 };
	uint8_t ss[MLKEM_SS_LEN];

	assert_int_equal(mlkem_key_from_pk(&k, alg, buf, mlkem_pk_len(alg) - 1), -EBADMSG);
	assert_int_equal(mlkem_key_from_pk(&k, alg, buf, mlkem_pk_len(alg) + 1), -EBADMSG);
	assert_int_equal(mlkem_key_from_sk(&k, alg, buf, MLKEM_SEED_LEN + 1), -EBADMSG);
	assert_int_equal(mlkem_key_from_sk(&k, alg, buf, mlkem_dk_len(alg) - 1), -EBADMSG);
	assert_int_equal(mlkem_key_from_pk(&k, (enum mlkem_alg)9, buf, 1184), -EINVAL);
	/* An all-zero ek is reduced (every coefficient 0 < q): accepted. */
	assert_int_equal(mlkem_key_from_pk(&k, alg, buf, mlkem_pk_len(alg)), 0);
	mlkem_key_done(&k);
	/* A coefficient of 0xfff >= q is not. */
	buf[0] = 0xff;
	buf[1] = 0x0f;
	assert_int_equal(mlkem_key_from_pk(&k, alg, buf, mlkem_pk_len(alg)), -EKEYREJECTED);
	assert_null(k.pkey);

	/* Expanded dk: a corrupted secret part fails OpenSSL's pairwise test. */
	memset(seed, 0x42, sizeof(seed));
	assert_int_equal(mlkem_expand(alg, seed, buf), 0);
	assert_int_equal(mlkem_key_from_sk(&k, alg, buf, mlkem_dk_len(alg)), 0);
	mlkem_key_done(&k);
	buf[0] ^= 0x01;
	memset(ss, 0xff, sizeof(ss));
	assert_int_equal(mlkem_decap(alg, ss, ct, mlkem_ct_len(alg), buf, mlkem_dk_len(alg)),
			 -EKEYREJECTED);
	assert_true(all_zero(ss, sizeof(ss)));
}

int main(void)
{
#define BOTH(f) \
	cmocka_unit_test_prestate(f, (void *)(uintptr_t)MLKEM_768), \
	cmocka_unit_test_prestate(f, (void *)(uintptr_t)MLKEM_1024)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		BOTH(test_roundtrip),
		BOTH(test_import_errors),
	};
#undef BOTH
	return cmocka_run_group_tests(tests, NULL, NULL);
}
