/* SPDX-License-Identifier: Apache-2.0 */
/* The MFS Control Function engine (see cf.h and docs/mfsd.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/file.h"
#include "base/log.h"
#include "base/secret.h"
#include "cf/cf.h"
#include "cf/internal.h"
#include "crypto/rng.h"
#include "kex/psk_file.h"
#include "proto/handshake.h"
#include "proto/negotiate.h"

#define CF_OUT_MAX (4U * 1024 * 1024)
#define CF_WANT_EVERY_S 5
#define CF_REVOKED_FILE_MAX (64U * 1024)

_Static_assert(CF_TEXT_MAX == MSG_TEXT_MAX, "CF_TEXT_MAX");
_Static_assert(CF_FRAME_MAX == MSG_FRAME_MAX, "CF_FRAME_MAX");
_Static_assert(CF_KEY_ID_LEN == STORE_KEY_ID_LEN, "CF_KEY_ID_LEN");

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
	 * qkd014 adjusted to this node's KME (qkd_policy)
	 */
	struct class_policy policies[CF_MAX_CLASSES];
};

static const char *store_who(const char *who, char buf[static STORE_WHO_MAX + 1]);

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *method_name(uint16_t id)
{
	const struct kex_method *m = kex_method_by_id(id);

	return m ? m->name : "?";
}

static void suite_text(const uint16_t *ids, size_t n, char *out, size_t size)
{
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && off < size; i++) {
		int w = snprintf(out + off, size - off, "%s%s", i ? "+" : "", method_name(ids[i]));
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

/* ---- revocations (persisted: one line per method, "id at origin reason") ---- */

const struct cf_revoked *cf_revoked_find(const struct cf *cf, uint16_t method)
{
	for (size_t i = 0; i < cf->n_revoked; i++)
		if (cf->revoked[i].method == method)
			return &cf->revoked[i];
	return NULL;
}

static int revoked_save(struct cf *cf)
{
	char buf[CF_MAX_REVOKED * (16 + 24 + CF_NAME_MAX + 8 + MSG_TEXT_MAX + 4)];
	size_t off = 0;

	if (!cf->cfg.revoked_path)
		return 0;
	for (size_t i = 0; i < cf->n_revoked; i++) {
		const struct cf_revoked *r = &cf->revoked[i];
		int w = snprintf(buf + off, sizeof(buf) - off, "%04x %lld %s %s\n", r->method,
				 (long long)r->at, r->origin, r->reason);
		if (w < 0 || (size_t)w >= sizeof(buf) - off)
			return -EMSGSIZE;
		off += (size_t)w;
	}
	return file_write_atomic(cf->cfg.revoked_path, buf, off, FILE_OVERWRITE);
}

static int revoked_load(struct cf *cf)
{
	uint8_t *data = NULL;
	size_t len = 0;
	char *text = NULL, *line, *save = NULL;
	int r;

	if (!cf->cfg.revoked_path)
		return 0;
	r = file_read(cf->cfg.revoked_path, CF_REVOKED_FILE_MAX, FILE_NO_FOLLOW, &data, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (!(text = malloc(len + 1))) {
		free(data);
		return -ENOMEM;
	}
	memcpy(text, data, len);
	text[len] = '\0';
	free(data);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct cf_revoked rv = { 0 };
		char *end, *origin, *reason;
		unsigned long id = strtoul(line, &end, 16);
		long long at;

		if (end == line || *end != ' ' || id == 0 || id > 0xffff)
			goto bad;
		at = strtoll(end + 1, &end, 10);
		if (*end != ' ')
			goto bad;
		origin = end + 1;
		if (!(reason = strchr(origin, ' ')))
			goto bad;
		*reason++ = '\0';
		if (strlen(origin) >= sizeof(rv.origin) || strlen(reason) >= sizeof(rv.reason) ||
		    cf->n_revoked >= CF_MAX_REVOKED)
			goto bad;
		rv.method = (uint16_t)id;
		rv.at = at;
		memcpy(rv.origin, origin, strlen(origin) + 1);
		memcpy(rv.reason, reason, strlen(reason) + 1);
		if (!cf_revoked_find(cf, rv.method))
			cf->revoked[cf->n_revoked++] = rv;
	}
	free(text);
	return 0;
bad:
	free(text);
	return -EBADMSG;
}

/* ---- output ---- */

static int out_put(struct cf_peer *p, const void *data, size_t len)
{
	if (len > CF_OUT_MAX - p->out_len)
		return -ENOBUFS;
	if (p->out_len + len > p->out_cap) {
		size_t cap = p->out_cap ? p->out_cap : 16384;
		uint8_t *n;

		while (cap < p->out_len + len)
			cap *= 2;
		if (!(n = realloc(p->out, cap)))
			return -ENOMEM;
		p->out = n;
		p->out_cap = cap;
	}
	memcpy(p->out + p->out_len, data, len);
	p->out_len += len;
	return 0;
}

static int env_send(struct cf_peer *p, uint8_t kind, uint32_t xid, const void *body, size_t len)
{
	uint8_t hdr[CF_ENV_HDR_LEN] = { kind, (uint8_t)(xid >> 24), (uint8_t)(xid >> 16),
					(uint8_t)(xid >> 8), (uint8_t)xid };
	int r;

	if (!p->up)
		return -ENOTCONN;
	if ((r = out_put(p, hdr, sizeof(hdr))) < 0 || (len && (r = out_put(p, body, len)) < 0))
		return r;
	return 0;
}

int cf_env_send(struct cf_peer *p, uint8_t kind, uint32_t xid, const void *body, size_t len)
{
	return env_send(p, kind, xid, body, len);
}

/* Send every frame in buf as its own PROTO envelope. */
static int send_frames(struct cf_peer *p, uint32_t wire_xid, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		size_t fl;
		int r = msg_frame_len(buf, len, &fl);

		if (r < 0 || fl > len)
			return r < 0 ? r : -EBADMSG;
		if ((r = env_send(p, CF_ENV_PROTO, wire_xid, buf, fl)) < 0)
			return r;
		buf += fl;
		len -= fl;
	}
	return 0;
}

