/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MFS key combiner: one key from the secrets of several key-exchange
 * methods (ML-KEM, Classic McEliece, QKD, PSK, …), bound to everything both
 * peers saw. Full description, byte layouts and rationale: docs/combiner.md.
 *
 * Modes:
 *
 *   COMBINER_CATKDF (default) — ETSI TS 103 744 §8.2 CatKDF, HKDF-SHA-384:
 *       K = HKDF-SHA-384(salt = label, IKM = ss_1 ‖ … ‖ ss_n,
 *                        info = cahb_f(context, MA, MB), L)
 *   COMBINER_CASKDF — ETSI TS 103 744 §8.3 CasKDF, HKDF-SHA-384, one round
 *       per method in negotiated order, chain_0 empty:
 *       round i: secret ss_i, label_i = label, MA_i, MB_i (method i only),
 *                info_i = BE16(i) ‖ BE16(n) ‖ context, L_i = L
 *   COMBINER_XOR_ITS — "ITS-preserving": every input marked its (e.g. a
 *       QKD key) is XOR-ed onto a CatKDF key over the other inputs:
 *       K = CatKDF(non-ITS secrets, full binding) ⊕ its_1 ⊕ … ⊕ its_m
 *       Needs at least one ITS input; each must be exactly L bytes and no
 *       two may be equal. Weaker than CatKDF in every respect except ITS:
 *       read "Why XOR is weaker" in docs/combiner.md before using it.
 *
 * Encodings (all integers big-endian, every variable field length-prefixed,
 * every list preceded by its count; cid is the mode's code point below):
 *
 *   MA = f(cid, BE16(id_1), msg1_1, …, BE16(id_n), msg1_n)     ETSI f, all methods
 *   MB = f(cid, BE16(id_1), msg2_1, …, BE16(id_n), msg2_n)
 *   context =
 *       u16 version ‖ u16 cid ‖ u16 L ‖ vec16 label ‖ vec16 purpose ‖
 *       u16 n_suite ‖ u16 suite[n_suite] ‖
 *       u16 n ‖ n × (u16 id ‖ u8 its ‖ u16 secret_len) ‖
 *       vec16 id_init ‖ vec16 id_resp ‖ vec16 nonce_init ‖ vec16 nonce_resp ‖
 *       u16 n_extra ‖ n_extra × vec16 extra
 *   (vec16 x = u16 |x| ‖ x; f(cid, x…) = cid ‖ (BE32(2·|x_i|) ‖ x_i)…)
 *
 * Extra *secret* inputs (a TLS exporter value, a second PSK) are modelled as
 * further methods with a pseudo id ≥ COMBINER_ID_SECRET_BASE; their msg1 /
 * msg2 carry whatever public value names them (may be empty).
 */
#ifndef MFS_CRYPTO_COMBINER_H
#define MFS_CRYPTO_COMBINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/iov.h"
#include "base/secret.h"

enum combiner_mode {
	COMBINER_CATKDF = 0,	/* default */
	COMBINER_CASKDF = 1,
	COMBINER_XOR_ITS = 2,
};

/*
 * TS 103 744 cipher-suite ids ("cid", the first 2 bytes of f()) for the MFS
 * modes. ETSI's ids are four decimal digits (KDF, curve, ML-KEM level,
 * combiner, e.g. 0x2221); 0xFCxx has hex digits ETSI never uses.
 */
#define COMBINER_CID_CATKDF 0xFC01
#define COMBINER_CID_CASKDF 0xFC02
#define COMBINER_CID_XOR_ITS 0xFC03

/* Default label: prefix-free (length-prefixed in the context) and versioned. */
#define COMBINER_LABEL_DEFAULT "IOWN-MFS-KC v1"

/* Pseudo method ids for extra secret inputs; never used by a real method. */
#define COMBINER_ID_SECRET_BASE 0xFF00
#define COMBINER_ID_TLS_EXPORTER 0xFF01

/* Bounds. A method secret is fixed-length; messages cover an ML-KEM-1024 ek (1568 B). */
#define COMBINER_MAX_METHODS 8
#define COMBINER_MAX_SUITE 16
#define COMBINER_MAX_EXTRA 8
#define COMBINER_SECRET_MAX 128
#define COMBINER_MSG_MAX 8192
#define COMBINER_LABEL_MAX 64
#define COMBINER_PURPOSE_MAX 64
#define COMBINER_IDENTITY_MAX 256
#define COMBINER_NONCE_MIN 16
#define COMBINER_NONCE_MAX 64
#define COMBINER_EXTRA_MAX 1024
#define COMBINER_OUT_MIN 16
#define COMBINER_OUT_MAX 128

/* One input, in negotiated order. Nothing here is optional. */
struct combiner_method {
	uint16_t id;			/* method code point (enum kex_method_id) or pseudo id */
	bool its;			/* information-theoretically secure input (QKD key) */
	const struct secret *secret;	/* the method's shared secret; caller owns */
	size_t expected_len;		/* the method's fixed secret length; must equal secret->len */
	struct cbuf msg1;		/* initiator's public value(s): ek, pk hash, PSK ID, key IDs… */
	struct cbuf msg2;		/* responder's: ciphertext(s), key-ID acknowledgement… */
};

struct combiner_input {
	enum combiner_mode mode;
	uint16_t version;		/* protocol version */
	struct cbuf label;		/* 1..COMBINER_LABEL_MAX bytes, e.g. COMBINER_LABEL_DEFAULT */
	struct cbuf purpose;		/* 1..COMBINER_PURPOSE_MAX: what the key is for */
	struct cbuf id_init;		/* initiator identity, 1..COMBINER_IDENTITY_MAX */
	struct cbuf id_resp;		/* responder identity */
	struct cbuf nonce_init;		/* COMBINER_NONCE_MIN..COMBINER_NONCE_MAX */
	struct cbuf nonce_resp;
	const uint16_t *suite;		/* negotiated suite: ordered method ids, 1..COMBINER_MAX_SUITE */
	size_t n_suite;
	const struct combiner_method *methods;	/* 1..COMBINER_MAX_METHODS */
	size_t n_methods;
	const struct cbuf *extra;	/* further public items to bind, 0..COMBINER_MAX_EXTRA */
	size_t n_extra;			/* each 0..COMBINER_EXTRA_MAX bytes */
};

/* Zero *in, then set mode = COMBINER_CATKDF and label = COMBINER_LABEL_DEFAULT. */
void combiner_input_init(struct combiner_input *in);

/*
 * Derive out[out_len] (COMBINER_OUT_MIN..COMBINER_OUT_MAX) from in.
 * Returns 0, or -EINVAL (missing/invalid field, secret length ≠
 * expected_len, all-zero secret, XOR mode without an ITS input, ITS length
 * ≠ out_len, two equal ITS inputs), -EMSGSIZE (a count or size over its
 * bound), -ENOMEM, -EIO. out is zeroed on any failure. No secret is copied
 * except into wiped stack buffers.
 */
int combiner_derive(const struct combiner_input *in, uint8_t *out, size_t out_len);

/* The public encodings that derive feeds to CatKDF (exposed for tests and tools). */
struct combiner_encoding {
	uint8_t *ctx;	/* context */
	size_t ctx_len;
	uint8_t *ma;	/* MA */
	size_t ma_len;
	uint8_t *mb;	/* MB */
	size_t mb_len;
};

/*
 * Validate in and out_len exactly as combiner_derive() does and encode the
 * context, MA and MB. On success *ret holds three heap buffers; release
 * them with combiner_encoding_done(). *ret is written only on success.
 */
int combiner_encode(const struct combiner_input *in, size_t out_len,
		    struct combiner_encoding *ret);
/* Free the buffers and zero *enc; NULL-safe and idempotent. */
void combiner_encoding_done(struct combiner_encoding *enc);

/* The cid of a mode, 0 for an unknown mode. */
uint16_t combiner_cid(enum combiner_mode mode);

#endif
