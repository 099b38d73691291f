/* SPDX-License-Identifier: Apache-2.0 */
/* Random bytes from OpenSSL's DRBG (seeded from the kernel). */
#ifndef MFS_CRYPTO_RNG_H
#define MFS_CRYPTO_RNG_H

#include <stddef.h>

/* Fill out with len random bytes for secret use; -EIO on DRBG failure. */
int crypto_random(void *out, size_t len);
/* Same, for public values (nonces); a separate DRBG instance. */
int crypto_random_public(void *out, size_t len);

#endif