static int send_notice(struct cf_peer *p, uint32_t wire_xid, uint8_t type, uint16_t code,
		       const char *text)
{
	uint8_t buf[MSG_HDR_LEN + 4 + MSG_TEXT_MAX];
	struct wbuf w = wbuf_init(buf, sizeof(buf));
	char t[MSG_TEXT_MAX + 1];
	size_t n = 0;
	struct msg m = { .version = PROTO_VERSION, .type = type };
	int r;

	/* printable ASCII only, bounded */
	for (const char *s = text ? text : ""; *s && n < MSG_TEXT_MAX; s++)
		t[n++] = (*s >= 0x20 && *s <= 0x7e) ? *s : '?';
	t[n] = '\0';
	m.u.notice.code = code;
	m.u.notice.text = rd_init(t, n);
	if ((r = msg_encode(&w, &m)) < 0)
		return r;
	return env_send(p, CF_ENV_PROTO, wire_xid, buf, w.len);
}

/* ---- exchanges ---- */

static void xchg_free(struct cf_xchg *x)
{
	if (!x)
		return;
	hs_result_done(&x->res);
	hs_done(&x->hs);
	free(x);
}

void cf_xchg_free(struct cf_xchg *x)
{
	xchg_free(x);
}

static size_t revoked_ids(const struct cf *cf, uint16_t *out)
{
	for (size_t i = 0; i < cf->n_revoked; i++)
		out[i] = cf->revoked[i].method;
	return cf->n_revoked;
}

/* ---- QKD (qkd014): the daemon's KME client behind cf_qkd_ops ---- */

static enum cf_qkd_state qkd_state(const struct cf_peer *p, int64_t *since, char *why, size_t n)
{
	const struct cf *cf = p->cf;
	int64_t s = 0;

	if (why && n)
		why[0] = '\0';
	if (!cf->cfg.qkd)
		return CF_QKD_NONE;
	return cf->cfg.qkd->state(cf->cfg.qkd_arg, p, since ? since : &s, why, n);
}

static int qkd_take_cb(void *arg, struct kex_qkd_ref *ref, struct secret **ret)
{
	struct cf_peer *p = arg;

	return p->cf->cfg.qkd->take(p->cf->cfg.qkd_arg, p, ref, ret);
}

static int qkd_lookup_cb(void *arg, const struct kex_qkd_ref *ref, struct secret **ret)
{
	struct cf_peer *p = arg;

	return p->cf->cfg.qkd->lookup(p->cf->cfg.qkd_arg, p, ref, ret);
}

/* Usable in this exchange: the KME works (and, as master, a key is ready: checked in take). */
static bool qkd_usable_cb(void *arg)
{
	return qkd_state(arg, NULL, NULL, 0) == CF_QKD_OK;
}

enum cf_qkd_state cf_peer_qkd(const struct cf_peer *p, int64_t *since, char *why, size_t why_size,
			      size_t *ready)
{
	enum cf_qkd_state st = qkd_state(p, since, why, why_size);

	if (ready)
		*ready = st == CF_QKD_NONE ? 0 : p->cf->cfg.qkd->ready(p->cf->cfg.qkd_arg, p);
	return st;
}

void cf_set_qkd(struct cf *cf, const struct cf_qkd_ops *ops, void *arg)
{
	cf->cfg.qkd = ops;
	cf->cfg.qkd_arg = arg;
}

bool cf_class_uses_qkd(const struct cf_class *c)
{
	for (size_t i = 0; i < c->cfg.policy.n_required; i++)
		if (c->cfg.policy.required[i] == KEX_ID_QKD014)
			return true;
	for (size_t i = 0; i < c->cfg.policy.n_optional; i++)
		if (c->cfg.policy.optional[i] == KEX_ID_QKD014)
			return true;
	return false;
}

/*
 * The policy this node negotiates with now. An optional qkd014 is never
 * dropped on the peer's word: while this node's own KME works it counts as
 * required (a peer that leaves it out fails the exchange), and only while
 * this node itself sees an outage is it left out (the reduced factor set,
 * recorded on the class and, through the offer and the suite, in the
 * transcript). A required qkd014 stays required: without a working KME the
 * class keeps its pool until hard expiry and then fails closed.
 */
static void qkd_policy(struct cf_peer *p, struct cf_class *c, const struct class_policy *in,
		       struct class_policy *out, int64_t now)
{
	enum cf_qkd_state st;
	char why[CF_REASON_MAX];
	int64_t since = 0;
	size_t k = 0;
	bool listed = false;

