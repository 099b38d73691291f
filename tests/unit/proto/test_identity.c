/* SPDX-License-Identifier: Apache-2.0 */
/* Node identity: generate, save, load (per-set and legacy McEliece files), every refusal. */
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

static bool built(uint16_t cmce_id)
{
	return kex_method_by_id(cmce_id) != NULL;
}

/* The pairs of a and b are the same, set by set, and the one-pair fields agree. */
static void same_pairs(const struct identity *a, const struct identity *b)
{
	uint8_t h[IDENTITY_PK_ID_LEN];

	for (size_t i = 0; i < IDENTITY_CMCE_N; i++) {
		const struct identity_cmce *x = &a->cmce[i], *y = &b->cmce[i];

		assert_int_equal(x->id, y->id);
		if (!x->id)
			continue;
		assert_int_equal(identity_cmce_slot(x->id), (int)i);
		assert_ptr_equal(identity_cmce_get(b, y->id), y);
		assert_int_equal(y->pk_len, x->pk_len);
		assert_memory_equal(y->pk, x->pk, x->pk_len);
		assert_int_equal(y->sk->len, x->sk->len);
		assert_memory_equal(y->sk->p, x->sk->p, x->sk->len);
		assert_memory_equal(y->pk_id, x->pk_id, IDENTITY_PK_ID_LEN);
		assert_int_equal(identity_cmce_pk_hash(y->pk, y->pk_len, h), 0);
		assert_memory_equal(h, y->pk_id, sizeof(h));
	}
	/* cmce_id and friends: the first pair held, as views of cmce[] */
	assert_int_equal(b->cmce_id, a->cmce_id);
	if (b->cmce_id) {
		const struct identity_cmce *first = identity_cmce_get(b, b->cmce_id);

		assert_non_null(first);
		assert_ptr_equal(b->cmce_pk, first->pk);
		assert_ptr_equal(b->cmce_sk, first->sk);
		assert_int_equal(b->cmce_pk_len, first->pk_len);
		assert_memory_equal(b->cmce_pk_id, first->pk_id, IDENTITY_PK_ID_LEN);
	} else {
		assert_null(b->cmce_pk);
		assert_null(b->cmce_sk);
	}
}

/* generate -> save -> load gives the same identity, with the documented modes. */
static void round_trip(const char *name, const uint16_t *sets, size_t n)
{
	static const char *const files[IDENTITY_CMCE_N][2] = {
		[IDENTITY_CMCE460896] = { "mceliece460896.pk", "mceliece460896.sk" },
		[IDENTITY_CMCE6688128] = { "mceliece6688128.pk", "mceliece6688128.sk" },
	};
	struct identity *a = NULL, *b = NULL;
	const char *dir = strdupa(path("%s", name));
	const char *what = NULL;
	uint8_t fpr[IDENTITY_FPR_LEN];

	assert_int_equal(identity_generate_sets(name, sets, n, &a), 0);
	assert_string_equal(a->id, name);
	assert_true(EVP_PKEY_is_a(a->key, "ML-DSA-65"));
	assert_int_equal(identity_cert_fingerprint(a->cert, fpr), 0);
	assert_memory_equal(fpr, a->cert_fpr, sizeof(fpr));
	assert_int_equal(a->cmce_id, n ? (sets[0] == KEX_ID_MCELIECE6688128 && n == 1
					  ? KEX_ID_MCELIECE6688128 : KEX_ID_MCELIECE460896) : 0);
	assert_int_equal(identity_save(a, dir, 0), 0);

	assert_int_equal(mode_of(dir), 0700);
	assert_int_equal(mode_of(path("%s/node.key", name)), 0600);
	assert_int_equal(mode_of(path("%s/node.crt", name)), 0644);
	assert_int_equal(mode_of(path("%s/node.id", name)), 0644);
	for (size_t i = 0; i < IDENTITY_CMCE_N; i++) {
		const struct identity_cmce *c = &a->cmce[i];

		if (c->id) {
			const struct kex_method *m = kex_method_by_id(c->id);

			assert_string_equal(c->pk_file, files[i][0]);
			assert_string_equal(c->sk_file, files[i][1]);
			assert_int_equal(mode_of(path("%s/%s", name, files[i][1])), 0600);
			assert_int_equal(mode_of(path("%s/%s", name, files[i][0])), 0644);
			assert_int_equal(size_of(path("%s/%s", name, files[i][0])), m->kem->pk_len);
			assert_int_equal(size_of(path("%s/%s", name, files[i][1])), m->kem->sk_len);
		} else {
			assert_int_equal(access(path("%s/%s", name, files[i][0]), F_OK), -1);
			assert_int_equal(access(path("%s/%s", name, files[i][1]), F_OK), -1);
		}
	}
	/* Only the per-set names are written. */
	assert_int_equal(access(path("%s/mceliece.pk", name), F_OK), -1);
	assert_int_equal(access(path("%s/mceliece.sk", name), F_OK), -1);
	assert_int_equal(size_of(path("%s/node.id", name)), strlen(name) + 1);

	assert_int_equal(identity_load(dir, &b, &what), 0);
	assert_null(what);
	assert_false(b->cmce_legacy);
	assert_string_equal(b->id, a->id);
	assert_memory_equal(b->cert_fpr, a->cert_fpr, IDENTITY_FPR_LEN);
	assert_int_equal(EVP_PKEY_eq(a->key, b->key), 1);
	same_pairs(a, b);
	for (size_t i = 0; i < n; i++)
		assert_non_null(identity_cmce_get(b, sets[i]));
	identity_free(a);
	identity_free(b);
}

