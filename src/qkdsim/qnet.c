/* SPDX-License-Identifier: Apache-2.0 */
/* The simulated QKD network: KMA relay and KSA key stores (qnet.h). */
#include "qkdsim/qnet.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/mac.h"
#include "crypto/rng.h"

__attribute__((format(printf, 2, 3)))
static void why(struct qnet *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(n->why, sizeof(n->why), fmt, ap);
	va_end(ap);
}

const char *qnet_why(const struct qnet *n)
{
	return n->why[0] ? n->why : "no error";
}

__attribute__((format(printf, 4, 5)))
static void event(struct qnet *n, int link, bool alarm, const char *fmt, ...)
{
	struct qnet_event *ev = &n->events[n->n_events % QNET_EVENTS];
	va_list ap;

	ev->ms = n->now_ms;
	ev->link = link;
	ev->alarm = alarm;
	va_start(ap, fmt);
	vsnprintf(ev->text, sizeof(ev->text), fmt, ap);
	va_end(ap);
	n->n_events++;
}

int qnet_init(struct qnet *n, struct qconf *cfg, uint64_t now_ms)
{
	static const char salt[] = "qkdsim v1 link seed";
	uint8_t master[QCONF_SEED_LEN], seed[QCONF_SEED_LEN];
	int r = 0;

	memset(n, 0, sizeof(*n));
	n->cfg = cfg;
	n->now_ms = now_ms;
	if (cfg->have_seed)
		memcpy(master, cfg->seed, sizeof(master));
	else if ((r = crypto_random(master, sizeof(master))) < 0)
		goto out;
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		n->nodes[i].cfg = &cfg->nodes[i];
		n->nodes[i].keys = calloc(QNET_NODE_KEYS_MAX, sizeof(struct qnet_key));
		if (!n->nodes[i].keys) {
			r = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < cfg->n_links && !r; i++) {
		const char *name = cfg->links[i].name;

		r = hkdf(HASH_SHA256, (const uint8_t *)salt, sizeof(salt) - 1, master,
			 sizeof(master), (const uint8_t *)name, strlen(name), seed, sizeof(seed));
		if (!r)
			r = qlink_init(&n->links[i], &cfg->links[i], seed, now_ms);
	}
out:
	mfs_wipe(master, sizeof(master));
	mfs_wipe(seed, sizeof(seed));
	if (r < 0)
		qnet_free(n);
	return r;
}

void qnet_free(struct qnet *n)
{
	struct qconf *cfg = n->cfg;

	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		struct qnet_node *nd = &n->nodes[i];

		for (size_t k = 0; nd->keys && k < nd->n_keys; k++)
			secret_free(nd->keys[k].key);
		free(nd->keys);
	}
	for (size_t i = 0; i < cfg->n_links; i++)
		qlink_free(&n->links[i]);
	free(cfg);
	memset(n, 0, sizeof(*n));
}

int qnet_tick(struct qnet *n, uint64_t now_ms)
{
	if (now_ms > n->now_ms)
		n->now_ms = now_ms;
	for (size_t i = 0; i < n->cfg->n_links; i++) {
		struct qlink *l = &n->links[i];
		int r = qlink_tick(l, n->now_ms);

		if (r < 0)
			return r;
		if (r == 1 && l->alarm)
			event(n, (int)i, true, "QBER %u.%02u%% above threshold %u.%02u%% on link %s: key generation stopped",
			      l->qber_cp / 100, l->qber_cp % 100, l->cfg->threshold_cp / 100,
			      l->cfg->threshold_cp % 100, l->cfg->name);
		else if (r == 1)
			event(n, (int)i, false, "QBER %u.%02u%% back within threshold on link %s: key generation resumed",
			      l->qber_cp / 100, l->qber_cp % 100, l->cfg->name);
	}
	return 0;
}

int qnet_eavesdrop(struct qnet *n, const char *link, bool on)
{
	int i = qconf_link_index(n->cfg, link);

	if (i < 0) {
		why(n, "unknown link '%.32s'", link);
		return -ENOENT;
	}
	if (n->links[i].eavesdrop != on)
		event(n, i, false, "eavesdropper %s on link %s", on ? "placed" : "removed", link);
	qlink_set_eavesdrop(&n->links[i], on);
	return 0;
}

