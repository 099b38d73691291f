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
#include "store_fixture.h"
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

/* --- fixture (store_fixture.h) --- */
static const uint16_t m_a[] = { KEX_ID_MLKEM768, KEX_ID_MCELIECE6688128 };
static const uint16_t m_b[] = { KEX_ID_MLKEM1024, KEX_ID_PSK };
#define NOW 1000000
#define HARD (NOW + 3600)

static int setup(void **state)
{
	return t_fixture_setup(state, "/tmp/mfs-test-store-XXXXXX");
}

static int teardown(void **state)
{
	return t_fixture_teardown(state);
}

/*
 * Put one exchange of n keys per direction for (peer, cls), this side the
 * initiator, not_before = nb, hard expiry = hard. IDs go to out_ids/in_ids
 * when given.
 */
static int put(struct t *t, const char *peer, const char *cls, const uint16_t *methods,
	       size_t n_methods, size_t n, int64_t nb, int64_t hard, struct store_key_id *out_ids,
	       struct store_key_id *in_ids)
{
	struct store_pool_in in;
	uint8_t secrets[2 * STORE_POOL_SECRET_LEN];

	t_pool_in(&in, secrets, peer, cls, ++t->seq, methods, n_methods, STORE_ROLE_INITIATOR, n, nb,
		  hard, out_ids, in_ids);
	return store_put(t->st, &in, 1, NOW);
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

/* The per-pool counter agrees with the per-key states, both directions. */
static void assert_depth(struct t *t, const char *peer, const char *cls)
{
	struct store_counts c;
	uint64_t depth;

	for (int d = STORE_OUTBOUND; d <= STORE_INBOUND; d++) {
		assert_int_equal(store_counts(t->st, peer, cls, (enum store_direction)d, &c), 0);
		assert_int_equal(store_pool_depth(t->st, peer, cls, (enum store_direction)d, &depth),
				 0);
		assert_int_equal(depth, c.state[STORE_PRE_ACTIVE] + c.state[STORE_ACTIVE]);
	}
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
	struct store_key_id out[4], in[4], out2[1], id;
	struct store_key k[2] = { 0 };
	struct store_key_meta m;

	assert_int_equal(put(t, "peer-a", "gold", m_a, 2, 4, NOW, HARD, out, in), 0);
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
	assert_depth(t, "peer-a", "gold");

	/* the pool survives a reopen (a new sealing epoch) */
	store_close(t->st);
	assert_int_equal(store_open(t->db, t->kek, &t->st), 0);
	assert_int_equal(store_take(t->st, "peer-a", "gold", "enc-1", NOW, 1, k), 0);
	assert_key_is(&k[0], &out[2]);
	store_key_done(&k[0]);
	assert_int_equal(put(t, "peer-a", "gold", m_a, 2, 1, NOW, HARD, out2, NULL), 0);
	/* one take across two exchanges, oldest first */
	assert_int_equal(store_take(t->st, "peer-a", "gold", "enc-2", NOW + 1, 2, k), 0);
	assert_key_is(&k[0], &out[3]);
	assert_key_is(&k[1], &out2[0]);
	store_key_done(&k[0]);
	store_key_done(&k[1]);
	assert_int_equal(store_key_info(t->st, &out2[0], &m), 0);
	assert_int_equal(m.state, STORE_DELIVERED);
	assert_string_equal(m.delivered_to, "enc-2");
	assert_int_equal(m.delivered_at, NOW + 1);
	assert_int_equal(store_key_info(t->st, &out[1], &m), 0);
	assert_string_equal(m.delivered_to, "enc-1");	/* an earlier take of the same exchange */
	assert_int_equal(store_key_info(t->st, &in[3], &m), 0);
	assert_int_equal(m.state, STORE_ACTIVE);
	assert_int_equal(m.dir, STORE_INBOUND);
	assert_int_equal(m.delivered_at, 0);
	assert_string_equal(m.delivered_to, "");
	/* an ID past the exchange's key count, and one of no exchange */
	pool_key_id(m.exchange_id, 0, 4, id.b);
	assert_int_equal(store_key_info(t->st, &id, &m), -ENOKEY);
	assert_int_equal(store_key_id_random(&id), 0);
	assert_int_equal(store_key_info(t->st, &id, &m), -ENOKEY);
}

static void test_delivered_once(void **state)
{
	struct t *t = *state;
	struct store_key_id out[3], in[3];
	struct store_key k[4] = { 0 };

	assert_int_equal(put(t, "peer-a", "gold", m_a, 2, 3, NOW, HARD, out, in), 0);
	/* all or nothing: 4 asked, 3 there */
	assert_int_equal(store_take(t->st, "peer-a", "gold", "enc", NOW, 4, k), -ENOKEY);
	assert_null(k[0].key);
	assert_int_equal(count(t, STORE_ACTIVE), 6);
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

	struct store_key k2[2] = { 0 };
	uint64_t depth;

	assert_int_equal(put(t, "peer-a", "gold", m_a, 2, 2, NOW, HARD, NULL, in), 0);
	/* drain peer-a's outbound pool: its inbound keys are never taken */
	assert_int_equal(store_take(t->st, "peer-a", "gold", "enc", NOW, 2, k2), 0);
	store_key_done(&k2[0]);
	store_key_done(&k2[1]);
	assert_int_equal(store_take(t->st, "peer-a", "gold", "enc", NOW, 1, k), -ENOKEY);
	assert_int_equal(put(t, "peer-b", "gold", m_a, 2, 2, NOW, HARD, out, NULL), 0);
	assert_int_equal(store_take(t->st, "peer-a", "gold", "enc", NOW, 1, k), -ENOKEY);
	assert_int_equal(store_take(t->st, "peer-b", "silver", "enc", NOW, 1, k), -ENOKEY);
	assert_int_equal(put(t, "peer-b", "silver", m_a, 2, 1, NOW, HARD, ids, NULL), 0);
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
	assert_int_equal(c.state[STORE_DELIVERED], 2);
	assert_int_equal(store_counts(t->st, "peer-b", "gold", STORE_DIR_ANY, &c), 0);
	assert_int_equal(c.state[STORE_ACTIVE], 3);
	assert_int_equal(c.state[STORE_DELIVERED], 1);
	/* the pool depth cf uses: the same as the counts' pre-active + active */
	assert_int_equal(store_pool_depth(t->st, "peer-b", "gold", STORE_OUTBOUND, &depth), 0);
	assert_int_equal(depth, 1);
	assert_int_equal(store_pool_depth(t->st, "peer-b", "gold", STORE_INBOUND, &depth), 0);
	assert_int_equal(depth, 2);
	assert_int_equal(store_pool_depth(t->st, "peer-a", "gold", STORE_OUTBOUND, &depth), 0);
	assert_int_equal(depth, 0);
	assert_int_equal(store_pool_depth(t->st, "peer-a", "gold", STORE_DIR_ANY, &depth), -EINVAL);
}

static void test_order_and_pre_activation(void **state)
{
	struct t *t = *state;
	struct store_key_id late[1], early[1], now_ids[1];
	struct store_key k[2] = { 0 };
	struct store_counts c;

	assert_int_equal(put(t, "p", "c", m_a, 2, 1, NOW + 100, HARD, late, NULL), 0);
	assert_int_equal(put(t, "p", "c", m_a, 2, 1, NOW + 50, HARD, early, NULL), 0);
	assert_int_equal(put(t, "p", "c", m_a, 2, 1, NOW, HARD, now_ids, NULL), 0);
	assert_int_equal(count(t, STORE_PRE_ACTIVE), 4);
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), 0);
	assert_key_is(&k[0], &now_ids[0]);
	store_key_done(&k[0]);
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW + 49, 1, k), -ENOKEY);
	assert_depth(t, "p", "c");
	assert_int_equal(store_expire(t->st, NOW + 60), 0);	/* activates one */
	assert_depth(t, "p", "c");
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
	uint8_t b[1100];	/* a frontier blob: up to 45 + 32 * 32 bytes */
	int len;
};

