/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control engine (src/cf/cf.h): two engines back to back in memory
 * (OpenSSH run_kex() style). What one engine wants to send is cut into link
 * envelopes here (independently of cf.c), optionally tampered with, dropped
 * or reordered by a per-test filter, and fed to the other engine in small
 * pieces; this loops until both are quiet. Each engine has its own key store
 * (real SQLite in a mkdtemp() directory), PSK directory, revocation file and
 * McEliece static key pair (one pair per side per binary: key generation is
 * slow). Time is a fake clock: cf takes it as a parameter.
 *
 * Classes (the same on both sides; which side initiates each is elected):
 *   bulk:   ML-KEM-768 + X25519 required, McEliece-460896 and PSK optional
 *   strict: ML-KEM-768 + PSK + X25519 required
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/file.h"
#include "base/log.h"
#include "base/secret.h"
#include "cf/cf.h"
#include "cf/keyring.h"
#include "cf/internal.h"
#include "crypto/hash.h"
#include "kex/kex.h"
#include "proto/handshake.h"
#include "proto/msg.h"
#include "store/store.h"

#define PSK_ID "link-1"
#define T0 1700000000LL
#define REKEY_S 600
#define HARD_S 3600
#define BULK_HIGH 16
#define STRICT_HIGH 8

/* ---- McEliece static keys: one pair per side per binary ---- */

struct side_key {
	struct secret *sk;
	uint8_t *pk;
	uint8_t id[HS_STATIC_ID_LEN];
	struct hs_static_key key;
};

static struct side_key mk[2];
static bool have_mce;

static int group_setup(void **state)
{
	const struct kex_method *m = kex_method_by_id(KEX_ID_MCELIECE460896);

	(void)state;
	mfs_log_set_level(MFS_LOG_ERR);
	if (!m || !m->available())
		return 0;
	for (int i = 0; i < 2; i++) {
		mk[i].sk = secret_alloc(m->kem->sk_len);
		mk[i].pk = malloc(m->kem->pk_len);
		if (!mk[i].sk || !mk[i].pk || m->kem->keypair(mk[i].pk, mk[i].sk->p) != 0 ||
		    hash(HASH_SHA3_256, mk[i].pk, m->kem->pk_len, mk[i].id) != 0)
			return -1;
	}
	for (int i = 0; i < 2; i++)
		mk[i].key = (struct hs_static_key){
			.method = m->id, .sk = mk[i].sk, .pk = mk[i].pk, .pk_len = m->kem->pk_len,
			.pk_id = mk[i].id, .peer_pk = mk[1 - i].pk, .peer_pk_len = m->kem->pk_len,
			.peer_pk_id = mk[1 - i].id,
		};
	have_mce = true;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		secret_free(mk[i].sk);
		free(mk[i].pk);
	}
	return 0;
}

/*
 * ---- QKD: an in-memory QKD network, one KME per node ----
 * Stands for the daemon's ETSI 014 client and the two KMEs (the real ones,
 * qkdsim and mfsd's client, are tested in tests/integration/test_qkd.sh).
 * A master "enc_keys" puts a key in the table and shares its ID with
 * cf_qkd_share(); the slave "dec_keys" marks it fetched and acknowledges.
 */
#define QK_MAX 512
struct qkey {
	uint8_t id[CF_QKD_ID_LEN];
	uint8_t key[32];
	int master;
	bool at_slave, acked, used_master, used_slave;
};
static struct {
	struct qkey k[QK_MAX];
	size_t n;
	bool outage[2];
	unsigned seq;
} qn;
static int qkd_mode;		/* 0: no QKD; 1: qkd014 optional in bulk; 2: required */
static int side_idx[2] = { 0, 1 };

static enum cf_qkd_state tq_state(void *arg, const struct cf_peer *p, int64_t *since, char *why,
				  size_t n)
{
	int i = *(int *)arg;

	(void)p;
	if (!qn.outage[i])
		return CF_QKD_OK;
	*since = T0;
	snprintf(why, n, "test KME %d down", i);
	return CF_QKD_OUTAGE;
}

static size_t tq_ready(void *arg, const struct cf_peer *p)
{
	int i = *(int *)arg;
	size_t n = 0;

	(void)p;
	for (size_t k = 0; k < qn.n; k++)
		n += qn.k[k].master == i && qn.k[k].acked && !qn.k[k].used_master;
	return n;
}

static int tq_take(void *arg, struct cf_peer *p, struct kex_qkd_ref *ref, struct secret **ret)
{
	int i = *(int *)arg;

	(void)p;
	for (size_t k = 0; k < qn.n; k++) {
		struct qkey *q = &qn.k[k];

		if (q->master != i || !q->acked || q->used_master)
			continue;
		q->used_master = true;
		memset(ref, 0, sizeof(*ref));
		snprintf(ref->kme_id, sizeof(ref->kme_id), "kme-%d", i);
		snprintf(ref->master_sae, sizeof(ref->master_sae), "sae-%d", i);
		memcpy(ref->key_id, q->id, CF_QKD_ID_LEN);
		*ret = secret_dup(q->key, sizeof(q->key));
		return *ret ? 0 : -ENOMEM;
	}
	return -EAGAIN;
}

static int tq_lookup(void *arg, struct cf_peer *p, const struct kex_qkd_ref *ref,
		     struct secret **ret)
{
	int i = *(int *)arg;
	char want[16];

	(void)p;
	snprintf(want, sizeof(want), "kme-%d", 1 - i);
	if (strcmp(ref->kme_id, want) != 0)
		return -ENOKEY;
	for (size_t k = 0; k < qn.n; k++) {
		struct qkey *q = &qn.k[k];

		if (q->master != 1 - i || memcmp(q->id, ref->key_id, CF_QKD_ID_LEN) != 0)
			continue;
		if (!q->at_slave)
			return -ENOKEY;
		if (q->used_slave)
			return -EALREADY;
		q->used_slave = true;
		*ret = secret_dup(q->key, sizeof(q->key));
		return *ret ? 0 : -ENOMEM;
	}
	return -ENOKEY;
}

static void tq_offered(void *arg, struct cf_peer *p, const char *kme, const char *sae,
		       const uint8_t (*ids)[CF_QKD_ID_LEN], size_t n)
{
	int i = *(int *)arg;
	uint8_t got[CF_QKD_IDS_MAX][CF_QKD_ID_LEN];
	size_t m = 0;

	(void)kme;
	(void)sae;
	if (qn.outage[i])
		return;		/* dec_keys fails: nothing fetched, nothing acknowledged */
	for (size_t j = 0; j < n; j++)
		for (size_t k = 0; k < qn.n; k++)
			if (qn.k[k].master == 1 - i && !memcmp(qn.k[k].id, ids[j], CF_QKD_ID_LEN)) {
				qn.k[k].at_slave = true;
				memcpy(got[m++], ids[j], CF_QKD_ID_LEN);
			}
	if (m)
		assert_int_equal(cf_qkd_ack(p, (const uint8_t (*)[CF_QKD_ID_LEN])got, m), 0);
}

static void tq_fetched(void *arg, struct cf_peer *p, const uint8_t (*ids)[CF_QKD_ID_LEN], size_t n)
{
	int i = *(int *)arg;

	(void)p;
	for (size_t j = 0; j < n; j++)
		for (size_t k = 0; k < qn.n; k++)
			if (qn.k[k].master == i && !memcmp(qn.k[k].id, ids[j], CF_QKD_ID_LEN))
				qn.k[k].acked = true;
}

static const struct cf_qkd_ops tq_ops = {
	.state = tq_state, .ready = tq_ready, .take = tq_take, .lookup = tq_lookup,
	.offered = tq_offered, .fetched = tq_fetched,
};

/* ---- one node: store, PSK dir, revocation file, engine ---- */

struct node {
	char name[CF_NAME_MAX + 1];
	char dir[64], psk_dir[96], revoked[96], db[96];
	struct store *st;
	struct cf_config cfg;
	struct cf *cf;
	struct cf_peer *p;	/* the other node */
};

struct world;
/* Sees every envelope from `from` before delivery; may change it or drop it. */
typedef void (*filter_fn)(struct world *w, int from, uint8_t *env, size_t *len, bool *drop);

struct world {
	struct node n[2];
	int64_t now;
	uint8_t exporter[TLS_EXPORTER_LEN];
	filter_fn filter;
	int fcount;		/* filter's counter */
	int ftarget;		/* filter's target */
	int fmode;
	bool fired;
	uint8_t *held;		/* an envelope held back (reordering) */
	size_t held_len;
	int link_errors;	/* cf_link_input() said: close the link */
	unsigned rnd;
};

static void set_policy(struct class_policy *p, const char *name, uint32_t high, bool strict)
{
	policy_init(p, name);
	p->min_pq_factors = 1;
	p->min_families = 2;
	p->rekey_interval_s = REKEY_S;
	p->hard_lifetime_s = HARD_S;
	p->pool_low = high / 4;
	p->pool_high = high;
	p->required[p->n_required++] = KEX_ID_MLKEM768;
	if (strict)
		p->required[p->n_required++] = KEX_ID_PSK;
	p->required[p->n_required++] = KEX_ID_X25519;
	if (!strict) {
		if (have_mce)
			p->optional[p->n_optional++] = KEX_ID_MCELIECE460896;
		p->optional[p->n_optional++] = KEX_ID_PSK;
	}
}

static void node_engine(struct world *w, int i)
{
	struct node *n = &w->n[i];

	n->cfg.now = w->now;
	assert_int_equal(cf_new(&n->cfg, n->st, &n->cf), 0);
	assert_non_null(n->p = cf_peer_by_name(n->cf, w->n[1 - i].name));
}

/* strcpy with a bound (snprintf from one member of *w to another upsets -Wrestrict) */
static void cpy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	assert_true(n < size);
	memcpy(dst, src, n + 1);
}

