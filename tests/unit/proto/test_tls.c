/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer channel over real OpenSSL TLS: two nodes on a socketpair, driven
 * non-blocking in one thread. Pinned mutual ML-DSA-65 authentication, the
 * negotiated group, the exporter, and every refusal (wrong pin on either
 * side, TLS 1.2, a non-ML-DSA certificate, no common group). With the
 * openssl tool (OPENSSL in the environment): interop with s_client and
 * s_server over TCP loopback.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "proto/identity.h"
#include "proto/tls.h"

static struct identity *id_a, *id_b, *id_c;	/* c: a third node nobody pins */
static char tmpdir[PATH_MAX - 64];

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof(tmpdir), "%s/mfs-tls-test.XXXXXX", t && t[0] ? t : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	if (identity_generate("node-a", 0, &id_a) < 0 || identity_generate("node-b", 0, &id_b) < 0 ||
	    identity_generate("node-c", 0, &id_c) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	identity_free(id_a);
	identity_free(id_b);
	identity_free(id_c);
	return nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* One end of a connection: ours (c) or a raw OpenSSL one (raw) standing in for a bad peer. */
struct end {
	struct tls_conn *c;
	SSL *raw;
	int fd;
	int rc;		/* 1 still running, 0 done, < 0 failed */
	double cpu_ms;	/* CPU time spent in this end's handshake calls */
};

static double thread_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void end_step(struct end *e)
{
	double t0 = thread_cpu_ms();

	if (e->c) {
		int r = tls_conn_handshake(e->c);

		e->rc = r == -EAGAIN ? 1 : r;
	} else {
		int r = SSL_do_handshake(e->raw);
		int err = SSL_get_error(e->raw, r);

		e->rc = r == 1 ? 0 : (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) ? 1 : -EPROTO;
		ERR_clear_error();
	}
	e->cpu_ms += thread_cpu_ms() - t0;
}

/* Run both handshakes until each is done or failed. */
static void pump(struct end *cl, struct end *sv)
{
	cl->rc = sv->rc = 1;
	for (int i = 0; i < 200 && (cl->rc == 1 || sv->rc == 1); i++) {
		if (cl->rc == 1)
			end_step(cl);
		if (sv->rc == 1)
			end_step(sv);
		/* One side failed and the other waits for bytes that will never come. */
		if ((cl->rc < 0 || sv->rc < 0) && i > 20)
			break;
	}
}

static void socket_pair(int fds[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
}

static struct tls_ctx *ctx_of(const struct identity *idn, enum tls_group g)
{
	struct tls_ctx *ctx = NULL;
	char err[TLS_ERR_MAX];
	int r = tls_ctx_new(idn, g, &ctx, err, sizeof(err));

	if (r < 0)
		fail_msg("tls_ctx_new: %d %s", r, err);
	return ctx;
}

/* A connection of ctx pinned to pin, on fd. */
static struct tls_conn *conn_of(struct tls_ctx *ctx, enum tls_role role, const uint8_t *pin, int fd)
{
	struct tls_conn *c = NULL;

	assert_int_equal(tls_conn_new(ctx, role, pin, &c), 0);
	assert_int_equal(tls_conn_set_fd(c, fd), 0);
	return c;
}

/* Exchange one message each way (the first server message is the confirmation, tls.h). */
static void exchange(struct tls_conn *cl, struct tls_conn *sv)
{
	char buf[16];

	assert_int_equal(tls_conn_write(cl, "ping", 4), 4);
	assert_int_equal(tls_conn_read(sv, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(tls_conn_write(sv, "pong", 4), 4);
	assert_int_equal(tls_conn_read(cl, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "pong", 4);
	assert_int_equal(tls_conn_read(cl, buf, sizeof(buf)), -EAGAIN);
	assert_int_equal(tls_conn_want(cl), TLS_WANT_READ);
}

struct pair {
	struct tls_ctx *cctx, *sctx;
	struct end cl, sv;
	int fds[2];
};

/* Client a (pinning cpin) against server b (pinning spin). */
static void pair_run(struct pair *p, enum tls_group cg, enum tls_group sg, const uint8_t *cpin,
		     const uint8_t *spin)
{
	memset(p, 0, sizeof(*p));
	socket_pair(p->fds);
	p->cctx = ctx_of(id_a, cg);
	p->sctx = ctx_of(id_b, sg);
	p->cl.c = conn_of(p->cctx, TLS_CLIENT, cpin, p->fds[0]);
	p->sv.c = conn_of(p->sctx, TLS_SERVER, spin, p->fds[1]);
	pump(&p->cl, &p->sv);
}

static void pair_done(struct pair *p)
{
	tls_conn_free(p->cl.c);
	tls_conn_free(p->sv.c);
	SSL_free(p->cl.raw);
	tls_ctx_free(p->cctx);
	tls_ctx_free(p->sctx);
	close(p->fds[0]);
	close(p->fds[1]);
}

static void expect_established(struct pair *p, const char *group)
{
	uint8_t fpr[IDENTITY_FPR_LEN];

	if (p->cl.rc != 0 || p->sv.rc != 0)
		fail_msg("handshake: client %d '%s', server %d '%s'", p->cl.rc, tls_conn_error(p->cl.c),
			 p->sv.rc, tls_conn_error(p->sv.c));
	assert_true(tls_conn_established(p->cl.c));
	assert_int_equal(SSL_version(tls_conn_ssl(p->cl.c)), TLS1_3_VERSION);
	assert_int_equal(SSL_version(tls_conn_ssl(p->sv.c)), TLS1_3_VERSION);
	assert_string_equal(tls_conn_group(p->cl.c), group);
	assert_string_equal(tls_conn_group(p->sv.c), group);
	assert_string_equal(SSL_get_cipher_name(tls_conn_ssl(p->cl.c)), "TLS_AES_256_GCM_SHA384");
	assert_int_equal(tls_conn_peer_fingerprint(p->cl.c, fpr), 0);
	assert_memory_equal(fpr, id_b->cert_fpr, sizeof(fpr));
	assert_int_equal(tls_conn_peer_fingerprint(p->sv.c, fpr), 0);
	assert_memory_equal(fpr, id_a->cert_fpr, sizeof(fpr));
	/* No session resumption: no ticket was issued. */
	assert_int_equal(SSL_session_reused(tls_conn_ssl(p->cl.c)), 0);
	exchange(p->cl.c, p->sv.c);
}

static void handshake_ok(enum tls_group g, const char *name)
{
	uint8_t x1[TLS_EXPORTER_LEN], x2[TLS_EXPORTER_LEN], y1[TLS_EXPORTER_LEN], y2[TLS_EXPORTER_LEN];
	uint8_t z[TLS_EXPORTER_LEN];
	struct pair p, q;

	pair_run(&p, g, g, id_b->cert_fpr, id_a->cert_fpr);
	expect_established(&p, name);
	assert_int_equal(tls_conn_export(p.cl.c, NULL, 0, x1), 0);
	assert_int_equal(tls_conn_export(p.sv.c, NULL, 0, x2), 0);
	assert_memory_equal(x1, x2, sizeof(x1));
	/* The context is bound: another context, another value (the same on both sides). */
	assert_int_equal(tls_conn_export(p.cl.c, (const uint8_t *)"x1", 2, z), 0);
	assert_memory_not_equal(z, x1, sizeof(z));
	assert_int_equal(tls_conn_export(p.sv.c, (const uint8_t *)"x1", 2, y1), 0);
	assert_memory_equal(z, y1, sizeof(z));
	/* The exporter is the RFC 8446 one with our label: OpenSSL gives the same directly. */
	assert_int_equal(SSL_export_keying_material(tls_conn_ssl(p.cl.c), z, sizeof(z), TLS_EXPORTER_LABEL,
						    strlen(TLS_EXPORTER_LABEL), NULL, 0, 1), 1);
	assert_memory_equal(z, x1, sizeof(z));

	pair_run(&q, g, g, id_b->cert_fpr, id_a->cert_fpr);
	expect_established(&q, name);
	assert_int_equal(tls_conn_export(q.cl.c, NULL, 0, y1), 0);
	assert_int_equal(tls_conn_export(q.sv.c, NULL, 0, y2), 0);
	assert_memory_equal(y1, y2, sizeof(y1));
	assert_memory_not_equal(x1, y1, sizeof(x1));	/* another connection, another exporter */

	assert_int_equal(tls_conn_shutdown(p.cl.c), 0);
	{
		char buf[4];

		assert_int_equal(tls_conn_read(p.sv.c, buf, sizeof(buf)), 0);	/* close_notify */
	}
	pair_done(&p);
	pair_done(&q);
}

static void test_x25519mlkem768(void **state)
{
	(void)state;
	handshake_ok(TLS_GROUP_X25519MLKEM768, "X25519MLKEM768");
}

static void test_mlkem1024(void **state)
{
	(void)state;
	handshake_ok(TLS_GROUP_MLKEM1024, "MLKEM1024");
}

static void test_group_names(void **state)
{
	enum tls_group g;

	(void)state;
	assert_int_equal(tls_group_parse("x25519mlkem768", &g), 0);
	assert_int_equal(g, TLS_GROUP_X25519MLKEM768);
	assert_int_equal(tls_group_parse("MLKEM1024", &g), 0);
	assert_int_equal(g, TLS_GROUP_MLKEM1024);
	assert_int_equal(tls_group_parse("X25519", &g), -EINVAL);
	assert_string_equal(tls_group_name(TLS_GROUP_MLKEM1024), "MLKEM1024");
}

static void expect_error(const char *who, struct tls_conn *c, const char *has)
{
	const char *e = tls_conn_error(c);

	print_message("  %s: %s\n", who, e);
	if (!strstr(e, has))
		fail_msg("%s error '%s' lacks '%s'", who, e, has);
}

/* The client expects c, the server presents b. */
static void test_wrong_pin_client(void **state)
{
	struct pair p;
	uint8_t x[TLS_EXPORTER_LEN];

	(void)state;
	pair_run(&p, TLS_GROUP_X25519MLKEM768, TLS_GROUP_X25519MLKEM768, id_c->cert_fpr, id_a->cert_fpr);
	assert_int_equal(p.cl.rc, -EKEYREJECTED);
	expect_error("client", p.cl.c, "fingerprint does not match the pin");
	assert_true(p.sv.rc < 0);
	assert_int_equal(p.sv.rc, -EKEYREJECTED);	/* "the peer refused our certificate" */
	expect_error("server", p.sv.c, "bad certificate");
	assert_int_equal(tls_conn_export(p.cl.c, NULL, 0, x), -EPROTO);
	assert_true(tls_conn_group(p.cl.c) == NULL);
	pair_done(&p);
}

/* The server expects c, the client presents a. */
static void test_wrong_pin_server(void **state)
{
	struct pair p;
	char buf[8];
	ssize_t n;

	(void)state;
	pair_run(&p, TLS_GROUP_X25519MLKEM768, TLS_GROUP_X25519MLKEM768, id_b->cert_fpr, id_c->cert_fpr);
	assert_int_equal(p.sv.rc, -EKEYREJECTED);
	expect_error("server", p.sv.c, "fingerprint does not match the pin");
	/* TLS 1.3: the client may finish first; its first read then sees the alert. */
	if (p.cl.rc == 0)
		n = tls_conn_read(p.cl.c, buf, sizeof(buf));
	else
		n = p.cl.rc;
	assert_int_equal(n, -EKEYREJECTED);
	expect_error("client", p.cl.c, "bad certificate");
	pair_done(&p);
}

static void test_group_mismatch(void **state)
{
	struct pair p;

	(void)state;
	pair_run(&p, TLS_GROUP_X25519MLKEM768, TLS_GROUP_MLKEM1024, id_b->cert_fpr, id_a->cert_fpr);
	assert_true(p.cl.rc < 0);
	assert_true(p.sv.rc < 0);
	expect_error("server", p.sv.c, "handshake failed");
	expect_error("client", p.cl.c, "handshake failed");
	pair_done(&p);
}

/* A raw OpenSSL client: TLS max_version, optional certificate and key, groups. */
static SSL *raw_client(int max_version, X509 *cert, EVP_PKEY *key, const char *groups, int fd)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;

	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max_version), 1);
	if (groups)
		assert_int_equal(SSL_CTX_set1_groups_list(ctx, groups), 1);
	if (cert) {
		assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);	/* the SSL keeps a reference */
	assert_non_null(ssl);
	assert_int_equal(SSL_set_fd(ssl, fd), 1);
	SSL_set_connect_state(ssl);
	return ssl;
}

/* Our server against a raw client. */
static void raw_run(struct pair *p, SSL *raw, const uint8_t *spin)
{
	p->cl.raw = raw;
	p->sctx = ctx_of(id_b, TLS_GROUP_X25519MLKEM768);
	p->sv.c = conn_of(p->sctx, TLS_SERVER, spin, p->fds[1]);
	pump(&p->cl, &p->sv);
}

static void test_tls12_refused(void **state)
{
	struct pair p;

	(void)state;
	memset(&p, 0, sizeof(p));
	socket_pair(p.fds);
	raw_run(&p, raw_client(TLS1_2_VERSION, id_a->cert, id_a->key, NULL, p.fds[0]), id_a->cert_fpr);
	assert_true(p.cl.rc < 0);
	assert_int_equal(p.sv.rc, -EPROTO);
	expect_error("server", p.sv.c, "unsupported protocol");
	pair_done(&p);
}

/* A self-signed Ed25519 certificate, as another TLS stack would present. */
static X509 *ed25519_cert(EVP_PKEY **ret_key)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	X509 *x = X509_new();
	X509_NAME *n;

	assert_non_null(key);
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	n = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"node-a",
						    -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, n), 1);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_true(X509_sign(x, key, NULL) > 0);
	*ret_key = key;
	return x;
}

