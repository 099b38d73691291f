// SPDX-License-Identifier: Apache-2.0
/*
 * Key supply backend: ETSI GS QKD 014 requests onto store pools. Contract
 * in supply.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/mac.h"
#include "supply/reserve.h"
#include "supply/supply.h"

/*
 * One request waiting for the committer (group commit, see take_grouped):
 * enc_keys requests of the same pool and recipient are served by one
 * store_take() of their total, so one fsync covers them all; dec_keys
 * requests of the same pool and recipient are served by one
 * store_get_by_ids() of all their IDs, likewise. One single writer, so
 * that worker handles never wait for each other in SQLite's busy handler.
 */
struct pending {
	bool dec;
	const struct supply_sae *sae;	/* enc: the slave; dec: the master */
	const char *cls;		/* the pool's class */
	const char *to;
	unsigned n, bits;
	const struct etsi014_key_ids *ids;	/* dec */
	struct etsi014_key *out;
	const struct reserve_refill *ref;	/* enc: a refill of this reserve (out unused) */
	size_t done_keys;		/* dec: keys delivered (0 or all: all or none) */
	int r;
	bool done;
	struct pending *next;
};

struct supply {
	char kme_id[ETSI014_ID_MAX + 1];
	char *db_path;
	struct secret *kek;
	struct supply_sae *saes;
	size_t n_saes;
	uint64_t size_limit;
	void (*on_audit)(void *arg, const struct supply_audit *a);
	void *audit_arg;
	struct supply_stats st;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pending *queue, **tail;
	bool leader;			/* a worker is running a batch */
	uint64_t batches, batched;	/* statistics: commits, requests in them */
	struct reserve_table *rt;	/* delivery reserves; NULL when reserve is 0 */
	pthread_t refill_tid;
	bool refill_started;
	bool refill_broken;		/* the refill thread could not open the store */
};

struct worker {
	struct supply *s;
	struct store *st;
};

static const struct supply_sae *find_sae(const struct supply *s, const char *id, bool remote)
{
	for (size_t i = 0; i < s->n_saes; i++)
		if (s->saes[i].remote == remote && !strcmp(s->saes[i].id, id))
			return &s->saes[i];
	return NULL;
}

static bool has_class(const struct supply_sae *sae, const char *cls)
{
	for (size_t i = 0; i < sae->n_classes; i++)
		if (!strcmp(sae->classes[i], cls))
			return true;
	return false;
}

/*
 * The pool class of a local and a remote SAE of the same peer: the one class
 * both are bound to (supply_new() refuses pairs that share more than one).
 * NULL when they share none or belong to different peers.
 */
static const char *pool_class(const struct supply_sae *local, const struct supply_sae *remote)
{
	if (strcmp(local->peer, remote->peer) != 0)
		return NULL;
	for (size_t i = 0; i < remote->n_classes; i++)
		if (has_class(local, remote->classes[i]))
			return remote->classes[i];
	return NULL;
}

static unsigned bits_of(const struct supply_sae *sae)
{
	return sae->key_bits ? sae->key_bits : SUPPLY_NATIVE_BITS;
}

int supply_derive(const uint8_t key[static 32], const uint8_t id[static STORE_KEY_ID_LEN],
		  unsigned bits, uint8_t *out)
{
	uint8_t info[sizeof(SUPPLY_KDF_LABEL) - 1 + 2 + STORE_KEY_ID_LEN];
	size_t l = sizeof(SUPPLY_KDF_LABEL) - 1;

	if (bits == 0 || bits % 8 || bits > ETSI014_KEY_MAX_BITS)
		return -EINVAL;
	memcpy(info, SUPPLY_KDF_LABEL, l);
	info[l] = (uint8_t)(bits >> 8);
	info[l + 1] = (uint8_t)bits;
	memcpy(info + l + 2, id, STORE_KEY_ID_LEN);
	return hkdf(HASH_SHA384, NULL, 0, key, 32, info, sizeof(info), out, bits / 8);
}

