/* SPDX-License-Identifier: Apache-2.0 */
/*
 * QKD method: a key from the QKD network, by ETSI GS QKD 014 key ID.
 *
 *   initiator = master SAE                     responder = slave SAE
 *   init: qkd_take() -> ref, key
 *         (a key it got with enc_keys that
 *          the peer has fetched with dec_keys)
 *   msg1 = u8 1 ‖ vec8 kme_id ‖ vec8 master_sae ‖ key_id[16] ‖ u16 key bits
 *                              ---------->     IDs: printable ASCII 1..64
 *                                              (else -EBADMSG);
 *                                              key = qkd_lookup(ref): -ENOKEY
 *                                              unknown, -EALREADY used before;
 *                                              its length must be the one
 *                                              msg1 names (-EKEYREJECTED)
 *   finish: msg2 must be empty <-- 0 B ---     msg2 = empty
 *
 *   both: secret = HKDF-SHA-384(salt = "mfsec qkd014 v1", IKM = QKD key,
 *                               info = key_id, L = 32)
 *
 * The key ID, the KME ID and the master SAE ID are in msg1, which the
 * combiner binds (docs/combiner.md): two exchanges that name different keys
 * derive different keys even if the QKD key bytes were equal, and a peer
 * that names another key than it used fails key confirmation.
 *
 * QKD keys are 256..8192 bits (KEX_QKD_KEY_MIN..MAX bytes); HKDF condenses
 * them to the combiner's fixed KEX_SECRET_LEN, as for a PSK. The key is
 * information-theoretically secure as long as the QKD links and the
 * trusted nodes are (the combiner marks it `its`). No I/O here: the daemon
 * fetches keys from its KME ahead of time (docs/methods.md). The
 * derivation, finish, secret and done are symkey.c's, shared with psk.c.
 */
#include <errno.h>
#include <string.h>

#include "base/buf.h"
#include "base/secret.h"
#include "kex/kex.h"
#include "kex/methods.h"
#include "kex/symkey.h"

#define QKD_SALT "mfsec qkd014 v1"
#define QKD_MSG1_VERSION 1

struct qkd_ctx {
	struct symkey sk;	/* first (symkey_secret): key from qkd_take / qkd_lookup, secret, state */
	int (*lookup)(void *arg, const struct kex_qkd_ref *ref, struct secret **ret);
	void *arg;
	struct kex_qkd_ref ref;
};

static bool qkd_available(void)
{
	return true;
}

static bool key_len_ok(const struct secret *k)
{
	return k && k->p && k->len >= KEX_QKD_KEY_MIN && k->len <= KEX_QKD_KEY_MAX;
}

/* ss = HKDF-SHA-384(QKD_SALT, key, key_id); then drop the key. */
static int qkd_derive(struct qkd_ctx *c)
{
	return symkey_derive(&c->sk, QKD_SALT, c->ref.key_id, sizeof(c->ref.key_id));
}

