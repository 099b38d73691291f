/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KME responses (src/daemon/kme_json.h) on arbitrary bytes: a hostile KME.
 * Input: one selector byte, then the body. Selector bits 0-1: key container
 * (enc: any IDs), key container (dec: the IDs of the seed corpus' first two
 * keys asked for), status, error; bits 2-7: number of keys 1..64 asked.
 * Checks beyond "no crash, no leak": an accepted container holds exactly
 * the keys asked for, no ID twice, only asked-for IDs for dec; a refused
 * one returns no keys and says why.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/kme_json.h"
#include "fuzz.h"

static void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_kme_json: %s\n", what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t want[2][KME_KEY_ID_LEN] = {
		{ 0xbc, 0x49, 0x04, 0x19, 0x7d, 0x60, 0x48, 0x7f, 0xad, 0xc1, 0x4d, 0xdc, 0xc1, 0x77, 0xc1, 0x39 },
		{ 0x0a, 0x78, 0x2f, 0xb5, 0x34, 0x34, 0x48, 0xfe, 0xaa, 0x4d, 0x14, 0xf4, 0x1d, 0x46, 0xcf, 0x92 },
	};
	uint8_t *body;
	size_t n;
	char why[160] = "", msg[KME_MSG_MAX + 1];
	int r;

	if (size < 1)
		return 0;
	n = 1 + (data[0] >> 2) % KME_KEYS_MAX;
	body = malloc(size);
	if (!body)
		abort();
	memcpy(body, data + 1, size - 1);
	switch (data[0] & 3) {
	case 0:
	case 1: {
		bool dec = data[0] & 1;
		struct kme_keys k;

		if (dec && n > 2)
			n = 2;
		r = kme_parse_keys(body, size - 1, n, 32, dec ? want : NULL, &k, why, sizeof(why));
		if (r < 0) {
			if (k.keys || !why[0])
				fuzz_fail("refused without a reason, or with keys");
			break;
		}
		if (k.n != n || k.bytes != 32 || !k.keys || k.keys->len != n * 32)
			fuzz_fail("accepted the wrong number of keys");
		for (size_t i = 0; i < n; i++) {
			for (size_t j = 0; j < i; j++)
				if (!memcmp(k.ids[i], k.ids[j], KME_KEY_ID_LEN))
					fuzz_fail("accepted a key ID twice");
			if (dec && memcmp(k.ids[i], want[0], 16) && memcmp(k.ids[i], want[1], 16))
				fuzz_fail("accepted a key ID not asked for");
		}
		kme_keys_free(&k);
		break;
	}
	case 2: {
		struct kme_status st;

		r = kme_parse_status(body, size - 1, "sae-office", "sae-dc", &st, why, sizeof(why));
		if (r == 0 && (strcmp(st.master_sae, "sae-office") || strcmp(st.slave_sae, "sae-dc")))
			fuzz_fail("status for other SAEs accepted");
		break;
	}
	default:
		kme_parse_error(body, size - 1, msg, sizeof(msg));
		for (size_t i = 0; msg[i]; i++)
			if (msg[i] < 0x20 || msg[i] > 0x7e)
				fuzz_fail("unprintable message");
		break;
	}
	free(body);
	return 0;
}
