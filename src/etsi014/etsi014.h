/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ETSI GS QKD 014 V1.1.1 codec: the REST key delivery API of a key manager
 * (KME), as data. No I/O, no threads, no allocation that outlives a call.
 *
 * Three endpoints (spec §5.2, Tables 2-8):
 *
 *   GET       /api/v1/keys/{slave_SAE_ID}/status      -> Status
 *   GET|POST  /api/v1/keys/{slave_SAE_ID}/enc_keys    -> Key container
 *   GET|POST  /api/v1/keys/{master_SAE_ID}/dec_keys   -> Key container
 *
 * etsi014_parse_request() turns one HTTP request (method, path, query,
 * Content-Type, body) into a struct etsi014_request, or fills a struct
 * etsi014_error with the HTTP status (400, 404, 405) and the message the
 * response must carry. The request is validated against struct
 * etsi014_limits, the values the Status object advertises: 1 <= number <=
 * max_key_per_request, min_key_size <= size <= max_key_size, size a multiple
 * of 8 ("size shall be a multiple of 8", spec §6.2), at most
 * max_SAE_ID_count additional_slave_SAE_IDs, no extension_mandatory
 * ("not all extension_mandatory parameters are supported"), at most
 * max_key_per_request key IDs, no duplicate IDs. Unknown top-level members
 * are refused (400); unknown members inside a key_IDs[] entry are ignored
 * (some clients put master_SAE_ID there). extension_optional is accepted
 * and ignored (spec §6.2 allows it).
 *
 * The formatters write the response bodies with the spec's exact member
 * names (lower-case "keys", "key_ID", ...) into a capped struct wbuf. Key
 * bytes are base64-encoded in constant time; the caller's output buffer then
 * holds key material and must be secret memory that the caller wipes.
 *
 * Bounds: bodies up to ETSI014_BODY_MAX bytes, SAE and KME IDs up to
 * ETSI014_ID_MAX printable ASCII bytes (0x20..0x7e), keys up to
 * ETSI014_KEY_MAX_BITS, ETSI014_KEYS_MAX keys per request. Every parser
 * returns a negative errno and leaves its ret_* output untouched on failure.
 *
 * This module knows nothing of the caller's key source: mfsd's key supply,
 * the QKD simulator's KSA and tests use it alike (see server.h for the
 * HTTPS face).
 */
#ifndef MFS_ETSI014_ETSI014_H
#define MFS_ETSI014_ETSI014_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define ETSI014_ID_MAX 64		/* SAE / KME ID bytes, printable ASCII */
#define ETSI014_KEY_ID_LEN 16		/* UUID, binary */
#define ETSI014_KEY_ID_STR_LEN 36	/* canonical text without NUL */
#define ETSI014_KEY_MAX_BITS 8192	/* largest key size we ever serve */
#define ETSI014_KEY_MAX_BYTES (ETSI014_KEY_MAX_BITS / 8)
#define ETSI014_KEYS_MAX 1024		/* keys or key IDs per request, hard cap */
#define ETSI014_SAE_IDS_MAX 16		/* additional_slave_SAE_IDs, hard cap */
#define ETSI014_BODY_MAX 65536		/* request body bytes */
#define ETSI014_QUERY_MAX 1024		/* query string bytes */
#define ETSI014_PATH_MAX 512		/* path bytes (still URL-encoded) */
#define ETSI014_MSG_MAX 200		/* error message bytes */
#define ETSI014_PATH_PREFIX "/api/v1/keys/"

/* The spec's error strings (§6.2, §6.4), exact. */
#define ETSI014_ERR_SIZE_MULT8 "size shall be a multiple of 8"
#define ETSI014_ERR_EXT_MANDATORY "not all extension_mandatory parameters are supported"
#define ETSI014_ERR_EXT_MANDATORY_UNMET "not all extension_mandatory request options could be met"
#define ETSI014_ERR_KEYS_NOT_FOUND "one or more keys specified are not found on KME"

enum etsi014_op {
	ETSI014_STATUS = 0,
	ETSI014_ENC_KEYS = 1,
	ETSI014_DEC_KEYS = 2,
};

/* "status", "enc_keys", "dec_keys". */
const char *etsi014_op_name(enum etsi014_op op);

enum etsi014_method {
	ETSI014_GET = 0,
	ETSI014_POST = 1,
	ETSI014_OTHER = 2,	/* anything else: 405 */
};

