/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's side of the push socket (docs/push.md): client connections,
 * subscriptions, key delivery, acknowledgements and usage. Like the control
 * engine it does no I/O: the daemon accepts the socket, reads the client's
 * SO_PEERCRED, and moves bytes in and out.
 *
 *   push_new(cf, st, self_uid)       once, after cf_new(); installs the cf hooks
 *   push_allow_add(peer, class, ..)  the class's push_allow list (config)
 *   push_conn_new(uid, gid, pid)     a client connected
 *   push_conn_input(conn, bytes)     bytes read from it (any split)
 *   push_conn_output / _consume      bytes to write to it
 *   push_conn_free(conn)             it is gone (closed by either side)
 *   push_link_up(peer)               after cf_link_up(): announce keys again
 *   push_tick(now)                   serve starved subscriptions, expiries
 *
 * Keys are taken from the store (store_take / store_get_by_id: committed
 * as delivered with fsync) before they are appended to a connection's
 * output, which lives in secret memory and is wiped as it is consumed.
 */
#ifndef MFS_PUSH_PUSH_H
#define MFS_PUSH_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf/cf.h"
#include "store/store.h"

#define PUSH_MAX_CONNS 64
#define PUSH_OUT_MAX (64U * 1024)	/* unread output per connection */
#define PUSH_PENDING_MAX 256		/* announced inbound ids waiting per class */
#define PUSH_TRACK_MAX 64		/* keys remembered per subscription */
#define PUSH_ALLOW_MAX 16
#define PUSH_REANNOUNCE_MAX 64		/* ids announced again per class on link-up */
#define PUSH_GROUPS_MAX 32		/* supplementary groups kept per client */

struct push;
struct push_conn;

enum push_principal {
	PUSH_UID = 1,
	PUSH_GID = 2,
};

/*
 * Counters for mfsctl/benchmarks; all since start.
 */
struct push_stats {
	uint64_t conns, refused, keys_out, keys_in, errors;
};

/* Set up; installs the TAKEN/INSTALLED hooks into cf. self_uid is always allowed. */
int push_new(struct cf *cf, struct store *st, uint32_t self_uid, struct push **ret);
/* Close every connection (wiping its output) and free. NULL-safe. */
void push_free(struct push *push);

/* Allow uid or gid id to use (peer, class). -ENOENT unknown pool, -ENOSPC list full. */
int push_allow_add(struct push *push, const char *peer, const char *class_name,
		   enum push_principal kind, uint32_t id);

/* A client connected with these credentials. -EMFILE over PUSH_MAX_CONNS, -ENOMEM. */
int push_conn_new(struct push *push, uint32_t uid, uint32_t gid, uint32_t pid,
		  struct push_conn **ret);
/*
 * Its supplementary groups (SO_PEERGROUPS), also matched against gid:N of
 * push_allow; at most PUSH_GROUPS_MAX are kept (copied).
 */
void push_conn_set_groups(struct push_conn *pc, const uint32_t *gids, size_t n);
/*
 * Bytes read from the client. Returns 0, or a negative errno when the
 * connection must be closed after its pending output is written (a fatal
 * ERROR is queued) or at once (-ENOBUFS: the client does not read).
 */
int push_conn_input(struct push_conn *pc, const uint8_t *data, size_t len, int64_t now);
/* Pending output: *ret points at it (valid until the next call into push). */
size_t push_conn_output(struct push_conn *pc, const uint8_t **ret);
void push_conn_consume(struct push_conn *pc, size_t n);
/* True when the connection must be closed once its output is written. */
bool push_conn_closing(const struct push_conn *pc);
/* The connection is closed: drop its subscription, wipe and free it. NULL-safe. */
void push_conn_free(struct push_conn *pc);

/* The link to peer p came up: announce its classes' push-delivered keys again. */
void push_link_up(struct push *push, struct cf_peer *p, int64_t now);
/* Serve starved outbound subscriptions (at most once per second), send RETIREs. */
void push_tick(struct push *push, int64_t now);

const struct push_stats *push_stats(const struct push *push);

#endif
