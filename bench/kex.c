/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/kex: throughput of every key-exchange method, of the four-factor
 * suite with the combiner, and of the combiner alone, each next to a
 * reference measured in the same run by the libraries' own tools.
 *
 * What is timed (process CPU time, CLOCK_PROCESS_CPUTIME_ID, user + system):
 *
 *   keygen/encap/decap   the raw KEM view (m->kem), as tools use it: ML-KEM
 *                        imports the ek / re-derives the key from the seed
 *                        on every call; McEliece keygen is provisioning, not
 *                        part of an exchange, and is reported for scale only
 *   encap/decap (held)   ML-KEM through crypto/mlkem.h with a key already in
 *                        OpenSSL's form (what the exchange path does)
 *   exchange             both roles through the vtable in one process:
 *                        init, msg1, msg2, finish, secret, done
 *   initiator/responder  the same exchange with the responder's calls timed
 *                        apart (two extra clock reads per exchange)
 *   suite                mlkem768 + mceliece460896 + x25519 + psk (the demo's
 *                        suite), both roles, fresh 32-byte nonces, and
 *                        combiner_derive (CatKDF, HKDF-SHA-384) on each side
 *   combiner             combiner_derive alone on the suite's real messages
 *
 * Each measurement runs for --seconds of CPU time, --reps times; the table
 * shows the median and the min..max of the reps. Measurements and the
 * openssl references are interleaved rep by rep, so drift on a shared
 * machine hits both alike. mceliece-speed runs once, first (it has no
 * options and takes minutes; it reports 32 cycle counts per operation, of
 * which we take the median and divide the TSC frequency it prints by it).
 *
 * References (ratio = ours / reference; 1.0 = as fast as the tool):
 *   openssl speed -mr -seconds S ML-KEM-768 / ML-KEM-1024   (+F9: keygen, encaps, decaps)
 *   openssl speed -mr -seconds S ecdhx25519                 (+F5: derive ops/s)
 *   openssl speed -mr -seconds S -hmac sha384 -bytes 32     (+F: bytes/s)
 *   openssl speed -mr -seconds S -evp sha384 -bytes N       (N = combiner input)
 *   openssl speed -mr -seconds S -evp sha3-256 -bytes 524160 (McEliece key ID)
 *   mceliece-speed                                          (kem_*_keypair/enc/dec selected)
 * A composite operation's reference is the sum of its parts' reference
 * times (e.g. an ML-KEM exchange = keygen + encaps + decaps).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#if MFS_WITH_MCELIECE
#include <mceliece.h>	/* the library's version string */
#endif

#include "common.h"

#include "base/buf.h"
#include "base/secret.h"
#include "crypto/combiner.h"
#include "crypto/hash.h"
#include "crypto/mac.h"
#include "crypto/mlkem.h"
#include "crypto/rng.h"
#include "kex/kex.h"

#define MAX_REPS BENCH_MAX_REPS
#define MAX_ROWS 96
#define MAX_ITEMS 96
#define MAX_TERMS 16
#define SUITE_N 4
#define BENCH_PSK_ID "bench-link-1"
#define BENCH_PSK_LEN 32
#define MSG_CAP 4096		/* above every msg1/msg2 of the registry */
#define NONCE_LEN 32
#define KEY_LEN 32
#define CMCE_PK_460896 524160	/* bytes hashed for the McEliece key ID */

static struct {
	double seconds;
	int reps;
	bool markdown;
	bool refs;
	bool mceliece_speed;
	const char *only;
	const char *openssl;
	const char *mceliece;
	int mceliece_timeout;
} opt = {
	.seconds = 0.5,
	.reps = 5,
	.refs = true,
	.mceliece_speed = true,
	.openssl = "openssl",
	.mceliece = "mceliece-speed",
	.mceliece_timeout = 900,
};

static double cpu_now(void)
{
	return bench_clock(CLOCK_PROCESS_CPUTIME_ID);
}

/* ---- references ---------------------------------------------------------- */

enum ref_key {
	R_MLKEM768_KG, R_MLKEM768_ENC, R_MLKEM768_DEC,
	R_MLKEM1024_KG, R_MLKEM1024_ENC, R_MLKEM1024_DEC,
	R_X25519,		/* one X25519 derive (scalar multiplication) */
	R_HMAC384,		/* HMAC-SHA-384 of 32 bytes */
	R_SHA384_COMB,		/* SHA-384 of the combiner's context + MA + MB */
	R_SHA3_PK,		/* SHA3-256 of a McEliece-460896 public key */
	R_CMCE460896_KG, R_CMCE460896_ENC, R_CMCE460896_DEC,
	R_CMCE6688128_KG, R_CMCE6688128_ENC, R_CMCE6688128_DEC,
	R_COUNT,
};

static const char *const ref_names[R_COUNT] = {
	[R_MLKEM768_KG] = "openssl speed ML-KEM-768 keygen",
	[R_MLKEM768_ENC] = "openssl speed ML-KEM-768 encaps",
	[R_MLKEM768_DEC] = "openssl speed ML-KEM-768 decaps",
	[R_MLKEM1024_KG] = "openssl speed ML-KEM-1024 keygen",
	[R_MLKEM1024_ENC] = "openssl speed ML-KEM-1024 encaps",
	[R_MLKEM1024_DEC] = "openssl speed ML-KEM-1024 decaps",
	[R_X25519] = "openssl speed ecdhx25519 (derive)",
	[R_HMAC384] = "openssl speed -hmac sha384 -bytes 32",
	[R_SHA384_COMB] = "openssl speed -evp sha384 -bytes N",
	[R_SHA3_PK] = "openssl speed -evp sha3-256 -bytes 524160",
	[R_CMCE460896_KG] = "mceliece-speed kem_460896_keypair",
	[R_CMCE460896_ENC] = "mceliece-speed kem_460896_enc",
	[R_CMCE460896_DEC] = "mceliece-speed kem_460896_dec",
	[R_CMCE6688128_KG] = "mceliece-speed kem_6688128_keypair",
	[R_CMCE6688128_ENC] = "mceliece-speed kem_6688128_enc",
	[R_CMCE6688128_DEC] = "mceliece-speed kem_6688128_dec",
};

static struct {
	double s[MAX_REPS];	/* ops/s, one per run of the tool */
	int n;
} refs[R_COUNT];

static void ref_add(enum ref_key k, double ops)
{
	if (ops > 0 && refs[k].n < MAX_REPS)
		refs[k].s[refs[k].n++] = ops;
}

static double ref_median(enum ref_key k)
{
	return bench_median(refs[k].s, refs[k].n);
}

struct term {
	enum ref_key key;
	double weight;		/* how many of this operation one of ours does */
};

