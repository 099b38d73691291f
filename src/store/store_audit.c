/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Audit log: an append-only table (triggers in the schema refuse UPDATE
 * and DELETE). The store writes its own records (create, expire,
 * withdraw-method, unseal-failed) in the transaction of the change they
 * describe; callers add theirs with store_audit_append().
 */
#include <errno.h>

#include "store/store.h"
#include "store/store_internal.h"

static bool audit_args_ok(const char *who, const char *what, const char *detail, int64_t n_keys)
{
	return store_text_ok(who, 1, STORE_WHO_MAX) && store_text_ok(what, 1, STORE_WHAT_MAX) &&
	       store_text_ok(detail, 0, STORE_DETAIL_MAX) && n_keys >= 0;
}

int store_audit_insert(struct store *st, int64_t now, const char *who, const char *what,
		       const char *detail, int64_t n_keys)
{
	sqlite3_stmt *s;
	int rc, r;

	if (!audit_args_ok(who, what, detail, n_keys))
		return -EINVAL;
	if ((r = store_stmt(st, S_AUDIT_APPEND, &s)) < 0)
		return r;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_text(s, 2, who, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, what, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, detail, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, n_keys);
	rc = sqlite3_step(s);
	r = rc == SQLITE_DONE ? 0 : store_sql_err(st, rc);
	store_stmt_done(s);
	return r;
}

int store_audit_append(struct store *st, int64_t now, const char *who, const char *what,
		       const char *detail, int64_t n_keys)
{
	int r;

	if (!st || !audit_args_ok(who, what, detail ? detail : "", n_keys))
		return -EINVAL;
	if ((r = store_tx_begin(st)) < 0)
		return r;
	if ((r = store_audit_insert(st, now, who, what, detail ? detail : "", n_keys)) < 0) {
		store_tx_rollback(st);
		return r;
	}
	return store_tx_commit(st);
}

int store_audit_list(struct store *st, int64_t after_seq, store_audit_cb cb, void *arg)
{
	struct store_audit_rec rec;
	sqlite3_stmt *s;
	int rc, r = 0;

	if (!st || !cb)
		return -EINVAL;
	if ((r = store_stmt(st, S_AUDIT_LIST, &s)) < 0)
		return r;
	sqlite3_bind_int64(s, 1, after_seq);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		rec.seq = sqlite3_column_int64(s, 0);
		rec.at = sqlite3_column_int64(s, 1);
		rec.who = (const char *)sqlite3_column_text(s, 2);
		rec.what = (const char *)sqlite3_column_text(s, 3);
		rec.detail = (const char *)sqlite3_column_text(s, 4);
		rec.n_keys = sqlite3_column_int64(s, 5);
		if (!rec.who || !rec.what || !rec.detail) {
			r = -EBADMSG;
			break;
		}
		if ((r = cb(arg, &rec)) != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = store_sql_err(st, rc);
	store_stmt_done(s);
	return r;
}
