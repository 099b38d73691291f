/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The configuration's sections (docs/config.md): the key tables of [node],
 * [peer NAME], [class PEER NAME], [supply] and [sae NAME] (type, field,
 * bounds, required), the section headers, the checks at the end of each
 * section and those of the whole file (references between sections,
 * methods and what they need, the SAE table's one-per-pool rules).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/err.h"
#include "base/file.h"
#include "crypto/hash.h"
#include "daemon/config_int.h"
#include "etsi014/server.h"

#define FIELD(type, member) offsetof(type, member), sizeof(((type *)0)->member)

/* [node]: struct config_node */
#define N(member) FIELD(struct config_node, member)
static const struct key_def node_keys[] = {
	{"id", V_ID, N(id), 0, 0, 0, true},
	{"listen", V_LISTEN, N(listen), 0, 0, 0, false},
	{"identity_key", V_PATH, N(identity_key), 0, 0, 0, true},
	{"identity_cert", V_PATH, N(identity_cert), 0, 0, 0, true},
	{"mceliece460896_key", V_PATH, N(mceliece[CONFIG_MCELIECE460896].sk_path), 0, 0, 0, false},
	{"mceliece460896_pub", V_PATH, N(mceliece[CONFIG_MCELIECE460896].pk_path), 0, 0, 0, false},
	{"mceliece6688128_key", V_PATH, N(mceliece[CONFIG_MCELIECE6688128].sk_path), 0, 0, 0, false},
	{"mceliece6688128_pub", V_PATH, N(mceliece[CONFIG_MCELIECE6688128].pk_path), 0, 0, 0, false},
	{"state_dir", V_PATH, N(state_dir), 0, 0, 0, false},
	{"admin_socket", V_SOCKET_PATH, N(admin_socket), 0, 0, 0, false},
	{"psk_dir", V_PATH, N(psk_dir), 0, 0, 0, false},
	{"log_level", V_LOG_LEVEL, N(log_level), 0, 0, 0, false},
	{"qkd_kme", V_ADDR, N(qkd_kme), 0, 0, 0, false},
	{"qkd_sae_id", V_ID, N(qkd_sae_id), 0, 0, 0, false},
	{"qkd_cert", V_PATH, N(qkd_cert), 0, 0, 0, false},
	{"qkd_key", V_PATH, N(qkd_key), 0, 0, 0, false},
	{"qkd_ca", V_PATH, N(qkd_ca), 0, 0, 0, false},
	{"push_socket", V_SOCKET_PATH, N(push_socket), 0, 0, 0, false},
	{"push_socket_mode", V_MODE, N(push_socket_mode), 0, 0, 0777, false},
	{"push_socket_group", V_U32, N(push_socket_group), 0, 0, CONFIG_NO_GROUP - 1, false},
	{"push_socket_owner", V_U32, N(push_socket_owner), 0, 0, CONFIG_NO_GROUP - 1, false},
	{"static_key_rotate", V_DURATION, N(static_rotate_s), 0, 1, CONFIG_DURATION_MAX, false},
	{"static_key_grace", V_DURATION, N(static_grace_s), 0, 1, CONFIG_DURATION_MAX, false},
};
#undef N
/* Indexes into node_keys used by the checks. */
enum { NODE_MCE_KEY_0 = 4 };	/* _key, _pub for each set, in enum config_mceliece order */

/* [peer NAME]: struct config_peer */
#define P(member) FIELD(struct config_peer, member)
static const struct key_def peer_keys[] = {
	{"address", V_ADDR, P(address), 0, 0, 0, true},
	{"pin_cert_sha256", V_SHA256, P(cert_sha256), 0, 0, 0, true},
	{"tls_group", V_TLS_GROUP, P(tls_group), 0, 0, 0, false},
	{"psk_id", V_PSK_ID, P(psk_id), 0, 0, 0, false},
	{"pin_mceliece460896", V_PATH, P(mceliece[CONFIG_MCELIECE460896].path), 0, 0, 0, false},
	{"pin_mceliece460896_sha3", V_SHA256, P(mceliece[CONFIG_MCELIECE460896].sha3), 0, 0, 0,
	 false},
	{"pin_mceliece6688128", V_PATH, P(mceliece[CONFIG_MCELIECE6688128].path), 0, 0, 0, false},
	{"pin_mceliece6688128_sha3", V_SHA256, P(mceliece[CONFIG_MCELIECE6688128].sha3), 0, 0, 0,
	 false},
	{"qkd_sae_id", V_ID, P(qkd_sae_id), 0, 0, 0, false},
};
#undef P
enum { PEER_CERT = 1, PEER_PIN_0 = 4 };	/* path, sha3 for each set */

/* [class PEER NAME]: struct config_class */
#define C(member) FIELD(struct config_class, member)
static const struct key_def class_keys[] = {
	{"required", V_METHODS, C(policy.required), offsetof(struct config_class, policy.n_required),
	 0, 0, true},
	{"optional", V_METHODS, C(policy.optional), offsetof(struct config_class, policy.n_optional),
	 0, 0, false},
	{"min_pq", V_U8, C(policy.min_pq_factors), 0, 1, POLICY_MAX_METHODS, false},
	{"min_families", V_U8, C(policy.min_families), 0, 1, 5, false},
	{"combiner", V_COMBINER, C(policy.combiner), 0, 0, 0, false},
	{"rekey_interval", V_DURATION, C(policy.rekey_interval_s), 0, 1, CONFIG_DURATION_MAX, false},
	{"rekey_volume", V_SIZE, C(policy.rekey_volume_bytes), 0, 1, CONFIG_VOLUME_MAX, false},
	{"hard_lifetime", V_DURATION, C(policy.hard_lifetime_s), 0, 1, CONFIG_DURATION_MAX, false},
	{"pool_low", V_U32, C(policy.pool_low), 0, 0, CONFIG_POOL_MAX - 1, false},
	{"pool_high", V_U32, C(policy.pool_high), 0, 1, CONFIG_POOL_MAX, false},
	{"psk_id", V_PSK_ID, C(psk_id), 0, 0, 0, false},
	{"push_allow", V_PRINCIPALS, C(push_allow), offsetof(struct config_class, n_push_allow), 0,
	 0, false},
};
#undef C
enum {
	CLASS_REQUIRED, CLASS_OPTIONAL, CLASS_MIN_PQ, CLASS_MIN_FAMILIES, CLASS_COMBINER,
	CLASS_REKEY_INTERVAL, CLASS_REKEY_VOLUME, CLASS_HARD_LIFETIME, CLASS_POOL_LOW,
	CLASS_POOL_HIGH, CLASS_PSK_ID, CLASS_PUSH_ALLOW,
};

/* [supply]: struct config_supply */
#define S(member) FIELD(struct config_supply, member)
static const struct key_def supply_keys[] = {
	{"listen", V_LISTEN, S(listen), 0, 0, 0, true},
	{"cert", V_PATH, S(cert), 0, 0, 0, true},
	{"key", V_PATH, S(key), 0, 0, 0, true},
	{"ca", V_PATH, S(ca), 0, 0, 0, true},
	{"sae_id_from", V_SAE_ID_FROM, S(sae_id_from), 0, 0, 0, false},
	{"threads", V_U32, S(threads), 0, 1, ETSI014_THREADS_MAX, false},
	{"max_key_per_request", V_U32, S(max_key_per_request), 0, 1, 1024, false},
	{"store_size_limit", V_SIZE, S(store_size_limit), 0, 4096, CONFIG_VOLUME_MAX, false},
	{"reserve", V_U32, S(reserve), 0, 0, 4096, false},
};
#undef S

/* [sae NAME]: struct config_sae */
#define A(member) FIELD(struct config_sae, member)
static const struct key_def sae_keys[] = {
	{"location", V_LOCATION, A(remote), 0, 0, 0, false},
	{"peer", V_NAME, A(peer), 0, 0, 0, true},
	{"classes", V_NAMES, A(classes), offsetof(struct config_sae, n_classes), 0, 0, true},
	{"role", V_ROLE, A(roles), 0, 0, 0, false},
	{"key_size", V_U32, A(key_bits), 0, 64, ETSI014_KEY_MAX_BITS, false},
	{"serial", V_SERIAL, A(serial), 0, 0, 0, false},
};
#undef A
enum { SAE_LOCATION, SAE_PEER, SAE_CLASSES, SAE_ROLE, SAE_KEY_SIZE, SAE_SERIAL };

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(ARRAY_LEN(node_keys) <= SECTION_KEYS_MAX, "node keys");
_Static_assert(ARRAY_LEN(supply_keys) <= SECTION_KEYS_MAX, "supply keys");
_Static_assert(ARRAY_LEN(sae_keys) <= SECTION_KEYS_MAX, "sae keys");
_Static_assert(ARRAY_LEN(peer_keys) <= SECTION_KEYS_MAX, "peer keys");
_Static_assert(ARRAY_LEN(class_keys) <= SECTION_KEYS_MAX, "class keys");

static const char *const mceliece_methods[CONFIG_MCELIECE_N] = {
	[CONFIG_MCELIECE460896] = "mceliece460896",
	[CONFIG_MCELIECE6688128] = "mceliece6688128",
};


/* ---- sections ---------------------------------------------------------------------------- */

const struct key_def *config_section_keys(enum section_kind kind, size_t *n)
{
	switch (kind) {
	case SEC_NODE: *n = ARRAY_LEN(node_keys); return node_keys;
	case SEC_PEER: *n = ARRAY_LEN(peer_keys); return peer_keys;
	case SEC_CLASS: *n = ARRAY_LEN(class_keys); return class_keys;
	case SEC_SUPPLY: *n = ARRAY_LEN(supply_keys); return supply_keys;
	case SEC_SAE: *n = ARRAY_LEN(sae_keys); return sae_keys;
	case SEC_NONE: break;
	}
	*n = 0;
	return NULL;
}

const char *config_section_label(enum section_kind kind)
{
	switch (kind) {
	case SEC_NODE: return "[node]";
	case SEC_PEER: return "[peer]";
	case SEC_CLASS: return "[class]";
	case SEC_SUPPLY: return "[supply]";
	case SEC_SAE: return "[sae]";
	case SEC_NONE: break;
	}
	return "?";
}

static int check_missing(struct parser *p)
{
	size_t n;
	const struct key_def *keys = config_section_keys(p->kind, &n);

	for (size_t i = 0; i < n; i++)
		if (keys[i].required && !p->keyline[i])
			return config_fail(p, p->section_line, "%s: missing required key '%s'",
				    config_section_label(p->kind), keys[i].name);
	return 0;
}

/* Both keys of a pair, or neither: line of the one that is there. */
static int check_pair(struct parser *p, const unsigned *lines, const struct key_def *keys,
		      size_t a, size_t b, bool *set)
{
	*set = lines[a] && lines[b];
	if (lines[a] && !lines[b])
		return config_fail(p, lines[a], "%s needs %s as well", keys[a].name, keys[b].name);
	if (lines[b] && !lines[a])
		return config_fail(p, lines[b], "%s needs %s as well", keys[b].name, keys[a].name);
	return 0;
}

static int end_node(struct parser *p)
{
	struct config_node *node = &p->cfg->node;
	int r;

	if ((r = check_missing(p)) < 0)
		return r;
	for (size_t s = 0; s < CONFIG_MCELIECE_N; s++)
		if ((r = check_pair(p, p->keyline, node_keys, NODE_MCE_KEY_0 + 2 * s,
				    NODE_MCE_KEY_0 + 2 * s + 1, &node->mceliece[s].set)) < 0)
			return r;
	memcpy(p->node_keyline, p->keyline, sizeof(p->node_keyline));
	return 0;
}

/* The SHA3-256 of the pinned file must be the configured one. */
static int check_pin(struct parser *p, const struct config_mceliece_pin *pin,
		     unsigned path_line, unsigned sha3_line)
{
	uint8_t *data = NULL;
	size_t len = 0;
	uint8_t digest[CONFIG_SHA3_LEN];
	int r;

	r = file_read(pin->path, CONFIG_PIN_FILE_MAX, 0, &data, &len);
	if (r < 0)
		return config_fail(p, path_line, "cannot read pinned McEliece key '%s': %s", pin->path,
			    mfs_strerror(r));
	r = hash(HASH_SHA3_256, data, len, digest);
	free(data);
	if (r < 0)
		return config_fail(p, sha3_line, "cannot hash '%s': %s", pin->path, mfs_strerror(r));
	if (memcmp(digest, pin->sha3, sizeof(digest)) != 0)
		return config_fail(p, sha3_line,
			    "SHA3-256 of '%s' does not match the pin (wrong file or wrong value; "
			    "compare with mfsctl genid on the peer)", pin->path);
	return 0;
}

static int end_peer(struct parser *p)
{
	struct config_peer *peer = p->peer;
	int r;

	if ((r = check_missing(p)) < 0)
		return r;
	for (size_t s = 0; s < CONFIG_MCELIECE_N; s++) {
		size_t a = PEER_PIN_0 + 2 * s, b = a + 1;

		if ((r = check_pair(p, p->keyline, peer_keys, a, b, &peer->mceliece[s].set)) < 0)
			return r;
		if (peer->mceliece[s].set && !(p->opts->flags & CONFIG_SKIP_FILE_CHECKS) &&
		    (r = check_pin(p, &peer->mceliece[s], p->keyline[a], p->keyline[b])) < 0)
			return r;
	}
	for (size_t i = 0; i + 1 < p->cfg->n_peers; i++)
		if (memcmp(p->cfg->peers[i].cert_sha256, peer->cert_sha256,
			   sizeof(peer->cert_sha256)) == 0)
			return config_fail(p, p->keyline[PEER_CERT],
				    "pin_cert_sha256 is the same as peer '%s''s (line %u)",
				    p->cfg->peers[i].name, p->cfg->peers[i].line);
	return 0;
}

static int end_class(struct parser *p)
{
	struct config_class *cls = p->cls;
	struct class_policy *pol = &cls->policy;
	const unsigned *kl = p->keyline;
	unsigned families = 0;
	size_t n_pq = 0, n_fam = 0;
	int r;

	if ((r = check_missing(p)) < 0)
		return r;
	for (size_t i = 0; i < pol->n_optional; i++)
		for (size_t j = 0; j < pol->n_required; j++)
			if (pol->optional[i] == pol->required[j])
				return config_fail(p, kl[CLASS_OPTIONAL],
					    "method '%s' is both required (line %u) and optional",
					    kex_method_name(pol->optional[i]), kl[CLASS_REQUIRED]);
	if (pol->n_required + pol->n_optional > COMBINER_MAX_METHODS)
		return config_fail(p, kl[CLASS_OPTIONAL] ? kl[CLASS_OPTIONAL] : kl[CLASS_REQUIRED],
			    "more than %d methods in required and optional",
			    COMBINER_MAX_METHODS);

	/* Optional methods may be missing from the suite: only required ones count. */
	for (size_t i = 0; i < pol->n_required; i++) {
		const struct kex_method *m = kex_method_by_id(pol->required[i]);

		if (!m)
			continue;
		n_pq += m->post_quantum;
		if (!(families & (1U << m->family))) {
			families |= 1U << m->family;
			n_fam++;
		}
	}
	if (n_pq < pol->min_pq_factors)
		return config_fail(p, kl[CLASS_REQUIRED],
			    "the required methods give %zu post-quantum factor(s), min_pq is %u",
			    n_pq, pol->min_pq_factors);
	if (n_fam < pol->min_families)
		return config_fail(p, kl[CLASS_REQUIRED],
			    "the required methods are of %zu famil%s, min_families is %u", n_fam,
			    n_fam == 1 ? "y" : "ies", pol->min_families);
	if (pol->combiner == COMBINER_XOR_ITS && !(families & (1U << KEX_FAMILY_QKD)))
		return config_fail(p, kl[CLASS_COMBINER],
			    "combiner xor-its needs a required QKD method (an ITS input)");
	if (pol->pool_low >= pol->pool_high)
		return config_fail(p, kl[CLASS_POOL_LOW] > kl[CLASS_POOL_HIGH] ? kl[CLASS_POOL_LOW]
									  : kl[CLASS_POOL_HIGH],
			    "pool_low (%u) must be below pool_high (%u)", pol->pool_low,
			    pol->pool_high);
	if (pol->hard_lifetime_s < pol->rekey_interval_s)
		return config_fail(p, kl[CLASS_HARD_LIFETIME] > kl[CLASS_REKEY_INTERVAL]
			    ? kl[CLASS_HARD_LIFETIME] : kl[CLASS_REKEY_INTERVAL],
			    "hard_lifetime (%us) is shorter than rekey_interval (%us)",
			    pol->hard_lifetime_s, pol->rekey_interval_s);
	if (!kl[CLASS_PSK_ID])
		memcpy(cls->psk_id, p->peer->psk_id, sizeof(cls->psk_id));
	/* Both sides must name the same PSK, so there is no default ID. */
	for (size_t i = 0; i < pol->n_required + pol->n_optional && !cls->psk_id[0]; i++) {
		bool req = i < pol->n_required;

		if ((req ? pol->required[i] : pol->optional[i - pol->n_required]) == KEX_ID_PSK)
			return config_fail(p, req ? kl[CLASS_REQUIRED] : kl[CLASS_OPTIONAL],
				    "method psk needs psk_id (in this class or in [peer %s])",
				    p->peer->name);
	}
	p->class_lines[p->peer - p->cfg->peers][p->peer->n_classes - 1] =
		(struct class_lines){kl[CLASS_REQUIRED], kl[CLASS_OPTIONAL]};
	return 0;
}

int config_end_section(struct parser *p)
{
	switch (p->kind) {
	case SEC_NODE: return end_node(p);
	case SEC_PEER: return end_peer(p);
	case SEC_CLASS: return end_class(p);
	case SEC_SUPPLY:
		memcpy(p->supply_keyline, p->keyline, sizeof(p->supply_keyline));
		return check_missing(p);
	case SEC_SAE:
		memcpy(p->sae_keyline[p->sae - p->cfg->saes], p->keyline, sizeof(p->keyline));
		return check_missing(p);
	case SEC_NONE: break;
	}
	return 0;
}

/* Split "[a b c]" contents into at most 3 words of [a-z0-9_-]; -1 on a bad character. */
static int split_words(char *s, char *words[3])
{
	int n = 0;

	while (*s) {
		while (*s == ' ' || *s == '\t')
			*s++ = '\0';
		if (!*s)
			break;
		if (n == 3)
			return 4;
		words[n++] = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
	}
	return n;
}

static struct config_peer *find_peer(struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_peers; i++)
		if (strcmp(cfg->peers[i].name, name) == 0)
			return &cfg->peers[i];
	return NULL;
}