static void node_init(struct world *w, int i)
{
	static const uint8_t psk[32] = "cf unit test psk, not a secret!";
	struct node *n = &w->n[i];
	struct secret *kek;
	char path[160];
	struct cf_peer_cfg *pc;
	int fd;

	char dir[sizeof(n->dir)] = "/tmp/mfs-cf-XXXXXX";

	assert_non_null(mkdtemp(dir));
	cpy(n->dir, sizeof(n->dir), dir);
	snprintf(n->psk_dir, sizeof(n->psk_dir), "%s/psk", dir);
	snprintf(n->revoked, sizeof(n->revoked), "%s/revoked", dir);
	snprintf(n->db, sizeof(n->db), "%s/keys.db", dir);
	assert_int_equal(mkdir(n->psk_dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/%s.psk", n->psk_dir, PSK_ID);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0);
	assert_int_equal(write(fd, psk, sizeof(psk)), (ssize_t)sizeof(psk));
	close(fd);
	snprintf(path, sizeof(path), "%s/kek", dir);
	assert_int_equal(store_kek_init(path), 0);
	assert_int_equal(store_kek_load(path, &kek), 0);
	assert_int_equal(store_open(n->db, kek, &n->st), 0);
	secret_free(kek);

	memset(&n->cfg, 0, sizeof(n->cfg));
	cpy(n->cfg.node_id, sizeof(n->cfg.node_id), n->name);
	n->cfg.psk_dir = n->psk_dir;
	n->cfg.revoked_path = n->revoked;
	n->cfg.n_peers = 1;
	pc = &n->cfg.peers[0];
	cpy(pc->name, sizeof(pc->name), w->n[1 - i].name);
	pc->n_classes = 2;
	set_policy(&pc->classes[0].policy, "bulk", BULK_HIGH, false);
	set_policy(&pc->classes[1].policy, "strict", STRICT_HIGH, true);
	snprintf(pc->classes[0].psk_id, sizeof(pc->classes[0].psk_id), PSK_ID);
	snprintf(pc->classes[1].psk_id, sizeof(pc->classes[1].psk_id), PSK_ID);
	pc->static_keys = &mk[i].key;
	pc->n_static_keys = have_mce ? 1 : 0;
	if (qkd_mode) {
		struct class_policy *b = &pc->classes[0].policy;

		if (qkd_mode == 1)
			b->optional[b->n_optional++] = KEX_ID_QKD014;
		else
			b->required[b->n_required++] = KEX_ID_QKD014;
		n->cfg.qkd = &tq_ops;
		n->cfg.qkd_arg = &side_idx[i];
	}
	node_engine(w, i);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static struct world *world_new_named(const char *a, const char *b)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	snprintf(w->n[0].name, sizeof(w->n[0].name), "%s", a);
	snprintf(w->n[1].name, sizeof(w->n[1].name), "%s", b);
	w->now = T0;
	w->rnd = 12345;
	memcpy(w->exporter, "cf test TLS exporter, 32 bytes!", TLS_EXPORTER_LEN);
	node_init(w, 0);
	node_init(w, 1);
	return w;
}

static struct world *world_new(void)
{
	return world_new_named("node-a", "node-b");
}

static void world_free(struct world *w)
{
	for (int i = 0; i < 2; i++) {
		cf_free(w->n[i].cf);
		store_close(w->n[i].st);
		nftw(w->n[i].dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	}
	free(w->held);
	free(w);
}

static void link_up(struct world *w)
{
	for (int i = 0; i < 2; i++)
		cf_link_up(w->n[i].p, w->exporter, sizeof(w->exporter), w->now);
}

static void link_down(struct world *w, const char *why)
{
	for (int i = 0; i < 2; i++)
		cf_link_down(w->n[i].p, why, w->now);
}

/* ---- the wire between them ---- */

/* Length of the envelope at p[n], cut independently of cf.c; 0 if incomplete. */
static size_t env_len(const uint8_t *p, size_t n)
{
	size_t fl;

	if (n < CF_ENV_HDR_LEN)
		return 0;
	switch (p[0]) {
	case CF_ENV_PROTO:
		if (msg_frame_len(p + CF_ENV_HDR_LEN, n - CF_ENV_HDR_LEN, &fl) != 0)
			return 0;
		return CF_ENV_HDR_LEN + fl;
	case CF_ENV_COMMIT:
		return CF_ENV_HDR_LEN;
	case CF_ENV_WANT:
		return n > CF_ENV_HDR_LEN ? CF_ENV_HDR_LEN + 1 + p[CF_ENV_HDR_LEN] : 0;
	case CF_ENV_RESTORE:
		return CF_ENV_HDR_LEN + 2;
	case CF_ENV_PING:
		return CF_ENV_HDR_LEN;
	case CF_ENV_QKD_IDS: {
		size_t kl, sl;

		if (n < CF_ENV_HDR_LEN + 1 || n < CF_ENV_HDR_LEN + 2 + (size_t)p[CF_ENV_HDR_LEN])
			return 0;
		kl = p[CF_ENV_HDR_LEN];
		sl = p[CF_ENV_HDR_LEN + 1 + kl];
		if (n < CF_ENV_HDR_LEN + 4 + kl + sl)
			return 0;
		return CF_ENV_HDR_LEN + 4 + kl + sl +
		       CF_QKD_ID_LEN * ((size_t)p[CF_ENV_HDR_LEN + 2 + kl + sl] << 8 |
					p[CF_ENV_HDR_LEN + 3 + kl + sl]);
	}
	case CF_ENV_QKD_READY:
		if (n < CF_ENV_HDR_LEN + 2)
			return 0;
		return CF_ENV_HDR_LEN + 2 +
		       CF_QKD_ID_LEN * ((size_t)p[CF_ENV_HDR_LEN] << 8 | p[CF_ENV_HDR_LEN + 1]);
	case CF_ENV_HELD: {
		size_t nl;

		if (n < CF_ENV_HDR_LEN + 1)
			return 0;
		nl = p[CF_ENV_HDR_LEN];
		if (n < CF_ENV_HDR_LEN + 1 + nl + 10)
			return 0;
		return CF_ENV_HDR_LEN + 1 + nl + 10 +
		       CF_HELD_ID_LEN * ((size_t)p[CF_ENV_HDR_LEN + 1 + nl + 8] << 8 |
					 p[CF_ENV_HDR_LEN + 1 + nl + 9]);
	}
	case CF_ENV_ROTATE:
		if (n < CF_ENV_HDR_LEN + CF_ROT_HDR_LEN)
			return 0;
		return CF_ENV_HDR_LEN + CF_ROT_HDR_LEN +
		       ((size_t)p[CF_ENV_HDR_LEN + 74] << 8 | p[CF_ENV_HDR_LEN + 75]);
	case CF_ENV_ROTATE_ACK:
		return n >= CF_ENV_HDR_LEN + CF_ROT_ACK_LEN ? CF_ENV_HDR_LEN + CF_ROT_ACK_LEN : 0;
	default:
		fail_msg("an engine sent an envelope of unknown kind %u", p[0]);
		return 0;
	}
}

static uint32_t env_xid(const uint8_t *e)
{
	return (uint32_t)e[1] << 24 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 8 | e[4];
}

/* The message type of a PROTO envelope, 0 otherwise. */
static uint8_t env_msg_type(const uint8_t *e, size_t len)
{
	return e[0] == CF_ENV_PROTO && len >= CF_ENV_HDR_LEN + MSG_HDR_LEN ? e[CF_ENV_HDR_LEN + 2] : 0;
}

/*
 * How bytes reach an engine: cf_link_input() per piece, or mfsd's way,
 * cf_link_feed() per piece (again with no data while it returns 1) and one
 * cf_link_commit() at the end of the delivery (the group commit).
 */
static bool feed_mode;
/* feed_mode with the asynchronous group commit: begin, store_put, end */
static bool async_mode;

/* Feed bytes to node `to` in pieces of 1..97 bytes (any split must work). */
static void deliver(struct world *w, int to, const uint8_t *p, size_t len)
{
	struct cf_peer *dst = w->n[to].p;

	while (len > 0 && dst->up) {
		size_t k;
		int r;

		w->rnd = w->rnd * 1103515245U + 12345U;
		k = 1 + (w->rnd >> 16) % 97;
		if (k > len)
			k = len;
		if (feed_mode) {
			r = cf_link_feed(dst, p, k, w->now);
			while (r == 1)
				r = cf_link_feed(dst, NULL, 0, w->now);
			if (r == 0 && (len == k || !dst->up) && async_mode) {
				struct cf_batch *b = cf_link_commit_begin(dst, w->now);

				assert_null(cf_link_commit_begin(dst, w->now));	/* one at a time */
				if (b) {
					b->result = store_put(dst->cf->st, b->in, b->n, w->now);
					cf_link_commit_end(b, w->now);
				}
			} else if (r == 0 && (len == k || !dst->up)) {
				cf_link_commit(dst, w->now);
			}
		} else {
			r = cf_link_input(dst, p, k, w->now);
		}
		if (r < 0) {
			/* the daemon closes the connection; the other side sees it drop */
			w->link_errors++;
			link_down(w, "test: link input error");
			return;
		}
		p += k;
		len -= k;
	}
}

/* Move everything node `from` has to send to the other node. */
static bool move(struct world *w, int from)
{
	struct cf_peer *src = w->n[from].p;
	const uint8_t *out;
	size_t n = cf_link_output(src, &out), off = 0;
	uint8_t *copy;

	if (n == 0)
		return false;
	assert_non_null(copy = malloc(n));
	memcpy(copy, out, n);
	cf_link_consume(src, n);
	while (off < n) {
		size_t el = env_len(copy + off, n - off), len;
		uint8_t *e;
		bool drop = false;

		assert_true(el > 0 && el <= n - off);	/* an engine sends whole envelopes */
		len = el;
		assert_non_null(e = malloc(el + 16));
		memcpy(e, copy + off, el);
		if (w->filter)
			w->filter(w, from, e, &len, &drop);
		if (!drop)
			deliver(w, 1 - from, e, len);
		free(e);
		off += el;
	}
	free(copy);
	return true;
}

/* Tick both and move bytes until both are quiet. */
static void run(struct world *w)
{
	for (int i = 0; i < 1000; i++) {
		bool moved;

		cf_tick(w->n[0].cf, w->now);
		cf_tick(w->n[1].cf, w->now);
		moved = move(w, 0);
		moved |= move(w, 1);
		if (!moved)
			return;
	}
	fail_msg("the engines do not come to rest");
}

/* ---- store inspection ---- */

struct metas {
	struct store_key_meta *m;
	size_t n, cap;
};

static int meta_cb(void *arg, const struct store_key_meta *m)
{
	struct metas *ms = arg;

	if (ms->n == ms->cap) {
		ms->cap = ms->cap ? 2 * ms->cap : 64;
		ms->m = realloc(ms->m, ms->cap * sizeof(*ms->m));
		assert_non_null(ms->m);
	}
	ms->m[ms->n++] = *m;
	return 0;
}

#define POOL_STATES ((1U << STORE_PRE_ACTIVE) | (1U << STORE_ACTIVE))

/* Keys of node i (class NULL: all; dir STORE_DIR_ANY: both; mask 0: every state). */
static struct metas list(struct world *w, int i, const char *cls, enum store_direction dir,
			 unsigned mask)
{
	struct metas ms = { 0 };
	struct store_filter f = { .peer = w->n[1 - i].name, .class_name = cls, .dir = dir,
				  .state_mask = mask };

	assert_int_equal(store_list(w->n[i].st, &f, meta_cb, &ms), 0);
	return ms;
}

static const struct store_key_meta *find(const struct metas *ms, const struct store_key_id *id)
{
	for (size_t i = 0; i < ms->n; i++)
		if (!memcmp(ms->m[i].id.b, id->b, STORE_KEY_ID_LEN))
			return &ms->m[i];
	return NULL;
}

static bool has_method(const struct store_key_meta *m, uint16_t id)
{
	for (size_t i = 0; i < m->n_methods; i++)
		if (m->methods[i] == id)
			return true;
	return false;
}

/* Every key of node i, in any state. */
static uint64_t total_keys(struct world *w, int i)
{
	struct store_counts sc;
	uint64_t t = 0;

	assert_int_equal(store_counts(w->n[i].st, NULL, NULL, STORE_DIR_ANY, &sc), 0);
	for (int s = 0; s < STORE_STATE_COUNT; s++)
		t += sc.state[s];
	return t;
}

static size_t depth(struct world *w, int i, const char *cls, enum store_direction dir)
{
	struct cf_class *c = cf_class_by_name(w->n[i].p, cls);
	size_t d = 0;

	assert_non_null(c);
	assert_int_equal(cf_pool_depth(w->n[i].cf, w->n[i].p, c, dir, &d), 0);
	return d;
}

static struct cf_class *cls(struct world *w, int i, const char *name)
{
	struct cf_class *c = cf_class_by_name(w->n[i].p, name);

	assert_non_null(c);
	return c;
}

/* The node that initiates the exchanges of a class. */
static int initiator(struct world *w, const char *name)
{
	bool a = cls(w, 0, name)->initiator, b = cls(w, 1, name)->initiator;

	assert_true(a != b);
	return a ? 0 : 1;
}

/*
 * The pools of a class match: the keys in node 0's pool of one direction are
 * exactly those in node 1's pool of the other, with the same exchange id and
 * suite. Returns the depth of node 0's outbound pool.
 */
static size_t assert_pools_match(struct world *w, const char *c)
{
	size_t ret = 0;

	for (int d = 0; d < 2; d++) {
		struct metas a = list(w, 0, c, (enum store_direction)d, POOL_STATES);
		struct metas b = list(w, 1, c, (enum store_direction)(1 - d), POOL_STATES);

		assert_int_equal(a.n, b.n);
		for (size_t i = 0; i < a.n; i++) {
			const struct store_key_meta *m = find(&b, &a.m[i].id);

			assert_non_null(m);
			assert_int_equal(m->exchange_id_len, a.m[i].exchange_id_len);
			assert_memory_equal(m->exchange_id, a.m[i].exchange_id, m->exchange_id_len);
			assert_int_equal(m->n_methods, a.m[i].n_methods);
			assert_memory_equal(m->methods, a.m[i].methods, m->n_methods * sizeof(uint16_t));
			assert_int_equal(m->hard_expiry, a.m[i].hard_expiry);
		}
		if (d == STORE_OUTBOUND)
			ret = a.n;
		free(a.m);
		free(b.m);
	}
	return ret;
}

/* No key id twice in one store; an id in both stores has opposite directions. */
static void assert_ids_unique(struct world *w)
{
	struct metas a = list(w, 0, NULL, STORE_DIR_ANY, 0);
	struct metas b = list(w, 1, NULL, STORE_DIR_ANY, 0);

	for (size_t i = 0; i < a.n; i++) {
		const struct store_key_meta *m = find(&b, &a.m[i].id);

		for (size_t j = i + 1; j < a.n; j++)
			assert_memory_not_equal(a.m[i].id.b, a.m[j].id.b, STORE_KEY_ID_LEN);
		if (m)
			assert_int_not_equal(m->dir, a.m[i].dir);
	}
	for (size_t i = 0; i < b.n; i++)
		for (size_t j = i + 1; j < b.n; j++)
			assert_memory_not_equal(b.m[i].id.b, b.m[j].id.b, STORE_KEY_ID_LEN);
	free(a.m);
	free(b.m);
}

struct audits {
	const char *what;
	char who[4][STORE_WHO_MAX + 1];
	char detail[4][STORE_DETAIL_MAX + 1];
	int64_t n_keys[4];
	size_t n;
};

static int audit_cb(void *arg, const struct store_audit_rec *r)
{
	struct audits *a = arg;

	if (strcmp(r->what, a->what) != 0 || a->n >= 4)
		return 0;
	snprintf(a->who[a->n], sizeof(a->who[0]), "%s", r->who);
	snprintf(a->detail[a->n], sizeof(a->detail[0]), "%s", r->detail);
	a->n_keys[a->n] = r->n_keys;
	a->n++;
	return 0;
}

static struct audits audits(struct world *w, int i, const char *what)
{
	struct audits a = { .what = what };

	assert_int_equal(store_audit_list(w->n[i].st, 0, audit_cb, &a), 0);
	return a;
}

static bool suite_has(const struct cf_class *c, uint16_t m)
{
	for (size_t i = 0; i < c->n_suite; i++)
		if (c->suite[i] == m)
			return true;
	return false;
}

static bool degraded_says(struct world *w, int i, const char *c, const char *text, bool *closed)
{
	char out[8][CF_REASON_MAX];
	size_t n = cf_class_degraded(w->n[i].cf, w->n[i].p, cls(w, i, c), w->now, out, 8, closed);

	for (size_t k = 0; k < n; k++)
		if (strstr(out[k], text))
			return true;
	return false;
}

static size_t degraded_count(struct world *w, int i, const char *c, bool *closed)
{
	char out[8][CF_REASON_MAX];

	return cf_class_degraded(w->n[i].cf, w->n[i].p, cls(w, i, c), w->now, out, 8, closed);
}

static struct world *world_filled(void)
{
	struct world *w = world_new();

	link_up(w);
	run(w);
	assert_int_equal(w->link_errors, 0);
	return w;
}


/* ---- static key rotation (cf/rotate.c) ---- */

#define GRACE_S 120

/*
 * Give node i a keyring like mfsd's (setup.c): its McEliece pair and the
 * peer's pin as configured files under its directory, the rotation records
 * in <dir>/static when there are any; then a fresh engine with it.
 */
static void node_keyring(struct world *w, int i)
{
	const struct kex_method *m = kex_method_by_id(KEX_ID_MCELIECE460896);
	struct node *n = &w->n[i];
	struct cf_keys *k = calloc(1, sizeof(*k));
	char sk[160], pk[160], pin[160], rec[PATH_MAX];
	struct keyring_slot slot;

	assert_non_null(k);
	snprintf(sk, sizeof(sk), "%s/own.sk", n->dir);
	snprintf(pk, sizeof(pk), "%s/own.pk", n->dir);
	snprintf(pin, sizeof(pin), "%s/pin.pk", n->dir);
	if (access(pin, F_OK) != 0) {	/* the configured files, once */
		assert_int_equal(file_write_atomic(sk, mk[i].sk->p, mk[i].sk->len, FILE_SECRET), 0);
		assert_int_equal(file_write_atomic(pk, mk[i].pk, m->kem->pk_len, 0), 0);
		assert_int_equal(file_write_atomic(pin, mk[1 - i].pk, m->kem->pk_len, 0), 0);
	}
	snprintf(k->dir, sizeof(k->dir), "%s/static", n->dir);
	k->grace_s = GRACE_S;
	assert_int_equal(keyring_own_path(k->dir, m->id, rec, sizeof(rec)), 0);
	if (keyring_load_record(rec, m->id, true, &k->own[0]) != 0)
		assert_int_equal(keyring_load_own(m->id, sk, pk, &k->own[0].cur), 0);
	assert_int_equal(keyring_pin_path(k->dir, w->n[1 - i].name, m->id, rec, sizeof(rec)), 0);
	if (keyring_load_record(rec, m->id, false, &slot) == 0) {
		assert_true(slot.have_base);
		assert_memory_equal(slot.base, mk[1 - i].id, KEYRING_ID_LEN);
		k->pin[0][0] = slot;
	} else {
		assert_int_equal(keyring_load_pin(m->id, pin, mk[1 - i].id, &k->pin[0][0].cur), 0);
	}
	cf_free(n->cf);
	n->cfg.keys = k;
	n->cfg.now = w->now;
	assert_int_equal(cf_new(&n->cfg, n->st, &n->cf), 0);
	n->cfg.keys = NULL;	/* the engine's now */
	assert_non_null(n->p = cf_peer_by_name(n->cf, w->n[1 - i].name));
}

static struct world *world_keyring(void)
{
	struct world *w = world_new();

	node_keyring(w, 0);
	node_keyring(w, 1);
	link_up(w);
	run(w);
	assert_int_equal(w->link_errors, 0);
	return w;
}

static struct keyring_key *new_key(struct world *w, int i)
{
	struct keyring_key *k = NULL;

	assert_int_equal(keyring_generate(KEX_ID_MCELIECE460896, w->n[i].cf->keys->dir, w->now, &k), 0);
	return k;
}

/* Every exchange since the last call worked: one more per class, no error, McEliece used. */
static void assert_exchanges_work(struct world *w, uint64_t before[2])
{
	for (int i = 0; i < 2; i++) {
		struct cf_class *c = cls(w, i, "bulk");

		assert_string_equal(c->last_error, "");
		assert_true(c->exchanges > before[i]);
		assert_true(suite_has(c, KEX_ID_MCELIECE460896));
		before[i] = c->exchanges;
	}
	assert_int_equal(w->link_errors, 0);
	assert_pools_match(w, "bulk");
}

static void rekey_all(struct world *w)
{
	for (int i = 0; i < 2; i++)
		assert_int_equal(cf_rekey(w->n[i].p, NULL, w->now), 0);
}

/*
 * Node 0 rotates its key while exchanges are starting: node 1 re-pins (keeps
 * the old pin for the grace), node 0 gets the acknowledgement, the exchange
 * that named the old key still completes, later ones use the new key; after
 * the grace the old pair is destroyed (files gone) and the old pin dropped;
 * both engines restarted from the records still work with the new key.
 */
static void test_rotate(void **state)
{
	struct world *w;
	struct keyring_key *k;
	uint8_t old[KEYRING_ID_LEN], new[KEYRING_ID_LEN];
	uint64_t ex[2];
	char path[160];
	int o, q;

	(void)state;
	if (!have_mce)
		skip();
	w = world_keyring();
	/* the initiator of bulk rotates: its exchange in flight names the old key in KEX1 */
	o = initiator(w, "bulk");
	q = 1 - o;
	ex[0] = cls(w, 0, "bulk")->exchanges;
	ex[1] = cls(w, 1, "bulk")->exchanges;
	memcpy(old, w->n[o].cf->keys->own[0].cur->id, KEYRING_ID_LEN);
	assert_memory_equal(old, mk[o].id, KEYRING_ID_LEN);
	k = new_key(w, 0);
	memcpy(new, k->id, KEYRING_ID_LEN);
	assert_memory_not_equal(new, old, KEYRING_ID_LEN);

	/* exchanges start (HELLOs queued), then the rotation lands in the middle */
	w->now += 1;
	rekey_all(w);
	cf_tick(w->n[o].cf, w->now);
	cf_tick(w->n[q].cf, w->now);
	assert_int_equal(cf_rot_install(w->n[o].cf, k, w->now), 0);
	assert_memory_equal(w->n[o].cf->keys->own[0].prev->id, old, KEYRING_ID_LEN);
	run(w);
	assert_exchanges_work(w, ex);
	/* node 1 pinned the new key and keeps the old one for the grace */
	assert_memory_equal(w->n[q].cf->keys->pin[0][0].cur->id, new, KEYRING_ID_LEN);
	assert_memory_equal(w->n[q].cf->keys->pin[0][0].prev->id, old, KEYRING_ID_LEN);
	assert_int_equal(w->n[q].p->n_skeys, 2);
	assert_memory_equal(w->n[q].p->skeys[0].peer_pk_id, new, KEYRING_ID_LEN);
	assert_true(w->n[o].p->rot[0].acked);
	assert_true(cf_rot_all_acked(w->n[o].cf, 0));
	assert_memory_equal(w->n[o].p->skeys[0].pk_id, new, KEYRING_ID_LEN);
	assert_int_equal(w->n[o].cf->stats.rotations, 1);
	assert_int_equal(w->n[q].cf->stats.repins, 1);
	/* a second rotation waits for the grace */
	assert_int_equal(cf_rot_request(w->n[o].cf, 0), -EBUSY);

	/*
	 * A peer that still names its old key (as one restored from an older
	 * record would): the previous pin, chosen by the key id, serves it.
	 */
	w->n[o].p->rot[0].acked = false;
	cf_rot_rebuild(w->n[o].cf, w->n[o].p);
	assert_memory_equal(w->n[o].p->skeys[0].pk_id, old, KEYRING_ID_LEN);
	w->now += 1;
	rekey_all(w);
	run(w);
	assert_exchanges_work(w, ex);
	w->n[o].p->rot[0].acked = true;
	cf_rot_rebuild(w->n[o].cf, w->n[o].p);

	/* later exchanges: the new key */
	w->now += 1;
	rekey_all(w);
	run(w);
	assert_exchanges_work(w, ex);

	/* the grace ends: old pair destroyed, old pin dropped */
	snprintf(path, sizeof(path), "%s/own.sk", w->n[o].dir);
	assert_int_equal(access(path, F_OK), 0);
	w->now += GRACE_S + 1;
	cf_tick(w->n[o].cf, w->now);
	cf_tick(w->n[q].cf, w->now);
	assert_null(w->n[o].cf->keys->own[0].prev);
	assert_int_not_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/own.pk", w->n[o].dir);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_null(w->n[q].cf->keys->pin[0][0].prev);
	assert_int_equal(w->n[q].p->n_skeys, 1);
	assert_int_equal(audits(w, o, "static-rotate").n, 1);
	assert_int_equal(audits(w, o, "static-destroy").n, 1);
	assert_int_equal(audits(w, q, "static-repin").n, 1);

	/* both restarted from the records */
	link_down(w, "test: restart");
	node_keyring(w, o);
	node_keyring(w, q);
	assert_memory_equal(w->n[o].cf->keys->own[0].cur->id, new, KEYRING_ID_LEN);
	assert_null(w->n[o].cf->keys->own[0].prev);
	assert_memory_equal(w->n[q].cf->keys->pin[0][0].cur->id, new, KEYRING_ID_LEN);
	ex[0] = ex[1] = 0;
	w->now += 1;
	link_up(w);
	rekey_all(w);
	run(w);
	assert_exchanges_work(w, ex);
	/* and a rotation can start again */
	assert_int_equal(cf_rot_request(w->n[o].cf, KEX_ID_MCELIECE460896), 0);
	uint16_t method = 0;

	assert_true(cf_rot_due(w->n[o].cf, w->now, &method));
	assert_int_equal(method, KEX_ID_MCELIECE460896);
	world_free(w);
}

/*
 * The responder of bulk rotates while the initiator's HELLO is on its way:
 * the initiator started before it re-pinned, so the rotating side must
 * answer with the old key until the acknowledgement (a SELECT naming the
 * new key would meet only the old pin).
 */
static void test_rotate_responder(void **state)
{
	struct world *w;
	uint64_t ex[2];
	int o;

	(void)state;
	if (!have_mce)
		skip();
	w = world_keyring();
	o = 1 - initiator(w, "bulk");
	ex[0] = cls(w, 0, "bulk")->exchanges;
	ex[1] = cls(w, 1, "bulk")->exchanges;
	w->now += 1;
	rekey_all(w);
	cf_tick(w->n[0].cf, w->now);
	cf_tick(w->n[1].cf, w->now);	/* the initiator's HELLO is queued */
	assert_int_equal(cf_rot_install(w->n[o].cf, new_key(w, o), w->now), 0);
	run(w);
	assert_exchanges_work(w, ex);
	assert_true(w->n[o].p->rot[0].acked);
	w->now += 1;
	rekey_all(w);
	run(w);
	assert_exchanges_work(w, ex);
	assert_memory_equal(w->n[o].p->skeys[0].pk_id, w->n[o].cf->keys->own[0].cur->id,
			    KEYRING_ID_LEN);
	world_free(w);
}

/* A restart in the grace period: both keys and both pins come back from the records. */
static void test_rotate_restart_in_grace(void **state)
{
	struct world *w;
	uint8_t old[KEYRING_ID_LEN], new[KEYRING_ID_LEN];
	uint64_t ex[2] = { 0, 0 };
	struct keyring_key *k;

	(void)state;
	if (!have_mce)
		skip();
	w = world_keyring();
	memcpy(old, mk[1].id, KEYRING_ID_LEN);
	k = new_key(w, 1);
	memcpy(new, k->id, KEYRING_ID_LEN);
	assert_int_equal(cf_rot_install(w->n[1].cf, k, w->now), 0);
	run(w);
	link_down(w, "test: restart");
	node_keyring(w, 0);
	node_keyring(w, 1);
	assert_memory_equal(w->n[1].cf->keys->own[0].cur->id, new, KEYRING_ID_LEN);
	assert_memory_equal(w->n[1].cf->keys->own[0].prev->id, old, KEYRING_ID_LEN);
	assert_memory_equal(w->n[0].cf->keys->pin[0][0].cur->id, new, KEYRING_ID_LEN);
	assert_memory_equal(w->n[0].cf->keys->pin[0][0].prev->id, old, KEYRING_ID_LEN);
	/* node 1 announces again on link-up; node 0 has it already and acknowledges */
	w->now += 1;
	link_up(w);
	rekey_all(w);
	run(w);
	assert_exchanges_work(w, ex);
	assert_true(w->n[1].p->rot[0].acked);
	assert_int_equal(w->n[0].cf->stats.repins, 0);
	world_free(w);
}

/* Tamper with the announcement: mode 1 the old id, mode 2 a key byte. */
static void rotate_tamper(struct world *w, int from, uint8_t *e, size_t *len, bool *drop)
{
	(void)drop;
	if (from != 0 || e[0] != CF_ENV_ROTATE)
		return;
	if (w->fmode == 1)
		e[CF_ENV_HDR_LEN + 2] ^= 0x01;
	else if (w->fmode == 2 && *len > CF_ENV_HDR_LEN + CF_ROT_HDR_LEN + 10 && !w->fired) {
		e[CF_ENV_HDR_LEN + CF_ROT_HDR_LEN + 10] ^= 0x80;
		w->fired = true;
	}
}

/*
 * A re-pin is refused when the announcement does not replace the pinned key
 * or the key does not hash to its id: the peer keeps its pin, the rotating
 * side keeps serving it with the old key (exchanges go on), and the old key
 * is never destroyed.
 */
static void test_rotate_refused(void **state)
{
	(void)state;
	if (!have_mce)
		skip();
	for (int mode = 1; mode <= 2; mode++) {
		struct world *w = world_keyring();
		uint64_t ex[2] = { cls(w, 0, "bulk")->exchanges, cls(w, 1, "bulk")->exchanges };

		w->filter = rotate_tamper;
		w->fmode = mode;
		assert_int_equal(cf_rot_install(w->n[0].cf, new_key(w, 0), w->now), 0);
		w->now += 1;
		rekey_all(w);
		run(w);
		assert_true(w->n[0].p->rot[0].refused);
		assert_memory_equal(w->n[1].cf->keys->pin[0][0].cur->id, mk[0].id, KEYRING_ID_LEN);
		assert_null(w->n[1].cf->keys->pin[0][0].prev);
		assert_memory_equal(w->n[0].p->skeys[0].pk_id, mk[0].id, KEYRING_ID_LEN);
		w->now += 1;
		rekey_all(w);
		run(w);
		assert_exchanges_work(w, ex);
		w->now += 10 * GRACE_S;
		cf_tick(w->n[0].cf, w->now);
		assert_non_null(w->n[0].cf->keys->own[0].prev);
		world_free(w);
	}
}

/*
 * The record parser (keyring.h): what mfsd writes parses; relative paths,
 * bad ids, unknown keys, NUL bytes and oversize records do not; a "destroy"
 * line removes a key-sized file and nothing else.
 */
static void test_keyring_record(void **state)
{
	static const char good[] =
		"base cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\n"
		"cur aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 17\n"
		"cur_pk /x/pin-a-mceliece460896-aaaaaaaaaaaaaaaa.pk\n"
		"prev cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc 12\n"
		"prev_pk /etc/mfsd/peers/a.pk\n";
	const char *bad[] = {
		"cur aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 17\ncur_pk rel.pk\n",
		"cur aaaa 17\ncur_pk /x.pk\n",
		"cur aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 17\ncur_pk /x.pk\nwhat /y\n",
		"cur_pk /x.pk\n",
		"cur aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1x\ncur_pk /x.pk\n",
	};
	char dir[] = "/tmp/mfs-keyring-XXXXXX", rec[96], victim[96], text[512];
	uint8_t *big = calloc(1, KEYRING_RECORD_MAX + 1);
	struct keyring_slot slot;

	(void)state;
	assert_int_equal(keyring_check_record((const uint8_t *)good, strlen(good)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(keyring_check_record((const uint8_t *)bad[i], strlen(bad[i])), -EBADMSG);
	assert_int_equal(keyring_check_record((const uint8_t *)"cur \0", 5), -EBADMSG);
	assert_non_null(big);
	memset(big, 'a', KEYRING_RECORD_MAX + 1);
	assert_int_equal(keyring_check_record(big, KEYRING_RECORD_MAX + 1), -EBADMSG);
	free(big);

	/* a damaged record that names another file under "destroy": left alone */
	assert_non_null(mkdtemp(dir));
	snprintf(victim, sizeof(victim), "%s/precious.txt", dir);
	assert_int_equal(file_write_atomic(victim, "keep me\n", 8, 0), 0);
	snprintf(rec, sizeof(rec), "%s/pin-x-mceliece460896", dir);
	snprintf(text, sizeof(text), "cur %064d 1\ncur_pk %s/none.pk\ndestroy %s\n", 0, dir, victim);
	assert_int_equal(file_write_atomic(rec, text, strlen(text), FILE_SECRET), 0);
	assert_int_equal(keyring_recover(dir), -EIO);
	assert_int_not_equal(keyring_load_record(rec, KEX_ID_MCELIECE460896, false, &slot), 0);
	assert_int_equal(access(victim, F_OK), 0);
	unlink(victim);
	unlink(rec);
	rmdir(dir);
}

/* ---- reloading the configuration (cf_reconfigure) ---- */

/*
 * Both sides reload while exchanges are in flight: bulk gets new
 * watermarks, strict is removed, a class "extra" is added. The exchanges in
 * flight finish, the link never drops, bulk refills to its new high
 * watermark, extra fills from nothing. Then a peer is added and removed on
 * one side: the existing peer keeps its slot and its link.
 */
static void test_reconfigure(void **state)
{
	struct world *w = world_filled();
	struct cf_peer *before[2] = { w->n[0].p, w->n[1].p };
	size_t slot[2];

	(void)state;
	rekey_all(w);
	w->now += 1;
	cf_tick(w->n[0].cf, w->now);
	cf_tick(w->n[1].cf, w->now);	/* exchanges are now in flight */
	for (int i = 0; i < 2; i++) {
		struct cf_config *c = calloc(1, sizeof(*c));
		struct cf_peer_cfg *pc;

		assert_non_null(c);
		*c = w->n[i].cfg;
		pc = &c->peers[0];
		pc->classes[0].policy.pool_low = 2 * BULK_HIGH - 4;
		pc->classes[0].policy.pool_high = 2 * BULK_HIGH;
		pc->classes[1] = pc->classes[0];	/* replaces strict */
		snprintf(pc->classes[1].policy.name, sizeof(pc->classes[1].policy.name), "extra");
		pc->classes[1].policy.pool_low = 2;
		pc->classes[1].policy.pool_high = 4;
		assert_int_equal(cf_reconfigure(w->n[i].cf, c, NULL, w->now, slot), 0);
		assert_int_equal(slot[0], 0);
		assert_ptr_equal(cf_peer_by_name(w->n[i].cf, w->n[1 - i].name), before[i]);
		w->n[i].cfg = *c;
		free(c);
	}
	assert_null(cf_class_by_name(w->n[0].p, "strict"));
	assert_non_null(cf_class_by_name(w->n[0].p, "extra"));
	run(w);
	assert_int_equal(w->link_errors, 0);
	assert_true(w->n[0].p->up && w->n[1].p->up);
	assert_string_equal(cls(w, 0, "bulk")->last_error, "");
	assert_string_equal(cls(w, 1, "bulk")->last_error, "");
	for (int i = 0; i < 2; i++) {
		assert_true(depth(w, i, "bulk", STORE_OUTBOUND) >= 2 * BULK_HIGH);
		assert_true(depth(w, i, "extra", STORE_INBOUND) >= 4);
	}
	assert_pools_match(w, "bulk");
	assert_pools_match(w, "extra");

	/* a peer added (no link yet), then removed: node-b keeps slot 0 and its link */
	struct cf_config *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	*c = w->n[0].cfg;
	c->n_peers = 2;
	c->peers[1] = c->peers[0];
	snprintf(c->peers[1].name, sizeof(c->peers[1].name), "node-c");
	assert_int_equal(cf_reconfigure(w->n[0].cf, c, NULL, w->now, slot), 0);
	assert_int_equal(slot[0], 0);
	assert_int_equal(slot[1], 1);
	assert_int_equal(w->n[0].cf->n_peers, 2);
	assert_non_null(cf_class_by_name(&w->n[0].cf->peers[1], "extra"));
	c->n_peers = 1;
	assert_int_equal(cf_reconfigure(w->n[0].cf, c, NULL, w->now, slot), 0);
	assert_int_equal(w->n[0].cf->n_peers, 1);
	assert_null(cf_peer_by_name(w->n[0].cf, "node-c"));
	assert_true(w->n[0].p->up);
	/* another node id is refused */
	snprintf(c->node_id, sizeof(c->node_id), "someone-else");
	assert_int_equal(cf_reconfigure(w->n[0].cf, c, NULL, w->now, NULL), -EINVAL);
	free(c);
	rekey_all(w);
	w->now += 1;
	run(w);
	assert_string_equal(cls(w, 0, "bulk")->last_error, "");
	assert_int_equal(w->link_errors, 0);
	world_free(w);
}

/* ---- tests ---- */

/* Node i, as master, gets n keys from its KME and shares their IDs. */
static void qkd_prefetch(struct world *w, int i, size_t n)
{
	uint8_t ids[CF_QKD_IDS_MAX][CF_QKD_ID_LEN];
	char kme[16], sae[16];

	assert_true(n <= CF_QKD_IDS_MAX && qn.n + n <= QK_MAX);
	for (size_t j = 0; j < n; j++) {
		struct qkey *q = &qn.k[qn.n++];

		memset(q, 0, sizeof(*q));
		q->master = i;
		qn.seq++;
		memset(q->id, 0, sizeof(q->id));
		memcpy(q->id, &qn.seq, sizeof(qn.seq));
		q->id[15] = (uint8_t)i;
		memset(q->key, (int)(qn.seq & 0xff), sizeof(q->key));
		memcpy(ids[j], q->id, CF_QKD_ID_LEN);
	}
	snprintf(kme, sizeof(kme), "kme-%d", i);
	snprintf(sae, sizeof(sae), "sae-%d", i);
	assert_int_equal(cf_qkd_share(w->n[i].p, kme, sae, (const uint8_t (*)[CF_QKD_ID_LEN])ids, n), 0);
}

static void rekey_bulk(struct world *w)
{
	w->now += 1;
	assert_int_equal(cf_rekey(w->n[0].p, "bulk", w->now), 0);
	assert_int_equal(cf_rekey(w->n[1].p, "bulk", w->now), 0);
	run(w);
}

/*
 * QKD in the engine: key IDs shared ahead (QKD_IDS / QKD_READY), used once
 * per exchange; outage policy for an optional and a required qkd014.
 */
static void test_qkd(void **state)
{
	struct world *w;
	uint64_t ex;
	size_t used = 0;
	bool closed;

	(void)state;
	memset(&qn, 0, sizeof(qn));
	qkd_mode = 1;
	w = world_new();
	qkd_mode = 0;
	link_up(w);
	qkd_prefetch(w, 0, 8);
	qkd_prefetch(w, 1, 8);
	run(w);
	assert_int_equal(w->link_errors, 0);
	/* QKD works at both ends: an optional qkd014 counts as required and is used. */
	for (int i = 0; i < 2; i++) {
		assert_true(suite_has(cls(w, i, "bulk"), KEX_ID_QKD014));
		assert_false(suite_has(cls(w, i, "strict"), KEX_ID_QKD014));
		assert_false(cls(w, i, "bulk")->qkd_reduced);
	}
	assert_pools_match(w, "bulk");
	for (size_t k = 0; k < qn.n; k++) {
		assert_true(qn.k[k].used_master == qn.k[k].used_slave);
		used += qn.k[k].used_master;
	}
	assert_int_equal(used, cls(w, 0, "bulk")->exchanges);

	/* This node's KME fails, the peer's works: never on the peer's word. */
	qn.outage[0] = true;
	ex = cls(w, 0, "bulk")->exchanges;
	rekey_bulk(w);
	assert_int_equal(cls(w, 0, "bulk")->exchanges, ex);
	assert_true(cls(w, initiator(w, "bulk"), "bulk")->last_error[0] != '\0');
	assert_true(degraded_says(w, 0, "bulk", "QKD alarm since", &closed));
	assert_false(degraded_says(w, 1, "bulk", "QKD alarm", &closed));
	assert_false(closed);	/* the pool is still there */

	/* Both see the outage: the optional method is left out, and it says so. */
	qn.outage[1] = true;
	w->now += CF_RETRY_MAX_S;
	rekey_bulk(w);
	for (int i = 0; i < 2; i++) {
		struct cf_class *c = cls(w, i, "bulk");

		assert_true(c->exchanges > ex);
		assert_false(suite_has(c, KEX_ID_QKD014));
		assert_true(c->qkd_reduced);
		assert_true(degraded_says(w, i, "bulk", "reduced factor set: qkd014 left out", &closed));
	}
	assert_pools_match(w, "bulk");

	/* The KMEs recover: the next exchange has QKD again. */
	qn.outage[0] = qn.outage[1] = false;
	qkd_prefetch(w, 0, 4);
	qkd_prefetch(w, 1, 4);
	run(w);
	rekey_bulk(w);
	for (int i = 0; i < 2; i++) {
		assert_true(suite_has(cls(w, i, "bulk"), KEX_ID_QKD014));
		assert_false(cls(w, i, "bulk")->qkd_reduced);
		assert_false(degraded_says(w, i, "bulk", "reduced factor set", &closed));
	}
	/* A key ID is used once: replaying the table's used keys cannot be taken again. */
	for (size_t k = 0; k < qn.n; k++)
		assert_true(qn.k[k].used_master == qn.k[k].used_slave);
	world_free(w);

	/* Required qkd014: an outage stops the exchanges, the pool stays until hard expiry. */
	memset(&qn, 0, sizeof(qn));
	qkd_mode = 2;
	w = world_new();
	qkd_mode = 0;
	link_up(w);
	qkd_prefetch(w, 0, 8);
	qkd_prefetch(w, 1, 8);
	run(w);
	assert_true(suite_has(cls(w, 0, "bulk"), KEX_ID_QKD014));
	ex = cls(w, 0, "bulk")->exchanges;
	qn.outage[0] = qn.outage[1] = true;
	rekey_bulk(w);
	assert_int_equal(cls(w, 0, "bulk")->exchanges, ex);
	assert_true(depth(w, 0, "bulk", STORE_OUTBOUND) >= BULK_HIGH);
	assert_false(cls(w, 0, "bulk")->qkd_reduced);
	assert_true(degraded_says(w, 0, "bulk", "QKD alarm since", &closed));
	assert_false(closed);
	w->now = T0 + HARD_S;
	cf_tick(w->n[0].cf, w->now);
	cf_tick(w->n[1].cf, w->now);
	assert_true(degraded_says(w, 0, "bulk", "no outbound key left", &closed));
	assert_true(closed);
	/* the strict class (no QKD) carries on */
	run(w);
	assert_true(depth(w, 0, "strict", STORE_OUTBOUND) >= STRICT_HIGH);
	world_free(w);
}

/*
 * Both pools of both classes fill up to the high watermark at both ends, and
 * one side's outbound is the other side's inbound: same ids, same exchange,
 * same suite, same key bytes (taken out of both stores and compared).
 */
static void test_fill_and_match(void **state)
{
	struct world *w = world_filled();
	const char *names[] = { "bulk", "strict" };
	const uint32_t highs[] = { BULK_HIGH, STRICT_HIGH };

	(void)state;
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < 2; i++) {
			struct cf_class *c = cls(w, i, names[k]);
			bool closed = true;

			assert_true(depth(w, i, names[k], STORE_OUTBOUND) >= highs[k]);
			assert_true(depth(w, i, names[k], STORE_INBOUND) >= highs[k]);
			/* at most one batch more than asked for (a WANT that crossed) */
			assert_true(depth(w, i, names[k], STORE_OUTBOUND) <= highs[k] + highs[k] / 4);
			assert_true(c->exchanges >= 1);
			assert_string_equal(c->last_error, "");
			assert_int_equal(degraded_count(w, i, names[k], &closed), 0);
			assert_false(closed);
		}
		assert_pools_match(w, names[k]);
		/* the same suite at both ends, with every method both list */
		assert_int_equal(cls(w, 0, names[k])->n_suite, cls(w, 1, names[k])->n_suite);
		assert_memory_equal(cls(w, 0, names[k])->suite, cls(w, 1, names[k])->suite,
				    cls(w, 0, names[k])->n_suite * sizeof(uint16_t));
		assert_true(suite_has(cls(w, 0, names[k]), KEX_ID_PSK));
	}
	assert_int_equal(cls(w, 0, "bulk")->n_suite, have_mce ? 4 : 3);

	/* the key bytes: take every outbound key of one side, fetch it by id at the other */
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < 2; i++) {
			size_t n = depth(w, i, names[k], STORE_OUTBOUND);
			struct store_key *out = calloc(n, sizeof(*out));

			assert_non_null(out);
			assert_int_equal(store_take(w->n[i].st, w->n[1 - i].name, names[k], "enc",
						    w->now, n, out), 0);
			for (size_t j = 0; j < n; j++) {
				struct store_key in;

				assert_int_equal(store_get_by_id(w->n[1 - i].st, w->n[i].name, names[k],
								 &out[j].meta.id, "dec", w->now, &in),
						 0);
				assert_int_equal(in.meta.key_len, HS_KEY_LEN);
				assert_int_equal(out[j].meta.key_len, HS_KEY_LEN);
				assert_memory_equal(in.key->p, out[j].key->p, HS_KEY_LEN);
				if (j > 0)
					assert_memory_not_equal(out[j].key->p, out[j - 1].key->p,
								HS_KEY_LEN);
				store_key_done(&in);
			}
			for (size_t j = 0; j < n; j++)
				store_key_done(&out[j]);
			free(out);
		}
	}
	/* the pools are empty now: both refill */
	w->now += 1;
	run(w);
	assert_true(depth(w, 0, "bulk", STORE_OUTBOUND) >= BULK_HIGH);
	assert_true(depth(w, 1, "strict", STORE_OUTBOUND) >= STRICT_HIGH);
	assert_pools_match(w, "bulk");
	assert_pools_match(w, "strict");
	assert_ids_unique(w);
	world_free(w);
}

/* Rekey when rekey_interval has passed (and not before), and when asked, from either side. */
static void test_rekey(void **state)
{
	struct world *w = world_filled();
	uint64_t xb[2], xs[2];
	int ib = initiator(w, "bulk"), is = initiator(w, "strict");

	int64_t due_b, due_s, next;

	(void)state;
	for (int i = 0; i < 2; i++) {
		xb[i] = cls(w, i, "bulk")->exchanges;
		xs[i] = cls(w, i, "strict")->exchanges;
		/* the interval, ended early by at most 10 % jitter */
		next = cf_class_next_rekey(w->n[i].p, cls(w, i, "bulk"));
		assert_true(next <= T0 + REKEY_S && next >= T0 + REKEY_S - REKEY_S / 10);
	}
	/* the elected initiator's timer is the one that counts */
	due_b = cf_class_next_rekey(w->n[ib].p, cls(w, ib, "bulk"));
	due_s = cf_class_next_rekey(w->n[is].p, cls(w, is, "strict"));
	/* not yet due */
	w->now = (due_b < due_s ? due_b : due_s) - 1;
	run(w);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(cls(w, i, "bulk")->exchanges, xb[i]);
		assert_int_equal(cls(w, i, "strict")->exchanges, xs[i]);
	}
	/* due: one exchange per class, at both ends */
	w->now = due_b > due_s ? due_b : due_s;
	run(w);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(cls(w, i, "bulk")->exchanges, xb[i] + 1);
		assert_int_equal(cls(w, i, "strict")->exchanges, xs[i] + 1);
		assert_int_equal(cls(w, i, "bulk")->last_rekey, w->now);
		next = cf_class_next_rekey(w->n[i].p, cls(w, i, "bulk"));
		assert_true(next <= w->now + REKEY_S && next >= w->now + REKEY_S - REKEY_S / 10);
	}
	assert_pools_match(w, "bulk");
	assert_pools_match(w, "strict");

	/* on request at the responder of bulk (it sends WANT), then at the initiator of strict */
	w->now += 10;
	assert_int_equal(cf_rekey(w->n[1 - ib].p, "bulk", w->now), 0);
	run(w);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(cls(w, i, "bulk")->exchanges, xb[i] + 2);
		assert_int_equal(cls(w, i, "strict")->exchanges, xs[i] + 1);
	}
	w->now += 10;
	assert_int_equal(cf_rekey(w->n[is].p, "strict", w->now), 0);
	run(w);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(cls(w, i, "bulk")->exchanges, xb[i] + 2);
		assert_int_equal(cls(w, i, "strict")->exchanges, xs[i] + 2);
	}
	/* every class */
	w->now += 10;
	assert_int_equal(cf_rekey(w->n[0].p, NULL, w->now), 0);
	run(w);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(cls(w, i, "bulk")->exchanges, xb[i] + 3);
		assert_int_equal(cls(w, i, "strict")->exchanges, xs[i] + 3);
	}
	assert_int_equal(cf_rekey(w->n[0].p, "nope", w->now), -ENOENT);
	assert_pools_match(w, "bulk");
	assert_pools_match(w, "strict");
	assert_ids_unique(w);
	assert_int_equal(w->link_errors, 0);
	world_free(w);
}

