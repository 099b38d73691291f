/* SPDX-License-Identifier: Apache-2.0 */
/* The KSA: ETSI 014 server backend onto struct qnet (qksa.h). */
#include "qkdsim/qksa.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/secret.h"

static void map_err(struct qksa *k, int r, enum etsi014_op op, struct etsi014_error *err)
{
	const char *why = qnet_why(k->net);

	switch (r) {
	case -EACCES:
		etsi014_error_set(err, 401, "%s", why);
		break;
	case -ENOENT:
		etsi014_error_set(err, 400, "%s", op == ETSI014_DEC_KEYS ? ETSI014_ERR_KEYS_NOT_FOUND : why);
		break;
	case -EINVAL:
		etsi014_error_set(err, 400, "%s", why);
		break;
	default:
		etsi014_error_set(err, 503, "%s", why);
		break;
	}
}

static int be_status(void *tctx, const struct etsi014_call *c, struct etsi014_status *st,
		     struct etsi014_error *err)
{
	struct qksa *k = tctx;
	struct qnet_status qs;
	int r;

	pthread_mutex_lock(k->lock);
	r = qnet_status(k->net, k->node, c->caller, c->sae_id, &qs);
	if (r == 0 && qs.stored_key_count == 0 && qs.alarm_links[0]) {
		etsi014_error_set(err, 503, "no relay path: QBER alarm on link %s", qs.alarm_links);
		r = -ENETUNREACH;
	} else if (r < 0) {
		map_err(k, r, ETSI014_STATUS, err);
	}
	pthread_mutex_unlock(k->lock);
	if (r < 0)
		return r;
	snprintf(st->source_KME_ID, sizeof(st->source_KME_ID), "%s", qs.source_kme);
	snprintf(st->target_KME_ID, sizeof(st->target_KME_ID), "%s", qs.target_kme);
	st->key_size = qs.key_size;
	st->stored_key_count = qs.stored_key_count;
	st->max_key_count = qs.max_key_count;
	st->max_key_per_request = qs.max_key_per_request;
	st->max_key_size = qs.max_key_size;
	st->min_key_size = qs.min_key_size;
	st->max_SAE_ID_count = 0;
	return 0;
}

static void copy_keys(const struct qnet_keys *q, struct etsi014_key *keys)
{
	for (size_t i = 0; i < q->number; i++) {
		memcpy(keys[i].id, q->ids[i], ETSI014_KEY_ID_LEN);
		keys[i].len = q->bytes;
		memcpy(keys[i].key, q->keys->p + i * q->bytes, q->bytes);
	}
}

static int be_enc(void *tctx, const struct etsi014_call *c, const struct etsi014_key_request *req,
		  struct etsi014_key *keys, struct etsi014_error *err)
{
	struct qksa *k = tctx;
	struct qnet_keys q;
	int r;

	if (req->n_additional) {
		etsi014_error_set(err, 400, "key multicast is not supported (max_SAE_ID_count 0)");
		return -EINVAL;
	}
	pthread_mutex_lock(k->lock);
	r = qnet_enc_keys(k->net, k->node, c->caller, c->sae_id, req->number, req->size, &q);
	if (r < 0)
		map_err(k, r, ETSI014_ENC_KEYS, err);
	pthread_mutex_unlock(k->lock);
	if (r < 0)
		return r;
	copy_keys(&q, keys);
	qnet_keys_free(&q);
	return 0;
}

static int be_dec(void *tctx, const struct etsi014_call *c, const struct etsi014_key_ids *ids,
		  struct etsi014_key *keys, struct etsi014_error *err)
{
	struct qksa *k = tctx;
	struct qnet_keys q;
	int r;

	pthread_mutex_lock(k->lock);
	r = qnet_dec_keys(k->net, k->node, c->caller, c->sae_id,
			  (const uint8_t (*)[16])ids->id, ids->n, &q);
	if (r < 0)
		map_err(k, r, ETSI014_DEC_KEYS, err);
	pthread_mutex_unlock(k->lock);
	if (r < 0)
		return r;
	copy_keys(&q, keys);
	qnet_keys_free(&q);
	return 0;
}

int qksa_new(struct qksa *k, struct qnet *net, pthread_mutex_t *lock, int node, char *err,
	     size_t err_size)
{
	const struct qconf_node *nd = &net->cfg->nodes[node];
	struct etsi014_backend be = {
		.status = be_status, .enc_keys = be_enc, .dec_keys = be_dec,
	};
	struct etsi014_server_config sc = { 0 };
	char addr[64];
	const char *colon = strrchr(nd->ksa_listen, ':');
	unsigned long port;

	memset(k, 0, sizeof(*k));
	k->net = net;
	k->lock = lock;
	k->node = node;
	if (!colon || colon == nd->ksa_listen)
		return -EINVAL;
	snprintf(addr, sizeof(addr), "%.*s", (int)(colon - nd->ksa_listen), nd->ksa_listen);
	if (addr[0] == '[' && addr[strlen(addr) - 1] == ']') {
		memmove(addr, addr + 1, strlen(addr));
		addr[strlen(addr) - 1] = '\0';
	}
	port = strtoul(colon + 1, NULL, 10);
	be.arg = k;
	sc.address = addr;
	sc.port = (uint16_t)port;
	sc.cert_file = nd->ksa_cert;
	sc.key_file = nd->ksa_key;
	sc.ca_file = net->cfg->ca;
	sc.sae_id_from = ETSI014_SAE_ID_CN;
	sc.limits = (struct etsi014_limits){
		.key_size = net->cfg->key_size,
		.min_key_size = net->cfg->min_key_size,
		.max_key_size = net->cfg->max_key_size,
		.max_key_per_request = net->cfg->max_key_per_request,
		.max_SAE_ID_count = 0,
	};
	sc.threads = 1;
	return etsi014_server_new(&sc, &be, &k->srv, err, err_size);
}

int qksa_start(struct qksa *k)
{
	return etsi014_server_start(k->srv);
}

void qksa_free(struct qksa *k)
{
	etsi014_server_free(k->srv);
	k->srv = NULL;
}
