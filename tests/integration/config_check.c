/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config_check CONFIG: load an mfsd configuration with the daemon's loader
 * (config_load(), pinned McEliece files checked) and the identity its [node]
 * section points at (identity_load() of the directory of identity_key), check
 * that the two agree, and print what a test compares:
 *
 *   node ID
 *   node-mceliece SET KEY PUB
 *   peer NAME cert HEX
 *   peer NAME SET PATH SHA3HEX
 *
 * For tests/integration/test_mfsctl.sh (configurations built from the lines
 * `mfsctl genid` prints). Exit 0 when all holds, 1 with a message otherwise.
 */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/hex.h"
#include "daemon/config.h"
#include "proto/identity.h"

static int fail(const char *what, const char *detail)
{
	fprintf(stderr, "config_check: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	return 1;
}

/* path == dir/name */
static bool is_in(const char *path, const char *dir, const char *name)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && path[n] == '/' && !strcmp(path + n + 1, name);
}

int main(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct config_error err;
	struct identity *idn = NULL;
	const char *what = NULL;
	char key[PATH_MAX], dir[PATH_MAX], hex[2 * 32 + 1];
	int rc = 1, r;

	if (argc != 2)
		return fail("usage", "config_check CONFIG");
	if (config_load(argv[1], NULL, &cfg, &err) < 0)
		return fail("config", err.text);
	snprintf(key, sizeof(key), "%s", cfg->node.identity_key);
	snprintf(dir, sizeof(dir), "%s", dirname(key));
	if ((r = identity_load(dir, &idn, &what)) < 0) {
		fprintf(stderr, "config_check: identity in %s: %s: %s\n", dir, what ? what : "?",
			mfs_strerror(r));
		goto out;
	}
	if (strcmp(idn->id, cfg->node.id)) {
		fail("[node] id differs from node.id", idn->id);
		goto out;
	}
	if (!is_in(cfg->node.identity_key, dir, IDENTITY_FILE_KEY) ||
	    !is_in(cfg->node.identity_cert, dir, IDENTITY_FILE_CERT)) {
		fail("identity_key/identity_cert are not node.key/node.crt of one directory", dir);
		goto out;
	}
	printf("node %s\n", cfg->node.id);
	for (int s = 0; s < CONFIG_MCELIECE_N; s++) {
		const struct config_mceliece_key *k = &cfg->node.mceliece[s];
		const char *name = config_mceliece_method((enum config_mceliece)s);
		const struct identity_cmce *c = NULL;

		for (int i = 0; i < IDENTITY_CMCE_N; i++) {
			if (idn->cmce[i].id && !strcmp(identity_cmce_name(idn->cmce[i].id), name))
				c = &idn->cmce[i];
		}
		if (!k->set != !c) {
			fail(k->set ? "[node] has a McEliece key the identity lacks"
				    : "the identity has a McEliece key [node] lacks", name);
			goto out;
		}
		if (!k->set)
			continue;
		if (!is_in(k->sk_path, dir, c->sk_file) || !is_in(k->pk_path, dir, c->pk_file)) {
			fail("[node] McEliece paths are not the identity's files", name);
			goto out;
		}
		printf("node-mceliece %s %s %s\n", name, k->sk_path, k->pk_path);
	}
	for (size_t p = 0; p < cfg->n_peers; p++) {
		const struct config_peer *peer = &cfg->peers[p];

		if (hex_encode(hex, sizeof(hex), peer->cert_sha256, sizeof(peer->cert_sha256)) < 0)
			goto out;
		printf("peer %s cert %s\n", peer->name, hex);
		for (int s = 0; s < CONFIG_MCELIECE_N; s++) {
			const struct config_mceliece_pin *pin = &peer->mceliece[s];

			if (!pin->set)
				continue;
			if (hex_encode(hex, sizeof(hex), pin->sha3, sizeof(pin->sha3)) < 0)
				goto out;
			printf("peer %s %s %s %s\n", peer->name,
			       config_mceliece_method((enum config_mceliece)s), pin->path, hex);
		}
	}
	rc = 0;
out:
	identity_free(idn);
	config_free(cfg);
	return rc;
}
