/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key store: round trip, delivered-once, directions, expiry, withdrawal,
 * KEK and file modes, tampering, the append-only audit log, no key bytes
 * in clear on disk, wiping, full disk, and a throughput measurement.
 *
 * Each test gets a fresh mkdtemp() directory with a KEK and a store. The
 * test opens its own SQLite connection to look at and tamper with the file.
 * sqlite3_step is wrapped (-Wl,--wrap) to make one COMMIT fail with
 * SQLITE_FULL, as a full disk would at the fsync point.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/secret.h"
#include "store_test_util.h"

/* --- sqlite3_step wrapper: fail the next COMMIT with SQLITE_FULL --- */
int __real_sqlite3_step(sqlite3_stmt *s);
int __wrap_sqlite3_step(sqlite3_stmt *s);
static int fail_next_commit;

int __wrap_sqlite3_step(sqlite3_stmt *s)
{
	const char *sql = sqlite3_sql(s);

	if (fail_next_commit && sql && strcmp(sql, "COMMIT") == 0) {
		fail_next_commit = 0;
		return SQLITE_FULL;
	}
	return __real_sqlite3_step(s);
}

/* --- fixture --- */
struct t {
	char dir[64];
	char db[128], wal[128], kek_path[128];
	struct secret *kek;
	struct store *st;
	uint32_t seq;
};

static const uint16_t m_a[] = { KEX_ID_MLKEM768, KEX_ID_MCELIECE6688128 };
static const uint16_t m_b[] = { KEX_ID_MLKEM1024, KEX_ID_PSK };
#define NOW 1000000
#define HARD (NOW + 3600)

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	snprintf(t->dir, sizeof(t->dir), "/tmp/mfs-test-store-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->db, sizeof(t->db), "%s/keys.db", t->dir);
	snprintf(t->wal, sizeof(t->wal), "%s/keys.db-wal", t->dir);
	snprintf(t->kek_path, sizeof(t->kek_path), "%s/kek", t->dir);
	assert_int_equal(store_kek_init(t->kek_path), 0);
	assert_int_equal(store_kek_load(t->kek_path, &t->kek), 0);
	assert_int_equal(store_open(t->db, t->kek, &t->st), 0);
	*state = t;
	return 0;
}

static void rm(const char *dir, const char *name)
{
	char p[192];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	unlink(p);
}

static int teardown(void **state)
{
	struct t *t = *state;

	store_close(t->st);
	secret_free(t->kek);
	rm(t->dir, "keys.db");
	rm(t->dir, "keys.db-wal");
	rm(t->dir, "keys.db-shm");
	rm(t->dir, "kek");
	rm(t->dir, "kek2");
	rmdir(t->dir);
	free(t);
	return 0;
}

/*
 * Put one exchange: n_out outbound and n_in inbound keys for (peer, cls),
 * not_before = nb, hard expiry = hard. IDs go to out_ids/in_ids when given.
 */
static int put(struct t *t, const char *peer, const char *cls, const uint16_t *methods,
	       size_t n_methods, size_t n_out, size_t n_in, int64_t nb, int64_t hard,
	       struct store_key_id *out_ids, struct store_key_id *in_ids)
{
	struct store_exchange x;
	struct store_key_in *keys = calloc(n_out + n_in, sizeof(*keys));
	uint8_t (*bytes)[T_KEY_LEN] = calloc(n_out + n_in, T_KEY_LEN);
	int r;

	assert_non_null(keys);
	assert_non_null(bytes);
	t_exchange(&x, peer, cls, ++t->seq, methods, n_methods);
	for (size_t i = 0; i < n_out + n_in; i++) {
		assert_int_equal(store_key_id_random(&keys[i].id), 0);
		t_key_bytes(&keys[i].id, bytes[i]);
		keys[i].dir = i < n_out ? STORE_OUTBOUND : STORE_INBOUND;
		keys[i].key = bytes[i];
		keys[i].key_len = T_KEY_LEN;
		keys[i].not_before = nb;
		keys[i].soft_expiry = nb + (hard - nb) / 2;
		keys[i].hard_expiry = hard;
		if (i < n_out && out_ids)
			out_ids[i] = keys[i].id;
		if (i >= n_out && in_ids)
			in_ids[i - n_out] = keys[i].id;
	}
	r = store_put(t->st, &x, keys, n_out + n_in, NOW);
	free(keys);
	free(bytes);
	return r;
}

static void assert_key_is(const struct store_key *k, const struct store_key_id *id)
{
	uint8_t want[T_KEY_LEN];

	assert_memory_equal(k->meta.id.b, id->b, STORE_KEY_ID_LEN);
	assert_non_null(k->key);
	assert_int_equal(k->key->len, T_KEY_LEN);
	t_key_bytes(id, want);
	assert_memory_equal(k->key->p, want, T_KEY_LEN);
}

static uint64_t count(struct t *t, enum store_key_state s)
{
	struct store_counts c;

	assert_int_equal(store_counts(t->st, NULL, NULL, STORE_DIR_ANY, &c), 0);
	return c.state[s];
}

