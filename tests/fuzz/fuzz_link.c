/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the control engine's link input (src/cf/cf.h cf_link_input(), what
 * the daemon calls with the bytes read from a peer's TLS channel): the
 * envelope parser and the handling of every kind of link message (PROTO
 * frames of exchanges in any state, COMMIT, WANT, RESTORE, HELD, REVOKE and
 * REVOKE_ACK).
 *
 * Input: one selector byte, then the bytes the peer "sent". The selector
 * says where they arrive (bits 0-1) and how they are split (bits 2-7):
 *
 *   0: the responder of class bulk, fresh (a HELLO expected);
 *   1: the initiator, after its HELLO went out (SELECT expected);
 *   2: the responder, after it answered a genuine HELLO (KEX1 expected);
 *   3: the initiator, after a genuine SELECT (KEX2 + CONFIRM expected);
 *
 *   split 0: one call; otherwise pieces of `split` bytes; an odd split
 *   feeds them the daemon's way (cf_link_feed() until it returns 0, then
 *   cf_link_commit(): the group commit), an even one with cf_link_input().
 *
 * The genuine messages come from a second engine in the same process. Both
 * engines are made fresh for every input; their key stores (SQLite, in a
 * temporary directory made once) persist. Checks beyond "no crash, no
 * sanitizer report, no leak": cf_link_input() returns 0 or a negative errno
 * (and the daemon would then close the link: cf_link_down()); nothing the
 * engine writes back is a malformed envelope; no key is ever stored from
 * fuzzed input (a stored key would need a forged key-confirmation MAC).
 *
 * The seed corpus was written by running with FUZZ_LINK_SEEDS=<dir> (see
 * LLVMFuzzerInitialize): the genuine flight for each stage, and one
 * envelope of every other kind.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/secret.h"
#include "cf/cf.h"
#include "crypto/hash.h"
#include "fuzz.h"
#include "kex/kex.h"
#include "proto/handshake.h"
#include "proto/msg.h"
#include "store/store.h"

#define FUZZ_PSK_ID "fuzz"
#define FUZZ_CLASS "bulk"
#define FUZZ_NOW 1700000000LL
#define ERRNO_MAX 4095

struct side {
	const char *name;
	struct secret *sk;
	uint8_t *pk;
	uint8_t id[HS_STATIC_ID_LEN];
	struct hs_static_key key;
	struct store *st;
	struct cf_config cfg;
	struct cf *cf;
	struct cf_peer *p;
};

static struct side sides[2] = { { .name = "fuzz-a" }, { .name = "fuzz-b" } };
static int init_side;	/* the elected initiator of FUZZ_CLASS */
static char tmpdir[256];
static const uint8_t exporter[TLS_EXPORTER_LEN] = "fuzz link exporter, not secret!";
static bool ready;

