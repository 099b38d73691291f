// SPDX-License-Identifier: Apache-2.0
/*
 * Delivery reserves of the key supply: keys recorded as delivered to one
 * recipient, held ready in secret memory. Contract in reserve.h.
 */
#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/secret.h"
#include "supply/reserve.h"

#define REFILL_BACKOFF_MS 200		/* after a failed refill (pool empty, store full) */

struct rkey {
	uint8_t id[STORE_KEY_ID_LEN];
	int64_t hard_expiry;
	uint16_t methods[STORE_METHODS_MAX];
	uint8_t n_methods;
};

struct reserve {
	bool used;
	const void *owner;
	const char *cls;
	char to[STORE_WHO_MAX + 1];
	struct rkey *meta;		/* ring of cap */
	struct secret *arena;		/* cap x RESERVE_KEY_LEN */
	size_t head, n, cap;
	size_t target;
	bool refilling;			/* a refill is wanted or running */
	double dry_until_ms;		/* no refill before (monotonic ms) */
	double mark_ms;			/* start of the demand measurement */
	uint64_t served_since;		/* keys served since mark_ms */
	double rate;			/* keys/s, last measurement */
	int64_t min_expiry;		/* earliest hard expiry held (INT64_MAX: none) */
	size_t largest;			/* the largest request seen */
};

struct reserve_table {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	size_t max_keys;
	struct reserve r[RESERVE_MAX_POOLS];
	struct reserve_stats st;
};

/* Monotonic milliseconds, fractional (demand is measured over short windows). */
static double mono_ms(void)
{
	return (double)mfs_mono_ns() / 1e6;
}

int reserve_table_new(size_t max_keys, struct reserve_table **ret)
{
	struct reserve_table *t;

	if (max_keys < 1 || max_keys > STORE_TAKE_MAX * 4)
		return -EINVAL;
	if (!(t = calloc(1, sizeof(*t))))
		return -ENOMEM;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	t->max_keys = max_keys;
	*ret = t;
	return 0;
}

static void drop_all(struct reserve_table *t, struct reserve *r)
{
	t->st.discarded += r->n;
	t->st.held -= r->n;
	r->n = r->head = 0;
	r->min_expiry = INT64_MAX;
	if (r->arena)
		mfs_wipe(r->arena->p, r->arena->len);
}

void reserve_table_free(struct reserve_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < RESERVE_MAX_POOLS; i++) {
		struct reserve *r = &t->r[i];

		if (!r->used)
			continue;
		drop_all(t, r);
		secret_free(r->arena);
		free(r->meta);
	}
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
	free(t);
}

static struct reserve *find(struct reserve_table *t, const void *owner, const char *cls,
			    const char *to, bool create)
{
	struct reserve *free_slot = NULL;

	for (size_t i = 0; i < RESERVE_MAX_POOLS; i++) {
		struct reserve *r = &t->r[i];

		if (!r->used) {
			if (!free_slot)
				free_slot = r;
			continue;
		}
		if (r->owner == owner && r->cls == cls && !strcmp(r->to, to))
			return r;
	}
	if (!create || !free_slot || strlen(to) >= sizeof(free_slot->to))
		return NULL;
	/* Room for a refill that lands after the target shrank: twice the largest target. */
	free_slot->cap = t->max_keys * 2;
	free_slot->meta = calloc(free_slot->cap, sizeof(*free_slot->meta));
	free_slot->arena = secret_alloc(free_slot->cap * RESERVE_KEY_LEN);
	if (!free_slot->meta || !free_slot->arena) {
		free(free_slot->meta);
		secret_free(free_slot->arena);
		memset(free_slot, 0, sizeof(*free_slot));
		return NULL;
	}
	free_slot->used = true;
	free_slot->owner = owner;
	free_slot->cls = cls;
	memcpy(free_slot->to, to, strlen(to) + 1);
	free_slot->target = RESERVE_MIN < t->max_keys ? RESERVE_MIN : t->max_keys;
	free_slot->mark_ms = mono_ms();
	free_slot->min_expiry = INT64_MAX;
	return free_slot;
}

/*
 * Drop the keys for which drop(m, arg) holds, wiping them, and keep the
 * others in order (the ring compacted in place). Returns how many dropped.
 */
static size_t compact(struct reserve_table *t, struct reserve *r,
		      bool (*drop)(const struct rkey *m, int64_t arg), int64_t arg)
{
	size_t kept = 0, dropped = 0;
	int64_t min_exp = INT64_MAX;

	for (size_t j = 0; j < r->n; j++) {
		size_t from = (r->head + j) % r->cap, to = (r->head + kept) % r->cap;
		uint8_t *src = r->arena->p + from * RESERVE_KEY_LEN;

		if (drop(&r->meta[from], arg)) {
			mfs_wipe(src, RESERVE_KEY_LEN);
			dropped++;
			continue;
		}
		if (to != from) {
			memcpy(r->arena->p + to * RESERVE_KEY_LEN, src, RESERVE_KEY_LEN);
			mfs_wipe(src, RESERVE_KEY_LEN);
			r->meta[to] = r->meta[from];
		}
		if (r->meta[to].hard_expiry < min_exp)
			min_exp = r->meta[to].hard_expiry;
		kept++;
	}
	r->n = kept;
	r->min_expiry = min_exp;
	t->st.held -= dropped;
	t->st.discarded += dropped;
	return dropped;
}

static bool expired(const struct rkey *m, int64_t now)
{
	return m->hard_expiry <= now;
}

static bool uses(const struct rkey *m, int64_t method)
{
	for (size_t i = 0; i < m->n_methods; i++)
		if (m->methods[i] == method)
			return true;
	return false;
}

