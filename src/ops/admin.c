/* SPDX-License-Identifier: Apache-2.0 */
/* Admin API requests and responses (admin.h, docs/admin-api.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/hex.h"
#include "base/secret.h"
#include "kex/kex.h"
#include "ops/admin.h"

static const struct {
	const char *name;
	enum admin_cmd cmd;
	/* members taken besides "cmd": p peer, c class, m method, r reason; upper = required */
	const char *args;
} cmds[] = {
	{ "status", ADMIN_STATUS, "" },
	{ "peers", ADMIN_PEERS, "" },
	{ "keys", ADMIN_KEYS, "pc" },
	{ "rekey", ADMIN_REKEY, "Pc" },
	{ "method-list", ADMIN_METHOD_LIST, "" },
	{ "method-revoke", ADMIN_METHOD_REVOKE, "MR" },
	{ "method-restore", ADMIN_METHOD_RESTORE, "M" },
	{ "method-usage", ADMIN_METHOD_USAGE, "M" },
	{ "audit", ADMIN_AUDIT, "" },
	{ "rotate-static", ADMIN_ROTATE_STATIC, "m" },
};

static const struct {
	char c;
	const char *key;
	size_t off;
} members[] = {
	{ 'p', "peer", offsetof(struct admin_req, peer) },
	{ 'c', "class", offsetof(struct admin_req, class_name) },
	{ 'm', "method", offsetof(struct admin_req, method) },
	{ 'r', "reason", offsetof(struct admin_req, reason) },
};

static bool printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

int admin_req_parse(const uint8_t *p, size_t n, struct admin_req *ret)
{
	struct admin_req req = { 0 };
	json_error_t jerr;
	json_t *root = NULL, *v;
	const char *cmd, *args = NULL;
	size_t seen = 1;
	int r = -EBADMSG;

	if (n > ADMIN_REQ_MAX)
		return -EMSGSIZE;
	root = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root))
		goto out;
	if (!(v = json_object_get(root, "cmd")) || !(cmd = json_string_value(v)))
		goto out;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (!strcmp(cmd, cmds[i].name)) {
			req.cmd = cmds[i].cmd;
			args = cmds[i].args;
		}
	}
	if (!args)
		goto out;
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		const char *want = strchr(args, members[i].c);
		const char *req_ = strchr(args, members[i].c - 'a' + 'A');
		char *dst = (char *)&req + members[i].off;
		const char *s;
		size_t len;

		v = json_object_get(root, members[i].key);
		if (!v) {
			if (req_)
				goto out;
			continue;
		}
		if ((!want && !req_) || !(s = json_string_value(v)))
			goto out;
		len = json_string_length(v);
		if (len > ADMIN_STR_MAX || strlen(s) != len || !printable(s) ||
		    (len == 0 && members[i].c != 'r'))
			goto out;
		memcpy(dst, s, len + 1);
		seen++;
	}
	if (json_object_size(root) != seen)
		goto out;	/* a member this command does not take */
	*ret = req;
	r = 0;
out:
	json_decref(root);
	return r;
}

char *admin_error_json(const char *text)
{
	json_t *o = json_pack("{s:b,s:s}", "ok", 0, "error", text);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

static json_t *methods_json(const uint16_t *ids, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(kex_method_name(ids[i])));
	return a;
}

static const char *dir_name(enum store_direction d)
{
	return d == STORE_OUTBOUND ? "outbound" : "inbound";
}

/* A key id as UUID text, or null. */
static json_t *id_json(bool has, const uint8_t *id)
{
	struct store_key_id kid;
	char s[STORE_KEY_ID_STR_LEN + 1];

	if (!has)
		return json_null();
	memcpy(kid.b, id, STORE_KEY_ID_LEN);
	store_key_id_format(&kid, s);
	return json_string(s);
}

/* The push subscriptions of a class (docs/push.md): installed vs in use. */
static json_t *subs_json(const struct cf_class *c)
{
	json_t *a = json_array();

	for (int d = 0; a && d < 2; d++) {
		const struct cf_sub_info *si = &c->subs[d];

		if (!si->active)
			continue;
		json_array_append_new(a, json_pack(
			"{s:s,s:s,s:I,s:I,s:I,s:I,s:o,s:o,s:o,s:I,s:I,s:I}",
			"direction", dir_name((enum store_direction)d), "client", si->client,
			"uid", (json_int_t)si->uid, "pid", (json_int_t)si->pid,
			"since", (json_int_t)si->since, "delivered", (json_int_t)si->delivered,
			"installed", id_json(si->has_installed, si->installed),
			"in_use", id_json(si->has_in_use, si->in_use),
			"peer_installed", id_json(si->has_peer_installed, si->peer_installed),
			"in_use_since", (json_int_t)si->in_use_since,
			"bytes", (json_int_t)si->bytes, "packets", (json_int_t)si->packets));
	}
	return a;
}