/* Breadth-first search from a; skip alarmed links when live. */
static int bfs(struct qnet *n, int a, int b, bool live, struct qnet_path *ret)
{
	const struct qconf *c = n->cfg;
	int prev_link[QCONF_MAX_NODES], queue[QCONF_MAX_NODES];
	bool seen[QCONF_MAX_NODES] = { false };
	size_t qh = 0, qt = 0;

	seen[a] = true;
	queue[qt++] = a;
	while (qh < qt && !seen[b]) {
		int u = queue[qh++];

		for (size_t i = 0; i < c->n_links; i++) {
			const struct qconf_link *l = &c->links[i];
			int v;

			if ((int)l->a == u)
				v = (int)l->b;
			else if ((int)l->b == u)
				v = (int)l->a;
			else
				continue;
			if (seen[v] || (live && n->links[i].alarm))
				continue;
			seen[v] = true;
			prev_link[v] = (int)i;
			queue[qt++] = v;
		}
	}
	if (!seen[b])
		return -ENETUNREACH;
	/* Walk back from b, then reverse. */
	{
		int nodes[QCONF_MAX_NODES + 1], links[QCONF_MAX_NODES];
		size_t h = 0;
		int v = b;

		nodes[0] = b;
		while (v != a) {
			const struct qconf_link *l = &c->links[prev_link[v]];

			links[h] = prev_link[v];
			v = (int)l->a == v ? (int)l->b : (int)l->a;
			nodes[++h] = v;
		}
		ret->n_hops = h;
		for (size_t i = 0; i <= h; i++)
			ret->node[i] = nodes[h - i];
		for (size_t i = 0; i < h; i++)
			ret->link[i] = links[h - 1 - i];
	}
	return 0;
}

int qnet_route(struct qnet *n, int a, int b, struct qnet_path *ret)
{
	struct qnet_path stat;

	memset(ret, 0, sizeof(*ret));
	if (a < 0 || b < 0 || (size_t)a >= n->cfg->n_nodes || (size_t)b >= n->cfg->n_nodes)
		return -EINVAL;
	if (bfs(n, a, b, true, ret) == 0)
		return 0;
	if (bfs(n, a, b, false, &stat) == 0) {
		for (size_t i = 0; i < stat.n_hops; i++)
			if (n->links[stat.link[i]].alarm) {
				why(n, "no relay path from %s to %s: QBER alarm on link %s",
				    n->cfg->nodes[a].name, n->cfg->nodes[b].name,
				    n->cfg->links[stat.link[i]].name);
				return -ENETUNREACH;
			}
	}
	why(n, "no relay path from %s to %s", n->cfg->nodes[a].name, n->cfg->nodes[b].name);
	return -ENETUNREACH;
}

/* Which end of link li is at node v. */
static int end_at(const struct qnet *n, int li, int v)
{
	return (int)n->cfg->links[li].a == v ? 0 : 1;
}