static sqlite3 *raw_open(struct t *t)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(t->db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* --- tests --- */

static void test_round_trip(void **state)
{
	struct t *t = *state;
	struct store_key_id out[4], in[4];
	struct store_key k[2] = { 0 };
	struct store_key_meta m;

	assert_int_equal(put(t, "peer-a", "gold", m_a, 2, 4, 4, NOW, HARD, out, in), 0);
	assert_int_equal(count(t, STORE_ACTIVE), 8);

	assert_int_equal(store_take(t->st, "peer-a", "gold", "enc-1", NOW, 2, k), 0);
	assert_key_is(&k[0], &out[0]);
	assert_key_is(&k[1], &out[1]);
	assert_int_equal(k[0].meta.state, STORE_DELIVERED);
	assert_string_equal(k[0].meta.delivered_to, "enc-1");
	assert_string_equal(k[0].meta.peer, "peer-a");
	assert_string_equal(k[0].meta.class_name, "gold");
	assert_int_equal(k[0].meta.n_methods, 2);
	assert_int_equal(k[0].meta.methods[0], KEX_ID_MLKEM768);
	assert_int_equal(k[0].meta.methods[1], KEX_ID_MCELIECE6688128);
	assert_int_equal(k[0].meta.dir, STORE_OUTBOUND);
	assert_int_equal(k[0].meta.hard_expiry, HARD);
	store_key_done(&k[0]);
	store_key_done(&k[1]);
	store_key_done(&k[1]);	/* idempotent */

	assert_int_equal(store_get_by_id(t->st, "peer-a", "gold", &in[2], "dec-1", NOW, &k[0]), 0);
	assert_key_is(&k[0], &in[2]);
	assert_int_equal(k[0].meta.dir, STORE_INBOUND);
	store_key_done(&k[0]);

	assert_int_equal(store_key_info(t->st, &out[0], &m), 0);
	assert_int_equal(m.state, STORE_DELIVERED);
	assert_string_equal(m.delivered_to, "enc-1");
	assert_int_equal(m.delivered_at, NOW);
	assert_int_equal(count(t, STORE_DELIVERED), 3);
	assert_int_equal(count(t, STORE_ACTIVE), 5);

	/* the pool survives a reopen (a new sealing epoch) */
	store_close(t->st);
	assert_int_equal(store_open(t->db, t->kek, &t->st), 0);
	assert_int_equal(store_take(t->st, "peer-a", "gold", "enc-1", NOW, 1, k), 0);
	assert_key_is(&k[0], &out[2]);
	store_key_done(&k[0]);
	assert_int_equal(put(t, "peer-a", "gold", m_a, 2, 1, 0, NOW, HARD, NULL, NULL), 0);
	assert_int_equal(store_take(t->st, "peer-a", "gold", "enc-1", NOW, 2, k), 0);
	assert_key_is(&k[0], &out[3]);
	store_key_done(&k[0]);
	store_key_done(&k[1]);
}

static void test_delivered_once(void **state)
{
	struct t *t = *state;
	struct store_key_id out[3], in[2];
	struct store_key k[4] = { 0 };

	assert_int_equal(put(t, "peer-a", "gold", m_a, 2, 3, 2, NOW, HARD, out, in), 0);
	/* all or nothing: 4 asked, 3 there */
	assert_int_equal(store_take(t->st, "peer-a", "gold", "enc", NOW, 4, k), -ENOKEY);
	assert_null(k[0].key);
	assert_int_equal(count(t, STORE_ACTIVE), 5);
	assert_int_equal(store_take(t->st, "peer-a", "gold", "enc", NOW, 3, k), 0);
	for (int i = 0; i < 3; i++) {
		assert_key_is(&k[i], &out[i]);
		store_key_done(&k[i]);
	}
	assert_int_equal(store_take(t->st, "peer-a", "gold", "enc", NOW, 1, k), -ENOKEY);

	assert_int_equal(store_get_by_id(t->st, "peer-a", "gold", &in[0], "dec", NOW, k), 0);
	store_key_done(&k[0]);
	assert_int_equal(store_get_by_id(t->st, "peer-a", "gold", &in[0], "dec", NOW, k), -EALREADY);
	assert_null(k[0].key);
	/* outbound keys are not served by ID, other pools do not see the key */
	assert_int_equal(store_get_by_id(t->st, "peer-a", "gold", &out[0], "dec", NOW, k), -ENOKEY);
	assert_int_equal(store_get_by_id(t->st, "peer-b", "gold", &in[1], "dec", NOW, k), -ENOKEY);
	assert_int_equal(store_get_by_id(t->st, "peer-a", "silver", &in[1], "dec", NOW, k), -ENOKEY);
	struct store_key_id unknown;

	assert_int_equal(store_key_id_random(&unknown), 0);
	assert_int_equal(store_get_by_id(t->st, "peer-a", "gold", &unknown, "dec", NOW, k), -ENOKEY);
	assert_int_equal(count(t, STORE_DELIVERED), 4);
}

static void test_directions_and_pools(void **state)
{
	struct t *t = *state;
	struct store_key_id out[2], in[2], ids[1];
	struct store_key k[1] = { 0 };
	struct store_counts c;

	assert_int_equal(put(t, "peer-a", "gold", m_a, 2, 0, 2, NOW, HARD, NULL, in), 0);
	assert_int_equal(store_take(t->st, "peer-a", "gold", "enc", NOW, 1, k), -ENOKEY);
	assert_int_equal(put(t, "peer-b", "gold", m_a, 2, 2, 0, NOW, HARD, out, NULL), 0);
	assert_int_equal(store_take(t->st, "peer-a", "gold", "enc", NOW, 1, k), -ENOKEY);
	assert_int_equal(store_take(t->st, "peer-b", "silver", "enc", NOW, 1, k), -ENOKEY);
	assert_int_equal(put(t, "peer-b", "silver", m_a, 2, 1, 0, NOW, HARD, ids, NULL), 0);
	assert_int_equal(store_take(t->st, "peer-b", "silver", "enc", NOW, 1, k), 0);
	assert_key_is(&k[0], &ids[0]);
	store_key_done(&k[0]);
	assert_int_equal(store_take(t->st, "peer-b", "gold", "enc", NOW, 1, k), 0);
	assert_key_is(&k[0], &out[0]);
	store_key_done(&k[0]);

	assert_int_equal(store_counts(t->st, "peer-a", NULL, STORE_INBOUND, &c), 0);
	assert_int_equal(c.state[STORE_ACTIVE], 2);
	assert_int_equal(store_counts(t->st, "peer-a", NULL, STORE_OUTBOUND, &c), 0);
	assert_int_equal(c.state[STORE_ACTIVE], 0);
	assert_int_equal(store_counts(t->st, "peer-b", "gold", STORE_DIR_ANY, &c), 0);
	assert_int_equal(c.state[STORE_ACTIVE], 1);
	assert_int_equal(c.state[STORE_DELIVERED], 1);
}

static void test_order_and_pre_activation(void **state)
{
	struct t *t = *state;
	struct store_key_id late[1], early[1], now_ids[1];
	struct store_key k[2] = { 0 };
	struct store_counts c;

	assert_int_equal(put(t, "p", "c", m_a, 2, 1, 0, NOW + 100, HARD, late, NULL), 0);
	assert_int_equal(put(t, "p", "c", m_a, 2, 1, 0, NOW + 50, HARD, early, NULL), 0);
	assert_int_equal(put(t, "p", "c", m_a, 2, 1, 0, NOW, HARD, now_ids, NULL), 0);
	assert_int_equal(count(t, STORE_PRE_ACTIVE), 2);
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), 0);
	assert_key_is(&k[0], &now_ids[0]);
	store_key_done(&k[0]);
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW + 49, 1, k), -ENOKEY);
	assert_int_equal(store_expire(t->st, NOW + 60), 0);	/* activates one */
	assert_int_equal(store_counts(t->st, "p", "c", STORE_OUTBOUND, &c), 0);
	assert_int_equal(c.state[STORE_PRE_ACTIVE], 1);
	assert_int_equal(c.state[STORE_ACTIVE], 1);
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW + 200, 2, k), 0);
	assert_key_is(&k[0], &early[0]);
	assert_key_is(&k[1], &late[0]);
	store_key_done(&k[0]);
	store_key_done(&k[1]);
}

