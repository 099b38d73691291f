/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The qkd014 method alone: msg1 layout, the key ID and IDs bound into the
 * secret, the responder's checks (syntax, length, unknown and used keys),
 * the call order, and keys of the wrong size from the caller.
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

#include "base/buf.h"
#include "base/secret.h"
#include "kex/kex.h"

struct kme {
	size_t key_len;		/* what take/lookup hand out */
	uint8_t fill;
	int lookup_rc;
	struct kex_qkd_ref seen;
	unsigned lookups;
};

static int take(void *arg, struct kex_qkd_ref *ref, struct secret **ret)
{
	struct kme *k = arg;

	memset(ref, 0, sizeof(*ref));
	snprintf(ref->kme_id, sizeof(ref->kme_id), "kme-office");
	snprintf(ref->master_sae, sizeof(ref->master_sae), "sae-office");
	memset(ref->key_id, 0x42, sizeof(ref->key_id));
	*ret = secret_alloc(k->key_len);
	if (!*ret)
		return -ENOMEM;
	memset((*ret)->p, k->fill, k->key_len);
	return 0;
}

static int lookup(void *arg, const struct kex_qkd_ref *ref, struct secret **ret)
{
	struct kme *k = arg;

	k->seen = *ref;
	k->lookups++;
	if (k->lookup_rc)
		return k->lookup_rc;
	*ret = secret_alloc(k->key_len);
	if (!*ret)
		return -ENOMEM;
	memset((*ret)->p, k->fill, k->key_len);
	return 0;
}

static const struct kex_method *m;

/* One exchange; returns the responder's msg2 result; ss_i/ss_r filled on success. */
static int run(struct kme *ki, struct kme *kr, uint8_t *msg1, size_t *m1_len,
	       uint8_t ss_i[32], uint8_t ss_r[32])
{
	struct kex_env ei = { .qkd_take = take, .qkd_arg = ki };
	struct kex_env er = { .qkd_lookup = lookup, .qkd_arg = kr };
	void *ci = calloc(1, m->ctx_size), *cr = calloc(1, m->ctx_size);
	uint8_t m2[8];
	struct wbuf w1 = wbuf_init(msg1, m->msg1_max), w2 = wbuf_init(m2, sizeof(m2));
	int r;

	assert_non_null(ci);
	assert_non_null(cr);
	r = m->init(ci, &ei, KEX_INITIATOR);
	if (r < 0)
		goto out;
	assert_int_equal(m->init(cr, &er, KEX_RESPONDER), 0);
	assert_int_equal(m->msg1(ci, &w1), 0);
	*m1_len = w1.len;
	r = m->msg2(cr, rd_init(msg1, w1.len), &w2);
	if (r < 0)
		goto out;
	assert_int_equal(w2.len, 0);
	assert_int_equal(m->finish(ci, rd_init(m2, 0)), 0);
	assert_int_equal(m->secret(ci, ss_i), 0);
	assert_int_equal(m->secret(cr, ss_r), 0);
	{
		uint8_t again[32];

		assert_int_equal(m->secret(cr, again), -EPROTO);	/* once */
	}
out:
	m->done(ci);
	m->done(cr);
	free(ci);
	free(cr);
	return r;
}

static void test_roundtrip(void **state)
{
	struct kme ki = { .key_len = 32, .fill = 7 }, kr = ki;
	uint8_t msg1[256], ss_i[32], ss_r[32], ss2[32];
	size_t len;

	(void)state;
	assert_int_equal(run(&ki, &kr, msg1, &len, ss_i, ss_r), 0);
	assert_memory_equal(ss_i, ss_r, 32);
	/* u8 1 ‖ vec8 "kme-office" ‖ vec8 "sae-office" ‖ 16-byte ID ‖ u16 256 */
	assert_int_equal(len, 1 + 11 + 11 + 16 + 2);
	assert_int_equal(msg1[0], 1);
	assert_memory_equal(msg1 + 2, "kme-office", 10);
	assert_int_equal(msg1[len - 2], 1);
	assert_int_equal(msg1[len - 1], 0);
	assert_string_equal(kr.seen.kme_id, "kme-office");
	assert_string_equal(kr.seen.master_sae, "sae-office");
	assert_int_equal(kr.seen.key_id[0], 0x42);
	/* The secret is not the key, and depends on it. */
	{
		uint8_t sevens[32];

		memset(sevens, 7, sizeof(sevens));
		assert_memory_not_equal(ss_i, sevens, 32);
	}
	ki.fill = kr.fill = 8;
	assert_int_equal(run(&ki, &kr, msg1, &len, ss2, ss_r), 0);
	assert_memory_not_equal(ss_i, ss2, 32);
	/* A 8192-bit key. */
	ki.key_len = kr.key_len = KEX_QKD_KEY_MAX;
	assert_int_equal(run(&ki, &kr, msg1, &len, ss_i, ss_r), 0);
	assert_memory_equal(ss_i, ss_r, 32);
}

