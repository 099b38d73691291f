/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Known answers for the digest, HMAC, HKDF-SHA-256 and RNG wrappers:
 * FIPS 202 (SHA3-256 "abc"), FIPS 180-4 (SHA-384 "abc"), RFC 4231 test case 1
 * (HMAC-SHA-256/384), RFC 5869 test case 1 (HKDF-SHA-256). HKDF-SHA-384 is
 * covered by the Wycheproof KAT.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/hex.h"
#include "crypto/hash.h"
#include "crypto/mac.h"
#include "crypto/rng.h"

static void expect_hex(const uint8_t *got, size_t len, const char *hex)
{
	uint8_t want[128];

	assert_int_equal(strlen(hex), 2 * len);
	assert_int_equal(hex_decode(want, len, hex, strlen(hex)), 0);
	assert_memory_equal(got, want, len);
}

static void test_digests(void **state)
{
	uint8_t out[HASH_MAX_LEN];
	struct hash_ctx c;

	(void)state;
	assert_int_equal(hash(HASH_SHA3_256, "abc", 3, out), 0);
	expect_hex(out, 32, "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
	assert_int_equal(hash(HASH_SHA384, "abc", 3, out), 0);
	expect_hex(out, 48, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
			    "8086072ba1e7cc2358baeca134c825a7");
	/* incremental equals one-shot */
	assert_int_equal(hash_init(&c, HASH_SHA3_256), 0);
	assert_int_equal(hash_update(&c, "a", 1), 0);
	assert_int_equal(hash_update(&c, "bc", 2), 0);
	assert_int_equal(hash_final(&c, out), 0);
	expect_hex(out, 32, "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
	hash_done(&c);	/* idempotent after final */
	assert_int_equal(hash_len(HASH_SHA256), 32);
	assert_int_equal(hash_len(HASH_SHA512), 64);
}

static void test_hmac_rfc4231(void **state)
{
	uint8_t key[20], out[HASH_MAX_LEN];

	(void)state;
	memset(key, 0x0b, sizeof(key));
	assert_int_equal(hmac(HASH_SHA256, key, sizeof(key), "Hi There", 8, out), 0);
	expect_hex(out, 32, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	assert_int_equal(hmac(HASH_SHA384, key, sizeof(key), "Hi There", 8, out), 0);
	expect_hex(out, 48, "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
			    "faea9ea9076ede7f4af152e8b2fa9cb6");
	/* split input gives the same MAC */
	struct cbuf parts[] = { CBUF("Hi ", 3), CBUF("", 0), CBUF("There", 5) };
	assert_int_equal(hmac_v(HASH_SHA256, key, sizeof(key), parts, 3, out), 0);
	expect_hex(out, 32, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

static void test_hkdf_rfc5869(void **state)
{
	uint8_t ikm[22], salt[13], info[10], okm[42], prk[32];

	(void)state;
	memset(ikm, 0x0b, sizeof(ikm));
	for (size_t i = 0; i < sizeof(salt); i++)
		salt[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(info); i++)
		info[i] = (uint8_t)(0xf0 + i);
	assert_int_equal(hkdf_extract(HASH_SHA256, salt, sizeof(salt), ikm, sizeof(ikm), prk), 0);
	expect_hex(prk, 32, "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
	assert_int_equal(hkdf(HASH_SHA256, salt, sizeof(salt), ikm, sizeof(ikm), info, sizeof(info),
			      okm, sizeof(okm)), 0);
	expect_hex(okm, 42, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
			    "34007208d5b887185865");
	/* over-long output is refused and the buffer zeroed */
	static uint8_t big[255 * 32 + 1];
	memset(big, 0xaa, sizeof(big));
	assert_int_equal(hkdf(HASH_SHA256, salt, sizeof(salt), ikm, sizeof(ikm), NULL, 0, big, sizeof(big)),
			 -EINVAL);
	for (size_t i = 0; i < sizeof(big); i++)
		assert_int_equal(big[i], 0);
}

static void test_rng(void **state)
{
	uint8_t a[32], b[32];

	(void)state;
	assert_int_equal(crypto_random(a, sizeof(a)), 0);
	assert_int_equal(crypto_random(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(crypto_random_public(a, sizeof(a)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digests),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_hkdf_rfc5869),
		cmocka_unit_test(test_rng),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
