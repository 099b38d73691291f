/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfsctl: administration of an mfsec node. For now the node identity
 * (genid, pins); commands that talk to a running mfsd come with it.
 *
 * Exit statuses as mfs-kex: 0 ok, 1 the operation failed, 2 bad command line.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "base/err.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/secret.h"
#include "cli/cli_common.h"
#include "cli/mfsctl_admin.h"
#include "cli/mfsctl_key.h"
#include "kex/kex.h"
#include "proto/identity.h"
#include "proto/policy.h"

/* "2036-05-01" from a certificate time, or "?" */
static void cert_date(const ASN1_TIME *t, char *out, size_t size)
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1 || strftime(out, size, "%Y-%m-%d", &tm) == 0)
		snprintf(out, size, "?");
}

/*
 * The longest line mfsd.conf accepts: CONFIG_LINE_MAX of daemon/config.h
 * (docs/config.md), which the cli layer may not include.
 */
#define CONF_LINE_MAX 190

/* Where a peer keeps the copy of a McEliece public key, relative to its mfsd.conf. */
#define PEER_PIN_DIR "peers"

/*
 * Print "key = value" as a configuration line; a comment first when mfsd.conf
 * could not hold it (docs/config.md: CONF_LINE_MAX, no control characters).
 */
static void conf_line(const char *key, const char *value)
{
	bool bad = strlen(key) + 3 + strlen(value) > CONF_LINE_MAX;

	for (const char *c = value; *c; c++)
		bad |= (unsigned char)*c < 0x20 || *c == 0x7f;
	if (bad)
		printf("# WARNING: mfsd.conf cannot hold the next line (over %d characters or a\n"
		       "# control character): move the identity to a shorter path.\n", CONF_LINE_MAX);
	printf("%s = %s\n", key, value);
}

/*
 * The node's public description, then two ready-to-paste blocks: the
 * [peer ID] section for each peer's configuration (the pins) and the [node]
 * lines for this node's own. Every line that is not configuration is a
 * comment, so the whole output may be pasted and trimmed.
 */
