/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Suite negotiation: a table of (local, peer) policy pairs with the
 * expected suite or refusal, including downgrades (a peer that offers less
 * than local policy requires), revoked and unusable methods, X25519 never
 * counting as post-quantum, minimum families, and the initiator's check
 * of what the responder selected.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "kex/kex.h"
#include "proto/negotiate.h"

#define ML7 KEX_ID_MLKEM768
#define ML10 KEX_ID_MLKEM1024
#define MC4 KEX_ID_MCELIECE460896
#define MC6 KEX_ID_MCELIECE6688128
#define PSK KEX_ID_PSK
#define X KEX_ID_X25519
#define QKD KEX_ID_QKD014

#define L(...) { __VA_ARGS__ }

struct side {
	uint16_t req[8], opt[8];
	uint8_t min_pq, min_fam;
};

struct row {
	const char *what;
	struct side local, peer;
	uint16_t revoked[4];
	uint16_t unusable;
	unsigned int reason;		/* REFUSE_NONE: expect suite */
	uint16_t suite[8];
};

static size_t count(const uint16_t *l)
{
	size_t n = 0;

	while (n < 8 && l[n])
		n++;
	return n;
}

static void to_policy(const struct side *s, struct class_policy *p)
{
	policy_init(p, "bulk");
	p->n_required = count(s->req);
	memcpy(p->required, s->req, sizeof(p->required));
	p->n_optional = count(s->opt);
	memcpy(p->optional, s->opt, sizeof(p->optional));
	p->min_pq_factors = s->min_pq;
	p->min_families = s->min_fam;
}

static bool usable_except(void *arg, const struct kex_method *m)
{
	return m->id != *(const uint16_t *)arg;
}

static const struct row rows[] = {
	{ "same single method", { L(ML7) }, { L(ML7) }, {}, 0, REFUSE_NONE, L(ML7) },
	{ "union of required, canonical order", { L(PSK, ML7), {}, 2, 2 }, { L(MC4), {}, 2, 2 },
	  {}, 0, REFUSE_NONE, L(ML7, MC4, PSK) },
	{ "optional used when both list it", { L(ML7), L(X, PSK) }, { L(ML7), L(X) }, {}, 0,
	  REFUSE_NONE, L(ML7, X) },
	{ "optional of one = required of other", { L(ML7), L(MC4) }, { L(ML7, MC4) }, {}, 0,
	  REFUSE_NONE, L(ML7, MC4) },
	{ "optional only on one side is dropped", { L(ML7), L(X) }, { L(ML7) }, {}, 0,
	  REFUSE_NONE, L(ML7) },
	{ "only optional in common", { {}, L(ML7, X) }, { {}, L(X, ML10) }, {}, 0, REFUSE_NONE,
	  L(X) },
	{ "nothing in common", { {}, L(ML7) }, { {}, L(X) }, {}, 0, REFUSE_NO_COMMON_SUITE, {} },
	/* downgrade: the peer offers fewer methods than local policy requires; the union still
	 * contains them, so the peer gets them or the minimums refuse */
	{ "downgrade: peer drops a local requirement", { L(ML7, MC4), {}, 2, 2 },
	  { L(ML7), {}, 1, 1 }, {}, 0, REFUSE_NONE, L(ML7, MC4) },
	{ "downgrade: peer offers only classical", { {}, L(ML7, X), 1, 1 }, { L(X), {}, 0, 0 },
	  {}, 0, REFUSE_BELOW_MIN_PQ, {} },
	{ "X25519 never counts as PQ", { L(ML7, X), {}, 2, 0 }, { L(ML7, X), {}, 0, 0 }, {}, 0,
	  REFUSE_BELOW_MIN_PQ, {} },
	{ "peer's PQ minimum applies too", { L(ML7, X), {}, 1, 0 }, { L(ML7), {}, 2, 0 }, {}, 0,
	  REFUSE_BELOW_MIN_PQ, {} },
	{ "two lattice methods are one family", { L(ML7, ML10), {}, 2, 2 }, { L(ML7, ML10) }, {},
	  0, REFUSE_BELOW_MIN_FAMILIES, {} },
	{ "peer's family minimum applies too", { L(ML7, ML10), {}, 2, 1 },
	  { L(ML7), {}, 0, 3 }, {}, 0, REFUSE_BELOW_MIN_FAMILIES, {} },
	{ "families: lattice+code+psk+classical", { L(ML7, MC4, PSK, X), {}, 3, 4 },
	  { L(ML7), {}, 0, 0 }, {}, 0, REFUSE_NONE, L(ML7, MC4, PSK, X) },
	{ "revoked required refuses", { L(ML7, MC4) }, { L(ML7) }, L(MC4), 0, REFUSE_REVOKED, {} },
	{ "revoked peer-required refuses", { L(ML7) }, { L(ML7, MC4) }, L(MC4), 0,
	  REFUSE_REVOKED, {} },
	{ "revoked optional excluded", { L(ML7), L(X) }, { L(ML7), L(X) }, L(X), 0, REFUSE_NONE,
	  L(ML7) },
	{ "revoked optional below the minimum", { L(ML7), L(MC4), 2, 0 }, { L(ML7), L(MC4) },
	  L(MC4), 0, REFUSE_BELOW_MIN_PQ, {} },
	{ "unusable optional excluded", { L(ML7), L(X) }, { L(ML7), L(X) }, {}, X, REFUSE_NONE,
	  L(ML7) },
	{ "unusable required refuses", { L(ML7) }, { L(ML7, X) }, {}, X, REFUSE_NO_COMMON_SUITE,
	  {} },
	{ "unknown codepoint required", { L(ML7) }, { L(ML7, 0x7777) }, {}, 0,
	  REFUSE_NO_COMMON_SUITE, {} },
	{ "unknown codepoint optional ignored", { L(ML7), L(0x7777) }, { L(ML7), L(0x7777) }, {},
	  0, REFUSE_NONE, L(ML7) },
	{ "QKD required, no KME here", { L(ML7) }, { L(QKD) }, {}, QKD, REFUSE_NO_COMMON_SUITE, {} },
	{ "QKD optional, no KME here", { L(ML7), L(QKD) }, { L(ML7), L(QKD) }, {}, QKD, REFUSE_NONE,
	  L(ML7) },
	{ "QKD required by the peer", { L(ML7) }, { L(ML7, QKD) }, {}, 0, REFUSE_NONE, L(ML7, QKD) },
	{ "duplicates in an offer", { L(ML7) }, { L(ML7, ML7) }, {}, 0, REFUSE_BAD_OFFER, {} },
	{ "too many runs for the combiner", { L(ML7, ML10, MC4, MC6, PSK, X) }, { L(ML7) }, {}, 0,
	  REFUSE_SUITE_TOO_LARGE, {} },
	{ "four methods with two McEliece fit", { L(ML7, ML10, MC4, MC6) }, { L(ML7) }, {}, 0,
	  REFUSE_NONE, L(ML7, ML10, MC4, MC6) },
};