static json_t *class_json(struct cf *cf, struct cf_peer *p, struct cf_class *c, int64_t now)
{
	char reasons[6][CF_REASON_MAX];
	size_t dout = 0, din = 0, nr;
	bool closed = false;
	json_t *o, *deg;

	cf_pool_depth(cf, p, c, STORE_OUTBOUND, &dout);
	cf_pool_depth(cf, p, c, STORE_INBOUND, &din);
	nr = cf_class_degraded(cf, p, c, now, reasons, 6, &closed);
	deg = json_array();
	for (size_t i = 0; deg && i < nr; i++)
		json_array_append_new(deg, json_string(reasons[i]));
	o = json_pack("{s:s,s:b,s:o,s:o,s:o,s:{s:I,s:I,s:I,s:I},s:I,s:I,s:I,s:I,s:s,s:o,s:s}",
		      "name", c->cfg.policy.name,
		      "initiator", c->initiator,
		      "required", methods_json(c->cfg.policy.required, c->cfg.policy.n_required),
		      "optional", methods_json(c->cfg.policy.optional, c->cfg.policy.n_optional),
		      "suite", methods_json(c->suite, c->n_suite),
		      "pool", "outbound", (json_int_t)dout, "inbound", (json_int_t)din,
		      "low", (json_int_t)c->cfg.policy.pool_low,
		      "high", (json_int_t)c->cfg.policy.pool_high,
		      "last_rekey", (json_int_t)c->last_rekey,
		      "next_rekey", (json_int_t)cf_class_next_rekey(p, c),
		      "exchanges", (json_int_t)c->exchanges,
		      "last_duration_ms", (json_int_t)c->last_duration_ms,
		      "state", closed ? "fail-closed" : nr ? "degraded" : "ok",
		      "degraded", deg ? deg : json_array(),
		      "last_error", c->last_error);
	if (o) {
		json_object_set_new(o, "rekey_volume", json_integer(
			(json_int_t)c->cfg.policy.rekey_volume_bytes));
		json_object_set_new(o, "volume_rekeys", json_integer((json_int_t)c->volume_rekeys));
		json_object_set_new(o, "subscriptions", subs_json(c));
	}
	if (o)
		json_object_set_new(o, "orphans_withdrawn", json_integer((json_int_t)c->orphans_withdrawn));
	return o;
}

static json_t *keyring_id_json(const struct keyring_key *k)
{
	char hex[2 * KEYRING_ID_LEN + 1];

	if (!k || hex_encode(hex, sizeof(hex), k->id, KEYRING_ID_LEN) < 0)
		return json_string("");
	return json_string(hex);
}

/* The pins this node holds for peer p (current, and previous in a grace period). */
static json_t *pins_json(const struct cf *cf, const struct cf_peer *p)
{
	json_t *a = json_array();
	size_t pi = (size_t)(p - cf->peers);

	for (int s = 0; a && cf->keys && s < KEYRING_SETS; s++) {
		const struct keyring_slot *sl = &cf->keys->pin[pi][s];

		if (!sl->cur)
			continue;
		json_array_append_new(a, json_pack("{s:s,s:o,s:o,s:I}", "method",
			kex_method_name(keyring_method(s)),
			"id", keyring_id_json(sl->cur), "previous", keyring_id_json(sl->prev),
			"previous_until", (json_int_t)(sl->prev ? sl->prev_since + cf->keys->grace_s : 0)));
	}
	return a ? a : json_array();
}

