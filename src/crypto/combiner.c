/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MFS key combiner on top of ETSI TS 103 744 CatKDF / CasKDF (etsi_kdf.h).
 * Layouts and rationale: combiner.h and docs/combiner.md.
 */
#include "crypto/combiner.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "crypto/etsi_kdf.h"

/* TS 103 744 CatKDF/CasKDF with HKDF-SHA-384 (specs/combiner.md §4.6). */
#define COMBINER_KDF ETSI_KDF_HKDF_SHA384

void combiner_input_init(struct combiner_input *in)
{
	*in = (struct combiner_input){
		.mode = COMBINER_CATKDF,
		.label = CBUF(COMBINER_LABEL_DEFAULT, sizeof(COMBINER_LABEL_DEFAULT) - 1),
	};
}

uint16_t combiner_cid(enum combiner_mode mode)
{
	switch (mode) {
	case COMBINER_CATKDF: return COMBINER_CID_CATKDF;
	case COMBINER_CASKDF: return COMBINER_CID_CASKDF;
	case COMBINER_XOR_ITS: return COMBINER_CID_XOR_ITS;
	}
	return 0;
}

/* A byte string of min..max bytes, with a pointer when non-empty. */
static int field_check(struct cbuf b, size_t min, size_t max)
{
	if (!b.p && b.len)
		return -EINVAL;
	if (b.len > max)
		return -EMSGSIZE;
	return b.len < min ? -EINVAL : 0;
}

static int input_check(const struct combiner_input *in, size_t out_len)
{
	size_t n_its = 0;
	int r;

	if (!combiner_cid(in->mode) || out_len < COMBINER_OUT_MIN)
		return -EINVAL;
	if (out_len > COMBINER_OUT_MAX)
		return -EMSGSIZE;
	if ((r = field_check(in->label, 1, COMBINER_LABEL_MAX)) < 0 ||
	    (r = field_check(in->purpose, 1, COMBINER_PURPOSE_MAX)) < 0 ||
	    (r = field_check(in->id_init, 1, COMBINER_IDENTITY_MAX)) < 0 ||
	    (r = field_check(in->id_resp, 1, COMBINER_IDENTITY_MAX)) < 0 ||
	    (r = field_check(in->nonce_init, COMBINER_NONCE_MIN, COMBINER_NONCE_MAX)) < 0 ||
	    (r = field_check(in->nonce_resp, COMBINER_NONCE_MIN, COMBINER_NONCE_MAX)) < 0)
		return r;
	if (!in->suite || in->n_suite == 0 || !in->methods || in->n_methods == 0 ||
	    (in->n_extra && !in->extra))
		return -EINVAL;
	if (in->n_suite > COMBINER_MAX_SUITE || in->n_methods > COMBINER_MAX_METHODS ||
	    in->n_extra > COMBINER_MAX_EXTRA)
		return -EMSGSIZE;
	for (size_t i = 0; i < in->n_extra; i++)
		if ((r = field_check(in->extra[i], 0, COMBINER_EXTRA_MAX)) < 0)
			return r;
	for (size_t i = 0; i < in->n_methods; i++) {
		const struct combiner_method *m = &in->methods[i];

		if ((r = field_check(m->msg1, 0, COMBINER_MSG_MAX)) < 0 ||
		    (r = field_check(m->msg2, 0, COMBINER_MSG_MAX)) < 0)
			return r;
		if (m->expected_len == 0 || m->expected_len > COMBINER_SECRET_MAX)
			return -EINVAL;
		if (!m->secret || !m->secret->p || m->secret->len != m->expected_len)
			return -EINVAL;
		/* An all-zero secret means a method that never produced one. */
		if (mfs_ct_is_zero(m->secret->p, m->secret->len))
			return -EINVAL;
		if (m->its)
			n_its++;
	}
	if (in->mode != COMBINER_XOR_ITS)
		return 0;
	/* XOR mode: ≥ 1 ITS input, each exactly out_len bytes, no two equal (they would cancel). */
	if (n_its == 0)
		return -EINVAL;
	for (size_t i = 0; i < in->n_methods; i++) {
		const struct combiner_method *m = &in->methods[i];

		if (!m->its)
			continue;
		if (m->secret->len != out_len)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (in->methods[j].its &&
			    mfs_ct_eq(in->methods[j].secret->p, m->secret->p, out_len))
				return -EINVAL;
	}
	return 0;
}

static size_t ctx_size(const struct combiner_input *in)
{
	size_t len = 2 + 2 + 2;	/* version, cid, L */

	len += 2 + in->label.len + 2 + in->purpose.len;
	len += 2 + 2 * in->n_suite;
	len += 2 + 5 * in->n_methods;
	len += 2 + in->id_init.len + 2 + in->id_resp.len;
	len += 2 + in->nonce_init.len + 2 + in->nonce_resp.len;
	len += 2;
	for (size_t i = 0; i < in->n_extra; i++)
		len += 2 + in->extra[i].len;
	return len;
}

