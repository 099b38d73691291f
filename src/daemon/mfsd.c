/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfsd: the MFS Control Function daemon. This file is the edge: command
 * line, configuration, identity, key store, sockets, TLS and the event loop
 * (plain epoll). The control logic is src/cf/ (no sockets), the admin API
 * src/ops/. Design: docs/mfsd.md.
 *
 * Why epoll and not libevent: tls.h drives OpenSSL on a raw non-blocking
 * fd and reports what it waits for (tls_conn_want()); a level-triggered
 * epoll interest set that follows it is a dozen lines, whereas libevent's
 * bufferevent_openssl would own the SSL object and its own BIO, bypassing
 * the pinned, checked handshake of tls.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/file.h"
#include "base/log.h"
#include "base/secret.h"
#include "cf/cf.h"
#include "cf/keyring.h"
#include "daemon/config.h"
#include "daemon/kme_json.h"
#include "daemon/qkd_client.h"
#include "daemon/setup.h"
#include "daemon/supply_run.h"
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
static struct push *d_push;

static void usage(FILE *f)
{
	fprintf(f, "Usage: mfsd --config FILE [--foreground] [--log-level LEVEL]\n\n"
		   "The MFS Control Function daemon: keeps pools of multi-factor keys with\n"
		   "its peers over TLS 1.3 (docs/mfsd.md).\n\n"
		   "  -c, --config FILE      configuration file (docs/config.md)\n"
		   "  -f, --foreground       stay in the foreground (default: detach)\n"
		   "  -l, --log-level LEVEL  err, warning, notice, info, debug (overrides the file)\n"
		   "  -h, --help             this text\n\n"
		   "Signals: SIGHUP reloads FILE (checked in full first; on an error the running\n"
		   "configuration stays and 'mfsctl status' shows file:line: reason); SIGTERM and\n"
		   "SIGINT stop the daemon. Static McEliece keys rotate in the background\n"
		   "(static_key_rotate, 'mfsctl rotate-static'; docs/mfsd.md).\n");
}

/* ---- startup ---- */

static int open_state(struct daemon *d)
{
	const char *dir = d->cfg->node.state_dir;
	struct secret *kek = NULL;
	int r;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		log_err("state_dir %s: %s", dir, mfs_strerror(r));
		return r;
	}
	snprintf(d->kek_path, sizeof(d->kek_path), "%s/kek", dir);
	snprintf(d->db_path, sizeof(d->db_path), "%s/keys.db", dir);
	snprintf(d->revoked_path, sizeof(d->revoked_path), "%s/revoked", dir);
	r = store_kek_load(d->kek_path, &kek);
	if (r == -ENOENT) {
		if ((r = store_kek_init(d->kek_path)) < 0) {
			log_err("%s: cannot create the key-encryption key: %s", d->kek_path,
				mfs_strerror(r));
			return r;
		}
		log_notice("created the key-encryption key %s", d->kek_path);
		r = store_kek_load(d->kek_path, &kek);
	}
	if (r < 0) {
		log_err("%s: %s", d->kek_path, mfs_strerror(r));
		return r;
	}
	r = store_open(d->db_path, kek, &d->st);
	secret_free(kek);
	if (r == -EMEDIUMTYPE)
		log_err("%s: cannot open the key store: it has an older schema (1: a row per key, "
			"2: flat pool secrets), which this version (schema %d, protocol version 3) "
			"cannot serve keys from; move it away and restart (new exchanges refill the "
			"pools)", d->db_path, STORE_SCHEMA_VERSION);
	else if (r == -EOPNOTSUPP)
		log_err("%s: cannot open the key store: it was written by a newer version",
			d->db_path);
	else if (r < 0)
		log_err("%s: cannot open the key store: %s", d->db_path, mfs_strerror(r));
	return r;
}

static int load_identity(struct daemon *d)
{
	char key[PATH_MAX], *dir;
	const char *what = NULL;
	int r;

	snprintf(key, sizeof(key), "%s", d->cfg->node.identity_key);
	dir = dirname(key);
	if ((r = identity_load(dir, &d->idn, &what)) < 0) {
		log_err("identity %s: %s: %s", dir, what ? what : "load failed", mfs_strerror(r));
		return r;
	}
	if (strcmp(d->idn->id, d->cfg->node.id) != 0) {
		log_err("%s: node id '%s' but the identity in %s is '%s'", d->cfg->source,
			d->cfg->node.id, dir, d->idn->id);
		return -EINVAL;
	}
	return 0;
}

static int addr_resolve(const struct config_addr *a, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_family = a->family, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	char port[8];
	int r;

	snprintf(port, sizeof(port), "%u", a->port);
	if ((r = getaddrinfo(a->host, port, &hints, &ai)) != 0 || !ai)
		return -EHOSTUNREACH;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static int ep_set(struct daemon *d, int fd, struct ev *ev, uint32_t events, bool add)
{
	struct epoll_event ee = { .events = events, .data.ptr = ev };

	return epoll_ctl(d->ep, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ee) < 0 ? -errno : 0;
}

static int open_listen(struct daemon *d)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, r;

	if ((r = addr_resolve(&d->cfg->node.listen, &ss, &len)) < 0)
		return r;
	d->listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (d->listen_fd < 0)
		return -errno;
	setsockopt(d->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(d->listen_fd, (struct sockaddr *)&ss, len) < 0 || listen(d->listen_fd, 16) < 0) {
		r = -errno;
		log_err("listen %s:%u: %s", d->cfg->node.listen.host, d->cfg->node.listen.port,
			mfs_strerror(r));
		return r;
	}
	d->listen_ev.kind = EV_LISTEN;
	return ep_set(d, d->listen_fd, &d->listen_ev, EPOLLIN, true);
}

static int open_admin(struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = d->cfg->node.admin_socket;
	mode_t old;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	d->admin_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (d->admin_fd < 0)
		return -errno;
	unlink(path);	/* a stale socket of an earlier run */
	old = umask(0177);
	r = bind(d->admin_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(path, 0600) < 0 || listen(d->admin_fd, 8) < 0) {
		r = -errno;
		log_err("admin socket %s: %s", path, mfs_strerror(r));
		return r;
	}
	d->admin_listen_ev.kind = EV_ADMIN_LISTEN;
	return ep_set(d, d->admin_fd, &d->admin_listen_ev, EPOLLIN, true);
}

