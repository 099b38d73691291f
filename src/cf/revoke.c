/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Method revocation (cf.h cf_revoke/cf_restore, docs/mfsd.md
 * "Revocation"): the revoked list, persisted in cf_config.revoked_path
 * (one line per method: "id at origin reason"); revoking withdraws the
 * method's keys, re-exchanges every class that uses it and tells every
 * connected peer (REVOKE, answered by REVOKE_ACK); a restore (RESTORE
 * envelope) lifts only what the same origin revoked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/log.h"
#include "cf/internal.h"

#define CF_REVOKED_FILE_MAX (64U * 1024)

/* ---- revocations (persisted: one line per method, "id at origin reason") ---- */

const struct cf_revoked *cf_revoked_find(const struct cf *cf, uint16_t method)
{
	for (size_t i = 0; i < cf->n_revoked; i++)
		if (cf->revoked[i].method == method)
			return &cf->revoked[i];
	return NULL;
}

static int revoked_save(struct cf *cf)
{
	char buf[CF_MAX_REVOKED * (16 + 24 + CF_NAME_MAX + 8 + MSG_TEXT_MAX + 4)];
	size_t off = 0;

	if (!cf->cfg.revoked_path)
		return 0;
	for (size_t i = 0; i < cf->n_revoked; i++) {
		const struct cf_revoked *r = &cf->revoked[i];
		int w = snprintf(buf + off, sizeof(buf) - off, "%04x %lld %s %s\n", r->method,
				 (long long)r->at, r->origin, r->reason);
		if (w < 0 || (size_t)w >= sizeof(buf) - off)
			return -EMSGSIZE;
		off += (size_t)w;
	}
	return file_write_atomic(cf->cfg.revoked_path, buf, off, FILE_OVERWRITE);
}

int cf_revoked_load(struct cf *cf)
{
	uint8_t *data = NULL;
	size_t len = 0;
	char *text = NULL, *line, *save = NULL;
	int r;

	if (!cf->cfg.revoked_path)
		return 0;
	r = file_read(cf->cfg.revoked_path, CF_REVOKED_FILE_MAX, FILE_NO_FOLLOW, &data, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (!(text = malloc(len + 1))) {
		free(data);
		return -ENOMEM;
	}
	memcpy(text, data, len);
	text[len] = '\0';
	free(data);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct cf_revoked rv = { 0 };
		char *end, *origin, *reason;
		unsigned long id = strtoul(line, &end, 16);
		long long at;

		if (end == line || *end != ' ' || id == 0 || id > 0xffff)
			goto bad;
		at = strtoll(end + 1, &end, 10);
		if (*end != ' ')
			goto bad;
		origin = end + 1;
		if (!(reason = strchr(origin, ' ')))
			goto bad;
		*reason++ = '\0';
		if (strlen(origin) >= sizeof(rv.origin) || strlen(reason) >= sizeof(rv.reason) ||
		    cf->n_revoked >= CF_MAX_REVOKED)
			goto bad;
		rv.method = (uint16_t)id;
		rv.at = at;
		memcpy(rv.origin, origin, strlen(origin) + 1);
		memcpy(rv.reason, reason, strlen(reason) + 1);
		if (!cf_revoked_find(cf, rv.method))
			cf->revoked[cf->n_revoked++] = rv;
	}
	free(text);
	return 0;
bad:
	free(text);
	return -EBADMSG;
}

/* ---- revoking and restoring ---- */

/* who as the store takes it (1..STORE_WHO_MAX): "peer:" + a 64-character node id is longer. */
const char *cf_store_who(const char *who, char buf[static STORE_WHO_MAX + 1])
{
	snprintf(buf, STORE_WHO_MAX + 1, "%s", who);
	return buf;
}

