/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key store: handle, files, statement cache, transactions, sealing.
 * The key operations are in store_keys.c, the audit log in store_audit.c.
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/file.h"
#include "base/log.h"
#include "crypto/mac.h"
#include "crypto/rng.h"
#include "store/store_internal.h"

/* Every statement the store runs after open, prepared once per handle. */
static const char *const stmt_sql[S_COUNT_] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_PUT_EXCHANGE] = "INSERT INTO exchanges (exchange_id, tag, peer, class, methods, role, "
			   "n_keys, key_len, not_before, soft_expiry, hard_expiry, created, changed, "
			   "state, out_blob, in_blob) "
			   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13, ?14, ?15)",
	[S_TAKE_SELECT] = "SELECT " X_COLUMNS "FROM exchanges "
			  "WHERE peer = ?1 AND class = ?2 AND out_blob IS NOT NULL "
			  "AND not_before <= ?3 AND hard_expiry > ?3 ORDER BY not_before, xid",
	[S_TAKE_UPDATE] = "UPDATE exchanges SET out_next = out_next + ?2, "
			  "out_blob = CASE WHEN out_next + ?2 >= n_keys THEN NULL ELSE out_blob END "
			  "WHERE xid = ?1 AND out_next = ?3 AND out_blob IS NOT NULL",
	[S_GET_UPDATE] = "UPDATE exchanges SET in_mask = in_mask | ?2, in_count = in_count + 1, "
			 "in_blob = CASE WHEN in_count + 1 >= n_keys THEN NULL ELSE in_blob END "
			 "WHERE xid = ?1 AND (in_mask & ?2) = 0 AND in_blob IS NOT NULL",
	[S_DELIVERY_ADD] = "INSERT INTO deliveries (xid, direction, first, count, at, delivered_to) "
			   "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[S_DELIVERY_LIST] = "SELECT direction, first, count, at, delivered_to FROM deliveries "
			    "WHERE xid = ?1 ORDER BY direction, first",
	[S_BY_TAG] = "SELECT " X_COLUMNS "FROM exchanges WHERE tag = ?1",
	[S_ACTIVATE] = "UPDATE exchanges SET state = 1, changed = ?1 "
		       "WHERE state = 0 AND not_before <= ?1 AND hard_expiry > ?1",
	/* keys that go to destroyed: all of a live exchange, the delivered ones of a withdrawn one */
	[S_EXPIRE_COUNT] = "SELECT coalesce(sum(CASE WHEN withdrawn THEN out_next + in_count "
			   "ELSE 2 * n_keys END), 0) FROM exchanges "
			   "WHERE state <= 1 AND hard_expiry <= ?1",
	[S_DESTROY] = "UPDATE exchanges SET state = 4, out_blob = NULL, in_blob = NULL, "
		      "changed = ?1 WHERE state <= 1 AND hard_expiry <= ?1",
	/* the method is checked in C (methods blob): revocation is rare, a put is not */
	[S_WITHDRAW_SELECT] = "SELECT " X_COLUMNS "FROM exchanges WHERE state <= 1 AND withdrawn = 0 "
			      "AND (out_blob IS NOT NULL OR in_blob IS NOT NULL) ORDER BY xid",
	[S_XWITHDRAW] = "UPDATE exchanges SET withdrawn = 1, out_blob = NULL, in_blob = NULL, "
			"changed = ?2 WHERE xid = ?1",
	[S_USAGE] = "SELECT " X_COLUMNS "FROM exchanges WHERE state <= 1 AND hard_expiry > ?1 "
		    "ORDER BY peer, class, xid",
	[S_XLIST] = "SELECT exchange_id, created, withdrawn, n_keys, out_next, in_count "
		    "FROM exchanges WHERE peer = ?1 AND class = ?2 AND state <= 1 "
		    "AND hard_expiry > ?3 ORDER BY created DESC, xid DESC",
	[S_XFIND] = "SELECT " X_COLUMNS "FROM exchanges WHERE tag = ?1 AND exchange_id = ?2",
	[S_COUNTS] = "SELECT state, withdrawn, sum(n_keys), sum(out_next), sum(in_count) "
		     "FROM exchanges WHERE (?1 IS NULL OR peer = ?1) AND (?2 IS NULL OR class = ?2) "
		     "GROUP BY state, withdrawn",
	[S_DEPTH] = "SELECT out_n, in_n FROM pools WHERE peer = ?1 AND class = ?2",
	[S_LIST] = "SELECT " X_COLUMNS "FROM exchanges "
		   "WHERE (?1 IS NULL OR peer = ?1) AND (?2 IS NULL OR class = ?2) ORDER BY xid",
	[S_AUDIT_APPEND] = "INSERT INTO audit (at, who, what, detail, n_keys) "
			   "VALUES (?1, ?2, ?3, ?4, ?5)",
	[S_AUDIT_LIST] = "SELECT seq, at, who, what, detail, n_keys FROM audit WHERE seq > ?1 "
			 "ORDER BY seq",
};

