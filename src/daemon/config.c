/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfsd configuration loader. The format and every rule: docs/config.md.
 *
 * inih splits "key = value" lines; everything else happens here. Lines reach
 * inih through our own reader (ini_parse_stream), which
 *   - counts lines, so every message names one (the Debian inih is built
 *     without INI_HANDLER_LINENO);
 *   - strips leading whitespace, so inih's multi-line continuation never
 *     applies (an indented line is an ordinary line);
 *   - refuses NUL and control bytes and lines longer than CONFIG_LINE_MAX
 *     (inih would silently split them);
 *   - parses [section] headers itself, so empty and repeated sections are
 *     seen (inih reports only keys).
 * The first error stops everything: the reader returns NULL (end of input
 * for inih) and the handler ignores whatever inih still delivers.
 *
 * The whole configuration is built in one calloc()ed object that is handed
 * over only after the last check, so nothing is ever half-loaded.
 */
#include "daemon/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "base/err.h"
#include "base/file.h"
#include "base/hex.h"
#include "crypto/hash.h"
#include "etsi014/server.h"

#define SECTION_KEYS_MAX 32

enum section_kind {
	SEC_NONE,
	SEC_NODE,
	SEC_PEER,
	SEC_CLASS,
	SEC_SUPPLY,
	SEC_SAE,
};

enum vtype {
	V_ID,		/* node id */
	V_PSK_ID,	/* kex/psk_file.h syntax */
	V_PATH,
	V_SOCKET_PATH,
	V_LISTEN,	/* address literal:port */
	V_ADDR,		/* address literal or DNS name:port */
	V_LOG_LEVEL,
	V_SHA256,	/* 64 hex digits */
	V_TLS_GROUP,
	V_METHODS,
	V_U8,
	V_U32,
	V_DURATION,
	V_SIZE,
	V_COMBINER,
	V_MODE,		/* octal permission bits */
	V_PRINCIPALS,	/* uid:N / gid:N list */
	V_SAE_ID_FROM,	/* cn, san-dns, san-uri, serial */
	V_LOCATION,	/* local, remote */
	V_ROLE,		/* master, slave, both */
	V_NAME,		/* peer name: policy_name_valid() */
	V_NAMES,	/* class names, comma separated */
	V_SERIAL,	/* hex digits */
};

struct key_def {
	const char *name;
	enum vtype type;
	size_t off, size;	/* field in the section's struct; size for strings */
	size_t off_n;		/* V_METHODS: the count field */
	uint64_t min, max;	/* numbers, durations, sizes */
	bool required;
};

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

/* Lines of the keys the end-of-file checks point at. */
struct class_lines {
	unsigned required, optional;
};

struct parser {
	const char *text;
	size_t len, pos;
	unsigned lineno;		/* of the line inih is working on */
	const struct config_options *opts;
	struct config *cfg;

	bool failed;
	unsigned err_line;
	char err_reason[CONFIG_ERROR_REASON_MAX];

	enum section_kind kind;
	unsigned section_line;
	unsigned keyline[SECTION_KEYS_MAX];	/* current section: line of each key, 0 = unset */
	struct config_peer *peer;
	struct config_class *cls;
	unsigned node_line;
	unsigned node_keyline[SECTION_KEYS_MAX];
	struct class_lines class_lines[CONFIG_MAX_PEERS][CONFIG_MAX_CLASSES];
	struct config_sae *sae;
	unsigned sae_keyline[CONFIG_MAX_SAES][SECTION_KEYS_MAX];
	unsigned supply_keyline[SECTION_KEYS_MAX];
};

