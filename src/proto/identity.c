/* SPDX-License-Identifier: Apache-2.0 */
/* Node identity: ML-DSA-65 key + self-signed certificate + static McEliece pair. */
#include "proto/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/file.h"
#include "crypto/hash.h"
#include "crypto/rng.h"
#include "kex/kex.h"

#define ID_FILE_MAX 128
#define KEY_FILE_MAX (16 * 1024)	/* an ML-DSA-65 PKCS#8 PEM (seed + key) is ~5.5 KiB */
#define CERT_FILE_MAX (64 * 1024)	/* the certificate PEM is ~7.6 KiB */
#define CMCE_PK_MAX 1044992		/* mceliece6688128, the largest set offered */
#define CMCE_SK_MAX 16384
#define CMCE_CT_MAX 256

/*
 * The McEliece files of each slot, and the legacy pair (whose set comes from
 * its sizes), with every message read_cmce() may report about them: the
 * messages are static strings, as identity_load() promises.
 */
struct cmce_files {
	uint16_t id;		/* 0: the legacy pair, any set */
	const char *pk, *sk;
	const char *pk_missing, *sk_missing, *pk_writable, *pk_size, *pk_not_built;
	const char *sk_perm, *sk_size, *sk_mismatch;
	const char *legacy_clash;	/* legacy pair only: its set also has per-set files */
};

#define CMCE_FILES(ID, NAME, PK, SK)                                                            \
	{ ID, PK, SK, PK ": missing (" SK " exists)", SK ": missing (" PK " exists)",            \
	  PK ": writable by group or others", PK ": its size is not that of " NAME,              \
	  PK ": " NAME " is not built in", SK ": accessible by group or others (chmod 600)",     \
	  SK ": wrong size for " NAME, SK ": does not match " PK, NULL }

static const struct cmce_files slot_files[IDENTITY_CMCE_N] = {
	[IDENTITY_CMCE460896] = CMCE_FILES(KEX_ID_MCELIECE460896, "mceliece460896",
					    IDENTITY_FILE_CMCE460896_PK, IDENTITY_FILE_CMCE460896_SK),
	[IDENTITY_CMCE6688128] = CMCE_FILES(KEX_ID_MCELIECE6688128, "mceliece6688128",
					     IDENTITY_FILE_CMCE6688128_PK, IDENTITY_FILE_CMCE6688128_SK),
};

static const struct cmce_files legacy_files = {
	0, IDENTITY_FILE_CMCE_PK, IDENTITY_FILE_CMCE_SK,
	IDENTITY_FILE_CMCE_PK ": missing (" IDENTITY_FILE_CMCE_SK " exists)",
	IDENTITY_FILE_CMCE_SK ": missing (" IDENTITY_FILE_CMCE_PK " exists)",
	IDENTITY_FILE_CMCE_PK ": writable by group or others",
	IDENTITY_FILE_CMCE_PK ": its size is that of no McEliece parameter set",
	IDENTITY_FILE_CMCE_PK ": McEliece is not built in",
	IDENTITY_FILE_CMCE_SK ": accessible by group or others (chmod 600)",
	IDENTITY_FILE_CMCE_SK ": wrong size for the parameter set of " IDENTITY_FILE_CMCE_PK,
	IDENTITY_FILE_CMCE_SK ": does not match " IDENTITY_FILE_CMCE_PK,
	IDENTITY_FILE_CMCE_PK ": holds a key of a set that has its own files (remove one)",
};

int identity_cmce_slot(uint16_t cmce_id)
{
	switch (cmce_id) {
	case KEX_ID_MCELIECE460896: return IDENTITY_CMCE460896;
	case KEX_ID_MCELIECE6688128: return IDENTITY_CMCE6688128;
	default: return -1;
	}
}

const struct identity_cmce *identity_cmce_get(const struct identity *idn, uint16_t cmce_id)
{
	int slot = identity_cmce_slot(cmce_id);

	if (!idn || slot < 0 || idn->cmce[slot].id != cmce_id)
		return NULL;
	return &idn->cmce[slot];
}

