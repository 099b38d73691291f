/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/exchange: full Inter-MFS CF key exchanges per second, end to end,
 * as two daemons would run them on this machine.
 *
 * Two parties, each with its own identity (ML-DSA-65 certificate, static
 * McEliece keys of both parameter sets, generated in a temporary
 * directory), its own key store (real SQLite: WAL, synchronous=FULL, as
 * mfsd opens it) and its own thread, talk over loopback TCP (TCP_NODELAY,
 * as mfsd sets it) through the real TLS 1.3 channel (tls.h: X25519MLKEM768,
 * ML-DSA-65 mutual authentication, pinned). Inside it they exchange the
 * daemon's envelopes (u8 kind ‖ u32 xid ‖ body, cf.h).
 *
 * The stored rows (persistent, persistent with D in flight, new-tls) run
 * the real control engine on both sides: cf_new() with one peer and D
 * classes, cf_link_up() with the channel's TLS exporter, then the daemon's
 * loop (src/daemon/mfsd.c conn_event): cf_tick(), write cf_link_output(),
 * wait in poll(), read until the socket would block with each read going to
 * cf_link_feed() and its answers written, then cf_link_commit() (the group
 * commit) and its COMMITs.
 * The initiator asks for the next exchange of a class (cf_rekey) as soon
 * as the class is idle, so exchanges run back to back; everything else
 * (HELD at link-up, pool depths, group commit of the exchanges finished
 * in one turn, COMMIT after the fsync, expiry once a second) is
 * cf.c's own code. An exchange counts when the initiator stored it (after
 * COMMIT). The D classes are chosen so that the same party is the elected
 * initiator of all of them. Pools: pool_high = 4 x --keys, so an exchange
 * asks for --keys keys per direction (64 at most, HS_KEYS_MAX).
 *
 * The no-store rows run the hs_* engine directly (no cf, no store): the
 * handshake and the channel alone.
 *
 * Modes (rows):
 *   persistent          one TLS connection, exchanges back to back, one in
 *                       flight at a time (one class, as one cf_class runs)
 *   persistent dD       the same with D exchanges in flight on the channel
 *                       (--depth; a daemon runs one per class and peer)
 *   persistent no-store no store_put: the handshake and channel alone (also
 *                       with D in flight)
 *   new-tls             a new TCP + TLS connection per exchange (full
 *                       handshake, ML-DSA-65 both ways), closed after COMMIT
 *   tls-only            (one row) connection + TLS handshake + exporter +
 *                       close, no exchange: the TLS share of new-tls
 *
 * --async-commit stores on a writer thread (cf/commit.h) so that the fsync
 * does not stop the event loop; mfsd does not do that (yet).
 * --flush-answers makes the stored rows write after every answer of the
 * engine instead of once per read (more overlap, more writes and fsyncs). The no-store rows handle every whole envelope a read brought,
 * then write all the answers at once; --flush-each writes after every
 * envelope there.
 *
 * Measures: exchanges/s = completed exchanges (initiator stored the keys
 * after COMMIT) / wall time with both threads running; CPU per exchange =
 * process CPU time (CLOCK_PROCESS_CPUTIME_ID, both threads, user + system)
 * / exchanges. Per side, each thread's CPU time (CLOCK_THREAD_CPUTIME_ID)
 * is split into hs (hs_init/start/recv/done, PSK file read included),
 * store (store_put, store_pool_depth, store_expire, store_exchanges,
 * store_key_info, with their wall time: fsync), tls (connect/accept,
 * handshake, exporter, shutdown) and io (the rest: TLS record read/write,
 * cf's envelopes and scheduling). The calls are timed by link-time
 * wrappers (-Wl,--wrap) around the real functions, so cf.c runs unchanged;
 * two clock reads per wrapped call are included (a thread-CPU read is a
 * system call, ~0.5 us). puts/exch: store transactions (fsyncs) per
 * exchange, both sides. Each
 * measurement runs --seconds of wall time on a fresh pair of stores after
 * a short unrecorded warm-up per row, --reps times; the table gives the
 * median and min..max of the reps.
 *
 * References (same run, interleaved rep by rep; ratio = ours / reference
 * in operations per CPU second, 1.0 = as fast as the sum of the tools):
 *   openssl speed -mr -seconds 1 ML-KEM-768 / ML-KEM-1024 / X25519MLKEM768
 *       "+F9:<idx>:<keygen/s>:<encaps/s>:<decaps/s>"
 *   openssl speed -mr -seconds 1 ML-DSA-65
 *       "+F10:<idx>:<keygen/s>:<sign/s>:<verify/s>"
 * persistent rows: ML-KEM keygen + encaps + decaps of the set's ML-KEM;
 * new-tls: that + the TLS handshake's X25519MLKEM768 keygen + encaps +
 * decaps + 2 ML-DSA-65 signatures + 2 verifications; tls-only: the TLS part.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "common.h"

#include "base/buf.h"
#include "base/log.h"
#include "cf/cf.h"
#include "cf/commit.h"
#include "base/secret.h"
#include "crypto/rng.h"
#include "kex/kex.h"
#include "kex/psk_file.h"
#include "proto/handshake.h"
#include "proto/identity.h"
#include "proto/msg.h"
#include "proto/policy.h"
#include "proto/tls.h"
#include "store/store.h"

#define MAX_REPS BENCH_MAX_REPS
#define MAX_ROWS 32
#define MAX_DEPTH 16		/* = CF_MAX_RESPONDER */
#define CLASS "bench"
#define PSK_ID "bench-link"
#define ENV_HDR 5		/* u8 kind ‖ u32 xid, as cf.h */
#define ENV_PROTO 1
#define ENV_COMMIT 2
#define ENV_STOP 0x7f		/* bench only: the initiator is done */
#define XID_SENDER 0x80000000U
#define INBUF (2 * (ENV_HDR + MSG_FRAME_MAX))
#define OUTBUF (MAX_DEPTH * 2 * (HS_OUT_MAX + 2 * ENV_HDR) + 64)
#define WARMUP_S 0.3

static struct {
	double seconds;
	int reps;
	unsigned keys;
	unsigned depth;
	bool markdown;
	bool refs;
	bool flush_each;
	const char *log_level;
	bool flush_answers;
	bool async_commit;
	const char *only_set;
	const char *only_mode;
	const char *openssl;
	const char *dir;
} opt = {
	.seconds = 1.5,
	.reps = 5,
	.keys = POLICY_DEFAULT_POOL_HIGH,
	.depth = CF_MAX_CLASSES,
	.refs = true,
	.openssl = "openssl",
	.log_level = "notice",
};

static double wall_now(void) { return bench_clock(CLOCK_MONOTONIC); }
static double thread_cpu(void) { return bench_clock(CLOCK_THREAD_CPUTIME_ID); }
static double process_cpu(void) { return bench_clock(CLOCK_PROCESS_CPUTIME_ID); }

/* ---- method sets, modes ----------------------------------------------------- */

struct mset {
	const char *name;
	const char *label;
	uint16_t ids[4];
	size_t n;
	int mlkem;		/* 768 or 1024: the reference */
};

static const struct mset sets[] = {
	{ "four-factor", "mlkem768+mceliece460896+psk",
	  { KEX_ID_MLKEM768, KEX_ID_MCELIECE460896, KEX_ID_PSK }, 3, 768 },
	{ "mlkem768", "mlkem768", { KEX_ID_MLKEM768 }, 1, 768 },
	{ "mlkem768+psk", "mlkem768+psk", { KEX_ID_MLKEM768, KEX_ID_PSK }, 2, 768 },
	{ "cat5", "mlkem1024+mceliece6688128+psk",
	  { KEX_ID_MLKEM1024, KEX_ID_MCELIECE6688128, KEX_ID_PSK }, 3, 1024 },
};
#define N_SETS (sizeof(sets) / sizeof(sets[0]))

enum mode {
	M_PERSIST,		/* depth 1 */
	M_PERSIST_DEPTH,	/* depth opt.depth */
	M_PERSIST_NOSTORE,	/* depth 1, no store_put */
	M_PERSIST_NOSTORE_DEPTH,	/* depth opt.depth, no store_put */
	M_NEWTLS,
	M_TLSONLY,
};

static const char *const mode_names[] = {
	[M_PERSIST] = "persistent",
	[M_PERSIST_DEPTH] = "persistent-depth",
	[M_PERSIST_NOSTORE] = "persistent-no-store",
	[M_PERSIST_NOSTORE_DEPTH] = "persistent-no-store-depth",
	[M_NEWTLS] = "new-tls",
	[M_TLSONLY] = "tls-only",
};

/* ---- the two parties -------------------------------------------------------- */

enum { PH_HS, PH_STORE, PH_TLS, PH_N };

struct side_stats {
	double cpu[PH_N];	/* thread CPU per phase */
	double store_wall;
	double cpu_total;	/* thread CPU of the whole run */
	uint64_t puts;		/* store_put calls (transactions, fsyncs) */
};

struct slot {
	bool busy;
	bool have_res;
	uint32_t xid;
	struct hs hs;
	struct hs_result res;
	uint16_t revoked[1];
};

struct party {
	const char *name;
	const char *peer_name;
	bool initiator;
	struct identity *idn;
	const uint8_t *peer_pin;
	struct tls_ctx *ctx;
	struct hs_static_key skeys[2];
	size_t n_skeys;
	struct class_policy pol;
	char db[PATH_MAX];
	struct store *st;
	/* per connection */
	int fd;
	struct tls_conn *tls;
	uint8_t exporter[TLS_EXPORTER_LEN];
	uint8_t in[INBUF];
	size_t in_len;
	uint8_t out[OUTBUF];
	size_t out_len;
	/* exchanges */
	struct slot slots[MAX_DEPTH];
	uint32_t next_xid;
	bool stop_seen;
	int64_t now;
	struct side_stats st_stats;
	/* the control engine (stored rows) */
	struct cf *cf;
	struct cf_peer *cp;
	struct cf_committer *cm;	/* the group commit's writer thread */
	char revoked[PATH_MAX];
	uint64_t puts;		/* store_put transactions of the last measurement */
};

/* One measurement. */
struct run {
	enum mode mode;
	const struct mset *set;
	unsigned depth;
	bool store;
	double seconds;
	struct party *pi, *pr;
	pthread_barrier_t bar;
	int listen_fd;
	struct sockaddr_in addr;
	atomic_bool stop;
	/* results */
	uint64_t n;
	double wall, cpu;
};

static char tmpdir[PATH_MAX - 128];
static char class_names[MAX_DEPTH][16];	/* the initiator party is elected for each */
static char pskdir[PATH_MAX];
static struct secret *kek;

static void ph_add(struct party *p, int ph, double t0)
{
	p->st_stats.cpu[ph] += thread_cpu() - t0;
}

/*
 * Link-time wrappers (bench/meson.build): the real hs_* and store_*
 * functions, timed into the calling thread's party. Outside a measurement
 * (cur == NULL) they only pass through.
 */
static _Thread_local struct party *cur;

#define TIMED(ph, call)                                                   \
	do {                                                              \
		double t0_ = cur ? thread_cpu() : 0, w0_ = cur ? wall_now() : 0; \
		r = call;                                                 \
		if (cur) {                                                \
			cur->st_stats.cpu[ph] += thread_cpu() - t0_;      \
			if (ph == PH_STORE)                               \
				cur->st_stats.store_wall += wall_now() - w0_; \
		}                                                         \
	} while (0)

int __real_hs_init(struct hs *hs, const struct hs_config *cfg);
int __real_hs_start(struct hs *hs, struct wbuf *out);
int __real_hs_recv(struct hs *hs, const uint8_t *msg, size_t len, struct wbuf *out);
void __real_hs_done(struct hs *hs);
int __real_store_put(struct store *st, const struct store_pool_in *in, size_t n, int64_t now);
int __real_store_pool_depth(struct store *st, const char *peer, const char *class_name,
			    enum store_direction dir, uint64_t *ret);
int __real_store_expire(struct store *st, int64_t now);
int __real_store_exchanges(struct store *st, const char *peer, const char *class_name, int64_t now,
			   store_exchange_cb cb, void *arg);
int __real_store_key_info(struct store *st, const struct store_key_id *id,
			  struct store_key_meta *ret);
int __wrap_hs_init(struct hs *hs, const struct hs_config *cfg);
int __wrap_hs_start(struct hs *hs, struct wbuf *out);
int __wrap_hs_recv(struct hs *hs, const uint8_t *msg, size_t len, struct wbuf *out);
void __wrap_hs_done(struct hs *hs);
int __wrap_store_put(struct store *st, const struct store_pool_in *in, size_t n, int64_t now);
int __wrap_store_pool_depth(struct store *st, const char *peer, const char *class_name,
			    enum store_direction dir, uint64_t *ret);
int __wrap_store_expire(struct store *st, int64_t now);
int __wrap_store_exchanges(struct store *st, const char *peer, const char *class_name, int64_t now,
			   store_exchange_cb cb, void *arg);
int __wrap_store_key_info(struct store *st, const struct store_key_id *id,
			  struct store_key_meta *ret);

int __wrap_hs_init(struct hs *hs, const struct hs_config *cfg)
{
	int r;

	TIMED(PH_HS, __real_hs_init(hs, cfg));
	return r;
}

int __wrap_hs_start(struct hs *hs, struct wbuf *out)
{
	int r;

	TIMED(PH_HS, __real_hs_start(hs, out));
	return r;
}

int __wrap_hs_recv(struct hs *hs, const uint8_t *msg, size_t len, struct wbuf *out)
{
	int r;

	TIMED(PH_HS, __real_hs_recv(hs, msg, len, out));
	return r;
}

void __wrap_hs_done(struct hs *hs)
{
	int r;

	TIMED(PH_HS, (__real_hs_done(hs), 0));
	(void)r;
}

/* store_put() on a writer thread (commit.c): no party of its own, both summed here. */
static pthread_mutex_t writer_lock = PTHREAD_MUTEX_INITIALIZER;
static struct side_stats writer_stats;

int __wrap_store_put(struct store *st, const struct store_pool_in *in, size_t n, int64_t now)
{
	double t0, w0;
	int r;

	if (cur) {
		TIMED(PH_STORE, __real_store_put(st, in, n, now));
		cur->st_stats.puts++;
		return r;
	}
	t0 = thread_cpu();
	w0 = wall_now();
	r = __real_store_put(st, in, n, now);
	pthread_mutex_lock(&writer_lock);
	writer_stats.cpu[PH_STORE] += thread_cpu() - t0;
	writer_stats.store_wall += wall_now() - w0;
	writer_stats.puts++;
	pthread_mutex_unlock(&writer_lock);
	return r;
}

int __wrap_store_pool_depth(struct store *st, const char *peer, const char *class_name,
			    enum store_direction dir, uint64_t *ret)
{
	int r;

	TIMED(PH_STORE, __real_store_pool_depth(st, peer, class_name, dir, ret));
	return r;
}

int __wrap_store_expire(struct store *st, int64_t now)
{
	int r;

	TIMED(PH_STORE, __real_store_expire(st, now));
	return r;
}

int __wrap_store_exchanges(struct store *st, const char *peer, const char *class_name, int64_t now,
			   store_exchange_cb cb, void *arg)
{
	int r;

	TIMED(PH_STORE, __real_store_exchanges(st, peer, class_name, now, cb, arg));
	return r;
}

int __wrap_store_key_info(struct store *st, const struct store_key_id *id,
			  struct store_key_meta *ret)
{
	int r;

	TIMED(PH_STORE, __real_store_key_info(st, id, ret));
	return r;
}

static void env_put(struct party *p, uint8_t kind, uint32_t xid, const uint8_t *body, size_t len)
{
	if (p->out_len + ENV_HDR + len > sizeof(p->out))
		bench_die("%s: output buffer full", p->name);
	p->out[p->out_len++] = kind;
	p->out[p->out_len++] = (uint8_t)(xid >> 24);
	p->out[p->out_len++] = (uint8_t)(xid >> 16);
	p->out[p->out_len++] = (uint8_t)(xid >> 8);
	p->out[p->out_len++] = (uint8_t)xid;
	memcpy(p->out + p->out_len, body, len);
	p->out_len += len;
}

/* Every frame of buf as its own PROTO envelope (cf.c send_frames). */
static void frames_put(struct party *p, uint32_t wire_xid, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		size_t fl;

		if (msg_frame_len(buf, len, &fl) < 0 || fl > len)
			bench_die("%s: bad frame from hs", p->name);
		env_put(p, ENV_PROTO, wire_xid, buf, fl);
		buf += fl;
		len -= fl;
	}
}

