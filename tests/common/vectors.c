/* SPDX-License-Identifier: Apache-2.0 */
#include "vectors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hex.h"

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "vectors: %s: %s\n", what, detail);
	abort();
}

json_t *vec_load(const char *relpath)
{
	const char *dir = getenv("MFS_VECTORS");
	char path[4096];
	json_error_t err;
	json_t *j;

	if (!dir)
		die("MFS_VECTORS is not set", relpath);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, relpath) >= sizeof(path))
		die("path too long", relpath);
	if (!(j = json_load_file(path, 0, &err)))
		die(path, err.text);
	return j;
}

uint8_t *vec_hex_value(const json_t *str, size_t *len)
{
	const char *s;
	size_t n;
	uint8_t *out;

	if (!json_is_string(str))
		die("hex value", "not a string");
	s = json_string_value(str);
	n = strlen(s);
	if (n % 2)
		die("odd-length hex", s);
	out = malloc(n / 2 + 1);	/* +1: never malloc(0) */
	if (!out)
		die("malloc", "failed");
	if (hex_decode(out, n / 2, s, n) < 0)
		die("bad hex", s);
	*len = n / 2;
	return out;
}

uint8_t *vec_hex(const json_t *obj, const char *field, size_t *len)
{
	const json_t *v = json_object_get(obj, field);

	if (!v)
		die("missing field", field);
	return vec_hex_value(v, len);
}

const char *vec_str(const json_t *obj, const char *field)
{
	const json_t *v = json_object_get(obj, field);

	if (!json_is_string(v))
		die("missing string field", field);
	return json_string_value(v);
}

long long vec_int(const json_t *obj, const char *field)
{
	const json_t *v = json_object_get(obj, field);

	if (!json_is_integer(v))
		die("missing integer field", field);
	return json_integer_value(v);
}
