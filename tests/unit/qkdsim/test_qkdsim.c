/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qkdsim: configuration, QKD link key generation and accounting, the KMA
 * relay hop (authentication, one-time use of link key), end-to-end relay
 * through trusted nodes and the KSA semantics of enc_keys/dec_keys/status.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/file.h"
#include "qkdsim/qconf.h"
#include "qkdsim/qctl.h"
#include "qkdsim/qnet.h"

static const char chain[] =
	"[qkdsim]\n"
	"seed = 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
	"max_key_per_request = 16\n"
	"[node office]\nkme_id = kme-office\nsae = sae-office\n"
	"[node relay]\nkme_id = kme-relay\n"
	"[node dc]\nkme_id = kme-dc\nsae = sae-dc, sae-dc2\n"
	"[link office-relay]\nnodes = office relay\nrate = 25600\nqber = 2.5\npool = 64k\n"
	"[link relay-dc]\nnodes = relay, dc\nrate = 25600\nqber = 3\npool = 64k\n";

static struct qconf *parse_ok(const char *text)
{
	struct qconf *c = NULL;
	struct qconf_error err;
	int r = qconf_parse(text, strlen(text), "t.conf", "/etc", &c, &err);

	if (r < 0)
		fail_msg("parse failed: %s", err.text);
	return c;
}

static void parse_bad(const char *text, unsigned line, const char *reason)
{
	struct qconf *c = (struct qconf *)1;
	struct qconf_error err;

	assert_int_equal(qconf_parse(text, strlen(text), "t.conf", "/etc", &c, &err), -EINVAL);
	assert_null(c);
	if (err.line != line || !strstr(err.reason, reason))
		fail_msg("want line %u '%s', got '%s'", line, reason, err.text);
}

static void test_config(void **state)
{
	struct qconf *c = parse_ok(chain);
	char path[512];
	struct qconf_error err;
	const char *root = getenv("MFS_SOURCE_ROOT");

	(void)state;
	assert_int_equal(c->n_nodes, 3);
	assert_int_equal(c->n_links, 2);
	assert_int_equal(c->links[0].threshold_cp, 1100);	/* default 11 % */
	assert_int_equal(c->links[0].qber_cp, 250);
	assert_int_equal(c->links[1].qber_cp, 300);
	assert_int_equal(c->links[1].a, 1);
	assert_int_equal(c->links[1].b, 2);
	assert_int_equal(c->links[0].pool_bits, 64000);
	assert_int_equal(c->nodes[2].n_saes, 2);
	assert_int_equal(qconf_sae_node(c, "sae-dc2"), 2);
	assert_int_equal(c->key_size, 256);
	assert_true(c->have_seed);
	free(c);

	/* The shipped example parses. */
	if (root) {
		snprintf(path, sizeof(path), "%s/examples/qkdsim.conf", root);
		assert_int_equal(qconf_load(path, &c, &err), 0);
		assert_int_equal(c->n_links, 2);
		assert_non_null(strstr(c->control, "examples/qkdsim.sock"));
		free(c);
	}

	parse_bad("[qkdsim]\nfoo = 1\n", 2, "unknown key");
	parse_bad("[node a]\nkme_id = x\n[node a]\n", 3, "defined twice");
	parse_bad("[node a]\n", 1, "kme_id missing");
	parse_bad("[node a]\nkme_id=k1\n[node b]\nkme_id=k2\n[link l]\nnodes = a c\nrate=1\n",
		  5, "unknown node 'c'");
	parse_bad("[node a]\nkme_id=k1\n[node b]\nkme_id=k2\n[link l]\nnodes = a a\n", 6,
		  "two different nodes");
	parse_bad("[node a]\nkme_id=k1\n[node b]\nkme_id=k2\n[link l]\nnodes = a b\nrate=1\nqber=2.555\n",
		  8, "at most two decimals");
	parse_bad("[node a]\nkme_id=k1\n[node b]\nkme_id=k2\n[link l]\nnodes = a b\nrate=1\nqber=51\n",
		  8, "out of range");
	parse_bad("[node a]\nkme_id=k1\n[node b]\nkme_id=k1\n[link l]\nnodes = a b\nrate=1\n", 0,
		  "kme_id 'k1' used by two nodes");
	parse_bad("[node a]\nkme_id=k1\nsae=s\n[node b]\nkme_id=k2\nsae = s\n[link l]\nnodes = a b\nrate=1\n",
		  0, "SAE 's' attached twice");
	parse_bad("[node a]\nkme_id=k1\n[node b]\nkme_id=k2\n[link l]\nnodes = a b\n", 5, "rate missing");
	parse_bad("[node a]\nkme_id=k1\n[node b]\nkme_id=k2\n[link l]\nnodes = a b\nrate=1\n"
		  "[link m]\nnodes = b a\nrate = 2\n", 8, "already joined");
	parse_bad("[node a/b]\n", 1, "node name");
	parse_bad("[node a]\nkme_id=k\x01\n", 2, "control character");
	parse_bad("[node a]\nkme_id=k1\n", 0, "at least two");
	parse_bad("key = 1\n", 1, "outside a section");
}

