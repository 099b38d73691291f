// SPDX-License-Identifier: Apache-2.0
/*
 * ETSI GS QKD 014 load client (supply_client.h): blocking OpenSSL on one
 * TCP connection per thread, HTTP/1.1 keep-alive, Content-Length framing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "etsi014/etsi014.h"
#include "supply_client.h"

#define RESP_MAX (1U << 20)

struct client {
	const struct sload_opts *o;
	SSL_CTX *ctx;
	pthread_t tid;
	double t_end;
	double *lat;
	size_t n_lat, cap_lat;
	struct sload_key *keys;
	size_t n_keys, cap_keys;
	struct sload_result r;
	char *buf;
};

static size_t next_id;			/* dec: next index into o->ids */
static double rate_next;		/* rate limit: next allowed start (shared) */
static pthread_mutex_t rate_lock = PTHREAD_MUTEX_INITIALIZER;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pace(const struct sload_opts *o)
{
	double t, wait;

	if (o->rate <= 0)
		return;
	pthread_mutex_lock(&rate_lock);
	t = now_s();
	if (rate_next < t)
		rate_next = t;
	wait = rate_next - t;
	rate_next += 1.0 / o->rate;
	pthread_mutex_unlock(&rate_lock);
	if (wait > 0) {
		struct timespec ts = { (time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9) };

		nanosleep(&ts, NULL);
	}
}

static int conn_open(struct client *c, SSL **ret_ssl, int *ret_fd)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)c->o->port) };
	int fd, one = 1;
	SSL *ssl;

	if (inet_pton(AF_INET, c->o->host, &sa.sin_addr) != 1)
		return -EINVAL;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	ssl = SSL_new(c->ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		SSL_free(ssl);
		close(fd);
		return -EPROTO;
	}
	*ret_ssl = ssl;
	*ret_fd = fd;
	return 0;
}

/* Read one response into c->buf; returns the status, the body in body and blen. */
static int read_response(struct client *c, SSL *ssl, const char **body, size_t *blen)
{
	size_t got = 0, hlen, clen;
	char *eoh, *cl;

	for (;;) {
		int k = SSL_read(ssl, c->buf + got, (int)(RESP_MAX - 1 - got));

		if (k <= 0)
			return -ECONNRESET;
		got += (size_t)k;
		c->buf[got] = 0;
		if ((eoh = strstr(c->buf, "\r\n\r\n")))
			break;
		if (got >= RESP_MAX - 1)
			return -EMSGSIZE;
	}
	hlen = (size_t)(eoh + 4 - c->buf);
	*eoh = 0;
	cl = strcasestr(c->buf, "Content-Length:");
	clen = cl ? strtoul(cl + 15, NULL, 10) : 0;
	if (clen > RESP_MAX - 1 - hlen)
		return -EMSGSIZE;
	while (got < hlen + clen) {
		int k = SSL_read(ssl, c->buf + got, (int)(RESP_MAX - 1 - got));

		if (k <= 0)
			return -ECONNRESET;
		got += (size_t)k;
	}
	c->buf[hlen + clen] = 0;
	*body = c->buf + hlen;
	*blen = clen;
	return (int)strtol(c->buf + 9, NULL, 10);
}

static void add_lat(struct client *c, double ms)
{
	if (c->n_lat == c->cap_lat) {
		c->cap_lat = c->cap_lat ? 2 * c->cap_lat : 4096;
		c->lat = realloc(c->lat, c->cap_lat * sizeof(*c->lat));
		if (!c->lat)
			abort();
	}
	c->lat[c->n_lat++] = ms;
}

/* Count (and keep) the keys of a key container; -1 when malformed. */
static long parse_keys(struct client *c, const char *body)
{
	const char *p = body;
	long n = 0;

	while ((p = strstr(p, "\"key_ID\":\""))) {
		struct sload_key k = { 0 };
		const char *kp;
		uint8_t kb[ETSI014_KEY_MAX_BYTES];
		const char *end;
		int kl;

		p += 10;
		if (etsi014_key_id_parse(p, ETSI014_KEY_ID_STR_LEN, k.id) < 0)
			return -1;
		if (!(kp = strstr(p, "\"key\":\"")))
			return -1;
		kp += 7;
		if (!(end = strchr(kp, '"')))
			return -1;
		kl = etsi014_base64_decode(kb, sizeof(kb), kp, (size_t)(end - kp));
		if (kl <= 0)
			return -1;
		memcpy(k.key16, kb, kl < 16 ? (size_t)kl : 16);
		n++;
		if (!c->o->keep_keys)
			continue;
		if (c->n_keys == c->cap_keys) {
			c->cap_keys = c->cap_keys ? 2 * c->cap_keys : 4096;
			c->keys = realloc(c->keys, c->cap_keys * sizeof(*c->keys));
			if (!c->keys)
				abort();
		}
		c->keys[c->n_keys++] = k;
	}
	return n;
}