/* ---- rows (output lines) -------------------------------------------------- */

struct row {
	char method[24];
	char op[24];
	double s[MAX_REPS];	/* ops per CPU second, one per rep */
	int n;
	struct term ref[MAX_TERMS];
	int nref;
	char ref_label[64];
};

static struct row rows[MAX_ROWS];
static int n_rows;

static struct row *row_new(const char *method, const char *op, const char *ref_label)
{
	struct row *r;

	if (n_rows == MAX_ROWS)
		bench_die("too many rows");
	r = &rows[n_rows++];
	snprintf(r->method, sizeof(r->method), "%s", method);
	snprintf(r->op, sizeof(r->op), "%s", op);
	snprintf(r->ref_label, sizeof(r->ref_label), "%s", ref_label ? ref_label : "-");
	return r;
}

static void row_ref(struct row *r, enum ref_key k, double weight)
{
	if (r->nref == MAX_TERMS)
		bench_die("too many reference terms");
	r->ref[r->nref++] = (struct term){ k, weight };
}

static void row_refs(struct row *r, const struct row *from)
{
	for (int i = 0; i < from->nref; i++)
		row_ref(r, from->ref[i].key, from->ref[i].weight);
}

/* Reference ops/s of a row: 1 / sum(weight / ref ops/s); 0 if a part is missing. */
static double row_ref_ops(const struct row *r)
{
	double t = 0;

	if (!r->nref)
		return 0;
	for (int i = 0; i < r->nref; i++) {
		double v = ref_median(r->ref[i].key);

		if (v <= 0)
			return 0;
		t += r->ref[i].weight / v;
	}
	return 1 / t;
}

static void row_add(struct row *r, double ops)
{
	if (r->n < MAX_REPS)
		r->s[r->n++] = ops;
}

/* ---- measurement ---------------------------------------------------------- */

typedef void (*op_fn)(void *arg);

struct item {
	const char *label;
	void (*run)(struct item *it);
	op_fn fn;
	void *arg;
	unsigned long batch;	/* ops between clock reads; 0 until calibrated */
	struct row *row, *row2;
	double *resp_cpu;	/* split items: CPU seconds spent in the responder */
	char *const *argv;	/* reference items: the command */
	void (*parse)(struct item *it, const char *out);
};

static struct item items[MAX_ITEMS];
static int n_items;

static struct item *item_new(const char *label, void (*run)(struct item *))
{
	struct item *it;

	if (n_items == MAX_ITEMS)
		bench_die("too many items");
	it = &items[n_items++];
	it->label = label;
	it->run = run;
	return it;
}

/*
 * Run fn in batches until `seconds` of process CPU time have passed; return
 * the number of operations and, in *cpu, the CPU seconds they took. The
 * first call calibrates the batch to about 10 ms (and warms up).
 */
static unsigned long measure(struct item *it, double *cpu)
{
	unsigned long n = 0;
	double t0, t;

	if (!it->batch) {
		unsigned long b = 1;

		for (;;) {
			t0 = cpu_now();
			for (unsigned long i = 0; i < b; i++)
				it->fn(it->arg);
			if (cpu_now() - t0 >= 0.01 || b >= (1UL << 24))
				break;
			b *= 2;
		}
		it->batch = b;
	}
	if (it->resp_cpu)
		*it->resp_cpu = 0;
	t0 = cpu_now();
	do {
		for (unsigned long i = 0; i < it->batch; i++)
			it->fn(it->arg);
		n += it->batch;
		t = cpu_now() - t0;
	} while (t < opt.seconds);
	*cpu = t;
	return n;
}

static void run_plain(struct item *it)
{
	double cpu;
	unsigned long n = measure(it, &cpu);

	row_add(it->row, (double)n / cpu);
}

/* row = initiator, row2 = responder. */
static void run_split(struct item *it)
{
	double cpu;
	unsigned long n = measure(it, &cpu);
	double resp = *it->resp_cpu;

	if (resp <= 0 || resp >= cpu)
		bench_die("%s: inconsistent split timing", it->label);
	row_add(it->row, (double)n / (cpu - resp));
	row_add(it->row2, (double)n / resp);
}

/* ---- subprocesses --------------------------------------------------------- */

/* "+F9:<idx>:<keygen/s>:<encaps/s>:<decaps/s>" */
static void parse_mlkem768(struct item *it, const char *out)
{
	const char *l = bench_find_line(out, "+F9:");

	(void)it;
	if (l) {
		ref_add(R_MLKEM768_KG, bench_field(l, 1));
		ref_add(R_MLKEM768_ENC, bench_field(l, 2));
		ref_add(R_MLKEM768_DEC, bench_field(l, 3));
	}
}

static void parse_mlkem1024(struct item *it, const char *out)
{
	const char *l = bench_find_line(out, "+F9:");

	(void)it;
	if (l) {
		ref_add(R_MLKEM1024_KG, bench_field(l, 1));
		ref_add(R_MLKEM1024_ENC, bench_field(l, 2));
		ref_add(R_MLKEM1024_DEC, bench_field(l, 3));
	}
}

/* "+F5:<idx>:<bits>:<ops/s>:<s/op>" */
static void parse_x25519(struct item *it, const char *out)
{
	const char *l = bench_find_line(out, "+F5:");

	(void)it;
	if (l)
		ref_add(R_X25519, bench_field(l, 2));
}

/* "+F:<idx>:<name>:<bytes/s>" for one -bytes size: ops/s = bytes/s / size. */
static double parse_bytes_per_s(const char *out, double size)
{
	const char *l = bench_find_line(out, "+F:");
	double v = l ? bench_field(l, 2) : -1;

	return v > 0 ? v / size : -1;
}

static size_t comb_bytes;	/* combiner: bytes of context + MA + MB */

static void parse_hmac(struct item *it, const char *out)
{
	(void)it;
	ref_add(R_HMAC384, parse_bytes_per_s(out, 32));
}

static void parse_sha384(struct item *it, const char *out)
{
	(void)it;
	ref_add(R_SHA384_COMB, parse_bytes_per_s(out, (double)comb_bytes));
}

static void parse_sha3(struct item *it, const char *out)
{
	(void)it;
	ref_add(R_SHA3_PK, parse_bytes_per_s(out, CMCE_PK_460896));
}

static bool refs_failed_once;

static void run_ref(struct item *it)
{
	char *out = bench_run_capture((const char *const *)it->argv);

	if (!out) {
		if (!refs_failed_once)
			fprintf(stderr, "bench/kex: warning: '%s ...' failed; its references are missing\n",
				it->argv[0]);
		refs_failed_once = true;
		return;
	}
	it->parse(it, out);
	free(out);
}

