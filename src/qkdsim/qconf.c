/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qkdsim configuration parser (qconf.h). Hand-written and line based: the
 * format is small, and owning the reader keeps every bound in one place.
 * Each line is cut from the input with an explicit length, never scanned
 * past it; values are copied only into fixed fields after a length check.
 */
#include "qkdsim/qconf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/hex.h"

enum section {
	SEC_NONE,
	SEC_QKDSIM,
	SEC_NODE,
	SEC_LINK,
};

struct parser {
	struct qconf *c;
	struct qconf_error *err;
	const char *name, *dir;
	unsigned line;
	unsigned sec_line;	/* the line of the current section header */
	enum section sec;
	/* What the current [node]/[link] section has set. */
	bool have_nodes, have_rate;
	/* Link node names, resolved when the whole file is read (order-free). */
	char link_nodes[QCONF_MAX_LINKS][2][QCONF_NAME_MAX + 1];
	unsigned link_line[QCONF_MAX_LINKS];
	bool seen_qkdsim;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err->reason, sizeof(p->err->reason), fmt, ap);
	va_end(ap);
	p->err->line = p->line;
	if (p->line)
		snprintf(p->err->text, sizeof(p->err->text), "%s:%u: %s", p->name, p->line,
			 p->err->reason);
	else
		snprintf(p->err->text, sizeof(p->err->text), "%s: %s", p->name, p->err->reason);
	return -EINVAL;
}

static bool name_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
}

