/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The configuration loader's value syntax (docs/config.md "Validation
 * rules", Values): one parser per enum vtype, each strict (no sign, no
 * spaces, no overflow, no silent truncation) and naming the key in its
 * error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "base/err.h"
#include "base/hex.h"
#include "daemon/config_int.h"
#include "etsi014/server.h"

/* ---- value syntax ---------------------------------------------------------------------- */

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
		return config_fail(p, p->lineno, "%s: '%s' is not a %s (e.g. %s)", k->name, v, what,
			    units == duration_units ? "30s, 10m, 1h, 7d" : "64MiB, 16GiB, 1TiB");
	if (r < 0)
		return config_fail(p, p->lineno, "%s: '%s' is too large", k->name, v);
	if (!*end)
		return config_fail(p, p->lineno, "%s: '%s' has no unit (%s)", k->name, v,
			    units == duration_units ? "s, m, h or d" : "B, KiB, MiB, GiB, TiB or PiB");
	for (size_t i = 0; i < n_units; i++) {
		if (strcmp(end, units[i].name) != 0)
			continue;
		if (n == 0)
			return config_fail(p, p->lineno, "%s: must be greater than zero", k->name);
		if (n > k->max / units[i].mult)
			return config_fail(p, p->lineno, "%s: '%s' is too large (at most %s)", k->name, v,
				    units == duration_units ? "365d" : "1PiB");
		*ret = n * units[i].mult;
		return 0;
	}
	return config_fail(p, p->lineno, "%s: unknown unit '%s' in '%s' (%s)", k->name, end, v,
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
			return config_fail(p, p->lineno, "%s: '%s' has no closing ']'", k->name, v);
		host = v + 1;
		host_len = (size_t)(close - host);
		if (close[1] != ':')
			return config_fail(p, p->lineno, "%s: '%s' needs a port: [address]:port", k->name, v);
		port_s = close + 2;
		family = AF_INET6;
	} else {
		colon = strrchr(v, ':');
		if (!colon)
			return config_fail(p, p->lineno, "%s: '%s' needs a port: host:port", k->name, v);
		host = v;
		host_len = (size_t)(colon - v);
		if (memchr(host, ':', host_len))
			return config_fail(p, p->lineno,
				    "%s: '%s': write an IPv6 address in brackets, [address]:port",
				    k->name, v);
		port_s = colon + 1;
		family = AF_INET;
	}
	if (host_len == 0 || host_len > CONFIG_HOST_MAX)
		return config_fail(p, p->lineno, "%s: '%s' has an empty or too long host", k->name, v);
	memcpy(buf, host, host_len);
	buf[host_len] = '\0';
	if (parse_number(port_s, 65535, &port, &end) < 0 || *end || port == 0)
		return config_fail(p, p->lineno, "%s: bad port in '%s' (1..65535)", k->name, v);

	if (inet_pton(family, buf, bin) != 1) {
		if (family == AF_INET6)
			return config_fail(p, p->lineno, "%s: '%s' is not an IPv6 address", k->name, buf);
		if (!names_ok)
			return config_fail(p, p->lineno, "%s: '%s' is not an IP address", k->name, buf);
		if (!hostname_valid(buf, host_len))
			return config_fail(p, p->lineno, "%s: '%s' is not a valid host name", k->name, buf);
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
			return config_fail(p, p->lineno, "%s: control character in path", k->name);
	if (v[0] != '/' && base && base[0])
		n = snprintf(out, size, "%s%s%s", base, base[strlen(base) - 1] == '/' ? "" : "/", v);
	else
		n = snprintf(out, size, "%s", v);
	if (n < 0 || (size_t)n >= size) {
		out[0] = '\0';
		return config_fail(p, p->lineno, "%s: path too long (at most %zu bytes once resolved)",
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
			return config_fail(p, p->lineno, "%s: empty method name in '%s'", k->name, v);
		if (len > POLICY_NAME_MAX)
			return config_fail(p, p->lineno, "%s: unknown method '%.*s'", k->name,
				    POLICY_NAME_MAX, s);
		memcpy(name, s, len);
		name[len] = '\0';
		m = kex_method_by_name(name);
		if (!m) {
			for (size_t i = 0; i < n_all; i++)
				if (strcmp(all[i]->name, name) == 0)
					return config_fail(p, p->lineno,
						    "%s: method '%s' is not available here "
						    "(the crypto provider lacks it)", k->name, name);
			return config_fail(p, p->lineno, "%s: unknown method '%s' (see mfs-kex list)",
				    k->name, name);
		}
		for (size_t i = 0; i < n; i++)
			if (ids[i] == m->id)
				return config_fail(p, p->lineno, "%s: method '%s' listed twice", k->name,
					    name);
		if (n >= POLICY_MAX_METHODS)
			return config_fail(p, p->lineno, "%s: more than %d methods", k->name,
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
			return config_fail(p, p->lineno, "%s: empty entry in '%s'", k->name, v);
		if (len > 4 && !strncmp(s, "uid:", 4))
			pr.kind = CONFIG_PRINCIPAL_UID;
		else if (len > 4 && !strncmp(s, "gid:", 4))
			pr.kind = CONFIG_PRINCIPAL_GID;
		else
			return config_fail(p, p->lineno, "%s: '%.*s' is not uid:N or gid:N", k->name,
				    (int)(len > 40 ? 40 : len), s);
		if (parse_number(s + 4, CONFIG_NO_GROUP - 1, &id, &e) < 0 || e != end)
			return config_fail(p, p->lineno, "%s: '%.*s': N must be a number below 4294967295",
				    k->name, (int)(len > 40 ? 40 : len), s);
		pr.id = (uint32_t)id;
		for (size_t i = 0; i < n; i++)
			if (out[i].kind == pr.kind && out[i].id == pr.id)
				return config_fail(p, p->lineno, "%s: '%.*s' listed twice", k->name,
					    (int)len, s);
		if (n >= CONFIG_PUSH_ALLOW_MAX)
			return config_fail(p, p->lineno, "%s: more than %d entries", k->name,
				    CONFIG_PUSH_ALLOW_MAX);
		out[n++] = pr;
	}
	*n_out = n;
	return 0;
}

int config_parse_value(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	uint8_t *field = (uint8_t *)obj + k->off;
	uint64_t n;
	const char *end;
	int r;

	switch (k->type) {
	case V_ID:
		if (!token_valid(v, CONFIG_ID_MAX))
			return config_fail(p, p->lineno, "%s: '%s' is not [A-Za-z0-9._-]{1,%d}", k->name, v,
				    CONFIG_ID_MAX);
		memcpy(field, v, strlen(v) + 1);
		return 0;
	case V_PSK_ID:
		if (!token_valid(v, KEX_PSK_ID_MAX))
			return config_fail(p, p->lineno, "%s: '%s' is not a PSK ID ([A-Za-z0-9._-]{1,%d})",
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
			return config_fail(p, p->lineno,
				    "%s: unknown level '%s' (err, warning, notice, info, debug)",
				    k->name, v);
		memcpy(field, &level, sizeof(level));
		return 0;
	}
	case V_SHA256:
		if (strlen(v) != 2 * CONFIG_SHA256_LEN ||
		    hex_decode(field, CONFIG_SHA256_LEN, v, strlen(v)) < 0)
			return config_fail(p, p->lineno, "%s: must be exactly 64 hex digits", k->name);
		return 0;
	case V_TLS_GROUP: {
		enum config_tls_group g;

		if (strcasecmp(v, "X25519MLKEM768") == 0)
			g = CONFIG_TLS_X25519MLKEM768;
		else if (strcasecmp(v, "MLKEM1024") == 0)
			g = CONFIG_TLS_MLKEM1024;
		else
			return config_fail(p, p->lineno,
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
			return config_fail(p, p->lineno, "%s: '%s' is not a number", k->name, v);
		if (r < 0 || n < k->min || n > k->max)
			return config_fail(p, p->lineno, "%s: %s is out of range (%llu..%llu)", k->name, v,
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
			return config_fail(p, p->lineno, "%s: '%s' is not an octal mode (e.g. 0660)", k->name,
				    v);
		for (size_t i = 0; i < len; i++) {
			if (v[i] < '0' || v[i] > '7')
				return config_fail(p, p->lineno, "%s: '%s' is not an octal mode (e.g. 0660)",
					    k->name, v);
			mode = mode * 8 + (uint32_t)(v[i] - '0');
		}
		if (mode > k->max)
			return config_fail(p, p->lineno, "%s: %s is over 0777", k->name, v);
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
			return config_fail(p, p->lineno, "%s: unknown source '%s' (cn, san-dns, san-uri or serial)",
				    k->name, v);
		memcpy(field, &(uint32_t){(uint32_t)f}, sizeof(uint32_t));
		return 0;
	}
	case V_LOCATION:
		if (strcmp(v, "local") && strcmp(v, "remote"))
			return config_fail(p, p->lineno, "%s: '%s' is not local or remote", k->name, v);
		*(bool *)field = v[0] == 'r';
		return 0;
	case V_ROLE: {
		uint32_t roles = !strcmp(v, "master") ? CONFIG_SAE_MASTER :
				 !strcmp(v, "slave") ? CONFIG_SAE_SLAVE :
				 !strcmp(v, "both") ? CONFIG_SAE_MASTER | CONFIG_SAE_SLAVE : 0;

		if (!roles)
			return config_fail(p, p->lineno, "%s: '%s' is not master, slave or both", k->name, v);
		memcpy(field, &roles, sizeof(roles));
		return 0;
	}
	case V_NAME:
		if (!policy_name_valid(v))
			return config_fail(p, p->lineno, "%s: '%s' is not [a-z0-9_-]{1,%d}", k->name, v,
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
				return config_fail(p, p->lineno, "%s: name too long", k->name);
			memcpy(w, c, len);
			w[len] = 0;
			c += len;
			if (!policy_name_valid(w))
				return config_fail(p, p->lineno, "%s: '%s' is not [a-z0-9_-]{1,%d}", k->name, w,
					    POLICY_NAME_MAX);
			for (size_t i = 0; i < count; i++)
				if (!strcmp(names[i], w))
					return config_fail(p, p->lineno, "%s: '%s' listed twice", k->name, w);
			if (count == CONFIG_MAX_CLASSES)
				return config_fail(p, p->lineno, "%s: more than %d names", k->name,
					    CONFIG_MAX_CLASSES);
			memcpy(names[count++], w, len + 1);
		}
		if (!count)
			return config_fail(p, p->lineno, "%s: empty list", k->name);
		memcpy((uint8_t *)obj + k->off_n, &count, sizeof(count));
		return 0;
	}
	case V_SERIAL: {
		size_t len = strlen(v);

		if (len == 0 || len > CONFIG_SERIAL_MAX)
			return config_fail(p, p->lineno, "%s: 1..%d hex digits", k->name, CONFIG_SERIAL_MAX);
		for (size_t i = 0; i < len; i++)
			if (!is_digit(v[i]) && !((v[i] | 0x20) >= 'a' && (v[i] | 0x20) <= 'f'))
				return config_fail(p, p->lineno, "%s: '%s' is not hex digits (the certificate "
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
			return config_fail(p, p->lineno,
				    "%s: unknown combiner '%s' (catkdf, caskdf or xor-its)", k->name,
				    v);
		memcpy(field, &mode, sizeof(mode));
		return 0;
	}
	}
	return config_fail(p, p->lineno, "%s: internal error", k->name);
}