/* The sealed pool secret that key id's direction dir (this side's) lives in. */
static const char *blob_col(enum store_direction dir)
{
	return dir == STORE_OUTBOUND ? "out_blob" : "in_blob";
}

static sqlite3_stmt *blob_stmt(sqlite3 *db, bool is_null, const struct store_key_id *id,
			       enum store_direction dir)
{
	uint8_t xid[STORE_KEY_ID_LEN];
	unsigned d, i;
	uint64_t tag;
	char sql[128];
	sqlite3_stmt *s;

	assert_int_equal(pool_key_id_parse(id->b, &tag, &d, &i, xid), 0);
	snprintf(sql, sizeof(sql), "SELECT %s%s FROM exchanges WHERE exchange_id = ?1",
		 blob_col(dir), is_null ? " IS NULL" : "");
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_blob(s, 1, xid, STORE_KEY_ID_LEN, SQLITE_TRANSIENT);
	return s;
}

static void read_blob(sqlite3 *db, const struct store_key_id *id, enum store_direction dir,
		      struct blob_copy *ret)
{
	sqlite3_stmt *s = blob_stmt(db, false, id, dir);

	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	ret->len = sqlite3_column_bytes(s, 0);
	assert_true(ret->len > 0 && ret->len <= (int)sizeof(ret->b));
	memcpy(ret->b, sqlite3_column_blob(s, 0), (size_t)ret->len);
	sqlite3_finalize(s);
}

