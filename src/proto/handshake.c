/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The exchange state machine. Protocol description, byte layouts and the
 * key schedule: docs/protocol.md. Every step either completes or fails the
 * whole exchange (no fallback, no retry inside an exchange).
 */
#include "proto/handshake.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hash.h"
#include "crypto/mac.h"
#include "crypto/rng.h"

enum hs_state {
	ST_NONE = 0,		/* zeroed or after hs_done() */
	ST_I_START,		/* initiator: hs_start() next */
	ST_I_WAIT_SELECT,
	ST_I_WAIT_KEX2,
	ST_I_WAIT_CONFIRM,
	ST_R_WAIT_HELLO,
	ST_R_WAIT_KEX1,
	ST_R_WAIT_CONFIRM,
	ST_DONE,		/* keys ready */
	ST_TAKEN,		/* hs_result() took them */
	ST_FAILED,
};

/* Wire reason codes of ABORT. */
enum hs_abort {
	ABORT_PROTOCOL = 1,	/* malformed, unexpected or out-of-order message, version */
	ABORT_POLICY = 2,	/* the selected suite breaks local policy */
	ABORT_AUTH = 3,		/* key confirmation failed, wrong peer */
	ABORT_KEX = 4,		/* a key-exchange method failed */
	ABORT_INTERNAL = 5,	/* local resource failure */
};

#define TH_ALG HASH_SHA384
#define TH_LEN 48
#define TH_INIT_LABEL "mfsec v1 transcript"
#define PURPOSE_MASTER "mfs peer master"
#define KEY_BLOCK_INFO "mfsec v2 key block"
#define MAC_I_LABEL "mfsec v1 CONFIRM initiator"
#define MAC_R_LABEL "mfsec v1 CONFIRM responder"
#define ELECT_LABEL "mfsec v1 initiator election"

_Static_assert(TH_LEN == MSG_MAC_LEN, "CONFIRM carries an HMAC-SHA-384");
_Static_assert(HS_KEYS_MAX == POOL_KEYS_MAX, "key ids encode the index in one byte");

/* Secret working memory of one exchange, in one struct secret. */
struct hs_work {
	uint8_t ss[COMBINER_MAX_METHODS][KEX_SECRET_LEN];
	uint8_t exporter[HS_EXPORTER_MAX];
	uint8_t master[HS_MASTER_LEN];
	/* the key block, in this order (one HKDF-Expand, docs/protocol.md §5) */
	uint8_t kc_i[TH_LEN], kc_r[TH_LEN];
	uint8_t pool[2 * POOL_SECRET_LEN];
	uint8_t xid[POOL_ID_LEN];
};
#define KEY_BLOCK_LEN (2 * TH_LEN + 2 * POOL_SECRET_LEN + POOL_ID_LEN)
_Static_assert(offsetof(struct hs_work, xid) + POOL_ID_LEN - offsetof(struct hs_work, kc_i) ==
	       KEY_BLOCK_LEN, "the key block is contiguous");

static const char *abort_str(unsigned int code)
{
	switch (code) {
	case ABORT_PROTOCOL: return "protocol error";
	case ABORT_POLICY: return "policy violation";
	case ABORT_AUTH: return "authentication failed";
	case ABORT_KEX: return "key exchange method failed";
	case ABORT_INTERNAL: return "internal error";
	}
	return "unknown reason";
}

static struct hs_work *work(struct hs *hs)
{
	return (struct hs_work *)hs->work->p;
}

/* ---- cleanup and failure ---- */

static void runs_done(struct hs *hs)
{
	for (size_t i = 0; i < hs->n_runs; i++) {
		if (hs->runs[i].ctx)
			hs->runs[i].m->done(hs->runs[i].ctx);
		hs->runs[i].ctx = NULL;
	}
	if (hs->arena) {
		mfs_wipe(hs->arena, hs->arena_len);
		free(hs->arena);
	}
	hs->arena = NULL;
	hs->arena_len = hs->arena_used = 0;
	/* the runs' methods stay: they describe the exchange for hs_result() */
}

static void wipe_secrets(struct hs *hs)
{
	runs_done(hs);
	secret_free(hs->work);
	hs->work = NULL;
	secret_free(hs->pool);
	hs->pool = NULL;
	mfs_wipe(hs->exchange_id, sizeof(hs->exchange_id));
}

/*
 * Fail the exchange: wipe everything and remember why. notice: the frame
 * to answer with (MSGT_ABORT, MSGT_REFUSE, or 0 for none), code its reason.
 */
struct fail_note {
	uint8_t type;
	uint16_t code;
};

__attribute__((format(printf, 4, 5)))
static int fail(struct hs *hs, int err, struct fail_note *note, const char *fmt, ...)
{
	va_list ap;

	(void)note;
	wipe_secrets(hs);
	va_start(ap, fmt);
	vsnprintf(hs->reason, sizeof(hs->reason), fmt, ap);
	va_end(ap);
	hs->err = err < 0 ? err : -EPROTO;
	hs->state = ST_FAILED;
	return hs->err;
}

/* ---- helpers ---- */

int proto_is_initiator(const char *my_id, const char *peer_id, const char *class_name)
{
	uint8_t hm[32], hp[32];
	size_t lm, lp, lc;
	uint8_t bm, bp, bc;
	int c;

	if (!my_id || !peer_id || !class_name)
		return -EINVAL;
	lm = strlen(my_id);
	lp = strlen(peer_id);
	lc = strlen(class_name);
	if (!msg_node_id_valid((const uint8_t *)my_id, lm) ||
	    !msg_node_id_valid((const uint8_t *)peer_id, lp) || !policy_name_valid(class_name) ||
	    (lm == lp && memcmp(my_id, peer_id, lm) == 0))
		return -EINVAL;
	bm = (uint8_t)lm;
	bp = (uint8_t)lp;
	bc = (uint8_t)lc;
	{
		const struct cbuf pm[] = { CBUF(ELECT_LABEL, strlen(ELECT_LABEL)), CBUF(&bm, 1),
					   CBUF(my_id, lm), CBUF(&bc, 1), CBUF(class_name, lc) };
		const struct cbuf pp[] = { CBUF(ELECT_LABEL, strlen(ELECT_LABEL)), CBUF(&bp, 1),
					   CBUF(peer_id, lp), CBUF(&bc, 1), CBUF(class_name, lc) };

		if (hash_v(HASH_SHA256, pm, 5, hm) < 0 || hash_v(HASH_SHA256, pp, 5, hp) < 0)
			return -EIO;
	}
	c = memcmp(hm, hp, sizeof(hm));	/* public values */
	if (c == 0)
		return -EINVAL;
	return c < 0 ? 1 : 0;
}

