/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's side of the push socket (push.h, docs/push.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/secret.h"
#include "client/pushwire.h"
#include "push/push.h"

_Static_assert(PUSHWIRE_KEY_ID_LEN == STORE_KEY_ID_LEN, "key id length");
_Static_assert(CF_SUB_CLIENT_MAX == PUSHWIRE_NAME_MAX, "client name length");

/* A key pushed on a subscription. */
struct push_key {
	uint8_t id[STORE_KEY_ID_LEN];
	int64_t soft_expiry, hard_expiry;
	bool installed, in_use, retired_volume, retired_soft, retired_hard, retired_withdrawn;
	uint64_t bytes, packets;
};

/* One (peer, class): who may use it, its subscriptions, announced ids waiting. */
struct push_pool {
	struct cf_peer *p;
	struct cf_class *c;
	struct {
		enum push_principal kind;
		uint32_t id;
	} allow[PUSH_ALLOW_MAX];
	size_t n_allow;
	struct push_conn *sub[2];		/* by direction */
	uint8_t pending[PUSH_PENDING_MAX][STORE_KEY_ID_LEN];	/* ring, oldest first */
	size_t pend_head, pend_n;
};

struct push_conn {
	struct push *push;
	uint32_t uid, gid, pid;
	uint32_t groups[PUSH_GROUPS_MAX];	/* supplementary (SO_PEERGROUPS) */
	size_t n_groups;
	char name[PUSHWIRE_NAME_MAX + 1];
	char who[STORE_WHO_MAX + 1];		/* "push:UID:NAME" / "get:UID:NAME" */
	bool hello, closing;
	uint8_t in[2 * PUSHWIRE_FRAME_MAX];
	size_t in_len;
	struct secret *out;			/* PUSH_OUT_MAX, lazily */
	size_t out_len;
	/* subscription */
	struct push_pool *pool;
	uint8_t dir, ahead;
	struct push_key keys[PUSH_TRACK_MAX];	/* oldest first */
	size_t n_keys;
	unsigned unused;			/* outbound: pushed, not yet reported in use */
	bool starved;				/* outbound: the pool had too few keys */
	bool refill;				/* outbound: keys went into use in this input */
	int64_t last_try;
};

struct push {
	struct cf *cf;
	struct store *st;
	uint32_t self_uid;
	struct push_pool pools[CF_MAX_PEERS * CF_MAX_CLASSES];
	size_t n_pools;
	struct push_conn *conns[PUSH_MAX_CONNS];
	struct push_stats stats;
	int64_t last_tick;
};

static struct push_pool *pool_find(struct push *push, const struct cf_peer *p,
				   const struct cf_class *c)
{
	for (size_t i = 0; i < push->n_pools; i++)
		if (push->pools[i].p == p && push->pools[i].c == c)
			return &push->pools[i];
	return NULL;
}

static struct push_pool *pool_by_name(struct push *push, const char *peer, size_t peer_len,
				      const char *class_name, size_t class_len)
{
	for (size_t i = 0; i < push->n_pools; i++) {
		struct push_pool *pl = &push->pools[i];
		const char *pn = pl->p->cfg.name, *cn = pl->c->cfg.policy.name;

		if (strlen(pn) == peer_len && !memcmp(pn, peer, peer_len) &&
		    strlen(cn) == class_len && !memcmp(cn, class_name, class_len))
			return pl;
	}
	return NULL;
}

/* ---- output ---- */

