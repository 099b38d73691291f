// SPDX-License-Identifier: Apache-2.0
/*
 * ETSI GS QKD 014 HTTPS server: evhttp + bufferevent_openssl, mutual TLS,
 * worker threads, each on its own listening socket (SO_REUSEPORT).
 * Contract in server.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/secret.h"
#include "etsi014/server.h"

#define RESP_POOL_MAX 8	/* spare response buffers kept per worker */
#define SMALL_BODY_MAX 2048	/* status and error bodies */

struct resp_buf {
	struct secret *s;
	struct worker *w;
	struct resp_buf *next;
};

struct counters {
	uint64_t connections, requests, ok, keys_served;
	uint64_t enc, dec, status;
	uint64_t e400, e401, e404, e405, e503, unauth;
};

struct worker {
	struct etsi014_server *srv;
	unsigned idx;
	pthread_t tid;
	bool running;
	struct event_base *base;
	struct evhttp *http;
	struct event *stop_ev;
	int stop_pipe[2];
	void *tctx;
	bool tctx_set;
	struct secret *keys;		/* max_key_per_request keys, wiped after each use */
	struct resp_buf *spare;
	size_t n_spare;
	struct counters c;
};

struct etsi014_server {
	struct etsi014_server_config cfg;
	struct etsi014_backend be;
	SSL_CTX *ctx;
	int fd;				/* the first listening socket (worker 0's) */
	struct sockaddr_storage addr;	/* its bound address: the other workers' sockets */
	socklen_t addr_len;
	uint16_t port;
	struct etsi014_serial_map *map;
	size_t n_map;
	size_t resp_cap;
	unsigned n_workers;
	struct worker *w;
	bool started;
};

static int ssl_unverified_idx = -1;
static pthread_once_t ssl_idx_once = PTHREAD_ONCE_INIT;

static void ssl_idx_init(void)
{
	ssl_unverified_idx = SSL_get_ex_new_index(0, "etsi014 unverified", NULL, NULL, NULL);
}

#define CNT(w, f) __atomic_fetch_add(&(w)->c.f, 1, __ATOMIC_RELAXED)
#define CNT_N(w, f, n) __atomic_fetch_add(&(w)->c.f, (n), __ATOMIC_RELAXED)

static const struct {
	const char *name;
	enum etsi014_sae_id_from v;
} sae_id_from_names[] = {
	{ "cn", ETSI014_SAE_ID_CN },
	{ "san-dns", ETSI014_SAE_ID_SAN_DNS },
	{ "san-uri", ETSI014_SAE_ID_SAN_URI },
	{ "serial", ETSI014_SAE_ID_SERIAL },
};

int etsi014_sae_id_from_parse(const char *s, enum etsi014_sae_id_from *ret)
{
	for (size_t i = 0; i < sizeof(sae_id_from_names) / sizeof(sae_id_from_names[0]); i++)
		if (!strcmp(s, sae_id_from_names[i].name)) {
			*ret = sae_id_from_names[i].v;
			return 0;
		}
	return -EINVAL;
}

const char *etsi014_sae_id_from_name(enum etsi014_sae_id_from f)
{
	for (size_t i = 0; i < sizeof(sae_id_from_names) / sizeof(sae_id_from_names[0]); i++)
		if (sae_id_from_names[i].v == f)
			return sae_id_from_names[i].name;
	return "?";
}

/* ---- caller identity ------------------------------------------------------ */

static int copy_id(const unsigned char *p, int len, char out[static ETSI014_ID_MAX + 1])
{
	if (len <= 0 || len > ETSI014_ID_MAX)
		return -EACCES;
	memcpy(out, p, (size_t)len);
	out[len] = 0;
	if (strlen(out) != (size_t)len || !etsi014_id_valid(out))
		return -EACCES;
	return 0;
}

/* Hex without leading zeros, lower case. */
static void serial_norm(const char *in, char *out, size_t size)
{
	size_t o = 0;

	while (*in == '0' && in[1])
		in++;
	for (; *in && o + 1 < size; in++)
		out[o++] = (char)(*in >= 'A' && *in <= 'F' ? *in - 'A' + 'a' : *in);
	out[o] = 0;
}

