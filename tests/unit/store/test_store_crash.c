/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Crash test: kill -9 never causes a key to be handed out twice.
 *
 * Each round forks a child that opens the store and loops: put one
 * exchange (32 keys per direction) now and then, take 1-3 keys, and write the IDs
 * it got to a pipe *after* store_take() returned. The parent SIGKILLs it
 * at a random moment, reopens the store and checks:
 *   - every ID the child reported is DELIVERED in the store;
 *   - no ID was reported twice, across all rounds (a set of every ID);
 *   - every exchange is whole or absent (a killed put left nothing
 *     behind), and its delivered count matches its delivery log;
 *   - the pool goes on: the next take after the restart gives a new key.
 * Bounded to about 6 s of killing.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/secret.h"
#include "store_test_util.h"

#define ROUNDS 16
#define BATCH 32	/* keys per direction and exchange */
#define NOW 5000000
#define HARD (NOW + 86400)

static char dir[] = "/tmp/mfs-test-store-crash-XXXXXX";
static char db_path[128], kek_path[128];
static const uint16_t methods[] = { KEX_ID_MLKEM768, KEX_ID_MCELIECE6688128 };

/* --- a set of key IDs (open addressing) --- */
#define SET_BITS 18
static struct store_key_id *set_slots;
static uint8_t *set_used;
static size_t set_n;

/* false when the ID was there already */
static bool set_add(const struct store_key_id *id)
{
	size_t mask = (1U << SET_BITS) - 1, i;
	uint64_t h;

	uint64_t lo;

	/* bytes 0..7 are the exchange's tag, 8..15 direction, index and the rest */
	memcpy(&h, id->b, sizeof(h));
	memcpy(&lo, id->b + 8, sizeof(lo));
	h ^= lo * 0x9e3779b97f4a7c15ULL;
	h ^= h >> 29;
	for (i = h & mask;; i = (i + 1) & mask) {
		if (!set_used[i]) {
			assert_true(set_n < mask / 2);
			set_used[i] = 1;
			set_slots[i] = *id;
			set_n++;
			return true;
		}
		if (memcmp(set_slots[i].b, id->b, STORE_KEY_ID_LEN) == 0)
			return false;
	}
}

static uint32_t rnd(uint32_t below)
{
	uint32_t v;

	assert_int_equal(getrandom(&v, sizeof(v), 0), (ssize_t)sizeof(v));
	return v % below;
}

static int put_batch(struct store *st, uint32_t seq)
{
	struct store_pool_in in;
	uint8_t secrets[2 * STORE_POOL_SECRET_LEN];

	t_pool_in(&in, secrets, "peer", "gold", seq, methods, 2, STORE_ROLE_INITIATOR, BATCH, NOW,
		  HARD, NULL, NULL);
	in.soft_expiry = NOW + 3600;
	return store_put(st, &in, 1, NOW);
}

