// SPDX-License-Identifier: Apache-2.0
/*
 * Key supply backend: ETSI GS QKD 014 requests onto store pools. Contract
 * in supply.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/mac.h"
#include "supply/supply.h"

struct supply {
	char kme_id[ETSI014_ID_MAX + 1];
	char *db_path;
	struct secret *kek;
	struct supply_sae *saes;
	size_t n_saes;
	uint64_t size_limit;
	void (*on_audit)(void *arg, const struct supply_audit *a);
	void *audit_arg;
	struct supply_stats st;
};

struct worker {
	struct supply *s;
	struct store *st;
};

static const struct supply_sae *find_sae(const struct supply *s, const char *id, bool remote)
{
	for (size_t i = 0; i < s->n_saes; i++)
		if (s->saes[i].remote == remote && !strcmp(s->saes[i].id, id))
			return &s->saes[i];
	return NULL;
}

static bool has_class(const struct supply_sae *sae, const char *cls)
{
	for (size_t i = 0; i < sae->n_classes; i++)
		if (!strcmp(sae->classes[i], cls))
			return true;
	return false;
}

static unsigned bits_of(const struct supply_sae *sae)
{
	return sae->key_bits ? sae->key_bits : SUPPLY_NATIVE_BITS;
}

int supply_derive(const uint8_t key[static 32], const uint8_t id[static STORE_KEY_ID_LEN],
		  unsigned bits, uint8_t *out)
{
	uint8_t info[sizeof(SUPPLY_KDF_LABEL) - 1 + 2 + STORE_KEY_ID_LEN];
	size_t l = sizeof(SUPPLY_KDF_LABEL) - 1;

	if (bits == 0 || bits % 8 || bits > ETSI014_KEY_MAX_BITS)
		return -EINVAL;
	memcpy(info, SUPPLY_KDF_LABEL, l);
	info[l] = (uint8_t)(bits >> 8);
	info[l + 1] = (uint8_t)bits;
	memcpy(info + l + 2, id, STORE_KEY_ID_LEN);
	return hkdf(HASH_SHA384, NULL, 0, key, 32, info, sizeof(info), out, bits / 8);
}

/* Copy or derive one delivered store key into an ETSI 014 key of bits. */
static int put_key(const struct store_key *k, unsigned bits, struct etsi014_key *out)
{
	memcpy(out->id, k->meta.id.b, STORE_KEY_ID_LEN);
	out->len = bits / 8;
	if (k->key->len != SUPPLY_NATIVE_BITS / 8)
		return -EPROTO;
	if (bits == SUPPLY_NATIVE_BITS) {
		memcpy(out->key, k->key->p, out->len);
		return 0;
	}
	return supply_derive(k->key->p, k->meta.id.b, bits, out->key);
}

static void deny(struct worker *w, const struct etsi014_call *c, const char *reason,
		 struct etsi014_error *err)
{
	struct supply *s = w->s;
	char detail[STORE_DETAIL_MAX + 1];
	char who[STORE_WHO_MAX + 1];
	struct supply_audit a = { .caller = c->caller, .op = etsi014_op_name(c->op),
				  .sae_id = c->sae_id, .reason = reason };

	__atomic_fetch_add(&s->st.denied, 1, __ATOMIC_RELAXED);
	snprintf(who, sizeof(who), "sae:%s", c->caller);
	snprintf(detail, sizeof(detail), "%s %s: %s", etsi014_op_name(c->op), c->sae_id, reason);
	/* Best effort: a full or busy store must not turn a 401 into a 503. */
	(void)store_audit_append(w->st, time(NULL), who, "supply-denied", detail, 0);
	if (s->on_audit)
		s->on_audit(s->audit_arg, &a);
	etsi014_error_set(err, 401, "unauthorized: %s", reason);
}

/* The error of a failed store call, as the response says it. */
static int store_error(int r, const char *peer, const char *cls, struct etsi014_error *err)
{
	switch (r) {
	case -ENOKEY:
		etsi014_error_set(err, 503, "not enough keys in the pool toward %s, class %s", peer,
				  cls);
		break;
	case -ENOSPC:
		etsi014_error_set(err, 503, "key store full: nothing was handed out");
		break;
	case -EBUSY:
		etsi014_error_set(err, 503, "key store busy: nothing was handed out");
		break;
	default:
		etsi014_error_set(err, 503, "key data access error");
		break;
	}
	return r;
}

