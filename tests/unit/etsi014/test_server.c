/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ETSI GS QKD 014 HTTPS server (src/etsi014/server.h) on loopback with
 * real TLS: a CA, a server certificate and client certificates made here
 * with OpenSSL, a toy backend, and a blocking OpenSSL client speaking
 * HTTP/1.1 with keep-alive. Covers: the SAE ID from CN, SAN and serial;
 * 401 with a JSON body for no certificate, a certificate from another CA
 * and one without the configured ID; status with the limits pre-filled;
 * enc_keys and dec_keys through the backend (keys base64 on the wire);
 * errno mapping (-ENOKEY, -EACCES, backend-set errors); 404, 405 with
 * Allow, oversized headers and bodies as JSON 400; several requests on one
 * connection; counters; stop while clients are connected.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "etsi014/server.h"

static char dir[64];
static char path_ca[128], path_srv_cert[128], path_srv_key[128];

struct ident {
	const char *name;	/* file stem */
	const char *cn;
	const char *san;	/* "DNS:x" or "URI:x" or NULL */
	long serial;
	bool rogue;		/* signed by another CA */
};

static const struct ident idents[] = {
	{ "sae_a", "SAE_A", "DNS:sae-a.example", 0x1001, false },
	{ "sae_b", "SAE_B", "URI:urn:sae:b", 0x1002, false },
	{ "rogue", "SAE_A", NULL, 0x1003, true },
	{ "nocn", NULL, NULL, 0x1004, false },
};

static EVP_PKEY *newkey(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	assert_non_null(k);
	return k;
}

static X509 *mkcert(EVP_PKEY *key, const char *cn, const char *san, long serial, X509 *issuer,
		    EVP_PKEY *ikey, bool ca)
{
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	if (cn)
		X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
					   (const unsigned char *)cn, -1, -1, 0);
	else
		X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O", MBSTRING_ASC,
					   (const unsigned char *)"no cn", -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (san) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
		assert_non_null(ext);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0);
	return x;
}

static void write_pem(const char *name, X509 *x, EVP_PKEY *k)
{
	char p[160];
	FILE *f;

	if (x) {
		snprintf(p, sizeof(p), "%s/%s.crt", dir, name);
		assert_non_null(f = fopen(p, "w"));
		PEM_write_X509(f, x);
		fclose(f);
	}
	if (k) {
		snprintf(p, sizeof(p), "%s/%s.key", dir, name);
		assert_non_null(f = fopen(p, "w"));
		PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
		fclose(f);
	}
}

static void make_pki(void)
{
	EVP_PKEY *cak = newkey(), *rk = newkey(), *sk = newkey();
	X509 *ca = mkcert(cak, "test CA", NULL, 1, NULL, NULL, true);
	X509 *rca = mkcert(rk, "rogue CA", NULL, 1, NULL, NULL, true);
	X509 *srv = mkcert(sk, "kme-a", "DNS:localhost,IP:127.0.0.1", 2, ca, cak, false);

	write_pem("ca", ca, NULL);
	write_pem("server", srv, sk);
	for (size_t i = 0; i < sizeof(idents) / sizeof(idents[0]); i++) {
		const struct ident *d = &idents[i];
		EVP_PKEY *k = newkey();
		X509 *x = mkcert(k, d->cn, d->san, d->serial, d->rogue ? rca : ca,
				 d->rogue ? rk : cak, false);

		write_pem(d->name, x, k);
		X509_free(x);
		EVP_PKEY_free(k);
	}
	X509_free(ca);
	X509_free(rca);
	X509_free(srv);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(sk);
	snprintf(path_ca, sizeof(path_ca), "%s/ca.crt", dir);
	snprintf(path_srv_cert, sizeof(path_srv_cert), "%s/server.crt", dir);
	snprintf(path_srv_key, sizeof(path_srv_key), "%s/server.key", dir);
}

/* ---- toy backend ---------------------------------------------------------- */

static int n_thread_init, n_thread_done;
static char last_caller[ETSI014_ID_MAX + 1];