/* Every pool key of node i derived without method m. */
static void assert_no_pool_key_with(struct world *w, int i, uint16_t m)
{
	struct metas ms = list(w, i, NULL, STORE_DIR_ANY, POOL_STATES);

	for (size_t k = 0; k < ms.n; k++)
		assert_false(has_method(&ms.m[k], m));
	free(ms.m);
}

/*
 * Revoke PSK at one end: REVOKE reaches the peer, both withdraw its keys
 * and audit it, bulk re-exchanges without it, strict (which requires it)
 * fails closed and says why; the revocation survives a restart; restore
 * brings back the full suite at both ends.
 */
static void test_revoke_restore(void **state)
{
	struct world *w = world_filled();
	size_t before = 0, withdrawn = 0;
	uint64_t xs[2];
	const struct cf_revoked *rv;
	struct audits au;
	struct store_counts sc;
	bool closed = false;

	(void)state;
	for (int i = 0; i < 2; i++)
		xs[i] = cls(w, i, "strict")->exchanges;
	before = depth(w, 0, "bulk", STORE_OUTBOUND) + depth(w, 0, "bulk", STORE_INBOUND) +
		 depth(w, 0, "strict", STORE_OUTBOUND) + depth(w, 0, "strict", STORE_INBOUND);
	w->now += 5;
	assert_int_equal(cf_revoke(w->n[0].cf, KEX_ID_PSK, "admin", "psk leaked", w->now, &withdrawn),
			 0);
	assert_int_equal(withdrawn, before);	/* every key of both classes used the PSK */
	assert_int_equal(cf_revoke(w->n[0].cf, KEX_ID_PSK, "admin", "again", w->now, NULL),
			 -EALREADY);
	run(w);
	assert_int_equal(w->link_errors, 0);

	/* both ends: revoked, keys withdrawn, audited */
	assert_non_null(rv = cf_revoked_find(w->n[0].cf, KEX_ID_PSK));
	assert_string_equal(rv->origin, "local");
	assert_string_equal(rv->reason, "psk leaked");
	assert_non_null(rv = cf_revoked_find(w->n[1].cf, KEX_ID_PSK));
	assert_string_equal(rv->origin, "peer:node-a");
	assert_string_equal(rv->reason, "psk leaked");
	for (int i = 0; i < 2; i++) {
		assert_int_equal(store_counts(w->n[i].st, NULL, NULL, STORE_DIR_ANY, &sc), 0);
		assert_int_equal(sc.state[STORE_WITHDRAWN], before);
		assert_no_pool_key_with(w, i, KEX_ID_PSK);
		au = audits(w, i, "method-revoke");
		assert_int_equal(au.n, 1);
		assert_string_equal(au.who[0], i == 0 ? "admin" : "peer:node-a");
		assert_int_equal(au.n_keys[0], (int64_t)before);
		assert_non_null(strstr(au.detail[0], "psk leaked"));
		au = audits(w, i, "withdraw-method");
		assert_int_equal(au.n, 1);
	}
	/* bulk: re-exchanged without the PSK, full pools again */
	for (int i = 0; i < 2; i++) {
		assert_false(suite_has(cls(w, i, "bulk"), KEX_ID_PSK));
		assert_true(suite_has(cls(w, i, "bulk"), KEX_ID_MLKEM768));
		assert_true(depth(w, i, "bulk", STORE_OUTBOUND) >= BULK_HIGH);
		assert_false(degraded_says(w, i, "bulk", "fail closed", &closed));
		assert_false(closed);
	}
	assert_int_equal(cls(w, 0, "bulk")->n_suite, have_mce ? 3 : 2);
	assert_pools_match(w, "bulk");
	/* strict: fail closed with the reason, no exchange tried */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(depth(w, i, "strict", STORE_OUTBOUND), 0);
		assert_int_equal(cls(w, i, "strict")->exchanges, xs[i]);
		assert_null(cls(w, i, "strict")->x);
		assert_true(degraded_says(w, i, "strict", "required method is revoked", &closed));
		assert_true(closed);
	}

	/* the revocation survives a restart of node b (the link drops meanwhile) */
	link_down(w, "restart");
	cf_free(w->n[1].cf);
	node_engine(w, 1);
	assert_non_null(rv = cf_revoked_find(w->n[1].cf, KEX_ID_PSK));
	assert_string_equal(rv->origin, "peer:node-a");
	assert_string_equal(rv->reason, "psk leaked");
	w->now += 5;
	link_up(w);
	run(w);
	for (int i = 0; i < 2; i++)
		assert_int_equal(cls(w, i, "strict")->exchanges, i == 1 ? 0 : xs[i]);
	assert_int_equal(depth(w, 0, "strict", STORE_OUTBOUND), 0);

	/* restore at a: RESTORE lifts b's copy, both go back to the full suite */
	w->now += 5;
	assert_int_equal(cf_restore(w->n[0].cf, KEX_ID_PSK, "admin", w->now), 0);
	assert_int_equal(cf_restore(w->n[0].cf, KEX_ID_PSK, "admin", w->now), -ENOENT);
	run(w);
	assert_int_equal(w->link_errors, 0);
	for (int i = 0; i < 2; i++) {
		assert_null(cf_revoked_find(w->n[i].cf, KEX_ID_PSK));
		au = audits(w, i, "method-restore");
		assert_int_equal(au.n, 1);
		assert_string_equal(au.who[0], i == 0 ? "admin" : "peer:node-a");
		assert_true(suite_has(cls(w, i, "bulk"), KEX_ID_PSK));
		assert_true(suite_has(cls(w, i, "strict"), KEX_ID_PSK));
		assert_true(depth(w, i, "strict", STORE_OUTBOUND) >= STRICT_HIGH);
		assert_false(degraded_says(w, i, "strict", "revoked", &closed));
		assert_false(closed);
	}
	assert_int_equal(cls(w, 0, "bulk")->n_suite, have_mce ? 4 : 3);
	assert_pools_match(w, "bulk");
	assert_pools_match(w, "strict");
	assert_ids_unique(w);

	/* the restore is persisted too */
	link_down(w, "restart");
	cf_free(w->n[1].cf);
	node_engine(w, 1);
	assert_null(cf_revoked_find(w->n[1].cf, KEX_ID_PSK));
	world_free(w);
}

