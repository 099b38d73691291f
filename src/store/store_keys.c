/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key operations: put, take, get by ID, expire, withdraw, usage, counts,
 * listing. Every write is one BEGIN IMMEDIATE ... COMMIT transaction; a
 * key leaves only after the COMMIT that marks it delivered has returned.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/secret.h"
#include "store/store.h"
#include "store/store_internal.h"

static bool exchange_ok(const struct store_exchange *x)
{
	if (!x || !store_text_ok(x->peer, 1, STORE_PEER_MAX) || !x->class_name ||
	    !policy_name_valid(x->class_name) || x->id_len < 1 || x->id_len > STORE_EXCHANGE_ID_MAX ||
	    x->n_methods < 1 || x->n_methods > STORE_METHODS_MAX)
		return false;
	for (size_t i = 0; i < x->n_methods; i++)
		for (size_t j = 0; j < i; j++)
			if (x->methods[i] == x->methods[j])
				return false;
	return true;
}

static bool key_in_ok(const struct store_key_in *k)
{
	return (k->dir == STORE_OUTBOUND || k->dir == STORE_INBOUND) && k->key &&
	       k->key_len >= STORE_KEY_MIN_LEN && k->key_len <= STORE_KEY_MAX_LEN &&
	       k->not_before <= k->soft_expiry && k->soft_expiry <= k->hard_expiry;
}

static bool pool_ok(const char *peer, const char *class_name)
{
	return store_text_ok(peer, 1, STORE_PEER_MAX) && class_name && policy_name_valid(class_name);
}

/* The metadata a key is sealed with, from the put arguments. */
static void meta_from_put(const struct store_exchange *x, const struct store_key_in *k,
			  struct store_key_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->id = k->id;
	m->dir = k->dir;
	memcpy(m->peer, x->peer, strlen(x->peer) + 1);
	memcpy(m->class_name, x->class_name, strlen(x->class_name) + 1);
	memcpy(m->exchange_id, x->id, x->id_len);
	m->exchange_id_len = x->id_len;
	memcpy(m->methods, x->methods, x->n_methods * sizeof(x->methods[0]));
	m->n_methods = x->n_methods;
	m->key_len = k->key_len;
	m->not_before = k->not_before;
	m->soft_expiry = k->soft_expiry;
	m->hard_expiry = k->hard_expiry;
}

static int step_done(struct store *st, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);
	int r = rc == SQLITE_DONE ? 0 : store_sql_err(st, rc);

	store_stmt_done(s);
	return r;
}