/* An ETSI 014 key holding a native pool key (and its ID): derive it to bits in place. */
static int finish_key(struct etsi014_key *out, unsigned bits)
{
	uint8_t native[SUPPLY_NATIVE_BITS / 8];
	int r;

	if (out->len != sizeof(native))
		return -EPROTO;
	if (bits == SUPPLY_NATIVE_BITS)
		return 0;
	memcpy(native, out->key, sizeof(native));
	r = supply_derive(native, out->id, bits, out->key);
	out->len = bits / 8;
	mfs_wipe(native, sizeof(native));
	return r;
}

/* Copy or derive one delivered store key into an ETSI 014 key of bits. */
static int put_key(const struct store_key *k, unsigned bits, struct etsi014_key *out)
{
	memcpy(out->id, k->meta.id.b, STORE_KEY_ID_LEN);
	if (k->key->len != SUPPLY_NATIVE_BITS / 8)
		return -EPROTO;
	memcpy(out->key, k->key->p, k->key->len);
	out->len = k->key->len;
	return finish_key(out, bits);
}

static void deny(struct worker *w, const struct etsi014_call *c, const char *reason,
		 struct etsi014_error *err)
{
	struct supply *s = w->s;
	char detail[STORE_DETAIL_MAX + 1];
	char who[STORE_WHO_MAX + 1];
	struct supply_audit a = { .caller = c->caller, .op = etsi014_op_name(c->op),
				  .sae_id = c->sae_id, .reason = reason };

	__atomic_fetch_add(&s->st.denied, 1, __ATOMIC_RELAXED);
	snprintf(who, sizeof(who), "sae:%s", c->caller);
	snprintf(detail, sizeof(detail), "%s %s: %s", etsi014_op_name(c->op), c->sae_id, reason);
	/* Best effort: a full or busy store must not turn a 401 into a 503. */
	(void)store_audit_append(w->st, time(NULL), who, "supply-denied", detail, 0);
	if (s->on_audit)
		s->on_audit(s->audit_arg, &a);
	etsi014_error_set(err, 401, "unauthorized: %s", reason);
}

/* The error of a failed store call, as the response says it. */
static int store_error(int r, const char *peer, const char *cls, struct etsi014_error *err)
{
	switch (r) {
	case -ENOKEY:
		etsi014_error_set(err, 503, "not enough keys in the pool toward %s, class %s", peer,
				  cls);
		break;
	case -ENOSPC:
		etsi014_error_set(err, 503, "key store full: nothing was handed out");
		break;
	case -EBUSY:
		etsi014_error_set(err, 503, "key store busy: nothing was handed out");
		break;
	default:
		etsi014_error_set(err, 503, "key data access error");
		break;
	}
	return r;
}

/*
 * dec_keys of requests a[0..m) (same pool, same recipient): one
 * store_get_by_ids() of all their IDs (total, at most STORE_GET_MAX), all or
 * none, one fsync. When it fails and m > 1, each request is tried on its
 * own, so that one bad ID (or the same ID in two requests) fails only its
 * request.
 */
static void run_dec_group(struct worker *w, struct pending **a, size_t m, size_t total)
{
	struct store_key_id *ids = calloc(total, sizeof(*ids));
	struct store_key *k = calloc(total, sizeof(*k));
	size_t off = 0;
	int r;

	if (!ids || !k) {
		for (size_t j = 0; j < m; j++)
			a[j]->r = -ENOMEM;
		goto out;
	}
	for (size_t j = 0; j < m; j++)
		for (size_t i = 0; i < a[j]->ids->n; i++)
			memcpy(ids[off++].b, a[j]->ids->id[i], STORE_KEY_ID_LEN);
	r = store_get_by_ids(w->st, a[0]->sae->peer, a[0]->cls, ids, total, a[0]->to,
			     time(NULL), k, NULL);
	if (m > 1 && (r == -ENOKEY || r == -EALREADY || r == -EKEYEXPIRED || r == -EKEYREVOKED)) {
		/* an ID is to blame, and nothing changed: find whose */
		for (size_t j = 0; j < m; j++)
			run_dec_group(w, &a[j], 1, a[j]->ids->n);
		goto out;
	}
	off = 0;
	for (size_t j = 0; j < m; j++) {
		a[j]->r = r;
		a[j]->done_keys = 0;
		if (r == 0) {
			for (size_t i = 0; i < a[j]->ids->n; i++)
				if (put_key(&k[off + i], a[j]->bits, &a[j]->out[i]) < 0)
					a[j]->r = -EPROTO;
			a[j]->done_keys = a[j]->ids->n;
		}
		off += a[j]->ids->n;
	}
out:
	if (k)
		for (size_t i = 0; i < total; i++)
			store_key_done(&k[i]);
	free(k);
	free(ids);
}

