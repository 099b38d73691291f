/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer-protocol codec: a round trip of every message type, every
 * length bound (at and one over), truncation at every byte, trailing bytes,
 * and the header checks of msg_frame_len().
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"
#include "kex/kex.h"
#include "proto/msg.h"

static uint8_t nonce[MSG_NONCE_LEN];
static uint8_t mac[MSG_MAC_LEN];
static uint8_t blob[4096];

static struct msg hello(void)
{
	struct msg m = { .version = 1, .type = MSGT_HELLO };

	m.u.hello = (struct msg_hello){
		.version_min = 1, .version_max = 3,
		.node_id = rd_init("node-a", 6),
		.class_name = rd_init("bulk", 4),
		.nonce = nonce, .combiner = 0, .n_keys = 8,
		.required = { KEX_ID_MLKEM768, KEX_ID_MCELIECE460896 }, .n_required = 2,
		.optional = { KEX_ID_X25519 }, .n_optional = 1,
		.min_pq_factors = 2, .min_families = 2,
	};
	return m;
}

static struct msg select_msg(void)
{
	struct msg m = { .version = 1, .type = MSGT_SELECT };

	m.u.select = (struct msg_select){
		.version = 1, .node_id = rd_init("node-b", 6), .nonce = nonce,
		.combiner = 0, .n_keys = 4,
		.suite = { KEX_ID_MLKEM768, KEX_ID_MCELIECE460896 }, .n_suite = 2,
		.items = { { KEX_ID_MCELIECE460896, MSG_INST_REVERSE, { blob, 32 } } },
		.n_items = 1,
	};
	return m;
}

static struct msg kex(uint8_t type)
{
	struct msg m = { .version = 1, .type = type };

	if (type == MSGT_KEX1) {
		m.u.kex.items[0] = (struct msg_item){ KEX_ID_MLKEM768, MSG_INST_FORWARD, { blob, 1184 } };
		m.u.kex.items[1] = (struct msg_item){ KEX_ID_MCELIECE460896, MSG_INST_FORWARD,
						      { blob, 32 } };
		m.u.kex.items[2] = (struct msg_item){ KEX_ID_MCELIECE460896, MSG_INST_REVERSE,
						      { blob, 156 } };
		m.u.kex.n_items = 3;
	} else {
		m.u.kex.items[0] = (struct msg_item){ KEX_ID_MLKEM768, MSG_INST_FORWARD, { blob, 1088 } };
		m.u.kex.items[1] = (struct msg_item){ KEX_ID_PSK, MSG_INST_FORWARD, { NULL, 0 } };
		m.u.kex.n_items = 2;
	}
	return m;
}

static struct msg notice(uint8_t type, const char *text)
{
	struct msg m = { .version = 1, .type = type };

	m.u.notice.code = 0x0102;
	m.u.notice.text = rd_init(text, strlen(text));
	return m;
}

static struct msg confirm(void)
{
	struct msg m = { .version = 1, .type = MSGT_CONFIRM };

	m.u.confirm.mac = mac;
	return m;
}

/* All sample messages; MLKEM/McEliece items only where built. */
static size_t samples(struct msg *out)
{
	size_t n = 0;

	out[n++] = hello();
	if (kex_method_by_id(KEX_ID_MCELIECE460896))
		out[n++] = select_msg();
	if (kex_method_by_id(KEX_ID_MLKEM768) && kex_method_by_id(KEX_ID_MCELIECE460896))
		out[n++] = kex(MSGT_KEX1);
	if (kex_method_by_id(KEX_ID_MLKEM768) && kex_method_by_id(KEX_ID_PSK))
		out[n++] = kex(MSGT_KEX2);
	out[n++] = notice(MSGT_REFUSE, "no common suite");
	out[n++] = notice(MSGT_ABORT, "");
	out[n++] = notice(MSGT_REVOKE, "broken by cryptanalysis");
	out[n++] = notice(MSGT_REVOKE_ACK, "ok");
	out[n++] = confirm();
	return n;
}