static int out_frame(struct push_conn *pc, const struct pushwire_msg *m)
{
	uint8_t buf[PUSHWIRE_FRAME_MAX];
	int n;

	if (pc->closing && m->type != PW_ERROR)
		return -EPIPE;
	if ((n = pushwire_encode(m, buf, sizeof(buf))) < 0)
		return n;
	if (!pc->out && !(pc->out = secret_alloc(PUSH_OUT_MAX))) {
		mfs_wipe(buf, sizeof(buf));
		return -ENOMEM;
	}
	if (pc->out_len + (size_t)n > PUSH_OUT_MAX) {
		/* the client does not read: drop it (what was pushed is lost, never re-sent) */
		mfs_wipe(buf, sizeof(buf));
		mfs_wipe(pc->out->p, pc->out_len);
		pc->out_len = 0;
		pc->closing = true;
		return -ENOBUFS;
	}
	memcpy(pc->out->p + pc->out_len, buf, (size_t)n);
	pc->out_len += (size_t)n;
	mfs_wipe(buf, sizeof(buf));
	return 0;
}

static int send_error(struct push_conn *pc, enum pushwire_error code, bool fatal, const char *text)
{
	struct pushwire_msg m = { .type = PW_ERROR, .code = (uint8_t)code, .fatal = fatal,
				  .text = { text, strlen(text) } };

	pc->push->stats.errors++;
	if (m.text.len > PUSHWIRE_TEXT_MAX)
		m.text.len = PUSHWIRE_TEXT_MAX;
	out_frame(pc, &m);
	if (fatal) {
		pc->closing = true;
		return -EPROTO;
	}
	return 0;
}

static int store_error(int r)
{
	switch (r) {
	case -ENOKEY: return PWE_NO_KEY;
	case -EALREADY: return PWE_ALREADY;
	case -EKEYEXPIRED: return PWE_EXPIRED;
	case -EKEYREVOKED: return PWE_REVOKED;
	default: return PWE_UNAVAILABLE;
	}
}

static const char *store_error_text(int r)
{
	switch (r) {
	case -ENOKEY: return "no such key, or the pool is empty";
	case -EALREADY: return "key already delivered";
	case -EKEYEXPIRED: return "key past its hard expiry";
	case -EKEYREVOKED: return "key withdrawn (method revoked)";
	case -ENOSPC: return "key store full";
	case -EBUSY: return "key store busy";
	default: return "key store error";
	}
}

/* Append a KEY; the key was committed as delivered before this call. */
static int send_key(struct push_conn *pc, const struct store_key *k)
{
	struct pushwire_msg m = { .type = PW_KEY, .key_id = k->meta.id.b,
				  .direction = (uint8_t)k->meta.dir,
				  .not_before = k->meta.not_before,
				  .soft_expiry = k->meta.soft_expiry,
				  .hard_expiry = k->meta.hard_expiry,
				  .key = k->key->p, .key_len = k->key->len };

	return out_frame(pc, &m);
}

/* ---- subscriptions ---- */

static struct push_key *track_find(struct push_conn *pc, const uint8_t *id)
{
	for (size_t i = 0; i < pc->n_keys; i++)
		if (!memcmp(pc->keys[i].id, id, STORE_KEY_ID_LEN))
			return &pc->keys[i];
	return NULL;
}

static void track(struct push_conn *pc, const struct store_key_meta *m)
{
	struct push_key *k;

	if (pc->n_keys == PUSH_TRACK_MAX) {
		/* forget the oldest, unless it is the one in use: then the next */
		size_t drop = 0;
		struct cf_sub_info *si = &pc->pool->c->subs[pc->dir];

		if (si->has_in_use && !memcmp(pc->keys[0].id, si->in_use, STORE_KEY_ID_LEN))
			drop = 1;
		if (pc->dir == STORE_OUTBOUND && !pc->keys[drop].in_use && pc->unused)
			pc->unused--;
		memmove(&pc->keys[drop], &pc->keys[drop + 1],
			(PUSH_TRACK_MAX - drop - 1) * sizeof(pc->keys[0]));
		pc->n_keys--;
	}
	k = &pc->keys[pc->n_keys++];
	memset(k, 0, sizeof(*k));
	memcpy(k->id, m->id.b, STORE_KEY_ID_LEN);
	k->soft_expiry = m->soft_expiry;
	k->hard_expiry = m->hard_expiry;
	pc->pool->c->subs[pc->dir].delivered++;
}

