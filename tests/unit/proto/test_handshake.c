/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The exchange state machine, two engines back to back in memory (OpenSSH
 * run_kex() style): every combination of 1..4 registered methods, and the
 * attacks: bit flips and truncation of every message, reordering, replay
 * into a new exchange, dropped CONFIRM, a man in the middle stripping
 * methods from HELLO, a wrong TLS exporter, wrong peers and classes. In
 * every failure no key is output. One McEliece key pair per side per
 * parameter set per binary (key generation is slow).
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
#include "crypto/hash.h"
#include "kex/kex.h"
#include "proto/handshake.h"
#include "proto/msg.h"
#include "proto/negotiate.h"

#define PSK_ID "link-1"
#define CLASS "bulk"
#define MAX_FRAMES 16

/* ---- fixtures: McEliece static keys per side, PSK, node ids ---- */

struct side_keys {
	struct hs_static_key keys[4];
	size_t n;
	uint8_t *pk[4];
	struct secret *sk[4];
	uint8_t id[4][HS_STATIC_ID_LEN];
};

static struct side_keys keys_a, keys_b;
static const char *id_init, *id_resp;	/* elected for CLASS */

static int psk_lookup(void *arg, const char *id, struct secret **ret)
{
	static const uint8_t key[32] = "proto test psk, not a secret!!!";

	(void)arg;
	if (strcmp(id, PSK_ID) != 0)
		return -ENOKEY;
	*ret = secret_dup(key, sizeof(key));
	return *ret ? 0 : -ENOMEM;
}

static int make_keys(struct side_keys *s)
{
	const struct kex_method *const *all;
	size_t n = kex_methods(&all);

	for (size_t i = 0; i < n; i++) {
		const struct kex_method *m = all[i];

		if (!negotiate_bidirectional(m) || !m->available())
			continue;
		s->pk[s->n] = malloc(m->kem->pk_len);
		s->sk[s->n] = secret_alloc(m->kem->sk_len);
		if (!s->pk[s->n] || !s->sk[s->n] || m->kem->keypair(s->pk[s->n], s->sk[s->n]->p) ||
		    hash(HASH_SHA3_256, s->pk[s->n], m->kem->pk_len, s->id[s->n]))
			return -1;
		s->keys[s->n] = (struct hs_static_key){
			.method = m->id,
			.sk = s->sk[s->n],
			.pk = s->pk[s->n],
			.pk_len = m->kem->pk_len,
			.pk_id = s->id[s->n],
		};
		s->n++;
	}
	return 0;
}

/* Pin each side's public key at the other. */
static void pin(struct side_keys *a, const struct side_keys *b)
{
	for (size_t i = 0; i < a->n; i++) {
		a->keys[i].peer_pk = b->pk[i];
		a->keys[i].peer_pk_len = b->keys[i].pk_len;
		a->keys[i].peer_pk_id = b->id[i];
	}
}

static int setup(void **state)
{
	(void)state;
	if (make_keys(&keys_a) < 0 || make_keys(&keys_b) < 0)
		return -1;
	pin(&keys_a, &keys_b);
	pin(&keys_b, &keys_a);
	if (proto_is_initiator("node-a", "node-b", CLASS) == 1) {
		id_init = "node-a";
		id_resp = "node-b";
	} else {
		id_init = "node-b";
		id_resp = "node-a";
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < 4; i++) {
		free(keys_a.pk[i]);
		free(keys_b.pk[i]);
		secret_free(keys_a.sk[i]);
		secret_free(keys_b.sk[i]);
	}
	return 0;
}

/*
 * ---- QKD: one in-memory key table stands for the two KMEs ----
 * The initiator takes key i (as after enc_keys, with the peer's dec_keys
 * done); the responder finds it by reference, once.
 */
#define KME_KEYS 8
struct kme {
	uint8_t key[KME_KEYS][32];
	uint8_t id[KME_KEYS][KEX_QKD_KEY_ID_LEN];
	bool looked[KME_KEYS];
	size_t next;
	bool corrupt;		/* the slave's copy differs (a broken QKD network) */
};

static void kme_init(struct kme *k)
{
	memset(k, 0, sizeof(*k));
	for (size_t i = 0; i < KME_KEYS; i++) {
		memset(k->key[i], (int)(0x10 + i), sizeof(k->key[i]));
		memset(k->id[i], (int)(0xa0 + i), sizeof(k->id[i]));
	}
}

static int qkd_take(void *arg, struct kex_qkd_ref *ref, struct secret **ret)
{
	struct kme *k = arg;
	size_t i;

	if (k->next == KME_KEYS)
		return -EAGAIN;
	i = k->next++;
	snprintf(ref->kme_id, sizeof(ref->kme_id), "kme-a");
	snprintf(ref->master_sae, sizeof(ref->master_sae), "sae-a");
	memcpy(ref->key_id, k->id[i], KEX_QKD_KEY_ID_LEN);
	*ret = secret_dup(k->key[i], sizeof(k->key[i]));
	return *ret ? 0 : -ENOMEM;
}

