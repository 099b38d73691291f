/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schema (version 2) and the KEK check value. docs/store.md explains every
 * table; keep the two in step.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "base/secret.h"
#include "store/store_internal.h"

static const char schema_v2[] =
	/* name -> value: schema_version, created, kek_check */
	"CREATE TABLE meta ("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  value NOT NULL"
	") WITHOUT ROWID;"
	/*
	 * One row per exchange: its keys are derived from the two sealed pool
	 * secrets, and their states follow from state, withdrawn, out_next and
	 * in_mask (docs/store.md). A blob is present exactly while a key of its
	 * direction may still be served.
	 */
	"CREATE TABLE exchanges ("
	"  xid INTEGER PRIMARY KEY,"
	"  exchange_id BLOB NOT NULL CHECK (length(exchange_id) = 16),"
	"  tag INTEGER NOT NULL,"
	"  peer TEXT NOT NULL,"
	"  class TEXT NOT NULL,"
	"  methods BLOB NOT NULL CHECK (length(methods) BETWEEN 2 AND 16 AND length(methods) % 2 = 0),"
	"  role INTEGER NOT NULL CHECK (role IN (0, 1)),"
	"  n_keys INTEGER NOT NULL CHECK (n_keys BETWEEN 1 AND 64),"
	"  key_len INTEGER NOT NULL CHECK (key_len BETWEEN 16 AND 64),"
	"  not_before INTEGER NOT NULL,"
	"  soft_expiry INTEGER NOT NULL,"
	"  hard_expiry INTEGER NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  changed INTEGER NOT NULL,"
	"  state INTEGER NOT NULL CHECK (state IN (0, 1, 4)),"
	"  withdrawn INTEGER NOT NULL DEFAULT 0 CHECK (withdrawn IN (0, 1)),"
	"  out_next INTEGER NOT NULL DEFAULT 0 CHECK (out_next BETWEEN 0 AND n_keys),"
	"  in_mask INTEGER NOT NULL DEFAULT 0,"
	"  in_count INTEGER NOT NULL DEFAULT 0 CHECK (in_count BETWEEN 0 AND n_keys),"
	"  out_blob BLOB,"
	"  in_blob BLOB,"
	"  CHECK ((out_blob IS NOT NULL) = (state <= 1 AND withdrawn = 0 AND out_next < n_keys)),"
	"  CHECK ((in_blob IS NOT NULL) = (state <= 1 AND withdrawn = 0 AND in_count < n_keys))"
	");"
	/* exchange IDs are unique: store_put checks through this index (no second one) */
	"CREATE INDEX exchanges_tag ON exchanges (tag);"
	"CREATE INDEX exchanges_out ON exchanges (peer, class, not_before, xid) "
	"  WHERE out_blob IS NOT NULL;"
	"CREATE INDEX exchanges_live_expiry ON exchanges (hard_expiry) WHERE state <= 1;"
	/*
	 * Pool depth per (peer, class): the keys still servable in each
	 * direction, kept by triggers so that every write path keeps it right
	 * and reading it costs one row, however many exchanges are stored.
	 * A row's share: n_keys - delivered while its blob is present, else 0.
	 */
	"CREATE TABLE pools ("
	"  peer TEXT NOT NULL,"
	"  class TEXT NOT NULL,"
	"  out_n INTEGER NOT NULL DEFAULT 0 CHECK (out_n >= 0),"
	"  in_n INTEGER NOT NULL DEFAULT 0 CHECK (in_n >= 0),"
	"  PRIMARY KEY (peer, class)"
	") WITHOUT ROWID;"
	"CREATE TRIGGER pools_insert AFTER INSERT ON exchanges BEGIN"
	"  INSERT OR IGNORE INTO pools (peer, class) VALUES (NEW.peer, NEW.class);"
	"  UPDATE pools SET"
	"    out_n = out_n + CASE WHEN NEW.out_blob IS NULL THEN 0 ELSE NEW.n_keys - NEW.out_next END,"
	"    in_n = in_n + CASE WHEN NEW.in_blob IS NULL THEN 0 ELSE NEW.n_keys - NEW.in_count END"
	"    WHERE peer = NEW.peer AND class = NEW.class;"
	"END;"
	"CREATE TRIGGER pools_update AFTER UPDATE OF out_next, in_count, out_blob, in_blob"
	"  ON exchanges BEGIN"
	"  UPDATE pools SET"
	"    out_n = out_n + CASE WHEN NEW.out_blob IS NULL THEN 0 ELSE NEW.n_keys - NEW.out_next END"
	"                  - CASE WHEN OLD.out_blob IS NULL THEN 0 ELSE OLD.n_keys - OLD.out_next END,"
	"    in_n = in_n + CASE WHEN NEW.in_blob IS NULL THEN 0 ELSE NEW.n_keys - NEW.in_count END"
	"                - CASE WHEN OLD.in_blob IS NULL THEN 0 ELSE OLD.n_keys - OLD.in_count END"
	"    WHERE peer = OLD.peer AND class = OLD.class;"
	"END;"
	"CREATE TRIGGER exchanges_no_delete BEFORE DELETE ON exchanges"
	"  BEGIN SELECT RAISE(ABORT, 'exchanges are kept (their metadata is the record)'); END;"
	/*
	 * Delivery log: keys first..first+count-1 of one direction of one
	 * exchange went to delivered_to at at (one row per take and exchange,
	 * one per get by ID).
	 */
	"CREATE TABLE deliveries ("
	"  xid INTEGER NOT NULL REFERENCES exchanges (xid),"
	"  direction INTEGER NOT NULL CHECK (direction IN (0, 1)),"
	"  first INTEGER NOT NULL CHECK (first BETWEEN 0 AND 63),"
	"  count INTEGER NOT NULL CHECK (count BETWEEN 1 AND 64),"
	"  at INTEGER NOT NULL,"
	"  delivered_to TEXT NOT NULL,"
	"  PRIMARY KEY (xid, direction, first)"
	") WITHOUT ROWID;"
	/* append-only audit log */
	"CREATE TABLE audit ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  at INTEGER NOT NULL,"
	"  who TEXT NOT NULL,"
	"  what TEXT NOT NULL,"
	"  detail TEXT NOT NULL,"
	"  n_keys INTEGER NOT NULL"
	");"
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	"  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
	"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	"  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;";

