/* SPDX-License-Identifier: Apache-2.0 */
/* QKD module simulation, KMA link key store and the relay hop (qlink.h). */
#include "qkdsim/qlink.h"

#include <errno.h>
#include <string.h>

#include "crypto/hash.h"
#include "crypto/mac.h"

static const char block_label[] = "qkdsim link block";

static size_t ring_cap(const struct qend *e)
{
	return e->ring ? e->ring->len : 0;
}

/* Copy len bytes at absolute offset off out of (or into, if in) the ring. */
static void ring_io(struct qend *e, uint64_t off, uint8_t *out, const uint8_t *in, size_t len)
{
	size_t cap = ring_cap(e);

	while (len) {
		size_t pos = (size_t)(off % cap);
		size_t n = cap - pos < len ? cap - pos : len;

		if (in)
			memcpy(e->ring->p + pos, in, n);
		else
			memcpy(out, e->ring->p + pos, n);
		off += n;
		len -= n;
		if (in)
			in += n;
		else
			out += n;
	}
}

/* Wipe [head, to) and move head there. */
static void ring_consume(struct qend *e, uint64_t to)
{
	size_t cap = ring_cap(e);

	while (e->head < to) {
		size_t pos = (size_t)(e->head % cap);
		uint64_t n = cap - pos;

		if (n > to - e->head)
			n = to - e->head;
		mfs_wipe(e->ring->p + pos, (size_t)n);
		e->head += n;
	}
}

int qlink_init(struct qlink *l, const struct qconf_link *cfg, const uint8_t seed[QCONF_SEED_LEN],
	       uint64_t now_ms)
{
	size_t cap = (cfg->pool_bits / 8) / QLINK_BLOCK * QLINK_BLOCK;

	memset(l, 0, sizeof(*l));
	if (cap < 2 * QLINK_BLOCK)
		return -EINVAL;
	l->cfg = cfg;
	l->seed = secret_dup(seed, QCONF_SEED_LEN);
	l->end[0].ring = secret_alloc(cap);
	l->end[1].ring = secret_alloc(cap);
	if (!l->seed || !l->end[0].ring || !l->end[1].ring) {
		qlink_free(l);
		return -ENOMEM;
	}
	l->qber_cp = cfg->qber_cp;
	l->last_ms = l->win_start_ms = now_ms;
	return 0;
}

void qlink_free(struct qlink *l)
{
	secret_free(l->seed);
	secret_free(l->end[0].ring);
	secret_free(l->end[1].ring);
	memset(l, 0, sizeof(*l));
}

void qlink_set_eavesdrop(struct qlink *l, bool on)
{
	l->eavesdrop = on;
}

/* Block idx of the link's key stream, as one end computes it on its own. */
static int gen_block(const struct qlink *l, uint64_t idx, uint8_t out[QLINK_BLOCK])
{
	uint8_t in[sizeof(block_label) - 1 + QCONF_SEED_LEN + 8];
	int r;

	memcpy(in, block_label, sizeof(block_label) - 1);
	memcpy(in + sizeof(block_label) - 1, l->seed->p, QCONF_SEED_LEN);
	for (int i = 0; i < 8; i++)
		in[sizeof(in) - 1 - i] = (uint8_t)(idx >> (8 * i));
	r = shake256(in, sizeof(in), out, QLINK_BLOCK);
	mfs_wipe(in, sizeof(in));
	return r;
}

/* Each end produces block idx itself and appends it at its tail. */
static int produce_block(struct qlink *l)
{
	uint8_t blk[QLINK_BLOCK];

	for (int e = 0; e < 2; e++) {
		struct qend *end = &l->end[e];
		int r = gen_block(l, end->tail / QLINK_BLOCK, blk);

		if (r < 0) {
			mfs_wipe(blk, sizeof(blk));
			return r;
		}
		ring_io(end, end->tail, NULL, blk, QLINK_BLOCK);
		end->tail += QLINK_BLOCK;
	}
	mfs_wipe(blk, sizeof(blk));
	l->produced_bits += 8 * QLINK_BLOCK;
	l->win_bits += 8 * QLINK_BLOCK;
	return 0;
}