/* What the server advertises in Status and enforces (sizes in bits). */
struct etsi014_limits {
	unsigned key_size;		/* default size, multiple of 8 */
	unsigned min_key_size;		/* multiple of 8, >= 8 */
	unsigned max_key_size;		/* multiple of 8, <= ETSI014_KEY_MAX_BITS */
	unsigned max_key_per_request;	/* 1..ETSI014_KEYS_MAX */
	unsigned max_SAE_ID_count;	/* 0..ETSI014_SAE_IDS_MAX; 0 = no multicast */
};
/* 0 when consistent (8 <= min <= key_size <= max, all multiples of 8, ...), else -EINVAL. */
int etsi014_limits_check(const struct etsi014_limits *l);

/* Error object: HTTP status and the "message" member; one optional detail pair. */
struct etsi014_error {
	int status;			/* 400, 401, 404, 405, 503; 0 = not set */
	char message[ETSI014_MSG_MAX + 1];
	char detail_name[64];		/* "" = no "details" member */
	char detail_value[ETSI014_MSG_MAX + 1];
};
/* Set status and message (printf-style, truncated to ETSI014_MSG_MAX); clears the detail. */
__attribute__((format(printf, 3, 4)))
void etsi014_error_set(struct etsi014_error *e, int status, const char *fmt, ...);

/* Key request (enc_keys), after defaults: number and size are always set. */
struct etsi014_key_request {
	unsigned number;		/* 1..max_key_per_request (default 1) */
	unsigned size;			/* bits, min..max, multiple of 8 (default key_size) */
	bool has_size;			/* size was given (else the default was filled in) */
	size_t n_additional;		/* additional_slave_SAE_IDs */
	char additional[ETSI014_SAE_IDS_MAX][ETSI014_ID_MAX + 1];
	bool has_ext_optional;		/* extension_optional was given (ignored) */
};

/* Key IDs (dec_keys). */
struct etsi014_key_ids {
	size_t n;			/* 1..max_key_per_request */
	uint8_t id[ETSI014_KEYS_MAX][ETSI014_KEY_ID_LEN];
};

/* One parsed request. */
struct etsi014_request {
	enum etsi014_op op;
	char sae_id[ETSI014_ID_MAX + 1];	/* the path's SAE ID, URL-decoded */
	union {
		struct etsi014_key_request enc;	/* op == ETSI014_ENC_KEYS */
		struct etsi014_key_ids dec;	/* op == ETSI014_DEC_KEYS */
	} u;
};

/* One HTTP request as the server saw it (all borrowed). */
struct etsi014_http_in {
	enum etsi014_method method;
	const char *path;		/* NUL-terminated, without the query */
	const char *query;		/* NUL-terminated, without '?'; NULL = none */
	const char *content_type;	/* NULL = header absent */
	const uint8_t *body;		/* body_len bytes, not NUL-terminated */
	size_t body_len;
};

/*
 * Parse and validate one request. Returns 0 and fills *ret, or a negative
 * errno with *err filled: -ENOENT (404: not an endpoint), -EOPNOTSUPP (405:
 * method not allowed for the endpoint; err->detail_name "Allow" lists the
 * allowed ones in detail_value, for the Allow header), -EBADMSG /
 * -EMSGSIZE / -EINVAL (400, with a message naming the offending item).
 *
 * GET is accepted with a query for enc_keys (number, size; decimal digits
 * only) and dec_keys (exactly one key_ID), and with no body; POST needs a
 * JSON body (an empty body counts as {} for enc_keys) with Content-Type
 * application/json (or none), and no query. status is GET only.
 */
int etsi014_parse_request(const struct etsi014_http_in *in, const struct etsi014_limits *lim,
			  struct etsi014_request *ret, struct etsi014_error *err);

/* Status object (spec Table 9). IDs: printable ASCII, at most ETSI014_ID_MAX bytes. */
struct etsi014_status {
	char source_KME_ID[ETSI014_ID_MAX + 1];
	char target_KME_ID[ETSI014_ID_MAX + 1];
	char master_SAE_ID[ETSI014_ID_MAX + 1];
	char slave_SAE_ID[ETSI014_ID_MAX + 1];
	unsigned key_size;
	uint64_t stored_key_count;
	uint64_t max_key_count;
	unsigned max_key_per_request;
	unsigned max_key_size;
	unsigned min_key_size;
	unsigned max_SAE_ID_count;
};