static int qkd_lookup(void *arg, const struct kex_qkd_ref *ref, struct secret **ret)
{
	struct kme *k = arg;

	if (strcmp(ref->kme_id, "kme-a") || strcmp(ref->master_sae, "sae-a"))
		return -ENOKEY;
	for (size_t i = 0; i < KME_KEYS; i++) {
		if (memcmp(ref->key_id, k->id[i], KEX_QKD_KEY_ID_LEN) != 0)
			continue;
		if (k->looked[i])
			return -EALREADY;
		k->looked[i] = true;
		*ret = secret_dup(k->key[i], sizeof(k->key[i]));
		if (*ret && k->corrupt)
			(*ret)->p[0] ^= 1;
		return *ret ? 0 : -ENOMEM;
	}
	return -ENOKEY;
}

/* ---- the in-memory pair ---- */

struct frame {
	uint8_t *p;
	size_t len;
	bool from_init;
};

typedef void (*tamper_fn)(void *arg, size_t idx, uint8_t *p, size_t *len, bool *drop);

struct pair {
	struct class_policy pol_i, pol_r;
	struct hs_config ci, cr;
	struct hs *hi, *hr;
	int rc_i, rc_r;
	uint8_t exp_i[48], exp_r[48];
	uint16_t revoked_r[4];
	size_t n_revoked_r;
	tamper_fn tamper;
	void *tamper_arg;
	size_t n_delivered;	/* frames seen by the tamper hook (before a failure) */
	bool failed;
	/* every frame as sent, for replay tests */
	struct frame log[MAX_FRAMES];
	size_t n_log;
	struct kme kme;
};

static void policy_set(struct class_policy *p, const uint16_t *req, size_t n_req,
		       const uint16_t *opt, size_t n_opt)
{
	policy_init(p, CLASS);
	memcpy(p->required, req, n_req * sizeof(*req));
	p->n_required = n_req;
	if (n_opt)
		memcpy(p->optional, opt, n_opt * sizeof(*opt));
	p->n_optional = n_opt;
	p->min_pq_factors = 0;
	p->min_families = 0;
}

static void pair_init(struct pair *p, const uint16_t *req, size_t n_req)
{
	memset(p, 0, sizeof(*p));
	policy_set(&p->pol_i, req, n_req, NULL, 0);
	policy_set(&p->pol_r, req, n_req, NULL, 0);
	memset(p->exp_i, 0x5a, sizeof(p->exp_i));
	memset(p->exp_r, 0x5a, sizeof(p->exp_r));
	kme_init(&p->kme);
	p->ci = (struct hs_config){
		.role = HS_INITIATOR,
		.my_id = id_init,
		.peer_id = id_resp,
		.policy = &p->pol_i,
		.static_keys = strcmp(id_init, "node-a") == 0 ? keys_a.keys : keys_b.keys,
		.n_static_keys = keys_a.n,
		.psk_id = PSK_ID,
		.psk_lookup = psk_lookup,
		.qkd_take = qkd_take,
		.qkd_arg = &p->kme,
		.tls_exporter = p->exp_i,
		.tls_exporter_len = sizeof(p->exp_i),
		.n_keys = 3,
	};
	p->cr = (struct hs_config){
		.role = HS_RESPONDER,
		.my_id = id_resp,
		.peer_id = id_init,
		.classes = &p->pol_r,
		.n_classes = 1,
		.revoked = p->revoked_r,
		.static_keys = strcmp(id_resp, "node-a") == 0 ? keys_a.keys : keys_b.keys,
		.n_static_keys = keys_a.n,
		.psk_lookup = psk_lookup,
		.qkd_lookup = qkd_lookup,
		.qkd_arg = &p->kme,
		.tls_exporter = p->exp_r,
		.tls_exporter_len = sizeof(p->exp_r),
		.n_keys = 5,
	};
	p->hi = calloc(1, sizeof(*p->hi));
	p->hr = calloc(1, sizeof(*p->hr));
	assert_non_null(p->hi);
	assert_non_null(p->hr);
}

static void pair_free(struct pair *p)
{
	hs_done(p->hi);
	hs_done(p->hr);
	free(p->hi);
	free(p->hr);
	for (size_t i = 0; i < p->n_log; i++)
		free(p->log[i].p);
	p->hi = p->hr = NULL;
}

static void deliver(struct pair *p, bool to_resp, const uint8_t *buf, size_t len, int depth);

/* Deliver one frame, then whatever the receiver answers. */
static void deliver_one(struct pair *p, bool to_resp, const uint8_t *f, size_t flen, int depth)
{
	static uint8_t outs[8][HS_OUT_MAX];
	uint8_t *copy = malloc(flen ? flen : 1);
	struct wbuf out = wbuf_init(outs[depth], HS_OUT_MAX);
	struct hs *rx = to_resp ? p->hr : p->hi;
	bool drop = false;
	int rc;

	assert_non_null(copy);
	assert_true(depth < 8);
	memcpy(copy, f, flen);
	if (!p->failed && p->n_log < MAX_FRAMES) {
		p->log[p->n_log].p = malloc(flen ? flen : 1);
		assert_non_null(p->log[p->n_log].p);
		memcpy(p->log[p->n_log].p, f, flen);
		p->log[p->n_log].len = flen;
		p->log[p->n_log].from_init = to_resp;
		p->n_log++;
	}
	if (p->tamper && !p->failed)
		p->tamper(p->tamper_arg, p->n_delivered, copy, &flen, &drop);
	p->n_delivered++;
	if (drop) {
		free(copy);
		return;
	}
	rc = hs_recv(rx, copy, flen, &out);
	free(copy);
	if (to_resp)
		p->rc_r = rc;
	else
		p->rc_i = rc;
	if (rc < 0) {
		p->failed = true;
		assert_non_null(hs_abort_reason(rx));
		assert_int_equal(hs_error(rx), rc);
	}
	if (out.len)
		deliver(p, !to_resp, out.p, out.len, depth + 1);
}

