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
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "base/err.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/secret.h"
#include "cli/mfsctl_admin.h"
#include "kex/kex.h"
#include "proto/identity.h"

enum {
	CTL_OK = 0,
	CTL_FAIL = 1,
	CTL_USAGE = 2,
};

struct ctl_cmd {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
	void (*help)(void);
};

__attribute__((format(printf, 2, 3)))
static int ctl_fail(int err, const char *fmt, ...)
{
	va_list ap;

	fputs("mfsctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err < 0)
		fprintf(stderr, ": %s", mfs_strerror(err));
	fputc('\n', stderr);
	return CTL_FAIL;
}

__attribute__((format(printf, 2, 3)))
static int ctl_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mfsctl %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'mfsctl %s --help'.\n", cmd);
	return CTL_USAGE;
}

/* "2036-05-01" from a certificate time, or "?" */
static void cert_date(const ASN1_TIME *t, char *out, size_t size)
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1 || strftime(out, size, "%Y-%m-%d", &tm) == 0)
		snprintf(out, size, "?");
}

/* The node's public description and the lines a peer pastes into its configuration. */
static int print_pins(const struct identity *idn, const char *dir)
{
	char fpr[IDENTITY_HEX_LEN], pkid[IDENTITY_HEX_LEN], until[32];
	int r;

	if ((r = hex_encode(fpr, sizeof(fpr), idn->cert_fpr, sizeof(idn->cert_fpr))) < 0)
		return ctl_fail(r, "fingerprint");
	cert_date(X509_get0_notAfter(idn->cert), until, sizeof(until));
	printf("node id:      %s\n", idn->id);
	printf("directory:    %s\n", dir);
	printf("certificate:  %s, self-signed, CN=%s, valid until %s\n", IDENTITY_KEY_TYPE, idn->id, until);
	printf("mceliece:     %s\n", identity_cmce_name(idn->cmce_id));
	printf("\n# Pins of node %s: paste into the peer's configuration, in its entry for %s.\n",
	       idn->id, idn->id);
	printf("# tls_fingerprint: SHA-256 of %s (DER); mceliece_sha3: SHA3-256 of %s.\n",
	       IDENTITY_FILE_CERT, IDENTITY_FILE_CMCE_PK);
	printf("tls_fingerprint = %s\n", fpr);
	if (idn->cmce_id) {
		if ((r = hex_encode(pkid, sizeof(pkid), idn->cmce_pk_id, sizeof(idn->cmce_pk_id))) < 0)
			return ctl_fail(r, "McEliece key hash");
		printf("mceliece_sha3 = %s\n", pkid);
	} else {
		printf("# (no static McEliece key: no mceliece_sha3 to pin)\n");
	}
	return fflush(stdout) == 0 ? CTL_OK : ctl_fail(-errno, "stdout");
}

/* ---- genid ---- */

static void help_genid(void)
{
	printf("Usage: mfsctl genid --id NAME --dir DIR [--mceliece 460896|6688128|none] [--force]\n\n"
	       "Create the identity of this node in DIR: an ML-DSA-65 key (node.key, 0600)\n"
	       "with a self-signed certificate (node.crt), a static Classic McEliece key pair\n"
	       "(mceliece.sk 0600, mceliece.pk), and the node ID (node.id). Prints the pins\n"
	       "the peers must configure.\n\n"
	       "  --id NAME          node ID: [a-z0-9][a-z0-9.-]{0,62}, e.g. mfs-tokyo-1\n"
	       "  --dir DIR          identity directory; created 0700 when missing\n"
	       "  --mceliece SET     McEliece parameter set (default 460896); 'none' for a node\n"
	       "                     whose policy uses no static-key method\n"
	       "  --force            replace an existing identity (its peers must re-pin)\n");
}

