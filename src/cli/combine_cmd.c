/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfs-kex combine: derive the multi-factor key from the secrets of several
 * methods and the public transcript, exactly as the peer protocol binds them
 * (docs/combiner.md). Each site runs it on its own files; equal keys mean
 * both saw the same exchange.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/file.h"
#include "base/hex.h"
#include "cli/cli.h"
#include "cli/combine_input.h"
#include "crypto/combiner.h"
#include "crypto/hash.h"
#include "kex/psk_file.h"

void help_combine(void)
{
	printf("Usage: mfs-kex combine --input FILE.json [--output FILE] [--force]\n\n"
	       "Combines the shared secrets of several key-exchange methods into one key\n"
	       "with the MFS key combiner: ETSI TS 103 744 CatKDF over HKDF-SHA-384 by\n"
	       "default, bound to every public key, ciphertext and PSK ID, both identities,\n"
	       "both nonces, the method list, the protocol version, a label and a purpose.\n"
	       "Prints the key in hex on stdout, or writes it raw (mode 0600) to --output.\n\n"
	       "The input names files, never secret values; see docs/mfs-kex.md:\n"
	       "  { \"mode\": \"catkdf\"|\"caskdf\"|\"xor-its\", \"length\": 32, \"purpose\": \"...\",\n"
	       "    \"initiator\": { \"id\": \"office\", \"nonce\": \"<hex>\" },\n"
	       "    \"responder\": { \"id\": \"gpu-dc\", \"nonce\": \"<hex>\" },\n"
	       "    \"methods\": [\n"
	       "      { \"method\": \"mlkem768\", \"public_key\": F, \"ciphertext\": F, \"shared_secret\": F },\n"
	       "      { \"method\": \"psk\", \"psk_id\": \"link-1\", \"psk_file\": F } ] }\n");
}

/* What one method contributes, loaded from its files. */
struct loaded {
	struct secret *secret;
	uint8_t *msg1, *msg2;
	size_t msg1_len, msg2_len;
};

static void loaded_done(struct loaded *l)
{
	secret_free(l->secret);
	free(l->msg1);
	free(l->msg2);
	memset(l, 0, sizeof(*l));
}

/*
 * Message 1 as the method puts it on the wire: the public key itself for
 * ephemeral KEMs, the SHA3-256 key identifier for Classic McEliece's static
 * key (src/kex/mceliece.c).
 */
static int kem_msg1(const struct kex_method *m, uint8_t *pk, struct loaded *l)
{
	if (m->family == KEX_FAMILY_CODE) {
		uint8_t *id = malloc(32);
		int r;

		if (!id)
			return -ENOMEM;
		if ((r = hash(HASH_SHA3_256, pk, m->kem->pk_len, id)) < 0) {
			free(id);
			return r;
		}
		free(pk);
		l->msg1 = id;
		l->msg1_len = 32;
		return 0;
	}
	l->msg1 = pk;
	l->msg1_len = m->kem->pk_len;
	return 0;
}

static int load_kem(const struct combine_method_in *in, struct loaded *l)
{
	const struct kex_method *m = in->method;
	uint8_t *pk = NULL;
	size_t len;
	int r;

	if ((r = cli_read_public_key(m, in->public_key, &pk)))
		return r;
	if ((r = kem_msg1(m, pk, l)) < 0) {
		free(pk);
		return cli_fail(r, "%s: public key", m->name);
	}
	r = file_read(in->ciphertext, m->kem->ct_len, 0, &l->msg2, &l->msg2_len);
	if (r == 0 && l->msg2_len != m->kem->ct_len)
		r = -EBADMSG;
	if (r < 0)
		return cli_fail(r, "%s: ciphertext %s (a %s ciphertext is %zu bytes)", m->name,
				in->ciphertext, m->name, m->kem->ct_len);
	r = file_read_secret(in->shared_secret, m->secret_len, 0, &l->secret);
	if (r == -EPERM)
		return cli_fail(0, "shared secret %s is accessible by group or others; run 'chmod 600 %s'",
				in->shared_secret, in->shared_secret);
	if (r == 0 && l->secret->len != m->secret_len)
		r = -EBADMSG;
	if (r < 0)
		return cli_fail(r, "%s: shared secret %s (must be %zu bytes)", m->name, in->shared_secret,
				m->secret_len);
	(void)len;
	return CLI_OK;
}

/* psk_lookup for the env: the one PSK file named in the input, whatever the ID. */
static int psk_from_file(void *arg, const char *id, struct secret **ret)
{
	(void)id;
	return psk_file_load(arg, ret);
}

static const char *psk_file_error(int r)
{
	switch (r) {
	case -EPERM: return "group or others may access it; run 'chmod 600' on it";
	case -EACCES: return "cannot open it, or it is not owned by this user";
	case -ELOOP: return "it is a symbolic link";
	case -EBADMSG: return "shorter than 32 bytes (256 bits)";
	case -EMSGSIZE: return "longer than 1024 bytes";
	default: return mfs_strerror(r);
	}
}

/*
 * Run the real psk method as initiator, so message 1 and the secret are
 * byte for byte what the protocol binds (src/kex/psk.c).
 */
