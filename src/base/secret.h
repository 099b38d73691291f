/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secret memory.
 *
 * struct secret holds long-lived key material in its own mapping: guard
 * pages on both sides, mlock()ed where the memlock limit allows (a failed
 * mlock is counted, not fatal, as in libsodium), excluded from core dumps
 * (MADV_DONTDUMP), and always wiped before it is unmapped.
 *
 * The log facade (log.h) refuses struct secret arguments at compile time.
 */
#ifndef MFS_BASE_SECRET_H
#define MFS_BASE_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct secret {
	uint8_t *p;
	size_t len;
};

/* Largest secret we allocate: a Classic McEliece 6960119 secret key is ~14 KiB. */
#define SECRET_MAX_LEN (1U << 20)

/*
 * Allocate len zeroed secret bytes. Returns NULL on failure (errno set).
 * Caller frees with secret_free().
 */
struct secret *secret_alloc(size_t len);
/* Allocate and copy len bytes from p. */
struct secret *secret_dup(const void *p, size_t len);
/* Wipe and release; NULL-safe. */
void secret_free(struct secret *s);
/* How many allocations could not be mlock()ed (memlock limit). */
unsigned long secret_mlock_failures(void);

/* Wipe len bytes at p; never optimized away. NULL-safe when len is 0. */
void mfs_wipe(void *p, size_t len);

/*
 * Constant-time equality of two len-byte buffers: true when equal. The time
 * depends only on len.
 */
bool mfs_ct_eq(const void *a, const void *b, size_t len);
/* Constant-time: true when all len bytes are zero. */
bool mfs_ct_is_zero(const void *p, size_t len);

/* Process hardening for daemons and tools that hold secrets: no core dumps, no ptrace by peers. */
int mfs_harden_process(void);

#endif
