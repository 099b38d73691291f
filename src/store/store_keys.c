/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key operations: put, take, get by ID, expire, withdraw, usage, counts,
 * listing. Every write is one BEGIN IMMEDIATE ... COMMIT transaction; a
 * key leaves only after the COMMIT that marks it delivered has returned.
 *
 * Keys are not rows: an exchange row holds two sealed pool secrets, and
 * the state of key i of a direction follows from the row (key_state()).
 * Key bytes are derived at delivery from the direction's stored frontier
 * (pool_frontier_puncture, pool_leaf_key), which is punctured in the same
 * transaction; key IDs come from the exchange ID (pool_key_id), the same
 * way on both sides (docs/protocol.md §7).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/secret.h"
#include "proto/pool.h"
#include "store/store.h"
#include "store/store_internal.h"

/*
 * A delivery was committed (by any handle of this process) since the last
 * TRUNCATE checkpoint: the page images holding the frontier from before it
 * are still in the WAL or, not yet overwritten, in the main file, and
 * store_expire() (once a second in mfsd) checkpoints them away.
 */
static atomic_bool delivered_since_checkpoint;

/* ---- per-key view of an exchange row ---- */

/* Protocol direction (0: the initiator sends) of this side's direction dir. */
static unsigned proto_dir(const struct xrow *x, unsigned dir)
{
	return dir ^ x->role;
}

static bool key_delivered(const struct xrow *x, unsigned dir, unsigned i)
{
	return dir == STORE_OUTBOUND ? i < x->out_next : ((x->in_mask >> i) & 1) != 0;
}

static enum store_key_state key_state(const struct xrow *x, unsigned dir, unsigned i)
{
	bool delivered = key_delivered(x, dir, i);

	if (!delivered && x->withdrawn)
		return STORE_WITHDRAWN;
	if (x->state == STORE_DESTROYED)
		return STORE_DESTROYED;
	if (delivered)
		return STORE_DELIVERED;
	return (enum store_key_state)x->state;
}

static unsigned undelivered(const struct xrow *x, unsigned dir)
{
	return x->n_keys - (dir == STORE_OUTBOUND ? x->out_next : x->in_count);
}

/* Delivery log rows of one exchange, loaded for the metadata of delivered keys. */
struct delivery {
	unsigned dir, first, count;
	int64_t at;
	char to[STORE_WHO_MAX + 1];
};

struct deliveries {
	struct delivery d[2 * STORE_POOL_KEYS_MAX];
	size_t n;
};

static int deliveries_load(struct store *st, int64_t xid, struct deliveries *ret)
{
	sqlite3_stmt *s;
	int rc, r = 0;

	ret->n = 0;
	if ((r = store_stmt(st, S_DELIVERY_LIST, &s)) < 0)
		return r;
	sqlite3_bind_int64(s, 1, xid);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct delivery *d = &ret->d[ret->n];
		const unsigned char *t = sqlite3_column_text(s, 4);
		int tl = sqlite3_column_bytes(s, 4);

		if (ret->n == sizeof(ret->d) / sizeof(ret->d[0]) || !t || tl < 1 ||
		    tl > STORE_WHO_MAX) {
			r = -EBADMSG;
			break;
		}
		d->dir = (unsigned)sqlite3_column_int(s, 0) ? STORE_INBOUND : STORE_OUTBOUND;
		d->first = (unsigned)sqlite3_column_int(s, 1);
		d->count = (unsigned)sqlite3_column_int(s, 2);
		d->at = sqlite3_column_int64(s, 3);
		memcpy(d->to, t, (size_t)tl);
		d->to[tl] = '\0';
		ret->n++;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_sql_err(st, rc);
	store_stmt_done(s);
	return r;
}

/* The metadata of key (dir, i) of x; dl: its delivery log (NULL: not loaded). */
static void key_meta(const struct xrow *x, unsigned dir, unsigned i, const struct deliveries *dl,
		     struct store_key_meta *m)
{
	memset(m, 0, sizeof(*m));
	pool_key_id(x->id, proto_dir(x, dir), i, m->id.b);
	m->dir = (enum store_direction)dir;
	m->state = key_state(x, dir, i);
	memcpy(m->peer, x->peer, sizeof(m->peer));
	memcpy(m->class_name, x->class_name, sizeof(m->class_name));
	memcpy(m->exchange_id, x->id, STORE_KEY_ID_LEN);
	m->exchange_id_len = STORE_KEY_ID_LEN;
	memcpy(m->methods, x->methods, sizeof(m->methods));
	m->n_methods = x->n_methods;
	m->key_len = x->key_len;
	m->not_before = x->not_before;
	m->soft_expiry = x->soft_expiry;
	m->hard_expiry = x->hard_expiry;
	m->created = x->created;
	m->changed = x->changed;
	if (!dl || !key_delivered(x, dir, i))
		return;
	for (size_t k = 0; k < dl->n; k++) {
		const struct delivery *d = &dl->d[k];

		if (d->dir == dir && d->first <= i && i - d->first < d->count) {
			m->delivered_at = d->at;
			memcpy(m->delivered_to, d->to, sizeof(m->delivered_to));
			if (m->state == STORE_DELIVERED)
				m->changed = d->at;
			break;
		}
	}
}

/* ---- argument checks ---- */

static bool exchange_ok(const struct store_exchange *x)
{
	if (!store_text_ok(x->peer, 1, STORE_PEER_MAX) || !x->class_name ||
	    !policy_name_valid(x->class_name) || x->id_len != STORE_KEY_ID_LEN ||
	    !pool_exchange_id_valid(x->id) || x->n_methods < 1 || x->n_methods > STORE_METHODS_MAX)
		return false;
	for (size_t i = 0; i < x->n_methods; i++)
		for (size_t j = 0; j < i; j++)
			if (x->methods[i] == x->methods[j])
				return false;
	return true;
}