static int caller_sae_id(const struct etsi014_server *s, X509 *cert,
			 char out[static ETSI014_ID_MAX + 1])
{
	int r = -EACCES;

	switch (s->cfg.sae_id_from) {
	case ETSI014_SAE_ID_CN: {
		X509_NAME *name = X509_get_subject_name(cert);
		int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
		unsigned char *utf8 = NULL;
		int len;

		/* Exactly one CN: two would make the identity ambiguous. */
		if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
			return -EACCES;
		len = ASN1_STRING_to_UTF8(&utf8,
					  X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
		if (len >= 0)
			r = copy_id(utf8, len, out);
		OPENSSL_free(utf8);
		return r;
	}
	case ETSI014_SAE_ID_SAN_DNS:
	case ETSI014_SAE_ID_SAN_URI: {
		int type = s->cfg.sae_id_from == ETSI014_SAE_ID_SAN_DNS ? GEN_DNS : GEN_URI;
		GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);

		for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

			if (g->type == type) {
				ASN1_IA5STRING *v = type == GEN_DNS ? g->d.dNSName :
					g->d.uniformResourceIdentifier;

				r = copy_id(ASN1_STRING_get0_data(v), ASN1_STRING_length(v), out);
				break;
			}
		}
		GENERAL_NAMES_free(gens);
		return r;
	}
	case ETSI014_SAE_ID_SERIAL: {
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
		char *hex = bn ? BN_bn2hex(bn) : NULL;
		char have[128], want[128];

		if (hex && hex[0] != '-') {
			serial_norm(hex, have, sizeof(have));
			for (size_t i = 0; i < s->n_map; i++) {
				serial_norm(s->map[i].serial_hex, want, sizeof(want));
				if (!strcmp(have, want)) {
					r = copy_id((const unsigned char *)s->map[i].sae_id,
						    (int)strlen(s->map[i].sae_id), out);
					break;
				}
			}
		}
		OPENSSL_free(hex);
		BN_free(bn);
		return r;
	}
	}
	return -EACCES;
}

/*
 * Accept any chain so that the handshake completes and the request can be
 * answered with a JSON 401; remember that it did not verify. The request
 * handler refuses anything but X509_V_OK with no failure remembered.
 */
static int verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());

	if (!ok && ssl)
		SSL_set_ex_data(ssl, ssl_unverified_idx, (void *)1);
	return 1;
}

/* ---- responses ---------------------------------------------------------- */

static void resp_buf_release(const void *data, size_t len, void *extra)
{
	struct resp_buf *rb = extra;
	struct worker *w = rb->w;

	(void)data;
	mfs_wipe(rb->s->p, len);
	if (w->n_spare < RESP_POOL_MAX) {
		rb->next = w->spare;
		w->spare = rb;
		w->n_spare++;
		return;
	}
	secret_free(rb->s);
	free(rb);
}

static struct resp_buf *resp_buf_get(struct worker *w)
{
	struct resp_buf *rb = w->spare;

	if (rb) {
		w->spare = rb->next;
		w->n_spare--;
		return rb;
	}
	if (!(rb = calloc(1, sizeof(*rb))))
		return NULL;
	if (!(rb->s = secret_alloc(w->srv->resp_cap))) {
		free(rb);
		return NULL;
	}
	rb->w = w;
	return rb;
}

static void count_status(struct worker *w, int code)
{
	CNT(w, requests);
	switch (code) {
	case 200:
		CNT(w, ok);
		break;
	case 400:
		CNT(w, e400);
		break;
	case 401:
		CNT(w, e401);
		break;
	case 404:
		CNT(w, e404);
		break;
	case 405:
		CNT(w, e405);
		break;
	default:
		CNT(w, e503);
		break;
	}
}

static void send_json(struct worker *w, struct evhttp_request *req, int code, const void *body,
		      size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
	count_status(w, code);
	evhttp_send_reply(req, code, NULL, NULL);
}

