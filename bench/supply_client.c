// SPDX-License-Identifier: Apache-2.0
/*
 * ETSI GS QKD 014 load client (supply_client.h): a few event-loop threads,
 * each an epoll loop (edge-triggered) over its share of the connections,
 * non-blocking OpenSSL, HTTP/1.1 keep-alive, Content-Length framing.
 *
 * A connection moves DOWN -> CONNECTING -> HANDSHAKE -> IDLE -> WRITING ->
 * READING -> IDLE ...; any failure closes it (DOWN) and counts an error when
 * a request was in flight or the connect failed. Each step runs until
 * OpenSSL says WANT_READ / WANT_WRITE (the socket said EAGAIN), so an edge
 * is never missed; the one exception is READING right after the request
 * was written: its answer cannot be in the socket yet, so the loop waits
 * for its edge instead of paying a read(2) that returns EAGAIN. OpenSSL
 * reads ahead, so a whole answer usually takes one read(2).
 *
 * The response parser is bounded: the header must end within RESP_MAX
 * bytes, Content-Length must fit in RESP_MAX with it, bytes beyond the
 * answer are an error (no pipelining), and the body is a NUL-terminated
 * string when the keys are counted. Buffers are allocated when a
 * connection is created (a response buffer grows, by doubling, only for a
 * response larger than any before); the hot path allocates nothing except
 * the amortized growth of the latency and key records (sized up front for
 * a paced run).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "etsi014/etsi014.h"
#include "supply_client.h"

#define RESP_MAX (1U << 20)	/* largest response accepted (header + body) */
#define BUF_INIT (16U << 10)	/* first size of a connection's response buffer */
#define REQ_HDR_MAX 512
#define CONNECT_PHASE_S 10.0	/* at most this long for the connections before t0 */
#define RETRY_S 0.010		/* a failed connect is retried after this */

enum cstate { C_DOWN, C_CONNECTING, C_HANDSHAKE, C_IDLE, C_WRITING, C_READING };

struct worker;

struct conn {
	struct worker *w;
	enum cstate st;
	int fd;
	SSL *ssl;
	uint32_t want;		/* the epoll event the last step waits for */
	bool queued;		/* rate: on the worker's idle stack */
	double retry_at;	/* C_DOWN: when to connect again */
	double t_due, t_write;	/* the request's due time and its write */
	const char *req;	/* the request being written */
	int req_len;
	char *dreq;		/* dec: requests are built here */
	size_t dreq_cap;
	char *buf;		/* response, cap + 1 bytes (for a NUL) */
	size_t cap, got, scanned, need;	/* need: header + Content-Length, 0 until the header is in */
	size_t hlen;
	int status;
	size_t id_start, n_ids;	/* dec: the IDs asked for */
};

struct run {
	const struct sload_opts *o;
	SSL_CTX *ctx;
	struct sockaddr_in sa;
	unsigned n_workers;
	pthread_barrier_t bar;
	double t0, t_end;
	size_t next_id;		/* dec: next index into o->ids (atomic) */
};

