// SPDX-License-Identifier: Apache-2.0
/*
 * mfsd key supply face: configuration -> supply backend -> ETSI 014 server.
 * Contract in supply_run.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/err.h"
#include "base/log.h"
#include "daemon/supply_run.h"
#include "etsi014/server.h"
#include "kex/kex.h"
#include "supply/supply.h"

struct mfsd_supply {
	struct supply *sup;
	struct etsi014_server *srv;
	char listen[CONFIG_HOST_MAX + 16];
	unsigned threads;
	size_t n_saes;
};

static void on_audit(void *arg, const struct supply_audit *a)
{
	(void)arg;
	log_warning("key supply: denied %s for SAE %s (path SAE %s): %s", a->op, a->caller,
		    a->sae_id, a->reason);
}

/* The pool's high watermark: what Status calls max_key_count. */
static uint64_t pool_high(const struct config *cfg, const char *peer, const char *cls)
{
	const struct config_peer *p = config_peer_by_name(cfg, peer);
	const struct config_class *c = p ? config_class_by_name(p, cls) : NULL;

	return c ? c->policy.pool_high : 0;
}

int mfsd_supply_start(const struct config *cfg, const char *db_path, const char *kek_path,
		      struct mfsd_supply **ret)
{
	const struct config_supply *c = &cfg->supply;
	struct supply_sae *saes = NULL;
	struct etsi014_serial_map *map = NULL;
	struct mfsd_supply *s = NULL;
	struct secret *kek = NULL;
	struct etsi014_backend be;
	size_t n_map = 0;
	char err[ETSI014_ERR_LEN];
	int r;

	*ret = NULL;
	if (!c->enabled)
		return 0;
	if (!(s = calloc(1, sizeof(*s))) ||
	    (cfg->n_saes && !(saes = calloc(cfg->n_saes, sizeof(*saes)))) ||
	    (cfg->n_saes && !(map = calloc(cfg->n_saes, sizeof(*map))))) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < cfg->n_saes; i++) {
		const struct config_sae *a = &cfg->saes[i];
		struct supply_sae *b = &saes[i];

		memcpy(b->id, a->id, sizeof(a->id));
		b->remote = a->remote;
		snprintf(b->peer, sizeof(b->peer), "%s", a->peer);
		for (size_t k = 0; k < a->n_classes; k++) {
			memcpy(b->classes[k], a->classes[k], sizeof(b->classes[k]));
			b->max_key_count[k] = pool_high(cfg, a->peer, a->classes[k]);
		}
		b->n_classes = a->n_classes;
		b->roles = (a->roles & CONFIG_SAE_MASTER ? SUPPLY_MASTER : 0) |
			   (a->roles & CONFIG_SAE_SLAVE ? SUPPLY_SLAVE : 0);
		b->key_bits = a->key_bits;
		if (!a->remote && a->serial[0])
			map[n_map++] = (struct etsi014_serial_map){ a->serial, a->id };
	}
	if ((r = store_kek_load(kek_path, &kek)) < 0) {
		log_err("key supply: %s: %s", kek_path, mfs_strerror(r));
		goto out;
	}
	{
		struct supply_config sc = {
			.kme_id = cfg->node.id, .db_path = db_path, .kek = kek, .saes = saes,
			.n_saes = cfg->n_saes, .store_size_limit = c->store_size_limit,
			.reserve = c->reserve, .on_audit = on_audit,
		};

		if ((r = supply_new(&sc, &s->sup, err, sizeof(err))) < 0) {
			log_err("%s: [supply]: %s", cfg->source, err);
			goto out;
		}
	}
	supply_backend(s->sup, &be);
	{
		struct etsi014_server_config ec = {
			.address = c->listen.host, .port = c->listen.port,
			.cert_file = c->cert, .key_file = c->key, .ca_file = c->ca,
			.sae_id_from = (enum etsi014_sae_id_from)c->sae_id_from,
			.serial_map = map, .n_serial_map = n_map,
			.limits = { .key_size = SUPPLY_NATIVE_BITS, .min_key_size = 64,
				    .max_key_size = ETSI014_KEY_MAX_BITS,
				    .max_key_per_request = c->max_key_per_request,
				    .max_SAE_ID_count = 0 },
			.threads = c->threads,
		};

		if ((r = etsi014_server_new(&ec, &be, &s->srv, err, sizeof(err))) < 0) {
			log_err("key supply: %s", err[0] ? err : mfs_strerror(r));
			goto out;
		}
	}
	if ((r = etsi014_server_start(s->srv)) < 0) {
		log_err("key supply: cannot start the workers: %s", mfs_strerror(r));
		goto out;
	}
	snprintf(s->listen, sizeof(s->listen), "%s%s%s:%u", c->listen.family == AF_INET6 ? "[" : "",
		 c->listen.host, c->listen.family == AF_INET6 ? "]" : "",
		 etsi014_server_port(s->srv));
	s->threads = c->threads;
	s->n_saes = cfg->n_saes;
	log_notice("key supply (ETSI GS QKD 014) on https://%s, %zu SAE(s), %u worker(s), "
		   "delivery reserve %u keys", s->listen, s->n_saes, s->threads, c->reserve);
	*ret = s;
	s = NULL;
	r = 0;
out:
	mfsd_supply_stop(s);
	secret_free(kek);
	free(map);
	free(saes);
	return r;
}

void mfsd_supply_stop(struct mfsd_supply *s)
{
	if (!s)
		return;
	etsi014_server_free(s->srv);
	supply_free(s->sup);
	free(s);
}

size_t mfsd_supply_revoked(void *arg, uint16_t method)
{
	struct mfsd_supply *s = arg;
	size_t n = supply_revoked(s->sup, method);

	if (n)
		log_notice("key supply: %zu reserved key(s) of revoked method %s dropped", n,
			   kex_method_name(method));
	return n;
}

json_t *mfsd_supply_status(const struct mfsd_supply *s)
{
	struct etsi014_stats st;
	struct supply_stats ss;

	etsi014_server_stats(s->srv, &st);
	supply_stats(s->sup, &ss);
	return json_pack("{s:s,s:I,s:I,s:I,s:{s:I,s:I},s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
			 "s:{s:I,s:I,s:I,s:I,s:I},"
			 "s:{s:I,s:I,s:I,s:I,s:I,s:I}}",
			 "listen", s->listen,
			 "threads", (json_int_t)s->threads,
			 "saes", (json_int_t)s->n_saes,
			 "connections", (json_int_t)st.connections,
			 "worker_connections", "min", (json_int_t)st.worker_connections_min,
			 "max", (json_int_t)st.worker_connections_max,
			 "requests", (json_int_t)st.requests,
			 "ok", (json_int_t)st.ok,
			 "keys_served", (json_int_t)st.keys_served,
			 "enc_keys", (json_int_t)ss.enc_keys,
			 "dec_keys", (json_int_t)ss.dec_keys,
			 "denied", (json_int_t)ss.denied,
			 "exhausted", (json_int_t)ss.exhausted,
			 "reserve", "held", (json_int_t)ss.reserve_held,
			 "served", (json_int_t)ss.reserve_served, "misses", (json_int_t)ss.reserve_misses,
			 "refills", (json_int_t)ss.reserve_refills,
			 "discarded", (json_int_t)ss.reserve_discarded,
			 "errors",
			 "400", (json_int_t)st.err_400, "401", (json_int_t)st.err_401,
			 "404", (json_int_t)st.err_404, "405", (json_int_t)st.err_405,
			 "503", (json_int_t)st.err_503,
			 "unauthenticated", (json_int_t)st.unauthenticated);
}
