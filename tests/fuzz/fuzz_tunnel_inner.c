/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The parsers mfs-tunnel runs on inner packets (src/tunnel/offload.c):
 * receive coalescing (gro_start/gro_merge/gro_flush) of packets that came
 * out of the decryptor, i.e. from the peer, and TSO segmentation
 * (seg_init/seg_next) of what the TUN device hands over, with an arbitrary
 * virtio header.
 *
 * Input: a sequence of records "u16 length (big-endian) || bytes". Each
 * record is first segmented with a virtio header taken from its first 10
 * bytes (every segment must fit and the count must match seg_count()), then
 * fed to GRO as a packet. Invariants: a flushed group is never longer than
 * GRO_MAX plus the virtio header, holds exactly the payload bytes that were
 * merged, and a packet refused by gro_merge() leaves the group unchanged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tunnel/offload.h"

static struct gro g;
static uint8_t seg[70000];

static void die(const char *what)
{
	fprintf(stderr, "fuzz_tunnel_inner: %s\n", what);
	abort();
}

static void segment(const uint8_t *p, size_t n)
{
	struct virtio_net_hdr vh;
	struct seg_iter it;
	unsigned count = 0, want;
	int m;

	if (n < sizeof(vh))
		return;
	memcpy(&vh, p, sizeof(vh));
	if (seg_init(&it, &vh, p + sizeof(vh), n - sizeof(vh)) < 0)
		return;
	want = seg_count(&it);
	while ((m = seg_next(&it, seg, sizeof(seg))) > 0) {
		if ((size_t)m > sizeof(seg))
			die("segment overflow");
		count++;
	}
	if (m < 0)
		die("segment refused after seg_init accepted the packet");
	if (count != want)
		die("seg_count disagrees");
}

static void flush(size_t want_len)
{
	const uint8_t *w;
	size_t wl;

	if (!gro_flush(&g, &w, &wl))
		return;
	if (wl > VNET_HDR_LEN + GRO_MAX || wl != want_len)
		die("flushed length wrong");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, open_len = 0;

	memset(&g, 0, sizeof(g));
	while (size - off >= 2) {
		size_t n = (size_t)data[off] << 8 | data[off + 1];
		const uint8_t *p = data + off + 2;
		struct gro before;

		off += 2;
		if (n > size - off)
			n = size - off;
		off += n;
		segment(p, n);
		before = g;
		if (gro_merge(&g, p, n)) {
			if (g.len != before.len + (n - before.hlen))
				die("merge added the wrong number of bytes");
			open_len = VNET_HDR_LEN + g.len;
			continue;
		}
		if (memcmp(&before, &g, sizeof(g)) != 0)
			die("refused merge changed the group");
		flush(open_len);
		if (gro_start(&g, p, n)) {
			if (g.len != n)
				die("start length wrong");
			open_len = VNET_HDR_LEN + n;
		}
	}
	flush(open_len);
	return 0;
}
