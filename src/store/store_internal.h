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

/* Sealed blob: version(1) || epoch(16) || nonce(12) || ciphertext(key_len) || tag(16). */
#define SEAL_VERSION 1
#define SEAL_EPOCH_LEN 16
#define SEAL_HDR_LEN (1 + SEAL_EPOCH_LEN + AEAD_IV_LEN)
#define SEAL_OVERHEAD (SEAL_HDR_LEN + AEAD_TAG_LEN)
#define SEAL_BLOB_MAX (SEAL_OVERHEAD + STORE_KEY_MAX_LEN)
/* A seal key is retired after this many seals (random 96-bit nonces, SP 800-38D §8.3). */
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
	S_PUT_METHOD,
	S_PUT_KEY,
	S_TAKE_SELECT,
	S_MARK_DELIVERED,
	S_GET_SELECT,
	S_ACTIVATE,
	S_EXPIRE,
	S_DESTROY,
	S_WITHDRAW,
	S_USAGE,
	S_XLIST,
	S_XFIND,
	S_XWITHDRAW,
	S_COUNTS,
	S_LIST,
	S_INFO,
	S_AUDIT_APPEND,
	S_AUDIT_LIST,
	S_COUNT_,
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[S_COUNT_];
	struct secret *kek;		/* own copy */
	struct seal_key cur;		/* sealing: a fresh epoch per handle */
	uint64_t cur_sealed;
	struct seal_key other;		/* unsealing cache: the last foreign epoch */
};

/* The column list that meta_from_row() reads (columns 0..14), then kid (15), blob (16). */
#define META_COLUMNS                                                                     \
	"k.key_id, k.direction, k.state, k.peer, k.class, x.exchange_id, x.methods, "    \
	"k.key_len, k.not_before, k.soft_expiry, k.hard_expiry, k.created, k.changed, "   \
	"k.delivered_at, k.delivered_to, k.kid, k.blob "                                 \
	"FROM keys k JOIN exchanges x ON x.xid = k.xid "
#define COL_KID 15
#define COL_BLOB 16

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

/* Fill m from columns 0..14 of a META_COLUMNS row; -EBADMSG on malformed values. */
int store_meta_from_row(sqlite3_stmt *s, struct store_key_meta *m);

/* The associated data of a key: binds the blob to its ID and immutable metadata. */
int store_aad(const struct store_key_meta *m, uint8_t out[static AAD_MAX], size_t *ret_len);
/* blob[SEAL_OVERHEAD + m->key_len] = seal(key) under the current epoch. */
int store_seal(struct store *st, const struct store_key_meta *m, const uint8_t *key, uint8_t *blob);
/* key[m->key_len] = open(blob); -EKEYREJECTED if it does not authenticate (key zeroed). */
int store_unseal(struct store *st, const struct store_key_meta *m, const uint8_t *blob,
		 size_t blob_len, uint8_t *key);

/* Create the schema in an open transaction when the database is empty; check its version. */
int store_schema_init(struct store *st, bool *ret_created);
/* Write / verify the KEK check value (meta 'kek_check'). */
int store_kek_check_create(struct store *st);
int store_kek_check_verify(struct store *st);

/* Append an audit record inside the caller's transaction. */
int store_audit_insert(struct store *st, int64_t now, const char *who, const char *what,
		       const char *detail, int64_t n_keys);

#endif