static int open_push(struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = d->cfg->node.push_socket;
	mode_t old;
	int r;

	if (!path[0])
		return 0;	/* no push socket configured */
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	d->push_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (d->push_fd < 0)
		return -errno;
	unlink(path);	/* a stale socket of an earlier run */
	old = umask(0177);
	r = bind(d->push_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 ||
	    ((d->cfg->node.push_socket_group != CONFIG_NO_GROUP ||
	      d->cfg->node.push_socket_owner != CONFIG_NO_GROUP) &&
	     chown(path, d->cfg->node.push_socket_owner != CONFIG_NO_GROUP ?
			 (uid_t)d->cfg->node.push_socket_owner : (uid_t)-1,
		   d->cfg->node.push_socket_group != CONFIG_NO_GROUP ?
			 (gid_t)d->cfg->node.push_socket_group : (gid_t)-1) < 0) ||
	    chmod(path, (mode_t)d->cfg->node.push_socket_mode) < 0 || listen(d->push_fd, 16) < 0) {
		r = -errno;
		log_err("push socket %s: %s", path, mfs_strerror(r));
		return r;
	}
	d->push_listen_ev.kind = EV_PUSH_LISTEN;
	return ep_set(d, d->push_fd, &d->push_listen_ev, EPOLLIN, true);
}