static bool blob_is_null(sqlite3 *db, const struct store_key_id *id, enum store_direction dir)
{
	sqlite3_stmt *s = blob_stmt(db, true, id, dir);
	bool null;

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
	struct store_key_id out[3], in[3];
	struct store_key k[1] = { 0 };
	struct audit_find af = { .what = "expire" };
	struct store_key_meta m;
	sqlite3 *db;

	assert_int_equal(put(t, "p", "c", m_a, 2, 3, NOW, NOW + 100, out, in), 0);
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
	assert_int_equal(store_expire(t->st, NOW + 100), 6);	/* 4 pool + 2 delivered */
	assert_int_equal(count(t, STORE_DESTROYED), 6);
	assert_int_equal(count(t, STORE_ACTIVE), 0);
	assert_depth(t, "p", "c");
	assert_int_equal(store_key_info(t->st, &out[2], &m), 0);
	assert_int_equal(m.state, STORE_DESTROYED);
	assert_int_equal(m.changed, NOW + 100);
	assert_int_equal(store_get_by_id(t->st, "p", "c", &in[1], "dec", NOW, k), -EKEYEXPIRED);
	db = raw_open(t);
	assert_true(blob_is_null(db, &out[2], STORE_OUTBOUND));
	assert_true(blob_is_null(db, &in[1], STORE_INBOUND));
	sqlite3_close(db);
	assert_int_equal(store_audit_list(t->st, 0, audit_cb, &af), 0);
	assert_int_equal(af.found, 1);
	assert_int_equal(af.n_keys, 6);
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
	struct store_key_id a_out[3], a_in[3], b_out[2], *ids = NULL;
	struct store_key k[1] = { 0 };
	struct usage_acc u = { 0 };
	struct audit_find af = { .what = "withdraw-method" };

	assert_int_equal(put(t, "p", "c", m_a, 2, 3, NOW, HARD, a_out, a_in), 0);
	assert_int_equal(put(t, "p", "c", m_b, 2, 2, NOW, HARD, b_out, NULL), 0);
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), 0);
	assert_key_is(&k[0], &a_out[0]);
	store_key_done(&k[0]);

	assert_int_equal(store_method_usage(t->st, KEX_ID_MLKEM768, NOW, usage_cb, &u), 0);
	assert_int_equal(u.groups, 2);	/* outbound and inbound of (p, c) */
	assert_int_equal(u.pool, 5);
	assert_int_equal(u.delivered, 1);

	assert_int_equal(store_withdraw_method(t->st, KEX_ID_MLKEM768, "admin", "broken", NOW, &ids),
			 5);
	assert_non_null(ids);
	for (int i = 0; i < 5; i++)
		assert_true(id_in(&ids[i], a_out + 1, 2) || id_in(&ids[i], a_in, 3));
	free(ids);
	assert_int_equal(count(t, STORE_WITHDRAWN), 5);
	assert_depth(t, "p", "c");
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
	assert_int_equal(u.pool, 3);
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
	struct store_key_id a_out[3], a_in[3], b_out[2], b_in[2];
	struct store_key k[1] = { 0 };
	struct audit_find af = { .what = "withdraw-exchange" };
	struct store_exchange x;
	struct xlist l = { 0 };
	sqlite3 *db;

	assert_int_equal(put(t, "p", "c", m_a, 2, 3, NOW, HARD, a_out, a_in), 0);	/* seq 1 */
	assert_int_equal(put(t, "p", "c", m_b, 2, 2, NOW, HARD, b_out, b_in), 0);	/* seq 2 */
	assert_int_equal(put(t, "p", "d", m_a, 2, 1, NOW, HARD, NULL, NULL), 0);	/* seq 3 */
	assert_int_equal(put(t, "q", "c", m_a, 2, 1, NOW, NOW + 10, NULL, NULL), 0);	/* seq 4 */

	/* newest first; only (peer, class) */
	assert_int_equal(store_exchanges(t->st, "p", "c", NOW, xlist_cb, &l), 0);
	assert_int_equal(l.n, 2);
	assert_true(xid_is(&l.x[0], 2));
	assert_true(xid_is(&l.x[1], 1));
	assert_int_equal(l.x[1].n_pool, 6);
	assert_int_equal(l.x[1].n_live, 6);
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
	assert_int_equal(store_withdraw_exchange(t->st, x.id, x.id_len, "mfsd", "lost", NOW + 1), 4);
	assert_int_equal(count(t, STORE_WITHDRAWN), 4);
	assert_int_equal(count(t, STORE_DELIVERED), 2);
	assert_depth(t, "p", "c");
	db = raw_open(t);
	assert_true(blob_is_null(db, &a_out[1], STORE_OUTBOUND));
	assert_true(blob_is_null(db, &a_in[1], STORE_INBOUND));
	assert_false(blob_is_null(db, &b_out[0], STORE_OUTBOUND));
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
	struct store_key_id out[2], out2[1];
	struct store_key k[1] = { 0 };
	struct audit_find af = { .what = "unseal-failed" };
	sqlite3 *db;

	assert_int_equal(put(t, "p", "c", m_a, 2, 2, NOW, HARD, out, NULL), 0);
	assert_int_equal(put(t, "p", "c", m_a, 2, 1, NOW, HARD, out2, NULL), 0);
	db = raw_open(t);
	/* swap the two directions' sealed pool secrets of the first exchange */
	assert_int_equal(sqlite3_exec(db,
		"UPDATE exchanges SET out_blob = in_blob, in_blob = out_blob "
		"WHERE xid = (SELECT min(xid) FROM exchanges);", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), -EKEYREJECTED);
	assert_null(k[0].key);
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), -EKEYREJECTED);
	/* the untouched exchange is fine */
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), 0);
	assert_key_is(&k[0], &out2[0]);
	store_key_done(&k[0]);
	assert_int_equal(count(t, STORE_DELIVERED), 3);
	assert_int_equal(store_audit_list(t->st, 0, audit_cb, &af), 0);
	assert_int_equal(af.found, 2);
	assert_depth(t, "p", "c");
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
	assert_int_equal(put(t, "p", "c", m_a, 2, 1, NOW, HARD, NULL, NULL), 0);
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