static bool room(const struct qlink *l)
{
	for (int e = 0; e < 2; e++)
		if (qlink_avail(l, e) + QLINK_BLOCK > ring_cap(&l->end[e]))
			return false;
	return true;
}

int qlink_tick(struct qlink *l, uint64_t now_ms)
{
	uint64_t dt = now_ms > l->last_ms ? now_ms - l->last_ms : 0;
	bool alarm;
	int changed = 0;

	l->last_ms = now_ms;
	l->qber_cp = l->eavesdrop ? QLINK_EAVESDROP_QBER : l->cfg->qber_cp;
	alarm = l->qber_cp > l->cfg->threshold_cp;
	if (alarm != l->alarm) {
		l->alarm = alarm;
		changed = 1;
		if (alarm) {
			l->alarms++;
			l->alarm_since_ms = now_ms;
		}
	}
	if (now_ms - l->win_start_ms >= 1000) {
		l->rate_bps = l->win_bits * 1000 / (now_ms - l->win_start_ms);
		l->win_bits = 0;
		l->win_start_ms = now_ms;
	}
	if (l->alarm) {
		/* The modules abort every distillation round: no key, no credit. */
		l->credit_bits = 0;
		return changed;
	}
	/* dt < 2^40 ms and rate <= 1e9 keep this within 64 bits. */
	if (dt > (1ULL << 40))
		dt = 1ULL << 40;
	l->credit_bits += l->cfg->rate_bps * dt / 1000;
	while (l->credit_bits >= 8 * QLINK_BLOCK && room(l)) {
		int r = produce_block(l);

		if (r < 0)
			return r;
		l->credit_bits -= 8 * QLINK_BLOCK;
	}
	/* A full store drops what the modules made meanwhile (as a real KMA must). */
	if (!room(l) && l->credit_bits > 8 * QLINK_BLOCK)
		l->credit_bits = 8 * QLINK_BLOCK;
	return changed;
}

static int put_name(struct wbuf *w, const char *s)
{
	size_t n = strnlen(s, QCONF_NAME_MAX + 1);

	if (!qconf_name_valid(s, n))
		return -EINVAL;
	return wbuf_vec8(w, s, n);
}

int qlink_relay_seal(struct qlink *l, int e, const struct qrelay_hdr *h,
		     const uint8_t *key, size_t klen, struct wbuf *out)
{
	struct qend *end = &l->end[e];
	uint8_t mk[QLINK_MAC_KEY], pad[QLINK_RELAY_KEY_MAX];
	uint64_t off = end->head;
	uint8_t *ct, *tag;
	size_t start = out->len;
	int r;

	if (e < 0 || e > 1 || klen == 0 || klen > QLINK_RELAY_KEY_MAX ||
	    strcmp(h->link, l->cfg->name) != 0)
		return -EINVAL;
	if (qlink_avail(l, e) < qlink_relay_cost(klen))
		return -EAGAIN;
	wbuf_u8(out, QLINK_RELAY_VERSION);
	wbuf_u8(out, 1);
	if (put_name(out, h->link) || put_name(out, h->from) || put_name(out, h->to) ||
	    put_name(out, h->src) || put_name(out, h->dst))
		return -EINVAL;
	wbuf_put(out, h->key_id, 16);
	if (put_name(out, h->master) || put_name(out, h->slave))
		return -EINVAL;
	wbuf_u64(out, off);
	wbuf_u16(out, (uint16_t)klen);
	wbuf_reserve(out, klen, &ct);
	if (wbuf_error(out))
		return wbuf_error(out);
	ring_io(end, off, mk, NULL, sizeof(mk));
	ring_io(end, off + QLINK_MAC_KEY, pad, NULL, klen);
	for (size_t i = 0; i < klen; i++)
		ct[i] = key[i] ^ pad[i];
	r = wbuf_reserve(out, QLINK_TAG, &tag);
	if (!r)
		r = hmac(HASH_SHA256, mk, sizeof(mk), out->p + start,
			 out->len - start - QLINK_TAG, tag);
	mfs_wipe(mk, sizeof(mk));
	mfs_wipe(pad, klen);
	if (r < 0)
		return r;
	/* Used once: gone from the sender's store whatever happens to the message. */
	ring_consume(end, off + qlink_relay_cost(klen));
	l->consumed_bits[e] += 8 * qlink_relay_cost(klen);
	return 0;
}

