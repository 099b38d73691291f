/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ESP (RFC 4303) with AES-256-GCM (RFC 4106), tunnel mode, extended
 * sequence numbers. No I/O and no allocation: packets are sealed and opened
 * in place in caller buffers.
 *
 * Wire format (what follows the UDP header of RFC 3948 encapsulation):
 *
 *   SPI (4) | Sequence Number, low 32 bits (4) | IV (8)         ESP_HDR_LEN
 *   ciphertext: inner IP packet | Padding (0-3) | Pad Length (1) | Next Header (1)
 *   ICV (16)
 *
 *   nonce = salt (4) || IV (8)                  RFC 4106 §4
 *   AAD   = SPI || seq high 32 || seq low 32     RFC 4106 §5 (ESN)
 *   IV    = the 64-bit sequence number, big-endian (unique per key; RFC 4106 §3.1)
 *   padding: bytes 1, 2, 3, ... so that the ciphertext is a multiple of 4
 *   (RFC 4303 §2.4); the receiver checks their values.
 *
 * The inner packet's next header is 4 (IPv4) or 41 (IPv6); 59 marks a dummy
 * packet (RFC 4303 §2.6), which esp_open() reports as -ENODATA.
 */
#ifndef MFS_TUNNEL_ESP_H
#define MFS_TUNNEL_ESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/aead.h"

#define ESP_SPI_LEN 4
#define ESP_IV_LEN 8
#define ESP_HDR_LEN 16		/* SPI + seq low + IV */
#define ESP_ICV_LEN 16
#define ESP_SALT_LEN 4
#define ESP_KEY_LEN 32
#define ESP_TRAILER_MAX 5	/* up to 3 pad bytes + pad length + next header */
/* Bytes ESP adds to an inner packet of length n: header, trailer, ICV. */
#define ESP_OVERHEAD(n) (ESP_HDR_LEN + ESP_ICV_LEN + 2 + ((4 - (((n) + 2) & 3)) & 3))
#define ESP_OVERHEAD_MAX (ESP_HDR_LEN + ESP_ICV_LEN + ESP_TRAILER_MAX)
/* Smallest well-formed ESP packet: header, 4 bytes of ciphertext, ICV. */
#define ESP_MIN_LEN (ESP_HDR_LEN + 4 + ESP_ICV_LEN)

#define ESP_NH_IPV4 4
#define ESP_NH_IPV6 41
#define ESP_NH_NONE 59

/*
 * One direction of one SA: the keyed AES-GCM context, salt and SPI. no_esn
 * selects 32-bit sequence numbers (RFC 4303 §2.2 without ESN; AAD = SPI ||
 * seq, RFC 4106 §5) for peers and decoders without ESN, e.g. Wireshark's
 * ESP dissector; the sequence number must then stay below 2^32.
 */
struct esp_xform {
	struct aead *aead;
	uint8_t salt[ESP_SALT_LEN];
	uint32_t spi;
	bool no_esn;
};

/*
 * Seal in place. The inner packet (len bytes) is at pkt + ESP_HDR_LEN; pkt
 * has room for cap bytes. Writes header, trailer and ICV and encrypts.
 * Returns the ESP packet length, -EMSGSIZE if cap is too small, -EINVAL if
 * seq is 0, -EIO if OpenSSL fails.
 */
int esp_seal(const struct esp_xform *x, uint64_t seq, uint8_t next_header,
	     uint8_t *pkt, size_t len, size_t cap);

/*
 * Parse the cleartext header of an ESP packet: SPI and the low 32 bits of
 * the sequence number. -EBADMSG if shorter than ESP_MIN_LEN or the SPI is 0
 * (RFC 3948 non-ESP marker) .
 */
int esp_parse(const uint8_t *pkt, size_t len, uint32_t *ret_spi, uint32_t *ret_seq_lo);

/*
 * Verify and decrypt in place. The AAD is the packet's SPI and sequence
 * number with the high 32 bits of seq (inferred by the caller from the
 * window, see replay.h) in between; the caller found x by the SPI. On success the
 * inner packet is at pkt + ESP_HDR_LEN, *ret_len bytes, and *ret_nh is its
 * next header. Errors: -EBADMSG malformed (length, alignment, padding),
 * -EKEYREJECTED ICV mismatch (the ciphertext area is wiped), -ENODATA a
 * valid dummy packet. Nothing is returned on failure.
 */
int esp_open(const struct esp_xform *x, uint64_t seq, uint8_t *pkt, size_t len,
	     uint8_t *ret_nh, size_t *ret_len);

#endif