static void test_refusals(void **state)
{
	struct kme ki = { .key_len = 32, .fill = 7 }, kr = ki;
	uint8_t msg1[256], ss_i[32], ss_r[32];
	size_t len = 0;

	(void)state;
	kr.lookup_rc = -ENOKEY;
	assert_int_equal(run(&ki, &kr, msg1, &len, ss_i, ss_r), -ENOKEY);
	kr.lookup_rc = -EALREADY;
	assert_int_equal(run(&ki, &kr, msg1, &len, ss_i, ss_r), -EALREADY);
	kr.lookup_rc = 0;
	/* The slave's key has another length than msg1 says. */
	kr.key_len = 64;
	assert_int_equal(run(&ki, &kr, msg1, &len, ss_i, ss_r), -EKEYREJECTED);
	/* Too short a key from the caller: not a 256-bit factor. */
	ki.key_len = 16;
	assert_int_equal(run(&ki, &kr, msg1, &len, ss_i, ss_r), -EINVAL);
	ki.key_len = KEX_QKD_KEY_MAX + 1;
	assert_int_equal(run(&ki, &kr, msg1, &len, ss_i, ss_r), -EINVAL);
}

static int msg2_of(const uint8_t *msg1, size_t len)
{
	struct kme kr = { .key_len = 32 };
	struct kex_env er = { .qkd_lookup = lookup, .qkd_arg = &kr };
	void *cr = calloc(1, m->ctx_size);
	uint8_t out[8];
	struct wbuf w = wbuf_init(out, sizeof(out));
	int r;

	assert_non_null(cr);
	assert_int_equal(m->init(cr, &er, KEX_RESPONDER), 0);
	r = m->msg2(cr, rd_init(msg1, len), &w);
	if (r < 0)
		assert_int_equal(kr.lookups, 0);	/* malformed: the KME is never asked */
	m->done(cr);
	free(cr);
	return r;
}

static void test_malformed(void **state)
{
	uint8_t good[] = { 1, 1, 'k', 1, 's', 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
			   1, 0 };
	uint8_t b[sizeof(good) + 1];

	(void)state;
	assert_int_equal(msg2_of(good, sizeof(good)), 0);
	for (size_t n = 0; n < sizeof(good); n++)
		assert_int_equal(msg2_of(good, n), -EBADMSG);
	memcpy(b, good, sizeof(good));
	b[sizeof(good)] = 0;
	assert_int_equal(msg2_of(b, sizeof(b)), -EBADMSG);	/* trailing byte */
	memcpy(b, good, sizeof(good));
	b[0] = 2;						/* version */
	assert_int_equal(msg2_of(b, sizeof(good)), -EBADMSG);
	memcpy(b, good, sizeof(good));
	b[2] = 0x7f;						/* not printable */
	assert_int_equal(msg2_of(b, sizeof(good)), -EBADMSG);
	memcpy(b, good, sizeof(good));
	b[1] = 0;						/* empty KME ID */
	assert_true(msg2_of(b, sizeof(good)) == -EBADMSG);
	memcpy(b, good, sizeof(good));
	b[sizeof(good) - 1] = 4;				/* 260 bits */
	assert_int_equal(msg2_of(b, sizeof(good)), -EBADMSG);
	memcpy(b, good, sizeof(good));
	b[sizeof(good) - 2] = 0;				/* 0 bits */
	b[sizeof(good) - 1] = 128;				/* 128 bits: too short */
	assert_int_equal(msg2_of(b, sizeof(good)), -EBADMSG);
}

static void test_call_order(void **state)
{
	struct kme k = { .key_len = 32 };
	struct kex_env e = { .qkd_take = take, .qkd_lookup = lookup, .qkd_arg = &k };
	struct kex_env none = { 0 };
	void *c = calloc(1, m->ctx_size);
	uint8_t out[256], ss[32];

	(void)state;
	assert_non_null(c);
	assert_int_equal(m->init(c, &none, KEX_INITIATOR), -EINVAL);
	assert_int_equal(m->init(c, &none, KEX_RESPONDER), -EINVAL);
	assert_int_equal(m->init(c, &e, KEX_INITIATOR), 0);
	assert_int_equal(m->finish(c, rd_init(out, 0)), -EPROTO);
	assert_int_equal(m->secret(c, ss), -EPROTO);
	m->done(c);
	m->done(c);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_call_order),
	};

	m = kex_method_by_id(KEX_ID_QKD014);
	if (!m)
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
