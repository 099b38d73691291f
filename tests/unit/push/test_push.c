/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfsd's push layer (src/push/push.h) on a real SQLite key store and control
 * engine (tests/common/push_env.c): HELLO and versions, GET_KEY and
 * GET_KEY_BY_ID (once), push_allow by uid and gid, outbound subscriptions
 * (ahead, top-up on first use, RETIRE on volume with a rekey asked),
 * inbound subscriptions fed by TAKEN (queued without a subscriber),
 * INSTALLED forwarded as PEER_INSTALLED, state and malformed-input errors
 * (fatal, nothing delivered), and the status record in cf_class.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "client/pushwire.h"
#include "push/push.h"
#include "kex/kex.h"
#include "proto/pool.h"
#include "push_env.h"

#define NOW PUSH_ENV_NOW
#define MAXMSG 64

struct out {
	struct pushwire_msg m[MAXMSG];
	uint8_t frames[MAXMSG][PUSHWIRE_FRAME_MAX];
	size_t n;
};

static struct push_env env;
static struct cf_class *cls;

static int setup(void **state)
{
	(void)state;
	assert_int_equal(push_env_open(&env, 4096), 0);
	cls = &env.cf->peers[0].classes[0];
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	push_env_close(&env);
	return 0;
}

/* Empty the outbound pool, so that a test sees the keys of its own put first. */
static void drain(void)
{
	for (;;) {
		struct store_key k = { 0 };

		if (store_take(env.st, PUSH_ENV_PEER, PUSH_ENV_CLASS, "drain", NOW, 1, &k) < 0)
			break;
		store_key_done(&k);
	}
}

static void send_msg(struct push_conn *pc, const struct pushwire_msg *m)
{
	uint8_t buf[PUSHWIRE_FRAME_MAX];
	int n = pushwire_encode(m, buf, sizeof(buf));

	assert_true(n > 0);
	/* byte by byte: the input is reassembled */
	for (int i = 0; i < n; i++)
		push_conn_input(pc, buf + i, 1, NOW);
}

/* Take and parse everything the daemon wrote. */
static void take_out(struct push_conn *pc, struct out *o)
{
	const uint8_t *p;
	size_t n = push_conn_output(pc, &p), off = 0;

	o->n = 0;
	while (off < n) {
		int fl = pushwire_frame_len(p + off, n - off);

		assert_true(fl > 0);
		assert_true(o->n < MAXMSG);
		memcpy(o->frames[o->n], p + off, (size_t)fl);
		assert_int_equal(pushwire_parse(o->frames[o->n], (size_t)fl, &o->m[o->n]), 0);
		o->n++;
		off += (size_t)fl;
	}
	push_conn_consume(pc, n);
}

static struct push_conn *hello(uint32_t uid, uint32_t gid)
{
	struct push_conn *pc;
	struct out o;

	assert_int_equal(push_conn_new(env.push, uid, gid, 4242, &pc), 0);
	send_msg(pc, &(struct pushwire_msg){ .type = PW_HELLO, .version_min = 1, .version_max = 2,
					     .name = { "test", 4 } });
	take_out(pc, &o);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.m[0].type, PW_HELLO_OK);
	assert_int_equal(o.m[0].version, 1);
	return pc;
}

static struct pushwire_msg pool_msg(enum pushwire_type t)
{
	return (struct pushwire_msg){ .type = t, .peer = { PUSH_ENV_PEER, 6 },
				      .class_name = { PUSH_ENV_CLASS, 8 } };
}

static void expect_error(struct out *o, size_t i, enum pushwire_error code, bool fatal)
{
	assert_true(i < o->n);
	assert_int_equal(o->m[i].type, PW_ERROR);
	assert_int_equal(o->m[i].code, code);
	assert_int_equal(o->m[i].fatal, fatal);
}

