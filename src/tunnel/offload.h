/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TUN offloads (IFF_VNET_HDR + TUNSETOFFLOAD): packets read from the TUN
 * device start with a struct virtio_net_hdr and may be TCP super-packets
 * (TSO/GSO, up to 64 KiB) or carry a partial checksum. Before encryption
 * every packet must be a complete wire packet, so the tunnel segments them
 * itself (as the kernel's GSO would): one TCP segment of at most gso_size
 * payload bytes per inner packet, IP lengths, IDs and checksums fixed, the
 * TCP sequence number advanced, FIN/PSH only on the last segment, CWR only on
 * the first, and the TCP checksum computed in full.
 *
 * struct seg_iter walks one packet read from TUN; seg_next() writes the
 * next complete inner packet into caller memory. No allocation.
 */
#ifndef MFS_TUNNEL_OFFLOAD_H
#define MFS_TUNNEL_OFFLOAD_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VNET_HDR_LEN sizeof(struct virtio_net_hdr)

struct seg_iter {
	const uint8_t *pkt;	/* the IP packet (after the virtio header) */
	size_t len;
	size_t l4;		/* offset of the TCP header */
	size_t hlen;		/* IP + TCP header length */
	size_t mss;		/* payload bytes per segment; 0: not GSO */
	size_t off;		/* payload bytes emitted so far */
	unsigned idx;
	bool v6, csum, done;
	uint16_t csum_start, csum_offset;
};

/*
 * Start walking a packet read from TUN with offloads on: vh is its virtio
 * header, pkt/len the IP packet. -EBADMSG malformed, -EOPNOTSUPP a GSO type
 * other than TCPv4/TCPv6 or IPv6 extension headers under TSO.
 */
int seg_init(struct seg_iter *it, const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len);

/*
 * Write the next complete inner packet into out (cap bytes). Returns its
 * length, 0 when the packet is exhausted, -EMSGSIZE if cap is too small.
 */
int seg_next(struct seg_iter *it, uint8_t *out, size_t cap);

/* Number of segments seg_next() will produce. */
unsigned seg_count(const struct seg_iter *it);

/* RFC 1071 one's-complement sum of len bytes added to sum (not folded). */
uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len);
/* Fold to 16 bits and complement. */
uint16_t csum_fold(uint64_t sum);

#endif
