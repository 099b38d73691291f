/* SPDX-License-Identifier: Apache-2.0 */
/*
 * combine_input_parse(), the JSON input of `mfs-kex combine`: a catalogue of
 * malformed inputs, each refused with the expected return value and a
 * message naming the offending field, with *ret left untouched; and valid
 * inputs, with their defaults and the order of the methods.
 *
 * The inputs use mlkem768 and psk; in a build without either, every test
 * is skipped.
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

#include "cli/combine_input.h"
#include "kex/kex.h"

#define N1 "00112233445566778899aabbccddeeff"	/* 16 bytes */
#define N2 "ffeeddccbbaa99887766554433221100"
#define INI "{\"id\": \"office\", \"nonce\": \"" N1 "\"}"
#define RESP "{\"id\": \"gpu-dc\", \"nonce\": \"" N2 "\"}"
#define KEM "{\"method\": \"mlkem768\", \"public_key\": \"a.pk\", \"ciphertext\": \"a.ct\", " \
	    "\"shared_secret\": \"a.ss\"}"
#define PSK "{\"method\": \"psk\", \"psk_id\": \"link-1\", \"psk_file\": \"link-1.psk\"}"

/* A document from its top-level extras (each ending in ','), parties and method list. */
#define DOC_P(top, ini, resp, methods)                                                         \
	"{" top "\"purpose\": \"test\", \"initiator\": " ini ", \"responder\": " resp             \
	", \"methods\": [" methods "]}"
#define DOC(top, methods) DOC_P(top, INI, RESP, methods)
#define NONCE_I(hex) "{\"id\": \"office\", \"nonce\": \"" hex "\"}"
#define ID_I(id) "{\"id\": " id ", \"nonce\": \"" N1 "\"}"

struct bad_case {
	const char *name;
	const char *json;
	int want;		/* return value */
	const char *msg;	/* a substring of the error message */
};

