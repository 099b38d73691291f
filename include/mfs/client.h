/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmfs-client: how a local encryptor gets keys from mfsd.
 *
 * SYNOPSIS
 *
 *	#include <mfs/client.h>
 *	cc app.c $(pkg-config --cflags --libs mfs-client)
 *
 *	struct mfs_client *c;
 *	struct mfs_client_key k;
 *	struct mfs_client_event ev;
 *
 *	mfs_client_open(NULL, "my-encryptor", &c);               one connection
 *	mfs_client_get_key(c, "gpu-dc", "training", &k);         pull one outbound key
 *	mfs_client_get_key_by_id(c, "office", "training", id, &k);  the peer's key, by ID
 *	mfs_client_key_wipe(&k);
 *
 *	mfs_client_subscribe(c, "gpu-dc", "training", MFS_CLIENT_OUTBOUND, 2);
 *	while (mfs_client_next(c, -1, &ev) > 0) {                the push stream
 *		if (ev.type == MFS_CLIENT_EV_KEY) {
 *			install(&ev.key);
 *			mfs_client_ack(c, ev.key.id);             installed
 *			mfs_client_key_wipe(&ev.key);
 *		}
 *		...
 *		mfs_client_in_use(c, id);                         first packet with it
 *		mfs_client_usage(c, id, bytes, packets);          totals so far
 *	}
 *	mfs_client_close(c);
 *
 * DESCRIPTION
 *
 * mfsd keeps pools of multi-factor keys per (peer, data protection class,
 * direction). This library is its local Key Supply interface (MFS seed 001
 * §4.3.1, the push pattern and a by-ID pull): a Unix stream socket,
 * push_socket in mfsd.conf (default MFS_CLIENT_DEFAULT_SOCKET), carrying the
 * length-prefixed binary messages of docs/push.md. The daemon reads the
 * caller's uid and gid with SO_PEERCRED and serves a (peer, class) only to
 * the uids/gids of that class's push_allow list (docs/config.md).
 *
 * Directions are the daemon's: OUTBOUND keys are the ones this node sends
 * with (each handed out once, from "my outbound" pool), INBOUND keys the ones
 * the peer sends with (fetched by key ID from "peer outbound" pool). A key is
 * recorded as delivered (fsync'd) by mfsd before it is written to the socket,
 * and it is never delivered twice, by any interface, whatever crash: a key
 * lost with a broken connection is lost, the next one comes from the pool.
 *
 * A handle is one connection. It is either a request connection
 * (mfs_client_get_key*, any number, one at a time) or, after
 * mfs_client_subscribe(), a subscription connection (one subscription, then
 * only mfs_client_next/ack/in_use/usage). A handle is not thread-safe: use one
 * per thread. The library does no logging and never writes key bytes anywhere
 * but into the caller's struct mfs_client_key.
 *
 * RETURN VALUES
 *
 * Functions returning int return 0 (or a count) on success and a negative
 * errno value on failure; ret_* outputs are written only on success:
 *   -EACCES       SO_PEERCRED: this uid/gid may not use that (peer, class)
 *   -ENOENT       unknown peer or class; or no socket at the path
 *   -ENOKEY       no servable key (pool empty, or unknown key ID)
 *   -EALREADY     that key ID was already delivered (to anyone)
 *   -EKEYEXPIRED  that key is past its hard expiry
 *   -EKEYREVOKED  that key was withdrawn (a revoked method)
 *   -EAGAIN       the daemon cannot serve now (store busy or full); retry
 *   -EBUSY        too many subscriptions on the daemon
 *   -EPROTO       call not allowed in this state (e.g. get after subscribe)
 *   -EBADMSG      malformed message from the daemon (connection unusable)
 *   -EPROTONOSUPPORT  no common protocol version
 *   -ECONNRESET / -EPIPE  the daemon closed the connection
 *   -ETIMEDOUT    no reply within MFS_CLIENT_TIMEOUT_MS
 *   -EINVAL       bad argument
 * mfs_client_error() gives the daemon's text for the last error reply.
 */
#ifndef MFS_CLIENT_H
#define MFS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MFS_CLIENT_BUILD) && defined(__GNUC__)
#define MFS_CLIENT_API __attribute__((visibility("default")))
#else
#define MFS_CLIENT_API
#endif

#define MFS_CLIENT_PROTOCOL_VERSION 1	/* push protocol spoken (docs/push.md) */
#define MFS_CLIENT_DEFAULT_SOCKET "/run/mfsd/push.sock"
#define MFS_CLIENT_KEY_ID_LEN 16	/* a UUID (RFC 9562), binary */
#define MFS_CLIENT_KEY_ID_STR_LEN 36	/* canonical text, without the NUL */
#define MFS_CLIENT_KEY_MAX 64		/* bytes of key material at most */
#define MFS_CLIENT_NAME_MAX 32		/* the name given to mfs_client_open() */
#define MFS_CLIENT_AHEAD_MAX 16		/* outbound keys held ahead of need */
#define MFS_CLIENT_TIMEOUT_MS 10000	/* wait for a reply (open, get, subscribe) */

enum mfs_client_direction {
	MFS_CLIENT_OUTBOUND = 0,	/* this node sends with it */
	MFS_CLIENT_INBOUND = 1,		/* the peer sends with it; this node receives */
};

/* One key, owned by the caller: wipe it with mfs_client_key_wipe() when done. */
struct mfs_client_key {
	uint8_t id[MFS_CLIENT_KEY_ID_LEN];
	enum mfs_client_direction direction;
	int64_t not_before;	/* Unix seconds: not used before this (sender side) */
	int64_t soft_expiry;	/* switch to a newer key after this */
	int64_t hard_expiry;	/* never used at or after this */
	size_t key_len;		/* 16..MFS_CLIENT_KEY_MAX; 32 today */
	uint8_t key[MFS_CLIENT_KEY_MAX];
};

/* Why the daemon asks to stop sending with a key (MFS_CLIENT_EV_RETIRE). */
enum mfs_client_retire_reason {
	MFS_CLIENT_RETIRE_VOLUME = 1,		/* reported usage reached the class's rekey_volume */
	MFS_CLIENT_RETIRE_SOFT_EXPIRY = 2,	/* past soft expiry: switch to the next key */
	MFS_CLIENT_RETIRE_HARD_EXPIRY = 3,	/* past hard expiry: must not be used at all */
	MFS_CLIENT_RETIRE_WITHDRAWN = 4,	/* derived with a revoked method: drop it now
						   (an unused outbound key is replaced) */
};

enum mfs_client_event_type {
	MFS_CLIENT_EV_KEY = 1,		/* ev.key: a new key for the subscription */
	MFS_CLIENT_EV_RETIRE = 2,	/* ev.id, ev.reason: stop sending with key ev.id */
	MFS_CLIENT_EV_PEER_INSTALLED = 3,	/* ev.id: the peer's decryptor installed
						   outbound key ev.id: safe to switch to it */
};

struct mfs_client_event {
	enum mfs_client_event_type type;
	struct mfs_client_key key;		/* MFS_CLIENT_EV_KEY: wipe when done */
	uint8_t id[MFS_CLIENT_KEY_ID_LEN];	/* RETIRE, PEER_INSTALLED (and KEY: = key.id) */
	unsigned reason;			/* RETIRE: enum mfs_client_retire_reason */
};

struct mfs_client;	/* opaque: one connection to mfsd */

/*
 * Connect to mfsd's push socket at path (NULL: MFS_CLIENT_DEFAULT_SOCKET)
 * and agree on the protocol version. name (1..MFS_CLIENT_NAME_MAX printable
 * ASCII, no blanks; NULL: "client") is recorded with every key delivered on
 * this connection ("push:UID:NAME" in the key store) and shown by
 * `mfsctl status`. On success *ret is a new handle (free it with
 * mfs_client_close()). Errors: -ENOENT/-ECONNREFUSED (no daemon), -EACCES
 * (the socket's mode refuses this user), -EPROTONOSUPPORT, -ETIMEDOUT.
 */
MFS_CLIENT_API int mfs_client_open(const char *path, const char *name, struct mfs_client **ret);

/* Close the connection and free the handle; NULL-safe. Keys pushed but not
 * yet read with mfs_client_next() are wiped (they stay delivered: lost). */
MFS_CLIENT_API void mfs_client_close(struct mfs_client *c);

/* The socket, for poll()/epoll (readable: call mfs_client_next(c, 0, ...)
 * until it returns 0, since several messages may be buffered). */
MFS_CLIENT_API int mfs_client_fd(const struct mfs_client *c);

/* The daemon's text of the last error reply ("" when none). Never key bytes. */
MFS_CLIENT_API const char *mfs_client_error(const struct mfs_client *c);

/*
 * Take the next outbound key of (peer, class_name) from the pool: the pull
 * pattern of the sending side. The daemon records it as delivered before it
 * replies. The receiving side gets the same key with
 * mfs_client_get_key_by_id() on its own mfsd (the caller carries the ID,
 * e.g. next to the ciphertext). Keys taken here are not announced to the
 * peer's push subscribers. Blocks up to MFS_CLIENT_TIMEOUT_MS.
 */
MFS_CLIENT_API int mfs_client_get_key(struct mfs_client *c, const char *peer,
				      const char *class_name, struct mfs_client_key *ret);

/*
 * Fetch inbound key id of (peer, class_name): the key the peer's side took
 * for sending. Once only: a second fetch of the same ID is -EALREADY.
 */
MFS_CLIENT_API int mfs_client_get_key_by_id(struct mfs_client *c, const char *peer,
					    const char *class_name,
					    const uint8_t id[MFS_CLIENT_KEY_ID_LEN],
					    struct mfs_client_key *ret);

/*
 * Turn this connection into a subscription for (peer, class_name, dir).
 * OUTBOUND: the daemon pushes `ahead` keys (1..MFS_CLIENT_AHEAD_MAX) at
 * once and then keeps `ahead` keys that have not been reported in use
 * pushed (one more after each mfs_client_in_use() of a new key), announces
 * each to the peer mfsd, and forwards the peer decryptor's installation as
 * MFS_CLIENT_EV_PEER_INSTALLED. INBOUND: the daemon pushes each key the
 * peer's outbound subscriber was given, as soon as the peer announces it
 * (`ahead` is ignored but must be in range). At most one subscription per
 * (peer, class, direction) at a time: a second one is -EBUSY.
 * Returns 0 once the daemon accepted it.
 */
MFS_CLIENT_API int mfs_client_subscribe(struct mfs_client *c, const char *peer,
					const char *class_name, enum mfs_client_direction dir,
					unsigned ahead);

/*
 * The next event of a subscription into *ev. timeout_ms: -1 waits for
 * ever, 0 only takes what has arrived. Returns 1 (an event), 0 (none within
 * the timeout), or a negative errno (the connection is then unusable;
 * -ECONNRESET when the daemon closed it, with mfs_client_error() set when
 * it said why).
 */
MFS_CLIENT_API int mfs_client_next(struct mfs_client *c, int timeout_ms,
				   struct mfs_client_event *ev);

/* The key id is installed in the data plane (an acknowledgement: mfsctl
 * status shows it as "installed"; for INBOUND it tells the sender). */
MFS_CLIENT_API int mfs_client_ack(struct mfs_client *c, const uint8_t id[MFS_CLIENT_KEY_ID_LEN]);

/* The first packet was sent (OUTBOUND) or received (INBOUND) with key id:
 * "installed" is not "in use"; this is the switch-over the daemon shows. */
MFS_CLIENT_API int mfs_client_in_use(struct mfs_client *c,
				     const uint8_t id[MFS_CLIENT_KEY_ID_LEN]);

/*
 * Usage of key id so far: total bytes and packets protected with it (totals,
 * not increments; a smaller value than reported before is a protocol error).
 * Report at least every few seconds while a key is in use; usage feeds the
 * class's volume-based rekey (MFS_CLIENT_RETIRE_VOLUME).
 */
MFS_CLIENT_API int mfs_client_usage(struct mfs_client *c, const uint8_t id[MFS_CLIENT_KEY_ID_LEN],
				    uint64_t bytes, uint64_t packets);

/* Wipe a key (explicit_bzero of the whole struct). NULL-safe. */
MFS_CLIENT_API void mfs_client_key_wipe(struct mfs_client_key *k);

/* Key ID as canonical lower-case UUID text: out[MFS_CLIENT_KEY_ID_STR_LEN + 1]. */
MFS_CLIENT_API void mfs_client_key_id_format(const uint8_t id[MFS_CLIENT_KEY_ID_LEN],
					     char out[MFS_CLIENT_KEY_ID_STR_LEN + 1]);
/* Parse canonical UUID text (either case); -EINVAL when it is not one. */
MFS_CLIENT_API int mfs_client_key_id_parse(const char *s, uint8_t id[MFS_CLIENT_KEY_ID_LEN]);

#ifdef __cplusplus
}
#endif

#endif
