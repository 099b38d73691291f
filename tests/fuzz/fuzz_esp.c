/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ESP decapsulation (src/tunnel/sa.c sa_open -> esp.c), the receive path of
 * mfs-tunnel after the SPI lookup, on untrusted bytes.
 *
 * Input byte 0 selects the mode:
 *   even: the rest is an ESP packet for an inbound SA with a fixed key, fed
 *         twice (the second time must be refused as a replay if the first
 *         was accepted). An accepted packet must re-seal to the same bytes
 *         (seal and open agree on the format).
 *   odd:  the rest (after 8 bytes of sequence number and 2 of a bit
 *         position) is an inner packet: sealed, opened back unchanged, and
 *         with that one bit flipped, refused.
 * Any accepted forgery or disagreement aborts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tunnel/sa.h"

#define BUF_MAX 4096

static struct sa *g_out, *g_in;
static const uint8_t KEY[32] = "mfsec fuzz key for esp, 32 bytes";
static const uint8_t KID[KEY_ID_LEN] = "fuzz key id 0001";

static void die(const char *what)
{
	fprintf(stderr, "fuzz_esp: %s\n", what);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sa_limits lim = { .max_packets = SA_MAX_PACKETS_LIMIT };

	(void)argc;
	(void)argv;
	/* a->b: the fuzzer plays side a sending to us, side b. */
	if (sa_new(KEY, 32, KID, true, true, &lim, 1, 0, lim.max_packets, &g_out) < 0 ||
	    sa_new(KEY, 32, KID, true, false, &lim, 1, 0, 0, &g_in) < 0)
		die("setup");
	return 0;
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void fresh_window(void)
{
	pthread_mutex_lock(&g_in->lock);
	replay_init(&g_in->win);
	pthread_mutex_unlock(&g_in->lock);
}

static void raw_packet(const uint8_t *data, size_t size)
{
	static uint8_t a[BUF_MAX + 64], b[BUF_MAX + 64];
	uint8_t nh;
	size_t len;
	int r;

	if (size > BUF_MAX)
		return;
	fresh_window();
	memcpy(a, data, size);
	r = sa_open(g_in, 0, 1, a, size, &nh, &len);
	if (r < 0)
		return;
	/* Accepted: refused when replayed. */
	memcpy(b, data, size);
	if (sa_open(g_in, 0, 1, b, size, &nh, &len) != -EALREADY)
		die("replay accepted");
	/* Re-seal: our sealer writes IV = sequence number; only then is it byte-identical. */
	if (be64(data + 8) >> 32 == 0 &&
	    ((uint64_t)data[4] << 24 | (uint64_t)data[5] << 16 | (uint64_t)data[6] << 8 | data[7]) ==
	    (be64(data + 8) & 0xffffffffU)) {
		atomic_store(&g_out->seq, be64(data + 8) - 1);
		memmove(b + ESP_HDR_LEN, a + ESP_HDR_LEN, len);
		r = sa_seal(g_out, 0, 1, nh, b, len, sizeof(b));
		if (r < 0 || (size_t)r > size)
			die("re-seal failed");
		/* Padding may differ only if the sender padded more than needed (RFC 4303 allows it). */
		if ((size_t)r == size && memcmp(b, data, size) != 0)
			die("re-seal differs");
	}
}

static void seal_flip(const uint8_t *data, size_t size)
{
	static uint8_t pkt[BUF_MAX + 64], copy[BUF_MAX + 64];
	uint64_t seq;
	unsigned pos;
	uint8_t nh;
	size_t len, plen;
	int n;

	if (size < 10 || size - 10 > BUF_MAX - ESP_HDR_LEN - ESP_OVERHEAD_MAX)
		return;
	seq = be64(data) % SA_MAX_PACKETS_LIMIT + 1;
	pos = (unsigned)data[8] << 8 | data[9];
	plen = size - 10;
	memcpy(pkt + ESP_HDR_LEN, data + 10, plen);
	atomic_store(&g_out->seq, seq - 1);
	n = sa_seal(g_out, 0, 1, ESP_NH_IPV6, pkt, plen, sizeof(pkt));
	if (n < 0)
		die("seal failed");
	memcpy(copy, pkt, (size_t)n);
	fresh_window();
	if (sa_open(g_in, 0, 1, pkt, (size_t)n, &nh, &len) != 0 || len != plen || nh != ESP_NH_IPV6 ||
	    memcmp(pkt + ESP_HDR_LEN, data + 10, plen) != 0)
		die("round trip failed");
	pos %= (unsigned)n * 8;
	copy[pos / 8] ^= (uint8_t)(1U << (pos % 8));
	fresh_window();
	if (sa_open(g_in, 0, 1, copy, (size_t)n, &nh, &len) == 0)
		die("bit flip accepted");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!g_in)
		LLVMFuzzerInitialize(NULL, NULL);
	if (size < 1)
		return 0;
	if (data[0] & 1)
		seal_flip(data + 1, size - 1);
	else
		raw_packet(data + 1, size - 1);
	return 0;
}