static char secs_arg[16], comb_bytes_arg[24];

static char **argv_of(const char *a0, ...)
{
	static char *store[32][12];
	static int used;
	char **v;
	va_list ap;
	int i = 0;

	if (used == 32)
		bench_die("too many reference commands");
	v = store[used++];
	v[i++] = (char *)a0;
	va_start(ap, a0);
	while ((v[i] = va_arg(ap, char *)) && i < 11)
		i++;
	va_end(ap);
	v[11] = NULL;
	return v;
}

static void add_ref_item(const char *label, char **argv,
			 void (*parse)(struct item *, const char *))
{
	struct item *it = item_new(label, run_ref);

	it->argv = argv;
	it->parse = parse;
}

/*
 * mceliece-speed: prints "cpucycles selected persecond <Hz>", then per
 * parameter set lines "kem_<set>_<op> selected <bytes> <IQM cycles> <+d...>"
 * where the 32 numbers after the IQM are each run's difference from it.
 * We take the median of the 32 runs. It has no options and runs its whole
 * suite (minutes), so we stop it once both of our parameter sets are seen.
 */
#if MFS_WITH_MCELIECE
static char mce_version[64] = mceliece_version;	/* the header's; the tool's if it runs */
#else
static char mce_version[64] = "not built";
#endif

static bool mceliece_line(const char *l, double hz, bool got[R_COUNT])
{
	static const struct { const char *name; enum ref_key key; } want[] = {
		{ "kem_460896_keypair selected ", R_CMCE460896_KG },
		{ "kem_460896_enc selected ", R_CMCE460896_ENC },
		{ "kem_460896_dec selected ", R_CMCE460896_DEC },
		{ "kem_6688128_keypair selected ", R_CMCE6688128_KG },
		{ "kem_6688128_enc selected ", R_CMCE6688128_ENC },
		{ "kem_6688128_dec selected ", R_CMCE6688128_DEC },
	};
	bool all = true;

	for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
		size_t n = strlen(want[w].name);

		if (strncmp(l, want[w].name, n) == 0 && hz > 0) {
			double iqm, v[MAX_REPS];
			char *end;
			const char *p = l + n;
			int k = 0;

			strtoull(p, &end, 10);		/* bytes */
			iqm = strtod(end, &end);	/* interquartile mean */
			p = end;
			while (*p == ' ')
				p++;
			while ((*p == '+' || *p == '-') && k < MAX_REPS) {
				double d = strtod(p, &end);

				if (end == p)
					break;
				v[k++] = iqm + d;
				p = end;
			}
			if (iqm > 0) {
				double cycles = k ? bench_median(v, k) : iqm;

				ref_add(want[w].key, hz / cycles);
				got[want[w].key] = true;
			}
		}
		all = all && got[want[w].key];
	}
	return all;
}

static void run_mceliece_speed(void)
{
	const char *argv[] = { opt.mceliece, NULL };
	bool got[R_COUNT] = { false };
	char buf[1 << 16];
	size_t len = 0;
	double hz = 0, start = 0;
	struct timespec ts;
	pid_t pid;
	int fd = bench_spawn(argv, &pid), st;
	bool done = false;

	if (fd < 0) {
		fprintf(stderr, "bench/kex: warning: cannot run %s\n", opt.mceliece);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	start = (double)ts.tv_sec;
	while (!done) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t k;
		char *nl;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		if ((double)ts.tv_sec - start > opt.mceliece_timeout) {
			fprintf(stderr, "bench/kex: warning: %s timed out\n", opt.mceliece);
			break;
		}
		if (poll(&pf, 1, 1000) <= 0)
			continue;
		k = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
		buf[len] = '\0';
		while (!done && (nl = strchr(buf, '\n'))) {
			*nl = '\0';
			if (strncmp(buf, "mceliece version ", 17) == 0)
				snprintf(mce_version, sizeof(mce_version), "%.63s", buf + 17);
			else if (strncmp(buf, "cpucycles selected persecond ", 29) == 0)
				hz = strtod(buf + 29, NULL);
			else if (strncmp(buf, "kem_", 4) == 0)
				done = mceliece_line(buf, hz, got);
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
		}
		if (len == sizeof(buf) - 1)
			len = 0;	/* an over-long line we do not need */
	}
	close(fd);
	kill(pid, SIGTERM);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!done)
		fprintf(stderr, "bench/kex: warning: %s did not report every McEliece line\n",
			opt.mceliece);
}

/* ---- raw KEM operations --------------------------------------------------- */

struct kem_bench {
	const struct kex_method *m;
	const struct kex_kem *kem;
	uint8_t *pk, *pk2, *ct, *ct2, *dk;
	struct secret *sk, *sk2;
	size_t dk_len;
	uint8_t ss[KEX_SECRET_LEN], ss_ref[KEX_SECRET_LEN];
	struct mlkem_key pub, priv;	/* ML-KEM: keys held in OpenSSL's form */
};

static void op_keygen(void *arg)
{
	struct kem_bench *b = arg;

	bench_check(b->kem->keypair(b->pk2, b->sk2->p), "keypair");
}

static void op_encap(void *arg)
{
	struct kem_bench *b = arg;

	bench_check(b->kem->encap(b->ct2, b->ss, b->pk, b->kem->pk_len), "encap");
}

static void op_decap(void *arg)
{
	struct kem_bench *b = arg;

	bench_check(b->kem->decap(b->ss, b->ct, b->kem->ct_len, b->sk->p, b->sk->len), "decap");
	if (memcmp(b->ss, b->ss_ref, sizeof(b->ss)) != 0)
		bench_die("%s: decap gave a different secret", b->m->name);
}

static void op_decap_dk(void *arg)
{
	struct kem_bench *b = arg;

	bench_check(b->kem->decap(b->ss, b->ct, b->kem->ct_len, b->dk, b->dk_len), "decap(dk)");
	if (memcmp(b->ss, b->ss_ref, sizeof(b->ss)) != 0)
		bench_die("%s: decap(dk) gave a different secret", b->m->name);
}

static void op_encap_held(void *arg)
{
	struct kem_bench *b = arg;

	bench_check(mlkem_key_encap(&b->pub, b->ct2, b->ss, NULL), "mlkem_key_encap");
}

static void op_decap_held(void *arg)
{
	struct kem_bench *b = arg;

	bench_check(mlkem_key_decap(&b->priv, b->ss, b->ct, b->kem->ct_len), "mlkem_key_decap");
	if (memcmp(b->ss, b->ss_ref, sizeof(b->ss)) != 0)
		bench_die("%s: held-key decap gave a different secret", b->m->name);
}

