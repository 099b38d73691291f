/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the command-line tools (mfs-kex, mfsctl) share: exit statuses, the
 * subcommand table and its dispatch, and the error printers.
 */
#ifndef MFS_CLI_CLI_COMMON_H
#define MFS_CLI_CLI_COMMON_H

#include <stddef.h>
#include <stdio.h>

/* Exit statuses of every tool. */
enum {
	CLI_OK = 0,
	CLI_FAIL = 1,	/* the operation failed (bad key, I/O, daemon refused, ...) */
	CLI_USAGE = 2,	/* bad command line */
};

struct cli_cmd {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);	/* argv[0] is the command name */
	void (*help)(void);
};

/* The program name in messages ("mfs-kex"); set once at start. */
void cli_set_prog(const char *prog);
const char *cli_prog(void);

/* Print "<prog>: <context>[: <reason of err>]" to stderr; returns CLI_FAIL. */
__attribute__((format(printf, 2, 3)))
int cli_fail(int err, const char *fmt, ...);
/* Print a usage error and the command's help hint; returns CLI_USAGE. */
__attribute__((format(printf, 2, 3)))
int cli_usage(const char *cmd, const char *fmt, ...);

/*
 * Run argv[1] from cmds[n]: handles no command (usage to stderr, CLI_USAGE),
 * --help/-h/help, --version, "<command> --help" anywhere in its arguments,
 * and unknown commands. usage() prints the tool's overview to f.
 */
int cli_dispatch(const struct cli_cmd *cmds, size_t n, int argc, char **argv,
		 void (*usage)(FILE *f));

#endif
