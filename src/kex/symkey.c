/* SPDX-License-Identifier: Apache-2.0 */
/* The shared core of the symmetric-key methods psk and qkd014 (symkey.h). */
#include <errno.h>
#include <string.h>

#include "crypto/hash.h"
#include "crypto/mac.h"
#include "kex/symkey.h"

int symkey_derive(struct symkey *s, const char *salt, const uint8_t *info, size_t info_len)
{
	int r = hkdf(HASH_SHA384, (const uint8_t *)salt, strlen(salt), s->key->p, s->key->len,
		     info, info_len, s->ss, sizeof(s->ss));

	secret_free(s->key);
	s->key = NULL;
	if (r == 0)
		s->state = SYMKEY_SECRET;
	return r;
}

int symkey_finish(struct symkey *s, struct rd in, const char *salt, const uint8_t *info,
		  size_t info_len)
{
	if (s->state != SYMKEY_I_SENT)
		return -EPROTO;
	s->state = SYMKEY_FAILED;	/* until this step succeeds */
	if (in.n != 0)
		return -EBADMSG;
	return symkey_derive(s, salt, info, info_len);
}

int symkey_secret(void *ctx, uint8_t *ret_ss)
{
	struct symkey *s = ctx;	/* the first member of the method's context */

	if (s->state != SYMKEY_SECRET) {
		if (ret_ss)
			mfs_wipe(ret_ss, KEX_SECRET_LEN);
		return -EPROTO;
	}
	memcpy(ret_ss, s->ss, KEX_SECRET_LEN);
	mfs_wipe(s->ss, sizeof(s->ss));
	s->state = SYMKEY_TAKEN;
	return 0;
}

void symkey_done(struct symkey *s)
{
	secret_free(s->key);
	s->key = NULL;
}