static bool row_built(const struct row *r)
{
	static const uint16_t all[] = { ML7, ML10, MC4, MC6, PSK, X };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (!kex_method_by_id(all[i]))
			return false;	/* the table assumes every method is built */
	(void)r;
	return true;
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct class_policy lp, pp;
		uint16_t unusable = r->unusable;
		struct negotiate_local local = {
			.policy = &lp,
			.revoked = r->revoked,
			.n_revoked = count(r->revoked),
			.usable = unusable ? usable_except : NULL,
			.usable_arg = &unusable,
		};
		struct proto_suite s = { .n = 99 };
		unsigned int reason = 99;
		int rc;

		if (!row_built(r))
			skip();
		to_policy(&r->local, &lp);
		to_policy(&r->peer, &pp);
		rc = negotiate_select(&local, &pp, &s, &reason);
		print_message("%-45s -> %s\n", r->what, rc == 0 ? "suite" : proto_refuse_str(reason));
		if (r->reason == REFUSE_NONE) {
			assert_int_equal(rc, 0);
			assert_int_equal(reason, 99);	/* untouched */
			assert_int_equal(s.n, count(r->suite));
			assert_memory_equal(s.ids, r->suite, s.n * sizeof(uint16_t));
		} else {
			assert_int_equal(rc, -EPERM);
			assert_int_equal(reason, r->reason);
			assert_int_equal(s.n, 99);	/* untouched */
		}
	}
}

/* The result does not depend on the order of either list (both sides agree). */
static void test_order_independent(void **state)
{
	struct class_policy a, b;
	struct negotiate_local la = { .policy = &a }, lb = { .policy = &b };
	struct proto_suite s1, s2;
	unsigned int reason;

	(void)state;
	if (!kex_method_by_id(MC4) || !kex_method_by_id(X) || !kex_method_by_id(PSK))
		skip();
	to_policy(&(struct side){ L(X, ML7), L(PSK, MC4) }, &a);
	to_policy(&(struct side){ L(ML7), L(MC4, PSK) }, &b);
	assert_int_equal(negotiate_select(&la, &b, &s1, &reason), 0);
	assert_int_equal(negotiate_select(&lb, &a, &s2, &reason), 0);
	assert_int_equal(s1.n, 4);
	assert_int_equal(s1.n, s2.n);
	assert_memory_equal(s1.ids, s2.ids, s1.n * 2);
}

