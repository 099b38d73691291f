/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfs-tunnel: a userspace IPsec ESP tunnel (RFC 4303, AES-256-GCM RFC 4106,
 * UDP encapsulation RFC 3948) between a TUN device and one peer, keyed by a
 * key source (tunnel/keysrc.h). See docs/tunnel.md.
 *
 * Threads: the main thread is the control thread (key source, SA switch-over
 * and expiry, sequence reservations, usage reports, signals). With
 * --threads 2 one worker moves TUN -> UDP (read, segment, seal, sendmmsg
 * with UDP GSO) and one UDP -> TUN (recvmmsg with UDP GRO, open, write);
 * with --threads 1 one worker does both. Buffers are allocated once per
 * worker; nothing is allocated per packet.
 *
 * Fail closed: the only path to the UDP socket goes through sa_seal(); with
 * no usable outbound SA a packet is dropped and counted.
 *
 * Exit statuses: 0 clean shutdown (SIGTERM/SIGINT), 1 runtime failure,
 * 2 bad command line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/udp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/secret.h"
#include "tunnel/esp.h"
#include "tunnel/hwm.h"
#include "tunnel/keysrc.h"
#include "tunnel/offload.h"
#include "tunnel/sa.h"

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define TX_ARENA (512 * 1024)
#define TX_READ_MAX (65535 + VNET_HDR_LEN)
#define TX_BATCH_READS 64		/* TUN reads per batch */
#define TX_MSGS 256
#define GSO_SEGS_MAX 64
#define GSO_BYTES_MAX 65000
#define RX_MSGS 16
#define RX_BUF (65536 + 512)
#define INNER_MAX 9216			/* largest inner packet we send (jumbo) */

/* ---- configuration ---- */

struct conf {
	const char *tun;
	const char *local, *peer;
	int side;			/* 'a' or 'b' */
	const char *static_key_file;
	const char *state_dir;
	const char *mfsd_socket, *mfsd_peer, *mfsd_class;
	unsigned threads;
	uint64_t max_packets, max_bytes, lifetime_s;
	uint64_t switch_delay_ms, grace_ms;
	unsigned stats_interval_s;
	bool offload, udp_gso, no_esn, tun_gro;
};

/* ---- counters ---- */

struct stats {
	_Atomic uint64_t tx_pkts, tx_bytes, tx_nokey, tx_drop, tx_gso_reads;
	_Atomic uint64_t rx_pkts, rx_bytes, rx_writes, rx_auth_fail, rx_replay, rx_nosa, rx_bad, rx_expired;
	_Atomic uint64_t switches;
};

struct tunnel {
	struct conf c;
	int tun_fd, udp_fd;
	int family;
	struct sadb db;
	struct key_source src;
	struct stats st;
	atomic_bool stop;
	atomic_bool udp_gso;
};

static void key_id_short(const uint8_t id[static KEY_ID_LEN], char out[static 17])
{
	if (hex_encode(out, 17, id, 8) < 0)
		out[0] = '\0';
}

/* ---- TX: TUN -> ESP/UDP ---- */

struct tx_buf {
	uint8_t *rd;			/* one TUN read */
	uint8_t *arena;			/* sealed ESP packets, back to back */
	size_t used;
	unsigned n;
	uint16_t len[TX_MSGS];
	uint32_t off[TX_MSGS];
	struct mmsghdr msgs[TX_MSGS];
	struct iovec iov[TX_MSGS];
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl[TX_MSGS];
};

static void tx_flush(struct tunnel *t, struct tx_buf *b)
{
	bool gso = atomic_load(&t->udp_gso);
	unsigned m = 0, i = 0, sent = 0;

	while (i < b->n) {
		/* Group equal-size packets (the last of a group may be shorter): one UDP GSO send. */
		unsigned j = i + 1;
		size_t total = b->len[i];

		if (gso)
			while (j < b->n && j - i < GSO_SEGS_MAX && b->len[j] <= b->len[i] &&
			       total + b->len[j] <= GSO_BYTES_MAX) {
				total += b->len[j];
				if (b->len[j++] < b->len[i])
					break;
			}
		memset(&b->msgs[m], 0, sizeof(b->msgs[m]));
		b->iov[m].iov_base = b->arena + b->off[i];
		b->iov[m].iov_len = total;
		b->msgs[m].msg_hdr.msg_iov = &b->iov[m];
		b->msgs[m].msg_hdr.msg_iovlen = 1;
		if (j - i > 1) {
			struct cmsghdr *cm = (struct cmsghdr *)b->ctl[m].buf;
			uint16_t seg = b->len[i];

			b->msgs[m].msg_hdr.msg_control = b->ctl[m].buf;
			b->msgs[m].msg_hdr.msg_controllen = CMSG_SPACE(sizeof(seg));
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(seg));
			memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
		}
		m++;
		i = j;
	}
	while (sent < m) {
		int r = sendmmsg(t->udp_fd, b->msgs + sent, m - sent, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (gso && (errno == EIO || errno == EINVAL || errno == EOPNOTSUPP)) {
				/* No UDP GSO on this path: fall back to one datagram each. */
				log_warning("UDP GSO refused (%s); sending one datagram per packet",
					    strerror(errno));
				atomic_store(&t->udp_gso, false);
				tx_flush(t, b);
				return;
			}
			/* ECONNREFUSED (peer not up yet), ENOBUFS ...: drop the rest. */
			for (unsigned k = sent; k < m; k++)
				atomic_fetch_add(&t->st.tx_drop, 1);
			break;
		}
		sent += (unsigned)r;
	}
	b->n = 0;
	b->used = 0;
}

