/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz mfsd's side of the push socket (src/push/push.h push_conn_input(),
 * what the daemon calls with the bytes a local client wrote): the framing,
 * the parser and every request in every connection state, on a real key
 * store and control engine (tests/common/push_env.c, made once).
 *
 * Input: one selector byte, then the client's bytes. Bits 0-1 of the
 * selector: the client's credentials (0: the daemon's uid; 1: another uid
 * in push_allow by gid; 2, 3: a stranger); bits 2-7: the split (0: one call,
 * else pieces of that many bytes).
 *
 * Checks beyond "no crash, no sanitizer report, no leak": push_conn_input()
 * returns 0 or a negative errno; everything the daemon writes back is a
 * sequence of well-formed messages; a stranger never receives a KEY; a
 * closing connection accepts nothing more.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "client/pushwire.h"
#include "fuzz.h"
#include "push/push.h"
#include "push_env.h"

static struct push_env env;
static bool ready;

__attribute__((noreturn)) static void fuzz_fail(const char *what, long v)
{
	fprintf(stderr, "fuzz_push_conn: %s (%ld)\n", what, v);
	abort();
}

static void cleanup(void)
{
	push_env_close(&env);
}

static void setup(void)
{
	if (ready)
		return;
	ready = true;
	mfs_log_set_level((enum mfs_log_level)(MFS_LOG_ERR - 1));
	if (push_env_open(&env, 4096) < 0)
		fuzz_fail("push_env_open", 0);
	atexit(cleanup);
	if (push_allow_add(env.push, PUSH_ENV_PEER, PUSH_ENV_CLASS, PUSH_GID, 1001) < 0)
		fuzz_fail("push_allow_add", 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setup();
	return 0;
}

/* Every output frame must parse; a stranger gets no KEY. */
static void check_out(struct push_conn *pc, bool stranger)
{
	const uint8_t *p;
	size_t n = push_conn_output(pc, &p), off = 0;

	while (off < n) {
		struct pushwire_msg m;
		int fl = pushwire_frame_len(p + off, n - off);

		if (fl <= 0 || pushwire_parse(p + off, (size_t)fl, &m) < 0)
			fuzz_fail("malformed output at", (long)off);
		if (stranger && m.type == PW_KEY)
			fuzz_fail("a key for a client not in push_allow", 0);
		off += (size_t)fl;
	}
	push_conn_consume(pc, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t uid[4] = { 0, 1000, 1002, 65534 }, gid[4] = { 0, 1001, 1002, 65534 };
	struct store_counts sc;
	struct push_conn *pc;
	size_t split, off;
	uint8_t sel;

	setup();
	if (size < 1)
		return 0;
	sel = data[0];
	split = sel >> 2;
	data++;
	size--;
	/* keep keys in the pool so that GET and SUBSCRIBE reach the store */
	if (store_counts(env.st, PUSH_ENV_PEER, PUSH_ENV_CLASS, STORE_OUTBOUND, &sc) == 0 &&
	    sc.state[STORE_ACTIVE] < 16 && push_env_put(&env, 32, NULL, NULL) < 0)
		fuzz_fail("push_env_put", 0);
	if (push_conn_new(env.push, uid[sel & 3], gid[sel & 3], 1, &pc) < 0)
		fuzz_fail("push_conn_new", 0);
	for (off = 0; off < size;) {
		size_t n = split ? split : size;
		int r;

		if (n > size - off)
			n = size - off;
		r = push_conn_input(pc, data + off, n, PUSH_ENV_NOW + (int64_t)(off & 7));
		if (r > 0 || r < -4095)
			fuzz_fail("push_conn_input returned", r);
		check_out(pc, (sel & 3) >= 2);
		off += n;
		if (push_conn_closing(pc)) {
			const uint8_t *p;

			/* a closing connection takes nothing more and says nothing more */
			if (push_conn_input(pc, data, size, PUSH_ENV_NOW) >= 0 ||
			    push_conn_output(pc, &p) != 0)
				fuzz_fail("a closing connection went on", 0);
			break;
		}
	}
	push_tick(env.push, PUSH_ENV_NOW + (int64_t)size);
	check_out(pc, (sel & 3) >= 2);
	push_conn_free(pc);
	return 0;
}