static void send_error(struct worker *w, struct evhttp_request *req, struct etsi014_error *e)
{
	uint8_t body[SMALL_BODY_MAX];
	struct wbuf b = wbuf_init(body, sizeof(body));

	if (e->status == 0)
		e->status = 503;
	if (e->status == 405 && !strcmp(e->detail_name, "Allow"))
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", e->detail_value);
	if (etsi014_format_error(&b, e) < 0) {
		b = wbuf_init(body, sizeof(body));
		wbuf_put(&b, "{\"message\":\"error\"}", 19);
	}
	send_json(w, req, e->status, body, b.len);
}

/* ---- request handling --------------------------------------------------- */

static int authenticate(struct worker *w, struct evhttp_request *req,
			char caller[static ETSI014_ID_MAX + 1], struct etsi014_error *err)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evhttp_request_get_connection(req));
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;

	if (!cert) {
		etsi014_error_set(err, 401, "a client certificate is required");
		return -EACCES;
	}
	if (SSL_get_verify_result(ssl) != X509_V_OK || SSL_get_ex_data(ssl, ssl_unverified_idx)) {
		etsi014_error_set(err, 401, "client certificate not trusted (%s)",
				  X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
		return -EACCES;
	}
	if (caller_sae_id(w->srv, cert, caller) < 0) {
		etsi014_error_set(err, 401, "no SAE ID (%s) in the client certificate",
				  etsi014_sae_id_from_name(w->srv->cfg.sae_id_from));
		return -EACCES;
	}
	return 0;
}

static size_t headers_size(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evkeyval *kv;
	size_t n = 0;

	for (kv = h->tqh_first; kv; kv = kv->next.tqe_next)
		n += strlen(kv->key) + strlen(kv->value) + 4;
	return n;
}

static void map_errno(enum etsi014_op op, int r, struct etsi014_error *err)
{
	if (err->status)
		return;
	switch (r) {
	case -EACCES:
	case -EPERM:
		etsi014_error_set(err, 401, "unauthorized");
		break;
	case -ENOKEY:
		if (op == ETSI014_DEC_KEYS)
			etsi014_error_set(err, 400, ETSI014_ERR_KEYS_NOT_FOUND);
		else
			etsi014_error_set(err, 503, "not enough keys available");
		break;
	case -EINVAL:
		etsi014_error_set(err, 400, "bad request");
		break;
	default:
		etsi014_error_set(err, 503, "key data access error");
		break;
	}
}

