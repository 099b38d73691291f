/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfsctl commands that talk to a running mfsd over its admin socket
 * (docs/admin-api.md): status, peers, keys, rekey, method, audit.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli_common.h"
#include "cli/mfsctl_admin.h"

#define REQ_MAX 4096
#define RESP_MAX (16U * 1024 * 1024)

static const char *socket_path = MFSCTL_DEFAULT_SOCKET;
static bool json_out;

void mfsctl_admin_set_socket(const char *path)
{
	socket_path = path;
}

void mfsctl_admin_set_json(bool on)
{
	json_out = on;
}

static int io_all(int fd, void *buf, size_t len, bool wr)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = wr ? write(fd, p, len) : read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Send req (consumed), return the parsed response or NULL after printing why. */
static json_t *call(json_t *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *text = json_dumps(req, JSON_COMPACT);
	uint8_t hdr[4];
	size_t n = text ? strlen(text) : 0;
	char *resp = NULL;
	json_t *out = NULL;
	json_error_t jerr;
	uint32_t rl;
	int fd = -1, r;

	json_decref(req);
	if (!text || n > REQ_MAX) {
		cli_fail(0, "request too large");
		goto out;
	}
	if (strlen(socket_path) >= sizeof(sa.sun_path)) {
		cli_fail(0, "socket path too long");
		goto out;
	}
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		cli_fail(-errno, "cannot reach mfsd at %s", socket_path);
		goto out;
	}
	hdr[0] = (uint8_t)(n >> 24);
	hdr[1] = (uint8_t)(n >> 16);
	hdr[2] = (uint8_t)(n >> 8);
	hdr[3] = (uint8_t)n;
	if ((r = io_all(fd, hdr, 4, true)) < 0 || (r = io_all(fd, text, n, true)) < 0 ||
	    (r = io_all(fd, hdr, 4, false)) < 0) {
		cli_fail(r, "admin socket");
		goto out;
	}
	rl = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (rl > RESP_MAX || !(resp = malloc(rl ? rl : 1))) {
		cli_fail(0, "response too large");
		goto out;
	}
	if ((r = io_all(fd, resp, rl, false)) < 0) {
		cli_fail(r, "admin socket");
		goto out;
	}
	if (!(out = json_loadb(resp, rl, 0, &jerr)) || !json_is_object(out)) {
		json_decref(out);
		out = NULL;
		cli_fail(0, "malformed response from mfsd");
	}
out:
	if (fd >= 0)
		close(fd);
	free(text);
	free(resp);
	return out;
}