	*out = *in;
	for (size_t i = 0; i < in->n_optional; i++)
		listed = listed || in->optional[i] == KEX_ID_QKD014;
	if (!listed)
		return;
	st = qkd_state(p, &since, why, sizeof(why));
	for (size_t i = 0; i < in->n_optional; i++)
		if (in->optional[i] != KEX_ID_QKD014)
			out->optional[k++] = in->optional[i];
	out->n_optional = k;
	if (st == CF_QKD_OK) {
		if (out->n_required < POLICY_MAX_METHODS)
			out->required[out->n_required++] = KEX_ID_QKD014;
		return;
	}
	/* Left out: only this node's own observation counts. */
	if (c && !c->qkd_reduced) {
		c->qkd_reduced = true;
		c->qkd_reduced_since = since ? since : now;
		snprintf(c->qkd_why, sizeof(c->qkd_why), "%s",
			 st == CF_QKD_NONE ? "no KME configured for this peer" : why);
		log_warning("peer %s class %s: ALARM: continuing without qkd014 (reduced factor set): "
			    "local KME outage: %s", p->cfg.name, c->cfg.policy.name, c->qkd_why);
	}
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
	if (cf->cfg.qkd) {
		hc->qkd_take = qkd_take_cb;
		hc->qkd_lookup = qkd_lookup_cb;
		hc->qkd_usable = qkd_usable_cb;
		hc->qkd_arg = p;
	}
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

static bool class_uses(const struct cf_class *c, uint16_t method)
{
	for (size_t i = 0; i < c->cfg.policy.n_required; i++)
		if (c->cfg.policy.required[i] == method)
			return true;
	for (size_t i = 0; i < c->cfg.policy.n_optional; i++)
		if (c->cfg.policy.optional[i] == method)
			return true;
	return false;
}

static bool class_requires_revoked(const struct cf *cf, const struct cf_class *c)
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
	x->t0_ms = mono_ms();
	hs_config_common(p, x, &hc);
	hc.role = HS_INITIATOR;
	qkd_policy(p, c, &c->cfg.policy, &x->policies[0], now);
	hc.policy = &x->policies[0];
	hc.psk_id = c->cfg.psk_id[0] ? c->cfg.psk_id : NULL;
	hc.n_keys = (uint16_t)n;
	if ((r = hs_init(&x->hs, &hc)) < 0 || (r = hs_start(&x->hs, &w)) < 0) {
		class_failed(p, c, r, hs_abort_reason(&x->hs) ? hs_abort_reason(&x->hs) : "cannot start",
			     now);
		xchg_free(x);
		return r;
	}
	if ((r = send_frames(p, x->xid | CF_XID_SENDER, buf, w.len)) < 0) {
		xchg_free(x);
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
	xchg_free(c->x);
	c->x = NULL;
}

static int on_mine(struct cf_peer *p, uint32_t xid, const uint8_t *f, size_t len, int64_t now)
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
	if (w.len && send_frames(p, xid | CF_XID_SENDER, buf, w.len) < 0)
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

static int on_commit(struct cf_peer *p, uint32_t xid)
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
		xchg_free(x);
		c->want = true;
		return 0;
	}
	if (p->n_pending == CF_MAX_PENDING)
		return 0;	/* cannot happen: one per class and responder slot */
	/* stored with the others of this input call (pending_flush) */
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
		class_done(p, c, &x->res, mono_ms() - x->t0_ms, now);
		c->x = NULL;
	} else {
		if (r < 0) {
			log_warning("peer %s: exchange %u: cannot store the keys: %s", p->cfg.name,
				    x->xid, strerror(-r));
			send_notice(p, x->xid, MSGT_ABORT, 5, "internal error");
		} else {
			env_send(p, CF_ENV_COMMIT, x->xid, NULL, 0);
			if (c) {
				c->resp_stored = true;
				class_done(p, c, &x->res, mono_ms() - x->t0_ms, now);
			}
		}
	}
	xchg_free(x);
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
			xchg_free(x);	/* never COMMITted: the initiator discards its copy */
			continue;
		}
		if (result_uses_revoked(p->cf, &x->res)) {
			/* revoked in this same input call: never stored, never used */
			if (x->mine) {
				x->cls->x = NULL;
				x->cls->want = true;
			} else {
				send_notice(p, x->xid, MSGT_ABORT, 2, "method revoked");
			}
			xchg_free(x);
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
						store_who("mfsd (revoked while stored)", who),
						"a method of its suite was revoked", now);
			if (!batch[i]->mine) {
				send_notice(p, batch[i]->xid, MSGT_ABORT, 2, "method revoked");
				xchg_free(batch[i]);
				continue;
			}
			ri = -EKEYREVOKED;
		}
		pending_done(p, batch[i], ri, now);
	}
}

static void pending_flush(struct cf_peer *p, int64_t now)
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
		pending_flush(p, now);	/* no memory: store synchronously */
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

static int on_theirs(struct cf_peer *p, uint32_t xid, const uint8_t *f, size_t len, int64_t now)
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
		x->t0_ms = mono_ms();
		hs_config_common(p, x, &hc);
		hc.role = HS_RESPONDER;
		for (size_t i = 0; i < p->cfg.n_classes; i++)
			qkd_policy(p, &p->classes[i], &p->policies[i], &x->policies[i], now);
		hc.classes = x->policies;
		hc.n_classes = p->cfg.n_classes;
		hc.n_keys = HS_KEYS_MAX;
		if ((r = hs_init(&x->hs, &hc)) < 0) {
			xchg_free(x);
			snprintf(p->last_error, sizeof(p->last_error), "responder setup failed");
			return r;
		}
		*slot = x;
	}
	x = *slot;
	r = hs_recv(&x->hs, f, len, &w);
	if (w.len && send_frames(p, xid, buf, w.len) < 0)
		r = r < 0 ? r : -ENOBUFS;
	if (r < 0) {
		log_warning("peer %s: exchange %u (responder) failed: %s", p->cfg.name, xid,
			    hs_abort_reason(&x->hs) ? hs_abort_reason(&x->hs) : strerror(-r));
		xchg_free(x);
		*slot = NULL;
		return 0;
	}
	if (r == HS_DONE) {
		struct hs_result res = { 0 };

		if ((r = hs_result(&x->hs, &res)) == 0 && result_uses_revoked(p->cf, &res)) {
			/* revoked while it ran: never stored; the initiator discards its copy */
			log_notice("peer %s: exchange %u dropped: its suite has a revoked method",
				   p->cfg.name, xid);
			send_notice(p, xid, MSGT_ABORT, 2, "method revoked");
		} else if (r < 0 || p->n_pending == CF_MAX_PENDING) {
			log_warning("peer %s: exchange %u: cannot store the keys: %s", p->cfg.name,
				    xid, strerror(r < 0 ? -r : ENOBUFS));
			send_notice(p, xid, MSGT_ABORT, 5, "internal error");
		} else {
			/* stored, then COMMITted, when this input call ends (pending_flush) */
			x->res = res;
			memset(&res, 0, sizeof(res));
			x->pending = true;
			p->pending[p->n_pending++] = x;
			*slot = NULL;
			return 0;
		}
		hs_result_done(&res);
		xchg_free(x);
		*slot = NULL;
	}
	return 0;
}

/* ---- revocation ---- */

/* who as the store takes it (1..STORE_WHO_MAX): "peer:" + a 64-character node id is longer. */
static const char *store_who(const char *who, char buf[static STORE_WHO_MAX + 1])
{
	snprintf(buf, STORE_WHO_MAX + 1, "%s", who);
	return buf;
}

