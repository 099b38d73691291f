/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qkd014 in the engine (docs/mfsd.md "QKD (qkd014)", docs/protocol.md 13):
 * the daemon's KME client behind cf_qkd_ops as seen by an exchange (take,
 * lookup, usable), the policy adjusted to this node's own KME state, and
 * the QKD_IDS / QKD_READY envelopes by which the master shares its key IDs
 * and the slave confirms the keys it fetched.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "cf/internal.h"

/* ---- QKD (qkd014): the daemon's KME client behind cf_qkd_ops ---- */

enum cf_qkd_state cf_qkd_state(const struct cf_peer *p, int64_t *since, char *why, size_t n)
{
	const struct cf *cf = p->cf;
	int64_t s = 0;

	if (why && n)
		why[0] = '\0';
	if (!cf->cfg.qkd)
		return CF_QKD_NONE;
	return cf->cfg.qkd->state(cf->cfg.qkd_arg, p, since ? since : &s, why, n);
}

static int qkd_take_cb(void *arg, struct kex_qkd_ref *ref, struct secret **ret)
{
	struct cf_peer *p = arg;

	return p->cf->cfg.qkd->take(p->cf->cfg.qkd_arg, p, ref, ret);
}

static int qkd_lookup_cb(void *arg, const struct kex_qkd_ref *ref, struct secret **ret)
{
	struct cf_peer *p = arg;

	return p->cf->cfg.qkd->lookup(p->cf->cfg.qkd_arg, p, ref, ret);
}

/* Usable in this exchange: the KME works (and, as master, a key is ready: checked in take). */
static bool qkd_usable_cb(void *arg)
{
	return cf_qkd_state(arg, NULL, NULL, 0) == CF_QKD_OK;
}

void cf_qkd_hs_config(struct cf_peer *p, struct hs_config *hc)
{
	if (p->cf->cfg.qkd) {
		hc->qkd_take = qkd_take_cb;
		hc->qkd_lookup = qkd_lookup_cb;
		hc->qkd_usable = qkd_usable_cb;
		hc->qkd_arg = p;
	}
}

enum cf_qkd_state cf_peer_qkd(const struct cf_peer *p, int64_t *since, char *why, size_t why_size,
			      size_t *ready)
{
	enum cf_qkd_state st = cf_qkd_state(p, since, why, why_size);

	if (ready)
		*ready = st == CF_QKD_NONE ? 0 : p->cf->cfg.qkd->ready(p->cf->cfg.qkd_arg, p);
	return st;
}

void cf_set_qkd(struct cf *cf, const struct cf_qkd_ops *ops, void *arg)
{
	cf->cfg.qkd = ops;
	cf->cfg.qkd_arg = arg;
}

bool cf_class_uses_qkd(const struct cf_class *c)
{
	for (size_t i = 0; i < c->cfg.policy.n_required; i++)
		if (c->cfg.policy.required[i] == KEX_ID_QKD014)
			return true;
	for (size_t i = 0; i < c->cfg.policy.n_optional; i++)
		if (c->cfg.policy.optional[i] == KEX_ID_QKD014)
			return true;
	return false;
}

/*
 * The policy this node negotiates with now. An optional qkd014 is never
 * dropped on the peer's word: while this node's own KME works it counts as
 * required (a peer that leaves it out fails the exchange), and only while
 * this node itself sees an outage is it left out (the reduced factor set,
 * recorded on the class and, through the offer and the suite, in the
 * transcript). A required qkd014 stays required: without a working KME the
 * class keeps its pool until hard expiry and then fails closed.
 */
void cf_qkd_policy(struct cf_peer *p, struct cf_class *c, const struct class_policy *in,
		       struct class_policy *out, int64_t now)
{
	enum cf_qkd_state st;
	char why[CF_REASON_MAX];
	int64_t since = 0;
	size_t k = 0;
	bool listed = false;

