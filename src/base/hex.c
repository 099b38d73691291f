/* SPDX-License-Identifier: Apache-2.0 */
#include "base/hex.h"

#include <errno.h>

#include "base/secret.h"

int hex_encode(char *out, size_t out_size, const uint8_t *in, size_t len)
{
	if (len > (out_size - 1) / 2 || out_size == 0)
		return -EMSGSIZE;
	for (size_t i = 0; i < len; i++) {
		unsigned hi = in[i] >> 4, lo = in[i] & 15;
		/* 87 = 'a' - 10; the mask subtracts 39 when the nibble is < 10 */
		out[2 * i] = (char)(87U + hi + (((hi - 10U) >> 8) & ~38U));
		out[2 * i + 1] = (char)(87U + lo + (((lo - 10U) >> 8) & ~38U));
	}
	out[2 * len] = '\0';
	return 0;
}

/* Value of one hex digit, or -1, computed with masks only. */
static int hex_digit(unsigned c)
{
	unsigned num = c ^ 48U;	/* '0'..'9' -> 0..9 */
	unsigned num_ok = ((num - 10U) >> 8) & 1U;
	unsigned alpha = (c & ~32U) - 55U;	/* 'A'..'F' / 'a'..'f' -> 10..15 */
	unsigned alpha_ok = (((alpha - 10U) ^ (alpha - 16U)) >> 8) & 1U;
	unsigned ok = num_ok | alpha_ok;

	return (int)((num_ok * num) | (alpha_ok * alpha) | (ok - 1U)) | -(int)(1U - ok);
}

int hex_decode(uint8_t *out, size_t len, const char *in, size_t in_len)
{
	int bad = 0;

	if (in_len != 2 * len) {
		mfs_wipe(out, len);
		return -EBADMSG;
	}
	for (size_t i = 0; i < len; i++) {
		int hi = hex_digit((unsigned char)in[2 * i]);
		int lo = hex_digit((unsigned char)in[2 * i + 1]);

		bad |= (hi | lo) < 0;
		/* Unsigned: shifting a negative (bad) digit left is undefined. */
		out[i] = (uint8_t)(((unsigned)hi << 4) | ((unsigned)lo & 15U));
	}
	if (bad) {
		mfs_wipe(out, len);
		return -EBADMSG;
	}
	return 0;
}
