/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A push layer on a real key store and control engine, for the push tests
 * and fuzz harness: node "office", one peer "gpu-dc" with one class
 * "training" (no link, no methods run), the store in a fresh temporary
 * directory (removed by push_env_close()).
 */
#ifndef MFS_TESTS_PUSH_ENV_H
#define MFS_TESTS_PUSH_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "cf/cf.h"
#include "push/push.h"
#include "store/store.h"

#define PUSH_ENV_PEER "gpu-dc"
#define PUSH_ENV_CLASS "training"
#define PUSH_ENV_NOW 1700000000LL

struct push_env {
	char dir[256];
	struct store *st;
	struct cf *cf;
	struct push *push;
	unsigned puts;
	/* the pool secrets of the last push_env_put (a test fixture, wiped on close) */
	uint8_t last_secrets[2 * 32];
};

/* volume: the class's rekey_volume in bytes. Returns 0 or a negative errno. */
int push_env_open(struct push_env *e, uint64_t volume);
/* The same with the temporary directory under base (e.g. a real disk for benchmarks). */
int push_env_open_in(struct push_env *e, const char *base, uint64_t volume);
void push_env_close(struct push_env *e);
/*
 * Store one exchange of n keys per direction (not_before PUSH_ENV_NOW, hard
 * expiry an hour later); the ids of each direction into out_ids / in_ids
 * when not NULL (n × STORE_KEY_ID_LEN bytes).
 */
int push_env_put(struct push_env *e, size_t n, uint8_t *out_ids, uint8_t *in_ids);

#endif