/* status and enc_keys: caller a local master, path a remote SAE sharing its peer and a class. */
static int check_master(struct worker *w, const struct etsi014_call *c,
			const struct supply_sae **ret_slave, struct etsi014_error *err)
{
	const struct supply_sae *me = find_sae(w->s, c->caller, false);
	const struct supply_sae *slave = find_sae(w->s, c->sae_id, true);

	if (!me) {
		deny(w, c, "the caller is not an SAE of this KME", err);
		return -EACCES;
	}
	if (!(me->roles & SUPPLY_MASTER)) {
		deny(w, c, "the caller may not act as master", err);
		return -EACCES;
	}
	if (!slave) {
		deny(w, c, "unknown slave SAE", err);
		return -EACCES;
	}
	if (strcmp(me->peer, slave->peer) != 0 || !has_class(me, slave->classes[0])) {
		deny(w, c, "the caller may not use the class of this slave SAE", err);
		return -EACCES;
	}
	*ret_slave = slave;
	return 0;
}

static int be_status(void *tctx, const struct etsi014_call *c, struct etsi014_status *st,
		     struct etsi014_error *err)
{
	struct worker *w = tctx;
	const struct supply_sae *slave;
	struct store_counts cnt;
	int r;

	if ((r = check_master(w, c, &slave, err)) < 0)
		return r;
	if ((r = store_counts(w->st, slave->peer, slave->classes[0], STORE_OUTBOUND, &cnt)) < 0)
		return store_error(r, slave->peer, slave->classes[0], err);
	snprintf(st->source_KME_ID, sizeof(st->source_KME_ID), "%s", w->s->kme_id);
	snprintf(st->target_KME_ID, sizeof(st->target_KME_ID), "%s", slave->peer);
	st->key_size = st->min_key_size = st->max_key_size = bits_of(slave);
	st->stored_key_count = cnt.state[STORE_ACTIVE] + cnt.state[STORE_PRE_ACTIVE];
	st->max_key_count = slave->max_key_count;
	st->max_SAE_ID_count = 0;
	return 0;
}

static int be_enc(void *tctx, const struct etsi014_call *c, const struct etsi014_key_request *req,
		  struct etsi014_key *keys, struct etsi014_error *err)
{
	struct worker *w = tctx;
	const struct supply_sae *slave;
	struct store_key *got = NULL;
	char to[STORE_WHO_MAX + 1];
	unsigned bits;
	int r;

	if ((r = check_master(w, c, &slave, err)) < 0)
		return r;
	bits = bits_of(slave);
	if (req->has_size && req->size != bits) {
		etsi014_error_set(err, 400, "size shall be %u for slave SAE %s (key_size in its status)",
				  bits, slave->id);
		return -EINVAL;
	}
	if (req->number > STORE_TAKE_MAX) {
		etsi014_error_set(err, 400, "number shall be at most %d", STORE_TAKE_MAX);
		return -EINVAL;
	}
	if (snprintf(to, sizeof(to), "%s>%s", c->caller, slave->id) >= (int)sizeof(to))
		snprintf(to, sizeof(to), "%s", c->caller);
	if (!(got = calloc(req->number, sizeof(*got)))) {
		etsi014_error_set(err, 503, "out of memory");
		return -ENOMEM;
	}
	r = store_take(w->st, slave->peer, slave->classes[0], to, time(NULL), req->number, got);
	if (r < 0) {
		store_error(r, slave->peer, slave->classes[0], err);
		goto out;
	}
	for (unsigned i = 0; i < req->number; i++)
		if ((r = put_key(&got[i], bits, &keys[i])) < 0) {
			/* Delivered and recorded, never returned: lost, never twice. */
			etsi014_error_set(err, 503, "key derivation failed");
			goto out;
		}
	__atomic_fetch_add(&w->s->st.enc_keys, req->number, __ATOMIC_RELAXED);
	r = 0;
out:
	for (unsigned i = 0; i < req->number; i++)
		store_key_done(&got[i]);
	free(got);
	if (r == -ENOKEY)
		__atomic_fetch_add(&w->s->st.exhausted, 1, __ATOMIC_RELAXED);
	return r;
}

/* The local slave SAE bound to inbound pool (peer, cls), or NULL. */
static const struct supply_sae *slave_of(const struct supply *s, const char *peer, const char *cls)
{
	for (size_t i = 0; i < s->n_saes; i++) {
		const struct supply_sae *x = &s->saes[i];

		if (!x->remote && (x->roles & SUPPLY_SLAVE) && !strcmp(x->peer, peer) &&
		    has_class(x, cls))
			return x;
	}
	return NULL;
}