const char *store_state_name(enum store_key_state s)
{
	static const char *const names[STORE_STATE_COUNT] = {
		[STORE_PRE_ACTIVE] = "pre-activation", [STORE_ACTIVE] = "active",
		[STORE_DELIVERED] = "delivered",       [STORE_EXPIRED] = "expired",
		[STORE_DESTROYED] = "destroyed",       [STORE_WITHDRAWN] = "withdrawn",
	};

	return (unsigned)s < STORE_STATE_COUNT ? names[s] : "?";
}

int store_key_id_random(struct store_key_id *ret)
{
	struct store_key_id id;
	int r;

	if ((r = crypto_random_public(id.b, sizeof(id.b))) < 0)
		return r;
	id.b[6] = (uint8_t)((id.b[6] & 0x0f) | 0x40);	/* version 4 */
	id.b[8] = (uint8_t)((id.b[8] & 0x3f) | 0x80);	/* variant 10 */
	*ret = id;
	return 0;
}

void store_key_id_format(const struct store_key_id *id, char out[static STORE_KEY_ID_STR_LEN + 1])
{
	static const char hexd[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < STORE_KEY_ID_LEN; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hexd[id->b[i] >> 4];
		out[o++] = hexd[id->b[i] & 0x0f];
	}
	out[o] = '\0';
}

bool store_text_ok(const char *s, size_t min, size_t max)
{
	size_t n;

	if (!s)
		return false;
	for (n = 0; s[n]; n++)
		if (n >= max || s[n] < 0x20 || s[n] > 0x7e)
			return false;
	return n >= min;
}

int store_sql_err(struct store *st, int rc)
{
	int r;

	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_FULL:
		r = -ENOSPC;
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		r = -EBUSY;
		break;
	case SQLITE_NOMEM:
		r = -ENOMEM;
		break;
	case SQLITE_CONSTRAINT:
		r = (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) ? -EEXIST
											      : -EINVAL;
		break;
	case SQLITE_READONLY:
		r = -EROFS;
		break;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		r = -EPERM;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_FORMAT:
		r = -EBADMSG;
		break;
	case SQLITE_CANTOPEN:
		r = st && st->db && sqlite3_system_errno(st->db) ? -sqlite3_system_errno(st->db)
								  : -ENOENT;
		break;
	case SQLITE_TOOBIG:
		r = -EMSGSIZE;
		break;
	default:
		r = -EIO;
		break;
	}
	if (st && st->db)
		log_debug("store: sqlite %d (%s): %s", rc, sqlite3_errstr(rc), sqlite3_errmsg(st->db));
	return r;
}

int store_stmt(struct store *st, enum stmt_id id, sqlite3_stmt **ret)
{
	int rc;

	if (!st->stmt[id]) {
		rc = sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					&st->stmt[id], NULL);
		if (rc != SQLITE_OK)
			return store_sql_err(st, rc);
	}
	*ret = st->stmt[id];
	return 0;
}