int store_put(struct store *st, const struct store_exchange *x, const struct store_key_in *keys,
	      size_t n, int64_t now)
{
	uint8_t methods[METHODS_BLOB_MAX], blob[SEAL_BLOB_MAX];
	struct store_key_meta m;
	sqlite3_stmt *s;
	int64_t xid;
	int r;

	if (!st || !exchange_ok(x) || !keys || n < 1 || n > STORE_PUT_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!key_in_ok(&keys[i]))
			return -EINVAL;
	for (size_t i = 0; i < x->n_methods; i++) {
		methods[2 * i] = (uint8_t)(x->methods[i] >> 8);
		methods[2 * i + 1] = (uint8_t)x->methods[i];
	}

	if ((r = store_tx_begin(st)) < 0)
		return r;
	if ((r = store_stmt(st, S_PUT_EXCHANGE, &s)) < 0)
		goto out;
	sqlite3_bind_blob(s, 1, x->id, (int)x->id_len, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, x->peer, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, x->class_name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 4, methods, (int)(2 * x->n_methods), SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, now);
	if ((r = step_done(st, s)) < 0)
		goto out;
	xid = sqlite3_last_insert_rowid(st->db);

	if ((r = store_stmt(st, S_PUT_METHOD, &s)) < 0)
		goto out;
	for (size_t i = 0; i < x->n_methods; i++) {
		sqlite3_bind_int(s, 1, x->methods[i]);
		sqlite3_bind_int64(s, 2, xid);
		if ((r = step_done(st, s)) < 0)
			goto out;
	}

	if ((r = store_stmt(st, S_PUT_KEY, &s)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct store_key_in *k = &keys[i];

		meta_from_put(x, k, &m);
		if ((r = store_seal(st, &m, k->key, blob)) < 0)
			goto out;
		sqlite3_bind_blob(s, 1, k->id.b, STORE_KEY_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, xid);
		sqlite3_bind_text(s, 3, x->peer, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, x->class_name, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 5, k->dir);
		sqlite3_bind_int(s, 6, k->not_before > now ? STORE_PRE_ACTIVE : STORE_ACTIVE);
		sqlite3_bind_int(s, 7, (int)k->key_len);
		sqlite3_bind_int64(s, 8, k->not_before);
		sqlite3_bind_int64(s, 9, k->soft_expiry);
		sqlite3_bind_int64(s, 10, k->hard_expiry);
		sqlite3_bind_int64(s, 11, now);
		sqlite3_bind_blob(s, 12, blob, (int)(SEAL_OVERHEAD + k->key_len), SQLITE_STATIC);
		if ((r = step_done(st, s)) < 0)
			goto out;
	}
	r = store_tx_commit(st);
	goto done;
out:
	store_tx_rollback(st);
done:
	mfs_wipe(blob, sizeof(blob));
	return r;
}

void store_key_done(struct store_key *k)
{
	if (!k)
		return;
	secret_free(k->key);
	memset(k, 0, sizeof(*k));
}

/* A row selected for delivery, copied out before the UPDATE. */
struct pick {
	int64_t kid;
	struct store_key_meta meta;
	uint8_t blob[SEAL_BLOB_MAX];
	size_t blob_len;
	struct secret *key;	/* allocated before COMMIT: after it, only decryption can fail */
};

static int pick_from_row(sqlite3_stmt *s, struct pick *p)
{
	const void *b;
	int n, r;

	if ((r = store_meta_from_row(s, &p->meta)) < 0)
		return r;
	p->kid = sqlite3_column_int64(s, COL_KID);
	b = sqlite3_column_blob(s, COL_BLOB);
	n = sqlite3_column_bytes(s, COL_BLOB);
	if (!b || n < 0 || (size_t)n > SEAL_BLOB_MAX)
		return -EBADMSG;
	memcpy(p->blob, b, (size_t)n);
	p->blob_len = (size_t)n;
	return 0;
}

/*
 * Inside the open transaction: mark picks[0..n-1] delivered, allocate their
 * outputs, COMMIT (fsync). Then unseal into ret[]. On any failure before
 * the commit the transaction is rolled back; after it, nothing is returned.
 */
static int deliver(struct store *st, struct pick *picks, size_t n, const char *to, int64_t now,
		   struct store_key *ret)
{
	sqlite3_stmt *s;
	size_t bad = 0;
	int r;

	if ((r = store_stmt(st, S_MARK_DELIVERED, &s)) < 0)
		goto rollback;
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_int64(s, 1, picks[i].kid);
		sqlite3_bind_int64(s, 2, now);
		sqlite3_bind_text(s, 3, to, -1, SQLITE_STATIC);
		if ((r = step_done(st, s)) < 0)
			goto rollback;
		if (sqlite3_changes(st->db) != 1) {
			r = -EIO;	/* cannot happen inside BEGIN IMMEDIATE */
			goto rollback;
		}
		if (!(picks[i].key = secret_alloc(picks[i].meta.key_len))) {
			r = -ENOMEM;
			goto rollback;
		}
	}
	/* The durable point: after this, these keys are never served again. */
	if ((r = store_tx_commit(st)) < 0)
		goto free;

	for (size_t i = 0; i < n; i++)
		if (store_unseal(st, &picks[i].meta, picks[i].blob, picks[i].blob_len,
				 picks[i].key->p) < 0)
			bad++;
	if (bad) {
		char detail[96];

		snprintf(detail, sizeof(detail), "%zu of %zu delivered keys failed to unseal", bad, n);
		if (store_audit_append(st, now, "store", "unseal-failed", detail, (int64_t)bad) < 0)
			log_debug("store: could not audit an unseal failure");
		r = -EKEYREJECTED;
		goto free;
	}
	for (size_t i = 0; i < n; i++) {
		ret[i].meta = picks[i].meta;
		ret[i].meta.state = STORE_DELIVERED;
		ret[i].meta.changed = now;
		ret[i].meta.delivered_at = now;
		memcpy(ret[i].meta.delivered_to, to, strlen(to) + 1);
		ret[i].key = picks[i].key;
		picks[i].key = NULL;
	}
	return 0;
rollback:
	store_tx_rollback(st);
free:
	for (size_t i = 0; i < n; i++) {
		secret_free(picks[i].key);
		picks[i].key = NULL;
	}
	return r;
}

