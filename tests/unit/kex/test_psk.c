/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PSK method and PSK files. Files live in a mkdtemp() directory that the
 * group teardown removes.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/secret.h"
#include "kex/kex.h"
#include "kex/methods.h"
#include "kex/psk_file.h"

static char dir[] = "/tmp/mfs-test-psk-XXXXXX";
static char subdir[sizeof(dir) + 8];

/* Every name created under dir, for the teardown. */
static char *created[64];
static size_t n_created;

static void path_of(char *out, size_t size, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	assert_true(n > 0 && (size_t)n < size);
}

static void remember(const char *name)
{
	for (size_t i = 0; i < n_created; i++)
		if (strcmp(created[i], name) == 0)
			return;
	assert_true(n_created < sizeof(created) / sizeof(created[0]));
	created[n_created] = strdup(name);
	assert_non_null(created[n_created]);
	n_created++;
}

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + 31 * i);
}

/* Create dir/name with len pattern bytes and the given mode. */
static void make_file(const char *name, size_t len, uint8_t seed, mode_t mode)
{
	char path[256];
	uint8_t buf[2048];
	int fd;

	assert_true(len <= sizeof(buf));
	fill(buf, len, seed);
	path_of(path, sizeof(path), name);
	remember(name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(subdir, sizeof(subdir), "%s/sub", dir);
	if (mkdir(subdir, 0700) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char path[256];

	(void)state;
	for (size_t i = 0; i < n_created; i++) {
		path_of(path, sizeof(path), created[i]);
		if (unlink(path) < 0)
			rmdir(path);
		free(created[i]);
	}
	rmdir(subdir);
	rmdir(dir);
	return 0;
}

/* In-memory lookup for method tests that need PSKs a file cannot hold. */
struct mem_psk {
	const char *id;
	const uint8_t *p;
	size_t len;
};

static int mem_lookup(void *arg, const char *id, struct secret **ret)
{
	const struct mem_psk *t = arg;

	for (; t->id; t++) {
		if (strcmp(t->id, id) == 0) {
			if (!(*ret = secret_dup(t->p, t->len)))
				return -ENOMEM;
			return 0;
		}
	}
	return -ENOKEY;
}

/* HKDF-SHA-384 straight through OpenSSL, independent of crypto/mac.c. */
static void expected_secret(const uint8_t *psk, size_t psk_len, const char *id, uint8_t out[32])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA384", 6),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SALT, "mfsec psk v1", 12),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_KEY, (void *)psk, psk_len),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_INFO, (void *)id, strlen(id)),
		OSSL_PARAM_END,
	};

	assert_non_null(kctx);
	assert_int_equal(EVP_KDF_derive(kctx, out, 32, params), 1);
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
}

/*
 * Run a whole exchange. Returns the first failing step's error; on success
 * both secrets are written.
 */
static int exchange(const struct kex_env *ei, const struct kex_env *er,
		    uint8_t ssi[32], uint8_t ssr[32])
{
	const struct kex_method *m = &kex_psk;
	uint8_t ci[1024], cr[1024], m1[128], m2[16];
	struct wbuf w1 = wbuf_init(m1, sizeof(m1)), w2 = wbuf_init(m2, sizeof(m2));
	int r;

	assert_true(m->ctx_size <= sizeof(ci));
	memset(ci, 0, sizeof(ci));
	memset(cr, 0, sizeof(cr));
	if ((r = m->init(ci, ei, KEX_INITIATOR)) < 0 ||
	    (r = m->init(cr, er, KEX_RESPONDER)) < 0 ||
	    (r = m->msg1(ci, &w1)) < 0)
		goto out;
	assert_true(w1.len <= m->msg1_max);
	if ((r = m->msg2(cr, wbuf_rd(&w1), &w2)) < 0)
		goto out;
	assert_int_equal(w2.len, 0);
	if ((r = m->finish(ci, wbuf_rd(&w2))) < 0 ||
	    (r = m->secret(ci, ssi)) < 0 ||
	    (r = m->secret(cr, ssr)) < 0)
		goto out;
out:
	m->done(ci);
	m->done(cr);
	assert_true(mfs_ct_is_zero(ci, m->ctx_size));
	assert_true(mfs_ct_is_zero(cr, m->ctx_size));
	return r;
}

