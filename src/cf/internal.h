/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the engine (src/cf/): what cf.c, rotate.c (static key
 * rotation) and reconf.c (cf_reconfigure) share. The public side is cf.h.
 */
#ifndef MFS_CF_INTERNAL_H
#define MFS_CF_INTERNAL_H

#include "cf/cf.h"

/* cf.c: queue one envelope; -ENOTCONN when the link is down. */
int cf_env_send(struct cf_peer *p, uint8_t kind, uint32_t xid, const void *body, size_t len);
/* cf.c: release an exchange (NULL-safe). */
void cf_xchg_free(struct cf_xchg *x);
/* cf.c: set up class c of p from c->cfg (election, rekey timer from now). */
int cf_class_init(struct cf *cf, struct cf_peer *p, struct cf_class *c, int64_t now);
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