/* No pool secret or key bytes in the database or the WAL, open or closed. */
static void test_no_cleartext(void **state)
{
	struct t *t = *state;
	struct store_key_id out[8];
	struct store_key k[2] = { 0 };
	uint8_t bytes[T_KEY_LEN], secrets[2 * STORE_POOL_SECRET_LEN];

	assert_int_equal(put(t, "p", "c", m_a, 2, 8, NOW, HARD, out, NULL), 0);
	t_pool_secrets(out[0].b, secrets);	/* out[0] is the exchange ID */
	assert_true(memmem(secrets, sizeof(secrets), "MFS-SENTINEL", 12) != NULL);
	t_key_bytes(&out[1], bytes);
	assert_true(t_file_contains(t->wal, out[0].b, STORE_KEY_ID_LEN));	/* the ID is */
	assert_false(t_file_contains(t->wal, "MFS-SENTINEL", 12));
	assert_false(t_file_contains(t->db, "MFS-SENTINEL", 12));
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 2, k), 0);
	store_key_done(&k[0]);
	store_key_done(&k[1]);
	assert_false(t_file_contains(t->wal, bytes, 16));
	store_close(t->st);
	t->st = NULL;
	assert_true(t_file_contains(t->db, out[0].b, STORE_KEY_ID_LEN));
	assert_false(t_file_contains(t->db, "MFS-SENTINEL", 12));
	assert_false(t_file_contains(t->wal, "MFS-SENTINEL", 12));
	assert_false(t_file_contains(t->db, bytes, 16));
	assert_int_equal(store_open(t->db, t->kek, &t->st), 0);
}