static bool pool_in_ok(const struct store_pool_in *p)
{
	return exchange_ok(&p->x) &&
	       (p->role == STORE_ROLE_INITIATOR || p->role == STORE_ROLE_RESPONDER) && p->secret &&
	       p->n_keys >= 1 && p->n_keys <= STORE_POOL_KEYS_MAX &&
	       p->key_len >= STORE_KEY_MIN_LEN && p->key_len <= STORE_KEY_MAX_LEN &&
	       p->not_before <= p->soft_expiry && p->soft_expiry <= p->hard_expiry;
}

static bool pool_ok(const char *peer, const char *class_name)
{
	return store_text_ok(peer, 1, STORE_PEER_MAX) && class_name && policy_name_valid(class_name);
}

static int step_done(struct store *st, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);
	int r = rc == SQLITE_DONE ? 0 : store_sql_err(st, rc);

	store_stmt_done(s);
	return r;
}

/* ---- put ---- */

/* The row a put creates, for sealing (the AAD covers its metadata). */
static void xrow_from_put(const struct store_pool_in *p, int64_t now, struct xrow *x)
{
	memset(x, 0, sizeof(*x));
	memcpy(x->id, p->x.id, STORE_KEY_ID_LEN);
	memcpy(x->peer, p->x.peer, strlen(p->x.peer) + 1);
	memcpy(x->class_name, p->x.class_name, strlen(p->x.class_name) + 1);
	memcpy(x->methods, p->x.methods, p->x.n_methods * sizeof(p->x.methods[0]));
	x->n_methods = p->x.n_methods;
	x->role = p->role;
	x->n_keys = (unsigned)p->n_keys;
	x->key_len = (unsigned)p->key_len;
	x->not_before = p->not_before;
	x->soft_expiry = p->soft_expiry;
	x->hard_expiry = p->hard_expiry;
	x->created = x->changed = now;
	x->state = p->not_before > now ? STORE_PRE_ACTIVE : STORE_ACTIVE;
}

/* Is exchange ID id stored? (through the tag index: the only index on IDs) */
static int exchange_exists(struct store *st, const uint8_t *id)
{
	sqlite3_stmt *s;
	int rc, r;

	if ((r = store_stmt(st, S_XFIND, &s)) < 0)
		return r;
	sqlite3_bind_int64(s, 1, (int64_t)pool_tag(id));
	sqlite3_bind_blob(s, 2, id, STORE_KEY_ID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(s);
	r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : store_sql_err(st, rc);
	store_stmt_done(s);
	return r;
}

static int put_one(struct store *st, const struct store_pool_in *p, int64_t now, struct xrow *x)
{
	uint8_t methods[METHODS_BLOB_MAX], aad[AAD_MAX];
	size_t aad_len;
	sqlite3_stmt *s;
	int r;

	if ((r = exchange_exists(st, p->x.id)) != 0)
		return r < 0 ? r : -EEXIST;

	xrow_from_put(p, now, x);
	for (size_t i = 0; i < x->n_methods; i++) {
		methods[2 * i] = (uint8_t)(x->methods[i] >> 8);
		methods[2 * i + 1] = (uint8_t)x->methods[i];
	}
	for (unsigned dir = 0; dir < 2; dir++) {
		const uint8_t *secret = p->secret + proto_dir(x, dir) * STORE_POOL_SECRET_LEN;

		/* the frontier of a fresh direction is the root: the pool secret */
		if ((r = store_pool_aad(x, dir, ~0ULL, aad, &aad_len)) < 0 ||
		    (r = store_seal(st, aad, aad_len, secret, STORE_POOL_SECRET_LEN,
				    x->blob[dir])) < 0)
			return r;
		x->blob_len[dir] = SEAL_OVERHEAD + STORE_POOL_SECRET_LEN;
	}
	if ((r = store_stmt(st, S_PUT_EXCHANGE, &s)) < 0)
		return r;
	sqlite3_bind_blob(s, 1, x->id, STORE_KEY_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (int64_t)pool_tag(x->id));
	sqlite3_bind_text(s, 3, x->peer, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, x->class_name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 5, methods, (int)(2 * x->n_methods), SQLITE_STATIC);
	sqlite3_bind_int(s, 6, (int)x->role);
	sqlite3_bind_int(s, 7, (int)x->n_keys);
	sqlite3_bind_int(s, 8, (int)x->key_len);
	sqlite3_bind_int64(s, 9, x->not_before);
	sqlite3_bind_int64(s, 10, x->soft_expiry);
	sqlite3_bind_int64(s, 11, x->hard_expiry);
	sqlite3_bind_int64(s, 12, now);
	sqlite3_bind_int(s, 13, x->state);
	sqlite3_bind_blob(s, 14, x->blob[STORE_OUTBOUND], (int)x->blob_len[STORE_OUTBOUND],
			  SQLITE_STATIC);
	sqlite3_bind_blob(s, 15, x->blob[STORE_INBOUND], (int)x->blob_len[STORE_INBOUND],
			  SQLITE_STATIC);
	if ((r = step_done(st, s)) < 0)
		return r;
	return 0;
}

int store_put(struct store *st, const struct store_pool_in *in, size_t n, int64_t now)
{
	struct xrow x;
	int r = 0;

	if (!st || !in || n < 1 || n > STORE_PUT_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!pool_in_ok(&in[i]))
			return -EINVAL;
	if ((r = store_tx_begin(st)) < 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++)
		r = put_one(st, &in[i], now, &x);
	if (r == 0)
		r = store_tx_commit(st);	/* one fsync for all n */
	else
		store_tx_rollback(st);
	mfs_wipe(&x, sizeof(x));
	return r;
}

int store_pool_depths(struct store *st, const char *peer, const char *class_name,
		      uint64_t *ret_out, uint64_t *ret_in)
{
	sqlite3_stmt *s;
	int rc, r;

	if (!st || !pool_ok(peer, class_name) || !ret_out || !ret_in)
		return -EINVAL;
	if ((r = store_stmt(st, S_DEPTH, &s)) < 0)
		return r;
	sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, class_name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*ret_out = (uint64_t)sqlite3_column_int64(s, 0);
		*ret_in = (uint64_t)sqlite3_column_int64(s, 1);
		r = 0;
	} else if (rc == SQLITE_DONE) {
		*ret_out = *ret_in = 0;	/* nothing was ever stored for this pool */
		r = 0;
	} else {
		r = store_sql_err(st, rc);
	}
	store_stmt_done(s);
	return r;
}