static int revoke_apply(struct cf *cf, uint16_t method, const char *origin, const char *who,
			const char *reason, int64_t now, size_t *ret_withdrawn)
{
	struct cf_revoked rv = { .method = method, .at = now };
	struct store_key_id *ids = NULL;
	char detail[STORE_DETAIL_MAX], w[STORE_WHO_MAX + 1];
	size_t held = 0;
	int n, r;

	if (cf_revoked_find(cf, method))
		return -EALREADY;
	if (cf->n_revoked >= CF_MAX_REVOKED)
		return -ENOSPC;
	snprintf(rv.origin, sizeof(rv.origin), "%s", origin);
	for (size_t i = 0; reason[i] && i < MSG_TEXT_MAX; i++)
		rv.reason[i] = (reason[i] >= 0x20 && reason[i] <= 0x7e) ? reason[i] : '?';
	if (!rv.reason[0])
		memcpy(rv.reason, "-", 2);
	cf->revoked[cf->n_revoked++] = rv;
	if ((r = revoked_save(cf)) < 0) {
		cf->n_revoked--;
		return r;
	}
	/* keys held ready for delivery (the key supply's reserves) go first: none leaves from now on */
	if (cf->revoke_listener)
		held = cf->revoke_listener(cf->revoke_listener_arg, method);
	n = store_withdraw_method(cf->st, method, store_who(who, w), rv.reason, now, &ids);
	free(ids);
	if (n < 0) {
		log_err("revoke %s: cannot withdraw its keys: %s", method_name(method), strerror(-n));
		n = 0;
	}
	snprintf(detail, sizeof(detail),
		 "method %s revoked (origin %s): %s; %d keys withdrawn, %zu reserved keys dropped",
		 method_name(method), rv.origin, rv.reason, n, held);
	if ((r = store_audit_append(cf->st, now, w, "method-revoke", detail, n)) < 0)
		log_err("revoke %s: audit record failed: %s", method_name(method), strerror(-r));
	log_notice("method %s revoked by %s (%s): %d keys withdrawn", method_name(method), who,
		   rv.reason, n);
	/* every affected class re-exchanges at once */
	for (size_t i = 0; i < cf->n_peers; i++) {
		struct cf_peer *p = &cf->peers[i];

		for (size_t j = 0; j < p->cfg.n_classes; j++) {
			struct cf_class *c = &p->classes[j];

			if (!class_uses(c, method))
				continue;
			/* the elected initiator re-exchanges; the other side waits for it */
			c->want = c->initiator;
			c->retry_at = 0;
			c->failures = 0;
			if (class_requires_revoked(cf, c))
				log_warning("peer %s class %s: fail closed: required method %s is revoked",
					    p->cfg.name, c->cfg.policy.name, method_name(method));
		}
	}
	/* delivered keys derived with it: the push layer retires them at its subscribers */
	if (cf->hooks.revoked)
		cf->hooks.revoked(cf->hooks.arg, method, now);
	if (ret_withdrawn)
		*ret_withdrawn = (size_t)n;
	return 0;
}

int cf_revoke(struct cf *cf, uint16_t method, const char *who, const char *reason, int64_t now,
	      size_t *ret_withdrawn)
{
	int r = revoke_apply(cf, method, "local", who, reason, now, ret_withdrawn);

	if (r < 0)
		return r;
	for (size_t i = 0; i < cf->n_peers; i++)
		if (cf->peers[i].up)
			send_notice(&cf->peers[i], 0, MSGT_REVOKE, method,
				    cf_revoked_find(cf, method)->reason);
	return 0;
}

static int restore_apply(struct cf *cf, uint16_t method, const char *who, int64_t now)
{
	const struct cf_revoked *rv = cf_revoked_find(cf, method);
	char detail[256], w[STORE_WHO_MAX + 1];
	size_t i;
	int r;

	if (!rv)
		return -ENOENT;
	i = (size_t)(rv - cf->revoked);
	snprintf(detail, sizeof(detail), "method %s restored (was revoked by %s)",
		 method_name(method), rv->origin);
	memmove(&cf->revoked[i], &cf->revoked[i + 1], (cf->n_revoked - i - 1) * sizeof(*rv));
	cf->n_revoked--;
	if ((r = revoked_save(cf)) < 0)
		log_err("restore %s: cannot persist: %s", method_name(method), strerror(-r));
	if ((r = store_audit_append(cf->st, now, store_who(who, w), "method-restore", detail, 0)) < 0)
		log_err("restore %s: audit record failed: %s", method_name(method), strerror(-r));
	log_notice("%s by %s", detail, who);
	for (size_t a = 0; a < cf->n_peers; a++)
		for (size_t b = 0; b < cf->peers[a].cfg.n_classes; b++)
			if (class_uses(&cf->peers[a].classes[b], method)) {
				cf->peers[a].classes[b].want = cf->peers[a].classes[b].initiator;
				cf->peers[a].classes[b].retry_at = 0;
			}
	return 0;
}

int cf_restore(struct cf *cf, uint16_t method, const char *who, int64_t now)
{
	const struct cf_revoked *rv = cf_revoked_find(cf, method);
	int r;

	if (!rv)
		return -ENOENT;
	if (strcmp(rv->origin, "local") != 0 && strncmp(rv->origin, "peer:", 5) != 0)
		return -EPERM;
	if ((r = restore_apply(cf, method, who, now)) < 0)
		return r;
	for (size_t i = 0; i < cf->n_peers; i++) {
		uint8_t b[2] = { (uint8_t)(method >> 8), (uint8_t)method };

		if (cf->peers[i].up)
			env_send(&cf->peers[i], CF_ENV_RESTORE, 0, b, sizeof(b));
	}
	return 0;
}

static int on_link_msg(struct cf_peer *p, const uint8_t *f, size_t len, int64_t now)
{
	struct msg m;
	char who[CF_NAME_MAX + 8], reason[MSG_TEXT_MAX + 1];
	int r;

	if ((r = msg_parse(f, len, &m)) < 0) {
		snprintf(p->last_error, sizeof(p->last_error), "malformed link message");
		return r;
	}
	if (m.type == MSGT_REVOKE_ACK) {
		log_info("peer %s acknowledged the revocation of %s", p->cfg.name,
			 method_name(m.u.notice.code));
		return 0;
	}
	if (m.type != MSGT_REVOKE) {
		snprintf(p->last_error, sizeof(p->last_error), "unexpected %s on the link",
			 msg_type_name(m.type));
		return -EPROTO;
	}
	snprintf(who, sizeof(who), "peer:%s", p->cfg.name);
	memcpy(reason, m.u.notice.text.p, m.u.notice.text.n);
	reason[m.u.notice.text.n] = '\0';
	if (!kex_method_by_id(m.u.notice.code)) {
		log_warning("peer %s revoked method 0x%04x, unknown here", p->cfg.name, m.u.notice.code);
	} else if ((r = revoke_apply(p->cf, m.u.notice.code, who, who, reason, now, NULL)) < 0 &&
		   r != -EALREADY) {
		log_err("peer %s revoked %s: cannot apply: %s", p->cfg.name,
			method_name(m.u.notice.code), strerror(-r));
	}
	return send_notice(p, 0, MSGT_REVOKE_ACK, m.u.notice.code, "revoked");
}

