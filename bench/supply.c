// SPDX-License-Identifier: Apache-2.0
/*
 * bench/supply: the ETSI GS QKD 014 key supply of mfsd under load, keys per
 * second and request latency (p50/p99), against a reference measured in the
 * same run.
 *
 * In one process: a key store (real SQLite: WAL, synchronous=FULL, as mfsd
 * opens it) pre-filled with --keys outbound keys of one pool and --dec-keys
 * inbound keys of the same pool; the supply backend (src/supply/) behind the
 * ETSI 014 HTTPS server (src/etsi014/, --threads workers, one store handle
 * each), exactly as mfsd runs them; and --clients load clients
 * (bench/supply_client.c: --workers epoll threads, default 2), each one
 * mutually authenticated TLS 1.3 connection kept alive, sending requests
 * back to back or, with a rate, on an open-loop schedule of that total.
 * Certificates come from scripts/sae-certs (ECDSA P-256).
 *
 * Rows (each --seconds of wall time):
 *   reference N        the same server, TLS, parser and client, with a
 *                      backend that returns N constant keys without a
 *                      store: what HTTPS + ETSI 014 cost on this box
 *   enc_keys N         store_take of N keys per request (one transaction,
 *                      fsync'd before the response), back to back
 *   enc_keys N @R      the same paced to R requests/s over all clients
 *   dec_keys 1         one ID per request (store_get_by_ids; concurrent
 *                      requests of the pool share one transaction)
 *   reference 16       the reference with 16 keys per request
 *   dec_keys 16        16 IDs per request, one transaction per request or
 *                      per group of concurrent requests
 *   push               not here: bench/push measures the push socket and
 *                      libmfs-client (docs/performance.md "Push socket")
 *
 * ratio = keys/s of the row / keys/s of the reference with the same N.
 * Every row also counts errors (non-200), keys per response that differ
 * from N, and duplicate key IDs and key values across the whole run (all
 * rows of the store together): all must be 0.
 *
 * Progress lines on stderr also show the p99 from each request's scheduled
 * time (p99s: queueing in the client included) and the late sends.
 *
 *   bench/supply [--clients 64] [--threads 16] [--seconds 10] [--keys 2000000]
 *                [--dec-keys 30000] [--workers 2] [--markdown] [--only ROW-SUBSTRING]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "crypto/rng.h"
#include "etsi014/server.h"
#include "base/secret.h"
#include "kex/kex.h"
#include "proto/pool.h"
#include "store/store.h"
#include "supply/supply.h"
#include "supply_client.h"

static char dir[64];
static char path[8][192];
enum { P_CA, P_SRV_CRT, P_SRV_KEY, P_CLI_CRT, P_CLI_KEY, P_DB, P_KEK };

static int trivial_status(void *t, const struct etsi014_call *c, struct etsi014_status *st,
			  struct etsi014_error *err)
{
	(void)t;
	(void)c;
	(void)err;
	snprintf(st->source_KME_ID, sizeof(st->source_KME_ID), "ref");
	snprintf(st->target_KME_ID, sizeof(st->target_KME_ID), "ref");
	return 0;
}

static int trivial_enc(void *t, const struct etsi014_call *c, const struct etsi014_key_request *req,
		       struct etsi014_key *keys, struct etsi014_error *err)
{
	static uint64_t ctr;

	(void)t;
	(void)c;
	(void)err;
	for (unsigned i = 0; i < req->number; i++) {
		uint64_t n = __atomic_fetch_add(&ctr, 1, __ATOMIC_RELAXED);

		memset(keys[i].id, 0, 16);
		memcpy(keys[i].id, &n, sizeof(n));
		keys[i].len = req->size / 8;
		memset(keys[i].key, 0x5a, keys[i].len);
		memcpy(keys[i].key, &n, sizeof(n));
	}
	return 0;
}

static int trivial_dec(void *t, const struct etsi014_call *c, const struct etsi014_key_ids *ids,
		       struct etsi014_key *keys, struct etsi014_error *err)
{
	(void)t;
	(void)c;
	(void)ids;
	(void)keys;
	(void)err;
	return -ENOKEY;
}

static const struct etsi014_backend trivial = {
	.status = trivial_status, .enc_keys = trivial_enc, .dec_keys = trivial_dec,
};

static void pki(void)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "set -e; S='%s/scripts/sae-certs'; \"$S\" init '%s/pki' >/dev/null; "
		 "\"$S\" server '%s/pki' kme 127.0.0.1 >/dev/null; "
		 "\"$S\" client '%s/pki' SAE_A >/dev/null", MFS_SOURCE_ROOT, dir, dir, dir);
	if (system(cmd) != 0)
		bench_die("scripts/sae-certs failed");
	snprintf(path[P_CA], sizeof(path[0]), "%s/pki/ca.crt", dir);
	snprintf(path[P_SRV_CRT], sizeof(path[0]), "%s/pki/kme.crt", dir);
	snprintf(path[P_SRV_KEY], sizeof(path[0]), "%s/pki/kme.key", dir);
	snprintf(path[P_CLI_CRT], sizeof(path[0]), "%s/pki/SAE_A.crt", dir);
	snprintf(path[P_CLI_KEY], sizeof(path[0]), "%s/pki/SAE_A.key", dir);
	snprintf(path[P_DB], sizeof(path[0]), "%s/keys.db", dir);
	snprintf(path[P_KEK], sizeof(path[0]), "%s/kek", dir);
}

static struct sload_key *dec_ids;
static size_t n_dec_ids;
static size_t dec_from, dec_count;	/* the IDs the next dec_keys row asks for */