static int get_name(struct rd *r, char *dst)
{
	struct rd v;
	int e = rd_vec8(r, QCONF_NAME_MAX, &v);

	if (e < 0)
		return e;
	if (!qconf_name_valid((const char *)v.p, v.n))
		return -EBADMSG;
	memcpy(dst, v.p, v.n);
	dst[v.n] = '\0';
	return 0;
}

int qlink_relay_parse(struct rd msg, struct qrelay_hdr *h, uint64_t *offset,
		      const uint8_t **ct, size_t *ct_len, const uint8_t **tag,
		      size_t *authed_len)
{
	const uint8_t *start = msg.p;
	uint8_t ver, type;
	uint16_t klen;
	int r;

	memset(h, 0, sizeof(*h));
	if ((r = rd_u8(&msg, &ver)) || (r = rd_u8(&msg, &type)))
		return r;
	if (ver != QLINK_RELAY_VERSION || type != 1)
		return -EBADMSG;
	if ((r = get_name(&msg, h->link)) || (r = get_name(&msg, h->from)) ||
	    (r = get_name(&msg, h->to)) || (r = get_name(&msg, h->src)) ||
	    (r = get_name(&msg, h->dst)) || (r = rd_copy(&msg, h->key_id, 16)) ||
	    (r = get_name(&msg, h->master)) || (r = get_name(&msg, h->slave)) ||
	    (r = rd_u64(&msg, offset)) || (r = rd_u16(&msg, &klen)))
		return r;
	if (klen == 0 || klen > QLINK_RELAY_KEY_MAX)
		return -EMSGSIZE;
	/* A relay offset fits the store's 64-bit counters with room for the key. */
	if (*offset > UINT64_MAX / 2)
		return -EBADMSG;
	if ((r = rd_bytes(&msg, klen, ct)))
		return r;
	*ct_len = klen;
	*authed_len = (size_t)(msg.p - start);
	if ((r = rd_bytes(&msg, QLINK_TAG, tag)))
		return r;
	return rd_end(&msg);
}

int qlink_relay_open(struct qlink *l, int e, const uint8_t *msg, size_t len,
		     struct qrelay_hdr *h, uint8_t *key, size_t *klen)
{
	struct qend *end;
	uint8_t mk[QLINK_MAC_KEY], want[QLINK_TAG];
	const uint8_t *ct, *tag;
	size_t ct_len, authed;
	uint64_t off;
	int r;

	*klen = 0;
	if (e < 0 || e > 1)
		return -EINVAL;
	end = &l->end[e];
	r = qlink_relay_parse(rd_init(msg, len), h, &off, &ct, &ct_len, &tag, &authed);
	if (r < 0)
		return r;
	if (strcmp(h->link, l->cfg->name) != 0)
		return -EINVAL;
	if (off < end->head)
		return -EALREADY;
	if (off + qlink_relay_cost(ct_len) > end->tail)
		return -EAGAIN;
	ring_io(end, off, mk, NULL, sizeof(mk));
	r = hmac(HASH_SHA256, mk, sizeof(mk), msg, authed, want);
	mfs_wipe(mk, sizeof(mk));
	if (r < 0)
		return r;
	if (!mfs_ct_eq(want, tag, QLINK_TAG))
		return -EKEYREJECTED;
	ring_io(end, off + QLINK_MAC_KEY, key, NULL, ct_len);
	for (size_t i = 0; i < ct_len; i++)
		key[i] ^= ct[i];
	*klen = ct_len;
	/* Consume up to the end of this message: skipped link key is burnt. */
	l->consumed_bits[e] += 8 * (off + qlink_relay_cost(ct_len) - end->head);
	ring_consume(end, off + qlink_relay_cost(ct_len));
	return 0;
}