static void op_keyid(void *arg)
{
	struct kem_bench *b = arg;
	uint8_t id[32];

	bench_check(hash(HASH_SHA3_256, b->pk, b->kem->pk_len, id), "sha3-256");
}

static struct kem_bench *kem_bench_new(const struct kex_method *m)
{
	struct kem_bench *b = calloc(1, sizeof(*b));
	const struct kex_kem *kem = m->kem;

	if (!b || !(b->pk = malloc(kem->pk_len)) || !(b->pk2 = malloc(kem->pk_len)) ||
	    !(b->ct = malloc(kem->ct_len)) || !(b->ct2 = malloc(kem->ct_len)) ||
	    !(b->sk = secret_alloc(kem->sk_len)) || !(b->sk2 = secret_alloc(kem->sk_len)))
		bench_die("out of memory");
	b->m = m;
	b->kem = kem;
	bench_check(kem->keypair(b->pk, b->sk->p), "keypair");
	bench_check(kem->encap(b->ct, b->ss_ref, b->pk, kem->pk_len), "encap");
	return b;
}

/* ---- exchanges through the vtable ----------------------------------------- */

/* What every method may need from the caller: static keys, a PSK. */
struct env_keys {
	uint8_t *pk;
	uint8_t pk_id[32];	/* SHA3-256 of pk, computed once per key as a daemon does */
	struct secret *sk;
	struct secret *psk;
	struct kex_env ei, er;
};

static int bench_psk_lookup(void *arg, const char *id, struct secret **ret)
{
	const struct secret *psk = arg;

	if (strcmp(id, BENCH_PSK_ID) != 0)
		return -ENOKEY;
	*ret = secret_dup(psk->p, psk->len);
	return *ret ? 0 : -ENOMEM;
}

static struct env_keys *env_new(const struct kex_method *m)
{
	struct env_keys *e = calloc(1, sizeof(*e));

	if (!e || !(e->psk = secret_alloc(BENCH_PSK_LEN)))
		bench_die("out of memory");
	bench_check(crypto_random(e->psk->p, e->psk->len), "crypto_random");
	e->ei.psk_id = BENCH_PSK_ID;
	e->ei.psk_lookup = e->er.psk_lookup = bench_psk_lookup;
	e->ei.psk_arg = e->er.psk_arg = e->psk;
	if (m->family == KEX_FAMILY_CODE && m->kem) {
		/* Provisioning: the initiator's static key, pinned by the responder. */
		if (!(e->pk = malloc(m->kem->pk_len)) || !(e->sk = secret_alloc(m->kem->sk_len)))
			bench_die("out of memory");
		bench_check(m->kem->keypair(e->pk, e->sk->p), "static keypair");
		e->ei.static_sk = e->sk;
		e->ei.static_pk = e->pk;
		e->ei.static_pk_len = m->kem->pk_len;
		e->er.peer_static_pk = e->pk;
		e->er.peer_static_pk_len = m->kem->pk_len;
		bench_check(hash(HASH_SHA3_256, e->pk, m->kem->pk_len, e->pk_id), "key id");
		e->ei.static_pk_id = e->er.static_pk_id = e->pk_id;
	}
	return e;
}

struct xch {
	const struct kex_method *m;
	struct env_keys *env;
	void *ci, *cr;
	uint8_t m1[MSG_CAP], m2[MSG_CAP];
	size_t m1_len, m2_len;
	uint8_t ssi[KEX_SECRET_LEN], ssr[KEX_SECRET_LEN];
	double resp_cpu;
};

static void xch_initiator_start(struct xch *x)
{
	struct wbuf w = wbuf_init(x->m1, sizeof(x->m1));

	bench_check(x->m->init(x->ci, &x->env->ei, KEX_INITIATOR), "init(initiator)");
	bench_check(x->m->msg1(x->ci, &w), "msg1");
	x->m1_len = w.len;
}

static void xch_responder(struct xch *x)
{
	struct wbuf w = wbuf_init(x->m2, sizeof(x->m2));

	bench_check(x->m->init(x->cr, &x->env->er, KEX_RESPONDER), "init(responder)");
	bench_check(x->m->msg2(x->cr, rd_init(x->m1, x->m1_len), &w), "msg2");
	x->m2_len = w.len;
	bench_check(x->m->secret(x->cr, x->ssr), "secret(responder)");
	x->m->done(x->cr);
}

static void xch_initiator_end(struct xch *x)
{
	bench_check(x->m->finish(x->ci, rd_init(x->m2, x->m2_len)), "finish");
	bench_check(x->m->secret(x->ci, x->ssi), "secret(initiator)");
	x->m->done(x->ci);
	if (memcmp(x->ssi, x->ssr, sizeof(x->ssi)) != 0)
		bench_die("%s: the two sides derived different secrets", x->m->name);
}

static void op_exchange(void *arg)
{
	struct xch *x = arg;

	xch_initiator_start(x);
	xch_responder(x);
	xch_initiator_end(x);
}

static void op_exchange_split(void *arg)
{
	struct xch *x = arg;
	double t;

	xch_initiator_start(x);
	t = cpu_now();
	xch_responder(x);
	x->resp_cpu += cpu_now() - t;
	xch_initiator_end(x);
}

static struct xch *xch_new(const struct kex_method *m, struct env_keys *env)
{
	struct xch *x = calloc(1, sizeof(*x));

	if (!x || !(x->ci = malloc(m->ctx_size)) || !(x->cr = malloc(m->ctx_size)))
		bench_die("out of memory");
	if (m->msg1_max > MSG_CAP || m->msg2_max > MSG_CAP)
		bench_die("%s: messages larger than the bench buffers", m->name);
	x->m = m;
	x->env = env;
	return x;
}

/* ---- the four-factor suite with the combiner ------------------------------ */

struct suite {
	struct xch *x[SUITE_N];
	int n;
	uint16_t ids[SUITE_N];
	struct secret *si[SUITE_N], *sr[SUITE_N];	/* method secrets, per side */
	struct combiner_method cmi[SUITE_N], cmr[SUITE_N];
	struct combiner_input ini, res;
	uint8_t nonce_i[NONCE_LEN], nonce_r[NONCE_LEN];
	uint8_t key_i[KEY_LEN], key_r[KEY_LEN];
	double resp_cpu;
};

static void suite_inputs(struct suite *s)
{
	for (int k = 0; k < s->n; k++) {
		struct xch *x = s->x[k];

		s->cmi[k] = (struct combiner_method){
			.id = x->m->id, .secret = s->si[k], .expected_len = x->m->secret_len,
			.msg1 = CBUF(x->m1, x->m1_len), .msg2 = CBUF(x->m2, x->m2_len),
		};
		s->cmr[k] = s->cmi[k];
		s->cmr[k].secret = s->sr[k];
	}
}