/* Seal each segment of one packet read from TUN into the arena. */
static void tx_packet(struct tunnel *t, unsigned worker, struct tx_buf *b, struct sa *sa,
		      uint64_t now, const uint8_t *pkt, size_t len,
		      const struct virtio_net_hdr *vh)
{
	static const struct virtio_net_hdr none;
	struct seg_iter it;
	int r;

	if (seg_init(&it, vh ? vh : &none, pkt, len) < 0) {
		atomic_fetch_add(&t->st.tx_drop, 1);
		return;
	}
	if (it.mss)
		atomic_fetch_add(&t->st.tx_gso_reads, 1);
	if (!sa) {
		/* Fail closed: no usable key, nothing leaves. */
		atomic_fetch_add(&t->st.tx_nokey, seg_count(&it));
		return;
	}
	for (;;) {
		uint8_t *slot, nh;
		int n;

		if (b->n == TX_MSGS || TX_ARENA - b->used < INNER_MAX + ESP_HDR_LEN + ESP_OVERHEAD_MAX)
			tx_flush(t, b);
		slot = b->arena + b->used;
		n = seg_next(&it, slot + ESP_HDR_LEN, INNER_MAX);
		if (n <= 0) {
			if (n < 0)
				atomic_fetch_add(&t->st.tx_drop, 1);
			return;
		}
		nh = (slot[ESP_HDR_LEN] >> 4) == 6 ? ESP_NH_IPV6 : ESP_NH_IPV4;
		r = sa_seal(sa, worker, now, nh, slot, (size_t)n,
			    (size_t)n + ESP_HDR_LEN + ESP_OVERHEAD_MAX);
		if (r < 0) {
			atomic_fetch_add(r == -EKEYEXPIRED || r == -EAGAIN ? &t->st.tx_nokey :
					 &t->st.tx_drop, 1);
			continue;
		}
		b->off[b->n] = (uint32_t)b->used;
		b->len[b->n] = (uint16_t)r;
		b->n++;
		b->used += (size_t)r;	/* back to back: UDP GSO sends a group as one buffer */
		atomic_fetch_add(&t->st.tx_pkts, 1);
		atomic_fetch_add(&t->st.tx_bytes, (uint64_t)n);
	}
}

/* Read a batch from TUN and send it. Returns the number of reads, or -errno. */
static int tx_batch(struct tunnel *t, unsigned worker, struct tx_buf *b)
{
	int reads = 0;
	uint64_t now = (uint64_t)mfs_mono_ns();
	struct sa *sa;

	sadb_rdlock(&t->db);
	sa = t->db.out;
	while (reads < TX_BATCH_READS) {
		ssize_t n = read(t->tun_fd, b->rd, TX_READ_MAX);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			sadb_unlock(&t->db);
			return -errno;
		}
		reads++;
		if (t->c.offload) {
			struct virtio_net_hdr vh;

			if ((size_t)n < VNET_HDR_LEN)
				continue;
			memcpy(&vh, b->rd, sizeof(vh));
			tx_packet(t, worker, b, sa, now, b->rd + VNET_HDR_LEN,
				  (size_t)n - VNET_HDR_LEN, &vh);
		} else {
			tx_packet(t, worker, b, sa, now, b->rd, (size_t)n, NULL);
		}
	}
	if (b->n)
		tx_flush(t, b);
	sadb_unlock(&t->db);
	return reads;
}

/* ---- RX: ESP/UDP -> TUN ---- */

struct rx_buf {
	struct gro *gro;		/* NULL: no coalescing (--no-tun-gro or no offload) */
	uint8_t *bufs[RX_MSGS];
	struct mmsghdr msgs[RX_MSGS];
	struct iovec iov[RX_MSGS];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl[RX_MSGS];
};

/* Verify and decrypt one ESP packet in place; 0 and the inner packet, or < 0 (counted). */
static int rx_packet(struct tunnel *t, unsigned worker, uint8_t *p, size_t len, uint64_t now,
		     uint8_t **ret_inner, size_t *ret_len)
{
	uint32_t spi, seq_lo;
	uint8_t nh;
	size_t inner_len;
	struct sa *sa;
	int r;

	if (len == 1 && p[0] == 0xff)
		return -ENODATA;	/* RFC 3948 NAT-keepalive */
	if (esp_parse(p, len, &spi, &seq_lo) < 0) {
		atomic_fetch_add(&t->st.rx_bad, 1);
		return -EBADMSG;
	}
	sa = sadb_in_lookup(&t->db, spi);
	if (!sa) {
		atomic_fetch_add(&t->st.rx_nosa, 1);
		return -ENOKEY;
	}
	r = sa_open(sa, worker, now, p, len, &nh, &inner_len);
	if (r < 0) {
		if (r == -EKEYREJECTED)
			atomic_fetch_add(&t->st.rx_auth_fail, 1);
		else if (r == -EALREADY)
			atomic_fetch_add(&t->st.rx_replay, 1);
		else if (r == -EKEYEXPIRED)
			atomic_fetch_add(&t->st.rx_expired, 1);
		else if (r != -ENODATA)
			atomic_fetch_add(&t->st.rx_bad, 1);
		return r;
	}
	/* Tunnel mode: the next header must name the inner packet's version. */
	if (inner_len < 20 || !((nh == ESP_NH_IPV4 && (p[ESP_HDR_LEN] >> 4) == 4) ||
				(nh == ESP_NH_IPV6 && (p[ESP_HDR_LEN] >> 4) == 6))) {
		atomic_fetch_add(&t->st.rx_bad, 1);
		return -EBADMSG;
	}
	atomic_fetch_add(&t->st.rx_pkts, 1);
	atomic_fetch_add(&t->st.rx_bytes, inner_len);
	*ret_inner = p + ESP_HDR_LEN;
	*ret_len = inner_len;
	return 0;
}

