/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfsd configuration: one INI file (parsed with inih), described in full in
 * docs/config.md.
 *
 *   [node]                 this daemon: id, listen address, identity files,
 *                          state directory, admin socket, PSK directory, log level
 *   [peer NAME]            one per peer: address, pinned TLS certificate,
 *                          pinned Classic McEliece public keys, TLS group, PSK ID
 *   [class PEER NAME]      one per data protection class of that peer (after
 *                          its [peer] section): methods, minimums, combiner,
 *                          rekey limits, pool watermarks
 *   [supply]               optional: the ETSI GS QKD 014 key supply face
 *                          (listen address, TLS files, SAE ID source, limits)
 *   [sae NAME]             one per SAE (encryptor) the key supply knows: local
 *                          (peer, classes, role) or remote (peer, one class)
 *
 * Loading is all or nothing: the text is parsed into one heap object which
 * is handed to the caller only when every syntax and semantic check passed.
 * Every error names the file, the line and the reason (struct config_error).
 * Relative paths are resolved against the directory of the configuration
 * file (config_load) or opts->base_dir.
 */
#ifndef MFS_DAEMON_CONFIG_H
#define MFS_DAEMON_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/log.h"
#include "kex/kex.h"
#include "proto/policy.h"

/* Bounds (each one an error when exceeded, never a truncation). */
#define CONFIG_FILE_MAX (64U * 1024)	/* bytes in the configuration file */
#define CONFIG_LINE_MAX 190		/* bytes in one line, after leading whitespace */
#define CONFIG_MAX_PEERS 16
#define CONFIG_MAX_CLASSES 8		/* per peer */
#define CONFIG_PATH_MAX PATH_MAX	/* a path after resolution, NUL included */
#define CONFIG_SOCKET_PATH_MAX 108	/* sizeof(sun_path), NUL included */
#define CONFIG_HOST_MAX 253		/* DNS name or address literal (RFC 1123) */
#define CONFIG_ID_MAX 64		/* node id: [A-Za-z0-9._-]{1,64} */
#define CONFIG_PIN_FILE_MAX (2U * 1024 * 1024)	/* a pinned McEliece public key file */
#define CONFIG_DURATION_MAX (365U * 24 * 3600)	/* seconds */
#define CONFIG_VOLUME_MAX (1ULL << 50)		/* 1 PiB */
#define CONFIG_POOL_MAX 4096
#define CONFIG_SHA256_LEN 32
#define CONFIG_SHA3_LEN 32
#define CONFIG_MAX_SAES 32
#define CONFIG_SAE_ID_MAX 64		/* [sae NAME]: [A-Za-z0-9_-]{1,64} */
#define CONFIG_SERIAL_MAX 40		/* hex digits of a certificate serial */

/* Node defaults (absolute paths, used as they are). */
#define CONFIG_DEFAULT_LISTEN "[::]:7400"
#define CONFIG_DEFAULT_STATE_DIR "/var/lib/mfsd"
#define CONFIG_DEFAULT_ADMIN_SOCKET "/run/mfsd/admin.sock"
#define CONFIG_DEFAULT_PSK_DIR "/etc/mfsd/psk"
#define CONFIG_DEFAULT_PUSH_MODE 0600
#define CONFIG_NO_GROUP UINT32_MAX		/* push_socket_group not set */
#define CONFIG_PUSH_ALLOW_MAX 16		/* entries in push_allow */
#define CONFIG_DEFAULT_STATIC_ROTATE_S (30U * 24 * 3600)	/* 30d */
#define CONFIG_DEFAULT_STATIC_GRACE_S (10U * 60)		/* 10m */

/* The Classic McEliece parameter sets a node holds static keys for. */
enum config_mceliece {
	CONFIG_MCELIECE460896,		/* method "mceliece460896" */
	CONFIG_MCELIECE6688128,		/* method "mceliece6688128" */
	CONFIG_MCELIECE_N,
};

/* TLS 1.3 key-exchange group of the link to a peer (OpenSSL names). */
enum config_tls_group {
	CONFIG_TLS_X25519MLKEM768 = 0,	/* default */
	CONFIG_TLS_MLKEM1024,
};

struct config_addr {
	char host[CONFIG_HOST_MAX + 1];	/* no brackets around an IPv6 literal */
	uint16_t port;			/* 1..65535 */
	int family;			/* AF_INET, AF_INET6, or AF_UNSPEC for a DNS name */
};

