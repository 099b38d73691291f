/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ML-KEM-768 / ML-KEM-1024 key-exchange methods through the kex vtable:
 * full exchanges, tampering, lengths, call order, secret-once, done(),
 * registry lookups and the raw KEM view. Every test runs for both methods.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "crypto/mlkem.h"
#include "kex/kex.h"
#include "kex/methods.h"

#define MSG_MAX (MLKEM_PK_MAX + 64)

/* One side of an exchange: a caller-allocated ctx, as the engine does it. */
static void *ctx_new(const struct kex_method *m)
{
	void *ctx = malloc(m->ctx_size);

	assert_non_null(ctx);
	memset(ctx, 0xa5, m->ctx_size);	/* init() must not rely on zeroed memory */
	return ctx;
}

static void ctx_free(const struct kex_method *m, void *ctx)
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

/*
 * Run initiator and responder back to back. tamper(msg, &len) may change
 * msg2 in flight. Returns finish()'s result; on success ss_i / ss_r hold
 * both secrets.
 */
static int exchange(const struct kex_method *m, void (*tamper)(uint8_t *, size_t *),
		    uint8_t ss_i[KEX_SECRET_LEN], uint8_t ss_r[KEX_SECRET_LEN])
{
	void *ini = ctx_new(m), *res = ctx_new(m);
	uint8_t m1[MSG_MAX], m2[MSG_MAX];
	struct wbuf w1 = wbuf_init(m1, m->msg1_max), w2 = wbuf_init(m2, m->msg2_max);
	size_t len2;
	int r;

	assert_int_equal(m->init(ini, NULL, KEX_INITIATOR), 0);
	assert_int_equal(m->init(res, NULL, KEX_RESPONDER), 0);
	assert_int_equal(m->msg1(ini, &w1), 0);
	assert_int_equal(w1.len, m->msg1_max);
	assert_int_equal(m->msg2(res, wbuf_rd(&w1), &w2), 0);
	assert_int_equal(w2.len, m->msg2_max);
	assert_int_equal(m->secret(res, ss_r), 0);
	len2 = w2.len;
	if (tamper)
		tamper(m2, &len2);
	r = m->finish(ini, rd_init(m2, len2));
	if (r == 0)
		assert_int_equal(m->secret(ini, ss_i), 0);
	ctx_free(m, ini);
	ctx_free(m, res);
	return r;
}

static void test_exchange(void **state)
{
	const struct kex_method *m = *state;
	uint8_t a[KEX_SECRET_LEN], b[KEX_SECRET_LEN], c[KEX_SECRET_LEN], d[KEX_SECRET_LEN];

	assert_int_equal(exchange(m, NULL, a, b), 0);
	assert_memory_equal(a, b, KEX_SECRET_LEN);
	assert_false(all_zero(a, sizeof(a)));
	/* A second exchange uses fresh ephemeral keys: a different secret. */
	assert_int_equal(exchange(m, NULL, c, d), 0);
	assert_memory_equal(c, d, KEX_SECRET_LEN);
	assert_memory_not_equal(a, c, KEX_SECRET_LEN);
}

static void flip_first(uint8_t *msg, size_t *len)
{
	(void)len;
	msg[0] ^= 0x01;
}

static void flip_last(uint8_t *msg, size_t *len)
{
	msg[*len - 1] ^= 0x80;
}

