/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MFS Control Function engine: key pools per (peer, class, direction),
 * exchanges over the peer links, rekey, revocation. No sockets, no TLS, no
 * clock: the daemon moves bytes and passes the time in (docs/mfsd.md).
 *
 *   cf_new()                     once, with the node's configuration and store
 *   cf_link_up(peer, exporter)   a TLS channel to the peer is established
 *   cf_link_input(peer, bytes)   bytes read from it (any split); or, to
 *                                store a whole event-loop turn at once,
 *                                cf_link_feed() per read, then cf_link_commit()
 *   cf_link_output(peer)         bytes to write to it (then cf_link_consume)
 *   cf_link_down(peer)           the channel is gone
 *   cf_tick(now)                 start exchanges that are due; returns the
 *                                next time it wants to be called
 *
 * Link framing (inside TLS): every message is an envelope
 *
 *   u8 kind ‖ u32 xid ‖ body
 *
 * kind 1 PROTO: body is one peer-protocol frame (msg.h, cut with
 * msg_frame_len()); kind 2 COMMIT (no body): the responder stored the keys
 * of exchange xid, the initiator may now store and use its copy (the "last
 * message" rule, docs/protocol.md §6); kind 3 WANT: body vec8 class name, the
 * non-elected side asks for an exchange (its pool is low, or an admin asked);
 * kind 4 RESTORE: body u16 method, the sender lifts a revocation it sent
 * earlier with REVOKE; kind 5 PING (no body): the sender is alive (the
 * daemon sends one every few seconds and drops a link on which nothing
 * arrived for longer; the receiver ignores it); kind 6 HELD: body vec8 class
 * name ‖ u64 since ‖ u16 n ‖ n × 16-byte exchange ids, sent by the elected
 * initiator of the class on link-up: the exchanges of the class it still holds
 * (live keys), newest first, at most CF_HELD_MAX; since is 0 when the list is
 * complete, else the creation time of its oldest entry. The responder
 * withdraws the pool keys of every exchange of that class it stored as
 * responder before the link came up that the list lacks (created after since
 * when since is not 0): their COMMIT was lost. xid names an exchange: bit
 * 31 is set when the sender of the envelope initiated it, so both sides can
 * number their own exchanges independently; xid 0 carries link messages
 * (REVOKE, REVOKE_ACK, WANT, RESTORE, PING, HELD, TAKEN, INSTALLED, QKD_IDS,
 * QKD_READY, ROTATE, ROTATE_ACK).
 *
 * Static key rotation (rotate.c, docs/mfsd.md "Static key rotation"): kind 11
 * ROTATE: body u16 method ‖ 32-byte old key id ‖ 32-byte new key id ‖ u32
 * total ‖ u32 offset ‖ u16 n ‖ n bytes: one chunk (n ≤ CF_ROT_CHUNK) of the
 * sender's new static public key of that method (total bytes, exactly the
 * method's public key size), sent in order from offset 0; the ids are
 * SHA3-256 of the old and the new public key. The receiver re-pins when the
 * last chunk has arrived, the key hashes to the new id and the old id is its
 * current pin of the sender; it answers kind 12 ROTATE_ACK: body u16 method ‖
 * 32-byte new key id ‖ u8 status (enum cf_rot_status). The TLS channel is
 * mutually authenticated with pinned certificates, so the announcement is
 * the peer's; the old id binds it to the key it replaces.
 *
 * QKD key-ID sharing (qkd014, docs/qkd014.md): kind 9 QKD_IDS: body vec8
 * KME ID ‖ vec8 master SAE ID ‖ u16 n ‖ n × 16-byte key IDs (1 <= n <=
 * CF_QKD_IDS_MAX), sent by a master after enc_keys: the slave fetches them
 * with dec_keys; kind 10 QKD_READY: body u16 n ‖ n × 16-byte key IDs, the
 * slave's answer naming the IDs it now holds. A master uses a key in an
 * exchange only after its QKD_READY, so the synchronous exchange never
 * waits for a KME.
 */
#ifndef MFS_CF_CF_H
#define MFS_CF_CF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf/keyring.h"
#include "kex/kex.h"
#include "proto/policy.h"
#include "proto/tls.h"
#include "store/store.h"

#define CF_MAX_PEERS 16
#define CF_MAX_CLASSES 8
#define CF_MAX_STATIC 4		/* per peer: 2 sets, each with a previous pin in a grace period */
#define CF_MAX_REVOKED 16
#define CF_MAX_RESPONDER 16		/* concurrent peer-initiated exchanges per link */
#define CF_MAX_PENDING (CF_MAX_RESPONDER + CF_MAX_CLASSES)	/* finished, not yet stored */
#define CF_REASON_MAX 160
#define CF_TEXT_MAX 128		/* = MSG_TEXT_MAX: revocation reasons */
#define CF_FRAME_MAX (7 + 32768)	/* = MSG_FRAME_MAX */
#define CF_NAME_MAX 64
#define CF_INBUF_MAX (2 * (5 + CF_FRAME_MAX))
#define CF_XCHG_TIMEOUT_S 30		/* an exchange that takes longer is dropped */
#define CF_RETRY_MIN_S 1		/* backoff after a failed exchange: 1, 2, 4 … 60 s */
#define CF_RETRY_MAX_S 60

enum cf_env_kind {
	CF_ENV_PROTO = 1,
	CF_ENV_COMMIT = 2,
	CF_ENV_WANT = 3,
	CF_ENV_RESTORE = 4,
	CF_ENV_PING = 5,
	CF_ENV_HELD = 6,
	CF_ENV_TAKEN = 7,	/* vec8 class ‖ u8 n ‖ n × key id: the sender's push subscriber
				   was given these outbound keys (docs/push.md) */
	CF_ENV_INSTALLED = 8,	/* vec8 class ‖ key id: the receiver's subscriber installed it */
	CF_ENV_QKD_IDS = 9,		/* QKD key-ID sharing (docs/qkd014.md) */
	CF_ENV_QKD_READY = 10,
	CF_ENV_ROTATE = 11,	/* static key rotation (cf/rotate.c) */
	CF_ENV_ROTATE_ACK = 12,
};
#define CF_ROT_CHUNK 16384		/* public key bytes per ROTATE envelope */
#define CF_ROT_HDR_LEN (2 + 32 + 32 + 4 + 4 + 2)
#define CF_ROT_ACK_LEN (2 + 32 + 1)
#define CF_ROT_RETRY_S 60		/* after a failed key generation */

enum cf_rot_status {
	CF_ROT_PINNED = 0,		/* the new key is pinned (now, or already) */
	CF_ROT_REFUSED = 1,		/* the old id is not the pin, the key does not hash to the id, … */
	CF_ROT_UNUSED = 2,		/* this side pins no key of that method for the sender */
};
#define CF_QKD_IDS_MAX 64		/* key IDs in one QKD_IDS / QKD_READY */
#define CF_QKD_ID_LEN 16		/* = KEX_QKD_KEY_ID_LEN */
#define CF_QKD_WAIT_S 10		/* a due exchange waits this long for a ready QKD key */
#define CF_ENV_HDR_LEN 5
#define CF_XID_SENDER 0x80000000U
#define CF_HELD_MAX 256			/* exchange ids in one HELD (newest first) */
#define CF_HELD_ID_LEN 16		/* = HS_KEY_ID_LEN: an exchange id */
#define CF_TAKEN_MAX 64			/* key ids in one TAKEN */
#define CF_KEY_ID_LEN 16		/* = STORE_KEY_ID_LEN */
#define CF_SUB_CLIENT_MAX 32

/* Configuration of one class (copied). */
struct cf_class_cfg {
	struct class_policy policy;
	char psk_id[KEX_PSK_ID_MAX + 1];	/* "" when the class has no psk */
};

/* Configuration of one peer (copied; static_keys are borrowed). */
struct cf_peer_cfg {
	char name[CF_NAME_MAX + 1];		/* also the peer's node id */
	struct cf_class_cfg classes[CF_MAX_CLASSES];
	size_t n_classes;
	const struct hs_static_key *static_keys;
	size_t n_static_keys;
};

struct cf_peer;

/* This node's view of its own KME (never the peer's word). */
enum cf_qkd_state {
	CF_QKD_NONE = 0,	/* no KME configured for this peer */
	CF_QKD_OK,		/* the KME answers and reports no alarm */
	CF_QKD_OUTAGE,		/* the KME fails, or reports an alarm on the key's path */
};

/*
 * The daemon's ETSI 014 client, as the engine sees it (all calls are
 * synchronous and never wait for the network: the client works ahead).
 *   state:   the local KME for peer p; on CF_QKD_OUTAGE *since and why[]
 *            say since when and why (why: no key material).
 *   ready:   master side: keys fetched with enc_keys that the peer has
 *            acknowledged (QKD_READY), i.e. what take() can hand out now.
 *   take:    master side: one such key, never the same twice (-EAGAIN none).
 *   lookup:  slave side: the key fetched with dec_keys for ref, at most once
 *            (-ENOKEY unknown, -EALREADY used).
 *   offered: the peer (as master) shared key IDs (QKD_IDS): fetch them.
 *   fetched: the peer (as slave) holds these IDs now (QKD_READY).
 */
struct cf_qkd_ops {
	enum cf_qkd_state (*state)(void *arg, const struct cf_peer *p, int64_t *since,
				   char *why, size_t why_size);
	size_t (*ready)(void *arg, const struct cf_peer *p);
	int (*take)(void *arg, struct cf_peer *p, struct kex_qkd_ref *ret_ref, struct secret **ret);
	int (*lookup)(void *arg, struct cf_peer *p, const struct kex_qkd_ref *ref,
		      struct secret **ret);
	void (*offered)(void *arg, struct cf_peer *p, const char *kme_id, const char *master_sae,
			const uint8_t (*ids)[CF_QKD_ID_LEN], size_t n);
	void (*fetched)(void *arg, struct cf_peer *p, const uint8_t (*ids)[CF_QKD_ID_LEN], size_t n);
};

/*
 * Static McEliece keys when the engine manages their rotation: this node's
 * pairs and each peer's pins (by peer index, the order of cf_config.peers),
 * as keyring.h loaded them. cf_new() takes ownership (also on failure).
 */
struct cf_keys {
	char dir[PATH_MAX];			/* keyring directory (state_dir/static) */
	uint32_t rotate_s;			/* rotate own keys this often; 0 = never by itself */
	uint32_t grace_s;			/* keep a previous key this long */
	struct keyring_slot own[KEYRING_SETS];
	struct keyring_slot pin[CF_MAX_PEERS][KEYRING_SETS];
	/* run time */
	bool requested[KEYRING_SETS];		/* mfsctl rotate-static */
	bool busy[KEYRING_SETS];		/* the daemon generates a key */
	int64_t retry_at[KEYRING_SETS];
	struct keyring_key *grave[16];		/* replaced keys, freed once no exchange uses them */
};

/* Frees k and every key it holds (NULL: nothing); for keys no engine has taken. */
void cf_keys_free(struct cf_keys *k);

/* Counters shown by mfsctl status (this run). The daemon fills the reload ones. */
struct cf_stats {
	uint64_t rotations;			/* own static keys replaced */
	uint64_t rotation_failures;		/* key generation or commit failed */
	uint64_t repins;			/* peers' keys re-pinned */
	uint64_t static_destroyed;		/* own previous keys destroyed after the grace */
	uint64_t reloads, reload_failures;
	int64_t last_reload;			/* 0 = none */
	char reload_error[2 * CF_REASON_MAX];	/* "" when the last reload worked */
};

struct cf_config {
	char node_id[CF_NAME_MAX + 1];
	const struct cf_qkd_ops *qkd;		/* borrowed; NULL: no QKD on this node */
	void *qkd_arg;
	const char *psk_dir;			/* copied by cf_new() (exchanges in flight use it) */
	const char *revoked_path;		/* borrowed: the persisted revocations */
	struct cf_peer_cfg peers[CF_MAX_PEERS];
	size_t n_peers;
	int64_t now;				/* start time */
	struct cf_keys *keys;			/* NULL: peers' static_keys as given, no rotation */
};

struct cf_xchg;
struct hs_static_key;	/* proto/handshake.h */

/*
 * What the push layer (src/push/) reports of the subscription of one
 * direction of a class, for mfsctl status: kept here so that the admin API
 * shows it without depending on that layer. Written only by src/push/.
 */
struct cf_sub_info {
	bool active;
	char client[CF_SUB_CLIENT_MAX + 1];	/* the name from HELLO */
	uint32_t uid, pid;
	int64_t since;
	uint64_t delivered;			/* keys pushed on this subscription */
	bool has_installed, has_in_use, has_peer_installed;
	uint8_t installed[CF_KEY_ID_LEN];	/* newest acknowledged (INSTALLED) */
	uint8_t in_use[CF_KEY_ID_LEN];		/* newest reported IN_USE */
	uint8_t peer_installed[CF_KEY_ID_LEN];	/* newest the peer's subscriber installed */
	int64_t in_use_since;
	uint64_t bytes, packets;		/* usage of the in-use key */
};

struct cf_class {
	struct cf_class_cfg cfg;
	bool initiator;				/* elected (proto_is_initiator) */
	struct cf_xchg *x;			/* my running exchange, if initiator */
	bool want;				/* an exchange was asked for */
	bool refilling;				/* below low: refill up to high */
	int64_t last_rekey;			/* 0 = never (this run) */
	int64_t rekey_base;			/* start time: the first interval counts from it */
	uint32_t rekey_jitter_s;		/* drawn per interval: rekey comes this much early */
	int64_t retry_at;			/* no new exchange before this */
	unsigned failures;			/* in a row */
	int64_t want_sent;			/* responder side: last WANT sent */
	int64_t depth_checked;			/* last tick that read the pool depths */
	/* last negotiated suite */
	uint16_t suite[POLICY_MAX_METHODS];
	size_t n_suite;
	int64_t last_duration_ms;
	char last_error[CF_REASON_MAX];		/* "" when the last exchange worked */
	bool policy_unmet;			/* the class cannot run without a revoked method */
	uint64_t exchanges;			/* successful, this run */
	bool had_keys;				/* outbound pool non-empty at the last tick */
	bool resp_stored;			/* responder: stored an exchange on this link */
	uint64_t orphans_withdrawn;		/* responder: exchanges withdrawn on HELD, this run */
	/*
	 * QKD listed as optional and left out because this node's KME is in
	 * outage (the reduced factor set, also in the transcript's offer and
	 * suite); qkd_why says why. Cleared by the first exchange with QKD.
	 */
	bool qkd_reduced;
	int64_t qkd_reduced_since;
	char qkd_why[CF_REASON_MAX];
	int64_t qkd_wait_since;			/* initiator: due, waiting for a ready QKD key */
	struct cf_sub_info subs[2];		/* push subscription per direction (status) */
	uint64_t volume_rekeys;			/* rekeys asked by reported usage, this run */
};

struct cf_peer {
	struct cf *cf;
	struct cf_peer_cfg cfg;
	struct class_policy policies[CF_MAX_CLASSES];	/* contiguous, for the responder */
	struct cf_class classes[CF_MAX_CLASSES];
	bool up;
	int64_t up_since, down_since;		/* down_since: 0 = never connected */
	uint8_t exporter[TLS_EXPORTER_LEN];
	struct cf_xchg *resp[CF_MAX_RESPONDER];	/* peer-initiated exchanges */
	/*
	 * Exchanges finished during one cf_link_input() call (responder: CONFIRM
	 * verified; initiator: COMMIT received), stored together in one
	 * transaction (one fsync) when the call ends; the responder's COMMITs
	 * are sent after it (group commit, docs/mfsd.md).
	 */
	struct cf_xchg *pending[CF_MAX_PENDING];
	size_t n_pending;
	struct cf_batch *batch;			/* being stored (cf_link_commit_begin) */
	uint32_t next_xid;
	uint8_t *in;				/* CF_INBUF_MAX */
	size_t in_len;
	uint8_t *out;				/* grows */
	size_t out_len, out_cap;
	char last_error[CF_REASON_MAX];
	/* static keys of exchanges started now (each exchange keeps a copy) */
	struct hs_static_key skeys[CF_MAX_STATIC];
	size_t n_skeys;
	struct cf_rot_peer {			/* rotation state per McEliece set */
		bool acked, refused;		/* the peer answered our announcement */
		bool announced;			/* queued whole on this link */
		int64_t acked_at;
		uint8_t *buf;			/* the peer's announcement being received */
		size_t len, total;
		bool skip;			/* already pinned: chunks are only counted */
		uint8_t old_id[KEYRING_ID_LEN], new_id[KEYRING_ID_LEN];
	} rot[KEYRING_SETS];
};

struct cf_revoked {
	uint16_t method;
	char origin[CF_NAME_MAX + 8];		/* "local" or "peer:NAME" */
	char reason[CF_TEXT_MAX + 1];
	int64_t at;
};

/*
 * Callbacks for the push layer: the link envelopes TAKEN and INSTALLED,
 * called from cf_link_input() with the envelope's class and ids (pointers
 * valid during the call), and revocations. They must not call
 * cf_link_input().
 */
struct cf_hooks {
	void *arg;
	void (*taken)(void *arg, struct cf_peer *p, struct cf_class *c, const uint8_t *ids,
		      size_t n, int64_t now);
	void (*installed)(void *arg, struct cf_peer *p, struct cf_class *c, const uint8_t *id,
			  int64_t now);
	/* a method was revoked (here or by a peer), after its pool keys were withdrawn */
	void (*revoked)(void *arg, uint16_t method, int64_t now);
};

struct cf {
	struct cf_config cfg;
	struct cf_hooks hooks;
	size_t (*revoke_listener)(void *arg, uint16_t method);	/* cf_set_revoke_listener() */
	void *revoke_listener_arg;
	struct store *st;			/* borrowed */
	struct cf_peer peers[CF_MAX_PEERS];
	size_t n_peers;
	struct cf_revoked revoked[CF_MAX_REVOKED];
	size_t n_revoked;
	int64_t expired_at;			/* last store_expire() (cf_tick) */
	struct cf_keys *keys;			/* owned; NULL without rotation */
	struct cf_stats stats;
	char psk_dir[PATH_MAX];			/* cfg.psk_dir points here */
};

/*
 * Set up the engine from cfg (copied; the borrowed pointers must outlive
 * it), load the persisted revocations, elect the initiator of every class.
 * Returns 0, -EINVAL, -ENOMEM, or the error reading the revocation file.
 */
int cf_new(const struct cf_config *cfg, struct store *st, struct cf **ret);
void cf_free(struct cf *cf);

struct cf_peer *cf_peer_by_name(struct cf *cf, const char *name);
struct cf_class *cf_class_by_name(struct cf_peer *p, const char *name);

/* The TLS channel is up; exporter: its TLS_EXPORTER_LEN-byte exporter value. */
void cf_link_up(struct cf_peer *p, const uint8_t *exporter, size_t exporter_len, int64_t now);
/* The channel is gone: running exchanges are dropped, unconfirmed keys discarded. */
void cf_link_down(struct cf_peer *p, const char *why, int64_t now);
/*
 * Bytes read from the channel. A negative errno: close the channel
 * (p->last_error says why). The exchanges that finish in the call
 * (responder: the initiator's CONFIRM verified; initiator: COMMIT received)
 * are stored together in one store_put() transaction (one fsync) at its
 * end, and only then does the responder's COMMIT go out (group commit).
 */
int cf_link_input(struct cf_peer *p, const uint8_t *data, size_t len, int64_t now);
/*
 * cf_link_input() without the store step: the finished exchanges wait
 * (keys in memory, no COMMIT sent) until cf_link_commit(). It also stops
 * early: right after an envelope whose handling produced output it returns
 * 1, with the rest of the input kept; write cf_link_output() and call
 * cf_link_feed(p, NULL, 0, now) again until it returns 0 (everything
 * handled). So a daemon writes each answer as soon as it exists, and the
 * peer works on it while this side handles the next envelope; then, at the
 * end of the event-loop turn, one cf_link_commit() stores whatever finished
 * in the turn with one fsync. Returns 0, 1, or a negative errno as
 * cf_link_input() (the waiting exchanges are then stored or dropped at
 * once).
 */
int cf_link_feed(struct cf_peer *p, const uint8_t *data, size_t len, int64_t now);
void cf_link_commit(struct cf_peer *p, int64_t now);

/*
 * The group commit, asynchronous: the store's fsync need not hold up the
 * event loop. cf_link_commit_begin() moves the exchanges waiting for the
 * commit into a batch and returns it (NULL when nothing waits, or while an
 * earlier batch of the link is out: they wait for the next one). The caller
 * runs store_put(st, b->in, b->n, now) anywhere, typically on a writer
 * thread with its own store handle (commit.h), sets b->result to its
 * return value, and hands the batch back with cf_link_commit_end() on the
 * engine's thread: only then are the responder's COMMITs sent and the
 * initiator's keys counted as stored. Until then the batch's exchanges are
 * frozen (no timeout, cf_link_down() leaves them to the batch). End every
 * batch before cf_free(). The exchanges that finish meanwhile gather for
 * the next batch, so the batches grow with the fsync's latency.
 */
struct cf_xchg;
struct cf_batch {
	struct store_pool_in in[CF_MAX_PENDING];
	size_t n;
	int result;				/* store_put()'s, set by the caller */
	struct cf_peer *peer;			/* the engine's */
	struct cf_xchg *x[CF_MAX_PENDING];
	struct cf_batch *next;			/* free for the caller's queues */
	int64_t now;				/* free for the caller: the put's time */
};
struct cf_batch *cf_link_commit_begin(struct cf_peer *p, int64_t now);
void cf_link_commit_end(struct cf_batch *b, int64_t now);
/* Pending output: *ret points at it (valid until the next call into cf). */
size_t cf_link_output(struct cf_peer *p, const uint8_t **ret);
void cf_link_consume(struct cf_peer *p, size_t n);
/* Queue a PING envelope (liveness of the link; -ENOTCONN when the link is down). */
int cf_link_ping(struct cf_peer *p);

/* Set the push layer's callbacks (copied); NULL clears them. */
void cf_set_hooks(struct cf *cf, const struct cf_hooks *h);
/*
 * fn(arg, method) runs first when a method is revoked (here or by a peer),
 * before its pool keys are withdrawn: the key supply drops the keys it holds
 * ready for delivery (returns how many; the audit record says it). NULL
 * removes it. Called on the cf's thread.
 */
void cf_set_revoke_listener(struct cf *cf, size_t (*fn)(void *arg, uint16_t method), void *arg);
/*
 * Queue a TAKEN envelope: n (1..CF_TAKEN_MAX) key ids (CF_KEY_ID_LEN bytes
 * each, contiguous) of class c were given to a push subscriber. -ENOTCONN
 * when the link is down (the push layer announces again on link-up).
 */
int cf_send_taken(struct cf_peer *p, const struct cf_class *c, const uint8_t *ids, size_t n);
/* Queue an INSTALLED envelope for key id of class c; -ENOTCONN when down. */
int cf_send_installed(struct cf_peer *p, const struct cf_class *c, const uint8_t *id);

/* Start what is due. Returns the next time (seconds) cf_tick() should run. */
int64_t cf_tick(struct cf *cf, int64_t now);

/* Keys in the pool (pre-active + active) of one direction. */
int cf_pool_depth(struct cf *cf, const struct cf_peer *p, const struct cf_class *c,
		  enum store_direction dir, size_t *ret);

/* Ask for an exchange of one class (class NULL: every class). -ENOENT unknown class. */
int cf_rekey(struct cf_peer *p, const char *class_name, int64_t now);

/*
 * Revoke a method (origin "local"): persist, withdraw its keys, audit, tell
 * every peer, re-exchange every affected class. *ret_withdrawn: keys
 * withdrawn. -EALREADY when it is already revoked.
 */
int cf_revoke(struct cf *cf, uint16_t method, const char *who, const char *reason, int64_t now,
	      size_t *ret_withdrawn);
/* Lift a local revocation (audited, peers told). -ENOENT when not revoked. */
int cf_restore(struct cf *cf, uint16_t method, const char *who, int64_t now);
const struct cf_revoked *cf_revoked_find(const struct cf *cf, uint16_t method);

/*
 * Why a class is degraded (nothing when it is not): up to n reasons into
 * out[], each a short text. Returns the count. *ret_fail_closed: the class
 * cannot supply keys now (pool empty or policy unmet).
 */
size_t cf_class_degraded(struct cf *cf, struct cf_peer *p, struct cf_class *c, int64_t now,
			 char out[][CF_REASON_MAX], size_t n, bool *ret_fail_closed);

/*
 * QKD key-ID sharing: queue QKD_IDS (master, after enc_keys: kme_id and
 * master_sae are printable ASCII 1..KEX_QKD_ID_MAX) or QKD_READY (slave, after
 * dec_keys). 1 <= n <= CF_QKD_IDS_MAX. -ENOTCONN when the link is down.
 */
int cf_qkd_share(struct cf_peer *p, const char *kme_id, const char *master_sae,
		 const uint8_t (*ids)[CF_QKD_ID_LEN], size_t n);
int cf_qkd_ack(struct cf_peer *p, const uint8_t (*ids)[CF_QKD_ID_LEN], size_t n);
/* Attach the daemon's KME client after cf_new() (ops borrowed; NULL: none). */
void cf_set_qkd(struct cf *cf, const struct cf_qkd_ops *ops, void *arg);
/*
 * This node's view of its KME for peer p (CF_QKD_NONE without a client or
 * for a peer without QKD); on outage *since and why[] say since when and
 * why. *ready (optional): keys the master side can use now.
 */
enum cf_qkd_state cf_peer_qkd(const struct cf_peer *p, int64_t *since, char *why, size_t why_size,
			      size_t *ready);
/* Whether a class lists qkd014 (required or optional). */
bool cf_class_uses_qkd(const struct cf_class *c);

/* Next rekey time of a class (0 when unknown). */
int64_t cf_class_next_rekey(const struct cf_peer *p, const struct cf_class *c);

/*
 * Apply a reloaded configuration (mfsd on SIGHUP; reconf.c). cfg is complete,
 * as for cf_new(), with the same node id; cfg->keys (taken, may be NULL) are
 * the static keys loaded for it: the pins of new peers and of the peers
 * whose repin[i] is set (their pinned key file changed) are taken from it,
 * every other pin and the own keys stay as they run (possibly rotated);
 * the rotation interval and grace come from it. Peers are matched by name
 * and keep their slot, link, pools, exchanges and rotation state; a peer no
 * longer configured leaves an empty slot (name "", no classes; drop its
 * link first); a new peer takes an empty slot or a new one. ret_slot[i]
 * (may be NULL): the slot of cfg->peers[i] in cf->peers. Classes are matched
 * by name: a kept class takes the new policy and PSK id (an exchange in
 * flight finishes under the policy it started with), a new class starts
 * now, a removed class is dropped (with its exchange in flight; its keys
 * stay in the store until they expire). Returns 0, -EINVAL (another node
 * id, too many peers), -ENOMEM (then nothing changed, or a new peer was
 * added without classes).
 */
int cf_reconfigure(struct cf *cf, const struct cf_config *cfg, const bool *repin, int64_t now,
		   size_t *ret_slot);

/* Exchanges withdrawn by HELD reconciliation, summed over every class (this run). */
uint64_t cf_orphans_withdrawn(const struct cf *cf);

/*
 * Static key rotation (rotate.c). The engine decides when; the daemon runs
 * the slow key generation (keyring_generate()) on a worker thread:
 *
 *   cf_rot_due(now, &method)      a rotation of method should start now
 *   cf_rot_started(method)        the daemon started its key generation
 *   cf_rot_install(key, now)      done: commit, announce to every peer
 *   cf_rot_failed(method, err)    failed: retried after CF_ROT_RETRY_S
 *
 * cf_rot_install() takes ownership of key (on failure too: its files are
 * destroyed). -EBUSY: a rotation of that method is still in its grace period.
 */
bool cf_rot_due(struct cf *cf, int64_t now, uint16_t *ret_method);
void cf_rot_started(struct cf *cf, uint16_t method);
int cf_rot_install(struct cf *cf, struct keyring_key *key, int64_t now);
void cf_rot_failed(struct cf *cf, uint16_t method, int err, int64_t now);
/* Ask for a rotation now (method 0: every own set). -ENOENT no such key, -EBUSY in progress. */
int cf_rot_request(struct cf *cf, uint16_t method);
/* Next automatic rotation of an own set (0: none). */
int64_t cf_rot_next(const struct cf *cf, int set);
/* True when every peer that pins set s acknowledged its current key. */
bool cf_rot_all_acked(const struct cf *cf, int set);

#endif