struct worker {
	struct run *run;
	const struct sload_opts *o;
	unsigned idx;
	pthread_t tid;
	int ep;
	struct conn *conns;
	unsigned n_conns, n_down, inflight;
	struct conn **idle;	/* rate: stack of idle connections (may hold stale entries) */
	unsigned n_idle;
	uint64_t k_next;	/* rate: this worker's next request, as a global index */
	bool running, stopping;
	double *lat, *slat;	/* ms: write -> answer, due -> answer */
	size_t n_lat, cap_lat;
	struct sload_key *keys;
	size_t n_keys, cap_keys;
	struct sload_result r;
	char enc_req[REQ_HDR_MAX];	/* enc / status: the same request every time */
	int enc_len;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((format(printf, 2, 3)))
static void note_error(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	w->r.errors++;
	if (w->r.first_error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(w->r.first_error, sizeof(w->r.first_error), fmt, ap);
	va_end(ap);
}

static void *xrealloc(void *p, size_t n)
{
	if (!(p = realloc(p, n ? n : 1)))
		abort();
	return p;
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

/* ---- connections ---- */

static void conn_close(struct conn *c, double retry_at)
{
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);	/* also leaves the epoll set */
	c->ssl = NULL;
	c->fd = -1;
	if (c->st == C_WRITING || c->st == C_READING)
		c->w->inflight--;
	if (c->st != C_DOWN)
		c->w->n_down++;
	c->st = C_DOWN;
	c->retry_at = retry_at;
	ERR_clear_error();
}

/* A connect or handshake failed: an error, retried after RETRY_S. */
static void conn_fail(struct conn *c, const char *what, int err)
{
	unsigned long e = ERR_peek_error();
	char tls[120] = "";

	if (e)
		ERR_error_string_n(e, tls, sizeof(tls));
	note_error(c->w, "connect failed: %s: %s", what, err ? strerror(err) : tls[0] ? tls : "closed");
	conn_close(c, now_s() + RETRY_S);
}

/* A request in flight is lost: an error; the connection is reopened at once. */
static void conn_lost(struct conn *c, const char *why)
{
	note_error(c->w, "connection lost: %s", why);
	conn_close(c, 0);
}

static void conn_start(struct conn *c)
{
	struct worker *w = c->w;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c };
	int one = 1, r;

	w->n_down--;
	c->st = C_CONNECTING;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0) {
		conn_fail(c, "socket", errno);
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	r = connect(c->fd, (const struct sockaddr *)&w->run->sa, sizeof(w->run->sa));
	if (r < 0 && errno != EINPROGRESS) {
		conn_fail(c, "connect", errno);
		return;
	}
	if (!(c->ssl = SSL_new(w->run->ctx)) || SSL_set_fd(c->ssl, c->fd) != 1) {
		conn_fail(c, "SSL_new", 0);
		return;
	}
	SSL_set_connect_state(c->ssl);
	c->want = EPOLLOUT;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		conn_fail(c, "epoll_ctl", errno);
	/* edge-triggered: the ADD reports the socket's state now, so an event follows */
}

/* After an SSL call returned r <= 0: 1 to wait (want set), 0 when the connection is dead. */
static int ssl_wait(struct conn *c, int r)
{
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ: c->want = EPOLLIN; return 1;
	case SSL_ERROR_WANT_WRITE: c->want = EPOLLOUT; return 1;
	default: return 0;
	}
}

/* ---- records ---- */

static void add_lat(struct worker *w, double lat_ms, double sched_ms)
{
	if (w->n_lat == w->cap_lat) {
		w->cap_lat = w->cap_lat ? 2 * w->cap_lat : 4096;
		w->lat = xrealloc(w->lat, w->cap_lat * sizeof(*w->lat));
		w->slat = xrealloc(w->slat, w->cap_lat * sizeof(*w->slat));
	}
	w->lat[w->n_lat] = lat_ms;
	w->slat[w->n_lat++] = sched_ms;
}

/* Count (and keep) the keys of a key container (NUL-terminated); -1 when malformed. */
static long parse_keys(struct worker *w, const char *body)
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
		if (strnlen(p, ETSI014_KEY_ID_STR_LEN) < ETSI014_KEY_ID_STR_LEN ||
		    etsi014_key_id_parse(p, ETSI014_KEY_ID_STR_LEN, k.id) < 0)
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
		if (!w->o->keep_keys)
			continue;
		if (w->n_keys == w->cap_keys) {
			w->cap_keys = w->cap_keys ? 2 * w->cap_keys : 4096;
			w->keys = xrealloc(w->keys, w->cap_keys * sizeof(*w->keys));
		}
		w->keys[w->n_keys++] = k;
	}
	return n;
}

/* ---- requests ---- */

static void idle_push(struct conn *c)
{
	struct worker *w = c->w;

	if (w->o->rate > 0 && !c->queued) {
		c->queued = true;
		w->idle[w->n_idle++] = c;
	}
}

static struct conn *idle_pop(struct worker *w)
{
	while (w->n_idle) {
		struct conn *c = w->idle[--w->n_idle];

		c->queued = false;
		if (c->st == C_IDLE)
			return c;
	}
	return NULL;
}

static void conn_write(struct conn *c);

/*
 * Send the next request on idle connection c, due at t_due; false (and the
 * worker stopping) when the dec IDs ran out. Writes and reads as far as
 * the socket allows, so c may be idle again on return.
 */