static int revoke_apply(struct cf *cf, uint16_t method, const char *origin, const char *who,
			const char *reason, int64_t now, size_t *ret_withdrawn)
{
	struct cf_revoked rv = { .method = method, .at = now };
	struct store_key_id *ids = NULL;
	char detail[STORE_DETAIL_MAX], w[STORE_WHO_MAX + 1];
	size_t held = 0;
	int n, r;

	if (cf_revoked_find(cf, method))
		return -EALREADY;
	if (cf->n_revoked >= CF_MAX_REVOKED)
		return -ENOSPC;
	snprintf(rv.origin, sizeof(rv.origin), "%s", origin);
	for (size_t i = 0; reason[i] && i < MSG_TEXT_MAX; i++)
		rv.reason[i] = (reason[i] >= 0x20 && reason[i] <= 0x7e) ? reason[i] : '?';
	if (!rv.reason[0])
		memcpy(rv.reason, "-", 2);
	cf->revoked[cf->n_revoked++] = rv;
	if ((r = revoked_save(cf)) < 0) {
		cf->n_revoked--;
		return r;
	}
	/* keys held ready for delivery (the key supply's reserves) go first: none leaves from now on */
	if (cf->revoke_listener)
		held = cf->revoke_listener(cf->revoke_listener_arg, method);
	n = store_withdraw_method(cf->st, method, cf_store_who(who, w), rv.reason, now, &ids);
	free(ids);
	if (n < 0) {
		log_err("revoke %s: cannot withdraw its keys: %s", kex_method_name(method), strerror(-n));
		n = 0;
	}
	snprintf(detail, sizeof(detail),
		 "method %s revoked (origin %s): %s; %d keys withdrawn, %zu reserved keys dropped",
		 kex_method_name(method), rv.origin, rv.reason, n, held);
	if ((r = store_audit_append(cf->st, now, w, "method-revoke", detail, n)) < 0)
		log_err("revoke %s: audit record failed: %s", kex_method_name(method), strerror(-r));
	log_notice("method %s revoked by %s (%s): %d keys withdrawn", kex_method_name(method), who,
		   rv.reason, n);
	/* every affected class re-exchanges at once */
	for (size_t i = 0; i < cf->n_peers; i++) {
		struct cf_peer *p = &cf->peers[i];

		for (size_t j = 0; j < p->cfg.n_classes; j++) {
			struct cf_class *c = &p->classes[j];

			if (!cf_class_uses(c, method))
				continue;
			/* the elected initiator re-exchanges; the other side waits for it */
			c->want = c->initiator;
			c->retry_at = 0;
			c->failures = 0;
			if (cf_class_requires_revoked(cf, c))
				log_warning("peer %s class %s: fail closed: required method %s is revoked",
					    p->cfg.name, c->cfg.policy.name, kex_method_name(method));
		}
	}
	/* delivered keys derived with it: the push layer retires them at its subscribers */
	if (cf->hooks.revoked)
		cf->hooks.revoked(cf->hooks.arg, method, now);
	if (ret_withdrawn)
		*ret_withdrawn = (size_t)n;
	return 0;
}

int cf_revoke(struct cf *cf, uint16_t method, const char *who, const char *reason, int64_t now,
	      size_t *ret_withdrawn)
{
	int r = revoke_apply(cf, method, "local", who, reason, now, ret_withdrawn);

	if (r < 0)
		return r;
	for (size_t i = 0; i < cf->n_peers; i++)
		if (cf->peers[i].up)
			cf_send_notice(&cf->peers[i], 0, MSGT_REVOKE, method,
				    cf_revoked_find(cf, method)->reason);
	return 0;
}

