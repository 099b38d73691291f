/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MFS key combiner: determinism, every-bit sensitivity, unambiguous
 * encodings, input validation, and equality with ETSI TS 103 744 CatKDF /
 * CasKDF on the documented encoding.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/secret.h"
#include "crypto/combiner.h"
#include "crypto/etsi_kdf.h"

#define NM 3		/* methods in the fixture */
#define SS_LEN 32
#define OUT_LEN 32
#define MAX_FIELDS 64

/* A complete, valid input whose every byte lives in this struct. */
struct fx {
	struct secret *ss[NM];
	uint8_t msg1_0[48], msg2_0[40];	/* ML-KEM-like ek / ct stand-ins */
	uint8_t msg1_1[32], msg2_1[24];	/* McEliece pk hash / ct stand-ins */
	uint8_t msg1_2[16], msg2_2[4];	/* QKD key ID / ack */
	uint16_t ids[NM];
	uint16_t version;
	uint8_t label[sizeof(COMBINER_LABEL_DEFAULT) - 1];
	uint8_t purpose[9];
	uint8_t id_init[12], id_resp[11];
	uint8_t nonce_init[32], nonce_resp[32];
	uint16_t suite[NM];
	uint8_t extra0[8], extra1[5];
	struct cbuf extra[2];
	struct combiner_method m[NM];
	struct combiner_input in;
};

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + 37 * i + (i >> 3));
}

static void fx_link(struct fx *f)
{
	const struct cbuf m1[NM] = { CBUF(f->msg1_0, sizeof(f->msg1_0)),
				     CBUF(f->msg1_1, sizeof(f->msg1_1)),
				     CBUF(f->msg1_2, sizeof(f->msg1_2)) };
	const struct cbuf m2[NM] = { CBUF(f->msg2_0, sizeof(f->msg2_0)),
				     CBUF(f->msg2_1, sizeof(f->msg2_1)),
				     CBUF(f->msg2_2, sizeof(f->msg2_2)) };

	for (size_t i = 0; i < NM; i++) {
		f->m[i].id = f->ids[i];
		f->m[i].secret = f->ss[i];
		f->m[i].expected_len = SS_LEN;
		f->m[i].msg1 = m1[i];
		f->m[i].msg2 = m2[i];
	}
	f->extra[0] = CBUF(f->extra0, sizeof(f->extra0));
	f->extra[1] = CBUF(f->extra1, sizeof(f->extra1));
	f->in.version = f->version;
	f->in.label = CBUF(f->label, sizeof(f->label));
	f->in.purpose = CBUF(f->purpose, sizeof(f->purpose));
	f->in.id_init = CBUF(f->id_init, sizeof(f->id_init));
	f->in.id_resp = CBUF(f->id_resp, sizeof(f->id_resp));
	f->in.nonce_init = CBUF(f->nonce_init, sizeof(f->nonce_init));
	f->in.nonce_resp = CBUF(f->nonce_resp, sizeof(f->nonce_resp));
	f->in.suite = f->suite;
	f->in.n_suite = NM;
	f->in.methods = f->m;
	f->in.n_methods = NM;
	f->in.extra = f->extra;
	f->in.n_extra = 2;
}

static struct fx *fx_new(enum combiner_mode mode)
{
	struct fx *f = calloc(1, sizeof(*f));
	static const uint16_t ids[NM] = { 0x0101, 0x0202, 0x0301 };

	assert_non_null(f);
	for (size_t i = 0; i < NM; i++) {
		assert_non_null(f->ss[i] = secret_alloc(SS_LEN));
		fill(f->ss[i]->p, SS_LEN, (uint8_t)(0x10 * (i + 1)));
		f->ids[i] = ids[i];
		f->suite[i] = ids[i];
	}
	fill(f->msg1_0, sizeof(f->msg1_0), 1);
	fill(f->msg2_0, sizeof(f->msg2_0), 2);
	fill(f->msg1_1, sizeof(f->msg1_1), 3);
	fill(f->msg2_1, sizeof(f->msg2_1), 4);
	fill(f->msg1_2, sizeof(f->msg1_2), 5);
	fill(f->msg2_2, sizeof(f->msg2_2), 6);
	fill(f->nonce_init, sizeof(f->nonce_init), 7);
	fill(f->nonce_resp, sizeof(f->nonce_resp), 8);
	fill(f->extra0, sizeof(f->extra0), 9);
	fill(f->extra1, sizeof(f->extra1), 10);
	memcpy(f->label, COMBINER_LABEL_DEFAULT, sizeof(f->label));
	memcpy(f->purpose, "esp-keys1", sizeof(f->purpose));
	memcpy(f->id_init, "mfsd-tokyo-1", sizeof(f->id_init));
	memcpy(f->id_resp, "mfsd-osaka2", sizeof(f->id_resp));
	f->version = 1;
	combiner_input_init(&f->in);
	f->in.mode = mode;
	f->m[2].its = true;	/* the QKD key */
	fx_link(f);
	return f;
}

static void fx_free(struct fx *f)
{
	for (size_t i = 0; i < NM; i++)
		secret_free(f->ss[i]);
	free(f);
}

