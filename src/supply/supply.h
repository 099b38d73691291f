/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key supply: the MFS Key Supply Service I/F, pull pattern (ETSI GS QKD 014)
 * mapped onto the key store's pools. This is the backend that
 * src/etsi014/server.h calls; it owns no sockets.
 *
 * SAEs (docs/key-supply.md):
 *
 *   local SAE    an encryptor attached to this mfsd, identified by its client
 *                certificate; bound to one peer (the mfsd on the other side),
 *                a list of data protection classes it may use (the
 *                authorization table) and a role (master, slave or both);
 *   remote SAE   an encryptor attached to that peer's mfsd, named in paths:
 *                the slave of enc_keys / status, the master of dec_keys; bound
 *                to one peer and its classes.
 *
 * The pool of a local SAE L and a remote SAE R is (peer, C) where C is the
 * one class both are bound to (supply_new() refuses pairs that share more
 * than one class, two remote SAEs that share a class, and two local slaves
 * that share a class).
 *
 * Mapping:
 *
 *   enc_keys(caller A, path B)   A local master, B remote, a common pool
 *                                (peer, C): store_take() from my OUTBOUND
 *                                pool (peer, C), delivered to "A>B"
 *   dec_keys(caller B, path A)   B local slave, A remote, a common pool
 *                                (peer, C) whose one local slave is B:
 *                                store_get_by_id() of each ID from my
 *                                INBOUND pool (peer, C), delivered to "B<A"
 *   status(caller A, path B)     as enc_keys, nothing taken
 *
 * The 401 rule of dec_keys (spec Table 7) holds by construction: a key of
 * the inbound pool (P, C) was taken on P for the one remote SAE P binds to
 * (me, C), and here only the one local slave SAE bound to (P, C) may fetch
 * it (supply_new() refuses two local slaves for one pool, and two remote
 * SAEs for one pool). A requested ID that exists in an inbound pool the
 * caller is not the slave of is 401 (and audited), an ID that is not here at
 * all, already delivered, expired or withdrawn is 400 "one or more keys
 * specified are not found on KME". The two sites' SAE tables must agree
 * (like their class policies); mfsd cannot check the other side's.
 *
 * Key sizes: every pool key is SUPPLY_NATIVE_BITS. Each SAE binding has a
 * key size (bits, multiple of 8, default native); the pool of (peer, class)
 * is served at the size of the remote SAE (enc_keys) or of the local slave
 * (dec_keys), which the two sites configure alike. A size other than native
 * is derived, never truncated: HKDF-SHA-384(salt = "", IKM = pool key,
 * info = "mfsec supply key v1" || u16 bits (big-endian) || key_ID (16)).
 * A request naming another size is 400.
 *
 * Durability: store_take()/store_get_by_id() commit the delivery with fsync
 * before they unseal, so a key has been recorded as delivered before the
 * backend returns it to the server, which only then formats the response.
 *
 * Denied requests (401 for an authenticated SAE) write an audit record
 * "supply-denied" to the store (who = caller, detail = what and why) and
 * call cfg->on_audit (the daemon logs it).
 *
 * Threads and group commit: the backend opens one store handle per server
 * worker (thread_init). Store writes of the supply go through one writer at
 * a time: the first worker with a request becomes the leader and runs every
 * request queued meanwhile; enc_keys requests of the same pool and
 * recipient become one store_take() of their total (one transaction, one
 * fsync, before any key is unsealed), so with W workers up to W requests
 * share a commit. dec_keys requests of the same pool and recipient become
 * one store_get_by_ids() of all their IDs (one transaction, one fsync, all
 * or none; if it fails, each request is retried alone so that a bad ID
 * fails only its own request). No worker ever waits in SQLite's busy
 * handler for another.
 *
 * Delivery reserves (cfg->reserve > 0; reserve.h): enc_keys is answered,
 * when it can be, from keys already committed as delivered to the same
 * recipient, taken ahead of need by a refill thread through the same group
 * commit; a request the reserve cannot serve commits its own delivery as
 * above. supply_revoked() drops the held keys of a revoked method.
 */
