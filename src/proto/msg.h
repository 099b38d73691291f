/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inter-MFS CF peer protocol: message codec (byte layouts: docs/protocol.md).
 *
 * A frame is
 *
 *   u16 version ‖ u8 type ‖ u32 body_len ‖ body[body_len]
 *
 * (big-endian). body_len is bounded per type before the body is read:
 * the messages that may arrive before the peer has proven anything (HELLO,
 * SELECT, REFUSE, ABORT, REVOKE, REVOKE_ACK) by MSG_PREAUTH_MAX, KEX1/KEX2 by
 * MSG_KEX_MAX, CONFIRM is exactly MSG_MAC_LEN.
 *
 * msg_parse() decodes exactly one frame into a caller's stack struct. It
 * never allocates: variable fields point into the input, which must outlive
 * the struct. Every field is bounded by a named constant below or, for the
 * per-method payloads of KEX1/KEX2/SELECT, by the method's msg1_max/msg2_max
 * from the kex registry. Trailing bytes (after the body, or inside it) are
 * -EBADMSG. Errors: -EBADMSG malformed, -EMSGSIZE a length over its bound,
 * -EOPNOTSUPP a method id this build does not know (its payload bound is
 * unknown).
 *
 * msg_encode() writes a frame from the same struct through a capped
 * struct wbuf (round trip: msg_parse(msg_encode(m)) == m). The handshake
 * writes KEX payloads in place with msg_frame_begin()/msg_frame_end() and
 * msg_item_begin()/msg_item_end() instead.
 */
#ifndef MFS_PROTO_MSG_H
#define MFS_PROTO_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "proto/policy.h"

#define PROTO_VERSION 2		/* the only version this code speaks (v2: pool secrets, docs/protocol.md §7) */
#define PROTO_VERSION_MIN 2
#define PROTO_VERSION_MAX 2
#define MSG_HELLO_FRAME_VERSION 1	/* HELLO (and a REFUSE of it) is always framed as v1 */

#define MSG_HDR_LEN 7		/* u16 version, u8 type, u32 body_len */
#define MSG_PREAUTH_MAX 2048	/* HELLO, SELECT, REFUSE, ABORT, REVOKE(_ACK) bodies */
#define MSG_KEX_MAX 32768	/* KEX1/KEX2 bodies; the largest suite needs ~13 KiB */
#define MSG_FRAME_MAX (MSG_HDR_LEN + MSG_KEX_MAX)

#define MSG_NODE_ID_MAX 128	/* node ids: printable ASCII 0x21..0x7e, 1..128 bytes */
#define MSG_NONCE_LEN 32
#define MSG_TEXT_MAX 128	/* REFUSE/ABORT/REVOKE text: printable ASCII incl. space, 0..128 */
#define MSG_MAC_LEN 48		/* HMAC-SHA-384 */
#define MSG_SUITE_MAX POLICY_MAX_METHODS	/* method ids in an offer list or a suite */
#define MSG_ITEMS_MAX 16	/* per-method payloads in one SELECT/KEX1/KEX2 */
#define MSG_KEYS_MAX 64		/* keys per direction per exchange */

enum msg_type {
	MSGT_HELLO = 1,
	MSGT_SELECT = 2,
	MSGT_REFUSE = 3,
	MSGT_KEX1 = 4,
	MSGT_KEX2 = 5,
	MSGT_CONFIRM = 6,
	MSGT_ABORT = 7,
	MSGT_REVOKE = 8,
	MSGT_REVOKE_ACK = 9,
};

/*
 * Which run of a method a payload belongs to. Forward: the protocol
 * initiator is the method's initiator (every suite method has one).
 * Reverse: the protocol responder is the method's initiator (only for
 * static-key methods, Classic McEliece, so that each side's static key is
 * used once).
 */
enum msg_instance {
	MSG_INST_FORWARD = 0,
	MSG_INST_REVERSE = 1,
};

/* One per-method payload: u16 method ‖ u8 instance ‖ u16 len ‖ data[len]. */
struct msg_item {
	uint16_t method;
	uint8_t instance;	/* enum msg_instance */
	struct rd data;		/* points into the input */
};

