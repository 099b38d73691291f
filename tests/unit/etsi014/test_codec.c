/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ETSI GS QKD 014 codec (src/etsi014/etsi014.h): every endpoint and
 * method, the query and JSON forms, each limit at and one past its bound,
 * the spec's exact error strings, the malformed-request catalogue at the
 * codec level (numbers 0, -1, 2^31, reals, strings; bad sizes; unknown and
 * duplicate members; bad UUIDs), untouched output on failure, the response
 * formatters, and base64 against OpenSSL's encoder.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "etsi014/etsi014.h"

static const struct etsi014_limits lim = {
	.key_size = 256, .min_key_size = 64, .max_key_size = 1024,
	.max_key_per_request = 128, .max_SAE_ID_count = 0,
};

static struct etsi014_request req;
static struct etsi014_error err;

static int parse(enum etsi014_method m, const char *path, const char *query, const char *body)
{
	struct etsi014_http_in in = {
		.method = m, .path = path, .query = query,
		.content_type = body ? "application/json" : NULL,
		.body = (const uint8_t *)body, .body_len = body ? strlen(body) : 0,
	};

	memset(&req, 0x5a, sizeof(req));
	memset(&err, 0, sizeof(err));
	return etsi014_parse_request(&in, &lim, &req, &err);
}

/* A failure: status and message as given, and req untouched. */
static void expect_fail(int r, int status, const char *msg_prefix)
{
	static struct etsi014_request untouched;

	memset(&untouched, 0x5a, sizeof(untouched));
	assert_true(r < 0);
	assert_int_equal(err.status, status);
	if (msg_prefix && strncmp(err.message, msg_prefix, strlen(msg_prefix)) != 0)
		fail_msg("message \"%s\" does not start with \"%s\"", err.message, msg_prefix);
	assert_memory_equal(&req, &untouched, sizeof(req));
}

#define ENC "/api/v1/keys/SAE_B/enc_keys"
#define DEC "/api/v1/keys/SAE_A/dec_keys"
#define STATUS "/api/v1/keys/SAE_B/status"
#define UUID1 "bc490419-7d60-487f-adc1-4ddcc177c139"
#define UUID2 "0a782fb5-3434-48fe-aa4d-14f41d46cf92"

static void test_paths(void **state)
{
	(void)state;
	assert_int_equal(parse(ETSI014_GET, STATUS, NULL, NULL), 0);
	assert_int_equal(req.op, ETSI014_STATUS);
	assert_string_equal(req.sae_id, "SAE_B");
	/* URL-encoded SAE ID (spec §5.2) */
	assert_int_equal(parse(ETSI014_GET, "/api/v1/keys/gpu%20dc%2Fencryptor/status", NULL, NULL), 0);
	assert_string_equal(req.sae_id, "gpu dc/encryptor");
	expect_fail(parse(ETSI014_GET, "/api/v1/keys/SAE_B/other", NULL, NULL), 404, "not found");
	expect_fail(parse(ETSI014_GET, "/api/v1/keys//status", NULL, NULL), 404, NULL);
	expect_fail(parse(ETSI014_GET, "/api/v1/keys/a/b/status", NULL, NULL), 404, NULL);
	expect_fail(parse(ETSI014_GET, "/api/v2/keys/a/status", NULL, NULL), 404, NULL);
	expect_fail(parse(ETSI014_GET, "/api/v1/keys/SAE_B/status/", NULL, NULL), 404, NULL);
	expect_fail(parse(ETSI014_GET, "/api/v1/keys/a%00b/status", NULL, NULL), 400, "SAE ID");
	expect_fail(parse(ETSI014_GET, "/api/v1/keys/a%0/status", NULL, NULL), 400, "SAE ID");
	expect_fail(parse(ETSI014_GET, "/api/v1/keys/"
			  "0123456789012345678901234567890123456789012345678901234567890123X/status",
			  NULL, NULL), 400, "SAE ID");
	assert_int_equal(parse(ETSI014_GET, "/api/v1/keys/"
			       "0123456789012345678901234567890123456789012345678901234567890123/status",
			       NULL, NULL), 0);
}