void store_stmt_done(sqlite3_stmt *s)
{
	if (!s)
		return;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

int store_exec(struct store *st, enum stmt_id id)
{
	sqlite3_stmt *s;
	int rc, r;

	if ((r = store_stmt(st, id, &s)) < 0)
		return r;
	rc = sqlite3_step(s);
	r = rc == SQLITE_DONE ? 0 : store_sql_err(st, rc);
	store_stmt_done(s);
	return r;
}

int store_tx_begin(struct store *st)
{
	return store_exec(st, S_BEGIN);
}

void store_tx_rollback(struct store *st)
{
	/* SQLite may have rolled back already (SQLITE_FULL, IOERR): then autocommit is on. */
	if (!sqlite3_get_autocommit(st->db) && store_exec(st, S_ROLLBACK) < 0)
		log_debug("store: rollback failed");
}

int store_tx_commit(struct store *st)
{
	int r = store_exec(st, S_COMMIT);

	if (r < 0)
		store_tx_rollback(st);
	return r;
}

/* Text column into a fixed buffer: -EBADMSG when missing, too long or not printable. */
static int col_text(sqlite3_stmt *s, int col, char *out, size_t size, size_t min)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	int n = sqlite3_column_bytes(s, col);

	if (!t || n < 0 || (size_t)n >= size || (size_t)n < min)
		return -EBADMSG;
	memcpy(out, t, (size_t)n);
	out[n] = '\0';
	return store_text_ok(out, min, size - 1) ? 0 : -EBADMSG;
}

static int col_blob(sqlite3_stmt *s, int col, uint8_t *out, size_t max, size_t *ret_len)
{
	const void *p = sqlite3_column_blob(s, col);
	int n = sqlite3_column_bytes(s, col);

	if (sqlite3_column_type(s, col) == SQLITE_NULL) {
		*ret_len = 0;
		return 0;
	}
	if (!p || n < 1 || (size_t)n > max)
		return -EBADMSG;
	memcpy(out, p, (size_t)n);
	*ret_len = (size_t)n;
	return 0;
}

int store_xrow_from_row(sqlite3_stmt *s, struct xrow *x)
{
	uint8_t methods[METHODS_BLOB_MAX];
	size_t n;
	int64_t v;

	memset(x, 0, sizeof(*x));
	x->xid = sqlite3_column_int64(s, 0);
	if (col_blob(s, 1, x->id, sizeof(x->id), &n) < 0 || n != STORE_KEY_ID_LEN ||
	    col_text(s, 2, x->peer, sizeof(x->peer), 1) < 0 ||
	    col_text(s, 3, x->class_name, sizeof(x->class_name), 1) < 0 ||
	    col_blob(s, 4, methods, sizeof(methods), &n) < 0 || n < 2 || n % 2)
		return -EBADMSG;
	x->n_methods = n / 2;
	for (size_t i = 0; i < x->n_methods; i++)
		x->methods[i] = (uint16_t)(methods[2 * i] << 8 | methods[2 * i + 1]);
	x->role = (unsigned)sqlite3_column_int(s, 5);
	v = sqlite3_column_int64(s, 6);
	if (x->role > 1 || v < 1 || v > STORE_POOL_KEYS_MAX)
		return -EBADMSG;
	x->n_keys = (unsigned)v;
	v = sqlite3_column_int64(s, 7);
	if (v < STORE_KEY_MIN_LEN || v > STORE_KEY_MAX_LEN)
		return -EBADMSG;
	x->key_len = (unsigned)v;
	x->not_before = sqlite3_column_int64(s, 8);
	x->soft_expiry = sqlite3_column_int64(s, 9);
	x->hard_expiry = sqlite3_column_int64(s, 10);
	x->created = sqlite3_column_int64(s, 11);
	x->changed = sqlite3_column_int64(s, 12);
	x->state = sqlite3_column_int(s, 13);
	if (x->state != STORE_PRE_ACTIVE && x->state != STORE_ACTIVE && x->state != STORE_DESTROYED)
		return -EBADMSG;
	x->withdrawn = sqlite3_column_int(s, 14) != 0;
	v = sqlite3_column_int64(s, 15);
	if (v < 0 || v > x->n_keys)
		return -EBADMSG;
	x->out_next = (unsigned)v;
	x->in_mask = (uint64_t)sqlite3_column_int64(s, 16);
	v = sqlite3_column_int64(s, 17);
	if (v < 0 || v > x->n_keys || (unsigned)__builtin_popcountll(x->in_mask) != v ||
	    (x->n_keys < 64 && (x->in_mask >> x->n_keys) != 0))
		return -EBADMSG;
	x->in_count = (unsigned)v;
	if (col_blob(s, 18, x->blob[STORE_OUTBOUND], SEAL_BLOB_MAX, &x->blob_len[STORE_OUTBOUND]) < 0 ||
	    col_blob(s, 19, x->blob[STORE_INBOUND], SEAL_BLOB_MAX, &x->blob_len[STORE_INBOUND]) < 0)
		return -EBADMSG;
	return 0;
}

