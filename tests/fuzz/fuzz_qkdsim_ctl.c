/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The qkdsim control socket request parser, qctl_parse()
 * (src/qkdsim/qctl.h), on arbitrary bytes, then the request run against a
 * small network: an accepted request is one of the documented ones, a
 * refused one has a reason, and running it never corrupts the network.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "qkdsim/qctl.h"

static const char net_text[] =
	"[qkdsim]\nseed = 0000000000000000000000000000000000000000000000000000000000000000\n"
	"[node a]\nkme_id = ka\nsae = sa\n[node b]\nkme_id = kb\nsae = sb\n"
	"[link a-b]\nnodes = a b\nrate = 10k\npool = 32k\n";

static void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_qkdsim_ctl: %s\n", what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[QCTL_RESP_MAX];
	uint8_t *in = malloc(size ? size : 1);
	struct qctl_req req;
	char err[160] = "";
	int r;

	if (!in)
		abort();
	if (size)
		memcpy(in, data, size);
	r = qctl_parse(in, size, &req, err, sizeof(err));
	if (r < 0) {
		if (r != -EBADMSG && r != -EMSGSIZE)
			fuzz_fail("unexpected error");
		if (!err[0])
			fuzz_fail("refused without a reason");
	} else {
		struct qconf *c = NULL;
		struct qconf_error cerr;
		struct qnet *n = calloc(1, sizeof(*n));
		struct wbuf w = wbuf_init(out, sizeof(out));

		if (req.op != QCTL_STATUS && req.op != QCTL_STATUS_JSON && req.op != QCTL_EAVESDROP)
			fuzz_fail("unknown op accepted");
		if (req.op == QCTL_EAVESDROP && !qconf_name_valid(req.link, strlen(req.link)))
			fuzz_fail("bad link name accepted");
		if (!n || qconf_parse(net_text, sizeof(net_text) - 1, "n", NULL, &c, &cerr) < 0 ||
		    qnet_init(n, c, 0) < 0)
			abort();
		qnet_tick(n, 100);
		r = qctl_run(n, &req, &w);
		if (r < 0 && !(req.op == QCTL_EAVESDROP && r == -ENOENT))
			fuzz_fail("request failed");
		if (req.op == QCTL_EAVESDROP && r == 0 && n->links[0].alarm != req.on)
			fuzz_fail("eavesdrop did not act");
		qnet_free(n);
		free(n);
	}
	free(in);
	return 0;
}