static int be_thread_init(void *arg, unsigned thread, void **ret)
{
	(void)thread;
	__atomic_fetch_add(&n_thread_init, 1, __ATOMIC_SEQ_CST);
	*ret = arg;
	return 0;
}

static void be_thread_done(void *tctx)
{
	(void)tctx;
	__atomic_fetch_add(&n_thread_done, 1, __ATOMIC_SEQ_CST);
}

static int be_status(void *tctx, const struct etsi014_call *c, struct etsi014_status *st,
		     struct etsi014_error *err)
{
	(void)tctx;
	(void)err;
	snprintf(last_caller, sizeof(last_caller), "%s", c->caller);
	if (strcmp(c->sae_id, "SAE_B") && strcmp(c->sae_id, "SAE_A"))
		return -EACCES;
	snprintf(st->source_KME_ID, sizeof(st->source_KME_ID), "kme-a");
	snprintf(st->target_KME_ID, sizeof(st->target_KME_ID), "kme-b");
	st->stored_key_count = 77;
	st->max_key_count = 1000;
	return 0;
}

static int be_enc(void *tctx, const struct etsi014_call *c, const struct etsi014_key_request *req,
		  struct etsi014_key *keys, struct etsi014_error *err)
{
	(void)tctx;
	snprintf(last_caller, sizeof(last_caller), "%s", c->caller);
	if (!strcmp(c->sae_id, "EMPTY"))
		return -ENOKEY;
	if (!strcmp(c->sae_id, "FULL")) {
		etsi014_error_set(err, 503, "key store full");
		return -ENOSPC;
	}
	for (unsigned i = 0; i < req->number; i++) {
		memset(keys[i].id, 0, 16);
		keys[i].id[15] = (uint8_t)i;
		keys[i].id[6] = 0x40;
		keys[i].len = req->size / 8;
		memset(keys[i].key, (int)(0x10 + i), keys[i].len);
	}
	return 0;
}

static int be_dec(void *tctx, const struct etsi014_call *c, const struct etsi014_key_ids *ids,
		  struct etsi014_key *keys, struct etsi014_error *err)
{
	(void)tctx;
	(void)err;
	if (strcmp(c->caller, "SAE_B") != 0)
		return -EACCES;
	for (size_t i = 0; i < ids->n; i++) {
		if (ids->id[i][0] == 0xff)
			return -ENOKEY;
		memcpy(keys[i].id, ids->id[i], 16);
		keys[i].len = 32;
		memset(keys[i].key, 0x77, 32);
	}
	return 0;
}

static const struct etsi014_backend backend = {
	.arg = (void *)&backend,
	.thread_init = be_thread_init, .thread_done = be_thread_done,
	.status = be_status, .enc_keys = be_enc, .dec_keys = be_dec,
};

/* ---- client ------------------------------------------------------------------ */

struct client {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
};

