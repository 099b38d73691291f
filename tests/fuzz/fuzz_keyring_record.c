/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The parser of the static key rotation records (src/cf/keyring.h,
 * keyring_check_record(): the code keyring_load_record() runs on
 * state_dir/static/own-* and pin-* files) on arbitrary bytes, from a heap
 * copy of exactly their size so that an overread is an ASan report.
 * Checked beyond "no crash, no leak": the result is 0, -EBADMSG or -ENOMEM,
 * and anything over KEYRING_RECORD_MAX or with a NUL byte is refused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cf/keyring.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	int r;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	r = keyring_check_record(copy, size);
	if (r != 0 && r != -EBADMSG && r != -ENOMEM)
		abort();
	if (r == 0 && (size > KEYRING_RECORD_MAX || memchr(copy, '\0', size)))
		abort();
	free(copy);
	return 0;
}
