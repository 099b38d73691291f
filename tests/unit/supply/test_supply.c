/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key supply backend (src/supply/supply.h) on two real key stores, one
 * per site, holding the same exchange in mirrored directions as the control
 * engine leaves them: the office's OUTBOUND pool toward gpu-dc and gpu-dc's
 * INBOUND pool from the office. Covers: enc_keys at the office and dec_keys
 * at gpu-dc give the same keys; a second dec_keys of an ID fails (400); the
 * 401 rule (another local slave, an ID of someone else's pool); the
 * authorization table (class, role, unknown SAEs) with an audit record;
 * derived sizes equal on both sides and different from truncation; size
 * mismatch 400; an empty pool 503 with nothing handed out (a full disk:
 * tests/integration/test_supply_faults.sh);
 * status counts; the SAE table checks of supply_new(); delivery reserves
 * (keys recorded as delivered ahead of need: served in order, never twice,
 * dropped on revocation and at hard expiry).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "kex/kex.h"
#include "crypto/rng.h"
#include "proto/pool.h"
#include "store/store.h"
#include "supply/supply.h"

#define NKEYS 40

static char dir[64], db_office[128], db_dc[128];
static struct secret *kek;
static struct store_key_id ids[NKEYS];
static uint8_t keybytes[NKEYS][32];

static const struct supply_sae office_saes[] = {
	/* local: A (master for class bulk), A2 (master, class ctrl only) */
	{ .id = "SAE_A", .peer = "gpu-dc", .classes = { "bulk", "ctrl" }, .n_classes = 2,
	  .roles = SUPPLY_MASTER, .max_key_count = { 4096, 16 } },
	{ .id = "SAE_A2", .peer = "gpu-dc", .classes = { "ctrl" }, .n_classes = 1,
	  .roles = SUPPLY_MASTER | SUPPLY_SLAVE },
	/* remote: B (bulk pool), W (wide keys: ctrl pool, 512 bits) */
	{ .id = "SAE_B", .remote = true, .peer = "gpu-dc", .classes = { "bulk" }, .n_classes = 1,
	  .max_key_count = { 4096 } },
	{ .id = "SAE_W", .remote = true, .peer = "gpu-dc", .classes = { "ctrl" }, .n_classes = 1,
	  .key_bits = 512 },
};

static const struct supply_sae dc_saes[] = {
	{ .id = "SAE_B", .peer = "office", .classes = { "bulk" }, .n_classes = 1,
	  .roles = SUPPLY_SLAVE },
	{ .id = "SAE_W", .peer = "office", .classes = { "ctrl" }, .n_classes = 1,
	  .roles = SUPPLY_SLAVE, .key_bits = 512 },
	{ .id = "SAE_A", .remote = true, .peer = "office", .classes = { "bulk" }, .n_classes = 1 },
	{ .id = "SAE_A2", .remote = true, .peer = "office", .classes = { "ctrl" }, .n_classes = 1 },
};

static int audits;
static void on_audit(void *arg, const struct supply_audit *a)
{
	(void)arg;
	assert_non_null(a->reason);
	audits++;
}

/*
 * One exchange per class, NKEYS/2 keys per direction: the office stores it as
 * initiator (its outbound keys are protocol direction 0), gpu-dc as responder
 * (its inbound keys are direction 0), so both hold the same keys under the
 * same IDs, as after a real exchange (proto/pool.h).
 */
static uint8_t xids[2][POOL_ID_LEN];
static uint8_t secrets[2][2 * STORE_POOL_SECRET_LEN];

static void fill(const char *db, const char *peer, enum store_role role)
{
	struct store *st;
	int64_t now = time(NULL);

	assert_int_equal(store_open(db, kek, &st), 0);
	for (int c = 0; c < 2; c++) {
		struct store_pool_in in = {
			.x = { .peer = peer, .class_name = c ? "ctrl" : "bulk", .id_len = POOL_ID_LEN,
			       .methods = { KEX_ID_MLKEM768 }, .n_methods = 1 },
			.role = role, .secret = secrets[c], .n_keys = NKEYS / 2, .key_len = 32,
			.not_before = now - 10, .soft_expiry = now + 3600, .hard_expiry = now + 7200,
		};

		memcpy(in.x.id, xids[c], POOL_ID_LEN);
		assert_int_equal(store_put(st, &in, 1, now), 0);
	}
	store_close(st);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/supply-test-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(db_office, sizeof(db_office), "%s/office.db", dir);
	snprintf(db_dc, sizeof(db_dc), "%s/dc.db", dir);
	kek = secret_alloc(32);
	memset(kek->p, 0x42, 32);
	for (int c = 0; c < 2; c++) {
		assert_int_equal(crypto_random(xids[c], POOL_ID_LEN), 0);
		pool_exchange_id_from(xids[c]);
		assert_int_equal(crypto_random(secrets[c], sizeof(secrets[c])), 0);
		for (int i = 0; i < NKEYS / 2; i++) {
			int k = c * NKEYS / 2 + i;

			pool_key_id(xids[c], 0, (unsigned)i, ids[k].b);
			assert_int_equal(pool_key_derive(secrets[c], 0, (unsigned)i, 32, keybytes[k]), 0);
		}
	}
	fill(db_office, "gpu-dc", STORE_ROLE_INITIATOR);
	fill(db_dc, "office", STORE_ROLE_RESPONDER);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	secret_free(kek);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

struct site {
	struct supply *s;
	struct etsi014_backend be;
	void *tctx;
};

static void site_open(struct site *x, const char *kme, const char *db, const struct supply_sae *saes,
		      size_t n, uint64_t size_limit)
{
	struct supply_config cfg = { .kme_id = kme, .db_path = db, .kek = kek, .saes = saes,
				     .n_saes = n, .store_size_limit = size_limit,
				     .on_audit = on_audit };
	char err[200];

	if (supply_new(&cfg, &x->s, err, sizeof(err)) < 0)
		fail_msg("supply_new: %s", err);
	supply_backend(x->s, &x->be);
	assert_int_equal(x->be.thread_init(x->be.arg, 0, &x->tctx), 0);
}

static void site_close(struct site *x)
{
	x->be.thread_done(x->tctx);
	supply_free(x->s);
}

static int enc(struct site *x, const char *caller, const char *slave, unsigned n, unsigned size,
	       struct etsi014_key *keys, struct etsi014_error *err)
{
	struct etsi014_call c = { .op = ETSI014_ENC_KEYS, .caller = caller, .sae_id = slave };
	struct etsi014_key_request req = { .number = n, .size = size ? size : 256,
					   .has_size = size != 0 };

	memset(err, 0, sizeof(*err));
	return x->be.enc_keys(x->tctx, &c, &req, keys, err);
}

static int dec(struct site *x, const char *caller, const char *master, const struct etsi014_key *want,
	       size_t n, struct etsi014_key *keys, struct etsi014_error *err)
{
	struct etsi014_call c = { .op = ETSI014_DEC_KEYS, .caller = caller, .sae_id = master };
	static struct etsi014_key_ids req;

	req.n = n;
	for (size_t i = 0; i < n; i++)
		memcpy(req.id[i], want[i].id, 16);
	memset(err, 0, sizeof(*err));
	return x->be.dec_keys(x->tctx, &c, &req, keys, err);
}

static int count_denied(void *arg, const struct store_audit_rec *r)
{
	if (!strcmp(r->what, "supply-denied"))
		(*(int *)arg)++;
	return 0;
}

static int audit_count(const char *db)
{
	struct store *st;
	int n = 0;

	assert_int_equal(store_open(db, kek, &st), 0);
	assert_int_equal(store_audit_list(st, 0, count_denied, &n), 0);
	store_close(st);
	return n;
}

static void test_two_sites(void **state)
{
	static struct etsi014_key k_off[8], k_dc[8];
	struct etsi014_error err;
	struct site off, dc;

	(void)state;
	site_open(&off, "office", db_office, office_saes, 4, 0);
	site_open(&dc, "gpu-dc", db_dc, dc_saes, 4, 0);

	assert_int_equal(enc(&off, "SAE_A", "SAE_B", 3, 0, k_off, &err), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(k_off[i].len, 32);
		assert_memory_equal(k_off[i].id, ids[i].b, 16);	/* oldest first */
		assert_memory_equal(k_off[i].key, keybytes[i], 32);
	}
	assert_int_equal(dec(&dc, "SAE_B", "SAE_A", k_off, 3, k_dc, &err), 0);
	for (int i = 0; i < 3; i++) {
		assert_memory_equal(k_dc[i].id, k_off[i].id, 16);
		assert_memory_equal(k_dc[i].key, k_off[i].key, 32);
	}
	/* a second dec_keys for the same ID fails: removed from the pool */
	assert_int_equal(dec(&dc, "SAE_B", "SAE_A", k_off + 1, 1, k_dc, &err), -ENOKEY);
	assert_int_equal(err.status, 400);
	assert_string_equal(err.message, "one or more keys specified are not found on KME");
	/* an ID that was never here */
	struct etsi014_key bogus = { .id = { 1, 2, 3 } };
	assert_int_equal(dec(&dc, "SAE_B", "SAE_A", &bogus, 1, k_dc, &err), -ENOKEY);
	assert_int_equal(err.status, 400);

	/* derived size: 512-bit keys for W, the same on both sides, not a truncation/extension */
	assert_int_equal(enc(&off, "SAE_A", "SAE_W", 2, 512, k_off, &err), 0);
	assert_int_equal(k_off[0].len, 64);
	assert_memory_equal(k_off[0].id, ids[NKEYS / 2].b, 16);
	assert_memory_not_equal(k_off[0].key, keybytes[NKEYS / 2], 32);
	uint8_t d[64];
	assert_int_equal(supply_derive(keybytes[NKEYS / 2], ids[NKEYS / 2].b, 512, d), 0);
	assert_memory_equal(k_off[0].key, d, 64);
	assert_int_equal(dec(&dc, "SAE_W", "SAE_A2", k_off, 2, k_dc, &err), 0);
	assert_memory_equal(k_dc[0].key, k_off[0].key, 64);
	assert_memory_equal(k_dc[1].key, k_off[1].key, 64);
	/* size other than the binding's */
	assert_int_equal(enc(&off, "SAE_A", "SAE_W", 1, 256, k_off, &err), -EINVAL);
	assert_int_equal(err.status, 400);
	assert_int_equal(enc(&off, "SAE_A", "SAE_B", 1, 256, k_off, &err), 0);

	site_close(&off);
	site_close(&dc);
}

static void test_authorization(void **state)
{
	static struct etsi014_key k_off[4], k_dc[4];
	struct etsi014_error err;
	struct site off, dc;
	int a0 = audits, n0 = audit_count(db_office), d0 = audit_count(db_dc);

	(void)state;
	site_open(&off, "office", db_office, office_saes, 4, 0);
	site_open(&dc, "gpu-dc", db_dc, dc_saes, 4, 0);
	/* A2 may not use class bulk (B's pool) */
	assert_int_equal(enc(&off, "SAE_A2", "SAE_B", 1, 0, k_off, &err), -EACCES);
	assert_int_equal(err.status, 401);
	/* unknown caller, unknown slave, slave named as caller */
	assert_int_equal(enc(&off, "SAE_X", "SAE_B", 1, 0, k_off, &err), -EACCES);
	assert_int_equal(enc(&off, "SAE_A", "SAE_X", 1, 0, k_off, &err), -EACCES);
	assert_int_equal(enc(&off, "SAE_A", "SAE_A2", 1, 0, k_off, &err), -EACCES);
	/* A is master only: no dec_keys */
	assert_int_equal(dec(&off, "SAE_A", "SAE_B", k_off, 1, k_dc, &err), -EACCES);
	assert_int_equal(err.status, 401);

	/* the 401 rule: W (slave of ctrl) asks for an ID of B's bulk pool */
	assert_int_equal(enc(&off, "SAE_A", "SAE_B", 1, 0, k_off, &err), 0);
	assert_int_equal(dec(&dc, "SAE_W", "SAE_A2", k_off, 1, k_dc, &err), -EACCES);
	assert_int_equal(err.status, 401);
	/* ... and W naming A as master (A's class bulk is not W's) */
	assert_int_equal(dec(&dc, "SAE_W", "SAE_A", k_off, 1, k_dc, &err), -EACCES);
	/* the rightful slave still gets it: nothing was released by the refusals */
	assert_int_equal(dec(&dc, "SAE_B", "SAE_A", k_off, 1, k_dc, &err), 0);
	assert_memory_equal(k_dc[0].key, k_off[0].key, 32);

	assert_int_equal(audits - a0, 7);
	site_close(&off);
	site_close(&dc);
	assert_int_equal(audit_count(db_office) - n0, 5);
	assert_int_equal(audit_count(db_dc) - d0, 2);
}

static void test_exhaustion(void **state)
{
	static struct etsi014_key k[NKEYS];
	struct etsi014_error err;
	struct etsi014_status st = { 0 };
	struct etsi014_call c = { .op = ETSI014_STATUS, .caller = "SAE_A", .sae_id = "SAE_B" };
	struct site off;

	(void)state;
	site_open(&off, "office", db_office, office_saes, 4, 0);
	assert_int_equal(off.be.status(off.tctx, &c, &st, &err), 0);
	assert_string_equal(st.source_KME_ID, "office");
	assert_string_equal(st.target_KME_ID, "gpu-dc");
	assert_int_equal(st.key_size, 256);
	assert_int_equal(st.max_key_count, 4096);
	unsigned left = (unsigned)st.stored_key_count;
	assert_true(left > 2 && left < NKEYS / 2);
	/* more than the pool holds: 503, nothing taken */
	assert_int_equal(enc(&off, "SAE_A", "SAE_B", left + 1, 0, k, &err), -ENOKEY);
	assert_int_equal(err.status, 503);
	assert_int_equal(off.be.status(off.tctx, &c, &st, &err), 0);
	assert_int_equal(st.stored_key_count, left);
	site_close(&off);
}

static void test_table_checks(void **state)
{
	struct supply_sae t[2] = {
		{ .id = "B1", .peer = "p", .classes = { "c" }, .n_classes = 1, .roles = SUPPLY_SLAVE },
		{ .id = "B2", .peer = "p", .classes = { "d", "c" }, .n_classes = 2, .roles = SUPPLY_SLAVE },
	};
	struct supply_config cfg = { .kme_id = "k", .db_path = db_office, .kek = kek, .saes = t,
				     .n_saes = 2 };
	struct supply *s = NULL;
	char err[200];

	(void)state;
	assert_int_equal(supply_new(&cfg, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "one slave per pool"));
	t[1].classes[1][0] = 'e';
	assert_int_equal(supply_new(&cfg, &s, err, sizeof(err)), 0);
	supply_free(s);
	t[0].remote = t[1].remote = true;
	t[1].n_classes = 1;
	t[1].classes[0][0] = 'c';
	assert_int_equal(supply_new(&cfg, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "one remote SAE per pool"));
	t[1].classes[0][0] = 'd';
	t[1].key_bits = 12;
	assert_int_equal(supply_new(&cfg, &s, err, sizeof(err)), -EINVAL);
	t[1].key_bits = 1024;
	assert_int_equal(supply_new(&cfg, &s, err, sizeof(err)), 0);
	supply_free(s);
	/* a local master and a remote SAE sharing two classes: which pool? */
	t[0] = (struct supply_sae){ .id = "A", .peer = "p", .classes = { "c", "d" }, .n_classes = 2,
				    .roles = SUPPLY_MASTER };
	t[1] = (struct supply_sae){ .id = "B", .remote = true, .peer = "p", .classes = { "d", "c" },
				    .n_classes = 2 };
	assert_int_equal(supply_new(&cfg, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "ambiguous"));
	t[1].n_classes = 1;
	assert_int_equal(supply_new(&cfg, &s, err, sizeof(err)), 0);
	supply_free(s);
}

/*
 * Concurrent dec_keys on a fresh pool: the leader groups what it finds
 * queued into one store_get_by_ids(); a request with an unknown ID fails
 * alone (its good ID stays in the pool), every other request gets exactly
 * its keys.
 */
#define DEC_THREADS 8
struct dec_job {
	struct site *x;
	void *tctx;
	struct etsi014_key_ids req;
	struct etsi014_key keys[2];
	struct etsi014_error err;
	int r;
};

static void *dec_thread(void *arg)
{
	struct dec_job *j = arg;
	struct etsi014_call c = { .op = ETSI014_DEC_KEYS, .caller = "SAE_B", .sae_id = "SAE_A" };

	j->r = j->x->be.dec_keys(j->tctx, &c, &j->req, j->keys, &j->err);
	return NULL;
}

static void test_concurrent_dec(void **state)
{
	static struct dec_job jobs[DEC_THREADS];
	static struct etsi014_key k[1];
	pthread_t th[DEC_THREADS];
	struct etsi014_error err;
	char db[160];
	struct site dc;

	(void)state;
	snprintf(db, sizeof(db), "%s/dc-concurrent.db", dir);
	fill(db, "office", STORE_ROLE_RESPONDER);
	site_open(&dc, "gpu-dc", db, dc_saes, 4, 0);
	for (unsigned t = 0; t < DEC_THREADS; t++) {
		struct dec_job *j = &jobs[t];

		j->x = &dc;
		assert_int_equal(dc.be.thread_init(dc.be.arg, t + 1, &j->tctx), 0);
		j->req.n = 2;
		memcpy(j->req.id[0], ids[2 * t].b, 16);
		memcpy(j->req.id[1], ids[2 * t + 1].b, 16);
		if (t == DEC_THREADS - 1)
			j->req.id[1][15] ^= 0x5a;	/* unknown */
	}
	for (unsigned t = 0; t < DEC_THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, dec_thread, &jobs[t]), 0);
	for (unsigned t = 0; t < DEC_THREADS; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	for (unsigned t = 0; t < DEC_THREADS; t++) {
		struct dec_job *j = &jobs[t];

		if (t == DEC_THREADS - 1) {
			assert_int_equal(j->r, -ENOKEY);
			assert_int_equal(j->err.status, 400);
		} else {
			assert_int_equal(j->r, 0);
			for (int i = 0; i < 2; i++) {
				assert_memory_equal(j->keys[i].id, ids[2 * t + (unsigned)i].b, 16);
				assert_memory_equal(j->keys[i].key, keybytes[2 * t + (unsigned)i], 32);
			}
		}
		dc.be.thread_done(j->tctx);
	}
	/* the good ID of the failed request was not consumed; the others were */
	memcpy(k[0].id, ids[2 * (DEC_THREADS - 1)].b, 16);
	assert_int_equal(dec(&dc, "SAE_B", "SAE_A", k, 1, k, &err), 0);
	assert_memory_equal(k[0].key, keybytes[2 * (DEC_THREADS - 1)], 32);
	memcpy(k[0].id, ids[0].b, 16);
	assert_int_equal(dec(&dc, "SAE_B", "SAE_A", k, 1, k, &err), -ENOKEY);
	site_close(&dc);
}

/* ---- delivery reserves ---- */

/* One exchange of 64 outbound keys toward gpu-dc, class bulk, methods m[0..nm), hard expiry at hard. */
static void fill_exchange(const char *db, uint8_t xid[POOL_ID_LEN], uint8_t secret[],
			  const uint16_t *m, size_t nm, int64_t hard)
{
	struct store *st;
	int64_t now = time(NULL);
	struct store_pool_in in = {
		.x = { .peer = "gpu-dc", .class_name = "bulk", .id_len = POOL_ID_LEN, .n_methods = nm },
		.role = STORE_ROLE_INITIATOR, .secret = secret, .n_keys = 64, .key_len = 32,
		.not_before = now - 10, .soft_expiry = hard - 1, .hard_expiry = hard,
	};

	assert_int_equal(crypto_random(xid, POOL_ID_LEN), 0);
	pool_exchange_id_from(xid);
	assert_int_equal(crypto_random(secret, 2 * STORE_POOL_SECRET_LEN), 0);
	memcpy(in.x.id, xid, POOL_ID_LEN);
	memcpy(in.x.methods, m, nm * sizeof(*m));
	assert_int_equal(store_open(db, kek, &st), 0);
	assert_int_equal(store_put(st, &in, 1, now), 0);
	store_close(st);
}

static void site_open_reserve(struct site *x, const char *db, size_t reserve)
{
	struct supply_config cfg = { .kme_id = "office", .db_path = db, .kek = kek,
				     .saes = office_saes, .n_saes = 4, .reserve = reserve };
	char err[200];

	if (supply_new(&cfg, &x->s, err, sizeof(err)) < 0)
		fail_msg("supply_new: %s", err);
	supply_backend(x->s, &x->be);
	assert_int_equal(x->be.thread_init(x->be.arg, 0, &x->tctx), 0);
}

/* Wait (at most 5 s) until the reserves hold at least n keys; returns what they hold. */
static uint64_t wait_held(struct site *x, uint64_t n)
{
	struct supply_stats ss;

	for (int i = 0; i < 500; i++) {
		supply_stats(x->s, &ss);
		if (ss.reserve_held >= n)
			break;
		usleep(10000);
	}
	return ss.reserve_held;
}

/* Is key id recorded as delivered to SAE_A>SAE_B in db? */
static bool recorded(const char *db, const uint8_t id[16])
{
	struct store_key_meta m;
	struct store_key_id kid;
	struct store *st;
	bool ok;

	memcpy(kid.b, id, 16);
	assert_int_equal(store_open(db, kek, &st), 0);
	ok = store_key_info(st, &kid, &m) == 0 && m.state == STORE_DELIVERED &&
	     !strcmp(m.delivered_to, "SAE_A>SAE_B");
	store_close(st);
	return ok;
}

/*
 * With a reserve: the first request commits its own delivery and starts a
 * refill; later requests are served from keys already recorded as delivered
 * to that recipient (the same keys the pool derivation gives, never twice);
 * a revoked method's held keys are dropped and never served; keys past
 * their hard expiry are dropped, not served.
 */
static void test_reserve(void **state)
{
	static struct etsi014_key k[64];
	static const uint16_t m1[] = { KEX_ID_MLKEM768 };
	static const uint16_t m2[] = { KEX_ID_MLKEM768, KEX_ID_PSK };
	uint8_t xid[2][POOL_ID_LEN], sec[2][2 * STORE_POOL_SECRET_LEN];
	struct etsi014_error err;
	struct supply_stats ss;
	struct store *st;
	struct site off;
	char db[160];
	uint64_t held;
	unsigned seen = 0;
	static uint8_t seen_ids[128][16];

	(void)state;
	snprintf(db, sizeof(db), "%s/office-reserve.db", dir);
	fill_exchange(db, xid[0], sec[0], m1, 1, time(NULL) + 3600);
	fill_exchange(db, xid[1], sec[1], m2, 2, time(NULL) + 3600);
	site_open_reserve(&off, db, 64);

	/* first request: a miss (own commit), and the reserve fills up */
	assert_int_equal(enc(&off, "SAE_A", "SAE_B", 1, 0, k, &err), 0);
	held = wait_held(&off, 32);
	assert_true(held >= 32);
	supply_stats(off.s, &ss);
	assert_int_equal(ss.reserve_misses, 1);
	memcpy(seen_ids[seen++], k[0].id, 16);
	/* the held keys are recorded as delivered already: 1 + held keys gone from the pool */
	{
		struct store_counts c;

		assert_int_equal(store_open(db, kek, &st), 0);
		assert_int_equal(store_counts(st, "gpu-dc", "bulk", STORE_OUTBOUND, &c), 0);
		assert_int_equal(c.state[STORE_DELIVERED], 1 + held);
		store_close(st);
	}
	/* served from the reserve: the pool's keys in order, each recorded, none twice */
	assert_int_equal(enc(&off, "SAE_A", "SAE_B", 4, 0, k, &err), 0);
	supply_stats(off.s, &ss);
	assert_int_equal(ss.reserve_served, 4);
	for (unsigned i = 0; i < 4; i++) {
		uint8_t want_id[16], want[32];

		pool_key_id(xid[0], 0, 1 + i, want_id);
		assert_int_equal(pool_key_derive(sec[0], 0, 1 + i, 32, want), 0);
		assert_memory_equal(k[i].id, want_id, 16);
		assert_memory_equal(k[i].key, want, 32);
		assert_true(recorded(db, k[i].id));
		for (unsigned j = 0; j < seen; j++)
			assert_memory_not_equal(seen_ids[j], k[i].id, 16);
		memcpy(seen_ids[seen++], k[i].id, 16);
	}
	/* a derived size from the same reserve machinery: SAE_W's pool (ctrl) is empty here */
	assert_int_equal(enc(&off, "SAE_A", "SAE_W", 1, 512, k, &err), -ENOKEY);
	assert_int_equal(err.status, 503);

	/* revoke ML-KEM: every held key is dropped first, then the pool is withdrawn */
	supply_stats(off.s, &ss);
	held = ss.reserve_held;
	assert_true(held > 0);
	assert_int_equal(supply_revoked(off.s, KEX_ID_PSK + 1000), 0);	/* a method no key uses */
	assert_int_equal(supply_revoked(off.s, KEX_ID_MLKEM768), held);
	supply_stats(off.s, &ss);
	assert_int_equal(ss.reserve_held, 0);
	assert_int_equal(ss.reserve_discarded, held);
	assert_int_equal(store_open(db, kek, &st), 0);
	assert_true(store_withdraw_method(st, KEX_ID_MLKEM768, "test", "revoked", time(NULL), NULL) > 0);
	store_close(st);
	assert_int_equal(enc(&off, "SAE_A", "SAE_B", 1, 0, k, &err), -ENOKEY);
	assert_int_equal(err.status, 503);
	site_close(&off);

	/* hard expiry: held keys past it are dropped, not served */
	snprintf(db, sizeof(db), "%s/office-reserve-exp.db", dir);
	fill_exchange(db, xid[0], sec[0], m1, 1, time(NULL) + 2);
	site_open_reserve(&off, db, 64);
	assert_int_equal(enc(&off, "SAE_A", "SAE_B", 1, 0, k, &err), 0);
	held = wait_held(&off, 32);
	assert_true(held >= 32);
	sleep(3);
	assert_int_equal(enc(&off, "SAE_A", "SAE_B", 1, 0, k, &err), -ENOKEY);
	supply_stats(off.s, &ss);
	assert_int_equal(ss.reserve_held, 0);
	assert_int_equal(ss.reserve_discarded, held);
	site_close(&off);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_sites),
		cmocka_unit_test(test_authorization),
		cmocka_unit_test(test_exhaustion),
		cmocka_unit_test(test_table_checks),
		cmocka_unit_test(test_concurrent_dec),
		cmocka_unit_test(test_reserve),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