static void derive_ok(const struct combiner_input *in, uint8_t *out, size_t len)
{
	int r = combiner_derive(in, out, len);

	if (r != 0)
		fail_msg("combiner_derive: %d", r);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static const enum combiner_mode modes[3] = { COMBINER_CATKDF, COMBINER_CASKDF, COMBINER_XOR_ITS };

/* (a) same input, same key; different buffers, same key. */
static void test_deterministic(void **state)
{
	(void)state;
	for (size_t k = 0; k < 3; k++) {
		struct fx *f = fx_new(modes[k]), *g = fx_new(modes[k]);
		uint8_t a[OUT_LEN], b[OUT_LEN], c[OUT_LEN];

		derive_ok(&f->in, a, sizeof(a));
		derive_ok(&f->in, b, sizeof(b));
		derive_ok(&g->in, c, sizeof(c));
		assert_memory_equal(a, b, sizeof(a));
		assert_memory_equal(a, c, sizeof(a));
		assert_false(all_zero(a, sizeof(a)));
		fx_free(f);
		fx_free(g);
	}
}

struct field {
	const char *name;
	uint8_t *p;
	size_t len;
};

static size_t fx_fields(struct fx *f, struct field *t)
{
	size_t n = 0;

#define F(nm, ptr, l) (t[n++] = (struct field){ nm, (uint8_t *)(ptr), (l) })
	for (size_t i = 0; i < NM; i++)
		F("secret", f->ss[i]->p, f->ss[i]->len);
	F("msg1[0]", f->msg1_0, sizeof(f->msg1_0));
	F("msg2[0]", f->msg2_0, sizeof(f->msg2_0));
	F("msg1[1]", f->msg1_1, sizeof(f->msg1_1));
	F("msg2[1]", f->msg2_1, sizeof(f->msg2_1));
	F("msg1[2]", f->msg1_2, sizeof(f->msg1_2));
	F("msg2[2]", f->msg2_2, sizeof(f->msg2_2));
	for (size_t i = 0; i < NM; i++)
		F("method id", &f->m[i].id, sizeof(f->m[i].id));
	F("version", &f->in.version, sizeof(f->in.version));
	F("label", f->label, sizeof(f->label));
	F("purpose", f->purpose, sizeof(f->purpose));
	F("id_init", f->id_init, sizeof(f->id_init));
	F("id_resp", f->id_resp, sizeof(f->id_resp));
	F("nonce_init", f->nonce_init, sizeof(f->nonce_init));
	F("nonce_resp", f->nonce_resp, sizeof(f->nonce_resp));
	for (size_t i = 0; i < NM; i++)
		F("suite entry", &f->suite[i], sizeof(f->suite[i]));
	F("extra[0]", f->extra0, sizeof(f->extra0));
	F("extra[1]", f->extra1, sizeof(f->extra1));
#undef F
	assert_true(n <= MAX_FIELDS);
	return n;
}

static int cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, OUT_LEN);
}

/*
 * (b) Flip every bit of every input field, one at a time: each flip must
 * change the key, and all keys (base + flips + other changes) must be
 * pairwise distinct.
 */
static void test_every_bit_flip(void **state)
{
	(void)state;
	for (size_t k = 0; k < 3; k++) {
		struct fx *f = fx_new(modes[k]);
		struct field t[MAX_FIELDS];
		size_t nf = fx_fields(f, t), total = 0, nk = 0;
		uint8_t base[OUT_LEN], *keys;

		for (size_t i = 0; i < nf; i++)
			total += 8 * t[i].len;
		total += 1 + NM + 8;	/* base, its toggles, mode and length changes */
		assert_non_null(keys = calloc(total, OUT_LEN));
		derive_ok(&f->in, base, OUT_LEN);
		memcpy(keys + OUT_LEN * nk++, base, OUT_LEN);

		for (size_t i = 0; i < nf; i++) {
			for (size_t byte = 0; byte < t[i].len; byte++) {
				for (unsigned bit = 0; bit < 8; bit++) {
					uint8_t *key = keys + OUT_LEN * nk++;

					t[i].p[byte] ^= (uint8_t)(1U << bit);
					derive_ok(&f->in, key, OUT_LEN);
					t[i].p[byte] ^= (uint8_t)(1U << bit);
					if (memcmp(key, base, OUT_LEN) == 0)
						fail_msg("mode %d: flip of %s byte %zu bit %u kept the key",
							 modes[k], t[i].name, byte, bit);
				}
			}
		}
		/* The ITS flag of each method (XOR mode: method 2 is its only ITS input). */
		for (size_t i = 0; i < NM; i++) {
			uint8_t *key = keys + OUT_LEN * nk++;

			if (modes[k] == COMBINER_XOR_ITS && i == 2) {
				nk--;
				continue;
			}
			f->m[i].its = !f->m[i].its;
			derive_ok(&f->in, key, OUT_LEN);
			f->m[i].its = !f->m[i].its;
			if (memcmp(key, base, OUT_LEN) == 0)
				fail_msg("mode %d: its toggle of method %zu kept the key", modes[k], i);
		}
		/* Output length: a longer or shorter key is not an extension/prefix. */
		for (size_t l = OUT_LEN - 4; l <= OUT_LEN + 4; l++) {
			uint8_t other[OUT_LEN + 4];

			if (l == OUT_LEN || modes[k] == COMBINER_XOR_ITS)
				continue;	/* XOR mode: L is pinned to the ITS length */
			derive_ok(&f->in, other, l);
			assert_memory_not_equal(other, base, l < OUT_LEN ? l : OUT_LEN);
			if (l > OUT_LEN)
				memcpy(keys + OUT_LEN * nk++, other, OUT_LEN);
		}
		qsort(keys, nk, OUT_LEN, cmp_key);
		for (size_t i = 1; i < nk; i++)
			assert_memory_not_equal(keys + OUT_LEN * (i - 1), keys + OUT_LEN * i, OUT_LEN);
		printf("mode %d: %zu derivations, all keys distinct\n", modes[k], nk);
		free(keys);
		fx_free(f);
	}
}

