/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Delivery reserves of the key supply (internal to src/supply).
 *
 * A reserve holds keys of one pool that the store has already recorded as
 * delivered to one recipient ("A>B": local master A, remote slave B), taken
 * ahead of need in one transaction, so that an enc_keys request is answered
 * from memory instead of waiting for its own fsync. The durability rule
 * holds unchanged: every key in a reserve was committed as delivered to
 * that recipient before it entered the reserve, so a key served from it has
 * been recorded before it leaves; a crash or a stop loses the keys still
 * held (recorded, never served: never twice). The loss is bounded by the
 * reserve's size and counted (discarded).
 *
 * Size: a reserve aims at `target` keys, about 100 ms of the demand it has
 * seen (keys asked for per second, measured between refills), at least
 * RESERVE_MIN and twice the largest request seen, at most the table's
 * max_keys; it asks for a refill when it
 * holds less than half its target. A refill is one store_take() of the
 * difference, run by the supply's refill thread through the same group
 * commit as the requests (one writer).
 *
 * Keys leave a reserve only through reserve_serve(); they are dropped (wiped,
 * counted as discarded) when their hard expiry passes, when a method they
 * were derived with is revoked (reserve_revoke()), and when the table is
 * freed. Key bytes live in one secret arena per reserve (mlocked, wiped).
 *
 * Thread safety: every function takes the table's lock; reserve_wait()
 * blocks the refill thread until a reserve wants keys or reserve_stop().
 */
#ifndef MFS_SUPPLY_RESERVE_H
#define MFS_SUPPLY_RESERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etsi014/etsi014.h"
#include "store/store.h"

#define RESERVE_KEY_LEN 32		/* native pool key (SUPPLY_NATIVE_BITS / 8) */
#define RESERVE_MIN 32			/* smallest target */
#define RESERVE_MAX_POOLS 64		/* reserves in a table (recipient x pool) */
#define RESERVE_HORIZON_MS 100		/* target = demand over this long */
#define RESERVE_REFILL_MAX 256		/* keys per refill transaction (a request behind it waits) */

struct reserve_table;
struct reserve;

/* A refill the refill thread is to run: take n keys of pool (peer, cls) for `to`. */
struct reserve_refill {
	struct reserve *r;
	const void *owner;		/* the caller's pool handle, as given to reserve_serve() */
	const char *cls, *to;		/* valid until reserve_put()/reserve_refill_failed() */
	size_t n;
};

/* max_keys: largest target of a reserve (1..STORE_TAKE_MAX * 4). */
int reserve_table_new(size_t max_keys, struct reserve_table **ret);
/* Wipe every key still held (counted as discarded) and free. NULL-safe. */
void reserve_table_free(struct reserve_table *t);

/*
 * Serve n keys for (owner, cls, to) into out[0..n) (ID, and the native key
 * of RESERVE_KEY_LEN bytes; len set); owner is the caller's handle of the pool (compared
 * by address, with cls and to by value). 0: served; -EAGAIN: fewer than n
 * usable keys held (nothing taken); -ENOSPC: no reserve could be made (the
 * table is full). Asks for a refill when the reserve runs below half its
 * target (creating the reserve on first use).
 */
int reserve_serve(struct reserve_table *t, const void *owner, const char *cls, const char *to,
		  size_t n, int64_t now, struct etsi014_key *out);

/* Block until a reserve wants a refill (0, *ret filled) or the table is stopped (-ECANCELED). */
int reserve_wait(struct reserve_table *t, struct reserve_refill *ret);
/* Wake reserve_wait() for good. */
void reserve_stop(struct reserve_table *t);

/* The refill of ref delivered k[0..n) (recorded to ref->to): keep copies (the caller frees k). */
void reserve_put(struct reserve_table *t, const struct reserve_refill *ref,
		 const struct store_key *k, size_t n, int64_t now);
/* The refill failed: no new refill of this reserve for a while (an empty or full store). */
void reserve_refill_failed(struct reserve_table *t, const struct reserve_refill *ref);

/* Drop every held key derived with method; returns how many. */
size_t reserve_revoke(struct reserve_table *t, uint16_t method);

struct reserve_stats {
	uint64_t held;			/* keys held now, over all reserves */
	uint64_t served;		/* keys served from reserves */
	uint64_t misses;		/* requests a reserve could not serve */
	uint64_t refills;		/* refills put */
	uint64_t discarded;		/* keys dropped: expired, revoked, at shutdown */
};
void reserve_table_stats(struct reserve_table *t, struct reserve_stats *ret);

#endif