static void test_initiator_check(void **state)
{
	struct class_policy lp, offer;
	struct negotiate_local local = { .policy = &lp };
	unsigned int reason = 0;
	struct proto_suite s;

	(void)state;
	if (!kex_method_by_id(MC4) || !kex_method_by_id(X))
		skip();
	to_policy(&(struct side){ L(ML7, MC4), L(X), 2, 2 }, &lp);
	assert_int_equal(negotiate_offer(&local, &offer, &reason), 0);

	s = (struct proto_suite){ L(ML7, MC4, X), 3 };
	assert_int_equal(negotiate_check(&local, &offer, &s, &reason), 0);
	s = (struct proto_suite){ L(ML7, MC4), 2 };	/* optional dropped: allowed here */
	assert_int_equal(negotiate_check(&local, &offer, &s, &reason), 0);
	/* a responder (or MITM) selecting fewer than required */
	s = (struct proto_suite){ L(ML7, X), 2 };
	assert_int_equal(negotiate_check(&local, &offer, &s, &reason), -EPERM);
	assert_int_equal(reason, REFUSE_MISSING_REQUIRED);
	s = (struct proto_suite){ L(ML7), 1 };
	assert_int_equal(negotiate_check(&local, &offer, &s, &reason), -EPERM);
	/* something not offered */
	s = (struct proto_suite){ L(ML7, MC4, PSK), 3 };
	assert_int_equal(negotiate_check(&local, &offer, &s, &reason), -EPERM);
	assert_int_equal(reason, REFUSE_NOT_OFFERED);
	/* not canonical, duplicates */
	s = (struct proto_suite){ L(MC4, ML7), 2 };
	assert_int_equal(negotiate_check(&local, &offer, &s, &reason), -EPERM);
	assert_int_equal(reason, REFUSE_NOT_CANONICAL);
	s = (struct proto_suite){ L(ML7, ML7, MC4), 3 };
	assert_int_equal(negotiate_check(&local, &offer, &s, &reason), -EPERM);
	assert_int_equal(reason, REFUSE_NOT_CANONICAL);
	s = (struct proto_suite){ {}, 0 };
	assert_int_equal(negotiate_check(&local, &offer, &s, &reason), -EPERM);
	/* revoked since the offer */
	{
		uint16_t rev[] = { X };

		local.revoked = rev;
		local.n_revoked = 1;
		s = (struct proto_suite){ L(ML7, MC4, X), 3 };
		assert_int_equal(negotiate_check(&local, &offer, &s, &reason), -EPERM);
		assert_int_equal(reason, REFUSE_REVOKED);
		/* and the offer leaves a revoked optional out */
		assert_int_equal(negotiate_offer(&local, &offer, &reason), 0);
		assert_int_equal(offer.n_optional, 0);
		rev[0] = ML7;	/* a revoked requirement: no offer at all */
		assert_int_equal(negotiate_offer(&local, &offer, &reason), -EPERM);
		assert_int_equal(reason, REFUSE_REVOKED);
	}
	/* minimums of the initiator */
	local.revoked = NULL;
	local.n_revoked = 0;
	to_policy(&(struct side){ {}, L(ML7, X), 1, 0 }, &lp);
	assert_int_equal(negotiate_offer(&local, &offer, &reason), 0);
	s = (struct proto_suite){ L(X), 1 };
	assert_int_equal(negotiate_check(&local, &offer, &s, &reason), -EPERM);
	assert_int_equal(reason, REFUSE_BELOW_MIN_PQ);
}

static void test_misc(void **state)
{
	struct proto_suite s = { L(ML7, MC4), 2 };

	(void)state;
	assert_string_equal(proto_refuse_str(REFUSE_NO_COMMON_SUITE), "no common suite");
	assert_string_equal(proto_refuse_str(999), "unknown reason");
	if (kex_method_by_id(MC4)) {
		assert_true(negotiate_bidirectional(kex_method_by_id(MC4)));
		assert_int_equal(negotiate_combiner_inputs(&s), 4);
	}
	if (kex_method_by_id(ML7))
		assert_false(negotiate_bidirectional(kex_method_by_id(ML7)));
	assert_false(negotiate_bidirectional(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_order_independent),
		cmocka_unit_test(test_initiator_check),
		cmocka_unit_test(test_misc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
