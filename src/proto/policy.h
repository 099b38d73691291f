/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Data protection classes: the local policy each class of data is keyed
 * under (zero trust: every class has its own keys and rules). Filled from
 * the configuration (src/daemon/config.c); used by negotiation
 * (src/proto/negotiate.c) and by the control engine.
 *
 * Method lists hold wire codepoints (enum kex_method_id), in the local
 * preference order.
 */
#ifndef MFS_PROTO_POLICY_H
#define MFS_PROTO_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/combiner.h"

#define POLICY_MAX_METHODS 8
#define POLICY_NAME_MAX 32	/* class names: [a-z0-9_-]{1,32} */

struct class_policy {
	char name[POLICY_NAME_MAX + 1];
	/* every one of these must be in the negotiated suite (all-of) */
	uint16_t required[POLICY_MAX_METHODS];
	size_t n_required;
	/* used when both sides have them; never needed to meet the minimums */
	uint16_t optional[POLICY_MAX_METHODS];
	size_t n_optional;
	/* minimum number of methods with post_quantum = true in the suite */
	uint8_t min_pq_factors;
	/* minimum number of distinct families (lattice, code, qkd, psk, classical) */
	uint8_t min_families;
	enum combiner_mode combiner;
	uint32_t rekey_interval_s;	/* time-based rekey */
	uint64_t rekey_volume_bytes;	/* volume-based rekey (reported usage) */
	uint32_t hard_lifetime_s;	/* no key of this class is used after this */
	uint32_t pool_low, pool_high;	/* key pool watermarks, per direction */
};

/* Defaults of a class, before the configuration overrides them. */
#define POLICY_DEFAULT_REKEY_INTERVAL_S 600		/* seed 002: every 10 min */
#define POLICY_DEFAULT_REKEY_VOLUME_BYTES (1ULL << 34)	/* 2^30 AES blocks */
#define POLICY_DEFAULT_HARD_LIFETIME_S 3600
#define POLICY_DEFAULT_POOL_LOW 16
#define POLICY_DEFAULT_POOL_HIGH 64
#define POLICY_DEFAULT_MIN_PQ 2
#define POLICY_DEFAULT_MIN_FAMILIES 2

/* A policy with the defaults above, the given name, and no methods. */
void policy_init(struct class_policy *p, const char *name);
/* True when name is [a-z0-9_-]{1,POLICY_NAME_MAX}. */
bool policy_name_valid(const char *name);

#endif
