/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The group commit's writer thread (src/cf/commit.h): batches are stored on
 * its own store handle, in order, each with its result, and the eventfd
 * says when one is done.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cf/commit.h"
#include "../store/store_test_util.h"

#define NOW 1000000

static const uint16_t methods[] = { KEX_ID_MLKEM768, KEX_ID_PSK };

static void test_committer(void **state)
{
	char dir[] = "/tmp/mfs-test-commit-XXXXXX", db[128], kekp[128], p[160];
	struct cf_batch *b[3], *d;
	uint8_t secrets[3][CF_MAX_PENDING][2 * STORE_POOL_SECRET_LEN];
	struct cf_committer *c = NULL;
	struct secret *kek = NULL;
	struct store *st = NULL;
	struct store_counts sc;
	struct pollfd pf;
	uint32_t seq = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/keys.db", dir);
	snprintf(kekp, sizeof(kekp), "%s/kek", dir);
	assert_int_equal(store_kek_init(kekp), 0);
	assert_int_equal(store_kek_load(kekp, &kek), 0);
	assert_int_equal(store_open(db, kek, &st), 0);
	assert_int_equal(cf_committer_new(db, kek, &c), 0);
	assert_null(cf_committer_done(c, false));
	assert_null(cf_committer_done(c, true));	/* nothing queued: no wait */

	for (int i = 0; i < 3; i++) {
		b[i] = calloc(1, sizeof(*b[i]));
		assert_non_null(b[i]);
		b[i]->n = 4;
		for (size_t k = 0; k < b[i]->n; k++)
			t_pool_in(&b[i]->in[k], secrets[i][k], "p", "c", ++seq, methods, 2,
				  STORE_ROLE_INITIATOR, 8, NOW, NOW + 100, NULL, NULL);
		b[i]->now = NOW;
		b[i]->result = -EINPROGRESS;
	}
	b[2]->in[3] = b[0]->in[0];	/* a duplicate: the whole third batch fails */
	for (int i = 0; i < 3; i++)
		cf_committer_submit(c, b[i]);
	for (int i = 0; i < 3; i++) {
		pf = (struct pollfd){ .fd = cf_committer_fd(c), .events = POLLIN };
		assert_int_equal(poll(&pf, 1, 10000), 1);	/* readable once one is done */
		d = cf_committer_done(c, true);
		assert_ptr_equal(d, b[i]);	/* in order */
		assert_int_equal(d->result, i == 2 ? -EEXIST : 0);
		free(d);
	}
	assert_null(cf_committer_done(c, false));
	pf = (struct pollfd){ .fd = cf_committer_fd(c), .events = POLLIN };
	assert_int_equal(poll(&pf, 1, 0), 0);	/* cleared */
	/* what the thread stored is there for the engine's own handle */
	assert_int_equal(store_counts(st, "p", "c", STORE_OUTBOUND, &sc), 0);
	assert_int_equal(sc.state[STORE_ACTIVE], 8 * 8);
	cf_committer_free(c);
	cf_committer_free(NULL);
	store_close(st);
	secret_free(kek);
	for (const char *const *n = (const char *const[]){ "keys.db", "keys.db-wal", "keys.db-shm",
							   "kek", NULL }; *n; n++) {
		snprintf(p, sizeof(p), "%s/%s", dir, *n);
		unlink(p);
	}
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_committer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