static void suite_initiator_start(struct suite *s)
{
	bench_check(crypto_random_public(s->nonce_i, sizeof(s->nonce_i)), "nonce");
	for (int k = 0; k < s->n; k++)
		xch_initiator_start(s->x[k]);
}

static void suite_responder(struct suite *s)
{
	bench_check(crypto_random_public(s->nonce_r, sizeof(s->nonce_r)), "nonce");
	for (int k = 0; k < s->n; k++) {
		xch_responder(s->x[k]);
		memcpy(s->sr[k]->p, s->x[k]->ssr, KEX_SECRET_LEN);
		mfs_wipe(s->x[k]->ssr, KEX_SECRET_LEN);
	}
	suite_inputs(s);	/* message lengths are fixed, but take them as they come */
	bench_check(combiner_derive(&s->res, s->key_r, sizeof(s->key_r)), "combiner_derive(responder)");
}

static void suite_initiator_end(struct suite *s)
{
	for (int k = 0; k < s->n; k++) {
		struct xch *x = s->x[k];

		bench_check(x->m->finish(x->ci, rd_init(x->m2, x->m2_len)), "finish");
		bench_check(x->m->secret(x->ci, s->si[k]->p), "secret(initiator)");
		x->m->done(x->ci);
	}
	bench_check(combiner_derive(&s->ini, s->key_i, sizeof(s->key_i)), "combiner_derive(initiator)");
	if (memcmp(s->key_i, s->key_r, sizeof(s->key_i)) != 0)
		bench_die("suite: the two sides derived different keys");
}

static void op_suite(void *arg)
{
	struct suite *s = arg;

	suite_initiator_start(s);
	suite_responder(s);
	suite_initiator_end(s);
}

static void op_suite_split(void *arg)
{
	struct suite *s = arg;
	double t;

	suite_initiator_start(s);
	t = cpu_now();
	suite_responder(s);
	s->resp_cpu += cpu_now() - t;
	suite_initiator_end(s);
}

static void op_combiner(void *arg)
{
	struct suite *s = arg;

	bench_check(combiner_derive(&s->res, s->key_r, sizeof(s->key_r)), "combiner_derive");
}

static const char *const suite_names[SUITE_N] = {
	"mlkem768", "mceliece460896", "x25519", "psk",
};

static struct suite *suite_new(void)
{
	struct suite *s = calloc(1, sizeof(*s));

	if (!s)
		bench_die("out of memory");
	for (int k = 0; k < SUITE_N; k++) {
		const struct kex_method *m = kex_method_by_name(suite_names[k]);

		if (!m) {
			free(s);
			return NULL;
		}
		s->x[k] = xch_new(m, env_new(m));
		s->ids[k] = m->id;
		if (!(s->si[k] = secret_alloc(m->secret_len)) ||
		    !(s->sr[k] = secret_alloc(m->secret_len)))
			bench_die("out of memory");
	}
	s->n = SUITE_N;
	for (int side = 0; side < 2; side++) {
		struct combiner_input *in = side ? &s->res : &s->ini;

		combiner_input_init(in);
		in->version = 1;
		in->purpose = CBUF("bench/kex four-factor suite", 27);
		in->id_init = CBUF("office", 6);
		in->id_resp = CBUF("gpu-dc", 6);
		in->nonce_init = CBUF(s->nonce_i, sizeof(s->nonce_i));
		in->nonce_resp = CBUF(s->nonce_r, sizeof(s->nonce_r));
		in->suite = s->ids;
		in->n_suite = (size_t)s->n;
		in->methods = side ? s->cmr : s->cmi;
		in->n_methods = (size_t)s->n;
	}
	/* One exchange: checks it works and sizes the combiner's hash input. */
	op_suite(s);
	{
		struct combiner_encoding enc;

		bench_check(combiner_encode(&s->res, KEY_LEN, &enc), "combiner_encode");
		comb_bytes = enc.ctx_len + enc.ma_len + enc.mb_len;
		combiner_encoding_done(&enc);
	}
	return s;
}

/* ---- setup ----------------------------------------------------------------- */

static void add_plain(const char *label, op_fn fn, void *arg, struct row *row)
{
	struct item *it = item_new(label, run_plain);

	it->fn = fn;
	it->arg = arg;
	it->row = row;
}

static void add_split(const char *label, op_fn fn, void *arg, double *resp_cpu,
		      struct row *ini, struct row *res)
{
	struct item *it = item_new(label, run_split);

	it->fn = fn;
	it->arg = arg;
	it->resp_cpu = resp_cpu;
	it->row = ini;
	it->row2 = res;
}

/* Reference operations of one method: keygen, encap, decap (R_COUNT if none). */
struct method_refs {
	enum ref_key kg, enc, dec;
	const char *kg_l, *enc_l, *dec_l;
};

static struct method_refs refs_of(const struct kex_method *m)
{
	switch (m->id) {
	case KEX_ID_MLKEM768:
		return (struct method_refs){ R_MLKEM768_KG, R_MLKEM768_ENC, R_MLKEM768_DEC,
					     "ossl keygen", "ossl encaps", "ossl decaps" };
	case KEX_ID_MLKEM1024:
		return (struct method_refs){ R_MLKEM1024_KG, R_MLKEM1024_ENC, R_MLKEM1024_DEC,
					     "ossl keygen", "ossl encaps", "ossl decaps" };
	case KEX_ID_MCELIECE460896:
		return (struct method_refs){ R_CMCE460896_KG, R_CMCE460896_ENC, R_CMCE460896_DEC,
					     "mceliece-speed keypair", "mceliece-speed enc",
					     "mceliece-speed dec" };
	case KEX_ID_MCELIECE6688128:
		return (struct method_refs){ R_CMCE6688128_KG, R_CMCE6688128_ENC, R_CMCE6688128_DEC,
					     "mceliece-speed keypair", "mceliece-speed enc",
					     "mceliece-speed dec" };
	default:
		return (struct method_refs){ R_COUNT, R_COUNT, R_COUNT, NULL, NULL, NULL };
	}
}

/* The reference terms of one exchange of m: initiator and responder side. */
static void exchange_refs(const struct kex_method *m, struct row *ini, struct row *res)
{
	struct method_refs r = refs_of(m);

	switch (m->family) {
	case KEX_FAMILY_LATTICE:	/* initiator keygen + decaps, responder encaps */
		row_ref(ini, r.kg, 1);
		row_ref(ini, r.dec, 1);
		row_ref(res, r.enc, 1);
		break;
	case KEX_FAMILY_CODE:		/* static key: initiator dec, responder enc */
		row_ref(ini, r.dec, 1);
		row_ref(res, r.enc, 1);
		break;
	case KEX_FAMILY_CLASSICAL:	/* each side: keygen + derive ~ 2 scalar mults */
		row_ref(ini, R_X25519, 2);
		row_ref(res, R_X25519, 2);
		break;
	case KEX_FAMILY_PSK:		/* each side: HKDF = 2 HMAC */
		row_ref(ini, R_HMAC384, 2);
		row_ref(res, R_HMAC384, 2);
		break;
	default:
		break;
	}
}