static void handle(struct evhttp_request *req, void *arg)
{
	struct worker *w = arg;
	struct etsi014_server *s = w->srv;
	struct etsi014_error err = { 0 };
	struct etsi014_request *rq = NULL;
	struct etsi014_http_in in = { 0 };
	char caller[ETSI014_ID_MAX + 1];
	const struct evhttp_uri *uri;
	struct evbuffer *body;
	struct etsi014_call call;
	struct resp_buf *rb = NULL;
	size_t n = 0;
	int r;

	if (authenticate(w, req, caller, &err) < 0) {
		CNT(w, unauth);
		goto fail;
	}
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		in.method = ETSI014_GET;
		break;
	case EVHTTP_REQ_POST:
		in.method = ETSI014_POST;
		break;
	default:
		in.method = ETSI014_OTHER;
		break;
	}
	if (headers_size(req) > s->cfg.max_header_bytes) {
		etsi014_error_set(&err, 400, "request headers larger than %zu bytes",
				  s->cfg.max_header_bytes);
		goto fail;
	}
	uri = evhttp_request_get_evhttp_uri(req);
	if (!uri || !evhttp_uri_get_path(uri)) {
		etsi014_error_set(&err, 400, "bad request URI");
		goto fail;
	}
	in.path = evhttp_uri_get_path(uri);
	in.query = evhttp_uri_get_query(uri);
	in.content_type = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	body = evhttp_request_get_input_buffer(req);
	in.body_len = evbuffer_get_length(body);
	if (in.body_len > ETSI014_BODY_MAX) {
		etsi014_error_set(&err, 400, "request body larger than %d bytes", ETSI014_BODY_MAX);
		goto fail;
	}
	in.body = in.body_len ? evbuffer_pullup(body, -1) : NULL;
	if (!(rq = malloc(sizeof(*rq)))) {
		etsi014_error_set(&err, 503, "out of memory");
		goto fail;
	}
	if (etsi014_parse_request(&in, &s->cfg.limits, rq, &err) < 0)
		goto fail;

	call = (struct etsi014_call){ .op = rq->op, .caller = caller, .sae_id = rq->sae_id,
				      .thread = w->idx };
	if (rq->op == ETSI014_STATUS) {
		struct etsi014_status st = { 0 };
		uint8_t out[SMALL_BODY_MAX];
		struct wbuf b = wbuf_init(out, sizeof(out));
		const struct etsi014_limits *l = &s->cfg.limits;

		CNT(w, status);
		snprintf(st.master_SAE_ID, sizeof(st.master_SAE_ID), "%s", caller);
		snprintf(st.slave_SAE_ID, sizeof(st.slave_SAE_ID), "%s", rq->sae_id);
		st.key_size = l->key_size;
		st.min_key_size = l->min_key_size;
		st.max_key_size = l->max_key_size;
		st.max_key_per_request = l->max_key_per_request;
		st.max_SAE_ID_count = l->max_SAE_ID_count;
		if ((r = s->be.status(w->tctx, &call, &st, &err)) < 0) {
			map_errno(rq->op, r, &err);
			goto fail;
		}
		if (etsi014_format_status(&b, &st) < 0) {
			etsi014_error_set(&err, 503, "status not representable");
			goto fail;
		}
		send_json(w, req, 200, out, b.len);
		goto out;
	}

	if (rq->op == ETSI014_ENC_KEYS) {
		CNT(w, enc);
		n = rq->u.enc.number;
		r = s->be.enc_keys(w->tctx, &call, &rq->u.enc, (struct etsi014_key *)w->keys->p,
				   &err);
	} else {
		CNT(w, dec);
		n = rq->u.dec.n;
		r = s->be.dec_keys(w->tctx, &call, &rq->u.dec, (struct etsi014_key *)w->keys->p,
				   &err);
	}
	if (r < 0) {
		map_errno(rq->op, r, &err);
		goto fail;
	}
	if (!(rb = resp_buf_get(w))) {
		etsi014_error_set(&err, 503, "out of memory");
		goto fail;
	}
	{
		struct wbuf b = wbuf_init(rb->s->p, rb->s->len);
		struct evkeyvalq *h = evhttp_request_get_output_headers(req);

		if (etsi014_format_keys(&b, (struct etsi014_key *)w->keys->p, n) < 0) {
			resp_buf_release(rb->s->p, rb->s->len, rb);
			etsi014_error_set(&err, 503, "key container not representable");
			goto fail;
		}
		/* The body stays in secret memory; wiped when libevent is done with it. */
		if (evbuffer_add_reference(evhttp_request_get_output_buffer(req), rb->s->p, b.len,
					   resp_buf_release, rb) < 0) {
			resp_buf_release(rb->s->p, rb->s->len, rb);
			etsi014_error_set(&err, 503, "out of memory");
			goto fail;
		}
		evhttp_add_header(h, "Content-Type", "application/json");
		evhttp_add_header(h, "Cache-Control", "no-store");
		CNT_N(w, keys_served, n);
		count_status(w, 200);
		evhttp_send_reply(req, 200, NULL, NULL);
	}
	goto out;
fail:
	send_error(w, req, &err);
out:
	if (n)
		mfs_wipe(w->keys->p, n * sizeof(struct etsi014_key));
	if (rq) {
		mfs_wipe(rq, sizeof(*rq));
		free(rq);
	}
}

static struct bufferevent *bevcb(struct event_base *base, void *arg)
{
	struct worker *w = arg;
	SSL *ssl = SSL_new(w->srv->ctx);
	struct bufferevent *bev;

	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	CNT(w, connections);
	return bev;
}

/* ---- lifecycle ------------------------------------------------------------ */

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	event_base_loopbreak(w->base);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

/* "what file: OpenSSL's reason" into err. */
static void errf(char *err, size_t size, const char *what, const char *file)
{
	if (err && size) {
		unsigned long e = ERR_peek_last_error();
		char ossl[160] = "";

		if (e)
			ERR_error_string_n(e, ossl, sizeof(ossl));
		snprintf(err, size, "%s%s%s: %s", what, file ? " " : "", file ? file : "",
			 ossl[0] ? ossl : "failed");
	}
	ERR_clear_error();
}