static int on_restore(struct cf_peer *p, uint16_t method, int64_t now)
{
	const struct cf_revoked *rv = cf_revoked_find(p->cf, method);
	char who[CF_NAME_MAX + 8];

	snprintf(who, sizeof(who), "peer:%s", p->cfg.name);
	/* a peer lifts only what it revoked */
	if (rv && !strcmp(rv->origin, who))
		restore_apply(p->cf, method, who, now);
	return 0;
}

/* ---- link ---- */

/*
 * Reconciliation on link-up (docs/mfsd.md "Failure behaviour"): the elected
 * initiator of each class sends HELD, the exchanges of the class it holds;
 * the responder withdraws its own responder-stored exchanges the list lacks.
 */
struct held_list {
	uint8_t (*ids)[CF_HELD_ID_LEN];
	int64_t *created;
	size_t n, cap, max;		/* max: 0 = no limit */
	bool pool_only;
	bool truncated;
	int64_t since;
};

static int held_cb(void *arg, const struct store_exchange_info *x)
{
	struct held_list *l = arg;

	if (x->id_len != CF_HELD_ID_LEN || (l->pool_only && x->n_pool == 0))
		return 0;
	if (l->max && l->n == l->max) {
		l->truncated = true;
		l->since = l->created[l->n - 1];
		return 1;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		void *a = reallocarray(l->ids, cap, sizeof(*l->ids));

		if (!a)
			return -ENOMEM;
		l->ids = a;
		if (!(a = reallocarray(l->created, cap, sizeof(*l->created))))
			return -ENOMEM;
		l->created = a;
		l->cap = cap;
	}
	memcpy(l->ids[l->n], x->id, CF_HELD_ID_LEN);
	l->created[l->n++] = x->created;
	return 0;
}

static void held_free(struct held_list *l)
{
	free(l->ids);
	free(l->created);
}

static void held_send(struct cf_peer *p, struct cf_class *c, int64_t now)
{
	struct held_list l = { .max = CF_HELD_MAX };
	const char *name = c->cfg.policy.name;
	size_t nl = strlen(name), len;
	uint8_t *b;
	int r;

	r = store_exchanges(p->cf->st, p->cfg.name, name, now, held_cb, &l);
	if (r < 0) {
		log_warning("peer %s: class %s: cannot list the exchanges held: %s", p->cfg.name,
			    name, strerror(-r));
		held_free(&l);
		return;
	}
	len = 1 + nl + 8 + 2 + l.n * CF_HELD_ID_LEN;
	if (nl > 255 || !(b = malloc(len))) {
		held_free(&l);
		return;
	}
	uint64_t since = l.truncated ? (uint64_t)l.since : 0;

	b[0] = (uint8_t)nl;
	memcpy(b + 1, name, nl);
	for (int i = 0; i < 8; i++)
		b[1 + nl + i] = (uint8_t)(since >> (56 - 8 * i));
	b[1 + nl + 8] = (uint8_t)(l.n >> 8);
	b[1 + nl + 9] = (uint8_t)l.n;
	if (l.n)
		memcpy(b + 1 + nl + 10, l.ids, l.n * CF_HELD_ID_LEN);
	env_send(p, CF_ENV_HELD, 0, b, len);
	free(b);
	held_free(&l);
}

static bool held_has(const uint8_t *ids, size_t n, const uint8_t *id)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(ids + i * CF_HELD_ID_LEN, id, CF_HELD_ID_LEN) == 0)
			return true;
	return false;
}

/* body: a whole HELD body, checked for length by cf_link_input(). */
static int on_held(struct cf_peer *p, const uint8_t *e, int64_t now)
{
	struct held_list l = { .pool_only = true };
	char name[256], who[STORE_WHO_MAX + 1], reason[CF_REASON_MAX];
	size_t nl = e[0], n, withdrawn = 0, keys = 0;
	const uint8_t *ids;
	uint64_t since = 0;
	struct cf_class *c;
	int r;

	memcpy(name, e + 1, nl);
	name[nl] = '\0';
	for (int i = 0; i < 8; i++)
		since = since << 8 | e[1 + nl + i];
	n = (size_t)e[1 + nl + 8] << 8 | e[1 + nl + 9];
	ids = e + 1 + nl + 10;
	if (!(c = cf_class_by_name(p, name)) || c->initiator)
		return 0;	/* not a class this side serves */
	if (c->resp_stored) {
		/* the peer sends HELD before its first exchange: too late, ignore it */
		log_warning("peer %s: class %s: HELD after an exchange, ignored", p->cfg.name,
			    name);
		return 0;
	}
	if ((r = store_exchanges(p->cf->st, p->cfg.name, name, now, held_cb, &l)) < 0) {
		log_warning("peer %s: class %s: cannot list the exchanges: %s", p->cfg.name, name,
			    strerror(-r));
		held_free(&l);
		return 0;
	}
	store_who("mfsd (link reconciliation)", who);
	snprintf(reason, sizeof(reason), "peer %.64s does not hold it (COMMIT lost)", p->cfg.name);
	for (size_t i = 0; i < l.n; i++) {
		struct store_key_meta m;
		struct store_key_id kid;

		/* only exchanges of an earlier link, and only those the list must cover */
		if (l.created[i] > p->up_since || (since && l.created[i] <= (int64_t)since))
			continue;
		if (held_has(ids, n, l.ids[i]))
			continue;
		/* stored as responder: its id (the initiator's first key) is inbound here */
		memcpy(kid.b, l.ids[i], STORE_KEY_ID_LEN);
		if (store_key_info(p->cf->st, &kid, &m) < 0 || m.dir != STORE_INBOUND)
			continue;
		r = store_withdraw_exchange(p->cf->st, l.ids[i], CF_HELD_ID_LEN, who, reason, now);
		if (r < 0) {
			log_warning("peer %s: class %s: cannot withdraw an exchange: %s",
				    p->cfg.name, name, strerror(-r));
			continue;
		}
		withdrawn++;
		keys += (size_t)r;
	}
	held_free(&l);
	if (withdrawn) {
		c->orphans_withdrawn += withdrawn;
		log_notice("peer %s: class %s: withdrew %zu exchange(s), %zu key(s), the peer "
			   "does not hold (COMMIT lost)", p->cfg.name, name, withdrawn, keys);
	}
	return 0;
}

