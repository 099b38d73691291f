/* SPDX-License-Identifier: Apache-2.0 */
#include "tunnel/replay.h"

#include <errno.h>
#include <string.h>

#define BLOCK_MASK (REPLAY_BLOCKS - 1U)

void replay_init(struct replay *w)
{
	memset(w, 0, sizeof(*w));
}

uint64_t replay_infer(const struct replay *w, uint32_t seq_lo)
{
	uint32_t tl = (uint32_t)w->top, th = (uint32_t)(w->top >> 32);
	uint32_t bottom = tl - (REPLAY_WINDOW - 1);	/* mod 2^32 */
	uint32_t sh;

	if (tl >= REPLAY_WINDOW - 1) {
		/* Case A: the window lies inside one 2^32 cycle. */
		sh = seq_lo >= bottom ? th : th + 1;
	} else {
		/* Case B: the window straddles the start of cycle th. */
		if (seq_lo >= bottom)
			sh = th ? th - 1 : 0;	/* no cycle before the first */
		else
			sh = th;
	}
	return ((uint64_t)sh << 32) | seq_lo;
}

int replay_check(const struct replay *w, uint64_t seq)
{
	if (seq == 0)
		return -EALREADY;
	if (seq > w->top)
		return 0;
	if (w->top - seq >= REPLAY_WINDOW)
		return -EALREADY;
	if (w->bm[(seq >> 6) & BLOCK_MASK] & (1ULL << (seq & 63)))
		return -EALREADY;
	return 0;
}

int replay_update(struct replay *w, uint64_t seq)
{
	int r;

	if ((r = replay_check(w, seq)) < 0)
		return r;
	if (seq > w->top) {
		uint64_t from = w->top >> 6, to = seq >> 6;
		uint64_t n = to - from;

		if (n > REPLAY_BLOCKS)
			n = REPLAY_BLOCKS;
		/* Clear the words the window slides into. */
		for (uint64_t i = 1; i <= n; i++)
			w->bm[(from + i) & BLOCK_MASK] = 0;
		w->top = seq;
	}
	w->bm[(seq >> 6) & BLOCK_MASK] |= 1ULL << (seq & 63);
	return 0;
}
