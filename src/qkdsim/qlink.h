/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One QKD link: the QKD module pair and the two KMA link key stores.
 *
 * QKD module. A real pair of QKD modules distils identical secret key at
 * both ends of a fibre at some rate, and aborts when the quantum bit error
 * rate (QBER) says someone is listening. Here a seeded CSPRNG stands in for
 * the quantum channel: block i (32 bytes) of link key is
 *     SHAKE256("qkdsim link block" || seed || u64 i)
 * and each end computes its blocks itself from the shared seed, so both
 * ends hold the same bytes without copying them across. Blocks appear at
 * the configured secret key rate (bit/s), only while the QBER is at or
 * below the abort threshold, and only while both stores have room.
 *
 * KMA link key store. Each end keeps its link key in a ring of secret
 * memory addressed by absolute byte offset: bytes [head, tail) are
 * available. Key is taken only from head upwards, and every byte below
 * head has been wiped: an offset can never be used twice (one-time pad).
 *
 * Key relay hop (qlink_relay_seal / qlink_relay_open). The sending KMA
 * takes 32 + |K| bytes at its head: the first 32 key an HMAC-SHA-256 over
 * the whole message, the rest is the one-time pad for K. The message
 * carries the offset it used; the receiving KMA refuses an offset below its
 * own head (reuse or replay, -EALREADY), checks the MAC in constant time
 * before it changes anything (-EKEYREJECTED), then decrypts and consumes up
 * to the end of what the message used, wiping (burning) anything it skipped.
 * So the two ends can never use the same link key twice, whatever order,
 * loss or tampering the KM link suffers.
 */
#ifndef MFS_QKDSIM_QLINK_H
#define MFS_QKDSIM_QLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/secret.h"
#include "qkdsim/qconf.h"

#define QLINK_BLOCK 32			/* bytes of link key per generated block */
#define QLINK_MAC_KEY 32		/* link key bytes that key one relay MAC */
#define QLINK_TAG 32			/* HMAC-SHA-256 */
#define QLINK_RELAY_KEY_MAX 1024	/* largest relayed key, bytes (8192 bits) */
#define QLINK_EAVESDROP_QBER 2500	/* intercept-resend on BB84: 25 % */
#define QLINK_RELAY_VERSION 1
#define QLINK_RELAY_MSG_MAX (2 + 6 * (1 + QCONF_NAME_MAX) + 16 + 8 + 2 + QLINK_RELAY_KEY_MAX + QLINK_TAG)

/* One end's link key store. */
struct qend {
	struct secret *ring;	/* cap bytes */
	uint64_t head;		/* next unused offset */
	uint64_t tail;		/* one past the last produced byte */
};

struct qlink {
	const struct qconf_link *cfg;
	struct secret *seed;		/* QCONF_SEED_LEN bytes */
	struct qend end[2];		/* [0] at node cfg->a, [1] at node cfg->b */
	uint64_t credit_bits;		/* generated but not yet a whole block */
	uint64_t last_ms;
	uint32_t qber_cp;		/* current QBER, centi-percent */
	bool eavesdrop;
	bool alarm;			/* QBER above threshold: generation stopped */
	uint64_t alarm_since_ms;
	uint32_t alarms;		/* alarms raised so far */
	uint64_t produced_bits, consumed_bits[2];
	/* Measured rate: bits produced over the last full second. */
	uint64_t win_start_ms, win_bits, rate_bps;
};

/* Set up a link with its seed (copied). pool bytes = cfg->pool_bits / 8. */
int qlink_init(struct qlink *l, const struct qconf_link *cfg, const uint8_t seed[QCONF_SEED_LEN],
	       uint64_t now_ms);
/* Wipe and release; safe on a zeroed struct. */
void qlink_free(struct qlink *l);

/*
 * Advance the QKD module to now_ms: set the QBER (eavesdropper or the
 * configured one), raise or clear the alarm (returns 1 when the alarm state
 * changed, else 0), and produce the blocks the rate allows while the QBER
 * is within the threshold and both ends have room.
 */
int qlink_tick(struct qlink *l, uint64_t now_ms);
/* Turn the simulated eavesdropper on or off (takes effect at the next tick). */
void qlink_set_eavesdrop(struct qlink *l, bool on);

/* Bytes of unused link key at end e. */
static inline uint64_t qlink_avail(const struct qlink *l, int e)
{
	return l->end[e].tail - l->end[e].head;
}
/* Link key bytes one relay of a klen-byte key costs. */
static inline size_t qlink_relay_cost(size_t klen)
{
	return QLINK_MAC_KEY + klen;
}

/* What a relay message carries besides the encrypted key. */
struct qrelay_hdr {
	char link[QCONF_NAME_MAX + 1];
	char from[QCONF_NAME_MAX + 1], to[QCONF_NAME_MAX + 1];		/* this hop */
	char src[QCONF_NAME_MAX + 1], dst[QCONF_NAME_MAX + 1];		/* end to end */
	uint8_t key_id[16];
	char master[QCONF_NAME_MAX + 1], slave[QCONF_NAME_MAX + 1];	/* SAE IDs */
};

/*
 * Sending KMA at end e: encrypt key[klen] with link key at its head and
 * write the authenticated relay message to out. Consumes
 * qlink_relay_cost(klen) bytes of end e. -EAGAIN (nothing consumed) when
 * not enough link key is there; -EINVAL for a bad header or length.
 */
int qlink_relay_seal(struct qlink *l, int e, const struct qrelay_hdr *h,
		     const uint8_t *key, size_t klen, struct wbuf *out);

/*
 * Parse a relay message without any key: the bounded codec alone (fuzzed).
 * *ct points into msg. -EBADMSG / -EMSGSIZE on malformed input.
 */
int qlink_relay_parse(struct rd msg, struct qrelay_hdr *h, uint64_t *offset,
		      const uint8_t **ct, size_t *ct_len, const uint8_t **tag,
		      size_t *authed_len);

/*
 * Receiving KMA at end e: check and open a relay message. On success
 * key[*klen] holds the relayed key and end e has consumed the link key the
 * message used. Errors leave end e unchanged: -EBADMSG malformed, -EINVAL
 * for another link, -EALREADY an offset already used (replay, reuse),
 * -EAGAIN link key not there yet, -EKEYREJECTED the MAC does not verify.
 * key must hold QLINK_RELAY_KEY_MAX bytes; it is zeroed on failure.
 */
int qlink_relay_open(struct qlink *l, int e, const uint8_t *msg, size_t len,
		     struct qrelay_hdr *h, uint8_t *key, size_t *klen);

#endif