static struct qnet *net_new(const char *text)
{
	struct qnet *n = calloc(1, sizeof(*n));

	assert_non_null(n);
	assert_int_equal(qnet_init(n, parse_ok(text), 0), 0);
	return n;
}

static void net_free(struct qnet *n)
{
	qnet_free(n);
	free(n);
}

/* Link key accounting: rate, identical ends, deterministic stream, full store, alarm. */
static void test_link_generation(void **state)
{
	struct qnet *n = net_new(chain), *m = net_new(chain);
	struct qlink *l = &n->links[0];
	size_t cap = l->end[0].ring->len;

	(void)state;
	assert_int_equal(qnet_tick(n, 1000), 0);
	/* 25600 bit/s for 1 s = exactly 100 blocks of 256 bits, at both ends. */
	assert_int_equal(l->produced_bits, 25600);
	assert_int_equal(qlink_avail(l, 0), 3200);
	assert_int_equal(qlink_avail(l, 1), 3200);
	assert_memory_equal(l->end[0].ring->p, l->end[1].ring->p, 3200);
	/* Same seed, same stream; the other link's stream differs. */
	assert_int_equal(qnet_tick(m, 1000), 0);
	assert_memory_equal(l->end[0].ring->p, m->links[0].end[1].ring->p, 3200);
	assert_memory_not_equal(l->end[0].ring->p, n->links[1].end[0].ring->p, 3200);
	/* Half a block of credit waits for the next tick. */
	assert_int_equal(qnet_tick(n, 1005), 0);
	assert_int_equal(l->produced_bits, 25600);
	assert_int_equal(qnet_tick(n, 1010), 0);
	assert_int_equal(l->produced_bits, 25856);
	/* The store fills up and stops there. */
	assert_int_equal(qnet_tick(n, 100000), 0);
	assert_int_equal(qlink_avail(l, 0), cap);
	assert_int_equal(l->produced_bits, 8 * cap);

	/* An eavesdropper: QBER 25 % > 11 %, alarm, no key; removed: key again. */
	assert_int_equal(qnet_eavesdrop(m, "relay-dc", true), 0);
	assert_int_equal(qnet_eavesdrop(m, "nope", true), -ENOENT);
	assert_int_equal(qnet_tick(m, 2000), 0);
	assert_true(m->links[1].alarm);
	assert_int_equal(m->links[1].qber_cp, 2500);
	assert_int_equal(m->links[1].alarms, 1);
	assert_false(m->links[0].alarm);
	assert_int_equal(m->links[1].produced_bits, 25600);
	assert_int_equal(m->links[0].produced_bits, 51200);
	assert_int_equal(qnet_tick(m, 3000), 0);
	assert_int_equal(m->links[1].produced_bits, 25600);
	assert_int_equal(qnet_eavesdrop(m, "relay-dc", false), 0);
	assert_int_equal(qnet_tick(m, 3000), 0);
	assert_false(m->links[1].alarm);
	assert_int_equal(qnet_tick(m, 4000), 0);
	assert_int_equal(m->links[1].produced_bits, 51200);
	assert_int_equal(m->links[1].alarms, 1);
	/* Events: placed, alarm, removed, cleared. */
	assert_int_equal(m->n_events, 4);
	assert_true(m->events[1].alarm);
	assert_non_null(strstr(m->events[1].text, "relay-dc"));
	net_free(n);
	net_free(m);
}