static int print_pins(const struct identity *idn, const char *dir)
{
	char fpr[IDENTITY_HEX_LEN], pkid[IDENTITY_HEX_LEN], until[32];
	char abs[PATH_MAX], path[PATH_MAX + 64], key[64], pin[IDENTITY_ID_MAX + 64];
	bool any = false, named = policy_name_valid(idn->id);
	const char *section = named ? idn->id : "NAME";
	int r, width;

	if ((r = hex_encode(fpr, sizeof(fpr), idn->cert_fpr, sizeof(idn->cert_fpr))) < 0)
		return cli_fail(r, "fingerprint");
	/* Absolute, so the [node] lines hold wherever mfsd.conf is. */
	if (!realpath(dir, abs))
		snprintf(abs, sizeof(abs), "%s", dir);
	cert_date(X509_get0_notAfter(idn->cert), until, sizeof(until));
	printf("# node id:      %s\n", idn->id);
	printf("# directory:    %s\n", abs);
	printf("# certificate:  %s, self-signed, CN=%s, valid until %s\n", IDENTITY_KEY_TYPE, idn->id, until);
	printf("# mceliece:    ");
	for (size_t i = 0; i < IDENTITY_CMCE_N; i++) {
		if (idn->cmce[i].id) {
			printf("%s %s", any ? "," : "", identity_cmce_name(idn->cmce[i].id));
			any = true;
		}
	}
	printf("%s%s\n", any ? "" : " none", idn->cmce_legacy ? " (legacy file names)" : "");

	printf("\n# ---- For each peer of %s: its mfsd.conf (docs/config.md) ----\n", idn->id);
	if (any) {
		width = 0;
		for (size_t i = 0; i < IDENTITY_CMCE_N; i++) {
			if (idn->cmce[i].id && (int)strlen(idn->cmce[i].pk_file) > width)
				width = (int)strlen(idn->cmce[i].pk_file);
		}
		printf("# 1. Copy these public files to the peer, next to its mfsd.conf (relative\n"
		       "#    paths are relative to the directory of the configuration file):\n");
		for (size_t i = 0; i < IDENTITY_CMCE_N; i++) {
			const struct identity_cmce *c = &idn->cmce[i];

			if (c->id)
				printf("#      %s/%-*s  ->  %s/%s.%s.pk\n", abs, width, c->pk_file, PEER_PIN_DIR,
				       idn->id, identity_cmce_name(c->id));
		}
		printf("# 2. Check the values below over a channel you trust (a file that came over\n"
		       "#    the network proves nothing by its own hash), then paste this section\n"
		       "#    and complete it: address, and [class %s CLASS] sections after it.\n", section);
	} else {
		printf("# Check the value below over a channel you trust, then paste this section\n"
		       "# and complete it: address, and [class %s CLASS] sections after it.\n"
		       "# (No McEliece key: the classes of this peer cannot use mceliece460896\n"
		       "# or mceliece6688128.)\n", section);
	}
	if (named)
		printf("[peer %s]\n", idn->id);
	else
		printf("# The node ID '%s' is no section name ([a-z0-9_-]{1,32}): pick one.\n"
		       "[peer NAME]\n", idn->id);
	printf("# address = HOST:7400\n");
	conf_line("pin_cert_sha256", fpr);
	for (size_t i = 0; i < IDENTITY_CMCE_N; i++) {
		const struct identity_cmce *c = &idn->cmce[i];
		const char *name = identity_cmce_name(c->id);

		if (!c->id)
			continue;
		if ((r = hex_encode(pkid, sizeof(pkid), c->pk_id, sizeof(c->pk_id))) < 0)
			return cli_fail(r, "McEliece key hash");
		snprintf(key, sizeof(key), "pin_%s", name);
		snprintf(pin, sizeof(pin), "%s/%s.%s.pk", PEER_PIN_DIR, idn->id, name);
		conf_line(key, pin);
		snprintf(key, sizeof(key), "pin_%s_sha3", name);
		conf_line(key, pkid);
	}

	printf("\n# ---- For this node: the [node] section of its own mfsd.conf ----\n"
	       "# (its other keys, listen, state_dir, psk_dir..., have defaults)\n");
	if (idn->cmce_legacy)
		printf("# (%s/%s are legacy names; renaming them to mceliece<set>.sk/.pk is\n"
		       "# enough to migrate, see docs/identity.md)\n", IDENTITY_FILE_CMCE_SK,
		       IDENTITY_FILE_CMCE_PK);
	printf("[node]\n");
	conf_line("id", idn->id);
	snprintf(path, sizeof(path), "%s/%s", abs, IDENTITY_FILE_KEY);
	conf_line("identity_key", path);
	snprintf(path, sizeof(path), "%s/%s", abs, IDENTITY_FILE_CERT);
	conf_line("identity_cert", path);
	for (size_t i = 0; i < IDENTITY_CMCE_N; i++) {
		const struct identity_cmce *c = &idn->cmce[i];
		const char *name = identity_cmce_name(c->id);

		if (!c->id)
			continue;
		snprintf(key, sizeof(key), "%s_key", name);
		snprintf(path, sizeof(path), "%s/%s", abs, c->sk_file);
		conf_line(key, path);
		snprintf(key, sizeof(key), "%s_pub", name);
		snprintf(path, sizeof(path), "%s/%s", abs, c->pk_file);
		conf_line(key, path);
	}
	return fflush(stdout) == 0 ? CLI_OK : cli_fail(-errno, "stdout");
}

/* ---- genid ---- */