/* A static McEliece key pair of this node (both paths set, or neither). */
struct config_mceliece_key {
	bool set;
	char sk_path[CONFIG_PATH_MAX];
	char pk_path[CONFIG_PATH_MAX];
};

/*
 * A peer's pinned McEliece public key: the file and the SHA3-256 of its
 * bytes. config_load() checked that they match (unless
 * CONFIG_SKIP_FILE_CHECKS); whoever reads the file later must check again.
 */
struct config_mceliece_pin {
	bool set;
	char path[CONFIG_PATH_MAX];
	uint8_t sha3[CONFIG_SHA3_LEN];
};

struct config_node {
	char id[CONFIG_ID_MAX + 1];
	struct config_addr listen;		/* an address literal, never a name */
	char identity_key[CONFIG_PATH_MAX];	/* ML-DSA-65 private key */
	char identity_cert[CONFIG_PATH_MAX];	/* its certificate */
	struct config_mceliece_key mceliece[CONFIG_MCELIECE_N];
	char state_dir[CONFIG_PATH_MAX];	/* key store (SQLite) and KEK */
	char admin_socket[CONFIG_SOCKET_PATH_MAX];
	char psk_dir[CONFIG_PATH_MAX];		/* <psk_dir>/<id>.psk, see kex/psk_file.h */
	enum mfs_log_level log_level;
	/* QKD (qkd014): the local KME's ETSI 014 API; qkd_kme.port 0 = none */
	struct config_addr qkd_kme;
	char qkd_sae_id[CONFIG_ID_MAX + 1];	/* this node's SAE ID (its client certificate's CN) */
	char qkd_cert[CONFIG_PATH_MAX];		/* client certificate and key, PEM */
	char qkd_key[CONFIG_PATH_MAX];
	char qkd_ca[CONFIG_PATH_MAX];		/* CA that signed the KME's certificate */
	char push_socket[CONFIG_SOCKET_PATH_MAX];	/* docs/push.md; "" = none */
	uint32_t push_socket_mode;		/* permission bits, <= 0777 */
	uint32_t push_socket_group;		/* gid, or CONFIG_NO_GROUP */
	uint32_t push_socket_owner;		/* uid, or CONFIG_NO_GROUP (not set) */
	uint32_t static_rotate_s;		/* McEliece static key rotation interval */
	uint32_t static_grace_s;		/* old key kept this long after the peers re-pinned */
};

/* One entry of a class's push_allow list: who may get its keys (SO_PEERCRED). */
enum config_principal_kind {
	CONFIG_PRINCIPAL_UID = 1,
	CONFIG_PRINCIPAL_GID = 2,
};
struct config_principal {
	enum config_principal_kind kind;
	uint32_t id;
};

struct config_class {
	struct class_policy policy;		/* policy.name is the class name */
	char psk_id[KEX_PSK_ID_MAX + 1];	/* set when the class has the psk method */
	struct config_principal push_allow[CONFIG_PUSH_ALLOW_MAX];
	size_t n_push_allow;			/* 0: only the daemon's own uid */
	unsigned line;				/* of its [class] header */
};

struct config_peer {
	char name[POLICY_NAME_MAX + 1];
	struct config_addr address;
	uint8_t cert_sha256[CONFIG_SHA256_LEN];	/* SHA-256 of the peer's DER certificate */
	struct config_mceliece_pin mceliece[CONFIG_MCELIECE_N];
	enum config_tls_group tls_group;
	char psk_id[KEX_PSK_ID_MAX + 1];	/* default for its classes; "" if not set */
	char qkd_sae_id[CONFIG_ID_MAX + 1];	/* the peer's SAE ID at its KME ("" = no QKD) */
	struct config_class classes[CONFIG_MAX_CLASSES];	/* file order, at least one */
	size_t n_classes;
	unsigned line;				/* of its [peer] header */
};