/* Implicit rejection: finish() succeeds, but with an unrelated secret. */
static void test_msg2_bitflip(void **state)
{
	const struct kex_method *m = *state;
	uint8_t a[KEX_SECRET_LEN], b[KEX_SECRET_LEN];

	assert_int_equal(exchange(m, flip_first, a, b), 0);
	assert_memory_not_equal(a, b, KEX_SECRET_LEN);
	assert_int_equal(exchange(m, flip_last, a, b), 0);
	assert_memory_not_equal(a, b, KEX_SECRET_LEN);
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

static void truncate_all(uint8_t *msg, size_t *len)
{
	(void)msg;
	*len = 0;
}

static void test_msg2_length(void **state)
{
	const struct kex_method *m = *state;
	uint8_t a[KEX_SECRET_LEN], b[KEX_SECRET_LEN];

	assert_int_equal(exchange(m, truncate1, a, b), -EBADMSG);
	assert_int_equal(exchange(m, extend1, a, b), -EBADMSG);
	assert_int_equal(exchange(m, truncate_all, a, b), -EBADMSG);
}

/* The responder with msg1 of length len (msg1 bytes from a real initiator). */
static int responder_with_msg1_len(const struct kex_method *m, size_t len)
{
	void *ini = ctx_new(m), *res = ctx_new(m);
	uint8_t m1[MSG_MAX] = { 0 }, m2[MSG_MAX], ss[KEX_SECRET_LEN];
	struct wbuf w1 = wbuf_init(m1, m->msg1_max), w2 = wbuf_init(m2, sizeof(m2));
	int r;

	assert_int_equal(m->init(ini, NULL, KEX_INITIATOR), 0);
	assert_int_equal(m->init(res, NULL, KEX_RESPONDER), 0);
	assert_int_equal(m->msg1(ini, &w1), 0);
	r = m->msg2(res, rd_init(m1, len), &w2);
	if (r < 0) {
		/* A failed exchange is dead: no secret, ever. */
		assert_int_equal(m->secret(res, ss), -EPROTO);
	}
	ctx_free(m, ini);
	ctx_free(m, res);
	return r;
}

static void test_msg1_length(void **state)
{
	const struct kex_method *m = *state;

	assert_int_equal(responder_with_msg1_len(m, m->msg1_max), 0);
	assert_int_equal(responder_with_msg1_len(m, m->msg1_max - 1), -EBADMSG);
	assert_int_equal(responder_with_msg1_len(m, m->msg1_max + 1), -EBADMSG);
	assert_int_equal(responder_with_msg1_len(m, 0), -EBADMSG);
}

/* An ek whose first coefficient is 0xfff >= q fails the FIPS 203 modulus check. */
static void test_msg1_unreduced(void **state)
{
	const struct kex_method *m = *state;
	void *res = ctx_new(m);
	uint8_t m1[MSG_MAX] = { 0 }, m2[MSG_MAX];
	struct wbuf w2 = wbuf_init(m2, sizeof(m2));

	m1[0] = 0xff;
	m1[1] = 0x0f;
	assert_int_equal(m->init(res, NULL, KEX_RESPONDER), 0);
	assert_int_equal(m->msg2(res, rd_init(m1, m->msg1_max), &w2), -EKEYREJECTED);
	ctx_free(m, res);
}

static void test_output_too_small(void **state)
{
	const struct kex_method *m = *state;
	void *ini = ctx_new(m);
	uint8_t m1[MSG_MAX];
	struct wbuf w1 = wbuf_init(m1, m->msg1_max - 1);

	assert_int_equal(m->init(ini, NULL, KEX_INITIATOR), 0);
	assert_int_equal(m->msg1(ini, &w1), -EMSGSIZE);
	ctx_free(m, ini);
}

static void test_call_order(void **state)
{
	const struct kex_method *m = *state;
	void *ctx = ctx_new(m);
	uint8_t m1[MSG_MAX], m2[MSG_MAX], ss[KEX_SECRET_LEN];
	struct wbuf w1 = wbuf_init(m1, sizeof(m1)), w2 = wbuf_init(m2, sizeof(m2));

	/* Nothing works before init() (zeroed ctx). */
	memset(ctx, 0, m->ctx_size);
	assert_int_equal(m->msg1(ctx, &w1), -EPROTO);
	m->done(ctx);

	/* Responder may not send msg1 nor finish. */
	assert_int_equal(m->init(ctx, NULL, KEX_RESPONDER), 0);
	assert_int_equal(m->msg1(ctx, &w1), -EPROTO);
	m->done(ctx);
	assert_int_equal(m->init(ctx, NULL, KEX_RESPONDER), 0);
	assert_int_equal(m->finish(ctx, rd_init(m2, m->msg2_max)), -EPROTO);
	m->done(ctx);

	/* Initiator may not answer msg2, nor finish before msg1. */
	w1 = wbuf_init(m1, sizeof(m1));
	assert_int_equal(m->init(ctx, NULL, KEX_INITIATOR), 0);
	assert_int_equal(m->msg1(ctx, &w1), 0);
	assert_int_equal(m->msg2(ctx, wbuf_rd(&w1), &w2), -EPROTO);
	m->done(ctx);
	assert_int_equal(m->init(ctx, NULL, KEX_INITIATOR), 0);
	assert_int_equal(m->finish(ctx, rd_init(m2, m->msg2_max)), -EPROTO);
	m->done(ctx);

	/* msg1 twice; secret before the exchange is complete. */
	w1 = wbuf_init(m1, sizeof(m1));
	assert_int_equal(m->init(ctx, NULL, KEX_INITIATOR), 0);
	memset(ss, 0xaa, sizeof(ss));
	assert_int_equal(m->secret(ctx, ss), -EPROTO);
	assert_true(mfs_ct_is_zero(ss, sizeof(ss)));	/* zeroed on failure */
	m->done(ctx);
	assert_int_equal(m->init(ctx, NULL, KEX_INITIATOR), 0);
	assert_int_equal(m->msg1(ctx, &w1), 0);
	assert_int_equal(m->secret(ctx, ss), -EPROTO);
	m->done(ctx);
	w1 = wbuf_init(m1, sizeof(m1));
	assert_int_equal(m->init(ctx, NULL, KEX_INITIATOR), 0);
	assert_int_equal(m->msg1(ctx, &w1), 0);
	assert_int_equal(m->msg1(ctx, &w1), -EPROTO);
	/* ...and a failure is final: the right call no longer works either. */
	assert_int_equal(m->finish(ctx, rd_init(m2, m->msg2_max)), -EPROTO);

	/* A bad role is refused. */
	m->done(ctx);
	assert_int_equal(m->init(ctx, NULL, (enum kex_role)7), -EINVAL);
	assert_int_equal(m->msg1(ctx, &w1), -EPROTO);
	ctx_free(m, ctx);
}

static void test_secret_once(void **state)
{
	const struct kex_method *m = *state;
	void *ini = ctx_new(m), *res = ctx_new(m);
	uint8_t m1[MSG_MAX], m2[MSG_MAX], a[KEX_SECRET_LEN], b[KEX_SECRET_LEN];
	uint8_t keep[KEX_SECRET_LEN];
	struct wbuf w1 = wbuf_init(m1, sizeof(m1)), w2 = wbuf_init(m2, sizeof(m2));

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
	/* the secret taken first is still the caller's, and not all zero */
	assert_false(mfs_ct_is_zero(keep, sizeof(keep)));
	ctx_free(m, ini);
	ctx_free(m, res);
}

static void test_done(void **state)
{
	const struct kex_method *m = *state;
	void *ctx = calloc(1, m->ctx_size);
	uint8_t m1[MSG_MAX];
	struct wbuf w1 = wbuf_init(m1, sizeof(m1));

	assert_non_null(ctx);
	m->done(NULL);
	m->done(ctx);	/* zeroed, never initialized */
	assert_true(all_zero(ctx, m->ctx_size));
	/* Holding a key pair: done() releases it and wipes the whole ctx. */
	assert_int_equal(m->init(ctx, NULL, KEX_INITIATOR), 0);
	assert_int_equal(m->msg1(ctx, &w1), 0);
	m->done(ctx);
	assert_true(all_zero(ctx, m->ctx_size));
	m->done(ctx);	/* idempotent */
	free(ctx);
}

static void test_registry(void **state)
{
	const struct kex_method *m = *state;
	const struct kex_method *const *all;
	size_t n, found = 0;

	assert_true(m->available());
	assert_ptr_equal(kex_method_by_name(m->name), m);
	assert_ptr_equal(kex_method_by_id(m->id), m);
	n = kex_methods(&all);
	for (size_t i = 0; i < n; i++)
		found += all[i] == m;
	assert_int_equal(found, 1);
	assert_null(kex_method_by_name("mlkem512"));
	assert_null(kex_method_by_id(0xffff));
	assert_string_equal(kex_family_name(m->family), "lattice");
}

static void test_metadata(void **state)
{
	const struct kex_method *m = *state;
	bool is768 = m == &kex_mlkem768;

	assert_true(m == &kex_mlkem768 || m == &kex_mlkem1024);
	assert_string_equal(m->name, is768 ? "mlkem768" : "mlkem1024");
	assert_int_equal(m->id, is768 ? KEX_ID_MLKEM768 : KEX_ID_MLKEM1024);
	assert_int_equal(m->family, KEX_FAMILY_LATTICE);
	assert_int_equal(m->nist_category, is768 ? 3 : 5);
	assert_true(m->post_quantum);
	assert_int_equal(m->secret_len, KEX_SECRET_LEN);
	assert_int_equal(m->msg1_max, is768 ? 1184 : 1568);
	assert_int_equal(m->msg2_max, is768 ? 1088 : 1568);
	assert_non_null(m->kem);
	assert_int_equal(m->kem->pk_len, m->msg1_max);
	assert_int_equal(m->kem->ct_len, m->msg2_max);
	assert_int_equal(m->kem->sk_len, 64);
	assert_int_equal(m->kem->sk_len_alt, is768 ? 2400 : 3168);
	assert_int_equal(m->kem->ss_len, KEX_SECRET_LEN);
}

static void test_kem_view(void **state)
{
	const struct kex_method *m = *state;
	const struct kex_kem *k = m->kem;
	enum mlkem_alg alg = m == &kex_mlkem768 ? MLKEM_768 : MLKEM_1024;
	uint8_t pk[MLKEM_PK_MAX + 1] = { 0 }, sk[MLKEM_SEED_LEN], dk[MLKEM_DK_MAX + 1] = { 0 };
	uint8_t ct[MLKEM_CT_MAX + 1] = { 0 }, ss[MLKEM_SS_LEN], ss2[MLKEM_SS_LEN];
	uint8_t ss3[MLKEM_SS_LEN];

	assert_int_equal(k->keypair(pk, sk), 0);
	assert_int_equal(k->encap(ct, ss, pk, k->pk_len), 0);
	/* Seed form and expanded form decapsulate alike. */
	assert_int_equal(k->decap(ss2, ct, k->ct_len, sk, k->sk_len), 0);
	assert_memory_equal(ss, ss2, MLKEM_SS_LEN);
	assert_int_equal(mlkem_expand(alg, sk, dk), 0);
	memset(ss2, 0, sizeof(ss2));
	assert_int_equal(k->decap(ss2, ct, k->ct_len, dk, k->sk_len_alt), 0);
	assert_memory_equal(ss, ss2, MLKEM_SS_LEN);

	/* Implicit rejection through the view as well, deterministic per ct. */
	ct[5] ^= 0x10;
	assert_int_equal(k->decap(ss2, ct, k->ct_len, sk, k->sk_len), 0);
	assert_memory_not_equal(ss, ss2, MLKEM_SS_LEN);
	assert_int_equal(k->decap(ss3, ct, k->ct_len, dk, k->sk_len_alt), 0);
	assert_memory_equal(ss2, ss3, MLKEM_SS_LEN);
	ct[5] ^= 0x10;

	/* Wrong lengths: -EBADMSG, and the secret output is zeroed. */
	memset(ss2, 0xff, sizeof(ss2));
	assert_int_equal(k->encap(ct, ss2, pk, k->pk_len - 1), -EBADMSG);
	assert_true(all_zero(ss2, sizeof(ss2)));
	assert_int_equal(k->encap(ct, ss2, pk, k->pk_len + 1), -EBADMSG);
	memset(ss2, 0xff, sizeof(ss2));
	assert_int_equal(k->decap(ss2, ct, k->ct_len - 1, sk, k->sk_len), -EBADMSG);
	assert_true(all_zero(ss2, sizeof(ss2)));
	assert_int_equal(k->decap(ss2, ct, k->ct_len + 1, sk, k->sk_len), -EBADMSG);
	assert_int_equal(k->decap(ss2, ct, k->ct_len, sk, k->sk_len - 1), -EBADMSG);
	assert_int_equal(k->decap(ss2, ct, k->ct_len, dk, k->sk_len_alt + 1), -EBADMSG);

	/* An expanded dk with a corrupted H(ek) (bytes 32..64 from the end). */
	dk[k->sk_len_alt - 40] ^= 0x01;
	memset(ss2, 0xff, sizeof(ss2));
	assert_int_equal(k->decap(ss2, ct, k->ct_len, dk, k->sk_len_alt), -EKEYREJECTED);
	assert_true(all_zero(ss2, sizeof(ss2)));

	/* An unreduced ek. */
	pk[0] = 0xff;
	pk[1] |= 0x0f;
	assert_int_equal(k->encap(ct, ss2, pk, k->pk_len), -EKEYREJECTED);
	assert_true(all_zero(ss2, sizeof(ss2)));
}

int main(void)
{
	const struct kex_method *m768 = &kex_mlkem768, *m1024 = &kex_mlkem1024;
#define BOTH(f) \
	cmocka_unit_test_prestate(f, (void *)m768), cmocka_unit_test_prestate(f, (void *)m1024)
	const struct CMUnitTest tests[] = {
		BOTH(test_metadata),
		BOTH(test_registry),
		BOTH(test_exchange),
		BOTH(test_msg2_bitflip),
		BOTH(test_msg2_length),
		BOTH(test_msg1_length),
		BOTH(test_msg1_unreduced),
		BOTH(test_output_too_small),
		BOTH(test_call_order),
		BOTH(test_secret_once),
		BOTH(test_done),
		BOTH(test_kem_view),
	};
#undef BOTH
	return cmocka_run_group_tests(tests, NULL, NULL);
}
