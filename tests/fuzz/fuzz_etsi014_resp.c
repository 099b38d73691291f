/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ETSI GS QKD 014 response parsers of the client side
 * (etsi014_parse_keys, etsi014_parse_status, etsi014_parse_error in
 * src/etsi014/etsi014.h) on arbitrary bytes, as a KME might send them. The
 * body is a heap copy of exactly its size, so an overread is an ASan report.
 *
 * Checked beyond "no crash, no leak": a failed parse leaves its output
 * untouched; an accepted key container has 1..max keys of 1..MAX bytes and
 * formats back (etsi014_format_keys) into a container that parses to the
 * same keys; an accepted Status formats back and parses to the same values;
 * an error message is printable.
 */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "etsi014/etsi014.h"
#include "fuzz.h"

#define MAXK 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct etsi014_key keys[MAXK], again[MAXK], untouched[MAXK];
	static uint8_t out[MAXK * 1500 + 64];
	struct etsi014_status st, st2, st_untouched;
	char msg[ETSI014_MSG_MAX + 1];
	uint8_t *body = malloc(size ? size : 1);
	size_t n = 99, n2 = 0;
	struct wbuf w;

	if (!body)
		abort();
	memcpy(body, data, size);

	memset(keys, 0xa5, sizeof(keys));
	memcpy(untouched, keys, sizeof(keys));
	if (etsi014_parse_keys(body, size, keys, MAXK, &n) == 0) {
		if (n < 1 || n > MAXK)
			abort();
		for (size_t i = 0; i < n; i++)
			if (keys[i].len < 1 || keys[i].len > ETSI014_KEY_MAX_BYTES)
				abort();
		w = wbuf_init(out, sizeof(out));
		if (etsi014_format_keys(&w, keys, n) == 0) {
			if (etsi014_parse_keys(out, w.len, again, MAXK, &n2) < 0 || n2 != n)
				abort();
			for (size_t i = 0; i < n; i++)
				if (again[i].len != keys[i].len ||
				    memcmp(again[i].id, keys[i].id, ETSI014_KEY_ID_LEN) != 0 ||
				    memcmp(again[i].key, keys[i].key, keys[i].len) != 0)
					abort();
		}
	} else if (n != 99) {
		abort();
	}

	memset(&st, 0x5a, sizeof(st));
	st_untouched = st;
	if (etsi014_parse_status(body, size, &st) == 0) {
		w = wbuf_init(out, sizeof(out));
		if (etsi014_format_status(&w, &st) < 0 || etsi014_parse_status(out, w.len, &st2) < 0 ||
		    memcmp(&st, &st2, sizeof(st)) != 0)
			abort();
	} else if (memcmp(&st, &st_untouched, sizeof(st)) != 0) {
		abort();
	}

	if (etsi014_parse_error(body, size, msg) == 0)
		for (size_t i = 0; msg[i]; i++)
			if (msg[i] < 0x20 || msg[i] > 0x7e || i >= ETSI014_MSG_MAX)
				abort();
	free(body);
	return 0;
}