#ifndef MFS_SUPPLY_SUPPLY_H
#define MFS_SUPPLY_SUPPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/secret.h"
#include "etsi014/server.h"
#include "proto/policy.h"
#include "store/store.h"

#define SUPPLY_NATIVE_BITS 256		/* every pool key: HS_KEY_LEN bytes */
#define SUPPLY_MAX_SAES 64
#define SUPPLY_MAX_CLASSES 8		/* classes per local SAE */
#define SUPPLY_KDF_LABEL "mfsec supply key v1"

enum supply_role {
	SUPPLY_MASTER = 1U << 0,	/* may call enc_keys and status */
	SUPPLY_SLAVE = 1U << 1,		/* may call dec_keys */
};

struct supply_sae {
	char id[ETSI014_ID_MAX + 1];	/* the SAE ID */
	bool remote;
	char peer[STORE_PEER_MAX + 1];
	char classes[SUPPLY_MAX_CLASSES][POLICY_NAME_MAX + 1];
	size_t n_classes;		/* 1..SUPPLY_MAX_CLASSES */
	unsigned roles;			/* local: enum supply_role bits */
	unsigned key_bits;		/* 0 = SUPPLY_NATIVE_BITS */
	uint64_t max_key_count[SUPPLY_MAX_CLASSES];	/* per class: Status max_key_count
							   (the pool's high watermark) */
};

struct supply_audit {
	const char *caller, *op, *sae_id, *reason;
};

struct supply_config {
	const char *kme_id;		/* source_KME_ID (this node) */
	const char *db_path;		/* the key store, opened once per worker */
	const struct secret *kek;	/* copied */
	const struct supply_sae *saes;	/* copied */
	size_t n_saes;
	uint64_t store_size_limit;	/* bytes; 0 = none (store_set_size_limit per handle) */
	size_t reserve;			/* largest delivery reserve, keys (1..4096); 0 = none */
	/* Called from worker threads for each denied request; may be NULL. */
	void (*on_audit)(void *arg, const struct supply_audit *a);
	void *audit_arg;
};

struct supply_stats {
	uint64_t enc_keys, dec_keys;	/* keys delivered */
	uint64_t denied;		/* 401 for authenticated SAEs */
	uint64_t exhausted;		/* 503: pool empty */
	uint64_t commits;		/* enc_keys store transactions (group commits) */
	uint64_t grouped;		/* enc_keys requests served by them */
	uint64_t reserve_held;		/* keys held in delivery reserves now */
	uint64_t reserve_served;	/* keys served from them */
	uint64_t reserve_misses;	/* requests they could not serve (own commit) */
	uint64_t reserve_refills;	/* refills */
	uint64_t reserve_discarded;	/* recorded as delivered, never served: expired, revoked */
};

struct supply;

/*
 * Check the SAE table (unique IDs; at most one remote SAE and one local
 * slave per (peer, class); a local and a remote SAE share at most one
 * class; sizes multiples of 8 in etsi014 range) and set up. -EINVAL with a reason in err (err_size bytes).
 * *ret: supply_free().
 */
int supply_new(const struct supply_config *cfg, struct supply **ret, char *err, size_t err_size);
void supply_free(struct supply *s);
/* The backend for etsi014_server_new(); s must outlive the server. */
void supply_backend(struct supply *s, struct etsi014_backend *ret);
void supply_stats(const struct supply *s, struct supply_stats *ret);
/*
 * A method was revoked: drop the reserved keys derived with it (they are
 * recorded as delivered, and will never be served). Returns how many.
 */
size_t supply_revoked(struct supply *s, uint16_t method);

/* The derivation above, for tests and tools: out gets bits/8 bytes. */
int supply_derive(const uint8_t key[static 32], const uint8_t id[static STORE_KEY_ID_LEN],
		  unsigned bits, uint8_t *out);

#endif