/*
 * Hand k[0..n) out to the requests a[0..m) in order; each gets its n keys
 * (a refill into its reserve).
 */
static void distribute(struct supply *s, struct pending **a, size_t m, struct store_key *k)
{
	size_t off = 0;

	for (size_t j = 0; j < m; j++) {
		a[j]->r = 0;
		if (a[j]->ref) {
			reserve_put(s->rt, a[j]->ref, &k[off], a[j]->n, time(NULL));
			off += a[j]->n;
			continue;
		}
		for (unsigned i = 0; i < a[j]->n; i++)
			if (put_key(&k[off + i], a[j]->bits, &a[j]->out[i]) < 0)
				a[j]->r = -EPROTO;
		off += a[j]->n;
	}
}

/*
 * enc_keys of requests a[0..m) (same pool, same recipient): one store_take()
 * of their total (at most STORE_TAKE_MAX keys). When the pool holds fewer,
 * each request is tried on its own, oldest first, so that those that fit
 * are still served.
 */
static void run_enc_group(struct worker *w, struct pending **a, size_t m, size_t total)
{
	const struct supply_sae *sl = a[0]->sae;
	struct store_key *k = calloc(total, sizeof(*k));
	int r;

	if (!k) {
		for (size_t j = 0; j < m; j++)
			a[j]->r = -ENOMEM;
		return;
	}
	r = store_take(w->st, sl->peer, a[0]->cls, a[0]->to, time(NULL), total, k);
	if (r == 0) {
		distribute(w->s, a, m, k);
	} else if (r == -ENOKEY && m > 1) {
		for (size_t j = 0; j < m; j++) {
			a[j]->r = store_take(w->st, sl->peer, a[j]->cls, a[j]->to, time(NULL),
					     a[j]->n, k);
			if (a[j]->r == 0) {
				distribute(w->s, &a[j], 1, k);
				for (unsigned i = 0; i < a[j]->n; i++)
					store_key_done(&k[i]);
			}
		}
	} else {
		for (size_t j = 0; j < m; j++)
			a[j]->r = r;
	}
	for (size_t i = 0; i < total; i++)
		store_key_done(&k[i]);
	free(k);
}

/* One batch, run by the leader without the lock: group enc_keys, group dec_keys. */
static void run_batch(struct worker *w, struct pending *batch)
{
	struct pending *group[ETSI014_THREADS_MAX * 4];

	while (batch) {
		struct pending *p = batch, **link;
		size_t m = 0, total = 0;

		/* Collect the requests of p's kind, pool and recipient that fit one transaction. */
		for (link = &batch; *link;) {
			struct pending *q = *link;
			size_t qn = q->dec ? q->ids->n : q->n;

			if (q->dec == p->dec && q->sae == p->sae && q->cls == p->cls &&
			    !strcmp(q->to, p->to) &&
			    total + qn <= (p->dec ? STORE_GET_MAX : STORE_TAKE_MAX) &&
			    m < sizeof(group) / sizeof(group[0])) {
				group[m++] = q;
				total += qn;
				*link = q->next;
				continue;
			}
			link = &q->next;
		}
		if (p->dec)
			run_dec_group(w, group, m, total);
		else
			run_enc_group(w, group, m, total);
		__atomic_fetch_add(&w->s->batches, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&w->s->batched, m, __ATOMIC_RELAXED);
	}
}

/*
 * Group commit. The first worker to find no leader becomes it: it takes
 * the whole queue, runs it (one store transaction per group, each fsync'd
 * before any of its keys is unsealed), marks the requests done and wakes
 * their workers. Requests that arrive meanwhile wait for the next leader.
 * Returns p->r.
 */
