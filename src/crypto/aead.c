/* SPDX-License-Identifier: Apache-2.0 */
#include "crypto/aead.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>

#include "base/secret.h"

void aead_done(struct aead *a)
{
	if (!a)
		return;
	EVP_CIPHER_CTX_free(a->enc);	/* frees and cleanses the key schedule */
	EVP_CIPHER_CTX_free(a->dec);
	a->enc = a->dec = NULL;
}

int aead_init(struct aead *a, const uint8_t key[static AEAD_KEY_LEN])
{
	EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new(), *d = EVP_CIPHER_CTX_new();

	a->enc = e;
	a->dec = d;
	if (!e || !d ||
	    EVP_EncryptInit_ex(e, EVP_aes_256_gcm(), NULL, key, NULL) != 1 ||
	    EVP_DecryptInit_ex(d, EVP_aes_256_gcm(), NULL, key, NULL) != 1) {
		aead_done(a);
		return -EIO;
	}
	return 0;
}

/* Set the IV on a keyed context; lengths other than 12 go through IVLEN. */
static int set_iv(EVP_CIPHER_CTX *c, int enc, const uint8_t *iv, size_t iv_len)
{
	if (iv_len == 0 || iv_len > INT_MAX)
		return -EINVAL;
	if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, (int)iv_len, NULL) != 1)
		return -EINVAL;
	if (EVP_CipherInit_ex(c, NULL, NULL, NULL, iv, enc) != 1)
		return -EIO;
	return 0;
}

int aead_seal(struct aead *a, const uint8_t *iv, size_t iv_len,
	      const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
	      uint8_t *ct, uint8_t tag[static AEAD_TAG_LEN])
{
	EVP_CIPHER_CTX *c = a->enc;
	int n, r;

	if (!c || aad_len > INT_MAX || pt_len > INT_MAX)
		return -EINVAL;
	if ((r = set_iv(c, 1, iv, iv_len)) < 0)
		return r;
	if ((aad_len && EVP_EncryptUpdate(c, NULL, &n, aad, (int)aad_len) != 1) ||
	    (pt_len && EVP_EncryptUpdate(c, ct, &n, pt, (int)pt_len) != 1) ||
	    EVP_EncryptFinal_ex(c, ct + pt_len, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, AEAD_TAG_LEN, tag) != 1)
		return -EIO;
	return 0;
}

int aead_open(struct aead *a, const uint8_t *iv, size_t iv_len,
	      const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
	      const uint8_t *tag, size_t tag_len, uint8_t *pt)
{
	EVP_CIPHER_CTX *c = a->dec;
	int n, r;

	if (!c || aad_len > INT_MAX || ct_len > INT_MAX) {
		r = -EINVAL;
		goto out;
	}
	/* Only full-length tags: truncated GCM tags weaken authentication. */
	if (tag_len != AEAD_TAG_LEN) {
		r = -EKEYREJECTED;
		goto out;
	}
	if ((r = set_iv(c, 0, iv, iv_len)) < 0)
		goto out;
	if ((aad_len && EVP_DecryptUpdate(c, NULL, &n, aad, (int)aad_len) != 1) ||
	    (ct_len && EVP_DecryptUpdate(c, pt, &n, ct, (int)ct_len) != 1) ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, AEAD_TAG_LEN, (void *)tag) != 1) {
		r = -EIO;
		goto out;
	}
	r = EVP_DecryptFinal_ex(c, pt + ct_len, &n) == 1 ? 0 : -EKEYREJECTED;
out:
	/* Nothing unauthenticated is ever left for the caller. */
	if (r < 0 && ct_len <= INT_MAX)
		mfs_wipe(pt, ct_len);
	return r;
}