static int qkd_init(void *ctx, const struct kex_env *env, enum kex_role role)
{
	struct qkd_ctx *c = ctx;
	int r = -EINVAL;

	mfs_wipe(c, sizeof(*c));
	if (!env)
		goto out;
	if (role == KEX_INITIATOR) {
		struct secret *key = NULL;

		if (!env->qkd_take)
			goto out;
		r = env->qkd_take(env->qkd_arg, &c->ref, &key);
		if (r >= 0 && (!key_len_ok(key) ||
			       !kex_qkd_id_valid((const uint8_t *)c->ref.kme_id,
						 strnlen(c->ref.kme_id, KEX_QKD_ID_MAX + 1)) ||
			       !kex_qkd_id_valid((const uint8_t *)c->ref.master_sae,
						 strnlen(c->ref.master_sae, KEX_QKD_ID_MAX + 1))))
			r = -EINVAL;
		if (r < 0) {
			secret_free(key);
			goto out;
		}
		c->sk.key = key;
		c->sk.state = SYMKEY_I_INIT;
	} else if (role == KEX_RESPONDER) {
		if (!env->qkd_lookup)
			goto out;
		c->lookup = env->qkd_lookup;
		c->arg = env->qkd_arg;
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

static int qkd_msg1(void *ctx, struct wbuf *out)
{
	struct qkd_ctx *c = ctx;

	if (c->sk.state != SYMKEY_I_INIT)
		return -EPROTO;
	c->sk.state = SYMKEY_FAILED;
	wbuf_u8(out, QKD_MSG1_VERSION);
	wbuf_vec8(out, c->ref.kme_id, strlen(c->ref.kme_id));
	wbuf_vec8(out, c->ref.master_sae, strlen(c->ref.master_sae));
	wbuf_put(out, c->ref.key_id, sizeof(c->ref.key_id));
	wbuf_u16(out, (uint16_t)(8 * c->sk.key->len));
	if (wbuf_error(out))
		return wbuf_error(out);
	c->sk.state = SYMKEY_I_SENT;
	return 0;
}

static int qkd_msg2(void *ctx, struct rd in, struct wbuf *out)
{
	struct qkd_ctx *c = ctx;
	struct rd kme, sae;
	struct secret *key = NULL;
	uint8_t ver;
	uint16_t bits;
	int r;

	(void)out;	/* msg2 is empty */
	if (c->sk.state != SYMKEY_R_INIT)
		return -EPROTO;
	c->sk.state = SYMKEY_FAILED;
	if (rd_u8(&in, &ver) < 0 || ver != QKD_MSG1_VERSION ||
	    rd_vec8(&in, KEX_QKD_ID_MAX, &kme) < 0 || rd_vec8(&in, KEX_QKD_ID_MAX, &sae) < 0 ||
	    rd_copy(&in, c->ref.key_id, KEX_QKD_KEY_ID_LEN) < 0 || rd_u16(&in, &bits) < 0 ||
	    rd_end(&in) < 0)
		return -EBADMSG;
	if (!kex_qkd_id_valid(kme.p, kme.n) || !kex_qkd_id_valid(sae.p, sae.n) || bits % 8 ||
	    bits / 8 < KEX_QKD_KEY_MIN || bits / 8 > KEX_QKD_KEY_MAX)
		return -EBADMSG;
	memcpy(c->ref.kme_id, kme.p, kme.n);
	c->ref.kme_id[kme.n] = '\0';
	memcpy(c->ref.master_sae, sae.p, sae.n);
	c->ref.master_sae[sae.n] = '\0';
	if ((r = c->lookup(c->arg, &c->ref, &key)) < 0)
		goto fail;
	if (!key) {
		r = -ENOKEY;
		goto fail;
	}
	/* The master and the slave must hold the same key: the same length first. */
	if (!key_len_ok(key) || key->len != bits / 8) {
		r = -EKEYREJECTED;
		goto fail;
	}
	c->sk.key = key;
	return qkd_derive(c);
fail:
	secret_free(key);
	return r;
}

static int qkd_finish(void *ctx, struct rd in)
{
	struct qkd_ctx *c = ctx;

	return symkey_finish(&c->sk, in, QKD_SALT, c->ref.key_id, sizeof(c->ref.key_id));
}

static void qkd_done(void *ctx)
{
	struct qkd_ctx *c = ctx;

	if (!c)
		return;
	symkey_done(&c->sk);
	mfs_wipe(c, sizeof(*c));
}

const struct kex_method kex_qkd014 = {
	.name = "qkd014",
	.description = "QKD key from the local KME by ETSI GS QKD 014 key ID (enc_keys at the "
		       "initiator, dec_keys at the responder; 256..8192 bits, HKDF-SHA-384)",
	.id = KEX_ID_QKD014,
	.family = KEX_FAMILY_QKD,
	.nist_category = 0,
	.post_quantum = true,
	.ctx_size = sizeof(struct qkd_ctx),
	.msg1_max = 1 + 1 + KEX_QKD_ID_MAX + 1 + KEX_QKD_ID_MAX + KEX_QKD_KEY_ID_LEN + 2,
	.msg2_max = 0,
	.secret_len = KEX_SECRET_LEN,
	.kem = NULL,
	.available = qkd_available,
	.init = qkd_init,
	.msg1 = qkd_msg1,
	.msg2 = qkd_msg2,
	.finish = qkd_finish,
	.secret = symkey_secret,
	.done = qkd_done,
};
