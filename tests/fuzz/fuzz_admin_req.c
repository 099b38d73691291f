/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin API request parser, admin_req_parse() (src/ops/admin.h), on
 * arbitrary bytes: a length-framed stream as mfsd reads it from its Unix
 * socket (u32 length ‖ JSON). The first frame is cut as the daemon cuts it
 * (a length over ADMIN_REQ_MAX is refused before the body is read), the body
 * is parsed from a heap copy of exactly its size, so an overread is an ASan
 * report.
 *
 * Checked beyond "no crash, no leak": an accepted request holds only
 * printable, NUL-terminated strings within ADMIN_STR_MAX, the members its
 * command requires are set, and a failed parse leaves the output untouched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ops/admin.h"

static void check_str(const char *s)
{
	size_t n = strnlen(s, ADMIN_STR_MAX + 1);

	if (n > ADMIN_STR_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct admin_req req, untouched;
	const uint8_t *body = data;
	size_t len = size;
	uint8_t *copy;
	int r;

	/* A framed input (starts with a plausible length) is cut like the daemon does. */
	if (size >= ADMIN_HDR_LEN && data[0] == 0) {
		uint32_t l = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
			     (uint32_t)data[2] << 8 | data[3];

		if (l > ADMIN_REQ_MAX || l > size - ADMIN_HDR_LEN)
			return 0;
		body = data + ADMIN_HDR_LEN;
		len = l;
	}
	if (!(copy = malloc(len ? len : 1)))
		return 0;
	memcpy(copy, body, len);
	memset(&req, 0xa5, sizeof(req));
	untouched = req;
	r = admin_req_parse(copy, len, &req);
	if (r < 0) {
		if (memcmp(&req, &untouched, sizeof(req)) != 0)
			abort();
	} else {
		check_str(req.peer);
		check_str(req.class_name);
		check_str(req.method);
		check_str(req.reason);
		if (req.cmd == ADMIN_REKEY && !req.peer[0])
			abort();
		if ((req.cmd == ADMIN_METHOD_REVOKE || req.cmd == ADMIN_METHOD_RESTORE ||
		     req.cmd == ADMIN_METHOD_USAGE) && !req.method[0])
			abort();
	}
	free(copy);
	return 0;
}