static void test_round_trip_460896(void **state)
{
	static const uint16_t sets[] = { KEX_ID_MCELIECE460896 };

	(void)state;
	if (!built(KEX_ID_MCELIECE460896))
		skip();
	round_trip("rt-460896", sets, 1);
}

static void test_round_trip_6688128(void **state)
{
	static const uint16_t sets[] = { KEX_ID_MCELIECE6688128 };
	struct identity *idn = NULL;

	(void)state;
	if (!built(KEX_ID_MCELIECE6688128))
		skip();
	round_trip("rt-6688128", sets, 1);
	/* the one-set call is the same thing */
	assert_int_equal(identity_generate("rt-one", KEX_ID_MCELIECE6688128, &idn), 0);
	assert_int_equal(idn->cmce_id, KEX_ID_MCELIECE6688128);
	assert_null(identity_cmce_get(idn, KEX_ID_MCELIECE460896));
	assert_non_null(identity_cmce_get(idn, KEX_ID_MCELIECE6688128));
	identity_free(idn);
}

/* Both sets, given in either order: one pair each, the primary is 460896. */
static void test_round_trip_both(void **state)
{
	static const uint16_t sets[] = { KEX_ID_MCELIECE6688128, KEX_ID_MCELIECE460896 };

	(void)state;
	if (!built(KEX_ID_MCELIECE460896) || !built(KEX_ID_MCELIECE6688128))
		skip();
	round_trip("rt-both", sets, 2);
}

static void test_round_trip_no_mceliece(void **state)
{
	(void)state;
	round_trip("rt-none", NULL, 0);
}

static void test_generate_sets_refused(void **state)
{
	static const uint16_t twice[] = { KEX_ID_MCELIECE460896, KEX_ID_MCELIECE460896 };
	static const uint16_t unknown[] = { KEX_ID_MCELIECE460896, 0x9999 };
	struct identity *idn = NULL;

	(void)state;
	assert_int_equal(identity_generate_sets("x", twice, 2, &idn), built(twice[0]) ? -EINVAL : -EOPNOTSUPP);
	assert_int_equal(identity_generate_sets("x", unknown, 2, &idn), -EOPNOTSUPP);
	assert_int_equal(identity_generate_sets("x", NULL, 1, &idn), -EINVAL);
	assert_int_equal(identity_generate_sets("X", NULL, 0, &idn), -EINVAL);
	assert_null(idn);
	assert_int_equal(identity_cmce_slot(KEX_ID_MCELIECE460896), IDENTITY_CMCE460896);
	assert_int_equal(identity_cmce_slot(KEX_ID_MCELIECE6688128), IDENTITY_CMCE6688128);
	assert_int_equal(identity_cmce_slot(0), -1);
	assert_null(identity_cmce_get(NULL, KEX_ID_MCELIECE460896));
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
	assert_int_equal(access(path("ow/mceliece460896.sk"), F_OK), -1);
	assert_int_equal(access(path("ow/mceliece460896.pk"), F_OK), -1);
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
		assert_int_equal(chmod(path("perm/mceliece460896.sk"), 0644), 0);
		load_fails(dir, -EPERM, "mceliece460896.sk: accessible by group or others");
		assert_int_equal(chmod(path("perm/mceliece460896.sk"), 0600), 0);
		assert_int_equal(chmod(path("perm/mceliece460896.pk"), 0666), 0);
		load_fails(dir, -EPERM, "mceliece460896.pk: writable by group or others");
		assert_int_equal(chmod(path("perm/mceliece460896.pk"), 0644), 0);
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

	assert_int_equal(truncate(path("mc-a/mceliece460896.pk"), (off_t)m->kem->pk_len - 1), 0);
	load_fails(path("mc-a"), -EBADMSG, "mceliece460896.pk");
	copy_file(path("mc-b/mceliece460896.pk"), path("mc-a/mceliece460896.pk"));
	assert_int_equal(chmod(path("mc-a/mceliece460896.pk"), 0644), 0);
	/* whole but from another pair */
	load_fails(path("mc-a"), -EKEYREJECTED, "does not match");
	copy_file(path("mc-b/mceliece460896.sk"), path("mc-a/mceliece460896.sk"));
	identity_free(a);
	a = NULL;
	assert_int_equal(identity_load(path("mc-a"), &a, NULL), 0);	/* b's pair: consistent */
	assert_memory_equal(a->cmce_pk_id, b->cmce_pk_id, IDENTITY_PK_ID_LEN);
	identity_free(a);
	a = NULL;
	assert_int_equal(truncate(path("mc-a/mceliece460896.sk"), (off_t)m->kem->sk_len - 1), 0);
	load_fails(path("mc-a"), -EBADMSG, "mceliece460896.sk");
	assert_int_equal(truncate(path("mc-a/mceliece460896.sk"), 0), 0);
	load_fails(path("mc-a"), -EBADMSG, "mceliece460896.sk");
	assert_int_equal(unlink(path("mc-a/mceliece460896.sk")), 0);
	load_fails(path("mc-a"), -ENOENT, "mceliece460896.sk");
	/* A public key of the wrong size for any parameter set */
	copy_file(path("mc-b/mceliece460896.sk"), path("mc-a/mceliece460896.sk"));
	assert_int_equal(truncate(path("mc-a/mceliece460896.pk"), 1000), 0);
	load_fails(path("mc-a"), -EBADMSG, "mceliece460896.pk");
	assert_int_equal(unlink(path("mc-a/mceliece460896.pk")), 0);
	load_fails(path("mc-a"), -ENOENT, "mceliece460896.pk");
	identity_free(b);
}

