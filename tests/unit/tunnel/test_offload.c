/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TUN offload handling (src/tunnel/offload.c): TCP super-packets (IPv4 and
 * IPv6) split into segments whose IP and TCP checksums verify from scratch,
 * sequence numbers, lengths, IDs and flags as the kernel's GSO would set
 * them, and the payload reassembled byte for byte; partial checksums
 * completed; malformed headers refused; and receive coalescing (GRO): the
 * segments merged back into the original super-packet, with a partial
 * checksum, and what must not be merged left alone.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tunnel/offload.h"

static uint16_t g16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static size_t build(uint8_t *p, bool v6, size_t payload, uint8_t flags)
{
	size_t l4 = v6 ? 40 : 20, n = l4 + 20 + payload;

	memset(p, 0, l4 + 20);
	if (v6) {
		p[0] = 0x60;
		p[4] = (uint8_t)((n - 40) >> 8);
		p[5] = (uint8_t)(n - 40);
		p[6] = 6;
		p[7] = 64;
		p[8] = 0xfd;
		p[23] = 1;
		p[24] = 0xfd;
		p[39] = 2;
	} else {
		p[0] = 0x45;
		p[2] = (uint8_t)(n >> 8);
		p[3] = (uint8_t)n;
		p[4] = 0x12;
		p[5] = 0x34;
		p[6] = 0x40;
		p[8] = 64;
		p[9] = 6;
		p[12] = 10;
		p[15] = 1;
		p[16] = 10;
		p[19] = 2;
	}
	p[l4] = 0x13;			/* ports */
	p[l4 + 3] = 0x50;
	p[l4 + 4] = 0xff;		/* seq near wrap */
	p[l4 + 5] = 0xff;
	p[l4 + 6] = 0xf0;
	p[l4 + 12] = 5 << 4;
	p[l4 + 13] = flags;
	for (size_t i = 0; i < payload; i++)
		p[l4 + 20 + i] = (uint8_t)(i * 13 + 7);
	return n;
}

static bool tcp_ok(const uint8_t *s, size_t n, bool v6)
{
	size_t l4 = v6 ? 40 : 20;
	uint64_t sum;

	if (v6)
		sum = csum_add(0, s + 8, 32);
	else
		sum = csum_add(0, s + 12, 8);
	sum += 6 + (n - l4);
	return csum_fold(csum_add(sum, s + l4, n - l4)) == 0;
}

static void check_tso(bool v6)
{
	static uint8_t pkt[70000], seg[2000], re[70000];
	const size_t payload = 10 * 1000 + 123, mss = 1000;
	size_t n = build(pkt, v6, payload, 0x80 | 0x18 | 0x01);	/* CWR, PSH+ACK, FIN */
	size_t l4 = v6 ? 40 : 20, got = 0;
	struct virtio_net_hdr vh = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4,
		.gso_size = mss, .hdr_len = (uint16_t)(l4 + 20),
		.csum_start = (uint16_t)l4, .csum_offset = 16,
	};
	struct seg_iter it;
	unsigned k = 0;
	int m;

	assert_int_equal(seg_init(&it, &vh, pkt, n), 0);
	assert_int_equal(seg_count(&it), 11);
	while ((m = seg_next(&it, seg, sizeof(seg))) > 0) {
		size_t chunk = (size_t)m - l4 - 20;
		uint32_t seq = (uint32_t)g16(seg + l4 + 4) << 16 | g16(seg + l4 + 6);
		uint8_t fl = seg[l4 + 13];

		assert_int_equal(chunk, k < 10 ? mss : 123);
		if (v6) {
			assert_int_equal(g16(seg + 4), m - 40);
		} else {
			assert_int_equal(g16(seg + 2), m);
			assert_int_equal(g16(seg + 4), 0x1234 + k);
			assert_int_equal(csum_fold(csum_add(0, seg, 20)), 0);
		}
		assert_true(tcp_ok(seg, (size_t)m, v6));
		assert_true(seq == 0xfffff000U + (uint32_t)(k * mss));	/* wraps */
		assert_int_equal(!!(fl & 0x80), k == 0);
		assert_int_equal(!!(fl & 0x01), k == 10);
		assert_int_equal(!!(fl & 0x08), k == 10);
		assert_true(fl & 0x10);
		memcpy(re + got, seg + l4 + 20, chunk);
		got += chunk;
		k++;
	}
	assert_int_equal(m, 0);
	assert_int_equal(k, 11);
	assert_int_equal(got, payload);
	assert_memory_equal(re, pkt + l4 + 20, payload);
	/* A too-small output buffer is refused, not overrun. */
	assert_int_equal(seg_init(&it, &vh, pkt, n), 0);
	assert_int_equal(seg_next(&it, seg, 500), -EMSGSIZE);
}

static void test_tso_v4(void **state)
{
	(void)state;
	check_tso(false);
}

static void test_tso_v6(void **state)
{
	(void)state;
	check_tso(true);
}