int store_take(struct store *st, const char *peer, const char *class_name, const char *to,
	       int64_t now, size_t n, struct store_key *ret)
{
	struct pick *picks = NULL;
	sqlite3_stmt *s;
	size_t got = 0;
	int rc, r;

	if (!st || !pool_ok(peer, class_name) || !store_text_ok(to, 1, STORE_WHO_MAX) || n < 1 ||
	    n > STORE_TAKE_MAX || !ret)
		return -EINVAL;
	if (!(picks = calloc(n, sizeof(*picks))))
		return -ENOMEM;
	if ((r = store_tx_begin(st)) < 0)
		goto out;
	if ((r = store_stmt(st, S_TAKE_SELECT, &s)) < 0)
		goto rollback;
	sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, class_name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now);
	sqlite3_bind_int64(s, 4, (int64_t)n);
	while (got < n && (rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((r = pick_from_row(s, &picks[got++])) < 0)
			break;
	if (r == 0 && got < n && rc != SQLITE_DONE)
		r = store_sql_err(st, rc);
	store_stmt_done(s);
	if (r == 0 && got < n)
		r = -ENOKEY;
	if (r < 0)
		goto rollback;
	r = deliver(st, picks, n, to, now, ret);
	goto out;
rollback:
	store_tx_rollback(st);
out:
	if (picks)
		mfs_wipe(picks, n * sizeof(*picks));
	free(picks);
	return r;
}

int store_get_by_id(struct store *st, const char *peer, const char *class_name,
		    const struct store_key_id *id, const char *to, int64_t now,
		    struct store_key *ret)
{
	struct pick pick;
	sqlite3_stmt *s;
	int rc, r;

	if (!st || !pool_ok(peer, class_name) || !id || !store_text_ok(to, 1, STORE_WHO_MAX) || !ret)
		return -EINVAL;
	memset(&pick, 0, sizeof(pick));
	if ((r = store_tx_begin(st)) < 0)
		return r;
	if ((r = store_stmt(st, S_GET_SELECT, &s)) < 0)
		goto rollback;
	sqlite3_bind_blob(s, 1, id->b, STORE_KEY_ID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if ((r = store_meta_from_row(s, &pick.meta)) == 0) {
			const struct store_key_meta *m = &pick.meta;

			if (m->dir != STORE_INBOUND || strcmp(m->peer, peer) != 0 ||
			    strcmp(m->class_name, class_name) != 0)
				r = -ENOKEY;	/* not this caller's: do not tell it apart */
			else if (m->state == STORE_DELIVERED)
				r = -EALREADY;
			else if (m->state == STORE_WITHDRAWN)
				r = -EKEYREVOKED;
			else if (m->state == STORE_EXPIRED || m->state == STORE_DESTROYED ||
				 m->hard_expiry <= now)
				r = -EKEYEXPIRED;
			else
				r = pick_from_row(s, &pick);
		}
	} else {
		r = rc == SQLITE_DONE ? -ENOKEY : store_sql_err(st, rc);
	}
	store_stmt_done(s);
	if (r < 0)
		goto rollback;
	r = deliver(st, &pick, 1, to, now, ret);
	goto out;
rollback:
	store_tx_rollback(st);
out:
	mfs_wipe(&pick, sizeof(pick));
	return r;
}

/* Best effort: the data is durable in the WAL either way. */
static void checkpoint_truncate(struct store *st)
{
	int rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);

	if (rc != SQLITE_OK)
		log_debug("store: checkpoint: %s", sqlite3_errstr(rc));
}

static int exec_now(struct store *st, enum stmt_id id, int64_t now, int *ret_changes)
{
	sqlite3_stmt *s;
	int r;

	if ((r = store_stmt(st, id, &s)) < 0)
		return r;
	sqlite3_bind_int64(s, 1, now);
	if ((r = step_done(st, s)) < 0)
		return r;
	if (ret_changes)
		*ret_changes = sqlite3_changes(st->db);
	return 0;
}

int store_expire(struct store *st, int64_t now)
{
	int n = 0, r;

	if (!st)
		return -EINVAL;
	if ((r = store_tx_begin(st)) < 0)
		return r;
	if ((r = exec_now(st, S_ACTIVATE, now, NULL)) < 0 ||
	    (r = exec_now(st, S_EXPIRE, now, &n)) < 0 ||
	    (r = exec_now(st, S_DESTROY, now, NULL)) < 0 ||
	    (n > 0 && (r = store_audit_insert(st, now, "store", "expire",
					      "hard expiry reached: destroyed", n)) < 0)) {
		store_tx_rollback(st);
		return r;
	}
	if ((r = store_tx_commit(st)) < 0)
		return r;
	if (n > 0)
		checkpoint_truncate(st);
	return n;
}