void cf_link_up(struct cf_peer *p, const uint8_t *exporter, size_t exporter_len, int64_t now)
{
	p->up = true;
	p->up_since = now;
	p->in_len = 0;
	p->out_len = 0;
	memset(p->exporter, 0, sizeof(p->exporter));
	memcpy(p->exporter, exporter,
	       exporter_len < sizeof(p->exporter) ? exporter_len : sizeof(p->exporter));
	p->last_error[0] = '\0';
	for (size_t i = 0; i < p->cfg.n_classes; i++) {
		p->classes[i].retry_at = 0;
		p->classes[i].failures = 0;
		p->classes[i].resp_stored = false;
		/* before any exchange of this link: the envelopes arrive in order */
		if (p->classes[i].initiator)
			held_send(p, &p->classes[i], now);
	}
	/* a static key the peer has not pinned yet: before any exchange too */
	cf_rot_link_up(p);
}

void cf_link_down(struct cf_peer *p, const char *why, int64_t now)
{
	if (!p->up)
		return;
	p->up = false;
	p->down_since = now;
	/*
	 * Exchanges waiting for the group commit: mine got their COMMIT (the
	 * responder holds them), so they are stored; the peer's never had
	 * theirs sent, so they are dropped (the initiator discards its copy).
	 */
	pending_flush(p, now);
	mfs_wipe(p->exporter, sizeof(p->exporter));
	p->in_len = 0;
	p->out_len = 0;
	if (why)
		snprintf(p->last_error, sizeof(p->last_error), "%s", why);
	for (size_t i = 0; i < p->cfg.n_classes; i++) {
		/* being stored (an outstanding batch): cf_link_commit_end() settles it */
		if (p->classes[i].x && p->classes[i].x->pending)
			continue;
		/* unconfirmed keys are discarded: the responder may not have them */
		if (p->classes[i].x)
			p->classes[i].want = true;	/* run it again once the link is back */
		xchg_free(p->classes[i].x);
		p->classes[i].x = NULL;
	}
	for (size_t i = 0; i < CF_MAX_RESPONDER; i++) {
		xchg_free(p->resp[i]);
		p->resp[i] = NULL;
	}
	/* a finished exchange of mine is also its class's x, freed above */
	for (size_t i = 0; i < p->n_pending; i++)
		if (!p->pending[i]->mine)
			xchg_free(p->pending[i]);
	p->n_pending = 0;
	cf_rot_link_down(p);
}

