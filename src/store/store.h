/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key store: durable pools of multi-factor keys per (peer, class, direction).
 *
 * An embedded SQLite database (WAL, synchronous=FULL, secure_delete=ON,
 * foreign keys) holds every key sealed with AES-256-GCM under a key derived
 * from a local key-encryption key (KEK), with the key ID and the key's
 * immutable metadata as associated data. See docs/store.md for the schema,
 * the sealing format and the durability argument.
 *
 * Life of a key (NIST SP 800-57 Part 1 §5.3 states):
 *
 *   put ──> PRE_ACTIVE ──(not_before)──> ACTIVE ──take/get_by_id──> DELIVERED
 *              │                           │                           │
 *              ├── withdraw_method ────────┴──> WITHDRAWN (wiped)       │
 *              └── expire (hard expiry) ─────> EXPIRED ──> DESTROYED <──┘
 *
 * A key is handed out at most once: take/get_by_id mark it DELIVERED (and
 * clear its sealed blob) in a transaction that is committed with fsync
 * before the key is unsealed and returned. A crash at any point can lose a
 * key (marked delivered, never returned), never hand one out twice.
 *
 * Times are seconds since the Unix epoch, passed in by the caller (now).
 *
 * Threads: a struct store is used by one thread at a time. Several handles
 * (threads or processes) may share one database file; writers are
 * serialized by SQLite (BEGIN IMMEDIATE, busy timeout STORE_BUSY_TIMEOUT_MS).
 * Callbacks (store_list, store_method_usage, store_audit_list) run while a
 * statement of the handle is active: they must not call into the same handle.
 *
 * Errors are negative errno values: -EINVAL bad argument, -ENOKEY no such or
 * no usable key, -EALREADY already delivered, -EKEYEXPIRED past hard expiry
 * or destroyed, -EKEYREVOKED withdrawn, -EKEYREJECTED wrong KEK or a blob
 * that does not authenticate, -EEXIST duplicate key or exchange ID,
 * -ENOSPC disk (or size limit) full, -EBUSY locked past the busy timeout,
 * -EPERM a file mode looser than 0600, -EOPNOTSUPP a newer schema,
 * -EMEDIUMTYPE an older schema (version 1 kept one sealed row per key; its
 * keys cannot be served by this version: move the file away), -EIO and
 * -ENOMEM otherwise. A failed call leaves the database unchanged and writes
 * no ret_* output.
 */
#ifndef MFS_STORE_STORE_H
#define MFS_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/secret.h"
#include "proto/policy.h"
#include "proto/pool.h"

#define STORE_KEK_LEN 32		/* bytes in the KEK file */
#define STORE_KEY_ID_LEN 16		/* a UUID, binary (RFC 9562) */
#define STORE_KEY_ID_STR_LEN 36		/* canonical text, without the NUL */
#define STORE_KEY_MIN_LEN 16
#define STORE_KEY_MAX_LEN 64		/* e.g. 32-byte AES key + 4-byte ESP salt fits */
#define STORE_EXCHANGE_ID_MAX 32	/* opaque exchange identifier, 1..32 bytes */
#define STORE_METHODS_MAX POLICY_MAX_METHODS
#define STORE_PEER_MAX 64		/* printable ASCII, 1..64 */
#define STORE_WHO_MAX 64		/* delivered_to, audit who: printable ASCII, 1..64 */
#define STORE_WHAT_MAX 64		/* audit what: printable ASCII, 1..64 */
#define STORE_DETAIL_MAX 1024		/* audit detail: printable ASCII, 0..1024 */
#define STORE_PUT_MAX 256		/* exchanges in one put */
#define STORE_TAKE_MAX 1024		/* keys in one take */
#define STORE_POOL_SECRET_LEN POOL_SECRET_LEN	/* one per direction and exchange */
#define STORE_POOL_KEYS_MAX POOL_KEYS_MAX	/* keys per direction and exchange */
#define STORE_SCHEMA_VERSION 2
#define STORE_BUSY_TIMEOUT_MS 5000

struct store;	/* opaque handle */

struct store_key_id {
	uint8_t b[STORE_KEY_ID_LEN];
};

enum store_direction {
	STORE_OUTBOUND = 0,	/* mine to send: taken by my encryptor (take) */
	STORE_INBOUND = 1,	/* the peer's to send: fetched by ID (get_by_id) */
	STORE_DIR_ANY = -1,	/* filters only */
};