static int open_signals(struct daemon *d)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	if ((d->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	d->signal_ev.kind = EV_SIGNAL;
	return ep_set(d, d->sig_fd, &d->signal_ev, EPOLLIN, true);
}

/* ---- peer connections ---- */

static void conn_close(struct daemon *d, struct conn *c, const char *why)
{
	struct peer_rt *p = c->peer;

	if (c->established) {
		log_notice("peer %s: disconnected: %s", p->cfg->name, why);
		cf_link_down(p->cp, why, time(NULL));
	} else if (!p) {
		log_info("inbound connection failed: %s", why);
	} else {
		log_info("peer %s: connection failed: %s", p->cfg->name, why);
	}
	for (size_t i = 0; i < MFSD_MAX_PENDING; i++)
		if (d->pending[i] == c)
			d->pending[i] = NULL;
	if (p && p->conn == c) {
		p->conn = NULL;
		if (p->i_connect) {
			p->next_try_ms = mfs_mono_ms() + p->backoff_ms;
			p->backoff_ms = p->backoff_ms * 2 > MFSD_RECONNECT_MAX_MS ?
					MFSD_RECONNECT_MAX_MS : p->backoff_ms * 2;
		}
	}
	epoll_ctl(d->ep, EPOLL_CTL_DEL, c->fd, NULL);
	tls_conn_free(c->tls);
	c->tls = NULL;
	close(c->fd);
	c->fd = -1;
	c->dead = true;
	c->next_dead = d->dead;
	d->dead = c;
}

static void conn_reap(struct daemon *d)
{
	while (d->dead) {
		struct conn *c = d->dead;

		d->dead = c->next_dead;
		free(c);
	}
}

static void keepalive(int fd)
{
	int one = 1, idle = 10, intvl = 5, cnt = 3;

	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/*
 * A connection: outbound to peer p (client), or inbound (p NULL) from any
 * peer that connects here, told apart by its pinned certificate alone
 * (tls_conn_new_server_multi), never by its source address.
 */
static struct conn *conn_new(struct daemon *d, struct peer_rt *p, int fd, bool client)
{
	struct conn *c = calloc(1, sizeof(*c));
	uint8_t pins[CONFIG_MAX_PEERS][IDENTITY_FPR_LEN];
	enum tls_group groups[CONFIG_MAX_PEERS];
	struct tls_ctx *ctx = NULL;
	size_t n = 0;
	int r = 0;

	if (!c)
		return NULL;
	c->ev.kind = EV_CONN;
	c->fd = fd;
	c->peer = p;
	c->client = client;
	c->started = time(NULL);
	if (!p) {
		for (size_t i = 0; i < d->n_peers; i++) {
			if (d->peers[i].i_connect || !d->peers[i].cfg)
				continue;
			memcpy(pins[n], d->peers[i].cfg->cert_sha256, IDENTITY_FPR_LEN);
			groups[n++] = d->peers[i].cfg->tls_group == CONFIG_TLS_MLKEM1024 ?
				      TLS_GROUP_MLKEM1024 : TLS_GROUP_X25519MLKEM768;
			ctx = d->peers[i].ctx;
		}
		r = n ? tls_conn_new_server_multi(ctx, pins, groups, n, &c->tls) : -ENOENT;
	} else {
		r = tls_conn_new(p->ctx, client ? TLS_CLIENT : TLS_SERVER, p->cfg->cert_sha256,
				 &c->tls);
	}
	if (r < 0 || (r = tls_conn_set_fd(c->tls, fd)) < 0 ||
	    ep_set(d, fd, &c->ev, EPOLLIN | EPOLLOUT, true) < 0) {
		tls_conn_free(c->tls);
		free(c);
		return NULL;
	}
	c->events = EPOLLIN | EPOLLOUT;
	keepalive(fd);
	return c;
}

static void peer_connect(struct daemon *d, struct peer_rt *p)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, r;

	p->next_try_ms = mfs_mono_ms() + p->backoff_ms;
	p->backoff_ms = p->backoff_ms * 2 > MFSD_RECONNECT_MAX_MS ? MFSD_RECONNECT_MAX_MS :
								     p->backoff_ms * 2;
	if ((r = addr_resolve(&p->cfg->address, &ss, &len)) < 0) {
		log_debug("peer %s: cannot resolve %s", p->cfg->name, p->cfg->address.host);
		return;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
		log_debug("peer %s: connect: %s", p->cfg->name, strerror(errno));
		close(fd);
		return;
	}
	if (!(p->conn = conn_new(d, p, fd, true))) {
		close(fd);
		return;
	}
	p->conn->connecting = true;
}

static void conn_update_events(struct daemon *d, struct conn *c)
{
	const uint8_t *out;
	uint32_t ev = EPOLLIN;

	if (c->connecting)
		ev |= EPOLLOUT;
	else if (!c->established)
		ev |= tls_conn_want(c->tls) == TLS_WANT_WRITE ? EPOLLOUT : 0;
	else if (c->wpending || cf_link_output(c->peer->cp, &out) > 0)
		ev |= EPOLLOUT;
	if (ev != c->events && ep_set(d, c->fd, &c->ev, ev, false) == 0)
		c->events = ev;
}

/* Write what cf has for the peer. Returns <0 when the connection failed. */
static int conn_flush(struct conn *c)
{
	for (;;) {
		const uint8_t *out;
		size_t n = cf_link_output(c->peer->cp, &out);
		ssize_t w;

		if (n == 0)
			return 0;
		if (!c->wpending)
			c->wpending = n < MFSD_WRITE_CHUNK ? n : MFSD_WRITE_CHUNK;
		w = tls_conn_write(c->tls, out, c->wpending);
		if (w == -EAGAIN)
			return 0;
		if (w < 0)
			return (int)w;
		cf_link_consume(c->peer->cp, c->wpending);
		c->wpending = 0;
	}
}

/* Which peer an inbound connection is: the one whose pin its certificate matched. */
static struct peer_rt *peer_of_inbound(struct daemon *d, struct conn *c)
{
	int idx = tls_conn_peer_index(c->tls), k = 0;

	for (size_t i = 0; idx >= 0 && i < d->n_peers; i++) {
		if (d->peers[i].i_connect || !d->peers[i].cfg)
			continue;
		if (k++ == idx)
			return &d->peers[i];
	}
	return NULL;
}

static void conn_established(struct conn *c)
{
	struct peer_rt *p = c->peer;
	uint8_t exp[TLS_EXPORTER_LEN];

	if (tls_conn_export(c->tls, NULL, 0, exp) < 0)
		return;
	c->established = true;
	c->last_rx_ms = c->last_ping_ms = mfs_mono_ms();
	p->backoff_ms = MFSD_RECONNECT_MIN_MS;
	cf_link_up(p->cp, exp, sizeof(exp), time(NULL));
	mfs_wipe(exp, sizeof(exp));
	if (d_push)
		push_link_up(d_push, p->cp, time(NULL));
	log_notice("peer %s: connected (%s, TLS 1.3, %s)", p->cfg->name,
		   c->client ? "outbound" : "inbound", tls_conn_group(c->tls));
}

static void conn_event(struct daemon *d, struct conn *c, uint32_t events)
{
	uint8_t buf[16384];
	int r, w;

	(void)events;
	if (c->connecting) {
		int err = 0;
		socklen_t l = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err) {
			conn_close(d, c, strerror(err ? err : errno));
			return;
		}
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		c->connecting = false;
	}
	if (!c->established) {
		r = tls_conn_handshake(c->tls);
		if (r == -EAGAIN)
			goto out;
		if (r < 0) {
			conn_close(d, c, tls_conn_error(c->tls)[0] ? tls_conn_error(c->tls) :
								     mfs_strerror(r));
			return;
		}
		if (!c->peer) {
			struct peer_rt *p = peer_of_inbound(d, c);

			if (!p) {
				conn_close(d, c, "no peer for the certificate");
				return;
			}
			for (size_t i = 0; i < MFSD_MAX_PENDING; i++)
				if (d->pending[i] == c)
					d->pending[i] = NULL;
			/* the newest connection wins: the old one belongs to a peer that restarted */
			if (p->conn)
				conn_close(d, p->conn, "replaced by a new connection");
			c->peer = p;
			p->conn = c;
		}
		conn_established(c);
		if (!c->established) {
			conn_close(d, c, "TLS exporter failed");
			return;
		}
	}
	r = w = 0;
	for (;;) {
		ssize_t n = tls_conn_read(c->tls, buf, sizeof(buf));

		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			conn_close(d, c, n == 0 ? "closed by the peer" :
				   tls_conn_error(c->tls)[0] ? tls_conn_error(c->tls) :
				   mfs_strerror((int)n));
			return;
		}
		c->last_rx_ms = mfs_mono_ms();
		/*
		 * The read through the engine, each answer written as soon as it
		 * is made (cf_link_feed pauses after each one), so the peer works
		 * on it while we go on with the rest of the read and the commit.
		 * Writing once per read instead costs less CPU but makes the two
		 * sides take turns on whole batches: on a quiet 2-CPU machine
		 * 2,069 against 2,776 four-factor exchanges/s with 8 in flight
		 * (bench/exchange [--write-per-read], docs/performance.md).
		 */
		r = cf_link_feed(c->peer->cp, buf, (size_t)n, time(NULL));
		for (;;) {
			if (r < 0) {
				conn_close(d, c, c->peer->cp->last_error[0] ?
					   c->peer->cp->last_error : mfs_strerror(r));
				return;
			}
			if ((w = conn_flush(c)) < 0 || r == 0)
				break;
			r = cf_link_feed(c->peer->cp, NULL, 0, time(NULL));
		}
		if (w < 0)
			break;
	}
	/* group commit: what finished in this turn is stored in one transaction */
	cf_link_commit(c->peer->cp, time(NULL));
	if ((r = w) < 0 || (r = conn_flush(c)) < 0) {
		conn_close(d, c, tls_conn_error(c->tls)[0] ? tls_conn_error(c->tls) : mfs_strerror(r));
		return;
	}
out:
	conn_update_events(d, c);
}

static void on_accept(struct daemon *d)
{
	for (;;) {
		int fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		size_t slot = MFSD_MAX_PENDING;
		struct conn *c;

		if (fd < 0)
			return;
		for (size_t i = 0; i < MFSD_MAX_PENDING; i++)
			if (!d->pending[i])
				slot = i;
		if (slot == MFSD_MAX_PENDING) {
			log_warning("inbound connection refused: %d handshakes already pending",
				    MFSD_MAX_PENDING);
			close(fd);
			continue;
		}
		if (!(c = conn_new(d, NULL, fd, false))) {
			log_warning("inbound connection refused: no peer connects to this node");
			close(fd);
			continue;
		}
		d->pending[slot] = c;
	}
}

/* ---- admin socket ---- */

static void admin_close(struct daemon *d, struct admin_conn *a)
{
	for (size_t i = 0; i < MFSD_MAX_ADMIN; i++)
		if (d->admins[i] == a)
			d->admins[i] = NULL;
	epoll_ctl(d->ep, EPOLL_CTL_DEL, a->fd, NULL);
	close(a->fd);
	free(a->out);
	free(a);
}