static void deliver(struct pair *p, bool to_resp, const uint8_t *buf, size_t len, int depth)
{
	size_t off = 0;

	while (off < len) {
		size_t flen;

		assert_int_equal(msg_frame_len(buf + off, len - off, &flen), 0);
		assert_true(flen <= len - off);
		deliver_one(p, to_resp, buf + off, flen, depth);
		off += flen;
	}
}

/* Run the whole exchange; returns hs_start()'s value. */
static int pair_run(struct pair *p)
{
	static uint8_t hello[HS_OUT_MAX];
	struct wbuf out = wbuf_init(hello, sizeof(hello));
	int rc;

	p->cr.n_revoked = p->n_revoked_r;
	if ((rc = hs_init(p->hi, &p->ci)) < 0)
		return rc;
	assert_int_equal(hs_init(p->hr, &p->cr), 0);
	if ((rc = hs_start(p->hi, &out)) < 0)
		return rc;
	deliver(p, true, out.p, out.len, 0);
	return 0;
}

static bool ids_v8(const uint8_t *u)
{
	return (u[6] >> 4) == 8 && (u[8] & 0xc0) == 0x80;
}

/* Both sides done with identical results. */
static void assert_agree(struct pair *p, struct hs_result *ri, struct hs_result *rr)
{
	assert_int_equal(p->rc_i, HS_DONE);
	assert_int_equal(p->rc_r, HS_DONE);
	assert_true(hs_is_done(p->hi));
	assert_true(hs_is_done(p->hr));
	assert_int_equal(hs_result(p->hi, ri), 0);
	assert_int_equal(hs_result(p->hr, rr), 0);
	assert_int_equal(hs_result(p->hi, ri), -EPROTO);	/* once */
	assert_int_equal(ri->n_keys, rr->n_keys);
	assert_int_equal(ri->suite.n, rr->suite.n);
	assert_memory_equal(ri->suite.ids, rr->suite.ids, ri->suite.n * sizeof(uint16_t));
	assert_int_equal(ri->n_methods, rr->n_methods);
	assert_memory_equal(ri->methods, rr->methods, ri->n_methods * sizeof(uint16_t));
	assert_string_equal(ri->class_name, CLASS);
	assert_int_equal(ri->pool->len, 2u * POOL_SECRET_LEN);
	assert_true(mfs_ct_eq(ri->pool->p, rr->pool->p, ri->pool->len));
	assert_memory_not_equal(ri->pool->p, ri->pool->p + POOL_SECRET_LEN, POOL_SECRET_LEN);
	assert_memory_equal(ri->exchange_id, rr->exchange_id, POOL_ID_LEN);
	assert_true(pool_exchange_id_valid(ri->exchange_id));
	for (unsigned d = 0; d < 2; d++)
		for (unsigned i = 0; i < ri->n_keys; i++) {
			uint8_t id[POOL_ID_LEN], xid[POOL_ID_LEN], ki[HS_KEY_LEN], kr[HS_KEY_LEN];
			uint64_t tag;
			unsigned pd, pi;

			pool_key_id(ri->exchange_id, d, i, id);
			assert_true(ids_v8(id));
			assert_int_equal(pool_key_id_parse(id, &tag, &pd, &pi, xid), 0);
			assert_int_equal(pd, d);
			assert_int_equal(pi, i);
			assert_true(tag == pool_tag(ri->exchange_id));
			assert_memory_equal(xid, ri->exchange_id, POOL_ID_LEN);
			assert_int_equal(pool_key_derive(ri->pool->p + d * POOL_SECRET_LEN, d, i,
							 HS_KEY_LEN, ki), 0);
			assert_int_equal(pool_key_derive(rr->pool->p + d * POOL_SECRET_LEN, d, i,
							 HS_KEY_LEN, kr), 0);
			assert_memory_equal(ki, kr, HS_KEY_LEN);
		}
}

/* No key anywhere: at most the side that never heard of a failure may hold keys if ok_i. */
static void assert_no_keys(struct pair *p)
{
	struct hs_result r;

	assert_false(hs_is_done(p->hr));
	assert_int_equal(hs_result(p->hr, &r), -EPROTO);
	assert_false(hs_is_done(p->hi));
	assert_int_equal(hs_result(p->hi, &r), -EPROTO);
}

/* ---- every combination ---- */

static size_t usable_methods(const struct kex_method **ret)
{
	const struct kex_method *const *all;
	size_t n = kex_methods(&all), k = 0;

	for (size_t i = 0; i < n; i++)
		if (all[i]->available())
			ret[k++] = all[i];
	return k;
}

