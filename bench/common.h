/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the benchmarks share: fatal errors, clocks, statistics over the
 * repetitions, and running a reference tool (`openssl speed -mr`,
 * `mceliece-speed`) to read its figures in the same run.
 */
#ifndef MFS_BENCH_COMMON_H
#define MFS_BENCH_COMMON_H

#include <sys/types.h>
#include <time.h>

#define BENCH_MAX_REPS 64

/* The name in error messages ("bench/kex"); set once in main(). */
void bench_set_name(const char *name);
__attribute__((noreturn, format(printf, 1, 2)))
void bench_die(const char *fmt, ...);
/* Die when r is a negative errno. */
void bench_check(int r, const char *what);

/* Seconds on the given clock (CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, ...). */
double bench_clock(clockid_t id);

/* Median, minimum and maximum of n <= BENCH_MAX_REPS values (0 when n is 0). */
double bench_median(const double *v, int n);
double bench_min(const double *v, int n);
double bench_max(const double *v, int n);

/*
 * Start argv (argv[0] looked up in PATH) with stderr discarded: returns the
 * read end of its stdout (close-on-exec) and the child in *pid, or -1.
 */
int bench_spawn(const char *const argv[], pid_t *pid);
/*
 * Run argv (argv[0] looked up in PATH) to completion with stderr discarded;
 * its stdout, NUL-terminated and malloc()ed, or NULL if it could not run or
 * exited non-zero.
 */
char *bench_run_capture(const char *const argv[]);
/* The first line of out starting with prefix, pointing just after it; NULL if none. */
const char *bench_find_line(const char *out, const char *prefix);
/* The idx-th (0-based) colon-separated field of a line as a number; -1 if absent. */
double bench_field(const char *line, int idx);

#endif