/*
 * A revocation that arrives while an exchange with the method is in flight:
 * the exchange is discarded at both ends (the responder must not store keys
 * derived with a method revoked before its CONFIRM arrived), and the class
 * re-exchanges without it. Both orders: the responder revokes just before
 * the initiator's CONFIRM reaches it, and the initiator revokes just before
 * the responder's CONFIRM reaches it.
 */
static void revoke_on_confirm(struct world *w, int from, uint8_t *e, size_t *len, bool *drop)
{
	(void)drop;
	if (w->fired || env_msg_type(e, *len) != MSGT_CONFIRM || from != w->fmode)
		return;
	w->fired = true;
	/* revoke at the receiving end before the CONFIRM reaches it */
	assert_int_equal(cf_revoke(w->n[1 - from].cf, KEX_ID_PSK, "admin", "race", w->now, NULL), 0);
}

static void test_revoke_during_exchange(void **state)
{
	(void)state;
	for (int who = 0; who < 2; who++) {
		struct world *w = world_filled();
		int ib = initiator(w, "bulk");

		w->now += 5;
		assert_int_equal(cf_rekey(w->n[ib].p, "bulk", w->now), 0);
		w->filter = revoke_on_confirm;
		/* who 0: the initiator's CONFIRM is held up, the responder revokes; 1: the reverse */
		w->fmode = who == 0 ? ib : 1 - ib;
		run(w);
		assert_true(w->fired);
		w->filter = NULL;
		w->now += 2;
		run(w);
		assert_int_equal(w->link_errors, 0);
		for (int i = 0; i < 2; i++) {
			assert_non_null(cf_revoked_find(w->n[i].cf, KEX_ID_PSK));
			assert_no_pool_key_with(w, i, KEX_ID_PSK);
			assert_false(suite_has(cls(w, i, "bulk"), KEX_ID_PSK));
			assert_true(depth(w, i, "bulk", STORE_OUTBOUND) >= BULK_HIGH);
		}
		assert_pools_match(w, "bulk");
		assert_ids_unique(w);
		world_free(w);
	}
}

