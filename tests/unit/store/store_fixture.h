/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cmocka fixture of the key store tests: a fresh scratch directory
 * (mkdtemp of tmpl) holding a new KEK and an opened store; teardown closes
 * the store and removes the directory with what the tests leave in it
 * (keys.db and its WAL/SHM files, kek, kek2).
 */
#ifndef MFS_TEST_STORE_FIXTURE_H
#define MFS_TEST_STORE_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/secret.h"
#include "store/store.h"

struct t {
	char dir[64];
	char db[128], wal[128], kek_path[128];
	struct secret *kek;
	struct store *st;
	uint32_t seq;
};

/* tmpl: a mkdtemp() template, e.g. "/tmp/mfs-test-store-XXXXXX". */
static inline int t_fixture_setup(void **state, const char *tmpl)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	snprintf(t->dir, sizeof(t->dir), "%s", tmpl);
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->db, sizeof(t->db), "%s/keys.db", t->dir);
	snprintf(t->wal, sizeof(t->wal), "%s/keys.db-wal", t->dir);
	snprintf(t->kek_path, sizeof(t->kek_path), "%s/kek", t->dir);
	assert_int_equal(store_kek_init(t->kek_path), 0);
	assert_int_equal(store_kek_load(t->kek_path, &t->kek), 0);
	assert_int_equal(store_open(t->db, t->kek, &t->st), 0);
	*state = t;
	return 0;
}

static inline void t_fixture_rm(const char *dir, const char *name)
{
	char p[192];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	unlink(p);
}

static inline int t_fixture_teardown(void **state)
{
	static const char *const files[] = { "keys.db", "keys.db-wal", "keys.db-shm", "kek", "kek2" };
	struct t *t = *state;

	store_close(t->st);
	secret_free(t->kek);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		t_fixture_rm(t->dir, files[i]);
	rmdir(t->dir);
	free(t);
	return 0;
}

#endif
