/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Classic McEliece KEM (mceliece460896, mceliece6688128) through
 * libmceliece. Thin wrappers: fixed sizes, negative-errno returns, secret
 * outputs zeroed on failure. The parameter sets are the NIST round-4 ones;
 * the "f" and "pc" variants are not offered.
 *
 * Names start with cmce_ because libmceliece owns the mceliece* namespace:
 * its header #defines mceliece460896_keypair and friends, and exports
 * mceliece_* internals.
 *
 * Key generation is slow (tens to hundreds of milliseconds) and must never
 * run inside a key-exchange step; static keys are generated ahead of time
 * (a worker thread in the daemon, a tool offline).
 *
 * Randomness: libmceliece draws it from librandombytes (the kernel's
 * getrandom()), not from OpenSSL's DRBG.
 */
#ifndef MFS_CRYPTO_MCELIECE_H
#define MFS_CRYPTO_MCELIECE_H

#include <stdint.h>

#define CMCE460896_PK_LEN 524160
#define CMCE460896_SK_LEN 13608
#define CMCE460896_CT_LEN 156

#define CMCE6688128_PK_LEN 1044992
#define CMCE6688128_SK_LEN 13932
#define CMCE6688128_CT_LEN 208

#define CMCE_SS_LEN 32		/* session key, both parameter sets */

/*
 * Fresh key pair: pk is public, sk is secret (put it in a struct secret).
 * Always 0: libmceliece's keypair cannot fail (it returns void).
 */
int cmce460896_keypair(uint8_t pk[static CMCE460896_PK_LEN],
		       uint8_t sk[static CMCE460896_SK_LEN]);
int cmce6688128_keypair(uint8_t pk[static CMCE6688128_PK_LEN],
			uint8_t sk[static CMCE6688128_SK_LEN]);

/*
 * Encapsulate to pk: ct (public) and ss (secret). -EKEYREJECTED when
 * libmceliece refuses the public key or yields an all-zero key; then ct
 * and ss are zeroed.
 */
int cmce460896_encap(uint8_t ct[static CMCE460896_CT_LEN], uint8_t ss[static CMCE_SS_LEN],
		     const uint8_t pk[static CMCE460896_PK_LEN]);
int cmce6688128_encap(uint8_t ct[static CMCE6688128_CT_LEN], uint8_t ss[static CMCE_SS_LEN],
		      const uint8_t pk[static CMCE6688128_PK_LEN]);

/*
 * Decapsulate ct with sk into ss. Implicit rejection: a ciphertext that
 * does not decode gives an unrelated pseudo-random ss and still returns 0.
 * -EBADMSG only if libmceliece reports an error (not expected for these
 * two parameter sets) or yields an all-zero key; then ss is zeroed.
 */
int cmce460896_decap(uint8_t ss[static CMCE_SS_LEN], const uint8_t ct[static CMCE460896_CT_LEN],
		     const uint8_t sk[static CMCE460896_SK_LEN]);
int cmce6688128_decap(uint8_t ss[static CMCE_SS_LEN], const uint8_t ct[static CMCE6688128_CT_LEN],
		      const uint8_t sk[static CMCE6688128_SK_LEN]);

#endif
