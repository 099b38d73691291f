/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the exchange state machine (src/proto/handshake.h) with hostile
 * peer messages.
 *
 * Input: one selector byte, then one or more frames (cut with
 * msg_frame_len(); a rest that is not a whole frame is fed as is). The
 * selector (modulo 4) says where the fuzzed frames come in:
 *
 *   0: a fresh responder (HELLO expected);
 *   1: an initiator after hs_start() (SELECT expected);
 *   2: a responder that answered a genuine HELLO (KEX1 expected);
 *   3: an initiator that got a genuine SELECT (KEX2, CONFIRM expected).
 *
 * The genuine messages come from a real peer engine in the same process.
 * Checks beyond "no crash, no sanitizer report, no leak": every return is
 * HS_MORE or a negative errno; HS_DONE is impossible (it would need a MAC
 * forgery); after a failure the reason is set and what was appended to out
 * is at most one REFUSE/ABORT frame that parses; out never exceeds its cap.
 *
 * Fixtures (made once, kept for good): a Classic McEliece 460896 key pair
 * per side (the 6688128 set is left out to keep start-up short: it is then
 * simply not usable), a PSK under "fuzz". The seed corpus was written by
 * running with FUZZ_HANDSHAKE_SEEDS=<dir> (see LLVMFuzzerInitialize).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/secret.h"
#include "crypto/hash.h"
#include "fuzz.h"
#include "kex/kex.h"
#include "proto/handshake.h"
#include "proto/msg.h"

#define FUZZ_PSK_ID "fuzz"
#define FUZZ_CLASS "bulk"
#define ERRNO_MAX 4095

struct side {
	struct secret *sk;
	uint8_t *pk;
	uint8_t id[HS_STATIC_ID_LEN];
	struct hs_static_key key;
};

static struct side side_i, side_r;
static struct class_policy pol_i, pol_r;
static struct hs_config cfg_i, cfg_r;
static const uint8_t exporter[48] = "fuzz tls exporter value, not secret, 48 bytes!!";
static bool ready;

static void fuzz_fail(const char *what, long v)
{
	fprintf(stderr, "fuzz_handshake: %s (%ld)\n", what, v);
	abort();
}

static int psk_lookup(void *arg, const char *id, struct secret **ret)
{
	static const uint8_t key[32] = "mfsec fuzz psk, not a secret!!!";

	(void)arg;
	if (strcmp(id, FUZZ_PSK_ID) != 0)
		return -ENOKEY;
	*ret = secret_dup(key, sizeof(key));
	return *ret ? 0 : -ENOMEM;
}

static void make_side(struct side *s, const struct kex_method *m)
{
	s->sk = secret_alloc(m->kem->sk_len);
	s->pk = malloc(m->kem->pk_len);
	if (!s->sk || !s->pk || m->kem->keypair(s->pk, s->sk->p) != 0 ||
	    hash(HASH_SHA3_256, s->pk, m->kem->pk_len, s->id) != 0)
		fuzz_fail("cannot make a static key pair", 0);
	s->key = (struct hs_static_key){
		.method = m->id, .sk = s->sk, .pk = s->pk, .pk_len = m->kem->pk_len, .pk_id = s->id,
	};
}

static void setup(void)
{
	const struct kex_method *mc = kex_method_by_id(KEX_ID_MCELIECE460896);
	const char *a = "fuzz-a", *b = "fuzz-b", *ii, *rr;
	size_t n_keys = 0;

	if (ready)
		return;
	ready = true;
	if (mc) {
		make_side(&side_i, mc);
		make_side(&side_r, mc);
		side_i.key.peer_pk = side_r.pk;
		side_i.key.peer_pk_len = mc->kem->pk_len;
		side_i.key.peer_pk_id = side_r.id;
		side_r.key.peer_pk = side_i.pk;
		side_r.key.peer_pk_len = mc->kem->pk_len;
		side_r.key.peer_pk_id = side_i.id;
		n_keys = 1;
	}
	ii = proto_is_initiator(a, b, FUZZ_CLASS) == 1 ? a : b;
	rr = ii == a ? b : a;
	/* initiator: the four-factor suite where built; responder: anything, no minimums */
	policy_init(&pol_i, FUZZ_CLASS);
	pol_i.min_pq_factors = pol_i.min_families = 0;
	{
		static const uint16_t want[] = { KEX_ID_MLKEM768, KEX_ID_MCELIECE460896, KEX_ID_PSK,
						 KEX_ID_X25519 };

		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
			if (kex_method_by_id(want[i]))
				pol_i.required[pol_i.n_required++] = want[i];
	}
	policy_init(&pol_r, FUZZ_CLASS);
	pol_r.min_pq_factors = pol_r.min_families = 0;
	{
		const struct kex_method *const *all;
		size_t n = kex_methods(&all);

		for (size_t i = 0; i < n && pol_r.n_optional < POLICY_MAX_METHODS; i++)
			pol_r.optional[pol_r.n_optional++] = all[i]->id;
	}
	cfg_i = (struct hs_config){
		.role = HS_INITIATOR, .my_id = ii, .peer_id = rr, .policy = &pol_i,
		.static_keys = &side_i.key, .n_static_keys = n_keys,
		.psk_id = FUZZ_PSK_ID, .psk_lookup = psk_lookup,
		.tls_exporter = exporter, .tls_exporter_len = sizeof(exporter), .n_keys = 4,
	};
	cfg_r = (struct hs_config){
		.role = HS_RESPONDER, .my_id = rr, .peer_id = ii, .classes = &pol_r, .n_classes = 1,
		.static_keys = &side_r.key, .n_static_keys = n_keys,
		.psk_lookup = psk_lookup,
		.tls_exporter = exporter, .tls_exporter_len = sizeof(exporter), .n_keys = 4,
	};
}

