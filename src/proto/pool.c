/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pool keys and key IDs (docs/protocol.md §7).
 */
#include "proto/pool.h"

#include <errno.h>
#include <string.h>

#include "base/secret.h"
#include "crypto/mac.h"

#define KEY_INFO "mfsec v3 key"
#define NODE_INFO "mfsec v3 node"

void pool_exchange_id_from(uint8_t id[static POOL_ID_LEN])
{
	id[6] = (uint8_t)((id[6] & 0x0f) | 0x80);	/* version 8 */
	id[8] = 0x80;					/* variant 10, direction 0 */
	id[9] = 0;					/* index 0 */
}

bool pool_exchange_id_valid(const uint8_t id[static POOL_ID_LEN])
{
	return (id[6] & 0xf0) == 0x80 && id[8] == 0x80 && id[9] == 0;
}

void pool_key_id(const uint8_t xid[static POOL_ID_LEN], unsigned d, unsigned i,
		 uint8_t out[static POOL_ID_LEN])
{
	memcpy(out, xid, POOL_ID_LEN);
	out[8] = (uint8_t)(0x80 | (d & 1));
	out[9] = (uint8_t)i;
}

uint64_t pool_tag(const uint8_t xid[static POOL_ID_LEN])
{
	uint64_t t = 0;

	for (size_t k = 0; k < 8; k++)
		t = t << 8 | xid[k];
	return t;
}

int pool_key_id_parse(const uint8_t id[static POOL_ID_LEN], uint64_t *ret_tag, unsigned *ret_d,
		      unsigned *ret_i, uint8_t ret_xid[static POOL_ID_LEN])
{
	if ((id[6] & 0xf0) != 0x80 || (id[8] & 0xfe) != 0x80 || id[9] >= POOL_KEYS_MAX)
		return -EINVAL;
	*ret_tag = pool_tag(id);
	*ret_d = id[8] & 1;
	*ret_i = id[9];
	memcpy(ret_xid, id, POOL_ID_LEN);
	pool_exchange_id_from(ret_xid);
	return 0;
}

int pool_node_child(const uint8_t *in, unsigned d, unsigned depth, unsigned index, unsigned b,
		    uint8_t *out)
{
	uint8_t info[sizeof(NODE_INFO) - 1 + 3];
	size_t l = sizeof(NODE_INFO) - 1;
	int r;

	if (!in || !out || d > 1 || depth >= POOL_TREE_DEPTH || index >= (1u << depth) || b > 1)
		return -EINVAL;
	memcpy(info, NODE_INFO, l);
	info[l] = (uint8_t)d;
	info[l + 1] = (uint8_t)(depth + 1);
	info[l + 2] = (uint8_t)(2 * index + b);
	r = hmac(HASH_SHA256, in, POOL_NODE_LEN, info, sizeof(info), out);
	if (r < 0)
		mfs_wipe(out, POOL_NODE_LEN);
	return r < 0 ? r : 0;
}

int pool_leaf_key(const uint8_t *leaf, unsigned d, unsigned i, size_t len, uint8_t *out)
{
	uint8_t info[sizeof(KEY_INFO) - 1 + 5];
	size_t l = sizeof(KEY_INFO) - 1;
	int r;

	if (!leaf || !out || d > 1 || i >= POOL_KEYS_MAX || len < 1 || len > POOL_KEY_MAX_LEN)
		return -EINVAL;
	memcpy(info, KEY_INFO, l);
	info[l] = (uint8_t)d;
	info[l + 1] = (uint8_t)(i >> 8);
	info[l + 2] = (uint8_t)i;
	info[l + 3] = (uint8_t)(len >> 8);
	info[l + 4] = (uint8_t)len;
	r = hkdf_expand(HASH_SHA384, leaf, POOL_NODE_LEN, info, sizeof(info), out, len);
	if (r < 0)
		mfs_wipe(out, len);
	return r < 0 ? r : 0;
}

int pool_key_derive(const uint8_t *secret, unsigned d, unsigned i, size_t len, uint8_t *out)
{
	struct secret *w;
	int r = 0;

	if (!secret || !out || d > 1 || i >= POOL_KEYS_MAX || len < 1 || len > POOL_KEY_MAX_LEN)
		return -EINVAL;
	if (!(w = secret_alloc(2 * POOL_NODE_LEN))) {
		mfs_wipe(out, len);
		return -ENOMEM;
	}
	memcpy(w->p, secret, POOL_NODE_LEN);
	for (unsigned k = 0; k < POOL_TREE_DEPTH && r == 0; k++) {
		unsigned j = i >> (POOL_TREE_DEPTH - k);

		r = pool_node_child(w->p, d, k, j, (i >> (POOL_TREE_DEPTH - k - 1)) & 1,
				    w->p + POOL_NODE_LEN);
		memcpy(w->p, w->p + POOL_NODE_LEN, POOL_NODE_LEN);
	}
	if (r == 0)
		r = pool_leaf_key(w->p, d, i, len, out);
	else
		mfs_wipe(out, len);
	secret_free(w);
	return r;
}