/* Outbound: keep `ahead` keys pushed that are not in use; announce them to the peer. */
static void fill(struct push_conn *pc, int64_t now)
{
	struct push *push = pc->push;
	struct push_pool *pl = pc->pool;
	struct store_key keys[PUSHWIRE_AHEAD_MAX];
	uint8_t ids[PUSHWIRE_AHEAD_MAX][STORE_KEY_ID_LEN];
	size_t want, n = 0;
	int r;

	if (pc->closing || pc->unused >= pc->ahead)
		return;
	want = pc->ahead - pc->unused;
	memset(keys, 0, sizeof(keys));
	pc->last_try = now;
	r = store_take(push->st, pl->p->cfg.name, pl->c->cfg.policy.name, pc->who, now, want,
		       keys);
	if (r == -ENOKEY && want > 1) {
		want = 1;
		r = store_take(push->st, pl->p->cfg.name, pl->c->cfg.policy.name, pc->who, now,
			       1, keys);
	}
	if (r < 0) {
		if (!pc->starved)
			log_info("push: %s/%s: %s waits for keys (%s)", pl->p->cfg.name,
				 pl->c->cfg.policy.name, pc->name, mfs_strerror(r));
		pc->starved = true;
		return;
	}
	pc->starved = want < (size_t)(pc->ahead - pc->unused);
	for (size_t i = 0; i < want; i++) {
		if (send_key(pc, &keys[i]) == 0) {
			track(pc, &keys[i].meta);
			pc->unused++;
			push->stats.keys_out++;
		}
		memcpy(ids[n++], keys[i].meta.id.b, STORE_KEY_ID_LEN);
		store_key_done(&keys[i]);
	}
	/* the peer pushes them to its inbound subscriber (down: announced again on link-up) */
	if (n)
		cf_send_taken(pl->p, pl->c, &ids[0][0], n);
}

/* Inbound: fetch one announced key by id and push it. */
static void deliver_inbound(struct push_conn *pc, const uint8_t *id, int64_t now)
{
	struct push_pool *pl = pc->pool;
	struct store_key k = { 0 };
	struct store_key_id kid;
	int r;

	if (pc->closing || track_find(pc, id))
		return;
	memcpy(kid.b, id, STORE_KEY_ID_LEN);
	r = store_get_by_id(pc->push->st, pl->p->cfg.name, pl->c->cfg.policy.name, &kid, pc->who,
			    now, &k);
	if (r < 0) {
		char s[STORE_KEY_ID_STR_LEN + 1];

		store_key_id_format(&kid, s);
		log_debug("push: %s/%s: announced key %s not delivered: %s", pl->p->cfg.name,
			  pl->c->cfg.policy.name, s, store_error_text(r));
		return;
	}
	if (send_key(pc, &k) == 0) {
		track(pc, &k.meta);
		pc->push->stats.keys_in++;
	}
	store_key_done(&k);
}

static void drain_pending(struct push_pool *pl, int64_t now)
{
	struct push_conn *pc = pl->sub[STORE_INBOUND];

	while (pc && pl->pend_n) {
		deliver_inbound(pc, pl->pending[pl->pend_head], now);
		pl->pend_head = (pl->pend_head + 1) % PUSH_PENDING_MAX;
		pl->pend_n--;
	}
}

static bool in_groups(const struct push_conn *pc, uint32_t gid)
{
	if (pc->gid == gid)
		return true;
	for (size_t i = 0; i < pc->n_groups; i++)
		if (pc->groups[i] == gid)
			return true;
	return false;
}

static bool allowed(const struct push_pool *pl, const struct push_conn *pc)
{
	if (pc->uid == pc->push->self_uid)
		return true;
	for (size_t i = 0; i < pl->n_allow; i++)
		if ((pl->allow[i].kind == PUSH_UID && pl->allow[i].id == pc->uid) ||
		    (pl->allow[i].kind == PUSH_GID && in_groups(pc, pl->allow[i].id)))
			return true;
	return false;
}

