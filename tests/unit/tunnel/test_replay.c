/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The anti-replay window (src/tunnel/replay.c) against a reference written
 * from the rule alone (accept seq > 0 not seen before and newer than
 * top - REPLAY_WINDOW), over 10^6 sequence numbers with reordering,
 * duplicates, old packets and jumps, crossing a 2^32 boundary so that the
 * ESN inference of RFC 4303 Appendix A is exercised too.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tunnel/replay.h"

#define N 1000000ULL
#define SPAN (6 * N)

/* xorshift64*: deterministic and independent of libc. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

struct ref {
	uint8_t *seen;		/* one byte per number in [base, base + SPAN) */
	uint64_t base, top;
};

static bool ref_accept(struct ref *r, uint64_t seq)
{
	if (seq == 0 || seq < r->base || seq >= r->base + SPAN)
		return false;
	if (r->top && seq <= r->top && r->top - seq >= REPLAY_WINDOW)
		return false;
	if (r->seen[seq - r->base])
		return false;
	r->seen[seq - r->base] = 1;
	if (seq > r->top)
		r->top = seq;
	return true;
}

static void run_differential(uint64_t base)
{
	struct ref ref = { .seen = calloc(SPAN, 1), .base = base, .top = 0 };
	struct replay w;
	uint64_t next = base, accepted = 0, rejected = 0;

	assert_non_null(ref.seen);
	replay_init(&w);
	/* Prime the window at base (as if earlier traffic had moved it there). */
	assert_int_equal(replay_update(&w, base), 0);
	assert_true(ref_accept(&ref, base));
	for (uint64_t i = 0; i < N; i++) {
		uint64_t x = rnd() % 1000, seq;

		if (x < 700)
			seq = ++next;				/* in order */
		else if (x < 850)
			seq = next - rnd() % 1200;		/* late, mostly inside */
		else if (x < 900)
			seq = next - rnd() % (3 * REPLAY_WINDOW);	/* maybe too old */
		else if (x < 950)
			seq = next + 1 + rnd() % 50;		/* early (reordered ahead) */
		else if (x < 990)
			seq = next - rnd() % 8;			/* duplicate-ish */
		else if (x < 999)
			seq = next += 1 + rnd() % 300;		/* a gap */
		else
			seq = next += 1 + rnd() % 5000;		/* a jump past the window */
		if (seq <= base || seq >= base + SPAN)
			continue;
		if (seq > next)
			next = seq;
		/* The wire carries the low half; inference must find seq when it is not too old. */
		uint64_t inferred = replay_infer(&w, (uint32_t)seq);
		if (w.top < REPLAY_WINDOW || seq > w.top - REPLAY_WINDOW)
			assert_true(inferred == seq);
		bool want = ref_accept(&ref, seq);
		int c = replay_check(&w, seq);
		int u = replay_update(&w, seq);

		assert_int_equal(c, u);
		assert_int_equal(u == 0, want);
		assert_true(w.top == ref.top);
		if (want)
			accepted++;
		else
			rejected++;
	}
	assert_true(accepted > N / 2);
	assert_true(rejected > N / 20);
	free(ref.seen);
}

static void test_differential_low(void **state)
{
	(void)state;
	run_differential(1);
}

static void test_differential_across_2_32(void **state)
{
	(void)state;
	run_differential((1ULL << 32) - 300000);
}

static void test_edges(void **state)
{
	struct replay w;

	(void)state;
	replay_init(&w);
	assert_int_equal(replay_check(&w, 0), -EALREADY);
	assert_int_equal(replay_update(&w, 0), -EALREADY);
	assert_int_equal(replay_update(&w, 1), 0);
	assert_int_equal(replay_update(&w, 1), -EALREADY);
	assert_int_equal(replay_update(&w, 10000), 0);
	/* Exactly at the window's bottom edge. */
	assert_int_equal(replay_check(&w, 10000 - REPLAY_WINDOW), -EALREADY);
	assert_int_equal(replay_update(&w, 10000 - REPLAY_WINDOW + 1), 0);
	assert_int_equal(replay_update(&w, 10000 - REPLAY_WINDOW + 1), -EALREADY);
	assert_int_equal(replay_update(&w, 9999), 0);
	/* A jump further than the whole ring clears it. */
	assert_int_equal(replay_update(&w, 10000 + 64 * REPLAY_BLOCKS * 3), 0);
	for (uint64_t s = 10000 + 64 * REPLAY_BLOCKS * 3 - REPLAY_WINDOW + 1;
	     s < 10000 + 64 * REPLAY_BLOCKS * 3; s++)
		assert_int_equal(replay_check(&w, s), 0);
	assert_true(REPLAY_WINDOW >= 1024);
}

static void test_infer(void **state)
{
	struct replay w;

	(void)state;
	replay_init(&w);
	/* Fresh window: low numbers are cycle 0. */
	assert_true(replay_infer(&w, 5) == 5);
	assert_true(replay_infer(&w, 0xffffffffU) == 0xffffffffULL);
	w.top = (3ULL << 32) | 0x10;	/* window straddles into cycle 2 */
	assert_true(replay_infer(&w, 0x20) == ((3ULL << 32) | 0x20));
	assert_true(replay_infer(&w, 0xfffffff0U) == ((2ULL << 32) | 0xfffffff0U));
	w.top = (3ULL << 32) | 0x80000000U;	/* inside one cycle */
	assert_true(replay_infer(&w, 0x80000001U) == ((3ULL << 32) | 0x80000001U));
	assert_true(replay_infer(&w, 0x10) == ((4ULL << 32) | 0x10));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_infer),
		cmocka_unit_test(test_differential_low),
		cmocka_unit_test(test_differential_across_2_32),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