static void test_all_combinations(void **state)
{
	const struct kex_method *ms[16];
	size_t n = usable_methods(ms), combos = 0;

	(void)state;
	assert_true(n <= 16);
	for (unsigned mask = 1; mask < (1U << n); mask++) {
		uint16_t req[8];
		size_t k = 0, code = 0;
		struct hs_result ri, rr;
		struct pair p;

		if (__builtin_popcount(mask) > 4)
			continue;
		for (size_t i = 0; i < n; i++)
			if (mask & (1U << i)) {
				req[k++] = ms[i]->id;
				code += negotiate_bidirectional(ms[i]);
			}
		pair_init(&p, req, k);
		assert_int_equal(pair_run(&p), 0);
		assert_agree(&p, &ri, &rr);
		assert_int_equal(ri.suite.n, k);
		for (size_t i = 1; i < ri.suite.n; i++)
			assert_true(ri.suite.ids[i - 1] < ri.suite.ids[i]);
		assert_int_equal(ri.n_methods, k + code);
		assert_int_equal(ri.n_keys, 3);	/* initiator asked 3, responder allows 5 */
		hs_result_done(&ri);
		hs_result_done(&rr);
		pair_free(&p);
		combos++;
	}
	print_message("exchanges over %zu method combinations\n", combos);
	assert_true(combos >= 1);
}

/* The four-factor suite used by the attack tests. */
static size_t attack_suite(uint16_t *req)
{
	static const uint16_t want[] = { KEX_ID_MLKEM768, KEX_ID_MCELIECE460896, KEX_ID_PSK,
					 KEX_ID_X25519 };
	size_t k = 0;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (kex_method_by_id(want[i]))
			req[k++] = want[i];
	return k;
}

/* A valid exchange, to learn the frame sizes. */
static void reference_sizes(size_t *sizes, size_t *n)
{
	uint16_t req[8];
	struct hs_result ri, rr;
	struct pair p;

	pair_init(&p, req, attack_suite(req));
	assert_int_equal(pair_run(&p), 0);
	assert_agree(&p, &ri, &rr);
	assert_int_equal(p.n_log, 6);	/* HELLO SELECT KEX1 KEX2 CONFIRM CONFIRM */
	for (size_t i = 0; i < p.n_log; i++)
		sizes[i] = p.log[i].len;
	*n = p.n_log;
	hs_result_done(&ri);
	hs_result_done(&rr);
	pair_free(&p);
}

struct flip {
	size_t idx, bit;
};

static void tamper_flip(void *arg, size_t idx, uint8_t *f, size_t *len, bool *drop)
{
	const struct flip *fl = arg;

	(void)drop;
	if (idx == fl->idx && fl->bit / 8 < *len)
		f[fl->bit / 8] ^= (uint8_t)(1U << (fl->bit % 8));
}

/* Headers and fixed fields in full, the rest sampled. */
static bool bit_sampled(size_t bit, size_t len)
{
	size_t byte = bit / 8;

	return byte < 48 || byte + 16 >= len || bit % 61 == 0;
}

static void test_bit_flips(void **state)
{
	size_t sizes[MAX_FRAMES], n, runs = 0;
	uint16_t req[8];

	(void)state;
	reference_sizes(sizes, &n);
	for (size_t idx = 0; idx < n; idx++) {
		for (size_t bit = 0; bit < sizes[idx] * 8; bit++) {
			struct flip fl = { idx, bit };
			struct pair p;

			if (!bit_sampled(bit, sizes[idx]))
				continue;
			pair_init(&p, req, attack_suite(req));
			p.tamper = tamper_flip;
			p.tamper_arg = &fl;
			assert_int_equal(pair_run(&p), 0);
			if (p.rc_i >= 0 && p.rc_r >= 0)
				fail_msg("flip of bit %zu of message %zu went unnoticed", bit, idx);
			/*
			 * The last message: the initiator was done, and the
			 * responder's ABORT takes its keys back.
			 */
			if (idx == 5)
				assert_int_equal(p.rc_i, -ECONNABORTED);
			assert_no_keys(&p);
			pair_free(&p);
			runs++;
		}
	}
	print_message("%zu bit flips\n", runs);
}

/* Who receives frame idx of a normal exchange. */
static bool to_resp(size_t idx)
{
	return idx == 0 || idx == 2 || idx == 5;
}

struct cut {
	size_t idx, len;
};

static void tamper_cut(void *arg, size_t idx, uint8_t *f, size_t *len, bool *drop)
{
	const struct cut *c = arg;

	(void)f;
	(void)drop;
	if (idx == c->idx && c->len < *len)
		*len = c->len;
}

static void test_truncation(void **state)
{
	size_t sizes[MAX_FRAMES], n;
	uint16_t req[8];

	(void)state;
	reference_sizes(sizes, &n);
	for (size_t idx = 0; idx < n; idx++) {
		for (size_t len = 0; len < sizes[idx]; len++) {
			struct cut c = { idx, len };
			struct pair p;

			if (!(len < 24 || len + 8 >= sizes[idx] || len % 97 == 0))
				continue;
			pair_init(&p, req, attack_suite(req));
			p.tamper = tamper_cut;
			p.tamper_arg = &c;
			assert_int_equal(pair_run(&p), 0);
			/* the receiver of the cut frame fails at once */
			assert_true((to_resp(idx) ? p.rc_r : p.rc_i) < 0);
			assert_no_keys(&p);
			pair_free(&p);
		}
	}
}

/* ---- drop, reorder, replay ---- */

struct dropper {
	size_t idx;
};

static void tamper_drop(void *arg, size_t idx, uint8_t *f, size_t *len, bool *drop)
{
	(void)f;
	(void)len;
	if (idx == ((struct dropper *)arg)->idx)
		*drop = true;
}