/* The pool named by a GET/SUBSCRIBE, checked against push_allow; NULL after an ERROR. */
static struct push_pool *request_pool(struct push_conn *pc, const struct pushwire_msg *m)
{
	struct push_pool *pl = pool_by_name(pc->push, m->peer.p, m->peer.len, m->class_name.p,
					    m->class_name.len);

	if (!pl) {
		send_error(pc, PWE_UNKNOWN, false, "unknown peer or class");
		return NULL;
	}
	if (!allowed(pl, pc)) {
		log_warning("push: refused uid %u gid %u (pid %u) for %s/%s", pc->uid, pc->gid,
			    pc->pid, pl->p->cfg.name, pl->c->cfg.policy.name);
		pc->push->stats.refused++;
		send_error(pc, PWE_DENIED, false, "not allowed for this peer and class (push_allow)");
		return NULL;
	}
	return pl;
}

static int on_get(struct push_conn *pc, const struct pushwire_msg *m, int64_t now)
{
	struct push_pool *pl = request_pool(pc, m);
	struct store_key k = { 0 };
	char who[STORE_WHO_MAX + 1];
	int r;

	if (!pl)
		return 0;
	/* "get:": keys taken here are not announced to the peer's push subscriber */
	snprintf(who, sizeof(who), "get:%u:%s", pc->uid, pc->name);
	if (m->type == PW_GET_KEY) {
		r = store_take(pc->push->st, pl->p->cfg.name, pl->c->cfg.policy.name, who, now, 1,
			       &k);
	} else {
		struct store_key_id kid;

		memcpy(kid.b, m->key_id, STORE_KEY_ID_LEN);
		r = store_get_by_id(pc->push->st, pl->p->cfg.name, pl->c->cfg.policy.name, &kid,
				    who, now, &k);
	}
	if (r < 0)
		return send_error(pc, store_error(r), false, store_error_text(r));
	r = send_key(pc, &k);
	if (r == 0)
		pc->push->stats.keys_out++;
	store_key_done(&k);
	return r < 0 && r != -ENOBUFS ? r : 0;
}

static int on_subscribe(struct push_conn *pc, const struct pushwire_msg *m, int64_t now)
{
	struct push_pool *pl = request_pool(pc, m);
	struct pushwire_msg ok = { .type = PW_SUBSCRIBED, .direction = m->direction,
				   .ahead = m->ahead };
	struct cf_sub_info *si;

	if (!pl)
		return 0;
	if (pl->sub[m->direction])
		return send_error(pc, PWE_BUSY, false,
				  "this peer, class and direction has a subscriber already");
	pc->pool = pl;
	pc->dir = m->direction;
	pc->ahead = m->ahead;
	pl->sub[pc->dir] = pc;
	snprintf(pc->who, sizeof(pc->who), "push:%u:%s", pc->uid, pc->name);
	si = &pl->c->subs[pc->dir];
	memset(si, 0, sizeof(*si));
	si->active = true;
	memcpy(si->client, pc->name, sizeof(si->client));
	si->uid = pc->uid;
	si->pid = pc->pid;
	si->since = now;
	log_info("push: %s/%s: %s subscriber %s (uid %u, pid %u), %u ahead", pl->p->cfg.name,
		 pl->c->cfg.policy.name, pc->dir == STORE_OUTBOUND ? "outbound" : "inbound",
		 pc->name, pc->uid, pc->pid, pc->ahead);
	out_frame(pc, &ok);
	if (pc->dir == STORE_OUTBOUND)
		fill(pc, now);
	else
		drain_pending(pl, now);
	return 0;
}