struct blob_copy {
	uint8_t b[128];
	int len;
};

static void read_blob(sqlite3 *db, const struct store_key_id *id, struct blob_copy *ret)
{
	sqlite3_stmt *s;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT blob FROM keys WHERE key_id = ?1", -1, &s,
					    NULL), SQLITE_OK);
	sqlite3_bind_blob(s, 1, id->b, STORE_KEY_ID_LEN, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	ret->len = sqlite3_column_bytes(s, 0);
	assert_true(ret->len > 0 && ret->len <= (int)sizeof(ret->b));
	memcpy(ret->b, sqlite3_column_blob(s, 0), (size_t)ret->len);
	sqlite3_finalize(s);
}

static bool blob_is_null(sqlite3 *db, const struct store_key_id *id)
{
	sqlite3_stmt *s;
	bool null;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT blob IS NULL FROM keys WHERE key_id = ?1",
					    -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_blob(s, 1, id->b, STORE_KEY_ID_LEN, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	null = sqlite3_column_int(s, 0) != 0;
	sqlite3_finalize(s);
	return null;
}

struct audit_find {
	const char *what;
	int64_t n_keys;
	int found;
};

static int audit_cb(void *arg, const struct store_audit_rec *r)
{
	struct audit_find *f = arg;

	if (strcmp(r->what, f->what) == 0) {
		f->n_keys = r->n_keys;
		f->found++;
	}
	return 0;
}

static void test_expiry(void **state)
{
	struct t *t = *state;
	struct store_key_id out[3], in[2];
	struct store_key k[1] = { 0 };
	struct audit_find af = { .what = "expire" };
	struct store_key_meta m;
	sqlite3 *db;

	assert_int_equal(put(t, "p", "c", m_a, 2, 3, 2, NOW, NOW + 100, out, in), 0);
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), 0);
	store_key_done(&k[0]);
	/* past hard expiry: never served, whether or not expire ran */
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW + 100, 1, k), -ENOKEY);
	assert_int_equal(store_get_by_id(t->st, "p", "c", &in[0], "dec", NOW + 100, k), -EKEYEXPIRED);
	/* before it, still served (past soft expiry: continuity) */
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW + 99, 1, k), 0);
	assert_true(k[0].meta.soft_expiry < NOW + 99);
	store_key_done(&k[0]);

	assert_int_equal(store_expire(t->st, NOW + 99), 0);
	assert_int_equal(store_expire(t->st, NOW + 100), 5);	/* 3 pool + 2 delivered */
	assert_int_equal(count(t, STORE_DESTROYED), 5);
	assert_int_equal(count(t, STORE_ACTIVE), 0);
	assert_int_equal(store_key_info(t->st, &out[2], &m), 0);
	assert_int_equal(m.state, STORE_DESTROYED);
	assert_int_equal(m.changed, NOW + 100);
	assert_int_equal(store_get_by_id(t->st, "p", "c", &in[1], "dec", NOW, k), -EKEYEXPIRED);
	db = raw_open(t);
	assert_true(blob_is_null(db, &out[2]));
	assert_true(blob_is_null(db, &in[1]));
	sqlite3_close(db);
	assert_int_equal(store_audit_list(t->st, 0, audit_cb, &af), 0);
	assert_int_equal(af.found, 1);
	assert_int_equal(af.n_keys, 5);
	assert_int_equal(store_expire(t->st, NOW + 200), 0);
}