/* side: 0 = both (the exchange), 1 = initiator, 2 = responder. */
static const char *exchange_ref_label(const struct kex_method *m, int side)
{
	static const char *const l[][3] = {
		[KEX_FAMILY_LATTICE] = { "ossl keygen+encaps+decaps", "ossl keygen+decaps",
					 "ossl encaps" },
		[KEX_FAMILY_CODE] = { "mceliece-speed enc+dec", "mceliece-speed dec",
				      "mceliece-speed enc" },
		[KEX_FAMILY_CLASSICAL] = { "4 x ossl x25519 derive", "2 x ossl x25519 derive",
					   "2 x ossl x25519 derive" },
		[KEX_FAMILY_PSK] = { "4 x ossl HMAC-SHA-384", "2 x ossl HMAC-SHA-384",
				     "2 x ossl HMAC-SHA-384" },
	};

	if ((size_t)m->family >= sizeof(l) / sizeof(l[0]) || !l[m->family][0])
		return NULL;
	return l[m->family][side];
}

/* PSK internals: what one side of the psk method does besides the lookup. */
static void op_psk_hkdf(void *arg)
{
	const struct secret *psk = arg;
	uint8_t out[KEX_SECRET_LEN];

	bench_check(hkdf(HASH_SHA384, (const uint8_t *)"mfsec psk v1", 12, psk->p, psk->len,
		   (const uint8_t *)BENCH_PSK_ID, strlen(BENCH_PSK_ID), out, sizeof(out)), "hkdf");
}

static void op_secret_dup(void *arg)
{
	const struct secret *psk = arg;
	struct secret *s = secret_dup(psk->p, psk->len);

	if (!s)
		bench_die("secret_dup: %s", strerror(errno));
	secret_free(s);
}

static bool wanted(const char *name)
{
	return !opt.only || strcmp(opt.only, name) == 0;
}

static void setup_method(const struct kex_method *m)
{
	struct method_refs r = refs_of(m);
	struct row *exch, *ini, *res;
	struct xch *x;

	if (m->kem) {
		struct kem_bench *b = kem_bench_new(m);
		bool code = m->family == KEX_FAMILY_CODE;
		bool dh = m->family == KEX_FAMILY_CLASSICAL;	/* X25519: ops in scalar mults */
		struct row *row;

		/* McEliece keygen is provisioning: reported, never part of an exchange. */
		row = row_new(m->name, code ? "keygen (prov.)" : "keygen",
			      dh ? "ossl x25519 derive" : r.kg_l);
		if (r.kg != R_COUNT || dh)
			row_ref(row, dh ? R_X25519 : r.kg, 1);
		add_plain(m->name, op_keygen, b, row);

		row = row_new(m->name, "encap", dh ? "2 x ossl x25519 derive" : r.enc_l);
		if (r.enc != R_COUNT || dh)
			row_ref(row, dh ? R_X25519 : r.enc, dh ? 2 : 1);
		add_plain(m->name, op_encap, b, row);

		row = row_new(m->name, "decap", dh ? "ossl x25519 derive" : r.dec_l);
		if (r.dec != R_COUNT || dh)
			row_ref(row, dh ? R_X25519 : r.dec, 1);
		add_plain(m->name, op_decap, b, row);

		if (m->family == KEX_FAMILY_LATTICE) {
			enum mlkem_alg alg = m->id == KEX_ID_MLKEM768 ? MLKEM_768 : MLKEM_1024;

			b->dk_len = mlkem_dk_len(alg);
			if (!(b->dk = malloc(b->dk_len)))
				bench_die("out of memory");
			bench_check(mlkem_expand(alg, b->sk->p, b->dk), "mlkem_expand");
			bench_check(mlkem_key_from_pk(&b->pub, alg, b->pk, m->kem->pk_len), "import ek");
			bench_check(mlkem_key_from_sk(&b->priv, alg, b->sk->p, b->sk->len), "import seed");

			row = row_new(m->name, "decap (dk)", r.dec_l);
			row_ref(row, r.dec, 1);
			add_plain(m->name, op_decap_dk, b, row);
			row = row_new(m->name, "encap (held key)", r.enc_l);
			row_ref(row, r.enc, 1);
			add_plain(m->name, op_encap_held, b, row);
			row = row_new(m->name, "decap (held key)", r.dec_l);
			row_ref(row, r.dec, 1);
			add_plain(m->name, op_decap_held, b, row);
		}
		if (m->id == KEX_ID_MCELIECE460896) {
			row = row_new(m->name, "key ID sha3(pk)", "ossl sha3-256 524160 B");
			row_ref(row, R_SHA3_PK, 1);
			add_plain(m->name, op_keyid, b, row);
		}
	}

	x = xch_new(m, env_new(m));
	exch = row_new(m->name, "exchange", exchange_ref_label(m, 0));
	ini = row_new(m->name, "  initiator", exchange_ref_label(m, 1));
	res = row_new(m->name, "  responder", exchange_ref_label(m, 2));
	exchange_refs(m, ini, res);
	row_refs(exch, ini);
	row_refs(exch, res);
	op_exchange(x);		/* fails loudly now rather than in the loop */
	add_plain(m->name, op_exchange, x, exch);
	add_split(m->name, op_exchange_split, x, &x->resp_cpu, ini, res);
	if (m->family == KEX_FAMILY_PSK) {
		/* Where a side's time goes: the HKDF, and the lookup's secret_dup + free. */
		struct row *row = row_new(m->name, "  HKDF-SHA-384", "2 x ossl HMAC-SHA-384");

		row_ref(row, R_HMAC384, 2);
		add_plain(m->name, op_psk_hkdf, x->env->psk, row);
		row = row_new(m->name, "  secret_dup+free", NULL);
		add_plain(m->name, op_secret_dup, x->env->psk, row);
	}
}

