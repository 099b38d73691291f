/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ETSI GS QKD 014 HTTPS server: libevent evhttp over bufferevent_openssl,
 * mutual TLS, a backend vtable. The same face serves mfsd's key supply and
 * the QKD simulator's KSA; it knows nothing of where keys come from.
 *
 * Transport (spec §4, §5.1)
 *   TLS 1.2 or 1.3 (min_tls13 for 1.3 only), server certificate and key
 *   from PEM files, client certificates verified against ca_file. The TLS
 *   handshake completes even without a valid client certificate, so that
 *   such a request gets an HTTP 401 with a JSON error instead of a bare TLS
 *   alert; no request is handed to the backend unless the client sent a
 *   certificate that verified (SSL_get_verify_result() == X509_V_OK).
 *
 * Caller identity
 *   The caller's SAE ID comes from its verified client certificate only,
 *   never from a header, the path or the body: the subject CN (default),
 *   the first DNS or URI subjectAltName, or the serial number looked up in
 *   a table (certificates whose serial is not listed get 401). The ID must
 *   be printable ASCII of at most ETSI014_ID_MAX bytes, else 401.
 *
 * Requests
 *   Parsed and validated by etsi014_parse_request() against cfg->limits
 *   (etsi014.h) before the backend is called. Request headers are capped at
 *   max_header_bytes (all header lines together) and bodies at
 *   ETSI014_BODY_MAX: larger gives 400 with a JSON error. (Beyond libevent's
 *   own hard caps, 4x those, libevent answers by itself without a JSON body.)
 *   Every error response is JSON {"message": ...}; 401 carries one too,
 *   although the spec defines no body for it.
 *
 * Threads
 *   `threads` worker threads, each with its own event base, evhttp and
 *   listening socket on the same address and port (SO_REUSEPORT: the
 *   kernel spreads new connections over the workers). Backend calls happen on the
 *   worker threads, synchronously: a slow backend call holds up the other
 *   connections of that worker. Before its loop each worker calls
 *   backend->thread_init(arg, index, &tctx) (optional), and every other
 *   backend call of that worker gets its tctx (e.g. one database handle per
 *   thread); thread_done(tctx) runs when the worker ends.
 *
 * Backend contract
 *   status(tctx, call, st, err): fill *st (pre-filled with the limits and
 *     the caller/path IDs as master/slave; set the KME IDs and counts).
 *   enc_keys(tctx, call, req, keys, err): fill keys[0..req->number-1],
 *     each req->size / 8 bytes with a fresh unique ID. All or none.
 *   dec_keys(tctx, call, ids, keys, err): fill keys[i] for ids->id[i],
 *     i < ids->n. All or none.
 *   Return 0, or a negative errno and (optionally) set err (status and
 *   message). When err->status is left 0 the errno is mapped: -EACCES,
 *   -EPERM -> 401; -ENOKEY -> 400 "one or more keys specified are not found
 *   on KME" for dec_keys, 503 for enc_keys; -EINVAL -> 400; else 503.
 *   The keys array is secret memory owned by the server: it is wiped after
 *   each response is formatted, and the response body is built in secret
 *   memory that is wiped when libevent has written it to TLS.
 *
 * Durability is the backend's business: it must make whatever it records
 * about a delivery durable before it returns 0, because the response is
 * written right after.
 */
#ifndef MFS_ETSI014_SERVER_H
#define MFS_ETSI014_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etsi014/etsi014.h"

#define ETSI014_THREADS_MAX 64
#define ETSI014_ERR_LEN 256		/* etsi014_server_new() reason buffer */

enum etsi014_sae_id_from {
	ETSI014_SAE_ID_CN = 0,		/* subject commonName (default) */
	ETSI014_SAE_ID_SAN_DNS = 1,	/* first dNSName subjectAltName */
	ETSI014_SAE_ID_SAN_URI = 2,	/* first uniformResourceIdentifier subjectAltName */
	ETSI014_SAE_ID_SERIAL = 3,	/* serial number (lower-case hex) -> table */
};
/* "cn", "san-dns", "san-uri", "serial"; -EINVAL if unknown. */
int etsi014_sae_id_from_parse(const char *s, enum etsi014_sae_id_from *ret);
const char *etsi014_sae_id_from_name(enum etsi014_sae_id_from f);