struct usage_acc {
	size_t groups, pool, delivered;
	struct store_key_id ids[16];
	size_t n_ids;
};

static int usage_cb(void *arg, const struct store_usage *u)
{
	struct usage_acc *a = arg;

	a->groups++;
	a->pool += u->n_pool;
	a->delivered += u->n_delivered;
	for (size_t i = 0; i < u->n_pool + u->n_delivered && a->n_ids < 16; i++)
		a->ids[a->n_ids++] = u->ids[i];
	return 0;
}

static bool id_in(const struct store_key_id *id, const struct store_key_id *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(id->b, set[i].b, STORE_KEY_ID_LEN) == 0)
			return true;
	return false;
}

static void test_withdraw(void **state)
{
	struct t *t = *state;
	struct store_key_id a_out[3], a_in[2], b_out[2], *ids = NULL;
	struct store_key k[1] = { 0 };
	struct usage_acc u = { 0 };
	struct audit_find af = { .what = "withdraw-method" };

	assert_int_equal(put(t, "p", "c", m_a, 2, 3, 2, NOW, HARD, a_out, a_in), 0);
	assert_int_equal(put(t, "p", "c", m_b, 2, 2, 0, NOW, HARD, b_out, NULL), 0);
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), 0);
	assert_key_is(&k[0], &a_out[0]);
	store_key_done(&k[0]);

	assert_int_equal(store_method_usage(t->st, KEX_ID_MLKEM768, NOW, usage_cb, &u), 0);
	assert_int_equal(u.groups, 2);	/* outbound and inbound of (p, c) */
	assert_int_equal(u.pool, 4);
	assert_int_equal(u.delivered, 1);

	assert_int_equal(store_withdraw_method(t->st, KEX_ID_MLKEM768, "admin", "broken", NOW, &ids),
			 4);
	assert_non_null(ids);
	for (int i = 0; i < 4; i++)
		assert_true(id_in(&ids[i], a_out + 1, 2) || id_in(&ids[i], a_in, 2));
	free(ids);
	assert_int_equal(count(t, STORE_WITHDRAWN), 4);
	/* the next take skips the withdrawn keys */
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), 0);
	assert_key_is(&k[0], &b_out[0]);
	store_key_done(&k[0]);
	assert_int_equal(store_get_by_id(t->st, "p", "c", &a_in[0], "dec", NOW, k), -EKEYREVOKED);

	memset(&u, 0, sizeof(u));
	assert_int_equal(store_method_usage(t->st, KEX_ID_MLKEM768, NOW, usage_cb, &u), 0);
	assert_int_equal(u.groups, 1);
	assert_int_equal(u.pool, 0);
	assert_int_equal(u.delivered, 1);
	assert_memory_equal(u.ids[0].b, a_out[0].b, STORE_KEY_ID_LEN);
	memset(&u, 0, sizeof(u));
	assert_int_equal(store_method_usage(t->st, KEX_ID_PSK, NOW, usage_cb, &u), 0);
	assert_int_equal(u.pool, 1);
	assert_int_equal(u.delivered, 1);
	memset(&u, 0, sizeof(u));
	assert_int_equal(store_method_usage(t->st, KEX_ID_X25519, NOW, usage_cb, &u), 0);
	assert_int_equal(u.groups, 0);

	assert_int_equal(store_withdraw_method(t->st, KEX_ID_MLKEM768, "admin", "again", NOW, &ids),
			 0);
	assert_null(ids);
	assert_int_equal(store_audit_list(t->st, 0, audit_cb, &af), 0);
	assert_int_equal(af.found, 2);
	assert_int_equal(af.n_keys, 0);
}

struct xlist {
	struct store_exchange_info x[8];
	size_t n;
};

static int xlist_cb(void *arg, const struct store_exchange_info *x)
{
	struct xlist *l = arg;

	if (l->n < 8)
		l->x[l->n++] = *x;
	return 0;
}

static bool xid_is(const struct store_exchange_info *x, uint32_t seq)
{
	struct store_exchange e;

	t_exchange(&e, "p", "c", seq, m_a, 2);
	return x->id_len == e.id_len && memcmp(x->id, e.id, e.id_len) == 0;
}

