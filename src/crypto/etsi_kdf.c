/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ETSI TS 103 744 CatKDF / CasKDF on top of OpenSSL's HKDF, SSKDF, HMAC and
 * KMAC. See etsi_kdf.h for the construction and tests/vectors/README.md §3
 * for how it was checked against the reference vectors.
 */
#include "crypto/etsi_kdf.h"

#include <errno.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/secret.h"
#include "crypto/mac.h"

/* KMAC chain_0 when no PSK is given (OpenSSL rejects KMAC keys under 4 bytes). */
static const uint8_t zeros[ETSI_HLEN_MAX];
/* A non-NULL pointer for empty octet strings. */
static const uint8_t empty[1];

static bool cbuf_ok(struct cbuf b)
{
	return b.p || b.len == 0;
}

static bool is_kmac(enum etsi_kdf kdf)
{
	return kdf == ETSI_KDF_KMAC128 || kdf == ETSI_KDF_KMAC256;
}

static bool kdf_known(enum etsi_kdf kdf)
{
	switch (kdf) {
	case ETSI_KDF_HKDF_SHA256:
	case ETSI_KDF_HKDF_SHA384:
	case ETSI_KDF_HMAC_SHA256:
	case ETSI_KDF_HMAC_SHA384:
	case ETSI_KDF_KMAC128:
	case ETSI_KDF_KMAC256:
		return true;
	}
	return false;
}

size_t etsi_kdf_hlen(enum etsi_kdf kdf)
{
	if (!kdf_known(kdf))
		return 0;
	return hash_len(etsi_kdf_hash(kdf));
}

enum hash_alg etsi_kdf_hash(enum etsi_kdf kdf)
{
	switch (kdf) {
	case ETSI_KDF_HKDF_SHA384:
	case ETSI_KDF_HMAC_SHA384:
	case ETSI_KDF_KMAC256:
		return HASH_SHA384;
	case ETSI_KDF_HKDF_SHA256:
	case ETSI_KDF_HMAC_SHA256:
	case ETSI_KDF_KMAC128:
		break;
	}
	return HASH_SHA256;
}

static const char *kmac_name(enum etsi_kdf kdf)
{
	return kdf == ETSI_KDF_KMAC256 ? OSSL_MAC_NAME_KMAC256 : OSSL_MAC_NAME_KMAC128;
}