int store_pool_depth(struct store *st, const char *peer, const char *class_name,
		     enum store_direction dir, uint64_t *ret)
{
	uint64_t d[2];
	int r;

	if ((dir != STORE_OUTBOUND && dir != STORE_INBOUND) || !ret)
		return -EINVAL;
	if ((r = store_pool_depths(st, peer, class_name, &d[0], &d[1])) < 0)
		return r;
	*ret = d[dir];
	return 0;
}

/* ---- delivery ---- */

void store_key_done(struct store_key *k)
{
	if (!k)
		return;
	secret_free(k->key);
	memset(k, 0, sizeof(*k));
}

/*
 * Keys of direction dir of one exchange, chosen for delivery: take picks
 * first..first+count-1 (in order), a get picks any leaves of the inbound
 * direction. The new sealed frontier is computed before the commit.
 */
struct pick {
	struct xrow x;
	unsigned dir, first, count;	/* take: the range; get: count only */
	uint8_t leaf[STORE_POOL_KEYS_MAX];	/* key indexes, in delivery order */
	size_t out[STORE_POOL_KEYS_MAX];	/* their places in ret[] */
	uint64_t bits;			/* the same leaves as a set */
	uint8_t blob[SEAL_BLOB_MAX];	/* the new sealed frontier */
	size_t blob_len;		/* 0: no key left in the direction (NULL) */
	bool bad;			/* the stored frontier did not open */
};

/*
 * Make room for picks[0..need-1] (zeroed when new): a pick is ~4 KiB (its
 * sealed blobs), and most calls touch one or two exchanges, so the array
 * grows on demand instead of being sized for n keys from distinct
 * exchanges. Picks hold no plaintext secret (blobs are sealed).
 */
static int picks_reserve(struct pick **picks, size_t *cap, size_t need)
{
	struct pick *p;
	size_t c = *cap ? *cap : 2;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	if (!(p = realloc(*picks, c * sizeof(*p))))
		return -ENOMEM;
	memset(p + *cap, 0, (c - *cap) * sizeof(*p));
	*picks = p;
	*cap = c;
	return 0;
}

/* Log a delivery of keys first..first+count-1 of p's direction in the open transaction. */
static int delivery_add(struct store *st, const struct pick *p, unsigned first, unsigned count,
			const char *to, int64_t now)
{
	sqlite3_stmt *s;
	int r;

	if ((r = store_stmt(st, S_DELIVERY_ADD, &s)) < 0)
		return r;
	sqlite3_bind_int64(s, 1, p->x.xid);
	sqlite3_bind_int(s, 2, (int)p->dir);
	sqlite3_bind_int(s, 3, (int)first);
	sqlite3_bind_int(s, 4, (int)count);
	sqlite3_bind_int64(s, 5, now);
	sqlite3_bind_text(s, 6, to, -1, SQLITE_STATIC);
	return step_done(st, s);
}

static uint64_t leaves_of(const struct xrow *x)
{
	return x->n_keys >= 64 ? ~0ULL : (1ULL << x->n_keys) - 1;
}

/*
 * Inside the delivery transaction: open p's stored frontier, puncture its
 * leaves one by one, deriving each key into keys[p->out[k]], and seal what
 * is left of the frontier into p->blob (nothing when no key of the
 * direction is left). A frontier that does not open marks p bad (its keys
 * are consumed, nothing is derived, the stored blob stays as it is).
 * w: work memory, POOL_FRONTIER_MAX + 1 seeds.
 */
static int pick_process(struct store *st, struct pick *p, struct secret **keys, struct secret *w)
{
	uint64_t u = store_undelivered_set(&p->x, p->dir);
	uint8_t *leaf = w->p + POOL_FRONTIER_MAX * POOL_NODE_LEN;
	unsigned pd = proto_dir(&p->x, p->dir);
	uint8_t aad[AAD_MAX];
	struct pool_node nodes[POOL_FRONTIER_MAX];
	size_t aad_len, n;
	int r;

	p->bad = false;
	r = store_frontier_unseal(st, &p->x, p->dir, w, &n);
	if (r == -EKEYREJECTED || r == -ENOKEY) {
		p->bad = true;
		if ((u & ~p->bits & leaves_of(&p->x)) == 0) {
			p->blob_len = 0;
		} else {
			memcpy(p->blob, p->x.blob[p->dir], p->x.blob_len[p->dir]);
			p->blob_len = p->x.blob_len[p->dir];
		}
		return 0;
	}
	if (r < 0)
		return r;
	for (unsigned k = 0; k < p->count; k++) {
		unsigned i = p->leaf[k];

		if ((r = pool_frontier_puncture(pd, &u, w->p, i, leaf)) < 0 ||
		    (r = pool_leaf_key(leaf, pd, i, p->x.key_len, keys[p->out[k]]->p)) < 0)
			goto out;
	}
	p->blob_len = 0;
	if ((u & leaves_of(&p->x)) != 0) {
		n = pool_frontier_nodes(u, nodes);
		if ((r = store_pool_aad(&p->x, p->dir, u, aad, &aad_len)) < 0 ||
		    (r = store_seal(st, aad, aad_len, w->p, n * POOL_NODE_LEN, p->blob)) < 0)
			goto out;
		p->blob_len = SEAL_OVERHEAD + n * POOL_NODE_LEN;
	}
out:
	mfs_wipe(w->p, w->len);
	return r;
}