int qnet_relay(struct qnet *n, const struct qnet_path *path, const struct qrelay_hdr *h0,
	       const uint8_t *key, size_t klen, uint8_t *out_key)
{
	uint8_t msg[QLINK_RELAY_MSG_MAX];
	uint8_t cur[QLINK_RELAY_KEY_MAX];
	struct qrelay_hdr h = *h0, got;
	int r = 0;

	if (klen == 0 || klen > QLINK_RELAY_KEY_MAX)
		return -EINVAL;
	for (size_t i = 0; i < path->n_hops; i++)
		if (qlink_avail(&n->links[path->link[i]],
				end_at(n, path->link[i], path->node[i])) < qlink_relay_cost(klen)) {
			why(n, "not enough link key on link %s", n->cfg->links[path->link[i]].name);
			return -EAGAIN;
		}
	memcpy(cur, key, klen);
	for (size_t i = 0; i < path->n_hops && !r; i++) {
		int li = path->link[i];
		struct qlink *l = &n->links[li];
		struct wbuf w = wbuf_init(msg, sizeof(msg));
		size_t got_len = 0;

		snprintf(h.link, sizeof(h.link), "%s", l->cfg->name);
		snprintf(h.from, sizeof(h.from), "%s", n->cfg->nodes[path->node[i]].name);
		snprintf(h.to, sizeof(h.to), "%s", n->cfg->nodes[path->node[i + 1]].name);
		r = qlink_relay_seal(l, end_at(n, li, path->node[i]), &h, cur, klen, &w);
		if (!r) {
			n->relay_msgs++;
			r = qlink_relay_open(l, end_at(n, li, path->node[i + 1]), msg, w.len, &got,
					     cur, &got_len);
		}
		if (!r && (got_len != klen || memcmp(got.key_id, h.key_id, 16) != 0))
			r = -EPROTO;
		if (r < 0)
			why(n, "relay over link %s failed: %s", l->cfg->name, strerror(-r));
		else
			n->nodes[path->node[i + 1]].relayed++;
	}
	if (!r)
		memcpy(out_key, cur, klen);
	else
		n->relay_failures++;
	mfs_wipe(cur, sizeof(cur));
	mfs_wipe(msg, sizeof(msg));
	return r;
}

void qnet_keys_free(struct qnet_keys *k)
{
	secret_free(k->keys);
	k->keys = NULL;
	k->number = 0;
}

static int check_sae(struct qnet *n, int node, const char *sae, bool at_node)
{
	int where = qconf_sae_node(n->cfg, sae);

	if (where < 0) {
		why(n, "unknown SAE '%.32s'", sae);
		return -1;
	}
	if (at_node && where != node) {
		why(n, "SAE '%.32s' is not attached to node %s", sae, n->cfg->nodes[node].name);
		return -1;
	}
	return where;
}

static int new_key_id(uint8_t id[16])
{
	int r = crypto_random_public(id, 16);

	id[6] = (id[6] & 0x0f) | 0x40;	/* version 4 (RFC 9562 §5.4) */
	id[8] = (id[8] & 0x3f) | 0x80;	/* variant 10 */
	return r;
}