static bool id_eq(struct rd id, const char *s)
{
	size_t n = strlen(s);

	return id.n == n && memcmp(id.p, s, n) == 0;
}

/* th = SHA-384(th ‖ frame): the transcript hash over every frame so far. */
static int th_update(struct hs *hs, const uint8_t *frame, size_t len)
{
	const struct cbuf parts[] = { CBUF(hs->th, TH_LEN), CBUF(frame, len) };

	return hash_v(TH_ALG, parts, 2, hs->th);
}

static const struct hs_static_key *static_key(const struct hs_config *c, uint16_t id)
{
	for (size_t i = 0; i < c->n_static_keys; i++)
		if (c->static_keys[i].method == id)
			return &c->static_keys[i];
	return NULL;
}

static bool hs_usable(void *arg, const struct kex_method *m)
{
	const struct hs *hs = arg;
	const struct hs_config *c = &hs->cfg;

	if (negotiate_bidirectional(m)) {
		const struct hs_static_key *k = static_key(c, m->id);

		return k && m->kem && k->sk && k->sk->p && k->sk->len == m->kem->sk_len &&
		       k->pk && k->pk_len == m->kem->pk_len && k->pk_id && k->peer_pk &&
		       k->peer_pk_len == m->kem->pk_len && k->peer_pk_id;
	}
	if (m->family == KEX_FAMILY_PSK)
		return c->psk_lookup && (c->role == HS_RESPONDER || c->psk_id);
	if (m->family == KEX_FAMILY_QKD)
		return (c->role == HS_INITIATOR ? c->qkd_take != NULL : c->qkd_lookup != NULL) &&
		       (!c->qkd_usable || c->qkd_usable(c->qkd_arg));
	return m->secret_len == KEX_SECRET_LEN;
}

static struct negotiate_local local_of(struct hs *hs)
{
	return (struct negotiate_local){
		.policy = hs->policy,
		.revoked = hs->cfg.revoked,
		.n_revoked = hs->cfg.n_revoked,
		.usable = hs_usable,
		.usable_arg = hs,
	};
}

static void run_env(const struct hs *hs, const struct hs_run *run, struct kex_env *env)
{
	memset(env, 0, sizeof(*env));
	env->psk_lookup = hs->cfg.psk_lookup;
	env->psk_arg = hs->cfg.psk_arg;
	env->psk_id = hs->cfg.psk_id;
	env->qkd_take = hs->cfg.qkd_take;
	env->qkd_lookup = hs->cfg.qkd_lookup;
	env->qkd_arg = hs->cfg.qkd_arg;
	if (negotiate_bidirectional(run->m)) {
		const struct hs_static_key *k = static_key(&hs->cfg, run->m->id);

		if (run->role == KEX_INITIATOR) {	/* decapsulates with its own key */
			env->static_sk = k->sk;
			env->static_pk = k->pk;
			env->static_pk_len = k->pk_len;
			env->static_pk_id = k->pk_id;
		} else {				/* encapsulates to the pinned key */
			env->peer_static_pk = k->peer_pk;
			env->peer_static_pk_len = k->peer_pk_len;
			env->static_pk_id = k->peer_pk_id;
		}
	}
}

/*
 * A peer that rotated its static key names the key it decapsulates with in
 * msg1 (its key id). This side may hold two pins of that peer for the method
 * (struct hs_static_key entries of one method: the current pin first, the
 * previous one while a rotation's grace period lasts, see cf/keyring.h):
 * the responder run is set up with the first and switched here, before
 * msg2, to the entry whose pinned key id msg1 names. Key ids are public.
 */
static int run_pick_pin(struct hs *hs, struct hs_run *run, struct rd msg1)
{
	const struct hs_config *c = &hs->cfg;
	const struct hs_static_key *first = static_key(c, run->m->id);
	struct kex_env env;

	if (!negotiate_bidirectional(run->m) || run->role != KEX_RESPONDER || !first ||
	    msg1.n != HS_STATIC_ID_LEN || !memcmp(first->peer_pk_id, msg1.p, HS_STATIC_ID_LEN))
		return 0;
	for (size_t i = 0; i < c->n_static_keys; i++) {
		const struct hs_static_key *k = &c->static_keys[i];

		if (k == first || k->method != run->m->id || !k->peer_pk || !k->peer_pk_id ||
		    k->peer_pk_len != first->peer_pk_len ||
		    memcmp(k->peer_pk_id, msg1.p, HS_STATIC_ID_LEN) != 0)
			continue;
		memset(&env, 0, sizeof(env));
		env.peer_static_pk = k->peer_pk;
		env.peer_static_pk_len = k->peer_pk_len;
		env.static_pk_id = k->peer_pk_id;
		run->m->done(run->ctx);
		return run->m->init(run->ctx, &env, KEX_RESPONDER);
	}
	return 0;	/* no such pin: the method refuses msg1 itself */
}

#define ALIGN16(x) (((x) + 15) & ~(size_t)15)

/*
 * The method runs of the suite, in combiner order: every suite method
 * forward (the protocol initiator is the method initiator), then every
 * bidirectional method reverse. One arena holds each run's context and
 * room for a copy of its msg1 and msg2. Every run is init()ed.
 */