static const struct bad_case bad_cases[] = {
	{ "invalid JSON", "{\"purpose\": }", -EBADMSG, "JSON syntax error at line 1" },
	{ "empty input", "", -EBADMSG, "JSON syntax error" },
	{ "trailing garbage", DOC("", KEM) " x", -EBADMSG, "JSON syntax error" },
	{ "not an object", "[" KEM "]", -EBADMSG, "the input must be a JSON object" },
	{ "a bare string", "\"catkdf\"", -EBADMSG, "JSON syntax error" },
	{ "unknown top-level key", DOC("\"colour\": 1,", KEM), -EBADMSG,
	  "input: unknown key \"colour\"" },
	{ "unknown method key",
	  DOC("", KEM ", {\"method\": \"psk\", \"psk_id\": \"a\", \"psk_file\": \"b\", \"colour\": 1}"),
	  -EBADMSG, "methods[1]: unknown key \"colour\"" },
	{ "unknown party key", DOC_P("", "{\"id\": \"a\", \"nonce\": \"" N1 "\", \"pk\": 1}", RESP, KEM),
	  -EBADMSG, "initiator: unknown key \"pk\"" },
	{ "duplicate key", DOC("\"purpose\": \"again\",", KEM), -EBADMSG,
	  "duplicate object key near '\"purpose\"'" },
	{ "duplicate method key",
	  DOC("", "{\"method\": \"psk\", \"psk_id\": \"a\", \"psk_id\": \"b\", \"psk_file\": \"c\"}"),
	  -EBADMSG, "duplicate object key near '\"psk_id\"'" },
	{ "NUL in a key", DOC("\"a\\u0000b\": 1,", KEM), -EBADMSG, "NUL byte in object key" },
	{ "missing purpose",
	  "{\"initiator\": " INI ", \"responder\": " RESP ", \"methods\": [" KEM "]}", -EBADMSG,
	  "input: \"purpose\" is required" },
	{ "missing initiator", "{\"purpose\": \"p\", \"responder\": " RESP ", \"methods\": [" KEM "]}",
	  -EBADMSG, "\"initiator\" must be an object" },
	{ "missing responder", "{\"purpose\": \"p\", \"initiator\": " INI ", \"methods\": [" KEM "]}",
	  -EBADMSG, "\"responder\" must be an object" },
	{ "initiator not an object", DOC_P("", "\"office\"", RESP, KEM), -EBADMSG,
	  "\"initiator\" must be an object" },
	{ "missing methods", "{\"purpose\": \"p\", \"initiator\": " INI ", \"responder\": " RESP "}",
	  -EBADMSG, "\"methods\" must be an array of 1..8 methods" },
	{ "empty methods", DOC("", ""), -EBADMSG, "\"methods\" must be an array of 1..8 methods" },
	{ "9 methods", DOC("", KEM "," PSK "," KEM "," PSK "," KEM "," PSK "," KEM "," PSK "," KEM),
	  -EBADMSG, "\"methods\" must be an array of 1..8 methods" },
	{ "methods an object", "{\"purpose\": \"p\", \"initiator\": " INI ", \"responder\": " RESP
	  ", \"methods\": " KEM "}", -EBADMSG, "\"methods\" must be an array" },
	{ "method not an object", DOC("", KEM ", \"psk\""), -EBADMSG, "methods[1]: must be an object" },
	{ "unknown method name", DOC("", KEM ", {\"method\": \"mlkem512\"}"), -EBADMSG,
	  "methods[1].method: unknown or unavailable method \"mlkem512\"" },
	{ "missing method name", DOC("", "{\"psk_id\": \"a\", \"psk_file\": \"b\"}"), -EBADMSG,
	  "methods[0]: \"method\" is required" },
	/* Wrong types. */
	{ "length as a string", DOC("\"length\": \"32\",", KEM), -EBADMSG,
	  "input.length: must be an integer in 16..128" },
	{ "version as a string", DOC("\"version\": \"1\",", KEM), -EBADMSG,
	  "input.version: must be an integer in 1..65535" },
	{ "purpose as a number", "{\"purpose\": 5, \"initiator\": " INI ", \"responder\": " RESP
	  ", \"methods\": [" KEM "]}", -EBADMSG, "input.purpose: must be a string" },
	{ "purpose as a bool", "{\"purpose\": true, \"initiator\": " INI ", \"responder\": " RESP
	  ", \"methods\": [" KEM "]}", -EBADMSG, "input.purpose: must be a string" },
	{ "mode as a number", DOC("\"mode\": 1,", KEM), -EBADMSG, "input.mode: must be a string" },
	{ "label as null", DOC("\"label\": null,", KEM), -EBADMSG, "input.label: must be a string" },
	{ "id as a number", DOC_P("", ID_I("7"), RESP, KEM), -EBADMSG, "initiator.id: must be a string" },
	{ "id as a bool", DOC_P("", INI, "{\"id\": false, \"nonce\": \"" N2 "\"}", KEM), -EBADMSG,
	  "responder.id: must be a string" },
	{ "nonce as a number", DOC_P("", "{\"id\": \"a\", \"nonce\": 12}", RESP, KEM), -EBADMSG,
	  "initiator.nonce: must be a string" },
	{ "method name as a number", DOC("", "{\"method\": 257}"), -EBADMSG,
	  "methods[0].method: must be a string" },
	{ "its as a string", DOC("", "{\"method\": \"psk\", \"psk_id\": \"a\", \"psk_file\": \"b\", "
				     "\"its\": \"true\"}"),
	  -EBADMSG, "methods[0].its: must be true or false" },
	{ "its as a number", DOC("", "{\"method\": \"psk\", \"psk_id\": \"a\", \"psk_file\": \"b\", "
				     "\"its\": 1}"),
	  -EBADMSG, "methods[0].its: must be true or false" },
	{ "path as a bool", DOC("", "{\"method\": \"mlkem768\", \"public_key\": true, "
				    "\"ciphertext\": \"c\", \"shared_secret\": \"s\"}"),
	  -EBADMSG, "methods[0].public_key: must be a string" },
	/* Numbers out of range. */
	{ "length 15", DOC("\"length\": 15,", KEM), -EBADMSG, "input.length: must be an integer in 16..128" },
	{ "length 256", DOC("\"length\": 256,", KEM), -EBADMSG, "input.length: must be an integer in 16..128" },
	{ "length -1", DOC("\"length\": -1,", KEM), -EBADMSG, "input.length: must be an integer in 16..128" },
	{ "length 2^31", DOC("\"length\": 2147483648,", KEM), -EBADMSG,
	  "input.length: must be an integer in 16..128" },
	{ "length 2^32+32", DOC("\"length\": 4294967328,", KEM), -EBADMSG,
	  "input.length: must be an integer in 16..128" },
	{ "length 1.5", DOC("\"length\": 1.5,", KEM), -EBADMSG, "input.length: must be an integer in 16..128" },
	{ "length 32.0", DOC("\"length\": 32.0,", KEM), -EBADMSG, "input.length: must be an integer" },
	{ "length 2^64", DOC("\"length\": 18446744073709551616,", KEM), -EBADMSG, "too big integer" },
	{ "version 0", DOC("\"version\": 0,", KEM), -EBADMSG, "input.version: must be an integer in 1..65535" },
	{ "version 65536", DOC("\"version\": 65536,", KEM), -EBADMSG,
	  "input.version: must be an integer in 1..65535" },
	/* Nonces. */
	{ "nonce odd length", DOC_P("", NONCE_I(N1 "0"), RESP, KEM), -EBADMSG,
	  "initiator.nonce: must be 16..64 bytes in hex" },
	{ "nonce not hex", DOC_P("", INI, "{\"id\": \"r\", \"nonce\": \"zz" N2 "\"}", KEM), -EBADMSG,
	  "responder.nonce: must be 16..64 bytes in hex" },
	{ "nonce 15 bytes", DOC_P("", NONCE_I("00112233445566778899aabbccddee"), RESP, KEM), -EBADMSG,
	  "initiator.nonce: must be 16..64 bytes in hex" },
	{ "nonce 65 bytes", DOC_P("", NONCE_I(N1 N1 N1 N1 "00"), RESP, KEM), -EBADMSG,
	  "initiator.nonce: must be" },
	{ "nonce empty", DOC_P("", NONCE_I(""), RESP, KEM), -EBADMSG, "initiator.nonce: must be" },
	{ "nonce missing", DOC_P("", "{\"id\": \"a\"}", RESP, KEM), -EBADMSG,
	  "initiator: \"nonce\" is required" },
	/* Identities and other strings. */
	{ "id empty", DOC_P("", ID_I("\"\""), RESP, KEM), -EBADMSG,
	  "initiator.id: must be 1..255 characters without NUL" },
	{ "id with NUL", DOC_P("", ID_I("\"off\\u0000ice\""), RESP, KEM), -EBADMSG,
	  "initiator.id: must be 1..255 characters without NUL" },
	{ "id missing", DOC_P("", INI, "{\"nonce\": \"" N2 "\"}", KEM), -EBADMSG,
	  "responder: \"id\" is required" },
	{ "purpose empty", "{\"purpose\": \"\", \"initiator\": " INI ", \"responder\": " RESP
	  ", \"methods\": [" KEM "]}", -EBADMSG, "input.purpose: must be 1..64 characters" },
	{ "psk_id with NUL", DOC("", "{\"method\": \"psk\", \"psk_id\": \"a\\u0000b\", \"psk_file\": \"f\"}"),
	  -EBADMSG, "methods[0].psk_id: must be 1..64 characters without NUL" },
	{ "psk_id 65 characters",
	  DOC("", "{\"method\": \"psk\", \"psk_file\": \"f\", \"psk_id\": \"" N1 N1 "x\"}"), -EBADMSG,
	  "methods[0].psk_id: must be 1..64 characters" },
	{ "path with NUL", DOC("", "{\"method\": \"mlkem768\", \"public_key\": \"a\", "
				   "\"ciphertext\": \"c\\u0000/etc/shadow\", \"shared_secret\": \"s\"}"),
	  -EBADMSG, "methods[0].ciphertext: must be 1..4095 characters without NUL" },
	{ "mode unknown", DOC("\"mode\": \"hkdf\",", KEM), -EBADMSG,
	  "input.mode: must be catkdf, caskdf or xor-its" },
	{ "mode in capitals", DOC("\"mode\": \"CATKDF\",", KEM), -EBADMSG, "input.mode: must be" },
	/* Fields of the wrong kind of method. */
	{ "psk method with public_key",
	  DOC("", "{\"method\": \"psk\", \"psk_id\": \"a\", \"psk_file\": \"b\", \"public_key\": \"p\"}"),
	  -EBADMSG, "methods[0]: a psk method takes psk_id and psk_file only" },
	{ "KEM method with psk_id",
	  DOC("", "{\"method\": \"mlkem768\", \"public_key\": \"a\", \"ciphertext\": \"c\", "
		  "\"shared_secret\": \"s\", \"psk_id\": \"x\"}"),
	  -EBADMSG, "methods[0]: psk_id/psk_file belong to a psk method" },
	{ "KEM method missing ciphertext",
	  DOC("", PSK ", {\"method\": \"mlkem768\", \"public_key\": \"a\", \"shared_secret\": \"s\"}"),
	  -EBADMSG, "methods[1]: \"ciphertext\" is required" },
	{ "psk method missing psk_file", DOC("", "{\"method\": \"psk\", \"psk_id\": \"a\"}"), -EBADMSG,
	  "methods[0]: \"psk_file\" is required" },
};

