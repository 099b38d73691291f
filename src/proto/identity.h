/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Node identity: what one mfsd is, and what its peers pin.
 *
 *   node.id       the node ID, one line: [a-z0-9][a-z0-9.-]{0,62}        0644
 *   node.key      ML-DSA-65 private key, PKCS#8 PEM                        0600
 *   node.crt      self-signed X.509 v3 certificate of that key, CN = ID    0644
 *   mceliece.pk   static Classic McEliece public key, raw (optional)      0644
 *   mceliece.sk   its secret key, raw                                     0600
 *
 * A peer pins two values: the SHA-256 of the DER certificate (checked by
 * the TLS layer, tls.h) and the SHA3-256 of the McEliece public key (the
 * static_pk_id of struct kex_env). There is no CA: the certificate only
 * carries the key into TLS, so its validity period and extensions matter
 * little (docs/identity.md).
 *
 * The McEliece pair is optional (cmce_id 0): a node whose policy uses no
 * static-key method, or a build without libmceliece, has none.
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
#define IDENTITY_FILE_CMCE_PK "mceliece.pk"
#define IDENTITY_FILE_CMCE_SK "mceliece.sk"

enum identity_flags {
	IDENTITY_FORCE = 1U << 0,	/* save: replace an existing identity */
};

struct identity {
	char id[IDENTITY_ID_MAX + 1];
	EVP_PKEY *key;			/* ML-DSA-65 key pair */
	X509 *cert;			/* self-signed, CN = id */
	uint8_t cert_fpr[IDENTITY_FPR_LEN];
	/* KEX_ID_MCELIECE460896, KEX_ID_MCELIECE6688128, or 0 for none */
	uint16_t cmce_id;
	uint8_t *cmce_pk;
	size_t cmce_pk_len;
	struct secret *cmce_sk;
	uint8_t cmce_pk_id[IDENTITY_PK_ID_LEN];	/* valid when cmce_id != 0 */
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
 * Write idn into dir. A missing dir is created (0700) under a temporary
 * name and renamed into place once complete, so it appears whole or not at
 * all. In an existing dir each file is replaced atomically, node.id last.
 * -EEXIST when dir already holds any identity file and IDENTITY_FORCE is
 * not given; then nothing is written. With IDENTITY_FORCE, McEliece files
 * of an older identity are removed when idn has none.
 */
int identity_save(const struct identity *idn, const char *dir, unsigned flags);

/*
 * Read and check the identity in dir: secret files must not be accessible
 * by group or others and dir must not be writable by them (-EPERM); the key
 * must be ML-DSA-65 and match the certificate, the certificate must carry
 * its own valid signature and CN = node.id, the McEliece files must have
 * the exact sizes of one parameter set and form a working pair
 * (-EKEYREJECTED / -EBADMSG). On failure *ret_what (if not NULL) names the
 * file or check that failed (a static string). *ret: identity_free().
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
