/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forward secrecy of delivered keys: after key i of a direction is handed
 * out, what the store keeps (the sealed frontier, opened here with the
 * store's own unseal helper on a row read straight from the database)
 * cannot derive key i any more, and still derives every other key. Also the
 * frontier size bounds, random-order puncturing against a reference over
 * all 64 leaves, the old blob leaving the file, and store_get_by_ids().
 */
#include <errno.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/secret.h"
#include "store/store_internal.h"
#include "store_fixture.h"
#include "store_test_util.h"

static const uint16_t m_a[] = { KEX_ID_MLKEM768, KEX_ID_MCELIECE6688128 };
#define NOW 1000000
#define HARD (NOW + 3600)

static int setup(void **state)
{
	return t_fixture_setup(state, "/tmp/mfs-test-storefs-XXXXXX");
}

static int teardown(void **state)
{
	return t_fixture_teardown(state);
}

/* Deterministic test permutations (xorshift64; rand() is banned). */
static uint64_t xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Shuffle a[0..n) in place. */
static void shuffle(uint8_t *a, unsigned n, uint64_t seed)
{
	for (unsigned i = n - 1; i > 0; i--) {
		unsigned j = (unsigned)(xs(&seed) % (i + 1));
		uint8_t x = a[i];

		a[i] = a[j];
		a[j] = x;
	}
}

/* node(depth, index) of the tree of root, computed from the root (the reference walk). */
static void ref_node(const uint8_t *root, unsigned d, unsigned depth, unsigned index,
		     uint8_t out[static POOL_NODE_LEN])
{
	uint8_t n[POOL_NODE_LEN];

	memcpy(n, root, POOL_NODE_LEN);
	for (unsigned k = 0; k < depth; k++) {
		unsigned j = index >> (depth - k), b = (index >> (depth - k - 1)) & 1;

		assert_int_equal(pool_node_child(n, d, k, j, b, out), 0);
		memcpy(n, out, POOL_NODE_LEN);
	}
	memcpy(out, n, POOL_NODE_LEN);
}

/* ---- the tree alone (src/proto/pool.c) ---- */

/* Independent vectors: tests/vectors/pool/pool_tree_v3.py (Python hmac/hashlib). */
static void test_tree_vectors(void **state)
{
	static const struct {
		unsigned d, i, len;
		uint8_t key[32];
	} v[] = {
		{ 0, 0, 32, { 0x3c, 0xd2, 0x46, 0x37, 0xf6, 0xcd, 0x6f, 0x94, 0xd5, 0x2c, 0xc8,
			      0x8b, 0x90, 0x76, 0xda, 0x2f, 0xa5, 0xcc, 0xab, 0x95, 0x3b, 0xb7,
			      0x12, 0xe1, 0x0d, 0x88, 0xac, 0x07, 0x92, 0xb6, 0x1e, 0xa2 } },
		{ 0, 37, 32, { 0x6a, 0x8f, 0x5e, 0x4e, 0x32, 0xf9, 0x21, 0x62, 0x83, 0x04, 0x2d,
			       0x18, 0x9d, 0xf2, 0xfb, 0xca, 0x59, 0x98, 0x2c, 0xbb, 0x46, 0x29,
			       0xc5, 0x75, 0x81, 0xd5, 0x1a, 0x41, 0x4f, 0xf8, 0xf1, 0xb3 } },
		{ 1, 63, 32, { 0x05, 0xd3, 0xec, 0xfa, 0x5d, 0x4d, 0xf3, 0xd1, 0xd4, 0xed, 0x67,
			       0xad, 0xb7, 0xaa, 0xd4, 0xd7, 0xcc, 0xcd, 0x26, 0x19, 0xc0, 0x5f,
			       0x38, 0x3b, 0x2e, 0x54, 0xea, 0xdd, 0xc9, 0xc6, 0xea, 0xeb } },
		{ 1, 5, 16, { 0xec, 0x46, 0x4d, 0x13, 0xbf, 0x6a, 0xe4, 0x4b, 0x3e, 0x6d, 0x71,
			      0x5a, 0x12, 0x6c, 0xc2, 0x63 } },
	};
	uint8_t root[POOL_SECRET_LEN], k[POOL_KEY_MAX_LEN];

	(void)state;
	memset(root, 0x17, sizeof(root));
	for (size_t n = 0; n < sizeof(v) / sizeof(v[0]); n++) {
		assert_int_equal(pool_key_derive(root, v[n].d, v[n].i, v[n].len, k), 0);
		assert_memory_equal(k, v[n].key, v[n].len);
	}
}

/* Every seed of the frontier of u is the reference node, and the nodes cover exactly u. */
static void assert_frontier(const uint8_t *root, unsigned d, uint64_t u, const uint8_t *seeds,
			    size_t n)
{
	struct pool_node nodes[POOL_FRONTIER_MAX];
	uint8_t want[POOL_NODE_LEN];
	uint64_t cover = 0;

	assert_int_equal(pool_frontier_nodes(u, nodes), n);
	for (size_t m = 0; m < n; m++) {
		unsigned sh = POOL_TREE_DEPTH - nodes[m].depth;
		uint64_t blk = sh == 6 ? ~0ULL : ((1ULL << (1u << sh)) - 1) << (nodes[m].index << sh);

		assert_true((cover & blk) == 0);
		cover |= blk;
		ref_node(root, d, nodes[m].depth, nodes[m].index, want);
		assert_memory_equal(seeds + m * POOL_NODE_LEN, want, POOL_NODE_LEN);
	}
	assert_true(cover == u);
}

static void test_tree_puncture_orders(void **state)
{
	uint8_t root[POOL_SECRET_LEN], order[POOL_KEYS_MAX], leaf[POOL_NODE_LEN];
	uint8_t k[32], want[32];
	struct secret *seeds = secret_alloc(POOL_FRONTIER_MAX * POOL_NODE_LEN);
	struct pool_node nodes[POOL_FRONTIER_MAX];
	size_t worst = 0;

	(void)state;
	assert_non_null(seeds);
	for (unsigned d = 0; d < 2; d++)
		for (unsigned perm = 0; perm < 40; perm++) {
			uint64_t u = ~0ULL;

			memset(root, (int)(0x30 + perm), sizeof(root));
			if (perm == 0)
				for (unsigned i = 0; i < POOL_KEYS_MAX; i++)
					order[i] = (uint8_t)i;	/* sequential (take) */
			else if (perm == 1)
				for (unsigned i = 0; i < POOL_KEYS_MAX; i++)	/* evens first: worst case */
					order[i] = (uint8_t)(i < 32 ? 2 * i : 2 * (i - 32) + 1);
			else {
				for (unsigned i = 0; i < POOL_KEYS_MAX; i++)
					order[i] = (uint8_t)i;
				shuffle(order, POOL_KEYS_MAX, 0x9e3779b97f4a7c15ULL * perm + d);
			}
			memcpy(seeds->p, root, POOL_NODE_LEN);
			for (unsigned s = 0; s < POOL_KEYS_MAX; s++) {
				unsigned i = order[s];
				size_t n;

				assert_int_equal(pool_frontier_puncture(d, &u, seeds->p, i, leaf), 0);
				assert_int_equal(pool_leaf_key(leaf, d, i, 32, k), 0);
				assert_int_equal(pool_key_derive(root, d, i, 32, want), 0);
				assert_memory_equal(k, want, 32);
				/* a punctured leaf cannot be punctured again */
				assert_int_equal(pool_frontier_puncture(d, &u, seeds->p, i, leaf),
						 -EINVAL);
				n = pool_frontier_nodes(u, nodes);
				if (perm == 0)
					assert_true(n <= 6);
				assert_true(n <= POOL_FRONTIER_MAX);
				if (n > worst)
					worst = n;
				assert_frontier(root, d, u, seeds->p, n);
			}
			assert_true(u == 0);
		}
	assert_int_equal(worst, POOL_FRONTIER_MAX);	/* reached by the evens-first order */
	/* sequential bound: [k, 64) takes popcount(64 - k) <= 6 nodes */
	for (unsigned f = 0; f < POOL_KEYS_MAX; f++)
		assert_int_equal(pool_frontier_nodes(~0ULL << f, nodes),
				 (size_t)__builtin_popcount(64 - f));
	secret_free(seeds);
}

/* ---- the store ---- */

/* Read the row of exchange xid straight from the file. */
static void raw_row(struct t *t, const uint8_t *xid, struct xrow *x)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s;

	assert_int_equal(sqlite3_open_v2(t->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT " X_COLUMNS
					    "FROM exchanges WHERE exchange_id = ?1",
					    -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_blob(s, 1, xid, STORE_KEY_ID_LEN, SQLITE_TRANSIENT);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(store_xrow_from_row(s, x), 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
}

/*
 * Open direction dir's stored frontier through the store's unseal helper,
 * derive every key its seeds can reach, and check: no delivered key among
 * them, every undelivered key of the exchange among them. Returns the
 * number of seeds.
 */
static size_t check_stored(struct t *t, const uint8_t *xid, enum store_direction dir,
			   const uint8_t delivered[][T_KEY_LEN], size_t n_delivered,
			   const struct store_key_id *ids, unsigned n_keys)
{
	struct xrow *x = calloc(1, sizeof(*x));
	struct secret *w = secret_alloc(POOL_FRONTIER_MAX * POOL_NODE_LEN);
	struct pool_node nodes[POOL_FRONTIER_MAX];
	uint64_t u, reached = 0;
	unsigned pd;
	size_t n = 0;

	assert_non_null(x);
	assert_non_null(w);
	raw_row(t, xid, x);
	pd = dir ^ x->role;
	u = store_undelivered_set(x, dir);
	assert_int_equal(store_frontier_unseal(t->st, x, dir, w, &n), 0);
	assert_int_equal(pool_frontier_nodes(u, nodes), n);
	for (size_t m = 0; m < n; m++) {
		unsigned sh = POOL_TREE_DEPTH - nodes[m].depth;

		for (unsigned i = nodes[m].index << sh; i < (nodes[m].index + 1u) << sh; i++) {
			uint8_t node[POOL_NODE_LEN], next[POOL_NODE_LEN], k[T_KEY_LEN];
			uint8_t want[T_KEY_LEN];

			/* walk down from the stored seed to leaf i */
			memcpy(node, w->p + m * POOL_NODE_LEN, POOL_NODE_LEN);
			for (unsigned dp = nodes[m].depth; dp < POOL_TREE_DEPTH; dp++) {
				unsigned j = i >> (POOL_TREE_DEPTH - dp);
				unsigned b = (i >> (POOL_TREE_DEPTH - dp - 1)) & 1;

				assert_int_equal(pool_node_child(node, pd, dp, j, b, next), 0);
				memcpy(node, next, POOL_NODE_LEN);
			}
			assert_int_equal(pool_leaf_key(node, pd, i, T_KEY_LEN, k), 0);
			for (size_t e = 0; e < n_delivered; e++)
				assert_memory_not_equal(k, delivered[e], T_KEY_LEN);
			if (i < n_keys) {
				t_key_bytes(&ids[i], want);
				assert_memory_equal(k, want, T_KEY_LEN);
			}
			reached |= 1ULL << i;
		}
	}
	assert_true(reached == u);
	secret_free(w);
	free(x);
	return n;
}

static void test_take_punctures(void **state)
{
	struct t *t = *state;
	struct store_key_id out[64];
	struct store_pool_in in;
	uint8_t secrets[2 * STORE_POOL_SECRET_LEN], (*got)[T_KEY_LEN] = calloc(64, T_KEY_LEN);
	struct store_key k[3] = { 0 };
	size_t n_got = 0;

	assert_non_null(got);
	for (unsigned n_keys = 64; n_keys >= 40; n_keys -= 24) {
		t_pool_in(&in, secrets, "p", "c", ++t->seq, m_a, 2, STORE_ROLE_INITIATOR, n_keys, NOW,
			  HARD, out, NULL);
		assert_int_equal(store_put(t->st, &in, 1, NOW), 0);
		n_got = 0;
		for (unsigned i = 0; i < n_keys;) {
			size_t step = i % 5 == 0 && i + 3 <= n_keys ? 3 : 1, seeds;

			assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, step, k), 0);
			for (size_t j = 0; j < step; j++) {
				assert_memory_equal(k[j].meta.id.b, out[i + j].b, STORE_KEY_ID_LEN);
				memcpy(got[n_got++], k[j].key->p, T_KEY_LEN);
				store_key_done(&k[j]);
			}
			i += (unsigned)step;
			if (i == n_keys)
				break;	/* the blob is gone (NULL): nothing left to check */
			seeds = check_stored(t, in.x.id, STORE_OUTBOUND,
					     (const uint8_t(*)[T_KEY_LEN])got, n_got, out, n_keys);
			assert_true(seeds <= 6);	/* sequential bound */
		}
	}
	free(got);
}

static void test_get_punctures_any_order(void **state)
{
	struct t *t = *state;
	struct store_key_id in_ids[64], batch[4];
	struct store_pool_in in;
	uint8_t secrets[2 * STORE_POOL_SECRET_LEN], order[64];
	uint8_t (*got)[T_KEY_LEN] = calloc(64, T_KEY_LEN);
	struct store_key k[4] = { 0 };
	size_t n_got = 0, worst = 0;

	assert_non_null(got);
	t_pool_in(&in, secrets, "p", "c", ++t->seq, m_a, 2, STORE_ROLE_RESPONDER, 64, NOW, HARD,
		  NULL, in_ids);
	assert_int_equal(store_put(t->st, &in, 1, NOW), 0);
	for (unsigned i = 0; i < 64; i++)	/* odd leaves first: the largest frontier */
		order[i] = (uint8_t)(i < 32 ? 2 * i + 1 : 2 * (i - 32));
	shuffle(order + 32, 32, 0x1234567ULL);
	for (unsigned s = 0; s < 64;) {
		size_t step = s >= 40 && s + 4 <= 64 ? 4 : 1, seeds;

		if (step == 1) {
			assert_int_equal(store_get_by_id(t->st, "p", "c", &in_ids[order[s]], "dec",
							 NOW, k), 0);
		} else {
			for (size_t j = 0; j < step; j++)
				batch[j] = in_ids[order[s + j]];
			assert_int_equal(store_get_by_ids(t->st, "p", "c", batch, step, "dec", NOW,
							  k, NULL), 0);
		}
		for (size_t j = 0; j < step; j++) {
			uint8_t want[T_KEY_LEN];

			assert_memory_equal(k[j].meta.id.b, in_ids[order[s + j]].b,
					    STORE_KEY_ID_LEN);
			t_key_bytes(&in_ids[order[s + j]], want);
			assert_memory_equal(k[j].key->p, want, T_KEY_LEN);
			memcpy(got[n_got++], k[j].key->p, T_KEY_LEN);
			store_key_done(&k[j]);
		}
		s += (unsigned)step;
		if (s == 64)
			break;
		seeds = check_stored(t, in.x.id, STORE_INBOUND, (const uint8_t(*)[T_KEY_LEN])got,
				     n_got, in_ids, 64);
		if (seeds > worst)
			worst = seeds;
	}
	assert_int_equal(worst, POOL_FRONTIER_MAX);	/* every odd leaf delivered */
	/* the direction is used up: its blob is gone */
	{
		struct xrow *x = calloc(1, sizeof(*x));

		assert_non_null(x);
		raw_row(t, in.x.id, x);
		assert_int_equal(x->blob_len[STORE_INBOUND], 0);
		free(x);
	}
	free(got);
}

/* The frontier a delivery replaced does not stay in the file once the WAL is checkpointed. */
static void test_old_blob_overwritten(void **state)
{
	struct t *t = *state;
	struct store_key_id out[8];
	struct store_pool_in in;
	uint8_t secrets[2 * STORE_POOL_SECRET_LEN], before[SEAL_BLOB_MAX], after[SEAL_BLOB_MAX];
	size_t lb, la;
	struct store_key k = { 0 };
	struct xrow *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	t_pool_in(&in, secrets, "p", "c", ++t->seq, m_a, 2, STORE_ROLE_INITIATOR, 8, NOW, HARD, out,
		  NULL);
	assert_int_equal(store_put(t->st, &in, 1, NOW), 0);
	raw_row(t, in.x.id, x);
	lb = x->blob_len[STORE_OUTBOUND];
	memcpy(before, x->blob[STORE_OUTBOUND], lb);
	assert_int_equal(store_take(t->st, "p", "c", "enc", NOW, 1, &k), 0);
	store_key_done(&k);
	raw_row(t, in.x.id, x);
	la = x->blob_len[STORE_OUTBOUND];
	memcpy(after, x->blob[STORE_OUTBOUND], la);
	store_close(t->st);	/* checkpoint (TRUNCATE) */
	t->st = NULL;
	assert_false(t_file_contains(t->db, before, lb));
	assert_false(t_file_contains(t->wal, before, lb));
	assert_true(t_file_contains(t->db, after, la));
	assert_int_equal(store_open(t->db, t->kek, &t->st), 0);
	free(x);
}

static void test_get_by_ids(void **state)
{
	struct t *t = *state;
	struct store_key_id a[4], b[4], ids[5], bad;
	struct store_pool_in in;
	uint8_t secrets[2 * STORE_POOL_SECRET_LEN];
	struct store_key k[5] = { 0 };
	struct store_counts c;
	size_t failed = 99;

	t_pool_in(&in, secrets, "p", "c", ++t->seq, m_a, 2, STORE_ROLE_RESPONDER, 4, NOW, HARD,
		  NULL, a);
	assert_int_equal(store_put(t->st, &in, 1, NOW), 0);
	t_pool_in(&in, secrets, "p", "c", ++t->seq, m_a, 2, STORE_ROLE_RESPONDER, 4, NOW, HARD,
		  NULL, b);
	assert_int_equal(store_put(t->st, &in, 1, NOW), 0);

	/* all or none: an unknown ID fails the call, names its index, delivers nothing */
	bad = a[0];
	bad.b[12] ^= 1;
	ids[0] = a[1];
	ids[1] = b[2];
	ids[2] = bad;
	assert_int_equal(store_get_by_ids(t->st, "p", "c", ids, 3, "dec", NOW, k, &failed),
			 -ENOKEY);
	assert_int_equal(failed, 2);
	assert_null(k[0].key);
	assert_int_equal(store_counts(t->st, "p", "c", STORE_INBOUND, &c), 0);
	assert_int_equal(c.state[STORE_DELIVERED], 0);
	/* the same ID twice in one call */
	ids[2] = a[1];
	assert_int_equal(store_get_by_ids(t->st, "p", "c", ids, 3, "dec", NOW, k, &failed),
			 -EALREADY);
	assert_int_equal(failed, 2);
	/* another pool's ID */
	assert_int_equal(store_get_by_ids(t->st, "p", "other", ids, 2, "dec", NOW, k, &failed),
			 -ENOKEY);
	assert_int_equal(failed, 0);

	/* keys of two exchanges, interleaved, come back in the order asked */
	ids[0] = b[3];
	ids[1] = a[0];
	ids[2] = b[0];
	ids[3] = a[3];
	ids[4] = a[2];
	assert_int_equal(store_get_by_ids(t->st, "p", "c", ids, 5, "dec", NOW, k, &failed), 0);
	for (int i = 0; i < 5; i++) {
		uint8_t want[T_KEY_LEN];

		assert_memory_equal(k[i].meta.id.b, ids[i].b, STORE_KEY_ID_LEN);
		assert_int_equal(k[i].meta.state, STORE_DELIVERED);
		assert_string_equal(k[i].meta.delivered_to, "dec");
		t_key_bytes(&ids[i], want);
		assert_memory_equal(k[i].key->p, want, T_KEY_LEN);
		store_key_done(&k[i]);
	}
	assert_int_equal(store_counts(t->st, "p", "c", STORE_INBOUND, &c), 0);
	assert_int_equal(c.state[STORE_DELIVERED], 5);
	/* once only */
	assert_int_equal(store_get_by_ids(t->st, "p", "c", &ids[4], 1, "dec", NOW, k, &failed),
			 -EALREADY);
	assert_int_equal(store_get_by_id(t->st, "p", "c", &a[1], "dec", NOW, k), 0);
	store_key_done(&k[0]);
	/* bad arguments */
	assert_int_equal(store_get_by_ids(t->st, "p", "c", ids, 0, "dec", NOW, k, NULL), -EINVAL);
	assert_int_equal(store_get_by_ids(t->st, "p", "c", ids, STORE_GET_MAX + 1, "dec", NOW, k,
					  NULL), -EINVAL);
	/* past hard expiry */
	assert_int_equal(store_get_by_ids(t->st, "p", "c", &b[1], 1, "dec", HARD, k, &failed),
			 -EKEYEXPIRED);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_vectors),
		cmocka_unit_test(test_tree_puncture_orders),
		T(test_take_punctures),
		T(test_get_punctures_any_order),
		T(test_old_blob_overwritten),
		T(test_get_by_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