/* Stored as these integers: never renumber. */
enum store_key_state {
	STORE_PRE_ACTIVE = 0,	/* sealed, not_before in the future */
	STORE_ACTIVE = 1,	/* sealed, servable */
	STORE_DELIVERED = 2,	/* handed out once; the stored copy is wiped */
	STORE_EXPIRED = 3,	/* past hard expiry (transient: expire destroys at once) */
	STORE_DESTROYED = 4,	/* past hard expiry, material wiped */
	STORE_WITHDRAWN = 5,	/* derived with a revoked method, wiped, never served */
	STORE_STATE_COUNT = 6,
};

/* "pre-activation", "active", ...; "?" for an unknown value. */
const char *store_state_name(enum store_key_state s);

/* A fresh random (version 4) UUID; -EIO on RNG failure. */
int store_key_id_random(struct store_key_id *ret);
/* Canonical lower-case text: out[STORE_KEY_ID_STR_LEN + 1], NUL-terminated. */
void store_key_id_format(const struct store_key_id *id, char out[static STORE_KEY_ID_STR_LEN + 1]);

/*
 * KEK file. store_kek_init() writes STORE_KEK_LEN fresh random bytes to path
 * atomically with mode 0600; -EEXIST if path exists (never overwritten).
 * store_kek_load() reads it into new secret memory (*ret, caller frees with
 * secret_free()): -EPERM when group or others have any access, -ELOOP for
 * a symbolic link, -EMSGSIZE/-EBADMSG when it is not exactly STORE_KEK_LEN
 * bytes, -ENOENT when missing.
 */
int store_kek_init(const char *path);
int store_kek_load(const char *path, struct secret **ret);

/*
 * Open (creating if missing) the database at path, keyed by kek
 * (STORE_KEK_LEN bytes; copied into the handle, the caller keeps its own).
 * A new database file is created with mode 0600; an existing one (or its
 * -wal/-shm) that group or others may access is refused with -EPERM. The
 * schema is created on first use, together with a KEK check value; a
 * different KEK later is -EKEYREJECTED. *ret is freed with store_close().
 */
int store_open(const char *path, const struct secret *kek, struct store **ret);
/*
 * Checkpoint the WAL into the database and truncate it, finalize every
 * statement, close, wipe the handle. NULL-safe. A checkpoint failure (another
 * handle reading) is ignored: the data is already durable in the WAL.
 */
void store_close(struct store *st);

/*
 * Cap the database at max_bytes (rounded down to pages; 0 = no cap beyond
 * SQLite's own). A write that would grow the file past it fails with
 * -ENOSPC like a full disk. Per handle, not persisted.
 */
int store_set_size_limit(struct store *st, uint64_t max_bytes);

/*
 * Keys are stored per exchange, not per key (docs/store.md): one row holds
 * the exchange's metadata and its two pool secrets, sealed. Key i of a
 * direction is derived from that direction's pool secret when it is
 * delivered, and key IDs are computed from the exchange ID (proto/pool.h),
 * so the store never holds a row per key.
 */
struct store_exchange {
	const char *peer;		/* 1..STORE_PEER_MAX printable */
	const char *class_name;		/* policy_name_valid() */
	uint8_t id[STORE_EXCHANGE_ID_MAX];
	size_t id_len;			/* STORE_KEY_ID_LEN: pool_exchange_id_valid() */
	uint16_t methods[STORE_METHODS_MAX];	/* enum kex_method_id, negotiated order */
	size_t n_methods;		/* 1..STORE_METHODS_MAX */
};

/* This side's role in the exchange: which protocol direction is outbound here. */
enum store_role {
	STORE_ROLE_INITIATOR = 0,	/* outbound = protocol direction 0 */
	STORE_ROLE_RESPONDER = 1,	/* outbound = protocol direction 1 */
};

/* One exchange to store (all borrowed for the call). */
struct store_pool_in {
	struct store_exchange x;
	enum store_role role;
	/*
	 * 2 * STORE_POOL_SECRET_LEN secret bytes: the pool secret of protocol
	 * direction 0 (the initiator sends with its keys), then direction 1
	 * (hs_result.pool).
	 */
	const uint8_t *secret;
	size_t n_keys;			/* keys per direction, 1..STORE_POOL_KEYS_MAX */
	size_t key_len;			/* STORE_KEY_MIN_LEN..STORE_KEY_MAX_LEN */
	int64_t not_before;		/* <= soft_expiry <= hard_expiry */
	int64_t soft_expiry;		/* rekey due; still served */
	int64_t hard_expiry;		/* never served at or after this */
};