/* Concatenate the three encodings (ctx, MA, MB) with separators that cannot occur. */
static bool enc_equal(const struct combiner_encoding *a, const struct combiner_encoding *b)
{
	return a->ctx_len == b->ctx_len && a->ma_len == b->ma_len && a->mb_len == b->mb_len &&
	       memcmp(a->ctx, b->ctx, a->ctx_len) == 0 && memcmp(a->ma, b->ma, a->ma_len) == 0 &&
	       memcmp(a->mb, b->mb, a->mb_len) == 0;
}

/*
 * A reference decoder for the documented layout. Parsing back every field
 * from (ctx, MA, MB) shows the encoding is injective for that input.
 */
struct decoded {
	uint16_t version, cid, out_len, n_suite, suite[COMBINER_MAX_SUITE], n;
	uint16_t id[COMBINER_MAX_METHODS], secret_len[COMBINER_MAX_METHODS];
	uint8_t its[COMBINER_MAX_METHODS];
	struct rd label, purpose, id_init, id_resp, nonce_init, nonce_resp;
	uint16_t n_extra;
	struct rd extra[COMBINER_MAX_EXTRA];
	struct rd msg[2][COMBINER_MAX_METHODS];
};

static int decode_msg(struct rd r, uint16_t cid, const uint16_t *ids, size_t n, struct rd *ret)
{
	uint16_t c;

	if (rd_u16(&r, &c) < 0 || c != cid)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		uint32_t l;
		struct rd id;
		uint16_t v;
		const uint8_t *p;

		/* BE32(2·|x|) ‖ x, twice per method: the id, then the message */
		if (rd_u32(&r, &l) < 0 || l != 4 || rd_bytes(&r, 2, &p) < 0)
			return -EBADMSG;
		id = rd_init(p, 2);
		if (rd_u16(&id, &v) < 0 || v != ids[i])
			return -EBADMSG;
		if (rd_u32(&r, &l) < 0 || (l & 1) || rd_bytes(&r, l / 2, &p) < 0)
			return -EBADMSG;
		ret[i] = rd_init(p, l / 2);
	}
	return rd_end(&r);
}

static int decode(const struct combiner_encoding *e, struct decoded *d)
{
	struct rd r = rd_init(e->ctx, e->ctx_len);

	memset(d, 0, sizeof(*d));
	if (rd_u16(&r, &d->version) < 0 || rd_u16(&r, &d->cid) < 0 || rd_u16(&r, &d->out_len) < 0 ||
	    rd_vec16(&r, 0xffff, &d->label) < 0 || rd_vec16(&r, 0xffff, &d->purpose) < 0 ||
	    rd_u16(&r, &d->n_suite) < 0 || d->n_suite > COMBINER_MAX_SUITE)
		return -EBADMSG;
	for (size_t i = 0; i < d->n_suite; i++)
		if (rd_u16(&r, &d->suite[i]) < 0)
			return -EBADMSG;
	if (rd_u16(&r, &d->n) < 0 || d->n > COMBINER_MAX_METHODS)
		return -EBADMSG;
	for (size_t i = 0; i < d->n; i++)
		if (rd_u16(&r, &d->id[i]) < 0 || rd_u8(&r, &d->its[i]) < 0 ||
		    rd_u16(&r, &d->secret_len[i]) < 0)
			return -EBADMSG;
	if (rd_vec16(&r, 0xffff, &d->id_init) < 0 || rd_vec16(&r, 0xffff, &d->id_resp) < 0 ||
	    rd_vec16(&r, 0xffff, &d->nonce_init) < 0 || rd_vec16(&r, 0xffff, &d->nonce_resp) < 0 ||
	    rd_u16(&r, &d->n_extra) < 0 || d->n_extra > COMBINER_MAX_EXTRA)
		return -EBADMSG;
	for (size_t i = 0; i < d->n_extra; i++)
		if (rd_vec16(&r, 0xffff, &d->extra[i]) < 0)
			return -EBADMSG;
	if (rd_end(&r) < 0)
		return -EBADMSG;
	if (decode_msg(rd_init(e->ma, e->ma_len), d->cid, d->id, d->n, d->msg[0]) < 0 ||
	    decode_msg(rd_init(e->mb, e->mb_len), d->cid, d->id, d->n, d->msg[1]) < 0)
		return -EBADMSG;
	return 0;
}

