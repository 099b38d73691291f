/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the engine: the static key rotation (rotate.c) as cf.c calls
 * it, and what rotate.c needs from cf.c. The public side is in cf.h.
 */
#ifndef MFS_CF_ROTATE_H
#define MFS_CF_ROTATE_H

#include "cf/cf.h"

/* cf.c: queue one envelope; -ENOTCONN when the link is down. */
int cf_env_send(struct cf_peer *p, uint8_t kind, uint32_t xid, const void *body, size_t len);
/* cf.c: a running exchange still holds a copy of k. */
bool cf_static_in_use(const struct cf *cf, const struct keyring_key *k);

/* Rebuild p->skeys from the keyring (own key in use for p, its pins). */
void cf_rot_rebuild(struct cf *cf, struct cf_peer *p);
/* Link up: announce what p has not acknowledged yet (before any exchange). */
void cf_rot_link_up(struct cf_peer *p);
void cf_rot_link_down(struct cf_peer *p);
/* Bodies checked for length by cf_link_input(). A negative errno closes the link. */
int cf_rot_on_rotate(struct cf_peer *p, const uint8_t *body, size_t len, int64_t now);
int cf_rot_on_ack(struct cf_peer *p, const uint8_t *body, int64_t now);
/* Grace periods: destroy the previous own key, drop previous pins. */
void cf_rot_tick(struct cf *cf, int64_t now);
void cf_rot_free(struct cf *cf);

#endif
