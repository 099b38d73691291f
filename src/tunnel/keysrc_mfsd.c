/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mfsd push key source of mfs-tunnel (tunnel/keysrc.h): libmfs-client
 * subscriptions to one (peer, class) on mfsd's push socket (docs/push.md),
 * one OUTBOUND (keys this end sends with, one ahead of need) and one
 * INBOUND (the keys the peer's tunnel sends with, by ID as the peer mfsd
 * announces them).
 *
 * Both connections sit in one epoll set, whose descriptor is the source's
 * fd(). A connection that fails (mfsd stopped, kill -9) is closed; tick()
 * reconnects once a second. Keys already installed keep working until their
 * own limits: the tunnel never depends on mfsd for packets in flight.
 *
 * Linked into the mfs-tunnel program (with libmfs-client), not into
 * libmfstunnel, which stays on base and crypto.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/secret.h"
#include "mfs/client.h"
#include "tunnel/keysrc.h"

#define MFSD_RETRY_NS 1000000000ULL
#define MFSD_AHEAD 1
#define MFSD_KEYS_SEEN 16	/* key IDs remembered per subscription (a ring) */

_Static_assert(MFS_CLIENT_KEY_ID_LEN == KEY_ID_LEN, "key ID sizes differ");

struct mfsd_conn {
	struct mfs_client *c;
	enum mfs_client_direction dir;
	bool fresh;		/* no key yet on this subscription */
	/*
	 * The keys pushed on this subscription: reports (first use, usage) go
	 * only for these. A key installed before mfsd restarted keeps carrying
	 * traffic, but the new subscription never pushed it, and mfsd ends a
	 * subscription that reports a key it did not push (seen: the outbound
	 * subscription lost and re-made once a second until a new key took
	 * over, 13 s after the restart).
	 */
	uint8_t seen[MFSD_KEYS_SEEN][KEY_ID_LEN];
	unsigned n_seen;
};

struct mfsd_src {
	char *path, *peer, *class_name;
	int epfd;
	struct mfsd_conn conn[2];	/* [0] outbound, [1] inbound */
	uint64_t next_try_ns;
	bool warned;
};

static const char *dir_name(enum mfs_client_direction d)
{
	return d == MFS_CLIENT_OUTBOUND ? "outbound" : "inbound";
}

static void conn_close(struct mfsd_src *s, struct mfsd_conn *k)
{
	if (!k->c)
		return;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, mfs_client_fd(k->c), NULL);
	mfs_client_close(k->c);
	k->c = NULL;
}

static int conn_open(struct mfsd_src *s, struct mfsd_conn *k)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int r;

	if ((r = mfs_client_open(s->path, k->dir == MFS_CLIENT_OUTBOUND ? "tunnel-out" : "tunnel-in",
				 &k->c)) < 0)
		return r;
	if ((r = mfs_client_subscribe(k->c, s->peer, s->class_name, k->dir, MFSD_AHEAD)) < 0) {
		if (!s->warned)
			log_warning("mfsd %s: subscribe %s/%s %s: %s%s%s", s->path, s->peer,
				    s->class_name, dir_name(k->dir), strerror(-r),
				    *mfs_client_error(k->c) ? ": " : "", mfs_client_error(k->c));
		mfs_client_close(k->c);
		k->c = NULL;
		return r;
	}
	ev.data.ptr = k;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, mfs_client_fd(k->c), &ev) < 0) {
		r = -errno;
		conn_close(s, k);
		return r;
	}
	k->fresh = true;
	k->n_seen = 0;
	log_info("mfsd %s: subscribed to %s/%s %s", s->path, s->peer, s->class_name,
		 dir_name(k->dir));
	return 0;
}

static void connect_all(struct mfsd_src *s)
{
	bool failed = false;

	for (int i = 0; i < 2; i++)
		if (!s->conn[i].c && conn_open(s, &s->conn[i]) < 0)
			failed = true;
	if (failed && !s->warned) {
		log_warning("mfsd %s: not (fully) subscribed; retrying every second", s->path);
		s->warned = true;
	} else if (!failed) {
		s->warned = false;
	}
	s->next_try_ns = (uint64_t)mfs_mono_ns() + MFSD_RETRY_NS;
}

static void on_key(struct mfsd_conn *k, const struct key_sink *sink,
		   struct mfs_client_key *key)
{
	struct tunnel_key tk = { 0 };
	time_t now = time(NULL);
	char idtxt[MFS_CLIENT_KEY_ID_STR_LEN + 1];
	int r;

	mfs_client_key_id_format(key->id, idtxt);
	if (key->hard_expiry <= now) {
		log_warning("mfsd: key %s arrived past its hard expiry; ignored", idtxt);
		return;
	}
	memcpy(k->seen[k->n_seen++ % MFSD_KEYS_SEEN], key->id, KEY_ID_LEN);
	memcpy(tk.id, key->id, KEY_ID_LEN);
	tk.dir = k->dir == MFS_CLIENT_OUTBOUND ? KEY_OUT : KEY_IN;
	tk.key = key->key;
	tk.key_len = key->key_len;
	tk.lifetime_s = (uint64_t)(key->hard_expiry - now);
	/* The first key of a subscription takes over; later ones are held until a RETIRE. */
	tk.hold = tk.dir == KEY_OUT && !k->fresh;
	k->fresh = false;
	if ((r = sink->install(sink->ctx, &tk)) < 0) {
		log_err("mfsd: key %s (%s) not installed: %s", idtxt, dir_name(k->dir), strerror(-r));
		return;
	}
	/* INBOUND: this is what tells the sender it may switch (PEER_INSTALLED there). */
	if ((r = mfs_client_ack(k->c, key->id)) < 0)
		log_warning("mfsd: ack of key %s: %s", idtxt, strerror(-r));
}

