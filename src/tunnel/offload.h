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

/*
 * Receive-side coalescing (GRO) towards the TUN device: consecutive TCP
 * segments of one flow, as they leave the decryptor, are merged into one
 * super-packet written with a virtio header (GSO TCPv4/TCPv6, gso_size =
 * the first segment's payload, NEEDS_CSUM with the pseudo-header sum in the
 * TCP checksum field), as the kernel's own GRO would: same headers except
 * lengths, IPv4 ID and checksums, contiguous sequence numbers, only ACK
 * (and PSH, which ends the group) set, every segment but the last of the
 * first one's size. Anything else is passed through alone, unchanged.
 *
 * Use: for each packet, gro_merge(); if it returns false, gro_flush() the
 * open group, then gro_start() the packet; if that returns false too, write
 * the packet alone. At the end of a batch gro_flush().
 */
#define GRO_MAX 65000		/* IP bytes of a coalesced packet */
#define GRO_SEGS_MAX 64

struct gro {
	uint8_t buf[VNET_HDR_LEN + GRO_MAX];	/* virtio header, then the packet */
	size_t len;			/* IP bytes in buf */
	size_t l4, hlen, mss;
	unsigned segs;
	uint32_t next_seq;
	bool v6, open, closed;
};

/* Append pkt to the open group; false (nothing changed) when it does not belong. */
bool gro_merge(struct gro *g, const uint8_t *pkt, size_t len);
/* Open a group with pkt; false when pkt is not a coalescible TCP segment. */
bool gro_start(struct gro *g, const uint8_t *pkt, size_t len);
/*
 * Close the open group: *ret points at the bytes to write to TUN (virtio
 * header included), *ret_len their length. False when no group was open.
 */
bool gro_flush(struct gro *g, const uint8_t **ret, size_t *ret_len);

/* RFC 1071 one's-complement sum of len bytes added to sum (not folded). */
uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len);
/* Fold to 16 bits and complement. */
uint16_t csum_fold(uint64_t sum);

#endif