static int on_report(struct push_conn *pc, const struct pushwire_msg *m, int64_t now)
{
	struct push_pool *pl = pc->pool;
	struct cf_sub_info *si = &pl->c->subs[pc->dir];
	struct push_key *k = track_find(pc, m->key_id);

	if (!k)
		return send_error(pc, PWE_NO_KEY, true, "key id not pushed on this subscription");
	switch (m->type) {
	case PW_INSTALLED:
		if (!k->installed) {
			k->installed = true;
			si->has_installed = true;
			memcpy(si->installed, k->id, STORE_KEY_ID_LEN);
			if (pc->dir == STORE_INBOUND)
				cf_send_installed(pl->p, pl->c, k->id);
		}
		break;
	case PW_IN_USE:
		if (!k->in_use) {
			k->in_use = true;
			si->has_in_use = true;
			memcpy(si->in_use, k->id, STORE_KEY_ID_LEN);
			si->in_use_since = now;
			si->bytes = k->bytes;
			si->packets = k->packets;
			if (pc->dir == STORE_OUTBOUND) {
				if (pc->unused)
					pc->unused--;
				/* after the whole input: one store_take (one fsync) for all */
				pc->refill = true;
			}
		}
		break;
	case PW_USAGE:
		if (m->bytes < k->bytes || m->packets < k->packets)
			return send_error(pc, PWE_MALFORMED, true, "usage totals went down");
		k->bytes = m->bytes;
		k->packets = m->packets;
		if (si->has_in_use && !memcmp(si->in_use, k->id, STORE_KEY_ID_LEN)) {
			si->bytes = k->bytes;
			si->packets = k->packets;
		}
		if (pc->dir == STORE_OUTBOUND && !k->retired_volume &&
		    k->bytes >= pl->c->cfg.policy.rekey_volume_bytes) {
			struct pushwire_msg rt = { .type = PW_RETIRE, .key_id = k->id,
						   .reason = PWR_VOLUME };
			char s[STORE_KEY_ID_STR_LEN + 1];
			struct store_key_id kid;

			k->retired_volume = true;
			out_frame(pc, &rt);
			pl->c->volume_rekeys++;
			cf_rekey(pl->p, pl->c->cfg.policy.name, now);
			memcpy(kid.b, k->id, STORE_KEY_ID_LEN);
			store_key_id_format(&kid, s);
			log_notice("push: %s/%s: key %s reached rekey_volume (%llu bytes): retired, "
				   "rekey asked", pl->p->cfg.name, pl->c->cfg.policy.name, s,
				   (unsigned long long)k->bytes);
		}
		break;
	default:
		break;
	}
	return 0;
}

static int on_msg(struct push_conn *pc, const struct pushwire_msg *m, int64_t now)
{
	if (!pc->hello) {
		struct pushwire_msg ok = { .type = PW_HELLO_OK, .version = PUSHWIRE_VERSION,
					   .ahead = PUSHWIRE_AHEAD_MAX };

		if (m->type != PW_HELLO)
			return send_error(pc, PWE_STATE, true, "HELLO first");
		if (m->version_min > PUSHWIRE_VERSION || m->version_max < PUSHWIRE_VERSION)
			return send_error(pc, PWE_VERSION, true, "no common version (this is 1)");
		memcpy(pc->name, m->name.p, m->name.len);
		pc->name[m->name.len] = '\0';
		pc->hello = true;
		return out_frame(pc, &ok);
	}
	switch (m->type) {
	case PW_GET_KEY:
	case PW_GET_KEY_BY_ID:
		if (pc->pool)
			return send_error(pc, PWE_STATE, true, "no GET on a subscription");
		return on_get(pc, m, now);
	case PW_SUBSCRIBE:
		if (pc->pool)
			return send_error(pc, PWE_STATE, true, "subscribed already");
		return on_subscribe(pc, m, now);
	case PW_INSTALLED:
	case PW_IN_USE:
	case PW_USAGE:
		if (!pc->pool)
			return send_error(pc, PWE_STATE, true, "not a subscription");
		return on_report(pc, m, now);
	default:
		return send_error(pc, PWE_STATE, true, "not a client message");
	}
}

