/* SPDX-License-Identifier: Apache-2.0 */
#include "proto/negotiate.h"

#include <errno.h>
#include <string.h>

#include "crypto/combiner.h"

const char *proto_refuse_str(unsigned int reason)
{
	switch (reason) {
	case REFUSE_NONE: return "no refusal";
	case REFUSE_NO_COMMON_SUITE: return "no common suite";
	case REFUSE_BELOW_MIN_PQ: return "below minimum post-quantum factors";
	case REFUSE_BELOW_MIN_FAMILIES: return "below minimum method families";
	case REFUSE_REVOKED: return "a required method is revoked";
	case REFUSE_UNKNOWN_CLASS: return "unknown data protection class";
	case REFUSE_VERSION: return "no common protocol version";
	case REFUSE_COMBINER: return "combiner mode mismatch";
	case REFUSE_SUITE_TOO_LARGE: return "suite too large";
	case REFUSE_UNKNOWN_PEER: return "unknown peer node id";
	case REFUSE_NOT_OFFERED: return "suite has a method that was not offered";
	case REFUSE_NOT_CANONICAL: return "suite not in canonical order";
	case REFUSE_MISSING_REQUIRED: return "suite lacks a required method";
	case REFUSE_BAD_OFFER: return "inconsistent method offer";
	case REFUSE_NOT_INITIATOR: return "sender is not the elected initiator";
	}
	return "unknown reason";
}