static size_t encode(const struct msg *m, uint8_t *buf, size_t cap)
{
	struct wbuf w = wbuf_init(buf, cap);

	assert_int_equal(msg_encode(&w, m), 0);
	return w.len;
}

static void assert_rd_equal(struct rd a, struct rd b)
{
	assert_int_equal(a.n, b.n);
	if (a.n)
		assert_memory_equal(a.p, b.p, a.n);
}

static void assert_msg_equal(const struct msg *a, const struct msg *b)
{
	assert_int_equal(a->version, b->version);
	assert_int_equal(a->type, b->type);
	switch (a->type) {
	case MSGT_HELLO: {
		const struct msg_hello *x = &a->u.hello, *y = &b->u.hello;

		assert_int_equal(x->version_min, y->version_min);
		assert_int_equal(x->version_max, y->version_max);
		assert_rd_equal(x->node_id, y->node_id);
		assert_rd_equal(x->class_name, y->class_name);
		assert_memory_equal(x->nonce, y->nonce, MSG_NONCE_LEN);
		assert_int_equal(x->combiner, y->combiner);
		assert_int_equal(x->n_keys, y->n_keys);
		assert_int_equal(x->n_required, y->n_required);
		assert_memory_equal(x->required, y->required, x->n_required * 2);
		assert_int_equal(x->n_optional, y->n_optional);
		assert_memory_equal(x->optional, y->optional, x->n_optional * 2);
		assert_int_equal(x->min_pq_factors, y->min_pq_factors);
		assert_int_equal(x->min_families, y->min_families);
		break;
	}
	case MSGT_SELECT: {
		const struct msg_select *x = &a->u.select, *y = &b->u.select;

		assert_int_equal(x->version, y->version);
		assert_rd_equal(x->node_id, y->node_id);
		assert_memory_equal(x->nonce, y->nonce, MSG_NONCE_LEN);
		assert_int_equal(x->n_keys, y->n_keys);
		assert_int_equal(x->n_suite, y->n_suite);
		assert_memory_equal(x->suite, y->suite, x->n_suite * 2);
		assert_int_equal(x->n_items, y->n_items);
		for (size_t i = 0; i < x->n_items; i++) {
			assert_int_equal(x->items[i].method, y->items[i].method);
			assert_int_equal(x->items[i].instance, y->items[i].instance);
			assert_rd_equal(x->items[i].data, y->items[i].data);
		}
		break;
	}
	case MSGT_KEX1:
	case MSGT_KEX2:
		assert_int_equal(a->u.kex.n_items, b->u.kex.n_items);
		for (size_t i = 0; i < a->u.kex.n_items; i++) {
			assert_int_equal(a->u.kex.items[i].method, b->u.kex.items[i].method);
			assert_int_equal(a->u.kex.items[i].instance, b->u.kex.items[i].instance);
			assert_rd_equal(a->u.kex.items[i].data, b->u.kex.items[i].data);
		}
		break;
	case MSGT_CONFIRM:
		assert_memory_equal(a->u.confirm.mac, b->u.confirm.mac, MSG_MAC_LEN);
		break;
	default:
		assert_int_equal(a->u.notice.code, b->u.notice.code);
		assert_rd_equal(a->u.notice.text, b->u.notice.text);
	}
}

static void test_round_trip(void **state)
{
	static uint8_t buf[MSG_FRAME_MAX], buf2[MSG_FRAME_MAX];
	struct msg ms[16], back;
	size_t n = samples(ms);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		size_t len = encode(&ms[i], buf, sizeof(buf)), fl;

		assert_int_equal(msg_frame_len(buf, len, &fl), 0);
		assert_int_equal(fl, len);
		assert_int_equal(msg_parse(buf, len, &back), 0);
		assert_msg_equal(&ms[i], &back);
		/* and encoding the parsed message gives the same bytes */
		assert_int_equal(encode(&back, buf2, sizeof(buf2)), len);
		assert_memory_equal(buf, buf2, len);
		assert_non_null(msg_type_name(ms[i].type));
	}
}

