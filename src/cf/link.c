/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine's link to one peer (docs/mfsd.md "Link framing"): the output
 * queue (bounded, CF_OUT_MAX), link up and down, and cf_link_input(): the
 * input buffer cut into envelopes, each checked for length here before its
 * handler sees it (internal.h), then the exchanges finished during the call
 * stored by group commit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/secret.h"
#include "cf/internal.h"

#define CF_OUT_MAX (4U * 1024 * 1024)

/* ---- output ---- */

static int out_put(struct cf_peer *p, const void *data, size_t len)
{
	if (len > CF_OUT_MAX - p->out_len)
		return -ENOBUFS;
	if (p->out_len + len > p->out_cap) {
		size_t cap = p->out_cap ? p->out_cap : 16384;
		uint8_t *n;

		while (cap < p->out_len + len)
			cap *= 2;
		if (!(n = realloc(p->out, cap)))
			return -ENOMEM;
		p->out = n;
		p->out_cap = cap;
	}
	memcpy(p->out + p->out_len, data, len);
	p->out_len += len;
	return 0;
}

int cf_env_send(struct cf_peer *p, uint8_t kind, uint32_t xid, const void *body, size_t len)
{
	uint8_t hdr[CF_ENV_HDR_LEN] = { kind, (uint8_t)(xid >> 24), (uint8_t)(xid >> 16),
					(uint8_t)(xid >> 8), (uint8_t)xid };
	int r;

	if (!p->up)
		return -ENOTCONN;
	if ((r = out_put(p, hdr, sizeof(hdr))) < 0 || (len && (r = out_put(p, body, len)) < 0))
		return r;
	return 0;
}

/* Send every frame in buf as its own PROTO envelope. */
int cf_send_frames(struct cf_peer *p, uint32_t wire_xid, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		size_t fl;
		int r = msg_frame_len(buf, len, &fl);

		if (r < 0 || fl > len)
			return r < 0 ? r : -EBADMSG;
		if ((r = cf_env_send(p, CF_ENV_PROTO, wire_xid, buf, fl)) < 0)
			return r;
		buf += fl;
		len -= fl;
	}
	return 0;
}

int cf_send_notice(struct cf_peer *p, uint32_t wire_xid, uint8_t type, uint16_t code,
		       const char *text)
{
	uint8_t buf[MSG_HDR_LEN + 4 + MSG_TEXT_MAX];
	struct wbuf w = wbuf_init(buf, sizeof(buf));
	char t[MSG_TEXT_MAX + 1];
	size_t n = 0;
	struct msg m = { .version = PROTO_VERSION, .type = type };
	int r;

	/* printable ASCII only, bounded */
	for (const char *s = text ? text : ""; *s && n < MSG_TEXT_MAX; s++)
		t[n++] = (*s >= 0x20 && *s <= 0x7e) ? *s : '?';
	t[n] = '\0';
	m.u.notice.code = code;
	m.u.notice.text = rd_init(t, n);
	if ((r = msg_encode(&w, &m)) < 0)
		return r;
	return cf_env_send(p, CF_ENV_PROTO, wire_xid, buf, w.len);
}

/* ---- link up and down ---- */

void cf_link_up(struct cf_peer *p, const uint8_t *exporter, size_t exporter_len, int64_t now)
{
	p->up = true;
	p->up_since = now;
	p->in_len = 0;
	p->out_len = 0;
	memset(p->exporter, 0, sizeof(p->exporter));
	memcpy(p->exporter, exporter,
	       exporter_len < sizeof(p->exporter) ? exporter_len : sizeof(p->exporter));
	p->last_error[0] = '\0';
	for (size_t i = 0; i < p->cfg.n_classes; i++) {
		p->classes[i].retry_at = 0;
		p->classes[i].failures = 0;
		p->classes[i].resp_stored = false;
		/* before any exchange of this link: the envelopes arrive in order */
		if (p->classes[i].initiator)
			cf_held_send(p, &p->classes[i], now);
	}
	/* a static key the peer has not pinned yet: before any exchange too */
	cf_rot_link_up(p);
}

void cf_link_down(struct cf_peer *p, const char *why, int64_t now)
{
	if (!p->up)
		return;
	p->up = false;
	p->down_since = now;
	/*
	 * Exchanges waiting for the group commit: mine got their COMMIT (the
	 * responder holds them), so they are stored; the peer's never had
	 * theirs sent, so they are dropped (the initiator discards its copy).
	 */
	cf_pending_flush(p, now);
	mfs_wipe(p->exporter, sizeof(p->exporter));
	p->in_len = 0;
	p->out_len = 0;
	if (why)
		snprintf(p->last_error, sizeof(p->last_error), "%s", why);
	for (size_t i = 0; i < p->cfg.n_classes; i++) {
		/* being stored (an outstanding batch): cf_link_commit_end() settles it */
		if (p->classes[i].x && p->classes[i].x->pending)
			continue;
		/* unconfirmed keys are discarded: the responder may not have them */
		if (p->classes[i].x)
			p->classes[i].want = true;	/* run it again once the link is back */
		cf_xchg_free(p->classes[i].x);
		p->classes[i].x = NULL;
	}
	for (size_t i = 0; i < CF_MAX_RESPONDER; i++) {
		cf_xchg_free(p->resp[i]);
		p->resp[i] = NULL;
	}
	/* a finished exchange of mine is also its class's x, freed above */
	for (size_t i = 0; i < p->n_pending; i++)
		if (!p->pending[i]->mine)
			cf_xchg_free(p->pending[i]);
	p->n_pending = 0;
	cf_rot_link_down(p);
}