__attribute__((format(printf, 3, 4)))
static int fail(struct parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return -EBADMSG;
	p->failed = true;
	p->err_line = line;
	va_start(ap, fmt);
	vsnprintf(p->err_reason, sizeof(p->err_reason), fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

static void error_set(struct config_error *err, const char *file, unsigned line,
		      const char *reason)
{
	size_t n;

	if (!err)
		return;
	memset(err, 0, sizeof(*err));
	n = strlen(file);
	if (n >= sizeof(err->file))
		n = sizeof(err->file) - 1;
	memcpy(err->file, file, n);
	err->line = line;
	n = strlen(reason);
	if (n >= sizeof(err->reason))
		n = sizeof(err->reason) - 1;
	memcpy(err->reason, reason, n);
	if (line)
		snprintf(err->text, sizeof(err->text), "%s:%u: %s", err->file, line, err->reason);
	else
		snprintf(err->text, sizeof(err->text), "%s: %s", err->file, err->reason);
}

/* ---- value syntax ---------------------------------------------------------------------- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* [A-Za-z0-9._-]{1,max}: node ids and PSK IDs (kex/psk_file.h). */
static bool token_valid(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (n >= max || !(is_alnum(s[n]) || s[n] == '.' || s[n] == '_' || s[n] == '-'))
			return false;
	return n > 0;
}

/*
 * A decimal number at the start of s, at most max; *end after its digits.
 * Digits only: strtoull alone would take a sign, spaces and overflow quietly.
 */
static int parse_number(const char *s, uint64_t max, uint64_t *ret, const char **end)
{
	unsigned long long v;
	char *e;

	if (!is_digit(s[0]))
		return -EBADMSG;
	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno == ERANGE || v > max)
		return -ERANGE;
	*ret = v;
	*end = e;
	return 0;
}

struct unit {
	const char *name;
	uint64_t mult;
};

static const struct unit duration_units[] = {
	{"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400},
};

static const struct unit size_units[] = {
	{"B", 1}, {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20}, {"GiB", 1ULL << 30},
	{"TiB", 1ULL << 40}, {"PiB", 1ULL << 50},
};

/* <digits><unit> with one of units; the product within min..max. */
static int parse_with_unit(struct parser *p, const struct key_def *k, const char *v,
			   const struct unit *units, size_t n_units, const char *what,
			   uint64_t *ret)
{
	const char *end;
	uint64_t n;
	int r;

	r = parse_number(v, UINT64_MAX, &n, &end);
	if (r == -EBADMSG)
		return fail(p, p->lineno, "%s: '%s' is not a %s (e.g. %s)", k->name, v, what,
			    units == duration_units ? "30s, 10m, 1h, 7d" : "64MiB, 16GiB, 1TiB");
	if (r < 0)
		return fail(p, p->lineno, "%s: '%s' is too large", k->name, v);
	if (!*end)
		return fail(p, p->lineno, "%s: '%s' has no unit (%s)", k->name, v,
			    units == duration_units ? "s, m, h or d" : "B, KiB, MiB, GiB, TiB or PiB");
	for (size_t i = 0; i < n_units; i++) {
		if (strcmp(end, units[i].name) != 0)
			continue;
		if (n == 0)
			return fail(p, p->lineno, "%s: must be greater than zero", k->name);
		if (n > k->max / units[i].mult)
			return fail(p, p->lineno, "%s: '%s' is too large (at most %s)", k->name, v,
				    units == duration_units ? "365d" : "1PiB");
		*ret = n * units[i].mult;
		return 0;
	}
	return fail(p, p->lineno, "%s: unknown unit '%s' in '%s' (%s)", k->name, end, v,
		    units == duration_units ? "s, m, h or d" : "B, KiB, MiB, GiB, TiB or PiB");
}

/* RFC 1123 host name: dot-separated labels [A-Za-z0-9-]{1,63}, no '-' at either end. */
static bool hostname_valid(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > CONFIG_HOST_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if (is_alnum(c) || c == '-') {
			if ((label == 0 && c == '-') || ++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0 && s[len - 1] != '-';
}

/* host:port, [v6]:port; a DNS name only when names_ok. */
static int parse_addr(struct parser *p, const struct key_def *k, const char *v, bool names_ok,
		      struct config_addr *ret)
{
	const char *host, *colon, *port_s, *end;
	size_t host_len;
	uint64_t port;
	char buf[CONFIG_HOST_MAX + 1];
	unsigned char bin[16];
	int family;

	if (v[0] == '[') {
		const char *close = strchr(v, ']');

		if (!close)
			return fail(p, p->lineno, "%s: '%s' has no closing ']'", k->name, v);
		host = v + 1;
		host_len = (size_t)(close - host);
		if (close[1] != ':')
			return fail(p, p->lineno, "%s: '%s' needs a port: [address]:port", k->name, v);
		port_s = close + 2;
		family = AF_INET6;
	} else {
		colon = strrchr(v, ':');
		if (!colon)
			return fail(p, p->lineno, "%s: '%s' needs a port: host:port", k->name, v);
		host = v;
		host_len = (size_t)(colon - v);
		if (memchr(host, ':', host_len))
			return fail(p, p->lineno,
				    "%s: '%s': write an IPv6 address in brackets, [address]:port",
				    k->name, v);
		port_s = colon + 1;
		family = AF_INET;
	}
	if (host_len == 0 || host_len > CONFIG_HOST_MAX)
		return fail(p, p->lineno, "%s: '%s' has an empty or too long host", k->name, v);
	memcpy(buf, host, host_len);
	buf[host_len] = '\0';
	if (parse_number(port_s, 65535, &port, &end) < 0 || *end || port == 0)
		return fail(p, p->lineno, "%s: bad port in '%s' (1..65535)", k->name, v);

	if (inet_pton(family, buf, bin) != 1) {
		if (family == AF_INET6)
			return fail(p, p->lineno, "%s: '%s' is not an IPv6 address", k->name, buf);
		if (!names_ok)
			return fail(p, p->lineno, "%s: '%s' is not an IP address", k->name, buf);
		if (!hostname_valid(buf, host_len))
			return fail(p, p->lineno, "%s: '%s' is not a valid host name", k->name, buf);
		family = AF_UNSPEC;
	}
	memcpy(ret->host, buf, host_len + 1);
	ret->port = (uint16_t)port;
	ret->family = family;
	return 0;
}

/* Copy a path, resolved against the base directory when relative. */
static int parse_path(struct parser *p, const struct key_def *k, const char *v, char *out,
		      size_t size)
{
	const char *base = p->opts->base_dir;
	int n;

	for (const char *c = v; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return fail(p, p->lineno, "%s: control character in path", k->name);
	if (v[0] != '/' && base && base[0])
		n = snprintf(out, size, "%s%s%s", base, base[strlen(base) - 1] == '/' ? "" : "/", v);
	else
		n = snprintf(out, size, "%s", v);
	if (n < 0 || (size_t)n >= size) {
		out[0] = '\0';
		return fail(p, p->lineno, "%s: path too long (at most %zu bytes once resolved)",
			    k->name, size - 1);
	}
	return 0;
}

/*
 * The entry of a comma-separated list that starts at *next, trimmed of blanks:
 * returned as its start and *end; *next moves past its comma, or to NULL
 * after the last entry.
 */
static const char *list_entry(const char **next, const char **end)
{
	const char *s = *next, *comma = strchr(s, ','), *e = comma ? comma : s + strlen(s);

	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*next = comma ? comma + 1 : NULL;
	*end = e;
	return s;
}

static int parse_methods(struct parser *p, const struct key_def *k, const char *v,
			 uint16_t *ids, size_t *n_ids)
{
	const struct kex_method *const *all;
	size_t n_all = kex_methods(&all);
	size_t n = 0;
	const char *next = v;

	while (next) {
		const char *end, *s = list_entry(&next, &end);
		char name[POLICY_NAME_MAX + 1];
		const struct kex_method *m;
		size_t len;

		len = (size_t)(end - s);
		if (len == 0)
			return fail(p, p->lineno, "%s: empty method name in '%s'", k->name, v);
		if (len > POLICY_NAME_MAX)
			return fail(p, p->lineno, "%s: unknown method '%.*s'", k->name,
				    POLICY_NAME_MAX, s);
		memcpy(name, s, len);
		name[len] = '\0';
		m = kex_method_by_name(name);
		if (!m) {
			for (size_t i = 0; i < n_all; i++)
				if (strcmp(all[i]->name, name) == 0)
					return fail(p, p->lineno,
						    "%s: method '%s' is not available here "
						    "(the crypto provider lacks it)", k->name, name);
			return fail(p, p->lineno, "%s: unknown method '%s' (see mfs-kex list)",
				    k->name, name);
		}
		for (size_t i = 0; i < n; i++)
			if (ids[i] == m->id)
				return fail(p, p->lineno, "%s: method '%s' listed twice", k->name,
					    name);
		if (n >= POLICY_MAX_METHODS)
			return fail(p, p->lineno, "%s: more than %d methods", k->name,
				    POLICY_MAX_METHODS);
		ids[n++] = m->id;
	}
	*n_ids = n;
	return 0;
}

/* push_allow: "uid:N" or "gid:N", comma-separated, N decimal. */
static int parse_principals(struct parser *p, const struct key_def *k, const char *v,
			    struct config_principal *out, size_t *n_out)
{
	size_t n = 0;
	const char *next = v;

	while (next) {
		const char *end, *e, *s = list_entry(&next, &end);
		struct config_principal pr;
		uint64_t id;
		size_t len;

		len = (size_t)(end - s);
		if (len == 0)
			return fail(p, p->lineno, "%s: empty entry in '%s'", k->name, v);
		if (len > 4 && !strncmp(s, "uid:", 4))
			pr.kind = CONFIG_PRINCIPAL_UID;
		else if (len > 4 && !strncmp(s, "gid:", 4))
			pr.kind = CONFIG_PRINCIPAL_GID;
		else
			return fail(p, p->lineno, "%s: '%.*s' is not uid:N or gid:N", k->name,
				    (int)(len > 40 ? 40 : len), s);
		if (parse_number(s + 4, CONFIG_NO_GROUP - 1, &id, &e) < 0 || e != end)
			return fail(p, p->lineno, "%s: '%.*s': N must be a number below 4294967295",
				    k->name, (int)(len > 40 ? 40 : len), s);
		pr.id = (uint32_t)id;
		for (size_t i = 0; i < n; i++)
			if (out[i].kind == pr.kind && out[i].id == pr.id)
				return fail(p, p->lineno, "%s: '%.*s' listed twice", k->name,
					    (int)len, s);
		if (n >= CONFIG_PUSH_ALLOW_MAX)
			return fail(p, p->lineno, "%s: more than %d entries", k->name,
				    CONFIG_PUSH_ALLOW_MAX);
		out[n++] = pr;
	}
	*n_out = n;
	return 0;
}

static int parse_value(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	uint8_t *field = (uint8_t *)obj + k->off;
	uint64_t n;
	const char *end;
	int r;

	switch (k->type) {
	case V_ID:
		if (!token_valid(v, CONFIG_ID_MAX))
			return fail(p, p->lineno, "%s: '%s' is not [A-Za-z0-9._-]{1,%d}", k->name, v,
				    CONFIG_ID_MAX);
		memcpy(field, v, strlen(v) + 1);
		return 0;
	case V_PSK_ID:
		if (!token_valid(v, KEX_PSK_ID_MAX))
			return fail(p, p->lineno, "%s: '%s' is not a PSK ID ([A-Za-z0-9._-]{1,%d})",
				    k->name, v, KEX_PSK_ID_MAX);
		memcpy(field, v, strlen(v) + 1);
		return 0;
	case V_PATH:
		return parse_path(p, k, v, (char *)field, k->size);
	case V_SOCKET_PATH:
		return parse_path(p, k, v, (char *)field, k->size);
	case V_LISTEN:
		return parse_addr(p, k, v, false, (struct config_addr *)field);
	case V_ADDR:
		return parse_addr(p, k, v, true, (struct config_addr *)field);
	case V_LOG_LEVEL: {
		enum mfs_log_level level;

		if (mfs_log_level_parse(v, &level) < 0)
			return fail(p, p->lineno,
				    "%s: unknown level '%s' (err, warning, notice, info, debug)",
				    k->name, v);
		memcpy(field, &level, sizeof(level));
		return 0;
	}
	case V_SHA256:
		if (strlen(v) != 2 * CONFIG_SHA256_LEN ||
		    hex_decode(field, CONFIG_SHA256_LEN, v, strlen(v)) < 0)
			return fail(p, p->lineno, "%s: must be exactly 64 hex digits", k->name);
		return 0;
	case V_TLS_GROUP: {
		enum config_tls_group g;

		if (strcasecmp(v, "X25519MLKEM768") == 0)
			g = CONFIG_TLS_X25519MLKEM768;
		else if (strcasecmp(v, "MLKEM1024") == 0)
			g = CONFIG_TLS_MLKEM1024;
		else
			return fail(p, p->lineno,
				    "%s: unknown TLS group '%s' (X25519MLKEM768 or MLKEM1024)",
				    k->name, v);
		memcpy(field, &g, sizeof(g));
		return 0;
	}
	case V_METHODS: {
		size_t count = 0;

		if ((r = parse_methods(p, k, v, (uint16_t *)field, &count)) < 0)
			return r;
		memcpy((uint8_t *)obj + k->off_n, &count, sizeof(count));
		return 0;
	}
	case V_U8:
	case V_U32:
		r = parse_number(v, UINT64_MAX, &n, &end);
		if (r == -EBADMSG || (r == 0 && *end))
			return fail(p, p->lineno, "%s: '%s' is not a number", k->name, v);
		if (r < 0 || n < k->min || n > k->max)
			return fail(p, p->lineno, "%s: %s is out of range (%llu..%llu)", k->name, v,
				    (unsigned long long)k->min, (unsigned long long)k->max);
		if (k->type == V_U8)
			*field = (uint8_t)n;
		else
			memcpy(field, &(uint32_t){(uint32_t)n}, sizeof(uint32_t));
		return 0;
	case V_DURATION:
		if ((r = parse_with_unit(p, k, v, duration_units, ARRAY_LEN(duration_units),
					 "duration", &n)) < 0)
			return r;
		memcpy(field, &(uint32_t){(uint32_t)n}, sizeof(uint32_t));
		return 0;
	case V_SIZE:
		if ((r = parse_with_unit(p, k, v, size_units, ARRAY_LEN(size_units), "size",
					 &n)) < 0)
			return r;
		memcpy(field, &n, sizeof(n));
		return 0;
	case V_MODE: {
		size_t len = strlen(v);
		uint32_t mode = 0;

		if (len < 1 || len > 4)
			return fail(p, p->lineno, "%s: '%s' is not an octal mode (e.g. 0660)", k->name,
				    v);
		for (size_t i = 0; i < len; i++) {
			if (v[i] < '0' || v[i] > '7')
				return fail(p, p->lineno, "%s: '%s' is not an octal mode (e.g. 0660)",
					    k->name, v);
			mode = mode * 8 + (uint32_t)(v[i] - '0');
		}
		if (mode > k->max)
			return fail(p, p->lineno, "%s: %s is over 0777", k->name, v);
		memcpy(field, &mode, sizeof(mode));
		return 0;
	}
	case V_PRINCIPALS: {
		size_t count = 0;

		if ((r = parse_principals(p, k, v, (struct config_principal *)field, &count)) < 0)
			return r;
		memcpy((uint8_t *)obj + k->off_n, &count, sizeof(count));
		return 0;
	}
	case V_SAE_ID_FROM: {
		enum etsi014_sae_id_from f;

		if (etsi014_sae_id_from_parse(v, &f) < 0)
			return fail(p, p->lineno, "%s: unknown source '%s' (cn, san-dns, san-uri or serial)",
				    k->name, v);
		memcpy(field, &(uint32_t){(uint32_t)f}, sizeof(uint32_t));
		return 0;
	}
	case V_LOCATION:
		if (strcmp(v, "local") && strcmp(v, "remote"))
			return fail(p, p->lineno, "%s: '%s' is not local or remote", k->name, v);
		*(bool *)field = v[0] == 'r';
		return 0;
	case V_ROLE: {
		uint32_t roles = !strcmp(v, "master") ? CONFIG_SAE_MASTER :
				 !strcmp(v, "slave") ? CONFIG_SAE_SLAVE :
				 !strcmp(v, "both") ? CONFIG_SAE_MASTER | CONFIG_SAE_SLAVE : 0;

		if (!roles)
			return fail(p, p->lineno, "%s: '%s' is not master, slave or both", k->name, v);
		memcpy(field, &roles, sizeof(roles));
		return 0;
	}
	case V_NAME:
		if (!policy_name_valid(v))
			return fail(p, p->lineno, "%s: '%s' is not [a-z0-9_-]{1,%d}", k->name, v,
				    POLICY_NAME_MAX);
		memcpy(field, v, strlen(v) + 1);
		return 0;
	case V_NAMES: {
		char (*names)[POLICY_NAME_MAX + 1] = (void *)field;
		size_t count = 0;
		const char *c = v;

		while (*c) {
			char w[POLICY_NAME_MAX + 2];
			size_t len = 0;

			while (*c == ' ' || *c == '\t' || *c == ',')
				c++;
			if (!*c)
				break;
			while (c[len] && c[len] != ',' && c[len] != ' ' && c[len] != '\t')
				len++;
			if (len > POLICY_NAME_MAX)
				return fail(p, p->lineno, "%s: name too long", k->name);
			memcpy(w, c, len);
			w[len] = 0;
			c += len;
			if (!policy_name_valid(w))
				return fail(p, p->lineno, "%s: '%s' is not [a-z0-9_-]{1,%d}", k->name, w,
					    POLICY_NAME_MAX);
			for (size_t i = 0; i < count; i++)
				if (!strcmp(names[i], w))
					return fail(p, p->lineno, "%s: '%s' listed twice", k->name, w);
			if (count == CONFIG_MAX_CLASSES)
				return fail(p, p->lineno, "%s: more than %d names", k->name,
					    CONFIG_MAX_CLASSES);
			memcpy(names[count++], w, len + 1);
		}
		if (!count)
			return fail(p, p->lineno, "%s: empty list", k->name);
		memcpy((uint8_t *)obj + k->off_n, &count, sizeof(count));
		return 0;
	}
	case V_SERIAL: {
		size_t len = strlen(v);

		if (len == 0 || len > CONFIG_SERIAL_MAX)
			return fail(p, p->lineno, "%s: 1..%d hex digits", k->name, CONFIG_SERIAL_MAX);
		for (size_t i = 0; i < len; i++)
			if (!is_digit(v[i]) && !((v[i] | 0x20) >= 'a' && (v[i] | 0x20) <= 'f'))
				return fail(p, p->lineno, "%s: '%s' is not hex digits (the certificate "
					    "serial, as openssl x509 -serial prints it)", k->name, v);
		memcpy(field, v, len + 1);
		return 0;
	}
	case V_COMBINER: {
		enum combiner_mode mode;

		if (strcmp(v, "catkdf") == 0)
			mode = COMBINER_CATKDF;
		else if (strcmp(v, "caskdf") == 0)
			mode = COMBINER_CASKDF;
		else if (strcmp(v, "xor-its") == 0)
			mode = COMBINER_XOR_ITS;
		else
			return fail(p, p->lineno,
				    "%s: unknown combiner '%s' (catkdf, caskdf or xor-its)", k->name,
				    v);
		memcpy(field, &mode, sizeof(mode));
		return 0;
	}
	}
	return fail(p, p->lineno, "%s: internal error", k->name);
}

/* ---- sections ---------------------------------------------------------------------------- */

static const struct key_def *section_keys(enum section_kind kind, size_t *n)
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

static const char *section_label(enum section_kind kind)
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
	const struct key_def *keys = section_keys(p->kind, &n);

	for (size_t i = 0; i < n; i++)
		if (keys[i].required && !p->keyline[i])
			return fail(p, p->section_line, "%s: missing required key '%s'",
				    section_label(p->kind), keys[i].name);
	return 0;
}

/* Both keys of a pair, or neither: line of the one that is there. */
static int check_pair(struct parser *p, const unsigned *lines, const struct key_def *keys,
		      size_t a, size_t b, bool *set)
{
	*set = lines[a] && lines[b];
	if (lines[a] && !lines[b])
		return fail(p, lines[a], "%s needs %s as well", keys[a].name, keys[b].name);
	if (lines[b] && !lines[a])
		return fail(p, lines[b], "%s needs %s as well", keys[b].name, keys[a].name);
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
		return fail(p, path_line, "cannot read pinned McEliece key '%s': %s", pin->path,
			    mfs_strerror(r));
	r = hash(HASH_SHA3_256, data, len, digest);
	free(data);
	if (r < 0)
		return fail(p, sha3_line, "cannot hash '%s': %s", pin->path, mfs_strerror(r));
	if (memcmp(digest, pin->sha3, sizeof(digest)) != 0)
		return fail(p, sha3_line,
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
			return fail(p, p->keyline[PEER_CERT],
				    "pin_cert_sha256 is the same as peer '%s''s (line %u)",
				    p->cfg->peers[i].name, p->cfg->peers[i].line);
	return 0;
}

static const char *method_name(uint16_t id)
{
	const struct kex_method *m = kex_method_by_id(id);

	return m ? m->name : "?";
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
				return fail(p, kl[CLASS_OPTIONAL],
					    "method '%s' is both required (line %u) and optional",
					    method_name(pol->optional[i]), kl[CLASS_REQUIRED]);
	if (pol->n_required + pol->n_optional > COMBINER_MAX_METHODS)
		return fail(p, kl[CLASS_OPTIONAL] ? kl[CLASS_OPTIONAL] : kl[CLASS_REQUIRED],
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
		return fail(p, kl[CLASS_REQUIRED],
			    "the required methods give %zu post-quantum factor(s), min_pq is %u",
			    n_pq, pol->min_pq_factors);
	if (n_fam < pol->min_families)
		return fail(p, kl[CLASS_REQUIRED],
			    "the required methods are of %zu famil%s, min_families is %u", n_fam,
			    n_fam == 1 ? "y" : "ies", pol->min_families);
	if (pol->combiner == COMBINER_XOR_ITS && !(families & (1U << KEX_FAMILY_QKD)))
		return fail(p, kl[CLASS_COMBINER],
			    "combiner xor-its needs a required QKD method (an ITS input)");
	if (pol->pool_low >= pol->pool_high)
		return fail(p, kl[CLASS_POOL_LOW] > kl[CLASS_POOL_HIGH] ? kl[CLASS_POOL_LOW]
									  : kl[CLASS_POOL_HIGH],
			    "pool_low (%u) must be below pool_high (%u)", pol->pool_low,
			    pol->pool_high);
	if (pol->hard_lifetime_s < pol->rekey_interval_s)
		return fail(p, kl[CLASS_HARD_LIFETIME] > kl[CLASS_REKEY_INTERVAL]
			    ? kl[CLASS_HARD_LIFETIME] : kl[CLASS_REKEY_INTERVAL],
			    "hard_lifetime (%us) is shorter than rekey_interval (%us)",
			    pol->hard_lifetime_s, pol->rekey_interval_s);
	if (!kl[CLASS_PSK_ID])
		memcpy(cls->psk_id, p->peer->psk_id, sizeof(cls->psk_id));
	/* Both sides must name the same PSK, so there is no default ID. */
	for (size_t i = 0; i < pol->n_required + pol->n_optional && !cls->psk_id[0]; i++) {
		bool req = i < pol->n_required;

		if ((req ? pol->required[i] : pol->optional[i - pol->n_required]) == KEX_ID_PSK)
			return fail(p, req ? kl[CLASS_REQUIRED] : kl[CLASS_OPTIONAL],
				    "method psk needs psk_id (in this class or in [peer %s])",
				    p->peer->name);
	}
	p->class_lines[p->peer - p->cfg->peers][p->peer->n_classes - 1] =
		(struct class_lines){kl[CLASS_REQUIRED], kl[CLASS_OPTIONAL]};
	return 0;
}

static int end_section(struct parser *p)
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
static int begin_section(struct parser *p, const char *line, size_t len)
{
	struct config *cfg = p->cfg;
	char buf[CONFIG_LINE_MAX + 1];
	const char *close = memchr(line, ']', len);
	char *words[3] = {NULL, NULL, NULL};
	int n, r;

	if (!close)
		return fail(p, p->lineno, "section header without ']'");
	for (const char *c = close + 1; c < line + len; c++) {
		if (*c == ';' || *c == '#')
			break;
		if (*c != ' ' && *c != '\t' && *c != '\r')
			return fail(p, p->lineno, "text after the section header");
	}
	memcpy(buf, line + 1, (size_t)(close - line - 1));
	buf[close - line - 1] = '\0';
	for (const char *c = buf; *c; c++)
		if (!(is_alnum(*c) || *c == '_' || *c == '-' || *c == ' ' || *c == '\t'))
			return fail(p, p->lineno, "invalid character 0x%02x in section header",
				    (unsigned char)*c);

	if ((r = end_section(p)) < 0)
		return r;
	p->kind = SEC_NONE;
	memset(p->keyline, 0, sizeof(p->keyline));
	p->section_line = p->lineno;

	n = split_words(buf, words);
	if (n == 0)
		return fail(p, p->lineno, "empty section header");
	if (strcmp(words[0], "node") == 0) {
		if (n != 1)
			return fail(p, p->lineno, "[node] takes no name");
		if (p->node_line)
			return fail(p, p->lineno, "duplicate section [node] (first at line %u)",
				    p->node_line);
		p->node_line = p->lineno;
		p->kind = SEC_NODE;
		return 0;
	}
	if (strcmp(words[0], "peer") == 0) {
		struct config_peer *peer;

		if (n != 2)
			return fail(p, p->lineno, "expected [peer NAME]");
		if (!policy_name_valid(words[1]))
			return fail(p, p->lineno, "peer name '%s' is not [a-z0-9_-]{1,%d}", words[1],
				    POLICY_NAME_MAX);
		if ((peer = find_peer(cfg, words[1])))
			return fail(p, p->lineno, "duplicate section [peer %s] (first at line %u)",
				    words[1], peer->line);
		if (cfg->n_peers >= CONFIG_MAX_PEERS)
			return fail(p, p->lineno, "more than %d peers", CONFIG_MAX_PEERS);
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
			return fail(p, p->lineno, "expected [class PEER NAME]");
		if (!(peer = find_peer(cfg, words[1])))
			return fail(p, p->lineno,
				    "class for unknown peer '%s' (a [peer %s] section must come first)",
				    words[1], words[1]);
		if (!policy_name_valid(words[2]))
			return fail(p, p->lineno, "class name '%s' is not [a-z0-9_-]{1,%d}",
				    words[2], POLICY_NAME_MAX);
		for (size_t i = 0; i < peer->n_classes; i++)
			if (strcmp(peer->classes[i].policy.name, words[2]) == 0)
				return fail(p, p->lineno,
					    "duplicate section [class %s %s] (first at line %u)",
					    words[1], words[2], peer->classes[i].line);
		if (peer->n_classes >= CONFIG_MAX_CLASSES)
			return fail(p, p->lineno, "more than %d classes for peer '%s'",
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
			return fail(p, p->lineno, "[supply] takes no name");
		if (cfg->supply.enabled)
			return fail(p, p->lineno, "duplicate section [supply] (first at line %u)",
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
			return fail(p, p->lineno, "expected [sae NAME] (NAME: the SAE ID)");
		id_len = strlen(words[1]);
		if (id_len > CONFIG_SAE_ID_MAX)
			return fail(p, p->lineno, "SAE ID longer than %d characters", CONFIG_SAE_ID_MAX);
		for (size_t i = 0; i < cfg->n_saes; i++)
			if (strcmp(cfg->saes[i].id, words[1]) == 0)
				return fail(p, p->lineno, "duplicate section [sae %s] (first at line %u)",
					    words[1], cfg->saes[i].line);
		if (cfg->n_saes >= CONFIG_MAX_SAES)
			return fail(p, p->lineno, "more than %d SAEs", CONFIG_MAX_SAES);
		sae = &cfg->saes[cfg->n_saes++];
		memcpy(sae->id, words[1], id_len + 1);
		sae->line = p->lineno;
		sae->roles = CONFIG_SAE_MASTER | CONFIG_SAE_SLAVE;
		sae->key_bits = 256;
		p->sae = sae;
		p->kind = SEC_SAE;
		return 0;
	}
	return fail(p, p->lineno, "unknown section [%s] (node, peer, class, supply or sae)",
		    words[0]);
}

/* ---- inih callbacks ---------------------------------------------------------------------- */

/* One line per call, counted, leading whitespace stripped (see the top of the file). */
static char *read_line(char *buf, int num, void *arg)
{
	struct parser *p = arg;
	const char *s, *nl;
	size_t len;

	if (p->failed || p->pos >= p->len || num < 2)
		return NULL;
	s = p->text + p->pos;
	nl = memchr(s, '\n', p->len - p->pos);
	len = nl ? (size_t)(nl - s) : p->len - p->pos;
	p->pos += len + (nl ? 1 : 0);
	p->lineno++;

	if (p->lineno == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
		s += 3;
		len -= 3;
	}
	if (len && s[len - 1] == '\r')
		len--;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			fail(p, p->lineno, c ? "control character 0x%02x in line" : "NUL byte in line",
			     c);
			return NULL;
		}
	}
	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	if (len > CONFIG_LINE_MAX || len > (size_t)num - 1) {
		fail(p, p->lineno, "line too long (at most %d characters)", CONFIG_LINE_MAX);
		return NULL;
	}
	if (len && s[0] == '[' && begin_section(p, s, len) < 0)
		return NULL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return buf;
}

static int on_key(struct parser *p, const char *name, const char *value)
{
	size_t n;
	const struct key_def *keys = section_keys(p->kind, &n);
	void *obj;

	if (p->kind == SEC_NONE)
		return fail(p, p->lineno, "key '%s' outside a section", name);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(keys[i].name, name) != 0)
			continue;
		if (p->keyline[i])
			return fail(p, p->lineno, "duplicate key '%s' (first at line %u)", name,
				    p->keyline[i]);
		p->keyline[i] = p->lineno;
		if (!value[0])
			return fail(p, p->lineno, "%s: empty value", name);
		obj = p->kind == SEC_NODE ? (void *)&p->cfg->node
		    : p->kind == SEC_PEER ? (void *)p->peer
		    : p->kind == SEC_SUPPLY ? (void *)&p->cfg->supply
		    : p->kind == SEC_SAE ? (void *)p->sae : (void *)p->cls;
		return parse_value(p, &keys[i], obj, value);
	}
	if (!name[0])
		return fail(p, p->lineno, "missing key name before '='");
	return fail(p, p->lineno, "unknown key '%s' in %s", name, section_label(p->kind));
}

static int on_ini(void *arg, const char *section, const char *name, const char *value)
{
	struct parser *p = arg;

	(void)section;	/* we track sections ourselves */
	if (p->failed)
		return 0;
	return on_key(p, name, value) == 0;
}

/* ---- whole file -------------------------------------------------------------------------- */

static int check_all(struct parser *p)
{
	struct config *cfg = p->cfg;
	unsigned eof_line = p->lineno ? p->lineno : 1;

	if (!p->node_line)
		return fail(p, eof_line, "missing section [node]");
	if (cfg->n_peers == 0)
		return fail(p, eof_line, "no [peer NAME] section");
	if (cfg->node.qkd_kme.port && (!cfg->node.qkd_sae_id[0] || !cfg->node.qkd_cert[0] ||
				       !cfg->node.qkd_key[0] || !cfg->node.qkd_ca[0]))
		return fail(p, p->node_line,
			    "qkd_kme needs qkd_sae_id, qkd_cert, qkd_key and qkd_ca in [node]");
	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct config_peer *peer = &cfg->peers[i];

		if (peer->n_classes == 0)
			return fail(p, peer->line,
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
					return fail(p, cl->required,
						    "method qkd014 needs qkd_kme (and qkd_sae_id, qkd_cert, "
						    "qkd_key, qkd_ca) in [node]");
				if (!peer->qkd_sae_id[0])
					return fail(p, cl->required,
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
					return fail(p, line,
						    "method %s needs %s_key and %s_pub in [node]",
						    m->name, m->name, m->name);
				if (!peer->mceliece[s].set)
					return fail(p, line,
						    "method %s needs pin_%s and pin_%s_sha3 in [peer %s]",
						    m->name, m->name, m->name, peer->name);
			}
		}
	}
	return 0;
}

/* The key supply's SAE table (docs/key-supply.md): references and the one-per-pool rules. */
static int check_saes(struct parser *p)
{
	struct config *cfg = p->cfg;
	const struct config_supply *sup = &cfg->supply;

	if (cfg->n_saes && !sup->enabled)
		return fail(p, cfg->saes[0].line, "[sae %s] needs a [supply] section",
			    cfg->saes[0].id);
	for (size_t i = 0; i < cfg->n_saes; i++) {
		const struct config_sae *a = &cfg->saes[i];
		const unsigned *kl = p->sae_keyline[i];
		const struct config_peer *peer = config_peer_by_name(cfg, a->peer);

		if (!peer)
			return fail(p, kl[SAE_PEER], "peer: no [peer %s] section", a->peer);
		for (size_t c = 0; c < a->n_classes; c++)
			if (!config_class_by_name(peer, a->classes[c]))
				return fail(p, kl[SAE_CLASSES], "classes: no [class %s %s] section",
					    a->peer, a->classes[c]);
		if (a->key_bits % 8)
			return fail(p, kl[SAE_KEY_SIZE], "key_size: %u bits is not a multiple of 8",
				    a->key_bits);
		if (a->remote) {
			if (kl[SAE_ROLE])
				return fail(p, kl[SAE_ROLE], "role: only for local SAEs");
			if (kl[SAE_SERIAL])
				return fail(p, kl[SAE_SERIAL], "serial: only for local SAEs");
		} else if (sup->sae_id_from == ETSI014_SAE_ID_SERIAL && !a->serial[0]) {
			return fail(p, a->line, "[sae %s]: sae_id_from = serial needs serial", a->id);
		} else if (sup->sae_id_from != ETSI014_SAE_ID_SERIAL && a->serial[0]) {
			return fail(p, kl[SAE_SERIAL], "serial: only with sae_id_from = serial "
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
				return fail(p, kl[SAE_CLASSES], "remote SAE %s uses the pool of peer %s "
					    "class %s like [sae %s] (line %u): one remote SAE per pool",
					    a->id, a->peer, shared, b->id, b->line);
			if (!a->remote && !b->remote && (a->roles & b->roles & CONFIG_SAE_SLAVE))
				return fail(p, kl[SAE_CLASSES], "SAE %s is a slave of peer %s class %s "
					    "like [sae %s] (line %u): one slave SAE per pool", a->id,
					    a->peer, shared, b->id, b->line);
			if (a->remote != b->remote && common > 1)
				return fail(p, kl[SAE_CLASSES], "SAEs %s and %s (line %u) share %zu "
					    "classes of peer %s: which pool serves them is ambiguous "
					    "(at most one in common)", a->id, b->id, b->line, common,
					    a->peer);
		}
	}
	return 0;
}

static void node_defaults(struct config_node *node)
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

int config_parse_string(const char *text, size_t len, const char *name,
			const struct config_options *opts, struct config **ret,
			struct config_error *err)
{
	static const struct config_options no_opts;
	struct parser *p = NULL;
	struct config *cfg = NULL;
	size_t name_len;
	int r, line;

	if (!name)
		name = "<config>";
	if (!opts)
		opts = &no_opts;
	if (len > CONFIG_FILE_MAX) {
		error_set(err, name, 0, "file too large");
		return -EMSGSIZE;
	}
	p = calloc(1, sizeof(*p));
	cfg = calloc(1, sizeof(*cfg));
	if (!p || !cfg) {
		error_set(err, name, 0, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	name_len = strlen(name);
	if (name_len >= sizeof(cfg->source))
		name_len = sizeof(cfg->source) - 1;
	memcpy(cfg->source, name, name_len);
	node_defaults(&cfg->node);

	p->text = text;
	p->len = len;
	p->opts = opts;
	p->cfg = cfg;

	line = ini_parse_stream(read_line, p, on_ini, p);
	/* inih's own syntax errors (no '=') carry its line count, which is ours. */
	if (line > 0 && (!p->failed || (unsigned)line < p->err_line)) {
		p->failed = false;
		fail(p, (unsigned)line, "syntax error: expected 'key = value' or '[section]'");
	} else if (line < 0 && !p->failed) {
		fail(p, p->lineno, "parser error %d", line);
	}
	if (!p->failed && end_section(p) == 0 && check_all(p) == 0)
		check_saes(p);
	if (p->failed) {
		error_set(err, name, p->err_line, p->err_reason);
		r = -EBADMSG;
		goto out;
	}
	*ret = cfg;
	cfg = NULL;
	r = 0;
out:
	free(cfg);
	free(p);
	return r;
}

int config_load(const char *path, const struct config_options *opts, struct config **ret,
		struct config_error *err)
{
	struct config_options o = {0};
	uint8_t *data = NULL;
	size_t len = 0;
	char *dir = NULL, *base = NULL;
	const char *slash;
	char reason[CONFIG_ERROR_REASON_MAX];
	int r;

	if (opts)
		o = *opts;
	r = file_read(path, CONFIG_FILE_MAX, 0, &data, &len);
	if (r < 0) {
		snprintf(reason, sizeof(reason), "cannot read: %s", mfs_strerror(r));
		error_set(err, path, 0, reason);
		goto out;
	}
	if (!o.base_dir) {
		/* Relative paths in the file are relative to the file's directory. */
		slash = strrchr(path, '/');
		dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
		if (!dir) {
			r = -ENOMEM;
			error_set(err, path, 0, "out of memory");
			goto out;
		}
		base = realpath(dir, NULL);
		if (!base) {
			r = -errno;
			snprintf(reason, sizeof(reason), "cannot resolve its directory: %s",
				 mfs_strerror(r));
			error_set(err, path, 0, reason);
			goto out;
		}
		o.base_dir = base;
	}
	r = config_parse_string((const char *)data, len, path, &o, ret, err);
out:
	free(data);
	free(dir);
	free(base);
	return r;
}

void config_free(struct config *cfg)
{
	free(cfg);
}

const struct config_peer *config_peer_by_name(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_peers; i++)
		if (strcmp(cfg->peers[i].name, name) == 0)
			return &cfg->peers[i];
	return NULL;
}

const struct config_class *config_class_by_name(const struct config_peer *peer,
						const char *name)
{
	for (size_t i = 0; i < peer->n_classes; i++)
		if (strcmp(peer->classes[i].policy.name, name) == 0)
			return &peer->classes[i];
	return NULL;
}

const char *config_mceliece_method(enum config_mceliece set)
{
	return (unsigned)set < CONFIG_MCELIECE_N ? mceliece_methods[set] : "?";
}

const char *config_tls_group_name(enum config_tls_group group)
{
	switch (group) {
	case CONFIG_TLS_X25519MLKEM768: return "X25519MLKEM768";
	case CONFIG_TLS_MLKEM1024: return "MLKEM1024";
	}
	return "?";
}
