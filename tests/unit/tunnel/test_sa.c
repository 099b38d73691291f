/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SAs and the SA database (src/tunnel/sa.c): per-direction derivation that
 * both ends agree on, packet/byte limits, hard expiry, sequence
 * reservations, and make-before-break switch-over between two ends driven
 * back to back in memory; the sequence high-water files (hwm.c) and the
 * static key file parser (keysrc_static.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "crypto/hash.h"
#include "crypto/mac.h"
#include "tunnel/hwm.h"
#include "tunnel/keysrc.h"
#include "tunnel/sa.h"

#define MS 1000000ULL
#define SEC 1000000000ULL

static const struct sa_limits LIM = { .max_packets = 1000 };

static void key_of(unsigned n, uint8_t key[32], uint8_t id[KEY_ID_LEN])
{
	for (unsigned i = 0; i < 32; i++)
		key[i] = (uint8_t)(n * 7 + i);
	for (unsigned i = 0; i < KEY_ID_LEN; i++)
		id[i] = (uint8_t)(n + i * 3);
}

static void test_derive(void **state)
{
	uint8_t key[32], id[KEY_ID_LEN], k1[32], k2[32], s1[4], s2[4], okm[36], info[36];
	uint32_t spi1, spi2;

	(void)state;
	key_of(1, key, id);
	assert_int_equal(sa_derive(key, 32, id, true, k1, s1, &spi1), 0);
	assert_int_equal(sa_derive(key, 32, id, false, k2, s2, &spi2), 0);
	assert_memory_not_equal(k1, k2, 32);
	assert_true(spi1 != spi2);
	assert_true(spi1 & 0x80000000U);
	assert_true(spi2 & 0x80000000U);
	/* The documented construction, rebuilt from crypto/mac.h. */
	memcpy(info, "esp aes-256-gcm a->b", 20);
	memcpy(info + 20, id, 16);
	assert_int_equal(hkdf(HASH_SHA384, (const uint8_t *)"mfsec-tunnel v1", 15, key, 32, info, 36,
			      okm, 36), 0);
	assert_memory_equal(okm, k1, 32);
	assert_memory_equal(okm + 32, s1, 4);
	assert_int_equal(sa_derive(key, 31, id, true, k1, s1, &spi1), -EINVAL);
	assert_int_equal(sa_derive(key, 65, id, true, k1, s1, &spi1), -EINVAL);
}

/* Two ends: a's outbound pairs with b's inbound. */
static void pair(unsigned n, const struct sa_limits *lim, struct sa **a_out, struct sa **b_in)
{
	uint8_t key[32], id[KEY_ID_LEN];

	key_of(n, key, id);
	assert_int_equal(sa_new(key, 32, id, true, true, lim, 1, 0, lim->max_packets, a_out), 0);
	assert_int_equal(sa_new(key, 32, id, true, false, lim, 1, 0, 0, b_in), 0);
	assert_int_equal(sa_spi(*a_out), sa_spi(*b_in));
}

static int xfer(struct sa *out, struct sa *in, uint64_t now, size_t len)
{
	uint8_t pkt[2048] = { 0 }, nh;
	size_t got;
	int n;

	pkt[ESP_HDR_LEN] = 0x45;
	n = sa_seal(out, 0, now, ESP_NH_IPV4, pkt, len, sizeof(pkt));
	if (n < 0)
		return n;
	return sa_open(in, 0, now, pkt, (size_t)n, &nh, &got);
}

static void test_limits(void **state)
{
	struct sa_limits lim = { .max_packets = 5, .max_bytes = 0, .expiry_ns = 100 * SEC };
	struct sa *o, *i;
	uint8_t pkt[256], nh;
	size_t got;
	int n;

	(void)state;
	pair(2, &lim, &o, &i);
	for (int k = 0; k < 5; k++)
		assert_int_equal(xfer(o, i, SEC, 40), 0);
	assert_int_equal(xfer(o, i, SEC, 40), -EKEYEXPIRED);
	assert_true(sa_exhausted(o, SEC));
	sa_free(o);
	sa_free(i);

	lim = (struct sa_limits){ .max_packets = 1000, .max_bytes = 100, .expiry_ns = 100 * SEC };
	pair(3, &lim, &o, &i);
	assert_int_equal(xfer(o, i, SEC, 60), 0);
	assert_int_equal(xfer(o, i, SEC, 60), -EKEYEXPIRED);
	sa_free(o);
	sa_free(i);

	lim = (struct sa_limits){ .max_packets = 1000, .expiry_ns = 10 * SEC };
	pair(4, &lim, &o, &i);
	assert_int_equal(xfer(o, i, 9 * SEC, 60), 0);
	assert_int_equal(xfer(o, i, 10 * SEC, 60), -EKEYEXPIRED);
	/* A packet sealed before expiry is refused by the receiver after it. */
	memset(pkt, 0, sizeof(pkt));
	pkt[ESP_HDR_LEN] = 0x45;
	o->lim.expiry_ns = 0;
	n = sa_seal(o, 0, 10 * SEC, ESP_NH_IPV4, pkt, 40, sizeof(pkt));
	assert_true(n > 0);
	assert_int_equal(sa_open(i, 0, 10 * SEC, pkt, (size_t)n, &nh, &got), -EKEYEXPIRED);
	assert_int_equal(sa_open(i, 0, 9 * SEC, pkt, (size_t)n, &nh, &got), 0);
	/* Replay of the same packet. */
	memset(pkt, 0, sizeof(pkt));
	pkt[ESP_HDR_LEN] = 0x45;
	n = sa_seal(o, 0, 0, ESP_NH_IPV4, pkt, 40, sizeof(pkt));
	uint8_t copy[256];
	memcpy(copy, pkt, (size_t)n);
	assert_int_equal(sa_open(i, 0, SEC, pkt, (size_t)n, &nh, &got), 0);
	assert_int_equal(sa_open(i, 0, SEC, copy, (size_t)n, &nh, &got), -EALREADY);
	sa_free(o);
	sa_free(i);
}

static void test_reservation(void **state)
{
	uint8_t key[32], id[KEY_ID_LEN], pkt[128] = { 0 };
	struct sa *o;

	(void)state;
	key_of(5, key, id);
	/* Restarted after sequence 100 with numbers reserved up to 103. */
	assert_int_equal(sa_new(key, 32, id, true, true, &LIM, 1, 100, 103, &o), 0);
	for (int k = 0; k < 3; k++) {
		assert_true(sa_seal(o, 0, 0, 4, pkt, 20, sizeof(pkt)) > 0);
		assert_int_equal(pkt[7], 101 + k);	/* continues after the mark */
	}
	assert_int_equal(sa_seal(o, 0, 0, 4, pkt, 20, sizeof(pkt)), -EAGAIN);
	atomic_store(&o->reserved, 200);
	assert_true(sa_seal(o, 0, 0, 4, pkt, 20, sizeof(pkt)) > 0);
	assert_int_equal(pkt[7], 105);	/* 104 was burnt, never reused */
	sa_free(o);
	assert_int_equal(sa_new(key, 32, id, true, true, &LIM, 1, 10, 9, &o), -EINVAL);
}

struct end {
	struct sadb db;
	bool a;
};

static void end_install(struct end *e, unsigned n, uint64_t now)
{
	uint8_t key[32], id[KEY_ID_LEN];
	struct sa *o, *i;
	struct sa_limits lim = { .max_packets = 1000000, .expiry_ns = 1000 * SEC };

	key_of(n, key, id);
	assert_int_equal(sa_new(key, 32, id, e->a, true, &lim, 1, 0, lim.max_packets, &o), 0);
	assert_int_equal(sa_new(key, 32, id, !e->a, false, &lim, 1, 0, 0, &i), 0);
	assert_int_equal(sadb_install(&e->db, o, i, now), 0);
}

/* Send one packet from x to y through their databases; 0 or the error. */
static int send1(struct end *x, struct end *y, uint64_t now, uint8_t *ret_key_n)
{
	uint8_t pkt[256] = { 0 }, nh;
	uint32_t spi, lo;
	size_t got;
	struct sa *in;
	int n;

	if (!x->db.out)
		return -ENOKEY;
	pkt[ESP_HDR_LEN] = 0x45;
	n = sa_seal(x->db.out, 0, now, ESP_NH_IPV4, pkt, 40, sizeof(pkt));
	if (n < 0)
		return n;
	assert_int_equal(esp_parse(pkt, (size_t)n, &spi, &lo), 0);
	in = sadb_in_lookup(&y->db, spi);
	if (!in)
		return -ENOENT;
	if (ret_key_n)
		*ret_key_n = in->key_id[0];
	return sa_open(in, 0, now, pkt, (size_t)n, &nh, &got);
}

static void test_switch_over(void **state)
{
	struct end a = { .a = true }, b = { .a = false };
	uint8_t used;

	(void)state;
	assert_int_equal(sadb_init(&a.db, 1 * SEC, 5 * SEC), 0);
	assert_int_equal(sadb_init(&b.db, 1 * SEC, 5 * SEC), 0);
	end_install(&a, 10, 0);
	end_install(&b, 10, 0);
	assert_int_equal(send1(&a, &b, 0, &used), 0);
	assert_int_equal(used, 10);
	assert_int_equal(send1(&b, &a, 0, &used), 0);

	/* Key 11 reaches b first: b receives on it at once but keeps sending on key 10. */
	end_install(&b, 11, 1 * SEC);
	assert_non_null(b.db.pending);
	assert_int_equal(send1(&b, &a, 1 * SEC, &used), 0);
	assert_int_equal(used, 10);
	assert_false(sadb_tick(&b.db, 1 * SEC + 500 * MS));
	/* Key 11 reaches a 200 ms later. */
	end_install(&a, 11, 1200 * MS);
	assert_int_equal(send1(&a, &b, 1200 * MS, &used), 0);
	assert_int_equal(used, 10);
	/* b's switch delay ends: it sends on key 11, which a already has. */
	assert_true(sadb_tick(&b.db, 2 * SEC));
	assert_int_equal(send1(&b, &a, 2 * SEC, &used), 0);
	assert_int_equal(used, 11);
	/* a sees the peer on key 11 and switches before its own delay ends. */
	assert_true(sadb_tick(&a.db, 2 * SEC + 10 * MS));
	assert_int_equal(send1(&a, &b, 2 * SEC + 10 * MS, &used), 0);
	assert_int_equal(used, 11);
	/* b sees a on key 11: its key 10 inbound SA stays for the grace period, then goes. */
	assert_false(sadb_tick(&b.db, 2 * SEC + 20 * MS));
	assert_non_null(b.db.in[0]);
	assert_false(sadb_tick(&b.db, 7 * SEC));
	assert_non_null(b.db.in[0]);
	assert_int_equal(send1(&b, &a, 7 * SEC, &used), 0);	/* still fine on 11 */
	sadb_tick(&b.db, 7 * SEC + 20 * MS + 1);
	assert_null(b.db.in[0]);
	assert_non_null(b.db.in[1]);

	/* Withdrawal of the only key: fail closed. */
	uint8_t key[32], id[KEY_ID_LEN];
	key_of(11, key, id);
	assert_int_equal(sadb_withdraw(&a.db, id), 0);
	assert_int_equal(send1(&a, &b, 8 * SEC, NULL), -ENOKEY);
	assert_int_equal(sadb_withdraw(&a.db, id), -ENOENT);
	/* Re-installing a key ID already in use is refused. */
	key_of(11, key, id);
	{
		struct sa *o, *i;
		struct sa_limits lim = { .max_packets = 10 };

		assert_int_equal(sa_new(key, 32, id, false, true, &lim, 1, 0, 10, &o), 0);
		assert_int_equal(sa_new(key, 32, id, true, false, &lim, 1, 0, 0, &i), 0);
		assert_int_equal(sadb_install(&b.db, o, i, 8 * SEC), -EEXIST);
		sa_free(o);
		sa_free(i);
	}
	sadb_done(&a.db);
	sadb_done(&b.db);
}

/* mfsd's model: one key per direction, each with its own ID; PEER_INSTALLED allows the switch. */
static void test_per_direction_keys(void **state)
{
	struct end a = { .a = true }, b = { .a = false };
	uint8_t key[32], id[KEY_ID_LEN], used;
	struct sa_limits lim = { .max_packets = 1000, .expiry_ns = 1000 * SEC };
	struct sa *o, *i;

	(void)state;
	assert_int_equal(sadb_init(&a.db, 10 * SEC, 5 * SEC), 0);
	assert_int_equal(sadb_init(&b.db, 10 * SEC, 5 * SEC), 0);
	/* a's outbound key 40 is b's inbound key 40 (direction a->b for both). */
	key_of(40, key, id);
	assert_int_equal(sa_new(key, 32, id, true, true, &lim, 1, 0, 1000, &o), 0);
	assert_int_equal(sa_new(key, 32, id, true, false, &lim, 1, 0, 0, &i), 0);
	assert_int_equal(sadb_install_out(&a.db, o, 0), 0);
	assert_int_equal(sadb_install_in(&b.db, i, 0), 0);
	/* b's outbound key 41 is a's inbound key 41 (b->a). */
	key_of(41, key, id);
	assert_int_equal(sa_new(key, 32, id, false, true, &lim, 1, 0, 1000, &o), 0);
	assert_int_equal(sa_new(key, 32, id, false, false, &lim, 1, 0, 0, &i), 0);
	assert_int_equal(sadb_install_out(&b.db, o, 0), 0);
	assert_int_equal(sadb_install_in(&a.db, i, 0), 0);
	assert_int_equal(send1(&a, &b, 0, &used), 0);
	assert_int_equal(used, 40);
	assert_int_equal(send1(&b, &a, 0, &used), 0);
	assert_int_equal(used, 41);

	/* a gets outbound key 42; it waits for the peer (switch delay 10 s)... */
	key_of(42, key, id);
	assert_int_equal(sa_new(key, 32, id, true, true, &lim, 1, 0, 1000, &o), 0);
	assert_int_equal(sadb_install_out(&a.db, o, SEC), 0);
	assert_false(sadb_tick(&a.db, 2 * SEC));
	assert_int_equal(send1(&a, &b, 2 * SEC, &used), 0);
	assert_int_equal(used, 40);
	/* ... b installs it as inbound and says so: a switches at once. */
	assert_int_equal(sa_new(key, 32, id, true, false, &lim, 1, 0, 0, &i), 0);
	assert_int_equal(sadb_install_in(&b.db, i, 2 * SEC), 0);
	assert_int_equal(sadb_peer_ready(&a.db, id), 0);
	assert_true(sadb_tick(&a.db, 2 * SEC + 1));
	assert_int_equal(send1(&a, &b, 2 * SEC + 1, &used), 0);
	assert_int_equal(used, 42);
	/* b saw key 42 in use: key 40 goes after the grace period. */
	sadb_tick(&b.db, 3 * SEC);
	assert_non_null(b.db.in[0]);
	sadb_tick(&b.db, 8 * SEC);
	assert_null(b.db.in[0]);
	/* Key 43 pushed ahead of need (hold): not used before key 42 is retired, however long. */
	key_of(43, key, id);
	assert_int_equal(sa_new(key, 32, id, true, true, &lim, 1, 0, 1000, &o), 0);
	o->hold = true;
	assert_int_equal(sadb_install_out(&a.db, o, 10 * SEC), 0);
	assert_int_equal(sadb_peer_ready(&a.db, id), 0);
	assert_false(sadb_tick(&a.db, 30 * SEC));
	assert_int_equal(send1(&a, &b, 30 * SEC, &used), 0);
	assert_int_equal(used, 42);	/* still on 42 */
	key_of(42, key, id);
	assert_int_equal(sadb_retire(&a.db, id, 31 * SEC), 0);
	assert_true(sadb_tick(&a.db, 31 * SEC));	/* retired + peer ready: switch */
	key_of(43, key, id);
	assert_memory_equal(a.db.out->key_id, id, KEY_ID_LEN);
	assert_int_equal(sadb_retire(&a.db, (const uint8_t[KEY_ID_LEN]){ 0 }, 32 * SEC), -ENOENT);
	/* Unknown key: refused; an inbound key twice: refused. */
	key_of(99, key, id);
	assert_int_equal(sadb_peer_ready(&a.db, id), -ENOENT);
	key_of(42, key, id);
	assert_int_equal(sa_new(key, 32, id, true, false, &lim, 1, 0, 0, &i), 0);
	assert_int_equal(sadb_install_in(&b.db, i, 9 * SEC), -EEXIST);
	sa_free(i);
	sadb_done(&a.db);
	sadb_done(&b.db);
}

static void test_expiry_fails_closed(void **state)
{
	struct end a = { .a = true };
	uint8_t key[32], id[KEY_ID_LEN];
	struct sa *o, *i;
	struct sa_limits lim = { .max_packets = 100, .expiry_ns = 3 * SEC };

	(void)state;
	assert_int_equal(sadb_init(&a.db, SEC, SEC), 0);
	key_of(20, key, id);
	assert_int_equal(sa_new(key, 32, id, true, true, &lim, 1, 0, 100, &o), 0);
	assert_int_equal(sa_new(key, 32, id, false, false, &lim, 1, 0, 0, &i), 0);
	assert_int_equal(sadb_install(&a.db, o, i, 0), 0);
	assert_false(sadb_tick(&a.db, 2 * SEC));
	assert_non_null(a.db.out);
	assert_true(sadb_tick(&a.db, 3 * SEC));
	assert_null(a.db.out);
	for (unsigned k = 0; k < SADB_IN_MAX; k++)
		assert_null(a.db.in[k]);
	/* Many keys in a row never overflow the inbound table. */
	for (unsigned n = 30; n < 30 + 3 * SADB_IN_MAX; n++) {
		end_install(&a, n, (uint64_t)n * SEC);
		sadb_tick(&a.db, (uint64_t)n * SEC + 2 * SEC);
	}
	sadb_done(&a.db);
}

static void test_hwm(void **state)
{
	char dir[] = "/tmp/mfs-test-hwm-XXXXXX", path[128];
	uint8_t id[KEY_ID_LEN] = { 0xab };
	uint64_t v = 99;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(hwm_load(dir, id, &v), 0);
	assert_true(v == 0);
	assert_int_equal(hwm_store(dir, id, 1ULL << 40), 0);
	assert_int_equal(hwm_load(dir, id, &v), 0);
	assert_true(v == 1ULL << 40);
	snprintf(path, sizeof(path), "%s/ab000000000000000000000000000000.seq", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("12x\n", f);
	fclose(f);
	assert_int_equal(hwm_load(dir, id, &v), -EBADMSG);
	unlink(path);
	rmdir(dir);
}

static void test_keyfile_parse(void **state)
{
	static const char good[] = "# test key\n\n"
		"00112233445566778899aabbccddeeff "
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
	const char *bad[] = {
		"",
		"# only a comment\n",
		"00112233445566778899aabbccddeef 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
		"00112233445566778899aabbccddeeff 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e\n",
		"00112233445566778899aabbccddeeff  000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
		"00112233445566778899aabbccddeeff 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f x\n",
		"00112233445566778899aabbccddeeff 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g\n",
	};
	uint8_t id[KEY_ID_LEN], key[SA_KEY_MAX];
	size_t len;
	const char *why = NULL;

	(void)state;
	assert_int_equal(keysrc_static_parse(good, strlen(good), id, key, &len, &why), 0);
	assert_int_equal(len, 32);
	assert_int_equal(id[0], 0x00);
	assert_int_equal(id[15], 0xff);
	assert_int_equal(key[31], 0x1f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(keysrc_static_parse(bad[i], strlen(bad[i]), id, key, &len, &why),
				 -EBADMSG);
		assert_non_null(why);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_derive),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_reservation),
		cmocka_unit_test(test_switch_over),
		cmocka_unit_test(test_per_direction_keys),
		cmocka_unit_test(test_expiry_fails_closed),
		cmocka_unit_test(test_hwm),
		cmocka_unit_test(test_keyfile_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