/* This node's static keys and their rotation. */
static json_t *static_json(const struct cf *cf)
{
	json_t *a = json_array();

	for (int s = 0; a && cf->keys && s < KEYRING_SETS; s++) {
		const struct keyring_slot *sl = &cf->keys->own[s];
		json_t *pinned, *pending;
		const char *state;

		if (!sl->cur)
			continue;
		pinned = json_array();
		pending = json_array();
		for (size_t i = 0; pinned && pending && i < cf->n_peers; i++) {
			const struct cf_peer *p = &cf->peers[i];

			if (!cf->keys->pin[i][s].cur)
				continue;
			if (!sl->prev || p->rot[s].acked)
				json_array_append_new(pinned, json_string(p->cfg.name));
			else
				json_array_append_new(pending, json_string(p->cfg.name));
		}
		state = cf->keys->busy[s] ? "generating" : !sl->prev ? "current" :
			cf_rot_all_acked(cf, s) ? "grace" : "announcing";
		json_array_append_new(a, json_pack("{s:s,s:o,s:I,s:I,s:s,s:o,s:I,s:o,s:o}",
			"method", kex_method_name(keyring_method(s)), "id", keyring_id_json(sl->cur),
			"created", (json_int_t)sl->cur->created,
			"next_rotation", (json_int_t)cf_rot_next(cf, s), "state", state,
			"previous", keyring_id_json(sl->prev), "previous_since", (json_int_t)sl->prev_since,
			"peers_pinned", pinned ? pinned : json_array(),
			"peers_pending", pending ? pending : json_array()));
	}
	return a ? a : json_array();
}

static json_t *counters_json(const struct cf *cf)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		"orphans_withdrawn", (json_int_t)cf_orphans_withdrawn(cf),
		"mlock_failures", (json_int_t)secret_mlock_failures(),
		"reloads", (json_int_t)cf->stats.reloads,
		"reload_failures", (json_int_t)cf->stats.reload_failures,
		"rotations", (json_int_t)cf->stats.rotations,
		"rotation_failures", (json_int_t)cf->stats.rotation_failures,
		"repins", (json_int_t)cf->stats.repins,
		"static_keys_destroyed", (json_int_t)cf->stats.static_destroyed);
}

static json_t *peer_json(struct cf *cf, struct cf_peer *p, int64_t now, bool classes)
{
	json_t *o = json_pack("{s:s,s:b,s:I,s:I,s:s}", "name", p->cfg.name, "connected", p->up,
			      "up_since", (json_int_t)(p->up ? p->up_since : 0),
			      "down_since", (json_int_t)(p->up ? 0 : p->down_since),
			      "last_error", p->last_error);
	json_t *a;

	if (o)
		json_object_set_new(o, "pins", pins_json(cf, p));
	if (!o || !classes)
		return o;
	{
		char why[CF_REASON_MAX];
		int64_t since = 0;
		size_t ready = 0;
		enum cf_qkd_state st = cf_peer_qkd(p, &since, why, sizeof(why), &ready);

		/* qkd014: this node's view of its KME (docs/qkd014.md) */
		if (st != CF_QKD_NONE)
			json_object_set_new(o, "qkd", json_pack("{s:s,s:I,s:s,s:I}", "state",
				st == CF_QKD_OK ? "ok" : "outage",
				"since", (json_int_t)(st == CF_QKD_OK ? 0 : since),
				"reason", st == CF_QKD_OK ? "" : why, "keys_ready", (json_int_t)ready));
	}
	a = json_array();
	for (size_t i = 0; a && i < p->cfg.n_classes; i++)
		json_array_append_new(a, class_json(cf, p, &p->classes[i], now));
	json_object_set_new(o, "classes", a ? a : json_array());
	return o;
}

static json_t *revoked_json(const struct cf *cf)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < cf->n_revoked; i++) {
		const struct cf_revoked *r = &cf->revoked[i];

		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:I}", "method", kex_method_name(r->method),
						   "origin", r->origin, "reason", r->reason,
						   "at", (json_int_t)r->at));
	}
	return a;
}

static json_t *status_json(struct cf *cf, int64_t now, bool classes)
{
	json_t *peers = json_array();
	bool degraded = false;

	for (size_t i = 0; peers && i < cf->n_peers; i++) {
		if (!cf->peers[i].cfg.name[0])
			continue;	/* the slot of a peer a reload removed */
		json_t *pj = peer_json(cf, &cf->peers[i], now, classes);
		json_t *cl = pj ? json_object_get(pj, "classes") : NULL;
		size_t k;
		json_t *c;

		if (!cf->peers[i].up)
			degraded = true;
		json_array_foreach(cl, k, c)
			if (strcmp(json_string_value(json_object_get(c, "state")), "ok") != 0)
				degraded = true;
		json_array_append_new(peers, pj);
	}
	if (cf->stats.reload_error[0])
		degraded = true;	/* the running configuration is not the file's */
	return json_pack("{s:b,s:s,s:I,s:s,s:o,s:o,s:o,s:o,s:{s:I,s:s}}", "ok", 1,
			 "node", cf->cfg.node_id, "time", (json_int_t)now,
			 "state", degraded ? "degraded" : "ok",
			 "peers", peers ? peers : json_array(), "revoked", revoked_json(cf),
			 "static_keys", static_json(cf), "counters", counters_json(cf),
			 "reload", "last", (json_int_t)cf->stats.last_reload,
			 "error", cf->stats.reload_error);
}

