/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Differential fuzzing of the PSK ID syntax, psk_id_valid() and
 * psk_id_check() (src/kex/psk_file.h), against a reference written here
 * from the specification alone: an ID is [A-Za-z0-9._-]{1,64}. The ID
 * becomes a file name (<dir>/<id>.psk), so accepting one byte too many
 * ('/', NUL, a high byte) would be a path traversal, and refusing a valid
 * one would lock a peer out.
 *
 * Input: the candidate ID, raw. psk_id_valid() sees exactly those bytes (a
 * heap copy of their size, so an overread is an ASan report);
 * psk_id_check() sees them NUL-terminated, i.e. up to the first NUL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kex/psk_file.h"

#define REF_ID_MAX 64

static bool ref_valid(const uint8_t *p, size_t n)
{
	static const char extra[] = "._-";

	if (n < 1 || n > REF_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');

		for (size_t j = 0; j < sizeof(extra) - 1; j++)
			ok = ok || c == (uint8_t)extra[j];
		if (!ok)
			return false;
	}
	return true;
}

static void fuzz_fail(const char *what, size_t n)
{
	fprintf(stderr, "fuzz_psk_id: %s (length %zu)\n", what, n);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *exact, *cstr;
	size_t clen;

	_Static_assert(KEX_PSK_ID_MAX == REF_ID_MAX, "the PSK ID maximum changed");
	exact = calloc(1, size ? size : 1);
	cstr = malloc(size + 1);
	if (!exact || !cstr)
		abort();
	if (size)
		memcpy(exact, data, size);
	if (psk_id_valid(exact, size) != ref_valid(data, size))
		fuzz_fail("psk_id_valid disagrees with the reference", size);

	if (size)
		memcpy(cstr, data, size);
	cstr[size] = '\0';
	clen = strlen(cstr);
	if (psk_id_check(cstr) != (ref_valid(data, clen) ? 0 : -EINVAL))
		fuzz_fail("psk_id_check disagrees with the reference", clen);

	if (psk_id_valid(NULL, size) || psk_id_check(NULL) != -EINVAL)
		fuzz_fail("NULL accepted", size);
	free(exact);
	free(cstr);
	return 0;
}