/*
 * n keys of pool (gpu-dc, bulk) in direction d: exchanges of STORE_POOL_KEYS_MAX
 * keys per direction with random pool secrets, up to STORE_PUT_MAX exchanges per
 * put. This side is the initiator for outbound keys (direction 0 is outbound) and
 * the responder for inbound ones (direction 0 is inbound), so the wanted keys are
 * always protocol direction 0.
 */
static void prefill(struct store *st, size_t n, enum store_direction d)
{
	static struct store_pool_in in[STORE_PUT_MAX];
	static uint8_t sec[STORE_PUT_MAX][2 * STORE_POOL_SECRET_LEN];
	int64_t now = time(NULL);

	if (d == STORE_INBOUND && !(dec_ids = calloc(n, sizeof(*dec_ids))))
		bench_die("out of memory");
	for (size_t done = 0; done < n;) {
		size_t m = 0;

		bench_check(crypto_random(sec, sizeof(sec)), "random pool secrets");
		while (done < n && m < STORE_PUT_MAX) {
			size_t k = n - done < STORE_POOL_KEYS_MAX ? n - done : STORE_POOL_KEYS_MAX;
			struct store_pool_in *x = &in[m];

			*x = (struct store_pool_in){
				.x = { .peer = "gpu-dc", .class_name = "bulk", .id_len = POOL_ID_LEN,
				       .methods = { KEX_ID_MLKEM768 }, .n_methods = 1 },
				.role = d == STORE_INBOUND ? STORE_ROLE_RESPONDER : STORE_ROLE_INITIATOR,
				.secret = sec[m], .n_keys = k, .key_len = 32, .not_before = now - 60,
				.soft_expiry = now + 86400, .hard_expiry = now + 2 * 86400,
			};
			bench_check(crypto_random(x->x.id, POOL_ID_LEN), "exchange id");
			pool_exchange_id_from(x->x.id);
			if (d == STORE_INBOUND)
				for (size_t i = 0; i < k; i++)
					pool_key_id(x->x.id, 0, (unsigned)i, dec_ids[n_dec_ids++].id);
			done += k;
			m++;
		}
		bench_check(store_put(st, in, m, now), "store_put");
	}
	mfs_wipe(sec, sizeof(sec));
}

struct row {
	char name[48];
	double keys_s, req_s, p50, p99, ratio;
	uint64_t errors, mismatched, keys;
	char err[160];
};

