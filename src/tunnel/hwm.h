/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Persisted sequence-number high-water marks, so that a restart never
 * reuses a (key, IV) pair when the same key is supplied again (the static
 * test key source; mfsd never delivers a key twice).
 *
 * Before an outbound SA uses sequence numbers up to R, R is written to
 * <dir>/<key ID in hex>.seq (decimal, atomically, fsync'd). After a restart
 * the SA starts after the stored R. The control thread reserves ahead in
 * steps of HWM_STEP numbers, so the data path never waits for the disk.
 */
#ifndef MFS_TUNNEL_HWM_H
#define MFS_TUNNEL_HWM_H

#include <stdint.h>

#include "tunnel/sa.h"

#define HWM_STEP (1ULL << 20)

/* *ret = the stored mark, or 0 when there is none. -EBADMSG malformed file. */
int hwm_load(const char *dir, const uint8_t id[static KEY_ID_LEN], uint64_t *ret);
/* Store the mark durably (atomic replace, fsync of file and directory). */
int hwm_store(const char *dir, const uint8_t id[static KEY_ID_LEN], uint64_t mark);

#endif