static void flush(struct party *p)
{
	if (!p->out_len)
		return;
	ssize_t w = tls_conn_write(p->tls, p->out, p->out_len);

	if (w != (ssize_t)p->out_len)
		bench_die("%s: tls write: %zd %s", p->name, w, tls_conn_error(p->tls));
	p->out_len = 0;
}

static void hs_config_common(struct party *p, struct slot *s, struct hs_config *hc)
{
	memset(hc, 0, sizeof(*hc));
	hc->my_id = p->name;
	hc->peer_id = p->peer_name;
	hc->revoked = s->revoked;
	hc->n_revoked = 0;
	hc->static_keys = p->skeys;
	hc->n_static_keys = p->n_skeys;
	hc->psk_lookup = psk_dir_lookup;
	hc->psk_arg = pskdir;
	hc->tls_exporter = p->exporter;
	hc->tls_exporter_len = sizeof(p->exporter);
}

static void slot_release(struct slot *s)
{
	hs_result_done(&s->res);
	hs_done(&s->hs);
	s->busy = s->have_res = false;
}

/* Initiator: start one exchange in slot s. */
static void start_one(struct party *p, struct slot *s, unsigned n_keys)
{
	uint8_t buf[HS_OUT_MAX];
	struct wbuf w = wbuf_init(buf, sizeof(buf));
	struct hs_config hc;
	int r;

	memset(s, 0, sizeof(*s));
	s->busy = true;
	s->xid = p->next_xid++ & ~XID_SENDER;
	hs_config_common(p, s, &hc);
	hc.role = HS_INITIATOR;
	hc.policy = &p->pol;
	for (size_t i = 0; i < p->pol.n_required; i++)
		if (p->pol.required[i] == KEX_ID_PSK)
			hc.psk_id = PSK_ID;
	hc.n_keys = (uint16_t)n_keys;
	if ((r = hs_init(&s->hs, &hc)) < 0 || (r = hs_start(&s->hs, &w)) < 0)
		bench_die("initiator: hs start: %d %s", r, hs_abort_reason(&s->hs) ? hs_abort_reason(&s->hs) : "");
	frames_put(p, s->xid | XID_SENDER, buf, w.len);
}