/* Destroyed, withdrawn and fully delivered pool secrets' sealed blobs are gone from the files. */
static void test_wiped_from_file(void **state)
{
	struct t *t = *state;
	struct store_key_id out[4], w[4], d[1];
	struct blob_copy b[6];
	struct store_key k[1] = { 0 };
	sqlite3 *db;

	assert_int_equal(put(t, "p", "c", m_a, 2, 4, NOW, NOW + 10, out, NULL), 0);
	assert_int_equal(put(t, "p", "d", m_b, 2, 4, NOW, HARD, w, NULL), 0);
	assert_int_equal(put(t, "p", "e", m_a, 2, 1, NOW, HARD, d, NULL), 0);
	db = raw_open(t);
	read_blob(db, &out[0], STORE_OUTBOUND, &b[0]);
	read_blob(db, &out[0], STORE_INBOUND, &b[1]);
	read_blob(db, &w[0], STORE_OUTBOUND, &b[2]);
	read_blob(db, &w[0], STORE_INBOUND, &b[3]);
	read_blob(db, &d[0], STORE_OUTBOUND, &b[4]);
	read_blob(db, &d[0], STORE_INBOUND, &b[5]);
	sqlite3_close(db);
	/* checkpoint: the blobs are in the main file now */
	store_close(t->st);
	assert_int_equal(store_open(t->db, t->kek, &t->st), 0);
	for (int i = 0; i < 6; i++)
		assert_true(t_file_contains(t->db, b[i].b + 17, 32));

	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), 0);
	store_key_done(&k[0]);
	/* the last outbound key of (p, e): its direction's secret goes at once */
	assert_int_equal(store_take(t->st, "p", "e", "enc", NOW, 1, k), 0);
	store_key_done(&k[0]);
	assert_int_equal(store_expire(t->st, NOW + 10), 8);
	assert_int_equal(store_withdraw_method(t->st, KEX_ID_PSK, "admin", "test", NOW, NULL), 8);
	store_close(t->st);
	t->st = NULL;
	for (int i = 0; i < 6; i++) {
		if (i == 5)
			continue;	/* (p, e) inbound: still in the pool */
		/* nonce and ciphertext of each blob (skipping version and epoch) */
		assert_false(t_file_contains(t->db, b[i].b + 17, 32));
		assert_false(t_file_contains(t->wal, b[i].b + 17, 32));
	}
	assert_true(t_file_contains(t->db, b[5].b + 17, 32));
	assert_int_equal(store_open(t->db, t->kek, &t->st), 0);
}

/*
 * A delivery rewrites the frontier; the page image with the frontier from
 * before it, which could still derive the delivered key, stays in the main
 * file (and the WAL) until a checkpoint. The once-a-second store_expire()
 * checkpoints after deliveries, so it is gone from both files then.
 */
static void test_delivery_checkpointed(void **state)
{
	struct t *t = *state;
	struct store_key_id out[4];
	struct store_key k[1] = { 0 };
	struct blob_copy b;
	sqlite3 *db;

	assert_int_equal(put(t, "p", "c", m_a, 2, 4, NOW, HARD, out, NULL), 0);
	store_close(t->st);	/* checkpoint: the frontier is in the main file */
	assert_int_equal(store_open(t->db, t->kek, &t->st), 0);
	db = raw_open(t);
	read_blob(db, &out[0], STORE_OUTBOUND, &b);
	sqlite3_close(db);
	assert_true(t_file_contains(t->db, b.b + 17, 32));
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), 0);
	store_key_done(&k[0]);
	/* the new page image is only in the WAL: the old frontier is still on disk */
	assert_true(t_file_contains(t->db, b.b + 17, 32));
	assert_int_equal(store_expire(t->st, NOW), 0);
	assert_false(t_file_contains(t->db, b.b + 17, 32));
	assert_false(t_file_contains(t->wal, b.b + 17, 32));
}

