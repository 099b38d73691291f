/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the messages every key-exchange method receives from its peer.
 *
 * Input: one selector byte, then the message. Bit 0 of the selector picks
 * the side, the rest (modulo the number of built methods) the method:
 *
 *   bit 0 = 0: a responder takes the message as msg1 and runs msg2();
 *   bit 0 = 1: an initiator sends a genuine msg1, then takes the message as
 *              msg2 and runs finish().
 *
 * A successful call is followed by secret(). The harness checks only the
 * contract of kex.h, never the values: no crash or sanitizer report, every
 * call returns >= 0 or a negative errno, and a written message stays within
 * msg1_max / msg2_max.
 *
 * What a method needs from its caller is made once per process, on first
 * use, and kept for good (reachable, so LeakSanitizer stays quiet): for a
 * KEM a static key pair (Classic McEliece uses it; ML-KEM ignores it), for
 * PSK a lookup that knows one fixed test key under the ID "fuzz", for QKD
 * a take/lookup pair that hands out one fixed 256-bit key. The keys
 * are random per process; message-parsing bugs reproduce regardless.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/secret.h"
#include "fuzz.h"
#include "kex/kex.h"

#define FUZZ_ERRNO_MAX	 4095
#define FUZZ_METHODS_MAX 32
#define FUZZ_PSK_ID	 "fuzz"

struct fuzz_static_key {
	bool tried;
	struct secret *sk;
	uint8_t *pk;
	size_t pk_len;
};

static struct fuzz_static_key static_keys[FUZZ_METHODS_MAX];

static void fuzz_fail(const struct kex_method *m, const char *what, long v)
{
	fprintf(stderr, "fuzz_kex_msg: %s: %s (%ld)\n", m->name, what, v);
	abort();
}

/* 0 or a count on success, a negative errno on failure (kex.h, STYLE §4). */
static int check_ret(const struct kex_method *m, const char *call, int r)
{
	if (r < -FUZZ_ERRNO_MAX)
		fuzz_fail(m, call, r);
	return r;
}

static int psk_lookup(void *arg, const char *id, struct secret **ret)
{
	static const uint8_t key[KEX_PSK_MIN_LEN] = "mfsec fuzz psk, not a secret!!!";

	(void)arg;
	if (strcmp(id, FUZZ_PSK_ID) != 0)
		return -ENOKEY;
	*ret = secret_dup(key, sizeof(key));
	return *ret ? 0 : -ENOMEM;
}

/* QKD: one fixed key, as if enc_keys/dec_keys had fetched it; any ID. */
static const uint8_t qkd_key[KEX_QKD_KEY_MIN] = "mfsec fuzz qkd key, not secret!";

static int qkd_take(void *arg, struct kex_qkd_ref *ref, struct secret **ret)
{
	(void)arg;
	memset(ref, 0, sizeof(*ref));
	memcpy(ref->kme_id, "kme-fuzz", 8);
	memcpy(ref->master_sae, "sae-fuzz", 8);
	*ret = secret_dup(qkd_key, sizeof(qkd_key));
	return *ret ? 0 : -ENOMEM;
}

static int qkd_lookup(void *arg, const struct kex_qkd_ref *ref, struct secret **ret)
{
	(void)arg;
	if (strlen(ref->kme_id) > KEX_QKD_ID_MAX || strlen(ref->master_sae) > KEX_QKD_ID_MAX)
		abort();
	if (ref->key_id[0] == 0xff)
		return -EALREADY;
	*ret = secret_dup(qkd_key, sizeof(qkd_key));
	return *ret ? 0 : -ENOMEM;
}

/* A static key pair for method i, made on first use; NULL fields if none. */
static const struct fuzz_static_key *static_key(size_t i, const struct kex_method *m)
{
	struct fuzz_static_key *k = &static_keys[i];

	if (k->tried || !m->kem || !m->kem->keypair)
		return k;
	k->tried = true;
	k->sk = secret_alloc(m->kem->sk_len);
	k->pk = malloc(m->kem->pk_len);
	if (!k->sk || !k->pk || check_ret(m, "kem keypair", m->kem->keypair(k->pk, k->sk->p)) < 0)
		fuzz_fail(m, "cannot make a static key pair", 0);
	k->pk_len = m->kem->pk_len;
	return k;
}

static void take_secret(const struct kex_method *m, void *ctx)
{
	uint8_t *ss = malloc(m->secret_len ? m->secret_len : 1);

	if (!ss)
		abort();
	(void)check_ret(m, "secret", m->secret(ctx, ss));
	mfs_wipe(ss, m->secret_len);
	free(ss);
}

static void run_responder(const struct kex_method *m, void *ctx, const struct kex_env *env,
			  struct rd msg1)
{
	uint8_t *out = malloc(m->msg2_max ? m->msg2_max : 1);
	struct wbuf w = wbuf_init(out, m->msg2_max);

	if (!out)
		abort();
	if (check_ret(m, "init", m->init(ctx, env, KEX_RESPONDER)) < 0)
		goto out;
	if (check_ret(m, "msg2", m->msg2(ctx, msg1, &w)) < 0)
		goto out;
	if (w.len > m->msg2_max)
		fuzz_fail(m, "msg2 longer than msg2_max", (long)w.len);
	take_secret(m, ctx);
out:
	free(out);
}

static void run_initiator(const struct kex_method *m, void *ctx, const struct kex_env *env,
			  struct rd msg2)
{
	uint8_t *out = malloc(m->msg1_max ? m->msg1_max : 1);
	struct wbuf w = wbuf_init(out, m->msg1_max);

	if (!out)
		abort();
	if (check_ret(m, "init", m->init(ctx, env, KEX_INITIATOR)) < 0)
		goto out;
	if (check_ret(m, "msg1", m->msg1(ctx, &w)) < 0)
		goto out;
	if (w.len > m->msg1_max)
		fuzz_fail(m, "msg1 longer than msg1_max", (long)w.len);
	if (check_ret(m, "finish", m->finish(ctx, msg2)) < 0)
		goto out;
	take_secret(m, ctx);
out:
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct kex_method *const *methods;
	const struct kex_method *m;
	const struct fuzz_static_key *k;
	struct kex_env env;
	size_t n, i;
	void *ctx;

	n = kex_methods(&methods);
	if (size < 1 || n == 0)
		return 0;
	if (n > FUZZ_METHODS_MAX)
		abort(); /* raise FUZZ_METHODS_MAX */
	i = (size_t)(data[0] >> 1) % n;
	m = methods[i];
	if (!m->available())
		return 0;

	/* One party talking to itself: its own static key is also the pinned peer key. */
	k = static_key(i, m);
	env = (struct kex_env){
		.static_sk = k->sk,
		.static_pk = k->pk,
		.static_pk_len = k->pk_len,
		.peer_static_pk = k->pk,
		.peer_static_pk_len = k->pk_len,
		.psk_id = FUZZ_PSK_ID,
		.psk_lookup = psk_lookup,
		.qkd_take = qkd_take,
		.qkd_lookup = qkd_lookup,
	};

	ctx = calloc(1, m->ctx_size ? m->ctx_size : 1);
	if (!ctx)
		abort();
	if (data[0] & 1)
		run_initiator(m, ctx, &env, rd_init(data + 1, size - 1));
	else
		run_responder(m, ctx, &env, rd_init(data + 1, size - 1));
	m->done(ctx);
	free(ctx);
	return 0;
}
