/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the push socket codec as libmfs-client and mfsd use it
 * (src/client/pushwire.h): the input is a byte stream from the socket, cut
 * with pushwire_frame_len() and parsed with pushwire_parse(), in either
 * direction (the client's read path parses daemon messages with the same
 * function). Checks beyond "no crash, no sanitizer report": a frame that
 * parses encodes back to exactly the same bytes (one encoding per message),
 * and parsing a frame never reads past it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/pushwire.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		uint8_t *frame, again[PUSHWIRE_FRAME_MAX];
		struct pushwire_msg m;
		int fl = pushwire_frame_len(data + off, size - off), n;

		if (fl <= 0)
			break;
		/* an exact-size copy: ASan sees any read past the frame */
		if (!(frame = malloc((size_t)fl)))
			abort();
		memcpy(frame, data + off, (size_t)fl);
		if (pushwire_parse(frame, (size_t)fl, &m) == 0) {
			n = pushwire_encode(&m, again, sizeof(again));
			if (n != fl || memcmp(again, frame, (size_t)fl) != 0) {
				fprintf(stderr, "fuzz_pushwire: type 0x%02x does not encode back\n",
					m.type);
				abort();
			}
		}
		free(frame);
		off += (size_t)fl;
	}
	return 0;
}