static void tun_write(struct tunnel *t, const uint8_t *p, size_t len)
{
	if (write(t->tun_fd, p, len) < 0)
		atomic_fetch_add(&t->st.rx_bad, 1);
	else
		atomic_fetch_add(&t->st.rx_writes, 1);
}

static void rx_gro_flush(struct tunnel *t, struct gro *g)
{
	const uint8_t *w;
	size_t n;

	if (gro_flush(g, &w, &n))
		tun_write(t, w, n);
}

/* Hand one inner packet (with ESP_HDR_LEN writable bytes before it) to the TUN device. */
static void rx_deliver(struct tunnel *t, struct gro *g, uint8_t *inner, size_t len)
{
	struct virtio_net_hdr vh = { .flags = VIRTIO_NET_HDR_F_DATA_VALID };

	if (!t->c.offload) {
		tun_write(t, inner, len);
		return;
	}
	if (g) {
		if (gro_merge(g, inner, len))
			return;
		rx_gro_flush(t, g);
		if (gro_start(g, inner, len))
			return;
	}
	/* Alone: the virtio header goes right before the packet, one write. */
	memcpy(inner - VNET_HDR_LEN, &vh, sizeof(vh));
	tun_write(t, inner - VNET_HDR_LEN, len + VNET_HDR_LEN);
}

static int rx_batch(struct tunnel *t, unsigned worker, struct rx_buf *b)
{
	uint64_t now;
	int n;

	for (unsigned i = 0; i < RX_MSGS; i++) {
		b->iov[i].iov_base = b->bufs[i];
		b->iov[i].iov_len = RX_BUF;
		memset(&b->msgs[i], 0, sizeof(b->msgs[i]));
		b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
		b->msgs[i].msg_hdr.msg_iovlen = 1;
		b->msgs[i].msg_hdr.msg_control = b->ctl[i].buf;
		b->msgs[i].msg_hdr.msg_controllen = sizeof(b->ctl[i].buf);
	}
	n = recvmmsg(t->udp_fd, b->msgs, RX_MSGS, MSG_DONTWAIT, NULL);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR || errno == ECONNREFUSED ? 0 : -errno;
	now = (uint64_t)mfs_mono_ns();
	sadb_rdlock(&t->db);
	for (int i = 0; i < n; i++) {
		size_t len = b->msgs[i].msg_len, seg = len;
		struct cmsghdr *cm;

		for (cm = CMSG_FIRSTHDR(&b->msgs[i].msg_hdr); cm;
		     cm = CMSG_NXTHDR(&b->msgs[i].msg_hdr, cm))
			if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
				int v;

				memcpy(&v, CMSG_DATA(cm), sizeof(v));
				if (v > 0)
					seg = (size_t)v;
			}
		/* UDP GRO: equal-size datagrams back to back, the last may be shorter. */
		for (size_t off = 0; off < len; off += seg) {
			uint8_t *inner;
			size_t ilen;

			if (rx_packet(t, worker, b->bufs[i] + off, len - off < seg ? len - off : seg,
				      now, &inner, &ilen) == 0)
				rx_deliver(t, b->gro, inner, ilen);
		}
	}
	sadb_unlock(&t->db);
	if (b->gro)
		rx_gro_flush(t, b->gro);
	return n;
}

/* ---- workers ---- */

struct worker {
	struct tunnel *t;
	unsigned id;
	bool tx, rx;
	pthread_t th;
	struct tx_buf *txb;
	struct rx_buf *rxb;
};

static void worker_free_bufs(struct worker *w)
{
	if (w->txb) {
		free(w->txb->rd);
		free(w->txb->arena);
		free(w->txb);
	}
	if (w->rxb) {
		free(w->rxb->gro);
		for (unsigned i = 0; i < RX_MSGS; i++)
			free(w->rxb->bufs[i]);
		free(w->rxb);
	}
	w->txb = NULL;
	w->rxb = NULL;
}