static void test_partial_checksum(void **state)
{
	uint8_t pkt[200], out[200];
	size_t n = build(pkt, false, 77, 0x18);
	uint64_t sum = csum_add(0, pkt + 12, 8) + 6 + (n - 20);
	struct virtio_net_hdr vh = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 20,
				     .csum_offset = 16 };
	struct seg_iter it;

	(void)state;
	/* CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum, not complemented. */
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	pkt[36] = (uint8_t)(sum >> 8);
	pkt[37] = (uint8_t)sum;
	assert_int_equal(seg_init(&it, &vh, pkt, n), 0);
	assert_int_equal(seg_count(&it), 1);
	assert_int_equal(seg_next(&it, out, sizeof(out)), (int)n);
	assert_true(tcp_ok(out, n, false));
	assert_int_equal(seg_next(&it, out, sizeof(out)), 0);
	/* Plain packet passes unchanged. */
	vh.flags = 0;
	assert_int_equal(seg_init(&it, &vh, pkt, n), 0);
	assert_int_equal(seg_next(&it, out, sizeof(out)), (int)n);
	assert_memory_equal(out, pkt, n);
}

static void test_malformed(void **state)
{
	uint8_t pkt[200];
	struct virtio_net_hdr vh = { .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 100 };
	struct seg_iter it;
	size_t n = build(pkt, false, 50, 0x10);

	(void)state;
	assert_int_equal(seg_init(&it, &vh, pkt, 0), -EBADMSG);
	assert_int_equal(seg_init(&it, &vh, pkt, 30), -EBADMSG);	/* TCP header cut */
	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;				/* family mismatch */
	assert_int_equal(seg_init(&it, &vh, pkt, n), -EBADMSG);
	vh.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	assert_int_equal(seg_init(&it, &vh, pkt, n), -EOPNOTSUPP);
	vh.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.csum_start = 200;
	assert_int_equal(seg_init(&it, &vh, pkt, n), -EBADMSG);
	pkt[0] = 0x35;
	vh.flags = 0;
	assert_int_equal(seg_init(&it, &vh, pkt, n), -EBADMSG);
}

/* Segment a super-packet, coalesce the segments back: the same packet (up to the checksum field). */
static void check_gro(bool v6)
{
	static uint8_t pkt[70000], segs[12][2000];
	static struct gro g;
	const size_t payload = 10 * 1000 + 123, mss = 1000;
	size_t n = build(pkt, v6, payload, 0x18), l4 = v6 ? 40 : 20, lens[12];
	struct virtio_net_hdr vh = {
		.gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = mss,
	}, out;
	struct seg_iter it;
	const uint8_t *w;
	size_t wl;
	int k = 0, m;

	assert_int_equal(seg_init(&it, &vh, pkt, n), 0);
	while ((m = seg_next(&it, segs[k], sizeof(segs[k]))) > 0)
		lens[k++] = (size_t)m;
	assert_int_equal(k, 11);
	/* Out of order: the third segment does not join the first. */
	assert_true(gro_start(&g, segs[0], lens[0]));
	assert_false(gro_merge(&g, segs[2], lens[2]));
	for (int i = 1; i < k; i++)
		assert_true(gro_merge(&g, segs[i], lens[i]));
	assert_true(gro_flush(&g, &w, &wl));
	assert_false(gro_flush(&g, &w, &wl));
	assert_int_equal(wl, VNET_HDR_LEN + n);
	memcpy(&out, w, sizeof(out));
	assert_int_equal(out.gso_type, vh.gso_type);
	assert_int_equal(out.gso_size, mss);
	assert_int_equal(out.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(out.csum_start, l4);
	assert_int_equal(out.csum_offset, 16);
	w += VNET_HDR_LEN;
	/* Headers as the original except the checksums; the IPv4 header checksum verifies. */
	if (!v6) {
		assert_memory_equal(w, pkt, 10);
		assert_memory_equal(w + 12, pkt + 12, 8);
		assert_int_equal(csum_fold(csum_add(0, w, 20)), 0);
	} else {
		assert_memory_equal(w, pkt, 40);
	}
	assert_memory_equal(w + l4, pkt + l4, 16);
	assert_memory_equal(w + l4 + 18, pkt + l4 + 18, n - l4 - 18);
	/* The TCP checksum field holds the pseudo-header sum (CHECKSUM_PARTIAL). */
	{
		uint64_t sum = (v6 ? csum_add(0, pkt + 8, 32) : csum_add(0, pkt + 12, 8)) + 6 + (n - l4);

		assert_int_equal(g16(w + l4 + 16), (uint16_t)~csum_fold(sum));
	}
	/* A lone segment passes unchanged, marked valid. */
	assert_true(gro_start(&g, segs[3], lens[3]));
	assert_true(gro_flush(&g, &w, &wl));
	memcpy(&out, w, sizeof(out));
	assert_int_equal(out.flags, VIRTIO_NET_HDR_F_DATA_VALID);
	assert_int_equal(out.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	assert_memory_equal(w + VNET_HDR_LEN, segs[3], lens[3]);
	/* SYN, FIN and non-TCP are not coalesced; nor a segment larger than the first. */
	n = build(pkt, v6, 100, 0x02);
	assert_false(gro_start(&g, pkt, n));
	n = build(pkt, v6, 100, 0x11);
	assert_false(gro_start(&g, pkt, n));
	n = build(pkt, v6, 0, 0x10);
	assert_false(gro_start(&g, pkt, n));	/* a pure ACK */
	assert_true(gro_start(&g, segs[10], lens[10]));	/* 123 bytes */
	assert_false(gro_merge(&g, segs[0], lens[0]));
}

static void test_gro_v4(void **state)
{
	(void)state;
	check_gro(false);
}

static void test_gro_v6(void **state)
{
	(void)state;
	check_gro(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tso_v4),
		cmocka_unit_test(test_tso_v6),
		cmocka_unit_test(test_partial_checksum),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_gro_v4),
		cmocka_unit_test(test_gro_v6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
