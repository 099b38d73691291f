/* SPDX-License-Identifier: Apache-2.0 */
/* mfsctl key get | get-by-id | subscribe (mfsctl_key.c, docs/push.md). */
#ifndef MFS_CLI_MFSCTL_KEY_H
#define MFS_CLI_MFSCTL_KEY_H

int mfsctl_cmd_key(int argc, char **argv);
void mfsctl_help_key(void);

#endif