/* ETSI014_SAE_ID_SERIAL: certificate serial (hex, no 0x, any case, no leading zeros) -> SAE ID. */
struct etsi014_serial_map {
	const char *serial_hex;
	const char *sae_id;
};

struct etsi014_server_config {
	const char *address;		/* numeric IPv4 or IPv6 address to bind */
	uint16_t port;			/* 0 = any free port (see etsi014_server_port) */
	const char *cert_file;		/* server certificate chain, PEM */
	const char *key_file;		/* its private key, PEM */
	const char *ca_file;		/* CA certificate(s) for client certificates, PEM */
	bool min_tls13;			/* refuse TLS 1.2 */
	enum etsi014_sae_id_from sae_id_from;
	const struct etsi014_serial_map *serial_map;	/* copied */
	size_t n_serial_map;
	struct etsi014_limits limits;
	unsigned threads;		/* 1..ETSI014_THREADS_MAX; 0 = 1 */
	unsigned idle_timeout_s;	/* keep-alive idle timeout; 0 = 60 */
	size_t max_header_bytes;	/* 0 = 8192 */
};

/* Who asks what: borrowed for the duration of one backend call. */
struct etsi014_call {
	enum etsi014_op op;
	const char *caller;		/* SAE ID from the verified client certificate */
	const char *sae_id;		/* SAE ID of the path (slave for status/enc, master for dec) */
	unsigned thread;		/* worker index */
};

struct etsi014_backend {
	void *arg;
	int (*thread_init)(void *arg, unsigned thread, void **ret_tctx);	/* optional */
	void (*thread_done)(void *tctx);					/* optional */
	int (*status)(void *tctx, const struct etsi014_call *c, struct etsi014_status *st,
		      struct etsi014_error *err);
	int (*enc_keys)(void *tctx, const struct etsi014_call *c,
			const struct etsi014_key_request *req, struct etsi014_key *keys,
			struct etsi014_error *err);
	int (*dec_keys)(void *tctx, const struct etsi014_call *c, const struct etsi014_key_ids *ids,
			struct etsi014_key *keys, struct etsi014_error *err);
};

/* Counters since start, summed over the workers. */
struct etsi014_stats {
	uint64_t connections;		/* accepted TCP connections */
	uint64_t requests;		/* HTTP requests answered */
	uint64_t ok;			/* 200 */
	uint64_t keys_served;		/* keys in 200 responses (enc + dec) */
	uint64_t enc_requests, dec_requests, status_requests;
	uint64_t err_400, err_401, err_404, err_405, err_503;
	uint64_t unauthenticated;	/* 401 for a missing or unverified certificate */
	uint64_t worker_connections_min;	/* connections accepted by the least busy worker */
	uint64_t worker_connections_max;	/* ... and by the busiest */
};

struct etsi014_server;

/*
 * Load the certificates and key, bind and listen (nothing is served yet).
 * be is copied; be->arg must outlive the server. Returns 0, -EINVAL (bad
 * config; reason in err), -EIO (TLS files: reason in err), -EADDRINUSE and
 * other socket errors. *ret: etsi014_server_free().
 */
int etsi014_server_new(const struct etsi014_server_config *cfg, const struct etsi014_backend *be,
		       struct etsi014_server **ret, char *err, size_t err_size);
/* The bound port (useful with cfg->port 0). */
uint16_t etsi014_server_port(const struct etsi014_server *s);
/* Start the worker threads; 0 or a negative errno (nothing started). */
int etsi014_server_start(struct etsi014_server *s);
/* Sum of the workers' counters (relaxed atomics: a consistent-enough snapshot). */
void etsi014_server_stats(const struct etsi014_server *s, struct etsi014_stats *ret);
/*
 * Stop the workers (open connections are closed, in-flight backend calls
 * finish first), join them, close the socket, free. NULL-safe.
 */
void etsi014_server_free(struct etsi014_server *s);

#endif
