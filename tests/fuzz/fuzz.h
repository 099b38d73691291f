/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The libFuzzer entry points, declared once for every harness and for
 * replay_main.c (the corpus replayer used when libFuzzer is not built in).
 */
#ifndef MFS_TESTS_FUZZ_H
#define MFS_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Run one input; data[size] is owned by the caller. Always returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional one-time setup, before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