static void be32(uint8_t b[static 4], size_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

int etsi_msg_format_len(const struct cbuf *x, size_t n, size_t *ret)
{
	size_t len = 2;

	if (n && !x)
		return -EINVAL;
	if (n > ETSI_ITEMS_MAX)
		return -EMSGSIZE;
	for (size_t i = 0; i < n; i++) {
		if (!cbuf_ok(x[i]))
			return -EINVAL;
		if (x[i].len > ETSI_FIELD_MAX)
			return -EMSGSIZE;
		len += 4 + x[i].len;	/* ≤ 64 · (4 + 2 MiB): no overflow */
	}
	*ret = len;
	return 0;
}

int etsi_msg_format(uint16_t cid, const struct cbuf *x, size_t n, struct wbuf *out)
{
	size_t len;
	int r;

	if ((r = etsi_msg_format_len(x, n, &len)) < 0)
		goto out;
	/* cid has no length prefix; each x_i has BE32(2·|x_i|) (reference-code quirk). */
	if ((r = wbuf_u16(out, cid)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if ((r = wbuf_u32(out, (uint32_t)(2 * x[i].len))) < 0 ||
		    (r = wbuf_put(out, x[i].p, x[i].len)) < 0)
			goto out;
out:
	if (r < 0 && !out->err)
		out->err = r;
	return r;
}

static int ctx_check(struct cbuf a, struct cbuf b, struct cbuf c)
{
	if (!cbuf_ok(a) || !cbuf_ok(b) || !cbuf_ok(c))
		return -EINVAL;
	if (a.len > ETSI_FIELD_MAX || b.len > ETSI_FIELD_MAX || c.len > ETSI_FIELD_MAX)
		return -EMSGSIZE;
	return 0;
}

int etsi_ctx_concat(struct cbuf a, struct cbuf b, struct cbuf c, struct wbuf *out)
{
	int r;

	if ((r = ctx_check(a, b, c)) < 0) {
		if (!out->err)
			out->err = r;
		return r;
	}
	if ((r = wbuf_vec32(out, a.p, a.len)) < 0 || (r = wbuf_vec32(out, b.p, b.len)) < 0 ||
	    (r = wbuf_vec32(out, c.p, c.len)) < 0)
		return r;
	return 0;
}

int etsi_ctx_hash(enum hash_alg h, struct cbuf a, struct cbuf b, struct cbuf c, uint8_t *out)
{
	uint8_t la[4], lb[4], lc[4];
	struct cbuf parts[6];
	int r;

	if (h != HASH_SHA256 && h != HASH_SHA384)
		return -EINVAL;
	if ((r = ctx_check(a, b, c)) < 0)
		return r;
	be32(la, a.len);
	be32(lb, b.len);
	be32(lc, c.len);
	parts[0] = CBUF(la, 4);
	parts[1] = a;
	parts[2] = CBUF(lb, 4);
	parts[3] = b;
	parts[4] = CBUF(lc, 4);
	parts[5] = c;
	return hash_v(h, parts, 6, out);
}

/* SP 800-56C one-step KDF with HMAC-H or KMAC# through EVP_KDF "SSKDF". */
static int sskdf(enum etsi_kdf kdf, struct cbuf label, struct cbuf z, struct cbuf info,
		 uint8_t *out, size_t out_len)
{
	EVP_KDF *k = NULL;
	EVP_KDF_CTX *ctx = NULL;
	OSSL_PARAM params[6], *p = params;
	int r = -EIO;

	if (is_kmac(kdf)) {
		*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC,
							(char *)kmac_name(kdf), 0);
	} else {
		*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC,
							(char *)OSSL_MAC_NAME_HMAC, 0);
		*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
							(char *)hash_name(etsi_kdf_hash(kdf)), 0);
	}
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET,
						 (void *)(z.len ? z.p : empty), z.len);
	if (label.len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)label.p,
							 label.len);
	if (info.len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info.p,
							 info.len);
	*p = OSSL_PARAM_construct_end();
	if (!(k = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_SSKDF, NULL)) || !(ctx = EVP_KDF_CTX_new(k)))
		goto out;
	if (EVP_KDF_derive(ctx, out, out_len, params) != 1)
		goto out;
	r = 0;
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(k);
	return r;
}

int etsi_kdf(enum etsi_kdf kdf, struct cbuf label, const struct cbuf *secret, size_t n,
	     struct cbuf info, uint8_t *out, size_t out_len)
{
	uint8_t z[ETSI_SECRET_MAX];
	struct wbuf w = wbuf_init(z, sizeof(z));
	int r;

	if (!out)
		return -EINVAL;
	if (!kdf_known(kdf) || out_len == 0 || (n && !secret) || !cbuf_ok(label) ||
	    !cbuf_ok(info)) {
		r = -EINVAL;
		goto out;
	}
	if (out_len > ETSI_KEY_MAX_LEN + ETSI_HLEN_MAX || n > ETSI_ITEMS_MAX ||
	    label.len > ETSI_LABEL_MAX || info.len > ETSI_FIELD_MAX) {
		r = -EMSGSIZE;
		goto out;
	}
	/* Z = secret[0] ‖ … ‖ secret[n-1] */
	for (size_t i = 0; i < n; i++) {
		if (!cbuf_ok(secret[i])) {
			r = -EINVAL;
			goto out;
		}
		wbuf_put(&w, secret[i].p, secret[i].len);
	}
	if ((r = wbuf_error(&w)) < 0)
		goto out;
	switch (kdf) {
	case ETSI_KDF_HKDF_SHA256:
	case ETSI_KDF_HKDF_SHA384:
		r = hkdf(etsi_kdf_hash(kdf), label.p, label.len, z, w.len, info.p, info.len,
			 out, out_len);
		break;
	case ETSI_KDF_HMAC_SHA256:
	case ETSI_KDF_HMAC_SHA384:
	case ETSI_KDF_KMAC128:
	case ETSI_KDF_KMAC256:
		r = sskdf(kdf, label, CBUF(z, w.len), info, out, out_len);
		break;
	}
out:
	mfs_wipe(z, sizeof(z));
	if (r < 0)
		mfs_wipe(out, out_len);
	return r;
}

