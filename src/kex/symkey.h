/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shared core of the methods whose factor is a symmetric key named by
 * an ID (psk.c: a pre-shared key by PSK ID; qkd014.c: a QKD key by ETSI
 * 014 key ID). Both run the same two-message shape:
 *
 *   initiator                                  responder
 *   msg1 = the key's name      ---------->     the key looked up by name
 *   finish: msg2 must be empty <-- 0 B ---     msg2 = empty
 *
 *   both: secret = HKDF-SHA-384(salt = the method's versioned label,
 *                               IKM = the key, info = its name, L = 32)
 *
 * and differ only in how the name is written, read and resolved. The key
 * (struct secret) is owned here from the lookup on, and freed as soon as
 * the secret is derived (symkey_derive), in symkey_done() at the latest.
 * The method's context starts with a struct symkey.
 */
#ifndef MFS_KEX_SYMKEY_H
#define MFS_KEX_SYMKEY_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/secret.h"
#include "kex/kex.h"

enum symkey_state {
	SYMKEY_NONE = 0,	/* zeroed, or after done() */
	SYMKEY_I_INIT,		/* initiator: msg1 next */
	SYMKEY_I_SENT,		/* initiator: finish next */
	SYMKEY_R_INIT,		/* responder: msg2 next */
	SYMKEY_SECRET,		/* secret() next */
	SYMKEY_TAKEN,		/* the secret has been taken */
	SYMKEY_FAILED,		/* a step failed; the exchange is dead */
};

struct symkey {
	struct secret *key;	/* owned: from the method's lookup, freed once derived */
	uint8_t ss[KEX_SECRET_LEN];
	enum symkey_state state;
};

/*
 * ss = HKDF-SHA-384(salt, IKM = s->key, info, L = KEX_SECRET_LEN); the key
 * is freed either way. On success the state becomes SYMKEY_SECRET; on
 * failure it is left as it was (the caller set SYMKEY_FAILED).
 */
int symkey_derive(struct symkey *s, const char *salt, const uint8_t *info, size_t info_len);
/* The initiator's finish(): msg2 must be empty, then symkey_derive(). */
int symkey_finish(struct symkey *s, struct rd in, const char *salt, const uint8_t *info,
		  size_t info_len);
/*
 * The method's secret() itself (ctx: its context, which starts with a
 * struct symkey): KEX_SECRET_LEN bytes to ret_ss, once; -EPROTO (ret_ss
 * wiped) otherwise.
 */
int symkey_secret(void *ctx, uint8_t *ret_ss);
/* Free the key if it is still held (the caller then wipes its whole context). */
void symkey_done(struct symkey *s);

#endif