static int runs_setup(struct hs *hs)
{
	bool me_init = hs->cfg.role == HS_INITIATOR;
	size_t n = 0, len = 0, off = 0;
	int r;

	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < hs->suite.n; i++) {
			const struct kex_method *m = kex_method_by_id(hs->suite.ids[i]);

			if (!m)
				return -EOPNOTSUPP;
			if (pass == 1 && !negotiate_bidirectional(m))
				continue;
			if (n + 1 >= COMBINER_MAX_METHODS)	/* + the TLS exporter */
				return -EPERM;
			hs->runs[n] = (struct hs_run){
				.m = m,
				.instance = pass == 0 ? MSG_INST_FORWARD : MSG_INST_REVERSE,
				.role = (pass == 0) == me_init ? KEX_INITIATOR : KEX_RESPONDER,
			};
			len += ALIGN16(m->ctx_size ? m->ctx_size : 1) +
			       ALIGN16(m->msg1_max + m->msg2_max);
			n++;
		}
	hs->n_runs = n;
	if (!(hs->arena = calloc(1, len ? len : 1)))
		return -ENOMEM;
	hs->arena_len = len;
	for (size_t i = 0; i < n; i++) {
		struct hs_run *run = &hs->runs[i];

		run->ctx = hs->arena + off;
		off += ALIGN16(run->m->ctx_size ? run->m->ctx_size : 1);
		run->m1_off = off;
		off += run->m->msg1_max;
		run->m2_off = off;
		off += run->m->msg2_max;
		off = ALIGN16(off);	/* the next context starts aligned */
	}
	hs->arena_used = off;
	for (size_t i = 0; i < n; i++) {
		struct kex_env env;

		run_env(hs, &hs->runs[i], &env);
		if ((r = hs->runs[i].m->init(hs->runs[i].ctx, &env, hs->runs[i].role)) < 0)
			return r;
	}
	return 0;
}

static int run_keep(struct hs *hs, struct hs_run *run, int which, struct rd data)
{
	size_t max = which == 1 ? run->m->msg1_max : run->m->msg2_max;

	if (data.n > max)
		return -EMSGSIZE;
	memcpy(hs->arena + (which == 1 ? run->m1_off : run->m2_off), data.p, data.n);
	if (which == 1)
		run->m1_len = data.n;
	else
		run->m2_len = data.n;
	return 0;
}

/*
 * Append one item to out, written by the method (msg1 or msg2 with input
 * in), and keep a copy of it.
 */
static int run_emit(struct hs *hs, struct hs_run *run, int which, struct rd in, struct wbuf *out)
{
	size_t max = which == 1 ? run->m->msg1_max : run->m->msg2_max;
	size_t off, room;
	struct wbuf sub;
	uint8_t *dummy;
	int r;

	if ((r = msg_item_begin(out, run->m->id, run->instance, &off)) < 0)
		return r;
	room = out->cap - out->len;
	sub = wbuf_init(out->p + out->len, room < max ? room : max);
	if (which == 1)
		r = run->m->msg1(run->ctx, &sub);
	else if ((r = run_pick_pin(hs, run, in)) == 0)
		r = run->m->msg2(run->ctx, in, &sub);
	if (r < 0)
		return r;
	if ((r = wbuf_error(&sub)) < 0 || (r = wbuf_reserve(out, sub.len, &dummy)) < 0 ||
	    (r = msg_item_end(out, off)) < 0)
		return r;
	return run_keep(hs, run, which, wbuf_rd(&sub));
}

/* Items of a received SELECT/KEX1/KEX2 must be exactly the expected runs, in order. */
static bool items_match(const struct hs *hs, const struct msg_item *items, size_t n_items,
			bool fwd, bool rev)
{
	size_t k = 0;

	for (size_t i = 0; i < hs->n_runs; i++) {
		const struct hs_run *run = &hs->runs[i];

		if ((run->instance == MSG_INST_FORWARD && !fwd) ||
		    (run->instance == MSG_INST_REVERSE && !rev))
			continue;
		if (k >= n_items || items[k].method != run->m->id ||
		    items[k].instance != run->instance)
			return false;
		k++;
	}
	return k == n_items;
}

/*
 * After the last KEX message: take every method secret and run the
 * combiner (CatKDF by default) over them and the TLS exporter, bound to
 * the transcript hash so far; derive the two confirmation keys and the
 * pool key.
 */
