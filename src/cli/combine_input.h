/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON input of `mfs-kex combine` (format: docs/mfs-kex.md).
 *
 * Parsing is separate from reading the files it names, so the parser can be
 * fuzzed on its own. It is strict: unknown keys, duplicate keys, wrong types,
 * out-of-range numbers and oversized values are errors with a message that
 * names the offending field. Nothing is allocated on failure.
 */
#ifndef MFS_CLI_COMBINE_INPUT_H
#define MFS_CLI_COMBINE_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/combiner.h"
#include "kex/kex.h"

#define COMBINE_INPUT_MAX (64 * 1024)	/* bytes of JSON */
#define COMBINE_MAX_METHODS 8
#define COMBINE_ID_MAX 255		/* identity bytes */
#define COMBINE_NONCE_MAX 64		/* nonce bytes */
#define COMBINE_TEXT_MAX COMBINER_LABEL_MAX	/* label / purpose bytes (64) */
#define COMBINE_PATH_MAX 4095
#define COMBINE_LENGTH_MAX COMBINER_OUT_MAX	/* output bytes (128) */

enum combine_mode {
	COMBINE_MODE_CATKDF,
	COMBINE_MODE_CASKDF,
	COMBINE_MODE_XOR_ITS,
};

struct combine_method_in {
	const struct kex_method *method;
	const char *public_key;		/* KEM methods: initiator public key file (raw or PEM) */
	const char *ciphertext;		/* KEM methods: responder ciphertext file */
	const char *shared_secret;	/* KEM methods: this side's shared secret file */
	const char *psk_id;		/* psk: the PSK ID */
	const char *psk_file;		/* psk: the PSK file */
	bool its;			/* xor-its mode: an information-theoretically secure input */
};

struct combine_input {
	enum combine_mode mode;
	size_t length;
	uint16_t version;
	const char *label;	/* NULL: the combiner's default */
	const char *purpose;
	const char *initiator_id, *responder_id;
	uint8_t initiator_nonce[COMBINE_NONCE_MAX], responder_nonce[COMBINE_NONCE_MAX];
	size_t initiator_nonce_len, responder_nonce_len;
	struct combine_method_in methods[COMBINE_MAX_METHODS];
	size_t n_methods;
	void *doc;		/* owns every string above (a json_t) */
};

/*
 * Parse len bytes of JSON into *ret. On failure returns -EBADMSG (or
 * -EMSGSIZE for oversized input) and writes a one-line reason into err.
 * Strings in *ret stay valid until combine_input_done().
 */
int combine_input_parse(const char *json, size_t len, struct combine_input *ret,
			char *err, size_t err_size);
void combine_input_done(struct combine_input *in);
const char *combine_mode_name(enum combine_mode m);

#endif