/* KMAC#(K = key, cb_f(a, b, c), L = len, S = ""), streamed: no copy of the secret a. */
static int kmac_cb_f(enum etsi_kdf kdf, struct cbuf key, struct cbuf a, struct cbuf b,
		     struct cbuf c, uint8_t *out, size_t len)
{
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	const struct cbuf parts[3] = { a, b, c };
	uint8_t lb[4];
	size_t out_len = 0;
	int r = -EIO;

	params[0] = OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &len);
	params[1] = OSSL_PARAM_construct_end();
	if (!(mac = EVP_MAC_fetch(NULL, kmac_name(kdf), NULL)) || !(ctx = EVP_MAC_CTX_new(mac)))
		goto out;
	if (EVP_MAC_init(ctx, key.len ? key.p : empty, key.len, params) != 1)
		goto out;
	for (size_t i = 0; i < 3; i++) {
		be32(lb, parts[i].len);
		if (EVP_MAC_update(ctx, lb, 4) != 1 ||
		    EVP_MAC_update(ctx, parts[i].len ? parts[i].p : empty, parts[i].len) != 1)
			goto out;
	}
	if (EVP_MAC_final(ctx, out, &out_len, len) != 1 || out_len != len)
		goto out;
	r = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return r;
}

int etsi_prf(enum etsi_kdf kdf, struct cbuf key, struct cbuf k, struct cbuf ma, struct cbuf mb,
	     uint8_t *out)
{
	uint8_t h[ETSI_HLEN_MAX];
	size_t hlen = etsi_kdf_hlen(kdf);
	int r;

	if (!out)
		return -EINVAL;
	if (!hlen || !cbuf_ok(key)) {
		r = -EINVAL;
		goto out;
	}
	if (key.len > (is_kmac(kdf) ? ETSI_LABEL_MAX : ETSI_SECRET_MAX)) {
		r = -EMSGSIZE;
		goto out;
	}
	if ((r = ctx_check(k, ma, mb)) < 0)
		goto out;
	if (is_kmac(kdf)) {
		r = kmac_cb_f(kdf, key, k, ma, mb, out, hlen);
	} else {
		/* HMAC(key = s, cahb_f(k, MA, MB)); the hash covers k, so it is secret. */
		if ((r = etsi_ctx_hash(etsi_kdf_hash(kdf), k, ma, mb, h)) < 0)
			goto out;
		r = hmac(etsi_kdf_hash(kdf), key.p, key.len, h, hlen, out);
	}
out:
	mfs_wipe(h, sizeof(h));
	if (r < 0 && hlen)
		mfs_wipe(out, hlen);
	return r;
}