static void test_hello_version(void **state)
{
	struct push_conn *pc;
	struct out o;

	(void)state;
	assert_int_equal(push_conn_new(env.push, 0, 0, 1, &pc), 0);
	send_msg(pc, &(struct pushwire_msg){ .type = PW_HELLO, .version_min = 2, .version_max = 3,
					     .name = { "x", 1 } });
	take_out(pc, &o);
	expect_error(&o, 0, PWE_VERSION, true);
	assert_true(push_conn_closing(pc));
	push_conn_free(pc);

	/* anything before HELLO */
	assert_int_equal(push_conn_new(env.push, 0, 0, 1, &pc), 0);
	{
		struct pushwire_msg m = pool_msg(PW_GET_KEY);

		send_msg(pc, &m);
	}
	take_out(pc, &o);
	assert_int_equal(o.n, 1);
	expect_error(&o, 0, PWE_STATE, true);
	push_conn_free(pc);
}

static void test_get_and_by_id(void **state)
{
	uint8_t out_ids[4 * 16], in_ids[4 * 16];
	struct pushwire_msg m = pool_msg(PW_GET_KEY);
	struct push_conn *pc;
	struct out o;

	(void)state;
	assert_int_equal(push_env_put(&env, 4, out_ids, in_ids), 0);
	pc = hello(0, 0);
	send_msg(pc, &m);
	take_out(pc, &o);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.m[0].type, PW_KEY);
	assert_memory_equal(o.m[0].key_id, out_ids, 16);	/* oldest first */
	assert_int_equal(o.m[0].direction, 0);
	assert_int_equal(o.m[0].key_len, 32);
	{
		uint8_t want[32];

		/* key (0, 0) of the pool secret of protocol direction 0 (outbound here) */
		assert_int_equal(pool_key_derive(env.last_secrets, 0, 0, 32, want), 0);
		assert_memory_equal(o.m[0].key, want, 32);
	}

	m = pool_msg(PW_GET_KEY_BY_ID);
	m.key_id = in_ids + 16;
	send_msg(pc, &m);
	send_msg(pc, &m);	/* the same id again: once only */
	take_out(pc, &o);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.m[0].type, PW_KEY);
	assert_int_equal(o.m[0].direction, 1);
	assert_memory_equal(o.m[0].key_id, in_ids + 16, 16);
	expect_error(&o, 1, PWE_ALREADY, false);
	/* an outbound id is not served by id */
	m.key_id = out_ids + 16;
	send_msg(pc, &m);
	take_out(pc, &o);
	expect_error(&o, 0, PWE_NO_KEY, false);
	/* unknown pool */
	m = pool_msg(PW_GET_KEY);
	m.class_name = (struct pushwire_str){ "nosuch", 6 };
	send_msg(pc, &m);
	take_out(pc, &o);
	expect_error(&o, 0, PWE_UNKNOWN, false);
	assert_false(push_conn_closing(pc));
	push_conn_free(pc);
}

static void test_allow(void **state)
{
	struct pushwire_msg m = pool_msg(PW_GET_KEY);
	struct push_conn *pc;
	struct out o;

	(void)state;
	assert_int_equal(push_env_put(&env, 2, NULL, NULL), 0);
	pc = hello(1000, 1000);
	send_msg(pc, &m);
	take_out(pc, &o);
	expect_error(&o, 0, PWE_DENIED, false);
	push_conn_free(pc);
	assert_int_equal(push_allow_add(env.push, PUSH_ENV_PEER, PUSH_ENV_CLASS, PUSH_GID, 77), 0);
	assert_int_equal(push_allow_add(env.push, PUSH_ENV_PEER, "nosuch", PUSH_UID, 1), -ENOENT);
	pc = hello(1000, 77);
	send_msg(pc, &m);
	take_out(pc, &o);
	assert_int_equal(o.m[0].type, PW_KEY);
	push_conn_free(pc);
	pc = hello(1000, 1000);
	send_msg(pc, &m);
	take_out(pc, &o);
	expect_error(&o, 0, PWE_DENIED, false);
	push_conn_free(pc);
	assert_true(push_stats(env.push)->refused >= 2);
}

