/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One Inter-MFS CF key exchange, both roles, as a state machine with no I/O
 * (BearSSL engine / OpenSSH kex style): the caller moves frames between
 * hs_start()/hs_recv() and its transport. Full description: docs/protocol.md.
 *
 *   initiator                                     responder
 *   hs_init(I) ; hs_start()  -- HELLO -------->   hs_init(R) ; hs_recv()
 *   hs_recv()                <-- SELECT -------   (or REFUSE, then -EPERM)
 *             (msg1 of each method, msg2 of the reverse McEliece runs)
 *                            -- KEX1 --------->   hs_recv()
 *   hs_recv() (KEX2)         <-- KEX2 ---------   (one flight: two frames)
 *   hs_recv() (CONFIRM_R)    <-- CONFIRM ------
 *   returns HS_DONE          -- CONFIRM ------>   hs_recv() returns HS_DONE
 *   hs_result()                                   hs_result()
 *
 * Every call to hs_recv() takes exactly one frame (cut a stream with
 * msg_frame_len()) and appends zero, one or two frames to out. It returns
 * HS_MORE (wait for the next frame), HS_DONE (keys ready: hs_result()), or a
 * negative errno; the exchange is then dead, everything secret is wiped, no
 * key can be taken, hs_abort_reason() says why in a few words (never a
 * secret), and out holds a REFUSE or ABORT frame for the peer where it fit
 * (what was appended during the failed call is replaced by it). Errors:
 *   -EBADMSG / -EMSGSIZE malformed or oversized frame, payloads not matching
 *   the suite; -EPROTO unexpected message for the state (reordering, replay of
 *   an earlier message, a second HELLO, a call after failure);
 *   -EPROTONOSUPPORT wrong or no common version; -EACCES the peer's node id
 *   is not the configured one, or the wrong side initiated; -EPERM the suite
 *   breaks local policy (refused or aborted); -ECONNREFUSED the peer
 *   refused; -ECONNABORTED the peer aborted; -EKEYREJECTED key confirmation
 *   failed (tampering, wrong TLS exporter, different keys); a method's own
 *   error (-ENOKEY unknown PSK, -EKEYREJECTED pin mismatch…); -ENOMEM, -EIO.
 *
 * Keys are released only after the peer's CONFIRM has been verified.
 */
#ifndef MFS_PROTO_HANDSHAKE_H
#define MFS_PROTO_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/secret.h"
#include "crypto/combiner.h"
#include "crypto/hash.h"
#include "kex/kex.h"
#include "proto/msg.h"
#include "proto/negotiate.h"
#include "proto/policy.h"
#include "proto/pool.h"

#define HS_MORE 0
#define HS_DONE 1

#define HS_KEY_LEN 32			/* each pool key (the daemon's choice, see pool.h) */
#define HS_KEY_ID_LEN POOL_ID_LEN	/* a UUID (RFC 9562 version 8) */
#define HS_KEYS_MAX MSG_KEYS_MAX	/* keys per direction per exchange */
#define HS_EXPORTER_MIN 32		/* TLS exporter value length */
#define HS_EXPORTER_MAX 64
#define HS_REASON_MAX 160
#define HS_MASTER_LEN 48
#define HS_STATIC_ID_LEN 32		/* SHA3-256 of a static public key */
/* Room for the largest flight: KEX1 or KEX2 + CONFIRM. */
#define HS_OUT_MAX (2 * MSG_HDR_LEN + MSG_KEX_MAX + MSG_MAC_LEN)

enum hs_role {
	HS_INITIATOR,
	HS_RESPONDER,
};

/*
 * Static key material of one static-key method (Classic McEliece parameter
 * set): this side's own key pair and the peer's pinned public key, each with
 * its SHA3-256 id computed once by the caller. All borrowed.
 *
 * A method may have two entries while a static key rotation is in its grace
 * period: the first is used for this side's own key (the method initiator
 * sends its id) and as the default pin; a responder run whose msg1 names the
 * pinned key id of a later entry of the same method encapsulates to that
 * entry's peer_pk instead (the peer still uses its previous key).
 */
struct hs_static_key {
	uint16_t method;		/* KEX_ID_MCELIECE460896, … */
	const struct secret *sk;	/* own static secret key */
	const uint8_t *pk;		/* own static public key */
	size_t pk_len;
	const uint8_t *pk_id;		/* HS_STATIC_ID_LEN: SHA3-256(pk) */
	const uint8_t *peer_pk;		/* peer's pinned public key */
	size_t peer_pk_len;
	const uint8_t *peer_pk_id;	/* HS_STATIC_ID_LEN: SHA3-256(peer_pk) */
};

