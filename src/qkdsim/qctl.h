/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The qkdsim control protocol, spoken over its Unix socket (mode 0600):
 * one request line in, one response out, then the server closes.
 *
 *   status               a table for people: links, nodes, alarms, events
 *   status json          the same as one JSON object (monitoring)
 *   eavesdrop LINK on    place an eavesdropper on LINK (QBER 25 %)
 *   eavesdrop LINK off   remove it
 *
 * A request is at most QCTL_REQ_MAX bytes of printable ASCII ending in one
 * optional "\n"; anything else is refused with a reason. The response to a
 * refused or failed request starts with "error: " (text) and the server
 * changes nothing.
 */
#ifndef MFS_QKDSIM_QCTL_H
#define MFS_QKDSIM_QCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "qkdsim/qconf.h"
#include "qkdsim/qnet.h"

#define QCTL_REQ_MAX 128
#define QCTL_RESP_MAX (64 * 1024)

enum qctl_op {
	QCTL_STATUS,
	QCTL_STATUS_JSON,
	QCTL_EAVESDROP,
};

struct qctl_req {
	enum qctl_op op;
	char link[QCONF_NAME_MAX + 1];
	bool on;
};

/*
 * Parse one request. -EBADMSG (with err[] saying why) on anything that is
 * not exactly one of the requests above; -EMSGSIZE when longer than
 * QCTL_REQ_MAX.
 */
int qctl_parse(const uint8_t *buf, size_t len, struct qctl_req *req, char *err, size_t err_size);

/* Run a parsed request against the network and write the response to out. */
int qctl_run(struct qnet *n, const struct qctl_req *req, struct wbuf *out);

/* The status as JSON / as a table (used by qctl_run, exposed for tests). */
int qctl_status_json(const struct qnet *n, struct wbuf *out);
int qctl_status_text(const struct qnet *n, struct wbuf *out);

#endif
