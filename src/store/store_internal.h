/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals shared by the store's source files: the handle, the statement
 * cache, transactions, sealing. Not for use outside src/store/.
 */
#ifndef MFS_STORE_INTERNAL_H
#define MFS_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/aead.h"
#include "store/store.h"

/*
 * Sealed blob: version(1) || epoch(16) || nonce(12) || ciphertext(len) || tag(16).
 * The nonce is a counter per epoch (a fresh random epoch, hence seal key,
 * per handle): unique under one key without a DRBG call per seal.
 */
#define SEAL_VERSION 2
#define SEAL_EPOCH_LEN 16
#define SEAL_HDR_LEN (1 + SEAL_EPOCH_LEN + AEAD_IV_LEN)
#define SEAL_OVERHEAD (SEAL_HDR_LEN + AEAD_TAG_LEN)
#define SEAL_BLOB_MAX (SEAL_OVERHEAD + STORE_POOL_SECRET_LEN)
/* A seal key is retired after this many seals (well inside the 2^32 of SP 800-38D §8.3). */
#define SEAL_MAX_PER_EPOCH (1ULL << 30)
#define AAD_MAX 256

/* Methods are stored as a blob of u16 big-endian values, negotiated order. */
#define METHODS_BLOB_MAX (2 * STORE_METHODS_MAX)

struct seal_key {
	bool set;
	uint8_t epoch[SEAL_EPOCH_LEN];
	struct aead aead;
};

enum stmt_id {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_PUT_EXCHANGE,
	S_TAKE_SELECT,
	S_TAKE_UPDATE,
	S_GET_UPDATE,
	S_DELIVERY_ADD,
	S_DELIVERY_LIST,
	S_BY_TAG,
	S_ACTIVATE,
	S_EXPIRE_COUNT,
	S_DESTROY,
	S_WITHDRAW_SELECT,
	S_XWITHDRAW,
	S_USAGE,
	S_XLIST,
	S_XFIND,
	S_COUNTS,
	S_DEPTH,
	S_LIST,
	S_AUDIT_APPEND,
	S_AUDIT_LIST,
	S_COUNT_,
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[S_COUNT_];
	struct secret *kek;		/* own copy */
	struct seal_key cur;		/* sealing: a fresh epoch per handle */
	uint64_t cur_sealed;		/* also the nonce counter */
	struct seal_key other;		/* unsealing cache: the last foreign epoch */
};

/* One exchange row: everything but the sealed secrets is public metadata. */
struct xrow {
	int64_t xid;
	uint8_t id[STORE_KEY_ID_LEN];
	char peer[STORE_PEER_MAX + 1];
	char class_name[POLICY_NAME_MAX + 1];
	uint16_t methods[STORE_METHODS_MAX];
	size_t n_methods;
	unsigned role;			/* enum store_role */
	unsigned n_keys, key_len;
	int64_t not_before, soft_expiry, hard_expiry, created, changed;
	int state;			/* STORE_PRE_ACTIVE, STORE_ACTIVE or STORE_DESTROYED */
	bool withdrawn;
	unsigned out_next;		/* outbound keys 0..out_next-1 are delivered */
	uint64_t in_mask;		/* inbound key i delivered: bit i */
	unsigned in_count;
	uint8_t blob[2][SEAL_BLOB_MAX];	/* sealed pool secret per direction (STORE_OUTBOUND, INBOUND) */
	size_t blob_len[2];		/* 0 = wiped */
};

/* The column list that store_xrow_from_row() reads. */
#define X_COLUMNS                                                                           \
	"xid, exchange_id, peer, class, methods, role, n_keys, key_len, not_before, "          \
	"soft_expiry, hard_expiry, created, changed, state, withdrawn, out_next, in_mask, "   \
	"in_count, out_blob, in_blob "

/* SQLite result code -> negative errno (logged at debug level). */
int store_sql_err(struct store *st, int rc);
/* The cached statement id, prepared on first use; reset and unbound after each use. */
int store_stmt(struct store *st, enum stmt_id id, sqlite3_stmt **ret);
/* Reset and clear the bindings of a cached statement. */
void store_stmt_done(sqlite3_stmt *s);
/* Run a cached statement expecting no row; 0 or -errno. */
int store_exec(struct store *st, enum stmt_id id);

/* BEGIN IMMEDIATE (takes the write lock now: busy waits happen here). */
int store_tx_begin(struct store *st);
/* COMMIT (fsync under synchronous=FULL). On failure the transaction is rolled back. */
int store_tx_commit(struct store *st);
/* ROLLBACK if a transaction is open; never fails. */
void store_tx_rollback(struct store *st);

/* Printable ASCII, min..max bytes. */
bool store_text_ok(const char *s, size_t min, size_t max);

/* Fill x from an X_COLUMNS row; -EBADMSG on malformed values. */
int store_xrow_from_row(sqlite3_stmt *s, struct xrow *x);

/* The associated data of the sealed pool secret of direction dir of x. */
int store_pool_aad(const struct xrow *x, unsigned dir, uint8_t out[static AAD_MAX],
		   size_t *ret_len);
/* blob[SEAL_OVERHEAD + len] = seal(pt[len]) under the current epoch, with aad. */
int store_seal(struct store *st, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
	       size_t len, uint8_t *blob);
/* pt[len] = open(blob); -EKEYREJECTED if it does not authenticate (pt zeroed). */
int store_unseal(struct store *st, const uint8_t *aad, size_t aad_len, const uint8_t *blob,
		 size_t blob_len, size_t len, uint8_t *pt);

/* Create the schema in an open transaction when the database is empty; check its version. */
int store_schema_init(struct store *st, bool *ret_created);
/* Write / verify the KEK check value (meta 'kek_check'). */
int store_kek_check_create(struct store *st);
int store_kek_check_verify(struct store *st);

/* Append an audit record inside the caller's transaction. */
int store_audit_insert(struct store *st, int64_t now, const char *who, const char *what,
		       const char *detail, int64_t n_keys);

#endif
