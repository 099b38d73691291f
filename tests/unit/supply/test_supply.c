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
 * status counts; the SAE table checks of supply_new().
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_sites),
		cmocka_unit_test(test_authorization),
		cmocka_unit_test(test_exhaustion),
		cmocka_unit_test(test_table_checks),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
