/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A KMA receiving a relay message from the KM link, qlink_relay_open()
 * (src/qkdsim/qlink.h), on arbitrary bytes: a hostile or broken neighbour.
 * The receiving end holds real link key. Whatever the input, it must not
 * crash, and unless the message is authentic (it cannot be, without the
 * link key) the receiver's store must be unchanged: no link key consumed,
 * none revealed. The codec alone (qlink_relay_parse) must agree with open
 * on what is malformed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "qkdsim/qnet.h"

static const char net_text[] =
	"[qkdsim]\nseed = 0101010101010101010101010101010101010101010101010101010101010101\n"
	"[node a]\nkme_id = ka\n[node b]\nkme_id = kb\n"
	"[link a-b]\nnodes = a b\nrate = 1M\npool = 64k\n";

static struct qnet net;

static void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_qkdsim_relay: %s\n", what);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct qconf *c = NULL;
	struct qconf_error err;

	(void)argc;
	(void)argv;
	if (qconf_parse(net_text, sizeof(net_text) - 1, "n", NULL, &c, &err) < 0 ||
	    qnet_init(&net, c, 0) < 0 || qnet_tick(&net, 1000) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *msg = malloc(size ? size : 1), key[QLINK_RELAY_KEY_MAX];
	struct qlink *l;
	struct qrelay_hdr h;
	const uint8_t *ct, *tag;
	size_t klen = 0, ct_len, authed;
	uint64_t head, off;
	int r, p;

	if (!net.cfg)
		LLVMFuzzerInitialize(NULL, NULL);
	l = &net.links[0];
	if (!msg)
		abort();
	if (size)
		memcpy(msg, data, size);
	head = l->end[1].head;
	p = qlink_relay_parse(rd_init(msg, size), &h, &off, &ct, &ct_len, &tag, &authed);
	r = qlink_relay_open(l, 1, msg, size, &h, key, &klen);
	if (p < 0 && r != p)
		fuzz_fail("open accepted what the codec refused");
	if (r == 0)
		fuzz_fail("a forged relay message was accepted");
	if (l->end[1].head != head || klen != 0)
		fuzz_fail("a refused message changed the store");
	free(msg);
	return 0;
}
