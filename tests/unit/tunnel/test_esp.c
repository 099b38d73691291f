/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ESP codec (src/tunnel/esp.c): round trips at every inner length
 * boundary, the wire format rebuilt here independently with OpenSSL EVP from
 * RFC 4303/4106 (nonce = salt || IV, AAD = SPI || seq high || seq low,
 * padding 1, 2, 3), every single-bit flip of a packet rejected, every
 * truncation rejected, bad padding and dummy packets.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "crypto/aead.h"
#include "tunnel/esp.h"

static const uint8_t KEY[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
				 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
static struct aead g_aead;
static struct esp_xform g_x;

static int setup(void **state)
{
	(void)state;
	if (aead_init(&g_aead, KEY) < 0)
		return -1;
	g_x = (struct esp_xform){ .aead = &g_aead, .salt = { 0xca, 0xfe, 0xba, 0xbe },
				  .spi = 0x8badf00d };
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	aead_done(&g_aead);
	return 0;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Decrypt a sealed packet with plain EVP, from the RFCs: returns the plaintext length. */
static int ref_open(const uint8_t *pkt, size_t len, uint64_t seq, uint8_t *pt)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t nonce[12], aad[12];
	int n, ok, ct_len = (int)len - ESP_HDR_LEN - ESP_ICV_LEN;

	memcpy(nonce, g_x.salt, 4);
	memcpy(nonce + 4, pkt + 8, 8);
	memcpy(aad, pkt, 4);
	aad[4] = (uint8_t)(seq >> 56);
	aad[5] = (uint8_t)(seq >> 48);
	aad[6] = (uint8_t)(seq >> 40);
	aad[7] = (uint8_t)(seq >> 32);
	memcpy(aad + 8, pkt + 4, 4);
	ok = EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, KEY, nonce) == 1 &&
	     EVP_DecryptUpdate(c, NULL, &n, aad, 12) == 1 &&
	     EVP_DecryptUpdate(c, pt, &n, pkt + ESP_HDR_LEN, ct_len) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)(pkt + len - 16)) == 1 &&
	     EVP_DecryptFinal_ex(c, pt + ct_len, &n) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? ct_len : -1;
}

/* Seal a chosen plaintext (payload+trailer as given) with plain EVP. */
static size_t ref_seal(uint64_t seq, const uint8_t *ptx, size_t n, uint8_t *pkt)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t nonce[12], aad[12];
	int m;

	for (int i = 0; i < 4; i++) {
		pkt[i] = (uint8_t)(g_x.spi >> (24 - 8 * i));
		pkt[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
	}
	for (int i = 0; i < 8; i++)
		pkt[8 + i] = (uint8_t)(seq >> (56 - 8 * i));
	memcpy(aad, pkt, 4);
	memcpy(aad + 4, pkt + 8, 4);
	memcpy(aad + 8, pkt + 4, 4);
	memcpy(nonce, g_x.salt, 4);
	memcpy(nonce + 4, pkt + 8, 8);
	assert_true(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, KEY, nonce) == 1 &&
		    EVP_EncryptUpdate(c, NULL, &m, aad, 12) == 1 &&
		    EVP_EncryptUpdate(c, pkt + 16, &m, ptx, (int)n) == 1 &&
		    EVP_EncryptFinal_ex(c, pkt + 16 + n, &m) == 1 &&
		    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, pkt + 16 + n) == 1);
	EVP_CIPHER_CTX_free(c);
	return 16 + n + 16;
}