static int drain(struct mfsd_src *s, struct mfsd_conn *k, const struct key_sink *sink)
{
	struct mfs_client_event ev;
	int r;

	while (k->c && (r = mfs_client_next(k->c, 0, &ev)) > 0) {
		char idtxt[MFS_CLIENT_KEY_ID_STR_LEN + 1];

		switch (ev.type) {
		case MFS_CLIENT_EV_KEY:
			on_key(k, sink, &ev.key);
			break;
		case MFS_CLIENT_EV_PEER_INSTALLED:
			if (sink->peer_installed)
				sink->peer_installed(sink->ctx, ev.id);
			break;
		case MFS_CLIENT_EV_RETIRE:
			mfs_client_key_id_format(ev.id, idtxt);
			log_info("mfsd: retire key %s (reason %u)", idtxt, ev.reason);
			if (ev.reason == MFS_CLIENT_RETIRE_HARD_EXPIRY ||
			    ev.reason == MFS_CLIENT_RETIRE_WITHDRAWN)
				sink->withdraw(sink->ctx, ev.id);
			else if (sink->retire)
				sink->retire(sink->ctx, ev.id);
			break;
		}
		mfs_client_key_wipe(&ev.key);
	}
	if (k->c && r < 0) {
		log_warning("mfsd %s: %s subscription lost: %s%s%s", s->path, dir_name(k->dir),
			    strerror(-r), *mfs_client_error(k->c) ? ": " : "", mfs_client_error(k->c));
		conn_close(s, k);
		s->next_try_ns = (uint64_t)mfs_mono_ns() + MFSD_RETRY_NS;
		return r;
	}
	return 0;
}

static int mfsd_fd(void *ctx)
{
	return ((struct mfsd_src *)ctx)->epfd;
}

static int mfsd_dispatch(void *ctx, const struct key_sink *sink)
{
	struct mfsd_src *s = ctx;
	struct epoll_event evs[2];
	int n, r = 0;

	n = epoll_wait(s->epfd, evs, 2, 0);
	(void)n;
	/* Drain both: cheap, and a message may sit buffered in the library. */
	for (int i = 0; i < 2; i++)
		if (drain(s, &s->conn[i], sink) < 0)
			r = -ECONNRESET;
	return r;
}

static void mfsd_tick(void *ctx, const struct key_sink *sink)
{
	struct mfsd_src *s = ctx;

	if ((!s->conn[0].c || !s->conn[1].c) && (uint64_t)mfs_mono_ns() >= s->next_try_ns) {
		connect_all(s);
		mfsd_dispatch(s, sink);
	}
}

/* The client of the subscription of that direction, if it pushed key id; else NULL. */
static struct mfs_client *conn_of(struct mfsd_src *s, bool outbound,
				  const uint8_t id[static KEY_ID_LEN])
{
	struct mfsd_conn *k = &s->conn[outbound ? 0 : 1];
	unsigned n = k->n_seen < MFSD_KEYS_SEEN ? k->n_seen : MFSD_KEYS_SEEN;

	for (unsigned i = 0; k->c && i < n; i++)
		if (!memcmp(k->seen[i], id, KEY_ID_LEN))
			return k->c;
	return NULL;
}

static void mfsd_first_use(void *ctx, const uint8_t id[static KEY_ID_LEN], bool outbound)
{
	struct mfs_client *c = conn_of(ctx, outbound, id);

	if (c)
		mfs_client_in_use(c, id);
}

static void mfsd_usage(void *ctx, const uint8_t id[static KEY_ID_LEN], uint64_t packets,
		       uint64_t bytes)
{
	struct mfs_client *c = conn_of(ctx, true, id);

	if (c)
		mfs_client_usage(c, id, bytes, packets);
}

static void mfsd_free(void *ctx)
{
	struct mfsd_src *s = ctx;

	if (!s)
		return;
	for (int i = 0; i < 2; i++)
		conn_close(s, &s->conn[i]);
	if (s->epfd >= 0)
		close(s->epfd);
	free(s->path);
	free(s->peer);
	free(s->class_name);
	free(s);
}

static const struct key_source_ops mfsd_ops = {
	.name = "mfsd push",
	.fd = mfsd_fd,
	.dispatch = mfsd_dispatch,
	.first_use = mfsd_first_use,
	.usage = mfsd_usage,
	.tick = mfsd_tick,
	.free = mfsd_free,
};

int keysrc_mfsd_new(const char *socket_path, const char *peer, const char *class_name,
		    struct key_source *ret)
{
	struct mfsd_src *s;

	if (!peer || !*peer || !class_name || !*class_name)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->path = strdup(socket_path ? socket_path : MFS_CLIENT_DEFAULT_SOCKET);
	s->peer = strdup(peer);
	s->class_name = strdup(class_name);
	s->conn[0].dir = MFS_CLIENT_OUTBOUND;
	s->conn[1].dir = MFS_CLIENT_INBOUND;
	if (s->epfd < 0 || !s->path || !s->peer || !s->class_name) {
		mfsd_free(s);
		return -ENOMEM;
	}
	connect_all(s);
	ret->ops = &mfsd_ops;
	ret->ctx = s;
	return 0;
}