static void on_admin_accept(struct daemon *d)
{
	for (;;) {
		int fd = accept4(d->admin_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ucred cred;
		socklen_t l = sizeof(cred);
		struct admin_conn *a;
		size_t slot = MFSD_MAX_ADMIN;

		if (fd < 0)
			return;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &l) < 0 ||
		    (cred.uid != 0 && cred.uid != getuid())) {
			log_warning("admin: refused a client with uid %d", (int)cred.uid);
			close(fd);
			continue;
		}
		for (size_t i = 0; i < MFSD_MAX_ADMIN; i++)
			if (!d->admins[i])
				slot = i;
		if (slot == MFSD_MAX_ADMIN || !(a = calloc(1, sizeof(*a)))) {
			close(fd);
			continue;
		}
		a->ev.kind = EV_ADMIN;
		a->fd = fd;
		a->uid = cred.uid;
		a->events = EPOLLIN;
		if (ep_set(d, fd, &a->ev, EPOLLIN, true) < 0) {
			close(fd);
			free(a);
			continue;
		}
		d->admins[slot] = a;
	}
}

static int admin_reply(struct admin_conn *a, char *json)
{
	size_t n = strlen(json);
	uint8_t *out;

	if (n > ADMIN_RESP_MAX) {
		free(json);
		json = admin_error_json("response too large");
		if (!json)
			return -ENOMEM;
		n = strlen(json);
	}
	if (!(out = malloc(ADMIN_HDR_LEN + n))) {
		free(json);
		return -ENOMEM;
	}
	out[0] = (uint8_t)(n >> 24);
	out[1] = (uint8_t)(n >> 16);
	out[2] = (uint8_t)(n >> 8);
	out[3] = (uint8_t)n;
	memcpy(out + ADMIN_HDR_LEN, json, n);
	free(json);
	free(a->out);
	a->out = out;
	a->out_len = ADMIN_HDR_LEN + n;
	a->out_off = 0;
	return 0;
}

/* mfsctl status: the key supply face's counters as member "supply". */
static char *add_supply_status(struct daemon *d, char *json)
{
	json_t *o = json_loads(json, 0, NULL), *sup = mfsd_supply_status(d->supply);
	char *out = NULL;

	if (o && sup && json_object_set_new(o, "supply", sup) == 0) {
		sup = NULL;
		out = json_dumps(o, JSON_COMPACT);
	}
	json_decref(sup);
	json_decref(o);
	if (!out)
		return json;
	free(json);
	return out;
}

static void admin_event(struct daemon *d, struct admin_conn *a, uint32_t events)
{
	if (a->out) {
		ssize_t w = write(a->fd, a->out + a->out_off, a->out_len - a->out_off);

		if (w < 0 && errno != EAGAIN) {
			admin_close(d, a);
			return;
		}
		if (w > 0)
			a->out_off += (size_t)w;
		if (a->out_off == a->out_len) {
			free(a->out);
			a->out = NULL;
		}
	} else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = read(a->fd, a->in + a->in_len, sizeof(a->in) - a->in_len);
		uint32_t len;

		if (n <= 0) {
			if (n < 0 && errno == EAGAIN)
				return;
			admin_close(d, a);
			return;
		}
		a->in_len += (size_t)n;
		if (a->in_len >= ADMIN_HDR_LEN) {
			len = (uint32_t)a->in[0] << 24 | (uint32_t)a->in[1] << 16 |
			      (uint32_t)a->in[2] << 8 | a->in[3];
			if (len > ADMIN_REQ_MAX) {
				admin_close(d, a);
				return;
			}
			if (a->in_len >= ADMIN_HDR_LEN + len) {
				struct admin_req req;
				char *json = NULL;

				if (a->in_len != ADMIN_HDR_LEN + len ||
				    admin_req_parse(a->in + ADMIN_HDR_LEN, len, &req) < 0)
					json = admin_error_json("malformed request");
				else if (admin_handle(d->cf, &req, a->uid, time(NULL), &json) < 0)
					json = admin_error_json("out of memory");
				else if (req.cmd == ADMIN_STATUS && d->supply)
					json = add_supply_status(d, json);
				a->in_len = 0;
				if (!json || admin_reply(a, json) < 0) {
					admin_close(d, a);
					return;
				}
			}
		}
	}
	uint32_t ev = a->out ? EPOLLOUT : EPOLLIN;

	if (ev != a->events && ep_set(d, a->fd, &a->ev, ev, false) == 0)
		a->events = ev;
}

/* ---- push socket ---- */

static void push_sock_close(struct daemon *d, struct push_sock *ps)
{
	for (size_t i = 0; i < PUSH_MAX_CONNS; i++)
		if (d->pushes[i] == ps)
			d->pushes[i] = NULL;
	epoll_ctl(d->ep, EPOLL_CTL_DEL, ps->fd, NULL);
	close(ps->fd);
	push_conn_free(ps->pc);
	free(ps);
}

static void on_push_accept(struct daemon *d)
{
	for (;;) {
		int fd = accept4(d->push_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ucred cred;
		socklen_t l = sizeof(cred);
		struct push_sock *ps;
		size_t slot = PUSH_MAX_CONNS;
		int r;

		if (fd < 0)
			return;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &l) < 0) {
			close(fd);
			continue;
		}
		for (size_t i = 0; i < PUSH_MAX_CONNS; i++)
			if (!d->pushes[i]) {
				slot = i;
				break;
			}
		if (slot == PUSH_MAX_CONNS || !(ps = calloc(1, sizeof(*ps)))) {
			log_warning("push: refused a client (uid %d): too many connections",
				    (int)cred.uid);
			close(fd);
			continue;
		}
		ps->ev.kind = EV_PUSH;
		ps->fd = fd;
		ps->events = EPOLLIN;
		if ((r = push_conn_new(d->push, (uint32_t)cred.uid, (uint32_t)cred.gid,
				       (uint32_t)cred.pid, &ps->pc)) < 0 ||
		    ep_set(d, fd, &ps->ev, EPOLLIN, true) < 0) {
			push_conn_free(ps->pc);
			close(fd);
			free(ps);
			continue;
		}
		{
			/* supplementary groups, for gid:N in push_allow (Linux >= 4.13) */
			gid_t g[PUSH_GROUPS_MAX];
			uint32_t g32[PUSH_GROUPS_MAX];
			socklen_t gl = sizeof(g);

			if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &gl) == 0) {
				for (size_t i = 0; i < gl / sizeof(g[0]); i++)
					g32[i] = (uint32_t)g[i];
				push_conn_set_groups(ps->pc, g32, gl / sizeof(g[0]));
			}
		}
		d->pushes[slot] = ps;
	}
}