static void test_truncation_and_trailing(void **state)
{
	static uint8_t buf[MSG_FRAME_MAX + 1];
	struct msg ms[16], back;
	size_t n = samples(ms);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		size_t len = encode(&ms[i], buf, sizeof(buf)), fl;

		for (size_t cut = 0; cut < len; cut++) {
			assert_true(msg_parse(buf, cut, &back) < 0);
			if (cut < MSG_HDR_LEN)
				assert_int_equal(msg_frame_len(buf, cut, &fl), -EAGAIN);
		}
		buf[len] = 0;
		assert_int_equal(msg_parse(buf, len + 1, &back), -EBADMSG);
		/* a body one byte longer than its fields (length field adjusted) */
		buf[6]++;
		if (msg_body_max(ms[i].type) >= (size_t)(len + 1 - MSG_HDR_LEN))
			assert_int_equal(msg_parse(buf, len + 1, &back), -EBADMSG);
	}
}

static void test_header(void **state)
{
	uint8_t h[MSG_HDR_LEN] = { 0, 1, MSGT_HELLO, 0, 0, 0, 0 };
	size_t fl;

	(void)state;
	assert_int_equal(msg_frame_len(h, sizeof(h), &fl), 0);
	assert_int_equal(fl, MSG_HDR_LEN);
	h[2] = 0;
	assert_int_equal(msg_frame_len(h, sizeof(h), &fl), -EBADMSG);
	h[2] = 10;
	assert_int_equal(msg_frame_len(h, sizeof(h), &fl), -EBADMSG);
	/* pre-auth budget */
	h[2] = MSGT_HELLO;
	h[5] = MSG_PREAUTH_MAX >> 8;
	h[6] = MSG_PREAUTH_MAX & 0xff;
	assert_int_equal(msg_frame_len(h, sizeof(h), &fl), 0);
	h[6]++;
	assert_int_equal(msg_frame_len(h, sizeof(h), &fl), -EMSGSIZE);
	/* KEX budget */
	h[2] = MSGT_KEX1;
	h[3] = 0;
	h[4] = 0;
	h[5] = MSG_KEX_MAX >> 8;
	h[6] = MSG_KEX_MAX & 0xff;
	assert_int_equal(msg_frame_len(h, sizeof(h), &fl), 0);
	h[6] = 1;
	assert_int_equal(msg_frame_len(h, sizeof(h), &fl), -EMSGSIZE);
	h[3] = 0x80;
	assert_int_equal(msg_frame_len(h, sizeof(h), &fl), -EMSGSIZE);
	/* CONFIRM is exactly a MAC */
	{
		uint8_t buf[64];
		struct msg m = confirm(), back;
		size_t len = encode(&m, buf, sizeof(buf));

		buf[6] = MSG_MAC_LEN + 1;
		assert_int_equal(msg_frame_len(buf, len, &fl), -EMSGSIZE);
		buf[6] = MSG_MAC_LEN - 1;
		assert_int_equal(msg_parse(buf, len - 1, &back), -EBADMSG);
	}
	/* version 0 is never valid */
	{
		uint8_t buf[64];
		struct msg m = notice(MSGT_ABORT, "x"), back;
		size_t len = encode(&m, buf, sizeof(buf));

		buf[1] = 0;
		assert_int_equal(msg_parse(buf, len, &back), -EBADMSG);
	}
}

