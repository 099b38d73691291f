/* SPDX-License-Identifier: Apache-2.0 */
/* mfsd startup: static keys and the control engine (setup.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/log.h"
#include "base/secret.h"
#include "cf/keyring.h"
#include "daemon/setup.h"

static const uint16_t cmce_ids[CONFIG_MCELIECE_N] = { KEX_ID_MCELIECE460896,
						      KEX_ID_MCELIECE6688128 };

_Static_assert(CONFIG_MCELIECE_N == KEYRING_SETS, "one keyring slot per configured set");
_Static_assert(CONFIG_MAX_PEERS <= CF_MAX_PEERS, "peers");

int mfsd_keyring_dir(const struct config *cfg, char *out, size_t size)
{
	int w = snprintf(out, size, "%s/static", cfg->node.state_dir);

	return w < 0 || (size_t)w >= size ? -ENAMETOOLONG : 0;
}

void mfsd_keys_free(struct cf_keys *k)
{
	if (!k)
		return;
	for (int s = 0; s < KEYRING_SETS; s++) {
		keyring_key_free(k->own[s].cur);
		keyring_key_free(k->own[s].prev);
		for (size_t i = 0; i < CF_MAX_PEERS; i++) {
			keyring_key_free(k->pin[i][s].cur);
			keyring_key_free(k->pin[i][s].prev);
		}
	}
	free(k);
}

static void slot_free(struct keyring_slot *s)
{
	keyring_key_free(s->cur);
	keyring_key_free(s->prev);
	memset(s, 0, sizeof(*s));
}

static int load_own(const struct config *cfg, struct cf_keys *k, int s)
{
	const struct config_mceliece_key *ck = &cfg->node.mceliece[s];
	const char *name = config_mceliece_method(s);
	char path[PATH_MAX];
	int r;

	if (!ck->set)
		return 0;
	if (!kex_method_by_id(cmce_ids[s])) {
		log_err("%s: %s is not available in this build", cfg->source, name);
		return -EOPNOTSUPP;
	}
	if ((r = keyring_own_path(k->dir, cmce_ids[s], path, sizeof(path))) < 0)
		return r;
	r = keyring_load_record(path, cmce_ids[s], true, &k->own[s]);
	if (r == 0) {
		log_info("%s key from the rotation record %s", name, path);
		return 0;
	}
	if (r != -ENOENT) {
		log_err("%s: rotation record of the %s key: %s", path, name, mfs_strerror(r));
		return r;
	}
	if ((r = keyring_load_own(cmce_ids[s], ck->sk_path, ck->pk_path, &k->own[s].cur)) < 0)
		log_err("%s, %s: not a readable %s key pair: %s", ck->sk_path, ck->pk_path, name,
			mfs_strerror(r));
	return r;
}

static int load_pin(const struct config *cfg, struct cf_keys *k, size_t i, int s)
{
	const struct config_peer *cp = &cfg->peers[i];
	const char *name = config_mceliece_method(s);
	struct keyring_slot rec = { 0 };
	char path[PATH_MAX];
	int r;

	if (!cp->mceliece[s].set || !k->own[s].cur)
		return 0;
	r = keyring_load_pin(cmce_ids[s], cp->mceliece[s].path, cp->mceliece[s].sha3,
			     &k->pin[i][s].cur);
	if (r == -EKEYREJECTED) {
		log_err("%s: pinned %s key of peer %s changed since the configuration was read",
			cp->mceliece[s].path, name, cp->name);
		return r;
	}
	if (r < 0) {
		log_err("%s: pinned %s key of peer %s: %s", cp->mceliece[s].path, name, cp->name,
			mfs_strerror(r));
		return r;
	}
	if ((r = keyring_pin_path(k->dir, cp->name, cmce_ids[s], path, sizeof(path))) < 0)
		return r;
	r = keyring_load_record(path, cmce_ids[s], false, &rec);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		log_err("%s: re-pin record of peer %s (%s): %s", path, cp->name, name,
			mfs_strerror(r));
		return r;
	}
	if (rec.cur && !memcmp(rec.cur->id, cp->mceliece[s].sha3, KEYRING_ID_LEN)) {
		/* the operator has put the re-pinned key into the configuration */
		slot_free(&rec);
		return 0;
	}
	if (!rec.have_base || memcmp(rec.base, cp->mceliece[s].sha3, KEYRING_ID_LEN) != 0) {
		log_warning("%s: ignored: the configuration pins another %s key of peer %s than "
			    "the one this record re-pinned from", path, name, cp->name);
		slot_free(&rec);
		return 0;
	}
	slot_free(&k->pin[i][s]);
	k->pin[i][s] = rec;
	log_info("peer %s: %s key from the re-pin record %s", cp->name, name, path);
	return 0;
}

int mfsd_keys_load(const struct config *cfg, struct cf_keys **ret)
{
	struct cf_keys *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return -ENOMEM;
	if ((r = mfsd_keyring_dir(cfg, k->dir, sizeof(k->dir))) < 0)
		goto fail;
	k->rotate_s = cfg->node.static_rotate_s;
	k->grace_s = cfg->node.static_grace_s;
	for (int s = 0; s < CONFIG_MCELIECE_N; s++)
		if ((r = load_own(cfg, k, s)) < 0)
			goto fail;
	for (size_t i = 0; i < cfg->n_peers; i++)
		for (int s = 0; s < CONFIG_MCELIECE_N; s++)
			if ((r = load_pin(cfg, k, i, s)) < 0)
				goto fail;
	*ret = k;
	return 0;
fail:
	mfsd_keys_free(k);
	return r;
}

struct cf_config *mfsd_cf_config(const struct config *cfg, struct cf_keys *keys,
				 const char *revoked_path)
{
	struct cf_config *cc = calloc(1, sizeof(*cc));

	if (!cc)
		return NULL;
	snprintf(cc->node_id, sizeof(cc->node_id), "%s", cfg->node.id);
	cc->psk_dir = cfg->node.psk_dir;
	cc->revoked_path = revoked_path;
	cc->n_peers = cfg->n_peers;
	cc->now = time(NULL);
	cc->keys = keys;
	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct config_peer *cp = &cfg->peers[i];
		struct cf_peer_cfg *pc = &cc->peers[i];

		snprintf(pc->name, sizeof(pc->name), "%s", cp->name);
		pc->n_classes = cp->n_classes;
		for (size_t j = 0; j < cp->n_classes; j++) {
			pc->classes[j].policy = cp->classes[j].policy;
			snprintf(pc->classes[j].psk_id, sizeof(pc->classes[j].psk_id), "%s",
				 cp->classes[j].psk_id);
		}
	}
	return cc;
}

int mfsd_cf_new(const struct config *cfg, struct cf_keys *keys, struct store *st,
		const char *revoked_path, struct cf **ret)
{
	struct cf_config *cc = mfsd_cf_config(cfg, keys, revoked_path);
	int r;

	if (!cc) {
		mfsd_keys_free(keys);
		return -ENOMEM;
	}
	r = cf_new(cc, st, ret);
	free(cc);
	return r;
}