static void test_enospc(void **state)
{
	struct t *t = *state;
	struct store_key_id out[2];
	struct store_key k[1] = { 0 };
	struct store_pool_in *in;
	uint8_t (*secrets)[2 * STORE_POOL_SECRET_LEN];
	struct store_counts before, after;
	struct stat stt;
	int r;

	assert_int_equal(put(t, "p", "c", m_a, 2, 2, NOW, HARD, out, NULL), 0);
	store_close(t->st);	/* checkpoint, so the file size is the database size */
	assert_int_equal(store_open(t->db, t->kek, &t->st), 0);
	assert_int_equal(stat(t->db, &stt), 0);
	assert_int_equal(store_set_size_limit(t->st, (uint64_t)stt.st_size + 4096), 0);
	assert_int_equal(store_counts(t->st, NULL, NULL, STORE_DIR_ANY, &before), 0);

	in = calloc(STORE_PUT_MAX, sizeof(*in));
	secrets = calloc(STORE_PUT_MAX, sizeof(*secrets));
	assert_non_null(in);
	assert_non_null(secrets);
	for (int i = 0; i < STORE_PUT_MAX; i++)
		t_pool_in(&in[i], secrets[i], "p", "c", ++t->seq, m_a, 2, STORE_ROLE_INITIATOR, 64,
			  NOW, HARD, NULL, NULL);
	r = store_put(t->st, in, STORE_PUT_MAX, NOW);
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
	assert_int_equal(store_put(t->st, in, 1, NOW), -ENOSPC);
	assert_int_equal(store_counts(t->st, NULL, NULL, STORE_DIR_ANY, &after), 0);
	assert_memory_equal(&before, &after, sizeof(before));

	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, k), 0);
	assert_key_is(&k[0], &out[0]);
	store_key_done(&k[0]);
	/* without the limit the same exchanges go in: nothing of them was left behind */
	assert_int_equal(store_set_size_limit(t->st, 0), 0);
	assert_int_equal(store_put(t->st, in, STORE_PUT_MAX, NOW), 0);
	assert_int_equal(store_put(t->st, in, 1, NOW), -EEXIST);
	free(in);
	free(secrets);
}

static void test_invalid(void **state)
{
	struct t *t = *state;
	struct store_pool_in in, two[2];
	struct store_key k[1] = { 0 };
	uint8_t secrets[2 * STORE_POOL_SECRET_LEN];
	uint16_t dup[] = { KEX_ID_PSK, KEX_ID_PSK };

#define IN(peer, cls, methods) \
	t_pool_in(&in, secrets, peer, cls, 1, methods, 2, STORE_ROLE_INITIATOR, 4, NOW, HARD, NULL, NULL)
	IN("p", "Bad Class", m_a);
	assert_int_equal(store_put(t->st, &in, 1, NOW), -EINVAL);
	IN("p", "c", dup);
	assert_int_equal(store_put(t->st, &in, 1, NOW), -EINVAL);
	IN("", "c", m_a);
	assert_int_equal(store_put(t->st, &in, 1, NOW), -EINVAL);
	IN("p", "c", m_a);
	in.key_len = 8;
	assert_int_equal(store_put(t->st, &in, 1, NOW), -EINVAL);
	IN("p", "c", m_a);
	in.hard_expiry = NOW - 1;
	assert_int_equal(store_put(t->st, &in, 1, NOW), -EINVAL);
	IN("p", "c", m_a);
	in.n_keys = 0;
	assert_int_equal(store_put(t->st, &in, 1, NOW), -EINVAL);
	in.n_keys = STORE_POOL_KEYS_MAX + 1;
	assert_int_equal(store_put(t->st, &in, 1, NOW), -EINVAL);
	IN("p", "c", m_a);
	in.role = 2;
	assert_int_equal(store_put(t->st, &in, 1, NOW), -EINVAL);
	IN("p", "c", m_a);
	in.x.id[9] = 1;		/* not an exchange ID: the ID of key (0, 1) */
	assert_int_equal(store_put(t->st, &in, 1, NOW), -EINVAL);
	IN("p", "c", m_a);
	in.x.id_len = 8;
	assert_int_equal(store_put(t->st, &in, 1, NOW), -EINVAL);
	assert_int_equal(store_put(t->st, &in, 0, NOW), -EINVAL);
	/* a duplicate exchange ID in one batch: nothing stored */
	IN("p", "c", m_a);
	two[0] = two[1] = in;
	assert_int_equal(store_put(t->st, two, 2, NOW), -EEXIST);
	assert_int_equal(count(t, STORE_ACTIVE), 0);
	assert_int_equal(store_put(t->st, &in, 1, NOW), 0);
	assert_int_equal(count(t, STORE_ACTIVE), 8);
	assert_int_equal(store_take(t->st, "p", "c", "", NOW, 1, k), -EINVAL);
	assert_int_equal(store_take(t->st, "p", "c", "e", NOW, 0, k), -EINVAL);
#undef IN
}