/* Even pinned by fingerprint, a certificate that is not ML-DSA-65 is refused. */
static void test_ed25519_refused(void **state)
{
	uint8_t pin[IDENTITY_FPR_LEN];
	EVP_PKEY *key = NULL;
	X509 *cert = ed25519_cert(&key);
	struct pair p;

	(void)state;
	assert_int_equal(identity_cert_fingerprint(cert, pin), 0);
	memset(&p, 0, sizeof(p));
	socket_pair(p.fds);
	raw_run(&p, raw_client(TLS1_3_VERSION, cert, key, "X25519MLKEM768", p.fds[0]), pin);
	assert_true(p.sv.rc < 0);
	print_message("  server: %s\n", tls_conn_error(p.sv.c));
	/* OpenSSL withholds a certificate no offered signature scheme fits, or our check refuses it. */
	if (!strstr(tls_conn_error(p.sv.c), "not ML-DSA-65") &&
	    !strstr(tls_conn_error(p.sv.c), "did not return a certificate") &&
	    !strstr(tls_conn_error(p.sv.c), "signature"))
		fail_msg("unexpected reason: %s", tls_conn_error(p.sv.c));
	pair_done(&p);
	X509_free(cert);
	EVP_PKEY_free(key);
}

/* CPU time of one full mutual ML-DSA-65 handshake, both ends in this thread. */
static void test_handshake_cpu(void **state)
{
	enum { N = 20 };
	double cl = 0, sv = 0;

	(void)state;
	for (int g = 0; g < 2; g++) {
		cl = sv = 0;
		for (int i = 0; i < N; i++) {
			struct pair p;

			pair_run(&p, (enum tls_group)g, (enum tls_group)g, id_b->cert_fpr, id_a->cert_fpr);
			assert_int_equal(p.cl.rc, 0);
			assert_int_equal(p.sv.rc, 0);
			cl += p.cl.cpu_ms;
			sv += p.sv.cpu_ms;
			pair_done(&p);
		}
		print_message("  handshake CPU (%s, mean of %d): client %.2f ms, server %.2f ms, both %.2f ms\n",
			      tls_group_name((enum tls_group)g), N, cl / N, sv / N, (cl + sv) / N);
	}
}