static struct slot *slot_find(struct party *p, uint32_t xid, bool create)
{
	struct slot *free_slot = NULL;

	for (size_t i = 0; i < MAX_DEPTH; i++) {
		if (p->slots[i].busy && p->slots[i].xid == xid)
			return &p->slots[i];
		if (!p->slots[i].busy && !free_slot)
			free_slot = &p->slots[i];
	}
	return create ? free_slot : NULL;
}

/*
 * No-store rows: handle one envelope with the hs_* engine directly.
 * Returns 1 when the initiator completed an exchange (COMMIT), else 0.
 */
static int on_env(struct party *p, uint8_t kind, uint32_t xid, const uint8_t *f, size_t len)
{
	uint8_t buf[HS_OUT_MAX];
	struct wbuf w = wbuf_init(buf, sizeof(buf));
	struct slot *s;
	int r;

	if (kind == ENV_STOP) {
		p->stop_seen = true;
		return 0;
	}
	if (p->initiator) {
		if (!(s = slot_find(p, xid & ~XID_SENDER, false)))
			bench_die("initiator: unknown exchange %u", xid);
		if (kind == ENV_COMMIT) {
			if (!s->have_res)
				bench_die("initiator: COMMIT before the keys");
			slot_release(s);
					return 1;
		}
		r = hs_recv(&s->hs, f, len, &w);
		if (r == HS_DONE && (r = hs_result(&s->hs, &s->res)) == 0) {
			s->have_res = true;
			r = HS_DONE;
		}
			if (r < 0)
			bench_die("initiator: exchange failed: %d %s", r, hs_abort_reason(&s->hs));
		frames_put(p, s->xid | XID_SENDER, buf, w.len);
		return 0;
	}
	/* responder */
	if (kind != ENV_PROTO || !(xid & XID_SENDER))
		bench_die("responder: unexpected envelope %u", kind);
	xid &= ~XID_SENDER;
	if (!(s = slot_find(p, xid, false))) {
		struct hs_config hc;

		if (!(s = slot_find(p, xid, true)))
			bench_die("responder: too many exchanges in flight");
		memset(s, 0, sizeof(*s));
		s->busy = true;
		s->xid = xid;
		hs_config_common(p, s, &hc);
		hc.role = HS_RESPONDER;
		hc.classes = &p->pol;
		hc.n_classes = 1;
		hc.n_keys = HS_KEYS_MAX;
		bench_check(hs_init(&s->hs, &hc), "responder hs_init");
	}
	r = hs_recv(&s->hs, f, len, &w);
	if (r == HS_DONE && (r = hs_result(&s->hs, &s->res)) == 0)
		r = HS_DONE;
	if (r < 0)
		bench_die("responder: exchange failed: %d %s", r, hs_abort_reason(&s->hs));
	frames_put(p, xid, buf, w.len);
	if (r == HS_DONE) {
		env_put(p, ENV_COMMIT, xid, NULL, 0);
		slot_release(s);
		}
	return 0;
}

/*
 * Read once from the channel and handle every whole envelope. Returns the
 * number of exchanges completed (initiator), or -1 when the channel closed.
 */
static int pump(struct party *p)
{
	ssize_t k = tls_conn_read(p->tls, p->in + p->in_len, sizeof(p->in) - p->in_len);
	size_t off = 0;
	int done = 0;

	if (k <= 0)
		return -1;
	p->in_len += (size_t)k;
	for (;;) {
		const uint8_t *e = p->in + off;
		size_t avail = p->in_len - off, body = 0;
		uint32_t xid;

		if (avail < ENV_HDR)
			break;
		xid = (uint32_t)e[1] << 24 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 8 | e[4];
		if (e[0] == ENV_PROTO) {
			int r = msg_frame_len(e + ENV_HDR, avail - ENV_HDR, &body);

			if (r == -EAGAIN)
				break;
			if (r < 0)
				bench_die("%s: malformed frame", p->name);
		}
		if (avail < ENV_HDR + body)
			break;
		done += on_env(p, e[0], xid, e + ENV_HDR, body);
		off += ENV_HDR + body;
		if (opt.flush_each)
			flush(p);
	}
	memmove(p->in, p->in + off, p->in_len - off);
	p->in_len -= off;
	flush(p);
	return done;
}

/* ---- connections -------------------------------------------------------------- */

static void tls_up(struct party *p, int fd)
{
	int one = 1, r;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	p->fd = fd;
	p->in_len = p->out_len = 0;
	bench_check(tls_conn_new(p->ctx, p->initiator ? TLS_CLIENT : TLS_SERVER, p->peer_pin, &p->tls),
	      "tls_conn_new");
	bench_check(tls_conn_set_fd(p->tls, fd), "tls_conn_set_fd");
	while ((r = tls_conn_handshake(p->tls)) == -EAGAIN)
		;
	if (r < 0)
		bench_die("%s: TLS handshake: %d %s", p->name, r, tls_conn_error(p->tls));
	bench_check(tls_conn_export(p->tls, NULL, 0, p->exporter), "tls_conn_export");
}

static void tls_down(struct party *p)
{
	tls_conn_shutdown(p->tls);
	tls_conn_free(p->tls);
	p->tls = NULL;
	close(p->fd);
	p->fd = -1;
}

static int tcp_connect(struct run *rn)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&rn->addr, sizeof(rn->addr)) < 0)
		bench_die("connect: %s", strerror(errno));
	return fd;
}