/*
 * The last message rule: the link drops between the responder's store and
 * the initiator's receipt of COMMIT (the COMMIT is lost). The initiator
 * stores nothing; the responder's keys stay unmatched in its pool; the next
 * exchange (after the 30 s timeout, or after a reconnect) works; no key id
 * is ever stored twice.
 */
static void drop_commit(struct world *w, int from, uint8_t *e, size_t *len, bool *drop)
{
	(void)from;
	(void)len;
	if (e[0] == CF_ENV_COMMIT && w->fcount++ == 0) {
		*drop = true;
		w->ftarget = (int)env_xid(e);
	}
}

static void test_commit_lost(void **state)
{
	(void)state;
	for (int how = 0; how < 2; how++) {
		struct world *w = world_filled();
		int ib = initiator(w, "bulk"), rb = 1 - ib;
		struct metas im, rm;
		uint64_t ti = total_keys(w, ib), tr = total_keys(w, rb);
		size_t orphans = 0, dib = depth(w, ib, "bulk", STORE_OUTBOUND);

		w->now += 5;
		assert_int_equal(cf_rekey(w->n[ib].p, "bulk", w->now), 0);
		w->filter = drop_commit;
		run(w);
		w->filter = NULL;
		assert_int_equal(w->fcount, 1);
		/* the responder stored, the initiator did not */
		assert_int_equal(total_keys(w, ib), ti);
		assert_true(total_keys(w, rb) > tr);
		assert_non_null(cls(w, ib, "bulk")->x);

		if (how == 0) {
			/* the exchange times out; it is retried and works */
			w->now += CF_XCHG_TIMEOUT_S + 1;
			run(w);
			assert_null(cls(w, ib, "bulk")->x);
			assert_int_equal(total_keys(w, ib), ti);
			assert_string_not_equal(cls(w, ib, "bulk")->last_error, "");
			w->now += CF_RETRY_MIN_S + 1;
			run(w);
		} else {
			/* the link drops and comes back */
			link_down(w, "test: link lost");
			assert_null(cls(w, ib, "bulk")->x);
			w->now += 1;
			link_up(w);
			run(w);
		}
		assert_int_equal(w->link_errors, 0);
		assert_null(cls(w, ib, "bulk")->x);
		assert_true(total_keys(w, ib) > ti);
		assert_true(depth(w, ib, "bulk", STORE_OUTBOUND) > dib);
		assert_string_equal(cls(w, ib, "bulk")->last_error, "");

		if (how == 1) {
			/* the reconnect reconciled: the orphan is withdrawn, the pools match */
			struct audits a = audits(w, rb, "withdraw-exchange");

			assert_int_equal(cls(w, rb, "bulk")->orphans_withdrawn, 1);
			assert_int_equal(a.n, 1);
			assert_true(a.n_keys[0] > 0);
			assert_int_equal(audits(w, ib, "withdraw-exchange").n, 0);
			assert_pools_match(w, "bulk");
			assert_pools_match(w, "strict");
			rm = list(w, rb, "bulk", STORE_DIR_ANY, 1U << STORE_WITHDRAWN);
			assert_int_equal((int64_t)rm.n, a.n_keys[0]);
			for (size_t k = 0; k < rm.n; k++)
				assert_int_equal(rm.m[k].dir == STORE_INBOUND, k < rm.n / 2);
			free(rm.m);
			/* a second reconnect withdraws nothing more */
			link_down(w, "test: again");
			w->now += 1;
			link_up(w);
			run(w);
			assert_int_equal(cls(w, rb, "bulk")->orphans_withdrawn, 1);
			assert_int_equal(audits(w, rb, "withdraw-exchange").n, 1);
			assert_pools_match(w, "bulk");
		} else {
			/* no reconnect, no reconciliation: the orphan stays */
			assert_int_equal(cls(w, rb, "bulk")->orphans_withdrawn, 0);
		}

		/* every key of the initiator is at the responder; the orphans only there */
		im = list(w, ib, "bulk", STORE_DIR_ANY, 0);
		rm = list(w, rb, "bulk", STORE_DIR_ANY, 0);
		for (size_t k = 0; k < im.n; k++) {
			const struct store_key_meta *m = find(&rm, &im.m[k].id);

			assert_non_null(m);
			assert_int_not_equal(m->dir, im.m[k].dir);
		}
		for (size_t k = 0; k < rm.n; k++)
			if (!find(&im, &rm.m[k].id))
				orphans++;
		assert_int_equal(orphans, rm.n - im.n);
		assert_true(orphans > 0);
		free(im.m);
		free(rm.m);
		assert_ids_unique(w);
		world_free(w);
	}
}

