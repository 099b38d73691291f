/* SPDX-License-Identifier: Apache-2.0 */
/* mfs-kex list | keygen | encap | decap */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "cli/cli.h"
#include "crypto/rng.h"

void help_list(void)
{
	printf("Usage: mfs-kex list\n\n"
	       "Lists every key-exchange method built into mfsec: wire codepoint, family\n"
	       "(lattice, code, qkd, psk, classical), NIST PQC security category (0 = not\n"
	       "post-quantum), whether it counts as a post-quantum factor, whether this\n"
	       "OpenSSL provides it, and sizes in bytes: public key (pk), secret key (sk),\n"
	       "ciphertext (ct), shared secret (ss), and the largest messages 1 and 2.\n");
}

int cmd_list(int argc, char **argv)
{
	const struct kex_method *const *all;
	size_t n = kex_methods(&all);

	(void)argv;
	if (argc > 1)
		return cli_usage("list", "takes no arguments");
	printf("%-16s %-6s %-9s %-3s %-3s %-5s %8s %6s %5s %3s %8s %8s\n", "METHOD", "ID", "FAMILY",
	       "CAT", "PQ", "AVAIL", "PK", "SK", "CT", "SS", "MSG1", "MSG2");
	for (size_t i = 0; i < n; i++) {
		const struct kex_method *m = all[i];
		char pk[16] = "-", sk[16] = "-", ct[16] = "-";

		if (m->kem) {
			snprintf(pk, sizeof(pk), "%zu", m->kem->pk_len);
			snprintf(sk, sizeof(sk), "%zu", m->kem->sk_len);
			snprintf(ct, sizeof(ct), "%zu", m->kem->ct_len);
		}
		printf("%-16s 0x%04x %-9s %-3u %-3s %-5s %8s %6s %5s %3zu %8zu %8zu\n", m->name, m->id,
		       kex_family_name(m->family), m->nist_category, m->post_quantum ? "yes" : "no",
		       m->available() ? "yes" : "no", pk, sk, ct, m->secret_len, m->msg1_max, m->msg2_max);
	}
	return CLI_OK;
}

void help_keygen(void)
{
	printf("Usage: mfs-kex keygen --method NAME --secret-key FILE [--public-key FILE]\n"
	       "                      [--format raw|pem] [--force]\n\n"
	       "Generates a fresh key pair of a KEM method, or for --method psk a fresh\n"
	       "256-bit pre-shared key. The secret key file is written atomically with\n"
	       "mode 0600; an existing file is never overwritten without --force.\n\n"
	       "  --method NAME        a method from 'mfs-kex list'\n"
	       "  --secret-key FILE    where to write the secret key (or the PSK)\n"
	       "  --public-key FILE    where to write the public key (KEM methods: required)\n"
	       "  --format raw|pem     raw bytes (default) or PEM (PKCS#8 / SubjectPublicKeyInfo,\n"
	       "                       readable by openssl; ML-KEM and X25519 only)\n"
	       "  --force              replace existing files\n\n"
	       "Raw formats: ML-KEM public key = FIPS 203 encapsulation key; secret key =\n"
	       "the 64-byte seed d||z. Classic McEliece: the libmceliece/NIST encodings.\n"
	       "X25519: 32-byte RFC 7748 keys. PSK: 32 random bytes.\n");
}

struct kem_opts {
	const char *method, *secret_key, *public_key, *ciphertext, *shared_secret, *format;
	bool force;
};

