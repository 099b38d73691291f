/* SPDX-License-Identifier: Apache-2.0 */
#include "crypto/mceliece.h"

#include <errno.h>
#include <mceliece.h>

#include "base/secret.h"

_Static_assert(CMCE460896_PK_LEN == mceliece460896_PUBLICKEYBYTES, "pk size");
_Static_assert(CMCE460896_SK_LEN == mceliece460896_SECRETKEYBYTES, "sk size");
_Static_assert(CMCE460896_CT_LEN == mceliece460896_CIPHERTEXTBYTES, "ct size");
_Static_assert(CMCE_SS_LEN == mceliece460896_BYTES, "ss size");
_Static_assert(CMCE6688128_PK_LEN == mceliece6688128_PUBLICKEYBYTES, "pk size");
_Static_assert(CMCE6688128_SK_LEN == mceliece6688128_SECRETKEYBYTES, "sk size");
_Static_assert(CMCE6688128_CT_LEN == mceliece6688128_CIPHERTEXTBYTES, "ct size");
_Static_assert(CMCE_SS_LEN == mceliece6688128_BYTES, "ss size");

/*
 * libmceliece follows the SUPERCOP KEM API: enc and dec return 0 on
 * success and nonzero on failure; keypair returns void. An all-zero
 * session key is refused as well (STYLE.md §6); it is a SHAKE256 output,
 * so this never happens by chance.
 */
static int encap_result(int lib_ret, uint8_t *ct, size_t ct_len, uint8_t *ss)
{
	if (lib_ret != 0 || mfs_ct_is_zero(ss, CMCE_SS_LEN)) {
		mfs_wipe(ct, ct_len);
		mfs_wipe(ss, CMCE_SS_LEN);
		return -EKEYREJECTED;
	}
	return 0;
}

static int decap_result(int lib_ret, uint8_t *ss)
{
	if (lib_ret != 0 || mfs_ct_is_zero(ss, CMCE_SS_LEN)) {
		mfs_wipe(ss, CMCE_SS_LEN);
		return -EBADMSG;
	}
	return 0;
}

int cmce460896_keypair(uint8_t pk[static CMCE460896_PK_LEN],
		       uint8_t sk[static CMCE460896_SK_LEN])
{
	mceliece460896_keypair(pk, sk);
	return 0;
}

int cmce6688128_keypair(uint8_t pk[static CMCE6688128_PK_LEN],
			uint8_t sk[static CMCE6688128_SK_LEN])
{
	mceliece6688128_keypair(pk, sk);
	return 0;
}

int cmce460896_encap(uint8_t ct[static CMCE460896_CT_LEN], uint8_t ss[static CMCE_SS_LEN],
		     const uint8_t pk[static CMCE460896_PK_LEN])
{
	return encap_result(mceliece460896_enc(ct, ss, pk), ct, CMCE460896_CT_LEN, ss);
}

int cmce6688128_encap(uint8_t ct[static CMCE6688128_CT_LEN], uint8_t ss[static CMCE_SS_LEN],
		      const uint8_t pk[static CMCE6688128_PK_LEN])
{
	return encap_result(mceliece6688128_enc(ct, ss, pk), ct, CMCE6688128_CT_LEN, ss);
}

int cmce460896_decap(uint8_t ss[static CMCE_SS_LEN], const uint8_t ct[static CMCE460896_CT_LEN],
		     const uint8_t sk[static CMCE460896_SK_LEN])
{
	return decap_result(mceliece460896_dec(ss, ct, sk), ss);
}

int cmce6688128_decap(uint8_t ss[static CMCE_SS_LEN], const uint8_t ct[static CMCE6688128_CT_LEN],
		      const uint8_t sk[static CMCE6688128_SK_LEN])
{
	return decap_result(mceliece6688128_dec(ss, ct, sk), ss);
}
