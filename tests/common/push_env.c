/* SPDX-License-Identifier: Apache-2.0 */
/* A push layer on a real store and engine for tests (push_env.h). */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/secret.h"
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

	memset(e, 0, sizeof(*e));
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
	struct store_exchange x = { .peer = PUSH_ENV_PEER, .class_name = PUSH_ENV_CLASS,
				    .id_len = 16, .n_methods = 1, .methods = { KEX_ID_PSK } };
	struct store_key_in *keys = calloc(2 * n, sizeof(*keys));
	uint8_t (*bytes)[32] = calloc(2 * n, 32);
	int r = -ENOMEM;

	if (!keys || !bytes)
		goto out;
	e->puts++;
	for (size_t i = 0; i < 2 * n; i++) {
		struct store_key_in *k = &keys[i];

		if ((r = store_key_id_random(&k->id)) < 0)
			goto out;
		/* a distinct, recognisable key per id: the id twice */
		memcpy(bytes[i], k->id.b, 16);
		memcpy(bytes[i] + 16, k->id.b, 16);
		k->dir = i < n ? STORE_OUTBOUND : STORE_INBOUND;
		k->key = bytes[i];
		k->key_len = 32;
		k->not_before = PUSH_ENV_NOW;
		k->soft_expiry = PUSH_ENV_NOW + 600;
		k->hard_expiry = PUSH_ENV_NOW + 3600;
		if (i < n && out_ids)
			memcpy(out_ids + i * 16, k->id.b, 16);
		if (i >= n && in_ids)
			memcpy(in_ids + (i - n) * 16, k->id.b, 16);
	}
	memcpy(x.id, keys[0].id.b, 16);
	r = store_put(e->st, &x, keys, 2 * n, PUSH_ENV_NOW);
out:
	if (bytes)
		mfs_wipe(bytes, 2 * n * 32);
	free(bytes);
	free(keys);
	return r;
}
