/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ETSI GS QKD 014 load client: n threads, each with one mutually
 * authenticated TLS connection kept alive, sending enc_keys or dec_keys
 * requests back to back for a fixed time (or until the key IDs to fetch
 * run out). Records every request's latency (write of the request to the
 * last byte of the response), the status codes, and every key served (ID
 * and the first 16 bytes of the key), so duplicates can be counted within
 * a run and across runs (ids_out). Used by bench/supply and by
 * bench/supply-load (tests/integration/test_supply_load.sh).
 */
#ifndef MFS_BENCH_SUPPLY_CLIENT_H
#define MFS_BENCH_SUPPLY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
	unsigned clients;	/* threads = connections */
	double seconds;		/* run time (dec: also stops when ids run out) */
	unsigned number;	/* keys (enc) or IDs (dec) per request */
	bool get_form;		/* use the GET form where the spec allows it */
	double rate;		/* max requests/s over all clients; 0 = as fast as possible */
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
	double seconds;		/* wall time of the run */
	double p50_ms, p99_ms, max_ms;
	struct sload_key *served;	/* keep_keys: every key served (malloc, caller frees) */
	size_t n_served;
	char first_error[160];
};

/* Run; 0, or -1 with a reason in res->first_error (setup failed). */
int sload_run(const struct sload_opts *o, struct sload_result *res);
/* Duplicate IDs and duplicate key prefixes among keys[0..n) (sorts a copy). */
void sload_dups(const struct sload_key *keys, size_t n, uint64_t *dup_ids, uint64_t *dup_keys);

#endif
