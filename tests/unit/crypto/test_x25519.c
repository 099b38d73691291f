/* SPDX-License-Identifier: Apache-2.0 */
/* crypto/x25519.h: RFC 7748 §6.1 known answers, small-order rejection, key handles. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/hex.h"
#include "crypto/x25519.h"

static void unhex(uint8_t out[X25519_KEY_LEN], const char *s)
{
	assert_int_equal(hex_decode(out, X25519_KEY_LEN, s, strlen(s)), 0);
}

/* RFC 7748 §6.1: Alice and Bob. */
static void test_rfc7748_dh(void **state)
{
	uint8_t a[32], a_pub[32], b[32], b_pub[32], k[32], pk[32], ss[32];
	struct x25519_key key = { 0 };

	(void)state;
	unhex(a, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
	unhex(a_pub, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
	unhex(b, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
	unhex(b_pub, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
	unhex(k, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");

	assert_int_equal(x25519_public(pk, a), 0);
	assert_memory_equal(pk, a_pub, 32);
	assert_int_equal(x25519_public(pk, b), 0);
	assert_memory_equal(pk, b_pub, 32);
	assert_int_equal(x25519_shared(ss, a, b_pub), 0);
	assert_memory_equal(ss, k, 32);
	memset(ss, 0, sizeof(ss));
	assert_int_equal(x25519_shared(ss, b, a_pub), 0);
	assert_memory_equal(ss, k, 32);

	/* The same through a kept key handle. */
	assert_int_equal(x25519_key_generate(&key, a), 0);
	assert_int_equal(x25519_key_pk(&key, pk), 0);
	assert_memory_equal(pk, a_pub, 32);
	assert_int_equal(x25519_key_sk(&key, pk), 0);
	assert_memory_equal(pk, a, 32);
	memset(ss, 0, sizeof(ss));
	assert_int_equal(x25519_key_shared(&key, ss, b_pub), 0);
	assert_memory_equal(ss, k, 32);
	x25519_key_done(&key);
	x25519_key_done(&key);
	x25519_key_done(NULL);
}

static void test_zero_shared_rejected(void **state)
{
	uint8_t pk[32], sk[32], zero[32] = { 0 }, one[32] = { 1 }, ss[32];

	(void)state;
	assert_int_equal(x25519_keypair(pk, sk), 0);
	memset(ss, 0xff, sizeof(ss));
	assert_int_equal(x25519_shared(ss, sk, zero), -EKEYREJECTED);
	for (size_t i = 0; i < sizeof(ss); i++)
		assert_int_equal(ss[i], 0);
	assert_int_equal(x25519_shared(ss, sk, one), -EKEYREJECTED);
}

static void test_random_pairs(void **state)
{
	uint8_t apk[32], ask[32], bpk[32], bsk[32], s1[32], s2[32];

	(void)state;
	assert_int_equal(x25519_keypair(apk, ask), 0);
	assert_int_equal(x25519_keypair(bpk, bsk), 0);
	assert_memory_not_equal(apk, bpk, 32);
	assert_int_equal(x25519_shared(s1, ask, bpk), 0);
	assert_int_equal(x25519_shared(s2, bsk, apk), 0);
	assert_memory_equal(s1, s2, 32);
}

static void test_empty_handle(void **state)
{
	struct x25519_key key = { 0 };
	uint8_t pk[32] = { 9 }, ss[32];

	(void)state;
	assert_true(x25519_available());
	assert_int_equal(x25519_key_pk(&key, pk), -EINVAL);
	assert_int_equal(x25519_key_shared(&key, ss, pk), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7748_dh),
		cmocka_unit_test(test_zero_shared_rejected),
		cmocka_unit_test(test_random_pairs),
		cmocka_unit_test(test_empty_handle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