int store_withdraw_method(struct store *st, uint16_t method, const char *who, const char *reason,
			  int64_t now, struct store_key_id **ret_ids)
{
	char detail[STORE_DETAIL_MAX + 1];
	struct store_key_id *ids = NULL, *tmp;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s;
	const void *b;
	int rc, r = 0;

	if (!st || !store_text_ok(who, 1, STORE_WHO_MAX) ||
	    !store_text_ok(reason, 0, STORE_DETAIL_MAX - 32))
		return -EINVAL;
	snprintf(detail, sizeof(detail), "method 0x%04x: %s", method, reason);
	if ((r = store_tx_begin(st)) < 0)
		return r;
	if ((r = store_stmt(st, S_WITHDRAW, &s)) < 0)
		goto rollback;
	sqlite3_bind_int(s, 1, method);
	sqlite3_bind_int64(s, 2, now);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		b = sqlite3_column_blob(s, 0);
		if (!b || sqlite3_column_bytes(s, 0) != STORE_KEY_ID_LEN) {
			r = -EBADMSG;
			break;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			if (!(tmp = reallocarray(ids, cap, sizeof(*ids)))) {
				r = -ENOMEM;
				break;
			}
			ids = tmp;
		}
		memcpy(ids[n++].b, b, STORE_KEY_ID_LEN);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_sql_err(st, rc);
	store_stmt_done(s);
	if (r < 0 || n > INT32_MAX ||
	    (r = store_audit_insert(st, now, who, "withdraw-method", detail, (int64_t)n)) < 0)
		goto rollback;
	if ((r = store_tx_commit(st)) < 0)
		goto out;
	if (n > 0)
		checkpoint_truncate(st);
	if (ret_ids) {
		*ret_ids = ids;
		ids = NULL;
	}
	r = (int)n;
	goto out;
rollback:
	if (r == 0)
		r = -EOVERFLOW;
	store_tx_rollback(st);
out:
	free(ids);
	return r;
}