static int encode_ctx(const struct combiner_input *in, size_t out_len, struct wbuf *w)
{
	wbuf_u16(w, in->version);
	wbuf_u16(w, combiner_cid(in->mode));
	wbuf_u16(w, (uint16_t)out_len);
	wbuf_vec16(w, in->label.p, in->label.len);
	wbuf_vec16(w, in->purpose.p, in->purpose.len);
	wbuf_u16(w, (uint16_t)in->n_suite);
	for (size_t i = 0; i < in->n_suite; i++)
		wbuf_u16(w, in->suite[i]);
	wbuf_u16(w, (uint16_t)in->n_methods);
	for (size_t i = 0; i < in->n_methods; i++) {
		wbuf_u16(w, in->methods[i].id);
		wbuf_u8(w, in->methods[i].its ? 1 : 0);
		wbuf_u16(w, (uint16_t)in->methods[i].expected_len);
	}
	wbuf_vec16(w, in->id_init.p, in->id_init.len);
	wbuf_vec16(w, in->id_resp.p, in->id_resp.len);
	wbuf_vec16(w, in->nonce_init.p, in->nonce_init.len);
	wbuf_vec16(w, in->nonce_resp.p, in->nonce_resp.len);
	wbuf_u16(w, (uint16_t)in->n_extra);
	for (size_t i = 0; i < in->n_extra; i++)
		wbuf_vec16(w, in->extra[i].p, in->extra[i].len);
	return wbuf_error(w);
}

/*
 * f(cid, BE16(id_a), msg_a, …) over methods [first, first + n), msg1 or msg2.
 * ids[i] holds BE16(methods[i].id).
 */
static int encode_msg(const struct combiner_input *in, const uint8_t (*ids)[2], size_t first,
		      size_t n, bool second, struct wbuf *w)
{
	struct cbuf x[2 * COMBINER_MAX_METHODS];

	for (size_t i = 0; i < n; i++) {
		const struct combiner_method *m = &in->methods[first + i];

		x[2 * i] = CBUF(ids[first + i], 2);
		x[2 * i + 1] = second ? m->msg2 : m->msg1;
	}
	return etsi_msg_format(combiner_cid(in->mode), x, 2 * n, w);
}

static const uint8_t id_placeholder[2];

static int msg_size(const struct combiner_input *in, size_t first, size_t n, bool second,
		    size_t *ret)
{
	struct cbuf x[2 * COMBINER_MAX_METHODS];

	for (size_t i = 0; i < n; i++) {
		x[2 * i] = CBUF(id_placeholder, 2);	/* only the length counts here */
		x[2 * i + 1] = second ? in->methods[first + i].msg2 : in->methods[first + i].msg1;
	}
	return etsi_msg_format_len(x, 2 * n, ret);
}

static void ids_be(const struct combiner_input *in, uint8_t (*ids)[2])
{
	for (size_t i = 0; i < in->n_methods; i++) {
		ids[i][0] = (uint8_t)(in->methods[i].id >> 8);
		ids[i][1] = (uint8_t)in->methods[i].id;
	}
}

void combiner_encoding_done(struct combiner_encoding *enc)
{
	if (!enc)
		return;
	free(enc->ctx);
	free(enc->ma);
	free(enc->mb);
	*enc = (struct combiner_encoding){ 0 };
}

int combiner_encode(const struct combiner_input *in, size_t out_len,
		    struct combiner_encoding *ret)
{
	struct combiner_encoding enc = { 0 };
	uint8_t ids[COMBINER_MAX_METHODS][2];
	struct wbuf w;
	int r;

	if (!in || !ret)
		return -EINVAL;
	if ((r = input_check(in, out_len)) < 0)
		goto out;
	ids_be(in, ids);
	enc.ctx_len = ctx_size(in);
	if ((r = msg_size(in, 0, in->n_methods, false, &enc.ma_len)) < 0 ||
	    (r = msg_size(in, 0, in->n_methods, true, &enc.mb_len)) < 0)
		goto out;
	if (!(enc.ctx = malloc(enc.ctx_len)) || !(enc.ma = malloc(enc.ma_len)) ||
	    !(enc.mb = malloc(enc.mb_len))) {
		r = -ENOMEM;
		goto out;
	}
	/* Each buffer is sized exactly; filling it exactly is checked (a bug otherwise). */
	w = wbuf_init(enc.ctx, enc.ctx_len);
	if ((r = encode_ctx(in, out_len, &w)) < 0)
		goto out;
	assert(w.len == enc.ctx_len);
	w = wbuf_init(enc.ma, enc.ma_len);
	if ((r = encode_msg(in, ids, 0, in->n_methods, false, &w)) < 0)
		goto out;
	assert(w.len == enc.ma_len);
	w = wbuf_init(enc.mb, enc.mb_len);
	if ((r = encode_msg(in, ids, 0, in->n_methods, true, &w)) < 0)
		goto out;
	assert(w.len == enc.mb_len);
	*ret = enc;
	enc = (struct combiner_encoding){ 0 };
out:
	combiner_encoding_done(&enc);
	return r;
}

