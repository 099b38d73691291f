/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers of mfs-kex: errors, method lookup, key files (raw or PEM). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/file.h"
#include "cli/cli.h"
#include "crypto/pkey_codec.h"

#define PEM_MAX (64 * 1024)	/* an ML-KEM-1024 PKCS#8 PEM is ~6 KiB */

const struct kex_method *cli_method(const char *name)
{
	const struct kex_method *const *all;
	const struct kex_method *m;
	size_t n;

	if (!name) {
		fprintf(stderr, "mfs-kex: --method is required (see 'mfs-kex list')\n");
		return NULL;
	}
	if ((m = kex_method_by_name(name)))
		return m;
	n = kex_methods(&all);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(all[i]->name, name)) {
			fprintf(stderr, "mfs-kex: method '%s' is built but not available "
					"with this crypto library\n", name);
			return NULL;
		}
	}
	fprintf(stderr, "mfs-kex: unknown method '%s'; known:", name);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %s", all[i]->name);
	fputc('\n', stderr);
	return NULL;
}

int cli_key_format(const char *s, enum key_format *ret)
{
	if (!strcmp(s, "raw"))
		*ret = KEY_RAW;
	else if (!strcmp(s, "pem"))
		*ret = KEY_PEM;
	else
		return -EINVAL;
	return 0;
}

static size_t max_file_len(const struct kex_method *m, bool priv)
{
	size_t raw = priv ? (m->kem->sk_len > m->kem->sk_len_alt ? m->kem->sk_len : m->kem->sk_len_alt)
			  : m->kem->pk_len;

	return raw > PEM_MAX ? raw : PEM_MAX;
}

int cli_read_public_key(const struct kex_method *m, const char *path, uint8_t **ret)
{
	uint8_t *buf = NULL, *pk = NULL;
	size_t len, got;
	int r;

	if ((r = file_read(path, max_file_len(m, false), 0, &buf, &len)) < 0)
		return cli_fail(r, "cannot read public key %s", path);
	if (!(pk = malloc(m->kem->pk_len))) {
		r = cli_fail(-ENOMEM, "public key");
		goto out;
	}
	if (pkey_is_pem(buf, len)) {
		if (!m->openssl_alg) {
			r = cli_fail(-EINVAL, "%s: %s keys have no PEM form; use the raw file", path, m->name);
			goto out;
		}
		r = pkey_pem_to_raw(m->openssl_alg, false, (const char *)buf, len, pk, m->kem->pk_len, &got);
		if (r == 0 && got != m->kem->pk_len)
			r = -EBADMSG;
		if (r < 0) {
			r = cli_fail(r == -EKEYREJECTED ? 0 : r, "%s: not a %s public key in PEM%s", path,
				     m->openssl_alg, r == -EKEYREJECTED ? " (another key type)" : "");
			goto out;
		}
	} else {
		if (len != m->kem->pk_len) {
			r = cli_fail(-EBADMSG, "%s: a raw %s public key is %zu bytes, the file has %zu",
				     path, m->name, m->kem->pk_len, len);
			goto out;
		}
		memcpy(pk, buf, len);
	}
	*ret = pk;
	pk = NULL;
	r = CLI_OK;
out:
	free(pk);
	free(buf);
	return r;
}

int cli_read_secret_key(const struct kex_method *m, const char *path, struct secret **ret)
{
	struct secret *file = NULL, *sk = NULL;
	size_t got;
	int r;

	r = file_read_secret(path, max_file_len(m, true), 0, &file);
	if (r == -EPERM)
		return cli_fail(0, "secret key %s is accessible by group or others; "
				   "run 'chmod 600 %s'", path, path);
	if (r < 0)
		return cli_fail(r, "cannot read secret key %s", path);
	if (pkey_is_pem(file->p, file->len)) {
		size_t cap = m->kem->sk_len > m->kem->sk_len_alt ? m->kem->sk_len : m->kem->sk_len_alt;

		if (!m->openssl_alg) {
			r = cli_fail(-EINVAL, "%s: %s keys have no PEM form; use the raw file", path, m->name);
			goto out;
		}
		if (!(sk = secret_alloc(cap))) {
			r = cli_fail(-ENOMEM, "secret key");
			goto out;
		}
		r = pkey_pem_to_raw(m->openssl_alg, true, (const char *)file->p, file->len, sk->p, cap, &got);
		if (r < 0) {
			r = cli_fail(r == -EKEYREJECTED ? 0 : r, "%s: not a %s private key in PEM%s", path,
				     m->openssl_alg, r == -EKEYREJECTED ? " (another key type)" : "");
			goto out;
		}
		sk->len = got;	/* shrinking len is fine: secret_free() wipes the whole mapping */
	} else {
		sk = file;
		file = NULL;
	}
	if (sk->len != m->kem->sk_len && (m->kem->sk_len_alt == 0 || sk->len != m->kem->sk_len_alt)) {
		r = cli_fail(-EBADMSG, "%s: a %s secret key is %zu bytes%s, the key has %zu", path, m->name,
			     m->kem->sk_len, m->kem->sk_len_alt ? " (or the expanded form)" : "", sk->len);
		goto out;
	}
	*ret = sk;
	sk = NULL;
	r = CLI_OK;
out:
	secret_free(sk);
	secret_free(file);
	return r;
}

int cli_write_file(const char *what, const char *path, const void *data, size_t len,
		   bool secret, bool force)
{
	int r = file_write_atomic(path, data, len,
				  (secret ? FILE_SECRET : 0) | (force ? FILE_OVERWRITE : 0));

	if (r == -EEXIST)
		return cli_fail(0, "%s %s exists; not overwriting it (use --force)", what, path);
	if (r < 0)
		return cli_fail(r, "cannot write %s %s", what, path);
	return CLI_OK;
}

static int write_key(const struct kex_method *m, const char *what, const char *path, bool priv,
		     const uint8_t *raw, size_t len, enum key_format fmt, bool force)
{
	char *pem = NULL;
	size_t pem_len = 0;
	int r;

	if (fmt == KEY_RAW)
		return cli_write_file(what, path, raw, len, priv, force);
	if (!m->openssl_alg)
		return cli_fail(0, "%s keys have no PEM form; use --format raw", m->name);
	if ((r = pkey_raw_to_pem(m->openssl_alg, priv, raw, len, &pem, &pem_len)) < 0)
		return cli_fail(r, "cannot encode the %s as PEM", what);
	r = cli_write_file(what, path, pem, pem_len, priv, force);
	pkey_pem_free(pem, pem_len);
	return r;
}

int cli_write_public_key(const struct kex_method *m, const char *path, const uint8_t *pk,
			 enum key_format fmt, bool force)
{
	return write_key(m, "public key", path, false, pk, m->kem->pk_len, fmt, force);
}

int cli_write_secret_key(const struct kex_method *m, const char *path, const struct secret *sk,
			 enum key_format fmt, bool force)
{
	return write_key(m, "secret key", path, true, sk->p, sk->len, fmt, force);
}