struct msg_hello {
	uint16_t version_min, version_max;
	struct rd node_id;	/* initiator node id */
	struct rd class_name;	/* [a-z0-9_-]{1,POLICY_NAME_MAX} */
	const uint8_t *nonce;	/* MSG_NONCE_LEN bytes */
	uint8_t combiner;	/* enum combiner_mode */
	uint16_t n_keys;	/* keys per direction asked for, 1..MSG_KEYS_MAX */
	uint16_t required[MSG_SUITE_MAX];
	size_t n_required;
	uint16_t optional[MSG_SUITE_MAX];
	size_t n_optional;
	uint8_t min_pq_factors, min_families;
};

struct msg_select {
	uint16_t version;	/* chosen version */
	struct rd node_id;	/* responder node id */
	const uint8_t *nonce;	/* MSG_NONCE_LEN bytes */
	uint8_t combiner;
	uint16_t n_keys;	/* keys per direction, 1..MSG_KEYS_MAX */
	uint16_t suite[MSG_SUITE_MAX];
	size_t n_suite;
	struct msg_item items[MSG_ITEMS_MAX];	/* reverse msg1s (responder's key ids) */
	size_t n_items;
};

/* REFUSE, ABORT, REVOKE, REVOKE_ACK: u16 code ‖ vec8 text. */
struct msg_notice {
	uint16_t code;		/* refuse/abort reason, or a method id (REVOKE*) */
	struct rd text;		/* printable ASCII, 0..MSG_TEXT_MAX */
};

struct msg_kex {
	struct msg_item items[MSG_ITEMS_MAX];
	size_t n_items;
};

struct msg_confirm {
	const uint8_t *mac;	/* MSG_MAC_LEN bytes */
};

struct msg {
	uint16_t version;	/* frame version */
	uint8_t type;		/* enum msg_type */
	union {
		struct msg_hello hello;
		struct msg_select select;
		struct msg_notice notice;	/* REFUSE, ABORT, REVOKE, REVOKE_ACK */
		struct msg_kex kex;		/* KEX1, KEX2 */
		struct msg_confirm confirm;
	} u;
};

/* Largest body a frame of this type may have, 0 for an unknown type. */
size_t msg_body_max(uint8_t type);
/* Short name of a type ("HELLO"), "?" for an unknown one. */
const char *msg_type_name(uint8_t type);

/*
 * Length of the frame at the start of p[n] (header + body), from its
 * header alone, so that a transport can cut a stream into frames. Returns
 * 0 and *ret, -EAGAIN when fewer than MSG_HDR_LEN bytes are there,
 * -EBADMSG for an unknown type, -EMSGSIZE for a body over its bound.
 */
int msg_frame_len(const uint8_t *p, size_t n, size_t *ret);

/* Parse exactly one frame p[n] into *ret (written only on success). */
int msg_parse(const uint8_t *p, size_t n, struct msg *ret);

/*
 * Append the frame for m to w. Returns 0, -EINVAL for a field outside the
 * bounds msg_parse() enforces, -EMSGSIZE when w is too small (w is then
 * sticky-failed).
 */
int msg_encode(struct wbuf *w, const struct msg *m);

/*
 * In-place framing: begin writes the header with a placeholder length and
 * returns its offset in *ret_off; end patches the length and checks it
 * against msg_body_max(). Likewise for one item: begin writes the method,
 * instance and a placeholder length, end patches it (-EMSGSIZE above the
 * method's bound for that message and instance).
 */
int msg_frame_begin(struct wbuf *w, uint16_t version, uint8_t type, size_t *ret_off);
int msg_frame_end(struct wbuf *w, size_t off);
int msg_item_begin(struct wbuf *w, uint16_t method, uint8_t instance, size_t *ret_off);
int msg_item_end(struct wbuf *w, size_t off);

/*
 * Bound of the payload of method for this message type and instance (the
 * method's msg1_max or msg2_max): SELECT/reverse and KEX1/forward carry a
 * msg1, KEX1/reverse and KEX2/forward a msg2. Returns 0 and *ret,
 * -EBADMSG for a combination that does not occur, -EOPNOTSUPP for a
 * method this build does not have.
 */
int msg_item_max(uint8_t type, uint16_t method, uint8_t instance, size_t *ret);

/* True when p[n] is printable ASCII without space (node ids), 1..MSG_NODE_ID_MAX. */
bool msg_node_id_valid(const uint8_t *p, size_t n);

#endif
