/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ESP anti-replay window with extended sequence numbers.
 *
 * The window is an RFC 6479 ring of REPLAY_BLOCKS 64-bit words. It accepts a
 * 64-bit sequence number seq when seq > 0, seq was not accepted before, and
 * seq > top - REPLAY_WINDOW (top: the highest number accepted so far). The
 * ring keeps one spare word so that sliding forward clears whole words and
 * never touches a bit still inside the window (RFC 6479 §2).
 *
 * Use: infer the 64-bit number from the 32 bits on the wire with
 * replay_infer() (RFC 4303 Appendix A2.2), reject early with replay_check()
 * (no state change; before spending an AES-GCM decryption), and only after
 * the ICV verified commit it with replay_update(), which rechecks. The
 * caller serializes calls on one window.
 */
#ifndef MFS_TUNNEL_REPLAY_H
#define MFS_TUNNEL_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#define REPLAY_BLOCKS 32U				/* power of two */
#define REPLAY_WINDOW ((REPLAY_BLOCKS - 1) * 64U)	/* 1984 sequence numbers */

struct replay {
	uint64_t top;		/* highest accepted; 0 before the first */
	uint64_t bm[REPLAY_BLOCKS];
};

void replay_init(struct replay *w);

/*
 * The 64-bit sequence number whose low 32 bits are seq_lo, chosen relative
 * to the window as RFC 4303 Appendix A2.2 does (a number just below the
 * window's bottom is read as the next 2^32 cycle, i.e. far ahead).
 */
uint64_t replay_infer(const struct replay *w, uint32_t seq_lo);

/* 0 if seq would be accepted now; -EALREADY if seen or too old (or 0). */
int replay_check(const struct replay *w, uint64_t seq);

/* Check and record seq; -EALREADY (window unchanged) if it is not acceptable. */
int replay_update(struct replay *w, uint64_t seq);

#endif