static bool in_list(const uint16_t *ids, size_t n, uint16_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static bool has_duplicates(const uint16_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (in_list(ids, i, ids[i]))
			return true;
	return false;
}

bool negotiate_bidirectional(const struct kex_method *m)
{
	return m && m->family == KEX_FAMILY_CODE;
}

static bool usable(const struct negotiate_local *local, uint16_t id)
{
	const struct kex_method *m = kex_method_by_id(id);	/* NULL unless available() */

	if (!m)
		return false;
	return !local->usable || local->usable(local->usable_arg, m);
}

static bool revoked(const struct negotiate_local *local, uint16_t id)
{
	return local->revoked && in_list(local->revoked, local->n_revoked, id);
}

bool negotiate_method_ok(const struct negotiate_local *local, uint16_t id)
{
	return !revoked(local, id) && usable(local, id);
}

size_t negotiate_combiner_inputs(const struct proto_suite *s)
{
	size_t n = 1;	/* the TLS exporter */

	for (size_t i = 0; i < s->n; i++)
		n += negotiate_bidirectional(kex_method_by_id(s->ids[i])) ? 2 : 1;
	return n;
}

/* Insert id into the ascending list s unless present; false when full. */
static bool suite_add(struct proto_suite *s, uint16_t id)
{
	size_t i = 0;

	while (i < s->n && s->ids[i] < id)
		i++;
	if (i < s->n && s->ids[i] == id)
		return true;
	if (s->n >= NEGOTIATE_SUITE_MAX)
		return false;
	memmove(&s->ids[i + 1], &s->ids[i], (s->n - i) * sizeof(s->ids[0]));
	s->ids[i] = id;
	s->n++;
	return true;
}

/* Minimums of one policy against a suite of registry methods; 0 or a reason. */
static unsigned int check_minimums(const struct class_policy *p, const struct proto_suite *s)
{
	unsigned int pq = 0, families = 0;
	uint32_t seen = 0;

	for (size_t i = 0; i < s->n; i++) {
		const struct kex_method *m = kex_method_by_id(s->ids[i]);

		if (!m)
			return REFUSE_NO_COMMON_SUITE;
		if (m->post_quantum && m->family != KEX_FAMILY_CLASSICAL)
			pq++;
		if (!(seen & (1U << m->family))) {
			seen |= 1U << m->family;
			families++;
		}
	}
	if (pq < p->min_pq_factors)
		return REFUSE_BELOW_MIN_PQ;
	if (families < p->min_families)
		return REFUSE_BELOW_MIN_FAMILIES;
	return REFUSE_NONE;
}

static unsigned int check_combiner(enum combiner_mode a, enum combiner_mode b,
				   const struct proto_suite *s)
{
	if (a != b || !combiner_cid(a))
		return REFUSE_COMBINER;
	if (a == COMBINER_XOR_ITS) {
		bool its = false;

		for (size_t i = 0; i < s->n; i++) {
			const struct kex_method *m = kex_method_by_id(s->ids[i]);

			its = its || (m && m->family == KEX_FAMILY_QKD);
		}
		if (!its)
			return REFUSE_COMBINER;
	}
	return REFUSE_NONE;
}

static bool policy_lists_ok(const struct class_policy *p)
{
	return p->n_required <= POLICY_MAX_METHODS && p->n_optional <= POLICY_MAX_METHODS &&
	       !has_duplicates(p->required, p->n_required) &&
	       !has_duplicates(p->optional, p->n_optional);
}

int negotiate_select(const struct negotiate_local *local, const struct class_policy *peer,
		     struct proto_suite *ret_suite, unsigned int *ret_reason)
{
	const struct class_policy *lp = local->policy;
	struct proto_suite s = { .n = 0 };
	unsigned int reason = REFUSE_NONE;
	const struct class_policy *sides[2] = { lp, peer };

	if (!policy_lists_ok(lp) || !policy_lists_ok(peer)) {
		reason = REFUSE_BAD_OFFER;
		goto out;
	}
	/* Required by either side: all-of. Revoked first: it is the more specific reason. */
	for (size_t k = 0; k < 2; k++) {
		for (size_t i = 0; i < sides[k]->n_required; i++) {
			uint16_t id = sides[k]->required[i];

			if (revoked(local, id)) {
				reason = REFUSE_REVOKED;
				goto out;
			}
			if (!usable(local, id)) {
				reason = REFUSE_NO_COMMON_SUITE;
				goto out;
			}
			if (!suite_add(&s, id)) {
				reason = REFUSE_SUITE_TOO_LARGE;
				goto out;
			}
		}
	}
	/* Optional: used when both list it (a side's required counts as listed). */
	for (size_t k = 0; k < 2; k++) {
		const struct class_policy *other = sides[1 - k];

		for (size_t i = 0; i < sides[k]->n_optional; i++) {
			uint16_t id = sides[k]->optional[i];

			if (!in_list(other->optional, other->n_optional, id) &&
			    !in_list(other->required, other->n_required, id))
				continue;
			if (!negotiate_method_ok(local, id))
				continue;
			if (!suite_add(&s, id)) {
				reason = REFUSE_SUITE_TOO_LARGE;
				goto out;
			}
		}
	}
	if (s.n == 0) {
		reason = REFUSE_NO_COMMON_SUITE;
		goto out;
	}
	if ((reason = check_minimums(lp, &s)) != REFUSE_NONE ||
	    (reason = check_minimums(peer, &s)) != REFUSE_NONE ||
	    (reason = check_combiner(lp->combiner, peer->combiner, &s)) != REFUSE_NONE)
		goto out;
	if (negotiate_combiner_inputs(&s) > COMBINER_MAX_METHODS)
		reason = REFUSE_SUITE_TOO_LARGE;
out:
	if (reason != REFUSE_NONE) {
		*ret_reason = reason;
		return -EPERM;
	}
	*ret_suite = s;
	return 0;
}

int negotiate_check(const struct negotiate_local *local, const struct class_policy *offer,
		    const struct proto_suite *suite, unsigned int *ret_reason)
{
	const struct class_policy *lp = local->policy;
	unsigned int reason = REFUSE_NONE;

	if (suite->n == 0 || suite->n > NEGOTIATE_SUITE_MAX) {
		reason = REFUSE_NO_COMMON_SUITE;
		goto out;
	}
	for (size_t i = 0; i < suite->n; i++) {
		uint16_t id = suite->ids[i];

		if (i > 0 && suite->ids[i - 1] >= id) {
			reason = REFUSE_NOT_CANONICAL;
			goto out;
		}
		if (!in_list(offer->required, offer->n_required, id) &&
		    !in_list(offer->optional, offer->n_optional, id)) {
			reason = REFUSE_NOT_OFFERED;
			goto out;
		}
		if (revoked(local, id)) {
			reason = REFUSE_REVOKED;
			goto out;
		}
		if (!usable(local, id)) {
			reason = REFUSE_NO_COMMON_SUITE;
			goto out;
		}
	}
	for (size_t i = 0; i < lp->n_required; i++)
		if (!in_list(suite->ids, suite->n, lp->required[i])) {
			reason = REFUSE_MISSING_REQUIRED;
			goto out;
		}
	for (size_t i = 0; i < offer->n_required; i++)
		if (!in_list(suite->ids, suite->n, offer->required[i])) {
			reason = REFUSE_MISSING_REQUIRED;
			goto out;
		}
	if ((reason = check_minimums(lp, suite)) != REFUSE_NONE ||
	    (reason = check_minimums(offer, suite)) != REFUSE_NONE ||
	    (reason = check_combiner(lp->combiner, offer->combiner, suite)) != REFUSE_NONE)
		goto out;
	if (negotiate_combiner_inputs(suite) > COMBINER_MAX_METHODS)
		reason = REFUSE_SUITE_TOO_LARGE;
out:
	if (reason != REFUSE_NONE) {
		*ret_reason = reason;
		return -EPERM;
	}
	return 0;
}

int negotiate_offer(const struct negotiate_local *local, struct class_policy *ret,
		    unsigned int *ret_reason)
{
	const struct class_policy *lp = local->policy;
	struct class_policy o = *lp;
	unsigned int reason = REFUSE_NONE;

	if (!policy_lists_ok(lp)) {
		reason = REFUSE_BAD_OFFER;
		goto out;
	}
	for (size_t i = 0; i < lp->n_required; i++) {
		if (revoked(local, lp->required[i])) {
			reason = REFUSE_REVOKED;
			goto out;
		}
		if (!usable(local, lp->required[i])) {
			reason = REFUSE_NO_COMMON_SUITE;
			goto out;
		}
	}
	o.n_optional = 0;
	for (size_t i = 0; i < lp->n_optional; i++) {
		uint16_t id = lp->optional[i];

		if (negotiate_method_ok(local, id) && !in_list(lp->required, lp->n_required, id))
			o.optional[o.n_optional++] = id;
	}
	if (o.n_required + o.n_optional == 0)
		reason = REFUSE_NO_COMMON_SUITE;
out:
	if (reason != REFUSE_NONE) {
		*ret_reason = reason;
		return -EPERM;
	}
	*ret = o;
	return 0;
}