static void help_genid(void)
{
	printf("Usage: mfsctl genid --id NAME --dir DIR [--mceliece SETS] [--force]\n\n"
	       "Create the identity of this node in DIR: an ML-DSA-65 key (node.key, 0600)\n"
	       "with a self-signed certificate (node.crt), a static Classic McEliece key pair\n"
	       "per parameter set (mceliece460896.sk 0600, mceliece460896.pk, and the same\n"
	       "for 6688128), and the node ID (node.id). Prints the [peer] lines each peer\n"
	       "pastes into its mfsd.conf and the [node] lines of this node's own.\n\n"
	       "  --id NAME          node ID: [a-z0-9][a-z0-9.-]{0,62}, e.g. mfs-tokyo-1\n"
	       "  --dir DIR          identity directory; created 0700 when missing\n"
	       "  --mceliece SETS    McEliece parameter sets, comma-separated: 460896,6688128\n"
	       "                     (the default, both), one of them, or 'none' for a node\n"
	       "                     whose policy uses no static-key method\n"
	       "  --force            replace an existing identity (its peers must re-pin)\n");
}

/* "460896,6688128" (any order, each at most once) or "none" into ids[], in slot order. */
static int parse_cmce(const char *s, uint16_t ids[static IDENTITY_CMCE_N], size_t *n)
{
	bool want[IDENTITY_CMCE_N] = { false };
	const char *p = s;

	*n = 0;
	if (!strcmp(s, "none"))
		return 0;
	for (;;) {
		size_t len = strcspn(p, ",");
		uint16_t id;
		int slot;

		if (len == 6 && !strncmp(p, "460896", len))
			id = KEX_ID_MCELIECE460896;
		else if (len == 14 && !strncmp(p, "mceliece460896", len))
			id = KEX_ID_MCELIECE460896;
		else if (len == 7 && !strncmp(p, "6688128", len))
			id = KEX_ID_MCELIECE6688128;
		else if (len == 15 && !strncmp(p, "mceliece6688128", len))
			id = KEX_ID_MCELIECE6688128;
		else
			return -EINVAL;
		slot = identity_cmce_slot(id);
		if (want[slot])
			return -EINVAL;
		want[slot] = true;
		if (!p[len])
			break;
		p += len + 1;
	}
	if (want[IDENTITY_CMCE460896])
		ids[(*n)++] = KEX_ID_MCELIECE460896;
	if (want[IDENTITY_CMCE6688128])
		ids[(*n)++] = KEX_ID_MCELIECE6688128;
	return 0;
}

static int cmd_genid(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "id", required_argument, NULL, 'i' },
		{ "dir", required_argument, NULL, 'd' },
		{ "mceliece", required_argument, NULL, 'm' },
		{ "force", no_argument, NULL, 'f' },
		{ 0 },
	};
	const char *id = NULL, *dir = NULL;
	uint16_t cmce[IDENTITY_CMCE_N] = { KEX_ID_MCELIECE460896, KEX_ID_MCELIECE6688128 };
	size_t n_cmce = 2;
	struct identity *idn = NULL;
	bool force = false;
	int c, r;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i': id = optarg; break;
		case 'd': dir = optarg; break;
		case 'f': force = true; break;
		case 'm':
			if (parse_cmce(optarg, cmce, &n_cmce) < 0)
				return cli_usage("genid", "--mceliece: '%s' is not 460896, 6688128, both "
						 "comma-separated, or none", optarg);
			break;
		default:
			return cli_usage("genid", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("genid", "unexpected argument '%s'", argv[optind]);
	if (!id || !dir)
		return cli_usage("genid", "--id and --dir are required");
	if (!identity_id_valid(id))
		return cli_usage("genid", "invalid node ID '%s': use [a-z0-9][a-z0-9.-]{0,62}", id);
	for (size_t i = 0; i < n_cmce; i++) {
		if (!kex_method_by_id(cmce[i]))
			return cli_fail(0, "%s is not built into this mfsctl (use --mceliece none)",
					identity_cmce_name(cmce[i]));
	}

	r = identity_generate_sets(id, cmce, n_cmce, &idn);
	if (r < 0) {
		r = cli_fail(r, "cannot generate the identity%s",
			     r == -EOPNOTSUPP ? " (does the crypto library have ML-DSA-65?)" : "");
		goto out;
	}
	r = identity_save(idn, dir, force ? IDENTITY_FORCE : 0);
	if (r == -EEXIST) {
		r = cli_fail(0, "%s already holds an identity; not overwriting it (use --force; "
				"its peers must then re-pin)", dir);
		goto out;
	}
	if (r < 0) {
		r = cli_fail(r, "cannot write the identity to %s", dir);
		goto out;
	}
	r = print_pins(idn, dir);
out:
	identity_free(idn);
	return r;
}

