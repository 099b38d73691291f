/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ETSI GS QKD 014 load client: `clients` mutually authenticated TLS
 * connections kept alive, driven by `workers` event-loop threads (epoll,
 * non-blocking OpenSSL), sending enc_keys or dec_keys requests for a fixed
 * time (or until the key IDs to fetch run out).
 *
 * Pacing: with rate 0, each connection sends its next request as soon as
 * the previous answer arrived (closed loop). With a rate, the schedule is
 * open loop: request k is due at t0 + k / rate; worker w owns the requests
 * k = w, w + W, w + 2W, ... (W workers) and sends each, once due, on any of
 * its idle connections; when none is idle the request waits in the client
 * and is sent late. t0 is taken once every connection is established (or
 * has failed); the run lasts `seconds` from t0, requests still in flight
 * then are waited for (up to SLOAD_DRAIN_S more).
 *
 * Records every request's latency twice: from the write of the request to
 * the last byte of the response (p50/p99/max_ms), and from the time the
 * request was due (p50/p99/max_sched_ms: its scheduled time with a rate,
 * the arrival of the previous answer on its connection, or its
 * establishment, back to back), so queueing in the client shows; `late`
 * counts requests written more than SLOAD_LATE_MS after they were due.
 * Also the status codes and every key served (ID and the first 16 bytes
 * of the key), so duplicates can be counted within a run and across runs
 * (ids_out). Used by bench/supply and by bench/supply-load
 * (tests/integration/test_supply_load.sh).
 */
#ifndef MFS_BENCH_SUPPLY_CLIENT_H
#define MFS_BENCH_SUPPLY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLOAD_WORKERS_DEFAULT 2
#define SLOAD_WORKERS_MAX 64
#define SLOAD_LATE_MS 1.0	/* a request written later than this after its due time is late */
#define SLOAD_DRAIN_S 10.0	/* after the run, wait this long at most for answers in flight */

enum sload_mode {
	SLOAD_ENC = 0,		/* POST enc_keys {"number":n} (GET with get_form) */
	SLOAD_DEC = 1,		/* POST dec_keys with n IDs of ids (GET for n = 1 with get_form) */
	SLOAD_STATUS = 2,	/* GET status */
};

struct sload_key {
	uint8_t id[16];
	uint8_t key16[16];	/* first 16 bytes of the key */
};

struct sload_opts {
	const char *host;	/* numeric address */
	unsigned port;
	const char *cert, *key, *ca;	/* client certificate, its key, the server's CA */
	const char *sae;	/* path SAE ID (slave for enc, master for dec) */
	enum sload_mode mode;
	unsigned clients;	/* connections */
	unsigned workers;	/* event-loop threads; 0 = SLOAD_WORKERS_DEFAULT (at most clients) */
	double seconds;		/* run time (dec: also stops when ids run out) */
	unsigned number;	/* keys (enc) or IDs (dec) per request */
	bool get_form;		/* use the GET form where the spec allows it */
	double rate;		/* requests/s over all clients (open loop); 0 = back to back */
	const struct sload_key *ids;	/* dec: the IDs to fetch */
	size_t n_ids;
	bool keep_keys;		/* record every served key (for dups and ids_out) */
};

struct sload_result {
	uint64_t requests;	/* answered */
	uint64_t ok;		/* 200 */
	uint64_t errors;	/* anything else, including lost connections */
	uint64_t status[6];	/* 200, 400, 401, 404/405, 503, other */
	uint64_t keys;		/* keys in 200 responses */
	uint64_t mismatched;	/* 200 responses whose key count is not the one asked for */
	double seconds;		/* wall time of the run (from t0, in-flight answers included) */
	double p50_ms, p99_ms, max_ms;	/* write of the request to its answer's last byte */
	double p50_sched_ms, p99_sched_ms, max_sched_ms;	/* due time to the last byte */
	uint64_t late;		/* requests written more than SLOAD_LATE_MS after due */
	struct sload_key *served;	/* keep_keys: every key served (malloc, caller frees) */
	size_t n_served;
	char first_error[160];
};

/* Run; 0, or -1 with a reason in res->first_error (setup failed). */
int sload_run(const struct sload_opts *o, struct sload_result *res);
/* Duplicate IDs and duplicate key prefixes among keys[0..n) (sorts a copy). */
void sload_dups(const struct sload_key *keys, size_t n, uint64_t *dup_ids, uint64_t *dup_keys);

#endif