static void test_methods(void **state)
{
	(void)state;
	expect_fail(parse(ETSI014_POST, STATUS, NULL, "{}"), 405, "method not allowed");
	assert_string_equal(err.detail_name, "Allow");
	assert_string_equal(err.detail_value, "GET");
	expect_fail(parse(ETSI014_OTHER, ENC, NULL, NULL), 405, NULL);
	assert_string_equal(err.detail_value, "GET, POST");
	expect_fail(parse(ETSI014_OTHER, DEC, NULL, NULL), 405, NULL);
	expect_fail(parse(ETSI014_GET, STATUS, "x=1", NULL), 400, NULL);
	expect_fail(parse(ETSI014_POST, ENC, "number=1", "{}"), 400, "POST takes no query");
	/* GET with a body */
	struct etsi014_http_in in = { .method = ETSI014_GET, .path = ENC,
				      .body = (const uint8_t *)"{}", .body_len = 2 };
	memset(&req, 0x5a, sizeof(req));
	assert_int_equal(etsi014_parse_request(&in, &lim, &req, &err), -EBADMSG);
	assert_int_equal(err.status, 400);
}

static void test_enc_get(void **state)
{
	(void)state;
	assert_int_equal(parse(ETSI014_GET, ENC, NULL, NULL), 0);
	assert_int_equal(req.op, ETSI014_ENC_KEYS);
	assert_int_equal(req.u.enc.number, 1);
	assert_int_equal(req.u.enc.size, 256);
	assert_false(req.u.enc.has_size);
	assert_int_equal(parse(ETSI014_GET, ENC, "number=3&size=1024", NULL), 0);
	assert_true(req.u.enc.has_size);
	assert_int_equal(req.u.enc.number, 3);
	assert_int_equal(req.u.enc.size, 1024);
	assert_int_equal(parse(ETSI014_GET, ENC, "size=64", NULL), 0);
	assert_int_equal(req.u.enc.size, 64);
	assert_int_equal(parse(ETSI014_GET, ENC, "number=128", NULL), 0);
	expect_fail(parse(ETSI014_GET, ENC, "number=129", NULL), 400,
		    "number shall be between 1 and max_key_per_request (128)");
	expect_fail(parse(ETSI014_GET, ENC, "number=0", NULL), 400, "number shall be between");
	expect_fail(parse(ETSI014_GET, ENC, "number=-1", NULL), 400, "number shall be a decimal");
	expect_fail(parse(ETSI014_GET, ENC, "number=2147483648", NULL), 400, "number shall be between");
	expect_fail(parse(ETSI014_GET, ENC, "number=99999999999", NULL), 400, "number shall be a decimal");
	expect_fail(parse(ETSI014_GET, ENC, "number=", NULL), 400, NULL);
	expect_fail(parse(ETSI014_GET, ENC, "number", NULL), 400, NULL);
	expect_fail(parse(ETSI014_GET, ENC, "number=1&number=2", NULL), 400, NULL);
	expect_fail(parse(ETSI014_GET, ENC, "size=12", NULL), 400, ETSI014_ERR_SIZE_MULT8);
	assert_string_equal(err.message, "size shall be a multiple of 8");
	expect_fail(parse(ETSI014_GET, ENC, "size=1032", NULL), 400, "size shall be between");
	expect_fail(parse(ETSI014_GET, ENC, "size=56", NULL), 400, "size shall be between");
	expect_fail(parse(ETSI014_GET, ENC, "size=0", NULL), 400, "size shall be between");
	expect_fail(parse(ETSI014_GET, ENC, "key_ID=" UUID1, NULL), 400, "unknown query parameter");
	expect_fail(parse(ETSI014_GET, ENC, "foo=1", NULL), 400, "unknown query parameter");
}