static bool rd_is(struct rd r, struct cbuf b)
{
	return r.n == b.len && (b.len == 0 || memcmp(r.p, b.p, b.len) == 0);
}

/* Decode and compare with the input, field by field. */
static void assert_roundtrip(const struct combiner_input *in, size_t out_len)
{
	struct combiner_encoding e;
	struct decoded d;

	assert_int_equal(combiner_encode(in, out_len, &e), 0);
	assert_int_equal(decode(&e, &d), 0);
	assert_int_equal(d.version, in->version);
	assert_int_equal(d.cid, combiner_cid(in->mode));
	assert_int_equal(d.out_len, out_len);
	assert_true(rd_is(d.label, in->label));
	assert_true(rd_is(d.purpose, in->purpose));
	assert_int_equal(d.n_suite, in->n_suite);
	for (size_t i = 0; i < in->n_suite; i++)
		assert_int_equal(d.suite[i], in->suite[i]);
	assert_int_equal(d.n, in->n_methods);
	for (size_t i = 0; i < in->n_methods; i++) {
		assert_int_equal(d.id[i], in->methods[i].id);
		assert_int_equal(d.its[i], in->methods[i].its);
		assert_int_equal(d.secret_len[i], in->methods[i].expected_len);
		assert_true(rd_is(d.msg[0][i], in->methods[i].msg1));
		assert_true(rd_is(d.msg[1][i], in->methods[i].msg2));
	}
	assert_true(rd_is(d.id_init, in->id_init));
	assert_true(rd_is(d.id_resp, in->id_resp));
	assert_true(rd_is(d.nonce_init, in->nonce_init));
	assert_true(rd_is(d.nonce_resp, in->nonce_resp));
	assert_int_equal(d.n_extra, in->n_extra);
	for (size_t i = 0; i < in->n_extra; i++)
		assert_true(rd_is(d.extra[i], in->extra[i]));
	combiner_encoding_done(&e);
}

/* The variant must differ from the base in encoding and in key, in every mode that accepts it. */
static void assert_distinct(const struct combiner_input *base, const struct combiner_input *var,
			    const char *what)
{
	struct combiner_encoding a, b;
	uint8_t ka[OUT_LEN], kb[OUT_LEN];

	assert_int_equal(combiner_encode(base, OUT_LEN, &a), 0);
	assert_int_equal(combiner_encode(var, OUT_LEN, &b), 0);
	if (enc_equal(&a, &b))
		fail_msg("%s: same encoding", what);
	assert_roundtrip(var, OUT_LEN);
	derive_ok(base, ka, OUT_LEN);
	derive_ok(var, kb, OUT_LEN);
	if (memcmp(ka, kb, OUT_LEN) == 0)
		fail_msg("%s: same key", what);
	combiner_encoding_done(&a);
	combiner_encoding_done(&b);
}