static int worker_alloc(struct worker *w)
{
	if (w->tx) {
		w->txb = calloc(1, sizeof(*w->txb));
		if (!w->txb || !(w->txb->rd = malloc(TX_READ_MAX)) ||
		    !(w->txb->arena = malloc(TX_ARENA)))
			return -ENOMEM;
	}
	if (w->rx) {
		w->rxb = calloc(1, sizeof(*w->rxb));
		if (!w->rxb)
			return -ENOMEM;
		if (w->t->c.offload && w->t->c.tun_gro && !(w->rxb->gro = calloc(1, sizeof(struct gro))))
			return -ENOMEM;
		for (unsigned i = 0; i < RX_MSGS; i++)
			if (!(w->rxb->bufs[i] = malloc(RX_BUF)))
				return -ENOMEM;
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct tunnel *t = w->t;

	while (!atomic_load(&t->stop)) {
		struct pollfd pfd[2];
		int np = 0, r, busy = 0;

		if (w->tx) {
			if ((r = tx_batch(t, w->id, w->txb)) < 0) {
				log_err("reading %s: %s", t->c.tun, strerror(-r));
				break;
			}
			busy += r;
		}
		if (w->rx) {
			if ((r = rx_batch(t, w->id, w->rxb)) < 0) {
				log_err("receiving: %s", strerror(-r));
				break;
			}
			busy += r;
		}
		if (busy)
			continue;
		if (w->tx)
			pfd[np++] = (struct pollfd){ .fd = t->tun_fd, .events = POLLIN };
		if (w->rx)
			pfd[np++] = (struct pollfd){ .fd = t->udp_fd, .events = POLLIN };
		poll(pfd, (nfds_t)np, 200);
	}
	atomic_store(&t->stop, true);
	return NULL;
}

/* ---- key installation (control thread) ---- */

static int tunnel_install(void *ctx, const struct tunnel_key *k)
{
	struct tunnel *t = ctx;
	struct sa_limits lim = {
		.max_packets = k->max_packets ? k->max_packets : t->c.max_packets,
		.max_bytes = k->max_bytes ? k->max_bytes : t->c.max_bytes,
		.no_esn = t->c.no_esn,
	};
	uint64_t life = k->lifetime_s ? k->lifetime_s : t->c.lifetime_s, now = (uint64_t)mfs_mono_ns();
	uint64_t first = 0, reserved;
	struct sa *out = NULL, *in = NULL;
	bool a = t->c.side == 'a';
	char kid[17];
	int r;

	key_id_short(k->id, kid);
	lim.expiry_ns = now + life * 1000000000ULL;
	if (lim.max_packets > SA_MAX_PACKETS_LIMIT)
		lim.max_packets = SA_MAX_PACKETS_LIMIT;
	reserved = lim.max_packets;
	if (t->c.state_dir && k->dir != KEY_IN) {
		/* Persist the reservation before the first packet uses it. */
		if ((r = hwm_load(t->c.state_dir, k->id, &first)) < 0) {
			log_err("key %s: sequence state in %s: %s", kid, t->c.state_dir,
				mfs_strerror(r));
			return r;
		}
		reserved = first + HWM_STEP;
		if (reserved > lim.max_packets)
			reserved = lim.max_packets;
		if (first >= lim.max_packets) {
			log_err("key %s: used up before a restart (sequence %llu); refusing it", kid,
				(unsigned long long)first);
			return -EKEYEXPIRED;
		}
		if ((r = hwm_store(t->c.state_dir, k->id, reserved)) < 0) {
			log_err("key %s: cannot persist the sequence reservation: %s", kid,
				mfs_strerror(r));
			return r;
		}
	}
	/* Our outbound SA is a->b on side a; the inbound one is the opposite direction. */
	if ((k->dir != KEY_IN &&
	     (r = sa_new(k->key, k->key_len, k->id, a, true, &lim, t->c.threads, first, reserved,
			 &out)) < 0) ||
	    (k->dir != KEY_OUT &&
	     (r = sa_new(k->key, k->key_len, k->id, !a, false, &lim, t->c.threads, 0, 0, &in)) < 0)) {
		log_err("key %s: cannot set up SAs: %s", kid, mfs_strerror(r));
		goto out;
	}
	if (out)
		out->hold = k->hold;
	sadb_wrlock(&t->db);
	if (out && in)
		r = sadb_install(&t->db, out, in, now);
	else if (out)
		r = sadb_install_out(&t->db, out, now);
	else
		r = sadb_install_in(&t->db, in, now);
	sadb_unlock(&t->db);
	if (r < 0) {
		log_err("key %s: cannot install: %s", kid, mfs_strerror(r));
		goto out;
	}
	if (out)
		log_info("key %s installed: out SPI 0x%08x (from sequence %llu), lifetime %llu s, "
			 "at most %llu packets", kid, sa_spi(out), (unsigned long long)first + 1,
			 (unsigned long long)life, (unsigned long long)lim.max_packets);
	if (in)
		log_info("key %s installed: in SPI 0x%08x, lifetime %llu s", kid, sa_spi(in),
			 (unsigned long long)life);
	out = in = NULL;
out:
	sa_free(out);
	sa_free(in);
	return r;
}

static int tunnel_peer_installed(void *ctx, const uint8_t id[static KEY_ID_LEN])
{
	struct tunnel *t = ctx;
	int r;

	sadb_wrlock(&t->db);
	r = sadb_peer_ready(&t->db, id);
	sadb_unlock(&t->db);
	return r;
}

static int tunnel_retire(void *ctx, const uint8_t id[static KEY_ID_LEN])
{
	struct tunnel *t = ctx;
	int r;

	sadb_wrlock(&t->db);
	r = sadb_retire(&t->db, id, (uint64_t)mfs_mono_ns());
	sadb_unlock(&t->db);
	return r;
}

static int tunnel_withdraw(void *ctx, const uint8_t id[static KEY_ID_LEN])
{
	struct tunnel *t = ctx;
	char kid[17];
	int r;

	key_id_short(id, kid);
	sadb_wrlock(&t->db);
	r = sadb_withdraw(&t->db, id);
	sadb_unlock(&t->db);
	if (r == 0)
		log_notice("key %s withdrawn", kid);
	return r;
}

/* Reserve sequence numbers ahead of an outbound SA (fsync outside the lock). */
static void reserve_ahead(struct tunnel *t, struct sa *sa)
{
	uint64_t seq, res, next;
	char kid[17];
	int r;

	if (!sa || !t->c.state_dir)
		return;
	seq = atomic_load(&sa->seq);
	res = atomic_load(&sa->reserved);
	if (res >= sa->lim.max_packets || seq + HWM_STEP / 2 < res)
		return;
	next = res + HWM_STEP;
	if (next > sa->lim.max_packets)
		next = sa->lim.max_packets;
	if ((r = hwm_store(t->c.state_dir, sa->key_id, next)) < 0) {
		key_id_short(sa->key_id, kid);
		log_err("key %s: cannot persist the sequence reservation: %s", kid, mfs_strerror(r));
		return;	/* the SA stops at the old mark: fail closed */
	}
	atomic_store(&sa->reserved, next);
}

static void report_first_use(struct tunnel *t, struct sa *sa)
{
	char kid[17];

	if (!sa || sa->used_reported || !atomic_load(&sa->used))
		return;
	sa->used_reported = true;
	key_id_short(sa->key_id, kid);
	log_info("key %s carries traffic (%s SPI 0x%08x)", kid, sa->outbound ? "out" : "in",
		 sa_spi(sa));
	if (t->src.ops->first_use)
		t->src.ops->first_use(t->src.ctx, sa->key_id, sa->outbound);
}

static void print_stats(struct tunnel *t, const char *why)
{
	struct stats *s = &t->st;

	log_notice("stats (%s): tx_pkts=%llu tx_bytes=%llu tx_nokey=%llu tx_drop=%llu "
		   "tx_gso_reads=%llu rx_pkts=%llu rx_bytes=%llu rx_writes=%llu rx_auth_fail=%llu rx_replay=%llu "
		   "rx_nosa=%llu rx_bad=%llu rx_expired=%llu switches=%llu", why,
		   (unsigned long long)s->tx_pkts, (unsigned long long)s->tx_bytes,
		   (unsigned long long)s->tx_nokey, (unsigned long long)s->tx_drop,
		   (unsigned long long)s->tx_gso_reads,
		   (unsigned long long)s->rx_pkts, (unsigned long long)s->rx_bytes,
		   (unsigned long long)s->rx_writes,
		   (unsigned long long)s->rx_auth_fail, (unsigned long long)s->rx_replay,
		   (unsigned long long)s->rx_nosa, (unsigned long long)s->rx_bad,
		   (unsigned long long)s->rx_expired, (unsigned long long)s->switches);
}

static void control_tick(struct tunnel *t, uint64_t now, bool report)
{
	bool changed, had_out;
	struct sa *out, *pending;
	char kid[17];

	sadb_wrlock(&t->db);
	had_out = t->db.out != NULL;
	changed = sadb_tick(&t->db, now);
	out = t->db.out;
	pending = t->db.pending;
	if (changed) {
		atomic_fetch_add(&t->st.switches, 1);
		if (out) {
			key_id_short(out->key_id, kid);
			log_info("outbound switched to key %s (SPI 0x%08x)", kid, sa_spi(out));
		} else if (had_out) {
			log_warning("no usable key: outbound traffic is dropped (fail closed)");
		}
	}
	/* The control thread is the only one that frees SAs: pointers stay valid here. */
	sadb_unlock(&t->db);
	reserve_ahead(t, out);
	reserve_ahead(t, pending);
	report_first_use(t, out);
	for (unsigned i = 0; i < SADB_IN_MAX; i++)
		report_first_use(t, t->db.in[i]);
	if (out && report) {
		uint64_t p = atomic_load(&out->packets), b = atomic_load(&out->bytes);

		if (t->src.ops->usage)
			t->src.ops->usage(t->src.ctx, out->key_id, p, b);
		if (!pending && t->src.ops->rekey_wanted &&
		    (p >= out->lim.max_packets / 4 * 3 ||
		     (out->lim.max_bytes && b >= out->lim.max_bytes / 4 * 3) ||
		     (out->lim.expiry_ns && out->lim.expiry_ns - now < 60000000000ULL)))
			t->src.ops->rekey_wanted(t->src.ctx, out->key_id);
	}
}

/* ---- setup ---- */

static int open_tun(struct tunnel *t)
{
	struct ifreq ifr = { 0 };
	int fd, r;

	if (strlen(t->c.tun) >= IFNAMSIZ)
		return -ENAMETOOLONG;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (t->c.offload ? IFF_VNET_HDR : 0);
	memcpy(ifr.ifr_name, t->c.tun, strlen(t->c.tun));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		goto fail;
	if (t->c.offload) {
		int sz = (int)VNET_HDR_LEN;

		if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0 ||
		    ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0)
			goto fail;
	}
	t->tun_fd = fd;
	return 0;
fail:
	r = -errno;
	close(fd);
	return r;
}

