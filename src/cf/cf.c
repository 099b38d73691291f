/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MFS Control Function engine (see cf.h and docs/mfsd.md): exchanges
 * (started, answered, stored by group commit, COMMITted), the scheduling of
 * rekeys and refills, the degraded-state report and setup. The link, HELD,
 * revocation, QKD and push envelopes are in the files next to it
 * (internal.h lists them).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/secret.h"
#include "cf/internal.h"
#include "crypto/rng.h"
#include "kex/psk_file.h"
#include "proto/negotiate.h"

#define CF_WANT_EVERY_S 5

_Static_assert(CF_TEXT_MAX == MSG_TEXT_MAX, "CF_TEXT_MAX");
_Static_assert(CF_FRAME_MAX == MSG_FRAME_MAX, "CF_FRAME_MAX");
_Static_assert(CF_KEY_ID_LEN == STORE_KEY_ID_LEN, "CF_KEY_ID_LEN");

static void suite_text(const uint16_t *ids, size_t n, char *out, size_t size)
{
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && off < size; i++) {
		int w = snprintf(out + off, size - off, "%s%s", i ? "+" : "", kex_method_name(ids[i]));
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

/* ---- exchanges ---- */

void cf_xchg_free(struct cf_xchg *x)
{
	if (!x)
		return;
	hs_result_done(&x->res);
	hs_done(&x->hs);
	free(x);
}

static size_t revoked_ids(const struct cf *cf, uint16_t *out)
{
	for (size_t i = 0; i < cf->n_revoked; i++)
		out[i] = cf->revoked[i].method;
	return cf->n_revoked;
}

static void hs_config_common(struct cf_peer *p, struct cf_xchg *x, struct hs_config *hc)
{
	struct cf *cf = p->cf;

	memset(hc, 0, sizeof(*hc));
	hc->my_id = cf->cfg.node_id;
	hc->peer_id = p->cfg.name;
	hc->revoked = x->revoked;
	hc->n_revoked = revoked_ids(cf, x->revoked);
	x->n_sk = p->n_skeys;
	memcpy(x->sk, p->skeys, sizeof(x->sk));
	hc->static_keys = x->sk;
	hc->n_static_keys = x->n_sk;
	hc->psk_lookup = psk_dir_lookup;
	hc->psk_arg = (void *)cf->cfg.psk_dir;
	cf_qkd_hs_config(p, hc);
	hc->tls_exporter = p->exporter;
	hc->tls_exporter_len = sizeof(p->exporter);
}

/* Both pool depths of a class in one store read. */
static int pool_depths(struct cf *cf, const struct cf_peer *p, const struct cf_class *c,
		       size_t *ret_out, size_t *ret_in)
{
	uint64_t o, i;
	int r = store_pool_depths(cf->st, p->cfg.name, c->cfg.policy.name, &o, &i);

	if (r < 0)
		return r;
	*ret_out = (size_t)o;
	*ret_in = (size_t)i;
	return 0;
}

int cf_pool_depth(struct cf *cf, const struct cf_peer *p, const struct cf_class *c,
		  enum store_direction dir, size_t *ret)
{
	uint64_t n;
	int r = store_pool_depth(cf->st, p->cfg.name, c->cfg.policy.name, dir, &n);

	if (r < 0)
		return r;
	*ret = (size_t)n;
	return 0;
}

bool cf_class_uses(const struct cf_class *c, uint16_t method)
{
	for (size_t i = 0; i < c->cfg.policy.n_required; i++)
		if (c->cfg.policy.required[i] == method)
			return true;
	for (size_t i = 0; i < c->cfg.policy.n_optional; i++)
		if (c->cfg.policy.optional[i] == method)
			return true;
	return false;
}

bool cf_class_requires_revoked(const struct cf *cf, const struct cf_class *c)
{
	for (size_t i = 0; i < c->cfg.policy.n_required; i++)
		if (cf_revoked_find(cf, c->cfg.policy.required[i]))
			return true;
	return false;
}

static void class_failed(struct cf_peer *p, struct cf_class *c, int err, const char *why,
			 int64_t now)
{
	unsigned back;

	c->failures++;
	back = c->failures >= 6 ? CF_RETRY_MAX_S : CF_RETRY_MIN_S << (c->failures - 1);
	if (back > CF_RETRY_MAX_S)
		back = CF_RETRY_MAX_S;
	c->retry_at = now + back;
	snprintf(c->last_error, sizeof(c->last_error), "%.100s (%.40s)", why ? why : "failed",
		 strerror(-err));
	c->policy_unmet = err == -EPERM || err == -ECONNREFUSED;
	log_warning("peer %s class %s: exchange failed: %s; retry in %us", p->cfg.name,
		    c->cfg.policy.name, c->last_error, back);
}

/* The store_put() input of a finished exchange; role: this side's. */
static int pool_in(struct cf_peer *p, const struct hs_result *res, bool initiator, int64_t now,
		   struct store_pool_in *ret)
{
	struct cf_class *c = cf_class_by_name(p, res->class_name);
	struct store_pool_in in = { 0 };

	if (!c)
		return -ENOENT;
	in.x.peer = p->cfg.name;
	in.x.class_name = c->cfg.policy.name;
	/* the exchange id is the id of the initiator's first key, the same on both sides */
	memcpy(in.x.id, res->exchange_id, POOL_ID_LEN);
	in.x.id_len = POOL_ID_LEN;
	in.x.n_methods = res->suite.n;
	memcpy(in.x.methods, res->suite.ids, res->suite.n * sizeof(uint16_t));
	in.role = initiator ? STORE_ROLE_INITIATOR : STORE_ROLE_RESPONDER;
	in.secret = res->pool->p;
	in.n_keys = res->n_keys;
	in.key_len = HS_KEY_LEN;
	in.not_before = now;
	in.soft_expiry = now + c->cfg.policy.rekey_interval_s;
	in.hard_expiry = now + c->cfg.policy.hard_lifetime_s;
	if (in.soft_expiry > in.hard_expiry)
		in.soft_expiry = in.hard_expiry;
	*ret = in;
	return 0;
}

/*
 * Timer jitter: each interval ends up to 10 % early, drawn anew after every
 * exchange, so classes and peers configured alike do not all rekey in the
 * same second. Collisions cannot happen anyway (one elected initiator per
 * peer pair and class, proto_is_initiator); the jitter spreads the load.
 */
static void draw_jitter(struct cf_class *c)
{
	uint32_t r = 0, span = c->cfg.policy.rekey_interval_s / 10;

	if (span && crypto_random_public(&r, sizeof(r)) == 0)
		c->rekey_jitter_s = r % (span + 1);
	else
		c->rekey_jitter_s = 0;
}

static void class_done(struct cf_peer *p, struct cf_class *c, const struct hs_result *res,
		       int64_t dur_ms, int64_t now)
{
	char suite[128];
	size_t din = 0, dout = 0;

	c->n_suite = res->suite.n;
	memcpy(c->suite, res->suite.ids, res->suite.n * sizeof(uint16_t));
	c->last_rekey = now;
	draw_jitter(c);
	c->last_duration_ms = dur_ms;
	c->last_error[0] = '\0';
	c->failures = 0;
	c->retry_at = 0;
	c->policy_unmet = false;
	c->exchanges++;
	for (size_t i = 0; i < res->suite.n; i++)
		if (res->suite.ids[i] == KEX_ID_QKD014 && c->qkd_reduced) {
			c->qkd_reduced = false;
			log_notice("peer %s class %s: qkd014 back in the suite (reduced since %lld)",
				   p->cfg.name, c->cfg.policy.name, (long long)c->qkd_reduced_since);
		}
	if (mfs_log_get_level() < MFS_LOG_INFO)
		return;		/* the line below is all the rest is for */
	suite_text(c->suite, c->n_suite, suite, sizeof(suite));
	pool_depths(p->cf, p, c, &dout, &din);
	log_info("peer %s class %s: exchange done (%s), suite %s, %u keys/direction, %lld ms, "
		 "pool out %zu in %zu", p->cfg.name, c->cfg.policy.name,
		 c->initiator ? "initiator" : "responder", suite, res->n_keys,
		 (long long)dur_ms, dout, din);
}

static bool result_uses_revoked(const struct cf *cf, const struct hs_result *res)
{
	for (size_t i = 0; i < res->suite.n; i++)
		if (cf_revoked_find(cf, res->suite.ids[i]))
			return true;
	return false;
}

/* Start my exchange of class c; depth: the smaller of its two pool depths now. */
static int class_start(struct cf_peer *p, struct cf_class *c, size_t depth, int64_t now)
{
	struct cf_xchg *x;
	struct hs_config hc;
	uint8_t buf[HS_OUT_MAX];
	struct wbuf w = wbuf_init(buf, sizeof(buf));
	size_t n;
	int r;

	n = depth < c->cfg.policy.pool_high ? c->cfg.policy.pool_high - depth : 0;
	if (n < c->cfg.policy.pool_high / 4)
		n = c->cfg.policy.pool_high / 4;	/* a rekey brings a useful batch */
	if (n > HS_KEYS_MAX)
		n = HS_KEYS_MAX;
	if (n < 1)
		n = 1;
	if (!(x = calloc(1, sizeof(*x))))
		return -ENOMEM;
	x->mine = true;
	x->cls = c;
	x->xid = p->next_xid++ & ~CF_XID_SENDER;
	if (x->xid == 0)
		x->xid = p->next_xid++ & ~CF_XID_SENDER;
	x->started = now;
	x->t0_ms = mfs_mono_ms();
	hs_config_common(p, x, &hc);
	hc.role = HS_INITIATOR;
	cf_qkd_policy(p, c, &c->cfg.policy, &x->policies[0], now);
	hc.policy = &x->policies[0];
	hc.psk_id = c->cfg.psk_id[0] ? c->cfg.psk_id : NULL;
	hc.n_keys = (uint16_t)n;
	if ((r = hs_init(&x->hs, &hc)) < 0 || (r = hs_start(&x->hs, &w)) < 0) {
		class_failed(p, c, r, hs_abort_reason(&x->hs) ? hs_abort_reason(&x->hs) : "cannot start",
			     now);
		cf_xchg_free(x);
		return r;
	}
	if ((r = cf_send_frames(p, x->xid | CF_XID_SENDER, buf, w.len)) < 0) {
		cf_xchg_free(x);
		return r;
	}
	c->x = x;
	c->want = false;
	log_debug("peer %s class %s: exchange %u started, %zu keys/direction", p->cfg.name,
		  c->cfg.policy.name, x->xid, n);
	return 0;
}

/* My exchange of class c failed or was dropped: retried after the backoff. */
static void mine_fail(struct cf_peer *p, struct cf_class *c, int err, const char *why, int64_t now)
{
	class_failed(p, c, err, why, now);
	c->want = true;
	cf_xchg_free(c->x);
	c->x = NULL;
}

int cf_on_mine(struct cf_peer *p, uint32_t xid, const uint8_t *f, size_t len, int64_t now)
{
	uint8_t buf[HS_OUT_MAX];
	struct wbuf w = wbuf_init(buf, sizeof(buf));
	struct cf_class *c = NULL;
	struct cf_xchg *x;
	int r;

	for (size_t i = 0; i < p->cfg.n_classes; i++)
		if (p->classes[i].x && p->classes[i].x->xid == xid)
			c = &p->classes[i];
	if (!c)
		return 0;	/* an exchange already dropped here */
	x = c->x;
	r = hs_recv(&x->hs, f, len, &w);
	if (w.len && cf_send_frames(p, xid | CF_XID_SENDER, buf, w.len) < 0)
		r = r < 0 ? r : -ENOBUFS;
	if (r < 0) {
		mine_fail(p, c, r, hs_abort_reason(&x->hs), now);
		return 0;
	}
	if (r == HS_DONE) {
		if ((r = hs_result(&x->hs, &x->res)) < 0) {
			mine_fail(p, c, r, "no result", now);
			return 0;
		}
		/* The last message rule: keep the keys until the responder's COMMIT. */
		x->have_res = true;
	}
	return 0;
}

int cf_on_commit(struct cf_peer *p, uint32_t xid)
{
	struct cf_class *c = NULL;
	struct cf_xchg *x;

	for (size_t i = 0; i < p->cfg.n_classes; i++)
		if (p->classes[i].x && p->classes[i].x->xid == xid)
			c = &p->classes[i];
	if (!c || !c->x->have_res || c->x->pending)
		return 0;
	x = c->x;
	if (result_uses_revoked(p->cf, &x->res)) {
		/* revoked while it ran: the keys are never used */
		c->x = NULL;
		cf_xchg_free(x);
		c->want = true;
		return 0;
	}
	if (p->n_pending == CF_MAX_PENDING)
		return 0;	/* cannot happen: one per class and responder slot */
	/* stored with the others of this input call (cf_pending_flush) */
	x->pending = true;
	p->pending[p->n_pending++] = x;
	return 0;
}

/*
 * Group commit: store every exchange that finished during this input call
 * in one transaction (one fsync), then send the responder's COMMITs. If the
 * batch fails, each is tried alone, so one bad exchange fails only itself.
 */
static void pending_done(struct cf_peer *p, struct cf_xchg *x, int r, int64_t now)
{
	struct cf_class *c = x->mine ? x->cls : cf_class_by_name(p, x->res.class_name);

	if (x->mine) {
		if (r < 0) {
			mine_fail(p, c, r, "cannot store the keys", now);
			return;
		}
		class_done(p, c, &x->res, mfs_mono_ms() - x->t0_ms, now);
		c->x = NULL;
	} else {
		if (r < 0) {
			log_warning("peer %s: exchange %u: cannot store the keys: %s", p->cfg.name,
				    x->xid, strerror(-r));
			cf_send_notice(p, x->xid, MSGT_ABORT, 5, "internal error");
		} else {
			cf_env_send(p, CF_ENV_COMMIT, x->xid, NULL, 0);
			if (c) {
				c->resp_stored = true;
				class_done(p, c, &x->res, mfs_mono_ms() - x->t0_ms, now);
			}
		}
	}
	cf_xchg_free(x);
}

/*
 * The exchanges waiting for the group commit, as store_put() input:
 * in[0..n-1] for batch[0..n-1]. Those that cannot be stored are settled
 * here (dropped, aborted, failed). Returns n.
 */
static size_t pending_prepare(struct cf_peer *p, int64_t now, struct store_pool_in *in,
			      struct cf_xchg **batch)
{
	size_t n = 0, total = p->n_pending;
	int r;

	p->n_pending = 0;
	for (size_t i = 0; i < total; i++) {
		struct cf_xchg *x = p->pending[i];

		p->pending[i] = NULL;
		if (!x->mine && !p->up) {
			cf_xchg_free(x);	/* never COMMITted: the initiator discards its copy */
			continue;
		}
		if (result_uses_revoked(p->cf, &x->res)) {
			/* revoked in this same input call: never stored, never used */
			if (x->mine) {
				x->cls->x = NULL;
				x->cls->want = true;
			} else {
				cf_send_notice(p, x->xid, MSGT_ABORT, 2, "method revoked");
			}
			cf_xchg_free(x);
			continue;
		}
		if ((r = pool_in(p, &x->res, x->mine, now, &in[n])) < 0) {
			pending_done(p, x, r, now);
			continue;
		}
		batch[n++] = x;
	}
	return n;
}

/*
 * The store_put() of in[0..n-1] returned r: settle each exchange. A batch
 * that failed is tried again one by one (synchronously, on the engine's
 * handle), so one bad exchange fails only itself. An exchange that uses a
 * method revoked while it was being stored is withdrawn again at once.
 */
static void pending_finish(struct cf_peer *p, const struct store_pool_in *in,
			   struct cf_xchg **batch, size_t n, int r, int64_t now)
{
	for (size_t i = 0; i < n; i++) {
		int ri = r < 0 && n > 1 ? store_put(p->cf->st, &in[i], 1, now) : r;

		if (ri == 0 && result_uses_revoked(p->cf, &batch[i]->res)) {
			char who[STORE_WHO_MAX + 1];

			store_withdraw_exchange(p->cf->st, in[i].x.id, in[i].x.id_len,
						cf_store_who("mfsd (revoked while stored)", who),
						"a method of its suite was revoked", now);
			if (!batch[i]->mine) {
				cf_send_notice(p, batch[i]->xid, MSGT_ABORT, 2, "method revoked");
				cf_xchg_free(batch[i]);
				continue;
			}
			ri = -EKEYREVOKED;
		}
		pending_done(p, batch[i], ri, now);
	}
}

void cf_pending_flush(struct cf_peer *p, int64_t now)
{
	struct store_pool_in in[CF_MAX_PENDING];
	struct cf_xchg *batch[CF_MAX_PENDING];
	size_t n = pending_prepare(p, now, in, batch);

	if (n)
		pending_finish(p, in, batch, n, store_put(p->cf->st, in, n, now), now);
}

struct cf_batch *cf_link_commit_begin(struct cf_peer *p, int64_t now)
{
	struct cf_batch *b;

	if (p->batch || !p->n_pending)
		return NULL;	/* one batch of a link at a time: the next waits for it */
	if (!(b = calloc(1, sizeof(*b)))) {
		cf_pending_flush(p, now);	/* no memory: store synchronously */
		return NULL;
	}
	b->peer = p;
	if (!(b->n = pending_prepare(p, now, b->in, b->x))) {
		free(b);
		return NULL;
	}
	b->result = -EINPROGRESS;
	p->batch = b;
	return b;
}

void cf_link_commit_end(struct cf_batch *b, int64_t now)
{
	struct cf_peer *p;

	if (!b)
		return;
	p = b->peer;
	if (p->batch == b)
		p->batch = NULL;
	pending_finish(p, b->in, b->x, b->n, b->result, now);
	mfs_wipe(b->in, sizeof(b->in));
	free(b);
}

static struct cf_xchg **resp_slot(struct cf_peer *p, uint32_t xid, bool create)
{
	struct cf_xchg **free_slot = NULL;

	for (size_t i = 0; i < CF_MAX_RESPONDER; i++) {
		if (p->resp[i] && p->resp[i]->xid == xid)
			return &p->resp[i];
		if (!p->resp[i] && !free_slot)
			free_slot = &p->resp[i];
	}
	return create ? free_slot : NULL;
}

int cf_on_theirs(struct cf_peer *p, uint32_t xid, const uint8_t *f, size_t len, int64_t now)
{
	uint8_t buf[HS_OUT_MAX];
	struct wbuf w = wbuf_init(buf, sizeof(buf));
	struct cf_xchg **slot = resp_slot(p, xid, false), *x;
	int r;

	if (!slot) {
		if (len < 3 || f[2] != MSGT_HELLO)
			return 0;	/* for an exchange already dropped here */
		if (!(slot = resp_slot(p, xid, true))) {
			snprintf(p->last_error, sizeof(p->last_error), "too many concurrent exchanges");
			return -ENOBUFS;
		}
		if (!(x = calloc(1, sizeof(*x))))
			return -ENOMEM;
		struct hs_config hc;

		x->xid = xid;
		x->started = now;
		x->t0_ms = mfs_mono_ms();
		hs_config_common(p, x, &hc);
		hc.role = HS_RESPONDER;
		for (size_t i = 0; i < p->cfg.n_classes; i++)
			cf_qkd_policy(p, &p->classes[i], &p->policies[i], &x->policies[i], now);
		hc.classes = x->policies;
		hc.n_classes = p->cfg.n_classes;
		hc.n_keys = HS_KEYS_MAX;
		if ((r = hs_init(&x->hs, &hc)) < 0) {
			cf_xchg_free(x);
			snprintf(p->last_error, sizeof(p->last_error), "responder setup failed");
			return r;
		}
		*slot = x;
	}
	x = *slot;
	r = hs_recv(&x->hs, f, len, &w);
	if (w.len && cf_send_frames(p, xid, buf, w.len) < 0)
		r = r < 0 ? r : -ENOBUFS;
	if (r < 0) {
		log_warning("peer %s: exchange %u (responder) failed: %s", p->cfg.name, xid,
			    hs_abort_reason(&x->hs) ? hs_abort_reason(&x->hs) : strerror(-r));
		cf_xchg_free(x);
		*slot = NULL;
		return 0;
	}
	if (r == HS_DONE) {
		struct hs_result res = { 0 };

		if ((r = hs_result(&x->hs, &res)) == 0 && result_uses_revoked(p->cf, &res)) {
			/* revoked while it ran: never stored; the initiator discards its copy */
			log_notice("peer %s: exchange %u dropped: its suite has a revoked method",
				   p->cfg.name, xid);
			cf_send_notice(p, xid, MSGT_ABORT, 2, "method revoked");
		} else if (r < 0 || p->n_pending == CF_MAX_PENDING) {
			log_warning("peer %s: exchange %u: cannot store the keys: %s", p->cfg.name,
				    xid, strerror(r < 0 ? -r : ENOBUFS));
			cf_send_notice(p, xid, MSGT_ABORT, 5, "internal error");
		} else {
			/* stored, then COMMITted, when this input call ends (cf_pending_flush) */
			x->res = res;
			memset(&res, 0, sizeof(res));
			x->pending = true;
			p->pending[p->n_pending++] = x;
			*slot = NULL;
			return 0;
		}
		hs_result_done(&res);
		cf_xchg_free(x);
		*slot = NULL;
	}
	return 0;
}

/* ---- scheduling ---- */

int cf_rekey(struct cf_peer *p, const char *class_name, int64_t now)
{
	bool any = false;

	(void)now;
	for (size_t i = 0; i < p->cfg.n_classes; i++) {
		struct cf_class *c = &p->classes[i];

		if (class_name && strcmp(class_name, c->cfg.policy.name) != 0)
			continue;
		c->want = true;
		c->retry_at = 0;
		c->want_sent = 0;
		any = true;
	}
	return any ? 0 : -ENOENT;
}

int64_t cf_class_next_rekey(const struct cf_peer *p, const struct cf_class *c)
{
	(void)p;
	return (c->last_rekey ? c->last_rekey : c->rekey_base) + c->cfg.policy.rekey_interval_s -
	       c->rekey_jitter_s;
}

static void tick_class(struct cf_peer *p, struct cf_class *c, int64_t now)
{
	size_t dout = 0, din = 0, depth;
	bool due;

	/*
	 * Nothing to decide while my exchange runs, or while a WANT would be
	 * too soon: no store read then (this runs on every loop turn).
	 */
	if (c->initiator && c->x) {
		/* (not while it is being stored: the batch owns it until then) */
		if (!c->x->pending && now - c->x->started > CF_XCHG_TIMEOUT_S)
			mine_fail(p, c, -ETIMEDOUT, "timed out", now);
		return;
	}
	if (!c->initiator && now - c->want_sent < CF_WANT_EVERY_S)
		return;
	if (c->initiator && now < c->retry_at)
		return;
	/*
	 * Without a request or a refill under way, the watermarks are looked at
	 * once a second; a refill runs its exchanges back to back up to high.
	 */
	if (!c->want && !c->refilling && now == c->depth_checked)
		return;
	if (pool_depths(p->cf, p, c, &dout, &din) < 0)
		return;
	c->depth_checked = now;
	depth = dout < din ? dout : din;
	if (depth < c->cfg.policy.pool_low || depth == 0)
		c->refilling = true;
	if (depth >= c->cfg.policy.pool_high)
		c->refilling = false;
	if (!c->initiator) {
		if (c->refilling || c->want) {
			uint8_t b[1 + POLICY_NAME_MAX];
			size_t n = strlen(c->cfg.policy.name);

			b[0] = (uint8_t)n;
			memcpy(b + 1, c->cfg.policy.name, n);
			if (cf_env_send(p, CF_ENV_WANT, 0, b, 1 + n) == 0) {
				c->want_sent = now;
				c->want = false;
			}
		}
		return;
	}
	due = c->refilling || c->want ||
	      now >= cf_class_next_rekey(p, c);
	if (!due)
		return;
	if (cf_class_requires_revoked(p->cf, c)) {
		c->want = false;
		return;
	}
	/*
	 * QKD negotiated as required (cf_qkd_policy) but no key acknowledged by
	 * the peer yet: wait a bounded time for the client, then try anyway
	 * (the exchange then fails and is retried with the backoff).
	 */
	if (cf_class_uses_qkd(c) && cf_qkd_state(p, NULL, NULL, 0) == CF_QKD_OK &&
	    p->cf->cfg.qkd->ready(p->cf->cfg.qkd_arg, p) == 0) {
		if (!c->qkd_wait_since)
			c->qkd_wait_since = now;
		if (now - c->qkd_wait_since < CF_QKD_WAIT_S)
			return;
	}
	c->qkd_wait_since = 0;
	class_start(p, c, depth, now);
}

/* Log the moment a class runs out of outbound keys (fail closed), once. */
static void watch_fail_closed(struct cf_peer *p, struct cf_class *c)
{
	size_t dout = 0;

	if (cf_pool_depth(p->cf, p, c, STORE_OUTBOUND, &dout) < 0)
		return;
	if (dout == 0 && c->had_keys)
		log_warning("peer %s class %s: fail closed: no outbound key left%s", p->cfg.name,
			    c->cfg.policy.name, p->up ? "" : " (peer unreachable)");
	c->had_keys = dout > 0;
}

int64_t cf_tick(struct cf *cf, int64_t now)
{
	/*
	 * Keys past hard expiry leave the pools (once a second at most): the
	 * depths below and cf_class_degraded() count stored states only.
	 */
	bool second = now != cf->expired_at;

	if (second) {
		int n = store_expire(cf->st, now);

		cf->expired_at = now;
		if (n > 0)
			log_info("%d keys reached hard expiry: destroyed", n);
		else if (n < 0)
			log_warning("cannot expire keys: %s", strerror(-n));
	}
	for (size_t i = 0; i < cf->n_peers; i++) {
		struct cf_peer *p = &cf->peers[i];

		for (size_t j = 0; j < CF_MAX_RESPONDER; j++) {
			if (p->resp[j] && now - p->resp[j]->started > CF_XCHG_TIMEOUT_S) {
				cf_xchg_free(p->resp[j]);
				p->resp[j] = NULL;
			}
		}
		/* pools change at expiry (once a second) or by takes: a second is soon enough */
		for (size_t j = 0; second && j < p->cfg.n_classes; j++)
			watch_fail_closed(p, &p->classes[j]);
		if (!p->up)
			continue;
		for (size_t j = 0; j < p->cfg.n_classes; j++)
			tick_class(p, &p->classes[j], now);
	}
	cf_rot_tick(cf, now);
	return now + 1;
}

static bool xchg_holds(const struct cf_xchg *x, const struct keyring_key *k)
{
	for (size_t i = 0; x && i < x->n_sk; i++)
		if (x->sk[i].pk == k->pk || x->sk[i].peer_pk == k->pk)
			return true;
	return false;
}

bool cf_static_in_use(const struct cf *cf, const struct keyring_key *k)
{
	for (size_t i = 0; i < cf->n_peers; i++) {
		const struct cf_peer *p = &cf->peers[i];

		for (size_t j = 0; j < p->cfg.n_classes; j++)
			if (xchg_holds(p->classes[j].x, k))
				return true;
		for (size_t j = 0; j < CF_MAX_RESPONDER; j++)
			if (xchg_holds(p->resp[j], k))
				return true;
	}
	return false;
}

uint64_t cf_orphans_withdrawn(const struct cf *cf)
{
	uint64_t n = 0;

	for (size_t i = 0; i < cf->n_peers; i++)
		for (size_t j = 0; j < cf->peers[i].cfg.n_classes; j++)
			n += cf->peers[i].classes[j].orphans_withdrawn;
	return n;
}

size_t cf_class_degraded(struct cf *cf, struct cf_peer *p, struct cf_class *c, int64_t now,
			 char out[][CF_REASON_MAX], size_t n, bool *ret_fail_closed)
{
	size_t k = 0, dout = 0, din = 0;
	bool closed = false;

	(void)now;
	pool_depths(cf, p, c, &dout, &din);
	if (!p->up && k < n) {
		if (p->down_since)
			snprintf(out[k++], CF_REASON_MAX, "peer unreachable since %lld",
				 (long long)p->down_since);
		else
			snprintf(out[k++], CF_REASON_MAX, "peer not connected yet");
	}
	if ((dout < c->cfg.policy.pool_low || din < c->cfg.policy.pool_low) && k < n)
		snprintf(out[k++], CF_REASON_MAX, "pool below low watermark (out %zu, in %zu, low %u)",
			 dout, din, c->cfg.policy.pool_low);
	if (cf_class_requires_revoked(cf, c)) {
		closed = true;
		if (k < n)
			snprintf(out[k++], CF_REASON_MAX,
				 "policy cannot be met: a required method is revoked (fail closed)");
	} else if (c->policy_unmet && k < n) {
		snprintf(out[k++], CF_REASON_MAX, "policy cannot be met: %.120s", c->last_error);
	} else if (c->last_error[0] && k < n) {
		snprintf(out[k++], CF_REASON_MAX, "last exchange failed: %.120s", c->last_error);
	}
	if (dout == 0) {
		closed = true;
		if (k < n)
			snprintf(out[k++], CF_REASON_MAX, "no outbound key left (fail closed)");
	}
	if (cf_class_uses_qkd(c)) {
		char why[CF_REASON_MAX];
		int64_t since = 0;

		if (cf_qkd_state(p, &since, why, sizeof(why)) == CF_QKD_OUTAGE && k < n)
			snprintf(out[k++], CF_REASON_MAX, "QKD alarm since %lld: %.110s",
				 (long long)since, why);
		if (c->qkd_reduced && k < n)
			snprintf(out[k++], CF_REASON_MAX,
				 "reduced factor set: qkd014 left out since %lld (local KME outage)",
				 (long long)c->qkd_reduced_since);
	}
	if (ret_fail_closed)
		*ret_fail_closed = closed;
	return k;
}

/* ---- setup ---- */

struct cf_peer *cf_peer_by_name(struct cf *cf, const char *name)
{
	for (size_t i = 0; i < cf->n_peers; i++)
		if (!strcmp(cf->peers[i].cfg.name, name))
			return &cf->peers[i];
	return NULL;
}

struct cf_class *cf_class_by_name(struct cf_peer *p, const char *name)
{
	for (size_t i = 0; i < p->cfg.n_classes; i++)
		if (!strcmp(p->classes[i].cfg.policy.name, name))
			return &p->classes[i];
	return NULL;
}

int cf_class_init(struct cf *cf, struct cf_peer *p, struct cf_class *c, int64_t now)
{
	int r = proto_is_initiator(cf->cfg.node_id, p->cfg.name, c->cfg.policy.name);

	if (r < 0)
		return r;
	c->initiator = r == 1;
	c->rekey_base = now;
	draw_jitter(c);
	return 0;
}

int cf_new(const struct cf_config *cfg, struct store *st, struct cf **ret)
{
	struct cf *cf;
	int r;

	if (!cfg || !st || cfg->n_peers > CF_MAX_PEERS || !cfg->node_id[0]) {
		r = -EINVAL;
		goto fail_keys;
	}
	if (!(cf = calloc(1, sizeof(*cf)))) {
		r = -ENOMEM;
		goto fail_keys;
	}
	cf->cfg = *cfg;
	cf->cfg.keys = NULL;
	if (snprintf(cf->psk_dir, sizeof(cf->psk_dir), "%s", cfg->psk_dir ? cfg->psk_dir : "") >=
	    (int)sizeof(cf->psk_dir)) {
		r = -ENAMETOOLONG;
		free(cf);
		goto fail_keys;
	}
	cf->cfg.psk_dir = cfg->psk_dir ? cf->psk_dir : NULL;
	cf->keys = cfg->keys;
	cf->st = st;
	cf->n_peers = cfg->n_peers;
	for (size_t i = 0; i < cf->n_peers; i++) {
		struct cf_peer *p = &cf->peers[i];

		p->cf = cf;
		p->cfg = cfg->peers[i];
		p->next_xid = 1;
		if (p->cfg.n_classes > CF_MAX_CLASSES || !(p->in = malloc(CF_INBUF_MAX))) {
			r = p->in ? -EINVAL : -ENOMEM;
			goto fail;
		}
		for (size_t j = 0; j < p->cfg.n_classes; j++) {
			p->classes[j].cfg = p->cfg.classes[j];
			p->policies[j] = p->classes[j].cfg.policy;
			if ((r = cf_class_init(cf, p, &p->classes[j], cfg->now)) < 0)
				goto fail;
		}
		if (cf->keys) {
			cf_rot_rebuild(cf, p);
		} else {
			p->n_skeys = p->cfg.n_static_keys < CF_MAX_STATIC ? p->cfg.n_static_keys :
									   CF_MAX_STATIC;
			if (p->n_skeys)
				memcpy(p->skeys, p->cfg.static_keys, p->n_skeys * sizeof(p->skeys[0]));
		}
	}
	if ((r = cf_revoked_load(cf)) < 0)
		goto fail;
	*ret = cf;
	return 0;
fail:
	cf_free(cf);
	return r;
fail_keys:
	if (cfg && cfg->keys) {
		struct cf tmp = { .keys = cfg->keys };

		cf_rot_free(&tmp);
	}
	return r;
}

void cf_free(struct cf *cf)
{
	if (!cf)
		return;
	for (size_t i = 0; i < cf->n_peers; i++) {
		struct cf_peer *p = &cf->peers[i];

		if (p->batch) {	/* the caller should have ended it: its keys are dropped */
			for (size_t k = 0; k < p->batch->n; k++) {
				if (p->batch->x[k]->mine)
					p->batch->x[k]->cls->x = NULL;
				cf_xchg_free(p->batch->x[k]);
			}
			free(p->batch);
			p->batch = NULL;
		}
		p->up = true;
		cf_link_down(p, NULL, 0);
		free(p->in);
		free(p->out);
	}
	cf_rot_free(cf);
	free(cf);
}