static void test_roundtrip_every_length(void **state)
{
	static uint8_t pkt[10000], in[10000], pt[10000];
	const size_t big[] = { 1279, 1280, 1400, 1420, 1500, 4095, 4096, 9000 };

	(void)state;
	for (size_t k = 0; k < 300 + sizeof(big) / sizeof(big[0]); k++) {
		size_t len = k < 300 ? k : big[k - 300], got = 0, pad = (4 - ((len + 2) & 3)) & 3;
		uint64_t seq = 0x100000000ULL * (k % 3) + 1 + k;
		uint8_t nh = 0;
		int n;

		fill(in, len, (unsigned)k);
		memcpy(pkt + ESP_HDR_LEN, in, len);
		n = esp_seal(&g_x, seq, ESP_NH_IPV4, pkt, len, sizeof(pkt));
		assert_int_equal(n, ESP_HDR_LEN + len + pad + 2 + ESP_ICV_LEN);
		assert_int_equal((size_t)n, len + ESP_OVERHEAD(len));
		assert_int_equal((n - ESP_HDR_LEN - ESP_ICV_LEN) % 4, 0);
		assert_int_equal(be32(pkt), g_x.spi);
		assert_int_equal(be32(pkt + 4), (uint32_t)seq);
		assert_int_equal(be32(pkt + 8), (uint32_t)(seq >> 32));
		/* Independent decryption: payload, padding 1..pad, pad length, next header. */
		assert_int_equal(ref_open(pkt, (size_t)n, seq, pt), (int)(len + pad + 2));
		assert_memory_equal(pt, in, len);
		for (size_t i = 0; i < pad; i++)
			assert_int_equal(pt[len + i], i + 1);
		assert_int_equal(pt[len + pad], pad);
		assert_int_equal(pt[len + pad + 1], ESP_NH_IPV4);

		assert_int_equal(esp_open(&g_x, seq, pkt, (size_t)n, &nh, &got), 0);
		assert_int_equal(got, len);
		assert_int_equal(nh, ESP_NH_IPV4);
		assert_memory_equal(pkt + ESP_HDR_LEN, in, len);
	}
}

static void test_seal_bounds(void **state)
{
	uint8_t pkt[256];

	(void)state;
	for (size_t len = 0; len < 100; len++) {
		size_t need = len + ESP_OVERHEAD(len);

		assert_int_equal(esp_seal(&g_x, 7, ESP_NH_IPV6, pkt, len, need - 1), -EMSGSIZE);
		assert_int_equal(esp_seal(&g_x, 7, ESP_NH_IPV6, pkt, len, need), (int)need);
	}
	assert_int_equal(esp_seal(&g_x, 0, ESP_NH_IPV4, pkt, 10, sizeof(pkt)), -EINVAL);
	assert_int_equal(esp_seal(&g_x, 1, ESP_NH_IPV4, pkt, 10, 3), -EMSGSIZE);
}

static void test_bit_flips_rejected(void **state)
{
	const size_t lens[] = { 0, 1, 2, 3, 40, 61 };
	uint8_t pkt[256], copy[256], nh;
	size_t got;

	(void)state;
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		uint64_t seq = 0x500000000ULL + 77;
		int n;

		fill(pkt + ESP_HDR_LEN, lens[l], 3);
		n = esp_seal(&g_x, seq, ESP_NH_IPV4, pkt, lens[l], sizeof(pkt));
		size_t sn = n > 0 && n <= 200 ? (size_t)n : 0;

		assert_true(sn > 0);
		for (int bit = 0; bit < 8 * (int)sn; bit++) {
			memcpy(copy, pkt, sn);
			copy[bit / 8] ^= (uint8_t)(1U << (bit % 8));
			assert_int_equal(esp_open(&g_x, seq, copy, sn, &nh, &got), -EKEYREJECTED);
		}
		/* The high half of the ESN is authenticated though not sent. */
		memcpy(copy, pkt, sn);
		assert_int_equal(esp_open(&g_x, seq + (1ULL << 32), copy, sn, &nh, &got),
				 -EKEYREJECTED);
		/* Every truncation and extension is rejected. */
		for (int cut = 0; cut < (int)sn; cut++) {
			int r;

			memcpy(copy, pkt, sn);
			r = esp_open(&g_x, seq, copy, (size_t)cut, &nh, &got);
			assert_true(r == -EBADMSG || r == -EKEYREJECTED);
		}
		for (int ext = 1; ext <= 8; ext++) {
			int r;

			memcpy(copy, pkt, sn);
			memset(copy + sn, 0, (size_t)ext);
			r = esp_open(&g_x, seq, copy, sn + (size_t)ext, &nh, &got);
			assert_true(r == -EBADMSG || r == -EKEYREJECTED);
		}
		memcpy(copy, pkt, sn);
		assert_int_equal(esp_open(&g_x, seq, copy, sn, &nh, &got), 0);
	}
}