static void test_outbound_subscription(void **state)
{
	uint8_t out_ids[8 * 16];
	struct pushwire_msg m = pool_msg(PW_SUBSCRIBE);
	struct push_conn *pc, *pc2;
	struct out o;

	(void)state;
	drain();
	assert_int_equal(push_env_put(&env, 8, out_ids, NULL), 0);
	pc = hello(0, 0);
	m.direction = 0;
	m.ahead = 2;
	send_msg(pc, &m);
	take_out(pc, &o);
	assert_int_equal(o.n, 3);
	assert_int_equal(o.m[0].type, PW_SUBSCRIBED);
	assert_int_equal(o.m[1].type, PW_KEY);
	assert_int_equal(o.m[2].type, PW_KEY);
	assert_memory_equal(o.m[1].key_id, out_ids, 16);
	assert_memory_equal(o.m[2].key_id, out_ids + 16, 16);
	assert_true(cls->subs[0].active);
	assert_int_equal(cls->subs[0].delivered, 2);

	/* a second subscriber for the direction is busy; GET on a subscription is refused */
	pc2 = hello(0, 0);
	send_msg(pc2, &m);
	take_out(pc2, &o);
	expect_error(&o, 0, PWE_BUSY, false);
	push_conn_free(pc2);

	/* installed: no new key; in use: one more */
	send_msg(pc, &(struct pushwire_msg){ .type = PW_INSTALLED, .key_id = out_ids });
	take_out(pc, &o);
	assert_int_equal(o.n, 0);
	assert_true(cls->subs[0].has_installed && !cls->subs[0].has_in_use);
	send_msg(pc, &(struct pushwire_msg){ .type = PW_IN_USE, .key_id = out_ids });
	send_msg(pc, &(struct pushwire_msg){ .type = PW_IN_USE, .key_id = out_ids });	/* again: nothing */
	take_out(pc, &o);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.m[0].type, PW_KEY);
	assert_memory_equal(o.m[0].key_id, out_ids + 32, 16);
	assert_memory_equal(cls->subs[0].in_use, out_ids, 16);

	/* the peer's subscriber installed it */
	env.cf->hooks.installed(env.cf->hooks.arg, &env.cf->peers[0], cls, out_ids, NOW);
	take_out(pc, &o);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.m[0].type, PW_PEER_INSTALLED);

	/* usage: below the volume nothing; at 4096 RETIRE and a rekey asked, once */
	send_msg(pc, &(struct pushwire_msg){ .type = PW_USAGE, .key_id = out_ids, .bytes = 4095,
					     .packets = 3 });
	take_out(pc, &o);
	assert_int_equal(o.n, 0);
	assert_int_equal(cls->subs[0].bytes, 4095);
	assert_false(cls->want);
	send_msg(pc, &(struct pushwire_msg){ .type = PW_USAGE, .key_id = out_ids, .bytes = 4096,
					     .packets = 4 });
	send_msg(pc, &(struct pushwire_msg){ .type = PW_USAGE, .key_id = out_ids, .bytes = 9000,
					     .packets = 7 });
	take_out(pc, &o);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.m[0].type, PW_RETIRE);
	assert_int_equal(o.m[0].reason, PWR_VOLUME);
	assert_int_equal(cls->volume_rekeys, 1);
	assert_true(cls->want);
	cls->want = false;

	/* totals that go down: fatal; nothing more is delivered */
	send_msg(pc, &(struct pushwire_msg){ .type = PW_USAGE, .key_id = out_ids, .bytes = 10,
					     .packets = 7 });
	take_out(pc, &o);
	expect_error(&o, 0, PWE_MALFORMED, true);
	assert_true(push_conn_closing(pc));
	push_conn_free(pc);
	assert_false(cls->subs[0].active);
}