/* Write what is pending, follow it with the epoll interest; close when done or broken. */
static void push_sock_flush(struct daemon *d, struct push_sock *ps)
{
	const uint8_t *out;
	size_t n;
	uint32_t ev;

	while ((n = push_conn_output(ps->pc, &out)) > 0) {
		ssize_t w = send(ps->fd, out, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (w <= 0) {
			push_sock_close(d, ps);
			return;
		}
		push_conn_consume(ps->pc, (size_t)w);
	}
	if (push_conn_closing(ps->pc) && n == 0) {
		push_sock_close(d, ps);
		return;
	}
	ev = n > 0 ? EPOLLIN | EPOLLOUT : EPOLLIN;
	if (ev != ps->events && ep_set(d, ps->fd, &ps->ev, ev, false) == 0)
		ps->events = ev;
}

static void push_event(struct daemon *d, struct push_sock *ps, uint32_t events)
{
	uint8_t buf[4096];

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		for (;;) {
			ssize_t n = read(ps->fd, buf, sizeof(buf));

			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (n <= 0) {
				push_sock_close(d, ps);
				return;
			}
			if (push_conn_input(ps->pc, buf, (size_t)n, time(NULL)) < 0)
				break;
		}
	}
	push_sock_flush(d, ps);
}

/* ---- static key generation (rotation) ---- */

static void *keygen_main(void *arg)
{
	struct keygen *kg = arg;
	uint64_t one = 1;

	int64_t t0 = mfs_mono_ms();

	kg->err = keyring_generate(kg->method, kg->dir, kg->now, &kg->key);
	kg->ms = mfs_mono_ms() - t0;
	/* the loop reads it; a failed write leaves the thread to be joined at exit */
	if (write(kg->efd, &one, sizeof(one)) != sizeof(one))
		kg->err = kg->err < 0 ? kg->err : -EIO;
	return NULL;
}

static void keygen_maybe_start(struct daemon *d)
{
	struct keygen *kg = &d->kg;
	uint16_t method;
	int r;

	if (kg->running || kg->efd < 0 || !cf_rot_due(d->cf, time(NULL), &method))
		return;
	kg->method = method;
	kg->now = time(NULL);
	kg->key = NULL;
	kg->err = 0;
	cf_rot_started(d->cf, method);
	if ((r = pthread_create(&kg->th, NULL, keygen_main, kg)) != 0) {
		cf_rot_failed(d->cf, method, -r, time(NULL));
		return;
	}
	kg->running = true;
	log_info("static key rotation: generating a new %s key",
		 kex_method_by_id(method) ? kex_method_by_id(method)->name : "?");
}

static void keygen_done(struct daemon *d)
{
	struct keygen *kg = &d->kg;
	uint64_t v;

	if (read(kg->efd, &v, sizeof(v)) != sizeof(v) || !kg->running)
		return;
	pthread_join(kg->th, NULL);
	kg->running = false;
	if (kg->err < 0) {
		cf_rot_failed(d->cf, kg->method, kg->err, time(NULL));
	} else {
		log_info("static key rotation: new %s pair generated and written in %lld ms "
			 "(worker thread)", kex_method_by_id(kg->method) ?
			 kex_method_by_id(kg->method)->name : "?", (long long)kg->ms);
		cf_rot_install(d->cf, kg->key, time(NULL));	/* takes the key */
	}
	kg->key = NULL;
}

