/* SPDX-License-Identifier: Apache-2.0 */
/* TLS 1.3 peer channel: pinned ML-DSA-65 mutual authentication (see tls.h). */
#include "proto/tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "base/secret.h"

/* OpenSSL's name of the only signature scheme offered and accepted. */
#define TLS_SIGALGS "mldsa65"
#define TLS_CIPHERSUITES "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

struct tls_ctx {
	SSL_CTX *ssl_ctx;
	enum tls_group group;
};

struct tls_conn {
	SSL *ssl;
	enum tls_group group;
	uint8_t pin[IDENTITY_FPR_LEN];
	uint8_t peer_fpr[IDENTITY_FPR_LEN];
	/* tls_conn_new_server_multi(): the pins and groups of the candidate peers */
	uint8_t (*pins)[IDENTITY_FPR_LEN];
	enum tls_group *groups;
	size_t n_pins;
	int peer_index;		/* which one matched; -1 before the verify callback */
	bool verified;		/* the verify callback accepted the peer */
	bool established;	/* tls_conn_handshake() returned 0 */
	bool failed;		/* a fatal error happened: no more calls */
	bool shutdown_sent;
	enum tls_want want;
	const char *reject;	/* why the verify callback refused the peer */
	char peer_type[32];	/* key type of a refused certificate */
	char err[TLS_ERR_MAX];
};

static const char *const group_names[] = {
	[TLS_GROUP_X25519MLKEM768] = "X25519MLKEM768",
	[TLS_GROUP_MLKEM1024] = "MLKEM1024",
};

const char *tls_group_name(enum tls_group group)
{
	if ((size_t)group >= sizeof(group_names) / sizeof(group_names[0]))
		return "unknown";
	return group_names[group];
}

