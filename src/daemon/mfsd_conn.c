/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfsd's peer connections: outbound connects with backoff, inbound accepts
 * told apart by the pinned certificate alone, the TLS handshake, then the
 * bytes between TLS and the engine's link (cf_link_feed / cf_link_output)
 * with the group commit at the end of each read.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/secret.h"
#include "daemon/mfsd_int.h"

void mfsd_conn_close(struct daemon *d, struct conn *c, const char *why)
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

void mfsd_conn_reap(struct daemon *d)
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
			groups[n++] = mfsd_tls_group(d->peers[i].cfg);
			ctx = d->peers[i].ctx;
		}
		r = n ? tls_conn_new_server_multi(ctx, pins, groups, n, &c->tls) : -ENOENT;
	} else {
		r = tls_conn_new(p->ctx, client ? TLS_CLIENT : TLS_SERVER, p->cfg->cert_sha256,
				 &c->tls);
	}
	if (r < 0 || (r = tls_conn_set_fd(c->tls, fd)) < 0 ||
	    mfsd_ep_set(d, fd, &c->ev, EPOLLIN | EPOLLOUT, true) < 0) {
		tls_conn_free(c->tls);
		free(c);
		return NULL;
	}
	c->events = EPOLLIN | EPOLLOUT;
	keepalive(fd);
	return c;
}

void mfsd_peer_connect(struct daemon *d, struct peer_rt *p)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, r;

	p->next_try_ms = mfs_mono_ms() + p->backoff_ms;
	p->backoff_ms = p->backoff_ms * 2 > MFSD_RECONNECT_MAX_MS ? MFSD_RECONNECT_MAX_MS :
								     p->backoff_ms * 2;
	if ((r = mfsd_addr_resolve(&p->cfg->address, &ss, &len)) < 0) {
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

void mfsd_conn_update_events(struct daemon *d, struct conn *c)
{
	const uint8_t *out;
	uint32_t ev = EPOLLIN;

	if (c->connecting)
		ev |= EPOLLOUT;
	else if (!c->established)
		ev |= tls_conn_want(c->tls) == TLS_WANT_WRITE ? EPOLLOUT : 0;
	else if (c->wpending || cf_link_output(c->peer->cp, &out) > 0)
		ev |= EPOLLOUT;
	if (ev != c->events && mfsd_ep_set(d, c->fd, &c->ev, ev, false) == 0)
		c->events = ev;
}

/* Write what cf has for the peer. Returns <0 when the connection failed. */
int mfsd_conn_flush(struct conn *c)
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

static void conn_established(struct daemon *d, struct conn *c)
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
	if (d->push)
		push_link_up(d->push, p->cp, time(NULL));
	log_notice("peer %s: connected (%s, TLS 1.3, %s)", p->cfg->name,
		   c->client ? "outbound" : "inbound", tls_conn_group(c->tls));
}

void mfsd_conn_event(struct daemon *d, struct conn *c, uint32_t events)
{
	uint8_t buf[16384];
	int r, w;

	(void)events;
	if (c->connecting) {
		int err = 0;
		socklen_t l = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err) {
			mfsd_conn_close(d, c, strerror(err ? err : errno));
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
			mfsd_conn_close(d, c, tls_conn_error(c->tls)[0] ? tls_conn_error(c->tls) :
								     mfs_strerror(r));
			return;
		}
		if (!c->peer) {
			struct peer_rt *p = peer_of_inbound(d, c);

			if (!p) {
				mfsd_conn_close(d, c, "no peer for the certificate");
				return;
			}
			for (size_t i = 0; i < MFSD_MAX_PENDING; i++)
				if (d->pending[i] == c)
					d->pending[i] = NULL;
			/* the newest connection wins: the old one belongs to a peer that restarted */
			if (p->conn)
				mfsd_conn_close(d, p->conn, "replaced by a new connection");
			c->peer = p;
			p->conn = c;
		}
		conn_established(d, c);
		if (!c->established) {
			mfsd_conn_close(d, c, "TLS exporter failed");
			return;
		}
	}
	r = w = 0;
	for (;;) {
		ssize_t n = tls_conn_read(c->tls, buf, sizeof(buf));

		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			mfsd_conn_close(d, c, n == 0 ? "closed by the peer" :
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
				mfsd_conn_close(d, c, c->peer->cp->last_error[0] ?
					   c->peer->cp->last_error : mfs_strerror(r));
				return;
			}
			if ((w = mfsd_conn_flush(c)) < 0 || r == 0)
				break;
			r = cf_link_feed(c->peer->cp, NULL, 0, time(NULL));
		}
		if (w < 0)
			break;
	}
	/* group commit: what finished in this turn is stored in one transaction */
	cf_link_commit(c->peer->cp, time(NULL));
	if ((r = w) < 0 || (r = mfsd_conn_flush(c)) < 0) {
		mfsd_conn_close(d, c, tls_conn_error(c->tls)[0] ? tls_conn_error(c->tls) : mfs_strerror(r));
		return;
	}
out:
	mfsd_conn_update_events(d, c);
}

void mfsd_on_accept(struct daemon *d)
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
