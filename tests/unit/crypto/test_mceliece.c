/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Classic McEliece wrappers: round trip, implicit rejection, and a
 * cross-check against the mceliece<N>-keypair/-enc/-dec command-line tools
 * of the Debian "mceliece" package (raw bytes on numbered descriptors).
 * Each key pair is generated once per binary: key generation is slow.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/secret.h"
#include "crypto/mceliece.h"

extern char **environ;

struct set {
	const char *name;
	size_t pk_len, sk_len, ct_len;
	int (*keypair)(uint8_t *pk, uint8_t *sk);
	int (*encap)(uint8_t *ct, uint8_t *ss, const uint8_t *pk);
	int (*decap)(uint8_t *ss, const uint8_t *ct, const uint8_t *sk);
	uint8_t *pk;
	struct secret *sk;
};

static struct set sets[] = {
	{ "mceliece460896", CMCE460896_PK_LEN, CMCE460896_SK_LEN, CMCE460896_CT_LEN,
	  cmce460896_keypair, cmce460896_encap, cmce460896_decap, NULL, NULL },
	{ "mceliece6688128", CMCE6688128_PK_LEN, CMCE6688128_SK_LEN, CMCE6688128_CT_LEN,
	  cmce6688128_keypair, cmce6688128_encap, cmce6688128_decap, NULL, NULL },
};

static char tmpdir[] = "/tmp/mfs-test-mceliece-XXXXXX";

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(tmpdir))
		return -1;
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		struct set *s = &sets[i];
		double t0;

		s->pk = malloc(s->pk_len);
		s->sk = secret_alloc(s->sk_len);
		if (!s->pk || !s->sk)
			return -1;
		t0 = now_ms();
		if (s->keypair(s->pk, s->sk->p) != 0)
			return -1;
		print_message("%s keypair: %.1f ms\n", s->name, now_ms() - t0);
	}
	return 0;
}

static void path_in_tmp(char *out, size_t size, const char *name);

static int teardown(void **state)
{
	static const char *const names[] = { "pk", "sk", "ct", "key" };
	char path[256];

	(void)state;
	/* what a failed test may have left behind */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		path_in_tmp(path, sizeof(path), names[i]);
		unlink(path);
	}
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		free(sets[i].pk);
		secret_free(sets[i].sk);
	}
	rmdir(tmpdir);
	return 0;
}

static void test_roundtrip(void **state)
{
	const struct set *s = *state;
	uint8_t ct[CMCE6688128_CT_LEN], ct2[CMCE6688128_CT_LEN];
	uint8_t ss[CMCE_SS_LEN], ss2[CMCE_SS_LEN], ss3[CMCE_SS_LEN];

	assert_int_equal(s->encap(ct, ss, s->pk), 0);
	assert_int_equal(s->decap(ss2, ct, s->sk->p), 0);
	assert_memory_equal(ss, ss2, CMCE_SS_LEN);
	assert_false(mfs_ct_is_zero(ss, CMCE_SS_LEN));
	/* encapsulation is randomized */
	assert_int_equal(s->encap(ct2, ss3, s->pk), 0);
	assert_memory_not_equal(ct, ct2, s->ct_len);
	assert_memory_not_equal(ss, ss3, CMCE_SS_LEN);
}

/* A flipped bit anywhere gives a different key, and no error (implicit rejection). */
static void test_implicit_rejection(void **state)
{
	const struct set *s = *state;
	uint8_t ct[CMCE6688128_CT_LEN];
	uint8_t ss[CMCE_SS_LEN], bad[CMCE_SS_LEN], again[CMCE_SS_LEN];
	const size_t bits[] = { 0, 7, 8 * (s->ct_len / 2) + 3, 8 * s->ct_len - 1 };

	assert_int_equal(s->encap(ct, ss, s->pk), 0);
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		ct[bits[i] / 8] ^= (uint8_t)(1U << (bits[i] % 8));
		assert_int_equal(s->decap(bad, ct, s->sk->p), 0);
		assert_memory_not_equal(bad, ss, CMCE_SS_LEN);
		/* deterministic: the same bad ciphertext gives the same key */
		assert_int_equal(s->decap(again, ct, s->sk->p), 0);
		assert_memory_equal(bad, again, CMCE_SS_LEN);
		ct[bits[i] / 8] ^= (uint8_t)(1U << (bits[i] % 8));
		assert_int_equal(s->decap(again, ct, s->sk->p), 0);
		assert_memory_equal(again, ss, CMCE_SS_LEN);
	}
}