/* Everything is borrowed and must outlive the exchange (hs_done()). */
struct hs_config {
	enum hs_role role;
	const char *my_id;		/* node ids: printable ASCII, 1..MSG_NODE_ID_MAX */
	const char *peer_id;		/* the only peer accepted */
	/* initiator: the class of this exchange; responder: unused */
	const struct class_policy *policy;
	/* responder: the classes it serves for this peer; initiator: unused */
	const struct class_policy *classes;
	size_t n_classes;
	const uint16_t *revoked;	/* locally revoked method ids */
	size_t n_revoked;
	const struct hs_static_key *static_keys;
	size_t n_static_keys;
	const char *psk_id;		/* initiator: the PSK to use (the PSK method) */
	int (*psk_lookup)(void *arg, const char *id, struct secret **ret);
	void *psk_arg;
	/*
	 * QKD (qkd014, kex.h): the initiator takes ready keys (master SAE),
	 * the responder looks keys up by reference (slave SAE). The method is
	 * usable only with the callback of this side's role set and, when
	 * qkd_usable is set, while it returns true (the local KME works).
	 */
	int (*qkd_take)(void *arg, struct kex_qkd_ref *ret_ref, struct secret **ret);
	int (*qkd_lookup)(void *arg, const struct kex_qkd_ref *ref, struct secret **ret);
	bool (*qkd_usable)(void *arg);
	void *qkd_arg;
	/* TLS exporter value of the channel this runs in (RFC 8446 §7.5) */
	const uint8_t *tls_exporter;
	size_t tls_exporter_len;	/* HS_EXPORTER_MIN..HS_EXPORTER_MAX */
	/* keys per direction: initiator asks for it, the responder caps it */
	uint16_t n_keys;		/* 1..HS_KEYS_MAX */
};

struct hs_run {
	const struct kex_method *m;
	uint8_t instance;		/* enum msg_instance */
	enum kex_role role;		/* this side's role in the method */
	void *ctx;			/* in the arena */
	size_t m1_off, m1_len, m2_off, m2_len;	/* copies in the arena */
};

/* The state of one exchange; caller-allocated, opaque. */
struct hs {
	struct hs_config cfg;
	int state;
	int err;
	char reason[HS_REASON_MAX];
	const struct class_policy *policy;	/* the class in use */
	struct class_policy offer;		/* as in HELLO */
	struct proto_suite suite;
	uint16_t version;
	uint16_t n_keys;
	uint8_t nonce_i[MSG_NONCE_LEN], nonce_r[MSG_NONCE_LEN];
	uint8_t th[HASH_MAX_LEN];		/* running transcript hash */
	uint8_t th_confirm[HASH_MAX_LEN];	/* transcript hash the peer's MAC covers */
	struct hs_run runs[COMBINER_MAX_METHODS];
	size_t n_runs;
	uint8_t *arena;				/* method contexts and message copies */
	size_t arena_len, arena_used;
	struct secret *work;			/* method secrets, master and MAC keys */
	struct secret *pool;			/* after HS_DONE until hs_result() */
	uint8_t exchange_id[POOL_ID_LEN];
};

/* The outcome of a finished exchange. */
struct hs_result {
	uint16_t version;
	char class_name[POLICY_NAME_MAX + 1];
	struct proto_suite suite;		/* negotiated suite, canonical order */
	uint16_t methods[COMBINER_MAX_METHODS];	/* method runs, combiner order */
	uint8_t instances[COMBINER_MAX_METHODS];	/* enum msg_instance of each run */
	size_t n_methods;
	uint16_t n_keys;			/* keys per direction */
	/*
	 * 2 * POOL_SECRET_LEN bytes: the pool secret of direction 0 (keys the
	 * initiator sends with), then that of direction 1 (the responder's).
	 * Key i of direction d: pool_key_derive(pool->p + d * POOL_SECRET_LEN,
	 * d, i, len, out). Owned by the result: hs_result_done() frees it.
	 */
	struct secret *pool;
	/* the exchange ID = the ID of key (0, 0); key (d, i): pool_key_id() */
	uint8_t exchange_id[POOL_ID_LEN];
};

/*
 * Deterministic initiator election for a peer pair and class: the side
 * whose SHA-256(u8 |id| ‖ id ‖ u8 |class| ‖ class) is smaller (as a
 * big-endian number) initiates; both sides compute the same answer, so two
 * exchanges for one class can never cross. Returns 1 (my_id initiates),
 * 0 (peer_id initiates), -EINVAL (equal or invalid ids or class).
 */
int proto_is_initiator(const char *my_id, const char *peer_id, const char *class_name);

/*
 * Set up *hs for one exchange (nothing is sent). Checks the configuration
 * (-EINVAL), and for the initiator that it is the elected one (-EACCES).
 * On failure *hs is left safe for hs_done().
 */
int hs_init(struct hs *hs, const struct hs_config *cfg);
/* Initiator: append HELLO to out. Returns HS_MORE or a negative errno. */
int hs_start(struct hs *hs, struct wbuf *out);
/* Take the peer's next frame msg[len]; append the answer to out (see above). */
int hs_recv(struct hs *hs, const uint8_t *msg, size_t len, struct wbuf *out);
/* True once the exchange finished (keys ready or taken). */
bool hs_is_done(const struct hs *hs);
/* Why the exchange failed: a short text, or NULL when it has not failed. */
const char *hs_abort_reason(const struct hs *hs);
/* The negative errno it failed with, 0 otherwise. */
int hs_error(const struct hs *hs);
/*
 * Move the outcome into *ret (once): -EPROTO unless HS_DONE was returned
 * and the result has not been taken yet.
 */
int hs_result(struct hs *hs, struct hs_result *ret);
/* Wipe and free the result's keys and clear *r; NULL-safe. */
void hs_result_done(struct hs_result *r);
/* Wipe and release everything of the exchange; NULL-safe, idempotent. */
void hs_done(struct hs *hs);

#endif