static void test_report_unknown_and_state(void **state)
{
	static const uint8_t other[16] = { 9 };
	struct pushwire_msg m = pool_msg(PW_SUBSCRIBE);
	struct push_conn *pc;
	struct out o;

	(void)state;
	assert_int_equal(push_env_put(&env, 2, NULL, NULL), 0);
	/* a report on a request connection */
	pc = hello(0, 0);
	send_msg(pc, &(struct pushwire_msg){ .type = PW_IN_USE, .key_id = other });
	take_out(pc, &o);
	expect_error(&o, 0, PWE_STATE, true);
	push_conn_free(pc);
	/* a report for a key not pushed here */
	pc = hello(0, 0);
	m.direction = 0;
	m.ahead = 1;
	send_msg(pc, &m);
	take_out(pc, &o);
	send_msg(pc, &(struct pushwire_msg){ .type = PW_INSTALLED, .key_id = other });
	take_out(pc, &o);
	expect_error(&o, 0, PWE_NO_KEY, true);
	push_conn_free(pc);
	/* a daemon message sent by a client; a malformed length */
	pc = hello(0, 0);
	send_msg(pc, &(struct pushwire_msg){ .type = PW_PEER_INSTALLED, .key_id = other });
	take_out(pc, &o);
	expect_error(&o, 0, PWE_STATE, true);
	push_conn_free(pc);
	pc = hello(0, 0);
	push_conn_input(pc, (const uint8_t *)"\xff\xff\xff\xff\x01", 5, NOW);
	take_out(pc, &o);
	expect_error(&o, 0, PWE_MALFORMED, true);
	push_conn_free(pc);
}

static void test_inbound_subscription(void **state)
{
	uint8_t out_ids[4 * 16], in_ids[4 * 16];
	struct pushwire_msg m = pool_msg(PW_SUBSCRIBE);
	struct push_conn *pc;
	struct out o;

	(void)state;
	assert_int_equal(push_env_put(&env, 4, out_ids, in_ids), 0);
	/* announced before anyone subscribed: queued (with one unknown id) */
	memset(out_ids, 0xee, 16);	/* not an inbound id here: skipped */
	env.cf->hooks.taken(env.cf->hooks.arg, &env.cf->peers[0], cls, in_ids, 2, NOW);
	env.cf->hooks.taken(env.cf->hooks.arg, &env.cf->peers[0], cls, out_ids, 1, NOW);
	pc = hello(0, 0);
	m.direction = 1;
	m.ahead = 1;
	send_msg(pc, &m);
	take_out(pc, &o);
	assert_int_equal(o.n, 3);
	assert_int_equal(o.m[0].type, PW_SUBSCRIBED);
	assert_memory_equal(o.m[1].key_id, in_ids, 16);
	assert_memory_equal(o.m[2].key_id, in_ids + 16, 16);
	assert_int_equal(o.m[1].direction, 1);
	/* announced while subscribed: pushed at once; a repeat is skipped (delivered once) */
	env.cf->hooks.taken(env.cf->hooks.arg, &env.cf->peers[0], cls, in_ids + 16, 2, NOW);
	take_out(pc, &o);
	assert_int_equal(o.n, 1);
	assert_memory_equal(o.m[0].key_id, in_ids + 32, 16);
	send_msg(pc, &(struct pushwire_msg){ .type = PW_INSTALLED, .key_id = in_ids });
	send_msg(pc, &(struct pushwire_msg){ .type = PW_IN_USE, .key_id = in_ids });
	take_out(pc, &o);
	assert_int_equal(o.n, 0);
	assert_true(cls->subs[1].has_in_use);
	assert_memory_equal(cls->subs[1].in_use, in_ids, 16);
	push_conn_free(pc);
}

