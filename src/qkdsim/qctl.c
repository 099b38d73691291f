/* SPDX-License-Identifier: Apache-2.0 */
/* The qkdsim control protocol (qctl.h). */
#include "qkdsim/qctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 4)))
static int bad(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* Next space-separated word of [*p, end). */
static size_t word(const char **p, const char *end, const char **w)
{
	while (*p < end && **p == ' ')
		(*p)++;
	*w = *p;
	while (*p < end && **p != ' ')
		(*p)++;
	return (size_t)(*p - *w);
}

#define IS(w, n, s) ((n) == sizeof(s) - 1 && memcmp((w), (s), (n)) == 0)

int qctl_parse(const uint8_t *buf, size_t len, struct qctl_req *req, char *err, size_t err_size)
{
	const char *p = (const char *)buf, *end, *w;
	size_t n;

	memset(req, 0, sizeof(*req));
	if (len > QCTL_REQ_MAX) {
		bad(err, err_size, "request longer than %d bytes", QCTL_REQ_MAX);
		return -EMSGSIZE;
	}
	if (len && buf[len - 1] == '\n')
		len--;
	for (size_t i = 0; i < len; i++)
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return bad(err, err_size, "request holds a byte 0x%02x that is not printable ASCII",
				   buf[i]);
	end = p + len;
	n = word(&p, end, &w);
	if (IS(w, n, "status")) {
		n = word(&p, end, &w);
		if (n == 0)
			req->op = QCTL_STATUS;
		else if (IS(w, n, "json"))
			req->op = QCTL_STATUS_JSON;
		else
			return bad(err, err_size, "usage: status [json]");
	} else if (IS(w, n, "eavesdrop")) {
		req->op = QCTL_EAVESDROP;
		n = word(&p, end, &w);
		if (!qconf_name_valid(w, n))
			return bad(err, err_size, "usage: eavesdrop LINK on|off (bad link name)");
		memcpy(req->link, w, n);
		req->link[n] = '\0';
		n = word(&p, end, &w);
		if (IS(w, n, "on"))
			req->on = true;
		else if (IS(w, n, "off"))
			req->on = false;
		else
			return bad(err, err_size, "usage: eavesdrop LINK on|off");
	} else {
		return bad(err, err_size, "unknown request (want status [json] or eavesdrop LINK on|off)");
	}
	n = word(&p, end, &w);
	if (n)
		return bad(err, err_size, "trailing words after the request");
	return 0;
}

__attribute__((format(printf, 2, 3)))
static void put(struct wbuf *w, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		w->err = w->err ? w->err : -EMSGSIZE;
		return;
	}
	wbuf_put(w, tmp, (size_t)n);
}

/* Event texts are ours (names, digits, words); escape anyway. */
static void put_json_str(struct wbuf *w, const char *s)
{
	wbuf_u8(w, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			wbuf_u8(w, '\\');
		if ((unsigned char)*s >= 0x20)
			wbuf_u8(w, (uint8_t)*s);
	}
	wbuf_u8(w, '"');
}

static size_t active_alarms(const struct qnet *n)
{
	size_t a = 0;

	for (size_t i = 0; i < n->cfg->n_links; i++)
		a += n->links[i].alarm;
	return a;
}

int qctl_status_json(const struct qnet *n, struct wbuf *w)
{
	const struct qconf *c = n->cfg;
	size_t first = n->n_events > QNET_EVENTS ? n->n_events - QNET_EVENTS : 0;

	put(w, "{\"ok\":true,\"time_ms\":%llu,\"alarms_active\":%zu,\"links\":[",
	    (unsigned long long)n->now_ms, active_alarms(n));
	for (size_t i = 0; i < c->n_links; i++) {
		const struct qlink *l = &n->links[i];

		put(w, "%s{\"name\":\"%s\",\"a\":\"%s\",\"b\":\"%s\",\"rate_bps\":%llu,"
		    "\"measured_bps\":%llu,\"qber\":%u.%02u,\"threshold\":%u.%02u,"
		    "\"eavesdrop\":%s,\"alarm\":%s,\"alarms\":%u,\"pool_bits\":[%llu,%llu],"
		    "\"pool_max_bits\":%zu,\"produced_bits\":%llu,\"consumed_bits\":[%llu,%llu]}",
		    i ? "," : "", l->cfg->name, c->nodes[l->cfg->a].name, c->nodes[l->cfg->b].name,
		    (unsigned long long)l->cfg->rate_bps, (unsigned long long)l->rate_bps,
		    l->qber_cp / 100, l->qber_cp % 100, l->cfg->threshold_cp / 100,
		    l->cfg->threshold_cp % 100, l->eavesdrop ? "true" : "false",
		    l->alarm ? "true" : "false", l->alarms,
		    (unsigned long long)(8 * qlink_avail(l, 0)), (unsigned long long)(8 * qlink_avail(l, 1)),
		    8 * l->end[0].ring->len, (unsigned long long)l->produced_bits,
		    (unsigned long long)l->consumed_bits[0], (unsigned long long)l->consumed_bits[1]);
	}
	put(w, "],\"nodes\":[");
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct qnet_node *nd = &n->nodes[i];

		put(w, "%s{\"name\":\"%s\",\"kme_id\":\"%s\",\"keys_waiting\":%zu,\"enc_keys\":%llu,"
		    "\"dec_keys\":%llu,\"relayed\":%llu}", i ? "," : "", nd->cfg->name, nd->cfg->kme_id,
		    nd->n_keys, (unsigned long long)nd->enc_served, (unsigned long long)nd->dec_served,
		    (unsigned long long)nd->relayed);
	}
	put(w, "],\"relay\":{\"messages\":%llu,\"failures\":%llu},\"events\":[",
	    (unsigned long long)n->relay_msgs, (unsigned long long)n->relay_failures);
	for (size_t e = first; e < n->n_events; e++) {
		const struct qnet_event *ev = &n->events[e % QNET_EVENTS];

		put(w, "%s{\"time_ms\":%llu,\"link\":", e > first ? "," : "", (unsigned long long)ev->ms);
		put_json_str(w, ev->link >= 0 ? c->links[ev->link].name : "");
		put(w, ",\"alarm\":%s,\"text\":", ev->alarm ? "true" : "false");
		put_json_str(w, ev->text);
		put(w, "}");
	}
	put(w, "]}\n");
	return wbuf_error(w);
}

