/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The monotonic clock (CLOCK_MONOTONIC), for durations, deadlines and
 * timeouts; never for times that are stored, sent or shown (those are
 * wall-clock seconds, passed in as "now"). Inline, so the self-contained
 * libmfs-client uses it without linking libmfsbase.
 */
#ifndef MFS_BASE_CLOCK_H
#define MFS_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds since an arbitrary fixed point (boot), never decreasing. */
static inline int64_t mfs_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Nanoseconds, likewise. */
static inline int64_t mfs_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#endif
