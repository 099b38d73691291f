/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz combine_input_parse(), the JSON input of `mfs-kex combine`.
 *
 * Input: the JSON text itself (not NUL-terminated; the parser takes a
 * length). The harness checks the contract of combine_input.h:
 *
 *   success: 1..COMBINE_MAX_METHODS methods, each with a method; KEM methods
 *            have public_key, ciphertext and shared_secret and no PSK
 *            fields, psk has psk_id and psk_file and no KEM fields; every
 *            string is non-empty, NUL-free and within its maximum; length
 *            16..COMBINE_LENGTH_MAX, version >= 1, nonces 16..64 bytes, a
 *            known mode;
 *   failure: -EBADMSG or -EMSGSIZE (the latter only above
 *            COMBINE_INPUT_MAX), an error string that is non-empty and
 *            NUL-terminated within the buffer, and *ret untouched.
 *
 * combine_input_done() is called either way (it must accept a struct that
 * parsing left untouched) so LeakSanitizer sees every leak.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/combine_input.h"
#include "fuzz.h"

#define ERR_SIZE 256

static void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_combine_input: %s\n", what);
	abort();
}

/* A parsed string: present when required, else NULL or 1..max bytes. */
static void check_str(const char *s, bool required, size_t max, const char *what)
{
	if (!s) {
		if (required)
			fuzz_fail(what);
		return;
	}
	if (s[0] == '\0' || strnlen(s, max + 1) > max)
		fuzz_fail(what);
}

static void check_method(const struct combine_method_in *m)
{
	if (!m->method)
		fuzz_fail("method is NULL");
	if (m->method->kem) {
		check_str(m->public_key, true, COMBINE_PATH_MAX, "KEM public_key");
		check_str(m->ciphertext, true, COMBINE_PATH_MAX, "KEM ciphertext");
		check_str(m->shared_secret, true, COMBINE_PATH_MAX, "KEM shared_secret");
		if (m->psk_id || m->psk_file)
			fuzz_fail("KEM method with psk fields");
	} else {
		check_str(m->psk_id, true, KEX_PSK_ID_MAX, "psk_id");
		check_str(m->psk_file, true, COMBINE_PATH_MAX, "psk_file");
		if (m->public_key || m->ciphertext || m->shared_secret)
			fuzz_fail("psk method with KEM fields");
	}
}

static void check_ok(const struct combine_input *in)
{
	if (in->n_methods < 1 || in->n_methods > COMBINE_MAX_METHODS)
		fuzz_fail("n_methods out of range");
	if (in->length < 16 || in->length > COMBINE_LENGTH_MAX)
		fuzz_fail("length out of range");
	if (in->version < 1)
		fuzz_fail("version 0");
	if (in->mode != COMBINE_MODE_CATKDF && in->mode != COMBINE_MODE_CASKDF &&
	    in->mode != COMBINE_MODE_XOR_ITS)
		fuzz_fail("unknown mode");
	if (in->initiator_nonce_len < 16 || in->initiator_nonce_len > COMBINE_NONCE_MAX ||
	    in->responder_nonce_len < 16 || in->responder_nonce_len > COMBINE_NONCE_MAX)
		fuzz_fail("nonce length out of range");
	if (!in->doc)
		fuzz_fail("no document");
	check_str(in->label, false, COMBINE_TEXT_MAX, "label");
	check_str(in->purpose, true, COMBINE_TEXT_MAX, "purpose");
	check_str(in->initiator_id, true, COMBINE_ID_MAX, "initiator id");
	check_str(in->responder_id, true, COMBINE_ID_MAX, "responder id");
	for (size_t i = 0; i < in->n_methods; i++)
		check_method(&in->methods[i]);
	for (size_t i = in->n_methods; i < COMBINE_MAX_METHODS; i++)
		if (in->methods[i].method)
			fuzz_fail("a method past n_methods");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct combine_input in, untouched;
	char err[ERR_SIZE];
	int r;

	/* A recognizable pattern: failure must leave it, success overwrites it. */
	memset(&in, 0xa5, sizeof(in));
	in.doc = NULL;
	untouched = in;
	memset(err, 0xff, sizeof(err));

	r = combine_input_parse((const char *)data, size, &in, err, sizeof(err));
	if (r == 0) {
		check_ok(&in);
	} else {
		if (r != -EBADMSG && r != -EMSGSIZE)
			fuzz_fail("unexpected error code");
		if (r == -EMSGSIZE && size <= COMBINE_INPUT_MAX)
			fuzz_fail("-EMSGSIZE for an input within the limit");
		if (memchr(err, '\0', sizeof(err)) == NULL)
			fuzz_fail("error string not NUL-terminated");
		if (err[0] == '\0')
			fuzz_fail("empty error string");
		if (memcmp(&in, &untouched, sizeof(in)) != 0)
			fuzz_fail("*ret written on failure");
	}
	combine_input_done(&in);
	return 0;
}