static int meta_get_int(struct store *st, const char *name, int64_t *ret)
{
	sqlite3_stmt *s = NULL;
	int rc, r;

	rc = sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE name = ?1", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return store_sql_err(st, rc);
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_INTEGER) {
		*ret = sqlite3_column_int64(s, 0);
		r = 0;
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		r = -EBADMSG;
	} else {
		r = store_sql_err(st, rc);
	}
	sqlite3_finalize(s);
	return r;
}

static int meta_put(struct store *st, const char *name, int64_t ivalue, const void *bvalue,
		    size_t blen)
{
	sqlite3_stmt *s = NULL;
	int rc;

	rc = sqlite3_prepare_v2(st->db, "INSERT INTO meta (name, value) VALUES (?1, ?2)", -1, &s,
				NULL);
	if (rc != SQLITE_OK)
		return store_sql_err(st, rc);
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	if (bvalue)
		sqlite3_bind_blob(s, 2, bvalue, (int)blen, SQLITE_STATIC);
	else
		sqlite3_bind_int64(s, 2, ivalue);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : store_sql_err(st, rc);
}

int store_schema_init(struct store *st, bool *ret_created)
{
	sqlite3_stmt *s = NULL;
	int64_t version = 0;
	bool exists;
	int rc, r;

	rc = sqlite3_prepare_v2(st->db,
				"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
				-1, &s, NULL);
	if (rc != SQLITE_OK)
		return store_sql_err(st, rc);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		r = store_sql_err(st, rc);
		sqlite3_finalize(s);
		return r;
	}
	exists = sqlite3_column_int(s, 0) > 0;
	sqlite3_finalize(s);

	if (exists) {
		if ((r = meta_get_int(st, "schema_version", &version)) < 0)
			return r;
		if (version > STORE_SCHEMA_VERSION)
			return -EOPNOTSUPP;
		if (version < 1)
			return -EBADMSG;
		if (version < STORE_SCHEMA_VERSION)
			return -EMEDIUMTYPE;	/* v1: a row per key; no migration */
		*ret_created = false;
		return 0;
	}
	rc = sqlite3_exec(st->db, schema_v2, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store_sql_err(st, rc);
	if ((r = meta_put(st, "schema_version", STORE_SCHEMA_VERSION, NULL, 0)) < 0 ||
	    (r = meta_put(st, "created", (int64_t)time(NULL), NULL, 0)) < 0)
		return r;
	*ret_created = true;
	return 0;
}

/*
 * The KEK check value is a sealed block of zeros under a fixed label, so a
 * wrong KEK is refused at open instead of at the first take.
 */
#define KEK_CHECK_LEN 32
static const char kek_check_aad[] = "mfsec store kek check v2";

int store_kek_check_create(struct store *st)
{
	uint8_t zero[KEK_CHECK_LEN] = { 0 };
	uint8_t blob[SEAL_OVERHEAD + KEK_CHECK_LEN];
	int r;

	if ((r = store_seal(st, (const uint8_t *)kek_check_aad, sizeof(kek_check_aad) - 1, zero,
			    KEK_CHECK_LEN, blob)) < 0)
		return r;
	return meta_put(st, "kek_check", 0, blob, sizeof(blob));
}

int store_kek_check_verify(struct store *st)
{
	uint8_t out[KEK_CHECK_LEN];
	sqlite3_stmt *s = NULL;
	int rc, r;

	rc = sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE name = 'kek_check'", -1, &s,
				NULL);
	if (rc != SQLITE_OK)
		return store_sql_err(st, rc);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_BLOB) {
		r = store_unseal(st, (const uint8_t *)kek_check_aad, sizeof(kek_check_aad) - 1,
				 sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0),
				 KEK_CHECK_LEN, out);
		if (r == 0 && !mfs_ct_is_zero(out, sizeof(out)))
			r = -EKEYREJECTED;
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		r = -EBADMSG;
	} else {
		r = store_sql_err(st, rc);
	}
	sqlite3_finalize(s);
	mfs_wipe(out, sizeof(out));
	return r;
}
