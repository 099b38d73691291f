/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qkdsim configuration: the QKD network to simulate. Format and rules:
 * docs/qkdsim.md, example: examples/qkdsim.conf.
 *
 *   [qkdsim]              control socket, master seed, KSA key sizes
 *   [node NAME]           one trusted node: its KME ID, its SAEs, its KSA address
 *   [link NAME]           one QKD link between two nodes: key rate (bit/s),
 *                         QBER and abort threshold (percent), link key pool size
 *
 * The parser is bounded (QCONF_FILE_MAX bytes, QCONF_LINE_MAX per line, fixed
 * maximum counts) and total: any text either yields a complete, checked
 * struct qconf or an error naming the line and the reason, never half of
 * one. Percentages are kept in hundredths of a percent (centi-percent) so
 * that no floating point parsing is involved.
 */
#ifndef MFS_QKDSIM_QCONF_H
#define MFS_QKDSIM_QCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QCONF_FILE_MAX (64 * 1024)
#define QCONF_LINE_MAX 512
#define QCONF_NAME_MAX 32	/* node, link and SAE names: [A-Za-z0-9._-]{1,32} */
#define QCONF_MAX_NODES 32
#define QCONF_MAX_LINKS 64
#define QCONF_MAX_SAES 8	/* per node */
#define QCONF_PATH_MAX 256
#define QCONF_SEED_LEN 32

#define QCONF_DEFAULT_THRESHOLD 1100	/* 11.00 %: BB84's usual abort threshold */
#define QCONF_DEFAULT_KEY_SIZE 256	/* bits */
#define QCONF_DEFAULT_POOL_BITS (1U << 20)
#define QCONF_RATE_MAX 1000000000ULL	/* 1 Gbit/s */
#define QCONF_POOL_BITS_MAX (8U << 20)	/* 1 MiB of link key per link end (SECRET_MAX_LEN) */

struct qconf_node {
	char name[QCONF_NAME_MAX + 1];
	char kme_id[QCONF_NAME_MAX + 1];
	char saes[QCONF_MAX_SAES][QCONF_NAME_MAX + 1];
	size_t n_saes;
	char ksa_listen[64];	/* address:port of the node's ETSI 014 server, "" if none */
	char ksa_cert[QCONF_PATH_MAX];	/* its certificate chain and key, PEM */
	char ksa_key[QCONF_PATH_MAX];
};

struct qconf_link {
	char name[QCONF_NAME_MAX + 1];
	size_t a, b;			/* node indexes, a != b */
	uint64_t rate_bps;		/* secret key rate, bit/s, >= 1 */
	uint32_t qber_cp;		/* QBER in centi-percent (0..5000) */
	uint32_t threshold_cp;		/* abort threshold, centi-percent (1..5000) */
	uint32_t pool_bits;		/* link key pool per end, bits (multiple of 8) */
};

struct qconf {
	char control[QCONF_PATH_MAX];	/* control socket path ("" = none) */
	char ca[QCONF_PATH_MAX];	/* CA of the SAE client certificates (KSA mTLS) */
	uint8_t seed[QCONF_SEED_LEN];
	bool have_seed;			/* false: a random seed at start */
	uint32_t key_size;		/* KSA default key size, bits */
	uint32_t max_key_size, min_key_size;
	uint32_t max_key_per_request;
	uint32_t tick_ms;		/* key generation tick */
	struct qconf_node nodes[QCONF_MAX_NODES];
	size_t n_nodes;
	struct qconf_link links[QCONF_MAX_LINKS];
	size_t n_links;
};

struct qconf_error {
	unsigned line;		/* 1-based; 0 when the error is not about one line */
	char reason[160];
	char text[QCONF_PATH_MAX + 200];	/* "file:line: reason" */
};

/*
 * Parse len bytes of text (NUL bytes are an error); name is the file name
 * used in messages and dir the directory relative paths resolve under.
 * On success *ret is a new struct qconf (free() it). On failure -EINVAL
 * (-EMSGSIZE over QCONF_FILE_MAX), *ret stays NULL and err says where and why.
 */
int qconf_parse(const char *text, size_t len, const char *name, const char *dir,
		struct qconf **ret, struct qconf_error *err);
/* Read and parse a file (bounded). Errors as qconf_parse(), or the read error. */
int qconf_load(const char *path, struct qconf **ret, struct qconf_error *err);

/* Index of a node / link by name, or -1. */
int qconf_node_index(const struct qconf *c, const char *name);
int qconf_link_index(const struct qconf *c, const char *name);
/* Index of the node an SAE is attached to, or -1. */
int qconf_sae_node(const struct qconf *c, const char *sae);
/* true for [A-Za-z0-9._-]{1,QCONF_NAME_MAX} of exactly len bytes. */
bool qconf_name_valid(const char *s, size_t len);

#endif
