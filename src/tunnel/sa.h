/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Security associations and the SA database of mfs-tunnel.
 *
 * One key from the key source (an ID of KEY_ID_LEN bytes and at least 32
 * secret bytes) gives two SAs, one per direction. Each end has a side, a or
 * b (the two ends configure opposite sides); side a sends on the "a->b" SA.
 * Per direction (sa_derive):
 *
 *   okm  = HKDF-SHA-384(salt = "mfsec-tunnel v1", IKM = key,
 *                       info = "esp aes-256-gcm " || dir || key ID, L = 36)
 *   AES-256-GCM key = okm[0..31], salt = okm[32..35]
 *   SPI  = BE32(SHA-256("mfsec-tunnel v1 spi " || dir || key ID)[0..3]) | 0x80000000
 *
 * with dir the 4 ASCII bytes "a->b" or "b->a". Both ends compute the same
 * mapping, so no SPI negotiation is needed, and the SPI never falls in the
 * reserved range 1-255 (RFC 4303 §2.1).
 *
 * Limits: an SA refuses to protect more than max_packets packets or
 * max_bytes bytes, or to be used at or after its hard expiry. The outbound
 * sequence number may in addition not pass `reserved`, the high-water mark
 * persisted by the caller (see hwm.h), so that a restart never reuses a
 * (key, IV) pair.
 *
 * Concurrency: data threads hold the database's read lock for a batch of
 * packets; the control thread changes the database under the write lock.
 * Counters and the outbound sequence number are atomic; the replay window
 * has its own mutex. Each worker thread uses its own AES-GCM context
 * (aead[worker]), keyed once when the SA is made.
 */
#ifndef MFS_TUNNEL_SA_H
#define MFS_TUNNEL_SA_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/aead.h"
#include "tunnel/esp.h"
#include "tunnel/replay.h"

#define KEY_ID_LEN 16
#define SA_KEY_MIN 32			/* supplied key bytes, at least */
#define SA_KEY_MAX 64
#define SA_MAX_WORKERS 8
#define SA_DEFAULT_MAX_PACKETS (1ULL << 23)
#define SA_MAX_PACKETS_LIMIT (1ULL << 31)	/* well under the 2^32 low half */
#define SADB_IN_MAX 8

struct sa_limits {
	uint64_t max_packets;	/* 1..SA_MAX_PACKETS_LIMIT */
	uint64_t max_bytes;	/* 0: no byte limit */
	uint64_t expiry_ns;	/* hard expiry, CLOCK_MONOTONIC; 0: none */
	bool no_esn;		/* 32-bit sequence numbers (see esp.h) */
};

int sa_derive(const uint8_t *key, size_t key_len, const uint8_t id[static KEY_ID_LEN],
	      bool a_to_b, uint8_t ret_key[static ESP_KEY_LEN],
	      uint8_t ret_salt[static ESP_SALT_LEN], uint32_t *ret_spi);

struct sa {
	uint8_t key_id[KEY_ID_LEN];
	bool outbound;
	struct sa_limits lim;
	unsigned nworkers;
	struct aead aead[SA_MAX_WORKERS];
	struct esp_xform xf[SA_MAX_WORKERS];	/* xf[i].aead = &aead[i] */
	_Atomic uint64_t seq;		/* outbound: last number handed out */
	_Atomic uint64_t reserved;	/* outbound: numbers up to this may be used */
	_Atomic uint64_t packets, bytes;
	_Atomic uint64_t auth_fail, replay_drop;
	_Atomic bool used;		/* a packet was protected/accepted */
	bool used_reported;		/* control thread: first use told */
	bool used_seen;			/* control thread: sadb_tick saw the first use */
	bool peer_ready;		/* outbound: the peer installed the key (push) */
	bool hold;			/* pending: wait until the current SA is retired */
	bool retired;			/* outbound: the key source asked to move on */
	uint64_t retired_ns;
	pthread_mutex_t lock;		/* inbound: the window */
	struct replay win;
};

/*
 * Make an SA for one direction of a key: outbound (a_to_b == our side is a)
 * or inbound. An outbound SA starts after sequence number first_seq and may
 * use numbers up to reserved. nworkers AES-GCM contexts are keyed. Caller
 * frees with sa_free(). -EINVAL bad arguments, -ENOMEM, -EIO OpenSSL.
 */
int sa_new(const uint8_t *key, size_t key_len, const uint8_t id[static KEY_ID_LEN],
	   bool a_to_b, bool outbound, const struct sa_limits *lim, unsigned nworkers,
	   uint64_t first_seq, uint64_t reserved, struct sa **ret);
void sa_free(struct sa *sa);

static inline uint32_t sa_spi(const struct sa *sa)
{
	return sa->xf[0].spi;
}

/* True when the SA may no longer be used at time now (limits or expiry). */
bool sa_exhausted(const struct sa *sa, uint64_t now_ns);