/* A "[...]" line (leading whitespace gone), before inih sees it. */
int config_begin_section(struct parser *p, const char *line, size_t len)
{
	struct config *cfg = p->cfg;
	char buf[CONFIG_LINE_MAX + 1];
	const char *close = memchr(line, ']', len);
	char *words[3] = {NULL, NULL, NULL};
	int n, r;

	if (!close)
		return config_fail(p, p->lineno, "section header without ']'");
	for (const char *c = close + 1; c < line + len; c++) {
		if (*c == ';' || *c == '#')
			break;
		if (*c != ' ' && *c != '\t' && *c != '\r')
			return config_fail(p, p->lineno, "text after the section header");
	}
	memcpy(buf, line + 1, (size_t)(close - line - 1));
	buf[close - line - 1] = '\0';
	for (const char *c = buf; *c; c++)
		if (!(is_alnum(*c) || *c == '_' || *c == '-' || *c == ' ' || *c == '\t'))
			return config_fail(p, p->lineno, "invalid character 0x%02x in section header",
				    (unsigned char)*c);

	if ((r = config_end_section(p)) < 0)
		return r;
	p->kind = SEC_NONE;
	memset(p->keyline, 0, sizeof(p->keyline));
	p->section_line = p->lineno;

	n = split_words(buf, words);
	if (n == 0)
		return config_fail(p, p->lineno, "empty section header");
	if (strcmp(words[0], "node") == 0) {
		if (n != 1)
			return config_fail(p, p->lineno, "[node] takes no name");
		if (p->node_line)
			return config_fail(p, p->lineno, "duplicate section [node] (first at line %u)",
				    p->node_line);
		p->node_line = p->lineno;
		p->kind = SEC_NODE;
		return 0;
	}
	if (strcmp(words[0], "peer") == 0) {
		struct config_peer *peer;

		if (n != 2)
			return config_fail(p, p->lineno, "expected [peer NAME]");
		if (!policy_name_valid(words[1]))
			return config_fail(p, p->lineno, "peer name '%s' is not [a-z0-9_-]{1,%d}", words[1],
				    POLICY_NAME_MAX);
		if ((peer = find_peer(cfg, words[1])))
			return config_fail(p, p->lineno, "duplicate section [peer %s] (first at line %u)",
				    words[1], peer->line);
		if (cfg->n_peers >= CONFIG_MAX_PEERS)
			return config_fail(p, p->lineno, "more than %d peers", CONFIG_MAX_PEERS);
		peer = &cfg->peers[cfg->n_peers++];
		memcpy(peer->name, words[1], strlen(words[1]) + 1);
		peer->line = p->lineno;
		peer->tls_group = CONFIG_TLS_X25519MLKEM768;
		p->peer = peer;
		p->kind = SEC_PEER;
		return 0;
	}
	if (strcmp(words[0], "class") == 0) {
		struct config_peer *peer;
		struct config_class *cls;

		if (n != 3)
			return config_fail(p, p->lineno, "expected [class PEER NAME]");
		if (!(peer = find_peer(cfg, words[1])))
			return config_fail(p, p->lineno,
				    "class for unknown peer '%s' (a [peer %s] section must come first)",
				    words[1], words[1]);
		if (!policy_name_valid(words[2]))
			return config_fail(p, p->lineno, "class name '%s' is not [a-z0-9_-]{1,%d}",
				    words[2], POLICY_NAME_MAX);
		for (size_t i = 0; i < peer->n_classes; i++)
			if (strcmp(peer->classes[i].policy.name, words[2]) == 0)
				return config_fail(p, p->lineno,
					    "duplicate section [class %s %s] (first at line %u)",
					    words[1], words[2], peer->classes[i].line);
		if (peer->n_classes >= CONFIG_MAX_CLASSES)
			return config_fail(p, p->lineno, "more than %d classes for peer '%s'",
				    CONFIG_MAX_CLASSES, peer->name);
		cls = &peer->classes[peer->n_classes++];
		policy_init(&cls->policy, words[2]);
		cls->line = p->lineno;
		p->peer = peer;
		p->cls = cls;
		p->kind = SEC_CLASS;
		return 0;
	}
	if (strcmp(words[0], "supply") == 0) {
		if (n != 1)
			return config_fail(p, p->lineno, "[supply] takes no name");
		if (cfg->supply.enabled)
			return config_fail(p, p->lineno, "duplicate section [supply] (first at line %u)",
				    cfg->supply.line);
		cfg->supply.enabled = true;
		cfg->supply.line = p->lineno;
		cfg->supply.threads = 16;
		cfg->supply.max_key_per_request = 128;
		cfg->supply.reserve = 2048;
		p->kind = SEC_SUPPLY;
		return 0;
	}
	if (strcmp(words[0], "sae") == 0) {
		struct config_sae *sae;
		size_t id_len;

		if (n != 2)
			return config_fail(p, p->lineno, "expected [sae NAME] (NAME: the SAE ID)");
		id_len = strlen(words[1]);
		if (id_len > CONFIG_SAE_ID_MAX)
			return config_fail(p, p->lineno, "SAE ID longer than %d characters", CONFIG_SAE_ID_MAX);
		for (size_t i = 0; i < cfg->n_saes; i++)
			if (strcmp(cfg->saes[i].id, words[1]) == 0)
				return config_fail(p, p->lineno, "duplicate section [sae %s] (first at line %u)",
					    words[1], cfg->saes[i].line);
		if (cfg->n_saes >= CONFIG_MAX_SAES)
			return config_fail(p, p->lineno, "more than %d SAEs", CONFIG_MAX_SAES);
		sae = &cfg->saes[cfg->n_saes++];
		memcpy(sae->id, words[1], id_len + 1);
		sae->line = p->lineno;
		sae->roles = CONFIG_SAE_MASTER | CONFIG_SAE_SLAVE;
		sae->key_bits = 256;
		p->sae = sae;
		p->kind = SEC_SAE;
		return 0;
	}
	return config_fail(p, p->lineno, "unknown section [%s] (node, peer, class, supply or sae)",
		    words[0]);
}