static int parse_cmce(const char *s, uint16_t *ret)
{
	if (!strcmp(s, "460896") || !strcmp(s, "mceliece460896"))
		*ret = KEX_ID_MCELIECE460896;
	else if (!strcmp(s, "6688128") || !strcmp(s, "mceliece6688128"))
		*ret = KEX_ID_MCELIECE6688128;
	else if (!strcmp(s, "none"))
		*ret = 0;
	else
		return -EINVAL;
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
	uint16_t cmce = KEX_ID_MCELIECE460896;
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
			if (parse_cmce(optarg, &cmce) < 0)
				return ctl_usage("genid", "--mceliece: '%s' is not 460896, 6688128 or none", optarg);
			break;
		default:
			return ctl_usage("genid", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ctl_usage("genid", "unexpected argument '%s'", argv[optind]);
	if (!id || !dir)
		return ctl_usage("genid", "--id and --dir are required");
	if (!identity_id_valid(id))
		return ctl_usage("genid", "invalid node ID '%s': use [a-z0-9][a-z0-9.-]{0,62}", id);
	if (cmce && !kex_method_by_id(cmce))
		return ctl_fail(0, "%s is not built into this mfsctl (use --mceliece none)",
				identity_cmce_name(cmce));

	r = identity_generate(id, cmce, &idn);
	if (r < 0) {
		r = ctl_fail(r, "cannot generate the identity%s",
			     r == -EOPNOTSUPP ? " (does the crypto library have ML-DSA-65?)" : "");
		goto out;
	}
	r = identity_save(idn, dir, force ? IDENTITY_FORCE : 0);
	if (r == -EEXIST) {
		r = ctl_fail(0, "%s already holds an identity; not overwriting it (use --force; "
				"its peers must then re-pin)", dir);
		goto out;
	}
	if (r < 0) {
		r = ctl_fail(r, "cannot write the identity to %s", dir);
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
	       "Check the identity in DIR (file modes, key/certificate match, McEliece pair)\n"
	       "and print its pins again, as genid did.\n");
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
			return ctl_usage("pins", "unknown or incomplete option '%s'", argv[optind - 1]);
		dir = optarg;
	}
	if (optind < argc)
		return ctl_usage("pins", "unexpected argument '%s'", argv[optind]);
	if (!dir)
		return ctl_usage("pins", "--dir is required");
	if ((r = identity_load(dir, &idn, &what)) < 0)
		return ctl_fail(r, "identity in %s: %s", dir, what ? what : "load");
	r = print_pins(idn, dir);
	identity_free(idn);
	return r;
}

/* genid/pins work offline; the others talk to mfsd's admin socket (mfsctl_admin.c). */
static const struct ctl_cmd commands[] = {
	{ "genid", "create this node's identity (ML-DSA-65 certificate, McEliece key)", cmd_genid, help_genid },
	{ "pins", "check an identity and print the pins its peers configure", cmd_pins, help_pins },
	{ "status", "peers, classes, suites, pools, rekey times, degraded reasons", mfsctl_cmd_status, mfsctl_help_status },
	{ "peers", "the peers and their links", mfsctl_cmd_peers, mfsctl_help_peers },
	{ "keys", "metadata of the stored keys (never key bytes)", mfsctl_cmd_keys, mfsctl_help_keys },
	{ "rekey", "run a fresh exchange now: rekey PEER [CLASS]", mfsctl_cmd_rekey, mfsctl_help_rekey },
	{ "method", "method list | revoke NAME --reason TEXT | restore NAME | usage NAME", mfsctl_cmd_method, mfsctl_help_method },
	{ "audit", "the audit log of the key store", mfsctl_cmd_audit, mfsctl_help_audit },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: mfsctl [--socket PATH] [--json] <command> [options]\n\n"
		   "Administration of an mfsec node.\n"
		   "Secret keys stay in files (mode 0600); nothing secret is printed.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-7s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n  --socket PATH  mfsd's admin socket (default %s)\n"
		   "  --json         print the daemon's JSON response\n"
		   "\nRun 'mfsctl <command> --help' for a command's options.\n"
		   "See docs/identity.md and docs/admin-api.md.\n", MFSCTL_DEFAULT_SOCKET);
}

int main(int argc, char **argv)
{
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
			return CTL_USAGE;
		}
		argc--;
		argv++;
	}
	if (argc < 2) {
		usage(stderr);
		return CTL_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return CTL_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("mfsctl %s\n", MFS_VERSION);
		return CTL_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		for (int a = 2; a < argc; a++) {
			if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
				commands[i].help();
				return CTL_OK;
			}
		}
		return commands[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "mfsctl: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return CTL_USAGE;
}
