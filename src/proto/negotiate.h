/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Suite negotiation between two data-protection-class policies: pure
 * functions, no I/O, no allocation. Rules: docs/protocol.md §4.
 *
 * The responder selects (negotiate_select): the suite is
 *
 *   every method required by either side
 *   ∪ every optional method both sides list (required-by-one counts as listed)
 *   minus optional methods that are locally revoked or not usable locally,
 *
 * in canonical order (ascending codepoint), so that both sides agree without
 * relying on anyone's preference order. A required method that is locally
 * revoked refuses (REFUSE_REVOKED); one not usable locally, or an empty
 * suite, refuses with REFUSE_NO_COMMON_SUITE. Then the minimums of BOTH
 * sides must hold: post-quantum factors (methods with post_quantum = true;
 * X25519 never counts) and distinct families. Both combiner modes must be
 * equal (XOR_ITS additionally needs an ITS method, i.e. QKD, in the suite),
 * and the suite must fit the combiner (method runs + the TLS exporter input
 * <= COMBINER_MAX_METHODS; a static-key method runs twice).
 *
 * The initiator checks what came back (negotiate_check): canonical order,
 * nothing it did not offer, nothing revoked or unusable locally, everything
 * its own policy requires, its own minimums. A responder (or a
 * man in the middle) that selects less than the initiator requires fails
 * here; one that drops an optional method is caught by the transcript.
 */
#ifndef MFS_PROTO_NEGOTIATE_H
#define MFS_PROTO_NEGOTIATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kex/kex.h"
#include "proto/policy.h"

/* Reason codes of REFUSE (and of a failed check); wire values, never reused. */
enum proto_refuse {
	REFUSE_NONE = 0,
	REFUSE_NO_COMMON_SUITE = 1,	/* a required method is not available, or nothing in common */
	REFUSE_BELOW_MIN_PQ = 2,	/* fewer post-quantum factors than a side's minimum */
	REFUSE_BELOW_MIN_FAMILIES = 3,	/* fewer distinct families than a side's minimum */
	REFUSE_REVOKED = 4,		/* a required method is revoked here */
	REFUSE_UNKNOWN_CLASS = 5,	/* no such data protection class here */
	REFUSE_VERSION = 6,		/* no common protocol version */
	REFUSE_COMBINER = 7,		/* combiner modes differ, or XOR_ITS without ITS input */
	REFUSE_SUITE_TOO_LARGE = 8,	/* more method runs than the combiner takes */
	REFUSE_UNKNOWN_PEER = 9,	/* the node id is not the configured peer */
	REFUSE_NOT_OFFERED = 10,	/* (initiator check) the suite has a method not offered */
	REFUSE_NOT_CANONICAL = 11,	/* (initiator check) the suite is not in canonical order */
	REFUSE_MISSING_REQUIRED = 12,	/* (initiator check) a locally required method is missing */
	REFUSE_BAD_OFFER = 13,		/* the offer itself is inconsistent (duplicates, >max) */
	REFUSE_NOT_INITIATOR = 14,	/* the sender is not the elected initiator of the class */
};

/* Short text for a reason code ("no common suite"); "unknown reason" otherwise. */
const char *proto_refuse_str(unsigned int reason);

#define NEGOTIATE_SUITE_MAX POLICY_MAX_METHODS

/* A negotiated suite: method ids, strictly ascending. */
struct proto_suite {
	uint16_t ids[NEGOTIATE_SUITE_MAX];
	size_t n;
};

/* The local side of a negotiation. */
struct negotiate_local {
	const struct class_policy *policy;
	const uint16_t *revoked;	/* locally revoked method ids */
	size_t n_revoked;
	/*
	 * Whether a method can run here (e.g. a McEliece static key pair and
	 * the peer's pin are configured). NULL: every method the registry
	 * has and that is available() is usable. Called only for registry
	 * methods.
	 */
	bool (*usable)(void *arg, const struct kex_method *m);
	void *usable_arg;
};

/*
 * True for methods that run once in each direction (the static-key
 * methods: Classic McEliece, so that each side's static key is used).
 */
bool negotiate_bidirectional(const struct kex_method *m);

/* The method is in the registry, available, usable and not revoked locally. */
bool negotiate_method_ok(const struct negotiate_local *local, uint16_t id);

/*
 * Number of combiner inputs a suite needs: one per method, one more per
 * bidirectional method, plus one for the TLS exporter.
 */
size_t negotiate_combiner_inputs(const struct proto_suite *s);

/*
 * Responder: select a suite for the peer's offer (peer->required,
 * peer->optional, peer->min_*, peer->combiner; the rest is ignored).
 * Returns 0 and *ret_suite, or -EPERM and *ret_reason (enum proto_refuse).
 * Only the output that matches the return value is written.
 */
int negotiate_select(const struct negotiate_local *local, const struct class_policy *peer,
		     struct proto_suite *ret_suite, unsigned int *ret_reason);

/*
 * Initiator: check the suite the responder selected against what was
 * offered (offer: the policy as sent in HELLO) and the local rules above.
 * Returns 0, or -EPERM and *ret_reason.
 */
int negotiate_check(const struct negotiate_local *local, const struct class_policy *offer,
		    const struct proto_suite *suite, unsigned int *ret_reason);

/*
 * Initiator: the offer to send for the local policy: required as
 * configured (-EPERM and REFUSE_REVOKED / REFUSE_NO_COMMON_SUITE when one is
 * revoked / not usable here, REFUSE_BAD_OFFER on a duplicate), optional
 * minus revoked and unusable methods, minimums and combiner copied.
 * *ret is a copy of the local policy with the lists rewritten.
 */
int negotiate_offer(const struct negotiate_local *local, struct class_policy *ret,
		    unsigned int *ret_reason);

#endif