/* Each bound at its limit encodes and parses; one over is refused by both sides. */
static void test_bounds(void **state)
{
	static uint8_t buf[MSG_FRAME_MAX];
	char id[MSG_NODE_ID_MAX + 2], text[MSG_TEXT_MAX + 2], cls[POLICY_NAME_MAX + 2];
	struct wbuf w;
	struct msg m, back;

	(void)state;
	memset(id, 'n', sizeof(id));
	memset(text, 't', sizeof(text));
	memset(cls, 'c', sizeof(cls));

	/* node id: 1..MSG_NODE_ID_MAX printable */
	m = hello();
	m.u.hello.node_id = rd_init(id, MSG_NODE_ID_MAX);
	assert_int_equal(msg_parse(buf, encode(&m, buf, sizeof(buf)), &back), 0);
	m.u.hello.node_id = rd_init(id, MSG_NODE_ID_MAX + 1);
	w = wbuf_init(buf, sizeof(buf));
	assert_int_equal(msg_encode(&w, &m), -EINVAL);
	assert_int_equal(w.len, 0);
	m.u.hello.node_id = rd_init(id, 0);
	assert_int_equal(msg_encode(&w, &m), -EINVAL);
	m.u.hello.node_id = rd_init("a b", 3);
	assert_int_equal(msg_encode(&w, &m), -EINVAL);

	/* class name */
	m = hello();
	m.u.hello.class_name = rd_init(cls, POLICY_NAME_MAX);
	assert_int_equal(msg_parse(buf, encode(&m, buf, sizeof(buf)), &back), 0);
	m.u.hello.class_name = rd_init(cls, POLICY_NAME_MAX + 1);
	assert_int_equal(msg_encode(&w, &m), -EINVAL);
	m.u.hello.class_name = rd_init("Bulk", 4);
	assert_int_equal(msg_encode(&w, &m), -EINVAL);

	/* keys per direction, versions */
	m = hello();
	m.u.hello.n_keys = MSG_KEYS_MAX;
	assert_int_equal(msg_parse(buf, encode(&m, buf, sizeof(buf)), &back), 0);
	m.u.hello.n_keys = MSG_KEYS_MAX + 1;
	assert_int_equal(msg_encode(&w, &m), -EINVAL);
	m.u.hello.n_keys = 0;
	assert_int_equal(msg_encode(&w, &m), -EINVAL);
	m = hello();
	m.u.hello.version_min = 4;
	assert_int_equal(msg_encode(&w, &m), -EINVAL);

	/* method lists: MSG_SUITE_MAX */
	m = hello();
	m.u.hello.n_required = MSG_SUITE_MAX;
	m.u.hello.n_optional = MSG_SUITE_MAX;
	assert_int_equal(msg_parse(buf, encode(&m, buf, sizeof(buf)), &back), 0);
	m.u.hello.n_required = MSG_SUITE_MAX + 1;
	assert_int_equal(msg_encode(&w, &m), -EINVAL);
	/* a forged count over the bound */
	m = hello();
	{
		size_t len = encode(&m, buf, sizeof(buf));
		size_t off = MSG_HDR_LEN + 4 + 1 + 6 + 1 + 4 + MSG_NONCE_LEN + 1 + 2;

		assert_int_equal(buf[off], 2);
		buf[off] = MSG_SUITE_MAX + 1;
		assert_int_equal(msg_parse(buf, len, &back), -EMSGSIZE);
	}

	/* text */
	m = notice(MSGT_ABORT, "");
	m.u.notice.text = rd_init(text, MSG_TEXT_MAX);
	assert_int_equal(msg_parse(buf, encode(&m, buf, sizeof(buf)), &back), 0);
	m.u.notice.text = rd_init(text, MSG_TEXT_MAX + 1);
	assert_int_equal(msg_encode(&w, &m), -EINVAL);
	m.u.notice.text = rd_init("bad\n", 4);
	assert_int_equal(msg_encode(&w, &m), -EINVAL);

	/* item payloads: the method's msg1_max / msg2_max */
	if (kex_method_by_id(KEX_ID_MLKEM768)) {
		const struct kex_method *km = kex_method_by_id(KEX_ID_MLKEM768);

		m = (struct msg){ .version = 1, .type = MSGT_KEX1 };
		m.u.kex.items[0] = (struct msg_item){ km->id, MSG_INST_FORWARD, { blob, km->msg1_max } };
		m.u.kex.n_items = 1;
		assert_int_equal(msg_parse(buf, encode(&m, buf, sizeof(buf)), &back), 0);
		m.u.kex.items[0].data.n++;
		assert_int_equal(msg_encode(&w, &m), -EINVAL);
		m.u.kex.items[0].data.n--;
		/* the same item in KEX2 is a msg2: bounded by msg2_max (smaller) */
		m.type = MSGT_KEX2;
		assert_int_equal(msg_encode(&w, &m), -EINVAL);
		/* unknown method, bad instance */
		m.type = MSGT_KEX1;
		m.u.kex.items[0].method = 0x7777;
		assert_int_equal(msg_encode(&w, &m), -EOPNOTSUPP);
		m.u.kex.items[0].method = km->id;
		m.u.kex.items[0].instance = 2;
		assert_int_equal(msg_encode(&w, &m), -EINVAL);
		/* items: MSG_ITEMS_MAX, none is not a KEX */
		m.u.kex.items[0].instance = MSG_INST_FORWARD;
		m.u.kex.items[0].data.n = 8;
		for (size_t i = 1; i < MSG_ITEMS_MAX; i++)
			m.u.kex.items[i] = m.u.kex.items[0];
		m.u.kex.n_items = MSG_ITEMS_MAX;
		assert_int_equal(msg_parse(buf, encode(&m, buf, sizeof(buf)), &back), 0);
		m.u.kex.n_items = MSG_ITEMS_MAX + 1;
		assert_int_equal(msg_encode(&w, &m), -EINVAL);
		m.u.kex.n_items = 0;
		assert_int_equal(msg_encode(&w, &m), -EINVAL);
	}

	/* a writer too small: -EMSGSIZE, sticky */
	{
		uint8_t small[20];
		struct wbuf ws = wbuf_init(small, sizeof(small));

		m = hello();
		assert_int_equal(msg_encode(&ws, &m), -EMSGSIZE);
		assert_int_equal(wbuf_error(&ws), -EMSGSIZE);
	}
}

