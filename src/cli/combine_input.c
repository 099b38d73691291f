/* SPDX-License-Identifier: Apache-2.0 */
#include "cli/combine_input.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/hex.h"

static const char *const mode_names[] = {
	[COMBINE_MODE_CATKDF] = "catkdf",
	[COMBINE_MODE_CASKDF] = "caskdf",
	[COMBINE_MODE_XOR_ITS] = "xor-its",
};

const char *combine_mode_name(enum combine_mode m)
{
	return (size_t)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "?";
}

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* Every key of obj must be one of allowed[] (NULL-terminated). */
static int only_keys(json_t *obj, const char *where, const char *const *allowed, char *err, size_t size)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		const char *const *a = allowed;

		(void)v;
		while (*a && strcmp(*a, key))
			a++;
		if (!*a)
			return fail(err, size, "%s: unknown key \"%s\"", where, key);
	}
	return 0;
}

/* A string field; required or optional (NULL when absent). Length 1..max, no NUL. */
static int get_str(json_t *obj, const char *where, const char *key, bool required, size_t max,
		   const char **ret, char *err, size_t size)
{
	json_t *v = json_object_get(obj, key);

	if (!v) {
		*ret = NULL;
		return required ? fail(err, size, "%s: \"%s\" is required", where, key) : 0;
	}
	if (!json_is_string(v))
		return fail(err, size, "%s.%s: must be a string", where, key);
	if (json_string_length(v) == 0 || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return fail(err, size, "%s.%s: must be 1..%zu characters without NUL", where, key, max);
	*ret = json_string_value(v);
	return 0;
}

static int get_uint(json_t *obj, const char *where, const char *key, long long min, long long max,
		    long long dflt, long long *ret, char *err, size_t size)
{
	json_t *v = json_object_get(obj, key);

	if (!v) {
		*ret = dflt;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return fail(err, size, "%s.%s: must be an integer in %lld..%lld", where, key, min, max);
	*ret = json_integer_value(v);
	return 0;
}

static int get_bool(json_t *obj, const char *where, const char *key, bool *ret, char *err, size_t size)
{
	json_t *v = json_object_get(obj, key);

	if (!v) {
		*ret = false;
		return 0;
	}
	if (!json_is_boolean(v))
		return fail(err, size, "%s.%s: must be true or false", where, key);
	*ret = json_is_true(v);
	return 0;
}

static int get_party(json_t *root, const char *key, const char **ret_id, uint8_t *nonce,
		     size_t *ret_nonce_len, char *err, size_t size)
{
	static const char *const keys[] = { "id", "nonce", NULL };
	json_t *p = json_object_get(root, key);
	const char *hex;
	size_t n;
	int r;

	if (!json_is_object(p))
		return fail(err, size, "\"%s\" must be an object with \"id\" and \"nonce\"", key);
	if ((r = only_keys(p, key, keys, err, size)) < 0 ||
	    (r = get_str(p, key, "id", true, COMBINE_ID_MAX, ret_id, err, size)) < 0 ||
	    (r = get_str(p, key, "nonce", true, 2 * COMBINE_NONCE_MAX, &hex, err, size)) < 0)
		return r;
	n = strlen(hex);
	if (n < 32 || n % 2 || hex_decode(nonce, n / 2, hex, n) < 0)
		return fail(err, size, "%s.nonce: must be 16..%d bytes in hex", key, COMBINE_NONCE_MAX);
	*ret_nonce_len = n / 2;
	return 0;
}

static int get_method(json_t *v, size_t i, struct combine_method_in *ret, char *err, size_t size)
{
	static const char *const keys[] = { "method", "public_key", "ciphertext", "shared_secret",
					    "psk_id", "psk_file", "its", NULL };
	struct combine_method_in m = { 0 };
	char where[32];
	const char *name;
	int r;

	snprintf(where, sizeof(where), "methods[%zu]", i);
	if (!json_is_object(v))
		return fail(err, size, "%s: must be an object", where);
	if ((r = only_keys(v, where, keys, err, size)) < 0 ||
	    (r = get_str(v, where, "method", true, 32, &name, err, size)) < 0 ||
	    (r = get_bool(v, where, "its", &m.its, err, size)) < 0)
		return r;
	if (!(m.method = kex_method_by_name(name)))
		return fail(err, size, "%s.method: unknown or unavailable method \"%s\"", where, name);
	if (m.method->kem) {
		if ((r = get_str(v, where, "public_key", true, COMBINE_PATH_MAX, &m.public_key, err, size)) < 0 ||
		    (r = get_str(v, where, "ciphertext", true, COMBINE_PATH_MAX, &m.ciphertext, err, size)) < 0 ||
		    (r = get_str(v, where, "shared_secret", true, COMBINE_PATH_MAX, &m.shared_secret, err, size)) < 0)
			return r;
		if (json_object_get(v, "psk_id") || json_object_get(v, "psk_file"))
			return fail(err, size, "%s: psk_id/psk_file belong to a psk method", where);
	} else {
		if ((r = get_str(v, where, "psk_id", true, KEX_PSK_ID_MAX, &m.psk_id, err, size)) < 0 ||
		    (r = get_str(v, where, "psk_file", true, COMBINE_PATH_MAX, &m.psk_file, err, size)) < 0)
			return r;
		if (json_object_get(v, "public_key") || json_object_get(v, "ciphertext") ||
		    json_object_get(v, "shared_secret"))
			return fail(err, size, "%s: a psk method takes psk_id and psk_file only", where);
	}
	*ret = m;
	return 0;
}

int combine_input_parse(const char *json, size_t len, struct combine_input *ret,
			char *err, size_t err_size)
{
	static const char *const keys[] = { "mode", "length", "version", "label", "purpose",
					    "initiator", "responder", "methods", NULL };
	struct combine_input in = { 0 };
	json_error_t jerr;
	const char *mode;
	long long num;
	json_t *root, *methods, *v;
	size_t i;
	int r;

	if (len > COMBINE_INPUT_MAX) {
		fail(err, err_size, "input is larger than %d bytes", COMBINE_INPUT_MAX);
		return -EMSGSIZE;
	}
	/*
	 * JSON_ALLOW_NUL lets a "\u0000" in a string value through the syntax
	 * check so that get_str() refuses it with the name of the field;
	 * jansson refuses a NUL in an object key either way.
	 */
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!root)
		return fail(err, err_size, "JSON syntax error at line %d column %d: %s",
			    jerr.line, jerr.column, jerr.text);
	if (!json_is_object(root)) {
		r = fail(err, err_size, "the input must be a JSON object");
		goto out;
	}
	if ((r = only_keys(root, "input", keys, err, err_size)) < 0 ||
	    (r = get_str(root, "input", "mode", false, 16, &mode, err, err_size)) < 0 ||
	    (r = get_str(root, "input", "label", false, COMBINE_TEXT_MAX, &in.label, err, err_size)) < 0 ||
	    (r = get_str(root, "input", "purpose", true, COMBINE_TEXT_MAX, &in.purpose, err, err_size)) < 0)
		goto out;
	in.mode = COMBINE_MODE_CATKDF;
	if (mode) {
		for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
			if (!strcmp(mode, mode_names[i]))
				break;
		if (i == sizeof(mode_names) / sizeof(mode_names[0])) {
			r = fail(err, err_size, "input.mode: must be catkdf, caskdf or xor-its");
			goto out;
		}
		in.mode = (enum combine_mode)i;
	}
	if ((r = get_uint(root, "input", "length", 16, COMBINE_LENGTH_MAX, 32, &num, err, err_size)) < 0)
		goto out;
	in.length = (size_t)num;
	if ((r = get_uint(root, "input", "version", 1, 65535, 1, &num, err, err_size)) < 0)
		goto out;
	in.version = (uint16_t)num;
	if ((r = get_party(root, "initiator", &in.initiator_id, in.initiator_nonce,
			   &in.initiator_nonce_len, err, err_size)) < 0 ||
	    (r = get_party(root, "responder", &in.responder_id, in.responder_nonce,
			   &in.responder_nonce_len, err, err_size)) < 0)
		goto out;
	methods = json_object_get(root, "methods");
	if (!json_is_array(methods) || json_array_size(methods) == 0 ||
	    json_array_size(methods) > COMBINE_MAX_METHODS) {
		r = fail(err, err_size, "\"methods\" must be an array of 1..%d methods", COMBINE_MAX_METHODS);
		goto out;
	}
	json_array_foreach(methods, i, v) {
		/* A method may appear twice: McEliece runs once to each side's static key. */
		if ((r = get_method(v, i, &in.methods[i], err, err_size)) < 0)
			goto out;
	}
	in.n_methods = json_array_size(methods);
	in.doc = root;
	root = NULL;
	*ret = in;
	r = 0;
out:
	json_decref(root);
	return r;
}

void combine_input_done(struct combine_input *in)
{
	if (!in)
		return;
	json_decref(in->doc);
	in->doc = NULL;
}