/* Print errors; 0 when ok. With --json, print the whole response. */
static int check(json_t *resp)
{
	json_t *ok;

	if (!resp)
		return 1;
	ok = json_object_get(resp, "ok");
	if (!json_is_true(ok)) {
		const char *e = json_string_value(json_object_get(resp, "error"));

		fprintf(stderr, "mfsctl: %s\n", e ? e : "request failed");
		return 1;
	}
	if (json_out) {
		char *s = json_dumps(resp, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		if (s)
			puts(s);
		free(s);
	}
	return 0;
}

static const char *tstr(json_t *v, char *buf, size_t size)
{
	time_t t = (time_t)json_integer_value(v);
	struct tm tm;

	if (t == 0)
		return "-";
	if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return "?";
	return buf;
}

static void print_list(json_t *a)
{
	size_t i;
	json_t *v;

	if (json_array_size(a) == 0) {
		fputs("-", stdout);
		return;
	}
	json_array_foreach(a, i, v)
		printf("%s%s", i ? "," : "", json_string_value(v));
}

#define JI(o, k) json_integer_value(json_object_get((o), (k)))

/* The key supply face (docs/key-supply.md), when mfsd has a [supply] section. */
static void print_supply(json_t *s)
{
	json_t *e = json_object_get(s, "errors");

	if (!s)
		return;
	printf("supply https://%s: %lld SAE(s), %lld worker(s)\n",
	       json_string_value(json_object_get(s, "listen")), JI(s, "saes"), JI(s, "threads"));
	printf("  requests  %lld (%lld ok) on %lld connection(s)\n", JI(s, "requests"), JI(s, "ok"),
	       JI(s, "connections"));
	printf("  keys      %lld served: enc_keys %lld, dec_keys %lld\n", JI(s, "keys_served"),
	       JI(s, "enc_keys"), JI(s, "dec_keys"));
	printf("  errors    400: %lld, 401: %lld (%lld without a valid certificate, %lld denied), "
	       "404: %lld, 405: %lld, 503: %lld (%lld pool empty)\n", JI(e, "400"), JI(e, "401"),
	       JI(e, "unauthenticated"), JI(s, "denied"), JI(e, "404"), JI(e, "405"), JI(e, "503"),
	       JI(s, "exhausted"));
	{
		json_t *r = json_object_get(s, "reserve");

		if (r)
			printf("  reserve   %lld held (recorded as delivered, not yet served); %lld served "
			       "from it, %lld misses, %lld refills, %lld discarded\n", JI(r, "held"),
			       JI(r, "served"), JI(r, "misses"), JI(r, "refills"), JI(r, "discarded"));
	}
}

static void print_status(json_t *resp, bool classes)
{
	json_t *peers = json_object_get(resp, "peers"), *p, *c, *rv = json_object_get(resp, "revoked");
	char b1[32], b2[32];
	size_t i, j;

	printf("node %s: %s\n", json_string_value(json_object_get(resp, "node")),
	       json_string_value(json_object_get(resp, "state")));
	json_array_foreach(peers, i, p) {
		bool up = json_is_true(json_object_get(p, "connected"));

		printf("peer %s: %s", json_string_value(json_object_get(p, "name")),
		       up ? "connected" : "unreachable");
		if (up)
			printf(" since %s", tstr(json_object_get(p, "up_since"), b1, sizeof(b1)));
		else if (json_integer_value(json_object_get(p, "down_since")))
			printf(" since %s", tstr(json_object_get(p, "down_since"), b1, sizeof(b1)));
		if (!up && json_string_length(json_object_get(p, "last_error")))
			printf(" (%s)", json_string_value(json_object_get(p, "last_error")));
		putchar('\n');
		if (!classes)
			continue;
		{
			json_t *q = json_object_get(p, "qkd");

			if (json_is_object(q)) {
				if (!strcmp(json_string_value(json_object_get(q, "state")), "ok"))
					printf("  qkd014: KME ok, %lld keys ready\n",
					       json_integer_value(json_object_get(q, "keys_ready")));
				else
					printf("  qkd014: KME OUTAGE/ALARM since %s: %s\n",
					       tstr(json_object_get(q, "since"), b2, sizeof(b2)),
					       json_string_value(json_object_get(q, "reason")));
			}
		}
		json_array_foreach(json_object_get(p, "classes"), j, c) {
			json_t *pool = json_object_get(c, "pool"), *deg = json_object_get(c, "degraded"), *d;
			size_t k;

			printf("  class %s: %s (%s)\n", json_string_value(json_object_get(c, "name")),
			       json_string_value(json_object_get(c, "state")),
			       json_is_true(json_object_get(c, "initiator")) ? "initiator" : "responder");
			printf("    methods   required ");
			print_list(json_object_get(c, "required"));
			printf(", optional ");
			print_list(json_object_get(c, "optional"));
			printf("\n    suite     ");
			print_list(json_object_get(c, "suite"));
			printf("\n    pool      outbound %lld, inbound %lld (low %lld, high %lld)\n",
			       json_integer_value(json_object_get(pool, "outbound")),
			       json_integer_value(json_object_get(pool, "inbound")),
			       json_integer_value(json_object_get(pool, "low")),
			       json_integer_value(json_object_get(pool, "high")));
			printf("    rekey     last %s, next %s, %lld exchange(s), last took %lld ms\n",
			       tstr(json_object_get(c, "last_rekey"), b1, sizeof(b1)),
			       tstr(json_object_get(c, "next_rekey"), b2, sizeof(b2)),
			       json_integer_value(json_object_get(c, "exchanges")),
			       json_integer_value(json_object_get(c, "last_duration_ms")));
			if (json_integer_value(json_object_get(c, "volume_rekeys")))
				printf("    volume    %lld rekey(s) asked by reported usage\n",
				       json_integer_value(json_object_get(c, "volume_rekeys")));
			json_array_foreach(json_object_get(c, "subscriptions"), k, d) {
				const char *inst = json_string_value(json_object_get(d, "installed"));
				const char *use = json_string_value(json_object_get(d, "in_use"));

				printf("    push      %s %s (uid %lld, pid %lld): %lld delivered\n"
				       "              installed %s\n              in use    %s",
				       json_string_value(json_object_get(d, "direction")),
				       json_string_value(json_object_get(d, "client")),
				       json_integer_value(json_object_get(d, "uid")),
				       json_integer_value(json_object_get(d, "pid")),
				       json_integer_value(json_object_get(d, "delivered")),
				       inst ? inst : "-", use ? use : "-");
				if (use)
					printf(" (%lld bytes, %lld packets)",
					       json_integer_value(json_object_get(d, "bytes")),
					       json_integer_value(json_object_get(d, "packets")));
				putchar('\n');
			}
			json_array_foreach(deg, k, d)
				printf("    degraded: %s\n", json_string_value(d));
		}
	}
	json_array_foreach(rv, i, p)
		printf("revoked %s by %s at %s: %s\n", json_string_value(json_object_get(p, "method")),
		       json_string_value(json_object_get(p, "origin")),
		       tstr(json_object_get(p, "at"), b1, sizeof(b1)),
		       json_string_value(json_object_get(p, "reason")));
	if (!classes)
		return;
	json_array_foreach(json_object_get(resp, "static_keys"), i, p) {
		printf("static key %s: %.16s (%s), created %s, next rotation %s\n",
		       json_string_value(json_object_get(p, "method")),
		       json_string_value(json_object_get(p, "id")),
		       json_string_value(json_object_get(p, "state")),
		       tstr(json_object_get(p, "created"), b1, sizeof(b1)),
		       tstr(json_object_get(p, "next_rotation"), b2, sizeof(b2)));
		if (json_string_length(json_object_get(p, "previous"))) {
			printf("  previous %.16s, replaced %s; pinned by ",
			       json_string_value(json_object_get(p, "previous")),
			       tstr(json_object_get(p, "previous_since"), b1, sizeof(b1)));
			print_list(json_object_get(p, "peers_pinned"));
			printf(", pending ");
			print_list(json_object_get(p, "peers_pending"));
			putchar('\n');
		}
	}
	json_array_foreach(peers, i, p) {
		json_t *pin;

		json_array_foreach(json_object_get(p, "pins"), j, pin) {
			printf("pin %s %s: %.16s", json_string_value(json_object_get(p, "name")),
			       json_string_value(json_object_get(pin, "method")),
			       json_string_value(json_object_get(pin, "id")));
			if (json_string_length(json_object_get(pin, "previous")))
				printf(" (previous %.16s accepted until %s)",
				       json_string_value(json_object_get(pin, "previous")),
				       tstr(json_object_get(pin, "previous_until"), b1, sizeof(b1)));
			putchar('\n');
		}
	}
	{
		json_t *cn = json_object_get(resp, "counters"), *rl = json_object_get(resp, "reload");

		printf("counters: orphans withdrawn %lld, mlock failures %lld, reloads %lld "
		       "(failed %lld), static key rotations %lld (failed %lld), re-pins %lld, "
		       "old static keys destroyed %lld\n",
		       json_integer_value(json_object_get(cn, "orphans_withdrawn")),
		       json_integer_value(json_object_get(cn, "mlock_failures")),
		       json_integer_value(json_object_get(cn, "reloads")),
		       json_integer_value(json_object_get(cn, "reload_failures")),
		       json_integer_value(json_object_get(cn, "rotations")),
		       json_integer_value(json_object_get(cn, "rotation_failures")),
		       json_integer_value(json_object_get(cn, "repins")),
		       json_integer_value(json_object_get(cn, "static_keys_destroyed")));
		if (json_string_length(json_object_get(rl, "error")))
			printf("reload failed at %s: %s (the previous configuration keeps running)\n",
			       tstr(json_object_get(rl, "last"), b1, sizeof(b1)),
			       json_string_value(json_object_get(rl, "error")));
		else if (json_integer_value(json_object_get(rl, "last")))
			printf("reloaded at %s\n", tstr(json_object_get(rl, "last"), b1, sizeof(b1)));
	}
	if (classes)
		print_supply(json_object_get(resp, "supply"));
}

static int simple(const char *cmd, int argc, char **argv, const char *usage_text)
{
	json_t *resp;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "mfsctl %s: unexpected argument '%s'\n", cmd, argv[1]);
		return 2;
	}
	resp = call(json_pack("{s:s}", "cmd", cmd));
	if (check(resp)) {
		json_decref(resp);
		return 1;
	}
	if (!json_out && !strcmp(cmd, "status"))
		print_status(resp, true);
	else if (!json_out && !strcmp(cmd, "peers"))
		print_status(resp, false);
	else if (!json_out && !strcmp(cmd, "audit")) {
		size_t i;
		json_t *a;
		char b[32];

		json_array_foreach(json_object_get(resp, "audit"), i, a)
			printf("%lld %s %s %s keys=%lld %s\n", json_integer_value(json_object_get(a, "seq")),
			       tstr(json_object_get(a, "at"), b, sizeof(b)),
			       json_string_value(json_object_get(a, "who")),
			       json_string_value(json_object_get(a, "what")),
			       json_integer_value(json_object_get(a, "keys")),
			       json_string_value(json_object_get(a, "detail")));
	}
	json_decref(resp);
	return 0;
}