__attribute__((noreturn)) static void fuzz_fail(const char *what, long v)
{
	fprintf(stderr, "fuzz_link: %s (%ld)\n", what, v);
	abort();
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void cleanup(void)
{
	for (int i = 0; i < 2; i++) {
		store_close(sides[i].st);
		sides[i].st = NULL;
	}
	if (tmpdir[0])
		nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void set_policy(struct class_policy *p)
{
	static const uint16_t req[] = { KEX_ID_MLKEM768, KEX_ID_X25519 };
	static const uint16_t opt[] = { KEX_ID_MCELIECE460896, KEX_ID_PSK };

	policy_init(p, FUZZ_CLASS);
	p->min_pq_factors = p->min_families = 0;
	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
		if (kex_method_by_id(req[i]))
			p->required[p->n_required++] = req[i];
	for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
		if (kex_method_by_id(opt[i]))
			p->optional[p->n_optional++] = opt[i];
	p->pool_low = 4;
	p->pool_high = 8;
}

static void setup(void)
{
	static const uint8_t psk[32] = "mfsec fuzz link psk, not secret";
	const struct kex_method *mc = kex_method_by_id(KEX_ID_MCELIECE460896);
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	char path[512], psk_dir[300];
	int fd = -1;

	if (ready)
		return;
	ready = true;
	/* quiet (below err): every input makes the engines complain */
	mfs_log_set_level((enum mfs_log_level)(MFS_LOG_ERR - 1));
	snprintf(tmpdir, sizeof(tmpdir), "%s/mfs-fuzz-link-XXXXXX", base);
	if (!mkdtemp(tmpdir))
		fuzz_fail("mkdtemp", errno);
	atexit(cleanup);
	snprintf(psk_dir, sizeof(psk_dir), "%s/psk", tmpdir);
	snprintf(path, sizeof(path), "%s/%s.psk", psk_dir, FUZZ_PSK_ID);
	if (mkdir(psk_dir, 0700) != 0 || (fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
		fuzz_fail("psk file", errno);
	if (write(fd, psk, sizeof(psk)) != (ssize_t)sizeof(psk))
		fuzz_fail("psk write", errno);
	close(fd);
	for (int i = 0; i < 2; i++) {
		struct side *s = &sides[i];
		struct secret *kek = NULL;

		if (mc) {
			s->sk = secret_alloc(mc->kem->sk_len);
			s->pk = malloc(mc->kem->pk_len);
			if (!s->sk || !s->pk || mc->kem->keypair(s->pk, s->sk->p) != 0 ||
			    hash(HASH_SHA3_256, s->pk, mc->kem->pk_len, s->id) != 0)
				fuzz_fail("cannot make a static key pair", 0);
		}
		snprintf(path, sizeof(path), "%s/kek-%d", tmpdir, i);
		if (store_kek_init(path) != 0 || store_kek_load(path, &kek) != 0)
			fuzz_fail("kek", 0);
		snprintf(path, sizeof(path), "%s/keys-%d.db", tmpdir, i);
		if (store_open(path, kek, &s->st) != 0)
			fuzz_fail("store_open", 0);
		secret_free(kek);
	}
	for (int i = 0; i < 2; i++) {
		struct side *s = &sides[i], *o = &sides[1 - i];
		struct cf_peer_cfg *pc = &s->cfg.peers[0];

		if (mc)
			s->key = (struct hs_static_key){
				.method = mc->id, .sk = s->sk, .pk = s->pk, .pk_len = mc->kem->pk_len,
				.pk_id = s->id, .peer_pk = o->pk, .peer_pk_len = mc->kem->pk_len,
				.peer_pk_id = o->id,
			};
		snprintf(s->cfg.node_id, sizeof(s->cfg.node_id), "%s", s->name);
		s->cfg.psk_dir = strdup(psk_dir);
		s->cfg.revoked_path = NULL;	/* a fuzzed REVOKE is not persisted */
		s->cfg.n_peers = 1;
		s->cfg.now = FUZZ_NOW;
		snprintf(pc->name, sizeof(pc->name), "%s", o->name);
		pc->n_classes = 1;
		set_policy(&pc->classes[0].policy);
		snprintf(pc->classes[0].psk_id, sizeof(pc->classes[0].psk_id), "%s", FUZZ_PSK_ID);
		pc->static_keys = &s->key;
		pc->n_static_keys = mc ? 1 : 0;
	}
	init_side = proto_is_initiator(sides[0].name, sides[1].name, FUZZ_CLASS) == 1 ? 0 : 1;
}

/* Length of the envelope at p[n] (independently of cf.c); 0 when it is not a whole one. */
static size_t env_len(const uint8_t *p, size_t n)
{
	size_t fl, need;

	if (n < CF_ENV_HDR_LEN)
		return 0;
	switch (p[0]) {
	case CF_ENV_PROTO:
		if (msg_frame_len(p + CF_ENV_HDR_LEN, n - CF_ENV_HDR_LEN, &fl) != 0)
			return 0;
		need = CF_ENV_HDR_LEN + fl;
		break;
	case CF_ENV_COMMIT:
		need = CF_ENV_HDR_LEN;
		break;
	case CF_ENV_WANT:
		need = n > CF_ENV_HDR_LEN ? (size_t)CF_ENV_HDR_LEN + 1 + p[CF_ENV_HDR_LEN] : n + 1;
		break;
	case CF_ENV_RESTORE:
		need = CF_ENV_HDR_LEN + 2;
		break;
	case CF_ENV_PING:
		need = CF_ENV_HDR_LEN;
		break;
	case CF_ENV_HELD:
		if (n < CF_ENV_HDR_LEN + 1 || n < CF_ENV_HDR_LEN + 1 + (size_t)p[CF_ENV_HDR_LEN] + 10)
			return 0;
		fl = p[CF_ENV_HDR_LEN];
		need = CF_ENV_HDR_LEN + 1 + fl + 10 +
		       CF_HELD_ID_LEN * ((size_t)p[CF_ENV_HDR_LEN + 1 + fl + 8] << 8 |
					 p[CF_ENV_HDR_LEN + 1 + fl + 9]);
		break;
	case CF_ENV_ROTATE:
		if (n < CF_ENV_HDR_LEN + CF_ROT_HDR_LEN)
			return 0;
		need = CF_ENV_HDR_LEN + CF_ROT_HDR_LEN +
		       ((size_t)p[CF_ENV_HDR_LEN + 74] << 8 | p[CF_ENV_HDR_LEN + 75]);
		break;
	case CF_ENV_ROTATE_ACK:
		need = CF_ENV_HDR_LEN + CF_ROT_ACK_LEN;
		break;
	default:
		return 0;
	}
	return need <= n ? need : 0;
}

/* What an engine sends must be whole, well-formed envelopes. */
static void check_output(struct cf_peer *p)
{
	const uint8_t *out;
	size_t n = cf_link_output(p, &out), off = 0;

	while (off < n) {
		size_t el = env_len(out + off, n - off);

		if (el == 0)
			fuzz_fail("the engine wrote a malformed envelope", (long)off);
		if (out[off] == CF_ENV_PROTO) {
			struct msg m;

			if (msg_parse(out + off + CF_ENV_HDR_LEN, el - CF_ENV_HDR_LEN, &m) != 0)
				fuzz_fail("the engine wrote a frame that does not parse", (long)off);
		}
		off += el;
	}
}

/* Move everything `from` has written to the other (genuine traffic). */
static void move(int from)
{
	const uint8_t *out;
	size_t n = cf_link_output(sides[from].p, &out);
	uint8_t *copy;

	if (n == 0)
		return;
	check_output(sides[from].p);
	if (!(copy = malloc(n)))
		abort();
	memcpy(copy, out, n);
	cf_link_consume(sides[from].p, n);
	if (cf_link_input(sides[1 - from].p, copy, n, FUZZ_NOW) != 0)
		fuzz_fail("genuine traffic refused", 0);
	free(copy);
}

static uint64_t total_keys(void)
{
	uint64_t t = 0;

	for (int i = 0; i < 2; i++) {
		struct store_counts sc;

		if (store_counts(sides[i].st, NULL, NULL, STORE_DIR_ANY, &sc) != 0)
			fuzz_fail("store_counts", 0);
		for (int s = 0; s < STORE_STATE_COUNT; s++)
			t += sc.state[s];
	}
	return t;
}

/* Fresh engines with the link up, driven to stage sel; returns the side that gets the input. */
static int prepare(unsigned stage)
{
	int ii = init_side, rr = 1 - init_side;

	for (int i = 0; i < 2; i++) {
		if (cf_new(&sides[i].cfg, sides[i].st, &sides[i].cf) != 0 ||
		    !(sides[i].p = cf_peer_by_name(sides[i].cf, sides[1 - i].name)))
			fuzz_fail("cf_new", i);
		cf_link_up(sides[i].p, exporter, sizeof(exporter), FUZZ_NOW);
	}
	if (stage == 0)
		return rr;
	/* the initiator starts (its HELLO); the responder's WANT is dropped */
	cf_tick(sides[ii].cf, FUZZ_NOW);
	if (stage == 1)
		return ii;
	move(ii);		/* HELLO → SELECT */
	if (stage == 2)
		return rr;
	move(rr);		/* SELECT → KEX1 */
	return ii;
}

static void release(void)
{
	for (int i = 0; i < 2; i++) {
		cf_free(sides[i].cf);
		sides[i].cf = NULL;
		sides[i].p = NULL;
	}
}

/*
 * Pieces of an odd split go through mfsd's path (cf_link_feed until it
 * returns 0, then cf_link_commit), the others through cf_link_input.
 */
static void feed(struct cf_peer *p, const uint8_t *data, size_t size, size_t split)
{
	while (size > 0 && p->up) {
		size_t k = split && split < size ? split : size;
		int r;

		if (split & 1) {
			int steps = 0;

			r = cf_link_feed(p, data, k, FUZZ_NOW);
			while (r == 1 && steps++ < 100000)
				r = cf_link_feed(p, NULL, 0, FUZZ_NOW);
			if (r == 1)
				fuzz_fail("cf_link_feed: does not finish", r);
			if (r == 0)
				cf_link_commit(p, FUZZ_NOW);
		} else {
			r = cf_link_input(p, data, k, FUZZ_NOW);
		}
		if (r > 0 || r < -ERRNO_MAX)
			fuzz_fail("cf_link_input: not 0 or a negative errno", r);
		if (p->in_len > CF_INBUF_MAX)
			fuzz_fail("input buffer over its size", (long)p->in_len);
		if (r < 0) {
			if (!p->last_error[0] && p->up)
				fuzz_fail("link error without a reason", r);
			cf_link_down(p, "fuzz: link input error", FUZZ_NOW);
			break;
		}
		data += k;
		size -= k;
	}
}

static void run(uint8_t sel, const uint8_t *data, size_t size)
{
	int target = prepare(sel & 3);
	struct cf_peer *p = sides[target].p;

	/* drop what the target sent so far; only its answers to the input are checked */
	cf_link_consume(p, SIZE_MAX);
	feed(p, data, size, sel >> 2);
	check_output(p);
	/* what the input asked for (WANT, a revocation) starts now */
	cf_tick(sides[target].cf, FUZZ_NOW + 1);
	check_output(p);
	if (total_keys() != 0)
		fuzz_fail("a key was stored from fuzzed input", (long)total_keys());
	release();
}

/* ---- seeds ---- */

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

/* The genuine output of side s as a seed for stage sel. */
static void seed_output(const char *dir, const char *name, uint8_t sel, int s)
{
	const uint8_t *out;
	size_t n = cf_link_output(sides[s].p, &out);

	write_seed(dir, name, sel, out, n);
}

static void write_seeds(const char *dir)
{
	static const uint8_t want[] = { CF_ENV_WANT, 0, 0, 0, 0, 4, 'b', 'u', 'l', 'k' };
	static const uint8_t restore[] = { CF_ENV_RESTORE, 0, 0, 0, 0, 0x04, 0x01 };
	static const uint8_t commit[] = { CF_ENV_COMMIT, 0, 0, 0, 1 };
	static const uint8_t bad_kind[] = { 0x7f, 0, 0, 0, 0 };
	/* HELD for bulk: since 0, one exchange id (unknown here) */
	static const uint8_t held[] = { CF_ENV_HELD, 0, 0, 0, 0, 4, 'b', 'u', 'l', 'k',
					0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
					1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	uint8_t buf[CF_ENV_HDR_LEN + MSG_HDR_LEN + 3 + MSG_TEXT_MAX];
	struct wbuf w;
	struct msg m = { .version = PROTO_VERSION };
	int ii = init_side, rr = 1 - init_side;

	/* stage 0 gets a HELLO, 1 a SELECT, 2 a KEX1, 3 the KEX2 + CONFIRM */
	prepare(0);
	cf_tick(sides[ii].cf, FUZZ_NOW);
	seed_output(dir, "hello", 0, ii);
	move(ii);
	seed_output(dir, "select", 1, rr);
	move(rr);
	seed_output(dir, "kex1", 2, ii);
	move(ii);
	seed_output(dir, "kex2-confirm", 3, rr);
	release();
	write_seed(dir, "want", 0, want, sizeof(want));
	write_seed(dir, "restore", 1, restore, sizeof(restore));
	write_seed(dir, "commit", 3, commit, sizeof(commit));
	write_seed(dir, "bad-kind", 0, bad_kind, sizeof(bad_kind));
	write_seed(dir, "held", 0, held, sizeof(held));
	/* REVOKE and REVOKE_ACK of the PSK method, xid 0 */
	for (int t = 0; t < 2; t++) {
		memset(buf, 0, CF_ENV_HDR_LEN);
		buf[0] = CF_ENV_PROTO;
		w = wbuf_init(buf + CF_ENV_HDR_LEN, sizeof(buf) - CF_ENV_HDR_LEN);
		m.type = t == 0 ? MSGT_REVOKE : MSGT_REVOKE_ACK;
		m.u.notice.code = KEX_ID_PSK;
		m.u.notice.text = rd_init("fuzz", 4);
		if (msg_encode(&w, &m) != 0)
			fuzz_fail("msg_encode", 0);
		write_seed(dir, t == 0 ? "revoke" : "revoke-ack", 4 * 7 + 2, buf,
			   CF_ENV_HDR_LEN + w.len);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_LINK_SEEDS");

	(void)argc;
	(void)argv;
	setup();
	if (dir)
		write_seeds(dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	if (size < 1)
		return 0;
	run(data[0], data + 1, size - 1);
	return 0;
}
