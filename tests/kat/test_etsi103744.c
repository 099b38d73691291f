/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ETSI TS 103 744 known answers: every key_material stored in the reference
 * main.c (12 input sets × CatKDF/CasKDF × HKDF/HMAC/KMAC = 72) reproduced
 * through crypto/etsi_kdf.h. Construction: tests/vectors/README.md §3.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "crypto/etsi_kdf.h"
#include "vectors.h"

#define VEC_FILE "etsi/ts103744_qhkex_vectors.json"
#define MSG_MAX 8192

/* The inputs of one vector, decoded. */
struct etsi_vec {
	uint8_t *la[2], *lb[2], *pa[2], *pb[2], *k[2];
	size_t la_len[2], lb_len[2], pa_len[2], pb_len[2], k_len[2];
	uint8_t label[2][ETSI_LABEL_MAX];
	size_t label_len[2];
	size_t key_len;
	const char *hash, *kmac;
};

static const char *const variants[6] = {
	"CatKDF-HKDF", "CasKDF-HKDF", "CatKDF-HMAC", "CasKDF-HMAC", "CatKDF-KMAC", "CasKDF-KMAC",
};

static void vec_decode(const json_t *v, struct etsi_vec *e)
{
	static const char *const fa[2] = { "LA1", "LA2" }, *const fb[2] = { "LB1", "LB2" };
	static const char *const pa[2] = { "PA1", "PA2" }, *const pb[2] = { "PB1", "PB2" };
	static const char *const k[2] = { "k1", "k2" };

	for (int i = 0; i < 2; i++) {
		e->la[i] = vec_hex(v, fa[i], &e->la_len[i]);
		e->lb[i] = vec_hex(v, fb[i], &e->lb_len[i]);
		e->pa[i] = vec_hex(v, pa[i], &e->pa_len[i]);
		e->pb[i] = vec_hex(v, pb[i], &e->pb_len[i]);
		e->k[i] = vec_hex(v, k[i], &e->k_len[i]);
		/* label_i = LAi XOR LBi (equal lengths) */
		assert_int_equal(e->la_len[i], e->lb_len[i]);
		assert_true(e->la_len[i] <= ETSI_LABEL_MAX);
		for (size_t j = 0; j < e->la_len[i]; j++)
			e->label[i][j] = e->la[i][j] ^ e->lb[i][j];
		e->label_len[i] = e->la_len[i];
	}
	e->key_len = (size_t)vec_int(v, "key_length");
	e->hash = vec_str(v, "hash");
	e->kmac = vec_str(v, "kmac");
}

static void vec_free(struct etsi_vec *e)
{
	for (int i = 0; i < 2; i++) {
		free(e->la[i]);
		free(e->lb[i]);
		free(e->pa[i]);
		free(e->pb[i]);
		free(e->k[i]);
	}
}

static enum etsi_kdf kdf_of(const struct etsi_vec *e, const char *variant)
{
	bool sha384 = strcmp(e->hash, "SHA-384") == 0;

	assert_true(sha384 || strcmp(e->hash, "SHA-256") == 0);
	if (strstr(variant, "HKDF"))
		return sha384 ? ETSI_KDF_HKDF_SHA384 : ETSI_KDF_HKDF_SHA256;
	if (strstr(variant, "HMAC"))
		return sha384 ? ETSI_KDF_HMAC_SHA384 : ETSI_KDF_HMAC_SHA256;
	/* KMAC256 pairs with SHA-384, KMAC128 with SHA-256 */
	assert_string_equal(e->kmac, sha384 ? "KMAC256" : "KMAC128");
	return sha384 ? ETSI_KDF_KMAC256 : ETSI_KDF_KMAC128;
}

static uint16_t cid_of(const json_t *obj)
{
	size_t len;
	uint8_t *c = vec_hex(obj, "cid", &len);
	uint16_t cid;

	assert_int_equal(len, 2);
	cid = (uint16_t)(c[0] << 8 | c[1]);
	free(c);
	return cid;
}

/* MA = f(cid, LA1, PA1, PA2) etc. */
static size_t format(uint16_t cid, const struct cbuf *x, size_t n, uint8_t *buf)
{
	struct wbuf w = wbuf_init(buf, MSG_MAX);
	size_t len;

	assert_int_equal(etsi_msg_format(cid, x, n, &w), 0);
	assert_int_equal(etsi_msg_format_len(x, n, &len), 0);
	assert_int_equal(len, w.len);
	return w.len;
}

