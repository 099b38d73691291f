/* SPDX-License-Identifier: Apache-2.0 */
#include "base/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static enum mfs_log_level max_level = MFS_LOG_INFO;
static const char *ident = "mfsec";

static const char *const level_names[] = {
	[MFS_LOG_ERR] = "err",
	[MFS_LOG_WARNING] = "warning",
	[MFS_LOG_NOTICE] = "notice",
	[MFS_LOG_INFO] = "info",
	[MFS_LOG_DEBUG] = "debug",
};

void mfs_log_set_level(enum mfs_log_level level)
{
	max_level = level;
}

enum mfs_log_level mfs_log_get_level(void)
{
	return max_level;
}

void mfs_log_set_ident(const char *s)
{
	ident = s;
}

int mfs_log_level_parse(const char *s, enum mfs_log_level *ret)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (level_names[i] && strcmp(s, level_names[i]) == 0) {
			*ret = (enum mfs_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void mfs_log_impl(enum mfs_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* One line per event: fold any newline a caller let through. */
	for (char *c = line; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	fprintf(stderr, "%s: %s: %s%s\n", ident, level_names[level], line,
		(size_t)n >= sizeof(line) ? "..." : "");
}