static int status_slot(int st)
{
	switch (st) {
	case 200: return 0;
	case 400: return 1;
	case 401: return 2;
	case 404:
	case 405: return 3;
	case 503: return 4;
	default: return 5;
	}
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	const struct sload_opts *o = c->o;
	char *req = malloc(60 * (size_t)o->number + 600);
	SSL *ssl = NULL;
	int fd = -1;

	if (!req || !(c->buf = malloc(RESP_MAX)))
		abort();
	while (now_s() < c->t_end) {
		const char *body;
		size_t blen, start = 0, n_ids = 0;
		int len, st;
		double t0;
		long nk;

		if (!ssl && conn_open(c, &ssl, &fd) < 0) {
			c->r.errors++;
			if (!c->r.first_error[0])
				snprintf(c->r.first_error, sizeof(c->r.first_error), "connect failed");
			usleep(10000);
			continue;
		}
		if (o->mode == SLOAD_DEC) {
			start = __atomic_fetch_add(&next_id, o->number, __ATOMIC_RELAXED);
			if (start >= o->n_ids)
				break;
			n_ids = o->n_ids - start < o->number ? o->n_ids - start : o->number;
		}
		pace(o);
		if (o->mode == SLOAD_STATUS) {
			len = snprintf(req, 512, "GET /api/v1/keys/%s/status HTTP/1.1\r\nHost: kme\r\n\r\n",
				       o->sae);
		} else if (o->mode == SLOAD_ENC && o->get_form) {
			len = snprintf(req, 512, "GET /api/v1/keys/%s/enc_keys?number=%u HTTP/1.1\r\n"
				       "Host: kme\r\n\r\n", o->sae, o->number);
		} else if (o->mode == SLOAD_ENC) {
			char b[64];
			int bl = snprintf(b, sizeof(b), "{\"number\":%u}", o->number);

			len = snprintf(req, 512, "POST /api/v1/keys/%s/enc_keys HTTP/1.1\r\nHost: kme\r\n"
				       "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
				       o->sae, bl, b);
		} else if (o->get_form && n_ids == 1) {
			char idtxt[ETSI014_KEY_ID_STR_LEN + 1];

			etsi014_key_id_format(o->ids[start].id, idtxt);
			len = snprintf(req, 512, "GET /api/v1/keys/%s/dec_keys?key_ID=%s HTTP/1.1\r\n"
				       "Host: kme\r\n\r\n", o->sae, idtxt);
		} else {
			char *b = req + 400;
			size_t bl = 0, cap = 60 * (size_t)o->number + 100;

			bl += (size_t)snprintf(b, cap, "{\"key_IDs\":[");
			for (size_t i = 0; i < n_ids; i++) {
				char idtxt[ETSI014_KEY_ID_STR_LEN + 1];

				etsi014_key_id_format(o->ids[start + i].id, idtxt);
				bl += (size_t)snprintf(b + bl, cap - bl, "%s{\"key_ID\":\"%s\"}",
						       i ? "," : "", idtxt);
			}
			bl += (size_t)snprintf(b + bl, cap - bl, "]}");
			len = snprintf(req, 400, "POST /api/v1/keys/%s/dec_keys HTTP/1.1\r\nHost: kme\r\n"
				       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
				       o->sae, bl);
			memmove(req + len, b, bl);
			len += (int)bl;
		}
		t0 = now_s();
		if (SSL_write(ssl, req, len) <= 0 || (st = read_response(c, ssl, &body, &blen)) < 0) {
			c->r.errors++;
			if (!c->r.first_error[0])
				snprintf(c->r.first_error, sizeof(c->r.first_error), "connection lost");
			SSL_free(ssl);
			close(fd);
			ssl = NULL;
			continue;
		}
		add_lat(c, (now_s() - t0) * 1e3);
		c->r.requests++;
		c->r.status[status_slot(st)]++;
		if (st != 200) {
			c->r.errors++;
			if (!c->r.first_error[0])
				snprintf(c->r.first_error, sizeof(c->r.first_error), "HTTP %d: %.120s", st,
					 body);
			continue;
		}
		c->r.ok++;
		if (o->mode == SLOAD_STATUS)
			continue;
		nk = parse_keys(c, body);
		if (nk < 0 || (size_t)nk != (o->mode == SLOAD_DEC ? n_ids : o->number))
			c->r.mismatched++;
		if (nk > 0)
			c->r.keys += (uint64_t)nk;
	}
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
		close(fd);
	}
	free(req);
	free(c->buf);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmp_id(const void *a, const void *b)
{
	return memcmp(((const struct sload_key *)a)->id, ((const struct sload_key *)b)->id, 16);
}

