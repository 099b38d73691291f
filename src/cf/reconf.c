/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A reloaded configuration applied to a running engine (cf_reconfigure(),
 * cf.h; mfsd calls it on SIGHUP, docs/mfsd.md "Reloading the
 * configuration").
 *
 * Nothing that stays is rebuilt: a peer keeps its slot (running exchanges
 * hold pointers into it), its link, its pools (the store is keyed by peer
 * and class name) and its rotation state; a class keeps its exchange in
 * flight, its counters and its rekey timer. Exchanges carry copies of the
 * policies and static keys they started with (struct cf_xchg), so a policy
 * change applies from the next exchange on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cf/internal.h"

static void slot_free(struct keyring_slot *s)
{
	keyring_key_free(s->cur);
	keyring_key_free(s->prev);
	memset(s, 0, sizeof(*s));
}

/* A peer that left the configuration: its slot becomes empty (its link is already down). */
static void peer_clear(struct cf *cf, struct cf_peer *p)
{
	size_t pi = (size_t)(p - cf->peers);

	if (p->up)
		cf_link_down(p, "removed from the configuration", 0);
	for (size_t j = 0; j < p->cfg.n_classes; j++)
		cf_xchg_free(p->classes[j].x);
	for (int s = 0; cf->keys && s < KEYRING_SETS; s++)
		slot_free(&cf->keys->pin[pi][s]);
	free(p->in);
	free(p->out);
	memset(p, 0, sizeof(*p));
	p->cf = cf;
}

/* The classes of kept peer p from its new configuration pc. */
static int classes_update(struct cf *cf, struct cf_peer *p, const struct cf_peer_cfg *pc,
			  int64_t now)
{
	struct cf_class *next = calloc(CF_MAX_CLASSES, sizeof(*next));
	bool kept[CF_MAX_CLASSES] = { false };
	int r = 0;

	if (!next)
		return -ENOMEM;
	for (size_t j = 0; j < pc->n_classes; j++) {
		const struct cf_class_cfg *cc = &pc->classes[j];
		struct cf_class *old = NULL;

		for (size_t k = 0; k < p->cfg.n_classes; k++)
			if (!kept[k] && !strcmp(p->classes[k].cfg.policy.name, cc->policy.name))
				old = &p->classes[k], kept[k] = true;
		if (old) {
			next[j] = *old;
			next[j].cfg = *cc;
			if (old->cfg.policy.rekey_interval_s != cc->policy.rekey_interval_s)
				next[j].rekey_jitter_s = 0;	/* drawn again after the next exchange */
			/* refill against the new watermarks from the next tick */
			next[j].refilling = false;
		} else {
			next[j].cfg = *cc;
			if ((r = cf_class_init(cf, p, &next[j], now)) < 0)
				goto out;
			log_info("peer %s: class %s added", p->cfg.name, cc->policy.name);
		}
	}
	for (size_t k = 0; k < p->cfg.n_classes; k++) {
		if (kept[k])
			continue;
		/* its exchange (if any) is dropped; the pools stay in the store until expiry */
		cf_xchg_free(p->classes[k].x);
		log_info("peer %s: class %s removed", p->cfg.name, p->classes[k].cfg.policy.name);
	}
	memcpy(p->classes, next, sizeof(p->classes));
	for (size_t j = 0; j < pc->n_classes; j++)
		p->policies[j] = p->classes[j].cfg.policy;
out:
	free(next);
	return r;
}

int cf_reconfigure(struct cf *cf, const struct cf_config *cfg, const bool *repin, int64_t now,
		   size_t *ret_slot)
{
	struct cf_keys *fresh = cfg->keys;
	uint8_t *in[CF_MAX_PEERS] = { NULL };
	size_t slot[CF_MAX_PEERS], n = cf->n_peers;
	bool used[CF_MAX_PEERS] = { false };
	int r = -ENOMEM;

	if (cfg->n_peers > CF_MAX_PEERS || strcmp(cfg->node_id, cf->cfg.node_id) != 0 ||
	    (cfg->psk_dir && strlen(cfg->psk_dir) >= sizeof(cf->psk_dir))) {
		r = -EINVAL;
		goto out;
	}
	/* where each peer goes; allocate everything first, so a failure changes nothing */
	for (size_t i = 0; i < cfg->n_peers; i++) {
		struct cf_peer *p = cf_peer_by_name(cf, cfg->peers[i].name);

		if (p && cfg->peers[i].name[0]) {
			slot[i] = (size_t)(p - cf->peers);
			used[slot[i]] = true;
		} else {
			slot[i] = SIZE_MAX;
		}
	}
	for (size_t i = 0; i < cfg->n_peers; i++) {
		if (slot[i] != SIZE_MAX)
			continue;
		/* a new peer: the first slot nobody keeps (an empty one, or one freed below) */
		for (size_t k = 0; k < CF_MAX_PEERS && slot[i] == SIZE_MAX; k++) {
			bool taken = used[k];

			for (size_t m = 0; m < i; m++)
				taken |= slot[m] == k;
			if (!taken)
				slot[i] = k;
		}
		if (slot[i] == SIZE_MAX || !(in[i] = malloc(CF_INBUF_MAX)))
			goto out;
	}
	/* peers that left */
	for (size_t k = 0; k < cf->n_peers; k++) {
		if (used[k] || !cf->peers[k].cfg.name[0])
			continue;
		log_notice("peer %s removed from the configuration", cf->peers[k].cfg.name);
		peer_clear(cf, &cf->peers[k]);
	}
	for (size_t i = 0; i < cfg->n_peers; i++) {
		struct cf_peer *p = &cf->peers[slot[i]];
		const struct cf_peer_cfg *pc = &cfg->peers[i];
		bool is_new = in[i] != NULL;

		if (is_new) {
			if (p->in || p->cfg.name[0])
				peer_clear(cf, p);
			p->cf = cf;
			p->in = in[i];
			in[i] = NULL;
			p->next_xid = 1;
			memcpy(&p->cfg, pc, sizeof(p->cfg));
			p->cfg.n_classes = 0;
			if ((r = classes_update(cf, p, pc, now)) < 0)
				goto out;	/* only -ENOMEM; the peer stays without classes */
			log_notice("peer %s added", pc->name);
		} else if ((r = classes_update(cf, p, pc, now)) < 0) {
			goto out;
		}
		p->cfg = *pc;
		if (slot[i] + 1 > n)
			n = slot[i] + 1;
		/* static keys: the running ones unless the file's pin is new */
		if (cf->keys && fresh && (is_new || (repin && repin[i]))) {
			for (int s = 0; s < KEYRING_SETS; s++) {
				slot_free(&cf->keys->pin[slot[i]][s]);
				cf->keys->pin[slot[i]][s] = fresh->pin[i][s];
				memset(&fresh->pin[i][s], 0, sizeof(fresh->pin[i][s]));
				memset(&p->rot[s], 0, sizeof(p->rot[s]));
			}
		}
		if (cf->keys)
			cf_rot_rebuild(cf, p);
		else if (is_new)
			p->n_skeys = 0;
	}
	while (n > 0 && !cf->peers[n - 1].cfg.name[0])
		n--;
	cf->n_peers = n;
	cf->cfg.n_peers = n;
	/* exchanges in flight read the PSK directory through cf->cfg.psk_dir: same storage */
	snprintf(cf->psk_dir, sizeof(cf->psk_dir), "%s", cfg->psk_dir ? cfg->psk_dir : "");
	cf->cfg.psk_dir = cfg->psk_dir ? cf->psk_dir : NULL;
	if (cf->keys && fresh) {
		cf->keys->rotate_s = fresh->rotate_s;
		cf->keys->grace_s = fresh->grace_s;
	}
	for (size_t i = 0; ret_slot && i < cfg->n_peers; i++)
		ret_slot[i] = slot[i];
	r = 0;
out:
	for (size_t i = 0; i < CF_MAX_PEERS; i++)
		free(in[i]);
	if (fresh) {
		struct cf tmp = { .keys = fresh };

		cf_rot_free(&tmp);
	}
	return r;
}
