/* SPDX-License-Identifier: Apache-2.0 */
/* mfsctl commands of the admin API (mfsctl_admin.c, docs/admin-api.md). */
#ifndef MFS_CLI_MFSCTL_ADMIN_H
#define MFS_CLI_MFSCTL_ADMIN_H

#include <stdbool.h>

/* The default admin socket: CONFIG_DEFAULT_ADMIN_SOCKET of mfsd (docs/config.md). */
#define MFSCTL_DEFAULT_SOCKET "/run/mfsd/admin.sock"

void mfsctl_admin_set_socket(const char *path);
void mfsctl_admin_set_json(bool on);

int mfsctl_cmd_status(int argc, char **argv);
int mfsctl_cmd_peers(int argc, char **argv);
int mfsctl_cmd_keys(int argc, char **argv);
int mfsctl_cmd_rekey(int argc, char **argv);
int mfsctl_cmd_method(int argc, char **argv);
int mfsctl_cmd_audit(int argc, char **argv);
int mfsctl_cmd_rotate_static(int argc, char **argv);
void mfsctl_help_rotate_static(void);
void mfsctl_help_status(void);
void mfsctl_help_peers(void);
void mfsctl_help_keys(void);
void mfsctl_help_rekey(void);
void mfsctl_help_method(void);
void mfsctl_help_audit(void);

#endif
