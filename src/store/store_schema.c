/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schema (version 1) and the KEK check value. docs/store.md explains every
 * table; keep the two in step.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "base/secret.h"
#include "store/store_internal.h"

static const char schema_v1[] =
	/* name -> value: schema_version, created, kek_check */
	"CREATE TABLE meta ("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  value NOT NULL"
	") WITHOUT ROWID;"
	/* one row per exchange (one put) */
	"CREATE TABLE exchanges ("
	"  xid INTEGER PRIMARY KEY,"
	"  exchange_id BLOB NOT NULL UNIQUE CHECK (length(exchange_id) BETWEEN 1 AND 32),"
	"  peer TEXT NOT NULL,"
	"  class TEXT NOT NULL,"
	"  methods BLOB NOT NULL CHECK (length(methods) BETWEEN 2 AND 16 AND length(methods) % 2 = 0),"
	"  created INTEGER NOT NULL"
	");"
	/* method -> exchanges derived with it (revocation lookups) */
	"CREATE TABLE exchange_methods ("
	"  method INTEGER NOT NULL CHECK (method BETWEEN 0 AND 65535),"
	"  xid INTEGER NOT NULL REFERENCES exchanges (xid),"
	"  PRIMARY KEY (method, xid)"
	") WITHOUT ROWID;"
	/* one row per key; blob is present exactly while the key may be served */
	"CREATE TABLE keys ("
	"  kid INTEGER PRIMARY KEY,"
	"  key_id BLOB NOT NULL UNIQUE CHECK (length(key_id) = 16),"
	"  xid INTEGER NOT NULL REFERENCES exchanges (xid),"
	"  peer TEXT NOT NULL,"
	"  class TEXT NOT NULL,"
	"  direction INTEGER NOT NULL CHECK (direction IN (0, 1)),"
	"  state INTEGER NOT NULL CHECK (state BETWEEN 0 AND 5),"
	"  key_len INTEGER NOT NULL CHECK (key_len BETWEEN 16 AND 64),"
	"  not_before INTEGER NOT NULL,"
	"  soft_expiry INTEGER NOT NULL,"
	"  hard_expiry INTEGER NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  changed INTEGER NOT NULL,"
	"  delivered_at INTEGER,"
	"  delivered_to TEXT,"
	"  blob BLOB,"
	"  CHECK ((state <= 1) = (blob IS NOT NULL)),"
	"  CHECK ((state = 2) <= (delivered_to IS NOT NULL))"
	");"
	"CREATE INDEX keys_servable ON keys (peer, class, direction, not_before, kid) WHERE state <= 1;"
	"CREATE INDEX keys_pool_state ON keys (peer, class, direction, state);"
	"CREATE INDEX keys_live_expiry ON keys (hard_expiry) WHERE state <= 2;"
	"CREATE INDEX keys_xid ON keys (xid);"
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
		*ret_created = false;
		return 0;
	}
	rc = sqlite3_exec(st->db, schema_v1, NULL, NULL, NULL);
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

static void kek_check_meta(struct store_key_meta *m)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->peer, "-", 2);
	memcpy(m->class_name, "kek-check", 10);
	memcpy(m->exchange_id, "kek-check", 9);
	m->exchange_id_len = 9;
	m->key_len = KEK_CHECK_LEN;
}

int store_kek_check_create(struct store *st)
{
	struct store_key_meta m;
	uint8_t zero[KEK_CHECK_LEN] = { 0 };
	uint8_t blob[SEAL_OVERHEAD + KEK_CHECK_LEN];
	int r;

	kek_check_meta(&m);
	if ((r = store_seal(st, &m, zero, blob)) < 0)
		return r;
	return meta_put(st, "kek_check", 0, blob, sizeof(blob));
}

int store_kek_check_verify(struct store *st)
{
	struct store_key_meta m;
	uint8_t out[KEK_CHECK_LEN];
	sqlite3_stmt *s = NULL;
	int rc, r;

	kek_check_meta(&m);
	rc = sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE name = 'kek_check'", -1, &s,
				NULL);
	if (rc != SQLITE_OK)
		return store_sql_err(st, rc);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_BLOB) {
		r = store_unseal(st, &m, sqlite3_column_blob(s, 0),
				 (size_t)sqlite3_column_bytes(s, 0), out);
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
