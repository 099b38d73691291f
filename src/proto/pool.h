/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pool keys and their key IDs from the output of one exchange (protocol
 * version 2, docs/protocol.md §7). Both sides call these with the same
 * inputs, so this derivation *is* the key-ID sharing.
 *
 * An exchange yields one 32-byte pool secret per direction (d = 0: keys the
 * initiator sends with, d = 1: keys the responder sends with) and a 16-byte
 * exchange ID. Key i of direction d (0 <= i < n_keys <= POOL_KEYS_MAX) is
 *
 *   key(d, i, L) = HKDF-Expand-SHA-384(pool_secret_d,
 *                                      "mfsec v2 key" ‖ u8 d ‖ u16 i ‖ u16 L, L)
 *
 * derived on demand (by the key store at delivery), and its key ID is the
 * exchange ID with byte 8 = 0x80 | d (variant 10, direction) and byte 9 = i:
 * a UUID version 8 (RFC 9562 §5.8) whose bytes 0..7 (the *tag*) and 10..15
 * are the same for every key of the exchange. The exchange ID itself is the
 * ID of key (0, 0).
 */
#ifndef MFS_PROTO_POOL_H
#define MFS_PROTO_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POOL_SECRET_LEN 32		/* one per direction */
#define POOL_ID_LEN 16			/* exchange ID and key IDs: UUIDs */
#define POOL_KEYS_MAX 64		/* keys per direction (= MSG_KEYS_MAX) */
#define POOL_KEY_MAX_LEN 64

/*
 * Turn 16 uniformly random bytes into the exchange ID: version 8, variant
 * 10, direction 0, index 0 (the ID of key (0, 0)).
 */
void pool_exchange_id_from(uint8_t id[static POOL_ID_LEN]);

/* True when id is a well-formed exchange ID (what pool_exchange_id_from gives). */
bool pool_exchange_id_valid(const uint8_t id[static POOL_ID_LEN]);

/* The ID of key (d, i) of the exchange xid; d 0..1, i 0..POOL_KEYS_MAX-1. */
void pool_key_id(const uint8_t xid[static POOL_ID_LEN], unsigned d, unsigned i,
		 uint8_t out[static POOL_ID_LEN]);

/*
 * Split a key ID: its tag (bytes 0..7 as a big-endian number, the same for
 * every key of the exchange), direction and index, and the exchange ID it
 * belongs to. -EINVAL when it cannot be a pool key ID (wrong version or
 * variant, reserved bits set, index out of range).
 */
int pool_key_id_parse(const uint8_t id[static POOL_ID_LEN], uint64_t *ret_tag, unsigned *ret_d,
		      unsigned *ret_i, uint8_t ret_xid[static POOL_ID_LEN]);

/* The tag of an exchange ID (bytes 0..7, big-endian). */
uint64_t pool_tag(const uint8_t xid[static POOL_ID_LEN]);

/*
 * out[len] = key(d, i, len) from the pool secret of direction d
 * (POOL_SECRET_LEN bytes). len 1..POOL_KEY_MAX_LEN. 0 or a negative errno
 * (out zeroed).
 */
int pool_key_derive(const uint8_t *secret, unsigned d, unsigned i, size_t len, uint8_t *out);

#endif
