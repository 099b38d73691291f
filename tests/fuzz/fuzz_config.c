/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mfsd configuration parser, config_parse_string() (src/daemon/config.h),
 * on arbitrary text. No file is opened: CONFIG_SKIP_FILE_CHECKS (test and
 * fuzzing only) leaves the pinned McEliece files alone, and relative paths
 * resolve under a directory that does not exist.
 *
 * Input: the configuration text, raw (NUL bytes included), in a heap copy
 * of exactly its size so that an overread is an ASan report.
 *
 * Checked beyond "no crash, no leak": a rejected text gets an error that
 * names a line of the input and a reason, and hands back no object; an
 * accepted one satisfies every rule docs/config.md promises.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "fuzz.h"

static void fuzz_fail(const char *what, const struct config_error *err)
{
	fprintf(stderr, "fuzz_config: %s (%s)\n", what, err ? err->text : "accepted");
	abort();
}

static void check_class(const struct config *cfg, const struct config_peer *peer,
			const struct config_class *cls)
{
	const struct class_policy *p = &cls->policy;
	size_t pq = 0;

	if (!policy_name_valid(p->name) || p->n_required == 0 ||
	    p->n_required > POLICY_MAX_METHODS || p->n_optional > POLICY_MAX_METHODS)
		fuzz_fail("class name or method counts", NULL);
	for (size_t i = 0; i < p->n_required; i++) {
		const struct kex_method *m = kex_method_by_id(p->required[i]);

		if (!m)
			fuzz_fail("unknown required method", NULL);
		pq += m->post_quantum;
		for (size_t j = 0; j < p->n_optional; j++)
			if (p->optional[j] == p->required[i])
				fuzz_fail("method both required and optional", NULL);
	}
	if (pq < p->min_pq_factors || p->min_pq_factors == 0)
		fuzz_fail("min_pq not met by the required methods", NULL);
	if (p->pool_low >= p->pool_high || p->rekey_interval_s == 0 ||
	    p->hard_lifetime_s < p->rekey_interval_s || p->rekey_volume_bytes == 0)
		fuzz_fail("class limits", NULL);
	if (config_class_by_name(peer, p->name) != cls)
		fuzz_fail("duplicate class name", NULL);
	(void)cfg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct config_options opts = {
		.base_dir = "/nonexistent/mfs-fuzz",
		.flags = CONFIG_SKIP_FILE_CHECKS,
	};
	struct config *cfg = NULL;
	struct config_error err;
	char *text = malloc(size ? size : 1);
	unsigned lines = 1;
	int r;

	if (!text)
		abort();
	if (size)
		memcpy(text, data, size);
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';

	r = config_parse_string(text, size, "fuzz", &opts, &cfg, &err);
	if (r < 0) {
		if (cfg)
			fuzz_fail("object returned with an error", &err);
		if (size <= CONFIG_FILE_MAX && (err.line == 0 || err.line > lines))
			fuzz_fail("error line outside the input", &err);
		if (!err.reason[0] || strncmp(err.text, "fuzz:", 5) != 0)
			fuzz_fail("error without a reason", &err);
	} else {
		if (!cfg || cfg->n_peers == 0 || cfg->n_peers > CONFIG_MAX_PEERS || !cfg->node.id[0])
			fuzz_fail("accepted without node or peer", NULL);
		for (size_t i = 0; i < cfg->n_peers; i++) {
			const struct config_peer *peer = &cfg->peers[i];

			if (!policy_name_valid(peer->name) || peer->n_classes == 0 ||
			    peer->n_classes > CONFIG_MAX_CLASSES || peer->address.port == 0 ||
			    config_peer_by_name(cfg, peer->name) != peer)
				fuzz_fail("peer", NULL);
			for (size_t c = 0; c < peer->n_classes; c++)
				check_class(cfg, peer, &peer->classes[c]);
		}
		config_free(cfg);
	}
	free(text);
	return 0;
}
