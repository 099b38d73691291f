// SPDX-License-Identifier: Apache-2.0
/*
 * bench/supply-load: the ETSI GS QKD 014 load client (supply_client.h) as a
 * command, for tests/integration/test_supply_load.sh and by hand against a
 * running mfsd (--workers event-loop threads drive the --clients connections).
 * Prints one line of key=value results; with --ids-out writes
 * every served key as "<key_ID> <first 16 key bytes, hex>" lines, with
 * --ids-in reads key IDs (first word of each line) to fetch with dec_keys.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etsi014/etsi014.h"
#include "supply_client.h"

static void usage(FILE *f)
{
	fputs("Usage: supply-load --port N --cert FILE --key FILE --ca FILE --sae SAE_ID\n"
	      "                   [--host ADDR] [--mode enc|dec|status] [--clients N]\n"
	      "                   [--seconds S] [--number N] [--get] [--rate REQ_PER_S]\n"
	      "                   [--workers W] [--ids-in FILE] [--ids-out FILE]\n\n"
	      "Runs N mTLS keep-alive connections (default 64), driven by W event-loop threads\n"
	      "(default 2), against an ETSI GS QKD 014 KME for S seconds (default 10) once all\n"
	      "are connected, sending enc_keys (default; N keys per request), dec_keys (the IDs\n"
	      "of --ids-in, N per request) or status requests: back to back on each connection,\n"
	      "or with --rate on an open-loop schedule (request k due at k / REQ_PER_S s, sent\n"
	      "on any idle connection).\n"
	      "Prints: requests ok errors keys mismatched dup_ids dup_keys seconds keys_per_s\n"
	      "req_per_s p50_ms p99_ms max_ms (write of a request to the last byte of its\n"
	      "answer) p50_sched_ms p99_sched_ms max_sched_ms (from its due time) late (written\n"
	      "over 1 ms after due) s200 s400 s401 s40x s503 other first_error.\n"
	      "Exit status 0 when the run completed (check errors= yourself), 1 otherwise.\n", f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' }, { "port", required_argument, NULL, 'p' },
		{ "cert", required_argument, NULL, 'c' }, { "key", required_argument, NULL, 'k' },
		{ "ca", required_argument, NULL, 'a' }, { "sae", required_argument, NULL, 's' },
		{ "mode", required_argument, NULL, 'm' }, { "clients", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 't' }, { "number", required_argument, NULL, 'N' },
		{ "get", no_argument, NULL, 'g' }, { "rate", required_argument, NULL, 'r' },
		{ "ids-in", required_argument, NULL, 'i' }, { "ids-out", required_argument, NULL, 'o' },
		{ "workers", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' }, { 0 },
	};
	struct sload_opts o = { .host = "127.0.0.1", .clients = 64, .seconds = 10, .number = 1 };
	const char *ids_in = NULL, *ids_out = NULL;
	struct sload_result r;
	struct sload_key *ids = NULL;
	size_t n_ids = 0, cap = 0;
	uint64_t dup_ids = 0, dup_keys = 0;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'H': o.host = optarg; break;
		case 'p': o.port = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'c': o.cert = optarg; break;
		case 'k': o.key = optarg; break;
		case 'a': o.ca = optarg; break;
		case 's': o.sae = optarg; break;
		case 'm':
			if (!strcmp(optarg, "enc"))
				o.mode = SLOAD_ENC;
			else if (!strcmp(optarg, "dec"))
				o.mode = SLOAD_DEC;
			else if (!strcmp(optarg, "status"))
				o.mode = SLOAD_STATUS;
			else {
				usage(stderr);
				return 2;
			}
			break;
		case 'n': o.clients = (unsigned)strtoul(optarg, NULL, 10); break;
		case 't': o.seconds = strtod(optarg, NULL); break;
		case 'N': o.number = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'g': o.get_form = true; break;
		case 'r': o.rate = strtod(optarg, NULL); break;
		case 'i': ids_in = optarg; break;
		case 'o': ids_out = optarg; break;
		case 'w': o.workers = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!o.port || !o.cert || !o.key || !o.ca || !o.sae || !o.clients || !o.number ||
	    o.clients > 4096 || o.number > 1024 || o.workers > SLOAD_WORKERS_MAX ||
	    (o.mode == SLOAD_DEC && !ids_in)) {
		usage(stderr);
		return 2;
	}
	if (ids_in) {
		FILE *f = fopen(ids_in, "r");
		char line[256];

		if (!f) {
			perror(ids_in);
			return 1;
		}
		while (fgets(line, sizeof(line), f)) {
			if (n_ids == cap) {
				cap = cap ? 2 * cap : 1024;
				if (!(ids = realloc(ids, cap * sizeof(*ids))))
					return 1;
			}
			if (etsi014_key_id_parse(line, ETSI014_KEY_ID_STR_LEN, ids[n_ids].id) == 0)
				n_ids++;
		}
		fclose(f);
		o.ids = ids;
		o.n_ids = n_ids;
	}
	o.keep_keys = true;
	if (sload_run(&o, &r) < 0) {
		fprintf(stderr, "supply-load: %s\n", r.first_error);
		return 1;
	}
	sload_dups(r.served, r.n_served, &dup_ids, &dup_keys);
	if (ids_out) {
		FILE *f = fopen(ids_out, "w");

		if (!f) {
			perror(ids_out);
			return 1;
		}
		for (size_t i = 0; i < r.n_served; i++) {
			char id[ETSI014_KEY_ID_STR_LEN + 1];

			etsi014_key_id_format(r.served[i].id, id);
			fprintf(f, "%s ", id);
			for (int j = 0; j < 16; j++)
				fprintf(f, "%02x", r.served[i].key16[j]);
			fputc('\n', f);
		}
		if (fclose(f) != 0) {
			perror(ids_out);
			return 1;
		}
	}
	printf("requests=%llu ok=%llu errors=%llu keys=%llu mismatched=%llu dup_ids=%llu "
	       "dup_keys=%llu seconds=%.2f keys_per_s=%.0f req_per_s=%.0f p50_ms=%.3f p99_ms=%.3f "
	       "max_ms=%.3f p50_sched_ms=%.3f p99_sched_ms=%.3f max_sched_ms=%.3f late=%llu "
	       "s200=%llu s400=%llu s401=%llu s40x=%llu s503=%llu other=%llu first_error=\"%s\"\n",
	       (unsigned long long)r.requests, (unsigned long long)r.ok,
	       (unsigned long long)r.errors, (unsigned long long)r.keys,
	       (unsigned long long)r.mismatched, (unsigned long long)dup_ids,
	       (unsigned long long)dup_keys, r.seconds, (double)r.keys / r.seconds,
	       (double)r.requests / r.seconds, r.p50_ms, r.p99_ms, r.max_ms, r.p50_sched_ms,
	       r.p99_sched_ms, r.max_sched_ms, (unsigned long long)r.late,
	       (unsigned long long)r.status[0], (unsigned long long)r.status[1],
	       (unsigned long long)r.status[2], (unsigned long long)r.status[3],
	       (unsigned long long)r.status[4], (unsigned long long)r.status[5], r.first_error);
	free(r.served);
	free(ids);
	return 0;
}