/* Withdraw one exchange's pool keys; list the exchanges of a pool. */
static void test_withdraw_exchange(void **state)
{
	struct t *t = *state;
	struct store_key_id a_out[3], a_in[2], b_out[2], b_in[2];
	struct store_key k[1] = { 0 };
	struct audit_find af = { .what = "withdraw-exchange" };
	struct store_exchange x;
	struct xlist l = { 0 };
	sqlite3 *db;

	assert_int_equal(put(t, "p", "c", m_a, 2, 3, 2, NOW, HARD, a_out, a_in), 0);	/* seq 1 */
	assert_int_equal(put(t, "p", "c", m_b, 2, 2, 2, NOW, HARD, b_out, b_in), 0);	/* seq 2 */
	assert_int_equal(put(t, "p", "d", m_a, 2, 1, 1, NOW, HARD, NULL, NULL), 0);	/* seq 3 */
	assert_int_equal(put(t, "q", "c", m_a, 2, 1, 1, NOW, NOW + 10, NULL, NULL), 0); /* seq 4 */

	/* newest first; only (peer, class) */
	assert_int_equal(store_exchanges(t->st, "p", "c", NOW, xlist_cb, &l), 0);
	assert_int_equal(l.n, 2);
	assert_true(xid_is(&l.x[0], 2));
	assert_true(xid_is(&l.x[1], 1));
	assert_int_equal(l.x[1].n_pool, 5);
	assert_int_equal(l.x[1].n_live, 5);
	assert_int_equal(l.x[1].created, NOW);
	/* past hard expiry: not listed */
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_exchanges(t->st, "q", "c", NOW + 10, xlist_cb, &l), 0);
	assert_int_equal(l.n, 0);

	/* one key of exchange 1 handed out each way */
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), 0);
	assert_key_is(&k[0], &a_out[0]);
	store_key_done(&k[0]);
	assert_int_equal(store_get_by_id(t->st, "p", "c", &a_in[0], "dec", NOW, k), 0);
	store_key_done(&k[0]);

	t_exchange(&x, "p", "c", 1, m_a, 2);
	assert_int_equal(store_withdraw_exchange(t->st, x.id, x.id_len, "mfsd", "lost", NOW + 1), 3);
	assert_int_equal(count(t, STORE_WITHDRAWN), 3);
	assert_int_equal(count(t, STORE_DELIVERED), 2);
	db = raw_open(t);
	assert_true(blob_is_null(db, &a_out[1]));
	assert_true(blob_is_null(db, &a_in[1]));
	assert_false(blob_is_null(db, &b_out[0]));
	sqlite3_close(db);
	assert_int_equal(store_get_by_id(t->st, "p", "c", &a_in[1], "dec", NOW, k), -EKEYREVOKED);
	/* the other exchange is untouched and served next */
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), 0);
	assert_key_is(&k[0], &b_out[0]);
	store_key_done(&k[0]);
	/* still listed while delivered keys live, with an empty pool */
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_exchanges(t->st, "p", "c", NOW, xlist_cb, &l), 0);
	assert_int_equal(l.n, 2);
	assert_true(xid_is(&l.x[1], 1));
	assert_int_equal(l.x[1].n_pool, 0);
	assert_int_equal(l.x[1].n_live, 2);

	/* again: nothing left, still audited; unknown exchange: -ENOKEY, not audited */
	assert_int_equal(store_withdraw_exchange(t->st, x.id, x.id_len, "mfsd", "lost", NOW + 2), 0);
	t_exchange(&x, "p", "c", 99, m_a, 2);
	assert_int_equal(store_withdraw_exchange(t->st, x.id, x.id_len, "mfsd", "lost", NOW), -ENOKEY);
	assert_int_equal(store_withdraw_exchange(t->st, x.id, 0, "mfsd", "lost", NOW), -EINVAL);
	assert_int_equal(store_withdraw_exchange(t->st, x.id, x.id_len, "", "lost", NOW), -EINVAL);
	assert_int_equal(store_exchanges(t->st, "p", "c", NOW, NULL, NULL), -EINVAL);
	assert_int_equal(store_audit_list(t->st, 0, audit_cb, &af), 0);
	assert_int_equal(af.found, 2);
	assert_int_equal(af.n_keys, 0);
}

static void test_wrong_kek(void **state)
{
	struct t *t = *state;
	struct secret *other = NULL;
	struct store *st = NULL;
	char p[192];

	store_close(t->st);
	t->st = NULL;
	snprintf(p, sizeof(p), "%s/kek2", t->dir);
	assert_int_equal(store_kek_init(p), 0);
	assert_int_equal(store_kek_load(p, &other), 0);
	assert_int_equal(store_open(t->db, other, &st), -EKEYREJECTED);
	assert_null(st);
	secret_free(other);
	assert_int_equal(store_open(t->db, t->kek, &t->st), 0);
}

static void test_blob_swap(void **state)
{
	struct t *t = *state;
	struct store_key_id out[3];
	struct store_key k[1] = { 0 };
	struct audit_find af = { .what = "unseal-failed" };
	sqlite3 *db;

	assert_int_equal(put(t, "p", "c", m_a, 2, 3, 0, NOW, HARD, out, NULL), 0);
	db = raw_open(t);
	/* swap the blobs of the first two keys (a third row as scratch is not needed) */
	assert_int_equal(sqlite3_exec(db,
		"CREATE TEMP TABLE b AS SELECT kid, blob FROM keys ORDER BY kid LIMIT 2;"
		"UPDATE keys SET blob = (SELECT blob FROM b WHERE b.kid <> keys.kid) "
		"WHERE kid IN (SELECT kid FROM b);", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), -EKEYREJECTED);
	assert_null(k[0].key);
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), -EKEYREJECTED);
	/* the untouched third key is fine */
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), 0);
	assert_key_is(&k[0], &out[2]);
	store_key_done(&k[0]);
	assert_int_equal(count(t, STORE_DELIVERED), 3);
	assert_int_equal(store_audit_list(t->st, 0, audit_cb, &af), 0);
	assert_int_equal(af.found, 2);
}

