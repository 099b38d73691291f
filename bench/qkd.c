/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/qkd: the QKD network simulator's cost.
 *
 *  1. Key relay latency against hop count: one 256-bit end-to-end key
 *     through a chain of 1..8 links (qnet_enc_keys: fresh key, then per hop
 *     an authenticated one-time-pad seal and open), in-process. Reference,
 *     measured in the same run: the raw per-hop cryptography (two
 *     HMAC-SHA-256 over a relay message and two 32-byte XORs), so the ratio
 *     says what the relay adds beyond the MAC and the pad.
 *  2. Keys per second through a KSA: ETSI 014 enc_keys over HTTPS with
 *     mutual TLS (one keep-alive libcurl client) at the source node of a
 *     two-hop chain, with dec_keys of the same IDs at the destination, for
 *     1 and 64 keys per request. Reference: the same keys in-process
 *     (qnet_enc_keys + qnet_dec_keys, no HTTP, no TLS).
 *
 *   bench/qkd [--reps N] [--markdown]
 * Times are medians over the repetitions; the box may be loaded (ratios to
 * the same-run reference stay meaningful).
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "crypto/mac.h"
#include "daemon/kme_json.h"
#include "etsi014/etsi014.h"
#include "qkdsim/qconf.h"
#include "qkdsim/qksa.h"
#include "qkdsim/qnet.h"

static int reps = 5;
static bool markdown;

/* 1..BENCH_MAX_REPS, else exit. */
static int reps_arg(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*s == '\0' || *end || v < 1 || v > BENCH_MAX_REPS)
		bench_die("--reps: 1..%d", BENCH_MAX_REPS);
	return (int)v;
}

static struct qnet *chain(size_t hops, const char *extra)
{
	char text[8192];
	size_t n = 0;
	struct qconf *c;
	struct qconf_error err;
	struct qnet *net = calloc(1, sizeof(*net));

	n += (size_t)snprintf(text + n, sizeof(text) - n,
			      "[qkdsim]\nseed = 0000000000000000000000000000000000000000000000000000000000000001\n"
			      "max_key_per_request = 64\n%s", extra ? extra : "");
	for (size_t i = 0; i <= hops; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "[node n%zu]\nkme_id = k%zu\nsae = s%zu\n%s",
				      i, i, i, (extra && (i == 0 || i == hops)) ?
				      (i == 0 ? "ksa_listen = 127.0.0.1:0\nksa_cert = kme-office.crt\nksa_key = kme-office.key\n" :
				       "ksa_listen = 127.0.0.1:0\nksa_cert = kme-dc.crt\nksa_key = kme-dc.key\n") : "");
	for (size_t i = 0; i < hops; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "[link l%zu]\nnodes = n%zu n%zu\nrate = 1G\npool = 8M\n", i, i, i + 1);
	if (!net || qconf_parse(text, n, "bench", ".", &c, &err) < 0)
		bench_die("config: %s", err.text);
	bench_check(qnet_init(net, c, 0), "qnet_init");
	bench_check(qnet_tick(net, 1000), "tick");	/* fills every link */
	return net;
}

static double relay_us(size_t hops, unsigned keys)
{
	double v[BENCH_MAX_REPS];
	char src[8], dst[8];

	snprintf(src, sizeof(src), "s0");
	snprintf(dst, sizeof(dst), "s%zu", hops);
	for (int r = 0; r < reps; r++) {
		struct qnet *net = chain(hops, NULL);
		double t0 = bench_clock(CLOCK_MONOTONIC);

		for (unsigned k = 0; k < keys; k++) {
			struct qnet_keys out, in;

			bench_check(qnet_enc_keys(net, 0, src, dst, 1, 256, &out), "enc_keys");
			bench_check(qnet_dec_keys(net, (int)hops, dst, src,
						  (const uint8_t (*)[16])out.ids, 1, &in), "dec_keys");
			qnet_keys_free(&out);
			qnet_keys_free(&in);
		}
		v[r] = (bench_clock(CLOCK_MONOTONIC) - t0) * 1e6 / keys;
		qnet_free(net);
		free(net);
	}
	return bench_median(v, reps);
}

/* The raw per-hop cryptography: seal + open = 2 HMAC-SHA-256 of a relay message, 2 XORs. */
static double hop_ref_us(unsigned n)
{
	double v[BENCH_MAX_REPS];
	uint8_t key[32] = { 1 }, msg[128] = { 2 }, tag[32], pad[32] = { 3 }, k[32] = { 4 };

	for (int r = 0; r < reps; r++) {
		double t0 = bench_clock(CLOCK_MONOTONIC);

		for (unsigned i = 0; i < n; i++) {
			for (int s = 0; s < 2; s++) {
				for (int j = 0; j < 32; j++)
					k[j] ^= pad[j];
				bench_check(hmac(HASH_SHA256, key, sizeof(key), msg, sizeof(msg), tag), "hmac");
				msg[0] ^= tag[0];
			}
		}
		v[r] = (bench_clock(CLOCK_MONOTONIC) - t0) * 1e6 / n;
	}
	return bench_median(v, reps);
}

