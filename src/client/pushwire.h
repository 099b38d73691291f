/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The push socket's messages (docs/push.md), shared by mfsd (src/push/) and
 * libmfs-client (src/client/client.c). No I/O, no allocation.
 *
 *   u32 len ‖ u8 type ‖ body        len = 1 + |body|, 1..PUSHWIRE_MSG_MAX
 *
 * pushwire_frame_len() cuts a stream into messages; pushwire_parse() checks
 * one message strictly (every length and range, no trailing bytes) into a
 * struct pushwire_msg whose pointers point into the input;
 * pushwire_encode() writes one. Parsing never changes anything but *ret,
 * and only on success.
 */
#ifndef MFS_CLIENT_PUSHWIRE_H
#define MFS_CLIENT_PUSHWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PUSHWIRE_VERSION 1
#define PUSHWIRE_HDR_LEN 4
#define PUSHWIRE_MSG_MAX 512		/* len: type + body */
#define PUSHWIRE_FRAME_MAX (PUSHWIRE_HDR_LEN + PUSHWIRE_MSG_MAX)
#define PUSHWIRE_KEY_ID_LEN 16
#define PUSHWIRE_KEY_MIN 16
#define PUSHWIRE_KEY_MAX 64
#define PUSHWIRE_NAME_MAX 32		/* client name */
#define PUSHWIRE_PEER_MAX 64
#define PUSHWIRE_CLASS_MAX 32
#define PUSHWIRE_TEXT_MAX 128		/* ERROR text */
#define PUSHWIRE_AHEAD_MAX 16

enum pushwire_type {
	/* client -> daemon */
	PW_HELLO = 0x01,
	PW_GET_KEY = 0x02,
	PW_GET_KEY_BY_ID = 0x03,
	PW_SUBSCRIBE = 0x04,
	PW_INSTALLED = 0x05,
	PW_IN_USE = 0x06,
	PW_USAGE = 0x07,
	/* daemon -> client */
	PW_HELLO_OK = 0x81,
	PW_KEY = 0x82,
	PW_SUBSCRIBED = 0x83,
	PW_RETIRE = 0x84,
	PW_PEER_INSTALLED = 0x85,
	PW_ERROR = 0x86,
};

enum pushwire_error {
	PWE_MALFORMED = 1,
	PWE_VERSION = 2,
	PWE_DENIED = 3,
	PWE_UNKNOWN = 4,
	PWE_NO_KEY = 5,
	PWE_ALREADY = 6,
	PWE_EXPIRED = 7,
	PWE_REVOKED = 8,
	PWE_UNAVAILABLE = 9,
	PWE_STATE = 10,
	PWE_BUSY = 11,
	PWE_MAX = 11,
};

enum pushwire_retire {
	PWR_VOLUME = 1,
	PWR_SOFT_EXPIRY = 2,
	PWR_HARD_EXPIRY = 3,
	PWR_WITHDRAWN = 4,
	PWR_MAX = 4,
};

/* A length-delimited string inside the input: not NUL-terminated. */
struct pushwire_str {
	const char *p;
	size_t len;
};

/* One parsed message. Which fields are set depends on type (docs/push.md). */
struct pushwire_msg {
	enum pushwire_type type;
	uint16_t version_min, version_max;	/* HELLO */
	uint16_t version;			/* HELLO_OK */
	struct pushwire_str name;		/* HELLO */
	struct pushwire_str peer, class_name;	/* GET_KEY, GET_KEY_BY_ID, SUBSCRIBE */
	uint8_t direction;			/* SUBSCRIBE, SUBSCRIBED, KEY: 0 out, 1 in */
	uint8_t ahead;				/* SUBSCRIBE, SUBSCRIBED, HELLO_OK (max) */
	const uint8_t *key_id;			/* GET_KEY_BY_ID, INSTALLED, IN_USE, USAGE,
						   KEY, RETIRE, PEER_INSTALLED: 16 bytes */
	uint64_t bytes, packets;		/* USAGE */
	int64_t not_before, soft_expiry, hard_expiry;	/* KEY */
	const uint8_t *key;			/* KEY: key_len bytes (secret) */
	size_t key_len;
	uint8_t reason;				/* RETIRE */
	uint8_t code;				/* ERROR */
	bool fatal;				/* ERROR */
	struct pushwire_str text;		/* ERROR */
};

/*
 * The length of the first frame of buf[0..n): 0 when more bytes are needed,
 * PUSHWIRE_HDR_LEN + len when a whole frame is there, -EMSGSIZE when the
 * header announces a len of 0 or over PUSHWIRE_MSG_MAX.
 */
int pushwire_frame_len(const uint8_t *buf, size_t n);

/*
 * Parse one whole frame (header included) strictly. Returns 0 (and *ret),
 * -EBADMSG (malformed: unknown type, bad length, value out of range,
 * trailing bytes) or -EMSGSIZE.
 */
int pushwire_parse(const uint8_t *frame, size_t n, struct pushwire_msg *ret);

/*
 * Encode m (the fields its type uses) as one frame into out[0..cap).
 * Returns the frame length, -EMSGSIZE when it does not fit, -EINVAL when a
 * field is out of range (the same checks as the parser).
 */
int pushwire_encode(const struct pushwire_msg *m, uint8_t *out, size_t cap);

/* True for [!-~]{1,max} (printable ASCII, no blank). */
bool pushwire_token_valid(const char *p, size_t len, size_t max);

/* errno for a wire error code (positive: -EACCES ...), and back. */
int pushwire_error_errno(uint8_t code);
uint8_t pushwire_errno_error(int err);

#endif
