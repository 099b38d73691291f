/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfsd configuration loader. The format and every rule: docs/config.md.
 * This file is the reader and the key dispatch; the section tables and
 * checks are config_sections.c, the value syntax config_value.c
 * (config_int.h).
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

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/file.h"
#include "daemon/config_int.h"

int config_fail(struct parser *p, unsigned line, const char *fmt, ...)
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
			config_fail(p, p->lineno, c ? "control character 0x%02x in line" : "NUL byte in line",
			     c);
			return NULL;
		}
	}
	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	if (len > CONFIG_LINE_MAX || len > (size_t)num - 1) {
		config_fail(p, p->lineno, "line too long (at most %d characters)", CONFIG_LINE_MAX);
		return NULL;
	}
	if (len && s[0] == '[' && config_begin_section(p, s, len) < 0)
		return NULL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return buf;
}

static int on_key(struct parser *p, const char *name, const char *value)
{
	size_t n;
	const struct key_def *keys = config_section_keys(p->kind, &n);
	void *obj;

	if (p->kind == SEC_NONE)
		return config_fail(p, p->lineno, "key '%s' outside a section", name);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(keys[i].name, name) != 0)
			continue;
		if (p->keyline[i])
			return config_fail(p, p->lineno, "duplicate key '%s' (first at line %u)", name,
				    p->keyline[i]);
		p->keyline[i] = p->lineno;
		if (!value[0])
			return config_fail(p, p->lineno, "%s: empty value", name);
		obj = p->kind == SEC_NODE ? (void *)&p->cfg->node
		    : p->kind == SEC_PEER ? (void *)p->peer
		    : p->kind == SEC_SUPPLY ? (void *)&p->cfg->supply
		    : p->kind == SEC_SAE ? (void *)p->sae : (void *)p->cls;
		return config_parse_value(p, &keys[i], obj, value);
	}
	if (!name[0])
		return config_fail(p, p->lineno, "missing key name before '='");
	return config_fail(p, p->lineno, "unknown key '%s' in %s", name, config_section_label(p->kind));
}

static int on_ini(void *arg, const char *section, const char *name, const char *value)
{
	struct parser *p = arg;

	(void)section;	/* we track sections ourselves */
	if (p->failed)
		return 0;
	return on_key(p, name, value) == 0;
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
	config_node_defaults(&cfg->node);

	p->text = text;
	p->len = len;
	p->opts = opts;
	p->cfg = cfg;

	line = ini_parse_stream(read_line, p, on_ini, p);
	/* inih's own syntax errors (no '=') carry its line count, which is ours. */
	if (line > 0 && (!p->failed || (unsigned)line < p->err_line)) {
		p->failed = false;
		config_fail(p, (unsigned)line, "syntax error: expected 'key = value' or '[section]'");
	} else if (line < 0 && !p->failed) {
		config_fail(p, p->lineno, "parser error %d", line);
	}
	if (!p->failed && config_end_section(p) == 0 && config_check_all(p) == 0)
		config_check_saes(p);
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

const char *config_tls_group_name(enum config_tls_group group)
{
	switch (group) {
	case CONFIG_TLS_X25519MLKEM768: return "X25519MLKEM768";
	case CONFIG_TLS_MLKEM1024: return "MLKEM1024";
	}
	return "?";
}