/*
 * Both sides hold the same keys under the same IDs: the initiator's outbound
 * keys are the responder's inbound ones and the reverse, with no key ID
 * ever sent (protocol.md §7). Two stores, one per role, one pool secret.
 */
static void test_both_sides(void **state)
{
	struct t *t = *state;
	struct store_pool_in ii, ir;
	uint8_t si[2 * STORE_POOL_SECRET_LEN], sr[2 * STORE_POOL_SECRET_LEN];
	struct store_key_id i_out[4], i_in[4], r_out[4], r_in[4];
	struct store_key ki[4] = { 0 }, kr = { 0 };
	struct store *resp = NULL;
	char db2[160];

	snprintf(db2, sizeof(db2), "%s/resp.db", t->dir);
	assert_int_equal(store_open(db2, t->kek, &resp), 0);
	t_pool_in(&ii, si, "node-r", "c", 7, m_a, 2, STORE_ROLE_INITIATOR, 4, NOW, HARD, i_out, i_in);
	t_pool_in(&ir, sr, "node-i", "c", 7, m_a, 2, STORE_ROLE_RESPONDER, 4, NOW, HARD, r_out, r_in);
	assert_memory_equal(i_out, r_in, sizeof(i_out));
	assert_memory_equal(i_in, r_out, sizeof(i_in));
	assert_memory_equal(i_out[0].b, ii.x.id, STORE_KEY_ID_LEN);	/* the exchange ID */
	assert_int_equal(store_put(t->st, &ii, 1, NOW), 0);
	assert_int_equal(store_put(resp, &ir, 1, NOW), 0);

	/* initiator sends with 4 keys; the responder's encryptor fetches each by ID */
	assert_int_equal(store_take(t->st, "node-r", "c", "enc", NOW, 4, ki), 0);
	for (int i = 3; i >= 0; i--) {	/* in any order */
		assert_memory_equal(ki[i].meta.id.b, i_out[i].b, STORE_KEY_ID_LEN);
		assert_int_equal(store_get_by_id(resp, "node-i", "c", &ki[i].meta.id, "dec", NOW, &kr),
				 0);
		assert_int_equal(kr.key->len, ki[i].key->len);
		assert_true(mfs_ct_eq(kr.key->p, ki[i].key->p, T_KEY_LEN));
		assert_key_is(&kr, &ki[i].meta.id);
		store_key_done(&kr);
		store_key_done(&ki[i]);
	}
	/* and the reverse direction */
	assert_int_equal(store_take(resp, "node-i", "c", "enc", NOW, 1, ki), 0);
	assert_memory_equal(ki[0].meta.id.b, i_in[0].b, STORE_KEY_ID_LEN);
	assert_int_equal(store_get_by_id(t->st, "node-r", "c", &i_in[0], "dec", NOW, &kr), 0);
	assert_true(mfs_ct_eq(kr.key->p, ki[0].key->p, T_KEY_LEN));
	store_key_done(&kr);
	store_key_done(&ki[0]);
	store_close(resp);
	t_fixture_rm(t->dir, "resp.db");
	t_fixture_rm(t->dir, "resp.db-wal");
	t_fixture_rm(t->dir, "resp.db-shm");
}