/* "ADDR:PORT" or "[V6ADDR]:PORT" (numeric only). */
static int parse_endpoint(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2], *end;
	const char *colon = strrchr(s, ':'), *h = s;
	size_t hl;
	unsigned long port;
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_DGRAM }, *ai;

	if (!colon)
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		h = s + 1;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port > 65535)
		return -EINVAL;
	if (getaddrinfo(host, NULL, &hints, &ai) != 0)
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	return 0;
}

static int open_udp(struct tunnel *t)
{
	struct sockaddr_storage l, p;
	socklen_t ll, pl;
	int fd, one = 1, buf = 8 << 20, r;

	if ((r = parse_endpoint(t->c.local, &l, &ll)) < 0) {
		log_err("--local %s: expected ADDR:PORT", t->c.local);
		return r;
	}
	if ((r = parse_endpoint(t->c.peer, &p, &pl)) < 0) {
		log_err("--peer %s: expected ADDR:PORT", t->c.peer);
		return r;
	}
	if (l.ss_family != p.ss_family) {
		log_err("--local and --peer must be of the same address family");
		return -EINVAL;
	}
	fd = socket(l.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
	if (bind(fd, (struct sockaddr *)&l, ll) < 0 || connect(fd, (struct sockaddr *)&p, pl) < 0) {
		r = -errno;
		log_err("UDP %s -> %s: %s", t->c.local, t->c.peer, strerror(-r));
		close(fd);
		return r;
	}
	if (t->c.udp_gso && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) < 0)
		log_warning("UDP GRO not available: %s", strerror(errno));
	/* Sending blocks rather than drops when the socket buffer is full. */
	t->udp_fd = fd;
	t->family = l.ss_family;
	return 0;
}

