/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Inter-MFS CF I/F channel: TLS 1.3 between two mfsd, mutually
 * authenticated with ML-DSA-65 certificates pinned per peer.
 *
 *   version      TLS 1.3 only (min = max)
 *   key exchange one group: X25519MLKEM768 (default, hybrid) or MLKEM1024
 *   signatures   mldsa65 only, both directions; the key must be ML-DSA-65
 *   peer check   no CA: the SHA-256 of the peer's DER certificate must equal
 *                the pin given for that connection (constant-time compare)
 *   ciphers      TLS_AES_256_GCM_SHA384, then TLS_CHACHA20_POLY1305_SHA256
 *   resumption   off (no tickets, no session cache): connections are
 *                long-lived, and a resumed session would skip the pin check
 *   exporter     RFC 8446 7.5 with label TLS_EXPORTER_LABEL: one more input
 *                of the key combiner, binding the keys to this channel
 *
 * One struct tls_ctx per node (it may serve and connect); one struct
 * tls_conn per connection, carrying the pin of the peer it must reach.
 * This layer does no I/O of its own: it drives OpenSSL on the fd or BIO
 * the caller attaches, blocking or not. Nothing here logs; failures leave a
 * one-line reason in tls_conn_error() (no secrets in it).
 *
 * TLS 1.3 lets a client finish its handshake before the server has checked
 * the client's certificate: a server that refuses it sends an alert the
 * client sees on its next tls_conn_read(). The protocol above must treat
 * the server's first message as the confirmation that the channel is up.
 */
#ifndef MFS_PROTO_TLS_H
#define MFS_PROTO_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/types.h>

#include "proto/identity.h"

#define TLS_EXPORTER_LABEL "EXPORTER-IOWN-MFS v1"
#define TLS_EXPORTER_LEN 32
#define TLS_ERR_MAX 512		/* tls_conn_error() / tls_ctx_new() reasons, with the NUL */

enum tls_group {
	TLS_GROUP_X25519MLKEM768,	/* hybrid X25519 + ML-KEM-768 (default) */
	TLS_GROUP_MLKEM1024,		/* pure ML-KEM-1024 */
};

enum tls_role {
	TLS_CLIENT,
	TLS_SERVER,
};

/* What a -EAGAIN is waiting for. */
enum tls_want {
	TLS_WANT_NONE = 0,
	TLS_WANT_READ = 1,
	TLS_WANT_WRITE = 2,
};

struct tls_ctx;
struct tls_conn;

/* OpenSSL's group name ("X25519MLKEM768", "MLKEM1024"). */
const char *tls_group_name(enum tls_group group);
/* Parse a group name (case-insensitive); -EINVAL if unknown. */
int tls_group_parse(const char *name, enum tls_group *ret);

/*
 * The TLS context of a node with identity idn (borrowed only during the
 * call; OpenSSL keeps its own references to key and certificate) and key
 * exchange group. -EOPNOTSUPP when the crypto library lacks the group or
 * ML-DSA; -EIO other OpenSSL failures. On failure err (if not NULL) holds a
 * reason. *ret: tls_ctx_free().
 */
int tls_ctx_new(const struct identity *idn, enum tls_group group, struct tls_ctx **ret,
		char *err, size_t err_size);
void tls_ctx_free(struct tls_ctx *ctx);
/* The underlying SSL_CTX (borrowed), e.g. for a test or to add a keylog callback. */
SSL_CTX *tls_ctx_ssl_ctx(struct tls_ctx *ctx);

/*
 * A connection in role, which must reach the peer whose certificate has
 * SHA-256 fingerprint pin. Attach the transport with tls_conn_set_fd() or
 * SSL_set_bio(tls_conn_ssl(c), ...). *ret: tls_conn_free().
 */
int tls_conn_new(struct tls_ctx *ctx, enum tls_role role,
		 const uint8_t pin[static IDENTITY_FPR_LEN], struct tls_conn **ret);
/*
 * A server connection for an address that several peers may connect from
 * (NAT, two nodes on one host): it accepts the peer whose certificate has
 * one of the n (1..TLS_PINS_MAX) pins, so a connection is mapped to a peer
 * by its pinned certificate, never by its source address. groups[i] is the
 * group peer i must use: the server offers every group in groups[], and the
 * handshake fails unless the negotiated group is the matched peer's. After
 * the handshake tls_conn_peer_index() says which peer it is. -EINVAL,
 * -ENOMEM, -EOPNOTSUPP (a group the library lacks). *ret: tls_conn_free().
 */
#define TLS_PINS_MAX 64
int tls_conn_new_server_multi(struct tls_ctx *ctx, const uint8_t (*pins)[IDENTITY_FPR_LEN],
			      const enum tls_group *groups, size_t n, struct tls_conn **ret);
/* Index into the pins of tls_conn_new_server_multi() of the peer; -1 before the handshake. */
int tls_conn_peer_index(const struct tls_conn *c);
/* Release (no shutdown alert is sent: call tls_conn_shutdown() first). NULL-safe. */
void tls_conn_free(struct tls_conn *c);
int tls_conn_set_fd(struct tls_conn *c, int fd);
SSL *tls_conn_ssl(struct tls_conn *c);

/*
 * Drive the handshake. 0: done and checked: TLS 1.3, the configured group,
 * the peer's certificate ML-DSA-65 and equal to the pin. -EAGAIN: call
 * again when tls_conn_want() is ready. -EKEYREJECTED: the peer is not the
 * pinned one, or has no ML-DSA-65 certificate; -EPROTO: the handshake failed
 * otherwise or negotiated something else than configured (version, group);
 * -ECONNRESET: the transport closed. Every failure is final.
 */
int tls_conn_handshake(struct tls_conn *c);
enum tls_want tls_conn_want(const struct tls_conn *c);
/* True once tls_conn_handshake() returned 0. */
bool tls_conn_established(const struct tls_conn *c);

/*
 * Application data. read: bytes read (> 0), 0 on the peer's close_notify,
 * -EAGAIN, -ECONNRESET (closed without close_notify), -EKEYREJECTED (the
 * peer refused our certificate), -EPROTO. write: len on success (partial
 * writes are off), -EAGAIN (call again with the same buffer), errors as
 * read.
 */
ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len);
ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len);
/* Send close_notify once; 0, -EAGAIN, or an error. */
int tls_conn_shutdown(struct tls_conn *c);

/*
 * After the handshake: the peer's certificate fingerprint (equal to the
 * pin), the negotiated group name (borrowed), and keying material from the
 * RFC 8446 7.5 exporter with TLS_EXPORTER_LABEL and the given context (may
 * be empty; NULL with context_len 0). out is secret; it is zeroed on
 * failure. -EPROTO before the handshake is done.
 */
int tls_conn_peer_fingerprint(const struct tls_conn *c, uint8_t out[static IDENTITY_FPR_LEN]);
const char *tls_conn_group(const struct tls_conn *c);
int tls_conn_export(struct tls_conn *c, const uint8_t *context, size_t context_len,
		    uint8_t out[static TLS_EXPORTER_LEN]);

/* Why the last call on c failed, as one line; "" when nothing failed. */
const char *tls_conn_error(const struct tls_conn *c);

#endif