int qnet_enc_keys(struct qnet *n, int node, const char *master, const char *slave,
		  unsigned number, unsigned size_bits, struct qnet_keys *out)
{
	const struct qconf *c = n->cfg;
	struct qnet_path path;
	struct qnet_node *dst;
	struct qrelay_hdr h;
	size_t bytes;
	int sn, r;

	memset(out, 0, sizeof(*out));
	n->why[0] = '\0';
	if (node < 0 || (size_t)node >= c->n_nodes)
		return -EINVAL;
	if (check_sae(n, node, master, true) < 0)
		return -EACCES;
	if ((sn = check_sae(n, node, slave, false)) < 0)
		return -EINVAL;
	if (!number)
		number = 1;
	if (!size_bits)
		size_bits = c->key_size;
	if (number > c->max_key_per_request || number > sizeof(out->ids) / 16) {
		why(n, "number %u exceeds max_key_per_request %u", number, c->max_key_per_request);
		return -EINVAL;
	}
	if (size_bits % 8) {
		why(n, "size shall be a multiple of 8");
		return -EINVAL;
	}
	if (size_bits < c->min_key_size || size_bits > c->max_key_size) {
		why(n, "size %u outside %u..%u", size_bits, c->min_key_size, c->max_key_size);
		return -EINVAL;
	}
	bytes = size_bits / 8;
	dst = &n->nodes[sn];
	if (dst->n_keys + number > QNET_NODE_KEYS_MAX) {
		why(n, "key store of node %s is full", c->nodes[sn].name);
		return -ENOSPC;
	}
	if (sn != node) {
		if ((r = qnet_route(n, node, sn, &path)) < 0)
			return r;
		/* All or nothing: every link must cover all the keys first. */
		for (size_t i = 0; i < path.n_hops; i++) {
			const struct qlink *l = &n->links[path.link[i]];

			if (qlink_avail(l, end_at(n, path.link[i], path.node[i])) <
			    number * qlink_relay_cost(bytes)) {
				why(n, "not enough key on link %s (%llu bits, need %zu)", l->cfg->name,
				    (unsigned long long)(8 * qlink_avail(l, end_at(n, path.link[i], path.node[i]))),
				    8 * number * qlink_relay_cost(bytes));
				return -EAGAIN;
			}
		}
	}
	out->keys = secret_alloc(number * bytes);
	if (!out->keys)
		return -ENOMEM;
	out->number = number;
	out->bytes = bytes;
	memset(&h, 0, sizeof(h));
	snprintf(h.src, sizeof(h.src), "%s", c->nodes[node].name);
	snprintf(h.dst, sizeof(h.dst), "%s", c->nodes[sn].name);
	snprintf(h.master, sizeof(h.master), "%s", master);
	snprintf(h.slave, sizeof(h.slave), "%s", slave);
	for (size_t i = 0; i < number; i++) {
		uint8_t *k = out->keys->p + i * bytes;
		struct qnet_key *slot = &dst->keys[dst->n_keys];

		if ((r = new_key_id(out->ids[i])) < 0 || (r = crypto_random(k, bytes)) < 0)
			goto fail;
		memcpy(h.key_id, out->ids[i], 16);
		slot->key = secret_alloc(bytes);
		if (!slot->key) {
			r = -ENOMEM;
			goto fail;
		}
		if (sn == node)
			memcpy(slot->key->p, k, bytes);
		else if ((r = qnet_relay(n, &path, &h, k, bytes, slot->key->p)) < 0) {
			secret_free(slot->key);
			slot->key = NULL;
			goto fail;
		}
		memcpy(slot->id, out->ids[i], 16);
		slot->master_node = (uint16_t)node;
		snprintf(slot->master, sizeof(slot->master), "%s", master);
		snprintf(slot->slave, sizeof(slot->slave), "%s", slave);
		slot->created_ms = n->now_ms;
		dst->n_keys++;
	}
	n->nodes[node].enc_served += number;
	return 0;
fail:
	/*
	 * Not reachable after the capacity check short of an internal error;
	 * keys already at the destination are withdrawn so that no key exists
	 * at one end only.
	 */
	for (size_t i = 0; i < out->number; i++)
		for (size_t k = 0; k < dst->n_keys; k++)
			if (memcmp(dst->keys[k].id, out->ids[i], 16) == 0) {
				secret_free(dst->keys[k].key);
				dst->keys[k] = dst->keys[--dst->n_keys];
				memset(&dst->keys[dst->n_keys], 0, sizeof(dst->keys[0]));
				break;
			}
	qnet_keys_free(out);
	return r;
}

int qnet_dec_keys(struct qnet *n, int node, const char *slave, const char *master,
		  const uint8_t (*ids)[16], size_t n_ids, struct qnet_keys *out)
{
	struct qnet_node *nd;
	size_t idx[1024];
	size_t bytes = 0;

	memset(out, 0, sizeof(*out));
	n->why[0] = '\0';
	if (node < 0 || (size_t)node >= n->cfg->n_nodes)
		return -EINVAL;
	nd = &n->nodes[node];
	if (check_sae(n, node, slave, true) < 0)
		return -EACCES;
	if (n_ids == 0 || n_ids > n->cfg->max_key_per_request || n_ids > 1024) {
		why(n, "between 1 and %u key IDs per request", n->cfg->max_key_per_request);
		return -EINVAL;
	}
	for (size_t i = 0; i < n_ids; i++) {
		size_t k;

		for (size_t j = 0; j < i; j++)
			if (memcmp(ids[i], ids[j], 16) == 0) {
				why(n, "key ID given twice");
				return -EINVAL;
			}
		for (k = 0; k < nd->n_keys; k++)
			if (memcmp(nd->keys[k].id, ids[i], 16) == 0)
				break;
		if (k == nd->n_keys) {
			why(n, "one or more keys specified are not found on KME");
			return -ENOENT;
		}
		if (strcmp(nd->keys[k].slave, slave) != 0 || strcmp(nd->keys[k].master, master) != 0) {
			why(n, "key not supplied to this SAE pair");
			return -EACCES;
		}
		if (i && nd->keys[k].key->len != bytes) {
			why(n, "key IDs of different sizes in one request");
			return -EINVAL;
		}
		bytes = nd->keys[k].key->len;
		idx[i] = k;
	}
	out->keys = secret_alloc(n_ids * bytes);
	if (!out->keys)
		return -ENOMEM;
	out->number = n_ids;
	out->bytes = bytes;
	for (size_t i = 0; i < n_ids; i++) {
		memcpy(out->ids[i], ids[i], 16);
		memcpy(out->keys->p + i * bytes, nd->keys[idx[i]].key->p, bytes);
	}
	/* Removed from the pool (§6.4 post-condition): served once. */
	for (size_t i = 0; i < n_ids; i++) {
		size_t k;

		for (k = 0; k < nd->n_keys; k++)
			if (memcmp(nd->keys[k].id, ids[i], 16) == 0)
				break;
		secret_free(nd->keys[k].key);
		nd->keys[k] = nd->keys[--nd->n_keys];
		memset(&nd->keys[nd->n_keys], 0, sizeof(nd->keys[0]));
	}
	nd->dec_served += n_ids;
	return 0;
}