static void hdr(struct qrelay_hdr *h, const char *link, const char *from, const char *to)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->link, sizeof(h->link), "%s", link);
	snprintf(h->from, sizeof(h->from), "%s", from);
	snprintf(h->to, sizeof(h->to), "%s", to);
	snprintf(h->src, sizeof(h->src), "%s", from);
	snprintf(h->dst, sizeof(h->dst), "%s", to);
	snprintf(h->master, sizeof(h->master), "sae-a");
	snprintf(h->slave, sizeof(h->slave), "sae-b");
	memset(h->key_id, 0x42, 16);
}

/* One hop: authenticated, one-time pad, link key used once at each end. */
static void test_relay_hop(void **state)
{
	struct qnet *n = net_new(chain);
	struct qlink *l = &n->links[0];
	uint8_t key[32], got[QLINK_RELAY_KEY_MAX], msg[QLINK_RELAY_MSG_MAX], msg2[QLINK_RELAY_MSG_MAX];
	struct qrelay_hdr h, gh;
	struct wbuf w = wbuf_init(msg, sizeof(msg)), w2 = wbuf_init(msg2, sizeof(msg2));
	size_t klen;
	uint64_t head0, head1;

	(void)state;
	memset(key, 0xa5, sizeof(key));
	hdr(&h, "office-relay", "office", "relay");
	/* No link key yet: -EAGAIN, nothing taken. */
	assert_int_equal(qlink_relay_seal(l, 0, &h, key, sizeof(key), &w), -EAGAIN);
	assert_int_equal(qnet_tick(n, 1000), 0);
	w = wbuf_init(msg, sizeof(msg));
	assert_int_equal(qlink_relay_seal(l, 0, &h, key, sizeof(key), &w), 0);
	assert_int_equal(l->end[0].head, 64);	/* 32 MAC key + 32 pad */
	assert_int_equal(l->end[1].head, 0);
	/* The key is not in the message in clear. */
	assert_null(memmem(msg, w.len, key, sizeof(key)));
	/* Wrong link: refused, nothing changes. */
	assert_int_equal(qlink_relay_open(&n->links[1], 0, msg, w.len, &gh, got, &klen), -EINVAL);
	/* Any flipped bit: MAC fails, receiver unchanged. */
	for (size_t i = 0; i < w.len; i++) {
		uint8_t bad[QLINK_RELAY_MSG_MAX];
		int r;

		memcpy(bad, msg, w.len);
		bad[i] ^= 0x01;
		r = qlink_relay_open(l, 1, bad, w.len, &gh, got, &klen);
		assert_true(r == -EKEYREJECTED || r == -EBADMSG || r == -EINVAL ||
			    r == -EAGAIN || r == -EMSGSIZE);
		assert_int_equal(l->end[1].head, 0);
	}
	/* Truncated: malformed. */
	assert_int_equal(qlink_relay_open(l, 1, msg, w.len - 1, &gh, got, &klen), -EBADMSG);
	assert_int_equal(qlink_relay_open(l, 1, msg, w.len, &gh, got, &klen), 0);
	assert_int_equal(klen, sizeof(key));
	assert_memory_equal(got, key, sizeof(key));
	assert_memory_equal(gh.key_id, h.key_id, 16);
	assert_string_equal(gh.slave, "sae-b");
	assert_int_equal(l->end[1].head, 64);
	assert_int_equal(l->consumed_bits[0], 512);
	assert_int_equal(l->consumed_bits[1], 512);
	/* Replay: the offset is used, refused. */
	assert_int_equal(qlink_relay_open(l, 1, msg, w.len, &gh, got, &klen), -EALREADY);

	/* A lost message: the next one burns the link key the lost one used. */
	w = wbuf_init(msg, sizeof(msg));
	assert_int_equal(qlink_relay_seal(l, 0, &h, key, sizeof(key), &w), 0);	/* lost */
	assert_int_equal(qlink_relay_seal(l, 0, &h, key, sizeof(key), &w2), 0);
	head0 = l->end[0].head;
	assert_int_equal(qlink_relay_open(l, 1, msg2, w2.len, &gh, got, &klen), 0);
	head1 = l->end[1].head;
	assert_int_equal(head0, head1);
	assert_int_equal(head1, 192);
	/* ... and the late one is now a reuse. */
	assert_int_equal(qlink_relay_open(l, 1, msg, w.len, &gh, got, &klen), -EALREADY);
	/* Consumed link key is wiped. */
	for (size_t i = 0; i < 192; i++)
		assert_int_equal(l->end[1].ring->p[i], 0);
	net_free(n);
}

