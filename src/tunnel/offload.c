/* SPDX-License-Identifier: Apache-2.0 */
#include "tunnel/offload.h"

#include <errno.h>
#include <string.h>

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
	/* Sum 32-bit big-endian words into 64 bits; carries fold at the end. */
	while (len >= 4) {
		sum += (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		sum += (uint32_t)p[0] << 8 | p[1];
		p += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

int seg_init(struct seg_iter *it, const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len)
{
	uint8_t gso = vh->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	size_t l4, thl;

	memset(it, 0, sizeof(*it));
	it->pkt = pkt;
	it->len = len;
	if (len < 1)
		return -EBADMSG;
	it->v6 = (pkt[0] >> 4) == 6;
	if (!it->v6 && (pkt[0] >> 4) != 4)
		return -EBADMSG;
	if (gso == VIRTIO_NET_HDR_GSO_NONE) {
		if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
			if ((size_t)vh->csum_start + vh->csum_offset + 2 > len)
				return -EBADMSG;
			it->csum = true;
			it->csum_start = vh->csum_start;
			it->csum_offset = vh->csum_offset;
		}
		return 0;
	}
	if (gso != VIRTIO_NET_HDR_GSO_TCPV4 && gso != VIRTIO_NET_HDR_GSO_TCPV6)
		return -EOPNOTSUPP;
	if (it->v6 != (gso == VIRTIO_NET_HDR_GSO_TCPV6) || vh->gso_size == 0)
		return -EBADMSG;
	if (it->v6) {
		if (len < 40)
			return -EBADMSG;
		if (pkt[6] != 6)	/* TCP right after the fixed header */
			return -EOPNOTSUPP;
		l4 = 40;
	} else {
		if (len < 20 || (pkt[0] & 0x0f) < 5 || pkt[9] != 6)
			return -EBADMSG;
		l4 = (size_t)(pkt[0] & 0x0f) * 4;
	}
	if (len < l4 + 20)
		return -EBADMSG;
	thl = (size_t)(pkt[l4 + 12] >> 4) * 4;
	if (thl < 20 || len < l4 + thl)
		return -EBADMSG;
	it->l4 = l4;
	it->hlen = l4 + thl;
	it->mss = vh->gso_size;
	return 0;
}

unsigned seg_count(const struct seg_iter *it)
{
	size_t pl;

	if (!it->mss)
		return 1;
	pl = it->len - it->hlen;
	return pl ? (unsigned)((pl + it->mss - 1) / it->mss) : 1;
}

static int emit_plain(struct seg_iter *it, uint8_t *out, size_t cap)
{
	if (it->len > cap)
		return -EMSGSIZE;
	memcpy(out, it->pkt, it->len);
	if (it->csum) {
		/* The field holds the pseudo-header sum; sum from csum_start over it. */
		uint16_t c = csum_fold(csum_add(0, out + it->csum_start, it->len - it->csum_start));

		put16(out + it->csum_start + it->csum_offset, c);
	}
	it->done = true;
	return (int)it->len;
}

int seg_next(struct seg_iter *it, uint8_t *out, size_t cap)
{
	size_t pl_total, chunk, n, tcp_len;
	uint8_t *tcp;
	uint64_t sum;
	uint32_t seq;
	bool first, last;

	if (it->done)
		return 0;
	if (!it->mss)
		return emit_plain(it, out, cap);
	pl_total = it->len - it->hlen;
	chunk = pl_total - it->off;
	if (chunk > it->mss)
		chunk = it->mss;
	n = it->hlen + chunk;
	if (n > cap)
		return -EMSGSIZE;
	first = it->idx == 0;
	last = it->off + chunk >= pl_total;
	memcpy(out, it->pkt, it->hlen);
	memcpy(out + it->hlen, it->pkt + it->hlen + it->off, chunk);

	tcp = out + it->l4;
	tcp_len = n - it->l4;
	if (it->v6) {
		put16(out + 4, (uint16_t)tcp_len);
		sum = csum_add(0, out + 8, 32);	/* source and destination */
	} else {
		put16(out + 2, (uint16_t)n);
		put16(out + 4, (uint16_t)(get16(it->pkt + 4) + it->idx));	/* IP ID */
		put16(out + 10, 0);
		put16(out + 10, csum_fold(csum_add(0, out, it->l4)));
		sum = csum_add(0, out + 12, 8);
	}
	sum += 6 + tcp_len;	/* pseudo header: protocol, TCP length */
	seq = (uint32_t)get16(tcp + 4) << 16 | get16(tcp + 6);
	seq += (uint32_t)it->off;
	put16(tcp + 4, (uint16_t)(seq >> 16));
	put16(tcp + 6, (uint16_t)seq);
	if (!last)
		tcp[13] &= (uint8_t)~0x09;	/* FIN, PSH: last segment only */
	if (!first)
		tcp[13] &= (uint8_t)~0x80;	/* CWR: first segment only */
	put16(tcp + 16, 0);
	put16(tcp + 16, csum_fold(csum_add(sum, tcp, tcp_len)));

	it->off += chunk;
	it->idx++;
	if (last)
		it->done = true;
	return (int)n;
}

/* Offsets of a TCP/IP packet: l4 and header length; false if not TCP we can coalesce. */
static bool tcp_parse(const uint8_t *p, size_t len, bool *v6, size_t *l4, size_t *hlen)
{
	size_t thl;

	if (len < 40)
		return false;
	if ((p[0] >> 4) == 4) {
		*v6 = false;
		*l4 = (size_t)(p[0] & 0x0f) * 4;
		/* TCP, no fragment, lengths consistent */
		if (*l4 < 20 || p[9] != 6 || (p[6] & 0x3f) || p[7] || get16(p + 2) != len)
			return false;
	} else if ((p[0] >> 4) == 6) {
		*v6 = true;
		*l4 = 40;
		if (p[6] != 6 || (size_t)get16(p + 4) + 40 != len)
			return false;
	} else {
		return false;
	}
	if (len < *l4 + 20)
		return false;
	thl = (size_t)(p[*l4 + 12] >> 4) * 4;
	if (thl < 20 || len < *l4 + thl)
		return false;
	*hlen = *l4 + thl;
	return true;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

bool gro_start(struct gro *g, const uint8_t *pkt, size_t len)
{
	size_t l4, hlen;
	bool v6;
	uint8_t fl;

	if (len > GRO_MAX || !tcp_parse(pkt, len, &v6, &l4, &hlen) || len == hlen)
		return false;
	fl = pkt[l4 + 13];
	if ((fl & ~0x08) != 0x10)	/* ACK, maybe PSH; nothing else */
		return false;
	memcpy(g->buf + VNET_HDR_LEN, pkt, len);
	g->len = len;
	g->l4 = l4;
	g->hlen = hlen;
	g->mss = len - hlen;
	g->segs = 1;
	g->next_seq = get32(pkt + l4 + 4) + (uint32_t)(len - hlen);
	g->v6 = v6;
	g->open = true;
	g->closed = (fl & 0x08) != 0;
	return true;
}

bool gro_merge(struct gro *g, const uint8_t *pkt, size_t len)
{
	const uint8_t *h = g->buf + VNET_HDR_LEN;
	size_t l4 = g->l4, hlen = g->hlen, pl;
	uint8_t fl;

	if (!g->open || g->closed || g->segs >= GRO_SEGS_MAX || len <= hlen ||
	    g->len + (len - hlen) > GRO_MAX || (pkt[0] >> 4) != (g->v6 ? 6 : 4))
		return false;
	pl = len - hlen;
	if (pl > g->mss)
		return false;
	/* IP header: equal except lengths, ID and checksum. */
	if (g->v6) {
		if (memcmp(pkt, h, 4) || memcmp(pkt + 6, h + 6, 34) || get16(pkt + 4) + 40U != len)
			return false;
	} else {
		if (pkt[0] != h[0] || pkt[1] != h[1] || memcmp(pkt + 6, h + 6, 4) ||
		    memcmp(pkt + 12, h + 12, l4 - 12) || get16(pkt + 2) != len)
			return false;
	}
	/* TCP header: equal except sequence number, checksum and PSH. */
	fl = pkt[l4 + 13];
	if (memcmp(pkt + l4, h + l4, 4) || memcmp(pkt + l4 + 8, h + l4 + 8, 5) ||
	    (fl & ~0x08) != 0x10 || memcmp(pkt + l4 + 14, h + l4 + 14, 2) ||
	    memcmp(pkt + l4 + 18, h + l4 + 18, hlen - l4 - 18) ||
	    get32(pkt + l4 + 4) != g->next_seq)
		return false;
	memcpy(g->buf + VNET_HDR_LEN + g->len, pkt + hlen, pl);
	g->len += pl;
	g->segs++;
	g->next_seq += (uint32_t)pl;
	if (fl & 0x08) {
		g->buf[VNET_HDR_LEN + l4 + 13] |= 0x08;
		g->closed = true;
	}
	if (pl < g->mss)
		g->closed = true;	/* only the last segment may be short */
	return true;
}

bool gro_flush(struct gro *g, const uint8_t **ret, size_t *ret_len)
{
	struct virtio_net_hdr vh = { 0 };
	uint8_t *p = g->buf + VNET_HDR_LEN;
	uint64_t sum;

	if (!g->open)
		return false;
	g->open = false;
	if (g->segs == 1) {
		/* Unchanged: its own checksum is intact and was verified by the ICV. */
		vh.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	} else {
		size_t tcp_len = g->len - g->l4;

		if (g->v6) {
			put16(p + 4, (uint16_t)tcp_len);
			sum = csum_add(0, p + 8, 32);
		} else {
			put16(p + 2, (uint16_t)g->len);
			put16(p + 10, 0);
			put16(p + 10, csum_fold(csum_add(0, p, g->l4)));
			sum = csum_add(0, p + 12, 8);
		}
		/* CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum, not complemented. */
		sum += 6 + tcp_len;
		put16(p + g->l4 + 16, (uint16_t)~csum_fold(sum));
		vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh.gso_type = g->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
		vh.gso_size = (uint16_t)g->mss;
		vh.hdr_len = (uint16_t)g->hlen;
		vh.csum_start = (uint16_t)g->l4;
		vh.csum_offset = 16;
	}
	memcpy(g->buf, &vh, sizeof(vh));
	*ret = g->buf;
	*ret_len = VNET_HDR_LEN + g->len;
	return true;
}