static int keygen_open(struct daemon *d)
{
	struct keygen *kg = &d->kg;

	if (mfsd_keyring_dir(d->cfg, kg->dir, sizeof(kg->dir)) < 0)
		return -ENAMETOOLONG;
	if ((kg->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		return -errno;
	kg->ev.kind = EV_KEYGEN;
	return ep_set(d, kg->efd, &kg->ev, EPOLLIN, true);
}

static void keygen_close(struct daemon *d)
{
	struct keygen *kg = &d->kg;

	if (kg->running) {
		/* at most one key generation: wait for it, then remove what it wrote */
		pthread_join(kg->th, NULL);
		kg->running = false;
		if (kg->key) {
			keyring_destroy_file(kg->key->sk_path);
			keyring_destroy_file(kg->key->pk_path);
			keyring_key_free(kg->key);
			kg->key = NULL;
		}
	}
	if (kg->efd >= 0)
		close(kg->efd);
	kg->efd = -1;
}

/* ---- SIGHUP: reload the configuration ---- */

__attribute__((format(printf, 2, 3)))
static void reload_failed(struct daemon *d, const char *fmt, ...)
{
	struct cf_stats *st = &d->cf->stats;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->reload_error, sizeof(st->reload_error), fmt, ap);
	va_end(ap);
	st->reload_failures++;
	st->last_reload = time(NULL);
	log_err("reload failed: %s; the running configuration stays", st->reload_error);
}

static bool addr_eq(const struct config_addr *a, const struct config_addr *b)
{
	return !strcmp(a->host, b->host) && a->port == b->port && a->family == b->family;
}

/* A setting of [node] that only a restart can change, or NULL. */
static const char *restart_only(const struct config *a, const struct config *b)
{
	if (strcmp(a->node.id, b->node.id))
		return "id";
	if (!addr_eq(&a->node.listen, &b->node.listen))
		return "listen";
	if (strcmp(a->node.identity_key, b->node.identity_key))
		return "identity_key";
	if (strcmp(a->node.identity_cert, b->node.identity_cert))
		return "identity_cert";
	if (strcmp(a->node.state_dir, b->node.state_dir))
		return "state_dir";
	if (strcmp(a->node.admin_socket, b->node.admin_socket))
		return "admin_socket";
	if (!addr_eq(&a->node.qkd_kme, &b->node.qkd_kme) || strcmp(a->node.qkd_sae_id, b->node.qkd_sae_id) ||
	    strcmp(a->node.qkd_cert, b->node.qkd_cert) || strcmp(a->node.qkd_key, b->node.qkd_key) ||
	    strcmp(a->node.qkd_ca, b->node.qkd_ca))
		return "qkd_kme/qkd_sae_id/qkd_cert/qkd_key/qkd_ca";
	for (int s = 0; s < CONFIG_MCELIECE_N; s++) {
		const struct config_mceliece_key *x = &a->node.mceliece[s], *y = &b->node.mceliece[s];

		if (x->set != y->set || strcmp(x->sk_path, y->sk_path) || strcmp(x->pk_path, y->pk_path))
			return s == 0 ? "mceliece460896_key/_pub" : "mceliece6688128_key/_pub";
	}
	return NULL;
}

static bool pins_differ(const struct config_peer *a, const struct config_peer *b)
{
	for (int s = 0; s < CONFIG_MCELIECE_N; s++)
		if (a->mceliece[s].set != b->mceliece[s].set ||
		    memcmp(a->mceliece[s].sha3, b->mceliece[s].sha3, CONFIG_SHA3_LEN))
			return true;
	return false;
}

/* What the link of a peer is made of changed: it must be set up again. */
static bool link_differs(const struct config_peer *a, const struct config_peer *b)
{
	return !addr_eq(&a->address, &b->address) ||
	       memcmp(a->cert_sha256, b->cert_sha256, CONFIG_SHA256_LEN) ||
	       a->tls_group != b->tls_group || pins_differ(a, b);
}

/*
 * Re-read the configuration file (SIGHUP). Any error: the running
 * configuration stays, the reason is logged as file:line: reason and shown
 * by mfsctl status. Otherwise the changes apply without touching what did
 * not change: a peer whose address, certificate pin, TLS group or McEliece
 * pins changed is reconnected, a removed peer disconnected, a new one
 * connected; every other link, pool and running exchange goes on
 * (cf_reconfigure()).
 */
static void reload(struct daemon *d)
{
	struct peer_rt np[CONFIG_MAX_PEERS];
	struct config *nc = NULL;
	struct config_error cerr;
	struct cf_keys *fresh = NULL;
	struct cf_config *cc = NULL;
	bool repin[CONFIG_MAX_PEERS] = { false };
	size_t slots[CONFIG_MAX_PEERS];
	size_t added = 0, removed = 0, relinked = 0;
	const char *what;
	int r;

	log_notice("SIGHUP: reloading %s", d->config_path);
	if ((r = config_load(d->config_path, NULL, &nc, &cerr)) < 0) {
		reload_failed(d, "%s", cerr.text);
		return;
	}
	if ((what = restart_only(d->cfg, nc))) {
		reload_failed(d, "%s: [node] %s cannot change without a restart of mfsd",
			      d->config_path, what);
		goto out;
	}
	if ((r = mfsd_keys_load(nc, &fresh)) < 0) {
		reload_failed(d, "%s: the static McEliece keys of the new configuration cannot be "
			      "loaded: %s (see the log)", d->config_path, mfs_strerror(r));
		goto out;
	}
	for (size_t i = 0; i < nc->n_peers; i++) {
		enum tls_group g = nc->peers[i].tls_group == CONFIG_TLS_MLKEM1024 ?
				   TLS_GROUP_MLKEM1024 : TLS_GROUP_X25519MLKEM768;
		char err[TLS_ERR_MAX];

		if (!d->ctx[g] && tls_ctx_new(d->idn, g, &d->ctx[g], err, sizeof(err)) < 0) {
			reload_failed(d, "%s:%u: TLS context (%s): %s", d->config_path,
				      nc->peers[i].line, tls_group_name(g), err);
			goto out;
		}
	}
	/* the links that go: removed peers, peers whose link changed; and pending handshakes */
	for (size_t k = 0; k < d->n_peers; k++) {
		struct peer_rt *p = &d->peers[k];
		const struct config_peer *n;

		if (!p->cfg)
			continue;
		n = config_peer_by_name(nc, p->cfg->name);
		if (n && !link_differs(p->cfg, n))
			continue;
		if (n)
			relinked++;
		else
			removed++;
		if (p->conn)
			conn_close(d, p->conn, n ? "its configuration changed" :
				   "removed from the configuration");
	}
	for (size_t i = 0; i < MFSD_MAX_PENDING; i++)
		if (d->pending[i])
			conn_close(d, d->pending[i], "configuration reloaded");
	for (size_t i = 0; i < nc->n_peers; i++) {
		const struct config_peer *o = config_peer_by_name(d->cfg, nc->peers[i].name);

		repin[i] = o && pins_differ(o, &nc->peers[i]);
		added += !o;
	}
	if (!(cc = mfsd_cf_config(nc, fresh, d->revoked_path))) {
		reload_failed(d, "out of memory");
		goto out;
	}
	fresh = NULL;	/* cf_reconfigure() takes it */
	if ((r = cf_reconfigure(d->cf, cc, repin, time(NULL), slots)) < 0) {
		reload_failed(d, "%s: cannot apply: %s", d->config_path, mfs_strerror(r));
		goto out;
	}
	/* the peers' runtime, in the engine's slots */
	memset(np, 0, sizeof(np));
	for (size_t i = 0; i < nc->n_peers; i++) {
		struct peer_rt *p = &np[slots[i]];
		enum tls_group g = nc->peers[i].tls_group == CONFIG_TLS_MLKEM1024 ?
				   TLS_GROUP_MLKEM1024 : TLS_GROUP_X25519MLKEM768;

		for (size_t k = 0; k < d->n_peers; k++)
			if (d->peers[k].cfg && !strcmp(d->peers[k].cfg->name, nc->peers[i].name))
				*p = d->peers[k];
		if (!p->cfg)
			p->backoff_ms = MFSD_RECONNECT_MIN_MS;
		p->cfg = &nc->peers[i];
		p->ctx = d->ctx[g];
		p->i_connect = strcmp(nc->node.id, p->cfg->name) < 0;
		p->cp = &d->cf->peers[slots[i]];
	}
	memcpy(d->peers, np, sizeof(np));
	d->n_peers = d->cf->n_peers;
	qkdc_reconfigure(d->qkd, nc);	/* follows the peers by name; keeps no pointer into nc */
	for (size_t k = 0; k < d->n_peers; k++)
		if (d->peers[k].conn)
			d->peers[k].conn->peer = &d->peers[k];
	config_free(d->cfg);
	d->cfg = nc;
	nc = NULL;
	mfs_log_set_level(d->have_level_arg ? d->level_arg : d->cfg->node.log_level);
	d->cf->stats.reloads++;
	d->cf->stats.last_reload = time(NULL);
	d->cf->stats.reload_error[0] = '\0';
	log_notice("configuration reloaded: %zu peer(s): %zu added, %zu removed, %zu reconnected "
		   "(address, pins or TLS group changed); classes and policies applied",
		   d->cfg->n_peers, added, removed, relinked);
out:
	free(cc);
	cf_keys_free(fresh);
	config_free(nc);
}

/* ---- main loop ---- */

static void run(struct daemon *d)
{
	struct epoll_event evs[32];

	while (!d->stop) {
		int64_t nms = mfs_mono_ms(), wait_ms = 1000;
		int n;

		qkdc_process(d->qkd, nms);
		if (d->qkd)
			wait_ms = qkdc_wait_ms(d->qkd, nms);
		cf_tick(d->cf, time(NULL));
		push_tick(d->push, time(NULL));
		keygen_maybe_start(d);
		for (size_t i = 0; i < MFSD_MAX_PENDING; i++)
			if (d->pending[i] && time(NULL) - d->pending[i]->started > MFSD_TLS_TIMEOUT_S)
				conn_close(d, d->pending[i], "TLS handshake timed out");
		for (size_t i = 0; i < d->n_peers; i++) {
			struct peer_rt *p = &d->peers[i];

			if (!p->cfg)
				continue;	/* the slot of a peer removed by a reload */
			if (p->conn && !p->conn->established &&
			    time(NULL) - p->conn->started > MFSD_TLS_TIMEOUT_S) {
				conn_close(d, p->conn, "TLS handshake timed out");
				continue;
			}
			if (!p->conn && p->i_connect) {
				if (nms >= p->next_try_ms)
					peer_connect(d, p);
				else if (p->next_try_ms - nms < wait_ms)
					wait_ms = p->next_try_ms - nms;
			}
			if (p->conn && p->conn->established) {
				struct conn *c = p->conn;
				int r;

				/* (bytes waiting in the socket: this loop was late, not the peer) */
				if (nms - c->last_rx_ms > MFSD_LINK_IDLE_MS &&
				    recv(c->fd, &(uint8_t){ 0 }, 1, MSG_PEEK | MSG_DONTWAIT) < 0) {
					char why[64];

					snprintf(why, sizeof(why), "nothing received for %lld s",
						 (long long)((nms - c->last_rx_ms) / 1000));
					conn_close(d, c, why);
					continue;
				}
				if (nms - c->last_ping_ms >= MFSD_PING_MS &&
				    cf_link_ping(p->cp) == 0)
					c->last_ping_ms = nms;
				r = conn_flush(c);
				if (r < 0) {
					conn_close(d, c, mfs_strerror(r));
					continue;
				}
				conn_update_events(d, c);
			}
		}
		n = epoll_wait(d->ep, evs, 32, (int)wait_ms);
		if (n < 0 && errno != EINTR) {
			log_err("epoll: %s", strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++) {
			struct ev *ev = evs[i].data.ptr;

			switch (ev->kind) {
			case EV_LISTEN:
				on_accept(d);
				break;
			case EV_ADMIN_LISTEN:
				on_admin_accept(d);
				break;
			case EV_SIGNAL: {
				struct signalfd_siginfo si;

				while (read(d->sig_fd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP)
						d->reload = true;
					else
						d->stop = true;
				}
				break;
			}
			case EV_CONN:
				if (!((struct conn *)ev)->dead)
					conn_event(d, (struct conn *)ev, evs[i].events);
				break;
			case EV_ADMIN:
				admin_event(d, (struct admin_conn *)ev, evs[i].events);
				break;
			case EV_QKD:	/* qkdc_process() at the top of the loop */
				break;
			case EV_PUSH_LISTEN:
				on_push_accept(d);
				break;
			case EV_PUSH:
				push_event(d, (struct push_sock *)ev, evs[i].events);
				break;
			case EV_KEYGEN:
				keygen_done(d);
				break;
			}
		}
		conn_reap(d);
		/* a key may have been queued for any subscriber (cf hooks, ticks) */
		for (size_t i = 0; i < PUSH_MAX_CONNS; i++)
			if (d->pushes[i])
				push_sock_flush(d, d->pushes[i]);
		if (d->reload && !d->stop) {
			d->reload = false;
			reload(d);
			conn_reap(d);
		}
	}
	log_notice("stopping");
}

static void daemon_free(struct daemon *d)
{
	for (size_t i = 0; i < d->n_peers; i++) {
		struct conn *c = d->peers[i].conn;

		if (c) {
			if (c->established)
				tls_conn_shutdown(c->tls);
			conn_close(d, c, "shutdown");
		}
	}
	for (size_t i = 0; i < MFSD_MAX_PENDING; i++)
		if (d->pending[i])
			conn_close(d, d->pending[i], "shutdown");
	for (size_t i = 0; i < MFSD_MAX_ADMIN; i++)
		if (d->admins[i])
			admin_close(d, d->admins[i]);
	conn_reap(d);
	for (size_t i = 0; i < PUSH_MAX_CONNS; i++)
		if (d->pushes[i])
			push_sock_close(d, d->pushes[i]);
	if (d->push_fd >= 0) {
		close(d->push_fd);
		unlink(d->cfg->node.push_socket);
	}
	push_free(d->push);
	if (d->admin_fd >= 0) {
		close(d->admin_fd);
		unlink(d->cfg->node.admin_socket);
	}
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	keygen_close(d);
	if (d->sig_fd >= 0)
		close(d->sig_fd);
	if (d->ep >= 0)
		close(d->ep);
	qkdc_free(d->qkd);
	mfsd_supply_stop(d->supply);
	cf_free(d->cf);
	store_close(d->st);
	cf_keys_free(d->keys);
	tls_ctx_free(d->ctx[0]);
	tls_ctx_free(d->ctx[1]);
	identity_free(d->idn);
	config_free(d->cfg);
}

/* The push layer and each class's push_allow list. */
static int setup_push(struct daemon *d)
{
	int r;

	if ((r = push_new(d->cf, d->st, (uint32_t)getuid(), &d->push)) < 0)
		return r;
	d_push = d->push;
	for (size_t i = 0; i < d->cfg->n_peers; i++) {
		const struct config_peer *cp = &d->cfg->peers[i];

		for (size_t j = 0; j < cp->n_classes; j++) {
			const struct config_class *cc = &cp->classes[j];

			for (size_t k = 0; k < cc->n_push_allow; k++) {
				const struct config_principal *pr = &cc->push_allow[k];

				r = push_allow_add(d->push, cp->name, cc->policy.name,
						   pr->kind == CONFIG_PRINCIPAL_UID ? PUSH_UID :
						   PUSH_GID, pr->id);
				if (r < 0)
					return r;
			}
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct daemon d = { .ep = -1, .listen_fd = -1, .admin_fd = -1, .sig_fd = -1,
			    .push_fd = -1, .kg = { .efd = -1 } };
	const char *config_path = NULL, *level_arg = NULL;
	char path[PATH_MAX], config_abs[PATH_MAX];
	struct config_error cerr;
	enum mfs_log_level level;
	bool foreground = false;
	int c, r, rc = 1;

	mfs_log_set_ident("mfsd");
	/* Before any thread or jansson object exists: jansson wipes what it frees (KME answers). */
	kme_json_init();
	while ((c = getopt_long(argc, argv, "c:fl:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'f': foreground = true; break;
		case 'l': level_arg = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || !config_path) {
		fprintf(stderr, "mfsd: %s\n", optind < argc ? "unexpected argument" :
			"--config FILE is required");
		usage(stderr);
		return 2;
	}
	if (level_arg && mfs_log_level_parse(level_arg, &level) < 0) {
		fprintf(stderr, "mfsd: --log-level: '%s' is not err, warning, notice, info or debug\n",
			level_arg);
		return 2;
	}
	if ((r = mfs_harden_process()) < 0) {
		fprintf(stderr, "mfsd: cannot harden the process: %s\n", mfs_strerror(r));
		return 1;
	}
	/* absolute: daemon(3) changes to /, and SIGHUP reads the file again */
	if (!realpath(config_path, config_abs)) {
		fprintf(stderr, "mfsd: %s: %s\n", config_path, strerror(errno));
		return 1;
	}
	d.config_path = config_abs;
	d.have_level_arg = level_arg != NULL;
	d.level_arg = level_arg ? level : MFS_LOG_INFO;
	if ((r = config_load(config_path, NULL, &d.cfg, &cerr)) < 0) {
		fprintf(stderr, "mfsd: %s\n", cerr.text);
		return 1;
	}
	mfs_log_set_level(level_arg ? level : d.cfg->node.log_level);
	/* a static key destruction a crash interrupted: finished before the identity is read */
	if (mfsd_keyring_dir(d.cfg, path, sizeof(path)) == 0 && (r = keyring_recover(path)) < 0)
		log_warning("%s: cannot finish destroying an old static key: %s", path,
			    mfs_strerror(r));
	if ((r = load_identity(&d)) < 0 || (r = open_state(&d)) < 0 ||
	    (r = mfsd_keys_load(d.cfg, &d.keys)) < 0)
		goto out;
	d.n_peers = d.cfg->n_peers;
	for (size_t i = 0; i < d.n_peers; i++) {
		struct peer_rt *p = &d.peers[i];
		enum tls_group g = d.cfg->peers[i].tls_group == CONFIG_TLS_MLKEM1024 ?
				   TLS_GROUP_MLKEM1024 : TLS_GROUP_X25519MLKEM768;
		char err[TLS_ERR_MAX];

		p->cfg = &d.cfg->peers[i];
		p->i_connect = strcmp(d.cfg->node.id, p->cfg->name) < 0;
		p->backoff_ms = MFSD_RECONNECT_MIN_MS;
		if (!d.ctx[g] && (r = tls_ctx_new(d.idn, g, &d.ctx[g], err, sizeof(err))) < 0) {
			log_err("TLS context (%s): %s", tls_group_name(g), err);
			goto out;
		}
		p->ctx = d.ctx[g];
	}
	r = mfsd_cf_new(d.cfg, d.keys, d.st, d.revoked_path, &d.cf);
	d.keys = NULL;	/* the engine's now */
	if (r < 0) {
		log_err("control engine: %s%s", mfs_strerror(r),
			r == -EBADMSG ? " (the revocation file in state_dir is malformed)" : "");
		goto out;
	}
	for (size_t i = 0; i < d.n_peers; i++)
		d.peers[i].cp = &d.cf->peers[i];
	if ((r = qkdc_new(d.cfg, d.cf, d.st, &d.qkd)) < 0) {
		log_err("QKD client: %s", mfs_strerror(r));
		goto out;
	}
	if ((r = setup_push(&d)) < 0)
		goto out;
	if ((d.ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		r = -errno;
		goto out;
	}
	d.qkd_ev.kind = EV_QKD;
	if (d.qkd && (r = ep_set(&d, qkdc_fd(d.qkd), &d.qkd_ev, EPOLLIN, true)) < 0) {
		log_err("startup: %s", mfs_strerror(r));
		goto out;
	}
	if ((r = open_signals(&d)) < 0 || (r = open_listen(&d)) < 0 || (r = open_admin(&d)) < 0 ||
	    (r = open_push(&d)) < 0 || (r = keygen_open(&d)) < 0) {
		log_err("startup: %s", mfs_strerror(r));
		goto out;
	}
	if (!foreground && daemon(0, 1) < 0) {
		log_err("cannot detach: %s", strerror(errno));
		goto out;
	}
	/* After daemon(): the workers are threads of the process that stays. */
	if ((r = mfsd_supply_start(d.cfg, d.db_path, d.kek_path, &d.supply)) < 0)
		goto out;
	log_notice("node %s listening on %s:%u, admin socket %s, push socket %s, %zu peer(s)",
		   d.cfg->node.id, d.cfg->node.listen.host, d.cfg->node.listen.port,
		   d.cfg->node.admin_socket,
		   d.cfg->node.push_socket[0] ? d.cfg->node.push_socket : "(none)", d.n_peers);
	run(&d);
	rc = 0;
out:
	daemon_free(&d);
	return rc;
}