/* Point the one-pair fields (cmce_id, cmce_pk, ...) at the first pair held. */
static void set_primary(struct identity *idn)
{
	idn->cmce_id = 0;
	idn->cmce_pk = NULL;
	idn->cmce_pk_len = 0;
	idn->cmce_sk = NULL;
	memset(idn->cmce_pk_id, 0, sizeof(idn->cmce_pk_id));
	for (size_t i = 0; i < IDENTITY_CMCE_N; i++) {
		const struct identity_cmce *c = &idn->cmce[i];

		if (!c->id)
			continue;
		idn->cmce_id = c->id;
		idn->cmce_pk = c->pk;
		idn->cmce_pk_len = c->pk_len;
		idn->cmce_sk = c->sk;
		memcpy(idn->cmce_pk_id, c->pk_id, sizeof(idn->cmce_pk_id));
		return;
	}
}

bool identity_id_valid(const char *id)
{
	size_t n;

	if (!id || !id[0])
		return false;
	if (!((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= '0' && id[0] <= '9')))
		return false;
	for (n = 1; id[n]; n++) {
		char c = id[n];

		if (n > IDENTITY_ID_MAX - 1)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return false;
	}
	return true;
}

const char *identity_cmce_name(uint16_t cmce_id)
{
	switch (cmce_id) {
	case KEX_ID_MCELIECE460896: return "mceliece460896";
	case KEX_ID_MCELIECE6688128: return "mceliece6688128";
	case 0: return "none";
	default: return "unknown";
	}
}

int identity_cert_fingerprint(X509 *cert, uint8_t out[static IDENTITY_FPR_LEN])
{
	unsigned int n = 0;

	if (!cert || X509_digest(cert, EVP_sha256(), out, &n) != 1 || n != IDENTITY_FPR_LEN)
		return -EIO;
	return 0;
}

int identity_cmce_pk_hash(const uint8_t *pk, size_t len, uint8_t out[static IDENTITY_PK_ID_LEN])
{
	return hash(HASH_SHA3_256, pk, len, out);
}

void identity_free(struct identity *idn)
{
	if (!idn)
		return;
	EVP_PKEY_free(idn->key);
	X509_free(idn->cert);
	/* cmce_pk and cmce_sk are views of cmce[]: released there. */
	for (size_t i = 0; i < IDENTITY_CMCE_N; i++) {
		free(idn->cmce[i].pk);
		secret_free(idn->cmce[i].sk);
	}
	mfs_wipe(idn, sizeof(*idn));
	free(idn);
}

/* The McEliece method of a cmce_id, or NULL when it is not one or not built. */
static const struct kex_method *cmce_method(uint16_t cmce_id)
{
	const struct kex_method *m;

	if (cmce_id != KEX_ID_MCELIECE460896 && cmce_id != KEX_ID_MCELIECE6688128)
		return NULL;
	m = kex_method_by_id(cmce_id);
	return m && m->kem ? m : NULL;
}

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if (!(ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value)))
		return -EIO;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -EIO;
}

/*
 * Self-signed v3 certificate of key with CN = id. The peer pins its
 * SHA-256; nothing else in it is trusted, so the extensions only describe
 * the key's use to tools that look (openssl x509 -text).
 */
static int make_cert(const char *id, EVP_PKEY *key, X509 **ret)
{
	uint8_t serial[16];
	X509 *x = NULL;
	BIGNUM *bn = NULL;
	X509_NAME *name;
	int r = -EIO;

	if ((r = crypto_random_public(serial, sizeof(serial))) < 0)
		return r;
	r = -EIO;
	serial[0] = (serial[0] & 0x7f) | 0x40;	/* positive, 16 bytes, never zero (RFC 5280 4.1.2.2) */
	if (!(x = X509_new()) || X509_set_version(x, X509_VERSION_3) != 1 ||
	    !(bn = BN_bin2bn(serial, sizeof(serial), NULL)) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		goto out;
	/* An hour back, so a peer whose clock lags a little never sees a future certificate. */
	if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), IDENTITY_VALID_DAYS, 0, NULL))
		goto out;
	name = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)id, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, key) != 1)
		goto out;
	if ((r = add_ext(x, NID_basic_constraints, "critical,CA:FALSE")) < 0 ||
	    (r = add_ext(x, NID_key_usage, "critical,digitalSignature")) < 0 ||
	    (r = add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth")) < 0 ||
	    (r = add_ext(x, NID_subject_key_identifier, "hash")) < 0)
		goto out;
	r = -EIO;
	/* ML-DSA signs the message itself: no separate digest (md = NULL). */
	if (X509_sign(x, key, NULL) <= 0)
		goto out;
	*ret = x;
	x = NULL;
	r = 0;
out:
	BN_free(bn);
	X509_free(x);
	return r;
}