static void test_enc_post(void **state)
{
	(void)state;
	assert_int_equal(parse(ETSI014_POST, ENC, NULL, "{}"), 0);
	assert_int_equal(req.u.enc.number, 1);
	assert_int_equal(req.u.enc.size, 256);
	assert_int_equal(parse(ETSI014_POST, ENC, NULL, ""), 0);
	assert_int_equal(parse(ETSI014_POST, ENC, NULL, "{\"number\":3,\"size\":1024}"), 0);
	assert_int_equal(req.u.enc.number, 3);
	assert_int_equal(req.u.enc.size, 1024);
	assert_true(req.u.enc.has_size);
	assert_int_equal(parse(ETSI014_POST, ENC, NULL,
			       "{\"number\":2,\"extension_optional\":[{\"abc_max_age\":30000}],"
			       "\"additional_slave_SAE_IDs\":[]}"), 0);
	assert_true(req.u.enc.has_ext_optional);
	expect_fail(parse(ETSI014_POST, ENC, NULL, "{\"number\":0}"), 400, "number shall be between");
	expect_fail(parse(ETSI014_POST, ENC, NULL, "{\"number\":-1}"), 400, "number shall be between");
	expect_fail(parse(ETSI014_POST, ENC, NULL, "{\"number\":2147483648}"), 400, "number shall be between");
	expect_fail(parse(ETSI014_POST, ENC, NULL, "{\"number\":99999999999999999999999}"), 400,
		    "request body is not valid JSON");
	expect_fail(parse(ETSI014_POST, ENC, NULL, "{\"number\":1.0}"), 400, "number shall be an integer");
	expect_fail(parse(ETSI014_POST, ENC, NULL, "{\"number\":\"3\"}"), 400, "number shall be an integer");
	expect_fail(parse(ETSI014_POST, ENC, NULL, "{\"number\":null}"), 400, "number shall be an integer");
	expect_fail(parse(ETSI014_POST, ENC, NULL, "{\"size\":100}"), 400, "size shall be a multiple of 8");
	expect_fail(parse(ETSI014_POST, ENC, NULL, "{\"size\":-8}"), 400, "size shall be between");
	expect_fail(parse(ETSI014_POST, ENC, NULL, "{\"size\":4096}"), 400, "size shall be between");
	expect_fail(parse(ETSI014_POST, ENC, NULL, "{\"numbr\":1}"), 400, "unknown member \"numbr\"");
	expect_fail(parse(ETSI014_POST, ENC, NULL, "{\"number\":1,\"number\":2}"), 400,
		    "request body is not valid JSON");
	expect_fail(parse(ETSI014_POST, ENC, NULL, "[1]"), 400, "request body shall be a JSON object");
	expect_fail(parse(ETSI014_POST, ENC, NULL, "{"), 400, "request body is not valid JSON");
	expect_fail(parse(ETSI014_POST, ENC, NULL, "{} {}"), 400, "request body is not valid JSON");
	expect_fail(parse(ETSI014_POST, ENC, NULL, "{\"additional_slave_SAE_IDs\":[\"X\"]}"), 400,
		    "additional_slave_SAE_IDs: at most max_SAE_ID_count (0)");
	expect_fail(parse(ETSI014_POST, ENC, NULL, "{\"additional_slave_SAE_IDs\":\"X\"}"), 400, NULL);
	expect_fail(parse(ETSI014_POST, ENC, NULL,
			  "{\"number\":20,\"size\":512,\"extension_mandatory\":[{\"abc_route_type\":"
			  "\"direct\"},{\"abc_transfer_method\":\"qkd\"}]}"), 400,
		    ETSI014_ERR_EXT_MANDATORY);
	assert_string_equal(err.message, "not all extension_mandatory parameters are supported");
	assert_string_equal(err.detail_name, "extension_mandatory_unsupported");
	assert_string_equal(err.detail_value, "abc_route_type is not supported");
	expect_fail(parse(ETSI014_POST, ENC, NULL, "{\"extension_optional\":[1]}"), 400, NULL);
	expect_fail(parse(ETSI014_POST, ENC, NULL, "{\"extension_optional\":[{\"a\":1,\"b\":2}]}"), 400, NULL);
	/* Content-Type */
	struct etsi014_http_in in = { .method = ETSI014_POST, .path = ENC,
				      .content_type = "application/x-www-form-urlencoded",
				      .body = (const uint8_t *)"{}", .body_len = 2 };
	memset(&req, 0x5a, sizeof(req));
	assert_int_equal(etsi014_parse_request(&in, &lim, &req, &err), -EBADMSG);
	assert_string_equal(err.message, "Content-Type shall be application/json");
	in.content_type = "Application/JSON; charset=utf-8";
	assert_int_equal(etsi014_parse_request(&in, &lim, &req, &err), 0);
}