static int derive(struct hs *hs)
{
	struct hs_work *w = work(hs);
	struct secret views[COMBINER_MAX_METHODS];
	struct combiner_method cm[COMBINER_MAX_METHODS];
	struct combiner_input in;
	const char *id_i, *id_r;
	struct cbuf extra;
	uint8_t info[sizeof(KEY_BLOCK_INFO) + 2];
	size_t n = hs->n_runs, li;
	int r;

	memset(cm, 0, sizeof(cm));
	for (size_t i = 0; i < n; i++) {
		struct hs_run *run = &hs->runs[i];

		if (run->m->secret_len != KEX_SECRET_LEN)
			return -EOPNOTSUPP;
		if ((r = run->m->secret(run->ctx, w->ss[i])) < 0)
			return r;
		run->m->done(run->ctx);	/* release its keys early */
		views[i] = (struct secret){ .p = w->ss[i], .len = KEX_SECRET_LEN };
		cm[i] = (struct combiner_method){
			.id = run->m->id,
			.its = run->m->family == KEX_FAMILY_QKD,
			.secret = &views[i],
			.expected_len = KEX_SECRET_LEN,
			.msg1 = CBUF(hs->arena + run->m1_off, run->m1_len),
			.msg2 = CBUF(hs->arena + run->m2_off, run->m2_len),
		};
	}
	views[n] = (struct secret){ .p = w->exporter, .len = hs->cfg.tls_exporter_len };
	cm[n] = (struct combiner_method){
		.id = COMBINER_ID_TLS_EXPORTER,
		.secret = &views[n],
		.expected_len = hs->cfg.tls_exporter_len,
	};
	if (hs->cfg.role == HS_INITIATOR) {
		id_i = hs->cfg.my_id;
		id_r = hs->cfg.peer_id;
	} else {
		id_i = hs->cfg.peer_id;
		id_r = hs->cfg.my_id;
	}
	combiner_input_init(&in);
	in.mode = hs->policy->combiner;
	in.version = hs->version;
	in.purpose = CBUF(PURPOSE_MASTER, strlen(PURPOSE_MASTER));
	in.id_init = CBUF(id_i, strlen(id_i));
	in.id_resp = CBUF(id_r, strlen(id_r));
	in.nonce_init = CBUF(hs->nonce_i, MSG_NONCE_LEN);
	in.nonce_resp = CBUF(hs->nonce_r, MSG_NONCE_LEN);
	in.suite = hs->suite.ids;
	in.n_suite = hs->suite.n;
	in.methods = cm;
	in.n_methods = n + 1;
	extra = CBUF(hs->th, TH_LEN);
	in.extra = &extra;
	in.n_extra = 1;
	/*
	 * kc_i ‖ kc_r ‖ pool_0 ‖ pool_1 ‖ exchange id = HKDF-Expand(master,
	 * "mfsec v2 key block" ‖ u16 n_keys, 176): one expansion (n_keys is
	 * fixed since SELECT), each part at its own offset.
	 */
	li = strlen(KEY_BLOCK_INFO);
	memcpy(info, KEY_BLOCK_INFO, li);
	info[li] = (uint8_t)(hs->n_keys >> 8);
	info[li + 1] = (uint8_t)hs->n_keys;
	if ((r = combiner_derive(&in, w->master, HS_MASTER_LEN)) < 0 ||
	    (r = hkdf_expand(TH_ALG, w->master, HS_MASTER_LEN, info, li + 2, w->kc_i,
			     KEY_BLOCK_LEN)) < 0)
		return r;
	mfs_wipe(w->ss, sizeof(w->ss));
	mfs_wipe(w->master, sizeof(w->master));
	return 0;
}

/* CONFIRM MAC = HMAC-SHA-384(kc, label ‖ u16 n_keys ‖ th). */
static int confirm_mac(const struct hs *hs, bool initiator, const uint8_t *th, uint8_t *mac)
{
	const struct hs_work *w = (const struct hs_work *)hs->work->p;
	const char *label = initiator ? MAC_I_LABEL : MAC_R_LABEL;
	uint8_t n[2] = { (uint8_t)(hs->n_keys >> 8), (uint8_t)hs->n_keys };
	const struct cbuf parts[] = { CBUF(label, strlen(label)), CBUF(n, 2), CBUF(th, TH_LEN) };

	return hmac_v(TH_ALG, initiator ? w->kc_i : w->kc_r, TH_LEN, parts, 3, mac);
}

/*
 * The exchange's output (docs/protocol.md §7): one pool secret per
 * direction and the exchange ID, from the key block. Keys are derived from
 * the pool secrets on demand (pool.h), never here.
 */
static int derive_pool(struct hs *hs)
{
	struct hs_work *w = work(hs);

	if (!(hs->pool = secret_dup(w->pool, sizeof(w->pool))))
		return -ENOMEM;
	memcpy(hs->exchange_id, w->xid, POOL_ID_LEN);
	pool_exchange_id_from(hs->exchange_id);
	return 0;
}

/* ---- public API ---- */

int hs_init(struct hs *hs, const struct hs_config *cfg)
{
	int r = -EINVAL;

	memset(hs, 0, sizeof(*hs));
	hs->cfg = *cfg;
	if ((cfg->role != HS_INITIATOR && cfg->role != HS_RESPONDER) || !cfg->my_id ||
	    !cfg->peer_id ||
	    !msg_node_id_valid((const uint8_t *)cfg->my_id, strlen(cfg->my_id)) ||
	    !msg_node_id_valid((const uint8_t *)cfg->peer_id, strlen(cfg->peer_id)) ||
	    strcmp(cfg->my_id, cfg->peer_id) == 0 || !cfg->tls_exporter ||
	    cfg->tls_exporter_len < HS_EXPORTER_MIN || cfg->tls_exporter_len > HS_EXPORTER_MAX ||
	    cfg->n_keys == 0 || cfg->n_keys > HS_KEYS_MAX ||
	    (cfg->n_revoked && !cfg->revoked) || (cfg->n_static_keys && !cfg->static_keys))
		goto out;
	if (cfg->role == HS_INITIATOR) {
		if (!cfg->policy || !policy_name_valid(cfg->policy->name))
			goto out;
		if ((r = proto_is_initiator(cfg->my_id, cfg->peer_id, cfg->policy->name)) < 0)
			goto out;
		if (r == 0) {
			r = -EACCES;	/* the peer is the elected initiator for this class */
			goto out;
		}
		hs->policy = cfg->policy;
		hs->state = ST_I_START;
	} else {
		if (cfg->n_classes && !cfg->classes)
			goto out;
		hs->state = ST_R_WAIT_HELLO;
	}
	if (!(hs->work = secret_alloc(sizeof(struct hs_work)))) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(work(hs)->exporter, cfg->tls_exporter, cfg->tls_exporter_len);
	r = hash(TH_ALG, TH_INIT_LABEL, strlen(TH_INIT_LABEL), hs->th);
out:
	if (r < 0) {
		secret_free(hs->work);
		memset(hs, 0, sizeof(*hs));
		hs->state = ST_FAILED;
		hs->err = r;
		snprintf(hs->reason, sizeof(hs->reason), "invalid configuration");
	}
	return r < 0 ? r : 0;
}