static bool send_request(struct conn *c, double t_due)
{
	struct worker *w = c->w;
	const struct sload_opts *o = w->o;

	if (o->mode != SLOAD_DEC) {
		c->req = w->enc_req;
		c->req_len = w->enc_len;
	} else {
		size_t start = __atomic_fetch_add(&w->run->next_id, o->number, __ATOMIC_RELAXED);
		size_t n, bl = 0, hl = REQ_HDR_MAX, cap = c->dreq_cap - REQ_HDR_MAX;
		char *b = c->dreq + REQ_HDR_MAX;
		int len;

		if (start >= o->n_ids) {
			w->stopping = true;
			return false;
		}
		n = o->n_ids - start < o->number ? o->n_ids - start : o->number;
		c->id_start = start;
		c->n_ids = n;
		if (o->get_form && n == 1) {
			char idtxt[ETSI014_KEY_ID_STR_LEN + 1];

			etsi014_key_id_format(o->ids[start].id, idtxt);
			len = snprintf(c->dreq, REQ_HDR_MAX, "GET /api/v1/keys/%s/dec_keys?key_ID=%s HTTP/1.1\r\n"
				       "Host: kme\r\n\r\n", o->sae, idtxt);
		} else {
			bl += (size_t)snprintf(b, cap, "{\"key_IDs\":[");
			for (size_t i = 0; i < n; i++) {
				char idtxt[ETSI014_KEY_ID_STR_LEN + 1];

				etsi014_key_id_format(o->ids[start + i].id, idtxt);
				bl += (size_t)snprintf(b + bl, cap - bl, "%s{\"key_ID\":\"%s\"}",
						       i ? "," : "", idtxt);
			}
			bl += (size_t)snprintf(b + bl, cap - bl, "]}");
			len = snprintf(c->dreq, hl, "POST /api/v1/keys/%s/dec_keys HTTP/1.1\r\nHost: kme\r\n"
				       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
				       o->sae, bl);
			memmove(c->dreq + len, b, bl);
			len += (int)bl;
		}
		c->req = c->dreq;
		c->req_len = len;
	}
	c->st = C_WRITING;
	c->t_due = t_due;
	c->t_write = now_s();
	if ((c->t_write - t_due) * 1e3 > SLOAD_LATE_MS)
		w->r.late++;
	w->inflight++;
	conn_write(c);
	return true;
}

/* The response in c->buf is complete (c->need bytes): count it; c is idle after. */
static void complete(struct conn *c)
{
	struct worker *w = c->w;
	const struct sload_opts *o = w->o;
	double t = now_s();
	const char *body = c->buf + c->hlen;
	int st = c->status;
	long nk;

	add_lat(w, (t - c->t_write) * 1e3, (t - c->t_due) * 1e3);
	w->inflight--;
	c->st = C_IDLE;
	c->want = EPOLLIN;
	c->t_due = t;		/* back to back: the next request is due now */
	idle_push(c);
	c->buf[c->need] = 0;
	w->r.requests++;
	w->r.status[status_slot(st)]++;
	if (st != 200) {
		note_error(w, "HTTP %d: %.120s", st, body);
		return;
	}
	w->r.ok++;
	if (o->mode == SLOAD_STATUS)
		return;
	nk = parse_keys(w, body);
	if (nk < 0 || (size_t)nk != (o->mode == SLOAD_DEC ? c->n_ids : o->number))
		w->r.mismatched++;
	if (nk > 0)
		w->r.keys += (uint64_t)nk;
}

/* The header is in c->buf[0..hlen): status and Content-Length; -EMSGSIZE or -EPROTO. */
static int parse_header(struct conn *c)
{
	const char *cl;
	unsigned long clen = 0;
	char *end;

	c->buf[c->hlen - 4] = 0;	/* the header as a string, up to its blank line */
	if (c->hlen < 16 || memcmp(c->buf, "HTTP/1.", 7) != 0 || c->buf[8] != ' ')
		return -EPROTO;
	c->status = (int)strtol(c->buf + 9, &end, 10);
	if (end != c->buf + 12 || c->status < 100 || c->status > 599)
		return -EPROTO;
	if ((cl = strcasestr(c->buf, "\r\nContent-Length:"))) {
		errno = 0;
		clen = strtoul(cl + 17, &end, 10);
		if (errno || end == cl + 17)
			return -EPROTO;
	}
	if (clen > RESP_MAX - c->hlen)
		return -EMSGSIZE;
	c->need = c->hlen + clen;
	if (c->need > c->cap) {
		c->cap = c->need;
		c->buf = xrealloc(c->buf, c->cap + 1);
	}
	return 0;
}