/* ---- whole file -------------------------------------------------------------------------- */

int config_check_all(struct parser *p)
{
	struct config *cfg = p->cfg;
	unsigned eof_line = p->lineno ? p->lineno : 1;

	if (!p->node_line)
		return config_fail(p, eof_line, "missing section [node]");
	if (cfg->n_peers == 0)
		return config_fail(p, eof_line, "no [peer NAME] section");
	if (cfg->node.qkd_kme.port && (!cfg->node.qkd_sae_id[0] || !cfg->node.qkd_cert[0] ||
				       !cfg->node.qkd_key[0] || !cfg->node.qkd_ca[0]))
		return config_fail(p, p->node_line,
			    "qkd_kme needs qkd_sae_id, qkd_cert, qkd_key and qkd_ca in [node]");
	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct config_peer *peer = &cfg->peers[i];

		if (peer->n_classes == 0)
			return config_fail(p, peer->line,
				    "peer '%s' has no data protection class ([class %s NAME])",
				    peer->name, peer->name);
		for (size_t c = 0; c < peer->n_classes; c++) {
			const struct class_policy *pol = &peer->classes[c].policy;
			const struct class_lines *cl = &p->class_lines[i][c];

			/* A required qkd014 needs the local KME and the peer's SAE ID. */
			for (size_t j = 0; j < pol->n_required; j++) {
				if (pol->required[j] != KEX_ID_QKD014)
					continue;
				if (!cfg->node.qkd_kme.port)
					return config_fail(p, cl->required,
						    "method qkd014 needs qkd_kme (and qkd_sae_id, qkd_cert, "
						    "qkd_key, qkd_ca) in [node]");
				if (!peer->qkd_sae_id[0])
					return config_fail(p, cl->required,
						    "method qkd014 needs qkd_sae_id in [peer %s]", peer->name);
			}
			/* A static McEliece method needs our key pair and the peer's pin. */
			for (size_t s = 0; s < CONFIG_MCELIECE_N; s++) {
				const struct kex_method *m = kex_method_by_name(mceliece_methods[s]);
				unsigned line = 0;

				if (!m)
					continue;
				for (size_t j = 0; j < pol->n_required; j++)
					if (pol->required[j] == m->id)
						line = cl->required;
				for (size_t j = 0; j < pol->n_optional; j++)
					if (pol->optional[j] == m->id)
						line = cl->optional;
				if (!line)
					continue;
				if (!cfg->node.mceliece[s].set)
					return config_fail(p, line,
						    "method %s needs %s_key and %s_pub in [node]",
						    m->name, m->name, m->name);
				if (!peer->mceliece[s].set)
					return config_fail(p, line,
						    "method %s needs pin_%s and pin_%s_sha3 in [peer %s]",
						    m->name, m->name, m->name, peer->name);
			}
		}
	}
	return 0;
}