int identity_generate_sets(const char *id, const uint16_t *cmce_ids, size_t n,
			   struct identity **ret)
{
	struct identity *idn = NULL;
	int r;

	if (!identity_id_valid(id) || (n && !cmce_ids))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (identity_cmce_slot(cmce_ids[i]) < 0)
			return -EOPNOTSUPP;
		for (size_t j = 0; j < i; j++) {
			if (cmce_ids[j] == cmce_ids[i])
				return -EINVAL;
		}
		if (!cmce_method(cmce_ids[i]))
			return -EOPNOTSUPP;
	}
	if (!(idn = calloc(1, sizeof(*idn))))
		return -ENOMEM;
	memcpy(idn->id, id, strlen(id) + 1);
	if (!(idn->key = EVP_PKEY_Q_keygen(NULL, NULL, IDENTITY_KEY_TYPE))) {
		r = -EOPNOTSUPP;
		goto out;
	}
	if ((r = make_cert(id, idn->key, &idn->cert)) < 0 ||
	    (r = identity_cert_fingerprint(idn->cert, idn->cert_fpr)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct kex_method *m = cmce_method(cmce_ids[i]);
		int slot = identity_cmce_slot(cmce_ids[i]);
		struct identity_cmce *c = &idn->cmce[slot];

		c->pk_len = m->kem->pk_len;
		c->pk_file = slot_files[slot].pk;
		c->sk_file = slot_files[slot].sk;
		if (!(c->pk = malloc(m->kem->pk_len)) || !(c->sk = secret_alloc(m->kem->sk_len))) {
			r = -ENOMEM;
			goto out;
		}
		if ((r = m->kem->keypair(c->pk, c->sk->p)) < 0 ||
		    (r = identity_cmce_pk_hash(c->pk, c->pk_len, c->pk_id)) < 0)
			goto out;
		c->id = cmce_ids[i];
	}
	set_primary(idn);
	*ret = idn;
	idn = NULL;
	r = 0;
out:
	identity_free(idn);
	return r;
}

int identity_generate(const char *id, uint16_t cmce_id, struct identity **ret)
{
	return identity_generate_sets(id, &cmce_id, cmce_id ? 1 : 0, ret);
}

/* ---- saving ---- */

