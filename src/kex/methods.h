/* SPDX-License-Identifier: Apache-2.0 */
/* The method vtables, defined one per file in src/kex/. Use the registry, not these. */
#ifndef MFS_KEX_METHODS_H
#define MFS_KEX_METHODS_H

#include "kex/kex.h"

extern const struct kex_method kex_mlkem768;
extern const struct kex_method kex_mlkem1024;
extern const struct kex_method kex_mceliece460896;
extern const struct kex_method kex_mceliece6688128;
extern const struct kex_method kex_psk;
extern const struct kex_method kex_qkd014;
extern const struct kex_method kex_x25519;

#endif
