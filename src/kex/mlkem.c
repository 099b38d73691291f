/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ephemeral ML-KEM-768 / ML-KEM-1024 (FIPS 203) as a key-exchange method.
 *
 *   initiator                                 responder
 *   (ek, dk) = KeyGen()
 *   msg1 = ek                 --- ek --->     (K, c) = Encaps(ek)   [modulus check]
 *                             <--- c ----     msg2 = c
 *   K = Decaps(dk, c)         [implicit rejection: a bad c gives an unrelated K]
 *
 * The initiator's key pair lives in ctx from msg1() to finish() and is
 * released as soon as it has decapsulated. Any failure, wrong-order calls
 * included, is final: every later call but done() fails with -EPROTO.
 */
#include <errno.h>
#include <string.h>

#include "crypto/mlkem.h"
#include "kex/kex.h"
#include "kex/methods.h"

_Static_assert(MLKEM_SS_LEN == KEX_SECRET_LEN, "ML-KEM secret is the kex secret");

enum mlkem_state {
	MLKEM_ST_NONE = 0,	/* zeroed or done: nothing held */
	MLKEM_ST_INIT,		/* init() done */
	MLKEM_ST_SENT,		/* initiator: msg1() sent ek, holds dk */
	MLKEM_ST_READY,		/* the secret is in ss */
	MLKEM_ST_TAKEN,		/* secret() returned it; ss wiped */
	MLKEM_ST_FAILED,	/* a call failed; the exchange is dead */
};

struct mlkem_ctx {
	enum mlkem_state state;
	enum kex_role role;
	enum mlkem_alg alg;
	struct mlkem_key key;		/* initiator's ephemeral key pair */
	uint8_t ss[MLKEM_SS_LEN];
};

/* Drop everything secret and make the exchange unusable; returns r. */
static int mlkem_fail(struct mlkem_ctx *c, int r)
{
	mlkem_key_done(&c->key);
	mfs_wipe(c->ss, sizeof(c->ss));
	c->state = MLKEM_ST_FAILED;
	return r;
}

static int mlkem_init(void *ctx, enum mlkem_alg alg, enum kex_role role)
{
	struct mlkem_ctx *c = ctx;

	memset(c, 0, sizeof(*c));
	if (role != KEX_INITIATOR && role != KEX_RESPONDER)
		return mlkem_fail(c, -EINVAL);
	c->role = role;
	c->alg = alg;
	c->state = MLKEM_ST_INIT;
	return 0;
}

static int mlkem768_init(void *ctx, const struct kex_env *env, enum kex_role role)
{
	(void)env;	/* ephemeral: needs nothing from the caller */
	return mlkem_init(ctx, MLKEM_768, role);
}

static int mlkem1024_init(void *ctx, const struct kex_env *env, enum kex_role role)
{
	(void)env;
	return mlkem_init(ctx, MLKEM_1024, role);
}

static int mlkem_msg1(void *ctx, struct wbuf *out)
{
	struct mlkem_ctx *c = ctx;
	uint8_t *ek;
	int r;

	if (c->state != MLKEM_ST_INIT || c->role != KEX_INITIATOR)
		return mlkem_fail(c, -EPROTO);
	if ((r = wbuf_reserve(out, mlkem_pk_len(c->alg), &ek)) < 0 ||
	    (r = mlkem_key_generate(&c->key, c->alg, NULL)) < 0 ||
	    (r = mlkem_key_pk(&c->key, ek)) < 0)
		return mlkem_fail(c, r);
	c->state = MLKEM_ST_SENT;
	return 0;
}

static int mlkem_msg2(void *ctx, struct rd in, struct wbuf *out)
{
	struct mlkem_ctx *c = ctx;
	uint8_t *ct;
	int r;

	if (c->state != MLKEM_ST_INIT || c->role != KEX_RESPONDER)
		return mlkem_fail(c, -EPROTO);
	if (in.n != mlkem_pk_len(c->alg))
		return mlkem_fail(c, -EBADMSG);
	if ((r = wbuf_reserve(out, mlkem_ct_len(c->alg), &ct)) < 0 ||
	    (r = mlkem_encap(c->alg, ct, c->ss, in.p, in.n, NULL)) < 0)
		return mlkem_fail(c, r);
	c->state = MLKEM_ST_READY;
	return 0;
}

static int mlkem_finish(void *ctx, struct rd in)
{
	struct mlkem_ctx *c = ctx;
	int r;

	if (c->state != MLKEM_ST_SENT || c->role != KEX_INITIATOR)
		return mlkem_fail(c, -EPROTO);
	if (in.n != mlkem_ct_len(c->alg))
		return mlkem_fail(c, -EBADMSG);
	if ((r = mlkem_key_decap(&c->key, c->ss, in.p, in.n)) < 0)
		return mlkem_fail(c, r);
	mlkem_key_done(&c->key);	/* forward secrecy: dk is not needed any more */
	c->state = MLKEM_ST_READY;
	return 0;
}