int hs_start(struct hs *hs, struct wbuf *out)
{
	struct negotiate_local local;
	unsigned int reason = 0;
	struct msg m;
	size_t start = out->len;
	int r;

	if (hs->state != ST_I_START)
		return hs->state == ST_FAILED ? hs->err : -EPROTO;
	local = local_of(hs);
	if (negotiate_offer(&local, &hs->offer, &reason) < 0)
		return fail(hs, -EPERM, NULL, "local policy: %s", proto_refuse_str(reason));
	if ((r = crypto_random_public(hs->nonce_i, sizeof(hs->nonce_i))) < 0)
		return fail(hs, r, NULL, "no randomness");
	memset(&m, 0, sizeof(m));
	m.version = MSG_HELLO_FRAME_VERSION;
	m.type = MSGT_HELLO;
	m.u.hello = (struct msg_hello){
		.version_min = PROTO_VERSION_MIN,
		.version_max = PROTO_VERSION_MAX,
		.node_id = rd_init(hs->cfg.my_id, strlen(hs->cfg.my_id)),
		.class_name = rd_init(hs->policy->name, strlen(hs->policy->name)),
		.nonce = hs->nonce_i,
		.combiner = (uint8_t)hs->offer.combiner,
		.n_keys = hs->cfg.n_keys,
		.n_required = hs->offer.n_required,
		.n_optional = hs->offer.n_optional,
		.min_pq_factors = hs->offer.min_pq_factors,
		.min_families = hs->offer.min_families,
	};
	memcpy(m.u.hello.required, hs->offer.required, sizeof(m.u.hello.required));
	memcpy(m.u.hello.optional, hs->offer.optional, sizeof(m.u.hello.optional));
	if ((r = msg_encode(out, &m)) < 0 ||
	    (r = th_update(hs, out->p + start, out->len - start)) < 0) {
		out->len = start;
		out->err = 0;
		return fail(hs, r, NULL, "cannot write HELLO");
	}
	hs->state = ST_I_WAIT_SELECT;
	return HS_MORE;
}

/* Responder: HELLO → SELECT (or REFUSE). */
static int on_hello(struct hs *hs, const struct msg *m, const uint8_t *frame, size_t len,
		    struct wbuf *out, struct fail_note *note)
{
	const struct msg_hello *h = &m->u.hello;
	struct class_policy peer;
	struct negotiate_local local;
	unsigned int reason = 0;
	char cls[POLICY_NAME_MAX + 1];
	size_t start = out->len, foff;
	uint16_t vlo, vhi, nsel = 0;
	int r;

	note->type = MSGT_REFUSE;
	if (m->version != MSG_HELLO_FRAME_VERSION) {
		note->code = REFUSE_VERSION;
		return fail(hs, -EPROTONOSUPPORT, note, "HELLO framed with version %u",
			    m->version);
	}
	vlo = h->version_min > PROTO_VERSION_MIN ? h->version_min : PROTO_VERSION_MIN;
	vhi = h->version_max < PROTO_VERSION_MAX ? h->version_max : PROTO_VERSION_MAX;
	if (vlo > vhi) {
		note->code = REFUSE_VERSION;
		return fail(hs, -EPROTONOSUPPORT, note, "no common protocol version");
	}
	hs->version = vhi;
	if (!id_eq(h->node_id, hs->cfg.peer_id)) {
		note->code = REFUSE_UNKNOWN_PEER;
		return fail(hs, -EACCES, note, "HELLO from an unexpected node id");
	}
	memcpy(cls, h->class_name.p, h->class_name.n);
	cls[h->class_name.n] = '\0';
	for (size_t i = 0; i < hs->cfg.n_classes && !hs->policy; i++)
		if (strcmp(hs->cfg.classes[i].name, cls) == 0)
			hs->policy = &hs->cfg.classes[i];
	if (!hs->policy) {
		note->code = REFUSE_UNKNOWN_CLASS;
		return fail(hs, -EPERM, note, "unknown class %s", cls);
	}
	if (proto_is_initiator(hs->cfg.peer_id, hs->cfg.my_id, cls) != 1) {
		note->code = REFUSE_NOT_INITIATOR;
		return fail(hs, -EACCES, note, "peer is not the elected initiator of %s", cls);
	}
	policy_init(&peer, cls);
	memcpy(peer.required, h->required, sizeof(peer.required));
	peer.n_required = h->n_required;
	memcpy(peer.optional, h->optional, sizeof(peer.optional));
	peer.n_optional = h->n_optional;
	peer.min_pq_factors = h->min_pq_factors;
	peer.min_families = h->min_families;
	peer.combiner = (enum combiner_mode)h->combiner;
	local = local_of(hs);
	if (negotiate_select(&local, &peer, &hs->suite, &reason) < 0) {
		note->code = (uint16_t)reason;
		return fail(hs, -EPERM, note, "refused: %s", proto_refuse_str(reason));
	}
	hs->offer = peer;
	hs->n_keys = h->n_keys < hs->cfg.n_keys ? h->n_keys : hs->cfg.n_keys;
	memcpy(hs->nonce_i, h->nonce, MSG_NONCE_LEN);
	note->type = MSGT_ABORT;
	note->code = ABORT_INTERNAL;
	if ((r = crypto_random_public(hs->nonce_r, MSG_NONCE_LEN)) < 0 ||
	    (r = th_update(hs, frame, len)) < 0)
		return fail(hs, r, note, "internal error");
	note->code = ABORT_KEX;
	if ((r = runs_setup(hs)) < 0)
		return fail(hs, r, note, "method setup failed");