static int join(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* PEM of the private key, built in OpenSSL secure memory, copied into a struct secret. */
static int key_pem(EVP_PKEY *key, struct secret **ret)
{
	BIO *bio = NULL;
	char *p = NULL;
	long n;
	int r = -EIO;

	if (!(bio = BIO_new(BIO_s_secmem())) ||
	    PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
		goto out;
	if ((n = BIO_get_mem_data(bio, &p)) <= 0 || !p)
		goto out;
	if (!(*ret = secret_dup(p, (size_t)n))) {
		r = -ENOMEM;
		goto out;
	}
	r = 0;
out:
	BIO_free(bio);	/* a secmem BIO wipes its buffer */
	return r;
}

static int cert_pem(X509 *cert, uint8_t **ret, size_t *ret_len)
{
	BIO *bio = NULL;
	char *p = NULL;
	long n;
	int r = -EIO;

	if (!(bio = BIO_new(BIO_s_mem())) || PEM_write_bio_X509(bio, cert) != 1)
		goto out;
	if ((n = BIO_get_mem_data(bio, &p)) <= 0 || !p)
		goto out;
	if (!(*ret = malloc((size_t)n))) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(*ret, p, (size_t)n);
	*ret_len = (size_t)n;
	r = 0;
out:
	BIO_free(bio);
	return r;
}

static const char *const all_files[] = {
	IDENTITY_FILE_ID, IDENTITY_FILE_KEY, IDENTITY_FILE_CERT,
	IDENTITY_FILE_CMCE460896_PK, IDENTITY_FILE_CMCE460896_SK,
	IDENTITY_FILE_CMCE6688128_PK, IDENTITY_FILE_CMCE6688128_SK,
	IDENTITY_FILE_CMCE_PK, IDENTITY_FILE_CMCE_SK,	/* legacy */
};

/* True when dir holds any identity file (or a link by that name). */
static bool has_identity(const char *dir)
{
	char path[PATH_MAX];
	struct stat st;

	for (size_t i = 0; i < sizeof(all_files) / sizeof(all_files[0]); i++) {
		if (join(path, sizeof(path), dir, all_files[i]) < 0 || lstat(path, &st) == 0)
			return true;
	}
	return false;
}

/* Remove dir/name if it exists. */
static int unlink_in(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int r;

	if ((r = join(path, sizeof(path), dir, name)) < 0)
		return r;
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

/* Write every file of idn into dir; node.id last, as the mark of a complete identity. */
static int write_files(const struct identity *idn, const char *dir, bool overwrite)
{
	char path[PATH_MAX], idline[IDENTITY_ID_MAX + 2];
	unsigned ow = overwrite ? FILE_OVERWRITE : 0;
	struct secret *key = NULL;
	uint8_t *crt = NULL;
	size_t crt_len = 0;
	int r, n;

	if ((r = key_pem(idn->key, &key)) < 0 || (r = cert_pem(idn->cert, &crt, &crt_len)) < 0)
		goto out;
	for (size_t i = 0; i < IDENTITY_CMCE_N; i++) {
		const struct identity_cmce *c = &idn->cmce[i];

		if (c->id) {
			if ((r = join(path, sizeof(path), dir, slot_files[i].sk)) < 0 ||
			    (r = file_write_atomic(path, c->sk->p, c->sk->len, FILE_SECRET | ow)) < 0 ||
			    (r = join(path, sizeof(path), dir, slot_files[i].pk)) < 0 ||
			    (r = file_write_atomic(path, c->pk, c->pk_len, ow)) < 0)
				goto out;
		} else if (overwrite) {
			/* A forced identity without this set: an old pair must not stay behind. */
			if ((r = unlink_in(dir, slot_files[i].sk)) < 0 ||
			    (r = unlink_in(dir, slot_files[i].pk)) < 0)
				goto out;
		}
	}
	/* Never written any more; a replaced identity leaves none behind. */
	if (overwrite && ((r = unlink_in(dir, legacy_files.sk)) < 0 ||
			  (r = unlink_in(dir, legacy_files.pk)) < 0))
		goto out;
	if ((r = join(path, sizeof(path), dir, IDENTITY_FILE_KEY)) < 0 ||
	    (r = file_write_atomic(path, key->p, key->len, FILE_SECRET | ow)) < 0 ||
	    (r = join(path, sizeof(path), dir, IDENTITY_FILE_CERT)) < 0 ||
	    (r = file_write_atomic(path, crt, crt_len, ow)) < 0)
		goto out;
	n = snprintf(idline, sizeof(idline), "%s\n", idn->id);
	if (n < 0 || (size_t)n >= sizeof(idline)) {
		r = -EINVAL;
		goto out;
	}
	if ((r = join(path, sizeof(path), dir, IDENTITY_FILE_ID)) < 0 ||
	    (r = file_write_atomic(path, idline, (size_t)n, ow)) < 0)
		goto out;
	r = 0;
out:
	secret_free(key);
	free(crt);
	return r;
}

static void remove_tree(const char *dir)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(all_files) / sizeof(all_files[0]); i++) {
		if (join(path, sizeof(path), dir, all_files[i]) == 0)
			(void)unlink(path);
	}
	(void)rmdir(dir);
}

static int fsync_path(const char *path)
{
	int fd, r = 0;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int identity_save(const struct identity *idn, const char *dir, unsigned flags)
{
	char clean[PATH_MAX], tmp[PATH_MAX], parent[PATH_MAX];
	struct stat st;
	size_t len;
	char *slash;
	int r, n;

	if (!idn || !idn->key || !idn->cert || !dir || !dir[0])
		return -EINVAL;
	len = strlen(dir);
	if (len >= sizeof(clean))
		return -ENAMETOOLONG;
	memcpy(clean, dir, len + 1);
	while (len > 1 && clean[len - 1] == '/')
		clean[--len] = '\0';

	if (stat(clean, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
		if (has_identity(clean) && !(flags & IDENTITY_FORCE))
			return -EEXIST;
		return write_files(idn, clean, true);
	}
	if (errno != ENOENT)
		return -errno;

	/* A new directory: build it under a temporary name, then rename it into place. */
	n = snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", clean);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	if (!mkdtemp(tmp))	/* mode 0700 */
		return -errno;
	if ((r = write_files(idn, tmp, false)) < 0 || (r = fsync_path(tmp)) < 0)
		goto fail;
	/* rename() onto a directory that appeared meanwhile succeeds only if it is empty. */
	if (rename(tmp, clean) < 0) {
		r = errno == ENOTEMPTY ? -EEXIST : -errno;
		goto fail;
	}
	memcpy(parent, clean, len + 1);
	slash = strrchr(parent, '/');
	if (!slash)
		return fsync_path(".");
	if (slash == parent)
		slash[1] = '\0';
	else
		*slash = '\0';
	return fsync_path(parent);
fail:
	remove_tree(tmp);
	return r;
}

/* ---- loading ---- */

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;	/* never ask: an encrypted key is refused */
}

/* Refuse a public file or the directory when group or others may write to it. */
static int check_not_writable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	return (st.st_mode & (S_IWGRP | S_IWOTH)) ? -EPERM : 0;
}

static int read_id(const char *dir, char id[static IDENTITY_ID_MAX + 1])
{
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = join(path, sizeof(path), dir, IDENTITY_FILE_ID)) < 0 ||
	    (r = check_not_writable(path)) < 0 ||
	    (r = file_read(path, ID_FILE_MAX, 0, &buf, &len)) < 0)
		return r;
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len == 0 || len > IDENTITY_ID_MAX || memchr(buf, '\0', len) ||
	    !identity_id_valid((const char *)buf)) {
		r = -EBADMSG;
		goto out;
	}
	memcpy(id, buf, len + 1);
	r = 0;