static int be_dec(void *tctx, const struct etsi014_call *c, const struct etsi014_key_ids *ids,
		  struct etsi014_key *keys, struct etsi014_error *err)
{
	struct worker *w = tctx;
	const struct supply_sae *me = find_sae(w->s, c->caller, false);
	const struct supply_sae *master = find_sae(w->s, c->sae_id, true);
	char to[STORE_WHO_MAX + 1];
	size_t done = 0;
	unsigned bits;
	int r;

	if (!me) {
		deny(w, c, "the caller is not an SAE of this KME", err);
		return -EACCES;
	}
	if (!(me->roles & SUPPLY_SLAVE)) {
		deny(w, c, "the caller may not act as slave", err);
		return -EACCES;
	}
	if (!master) {
		deny(w, c, "unknown master SAE", err);
		return -EACCES;
	}
	if (strcmp(me->peer, master->peer) != 0 || !has_class(me, master->classes[0]) ||
	    slave_of(w->s, master->peer, master->classes[0]) != me) {
		deny(w, c, "the caller is not the slave SAE of this master's keys", err);
		return -EACCES;
	}
	bits = bits_of(me);
	/*
	 * The 401 rule first, for every ID, before anything is taken: an ID of
	 * an inbound pool whose slave is someone else is 401, whatever its
	 * state. Unknown IDs are 400 (below).
	 */
	for (size_t i = 0; i < ids->n; i++) {
		struct store_key_meta m;
		struct store_key_id id;

		memcpy(id.b, ids->id[i], STORE_KEY_ID_LEN);
		r = store_key_info(w->st, &id, &m);
		if (r == -ENOKEY)
			continue;
		if (r < 0)
			return store_error(r, master->peer, master->classes[0], err);
		if (m.dir == STORE_INBOUND && slave_of(w->s, m.peer, m.class_name) != me) {
			deny(w, c, "a requested key was not supplied for this SAE", err);
			return -EACCES;
		}
	}
	if (snprintf(to, sizeof(to), "%s<%s", me->id, master->id) >= (int)sizeof(to))
		snprintf(to, sizeof(to), "%s", me->id);
	for (; done < ids->n; done++) {
		struct store_key k = { 0 };
		struct store_key_id id;

		memcpy(id.b, ids->id[done], STORE_KEY_ID_LEN);
		r = store_get_by_id(w->st, master->peer, master->classes[0], &id, to, time(NULL), &k);
		if (r == 0) {
			r = put_key(&k, bits, &keys[done]);
			store_key_done(&k);
		}
		if (r < 0)
			break;
	}
	if (done)
		__atomic_fetch_add(&w->s->st.dec_keys, done, __ATOMIC_RELAXED);
	if (done == ids->n)
		return 0;
	/*
	 * Keys before the failing one are delivered and recorded, and are not
	 * returned: lost, never served twice (the all-or-none response the spec
	 * asks for). Only a concurrent request for the same ID or a store fault
	 * gets here with done > 0.
	 */
	switch (r) {
	case -ENOKEY:
	case -EALREADY:
	case -EKEYEXPIRED:
	case -EKEYREVOKED:
		etsi014_error_set(err, 400, ETSI014_ERR_KEYS_NOT_FOUND);
		return -ENOKEY;
	default:
		return store_error(r, master->peer, master->classes[0], err);
	}
}

static int be_thread_init(void *arg, unsigned thread, void **ret)
{
	struct supply *s = arg;
	struct worker *w = calloc(1, sizeof(*w));
	int r;

	(void)thread;
	if (!w)
		return -ENOMEM;
	w->s = s;
	if ((r = store_open(s->db_path, s->kek, &w->st)) < 0 ||
	    (s->size_limit && (r = store_set_size_limit(w->st, s->size_limit)) < 0)) {
		store_close(w->st);
		free(w);
		return r;
	}
	*ret = w;
	return 0;
}

static void be_thread_done(void *tctx)
{
	struct worker *w = tctx;

	if (w) {
		store_close(w->st);
		free(w);
	}
}

void supply_backend(struct supply *s, struct etsi014_backend *ret)
{
	*ret = (struct etsi014_backend){
		.arg = s,
		.thread_init = be_thread_init,
		.thread_done = be_thread_done,
		.status = be_status,
		.enc_keys = be_enc,
		.dec_keys = be_dec,
	};
}

