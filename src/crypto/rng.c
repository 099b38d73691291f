/* SPDX-License-Identifier: Apache-2.0 */
#include "crypto/rng.h"

#include <errno.h>
#include <limits.h>
#include <openssl/rand.h>

int crypto_random(void *out, size_t len)
{
	if (len > INT_MAX)
		return -EINVAL;
	return RAND_priv_bytes(out, (int)len) == 1 ? 0 : -EIO;
}

int crypto_random_public(void *out, size_t len)
{
	if (len > INT_MAX)
		return -EINVAL;
	return RAND_bytes(out, (int)len) == 1 ? 0 : -EIO;
}
