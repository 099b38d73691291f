/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfsctl key get | get-by-id | subscribe: keys from mfsd's push socket through
 * libmfs-client (include/mfs/client.h, docs/push.md), for scripts and demos.
 * Metadata goes to stdout as key=value lines; the key itself only with --hex
 * or --base64 (also stdout, never stderr, never a log).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/err.h"
#include "base/hex.h"
#include "base/secret.h"
#include "cli/cli_common.h"
#include "cli/mfsctl_key.h"
#include "mfs/client.h"

enum key_out { OUT_NONE, OUT_HEX, OUT_BASE64 };

static void key_help(void)
{
	printf("Usage: mfsctl key get PEER CLASS [--hex | --base64] [options]\n"
	       "       mfsctl key get-by-id PEER CLASS KEY_ID [--hex | --base64] [options]\n"
	       "       mfsctl key subscribe PEER CLASS outbound|inbound [--ahead N] [--count N]\n"
	       "                            [--usage BYTES] [--timeout SEC] [options]\n\n"
	       "Keys from mfsd's push socket (libmfs-client, docs/push.md).\n"
	       "  get        take the next outbound key of PEER/CLASS (delivered once)\n"
	       "  get-by-id  fetch inbound key KEY_ID (the one the peer's side took)\n"
	       "  subscribe  the push stream as a toy encryptor: print each event (with\n"
	       "             --hex/--base64 also each key, as 'ID key=...'), acknowledge each\n"
	       "             key, use the first (report --usage BYTES for it), switch to the\n"
	       "             next received key when the one in use is retired; stop after\n"
	       "             --count keys (default: run until --timeout without events)\n\n"
	       "Metadata is printed as key=value lines. The key is printed only with\n"
	       "  --hex / --base64   (one line key=..., on stdout)\n"
	       "Options:\n"
	       "  --push-socket PATH  mfsd's push socket (default $MFS_PUSH_SOCKET, else %s)\n"
	       "  --name NAME         client name shown by mfsctl status (default mfsctl)\n"
	       "  --ahead N           outbound keys held ahead (1..%d, default 2)\n"
	       "  --timeout SEC       subscribe: give up after SEC without an event (default 30)\n",
	       MFS_CLIENT_DEFAULT_SOCKET, MFS_CLIENT_AHEAD_MAX);
}

void mfsctl_help_key(void)
{
	key_help();
}

static void print_meta(const struct mfs_client_key *k)
{
	char id[MFS_CLIENT_KEY_ID_STR_LEN + 1];

	mfs_client_key_id_format(k->id, id);
	printf("id=%s\ndirection=%s\nnot_before=%" PRId64 "\nsoft_expiry=%" PRId64
	       "\nhard_expiry=%" PRId64 "\nlength=%zu\n", id,
	       k->direction == MFS_CLIENT_OUTBOUND ? "outbound" : "inbound", k->not_before,
	       k->soft_expiry, k->hard_expiry, k->key_len);
}

static int print_key(const struct mfs_client_key *k, enum key_out how)
{
	char buf[2 * MFS_CLIENT_KEY_MAX + 8];
	int r = 0;

	if (how == OUT_HEX)
		r = hex_encode(buf, sizeof(buf), k->key, k->key_len);
	else if (how == OUT_BASE64)
		r = EVP_EncodeBlock((unsigned char *)buf, k->key, (int)k->key_len) > 0 ? 0 : -EIO;
	else
		return 0;
	if (r == 0)
		printf("key=%s\n", buf);
	mfs_wipe(buf, sizeof(buf));
	return r;
}

static int open_client(const char *sock, const char *name, struct mfs_client **c)
{
	int r;

	if (!sock)
		sock = getenv("MFS_PUSH_SOCKET");
	if ((r = mfs_client_open(sock, name, c)) < 0)
		return cli_fail(r, "push socket %s", sock ? sock : MFS_CLIENT_DEFAULT_SOCKET);
	return 0;
}