int mfsctl_cmd_status(int argc, char **argv)
{
	return simple("status", argc, argv,
		      "Usage: mfsctl [--socket PATH] [--json] status\n\n"
		      "Peers, classes, method sets in use, pool depth per direction, last and next\n"
		      "rekey, and why a class is degraded or fails closed; this node's static\n"
		      "McEliece keys and their rotation, the peers' pinned keys; counters (orphaned\n"
		      "exchanges withdrawn, mlock failures, configuration reloads and their\n"
		      "failures, rotations); the last reload error (docs/admin-api.md).\n");
}

int mfsctl_cmd_peers(int argc, char **argv)
{
	return simple("peers", argc, argv,
		      "Usage: mfsctl [--socket PATH] [--json] peers\n\nThe peers and their links.\n");
}

int mfsctl_cmd_audit(int argc, char **argv)
{
	return simple("audit", argc, argv,
		      "Usage: mfsctl [--socket PATH] [--json] audit\n\nThe audit log of the key store.\n");
}

int mfsctl_cmd_keys(int argc, char **argv)
{
	json_t *req, *resp, *k;
	char b1[32], b2[32];
	size_t i;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: mfsctl [--socket PATH] [--json] keys [PEER [CLASS]]\n\n"
		       "Metadata of the stored keys (never key bytes).\n");
		return 0;
	}
	if (argc > 3) {
		fprintf(stderr, "mfsctl keys: too many arguments\n");
		return 2;
	}
	req = json_pack("{s:s}", "cmd", "keys");
	if (argc > 1)
		json_object_set_new(req, "peer", json_string(argv[1]));
	if (argc > 2)
		json_object_set_new(req, "class", json_string(argv[2]));
	resp = call(req);
	if (check(resp)) {
		json_decref(resp);
		return 1;
	}
	if (!json_out) {
		printf("%-36s %-10s %-10s %-8s %-11s %-20s %-20s %s\n", "ID", "PEER", "CLASS", "DIR",
		       "STATE", "CREATED", "HARD EXPIRY", "METHODS");
		json_array_foreach(json_object_get(resp, "keys"), i, k) {
			printf("%-36s %-10s %-10s %-8s %-11s %-20s %-20s ",
			       json_string_value(json_object_get(k, "id")),
			       json_string_value(json_object_get(k, "peer")),
			       json_string_value(json_object_get(k, "class")),
			       json_string_value(json_object_get(k, "direction")),
			       json_string_value(json_object_get(k, "state")),
			       tstr(json_object_get(k, "created"), b1, sizeof(b1)),
			       tstr(json_object_get(k, "hard_expiry"), b2, sizeof(b2)));
			print_list(json_object_get(k, "methods"));
			putchar('\n');
		}
	}
	json_decref(resp);
	return 0;
}