/* ---- interop with the openssl tool over TCP loopback ---- */

static const char *openssl_tool(void)
{
	const char *o = getenv("OPENSSL");

	return o && o[0] && access(o, X_OK) == 0 ? o : NULL;
}

static void save_identity(const struct identity *idn, const char *name, char out[PATH_MAX])
{
	snprintf(out, PATH_MAX, "%s/%s", tmpdir, name);
	if (access(out, F_OK) != 0)
		assert_int_equal(identity_save(idn, out, 0), 0);
}

static pid_t spawn(char *const argv[], int *ret_in, int *ret_out)
{
	int in[2], out[2];
	pid_t pid;

	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(out[1], 2);
		alarm(20);	/* never outlive a stuck test */
		execv(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	*ret_in = in[1];
	*ret_out = out[0];
	return pid;
}

/* Read child output until it closes (or 15 s); returns the NUL-terminated text. */
static void slurp(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
}

static int blocking(int fd)
{
	return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
}

/* openssl s_client (identity a) -> our server (identity b). */
static void test_interop_s_client(void **state)
{
	const char *openssl = openssl_tool();
	char dir_a[PATH_MAX], dir_b[PATH_MAX], port[16], crt[PATH_MAX + 16], key[PATH_MAX + 16],
	     ca[PATH_MAX + 16], out[16384], buf[64];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct tls_ctx *ctx;
	struct tls_conn *c;
	int ls, fd, cin, cout, status, r;
	pid_t pid;
	ssize_t n;

	(void)state;
	if (!openssl)
		skip();
	save_identity(id_a, "a", dir_a);
	save_identity(id_b, "b", dir_b);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(ls >= 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(ls, 1), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
	snprintf(port, sizeof(port), "127.0.0.1:%u", ntohs(sa.sin_port));
	snprintf(crt, sizeof(crt), "%s/node.crt", dir_a);
	snprintf(key, sizeof(key), "%s/node.key", dir_a);
	snprintf(ca, sizeof(ca), "%s/node.crt", dir_b);	/* s_client trusts exactly the pinned cert */
	{
		char *argv[] = { (char *)openssl, "s_client", "-connect", port, "-tls1_3", "-groups",
				 "X25519MLKEM768", "-cert", crt, "-key", key, "-CAfile", ca,
				 "-verify_return_error", "-brief", "-ign_eof", NULL };

		pid = spawn(argv, &cin, &cout);
	}
	fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	close(ls);
	ctx = ctx_of(id_b, TLS_GROUP_X25519MLKEM768);
	assert_int_equal(tls_conn_new(ctx, TLS_SERVER, id_a->cert_fpr, &c), 0);
	assert_int_equal(tls_conn_set_fd(c, fd), 0);
	r = tls_conn_handshake(c);	/* blocking socket */
	if (r < 0)
		fail_msg("handshake with s_client: %s", tls_conn_error(c));
	assert_string_equal(tls_conn_group(c), "X25519MLKEM768");
	assert_int_equal(write(cin, "hello\n", 6), 6);
	n = tls_conn_read(c, buf, sizeof(buf));
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "hello\n", 6);
	assert_int_equal(tls_conn_write(c, "world\n", 6), 6);
	assert_int_equal(tls_conn_shutdown(c), 0);
	close(cin);
	slurp(cout, out, sizeof(out));
	close(cout);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	print_message("%s", out);
	assert_non_null(strstr(out, "Protocol version: TLSv1.3"));
	assert_non_null(strstr(out, "Verification: OK"));
	assert_non_null(strstr(out, "X25519MLKEM768"));
	assert_non_null(strstr(out, "mldsa65"));
	assert_non_null(strstr(out, "world"));
	tls_conn_free(c);
	tls_ctx_free(ctx);
	close(fd);
}

/* Our client (identity a) -> openssl s_server (identity b), reversing lines (-rev). */
static void interop_s_server(enum tls_group g)
{
	const char *openssl = openssl_tool();
	char dir_a[PATH_MAX], dir_b[PATH_MAX], crt[PATH_MAX + 16], key[PATH_MAX + 16], ca[PATH_MAX + 16],
	     out[16384], line[256], buf[64];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct tls_ctx *ctx;
	struct tls_conn *c;
	unsigned port = 0;
	size_t len = 0;
	int fd, sin_, sout, status, r;
	pid_t pid;
	ssize_t n;

	if (!openssl)
		skip();
	save_identity(id_a, "a", dir_a);
	save_identity(id_b, "b", dir_b);
	snprintf(crt, sizeof(crt), "%s/node.crt", dir_b);
	snprintf(key, sizeof(key), "%s/node.key", dir_b);
	snprintf(ca, sizeof(ca), "%s/node.crt", dir_a);
	{
		char *argv[] = { (char *)openssl, "s_server", "-4", "-accept", "0", "-naccept", "1", "-rev",
				 "-tls1_3", "-groups", (char *)tls_group_name(g), "-cert", crt, "-key", key,
				 "-Verify", "1", "-verify_return_error", "-CAfile", ca, NULL };

		pid = spawn(argv, &sin_, &sout);
	}
	/* "ACCEPT 0.0.0.0:PORT" names the ephemeral port. */
	while (len + 1 < sizeof(line) && (n = read(sout, line + len, 1)) == 1) {
		len++;
		line[len] = '\0';
		if (line[len - 1] == '\n') {
			char *p = strstr(line, "ACCEPT ");

			if (p && (p = strrchr(p, ':')))
				port = (unsigned)strtoul(p + 1, NULL, 10);
			if (port)
				break;
			len = 0;
		}
	}
	assert_true(port > 0 && port < 65536);
	sa.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ctx = ctx_of(id_a, g);
	assert_int_equal(tls_conn_new(ctx, TLS_CLIENT, id_b->cert_fpr, &c), 0);
	assert_int_equal(tls_conn_set_fd(c, fd), 0);
	r = tls_conn_handshake(c);
	if (r < 0)
		fail_msg("handshake with s_server: %s", tls_conn_error(c));
	assert_string_equal(tls_conn_group(c), tls_group_name(g));
	assert_int_equal(tls_conn_write(c, "hello\n", 6), 6);
	n = tls_conn_read(c, buf, sizeof(buf));
	if (n != 6)
		fail_msg("read from s_server: %zd %s", n, tls_conn_error(c));
	assert_memory_equal(buf, "olleh\n", 6);
	assert_int_equal(blocking(fd), 0);
	(void)tls_conn_shutdown(c);
	close(fd);
	close(sin_);
	slurp(sout, out, sizeof(out));
	close(sout);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	print_message("%s", out);
	assert_non_null(strstr(out, "Protocol version: TLSv1.3"));
	assert_non_null(strstr(out, "Verification: OK"));
	assert_non_null(strstr(out, "Peer certificate: CN=node-a"));
	tls_conn_free(c);
	tls_ctx_free(ctx);
}

static void test_interop_s_server_x25519mlkem768(void **state)
{
	(void)state;
	interop_s_server(TLS_GROUP_X25519MLKEM768);
}

static void test_interop_s_server_mlkem1024(void **state)
{
	(void)state;
	interop_s_server(TLS_GROUP_MLKEM1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_group_names),
		cmocka_unit_test(test_x25519mlkem768),
		cmocka_unit_test(test_mlkem1024),
		cmocka_unit_test(test_wrong_pin_client),
		cmocka_unit_test(test_wrong_pin_server),
		cmocka_unit_test(test_group_mismatch),
		cmocka_unit_test(test_tls12_refused),
		cmocka_unit_test(test_ed25519_refused),
		cmocka_unit_test(test_handshake_cpu),
		cmocka_unit_test(test_interop_s_client),
		cmocka_unit_test(test_interop_s_server_x25519mlkem768),
		cmocka_unit_test(test_interop_s_server_mlkem1024),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