/*
 * Store n exchanges (1..STORE_PUT_MAX) in one transaction, so one fsync:
 * all or none. Each exchange yields n_keys keys per direction, in state
 * PRE_ACTIVE when not_before > now, else ACTIVE; each pool secret is sealed.
 * Returns 0; -EEXIST when an exchange ID is already stored (nothing is
 * stored), -ENOSPC when full, -EINVAL for invalid metadata.
 */
int store_put(struct store *st, const struct store_pool_in *in, size_t n, int64_t now);

/*
 * Keys in the pool (PRE_ACTIVE + ACTIVE) of (peer, class_name) in direction
 * dir (STORE_OUTBOUND or STORE_INBOUND): what store_counts() adds up, read
 * from a per-pool counter the store keeps (one row, however many exchanges
 * are stored), so cheap enough for every exchange and every tick.
 */
int store_pool_depth(struct store *st, const char *peer, const char *class_name,
		     enum store_direction dir, uint64_t *ret);
/* Both directions in one read: *ret_out (outbound) and *ret_in (inbound). */
int store_pool_depths(struct store *st, const char *peer, const char *class_name,
		      uint64_t *ret_out, uint64_t *ret_in);

/* Metadata of one key: never key bytes. */
struct store_key_meta {
	struct store_key_id id;
	enum store_direction dir;
	enum store_key_state state;
	char peer[STORE_PEER_MAX + 1];
	char class_name[POLICY_NAME_MAX + 1];
	uint8_t exchange_id[STORE_EXCHANGE_ID_MAX];
	size_t exchange_id_len;
	uint16_t methods[STORE_METHODS_MAX];
	size_t n_methods;
	size_t key_len;
	int64_t not_before, soft_expiry, hard_expiry;
	int64_t created;		/* put time */
	int64_t changed;		/* last state change */
	int64_t delivered_at;		/* 0 unless delivered */
	char delivered_to[STORE_WHO_MAX + 1];	/* "" unless delivered */
};

/* A key handed out: the caller owns key and frees it with store_key_done(). */
struct store_key {
	struct store_key_meta meta;
	struct secret *key;		/* meta.key_len bytes */
};
/* Free the key secret and clear the struct; NULL-safe, idempotent. */
void store_key_done(struct store_key *k);

/*
 * Hand out the next n (1..STORE_TAKE_MAX) outbound keys of (peer,
 * class_name), oldest first (not_before, then insertion order), all or
 * none. Only PRE_ACTIVE/ACTIVE keys with not_before <= now < hard_expiry
 * are considered, whether or not store_expire() has run. One transaction
 * marks them DELIVERED to `to` (1..STORE_WHO_MAX printable) and clears
 * their blobs; it is committed with fsync, and only then are the keys
 * unsealed into ret[0..n-1] (caller calls store_key_done() on each).
 *
 * Returns 0. -ENOKEY when fewer than n keys are servable (nothing taken).
 * -ENOSPC/-EBUSY/-EIO: nothing changed. -EKEYREJECTED: the commit was done
 * but a blob did not authenticate (tampering): those keys stay DELIVERED,
 * nothing is returned, the event is audited; take again for fresh keys.
 */
int store_take(struct store *st, const char *peer, const char *class_name, const char *to,
	       int64_t now, size_t n, struct store_key *ret);

/*
 * Hand out the inbound key id of (peer, class_name), once: the peer's
 * encryptor asks for the key the peer took for sending. Same transaction
 * rule as store_take(). not_before is not enforced (the sender decided),
 * hard expiry is. Errors: -ENOKEY unknown here (or another pool, or
 * outbound), -EALREADY already delivered, -EKEYEXPIRED past hard expiry or
 * destroyed, -EKEYREVOKED withdrawn, -EKEYREJECTED as in store_take().
 */
int store_get_by_id(struct store *st, const char *peer, const char *class_name,
		    const struct store_key_id *id, const char *to, int64_t now,
		    struct store_key *ret);

/*
 * Every key with hard_expiry <= now that is not yet destroyed or withdrawn
 * moves to EXPIRED and then DESTROYED, its blob wiped, in one transaction;
 * PRE_ACTIVE keys whose not_before <= now become ACTIVE. An audit record
 * is written when keys were destroyed, and the WAL is checkpointed and
 * truncated so the old page images go too. Returns the number destroyed.
 */
int store_expire(struct store *st, int64_t now);

/*
 * Revocation: every PRE_ACTIVE/ACTIVE key derived with method becomes
 * WITHDRAWN (blob wiped, never served), with an audit record (who, reason)
 * in the same transaction. Delivered keys are already out: see
 * store_method_usage(). Returns the count; when ret_ids is not NULL,
 * *ret_ids is a malloc()ed array of the withdrawn IDs (caller frees; NULL
 * when the count is 0).
 */