static int take_grouped(struct worker *w, struct pending *p)
{
	struct supply *s = w->s;

	pthread_mutex_lock(&s->mu);
	p->next = NULL;
	*s->tail = p;
	s->tail = &p->next;
	while (!p->done) {
		if (!s->leader) {
			struct pending *batch = s->queue, *q;

			s->leader = true;
			s->queue = NULL;
			s->tail = &s->queue;
			pthread_mutex_unlock(&s->mu);
			/* The list links are reused by run_batch: keep the members first. */
			{
				struct pending *all[ETSI014_THREADS_MAX * 4 + 1];
				size_t n = 0;

				for (q = batch; q && n < sizeof(all) / sizeof(all[0]); q = q->next)
					all[n++] = q;
				run_batch(w, batch);
				pthread_mutex_lock(&s->mu);
				for (size_t i = 0; i < n; i++)
					all[i]->done = true;
			}
			s->leader = false;
			pthread_cond_broadcast(&s->cv);
		} else {
			pthread_cond_wait(&s->cv, &s->mu);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return p->r;
}

/* status and enc_keys: caller a local master, path a remote SAE sharing its peer and a class. */
static int check_master(struct worker *w, const struct etsi014_call *c,
			const struct supply_sae **ret_slave, const char **ret_cls,
			struct etsi014_error *err)
{
	const struct supply_sae *me = find_sae(w->s, c->caller, false);
	const struct supply_sae *slave = find_sae(w->s, c->sae_id, true);

	if (!me) {
		deny(w, c, "the caller is not an SAE of this KME", err);
		return -EACCES;
	}
	if (!(me->roles & SUPPLY_MASTER)) {
		deny(w, c, "the caller may not act as master", err);
		return -EACCES;
	}
	if (!slave) {
		deny(w, c, "unknown slave SAE", err);
		return -EACCES;
	}
	if (!(*ret_cls = pool_class(me, slave))) {
		deny(w, c, "the caller may not use the class of this slave SAE", err);
		return -EACCES;
	}
	*ret_slave = slave;
	return 0;
}

static int be_status(void *tctx, const struct etsi014_call *c, struct etsi014_status *st,
		     struct etsi014_error *err)
{
	struct worker *w = tctx;
	const struct supply_sae *slave;
	struct store_counts cnt;
	const char *cls;
	int r;

	if ((r = check_master(w, c, &slave, &cls, err)) < 0)
		return r;
	if ((r = store_counts(w->st, slave->peer, cls, STORE_OUTBOUND, &cnt)) < 0)
		return store_error(r, slave->peer, cls, err);
	snprintf(st->source_KME_ID, sizeof(st->source_KME_ID), "%s", w->s->kme_id);
	snprintf(st->target_KME_ID, sizeof(st->target_KME_ID), "%s", slave->peer);
	st->key_size = st->min_key_size = st->max_key_size = bits_of(slave);
	st->stored_key_count = cnt.state[STORE_ACTIVE] + cnt.state[STORE_PRE_ACTIVE];
	for (size_t i = 0; i < slave->n_classes; i++)
		if (!strcmp(slave->classes[i], cls))
			st->max_key_count = slave->max_key_count[i];
	st->max_SAE_ID_count = 0;
	return 0;
}

static int be_enc(void *tctx, const struct etsi014_call *c, const struct etsi014_key_request *req,
		  struct etsi014_key *keys, struct etsi014_error *err)
{
	struct worker *w = tctx;
	const struct supply_sae *slave;
	char to[STORE_WHO_MAX + 1];
	const char *cls;
	unsigned bits;
	int r;

	if ((r = check_master(w, c, &slave, &cls, err)) < 0)
		return r;
	bits = bits_of(slave);
	if (req->has_size && req->size != bits) {
		etsi014_error_set(err, 400, "size shall be %u for slave SAE %s (key_size in its status)",
				  bits, slave->id);
		return -EINVAL;
	}
	if (req->number > STORE_TAKE_MAX) {
		etsi014_error_set(err, 400, "number shall be at most %d", STORE_TAKE_MAX);
		return -EINVAL;
	}
	if (snprintf(to, sizeof(to), "%s>%s", c->caller, slave->id) >= (int)sizeof(to))
		snprintf(to, sizeof(to), "%s", c->caller);
	/* Keys recorded as delivered to this recipient ahead of need, when held; else a commit of our own. */
	if (!w->s->rt || __atomic_load_n(&w->s->refill_broken, __ATOMIC_RELAXED) ||
	    reserve_serve(w->s->rt, slave, cls, to, req->number, time(NULL), keys) < 0) {
		struct pending me = { .sae = slave, .cls = cls, .to = to, .n = req->number,
				      .bits = bits, .out = keys };

		r = take_grouped(w, &me);
	} else {
		r = 0;
		for (unsigned i = 0; i < req->number; i++)
			if (finish_key(&keys[i], bits) < 0)
				r = -EPROTO;
	}
	if (r == -EPROTO) {
		/* Delivered and recorded, never returned: lost, never twice. */
		etsi014_error_set(err, 503, "key derivation failed");
		return r;
	}
	if (r < 0) {
		if (r == -ENOKEY)
			__atomic_fetch_add(&w->s->st.exhausted, 1, __ATOMIC_RELAXED);
		return store_error(r, slave->peer, cls, err);
	}
	__atomic_fetch_add(&w->s->st.enc_keys, req->number, __ATOMIC_RELAXED);
	return 0;
}

/* The local slave SAE bound to inbound pool (peer, cls), or NULL. */
static const struct supply_sae *slave_of(const struct supply *s, const char *peer, const char *cls)
{
	for (size_t i = 0; i < s->n_saes; i++) {
		const struct supply_sae *x = &s->saes[i];

		if (!x->remote && (x->roles & SUPPLY_SLAVE) && !strcmp(x->peer, peer) &&
		    has_class(x, cls))
			return x;
	}
	return NULL;
}

static int be_dec(void *tctx, const struct etsi014_call *c, const struct etsi014_key_ids *ids,
		  struct etsi014_key *keys, struct etsi014_error *err)
{
	struct worker *w = tctx;
	const struct supply_sae *me = find_sae(w->s, c->caller, false);
	const struct supply_sae *master = find_sae(w->s, c->sae_id, true);
	char to[STORE_WHO_MAX + 1];
	const char *cls;
	size_t done = 0;
	unsigned bits;
	int r;

	if (!me) {
		deny(w, c, "the caller is not an SAE of this KME", err);
		return -EACCES;
	}
	if (!(me->roles & SUPPLY_SLAVE)) {
		deny(w, c, "the caller may not act as slave", err);
		return -EACCES;
	}
	if (!master) {
		deny(w, c, "unknown master SAE", err);
		return -EACCES;
	}
	if (!(cls = pool_class(me, master)) || slave_of(w->s, master->peer, cls) != me) {
		deny(w, c, "the caller is not the slave SAE of this master's keys", err);
		return -EACCES;
	}
	bits = bits_of(me);
	/*
	 * The 401 rule first, for every ID, before anything is taken: an ID of
	 * an inbound pool whose slave is someone else is 401, whatever its
	 * state. Unknown IDs are 400 (below).
	 */
	for (size_t i = 0; i < ids->n; i++) {
		struct store_key_meta m;
		struct store_key_id id;

		memcpy(id.b, ids->id[i], STORE_KEY_ID_LEN);
		r = store_key_info(w->st, &id, &m);
		if (r == -ENOKEY)
			continue;
		if (r < 0)
			return store_error(r, master->peer, cls, err);
		if (m.dir == STORE_INBOUND && slave_of(w->s, m.peer, m.class_name) != me) {
			deny(w, c, "a requested key was not supplied for this SAE", err);
			return -EACCES;
		}
	}
	if (snprintf(to, sizeof(to), "%s<%s", me->id, master->id) >= (int)sizeof(to))
		snprintf(to, sizeof(to), "%s", me->id);
	{
		struct pending p = { .dec = true, .sae = master, .cls = cls, .to = to, .bits = bits,
				     .ids = ids, .out = keys };

		r = take_grouped(w, &p);
		done = p.done_keys;
	}
	if (done)
		__atomic_fetch_add(&w->s->st.dec_keys, done, __ATOMIC_RELAXED);
	if (done == ids->n)
		return 0;
	/*
	 * All or none (what the spec asks for): store_get_by_ids() delivered
	 * nothing. The one exception is -EKEYREJECTED (a tampered frontier):
	 * the keys are delivered and recorded, and lost.
	 */
	switch (r) {
	case -ENOKEY:
	case -EALREADY:
	case -EKEYEXPIRED:
	case -EKEYREVOKED:
		etsi014_error_set(err, 400, ETSI014_ERR_KEYS_NOT_FOUND);
		return -ENOKEY;
	default:
		return store_error(r, master->peer, cls, err);
	}
}

static int be_thread_init(void *arg, unsigned thread, void **ret)
{
	struct supply *s = arg;
	struct worker *w = calloc(1, sizeof(*w));
	int r;

	(void)thread;
	if (!w)
		return -ENOMEM;
	w->s = s;
	if ((r = store_open(s->db_path, s->kek, &w->st)) < 0 ||
	    (s->size_limit && (r = store_set_size_limit(w->st, s->size_limit)) < 0)) {
		store_close(w->st);
		free(w);
		return r;
	}
	*ret = w;
	return 0;
}

static void be_thread_done(void *tctx)
{
	struct worker *w = tctx;

	if (w) {
		store_close(w->st);
		free(w);
	}
}

/*
 * The refill thread: waits for a reserve that runs low, and takes its keys
 * through the group commit like any request (one writer, one fsync per
 * batch), on a store handle of its own.
 */
static void *refill_main(void *arg)
{
	struct supply *s = arg;
	struct worker w = { .s = s };
	struct reserve_refill ref;

	if (store_open(s->db_path, s->kek, &w.st) < 0 ||
	    (s->size_limit && store_set_size_limit(w.st, s->size_limit) < 0)) {
		/* No refills: every request commits its own delivery, as with reserve = 0. */
		store_close(w.st);
		__atomic_store_n(&s->refill_broken, true, __ATOMIC_RELAXED);
		return NULL;
	}
	while (reserve_wait(s->rt, &ref) == 0) {
		struct pending p = { .sae = ref.owner, .cls = ref.cls, .to = ref.to,
				     .n = (unsigned)ref.n, .bits = SUPPLY_NATIVE_BITS, .ref = &ref };

		if (take_grouped(&w, &p) < 0)
			reserve_refill_failed(s->rt, &ref);
	}
	store_close(w.st);
	return NULL;
}

size_t supply_revoked(struct supply *s, uint16_t method)
{
	return s->rt ? reserve_revoke(s->rt, method) : 0;
}

void supply_backend(struct supply *s, struct etsi014_backend *ret)
{
	*ret = (struct etsi014_backend){
		.arg = s,
		.thread_init = be_thread_init,
		.thread_done = be_thread_done,
		.status = be_status,
		.enc_keys = be_enc,
		.dec_keys = be_dec,
	};
}

void supply_stats(const struct supply *s, struct supply_stats *ret)
{
	*ret = (struct supply_stats){ 0 };
	ret->enc_keys = __atomic_load_n(&s->st.enc_keys, __ATOMIC_RELAXED);
	ret->dec_keys = __atomic_load_n(&s->st.dec_keys, __ATOMIC_RELAXED);
	ret->denied = __atomic_load_n(&s->st.denied, __ATOMIC_RELAXED);
	ret->exhausted = __atomic_load_n(&s->st.exhausted, __ATOMIC_RELAXED);
	ret->commits = __atomic_load_n(&s->batches, __ATOMIC_RELAXED);
	ret->grouped = __atomic_load_n(&s->batched, __ATOMIC_RELAXED);
	if (s->rt) {
		struct reserve_stats rs;

		reserve_table_stats(s->rt, &rs);
		ret->reserve_held = rs.held;
		ret->reserve_served = rs.served;
		ret->reserve_misses = rs.misses;
		ret->reserve_refills = rs.refills;
		ret->reserve_discarded = rs.discarded;
	}
}

static int check_table(const struct supply_sae *t, size_t n, char *err, size_t err_size)
{
	if (n > SUPPLY_MAX_SAES) {
		snprintf(err, err_size, "more than %d SAEs", SUPPLY_MAX_SAES);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		const struct supply_sae *a = &t[i];
		unsigned bits = bits_of(a);

		if (!etsi014_id_valid(a->id) || !a->peer[0] || a->n_classes == 0 ||
		    a->n_classes > SUPPLY_MAX_CLASSES) {
			snprintf(err, err_size, "SAE %s: needs an ID, a peer and a class", a->id);
			return -EINVAL;
		}
		if (!a->remote && !a->roles) {
			snprintf(err, err_size, "local SAE %s: no role", a->id);
			return -EINVAL;
		}
		if (bits % 8 || bits < 64 || bits > ETSI014_KEY_MAX_BITS) {
			snprintf(err, err_size, "SAE %s: key size %u is not a multiple of 8 in 64..%d",
				 a->id, bits, ETSI014_KEY_MAX_BITS);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			const struct supply_sae *b = &t[j];
			size_t common = 0;

			if (!strcmp(a->id, b->id) && a->remote == b->remote) {
				snprintf(err, err_size, "SAE %s listed twice", a->id);
				return -EINVAL;
			}
			if (strcmp(a->peer, b->peer) != 0)
				continue;
			for (size_t k = 0; k < a->n_classes; k++)
				common += has_class(b, a->classes[k]);
			if (!common)
				continue;
			if (a->remote && b->remote) {
				snprintf(err, err_size, "remote SAEs %s and %s share a pool of peer %s: "
					 "one remote SAE per pool", b->id, a->id, a->peer);
				return -EINVAL;
			}
			if (!a->remote && !b->remote && (a->roles & SUPPLY_SLAVE) &&
			    (b->roles & SUPPLY_SLAVE)) {
				snprintf(err, err_size, "local SAEs %s and %s are both slaves of a pool of "
					 "peer %s: one slave per pool", b->id, a->id, a->peer);
				return -EINVAL;
			}
			if (a->remote != b->remote && common > 1) {
				snprintf(err, err_size, "SAEs %s and %s share more than one class of peer "
					 "%s: which pool would serve them is ambiguous", b->id, a->id,
					 a->peer);
				return -EINVAL;
			}
		}
	}
	return 0;
}

int supply_new(const struct supply_config *cfg, struct supply **ret, char *err, size_t err_size)
{
	struct supply *s;
	int r;

	if (!cfg->kme_id || !etsi014_id_valid(cfg->kme_id) || !cfg->db_path || !cfg->kek) {
		snprintf(err, err_size, "incomplete key supply configuration");
		return -EINVAL;
	}
	if ((r = check_table(cfg->saes, cfg->n_saes, err, err_size)) < 0)
		return r;
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	snprintf(s->kme_id, sizeof(s->kme_id), "%s", cfg->kme_id);
	s->db_path = strdup(cfg->db_path);
	s->kek = secret_dup(cfg->kek->p, cfg->kek->len);
	s->saes = cfg->n_saes ? calloc(cfg->n_saes, sizeof(*s->saes)) : NULL;
	if (!s->db_path || !s->kek || (cfg->n_saes && !s->saes)) {
		supply_free(s);
		return -ENOMEM;
	}
	if (cfg->n_saes)
		memcpy(s->saes, cfg->saes, cfg->n_saes * sizeof(*s->saes));
	s->n_saes = cfg->n_saes;
	s->size_limit = cfg->store_size_limit;
	s->on_audit = cfg->on_audit;
	s->audit_arg = cfg->audit_arg;
	s->tail = &s->queue;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (cfg->reserve) {
		if ((r = reserve_table_new(cfg->reserve, &s->rt)) < 0) {
			snprintf(err, err_size, "reserve %zu: not in 1..%d", cfg->reserve,
				 STORE_TAKE_MAX * 4);
			supply_free(s);
			return r;
		}
		if ((r = -pthread_create(&s->refill_tid, NULL, refill_main, s)) < 0) {
			snprintf(err, err_size, "cannot start the refill thread");
			supply_free(s);
			return r;
		}
		s->refill_started = true;
	}
	*ret = s;
	return 0;
}

void supply_free(struct supply *s)
{
	if (!s)
		return;
	if (s->refill_started) {
		reserve_stop(s->rt);
		pthread_join(s->refill_tid, NULL);
	}
	reserve_table_free(s->rt);
	if (s->tail) {
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->cv);
	}
	secret_free(s->kek);
	free(s->db_path);
	free(s->saes);
	free(s);
}