static void test_metadata(void **state)
{
	const struct kex_method *m = &kex_psk;

	(void)state;
	assert_string_equal(m->name, "psk");
	assert_int_equal(m->id, KEX_ID_PSK);
	assert_int_equal(m->family, KEX_FAMILY_PSK);
	assert_int_equal(m->nist_category, 0);
	assert_true(m->post_quantum);
	assert_null(m->kem);
	assert_int_equal(m->msg1_max, 1 + KEX_PSK_ID_MAX);
	assert_int_equal(m->msg2_max, 0);
	assert_int_equal(m->secret_len, KEX_SECRET_LEN);
	assert_ptr_equal(kex_method_by_name("psk"), m);
	assert_ptr_equal(kex_method_by_id(KEX_ID_PSK), m);
}

static void test_id_syntax(void **state)
{
	char long_id[KEX_PSK_ID_MAX + 2];

	(void)state;
	memset(long_id, 'a', sizeof(long_id));
	long_id[KEX_PSK_ID_MAX] = '\0';
	assert_int_equal(psk_id_check(long_id), 0);		/* 64 chars */
	assert_int_equal(psk_id_check("a"), 0);
	assert_int_equal(psk_id_check("site-A_2.key"), 0);
	assert_int_equal(psk_id_check("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._"), 0);
	long_id[KEX_PSK_ID_MAX] = 'a';
	long_id[KEX_PSK_ID_MAX + 1] = '\0';
	assert_int_equal(psk_id_check(long_id), -EINVAL);	/* 65 chars */
	assert_int_equal(psk_id_check(""), -EINVAL);
	assert_int_equal(psk_id_check(NULL), -EINVAL);
	assert_int_equal(psk_id_check("../x"), -EINVAL);
	assert_int_equal(psk_id_check("a/b"), -EINVAL);
	assert_int_equal(psk_id_check("a b"), -EINVAL);
	assert_int_equal(psk_id_check(" a"), -EINVAL);
	assert_int_equal(psk_id_check("a\n"), -EINVAL);
	assert_int_equal(psk_id_check("k\xc3\xa9y"), -EINVAL);
	assert_false(psk_id_valid("ab\0c", 4));
	assert_true(psk_id_valid("abc", 3));
	assert_false(psk_id_valid("abc", 0));
	for (int ch = 1; ch < 256; ch++) {
		char s[2] = { (char)ch, '\0' };
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';

		assert_int_equal(psk_id_check(s), ok ? 0 : -EINVAL);
	}
}

static void test_file_accepts(void **state)
{
	uint8_t want[1024];
	struct secret *s = NULL;
	char path[256];
	const size_t sizes[] = { 32, 100, 1024 };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char name[32];

		snprintf(name, sizeof(name), "ok%zu.psk", sizes[i]);
		make_file(name, sizes[i], (uint8_t)i, 0600);
		path_of(path, sizeof(path), name);
		assert_int_equal(psk_file_load(path, &s), 0);
		assert_int_equal(s->len, sizes[i]);
		fill(want, sizes[i], (uint8_t)i);
		assert_memory_equal(s->p, want, sizes[i]);
		secret_free(s);
		s = NULL;
	}
	/* read-only for the owner is stricter than 0600: fine */
	make_file("ro.psk", 48, 9, 0400);
	path_of(path, sizeof(path), "ro.psk");
	assert_int_equal(psk_file_load(path, &s), 0);
	secret_free(s);
}

static void expect_load(const char *name, int err)
{
	struct secret *s = (struct secret *)(uintptr_t)1;	/* must stay untouched */
	char path[256];

	path_of(path, sizeof(path), name);
	assert_int_equal(psk_file_load(path, &s), err);
	assert_ptr_equal(s, (struct secret *)(uintptr_t)1);
}