static int key_cb(void *arg, const struct store_key_meta *m)
{
	char id[STORE_KEY_ID_STR_LEN + 1], xid[2 * STORE_EXCHANGE_ID_MAX + 1];
	json_t *a = arg;

	store_key_id_format(&m->id, id);
	if (hex_encode(xid, sizeof(xid), m->exchange_id, m->exchange_id_len) < 0)
		xid[0] = '\0';
	json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:I,s:I,s:I,s:I,s:I,s:I}",
		"id", id, "peer", m->peer, "class", m->class_name, "direction", dir_name(m->dir),
		"state", store_state_name(m->state), "exchange", xid,
		"methods", methods_json(m->methods, m->n_methods),
		"length", (json_int_t)m->key_len, "created", (json_int_t)m->created,
		"not_before", (json_int_t)m->not_before, "soft_expiry", (json_int_t)m->soft_expiry,
		"hard_expiry", (json_int_t)m->hard_expiry, "delivered_at", (json_int_t)m->delivered_at));
	return 0;
}

static int usage_cb(void *arg, const struct store_usage *u)
{
	json_t *ids = json_array();
	char id[STORE_KEY_ID_STR_LEN + 1];

	for (size_t i = 0; ids && i < u->n_pool + u->n_delivered; i++) {
		store_key_id_format(&u->ids[i], id);
		json_array_append_new(ids, json_string(id));
	}
	json_array_append_new(arg, json_pack("{s:s,s:s,s:s,s:I,s:I,s:o}", "peer", u->peer,
		"class", u->class_name, "direction", dir_name(u->dir), "in_pool", (json_int_t)u->n_pool,
		"delivered", (json_int_t)u->n_delivered, "keys", ids ? ids : json_array()));
	return 0;
}

static int audit_cb(void *arg, const struct store_audit_rec *r)
{
	json_array_append_new(arg, json_pack("{s:I,s:I,s:s,s:s,s:s,s:I}", "seq", (json_int_t)r->seq,
		"at", (json_int_t)r->at, "who", r->who, "what", r->what, "detail", r->detail,
		"keys", (json_int_t)r->n_keys));
	return 0;
}

__attribute__((format(printf, 1, 0)))
static json_t *err(const char *fmt, const char *arg, int e)
{
	char text[512];

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(text, sizeof(text), fmt, arg);
#pragma GCC diagnostic pop
	if (e < 0) {
		size_t l = strlen(text);

		snprintf(text + l, sizeof(text) - l, ": %s", strerror(-e));
	}
	return json_pack("{s:b,s:s}", "ok", 0, "error", text);
}

