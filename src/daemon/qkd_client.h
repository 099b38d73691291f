/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfsd's ETSI GS QKD 014 client for the qkd014 method (docs/qkd014.md):
 * libcurl multi, mutual TLS to the local KME, driven from mfsd's epoll loop
 * through one file descriptor (its own epoll set of curl's sockets).
 *
 * Per peer with a qkd_sae_id it keeps
 *   - a master buffer: keys from enc_keys (slave = the peer's SAE), whose
 *     IDs it shares with the peer (cf_qkd_share); a key becomes usable when
 *     the peer acknowledges it (QKD_READY) and is handed out once (take);
 *   - a slave buffer: keys the peer shared, fetched with dec_keys and
 *     acknowledged (cf_qkd_ack); looked up once by the exchange (lookup);
 *     a key ID used before is refused (-EALREADY);
 *   - the KME's health as this node sees it: Status every QKDC_POLL_MS;
 *     two failures in a row (connection, TLS, certificate, timeout, HTTP
 *     error, malformed answer) or a 503 naming a QBER alarm put the peer's
 *     QKD in outage (logged; a QBER alarm is a security event: logged as
 *     such and audited as "qkd-alarm"); the first good Status ends it.
 * Requests time out after QKDC_TIMEOUT_MS; failed enc/dec requests are
 * retried with a doubling backoff (QKDC_RETRY_MIN_MS..QKDC_RETRY_MAX_MS).
 * Keys never stay in memory unused for long: unacknowledged master keys
 * after QKDC_ACK_WAIT_MS, slave keys after QKDC_SLAVE_TTL_MS are wiped.
 */
#ifndef MFS_DAEMON_QKD_CLIENT_H
#define MFS_DAEMON_QKD_CLIENT_H

#include <stdint.h>

#include "cf/cf.h"
#include "daemon/config.h"
#include "store/store.h"

#define QKDC_POLL_MS 2000
#define QKDC_TIMEOUT_MS 3000
#define QKDC_RETRY_MIN_MS 250
#define QKDC_RETRY_MAX_MS 4000
#define QKDC_ACK_WAIT_MS 30000
#define QKDC_SLAVE_TTL_MS 600000
#define QKDC_LOW 8		/* fetch more when fewer unused master keys */
#define QKDC_BATCH 16		/* keys per enc_keys */
#define QKDC_MBUF 64
#define QKDC_SBUF 256
#define QKDC_USED 1024		/* remembered used key IDs (replay check) */
#define QKDC_KEY_BITS 256

struct qkdc;

/*
 * The client for cfg (NULL in *ret, and 0, when [node] has no qkd_kme).
 * Checks that every class requiring qkd014 has a peer qkd_sae_id (-EINVAL,
 * logged with the file name). Attaches itself to cf (cf_set_qkd).
 */
int qkdc_new(const struct config *cfg, struct cf *cf, struct store *st, struct qkdc **ret);
void qkdc_free(struct qkdc *q);
/*
 * After a configuration reload (cf_reconfigure() done): follow the peers of
 * cfg by name; a peer kept with the same qkd_sae_id keeps its keys, others
 * are wiped. The client keeps no pointer into cfg. [node] qkd_* need a
 * restart (mfsd refuses such a reload). NULL-safe.
 */
void qkdc_reconfigure(struct qkdc *q, const struct config *cfg);
/* The fd to watch for input (EPOLLIN) in the daemon's loop. */
int qkdc_fd(const struct qkdc *q);
/* Do what is due: socket events, curl timers, polls, prefetch, fetches. */
void qkdc_process(struct qkdc *q, int64_t now_ms);
/* Milliseconds until qkdc_process() wants to run again (0..1000). */
int64_t qkdc_wait_ms(const struct qkdc *q, int64_t now_ms);

#endif
