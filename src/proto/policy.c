/* SPDX-License-Identifier: Apache-2.0 */
#include "proto/policy.h"

#include <string.h>

bool policy_name_valid(const char *name)
{
	size_t n = 0;

	for (; name[n]; n++) {
		char c = name[n];

		if (n >= POLICY_NAME_MAX ||
		    !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

void policy_init(struct class_policy *p, const char *name)
{
	memset(p, 0, sizeof(*p));
	if (policy_name_valid(name))
		memcpy(p->name, name, strlen(name) + 1);
	p->min_pq_factors = POLICY_DEFAULT_MIN_PQ;
	p->min_families = POLICY_DEFAULT_MIN_FAMILIES;
	p->combiner = COMBINER_CATKDF;
	p->rekey_interval_s = POLICY_DEFAULT_REKEY_INTERVAL_S;
	p->rekey_volume_bytes = POLICY_DEFAULT_REKEY_VOLUME_BYTES;
	p->hard_lifetime_s = POLICY_DEFAULT_HARD_LIFETIME_S;
	p->pool_low = POLICY_DEFAULT_POOL_LOW;
	p->pool_high = POLICY_DEFAULT_POOL_HIGH;
}
