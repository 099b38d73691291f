/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Wycheproof HKDF-SHA-384 and AES-256-GCM through our wrappers (crypto/mac.h,
 * crypto/aead.h). Valid cases must reproduce the expected bytes; invalid
 * ones (HKDF output too long, modified GCM tags, zero-length IVs) must be
 * refused. Counts are asserted so a skipped case cannot pass silently.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "crypto/aead.h"
#include "crypto/mac.h"
#include "vectors.h"

static void test_hkdf_sha384(void **state)
{
	json_t *doc = vec_load("wycheproof/hkdf_sha384_test.json"), *g, *t;
	size_t gi, ti, valid = 0, invalid = 0;

	(void)state;
	json_array_foreach(json_object_get(doc, "testGroups"), gi, g) {
		json_array_foreach(json_object_get(g, "tests"), ti, t) {
			size_t ikm_len, salt_len, info_len, okm_len;
			uint8_t *ikm = vec_hex(t, "ikm", &ikm_len), *salt = vec_hex(t, "salt", &salt_len);
			uint8_t *info = vec_hex(t, "info", &info_len), *okm = vec_hex(t, "okm", &okm_len);
			size_t size = (size_t)vec_int(t, "size");
			uint8_t *out = malloc(size + 1);
			int r;

			assert_non_null(out);
			r = hkdf(HASH_SHA384, salt, salt_len, ikm, ikm_len, info, info_len, out, size);
			if (!strcmp(vec_str(t, "result"), "valid")) {
				assert_int_equal(r, 0);
				assert_int_equal(size, okm_len);
				assert_memory_equal(out, okm, okm_len);
				valid++;
			} else {
				/* the only invalid cases ask for more than 255 * 48 bytes */
				assert_int_equal(r, -EINVAL);
				invalid++;
			}
			free(ikm), free(salt), free(info), free(okm), free(out);
		}
	}
	assert_int_equal(valid, 36);
	assert_int_equal(invalid, 3);
	assert_int_equal(valid + invalid, (size_t)vec_int(doc, "numberOfTests"));
	json_decref(doc);
}

static void test_aes256gcm(void **state)
{
	json_t *doc = vec_load("wycheproof/aes_gcm_256_test.json"), *g, *t;
	size_t gi, ti, valid = 0, invalid = 0, refused_iv = 0;

	(void)state;
	json_array_foreach(json_object_get(doc, "testGroups"), gi, g) {
		json_array_foreach(json_object_get(g, "tests"), ti, t) {
			size_t key_len, iv_len, aad_len, msg_len, ct_len, tag_len;
			uint8_t *key = vec_hex(t, "key", &key_len), *iv = vec_hex(t, "iv", &iv_len);
			uint8_t *aad = vec_hex(t, "aad", &aad_len), *msg = vec_hex(t, "msg", &msg_len);
			uint8_t *ct = vec_hex(t, "ct", &ct_len), *tag = vec_hex(t, "tag", &tag_len);
			uint8_t *out = malloc(msg_len + ct_len + 1), mytag[AEAD_TAG_LEN];
			bool ok = !strcmp(vec_str(t, "result"), "valid");
			struct aead a;
			int r;

			assert_non_null(out);
			assert_int_equal(key_len, AEAD_KEY_LEN);
			assert_int_equal(aead_init(&a, key), 0);
			r = aead_open(&a, iv, iv_len, aad, aad_len, ct, ct_len, tag, tag_len, out);
			if (ok) {
				assert_int_equal(r, 0);
				assert_memory_equal(out, msg, msg_len);
				/* and the other direction reproduces ct and tag */
				assert_int_equal(aead_seal(&a, iv, iv_len, aad, aad_len, msg, msg_len, out, mytag), 0);
				assert_memory_equal(out, ct, ct_len);
				assert_memory_equal(mytag, tag, tag_len);
				valid++;
			} else {
				assert_true(r == -EKEYREJECTED || (iv_len == 0 && r == -EINVAL));
				refused_iv += iv_len == 0;
				/* a refused message yields no plaintext */
				for (size_t i = 0; i < ct_len; i++)
					assert_int_equal(out[i], 0);
				invalid++;
			}
			aead_done(&a);
			free(key), free(iv), free(aad), free(msg), free(ct), free(tag), free(out);
		}
	}
	assert_int_equal(valid, 47);
	assert_int_equal(invalid, 29);
	assert_int_equal(refused_iv, 2);
	assert_int_equal(valid + invalid, (size_t)vec_int(doc, "numberOfTests"));
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hkdf_sha384),
		cmocka_unit_test(test_aes256gcm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