static void test_frames_in_place(void **state)
{
	uint8_t buf[256];
	struct wbuf w = wbuf_init(buf, sizeof(buf));
	struct msg back;
	size_t off, ioff;

	(void)state;
	if (!kex_method_by_id(KEX_ID_X25519))
		skip();
	assert_int_equal(msg_frame_begin(&w, 1, MSGT_KEX2, &off), 0);
	wbuf_u8(&w, 1);
	assert_int_equal(msg_item_begin(&w, KEX_ID_X25519, MSG_INST_FORWARD, &ioff), 0);
	wbuf_put(&w, blob, 32);
	assert_int_equal(msg_item_end(&w, ioff), 0);
	assert_int_equal(msg_frame_end(&w, off), 0);
	assert_int_equal(msg_parse(buf, w.len, &back), 0);
	assert_int_equal(back.u.kex.n_items, 1);
	assert_int_equal(back.u.kex.items[0].data.n, 32);
	/* a CONFIRM body over its size is refused at frame end */
	w = wbuf_init(buf, sizeof(buf));
	assert_int_equal(msg_frame_begin(&w, 1, MSGT_CONFIRM, &off), 0);
	wbuf_put(&w, blob, MSG_MAC_LEN + 1);
	assert_int_equal(msg_frame_end(&w, off), -EMSGSIZE);
	assert_int_equal(wbuf_error(&w), -EMSGSIZE);	/* sticky */
	w = wbuf_init(buf, sizeof(buf));
	assert_int_equal(msg_frame_begin(&w, 1, 99, &off), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_truncation_and_trailing),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_frames_in_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