static void test_drop_confirm(void **state)
{
	uint16_t req[8];
	struct pair p;
	struct hs_result r;

	(void)state;
	/* drop the responder's CONFIRM: the initiator never gets keys */
	struct dropper d = { 4 };

	pair_init(&p, req, attack_suite(req));
	p.tamper = tamper_drop;
	p.tamper_arg = &d;
	assert_int_equal(pair_run(&p), 0);
	assert_int_equal(p.rc_i, HS_MORE);
	assert_no_keys(&p);
	pair_free(&p);

	/* drop the initiator's CONFIRM: the responder never gets keys */
	d.idx = 5;
	pair_init(&p, req, attack_suite(req));
	p.tamper = tamper_drop;
	p.tamper_arg = &d;
	assert_int_equal(pair_run(&p), 0);
	assert_int_equal(p.rc_r, HS_MORE);
	assert_false(hs_is_done(p.hr));
	assert_int_equal(hs_result(p.hr, &r), -EPROTO);
	pair_free(&p);
}

/* Feed frame f of a finished reference exchange directly to a fresh engine. */
static int feed(struct hs *h, const struct frame *f)
{
	uint8_t out[HS_OUT_MAX];
	struct wbuf w = wbuf_init(out, sizeof(out));

	return hs_recv(h, f->p, f->len, &w);
}

static void test_reorder(void **state)
{
	uint16_t req[8];
	struct pair ref, p;
	struct hs_result ri, rr;
	uint8_t buf[HS_OUT_MAX];
	struct wbuf w = wbuf_init(buf, sizeof(buf));

	(void)state;
	pair_init(&ref, req, attack_suite(req));
	assert_int_equal(pair_run(&ref), 0);
	assert_agree(&ref, &ri, &rr);

	/* responder: anything but HELLO first */
	for (size_t k = 1; k < ref.n_log; k++) {
		if (!ref.log[k].from_init)
			continue;
		pair_init(&p, req, attack_suite(req));
		assert_int_equal(hs_init(p.hr, &p.cr), 0);
		assert_int_equal(feed(p.hr, &ref.log[k]), -EPROTO);
		assert_false(hs_is_done(p.hr));
		pair_free(&p);
	}
	/* initiator: CONFIRM or KEX2 instead of SELECT, CONFIRM instead of KEX2 */
	pair_init(&p, req, attack_suite(req));
	assert_int_equal(hs_init(p.hi, &p.ci), 0);
	assert_int_equal(hs_start(p.hi, &w), HS_MORE);
	assert_int_equal(feed(p.hi, &ref.log[3]), -EPROTO);
	assert_int_equal(feed(p.hi, &ref.log[1]), -EPROTO);	/* dead after a failure */
	pair_free(&p);
	/* a second HELLO to a responder that answered the first */
	pair_init(&p, req, attack_suite(req));
	assert_int_equal(hs_init(p.hr, &p.cr), 0);
	assert_int_equal(feed(p.hr, &ref.log[0]), HS_MORE);
	assert_int_equal(feed(p.hr, &ref.log[0]), -EPROTO);
	pair_free(&p);
	/* after done, nothing more is accepted and nothing changes */
	assert_int_equal(feed(ref.hr, &ref.log[5]), -EPROTO);
	hs_result_done(&ri);
	hs_result_done(&rr);
	pair_free(&ref);
}

static void test_replay(void **state)
{
	uint16_t req[8];
	struct pair old, p;
	struct hs_result ri, rr;
	uint8_t buf[HS_OUT_MAX];
	struct wbuf w;

	(void)state;
	pair_init(&old, req, attack_suite(req));
	assert_int_equal(pair_run(&old), 0);
	assert_agree(&old, &ri, &rr);

	/* replay the whole old initiator side into a new responder */
	pair_init(&p, req, attack_suite(req));
	assert_int_equal(hs_init(p.hr, &p.cr), 0);
	assert_int_equal(feed(p.hr, &old.log[0]), HS_MORE);	/* HELLO */
	w = wbuf_init(buf, sizeof(buf));
	assert_int_equal(hs_recv(p.hr, old.log[2].p, old.log[2].len, &w), HS_MORE);	/* KEX1 */
	assert_int_equal(feed(p.hr, &old.log[5]), -EKEYREJECTED);	/* old CONFIRM */
	assert_false(hs_is_done(p.hr));
	/* it answered with an ABORT */
	{
		struct msg m;
		size_t fl;

		assert_int_equal(msg_frame_len(buf, w.len, &fl), 0);
		assert_int_equal(msg_parse(buf, fl, &m), 0);
	}
	pair_free(&p);

	/* replay the old responder side into a new initiator */
	pair_init(&p, req, attack_suite(req));
	assert_int_equal(hs_init(p.hi, &p.ci), 0);
	w = wbuf_init(buf, sizeof(buf));
	assert_int_equal(hs_start(p.hi, &w), HS_MORE);
	assert_int_equal(feed(p.hi, &old.log[1]), HS_MORE);	/* SELECT */
	assert_int_equal(feed(p.hi, &old.log[3]), HS_MORE);	/* KEX2: undetectable yet */
	assert_int_equal(feed(p.hi, &old.log[4]), -EKEYREJECTED);	/* CONFIRM */
	assert_no_keys(&p);
	pair_free(&p);
	hs_result_done(&ri);
	hs_result_done(&rr);
	pair_free(&old);
}

/* ---- man in the middle rewriting HELLO ---- */