/* The key supply's SAE table (docs/key-supply.md): references and the one-per-pool rules. */
int config_check_saes(struct parser *p)
{
	struct config *cfg = p->cfg;
	const struct config_supply *sup = &cfg->supply;

	if (cfg->n_saes && !sup->enabled)
		return config_fail(p, cfg->saes[0].line, "[sae %s] needs a [supply] section",
			    cfg->saes[0].id);
	for (size_t i = 0; i < cfg->n_saes; i++) {
		const struct config_sae *a = &cfg->saes[i];
		const unsigned *kl = p->sae_keyline[i];
		const struct config_peer *peer = config_peer_by_name(cfg, a->peer);

		if (!peer)
			return config_fail(p, kl[SAE_PEER], "peer: no [peer %s] section", a->peer);
		for (size_t c = 0; c < a->n_classes; c++)
			if (!config_class_by_name(peer, a->classes[c]))
				return config_fail(p, kl[SAE_CLASSES], "classes: no [class %s %s] section",
					    a->peer, a->classes[c]);
		if (a->key_bits % 8)
			return config_fail(p, kl[SAE_KEY_SIZE], "key_size: %u bits is not a multiple of 8",
				    a->key_bits);
		if (a->remote) {
			if (kl[SAE_ROLE])
				return config_fail(p, kl[SAE_ROLE], "role: only for local SAEs");
			if (kl[SAE_SERIAL])
				return config_fail(p, kl[SAE_SERIAL], "serial: only for local SAEs");
		} else if (sup->sae_id_from == ETSI014_SAE_ID_SERIAL && !a->serial[0]) {
			return config_fail(p, a->line, "[sae %s]: sae_id_from = serial needs serial", a->id);
		} else if (sup->sae_id_from != ETSI014_SAE_ID_SERIAL && a->serial[0]) {
			return config_fail(p, kl[SAE_SERIAL], "serial: only with sae_id_from = serial "
				    "([supply], line %u)", sup->line);
		}
		for (size_t j = 0; j < i; j++) {
			const struct config_sae *b = &cfg->saes[j];
			const char *shared = NULL;
			size_t common = 0;

			if (strcmp(a->peer, b->peer) != 0)
				continue;
			for (size_t c = 0; c < a->n_classes; c++)
				for (size_t d = 0; d < b->n_classes; d++)
					if (!strcmp(a->classes[c], b->classes[d])) {
						shared = a->classes[c];
						common++;
					}
			if (!common)
				continue;
			if (a->remote && b->remote)
				return config_fail(p, kl[SAE_CLASSES], "remote SAE %s uses the pool of peer %s "
					    "class %s like [sae %s] (line %u): one remote SAE per pool",
					    a->id, a->peer, shared, b->id, b->line);
			if (!a->remote && !b->remote && (a->roles & b->roles & CONFIG_SAE_SLAVE))
				return config_fail(p, kl[SAE_CLASSES], "SAE %s is a slave of peer %s class %s "
					    "like [sae %s] (line %u): one slave SAE per pool", a->id,
					    a->peer, shared, b->id, b->line);
			if (a->remote != b->remote && common > 1)
				return config_fail(p, kl[SAE_CLASSES], "SAEs %s and %s (line %u) share %zu "
					    "classes of peer %s: which pool serves them is ambiguous "
					    "(at most one in common)", a->id, b->id, b->line, common,
					    a->peer);
		}
	}
	return 0;
}

