/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The push socket codec (src/client/pushwire.h, docs/push.md): every message
 * round-trips; every truncation, a trailing byte, and every out-of-range
 * field is refused; frame cutting; error code mapping.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "client/pushwire.h"

static const uint8_t ID[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t KEY[32] = "0123456789abcdef0123456789abcdef";

#define S(x) { x, sizeof(x) - 1 }

/* One valid message of each type. */
static const struct pushwire_msg samples[] = {
	{ .type = PW_HELLO, .version_min = 1, .version_max = 3, .name = S("tunnel") },
	{ .type = PW_GET_KEY, .peer = S("gpu-dc"), .class_name = S("training") },
	{ .type = PW_GET_KEY_BY_ID, .peer = S("gpu-dc"), .class_name = S("training"), .key_id = ID },
	{ .type = PW_SUBSCRIBE, .peer = S("gpu-dc"), .class_name = S("training"), .direction = 1,
	  .ahead = 16 },
	{ .type = PW_INSTALLED, .key_id = ID },
	{ .type = PW_IN_USE, .key_id = ID },
	{ .type = PW_USAGE, .key_id = ID, .bytes = 1ULL << 40, .packets = 123456789 },
	{ .type = PW_HELLO_OK, .version = 1, .ahead = 16 },
	{ .type = PW_KEY, .key_id = ID, .direction = 0, .not_before = 1700000000,
	  .soft_expiry = 1700000600, .hard_expiry = -1, .key = KEY, .key_len = 32 },
	{ .type = PW_SUBSCRIBED, .direction = 0, .ahead = 1 },
	{ .type = PW_RETIRE, .key_id = ID, .reason = PWR_VOLUME },
	{ .type = PW_PEER_INSTALLED, .key_id = ID },
	{ .type = PW_ERROR, .code = PWE_DENIED, .fatal = true, .text = S("not allowed") },
	{ .type = PW_ERROR, .code = PWE_BUSY, .fatal = false, .text = { "", 0 } },
};

static void same_msg(const struct pushwire_msg *a, const struct pushwire_msg *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->version_min, b->version_min);
	assert_int_equal(a->version_max, b->version_max);
	assert_int_equal(a->version, b->version);
	assert_int_equal(a->name.len, b->name.len);
	assert_int_equal(a->peer.len, b->peer.len);
	assert_int_equal(a->class_name.len, b->class_name.len);
	if (a->peer.len)
		assert_memory_equal(a->peer.p, b->peer.p, a->peer.len);
	if (a->class_name.len)
		assert_memory_equal(a->class_name.p, b->class_name.p, a->class_name.len);
	assert_int_equal(a->direction, b->direction);
	assert_int_equal(a->ahead, b->ahead);
	assert_int_equal(!!a->key_id, !!b->key_id);
	if (a->key_id)
		assert_memory_equal(a->key_id, b->key_id, 16);
	assert_true(a->bytes == b->bytes && a->packets == b->packets);
	assert_true(a->not_before == b->not_before && a->soft_expiry == b->soft_expiry &&
		    a->hard_expiry == b->hard_expiry);
	assert_int_equal(a->key_len, b->key_len);
	if (a->key_len)
		assert_memory_equal(a->key, b->key, a->key_len);
	assert_int_equal(a->reason, b->reason);
	assert_int_equal(a->code, b->code);
	assert_int_equal(a->fatal, b->fatal);
	assert_int_equal(a->text.len, b->text.len);
}

static void test_roundtrip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		uint8_t buf[PUSHWIRE_FRAME_MAX], again[PUSHWIRE_FRAME_MAX];
		struct pushwire_msg m;
		int n = pushwire_encode(&samples[i], buf, sizeof(buf));

		assert_true(n > PUSHWIRE_HDR_LEN);
		assert_int_equal(pushwire_frame_len(buf, (size_t)n), n);
		assert_int_equal(pushwire_parse(buf, (size_t)n, &m), 0);
		same_msg(&samples[i], &m);
		/* encoding what was parsed gives the same bytes */
		assert_int_equal(pushwire_encode(&m, again, sizeof(again)), n);
		assert_memory_equal(buf, again, (size_t)n);
	}
}