/* Both pairs: each is checked on its own; a key of the other set is refused. */
static void test_two_sets(void **state)
{
	static const uint16_t both[] = { KEX_ID_MCELIECE460896, KEX_ID_MCELIECE6688128 };
	struct identity *a = NULL, *l = NULL;

	(void)state;
	if (!built(KEX_ID_MCELIECE460896) || !built(KEX_ID_MCELIECE6688128))
		skip();
	assert_int_equal(identity_generate_sets("two", both, 2, &a), 0);
	assert_int_equal(identity_save(a, path("two"), 0), 0);
	copy_file(path("two/mceliece460896.pk"), path("pk460"));
	copy_file(path("two/mceliece6688128.pk"), path("two/mceliece460896.pk"));
	assert_int_equal(chmod(path("two/mceliece460896.pk"), 0644), 0);
	load_fails(path("two"), -EBADMSG, "mceliece460896.pk: its size is not that of mceliece460896");
	copy_file(path("pk460"), path("two/mceliece460896.pk"));
	assert_int_equal(chmod(path("two/mceliece460896.pk"), 0644), 0);
	assert_int_equal(chmod(path("two/mceliece6688128.sk"), 0640), 0);
	load_fails(path("two"), -EPERM, "mceliece6688128.sk: accessible by group or others");
	assert_int_equal(chmod(path("two/mceliece6688128.sk"), 0600), 0);
	assert_int_equal(unlink(path("two/mceliece6688128.pk")), 0);
	load_fails(path("two"), -ENOENT, "mceliece6688128.pk: missing");
	/* Only the 460896 pair left: it loads, with no 6688128 pair. */
	assert_int_equal(unlink(path("two/mceliece6688128.sk")), 0);
	assert_int_equal(identity_load(path("two"), &l, NULL), 0);
	assert_int_equal(l->cmce_id, KEX_ID_MCELIECE460896);
	assert_null(identity_cmce_get(l, KEX_ID_MCELIECE6688128));
	identity_free(l);
	l = NULL;

	/* A forced save of an identity with one set removes the other set's files. */
	assert_int_equal(identity_save(a, path("two"), IDENTITY_FORCE), 0);
	assert_int_equal(access(path("two/mceliece6688128.pk"), F_OK), 0);
	identity_free(a);
	assert_int_equal(identity_generate("two", KEX_ID_MCELIECE6688128, &a), 0);
	assert_int_equal(identity_save(a, path("two"), IDENTITY_FORCE), 0);
	assert_int_equal(access(path("two/mceliece460896.pk"), F_OK), -1);
	assert_int_equal(access(path("two/mceliece460896.sk"), F_OK), -1);
	assert_int_equal(identity_load(path("two"), &l, NULL), 0);
	assert_int_equal(l->cmce_id, KEX_ID_MCELIECE6688128);
	same_pairs(a, l);
	identity_free(l);
	identity_free(a);
}

/*
 * The layout written before per-set files: one pair as mceliece.pk/.sk, its
 * set known from the sizes. It loads as it did; a forced save rewrites it
 * under the per-set names; a legacy pair next to per-set files of the same
 * set is ambiguous.
 */