/* ---- input ---- */

/*
 * Copy data into the input buffer and handle every whole envelope. yield:
 * once all data is copied, return 1 right after an envelope whose handling
 * produced output, leaving the rest buffered (cf_link_feed).
 */
static int link_input(struct cf_peer *p, const uint8_t *data, size_t len, int64_t now, bool yield)
{
	bool first = true;

	while (len > 0 || first) {
		size_t take = CF_INBUF_MAX - p->in_len, off = 0, out0 = p->out_len;
		bool yielded = false;

		first = false;
		if (take > len)
			take = len;
		if (take) {	/* data is NULL when only buffered envelopes are left */
			memcpy(p->in + p->in_len, data, take);
			p->in_len += take;
			data += take;
			len -= take;
		}
		for (;;) {
			const uint8_t *e = p->in + off;
			size_t avail = p->in_len - off, body = 0, fl;
			uint32_t xid;
			int r = 0;

			if (avail < CF_ENV_HDR_LEN)
				break;
			xid = (uint32_t)e[1] << 24 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 8 | e[4];
			switch (e[0]) {
			case CF_ENV_PROTO:
				r = msg_frame_len(e + CF_ENV_HDR_LEN, avail - CF_ENV_HDR_LEN, &fl);
				if (r == -EAGAIN)
					goto more;
				body = fl;
				break;
			case CF_ENV_COMMIT:
				break;
			case CF_ENV_WANT:
				if (avail < CF_ENV_HDR_LEN + 1)
					goto more;
				body = 1 + (size_t)e[CF_ENV_HDR_LEN];
				break;
			case CF_ENV_RESTORE:
				body = 2;
				break;
			case CF_ENV_PING:
				break;
			case CF_ENV_ROTATE:
				if (avail < CF_ENV_HDR_LEN + CF_ROT_HDR_LEN)
					goto more;
				body = CF_ROT_HDR_LEN + ((size_t)e[CF_ENV_HDR_LEN + 74] << 8 |
							 e[CF_ENV_HDR_LEN + 75]);
				if (xid != 0 || body > CF_ROT_HDR_LEN + CF_ROT_CHUNK)
					r = -EBADMSG;
				break;
			case CF_ENV_ROTATE_ACK:
				body = CF_ROT_ACK_LEN;
				if (xid != 0)
					r = -EBADMSG;
				break;
			case CF_ENV_HELD: {
				size_t nl, n;

				if (avail < CF_ENV_HDR_LEN + 1)
					goto more;
				nl = e[CF_ENV_HDR_LEN];
				if (avail < CF_ENV_HDR_LEN + 1 + nl + 10)
					goto more;
				n = (size_t)e[CF_ENV_HDR_LEN + 1 + nl + 8] << 8 |
				    e[CF_ENV_HDR_LEN + 1 + nl + 9];
				if (n > CF_HELD_MAX || xid != 0)
					r = -EBADMSG;
				body = 1 + nl + 10 + n * CF_HELD_ID_LEN;
				break;
			}
			case CF_ENV_QKD_IDS: {
				size_t kl, sl, n;

				if (avail < CF_ENV_HDR_LEN + 1)
					goto more;
				kl = e[CF_ENV_HDR_LEN];
				if (avail < CF_ENV_HDR_LEN + 1 + kl + 1)
					goto more;
				sl = e[CF_ENV_HDR_LEN + 1 + kl];
				if (avail < CF_ENV_HDR_LEN + 2 + kl + sl + 2)
					goto more;
				n = (size_t)e[CF_ENV_HDR_LEN + 2 + kl + sl] << 8 |
				    e[CF_ENV_HDR_LEN + 3 + kl + sl];
				if (n == 0 || n > CF_QKD_IDS_MAX || xid != 0 || kl == 0 ||
				    kl > KEX_QKD_ID_MAX || sl == 0 || sl > KEX_QKD_ID_MAX)
					r = -EBADMSG;
				body = 2 + kl + sl + 2 + n * CF_QKD_ID_LEN;
				break;
			}
			case CF_ENV_QKD_READY: {
				size_t n;

				if (avail < CF_ENV_HDR_LEN + 2)
					goto more;
				n = (size_t)e[CF_ENV_HDR_LEN] << 8 | e[CF_ENV_HDR_LEN + 1];
				if (n == 0 || n > CF_QKD_IDS_MAX || xid != 0)
					r = -EBADMSG;
				body = 2 + n * CF_QKD_ID_LEN;
				break;
			}
			case CF_ENV_TAKEN:
			case CF_ENV_INSTALLED: {
				size_t nl, n = 1;

				if (avail < CF_ENV_HDR_LEN + 1)
					goto more;
				nl = e[CF_ENV_HDR_LEN];
				if (e[0] == CF_ENV_TAKEN) {
					if (avail < CF_ENV_HDR_LEN + 2 + nl)
						goto more;
					n = e[CF_ENV_HDR_LEN + 1 + nl];
					if (n == 0 || n > CF_TAKEN_MAX)
						r = -EBADMSG;
					body = 2 + nl + n * CF_KEY_ID_LEN;
				} else {
					body = 1 + nl + CF_KEY_ID_LEN;
				}
				if (xid != 0)
					r = -EBADMSG;
				break;
			}
			default:
				r = -EBADMSG;
			}
			if (r < 0) {
				snprintf(p->last_error, sizeof(p->last_error), "malformed envelope");
				return r;
			}
			if (avail < CF_ENV_HDR_LEN + body)
				goto more;
			e += CF_ENV_HDR_LEN;
			switch (e[-CF_ENV_HDR_LEN]) {
			case CF_ENV_PROTO:
				if (xid == 0)
					r = cf_on_link_msg(p, e, body, now);
				else if (xid & CF_XID_SENDER)
					r = cf_on_theirs(p, xid & ~CF_XID_SENDER, e, body, now);
				else
					r = cf_on_mine(p, xid, e, body, now);
				break;
			case CF_ENV_COMMIT:
				r = cf_on_commit(p, xid & ~CF_XID_SENDER);
				break;
			case CF_ENV_WANT: {
				char name[256];
				struct cf_class *c;

				memcpy(name, e + 1, e[0]);
				name[e[0]] = '\0';
				if ((c = cf_class_by_name(p, name)) && c->initiator)
					c->want = true;
				break;
			}
			case CF_ENV_RESTORE:
				r = cf_on_restore(p, (uint16_t)(e[0] << 8 | e[1]), now);
				break;
			case CF_ENV_PING:	/* its arrival is all that counts */
				break;
			case CF_ENV_HELD:
				r = cf_on_held(p, e, now);
				break;
			case CF_ENV_QKD_IDS:
				r = cf_on_qkd_ids(p, e, body);
				break;
			case CF_ENV_QKD_READY:
				r = cf_on_qkd_ready(p, e, body);
				break;
			case CF_ENV_TAKEN:
			case CF_ENV_INSTALLED:
				r = cf_on_push_env(p, e[-CF_ENV_HDR_LEN], e, body, now);
				break;
			case CF_ENV_ROTATE:
				r = cf_rot_on_rotate(p, e, body, now);
				break;
			case CF_ENV_ROTATE_ACK:
				r = cf_rot_on_ack(p, e, now);
				break;
			}
			if (r < 0)
				return r;
			if (!p->up)
				return -ENOTCONN;
			off += CF_ENV_HDR_LEN + body;
			if (yield && len == 0 && p->out_len > out0) {
				yielded = true;
				break;
			}
		}
more:
		if (off == 0 && p->in_len == CF_INBUF_MAX) {
			snprintf(p->last_error, sizeof(p->last_error), "envelope too large");
			return -EMSGSIZE;
		}
		memmove(p->in, p->in + off, p->in_len - off);
		p->in_len -= off;
		if (yielded)
			return 1;
	}
	return 0;
}

int cf_link_feed(struct cf_peer *p, const uint8_t *data, size_t len, int64_t now)
{
	int r = link_input(p, data, len, now, true);

	if (r < 0)
		cf_pending_flush(p, now);	/* the caller closes the link: store what was COMMITted */
	return r;
}

void cf_link_commit(struct cf_peer *p, int64_t now)
{
	cf_pending_flush(p, now);
}

int cf_link_input(struct cf_peer *p, const uint8_t *data, size_t len, int64_t now)
{
	int r = link_input(p, data, len, now, false);

	cf_pending_flush(p, now);
	return r;
}

size_t cf_link_output(struct cf_peer *p, const uint8_t **ret)
{
	*ret = p->out;
	return p->out_len;
}

void cf_link_consume(struct cf_peer *p, size_t n)
{
	if (n > p->out_len)
		n = p->out_len;
	if (n == 0)
		return;		/* p->out is still NULL before the first output */
	memmove(p->out, p->out + n, p->out_len - n);
	p->out_len -= n;
}

int cf_link_ping(struct cf_peer *p)
{
	return cf_env_send(p, CF_ENV_PING, 0, NULL, 0);
}
