/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the configuration loader (src/daemon/config*.c; the public
 * side is config.h, the format docs/config.md). One table-driven parser:
 *
 *   config.c           the line reader under inih, the key dispatch, the
 *                      error text, config_load() and the accessors
 *   config_value.c     the syntax of each value type (enum vtype)
 *   config_sections.c  the section tables (which keys, of what type, where
 *                      they go), section headers, per-section checks and
 *                      the whole-file cross checks
 */
#ifndef MFS_DAEMON_CONFIG_INT_H
#define MFS_DAEMON_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/config.h"

#define SECTION_KEYS_MAX 32
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

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

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ---- config.c ---- */

/* Record the first error (line, reason); always -EBADMSG. Later ones are dropped. */
__attribute__((format(printf, 3, 4)))
int config_fail(struct parser *p, unsigned line, const char *fmt, ...);

/* ---- config_value.c ---- */

/* Parse value v of key k into its field of obj (the section's struct). */
int config_parse_value(struct parser *p, const struct key_def *k, void *obj, const char *v);

/* ---- config_sections.c ---- */

/* The key table of a section kind (NULL, *n = 0 for SEC_NONE). */
const struct key_def *config_section_keys(enum section_kind kind, size_t *n);
const char *config_section_label(enum section_kind kind);
/* A "[...]" line (leading whitespace gone): ends the section before, starts one. */
int config_begin_section(struct parser *p, const char *line, size_t len);
/* The checks at the end of the current section. */
int config_end_section(struct parser *p);
/* After the last line: what no single section can check. */
int config_check_all(struct parser *p);
int config_check_saes(struct parser *p);
void config_node_defaults(struct config_node *node);

#endif