/*
 * AAD = label || exchange_id || direction (this side's) || role || peer ||
 * class || methods || n_keys || key_len || not_before || soft_expiry ||
 * hard_expiry, each variable field with a one-byte length: a blob opens
 * only in the row, the direction and with the metadata it was sealed for.
 */
static const char aad_label[] = "mfsec store pool v2";

int store_pool_aad(const struct xrow *x, unsigned dir, uint8_t out[static AAD_MAX],
		   size_t *ret_len)
{
	struct wbuf w = wbuf_init(out, AAD_MAX);
	size_t lp = strlen(x->peer), lc = strlen(x->class_name);

	wbuf_put(&w, aad_label, sizeof(aad_label) - 1);
	wbuf_put(&w, x->id, STORE_KEY_ID_LEN);
	wbuf_u8(&w, (uint8_t)dir);
	wbuf_u8(&w, (uint8_t)x->role);
	wbuf_u8(&w, (uint8_t)lp);
	wbuf_put(&w, x->peer, lp);
	wbuf_u8(&w, (uint8_t)lc);
	wbuf_put(&w, x->class_name, lc);
	wbuf_u8(&w, (uint8_t)x->n_methods);
	for (size_t i = 0; i < x->n_methods; i++)
		wbuf_u16(&w, x->methods[i]);
	wbuf_u8(&w, (uint8_t)x->n_keys);
	wbuf_u8(&w, (uint8_t)x->key_len);
	wbuf_u64(&w, (uint64_t)x->not_before);
	wbuf_u64(&w, (uint64_t)x->soft_expiry);
	wbuf_u64(&w, (uint64_t)x->hard_expiry);
	if (wbuf_error(&w) < 0)
		return -EMSGSIZE;
	*ret_len = w.len;
	return 0;
}

/* The seal key of an epoch: HKDF-SHA-256(salt = epoch, ikm = KEK, info = label). */
static int seal_key_derive(struct store *st, const uint8_t epoch[static SEAL_EPOCH_LEN],
			   struct seal_key *ret)
{
	static const char info[] = "mfsec store seal key v1";
	uint8_t k[AEAD_KEY_LEN];
	struct aead a = { 0 };
	int r;

	if ((r = hkdf(HASH_SHA256, epoch, SEAL_EPOCH_LEN, st->kek->p, st->kek->len,
		      (const uint8_t *)info, sizeof(info) - 1, k, sizeof(k))) < 0 ||
	    (r = aead_init(&a, k)) < 0)
		goto out;
	aead_done(&ret->aead);
	ret->aead = a;
	memcpy(ret->epoch, epoch, SEAL_EPOCH_LEN);
	ret->set = true;
out:
	mfs_wipe(k, sizeof(k));
	return r;
}

static int seal_key_new_epoch(struct store *st)
{
	uint8_t epoch[SEAL_EPOCH_LEN];
	int r;

	if ((r = crypto_random_public(epoch, sizeof(epoch))) < 0 ||
	    (r = seal_key_derive(st, epoch, &st->cur)) < 0)
		return r;
	st->cur_sealed = 0;
	return 0;
}