	/* SELECT, with the msg1 of every reverse run (our static key ids) */
	note->code = ABORT_INTERNAL;
	if ((r = msg_frame_begin(out, hs->version, MSGT_SELECT, &foff)) < 0)
		goto write_failed;
	wbuf_u16(out, hs->version);
	wbuf_vec8(out, hs->cfg.my_id, strlen(hs->cfg.my_id));
	wbuf_put(out, hs->nonce_r, MSG_NONCE_LEN);
	wbuf_u8(out, (uint8_t)hs->policy->combiner);
	wbuf_u16(out, hs->n_keys);
	wbuf_u8(out, (uint8_t)hs->suite.n);
	for (size_t i = 0; i < hs->suite.n; i++)
		wbuf_u16(out, hs->suite.ids[i]);
	for (size_t i = 0; i < hs->n_runs; i++)
		nsel += hs->runs[i].instance == MSG_INST_REVERSE;
	wbuf_u8(out, (uint8_t)nsel);
	for (size_t i = 0; i < hs->n_runs; i++) {
		if (hs->runs[i].instance != MSG_INST_REVERSE)
			continue;
		if ((r = run_emit(hs, &hs->runs[i], 1, rd_init(NULL, 0), out)) < 0) {
			note->code = ABORT_KEX;
			return fail(hs, r, note, "%s: msg1 failed", hs->runs[i].m->name);
		}
	}
	if ((r = msg_frame_end(out, foff)) < 0 ||
	    (r = th_update(hs, out->p + start, out->len - start)) < 0)
		goto write_failed;
	hs->state = ST_R_WAIT_KEX1;
	return HS_MORE;
write_failed:
	return fail(hs, r, note, "cannot write SELECT");
}

/* Initiator: SELECT → KEX1. */
static int on_select(struct hs *hs, const struct msg *m, const uint8_t *frame, size_t len,
		     struct wbuf *out, struct fail_note *note)
{
	const struct msg_select *s = &m->u.select;
	struct negotiate_local local = local_of(hs);
	unsigned int reason = 0;
	size_t start = out->len, foff, k = 0;
	int r;

	note->type = MSGT_ABORT;
	note->code = ABORT_PROTOCOL;
	if (s->version < PROTO_VERSION_MIN || s->version > PROTO_VERSION_MAX ||
	    m->version != s->version)
		return fail(hs, -EPROTONOSUPPORT, note, "SELECT with version %u", s->version);
	hs->version = s->version;
	note->code = ABORT_AUTH;
	if (!id_eq(s->node_id, hs->cfg.peer_id))
		return fail(hs, -EACCES, note, "SELECT from an unexpected node id");
	note->code = ABORT_POLICY;
	if (s->combiner != (uint8_t)hs->offer.combiner)
		return fail(hs, -EPERM, note, "responder changed the combiner");
	if (s->n_keys > hs->cfg.n_keys)
		return fail(hs, -EPERM, note, "responder asks for more keys than offered");
	hs->n_keys = s->n_keys;
	memcpy(hs->suite.ids, s->suite, sizeof(hs->suite.ids));
	hs->suite.n = s->n_suite;
	if (negotiate_check(&local, &hs->offer, &hs->suite, &reason) < 0)
		return fail(hs, -EPERM, note, "selected suite rejected: %s",
			    proto_refuse_str(reason));
	memcpy(hs->nonce_r, s->nonce, MSG_NONCE_LEN);
	note->code = ABORT_INTERNAL;
	if ((r = th_update(hs, frame, len)) < 0)
		return fail(hs, r, note, "internal error");
	note->code = ABORT_KEX;
	if ((r = runs_setup(hs)) < 0)
		return fail(hs, r, note, "method setup failed");
	note->code = ABORT_PROTOCOL;
	if (!items_match(hs, s->items, s->n_items, false, true))
		return fail(hs, -EBADMSG, note, "SELECT payloads do not match the suite");

	/* KEX1: msg1 of every forward run, msg2 of every reverse run */
	note->code = ABORT_INTERNAL;
	if ((r = msg_frame_begin(out, hs->version, MSGT_KEX1, &foff)) < 0)
		goto write_failed;
	wbuf_u8(out, (uint8_t)hs->n_runs);
	for (size_t i = 0; i < hs->n_runs; i++) {
		struct hs_run *run = &hs->runs[i];

		note->code = ABORT_KEX;
		if (run->instance == MSG_INST_FORWARD) {
			r = run_emit(hs, run, 1, rd_init(NULL, 0), out);
		} else {
			struct rd m1 = s->items[k++].data;

			if ((r = run_keep(hs, run, 1, m1)) >= 0)
				r = run_emit(hs, run, 2, m1, out);
		}
		if (r < 0)
			return fail(hs, r, note, "%s: %s failed", run->m->name,
				    run->instance == MSG_INST_FORWARD ? "msg1" : "reverse msg2");
	}
	note->code = ABORT_INTERNAL;
	if ((r = msg_frame_end(out, foff)) < 0 ||
	    (r = th_update(hs, out->p + start, out->len - start)) < 0)
		goto write_failed;
	hs->state = ST_I_WAIT_KEX2;
	return HS_MORE;
write_failed:
	return fail(hs, r, note, "cannot write KEX1");
}

/* Responder: KEX1 → KEX2 + CONFIRM. */
static int on_kex1(struct hs *hs, const struct msg *m, const uint8_t *frame, size_t len,
		   struct wbuf *out, struct fail_note *note)
{
	const struct msg_kex *kx = &m->u.kex;
	uint8_t mac[MSG_MAC_LEN];
	size_t start, foff, nfwd = 0;
	int r;