static void test_file_modes(void **state)
{
	struct t *t = *state;
	struct secret *s = NULL;
	struct store *st = NULL;
	struct stat stt;
	char p[192];
	int fd;

	assert_int_equal(stat(t->db, &stt), 0);
	assert_int_equal(stt.st_mode & 07777, 0600);
	assert_int_equal(stat(t->kek_path, &stt), 0);
	assert_int_equal(stt.st_mode & 07777, 0600);
	assert_int_equal(put(t, "p", "c", m_a, 2, 1, 0, NOW, HARD, NULL, NULL), 0);
	assert_int_equal(stat(t->wal, &stt), 0);
	assert_int_equal(stt.st_mode & 07777, 0600);

	assert_int_equal(store_kek_init(t->kek_path), -EEXIST);
	assert_int_equal(chmod(t->kek_path, 0640), 0);
	assert_int_equal(store_kek_load(t->kek_path, &s), -EPERM);
	assert_int_equal(chmod(t->kek_path, 0604), 0);
	assert_int_equal(store_kek_load(t->kek_path, &s), -EPERM);
	assert_null(s);
	assert_int_equal(chmod(t->kek_path, 0600), 0);

	snprintf(p, sizeof(p), "%s/kek2", t->dir);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "short", 5), 5);
	close(fd);
	assert_int_equal(store_kek_load(p, &s), -EBADMSG);

	store_close(t->st);
	t->st = NULL;
	assert_int_equal(chmod(t->db, 0644), 0);
	assert_int_equal(store_open(t->db, t->kek, &st), -EPERM);
	assert_int_equal(chmod(t->db, 0600), 0);
	assert_int_equal(store_open(t->db, t->kek, &t->st), 0);
}

static void test_audit_append_only(void **state)
{
	struct t *t = *state;
	struct audit_find af = { .what = "operator-note" };
	sqlite3 *db;

	assert_int_equal(store_audit_append(t->st, NOW, "admin", "operator-note", "hello", 0), 0);
	assert_int_equal(store_audit_append(t->st, NOW, "", "x", "", 0), -EINVAL);
	assert_int_equal(store_audit_append(t->st, NOW, "a", "x", "bad\ncontrol", 0), -EINVAL);
	db = raw_open(t);
	assert_int_equal(sqlite3_exec(db, "UPDATE audit SET detail = 'x'", NULL, NULL, NULL),
			 SQLITE_CONSTRAINT);
	assert_int_equal(sqlite3_exec(db, "DELETE FROM audit", NULL, NULL, NULL), SQLITE_CONSTRAINT);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO audit (at, who, what, detail, n_keys) "
				      "VALUES (1, 'x', 'operator-note', '', 0)", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_audit_list(t->st, 0, audit_cb, &af), 0);
	assert_int_equal(af.found, 2);
}

/* No key byte pattern in the database or the WAL, open or closed. */
static void test_no_cleartext(void **state)
{
	struct t *t = *state;
	struct store_key_id out[8];
	struct store_key k[1] = { 0 };
	uint8_t bytes[T_KEY_LEN];

	assert_int_equal(put(t, "p", "c", m_a, 2, 8, 8, NOW, HARD, out, NULL), 0);
	t_key_bytes(&out[0], bytes);
	assert_true(memmem(bytes, sizeof(bytes), "MFS-SENTINEL", 12) != NULL);
	assert_true(t_file_contains(t->wal, out[0].b, STORE_KEY_ID_LEN));	/* the IDs are */
	assert_false(t_file_contains(t->wal, "MFS-SENTINEL", 12));
	assert_false(t_file_contains(t->db, "MFS-SENTINEL", 12));
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), 0);
	store_key_done(&k[0]);
	store_close(t->st);
	t->st = NULL;
	assert_true(t_file_contains(t->db, out[1].b, STORE_KEY_ID_LEN));
	assert_false(t_file_contains(t->db, "MFS-SENTINEL", 12));
	assert_false(t_file_contains(t->wal, "MFS-SENTINEL", 12));
	assert_int_equal(store_open(t->db, t->kek, &t->st), 0);
}

