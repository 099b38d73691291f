/* SPDX-License-Identifier: Apache-2.0 */
#include "crypto/pkey_codec.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>

#include "base/secret.h"

static bool is_mlkem(const char *alg)
{
	return strncmp(alg, "ML-KEM-", 7) == 0;
}

static EVP_PKEY *raw_to_pkey(const char *alg, bool is_private, const uint8_t *raw, size_t len)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM params[2];
	const char *param;

	if (!is_mlkem(alg)) {
		return is_private ? EVP_PKEY_new_raw_private_key_ex(NULL, alg, NULL, raw, len)
				  : EVP_PKEY_new_raw_public_key_ex(NULL, alg, NULL, raw, len);
	}
	if (!is_private)
		param = OSSL_PKEY_PARAM_PUB_KEY;
	else if (len == 64)
		param = OSSL_PKEY_PARAM_ML_KEM_SEED;
	else
		param = OSSL_PKEY_PARAM_PRIV_KEY;
	params[0] = OSSL_PARAM_construct_octet_string(param, (void *)raw, len);
	params[1] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL)) &&
	    EVP_PKEY_fromdata_init(ctx) == 1)
		(void)EVP_PKEY_fromdata(ctx, &pkey,
					is_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

int pkey_raw_to_pem(const char *alg, bool is_private, const uint8_t *raw, size_t raw_len,
		    char **ret_pem, size_t *ret_len)
{
	EVP_PKEY *pkey = raw_to_pkey(alg, is_private, raw, raw_len);
	BIO *bio = NULL;
	char *data, *pem;
	long n;
	int r = -EIO;

	if (!pkey)
		return -EKEYREJECTED;
	if (!(bio = BIO_new(BIO_s_secmem())))
		goto out;
	if ((is_private ? PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)
			: PEM_write_bio_PUBKEY(bio, pkey)) != 1)
		goto out;
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0)
		goto out;
	if (!(pem = malloc((size_t)n + 1))) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(pem, data, (size_t)n);
	pem[n] = '\0';
	*ret_pem = pem;
	*ret_len = (size_t)n;
	r = 0;
out:
	BIO_free(bio);	/* secure-memory BIO: cleansed on free */
	EVP_PKEY_free(pkey);
	return r;
}

void pkey_pem_free(char *pem, size_t len)
{
	if (!pem)
		return;
	mfs_wipe(pem, len);
	free(pem);
}

/* Copy one octet-string parameter of pkey into out[cap]. */
static int get_octets(EVP_PKEY *pkey, const char *name, uint8_t *out, size_t cap, size_t *ret_len)
{
	size_t len = 0;

	if (EVP_PKEY_get_octet_string_param(pkey, name, NULL, 0, &len) != 1 || len == 0)
		return -ENOENT;
	if (len > cap)
		return -EMSGSIZE;
	if (EVP_PKEY_get_octet_string_param(pkey, name, out, cap, &len) != 1)
		return -EIO;
	*ret_len = len;
	return 0;
}

/*
 * The passphrase callback for every PEM read: there is none. With a NULL
 * callback OpenSSL falls back to PEM_def_callback(), which prompts on the
 * terminal (or reads stdin when there is none), so an encrypted key in a
 * file would stall the tool waiting for input. -1 makes the read fail.
 */
static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

int pkey_pem_to_raw(const char *alg, bool is_private, const char *pem, size_t pem_len,
		    uint8_t *out, size_t cap, size_t *ret_len)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio;
	size_t len = cap;
	int r;

	if (pem_len > INT_MAX)
		return -EMSGSIZE;
	if (!(bio = BIO_new_mem_buf(pem, (int)pem_len)))
		return -ENOMEM;
	pkey = is_private ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)
			  : PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (!pkey)
		return -EBADMSG;
	if (!EVP_PKEY_is_a(pkey, alg)) {
		r = -EKEYREJECTED;
		goto out;
	}
	if (!is_private) {
		r = get_octets(pkey, OSSL_PKEY_PARAM_PUB_KEY, out, cap, &len);
	} else if (is_mlkem(alg)) {
		r = get_octets(pkey, OSSL_PKEY_PARAM_ML_KEM_SEED, out, cap, &len);
		if (r == -ENOENT)
			r = get_octets(pkey, OSSL_PKEY_PARAM_PRIV_KEY, out, cap, &len);
	} else {
		r = EVP_PKEY_get_raw_private_key(pkey, out, &len) == 1 ? 0 : -EMSGSIZE;
	}
	if (r < 0) {
		mfs_wipe(out, cap);
		goto out;
	}
	*ret_len = len;
out:
	EVP_PKEY_free(pkey);
	return r;
}

bool pkey_is_pem(const uint8_t *buf, size_t len)
{
	static const char tag[] = "-----BEGIN ";
	size_t i = 0;

	while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
		i++;
	return len - i >= sizeof(tag) - 1 && memcmp(buf + i, tag, sizeof(tag) - 1) == 0;
}