	note->type = MSGT_ABORT;
	note->code = ABORT_PROTOCOL;
	if (!items_match(hs, kx->items, kx->n_items, true, true))
		return fail(hs, -EBADMSG, note, "KEX1 payloads do not match the suite");
	note->code = ABORT_INTERNAL;
	if ((r = th_update(hs, frame, len)) < 0)
		return fail(hs, r, note, "internal error");
	start = out->len;
	if ((r = msg_frame_begin(out, hs->version, MSGT_KEX2, &foff)) < 0)
		goto write_failed;
	for (size_t i = 0; i < hs->n_runs; i++)
		nfwd += hs->runs[i].instance == MSG_INST_FORWARD;
	wbuf_u8(out, (uint8_t)nfwd);
	for (size_t i = 0; i < hs->n_runs; i++) {
		struct hs_run *run = &hs->runs[i];
		struct rd data = kx->items[i].data;	/* items_match: same order as runs */

		note->code = ABORT_KEX;
		if (run->instance == MSG_INST_FORWARD) {
			if ((r = run_keep(hs, run, 1, data)) >= 0)
				r = run_emit(hs, run, 2, data, out);
		} else {
			if ((r = run_keep(hs, run, 2, data)) >= 0)
				r = run->m->finish(run->ctx, data);
		}
		if (r < 0)
			return fail(hs, r, note, "%s: %s failed", run->m->name,
				    run->instance == MSG_INST_FORWARD ? "msg2" : "reverse finish");
	}
	note->code = ABORT_INTERNAL;
	if ((r = msg_frame_end(out, foff)) < 0 ||
	    (r = th_update(hs, out->p + start, out->len - start)) < 0)
		goto write_failed;
	note->code = ABORT_KEX;
	if ((r = derive(hs)) < 0)
		return fail(hs, r, note, "key derivation failed");
	note->code = ABORT_INTERNAL;
	start = out->len;
	if ((r = confirm_mac(hs, false, hs->th, mac)) < 0 ||
	    (r = msg_frame_begin(out, hs->version, MSGT_CONFIRM, &foff)) < 0 ||
	    (r = wbuf_put(out, mac, sizeof(mac))) < 0 || (r = msg_frame_end(out, foff)) < 0 ||
	    (r = th_update(hs, out->p + start, out->len - start)) < 0)
		goto write_failed;
	runs_done(hs);
	hs->state = ST_R_WAIT_CONFIRM;
	return HS_MORE;
write_failed:
	return fail(hs, r, note, "cannot write KEX2/CONFIRM");
}

/* Initiator: KEX2 → (wait for CONFIRM). */
static int on_kex2(struct hs *hs, const struct msg *m, const uint8_t *frame, size_t len,
		   struct fail_note *note)
{
	const struct msg_kex *kx = &m->u.kex;
	size_t k = 0;
	int r;

	note->type = MSGT_ABORT;
	note->code = ABORT_PROTOCOL;
	if (!items_match(hs, kx->items, kx->n_items, true, false))
		return fail(hs, -EBADMSG, note, "KEX2 payloads do not match the suite");
	note->code = ABORT_INTERNAL;
	if ((r = th_update(hs, frame, len)) < 0)
		return fail(hs, r, note, "internal error");
	for (size_t i = 0; i < hs->n_runs; i++) {
		struct hs_run *run = &hs->runs[i];
		struct rd data;

		if (run->instance != MSG_INST_FORWARD)
			continue;
		data = kx->items[k++].data;
		note->code = ABORT_KEX;
		if ((r = run_keep(hs, run, 2, data)) < 0 ||
		    (r = run->m->finish(run->ctx, data)) < 0)
			return fail(hs, r, note, "%s: finish failed", run->m->name);
	}
	if ((r = derive(hs)) < 0)
		return fail(hs, r, note, "key derivation failed");
	runs_done(hs);
	memcpy(hs->th_confirm, hs->th, TH_LEN);
	hs->state = ST_I_WAIT_CONFIRM;
	return HS_MORE;
}

/* Both: verify the peer's CONFIRM; the initiator answers with its own. */
static int on_confirm(struct hs *hs, const struct msg *m, const uint8_t *frame, size_t len,
		      struct wbuf *out, struct fail_note *note)
{
	bool initiator = hs->cfg.role == HS_INITIATOR;
	uint8_t mac[MSG_MAC_LEN];
	size_t foff;
	bool ok;
	int r;

	note->type = MSGT_ABORT;
	note->code = ABORT_INTERNAL;
	/* the peer's MAC: the responder's covers up to KEX2, the initiator's up to CONFIRM_R */
	if ((r = confirm_mac(hs, !initiator, initiator ? hs->th_confirm : hs->th, mac)) < 0)
		return fail(hs, r, note, "internal error");
	ok = mfs_ct_eq(mac, m->u.confirm.mac, MSG_MAC_LEN);
	mfs_wipe(mac, sizeof(mac));
	note->code = ABORT_AUTH;
	if (!ok)
		return fail(hs, -EKEYREJECTED, note, "key confirmation failed");
	note->code = ABORT_INTERNAL;
	if (initiator) {
		if ((r = th_update(hs, frame, len)) < 0 || (r = confirm_mac(hs, true, hs->th, mac)) < 0 ||
		    (r = msg_frame_begin(out, hs->version, MSGT_CONFIRM, &foff)) < 0 ||
		    (r = wbuf_put(out, mac, sizeof(mac))) < 0 || (r = msg_frame_end(out, foff)) < 0)
			return fail(hs, r, note, "cannot write CONFIRM");
	}
	if ((r = derive_pool(hs)) < 0)
		return fail(hs, r, note, "key derivation failed");
	secret_free(hs->work);
	hs->work = NULL;
	hs->state = ST_DONE;
	return HS_DONE;
}

static void write_note(struct wbuf *out, size_t start, uint16_t version, const struct fail_note *n,
		       const char *text)
{
	struct msg m;
	size_t tl = strlen(text);

	out->len = start;
	out->err = 0;
	if (!n->type)
		return;
	memset(&m, 0, sizeof(m));
	m.version = version ? version : MSG_HELLO_FRAME_VERSION;
	m.type = n->type;
	m.u.notice.code = n->code;
	m.u.notice.text = rd_init(text, tl > MSG_TEXT_MAX ? MSG_TEXT_MAX : tl);
	if (msg_encode(out, &m) < 0) {
		out->len = start;	/* no room: the caller just closes */
		out->err = 0;
	}
}

static void copy_text(char *dst, size_t cap, struct rd t)
{
	size_t n = t.n < cap - 1 ? t.n : cap - 1;

	memcpy(dst, t.p, n);	/* printable ASCII, checked by the codec */
	dst[n] = '\0';
}

