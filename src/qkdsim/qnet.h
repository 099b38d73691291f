/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulated QKD network: every node's KMA and KSA, every link, in one
 * process (docs/qkdsim.md says why).
 *
 * KMA. Each node stores link key per link (struct qlink, one end each) and
 * relays keys hop by hop: the source KSA draws a fresh random key K, and
 * every hop of the path re-encrypts it with one-time pad from its own link
 * (qlink_relay_seal/open), so a relay of |K| bytes costs |K| + 32 bytes of
 * link key on every link of the path. Intermediate nodes see K: they are
 * trusted nodes (ITU-T Y.3800). The path is the shortest one (fewest hops,
 * lowest link index first) over links without an alarm.
 *
 * KSA. enc_keys at the master SAE's node relays fresh keys to the slave
 * SAE's node, where they wait under their key ID for dec_keys; both calls
 * return the same bytes for a key ID, and each key leaves the network once
 * at each end (ETSI GS QKD 014 §6.2, §6.4 post-conditions). Status reports
 * the real depth: how many keys of the given size the path can relay now.
 *
 * No clock and no I/O: the caller passes the time (qnet_tick) and moves
 * requests in from its servers. Errors are negative errno values, chosen so
 * that the ETSI 014 face can map them to HTTP: -EINVAL 400 (bad request),
 * -ENOENT 400 (key ID not found), -EACCES 401 (wrong SAE), -EAGAIN,
 * -ENETUNREACH, -ENOSPC 503; qnet_why() says why in words.
 */
#ifndef MFS_QKDSIM_QNET_H
#define MFS_QKDSIM_QNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/secret.h"
#include "qkdsim/qconf.h"
#include "qkdsim/qlink.h"

#define QNET_NODE_KEYS_MAX 4096	/* relayed keys waiting for dec_keys, per node */
#define QNET_EVENTS 64		/* alarm/event log kept for status */
#define QNET_WHY_MAX 160

struct qnet_key {
	uint8_t id[16];
	struct secret *key;
	uint16_t master_node;
	char master[QCONF_NAME_MAX + 1], slave[QCONF_NAME_MAX + 1];
	uint64_t created_ms;
};

struct qnet_node {
	const struct qconf_node *cfg;
	struct qnet_key *keys;		/* QNET_NODE_KEYS_MAX slots, n_keys used (unordered) */
	size_t n_keys;
	uint64_t enc_served, dec_served, relayed;	/* keys */
};

struct qnet_event {
	uint64_t ms;
	int link;		/* -1: not about one link */
	bool alarm;		/* true: raised, false: cleared or informational */
	char text[96];
};

struct qnet {
	struct qconf *cfg;		/* owned */
	struct qnet_node nodes[QCONF_MAX_NODES];
	struct qlink links[QCONF_MAX_LINKS];
	uint64_t now_ms;
	struct qnet_event events[QNET_EVENTS];
	size_t n_events;		/* total ever; the last QNET_EVENTS are kept */
	uint64_t relay_msgs, relay_failures;
	char why[QNET_WHY_MAX];		/* reason of the last failure */
};

/*
 * Build the network from cfg (ownership passes to n, also on failure).
 * Link seeds: HKDF-SHA-256(salt "qkdsim v1 link seed", IKM = the master
 * seed (config or random), info = link name).
 */
int qnet_init(struct qnet *n, struct qconf *cfg, uint64_t now_ms);
void qnet_free(struct qnet *n);

/* Advance every link to now_ms; alarms raised/cleared become events. */
int qnet_tick(struct qnet *n, uint64_t now_ms);
/* -ENOENT for an unknown link. */
int qnet_eavesdrop(struct qnet *n, const char *link, bool on);

/* The path of links from node a to node b: link indexes in hop order. */
struct qnet_path {
	size_t n_hops;
	int link[QCONF_MAX_NODES];
	int node[QCONF_MAX_NODES + 1];	/* node[0] = a ... node[n_hops] = b */
};
/*
 * Shortest path over links without an alarm. -ENETUNREACH when there is
 * none (qnet_why() names an alarmed link when that is the cause).
 */
int qnet_route(struct qnet *n, int a, int b, struct qnet_path *ret);

/*
 * Relay one key of klen bytes from node src to node dst along the path:
 * every hop seals with the sender's end and opens with the receiver's end
 * of its link, through the encoded relay message. key is the key to relay.
 * -EAGAIN (nothing consumed anywhere) when a link of the path lacks the
 * link key for it. Exposed for tests and bench/qkd.
 */
int qnet_relay(struct qnet *n, const struct qnet_path *path, const struct qrelay_hdr *h,
	       const uint8_t *key, size_t klen, uint8_t *out_key);

/* Keys handed out by enc_keys / dec_keys: ids[i], key bytes at keys->p + i * size/8. */
struct qnet_keys {
	size_t number, bytes;		/* count, bytes per key */
	uint8_t ids[1024][16];
	struct secret *keys;		/* number * bytes */
};
void qnet_keys_free(struct qnet_keys *k);

/*
 * Get key (ETSI 014 enc_keys) at the KSA of node `node` for the calling
 * master SAE (identified by its certificate), for slave SAE `slave`.
 * number 0 means 1, size_bits 0 means key_size. On success out holds the
 * keys (out->keys freed with qnet_keys_free) and the same keys wait at the
 * slave's node. All or nothing.
 */
int qnet_enc_keys(struct qnet *n, int node, const char *master, const char *slave,
		  unsigned number, unsigned size_bits, struct qnet_keys *out);
/*
 * Get key with key IDs (dec_keys) at node `node` for the calling slave SAE,
 * keys from master SAE `master`. All or nothing: -ENOENT if any ID is not
 * there, -EACCES if any is for another slave or master (the 401 rule).
 */
int qnet_dec_keys(struct qnet *n, int node, const char *slave, const char *master,
		  const uint8_t (*ids)[16], size_t n_ids, struct qnet_keys *out);

/* Status (ETSI 014 Get status) of the pair as seen at the master's node. */
struct qnet_status {
	char source_kme[QCONF_NAME_MAX + 1], target_kme[QCONF_NAME_MAX + 1];
	unsigned key_size, stored_key_count, max_key_count, max_key_per_request;
	unsigned max_key_size, min_key_size;
	/* The alarmed links of the static path between the two nodes, "" if none. */
	char alarm_links[128];
	size_t hops;
};
int qnet_status(struct qnet *n, int node, const char *master, const char *slave,
		struct qnet_status *st);

/* Why the last failing call failed, in words (no key material). */
const char *qnet_why(const struct qnet *n);

#endif
