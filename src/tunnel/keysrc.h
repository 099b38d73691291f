/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where mfs-tunnel gets its keys: a key source behind a small vtable, so that
 * the mfsd push client and the static test source plug in the same way.
 *
 * The tunnel's control thread polls ops->fd() and calls ops->dispatch() when
 * it is readable (and once at start). dispatch() hands each new key to
 * sink->install() and each revoked key to sink->withdraw(); the key bytes
 * are only borrowed for the call (the tunnel derives its SA keys and keeps
 * nothing else). The tunnel reports back: first_use() once per key when it
 * really carries traffic in either direction, usage() periodically with the
 * outbound packet and byte counts (for volume-based rekey), and
 * rekey_wanted() when a key passes its soft limit. Any of these may be NULL.
 */
#ifndef MFS_TUNNEL_KEYSRC_H
#define MFS_TUNNEL_KEYSRC_H

#include <stddef.h>
#include <stdint.h>

#include "tunnel/sa.h"

/*
 * KEY_BOTH: one key for both directions (the static source); the tunnel
 * derives one SA per direction from it. KEY_OUT / KEY_IN: mfsd's model, one
 * key per direction (OUTBOUND: this node sends with it; INBOUND: the peer
 * does); the SA of that direction only is derived, with the same label the
 * peer uses for its opposite direction.
 */
enum tunnel_key_dir {
	KEY_BOTH,
	KEY_OUT,
	KEY_IN,
};

struct tunnel_key {
	uint8_t id[KEY_ID_LEN];
	enum tunnel_key_dir dir;
	const uint8_t *key;	/* borrowed, SA_KEY_MIN..SA_KEY_MAX bytes */
	size_t key_len;
	uint64_t max_packets;	/* 0: the tunnel's default */
	uint64_t max_bytes;	/* 0: the tunnel's default */
	uint64_t lifetime_s;	/* hard lifetime from now; 0: the tunnel's default */
	bool hold;		/* KEY_OUT pushed ahead of need: switch to it only once the
				   current key is retired (sink->retire) or exhausted */
};

struct key_sink {
	void *ctx;
	int (*install)(void *ctx, const struct tunnel_key *k);
	int (*withdraw)(void *ctx, const uint8_t id[static KEY_ID_LEN]);
	/* The peer installed our outbound key id: it may carry traffic now (push PEER_INSTALLED). */
	int (*peer_installed)(void *ctx, const uint8_t id[static KEY_ID_LEN]);
	/* Stop sending with outbound key id once a newer one is ready (soft expiry, volume). */
	int (*retire)(void *ctx, const uint8_t id[static KEY_ID_LEN]);
};

struct key_source_ops {
	const char *name;
	int (*fd)(void *ctx);
	int (*dispatch)(void *ctx, const struct key_sink *sink);
	void (*first_use)(void *ctx, const uint8_t id[static KEY_ID_LEN], bool outbound);
	void (*usage)(void *ctx, const uint8_t id[static KEY_ID_LEN], uint64_t packets,
		      uint64_t bytes);
	void (*rekey_wanted)(void *ctx, const uint8_t id[static KEY_ID_LEN]);
	/* Called every control-loop turn (~50 ms): reconnects and the like. May be NULL. */
	void (*tick)(void *ctx, const struct key_sink *sink);
	void (*free)(void *ctx);
};

struct key_source {
	const struct key_source_ops *ops;
	void *ctx;
};

/*
 * The static key source, a TEST AND BENCHMARK AID: one key in a file of the
 * form "<key ID, 32 hex digits> <key, 64-128 hex digits>" (lines starting
 * with '#' and empty lines are skipped), which must not be readable by group
 * or others. The file is read at start and again on SIGHUP (the caller
 * blocks SIGHUP in every thread); a new key ID installs a new key
 * (make-before-break), the same one is ignored. Keys supplied this way have
 * no delivered-once guarantee, hence the tunnel's persisted sequence
 * high-water marks. -EINVAL bad arguments.
 */
int keysrc_static_new(const char *path, struct key_source *ret);

/*
 * The mfsd push source (keysrc_mfsd.c, linked into mfs-tunnel with
 * libmfs-client): two subscriptions to (peer, class) on mfsd's push socket,
 * OUTBOUND (one key ahead of need) and INBOUND. KEY -> install (KEY_OUT with
 * hold after the first, KEY_IN) then acknowledge; PEER_INSTALLED ->
 * peer_installed; RETIRE -> retire (volume, soft expiry) or withdraw (hard
 * expiry, withdrawn); first use and usage are reported back. A lost
 * connection (mfsd restarted) is retried every second; installed keys keep
 * working until their own limits, and the first key of a new subscription
 * takes over without waiting for a RETIRE that will not come.
 */
int keysrc_mfsd_new(const char *socket_path, const char *peer, const char *class_name,
		    struct key_source *ret);

/* Parse the static key file format; exposed for the tests. -EBADMSG with the reason in *ret_why. */
int keysrc_static_parse(const char *text, size_t len, uint8_t id[static KEY_ID_LEN],
			uint8_t *key, size_t *key_len, const char **ret_why);

#endif