static void test_multicast_limit(void **state)
{
	struct etsi014_limits l2 = lim;
	struct etsi014_http_in in = { .method = ETSI014_POST, .path = ENC };
	const char *b = "{\"additional_slave_SAE_IDs\":[\"X\",\"Y\"]}";

	(void)state;
	l2.max_SAE_ID_count = 2;
	in.body = (const uint8_t *)b;
	in.body_len = strlen(b);
	assert_int_equal(etsi014_parse_request(&in, &l2, &req, &err), 0);
	assert_int_equal(req.u.enc.n_additional, 2);
	assert_string_equal(req.u.enc.additional[1], "Y");
	b = "{\"additional_slave_SAE_IDs\":[\"X\",\"X\"]}";
	in.body = (const uint8_t *)b;
	in.body_len = strlen(b);
	assert_int_equal(etsi014_parse_request(&in, &l2, &req, &err), -EINVAL);
	b = "{\"additional_slave_SAE_IDs\":[\"X\",\"Y\",\"Z\"]}";
	in.body = (const uint8_t *)b;
	in.body_len = strlen(b);
	assert_int_equal(etsi014_parse_request(&in, &l2, &req, &err), -EINVAL);
}

static void test_dec(void **state)
{
	uint8_t id1[16];
	char *big;
	size_t o = 0;

	(void)state;
	assert_int_equal(etsi014_key_id_parse(UUID1, strlen(UUID1), id1), 0);
	assert_int_equal(parse(ETSI014_GET, DEC, "key_ID=" UUID1, NULL), 0);
	assert_int_equal(req.op, ETSI014_DEC_KEYS);
	assert_string_equal(req.sae_id, "SAE_A");
	assert_int_equal(req.u.dec.n, 1);
	assert_memory_equal(req.u.dec.id[0], id1, 16);
	assert_int_equal(parse(ETSI014_GET, DEC, "key_ID=BC490419-7D60-487F-ADC1-4DDCC177C139", NULL), 0);
	assert_memory_equal(req.u.dec.id[0], id1, 16);
	expect_fail(parse(ETSI014_GET, DEC, NULL, NULL), 400, "key_ID missing");
	expect_fail(parse(ETSI014_GET, DEC, "key_ID=" UUID1 "&key_ID=" UUID2, NULL), 400,
		    "GET dec_keys takes one key_ID");
	expect_fail(parse(ETSI014_GET, DEC, "key_ID=bc490419-7d60-487f-adc1-4ddcc177c13", NULL), 400,
		    "key_ID is not a UUID");
	expect_fail(parse(ETSI014_GET, DEC, "key_ID=bc490419x7d60-487f-adc1-4ddcc177c139", NULL), 400, NULL);
	expect_fail(parse(ETSI014_GET, DEC, "number=1", NULL), 400, NULL);

	assert_int_equal(parse(ETSI014_POST, DEC, NULL, "{\"key_IDs\":[{\"key_ID\":\"" UUID1 "\"},"
			       "{\"key_ID\":\"" UUID2 "\",\"master_SAE_ID\":\"x\"}]}"), 0);
	assert_int_equal(req.u.dec.n, 2);
	assert_memory_equal(req.u.dec.id[0], id1, 16);
	expect_fail(parse(ETSI014_POST, DEC, NULL, "{}"), 400, "key_IDs missing");
	expect_fail(parse(ETSI014_POST, DEC, NULL, ""), 400, "request body is not valid JSON");
	expect_fail(parse(ETSI014_POST, DEC, NULL, "{\"key_IDs\":[]}"), 400, "key_IDs shall be");
	expect_fail(parse(ETSI014_POST, DEC, NULL, "{\"key_IDs\":[\"" UUID1 "\"]}"), 400, "key_IDs[0]");
	expect_fail(parse(ETSI014_POST, DEC, NULL, "{\"key_IDs\":[{}]}"), 400, "key_IDs[0].key_ID missing");
	expect_fail(parse(ETSI014_POST, DEC, NULL, "{\"key_IDs\":[{\"key_ID\":7}]}"), 400, "key_IDs[0].key_ID");
	expect_fail(parse(ETSI014_POST, DEC, NULL, "{\"key_IDs\":[{\"key_ID\":\"" UUID1 "\"},"
			  "{\"key_ID\":\"" UUID1 "\"}]}"), 400, "key_IDs lists key_ID 0 twice");
	expect_fail(parse(ETSI014_POST, DEC, NULL, "{\"key_IDs\":[{\"key_ID\":\"" UUID1 "\"}],"
			  "\"extra\":1}"), 400, "unknown member \"extra\"");
	/* 128 IDs pass, 129 do not */
	big = malloc(200 * 60);
	assert_non_null(big);
	for (int n = 128; n <= 129; n++) {
		o = (size_t)snprintf(big, 100, "{\"key_IDs\":[");
		for (int i = 0; i < n; i++)
			o += (size_t)snprintf(big + o, 100, "%s{\"key_ID\":\"%08x-0000-4000-8000-000000000000\"}",
					      i ? "," : "", i);
		snprintf(big + o, 10, "]}");
		if (n == 128) {
			assert_int_equal(parse(ETSI014_POST, DEC, NULL, big), 0);
			assert_int_equal(req.u.dec.n, 128);
		} else {
			expect_fail(parse(ETSI014_POST, DEC, NULL, big), 400, "key_IDs: at most");
		}
	}
	free(big);
}