int qctl_status_text(const struct qnet *n, struct wbuf *w)
{
	const struct qconf *c = n->cfg;
	size_t first = n->n_events > QNET_EVENTS ? n->n_events - QNET_EVENTS : 0;

	put(w, "%-16s %-17s %10s %10s %7s %7s %12s %12s  %s\n", "link", "nodes", "rate b/s",
	    "meas b/s", "QBER %", "abort %", "pool bits a", "pool bits b", "state");
	for (size_t i = 0; i < c->n_links; i++) {
		const struct qlink *l = &n->links[i];
		char nodes[2 * QCONF_NAME_MAX + 2];

		snprintf(nodes, sizeof(nodes), "%s-%s", c->nodes[l->cfg->a].name, c->nodes[l->cfg->b].name);
		put(w, "%-16s %-17s %10llu %10llu %4u.%02u %4u.%02u %12llu %12llu  %s%s\n", l->cfg->name,
		    nodes, (unsigned long long)l->cfg->rate_bps, (unsigned long long)l->rate_bps,
		    l->qber_cp / 100, l->qber_cp % 100, l->cfg->threshold_cp / 100,
		    l->cfg->threshold_cp % 100, (unsigned long long)(8 * qlink_avail(l, 0)),
		    (unsigned long long)(8 * qlink_avail(l, 1)),
		    l->alarm ? "ALARM (QBER above threshold, no key)" : "ok",
		    l->eavesdrop ? " [eavesdropper]" : "");
	}
	put(w, "\n%-16s %-16s %8s %8s %8s %8s\n", "node", "KME ID", "waiting", "enc", "dec", "relayed");
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct qnet_node *nd = &n->nodes[i];

		put(w, "%-16s %-16s %8zu %8llu %8llu %8llu\n", nd->cfg->name, nd->cfg->kme_id,
		    nd->n_keys, (unsigned long long)nd->enc_served, (unsigned long long)nd->dec_served,
		    (unsigned long long)nd->relayed);
	}
	put(w, "\nalarms active: %zu; relay messages %llu, failed relays %llu\n", active_alarms(n),
	    (unsigned long long)n->relay_msgs, (unsigned long long)n->relay_failures);
	for (size_t e = first; e < n->n_events; e++) {
		const struct qnet_event *ev = &n->events[e % QNET_EVENTS];

		put(w, "  %8llu.%03llu s %s %s\n", (unsigned long long)(ev->ms / 1000),
		    (unsigned long long)(ev->ms % 1000), ev->alarm ? "ALARM" : "event", ev->text);
	}
	return wbuf_error(w);
}

int qctl_run(struct qnet *n, const struct qctl_req *req, struct wbuf *out)
{
	int r;

	switch (req->op) {
	case QCTL_STATUS:
		return qctl_status_text(n, out);
	case QCTL_STATUS_JSON:
		return qctl_status_json(n, out);
	case QCTL_EAVESDROP:
		r = qnet_eavesdrop(n, req->link, req->on);
		if (r < 0) {
			put(out, "error: %s\n", qnet_why(n));
			return r;
		}
		/* Apply now, so the answer and the next status agree. */
		r = qnet_tick(n, n->now_ms);
		put(out, "eavesdropper %s on link %s\n", req->on ? "placed" : "removed", req->link);
		return r < 0 ? r : wbuf_error(out);
	}
	return -EINVAL;
}