/* The child: never returns. Exit status 3 means a store error (not a kill). */
static void child(int wfd, uint32_t round)
{
	struct secret *kek = NULL;
	struct store *st = NULL;
	uint32_t seq = round << 16;
	uint8_t want[T_KEY_LEN];

	if (store_kek_load(kek_path, &kek) < 0 || store_open(db_path, kek, &st) < 0)
		_exit(3);
	for (;;) {
		struct store_key k[3] = { 0 };
		struct store_key_id ids[3];
		size_t n = 1 + rnd(3);
		int r;

		if (rnd(8) == 0 && put_batch(st, ++seq) < 0)
			_exit(3);
		r = store_take(st, "peer", "gold", "enc", NOW, n, k);
		if (r == -ENOKEY) {
			if (put_batch(st, ++seq) < 0)
				_exit(3);
			continue;
		}
		if (r < 0)
			_exit(3);
		for (size_t i = 0; i < n; i++) {
			t_key_bytes(&k[i].meta.id, want);
			if (memcmp(k[i].key->p, want, T_KEY_LEN) != 0)
				_exit(4);
			ids[i] = k[i].meta.id;
			store_key_done(&k[i]);
		}
		/* after take returned: the key has left the daemon */
		if (write(wfd, ids, n * sizeof(ids[0])) != (ssize_t)(n * sizeof(ids[0])))
			_exit(5);
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read all the IDs the child wrote until the pipe closes; add them to ids. */
static size_t drain(int rfd, struct store_key_id **ids, size_t *cap, size_t n)
{
	uint8_t buf[4096];
	size_t have = 0;
	ssize_t got;

	for (;;) {
		got = read(rfd, buf + have, sizeof(buf) - have);
		if (got < 0 && errno == EINTR)
			continue;
		assert_true(got >= 0);
		if (got == 0)
			break;
		have += (size_t)got;
		while (have >= STORE_KEY_ID_LEN) {
			if (n == *cap) {
				*cap = *cap ? 2 * *cap : 1024;
				*ids = realloc(*ids, *cap * sizeof(**ids));
				assert_non_null(*ids);
			}
			memcpy((*ids)[n++].b, buf, STORE_KEY_ID_LEN);
			memmove(buf, buf + STORE_KEY_ID_LEN, have - STORE_KEY_ID_LEN);
			have -= STORE_KEY_ID_LEN;
		}
	}
	assert_int_equal(have, 0);	/* pipe writes of <= PIPE_BUF are atomic */
	return n;
}

static int query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	int v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

static void check_batches_whole(void)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(query_int(db, "SELECT count(*) FROM exchanges WHERE n_keys <> 32 OR "
				   "length(methods) <> 4 OR out_blob IS NULL <> (out_next = 32)"), 0);
	assert_int_equal(query_int(db, "SELECT count(*) FROM (SELECT exchange_id FROM exchanges "
				   "GROUP BY exchange_id HAVING count(*) > 1)"), 0);
	/* the outbound counter and the delivery log agree: no take half-applied */
	assert_int_equal(query_int(db, "SELECT count(*) FROM exchanges x WHERE out_next <> "
				   "(SELECT coalesce(sum(count), 0) FROM deliveries d "
				   " WHERE d.xid = x.xid AND d.direction = 0)"), 0);
	assert_int_equal(query_int(db, "SELECT count(*) FROM deliveries WHERE xid NOT IN "
				   "(SELECT xid FROM exchanges)"), 0);
	/* the pool counter the triggers keep equals the rows' sum */
	assert_int_equal(query_int(db, "SELECT count(*) FROM pools p WHERE out_n <> "
				   "(SELECT coalesce(sum(n_keys - out_next), 0) FROM exchanges x "
				   " WHERE x.peer = p.peer AND x.class = p.class AND out_blob IS NOT NULL) "
				   "OR in_n <> (SELECT coalesce(sum(n_keys - in_count), 0) FROM exchanges x "
				   " WHERE x.peer = p.peer AND x.class = p.class AND in_blob IS NOT NULL)"), 0);
	sqlite3_close(db);
}

static void test_kill9(void **state)
{
	struct secret *kek = NULL;
	struct store *st = NULL;
	struct store_key_id *ids = NULL;
	size_t cap = 0, n_ids = 0, reported_total = 0, lost_total = 0;
	struct store_counts c;
	uint64_t delivered_before = 0;
	double t0 = now_s();
	int killed_mid_run = 0;

	(void)state;
	assert_int_equal(store_kek_load(kek_path, &kek), 0);
	assert_int_equal(store_open(db_path, kek, &st), 0);
	assert_int_equal(put_batch(st, 1), 0);
	store_close(st);
	st = NULL;

	for (uint32_t round = 1; round <= ROUNDS; round++) {
		int pfd[2], status;
		size_t first = n_ids, reported;
		pid_t pid;

		assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			child(pfd[1], round);
		}
		close(pfd[1]);
		/* 20..400 ms: long enough to open and take, random within puts and takes */
		usleep((useconds_t)(20000 + rnd(380000)));
		assert_int_equal(kill(pid, SIGKILL), 0);
		n_ids = drain(pfd[0], &ids, &cap, n_ids);
		close(pfd[0]);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status))
			fail_msg("child exited %d before the kill (store error)", WEXITSTATUS(status));
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		killed_mid_run++;

		/* restart: every reported key is delivered, and none was reported before */
		assert_int_equal(store_open(db_path, kek, &st), 0);
		for (size_t i = first; i < n_ids; i++) {
			struct store_key_meta m;

			if (!set_add(&ids[i]))
				fail_msg("round %u: a key was handed out twice", round);
			assert_int_equal(store_key_info(st, &ids[i], &m), 0);
			assert_int_equal(m.state, STORE_DELIVERED);
			assert_int_equal(m.dir, STORE_OUTBOUND);
		}
		reported = n_ids - first;
		reported_total += reported;
		assert_int_equal(store_counts(st, "peer", "gold", STORE_OUTBOUND, &c), 0);
		/* delivered in the store but never reported: lost by the kill, not reused */
		assert_true(c.state[STORE_DELIVERED] >= delivered_before + reported);
		lost_total += c.state[STORE_DELIVERED] - delivered_before - reported;
		delivered_before = c.state[STORE_DELIVERED];
		store_close(st);
		st = NULL;
		check_batches_whole();
		if (now_s() - t0 > 6.0)
			break;
	}

	/* the pools go on after the last restart, with a key never seen */
	assert_int_equal(store_open(db_path, kek, &st), 0);
	for (int i = 0; i < 3; i++) {
		struct store_key k[1] = { 0 };
		int r = store_take(st, "peer", "gold", "enc", NOW, 1, k);

		if (r == -ENOKEY) {
			assert_int_equal(put_batch(st, 0xffff0000U + (uint32_t)i), 0);
			r = store_take(st, "peer", "gold", "enc", NOW, 1, k);
		}
		assert_int_equal(r, 0);
		assert_true(set_add(&k[0].meta.id));
		store_key_done(&k[0]);
	}
	store_close(st);
	secret_free(kek);
	free(ids);
	printf("# crash test: %d rounds of kill -9 in %.1f s; %zu keys handed out and reported, "
	       "all delivered, none twice; %zu lost between commit and report (never reused)\n",
	       killed_mid_run, now_s() - t0, reported_total, lost_total);
	assert_true(reported_total > 0);
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(db_path, sizeof(db_path), "%s/keys.db", dir);
	snprintf(kek_path, sizeof(kek_path), "%s/kek", dir);
	assert_int_equal(store_kek_init(kek_path), 0);
	set_slots = calloc(1U << SET_BITS, sizeof(*set_slots));
	set_used = calloc(1U << SET_BITS, 1);
	assert_non_null(set_slots);
	assert_non_null(set_used);
	return 0;
}

static int teardown(void **state)
{
	char p[192];
	static const char *const names[] = { "keys.db", "keys.db-wal", "keys.db-shm", "kek" };

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
	free(set_slots);
	free(set_used);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill9),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