static int tls_ctx(struct etsi014_server *s, char *err, size_t err_size)
{
	const struct etsi014_server_config *c = &s->cfg;
	STACK_OF(X509_NAME) *cas;

	if (!(s->ctx = SSL_CTX_new(TLS_server_method()))) {
		errf(err, err_size, "TLS context", NULL);
		return -EIO;
	}
	SSL_CTX_set_min_proto_version(s->ctx, c->min_tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_options(s->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				    SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(s->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(s->ctx, 0);
	SSL_CTX_set_mode(s->ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(s->ctx, c->cert_file) != 1) {
		errf(err, err_size, "server certificate", c->cert_file);
		return -EIO;
	}
	if (SSL_CTX_use_PrivateKey_file(s->ctx, c->key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(s->ctx) != 1) {
		errf(err, err_size, "server key", c->key_file);
		return -EIO;
	}
	if (SSL_CTX_load_verify_locations(s->ctx, c->ca_file, NULL) != 1 ||
	    !(cas = SSL_load_client_CA_file(c->ca_file))) {
		errf(err, err_size, "client CA file", c->ca_file);
		return -EIO;
	}
	SSL_CTX_set_client_CA_list(s->ctx, cas);
	SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, verify_cb);
	return 0;
}

/*
 * A listening socket on addr. SO_REUSEPORT: every worker listens on a
 * socket of its own on the same address and port, and the kernel spreads
 * new connections over them by their addresses; with one shared socket the
 * first worker to wake took a whole burst of connects (2 of 16 workers held
 * all 64 keep-alive connections of bench/supply). Linux admits to the group
 * only sockets of the same effective user.
 */
static int open_listener(const struct sockaddr *addr, socklen_t len, int *ret)
{
	int one = 1, fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    /* Inherited by accepted sockets: headers and body leave without Nagle's delay. */
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    bind(fd, addr, len) < 0 || listen(fd, 1024) < 0) {
		int r = -errno;

		if (fd >= 0)
			close(fd);
		return r;
	}
	*ret = fd;
	return 0;
}

/* Bind addr without SO_REUSEPORT and close again; *ret: the address bound (the port, if 0). */
static int probe_bind(const struct sockaddr *addr, socklen_t len, struct sockaddr_storage *ret,
		      socklen_t *ret_len)
{
	int one = 1, r = 0, fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, addr, len) < 0 || getsockname(fd, (struct sockaddr *)ret, ret_len) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int listen_socket(struct etsi014_server *s, char *err, size_t err_size)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_PASSIVE,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	char port[8];
	int r;

	snprintf(port, sizeof(port), "%u", s->cfg.port);
	if (getaddrinfo(s->cfg.address, port, &hints, &ai) != 0 || !ai) {
		snprintf(err, err_size, "listen address %s is not a numeric IP address",
			 s->cfg.address);
		return -EINVAL;
	}
	/*
	 * First a plain bind: a port that another process holds, with or
	 * without SO_REUSEPORT, is EADDRINUSE here, not a group we would join
	 * (or let a second daemon join later: its own probe fails on ours).
	 */
	s->addr_len = sizeof(s->addr);
	r = probe_bind(ai->ai_addr, ai->ai_addrlen, &s->addr, &s->addr_len);
	if (r == 0)
		r = open_listener((const struct sockaddr *)&s->addr, s->addr_len, &s->fd);
	if (r < 0) {
		snprintf(err, err_size, "listen on %s port %u: %s", s->cfg.address, s->cfg.port,
			 strerror(-r));
		freeaddrinfo(ai);
		return r;
	}
	freeaddrinfo(ai);
	s->port = ntohs(s->addr.ss_family == AF_INET6 ?
			((struct sockaddr_in6 *)&s->addr)->sin6_port :
			((struct sockaddr_in *)&s->addr)->sin_port);
	return 0;
}

int etsi014_server_new(const struct etsi014_server_config *cfg, const struct etsi014_backend *be,
		       struct etsi014_server **ret, char *err, size_t err_size)
{
	struct etsi014_server *s;
	char dummy[ETSI014_ERR_LEN];
	int r;

	if (!err || !err_size) {
		err = dummy;
		err_size = sizeof(dummy);
	}
	err[0] = 0;
	pthread_once(&ssl_idx_once, ssl_idx_init);
	if (!cfg || !be || !be->status || !be->enc_keys || !be->dec_keys || !cfg->address ||
	    !cfg->cert_file || !cfg->key_file || !cfg->ca_file ||
	    cfg->threads > ETSI014_THREADS_MAX || ssl_unverified_idx < 0) {
		snprintf(err, err_size, "incomplete server configuration");
		return -EINVAL;
	}
	if (etsi014_limits_check(&cfg->limits) < 0) {
		snprintf(err, err_size, "inconsistent key limits (sizes in bits, multiples of 8, "
			 "min <= default <= max <= %d, 1..%d keys per request)",
			 ETSI014_KEY_MAX_BITS, ETSI014_KEYS_MAX);
		return -EINVAL;
	}
	if (cfg->sae_id_from == ETSI014_SAE_ID_SERIAL && !cfg->n_serial_map) {
		snprintf(err, err_size, "SAE IDs from serial numbers need a serial map");
		return -EINVAL;
	}
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	s->fd = -1;
	s->cfg = *cfg;
	s->be = *be;
	if (!s->cfg.threads)
		s->cfg.threads = 1;
	if (!s->cfg.idle_timeout_s)
		s->cfg.idle_timeout_s = 60;
	if (!s->cfg.max_header_bytes)
		s->cfg.max_header_bytes = 8192;
	s->resp_cap = etsi014_keys_json_max(cfg->limits.max_key_per_request,
					    cfg->limits.max_key_size / 8);
	if (cfg->n_serial_map) {
		if (!(s->map = calloc(cfg->n_serial_map, sizeof(*s->map)))) {
			r = -ENOMEM;
			goto fail;
		}
		s->n_map = cfg->n_serial_map;
		for (size_t i = 0; i < s->n_map; i++) {
			s->map[i].serial_hex = strdup(cfg->serial_map[i].serial_hex);
			s->map[i].sae_id = strdup(cfg->serial_map[i].sae_id);
			if (!s->map[i].serial_hex || !s->map[i].sae_id) {
				r = -ENOMEM;
				goto fail;
			}
		}
	}
	s->cfg.serial_map = NULL;
	/* The strings of cfg are only used here: do not keep pointers to them. */
	if ((r = tls_ctx(s, err, err_size)) < 0 || (r = listen_socket(s, err, err_size)) < 0)
		goto fail;
	s->cfg.cert_file = s->cfg.key_file = s->cfg.ca_file = s->cfg.address = NULL;
	*ret = s;
	return 0;
fail:
	etsi014_server_free(s);
	return r;
}

uint16_t etsi014_server_port(const struct etsi014_server *s)
{
	return s->port;
}

static int worker_setup(struct etsi014_server *s, struct worker *w)
{
	int fd = -1;

	if (!(w->keys = secret_alloc((size_t)s->cfg.limits.max_key_per_request *
				     sizeof(struct etsi014_key))))
		return -ENOMEM;
	if (pipe2(w->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	if (!(w->base = event_base_new()) || !(w->http = evhttp_new(w->base)))
		return -ENOMEM;
	if (!(w->stop_ev = event_new(w->base, w->stop_pipe[0], EV_READ, stop_cb, w)) ||
	    event_add(w->stop_ev, NULL) < 0)
		return -ENOMEM;
	evhttp_set_bevcb(w->http, bevcb, w);
	evhttp_set_gencb(w->http, handle, w);
	/* Every method reaches handle(), which answers 405 with a JSON body. */
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
				   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
				   EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(w->http, (ev_ssize_t)s->cfg.max_header_bytes * 4);
	evhttp_set_max_body_size(w->http, (ev_ssize_t)ETSI014_BODY_MAX * 4);
	evhttp_set_timeout(w->http, (int)s->cfg.idle_timeout_s);
	/* Worker 0 serves the first socket (connections queued before the start), the others their own. */
	if (w->idx == 0) {
		if ((fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0)) < 0)
			return -errno;
	} else {
		int r = open_listener((const struct sockaddr *)&s->addr, s->addr_len, &fd);

		if (r < 0)
			return r;
	}
	if (!evhttp_accept_socket_with_handle(w->http, fd)) {
		close(fd);
		return -ENOMEM;
	}
	if (s->be.thread_init) {
		int r = s->be.thread_init(s->be.arg, w->idx, &w->tctx);

		if (r < 0)
			return r;
		w->tctx_set = true;
	} else {
		w->tctx = s->be.arg;
	}
	return 0;
}

int etsi014_server_start(struct etsi014_server *s)
{
	int r;

	if (s->started)
		return -EALREADY;
	s->n_workers = s->cfg.threads;
	if (!(s->w = calloc(s->n_workers, sizeof(*s->w))))
		return -ENOMEM;
	s->started = true;
	for (unsigned i = 0; i < s->n_workers; i++)
		s->w[i].stop_pipe[0] = s->w[i].stop_pipe[1] = -1;
	for (unsigned i = 0; i < s->n_workers; i++) {
		s->w[i].srv = s;
		s->w[i].idx = i;
		if ((r = worker_setup(s, &s->w[i])) < 0)
			goto fail;
	}
	for (unsigned i = 0; i < s->n_workers; i++) {
		if ((r = -pthread_create(&s->w[i].tid, NULL, worker_main, &s->w[i])) < 0)
			goto fail;
		s->w[i].running = true;
	}
	return 0;
fail:
	return r;	/* etsi014_server_free() stops what runs and frees the rest */
}

void etsi014_server_stats(const struct etsi014_server *s, struct etsi014_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	for (unsigned i = 0; s && s->w && i < s->n_workers; i++) {
		const struct counters *c = &s->w[i].c;

#define LD(f) __atomic_load_n(&c->f, __ATOMIC_RELAXED)
		ret->connections += LD(connections);
		ret->requests += LD(requests);
		ret->ok += LD(ok);
		ret->keys_served += LD(keys_served);
		ret->enc_requests += LD(enc);
		ret->dec_requests += LD(dec);
		ret->status_requests += LD(status);
		ret->err_400 += LD(e400);
		ret->err_401 += LD(e401);
		ret->err_404 += LD(e404);
		ret->err_405 += LD(e405);
		ret->err_503 += LD(e503);
		ret->unauthenticated += LD(unauth);
		if (i == 0 || LD(connections) < ret->worker_connections_min)
			ret->worker_connections_min = LD(connections);
		if (LD(connections) > ret->worker_connections_max)
			ret->worker_connections_max = LD(connections);
#undef LD
	}
}

void etsi014_server_free(struct etsi014_server *s)
{
	if (!s)
		return;
	for (unsigned i = 0; s->w && i < s->n_workers; i++) {
		struct worker *w = &s->w[i];

		if (w->running) {
			ssize_t wr = write(w->stop_pipe[1], "x", 1);

			(void)wr;
			pthread_join(w->tid, NULL);
		}
	}
	for (unsigned i = 0; s->w && i < s->n_workers; i++) {
		struct worker *w = &s->w[i];

		/* Freeing evhttp frees its connections, whose buffers return to spare. */
		if (w->http)
			evhttp_free(w->http);
		if (w->stop_ev)
			event_free(w->stop_ev);
		if (w->base)
			event_base_free(w->base);
		if (w->tctx_set && s->be.thread_done)
			s->be.thread_done(w->tctx);
		while (w->spare) {
			struct resp_buf *rb = w->spare;

			w->spare = rb->next;
			secret_free(rb->s);
			free(rb);
		}
		secret_free(w->keys);
		if (w->stop_pipe[0] >= 0)
			close(w->stop_pipe[0]);
		if (w->stop_pipe[1] >= 0)
			close(w->stop_pipe[1]);
	}
	free(s->w);
	if (s->fd >= 0)
		close(s->fd);
	SSL_CTX_free(s->ctx);
	for (size_t i = 0; s->map && i < s->n_map; i++) {
		free((char *)s->map[i].serial_hex);
		free((char *)s->map[i].sae_id);
	}
	free(s->map);
	free(s);
}
