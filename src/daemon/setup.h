/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfsd startup pieces: the static McEliece keys named by the configuration
 * (or by the rotation records of the keyring directory, cf/keyring.h), and
 * the control engine built from the configuration.
 */
#ifndef MFS_DAEMON_SETUP_H
#define MFS_DAEMON_SETUP_H

#include "cf/cf.h"
#include "daemon/config.h"
#include "store/store.h"

/* The keyring directory of a configuration: <state_dir>/static. */
int mfsd_keyring_dir(const struct config *cfg, char *out, size_t size);

/*
 * This node's McEliece key pairs and every peer's pinned public key. A set
 * that was rotated is read from its record in the keyring directory; else
 * from the configured files. A peer's configured pin is checked again
 * against the pinned SHA3-256; a re-pin record replaces it only when it
 * started from that same pin. Logs what failed. *ret: given to
 * mfsd_cf_new(), or freed with mfsd_keys_free().
 */
int mfsd_keys_load(const struct config *cfg, struct cf_keys **ret);
void mfsd_keys_free(struct cf_keys *k);

/*
 * The engine configuration of cfg (malloc()ed; NULL on -ENOMEM), with keys
 * (not taken here: whoever gets the result passes it to cf_new() or
 * cf_reconfigure(), which take it). It borrows cfg's strings.
 */
struct cf_config *mfsd_cf_config(const struct config *cfg, struct cf_keys *keys,
				 const char *revoked_path);

/* The control engine of cfg. It takes keys (also on failure); revoked_path must outlive it. */
int mfsd_cf_new(const struct config *cfg, struct cf_keys *keys, struct store *st,
		const char *revoked_path, struct cf **ret);

#endif
