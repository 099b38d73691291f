/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to mfsd (src/daemon/mfsd*.c): the daemon's state and what its
 * files share. One event loop, split by concern:
 *
 *   mfsd.c         command line, startup, the epoll loop, shutdown
 *   mfsd_conn.c    peer connections: connect, accept, TLS, the cf link
 *   mfsd_admin.c   the admin socket (mfsctl; the API is src/ops/)
 *   mfsd_push.c    the push socket (the protocol is src/push/)
 *   mfsd_keygen.c  static key generation for a rotation (worker thread)
 *   mfsd_reload.c  SIGHUP: the configuration re-read and applied
 *
 * Everything here runs on the event loop thread, except keygen_main().
 */
#ifndef MFS_DAEMON_MFSD_INT_H
#define MFS_DAEMON_MFSD_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "base/log.h"
#include "cf/cf.h"
#include "daemon/config.h"
#include "ops/admin.h"
#include "proto/identity.h"
#include "proto/tls.h"
#include "push/push.h"
#include "store/store.h"

#define MFSD_MAX_ADMIN 16
#define MFSD_RECONNECT_MIN_MS 250
#define MFSD_RECONNECT_MAX_MS 4000
#define MFSD_TLS_TIMEOUT_S 15
/*
 * Liveness of an established link: a PING every MFSD_PING_MS; a link on which
 * nothing arrived for MFSD_LINK_IDLE_MS is dropped. TCP keepalive cannot see a
 * peer that is stopped or hung but whose kernel still answers (SIGSTOP, a
 * blocked event loop); this does. Four pings may be lost or late.
 */
#define MFSD_PING_MS 2000
#define MFSD_LINK_IDLE_MS 8000
#define MFSD_WRITE_CHUNK 16384
#define MFSD_MAX_PENDING 32		/* inbound connections before their handshake is done */

enum ev_kind {
	EV_LISTEN, EV_ADMIN_LISTEN, EV_SIGNAL, EV_CONN, EV_ADMIN, EV_KEYGEN, EV_PUSH_LISTEN, EV_PUSH,
	EV_QKD
};

struct ev {
	enum ev_kind kind;
};

/*
 * Static key generation for a rotation (cf_rot_due): 40-300 ms of CPU plus
 * 0.5-1 MiB written and fsync'd, so it runs on a thread of its own and
 * reports through an eventfd; the event loop and the exchanges never wait
 * for it. One at a time.
 */
struct keygen {
	struct ev ev;
	int efd;
	pthread_t th;
	bool running;
	uint16_t method;
	int64_t now;
	char dir[PATH_MAX];
	struct keyring_key *key;	/* result */
	int err;
	int64_t ms;			/* how long it took (monotonic) */
};

struct conn {
	struct ev ev;
	int fd;
	struct tls_conn *tls;
	struct peer_rt *peer;
	bool client;
	bool connecting;		/* TCP connect in progress */
	bool established;		/* TLS done, cf link up */
	int64_t started;
	int64_t last_rx_ms, last_ping_ms;	/* monotonic: last bytes read, last PING queued */
	size_t wpending;		/* bytes of the chunk a tls write is retrying */
	uint32_t events;		/* current epoll interest */
	bool dead;			/* closed; freed after the current event batch */
	struct conn *next_dead;
};

struct peer_rt {
	struct cf_peer *cp;
	const struct config_peer *cfg;
	struct tls_ctx *ctx;
	struct conn *conn;
	bool i_connect;			/* the smaller node id connects */
	int64_t next_try_ms;
	unsigned backoff_ms;
};

struct admin_conn {
	struct ev ev;
	int fd;
	uid_t uid;
	uint8_t in[ADMIN_HDR_LEN + ADMIN_REQ_MAX];
	size_t in_len;
	uint8_t *out;
	size_t out_len, out_off;
	uint32_t events;
};

/* A client of the push socket (docs/push.md); the protocol is src/push/. */
struct push_sock {
	struct ev ev;
	int fd;
	struct push_conn *pc;
	uint32_t events;
};