/* Two exchanges whose IDs share the tag (bytes 0..7): lookups check the whole ID. */
static void test_tag_collision(void **state)
{
	struct t *t = *state;
	struct store_pool_in a, b;
	uint8_t sa[2 * STORE_POOL_SECRET_LEN], sb[2 * STORE_POOL_SECRET_LEN];
	struct store_key_id a_in[2], b_in[2], other;
	struct store_key k = { 0 };
	struct store_key_meta m;

	t_pool_in(&a, sa, "p", "c", 5, m_a, 2, STORE_ROLE_INITIATOR, 2, NOW, HARD, NULL, a_in);
	t_pool_in(&b, sb, "p", "c", 5, m_b, 2, STORE_ROLE_INITIATOR, 2, NOW, HARD, NULL, NULL);
	b.x.id[15] ^= 0x01;	/* same tag, another exchange */
	t_pool_secrets(b.x.id, sb);
	for (unsigned i = 0; i < 2; i++)
		pool_key_id(b.x.id, 1, i, b_in[i].b);
	assert_true(pool_tag(a.x.id) == pool_tag(b.x.id));
	assert_int_equal(store_put(t->st, &a, 1, NOW), 0);
	assert_int_equal(store_put(t->st, &b, 1, NOW), 0);
	assert_int_equal(store_get_by_id(t->st, "p", "c", &b_in[1], "dec", NOW, &k), 0);
	assert_key_is(&k, &b_in[1]);
	assert_int_equal(k.meta.methods[0], m_b[0]);
	store_key_done(&k);
	assert_int_equal(store_key_info(t->st, &a_in[1], &m), 0);
	assert_int_equal(m.state, STORE_ACTIVE);
	assert_int_equal(m.methods[0], m_a[0]);
	other = b_in[1];
	other.b[12] ^= 0x80;	/* tag of both, exchange of neither */
	assert_int_equal(store_key_info(t->st, &other, &m), -ENOKEY);
	assert_int_equal(store_get_by_id(t->st, "p", "c", &other, "dec", NOW, &k), -ENOKEY);
}

/* Schema 1 (a row per key) and 2 (flat pool secrets) are refused with a distinct error, untouched. */
static void test_old_schema(void **state)
{
	struct t *t = *state;
	struct store *st = NULL;
	sqlite3 *db;

	store_close(t->st);
	t->st = NULL;
	for (int v = 1; v <= 2; v++) {
		char sql[96];

		snprintf(sql, sizeof(sql), "UPDATE meta SET value = %d WHERE name = 'schema_version'", v);
		db = raw_open(t);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		assert_int_equal(store_open(t->db, t->kek, &st), -EMEDIUMTYPE);
		assert_null(st);
	}
	db = raw_open(t);
	assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value = 4 WHERE name = 'schema_version'",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(t->db, t->kek, &st), -EOPNOTSUPP);
	db = raw_open(t);
	assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value = 3 WHERE name = 'schema_version'",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(t->db, t->kek, &t->st), 0);
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

	assert_int_equal(put(t, "p", "c", m_a, 2, 2, NOW, HARD, NULL, NULL), 0);
	assert_int_equal(put(t, "q", "c", m_a, 2, 2, NOW, HARD, NULL, NULL), 0);
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
		assert_int_equal(put(t, "p", "c", m_a, 2, 32, NOW, HARD, NULL, NULL), 0);
		puts++;
	}
	printf("# store throughput (WAL, synchronous=FULL): %d puts of one exchange (2 x 32 keys) "
	       "in %.2f s = %.0f puts/s (%.0f keys/s)\n", puts, dt, puts / dt, 64 * puts / dt);
	t0 = now_s();
	while ((dt = now_s() - t0) < 1.0) {
		int r = store_take(t->st, "p", "c", "enc", NOW, 1, k);

		if (r == -ENOKEY) {	/* pool empty: refill outside the measured time */
			double p0 = now_s();

			assert_int_equal(put(t, "p", "c", m_a, 2, 64, NOW, HARD, NULL, NULL), 0);
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

			assert_int_equal(put(t, "p", "c", m_a, 2, 64, NOW, HARD, NULL, NULL), 0);
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
		T(test_delivery_checkpointed),
		T(test_enospc),
		T(test_invalid),
		T(test_list),
		T(test_both_sides),
		T(test_tag_collision),
		T(test_old_schema),
		T(test_throughput),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
