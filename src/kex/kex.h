/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key-exchange methods: one const vtable per method, a static registry.
 *
 * A method is a two-message exchange between an initiator and a responder
 * that ends with both holding secret_len identical secret bytes. Methods do
 * no I/O (BearSSL engine style): keys and PSKs reach them through struct
 * kex_env, messages through struct rd / struct wbuf.
 *
 * Call order (each call at most once, in this order; anything else -EPROTO):
 *
 *   initiator                               responder
 *   ---------                               ---------
 *   init(ctx, env, KEX_INITIATOR)           init(ctx, env, KEX_RESPONDER)
 *   msg1(ctx, out)          --- msg1 --->   msg2(ctx, msg1, out)
 *   finish(ctx, msg2)       <--- msg2 ---
 *   secret(ctx, ss)                         secret(ctx, ss)
 *   done(ctx)                               done(ctx)
 *
 * ctx is caller-allocated, ctx_size bytes, with no interior pointers kept
 * across calls by the caller. done() wipes it and releases what init()
 * took; it is safe on a zeroed, half-initialized or failed ctx.
 *
 * Any failure aborts the exchange: the caller calls done() and discards the
 * whole multi-method exchange (no fallback). secret() fails with -EPROTO
 * before the exchange is complete and after the secret has been taken once;
 * on that failure it zeroes ret_ss[secret_len], as every secret output is
 * zeroed on failure (a caller must not reuse one buffer for two calls).
 *
 * Every message is bounded: msg1 <= msg1_max, msg2 <= msg2_max. A received
 * message of the wrong length is -EBADMSG; one that fails a key check is
 * -EKEYREJECTED.
 */
#ifndef MFS_KEX_KEX_H
#define MFS_KEX_KEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/secret.h"

enum kex_family {
	KEX_FAMILY_LATTICE,	/* ML-KEM (module-LWE) */
	KEX_FAMILY_CODE,	/* Classic McEliece (Goppa codes) */
	KEX_FAMILY_QKD,		/* quantum key distribution */
	KEX_FAMILY_PSK,		/* pre-shared symmetric key */
	KEX_FAMILY_CLASSICAL,	/* X25519: hybrid use only, never a PQ factor */
};

enum kex_role {
	KEX_INITIATOR,
	KEX_RESPONDER,
};

/* Wire codepoints: never reused. See docs/methods.md. */
enum kex_method_id {
	KEX_ID_MLKEM768 = 0x0101,
	KEX_ID_MLKEM1024 = 0x0102,
	KEX_ID_MCELIECE460896 = 0x0201,
	KEX_ID_MCELIECE6688128 = 0x0202,
	KEX_ID_QKD014 = 0x0301,		/* QKD keys from an ETSI GS QKD 014 KME */
	KEX_ID_PSK = 0x0401,
	KEX_ID_X25519 = 0x0501,
};

#define KEX_SECRET_LEN 32	/* every method yields 32 secret bytes */
#define KEX_PSK_ID_MAX 64	/* [A-Za-z0-9._-]{1,64} */
#define KEX_PSK_MIN_LEN 32	/* 256 bits */
#define KEX_PSK_MAX_LEN 1024
#define KEX_QKD_ID_MAX 64	/* KME and SAE IDs: printable ASCII, 1..64 bytes */
#define KEX_QKD_KEY_ID_LEN 16	/* an ETSI 014 key_ID (UUID), binary */
#define KEX_QKD_KEY_MIN 32	/* 256 bits: a QKD key shorter than that is refused */
#define KEX_QKD_KEY_MAX 1024	/* 8192 bits */

/*
 * Which QKD key an exchange uses: the KME that handed it to the master SAE
 * with enc_keys, the master SAE, and the key ID. This is what the slave
 * needs for dec_keys, and what the qkd014 method sends in msg1.
 */
struct kex_qkd_ref {
	char kme_id[KEX_QKD_ID_MAX + 1];
	char master_sae[KEX_QKD_ID_MAX + 1];
	uint8_t key_id[KEX_QKD_KEY_ID_LEN];
};

