/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hex encoding and decoding that do not branch on the data (WireGuard
 * encoding.c style), so key bytes can pass through them.
 */
#ifndef MFS_BASE_HEX_H
#define MFS_BASE_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Write 2*len lower-case hex digits plus NUL to out (out_size >= 2*len+1). */
int hex_encode(char *out, size_t out_size, const uint8_t *in, size_t len);
/*
 * Decode exactly 2*len hex digits (either case) from the NUL-free string in
 * of length in_len into out[len]. -EBADMSG on a bad digit or wrong length;
 * out is zeroed on failure.
 */
int hex_decode(uint8_t *out, size_t len, const char *in, size_t in_len);

#endif