out:
	free(buf);
	return r;
}

static int read_key(const char *path, EVP_PKEY **ret)
{
	struct secret *pem = NULL;
	EVP_PKEY *key = NULL;
	BIO *bio = NULL;
	int r;

	if ((r = file_read_secret(path, KEY_FILE_MAX, 0, &pem)) < 0)
		return r;
	if (pem->len > INT_MAX || !(bio = BIO_new_mem_buf(pem->p, (int)pem->len))) {
		r = -ENOMEM;
		goto out;
	}
	if (!(key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL))) {
		r = -EBADMSG;
		goto out;
	}
	if (!EVP_PKEY_is_a(key, IDENTITY_KEY_TYPE)) {
		r = -EKEYREJECTED;
		goto out;
	}
	*ret = key;
	key = NULL;
	r = 0;
out:
	EVP_PKEY_free(key);
	BIO_free(bio);
	secret_free(pem);
	return r;
}

static int read_cert(const char *path, X509 **ret)
{
	uint8_t *buf = NULL;
	X509 *x = NULL;
	BIO *bio = NULL;
	size_t len = 0;
	int r;

	if ((r = check_not_writable(path)) < 0 || (r = file_read(path, CERT_FILE_MAX, 0, &buf, &len)) < 0)
		return r;
	if (!(bio = BIO_new_mem_buf(buf, (int)len))) {
		r = -ENOMEM;
		goto out;
	}
	if (!(x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL))) {
		r = -EBADMSG;
		goto out;
	}
	*ret = x;
	x = NULL;
	r = 0;
out:
	X509_free(x);
	BIO_free(bio);
	free(buf);
	return r;
}

/* True when the certificate's subject is exactly one CN equal to id. */
static bool cert_cn_is(X509 *cert, const char *id)
{
	const X509_NAME *name = X509_get_subject_name(cert);
	const ASN1_STRING *s;
	int i;

	if (!name || X509_NAME_entry_count(name) != 1 ||
	    (i = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) < 0 ||
	    !(s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i))))
		return false;
	return (size_t)ASN1_STRING_length(s) == strlen(id) &&
	       !memcmp(ASN1_STRING_get0_data(s), id, strlen(id));
}