static bool methods_built(void)
{
	return kex_method_by_name("mlkem768") && kex_method_by_name("psk");
}

/* Parse len bytes that must be refused with want and a message containing msg. */
static void expect_bad(const char *json, size_t len, int want, const char *msg)
{
	struct combine_input in, before;
	char err[256];
	int r;

	memset(&in, 0x5a, sizeof(in));
	before = in;
	memset(err, 'x', sizeof(err));
	r = combine_input_parse(json, len, &in, err, sizeof(err));
	assert_non_null(memchr(err, '\0', sizeof(err)));
	print_message("    -> %d: %s\n", r, err);
	assert_int_equal(r, want);
	assert_non_null(strstr(err, msg));
	assert_memory_equal(&in, &before, sizeof(in));	/* *ret untouched */
}

static void test_bad(void **state)
{
	const struct bad_case *c = *state;

	if (!methods_built())
		skip();
	expect_bad(c->json, strlen(c->json), c->want, c->msg);
}

/* Parse a document that must be accepted. */
static void parse_ok(const char *json, struct combine_input *in)
{
	char err[256] = "";
	int r;

	memset(in, 0, sizeof(*in));
	r = combine_input_parse(json, strlen(json), in, err, sizeof(err));
	if (r < 0)
		print_error("unexpected error: %s\n", err);
	assert_int_equal(r, 0);
	assert_non_null(in->doc);
}