static void test_file_rejects(void **state)
{
	char path[256], target[256];

	(void)state;
	make_file("g.psk", 32, 1, 0644);
	expect_load("g.psk", -EPERM);
	make_file("g2.psk", 32, 1, 0640);
	expect_load("g2.psk", -EPERM);
	make_file("o.psk", 32, 1, 0604);
	expect_load("o.psk", -EPERM);
	make_file("x.psk", 32, 1, 0700);	/* owner-only bits of any kind are fine */
	{
		struct secret *s = NULL;

		path_of(path, sizeof(path), "x.psk");
		assert_int_equal(psk_file_load(path, &s), 0);
		secret_free(s);
	}
	make_file("short16.psk", 16, 1, 0600);
	expect_load("short16.psk", -EBADMSG);
	make_file("short31.psk", 31, 1, 0600);
	expect_load("short31.psk", -EBADMSG);
	make_file("empty.psk", 0, 1, 0600);
	expect_load("empty.psk", -EBADMSG);
	make_file("long.psk", 1025, 1, 0600);
	expect_load("long.psk", -EMSGSIZE);
	expect_load("missing.psk", -ENOENT);

	/* a symlink to a good file */
	make_file("target.psk", 32, 1, 0600);
	path_of(target, sizeof(target), "target.psk");
	path_of(path, sizeof(path), "link.psk");
	remember("link.psk");
	assert_int_equal(symlink(target, path), 0);
	expect_load("link.psk", -ELOOP);
	/* a directory and a FIFO (which must not block the open) */
	path_of(path, sizeof(path), "dir.psk");
	remember("dir.psk");
	assert_int_equal(mkdir(path, 0700), 0);
	expect_load("dir.psk", -EISDIR);
	path_of(path, sizeof(path), "fifo.psk");
	remember("fifo.psk");
	assert_int_equal(mkfifo(path, 0600), 0);
	expect_load("fifo.psk", -EBADFD);

	/* somebody else's file (needs root to create one) */
	if (geteuid() == 0) {
		make_file("other.psk", 32, 1, 0600);
		path_of(path, sizeof(path), "other.psk");
		assert_int_equal(chown(path, 65534, 65534), 0);
		expect_load("other.psk", -EACCES);
	}
}

static void test_dir_lookup(void **state)
{
	struct secret *s = NULL;

	(void)state;
	make_file("alpha.psk", 32, 7, 0600);
	assert_int_equal(psk_dir_lookup(dir, "alpha", &s), 0);
	assert_int_equal(s->len, 32);
	secret_free(s);
	s = NULL;
	assert_int_equal(psk_dir_lookup(dir, "nosuch", &s), -ENOKEY);
	assert_int_equal(psk_dir_lookup(dir, "g", &s), -EPERM);	/* mode 0644 */
	assert_int_equal(psk_dir_lookup(dir, "link", &s), -ELOOP);
	assert_int_equal(psk_dir_lookup(dir, "short16", &s), -EBADMSG);
	/* no path traversal: dir/sub/../x.psk exists and is a good file */
	make_file("x.psk", 32, 1, 0600);
	assert_int_equal(psk_dir_lookup(subdir, "../x", &s), -EINVAL);
	assert_int_equal(psk_dir_lookup(subdir, "x", &s), -ENOKEY);
	assert_int_equal(psk_dir_lookup(dir, "", &s), -EINVAL);
	assert_int_equal(psk_dir_lookup(dir, "al pha", &s), -EINVAL);
	assert_int_equal(psk_dir_lookup(dir, NULL, &s), -EINVAL);
	assert_null(s);
}