int hs_recv(struct hs *hs, const uint8_t *frame, size_t len, struct wbuf *out)
{
	struct fail_note note = { .type = MSGT_ABORT, .code = ABORT_PROTOCOL };
	size_t start = out->len;
	struct msg m;
	int r;

	switch (hs->state) {
	case ST_I_WAIT_SELECT:
	case ST_I_WAIT_KEX2:
	case ST_I_WAIT_CONFIRM:
	case ST_R_WAIT_HELLO:
	case ST_R_WAIT_KEX1:
	case ST_R_WAIT_CONFIRM:
		break;
	case ST_FAILED:
		return hs->err;
	case ST_DONE:
	case ST_TAKEN:
		/*
		 * The initiator is done before the responder has checked its
		 * CONFIRM. An ABORT arriving now says the responder has no keys:
		 * the exchange fails here too (keys not taken yet are wiped; the
		 * caller discards any it took). Anything else changes nothing.
		 */
		if (msg_parse(frame, len, &m) == 0 && m.type == MSGT_ABORT) {
			note.type = 0;
			return fail(hs, -ECONNABORTED, &note, "aborted by peer after completion: %s",
				    abort_str(m.u.notice.code));
		}
		return -EPROTO;
	default:
		return -EPROTO;	/* not started: nothing changes */
	}
	if ((r = msg_parse(frame, len, &m)) < 0) {
		if (hs->state == ST_R_WAIT_HELLO)
			note.type = 0;	/* not even a HELLO: just close */
		r = fail(hs, r, &note, "malformed message");
		goto out;
	}
	if (m.type == MSGT_ABORT || m.type == MSGT_REFUSE) {
		char text[MSG_TEXT_MAX + 1];
		bool refuse = m.type == MSGT_REFUSE && hs->state == ST_I_WAIT_SELECT;

		copy_text(text, sizeof(text), m.u.notice.text);
		note.type = 0;
		if (m.type == MSGT_REFUSE && !refuse)
			r = fail(hs, -EPROTO, &note, "unexpected REFUSE");
		else if (refuse)
			r = fail(hs, -ECONNREFUSED, &note, "refused by peer: %s (%s)",
				 proto_refuse_str(m.u.notice.code), text);
		else
			r = fail(hs, -ECONNABORTED, &note, "aborted by peer: %s (%s)",
				 abort_str(m.u.notice.code), text);
		goto out;
	}
	/*
	 * After SELECT every frame carries the negotiated version; a HELLO is
	 * always framed as version 1, so a late one is just unexpected (below).
	 */
	if (hs->state != ST_R_WAIT_HELLO && hs->state != ST_I_WAIT_SELECT &&
	    m.type != MSGT_HELLO && m.version != hs->version) {
		r = fail(hs, -EPROTONOSUPPORT, &note, "%s with version %u", msg_type_name(m.type),
			 m.version);
		goto out;
	}
	switch (hs->state) {
	case ST_R_WAIT_HELLO:
		if (m.type != MSGT_HELLO)
			break;
		r = on_hello(hs, &m, frame, len, out, &note);
		goto out;
	case ST_I_WAIT_SELECT:
		if (m.type != MSGT_SELECT)
			break;
		r = on_select(hs, &m, frame, len, out, &note);
		goto out;
	case ST_R_WAIT_KEX1:
		if (m.type != MSGT_KEX1)
			break;
		r = on_kex1(hs, &m, frame, len, out, &note);
		goto out;
	case ST_I_WAIT_KEX2:
		if (m.type != MSGT_KEX2)
			break;
		r = on_kex2(hs, &m, frame, len, &note);
		goto out;
	case ST_I_WAIT_CONFIRM:
	case ST_R_WAIT_CONFIRM:
		if (m.type != MSGT_CONFIRM)
			break;
		r = on_confirm(hs, &m, frame, len, out, &note);
		goto out;
	default:
		break;
	}
	note.type = MSGT_ABORT;
	note.code = ABORT_PROTOCOL;
	r = fail(hs, -EPROTO, &note, "unexpected %s", msg_type_name(m.type));
out:
	if (r < 0)
		write_note(out, start, note.type == MSGT_REFUSE ? MSG_HELLO_FRAME_VERSION : hs->version,
			   &note, hs->reason);
	return r;
}

bool hs_is_done(const struct hs *hs)
{
	return hs->state == ST_DONE || hs->state == ST_TAKEN;
}

const char *hs_abort_reason(const struct hs *hs)
{
	return hs->state == ST_FAILED ? hs->reason : NULL;
}

int hs_error(const struct hs *hs)
{
	return hs->state == ST_FAILED ? hs->err : 0;
}

int hs_result(struct hs *hs, struct hs_result *ret)
{
	struct hs_result res;

	if (hs->state != ST_DONE || !hs->pool)
		return -EPROTO;
	memset(&res, 0, sizeof(res));
	res.version = hs->version;
	memcpy(res.class_name, hs->policy->name, sizeof(res.class_name));
	res.suite = hs->suite;
	for (size_t i = 0; i < hs->n_runs; i++) {
		res.methods[i] = hs->runs[i].m ? hs->runs[i].m->id : 0;
		res.instances[i] = hs->runs[i].instance;
	}
	res.n_methods = hs->n_runs;
	res.n_keys = hs->n_keys;
	memcpy(res.exchange_id, hs->exchange_id, sizeof(res.exchange_id));
	res.pool = hs->pool;
	hs->pool = NULL;
	hs->state = ST_TAKEN;
	*ret = res;
	return 0;
}

void hs_result_done(struct hs_result *r)
{
	if (!r)
		return;
	secret_free(r->pool);
	memset(r, 0, sizeof(*r));
}

void hs_done(struct hs *hs)
{
	if (!hs)
		return;
	wipe_secrets(hs);
	mfs_wipe(hs, sizeof(*hs));
}