/* The three-node chain: end-to-end keys through the trusted relay node. */
static void test_enc_dec(void **state)
{
	struct qnet *n = net_new(chain);
	struct qnet_keys enc, dec, dec2;
	struct qnet_status st;
	uint8_t ids[4][16];
	uint64_t before0, before1;

	(void)state;
	assert_int_equal(qnet_tick(n, 1000), 0);	/* 3200 bytes per link end */
	assert_int_equal(qnet_status(n, 0, "sae-office", "sae-dc", &st), 0);
	assert_string_equal(st.source_kme, "kme-office");
	assert_string_equal(st.target_kme, "kme-dc");
	assert_int_equal(st.hops, 2);
	assert_int_equal(st.stored_key_count, 3200 / 64);
	assert_string_equal(st.alarm_links, "");

	assert_int_equal(qnet_enc_keys(n, 0, "sae-office", "sae-dc", 4, 256, &enc), 0);
	assert_int_equal(enc.number, 4);
	assert_int_equal(enc.bytes, 32);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(enc.ids[i][6] >> 4, 4);	/* UUID v4 */
		memcpy(ids[i], enc.ids[i], 16);
	}
	/* Exactly 4 × (32 + 32) bytes of link key used on each link, at both ends. */
	for (int li = 0; li < 2; li++)
		for (int e = 0; e < 2; e++)
			assert_int_equal(n->links[li].consumed_bits[e], 8 * 4 * 64);
	assert_int_equal(n->nodes[1].relayed, 4);
	assert_int_equal(n->nodes[2].relayed, 4);
	assert_int_equal(n->nodes[2].n_keys, 4);
	assert_int_equal(qnet_status(n, 0, "sae-office", "sae-dc", &st), 0);
	assert_int_equal(st.stored_key_count, 3200 / 64 - 4);

	/* Only the named slave at its own node gets them (401 rule). */
	assert_int_equal(qnet_dec_keys(n, 2, "sae-dc2", "sae-office",
				       (const uint8_t (*)[16])ids, 1, &dec), -EACCES);
	assert_int_equal(qnet_dec_keys(n, 0, "sae-dc", "sae-office",
				       (const uint8_t (*)[16])ids, 1, &dec), -EACCES);
	assert_int_equal(qnet_dec_keys(n, 2, "sae-dc", "sae-dc2",
				       (const uint8_t (*)[16])ids, 1, &dec), -EACCES);
	/* All or nothing: one unknown ID fails the whole request. */
	{
		uint8_t mixed[2][16];

		memcpy(mixed[0], ids[0], 16);
		memset(mixed[1], 0x77, 16);
		assert_int_equal(qnet_dec_keys(n, 2, "sae-dc", "sae-office",
					       (const uint8_t (*)[16])mixed, 2, &dec), -ENOENT);
		assert_non_null(strstr(qnet_why(n), "not found"));
		memcpy(mixed[1], ids[0], 16);
		assert_int_equal(qnet_dec_keys(n, 2, "sae-dc", "sae-office",
					       (const uint8_t (*)[16])mixed, 2, &dec), -EINVAL);
		assert_int_equal(n->nodes[2].n_keys, 4);
	}
	/* The slave gets the same keys for the same IDs, in its order. */
	{
		uint8_t order[2][16];

		memcpy(order[0], ids[3], 16);
		memcpy(order[1], ids[1], 16);
		assert_int_equal(qnet_dec_keys(n, 2, "sae-dc", "sae-office",
					       (const uint8_t (*)[16])order, 2, &dec), 0);
		assert_memory_equal(dec.keys->p, enc.keys->p + 3 * 32, 32);
		assert_memory_equal(dec.keys->p + 32, enc.keys->p + 32, 32);
		assert_memory_equal(dec.ids[0], ids[3], 16);
	}
	/* Served once: the same ID again is not found. */
	assert_int_equal(qnet_dec_keys(n, 2, "sae-dc", "sae-office",
				       (const uint8_t (*)[16])&ids[3], 1, &dec2), -ENOENT);
	assert_int_equal(n->nodes[2].n_keys, 2);
	qnet_keys_free(&dec);

	/* Bad requests. */
	assert_int_equal(qnet_enc_keys(n, 0, "sae-dc", "sae-office", 1, 256, &dec), -EACCES);
	assert_int_equal(qnet_enc_keys(n, 0, "sae-office", "nobody", 1, 256, &dec), -EINVAL);
	assert_int_equal(qnet_enc_keys(n, 0, "sae-office", "sae-dc", 1, 260, &dec), -EINVAL);
	assert_string_equal(qnet_why(n), "size shall be a multiple of 8");
	assert_int_equal(qnet_enc_keys(n, 0, "sae-office", "sae-dc", 17, 256, &dec), -EINVAL);
	assert_int_equal(qnet_enc_keys(n, 0, "sae-office", "sae-dc", 1, 8200, &dec), -EINVAL);

	/* Not enough link key for all: nothing relayed, nothing consumed. */
	before0 = n->links[0].end[0].head;
	before1 = n->links[1].end[1].head;
	assert_int_equal(qnet_enc_keys(n, 0, "sae-office", "sae-dc", 16, 8192, &dec), -EAGAIN);
	assert_int_equal(n->links[0].end[0].head, before0);
	assert_int_equal(n->links[1].end[1].head, before1);
	assert_int_equal(n->nodes[2].n_keys, 2);

	/* Eavesdropper on the relay link: keys stop, the alarm names it. */
	assert_int_equal(qnet_eavesdrop(n, "relay-dc", true), 0);
	assert_int_equal(qnet_tick(n, 1100), 0);
	assert_int_equal(qnet_enc_keys(n, 0, "sae-office", "sae-dc", 1, 256, &dec), -ENETUNREACH);
	assert_non_null(strstr(qnet_why(n), "QBER alarm on link relay-dc"));
	assert_int_equal(n->links[0].end[0].head, before0);
	assert_int_equal(qnet_status(n, 0, "sae-office", "sae-dc", &st), 0);
	assert_int_equal(st.stored_key_count, 0);
	assert_string_equal(st.alarm_links, "relay-dc");
	/* Keys already at the far end stay usable. */
	assert_int_equal(qnet_dec_keys(n, 2, "sae-dc", "sae-office",
				       (const uint8_t (*)[16])ids, 1, &dec), 0);
	assert_memory_equal(dec.keys->p, enc.keys->p, 32);
	qnet_keys_free(&dec);
	/* Removed: keys flow again. */
	assert_int_equal(qnet_eavesdrop(n, "relay-dc", false), 0);
	assert_int_equal(qnet_tick(n, 1200), 0);
	assert_int_equal(qnet_enc_keys(n, 0, "sae-office", "sae-dc", 1, 256, &dec), 0);
	qnet_keys_free(&dec);
	qnet_keys_free(&enc);
	net_free(n);
}