/* Every truncation (header adjusted, so only the body is short) and one extra byte. */
static void test_truncated_and_trailing(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		uint8_t buf[PUSHWIRE_FRAME_MAX + 1];
		struct pushwire_msg m, keep = { .type = (enum pushwire_type)0x7f };
		int n = pushwire_encode(&samples[i], buf, sizeof(buf) - 1);
		size_t body = (size_t)n - PUSHWIRE_HDR_LEN;

		assert_true(n > 0);
		for (size_t cut = 1; cut < body; cut++) {
			uint32_t len = (uint32_t)cut;

			buf[0] = (uint8_t)(len >> 24);
			buf[1] = (uint8_t)(len >> 16);
			buf[2] = (uint8_t)(len >> 8);
			buf[3] = (uint8_t)len;
			m = keep;
			if (pushwire_parse(buf, PUSHWIRE_HDR_LEN + cut, &m) == 0)
				fail_msg("type 0x%02x parsed with %zu of %zu body bytes",
					 samples[i].type, cut, body);
			assert_int_equal(m.type, keep.type);	/* untouched on failure */
		}
		/* one trailing byte */
		n = pushwire_encode(&samples[i], buf, sizeof(buf) - 1);
		buf[n] = 0;
		body++;
		buf[0] = (uint8_t)(body >> 24);
		buf[1] = (uint8_t)(body >> 16);
		buf[2] = (uint8_t)(body >> 8);
		buf[3] = (uint8_t)body;
		assert_int_equal(pushwire_parse(buf, (size_t)n + 1, &m), -EBADMSG);
		/* a frame shorter than its header says */
		n = pushwire_encode(&samples[i], buf, sizeof(buf) - 1);
		assert_int_equal(pushwire_parse(buf, (size_t)n - 1, &m), -EBADMSG);
		assert_int_equal(pushwire_frame_len(buf, (size_t)n - 1), 0);
	}
}

static void test_frame_len(void **state)
{
	uint8_t b[8] = { 0, 0, 0, 0 };

	(void)state;
	assert_int_equal(pushwire_frame_len(b, 3), 0);
	assert_int_equal(pushwire_frame_len(b, 4), -EMSGSIZE);	/* len 0 */
	b[2] = 0x02;
	b[3] = 0x01;						/* 513 */
	assert_int_equal(pushwire_frame_len(b, 8), -EMSGSIZE);
	b[2] = 0x02;
	b[3] = 0x00;						/* 512: wait for it */
	assert_int_equal(pushwire_frame_len(b, 8), 0);
	b[0] = 0xff;
	assert_int_equal(pushwire_frame_len(b, 8), -EMSGSIZE);
	b[0] = 0;
	b[2] = 0;
	b[3] = 1;
	b[4] = PW_HELLO;
	assert_int_equal(pushwire_frame_len(b, 8), 5);
	assert_int_equal(pushwire_parse(b, 5, &(struct pushwire_msg){ 0 }), -EBADMSG);
}

