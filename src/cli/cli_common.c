/* SPDX-License-Identifier: Apache-2.0 */
#include "cli/cli_common.h"

#include <stdarg.h>
#include <string.h>

#include "base/err.h"

static const char *prog = "mfsec";

void cli_set_prog(const char *p)
{
	prog = p;
}

const char *cli_prog(void)
{
	return prog;
}

int cli_fail(int err, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err < 0)
		fprintf(stderr, ": %s", mfs_strerror(err));
	fputc('\n', stderr);
	return CLI_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s %s: ", prog, cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s %s --help'.\n", prog, cmd);
	return CLI_USAGE;
}

static int is_help(const char *a)
{
	return !strcmp(a, "--help") || !strcmp(a, "-h");
}

int cli_dispatch(const struct cli_cmd *cmds, size_t n, int argc, char **argv,
		 void (*usage)(FILE *f))
{
	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (is_help(argv[1]) || !strcmp(argv[1], "help")) {
		usage(stdout);
		return CLI_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("%s %s\n", prog, MFS_VERSION);
		return CLI_OK;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(argv[1], cmds[i].name))
			continue;
		for (int a = 2; a < argc; a++) {
			if (is_help(argv[a])) {
				cmds[i].help();
				return CLI_OK;
			}
		}
		return cmds[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "%s: unknown command '%s'\n\n", prog, argv[1]);
	usage(stderr);
	return CLI_USAGE;
}