static int client_open(struct client *cl, uint16_t port, const char *ident)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	char p[160];

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memset(cl, 0, sizeof(*cl));
	assert_non_null(cl->ctx = SSL_CTX_new(TLS_client_method()));
	assert_int_equal(SSL_CTX_load_verify_locations(cl->ctx, path_ca, NULL), 1);
	SSL_CTX_set_verify(cl->ctx, SSL_VERIFY_PEER, NULL);
	if (ident) {
		snprintf(p, sizeof(p), "%s/%s.crt", dir, ident);
		assert_int_equal(SSL_CTX_use_certificate_file(cl->ctx, p, SSL_FILETYPE_PEM), 1);
		snprintf(p, sizeof(p), "%s/%s.key", dir, ident);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(cl->ctx, p, SSL_FILETYPE_PEM), 1);
	}
	cl->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(cl->fd >= 0);
	assert_int_equal(connect(cl->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cl->ssl = SSL_new(cl->ctx);
	SSL_set_fd(cl->ssl, cl->fd);
	SSL_set1_host(cl->ssl, "localhost");
	return SSL_connect(cl->ssl) == 1 ? 0 : -EPROTO;
}

static void client_close(struct client *cl)
{
	SSL_free(cl->ssl);
	SSL_CTX_free(cl->ctx);
	close(cl->fd);
}

struct resp {
	int status;
	char head[4096];
	char body[70000];
	size_t body_len;
};

/* One request; the response is read up to its Content-Length. */
static int request(struct client *cl, const char *method, const char *target, const char *extra_hdr,
		   const char *body, struct resp *r)
{
	static char buf[200000];
	size_t blen = body ? strlen(body) : 0, got = 0, clen;
	int n = snprintf(buf, sizeof(buf), "%s %s HTTP/1.1\r\nHost: localhost\r\n%s%s"
			 "Content-Length: %zu\r\n\r\n", method, target, extra_hdr ? extra_hdr : "",
			 body ? "Content-Type: application/json\r\n" : "", blen);
	char *eoh, *cl_hdr;

	assert_true(n > 0 && (size_t)n + blen < sizeof(buf));
	memcpy(buf + n, body ? body : "", blen);
	if (SSL_write(cl->ssl, buf, n + (int)blen) <= 0)
		return -EPIPE;
	memset(r, 0, sizeof(*r));
	for (;;) {
		int k = SSL_read(cl->ssl, buf + got, (int)(sizeof(buf) - 1 - got));

		if (k <= 0)
			return -ECONNRESET;
		got += (size_t)k;
		buf[got] = 0;
		if ((eoh = strstr(buf, "\r\n\r\n")))
			break;
	}
	*eoh = 0;
	assert_true(strlen(buf) < sizeof(r->head));
	memcpy(r->head, buf, strlen(buf) + 1);
	r->status = (int)strtol(buf + 9, NULL, 10);
	cl_hdr = strcasestr(r->head, "Content-Length:");
	assert_non_null(cl_hdr);
	clen = strtoul(cl_hdr + 15, NULL, 10);
	assert_true(clen < sizeof(r->body));
	while (got - (size_t)(eoh + 4 - buf) < clen) {
		int k = SSL_read(cl->ssl, buf + got, (int)(sizeof(buf) - 1 - got));

		if (k <= 0)
			return -ECONNRESET;
		got += (size_t)k;
	}
	memcpy(r->body, eoh + 4, clen);
	r->body[clen] = 0;
	r->body_len = clen;
	return 0;
}

static json_t *body_json(const struct resp *r)
{
	json_t *j = json_loadb(r->body, r->body_len, 0, NULL);

	if (!j)
		fail_msg("response body is not JSON: %s", r->body);
	return j;
}

static const char *message(const struct resp *r)
{
	static char m[512];
	json_t *j = body_json(r);

	snprintf(m, sizeof(m), "%s", json_string_value(json_object_get(j, "message")));
	json_decref(j);
	return m;
}

static struct etsi014_server_config base_cfg(void)
{
	return (struct etsi014_server_config){
		.address = "127.0.0.1", .port = 0,
		.cert_file = path_srv_cert, .key_file = path_srv_key, .ca_file = path_ca,
		.limits = { .key_size = 256, .min_key_size = 64, .max_key_size = 1024,
			    .max_key_per_request = 128, .max_SAE_ID_count = 0 },
		.threads = 2,
	};
}

static struct etsi014_server *start(const struct etsi014_server_config *cfg)
{
	struct etsi014_server *s = NULL;
	char err[ETSI014_ERR_LEN];
	int r = etsi014_server_new(cfg, &backend, &s, err, sizeof(err));

	if (r < 0)
		fail_msg("etsi014_server_new: %d %s", r, err);
	assert_int_equal(etsi014_server_start(s), 0);
	return s;
}

static void test_endpoints(void **state)
{
	struct etsi014_server_config cfg = base_cfg();
	struct etsi014_server *s = start(&cfg);
	struct etsi014_stats st;
	struct client cl;
	static struct resp r;
	json_t *j, *keys;
	uint8_t key[200];

	(void)state;
	assert_int_equal(client_open(&cl, etsi014_server_port(s), "sae_a"), 0);

	assert_int_equal(request(&cl, "GET", "/api/v1/keys/SAE_B/status", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strcasestr(r.head, "Content-Type: application/json"));
	j = body_json(&r);
	assert_string_equal(json_string_value(json_object_get(j, "master_SAE_ID")), "SAE_A");
	assert_string_equal(json_string_value(json_object_get(j, "slave_SAE_ID")), "SAE_B");
	assert_string_equal(json_string_value(json_object_get(j, "source_KME_ID")), "kme-a");
	assert_int_equal(json_integer_value(json_object_get(j, "key_size")), 256);
	assert_int_equal(json_integer_value(json_object_get(j, "stored_key_count")), 77);
	assert_int_equal(json_integer_value(json_object_get(j, "max_key_per_request")), 128);
	assert_int_equal(json_integer_value(json_object_get(j, "max_SAE_ID_count")), 0);
	json_decref(j);

	/* the same connection: keep-alive */
	assert_int_equal(request(&cl, "POST", "/api/v1/keys/SAE_B/enc_keys", NULL,
				 "{\"number\":3,\"size\":512}", &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strcasestr(r.head, "Cache-Control: no-store"));
	j = body_json(&r);
	keys = json_object_get(j, "keys");
	assert_int_equal(json_array_size(keys), 3);
	const char *b64 = json_string_value(json_object_get(json_array_get(keys, 2), "key"));
	assert_int_equal(etsi014_base64_decode(key, sizeof(key), b64, strlen(b64)), 64);
	assert_int_equal(key[0], 0x12);
	assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 2), "key_ID")),
			    "00000000-0000-4000-0000-000000000002");
	json_decref(j);

	assert_int_equal(request(&cl, "GET", "/api/v1/keys/SAE_B/enc_keys?number=2", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(last_caller, "SAE_A");

	/* errors: the spec's codes, JSON bodies */
	assert_int_equal(request(&cl, "GET", "/api/v1/keys/SAE_B/enc_keys?size=12", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 400);
	assert_string_equal(message(&r), "size shall be a multiple of 8");
	assert_int_equal(request(&cl, "GET", "/api/v1/keys/EMPTY/enc_keys", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 503);
	assert_int_equal(request(&cl, "GET", "/api/v1/keys/FULL/enc_keys", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 503);
	assert_string_equal(message(&r), "key store full");
	assert_int_equal(request(&cl, "GET", "/api/v1/keys/OTHER/status", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 401);
	assert_string_equal(message(&r), "unauthorized");
	assert_int_equal(request(&cl, "GET", "/api/v1/keys/SAE_B/foo", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 404);
	message(&r);
	assert_int_equal(request(&cl, "DELETE", "/api/v1/keys/SAE_B/enc_keys", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 405);
	assert_non_null(strcasestr(r.head, "Allow: GET, POST"));
	message(&r);
	assert_int_equal(request(&cl, "POST", "/api/v1/keys/SAE_B/status", NULL, "{}", &r), 0);
	assert_int_equal(r.status, 405);
	/* dec_keys: SAE_A is not the slave the toy backend accepts */
	assert_int_equal(request(&cl, "GET", "/api/v1/keys/SAE_B/dec_keys?key_ID="
				 "00000000-0000-4000-8000-000000000001", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 401);
	client_close(&cl);

	/* SAE_B: dec_keys */
	assert_int_equal(client_open(&cl, etsi014_server_port(s), "sae_b"), 0);
	assert_int_equal(request(&cl, "POST", "/api/v1/keys/SAE_A/dec_keys", NULL,
				 "{\"key_IDs\":[{\"key_ID\":\"00000000-0000-4000-8000-000000000001\"}]}",
				 &r), 0);
	assert_int_equal(r.status, 200);
	j = body_json(&r);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "keys"), 0),
							      "key_ID")),
			    "00000000-0000-4000-8000-000000000001");
	json_decref(j);
	assert_int_equal(request(&cl, "GET", "/api/v1/keys/SAE_A/dec_keys?key_ID="
				 "ff000000-0000-4000-8000-000000000001", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 400);
	assert_string_equal(message(&r), "one or more keys specified are not found on KME");

	/* oversized headers and body: JSON 400 */
	{
		static char hdr[12000], body[ETSI014_BODY_MAX + 100];

		memset(hdr, 'a', sizeof(hdr));
		memcpy(hdr, "X-Big: ", 7);
		memcpy(hdr + sizeof(hdr) - 3, "\r\n", 3);
		assert_int_equal(request(&cl, "GET", "/api/v1/keys/SAE_A/status", hdr, NULL, &r), 0);
		assert_int_equal(r.status, 400);
		assert_string_equal(message(&r), "request headers larger than 8192 bytes");
		memset(body, ' ', sizeof(body));
		body[0] = '{';
		body[sizeof(body) - 2] = '}';
		body[sizeof(body) - 1] = 0;
		assert_int_equal(request(&cl, "POST", "/api/v1/keys/SAE_A/enc_keys", NULL, body, &r), 0);
		assert_int_equal(r.status, 400);
		assert_string_equal(message(&r), "request body larger than 65536 bytes");
	}
	client_close(&cl);

	etsi014_server_stats(s, &st);
	assert_int_equal(st.ok, 4);
	assert_int_equal(st.keys_served, 3 + 2 + 1);
	assert_int_equal(st.err_401, 2);
	assert_int_equal(st.err_405, 2);
	assert_int_equal(st.err_404, 1);
	assert_int_equal(st.err_503, 2);
	assert_int_equal(st.err_400, 4);
	assert_int_equal(st.connections, 2);
	etsi014_server_free(s);
	assert_int_equal(n_thread_init, 2);
	assert_int_equal(n_thread_done, 2);
}

static void test_unauthenticated(void **state)
{
	struct etsi014_server_config cfg = base_cfg();
	struct etsi014_server *s = start(&cfg);
	struct etsi014_stats st;
	struct client cl;
	static struct resp r;
	const char *who[] = { NULL, "rogue", "nocn" };

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(client_open(&cl, etsi014_server_port(s), who[i]), 0);
		assert_int_equal(request(&cl, "POST", "/api/v1/keys/SAE_B/enc_keys", NULL, "{}", &r), 0);
		assert_int_equal(r.status, 401);
		if (i == 0)
			assert_string_equal(message(&r), "a client certificate is required");
		else if (i == 1)
			assert_non_null(strstr(message(&r), "client certificate not trusted"));
		else
			assert_string_equal(message(&r), "no SAE ID (cn) in the client certificate");
		client_close(&cl);
	}
	etsi014_server_stats(s, &st);
	assert_int_equal(st.keys_served, 0);
	assert_int_equal(st.unauthenticated, 3);
	assert_int_equal(st.enc_requests, 0);
	etsi014_server_free(s);
}

static void test_id_sources(void **state)
{
	static const struct etsi014_serial_map map[] = { { "1002", "serial-b" }, { "0x1", "x" } };
	struct etsi014_server_config cfg;
	struct etsi014_server *s;
	struct client cl;
	static struct resp r;
	struct { enum etsi014_sae_id_from from; const char *ident; const char *want; } cases[] = {
		{ ETSI014_SAE_ID_SAN_DNS, "sae_a", "sae-a.example" },
		{ ETSI014_SAE_ID_SAN_DNS, "sae_b", NULL },
		{ ETSI014_SAE_ID_SAN_URI, "sae_b", "urn:sae:b" },
		{ ETSI014_SAE_ID_SERIAL, "sae_b", "serial-b" },
		{ ETSI014_SAE_ID_SERIAL, "sae_a", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg = base_cfg();
		cfg.threads = 1;
		cfg.sae_id_from = cases[i].from;
		cfg.serial_map = map;
		cfg.n_serial_map = 2;
		s = start(&cfg);
		assert_int_equal(client_open(&cl, etsi014_server_port(s), cases[i].ident), 0);
		last_caller[0] = 0;
		assert_int_equal(request(&cl, "GET", "/api/v1/keys/SAE_B/status", NULL, NULL, &r), 0);
		if (cases[i].want) {
			assert_int_equal(r.status, 200);
			assert_string_equal(last_caller, cases[i].want);
		} else {
			assert_int_equal(r.status, 401);
		}
		client_close(&cl);
		etsi014_server_free(s);
	}
}

static void test_config_errors(void **state)
{
	struct etsi014_server_config cfg = base_cfg();
	struct etsi014_server *s = NULL;
	char err[ETSI014_ERR_LEN];
	enum etsi014_sae_id_from f;

	(void)state;
	cfg.cert_file = "/nonexistent.crt";
	assert_int_equal(etsi014_server_new(&cfg, &backend, &s, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "/nonexistent.crt"));
	cfg = base_cfg();
	cfg.limits.key_size = 12;
	assert_int_equal(etsi014_server_new(&cfg, &backend, &s, err, sizeof(err)), -EINVAL);
	cfg = base_cfg();
	cfg.address = "localhost";
	assert_int_equal(etsi014_server_new(&cfg, &backend, &s, err, sizeof(err)), -EINVAL);
	cfg = base_cfg();
	cfg.sae_id_from = ETSI014_SAE_ID_SERIAL;
	assert_int_equal(etsi014_server_new(&cfg, &backend, &s, err, sizeof(err)), -EINVAL);
	assert_null(s);
	assert_int_equal(etsi014_sae_id_from_parse("san-uri", &f), 0);
	assert_int_equal(f, ETSI014_SAE_ID_SAN_URI);
	assert_int_equal(etsi014_sae_id_from_parse("CN", &f), -EINVAL);
	/* free while a client holds a connection open */
	cfg = base_cfg();
	s = start(&cfg);
	struct client cl;
	assert_int_equal(client_open(&cl, etsi014_server_port(s), "sae_a"), 0);
	/*
	 * A second server on the same port is refused, although the workers'
	 * sockets use SO_REUSEPORT: it must not join the first one's group.
	 */
	{
		struct etsi014_server *s2 = NULL;

		cfg.port = etsi014_server_port(s);
		cfg.threads = 4;
		assert_int_equal(etsi014_server_new(&cfg, &backend, &s2, err, sizeof(err)),
				 -EADDRINUSE);
		assert_null(s2);
		assert_non_null(strstr(err, "Address already in use"));
	}
	etsi014_server_free(s);
	client_close(&cl);
}

/*
 * A burst of connects spreads over the workers (one listening socket each,
 * SO_REUSEPORT). With one shared socket the first worker to wake accepted
 * the whole burst (seen: 2 of 16 workers holding all 64 connections).
 */
static void test_workers_share(void **state)
{
	struct etsi014_server_config cfg = base_cfg();
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct etsi014_server *s;
	struct etsi014_stats st;
	int fd[64];

	(void)state;
	cfg.threads = 4;
	s = start(&cfg);
	sa.sin_port = htons(etsi014_server_port(s));
	/* plain TCP connects, as fast as the kernel completes them: all queued before a worker wakes */
	for (int i = 0; i < 64; i++) {
		fd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fd[i] >= 0);
		assert_int_equal(connect(fd[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	for (int t = 0; t < 200; t++) {
		etsi014_server_stats(s, &st);
		if (st.connections == 64)
			break;
		usleep(10000);
	}
	assert_int_equal(st.connections, 64);
	/* hashed over four sockets: every worker has some, none has most (P < 1e-6) */
	assert_true(st.worker_connections_min > 0);
	assert_true(st.worker_connections_max <= 40);
	for (int i = 0; i < 64; i++)
		close(fd[i]);
	etsi014_server_free(s);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/etsi014-test-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	make_pki();
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_unauthenticated),
		cmocka_unit_test(test_id_sources),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_workers_share),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