int tls_group_parse(const char *name, enum tls_group *ret)
{
	for (size_t i = 0; name && i < sizeof(group_names) / sizeof(group_names[0]); i++) {
		if (!strcasecmp(name, group_names[i])) {
			*ret = (enum tls_group)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- errors ---- */

/* An alert by which the peer refused our certificate. */
static bool cert_refused_alert(unsigned long e)
{
	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return false;
	switch (ERR_GET_REASON(e)) {
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
		return true;
	default:
		return false;
	}
}

/*
 * Append "prefix: reason; reason" from OpenSSL's error queue to buf (and
 * empty the queue). Only reason strings: they name what failed
 * ("certificate verify failed", "no suitable key share"), never data.
 * True when one of them says the peer refused our certificate.
 */
static bool append_openssl_errors(char *buf, size_t size)
{
	size_t len = strlen(buf);
	bool refused = false;
	unsigned long e;
	int n = 0;

	while ((e = ERR_get_error()) != 0) {
		refused |= cert_refused_alert(e);
		const char *reason = ERR_reason_error_string(e);
		char tmp[64];
		int w;

		if (!reason) {
			snprintf(tmp, sizeof(tmp), "error %#lx", e);
			reason = tmp;
		}
		if (len + 1 >= size)
			continue;	/* drain the queue anyway */
		w = snprintf(buf + len, size - len, "%s%s", len == 0 ? "" : n == 0 ? ": " : "; ", reason);
		if (w > 0)
			len = (size_t)w >= size - len ? size - 1 : len + (size_t)w;
		n++;
	}
	return refused;
}

/* buf = the formatted prefix and OpenSSL's reasons; returns append_openssl_errors(). */
__attribute__((format(printf, 3, 4)))
static bool set_err(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (!buf || size == 0) {
		ERR_clear_error();
		return false;
	}
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return append_openssl_errors(buf, size);
}

/* ---- context ---- */

static pthread_once_t conn_idx_once = PTHREAD_ONCE_INIT;
static int conn_idx = -1;

static void conn_idx_init(void)
{
	conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/*
 * Replaces OpenSSL's chain verification: there is no CA, only the pin of
 * this connection. Called once per handshake with the peer's certificate
 * (the leaf; anything else the peer sent is ignored).
 */
static int verify_pinned(X509_STORE_CTX *xs, void *arg)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_conn *c = ssl ? SSL_get_ex_data(ssl, conn_idx) : NULL;
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);
	uint8_t fpr[IDENTITY_FPR_LEN];
	EVP_PKEY *pk;

	(void)arg;
	if (!c || !leaf) {
		if (c)
			c->reject = "no peer certificate";
		X509_STORE_CTX_set_error(xs, X509_V_ERR_UNSPECIFIED);
		return 0;
	}
	pk = X509_get0_pubkey(leaf);
	if (!pk || !EVP_PKEY_is_a(pk, IDENTITY_KEY_TYPE)) {
		const char *type = pk ? EVP_PKEY_get0_type_name(pk) : NULL;

		snprintf(c->peer_type, sizeof(c->peer_type), "%s", type ? type : "unknown");
		c->reject = "peer certificate key is not " IDENTITY_KEY_TYPE;
		X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
		return 0;
	}
	if (identity_cert_fingerprint(leaf, fpr) < 0) {
		c->reject = "cannot hash the peer certificate";
		X509_STORE_CTX_set_error(xs, X509_V_ERR_UNSPECIFIED);
		return 0;
	}
	if (c->n_pins) {
		/* Several candidates: the certificate says which peer this is. */
		for (size_t i = 0; i < c->n_pins; i++) {
			if (mfs_ct_eq(fpr, c->pins[i], sizeof(fpr)) && c->peer_index < 0) {
				c->peer_index = (int)i;
				memcpy(c->pin, c->pins[i], sizeof(c->pin));
				c->group = c->groups[i];
			}
		}
		if (c->peer_index < 0) {
			c->reject = "peer certificate fingerprint matches no configured peer";
			X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
			return 0;
		}
	}
	if (!mfs_ct_eq(fpr, c->pin, sizeof(fpr))) {
		c->reject = "peer certificate fingerprint does not match the pin";
		X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
		return 0;
	}
	memcpy(c->peer_fpr, fpr, sizeof(fpr));
	c->verified = true;
	X509_STORE_CTX_set_error(xs, X509_V_OK);
	return 1;
}

int tls_ctx_new(const struct identity *idn, enum tls_group group, struct tls_ctx **ret,
		char *err, size_t err_size)
{
	struct tls_ctx *t = NULL;
	SSL_CTX *ctx = NULL;
	int r = -EIO;

	ERR_clear_error();
	if (err && err_size)
		err[0] = '\0';
	if (!idn || !idn->key || !idn->cert || (size_t)group >= sizeof(group_names) / sizeof(group_names[0])) {
		set_err(err, err_size, "no identity or unknown group");
		return -EINVAL;
	}
	if (pthread_once(&conn_idx_once, conn_idx_init) != 0 || conn_idx < 0) {
		set_err(err, err_size, "cannot allocate an SSL ex_data index");
		return -ENOMEM;
	}
	if (!(t = calloc(1, sizeof(*t)))) {
		r = -ENOMEM;
		goto out;
	}
	t->group = group;
	if (!(ctx = SSL_CTX_new(TLS_method()))) {
		set_err(err, err_size, "SSL_CTX_new");
		goto out;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
		set_err(err, err_size, "cannot restrict the protocol to TLS 1.3");
		goto out;
	}
	/*
	 * TLS 1.3 has neither compression nor renegotiation; the options make
	 * that explicit. No tickets, no cache, no 0-RTT: see "resumption" in
	 * tls.h. ALLOW_NO_DHE_KEX stays off, so any future resumption would be
	 * psk_dhe_ke and keep forward secrecy.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
				 SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_clear_options(ctx, SSL_OP_ALLOW_NO_DHE_KEX);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_set_num_tickets(ctx, 0) != 1 || SSL_CTX_set_max_early_data(ctx, 0) != 1) {
		set_err(err, err_size, "cannot turn off session tickets");
		goto out;
	}
	if (SSL_CTX_set_ciphersuites(ctx, TLS_CIPHERSUITES) != 1) {
		set_err(err, err_size, "cannot set the TLS 1.3 cipher suites");
		goto out;
	}
	if (SSL_CTX_set1_groups_list(ctx, group_names[group]) != 1) {
		set_err(err, err_size, "key exchange group %s unavailable", group_names[group]);
		r = -EOPNOTSUPP;
		goto out;
	}
	if (SSL_CTX_set1_sigalgs_list(ctx, TLS_SIGALGS) != 1 ||
	    SSL_CTX_set1_client_sigalgs_list(ctx, TLS_SIGALGS) != 1) {
		set_err(err, err_size, "signature algorithm %s unavailable", TLS_SIGALGS);
		r = -EOPNOTSUPP;
		goto out;
	}
	if (SSL_CTX_use_certificate(ctx, idn->cert) != 1 || SSL_CTX_use_PrivateKey(ctx, idn->key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		set_err(err, err_size, "cannot use the node certificate and key");
		r = -EKEYREJECTED;
		goto out;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_cert_verify_callback(ctx, verify_pinned, NULL);
	t->ssl_ctx = ctx;
	ctx = NULL;
	*ret = t;
	t = NULL;
	r = 0;
out:
	SSL_CTX_free(ctx);
	free(t);
	ERR_clear_error();
	return r;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (!ctx)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
}

SSL_CTX *tls_ctx_ssl_ctx(struct tls_ctx *ctx)
{
	return ctx->ssl_ctx;
}

/* ---- connections ---- */

int tls_conn_new(struct tls_ctx *ctx, enum tls_role role,
		 const uint8_t pin[static IDENTITY_FPR_LEN], struct tls_conn **ret)
{
	struct tls_conn *c;

	if (!ctx || (role != TLS_CLIENT && role != TLS_SERVER))
		return -EINVAL;
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	c->group = ctx->group;
	c->peer_index = -1;
	memcpy(c->pin, pin, sizeof(c->pin));
	ERR_clear_error();
	if (!(c->ssl = SSL_new(ctx->ssl_ctx)) || SSL_set_ex_data(c->ssl, conn_idx, c) != 1) {
		SSL_free(c->ssl);
		free(c);
		ERR_clear_error();
		return -ENOMEM;
	}
	if (role == TLS_CLIENT)
		SSL_set_connect_state(c->ssl);
	else
		SSL_set_accept_state(c->ssl);
	*ret = c;
	return 0;
}

int tls_conn_new_server_multi(struct tls_ctx *ctx, const uint8_t (*pins)[IDENTITY_FPR_LEN],
			      const enum tls_group *groups, size_t n, struct tls_conn **ret)
{
	static const uint8_t none[IDENTITY_FPR_LEN];
	bool has[2] = { false, false };
	char list[64] = "";
	struct tls_conn *c = NULL;
	int r;

	if (!ctx || !pins || !groups || n == 0 || n > TLS_PINS_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if ((size_t)groups[i] >= sizeof(group_names) / sizeof(group_names[0]))
			return -EINVAL;
		has[groups[i]] = true;
	}
	/* the pin is set by the verify callback; none matches nothing before */
	if ((r = tls_conn_new(ctx, TLS_SERVER, none, &c)) < 0)
		return r;
	if (!(c->pins = calloc(n, sizeof(*c->pins))) || !(c->groups = calloc(n, sizeof(*c->groups)))) {
		tls_conn_free(c);
		return -ENOMEM;
	}
	memcpy(c->pins, pins, n * sizeof(*c->pins));
	memcpy(c->groups, groups, n * sizeof(*c->groups));
	c->n_pins = n;
	/* offer every candidate's group; conn_check() holds the matched peer to its own */
	for (size_t g = 0; g < 2; g++)
		if (has[g])
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 list[0] ? ":" : "", group_names[g]);
	ERR_clear_error();
	if (SSL_set1_groups_list(c->ssl, list) != 1) {
		tls_conn_free(c);
		ERR_clear_error();
		return -EOPNOTSUPP;
	}
	*ret = c;
	return 0;
}

int tls_conn_peer_index(const struct tls_conn *c)
{
	return c->established ? c->peer_index : -1;
}

void tls_conn_free(struct tls_conn *c)
{
	if (!c)
		return;
	free(c->pins);
	free(c->groups);
	SSL_free(c->ssl);
	mfs_wipe(c, sizeof(*c));
	free(c);
}

int tls_conn_set_fd(struct tls_conn *c, int fd)
{
	ERR_clear_error();
	if (SSL_set_fd(c->ssl, fd) != 1) {
		set_err(c->err, sizeof(c->err), "SSL_set_fd");
		return -EIO;
	}
	return 0;
}

SSL *tls_conn_ssl(struct tls_conn *c)
{
	return c->ssl;
}

enum tls_want tls_conn_want(const struct tls_conn *c)
{
	return c->want;
}

bool tls_conn_established(const struct tls_conn *c)
{
	return c->established;
}

const char *tls_conn_error(const struct tls_conn *c)
{
	return c->err;
}

/*
 * Turn the result of an SSL call into -EAGAIN or a final negative errno,
 * with the reason in c->err.
 */
static int conn_fail(struct tls_conn *c, int ret, const char *what)
{
	int e = SSL_get_error(c->ssl, ret);
	int sys = errno;
	bool refused;
	long vr;

	c->want = TLS_WANT_NONE;
	switch (e) {
	case SSL_ERROR_WANT_READ:
		c->want = TLS_WANT_READ;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		c->want = TLS_WANT_WRITE;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		break;
	}
	c->failed = true;
	if (c->reject) {
		/* Our verify callback refused the peer. */
		if (c->peer_type[0])
			set_err(c->err, sizeof(c->err), "%s: %s (it is %s)", what, c->reject, c->peer_type);
		else
			set_err(c->err, sizeof(c->err), "%s: %s", what, c->reject);
		return -EKEYREJECTED;
	}
	if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		if (sys && ret < 0)
			set_err(c->err, sizeof(c->err), "%s: %s", what, strerror(sys));
		else
			set_err(c->err, sizeof(c->err), "%s: connection closed by the peer", what);
		return -ECONNRESET;
	}
	vr = SSL_get_verify_result(c->ssl);
	refused = set_err(c->err, sizeof(c->err), "%s failed", what);
	if (vr != X509_V_OK) {
		size_t n = strlen(c->err);

		snprintf(c->err + n, sizeof(c->err) - n, " (peer certificate: %s)",
			 X509_verify_cert_error_string(vr));
	}
	return refused ? -EKEYREJECTED : -EPROTO;
}

/* What the handshake negotiated is what this node requires. */
static int conn_check(struct tls_conn *c)
{
	uint8_t fpr[IDENTITY_FPR_LEN];
	const char *group;
	X509 *peer;

	if (SSL_version(c->ssl) != TLS1_3_VERSION) {
		snprintf(c->err, sizeof(c->err), "handshake: negotiated %s, not TLSv1.3",
			 SSL_get_version(c->ssl));
		return -EPROTO;
	}
	group = SSL_get0_group_name(c->ssl);
	if (!group || strcasecmp(group, group_names[c->group])) {
		snprintf(c->err, sizeof(c->err), "handshake: negotiated group %s, not %s",
			 group ? group : "(none)", group_names[c->group]);
		return -EPROTO;
	}
	/* Again on the final peer certificate: never trust a path that skipped the callback. */
	peer = SSL_get0_peer_certificate(c->ssl);
	if (!c->verified || !peer || identity_cert_fingerprint(peer, fpr) < 0 ||
	    !mfs_ct_eq(fpr, c->pin, sizeof(fpr)) || !mfs_ct_eq(fpr, c->peer_fpr, sizeof(fpr))) {
		snprintf(c->err, sizeof(c->err), "handshake: peer certificate not verified against the pin");
		return -EKEYREJECTED;
	}
	return 0;
}

int tls_conn_handshake(struct tls_conn *c)
{
	int ret, r;

	if (c->established)
		return 0;
	if (c->failed)
		return -EPROTO;
	c->err[0] = '\0';
	ERR_clear_error();
	errno = 0;
	ret = SSL_do_handshake(c->ssl);
	if (ret != 1) {
		r = conn_fail(c, ret, "handshake");
		return r == 0 ? -ECONNRESET : r;
	}
	c->want = TLS_WANT_NONE;
	if ((r = conn_check(c)) < 0) {
		c->failed = true;
		return r;
	}
	c->established = true;
	return 0;
}

ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len)
{
	size_t got = 0;
	int r;

	if (!c->established || c->failed)
		return -EPROTO;
	c->err[0] = '\0';
	ERR_clear_error();
	errno = 0;
	if (SSL_read_ex(c->ssl, buf, len, &got) == 1) {
		c->want = TLS_WANT_NONE;
		return (ssize_t)got;
	}
	r = conn_fail(c, 0, "read");
	return r;
}

ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len)
{
	size_t done = 0;
	int r;

	if (!c->established || c->failed)
		return -EPROTO;
	c->err[0] = '\0';
	ERR_clear_error();
	errno = 0;
	if (SSL_write_ex(c->ssl, buf, len, &done) == 1) {
		c->want = TLS_WANT_NONE;
		return (ssize_t)done;
	}
	r = conn_fail(c, 0, "write");
	return r == 0 ? -ECONNRESET : r;
}

