/* SPDX-License-Identifier: Apache-2.0 */
/*
 * X25519 key-exchange method through the kex vtable: full exchange,
 * tampering, small-order points, lengths, call order, secret-once, done(),
 * registry lookups and the raw KEM view.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "crypto/x25519.h"
#include "kex/kex.h"
#include "kex/methods.h"

static const struct kex_method *const m = &kex_x25519;

#define MSG_MAX 64

/* Small-order u-coordinates (and non-canonical encodings of them). */
static const uint8_t low_order[][X25519_KEY_LEN] = {
	/* 0 */
	{ 0 },
	/* 1 */
	{ 0x01 },
	/* p - 1 */
	{ 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0x7f },
	/* p (= 0) */
	{ 0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0x7f },
	/* p + 1 (= 1) */
	{ 0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0x7f },
};

static void *ctx_new(void)
{
	void *ctx = malloc(m->ctx_size);

	assert_non_null(ctx);
	memset(ctx, 0xa5, m->ctx_size);
	return ctx;
}

static void ctx_free(void *ctx)
{
	m->done(ctx);
	free(ctx);
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Back to back; tamper() may change msg2. Returns finish()'s result. */
static int exchange(void (*tamper)(uint8_t *, size_t *), uint8_t ss_i[KEX_SECRET_LEN],
		    uint8_t ss_r[KEX_SECRET_LEN])
{
	void *ini = ctx_new(), *res = ctx_new();
	uint8_t m1[MSG_MAX], m2[MSG_MAX];
	struct wbuf w1 = wbuf_init(m1, m->msg1_max), w2 = wbuf_init(m2, m->msg2_max);
	size_t len2;
	int r;

	assert_int_equal(m->init(ini, NULL, KEX_INITIATOR), 0);
	assert_int_equal(m->init(res, NULL, KEX_RESPONDER), 0);
	assert_int_equal(m->msg1(ini, &w1), 0);
	assert_int_equal(w1.len, X25519_KEY_LEN);
	assert_int_equal(m->msg2(res, wbuf_rd(&w1), &w2), 0);
	assert_int_equal(w2.len, X25519_KEY_LEN);
	assert_int_equal(m->secret(res, ss_r), 0);
	len2 = w2.len;
	if (tamper)
		tamper(m2, &len2);
	r = m->finish(ini, rd_init(m2, len2));
	if (r == 0)
		assert_int_equal(m->secret(ini, ss_i), 0);
	else
		assert_int_equal(m->secret(ini, ss_i), -EPROTO);
	ctx_free(ini);
	ctx_free(res);
	return r;
}

static void test_exchange(void **state)
{
	uint8_t a[KEX_SECRET_LEN], b[KEX_SECRET_LEN], c[KEX_SECRET_LEN], d[KEX_SECRET_LEN];

	(void)state;
	assert_int_equal(exchange(NULL, a, b), 0);
	assert_memory_equal(a, b, KEX_SECRET_LEN);
	assert_false(all_zero(a, sizeof(a)));
	assert_int_equal(exchange(NULL, c, d), 0);
	assert_memory_equal(c, d, KEX_SECRET_LEN);
	assert_memory_not_equal(a, c, KEX_SECRET_LEN);
}

static void flip_first(uint8_t *msg, size_t *len)
{
	(void)len;
	msg[0] ^= 0x04;
}

static void truncate1(uint8_t *msg, size_t *len)
{
	(void)msg;
	*len -= 1;
}

static void extend1(uint8_t *msg, size_t *len)
{
	msg[*len] = 0;
	*len += 1;
}

static void zero_msg(uint8_t *msg, size_t *len)
{
	memset(msg, 0, *len);
}

/* A flipped bit in msg2 is another point: a different secret, or a rejection. */
static void test_msg2_bitflip(void **state)
{
	uint8_t a[KEX_SECRET_LEN], b[KEX_SECRET_LEN];
	int r;

	(void)state;
	r = exchange(flip_first, a, b);
	if (r == 0)
		assert_memory_not_equal(a, b, KEX_SECRET_LEN);
	else
		assert_int_equal(r, -EKEYREJECTED);
}

static void test_msg2_length(void **state)
{
	uint8_t a[KEX_SECRET_LEN], b[KEX_SECRET_LEN];

	(void)state;
	assert_int_equal(exchange(truncate1, a, b), -EBADMSG);
	assert_int_equal(exchange(extend1, a, b), -EBADMSG);
}

static void test_msg2_low_order(void **state)
{
	uint8_t a[KEX_SECRET_LEN], b[KEX_SECRET_LEN];

	(void)state;
	assert_int_equal(exchange(zero_msg, a, b), -EKEYREJECTED);
}

static int responder_with(const uint8_t *msg1, size_t len)
{
	void *res = ctx_new();
	uint8_t m2[MSG_MAX], ss[KEX_SECRET_LEN];
	struct wbuf w2 = wbuf_init(m2, sizeof(m2));
	int r;

	assert_int_equal(m->init(res, NULL, KEX_RESPONDER), 0);
	r = m->msg2(res, rd_init(msg1, len), &w2);
	if (r < 0)
		assert_int_equal(m->secret(res, ss), -EPROTO);
	ctx_free(res);
	return r;
}

static void test_msg1(void **state)
{
	uint8_t pk[MSG_MAX] = { 0 }, sk[X25519_KEY_LEN];

	(void)state;
	assert_int_equal(x25519_keypair(pk, sk), 0);
	assert_int_equal(responder_with(pk, X25519_KEY_LEN), 0);
	assert_int_equal(responder_with(pk, X25519_KEY_LEN - 1), -EBADMSG);
	assert_int_equal(responder_with(pk, X25519_KEY_LEN + 1), -EBADMSG);
	assert_int_equal(responder_with(pk, 0), -EBADMSG);
	for (size_t i = 0; i < sizeof(low_order) / sizeof(low_order[0]); i++)
		assert_int_equal(responder_with(low_order[i], X25519_KEY_LEN), -EKEYREJECTED);
}

static void test_call_order(void **state)
{
	void *ctx = ctx_new();
	uint8_t m1[MSG_MAX], m2[MSG_MAX] = { 9 }, ss[KEX_SECRET_LEN];
	struct wbuf w1 = wbuf_init(m1, sizeof(m1)), w2 = wbuf_init(m2, sizeof(m2));

	(void)state;
	memset(ctx, 0, m->ctx_size);
	assert_int_equal(m->msg1(ctx, &w1), -EPROTO);
	m->done(ctx);

	assert_int_equal(m->init(ctx, NULL, KEX_RESPONDER), 0);
	assert_int_equal(m->msg1(ctx, &w1), -EPROTO);
	m->done(ctx);
	assert_int_equal(m->init(ctx, NULL, KEX_RESPONDER), 0);
	assert_int_equal(m->finish(ctx, rd_init(m2, X25519_KEY_LEN)), -EPROTO);
	m->done(ctx);

	w1 = wbuf_init(m1, sizeof(m1));
	assert_int_equal(m->init(ctx, NULL, KEX_INITIATOR), 0);
	assert_int_equal(m->msg1(ctx, &w1), 0);
	assert_int_equal(m->msg2(ctx, wbuf_rd(&w1), &w2), -EPROTO);
	m->done(ctx);
	assert_int_equal(m->init(ctx, NULL, KEX_INITIATOR), 0);
	assert_int_equal(m->finish(ctx, rd_init(m2, X25519_KEY_LEN)), -EPROTO);
	m->done(ctx);

	assert_int_equal(m->init(ctx, NULL, KEX_INITIATOR), 0);
	memset(ss, 0xaa, sizeof(ss));
	assert_int_equal(m->secret(ctx, ss), -EPROTO);
	assert_true(mfs_ct_is_zero(ss, sizeof(ss)));	/* zeroed on failure */
	m->done(ctx);
	w1 = wbuf_init(m1, sizeof(m1));
	assert_int_equal(m->init(ctx, NULL, KEX_INITIATOR), 0);
	assert_int_equal(m->msg1(ctx, &w1), 0);
	assert_int_equal(m->secret(ctx, ss), -EPROTO);
	assert_int_equal(m->finish(ctx, rd_init(m2, X25519_KEY_LEN)), -EPROTO);
	m->done(ctx);

	assert_int_equal(m->init(ctx, NULL, (enum kex_role)7), -EINVAL);
	assert_int_equal(m->msg1(ctx, &w1), -EPROTO);
	ctx_free(ctx);
}

static void test_secret_once(void **state)
{
	void *ini = ctx_new(), *res = ctx_new();
	uint8_t m1[MSG_MAX], m2[MSG_MAX], a[KEX_SECRET_LEN], b[KEX_SECRET_LEN];
	uint8_t keep[KEX_SECRET_LEN];
	struct wbuf w1 = wbuf_init(m1, sizeof(m1)), w2 = wbuf_init(m2, sizeof(m2));

	(void)state;
	assert_int_equal(m->init(ini, NULL, KEX_INITIATOR), 0);
	assert_int_equal(m->init(res, NULL, KEX_RESPONDER), 0);
	assert_int_equal(m->msg1(ini, &w1), 0);
	assert_int_equal(m->msg2(res, wbuf_rd(&w1), &w2), 0);
	assert_int_equal(m->finish(ini, wbuf_rd(&w2)), 0);
	assert_int_equal(m->secret(ini, a), 0);
	assert_int_equal(m->secret(res, b), 0);
	assert_memory_equal(a, b, KEX_SECRET_LEN);
	memcpy(keep, a, sizeof(a));
	/* Once only: a second call fails and zeroes its output (kex.h). */
	memset(a, 0xaa, sizeof(a));
	assert_int_equal(m->secret(ini, a), -EPROTO);
	assert_true(mfs_ct_is_zero(a, sizeof(a)));
	assert_int_equal(m->secret(res, b), -EPROTO);
	assert_true(mfs_ct_is_zero(b, sizeof(b)));
	assert_false(mfs_ct_is_zero(keep, sizeof(keep)));
	ctx_free(ini);
	ctx_free(res);
}

static void test_done(void **state)
{
	void *ctx = calloc(1, m->ctx_size);
	uint8_t m1[MSG_MAX];
	struct wbuf w1 = wbuf_init(m1, sizeof(m1));

	(void)state;
	assert_non_null(ctx);
	m->done(NULL);
	m->done(ctx);
	assert_true(all_zero(ctx, m->ctx_size));
	assert_int_equal(m->init(ctx, NULL, KEX_INITIATOR), 0);
	assert_int_equal(m->msg1(ctx, &w1), 0);
	m->done(ctx);
	assert_true(all_zero(ctx, m->ctx_size));
	m->done(ctx);
	free(ctx);
}

static void test_registry_metadata(void **state)
{
	const struct kex_method *const *all;
	size_t n, found = 0;

	(void)state;
	assert_true(m->available());
	assert_ptr_equal(kex_method_by_name("x25519"), m);
	assert_ptr_equal(kex_method_by_id(KEX_ID_X25519), m);
	n = kex_methods(&all);
	for (size_t i = 0; i < n; i++)
		found += all[i] == m;
	assert_int_equal(found, 1);
	assert_null(kex_method_by_name("x448"));
	assert_string_equal(m->name, "x25519");
	assert_int_equal(m->family, KEX_FAMILY_CLASSICAL);
	assert_string_equal(kex_family_name(m->family), "classical");
	assert_int_equal(m->nist_category, 0);
	assert_false(m->post_quantum);
	assert_int_equal(m->msg1_max, 32);
	assert_int_equal(m->msg2_max, 32);
	assert_int_equal(m->secret_len, KEX_SECRET_LEN);
	assert_non_null(m->kem);
	assert_int_equal(m->kem->pk_len, 32);
	assert_int_equal(m->kem->sk_len, 32);
	assert_int_equal(m->kem->ct_len, 32);
	assert_int_equal(m->kem->ss_len, 32);
}

static void test_kem_view(void **state)
{
	const struct kex_kem *k = m->kem;
	uint8_t pk[MSG_MAX] = { 0 }, sk[MSG_MAX] = { 0 }, ct[MSG_MAX] = { 0 };
	uint8_t ss[X25519_KEY_LEN], ss2[X25519_KEY_LEN];

	(void)state;
	assert_int_equal(k->keypair(pk, sk), 0);
	assert_int_equal(k->encap(ct, ss, pk, k->pk_len), 0);
	assert_int_equal(k->decap(ss2, ct, k->ct_len, sk, k->sk_len), 0);
	assert_memory_equal(ss, ss2, X25519_KEY_LEN);
	assert_false(all_zero(ss, sizeof(ss)));

	/* A different ct (another point) gives a different secret or a rejection. */
	ct[0] ^= 0x04;
	if (k->decap(ss2, ct, k->ct_len, sk, k->sk_len) == 0)
		assert_memory_not_equal(ss, ss2, X25519_KEY_LEN);
	ct[0] ^= 0x04;

	memset(ss2, 0xff, sizeof(ss2));
	assert_int_equal(k->encap(ct, ss2, pk, k->pk_len - 1), -EBADMSG);
	assert_true(all_zero(ss2, sizeof(ss2)));
	assert_int_equal(k->encap(ct, ss2, pk, k->pk_len + 1), -EBADMSG);
	memset(ss2, 0xff, sizeof(ss2));
	assert_int_equal(k->decap(ss2, ct, k->ct_len + 1, sk, k->sk_len), -EBADMSG);
	assert_true(all_zero(ss2, sizeof(ss2)));
	assert_int_equal(k->decap(ss2, ct, k->ct_len - 1, sk, k->sk_len), -EBADMSG);
	assert_int_equal(k->decap(ss2, ct, k->ct_len, sk, k->sk_len - 1), -EBADMSG);

	for (size_t i = 0; i < sizeof(low_order) / sizeof(low_order[0]); i++) {
		memset(ss2, 0xff, sizeof(ss2));
		assert_int_equal(k->encap(ct, ss2, low_order[i], k->pk_len), -EKEYREJECTED);
		assert_true(all_zero(ss2, sizeof(ss2)));
		assert_int_equal(k->decap(ss2, low_order[i], k->ct_len, sk, k->sk_len),
				 -EKEYREJECTED);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry_metadata),
		cmocka_unit_test(test_exchange),
		cmocka_unit_test(test_msg2_bitflip),
		cmocka_unit_test(test_msg2_length),
		cmocka_unit_test(test_msg2_low_order),
		cmocka_unit_test(test_msg1),
		cmocka_unit_test(test_call_order),
		cmocka_unit_test(test_secret_once),
		cmocka_unit_test(test_done),
		cmocka_unit_test(test_kem_view),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
