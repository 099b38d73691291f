/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfs-kex: key-exchange methods and the MFS key combiner from the command
 * line, in the spirit of `wg genkey` and `openssl pkeyutl`.
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/secret.h"
#include "cli/cli.h"

static const struct cli_cmd commands[] = {
	{ "list", "list the key-exchange methods with family, category and sizes", cmd_list, help_list },
	{ "keygen", "generate a key pair (or a PSK) into files", cmd_keygen, help_keygen },
	{ "encap", "encapsulate to a public key: ciphertext and shared secret", cmd_encap, help_encap },
	{ "decap", "decapsulate a ciphertext with a secret key", cmd_decap, help_decap },
	{ "combine", "combine method secrets into one key (ETSI TS 103 744)", cmd_combine, help_combine },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: mfs-kex <command> [options]\n\n"
		   "Post-quantum, multi-factor key exchange building blocks of mfsec.\n"
		   "Secret keys and shared secrets are read from and written to files\n"
		   "(mode 0600), never taken from the command line.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'mfs-kex <command> --help' for a command's options.\n"
		   "See docs/mfs-kex.md for file formats and examples.\n");
}

int main(int argc, char **argv)
{
	cli_set_prog("mfs-kex");
	mfs_log_set_ident("mfs-kex");
	(void)mfs_harden_process();
	return cli_dispatch(commands, sizeof(commands) / sizeof(commands[0]), argc, argv, usage);
}
