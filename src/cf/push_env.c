/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TAKEN / INSTALLED envelopes of the push layer (cf.h cf_hooks,
 * docs/protocol.md 11, docs/push.md): a subscriber on one side took or
 * installed keys, the other side hears of it through the hooks. The engine
 * only frames them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cf/internal.h"

/* TAKEN / INSTALLED (the lengths are checked by the caller): hand them to the push layer. */
int cf_on_push_env(struct cf_peer *p, uint8_t kind, const uint8_t *e, size_t len, int64_t now)
{
	struct cf *cf = p->cf;
	char name[256];
	struct cf_class *c;
	size_t nl = e[0];

	memcpy(name, e + 1, nl);
	name[nl] = '\0';
	if (!(c = cf_class_by_name(p, name))) {
		snprintf(p->last_error, sizeof(p->last_error), "%s for unknown class",
			 kind == CF_ENV_TAKEN ? "TAKEN" : "INSTALLED");
		return -EBADMSG;
	}
	if (kind == CF_ENV_TAKEN) {
		size_t n = e[1 + nl];

		if (len != 2 + nl + n * CF_KEY_ID_LEN)
			return -EBADMSG;
		if (cf->hooks.taken)
			cf->hooks.taken(cf->hooks.arg, p, c, e + 2 + nl, n, now);
	} else {
		if (len != 1 + nl + CF_KEY_ID_LEN)
			return -EBADMSG;
		if (cf->hooks.installed)
			cf->hooks.installed(cf->hooks.arg, p, c, e + 1 + nl, now);
	}
	return 0;
}

void cf_set_hooks(struct cf *cf, const struct cf_hooks *h)
{
	if (h)
		cf->hooks = *h;
	else
		memset(&cf->hooks, 0, sizeof(cf->hooks));
}

int cf_send_taken(struct cf_peer *p, const struct cf_class *c, const uint8_t *ids, size_t n)
{
	uint8_t b[2 + POLICY_NAME_MAX + CF_TAKEN_MAX * CF_KEY_ID_LEN];
	size_t nl = strlen(c->cfg.policy.name);

	if (!p->up)
		return -ENOTCONN;
	if (n == 0 || n > CF_TAKEN_MAX || nl > POLICY_NAME_MAX)
		return -EINVAL;
	b[0] = (uint8_t)nl;
	memcpy(b + 1, c->cfg.policy.name, nl);
	b[1 + nl] = (uint8_t)n;
	memcpy(b + 2 + nl, ids, n * CF_KEY_ID_LEN);
	return cf_env_send(p, CF_ENV_TAKEN, 0, b, 2 + nl + n * CF_KEY_ID_LEN);
}

int cf_send_installed(struct cf_peer *p, const struct cf_class *c, const uint8_t *id)
{
	uint8_t b[1 + POLICY_NAME_MAX + CF_KEY_ID_LEN];
	size_t nl = strlen(c->cfg.policy.name);

	if (!p->up)
		return -ENOTCONN;
	if (nl > POLICY_NAME_MAX)
		return -EINVAL;
	b[0] = (uint8_t)nl;
	memcpy(b + 1, c->cfg.policy.name, nl);
	memcpy(b + 1 + nl, id, CF_KEY_ID_LEN);
	return cf_env_send(p, CF_ENV_INSTALLED, 0, b, 1 + nl + CF_KEY_ID_LEN);
}