/*
 * A tampered, truncated or reordered message of an exchange aborts that
 * exchange only: nothing is stored for it at either end, and the engines
 * recover on their own with the next exchange (the retry after a failure).
 * A broken envelope (unknown kind) closes the link; after a reconnect the
 * exchanges work again.
 */
enum tamper { T_FLIP, T_TRUNCATE, T_REORDER, T_BAD_KIND, T_DUPLICATE };

static void tamper(struct world *w, int from, uint8_t *e, size_t *len, bool *drop)
{
	int idx;

	if (e[0] != CF_ENV_PROTO || env_xid(e) == 0)
		return;
	idx = w->fcount++;
	if (w->fmode == T_REORDER) {
		/* hold the target back and send it after the next envelope of that side */
		if (idx == w->ftarget) {
			w->held = malloc(*len);
			assert_non_null(w->held);
			memcpy(w->held, e, *len);
			w->held_len = *len;
			*drop = true;
		} else if (w->held) {
			uint8_t *h = w->held;

			w->held = NULL;
			deliver(w, 1 - from, e, *len);
			deliver(w, 1 - from, h, w->held_len);
			free(h);
			*drop = true;
			w->fired = true;
		}
		return;
	}
	if (idx != w->ftarget)
		return;
	w->fired = true;
	switch (w->fmode) {
	case T_FLIP: {
		size_t body = *len - CF_ENV_HDR_LEN - MSG_HDR_LEN;

		e[CF_ENV_HDR_LEN + MSG_HDR_LEN + body / 2] ^= 0x20;
		break;
	}
	case T_TRUNCATE: {
		/* a shorter frame with a consistent header: body cut by 1 (and a half) */
		uint8_t *f = e + CF_ENV_HDR_LEN;
		uint32_t bl = (uint32_t)f[3] << 24 | (uint32_t)f[4] << 16 | (uint32_t)f[5] << 8 | f[6];
		uint32_t nl = bl > 2 ? bl / 2 : 0;

		f[3] = (uint8_t)(nl >> 24);
		f[4] = (uint8_t)(nl >> 16);
		f[5] = (uint8_t)(nl >> 8);
		f[6] = (uint8_t)nl;
		*len = CF_ENV_HDR_LEN + MSG_HDR_LEN + nl;
		break;
	}
	case T_BAD_KIND:
		e[0] = 0x7f;
		break;
	case T_DUPLICATE:
		deliver(w, 1 - from, e, *len);
		break;
	}
}