int store_seal(struct store *st, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
	       size_t len, uint8_t *blob)
{
	uint8_t *iv = blob + 1 + SEAL_EPOCH_LEN;
	uint64_t c;
	int r;

	if (!st->cur.set || st->cur_sealed >= SEAL_MAX_PER_EPOCH)
		if ((r = seal_key_new_epoch(st)) < 0)
			return r;
	blob[0] = SEAL_VERSION;
	memcpy(blob + 1, st->cur.epoch, SEAL_EPOCH_LEN);
	/* Deterministic nonce (SP 800-38D §8.2.1): 32 zero bits, 64-bit counter. */
	c = ++st->cur_sealed;
	memset(iv, 0, 4);
	for (size_t i = 0; i < 8; i++)
		iv[4 + i] = (uint8_t)(c >> (56 - 8 * i));
	return aead_seal(&st->cur.aead, iv, AEAD_IV_LEN, aad, aad_len, pt, len,
			 blob + SEAL_HDR_LEN, blob + SEAL_HDR_LEN + len);
}

int store_unseal(struct store *st, const uint8_t *aad, size_t aad_len, const uint8_t *blob,
		 size_t blob_len, size_t len, uint8_t *pt)
{
	const uint8_t *epoch = blob ? blob + 1 : NULL;
	struct seal_key *sk;
	int r;

	if (!blob || blob_len != SEAL_OVERHEAD + len || blob[0] != SEAL_VERSION) {
		r = -EKEYREJECTED;
		goto fail;
	}
	if (st->cur.set && memcmp(epoch, st->cur.epoch, SEAL_EPOCH_LEN) == 0) {
		sk = &st->cur;
	} else {
		/* Epochs are public values (nonce-like), compared with memcmp. */
		if (!st->other.set || memcmp(epoch, st->other.epoch, SEAL_EPOCH_LEN) != 0)
			if ((r = seal_key_derive(st, epoch, &st->other)) < 0)
				goto fail;
		sk = &st->other;
	}
	return aead_open(&sk->aead, blob + 1 + SEAL_EPOCH_LEN, AEAD_IV_LEN, aad, aad_len,
			 blob + SEAL_HDR_LEN, len, blob + SEAL_HDR_LEN + len, AEAD_TAG_LEN, pt);
fail:
	mfs_wipe(pt, len);
	return r;
}

int store_kek_init(const char *path)
{
	uint8_t k[STORE_KEK_LEN];
	int r;

	if (!path)
		return -EINVAL;
	if ((r = crypto_random(k, sizeof(k))) < 0)
		goto out;
	r = file_write_atomic(path, k, sizeof(k), FILE_SECRET);
out:
	mfs_wipe(k, sizeof(k));
	return r;
}

int store_kek_load(const char *path, struct secret **ret)
{
	struct secret *s = NULL;
	int r;

	if (!path || !ret)
		return -EINVAL;
	if ((r = file_read_secret(path, STORE_KEK_LEN, FILE_SECRET | FILE_NO_FOLLOW, &s)) < 0)
		return r;
	if (s->len != STORE_KEK_LEN) {
		secret_free(s);
		return -EBADMSG;
	}
	*ret = s;
	return 0;
}

/* A sibling file (-wal, -shm) that exists must not be readable by others either. */
static int check_sibling(const char *path, const char *suffix)
{
	char p[PATH_MAX];
	struct stat stt;
	int n = snprintf(p, sizeof(p), "%s%s", path, suffix);

	if (n < 0 || (size_t)n >= sizeof(p))
		return -ENAMETOOLONG;
	if (lstat(p, &stt) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISREG(stt.st_mode))
		return -EINVAL;
	return (stt.st_mode & (S_IRWXG | S_IRWXO)) ? -EPERM : 0;
}

/*
 * Create the database file with mode 0600 ourselves (SQLite would use 0644
 * minus the umask; it gives -wal and -shm the mode of the main file), or
 * check the mode of an existing one.
 */
static int db_file_prepare(const char *path)
{
	struct stat stt;
	int fd, r = 0;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (fchmod(fd, 0600) < 0)
			r = -errno;
		close(fd);
		if (r < 0)
			unlink(path);
		return r;
	}
	if (errno != EEXIST)
		return -errno;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return errno == ELOOP ? -ELOOP : -errno;
	if (fstat(fd, &stt) < 0)
		r = -errno;
	else if (!S_ISREG(stt.st_mode))
		r = -EINVAL;
	else if (stt.st_mode & (S_IRWXG | S_IRWXO))
		r = -EPERM;
	close(fd);
	if (r == 0 && (r = check_sibling(path, "-wal")) == 0)
		r = check_sibling(path, "-shm");
	return r;
}