/* CatKDF over all inputs (CatKDF mode) or the non-ITS ones (skip_its: XOR mode). */
static int derive_cat(const struct combiner_input *in, const struct combiner_encoding *enc,
		      bool skip_its, uint8_t *out, size_t out_len)
{
	struct cbuf z[COMBINER_MAX_METHODS];
	struct etsi_catkdf_in cat = {
		.secret = z,
		.label = in->label,
		.context = CBUF(enc->ctx, enc->ctx_len),
		.ma = CBUF(enc->ma, enc->ma_len),
		.mb = CBUF(enc->mb, enc->mb_len),
	};

	/* secret = ss_1 ‖ … ‖ ss_n in negotiated order (psk slot unused: a PSK is a method) */
	for (size_t i = 0; i < in->n_methods; i++) {
		const struct secret *s = in->methods[i].secret;

		if (skip_its && in->methods[i].its)
			continue;
		z[cat.n_secret++] = CBUF(s->p, s->len);
	}
	return etsi_catkdf(COMBINER_KDF, &cat, out, out_len);
}

static int derive_cas(const struct combiner_input *in, const struct combiner_encoding *enc,
		      uint8_t *out, size_t out_len)
{
	struct etsi_caskdf_round rounds[COMBINER_MAX_METHODS];
	uint8_t ids[COMBINER_MAX_METHODS][2];
	uint8_t *msgs = NULL, *info = NULL;
	size_t total = 0, n = in->n_methods, info_len = 4 + enc->ctx_len;
	struct wbuf w;
	int r;

	ids_be(in, ids);
	for (size_t i = 0; i < n; i++) {
		size_t a, b;

		if ((r = msg_size(in, i, 1, false, &a)) < 0 || (r = msg_size(in, i, 1, true, &b)) < 0)
			goto out;
		total += a + b;
	}
	/* n ≤ 8 rounds, context ≤ ~10 KiB: small */
	if (!(msgs = malloc(total)) || !(info = malloc(n * info_len))) {
		r = -ENOMEM;
		goto out;
	}
	w = wbuf_init(msgs, total);	/* sized exactly above */
	for (size_t i = 0; i < n; i++) {
		uint8_t *ii = info + i * info_len;
		size_t start = w.len, mid;

		/* MA_i = f(cid, BE16(id_i), msg1_i), MB_i = f(cid, BE16(id_i), msg2_i) */
		if ((r = encode_msg(in, ids, i, 1, false, &w)) < 0)
			goto out;
		mid = w.len;
		if ((r = encode_msg(in, ids, i, 1, true, &w)) < 0)
			goto out;
		/* info_i = BE16(i) ‖ BE16(n) ‖ context (i counts from 1) */
		ii[0] = (uint8_t)((i + 1) >> 8);
		ii[1] = (uint8_t)(i + 1);
		ii[2] = (uint8_t)(n >> 8);
		ii[3] = (uint8_t)n;
		memcpy(ii + 4, enc->ctx, enc->ctx_len);
		rounds[i] = (struct etsi_caskdf_round){
			.secret = CBUF(in->methods[i].secret->p, in->methods[i].secret->len),
			.label = in->label,
			.info = CBUF(ii, info_len),
			.ma = CBUF(msgs + start, mid - start),
			.mb = CBUF(msgs + mid, w.len - mid),
			.key_len = i + 1 < n ? out_len : 0,	/* L_i = L */
		};
	}
	/* chain_secret_0 empty: there is no separate PSK slot (a PSK is a method). */
	r = etsi_caskdf(COMBINER_KDF, CBUF(NULL, 0), rounds, n, out, out_len);
out:
	free(msgs);
	free(info);
	return r;
}

int combiner_derive(const struct combiner_input *in, uint8_t *out, size_t out_len)
{
	struct combiner_encoding enc = { 0 };
	int r;

	if (!out)
		return -EINVAL;
	if ((r = combiner_encode(in, out_len, &enc)) < 0)
		goto out;
	switch (in->mode) {
	case COMBINER_CATKDF:
		r = derive_cat(in, &enc, false, out, out_len);
		break;
	case COMBINER_CASKDF:
		r = derive_cas(in, &enc, out, out_len);
		break;
	case COMBINER_XOR_ITS:
		/* K = CatKDF(non-ITS inputs) ⊕ its_1 ⊕ … ⊕ its_m */
		if ((r = derive_cat(in, &enc, true, out, out_len)) < 0)
			break;
		for (size_t i = 0; i < in->n_methods; i++) {
			const struct secret *s = in->methods[i].secret;

			if (!in->methods[i].its)
				continue;
			for (size_t j = 0; j < out_len; j++)
				out[j] ^= s->p[j];
		}
		break;
	}
out:
	combiner_encoding_done(&enc);
	if (r < 0)
		mfs_wipe(out, out_len);
	return r;
}
