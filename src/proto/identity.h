/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Node identity: what one mfsd is, and what its peers pin.
 *
 *   node.id              the node ID, one line: [a-z0-9][a-z0-9.-]{0,62}  0644
 *   node.key             ML-DSA-65 private key, PKCS#8 PEM                  0600
 *   node.crt             self-signed X.509 v3 certificate, CN = ID          0644
 *   mceliece460896.pk    static Classic McEliece 460896 public key, raw    0644
 *   mceliece460896.sk    its secret key, raw                               0600
 *   mceliece6688128.pk   the same for Classic McEliece 6688128             0644
 *   mceliece6688128.sk                                                     0600
 *
 * Each McEliece pair is optional; an identity holds one per parameter set
 * it was generated with (mfsctl genid: both by default). A peer pins the
 * SHA-256 of the DER certificate (checked by the TLS layer, tls.h) and, per
 * set, the SHA3-256 of the McEliece public key (the static_pk_id of struct
 * kex_env). There is no CA: the certificate only carries the key into TLS,
 * so its validity period and extensions matter little (docs/identity.md).
 *
 * Legacy layout: identities written before per-set files hold at most one
 * pair as mceliece.pk / mceliece.sk, its parameter set given by the file
 * sizes. identity_load() still reads it (struct identity_cmce names the
 * files it came from); identity_save() always writes the per-set names and,
 * when replacing an identity, removes the legacy files.
 */
#ifndef MFS_PROTO_IDENTITY_H
#define MFS_PROTO_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "base/secret.h"

#define IDENTITY_ID_MAX 63		/* node ID length, without the NUL */
#define IDENTITY_FPR_LEN 32		/* SHA-256 of the DER certificate */
#define IDENTITY_PK_ID_LEN 32		/* SHA3-256 of the McEliece public key */
#define IDENTITY_HEX_LEN (2 * 32 + 1)	/* either value as hex, with the NUL */
#define IDENTITY_KEY_TYPE "ML-DSA-65"	/* OpenSSL's name of the signature key type */
#define IDENTITY_VALID_DAYS 3650	/* certificate validity; see docs/identity.md */

#define IDENTITY_FILE_ID "node.id"
#define IDENTITY_FILE_KEY "node.key"
#define IDENTITY_FILE_CERT "node.crt"
/* Legacy single-pair layout (read, never written): set recorded by the file sizes. */
#define IDENTITY_FILE_CMCE_PK "mceliece.pk"
#define IDENTITY_FILE_CMCE_SK "mceliece.sk"
/* Per parameter set (written by identity_save()). */
#define IDENTITY_FILE_CMCE460896_PK "mceliece460896.pk"
#define IDENTITY_FILE_CMCE460896_SK "mceliece460896.sk"
#define IDENTITY_FILE_CMCE6688128_PK "mceliece6688128.pk"
#define IDENTITY_FILE_CMCE6688128_SK "mceliece6688128.sk"

/* Slots of struct identity.cmce[], one per parameter set. */
enum identity_cmce_slot {
	IDENTITY_CMCE460896 = 0,	/* KEX_ID_MCELIECE460896 */
	IDENTITY_CMCE6688128 = 1,	/* KEX_ID_MCELIECE6688128 */
	IDENTITY_CMCE_N,
};

enum identity_flags {
	IDENTITY_FORCE = 1U << 0,	/* save: replace an existing identity */
};

/* One static McEliece key pair of an identity. */
struct identity_cmce {
	uint16_t id;			/* KEX_ID_MCELIECE…, or 0: the slot is empty */
	uint8_t *pk;
	size_t pk_len;
	struct secret *sk;
	uint8_t pk_id[IDENTITY_PK_ID_LEN];	/* SHA3-256 of pk: the pin */
	/* File names inside the identity directory (static strings): the
	 * per-set names, or the legacy mceliece.pk/.sk it was loaded from. */
	const char *pk_file;
	const char *sk_file;
};