/* A pragma that must take effect: run it, and compare its first result when expect is set. */
static int pragma(struct store *st, const char *sql, const char *expect)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *v;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return store_sql_err(st, rc);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		v = sqlite3_column_text(s, 0);
		if (expect && (!v || strcmp((const char *)v, expect) != 0))
			r = -EIO;
		expect = NULL;
	}
	if (rc != SQLITE_DONE)
		r = store_sql_err(st, rc);
	else if (expect)
		r = -EIO;	/* no row where one was expected */
	sqlite3_finalize(s);
	return r;
}

int store_open(const char *path, const struct secret *kek, struct store **ret)
{
	struct store *st = NULL;
	bool created = false;
	int rc, r;

	if (!path || !kek || !ret || kek->len != STORE_KEK_LEN)
		return -EINVAL;
	if ((r = db_file_prepare(path)) < 0)
		return r;
	if (!(st = calloc(1, sizeof(*st))))
		return -ENOMEM;
	if (!(st->kek = secret_dup(kek->p, kek->len))) {
		r = -ENOMEM;
		goto out;
	}
	rc = sqlite3_open_v2(path, &st->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		r = store_sql_err(st, rc);
		goto out;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	/*
	 * WAL with synchronous=FULL: every COMMIT fsyncs the WAL before it
	 * returns, which the delivered-once rule relies on. secure_delete
	 * zeroes freed cells and pages, so a wiped blob leaves no copy.
	 */
	if ((r = pragma(st, "PRAGMA journal_mode = WAL", "wal")) < 0 ||
	    (r = pragma(st, "PRAGMA synchronous = FULL", NULL)) < 0 ||
	    (r = pragma(st, "PRAGMA secure_delete = ON", "1")) < 0 ||
	    (r = pragma(st, "PRAGMA foreign_keys = ON", NULL)) < 0 ||
	    (r = pragma(st, "PRAGMA journal_size_limit = 67108864", NULL)) < 0)
		goto out;
	if ((r = store_tx_begin(st)) < 0)
		goto out;
	if ((r = store_schema_init(st, &created)) < 0 ||
	    (created && (r = store_kek_check_create(st)) < 0) ||
	    (created && (r = store_audit_insert(st, (int64_t)time(NULL), "store", "create",
						"schema version 2", 0)) < 0)) {
		store_tx_rollback(st);
		goto out;
	}
	if ((r = store_tx_commit(st)) < 0)
		goto out;
	if ((r = store_kek_check_verify(st)) < 0)
		goto out;
	*ret = st;
	st = NULL;
out:
	store_close(st);
	return r;
}

int store_set_size_limit(struct store *st, uint64_t max_bytes)
{
	char sql[64];
	sqlite3_stmt *s = NULL;
	int64_t page_size = 0;
	uint64_t pages;
	int rc;

	if (!st)
		return -EINVAL;
	rc = sqlite3_prepare_v2(st->db, "PRAGMA page_size", -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW)
		page_size = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (page_size <= 0)
		return store_sql_err(st, rc);
	/* SQLite's default limit (and the largest it takes) is 2^32 - 2 pages. */
	pages = max_bytes ? max_bytes / (uint64_t)page_size : 0xfffffffeULL;
	if (pages < 1)
		pages = 1;
	if (pages > 0xfffffffeULL)
		pages = 0xfffffffeULL;
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %llu", (unsigned long long)pages);
	return pragma(st, sql, NULL);
}

void store_close(struct store *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < S_COUNT_; i++)
		sqlite3_finalize(st->stmt[i]);
	if (st->db) {
		/* Moves the WAL into the file and truncates it; busy (another reader) is fine. */
		sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		if (sqlite3_close(st->db) != SQLITE_OK)
			log_debug("store: close: %s", sqlite3_errmsg(st->db));
	}
	aead_done(&st->cur.aead);
	aead_done(&st->other.aead);
	secret_free(st->kek);
	mfs_wipe(st, sizeof(*st));
	free(st);
}