static void conn_read(struct conn *c)
{
	for (;;) {
		int k;

		if (c->got == c->cap) {		/* only while the header is incomplete */
			if (c->cap >= RESP_MAX) {
				conn_lost(c, "response header over 1 MiB");
				return;
			}
			c->cap = 2 * c->cap < RESP_MAX ? 2 * c->cap : RESP_MAX;
			c->buf = xrealloc(c->buf, c->cap + 1);
		}
		k = SSL_read(c->ssl, c->buf + c->got, (int)(c->cap - c->got));
		if (k <= 0) {
			if (!ssl_wait(c, k))
				conn_lost(c, k == 0 ? "closed by the server" : "TLS read failed");
			return;
		}
		c->got += (size_t)k;
		if (!c->need) {
			size_t from = c->scanned > 3 ? c->scanned - 3 : 0;
			const char *eoh = memmem(c->buf + from, c->got - from, "\r\n\r\n", 4);
			int r;

			c->scanned = c->got;
			if (!eoh)
				continue;
			c->hlen = (size_t)(eoh + 4 - c->buf);
			if ((r = parse_header(c)) < 0) {
				conn_lost(c, r == -EMSGSIZE ? "response over 1 MiB" : "malformed response header");
				return;
			}
		}
		if (c->got > c->need) {
			conn_lost(c, "bytes after the response");
			return;
		}
		if (c->got == c->need) {
			complete(c);
			return;
		}
	}
}

static void conn_write(struct conn *c)
{
	int k = SSL_write(c->ssl, c->req, c->req_len);

	if (k <= 0) {
		if (!ssl_wait(c, k))
			conn_lost(c, "TLS write failed");
		return;
	}
	/* the answer cannot be there yet: wait for its edge rather than read EAGAIN */
	c->st = C_READING;
	c->want = EPOLLIN;
	c->got = c->scanned = c->need = 0;
}

static void conn_handshake(struct conn *c)
{
	int r = SSL_do_handshake(c->ssl);

	if (r != 1) {
		if (!ssl_wait(c, r))
			conn_fail(c, "TLS handshake", 0);
		return;
	}
	c->st = C_IDLE;
	c->want = EPOLLIN;
	c->t_due = now_s();
	if (c->w->running)
		idle_push(c);
}

/* Progress c after epoll reported ev, as far as the socket allows; sends no new request. */
static void conn_step(struct conn *c, uint32_t ev)
{
	int r, err = 0;
	socklen_t l = sizeof(err);

	if (!(ev & (c->want | EPOLLERR | EPOLLHUP | EPOLLRDHUP)))
		return;
	switch (c->st) {
	case C_CONNECTING:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
			err = errno;
		if (err) {
			conn_fail(c, "connect", err);
			return;
		}
		if (!(ev & EPOLLOUT))
			return;
		c->st = C_HANDSHAKE;
		conn_handshake(c);
		return;
	case C_HANDSHAKE:
		conn_handshake(c);
		return;
	case C_IDLE: {
		/* nothing is expected: session tickets, or the server closing an idle connection */
		char b[64];

		r = SSL_read(c->ssl, b, sizeof(b));
		if (r > 0)
			conn_lost(c, "bytes while idle");
		else if (!ssl_wait(c, r))
			conn_close(c, 0);	/* closed while idle: no request lost, reconnect */
		return;
	}
	case C_WRITING:
		conn_write(c);
		return;
	case C_READING:
		conn_read(c);
		return;
	case C_DOWN:
		return;
	}
}

/* ---- the loop ---- */

static void conn_event(struct conn *c, uint32_t ev)
{
	struct worker *w = c->w;

	conn_step(c, ev);
	/* back to back: the next request as soon as the connection is idle */
	while (c->st == C_IDLE && w->running && !w->stopping && w->o->rate <= 0 && send_request(c, c->t_due))
		;
}

static void poll_once(struct worker *w, double until)
{
	struct epoll_event evs[64];
	double d = until - now_s();
	struct timespec ts = { 0, 0 };
	int n;

	if (d > 0) {
		ts.tv_sec = (time_t)d;
		ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
	}
	n = epoll_pwait2(w->ep, evs, 64, &ts, NULL);
	if (n < 0 && errno != EINTR)
		abort();
	for (int i = 0; i < n; i++)
		conn_event(evs[i].data.ptr, evs[i].events);
}