/*
 * Seal one inner packet (at pkt + ESP_HDR_LEN, len bytes) on outbound SA sa
 * with worker's context. Returns the ESP length; -EKEYEXPIRED (a limit or
 * the hard expiry is reached: rekey), -EAGAIN (sequence reservation
 * exhausted: the control thread has not persisted the next one yet),
 * -EMSGSIZE, -EIO. Nothing is sent on failure; the number is never reused.
 */
int sa_seal(struct sa *sa, unsigned worker, uint64_t now_ns, uint8_t next_header,
	    uint8_t *pkt, size_t len, size_t cap);

/*
 * Check, verify, decrypt and record one ESP packet on inbound SA sa (whose
 * SPI the caller matched). On success the inner packet is at
 * pkt + ESP_HDR_LEN, *ret_len bytes. -EKEYEXPIRED, -EALREADY replay,
 * -EKEYREJECTED bad ICV, -EBADMSG, -ENODATA dummy packet.
 */
int sa_open(struct sa *sa, unsigned worker, uint64_t now_ns, uint8_t *pkt, size_t len,
	    uint8_t *ret_nh, size_t *ret_len);

/*
 * The SA database: one outbound SA in use, at most one waiting to take
 * over (make-before-break), up to SADB_IN_MAX inbound SAs.
 *
 * Keys come either as one key for both directions (the static source:
 * sadb_install() of a pair with the same key ID) or one key per direction
 * (mfsd push: sadb_install_out(), sadb_install_in()). A new inbound SA is
 * usable at once. A new outbound SA is used at once when there is no usable
 * one, else it is pending, and sadb_tick() switches to it when
 *   - the peer is ready for it: sadb_peer_ready() (push: PEER_INSTALLED), or
 *     a packet authenticated on the inbound SA of the same key ID (a pair:
 *     the peer has the key and already sends with it), or
 *   - switch_delay has passed since it was installed, or
 *   - the current SA is exhausted;
 * a pending SA marked `hold` (a key pushed ahead of need) in addition waits
 * until the current SA is retired (sadb_retire) or exhausted, and its
 * switch delay counts from then.
 * When an inbound SA carries its first packet (the peer switched), the
 * inbound SAs installed before it are removed after `grace` (packets in
 * flight). SAs past their limits or hard expiry are removed; with no usable
 * outbound SA nothing is sent. sadb_tick() returns true when the outbound SA
 * changed.
 */
struct sadb {
	pthread_rwlock_t lock;
	struct sa *out;
	struct sa *pending;
	uint64_t pending_since_ns;
	struct sa *in[SADB_IN_MAX];
	uint64_t in_gen[SADB_IN_MAX];		/* install order */
	uint64_t gen;
	uint64_t in_retire_ns[SADB_IN_MAX];	/* 0: keep */
	uint64_t switch_delay_ns, grace_ns;
};

int sadb_init(struct sadb *db, uint64_t switch_delay_ns, uint64_t grace_ns);
void sadb_done(struct sadb *db);
/* All under the write lock. They take ownership of the SAs on success. */
/* Both SAs of one key (same key ID). -EEXIST key ID or SPI in use. */
int sadb_install(struct sadb *db, struct sa *out, struct sa *in, uint64_t now_ns);
/* One direction only. -EEXIST key ID or SPI in use, -ENOSPC inbound table full. */
int sadb_install_out(struct sadb *db, struct sa *out, uint64_t now_ns);
int sadb_install_in(struct sadb *db, struct sa *in, uint64_t now_ns);
/* The peer installed outbound key id; -ENOENT if it is not pending or in use. */
int sadb_peer_ready(struct sadb *db, const uint8_t id[static KEY_ID_LEN]);
/*
 * The key source asks to stop sending with outbound key id (soft expiry,
 * volume): a pending SA with `hold` set may now take over (it waits for that;
 * see sadb_tick). The SA stays usable until then. -ENOENT if id is not in use.
 */
int sadb_retire(struct sadb *db, const uint8_t id[static KEY_ID_LEN], uint64_t now_ns);
/* Remove the SAs of a key (revocation); -ENOENT if none. */
int sadb_withdraw(struct sadb *db, const uint8_t id[static KEY_ID_LEN]);
bool sadb_tick(struct sadb *db, uint64_t now_ns);
/* Under the read lock: the inbound SA with this SPI, or NULL. */
struct sa *sadb_in_lookup(struct sadb *db, uint32_t spi);

static inline void sadb_rdlock(struct sadb *db)
{
	pthread_rwlock_rdlock(&db->lock);
}
static inline void sadb_wrlock(struct sadb *db)
{
	pthread_rwlock_wrlock(&db->lock);
}
static inline void sadb_unlock(struct sadb *db)
{
	pthread_rwlock_unlock(&db->lock);
}

#endif