/*
 * Re-measure the demand and the target, then want a refill when the reserve
 * holds less than half its target. The target covers RESERVE_HORIZON_MS of
 * the demand and at least two of the largest request seen, so that a
 * request of any size can be served from it.
 */
static void maybe_refill(struct reserve_table *t, struct reserve *r)
{
	double now = mono_ms(), dt = now - r->mark_ms;
	size_t floor = r->largest * 2 > RESERVE_MIN ? r->largest * 2 : RESERVE_MIN;

	if (dt >= 1.0) {
		double rate = (double)r->served_since * 1e3 / dt;

		/* a burst raises the target at once; a lull lowers it by half at most */
		r->rate = rate > r->rate / 2 ? rate : r->rate / 2;
		r->mark_ms = now;
		r->served_since = 0;
	}
	r->target = (size_t)(r->rate * RESERVE_HORIZON_MS / 1e3 + 0.5);
	if (r->target < floor)
		r->target = floor;
	if (r->target > t->max_keys)
		r->target = t->max_keys;
	if (r->refilling || r->n * 2 >= r->target || now < r->dry_until_ms)
		return;
	r->refilling = true;
	pthread_cond_signal(&t->cv);
}

int reserve_serve(struct reserve_table *t, const void *owner, const char *cls, const char *to,
		  size_t n, int64_t now, struct etsi014_key *out)
{
	struct reserve *r;
	int ret = 0;

	pthread_mutex_lock(&t->mu);
	if (!(r = find(t, owner, cls, to, true))) {
		t->st.misses++;
		pthread_mutex_unlock(&t->mu);
		return -ENOSPC;
	}
	if (now >= r->min_expiry)
		compact(t, r, expired, now);
	if (n > r->largest)
		r->largest = n;
	if (r->n < n) {
		/* count the demand all the same, so the target grows to meet it */
		r->served_since += n;
		t->st.misses++;
		ret = -EAGAIN;
	} else {
		for (size_t i = 0; i < n; i++) {
			uint8_t *p = r->arena->p + r->head * RESERVE_KEY_LEN;

			memcpy(out[i].key, p, RESERVE_KEY_LEN);
			out[i].len = RESERVE_KEY_LEN;
			memcpy(out[i].id, r->meta[r->head].id, STORE_KEY_ID_LEN);
			mfs_wipe(p, RESERVE_KEY_LEN);
			r->head = (r->head + 1) % r->cap;
		}
		r->n -= n;
		r->served_since += n;
		t->st.held -= n;
		t->st.served += n;
	}
	maybe_refill(t, r);
	pthread_mutex_unlock(&t->mu);
	return ret;
}

int reserve_wait(struct reserve_table *t, struct reserve_refill *ret)
{
	pthread_mutex_lock(&t->mu);
	for (;;) {
		if (t->stop) {
			pthread_mutex_unlock(&t->mu);
			return -ECANCELED;
		}
		for (size_t i = 0; i < RESERVE_MAX_POOLS; i++) {
			struct reserve *r = &t->r[i];

			if (r->used && r->refilling) {
				size_t want = r->target > r->n ? r->target - r->n : 0;

				*ret = (struct reserve_refill){ .r = r, .owner = r->owner, .cls = r->cls,
								.to = r->to, .n = want };
				if (!want) {
					r->refilling = false;
					continue;
				}
				if (ret->n > RESERVE_REFILL_MAX)
					ret->n = RESERVE_REFILL_MAX;
				pthread_mutex_unlock(&t->mu);
				return 0;
			}
		}
		pthread_cond_wait(&t->cv, &t->mu);
	}
}

void reserve_stop(struct reserve_table *t)
{
	pthread_mutex_lock(&t->mu);
	t->stop = true;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

void reserve_put(struct reserve_table *t, const struct reserve_refill *ref,
		 const struct store_key *k, size_t n, int64_t now)
{
	struct reserve *r = ref->r;

	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < n; i++) {
		size_t at = (r->head + r->n) % r->cap;
		struct rkey *m = &r->meta[at];

		if (r->n == r->cap || !k[i].key || k[i].key->len != RESERVE_KEY_LEN ||
		    k[i].meta.hard_expiry <= now) {
			t->st.discarded++;	/* recorded as delivered, never served */
			continue;
		}
		memcpy(r->arena->p + at * RESERVE_KEY_LEN, k[i].key->p, RESERVE_KEY_LEN);
		memcpy(m->id, k[i].meta.id.b, STORE_KEY_ID_LEN);
		m->hard_expiry = k[i].meta.hard_expiry;
		m->n_methods = (uint8_t)k[i].meta.n_methods;
		memcpy(m->methods, k[i].meta.methods, sizeof(m->methods));
		if (m->hard_expiry < r->min_expiry)
			r->min_expiry = m->hard_expiry;
		r->n++;
		t->st.held++;
	}
	r->refilling = false;
	t->st.refills++;
	maybe_refill(t, r);
	pthread_mutex_unlock(&t->mu);
}

void reserve_refill_failed(struct reserve_table *t, const struct reserve_refill *ref)
{
	pthread_mutex_lock(&t->mu);
	ref->r->refilling = false;
	ref->r->dry_until_ms = mono_ms() + REFILL_BACKOFF_MS;
	pthread_mutex_unlock(&t->mu);
}

size_t reserve_revoke(struct reserve_table *t, uint16_t method)
{
	size_t dropped = 0;

	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < RESERVE_MAX_POOLS; i++)
		if (t->r[i].used)
			dropped += compact(t, &t->r[i], uses, method);
	pthread_mutex_unlock(&t->mu);
	return dropped;
}

void reserve_table_stats(struct reserve_table *t, struct reserve_stats *ret)
{
	pthread_mutex_lock(&t->mu);
	*ret = t->st;
	pthread_mutex_unlock(&t->mu);
}