static int load_psk(const struct combine_method_in *in, struct loaded *l)
{
	const struct kex_method *m = in->method;
	struct kex_env env = {
		.psk_id = in->psk_id,
		.psk_lookup = psk_from_file,
		.psk_arg = (void *)in->psk_file,
	};
	struct wbuf out;
	void *ctx;
	int r;

	if (!psk_id_valid(in->psk_id, strlen(in->psk_id)))
		return cli_fail(0, "psk_id \"%s\": use 1..%d of A-Z a-z 0-9 . _ -", in->psk_id, KEX_PSK_ID_MAX);
	if (!(ctx = calloc(1, m->ctx_size)) || !(l->msg1 = malloc(m->msg1_max)) ||
	    !(l->msg2 = malloc(1)) || !(l->secret = secret_alloc(m->secret_len))) {
		free(ctx);
		return cli_fail(-ENOMEM, "psk");
	}
	out = wbuf_init(l->msg1, m->msg1_max);
	if ((r = m->init(ctx, &env, KEX_INITIATOR)) < 0) {
		m->done(ctx);
		free(ctx);
		return cli_fail(0, "PSK file %s: %s", in->psk_file, psk_file_error(r));
	}
	if ((r = m->msg1(ctx, &out)) < 0 || (r = m->finish(ctx, rd_init(NULL, 0))) < 0 ||
	    (r = m->secret(ctx, l->secret->p)) < 0)
		r = cli_fail(r, "psk method");
	else
		r = CLI_OK;
	l->msg1_len = out.len;
	l->msg2_len = 0;
	m->done(ctx);
	free(ctx);
	return r;
}

static const enum combiner_mode mode_map[] = {
	[COMBINE_MODE_CATKDF] = COMBINER_CATKDF,
	[COMBINE_MODE_CASKDF] = COMBINER_CASKDF,
	[COMBINE_MODE_XOR_ITS] = COMBINER_XOR_ITS,
};

static int derive(const struct combine_input *in, struct loaded *l, uint8_t *key)
{
	struct combiner_method cm[COMBINE_MAX_METHODS];
	uint16_t suite[COMBINE_MAX_METHODS];
	struct combiner_input ci;
	int r;

	combiner_input_init(&ci);
	ci.mode = mode_map[in->mode];
	ci.version = in->version;
	if (in->label)
		ci.label = CBUF(in->label, strlen(in->label));
	ci.purpose = CBUF(in->purpose, strlen(in->purpose));
	ci.id_init = CBUF(in->initiator_id, strlen(in->initiator_id));
	ci.id_resp = CBUF(in->responder_id, strlen(in->responder_id));
	ci.nonce_init = CBUF(in->initiator_nonce, in->initiator_nonce_len);
	ci.nonce_resp = CBUF(in->responder_nonce, in->responder_nonce_len);
	for (size_t i = 0; i < in->n_methods; i++) {
		suite[i] = in->methods[i].method->id;
		cm[i] = (struct combiner_method){
			.id = in->methods[i].method->id,
			.its = in->methods[i].its,
			.secret = l[i].secret,
			.expected_len = in->methods[i].method->secret_len,
			.msg1 = CBUF(l[i].msg1, l[i].msg1_len),
			.msg2 = CBUF(l[i].msg2, l[i].msg2_len),
		};
	}
	ci.suite = suite;
	ci.n_suite = in->n_methods;
	ci.methods = cm;
	ci.n_methods = in->n_methods;
	if ((r = combiner_derive(&ci, key, in->length)) < 0)
		return cli_fail(r, "combine (%s)", combine_mode_name(in->mode));
	return CLI_OK;
}

int cmd_combine(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	const char *input = NULL, *output = NULL;
	struct loaded l[COMBINE_MAX_METHODS] = { 0 };
	struct combine_input in = { 0 };
	uint8_t key[COMBINE_LENGTH_MAX], *json = NULL;
	char err[256], hexkey[2 * COMBINE_LENGTH_MAX + 1];
	bool force = false;
	size_t json_len;
	int c, r;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'i': input = optarg; break;
		case 'o': output = optarg; break;
		case 'F': force = true; break;
		default: return cli_usage("combine", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("combine", "unexpected argument '%s'", argv[optind]);
	if (!input)
		return cli_usage("combine", "--input is required");
	if ((r = file_read(input, COMBINE_INPUT_MAX, 0, &json, &json_len)) < 0)
		return cli_fail(r, "cannot read %s", input);
	r = combine_input_parse((const char *)json, json_len, &in, err, sizeof(err));
	free(json);
	if (r < 0)
		return cli_fail(0, "%s: %s", input, err);
	for (size_t i = 0; i < in.n_methods; i++) {
		r = in.methods[i].method->kem ? load_kem(&in.methods[i], &l[i]) : load_psk(&in.methods[i], &l[i]);
		if (r)
			goto out;
	}
	if ((r = derive(&in, l, key)))
		goto out;
	if (output) {
		r = cli_write_file("key", output, key, in.length, true, force);
	} else {
		hex_encode(hexkey, sizeof(hexkey), key, in.length);
		printf("%s\n", hexkey);
		mfs_wipe(hexkey, sizeof(hexkey));
		r = CLI_OK;
	}
out:
	mfs_wipe(key, sizeof(key));
	for (size_t i = 0; i < COMBINE_MAX_METHODS; i++)
		loaded_done(&l[i]);
	combine_input_done(&in);
	return r;
}