static int tcp_accept(struct run *rn)
{
	int fd;

	while ((fd = accept4(rn->listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (fd < 0)
		bench_die("accept: %s", strerror(errno));
	return fd;
}

/* Initiator: run exchanges on the open channel until the deadline (or max). */
static uint64_t run_exchanges(struct party *p, struct run *rn, double deadline, uint64_t max)
{
	uint64_t started = 0, done = 0;
	unsigned inflight = 0;

	for (unsigned i = 0; i < rn->depth && started < max; i++, started++, inflight++)
		start_one(p, &p->slots[i], opt.keys);
	flush(p);
	while (inflight > 0) {
		int k = pump(p);

		if (k < 0)
			bench_die("initiator: channel closed");
		done += (uint64_t)k;
		inflight -= (unsigned)k;
		for (; k > 0; k--) {
			if (started < max && wall_now() < deadline) {
				start_one(p, slot_find(p, 0xffffffffU, true), opt.keys);
				started++;
				inflight++;
			}
		}
		flush(p);
	}
	return done;
}

/* ---- the control engine (stored rows) --------------------------------------------- */

static bool set_has_psk(const struct mset *set)
{
	for (size_t i = 0; set && i < set->n; i++)
		if (set->ids[i] == KEX_ID_PSK)
			return true;
	return false;
}

/* A fresh engine on the party's fresh store: one peer, rn->depth classes. */
static void cf_setup(struct party *p, const struct run *rn)
{
	struct cf_config *cfg = calloc(1, sizeof(*cfg));
	struct cf_peer_cfg *pc;

	if (!cfg)
		bench_die("out of memory");
	snprintf(cfg->node_id, sizeof(cfg->node_id), "%s", p->name);
	cfg->psk_dir = pskdir;
	snprintf(p->revoked, sizeof(p->revoked), "%s/%s.revoked", tmpdir, p->name);
	unlink(p->revoked);
	cfg->revoked_path = p->revoked;
	cfg->n_peers = 1;
	pc = &cfg->peers[0];
	snprintf(pc->name, sizeof(pc->name), "%s", p->peer_name);
	pc->n_classes = rn->depth;
	for (unsigned k = 0; k < rn->depth; k++) {
		struct cf_class_cfg *cc = &pc->classes[k];

		cc->policy = p->pol;
		memcpy(cc->policy.name, class_names[k], strlen(class_names[k]) + 1);
		/* an exchange asks for pool_high - depth keys, at least pool_high / 4 */
		cc->policy.pool_high = 4 * opt.keys;
		cc->policy.pool_low = opt.keys;
		if (set_has_psk(rn->set))
			snprintf(cc->psk_id, sizeof(cc->psk_id), "%s", PSK_ID);
	}
	pc->static_keys = p->skeys;
	pc->n_static_keys = p->n_skeys;
	cfg->now = time(NULL);
	bench_check(cf_new(cfg, p->st, &p->cf), "cf_new");
	free(cfg);
	if (opt.async_commit)
		bench_check(cf_committer_new(p->db, kek, &p->cm), "cf_committer_new");
	if (!(p->cp = cf_peer_by_name(p->cf, p->peer_name)))
		bench_die("cf: no peer");
}

static void wait_fd(int fd, short events)
{
	struct pollfd pf = { .fd = fd, .events = events };

	while (poll(&pf, 1, -1) < 0 && errno == EINTR)
		;
}

/* Write what the engine has for the peer (mfsd's conn_flush; the socket is non-blocking). */
static void cf_flush(struct party *p)
{
	const uint8_t *o;
	size_t n;

	while ((n = cf_link_output(p->cp, &o)) > 0) {
		ssize_t w;

		if (n > 16384)
			n = 16384;	/* MFSD_WRITE_CHUNK: OpenSSL retries need the same length */
		while ((w = tls_conn_write(p->tls, o, n)) == -EAGAIN)
			wait_fd(p->fd, POLLOUT);
		if (w != (ssize_t)n)
			bench_die("%s: tls write: %zd %s", p->name, w, tls_conn_error(p->tls));
		cf_link_consume(p->cp, n);
	}
}

/* Start the group commit of what waits: here (as mfsd), or on the writer thread (--async-commit). */
static void cf_commit_kick(struct party *p)
{
	struct cf_batch *b;

	if (!p->cm) {
		cf_link_commit(p->cp, time(NULL));
		return;
	}
	if ((b = cf_link_commit_begin(p->cp, time(NULL)))) {
		b->now = time(NULL);
		cf_committer_submit(p->cm, b);
	}
}

/* Batches the writer finished: settle them (COMMITs go out), start the next. */
static void cf_commit_collect(struct party *p, bool wait)
{
	struct cf_batch *b;

	while ((b = cf_committer_done(p->cm, wait))) {
		cf_link_commit_end(b, time(NULL));
		wait = false;
	}
	cf_commit_kick(p);
	cf_flush(p);
}

/*
 * One event-loop turn of mfsd's loop: wait until the channel or the
 * writer thread has something; collect the batches the writer stored
 * (their COMMITs go out); read the channel until it would block, feeding
 * each read to the engine and writing its answers (after each one with
 * --flush-answers: cf_link_feed returns 1 after one); then the group commit of what
 * finished: cf_link_commit() and its COMMITs, as mfsd, or with
 * --async-commit cf_link_commit_begin() for the writer thread. -1: the
 * channel closed.
 */
static int cf_read(struct party *p)
{
	uint8_t buf[16384];
	struct pollfd pf[2] = { { .fd = p->fd, .events = POLLIN },
				{ .fd = p->cm ? cf_committer_fd(p->cm) : -1, .events = POLLIN } };
	int r;

	while (poll(pf, 2, -1) < 0 && errno == EINTR)
		;
	if (pf[1].revents & POLLIN)
		cf_commit_collect(p, false);
	if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
		return 0;
	for (;;) {
		ssize_t k = tls_conn_read(p->tls, buf, sizeof(buf));

		if (k == -EAGAIN)
			break;
		if (k <= 0)
			return -1;
		r = cf_link_feed(p->cp, buf, (size_t)k, time(NULL));
		for (;;) {
			if (r < 0)
				bench_die("%s: cf_link_feed: %d (%s)", p->name, r, p->cp->last_error);
			if (opt.flush_answers || r == 0)
				cf_flush(p);	/* once per read, as mfsd; or after each answer */
			if (r == 0)
				break;
			r = cf_link_feed(p->cp, NULL, 0, time(NULL));
		}
	}
	cf_commit_kick(p);
	cf_flush(p);
	return 0;
}

/* Before the link goes: wait for the batch the writer has (as mfsd's conn_close). */
static void cf_commit_drain(struct party *p)
{
	while (p->cm && p->cp->batch)
		cf_commit_collect(p, true);
}

static uint64_t cf_done(const struct party *p)
{
	uint64_t n = 0;

	for (size_t i = 0; i < p->cp->cfg.n_classes; i++)
		n += p->cp->classes[i].exchanges;
	return n;
}

static bool cf_busy(const struct party *p)
{
	for (size_t i = 0; i < p->cp->cfg.n_classes; i++)
		if (p->cp->classes[i].x)
			return true;
	return false;
}

static void cf_link_open(struct party *p)
{
	int fl = fcntl(p->fd, F_GETFL);

	/* as mfsd: a non-blocking socket, waits in poll() */
	if (fl < 0 || fcntl(p->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		bench_die("fcntl: %s", strerror(errno));
	cf_link_up(p->cp, p->exporter, sizeof(p->exporter), time(NULL));
}

/*
 * Initiator: ask for the next exchange of every idle class until the
 * deadline (at most max exchanges asked for), then let the running ones
 * finish. Returns the exchanges stored.
 */
static uint64_t cf_run(struct party *p, double deadline, uint64_t max)
{
	uint64_t base = cf_done(p), asked = 0;

	for (;;) {
		int64_t now = time(NULL);
		bool more = asked < max && wall_now() < deadline;

		for (size_t i = 0; more && i < p->cp->cfg.n_classes && asked < max; i++) {
			struct cf_class *c = &p->cp->classes[i];

			if (c->last_error[0])
				bench_die("initiator: class %s: %s", c->cfg.policy.name, c->last_error);
			if (!c->x && cf_rekey(p->cp, c->cfg.policy.name, now) == 0)
				asked++;
		}
		cf_tick(p->cf, now);
		cf_flush(p);
		if (!cf_busy(p) && !more)
			break;
		if (cf_busy(p) && cf_read(p) < 0)
			bench_die("initiator: channel closed");
	}
	return cf_done(p) - base;
}

/* Responder: serve until the initiator closes the channel. */
static void cf_serve(struct party *p)
{
	for (;;) {
		cf_tick(p->cf, time(NULL));
		cf_flush(p);
		if (cf_read(p) < 0)
			break;
	}
}

static void *initiator_main(void *arg)
{
	struct run *rn = arg;
	struct party *p = rn->pi;
	double t_start, c_start, c_thread, t0, deadline;
	uint64_t n = 0;

	p->now = time(NULL);
	c_thread = thread_cpu();
	if (rn->mode == M_NEWTLS || rn->mode == M_TLSONLY) {
		pthread_barrier_wait(&rn->bar);
		cur = p;
		t_start = wall_now();
		c_start = process_cpu();
		deadline = t_start + rn->seconds;
		while (wall_now() < deadline) {
			t0 = thread_cpu();
			tls_up(p, tcp_connect(rn));
			ph_add(p, PH_TLS, t0);
			if (rn->mode == M_NEWTLS) {
				uint64_t k;

				cf_link_open(p);
				/*
				 * One asked for; the peer's WANT (its pool is low) can
				 * start another on the same connection: all count.
				 */
				if ((k = cf_run(p, deadline + 60, 1)) < 1)
					bench_die("initiator: no exchange");
				n += k - 1;
				cf_commit_drain(p);
				cf_link_down(p->cp, "bench: next connection", time(NULL));
			} else {
				/* the first server message confirms the channel (tls.h) */
				if (pump(p) != 0 || !p->stop_seen)
					bench_die("initiator: no confirmation");
				p->stop_seen = false;
			}
			n++;
			t0 = thread_cpu();
			tls_down(p);
			ph_add(p, PH_TLS, t0);
		}
		rn->wall = wall_now() - t_start;
		rn->cpu = process_cpu() - c_start;
		atomic_store(&rn->stop, true);
		close(tcp_connect(rn));		/* wake the acceptor */
	} else {
		tls_up(p, tcp_connect(rn));
		if (rn->store)
			cf_link_open(p);
		pthread_barrier_wait(&rn->bar);
		memset(&p->st_stats, 0, sizeof(p->st_stats));
		cur = p;
		c_thread = thread_cpu();
		t_start = wall_now();
		c_start = process_cpu();
		if (rn->store)
			n = cf_run(p, t_start + rn->seconds, UINT64_MAX);
		else
			n = run_exchanges(p, rn, t_start + rn->seconds, UINT64_MAX);
		rn->wall = wall_now() - t_start;
		rn->cpu = process_cpu() - c_start;
		if (rn->store) {
			cf_commit_drain(p);
			cf_link_down(p->cp, "bench: done", time(NULL));
		} else {
			env_put(p, ENV_STOP, 0, NULL, 0);
			flush(p);
		}
		tls_down(p);
	}
	p->st_stats.cpu_total = thread_cpu() - c_thread;
	cur = NULL;
	rn->n = n;
	return NULL;
}

static void *responder_main(void *arg)
{
	struct run *rn = arg;
	struct party *p = rn->pr;
	double c_thread, t0;

	p->now = time(NULL);
	if (rn->mode == M_NEWTLS || rn->mode == M_TLSONLY) {
		pthread_barrier_wait(&rn->bar);
		cur = p;
		c_thread = thread_cpu();
		for (;;) {
			int fd = tcp_accept(rn);

			if (atomic_load(&rn->stop)) {
				close(fd);
				break;
			}
			t0 = thread_cpu();
			tls_up(p, fd);
			if (rn->mode == M_TLSONLY) {
				env_put(p, ENV_STOP, 0, NULL, 0);
				flush(p);
			}
			ph_add(p, PH_TLS, t0);
			if (rn->mode == M_NEWTLS) {
				cf_link_open(p);
				cf_serve(p);
				cf_commit_drain(p);
				cf_link_down(p->cp, "bench: closed", time(NULL));
			} else {
				while (pump(p) >= 0)
					;
			}
			t0 = thread_cpu();
			tls_down(p);
			ph_add(p, PH_TLS, t0);
		}
	} else {
		tls_up(p, tcp_accept(rn));
		if (rn->store)
			cf_link_open(p);
		pthread_barrier_wait(&rn->bar);
		memset(&p->st_stats, 0, sizeof(p->st_stats));
		cur = p;
		c_thread = thread_cpu();
		if (rn->store) {
			cf_serve(p);
			cf_commit_drain(p);
			cf_link_down(p->cp, "bench: closed", time(NULL));
		} else {
			while (!p->stop_seen)
				if (pump(p) < 0)
					bench_die("responder: channel closed");
		}
		tls_down(p);
	}
	p->st_stats.cpu_total = thread_cpu() - c_thread;
	cur = NULL;
	return NULL;
}

static void store_fresh(struct party *p)
{
	char wal[PATH_MAX + 8];

	unlink(p->db);
	snprintf(wal, sizeof(wal), "%s-wal", p->db);
	unlink(wal);
	snprintf(wal, sizeof(wal), "%s-shm", p->db);
	unlink(wal);
	bench_check(store_open(p->db, kek, &p->st), "store_open");
}

static void measure(struct run *rn)
{
	pthread_t ti, tr;
	socklen_t al = sizeof(rn->addr);
	int one = 1;

	rn->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&rn->addr, 0, sizeof(rn->addr));
	rn->addr.sin_family = AF_INET;
	rn->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(rn->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (rn->listen_fd < 0 || bind(rn->listen_fd, (struct sockaddr *)&rn->addr, sizeof(rn->addr)) < 0 ||
	    listen(rn->listen_fd, 64) < 0 ||
	    getsockname(rn->listen_fd, (struct sockaddr *)&rn->addr, &al) < 0)
		bench_die("listen: %s", strerror(errno));
	if (rn->store) {
		store_fresh(rn->pi);
		store_fresh(rn->pr);
	}
	for (struct party *p = rn->pi; p; p = p == rn->pi ? rn->pr : NULL) {
		memset(&p->st_stats, 0, sizeof(p->st_stats));
		p->stop_seen = false;
		if (rn->set) {
			p->pol.n_required = rn->set->n;
			memcpy(p->pol.required, rn->set->ids, rn->set->n * sizeof(uint16_t));
		}
	}
	if (rn->store) {
		cf_setup(rn->pi, rn);
		cf_setup(rn->pr, rn);
	}
	memset(&writer_stats, 0, sizeof(writer_stats));
	atomic_store(&rn->stop, false);
	pthread_barrier_init(&rn->bar, NULL, 2);
	if (pthread_create(&tr, NULL, responder_main, rn) || pthread_create(&ti, NULL, initiator_main, rn))
		bench_die("pthread_create");
	pthread_join(ti, NULL);
	pthread_join(tr, NULL);
	pthread_barrier_destroy(&rn->bar);
	close(rn->listen_fd);
	if (rn->store) {
		cf_committer_free(rn->pi->cm);
		cf_committer_free(rn->pr->cm);
		rn->pi->cm = rn->pr->cm = NULL;
		cf_free(rn->pi->cf);
		cf_free(rn->pr->cf);
		rn->pi->cf = rn->pr->cf = NULL;
		rn->pi->cp = rn->pr->cp = NULL;
		store_close(rn->pi->st);
		store_close(rn->pr->st);
		rn->pi->st = rn->pr->st = NULL;
	}
}

/* ---- references ------------------------------------------------------------------ */

enum ref_key {
	R_K768_KG, R_K768_ENC, R_K768_DEC,
	R_K1024_KG, R_K1024_ENC, R_K1024_DEC,
	R_HYB_KG, R_HYB_ENC, R_HYB_DEC,
	R_DSA_SIGN, R_DSA_VERIFY,
	R_COUNT,
};

static const char *const ref_names[R_COUNT] = {
	[R_K768_KG] = "openssl speed ML-KEM-768 keygen",
	[R_K768_ENC] = "openssl speed ML-KEM-768 encaps",
	[R_K768_DEC] = "openssl speed ML-KEM-768 decaps",
	[R_K1024_KG] = "openssl speed ML-KEM-1024 keygen",
	[R_K1024_ENC] = "openssl speed ML-KEM-1024 encaps",
	[R_K1024_DEC] = "openssl speed ML-KEM-1024 decaps",
	[R_HYB_KG] = "openssl speed X25519MLKEM768 keygen",
	[R_HYB_ENC] = "openssl speed X25519MLKEM768 encaps",
	[R_HYB_DEC] = "openssl speed X25519MLKEM768 decaps",
	[R_DSA_SIGN] = "openssl speed ML-DSA-65 sign",
	[R_DSA_VERIFY] = "openssl speed ML-DSA-65 verify",
};

static struct {
	double s[MAX_REPS];
	int n;
} refs[R_COUNT];

static void ref_add(enum ref_key k, double v)
{
	if (v > 0 && refs[k].n < MAX_REPS)
		refs[k].s[refs[k].n++] = v;
}

/* seconds of CPU per operation, from the median ops/s; 0 if missing */
static double ref_time(enum ref_key k)
{
	double m = bench_median(refs[k].s, refs[k].n);

	return m > 0 ? 1 / m : 0;
}

/* Fields 1..3 after "<prefix><idx>:" of the first line starting with prefix. */
static bool parse_f3(const char *out, const char *prefix, double v[3])
{
	const char *l = bench_find_line(out, prefix);

	for (int i = 0; l && i < 3; i++)
		if ((v[i] = bench_field(l, i + 1)) < 0)
			return false;
	return l != NULL;
}

static void run_refs(void)
{
	static const struct {
		const char *alg;
		const char *prefix;
		int k[3];
	} items[] = {
		{ "ML-KEM-768", "+F9:", { R_K768_KG, R_K768_ENC, R_K768_DEC } },
		{ "ML-KEM-1024", "+F9:", { R_K1024_KG, R_K1024_ENC, R_K1024_DEC } },
		{ "X25519MLKEM768", "+F9:", { R_HYB_KG, R_HYB_ENC, R_HYB_DEC } },
		{ "ML-DSA-65", "+F10:", { -1, R_DSA_SIGN, R_DSA_VERIFY } },
	};
	static bool warned;

	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		const char *argv[] = { opt.openssl, "speed", "-mr", "-seconds", "1", items[i].alg, NULL };
		char *out = bench_run_capture(argv);
		double v[3];

		if (!out || !parse_f3(out, items[i].prefix, v)) {
			if (!warned)
				fprintf(stderr, "bench/exchange: warning: '%s speed %s' gave no result\n",
					opt.openssl, items[i].alg);
			warned = true;
			free(out);
			continue;
		}
		for (int j = 0; j < 3; j++)
			if (items[i].k[j] >= 0)
				ref_add((enum ref_key)items[i].k[j], v[j]);
		free(out);
	}
}

/* ---- rows ------------------------------------------------------------------------- */

struct row {
	const struct mset *set;
	enum mode mode;
	unsigned depth;
	int n;
	double rate[MAX_REPS];		/* exchanges/s, wall */
	double cpu[MAX_REPS];		/* process CPU s per exchange */
	double side[2][MAX_REPS];	/* thread CPU s per exchange: initiator, responder */
	double ph[PH_N][MAX_REPS];	/* both sides, s per exchange */
	double store_wall[MAX_REPS];	/* both sides, s per exchange */
	double puts[MAX_REPS];		/* store transactions (fsyncs) per exchange, both sides */
	double io[MAX_REPS];		/* both sides: thread CPU not in a phase */
};

static struct row rows[MAX_ROWS];
static int n_rows;

static void row_measure(struct row *w, struct party *pi, struct party *pr, double seconds, bool record)
{
	struct run rn = {
		.mode = w->mode,
		.set = w->set,
		.depth = w->depth,
		.store = w->mode != M_PERSIST_NOSTORE && w->mode != M_PERSIST_NOSTORE_DEPTH &&
			 w->mode != M_TLSONLY,
		.seconds = seconds,
		.pi = pi,
		.pr = pr,
	};
	double n;
	int i = w->n;

	measure(&rn);
	if (!record)
		return;
	if (rn.n == 0)
		bench_die("%s %s: no exchange completed", w->set ? w->set->name : "-", mode_names[w->mode]);
	n = (double)rn.n;
	w->rate[i] = n / rn.wall;
	w->cpu[i] = rn.cpu / n;
	w->side[0][i] = pi->st_stats.cpu_total / n;
	w->side[1][i] = pr->st_stats.cpu_total / n;
	w->io[i] = 0;
	for (int ph = 0; ph < PH_N; ph++) {
		w->ph[ph][i] = (pi->st_stats.cpu[ph] + pr->st_stats.cpu[ph]) / n;
		w->io[i] -= w->ph[ph][i];
	}
	w->io[i] += w->side[0][i] + w->side[1][i];
	/* store_put on the writer threads: not in a side's thread CPU, in the process CPU */
	w->ph[PH_STORE][i] += writer_stats.cpu[PH_STORE] / n;
	w->store_wall[i] = (pi->st_stats.store_wall + pr->st_stats.store_wall +
			    writer_stats.store_wall) / n;
	w->puts[i] = (double)(pi->st_stats.puts + pr->st_stats.puts + writer_stats.puts) / n;
	w->n++;
}

/* Reference CPU seconds per exchange of a row, and its label. */
static double row_ref(const struct row *w, const char **label)
{
	double kem = 0, tls = ref_time(R_HYB_KG) + ref_time(R_HYB_ENC) + ref_time(R_HYB_DEC) +
			       2 * ref_time(R_DSA_SIGN) + 2 * ref_time(R_DSA_VERIFY);

	if (w->set)
		kem = w->set->mlkem == 1024 ?
			ref_time(R_K1024_KG) + ref_time(R_K1024_ENC) + ref_time(R_K1024_DEC) :
			ref_time(R_K768_KG) + ref_time(R_K768_ENC) + ref_time(R_K768_DEC);
	switch (w->mode) {
	case M_NEWTLS:
		*label = w->set->mlkem == 1024 ? "ML-KEM-1024 kg+enc+dec + TLS" :
						 "ML-KEM-768 kg+enc+dec + TLS";
		return kem > 0 && tls > 0 ? kem + tls : 0;
	case M_TLSONLY:
		*label = "TLS: X25519MLKEM768 kg+enc+dec + 2 ML-DSA-65 sign + 2 verify";
		return tls;
	default:
		*label = w->set->mlkem == 1024 ? "ML-KEM-1024 kg+enc+dec" : "ML-KEM-768 kg+enc+dec";
		return kem;
	}
}

static void fmt_time(char *out, size_t size, double s)
{
	if (s >= 1e-3)
		snprintf(out, size, "%.2f ms", s * 1e3);
	else
		snprintf(out, size, "%.0f us", s * 1e6);
}

static void row_mode_name(const struct row *w, char *out, size_t size)
{
	if (w->mode == M_PERSIST_DEPTH)
		snprintf(out, size, "persistent, %u in flight", w->depth);
	else if (w->mode == M_PERSIST_NOSTORE_DEPTH)
		snprintf(out, size, "persistent-no-store, %u in flight", w->depth);
	else
		snprintf(out, size, "%s", mode_names[w->mode]);
}

static void print_tables(void)
{
	char a[32], b[32], c[32], d[32], e[32], f[32], mode[48];

	printf("\n");
	if (opt.markdown) {
		printf("| set | mode | exch/s | min..max | CPU/exch | initiator | responder | ref CPU | ratio | reference |\n");
		printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
	} else {
		printf("%-30s  %-32s  %8s  %15s  %9s  %9s  %9s  %9s  %5s  %s\n", "set", "mode", "exch/s",
		       "min..max", "CPU/exch", "initiator", "responder", "ref CPU", "ratio", "reference");
	}
	for (int i = 0; i < n_rows; i++) {
		const struct row *w = &rows[i];
		const char *label;
		double ref = row_ref(w, &label), cpu = bench_median(w->cpu, w->n);
		char mm[40], ratio[16];

		row_mode_name(w, mode, sizeof(mode));
		snprintf(mm, sizeof(mm), "%.0f..%.0f", bench_min(w->rate, w->n), bench_max(w->rate, w->n));
		fmt_time(a, sizeof(a), cpu);
		fmt_time(b, sizeof(b), bench_median(w->side[0], w->n));
		fmt_time(c, sizeof(c), bench_median(w->side[1], w->n));
		if (ref > 0) {
			fmt_time(d, sizeof(d), ref);
			snprintf(ratio, sizeof(ratio), "%.2f", ref / cpu);
		} else {
			snprintf(d, sizeof(d), "-");
			snprintf(ratio, sizeof(ratio), "-");
		}
		if (opt.markdown)
			printf("| %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s |\n",
			       w->set ? w->set->label : "-", mode, bench_median(w->rate, w->n), mm, a, b, c, d,
			       ratio, label);
		else
			printf("%-30s  %-32s  %8.0f  %15s  %9s  %9s  %9s  %9s  %5s  %s\n",
			       w->set ? w->set->label : "-", mode, bench_median(w->rate, w->n), mm, a, b, c, d,
			       ratio, label);
	}
	printf("\nWhere the time goes (both sides summed, per exchange, medians):\n\n");
	if (opt.markdown) {
		printf("| set | mode | hs CPU | store CPU | store wall | puts/exch | TLS CPU | io CPU | wall/exch | 2 CPUs / CPU |\n");
		printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	} else {
		printf("%-30s  %-32s  %9s  %9s  %10s  %9s  %9s  %9s  %9s  %12s\n", "set", "mode", "hs CPU",
		       "store CPU", "store wall", "puts/exch", "TLS CPU", "io CPU", "wall/exch",
		       "2 CPUs / CPU");
	}
	for (int i = 0; i < n_rows; i++) {
		const struct row *w = &rows[i];

		row_mode_name(w, mode, sizeof(mode));
		fmt_time(a, sizeof(a), bench_median(w->ph[PH_HS], w->n));
		fmt_time(b, sizeof(b), bench_median(w->ph[PH_STORE], w->n));
		fmt_time(c, sizeof(c), bench_median(w->store_wall, w->n));
		fmt_time(d, sizeof(d), bench_median(w->ph[PH_TLS], w->n));
		fmt_time(e, sizeof(e), bench_median(w->io, w->n));
		fmt_time(f, sizeof(f), 1 / bench_median(w->rate, w->n));
		printf(opt.markdown ? "| %s | %s | %s | %s | %s | %.2f | %s | %s | %s | %.0f/s |\n" :
				      "%-30s  %-32s  %9s  %9s  %10s  %9.2f  %9s  %9s  %9s  %10.0f/s\n",
		       w->set ? w->set->label : "-", mode, a, b, c, bench_median(w->puts, w->n), d, e,
		       f, 2 / bench_median(w->cpu, w->n));
	}
	if (opt.refs) {
		printf("\nReferences measured in this run (ops/s, median of the runs, min..max):\n\n");
		for (int k = 0; k < R_COUNT; k++)
			printf("%s%s: %.0f (%.0f..%.0f, %d runs)\n", opt.markdown ? "- " : "  ", ref_names[k],
			       bench_median(refs[k].s, refs[k].n), bench_min(refs[k].s, refs[k].n),
			       bench_max(refs[k].s, refs[k].n), refs[k].n);
	}
	for (int i = 0; i < n_rows; i++) {
		const struct row *w = &rows[i];

		if (w->set == &sets[0] && w->mode == M_PERSIST)
			printf("\nTarget: %.0f four-factor exchanges/s on a persistent channel (one in flight) "
			       "against >= 2500: %s\n", bench_median(w->rate, w->n),
			       bench_median(w->rate, w->n) >= 2500 ? "met" : "NOT met");
		if (w->set == &sets[0] && w->mode == M_PERSIST_DEPTH)
			printf("Target: %.0f four-factor exchanges/s with %u in flight against >= 2500: %s\n",
			       bench_median(w->rate, w->n), w->depth, bench_median(w->rate, w->n) >= 2500 ? "met" : "NOT met");
	}
}

/* ---- setup ------------------------------------------------------------------------ */

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(p);
}

static void cleanup(void)
{
	if (tmpdir[0])
		nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void party_init(struct party *p, const char *name, const char *peer, bool initiator)
{
	static const uint16_t cmce[] = { KEX_ID_MCELIECE460896, KEX_ID_MCELIECE6688128 };
	size_t nc = 0;
	char err[TLS_ERR_MAX];

	memset(p, 0, sizeof(*p));
	p->name = name;
	p->peer_name = peer;
	p->initiator = initiator;
	p->fd = -1;
	for (size_t i = 0; i < 2; i++)
		if (kex_method_by_id(cmce[i]))
			nc = i + 1;
	bench_check(identity_generate_sets(name, cmce, nc, &p->idn), "identity_generate_sets");
	bench_check(tls_ctx_new(p->idn, TLS_GROUP_X25519MLKEM768, &p->ctx, err, sizeof(err)), err);
	policy_init(&p->pol, CLASS);
	p->pol.min_pq_factors = 0;
	p->pol.min_families = 0;
	snprintf(p->db, sizeof(p->db), "%s/%s.db", tmpdir, name);
}

/* Pin each other's certificate and McEliece keys (as mfsd setup does). */
static void party_pin(struct party *p, const struct party *q)
{
	p->peer_pin = q->idn->cert_fpr;
	for (int s = 0; s < IDENTITY_CMCE_N; s++) {
		const struct identity_cmce *own = &p->idn->cmce[s], *peer = &q->idn->cmce[s];

		if (!own->id || !peer->id)
			continue;
		p->skeys[p->n_skeys++] = (struct hs_static_key){
			.method = own->id,
			.sk = own->sk,
			.pk = own->pk,
			.pk_len = own->pk_len,
			.pk_id = own->pk_id,
			.peer_pk = peer->pk,
			.peer_pk_len = peer->pk_len,
			.peer_pk_id = peer->pk_id,
		};
	}
}

static void party_free(struct party *p)
{
	tls_ctx_free(p->ctx);
	identity_free(p->idn);
}

/* The load averages, as /proc/loadavg gives them: how busy the machine was. */
static void load_note(char *out, size_t size)
{
	double l[3];

	if (getloadavg(l, 3) == 3)
		snprintf(out, size, "%.2f %.2f %.2f", l[0], l[1], l[2]);
	else
		snprintf(out, size, "?");
}

static bool set_available(const struct mset *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (!kex_method_by_id(s->ids[i]))
			return false;
	return true;
}

static bool want_mode(enum mode m)
{
	if (!opt.only_mode)
		return true;
	if (!strcmp(opt.only_mode, "persistent"))
		return m == M_PERSIST || m == M_PERSIST_DEPTH || m == M_PERSIST_NOSTORE ||
		       m == M_PERSIST_NOSTORE_DEPTH;
	return !strcmp(opt.only_mode, mode_names[m]);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench/exchange [options]\n"
		"  --seconds S      wall time per measurement (default 1.5)\n"
		"  --reps N         repetitions, median and min..max reported (default 5)\n"
		"  --keys N         keys per direction per exchange, 1..%d (default %d = pool_high)\n"
		"  --depth D        exchanges in flight for the 'persistent, D in flight' row\n"
		"                   (D classes on one link), 1..%d (default %d; 1 leaves the row out)\n"
		"  --set NAME       only this method set: four-factor, mlkem768, mlkem768+psk, cat5\n"
		"  --mode NAME      only: persistent (all four), persistent-depth,\n"
		"                   persistent-no-store, persistent-no-store-depth,\n"
		"                   new-tls, tls-only\n"
		"  --no-refs        leave out the openssl speed references\n"
		"  --openssl PATH   openssl binary (default: openssl from PATH)\n"
		"  --dir DIR        where the stores and identities go (default $TMPDIR or /tmp;\n"
		"                   must be a disk, not tmpfs, for the fsync cost to count)\n"
		"  --flush-each     no-store rows: write after every envelope (default: after each read)\n"
		"  --flush-answers  stored rows: write after every answer of the engine, not once\n"
		"                   per read as mfsd (more overlap, more writes and fsyncs)\n"
		"  --async-commit   stored rows: store each turn's exchanges on a writer thread\n"
		"                   (cf_link_commit_begin/end, cf/commit.h) instead of on the\n"
		"                   event loop's thread as mfsd does (cf_link_commit)\n"
		"  --log-level L    the engines' log level (default notice; at info cf logs one\n"
		"                   line per exchange and side, as mfsd at log_level = info)\n"
		"  --markdown       tables in Markdown\n",
		HS_KEYS_MAX, POLICY_DEFAULT_POOL_HIGH, CF_MAX_CLASSES, CF_MAX_CLASSES);
}

int main(int argc, char **argv)
{
	bench_set_name("bench/exchange");
	enum { O_SEC = 256, O_REPS, O_KEYS, O_DEPTH, O_SET, O_MODE, O_NOREFS, O_OSSL, O_DIR, O_MD, O_FLUSH,
	       O_LOG, O_BATCH, O_SYNCC };
	static const struct option lo[] = {
		{ "seconds", required_argument, NULL, O_SEC },
		{ "reps", required_argument, NULL, O_REPS },
		{ "keys", required_argument, NULL, O_KEYS },
		{ "depth", required_argument, NULL, O_DEPTH },
		{ "set", required_argument, NULL, O_SET },
		{ "mode", required_argument, NULL, O_MODE },
		{ "no-refs", no_argument, NULL, O_NOREFS },
		{ "openssl", required_argument, NULL, O_OSSL },
		{ "dir", required_argument, NULL, O_DIR },
		{ "markdown", no_argument, NULL, O_MD },
		{ "flush-each", no_argument, NULL, O_FLUSH },
		{ "log-level", required_argument, NULL, O_LOG },
		{ "flush-answers", no_argument, NULL, O_BATCH },
		{ "async-commit", no_argument, NULL, O_SYNCC },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct party pa, pb, *pi, *pr;
	const char *tmp;
	char path[PATH_MAX + 32];
	uint8_t psk[32];
	int c, fd;
	time_t t0 = time(NULL);
	char date[64], load0[64], load1[64];

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_SEC: opt.seconds = atof(optarg); break;
		case O_REPS: opt.reps = atoi(optarg); break;
		case O_KEYS: opt.keys = (unsigned)atoi(optarg); break;
		case O_DEPTH: opt.depth = (unsigned)atoi(optarg); break;
		case O_SET: opt.only_set = optarg; break;
		case O_MODE: opt.only_mode = optarg; break;
		case O_NOREFS: opt.refs = false; break;
		case O_OSSL: opt.openssl = optarg; break;
		case O_DIR: opt.dir = optarg; break;
		case O_MD: opt.markdown = true; break;
		case O_FLUSH: opt.flush_each = true; break;
		case O_LOG: opt.log_level = optarg; break;
		case O_BATCH: opt.flush_answers = true; break;
		case O_SYNCC: opt.async_commit = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || opt.seconds <= 0 || opt.reps < 1 || opt.reps > MAX_REPS ||
	    opt.keys < 1 || opt.keys > HS_KEYS_MAX || opt.depth < 1 || opt.depth > CF_MAX_CLASSES) {
		usage(stderr);
		return 2;
	}
	{
		enum mfs_log_level lv;

		if (mfs_log_level_parse(opt.log_level, &lv) < 0) {
			usage(stderr);
			return 2;
		}
		mfs_log_set_level(lv);
	}
	signal(SIGPIPE, SIG_IGN);
	tmp = opt.dir ? opt.dir : getenv("TMPDIR");
	snprintf(tmpdir, sizeof(tmpdir), "%s/mfs-bench-exchange.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(tmpdir))
		bench_die("mkdtemp %s: %s", tmpdir, strerror(errno));
	atexit(cleanup);
	/* the PSK directory, read per exchange as the daemon does */
	snprintf(pskdir, sizeof(pskdir), "%s/psk", tmpdir);
	snprintf(path, sizeof(path), "%s/%s%s", pskdir, PSK_ID, PSK_FILE_SUFFIX);
	bench_check(crypto_random(psk, sizeof(psk)), "crypto_random");
	if (mkdir(pskdir, 0700) < 0 || (fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0 ||
	    write(fd, psk, sizeof(psk)) != (ssize_t)sizeof(psk) || close(fd) < 0)
		bench_die("%s: %s", path, strerror(errno));
	if (!(kek = secret_alloc(STORE_KEK_LEN)))
		bench_die("out of memory");
	bench_check(crypto_random(kek->p, kek->len), "crypto_random");

	load_note(load0, sizeof(load0));
	fprintf(stderr, "bench/exchange: generating two identities (ML-DSA-65, McEliece)...\n");
	party_init(&pa, "bench-a", "bench-b", proto_is_initiator("bench-a", "bench-b", CLASS) == 1);
	party_init(&pb, "bench-b", "bench-a", !pa.initiator);
	party_pin(&pa, &pb);
	party_pin(&pb, &pa);
	pi = pa.initiator ? &pa : &pb;
	pr = pa.initiator ? &pb : &pa;
	/* classes the same party initiates (proto_is_initiator), one per exchange in flight */
	for (unsigned k = 0, i = 0; k < opt.depth; i++) {
		snprintf(class_names[k], sizeof(class_names[k]), "bench%u", i);
		if (proto_is_initiator(pi->name, pr->name, class_names[k]) == 1)
			k++;
	}

	for (size_t s = 0; s < N_SETS; s++) {
		if (opt.only_set && strcmp(opt.only_set, sets[s].name) != 0)
			continue;
		if (!set_available(&sets[s])) {
			fprintf(stderr, "bench/exchange: %s: a method is not built, left out\n", sets[s].label);
			continue;
		}
		for (enum mode m = M_PERSIST; m <= M_NEWTLS; m++) {
			bool deep = m == M_PERSIST_DEPTH || m == M_PERSIST_NOSTORE_DEPTH;

			if (!want_mode(m) || (deep && opt.depth == 1))
				continue;
			rows[n_rows++] = (struct row){ .set = &sets[s], .mode = m,
						       .depth = deep ? opt.depth : 1 };
		}
	}
	if (want_mode(M_TLSONLY) && !opt.only_set)
		rows[n_rows++] = (struct row){ .mode = M_TLSONLY, .depth = 1 };
	if (!n_rows)
		bench_die("nothing to measure");

	for (int i = 0; i < n_rows; i++) {
		fprintf(stderr, "bench/exchange: warm-up %d/%d\r", i + 1, n_rows);
		row_measure(&rows[i], pi, pr, WARMUP_S, false);
	}
	for (int rep = 0; rep < opt.reps; rep++) {
		for (int i = 0; i < n_rows; i++) {
			fprintf(stderr, "bench/exchange: rep %d/%d, row %d/%d   \r", rep + 1, opt.reps,
				i + 1, n_rows);
			row_measure(&rows[i], pi, pr, opt.seconds, true);
		}
		if (opt.refs)
			run_refs();
	}
	fprintf(stderr, "\n");

	strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&t0));
	printf("%sdate: %s\n", opt.markdown ? "- " : "", date);
	load_note(load1, sizeof(load1));
	printf("%smachine: %ld CPUs (online); load average (1, 5, 15 min) at the start: %s, at the end: %s\n",
	       opt.markdown ? "- " : "", sysconf(_SC_NPROCESSORS_ONLN), load0, load1);
	printf("%sOpenSSL: %s; SQLite: %s\n", opt.markdown ? "- " : "", OpenSSL_version(OPENSSL_VERSION),
	       sqlite3_libversion());
	printf("%sbench: --seconds %g --reps %d --keys %u --depth %u; stores and identities in %s\n",
	       opt.markdown ? "- " : "", opt.seconds, opt.reps, opt.keys, opt.depth, tmp && tmp[0] ? tmp : "/tmp");
	printf("%schannel: loopback TCP, TLS 1.3 %s, ML-DSA-65 mutual, pinned; initiator = TLS client\n",
	       opt.markdown ? "- " : "", tls_group_name(TLS_GROUP_X25519MLKEM768));
	print_tables();

	party_free(&pa);
	party_free(&pb);
	secret_free(kek);
	return 0;
}