/* A ring of four: an alarmed link is routed around; status still reports it. */
static void test_route_detour(void **state)
{
	static const char ring[] =
		"[node a]\nkme_id=ka\nsae=sa\n[node b]\nkme_id=kb\n[node c]\nkme_id=kc\nsae=sc\n"
		"[node d]\nkme_id=kd\n"
		"[link ab]\nnodes=a b\nrate=100k\n[link bc]\nnodes=b c\nrate=100k\n"
		"[link cd]\nnodes=c d\nrate=100k\n[link da]\nnodes=d a\nrate=100k\n";
	struct qnet *n = net_new(ring);
	struct qnet_path p;
	struct qnet_status st;
	struct qnet_keys enc, dec;

	(void)state;
	assert_int_equal(qnet_tick(n, 1000), 0);
	assert_int_equal(qnet_route(n, 0, 2, &p), 0);
	assert_int_equal(p.n_hops, 2);
	assert_int_equal(p.link[0], 0);	/* ab, then bc */
	assert_int_equal(p.link[1], 1);
	assert_int_equal(qnet_eavesdrop(n, "bc", true), 0);
	assert_int_equal(qnet_tick(n, 1001), 0);
	assert_int_equal(qnet_route(n, 0, 2, &p), 0);
	assert_int_equal(p.link[0], 3);	/* da, then cd */
	assert_int_equal(p.link[1], 2);
	assert_int_equal(p.node[1], 3);
	assert_int_equal(qnet_status(n, 0, "sa", "sc", &st), 0);
	assert_string_equal(st.alarm_links, "bc");
	assert_true(st.stored_key_count > 0);
	assert_int_equal(qnet_enc_keys(n, 0, "sa", "sc", 2, 512, &enc), 0);
	assert_int_equal(n->links[1].consumed_bits[0], 0);
	assert_int_equal(n->links[3].consumed_bits[0], 8 * 2 * (64 + 32));
	assert_int_equal(qnet_dec_keys(n, 2, "sc", "sa", (const uint8_t (*)[16])enc.ids, 2, &dec), 0);
	assert_memory_equal(dec.keys->p, enc.keys->p, 128);
	qnet_keys_free(&enc);
	qnet_keys_free(&dec);
	/* Both ways cut: unreachable. */
	assert_int_equal(qnet_eavesdrop(n, "cd", true), 0);
	assert_int_equal(qnet_tick(n, 1002), 0);
	assert_int_equal(qnet_route(n, 0, 2, &p), -ENETUNREACH);
	net_free(n);
}

