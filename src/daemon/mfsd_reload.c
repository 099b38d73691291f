/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SIGHUP: mfsd re-reads its configuration file (docs/mfsd.md "Reloading the
 * configuration"). Checked in full first; what only a restart can change is
 * refused; the rest applies without touching the links, pools and exchanges
 * that did not change (cf_reconfigure()).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "daemon/mfsd_int.h"
#include "daemon/qkd_client.h"
#include "daemon/setup.h"

__attribute__((format(printf, 2, 3)))
static void reload_failed(struct daemon *d, const char *fmt, ...)
{
	struct cf_stats *st = &d->cf->stats;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->reload_error, sizeof(st->reload_error), fmt, ap);
	va_end(ap);
	st->reload_failures++;
	st->last_reload = time(NULL);
	log_err("reload failed: %s; the running configuration stays", st->reload_error);
}

static bool addr_eq(const struct config_addr *a, const struct config_addr *b)
{
	return !strcmp(a->host, b->host) && a->port == b->port && a->family == b->family;
}

/* A setting of [node] that only a restart can change, or NULL. */
static const char *restart_only(const struct config *a, const struct config *b)
{
	if (strcmp(a->node.id, b->node.id))
		return "id";
	if (!addr_eq(&a->node.listen, &b->node.listen))
		return "listen";
	if (strcmp(a->node.identity_key, b->node.identity_key))
		return "identity_key";
	if (strcmp(a->node.identity_cert, b->node.identity_cert))
		return "identity_cert";
	if (strcmp(a->node.state_dir, b->node.state_dir))
		return "state_dir";
	if (strcmp(a->node.admin_socket, b->node.admin_socket))
		return "admin_socket";
	if (!addr_eq(&a->node.qkd_kme, &b->node.qkd_kme) || strcmp(a->node.qkd_sae_id, b->node.qkd_sae_id) ||
	    strcmp(a->node.qkd_cert, b->node.qkd_cert) || strcmp(a->node.qkd_key, b->node.qkd_key) ||
	    strcmp(a->node.qkd_ca, b->node.qkd_ca))
		return "qkd_kme/qkd_sae_id/qkd_cert/qkd_key/qkd_ca";
	for (int s = 0; s < CONFIG_MCELIECE_N; s++) {
		const struct config_mceliece_key *x = &a->node.mceliece[s], *y = &b->node.mceliece[s];

		if (x->set != y->set || strcmp(x->sk_path, y->sk_path) || strcmp(x->pk_path, y->pk_path))
			return s == 0 ? "mceliece460896_key/_pub" : "mceliece6688128_key/_pub";
	}
	return NULL;
}

static bool pins_differ(const struct config_peer *a, const struct config_peer *b)
{
	for (int s = 0; s < CONFIG_MCELIECE_N; s++)
		if (a->mceliece[s].set != b->mceliece[s].set ||
		    memcmp(a->mceliece[s].sha3, b->mceliece[s].sha3, CONFIG_SHA3_LEN))
			return true;
	return false;
}

/* What the link of a peer is made of changed: it must be set up again. */
static bool link_differs(const struct config_peer *a, const struct config_peer *b)
{
	return !addr_eq(&a->address, &b->address) ||
	       memcmp(a->cert_sha256, b->cert_sha256, CONFIG_SHA256_LEN) ||
	       a->tls_group != b->tls_group || pins_differ(a, b);
}

/*
 * Re-read the configuration file (SIGHUP). Any error: the running
 * configuration stays, the reason is logged as file:line: reason and shown
 * by mfsctl status. Otherwise the changes apply without touching what did
 * not change: a peer whose address, certificate pin, TLS group or McEliece
 * pins changed is reconnected, a removed peer disconnected, a new one
 * connected; every other link, pool and running exchange goes on
 * (cf_reconfigure()).
 */