/* What a tampered exchange may leave behind. */
enum outcome {
	ABORTED,	/* nothing stored at either end */
	ORPHANS,	/* the initiator stored nothing; the responder may hold unmatched keys */
	COMPLETES,	/* harmless (a replayed last message): the exchange works */
};

static void tamper_case(struct world *w, enum tamper mode, int target, enum outcome outcome)
{
	int ib = initiator(w, "bulk"), rb = 1 - ib;
	uint64_t ti = total_keys(w, ib), tr = total_keys(w, rb), x = cls(w, ib, "bulk")->exchanges;
	int errs = w->link_errors;

	w->now += 5;
	assert_int_equal(cf_rekey(w->n[ib].p, "bulk", w->now), 0);
	w->filter = tamper;
	w->fmode = mode;
	w->ftarget = target;
	w->fcount = 0;
	w->fired = false;
	run(w);
	w->filter = NULL;
	assert_true(w->fired);
	if (outcome == COMPLETES) {
		assert_int_equal(w->link_errors, errs);
		assert_int_equal(cls(w, ib, "bulk")->exchanges, x + 1);
		assert_true(total_keys(w, ib) > ti);
		assert_int_equal(total_keys(w, ib) - ti, total_keys(w, rb) - tr);
		assert_pools_match(w, "bulk");
		return;
	}
	/* nothing stored for the broken exchange (but the responder's orphans) */
	assert_int_equal(total_keys(w, ib), ti);
	if (outcome == ABORTED)
		assert_int_equal(total_keys(w, rb), tr);
	tr = total_keys(w, rb);
	assert_int_equal(cls(w, ib, "bulk")->exchanges, x);
	if (mode == T_BAD_KIND) {
		assert_int_equal(w->link_errors, errs + 1);
		assert_false(w->n[0].p->up);
		link_up(w);
	} else {
		/* the link stays; the exchange failed at the initiator (or waits for COMMIT) */
		assert_int_equal(w->link_errors, errs);
		assert_true(w->n[0].p->up && w->n[1].p->up);
		if (cls(w, ib, "bulk")->x)
			w->now += CF_XCHG_TIMEOUT_S + 1;
		run(w);
		assert_null(cls(w, ib, "bulk")->x);
		assert_string_not_equal(cls(w, ib, "bulk")->last_error, "");
	}
	/* the next exchange works without being asked for again */
	w->now += CF_RETRY_MIN_S + 1;
	run(w);
	assert_int_equal(w->link_errors, errs + (mode == T_BAD_KIND));
	assert_int_equal(cls(w, ib, "bulk")->exchanges, x + 1);
	assert_string_equal(cls(w, ib, "bulk")->last_error, "");
	assert_true(total_keys(w, ib) > ti);
	assert_int_equal(total_keys(w, ib) - ti, total_keys(w, rb) - tr);
	if (outcome == ABORTED)
		assert_pools_match(w, "bulk");
}

