/* SPDX-License-Identifier: Apache-2.0 */
/* mfs-kex subcommands and their shared helpers. */
#ifndef MFS_CLI_CLI_H
#define MFS_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/secret.h"
#include "cli/cli_common.h"
#include "kex/kex.h"


int cmd_list(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_encap(int argc, char **argv);
int cmd_decap(int argc, char **argv);
int cmd_combine(int argc, char **argv);
void help_list(void);
void help_keygen(void);
void help_encap(void);
void help_decap(void);
void help_combine(void);

/* The method named on the command line, or NULL after printing why not. */
const struct kex_method *cli_method(const char *name);

/* Key files: raw bytes of the method's exact size, or PEM where the method has an OpenSSL type. */
enum key_format { KEY_RAW, KEY_PEM };
int cli_key_format(const char *s, enum key_format *ret);
/* Read a public key file (raw or PEM, detected) of method m into a malloc()ed buffer of kem->pk_len. */
int cli_read_public_key(const struct kex_method *m, const char *path, uint8_t **ret);
/* Read a secret key file (raw or PEM, detected; must be mode 0600 or stricter). */
int cli_read_secret_key(const struct kex_method *m, const char *path, struct secret **ret);
int cli_write_public_key(const struct kex_method *m, const char *path, const uint8_t *pk,
			 enum key_format fmt, bool force);
int cli_write_secret_key(const struct kex_method *m, const char *path, const struct secret *sk,
			 enum key_format fmt, bool force);
/* Write a raw file atomically (0600 when secret); prints the error. */
int cli_write_file(const char *what, const char *path, const void *data, size_t len,
		   bool secret, bool force);

#endif