/* A KME or SAE ID as it may travel: printable ASCII, 1..KEX_QKD_ID_MAX bytes. */
static inline bool kex_qkd_id_valid(const uint8_t *p, size_t n)
{
	if (n == 0 || n > KEX_QKD_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return false;
	return true;
}

/*
 * Raw KEM view of a method, for static keys and tools (mfs-kex). All
 * lengths are exact except the secret key, which may be given in either
 * of the method's documented forms (ML-KEM: 64-byte seed d||z, or the
 * expanded FIPS 203 decapsulation key).
 */
struct kex_kem {
	size_t pk_len, sk_len, sk_len_alt, ct_len, ss_len;
	/* pk[pk_len], sk[sk_len] fresh key pair; sk is a secret buffer. */
	int (*keypair)(uint8_t *pk, uint8_t *sk);
	/* ct[ct_len], ss[ss_len] from the peer's pk; -EKEYREJECTED on a bad pk. */
	int (*encap)(uint8_t *ct, uint8_t *ss, const uint8_t *pk, size_t pk_len);
	/* ss[ss_len]; implicit rejection: a bad ct gives an unrelated ss. */
	int (*decap)(uint8_t *ss, const uint8_t *ct, size_t ct_len,
		     const uint8_t *sk, size_t sk_len);
};

/*
 * What a method may need from its caller. The caller fills only the fields
 * its methods use; everything is borrowed for the duration of the exchange.
 */
struct kex_env {
	/*
	 * Static-key methods (Classic McEliece): the initiator decapsulates
	 * with its own static key pair; the responder encapsulates to the
	 * initiator's static public key, which it has pinned.
	 */
	const struct secret *static_sk;
	const uint8_t *static_pk;
	size_t static_pk_len;
	const uint8_t *peer_static_pk;
	size_t peer_static_pk_len;
	/*
	 * Optional: SHA3-256 of the static public key in use (static_pk for
	 * the initiator, peer_static_pk for the responder), computed once per
	 * key by the caller. Without it the method hashes the 0.5-1 MiB key
	 * in init(), about a millisecond per exchange.
	 */
	const uint8_t *static_pk_id;

	/*
	 * PSK: the initiator proposes psk_id; both sides resolve an ID
	 * through psk_lookup, which returns a new secret (caller of the
	 * callback frees) or -ENOKEY.
	 */
	const char *psk_id;
	int (*psk_lookup)(void *arg, const char *id, struct secret **ret);
	void *psk_arg;

	/*
	 * QKD (qkd014). Keys come from the local KME over ETSI GS QKD 014 and
	 * are fetched by the caller ahead of the exchange (no I/O here). The
	 * initiator is the master SAE: qkd_take() hands over one key it got
	 * with enc_keys and that the peer has fetched too (its reference and
	 * a new secret of KEX_QKD_KEY_MIN..KEX_QKD_KEY_MAX bytes, which the
	 * method frees), and never the same key twice. The responder is the
	 * slave: qkd_lookup() returns the key it got with dec_keys for the
	 * reference msg1 names, at most once: -ENOKEY when it has none,
	 * -EALREADY when that key ID was used before (a replay).
	 */
	int (*qkd_take)(void *arg, struct kex_qkd_ref *ret_ref, struct secret **ret);
	int (*qkd_lookup)(void *arg, const struct kex_qkd_ref *ref, struct secret **ret);
	void *qkd_arg;
};

struct kex_method {
	const char *name;		/* "mlkem768", "mceliece460896", "psk" */
	const char *description;	/* one line for `mfs-kex list` */
	uint16_t id;			/* enum kex_method_id */
	enum kex_family family;
	uint8_t nist_category;		/* FIPS/NIST PQC category 1..5; 0 = not PQ */
	bool post_quantum;		/* may count as a post-quantum factor */
	size_t ctx_size, msg1_max, msg2_max, secret_len;
	const struct kex_kem *kem;	/* NULL for methods that are not a KEM (psk) */
	const char *openssl_alg;	/* OpenSSL key type for PEM interop, or NULL */

	bool (*available)(void);
	__attribute__((warn_unused_result))
	int (*init)(void *ctx, const struct kex_env *env, enum kex_role role);
	__attribute__((warn_unused_result))
	int (*msg1)(void *ctx, struct wbuf *out);
	__attribute__((warn_unused_result))
	int (*msg2)(void *ctx, struct rd in, struct wbuf *out);
	__attribute__((warn_unused_result))
	int (*finish)(void *ctx, struct rd in);
	__attribute__((warn_unused_result))
	int (*secret)(void *ctx, uint8_t *ret_ss);
	void (*done)(void *ctx);
};

/* The method with this name or codepoint, if built and available; else NULL. */
const struct kex_method *kex_method_by_name(const char *name);
const struct kex_method *kex_method_by_id(uint16_t id);
/* The name of kex_method_by_id(id), "?" when there is none (for logs and status). */
const char *kex_method_name(uint16_t id);
/* All built methods (available or not), in registry order; returns the count. */
size_t kex_methods(const struct kex_method *const **ret);
const char *kex_family_name(enum kex_family f);

#endif