int mfsctl_cmd_rekey(int argc, char **argv)
{
	json_t *req, *resp;
	int rc;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: mfsctl [--socket PATH] rekey PEER [CLASS]\n\n"
		       "Run a fresh exchange now for one class (or every class) of PEER.\n");
		return 0;
	}
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "mfsctl rekey: usage: rekey PEER [CLASS]\n");
		return 2;
	}
	req = json_pack("{s:s,s:s}", "cmd", "rekey", "peer", argv[1]);
	if (argc > 2)
		json_object_set_new(req, "class", json_string(argv[2]));
	resp = call(req);
	rc = check(resp);
	if (!rc && !json_out)
		printf("rekey of %s %s requested\n", argv[1], argc > 2 ? argv[2] : "(all classes)");
	json_decref(resp);
	return rc;
}

int mfsctl_cmd_rotate_static(int argc, char **argv)
{
	json_t *req, *resp;
	int rc;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: mfsctl [--socket PATH] rotate-static [METHOD]\n\n"
		       "Rotate this node's static Classic McEliece key of METHOD (mceliece460896,\n"
		       "mceliece6688128; default: every set the node holds) now, instead of at the\n"
		       "configured static_key_rotate interval. mfsd generates the new pair in the\n"
		       "background, writes it to state_dir/static/, announces it to every peer over\n"
		       "the authenticated link (each re-pins it and acknowledges), and destroys the\n"
		       "old pair static_key_grace after the last peer acknowledged. 'mfsctl status'\n"
		       "shows the progress. Refused while an earlier rotation is still in its grace\n"
		       "period. See docs/mfsd.md, \"Static key rotation\".\n");
		return 0;
	}
	if (argc > 2) {
		fprintf(stderr, "mfsctl rotate-static: usage: rotate-static [METHOD]\n");
		return 2;
	}
	req = json_pack("{s:s}", "cmd", "rotate-static");
	if (argc > 1)
		json_object_set_new(req, "method", json_string(argv[1]));
	resp = call(req);
	rc = check(resp);
	if (!rc && !json_out)
		printf("rotation of %s started: see 'mfsctl status'\n",
		       argc > 1 ? argv[1] : "every static key");
	json_decref(resp);
	return rc;
}