/* The lookup cache (psk_dir_lookup) sees every change to the file. */
static void test_dir_lookup_cache(void **state)
{
	struct secret *s = NULL, *t = NULL;
	char path[256], tmp[256];
	uint8_t want[64];

	(void)state;
	make_file("cached.psk", 32, 3, 0600);
	assert_int_equal(psk_dir_lookup(dir, "cached", &s), 0);
	assert_int_equal(psk_dir_lookup(dir, "cached", &t), 0);	/* from the cache */
	assert_true(s != t);
	assert_memory_equal(s->p, t->p, 32);
	fill(want, 32, 3);
	assert_memory_equal(t->p, want, 32);
	secret_free(s);
	secret_free(t);
	/* rewritten (another size): the new contents */
	make_file("cached.psk", 48, 4, 0600);
	assert_int_equal(psk_dir_lookup(dir, "cached", &s), 0);
	assert_int_equal(s->len, 48);
	fill(want, 48, 4);
	assert_memory_equal(s->p, want, 48);
	secret_free(s);
	/* replaced by rename (another inode, same size) */
	make_file("cached.tmp", 48, 5, 0600);
	path_of(path, sizeof(path), "cached.psk");
	path_of(tmp, sizeof(tmp), "cached.tmp");
	assert_int_equal(rename(tmp, path), 0);
	assert_int_equal(psk_dir_lookup(dir, "cached", &s), 0);
	fill(want, 48, 5);
	assert_memory_equal(s->p, want, 48);
	secret_free(s);
	s = NULL;
	/* loosened mode: refused at once; removed: unknown */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(psk_dir_lookup(dir, "cached", &s), -EPERM);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(psk_dir_lookup(dir, "cached", &s), 0);
	secret_free(s);
	s = NULL;
	assert_int_equal(unlink(path), 0);
	assert_int_equal(psk_dir_lookup(dir, "cached", &s), -ENOKEY);
	assert_null(s);
}

static void test_exchange_files(void **state)
{
	struct kex_env ei = { .psk_id = "alpha", .psk_lookup = psk_dir_lookup, .psk_arg = dir };
	struct kex_env er = { .psk_lookup = psk_dir_lookup, .psk_arg = dir };
	uint8_t ssi[32], ssr[32], want[32], psk[100];

	(void)state;
	make_file("alpha.psk", 32, 7, 0600);
	make_file("beta.psk", 100, 8, 0600);
	assert_int_equal(exchange(&ei, &er, ssi, ssr), 0);
	assert_memory_equal(ssi, ssr, 32);
	fill(psk, 32, 7);
	expected_secret(psk, 32, "alpha", want);
	assert_memory_equal(ssi, want, 32);

	ei.psk_id = "beta";
	assert_int_equal(exchange(&ei, &er, ssi, ssr), 0);
	assert_memory_equal(ssi, ssr, 32);
	fill(psk, 100, 8);
	expected_secret(psk, 100, "beta", want);
	assert_memory_equal(ssi, want, 32);
}

static void test_exchange_mismatch(void **state)
{
	uint8_t k1[32], k2[32], ssi[32], ssr[32];
	struct mem_psk ti[] = { { "a", k1, 32 }, { "b", k1, 32 }, { NULL, NULL, 0 } };
	struct mem_psk tr[] = { { "a", k2, 32 }, { "b", k1, 32 }, { NULL, NULL, 0 } };
	struct kex_env ei = { .psk_id = "a", .psk_lookup = mem_lookup, .psk_arg = ti };
	struct kex_env er = { .psk_lookup = mem_lookup, .psk_arg = tr };
	uint8_t ssa[32];

	(void)state;
	fill(k1, 32, 1);
	fill(k2, 32, 1);
	k2[31] ^= 1;	/* one bit apart */
	/* different PSKs under the same ID: both sides finish, secrets differ */
	assert_int_equal(exchange(&ei, &er, ssi, ssr), 0);
	assert_memory_not_equal(ssi, ssr, 32);
	memcpy(ssa, ssi, 32);
	/* same PSK bytes under another ID: equal secrets, but not those of "a" */
	ei.psk_id = "b";
	assert_int_equal(exchange(&ei, &er, ssi, ssr), 0);
	assert_memory_equal(ssi, ssr, 32);
	assert_memory_not_equal(ssi, ssa, 32);
}