/* (c) moving, splitting, merging, reordering never gives the same encoding or key. */
static void test_unambiguous(void **state)
{
	(void)state;
	for (size_t k = 0; k < 3; k++) {
		struct fx *f = fx_new(modes[k]);
		struct combiner_input v;
		struct combiner_method mv[NM + 1];
		struct cbuf ex[3];
		uint8_t a[COMBINER_MSG_MAX], b[COMBINER_MSG_MAX];

		assert_roundtrip(&f->in, OUT_LEN);

#define MOVE(fa, fb, name)                                                          \
	do {                                                                        \
		v = f->in;                                                          \
		memcpy(mv, f->m, sizeof(f->m));                                     \
		v.methods = mv;                                                     \
		memcpy(a, (fa).p, (fa).len - 1);                                    \
		b[0] = (fa).p[(fa).len - 1];                                        \
		memcpy(b + 1, (fb).p, (fb).len);                                    \
		(fa) = CBUF(a, (fa).len - 1);                                       \
		(fb) = CBUF(b, (fb).len + 1);                                       \
		assert_distinct(&f->in, &v, name);                                  \
	} while (0)
		MOVE(v.label, v.purpose, "label|purpose");
		MOVE(v.id_init, v.id_resp, "id_init|id_resp");
		MOVE(v.nonce_init, v.nonce_resp, "nonce_init|nonce_resp");
		MOVE(mv[0].msg1, mv[1].msg1, "msg1[0]|msg1[1]");
		MOVE(mv[1].msg2, mv[2].msg2, "msg2[1]|msg2[2]");
		MOVE(mv[0].msg1, mv[0].msg2, "msg1[0]|msg2[0]");
		MOVE(v.purpose, v.id_init, "purpose|id_init");
		MOVE(v.id_resp, v.nonce_init, "id_resp|nonce_init");
#undef MOVE
		/* extra items: move, split, merge, add an empty one */
		v = f->in;
		v.extra = ex;
		memcpy(a, f->extra0, sizeof(f->extra0) - 1);
		b[0] = f->extra0[sizeof(f->extra0) - 1];
		memcpy(b + 1, f->extra1, sizeof(f->extra1));
		ex[0] = CBUF(a, sizeof(f->extra0) - 1);
		ex[1] = CBUF(b, sizeof(f->extra1) + 1);
		assert_distinct(&f->in, &v, "extra[0]|extra[1]");
		memcpy(a, f->extra0, sizeof(f->extra0));
		memcpy(a + sizeof(f->extra0), f->extra1, sizeof(f->extra1));
		ex[0] = CBUF(a, sizeof(f->extra0) + sizeof(f->extra1));
		v.n_extra = 1;
		assert_distinct(&f->in, &v, "extra merged");
		ex[0] = f->extra[0];
		ex[1] = f->extra[1];
		ex[2] = CBUF(NULL, 0);
		v.n_extra = 3;
		assert_distinct(&f->in, &v, "extra + empty item");
		v = f->in;
		v.n_extra = 0;
		assert_distinct(&f->in, &v, "no extra");

		/* reorder methods (suite unchanged) */
		v = f->in;
		memcpy(mv, f->m, sizeof(f->m));
		mv[0] = f->m[1];
		mv[1] = f->m[0];
		v.methods = mv;
		assert_distinct(&f->in, &v, "methods reordered");
		/* reorder the suite only */
		{
			uint16_t s[NM] = { f->suite[1], f->suite[0], f->suite[2] };

			v = f->in;
			v.suite = s;
			assert_distinct(&f->in, &v, "suite reordered");
			v.n_suite = NM - 1;
			v.suite = f->suite;
			assert_distinct(&f->in, &v, "suite shortened");
		}
		/* split one method's message into two methods / merge two into one */
		{
			struct secret *s64 = secret_alloc(2 * SS_LEN);

			assert_non_null(s64);
			memcpy(s64->p, f->ss[0]->p, SS_LEN);
			memcpy(s64->p + SS_LEN, f->ss[1]->p, SS_LEN);
			v = f->in;
			/* merged: one input with ss0‖ss1 and msg1_0‖msg1_1, msg2_0‖msg2_1 */
			mv[0] = f->m[0];
			mv[0].secret = s64;
			mv[0].expected_len = 2 * SS_LEN;
			memcpy(a, f->msg1_0, sizeof(f->msg1_0));
			memcpy(a + sizeof(f->msg1_0), f->msg1_1, sizeof(f->msg1_1));
			mv[0].msg1 = CBUF(a, sizeof(f->msg1_0) + sizeof(f->msg1_1));
			memcpy(b, f->msg2_0, sizeof(f->msg2_0));
			memcpy(b + sizeof(f->msg2_0), f->msg2_1, sizeof(f->msg2_1));
			mv[0].msg2 = CBUF(b, sizeof(f->msg2_0) + sizeof(f->msg2_1));
			mv[1] = f->m[2];
			v.methods = mv;
			v.n_methods = 2;
			/* same concatenated secret (CatKDF Z) — only the binding tells them apart */
			assert_distinct(&f->in, &v, "methods 0+1 merged");
			/* split: method 0's message split across an extra method with the same id */
			mv[0] = f->m[0];
			mv[0].msg1 = CBUF(f->msg1_0, 20);
			mv[1] = f->m[0];
			mv[1].msg1 = CBUF(f->msg1_0 + 20, sizeof(f->msg1_0) - 20);
			mv[1].secret = f->ss[1];
			mv[2] = f->m[1];
			mv[2].secret = f->ss[1];
			mv[3] = f->m[2];
			v.n_methods = 4;
			assert_distinct(&f->in, &v, "method split");
			secret_free(s64);
		}
		fx_free(f);
	}
}

static void assert_fails(const struct combiner_input *in, size_t len, int want, const char *what)
{
	uint8_t out[COMBINER_OUT_MAX + 8];
	struct combiner_encoding e = { 0 };
	int r;

	memset(out, 0xa5, sizeof(out));
	r = combiner_derive(in, out, len);
	if (r != want)
		fail_msg("%s: got %d, want %d", what, r, want);
	assert_true(all_zero(out, len));
	assert_int_equal(combiner_encode(in, len, &e), want);
	assert_null(e.ctx);
}