static void run_catkdf(const struct etsi_vec *e, enum etsi_kdf kdf, uint16_t cid,
		       struct cbuf info, uint8_t *out)
{
	static uint8_t ma[MSG_MAX], mb[MSG_MAX];
	const struct cbuf xa[3] = { CBUF(e->la[0], e->la_len[0]), CBUF(e->pa[0], e->pa_len[0]),
				    CBUF(e->pa[1], e->pa_len[1]) };
	const struct cbuf xb[3] = { CBUF(e->lb[0], e->lb_len[0]), CBUF(e->pb[0], e->pb_len[0]),
				    CBUF(e->pb[1], e->pb_len[1]) };
	/* Z = psk ‖ k1 ‖ k2, psk empty */
	const struct cbuf z[3] = { CBUF(NULL, 0), CBUF(e->k[0], e->k_len[0]),
				   CBUF(e->k[1], e->k_len[1]) };
	struct etsi_catkdf_in in = {
		.secret = z,
		.n_secret = 3,
		.label = CBUF(e->label[0], e->label_len[0]),
		.context = info,
	};

	in.ma = CBUF(ma, format(cid, xa, 3, ma));
	in.mb = CBUF(mb, format(cid, xb, 3, mb));
	assert_int_equal(etsi_catkdf(kdf, &in, out, e->key_len), 0);
}

static void run_caskdf(const struct etsi_vec *e, enum etsi_kdf kdf, uint16_t cid,
		       struct cbuf info, size_t n_rounds, uint8_t *out)
{
	static uint8_t ma[2][MSG_MAX], mb[2][MSG_MAX];
	struct etsi_caskdf_round r[2];

	for (int i = 0; i < 2; i++) {
		const struct cbuf xa[2] = { CBUF(e->la[i], e->la_len[i]),
					    CBUF(e->pa[i], e->pa_len[i]) };
		const struct cbuf xb[2] = { CBUF(e->lb[i], e->lb_len[i]),
					    CBUF(e->pb[i], e->pb_len[i]) };

		r[i] = (struct etsi_caskdf_round){
			.secret = CBUF(e->k[i], e->k_len[i]),
			.label = CBUF(e->label[i], e->label_len[i]),
			.info = info,
			.ma = CBUF(ma[i], format(cid, xa, 2, ma[i])),
			.mb = CBUF(mb[i], format(cid, xb, 2, mb[i])),
			.key_len = (size_t)i + 1 < n_rounds ? e->key_len : 0,
		};
	}
	assert_int_equal(etsi_caskdf(kdf, CBUF(NULL, 0), r, n_rounds, out, e->key_len), 0);
}

static void test_all_vectors(void **state)
{
	json_t *root = vec_load(VEC_FILE);
	json_t *vectors = json_object_get(root, "vectors");
	size_t info_len, checked = 0, round1_checked = 0, idx;
	uint8_t *info = vec_hex(root, "info_hex", &info_len);
	json_t *v;

	(void)state;
	assert_int_equal(info_len, 29);
	assert_memory_equal(info, "ETSI_QSHKE_TEST_VECTORS_V_1_2", 29);
	assert_string_equal(vec_str(root, "psk"), "");
	assert_true(json_is_array(vectors));
	json_array_foreach(vectors, idx, v) {
		struct etsi_vec e;

		vec_decode(v, &e);
		for (size_t t = 0; t < 6; t++) {
			const json_t *obj = json_object_get(v, variants[t]);
			enum etsi_kdf kdf = kdf_of(&e, variants[t]);
			uint16_t cid = cid_of(obj);
			size_t want_len;
			uint8_t *want = vec_hex(obj, "key_material", &want_len);
			uint8_t got[ETSI_KEY_MAX_LEN];

			assert_int_equal(want_len, e.key_len);
			memset(got, 0xee, sizeof(got));
			if (t % 2 == 0)
				run_catkdf(&e, kdf, cid, CBUF(info, info_len), got);
			else
				run_caskdf(&e, kdf, cid, CBUF(info, info_len), 2, got);
			if (memcmp(got, want, want_len) != 0)
				fail_msg("vector %zu %s (cid %04x) mismatch", idx, variants[t], cid);
			checked++;
			free(want);

			/* The collector's round-1 key material: CasKDF over the first round only. */
			if (t % 2 == 1) {
				const json_t *cc = json_object_get(obj, "collector_computed");

				want = vec_hex(cc, "key_material1", &want_len);
				run_caskdf(&e, kdf, cid, CBUF(info, info_len), 1, got);
				assert_memory_equal(got, want, want_len);
				round1_checked++;
				free(want);
			}
		}
		vec_free(&e);
	}
	printf("ETSI TS 103 744: %zu/72 key_material values reproduced "
	       "(+%zu CasKDF round-1 intermediates)\n", checked, round1_checked);
	assert_int_equal(checked, 72);
	assert_int_equal(round1_checked, 36);
	free(info);
	json_decref(root);
}