static void test_ctl(void **state)
{
	struct qctl_req req;
	char err[160];
	struct qnet *n = net_new(chain);
	static uint8_t out[QCTL_RESP_MAX];
	struct wbuf w = wbuf_init(out, sizeof(out));

	(void)state;
#define P(s) qctl_parse((const uint8_t *)(s), strlen(s), &req, err, sizeof(err))
	assert_int_equal(P("status\n"), 0);
	assert_int_equal(req.op, QCTL_STATUS);
	assert_int_equal(P("status json"), 0);
	assert_int_equal(req.op, QCTL_STATUS_JSON);
	assert_int_equal(P("eavesdrop relay-dc on\n"), 0);
	assert_int_equal(req.op, QCTL_EAVESDROP);
	assert_string_equal(req.link, "relay-dc");
	assert_true(req.on);
	assert_int_equal(P("eavesdrop  relay-dc   off"), 0);
	assert_false(req.on);
	assert_int_equal(P("eavesdrop relay-dc"), -EBADMSG);
	assert_int_equal(P("eavesdrop relay/dc on"), -EBADMSG);
	assert_int_equal(P("status json extra"), -EBADMSG);
	assert_int_equal(P("status\n\n"), -EBADMSG);
	assert_int_equal(P("reboot"), -EBADMSG);
	assert_int_equal(P(""), -EBADMSG);
	assert_int_equal(qctl_parse((const uint8_t *)"status\0", 7, &req, err, sizeof(err)), -EBADMSG);
	{
		char big[QCTL_REQ_MAX + 2];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		assert_int_equal(P(big), -EMSGSIZE);
	}
	/* Run: eavesdrop raises the alarm at once; status shows it. */
	assert_int_equal(P("eavesdrop relay-dc on"), 0);
	assert_int_equal(qctl_run(n, &req, &w), 0);
	w = wbuf_init(out, sizeof(out));
	assert_int_equal(P("status json"), 0);
	assert_int_equal(qctl_run(n, &req, &w), 0);
	out[w.len] = '\0';
	assert_non_null(strstr((char *)out, "\"alarms_active\":1"));
	assert_non_null(strstr((char *)out, "\"name\":\"relay-dc\",\"a\":\"relay\",\"b\":\"dc\""));
	assert_non_null(strstr((char *)out, "\"alarm\":true"));
	w = wbuf_init(out, sizeof(out));
	assert_int_equal(P("eavesdrop nope on"), 0);
	assert_int_equal(qctl_run(n, &req, &w), -ENOENT);
	out[w.len] = '\0';
	assert_string_equal((char *)out, "error: unknown link 'nope'\n");
#undef P
	net_free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_link_generation),
		cmocka_unit_test(test_relay_hop),
		cmocka_unit_test(test_enc_dec),
		cmocka_unit_test(test_route_detour),
		cmocka_unit_test(test_ctl),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