	*out = *in;
	for (size_t i = 0; i < in->n_optional; i++)
		listed = listed || in->optional[i] == KEX_ID_QKD014;
	if (!listed)
		return;
	st = cf_qkd_state(p, &since, why, sizeof(why));
	for (size_t i = 0; i < in->n_optional; i++)
		if (in->optional[i] != KEX_ID_QKD014)
			out->optional[k++] = in->optional[i];
	out->n_optional = k;
	if (st == CF_QKD_OK) {
		if (out->n_required < POLICY_MAX_METHODS)
			out->required[out->n_required++] = KEX_ID_QKD014;
		return;
	}
	/* Left out: only this node's own observation counts. */
	if (c && !c->qkd_reduced) {
		c->qkd_reduced = true;
		c->qkd_reduced_since = since ? since : now;
		snprintf(c->qkd_why, sizeof(c->qkd_why), "%s",
			 st == CF_QKD_NONE ? "no KME configured for this peer" : why);
		log_warning("peer %s class %s: ALARM: continuing without qkd014 (reduced factor set): "
			    "local KME outage: %s", p->cfg.name, c->cfg.policy.name, c->qkd_why);
	}
}

/* ---- QKD_IDS / QKD_READY envelopes ---- */

/* QKD_IDS (lengths checked by the caller): the peer is master for these keys. */
int cf_on_qkd_ids(struct cf_peer *p, const uint8_t *e, size_t len)
{
	char kme[KEX_QKD_ID_MAX + 1], sae[KEX_QKD_ID_MAX + 1];
	size_t kl = e[0], sl = e[1 + kl], n;

	(void)len;
	if (!kex_qkd_id_valid(e + 1, kl) || !kex_qkd_id_valid(e + 2 + kl, sl)) {
		snprintf(p->last_error, sizeof(p->last_error), "malformed QKD_IDS");
		return -EBADMSG;
	}
	memcpy(kme, e + 1, kl);
	kme[kl] = '\0';
	memcpy(sae, e + 2 + kl, sl);
	sae[sl] = '\0';
	n = (size_t)e[2 + kl + sl] << 8 | e[3 + kl + sl];
	if (p->cf->cfg.qkd && p->cf->cfg.qkd->offered)
		p->cf->cfg.qkd->offered(p->cf->cfg.qkd_arg, p, kme, sae,
					(const uint8_t (*)[CF_QKD_ID_LEN])(e + 4 + kl + sl), n);
	return 0;
}

int cf_on_qkd_ready(struct cf_peer *p, const uint8_t *e, size_t len)
{
	size_t n = (size_t)e[0] << 8 | e[1];

	(void)len;
	if (p->cf->cfg.qkd && p->cf->cfg.qkd->fetched)
		p->cf->cfg.qkd->fetched(p->cf->cfg.qkd_arg, p,
					(const uint8_t (*)[CF_QKD_ID_LEN])(e + 2), n);
	return 0;
}

int cf_qkd_share(struct cf_peer *p, const char *kme_id, const char *master_sae,
		 const uint8_t (*ids)[CF_QKD_ID_LEN], size_t n)
{
	uint8_t buf[2 + 2 * KEX_QKD_ID_MAX + 2 + CF_QKD_IDS_MAX * CF_QKD_ID_LEN];
	struct wbuf w = wbuf_init(buf, sizeof(buf));
	size_t kl = strnlen(kme_id, KEX_QKD_ID_MAX + 1), sl = strnlen(master_sae, KEX_QKD_ID_MAX + 1);

	if (!p->up)
		return -ENOTCONN;
	if (n == 0 || n > CF_QKD_IDS_MAX || !kex_qkd_id_valid((const uint8_t *)kme_id, kl) ||
	    !kex_qkd_id_valid((const uint8_t *)master_sae, sl))
		return -EINVAL;
	wbuf_vec8(&w, kme_id, kl);
	wbuf_vec8(&w, master_sae, sl);
	wbuf_u16(&w, (uint16_t)n);
	wbuf_put(&w, ids, n * CF_QKD_ID_LEN);
	if (wbuf_error(&w))
		return wbuf_error(&w);
	return cf_env_send(p, CF_ENV_QKD_IDS, 0, buf, w.len);
}

int cf_qkd_ack(struct cf_peer *p, const uint8_t (*ids)[CF_QKD_ID_LEN], size_t n)
{
	uint8_t buf[2 + CF_QKD_IDS_MAX * CF_QKD_ID_LEN];

	if (!p->up)
		return -ENOTCONN;
	if (n == 0 || n > CF_QKD_IDS_MAX)
		return -EINVAL;
	buf[0] = (uint8_t)(n >> 8);
	buf[1] = (uint8_t)n;
	memcpy(buf + 2, ids, n * CF_QKD_ID_LEN);
	return cf_env_send(p, CF_ENV_QKD_READY, 0, buf, 2 + n * CF_QKD_ID_LEN);
}