/* A McEliece pair works: what pk encapsulates, sk decapsulates. */
static int cmce_pair_check(const struct kex_method *m, const uint8_t *pk, const struct secret *sk)
{
	uint8_t ct[CMCE_CT_MAX], ss1[KEX_SECRET_LEN], ss2[KEX_SECRET_LEN];
	int r;

	if (m->kem->ct_len > sizeof(ct) || m->kem->ss_len != sizeof(ss1))
		return -EINVAL;
	if ((r = m->kem->encap(ct, ss1, pk, m->kem->pk_len)) < 0 ||
	    (r = m->kem->decap(ss2, ct, m->kem->ct_len, sk->p, sk->len)) < 0)
		goto out;
	r = mfs_ct_eq(ss1, ss2, sizeof(ss1)) ? 0 : -EKEYREJECTED;
out:
	mfs_wipe(ss1, sizeof(ss1));
	mfs_wipe(ss2, sizeof(ss2));
	return r;
}

/* The McEliece method of a public key size, or NULL. */
static const struct kex_method *cmce_by_pk_len(size_t len)
{
	for (size_t i = 0; i < IDENTITY_CMCE_N; i++) {
		const struct kex_method *m = cmce_method(slot_files[i].id);

		if (m && m->kem->pk_len == len)
			return m;
	}
	return NULL;
}

/*
 * Read the pair named by f into *c: f->id fixes the set (its exact sizes),
 * or 0 (legacy pair) takes the set from the public key's size. 1 when the
 * pair is absent, 0 when loaded, or a negative errno with *what set.
 */
static int read_cmce_pair(const char *dir, const struct cmce_files *f, struct identity_cmce *c,
			  const char **what)
{
	char pk_path[PATH_MAX], sk_path[PATH_MAX];
	const struct kex_method *m = NULL;
	struct stat st;
	bool has_pk, has_sk;
	int r;

	if ((r = join(pk_path, sizeof(pk_path), dir, f->pk)) < 0 ||
	    (r = join(sk_path, sizeof(sk_path), dir, f->sk)) < 0)
		return r;
	has_pk = lstat(pk_path, &st) == 0;
	has_sk = lstat(sk_path, &st) == 0;
	if (!has_pk && !has_sk)
		return 1;	/* no static key of this set */
	if (!has_pk || !has_sk) {
		*what = has_pk ? f->sk_missing : f->pk_missing;
		return -ENOENT;
	}
	if (f->id && !(m = cmce_method(f->id))) {
		*what = f->pk_not_built;
		return -EOPNOTSUPP;
	}
	*what = f->pk;
	if ((r = check_not_writable(pk_path)) < 0) {
		if (r == -EPERM)
			*what = f->pk_writable;
		return r;
	}
	if ((r = file_read(pk_path, m ? m->kem->pk_len : CMCE_PK_MAX, 0, &c->pk, &c->pk_len)) < 0) {
		if (r == -EMSGSIZE)
			*what = f->pk_size;
		return r == -EMSGSIZE ? -EBADMSG : r;
	}
	if (!m && !(m = cmce_by_pk_len(c->pk_len))) {
		*what = MFS_WITH_MCELIECE ? f->pk_size : f->pk_not_built;
		return MFS_WITH_MCELIECE ? -EBADMSG : -EOPNOTSUPP;
	}
	if (c->pk_len != m->kem->pk_len) {
		*what = f->pk_size;
		return -EBADMSG;
	}
	*what = f->sk;
	if ((r = file_read_secret(sk_path, CMCE_SK_MAX, 0, &c->sk)) < 0) {
		if (r == -EPERM)
			*what = f->sk_perm;
		else if (r == -EMSGSIZE || r == -EBADMSG)
			*what = f->sk_size;
		return r == -EMSGSIZE ? -EBADMSG : r;
	}
	if (c->sk->len != m->kem->sk_len) {
		*what = f->sk_size;
		return -EBADMSG;
	}
	*what = f->sk_mismatch;
	if ((r = cmce_pair_check(m, c->pk, c->sk)) < 0)
		return r;
	*what = f->pk;
	if ((r = identity_cmce_pk_hash(c->pk, c->pk_len, c->pk_id)) < 0)
		return r;
	c->id = m->id;
	c->pk_file = f->pk;
	c->sk_file = f->sk;
	return 0;
}

