/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The qkdsim configuration parser, qconf_parse() (src/qkdsim/qconf.h), on
 * arbitrary text (a heap copy of exactly its size, so an overread is an
 * ASan report).
 *
 * Checked beyond "no crash, no leak": a rejected text gets an error that
 * names a line of the input (or none, for whole-file rules) and a reason,
 * and hands back no object; an accepted one keeps every promise of
 * docs/qkdsim.md (names valid, links between two different known nodes,
 * percentages and sizes in range, IDs unique), and builds a network.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "qkdsim/qconf.h"
#include "qkdsim/qnet.h"

static void fuzz_fail(const char *what, const struct qconf_error *err)
{
	fprintf(stderr, "fuzz_qkdsim_conf: %s (%s)\n", what, err ? err->text : "accepted");
	abort();
}

static bool valid(const char *s)
{
	return qconf_name_valid(s, strnlen(s, QCONF_NAME_MAX + 1));
}

static void check(const struct qconf *c)
{
	if (c->n_nodes < 2 || c->n_nodes > QCONF_MAX_NODES || c->n_links < 1 ||
	    c->n_links > QCONF_MAX_LINKS)
		fuzz_fail("counts", NULL);
	if (c->min_key_size > c->key_size || c->key_size > c->max_key_size || c->key_size % 8 ||
	    c->max_key_per_request == 0 || c->tick_ms == 0)
		fuzz_fail("key sizes", NULL);
	for (size_t i = 0; i < c->n_nodes; i++) {
		if (!valid(c->nodes[i].name) || !valid(c->nodes[i].kme_id) ||
		    c->nodes[i].n_saes > QCONF_MAX_SAES)
			fuzz_fail("node", NULL);
		for (size_t s = 0; s < c->nodes[i].n_saes; s++)
			if (!valid(c->nodes[i].saes[s]) ||
			    qconf_sae_node(c, c->nodes[i].saes[s]) != (int)i)
				fuzz_fail("SAE", NULL);
		if (qconf_node_index(c, c->nodes[i].name) != (int)i)
			fuzz_fail("duplicate node", NULL);
	}
	for (size_t i = 0; i < c->n_links; i++) {
		const struct qconf_link *l = &c->links[i];

		if (!valid(l->name) || l->a >= c->n_nodes || l->b >= c->n_nodes || l->a == l->b ||
		    l->rate_bps == 0 || l->rate_bps > QCONF_RATE_MAX || l->qber_cp > 5000 ||
		    l->threshold_cp == 0 || l->threshold_cp > 5000 || l->pool_bits % 8 ||
		    l->pool_bits > QCONF_POOL_BITS_MAX || qconf_link_index(c, l->name) != (int)i)
			fuzz_fail("link", NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qconf *c = NULL;
	struct qconf_error err;
	char *text = malloc(size ? size : 1);
	unsigned lines = 1;
	int r;

	if (!text)
		abort();
	if (size)
		memcpy(text, data, size);
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	r = qconf_parse(text, size, "fuzz", "/nonexistent", &c, &err);
	if (r < 0) {
		if (c)
			fuzz_fail("object returned with an error", &err);
		if (size <= QCONF_FILE_MAX && err.line > lines)
			fuzz_fail("error line outside the input", &err);
		if (!err.reason[0] || strncmp(err.text, "fuzz:", 5) != 0)
			fuzz_fail("error without a reason", &err);
	} else {
		struct qnet *n;

		if (!c)
			fuzz_fail("accepted without an object", NULL);
		check(c);
		/* Small pools only: building the network allocates them. */
		n = calloc(1, sizeof(*n));
		if (!n)
			abort();
		for (size_t i = 0; i < c->n_links; i++)
			c->links[i].pool_bits = 8 * 4096;
		if (qnet_init(n, c, 0) < 0)
			fuzz_fail("a checked configuration does not build", NULL);
		qnet_tick(n, 10);
		qnet_free(n);
		free(n);
	}
	free(text);
	return 0;
}