int qnet_status(struct qnet *n, int node, const char *master, const char *slave,
		struct qnet_status *st)
{
	const struct qconf *c = n->cfg;
	struct qnet_path path;
	size_t bytes = c->key_size / 8, used = 0;
	uint64_t count = UINT64_MAX, maxc = UINT64_MAX;
	int sn;

	memset(st, 0, sizeof(*st));
	n->why[0] = '\0';
	if (node < 0 || (size_t)node >= c->n_nodes)
		return -EINVAL;
	if (check_sae(n, node, master, true) < 0)
		return -EACCES;
	if ((sn = check_sae(n, node, slave, false)) < 0)
		return -EINVAL;
	snprintf(st->source_kme, sizeof(st->source_kme), "%s", c->nodes[node].kme_id);
	snprintf(st->target_kme, sizeof(st->target_kme), "%s", c->nodes[sn].kme_id);
	st->key_size = c->key_size;
	st->max_key_per_request = c->max_key_per_request;
	st->max_key_size = c->max_key_size;
	st->min_key_size = c->min_key_size;
	if (sn == node) {
		st->stored_key_count = QNET_NODE_KEYS_MAX - (unsigned)n->nodes[sn].n_keys;
		st->max_key_count = QNET_NODE_KEYS_MAX;
		return 0;
	}
	/* Alarms on the static path are reported whether or not a detour exists. */
	if (bfs(n, node, sn, false, &path) == 0)
		for (size_t i = 0; i < path.n_hops; i++) {
			const struct qlink *l = &n->links[path.link[i]];
			int w;

			if (!l->alarm)
				continue;
			w = snprintf(st->alarm_links + used, sizeof(st->alarm_links) - used, "%s%s",
				     used ? "," : "", l->cfg->name);
			if (w > 0 && (size_t)w < sizeof(st->alarm_links) - used)
				used += (size_t)w;
		}
	if (qnet_route(n, node, sn, &path) < 0) {
		st->stored_key_count = 0;
		st->max_key_count = 0;
		return 0;
	}
	st->hops = path.n_hops;
	for (size_t i = 0; i < path.n_hops; i++) {
		const struct qlink *l = &n->links[path.link[i]];
		uint64_t have = qlink_avail(l, end_at(n, path.link[i], path.node[i]));
		uint64_t cap = l->end[0].ring->len;

		if (have / qlink_relay_cost(bytes) < count)
			count = have / qlink_relay_cost(bytes);
		if (cap / qlink_relay_cost(bytes) < maxc)
			maxc = cap / qlink_relay_cost(bytes);
	}
	if (count > QNET_NODE_KEYS_MAX - n->nodes[sn].n_keys)
		count = QNET_NODE_KEYS_MAX - n->nodes[sn].n_keys;
	st->stored_key_count = (unsigned)count;
	st->max_key_count = (unsigned)(maxc < QNET_NODE_KEYS_MAX ? maxc : QNET_NODE_KEYS_MAX);
	return 0;
}