static int restore_apply(struct cf *cf, uint16_t method, const char *who, int64_t now)
{
	const struct cf_revoked *rv = cf_revoked_find(cf, method);
	char detail[256], w[STORE_WHO_MAX + 1];
	size_t i;
	int r;

	if (!rv)
		return -ENOENT;
	i = (size_t)(rv - cf->revoked);
	snprintf(detail, sizeof(detail), "method %s restored (was revoked by %s)",
		 kex_method_name(method), rv->origin);
	memmove(&cf->revoked[i], &cf->revoked[i + 1], (cf->n_revoked - i - 1) * sizeof(*rv));
	cf->n_revoked--;
	if ((r = revoked_save(cf)) < 0)
		log_err("restore %s: cannot persist: %s", kex_method_name(method), strerror(-r));
	if ((r = store_audit_append(cf->st, now, cf_store_who(who, w), "method-restore", detail, 0)) < 0)
		log_err("restore %s: audit record failed: %s", kex_method_name(method), strerror(-r));
	log_notice("%s by %s", detail, who);
	for (size_t a = 0; a < cf->n_peers; a++)
		for (size_t b = 0; b < cf->peers[a].cfg.n_classes; b++)
			if (cf_class_uses(&cf->peers[a].classes[b], method)) {
				cf->peers[a].classes[b].want = cf->peers[a].classes[b].initiator;
				cf->peers[a].classes[b].retry_at = 0;
			}
	return 0;
}

int cf_restore(struct cf *cf, uint16_t method, const char *who, int64_t now)
{
	const struct cf_revoked *rv = cf_revoked_find(cf, method);
	int r;

	if (!rv)
		return -ENOENT;
	if (strcmp(rv->origin, "local") != 0 && strncmp(rv->origin, "peer:", 5) != 0)
		return -EPERM;
	if ((r = restore_apply(cf, method, who, now)) < 0)
		return r;
	for (size_t i = 0; i < cf->n_peers; i++) {
		uint8_t b[2] = { (uint8_t)(method >> 8), (uint8_t)method };

		if (cf->peers[i].up)
			cf_env_send(&cf->peers[i], CF_ENV_RESTORE, 0, b, sizeof(b));
	}
	return 0;
}

int cf_on_link_msg(struct cf_peer *p, const uint8_t *f, size_t len, int64_t now)
{
	struct msg m;
	char who[CF_NAME_MAX + 8], reason[MSG_TEXT_MAX + 1];
	int r;

	if ((r = msg_parse(f, len, &m)) < 0) {
		snprintf(p->last_error, sizeof(p->last_error), "malformed link message");
		return r;
	}
	if (m.type == MSGT_REVOKE_ACK) {
		log_info("peer %s acknowledged the revocation of %s", p->cfg.name,
			 kex_method_name(m.u.notice.code));
		return 0;
	}
	if (m.type != MSGT_REVOKE) {
		snprintf(p->last_error, sizeof(p->last_error), "unexpected %s on the link",
			 msg_type_name(m.type));
		return -EPROTO;
	}
	snprintf(who, sizeof(who), "peer:%s", p->cfg.name);
	memcpy(reason, m.u.notice.text.p, m.u.notice.text.n);
	reason[m.u.notice.text.n] = '\0';
	if (!kex_method_by_id(m.u.notice.code)) {
		log_warning("peer %s revoked method 0x%04x, unknown here", p->cfg.name, m.u.notice.code);
	} else if ((r = revoke_apply(p->cf, m.u.notice.code, who, who, reason, now, NULL)) < 0 &&
		   r != -EALREADY) {
		log_err("peer %s revoked %s: cannot apply: %s", p->cfg.name,
			kex_method_name(m.u.notice.code), strerror(-r));
	}
	return cf_send_notice(p, 0, MSGT_REVOKE_ACK, m.u.notice.code, "revoked");
}

int cf_on_restore(struct cf_peer *p, uint16_t method, int64_t now)
{
	const struct cf_revoked *rv = cf_revoked_find(p->cf, method);
	char who[CF_NAME_MAX + 8];

	snprintf(who, sizeof(who), "peer:%s", p->cfg.name);
	/* a peer lifts only what it revoked */
	if (rv && !strcmp(rv->origin, who))
		restore_apply(p->cf, method, who, now);
	return 0;
}

void cf_set_revoke_listener(struct cf *cf, size_t (*fn)(void *arg, uint16_t method), void *arg)
{
	cf->revoke_listener = fn;
	cf->revoke_listener_arg = arg;
}