/* ---- command line ---- */

static void usage(FILE *f)
{
	fprintf(f,
"Usage: mfs-tunnel --peer ADDR:PORT --side a|b KEY-SOURCE [OPTIONS]\n"
"  KEY-SOURCE: --mfsd-peer NAME --mfsd-class NAME [--mfsd-socket PATH]\n"
"              or --static-key-file FILE --state-dir DIR (test/bench aid)\n"
"\n"
"Userspace IPsec ESP tunnel (RFC 4303, AES-256-GCM RFC 4106, 64-bit ESN,\n"
"UDP encapsulation RFC 3948) between a TUN device and one peer. The TUN\n"
"device is created; address, MTU and 'up' are left to ip(8). See docs/tunnel.md.\n"
"\n"
"Endpoints:\n"
"  --tun NAME               TUN device name (default mfs0)\n"
"  --local ADDR:PORT        local UDP endpoint (default 0.0.0.0:4500)\n"
"  --peer ADDR:PORT         the peer's UDP endpoint (required)\n"
"  --side a|b               which end this is; the peer takes the other (required)\n"
"\n"
"Key source (one):\n"
"  --mfsd-peer NAME         mfsd push: subscribe to keys for this peer ...\n"
"  --mfsd-class NAME        ... and data protection class (outbound and inbound)\n"
"  --mfsd-socket PATH       mfsd's push socket (default /run/mfsd/push.sock)\n"
"  --static-key-file PATH   TEST/BENCH AID: one key \"<id 32 hex> <key 64-128 hex>\",\n"
"                           mode 0600; re-read on SIGHUP (new ID = rekey);\n"
"                           needs --state-dir\n"
"  --state-dir DIR          where outbound sequence reservations are persisted, so\n"
"                           that a restart never reuses a (key, IV) pair\n"
"\n"
"Limits and rekey:\n"
"  --max-packets N          packets per key and direction (default 8388608 = 2^23)\n"
"  --max-bytes N            bytes per key and direction (default: no limit)\n"
"  --key-lifetime SEC       hard lifetime of a key without one of its own (default 3600)\n"
"  --switch-delay MS        send on a new key at the latest this long after\n"
"                           installing it, earlier when the peer uses it (default 1000)\n"
"  --grace MS               keep the old inbound SA this long after a switch (default 5000)\n"
"\n"
"Data plane:\n"
"  --threads 1|2            1: one worker for both directions; 2: one per direction\n"
"                           (default 2)\n"
"  --no-offload             no IFF_VNET_HDR/TSO on the TUN device (implies --no-tun-gro)\n"
"  --no-tun-gro             write received TCP segments one by one instead of\n"
"                           coalescing them into super-packets\n"
"  --no-udp-gso             no UDP_SEGMENT/UDP_GRO (one datagram per packet)\n"
"  --no-esn                 32-bit sequence numbers instead of 64-bit ESN (both ends\n"
"                           must agree; for decoders without ESN such as Wireshark)\n"
"  --stats-interval SEC     log counters every SEC seconds (default 0: at exit and\n"
"                           on SIGUSR1 only)\n"
"  --log-level LEVEL        err|warning|notice|info|debug (default info)\n"
"  -h, --help               this text\n"
"\n"
"Signals: SIGHUP re-reads the static key file, SIGUSR1 logs counters,\n"
"SIGTERM/SIGINT stop. Exit status: 0 stopped by a signal, 1 failure, 2 usage.\n");
}

