/* SPDX-License-Identifier: Apache-2.0 */
/* A push layer on a real store and engine for tests (push_env.h). */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/secret.h"
#include "crypto/rng.h"
#include "proto/pool.h"
#include "kex/kex.h"
#include "push_env.h"

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int push_env_open(struct push_env *e, uint64_t volume)
{
	return push_env_open_in(e, access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", volume);
}

int push_env_open_in(struct push_env *e, const char *base, uint64_t volume)
{
	struct cf_config cfg = { 0 };
	struct secret *kek = NULL;
	char path[320];
	int r;

	mfs_wipe(e, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "%s/mfs-push-test-XXXXXX", base);
	if (!mkdtemp(e->dir))
		return -errno;
	snprintf(path, sizeof(path), "%s/kek", e->dir);
	if ((r = store_kek_init(path)) < 0 || (r = store_kek_load(path, &kek)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/keys.db", e->dir);
	r = store_open(path, kek, &e->st);
	secret_free(kek);
	if (r < 0)
		return r;
	snprintf(cfg.node_id, sizeof(cfg.node_id), "office");
	cfg.n_peers = 1;
	cfg.now = PUSH_ENV_NOW;
	snprintf(cfg.peers[0].name, sizeof(cfg.peers[0].name), PUSH_ENV_PEER);
	cfg.peers[0].n_classes = 1;
	policy_init(&cfg.peers[0].classes[0].policy, PUSH_ENV_CLASS);
	cfg.peers[0].classes[0].policy.required[0] = KEX_ID_PSK;
	cfg.peers[0].classes[0].policy.n_required = 1;
	cfg.peers[0].classes[0].policy.rekey_volume_bytes = volume;
	if ((r = cf_new(&cfg, e->st, &e->cf)) < 0)
		return r;
	return push_new(e->cf, e->st, 0, &e->push);
}

void push_env_close(struct push_env *e)
{
	push_free(e->push);
	cf_free(e->cf);
	store_close(e->st);
	if (e->dir[0])
		nftw(e->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	memset(e, 0, sizeof(*e));
}

int push_env_put(struct push_env *e, size_t n, uint8_t *out_ids, uint8_t *in_ids)
{
	struct store_pool_in in = {
		.x = { .peer = PUSH_ENV_PEER, .class_name = PUSH_ENV_CLASS, .id_len = POOL_ID_LEN,
		       .n_methods = 1, .methods = { KEX_ID_PSK } },
		.role = STORE_ROLE_INITIATOR,
		.n_keys = n,
		.key_len = 32,
		.not_before = PUSH_ENV_NOW,
		.soft_expiry = PUSH_ENV_NOW + 600,
		.hard_expiry = PUSH_ENV_NOW + 3600,
	};
	uint8_t secrets[2 * STORE_POOL_SECRET_LEN];
	int r;

	if (n == 0 || n > POOL_KEYS_MAX)
		return -EINVAL;
	e->puts++;
	if ((r = crypto_random(in.x.id, POOL_ID_LEN)) < 0 ||
	    (r = crypto_random(secrets, sizeof(secrets))) < 0)
		goto out;
	pool_exchange_id_from(in.x.id);
	in.secret = secrets;
	/* this side is the initiator: outbound is protocol direction 0 */
	for (unsigned i = 0; i < n; i++) {
		if (out_ids)
			pool_key_id(in.x.id, 0, i, out_ids + i * POOL_ID_LEN);
		if (in_ids)
			pool_key_id(in.x.id, 1, i, in_ids + i * POOL_ID_LEN);
	}
	r = store_put(e->st, &in, 1, PUSH_ENV_NOW);
	if (r == 0)
		memcpy(e->last_secrets, secrets, sizeof(e->last_secrets));
out:
	mfs_wipe(secrets, sizeof(secrets));
	return r;
}