/* Every McEliece pair in dir: the per-set files, then a legacy mceliece.pk/.sk. */
static int read_cmce(const char *dir, struct identity *idn, const char **what)
{
	struct identity_cmce legacy = { 0 };
	int slot, r;

	for (size_t i = 0; i < IDENTITY_CMCE_N; i++) {
		if ((r = read_cmce_pair(dir, &slot_files[i], &idn->cmce[i], what)) < 0)
			return r;
	}
	r = read_cmce_pair(dir, &legacy_files, &legacy, what);
	if (r == 0) {
		slot = identity_cmce_slot(legacy.id);
		if (slot < 0 || idn->cmce[slot].id) {
			*what = slot < 0 ? legacy_files.pk_size : legacy_files.legacy_clash;
			r = slot < 0 ? -EBADMSG : -EEXIST;
		} else {
			idn->cmce[slot] = legacy;
			memset(&legacy, 0, sizeof(legacy));
			idn->cmce_legacy = true;
		}
	}
	free(legacy.pk);
	secret_free(legacy.sk);
	if (r < 0)
		return r;
	set_primary(idn);
	return 0;
}

int identity_load(const char *dir, struct identity **ret, const char **ret_what)
{
	char path[PATH_MAX];
	struct identity *idn = NULL;
	const char *what = "directory";
	EVP_PKEY *pub;
	struct stat st;
	int r;

	if (!dir || !dir[0])
		return -EINVAL;
	if (stat(dir, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		r = -ENOTDIR;
		goto out;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		what = "directory: writable by group or others";
		r = -EPERM;
		goto out;
	}
	if (!(idn = calloc(1, sizeof(*idn)))) {
		r = -ENOMEM;
		goto out;
	}
	what = IDENTITY_FILE_ID;
	if ((r = read_id(dir, idn->id)) < 0) {
		if (r == -EPERM)
			what = IDENTITY_FILE_ID ": writable by group or others";
		else if (r == -EBADMSG)
			what = IDENTITY_FILE_ID ": not a valid node ID";
		goto out;
	}
	what = IDENTITY_FILE_KEY;
	if ((r = join(path, sizeof(path), dir, IDENTITY_FILE_KEY)) < 0)
		goto out;
	if ((r = read_key(path, &idn->key)) < 0) {
		if (r == -EKEYREJECTED)
			what = IDENTITY_FILE_KEY ": not an " IDENTITY_KEY_TYPE " private key";
		else if (r == -EBADMSG)
			what = IDENTITY_FILE_KEY ": not an unencrypted PEM private key";
		else if (r == -EPERM)
			what = IDENTITY_FILE_KEY ": accessible by group or others (chmod 600)";
		goto out;
	}
	what = IDENTITY_FILE_CERT;
	if ((r = join(path, sizeof(path), dir, IDENTITY_FILE_CERT)) < 0)
		goto out;
	if ((r = read_cert(path, &idn->cert)) < 0) {
		if (r == -EPERM)
			what = IDENTITY_FILE_CERT ": writable by group or others";
		else if (r == -EBADMSG)
			what = IDENTITY_FILE_CERT ": not a PEM certificate";
		goto out;
	}
	if (!(pub = X509_get0_pubkey(idn->cert)) || !EVP_PKEY_is_a(pub, IDENTITY_KEY_TYPE)) {
		what = IDENTITY_FILE_CERT ": not an " IDENTITY_KEY_TYPE " certificate";
		r = -EKEYREJECTED;
		goto out;
	}
	if (EVP_PKEY_eq(pub, idn->key) != 1) {
		what = IDENTITY_FILE_CERT ": does not match " IDENTITY_FILE_KEY;
		r = -EKEYREJECTED;
		goto out;
	}
	if (X509_verify(idn->cert, pub) != 1) {
		what = IDENTITY_FILE_CERT ": bad self-signature";
		r = -EKEYREJECTED;
		goto out;
	}
	if (!cert_cn_is(idn->cert, idn->id)) {
		what = IDENTITY_FILE_CERT ": subject is not CN=<" IDENTITY_FILE_ID ">";
		r = -EKEYREJECTED;
		goto out;
	}
	if ((r = identity_cert_fingerprint(idn->cert, idn->cert_fpr)) < 0 ||
	    (r = read_cmce(dir, idn, &what)) < 0)
		goto out;
	*ret = idn;
	idn = NULL;
	what = NULL;
	r = 0;
out:
	if (ret_what)
		*ret_what = what;
	identity_free(idn);
	return r;
}