static void test_valid_defaults(void **state)
{
	static const uint8_t n1[] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				      0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
	struct combine_input in;

	(void)state;
	if (!methods_built())
		skip();
	parse_ok(DOC("", KEM ", " PSK), &in);
	assert_int_equal(in.mode, COMBINE_MODE_CATKDF);
	assert_int_equal(in.length, 32);
	assert_int_equal(in.version, 1);
	assert_null(in.label);
	assert_string_equal(in.purpose, "test");
	assert_string_equal(in.initiator_id, "office");
	assert_string_equal(in.responder_id, "gpu-dc");
	assert_int_equal(in.initiator_nonce_len, 16);
	assert_memory_equal(in.initiator_nonce, n1, sizeof(n1));
	assert_int_equal(in.responder_nonce_len, 16);
	assert_int_equal(in.responder_nonce[0], 0xff);
	assert_int_equal(in.n_methods, 2);
	assert_ptr_equal(in.methods[0].method, kex_method_by_name("mlkem768"));
	assert_string_equal(in.methods[0].public_key, "a.pk");
	assert_string_equal(in.methods[0].ciphertext, "a.ct");
	assert_string_equal(in.methods[0].shared_secret, "a.ss");
	assert_null(in.methods[0].psk_id);
	assert_false(in.methods[0].its);
	assert_ptr_equal(in.methods[1].method, kex_method_by_name("psk"));
	assert_string_equal(in.methods[1].psk_id, "link-1");
	assert_string_equal(in.methods[1].psk_file, "link-1.psk");
	assert_null(in.methods[1].public_key);
	assert_false(in.methods[1].its);
	combine_input_done(&in);
	assert_null(in.doc);
	combine_input_done(&in);	/* twice is fine */
	combine_input_done(NULL);
}

static void test_valid_all_fields(void **state)
{
	struct combine_input in;

	(void)state;
	if (!methods_built())
		skip();
	parse_ok(DOC("\"mode\": \"xor-its\", \"length\": 64, \"version\": 7, \"label\": \"L\",",
		     "{\"method\": \"psk\", \"psk_id\": \"p1\", \"psk_file\": \"f1\", \"its\": true}, "
		     KEM ", {\"method\": \"psk\", \"psk_id\": \"p2\", \"psk_file\": \"f2\", \"its\": false}"),
		 &in);
	assert_int_equal(in.mode, COMBINE_MODE_XOR_ITS);
	assert_string_equal(combine_mode_name(in.mode), "xor-its");
	assert_int_equal(in.length, 64);
	assert_int_equal(in.version, 7);
	assert_string_equal(in.label, "L");
	assert_int_equal(in.n_methods, 3);
	/* Methods keep the order of the input. */
	assert_string_equal(in.methods[0].psk_id, "p1");
	assert_true(in.methods[0].its);
	assert_ptr_equal(in.methods[1].method, kex_method_by_name("mlkem768"));
	assert_false(in.methods[1].its);
	assert_string_equal(in.methods[2].psk_id, "p2");
	assert_false(in.methods[2].its);
	combine_input_done(&in);

	parse_ok(DOC("\"mode\": \"caskdf\",", KEM), &in);
	assert_int_equal(in.mode, COMBINE_MODE_CASKDF);
	combine_input_done(&in);
}

