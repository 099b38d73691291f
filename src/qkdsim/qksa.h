/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The KSA of one qkdsim node: an ETSI GS QKD 014 server (src/etsi014/, the
 * same face mfsd's key supply uses) in front of the node's key stores in
 * struct qnet. Mutual TLS: the caller's SAE ID is the CN of its verified
 * client certificate.
 *
 *   Get status   (caller = master, path = slave): qnet_status(); when no
 *                relay path is left (a QBER alarm on the path), 503 with the
 *                reason ("no relay path from office to dc: QBER alarm on
 *                link relay-dc"): this is how the alarm reaches an SAE.
 *   Get key      (caller = master, path = slave): qnet_enc_keys()
 *   Get key with key IDs (caller = slave, path = master): qnet_dec_keys()
 *
 * Errors: 400 bad request / key IDs not found (the spec's text), 401 wrong
 * SAE, 503 no key (not enough link key, no path, store full). The server's
 * worker threads call in under the network's lock.
 */
#ifndef MFS_QKDSIM_QKSA_H
#define MFS_QKDSIM_QKSA_H

#include <pthread.h>
#include <stddef.h>

#include "etsi014/server.h"
#include "qkdsim/qnet.h"

struct qksa {
	struct qnet *net;
	pthread_mutex_t *lock;
	int node;
	struct etsi014_server *srv;
};

/* Bind the node's ksa_listen with its certificate; nothing is served before qksa_start(). */
int qksa_new(struct qksa *k, struct qnet *net, pthread_mutex_t *lock, int node, char *err,
	     size_t err_size);
int qksa_start(struct qksa *k);
/* Stop and free (safe on a zeroed struct). */
void qksa_free(struct qksa *k);

#endif