static unsigned n_connecting(const struct worker *w)
{
	unsigned n = 0;

	for (unsigned i = 0; i < w->n_conns; i++)
		n += w->conns[i].st == C_CONNECTING || w->conns[i].st == C_HANDSHAKE;
	return n;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct run *run = w->run;
	const struct sload_opts *o = w->o;
	double deadline = now_s() + CONNECT_PHASE_S, t_end, period = o->rate > 0 ? 1.0 / o->rate : 0;

	prctl(PR_SET_TIMERSLACK, 1000UL);	/* wake for a due request within 1 us, not 50 */

	/*
	 * Connect phase (not timed): one connection after the other, each
	 * established or failed before the next starts, as clients that come
	 * one by one. A burst of connects is accepted by whichever server
	 * thread wakes first: the ETSI 014 server's 16 workers took all 64
	 * connections on 2 of them in some runs, which then served everything.
	 */
	for (unsigned i = 0; i < w->n_conns; i++) {
		struct conn *c = &w->conns[i];

		conn_start(c);
		while ((c->st == C_CONNECTING || c->st == C_HANDSHAKE) && now_s() < deadline)
			poll_once(w, deadline);
	}
	while (n_connecting(w) && now_s() < deadline)
		poll_once(w, deadline);
	pthread_barrier_wait(&run->bar);
	pthread_barrier_wait(&run->bar);	/* the main thread set t0 in between */
	t_end = run->t_end;
	w->running = true;
	w->k_next = w->idx;
	for (unsigned i = 0; i < w->n_conns; i++) {
		struct conn *c = &w->conns[i];

		if (c->st != C_IDLE)
			continue;
		c->t_due = run->t0;
		idle_push(c);
		conn_event(c, 0);	/* back to back: the first request */
	}
	for (;;) {
		double t = now_s(), wake;

		if (!w->stopping && t >= t_end)
			w->stopping = true;
		if (w->stopping) {
			if (!w->inflight)
				break;
			if (t >= t_end + SLOAD_DRAIN_S) {
				for (unsigned i = 0; i < w->n_conns; i++)
					if (w->conns[i].st == C_WRITING || w->conns[i].st == C_READING)
						conn_lost(&w->conns[i], "no answer by the end of the run");
				break;
			}
			poll_once(w, t_end + SLOAD_DRAIN_S);
			continue;
		}
		wake = t_end;
		if (w->n_down) {
			for (unsigned i = 0; i < w->n_conns; i++) {
				struct conn *c = &w->conns[i];

				if (c->st != C_DOWN)
					continue;
				if (c->retry_at <= t)
					conn_start(c);
				else if (c->retry_at < wake)
					wake = c->retry_at;
			}
		}
		if (period > 0) {
			struct conn *c;

			while (!w->stopping && (c = idle_pop(w))) {
				double due = run->t0 + (double)w->k_next * period;

				if (due > now_s()) {
					idle_push(c);
					if (due < wake)
						wake = due;
					break;
				}
				if (!send_request(c, due))
					break;
				w->k_next += run->n_workers;
			}
		}
		poll_once(w, wake);
	}
	return NULL;
}

/* ---- the run ---- */

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

/* p50, p99, max of v[0..n) (sorts v). */
static void percentiles(double *v, size_t n, double *p50, double *p99, double *max)
{
	size_t i99 = (size_t)((double)n * 0.99);

	if (!n)
		return;
	qsort(v, n, sizeof(*v), cmp_double);
	*p50 = v[n / 2];
	*p99 = v[i99 < n ? i99 : n - 1];
	*max = v[n - 1];
}