static void test_valid_limits(void **state)
{
	char id[COMBINE_ID_MAX + 1], json[8192];
	struct combine_input in;
	int n;

	(void)state;
	if (!methods_built())
		skip();
	memset(id, 'i', COMBINE_ID_MAX);
	id[COMBINE_ID_MAX] = '\0';
	n = snprintf(json, sizeof(json),
		     DOC_P("\"length\": 128, \"version\": 65535,",
			   "{\"id\": \"%s\", \"nonce\": \"" N1 N1 N1 N1 "\"}", RESP,
			   KEM "," PSK "," KEM "," PSK "," KEM "," PSK "," KEM "," PSK), id);
	assert_true(n > 0 && (size_t)n < sizeof(json));
	parse_ok(json, &in);
	assert_int_equal(in.length, 128);
	assert_int_equal(in.version, 65535);
	assert_int_equal(strlen(in.initiator_id), COMBINE_ID_MAX);
	assert_int_equal(in.initiator_nonce_len, COMBINE_NONCE_MAX);
	assert_int_equal(in.n_methods, COMBINE_MAX_METHODS);
	combine_input_done(&in);

	parse_ok(DOC("\"length\": 16,", PSK), &in);
	assert_int_equal(in.length, 16);
	combine_input_done(&in);
}

/* An identity one byte over the maximum, built at run time. */
static void test_bad_id_256(void **state)
{
	char id[COMBINE_ID_MAX + 2], json[4096];
	int n;

	(void)state;
	if (!methods_built())
		skip();
	memset(id, 'r', COMBINE_ID_MAX + 1);
	id[COMBINE_ID_MAX + 1] = '\0';
	n = snprintf(json, sizeof(json), DOC_P("", INI, "{\"id\": \"%s\", \"nonce\": \"" N2 "\"}", KEM), id);
	assert_true(n > 0 && (size_t)n < sizeof(json));
	expect_bad(json, (size_t)n, -EBADMSG, "responder.id: must be 1..255 characters without NUL");
}

/* Over COMBINE_INPUT_MAX: refused before parsing, even when it is valid JSON. */
static void test_bad_oversized(void **state)
{
	size_t len = COMBINE_INPUT_MAX + 1;
	char *json = malloc(len);

	(void)state;
	if (!methods_built())
		skip();
	assert_non_null(json);
	memset(json, ' ', len);	/* a valid document padded with whitespace */
	memcpy(json, DOC("", KEM), strlen(DOC("", KEM)));
	expect_bad(json, len, -EMSGSIZE, "input is larger than 65536 bytes");
	/* Exactly the maximum is parsed (and here accepted). */
	{
		struct combine_input in;
		char err[64];

		assert_int_equal(combine_input_parse(json, COMBINE_INPUT_MAX, &in, err, sizeof(err)), 0);
		combine_input_done(&in);
	}
	free(json);
}

/* A short error buffer gets a truncated, NUL-terminated message. */
static void test_short_err_buffer(void **state)
{
	struct combine_input in;
	char err[8];

	(void)state;
	if (!methods_built())
		skip();
	memset(err, 'x', sizeof(err));
	assert_int_equal(combine_input_parse("[]", 2, &in, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "the inp");
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_valid_defaults),
		cmocka_unit_test(test_valid_all_fields),
		cmocka_unit_test(test_valid_limits),
		cmocka_unit_test(test_bad_id_256),
		cmocka_unit_test(test_bad_oversized),
		cmocka_unit_test(test_short_err_buffer),
	};
	enum { N_BAD = sizeof(bad_cases) / sizeof(bad_cases[0]), N_FIXED = sizeof(fixed) / sizeof(fixed[0]) };
	struct CMUnitTest tests[N_FIXED + N_BAD];

	memcpy(tests, fixed, sizeof(fixed));
	for (size_t i = 0; i < N_BAD; i++)
		tests[N_FIXED + i] = (struct CMUnitTest){
			.name = bad_cases[i].name,
			.test_func = test_bad,
			.initial_state = (void *)&bad_cases[i],
		};
	return _cmocka_run_group_tests("combine_input", tests, N_FIXED + N_BAD, NULL, NULL);
}