/* Encode a sample with one field changed: the encoder refuses it (-EINVAL). */
static void test_out_of_range(void **state)
{
	uint8_t buf[PUSHWIRE_FRAME_MAX];
	struct pushwire_msg m;
	char long_name[PUSHWIRE_PEER_MAX + 2];

	(void)state;
	memset(long_name, 'a', sizeof(long_name));
	m = samples[0], m.name = (struct pushwire_str){ long_name, PUSHWIRE_NAME_MAX + 1 };
	assert_int_equal(pushwire_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = samples[0], m.name = (struct pushwire_str){ "a b", 3 };	/* blank */
	assert_int_equal(pushwire_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = samples[0], m.version_min = 0;
	assert_int_equal(pushwire_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = samples[0], m.version_min = 4;
	assert_int_equal(pushwire_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = samples[1], m.peer = (struct pushwire_str){ long_name, PUSHWIRE_PEER_MAX + 1 };
	assert_int_equal(pushwire_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = samples[1], m.class_name = (struct pushwire_str){ long_name, PUSHWIRE_CLASS_MAX + 1 };
	assert_int_equal(pushwire_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = samples[1], m.class_name = (struct pushwire_str){ "", 0 };
	assert_int_equal(pushwire_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = samples[3], m.ahead = 0;
	assert_int_equal(pushwire_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = samples[3], m.ahead = PUSHWIRE_AHEAD_MAX + 1;
	assert_int_equal(pushwire_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = samples[3], m.direction = 2;
	assert_int_equal(pushwire_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = samples[8], m.key_len = PUSHWIRE_KEY_MIN - 1;
	assert_int_equal(pushwire_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = samples[8], m.key_len = PUSHWIRE_KEY_MAX + 1;
	assert_int_equal(pushwire_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = samples[10], m.reason = 0;
	assert_int_equal(pushwire_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = samples[10], m.reason = PWR_MAX + 1;
	assert_int_equal(pushwire_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = samples[12], m.code = PWE_MAX + 1;
	assert_int_equal(pushwire_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = samples[12], m.text = (struct pushwire_str){ "bad\n", 4 };
	assert_int_equal(pushwire_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = samples[8];
	assert_int_equal(pushwire_encode(&m, buf, 20), -EMSGSIZE);
}

/* Patch one byte of a valid encoding: the parser refuses the value. */
static void refuse_patched(const struct pushwire_msg *s, size_t off, uint8_t v)
{
	uint8_t buf[PUSHWIRE_FRAME_MAX];
	struct pushwire_msg m;
	int n = pushwire_encode(s, buf, sizeof(buf));

	assert_true(n > (int)off);
	buf[off] = v;
	assert_int_equal(pushwire_parse(buf, (size_t)n, &m), -EBADMSG);
}

static void test_parser_ranges(void **state)
{
	(void)state;
	refuse_patched(&samples[0], 6, 0);	/* version_min 0 */
	refuse_patched(&samples[0], 6, 9);	/* version_min 9 > version_max */
	refuse_patched(&samples[0], 10, ' ');	/* blank in the name */
	refuse_patched(&samples[0], 9, 0);	/* empty name, then a trailing "tunnel" */
	refuse_patched(&samples[0], 9, 200);	/* name length over the frame */
	refuse_patched(&samples[1], 5, 65);	/* peer over PUSHWIRE_PEER_MAX */
	refuse_patched(&samples[3], 4 + 1 + 1 + 6 + 1 + 8, 2);	/* direction 2 */
	refuse_patched(&samples[3], 4 + 1 + 1 + 6 + 1 + 8 + 1, 0);	/* ahead 0 */
	refuse_patched(&samples[3], 4 + 1 + 1 + 6 + 1 + 8 + 1, 17);	/* ahead 17 */
	refuse_patched(&samples[8], 4 + 1 + 16, 2);	/* KEY direction 2 */
	refuse_patched(&samples[8], 4 + 1 + 16 + 1 + 24, 15);	/* key of 15 bytes */
	refuse_patched(&samples[8], 4 + 1 + 16 + 1 + 24, 65);	/* key of 65 bytes */
	refuse_patched(&samples[10], 4 + 1 + 16, 5);	/* reason 5 */
	refuse_patched(&samples[12], 5, 0);	/* code 0 */
	refuse_patched(&samples[12], 5, PWE_MAX + 1);
	refuse_patched(&samples[12], 6, 2);	/* fatal 2 */
	refuse_patched(&samples[12], 8, 0x07);	/* control character in the text */
	refuse_patched(&samples[7], 4 + 1 + 2, 0);	/* HELLO_OK ahead 0 */
	refuse_patched(&samples[0], 4, 0x08);	/* unknown type */
	refuse_patched(&samples[0], 4, 0x80);
	refuse_patched(&samples[0], 4, 0x87);
}

static void test_errors(void **state)
{
	(void)state;
	assert_int_equal(pushwire_error_errno(PWE_DENIED), -EACCES);
	assert_int_equal(pushwire_error_errno(PWE_NO_KEY), -ENOKEY);
	assert_int_equal(pushwire_error_errno(PWE_ALREADY), -EALREADY);
	assert_int_equal(pushwire_error_errno(PWE_UNAVAILABLE), -EAGAIN);
	assert_int_equal(pushwire_error_errno(0), -EPROTO);
	assert_int_equal(pushwire_error_errno(PWE_MAX + 1), -EPROTO);
	for (uint8_t c = 1; c <= PWE_MAX; c++)
		assert_int_equal(pushwire_errno_error(pushwire_error_errno(c)), c);
	assert_int_equal(pushwire_errno_error(-EIO), PWE_UNAVAILABLE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_truncated_and_trailing),
		cmocka_unit_test(test_frame_len),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_parser_ranges),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