void supply_stats(const struct supply *s, struct supply_stats *ret)
{
	ret->enc_keys = __atomic_load_n(&s->st.enc_keys, __ATOMIC_RELAXED);
	ret->dec_keys = __atomic_load_n(&s->st.dec_keys, __ATOMIC_RELAXED);
	ret->denied = __atomic_load_n(&s->st.denied, __ATOMIC_RELAXED);
	ret->exhausted = __atomic_load_n(&s->st.exhausted, __ATOMIC_RELAXED);
}

static int check_table(const struct supply_sae *t, size_t n, char *err, size_t err_size)
{
	if (n > SUPPLY_MAX_SAES) {
		snprintf(err, err_size, "more than %d SAEs", SUPPLY_MAX_SAES);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		const struct supply_sae *a = &t[i];
		unsigned bits = bits_of(a);

		if (!etsi014_id_valid(a->id) || !a->peer[0] || a->n_classes == 0 ||
		    a->n_classes > SUPPLY_MAX_CLASSES) {
			snprintf(err, err_size, "SAE %s: needs an ID, a peer and a class", a->id);
			return -EINVAL;
		}
		if (a->remote && a->n_classes != 1) {
			snprintf(err, err_size, "remote SAE %s: exactly one class (its pool)", a->id);
			return -EINVAL;
		}
		if (!a->remote && !a->roles) {
			snprintf(err, err_size, "local SAE %s: no role", a->id);
			return -EINVAL;
		}
		if (bits % 8 || bits < 64 || bits > ETSI014_KEY_MAX_BITS) {
			snprintf(err, err_size, "SAE %s: key size %u is not a multiple of 8 in 64..%d",
				 a->id, bits, ETSI014_KEY_MAX_BITS);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			const struct supply_sae *b = &t[j];

			if (!strcmp(a->id, b->id) && a->remote == b->remote) {
				snprintf(err, err_size, "SAE %s listed twice", a->id);
				return -EINVAL;
			}
			if (a->remote && b->remote && !strcmp(a->peer, b->peer) &&
			    !strcmp(a->classes[0], b->classes[0])) {
				snprintf(err, err_size, "remote SAEs %s and %s share the pool of peer %s "
					 "class %s: one remote SAE per pool", b->id, a->id, a->peer,
					 a->classes[0]);
				return -EINVAL;
			}
			if (!a->remote && !b->remote && (a->roles & SUPPLY_SLAVE) &&
			    (b->roles & SUPPLY_SLAVE) && !strcmp(a->peer, b->peer))
				for (size_t k = 0; k < a->n_classes; k++)
					if (has_class(b, a->classes[k])) {
						snprintf(err, err_size, "local SAEs %s and %s are both "
							 "slaves of peer %s class %s: one slave per "
							 "pool", b->id, a->id, a->peer, a->classes[k]);
						return -EINVAL;
					}
		}
	}
	return 0;
}

int supply_new(const struct supply_config *cfg, struct supply **ret, char *err, size_t err_size)
{
	struct supply *s;
	int r;

	if (!cfg->kme_id || !etsi014_id_valid(cfg->kme_id) || !cfg->db_path || !cfg->kek) {
		snprintf(err, err_size, "incomplete key supply configuration");
		return -EINVAL;
	}
	if ((r = check_table(cfg->saes, cfg->n_saes, err, err_size)) < 0)
		return r;
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	snprintf(s->kme_id, sizeof(s->kme_id), "%s", cfg->kme_id);
	s->db_path = strdup(cfg->db_path);
	s->kek = secret_dup(cfg->kek->p, cfg->kek->len);
	s->saes = cfg->n_saes ? calloc(cfg->n_saes, sizeof(*s->saes)) : NULL;
	if (!s->db_path || !s->kek || (cfg->n_saes && !s->saes)) {
		supply_free(s);
		return -ENOMEM;
	}
	if (cfg->n_saes)
		memcpy(s->saes, cfg->saes, cfg->n_saes * sizeof(*s->saes));
	s->n_saes = cfg->n_saes;
	s->size_limit = cfg->store_size_limit;
	s->on_audit = cfg->on_audit;
	s->audit_arg = cfg->audit_arg;
	*ret = s;
	return 0;
}

void supply_free(struct supply *s)
{
	if (!s)
		return;
	secret_free(s->kek);
	free(s->db_path);
	free(s->saes);
	free(s);
}