static void test_tamper(void **state)
{
	struct world *w = world_filled();

	(void)state;
	/* the PROTO envelopes of one exchange: HELLO SELECT KEX1 KEX2 CONFIRM_R CONFIRM_I */
	for (int k = 0; k < 6; k++) {
		tamper_case(w, T_FLIP, k, ABORTED);
		tamper_case(w, T_TRUNCATE, k, ABORTED);
	}
	for (int k = 0; k < 4; k++)
		tamper_case(w, T_DUPLICATE, k, ABORTED);
	/* a replayed CONFIRM_I reaches a responder that is done: ignored */
	tamper_case(w, T_DUPLICATE, 5, COMPLETES);
	/* CONFIRM_R before KEX2 */
	tamper_case(w, T_REORDER, 3, ABORTED);
	tamper_case(w, T_BAD_KIND, 2, ABORTED);
	/*
	 * A replayed CONFIRM_R: the initiator gives up after its CONFIRM went
	 * out, so the responder keeps unmatched keys (as when COMMIT is lost).
	 * Last: the pools no longer match afterwards.
	 */
	tamper_case(w, T_DUPLICATE, 4, ORPHANS);
	assert_ids_unique(w);
	world_free(w);
}

/*
 * Pool continuity: with the link down, keys are drawn as usual (past soft
 * expiry too) and the class says why it is degraded; at hard expiry nothing
 * can be drawn and the class is fail-closed. Back up, the pools refill.
 */
static void test_continuity(void **state)
{
	struct world *w = world_filled();
	int a = 0;
	size_t n = depth(w, a, "bulk", STORE_OUTBOUND);
	int64_t down = w->now + 1, step;
	struct store_key k;
	bool closed = true;
	const uint8_t *out;

	(void)state;
	w->now = down;
	link_down(w, "test: peer unreachable");
	step = (HARD_S - 2) / (int64_t)n;
	for (size_t i = 0; i + 1 < n; i++) {
		w->now += step;
		cf_tick(w->n[0].cf, w->now);
		cf_tick(w->n[1].cf, w->now);
		assert_int_equal(cf_link_output(w->n[0].p, &out), 0);
		assert_int_equal(store_take(w->n[a].st, w->n[1 - a].name, "bulk", "enc", w->now, 1, &k),
				 0);
		store_key_done(&k);
		assert_true(degraded_says(w, a, "bulk", "peer unreachable since", &closed));
		assert_false(closed);
	}
	assert_true(w->now > T0 + REKEY_S);	/* past soft expiry */
	assert_true(depth(w, a, "bulk", STORE_OUTBOUND) >= 1);
	/* hard expiry: nothing to draw, fail closed */
	w->now = T0 + HARD_S;
	cf_tick(w->n[0].cf, w->now);
	cf_tick(w->n[1].cf, w->now);
	assert_int_equal(store_take(w->n[a].st, w->n[1 - a].name, "bulk", "enc", w->now, 1, &k),
			 -ENOKEY);
	for (int i = 0; i < 2; i++) {
		assert_true(degraded_says(w, i, "bulk", "no outbound key left", &closed));
		assert_true(closed);
		assert_true(degraded_says(w, i, "strict", "no outbound key left", &closed));
		assert_true(closed);
	}
	/* back up: the pools refill and the class is no longer fail-closed */
	link_up(w);
	run(w);
	for (int i = 0; i < 2; i++) {
		assert_true(depth(w, i, "bulk", STORE_OUTBOUND) >= BULK_HIGH);
		assert_false(degraded_says(w, i, "bulk", "fail closed", &closed));
		assert_false(closed);
	}
	assert_pools_match(w, "bulk");
	assert_pools_match(w, "strict");
	world_free(w);
}

/*
 * Node ids may be 64 characters (config.h): a revocation from such a peer
 * (origin "peer:" + 64 characters, longer than the store's "who") must
 * still withdraw its keys and be audited.
 */
static void test_revoke_long_peer_name(void **state)
{
	char a[65], b[65];
	struct world *w;
	struct store_counts sc;
	size_t withdrawn = 0;

	(void)state;
	memset(a, 'a', 64);
	a[64] = '\0';
	memset(b, 'b', 64);
	b[64] = '\0';
	w = world_new_named(a, b);
	link_up(w);
	run(w);
	assert_true(depth(w, 1, "bulk", STORE_OUTBOUND) >= BULK_HIGH);
	w->now += 5;
	assert_int_equal(cf_revoke(w->n[0].cf, KEX_ID_PSK, "admin", "broken", w->now, &withdrawn), 0);
	assert_true(withdrawn > 0);
	run(w);
	assert_non_null(cf_revoked_find(w->n[1].cf, KEX_ID_PSK));
	assert_int_equal(store_counts(w->n[1].st, NULL, NULL, STORE_DIR_ANY, &sc), 0);
	assert_int_equal(sc.state[STORE_WITHDRAWN], withdrawn);
	assert_no_pool_key_with(w, 1, KEX_ID_PSK);
	assert_int_equal(audits(w, 1, "method-revoke").n, 1);
	w->now += 5;
	assert_int_equal(cf_restore(w->n[0].cf, KEX_ID_PSK, "admin", w->now), 0);
	run(w);
	assert_null(cf_revoked_find(w->n[1].cf, KEX_ID_PSK));
	assert_int_equal(audits(w, 1, "method-restore").n, 1);
	world_free(w);
}

/* The same runs with mfsd's feed + group commit. */
static void test_fill_and_match_feed(void **state)
{
	feed_mode = true;
	test_fill_and_match(state);
	feed_mode = false;
}

static void test_commit_lost_feed(void **state)
{
	feed_mode = true;
	test_commit_lost(state);
	feed_mode = false;
}

static void test_fill_and_match_async(void **state)
{
	feed_mode = async_mode = true;
	test_fill_and_match(state);
	feed_mode = async_mode = false;
}

static void test_commit_lost_async(void **state)
{
	feed_mode = async_mode = true;
	test_commit_lost(state);
	feed_mode = async_mode = false;
}

static void test_revoke_during_exchange_feed(void **state)
{
	feed_mode = true;
	test_revoke_during_exchange(state);
	feed_mode = false;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fill_and_match),
		cmocka_unit_test(test_rekey),
		cmocka_unit_test(test_revoke_restore),
		cmocka_unit_test(test_revoke_during_exchange),
		cmocka_unit_test(test_commit_lost),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_continuity),
		cmocka_unit_test(test_revoke_long_peer_name),
		cmocka_unit_test(test_fill_and_match_feed),
		cmocka_unit_test(test_commit_lost_feed),
		cmocka_unit_test(test_revoke_during_exchange_feed),
		cmocka_unit_test(test_fill_and_match_async),
		cmocka_unit_test(test_commit_lost_async),
		cmocka_unit_test(test_rotate),
		cmocka_unit_test(test_rotate_responder),
		cmocka_unit_test(test_rotate_restart_in_grace),
		cmocka_unit_test(test_rotate_refused),
		cmocka_unit_test(test_keyring_record),
		cmocka_unit_test(test_reconfigure),
		cmocka_unit_test(test_qkd),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