int store_withdraw_method(struct store *st, uint16_t method, const char *who, const char *reason,
			  int64_t now, struct store_key_id **ret_ids);

/*
 * Withdraw the keys of one exchange (id, id_len) that are not yet handed out:
 * PRE_ACTIVE/ACTIVE become WITHDRAWN (blob wiped, never served), with one
 * audit record "withdraw-exchange" (who, reason, count) in the same
 * transaction; delivered, expired and destroyed keys are left as they are.
 * Used when the peer does not hold the exchange (a COMMIT lost with the
 * connection). Returns the count (0 when nothing was in the pool; still
 * audited); -ENOKEY when the exchange is unknown.
 */
int store_withdraw_exchange(struct store *st, const uint8_t *id, size_t id_len, const char *who,
			    const char *reason, int64_t now);

/* One exchange of a pool that still has live keys (store_exchanges). */
struct store_exchange_info {
	uint8_t id[STORE_EXCHANGE_ID_MAX];
	size_t id_len;
	int64_t created;	/* put time */
	size_t n_pool;		/* PRE_ACTIVE + ACTIVE keys (both directions) */
	size_t n_live;		/* n_pool + DELIVERED, before hard expiry at now */
};
/* Return 0 to go on; anything else stops the walk and is returned. */
typedef int (*store_exchange_cb)(void *arg, const struct store_exchange_info *x);
/*
 * Call cb for each exchange of (peer, class_name) with at least one key that
 * is pre-active, active or delivered and before hard expiry at now (anything
 * older can no longer be used by either side), newest first (created, then
 * insertion order). Returns 0, cb's non-zero value, or an error.
 */
int store_exchanges(struct store *st, const char *peer, const char *class_name, int64_t now,
		    store_exchange_cb cb, void *arg);

/* Where a method is still in use: one pool, one direction. */
struct store_usage {
	const char *peer;
	const char *class_name;
	enum store_direction dir;
	size_t n_pool;		/* PRE_ACTIVE + ACTIVE: not yet handed out */
	size_t n_delivered;	/* DELIVERED and before hard expiry: in an encryptor */
	const struct store_key_id *ids;	/* the n_pool + n_delivered IDs, pool first */
};
/* Return 0 to go on; anything else stops the walk and is returned. */
typedef int (*store_usage_cb)(void *arg, const struct store_usage *u);
/*
 * Call cb for each (peer, class, direction) holding keys derived with method
 * that are in the pool or delivered and before hard expiry at now. Pointers
 * in *u are valid during the call only. Returns 0, cb's non-zero value, or
 * an error.
 */
int store_method_usage(struct store *st, uint16_t method, int64_t now, store_usage_cb cb,
		       void *arg);

struct store_counts {
	uint64_t state[STORE_STATE_COUNT];
};
/*
 * Keys per state, restricted to peer / class_name (NULL = any) and dir
 * (STORE_DIR_ANY = both). Counts states as stored (run store_expire() first
 * for an up-to-date picture).
 */
int store_counts(struct store *st, const char *peer, const char *class_name,
		 enum store_direction dir, struct store_counts *ret);

struct store_filter {
	const char *peer;		/* NULL = any */
	const char *class_name;		/* NULL = any */
	enum store_direction dir;	/* STORE_DIR_ANY = both */
	unsigned state_mask;		/* 1U << state; 0 = all */
};
/* Return 0 to go on; anything else stops the walk and is returned. */
typedef int (*store_meta_cb)(void *arg, const struct store_key_meta *m);
/* Metadata of matching keys in insertion order; never key bytes. */
int store_list(struct store *st, const struct store_filter *f, store_meta_cb cb, void *arg);
/* Metadata of one key; -ENOKEY if unknown. */
int store_key_info(struct store *st, const struct store_key_id *id, struct store_key_meta *ret);

/* Audit log: append-only (triggers refuse UPDATE and DELETE). */
struct store_audit_rec {
	int64_t seq;		/* 1, 2, ... in append order */
	int64_t at;
	const char *who, *what, *detail;
	int64_t n_keys;		/* keys affected */
};
/* Append one record (its own transaction). who/what: 1..64, detail 0..1024 printable. */
int store_audit_append(struct store *st, int64_t now, const char *who, const char *what,
		       const char *detail, int64_t n_keys);
typedef int (*store_audit_cb)(void *arg, const struct store_audit_rec *r);
/* Records with seq > after_seq, oldest first; strings valid during the call. */
int store_audit_list(struct store *st, int64_t after_seq, store_audit_cb cb, void *arg);

#endif