/* f() with the 2·length quirk, cid unprefixed. */
static void test_msg_format_layout(void **state)
{
	const struct cbuf x[2] = { CBUF("\xaa", 1), CBUF("\xbb\xcc", 2) };
	const uint8_t want[] = { 0x12, 0x34, 0, 0, 0, 2, 0xaa, 0, 0, 0, 4, 0xbb, 0xcc };
	uint8_t buf[sizeof(want)], small[sizeof(want) - 1];
	struct wbuf w = wbuf_init(buf, sizeof(buf));
	struct wbuf ws = wbuf_init(small, sizeof(small));

	(void)state;
	assert_int_equal(etsi_msg_format(0x1234, x, 2, &w), 0);
	assert_int_equal(w.len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(etsi_msg_format(0x1234, x, 2, &ws), -EMSGSIZE);
	assert_int_equal(wbuf_error(&ws), -EMSGSIZE);
}

static void test_bad_args(void **state)
{
	static uint8_t out[ETSI_KEY_MAX_LEN + 1];	/* a failure zeroes all out_len bytes */
	const struct cbuf k = CBUF("0123456789abcdef0123456789abcdef", 32);
	struct etsi_catkdf_in in = { .secret = &k, .n_secret = 1, .label = CBUF("label", 5) };
	struct etsi_caskdf_round r = { .secret = k, .label = CBUF("label", 5) };

	(void)state;
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(etsi_catkdf(ETSI_KDF_HKDF_SHA384, &in, out, 0), -EINVAL);
	assert_int_equal(etsi_catkdf(ETSI_KDF_HKDF_SHA384, &in, out, ETSI_KEY_MAX_LEN + 1),
			 -EMSGSIZE);
	assert_int_equal(etsi_catkdf((enum etsi_kdf)99, &in, out, 32), -EINVAL);
	for (size_t i = 0; i < 32; i++)
		assert_int_equal(out[i], 0);
	memset(out, 0xaa, sizeof(out));
	in.label = CBUF(NULL, 3);
	assert_int_equal(etsi_catkdf(ETSI_KDF_HMAC_SHA256, &in, out, 32), -EINVAL);
	for (size_t i = 0; i < 32; i++)
		assert_int_equal(out[i], 0);
	memset(out, 0xaa, sizeof(out));
	r.key_len = 5;	/* the last round must have 0 or out_len */
	assert_int_equal(etsi_caskdf(ETSI_KDF_HKDF_SHA256, CBUF(NULL, 0), &r, 1, out, 32), -EINVAL);
	for (size_t i = 0; i < 32; i++)
		assert_int_equal(out[i], 0);
	r.key_len = 0;
	assert_int_equal(etsi_caskdf(ETSI_KDF_HKDF_SHA256, CBUF(NULL, 0), &r, 0, out, 32), -EINVAL);
	assert_int_equal(etsi_caskdf(ETSI_KDF_KMAC128, CBUF(NULL, 0), &r, 1, out, 32), 0);
	assert_int_equal(etsi_caskdf(ETSI_KDF_KMAC128, CBUF(NULL, 0), &r, ETSI_ROUNDS_MAX + 1, out, 32),
			 -EMSGSIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_vectors),
		cmocka_unit_test(test_msg_format_layout),
		cmocka_unit_test(test_bad_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
