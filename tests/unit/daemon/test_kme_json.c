/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KME responses as the qkd014 client reads them (src/daemon/kme_json.h):
 * good containers, and the hostile or broken ones: short and long keys,
 * duplicate key IDs, keys for IDs that were not asked for (another SAE's),
 * the wrong count, bad base64 and UUIDs, unknown members, duplicate members,
 * a status for other SAEs, oversized bodies, error objects.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/kme_json.h"
#include "etsi014/etsi014.h"

#define ID1 "bc490419-7d60-487f-adc1-4ddcc177c139"
#define ID2 "0a782fb5-3434-48fe-aa4d-14f41d46cf92"
/* 32 bytes 0x00..0x1f, 31 bytes, 33 bytes */
#define K32 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K31 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg=="
#define K33 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"

static int keys(const char *body, size_t n, const uint8_t (*want)[16], struct kme_keys *k)
{
	char why[160] = "";
	int r = kme_parse_keys((const uint8_t *)body, strlen(body), n, 32, want, k, why, sizeof(why));

	if (r < 0)
		assert_true(why[0] != '\0');	/* always a reason */
	return r;
}

static void test_good(void **state)
{
	struct kme_keys k;
	uint8_t want[2][16];

	(void)state;
	assert_int_equal(keys("{\"keys\":[{\"key_ID\":\"" ID1 "\",\"key\":\"" K32 "\"},"
			      "{\"key_ID\":\"" ID2 "\",\"key\":\"" K32 "\",\"key_extension\":{}}],"
			      "\"key_container_extension\":{}}", 2, NULL, &k), 0);
	assert_int_equal(k.n, 2);
	assert_int_equal(k.bytes, 32);
	for (int i = 0; i < 32; i++)
		assert_int_equal(k.keys->p[i], i);
	assert_int_equal(k.ids[0][0], 0xbc);
	assert_int_equal(k.ids[1][15], 0x92);
	kme_keys_free(&k);
	/* dec_keys: the IDs asked for, in any order */
	assert_int_equal(etsi014_key_id_parse(ID2, 36, want[0]), 0);
	assert_int_equal(etsi014_key_id_parse(ID1, 36, want[1]), 0);
	assert_int_equal(keys("{\"keys\":[{\"key_ID\":\"" ID1 "\",\"key\":\"" K32 "\"},"
			      "{\"key_ID\":\"" ID2 "\",\"key\":\"" K32 "\"}]}", 2,
			      (const uint8_t (*)[16])want, &k), 0);
	kme_keys_free(&k);
}

static void test_hostile(void **state)
{
	struct kme_keys k;
	uint8_t want[2][16];

	(void)state;
	assert_int_equal(etsi014_key_id_parse(ID1, 36, want[0]), 0);
	memset(want[1], 0x33, 16);
#define BAD(body, n, w) assert_int_equal(keys(body, n, w, &k), -EBADMSG); assert_null(k.keys)
	/* short and long keys */
	BAD("{\"keys\":[{\"key_ID\":\"" ID1 "\",\"key\":\"" K31 "\"}]}", 1, NULL);
	BAD("{\"keys\":[{\"key_ID\":\"" ID1 "\",\"key\":\"" K33 "\"}]}", 1, NULL);
	BAD("{\"keys\":[{\"key_ID\":\"" ID1 "\",\"key\":\"\"}]}", 1, NULL);
	/* duplicate IDs */
	BAD("{\"keys\":[{\"key_ID\":\"" ID1 "\",\"key\":\"" K32 "\"},"
	    "{\"key_ID\":\"" ID1 "\",\"key\":\"" K32 "\"}]}", 2, NULL);
	/* a key for an ID not asked for (another SAE's key) */
	BAD("{\"keys\":[{\"key_ID\":\"" ID1 "\",\"key\":\"" K32 "\"},"
	    "{\"key_ID\":\"" ID2 "\",\"key\":\"" K32 "\"}]}", 2, (const uint8_t (*)[16])want);
	/* the same asked-for ID twice to fill the count */
	BAD("{\"keys\":[{\"key_ID\":\"" ID1 "\",\"key\":\"" K32 "\"},"
	    "{\"key_ID\":\"" ID1 "\",\"key\":\"" K32 "\"}]}", 2, (const uint8_t (*)[16])want);
	/* wrong count, either way */
	BAD("{\"keys\":[{\"key_ID\":\"" ID1 "\",\"key\":\"" K32 "\"}]}", 2, NULL);
	BAD("{\"keys\":[{\"key_ID\":\"" ID1 "\",\"key\":\"" K32 "\"},"
	    "{\"key_ID\":\"" ID2 "\",\"key\":\"" K32 "\"}]}", 1, NULL);
	BAD("{\"keys\":[]}", 1, NULL);
	/* shapes */
	BAD("{\"Keys\":[{\"key_ID\":\"" ID1 "\",\"key\":\"" K32 "\"}]}", 1, NULL);
	BAD("{\"keys\":{}}", 1, NULL);
	BAD("[]", 1, NULL);
	BAD("{\"keys\":[{\"key_ID\":\"" ID1 "\",\"key\":\"" K32 "\"}],\"keys\":[]}", 1, NULL);
	BAD("{\"keys\":[{\"key_ID\":\"" ID1 "\",\"key\":\"" K32 "\",\"extra\":1}]}", 1, NULL);
	BAD("{\"keys\":[{\"key_ID\":\"" ID1 "\",\"key\":\"" K32 "\"}],\"more\":1}", 1, NULL);
	BAD("{\"keys\":[{\"key_ID\":\"not-a-uuid\",\"key\":\"" K32 "\"}]}", 1, NULL);
	BAD("{\"keys\":[{\"key_ID\":\"" ID1 "\",\"key\":\"!!!!ECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}]}", 1, NULL);
	BAD("{\"keys\":[{\"key_ID\":\"" ID1 "\",\"key\":32}]}", 1, NULL);
	BAD("{\"keys\":[{\"key\":\"" K32 "\"}]}", 1, NULL);
	BAD("{\"keys\":[{\"key_ID\":\"" ID1 "\",\"key\":\"" K32 "\"}]", 1, NULL);
	BAD("", 1, NULL);
#undef BAD
	{
		static char big[KME_BODY_MAX + 2];
		char why[160];

		memset(big, ' ', sizeof(big) - 1);
		assert_int_equal(kme_parse_keys((const uint8_t *)big, sizeof(big) - 1, 1, 32, NULL, &k,
						why, sizeof(why)), -EMSGSIZE);
	}
}

static void test_status_error(void **state)
{
	static const char st[] =
		"{\"source_KME_ID\":\"kme-office\",\"target_KME_ID\":\"kme-dc\","
		"\"master_SAE_ID\":\"sae-office\",\"slave_SAE_ID\":\"sae-dc\",\"key_size\":256,"
		"\"stored_key_count\":25000,\"max_key_count\":100000,\"max_key_per_request\":128,"
		"\"max_key_size\":1024,\"min_key_size\":64,\"max_SAE_ID_count\":0}";
	struct kme_status s;
	char why[160], msg[KME_MSG_MAX + 1];

	(void)state;
	assert_int_equal(kme_parse_status((const uint8_t *)st, strlen(st), "sae-office", "sae-dc", &s,
					  why, sizeof(why)), 0);
	assert_string_equal(s.source_kme, "kme-office");
	assert_int_equal(s.stored_key_count, 25000);
	/* a status about other SAEs */
	assert_int_equal(kme_parse_status((const uint8_t *)st, strlen(st), "sae-office", "sae-x", &s,
					  why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "sae-x"));
	assert_int_equal(kme_parse_status((const uint8_t *)"{\"source_KME_ID\":1}", 19, "a", "b", &s,
					  why, sizeof(why)), -EBADMSG);
	kme_parse_error((const uint8_t *)"{\"message\":\"no relay path: QBER alarm on link relay-dc\"}",
			56, msg, sizeof(msg));
	assert_string_equal(msg, "no relay path: QBER alarm on link relay-dc");
	kme_parse_error((const uint8_t *)"{\"message\":\"a\\u0001b\"}", 22, msg, sizeof(msg));
	assert_string_equal(msg, "a?b");
	kme_parse_error((const uint8_t *)"garbage", 7, msg, sizeof(msg));
	assert_string_equal(msg, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_status_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