static int mlkem_secret(void *ctx, uint8_t *ret_ss)
{
	struct mlkem_ctx *c = ctx;

	/* kex.h: the caller's buffer is zeroed on failure, like every secret output. */
	if (c->state != MLKEM_ST_READY) {
		if (c->state != MLKEM_ST_TAKEN)
			mlkem_fail(c, -EPROTO);
		if (ret_ss)
			mfs_wipe(ret_ss, KEX_SECRET_LEN);
		return -EPROTO;
	}
	memcpy(ret_ss, c->ss, MLKEM_SS_LEN);
	mfs_wipe(c->ss, sizeof(c->ss));
	c->state = MLKEM_ST_TAKEN;
	return 0;
}

static void mlkem_done(void *ctx)
{
	struct mlkem_ctx *c = ctx;

	if (!c)
		return;
	mlkem_key_done(&c->key);
	mfs_wipe(c, sizeof(*c));	/* state back to MLKEM_ST_NONE */
}

static bool mlkem768_available(void)
{
	return mlkem_available(MLKEM_768);
}

static bool mlkem1024_available(void)
{
	return mlkem_available(MLKEM_1024);
}

/* Raw KEM views: sk is the 64-byte seed; decap also takes the expanded dk. */

static int mlkem768_keypair(uint8_t *pk, uint8_t *sk)
{
	return mlkem_keypair(MLKEM_768, NULL, pk, sk);
}

static int mlkem768_encap(uint8_t *ct, uint8_t *ss, const uint8_t *pk, size_t pk_len)
{
	return mlkem_encap(MLKEM_768, ct, ss, pk, pk_len, NULL);
}

static int mlkem768_decap(uint8_t *ss, const uint8_t *ct, size_t ct_len,
			  const uint8_t *sk, size_t sk_len)
{
	return mlkem_decap(MLKEM_768, ss, ct, ct_len, sk, sk_len);
}

static int mlkem1024_keypair(uint8_t *pk, uint8_t *sk)
{
	return mlkem_keypair(MLKEM_1024, NULL, pk, sk);
}

static int mlkem1024_encap(uint8_t *ct, uint8_t *ss, const uint8_t *pk, size_t pk_len)
{
	return mlkem_encap(MLKEM_1024, ct, ss, pk, pk_len, NULL);
}

static int mlkem1024_decap(uint8_t *ss, const uint8_t *ct, size_t ct_len,
			   const uint8_t *sk, size_t sk_len)
{
	return mlkem_decap(MLKEM_1024, ss, ct, ct_len, sk, sk_len);
}

static const struct kex_kem kem_mlkem768 = {
	.pk_len = MLKEM768_PK_LEN,
	.sk_len = MLKEM_SEED_LEN,
	.sk_len_alt = MLKEM768_DK_LEN,
	.ct_len = MLKEM768_CT_LEN,
	.ss_len = MLKEM_SS_LEN,
	.keypair = mlkem768_keypair,
	.encap = mlkem768_encap,
	.decap = mlkem768_decap,
};

static const struct kex_kem kem_mlkem1024 = {
	.pk_len = MLKEM1024_PK_LEN,
	.sk_len = MLKEM_SEED_LEN,
	.sk_len_alt = MLKEM1024_DK_LEN,
	.ct_len = MLKEM1024_CT_LEN,
	.ss_len = MLKEM_SS_LEN,
	.keypair = mlkem1024_keypair,
	.encap = mlkem1024_encap,
	.decap = mlkem1024_decap,
};

const struct kex_method kex_mlkem768 = {
	.name = "mlkem768",
	.description = "ML-KEM-768 (FIPS 203), ephemeral key pair per exchange",
	.id = KEX_ID_MLKEM768,
	.family = KEX_FAMILY_LATTICE,
	.nist_category = 3,
	.post_quantum = true,
	.ctx_size = sizeof(struct mlkem_ctx),
	.msg1_max = MLKEM768_PK_LEN,
	.msg2_max = MLKEM768_CT_LEN,
	.secret_len = KEX_SECRET_LEN,
	.kem = &kem_mlkem768,
	.openssl_alg = "ML-KEM-768",
	.available = mlkem768_available,
	.init = mlkem768_init,
	.msg1 = mlkem_msg1,
	.msg2 = mlkem_msg2,
	.finish = mlkem_finish,
	.secret = mlkem_secret,
	.done = mlkem_done,
};

const struct kex_method kex_mlkem1024 = {
	.name = "mlkem1024",
	.description = "ML-KEM-1024 (FIPS 203), ephemeral key pair per exchange",
	.id = KEX_ID_MLKEM1024,
	.family = KEX_FAMILY_LATTICE,
	.nist_category = 5,
	.post_quantum = true,
	.ctx_size = sizeof(struct mlkem_ctx),
	.msg1_max = MLKEM1024_PK_LEN,
	.msg2_max = MLKEM1024_CT_LEN,
	.secret_len = KEX_SECRET_LEN,
	.kem = &kem_mlkem1024,
	.openssl_alg = "ML-KEM-1024",
	.available = mlkem1024_available,
	.init = mlkem1024_init,
	.msg1 = mlkem_msg1,
	.msg2 = mlkem_msg2,
	.finish = mlkem_finish,
	.secret = mlkem_secret,
	.done = mlkem_done,
};
