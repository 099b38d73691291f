/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Classic McEliece methods (mceliece460896, mceliece6688128) with a static
 * initiator key.
 *
 * A McEliece public key is 0.5 MiB (460896) or 1 MiB (6688128): far too
 * big to send in every exchange. So the initiator holds a long-term
 * (static) key pair, and the responder has pinned the initiator's public
 * key beforehand. Only a key identifier and a ciphertext cross the wire:
 *
 *   initiator (static sk, pk)                responder (pinned pk')
 *   msg1 = SHA3-256(pk)         --- 32 B -->  msg1 == SHA3-256(pk')?
 *                                             else -EKEYREJECTED
 *                                             (ct, ss) = Encap(pk')
 *   ss = Decap(sk, ct)          <--- ct ---   msg2 = ct
 *
 * msg1 is public: it only names the key so that a responder with the wrong
 * pin fails early and clearly instead of deriving a mismatched secret.
 * The secret is the 32-byte McEliece session key. Decapsulation uses
 * implicit rejection: a tampered ciphertext yields an unrelated key without
 * an error, so the two sides end up with different secrets and the
 * combined exchange fails later, without telling an attacker why.
 *
 * This factor has no forward secrecy of its own: whoever later learns the
 * static secret key can decapsulate recorded ciphertexts. Static keys are
 * rotated by the daemon; ephemeral factors in the same exchange (ML-KEM)
 * provide forward secrecy.
 *
 * Methods never generate keys (keygen takes tens to hundreds of ms); the
 * caller supplies them through struct kex_env. The raw KEM view
 * (struct kex_kem) is how tools and the daemon's worker thread make them.
 */
#include <errno.h>
#include <string.h>

#include "base/buf.h"
#include "base/secret.h"
#include "crypto/hash.h"
#include "crypto/mceliece.h"
#include "kex/kex.h"
#include "kex/methods.h"

#define CMCE_KEY_ID_LEN 32	/* SHA3-256 of the initiator's static public key */

_Static_assert(CMCE_SS_LEN == KEX_SECRET_LEN, "McEliece session key is the method secret");

enum cmce_state {
	ST_NONE = 0,	/* zeroed, or after done() */
	ST_I_INIT,	/* initiator: msg1 next */
	ST_I_SENT,	/* initiator: finish next */
	ST_R_INIT,	/* responder: msg2 next */
	ST_SECRET,	/* secret() next */
	ST_TAKEN,	/* the secret has been taken */
	ST_FAILED,	/* a step failed; the exchange is dead */
};

struct cmce_params {
	size_t pk_len, sk_len, ct_len;
	int (*encap)(uint8_t *ct, uint8_t *ss, const uint8_t *pk);
	int (*decap)(uint8_t *ss, const uint8_t *ct, const uint8_t *sk);
};

static const struct cmce_params p460896 = {
	.pk_len = CMCE460896_PK_LEN,
	.sk_len = CMCE460896_SK_LEN,
	.ct_len = CMCE460896_CT_LEN,
	.encap = cmce460896_encap,
	.decap = cmce460896_decap,
};

static const struct cmce_params p6688128 = {
	.pk_len = CMCE6688128_PK_LEN,
	.sk_len = CMCE6688128_SK_LEN,
	.ct_len = CMCE6688128_CT_LEN,
	.encap = cmce6688128_encap,
	.decap = cmce6688128_decap,
};

/* Everything here is borrowed from struct kex_env or a copy; nothing to free. */
struct cmce_ctx {
	const struct cmce_params *par;
	const uint8_t *sk;		/* initiator: env->static_sk->p */
	const uint8_t *peer_pk;		/* responder: env->peer_static_pk */
	uint8_t key_id[CMCE_KEY_ID_LEN];
	uint8_t ss[CMCE_SS_LEN];
	enum cmce_state state;
};

static bool cmce_available(void)
{
	return true;	/* linked against libmceliece, which has no runtime probe */
}

static int cmce_init(const struct cmce_params *par, struct cmce_ctx *c,
		     const struct kex_env *env, enum kex_role role)
{
	const uint8_t *pk = NULL;
	int r = -EINVAL;

	mfs_wipe(c, sizeof(*c));
	if (!env)
		goto out;
	if (role == KEX_INITIATOR) {
		if (!env->static_sk || !env->static_sk->p ||
		    env->static_sk->len != par->sk_len ||
		    !env->static_pk || env->static_pk_len != par->pk_len)
			goto out;
		pk = env->static_pk;
		c->sk = env->static_sk->p;
	} else if (role == KEX_RESPONDER) {
		if (!env->peer_static_pk || env->peer_static_pk_len != par->pk_len)
			goto out;
		pk = env->peer_static_pk;
		c->peer_pk = env->peer_static_pk;
	} else {
		goto out;
	}
	/*
	 * Hashing 0.5-1 MiB costs about a millisecond per exchange; the key ID
	 * depends only on the static key, so a caller that runs many exchanges
	 * passes it precomputed (env->static_pk_id, the SHA3-256 of pk).
	 */
	if (env->static_pk_id)
		memcpy(c->key_id, env->static_pk_id, sizeof(c->key_id));
	else if ((r = hash(HASH_SHA3_256, pk, par->pk_len, c->key_id)) < 0)
		goto out;
	c->par = par;
	c->state = role == KEX_INITIATOR ? ST_I_INIT : ST_R_INIT;
	r = 0;
out:
	if (r < 0)
		mfs_wipe(c, sizeof(*c));
	return r;
}

static int cmce_msg1(void *ctx, struct wbuf *out)
{
	struct cmce_ctx *c = ctx;
	int r;

	if (c->state != ST_I_INIT)
		return -EPROTO;
	c->state = ST_FAILED;	/* until this step succeeds */
	if ((r = wbuf_put(out, c->key_id, sizeof(c->key_id))) < 0)
		return r;
	c->state = ST_I_SENT;
	return 0;
}

static int cmce_msg2(void *ctx, struct rd in, struct wbuf *out)
{
	struct cmce_ctx *c = ctx;
	uint8_t *ct;
	int r;

	if (c->state != ST_R_INIT)
		return -EPROTO;
	c->state = ST_FAILED;
	if (in.n != CMCE_KEY_ID_LEN)
		return -EBADMSG;
	/* The peer's key is not the one we pinned: refuse before encapsulating. */
	if (!mfs_ct_eq(in.p, c->key_id, CMCE_KEY_ID_LEN))
		return -EKEYREJECTED;
	if ((r = wbuf_reserve(out, c->par->ct_len, &ct)) < 0)
		return r;
	if ((r = c->par->encap(ct, c->ss, c->peer_pk)) < 0)
		return r;
	c->state = ST_SECRET;
	return 0;
}

static int cmce_finish(void *ctx, struct rd in)
{
	struct cmce_ctx *c = ctx;
	int r;

	if (c->state != ST_I_SENT)
		return -EPROTO;
	c->state = ST_FAILED;
	if (in.n != c->par->ct_len)
		return -EBADMSG;
	if ((r = c->par->decap(c->ss, in.p, c->sk)) < 0)
		return r;
	c->state = ST_SECRET;
	return 0;
}

static int cmce_secret(void *ctx, uint8_t *ret_ss)
{
	struct cmce_ctx *c = ctx;

	if (c->state != ST_SECRET) {
		if (ret_ss)
			mfs_wipe(ret_ss, KEX_SECRET_LEN);
		return -EPROTO;
	}
	memcpy(ret_ss, c->ss, CMCE_SS_LEN);
	mfs_wipe(c->ss, sizeof(c->ss));
	c->state = ST_TAKEN;
	return 0;
}

static void cmce_done(void *ctx)
{
	if (ctx)
		mfs_wipe(ctx, sizeof(struct cmce_ctx));
}

/* Raw KEM view: exact lengths; a wrong pk/ct length is -EBADMSG, a wrong sk length -EINVAL. */
static int kem_encap(const struct cmce_params *par, uint8_t *ct, uint8_t *ss,
		     const uint8_t *pk, size_t pk_len)
{
	if (pk_len != par->pk_len) {
		mfs_wipe(ss, CMCE_SS_LEN);
		return -EBADMSG;
	}
	return par->encap(ct, ss, pk);
}

static int kem_decap(const struct cmce_params *par, uint8_t *ss, const uint8_t *ct,
		     size_t ct_len, const uint8_t *sk, size_t sk_len)
{
	int r;

	if (ct_len != par->ct_len)
		r = -EBADMSG;
	else if (sk_len != par->sk_len)
		r = -EINVAL;
	else
		return par->decap(ss, ct, sk);
	mfs_wipe(ss, CMCE_SS_LEN);
	return r;
}

/* mceliece460896: NIST category 3 */

static int init460896(void *ctx, const struct kex_env *env, enum kex_role role)
{
	return cmce_init(&p460896, ctx, env, role);
}

static int encap460896(uint8_t *ct, uint8_t *ss, const uint8_t *pk, size_t pk_len)
{
	return kem_encap(&p460896, ct, ss, pk, pk_len);
}

static int decap460896(uint8_t *ss, const uint8_t *ct, size_t ct_len,
		       const uint8_t *sk, size_t sk_len)
{
	return kem_decap(&p460896, ss, ct, ct_len, sk, sk_len);
}

static const struct kex_kem kem460896 = {
	.pk_len = CMCE460896_PK_LEN,
	.sk_len = CMCE460896_SK_LEN,
	.sk_len_alt = 0,
	.ct_len = CMCE460896_CT_LEN,
	.ss_len = CMCE_SS_LEN,
	.keypair = cmce460896_keypair,
	.encap = encap460896,
	.decap = decap460896,
};

const struct kex_method kex_mceliece460896 = {
	.name = "mceliece460896",
	.description = "Classic McEliece 460896 (code-based KEM, NIST category 3); "
		       "static initiator key pinned by the responder",
	.id = KEX_ID_MCELIECE460896,
	.family = KEX_FAMILY_CODE,
	.nist_category = 3,
	.post_quantum = true,
	.ctx_size = sizeof(struct cmce_ctx),
	.msg1_max = CMCE_KEY_ID_LEN,
	.msg2_max = CMCE460896_CT_LEN,
	.secret_len = KEX_SECRET_LEN,
	.kem = &kem460896,
	.available = cmce_available,
	.init = init460896,
	.msg1 = cmce_msg1,
	.msg2 = cmce_msg2,
	.finish = cmce_finish,
	.secret = cmce_secret,
	.done = cmce_done,
};

/* mceliece6688128: NIST category 5 */

static int init6688128(void *ctx, const struct kex_env *env, enum kex_role role)
{
	return cmce_init(&p6688128, ctx, env, role);
}

static int encap6688128(uint8_t *ct, uint8_t *ss, const uint8_t *pk, size_t pk_len)
{
	return kem_encap(&p6688128, ct, ss, pk, pk_len);
}

static int decap6688128(uint8_t *ss, const uint8_t *ct, size_t ct_len,
			const uint8_t *sk, size_t sk_len)
{
	return kem_decap(&p6688128, ss, ct, ct_len, sk, sk_len);
}

static const struct kex_kem kem6688128 = {
	.pk_len = CMCE6688128_PK_LEN,
	.sk_len = CMCE6688128_SK_LEN,
	.sk_len_alt = 0,
	.ct_len = CMCE6688128_CT_LEN,
	.ss_len = CMCE_SS_LEN,
	.keypair = cmce6688128_keypair,
	.encap = encap6688128,
	.decap = decap6688128,
};

const struct kex_method kex_mceliece6688128 = {
	.name = "mceliece6688128",
	.description = "Classic McEliece 6688128 (code-based KEM, NIST category 5); "
		       "static initiator key pinned by the responder",
	.id = KEX_ID_MCELIECE6688128,
	.family = KEX_FAMILY_CODE,
	.nist_category = 5,
	.post_quantum = true,
	.ctx_size = sizeof(struct cmce_ctx),
	.msg1_max = CMCE_KEY_ID_LEN,
	.msg2_max = CMCE6688128_CT_LEN,
	.secret_len = KEX_SECRET_LEN,
	.kem = &kem6688128,
	.available = cmce_available,
	.init = init6688128,
	.msg1 = cmce_msg1,
	.msg2 = cmce_msg2,
	.finish = cmce_finish,
	.secret = cmce_secret,
	.done = cmce_done,
};