size_t pool_frontier_nodes(uint64_t u, struct pool_node nodes[static POOL_FRONTIER_MAX])
{
	size_t n = 0;
	unsigned i = 0;

	/* Greedy in leaf order: the largest aligned block at i that lies in u. */
	while (i < POOL_KEYS_MAX) {
		unsigned k;

		if (!((u >> i) & 1)) {
			i++;
			continue;
		}
		for (k = 0; k < POOL_TREE_DEPTH; k++) {
			unsigned size = 1u << (POOL_TREE_DEPTH - k);
			uint64_t m = size == 64 ? ~0ULL : ((1ULL << size) - 1) << i;

			if (i % size == 0 && (u & m) == m)
				break;
		}
		nodes[n].depth = (uint8_t)k;
		nodes[n].index = (uint8_t)(i >> (POOL_TREE_DEPTH - k));
		n++;
		i += 1u << (POOL_TREE_DEPTH - k);
	}
	return n;
}

int pool_frontier_puncture(unsigned d, uint64_t *u, uint8_t *seeds, unsigned i,
			   uint8_t leaf[static POOL_NODE_LEN])
{
	struct pool_node nodes[POOL_FRONTIER_MAX];
	/* in secret memory: cur, child 0, child 1, then the siblings: left ones, right ones */
	struct secret *ws;
	uint8_t *w, *sib[2];
	unsigned n_sib[2] = { 0, 0 };
	size_t n, m, added;
	unsigned k, j;
	int r = 0;

	if (!u || !seeds || d > 1 || i >= POOL_KEYS_MAX || !((*u >> i) & 1))
		return -EINVAL;
	n = pool_frontier_nodes(*u, nodes);
	for (m = 0; m < n; m++) {
		unsigned sh = POOL_TREE_DEPTH - nodes[m].depth;

		if ((i >> sh) == nodes[m].index)
			break;
	}
	if (m == n)
		return -EINVAL;	/* cannot happen: i is in u */
	if (!(ws = secret_alloc((3 + 2 * POOL_TREE_DEPTH) * POOL_NODE_LEN)))
		return -ENOMEM;
	w = ws->p;
	sib[0] = w + 3 * POOL_NODE_LEN;
	sib[1] = sib[0] + POOL_TREE_DEPTH * POOL_NODE_LEN;
	k = nodes[m].depth;
	j = nodes[m].index;
	memcpy(w, seeds + m * POOL_NODE_LEN, POOL_NODE_LEN);
	for (; k < POOL_TREE_DEPTH; k++) {
		unsigned b = (i >> (POOL_TREE_DEPTH - k - 1)) & 1;

		if ((r = pool_node_child(w, d, k, j, 0, w + POOL_NODE_LEN)) < 0 ||
		    (r = pool_node_child(w, d, k, j, 1, w + 2 * POOL_NODE_LEN)) < 0)
			goto out;
		/* the sibling of the path: sib[0] left of i (b = 1), sib[1] right of it */
		memcpy(sib[!b] + n_sib[!b]++ * POOL_NODE_LEN, w + (2 - b) * POOL_NODE_LEN,
		       POOL_NODE_LEN);
		memcpy(w, w + (1 + b) * POOL_NODE_LEN, POOL_NODE_LEN);
		j = 2 * j + b;
	}
	memcpy(leaf, w, POOL_NODE_LEN);
	/*
	 * New order: nodes before m, left siblings (shallow first: further
	 * left), right siblings (deep first), nodes after m.
	 */
	added = n_sib[0] + n_sib[1];
	if (n - 1 + added > POOL_FRONTIER_MAX) {
		r = -EOVERFLOW;	/* cannot happen: a frontier has at most 32 nodes */
		goto out;
	}
	memmove(seeds + (m + added) * POOL_NODE_LEN, seeds + (m + 1) * POOL_NODE_LEN,
		(n - m - 1) * POOL_NODE_LEN);
	for (unsigned t = 0; t < n_sib[0]; t++)		/* left: recorded shallow first */
		memcpy(seeds + (m + t) * POOL_NODE_LEN, sib[0] + t * POOL_NODE_LEN, POOL_NODE_LEN);
	for (unsigned t = 0; t < n_sib[1]; t++)		/* right: recorded shallow first */
		memcpy(seeds + (m + n_sib[0] + t) * POOL_NODE_LEN,
		       sib[1] + (n_sib[1] - 1 - t) * POOL_NODE_LEN, POOL_NODE_LEN);
	if (added == 0)		/* the frontier shrank: wipe the stale last slot */
		mfs_wipe(seeds + (n - 1) * POOL_NODE_LEN, POOL_NODE_LEN);
	*u &= ~(1ULL << i);
out:
	secret_free(ws);	/* wipes */
	return r;
}
