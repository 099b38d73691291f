/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Exchange reconciliation on link-up (docs/mfsd.md "Failure behaviour"):
 * the elected initiator of each class sends HELD, the exchanges of the
 * class it holds; the responder withdraws its own responder-stored
 * exchanges of an earlier link that the list lacks (their COMMIT was lost,
 * the initiator discarded its copy).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cf/internal.h"

/* The exchanges of a class as the store lists them (store_exchanges). */
struct held_list {
	uint8_t (*ids)[CF_HELD_ID_LEN];
	int64_t *created;
	size_t n, cap, max;		/* max: 0 = no limit */
	bool pool_only;
	bool truncated;
	int64_t since;
};

static int held_cb(void *arg, const struct store_exchange_info *x)
{
	struct held_list *l = arg;

	if (x->id_len != CF_HELD_ID_LEN || (l->pool_only && x->n_pool == 0))
		return 0;
	if (l->max && l->n == l->max) {
		l->truncated = true;
		l->since = l->created[l->n - 1];
		return 1;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		void *a = reallocarray(l->ids, cap, sizeof(*l->ids));

		if (!a)
			return -ENOMEM;
		l->ids = a;
		if (!(a = reallocarray(l->created, cap, sizeof(*l->created))))
			return -ENOMEM;
		l->created = a;
		l->cap = cap;
	}
	memcpy(l->ids[l->n], x->id, CF_HELD_ID_LEN);
	l->created[l->n++] = x->created;
	return 0;
}

static void held_free(struct held_list *l)
{
	free(l->ids);
	free(l->created);
}

void cf_held_send(struct cf_peer *p, struct cf_class *c, int64_t now)
{
	struct held_list l = { .max = CF_HELD_MAX };
	const char *name = c->cfg.policy.name;
	size_t nl = strlen(name), len;
	uint8_t *b;
	int r;

	r = store_exchanges(p->cf->st, p->cfg.name, name, now, held_cb, &l);
	if (r < 0) {
		log_warning("peer %s: class %s: cannot list the exchanges held: %s", p->cfg.name,
			    name, strerror(-r));
		held_free(&l);
		return;
	}
	len = 1 + nl + 8 + 2 + l.n * CF_HELD_ID_LEN;
	if (nl > 255 || !(b = malloc(len))) {
		held_free(&l);
		return;
	}
	uint64_t since = l.truncated ? (uint64_t)l.since : 0;

	b[0] = (uint8_t)nl;
	memcpy(b + 1, name, nl);
	for (int i = 0; i < 8; i++)
		b[1 + nl + i] = (uint8_t)(since >> (56 - 8 * i));
	b[1 + nl + 8] = (uint8_t)(l.n >> 8);
	b[1 + nl + 9] = (uint8_t)l.n;
	if (l.n)
		memcpy(b + 1 + nl + 10, l.ids, l.n * CF_HELD_ID_LEN);
	cf_env_send(p, CF_ENV_HELD, 0, b, len);
	free(b);
	held_free(&l);
}

static bool held_has(const uint8_t *ids, size_t n, const uint8_t *id)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(ids + i * CF_HELD_ID_LEN, id, CF_HELD_ID_LEN) == 0)
			return true;
	return false;
}

/* body: a whole HELD body, checked for length by cf_link_input(). */
int cf_on_held(struct cf_peer *p, const uint8_t *e, int64_t now)
{
	struct held_list l = { .pool_only = true };
	char name[256], who[STORE_WHO_MAX + 1], reason[CF_REASON_MAX];
	size_t nl = e[0], n, withdrawn = 0, keys = 0;
	const uint8_t *ids;
	uint64_t since = 0;
	struct cf_class *c;
	int r;

	memcpy(name, e + 1, nl);
	name[nl] = '\0';
	for (int i = 0; i < 8; i++)
		since = since << 8 | e[1 + nl + i];
	n = (size_t)e[1 + nl + 8] << 8 | e[1 + nl + 9];
	ids = e + 1 + nl + 10;
	if (!(c = cf_class_by_name(p, name)) || c->initiator)
		return 0;	/* not a class this side serves */
	if (c->resp_stored) {
		/* the peer sends HELD before its first exchange: too late, ignore it */
		log_warning("peer %s: class %s: HELD after an exchange, ignored", p->cfg.name,
			    name);
		return 0;
	}
	if ((r = store_exchanges(p->cf->st, p->cfg.name, name, now, held_cb, &l)) < 0) {
		log_warning("peer %s: class %s: cannot list the exchanges: %s", p->cfg.name, name,
			    strerror(-r));
		held_free(&l);
		return 0;
	}
	cf_store_who("mfsd (link reconciliation)", who);
	snprintf(reason, sizeof(reason), "peer %.64s does not hold it (COMMIT lost)", p->cfg.name);
	for (size_t i = 0; i < l.n; i++) {
		struct store_key_meta m;
		struct store_key_id kid;

		/* only exchanges of an earlier link, and only those the list must cover */
		if (l.created[i] > p->up_since || (since && l.created[i] <= (int64_t)since))
			continue;
		if (held_has(ids, n, l.ids[i]))
			continue;
		/* stored as responder: its id (the initiator's first key) is inbound here */
		memcpy(kid.b, l.ids[i], STORE_KEY_ID_LEN);
		if (store_key_info(p->cf->st, &kid, &m) < 0 || m.dir != STORE_INBOUND)
			continue;
		r = store_withdraw_exchange(p->cf->st, l.ids[i], CF_HELD_ID_LEN, who, reason, now);
		if (r < 0) {
			log_warning("peer %s: class %s: cannot withdraw an exchange: %s",
				    p->cfg.name, name, strerror(-r));
			continue;
		}
		withdrawn++;
		keys += (size_t)r;
	}
	held_free(&l);
	if (withdrawn) {
		c->orphans_withdrawn += withdrawn;
		log_notice("peer %s: class %s: withdrew %zu exchange(s), %zu key(s), the peer "
			   "does not hold (COMMIT lost)", p->cfg.name, name, withdrawn, keys);
	}
	return 0;
}