int push_conn_input(struct push_conn *pc, const uint8_t *data, size_t len, int64_t now)
{
	while (len > 0 && !pc->closing) {
		size_t take = sizeof(pc->in) - pc->in_len, off = 0;

		if (take > len)
			take = len;
		memcpy(pc->in + pc->in_len, data, take);
		pc->in_len += take;
		data += take;
		len -= take;
		while (!pc->closing) {
			struct pushwire_msg m;
			int fl = pushwire_frame_len(pc->in + off, pc->in_len - off), r;

			if (fl == 0)
				break;
			if (fl < 0 || pushwire_parse(pc->in + off, (size_t)fl, &m) < 0) {
				send_error(pc, PWE_MALFORMED, true, "malformed message");
				break;
			}
			r = on_msg(pc, &m, now);
			off += (size_t)fl;
			if (r < 0 && pc->closing)
				break;
		}
		memmove(pc->in, pc->in + off, pc->in_len - off);
		pc->in_len -= off;
	}
	if (pc->refill) {
		pc->refill = false;
		fill(pc, now);
	}
	return pc->closing ? -EPROTO : 0;
}

size_t push_conn_output(struct push_conn *pc, const uint8_t **ret)
{
	*ret = pc->out ? pc->out->p : NULL;
	return pc->out_len;
}

void push_conn_consume(struct push_conn *pc, size_t n)
{
	if (n > pc->out_len)
		n = pc->out_len;
	if (n == 0)
		return;
	memmove(pc->out->p, pc->out->p + n, pc->out_len - n);
	mfs_wipe(pc->out->p + pc->out_len - n, n);
	pc->out_len -= n;
}

bool push_conn_closing(const struct push_conn *pc)
{
	return pc->closing;
}

int push_conn_new(struct push *push, uint32_t uid, uint32_t gid, uint32_t pid,
		  struct push_conn **ret)
{
	struct push_conn *pc;
	size_t slot = PUSH_MAX_CONNS;

	for (size_t i = 0; i < PUSH_MAX_CONNS; i++)
		if (!push->conns[i]) {
			slot = i;
			break;
		}
	if (slot == PUSH_MAX_CONNS)
		return -EMFILE;
	if (!(pc = calloc(1, sizeof(*pc))))
		return -ENOMEM;
	pc->push = push;
	pc->uid = uid;
	pc->gid = gid;
	pc->pid = pid;
	push->conns[slot] = pc;
	push->stats.conns++;
	*ret = pc;
	return 0;
}

void push_conn_set_groups(struct push_conn *pc, const uint32_t *gids, size_t n)
{
	if (n > PUSH_GROUPS_MAX)
		n = PUSH_GROUPS_MAX;
	memcpy(pc->groups, gids, n * sizeof(*gids));
	pc->n_groups = n;
}

void push_conn_free(struct push_conn *pc)
{
	struct push *push;

	if (!pc)
		return;
	push = pc->push;
	for (size_t i = 0; i < PUSH_MAX_CONNS; i++)
		if (push->conns[i] == pc)
			push->conns[i] = NULL;
	if (pc->pool && pc->pool->sub[pc->dir] == pc) {
		pc->pool->sub[pc->dir] = NULL;
		pc->pool->c->subs[pc->dir].active = false;
		log_info("push: %s/%s: %s subscriber %s gone", pc->pool->p->cfg.name,
			 pc->pool->c->cfg.policy.name,
			 pc->dir == STORE_OUTBOUND ? "outbound" : "inbound", pc->name);
	}
	secret_free(pc->out);
	mfs_wipe(pc->in, sizeof(pc->in));
	free(pc);
}

/* ---- cf hooks ---- */