static int parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "mfs-tunnel: %s '%s': expected a number from %llu to %llu\n", opt,
			s, (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct conf *c)
{
	enum { O_TUN = 256, O_LOCAL, O_PEER, O_SIDE, O_STATIC, O_STATE, O_THREADS, O_MAXP,
	       O_MAXB, O_LIFE, O_SWITCH, O_GRACE, O_NOOFF, O_NOGSO, O_STATS, O_LOG, O_NOESN, O_NOGRO, O_MSOCK, O_MPEER, O_MCLASS };
	static const struct option opts[] = {
		{ "tun", required_argument, NULL, O_TUN },
		{ "local", required_argument, NULL, O_LOCAL },
		{ "peer", required_argument, NULL, O_PEER },
		{ "side", required_argument, NULL, O_SIDE },
		{ "static-key-file", required_argument, NULL, O_STATIC },
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "max-packets", required_argument, NULL, O_MAXP },
		{ "max-bytes", required_argument, NULL, O_MAXB },
		{ "key-lifetime", required_argument, NULL, O_LIFE },
		{ "switch-delay", required_argument, NULL, O_SWITCH },
		{ "grace", required_argument, NULL, O_GRACE },
		{ "no-offload", no_argument, NULL, O_NOOFF },
		{ "no-udp-gso", no_argument, NULL, O_NOGSO },
		{ "no-esn", no_argument, NULL, O_NOESN },
		{ "no-tun-gro", no_argument, NULL, O_NOGRO },
		{ "mfsd-socket", required_argument, NULL, O_MSOCK },
		{ "mfsd-peer", required_argument, NULL, O_MPEER },
		{ "mfsd-class", required_argument, NULL, O_MCLASS },
		{ "stats-interval", required_argument, NULL, O_STATS },
		{ "log-level", required_argument, NULL, O_LOG },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t v;
	int o;

	*c = (struct conf){
		.tun = "mfs0", .local = "0.0.0.0:4500", .threads = 2,
		.max_packets = SA_DEFAULT_MAX_PACKETS, .lifetime_s = 3600,
		.switch_delay_ms = 1000, .grace_ms = 5000, .offload = true, .udp_gso = true, .tun_gro = true,
	};
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case O_TUN: c->tun = optarg; break;
		case O_LOCAL: c->local = optarg; break;
		case O_PEER: c->peer = optarg; break;
		case O_SIDE:
			if (strcmp(optarg, "a") && strcmp(optarg, "b")) {
				fprintf(stderr, "mfs-tunnel: --side must be a or b\n");
				return -EINVAL;
			}
			c->side = optarg[0];
			break;
		case O_STATIC: c->static_key_file = optarg; break;
		case O_STATE: c->state_dir = optarg; break;
		case O_THREADS:
			if (parse_u64("--threads", optarg, 1, 2, &v) < 0)
				return -EINVAL;
			c->threads = (unsigned)v;
			break;
		case O_MAXP:
			if (parse_u64("--max-packets", optarg, 1, SA_MAX_PACKETS_LIMIT,
				      &c->max_packets) < 0)
				return -EINVAL;
			break;
		case O_MAXB:
			if (parse_u64("--max-bytes", optarg, 0, UINT64_MAX, &c->max_bytes) < 0)
				return -EINVAL;
			break;
		case O_LIFE:
			if (parse_u64("--key-lifetime", optarg, 1, 30 * 86400ULL, &c->lifetime_s) < 0)
				return -EINVAL;
			break;
		case O_SWITCH:
			if (parse_u64("--switch-delay", optarg, 0, 600000, &c->switch_delay_ms) < 0)
				return -EINVAL;
			break;
		case O_GRACE:
			if (parse_u64("--grace", optarg, 0, 600000, &c->grace_ms) < 0)
				return -EINVAL;
			break;
		case O_NOOFF: c->offload = false; break;
		case O_NOGSO: c->udp_gso = false; break;
		case O_NOESN: c->no_esn = true; break;
		case O_NOGRO: c->tun_gro = false; break;
		case O_MSOCK: c->mfsd_socket = optarg; break;
		case O_MPEER: c->mfsd_peer = optarg; break;
		case O_MCLASS: c->mfsd_class = optarg; break;
		case O_STATS:
			if (parse_u64("--stats-interval", optarg, 0, 86400, &v) < 0)
				return -EINVAL;
			c->stats_interval_s = (unsigned)v;
			break;
		case O_LOG: {
			enum mfs_log_level l;

			if (mfs_log_level_parse(optarg, &l) < 0) {
				fprintf(stderr, "mfs-tunnel: --log-level '%s': expected "
					"err|warning|notice|info|debug\n", optarg);
				return -EINVAL;
			}
			mfs_log_set_level(l);
			break;
		}
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "Try 'mfs-tunnel --help'.\n");
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mfs-tunnel: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!c->peer || !c->side) {
		fprintf(stderr, "mfs-tunnel: --peer and --side are required (see --help)\n");
		return -EINVAL;
	}
	if (!c->static_key_file == !(c->mfsd_peer || c->mfsd_class || c->mfsd_socket)) {
		fprintf(stderr, "mfs-tunnel: give one key source: --mfsd-peer/--mfsd-class "
			"(mfsd push) or --static-key-file (test/bench aid)\n");
		return -EINVAL;
	}
	if (!c->static_key_file && (!c->mfsd_peer || !c->mfsd_class)) {
		fprintf(stderr, "mfs-tunnel: the mfsd source needs --mfsd-peer and --mfsd-class\n");
		return -EINVAL;
	}
	if (c->static_key_file && !c->state_dir) {
		fprintf(stderr, "mfs-tunnel: --static-key-file needs --state-dir (sequence "
			"reservations survive a restart there)\n");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct tunnel t;	/* large; and the workers point into it */
	struct worker w[2] = { 0 };
	unsigned nw = 0;
	struct key_sink sink = { .ctx = &t, .install = tunnel_install, .withdraw = tunnel_withdraw,
				 .peer_installed = tunnel_peer_installed, .retire = tunnel_retire };
	sigset_t set;
	int sfd = -1, r, ret = 1;
	bool db_ready = false;
	uint64_t last_report = 0, last_stats = 0;

	mfs_log_set_ident("mfs-tunnel");
	if (parse_args(argc, argv, &t.c) < 0)
		return 2;
	t.tun_fd = t.udp_fd = -1;
	atomic_init(&t.udp_gso, t.c.udp_gso);
	if ((r = mfs_harden_process()) < 0)
		log_warning("process hardening: %s", mfs_strerror(r));

	/* Signals go to the control thread only (signalfd); block them before any thread. */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigdelset(&set, SIGHUP);	/* SIGHUP belongs to the static key source */
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		goto out;
	}
	if (t.c.state_dir) {
		struct stat stt;

		if (stat(t.c.state_dir, &stt) < 0 || !S_ISDIR(stt.st_mode)) {
			log_err("--state-dir %s: not a directory", t.c.state_dir);
			goto out;
		}
	}
	if ((r = sadb_init(&t.db, t.c.switch_delay_ms * 1000000ULL, t.c.grace_ms * 1000000ULL)) < 0)
		goto out;
	db_ready = true;
	if (t.c.static_key_file) {
		if ((r = keysrc_static_new(t.c.static_key_file, &t.src)) < 0) {
			log_err("key source: %s", mfs_strerror(r));
			goto out;
		}
		log_warning("keys come from %s, %s", t.c.static_key_file,
			    "a test/benchmark aid: use the mfsd push source in production");
	} else if ((r = keysrc_mfsd_new(t.c.mfsd_socket, t.c.mfsd_peer, t.c.mfsd_class,
					&t.src)) < 0) {
		log_err("mfsd key source: %s", mfs_strerror(r));
		goto out;
	}
	if ((r = open_tun(&t)) < 0) {
		log_err("TUN device %s: %s", t.c.tun, strerror(-r));
		goto out;
	}
	if ((r = open_udp(&t)) < 0)
		goto out;
	/* The first key, if the source has one now; without it the tunnel drops (fail closed). */
	if ((r = t.src.ops->dispatch(t.src.ctx, &sink)) < 0 && t.c.static_key_file)
		goto out;	/* the static file is unusable: said why */

	if (t.c.threads == 1) {
		w[nw++] = (struct worker){ .t = &t, .id = 0, .tx = true, .rx = true };
	} else {
		w[nw++] = (struct worker){ .t = &t, .id = 0, .tx = true };
		w[nw++] = (struct worker){ .t = &t, .id = 1, .rx = true };
	}
	for (unsigned i = 0; i < nw; i++) {
		if ((r = worker_alloc(&w[i])) < 0 ||
		    (r = -pthread_create(&w[i].th, NULL, worker_main, &w[i])) < 0) {
			log_err("worker %u: %s", i, strerror(-r));
			atomic_store(&t.stop, true);
			nw = i;
			goto join;
		}
	}
	log_info("tunnel %s up: %s <-> %s, side %c, %u thread(s), offload %s, UDP GSO %s",
		 t.c.tun, t.c.local, t.c.peer, t.c.side, t.c.threads, t.c.offload ? "on" : "off",
		 t.c.udp_gso ? "on" : "off");
	ret = 0;
	while (!atomic_load(&t.stop)) {
		struct pollfd pfd[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = t.src.ops->fd(t.src.ctx), .events = POLLIN },
		};
		uint64_t now;

		if (poll(pfd, 2, 50) < 0 && errno != EINTR) {
			log_err("poll: %s", strerror(errno));
			ret = 1;
			break;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGUSR1) {
					print_stats(&t, "SIGUSR1");
				} else {
					log_info("signal %u: stopping", si.ssi_signo);
					atomic_store(&t.stop, true);
				}
			}
		}
		if (pfd[1].revents & POLLIN)
			t.src.ops->dispatch(t.src.ctx, &sink);
		if (t.src.ops->tick)
			t.src.ops->tick(t.src.ctx, &sink);
		now = (uint64_t)mfs_mono_ns();
		control_tick(&t, now, now - last_report >= 1000000000ULL);
		if (now - last_report >= 1000000000ULL)
			last_report = now;
		if (t.c.stats_interval_s &&
		    now - last_stats >= t.c.stats_interval_s * 1000000000ULL) {
			print_stats(&t, "interval");
			last_stats = now;
		}
	}
join:
	atomic_store(&t.stop, true);
	for (unsigned i = 0; i < nw; i++)
		pthread_join(w[i].th, NULL);
	print_stats(&t, "exit");
out:
	for (unsigned i = 0; i < 2; i++)
		worker_free_bufs(&w[i]);
	if (t.src.ops)
		t.src.ops->free(t.src.ctx);
	if (db_ready)
		sadb_done(&t.db);
	if (t.tun_fd >= 0)
		close(t.tun_fd);
	if (t.udp_fd >= 0)
		close(t.udp_fd);
	if (sfd >= 0)
		close(sfd);
	return ret;
}