/* Write p's delivery: the row's counters and new frontier, and the delivery log. */
static int pick_update(struct store *st, const struct pick *p, const char *to, int64_t now)
{
	sqlite3_stmt *s;
	int r;

	if (p->dir == STORE_OUTBOUND) {
		if ((r = store_stmt(st, S_TAKE_UPDATE, &s)) < 0)
			return r;
		sqlite3_bind_int64(s, 1, p->x.xid);
		sqlite3_bind_int(s, 2, (int)p->count);
		sqlite3_bind_int(s, 3, (int)p->first);
	} else {
		if ((r = store_stmt(st, S_GET_UPDATE, &s)) < 0)
			return r;
		sqlite3_bind_int64(s, 1, p->x.xid);
		sqlite3_bind_int64(s, 2, (int64_t)p->bits);
		sqlite3_bind_int(s, 3, (int)p->count);
	}
	if (p->blob_len)
		sqlite3_bind_blob(s, 4, p->blob, (int)p->blob_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 4);
	if ((r = step_done(st, s)) < 0)
		return r;
	if (sqlite3_changes(st->db) != 1)
		return -EIO;	/* cannot happen inside BEGIN IMMEDIATE */
	if (p->dir == STORE_OUTBOUND)
		return delivery_add(st, p, p->first, p->count, to, now);
	for (unsigned k = 0; k < p->count; k++)
		if ((r = delivery_add(st, p, p->leaf[k], 1, to, now)) < 0)
			return r;
	return 0;
}

/*
 * The delivery transaction is open and picks[] are chosen: derive the keys
 * and the punctured frontiers, write them, COMMIT (fsync), and only then
 * hand the keys out in ret[0..n-1]. On a failure before the commit the
 * transaction is rolled back; after it, nothing is returned.
 */
static int deliver(struct store *st, struct pick *picks, size_t n_picks, size_t n,
		   const char *to, int64_t now, struct store_key *ret)
{
	struct secret **keys, *w = NULL;
	size_t bad = 0;
	int r = 0;

	if (!(keys = calloc(n, sizeof(*keys)))) {
		store_tx_rollback(st);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_picks && r == 0; i++)
		for (unsigned k = 0; k < picks[i].count && r == 0; k++)
			if (!(keys[picks[i].out[k]] = secret_alloc(picks[i].x.key_len)))
				r = -ENOMEM;
	if (r == 0 && !(w = secret_alloc((POOL_FRONTIER_MAX + 1) * POOL_NODE_LEN)))
		r = -ENOMEM;
	for (size_t i = 0; i < n_picks && r == 0; i++) {
		if ((r = pick_process(st, &picks[i], keys, w)) < 0)
			break;
		if (picks[i].bad)
			bad += picks[i].count;
		r = pick_update(st, &picks[i], to, now);
	}
	if (r == 0 && bad) {
		char detail[96];

		snprintf(detail, sizeof(detail), "%zu of %zu delivered keys failed to unseal", bad, n);
		r = store_audit_insert(st, now, "store", "unseal-failed", detail, (int64_t)bad);
	}
	if (r < 0) {
		store_tx_rollback(st);
		goto free;
	}
	/* The durable point: after this, these keys are never served again. */
	if ((r = store_tx_commit(st)) < 0)
		goto free;
	atomic_store(&delivered_since_checkpoint, true);
	if (bad) {
		r = -EKEYREJECTED;
		goto free;
	}
	for (size_t i = 0; i < n_picks; i++) {
		const struct pick *p = &picks[i];

		for (unsigned k = 0; k < p->count; k++) {
			struct store_key *o = &ret[p->out[k]];

			key_meta(&p->x, p->dir, p->leaf[k], NULL, &o->meta);
			o->meta.state = STORE_DELIVERED;
			o->meta.changed = now;
			o->meta.delivered_at = now;
			memcpy(o->meta.delivered_to, to, strlen(to) + 1);
			o->key = keys[p->out[k]];
			keys[p->out[k]] = NULL;
		}
	}
	r = 0;
free:
	secret_free(w);
	for (size_t i = 0; i < n; i++)
		secret_free(keys[i]);
	free(keys);
	return r;
}

int store_take(struct store *st, const char *peer, const char *class_name, const char *to,
	       int64_t now, size_t n, struct store_key *ret)
{
	struct pick *picks = NULL;
	size_t n_picks = 0, got = 0, cap = 0;
	sqlite3_stmt *s;
	int rc = SQLITE_OK, r = 0;

	if (!st || !pool_ok(peer, class_name) || !store_text_ok(to, 1, STORE_WHO_MAX) || n < 1 ||
	    n > STORE_TAKE_MAX || !ret)
		return -EINVAL;
	if ((r = picks_reserve(&picks, &cap, 2)) < 0)
		return r;
	if ((r = store_tx_begin(st)) < 0)
		goto out;
	/* Oldest first: (not_before, insertion order), then each exchange's keys in order. */
	if ((r = store_stmt(st, S_TAKE_SELECT, &s)) < 0)
		goto rollback;
	sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, class_name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now);
	while (got < n && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct pick *p;
		unsigned left;

		if ((r = picks_reserve(&picks, &cap, n_picks + 1)) < 0)
			break;
		p = &picks[n_picks];
		if ((r = store_xrow_from_row(s, &p->x)) < 0)
			break;
		left = undelivered(&p->x, STORE_OUTBOUND);
		if (left == 0 || p->x.blob_len[STORE_OUTBOUND] == 0) {
			r = -EBADMSG;	/* the CHECK constraint rules this out */
			break;
		}
		p->dir = STORE_OUTBOUND;
		p->first = p->x.out_next;
		p->count = n - got < left ? (unsigned)(n - got) : left;
		for (unsigned k = 0; k < p->count; k++) {
			p->leaf[k] = (uint8_t)(p->first + k);
			p->out[k] = got + k;
			p->bits |= 1ULL << (p->first + k);
		}
		got += p->count;
		n_picks++;
	}
	if (r == 0 && got < n && rc != SQLITE_DONE)
		r = store_sql_err(st, rc);
	store_stmt_done(s);
	if (r == 0 && got < n)
		r = -ENOKEY;
	if (r < 0)
		goto rollback;
	r = deliver(st, picks, n_picks, n, to, now, ret);
	goto out;
