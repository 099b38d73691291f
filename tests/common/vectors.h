/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-vector helpers: load a JSON file from tests/vectors (the directory
 * in $MFS_VECTORS, set by meson) and decode hex fields. Test code only.
 */
#ifndef MFS_TESTS_VECTORS_H
#define MFS_TESTS_VECTORS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Parse $MFS_VECTORS/<relpath>; aborts the test program on any error. */
json_t *vec_load(const char *relpath);

/* A hex field of obj decoded into a fresh malloc()ed buffer; *len set. */
uint8_t *vec_hex(const json_t *obj, const char *field, size_t *len);
/* Same, from a JSON string value. */
uint8_t *vec_hex_value(const json_t *str, size_t *len);
/* String / integer field, aborting when missing or of the wrong type. */
const char *vec_str(const json_t *obj, const char *field);
long long vec_int(const json_t *obj, const char *field);

#endif
