/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/hex.h"

static void test_rd_ints(void **state)
{
	const uint8_t in[] = { 1, 0x02, 0x03, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 9 };
	struct rd r = rd_init(in, sizeof(in));
	uint8_t a;
	uint16_t b;
	uint32_t c;
	uint64_t d;

	(void)state;
	assert_int_equal(rd_u8(&r, &a), 0);
	assert_int_equal(a, 1);
	assert_int_equal(rd_u16(&r, &b), 0);
	assert_int_equal(b, 0x0203);
	assert_int_equal(rd_u32(&r, &c), 0);
	assert_int_equal(c, 0x100);
	assert_int_equal(rd_u64(&r, &d), 0);
	assert_int_equal(d, 9);
	assert_int_equal(rd_end(&r), 0);
	assert_int_equal(rd_u8(&r, &a), -EBADMSG);
}

static void test_rd_short_leaves_cursor(void **state)
{
	const uint8_t in[] = { 0, 5, 'a', 'b' };	/* claims 5, has 2 */
	struct rd r = rd_init(in, sizeof(in)), v;

	(void)state;
	assert_int_equal(rd_vec16(&r, 100, &v), -EBADMSG);
	assert_ptr_equal(r.p, in);
	assert_int_equal(r.n, sizeof(in));
	assert_int_equal(rd_vec16(&r, 4, &v), -EMSGSIZE);
	assert_int_equal(r.n, sizeof(in));
	assert_int_equal(rd_end(&r), -EBADMSG);
}

static void test_rd_vec(void **state)
{
	const uint8_t in[] = { 2, 'h', 'i', 0, 0, 0, 1, 'x' };
	struct rd r = rd_init(in, sizeof(in)), v;

	(void)state;
	assert_int_equal(rd_vec8(&r, 2, &v), 0);
	assert_int_equal(v.n, 2);
	assert_memory_equal(v.p, "hi", 2);
	assert_int_equal(rd_vec32(&r, 1, &v), 0);
	assert_int_equal(v.n, 1);
	assert_int_equal(rd_end(&r), 0);
}

static void test_wbuf_cap_sticky(void **state)
{
	uint8_t out[5];
	struct wbuf w = wbuf_init(out, sizeof(out));

	(void)state;
	assert_int_equal(wbuf_u16(&w, 0xabcd), 0);
	assert_int_equal(wbuf_u32(&w, 1), -EMSGSIZE);
	assert_int_equal(w.len, 2);
	/* sticky: even a fitting write now fails */
	assert_int_equal(wbuf_u8(&w, 1), -EMSGSIZE);
	assert_int_equal(wbuf_error(&w), -EMSGSIZE);
	assert_int_equal(out[0], 0xab);
	assert_int_equal(out[1], 0xcd);
}

static void test_wbuf_vec_roundtrip(void **state)
{
	uint8_t out[64];
	struct wbuf w = wbuf_init(out, sizeof(out));
	struct rd r, v;
	uint8_t big[300] = { 0 };

	(void)state;
	assert_int_equal(wbuf_vec8(&w, big, 256), -EMSGSIZE);	/* does not fit u8 */
	w = wbuf_init(out, sizeof(out));
	assert_int_equal(wbuf_vec8(&w, "abc", 3), 0);
	assert_int_equal(wbuf_vec16(&w, "de", 2), 0);
	assert_int_equal(wbuf_vec32(&w, "", 0), 0);
	r = wbuf_rd(&w);
	assert_int_equal(rd_vec8(&r, 3, &v), 0);
	assert_memory_equal(v.p, "abc", 3);
	assert_int_equal(rd_vec16(&r, 2, &v), 0);
	assert_memory_equal(v.p, "de", 2);
	assert_int_equal(rd_vec32(&r, 0, &v), 0);
	assert_int_equal(v.n, 0);
	assert_int_equal(rd_end(&r), 0);
}

static void test_wbuf_vec_nothing_half_written(void **state)
{
	uint8_t out[4];
	struct wbuf w = wbuf_init(out, sizeof(out));

	(void)state;
	assert_int_equal(wbuf_vec16(&w, "abcd", 4), -EMSGSIZE);
	assert_int_equal(w.len, 0);
}

static void test_hex(void **state)
{
	uint8_t all[256], back[256];
	char txt[513];

	(void)state;
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	assert_int_equal(hex_encode(txt, sizeof(txt), all, 256), 0);
	assert_memory_equal(txt, "000102", 6);
	assert_memory_equal(txt + 510, "ff", 2);
	assert_int_equal(hex_decode(back, 256, txt, 512), 0);
	assert_memory_equal(all, back, 256);
	assert_int_equal(hex_decode(back, 2, "AbCd", 4), 0);
	assert_int_equal(back[0], 0xab);
	assert_int_equal(back[1], 0xcd);
	assert_int_equal(hex_decode(back, 1, "g0", 2), -EBADMSG);
	assert_int_equal(back[0], 0);
	assert_int_equal(hex_decode(back, 1, "0:", 2), -EBADMSG);
	assert_int_equal(hex_decode(back, 1, "0/", 2), -EBADMSG);
	assert_int_equal(hex_decode(back, 1, "0@", 2), -EBADMSG);
	assert_int_equal(hex_decode(back, 1, "0`", 2), -EBADMSG);
	assert_int_equal(hex_decode(back, 1, "0G", 2), -EBADMSG);
	assert_int_equal(hex_decode(back, 1, "abc", 3), -EBADMSG);
	assert_int_equal(hex_encode(txt, 4, all, 2), -EMSGSIZE);
	/* every byte value that is not a hex digit is refused */
	for (int c = 0; c < 256; c++) {
		char s[2] = { '0', (char)c };
		int ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		assert_int_equal(hex_decode(back, 1, s, 2), ok ? 0 : -EBADMSG);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rd_ints),
		cmocka_unit_test(test_rd_short_leaves_cursor),
		cmocka_unit_test(test_rd_vec),
		cmocka_unit_test(test_wbuf_cap_sticky),
		cmocka_unit_test(test_wbuf_vec_roundtrip),
		cmocka_unit_test(test_wbuf_vec_nothing_half_written),
		cmocka_unit_test(test_hex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