static void test_tick_expiry(void **state)
{
	uint8_t out_ids[2 * 16];
	struct pushwire_msg m = pool_msg(PW_SUBSCRIBE);
	struct push_conn *pc;
	struct out o;

	(void)state;
	drain();
	pc = hello(0, 0);
	m.direction = 0;
	m.ahead = 1;
	send_msg(pc, &m);
	take_out(pc, &o);
	assert_int_equal(o.n, 1);	/* starved: SUBSCRIBED only */
	assert_int_equal(push_env_put(&env, 2, out_ids, NULL), 0);
	push_tick(env.push, NOW + 1);
	take_out(pc, &o);
	assert_int_equal(o.n, 1);
	assert_memory_equal(o.m[0].key_id, out_ids, 16);
	send_msg(pc, &(struct pushwire_msg){ .type = PW_IN_USE, .key_id = out_ids });
	take_out(pc, &o);
	assert_int_equal(o.n, 1);	/* the next one, ahead */
	push_tick(env.push, NOW + 600);	/* soft expiry of the key in use */
	take_out(pc, &o);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.m[0].type, PW_RETIRE);
	assert_int_equal(o.m[0].reason, PWR_SOFT_EXPIRY);
	push_tick(env.push, NOW + 3600);	/* hard expiry: both keys */
	take_out(pc, &o);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.m[0].reason, PWR_HARD_EXPIRY);
	assert_int_equal(o.m[1].reason, PWR_HARD_EXPIRY);
	push_conn_free(pc);
}

/* A revoked method: pushed keys derived with it are retired (WITHDRAWN), the unused one replaced. */
static void test_revocation(void **state)
{
	uint8_t out_ids[2 * 16], more[2 * 16];
	struct pushwire_msg m = pool_msg(PW_SUBSCRIBE);
	struct push_conn *pc;
	size_t withdrawn = 0;
	struct out o;

	(void)state;
	drain();
	assert_int_equal(push_env_put(&env, 2, out_ids, NULL), 0);
	pc = hello(0, 0);
	m.direction = 0;
	m.ahead = 1;
	send_msg(pc, &m);
	send_msg(pc, &(struct pushwire_msg){ .type = PW_IN_USE, .key_id = out_ids });
	take_out(pc, &o);
	assert_int_equal(o.n, 3);	/* SUBSCRIBED, KEY A, KEY B (A went into use) */
	/* one more key in the pool: withdrawn by the revocation, never pushed */
	assert_int_equal(push_env_put(&env, 1, NULL, NULL), 0);
	assert_int_equal(cf_revoke(env.cf, KEX_ID_PSK, "test", "unit test", NOW, &withdrawn), 0);
	assert_true(withdrawn >= 1);
	take_out(pc, &o);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.m[0].type, PW_RETIRE);
	assert_int_equal(o.m[0].reason, PWR_WITHDRAWN);
	assert_memory_equal(o.m[0].key_id, out_ids, 16);
	assert_int_equal(o.m[1].reason, PWR_WITHDRAWN);
	assert_memory_equal(o.m[1].key_id, out_ids + 16, 16);
	/* the replacement comes when the pool has keys again (here: a put; in mfsd an exchange) */
	assert_int_equal(push_env_put(&env, 1, more, NULL), 0);
	push_tick(env.push, NOW + 2);
	take_out(pc, &o);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.m[0].type, PW_KEY);
	assert_memory_equal(o.m[0].key_id, more, 16);
	assert_int_equal(cf_restore(env.cf, KEX_ID_PSK, "test", NOW), 0);
	push_conn_free(pc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_version),
		cmocka_unit_test(test_get_and_by_id),
		cmocka_unit_test(test_allow),
		cmocka_unit_test(test_outbound_subscription),
		cmocka_unit_test(test_report_unknown_and_state),
		cmocka_unit_test(test_inbound_subscription),
		cmocka_unit_test(test_tick_expiry),
		cmocka_unit_test(test_revocation),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