/* One key of a key container: id (binary UUID) and len bytes of key. */
struct etsi014_key {
	uint8_t id[ETSI014_KEY_ID_LEN];
	size_t len;			/* 1..ETSI014_KEY_MAX_BYTES */
	uint8_t key[ETSI014_KEY_MAX_BYTES];
};

/* Bytes etsi014_format_keys() needs at most for n keys of at most key_bytes each. */
size_t etsi014_keys_json_max(size_t n, size_t key_bytes);

/*
 * Response bodies, appended to w (wbuf_error(w) tells if the cap was hit:
 * -EMSGSIZE). format_status and format_error return -EINVAL for an ID or
 * message that is not printable ASCII. format_keys writes
 * {"keys":[{"key_ID":"...","key":"<base64>"},...]} and puts key material
 * into w (the caller wipes it).
 */
int etsi014_format_status(struct wbuf *w, const struct etsi014_status *st);
int etsi014_format_keys(struct wbuf *w, const struct etsi014_key *keys, size_t n);
int etsi014_format_error(struct wbuf *w, const struct etsi014_error *e);

/*
 * Key IDs: canonical lower-case UUID text (8-4-4-4-12). parse accepts
 * either case, exactly ETSI014_KEY_ID_STR_LEN characters; -EBADMSG else.
 */
void etsi014_key_id_format(const uint8_t id[static ETSI014_KEY_ID_LEN],
			   char out[static ETSI014_KEY_ID_STR_LEN + 1]);
int etsi014_key_id_parse(const char *s, size_t len, uint8_t ret[static ETSI014_KEY_ID_LEN]);

/*
 * Base64 (RFC 4648 §4, with padding), constant-time in the data (no table
 * lookups or branches on key bytes). encode writes 4*ceil(len/3) characters
 * plus NUL (out_size must be larger; -EMSGSIZE otherwise) and returns the
 * character count. decode accepts exactly that form (padding required, no
 * whitespace) and returns the byte count; -EBADMSG on a bad character or
 * length, -EMSGSIZE when out is too small. On failure out is wiped.
 */
#define ETSI014_B64_LEN(n) (((n) + 2) / 3 * 4)
int etsi014_base64_encode(char *out, size_t out_size, const uint8_t *in, size_t len);
int etsi014_base64_decode(uint8_t *out, size_t out_size, const char *in, size_t len);

/* Printable ASCII 0x20..0x7e, 1..ETSI014_ID_MAX bytes. */
bool etsi014_id_valid(const char *s);

/*
 * Client side: the requests an SAE sends and the responses a KME returns.
 *
 * format_key_request writes a Key request {"number":N,"size":S} (either
 * member left out when 0); format_key_ids a Key IDs request
 * {"key_IDs":[{"key_ID":"..."},...]} of n (1..ETSI014_KEYS_MAX) IDs.
 *
 * The parsers take a response body of at most ETSI014_RESP_MAX bytes
 * (untrusted: the KME may be anything) and fill their output only on
 * success. parse_status needs every member of Table 9 except
 * status_extension, with the right JSON type; IDs must be valid
 * (etsi014_id_valid), numbers within 0..2^53. parse_keys reads a Key
 * container: "keys" (lower case; "Keys", which one implementation sends, is
 * accepted when "keys" is absent), each entry with a UUID "key_ID" and a
 * base64 "key" of 1..ETSI014_KEY_MAX_BYTES bytes (decoded in constant time
 * into keys[i], which the caller wipes, as it wipes body), at most max
 * entries; *ret_n is the count. Unknown members are ignored (spec: for future use). parse_error
 * copies "message" (printable, truncated to ETSI014_MSG_MAX). -EBADMSG on
 * malformed input, -EMSGSIZE when too large or more than max keys.
 */
#define ETSI014_RESP_MAX (4U << 20)
int etsi014_format_key_request(struct wbuf *w, unsigned number, unsigned size);
int etsi014_format_key_ids(struct wbuf *w, const uint8_t (*ids)[ETSI014_KEY_ID_LEN], size_t n);
int etsi014_parse_status(const uint8_t *body, size_t len, struct etsi014_status *ret);
int etsi014_parse_keys(const uint8_t *body, size_t len, struct etsi014_key *keys, size_t max,
		       size_t *ret_n);
int etsi014_parse_error(const uint8_t *body, size_t len, char msg[static ETSI014_MSG_MAX + 1]);

#endif