/* ---- through the KSA ---- */

struct body {
	uint8_t buf[KME_BODY_MAX];
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t len = size * n;

	if (len > sizeof(b->buf) - b->len)
		return 0;
	memcpy(b->buf + b->len, p, len);
	b->len += len;
	return len;
}

static CURL *client(const char *dir, const char *sae, struct body *b)
{
	char cert[512], key[512], ca[512];
	CURL *e = curl_easy_init();

	snprintf(cert, sizeof(cert), "%s/%s.crt", dir, sae);
	snprintf(key, sizeof(key), "%s/%s.key", dir, sae);
	snprintf(ca, sizeof(ca), "%s/qkd-ca.pem", dir);
	curl_easy_setopt(e, CURLOPT_SSLCERT, cert);
	curl_easy_setopt(e, CURLOPT_SSLKEY, key);
	curl_easy_setopt(e, CURLOPT_CAINFO, ca);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
	return e;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile bool ticking;

static void *ticker(void *arg)
{
	struct qnet *net = arg;
	uint64_t t = 1000;

	while (ticking) {
		usleep(10000);
		pthread_mutex_lock(&lock);
		qnet_tick(net, t += 10);
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

static int request(CURL *e, struct body *b, const char *url, const char *post)
{
	long code = 0;
	struct curl_slist *h = curl_slist_append(curl_slist_append(NULL, "Content-Type: application/json"),
						 "Expect:");

	b->len = 0;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
	if (curl_easy_perform(e) != CURLE_OK)
		bench_die("%s: request failed", url);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(h);
	return (int)code;
}

static void ksa_rate(const char *dir, unsigned per_req, double *https_kps, double *direct_kps)
{
	char extra[600];
	struct qnet *net;
	struct qksa ksa[2];
	pthread_t th;
	struct body *b = malloc(sizeof(*b));
	double v[BENCH_MAX_REPS], w[BENCH_MAX_REPS];
	char err[ETSI014_ERR_LEN] = "", url0[128], url1[128], post[64];
	CURL *e0, *e1;
	unsigned total = per_req == 1 ? 200 : 1600;

	if (chdir(dir) < 0)
		bench_die("chdir %s", dir);
	snprintf(extra, sizeof(extra), "ca = qkd-ca.pem\n");
	net = chain(2, extra);
	if (qksa_new(&ksa[0], net, &lock, 0, err, sizeof(err)) < 0 || qksa_start(&ksa[0]) < 0 ||
	    qksa_new(&ksa[1], net, &lock, 2, err, sizeof(err)) < 0 || qksa_start(&ksa[1]) < 0)
		bench_die("KSA: %s", err);
	ticking = true;
	pthread_create(&th, NULL, ticker, net);
	snprintf(url0, sizeof(url0), "https://127.0.0.1:%u/api/v1/keys/s2/enc_keys",
		 etsi014_server_port(ksa[0].srv));
	snprintf(url1, sizeof(url1), "https://127.0.0.1:%u/api/v1/keys/s0/dec_keys",
		 etsi014_server_port(ksa[1].srv));
	snprintf(post, sizeof(post), "{\"number\":%u,\"size\":256}", per_req);
	/* the certificates' CNs are sae-office / sae-dc: rename the SAEs of the chain */
	snprintf((char *)net->cfg->nodes[0].saes[0], QCONF_NAME_MAX + 1, "sae-office");
	snprintf((char *)net->cfg->nodes[2].saes[0], QCONF_NAME_MAX + 1, "sae-dc");
	snprintf(url0, sizeof(url0), "https://127.0.0.1:%u/api/v1/keys/sae-dc/enc_keys",
		 etsi014_server_port(ksa[0].srv));
	snprintf(url1, sizeof(url1), "https://127.0.0.1:%u/api/v1/keys/sae-office/dec_keys",
		 etsi014_server_port(ksa[1].srv));
	e0 = client(dir, "sae-office", b);
	e1 = client(dir, "sae-dc", b);
	for (int r = 0; r < reps; r++) {
		double t0 = bench_clock(CLOCK_MONOTONIC);

		for (unsigned done = 0; done < total; done += per_req) {
			struct kme_keys k;
			char why[160], dec[4096];
			size_t n = 0;

			if (request(e0, b, url0, post) != 200 ||
			    kme_parse_keys(b->buf, b->len, per_req, 32, NULL, &k, why, sizeof(why)) < 0)
				bench_die("enc_keys: %.*s", (int)(b->len < 200 ? b->len : 200), b->buf);
			n += (size_t)snprintf(dec + n, sizeof(dec) - n, "{\"key_IDs\":[");
			for (size_t i = 0; i < k.n; i++) {
				char id[ETSI014_KEY_ID_STR_LEN + 1];

				etsi014_key_id_format(k.ids[i], id);
				n += (size_t)snprintf(dec + n, sizeof(dec) - n, "%s{\"key_ID\":\"%s\"}",
						      i ? "," : "", id);
			}
			snprintf(dec + n, sizeof(dec) - n, "]}");
			kme_keys_free(&k);
			if (request(e1, b, url1, dec) != 200)
				bench_die("dec_keys: %.*s", (int)(b->len < 200 ? b->len : 200), b->buf);
		}
		v[r] = total / (bench_clock(CLOCK_MONOTONIC) - t0);
		/* reference: the same keys without HTTP and TLS */
		t0 = bench_clock(CLOCK_MONOTONIC);
		for (unsigned done = 0; done < total; done += per_req) {
			struct qnet_keys out, in;

			pthread_mutex_lock(&lock);
			bench_check(qnet_enc_keys(net, 0, "sae-office", "sae-dc", per_req, 256, &out), "enc");
			bench_check(qnet_dec_keys(net, 2, "sae-dc", "sae-office",
						  (const uint8_t (*)[16])out.ids, out.number, &in), "dec");
			pthread_mutex_unlock(&lock);
			qnet_keys_free(&out);
			qnet_keys_free(&in);
		}
		w[r] = total / (bench_clock(CLOCK_MONOTONIC) - t0);
	}
	ticking = false;
	pthread_join(th, NULL);
	curl_easy_cleanup(e0);
	curl_easy_cleanup(e1);
	qksa_free(&ksa[0]);
	qksa_free(&ksa[1]);
	qnet_free(net);
	free(net);
	free(b);
	*https_kps = bench_median(v, reps);
	*direct_kps = bench_median(w, reps);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/mfs-bench-qkd-XXXXXX", cmd[1024];
	double ref;

	bench_set_name("bench/qkd");
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = reps_arg(argv[++i]);
		else if (!strcmp(argv[i], "--markdown"))
			markdown = true;
		else {
			printf("usage: bench/qkd [--reps N] [--markdown]\n");
			return strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	ref = hop_ref_us(20000);
	printf(markdown ? "| hops | relay µs/key (enc+dec) | per hop µs | ratio to raw hop crypto (%.2f µs) |\n|---|---|---|---|\n"
			: "relay latency (one 256-bit key, enc_keys+dec_keys in-process); raw hop crypto %.2f us\n", ref);
	(void)relay_us(1, 500);	/* warm-up */
	for (size_t h = 1; h <= 8; h *= 2) {
		double us = relay_us(h, 2000);

		printf(markdown ? "| %zu | %.2f | %.2f | %.1f |\n" : "  hops %zu: %8.2f us/key  %6.2f us/hop  x%.1f of raw hop crypto\n",
		       h, us, us / (double)h, us / ((double)h * ref));
	}
	if (!mkdtemp(dir))
		bench_die("mkdtemp");
	snprintf(cmd, sizeof(cmd), ". '%s' && qkd_certs '%s'", QKD_CERTS_SH, dir);
	{
		const char *const sh[] = { "bash", "-c", cmd, NULL };
		char *out = bench_run_capture(sh);

		if (!out)
			bench_die("cannot make the test PKI (%s)", QKD_CERTS_SH);
		free(out);
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	printf(markdown ? "\n| keys/request | through the KSA (HTTPS, mTLS) keys/s | in-process keys/s | ratio |\n|---|---|---|---|\n"
			: "keys through the KSAs of a two-hop chain (enc_keys at the source + dec_keys at the destination)\n");
	for (unsigned per = 1; per <= 64; per *= 64) {
		double https, direct;

		ksa_rate(dir, per, &https, &direct);
		printf(markdown ? "| %u | %.0f | %.0f | %.3f |\n" : "  %2u keys/request: %9.0f keys/s via HTTPS, %9.0f keys/s in-process (x%.3f)\n",
		       per, https, direct, https / direct);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	{
		const char *const rm[] = { "bash", "-c", cmd, NULL };

		free(bench_run_capture(rm));
	}
	return 0;
}
