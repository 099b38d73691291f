/* SPDX-License-Identifier: Apache-2.0 */
/* mfsd startup: static keys and the control engine (setup.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/file.h"
#include "base/log.h"
#include "base/secret.h"
#include "daemon/setup.h"
#include "proto/handshake.h"
#include "proto/identity.h"

static const uint16_t cmce_ids[CONFIG_MCELIECE_N] = { KEX_ID_MCELIECE460896,
						      KEX_ID_MCELIECE6688128 };

struct mfsd_keys {
	struct {
		struct secret *sk;
		uint8_t *pk;
		size_t pk_len;
		uint8_t pk_id[HS_STATIC_ID_LEN];
	} own[CONFIG_MCELIECE_N];
	uint8_t *peer_pk[CONFIG_MAX_PEERS][CONFIG_MCELIECE_N];
	uint8_t peer_pk_id[CONFIG_MAX_PEERS][CONFIG_MCELIECE_N][HS_STATIC_ID_LEN];
	struct hs_static_key skeys[CONFIG_MAX_PEERS][CF_MAX_STATIC];
};

static int load_file_checked(const char *path, size_t want, uint8_t **ret)
{
	uint8_t *p = NULL;
	size_t n = 0;
	int r = file_read(path, CONFIG_PIN_FILE_MAX, FILE_NO_FOLLOW, &p, &n);

	if (r < 0)
		return r;
	if (n != want) {
		free(p);
		return -EBADMSG;
	}
	*ret = p;
	return 0;
}

void mfsd_keys_free(struct mfsd_keys *k)
{
	if (!k)
		return;
	for (int s = 0; s < CONFIG_MCELIECE_N; s++) {
		secret_free(k->own[s].sk);
		free(k->own[s].pk);
	}
	for (size_t i = 0; i < CONFIG_MAX_PEERS; i++)
		for (int s = 0; s < CONFIG_MCELIECE_N; s++)
			free(k->peer_pk[i][s]);
	free(k);
}

int mfsd_keys_load(const struct config *cfg, struct mfsd_keys **ret)
{
	struct mfsd_keys *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return -ENOMEM;
	for (int s = 0; s < CONFIG_MCELIECE_N; s++) {
		const struct config_mceliece_key *ck = &cfg->node.mceliece[s];
		const struct kex_method *m = kex_method_by_id(cmce_ids[s]);

		if (!ck->set)
			continue;
		if (!m || !m->kem) {
			log_err("%s: %s is not available in this build", cfg->source,
				config_mceliece_method(s));
			r = -EOPNOTSUPP;
			goto fail;
		}
		if ((r = file_read_secret(ck->sk_path, SECRET_MAX_LEN, FILE_NO_FOLLOW,
					  &k->own[s].sk)) < 0) {
			log_err("%s: %s", ck->sk_path, mfs_strerror(r));
			goto fail;
		}
		if (k->own[s].sk->len != m->kem->sk_len && k->own[s].sk->len != m->kem->sk_len_alt) {
			log_err("%s: not a %s secret key (size)", ck->sk_path, m->name);
			r = -EBADMSG;
			goto fail;
		}
		if ((r = load_file_checked(ck->pk_path, m->kem->pk_len, &k->own[s].pk)) < 0) {
			log_err("%s: not a readable %s public key: %s", ck->pk_path, m->name,
				mfs_strerror(r));
			goto fail;
		}
		k->own[s].pk_len = m->kem->pk_len;
		if ((r = identity_cmce_pk_hash(k->own[s].pk, k->own[s].pk_len, k->own[s].pk_id)) < 0)
			goto fail;
	}
	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct config_peer *cp = &cfg->peers[i];

		for (int s = 0; s < CONFIG_MCELIECE_N; s++) {
			const struct kex_method *m = kex_method_by_id(cmce_ids[s]);

			if (!cp->mceliece[s].set || !k->own[s].pk || !m)
				continue;
			if ((r = load_file_checked(cp->mceliece[s].path, m->kem->pk_len,
						   &k->peer_pk[i][s])) < 0) {
				log_err("%s: pinned %s key of peer %s: %s", cp->mceliece[s].path,
					m->name, cp->name, mfs_strerror(r));
				goto fail;
			}
			if ((r = identity_cmce_pk_hash(k->peer_pk[i][s], m->kem->pk_len,
						       k->peer_pk_id[i][s])) < 0)
				goto fail;
			if (!mfs_ct_eq(k->peer_pk_id[i][s], cp->mceliece[s].sha3, HS_STATIC_ID_LEN)) {
				log_err("%s: pinned %s key of peer %s changed since the configuration "
					"was read", cp->mceliece[s].path, m->name, cp->name);
				r = -EKEYREJECTED;
				goto fail;
			}
		}
	}
	*ret = k;
	return 0;
fail:
	mfsd_keys_free(k);
	return r;
}

int mfsd_cf_new(const struct config *cfg, const struct mfsd_keys *keys, struct store *st,
		const char *revoked_path, struct cf **ret)
{
	struct mfsd_keys *k = (struct mfsd_keys *)keys;
	struct cf_config *cc = calloc(1, sizeof(*cc));
	int r;

	if (!cc)
		return -ENOMEM;
	snprintf(cc->node_id, sizeof(cc->node_id), "%s", cfg->node.id);
	cc->psk_dir = cfg->node.psk_dir;
	cc->revoked_path = revoked_path;
	cc->n_peers = cfg->n_peers;
	cc->now = time(NULL);
	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct config_peer *cp = &cfg->peers[i];
		struct cf_peer_cfg *pc = &cc->peers[i];
		size_t n = 0;

		snprintf(pc->name, sizeof(pc->name), "%s", cp->name);
		pc->n_classes = cp->n_classes;
		for (size_t j = 0; j < cp->n_classes; j++) {
			pc->classes[j].policy = cp->classes[j].policy;
			snprintf(pc->classes[j].psk_id, sizeof(pc->classes[j].psk_id), "%s",
				 cp->classes[j].psk_id);
		}
		for (int s = 0; s < CONFIG_MCELIECE_N; s++) {
			struct hs_static_key *sk = &k->skeys[i][n];

			if (!k->peer_pk[i][s])
				continue;
			sk->method = cmce_ids[s];
			sk->sk = k->own[s].sk;
			sk->pk = k->own[s].pk;
			sk->pk_len = k->own[s].pk_len;
			sk->pk_id = k->own[s].pk_id;
			sk->peer_pk = k->peer_pk[i][s];
			sk->peer_pk_len = k->own[s].pk_len;
			sk->peer_pk_id = k->peer_pk_id[i][s];
			n++;
		}
		pc->static_keys = k->skeys[i];
		pc->n_static_keys = n;
	}
	r = cf_new(cc, st, ret);
	free(cc);
	return r;
}