struct strip {
	uint16_t id;
	bool from_required;
};

static void strip_list(uint16_t *ids, size_t *n, uint16_t id)
{
	size_t k = 0;

	for (size_t i = 0; i < *n; i++)
		if (ids[i] != id)
			ids[k++] = ids[i];
	*n = k;
}

static void tamper_strip(void *arg, size_t idx, uint8_t *f, size_t *len, bool *drop)
{
	const struct strip *s = arg;
	uint8_t tmp[MSG_FRAME_MAX];
	struct wbuf w = wbuf_init(tmp, sizeof(tmp));
	struct msg m;

	(void)drop;
	if (idx != 0)
		return;
	assert_int_equal(msg_parse(f, *len, &m), 0);
	assert_int_equal(m.type, MSGT_HELLO);
	if (s->from_required)
		strip_list(m.u.hello.required, &m.u.hello.n_required, s->id);
	else
		strip_list(m.u.hello.optional, &m.u.hello.n_optional, s->id);
	assert_int_equal(msg_encode(&w, &m), 0);
	assert_true(w.len <= *len);
	memcpy(f, tmp, w.len);
	*len = w.len;
}

static void test_mitm_strip(void **state)
{
	const uint16_t req[] = { KEX_ID_MLKEM768 };
	const uint16_t opt[] = { KEX_ID_X25519 };
	const uint16_t req2[] = { KEX_ID_MLKEM768, KEX_ID_X25519 };
	struct strip s;
	struct pair p;

	(void)state;
	if (!kex_method_by_id(KEX_ID_MLKEM768) || !kex_method_by_id(KEX_ID_X25519))
		skip();
	/* an optional method both sides have, stripped: the transcript catches it */
	pair_init(&p, req, 1);
	policy_set(&p.pol_i, req, 1, opt, 1);
	policy_set(&p.pol_r, req, 1, opt, 1);
	s = (struct strip){ KEX_ID_X25519, false };
	p.tamper = tamper_strip;
	p.tamper_arg = &s;
	assert_int_equal(pair_run(&p), 0);
	assert_int_equal(p.rc_i, -EKEYREJECTED);
	assert_no_keys(&p);
	pair_free(&p);

	/* a required method stripped: the responder selects less, the initiator aborts */
	pair_init(&p, req2, 2);
	policy_set(&p.pol_r, req, 1, opt, 1);
	s = (struct strip){ KEX_ID_X25519, true };
	p.tamper = tamper_strip;
	p.tamper_arg = &s;
	assert_int_equal(pair_run(&p), 0);
	assert_int_equal(p.rc_i, -EPERM);
	assert_int_equal(p.rc_r, -ECONNABORTED);	/* got the initiator's ABORT */
	assert_no_keys(&p);
	pair_free(&p);

	/* without tampering the optional method is used */
	{
		struct hs_result ri, rr;

		pair_init(&p, req, 1);
		policy_set(&p.pol_i, req, 1, opt, 1);
		policy_set(&p.pol_r, req, 1, opt, 1);
		assert_int_equal(pair_run(&p), 0);
		assert_agree(&p, &ri, &rr);
		assert_int_equal(ri.suite.n, 2);
		hs_result_done(&ri);
		hs_result_done(&rr);
		pair_free(&p);
	}
}

/* ---- configuration mismatches ---- */

static void test_wrong_exporter(void **state)
{
	uint16_t req[8];
	struct pair p;

	(void)state;
	pair_init(&p, req, attack_suite(req));
	p.exp_r[47] ^= 1;
	assert_int_equal(pair_run(&p), 0);
	assert_int_equal(p.rc_i, -EKEYREJECTED);
	assert_int_equal(p.rc_r, -ECONNABORTED);
	assert_no_keys(&p);
	pair_free(&p);
}

static void test_refusals(void **state)
{
	const uint16_t req[] = { KEX_ID_MLKEM768 };
	struct pair p;

	(void)state;
	if (!kex_method_by_id(KEX_ID_MLKEM768))
		skip();
	/* unknown class at the responder */
	pair_init(&p, req, 1);
	memcpy(p.pol_r.name, "other", 6);
	assert_int_equal(pair_run(&p), 0);
	assert_int_equal(p.rc_r, -EPERM);
	assert_int_equal(p.rc_i, -ECONNREFUSED);
	assert_non_null(strstr(hs_abort_reason(p.hi), "unknown data protection class"));
	assert_no_keys(&p);
	pair_free(&p);

	/* a required method revoked at the responder */
	pair_init(&p, req, 1);
	p.revoked_r[0] = KEX_ID_MLKEM768;
	p.n_revoked_r = 1;
	assert_int_equal(pair_run(&p), 0);
	assert_int_equal(p.rc_r, -EPERM);
	assert_int_equal(p.rc_i, -ECONNREFUSED);
	assert_non_null(strstr(hs_abort_reason(p.hi), "revoked"));
	assert_no_keys(&p);
	pair_free(&p);

	/* the responder wants more post-quantum factors than the suite has */
	pair_init(&p, req, 1);
	p.pol_r.min_pq_factors = 2;
	assert_int_equal(pair_run(&p), 0);
	assert_int_equal(p.rc_i, -ECONNREFUSED);
	assert_no_keys(&p);
	pair_free(&p);

	/* the responder expects another peer */
	pair_init(&p, req, 1);
	p.cr.peer_id = "node-z";
	assert_int_equal(pair_run(&p), 0);
	assert_int_equal(p.rc_r, -EACCES);
	assert_int_equal(p.rc_i, -ECONNREFUSED);
	pair_free(&p);

	/* the initiator expects another responder: swap in a responder with another id */
	pair_init(&p, req, 1);
	p.ci.peer_id = "node-z";
	if (proto_is_initiator(id_init, "node-z", CLASS) == 1) {
		p.cr.peer_id = id_init;
		assert_int_equal(pair_run(&p), 0);
		assert_int_equal(p.rc_i, -EACCES);
		assert_no_keys(&p);
	}
	pair_free(&p);
}