bool qconf_name_valid(const char *s, size_t len)
{
	if (!s || len == 0 || len > QCONF_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!name_char(s[i]))
			return false;
	return true;
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Trim spaces on both ends of [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
	while (*n && is_space(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && is_space((*s)[*n - 1]))
		(*n)--;
}

/*
 * The next item of a list separated by spaces or commas, from *pos on:
 * [*item, *item + *n); false when there is none left.
 */
static bool list_next(const char *v, size_t vn, size_t *pos, const char **item, size_t *n)
{
	size_t i = *pos, j;

	while (i < vn && (is_space(v[i]) || v[i] == ','))
		i++;
	for (j = i; j < vn && !is_space(v[j]) && v[j] != ','; j++)
		;
	*pos = j;
	*item = v + i;
	*n = j - i;
	return j > i;
}

static int copy_name(struct parser *p, char *dst, const char *s, size_t n, const char *what)
{
	if (!qconf_name_valid(s, n))
		return fail(p, "%s must be 1-%d of [A-Za-z0-9._-]", what, QCONF_NAME_MAX);
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

/* Unsigned decimal with an optional k/M/G suffix (x1000), in [min, max]. */
static int parse_u64(struct parser *p, const char *s, size_t n, uint64_t min, uint64_t max,
		     bool suffix, const char *what, uint64_t *ret)
{
	uint64_t v = 0, mul = 1;
	size_t i = 0;

	if (suffix && n > 1) {
		switch (s[n - 1]) {
		case 'k': mul = 1000; n--; break;
		case 'M': mul = 1000000; n--; break;
		case 'G': mul = 1000000000; n--; break;
		default: break;
		}
	}
	if (n == 0 || n > 19)
		return fail(p, "%s: not a number", what);
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return fail(p, "%s: not a number", what);
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT64_MAX / mul)
		return fail(p, "%s: out of range", what);
	v *= mul;
	if (v < min || v > max)
		return fail(p, "%s: %llu is out of range %llu..%llu", what,
			    (unsigned long long)v, (unsigned long long)min, (unsigned long long)max);
	*ret = v;
	return 0;
}

/* "N", "N.N" or "N.NN" percent, optionally with a trailing '%', in centi-percent. */
static int parse_percent(struct parser *p, const char *s, size_t n, uint32_t min, uint32_t max,
			 const char *what, uint32_t *ret)
{
	uint32_t v = 0;
	size_t i = 0, frac = 0;
	bool dot = false;

	if (n && s[n - 1] == '%') {
		n--;
		trim(&s, &n);
	}
	if (n == 0 || n > 6)
		return fail(p, "%s: not a percentage (like 2.5)", what);
	for (; i < n; i++) {
		if (s[i] == '.' && !dot && i > 0) {
			dot = true;
			continue;
		}
		if (s[i] < '0' || s[i] > '9' || (dot && frac == 2))
			return fail(p, "%s: not a percentage (like 2.5, at most two decimals)", what);
		v = v * 10 + (uint32_t)(s[i] - '0');
		frac += dot;
	}
	if (dot && frac == 0)
		return fail(p, "%s: not a percentage (like 2.5)", what);
	for (; frac < 2; frac++)
		v *= 10;
	if (v < min || v > max)
		return fail(p, "%s: %u.%02u%% is out of range %u.%02u..%u.%02u%%", what,
			    v / 100, v % 100, min / 100, min % 100, max / 100, max % 100);
	*ret = v;
	return 0;
}

static int parse_path(struct parser *p, char *dst, size_t cap, const char *s, size_t n,
		      const char *what)
{
	int w;

	if (n == 0)
		return fail(p, "%s: empty path", what);
	if (s[0] == '/' || !p->dir || !p->dir[0])
		w = snprintf(dst, cap, "%.*s", (int)n, s);
	else
		w = snprintf(dst, cap, "%s/%.*s", p->dir, (int)n, s);
	if (w < 0 || (size_t)w >= cap)
		return fail(p, "%s: path too long (at most %zu bytes)", what, cap - 1);
	return 0;
}

/* host:port with a port 1..65535 and a host of [A-Za-z0-9.:-]; brackets allowed. */
static int parse_listen(struct parser *p, char *dst, size_t cap, const char *s, size_t n)
{
	size_t colon = n;
	uint64_t port;

	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (ch == ':')
			colon = i;
		else if (!name_char(ch) && ch != '[' && ch != ']')
			return fail(p, "ksa_listen: bad character (want host:port)");
	}
	if (colon == n || colon == 0 || n >= cap)
		return fail(p, "ksa_listen: want host:port");
	if (parse_u64(p, s + colon + 1, n - colon - 1, 0, 65535, false, "ksa_listen port", &port))
		return -EINVAL;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

static int set_qkdsim(struct parser *p, const char *k, size_t kn, const char *v, size_t vn)
{
	struct qconf *c = p->c;
	uint64_t u;

#define KEY(s) (kn == sizeof(s) - 1 && memcmp(k, s, kn) == 0)
	if (KEY("control"))
		return parse_path(p, c->control, sizeof(c->control), v, vn, "control");
	if (KEY("ca"))
		return parse_path(p, c->ca, sizeof(c->ca), v, vn, "ca");
	if (KEY("seed")) {
		if (vn != 2 * QCONF_SEED_LEN || hex_decode(c->seed, QCONF_SEED_LEN, v, vn) < 0)
			return fail(p, "seed: want %d hex digits", 2 * QCONF_SEED_LEN);
		c->have_seed = true;
		return 0;
	}
	if (KEY("key_size") || KEY("max_key_size") || KEY("min_key_size")) {
		if (parse_u64(p, v, vn, 64, 8192, false, "key size", &u))
			return -EINVAL;
		if (u % 8)
			return fail(p, "key size: must be a multiple of 8 bits");
		if (KEY("key_size"))
			c->key_size = (uint32_t)u;
		else if (KEY("max_key_size"))
			c->max_key_size = (uint32_t)u;
		else
			c->min_key_size = (uint32_t)u;
		return 0;
	}
	if (KEY("max_key_per_request")) {
		if (parse_u64(p, v, vn, 1, 1024, false, "max_key_per_request", &u))
			return -EINVAL;
		c->max_key_per_request = (uint32_t)u;
		return 0;
	}
	if (KEY("tick")) {
		if (parse_u64(p, v, vn, 1, 1000, false, "tick (ms)", &u))
			return -EINVAL;
		c->tick_ms = (uint32_t)u;
		return 0;
	}
	return fail(p, "unknown key '%.*s' in [qkdsim]", (int)kn, k);
}

static int set_node(struct parser *p, const char *k, size_t kn, const char *v, size_t vn)
{
	struct qconf_node *nd = &p->c->nodes[p->c->n_nodes - 1];

	if (KEY("kme_id"))
		return copy_name(p, nd->kme_id, v, vn, "kme_id");
	if (KEY("ksa_listen"))
		return parse_listen(p, nd->ksa_listen, sizeof(nd->ksa_listen), v, vn);
	if (KEY("ksa_cert"))
		return parse_path(p, nd->ksa_cert, sizeof(nd->ksa_cert), v, vn, "ksa_cert");
	if (KEY("ksa_key"))
		return parse_path(p, nd->ksa_key, sizeof(nd->ksa_key), v, vn, "ksa_key");
	if (KEY("sae")) {
		/* One or more names separated by spaces or commas. */
		size_t pos = 0, n;
		const char *id;

		while (list_next(v, vn, &pos, &id, &n)) {
			if (nd->n_saes == QCONF_MAX_SAES)
				return fail(p, "sae: at most %d SAEs per node", QCONF_MAX_SAES);
			if (copy_name(p, nd->saes[nd->n_saes], id, n, "SAE ID"))
				return -EINVAL;
			nd->n_saes++;
		}
		return 0;
	}
	return fail(p, "unknown key '%.*s' in [node]", (int)kn, k);
}

static int set_link(struct parser *p, const char *k, size_t kn, const char *v, size_t vn)
{
	size_t li = p->c->n_links - 1;
	struct qconf_link *l = &p->c->links[li];
	uint64_t u;

	if (KEY("nodes")) {
		size_t pos = 0, got = 0, n;
		const char *name;

		while (list_next(v, vn, &pos, &name, &n)) {
			if (got == 2)
				return fail(p, "nodes: a link joins exactly two nodes");
			if (copy_name(p, p->link_nodes[li][got], name, n, "node name"))
				return -EINVAL;
			got++;
		}
		if (got != 2)
			return fail(p, "nodes: a link joins exactly two nodes");
		if (strcmp(p->link_nodes[li][0], p->link_nodes[li][1]) == 0)
			return fail(p, "nodes: a link joins two different nodes");
		p->have_nodes = true;
		return 0;
	}
	if (KEY("rate")) {
		if (parse_u64(p, v, vn, 1, QCONF_RATE_MAX, true, "rate (bit/s)", &l->rate_bps))
			return -EINVAL;
		p->have_rate = true;
		return 0;
	}
	if (KEY("qber"))
		return parse_percent(p, v, vn, 0, 5000, "qber", &l->qber_cp);
	if (KEY("abort_threshold"))
		return parse_percent(p, v, vn, 1, 5000, "abort_threshold", &l->threshold_cp);
	if (KEY("pool")) {
		if (parse_u64(p, v, vn, 8 * 64, QCONF_POOL_BITS_MAX, true, "pool (bits)", &u))
			return -EINVAL;
		if (u % 8)
			return fail(p, "pool: must be a multiple of 8 bits");
		l->pool_bits = (uint32_t)u;
		return 0;
	}
	return fail(p, "unknown key '%.*s' in [link]", (int)kn, k);
#undef KEY
}

/* The end of a [node] or [link] section: check what it must have. */
static int close_section(struct parser *p)
{
	unsigned line = p->line;

	/* A missing key is reported at the header of its section. */
	p->line = p->sec_line;
	if (p->sec == SEC_NODE) {
		struct qconf_node *nd = &p->c->nodes[p->c->n_nodes - 1];

		if (!nd->kme_id[0])
			return fail(p, "[node %s]: kme_id missing", nd->name);
		if (nd->ksa_listen[0] && (!nd->ksa_cert[0] || !nd->ksa_key[0]))
			return fail(p, "[node %s]: ksa_listen needs ksa_cert and ksa_key", nd->name);
	} else if (p->sec == SEC_LINK) {
		struct qconf_link *l = &p->c->links[p->c->n_links - 1];

		if (!p->have_nodes)
			return fail(p, "[link %s]: nodes missing", l->name);
		if (!p->have_rate)
			return fail(p, "[link %s]: rate missing", l->name);
	}
	p->line = line;
	return 0;
}

static int section(struct parser *p, const char *s, size_t n)
{
	const char *arg;
	size_t kn, an;
	struct qconf *c = p->c;

	if (close_section(p))
		return -EINVAL;
	trim(&s, &n);
	for (kn = 0; kn < n && !is_space(s[kn]); kn++)
		;
	arg = s + kn;
	an = n - kn;
	trim(&arg, &an);
	p->have_nodes = p->have_rate = false;
	p->sec_line = p->line;
	if (kn == 6 && memcmp(s, "qkdsim", 6) == 0 && an == 0) {
		if (p->seen_qkdsim)
			return fail(p, "[qkdsim] given twice");
		p->seen_qkdsim = true;
		p->sec = SEC_QKDSIM;
		return 0;
	}
	if (kn == 4 && memcmp(s, "node", 4) == 0) {
		struct qconf_node *nd;

		if (c->n_nodes == QCONF_MAX_NODES)
			return fail(p, "at most %d nodes", QCONF_MAX_NODES);
		nd = &c->nodes[c->n_nodes];
		if (copy_name(p, nd->name, arg, an, "node name"))
			return -EINVAL;
		if (qconf_node_index(c, nd->name) >= 0)	/* among the nodes before it */
			return fail(p, "node '%s' defined twice", nd->name);
		c->n_nodes++;
		p->sec = SEC_NODE;
		return 0;
	}
	if (kn == 4 && memcmp(s, "link", 4) == 0) {
		struct qconf_link *l;

		if (c->n_links == QCONF_MAX_LINKS)
			return fail(p, "at most %d links", QCONF_MAX_LINKS);
		l = &c->links[c->n_links];
		if (copy_name(p, l->name, arg, an, "link name"))
			return -EINVAL;
		if (qconf_link_index(c, l->name) >= 0)	/* among the links before it */
			return fail(p, "link '%s' defined twice", l->name);
		l->threshold_cp = QCONF_DEFAULT_THRESHOLD;
		l->pool_bits = QCONF_DEFAULT_POOL_BITS;
		p->link_line[c->n_links] = p->line;
		c->n_links++;
		p->sec = SEC_LINK;
		return 0;
	}
	return fail(p, "unknown section (want [qkdsim], [node NAME] or [link NAME])");
}

static int line(struct parser *p, const char *s, size_t n)
{
	const char *k, *v;
	size_t kn, vn, eq;

	trim(&s, &n);
	if (n == 0 || s[0] == '#' || s[0] == ';')
		return 0;
	/* A '#' after a space or tab starts a comment. */
	for (size_t i = 1; i < n; i++)
		if (s[i] == '#' && is_space(s[i - 1])) {
			n = i;
			trim(&s, &n);
			break;
		}
	if (s[0] == '[') {
		if (s[n - 1] != ']')
			return fail(p, "section header without ']'");
		return section(p, s + 1, n - 2);
	}
	for (eq = 0; eq < n && s[eq] != '='; eq++)
		;
	if (eq == n)
		return fail(p, "want key = value");
	k = s;
	kn = eq;
	v = s + eq + 1;
	vn = n - eq - 1;
	trim(&k, &kn);
	trim(&v, &vn);
	if (kn == 0)
		return fail(p, "empty key");
	switch (p->sec) {
	case SEC_QKDSIM: return set_qkdsim(p, k, kn, v, vn);
	case SEC_NODE: return set_node(p, k, kn, v, vn);
	case SEC_LINK: return set_link(p, k, kn, v, vn);
	default: return fail(p, "key outside a section");
	}
}

/* Whole-file rules, once every line is read. */
static int finish(struct parser *p)
{
	struct qconf *c = p->c;

	if (close_section(p))
		return -EINVAL;
	p->line = 0;
	if (c->n_nodes < 2)
		return fail(p, "at least two [node] sections are needed");
	if (c->n_links == 0)
		return fail(p, "at least one [link] section is needed");
	if (!c->min_key_size)
		c->min_key_size = 64;
	if (!c->max_key_size)
		c->max_key_size = 8192;
	if (!c->key_size)
		c->key_size = QCONF_DEFAULT_KEY_SIZE;
	if (c->min_key_size > c->key_size || c->key_size > c->max_key_size)
		return fail(p, "[qkdsim]: need min_key_size <= key_size <= max_key_size");
	for (size_t i = 0; i < c->n_links; i++) {
		struct qconf_link *l = &c->links[i];
		int a = qconf_node_index(c, p->link_nodes[i][0]);
		int b = qconf_node_index(c, p->link_nodes[i][1]);

		p->line = p->link_line[i];
		if (a < 0 || b < 0)
			return fail(p, "[link %s]: unknown node '%s'", l->name,
				    a < 0 ? p->link_nodes[i][0] : p->link_nodes[i][1]);
		for (size_t j = 0; j < i; j++)
			if ((c->links[j].a == (size_t)a && c->links[j].b == (size_t)b) ||
			    (c->links[j].a == (size_t)b && c->links[j].b == (size_t)a))
				return fail(p, "[link %s]: nodes already joined by link %s",
					    l->name, c->links[j].name);
		if (l->pool_bits < 8 * (c->max_key_size / 8 + 32) * 2)
			return fail(p, "[link %s]: pool must hold two relays of max_key_size (%u bits)",
				    l->name, 8 * (c->max_key_size / 8 + 32) * 2);
		l->a = (size_t)a;
		l->b = (size_t)b;
	}
	p->line = 0;
	/* SAE IDs and KME IDs are unique in the QKD network (ETSI GS QKD 014 §4). */
	for (size_t i = 0; i < c->n_nodes; i++) {
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->nodes[i].kme_id, c->nodes[j].kme_id) == 0)
				return fail(p, "kme_id '%s' used by two nodes", c->nodes[i].kme_id);
		for (size_t s = 0; s < c->nodes[i].n_saes; s++) {
			const char *id = c->nodes[i].saes[s];

			for (size_t j = 0; j <= i; j++)
				for (size_t t = 0; t < (j == i ? s : c->nodes[j].n_saes); t++)
					if (strcmp(id, c->nodes[j].saes[t]) == 0)
						return fail(p, "SAE '%s' attached twice", id);
		}
	}
	for (size_t i = 0; i < c->n_nodes; i++)
		if (c->nodes[i].ksa_listen[0] && !c->ca[0])
			return fail(p, "[qkdsim]: ca (the SAEs' certificate authority) is needed by ksa_listen");
	if (!c->max_key_per_request)
		c->max_key_per_request = 128;
	if (!c->tick_ms)
		c->tick_ms = 20;
	return 0;
}