/* [supply]: the ETSI GS QKD 014 key supply face (docs/key-supply.md). */
struct config_supply {
	bool enabled;				/* the section is there */
	struct config_addr listen;		/* an address literal */
	char cert[CONFIG_PATH_MAX];		/* server certificate chain, PEM */
	char key[CONFIG_PATH_MAX];		/* its private key, PEM */
	char ca[CONFIG_PATH_MAX];		/* CA of the SAE client certificates, PEM */
	uint32_t sae_id_from;			/* enum etsi014_sae_id_from (default CN) */
	uint32_t threads;			/* 1..64, default 16 (workers block in fsync) */
	uint32_t max_key_per_request;		/* 1..1024, default 128 */
	uint64_t store_size_limit;		/* bytes, 0 = none (tests: a full store) */
	uint32_t reserve;			/* delivery reserve, keys: 0 = none, default 2048 */
	unsigned line;
};

enum config_sae_role {
	CONFIG_SAE_MASTER = 1U << 0,
	CONFIG_SAE_SLAVE = 1U << 1,
};

/* [sae NAME]: one SAE of the key supply. */
struct config_sae {
	char id[CONFIG_SAE_ID_MAX + 1];		/* the section's NAME: the SAE ID */
	bool remote;				/* location = remote */
	char peer[POLICY_NAME_MAX + 1];
	char classes[CONFIG_MAX_CLASSES][POLICY_NAME_MAX + 1];
	size_t n_classes;			/* remote: exactly one */
	uint32_t roles;				/* local: enum config_sae_role, default both */
	uint32_t key_bits;			/* default 256 */
	char serial[CONFIG_SERIAL_MAX + 1];	/* local, sae_id_from = serial */
	unsigned line;
};

struct config {
	char source[CONFIG_PATH_MAX];	/* the file name used in error messages */
	struct config_node node;
	struct config_peer peers[CONFIG_MAX_PEERS];	/* file order, at least one */
	size_t n_peers;
	struct config_supply supply;
	struct config_sae saes[CONFIG_MAX_SAES];	/* file order */
	size_t n_saes;
};

enum config_flags {
	/*
	 * Tests and fuzzing only: do not open the pinned McEliece key files
	 * (their hashes are not checked). Never set by mfsd.
	 */
	CONFIG_SKIP_FILE_CHECKS = 1U << 0,
};

struct config_options {
	/*
	 * Directory that relative paths are resolved against. NULL: the
	 * directory of the file for config_load(); for config_parse_string(),
	 * relative paths are then kept as written (relative to the working
	 * directory).
	 */
	const char *base_dir;
	unsigned flags;		/* enum config_flags */
};

#define CONFIG_ERROR_FILE_MAX 256
#define CONFIG_ERROR_REASON_MAX 256

struct config_error {
	char file[CONFIG_ERROR_FILE_MAX];	/* as given (truncated to fit) */
	unsigned line;		/* 1-based; 0 when the file itself could not be read */
	char reason[CONFIG_ERROR_REASON_MAX];
	/* "file:line: reason" ("file: reason" when line is 0), for one log line */
	char text[CONFIG_ERROR_FILE_MAX + CONFIG_ERROR_REASON_MAX + 16];
};

/*
 * Read and check the configuration file at path (at most CONFIG_FILE_MAX
 * bytes, a regular file). opts may be NULL. On success *ret is a new
 * object (caller frees with config_free()). On failure *ret is untouched,
 * nothing is allocated, and *err (if err is not NULL) says where and why.
 * Returns 0, -EBADMSG (an error in the file), -EMSGSIZE (too large),
 * -ENOMEM, or the negative errno of reading the file.
 */
int config_load(const char *path, const struct config_options *opts, struct config **ret,
		struct config_error *err);

/*
 * The same for the configuration text[0..len) (it need not be
 * NUL-terminated; a NUL byte in it is an error). name is used in messages
 * (NULL: "<config>"). Pinned key files are read unless opts->flags has
 * CONFIG_SKIP_FILE_CHECKS.
 */
int config_parse_string(const char *text, size_t len, const char *name,
			const struct config_options *opts, struct config **ret,
			struct config_error *err);

/* Release a configuration; NULL-safe. */
void config_free(struct config *cfg);

/* Lookups by name; NULL when there is none. */
const struct config_peer *config_peer_by_name(const struct config *cfg, const char *name);
const struct config_class *config_class_by_name(const struct config_peer *peer,
						const char *name);

/* "mceliece460896" / "mceliece6688128". */
const char *config_mceliece_method(enum config_mceliece set);
/* "X25519MLKEM768" / "MLKEM1024" (the OpenSSL group names). */
const char *config_tls_group_name(enum config_tls_group group);

#endif