static void on_taken(void *arg, struct cf_peer *p, struct cf_class *c, const uint8_t *ids,
		     size_t n, int64_t now)
{
	struct push_pool *pl = pool_find(arg, p, c);

	if (!pl)
		return;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *id = ids + i * STORE_KEY_ID_LEN;

		if (pl->sub[STORE_INBOUND]) {
			deliver_inbound(pl->sub[STORE_INBOUND], id, now);
			continue;
		}
		if (pl->pend_n == PUSH_PENDING_MAX) {	/* the oldest goes */
			pl->pend_head = (pl->pend_head + 1) % PUSH_PENDING_MAX;
			pl->pend_n--;
		}
		memcpy(pl->pending[(pl->pend_head + pl->pend_n) % PUSH_PENDING_MAX], id,
		       STORE_KEY_ID_LEN);
		pl->pend_n++;
	}
}

static void on_installed(void *arg, struct cf_peer *p, struct cf_class *c, const uint8_t *id,
			 int64_t now)
{
	struct push_pool *pl = pool_find(arg, p, c);
	struct push_conn *pc = pl ? pl->sub[STORE_OUTBOUND] : NULL;
	struct pushwire_msg m = { .type = PW_PEER_INSTALLED, .key_id = id };

	(void)now;
	if (!pc || !track_find(pc, id))
		return;
	c->subs[STORE_OUTBOUND].has_peer_installed = true;
	memcpy(c->subs[STORE_OUTBOUND].peer_installed, id, STORE_KEY_ID_LEN);
	out_frame(pc, &m);
}

/*
 * A method was revoked: every key pushed to a subscriber that was derived
 * with it is retired there (reason WITHDRAWN); an outbound subscriber that
 * had not used it yet gets a replacement from the pool (the pool's own keys
 * of that method were withdrawn already).
 */
static void on_revoked(void *arg, uint16_t method, int64_t now)
{
	struct push *push = arg;

	for (size_t i = 0; i < PUSH_MAX_CONNS; i++) {
		struct push_conn *pc = push->conns[i];

		if (!pc || !pc->pool || pc->closing)
			continue;
		for (size_t j = 0; j < pc->n_keys; j++) {
			struct push_key *k = &pc->keys[j];
			struct store_key_meta m;
			struct store_key_id kid;
			struct pushwire_msg rt = { .type = PW_RETIRE, .key_id = k->id,
						   .reason = PWR_WITHDRAWN };
			bool uses = false;

			if (k->retired_withdrawn || k->retired_hard)
				continue;
			memcpy(kid.b, k->id, STORE_KEY_ID_LEN);
			if (store_key_info(push->st, &kid, &m) < 0)
				continue;
			for (size_t x = 0; x < m.n_methods; x++)
				uses |= m.methods[x] == method;
			if (!uses)
				continue;
			k->retired_withdrawn = true;
			out_frame(pc, &rt);
			if (pc->dir == STORE_OUTBOUND && !k->in_use && pc->unused) {
				pc->unused--;
				pc->refill = true;
			}
		}
		if (pc->refill) {
			pc->refill = false;
			fill(pc, now);
		}
	}
}

/* ---- link-up announcements ---- */

struct announce {
	uint8_t ids[PUSH_REANNOUNCE_MAX][STORE_KEY_ID_LEN];	/* ring of the newest */
	size_t n, head;
	int64_t now;
};

static int announce_cb(void *arg, const struct store_key_meta *m)
{
	struct announce *a = arg;

	if (strncmp(m->delivered_to, "push:", 5) != 0 || m->hard_expiry <= a->now)
		return 0;
	memcpy(a->ids[(a->head + a->n) % PUSH_REANNOUNCE_MAX], m->id.b, STORE_KEY_ID_LEN);
	if (a->n < PUSH_REANNOUNCE_MAX)
		a->n++;
	else
		a->head = (a->head + 1) % PUSH_REANNOUNCE_MAX;
	return 0;
}