static int cmp_key(const void *a, const void *b)
{
	return memcmp(((const struct sload_key *)a)->key16, ((const struct sload_key *)b)->key16, 16);
}

void sload_dups(const struct sload_key *keys, size_t n, uint64_t *dup_ids, uint64_t *dup_keys)
{
	struct sload_key *k = malloc((n ? n : 1) * sizeof(*k));

	*dup_ids = *dup_keys = 0;
	if (!k)
		abort();
	if (n)
		memcpy(k, keys, n * sizeof(*k));
	qsort(k, n, sizeof(*k), cmp_id);
	for (size_t i = 1; i < n; i++)
		*dup_ids += !cmp_id(&k[i - 1], &k[i]);
	qsort(k, n, sizeof(*k), cmp_key);
	for (size_t i = 1; i < n; i++)
		*dup_keys += !cmp_key(&k[i - 1], &k[i]);
	free(k);
}

int sload_run(const struct sload_opts *o, struct sload_result *res)
{
	struct client *cs = calloc(o->clients, sizeof(*cs));
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	size_t n_lat = 0, k = 0;
	double *lat, t0;

	memset(res, 0, sizeof(*res));
	signal(SIGPIPE, SIG_IGN);	/* a server that goes away is an error to count, not a crash */
	if (!cs || !ctx || SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1) {
		snprintf(res->first_error, sizeof(res->first_error), "client TLS setup (%s, %s, %s)",
			 o->cert, o->key, o->ca);
		SSL_CTX_free(ctx);
		free(cs);
		return -1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	next_id = 0;
	rate_next = 0;
	t0 = now_s();
	for (unsigned i = 0; i < o->clients; i++) {
		cs[i].o = o;
		cs[i].ctx = ctx;
		cs[i].t_end = t0 + o->seconds;
		if (pthread_create(&cs[i].tid, NULL, client_main, &cs[i]) != 0)
			abort();
	}
	for (unsigned i = 0; i < o->clients; i++)
		pthread_join(cs[i].tid, NULL);
	res->seconds = now_s() - t0;
	for (unsigned i = 0; i < o->clients; i++) {
		struct sload_result *r = &cs[i].r;

		res->requests += r->requests;
		res->ok += r->ok;
		res->errors += r->errors;
		res->keys += r->keys;
		res->mismatched += r->mismatched;
		for (int j = 0; j < 6; j++)
			res->status[j] += r->status[j];
		if (!res->first_error[0] && r->first_error[0])
			memcpy(res->first_error, r->first_error, sizeof(r->first_error));
		n_lat += cs[i].n_lat;
		res->n_served += cs[i].n_keys;
	}
	lat = malloc((n_lat ? n_lat : 1) * sizeof(*lat));
	res->served = o->keep_keys ? malloc((res->n_served ? res->n_served : 1) * sizeof(*res->served)) : NULL;
	if (!lat || (o->keep_keys && !res->served))
		abort();
	n_lat = 0;
	for (unsigned i = 0; i < o->clients; i++) {
		if (cs[i].n_lat)
			memcpy(lat + n_lat, cs[i].lat, cs[i].n_lat * sizeof(*lat));
		n_lat += cs[i].n_lat;
		if (o->keep_keys && cs[i].n_keys) {
			memcpy(res->served + k, cs[i].keys, cs[i].n_keys * sizeof(*res->served));
			k += cs[i].n_keys;
		}
		free(cs[i].lat);
		free(cs[i].keys);
	}
	qsort(lat, n_lat, sizeof(*lat), cmp_double);
	if (n_lat) {
		res->p50_ms = lat[n_lat / 2];
		res->p99_ms = lat[(size_t)((double)n_lat * 0.99) < n_lat ? (size_t)((double)n_lat * 0.99) : n_lat - 1];
		res->max_ms = lat[n_lat - 1];
	}
	free(lat);
	free(cs);
	SSL_CTX_free(ctx);
	return 0;
}