/* The fixed request of enc / status into w->enc_req; -1 when it does not fit. */
static int build_fixed(struct worker *w)
{
	const struct sload_opts *o = w->o;
	int len;

	if (o->mode == SLOAD_STATUS) {
		len = snprintf(w->enc_req, sizeof(w->enc_req),
			       "GET /api/v1/keys/%s/status HTTP/1.1\r\nHost: kme\r\n\r\n", o->sae);
	} else if (o->mode == SLOAD_ENC && o->get_form) {
		len = snprintf(w->enc_req, sizeof(w->enc_req), "GET /api/v1/keys/%s/enc_keys?number=%u HTTP/1.1\r\n"
			       "Host: kme\r\n\r\n", o->sae, o->number);
	} else if (o->mode == SLOAD_ENC) {
		char b[64];
		int bl = snprintf(b, sizeof(b), "{\"number\":%u}", o->number);

		len = snprintf(w->enc_req, sizeof(w->enc_req), "POST /api/v1/keys/%s/enc_keys HTTP/1.1\r\n"
			       "Host: kme\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			       o->sae, bl, b);
	} else {
		/* dec: built per request; check the longest header fits */
		len = snprintf(w->enc_req, sizeof(w->enc_req), "POST /api/v1/keys/%s/dec_keys HTTP/1.1\r\n"
			       "Host: kme\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
			       o->sae, (size_t)-1);
		if (len < 0 || (size_t)len >= sizeof(w->enc_req))
			return -1;
		len = snprintf(w->enc_req, sizeof(w->enc_req), "GET /api/v1/keys/%s/dec_keys?key_ID=%0*d "
			       "HTTP/1.1\r\nHost: kme\r\n\r\n", o->sae, ETSI014_KEY_ID_STR_LEN, 0);
	}
	if (len < 0 || (size_t)len >= sizeof(w->enc_req))
		return -1;
	w->enc_len = len;
	return 0;
}

static int worker_init(struct worker *w, struct run *run, unsigned idx, struct conn *conns, unsigned n)
{
	const struct sload_opts *o = run->o;
	size_t expect = o->rate > 0 ? (size_t)(o->rate * o->seconds / run->n_workers * 1.2) + 1024 : 1U << 16;

	if (expect > 1U << 22)
		expect = 1U << 22;
	w->run = run;
	w->o = o;
	w->idx = idx;
	w->conns = conns;
	w->n_conns = w->n_down = n;
	for (unsigned i = 0; i < n; i++) {
		struct conn *c = &conns[i];

		c->w = w;
		c->st = C_DOWN;
		c->fd = -1;
		c->cap = BUF_INIT;
		c->buf = xrealloc(NULL, c->cap + 1);
		if (o->mode == SLOAD_DEC) {
			c->dreq_cap = REQ_HDR_MAX + 60 * (size_t)o->number + 100;
			c->dreq = xrealloc(NULL, c->dreq_cap);
		}
	}
	w->idle = xrealloc(NULL, n * sizeof(*w->idle));
	w->cap_lat = expect;
	w->lat = xrealloc(NULL, expect * sizeof(*w->lat));
	w->slat = xrealloc(NULL, expect * sizeof(*w->slat));
	if (o->keep_keys && o->mode != SLOAD_STATUS) {
		w->cap_keys = o->rate > 0 ? expect * o->number : expect;
		if (w->cap_keys > 1U << 22)
			w->cap_keys = 1U << 22;
		w->keys = xrealloc(NULL, w->cap_keys * sizeof(*w->keys));
	}
	if (build_fixed(w) < 0)
		return -1;
	if ((w->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		abort();
	return 0;
}

static void worker_free(struct worker *w)
{
	for (unsigned i = 0; i < w->n_conns; i++) {
		struct conn *c = &w->conns[i];

		if (c->ssl) {
			SSL_shutdown(c->ssl);	/* non-blocking: sends close_notify if it can */
			SSL_free(c->ssl);
		}
		if (c->fd >= 0)
			close(c->fd);
		free(c->buf);
		free(c->dreq);
	}
	if (w->ep >= 0)
		close(w->ep);
	free(w->idle);
	free(w->lat);
	free(w->slat);
	free(w->keys);
}

int sload_run(const struct sload_opts *o, struct sload_result *res)
{
	struct run run = { .o = o, .sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o->port) } };
	unsigned nw = o->workers ? o->workers : SLOAD_WORKERS_DEFAULT;
	struct worker *ws;
	struct conn *cs;
	size_t n_lat = 0, k = 0;
	double *lat, *slat;

	memset(res, 0, sizeof(*res));
	if (!o->clients || nw > SLOAD_WORKERS_MAX) {
		snprintf(res->first_error, sizeof(res->first_error), "bad clients (%u) or workers (%u, max %u)",
			 o->clients, nw, SLOAD_WORKERS_MAX);
		return -1;
	}
	if (inet_pton(AF_INET, o->host, &run.sa.sin_addr) != 1) {
		snprintf(res->first_error, sizeof(res->first_error), "not a numeric IPv4 address: %s", o->host);
		return -1;
	}
	if (nw > o->clients)
		nw = o->clients;
	run.n_workers = nw;
	signal(SIGPIPE, SIG_IGN);	/* a server that goes away is an error to count, not a crash */
	run.ctx = SSL_CTX_new(TLS_client_method());
	if (!run.ctx || SSL_CTX_load_verify_locations(run.ctx, o->ca, NULL) != 1 ||
	    SSL_CTX_use_certificate_chain_file(run.ctx, o->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(run.ctx, o->key, SSL_FILETYPE_PEM) != 1) {
		snprintf(res->first_error, sizeof(res->first_error), "client TLS setup (%s, %s, %s)",
			 o->cert, o->key, o->ca);
		SSL_CTX_free(run.ctx);
		return -1;
	}
	SSL_CTX_set_verify(run.ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_read_ahead(run.ctx, 1);	/* a whole answer in one read(2), not header + body */
	ws = xrealloc(NULL, nw * sizeof(*ws));
	cs = xrealloc(NULL, o->clients * sizeof(*cs));
	memset(ws, 0, nw * sizeof(*ws));
	memset(cs, 0, o->clients * sizeof(*cs));
	for (unsigned i = 0, from = 0; i < nw; i++) {
		unsigned n = o->clients / nw + (i < o->clients % nw);

		ws[i].ep = -1;
		if (worker_init(&ws[i], &run, i, cs + from, n) < 0) {
			snprintf(res->first_error, sizeof(res->first_error), "SAE ID too long: %.64s", o->sae);
			for (unsigned j = 0; j <= i; j++)
				worker_free(&ws[j]);
			free(ws);
			free(cs);
			SSL_CTX_free(run.ctx);
			return -1;
		}
		from += n;
	}
	if (pthread_barrier_init(&run.bar, NULL, nw + 1) != 0)
		abort();
	for (unsigned i = 0; i < nw; i++) {
		char name[16];

		if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0)
			abort();
		snprintf(name, sizeof(name), "sload-w%u", i);
		pthread_setname_np(ws[i].tid, name);	/* top -H, perf: the client apart from a server */
	}
	pthread_barrier_wait(&run.bar);	/* all connected (or failed) */
	run.t0 = now_s();
	run.t_end = run.t0 + o->seconds;
	pthread_barrier_wait(&run.bar);
	for (unsigned i = 0; i < nw; i++)
		pthread_join(ws[i].tid, NULL);
	res->seconds = now_s() - run.t0;
	pthread_barrier_destroy(&run.bar);
	for (unsigned i = 0; i < nw; i++) {
		struct sload_result *r = &ws[i].r;

		res->requests += r->requests;
		res->ok += r->ok;
		res->errors += r->errors;
		res->keys += r->keys;
		res->mismatched += r->mismatched;
		res->late += r->late;
		for (int j = 0; j < 6; j++)
			res->status[j] += r->status[j];
		if (!res->first_error[0] && r->first_error[0])
			memcpy(res->first_error, r->first_error, sizeof(r->first_error));
		n_lat += ws[i].n_lat;
		res->n_served += ws[i].n_keys;
	}
	lat = xrealloc(NULL, n_lat * sizeof(*lat));
	slat = xrealloc(NULL, n_lat * sizeof(*slat));
	res->served = o->keep_keys ? xrealloc(NULL, res->n_served * sizeof(*res->served)) : NULL;
	n_lat = 0;
	for (unsigned i = 0; i < nw; i++) {
		if (ws[i].n_lat) {
			memcpy(lat + n_lat, ws[i].lat, ws[i].n_lat * sizeof(*lat));
			memcpy(slat + n_lat, ws[i].slat, ws[i].n_lat * sizeof(*slat));
		}
		n_lat += ws[i].n_lat;
		if (o->keep_keys && ws[i].n_keys) {
			memcpy(res->served + k, ws[i].keys, ws[i].n_keys * sizeof(*res->served));
			k += ws[i].n_keys;
		}
		worker_free(&ws[i]);
	}
	percentiles(lat, n_lat, &res->p50_ms, &res->p99_ms, &res->max_ms);
	percentiles(slat, n_lat, &res->p50_sched_ms, &res->p99_sched_ms, &res->max_sched_ms);
	free(lat);
	free(slat);
	free(ws);
	free(cs);
	SSL_CTX_free(run.ctx);
	return 0;
}