void mfsd_reload(struct daemon *d)
{
	struct peer_rt np[CONFIG_MAX_PEERS];
	struct config *nc = NULL;
	struct config_error cerr;
	struct cf_keys *fresh = NULL;
	struct cf_config *cc = NULL;
	bool repin[CONFIG_MAX_PEERS] = { false };
	size_t slots[CONFIG_MAX_PEERS];
	size_t added = 0, removed = 0, relinked = 0;
	const char *what;
	int r;

	log_notice("SIGHUP: reloading %s", d->config_path);
	if ((r = config_load(d->config_path, NULL, &nc, &cerr)) < 0) {
		reload_failed(d, "%s", cerr.text);
		return;
	}
	if ((what = restart_only(d->cfg, nc))) {
		reload_failed(d, "%s: [node] %s cannot change without a restart of mfsd",
			      d->config_path, what);
		goto out;
	}
	if ((r = mfsd_keys_load(nc, &fresh)) < 0) {
		reload_failed(d, "%s: the static McEliece keys of the new configuration cannot be "
			      "loaded: %s (see the log)", d->config_path, mfs_strerror(r));
		goto out;
	}
	for (size_t i = 0; i < nc->n_peers; i++) {
		enum tls_group g = mfsd_tls_group(&nc->peers[i]);
		char err[TLS_ERR_MAX];

		if (!d->ctx[g] && tls_ctx_new(d->idn, g, &d->ctx[g], err, sizeof(err)) < 0) {
			reload_failed(d, "%s:%u: TLS context (%s): %s", d->config_path,
				      nc->peers[i].line, tls_group_name(g), err);
			goto out;
		}
	}
	/* the links that go: removed peers, peers whose link changed; and pending handshakes */
	for (size_t k = 0; k < d->n_peers; k++) {
		struct peer_rt *p = &d->peers[k];
		const struct config_peer *n;

		if (!p->cfg)
			continue;
		n = config_peer_by_name(nc, p->cfg->name);
		if (n && !link_differs(p->cfg, n))
			continue;
		if (n)
			relinked++;
		else
			removed++;
		if (p->conn)
			mfsd_conn_close(d, p->conn, n ? "its configuration changed" :
				   "removed from the configuration");
	}
	for (size_t i = 0; i < MFSD_MAX_PENDING; i++)
		if (d->pending[i])
			mfsd_conn_close(d, d->pending[i], "configuration reloaded");
	for (size_t i = 0; i < nc->n_peers; i++) {
		const struct config_peer *o = config_peer_by_name(d->cfg, nc->peers[i].name);

		repin[i] = o && pins_differ(o, &nc->peers[i]);
		added += !o;
	}
	if (!(cc = mfsd_cf_config(nc, fresh, d->revoked_path))) {
		reload_failed(d, "out of memory");
		goto out;
	}
	fresh = NULL;	/* cf_reconfigure() takes it */
	if ((r = cf_reconfigure(d->cf, cc, repin, time(NULL), slots)) < 0) {
		reload_failed(d, "%s: cannot apply: %s", d->config_path, mfs_strerror(r));
		goto out;
	}
	/* the peers' runtime, in the engine's slots */
	memset(np, 0, sizeof(np));
	for (size_t i = 0; i < nc->n_peers; i++) {
		struct peer_rt *p = &np[slots[i]];
		enum tls_group g = mfsd_tls_group(&nc->peers[i]);

		for (size_t k = 0; k < d->n_peers; k++)
			if (d->peers[k].cfg && !strcmp(d->peers[k].cfg->name, nc->peers[i].name))
				*p = d->peers[k];
		if (!p->cfg)
			p->backoff_ms = MFSD_RECONNECT_MIN_MS;
		p->cfg = &nc->peers[i];
		p->ctx = d->ctx[g];
		p->i_connect = strcmp(nc->node.id, p->cfg->name) < 0;
		p->cp = &d->cf->peers[slots[i]];
	}
	memcpy(d->peers, np, sizeof(np));
	d->n_peers = d->cf->n_peers;
	qkdc_reconfigure(d->qkd, nc);	/* follows the peers by name; keeps no pointer into nc */
	for (size_t k = 0; k < d->n_peers; k++)
		if (d->peers[k].conn)
			d->peers[k].conn->peer = &d->peers[k];
	config_free(d->cfg);
	d->cfg = nc;
	nc = NULL;
	mfs_log_set_level(d->have_level_arg ? d->level_arg : d->cfg->node.log_level);
	d->cf->stats.reloads++;
	d->cf->stats.last_reload = time(NULL);
	d->cf->stats.reload_error[0] = '\0';
	log_notice("configuration reloaded: %zu peer(s): %zu added, %zu removed, %zu reconnected "
		   "(address, pins or TLS group changed); classes and policies applied",
		   d->cfg->n_peers, added, removed, relinked);
out:
	free(cc);
	cf_keys_free(fresh);
	config_free(nc);
}