rollback:
	store_tx_rollback(st);
out:
	if (picks)
		mfs_wipe(picks, cap * sizeof(*picks));
	free(picks);
	return r;
}

/*
 * Find the exchange of key ID id (by its tag, then the whole exchange ID):
 * *ret and the key's direction (this side's) and index. -ENOKEY if unknown.
 */
static int find_key(struct store *st, const struct store_key_id *id, struct xrow *ret,
		    unsigned *ret_dir, unsigned *ret_i)
{
	uint8_t xid[STORE_KEY_ID_LEN];
	unsigned d, i;
	uint64_t tag;
	sqlite3_stmt *s;
	int rc, r = -ENOKEY;

	if (pool_key_id_parse(id->b, &tag, &d, &i, xid) < 0)
		return -ENOKEY;
	if ((r = store_stmt(st, S_BY_TAG, &s)) < 0)
		return r;
	r = -ENOKEY;
	sqlite3_bind_int64(s, 1, (int64_t)tag);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const void *b = sqlite3_column_blob(s, 1);

		if (!b || sqlite3_column_bytes(s, 1) != STORE_KEY_ID_LEN ||
		    memcmp(b, xid, STORE_KEY_ID_LEN) != 0)
			continue;	/* another exchange with the same tag */
		if ((r = store_xrow_from_row(s, ret)) < 0)
			break;
		if (i >= ret->n_keys) {
			r = -ENOKEY;
			break;
		}
		*ret_dir = d ^ ret->role;
		*ret_i = i;
		r = 0;
		break;
	}
	if (r == -ENOKEY && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = store_sql_err(st, rc);
	store_stmt_done(s);
	return r;
}

/* Why inbound key i of x cannot be handed out now (0: it can). */
static int get_check(const struct xrow *x, unsigned i, int64_t now)
{
	switch (key_state(x, STORE_INBOUND, i)) {
	case STORE_DELIVERED:
		return -EALREADY;
	case STORE_WITHDRAWN:
		return -EKEYREVOKED;
	case STORE_EXPIRED:
	case STORE_DESTROYED:
		return -EKEYEXPIRED;
	default:
		return x->hard_expiry <= now ? -EKEYEXPIRED : 0;
	}
}

int store_get_by_ids(struct store *st, const char *peer, const char *class_name,
		     const struct store_key_id *ids, size_t n, const char *to, int64_t now,
		     struct store_key *ret, size_t *ret_failed)
{
	struct pick *picks = NULL, *p;
	struct xrow *x = NULL;
	size_t n_picks = 0, k = 0, cap = 0;
	unsigned dir = 0, i = 0;
	int r;

	if (!st || !pool_ok(peer, class_name) || !ids || n < 1 || n > STORE_GET_MAX ||
	    !store_text_ok(to, 1, STORE_WHO_MAX) || !ret)
		return -EINVAL;
	if ((r = picks_reserve(&picks, &cap, 1)) < 0 || !(x = malloc(sizeof(*x)))) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = store_tx_begin(st)) < 0)
		goto out;
	for (k = 0; k < n; k++) {
		if ((r = find_key(st, &ids[k], x, &dir, &i)) < 0)
			goto rollback;
		if (dir != STORE_INBOUND || strcmp(x->peer, peer) != 0 ||
		    strcmp(x->class_name, class_name) != 0) {
			r = -ENOKEY;	/* not this caller's: do not tell it apart */
			goto rollback;
		}
		if ((r = get_check(x, i, now)) < 0)
			goto rollback;
		/* keys of one exchange share a pick: one frontier, one update */
		for (p = picks; p < picks + n_picks && p->x.xid != x->xid; p++)
			;
		if (p == picks + n_picks) {
			if ((r = picks_reserve(&picks, &cap, n_picks + 1)) < 0)
				goto rollback;
			p = &picks[n_picks];
			p->x = *x;
			p->dir = STORE_INBOUND;
			n_picks++;
		} else if ((p->bits >> i) & 1) {
			r = -EALREADY;	/* asked twice in one call */
			goto rollback;
		}
		p->leaf[p->count] = (uint8_t)i;
		p->out[p->count] = k;
		p->count++;
		p->bits |= 1ULL << i;
	}
	r = deliver(st, picks, n_picks, n, to, now, ret);
	goto out;
rollback:
	store_tx_rollback(st);
	if (ret_failed && (r == -ENOKEY || r == -EALREADY || r == -EKEYEXPIRED || r == -EKEYREVOKED))
		*ret_failed = k;	/* that ID's fault */
out:
	if (x)
		mfs_wipe(x, sizeof(*x));
	free(x);
	if (picks)
		mfs_wipe(picks, cap * sizeof(*picks));
	free(picks);
	return r;
}

int store_get_by_id(struct store *st, const char *peer, const char *class_name,
		    const struct store_key_id *id, const char *to, int64_t now,
		    struct store_key *ret)
{
	return store_get_by_ids(st, peer, class_name, id, 1, to, now, ret, NULL);
}

/* ---- expiry, withdrawal ---- */

/*
 * A TRUNCATE checkpoint; best effort, the data is durable in the WAL either
 * way. wait: as long as the busy timeout allows for other handles' readers
 * and writers (after destroying secrets); else not at all (busy timeout 0
 * for the call: SQLite does what it can and reports SQLITE_BUSY, and the
 * caller tries again later). Returns true when the WAL was checkpointed and
 * truncated.
 */
