/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfsd startup pieces: the static McEliece keys named by the configuration,
 * and the control engine built from the configuration.
 */
#ifndef MFS_DAEMON_SETUP_H
#define MFS_DAEMON_SETUP_H

#include "cf/cf.h"
#include "daemon/config.h"
#include "store/store.h"

struct mfsd_keys;

/*
 * Read this node's McEliece key pairs and every peer's pinned public key
 * (checked again against the pinned SHA3-256), hashing each once. Logs
 * what failed. *ret: mfsd_keys_free().
 */
int mfsd_keys_load(const struct config *cfg, struct mfsd_keys **ret);
void mfsd_keys_free(struct mfsd_keys *k);

/* The control engine of cfg; keys and revoked_path must outlive it. */
int mfsd_cf_new(const struct config *cfg, const struct mfsd_keys *keys, struct store *st,
		const char *revoked_path, struct cf **ret);

#endif