static void setup_suite(void)
{
	struct suite *s = suite_new();
	struct row *exch, *ini, *res, *comb;

	if (!s) {
		fprintf(stderr, "bench/kex: the four-factor suite needs %s, %s, %s and %s; skipped\n",
			suite_names[0], suite_names[1], suite_names[2], suite_names[3]);
		return;
	}
	comb = row_new("combiner", "CatKDF derive", "ossl sha384 of N B");
	row_ref(comb, R_SHA384_COMB, 1);
	exch = row_new("suite4", "exchange", "sum of the parts' refs");
	ini = row_new("suite4", "  initiator", "sum of the parts' refs");
	res = row_new("suite4", "  responder", "sum of the parts' refs");
	for (int k = 0; k < s->n; k++)
		exchange_refs(s->x[k]->m, ini, res);
	row_ref(ini, R_SHA384_COMB, 1);
	row_ref(res, R_SHA384_COMB, 1);
	row_refs(exch, ini);
	row_refs(exch, res);
	add_plain("suite4", op_suite, s, exch);
	add_split("suite4", op_suite_split, s, &s->resp_cpu, ini, res);
	add_plain("combiner", op_combiner, s, comb);
}

static void setup_refs(void)
{
	const struct kex_method *const *all;
	size_t n = kex_methods(&all);
	bool mlkem768 = false, mlkem1024 = false, x25519 = false, psk = false, cmce = false;

	snprintf(secs_arg, sizeof(secs_arg), "%d", opt.seconds < 1.5 ? 1 : (int)(opt.seconds + 0.5));
	snprintf(comb_bytes_arg, sizeof(comb_bytes_arg), "%zu", comb_bytes);
	for (size_t i = 0; i < n; i++) {
		if (!all[i]->available() || !wanted(all[i]->name))
			continue;
		mlkem768 |= all[i]->id == KEX_ID_MLKEM768;
		mlkem1024 |= all[i]->id == KEX_ID_MLKEM1024;
		x25519 |= all[i]->id == KEX_ID_X25519;
		psk |= all[i]->id == KEX_ID_PSK;
		cmce |= all[i]->id == KEX_ID_MCELIECE460896;
	}
	if (mlkem768 || comb_bytes)
		add_ref_item("openssl ML-KEM-768",
			     argv_of(opt.openssl, "speed", "-mr", "-seconds", secs_arg, "ML-KEM-768",
				     NULL), parse_mlkem768);
	if (mlkem1024)
		add_ref_item("openssl ML-KEM-1024",
			     argv_of(opt.openssl, "speed", "-mr", "-seconds", secs_arg, "ML-KEM-1024",
				     NULL), parse_mlkem1024);
	if (x25519 || comb_bytes)
		add_ref_item("openssl ecdhx25519",
			     argv_of(opt.openssl, "speed", "-mr", "-seconds", secs_arg, "ecdhx25519",
				     NULL), parse_x25519);
	if (psk || comb_bytes)
		add_ref_item("openssl hmac",
			     argv_of(opt.openssl, "speed", "-mr", "-seconds", secs_arg, "-hmac",
				     "sha384", "-bytes", "32", NULL), parse_hmac);
	if (comb_bytes)
		add_ref_item("openssl sha384",
			     argv_of(opt.openssl, "speed", "-mr", "-seconds", secs_arg, "-evp",
				     "sha384", "-bytes", comb_bytes_arg, NULL), parse_sha384);
	if (cmce)
		add_ref_item("openssl sha3-256",
			     argv_of(opt.openssl, "speed", "-mr", "-seconds", secs_arg, "-evp",
				     "sha3-256", "-bytes", "524160", NULL), parse_sha3);
}

/* ---- output ---------------------------------------------------------------- */

static void fmt_ops(char *out, size_t len, double v)
{
	if (v <= 0)
		snprintf(out, len, "-");
	else if (v >= 100)
		snprintf(out, len, "%.0f", v);
	else if (v >= 10)
		snprintf(out, len, "%.1f", v);
	else
		snprintf(out, len, "%.2f", v);
}

static void fmt_time(char *out, size_t len, double ops)
{
	double us = ops > 0 ? 1e6 / ops : 0;

	if (ops <= 0)
		snprintf(out, len, "-");
	else if (us >= 1000)
		snprintf(out, len, "%.2f ms", us / 1000);
	else if (us >= 10)
		snprintf(out, len, "%.1f us", us);
	else
		snprintf(out, len, "%.2f us", us);
}

static void read_cpu_model(char *out, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(out, len, "?");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && c) {
			c++;
			while (*c == ' ' || *c == '\t')
				c++;
			c[strcspn(c, "\n")] = '\0';
			snprintf(out, len, "%s", c);
			break;
		}
	}
	fclose(f);
}

static void print_header(void)
{
	char cpu[256], date[64];
	time_t now = time(NULL);
	struct tm tm;
	const char *p = opt.markdown ? "- " : "# ";

	read_cpu_model(cpu, sizeof(cpu));
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M %Z", localtime_r(&now, &tm));
	printf("%sdate: %s\n", p, date);
	printf("%smachine: %ld CPUs (nproc), %s\n", p, sysconf(_SC_NPROCESSORS_ONLN), cpu);
	printf("%sOpenSSL: %s; libmceliece: %s\n", p, OpenSSL_version(OPENSSL_VERSION),
	       mce_version);
	printf("%sbench: --seconds %g --reps %d (CPU time per rep; openssl speed -seconds %s)%s\n",
	       p, opt.seconds, opt.reps, secs_arg[0] ? secs_arg : "-",
	       opt.refs ? "" : "; references off");
	if (comb_bytes)
		printf("%scombiner hash input N = %zu bytes (context + MA + MB of the suite)\n",
		       p, comb_bytes);
	printf("\n");
}