static bool checkpoint_truncate(struct store *st, bool wait)
{
	int rc;

	if (!wait)
		sqlite3_busy_timeout(st->db, 0);
	rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	if (!wait)
		sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK)
		log_debug("store: checkpoint: %s", sqlite3_errstr(rc));
	return rc == SQLITE_OK;
}

static int exec_now(struct store *st, enum stmt_id id, int64_t now)
{
	sqlite3_stmt *s;
	int r;

	if ((r = store_stmt(st, id, &s)) < 0)
		return r;
	sqlite3_bind_int64(s, 1, now);
	return step_done(st, s);
}

static int expire_count(struct store *st, int64_t now, int64_t *ret)
{
	sqlite3_stmt *s;
	int rc, r = 0;

	if ((r = store_stmt(st, S_EXPIRE_COUNT, &s)) < 0)
		return r;
	sqlite3_bind_int64(s, 1, now);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(s, 0);
	else
		r = store_sql_err(st, rc ? rc : SQLITE_ERROR);
	store_stmt_done(s);
	return r;
}

int store_expire(struct store *st, int64_t now)
{
	int64_t n = 0;
	int r;

	if (!st)
		return -EINVAL;
	if ((r = store_tx_begin(st)) < 0)
		return r;
	if ((r = exec_now(st, S_ACTIVATE, now)) < 0 || (r = expire_count(st, now, &n)) < 0 ||
	    (n > INT32_MAX && (r = -EOVERFLOW) < 0) || (r = exec_now(st, S_DESTROY, now)) < 0 ||
	    (n > 0 && (r = store_audit_insert(st, now, "store", "expire",
					      "hard expiry reached: destroyed", n)) < 0)) {
		store_tx_rollback(st);
		return r;
	}
	if ((r = store_tx_commit(st)) < 0)
		return r;
	if (n > 0) {
		atomic_store(&delivered_since_checkpoint, false);
		checkpoint_truncate(st, true);
	} else if (atomic_exchange(&delivered_since_checkpoint, false) &&
		 !checkpoint_truncate(st, false))
		atomic_store(&delivered_since_checkpoint, true);	/* busy: next time */
	return (int)n;
}

/* Growable array of key IDs. */
struct idv {
	struct store_key_id *v;
	size_t n, cap;
};

static int idv_push(struct idv *a, const struct xrow *x, unsigned dir, unsigned i)
{
	struct store_key_id *tmp;

	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 64;

		if (!(tmp = reallocarray(a->v, cap, sizeof(*tmp))))
			return -ENOMEM;
		a->v = tmp;
		a->cap = cap;
	}
	pool_key_id(x->id, proto_dir(x, dir), i, a->v[a->n++].b);
	return 0;
}

/* Whether the exchange row under s (X_COLUMNS) was derived with method. */
static bool row_has_method(sqlite3_stmt *s, uint16_t method)
{
	const uint8_t *m = sqlite3_column_blob(s, 4);
	int n = sqlite3_column_bytes(s, 4);

	for (int i = 0; m && i + 1 < n; i += 2)
		if ((uint16_t)(m[i] << 8 | m[i + 1]) == method)
			return true;
	return false;
}

/* Withdraw x in the open transaction: its undelivered keys go. Appends their IDs to ids. */
static int withdraw_row(struct store *st, const struct xrow *x, int64_t now, struct idv *ids,
			size_t *n)
{
	sqlite3_stmt *s;
	int r;

	if (x->state == STORE_DESTROYED || x->withdrawn ||
	    (x->blob_len[STORE_OUTBOUND] == 0 && x->blob_len[STORE_INBOUND] == 0))
		return 0;	/* nothing in the pool */
	for (unsigned dir = 0; dir < 2; dir++)
		for (unsigned i = 0; i < x->n_keys; i++)
			if (!key_delivered(x, dir, i)) {
				if (ids && (r = idv_push(ids, x, dir, i)) < 0)
					return r;
				(*n)++;
			}
	if ((r = store_stmt(st, S_XWITHDRAW, &s)) < 0)
		return r;
	sqlite3_bind_int64(s, 1, x->xid);
	sqlite3_bind_int64(s, 2, now);
	return step_done(st, s);
}