static struct sload_key *all;
static size_t n_all, cap_all;

static void keep(const struct sload_result *r)
{
	if (n_all + r->n_served > cap_all) {
		cap_all = (n_all + r->n_served) * 2;
		if (!(all = realloc(all, cap_all * sizeof(*all))))
			bench_die("out of memory");
	}
	if (r->n_served)
		memcpy(all + n_all, r->served, r->n_served * sizeof(*all));
	n_all += r->n_served;
}

/* keys/s of a row over its reference's; -1 when the reference did not run. */
static double ratio(const struct row *r, const struct row *ref)
{
	return ref->keys_s > 0 && r->keys_s > 0 ? r->keys_s / ref->keys_s : -1;
}

static const char *only;	/* --only: run the rows whose name contains this */
static unsigned workers;	/* --workers: the load client's event-loop threads (0: its default) */

static struct supply *sup;	/* the store-backed supply (rows with record) */

static void run_row(struct row *row, const char *name, const struct etsi014_backend *be,
		    unsigned threads, enum sload_mode mode, unsigned number, double rate,
		    unsigned clients, double seconds, bool record)
{
	struct etsi014_server_config cfg = {
		.address = "127.0.0.1", .cert_file = path[P_SRV_CRT], .key_file = path[P_SRV_KEY],
		.ca_file = path[P_CA], .threads = threads,
		.limits = { .key_size = 256, .min_key_size = 64, .max_key_size = 8192,
			    .max_key_per_request = 128, .max_SAE_ID_count = 0 },
	};
	struct sload_opts o = { .host = "127.0.0.1", .cert = path[P_CLI_CRT], .key = path[P_CLI_KEY],
				.ca = path[P_CA], .sae = "SAE_B",
				.mode = mode, .clients = clients, .workers = workers, .seconds = seconds,
				.number = number, .rate = rate, .ids = dec_ids + dec_from, .n_ids = dec_count,
				.keep_keys = record };
	struct etsi014_server *s;
	struct sload_result r;
	struct supply_stats before, after;
	char err[ETSI014_ERR_LEN];

	memset(row, 0, sizeof(*row));
	snprintf(row->name, sizeof(row->name), "%s", name);
	if (only && !strstr(name, only))
		return;
	if (etsi014_server_new(&cfg, be, &s, err, sizeof(err)) < 0)
		bench_die("server: %s", err);
	bench_check(etsi014_server_start(s), "server start");
	o.port = etsi014_server_port(s);
	supply_stats(sup, &before);
	if (sload_run(&o, &r) < 0)
		bench_die("client: %s", r.first_error);
	etsi014_server_free(s);
	supply_stats(sup, &after);
	if (be->arg == sup && mode == SLOAD_ENC)
		fprintf(stderr, "  %-22s reserve: %llu keys served from it, %llu requests missed it, "
			"%llu refills, %llu held\n", name,
			(unsigned long long)(after.reserve_served - before.reserve_served),
			(unsigned long long)(after.reserve_misses - before.reserve_misses),
			(unsigned long long)(after.reserve_refills - before.reserve_refills),
			(unsigned long long)after.reserve_held);
	row->keys_s = (double)r.keys / r.seconds;
	row->req_s = (double)r.requests / r.seconds;
	row->p50 = r.p50_ms;
	row->p99 = r.p99_ms;
	row->errors = r.errors;
	row->mismatched = r.mismatched;
	row->keys = r.keys;
	snprintf(row->err, sizeof(row->err), "%s", r.first_error);
	if (record)
		keep(&r);
	free(r.served);
	fprintf(stderr, "  %-24s %9.0f keys/s %8.0f req/s  p50 %7.3f ms  p99 %7.3f ms  p99s %7.3f ms  "
		"late %llu  errors %llu%s%s\n",
		row->name, row->keys_s, row->req_s, row->p50, row->p99, r.p99_sched_ms,
		(unsigned long long)r.late, (unsigned long long)row->errors, row->err[0] ? "  first: " : "",
		row->err);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "clients", required_argument, NULL, 'c' }, { "threads", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 's' }, { "keys", required_argument, NULL, 'k' },
		{ "dec-keys", required_argument, NULL, 'd' }, { "markdown", no_argument, NULL, 'm' },
		{ "only", required_argument, NULL, 'o' }, { "reserve", required_argument, NULL, 'r' },
		{ "workers", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' }, { 0 },
	};
	unsigned clients = 64, threads = 16;
	double seconds = 10, load[3] = { 0 };
	size_t n_keys = 2000000, n_dec = 30000, reserve = 2048;
	bool markdown = false;
	struct secret *kek = NULL;
	struct etsi014_backend be;
	struct store *st;
	struct row rows[16];
	int n = 0, c;
	uint64_t dup_ids, dup_keys;
	char err[200];

	bench_set_name("bench/supply");
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': clients = (unsigned)strtoul(optarg, NULL, 10); break;
		case 't': threads = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': seconds = strtod(optarg, NULL); break;
		case 'k': n_keys = strtoull(optarg, NULL, 10); break;
		case 'd': n_dec = strtoull(optarg, NULL, 10); break;
		case 'm': markdown = true; break;
		case 'o': only = optarg; break;
		case 'r': reserve = strtoull(optarg, NULL, 10); break;
		case 'w': workers = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'h':
			puts("Usage: bench/supply [--clients 64] [--threads 16] [--seconds 10] "
			     "[--keys 2000000] [--dec-keys 30000] [--reserve 2048] [--workers 2]\n"
			     "       [--markdown] [--only ROW]\n"
			     "ETSI 014 key supply: keys/s and p50/p99 latency of enc_keys (1 and 128\n"
			     "keys per request, back to back and paced) and dec_keys, with a reference\n"
			     "(the same HTTPS server without a store) measured in the same run.\n"
			     "--reserve: the supply's delivery reserve as mfsd's [supply] reserve\n"
			     "(default 2048; 0 = every request commits its own delivery).\n"
			     "--workers: event-loop threads of the load client (default 2, at most 64).");
			return 0;
		default: return 2;
		}
	}
	if (!clients || !threads || threads > ETSI014_THREADS_MAX || seconds <= 0 ||
	    workers > SLOAD_WORKERS_MAX)
		bench_die("bad arguments");
	snprintf(dir, sizeof(dir), "/tmp/bench-supply-XXXXXX");
	if (!mkdtemp(dir))
		bench_die("mkdtemp: %s", strerror(errno));
	pki();
	getloadavg(load, 3);
	fprintf(stderr, "bench/supply: %u clients on %u client threads, %u server threads, %.0f s per row, "
		"reserve %zu; load average %.2f %.2f %.2f; pre-filling %zu + %zu keys ...\n", clients,
		workers ? workers : SLOAD_WORKERS_DEFAULT, threads, seconds, reserve,
		load[0], load[1], load[2], n_keys, n_dec);
	bench_check(store_kek_init(path[P_KEK]), "kek");
	bench_check(store_kek_load(path[P_KEK], &kek), "kek");
	bench_check(store_open(path[P_DB], kek, &st), "store_open");
	prefill(st, n_keys, STORE_OUTBOUND);
	prefill(st, n_dec, STORE_INBOUND);
	store_close(st);
	{
		static const struct supply_sae saes[] = {
			{ .id = "SAE_A", .peer = "gpu-dc", .classes = { "bulk" }, .n_classes = 1,
			  .roles = SUPPLY_MASTER | SUPPLY_SLAVE },
			{ .id = "SAE_B", .remote = true, .peer = "gpu-dc", .classes = { "bulk" },
			  .n_classes = 1 },
		};
		/* SAE_A: master toward SAE_B (outbound pool) and slave of SAE_B (inbound pool). */
		struct supply_config sc = { .kme_id = "office", .db_path = path[P_DB], .kek = kek,
					    .saes = saes, .n_saes = 2, .reserve = reserve };

		if (supply_new(&sc, &sup, err, sizeof(err)) < 0)
			bench_die("supply: %s", err);
	}
	supply_backend(sup, &be);

	run_row(&rows[n++], "reference 1", &trivial, threads, SLOAD_ENC, 1, 0, clients, seconds, false);
	run_row(&rows[n++], "enc_keys 1", &be, threads, SLOAD_ENC, 1, 0, clients, seconds, true);
	rows[n - 1].ratio = ratio(&rows[n - 1], &rows[n - 2]);
	run_row(&rows[n++], "reference 128", &trivial, threads, SLOAD_ENC, 128, 0, clients, seconds, false);
	run_row(&rows[n++], "enc_keys 128", &be, threads, SLOAD_ENC, 128, 0, clients, seconds, true);
	rows[n - 1].ratio = ratio(&rows[n - 1], &rows[n - 2]);
	run_row(&rows[n++], "enc_keys 128 @160/s", &be, threads, SLOAD_ENC, 128, 160, clients, seconds, true);
	rows[n - 1].ratio = ratio(&rows[n - 1], &rows[2]);
	run_row(&rows[n++], "enc_keys 16 @1250/s", &be, threads, SLOAD_ENC, 16, 1250, clients, seconds, true);
	rows[n - 1].ratio = -1;	/* no reference with 16 keys per request */
	/* each dec_keys row asks for its own half of the inbound IDs */
	dec_from = 0;
	dec_count = n_dec_ids / 2;
	run_row(&rows[n++], "dec_keys 1", &be, threads, SLOAD_DEC, 1, 0, clients, seconds, true);
	rows[n - 1].ratio = ratio(&rows[n - 1], &rows[0]);
	run_row(&rows[n++], "reference 16", &trivial, threads, SLOAD_ENC, 16, 0, clients, seconds,
		false);
	dec_from = n_dec_ids / 2;
	dec_count = n_dec_ids - n_dec_ids / 2;
	run_row(&rows[n++], "dec_keys 16", &be, threads, SLOAD_DEC, 16, 0, clients, seconds, true);
	rows[n - 1].ratio = ratio(&rows[n - 1], &rows[n - 2]);
	sload_dups(all, n_all, &dup_ids, &dup_keys);
	getloadavg(load, 3);

	if (markdown) {
		printf("| row | keys/s | req/s | p50 ms | p99 ms | ratio | errors | short |\n");
		printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
		for (int i = 0; i < n; i++)
			printf("| %s | %.0f | %.0f | %.2f | %.2f | %s%.2f | %llu | %llu |\n", rows[i].name,
			       rows[i].keys_s, rows[i].req_s, rows[i].p50, rows[i].p99,
			       rows[i].ratio > 0 ? "" : rows[i].ratio < 0 ? "- " : "(ref) ",
			       rows[i].ratio > 0 ? rows[i].ratio : rows[i].ratio < 0 ? 0 : 1.0,
			       (unsigned long long)rows[i].errors, (unsigned long long)rows[i].mismatched);
		printf("| push | measured by bench/push (the push socket and libmfs-client) | | | | | | |\n");
	} else {
		for (int i = 0; i < n; i++)
			printf("%-22s keys/s %9.0f req/s %8.0f p50 %7.3f ms p99 %7.3f ms ratio %.2f errors %llu short %llu\n",
			       rows[i].name, rows[i].keys_s, rows[i].req_s, rows[i].p50, rows[i].p99,
			       rows[i].ratio, (unsigned long long)rows[i].errors,
			       (unsigned long long)rows[i].mismatched);
	}
	printf("\n%zu keys served from the store in all rows: %llu duplicate key IDs, %llu duplicate keys; "
	       "load average after: %.2f %.2f %.2f\n", n_all, (unsigned long long)dup_ids,
	       (unsigned long long)dup_keys, load[0], load[1], load[2]);
	supply_free(sup);
	secret_free(kek);
	free(all);
	free(dec_ids);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench/supply: cannot remove %s\n", dir);
	}
	return dup_ids || dup_keys;
}