int etsi_catkdf(enum etsi_kdf kdf, const struct etsi_catkdf_in *in, uint8_t *out, size_t out_len)
{
	uint8_t h[ETSI_HLEN_MAX];
	uint8_t *cat = NULL;
	struct wbuf w;
	struct cbuf info;
	int r;

	if (!out)
		return -EINVAL;
	if (!in || !kdf_known(kdf) || out_len == 0) {
		r = -EINVAL;
		goto out;
	}
	if (out_len > ETSI_KEY_MAX_LEN) {
		r = -EMSGSIZE;
		goto out;
	}
	if ((r = ctx_check(in->context, in->ma, in->mb)) < 0)
		goto out;
	if (is_kmac(kdf)) {
		/* KMAC: the formatted context is cb_f(context, MA, MB), not hashed. */
		size_t len = 12 + in->context.len + in->ma.len + in->mb.len;

		if (!(cat = malloc(len))) {
			r = -ENOMEM;
			goto out;
		}
		w = wbuf_init(cat, len);
		if ((r = etsi_ctx_concat(in->context, in->ma, in->mb, &w)) < 0)
			goto out;
		info = CBUF(cat, w.len);
	} else {
		/* HKDF / HMAC: cahb_f(context, MA, MB). */
		if ((r = etsi_ctx_hash(etsi_kdf_hash(kdf), in->context, in->ma, in->mb, h)) < 0)
			goto out;
		info = CBUF(h, etsi_kdf_hlen(kdf));
	}
	/* key_material = KDF(psk ‖ k1 ‖ … ‖ kn, label, f_context, L) */
	r = etsi_kdf(kdf, in->label, in->secret, in->n_secret, info, out, out_len);
out:
	free(cat);
	if (r < 0)
		mfs_wipe(out, out_len);
	return r;
}

int etsi_caskdf(enum etsi_kdf kdf, struct cbuf psk, const struct etsi_caskdf_round *rounds,
		size_t n, uint8_t *out, size_t out_len)
{
	uint8_t round[ETSI_HLEN_MAX];
	uint8_t chain[ETSI_HLEN_MAX];
	uint8_t okm[ETSI_HLEN_MAX + ETSI_KEY_MAX_LEN];
	size_t hlen = etsi_kdf_hlen(kdf);
	struct cbuf cs = psk;
	int r;

	if (!out)
		return -EINVAL;
	if (!hlen || !rounds || n == 0 || out_len == 0 || !cbuf_ok(psk)) {
		r = -EINVAL;
		goto out;
	}
	if (n > ETSI_ROUNDS_MAX || out_len > ETSI_KEY_MAX_LEN) {
		r = -EMSGSIZE;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		size_t l = rounds[i].key_len;

		if (i + 1 == n ? (l != 0 && l != out_len) : (l == 0)) {
			r = -EINVAL;
			goto out;
		}
		if (l > ETSI_KEY_MAX_LEN) {
			r = -EMSGSIZE;
			goto out;
		}
	}
	/* chain_secret_0 = psk; KMAC with no PSK uses cs zero bytes (reference code). */
	if (is_kmac(kdf) && psk.len == 0)
		cs = CBUF(zeros, hlen);
	for (size_t i = 0; i < n; i++) {
		const struct etsi_caskdf_round *ri = &rounds[i];
		size_t l = i + 1 == n ? out_len : ri->key_len;

		/* round_secret_i = PRF(chain_secret_{i-1}; k_i, MA_i, MB_i) */
		if ((r = etsi_prf(kdf, cs, ri->secret, ri->ma, ri->mb, round)) < 0)
			goto out;
		/* chain_secret_i ‖ key_material_i = KDF(round_secret_i, label_i, info_i, hlen + L_i) */
		if ((r = etsi_kdf(kdf, ri->label, &CBUF(round, hlen), 1, ri->info, okm, hlen + l)) < 0)
			goto out;
		memcpy(chain, okm, hlen);
		cs = CBUF(chain, hlen);
		if (i + 1 == n)
			memcpy(out, okm + hlen, out_len);
	}
	r = 0;
out:
	mfs_wipe(round, sizeof(round));
	mfs_wipe(chain, sizeof(chain));
	mfs_wipe(okm, sizeof(okm));
	if (r < 0)
		mfs_wipe(out, out_len);
	return r;
}