/* Destroyed, withdrawn and delivered keys' sealed blobs are gone from the files. */
static void test_wiped_from_file(void **state)
{
	struct t *t = *state;
	struct store_key_id out[4], w[4];
	struct blob_copy b_out[4], b_w[4];
	struct store_key k[1] = { 0 };
	sqlite3 *db;

	assert_int_equal(put(t, "p", "c", m_a, 2, 4, 0, NOW, NOW + 10, out, NULL), 0);
	assert_int_equal(put(t, "p", "d", m_b, 2, 4, 0, NOW, HARD, w, NULL), 0);
	db = raw_open(t);
	for (int i = 0; i < 4; i++) {
		read_blob(db, &out[i], &b_out[i]);
		read_blob(db, &w[i], &b_w[i]);
	}
	sqlite3_close(db);
	/* checkpoint: the blobs are in the main file now */
	store_close(t->st);
	assert_int_equal(store_open(t->db, t->kek, &t->st), 0);
	assert_true(t_file_contains(t->db, b_out[3].b + 17, 32));
	assert_true(t_file_contains(t->db, b_w[3].b + 17, 32));

	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), 0);
	store_key_done(&k[0]);
	assert_int_equal(store_expire(t->st, NOW + 10), 4);
	assert_int_equal(store_withdraw_method(t->st, KEX_ID_PSK, "admin", "test", NOW, NULL), 4);
	store_close(t->st);
	t->st = NULL;
	for (int i = 0; i < 4; i++) {
		/* nonce and ciphertext of each blob (skipping version and epoch) */
		assert_false(t_file_contains(t->db, b_out[i].b + 17, 32));
		assert_false(t_file_contains(t->wal, b_out[i].b + 17, 32));
		assert_false(t_file_contains(t->db, b_w[i].b + 17, 32));
		assert_false(t_file_contains(t->wal, b_w[i].b + 17, 32));
	}
	assert_int_equal(store_open(t->db, t->kek, &t->st), 0);
}

static void test_enospc(void **state)
{
	struct t *t = *state;
	struct store_key_id out[2];
	struct store_key k[1] = { 0 };
	struct store_exchange x;
	struct store_key_in *keys;
	uint8_t bytes[T_KEY_LEN] = { 0x77 };
	struct store_counts before, after;
	struct stat stt;
	uint32_t seq;
	int r;

	assert_int_equal(put(t, "p", "c", m_a, 2, 2, 0, NOW, HARD, out, NULL), 0);
	store_close(t->st);	/* checkpoint, so the file size is the database size */
	assert_int_equal(store_open(t->db, t->kek, &t->st), 0);
	assert_int_equal(stat(t->db, &stt), 0);
	assert_int_equal(store_set_size_limit(t->st, (uint64_t)stt.st_size + 4096), 0);
	assert_int_equal(store_counts(t->st, NULL, NULL, STORE_DIR_ANY, &before), 0);

	keys = calloc(2000, sizeof(*keys));
	assert_non_null(keys);
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(store_key_id_random(&keys[i].id), 0);
		keys[i].key = bytes;
		keys[i].key_len = sizeof(bytes);
		keys[i].not_before = NOW;
		keys[i].soft_expiry = keys[i].hard_expiry = HARD;
	}
	seq = ++t->seq;
	t_exchange(&x, "p", "c", seq, m_a, 2);
	r = store_put(t->st, &x, keys, 2000, NOW);
	assert_int_equal(r, -ENOSPC);
	assert_int_equal(store_counts(t->st, NULL, NULL, STORE_DIR_ANY, &after), 0);
	assert_memory_equal(&before, &after, sizeof(before));

	/* a full disk at the COMMIT of a take: -ENOSPC, no key, key still there */
	fail_next_commit = 1;
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), -ENOSPC);
	assert_null(k[0].key);
	assert_int_equal(store_counts(t->st, NULL, NULL, STORE_DIR_ANY, &after), 0);
	assert_memory_equal(&before, &after, sizeof(before));
	fail_next_commit = 1;
	assert_int_equal(store_put(t->st, &x, keys, 1, NOW), -ENOSPC);
	assert_int_equal(store_counts(t->st, NULL, NULL, STORE_DIR_ANY, &after), 0);
	assert_memory_equal(&before, &after, sizeof(before));

	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), 0);
	assert_key_is(&k[0], &out[0]);
	store_key_done(&k[0]);
	/* without the limit the same exchange goes in: nothing of it was left behind */
	assert_int_equal(store_set_size_limit(t->st, 0), 0);
	assert_int_equal(store_put(t->st, &x, keys, 2000, NOW), 0);
	assert_int_equal(store_put(t->st, &x, keys, 1, NOW), -EEXIST);
	free(keys);
}

static void test_invalid(void **state)
{
	struct t *t = *state;
	struct store_exchange x;
	struct store_key_in key = { 0 };
	struct store_key k[1] = { 0 };
	uint8_t bytes[T_KEY_LEN] = { 1 };
	uint16_t dup[] = { KEX_ID_PSK, KEX_ID_PSK };

	assert_int_equal(store_key_id_random(&key.id), 0);
	key.key = bytes;
	key.key_len = sizeof(bytes);
	key.not_before = NOW;
	key.soft_expiry = key.hard_expiry = HARD;
	t_exchange(&x, "p", "Bad Class", 1, m_a, 2);
	assert_int_equal(store_put(t->st, &x, &key, 1, NOW), -EINVAL);
	t_exchange(&x, "p", "c", 1, dup, 2);
	assert_int_equal(store_put(t->st, &x, &key, 1, NOW), -EINVAL);
	t_exchange(&x, "", "c", 1, m_a, 2);
	assert_int_equal(store_put(t->st, &x, &key, 1, NOW), -EINVAL);
	t_exchange(&x, "p", "c", 1, m_a, 2);
	key.key_len = 8;
	assert_int_equal(store_put(t->st, &x, &key, 1, NOW), -EINVAL);
	key.key_len = sizeof(bytes);
	key.hard_expiry = NOW - 1;
	assert_int_equal(store_put(t->st, &x, &key, 1, NOW), -EINVAL);
	key.hard_expiry = HARD;
	/* a duplicate key ID in one batch: nothing stored */
	struct store_key_in two[2] = { key, key };

	assert_int_equal(store_put(t->st, &x, two, 2, NOW), -EEXIST);
	assert_int_equal(count(t, STORE_ACTIVE), 0);
	assert_int_equal(store_put(t->st, &x, &key, 1, NOW), 0);
	assert_int_equal(store_take(t->st, "p", "c", "", NOW, 1, k), -EINVAL);
	assert_int_equal(store_take(t->st, "p", "c", "e", NOW, 0, k), -EINVAL);
}