static void test_length_boundaries(void **state)
{
	uint8_t pkt[128] = { 0 }, nh;
	uint32_t spi, lo;
	size_t got;

	(void)state;
	for (size_t len = 0; len < ESP_MIN_LEN; len++) {
		assert_int_equal(esp_open(&g_x, 1, pkt, len, &nh, &got), -EBADMSG);
		assert_int_equal(esp_parse(pkt, len, &spi, &lo), -EBADMSG);
	}
	/* Ciphertext not a multiple of 4: malformed before any decryption. */
	for (size_t len = ESP_MIN_LEN + 1; len < ESP_MIN_LEN + 4; len++)
		assert_int_equal(esp_open(&g_x, 1, pkt, len, &nh, &got), -EBADMSG);
	/* SPI 0 is RFC 3948's non-ESP marker. */
	assert_int_equal(esp_parse(pkt, ESP_MIN_LEN, &spi, &lo), -EBADMSG);
	pkt[3] = 1;
	pkt[7] = 9;
	assert_int_equal(esp_parse(pkt, ESP_MIN_LEN, &spi, &lo), 0);
	assert_int_equal(spi, 1);
	assert_int_equal(lo, 9);
}

static void test_padding_and_dummy(void **state)
{
	uint8_t pkt[64], nh;
	size_t n, got;

	(void)state;
	/* Valid ICV, but the padding is 1, 3 instead of 1, 2: malformed. */
	uint8_t p2[16] = { 0x45, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 2, ESP_NH_IPV4 };
	n = ref_seal(9, p2, sizeof(p2), pkt);
	assert_int_equal(esp_open(&g_x, 9, pkt, n, &nh, &got), -EBADMSG);
	/* Same with correct padding opens. */
	p2[13] = 2;
	n = ref_seal(9, p2, sizeof(p2), pkt);
	assert_int_equal(esp_open(&g_x, 9, pkt, n, &nh, &got), 0);
	assert_int_equal(got, 12);
	/* Pad length larger than the ciphertext. */
	p2[14] = 15;
	n = ref_seal(9, p2, sizeof(p2), pkt);
	assert_int_equal(esp_open(&g_x, 9, pkt, n, &nh, &got), -EBADMSG);
	/* Next header 59: a dummy packet (RFC 4303 §2.6), dropped quietly. */
	uint8_t p3[4] = { 1, 2, 2, ESP_NH_NONE };
	n = ref_seal(10, p3, sizeof(p3), pkt);
	assert_int_equal(esp_open(&g_x, 10, pkt, n, &nh, &got), -ENODATA);
}

static void test_no_esn(void **state)
{
	struct esp_xform x = g_x;
	uint8_t pkt[128], copy[128], nh;
	size_t got;
	int n;

	(void)state;
	x.no_esn = true;
	memset(pkt, 0x45, sizeof(pkt));
	n = esp_seal(&x, 1000, ESP_NH_IPV4, pkt, 40, sizeof(pkt));
	assert_true(n > 0 && n <= 128);
	memcpy(copy, pkt, (size_t)n);
	/* The AAD differs (8 bytes, no high half): the ESN form refuses it. */
	assert_int_equal(esp_open(&g_x, 1000, copy, (size_t)n, &nh, &got), -EKEYREJECTED);
	assert_int_equal(esp_open(&x, 1000, pkt, (size_t)n, &nh, &got), 0);
	assert_int_equal(got, 40);
	assert_int_equal(esp_seal(&x, 1ULL << 32, ESP_NH_IPV4, pkt, 40, sizeof(pkt)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_every_length),
		cmocka_unit_test(test_seal_bounds),
		cmocka_unit_test(test_bit_flips_rejected),
		cmocka_unit_test(test_length_boundaries),
		cmocka_unit_test(test_padding_and_dummy),
		cmocka_unit_test(test_no_esn),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
