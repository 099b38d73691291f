// SPDX-License-Identifier: Apache-2.0
/*
 * mfs-objcrypt: object encryption with a key from the ETSI GS QKD 014 key
 * supply (MFS pattern (a)): the sending side encrypts a file with a key it
 * got from enc_keys and sends the file, which names the key ID; the
 * receiving side asks its own mfsd for that key with dec_keys and decrypts.
 *
 *   mfs-objcrypt encrypt --keys FILE|- --in FILE --out FILE
 *   mfs-objcrypt decrypt --keys FILE|- --in FILE --out FILE
 *   mfs-objcrypt key-id FILE
 *
 * --keys is a key container as enc_keys / dec_keys return it
 * ({"keys":[{"key_ID":..., "key":<base64>}]}), e.g. curl's output on a
 * pipe; encrypt uses its first key (256 bits), decrypt the one whose ID the
 * object names. The key never touches the disk or the command line here.
 *
 * Object format (version 1):
 *   "MFSOBJ1\n" (8) ‖ key_ID (16, binary UUID) ‖ nonce (12, random)
 *   ‖ AES-256-GCM ciphertext ‖ tag (16); AAD = the 36-byte header.
 * AES-256-GCM comes from the crypto layer (crypto/aead.h: OpenSSL).
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/err.h"
#include "base/file.h"
#include "base/secret.h"
#include "crypto/aead.h"
#include "crypto/rng.h"
#include "etsi014/etsi014.h"

#define MAGIC "MFSOBJ1\n"
#define HDR_LEN (8 + ETSI014_KEY_ID_LEN + AEAD_IV_LEN)
#define OBJ_MAX (256U << 20)	/* 256 MiB */
#define KEYS_MAX (256U << 10)	/* key container bytes */

/* jansson's copies of key strings are wiped before they are freed. */
static void wiping_free(void *p)
{
	if (p)
		mfs_wipe(p, malloc_usable_size(p));
	free(p);
}

static void usage(FILE *f)
{
	fputs("Usage: mfs-objcrypt encrypt --keys FILE|- --in FILE --out FILE\n"
	      "       mfs-objcrypt decrypt --keys FILE|- --in FILE --out FILE\n"
	      "       mfs-objcrypt key-id FILE\n\n"
	      "Encrypt a file with AES-256-GCM under a key from an ETSI GS QKD 014 key\n"
	      "container (the JSON that enc_keys returns; '-' reads it from stdin, e.g. from\n"
	      "curl), or decrypt it with the same key fetched by ID with dec_keys. The object\n"
	      "names its key ID; key-id prints it, to build the dec_keys request.\n", f);
}

/* Read the key container (path or "-") into secret memory. */
static int read_keys(const char *path, struct secret **ret)
{
	struct secret *s;
	size_t n = 0;
	ssize_t r;
	int fd = 0;

	if (strcmp(path, "-") != 0)
		return file_read_secret(path, KEYS_MAX, 0, ret);
	if (!(s = secret_alloc(KEYS_MAX + 1)))
		return -ENOMEM;
	while ((r = read(fd, s->p + n, KEYS_MAX - n)) > 0)
		n += (size_t)r;
	if (r < 0 || n == KEYS_MAX) {
		secret_free(s);
		return r < 0 ? -errno : -EMSGSIZE;
	}
	s->len = n;
	*ret = s;
	return 0;
}

/* The key of container c with id (NULL: the first), 32 bytes into key. */
static int find_key(const struct secret *c, const uint8_t *want, uint8_t id[ETSI014_KEY_ID_LEN],
		    uint8_t key[AEAD_KEY_LEN])
{
	json_t *root = json_loadb((const char *)c->p, c->len, 0, NULL), *k;
	size_t i;
	int r = -ENOKEY;

	if (!root)
		return -EBADMSG;
	json_array_foreach(json_object_get(root, "keys"), i, k) {
		const char *sid = json_string_value(json_object_get(k, "key_ID"));
		const char *b64 = json_string_value(json_object_get(k, "key"));
		uint8_t kid[ETSI014_KEY_ID_LEN];

		if (!sid || !b64 || etsi014_key_id_parse(sid, strlen(sid), kid) < 0) {
			r = -EBADMSG;
			break;
		}
		if (want && memcmp(kid, want, sizeof(kid)) != 0)
			continue;
		r = etsi014_base64_decode(key, AEAD_KEY_LEN, b64, strlen(b64));
		if (r != AEAD_KEY_LEN) {
			mfs_wipe(key, AEAD_KEY_LEN);
			r = r < 0 && r != -EMSGSIZE ? r : -EMSGSIZE;
			break;
		}
		memcpy(id, kid, sizeof(kid));
		r = 0;
		break;
	}
	json_decref(root);
	return r;
}