/* (d) invalid inputs: error, and the output is zero. */
static void test_errors(void **state)
{
	struct fx *f = fx_new(COMBINER_CATKDF);
	struct combiner_input v;
	struct combiner_method mv[COMBINER_MAX_METHODS + 1];
	struct secret *s31 = secret_alloc(SS_LEN - 1), *zero = secret_alloc(SS_LEN);
	struct secret *s48 = secret_alloc(48);
	uint8_t big[COMBINER_MSG_MAX + 1] = { 0 };
	uint16_t suite[COMBINER_MAX_SUITE + 1] = { 0 };

	(void)state;
	assert_non_null(s31);
	assert_non_null(zero);
	assert_non_null(s48);
	fill(s31->p, s31->len, 0x31);
	fill(s48->p, s48->len, 0x48);

	/* wrong-length secret, in either direction */
	v = f->in;
	memcpy(mv, f->m, sizeof(f->m));
	v.methods = mv;
	mv[1].secret = s31;
	assert_fails(&v, OUT_LEN, -EINVAL, "secret shorter than expected");
	mv[1].secret = f->ss[1];
	mv[1].expected_len = SS_LEN - 1;
	assert_fails(&v, OUT_LEN, -EINVAL, "secret longer than expected");
	mv[1].expected_len = 0;
	assert_fails(&v, OUT_LEN, -EINVAL, "expected length 0");
	mv[1].expected_len = SS_LEN;
	mv[1].secret = NULL;
	assert_fails(&v, OUT_LEN, -EINVAL, "no secret");
	mv[1].secret = zero;
	assert_fails(&v, OUT_LEN, -EINVAL, "all-zero secret");
	mv[1].secret = f->ss[1];

	/* too many methods */
	for (size_t i = 0; i < COMBINER_MAX_METHODS + 1; i++)
		mv[i] = f->m[i % NM];
	v.n_methods = COMBINER_MAX_METHODS + 1;
	assert_fails(&v, OUT_LEN, -EMSGSIZE, "9 methods");
	v.n_methods = COMBINER_MAX_METHODS;
	{
		uint8_t out[OUT_LEN];

		assert_int_equal(combiner_derive(&v, out, OUT_LEN), 0);	/* 8 is fine */
	}
	v.n_methods = 0;
	assert_fails(&v, OUT_LEN, -EINVAL, "no methods");

	/* XOR mode */
	v = f->in;
	memcpy(mv, f->m, sizeof(f->m));
	v.methods = mv;
	v.mode = COMBINER_XOR_ITS;
	mv[2].its = false;
	assert_fails(&v, OUT_LEN, -EINVAL, "XOR without ITS input");
	mv[2].its = true;
	assert_fails(&v, 48, -EINVAL, "ITS length != output length");
	mv[2].secret = s48;
	mv[2].expected_len = 48;
	{
		uint8_t out[48];

		assert_int_equal(combiner_derive(&v, out, 48), 0);	/* matching lengths */
	}
	assert_fails(&v, OUT_LEN, -EINVAL, "ITS 48 bytes, L = 32");
	mv[2] = f->m[2];
	mv[1].its = true;
	mv[1].secret = f->ss[2];	/* the same QKD key twice would cancel */
	assert_fails(&v, OUT_LEN, -EINVAL, "two equal ITS inputs");
	mv[1] = f->m[1];

	/* every other field */
	v = f->in;
	v.mode = (enum combiner_mode)7;
	assert_fails(&v, OUT_LEN, -EINVAL, "unknown mode");
	v = f->in;
	assert_fails(&v, COMBINER_OUT_MIN - 1, -EINVAL, "L too short");
	assert_fails(&v, COMBINER_OUT_MAX + 1, -EMSGSIZE, "L too long");
	v.label = CBUF(NULL, 0);
	assert_fails(&v, OUT_LEN, -EINVAL, "empty label");
	v.label = CBUF(big, COMBINER_LABEL_MAX + 1);
	assert_fails(&v, OUT_LEN, -EMSGSIZE, "long label");
	v = f->in;
	v.purpose = CBUF(NULL, 0);
	assert_fails(&v, OUT_LEN, -EINVAL, "empty purpose");
	v = f->in;
	v.id_resp = CBUF(NULL, 0);
	assert_fails(&v, OUT_LEN, -EINVAL, "empty identity");
	v.id_resp = CBUF(big, COMBINER_IDENTITY_MAX + 1);
	assert_fails(&v, OUT_LEN, -EMSGSIZE, "long identity");
	v = f->in;
	v.nonce_init = CBUF(f->nonce_init, COMBINER_NONCE_MIN - 1);
	assert_fails(&v, OUT_LEN, -EINVAL, "short nonce");
	v.nonce_init = CBUF(big, COMBINER_NONCE_MAX + 1);
	assert_fails(&v, OUT_LEN, -EMSGSIZE, "long nonce");
	v = f->in;
	v.suite = NULL;
	assert_fails(&v, OUT_LEN, -EINVAL, "no suite");
	v.suite = suite;
	v.n_suite = COMBINER_MAX_SUITE + 1;
	assert_fails(&v, OUT_LEN, -EMSGSIZE, "long suite");
	v = f->in;
	v.n_extra = COMBINER_MAX_EXTRA + 1;
	assert_fails(&v, OUT_LEN, -EMSGSIZE, "too many extra items");
	v.n_extra = 1;
	v.extra = &CBUF(big, COMBINER_EXTRA_MAX + 1);
	assert_fails(&v, OUT_LEN, -EMSGSIZE, "long extra item");
	v.extra = &CBUF(NULL, 1);
	assert_fails(&v, OUT_LEN, -EINVAL, "NULL extra item");
	v = f->in;
	memcpy(mv, f->m, sizeof(f->m));
	v.methods = mv;
	mv[0].msg1 = CBUF(big, COMBINER_MSG_MAX + 1);
	assert_fails(&v, OUT_LEN, -EMSGSIZE, "long msg1");
	mv[0].msg1 = CBUF(big, COMBINER_MSG_MAX);
	{
		uint8_t out[OUT_LEN];

		assert_int_equal(combiner_derive(&v, out, OUT_LEN), 0);
	}
	mv[0].msg2 = CBUF(NULL, 5);
	assert_fails(&v, OUT_LEN, -EINVAL, "NULL msg2");
	assert_int_equal(combiner_derive(NULL, big, OUT_LEN), -EINVAL);
	assert_true(all_zero(big, OUT_LEN));
	assert_int_equal(combiner_derive(&f->in, NULL, OUT_LEN), -EINVAL);

	secret_free(s31);
	secret_free(s48);
	secret_free(zero);
	fx_free(f);
}

