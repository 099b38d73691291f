/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfsd configuration (src/daemon/config.h, docs/config.md): a full round
 * trip, the defaults, the pinned-key hash check against generated files,
 * the example files, and a catalogue of bad configurations, each with the
 * line and reason it must be reported at.
 *
 * Files live in a mkdtemp() directory that the group teardown removes.
 * The examples are found through MFS_SOURCE_ROOT (set by meson).
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/file.h"
#include "base/hex.h"
#include "crypto/hash.h"
#include "daemon/config.h"

static char dir[] = "/tmp/mfs-test-config-XXXXXX";

static const struct config_options skip = {.flags = CONFIG_SKIP_FILE_CHECKS};

/* ---- helpers ------------------------------------------------------------------------------ */

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	(void)type;
	(void)f;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* dir/rel with len pattern bytes (directories created as needed); hex SHA3-256 to sha3_hex. */
static void make_pin(const char *rel, size_t len, uint8_t seed, char sha3_hex[65])
{
	char path[PATH_MAX];
	uint8_t *data = malloc(len ? len : 1), digest[32];
	char *slash;

	assert_non_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(seed + 7 * i);
	assert_true(snprintf(path, sizeof(path), "%s/%s", dir, rel) < (int)sizeof(path));
	for (slash = strchr(path + strlen(dir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
		*slash = '/';
	}
	assert_int_equal(file_write_atomic(path, data, len, FILE_OVERWRITE), 0);
	assert_int_equal(hash(HASH_SHA3_256, data, len, digest), 0);
	assert_int_equal(hex_encode(sha3_hex, 65, digest, 32), 0);
	free(data);
}

static void write_file(const char *rel, const char *text)
{
	char path[PATH_MAX];

	assert_true(snprintf(path, sizeof(path), "%s/%s", dir, rel) < (int)sizeof(path));
	assert_int_equal(file_write_atomic(path, text, strlen(text), FILE_OVERWRITE), 0);
}

static struct config *parse_ok(const char *text, const struct config_options *opts)
{
	struct config *cfg = NULL;
	struct config_error err;
	int r = config_parse_string(text, strlen(text), "test.conf", opts, &cfg, &err);

	if (r != 0)
		fail_msg("unexpected error: %s", err.text);
	assert_non_null(cfg);
	return cfg;
}

/* Parse must fail at line with a reason containing want; nothing returned. */
static void parse_bad_len(const char *text, size_t len, const struct config_options *opts,
			  unsigned line, const char *want)
{
	struct config *sentinel = (struct config *)(uintptr_t)0x1, *cfg = sentinel;
	struct config_error err;
	char prefix[64];
	int r = config_parse_string(text, len, "bad.conf", opts, &cfg, &err);

	if (r == 0)
		fail_msg("accepted; expected line %u: %s", line, want);
	assert_int_equal(r, -EBADMSG);
	assert_ptr_equal(cfg, sentinel);
	if (err.line != line || !strstr(err.reason, want))
		fail_msg("got '%s', expected line %u: ...%s...", err.text, line, want);
	snprintf(prefix, sizeof(prefix), "bad.conf:%u: ", line);
	assert_true(strncmp(err.text, prefix, strlen(prefix)) == 0);
	assert_string_equal(err.file, "bad.conf");
}

static void parse_bad(const char *text, unsigned line, const char *want)
{
	parse_bad_len(text, strlen(text), &skip, line, want);
}

/* ---- the configurations ------------------------------------------------------------------- */

#define H1 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define H2 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

/* The smallest valid configuration, ten lines; the catalogue builds on it. */
#define NODE                                                                              \
	"[node]\n"                   /* 1 */                                                   \
	"id = office\n"              /* 2 */                                                   \
	"identity_key = id.key\n"    /* 3 */                                                   \
	"identity_cert = id.crt\n"   /* 4 */
#define PEER                                                                              \
	"[peer gpu]\n"               /* 5 */                                                   \
	"address = 192.0.2.7:7400\n" /* 6 */                                                   \
	"pin_cert_sha256 = " H1 "\n" /* 7 */                                                   \
	"psk_id = shared\n"          /* 8 */
#define CLASS                                                                             \
	"[class gpu train]\n"        /* 9 */                                                   \
	"required = mlkem768, psk\n" /* 10 */
#define GOOD NODE PEER CLASS
#define SUPPLY_HDR "[supply]\n"         /* 11 */
#define SUPPLY_FILES "cert = c.crt\nkey = c.key\nca = ca.crt\n"	/* 12/13..15 */
#define SUPPLY SUPPLY_HDR "listen = 127.0.0.1:8443\n" SUPPLY_FILES	/* 11..15 */

/* [supply] and [sae]: values and defaults. */
static void test_supply(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok(GOOD SUPPLY "threads = 4\n[sae storage]\npeer = gpu\nclasses = train\n"
		       "role = master\n[sae gpu-node_1]\nlocation = remote\npeer = gpu\n"
		       "classes = train\nkey_size = 512\n", &skip);
	assert_true(cfg->supply.enabled);
	assert_string_equal(cfg->supply.listen.host, "127.0.0.1");
	assert_int_equal(cfg->supply.listen.port, 8443);
	assert_int_equal(cfg->supply.threads, 4);
	assert_int_equal(cfg->supply.max_key_per_request, 128);
	assert_int_equal(cfg->supply.reserve, 2048);
	assert_int_equal(cfg->supply.sae_id_from, 0);
	assert_int_equal(cfg->n_saes, 2);
	assert_string_equal(cfg->saes[0].id, "storage");
	assert_false(cfg->saes[0].remote);
	assert_int_equal(cfg->saes[0].roles, CONFIG_SAE_MASTER);
	assert_int_equal(cfg->saes[0].key_bits, 256);
	assert_string_equal(cfg->saes[1].id, "gpu-node_1");
	assert_true(cfg->saes[1].remote);
	assert_int_equal(cfg->saes[1].key_bits, 512);
	assert_string_equal(cfg->saes[1].classes[0], "train");
	config_free(cfg);
	cfg = parse_ok(GOOD SUPPLY "reserve = 0\n", &skip);
	assert_int_equal(cfg->supply.reserve, 0);
	config_free(cfg);
	cfg = parse_ok(GOOD, &skip);
	assert_false(cfg->supply.enabled);
	assert_int_equal(cfg->n_saes, 0);
	config_free(cfg);
}

/* The rotation settings of [node] (docs/config.md). */
static void test_static_key_settings(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok(NODE "static_key_rotate = 7d\nstatic_key_grace = 90s\n" PEER CLASS, NULL);
	assert_int_equal(cfg->node.static_rotate_s, 7U * 86400);
	assert_int_equal(cfg->node.static_grace_s, 90);
	config_free(cfg);
}

static void test_minimal_and_defaults(void **state)
{
	struct config *cfg;
	const struct config_class *cls;
	struct class_policy def;

	(void)state;
	cfg = parse_ok(GOOD, NULL);
	assert_string_equal(cfg->source, "test.conf");
	assert_string_equal(cfg->node.id, "office");
	/* No base directory: relative paths stay as written. */
	assert_string_equal(cfg->node.identity_key, "id.key");
	assert_string_equal(cfg->node.identity_cert, "id.crt");
	assert_string_equal(cfg->node.listen.host, "::");
	assert_int_equal(cfg->node.listen.port, 7400);
	assert_int_equal(cfg->node.listen.family, AF_INET6);
	assert_string_equal(cfg->node.state_dir, CONFIG_DEFAULT_STATE_DIR);
	assert_string_equal(cfg->node.admin_socket, CONFIG_DEFAULT_ADMIN_SOCKET);
	assert_string_equal(cfg->node.psk_dir, CONFIG_DEFAULT_PSK_DIR);
	assert_int_equal(cfg->node.log_level, MFS_LOG_INFO);
	assert_string_equal(cfg->node.push_socket, "");	/* no push socket unless configured */
	assert_int_equal(cfg->node.push_socket_mode, 0600);
	assert_int_equal(cfg->node.push_socket_group, CONFIG_NO_GROUP);
	assert_int_equal(cfg->node.static_rotate_s, 30U * 86400);
	assert_int_equal(cfg->node.static_grace_s, 600);
	for (size_t s = 0; s < CONFIG_MCELIECE_N; s++)
		assert_false(cfg->node.mceliece[s].set);

	assert_int_equal(cfg->n_peers, 1);
	assert_string_equal(cfg->peers[0].name, "gpu");
	assert_int_equal(cfg->peers[0].line, 5);
	assert_int_equal(cfg->peers[0].tls_group, CONFIG_TLS_X25519MLKEM768);
	assert_string_equal(cfg->peers[0].psk_id, "shared");
	assert_int_equal(cfg->peers[0].address.family, AF_INET);
	for (size_t s = 0; s < CONFIG_MCELIECE_N; s++)
		assert_false(cfg->peers[0].mceliece[s].set);
	assert_int_equal(cfg->peers[0].n_classes, 1);

	cls = config_class_by_name(config_peer_by_name(cfg, "gpu"), "train");
	assert_non_null(cls);
	assert_int_equal(cls->line, 9);
	assert_string_equal(cls->psk_id, "shared");	/* from the peer */
	/* Every policy field not written is policy_init()'s default. */
	policy_init(&def, "train");
	def.required[0] = KEX_ID_MLKEM768;
	def.required[1] = KEX_ID_PSK;
	def.n_required = 2;
	assert_memory_equal(&cls->policy, &def, sizeof(def));
	assert_int_equal(cls->n_push_allow, 0);
	assert_null(config_peer_by_name(cfg, "nope"));
	assert_null(config_class_by_name(&cfg->peers[0], "nope"));
	config_free(cfg);
	config_free(NULL);

	/* the push socket and a class's push_allow */
	cfg = parse_ok(NODE "push_socket = /run/mfsd/push.sock\npush_socket_mode = 0660\n"
		       "push_socket_group = 990\npush_socket_owner = 1001\n" PEER CLASS
		       "push_allow = uid:1001, gid:990 ,uid:0\n", NULL);
	assert_string_equal(cfg->node.push_socket, "/run/mfsd/push.sock");
	assert_int_equal(cfg->node.push_socket_mode, 0660);
	assert_int_equal(cfg->node.push_socket_group, 990);
	assert_int_equal(cfg->node.push_socket_owner, 1001);
	cls = &cfg->peers[0].classes[0];
	assert_int_equal(cls->n_push_allow, 3);
	assert_int_equal(cls->push_allow[0].kind, CONFIG_PRINCIPAL_UID);
	assert_int_equal(cls->push_allow[0].id, 1001);
	assert_int_equal(cls->push_allow[1].kind, CONFIG_PRINCIPAL_GID);
	assert_int_equal(cls->push_allow[1].id, 990);
	assert_int_equal(cls->push_allow[2].id, 0);
	config_free(cfg);
}

static void test_full_round_trip(void **state)
{
	char h460[65], h6688[65], text[4096];
	struct config *cfg;
	const struct config_peer *peer;
	const struct config_class *cls;
	uint8_t cert[32];
	struct config_options opts = {.base_dir = dir};

	(void)state;
	make_pin("peers/gpu.460.pub", 1000, 1, h460);
	make_pin("peers/gpu.6688.pub", 3000, 2, h6688);
	snprintf(text, sizeof(text),
		 "# full\n"
		 "[node]\n"
		 "id = office-1.example\n"
		 "listen = 198.51.100.1:7401\n"
		 "identity_key = /var/lib/mfsd/identity/mldsa65.key\n"
		 "identity_cert = identity/mldsa65.crt\n"
		 "mceliece460896_key = /k/460.key\n"
		 "mceliece460896_pub = /k/460.pub\n"
		 "mceliece6688128_key = /k/6688.key\n"
		 "mceliece6688128_pub = /k/6688.pub\n"
		 "state_dir = /srv/mfsd\n"
		 "admin_socket = /run/x/admin.sock\n"
		 "psk_dir = psk\n"
		 "log_level = debug\n"
		 "[peer gpu]\n"
		 "address = [2001:db8::7]:7402\n"
		 "pin_cert_sha256 = " H1 "\n"
		 "tls_group = MLKEM1024\n"
		 "psk_id = office-gpu\n"
		 "pin_mceliece460896 = peers/gpu.460.pub\n"
		 "pin_mceliece460896_sha3 = %s\n"
		 "pin_mceliece6688128 = %s/peers/gpu.6688.pub\n"
		 "pin_mceliece6688128_sha3 = %s\n"
		 "[class gpu training]\n"
		 "required = mlkem768, mceliece460896, psk\n"
		 "optional = x25519, mlkem1024\n"
		 "min_pq = 3\n"
		 "min_families = 3\n"
		 "combiner = caskdf\n"
		 "rekey_interval = 90s\n"
		 "rekey_volume = 512MiB\n"
		 "hard_lifetime = 2h\n"
		 "pool_low = 0\n"
		 "pool_high = 4096\n"
		 "[class gpu weights]\n"
		 "required = mlkem1024, mceliece6688128, psk\n"
		 "psk_id = weights.1\n"
		 "rekey_interval = 1d\n"
		 "hard_lifetime = 365d\n"
		 "rekey_volume = 1PiB\n"
		 "[peer backup]\n"
		 "address = backup.example.net:1\n"
		 "pin_cert_sha256 = " H2 "\n"
		 "tls_group = x25519mlkem768\n"
		 "[class backup nightly]\n"
		 "required = mlkem1024, x25519\n"
		 "min_pq = 1\n"
		 "combiner = catkdf\n"
		 "rekey_volume = 1TiB\n",
		 h460, dir, h6688);
	cfg = parse_ok(text, &opts);

	assert_string_equal(cfg->node.id, "office-1.example");
	assert_string_equal(cfg->node.listen.host, "198.51.100.1");
	assert_int_equal(cfg->node.listen.port, 7401);
	assert_int_equal(cfg->node.listen.family, AF_INET);
	assert_string_equal(cfg->node.identity_key, "/var/lib/mfsd/identity/mldsa65.key");
	{
		char want[PATH_MAX];

		snprintf(want, sizeof(want), "%s/identity/mldsa65.crt", dir);
		assert_string_equal(cfg->node.identity_cert, want);
		snprintf(want, sizeof(want), "%s/psk", dir);
		assert_string_equal(cfg->node.psk_dir, want);
		snprintf(want, sizeof(want), "%s/peers/gpu.460.pub", dir);
		assert_string_equal(cfg->peers[0].mceliece[CONFIG_MCELIECE460896].path, want);
		snprintf(want, sizeof(want), "%s/peers/gpu.6688.pub", dir);
		assert_string_equal(cfg->peers[0].mceliece[CONFIG_MCELIECE6688128].path, want);
	}
	assert_true(cfg->node.mceliece[CONFIG_MCELIECE460896].set);
	assert_string_equal(cfg->node.mceliece[CONFIG_MCELIECE460896].sk_path, "/k/460.key");
	assert_string_equal(cfg->node.mceliece[CONFIG_MCELIECE460896].pk_path, "/k/460.pub");
	assert_true(cfg->node.mceliece[CONFIG_MCELIECE6688128].set);
	assert_string_equal(cfg->node.mceliece[CONFIG_MCELIECE6688128].sk_path, "/k/6688.key");
	assert_string_equal(cfg->node.mceliece[CONFIG_MCELIECE6688128].pk_path, "/k/6688.pub");
	assert_string_equal(cfg->node.state_dir, "/srv/mfsd");
	assert_string_equal(cfg->node.admin_socket, "/run/x/admin.sock");
	assert_int_equal(cfg->node.log_level, MFS_LOG_DEBUG);

	assert_int_equal(cfg->n_peers, 2);
	peer = config_peer_by_name(cfg, "gpu");
	assert_ptr_equal(peer, &cfg->peers[0]);
	assert_string_equal(peer->address.host, "2001:db8::7");
	assert_int_equal(peer->address.port, 7402);
	assert_int_equal(peer->address.family, AF_INET6);
	assert_int_equal(hex_decode(cert, 32, H1, 64), 0);
	assert_memory_equal(peer->cert_sha256, cert, 32);
	assert_int_equal(peer->tls_group, CONFIG_TLS_MLKEM1024);
	assert_string_equal(config_tls_group_name(peer->tls_group), "MLKEM1024");
	assert_string_equal(peer->psk_id, "office-gpu");
	assert_true(peer->mceliece[CONFIG_MCELIECE460896].set);
	assert_int_equal(hex_decode(cert, 32, h460, 64), 0);
	assert_memory_equal(peer->mceliece[CONFIG_MCELIECE460896].sha3, cert, 32);
	assert_int_equal(hex_decode(cert, 32, h6688, 64), 0);
	assert_memory_equal(peer->mceliece[CONFIG_MCELIECE6688128].sha3, cert, 32);
	assert_int_equal(peer->n_classes, 2);

	cls = &peer->classes[0];
	assert_string_equal(cls->policy.name, "training");
	assert_int_equal(cls->line, 24);
	assert_int_equal(cls->policy.n_required, 3);
	assert_int_equal(cls->policy.required[0], KEX_ID_MLKEM768);
	assert_int_equal(cls->policy.required[1], KEX_ID_MCELIECE460896);
	assert_int_equal(cls->policy.required[2], KEX_ID_PSK);
	assert_int_equal(cls->policy.n_optional, 2);
	assert_int_equal(cls->policy.optional[0], KEX_ID_X25519);
	assert_int_equal(cls->policy.optional[1], KEX_ID_MLKEM1024);
	assert_int_equal(cls->policy.min_pq_factors, 3);
	assert_int_equal(cls->policy.min_families, 3);
	assert_int_equal(cls->policy.combiner, COMBINER_CASKDF);
	assert_int_equal(cls->policy.rekey_interval_s, 90);
	assert_int_equal(cls->policy.rekey_volume_bytes, 512ULL << 20);
	assert_int_equal(cls->policy.hard_lifetime_s, 7200);
	assert_int_equal(cls->policy.pool_low, 0);
	assert_int_equal(cls->policy.pool_high, 4096);
	assert_string_equal(cls->psk_id, "office-gpu");

	cls = config_class_by_name(peer, "weights");
	assert_ptr_equal(cls, &peer->classes[1]);
	assert_int_equal(cls->policy.required[1], KEX_ID_MCELIECE6688128);
	assert_int_equal(cls->policy.n_optional, 0);
	assert_string_equal(cls->psk_id, "weights.1");
	assert_int_equal(cls->policy.rekey_interval_s, 86400);
	assert_int_equal(cls->policy.hard_lifetime_s, 365U * 86400);
	assert_int_equal(cls->policy.rekey_volume_bytes, 1ULL << 50);
	assert_int_equal(cls->policy.combiner, COMBINER_CATKDF);

	peer = &cfg->peers[1];
	assert_string_equal(peer->name, "backup");
	assert_string_equal(peer->address.host, "backup.example.net");
	assert_int_equal(peer->address.port, 1);
	assert_int_equal(peer->address.family, AF_UNSPEC);
	assert_int_equal(peer->tls_group, CONFIG_TLS_X25519MLKEM768);
	assert_string_equal(peer->psk_id, "");
	cls = &peer->classes[0];
	assert_int_equal(cls->policy.min_pq_factors, 1);
	assert_int_equal(cls->policy.rekey_volume_bytes, 1ULL << 40);
	assert_string_equal(cls->psk_id, "");
	config_free(cfg);
}

/* Leading whitespace, CRLF, a BOM, comments of both kinds, ':' as separator. */
static void test_lexical(void **state)
{
	static const char text[] =
		"\xEF\xBB\xBF; comment\r\n"
		"  [node]   # trailing comment\r\n"
		"\tid = office ; inline comment\r\n"
		"    identity_key: id.key\r\n"
		"identity_cert = id.crt\r\n"
		"\r\n"
		"[peer   gpu]\n"
		"address = 192.0.2.7:7400\n"
		"pin_cert_sha256 = " H1 "\n"
		"[class\tgpu train];c\n"
		"required =mlkem768,psk   \n"
		"    psk_id = x\n"
		"rekey_interval = 10m";	/* no final newline */
	struct config *cfg = parse_ok(text, NULL);

	(void)state;
	assert_string_equal(cfg->node.id, "office");
	assert_string_equal(cfg->node.identity_key, "id.key");
	assert_int_equal(cfg->peers[0].classes[0].policy.n_required, 2);
	assert_string_equal(cfg->peers[0].classes[0].psk_id, "x");
	assert_int_equal(cfg->peers[0].classes[0].line, 10);
	config_free(cfg);
}

static void test_pin_check(void **state)
{
	char h[65], text[2048];
	struct config *cfg = NULL;
	struct config_options opts = {.base_dir = dir};

	(void)state;
	make_pin("pin.pub", 64, 9, h);
#define PIN_CONF(path, hash)                                                              \
	snprintf(text, sizeof(text),                                                      \
		 NODE "mceliece460896_key = a\n" /* 5 */                                   \
		 "mceliece460896_pub = b\n"      /* 6 */                                   \
		 "[peer gpu]\n"                  /* 7 */                                   \
		 "address = 192.0.2.7:7400\n"    /* 8 */                                   \
		 "pin_cert_sha256 = " H1 "\n"    /* 9 */                                   \
		 "pin_mceliece460896 = %s\n"     /* 10 */                                  \
		 "pin_mceliece460896_sha3 = %s\n" /* 11 */                                 \
		 "[class gpu train]\n"           /* 12 */                                  \
		 "required = mlkem768, mceliece460896\n", (path), (hash))

	PIN_CONF("pin.pub", h);
	cfg = parse_ok(text, &opts);
	assert_true(cfg->peers[0].mceliece[CONFIG_MCELIECE460896].set);
	config_free(cfg);

	/* One flipped hex digit: reported at the _sha3 line. */
	h[0] = h[0] == '0' ? '1' : '0';
	PIN_CONF("pin.pub", h);
	parse_bad_len(text, strlen(text), &opts, 11, "does not match the pin");
	/* The same text skipping file checks (tests and fuzzing only) loads. */
	cfg = parse_ok(text, &skip);
	config_free(cfg);

	/* The file's content changed. */
	make_pin("pin.pub", 64, 10, h);
	make_pin("pin.pub", 64, 11, (char[65]){0});
	PIN_CONF("pin.pub", h);
	parse_bad_len(text, strlen(text), &opts, 11, "does not match the pin");

	/* A missing file: reported at the path line. */
	PIN_CONF("missing.pub", h);
	parse_bad_len(text, strlen(text), &opts, 10, "cannot read pinned McEliece key");
	/* A directory is not a key file. */
	PIN_CONF("peers", h);
	make_pin("peers/x", 1, 1, (char[65]){0});
	parse_bad_len(text, strlen(text), &opts, 10, "cannot read pinned McEliece key");
	/* Larger than CONFIG_PIN_FILE_MAX. */
	make_pin("big.pub", CONFIG_PIN_FILE_MAX + 1, 1, h);
	PIN_CONF("big.pub", h);
	parse_bad_len(text, strlen(text), &opts, 10, "too large");
#undef PIN_CONF
}

static void test_load_file(void **state)
{
	char h[65], text[2048], path[PATH_MAX], want[PATH_MAX];
	struct config *cfg = NULL;
	struct config_error err;
	char *big;

	(void)state;
	make_pin("sub/peers/gpu.pub", 100, 3, h);
	snprintf(text, sizeof(text),
		 NODE "mceliece460896_key = a\nmceliece460896_pub = b\n"
		 "[peer gpu]\naddress = 192.0.2.7:7400\npin_cert_sha256 = " H1 "\n"
		 "pin_mceliece460896 = peers/gpu.pub\npin_mceliece460896_sha3 = %s\n"
		 "[class gpu train]\nrequired = mlkem768, mceliece460896\n", h);
	write_file("sub/mfsd.conf", text);
	snprintf(path, sizeof(path), "%s/sub/mfsd.conf", dir);
	/* Relative paths: relative to the file's directory. */
	assert_int_equal(config_load(path, NULL, &cfg, &err), 0);
	snprintf(want, sizeof(want), "%s/sub/id.key", dir);
	assert_string_equal(cfg->node.identity_key, want);
	assert_string_equal(cfg->source, path);
	config_free(cfg);
	cfg = NULL;

	/* A base_dir option overrides it (and here the pin is not there). */
	assert_int_equal(config_load(path, &(struct config_options){.base_dir = "/nonexistent"},
				     &cfg, &err), -EBADMSG);
	assert_null(cfg);
	assert_int_equal(err.line, 10);
	assert_non_null(strstr(err.text, "mfsd.conf:10: cannot read pinned"));

	snprintf(path, sizeof(path), "%s/none.conf", dir);
	assert_int_equal(config_load(path, NULL, &cfg, &err), -ENOENT);
	assert_null(cfg);
	assert_int_equal(err.line, 0);
	assert_non_null(strstr(err.text, "none.conf: cannot read"));

	big = malloc(CONFIG_FILE_MAX + 2);
	assert_non_null(big);
	memset(big, '#', CONFIG_FILE_MAX + 1);
	big[CONFIG_FILE_MAX + 1] = '\0';
	write_file("big.conf", big);
	snprintf(path, sizeof(path), "%s/big.conf", dir);
	assert_int_equal(config_load(path, NULL, &cfg, &err), -EMSGSIZE);
	assert_null(cfg);
	assert_int_equal(config_parse_string(big, CONFIG_FILE_MAX + 1, "x", NULL, &cfg, &err),
			 -EMSGSIZE);
	free(big);
}

/*
 * The example files parse. Their pins are placeholders, so the pinned files
 * are generated under the temporary directory (the base_dir for relative
 * paths) and each _sha3 value is replaced by the generated file's hash.
 */
static void check_example(const char *file, const char *peer_name, const char *psk_id)
{
	const char *root = getenv("MFS_SOURCE_ROOT");
	char path[PATH_MAX], *out, rel[PATH_MAX] = "", h[65];
	uint8_t *text;
	size_t len, o = 0;
	struct config *cfg;
	const struct config_peer *peer;
	struct config_options opts = {.base_dir = dir};
	uint8_t seed = 40;
	unsigned pin_line = 0;
	const char *found;

	if (!root)
		skip();
	snprintf(path, sizeof(path), "%s/examples/%s", root, file);
	assert_int_equal(file_read(path, CONFIG_FILE_MAX, 0, &text, &len), 0);

	/* As shipped, with file checks skipped. */
	cfg = parse_ok((const char *)text, &skip);
	config_free(cfg);
	/* As shipped, the placeholder pins are refused (the files are not there). */
	found = strstr((const char *)text, "\npin_mceliece460896 =");
	assert_non_null(found);
	for (const char *c = (const char *)text; c <= found; c++)
		pin_line += *c == '\n';
	pin_line++;
	parse_bad_len((const char *)text, len, &opts, pin_line, "cannot read pinned McEliece key");

	out = calloc(1, len + 1024);
	assert_non_null(out);
	for (char *line = (char *)text, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		assert_non_null(nl);
		*nl = '\0';
		if (strncmp(line, "pin_mceliece", 12) == 0 && !strstr(line, "_sha3")) {
			snprintf(rel, sizeof(rel), "%s", strchr(line, '=') + 2);
			make_pin(rel, 200, seed++, h);
		} else if (strncmp(line, "pin_mceliece", 12) == 0) {
			*strchr(line, '=') = '\0';
			o += (size_t)snprintf(out + o, len + 1024 - o, "%s= %s\n", line, h);
			continue;
		}
		o += (size_t)snprintf(out + o, len + 1024 - o, "%s\n", line);
	}
	cfg = parse_ok(out, &opts);
	assert_int_equal(cfg->n_peers, 1);
	peer = config_peer_by_name(cfg, peer_name);
	assert_non_null(peer);
	assert_int_equal(peer->n_classes, 2);
	assert_true(peer->mceliece[CONFIG_MCELIECE460896].set);
	assert_true(peer->mceliece[CONFIG_MCELIECE6688128].set);
	assert_string_equal(peer->classes[0].policy.name, "training");
	assert_int_equal(peer->classes[0].policy.required[0], KEX_ID_MLKEM768);
	assert_int_equal(peer->classes[0].policy.required[1], KEX_ID_MCELIECE460896);
	assert_int_equal(peer->classes[0].policy.required[2], KEX_ID_PSK);
	assert_string_equal(peer->classes[0].psk_id, psk_id);
	assert_string_equal(peer->classes[1].policy.name, "weights");
	assert_int_equal(peer->classes[1].policy.required[0], KEX_ID_MLKEM1024);
	assert_int_equal(peer->classes[1].policy.required[1], KEX_ID_MCELIECE6688128);
	assert_int_equal(peer->classes[1].policy.min_pq_factors, 3);
	assert_string_equal(cfg->node.identity_key, "/var/lib/mfsd/identity/node.key");
	assert_string_equal(cfg->node.mceliece[CONFIG_MCELIECE6688128].sk_path,
			    "/var/lib/mfsd/identity/mceliece6688128.sk");
	config_free(cfg);
	free(out);
	free(text);
}

static void test_examples(void **state)
{
	(void)state;
	check_example("office.conf", "gpu-dc", "office-gpu-dc");
	check_example("gpu-dc.conf", "office", "office-gpu-dc");
}

/* Bytes the catalogue cannot hold in a C string, and counts over the bounds. */
static void test_bounds(void **state)
{
	static const char nul[] = GOOD "optional = x25519\0\n";
	char *text = malloc(65536);
	size_t o;

	(void)state;
	assert_non_null(text);
	parse_bad_len(nul, sizeof(nul) - 1, &skip, 11, "NUL byte");

	o = (size_t)snprintf(text, 65536, NODE);
	for (unsigned i = 0; i <= CONFIG_MAX_PEERS; i++)
		o += (size_t)snprintf(text + o, 65536 - o,
				      "[peer p%u]\naddress = h%u:1\npin_cert_sha256 = %064x\n"
				      "[class p%u c]\nrequired = mlkem768, mlkem1024\n"
				      "min_families = 1\n", i, i, i + 1, i);
	parse_bad(text, 5 + 6 * CONFIG_MAX_PEERS, "more than 16 peers");

	o = (size_t)snprintf(text, 65536, NODE PEER);
	for (unsigned i = 0; i <= CONFIG_MAX_CLASSES; i++)
		o += (size_t)snprintf(text + o, 65536 - o, "[class gpu c%u]\nrequired = mlkem768, psk\n",
				      i);
	parse_bad(text, 9 + 2 * CONFIG_MAX_CLASSES, "more than 8 classes");

	/* Exactly at the bounds is fine. */
	o = (size_t)snprintf(text, 65536, NODE PEER);
	for (unsigned i = 0; i < CONFIG_MAX_CLASSES; i++)
		o += (size_t)snprintf(text + o, 65536 - o, "[class gpu c%u]\nrequired = mlkem768, psk\n",
				      i);
	config_free(parse_ok(text, &skip));

	snprintf(text, 65536, GOOD "#%*s\n", CONFIG_LINE_MAX - 1, "x");
	config_free(parse_ok(text, &skip));
	snprintf(text, 65536, GOOD "#%*s\n", CONFIG_LINE_MAX, "x");
	parse_bad(text, 11, "line too long");
	free(text);
}

/* ---- the catalogue of bad configurations ------------------------------------------------- */

struct bad {
	const char *name, *text;
	unsigned line;
	const char *reason;
};

#define L33 "abcdefghijklmnopqrstuvwxyz0123456"

static const struct bad bad[] = {
	/* lexical and structure */
	{"key outside a section", "id = x\n" GOOD, 1, "outside a section"},
	{"syntax: no '='", GOOD "just words\n", 11, "syntax error"},
	{"syntax before a later error", NODE "oops\n" PEER CLASS "foo = 1\n", 5, "syntax error"},
	{"missing key name", GOOD "= 3\n", 11, "missing key name"},
	{"empty value", GOOD "optional =\n", 11, "empty value"},
	{"control character", GOOD "optional = x25519\x01\n", 11, "control character 0x01"},
	{"section without ]", "[node\n", 1, "without ']'"},
	{"text after section", "[node] extra\n", 1, "text after the section header"},
	{"bad char in section", NODE "[peer gpu.dc]\n", 5, "invalid character 0x2e"},
	{"empty section header", GOOD "[ ]\n", 11, "empty section header"},
	{"unknown section", GOOD "[bogus]\n", 11, "unknown section [bogus]"},
	{"[node] with a name", "[node x]\n", 1, "takes no name"},
	{"[peer] without a name", NODE "[peer]\n", 5, "expected [peer NAME]"},
	{"[class] with two words", GOOD "[class gpu]\n", 11, "expected [class PEER NAME]"},
	{"duplicate [node]", GOOD "[node]\n", 11, "duplicate section [node] (first at line 1)"},
	{"duplicate [peer]", GOOD "[peer gpu]\n", 11, "duplicate section [peer gpu] (first at line 5)"},
	{"duplicate [class]", GOOD "[class gpu train]\n", 11,
	 "duplicate section [class gpu train] (first at line 9)"},
	{"duplicate key", GOOD "required = mlkem1024, psk\n", 11,
	 "duplicate key 'required' (first at line 10)"},
	{"unknown key [node]", NODE "colour = blue\n" PEER CLASS, 5, "unknown key 'colour' in [node]"},
	{"unknown key [peer]", NODE PEER "port = 1\n" CLASS, 9, "unknown key 'port' in [peer]"},
	{"unknown key [class]", GOOD "min_pq_factors = 2\n", 11, "unknown key 'min_pq_factors'"},
	/* missing things */
	{"missing [node]", PEER CLASS, 6, "missing section [node]"},
	{"no peer", NODE, 4, "no [peer NAME] section"},
	{"empty file", "", 1, "missing section [node]"},
	{"missing node id", "[node]\nidentity_key = k\nidentity_cert = c\n" PEER CLASS, 1,
	 "missing required key 'id'"},
	{"missing identity_cert", "[node]\nid = a\nidentity_key = k\n" PEER CLASS, 1,
	 "missing required key 'identity_cert'"},
	{"missing address", NODE "[peer gpu]\npin_cert_sha256 = " H1 "\npsk_id = s\n" CLASS, 5,
	 "missing required key 'address'"},
	{"missing pin_cert_sha256", NODE "[peer gpu]\naddress = h:1\npsk_id = s\n" CLASS, 5,
	 "missing required key 'pin_cert_sha256'"},
	{"missing required", NODE PEER "[class gpu train]\noptional = psk\n", 9,
	 "missing required key 'required'"},
	{"peer without class", NODE PEER, 5, "peer 'gpu' has no data protection class"},
	{"second peer without class", GOOD "[peer b]\naddress = h:1\npin_cert_sha256 = " H2 "\n", 11,
	 "peer 'b' has no data protection class"},
	{"class before its peer", NODE "[class gpu train]\n" PEER, 5, "class for unknown peer 'gpu'"},
	/* names */
	{"peer name uppercase", NODE "[peer GPU]\n", 5, "peer name 'GPU'"},
	{"class name uppercase", GOOD "[class gpu Train]\n", 11, "class name 'Train'"},
	{"class name too long", GOOD "[class gpu " L33 "]\n", 11, "class name '" L33 "'"},
	{"node id with space", "[node]\nid = off ice\n", 2, "is not [A-Za-z0-9._-]"},
	{"psk_id with slash", NODE PEER CLASS "psk_id = ../x\n", 11, "is not a PSK ID"},
	/* methods and minimums */
	{"unknown method", NODE PEER "[class gpu train]\nrequired = mlkem768, kyber\n", 10,
	 "unknown method 'kyber'"},
	{"method listed twice", NODE PEER "[class gpu train]\nrequired = psk, mlkem768, psk\n", 10,
	 "method 'psk' listed twice"},
	{"empty list item", NODE PEER "[class gpu train]\nrequired = mlkem768,,psk\n", 10,
	 "empty method name"},
	{"trailing comma", NODE PEER "[class gpu train]\nrequired = mlkem768, psk,\n", 10,
	 "empty method name"},
	{"required and optional", GOOD "optional = x25519, psk\n", 11,
	 "method 'psk' is both required (line 10) and optional"},
	{"min_pq: x25519 is not PQ",
	 NODE PEER "[class gpu train]\nrequired = mlkem768, x25519\nmin_families = 1\n", 10,
	 "give 1 post-quantum factor(s), min_pq is 2"},
	{"min_pq: optional does not count",
	 NODE PEER "[class gpu train]\nrequired = mlkem768, psk\noptional = mlkem1024\nmin_pq = 3\n",
	 10, "give 2 post-quantum factor(s), min_pq is 3"},
	{"min_families", NODE PEER "[class gpu train]\nrequired = mlkem768, mlkem1024\n", 10,
	 "of 1 family, min_families is 2"},
	{"min_pq zero", GOOD "min_pq = 0\n", 11, "out of range (1..8)"},
	{"min_pq not a number", GOOD "min_pq = two\n", 11, "not a number"},
	{"min_pq negative", GOOD "min_pq = -1\n", 11, "not a number"},
	{"min_pq with junk", GOOD "min_pq = 2x\n", 11, "not a number"},
	{"min_families six", GOOD "min_families = 6\n", 11, "out of range (1..5)"},
	{"huge number", GOOD "pool_high = 99999999999999999999999\n", 11, "out of range"},
	{"mceliece without node keys",
	 NODE "[peer gpu]\naddress = h:1\npin_cert_sha256 = " H1 "\n"
	 "pin_mceliece460896 = p\npin_mceliece460896_sha3 = " H2 "\n"
	 "[class gpu train]\nrequired = mlkem768, mceliece460896\n", 11,
	 "method mceliece460896 needs mceliece460896_key and mceliece460896_pub in [node]"},
	{"mceliece without peer pin",
	 NODE "mceliece6688128_key = a\nmceliece6688128_pub = b\n" PEER CLASS
	 "optional = mceliece6688128\n", 13,
	 "method mceliece6688128 needs pin_mceliece6688128 and pin_mceliece6688128_sha3"},
	{"psk without psk_id",
	 NODE "[peer gpu]\naddress = h:1\npin_cert_sha256 = " H1 "\n"
	 "[class gpu train]\nrequired = mlkem768, mlkem1024\nmin_families = 1\noptional = psk\n", 11,
	 "method psk needs psk_id"},
	{"qkd014 required without a KME",
	 NODE PEER "[class gpu train]\nrequired = mlkem768, psk, qkd014\n", 10,
	 "method qkd014 needs qkd_kme"},
	{"qkd014 required without the peer's SAE ID",
	 NODE "qkd_kme = 127.0.0.1:9441\nqkd_sae_id = sae-a\nqkd_cert = c\nqkd_key = k\nqkd_ca = ca\n"
	 PEER "[class gpu train]\nrequired = mlkem768, psk, qkd014\n", 15,
	 "method qkd014 needs qkd_sae_id in [peer gpu]"},
	{"qkd_kme without its certificate", NODE "qkd_kme = 127.0.0.1:9441\nqkd_sae_id = sae-a\n" PEER CLASS,
	 1, "qkd_kme needs qkd_sae_id, qkd_cert, qkd_key and qkd_ca"},
	/* combiner, durations, sizes, pools */
	{"unknown combiner", GOOD "combiner = xor\n", 11, "unknown combiner 'xor'"},
	{"xor-its without QKD", GOOD "combiner = xor-its\n", 11, "needs a required QKD method"},
	{"zero duration", GOOD "rekey_interval = 0s\n", 11, "must be greater than zero"},
	{"duration without unit", GOOD "rekey_interval = 600\n", 11, "has no unit"},
	{"duration bad unit", GOOD "hard_lifetime = 1y\n", 11, "unknown unit 'y'"},
	{"duration not a number", GOOD "hard_lifetime = h\n", 11, "is not a duration"},
	{"duration too long", GOOD "hard_lifetime = 366d\n", 11, "too large"},
	{"duration overflow", GOOD "hard_lifetime = 18446744073709551615d\n", 11, "too large"},
	{"hard lifetime below rekey", GOOD "rekey_interval = 2h\n", 11,
	 "hard_lifetime (3600s) is shorter than rekey_interval (7200s)"},
	{"hard lifetime below rekey, later line", GOOD "hard_lifetime = 5m\nrekey_interval = 6m\n",
	 12, "shorter than rekey_interval"},
	{"zero volume", GOOD "rekey_volume = 0GiB\n", 11, "must be greater than zero"},
	{"decimal size unit", GOOD "rekey_volume = 16GB\n", 11, "unknown unit 'GB'"},
	{"space before unit", GOOD "rekey_volume = 16 GiB\n", 11, "unknown unit ' GiB'"},
	{"size too large", GOOD "rekey_volume = 2PiB\n", 11, "too large"},
	/* push socket (docs/push.md) */
	{"push mode not octal", NODE "push_socket_mode = 0668\n" PEER CLASS, 5, "not an octal mode"},
	{"push mode too long", NODE "push_socket_mode = 00660\n" PEER CLASS, 5, "not an octal mode"},
	{"push mode over 0777", NODE "push_socket_mode = 1777\n" PEER CLASS, 5, "over 0777"},
	{"push group not a number", NODE "push_socket_group = wheel\n" PEER CLASS, 5,
	 "is not a number"},
	{"push socket path too long", NODE "push_socket = /" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n" PEER CLASS, 5, "push_socket"},
	{"push_allow bad entry", GOOD "push_allow = user:1000\n", 11, "'user:1000' is not uid:N or gid:N"},
	{"push_allow bad number", GOOD "push_allow = uid:-1\n", 11, "N must be a number"},
	{"push_allow number too big", GOOD "push_allow = gid:4294967295\n", 11, "N must be a number"},
	{"push_allow trailing text", GOOD "push_allow = uid:10x\n", 11, "N must be a number"},
	{"push_allow empty item", GOOD "push_allow = uid:1,,gid:2\n", 11, "empty entry"},
	{"push_allow twice", GOOD "push_allow = uid:1, gid:1, uid:1\n", 11, "listed twice"},
	{"pool low = high", GOOD "pool_low = 64\n", 11, "pool_low (64) must be below pool_high (64)"},
	{"pool low > high", GOOD "pool_low = 10\npool_high = 5\n", 12, "must be below pool_high"},
	{"pool high too big", GOOD "pool_high = 4097\n", 11, "out of range"},
	/* addresses */
	{"port zero", NODE "[peer gpu]\naddress = 192.0.2.7:0\n", 6, "bad port"},
	{"port too big", NODE "[peer gpu]\naddress = 192.0.2.7:65536\n", 6, "bad port"},
	{"port not a number", NODE "[peer gpu]\naddress = host:http\n", 6, "bad port"},
	{"no port", NODE "[peer gpu]\naddress = 192.0.2.7\n", 6, "needs a port"},
	{"IPv6 without brackets", NODE "[peer gpu]\naddress = 2001:db8::1:7400\n", 6, "brackets"},
	{"bad IPv6", NODE "[peer gpu]\naddress = [2001:db8::zz]:7400\n", 6, "not an IPv6 address"},
	{"IPv6 unclosed", NODE "[peer gpu]\naddress = [::1:7400\n", 6, "no closing ']'"},
	{"IPv6 no port", NODE "[peer gpu]\naddress = [::1]\n", 6, "needs a port"},
	{"bad host name", NODE "[peer gpu]\naddress = -bad-.example:7400\n", 6,
	 "not a valid host name"},
	{"host name with _", NODE "[peer gpu]\naddress = a_b.example:7400\n", 6,
	 "not a valid host name"},
	{"empty host", NODE "[peer gpu]\naddress = :7400\n", 6, "empty or too long host"},
	{"listen on a name", "[node]\nlisten = example.com:7400\n", 2, "is not an IP address"},
	/* pins and other peer keys */
	{"fingerprint too short", NODE "[peer gpu]\naddress = h:1\npin_cert_sha256 = abcd\n", 7,
	 "must be exactly 64 hex digits"},
	{"fingerprint not hex", NODE "[peer gpu]\naddress = h:1\npin_cert_sha256 = "
	 "g0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", 7,
	 "must be exactly 64 hex digits"},
	{"fingerprint with colons", NODE "[peer gpu]\npin_cert_sha256 = 00:11:22\n", 6,
	 "must be exactly 64 hex digits"},
	{"same cert for two peers", GOOD "[peer b]\naddress = h:1\npin_cert_sha256 = " H1 "\n", 13,
	 "pin_cert_sha256 is the same as peer 'gpu''s (line 5)"},
	{"mceliece pin without hash", NODE PEER "pin_mceliece460896 = x.pub\n" CLASS, 9,
	 "pin_mceliece460896 needs pin_mceliece460896_sha3"},
	{"mceliece hash without pin", NODE PEER "pin_mceliece6688128_sha3 = " H2 "\n" CLASS, 9,
	 "pin_mceliece6688128_sha3 needs pin_mceliece6688128"},
	{"node key without pub", NODE "mceliece460896_key = k\n" PEER CLASS, 5,
	 "mceliece460896_key needs mceliece460896_pub"},
	{"unknown tls group", NODE PEER "tls_group = P-256\n" CLASS, 9, "unknown TLS group 'P-256'"},
	{"unknown log level", NODE "log_level = loud\n" PEER CLASS, 5, "unknown level 'loud'"},
	{"static key rotation of zero", NODE "static_key_rotate = 0d\n" PEER CLASS, 5,
	 "static_key_rotate"},
	{"static key grace without unit", NODE "static_key_grace = 600\n" PEER CLASS, 5,
	 "static_key_grace"},
	{"static key rotation twice", NODE "static_key_rotate = 7d\nstatic_key_rotate = 8d\n" PEER
	 CLASS, 6, "duplicate key 'static_key_rotate' (first at line 5)"},
	{"admin socket too long", NODE "admin_socket = /" L33 L33 L33 L33 "\n", 5,
	 "path too long (at most 107 bytes"},
	/* key supply: [supply] starts at line 11, [sae] sections after it */
	{"sae without supply", GOOD "[sae A]\npeer = gpu\nclasses = train\n", 11,
	 "[sae A] needs a [supply] section"},
	{"supply without listen", GOOD "[supply]\ncert = c\nkey = k\nca = a\n", 11,
	 "missing required key 'listen'"},
	{"supply listen name", GOOD SUPPLY_HDR "listen = kme.example:8443\n" SUPPLY_FILES, 12, "listen"},
	{"supply bad sae_id_from", GOOD SUPPLY "sae_id_from = dn\n", 16,
	 "unknown source 'dn' (cn, san-dns, san-uri or serial)"},
	{"supply threads 0", GOOD SUPPLY "threads = 0\n", 16, "out of range (1..64)"},
	{"supply max_key_per_request", GOOD SUPPLY "max_key_per_request = 1025\n", 16,
	 "out of range (1..1024)"},
	{"supply reserve", GOOD SUPPLY "reserve = 4097\n", 16, "out of range (0..4096)"},
	{"supply twice", GOOD SUPPLY SUPPLY, 16, "duplicate section [supply]"},
	{"sae unknown peer", GOOD SUPPLY "[sae A]\npeer = cpu\nclasses = train\n", 17,
	 "peer: no [peer cpu] section"},
	{"sae unknown class", GOOD SUPPLY "[sae A]\npeer = gpu\nclasses = train, eval\n", 18,
	 "classes: no [class gpu eval] section"},
	{"sae bad class name", GOOD SUPPLY "[sae A]\npeer = gpu\nclasses = Train\n", 18,
	 "classes: 'Train' is not"},
	{"sae class twice", GOOD SUPPLY "[sae A]\npeer = gpu\nclasses = train,train\n", 18,
	 "'train' listed twice"},
	{"sae no classes", GOOD SUPPLY "[sae A]\npeer = gpu\n", 16, "missing required key 'classes'"},
	{"sae bad role", GOOD SUPPLY "[sae A]\npeer = gpu\nclasses = train\nrole = boss\n", 19,
	 "role: 'boss' is not master, slave or both"},
	{"sae bad location", GOOD SUPPLY "[sae A]\nlocation = far\n", 17, "'far' is not local or remote"},
	{"sae key size", GOOD SUPPLY "[sae A]\npeer = gpu\nclasses = train\nkey_size = 100\n", 19,
	 "key_size: 100 bits is not a multiple of 8"},
	{"sae key size range", GOOD SUPPLY "[sae A]\nkey_size = 16\n", 17, "out of range (64..8192)"},
	{"sae duplicate", GOOD SUPPLY "[sae A]\npeer = gpu\nclasses = train\n[sae A]\n", 19,
	 "duplicate section [sae A]"},
	{"sae bad id", GOOD SUPPLY "[sae A.B]\n", 16, "invalid character 0x2e"},
	{"remote sae role", GOOD SUPPLY "[sae A]\nlocation = remote\npeer = gpu\nclasses = train\n"
	 "role = master\n", 20, "role: only for local SAEs"},
	{"two remote saes one pool", GOOD SUPPLY "[sae A]\nlocation = remote\npeer = gpu\n"
	 "classes = train\n[sae B]\nlocation = remote\npeer = gpu\nclasses = train\n", 23,
	 "one remote SAE per pool"},
	{"two slaves one pool", GOOD SUPPLY "[sae A]\npeer = gpu\nclasses = train\n"
	 "[sae B]\npeer = gpu\nclasses = train\nrole = slave\n", 21, "one slave SAE per pool"},
	{"serial without serial source", GOOD SUPPLY "[sae A]\npeer = gpu\nclasses = train\n"
	 "serial = 0a1b\n", 19, "serial: only with sae_id_from = serial"},
	{"serial source without serial", GOOD SUPPLY "sae_id_from = serial\n[sae A]\npeer = gpu\n"
	 "classes = train\n", 17, "sae_id_from = serial needs serial"},
	{"serial not hex", GOOD SUPPLY "sae_id_from = serial\n[sae A]\npeer = gpu\n"
	 "classes = train\nserial = 0xzz\n", 20, "is not hex digits"},
};

static void test_bad(void **state)
{
	const struct bad *b = *state;

	parse_bad(b->text, b->line, b->reason);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_and_defaults),
		cmocka_unit_test(test_static_key_settings),
		cmocka_unit_test(test_supply),
		cmocka_unit_test(test_full_round_trip),
		cmocka_unit_test(test_lexical),
		cmocka_unit_test(test_pin_check),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_bounds),
	};
	struct CMUnitTest cat[sizeof(bad) / sizeof(bad[0])];
	int r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cat[i] = (struct CMUnitTest){.name = bad[i].name, .test_func = test_bad,
					     .initial_state = (void *)&bad[i]};
	r = cmocka_run_group_tests(tests, setup, teardown);
	r += _cmocka_run_group_tests("bad_configs", cat, sizeof(cat) / sizeof(cat[0]), NULL, NULL);
	return r;
}