static void test_body_cap(void **state)
{
	size_t n = ETSI014_BODY_MAX + 1;
	char *b = malloc(n + 1);

	(void)state;
	assert_non_null(b);
	memset(b, ' ', n);
	b[0] = '{';
	b[n - 1] = '}';
	b[n] = 0;
	expect_fail(parse(ETSI014_POST, ENC, NULL, b), 400, "request body larger than");
	b[n - 2] = '}';
	b[n - 1] = 0;
	assert_int_equal(parse(ETSI014_POST, ENC, NULL, b), 0);
	free(b);
}

static void test_format(void **state)
{
	struct etsi014_status st = { .source_KME_ID = "kme-a", .target_KME_ID = "kme-b",
				     .master_SAE_ID = "SAE_\"A\"", .slave_SAE_ID = "SAE_B",
				     .key_size = 256, .stored_key_count = 25000, .max_key_count = 100000,
				     .max_key_per_request = 128, .max_key_size = 1024,
				     .min_key_size = 64, .max_SAE_ID_count = 0 };
	uint8_t buf[4096];
	struct wbuf w = wbuf_init(buf, sizeof(buf));
	json_t *j;
	struct etsi014_key k[2] = { 0 };
	uint8_t dec[64];

	(void)state;
	assert_int_equal(etsi014_format_status(&w, &st), 0);
	j = json_loadb((char *)buf, w.len, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "master_SAE_ID")), "SAE_\"A\"");
	assert_int_equal(json_integer_value(json_object_get(j, "stored_key_count")), 25000);
	assert_int_equal(json_integer_value(json_object_get(j, "max_SAE_ID_count")), 0);
	assert_int_equal(json_object_size(j), 11);
	json_decref(j);
	st.source_KME_ID[0] = 0;
	w = wbuf_init(buf, sizeof(buf));
	assert_int_equal(etsi014_format_status(&w, &st), -EINVAL);

	etsi014_key_id_parse(UUID1, 36, k[0].id);
	etsi014_key_id_parse(UUID2, 36, k[1].id);
	k[0].len = 32;
	memset(k[0].key, 0xab, 32);
	k[1].len = 1;
	k[1].key[0] = 0xff;
	w = wbuf_init(buf, sizeof(buf));
	assert_int_equal(etsi014_format_keys(&w, k, 2), 0);
	assert_true(w.len <= etsi014_keys_json_max(2, 32));
	j = json_loadb((char *)buf, w.len, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "keys")), 2);
	json_t *k0 = json_array_get(json_object_get(j, "keys"), 0);
	assert_string_equal(json_string_value(json_object_get(k0, "key_ID")), UUID1);
	const char *b64 = json_string_value(json_object_get(k0, "key"));
	assert_int_equal(etsi014_base64_decode(dec, sizeof(dec), b64, strlen(b64)), 32);
	assert_memory_equal(dec, k[0].key, 32);
	json_decref(j);
	/* a cap one byte short fails cleanly */
	w = wbuf_init(buf, 40);
	assert_int_equal(etsi014_format_keys(&w, k, 2), -EMSGSIZE);

	struct etsi014_error e = { 0 };
	etsi014_error_set(&e, 400, ETSI014_ERR_EXT_MANDATORY);
	snprintf(e.detail_name, sizeof(e.detail_name), "extension_mandatory_unsupported");
	snprintf(e.detail_value, sizeof(e.detail_value), "abc is not supported");
	w = wbuf_init(buf, sizeof(buf));
	assert_int_equal(etsi014_format_error(&w, &e), 0);
	buf[w.len] = 0;
	assert_string_equal((char *)buf, "{\"message\":\"not all extension_mandatory parameters are "
			    "supported\",\"details\":[{\"extension_mandatory_unsupported\":\"abc is not "
			    "supported\"}]}");
}

