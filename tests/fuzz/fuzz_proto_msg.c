/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the peer-protocol codec (src/proto/msg.h).
 *
 * Input: any bytes, taken as one frame. Checks beyond "no crash, no
 * sanitizer report":
 *   - msg_parse() returns 0 or -EBADMSG / -EMSGSIZE / -EOPNOTSUPP;
 *   - a frame that parses is canonical: msg_encode() of the parsed struct
 *     gives back exactly the input bytes, and msg_frame_len() agrees with
 *     its length;
 *   - variable fields point inside the input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "fuzz.h"
#include "proto/msg.h"

static void fuzz_fail(const char *what, long v)
{
	fprintf(stderr, "fuzz_proto_msg: %s (%ld)\n", what, v);
	abort();
}

static void check_in(struct rd r, const uint8_t *data, size_t size)
{
	if (r.n && (r.p < data || r.p + r.n > data + size))
		fuzz_fail("field points outside the input", (long)r.n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[MSG_FRAME_MAX];
	struct wbuf w = wbuf_init(out, sizeof(out));
	struct msg m;
	size_t fl;
	int r;

	r = msg_frame_len(data, size, &fl);
	if (r != 0 && r != -EAGAIN && r != -EBADMSG && r != -EMSGSIZE)
		fuzz_fail("msg_frame_len: unexpected error", r);
	r = msg_parse(data, size, &m);
	if (r != 0) {
		if (r != -EBADMSG && r != -EMSGSIZE && r != -EOPNOTSUPP)
			fuzz_fail("msg_parse: unexpected error", r);
		return 0;
	}
	if (msg_frame_len(data, size, &fl) != 0 || fl != size)
		fuzz_fail("frame length disagrees with a parsed frame", (long)size);
	switch (m.type) {
	case MSGT_HELLO:
		check_in(m.u.hello.node_id, data, size);
		check_in(m.u.hello.class_name, data, size);
		break;
	case MSGT_SELECT:
		check_in(m.u.select.node_id, data, size);
		for (size_t i = 0; i < m.u.select.n_items; i++)
			check_in(m.u.select.items[i].data, data, size);
		break;
	case MSGT_KEX1:
	case MSGT_KEX2:
		for (size_t i = 0; i < m.u.kex.n_items; i++)
			check_in(m.u.kex.items[i].data, data, size);
		break;
	case MSGT_CONFIRM:
		break;
	default:
		check_in(m.u.notice.text, data, size);
	}
	if ((r = msg_encode(&w, &m)) != 0)
		fuzz_fail("a parsed message does not encode", r);
	if (w.len != size || memcmp(out, data, size) != 0)
		fuzz_fail("encoding is not canonical", (long)w.len);
	return 0;
}