static int cmd_key_id(const char *path)
{
	uint8_t *obj = NULL;
	size_t len = 0;
	char id[ETSI014_KEY_ID_STR_LEN + 1];
	int r;

	if ((r = file_read(path, OBJ_MAX, 0, &obj, &len)) < 0) {
		fprintf(stderr, "mfs-objcrypt: %s: %s\n", path, mfs_strerror(r));
		return 1;
	}
	if (len < HDR_LEN + AEAD_TAG_LEN || memcmp(obj, MAGIC, 8) != 0) {
		fprintf(stderr, "mfs-objcrypt: %s: not an mfs-objcrypt object\n", path);
		free(obj);
		return 1;
	}
	etsi014_key_id_format(obj + 8, id);
	puts(id);
	free(obj);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keys", required_argument, NULL, 'k' }, { "in", required_argument, NULL, 'i' },
		{ "out", required_argument, NULL, 'o' }, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	const char *keys = NULL, *in = NULL, *out = NULL, *cmd;
	struct secret *container = NULL, *plain = NULL;
	uint8_t key[AEAD_KEY_LEN], id[ETSI014_KEY_ID_LEN];
	uint8_t *data = NULL, *res = NULL;
	size_t len = 0, res_len = 0;
	struct aead a = { 0 };
	bool enc;
	int c, r, rc = 1;

	json_set_alloc_funcs(malloc, wiping_free);
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "key-id")) {
		if (argc != 3) {
			usage(stderr);
			return 2;
		}
		return cmd_key_id(argv[2]);
	}
	if (strcmp(cmd, "encrypt") && strcmp(cmd, "decrypt")) {
		fprintf(stderr, "mfs-objcrypt: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	enc = cmd[0] == 'e';
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'k': keys = optarg; break;
		case 'i': in = optarg; break;
		case 'o': out = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!keys || !in || !out || optind != argc) {
		usage(stderr);
		return 2;
	}
	if ((r = file_read(in, OBJ_MAX, 0, &data, &len)) < 0) {
		fprintf(stderr, "mfs-objcrypt: %s: %s\n", in, mfs_strerror(r));
		goto out;
	}
	if (!enc && (len < HDR_LEN + AEAD_TAG_LEN || memcmp(data, MAGIC, 8) != 0)) {
		fprintf(stderr, "mfs-objcrypt: %s: not an mfs-objcrypt object\n", in);
		goto out;
	}
	if ((r = read_keys(keys, &container)) < 0) {
		fprintf(stderr, "mfs-objcrypt: key container %s: %s\n", keys, mfs_strerror(r));
		goto out;
	}
	if ((r = find_key(container, enc ? NULL : data + 8, id, key)) < 0) {
		fprintf(stderr, "mfs-objcrypt: key container %s: %s\n", keys,
			r == -ENOKEY ? (enc ? "no key in it" : "no key with the object's key ID") :
			r == -EMSGSIZE ? "the key is not 256 bits" : "not a key container");
		goto out;
	}
	if ((r = aead_init(&a, key)) < 0) {
		fprintf(stderr, "mfs-objcrypt: AES-256-GCM: %s\n", mfs_strerror(r));
		goto out;
	}
	if (enc) {
		res_len = HDR_LEN + len + AEAD_TAG_LEN;
		if (!(res = malloc(res_len)))
			goto out;
		memcpy(res, MAGIC, 8);
		memcpy(res + 8, id, ETSI014_KEY_ID_LEN);
		if ((r = crypto_random(res + 8 + ETSI014_KEY_ID_LEN, AEAD_IV_LEN)) < 0 ||
		    (r = aead_seal(&a, res + 8 + ETSI014_KEY_ID_LEN, AEAD_IV_LEN, res, HDR_LEN, data,
				   len, res + HDR_LEN, res + HDR_LEN + len)) < 0) {
			fprintf(stderr, "mfs-objcrypt: encryption failed: %s\n", mfs_strerror(r));
			goto out;
		}
		r = file_write_atomic(out, res, res_len, FILE_OVERWRITE);
	} else {
		size_t ct_len = len - HDR_LEN - AEAD_TAG_LEN;

		if (!(plain = secret_alloc(ct_len ? ct_len : 1)))
			goto out;
		if (aead_open(&a, data + 8 + ETSI014_KEY_ID_LEN, AEAD_IV_LEN, data, HDR_LEN,
			      data + HDR_LEN, ct_len, data + HDR_LEN + ct_len, AEAD_TAG_LEN,
			      plain->p) < 0) {
			fprintf(stderr, "mfs-objcrypt: %s: does not authenticate (wrong key or "
				"tampered object)\n", in);
			goto out;
		}
		r = file_write_atomic(out, plain->p, ct_len, FILE_OVERWRITE | FILE_SECRET);
	}
	if (r < 0) {
		fprintf(stderr, "mfs-objcrypt: %s: %s\n", out, mfs_strerror(r));
		goto out;
	}
	{
		char sid[ETSI014_KEY_ID_STR_LEN + 1];

		etsi014_key_id_format(id, sid);
		fprintf(stderr, "mfs-objcrypt: %s %s -> %s (%zu bytes, key_ID %s)\n",
			enc ? "encrypted" : "decrypted", in, out, enc ? res_len : len - HDR_LEN - AEAD_TAG_LEN,
			sid);
	}
	rc = 0;
out:
	mfs_wipe(key, sizeof(key));
	aead_done(&a);
	secret_free(plain);
	secret_free(container);
	if (data)
		mfs_wipe(data, len);
	free(data);
	free(res);
	return rc;
}