static void test_base64(void **state)
{
	uint8_t in[300], dec[300];
	char mine[512], ossl[512];

	(void)state;
	for (size_t len = 0; len <= 200; len++) {
		assert_int_equal(RAND_bytes(in, (int)len), 1);
		int n = etsi014_base64_encode(mine, sizeof(mine), in, len);
		int m = EVP_EncodeBlock((unsigned char *)ossl, in, (int)len);
		assert_int_equal(n, m);
		assert_string_equal(mine, ossl);
		assert_int_equal(etsi014_base64_decode(dec, sizeof(dec), mine, (size_t)n), (int)len);
		assert_memory_equal(dec, in, len);
	}
	/* every byte value through the alphabet */
	for (int i = 0; i < 256; i++)
		in[i] = (uint8_t)i;
	int n = etsi014_base64_encode(mine, sizeof(mine), in, 256);
	EVP_EncodeBlock((unsigned char *)ossl, in, 256);
	assert_string_equal(mine, ossl);
	assert_int_equal(etsi014_base64_decode(dec, sizeof(dec), mine, (size_t)n), 256);
	assert_memory_equal(dec, in, 256);
	/* exact output size */
	assert_int_equal(etsi014_base64_encode(mine, 4, in, 3), -EMSGSIZE);
	assert_int_equal(etsi014_base64_encode(mine, 5, in, 3), 4);
	/* rejects */
	assert_int_equal(etsi014_base64_decode(dec, sizeof(dec), "abc", 3), -EBADMSG);
	assert_int_equal(etsi014_base64_decode(dec, sizeof(dec), "ab c", 4), -EBADMSG);
	assert_int_equal(etsi014_base64_decode(dec, sizeof(dec), "a===", 4), -EBADMSG);
	assert_int_equal(etsi014_base64_decode(dec, sizeof(dec), "ab=c", 4), -EBADMSG);
	assert_int_equal(etsi014_base64_decode(dec, sizeof(dec), "-_AA", 4), -EBADMSG);
	assert_int_equal(etsi014_base64_decode(dec, sizeof(dec), "AB==", 4), -EBADMSG); /* non-canonical */
	assert_int_equal(etsi014_base64_decode(dec, sizeof(dec), "AA==", 4), 1);
	assert_int_equal(etsi014_base64_decode(dec, 2, "AAAA", 4), -EMSGSIZE);
}

static void test_key_id(void **state)
{
	uint8_t id[16];
	char s[37];

	(void)state;
	assert_int_equal(etsi014_key_id_parse(UUID2, 36, id), 0);
	etsi014_key_id_format(id, s);
	assert_string_equal(s, UUID2);
	assert_int_equal(etsi014_key_id_parse(UUID2, 35, id), -EBADMSG);
	assert_int_equal(etsi014_key_id_parse("0a782fb5-3434-48fe-aa4d-14f41d46cf9g", 36, id), -EBADMSG);
	assert_int_equal(etsi014_key_id_parse("0a782fb5-3434-48fe-aa4d+14f41d46cf92", 36, id), -EBADMSG);
}

static void test_limits(void **state)
{
	struct etsi014_limits l = lim;

	(void)state;
	assert_int_equal(etsi014_limits_check(&l), 0);
	l.key_size = 2048;
	assert_int_equal(etsi014_limits_check(&l), -EINVAL);
	l = lim;
	l.min_key_size = 4;
	assert_int_equal(etsi014_limits_check(&l), -EINVAL);
	l = lim;
	l.max_key_per_request = 0;
	assert_int_equal(etsi014_limits_check(&l), -EINVAL);
	l = lim;
	l.max_key_size = ETSI014_KEY_MAX_BITS + 8;
	assert_int_equal(etsi014_limits_check(&l), -EINVAL);
}

