/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pre-shared key method.
 *
 *   initiator (env->psk_id)                  responder
 *   init: psk = psk_lookup(psk_id)
 *   msg1 = vec8(psk_id)        ---------->   psk_id must be [A-Za-z0-9._-]{1,64}
 *                                            (else -EBADMSG);
 *                                            psk = psk_lookup(psk_id)
 *                                            (unknown: -ENOKEY)
 *   finish: msg2 must be empty <-- 0 B ---   msg2 = empty
 *
 *   both: secret = HKDF-SHA-384(salt = "mfsec psk v1", IKM = psk,
 *                               info = psk_id, L = 32)     (RFC 5869)
 *
 * Why a KDF rather than the key itself: PSKs are 32..1024 bytes, but the
 * combiner takes a fixed-length secret (KEX_SECRET_LEN) from every method.
 * HKDF condenses any length into 32 uniform bytes, binds the ID (two IDs
 * naming the same bytes yield different secrets) and separates this use of
 * the key from any other through the versioned salt.
 *
 * Quantum resistance: a symmetric key of at least 256 bits keeps about
 * 128-bit security against Grover's search, so the method counts as a
 * post-quantum factor. The 32-byte minimum is enforced here as well as by
 * the loader. There is no NIST category for a PSK (nist_category 0).
 *
 * The secret is the same in every exchange that uses the same PSK and ID:
 * the method adds no freshness and no forward secrecy. It is meant to be
 * one input of the combiner, next to the transcript and ephemeral factors.
 *
 * PSK bytes arrive through env->psk_lookup (no I/O here; see psk_file.h
 * for the file-backed lookup) in a struct secret that this method owns: it
 * is freed once the secret has been derived, and in done() at the latest.
 * The derivation, finish, secret and done are symkey.c's, shared with
 * qkd014.c.
 */
#include <errno.h>
#include <string.h>

#include "base/buf.h"
#include "base/secret.h"
#include "kex/kex.h"
#include "kex/methods.h"
#include "kex/psk_file.h"
#include "kex/symkey.h"

#define PSK_SALT "mfsec psk v1"

struct psk_ctx {
	struct symkey sk;	/* first (symkey_secret): key from psk_lookup, secret, state */
	int (*lookup)(void *arg, const char *id, struct secret **ret);
	void *lookup_arg;
	char id[KEX_PSK_ID_MAX + 1];
	size_t id_len;
};

static bool psk_available(void)
{
	return true;
}

/* Resolve c->id into c->sk.key; -ENOKEY (or the lookup's error) if unknown. */
static int psk_resolve(struct psk_ctx *c)
{
	struct secret *psk = NULL;
	int r;

	if ((r = c->lookup(c->lookup_arg, c->id, &psk)) < 0)
		goto out;
	if (!psk) {
		r = -ENOKEY;
		goto out;
	}
	/* Shorter than 256 bits would not be a post-quantum factor. */
	if (psk->len < KEX_PSK_MIN_LEN || psk->len > KEX_PSK_MAX_LEN) {
		r = -EINVAL;
		goto out;
	}
	c->sk.key = psk;
	psk = NULL;
	r = 0;
out:
	secret_free(psk);
	return r;
}

/* ss = HKDF-SHA-384(salt = PSK_SALT, IKM = psk, info = id, L = 32); then drop the PSK. */
static int psk_derive(struct psk_ctx *c)
{
	return symkey_derive(&c->sk, PSK_SALT, (const uint8_t *)c->id, c->id_len);
}

static int psk_init(void *ctx, const struct kex_env *env, enum kex_role role)
{
	struct psk_ctx *c = ctx;
	int r = -EINVAL;

	mfs_wipe(c, sizeof(*c));
	if (!env || !env->psk_lookup)
		goto out;
	c->lookup = env->psk_lookup;
	c->lookup_arg = env->psk_arg;
	if (role == KEX_INITIATOR) {
		if ((r = psk_id_check(env->psk_id)) < 0)
			goto out;
		c->id_len = strlen(env->psk_id);
		memcpy(c->id, env->psk_id, c->id_len + 1);
		if ((r = psk_resolve(c)) < 0)
			goto out;
		c->sk.state = SYMKEY_I_INIT;
	} else if (role == KEX_RESPONDER) {
		c->sk.state = SYMKEY_R_INIT;
	} else {
		goto out;
	}
	r = 0;
out:
	if (r < 0)
		mfs_wipe(c, sizeof(*c));
	return r;
}

static int psk_msg1(void *ctx, struct wbuf *out)
{
	struct psk_ctx *c = ctx;
	int r;

	if (c->sk.state != SYMKEY_I_INIT)
		return -EPROTO;
	c->sk.state = SYMKEY_FAILED;	/* until this step succeeds */
	if ((r = wbuf_vec8(out, c->id, c->id_len)) < 0)
		return r;
	c->sk.state = SYMKEY_I_SENT;
	return 0;
}

static int psk_msg2(void *ctx, struct rd in, struct wbuf *out)
{
	struct psk_ctx *c = ctx;
	struct rd id;
	int r;

	(void)out;	/* msg2 is empty */
	if (c->sk.state != SYMKEY_R_INIT)
		return -EPROTO;
	c->sk.state = SYMKEY_FAILED;
	if (rd_vec8(&in, UINT8_MAX, &id) < 0 || rd_end(&in) < 0)
		return -EBADMSG;
	/* The syntax check also keeps the ID usable as a file name. */
	if (!psk_id_valid((const char *)id.p, id.n))
		return -EBADMSG;
	memcpy(c->id, id.p, id.n);
	c->id[id.n] = '\0';
	c->id_len = id.n;
	if ((r = psk_resolve(c)) < 0)
		return r;
	return psk_derive(c);
}

static int psk_finish(void *ctx, struct rd in)
{
	struct psk_ctx *c = ctx;

	return symkey_finish(&c->sk, in, PSK_SALT, (const uint8_t *)c->id, c->id_len);
}

static void psk_done(void *ctx)
{
	struct psk_ctx *c = ctx;

	if (!c)
		return;
	symkey_done(&c->sk);
	mfs_wipe(c, sizeof(*c));
}

const struct kex_method kex_psk = {
	.name = "psk",
	.description = "pre-shared symmetric key (32..1024 bytes, HKDF-SHA-384); a key of "
		       ">= 256 bits counts as a quantum-resistant factor",
	.id = KEX_ID_PSK,
	.family = KEX_FAMILY_PSK,
	.nist_category = 0,
	.post_quantum = true,
	.ctx_size = sizeof(struct psk_ctx),
	.msg1_max = 1 + KEX_PSK_ID_MAX,
	.msg2_max = 0,
	.secret_len = KEX_SECRET_LEN,
	.kem = NULL,
	.available = psk_available,
	.init = psk_init,
	.msg1 = psk_msg1,
	.msg2 = psk_msg2,
	.finish = psk_finish,
	.secret = symkey_secret,
	.done = psk_done,
};