static void test_election(void **state)
{
	const uint16_t req[] = { KEX_ID_MLKEM768 };
	struct pair p;
	int a = proto_is_initiator("node-a", "node-b", CLASS);
	int b = proto_is_initiator("node-b", "node-a", CLASS);
	int spread = 0;

	(void)state;
	assert_true(a == 0 || a == 1);
	assert_int_equal(a + b, 1);
	assert_int_equal(proto_is_initiator("node-a", "node-a", CLASS), -EINVAL);
	assert_int_equal(proto_is_initiator("node a", "node-b", CLASS), -EINVAL);
	assert_int_equal(proto_is_initiator("node-a", "node-b", "Bad"), -EINVAL);
	/* the class takes part: across classes both nodes initiate some */
	for (int i = 0; i < 32; i++) {
		char cls[16];

		snprintf(cls, sizeof(cls), "class%d", i);
		spread += proto_is_initiator("node-a", "node-b", cls);
	}
	assert_true(spread > 0 && spread < 32);

	/* the non-elected side cannot initiate */
	pair_init(&p, req, 1);
	p.ci.my_id = id_resp;
	p.ci.peer_id = id_init;
	assert_int_equal(hs_init(p.hi, &p.ci), -EACCES);
	pair_free(&p);
}

static void test_mceliece_pin_mismatch(void **state)
{
	const uint16_t req[] = { KEX_ID_MCELIECE460896 };
	struct hs_static_key bad[4];
	uint8_t wrong_id[HS_STATIC_ID_LEN];
	struct pair p;

	(void)state;
	if (!kex_method_by_id(KEX_ID_MCELIECE460896))
		skip();
	/* the responder's pin of the initiator's key is another key's id */
	pair_init(&p, req, 1);
	memcpy(bad, p.cr.static_keys, keys_a.n * sizeof(bad[0]));
	memset(wrong_id, 0x11, sizeof(wrong_id));
	for (size_t i = 0; i < keys_a.n; i++)
		bad[i].peer_pk_id = wrong_id;
	p.cr.static_keys = bad;
	assert_int_equal(pair_run(&p), 0);
	assert_true(p.rc_r < 0 || p.rc_i < 0);
	assert_no_keys(&p);
	pair_free(&p);
}

/*
 * QKD: the key ID is in the transcript and the combiner; a slave copy that
 * differs fails confirmation; a key ID used before (replay) or unknown to
 * the responder fails the exchange there; no KME (no take callback) at the
 * initiator keeps a required QKD method from being offered.
 */
static void test_qkd(void **state)
{
	const uint16_t req[] = { KEX_ID_QKD014, KEX_ID_MLKEM768 };
	struct hs_result ri, rr, ri2, rr2;
	struct pair p;

	(void)state;
	if (!kex_method_by_id(KEX_ID_QKD014) || !kex_method_by_id(KEX_ID_MLKEM768))
		skip();
	pair_init(&p, req, 2);
	assert_int_equal(pair_run(&p), 0);
	assert_agree(&p, &ri, &rr);
	assert_int_equal(ri.suite.n, 2);
	assert_true(p.kme.looked[0]);
	pair_free(&p);

	/* Same QKD key bytes under another ID: different keys (the ID is bound). */
	pair_init(&p, req, 2);
	memset(p.kme.id[0], 0xee, KEX_QKD_KEY_ID_LEN);
	assert_int_equal(pair_run(&p), 0);
	assert_agree(&p, &ri2, &rr2);
	assert_false(mfs_ct_eq(ri.pool->p, ri2.pool->p, ri.pool->len));
	hs_result_done(&ri);
	hs_result_done(&rr);
	hs_result_done(&ri2);
	hs_result_done(&rr2);
	pair_free(&p);

	/* The slave's key differs: key confirmation fails, no key anywhere. */
	pair_init(&p, req, 2);
	p.kme.corrupt = true;
	assert_int_equal(pair_run(&p), 0);
	assert_int_equal(p.rc_i, -EKEYREJECTED);
	assert_no_keys(&p);
	pair_free(&p);

	/* A key ID already used at the responder: refused there (-EALREADY). */
	pair_init(&p, req, 2);
	p.kme.looked[0] = true;
	assert_int_equal(pair_run(&p), 0);
	assert_int_equal(p.rc_r, -EALREADY);
	assert_no_keys(&p);
	pair_free(&p);

	/* Unknown at the responder's KME: -ENOKEY. */
	pair_init(&p, req, 2);
	memset(p.kme.id[0], 0xee, KEX_QKD_KEY_ID_LEN);
	p.kme.next = 0;
	p.cr.qkd_arg = &p.kme;
	{
		static struct kme other;

		kme_init(&other);
		p.cr.qkd_arg = &other;
	}
	assert_int_equal(pair_run(&p), 0);
	assert_int_equal(p.rc_r, -ENOKEY);
	assert_no_keys(&p);
	pair_free(&p);

	/* No ready key at the initiator (KME outage): QKD cannot be required. */
	pair_init(&p, req, 2);
	p.ci.qkd_take = NULL;
	assert_int_equal(pair_run(&p), -EPERM);
	pair_free(&p);
}