/* (e) the three modes give three different keys from the same input. */
static void test_modes_differ(void **state)
{
	struct fx *f = fx_new(COMBINER_CATKDF);
	uint8_t k[3][OUT_LEN];

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		f->in.mode = modes[i];
		derive_ok(&f->in, k[i], OUT_LEN);
	}
	assert_memory_not_equal(k[0], k[1], OUT_LEN);
	assert_memory_not_equal(k[0], k[2], OUT_LEN);
	assert_memory_not_equal(k[1], k[2], OUT_LEN);
	fx_free(f);
}

/*
 * (f) COMBINER_CATKDF is TS 103 744 CatKDF (HKDF-SHA-384) on the documented
 * encoding; COMBINER_CASKDF is TS 103 744 CasKDF; COMBINER_XOR_ITS is CatKDF
 * over the non-ITS inputs XOR the ITS input.
 */
static void test_equals_etsi(void **state)
{
	struct fx *f = fx_new(COMBINER_CATKDF);
	struct combiner_encoding e;
	struct cbuf z[NM];
	uint8_t got[OUT_LEN], want[OUT_LEN];
	struct etsi_catkdf_in cat;

	(void)state;
	/* CatKDF */
	for (size_t i = 0; i < NM; i++)
		z[i] = CBUF(f->ss[i]->p, SS_LEN);
	assert_int_equal(combiner_encode(&f->in, OUT_LEN, &e), 0);
	cat = (struct etsi_catkdf_in){ .secret = z, .n_secret = NM, .label = f->in.label,
				       .context = CBUF(e.ctx, e.ctx_len),
				       .ma = CBUF(e.ma, e.ma_len), .mb = CBUF(e.mb, e.mb_len) };
	assert_int_equal(etsi_catkdf(ETSI_KDF_HKDF_SHA384, &cat, want, OUT_LEN), 0);
	derive_ok(&f->in, got, OUT_LEN);
	assert_memory_equal(got, want, OUT_LEN);
	combiner_encoding_done(&e);

	/* XOR: CatKDF(ss0, ss1; XOR-mode encoding) ⊕ ss2 */
	f->in.mode = COMBINER_XOR_ITS;
	assert_int_equal(combiner_encode(&f->in, OUT_LEN, &e), 0);
	cat = (struct etsi_catkdf_in){ .secret = z, .n_secret = 2, .label = f->in.label,
				       .context = CBUF(e.ctx, e.ctx_len),
				       .ma = CBUF(e.ma, e.ma_len), .mb = CBUF(e.mb, e.mb_len) };
	assert_int_equal(etsi_catkdf(ETSI_KDF_HKDF_SHA384, &cat, want, OUT_LEN), 0);
	for (size_t i = 0; i < OUT_LEN; i++)
		want[i] ^= f->ss[2]->p[i];
	derive_ok(&f->in, got, OUT_LEN);
	assert_memory_equal(got, want, OUT_LEN);
	combiner_encoding_done(&e);

	/* CasKDF: one round per method, rebuilt here from the documented layout */
	f->in.mode = COMBINER_CASKDF;
	assert_int_equal(combiner_encode(&f->in, OUT_LEN, &e), 0);
	{
		struct etsi_caskdf_round r[NM];
		uint8_t ma[NM][256], mb[NM][256], info[NM][1024];

		for (size_t i = 0; i < NM; i++) {
			uint8_t id[2] = { (uint8_t)(f->ids[i] >> 8), (uint8_t)f->ids[i] };
			const struct cbuf xa[2] = { CBUF(id, 2), f->m[i].msg1 };
			const struct cbuf xb[2] = { CBUF(id, 2), f->m[i].msg2 };
			struct wbuf wa = wbuf_init(ma[i], sizeof(ma[i]));
			struct wbuf wb = wbuf_init(mb[i], sizeof(mb[i]));
			struct wbuf wi = wbuf_init(info[i], sizeof(info[i]));

			assert_int_equal(etsi_msg_format(COMBINER_CID_CASKDF, xa, 2, &wa), 0);
			assert_int_equal(etsi_msg_format(COMBINER_CID_CASKDF, xb, 2, &wb), 0);
			wbuf_u16(&wi, (uint16_t)(i + 1));
			wbuf_u16(&wi, NM);
			wbuf_put(&wi, e.ctx, e.ctx_len);
			assert_int_equal(wbuf_error(&wi), 0);
			r[i] = (struct etsi_caskdf_round){
				.secret = z[i], .label = f->in.label, .info = CBUF(info[i], wi.len),
				.ma = CBUF(ma[i], wa.len), .mb = CBUF(mb[i], wb.len),
				.key_len = i + 1 < NM ? OUT_LEN : 0,
			};
		}
		assert_int_equal(etsi_caskdf(ETSI_KDF_HKDF_SHA384, CBUF(NULL, 0), r, NM, want,
					     OUT_LEN), 0);
	}
	derive_ok(&f->in, got, OUT_LEN);
	assert_memory_equal(got, want, OUT_LEN);
	combiner_encoding_done(&e);
	fx_free(f);
}