struct daemon {
	const char *config_path;
	struct config *cfg;
	struct push *push;
	struct ev push_listen_ev;
	int push_fd;
	struct push_sock *pushes[PUSH_MAX_CONNS];
	struct identity *idn;
	struct store *st;
	struct cf *cf;
	struct tls_ctx *ctx[2];
	struct cf_keys *keys;		/* until the engine takes them */
	struct peer_rt peers[CONFIG_MAX_PEERS];
	size_t n_peers;
	int ep;
	struct ev listen_ev, admin_listen_ev, signal_ev, qkd_ev;
	struct qkdc *qkd;		/* the qkd014 KME client, NULL without qkd_kme */
	int listen_fd, admin_fd, sig_fd;
	struct admin_conn *admins[MFSD_MAX_ADMIN];
	char kek_path[PATH_MAX + 16], db_path[PATH_MAX + 16], revoked_path[PATH_MAX + 16];
	struct mfsd_supply *supply;	/* the ETSI 014 key supply face, NULL when off */
	struct conn *dead;		/* closed connections, freed after each batch */
	struct keygen kg;
	/* inbound connections whose peer is not known yet (its certificate says) */
	struct conn *pending[MFSD_MAX_PENDING];
	bool stop;
	bool reload;			/* SIGHUP arrived */
	enum mfs_log_level level_arg;	/* --log-level, which a reload does not override */
	bool have_level_arg;
};

/* For conn_established(), which has no daemon pointer: the one push layer. */

/* The TLS key-exchange group a peer's link uses (its tls_group). */
static inline enum tls_group mfsd_tls_group(const struct config_peer *p)
{
	return p->tls_group == CONFIG_TLS_MLKEM1024 ? TLS_GROUP_MLKEM1024 : TLS_GROUP_X25519MLKEM768;
}

/* ---- mfsd.c ---- */

/* Add (add) or change fd's epoll interest; ev comes back in the event. */
int mfsd_ep_set(struct daemon *d, int fd, struct ev *ev, uint32_t events, bool add);
/*
 * A listening Unix socket at path, into *fd (a stale socket there is
 * removed first): bound under umask 0177, then chown(owner, group) unless
 * both are -1, chmod(mode), listen(backlog). Errors after socket() are
 * logged as "WHAT PATH: reason"; *fd is left for the caller to close.
 */
int mfsd_unix_listen(const char *path, const char *what, uid_t owner, gid_t group, mode_t mode,
		     int backlog, int *fd);
/* The first address of a (getaddrinfo), -EHOSTUNREACH when none. */
int mfsd_addr_resolve(const struct config_addr *a, struct sockaddr_storage *ss, socklen_t *len);

/* ---- mfsd_conn.c ---- */

/* Close c (freed by mfsd_conn_reap after the event batch); the link goes down. */
void mfsd_conn_close(struct daemon *d, struct conn *c, const char *why);
void mfsd_conn_reap(struct daemon *d);
/* Connect to p (I am the smaller node id); the backoff doubles up to MFSD_RECONNECT_MAX_MS. */
void mfsd_peer_connect(struct daemon *d, struct peer_rt *p);
/* Follow what the connection waits for with its epoll interest. */
void mfsd_conn_update_events(struct daemon *d, struct conn *c);
/* Write what cf has for the peer. Returns <0 when the connection failed. */
int mfsd_conn_flush(struct conn *c);
void mfsd_conn_event(struct daemon *d, struct conn *c, uint32_t events);
/* The listening socket is readable: accept every pending connection. */
void mfsd_on_accept(struct daemon *d);

/* ---- mfsd_admin.c ---- */

int mfsd_admin_open(struct daemon *d);
void mfsd_admin_close(struct daemon *d, struct admin_conn *a);
void mfsd_admin_accept(struct daemon *d);
void mfsd_admin_event(struct daemon *d, struct admin_conn *a, uint32_t events);

/* ---- mfsd_push.c ---- */

/* The push layer and each class's push_allow list (before the socket). */
int mfsd_push_setup(struct daemon *d);
/* The push socket, when node.push_socket is set. */
int mfsd_push_open(struct daemon *d);
void mfsd_push_close(struct daemon *d, struct push_sock *ps);
void mfsd_push_accept(struct daemon *d);
/* Write what is pending, follow it with the epoll interest; close when done or broken. */
void mfsd_push_flush(struct daemon *d, struct push_sock *ps);
void mfsd_push_event(struct daemon *d, struct push_sock *ps, uint32_t events);

/* ---- mfsd_keygen.c ---- */

int mfsd_keygen_open(struct daemon *d);
/* Waits for a generation still running and removes what it wrote. */
void mfsd_keygen_close(struct daemon *d);
/* A rotation is due (cf_rot_due) and none runs: start the worker. */
void mfsd_keygen_maybe_start(struct daemon *d);
/* The worker's eventfd fired: hand the key to the engine. */
void mfsd_keygen_done(struct daemon *d);

/* ---- mfsd_reload.c ---- */

void mfsd_reload(struct daemon *d);

#endif