int qconf_parse(const char *text, size_t len, const char *name, const char *dir,
		struct qconf **ret, struct qconf_error *err)
{
	struct parser p = { .err = err, .name = name ? name : "qkdsim.conf", .dir = dir };
	size_t i = 0;
	int r = 0;

	*ret = NULL;
	memset(err, 0, sizeof(*err));
	if (len > QCONF_FILE_MAX) {
		fail(&p, "file larger than %d bytes", QCONF_FILE_MAX);
		return -EMSGSIZE;
	}
	p.c = calloc(1, sizeof(*p.c));
	if (!p.c)
		return -ENOMEM;
	while (i < len && !r) {
		size_t j = i;

		p.line++;
		while (j < len && text[j] != '\n')
			j++;
		if (j - i > QCONF_LINE_MAX) {
			r = fail(&p, "line longer than %d bytes", QCONF_LINE_MAX);
			break;
		}
		for (size_t k = i; k < j; k++) {
			unsigned char ch = (unsigned char)text[k];

			if ((ch < 0x20 && ch != '\t' && !(ch == '\r' && k + 1 == j)) || ch == 0x7f) {
				r = fail(&p, "control character (byte 0x%02x)", ch);
				break;
			}
		}
		if (!r)
			r = line(&p, text + i, j > i && text[j - 1] == '\r' ? j - i - 1 : j - i);
		i = j + 1;
	}
	if (!r) {
		if (p.line == 0)
			p.line = 1;
		r = finish(&p);
	}
	if (r) {
		free(p.c);
		return r;
	}
	*ret = p.c;
	return 0;
}

