/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the PEM key reader, pkey_pem_to_raw(), and pkey_is_pem(): the bytes
 * of every key file mfs-kex is given (src/cli/keyio.c) pass through them.
 *
 * Input: one selector byte, then the PEM text. Selector bits:
 *
 *   bit 0     0: public key (PEM_read_bio_PUBKEY), 1: private key (PKCS#8)
 *   bits 1-2  the algorithm, modulo 3: ML-KEM-768, ML-KEM-1024, X25519
 *   bit 3     1: a one-byte-too-small output buffer (the -EMSGSIZE path)
 *
 * The output buffer is a heap block of exactly its capacity, so ASan sees
 * any write past it. On success the raw length must be one the algorithm
 * defines (ML-KEM private: the 64-byte seed or the expanded key) and fit the
 * buffer; on failure the return value is a negative errno and *ret_len is
 * left as it was. pkey_is_pem() runs on the same bytes and must agree with a
 * reference check written here.
 *
 * OpenSSL's default user interface is replaced by one that aborts when
 * opened: a passphrase prompt (an encrypted key read without a passphrase
 * callback) would make a key file stall the tool on the terminal or stdin.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ui.h>

#include "crypto/pkey_codec.h"
#include "fuzz.h"

#define FUZZ_ERRNO_MAX 4095

struct fuzz_alg {
	const char *name;
	size_t pk_len;
	size_t sk_len[2];	/* accepted raw private lengths */
};

static const struct fuzz_alg algs[] = {
	{ "ML-KEM-768", 1184, { 64, 2400 } },
	{ "ML-KEM-1024", 1568, { 64, 3168 } },
	{ "X25519", 32, { 32, 32 } },
};

static void fuzz_fail(const struct fuzz_alg *a, bool priv, const char *what, long v)
{
	fprintf(stderr, "fuzz_pem_key: %s %s: %s (%ld)\n", a->name, priv ? "private" : "public",
		what, v);
	abort();
}

/* The reference: optional leading space, tab, CR or LF, then "-----BEGIN ". */
static bool ref_is_pem(const uint8_t *p, size_t n)
{
	static const char tag[] = "-----BEGIN ";
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			break;
	if (n - i < strlen(tag))
		return false;
	for (size_t j = 0; j < strlen(tag); j++)
		if (p[i + j] != (uint8_t)tag[j])
			return false;
	return true;
}

static int ui_open_abort(UI *ui)
{
	(void)ui;
	fprintf(stderr, "fuzz_pem_key: OpenSSL asked the user interface for a passphrase\n");
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	UI_METHOD *ui = UI_create_method("mfsec fuzz: no prompts");

	(void)argc;
	(void)argv;
	/* Kept for the life of the process: the default method is not owned by OpenSSL. */
	if (!ui || UI_method_set_opener(ui, ui_open_abort) != 0)
		abort();
	UI_set_default_method(ui);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fuzz_alg *a;
	const uint8_t *pem;
	size_t pem_len, cap, full, len;
	uint8_t *out;
	bool priv, small;
	int r;

	if (size < 1)
		return 0;
	priv = data[0] & 1;
	a = &algs[((data[0] >> 1) & 3) % 3];
	small = data[0] & 8;
	pem = data + 1;
	pem_len = size - 1;

	if (pkey_is_pem(pem, pem_len) != ref_is_pem(pem, pem_len))
		fuzz_fail(a, priv, "pkey_is_pem disagrees with the reference", (long)pem_len);

	/* What keyio.c passes: the raw public key size, or room for the expanded private key. */
	full = priv ? a->sk_len[1] : a->pk_len;
	cap = small ? full - 1 : full;
	if (!(out = malloc(cap)))
		abort();
	len = (size_t)-1;
	r = pkey_pem_to_raw(a->name, priv, (const char *)pem, pem_len, out, cap, &len);
	if (r == 0) {
		if (len > cap)
			fuzz_fail(a, priv, "raw key longer than the buffer", (long)len);
		if (priv ? len != a->sk_len[0] && len != a->sk_len[1] : len != a->pk_len)
			fuzz_fail(a, priv, "raw key of an impossible length", (long)len);
	} else {
		if (r > 0 || r < -FUZZ_ERRNO_MAX)
			fuzz_fail(a, priv, "not a negative errno", r);
		if (len != (size_t)-1)
			fuzz_fail(a, priv, "*ret_len written on failure", (long)len);
	}
	free(out);
	return 0;
}