static void print_table(void)
{
	static const char *const head[] = {
		"method", "op", "ops/s", "min..max", "cpu/op", "ref ops/s", "ratio", "reference",
	};
	enum { NCOL = 8 };
	char cell[MAX_ROWS][NCOL][72];
	size_t w[NCOL];

	for (int c = 0; c < NCOL; c++)
		w[c] = strlen(head[c]);
	for (int i = 0; i < n_rows; i++) {
		const struct row *r = &rows[i];
		double med = bench_median(r->s, r->n), lo = r->s[0], hi = r->s[0], ref = row_ref_ops(r);
		char a[24], b[24];

		for (int k = 1; k < r->n; k++) {
			lo = r->s[k] < lo ? r->s[k] : lo;
			hi = r->s[k] > hi ? r->s[k] : hi;
		}
		snprintf(cell[i][0], sizeof(cell[i][0]), "%.23s", r->method);
		snprintf(cell[i][1], sizeof(cell[i][1]), "%.23s", r->op);
		fmt_ops(cell[i][2], sizeof(cell[i][2]), med);
		fmt_ops(a, sizeof(a), lo);
		fmt_ops(b, sizeof(b), hi);
		snprintf(cell[i][3], sizeof(cell[i][3]), "%s..%s", a, b);
		fmt_time(cell[i][4], sizeof(cell[i][4]), med);
		fmt_ops(cell[i][5], sizeof(cell[i][5]), ref);
		if (ref > 0 && med > 0)
			snprintf(cell[i][6], sizeof(cell[i][6]), "%.2f", med / ref);
		else
			snprintf(cell[i][6], sizeof(cell[i][6]), "-");
		snprintf(cell[i][7], sizeof(cell[i][7]), "%.63s", ref > 0 ? r->ref_label : "-");
		for (int c = 0; c < NCOL; c++)
			if (strlen(cell[i][c]) > w[c])
				w[c] = strlen(cell[i][c]);
	}
	if (opt.markdown) {
		printf("|");
		for (int c = 0; c < NCOL; c++)
			printf(" %s |", head[c]);
		printf("\n|");
		for (int c = 0; c < NCOL; c++)
			printf(c >= 2 && c <= 6 ? " ---: |" : " --- |");
		printf("\n");
		for (int i = 0; i < n_rows; i++) {
			printf("|");
			for (int c = 0; c < NCOL; c++) {
				const char *v = cell[i][c];

				/* keep the sub-row indent visible in Markdown */
				if (c == 1 && v[0] == ' ')
					printf(" &nbsp;&nbsp;%s |", v + 2);
				else
					printf(" %s |", v);
			}
			printf("\n");
		}
		return;
	}
	for (int c = 0; c < NCOL; c++)
		printf(c >= 2 && c <= 6 ? "%*s  " : "%-*s  ", (int)w[c], head[c]);
	printf("\n");
	for (int i = 0; i < n_rows; i++) {
		for (int c = 0; c < NCOL; c++)
			printf(c >= 2 && c <= 6 ? "%*s  " : "%-*s  ", (int)w[c], cell[i][c]);
		printf("\n");
	}
}

/* The references as measured: median and spread of each tool run. */
static void print_refs(void)
{
	bool any = false;

	for (int k = 0; k < R_COUNT; k++) {
		double lo, hi;
		char a[24], b[24], c[24];

		if (!refs[k].n)
			continue;
		if (!any)
			printf(opt.markdown ? "\nReferences measured in this run (ops/s, median of the runs, min..max):\n\n"
					    : "\n# references (ops/s: median, min..max)\n");
		any = true;
		lo = hi = refs[k].s[0];
		for (int i = 1; i < refs[k].n; i++) {
			lo = refs[k].s[i] < lo ? refs[k].s[i] : lo;
			hi = refs[k].s[i] > hi ? refs[k].s[i] : hi;
		}
		fmt_ops(a, sizeof(a), ref_median((enum ref_key)k));
		fmt_ops(b, sizeof(b), lo);
		fmt_ops(c, sizeof(c), hi);
		printf(opt.markdown ? "- %s: %s (%s..%s, %d run%s)\n" : "#   %-44s %10s  (%s..%s, %d run%s)\n",
		       ref_names[k], a, b, c, refs[k].n, refs[k].n == 1 ? "" : "s");
	}
}

/* ---- main ------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench/kex [options]\n"
		"  --seconds S          CPU seconds per measurement (default 0.5)\n"
		"  --reps N             repetitions; the median is shown (default 5, max %d)\n"
		"  --markdown           print the table as Markdown\n"
		"  --method NAME        only this method (the suite needs all four of its methods)\n"
		"  --no-refs            skip the reference tools\n"
		"  --no-mceliece-speed  skip mceliece-speed (reading it takes 2-5 minutes)\n"
		"  --openssl PATH       openssl binary (default: openssl from PATH)\n"
		"  --mceliece-speed PATH  (default: mceliece-speed from PATH)\n", MAX_REPS);
}

static double parse_double(const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 3600)
		bench_die("bad %s: %s", what, s);
	return v;
}

int main(int argc, char **argv)
{
	bench_set_name("bench/kex");
	enum { O_SECONDS = 256, O_REPS, O_MD, O_METHOD, O_NOREFS, O_NOMCS, O_OSSL, O_MCS };
	static const struct option lo[] = {
		{ "seconds", required_argument, NULL, O_SECONDS },
		{ "reps", required_argument, NULL, O_REPS },
		{ "markdown", no_argument, NULL, O_MD },
		{ "method", required_argument, NULL, O_METHOD },
		{ "no-refs", no_argument, NULL, O_NOREFS },
		{ "no-mceliece-speed", no_argument, NULL, O_NOMCS },
		{ "openssl", required_argument, NULL, O_OSSL },
		{ "mceliece-speed", required_argument, NULL, O_MCS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct kex_method *const *all;
	size_t n;
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_SECONDS: opt.seconds = parse_double(optarg, "--seconds"); break;
		case O_REPS:
			opt.reps = (int)parse_double(optarg, "--reps");
			if (opt.reps < 1 || opt.reps > MAX_REPS)
				bench_die("--reps must be 1..%d", MAX_REPS);
			break;
		case O_MD: opt.markdown = true; break;
		case O_METHOD: opt.only = optarg; break;
		case O_NOREFS: opt.refs = false; break;
		case O_NOMCS: opt.mceliece_speed = false; break;
		case O_OSSL: opt.openssl = optarg; break;
		case O_MCS: opt.mceliece = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	fprintf(stderr, "bench/kex: setting up (McEliece keys are generated once)\n");
	n = kex_methods(&all);
	for (size_t i = 0; i < n; i++) {
		if (!all[i]->available() || !wanted(all[i]->name))
			continue;
		/* a QKD key comes from a KME over HTTPS: bench/qkd measures that path */
		if (all[i]->family == KEX_FAMILY_QKD) {
			fprintf(stderr, "bench/kex: %s left out (needs a KME; see bench/qkd)\n",
				all[i]->name);
			continue;
		}
		setup_method(all[i]);
	}
	if (!opt.only)
		setup_suite();
	if (opt.refs)
		setup_refs();

	if (opt.refs && opt.mceliece_speed && (wanted("mceliece460896") || wanted("mceliece6688128")) &&
	    kex_method_by_name("mceliece460896")) {
		fprintf(stderr, "bench/kex: running %s (2-5 minutes until it reaches our parameter sets; "
			"--no-mceliece-speed skips it)\n", opt.mceliece);
		run_mceliece_speed();
	}
	for (int rep = 0; rep < opt.reps; rep++) {
		fprintf(stderr, "bench/kex: rep %d/%d:", rep + 1, opt.reps);
		for (int i = 0; i < n_items; i++) {
			if (i == 0 || strcmp(items[i].label, items[i - 1].label) != 0)
				fprintf(stderr, " %s", items[i].label);
			items[i].run(&items[i]);
		}
		fprintf(stderr, "\n");
	}
	print_header();
	print_table();
	print_refs();
	return 0;
}
