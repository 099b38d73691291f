/* SPDX-License-Identifier: Apache-2.0 */
#include "tunnel/esp.h"

#include <errno.h>
#include <string.h>

#include "base/buf.h"

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* RFC 4106 §5: SPI || seq high || seq low with ESN, SPI || seq without. Returns the length. */
static size_t build_aad(const struct esp_xform *x, uint8_t aad[12], const uint8_t spi[4],
			uint64_t seq, const uint8_t seq_lo[4])
{
	memcpy(aad, spi, 4);
	if (x->no_esn) {
		memcpy(aad + 4, seq_lo, 4);
		return 8;
	}
	put32(aad + 4, (uint32_t)(seq >> 32));
	memcpy(aad + 8, seq_lo, 4);
	return 12;
}

int esp_seal(const struct esp_xform *x, uint64_t seq, uint8_t next_header,
	     uint8_t *pkt, size_t len, size_t cap)
{
	uint8_t nonce[AEAD_IV_LEN], aad[12];
	size_t pad = (4 - ((len + 2) & 3)) & 3, ct_len = len + pad + 2, aad_len;
	uint8_t *tr;
	int r;

	if (seq == 0 || (x->no_esn && seq > UINT32_MAX))
		return -EINVAL;
	if (cap < ESP_HDR_LEN + ESP_ICV_LEN || ct_len > cap - ESP_HDR_LEN - ESP_ICV_LEN)
		return -EMSGSIZE;
	/* SPI, sequence number (low half), IV = the full 64-bit number. */
	put32(pkt, x->spi);
	put32(pkt + 4, (uint32_t)seq);
	put32(pkt + 8, (uint32_t)(seq >> 32));
	put32(pkt + 12, (uint32_t)seq);
	/* Trailer: monotonic padding 1, 2, 3 (RFC 4303 §2.4), pad length, next header. */
	tr = pkt + ESP_HDR_LEN + len;
	for (size_t i = 0; i < pad; i++)
		tr[i] = (uint8_t)(i + 1);
	tr[pad] = (uint8_t)pad;
	tr[pad + 1] = next_header;

	memcpy(nonce, x->salt, ESP_SALT_LEN);
	memcpy(nonce + ESP_SALT_LEN, pkt + 8, ESP_IV_LEN);
	aad_len = build_aad(x, aad, pkt, seq, pkt + 4);
	r = aead_seal(x->aead, nonce, sizeof(nonce), aad, aad_len, pkt + ESP_HDR_LEN, ct_len,
		      pkt + ESP_HDR_LEN, pkt + ESP_HDR_LEN + ct_len);
	if (r < 0)
		return r;
	return (int)(ESP_HDR_LEN + ct_len + ESP_ICV_LEN);
}

int esp_parse(const uint8_t *pkt, size_t len, uint32_t *ret_spi, uint32_t *ret_seq_lo)
{
	struct rd r = rd_init(pkt, len);
	uint32_t spi, seq;

	if (len < ESP_MIN_LEN || rd_u32(&r, &spi) < 0 || rd_u32(&r, &seq) < 0)
		return -EBADMSG;
	if (spi == 0)
		return -EBADMSG;
	*ret_spi = spi;
	*ret_seq_lo = seq;
	return 0;
}

int esp_open(const struct esp_xform *x, uint64_t seq, uint8_t *pkt, size_t len,
	     uint8_t *ret_nh, size_t *ret_len)
{
	uint8_t nonce[AEAD_IV_LEN], aad[12];
	size_t ct_len, pad, inner, aad_len;
	uint8_t *ct, nh;
	int r;

	if (len < ESP_MIN_LEN || len > (1U << 20))
		return -EBADMSG;
	ct_len = len - ESP_HDR_LEN - ESP_ICV_LEN;
	/* RFC 4303 §2.4: the ciphertext ends on a 4-byte boundary. */
	if (ct_len & 3)
		return -EBADMSG;
	ct = pkt + ESP_HDR_LEN;
	memcpy(nonce, x->salt, ESP_SALT_LEN);
	memcpy(nonce + ESP_SALT_LEN, pkt + 8, ESP_IV_LEN);
	/* AAD as received (SPI, low half), with the inferred high half in between. */
	aad_len = build_aad(x, aad, pkt, seq, pkt + 4);
	r = aead_open(x->aead, nonce, sizeof(nonce), aad, aad_len, ct, ct_len,
		      ct + ct_len, ESP_ICV_LEN, ct);
	if (r < 0)
		return r == -EKEYREJECTED ? r : -EIO;

	/* Authenticated from here on; still check the trailer strictly. */
	pad = ct[ct_len - 2];
	nh = ct[ct_len - 1];
	if (pad > ct_len - 2)
		return -EBADMSG;
	inner = ct_len - 2 - pad;
	for (size_t i = 0; i < pad; i++)
		if (ct[inner + i] != (uint8_t)(i + 1))
			return -EBADMSG;
	if (nh == ESP_NH_NONE)
		return -ENODATA;
	*ret_nh = nh;
	*ret_len = inner;
	return 0;
}