struct identity {
	char id[IDENTITY_ID_MAX + 1];
	EVP_PKEY *key;			/* ML-DSA-65 key pair */
	X509 *cert;			/* self-signed, CN = id */
	uint8_t cert_fpr[IDENTITY_FPR_LEN];
	/*
	 * The first pair held, in slot order (460896, then 6688128), or 0 and
	 * NULLs for none. Kept for callers that know one pair only: these are
	 * borrowed views of cmce[] (identity_free() releases them once).
	 */
	uint16_t cmce_id;
	uint8_t *cmce_pk;
	size_t cmce_pk_len;
	struct secret *cmce_sk;
	uint8_t cmce_pk_id[IDENTITY_PK_ID_LEN];	/* valid when cmce_id != 0 */
	/* Every pair held, by enum identity_cmce_slot; .id == 0 where none. */
	struct identity_cmce cmce[IDENTITY_CMCE_N];
	bool cmce_legacy;		/* loaded from mceliece.pk/.sk (legacy layout) */
};

/* True when id is a valid node ID: [a-z0-9][a-z0-9.-]{0,62}. */
bool identity_id_valid(const char *id);

/*
 * A fresh identity: an ML-DSA-65 key, its self-signed certificate (CN = id,
 * IDENTITY_VALID_DAYS days) and, unless cmce_id is 0, a Classic McEliece
 * pair of that parameter set (tens to hundreds of milliseconds).
 * -EINVAL bad id, -EOPNOTSUPP McEliece set not built or no ML-DSA in the
 * crypto library, -ENOMEM, -EIO OpenSSL failure. *ret: identity_free().
 */
int identity_generate(const char *id, uint16_t cmce_id, struct identity **ret);

/*
 * The same with a McEliece pair for each of the n parameter sets in
 * cmce_ids (n = 0: none). -EINVAL also for a set given twice.
 */
int identity_generate_sets(const char *id, const uint16_t *cmce_ids, size_t n,
			   struct identity **ret);

/* The pair of parameter set cmce_id that idn holds, or NULL. */
const struct identity_cmce *identity_cmce_get(const struct identity *idn, uint16_t cmce_id);

/* Slot of a McEliece parameter set (enum identity_cmce_slot), or -1. */
int identity_cmce_slot(uint16_t cmce_id);

/*
 * Write idn into dir. A missing dir is created (0700) under a temporary
 * name and renamed into place once complete, so it appears whole or not at
 * all. In an existing dir each file is replaced atomically, node.id last.
 * McEliece pairs go to the per-set files (mceliece<set>.pk/.sk), whatever
 * layout idn was loaded from. -EEXIST when dir already holds any identity
 * file (legacy names included) and IDENTITY_FORCE is not given; then
 * nothing is written. With IDENTITY_FORCE, McEliece files of an older
 * identity that idn has no pair for, and legacy mceliece.pk/.sk, are removed.
 */
int identity_save(const struct identity *idn, const char *dir, unsigned flags);

/*
 * Read and check the identity in dir: secret files must not be accessible
 * by group or others and dir must not be writable by them (-EPERM); the key
 * must be ML-DSA-65 and match the certificate, the certificate must carry
 * its own valid signature and CN = node.id. Each McEliece pair present
 * (mceliece<set>.pk/.sk, both or neither; -ENOENT for half a pair) must
 * have the exact sizes of its parameter set and work: an encapsulation to
 * pk decapsulates with sk to the same secret (-EKEYREJECTED / -EBADMSG).
 * The legacy mceliece.pk/.sk pair is read too (its set from its sizes),
 * but not next to a per-set pair of the same set (-EEXIST: ambiguous).
 * On failure *ret_what (if not NULL) names the file or check that failed
 * (a static string). *ret: identity_free().
 */
int identity_load(const char *dir, struct identity **ret, const char **ret_what);

/* Release; wipes the McEliece secret. NULL-safe. */
void identity_free(struct identity *idn);

/* out = SHA-256 of the DER encoding of cert (the TLS pin). */
int identity_cert_fingerprint(X509 *cert, uint8_t out[static IDENTITY_FPR_LEN]);
/* out = SHA3-256 of a McEliece public key (kex_env.static_pk_id, the pin). */
int identity_cmce_pk_hash(const uint8_t *pk, size_t len, uint8_t out[static IDENTITY_PK_ID_LEN]);

/* The McEliece method name ("mceliece460896") of a cmce_id, or "none". */
const char *identity_cmce_name(uint16_t cmce_id);

#endif