static void test_unknown_and_bad_ids(void **state)
{
	uint8_t k[32], k16[16], ssi[32], ssr[32];
	struct mem_psk ti[] = { { "known", k, 32 }, { "other", k, 32 }, { "tiny", k16, 16 },
				{ NULL, NULL, 0 } };
	struct mem_psk tr[] = { { "known", k, 32 }, { "tiny", k16, 16 }, { NULL, NULL, 0 } };
	struct kex_env ei = { .psk_lookup = mem_lookup, .psk_arg = ti };
	struct kex_env er = { .psk_lookup = mem_lookup, .psk_arg = tr };
	const char *bad[] = { "../x", "", "a b", "x/y", NULL,
			      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };

	(void)state;
	fill(k, 32, 3);
	fill(k16, 16, 3);
	/* the responder does not know the ID */
	ei.psk_id = "other";
	assert_int_equal(exchange(&ei, &er, ssi, ssr), -ENOKEY);
	/* nor does the initiator */
	ei.psk_id = "nowhere";
	assert_int_equal(exchange(&ei, &er, ssi, ssr), -ENOKEY);
	/* a PSK shorter than 256 bits is refused even if the lookup returns it */
	ei.psk_id = "tiny";
	assert_int_equal(exchange(&ei, &er, ssi, ssr), -EINVAL);
	/* bad ID syntax on the initiator side */
	assert_int_equal(strlen(bad[5]), 65);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ei.psk_id = bad[i];
		assert_int_equal(exchange(&ei, &er, ssi, ssr), -EINVAL);
	}
	/* no lookup at all */
	ei = (struct kex_env){ .psk_id = "known" };
	assert_int_equal(exchange(&ei, &er, ssi, ssr), -EINVAL);
}

/* The responder gets a crafted msg1. */
static int responder_msg2(const struct kex_env *er, const uint8_t *m1, size_t len)
{
	uint8_t cr[1024], out[16];
	struct wbuf w = wbuf_init(out, sizeof(out));
	int r;

	memset(cr, 0, sizeof(cr));
	assert_int_equal(kex_psk.init(cr, er, KEX_RESPONDER), 0);
	r = kex_psk.msg2(cr, rd_init(m1, len), &w);
	assert_int_equal(w.len, 0);
	if (r < 0) {
		uint8_t ss[32];

		assert_int_equal(kex_psk.secret(cr, ss), -EPROTO);
	}
	kex_psk.done(cr);
	return r;
}

static void test_responder_parsing(void **state)
{
	uint8_t k[32], m1[300];
	struct mem_psk tr[] = { { "known", k, 32 }, { "..", k, 32 }, { NULL, NULL, 0 } };
	struct kex_env er = { .psk_lookup = mem_lookup, .psk_arg = tr };
	const char *bad[] = { "../x", "", "a b", "kn/own", "known\n" };

	(void)state;
	fill(k, 32, 3);
	m1[0] = 5;
	memcpy(m1 + 1, "known", 5);
	assert_int_equal(responder_msg2(&er, m1, 6), 0);
	assert_int_equal(responder_msg2(&er, m1, 7), -EBADMSG);	/* trailing byte */
	assert_int_equal(responder_msg2(&er, m1, 5), -EBADMSG);	/* truncated */
	assert_int_equal(responder_msg2(&er, m1, 0), -EBADMSG);
	m1[0] = 2;
	memcpy(m1 + 1, "..", 2);
	assert_int_equal(responder_msg2(&er, m1, 3), 0);		/* odd, but valid and no path */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = strlen(bad[i]);

		m1[0] = (uint8_t)n;
		memcpy(m1 + 1, bad[i], n);
		assert_int_equal(responder_msg2(&er, m1, 1 + n), -EBADMSG);
	}
	/* 65 valid characters: too long */
	m1[0] = 65;
	memset(m1 + 1, 'k', 65);
	assert_int_equal(responder_msg2(&er, m1, 66), -EBADMSG);
	m1[0] = 255;
	memset(m1 + 1, 'k', 255);
	assert_int_equal(responder_msg2(&er, m1, 256), -EBADMSG);
}

