/* SPDX-License-Identifier: Apache-2.0 */
/* mfs-kex combine: placeholder until the combiner lands (same series). */
#include <stdio.h>

#include "cli/cli.h"

void help_combine(void)
{
	printf("Usage: mfs-kex combine --input FILE.json\n");
}

int cmd_combine(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cli_fail(0, "combine: not built yet");
}