static void method_help(void)
{
	printf("Usage: mfsctl [--socket PATH] [--json] method list\n"
	       "       mfsctl method revoke NAME --reason TEXT\n"
	       "       mfsctl method restore NAME\n"
	       "       mfsctl method usage NAME\n\n"
	       "Crypto agility: list the key-exchange methods and their state; revoke one\n"
	       "(peers are told, affected classes re-exchange without it, its keys are\n"
	       "withdrawn, audited); lift a revocation; show every pool and key still\n"
	       "derived with a method.\n");
}

int mfsctl_cmd_method(int argc, char **argv)
{
	json_t *req = NULL, *resp, *v;
	const char *sub = argc > 1 ? argv[1] : "";
	size_t i;
	int rc;

	if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		method_help();
		return 0;
	}
	if (!strcmp(sub, "list") && argc == 2) {
		req = json_pack("{s:s}", "cmd", "method-list");
	} else if (!strcmp(sub, "revoke") && argc == 5 && !strcmp(argv[3], "--reason")) {
		req = json_pack("{s:s,s:s,s:s}", "cmd", "method-revoke", "method", argv[2],
				"reason", argv[4]);
	} else if (!strcmp(sub, "revoke") && argc == 4 && !strncmp(argv[3], "--reason=", 9)) {
		req = json_pack("{s:s,s:s,s:s}", "cmd", "method-revoke", "method", argv[2],
				"reason", argv[3] + 9);
	} else if (!strcmp(sub, "restore") && argc == 3) {
		req = json_pack("{s:s,s:s}", "cmd", "method-restore", "method", argv[2]);
	} else if (!strcmp(sub, "usage") && argc == 3) {
		req = json_pack("{s:s,s:s}", "cmd", "method-usage", "method", argv[2]);
	} else {
		fprintf(stderr, "mfsctl method: bad arguments\nTry 'mfsctl method --help'.\n");
		return 2;
	}
	resp = call(req);
	rc = check(resp);
	if (rc || json_out)
		goto out;
	if (!strcmp(sub, "list")) {
		printf("%-16s %-7s %-10s %-3s %-9s %s\n", "NAME", "ID", "FAMILY", "PQ", "STATE", "");
		json_array_foreach(json_object_get(resp, "methods"), i, v) {
			bool rv = json_is_true(json_object_get(v, "revoked"));

			printf("%-16s 0x%04llx  %-10s %-3s %-9s %s%s%s\n",
			       json_string_value(json_object_get(v, "name")),
			       json_integer_value(json_object_get(v, "id")),
			       json_string_value(json_object_get(v, "family")),
			       json_is_true(json_object_get(v, "post_quantum")) ? "yes" : "no",
			       rv ? "revoked" : json_is_true(json_object_get(v, "available")) ?
			       "active" : "unavailable",
			       rv ? "by " : "", rv ? json_string_value(json_object_get(v, "revoked_by")) : "",
			       rv ? "" : "");
		}
	} else if (!strcmp(sub, "revoke")) {
		printf("method %s revoked: %lld key(s) withdrawn\n", argv[2],
		       json_integer_value(json_object_get(resp, "withdrawn")));
	} else if (!strcmp(sub, "restore")) {
		printf("method %s restored\n", argv[2]);
	} else {
		json_t *u;

		printf("method %s%s\n", argv[2],
		       json_is_true(json_object_get(resp, "revoked")) ? " (revoked)" : "");
		if (json_array_size(json_object_get(resp, "usage")) == 0)
			printf("  no key in a pool or delivered is derived with it\n");
		json_array_foreach(json_object_get(resp, "usage"), i, u)
			printf("  peer %s class %s %s: %lld in pool, %lld delivered\n",
			       json_string_value(json_object_get(u, "peer")),
			       json_string_value(json_object_get(u, "class")),
			       json_string_value(json_object_get(u, "direction")),
			       json_integer_value(json_object_get(u, "in_pool")),
			       json_integer_value(json_object_get(u, "delivered")));
	}
out:
	json_decref(resp);
	return rc;
}

/* Help of each command, for mfsctl's table. */
#define HELP(name)                                                      \
	void mfsctl_help_##name(void)                                   \
	{                                                               \
		char *argv[] = { (char *)#name, (char *)"--help", NULL };  \
		(void)mfsctl_cmd_##name(2, argv);                       \
	}
HELP(status)
HELP(peers)
HELP(keys)
HELP(rekey)
HELP(method)
HELP(audit)
HELP(rotate_static)