int store_withdraw_exchange(struct store *st, const uint8_t *id, size_t id_len, const char *who,
			    const char *reason, int64_t now)
{
	char detail[STORE_DETAIL_MAX + 1];
	size_t off;
	int64_t xid = 0;
	sqlite3_stmt *s;
	int rc, r, n;

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
	if ((r = store_stmt(st, S_XFIND, &s)) < 0)
		goto rollback;
	sqlite3_bind_blob(s, 1, id, (int)id_len, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		xid = sqlite3_column_int64(s, 0);
	else
		r = rc == SQLITE_DONE ? -ENOKEY : store_sql_err(st, rc);
	store_stmt_done(s);
	if (r < 0)
		goto rollback;
	if ((r = store_stmt(st, S_XWITHDRAW, &s)) < 0)
		goto rollback;
	sqlite3_bind_int64(s, 1, xid);
	sqlite3_bind_int64(s, 2, now);
	rc = sqlite3_step(s);
	n = sqlite3_changes(st->db);
	store_stmt_done(s);
	if (rc != SQLITE_DONE) {
		r = store_sql_err(st, rc);
		goto rollback;
	}
	if ((r = store_audit_insert(st, now, who, "withdraw-exchange", detail, n)) < 0)
		goto rollback;
	if ((r = store_tx_commit(st)) < 0)
		return r;
	if (n > 0)
		checkpoint_truncate(st);
	return n;
rollback:
	store_tx_rollback(st);
	return r;
}

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

		if (!b || bl < 1 || bl > STORE_EXCHANGE_ID_MAX) {
			r = -EBADMSG;
			break;
		}
		memset(&x, 0, sizeof(x));
		memcpy(x.id, b, (size_t)bl);
		x.id_len = (size_t)bl;
		x.created = sqlite3_column_int64(s, 1);
		x.n_pool = (size_t)sqlite3_column_int64(s, 2);
		x.n_live = (size_t)sqlite3_column_int64(s, 3);
		if ((r = cb(arg, &x)) != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = store_sql_err(st, rc);
	store_stmt_done(s);
	return r;
}

int store_method_usage(struct store *st, uint16_t method, int64_t now, store_usage_cb cb,
		       void *arg)
{
	char peer[STORE_PEER_MAX + 1] = "", cls[POLICY_NAME_MAX + 1] = "";
	struct store_key_id *ids = NULL, *tmp;
	struct store_usage u;
	size_t n = 0, cap = 0, n_pool = 0;
	int dir = -1, rc, r = 0;
	sqlite3_stmt *s;

	if (!st || !cb)
		return -EINVAL;
	if ((r = store_stmt(st, S_USAGE, &s)) < 0)
		return r;
	sqlite3_bind_int(s, 1, method);
	sqlite3_bind_int64(s, 2, now);
	for (;;) {
		const char *p = NULL, *c = NULL;
		const void *b = NULL;
		int d = -1, state = 0;

		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			p = (const char *)sqlite3_column_text(s, 0);
			c = (const char *)sqlite3_column_text(s, 1);
			d = sqlite3_column_int(s, 2);
			state = sqlite3_column_int(s, 3);
			b = sqlite3_column_blob(s, 4);
			if (!p || !c || !b || sqlite3_column_bytes(s, 4) != STORE_KEY_ID_LEN ||
			    !store_text_ok(p, 1, STORE_PEER_MAX) || !policy_name_valid(c)) {
				r = -EBADMSG;
				break;
			}
		} else if (rc != SQLITE_DONE) {
			r = store_sql_err(st, rc);
			break;
		}
		/* A new group (or the end): report the previous one. */
		if (n > 0 && (rc == SQLITE_DONE || d != dir || strcmp(p, peer) != 0 ||
			      strcmp(c, cls) != 0)) {
			u = (struct store_usage){ .peer = peer, .class_name = cls,
						  .dir = (enum store_direction)dir, .n_pool = n_pool,
						  .n_delivered = n - n_pool, .ids = ids };
			if ((r = cb(arg, &u)) != 0)
				break;
			n = n_pool = 0;
		}
		if (rc == SQLITE_DONE)
			break;
		if (n == 0) {
			memcpy(peer, p, strlen(p) + 1);
			memcpy(cls, c, strlen(c) + 1);
			dir = d;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			if (!(tmp = reallocarray(ids, cap, sizeof(*ids)))) {
				r = -ENOMEM;
				break;
			}
			ids = tmp;
		}
		memcpy(ids[n++].b, b, STORE_KEY_ID_LEN);
		if (state <= STORE_ACTIVE)
			n_pool++;
	}
	store_stmt_done(s);
	free(ids);
	return r;
}

static void bind_filter(sqlite3_stmt *s, const char *peer, const char *class_name,
			enum store_direction dir)
{
	if (peer)
		sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
	if (class_name)
		sqlite3_bind_text(s, 2, class_name, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, dir == STORE_OUTBOUND || dir == STORE_INBOUND ? (int)dir : -1);
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
	bind_filter(s, peer, class_name, dir);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int state = sqlite3_column_int(s, 0);

		if (state < 0 || state >= STORE_STATE_COUNT) {
			r = -EBADMSG;
			break;
		}
		c.state[state] = (uint64_t)sqlite3_column_int64(s, 1);
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
	struct store_key_meta m;
	sqlite3_stmt *s;
	int rc, r = 0;

	if (!st || !cb)
		return -EINVAL;
	if ((r = store_stmt(st, S_LIST, &s)) < 0)
		return r;
	bind_filter(s, f ? f->peer : NULL, f ? f->class_name : NULL, f ? f->dir : STORE_DIR_ANY);
	sqlite3_bind_int(s, 4, f ? (int)(f->state_mask & ((1U << STORE_STATE_COUNT) - 1)) : 0);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((r = store_meta_from_row(s, &m)) < 0 || (r = cb(arg, &m)) != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = store_sql_err(st, rc);
	store_stmt_done(s);
	return r;
}

int store_key_info(struct store *st, const struct store_key_id *id, struct store_key_meta *ret)
{
	struct store_key_meta m;
	sqlite3_stmt *s;
	int rc, r;

	if (!st || !id || !ret)
		return -EINVAL;
	if ((r = store_stmt(st, S_INFO, &s)) < 0)
		return r;
	sqlite3_bind_blob(s, 1, id->b, STORE_KEY_ID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		r = store_meta_from_row(s, &m);
	else
		r = rc == SQLITE_DONE ? -ENOKEY : store_sql_err(st, rc);
	store_stmt_done(s);
	if (r == 0)
		*ret = m;
	return r;
}