static void legacy(uint16_t set, const char *name)
{
	struct identity *a = NULL, *l = NULL, *m = NULL;
	const struct identity_cmce *c;
	const char *dir = strdupa(path("%s", name));
	const char *pk = set == KEX_ID_MCELIECE460896 ? "mceliece460896.pk" : "mceliece6688128.pk";
	const char *sk = set == KEX_ID_MCELIECE460896 ? "mceliece460896.sk" : "mceliece6688128.sk";

	assert_int_equal(identity_generate(name, set, &a), 0);
	assert_int_equal(identity_save(a, dir, 0), 0);
	/* What the previous code wrote: the same bytes under the single names. */
	assert_int_equal(rename(path("%s/%s", name, pk), path("%s/mceliece.pk", name)), 0);
	assert_int_equal(rename(path("%s/%s", name, sk), path("%s/mceliece.sk", name)), 0);

	assert_int_equal(identity_load(dir, &l, NULL), 0);
	assert_true(l->cmce_legacy);
	assert_int_equal(l->cmce_id, set);
	c = identity_cmce_get(l, set);
	assert_non_null(c);
	assert_string_equal(c->pk_file, "mceliece.pk");
	assert_string_equal(c->sk_file, "mceliece.sk");
	same_pairs(a, l);

	/* Damage is reported under the legacy names. */
	assert_int_equal(chmod(path("%s/mceliece.sk", name), 0640), 0);
	load_fails(dir, -EPERM, "mceliece.sk: accessible by group or others");
	assert_int_equal(chmod(path("%s/mceliece.sk", name), 0600), 0);
	assert_int_equal(truncate(path("%s/mceliece.sk", name), 100), 0);
	load_fails(dir, -EBADMSG, "mceliece.sk: wrong size");
	copy_file(path("%s/mceliece.pk", name), path("%s-pk", name));
	assert_int_equal(truncate(path("%s/mceliece.pk", name), 1000), 0);
	load_fails(dir, -EBADMSG, "mceliece.pk: its size is that of no McEliece parameter set");
	copy_file(path("%s-pk", name), path("%s/mceliece.pk", name));
	assert_int_equal(chmod(path("%s/mceliece.pk", name), 0644), 0);
	assert_int_equal(unlink(path("%s/mceliece.sk", name)), 0);
	load_fails(dir, -ENOENT, "mceliece.sk: missing");

	/* Migration: a forced save of the loaded identity writes the per-set names. */
	assert_int_equal(identity_save(l, dir, IDENTITY_FORCE), 0);
	assert_int_equal(access(path("%s/mceliece.pk", name), F_OK), -1);
	assert_int_equal(access(path("%s/mceliece.sk", name), F_OK), -1);
	assert_int_equal(mode_of(path("%s/%s", name, sk)), 0600);
	assert_int_equal(identity_load(dir, &m, NULL), 0);
	assert_false(m->cmce_legacy);
	assert_string_equal(identity_cmce_get(m, set)->pk_file, pk);
	same_pairs(a, m);
	identity_free(m);
	m = NULL;

	/* A legacy pair of the same set next to the per-set one: refused. */
	copy_file(path("%s/%s", name, pk), path("%s/mceliece.pk", name));
	assert_int_equal(chmod(path("%s/mceliece.pk", name), 0644), 0);
	copy_file(path("%s/%s", name, sk), path("%s/mceliece.sk", name));
	load_fails(dir, -EEXIST, "mceliece.pk: holds a key of a set that has its own files");
	/* Any legacy file counts as an identity for a save without IDENTITY_FORCE. */
	assert_int_equal(mkdir(path("%s-only", name), 0700), 0);
	copy_file(path("%s/mceliece.sk", name), path("%s-only/mceliece.sk", name));
	assert_int_equal(identity_save(a, path("%s-only", name), 0), -EEXIST);
	identity_free(a);
	identity_free(l);
}

static void test_legacy_layout(void **state)
{
	(void)state;
	if (!built(KEX_ID_MCELIECE460896) || !built(KEX_ID_MCELIECE6688128))
		skip();
	legacy(KEX_ID_MCELIECE460896, "legacy-460896");
	legacy(KEX_ID_MCELIECE6688128, "legacy-6688128");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_valid),
		cmocka_unit_test(test_round_trip_no_mceliece),
		cmocka_unit_test(test_round_trip_460896),
		cmocka_unit_test(test_round_trip_6688128),
		cmocka_unit_test(test_round_trip_both),
		cmocka_unit_test(test_generate_sets_refused),
		cmocka_unit_test(test_overwrite),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_mismatch),
		cmocka_unit_test(test_mceliece_files),
		cmocka_unit_test(test_two_sets),
		cmocka_unit_test(test_legacy_layout),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
