/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Static Classic McEliece key rotation (cf.h, docs/mfsd.md "Static key
 * rotation").
 *
 * Own key (this node rotates):
 *   1. the daemon generates the pair on a worker thread (keyring_generate:
 *      files written atomically, 0600) and hands it to cf_rot_install();
 *   2. the record own-<method> commits cur = new, prev = old;
 *   3. every connected peer that pins the set gets ROTATE (the new public
 *      key in chunks, binding the old key id); a peer that is down gets it
 *      when its link comes up, before anything else on that link. Once the
 *      peer acknowledged it, this side names the new key in the exchanges
 *      it starts or answers with that peer: everything the peer sent after
 *      its ROTATE_ACK was sent with the new pin in place (the link is
 *      ordered both ways), and an exchange the peer started before its
 *      re-pin is still answered with the old key. Exchanges already running
 *      keep the keys they started with;
 *   4. ROTATE_ACK from every such peer, then the grace period, then the old
 *      pair is destroyed (record first, then the files wiped and removed).
 *      A peer that refuses keeps being served with the old key (which is
 *      then not destroyed).
 *
 * Peer's key (the peer rotates): on the last chunk of ROTATE the key must
 * hash to the announced id and the announced old id must be the current
 * pin; the new key is written (pin-<peer>-<method>-<id>.pk) and the record
 * pin-<peer>-<method> commits cur = new, prev = old, before ROTATE_ACK goes
 * out. The previous pin stays usable (hs_static_key entry 2, chosen by the
 * key id the peer sends) for the grace period, then is dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cf/internal.h"
#include "crypto/hash.h"

static size_t peer_index(const struct cf *cf, const struct cf_peer *p)
{
	return (size_t)(p - cf->peers);
}

static void audit(struct cf *cf, int64_t now, const char *what, const char *detail)
{
	int r = store_audit_append(cf->st, now, "mfsd (static key rotation)", what, detail, 0);

	if (r < 0)
		log_err("%s: audit record failed: %s", what, strerror(-r));
}

/* Replaced keys are freed once no running exchange holds a copy. */
static void bury(struct cf_keys *k, struct keyring_key *key)
{
	if (!key)
		return;
	for (size_t i = 0; i < sizeof(k->grave) / sizeof(k->grave[0]); i++) {
		if (!k->grave[i]) {
			k->grave[i] = key;
			return;
		}
	}
	/* no room: unreachable with at most 2 replacements per slot and grace period */
	log_warning("static key rotation: too many replaced keys pending; one is kept until exit");
}

static void reap(struct cf *cf)
{
	for (size_t i = 0; i < sizeof(cf->keys->grave) / sizeof(cf->keys->grave[0]); i++) {
		if (cf->keys->grave[i] && !cf_static_in_use(cf, cf->keys->grave[i])) {
			keyring_key_free(cf->keys->grave[i]);
			cf->keys->grave[i] = NULL;
		}
	}
}

void cf_rot_rebuild(struct cf *cf, struct cf_peer *p)
{
	struct cf_keys *k = cf->keys;
	size_t pi = peer_index(cf, p), n = 0;

	if (!k)
		return;
	/* entry 1 of each set: the own key in use for this peer, the current pin */
	for (int pass = 0; pass < 2; pass++) {
		for (int s = 0; s < KEYRING_SETS; s++) {
			struct keyring_key *own = k->own[s].cur, *pin = k->pin[pi][s].cur;

			/*
			 * The new key only once the peer acknowledged it: an exchange
			 * this side answers now may have been started by the peer
			 * before it re-pinned (its HELLO was sent before its ACK).
			 */
			if (k->own[s].prev && !p->rot[s].acked)
				own = k->own[s].prev;
			if (pass == 1)
				pin = k->pin[pi][s].prev;	/* entry 2: the previous pin */
			if (!own || !pin || n == CF_MAX_STATIC)
				continue;
			p->skeys[n++] = (struct hs_static_key){
				.method = own->method, .sk = own->sk, .pk = own->pk,
				.pk_len = own->pk_len, .pk_id = own->id, .peer_pk = pin->pk,
				.peer_pk_len = pin->pk_len, .peer_pk_id = pin->id,
			};
		}
	}
	p->n_skeys = n;
}

/* ---- announcing our new key ---- */

static void announce(struct cf_peer *p, int s)
{
	const struct keyring_slot *own = &p->cf->keys->own[s];
	const struct keyring_key *cur = own->cur, *prev = own->prev;
	uint8_t *b = malloc(CF_ROT_HDR_LEN + CF_ROT_CHUNK);

	if (!b || !cur || !prev) {
		free(b);
		return;
	}
	b[0] = (uint8_t)(cur->method >> 8);
	b[1] = (uint8_t)cur->method;
	memcpy(b + 2, prev->id, KEYRING_ID_LEN);
	memcpy(b + 34, cur->id, KEYRING_ID_LEN);
	for (int i = 0; i < 4; i++)
		b[66 + i] = (uint8_t)(cur->pk_len >> (24 - 8 * i));
	for (size_t off = 0; off < cur->pk_len;) {
		size_t n = cur->pk_len - off < CF_ROT_CHUNK ? cur->pk_len - off : CF_ROT_CHUNK;

		for (int i = 0; i < 4; i++)
			b[70 + i] = (uint8_t)(off >> (24 - 8 * i));
		b[74] = (uint8_t)(n >> 8);
		b[75] = (uint8_t)n;
		memcpy(b + CF_ROT_HDR_LEN, cur->pk + off, n);
		if (cf_env_send(p, CF_ENV_ROTATE, 0, b, CF_ROT_HDR_LEN + n) < 0) {
			/* (output full) sent again from offset 0 by a later tick */
			log_warning("peer %s: cannot queue the %s key announcement yet", p->cfg.name,
				    kex_method_name(cur->method));
			free(b);
			return;
		}
		off += n;
	}
	free(b);
	p->rot[s].announced = true;
	log_info("peer %s: announced the new %s key", p->cfg.name, kex_method_name(cur->method));
}

/* What p still has to be told (link-up, or a tick after the output was full). */
static void announce_pending(struct cf_peer *p)
{
	struct cf_keys *k = p->cf->keys;
	size_t pi = peer_index(p->cf, p);

	for (int s = 0; k && p->up && s < KEYRING_SETS; s++) {
		if (k->own[s].prev && k->pin[pi][s].cur && !p->rot[s].acked &&
		    !p->rot[s].refused && !p->rot[s].announced)
			announce(p, s);
	}
}

void cf_rot_link_up(struct cf_peer *p)
{
	announce_pending(p);
}

void cf_rot_link_down(struct cf_peer *p)
{
	for (int s = 0; s < KEYRING_SETS; s++) {
		free(p->rot[s].buf);
		p->rot[s].buf = NULL;
		p->rot[s].len = p->rot[s].total = 0;
		p->rot[s].skip = false;
		p->rot[s].announced = false;
	}
}

int cf_rot_install(struct cf *cf, struct keyring_key *key, int64_t now)
{
	struct cf_keys *k = cf->keys;
	int s = key ? keyring_set(key->method) : -1;
	struct keyring_slot next;
	char path[PATH_MAX], detail[256], a[17], b[17];
	size_t told = 0;
	int r;

	if (!k || s < 0) {
		r = -EINVAL;
		goto fail;
	}
	k->busy[s] = false;
	if (!k->own[s].cur || k->own[s].prev) {
		r = -EBUSY;
		goto fail;
	}
	next = k->own[s];
	next.prev = next.cur;
	next.prev_since = now;
	next.cur = key;
	if ((r = keyring_own_path(k->dir, key->method, path, sizeof(path))) < 0 ||
	    (r = keyring_save_record(path, &next, NULL)) < 0) {
		log_err("static key rotation: %s: cannot commit the new %s key: %s", path,
			kex_method_name(key->method), strerror(-r));
		goto fail;
	}
	k->own[s] = next;
	k->requested[s] = false;
	cf->stats.rotations++;
	for (size_t i = 0; i < cf->n_peers; i++) {
		struct cf_peer *p = &cf->peers[i];

		p->rot[s].acked = false;
		p->rot[s].refused = false;
		p->rot[s].announced = false;
		p->rot[s].acked_at = 0;
		if (!k->pin[i][s].cur)
			continue;
		if (p->up) {
			announce(p, s);
			told++;
		}
		cf_rot_rebuild(cf, p);
	}
	keyring_id16(next.prev->id, a);
	keyring_id16(key->id, b);
	snprintf(detail, sizeof(detail), "%s: new static key %s replaces %s; announced to %zu "
		 "connected peer(s)", kex_method_name(key->method), b, a, told);
	audit(cf, now, "static-rotate", detail);
	log_notice("static key rotation: %s", detail);
	return 0;
fail:
	if (key) {
		keyring_destroy_file(key->sk_path);
		keyring_destroy_file(key->pk_path);
	}
	keyring_key_free(key);
	if (s >= 0 && k)
		cf->stats.rotation_failures++;
	return r;
}

/* ---- the peer's new key ---- */

static void send_ack(struct cf_peer *p, uint16_t method, const uint8_t *id, enum cf_rot_status st)
{
	uint8_t b[CF_ROT_ACK_LEN];

	b[0] = (uint8_t)(method >> 8);
	b[1] = (uint8_t)method;
	memcpy(b + 2, id, KEYRING_ID_LEN);
	b[34] = (uint8_t)st;
	cf_env_send(p, CF_ENV_ROTATE_ACK, 0, b, sizeof(b));
}

static enum cf_rot_status repin(struct cf_peer *p, int s, int64_t now)
{
	struct cf *cf = p->cf;
	struct cf_keys *k = cf->keys;
	struct cf_rot_peer *st = &p->rot[s];
	uint16_t method = keyring_method(s);
	size_t pi = peer_index(cf, p);
	struct keyring_slot *slot, next;
	struct keyring_key *nk = NULL;
	uint8_t id[KEYRING_ID_LEN];
	const char *destroy[2] = { NULL, NULL };
	char path[PATH_MAX], detail[256], a[17], b[17];
	int r;

	if (!k || !(slot = &k->pin[pi][s])->cur)
		return CF_ROT_UNUSED;
	if (!memcmp(slot->cur->id, st->new_id, KEYRING_ID_LEN))
		return CF_ROT_PINNED;	/* a repeated announcement (a restart in between) */
	keyring_id16(st->old_id, a);
	keyring_id16(slot->cur->id, b);
	if (memcmp(slot->cur->id, st->old_id, KEYRING_ID_LEN) != 0) {
		log_warning("peer %s: refused its %s key rotation: it replaces key %s, but %s is "
			    "pinned here", p->cfg.name, kex_method_name(method), a, b);
		return CF_ROT_REFUSED;
	}
	if (hash(HASH_SHA3_256, st->buf, st->total, id) < 0 ||
	    memcmp(id, st->new_id, KEYRING_ID_LEN) != 0) {
		log_warning("peer %s: refused its %s key rotation: the key does not hash to the "
			    "announced id", p->cfg.name, kex_method_name(method));
		return CF_ROT_REFUSED;
	}
	if ((r = keyring_store_pin(k->dir, p->cfg.name, method, st->buf, st->total, &nk)) < 0) {
		log_err("peer %s: cannot store its new %s key in %s: %s", p->cfg.name,
			kex_method_name(method), k->dir, strerror(-r));
		return CF_ROT_REFUSED;
	}
	next = *slot;
	if (!next.have_base) {
		/* the first re-pin: the configuration pinned the current key */
		next.have_base = true;
		memcpy(next.base, slot->cur->id, KEYRING_ID_LEN);
	}
	if (next.prev && next.prev->ours)
		destroy[0] = next.prev->pk_path;	/* a pin older than the grace allows */
	next.prev = slot->cur;
	next.prev_since = now;
	next.cur = nk;
	if ((r = keyring_pin_path(k->dir, p->cfg.name, method, path, sizeof(path))) < 0 ||
	    (r = keyring_save_record(path, &next, destroy)) < 0) {
		log_err("peer %s: cannot commit its new %s pin: %s", p->cfg.name, kex_method_name(method),
			strerror(-r));
		keyring_destroy_file(nk->pk_path);
		keyring_key_free(nk);
		return CF_ROT_REFUSED;
	}
	if (destroy[0])
		keyring_destroy_file(destroy[0]);
	if (slot->prev)
		bury(k, slot->prev);
	*slot = next;
	cf->stats.repins++;
	cf_rot_rebuild(cf, p);
	keyring_id16(nk->id, b);
	snprintf(detail, sizeof(detail), "peer %.64s %s: pinned its new static key %s (was %s; "
		 "kept for %us)", p->cfg.name, kex_method_name(method), b, a, k->grace_s);
	audit(cf, now, "static-repin", detail);
	log_notice("%s", detail);
	return CF_ROT_PINNED;
}

int cf_rot_on_rotate(struct cf_peer *p, const uint8_t *e, size_t len, int64_t now)
{
	uint16_t method = (uint16_t)(e[0] << 8 | e[1]);
	int s = keyring_set(method);
	const struct kex_method *m = kex_method_by_id(method);
	uint32_t total = 0, off = 0;
	size_t n = (size_t)e[74] << 8 | e[75];
	struct cf_rot_peer *st;

	for (int i = 0; i < 4; i++) {
		total = total << 8 | e[66 + i];
		off = off << 8 | e[70 + i];
	}
	if (s < 0 || !m || !m->kem || total != m->kem->pk_len || n == 0 || n > CF_ROT_CHUNK ||
	    len != CF_ROT_HDR_LEN + n || off > total || n > total - off) {
		snprintf(p->last_error, sizeof(p->last_error), "malformed key announcement");
		return -EBADMSG;
	}
	st = &p->rot[s];
	if (off == 0) {
		/* a new announcement (a repeated one after a reconnect starts over) */
		free(st->buf);
		st->buf = NULL;
		memcpy(st->old_id, e + 2, KEYRING_ID_LEN);
		memcpy(st->new_id, e + 34, KEYRING_ID_LEN);
		st->total = total;
		st->len = 0;
		st->skip = p->cf->keys && p->cf->keys->pin[peer_index(p->cf, p)][s].cur &&
			   !memcmp(p->cf->keys->pin[peer_index(p->cf, p)][s].cur->id, st->new_id,
				   KEYRING_ID_LEN);
		if (!st->skip && !(st->buf = malloc(total)))
			return -ENOMEM;
	} else if ((!st->buf && !st->skip) || off != st->len || total != st->total ||
		   memcmp(st->old_id, e + 2, KEYRING_ID_LEN) ||
		   memcmp(st->new_id, e + 34, KEYRING_ID_LEN)) {
		snprintf(p->last_error, sizeof(p->last_error), "key announcement out of order");
		return -EBADMSG;
	}
	if (st->buf)
		memcpy(st->buf + off, e + CF_ROT_HDR_LEN, n);
	st->len += n;
	if (st->len < st->total)
		return 0;
	enum cf_rot_status res = st->skip ? CF_ROT_PINNED : repin(p, s, now);

	send_ack(p, method, st->new_id, res);
	free(st->buf);
	st->buf = NULL;
	st->skip = false;
	st->len = st->total = 0;
	return 0;
}

int cf_rot_on_ack(struct cf_peer *p, const uint8_t *e, int64_t now)
{
	uint16_t method = (uint16_t)(e[0] << 8 | e[1]);
	int s = keyring_set(method);
	struct cf_keys *k = p->cf->keys;
	uint8_t status = e[34];

	if (s < 0 || status > CF_ROT_UNUSED) {
		snprintf(p->last_error, sizeof(p->last_error), "malformed key acknowledgement");
		return -EBADMSG;
	}
	if (!k || !k->own[s].cur || memcmp(k->own[s].cur->id, e + 2, KEYRING_ID_LEN) != 0)
		return 0;	/* about a key this side no longer announces */
	if (status == CF_ROT_REFUSED) {
		p->rot[s].refused = true;
		log_warning("peer %s refused the new %s key: it is served with the old key, which "
			    "is kept", p->cfg.name, kex_method_name(method));
		cf_rot_rebuild(p->cf, p);
		return 0;
	}
	p->rot[s].acked = true;
	p->rot[s].acked_at = now;
	cf_rot_rebuild(p->cf, p);
	log_info("peer %s %s the new %s key", p->cfg.name,
		 status == CF_ROT_PINNED ? "pinned" : "does not use", kex_method_name(method));
	return 0;
}

/* ---- grace periods ---- */

bool cf_rot_all_acked(const struct cf *cf, int s)
{
	for (size_t i = 0; cf->keys && i < cf->n_peers; i++)
		if (cf->keys->pin[i][s].cur && !cf->peers[i].rot[s].acked)
			return false;
	return true;
}

static void own_tick(struct cf *cf, int s, int64_t now)
{
	struct cf_keys *k = cf->keys;
	struct keyring_slot next = k->own[s];
	struct keyring_key *old = next.prev;
	int64_t last = next.prev_since;
	const char *destroy[3] = { NULL, NULL, NULL };
	char path[PATH_MAX], detail[200], a[17];
	int r;

	if (!old || !cf_rot_all_acked(cf, s))
		return;
	for (size_t i = 0; i < cf->n_peers; i++)
		if (k->pin[i][s].cur && cf->peers[i].rot[s].acked_at > last)
			last = cf->peers[i].rot[s].acked_at;
	if (now - last < (int64_t)k->grace_s)
		return;
	/* the record first (naming the files still to destroy), then the files */
	next.prev = NULL;
	next.prev_since = 0;
	destroy[0] = old->sk_path;
	destroy[1] = old->pk_path;
	if ((r = keyring_own_path(k->dir, old->method, path, sizeof(path))) < 0 ||
	    (r = keyring_save_record(path, &next, destroy)) < 0) {
		log_err("static key rotation: cannot commit the destruction of the old %s key: %s",
			kex_method_name(old->method), strerror(-r));
		return;
	}
	k->own[s] = next;
	if ((r = keyring_destroy_file(old->sk_path)) < 0 ||
	    (r = keyring_destroy_file(old->pk_path)) < 0)
		log_err("static key rotation: %s: cannot destroy: %s", old->sk_path, strerror(-r));
	/* the record without the finished destructions */
	keyring_save_record(path, &next, NULL);
	cf->stats.static_destroyed++;
	keyring_id16(old->id, a);
	snprintf(detail, sizeof(detail), "%s: old static key %s destroyed (every peer pinned the "
		 "new one %us ago)", kex_method_name(old->method), a, (unsigned)(now - last));
	audit(cf, now, "static-destroy", detail);
	log_notice("static key rotation: %s", detail);
	for (size_t i = 0; i < cf->n_peers; i++)
		cf_rot_rebuild(cf, &cf->peers[i]);
	bury(k, old);
}

static void pin_tick(struct cf *cf, size_t pi, int s, int64_t now)
{
	struct cf_keys *k = cf->keys;
	struct keyring_slot next = k->pin[pi][s];
	struct keyring_key *old = next.prev;
	const char *destroy[2] = { NULL, NULL };
	char path[PATH_MAX];
	int r;

	if (!old || now - next.prev_since < (int64_t)k->grace_s)
		return;
	next.prev = NULL;
	next.prev_since = 0;
	if (old->ours)
		destroy[0] = old->pk_path;
	if ((r = keyring_pin_path(k->dir, cf->peers[pi].cfg.name, old->method, path,
				  sizeof(path))) < 0 ||
	    (r = keyring_save_record(path, &next, destroy)) < 0) {
		log_err("peer %s: cannot commit dropping the old %s pin: %s",
			cf->peers[pi].cfg.name, kex_method_name(old->method), strerror(-r));
		return;
	}
	k->pin[pi][s] = next;
	if (destroy[0] && keyring_destroy_file(destroy[0]) == 0)
		keyring_save_record(path, &next, NULL);
	log_info("peer %s: the grace period of its old %s key is over: no longer accepted",
		 cf->peers[pi].cfg.name, kex_method_name(old->method));
	cf_rot_rebuild(cf, &cf->peers[pi]);
	bury(k, old);
}

void cf_rot_tick(struct cf *cf, int64_t now)
{
	if (!cf->keys)
		return;
	for (int s = 0; s < KEYRING_SETS; s++) {
		own_tick(cf, s, now);
		for (size_t i = 0; i < cf->n_peers; i++)
			pin_tick(cf, i, s, now);
	}
	for (size_t i = 0; i < cf->n_peers; i++)
		announce_pending(&cf->peers[i]);
	reap(cf);
}

/* ---- when ---- */

int64_t cf_rot_next(const struct cf *cf, int s)
{
	const struct cf_keys *k = cf->keys;

	if (!k || !k->own[s].cur || !k->rotate_s)
		return 0;
	return k->own[s].cur->created + k->rotate_s;
}

bool cf_rot_due(struct cf *cf, int64_t now, uint16_t *ret_method)
{
	struct cf_keys *k = cf->keys;

	for (int s = 0; k && k->dir[0] && s < KEYRING_SETS; s++) {
		int64_t next = cf_rot_next(cf, s);

		if (!k->own[s].cur || k->own[s].prev || k->busy[s] || now < k->retry_at[s])
			continue;
		if (k->requested[s] || (next && now >= next)) {
			*ret_method = keyring_method(s);
			return true;
		}
	}
	return false;
}

void cf_rot_started(struct cf *cf, uint16_t method)
{
	int s = keyring_set(method);

	if (cf->keys && s >= 0)
		cf->keys->busy[s] = true;
}

void cf_rot_failed(struct cf *cf, uint16_t method, int err, int64_t now)
{
	int s = keyring_set(method);

	if (!cf->keys || s < 0)
		return;
	cf->keys->busy[s] = false;
	cf->keys->retry_at[s] = now + CF_ROT_RETRY_S;
	cf->stats.rotation_failures++;
	log_err("static key rotation: generating a new %s key failed: %s; retry in %ds",
		kex_method_name(method), strerror(-err), CF_ROT_RETRY_S);
}

int cf_rot_request(struct cf *cf, uint16_t method)
{
	struct cf_keys *k = cf->keys;
	bool any = false;

	for (int s = 0; k && k->dir[0] && s < KEYRING_SETS; s++) {
		if (!k->own[s].cur || (method && keyring_method(s) != method))
			continue;
		if (k->own[s].prev || k->busy[s])
			return -EBUSY;
		any = true;
	}
	if (!any)
		return -ENOENT;
	for (int s = 0; s < KEYRING_SETS; s++)
		if (k->own[s].cur && (!method || keyring_method(s) == method)) {
			k->requested[s] = true;
			k->retry_at[s] = 0;
		}
	return 0;
}

void cf_keys_free(struct cf_keys *k)
{
	if (!k)
		return;
	for (int s = 0; s < KEYRING_SETS; s++) {
		keyring_key_free(k->own[s].cur);
		keyring_key_free(k->own[s].prev);
		for (size_t i = 0; i < CF_MAX_PEERS; i++) {
			keyring_key_free(k->pin[i][s].cur);
			keyring_key_free(k->pin[i][s].prev);
		}
	}
	for (size_t i = 0; i < sizeof(k->grave) / sizeof(k->grave[0]); i++)
		keyring_key_free(k->grave[i]);
	free(k);
}

void cf_rot_free(struct cf *cf)
{
	cf_keys_free(cf->keys);
	cf->keys = NULL;
}
