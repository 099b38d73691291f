/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ETSI TS 103 744 (V1.2.1, "Quantum-safe Hybrid Key Establishment") building
 * blocks: message formatting f, context formatting cahb_f / cb_f, the KDFs
 * of §7.4, the PRF of §7.3, CatKDF (§8.2) and CasKDF (§8.3).
 *
 * Every primitive comes from OpenSSL 3.5: HKDF and the SP 800-56C one-step
 * KDF (EVP_KDF "HKDF" / "SSKDF" with HMAC or KMAC), HMAC and KMAC (EVP_MAC),
 * SHA-2 (EVP_MD). This file only arranges their inputs the way the standard
 * and its reference vectors (tests/vectors/README.md §3) do.
 *
 * Notation: BE32(x) is a 4-byte big-endian integer, ‖ is concatenation.
 *
 *   f(cid, x1..xn) = cid ‖ BE32(2·|x1|) ‖ x1 ‖ … ‖ BE32(2·|xn|) ‖ xn
 *                    (cid: 2 bytes, no length; the length field is twice the
 *                     byte length, as in the reference code, which counts hex
 *                     digits. Still injective: |xi| = field / 2.)
 *   cb_f(a, b, c)  = BE32(|a|) ‖ a ‖ BE32(|b|) ‖ b ‖ BE32(|c|) ‖ c   (byte lengths)
 *   cahb_f(a, b, c) = H(cb_f(a, b, c))
 *
 *   KDF(secret, label, info, L):
 *     HKDF-H   RFC 5869: Expand(Extract(salt = label, IKM = secret), info, L)
 *     HMAC-H   SP 800-56C one-step: HMAC-H(key = label, BE32(i) ‖ secret ‖ info), i = 1, 2, …
 *     KMAC#    SP 800-56C one-step: KMAC#(K = label, BE32(1) ‖ secret ‖ info, L, S = "KDF")
 *
 *   PRF(s; k, MA, MB):
 *     HMAC-H   HMAC-H(key = s, cahb_f(k, MA, MB))                 (hlen bytes)
 *     KMAC#    KMAC#(K = s, cb_f(k, MA, MB), L = cs, S = "")      (cs bytes)
 *
 *   CatKDF: key = KDF(psk ‖ k1 ‖ … ‖ kn, label, g(context, MA, MB), L)
 *     with g = cahb_f for HKDF/HMAC and g = cb_f for KMAC (not hashed).
 *   CasKDF: chain_0 = psk (KMAC: cs zero bytes when psk is empty, since KMAC
 *     keys must be >= 4 bytes); per round i:
 *       round_i = PRF(chain_{i-1}; k_i, MA_i, MB_i)
 *       chain_i ‖ key_i = KDF(round_i, label_i, info_i, hlen + L_i)
 *     output key_n.
 *
 * hlen = 32 (SHA-256, KMAC128) or 48 (SHA-384, KMAC256); for KMAC it is the
 * chain-secret length cs.
 *
 * All functions return 0 or a negative errno: -EINVAL for a bad argument
 * (unknown KDF, NULL with non-zero length, output length 0), -EMSGSIZE when
 * a bound below is exceeded, -ENOMEM, -EIO when OpenSSL fails. Secret
 * outputs are zeroed on failure; secret intermediates are always wiped.
 */
#ifndef MFS_CRYPTO_ETSI_KDF_H
#define MFS_CRYPTO_ETSI_KDF_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/iov.h"
#include "crypto/hash.h"

/* Concatenated KDF secret (psk ‖ k1 ‖ … ‖ kn), flattened on the stack. */
#define ETSI_SECRET_MAX 4096
/* Label (salt / MAC key). OpenSSL's KMAC takes keys of 4..512 bytes. */
#define ETSI_LABEL_MAX 512
/* Derived length L (CasKDF derives hlen + L internally). */
#define ETSI_KEY_MAX_LEN 1024
/* Any one public field (context, MA, MB, info, one x_i of f). */
#define ETSI_FIELD_MAX (1U << 21)
/* Items of f(), secrets of CatKDF, rounds of CasKDF. */
#define ETSI_ITEMS_MAX 64
#define ETSI_ROUNDS_MAX 16
/* Largest hlen / cs. */
#define ETSI_HLEN_MAX 48