/* The client side against the server side: every request and response round trips. */
static void test_client(void **state)
{
	uint8_t buf[8192], ids[3][16];
	struct wbuf w = wbuf_init(buf, sizeof(buf));
	struct etsi014_http_in in = { .method = ETSI014_POST, .path = ENC };
	static struct etsi014_key k[3], got[4];
	struct etsi014_status st = { .source_KME_ID = "a", .target_KME_ID = "b", .master_SAE_ID = "m",
				     .slave_SAE_ID = "s", .key_size = 256, .stored_key_count = 1ULL << 40,
				     .max_key_count = 9, .max_key_per_request = 128,
				     .max_key_size = 1024, .min_key_size = 64 }, st2;
	struct etsi014_error e = { 0 };
	char msg[ETSI014_MSG_MAX + 1];
	size_t n = 0;

	(void)state;
	assert_int_equal(etsi014_format_key_request(&w, 3, 512), 0);
	in.body = buf;
	in.body_len = w.len;
	assert_int_equal(etsi014_parse_request(&in, &lim, &req, &err), 0);
	assert_int_equal(req.u.enc.number, 3);
	assert_int_equal(req.u.enc.size, 512);
	w = wbuf_init(buf, sizeof(buf));
	assert_int_equal(etsi014_format_key_request(&w, 0, 0), 0);
	assert_int_equal(w.len, 2);

	for (int i = 0; i < 3; i++) {
		assert_int_equal(RAND_bytes(ids[i], 16), 1);
		memcpy(k[i].id, ids[i], 16);
		k[i].len = (size_t)(i + 1) * 16;
		assert_int_equal(RAND_bytes(k[i].key, (int)k[i].len), 1);
	}
	w = wbuf_init(buf, sizeof(buf));
	assert_int_equal(etsi014_format_key_ids(&w, (const uint8_t (*)[16])ids, 3), 0);
	in.path = DEC;
	in.body = buf;
	in.body_len = w.len;
	assert_int_equal(etsi014_parse_request(&in, &lim, &req, &err), 0);
	assert_int_equal(req.u.dec.n, 3);
	assert_memory_equal(req.u.dec.id[2], ids[2], 16);

	w = wbuf_init(buf, sizeof(buf));
	assert_int_equal(etsi014_format_keys(&w, k, 3), 0);
	assert_int_equal(etsi014_parse_keys(buf, w.len, got, 4, &n), 0);
	assert_int_equal(n, 3);
	for (int i = 0; i < 3; i++) {
		assert_memory_equal(got[i].id, k[i].id, 16);
		assert_int_equal(got[i].len, k[i].len);
		assert_memory_equal(got[i].key, k[i].key, k[i].len);
	}
	assert_int_equal(etsi014_parse_keys(buf, w.len, got, 2, &n), -EMSGSIZE);
	{
		static const char *bad[] = {
			"", "[]", "{}", "{\"keys\":[]}", "{\"keys\":{}}", "{\"keys\":[1]}",
			"{\"keys\":[{\"key_ID\":\"x\",\"key\":\"AAAA\"}]}",
			"{\"keys\":[{\"key_ID\":\"" UUID1 "\",\"key\":\"AA\"}]}",
			"{\"keys\":[{\"key_ID\":\"" UUID1 "\",\"key\":\"\"}]}",
			"{\"keys\":[{\"key_ID\":\"" UUID1 "\"}]}",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			if (etsi014_parse_keys((const uint8_t *)bad[i], strlen(bad[i]), got, 4, &n) >= 0)
				fail_msg("accepted: %s", bad[i]);
		const char *quirk = "{\"Keys\":[{\"key_ID\":\"" UUID1 "\",\"key\":\"AAAA\",\"x\":1}]}";
		assert_int_equal(etsi014_parse_keys((const uint8_t *)quirk, strlen(quirk), got, 4, &n), 0);
		assert_int_equal(got[0].len, 3);
	}

	w = wbuf_init(buf, sizeof(buf));
	assert_int_equal(etsi014_format_status(&w, &st), 0);
	assert_int_equal(etsi014_parse_status(buf, w.len, &st2), 0);
	assert_memory_equal(&st, &st2, sizeof(st));
	{
		const char *no_size = "{\"source_KME_ID\":\"a\"}";
		assert_int_equal(etsi014_parse_status((const uint8_t *)no_size, strlen(no_size), &st2),
				 -EBADMSG);
	}

	etsi014_error_set(&e, 400, ETSI014_ERR_SIZE_MULT8);
	w = wbuf_init(buf, sizeof(buf));
	assert_int_equal(etsi014_format_error(&w, &e), 0);
	assert_int_equal(etsi014_parse_error(buf, w.len, msg), 0);
	assert_string_equal(msg, "size shall be a multiple of 8");
	assert_int_equal(etsi014_parse_error((const uint8_t *)"{\"detail\":1}", 12, msg), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_enc_get),
		cmocka_unit_test(test_enc_post),
		cmocka_unit_test(test_multicast_limit),
		cmocka_unit_test(test_dec),
		cmocka_unit_test(test_body_cap),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_key_id),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_client),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