void push_link_up(struct push *push, struct cf_peer *p, int64_t now)
{
	for (size_t i = 0; i < p->cfg.n_classes; i++) {
		struct cf_class *c = &p->classes[i];
		struct store_filter f = { .peer = p->cfg.name, .class_name = c->cfg.policy.name,
					  .dir = STORE_OUTBOUND,
					  .state_mask = 1U << STORE_DELIVERED };
		struct announce *a = calloc(1, sizeof(*a));
		uint8_t ids[CF_TAKEN_MAX][STORE_KEY_ID_LEN];
		size_t n = 0;

		if (!a)
			return;
		a->now = now;
		if (store_list(push->st, &f, announce_cb, a) == 0) {
			for (size_t k = 0; k < a->n; k++)
				memcpy(ids[n++], a->ids[(a->head + k) % PUSH_REANNOUNCE_MAX],
				       STORE_KEY_ID_LEN);
			if (n)
				cf_send_taken(p, c, &ids[0][0], n);
		}
		free(a);
	}
}

/* ---- tick ---- */

static void retire(struct push_conn *pc, struct push_key *k, enum pushwire_retire why)
{
	struct pushwire_msg m = { .type = PW_RETIRE, .key_id = k->id, .reason = (uint8_t)why };

	out_frame(pc, &m);
}

void push_tick(struct push *push, int64_t now)
{
	if (now == push->last_tick)
		return;
	push->last_tick = now;
	for (size_t i = 0; i < PUSH_MAX_CONNS; i++) {
		struct push_conn *pc = push->conns[i];

		if (!pc || !pc->pool || pc->closing)
			continue;
		for (size_t j = 0; j < pc->n_keys; j++) {
			struct push_key *k = &pc->keys[j];

			if (!k->retired_hard && now >= k->hard_expiry) {
				k->retired_hard = true;
				retire(pc, k, PWR_HARD_EXPIRY);
			} else if (pc->dir == STORE_OUTBOUND && k->in_use && !k->retired_soft &&
				   !k->retired_hard && now >= k->soft_expiry) {
				k->retired_soft = true;
				retire(pc, k, PWR_SOFT_EXPIRY);
			}
		}
		if (pc->dir == STORE_OUTBOUND && (pc->starved || pc->unused < pc->ahead))
			fill(pc, now);
	}
}

/* ---- setup ---- */

int push_new(struct cf *cf, struct store *st, uint32_t self_uid, struct push **ret)
{
	struct push *push = calloc(1, sizeof(*push));
	struct cf_hooks h = { .taken = on_taken, .installed = on_installed,
			      .revoked = on_revoked };

	if (!push)
		return -ENOMEM;
	push->cf = cf;
	push->st = st;
	push->self_uid = self_uid;
	for (size_t i = 0; i < cf->n_peers; i++)
		for (size_t j = 0; j < cf->peers[i].cfg.n_classes; j++) {
			struct push_pool *pl = &push->pools[push->n_pools++];

			pl->p = &cf->peers[i];
			pl->c = &cf->peers[i].classes[j];
		}
	h.arg = push;
	cf_set_hooks(cf, &h);
	*ret = push;
	return 0;
}

void push_free(struct push *push)
{
	if (!push)
		return;
	for (size_t i = 0; i < PUSH_MAX_CONNS; i++)
		push_conn_free(push->conns[i]);
	cf_set_hooks(push->cf, NULL);
	mfs_wipe(push, sizeof(*push));
	free(push);
}

int push_allow_add(struct push *push, const char *peer, const char *class_name,
		   enum push_principal kind, uint32_t id)
{
	struct push_pool *pl = pool_by_name(push, peer, strlen(peer), class_name,
					    strlen(class_name));

	if (!pl)
		return -ENOENT;
	if (pl->n_allow == PUSH_ALLOW_MAX)
		return -ENOSPC;
	pl->allow[pl->n_allow].kind = kind;
	pl->allow[pl->n_allow].id = id;
	pl->n_allow++;
	return 0;
}

const struct push_stats *push_stats(const struct push *push)
{
	return &push->stats;
}