int admin_handle(struct cf *cf, const struct admin_req *req, uid_t uid, int64_t now, char **ret)
{
	const struct kex_method *m = NULL;
	char who[32];
	json_t *o = NULL, *a;
	struct cf_peer *p = NULL;
	int r;

	snprintf(who, sizeof(who), "uid:%u", (unsigned)uid);
	if (req->method[0] && !(m = kex_method_by_name(req->method))) {
		const struct kex_method *const *all;
		size_t n = kex_methods(&all);

		/* a method that is built but not available can still be revoked */
		for (size_t i = 0; i < n; i++)
			if (!strcmp(all[i]->name, req->method))
				m = all[i];
		if (!m) {
			o = err("unknown method '%s'", req->method, 0);
			goto done;
		}
	}
	if (req->peer[0] && !(p = cf_peer_by_name(cf, req->peer))) {
		o = err("unknown peer '%s'", req->peer, 0);
		goto done;
	}
	switch (req->cmd) {
	case ADMIN_STATUS:
		o = status_json(cf, now, true);
		break;
	case ADMIN_PEERS:
		o = status_json(cf, now, false);
		break;
	case ADMIN_KEYS: {
		struct store_filter f = { .peer = p ? p->cfg.name : NULL,
					  .class_name = req->class_name[0] ? req->class_name : NULL,
					  .dir = STORE_DIR_ANY };

		a = json_array();
		if (!a || (r = store_list(cf->st, &f, key_cb, a)) < 0) {
			json_decref(a);
			o = err("cannot list keys%s", "", a ? r : -ENOMEM);
			break;
		}
		o = json_pack("{s:b,s:o}", "ok", 1, "keys", a);
		break;
	}
	case ADMIN_REKEY:
		if ((r = cf_rekey(p, req->class_name[0] ? req->class_name : NULL, now)) < 0)
			o = err("unknown class '%s'", req->class_name, 0);
		else
			o = json_pack("{s:b,s:s,s:s}", "ok", 1, "peer", p->cfg.name, "class",
				      req->class_name[0] ? req->class_name : "*");
		break;
	case ADMIN_METHOD_LIST: {
		const struct kex_method *const *all;
		size_t n = kex_methods(&all);

		a = json_array();
		for (size_t i = 0; a && i < n; i++) {
			const struct cf_revoked *rv = cf_revoked_find(cf, all[i]->id);

			json_array_append_new(a, json_pack("{s:s,s:I,s:s,s:b,s:b,s:b,s:s,s:s}",
				"name", all[i]->name, "id", (json_int_t)all[i]->id,
				"family", kex_family_name(all[i]->family),
				"post_quantum", all[i]->post_quantum, "available",
				all[i]->available ? all[i]->available() : 1, "revoked", rv != NULL,
				"revoked_by", rv ? rv->origin : "", "reason", rv ? rv->reason : ""));
		}
		o = json_pack("{s:b,s:o}", "ok", 1, "methods", a ? a : json_array());
		break;
	}
	case ADMIN_METHOD_REVOKE: {
		size_t n = 0;

		r = cf_revoke(cf, m->id, who, req->reason, now, &n);
		if (r == -EALREADY)
			o = err("method %s is already revoked", m->name, 0);
		else if (r < 0)
			o = err("cannot revoke %s", m->name, r);
		else
			o = json_pack("{s:b,s:s,s:I}", "ok", 1, "method", m->name, "withdrawn",
				      (json_int_t)n);
		break;
	}
	case ADMIN_METHOD_RESTORE:
		r = cf_restore(cf, m->id, who, now);
		if (r == -ENOENT)
			o = err("method %s is not revoked", m->name, 0);
		else if (r < 0)
			o = err("cannot restore %s", m->name, r);
		else
			o = json_pack("{s:b,s:s}", "ok", 1, "method", m->name);
		break;
	case ADMIN_METHOD_USAGE:
		a = json_array();
		if (!a || (r = store_method_usage(cf->st, m->id, now, usage_cb, a)) < 0) {
			json_decref(a);
			o = err("cannot query the usage of %s", m->name, a ? r : -ENOMEM);
			break;
		}
		o = json_pack("{s:b,s:s,s:b,s:o}", "ok", 1, "method", m->name, "revoked",
			      cf_revoked_find(cf, m->id) != NULL, "usage", a);
		break;
	case ADMIN_ROTATE_STATIC:
		if (m && keyring_set(m->id) < 0) {
			o = err("%s is not a static-key method", m->name, 0);
			break;
		}
		r = cf_rot_request(cf, m ? m->id : 0);
		if (r == -EBUSY)
			o = err("a rotation%s is still in progress: the old key is kept until every "
				"peer pinned the new one and the grace period is over", m ? "" : "", 0);
		else if (r == -ENOENT)
			o = err("no static key%s to rotate on this node", m ? " of that method" : "", 0);
		else if (r < 0)
			o = err("cannot rotate%s", "", r);
		else
			o = json_pack("{s:b,s:s}", "ok", 1, "method", m ? m->name : "*");
		break;
	case ADMIN_AUDIT:
		a = json_array();
		if (!a || (r = store_audit_list(cf->st, 0, audit_cb, a)) < 0) {
			json_decref(a);
			o = err("cannot read the audit log%s", "", a ? r : -ENOMEM);
			break;
		}
		o = json_pack("{s:b,s:o}", "ok", 1, "audit", a);
		break;
	}
done:
	if (!o)
		return -ENOMEM;
	*ret = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return *ret ? 0 : -ENOMEM;
}