static int list_cb(void *arg, const struct store_key_meta *m)
{
	size_t *n = arg;

	assert_true(m->key_len == T_KEY_LEN);
	(*n)++;
	return *n == 3 ? 42 : 0;
}

static void test_list(void **state)
{
	struct t *t = *state;
	struct store_filter f = { .peer = "p", .dir = STORE_INBOUND };
	struct store_key k[1] = { 0 };
	size_t n = 0;
	char txt[STORE_KEY_ID_STR_LEN + 1];
	struct store_key_id id;

	assert_int_equal(put(t, "p", "c", m_a, 2, 2, 2, NOW, HARD, NULL, NULL), 0);
	assert_int_equal(put(t, "q", "c", m_a, 2, 2, 2, NOW, HARD, NULL, NULL), 0);
	assert_int_equal(store_list(t->st, &f, list_cb, &n), 0);
	assert_int_equal(n, 2);
	n = 0;
	assert_int_equal(store_list(t->st, NULL, list_cb, &n), 42);	/* stopped at 3 */
	assert_int_equal(store_take(t->st, "q", "c", "e", NOW, 1, k), 0);
	store_key_done(&k[0]);
	n = 0;
	f = (struct store_filter){ .dir = STORE_DIR_ANY, .state_mask = 1U << STORE_DELIVERED };
	assert_int_equal(store_list(t->st, &f, list_cb, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_key_id_random(&id), 0);
	store_key_id_format(&id, txt);
	assert_int_equal(strlen(txt), 36);
	assert_int_equal(txt[14], '4');
	assert_true(txt[19] == '8' || txt[19] == '9' || txt[19] == 'a' || txt[19] == 'b');
	assert_string_equal(store_state_name(STORE_WITHDRAWN), "withdrawn");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Not a pass/fail check: prints put and take rates on this machine (synchronous=FULL). */
static void test_throughput(void **state)
{
	struct t *t = *state;
	struct store_key k[1] = { 0 };
	double t0, dt;
	int puts = 0, takes = 0;

	t0 = now_s();
	while ((dt = now_s() - t0) < 1.0) {
		assert_int_equal(put(t, "p", "c", m_a, 2, 32, 32, NOW, HARD, NULL, NULL), 0);
		puts++;
	}
	printf("# store throughput (WAL, synchronous=FULL): %d puts of 64-key batches in %.2f s = "
	       "%.0f batches/s (%.0f keys/s)\n", puts, dt, puts / dt, 64 * puts / dt);
	t0 = now_s();
	while ((dt = now_s() - t0) < 1.0) {
		int r = store_take(t->st, "p", "c", "enc", NOW, 1, k);

		if (r == -ENOKEY) {	/* pool empty: refill outside the measured time */
			double p0 = now_s();

			assert_int_equal(put(t, "p", "c", m_a, 2, 64, 0, NOW, HARD, NULL, NULL), 0);
			t0 += now_s() - p0;
			continue;
		}
		assert_int_equal(r, 0);
		store_key_done(&k[0]);
		takes++;
	}
	printf("# store throughput (WAL, synchronous=FULL): %d takes of 1 key in %.2f s = %.0f "
	       "takes/s (one fsync each)\n", takes, dt, takes / dt);
	t0 = now_s();
	takes = 0;
	while ((dt = now_s() - t0) < 0.5) {
		struct store_key k8[8] = { 0 };
		int r = store_take(t->st, "p", "c", "enc", NOW, 8, k8);

		if (r == -ENOKEY) {
			double p0 = now_s();

			assert_int_equal(put(t, "p", "c", m_a, 2, 64, 0, NOW, HARD, NULL, NULL), 0);
			t0 += now_s() - p0;
			continue;
		}
		assert_int_equal(r, 0);
		for (int i = 0; i < 8; i++)
			store_key_done(&k8[i]);
		takes++;
	}
	printf("# store throughput (WAL, synchronous=FULL): %.0f keys/s taken 8 per take\n",
	       8 * takes / dt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_round_trip),
		T(test_delivered_once),
		T(test_directions_and_pools),
		T(test_order_and_pre_activation),
		T(test_expiry),
		T(test_withdraw),
		T(test_withdraw_exchange),
		T(test_wrong_kek),
		T(test_blob_swap),
		T(test_file_modes),
		T(test_audit_append_only),
		T(test_no_cleartext),
		T(test_wiped_from_file),
		T(test_enospc),
		T(test_invalid),
		T(test_list),
		T(test_throughput),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