static int fail_client(struct mfs_client *c, int r, const char *what)
{
	const char *t = mfs_client_error(c);

	return cli_fail(r, "%s%s%s", what, t[0] ? ": " : "", t);
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *ret)
{
	char *end;
	unsigned long long v;

	if (!s[0] || s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* The keys received and not yet used (ids only), oldest first. */
struct ready {
	uint8_t ids[2 * MFS_CLIENT_AHEAD_MAX + 2][MFS_CLIENT_KEY_ID_LEN];
	size_t n;
};

static int use_next(struct mfs_client *c, struct ready *rd, uint8_t in_use[MFS_CLIENT_KEY_ID_LEN],
		    unsigned long long usage)
{
	char id[MFS_CLIENT_KEY_ID_STR_LEN + 1];
	int r;

	memcpy(in_use, rd->ids[0], MFS_CLIENT_KEY_ID_LEN);
	memmove(rd->ids[0], rd->ids[1], (rd->n - 1) * MFS_CLIENT_KEY_ID_LEN);
	rd->n--;
	mfs_client_key_id_format(in_use, id);
	if ((r = mfs_client_in_use(c, in_use)) < 0)
		return fail_client(c, r, "in-use");
	printf("in-use %s\n", id);
	if (usage) {
		if ((r = mfs_client_usage(c, in_use, usage, usage / 1400 + 1)) < 0)
			return fail_client(c, r, "usage");
		printf("usage %s bytes=%llu packets=%llu\n", id, usage, usage / 1400 + 1);
	}
	return 0;
}

/*
 * The push stream as a toy encryptor: acknowledge every key, use the first
 * one (reporting `usage` bytes for it), and switch to the oldest received
 * key when the one in use is retired.
 */
static int subscribe(struct mfs_client *c, const char *peer, const char *cls, const char *dirs,
		     unsigned ahead, unsigned long long count, unsigned long long usage,
		     unsigned timeout_s, enum key_out how)
{
	enum mfs_client_direction dir;
	struct mfs_client_event ev;
	struct ready rd = { .n = 0 };
	uint8_t in_use[MFS_CLIENT_KEY_ID_LEN];
	bool have_in_use = false, want_switch = true;
	unsigned long long n = 0;
	char id[MFS_CLIENT_KEY_ID_STR_LEN + 1];
	int r;

	if (!strcmp(dirs, "outbound"))
		dir = MFS_CLIENT_OUTBOUND;
	else if (!strcmp(dirs, "inbound"))
		dir = MFS_CLIENT_INBOUND;
	else
		return cli_usage("key", "direction must be outbound or inbound, not '%s'", dirs);
	if ((r = mfs_client_subscribe(c, peer, cls, dir, ahead)) < 0)
		return fail_client(c, r, "subscribe");
	printf("subscribed %s/%s %s ahead=%u\n", peer, cls, dirs, ahead);
	fflush(stdout);
	for (;;) {
		r = mfs_client_next(c, (int)timeout_s * 1000, &ev);
		if (r == 0) {
			fprintf(stderr, "mfsctl: key subscribe: no event for %u s\n", timeout_s);
			return count ? 1 : 0;
		}
		if (r < 0)
			return fail_client(c, r, "subscription");
		switch (ev.type) {
		case MFS_CLIENT_EV_KEY:
			mfs_client_key_id_format(ev.key.id, id);
			printf("key %s %s not_before=%" PRId64 " soft_expiry=%" PRId64
			       " hard_expiry=%" PRId64 " length=%zu\n", id,
			       ev.key.direction == MFS_CLIENT_OUTBOUND ? "outbound" : "inbound",
			       ev.key.not_before, ev.key.soft_expiry, ev.key.hard_expiry,
			       ev.key.key_len);
			if (how != OUT_NONE) {
				printf("%s ", id);
				print_key(&ev.key, how);
			}
			mfs_client_key_wipe(&ev.key);
			if ((r = mfs_client_ack(c, ev.id)) < 0)
				return fail_client(c, r, "ack");
			if (rd.n < sizeof(rd.ids) / sizeof(rd.ids[0]))
				memcpy(rd.ids[rd.n++], ev.id, MFS_CLIENT_KEY_ID_LEN);
			n++;
			break;
		case MFS_CLIENT_EV_RETIRE:
			mfs_client_key_id_format(ev.id, id);
			printf("retire %s reason=%s\n", id,
			       ev.reason == MFS_CLIENT_RETIRE_VOLUME ? "volume" :
			       ev.reason == MFS_CLIENT_RETIRE_SOFT_EXPIRY ? "soft-expiry" :
			       ev.reason == MFS_CLIENT_RETIRE_HARD_EXPIRY ? "hard-expiry" : "withdrawn");
			if (have_in_use && !memcmp(in_use, ev.id, sizeof(in_use)))
				want_switch = true;
			break;
		case MFS_CLIENT_EV_PEER_INSTALLED:
			mfs_client_key_id_format(ev.id, id);
			printf("peer-installed %s\n", id);
			break;
		}
		if (want_switch && rd.n) {
			/* usage is reported for the first key only: a toy, not a data plane */
			if ((r = use_next(c, &rd, in_use, have_in_use ? 0 : usage)) != 0)
				return r;
			have_in_use = true;
			want_switch = false;
		}
		fflush(stdout);
		if (count && n >= count)
			return 0;
	}
}

int mfsctl_cmd_key(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "push-socket", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "hex", no_argument, NULL, 'x' },
		{ "base64", no_argument, NULL, 'b' },
		{ "ahead", required_argument, NULL, 'a' },
		{ "count", required_argument, NULL, 'c' },
		{ "usage", required_argument, NULL, 'u' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *sock = NULL, *name = "mfsctl", *sub;
	enum key_out how = OUT_NONE;
	unsigned long long ahead = 2, count = 0, usage = 0, timeout = 30;
	struct mfs_client *c = NULL;
	struct mfs_client_key k;
	int opt, r, rc = 1;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'n': name = optarg; break;
		case 'x': how = OUT_HEX; break;
		case 'b': how = OUT_BASE64; break;
		case 'a':
			if (parse_uint(optarg, MFS_CLIENT_AHEAD_MAX, &ahead) < 0 || !ahead)
				return cli_usage("key", "--ahead: 1..%d", MFS_CLIENT_AHEAD_MAX);
			break;
		case 'c':
			if (parse_uint(optarg, 1ULL << 40, &count) < 0)
				return cli_usage("key", "--count: a number");
			break;
		case 'u':
			if (parse_uint(optarg, UINT64_MAX, &usage) < 0)
				return cli_usage("key", "--usage: a number of bytes");
			break;
		case 't':
			if (parse_uint(optarg, 86400, &timeout) < 0 || !timeout)
				return cli_usage("key", "--timeout: 1..86400 seconds");
			break;
		case 'h': key_help(); return 0;
		default: return CLI_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return cli_usage("key", "get, get-by-id or subscribe");
	sub = argv[0];
	if (!strcmp(sub, "get") && argc == 3) {
		if ((r = open_client(sock, name, &c)) != 0)
			return r;
		if ((r = mfs_client_get_key(c, argv[1], argv[2], &k)) < 0) {
			rc = fail_client(c, r, "key get");
			goto out;
		}
	} else if (!strcmp(sub, "get-by-id") && argc == 4) {
		uint8_t id[MFS_CLIENT_KEY_ID_LEN];

		if (mfs_client_key_id_parse(argv[3], id) < 0)
			return cli_usage("key", "KEY_ID '%s' is not a UUID", argv[3]);
		if ((r = open_client(sock, name, &c)) != 0)
			return r;
		if ((r = mfs_client_get_key_by_id(c, argv[1], argv[2], id, &k)) < 0) {
			rc = fail_client(c, r, "key get-by-id");
			goto out;
		}
	} else if (!strcmp(sub, "subscribe") && argc == 4) {
		if ((r = open_client(sock, name, &c)) != 0)
			return r;
		rc = subscribe(c, argv[1], argv[2], argv[3], (unsigned)ahead, count, usage,
			       (unsigned)timeout, how);
		goto out;
	} else {
		return cli_usage("key", "see 'mfsctl key --help'");
	}
	print_meta(&k);
	rc = print_key(&k, how) < 0 ? 1 : 0;
	mfs_client_key_wipe(&k);
out:
	mfs_client_close(c);
	return rc;
}