static bool qkd_id_text(const uint8_t *p, size_t n)
{
	if (n == 0 || n > KEX_QKD_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return false;
	return true;
}

/* QKD_IDS (lengths checked by the caller): the peer is master for these keys. */
static int on_qkd_ids(struct cf_peer *p, const uint8_t *e, size_t len)
{
	char kme[KEX_QKD_ID_MAX + 1], sae[KEX_QKD_ID_MAX + 1];
	size_t kl = e[0], sl = e[1 + kl], n;

	(void)len;
	if (!qkd_id_text(e + 1, kl) || !qkd_id_text(e + 2 + kl, sl)) {
		snprintf(p->last_error, sizeof(p->last_error), "malformed QKD_IDS");
		return -EBADMSG;
	}
	memcpy(kme, e + 1, kl);
	kme[kl] = '\0';
	memcpy(sae, e + 2 + kl, sl);
	sae[sl] = '\0';
	n = (size_t)e[2 + kl + sl] << 8 | e[3 + kl + sl];
	if (p->cf->cfg.qkd && p->cf->cfg.qkd->offered)
		p->cf->cfg.qkd->offered(p->cf->cfg.qkd_arg, p, kme, sae,
					(const uint8_t (*)[CF_QKD_ID_LEN])(e + 4 + kl + sl), n);
	return 0;
}

static int on_qkd_ready(struct cf_peer *p, const uint8_t *e, size_t len)
{
	size_t n = (size_t)e[0] << 8 | e[1];

	(void)len;
	if (p->cf->cfg.qkd && p->cf->cfg.qkd->fetched)
		p->cf->cfg.qkd->fetched(p->cf->cfg.qkd_arg, p,
					(const uint8_t (*)[CF_QKD_ID_LEN])(e + 2), n);
	return 0;
}

int cf_qkd_share(struct cf_peer *p, const char *kme_id, const char *master_sae,
		 const uint8_t (*ids)[CF_QKD_ID_LEN], size_t n)
{
	uint8_t buf[2 + 2 * KEX_QKD_ID_MAX + 2 + CF_QKD_IDS_MAX * CF_QKD_ID_LEN];
	struct wbuf w = wbuf_init(buf, sizeof(buf));
	size_t kl = strnlen(kme_id, KEX_QKD_ID_MAX + 1), sl = strnlen(master_sae, KEX_QKD_ID_MAX + 1);

	if (!p->up)
		return -ENOTCONN;
	if (n == 0 || n > CF_QKD_IDS_MAX || !qkd_id_text((const uint8_t *)kme_id, kl) ||
	    !qkd_id_text((const uint8_t *)master_sae, sl))
		return -EINVAL;
	wbuf_vec8(&w, kme_id, kl);
	wbuf_vec8(&w, master_sae, sl);
	wbuf_u16(&w, (uint16_t)n);
	wbuf_put(&w, ids, n * CF_QKD_ID_LEN);
	if (wbuf_error(&w))
		return wbuf_error(&w);
	return env_send(p, CF_ENV_QKD_IDS, 0, buf, w.len);
}

int cf_qkd_ack(struct cf_peer *p, const uint8_t (*ids)[CF_QKD_ID_LEN], size_t n)
{
	uint8_t buf[2 + CF_QKD_IDS_MAX * CF_QKD_ID_LEN];

	if (!p->up)
		return -ENOTCONN;
	if (n == 0 || n > CF_QKD_IDS_MAX)
		return -EINVAL;
	buf[0] = (uint8_t)(n >> 8);
	buf[1] = (uint8_t)n;
	memcpy(buf + 2, ids, n * CF_QKD_ID_LEN);
	return env_send(p, CF_ENV_QKD_READY, 0, buf, 2 + n * CF_QKD_ID_LEN);
}

/* TAKEN / INSTALLED (the lengths are checked by the caller): hand them to the push layer. */
static int on_push_env(struct cf_peer *p, uint8_t kind, const uint8_t *e, size_t len, int64_t now)
{
	struct cf *cf = p->cf;
	char name[256];
	struct cf_class *c;
	size_t nl = e[0];

	memcpy(name, e + 1, nl);
	name[nl] = '\0';
	if (!(c = cf_class_by_name(p, name))) {
		snprintf(p->last_error, sizeof(p->last_error), "%s for unknown class",
			 kind == CF_ENV_TAKEN ? "TAKEN" : "INSTALLED");
		return -EBADMSG;
	}
	if (kind == CF_ENV_TAKEN) {
		size_t n = e[1 + nl];

		if (len != 2 + nl + n * CF_KEY_ID_LEN)
			return -EBADMSG;
		if (cf->hooks.taken)
			cf->hooks.taken(cf->hooks.arg, p, c, e + 2 + nl, n, now);
	} else {
		if (len != 1 + nl + CF_KEY_ID_LEN)
			return -EBADMSG;
		if (cf->hooks.installed)
			cf->hooks.installed(cf->hooks.arg, p, c, e + 1 + nl, now);
	}
	return 0;
}

void cf_set_revoke_listener(struct cf *cf, size_t (*fn)(void *arg, uint16_t method), void *arg)
{
	cf->revoke_listener = fn;
	cf->revoke_listener_arg = arg;
}

void cf_set_hooks(struct cf *cf, const struct cf_hooks *h)
{
	if (h)
		cf->hooks = *h;
	else
		memset(&cf->hooks, 0, sizeof(cf->hooks));
}

int cf_send_taken(struct cf_peer *p, const struct cf_class *c, const uint8_t *ids, size_t n)
{
	uint8_t b[2 + POLICY_NAME_MAX + CF_TAKEN_MAX * CF_KEY_ID_LEN];
	size_t nl = strlen(c->cfg.policy.name);

	if (!p->up)
		return -ENOTCONN;
	if (n == 0 || n > CF_TAKEN_MAX || nl > POLICY_NAME_MAX)
		return -EINVAL;
	b[0] = (uint8_t)nl;
	memcpy(b + 1, c->cfg.policy.name, nl);
	b[1 + nl] = (uint8_t)n;
	memcpy(b + 2 + nl, ids, n * CF_KEY_ID_LEN);
	return env_send(p, CF_ENV_TAKEN, 0, b, 2 + nl + n * CF_KEY_ID_LEN);
}

int cf_send_installed(struct cf_peer *p, const struct cf_class *c, const uint8_t *id)
{
	uint8_t b[1 + POLICY_NAME_MAX + CF_KEY_ID_LEN];
	size_t nl = strlen(c->cfg.policy.name);

	if (!p->up)
		return -ENOTCONN;
	if (nl > POLICY_NAME_MAX)
		return -EINVAL;
	b[0] = (uint8_t)nl;
	memcpy(b + 1, c->cfg.policy.name, nl);
	memcpy(b + 1 + nl, id, CF_KEY_ID_LEN);
	return env_send(p, CF_ENV_INSTALLED, 0, b, 1 + nl + CF_KEY_ID_LEN);
}

/*
 * Copy data into the input buffer and handle every whole envelope. yield:
 * once all data is copied, return 1 right after an envelope whose handling
 * produced output, leaving the rest buffered (cf_link_feed).
 */
static int link_input(struct cf_peer *p, const uint8_t *data, size_t len, int64_t now, bool yield)
{
	bool first = true;

	while (len > 0 || first) {
		size_t take = CF_INBUF_MAX - p->in_len, off = 0, out0 = p->out_len;
		bool yielded = false;

		first = false;
		if (take > len)
			take = len;
		if (take) {	/* data is NULL when only buffered envelopes are left */
			memcpy(p->in + p->in_len, data, take);
			p->in_len += take;
			data += take;
			len -= take;
		}
		for (;;) {
			const uint8_t *e = p->in + off;
			size_t avail = p->in_len - off, body = 0, fl;
			uint32_t xid;
			int r = 0;

			if (avail < CF_ENV_HDR_LEN)
				break;
			xid = (uint32_t)e[1] << 24 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 8 | e[4];
			switch (e[0]) {
			case CF_ENV_PROTO:
				r = msg_frame_len(e + CF_ENV_HDR_LEN, avail - CF_ENV_HDR_LEN, &fl);
				if (r == -EAGAIN)
					goto more;
				body = fl;
				break;
			case CF_ENV_COMMIT:
				break;
			case CF_ENV_WANT:
				if (avail < CF_ENV_HDR_LEN + 1)
					goto more;
				body = 1 + (size_t)e[CF_ENV_HDR_LEN];
				break;
			case CF_ENV_RESTORE:
				body = 2;
				break;
			case CF_ENV_PING:
				break;
			case CF_ENV_ROTATE:
				if (avail < CF_ENV_HDR_LEN + CF_ROT_HDR_LEN)
					goto more;
				body = CF_ROT_HDR_LEN + ((size_t)e[CF_ENV_HDR_LEN + 74] << 8 |
							 e[CF_ENV_HDR_LEN + 75]);
				if (xid != 0 || body > CF_ROT_HDR_LEN + CF_ROT_CHUNK)
					r = -EBADMSG;
				break;
			case CF_ENV_ROTATE_ACK:
				body = CF_ROT_ACK_LEN;
				if (xid != 0)
					r = -EBADMSG;
				break;
			case CF_ENV_HELD: {
				size_t nl, n;

				if (avail < CF_ENV_HDR_LEN + 1)
					goto more;
				nl = e[CF_ENV_HDR_LEN];
				if (avail < CF_ENV_HDR_LEN + 1 + nl + 10)
					goto more;
				n = (size_t)e[CF_ENV_HDR_LEN + 1 + nl + 8] << 8 |
				    e[CF_ENV_HDR_LEN + 1 + nl + 9];
				if (n > CF_HELD_MAX || xid != 0)
					r = -EBADMSG;
				body = 1 + nl + 10 + n * CF_HELD_ID_LEN;
				break;
			}
			case CF_ENV_QKD_IDS: {
				size_t kl, sl, n;

				if (avail < CF_ENV_HDR_LEN + 1)
					goto more;
				kl = e[CF_ENV_HDR_LEN];
				if (avail < CF_ENV_HDR_LEN + 1 + kl + 1)
					goto more;
				sl = e[CF_ENV_HDR_LEN + 1 + kl];
				if (avail < CF_ENV_HDR_LEN + 2 + kl + sl + 2)
					goto more;
				n = (size_t)e[CF_ENV_HDR_LEN + 2 + kl + sl] << 8 |
				    e[CF_ENV_HDR_LEN + 3 + kl + sl];
				if (n == 0 || n > CF_QKD_IDS_MAX || xid != 0 || kl == 0 ||
				    kl > KEX_QKD_ID_MAX || sl == 0 || sl > KEX_QKD_ID_MAX)
					r = -EBADMSG;
				body = 2 + kl + sl + 2 + n * CF_QKD_ID_LEN;
				break;
			}
			case CF_ENV_QKD_READY: {
				size_t n;

				if (avail < CF_ENV_HDR_LEN + 2)
					goto more;
				n = (size_t)e[CF_ENV_HDR_LEN] << 8 | e[CF_ENV_HDR_LEN + 1];
				if (n == 0 || n > CF_QKD_IDS_MAX || xid != 0)
					r = -EBADMSG;
				body = 2 + n * CF_QKD_ID_LEN;
				break;
			}
			case CF_ENV_TAKEN:
			case CF_ENV_INSTALLED: {
				size_t nl, n = 1;

				if (avail < CF_ENV_HDR_LEN + 1)
					goto more;
				nl = e[CF_ENV_HDR_LEN];
				if (e[0] == CF_ENV_TAKEN) {
					if (avail < CF_ENV_HDR_LEN + 2 + nl)
						goto more;
					n = e[CF_ENV_HDR_LEN + 1 + nl];
					if (n == 0 || n > CF_TAKEN_MAX)
						r = -EBADMSG;
					body = 2 + nl + n * CF_KEY_ID_LEN;
				} else {
					body = 1 + nl + CF_KEY_ID_LEN;
				}
				if (xid != 0)
					r = -EBADMSG;
				break;
			}
			default:
				r = -EBADMSG;
			}
			if (r < 0) {
				snprintf(p->last_error, sizeof(p->last_error), "malformed envelope");
				return r;
			}
			if (avail < CF_ENV_HDR_LEN + body)
				goto more;
			e += CF_ENV_HDR_LEN;
			switch (e[-CF_ENV_HDR_LEN]) {
			case CF_ENV_PROTO:
				if (xid == 0)
					r = on_link_msg(p, e, body, now);
				else if (xid & CF_XID_SENDER)
					r = on_theirs(p, xid & ~CF_XID_SENDER, e, body, now);
				else
					r = on_mine(p, xid, e, body, now);
				break;
			case CF_ENV_COMMIT:
				r = on_commit(p, xid & ~CF_XID_SENDER);
				break;
			case CF_ENV_WANT: {
				char name[256];
				struct cf_class *c;

				memcpy(name, e + 1, e[0]);
				name[e[0]] = '\0';
				if ((c = cf_class_by_name(p, name)) && c->initiator)
					c->want = true;
				break;
			}
			case CF_ENV_RESTORE:
				r = on_restore(p, (uint16_t)(e[0] << 8 | e[1]), now);
				break;
			case CF_ENV_PING:	/* its arrival is all that counts */
				break;
			case CF_ENV_HELD:
				r = on_held(p, e, now);
				break;
			case CF_ENV_QKD_IDS:
				r = on_qkd_ids(p, e, body);
				break;
			case CF_ENV_QKD_READY:
				r = on_qkd_ready(p, e, body);
				break;
			case CF_ENV_TAKEN:
			case CF_ENV_INSTALLED:
				r = on_push_env(p, e[-CF_ENV_HDR_LEN], e, body, now);
				break;
			case CF_ENV_ROTATE:
				r = cf_rot_on_rotate(p, e, body, now);
				break;
			case CF_ENV_ROTATE_ACK:
				r = cf_rot_on_ack(p, e, now);
				break;
			}
			if (r < 0)
				return r;
			if (!p->up)
				return -ENOTCONN;
			off += CF_ENV_HDR_LEN + body;
			if (yield && len == 0 && p->out_len > out0) {
				yielded = true;
				break;
			}
		}
more:
		if (off == 0 && p->in_len == CF_INBUF_MAX) {
			snprintf(p->last_error, sizeof(p->last_error), "envelope too large");
			return -EMSGSIZE;
		}
		memmove(p->in, p->in + off, p->in_len - off);
		p->in_len -= off;
		if (yielded)
			return 1;
	}
	return 0;
}

int cf_link_feed(struct cf_peer *p, const uint8_t *data, size_t len, int64_t now)
{
	int r = link_input(p, data, len, now, true);

	if (r < 0)
		pending_flush(p, now);	/* the caller closes the link: store what was COMMITted */
	return r;
}

void cf_link_commit(struct cf_peer *p, int64_t now)
{
	pending_flush(p, now);
}

int cf_link_input(struct cf_peer *p, const uint8_t *data, size_t len, int64_t now)
{
	int r = link_input(p, data, len, now, false);

	pending_flush(p, now);
	return r;
}

size_t cf_link_output(struct cf_peer *p, const uint8_t **ret)
{
	*ret = p->out;
	return p->out_len;
}

void cf_link_consume(struct cf_peer *p, size_t n)
{
	if (n > p->out_len)
		n = p->out_len;
	if (n == 0)
		return;		/* p->out is still NULL before the first output */
	memmove(p->out, p->out + n, p->out_len - n);
	p->out_len -= n;
}

int cf_link_ping(struct cf_peer *p)
{
	return env_send(p, CF_ENV_PING, 0, NULL, 0);
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
			if (env_send(p, CF_ENV_WANT, 0, b, 1 + n) == 0) {
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
	if (class_requires_revoked(p->cf, c)) {
		c->want = false;
		return;
	}
	/*
	 * QKD negotiated as required (qkd_policy) but no key acknowledged by
	 * the peer yet: wait a bounded time for the client, then try anyway
	 * (the exchange then fails and is retried with the backoff).
	 */
	if (cf_class_uses_qkd(c) && qkd_state(p, NULL, NULL, 0) == CF_QKD_OK &&
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
				xchg_free(p->resp[j]);
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
	if (class_requires_revoked(cf, c)) {
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

		if (qkd_state(p, &since, why, sizeof(why)) == CF_QKD_OUTAGE && k < n)
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
	if ((r = revoked_load(cf)) < 0)
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
				xchg_free(p->batch->x[k]);
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
