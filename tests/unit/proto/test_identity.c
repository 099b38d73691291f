/* SPDX-License-Identifier: Apache-2.0 */
/* Node identity: generate, save, load, and every refusal of a damaged identity. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/x509.h>

#include "kex/kex.h"
#include "proto/identity.h"

static char base[PATH_MAX - 512];

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(base, sizeof(base), "%s/mfs-identity-test.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	return mkdtemp(base) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* base/<name>[/<file>] */
__attribute__((format(printf, 1, 2)))
static const char *path(const char *fmt, ...)
{
	static char bufs[4][PATH_MAX];
	static int next;
	char *p = bufs[next++ % 4];
	char rel[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(p, PATH_MAX, "%s/%s", base, rel);
	return p;
}

static unsigned mode_of(const char *p)
{
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	return st.st_mode & 07777;
}

static size_t size_of(const char *p)
{
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	return (size_t)st.st_size;
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out;
	ssize_t n;

	assert_true(in >= 0);
	out = open(to, O_WRONLY | O_TRUNC | O_CREAT, 0600);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
}

static void load_fails(const char *dir, int want, const char *what_has)
{
	struct identity *idn = NULL;
	const char *what = NULL;

	assert_int_equal(identity_load(dir, &idn, &what), want);
	assert_null(idn);
	assert_non_null(what);
	if (!strstr(what, what_has))
		fail_msg("reason '%s' does not mention '%s'", what, what_has);
}

static void test_id_valid(void **state)
{
	static const char *const good[] = { "a", "0", "mfs-tokyo-1", "node.example.org",
		"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0" };	/* 63 */
	static const char *const bad[] = { "", "-a", ".a", "A", "a_b", "a b", "a/b", "ä",
		"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz01" };	/* 64 */
	struct identity *idn = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(identity_id_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(identity_id_valid(bad[i]));
	assert_false(identity_id_valid(NULL));
	assert_int_equal(identity_generate("Bad", 0, &idn), -EINVAL);
	assert_int_equal(identity_generate("ok", 0x9999, &idn), -EOPNOTSUPP);
	assert_null(idn);
}

/* generate -> save -> load gives the same identity, with the documented modes. */
static void round_trip(const char *name, uint16_t cmce)
{
	struct identity *a = NULL, *b = NULL;
	const char *dir = strdupa(path("%s", name));
	const char *what = NULL;
	uint8_t fpr[IDENTITY_FPR_LEN];

	assert_int_equal(identity_generate(name, cmce, &a), 0);
	assert_string_equal(a->id, name);
	assert_true(EVP_PKEY_is_a(a->key, "ML-DSA-65"));
	assert_int_equal(identity_cert_fingerprint(a->cert, fpr), 0);
	assert_memory_equal(fpr, a->cert_fpr, sizeof(fpr));
	assert_int_equal(identity_save(a, dir, 0), 0);

	assert_int_equal(mode_of(dir), 0700);
	assert_int_equal(mode_of(path("%s/node.key", name)), 0600);
	assert_int_equal(mode_of(path("%s/node.crt", name)), 0644);
	assert_int_equal(mode_of(path("%s/node.id", name)), 0644);
	if (cmce) {
		const struct kex_method *m = kex_method_by_id(cmce);

		assert_int_equal(mode_of(path("%s/mceliece.sk", name)), 0600);
		assert_int_equal(mode_of(path("%s/mceliece.pk", name)), 0644);
		assert_int_equal(size_of(path("%s/mceliece.pk", name)), m->kem->pk_len);
		assert_int_equal(size_of(path("%s/mceliece.sk", name)), m->kem->sk_len);
	} else {
		assert_int_equal(access(path("%s/mceliece.pk", name), F_OK), -1);
	}
	/* No temporary directory is left next to it. */
	assert_int_equal(size_of(path("%s/node.id", name)), strlen(name) + 1);

	assert_int_equal(identity_load(dir, &b, &what), 0);
	assert_null(what);
	assert_string_equal(b->id, a->id);
	assert_memory_equal(b->cert_fpr, a->cert_fpr, IDENTITY_FPR_LEN);
	assert_int_equal(EVP_PKEY_eq(a->key, b->key), 1);
	assert_int_equal(b->cmce_id, cmce);
	if (cmce) {
		assert_int_equal(b->cmce_pk_len, a->cmce_pk_len);
		assert_memory_equal(b->cmce_pk, a->cmce_pk, a->cmce_pk_len);
		assert_memory_equal(b->cmce_sk->p, a->cmce_sk->p, a->cmce_sk->len);
		assert_memory_equal(b->cmce_pk_id, a->cmce_pk_id, IDENTITY_PK_ID_LEN);
		assert_int_equal(identity_cmce_pk_hash(b->cmce_pk, b->cmce_pk_len, fpr), 0);
		assert_memory_equal(fpr, b->cmce_pk_id, sizeof(fpr));
	}
	identity_free(a);
	identity_free(b);
}

static void test_round_trip_460896(void **state)
{
	(void)state;
	if (!kex_method_by_id(KEX_ID_MCELIECE460896))
		skip();
	round_trip("rt-460896", KEX_ID_MCELIECE460896);
}

static void test_round_trip_6688128(void **state)
{
	(void)state;
	if (!kex_method_by_id(KEX_ID_MCELIECE6688128))
		skip();
	round_trip("rt-6688128", KEX_ID_MCELIECE6688128);
}

static void test_round_trip_no_mceliece(void **state)
{
	(void)state;
	round_trip("rt-none", 0);
}

/* An existing identity is never replaced without IDENTITY_FORCE; with it, completely. */
static void test_overwrite(void **state)
{
	struct identity *a = NULL, *b = NULL, *l = NULL;
	const char *dir = strdupa(path("ow"));
	uint8_t before[IDENTITY_FPR_LEN];
	uint16_t cmce = kex_method_by_id(KEX_ID_MCELIECE460896) ? KEX_ID_MCELIECE460896 : 0;

	(void)state;
	assert_int_equal(identity_generate("ow-a", cmce, &a), 0);
	assert_int_equal(identity_generate("ow-b", 0, &b), 0);
	assert_int_equal(identity_save(a, dir, 0), 0);
	memcpy(before, a->cert_fpr, sizeof(before));

	assert_int_equal(identity_save(b, dir, 0), -EEXIST);
	assert_int_equal(identity_load(dir, &l, NULL), 0);
	assert_memory_equal(l->cert_fpr, before, sizeof(before));
	assert_string_equal(l->id, "ow-a");
	identity_free(l);
	l = NULL;

	/* An existing directory with any one identity file counts as an identity. */
	assert_int_equal(mkdir(path("ow2"), 0700), 0);
	copy_file(path("ow/node.crt"), path("ow2/node.crt"));
	assert_int_equal(identity_save(b, path("ow2"), 0), -EEXIST);
	/* An empty existing directory is filled. */
	assert_int_equal(mkdir(path("ow3"), 0700), 0);
	assert_int_equal(identity_save(b, path("ow3"), 0), 0);
	assert_int_equal(identity_load(path("ow3"), &l, NULL), 0);
	identity_free(l);
	l = NULL;

	/* Forced: b replaces a, and a's McEliece pair does not survive it. */
	assert_int_equal(identity_save(b, dir, IDENTITY_FORCE), 0);
	assert_int_equal(identity_load(dir, &l, NULL), 0);
	assert_string_equal(l->id, "ow-b");
	assert_memory_equal(l->cert_fpr, b->cert_fpr, IDENTITY_FPR_LEN);
	assert_memory_not_equal(l->cert_fpr, before, sizeof(before));
	assert_int_equal(l->cmce_id, 0);
	assert_int_equal(access(path("ow/mceliece.sk"), F_OK), -1);
	assert_int_equal(mode_of(path("ow/node.key")), 0600);

	/* A regular file in the way is not a directory. */
	copy_file(path("ow/node.id"), path("plainfile"));
	assert_int_equal(identity_save(b, path("plainfile"), IDENTITY_FORCE), -ENOTDIR);
	identity_free(a);
	identity_free(b);
	identity_free(l);
}

static void test_permissions(void **state)
{
	struct identity *a = NULL;
	uint16_t cmce = kex_method_by_id(KEX_ID_MCELIECE460896) ? KEX_ID_MCELIECE460896 : 0;
	const char *dir = strdupa(path("perm"));

	(void)state;
	assert_int_equal(identity_generate("perm", cmce, &a), 0);
	assert_int_equal(identity_save(a, dir, 0), 0);
	identity_free(a);

	assert_int_equal(chmod(path("perm/node.key"), 0640), 0);
	load_fails(dir, -EPERM, "node.key");
	assert_int_equal(chmod(path("perm/node.key"), 0604), 0);
	load_fails(dir, -EPERM, "node.key");
	assert_int_equal(chmod(path("perm/node.key"), 0400), 0);	/* stricter is fine */
	assert_int_equal(chmod(path("perm/node.crt"), 0664), 0);
	load_fails(dir, -EPERM, "node.crt");
	assert_int_equal(chmod(path("perm/node.crt"), 0644), 0);
	assert_int_equal(chmod(path("perm/node.id"), 0646), 0);
	load_fails(dir, -EPERM, "node.id");
	assert_int_equal(chmod(path("perm/node.id"), 0644), 0);
	assert_int_equal(chmod(dir, 0770), 0);
	load_fails(dir, -EPERM, "directory");
	assert_int_equal(chmod(dir, 0755), 0);	/* readable by others is fine */
	if (cmce) {
		assert_int_equal(chmod(path("perm/mceliece.sk"), 0644), 0);
		load_fails(dir, -EPERM, "mceliece.sk");
		assert_int_equal(chmod(path("perm/mceliece.sk"), 0600), 0);
		assert_int_equal(chmod(path("perm/mceliece.pk"), 0666), 0);
		load_fails(dir, -EPERM, "mceliece.pk");
		assert_int_equal(chmod(path("perm/mceliece.pk"), 0644), 0);
	}
	assert_int_equal(identity_load(dir, &a, NULL), 0);
	identity_free(a);
}

/* Files from two identities mixed: every pairing is checked. */
static void test_mismatch(void **state)
{
	struct identity *a = NULL, *b = NULL;

	(void)state;
	assert_int_equal(identity_generate("mm-a", 0, &a), 0);
	assert_int_equal(identity_generate("mm-b", 0, &b), 0);
	assert_int_equal(identity_save(a, path("mm-a"), 0), 0);
	assert_int_equal(identity_save(b, path("mm-b"), 0), 0);

	/* b's certificate with a's key */
	copy_file(path("mm-b/node.crt"), path("mm-a/node.crt"));
	assert_int_equal(chmod(path("mm-a/node.crt"), 0644), 0);
	load_fails(path("mm-a"), -EKEYREJECTED, "does not match node.key");
	/* b's key and certificate, but a's node ID: the CN no longer matches */
	copy_file(path("mm-b/node.key"), path("mm-a/node.key"));
	load_fails(path("mm-a"), -EKEYREJECTED, "CN");
	/* all three files of b: b loads */
	copy_file(path("mm-b/node.id"), path("mm-a/node.id"));
	assert_int_equal(chmod(path("mm-a/node.id"), 0644), 0);
	identity_free(b);
	b = NULL;
	assert_int_equal(identity_load(path("mm-a"), &b, NULL), 0);
	assert_string_equal(b->id, "mm-b");
	identity_free(b);
	/* a node.id that is no valid ID */
	assert_int_equal(truncate(path("mm-a/node.id"), 0), 0);
	load_fails(path("mm-a"), -EBADMSG, "node.id");
	/* a key that is not PEM, a certificate that is not PEM */
	copy_file(path("mm-b/node.id"), path("mm-a/node.id"));
	assert_int_equal(truncate(path("mm-a/node.key"), 100), 0);
	load_fails(path("mm-a"), -EBADMSG, "node.key");
	copy_file(path("mm-b/node.key"), path("mm-a/node.key"));
	assert_int_equal(truncate(path("mm-a/node.crt"), 200), 0);
	load_fails(path("mm-a"), -EBADMSG, "node.crt");
	/* missing files */
	assert_int_equal(unlink(path("mm-a/node.crt")), 0);
	load_fails(path("mm-a"), -ENOENT, "node.crt");
	load_fails(path("nonexistent"), -ENOENT, "directory");
	identity_free(a);
}

/* Truncated, swapped and half-present McEliece files are refused. */
static void test_mceliece_files(void **state)
{
	struct identity *a = NULL, *b = NULL;
	const struct kex_method *m = kex_method_by_id(KEX_ID_MCELIECE460896);

	(void)state;
	if (!m)
		skip();
	assert_int_equal(identity_generate("mc-a", KEX_ID_MCELIECE460896, &a), 0);
	assert_int_equal(identity_generate("mc-b", KEX_ID_MCELIECE460896, &b), 0);
	assert_int_equal(identity_save(a, path("mc-a"), 0), 0);
	assert_int_equal(identity_save(b, path("mc-b"), 0), 0);

	assert_int_equal(truncate(path("mc-a/mceliece.pk"), (off_t)m->kem->pk_len - 1), 0);
	load_fails(path("mc-a"), -EBADMSG, "mceliece.pk");
	copy_file(path("mc-b/mceliece.pk"), path("mc-a/mceliece.pk"));
	assert_int_equal(chmod(path("mc-a/mceliece.pk"), 0644), 0);
	/* whole but from another pair */
	load_fails(path("mc-a"), -EKEYREJECTED, "does not match");
	copy_file(path("mc-b/mceliece.sk"), path("mc-a/mceliece.sk"));
	identity_free(a);
	a = NULL;
	assert_int_equal(identity_load(path("mc-a"), &a, NULL), 0);	/* b's pair: consistent */
	assert_memory_equal(a->cmce_pk_id, b->cmce_pk_id, IDENTITY_PK_ID_LEN);
	identity_free(a);
	a = NULL;
	assert_int_equal(truncate(path("mc-a/mceliece.sk"), (off_t)m->kem->sk_len - 1), 0);
	load_fails(path("mc-a"), -EBADMSG, "mceliece.sk");
	assert_int_equal(truncate(path("mc-a/mceliece.sk"), 0), 0);
	load_fails(path("mc-a"), -EBADMSG, "mceliece.sk");
	assert_int_equal(unlink(path("mc-a/mceliece.sk")), 0);
	load_fails(path("mc-a"), -ENOENT, "mceliece.sk");
	/* A public key of the wrong size for any parameter set */
	copy_file(path("mc-b/mceliece.sk"), path("mc-a/mceliece.sk"));
	assert_int_equal(truncate(path("mc-a/mceliece.pk"), 1000), 0);
	load_fails(path("mc-a"), -EBADMSG, "mceliece.pk");
	assert_int_equal(unlink(path("mc-a/mceliece.pk")), 0);
	load_fails(path("mc-a"), -ENOENT, "mceliece.pk");
	identity_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_valid),
		cmocka_unit_test(test_round_trip_no_mceliece),
		cmocka_unit_test(test_round_trip_460896),
		cmocka_unit_test(test_round_trip_6688128),
		cmocka_unit_test(test_overwrite),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_mismatch),
		cmocka_unit_test(test_mceliece_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