/* Feed one frame to h; check the contract; returns hs_recv()'s value. */
static int feed(struct hs *h, const uint8_t *f, size_t len, struct wbuf *out)
{
	size_t before = out->len;
	int r = hs_recv(h, f, len, out);

	if (out->len > out->cap)
		fuzz_fail("out over its cap", (long)out->len);
	if (r == HS_DONE)
		fuzz_fail("exchange completed on fuzzed input", 0);
	if (r < -ERRNO_MAX || (r > 0 && r != HS_DONE))
		fuzz_fail("hs_recv: not a negative errno", r);
	if (r < 0) {
		struct msg m;

		if (!hs_abort_reason(h) || hs_error(h) != r)
			fuzz_fail("failure without a reason", r);
		if (out->len > before &&
		    (msg_parse(out->p + before, out->len - before, &m) != 0 ||
		     (m.type != MSGT_ABORT && m.type != MSGT_REFUSE)))
			fuzz_fail("a failure answered with something but one ABORT/REFUSE", r);
	}
	return r;
}

static void feed_all(struct hs *h, const uint8_t *data, size_t size)
{
	static uint8_t buf[HS_OUT_MAX];

	while (size > 0) {
		struct wbuf out = wbuf_init(buf, sizeof(buf));
		size_t fl = size;

		if (msg_frame_len(data, size, &fl) != 0 || fl > size)
			fl = size;
		if (feed(h, data, fl, &out) < 0)
			return;
		data += fl;
		size -= fl;
	}
}

/* Step a genuine engine with frame f; its answer lands in out. */
static int step(struct hs *h, const uint8_t *f, size_t len, struct wbuf *out)
{
	out->len = 0;
	return hs_recv(h, f, len, out);
}

/* Optional seed writer: the genuine frames of each stage, as corpus files. */
static void write_seed(const char *dir, const char *name, uint8_t sel, const uint8_t *p,
		       size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "wb")))
		return;
	fputc(sel, f);
	fwrite(p, 1, len, f);
	fclose(f);
}

static void run(uint8_t sel, const uint8_t *data, size_t size, const char *seed_dir)
{
	static uint8_t b1[HS_OUT_MAX], b2[HS_OUT_MAX], b3[HS_OUT_MAX];
	struct hs *hi = calloc(1, sizeof(*hi)), *hr = calloc(1, sizeof(*hr));
	struct wbuf w1 = wbuf_init(b1, sizeof(b1)), w2 = wbuf_init(b2, sizeof(b2));
	struct wbuf w3 = wbuf_init(b3, sizeof(b3));

	if (!hi || !hr)
		abort();
	if (hs_init(hi, &cfg_i) != 0 || hs_init(hr, &cfg_r) != 0)
		fuzz_fail("hs_init", 0);
	switch (sel % 4) {
	case 0:
		feed_all(hr, data, size);
		break;
	case 1:
		if (hs_start(hi, &w1) != HS_MORE)
			fuzz_fail("hs_start", 0);
		feed_all(hi, data, size);
		break;
	case 2:
		if (hs_start(hi, &w1) != HS_MORE || step(hr, b1, w1.len, &w2) != HS_MORE)
			fuzz_fail("genuine HELLO refused", 0);
		feed_all(hr, data, size);
		break;
	case 3:
		if (hs_start(hi, &w1) != HS_MORE || step(hr, b1, w1.len, &w2) != HS_MORE ||
		    step(hi, b2, w2.len, &w3) != HS_MORE)
			fuzz_fail("genuine SELECT refused", 0);
		if (seed_dir) {
			/* the genuine flights for every stage */
			write_seed(seed_dir, "hello", 0, b1, w1.len);
			write_seed(seed_dir, "select", 1, b2, w2.len);
			write_seed(seed_dir, "kex1", 2, b3, w3.len);
			w1.len = 0;
			if (step(hr, b3, w3.len, &w1) == HS_MORE)
				write_seed(seed_dir, "kex2-confirm", 3, b1, w1.len);
			break;
		}
		feed_all(hi, data, size);
		break;
	}
	hs_done(hi);
	hs_done(hr);
	free(hi);
	free(hr);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_HANDSHAKE_SEEDS");

	(void)argc;
	(void)argv;
	setup();
	if (dir)
		run(3, NULL, 0, dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	if (size < 1)
		return 0;
	run(data[0], data + 1, size - 1, NULL);
	return 0;
}
