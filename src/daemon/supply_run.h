/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfsd's key supply face: the [supply] and [sae] sections turned into a
 * supply backend (src/supply/) behind an ETSI GS QKD 014 HTTPS server
 * (src/etsi014/), running on its own worker threads beside the event loop.
 * Denied requests are logged here (warning), the one edge that logs.
 */
#ifndef MFS_DAEMON_SUPPLY_RUN_H
#define MFS_DAEMON_SUPPLY_RUN_H

#include <jansson.h>

#include "daemon/config.h"

struct mfsd_supply;

/*
 * Start serving when cfg->supply.enabled (else *ret = NULL, 0). db_path and
 * kek_path are the key store's files (each worker opens its own handle).
 * Logs what failed. *ret: mfsd_supply_stop().
 */
int mfsd_supply_start(const struct config *cfg, const char *db_path, const char *kek_path,
		      struct mfsd_supply **ret);
/* Stop the workers (in-flight requests finish), free; NULL-safe. */
void mfsd_supply_stop(struct mfsd_supply *s);
/*
 * {"listen","port","threads","saes","connections","requests","ok",
 *  "keys_served","enc_keys","dec_keys","denied","exhausted","errors":{...}}
 * for mfsctl status; NULL on -ENOMEM.
 */
json_t *mfsd_supply_status(const struct mfsd_supply *s);
/* cf revoke listener (arg: the mfsd_supply): drop the reserved keys of method; logs how many. */
size_t mfsd_supply_revoked(void *arg, uint16_t method);

#endif