/* CLI plumbing */

struct redir {
	int fd;
	const char *path;
	int flags;
};

static void path_in_tmp(char *out, size_t size, const char *name)
{
	int n = snprintf(out, size, "%s/%s", tmpdir, name);

	assert_true(n > 0 && (size_t)n < size);
}

static void write_file(const char *path, const uint8_t *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Read exactly len bytes; the file must be exactly that long. */
static void read_file(const char *path, uint8_t *p, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t got = 0;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, len);
	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		assert_true(n > 0);
		got += (size_t)n;
	}
	close(fd);
}

/* Run tool with the given redirections; false when the tool is not installed. */
static bool run_tool(const char *tool, const struct redir *r, size_t n)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { (char *)tool, NULL };
	pid_t pid;
	int status, err;

	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(posix_spawn_file_actions_addopen(&fa, r[i].fd, r[i].path,
								  r[i].flags, 0600), 0);
	err = posix_spawnp(&pid, tool, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err == ENOENT)
		return false;
	assert_int_equal(err, 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return true;
}

#define WR (O_WRONLY | O_CREAT | O_TRUNC)

/* our keypair -> their enc -> our decap */
static void test_cli_enc(void **state)
{
	const struct set *s = *state;
	char tool[64], pk[256], ct[256], key[256];
	uint8_t ctb[CMCE6688128_CT_LEN], theirs[CMCE_SS_LEN], ours[CMCE_SS_LEN];
	bool ran;

	snprintf(tool, sizeof(tool), "%s-enc", s->name);
	path_in_tmp(pk, sizeof(pk), "pk");
	path_in_tmp(ct, sizeof(ct), "ct");
	path_in_tmp(key, sizeof(key), "key");
	write_file(pk, s->pk, s->pk_len);
	{
		const struct redir r[] = { { 4, pk, O_RDONLY }, { 1, ct, WR }, { 7, key, WR } };

		ran = run_tool(tool, r, 3);
	}
	if (ran) {
		read_file(ct, ctb, s->ct_len);
		read_file(key, theirs, CMCE_SS_LEN);
		assert_int_equal(s->decap(ours, ctb, s->sk->p), 0);
		assert_memory_equal(ours, theirs, CMCE_SS_LEN);
	}
	unlink(pk);
	unlink(ct);
	unlink(key);
	if (!ran)
		skip();
}

/* their keypair -> our encap -> their dec */
static void test_cli_dec(void **state)
{
	const struct set *s = *state;
	char tool[64], pk[256], sk[256], ct[256], key[256];
	uint8_t ctb[CMCE6688128_CT_LEN], theirs[CMCE_SS_LEN], ours[CMCE_SS_LEN];
	uint8_t *pkb = malloc(s->pk_len);
	bool ran;

	assert_non_null(pkb);
	path_in_tmp(pk, sizeof(pk), "pk");
	path_in_tmp(sk, sizeof(sk), "sk");
	path_in_tmp(ct, sizeof(ct), "ct");
	path_in_tmp(key, sizeof(key), "key");
	snprintf(tool, sizeof(tool), "%s-keypair", s->name);
	{
		const struct redir r[] = { { 5, pk, WR }, { 9, sk, WR } };

		ran = run_tool(tool, r, 2);
	}
	if (ran) {
		read_file(pk, pkb, s->pk_len);
		assert_int_equal(s->encap(ctb, ours, pkb), 0);
		write_file(ct, ctb, s->ct_len);
		snprintf(tool, sizeof(tool), "%s-dec", s->name);
		{
			const struct redir r[] = { { 8, sk, O_RDONLY }, { 0, ct, O_RDONLY },
						   { 7, key, WR } };

			assert_true(run_tool(tool, r, 3));
		}
		read_file(key, theirs, CMCE_SS_LEN);
		assert_memory_equal(ours, theirs, CMCE_SS_LEN);
	}
	free(pkb);
	unlink(pk);
	unlink(sk);
	unlink(ct);
	unlink(key);
	if (!ran)
		skip();
}

#define FOR_SETS(fn) \
	cmocka_unit_test_prestate(fn, &sets[0]), cmocka_unit_test_prestate(fn, &sets[1])

int main(void)
{
	const struct CMUnitTest tests[] = {
		FOR_SETS(test_roundtrip),
		FOR_SETS(test_implicit_rejection),
		FOR_SETS(test_cli_enc),
		FOR_SETS(test_cli_dec),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