static void test_api_misuse(void **state)
{
	const uint16_t req[] = { KEX_ID_MLKEM768 };
	uint8_t buf[HS_OUT_MAX];
	struct wbuf w = wbuf_init(buf, sizeof(buf));
	struct pair p;

	(void)state;
	pair_init(&p, req, 1);
	p.ci.tls_exporter_len = 16;
	assert_int_equal(hs_init(p.hi, &p.ci), -EINVAL);
	assert_int_equal(hs_start(p.hi, &w), -EINVAL);
	hs_done(p.hi);
	p.ci.tls_exporter_len = 48;
	p.ci.n_keys = 0;
	assert_int_equal(hs_init(p.hi, &p.ci), -EINVAL);
	hs_done(p.hi);
	p.ci.n_keys = 3;
	assert_int_equal(hs_init(p.hi, &p.ci), 0);
	assert_int_equal(hs_recv(p.hi, buf, 0, &w), -EPROTO);	/* before hs_start */
	assert_int_equal(hs_start(p.hi, &w), HS_MORE);
	assert_int_equal(hs_start(p.hi, &w), -EPROTO);
	/* a responder cannot start */
	assert_int_equal(hs_init(p.hr, &p.cr), 0);
	assert_int_equal(hs_start(p.hr, &w), -EPROTO);
	/* out too small for SELECT: fails cleanly */
	{
		uint8_t small[16];
		struct wbuf ws = wbuf_init(small, sizeof(small));

		assert_true(hs_recv(p.hr, buf, w.len, &ws) < 0);
		assert_int_equal(ws.len, 0);
	}
	hs_done(p.hi);
	hs_done(p.hi);	/* idempotent */
	hs_done(NULL);
	pair_free(&p);
}

/* Pool key IDs and keys (pool.h): layout, parsing, independence. */
static void test_pool_ids_and_keys(void **state)
{
	uint8_t xid[POOL_ID_LEN], id[POOL_ID_LEN], back[POOL_ID_LEN], bad[POOL_ID_LEN];
	uint8_t secret[POOL_SECRET_LEN], k[2][POOL_KEYS_MAX][32], k16[16];
	uint64_t tag;
	unsigned d, i;

	(void)state;
	memset(xid, 0xa5, sizeof(xid));
	pool_exchange_id_from(xid);
	assert_true(pool_exchange_id_valid(xid));
	assert_int_equal(xid[6] >> 4, 8);
	pool_key_id(xid, 0, 0, id);
	assert_memory_equal(id, xid, POOL_ID_LEN);	/* the exchange id is key (0, 0) */
	pool_key_id(xid, 1, 63, id);
	assert_int_equal(id[8], 0x81);
	assert_int_equal(id[9], 63);
	assert_int_equal(pool_key_id_parse(id, &tag, &d, &i, back), 0);
	assert_int_equal(d, 1);
	assert_int_equal(i, 63);
	assert_memory_equal(back, xid, POOL_ID_LEN);
	assert_true(tag == pool_tag(xid));
	memcpy(bad, id, POOL_ID_LEN);
	bad[9] = 64;	/* index out of range */
	assert_int_equal(pool_key_id_parse(bad, &tag, &d, &i, back), -EINVAL);
	memcpy(bad, id, POOL_ID_LEN);
	bad[6] = 0x40;	/* version 4 */
	assert_int_equal(pool_key_id_parse(bad, &tag, &d, &i, back), -EINVAL);
	memcpy(bad, id, POOL_ID_LEN);
	bad[8] = 0x83;	/* reserved bit */
	assert_int_equal(pool_key_id_parse(bad, &tag, &d, &i, back), -EINVAL);

	memset(secret, 0x17, sizeof(secret));
	for (d = 0; d < 2; d++)
		for (i = 0; i < POOL_KEYS_MAX; i++) {
			assert_int_equal(pool_key_derive(secret, d, i, 32, k[d][i]), 0);
			for (unsigned e = 0; e <= d; e++)
				for (unsigned j = 0; j < (e == d ? i : POOL_KEYS_MAX); j++)
					assert_memory_not_equal(k[d][i], k[e][j], 32);
		}
	/* the length is bound: a 16-byte key is not a prefix of the 32-byte one */
	assert_int_equal(pool_key_derive(secret, 0, 0, 16, k16), 0);
	assert_memory_not_equal(k16, k[0][0], 16);
	assert_int_equal(pool_key_derive(secret, 0, POOL_KEYS_MAX, 32, k16), -EINVAL);
	assert_int_equal(pool_key_derive(secret, 2, 0, 32, k16), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_ids_and_keys),
		cmocka_unit_test(test_all_combinations),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_drop_confirm),
		cmocka_unit_test(test_reorder),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_mitm_strip),
		cmocka_unit_test(test_wrong_exporter),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_election),
		cmocka_unit_test(test_mceliece_pin_mismatch),
		cmocka_unit_test(test_qkd),
		cmocka_unit_test(test_api_misuse),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
