/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ephemeral X25519 (RFC 7748) as a key-exchange method. Classical: it is
 * offered only next to post-quantum methods (hybrid), never as a PQ factor.
 *
 *   initiator                                 responder
 *   (a, A = aG)
 *   msg1 = A                  --- A --->      (b, B = bG), K = X25519(b, A)
 *                             <--- B ---      msg2 = B
 *   K = X25519(a, B)
 *
 * An all-zero K (small-order peer point) is -EKEYREJECTED. K is the raw DH
 * output: the combiner hashes it together with the transcript, which holds
 * A and B. Any failure, wrong-order calls included, is final.
 */
#include <errno.h>
#include <string.h>

#include "crypto/x25519.h"
#include "kex/kex.h"
#include "kex/methods.h"

_Static_assert(X25519_KEY_LEN == KEX_SECRET_LEN, "X25519 secret is the kex secret");

enum x25519_state {
	X25519_ST_NONE = 0,	/* zeroed or done */
	X25519_ST_INIT,
	X25519_ST_SENT,		/* initiator: msg1() sent A, holds a */
	X25519_ST_READY,	/* the secret is in ss */
	X25519_ST_TAKEN,
	X25519_ST_FAILED,
};

struct x25519_ctx {
	enum x25519_state state;
	enum kex_role role;
	struct x25519_key key;		/* own ephemeral key */
	uint8_t ss[X25519_KEY_LEN];
};

static int x25519_fail(struct x25519_ctx *c, int r)
{
	x25519_key_done(&c->key);
	mfs_wipe(c->ss, sizeof(c->ss));
	c->state = X25519_ST_FAILED;
	return r;
}

static int x25519_init(void *ctx, const struct kex_env *env, enum kex_role role)
{
	struct x25519_ctx *c = ctx;

	(void)env;
	memset(c, 0, sizeof(*c));
	if (role != KEX_INITIATOR && role != KEX_RESPONDER)
		return x25519_fail(c, -EINVAL);
	c->role = role;
	c->state = X25519_ST_INIT;
	return 0;
}

static int x25519_msg1(void *ctx, struct wbuf *out)
{
	struct x25519_ctx *c = ctx;
	uint8_t *pk;
	int r;

	if (c->state != X25519_ST_INIT || c->role != KEX_INITIATOR)
		return x25519_fail(c, -EPROTO);
	if ((r = wbuf_reserve(out, X25519_KEY_LEN, &pk)) < 0 ||
	    (r = x25519_key_generate(&c->key, NULL)) < 0 ||
	    (r = x25519_key_pk(&c->key, pk)) < 0)
		return x25519_fail(c, r);
	c->state = X25519_ST_SENT;
	return 0;
}

static int x25519_msg2(void *ctx, struct rd in, struct wbuf *out)
{
	struct x25519_ctx *c = ctx;
	uint8_t *pk;
	int r;

	if (c->state != X25519_ST_INIT || c->role != KEX_RESPONDER)
		return x25519_fail(c, -EPROTO);
	if (in.n != X25519_KEY_LEN)
		return x25519_fail(c, -EBADMSG);
	if ((r = wbuf_reserve(out, X25519_KEY_LEN, &pk)) < 0 ||
	    (r = x25519_key_generate(&c->key, NULL)) < 0 ||
	    (r = x25519_key_shared(&c->key, c->ss, in.p)) < 0 ||
	    (r = x25519_key_pk(&c->key, pk)) < 0)
		return x25519_fail(c, r);
	x25519_key_done(&c->key);
	c->state = X25519_ST_READY;
	return 0;
}

static int x25519_finish(void *ctx, struct rd in)
{
	struct x25519_ctx *c = ctx;
	int r;

	if (c->state != X25519_ST_SENT || c->role != KEX_INITIATOR)
		return x25519_fail(c, -EPROTO);
	if (in.n != X25519_KEY_LEN)
		return x25519_fail(c, -EBADMSG);
	if ((r = x25519_key_shared(&c->key, c->ss, in.p)) < 0)
		return x25519_fail(c, r);
	x25519_key_done(&c->key);
	c->state = X25519_ST_READY;
	return 0;
}

static int x25519_secret(void *ctx, uint8_t *ret_ss)
{
	struct x25519_ctx *c = ctx;

	/* kex.h: the caller's buffer is zeroed on failure, like every secret output. */
	if (c->state != X25519_ST_READY) {
		if (c->state != X25519_ST_TAKEN)
			x25519_fail(c, -EPROTO);
		if (ret_ss)
			mfs_wipe(ret_ss, KEX_SECRET_LEN);
		return -EPROTO;
	}
	memcpy(ret_ss, c->ss, X25519_KEY_LEN);
	mfs_wipe(c->ss, sizeof(c->ss));
	c->state = X25519_ST_TAKEN;
	return 0;
}

static void x25519_done(void *ctx)
{
	struct x25519_ctx *c = ctx;

	if (!c)
		return;
	x25519_key_done(&c->key);
	mfs_wipe(c, sizeof(*c));
}

static bool kex_x25519_available(void)
{
	return x25519_available();
}

/* Raw KEM view (DHKEM without the KDF): ct is an ephemeral public key. */

static int x25519_kem_keypair(uint8_t *pk, uint8_t *sk)
{
	return x25519_keypair(pk, sk);
}

static int x25519_kem_encap(uint8_t *ct, uint8_t *ss, const uint8_t *pk, size_t pk_len)
{
	struct x25519_key eph = { 0 };
	int r;

	if (pk_len != X25519_KEY_LEN) {
		r = -EBADMSG;
		goto out;
	}
	if ((r = x25519_key_generate(&eph, NULL)) < 0 ||
	    (r = x25519_key_shared(&eph, ss, pk)) < 0 ||
	    (r = x25519_key_pk(&eph, ct)) < 0)
		goto out;
	r = 0;
out:
	if (r < 0)
		mfs_wipe(ss, X25519_KEY_LEN);
	x25519_key_done(&eph);
	return r;
}

static int x25519_kem_decap(uint8_t *ss, const uint8_t *ct, size_t ct_len,
			    const uint8_t *sk, size_t sk_len)
{
	if (ct_len != X25519_KEY_LEN || sk_len != X25519_KEY_LEN) {
		mfs_wipe(ss, X25519_KEY_LEN);
		return -EBADMSG;
	}
	return x25519_shared(ss, sk, ct);
}

static const struct kex_kem kem_x25519 = {
	.pk_len = X25519_KEY_LEN,
	.sk_len = X25519_KEY_LEN,
	.sk_len_alt = 0,	/* one secret-key form only */
	.ct_len = X25519_KEY_LEN,
	.ss_len = X25519_KEY_LEN,
	.keypair = x25519_kem_keypair,
	.encap = x25519_kem_encap,
	.decap = x25519_kem_decap,
};

const struct kex_method kex_x25519 = {
	.name = "x25519",
	.description = "X25519 (RFC 7748), classical, for hybrid use only",
	.id = KEX_ID_X25519,
	.family = KEX_FAMILY_CLASSICAL,
	.nist_category = 0,
	.post_quantum = false,
	.ctx_size = sizeof(struct x25519_ctx),
	.msg1_max = X25519_KEY_LEN,
	.msg2_max = X25519_KEY_LEN,
	.secret_len = KEX_SECRET_LEN,
	.kem = &kem_x25519,
	.openssl_alg = "X25519",
	.available = kex_x25519_available,
	.init = x25519_init,
	.msg1 = x25519_msg1,
	.msg2 = x25519_msg2,
	.finish = x25519_finish,
	.secret = x25519_secret,
	.done = x25519_done,
};