int tls_conn_shutdown(struct tls_conn *c)
{
	int ret, r;

	if (c->shutdown_sent)
		return 0;
	ERR_clear_error();
	errno = 0;
	ret = SSL_shutdown(c->ssl);
	if (ret >= 0) {
		c->shutdown_sent = true;
		return 0;
	}
	r = conn_fail(c, ret, "shutdown");
	return r == 0 ? 0 : r;
}

int tls_conn_peer_fingerprint(const struct tls_conn *c, uint8_t out[static IDENTITY_FPR_LEN])
{
	if (!c->established)
		return -EPROTO;
	memcpy(out, c->peer_fpr, IDENTITY_FPR_LEN);
	return 0;
}

const char *tls_conn_group(const struct tls_conn *c)
{
	return c->established ? SSL_get0_group_name(c->ssl) : NULL;
}

int tls_conn_export(struct tls_conn *c, const uint8_t *context, size_t context_len,
		    uint8_t out[static TLS_EXPORTER_LEN])
{
	static const uint8_t empty[1];

	if (!c->established || c->failed) {
		mfs_wipe(out, TLS_EXPORTER_LEN);
		return -EPROTO;
	}
	ERR_clear_error();
	/* In TLS 1.3 a missing and an empty context are the same input (RFC 8446 7.5). */
	if (SSL_export_keying_material(c->ssl, out, TLS_EXPORTER_LEN, TLS_EXPORTER_LABEL,
				       sizeof(TLS_EXPORTER_LABEL) - 1, context ? context : empty,
				       context_len, 1) != 1) {
		mfs_wipe(out, TLS_EXPORTER_LEN);
		set_err(c->err, sizeof(c->err), "exporter");
		return -EIO;
	}
	return 0;
}