static void test_call_order(void **state)
{
	const struct kex_method *m = &kex_psk;
	uint8_t k[32], ci[1024], cr[1024], m1[128], m2[16], ss[32];
	struct mem_psk t[] = { { "known", k, 32 }, { NULL, NULL, 0 } };
	struct kex_env ei = { .psk_id = "known", .psk_lookup = mem_lookup, .psk_arg = t };
	struct kex_env er = { .psk_lookup = mem_lookup, .psk_arg = t };
	struct wbuf w1 = wbuf_init(m1, sizeof(m1)), w2 = wbuf_init(m2, sizeof(m2));
	const uint8_t one = 0;

	(void)state;
	fill(k, 32, 3);
	memset(ci, 0, sizeof(ci));
	memset(cr, 0, sizeof(cr));
	/* zeroed ctx */
	assert_int_equal(m->msg1(ci, &w1), -EPROTO);
	assert_int_equal(m->msg2(ci, rd_init(m1, 0), &w2), -EPROTO);
	assert_int_equal(m->finish(ci, rd_init(m2, 0)), -EPROTO);
	assert_int_equal(m->secret(ci, ss), -EPROTO);
	m->done(ci);
	m->done(NULL);

	assert_int_equal(m->init(ci, &ei, KEX_INITIATOR), 0);
	assert_int_equal(m->init(cr, &er, KEX_RESPONDER), 0);
	assert_int_equal(m->msg2(ci, rd_init(m1, 0), &w2), -EPROTO);
	assert_int_equal(m->finish(ci, rd_init(m2, 0)), -EPROTO);
	assert_int_equal(m->msg1(cr, &w1), -EPROTO);
	assert_int_equal(m->finish(cr, rd_init(m2, 0)), -EPROTO);
	assert_int_equal(m->secret(cr, ss), -EPROTO);
	assert_int_equal(w1.len, 0);
	assert_int_equal(m->msg1(ci, &w1), 0);
	assert_int_equal(m->msg1(ci, &w1), -EPROTO);
	assert_int_equal(m->secret(ci, ss), -EPROTO);
	assert_int_equal(m->msg2(cr, wbuf_rd(&w1), &w2), 0);
	assert_int_equal(m->msg2(cr, wbuf_rd(&w1), &w2), -EPROTO);
	/* a non-empty msg2 kills the initiator */
	assert_int_equal(m->finish(ci, rd_init(&one, 1)), -EBADMSG);
	assert_int_equal(m->finish(ci, rd_init(m2, 0)), -EPROTO);
	memset(ss, 0xaa, sizeof(ss));
	assert_int_equal(m->secret(ci, ss), -EPROTO);
	assert_true(mfs_ct_is_zero(ss, sizeof(ss)));
	assert_int_equal(m->secret(cr, ss), 0);
	assert_int_equal(m->secret(cr, ss), -EPROTO);
	m->done(ci);
	m->done(cr);
	assert_true(mfs_ct_is_zero(ci, m->ctx_size));
	assert_true(mfs_ct_is_zero(cr, m->ctx_size));
}

/* done() right after init releases the initiator's PSK (checked under ASan/valgrind). */
static void test_done_early(void **state)
{
	uint8_t k[32], ci[1024];
	struct mem_psk t[] = { { "known", k, 32 }, { NULL, NULL, 0 } };
	struct kex_env ei = { .psk_id = "known", .psk_lookup = mem_lookup, .psk_arg = t };

	(void)state;
	fill(k, 32, 3);
	assert_int_equal(kex_psk.init(ci, &ei, KEX_INITIATOR), 0);
	kex_psk.done(ci);
	assert_true(mfs_ct_is_zero(ci, kex_psk.ctx_size));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_id_syntax),
		cmocka_unit_test(test_file_accepts),
		cmocka_unit_test(test_file_rejects),
		cmocka_unit_test(test_dir_lookup),
		cmocka_unit_test(test_dir_lookup_cache),
		cmocka_unit_test(test_exchange_files),
		cmocka_unit_test(test_exchange_mismatch),
		cmocka_unit_test(test_unknown_and_bad_ids),
		cmocka_unit_test(test_responder_parsing),
		cmocka_unit_test(test_call_order),
		cmocka_unit_test(test_done_early),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