/* ---- pins ---- */

static void help_pins(void)
{
	printf("Usage: mfsctl pins --dir DIR\n\n"
	       "Check the identity in DIR (file modes, key/certificate match, McEliece pairs)\n"
	       "and print its pins and configuration lines again, as genid did.\n");
}

static int cmd_pins(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ 0 },
	};
	struct identity *idn = NULL;
	const char *dir = NULL, *what = NULL;
	int c, r;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'd')
			return cli_usage("pins", "unknown or incomplete option '%s'", argv[optind - 1]);
		dir = optarg;
	}
	if (optind < argc)
		return cli_usage("pins", "unexpected argument '%s'", argv[optind]);
	if (!dir)
		return cli_usage("pins", "--dir is required");
	if ((r = identity_load(dir, &idn, &what)) < 0)
		return cli_fail(r, "identity in %s: %s", dir, what ? what : "load");
	r = print_pins(idn, dir);
	identity_free(idn);
	return r;
}

/* genid/pins work offline; the others talk to mfsd's admin socket (mfsctl_admin.c). */
static const struct cli_cmd commands[] = {
	{ "genid", "create this node's identity (ML-DSA-65 certificate, McEliece keys)", cmd_genid, help_genid },
	{ "pins", "check an identity and print the lines of its peers' and its own mfsd.conf", cmd_pins, help_pins },
	{ "status", "peers, classes, suites, pools, rekey times, degraded reasons", mfsctl_cmd_status, mfsctl_help_status },
	{ "peers", "the peers and their links", mfsctl_cmd_peers, mfsctl_help_peers },
	{ "keys", "metadata of the stored keys (never key bytes)", mfsctl_cmd_keys, mfsctl_help_keys },
	{ "rekey", "run a fresh exchange now: rekey PEER [CLASS]", mfsctl_cmd_rekey, mfsctl_help_rekey },
	{ "method", "method list | revoke NAME --reason TEXT | restore NAME | usage NAME", mfsctl_cmd_method, mfsctl_help_method },
	{ "audit", "the audit log of the key store", mfsctl_cmd_audit, mfsctl_help_audit },
	{ "key", "key get | get-by-id | subscribe: keys from the push socket (libmfs-client)", mfsctl_cmd_key, mfsctl_help_key },
	{ "rotate-static", "rotate this node's static McEliece key now: rotate-static [METHOD]", mfsctl_cmd_rotate_static, mfsctl_help_rotate_static },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: mfsctl [--socket PATH] [--json] <command> [options]\n\n"
		   "Administration of an mfsec node.\n"
		   "Secret keys stay in files (mode 0600); nothing secret is printed.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n  --socket PATH  mfsd's admin socket (default %s)\n"
		   "  --json         print the daemon's JSON response\n"
		   "\nRun 'mfsctl <command> --help' for a command's options.\n"
		   "See docs/identity.md and docs/admin-api.md.\n", MFSCTL_DEFAULT_SOCKET);
}

int main(int argc, char **argv)
{
	cli_set_prog("mfsctl");
	mfs_log_set_ident("mfsctl");
	(void)mfs_harden_process();
	/* global options of the admin commands, before the command */
	while (argc >= 2 && (!strcmp(argv[1], "--socket") || !strncmp(argv[1], "--socket=", 9) ||
			     !strcmp(argv[1], "--json"))) {
		if (!strcmp(argv[1], "--json")) {
			mfsctl_admin_set_json(true);
		} else if (argv[1][8] == '=') {
			mfsctl_admin_set_socket(argv[1] + 9);
		} else if (argc >= 3) {
			mfsctl_admin_set_socket(argv[2]);
			argc--;
			argv++;
		} else {
			usage(stderr);
			return CLI_USAGE;
		}
		argc--;
		argv++;
	}
	return cli_dispatch(commands, sizeof(commands) / sizeof(commands[0]), argc, argv, usage);
}
