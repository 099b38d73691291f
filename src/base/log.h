/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging facade.
 *
 * One line per event, to stderr (and later syslog/journal). Library layers
 * log at debug level only; daemons and tools log once, at the edge.
 *
 * The facade cannot print a secret: every argument of mfs_log() and the
 * level macros is checked at compile time, and passing a struct secret (or
 * a pointer to one) fails the build with "secret passed to a log call".
 * Raw key bytes must never reach a format string either; there is no hex
 * dump helper here on purpose.
 */
#ifndef MFS_BASE_LOG_H
#define MFS_BASE_LOG_H

#include "base/secret.h"

enum mfs_log_level {
	MFS_LOG_ERR = 3,
	MFS_LOG_WARNING = 4,
	MFS_LOG_NOTICE = 5,
	MFS_LOG_INFO = 6,
	MFS_LOG_DEBUG = 7,
};

/* Messages above this level are dropped. Default: MFS_LOG_INFO. */
void mfs_log_set_level(enum mfs_log_level level);
enum mfs_log_level mfs_log_get_level(void);
/* Prefix every line with this program name (not copied; keep it alive). */
void mfs_log_set_ident(const char *ident);
/* Parse "err|warning|notice|info|debug"; -EINVAL if unknown. */
int mfs_log_level_parse(const char *s, enum mfs_log_level *ret);

__attribute__((format(printf, 2, 3)))
void mfs_log_impl(enum mfs_log_level level, const char *fmt, ...);

/* Compile-time refusal of secret types, one argument at a time. */
#define MFS_LOG_NOT_SECRET_(x)                                                         \
	(void)sizeof(struct {                                                          \
		_Static_assert(!__builtin_types_compatible_p(__typeof__(x), struct secret *) && \
			       !__builtin_types_compatible_p(__typeof__(x), const struct secret *) && \
			       !__builtin_types_compatible_p(__typeof__(x), struct secret), \
			       "secret passed to a log call");                         \
		int dummy_;                                                            \
	})

#define MFS_LOG_N_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, N, ...) N
#define MFS_LOG_COUNT_(...) MFS_LOG_N_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define MFS_LOG_CAT_(a, b) a##b
#define MFS_LOG_CAT(a, b) MFS_LOG_CAT_(a, b)
#define MFS_LOG_C1(x) MFS_LOG_NOT_SECRET_(x)
#define MFS_LOG_C2(x, ...) MFS_LOG_NOT_SECRET_(x), MFS_LOG_C1(__VA_ARGS__)
#define MFS_LOG_C3(x, ...) MFS_LOG_NOT_SECRET_(x), MFS_LOG_C2(__VA_ARGS__)
#define MFS_LOG_C4(x, ...) MFS_LOG_NOT_SECRET_(x), MFS_LOG_C3(__VA_ARGS__)
#define MFS_LOG_C5(x, ...) MFS_LOG_NOT_SECRET_(x), MFS_LOG_C4(__VA_ARGS__)
#define MFS_LOG_C6(x, ...) MFS_LOG_NOT_SECRET_(x), MFS_LOG_C5(__VA_ARGS__)
#define MFS_LOG_C7(x, ...) MFS_LOG_NOT_SECRET_(x), MFS_LOG_C6(__VA_ARGS__)
#define MFS_LOG_C8(x, ...) MFS_LOG_NOT_SECRET_(x), MFS_LOG_C7(__VA_ARGS__)
#define MFS_LOG_C9(x, ...) MFS_LOG_NOT_SECRET_(x), MFS_LOG_C8(__VA_ARGS__)
#define MFS_LOG_C10(x, ...) MFS_LOG_NOT_SECRET_(x), MFS_LOG_C9(__VA_ARGS__)
#define MFS_LOG_C11(x, ...) MFS_LOG_NOT_SECRET_(x), MFS_LOG_C10(__VA_ARGS__)
#define MFS_LOG_C12(x, ...) MFS_LOG_NOT_SECRET_(x), MFS_LOG_C11(__VA_ARGS__)
#define MFS_LOG_C13(x, ...) MFS_LOG_NOT_SECRET_(x), MFS_LOG_C12(__VA_ARGS__)
#define MFS_LOG_C14(x, ...) MFS_LOG_NOT_SECRET_(x), MFS_LOG_C13(__VA_ARGS__)
#define MFS_LOG_C15(x, ...) MFS_LOG_NOT_SECRET_(x), MFS_LOG_C14(__VA_ARGS__)
#define MFS_LOG_C16(x, ...) MFS_LOG_NOT_SECRET_(x), MFS_LOG_C15(__VA_ARGS__)
/* Checks the format string and every argument (up to 15 after the format). */
#define MFS_LOG_CHECK_(...) (MFS_LOG_CAT(MFS_LOG_C, MFS_LOG_COUNT_(__VA_ARGS__))(__VA_ARGS__))

#define mfs_log(level, ...) \
	do { MFS_LOG_CHECK_(__VA_ARGS__); mfs_log_impl((level), __VA_ARGS__); } while (0)
#define log_err(...)     mfs_log(MFS_LOG_ERR, __VA_ARGS__)
#define log_warning(...) mfs_log(MFS_LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  mfs_log(MFS_LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    mfs_log(MFS_LOG_INFO, __VA_ARGS__)
#define log_debug(...)   mfs_log(MFS_LOG_DEBUG, __VA_ARGS__)

#endif