int store_withdraw_method(struct store *st, uint16_t method, const char *who, const char *reason,
			  int64_t now, struct store_key_id **ret_ids)
{
	char detail[STORE_DETAIL_MAX + 1];
	struct idv ids = { 0 };
	struct xrow *rows = NULL, *tmp;
	size_t n_rows = 0, cap = 0, n = 0;
	sqlite3_stmt *s;
	int rc, r = 0;

	if (!st || !store_text_ok(who, 1, STORE_WHO_MAX) ||
	    !store_text_ok(reason, 0, STORE_DETAIL_MAX - 32))
		return -EINVAL;
	snprintf(detail, sizeof(detail), "method 0x%04x: %s", method, reason);
	if ((r = store_tx_begin(st)) < 0)
		return r;
	/* Read first, then update: the select must not see its own updates. */
	if ((r = store_stmt(st, S_WITHDRAW_SELECT, &s)) < 0)
		goto rollback;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (!row_has_method(s, method))
			continue;
		if (n_rows == cap) {
			cap = cap ? 2 * cap : 16;
			if (!(tmp = reallocarray(rows, cap, sizeof(*rows)))) {
				r = -ENOMEM;
				break;
			}
			rows = tmp;
		}
		if ((r = store_xrow_from_row(s, &rows[n_rows++])) < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_sql_err(st, rc);
	store_stmt_done(s);
	for (size_t i = 0; r == 0 && i < n_rows; i++)
		r = withdraw_row(st, &rows[i], now, &ids, &n);
	if (r < 0 || n > INT32_MAX ||
	    (r = store_audit_insert(st, now, who, "withdraw-method", detail, (int64_t)n)) < 0)
		goto rollback;
	if ((r = store_tx_commit(st)) < 0)
		goto out;
	if (n > 0)
		checkpoint_truncate(st, true);
	if (ret_ids) {
		*ret_ids = ids.v;
		ids.v = NULL;
	}
	r = (int)n;
	goto out;
rollback:
	if (r == 0)
		r = -EOVERFLOW;
	store_tx_rollback(st);
out:
	if (rows)
		mfs_wipe(rows, cap * sizeof(*rows));
	free(rows);
	free(ids.v);
	return r;
}

int store_withdraw_exchange(struct store *st, const uint8_t *id, size_t id_len, const char *who,
			    const char *reason, int64_t now)
{
	char detail[STORE_DETAIL_MAX + 1];
	struct xrow x;
	size_t off, n = 0;
	sqlite3_stmt *s;
	int rc, r = 0;

	if (!st || !id || id_len < 1 || id_len > STORE_EXCHANGE_ID_MAX ||
	    !store_text_ok(who, 1, STORE_WHO_MAX) ||
	    !store_text_ok(reason, 0, STORE_DETAIL_MAX - 2 * STORE_EXCHANGE_ID_MAX - 16))
		return -EINVAL;
	off = (size_t)snprintf(detail, sizeof(detail), "exchange ");
	for (size_t i = 0; i < id_len; i++)
		off += (size_t)snprintf(detail + off, sizeof(detail) - off, "%02x", id[i]);
	snprintf(detail + off, sizeof(detail) - off, ": %s", reason);
	if ((r = store_tx_begin(st)) < 0)
		return r;
	if (id_len != STORE_KEY_ID_LEN) {
		r = -ENOKEY;	/* not an exchange ID of this schema */
		goto rollback;
	}
	if ((r = store_stmt(st, S_XFIND, &s)) < 0)
		goto rollback;
	sqlite3_bind_int64(s, 1, (int64_t)pool_tag(id));
	sqlite3_bind_blob(s, 2, id, STORE_KEY_ID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		r = store_xrow_from_row(s, &x);
	else
		r = rc == SQLITE_DONE ? -ENOKEY : store_sql_err(st, rc);
	store_stmt_done(s);
	if (r < 0 || (r = withdraw_row(st, &x, now, NULL, &n)) < 0 ||
	    (r = store_audit_insert(st, now, who, "withdraw-exchange", detail, (int64_t)n)) < 0)
		goto rollback;
	mfs_wipe(&x, sizeof(x));
	if ((r = store_tx_commit(st)) < 0)
		return r;
	if (n > 0)
		checkpoint_truncate(st, true);
	return (int)n;
rollback:
	mfs_wipe(&x, sizeof(x));
	store_tx_rollback(st);
	return r;
}

/* ---- reports ---- */

int store_exchanges(struct store *st, const char *peer, const char *class_name, int64_t now,
		    store_exchange_cb cb, void *arg)
{
	struct store_exchange_info x;
	sqlite3_stmt *s;
	int rc, r = 0;

	if (!st || !cb || !peer || !class_name)
		return -EINVAL;
	if ((r = store_stmt(st, S_XLIST, &s)) < 0)
		return r;
	sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, class_name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const void *b = sqlite3_column_blob(s, 0);
		int bl = sqlite3_column_bytes(s, 0);
		int64_t nk = sqlite3_column_int64(s, 3), delivered;

		if (!b || bl != STORE_KEY_ID_LEN) {
			r = -EBADMSG;
			break;
		}
		memset(&x, 0, sizeof(x));
		memcpy(x.id, b, (size_t)bl);
		x.id_len = (size_t)bl;
		x.created = sqlite3_column_int64(s, 1);
		delivered = sqlite3_column_int64(s, 4) + sqlite3_column_int64(s, 5);
		x.n_pool = sqlite3_column_int(s, 2) ? 0 : (size_t)(2 * nk - delivered);
		x.n_live = x.n_pool + (size_t)delivered;
		if (x.n_live == 0)
			continue;	/* withdrawn before any key went out */
		if ((r = cb(arg, &x)) != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = store_sql_err(st, rc);
	store_stmt_done(s);
	return r;
}

/* One (peer, class) group of store_method_usage: pool and delivered IDs per direction. */
struct usage_group {
	char peer[STORE_PEER_MAX + 1], cls[POLICY_NAME_MAX + 1];
	struct idv pool[2], delivered[2];
};

static int usage_emit(struct usage_group *g, store_usage_cb cb, void *arg)
{
	struct store_usage u;
	int r = 0;

	for (unsigned dir = 0; dir < 2 && r == 0; dir++) {
		struct idv *p = &g->pool[dir], *d = &g->delivered[dir];

		if (p->n + d->n == 0)
			continue;
		/* pool first, then delivered: one array */
		for (size_t i = 0; i < d->n; i++) {
			if (p->n == p->cap) {
				size_t cap = p->cap ? 2 * p->cap : 64;
				struct store_key_id *tmp = reallocarray(p->v, cap, sizeof(*tmp));

				if (!tmp)
					return -ENOMEM;
				p->v = tmp;
				p->cap = cap;
			}
			p->v[p->n++] = d->v[i];
		}
		u = (struct store_usage){ .peer = g->peer, .class_name = g->cls,
					  .dir = (enum store_direction)dir,
					  .n_pool = p->n - d->n, .n_delivered = d->n, .ids = p->v };
		r = cb(arg, &u);
	}
	for (unsigned dir = 0; dir < 2; dir++)
		g->pool[dir].n = g->delivered[dir].n = 0;
	return r;
}

int store_method_usage(struct store *st, uint16_t method, int64_t now, store_usage_cb cb,
		       void *arg)
{
	struct usage_group g;
	struct xrow x;
	bool open = false;
	sqlite3_stmt *s;
	int rc, r = 0;

	if (!st || !cb)
		return -EINVAL;
	memset(&g, 0, sizeof(g));
	if ((r = store_stmt(st, S_USAGE, &s)) < 0)
		return r;
	sqlite3_bind_int64(s, 1, now);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (!row_has_method(s, method))
			continue;
		if ((r = store_xrow_from_row(s, &x)) < 0)
			break;
		/* A new group: report the previous one. */
		if (open && (strcmp(x.peer, g.peer) != 0 || strcmp(x.class_name, g.cls) != 0) &&
		    (r = usage_emit(&g, cb, arg)) != 0)
			break;
		memcpy(g.peer, x.peer, sizeof(g.peer));
		memcpy(g.cls, x.class_name, sizeof(g.cls));
		open = true;
		for (unsigned dir = 0; dir < 2 && r == 0; dir++)
			for (unsigned i = 0; i < x.n_keys && r == 0; i++) {
				enum store_key_state ks = key_state(&x, dir, i);

				if (ks == STORE_PRE_ACTIVE || ks == STORE_ACTIVE)
					r = idv_push(&g.pool[dir], &x, dir, i);
				else if (ks == STORE_DELIVERED)
					r = idv_push(&g.delivered[dir], &x, dir, i);
			}
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = store_sql_err(st, rc);
	if (r == 0 && open)
		r = usage_emit(&g, cb, arg);
	store_stmt_done(s);
	for (unsigned dir = 0; dir < 2; dir++) {
		free(g.pool[dir].v);
		free(g.delivered[dir].v);
	}
	mfs_wipe(&x, sizeof(x));
	return r;
}

int store_counts(struct store *st, const char *peer, const char *class_name,
		 enum store_direction dir, struct store_counts *ret)
{
	struct store_counts c;
	sqlite3_stmt *s;
	int rc, r = 0;

	if (!st || !ret)
		return -EINVAL;
	memset(&c, 0, sizeof(c));
	if ((r = store_stmt(st, S_COUNTS, &s)) < 0)
		return r;
	if (peer)
		sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
	if (class_name)
		sqlite3_bind_text(s, 2, class_name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int state = sqlite3_column_int(s, 0);
		bool withdrawn = sqlite3_column_int(s, 1) != 0;
		uint64_t total = (uint64_t)sqlite3_column_int64(s, 2);
		uint64_t done[2] = { (uint64_t)sqlite3_column_int64(s, 3),
				     (uint64_t)sqlite3_column_int64(s, 4) };

		if ((state != STORE_PRE_ACTIVE && state != STORE_ACTIVE && state != STORE_DESTROYED) ||
		    done[0] > total || done[1] > total) {
			r = -EBADMSG;
			break;
		}
		for (unsigned d = 0; d < 2; d++) {
			uint64_t left = total - done[d];

			if ((dir == STORE_OUTBOUND || dir == STORE_INBOUND) && (unsigned)dir != d)
				continue;
			/* key_state() summed: undelivered keys, then delivered ones */
			if (withdrawn)
				c.state[STORE_WITHDRAWN] += left;
			else
				c.state[state] += left;
			c.state[state == STORE_DESTROYED ? STORE_DESTROYED : STORE_DELIVERED] += done[d];
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_sql_err(st, rc);
	store_stmt_done(s);
	if (r == 0)
		*ret = c;
	return r;
}

int store_list(struct store *st, const struct store_filter *f, store_meta_cb cb, void *arg)
{
	struct deliveries *dl = NULL;
	struct store_key_meta m;
	struct xrow x;
	sqlite3_stmt *s;
	unsigned mask = f ? f->state_mask & ((1U << STORE_STATE_COUNT) - 1) : 0;
	int fdir = f && (f->dir == STORE_OUTBOUND || f->dir == STORE_INBOUND) ? (int)f->dir : -1;
	int rc, r = 0;

	if (!st || !cb)
		return -EINVAL;
	if (!(dl = malloc(sizeof(*dl))))
		return -ENOMEM;
	if ((r = store_stmt(st, S_LIST, &s)) < 0)
		goto out;
	if (f && f->peer)
		sqlite3_bind_text(s, 1, f->peer, -1, SQLITE_STATIC);
	if (f && f->class_name)
		sqlite3_bind_text(s, 2, f->class_name, -1, SQLITE_STATIC);
	/*
	 * The callback must not call into the handle, but the delivery log is
	 * read through it: each exchange's log is loaded before its callbacks.
	 */
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((r = store_xrow_from_row(s, &x)) < 0)
			break;
		dl->n = 0;
		if ((x.out_next || x.in_count) && (r = deliveries_load(st, x.xid, dl)) < 0)
			break;
		/* the order keys had as rows: protocol direction 0, then 1 */
		for (unsigned pd = 0; pd < 2 && r == 0; pd++) {
			unsigned dir = pd ^ x.role;

			if (fdir >= 0 && (unsigned)fdir != dir)
				continue;
			for (unsigned i = 0; i < x.n_keys && r == 0; i++) {
				if (mask && !((mask >> key_state(&x, dir, i)) & 1))
					continue;
				key_meta(&x, dir, i, dl, &m);
				r = cb(arg, &m);
			}
		}
		if (r != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = store_sql_err(st, rc);
	store_stmt_done(s);
out:
	free(dl);
	return r;
}

int store_key_info(struct store *st, const struct store_key_id *id, struct store_key_meta *ret)
{
	struct deliveries *dl = NULL;
	struct xrow x;
	unsigned dir = 0, i = 0;
	int r;

	if (!st || !id || !ret)
		return -EINVAL;
	if ((r = find_key(st, id, &x, &dir, &i)) < 0)
		return r;
	if (key_delivered(&x, dir, i)) {
		if (!(dl = malloc(sizeof(*dl))))
			return -ENOMEM;
		if ((r = deliveries_load(st, x.xid, dl)) < 0)
			goto out;
	}
	key_meta(&x, dir, i, dl, ret);
out:
	free(dl);
	mfs_wipe(&x, sizeof(x));
	return r;
}