enum etsi_kdf {
	ETSI_KDF_HKDF_SHA256,	/* cid 1xxx */
	ETSI_KDF_HKDF_SHA384,	/* cid 2xxx */
	ETSI_KDF_HMAC_SHA256,	/* cid 4xxx */
	ETSI_KDF_HMAC_SHA384,	/* cid 5xxx */
	ETSI_KDF_KMAC128,	/* cid 7xxx */
	ETSI_KDF_KMAC256,	/* cid 8xxx */
};

/* hlen (HKDF/HMAC) or cs (KMAC): 32 or 48; 0 for an unknown value. */
size_t etsi_kdf_hlen(enum etsi_kdf kdf);
/* The hash of cahb_f for HKDF/HMAC, and the hash whose strength KMAC matches. */
enum hash_alg etsi_kdf_hash(enum etsi_kdf kdf);

/*
 * Length of f(cid, x[0..n-1]): 2 + Σ (4 + |x_i|). -EMSGSIZE if an item is
 * over ETSI_FIELD_MAX or n > ETSI_ITEMS_MAX; writes *ret only on success.
 */
int etsi_msg_format_len(const struct cbuf *x, size_t n, size_t *ret);
/* Append f(cid, x[0..n-1]) to out. On failure out is sticky-failed. */
int etsi_msg_format(uint16_t cid, const struct cbuf *x, size_t n, struct wbuf *out);

/* Append cb_f(a, b, c) to out. */
int etsi_ctx_concat(struct cbuf a, struct cbuf b, struct cbuf c, struct wbuf *out);
/* out[hash_len(h)] = cahb_f(a, b, c); h is SHA-256 or SHA-384. */
int etsi_ctx_hash(enum hash_alg h, struct cbuf a, struct cbuf b, struct cbuf c, uint8_t *out);

/*
 * KDF(secret, label, info, L) of §7.4, secret = secret[0] ‖ … ‖ secret[n-1]
 * (Σ ≤ ETSI_SECRET_MAX), 1 ≤ out_len ≤ ETSI_KEY_MAX_LEN + ETSI_HLEN_MAX.
 * An empty label means the KDF's default salt/key (HKDF, HMAC: hlen zero
 * bytes); KMAC needs a label of 4..ETSI_LABEL_MAX bytes.
 */
int etsi_kdf(enum etsi_kdf kdf, struct cbuf label, const struct cbuf *secret, size_t n,
	     struct cbuf info, uint8_t *out, size_t out_len);

/* PRF(key; k, MA, MB) of §7.3: out[etsi_kdf_hlen(kdf)]. key may be empty (not for KMAC). */
int etsi_prf(enum etsi_kdf kdf, struct cbuf key, struct cbuf k, struct cbuf ma, struct cbuf mb,
	     uint8_t *out);

/* CatKDF inputs. ma and mb are already formatted, normally by etsi_msg_format(). */
struct etsi_catkdf_in {
	const struct cbuf *secret;	/* psk (may be empty), k1, …, kn, concatenated in order */
	size_t n_secret;
	struct cbuf label;
	struct cbuf context;
	struct cbuf ma;
	struct cbuf mb;
};

/* CatKDF (§8.2): out[out_len], 1 ≤ out_len ≤ ETSI_KEY_MAX_LEN. out zeroed on failure. */
int etsi_catkdf(enum etsi_kdf kdf, const struct etsi_catkdf_in *in, uint8_t *out, size_t out_len);

/* One CasKDF round. */
struct etsi_caskdf_round {
	struct cbuf secret;	/* k_i */
	struct cbuf label;	/* label_i */
	struct cbuf info;	/* info_i */
	struct cbuf ma;		/* MA_i, formatted */
	struct cbuf mb;		/* MB_i, formatted */
	size_t key_len;		/* L_i; the last round uses out_len (key_len must be 0 or out_len) */
};

/*
 * CasKDF (§8.3) over n rounds (1 ≤ n ≤ ETSI_ROUNDS_MAX): out[out_len] =
 * key_material_n. chain_0 = psk: for HKDF/HMAC any length up to
 * ETSI_SECRET_MAX (empty = zero-length HMAC key); for KMAC 4..ETSI_LABEL_MAX
 * bytes, or empty for cs zero bytes (as the reference vectors do). An
 * intermediate key_material_i is the output of the first i rounds: call
 * again with n = i. out zeroed on failure.
 */
int etsi_caskdf(enum etsi_kdf kdf, struct cbuf psk, const struct etsi_caskdf_round *rounds,
		size_t n, uint8_t *out, size_t out_len);

#endif