void config_node_defaults(struct config_node *node)
{
	struct config_addr *a = &node->listen;

	memcpy(a->host, "::", 3);
	a->port = 7400;
	a->family = AF_INET6;
	memcpy(node->state_dir, CONFIG_DEFAULT_STATE_DIR, sizeof(CONFIG_DEFAULT_STATE_DIR));
	memcpy(node->admin_socket, CONFIG_DEFAULT_ADMIN_SOCKET, sizeof(CONFIG_DEFAULT_ADMIN_SOCKET));
	memcpy(node->psk_dir, CONFIG_DEFAULT_PSK_DIR, sizeof(CONFIG_DEFAULT_PSK_DIR));
	node->log_level = MFS_LOG_INFO;
	node->push_socket_mode = CONFIG_DEFAULT_PUSH_MODE;
	node->push_socket_group = CONFIG_NO_GROUP;
	node->push_socket_owner = CONFIG_NO_GROUP;
	node->static_rotate_s = CONFIG_DEFAULT_STATIC_ROTATE_S;
	node->static_grace_s = CONFIG_DEFAULT_STATIC_GRACE_S;
}

const char *config_mceliece_method(enum config_mceliece set)
{
	return (unsigned)set < CONFIG_MCELIECE_N ? mceliece_methods[set] : "?";
}
