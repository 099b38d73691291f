/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the engine (src/cf/): what its files share. The public side
 * is cf.h. The engine is one object split by concern:
 *
 *   cf.c        exchanges (start, answer, group commit), scheduling, status,
 *               setup
 *   link.c      the link: output queue, envelope framing and dispatch,
 *               link up/down
 *   held.c      HELD: exchange reconciliation on link-up
 *   revoke.c    method revocation and restore (persisted, REVOKE/RESTORE)
 *   qkd.c       qkd014: the daemon's KME client behind cf_qkd_ops, the
 *               QKD_IDS / QKD_READY envelopes
 *   push_env.c  TAKEN / INSTALLED envelopes for the push layer (cf_hooks)
 *   rotate.c    static key rotation (ROTATE / ROTATE_ACK)
 *   reconf.c    cf_reconfigure
 *   commit.c    the group-commit writer thread (commit.h)
 *
 * Envelope handlers (cf_on_*, cf_rot_on_*) get a body whose length
 * link.c has checked; a negative errno closes the link.
 */
#ifndef MFS_CF_INTERNAL_H
#define MFS_CF_INTERNAL_H

#include "cf/cf.h"
#include "proto/handshake.h"

/* One exchange, mine (initiator) or the peer's (responder). */
struct cf_xchg {
	uint32_t xid;			/* without CF_XID_SENDER */
	bool mine;			/* this side initiated */
	struct cf_class *cls;		/* initiator: its class */
	struct hs hs;
	struct hs_result res;
	bool have_res;			/* initiator: done, waiting for COMMIT */
	bool pending;			/* in cf_peer.pending: stored when the input call ends */
	uint16_t revoked[CF_MAX_REVOKED];
	int64_t started;
	int64_t t0_ms;
	/* the static keys as they were when it started (a rotation may replace them) */
	struct hs_static_key sk[CF_MAX_STATIC];
	size_t n_sk;
	/*
	 * the policies it started with (a reload may change or remove the class),
	 * qkd014 adjusted to this node's KME (cf_qkd_policy)
	 */
	struct class_policy policies[CF_MAX_CLASSES];
};

/* ---- cf.c ---- */

/* Release an exchange (NULL-safe). */
void cf_xchg_free(struct cf_xchg *x);
/* Set up class c of p from c->cfg (election, rekey timer from now). */
int cf_class_init(struct cf *cf, struct cf_peer *p, struct cf_class *c, int64_t now);
/* A running exchange still holds a copy of k. */
bool cf_static_in_use(const struct cf *cf, const struct keyring_key *k);
/* The class's policy lists method (required or optional). */
bool cf_class_uses(const struct cf_class *c, uint16_t method);
/* A required method of the class is revoked (the class fails closed). */
bool cf_class_requires_revoked(const struct cf *cf, const struct cf_class *c);
/* Store the exchanges finished during this input call (group commit), send COMMITs. */
void cf_pending_flush(struct cf_peer *p, int64_t now);
/* PROTO envelopes of an exchange: mine (xid without CF_XID_SENDER), the peer's. */
int cf_on_mine(struct cf_peer *p, uint32_t xid, const uint8_t *f, size_t len, int64_t now);
int cf_on_theirs(struct cf_peer *p, uint32_t xid, const uint8_t *f, size_t len, int64_t now);
/* COMMIT for my exchange xid: the responder stored it. */
int cf_on_commit(struct cf_peer *p, uint32_t xid);

/* ---- link.c ---- */

/* Queue one envelope; -ENOTCONN when the link is down, -ENOBUFS when the queue is full. */
int cf_env_send(struct cf_peer *p, uint8_t kind, uint32_t xid, const void *body, size_t len);
/* Send every frame in buf as its own PROTO envelope. */
int cf_send_frames(struct cf_peer *p, uint32_t wire_xid, const uint8_t *buf, size_t len);
/* A NOTICE-shaped message (ABORT, REVOKE, REVOKE_ACK); text made printable and bounded. */
int cf_send_notice(struct cf_peer *p, uint32_t wire_xid, uint8_t type, uint16_t code,
		   const char *text);

/* ---- held.c ---- */

/* Link up, initiator of class c: send HELD (before any exchange of the link). */
void cf_held_send(struct cf_peer *p, struct cf_class *c, int64_t now);
int cf_on_held(struct cf_peer *p, const uint8_t *e, int64_t now);

/* ---- revoke.c ---- */

/* Load the persisted revocations (cf_new); a missing file is none. */
int cf_revoked_load(struct cf *cf);
/* who as the store takes it (1..STORE_WHO_MAX), truncated into buf. */
const char *cf_store_who(const char *who, char buf[static STORE_WHO_MAX + 1]);
/* A PROTO envelope with xid 0: REVOKE or REVOKE_ACK from the peer. */
int cf_on_link_msg(struct cf_peer *p, const uint8_t *f, size_t len, int64_t now);
int cf_on_restore(struct cf_peer *p, uint16_t method, int64_t now);

/* ---- qkd.c ---- */

enum cf_qkd_state cf_qkd_state(const struct cf_peer *p, int64_t *since, char *why, size_t n);
/* The qkd014 callbacks of an exchange with p (none without cf_qkd_ops). */
void cf_qkd_hs_config(struct cf_peer *p, struct hs_config *hc);
/* in with an optional qkd014 adjusted to this node's KME state (see qkd.c). */
void cf_qkd_policy(struct cf_peer *p, struct cf_class *c, const struct class_policy *in,
		   struct class_policy *out, int64_t now);
int cf_on_qkd_ids(struct cf_peer *p, const uint8_t *e, size_t len);
int cf_on_qkd_ready(struct cf_peer *p, const uint8_t *e, size_t len);

/* ---- push_env.c ---- */

/* kind: CF_ENV_TAKEN or CF_ENV_INSTALLED. */
int cf_on_push_env(struct cf_peer *p, uint8_t kind, const uint8_t *e, size_t len, int64_t now);

/* ---- rotate.c ---- */

/* Rebuild p->skeys from the keyring (own key in use for p, its pins). */
void cf_rot_rebuild(struct cf *cf, struct cf_peer *p);
/* Link up: announce what p has not acknowledged yet (before any exchange). */
void cf_rot_link_up(struct cf_peer *p);
void cf_rot_link_down(struct cf_peer *p);
int cf_rot_on_rotate(struct cf_peer *p, const uint8_t *body, size_t len, int64_t now);
int cf_rot_on_ack(struct cf_peer *p, const uint8_t *body, int64_t now);
/* Grace periods: destroy the previous own key, drop previous pins. */
void cf_rot_tick(struct cf *cf, int64_t now);
void cf_rot_free(struct cf *cf);

#endif