static int parse_opts(const char *cmd, int argc, char **argv, struct kem_opts *o)
{
	static const struct option longopts[] = {
		{ "method", required_argument, NULL, 'm' },
		{ "secret-key", required_argument, NULL, 's' },
		{ "public-key", required_argument, NULL, 'p' },
		{ "ciphertext", required_argument, NULL, 'c' },
		{ "shared-secret", required_argument, NULL, 'k' },
		{ "format", required_argument, NULL, 'f' },
		{ "force", no_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': o->method = optarg; break;
		case 's': o->secret_key = optarg; break;
		case 'p': o->public_key = optarg; break;
		case 'c': o->ciphertext = optarg; break;
		case 'k': o->shared_secret = optarg; break;
		case 'f': o->format = optarg; break;
		case 'F': o->force = true; break;
		default:
			return cli_usage(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage(cmd, "unexpected argument '%s' (keys are read from files)", argv[optind]);
	return CLI_OK;
}

static int require(const char *cmd, const char *val, const char *opt)
{
	return val ? CLI_OK : cli_usage(cmd, "%s is required", opt);
}

/* A KEM method, or an error saying this method has no such operation. */
static const struct kex_method *kem_method(const char *cmd, const char *name)
{
	const struct kex_method *m = cli_method(name);

	if (m && !m->kem) {
		fprintf(stderr, "mfs-kex %s: %s is not a KEM%s\n", cmd, m->name,
			m->family == KEX_FAMILY_PSK ? "; create a PSK with 'mfs-kex keygen --method psk'" : "");
		return NULL;
	}
	return m;
}

static int keygen_psk(const struct kem_opts *o)
{
	struct secret *psk;
	int r;

	if (o->public_key)
		return cli_usage("keygen", "a PSK has no public key; drop --public-key");
	if (o->format && strcmp(o->format, "raw"))
		return cli_usage("keygen", "a PSK file is raw bytes; drop --format");
	if (!(psk = secret_alloc(KEX_PSK_MIN_LEN)))
		return cli_fail(-ENOMEM, "psk");
	r = crypto_random(psk->p, psk->len);
	if (r < 0)
		r = cli_fail(r, "random number generator");
	else
		r = cli_write_file("PSK", o->secret_key, psk->p, psk->len, true, o->force);
	secret_free(psk);
	return r;
}

int cmd_keygen(int argc, char **argv)
{
	const struct kex_method *m;
	enum key_format fmt = KEY_RAW;
	struct secret *sk = NULL;
	uint8_t *pk = NULL;
	struct kem_opts o;
	int r;

	if ((r = parse_opts("keygen", argc, argv, &o)) || (r = require("keygen", o.method, "--method")) ||
	    (r = require("keygen", o.secret_key, "--secret-key")))
		return r;
	if (o.format && cli_key_format(o.format, &fmt) < 0)
		return cli_usage("keygen", "--format must be raw or pem, not '%s'", o.format);
	if (!(m = cli_method(o.method)))
		return CLI_FAIL;
	if (m->family == KEX_FAMILY_PSK)
		return keygen_psk(&o);
	if (!m->kem)
		return cli_fail(0, "%s has no key pairs", m->name);
	if ((r = require("keygen", o.public_key, "--public-key")))
		return r;
	if (fmt == KEY_PEM && !m->openssl_alg)
		return cli_usage("keygen", "%s keys have no PEM form; use --format raw", m->name);
	if (!(pk = malloc(m->kem->pk_len)) || !(sk = secret_alloc(m->kem->sk_len))) {
		r = cli_fail(-ENOMEM, "key pair");
		goto out;
	}
	if ((r = m->kem->keypair(pk, sk->p)) < 0) {
		r = cli_fail(r, "%s key generation failed", m->name);
		goto out;
	}
	/* Secret key first: a public key without its secret half is useless. */
	if ((r = cli_write_secret_key(m, o.secret_key, sk, fmt, o.force)) ||
	    (r = cli_write_public_key(m, o.public_key, pk, fmt, o.force)))
		goto out;
	r = CLI_OK;
out:
	secret_free(sk);
	free(pk);
	return r;
}

void help_encap(void)
{
	printf("Usage: mfs-kex encap --method NAME --public-key FILE --ciphertext FILE\n"
	       "                     --shared-secret FILE [--force]\n\n"
	       "Encapsulates a fresh shared secret to the public key (raw or PEM, detected).\n"
	       "Writes the raw ciphertext and the raw shared secret (mode 0600). Compatible\n"
	       "with 'openssl pkeyutl -encap' / '-decap' for ML-KEM.\n");
}

int cmd_encap(int argc, char **argv)
{
	const struct kex_method *m;
	struct secret *ss = NULL;
	uint8_t *pk = NULL, *ct = NULL;
	struct kem_opts o;
	int r;

	if ((r = parse_opts("encap", argc, argv, &o)) || (r = require("encap", o.method, "--method")) ||
	    (r = require("encap", o.public_key, "--public-key")) ||
	    (r = require("encap", o.ciphertext, "--ciphertext")) ||
	    (r = require("encap", o.shared_secret, "--shared-secret")))
		return r;
	if (o.format || o.secret_key)
		return cli_usage("encap", "takes no --format or --secret-key");
	if (!(m = kem_method("encap", o.method)))
		return CLI_FAIL;
	if ((r = cli_read_public_key(m, o.public_key, &pk)))
		return r;
	if (!(ct = malloc(m->kem->ct_len)) || !(ss = secret_alloc(m->kem->ss_len))) {
		r = cli_fail(-ENOMEM, "encap");
		goto out;
	}
	if ((r = m->kem->encap(ct, ss->p, pk, m->kem->pk_len)) < 0) {
		r = cli_fail(r, "%s: encapsulation to %s failed", m->name, o.public_key);
		goto out;
	}
	if ((r = cli_write_file("shared secret", o.shared_secret, ss->p, ss->len, true, o.force)) ||
	    (r = cli_write_file("ciphertext", o.ciphertext, ct, m->kem->ct_len, false, o.force)))
		goto out;
	r = CLI_OK;
out:
	secret_free(ss);
	free(ct);
	free(pk);
	return r;
}

void help_decap(void)
{
	printf("Usage: mfs-kex decap --method NAME --secret-key FILE --ciphertext FILE\n"
	       "                     --shared-secret FILE [--force]\n\n"
	       "Decapsulates a raw ciphertext with the secret key (raw or PEM, detected;\n"
	       "the file must be mode 0600 or stricter) and writes the raw shared secret\n"
	       "(mode 0600). A tampered ciphertext does not fail: ML-KEM and Classic McEliece\n"
	       "use implicit rejection and yield an unrelated secret, which the key\n"
	       "confirmation of the protocol then rejects.\n");
}

int cmd_decap(int argc, char **argv)
{
	const struct kex_method *m;
	struct secret *sk = NULL, *ss = NULL;
	uint8_t *ct = NULL;
	size_t ct_len;
	struct kem_opts o;
	int r;

	if ((r = parse_opts("decap", argc, argv, &o)) || (r = require("decap", o.method, "--method")) ||
	    (r = require("decap", o.secret_key, "--secret-key")) ||
	    (r = require("decap", o.ciphertext, "--ciphertext")) ||
	    (r = require("decap", o.shared_secret, "--shared-secret")))
		return r;
	if (o.format || o.public_key)
		return cli_usage("decap", "takes no --format or --public-key");
	if (!(m = kem_method("decap", o.method)))
		return CLI_FAIL;
	if ((r = cli_read_secret_key(m, o.secret_key, &sk)))
		return r;
	if ((r = file_read(o.ciphertext, m->kem->ct_len, 0, &ct, &ct_len)) < 0 || ct_len != m->kem->ct_len) {
		if (r == -EMSGSIZE)
			r = cli_fail(-EBADMSG, "%s: a %s ciphertext is %zu bytes, the file is larger",
				     o.ciphertext, m->name, m->kem->ct_len);
		else if (r < 0)
			r = cli_fail(r, "cannot read ciphertext %s", o.ciphertext);
		else
			r = cli_fail(-EBADMSG, "%s: a %s ciphertext is %zu bytes, the file has %zu",
				     o.ciphertext, m->name, m->kem->ct_len, ct_len);
		goto out;
	}
	if (!(ss = secret_alloc(m->kem->ss_len))) {
		r = cli_fail(-ENOMEM, "decap");
		goto out;
	}
	if ((r = m->kem->decap(ss->p, ct, ct_len, sk->p, sk->len)) < 0) {
		r = cli_fail(r, "%s: decapsulation failed", m->name);
		goto out;
	}
	r = cli_write_file("shared secret", o.shared_secret, ss->p, ss->len, true, o.force);
out:
	secret_free(ss);
	secret_free(sk);
	free(ct);
	return r;
}
