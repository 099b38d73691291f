/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/log.h"
#include "base/secret.h"

static void test_alloc_zeroed_and_free(void **state)
{
	struct secret *s = secret_alloc(100);

	(void)state;
	assert_non_null(s);
	assert_int_equal(s->len, 100);
	for (size_t i = 0; i < s->len; i++)
		assert_int_equal(s->p[i], 0);
	memset(s->p, 0xaa, s->len);
	secret_free(s);
	secret_free(NULL);
	assert_null(secret_alloc(0));
	assert_null(secret_alloc(SECRET_MAX_LEN + 1));
}

static void test_dup(void **state)
{
	struct secret *s = secret_dup("key material", 12);

	(void)state;
	assert_non_null(s);
	assert_memory_equal(s->p, "key material", 12);
	secret_free(s);
}

/* Writing one byte past the end hits the guard page. */
static void test_guard_page(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct secret *s = secret_alloc(4096 - 64);	/* ends near a page end */
		volatile uint8_t *p = s->p;
		size_t i = 0;

		signal(SIGSEGV, SIG_DFL);	/* cmocka catches it otherwise */
		for (;; i++)	/* walk forward until the guard page faults */
			p[s->len + i] = 1;
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
}

static void test_ct_eq(void **state)
{
	uint8_t a[33], b[33];

	(void)state;
	memset(a, 7, sizeof(a));
	memcpy(b, a, sizeof(b));
	assert_true(mfs_ct_eq(a, b, sizeof(a)));
	assert_true(mfs_ct_eq(a, b, 0));
	for (size_t i = 0; i < sizeof(a); i++) {
		for (int bit = 0; bit < 8; bit++) {
			b[i] ^= (uint8_t)(1 << bit);
			assert_false(mfs_ct_eq(a, b, sizeof(a)));
			b[i] ^= (uint8_t)(1 << bit);
		}
	}
	memset(a, 0, sizeof(a));
	assert_true(mfs_ct_is_zero(a, sizeof(a)));
	a[32] = 0x80;
	assert_false(mfs_ct_is_zero(a, sizeof(a)));
}

static void test_wipe(void **state)
{
	uint8_t buf[64];

	(void)state;
	memset(buf, 0x5c, sizeof(buf));
	mfs_wipe(buf, sizeof(buf));
	assert_true(mfs_ct_is_zero(buf, sizeof(buf)));
	mfs_wipe(NULL, 0);
}

static void test_log_levels(void **state)
{
	enum mfs_log_level l;

	(void)state;
	assert_int_equal(mfs_log_level_parse("debug", &l), 0);
	assert_int_equal(l, MFS_LOG_DEBUG);
	assert_int_equal(mfs_log_level_parse("loud", &l), -EINVAL);
	mfs_log_set_level(MFS_LOG_ERR);
	log_info("not shown %d", 1);
	mfs_log_set_level(MFS_LOG_INFO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_zeroed_and_free),
		cmocka_unit_test(test_dup),
		cmocka_unit_test(test_guard_page),
		cmocka_unit_test(test_ct_eq),
		cmocka_unit_test(test_wipe),
		cmocka_unit_test(test_log_levels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