int qconf_load(const char *path, struct qconf **ret, struct qconf_error *err)
{
	char dir[QCONF_PATH_MAX];
	const char *slash = strrchr(path, '/');
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	*ret = NULL;
	memset(err, 0, sizeof(*err));
	if (slash)
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else
		snprintf(dir, sizeof(dir), ".");
	r = file_read(path, QCONF_FILE_MAX, 0, &buf, &len);
	if (r < 0) {
		snprintf(err->reason, sizeof(err->reason), "cannot read: %s", strerror(-r));
		snprintf(err->text, sizeof(err->text), "%s: %s", path, err->reason);
		return r;
	}
	r = qconf_parse((const char *)buf, len, path, dir, ret, err);
	free(buf);
	return r;
}

int qconf_node_index(const struct qconf *c, const char *name)
{
	for (size_t i = 0; i < c->n_nodes; i++)
		if (strcmp(c->nodes[i].name, name) == 0)
			return (int)i;
	return -1;
}

int qconf_link_index(const struct qconf *c, const char *name)
{
	for (size_t i = 0; i < c->n_links; i++)
		if (strcmp(c->links[i].name, name) == 0)
			return (int)i;
	return -1;
}

int qconf_sae_node(const struct qconf *c, const char *sae)
{
	for (size_t i = 0; i < c->n_nodes; i++)
		for (size_t s = 0; s < c->nodes[i].n_saes; s++)
			if (strcmp(c->nodes[i].saes[s], sae) == 0)
				return (int)i;
	return -1;
}