/* The documented byte layout, written out by hand for a one-method input. */
static void test_layout_by_hand(void **state)
{
	struct secret *ss = secret_dup("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", 16);
	const uint16_t suite[1] = { 0x0401 };
	const struct combiner_method m = {
		.id = 0x0401, .its = false, .secret = ss, .expected_len = 16,
		.msg1 = CBUF("psk-a", 5), .msg2 = CBUF(NULL, 0),
	};
	const struct cbuf extra[1] = { CBUF("X", 1) };
	struct combiner_input in;
	struct combiner_encoding e;
	static const uint8_t want_ctx[] = {
		0x00, 0x02,			/* version */
		0xfc, 0x01,			/* cid: CatKDF */
		0x00, 0x20,			/* L = 32 */
		0x00, 0x0e, 'I', 'O', 'W', 'N', '-', 'M', 'F', 'S', '-', 'K', 'C', ' ', 'v', '1',
		0x00, 0x01, 'k',		/* purpose */
		0x00, 0x01, 0x04, 0x01,		/* suite: 1 entry */
		0x00, 0x01, 0x04, 0x01, 0x00, 0x00, 0x10, /* 1 method: id, its, secret_len */
		0x00, 0x01, 'A',		/* id_init */
		0x00, 0x01, 'B',		/* id_resp */
		0x00, 0x10, 'n', 'n', 'n', 'n', 'n', 'n', 'n', 'n', 'n', 'n', 'n', 'n', 'n', 'n',
		'n', 'n',
		0x00, 0x10, 'N', 'N', 'N', 'N', 'N', 'N', 'N', 'N', 'N', 'N', 'N', 'N', 'N', 'N',
		'N', 'N',
		0x00, 0x01, 0x00, 0x01, 'X',	/* 1 extra item */
	};
	static const uint8_t want_ma[] = {
		0xfc, 0x01, 0x00, 0x00, 0x00, 0x04, 0x04, 0x01,	/* cid, BE32(2·2), id */
		0x00, 0x00, 0x00, 0x0a, 'p', 's', 'k', '-', 'a',	/* BE32(2·5), msg1 */
	};
	static const uint8_t want_mb[] = {
		0xfc, 0x01, 0x00, 0x00, 0x00, 0x04, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00,
	};

	(void)state;
	assert_non_null(ss);
	combiner_input_init(&in);
	in.version = 2;
	in.purpose = CBUF("k", 1);
	in.id_init = CBUF("A", 1);
	in.id_resp = CBUF("B", 1);
	in.nonce_init = CBUF("nnnnnnnnnnnnnnnn", 16);
	in.nonce_resp = CBUF("NNNNNNNNNNNNNNNN", 16);
	in.suite = suite;
	in.n_suite = 1;
	in.methods = &m;
	in.n_methods = 1;
	in.extra = extra;
	in.n_extra = 1;
	assert_int_equal(combiner_encode(&in, 32, &e), 0);
	assert_int_equal(e.ctx_len, sizeof(want_ctx));
	assert_memory_equal(e.ctx, want_ctx, sizeof(want_ctx));
	assert_int_equal(e.ma_len, sizeof(want_ma));
	assert_memory_equal(e.ma, want_ma, sizeof(want_ma));
	assert_int_equal(e.mb_len, sizeof(want_mb));
	assert_memory_equal(e.mb, want_mb, sizeof(want_mb));
	combiner_encoding_done(&e);
	combiner_encoding_done(&e);	/* idempotent */
	combiner_encoding_done(NULL);
	secret_free(ss);
}

/* XOR mode with only ITS inputs: K = CatKDF(empty secret, binding) ⊕ ITS. */
static void test_xor_its_only(void **state)
{
	struct fx *f = fx_new(COMBINER_XOR_ITS);
	uint8_t k1[OUT_LEN], k2[OUT_LEN];

	(void)state;
	f->in.methods = &f->m[2];
	f->in.n_methods = 1;
	derive_ok(&f->in, k1, OUT_LEN);
	f->nonce_init[0] ^= 1;
	derive_ok(&f->in, k2, OUT_LEN);
	assert_memory_not_equal(k1, k2, OUT_LEN);	/* still bound to the transcript */
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_every_bit_flip),
		cmocka_unit_test(test_unambiguous),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_modes_differ),
		cmocka_unit_test(test_equals_etsi),
		cmocka_unit_test(test_layout_by_hand),
		cmocka_unit_test(test_xor_its_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
