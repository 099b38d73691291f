/* SPDX-License-Identifier: Apache-2.0 */
#include "proto/msg.h"

#include <errno.h>
#include <string.h>

#include "kex/kex.h"

size_t msg_body_max(uint8_t type)
{
	switch (type) {
	case MSGT_HELLO:
	case MSGT_SELECT:
	case MSGT_REFUSE:
	case MSGT_ABORT:
	case MSGT_REVOKE:
	case MSGT_REVOKE_ACK:
		return MSG_PREAUTH_MAX;
	case MSGT_KEX1:
	case MSGT_KEX2:
		return MSG_KEX_MAX;
	case MSGT_CONFIRM:
		return MSG_MAC_LEN;
	}
	return 0;
}

const char *msg_type_name(uint8_t type)
{
	switch (type) {
	case MSGT_HELLO: return "HELLO";
	case MSGT_SELECT: return "SELECT";
	case MSGT_REFUSE: return "REFUSE";
	case MSGT_KEX1: return "KEX1";
	case MSGT_KEX2: return "KEX2";
	case MSGT_CONFIRM: return "CONFIRM";
	case MSGT_ABORT: return "ABORT";
	case MSGT_REVOKE: return "REVOKE";
	case MSGT_REVOKE_ACK: return "REVOKE_ACK";
	}
	return "?";
}

bool msg_node_id_valid(const uint8_t *p, size_t n)
{
	if (n == 0 || n > MSG_NODE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return false;
	return true;
}

static bool text_valid(const uint8_t *p, size_t n)
{
	if (n > MSG_TEXT_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return false;
	return true;
}

static bool class_valid(const uint8_t *p, size_t n)
{
	if (n == 0 || n > POLICY_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int msg_item_max(uint8_t type, uint16_t method, uint8_t instance, size_t *ret)
{
	const struct kex_method *m;
	bool is_msg1;

	if (type == MSGT_SELECT && instance == MSG_INST_REVERSE)
		is_msg1 = true;
	else if (type == MSGT_KEX1 && instance == MSG_INST_FORWARD)
		is_msg1 = true;
	else if (type == MSGT_KEX1 && instance == MSG_INST_REVERSE)
		is_msg1 = false;
	else if (type == MSGT_KEX2 && instance == MSG_INST_FORWARD)
		is_msg1 = false;
	else
		return -EBADMSG;
	if (!(m = kex_method_by_id(method)))
		return -EOPNOTSUPP;
	*ret = is_msg1 ? m->msg1_max : m->msg2_max;
	return 0;
}

int msg_frame_len(const uint8_t *p, size_t n, size_t *ret)
{
	struct rd r = rd_init(p, n);
	uint16_t version;
	uint8_t type;
	uint32_t len;
	size_t max;

	if (n < MSG_HDR_LEN)
		return -EAGAIN;
	(void)rd_u16(&r, &version);
	(void)rd_u8(&r, &type);
	(void)rd_u32(&r, &len);
	if ((max = msg_body_max(type)) == 0)
		return -EBADMSG;
	if (len > max)
		return -EMSGSIZE;
	*ret = MSG_HDR_LEN + (size_t)len;
	return 0;
}

/* u8 count ‖ count × u16, count <= MSG_SUITE_MAX. */
static int rd_id_list(struct rd *r, uint16_t *ids, size_t *ret_n)
{
	uint8_t n;
	int ret;

	if ((ret = rd_u8(r, &n)) < 0)
		return ret;
	if (n > MSG_SUITE_MAX)
		return -EMSGSIZE;
	for (size_t i = 0; i < n; i++)
		if ((ret = rd_u16(r, &ids[i])) < 0)
			return ret;
	*ret_n = n;
	return 0;
}

/* u8 count ‖ count × item, count <= MSG_ITEMS_MAX. */
static int rd_items(struct rd *r, uint8_t type, struct msg_item *items, size_t *ret_n)
{
	uint8_t n;
	int ret;

	if ((ret = rd_u8(r, &n)) < 0)
		return ret;
	if (n > MSG_ITEMS_MAX)
		return -EMSGSIZE;
	for (size_t i = 0; i < n; i++) {
		struct msg_item *it = &items[i];
		size_t max;

		if ((ret = rd_u16(r, &it->method)) < 0 || (ret = rd_u8(r, &it->instance)) < 0 ||
		    (ret = msg_item_max(type, it->method, it->instance, &max)) < 0 ||
		    (ret = rd_vec16(r, max, &it->data)) < 0)
			return ret;
	}
	*ret_n = n;
	return 0;
}

static int parse_hello(struct rd *r, struct msg_hello *h)
{
	int ret;

	if ((ret = rd_u16(r, &h->version_min)) < 0 || (ret = rd_u16(r, &h->version_max)) < 0 ||
	    (ret = rd_vec8(r, MSG_NODE_ID_MAX, &h->node_id)) < 0 ||
	    (ret = rd_vec8(r, POLICY_NAME_MAX, &h->class_name)) < 0 ||
	    (ret = rd_bytes(r, MSG_NONCE_LEN, &h->nonce)) < 0 ||
	    (ret = rd_u8(r, &h->combiner)) < 0 || (ret = rd_u16(r, &h->n_keys)) < 0 ||
	    (ret = rd_id_list(r, h->required, &h->n_required)) < 0 ||
	    (ret = rd_id_list(r, h->optional, &h->n_optional)) < 0 ||
	    (ret = rd_u8(r, &h->min_pq_factors)) < 0 || (ret = rd_u8(r, &h->min_families)) < 0)
		return ret;
	if (h->version_min == 0 || h->version_min > h->version_max ||
	    !msg_node_id_valid(h->node_id.p, h->node_id.n) ||
	    !class_valid(h->class_name.p, h->class_name.n) || h->n_keys == 0 ||
	    h->n_keys > MSG_KEYS_MAX)
		return -EBADMSG;
	return 0;
}

static int parse_select(struct rd *r, struct msg_select *s)
{
	int ret;

	if ((ret = rd_u16(r, &s->version)) < 0 ||
	    (ret = rd_vec8(r, MSG_NODE_ID_MAX, &s->node_id)) < 0 ||
	    (ret = rd_bytes(r, MSG_NONCE_LEN, &s->nonce)) < 0 ||
	    (ret = rd_u8(r, &s->combiner)) < 0 || (ret = rd_u16(r, &s->n_keys)) < 0 ||
	    (ret = rd_id_list(r, s->suite, &s->n_suite)) < 0 ||
	    (ret = rd_items(r, MSGT_SELECT, s->items, &s->n_items)) < 0)
		return ret;
	if (s->version == 0 || !msg_node_id_valid(s->node_id.p, s->node_id.n) ||
	    s->n_keys == 0 || s->n_keys > MSG_KEYS_MAX || s->n_suite == 0)
		return -EBADMSG;
	return 0;
}

static int parse_notice(struct rd *r, struct msg_notice *n)
{
	int ret;

	if ((ret = rd_u16(r, &n->code)) < 0 || (ret = rd_vec8(r, MSG_TEXT_MAX, &n->text)) < 0)
		return ret;
	return text_valid(n->text.p, n->text.n) ? 0 : -EBADMSG;
}

int msg_parse(const uint8_t *p, size_t n, struct msg *ret)
{
	struct rd r = rd_init(p, n), body;
	struct msg m;
	uint32_t len;
	int rv;

	memset(&m, 0, sizeof(m));
	if ((rv = rd_u16(&r, &m.version)) < 0 || (rv = rd_u8(&r, &m.type)) < 0 ||
	    (rv = rd_u32(&r, &len)) < 0)
		return rv;
	if (msg_body_max(m.type) == 0)
		return -EBADMSG;
	if (len > msg_body_max(m.type))
		return -EMSGSIZE;
	if (m.version == 0)
		return -EBADMSG;
	body = r;
	if (len != r.n)
		return -EBADMSG;	/* truncated, or trailing bytes after the body */
	switch (m.type) {
	case MSGT_HELLO:
		rv = parse_hello(&body, &m.u.hello);
		break;
	case MSGT_SELECT:
		rv = parse_select(&body, &m.u.select);
		break;
	case MSGT_REFUSE:
	case MSGT_ABORT:
	case MSGT_REVOKE:
	case MSGT_REVOKE_ACK:
		rv = parse_notice(&body, &m.u.notice);
		break;
	case MSGT_KEX1:
	case MSGT_KEX2:
		rv = rd_items(&body, m.type, m.u.kex.items, &m.u.kex.n_items);
		if (rv == 0 && m.u.kex.n_items == 0)
			rv = -EBADMSG;
		break;
	case MSGT_CONFIRM:
		rv = rd_bytes(&body, MSG_MAC_LEN, &m.u.confirm.mac);
		break;
	default:
		rv = -EBADMSG;
	}
	if (rv < 0 || (rv = rd_end(&body)) < 0)
		return rv;
	*ret = m;
	return 0;
}

/* ---- encoding ---- */

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int msg_frame_begin(struct wbuf *w, uint16_t version, uint8_t type, size_t *ret_off)
{
	size_t off = w->len;

	if (msg_body_max(type) == 0)
		return -EINVAL;
	wbuf_u16(w, version);
	wbuf_u8(w, type);
	wbuf_u32(w, 0);
	if (wbuf_error(w))
		return wbuf_error(w);
	*ret_off = off;
	return 0;
}

int msg_frame_end(struct wbuf *w, size_t off)
{
	size_t body;

	if (wbuf_error(w))
		return wbuf_error(w);
	if (off > w->len || w->len - off < MSG_HDR_LEN)
		return -EINVAL;
	body = w->len - off - MSG_HDR_LEN;
	if (body > msg_body_max(w->p[off + 2])) {
		w->err = -EMSGSIZE;
		return -EMSGSIZE;
	}
	put_be32(w->p + off + 3, (uint32_t)body);
	return 0;
}

int msg_item_begin(struct wbuf *w, uint16_t method, uint8_t instance, size_t *ret_off)
{
	size_t off = w->len;

	wbuf_u16(w, method);
	wbuf_u8(w, instance);
	wbuf_u16(w, 0);
	if (wbuf_error(w))
		return wbuf_error(w);
	*ret_off = off;
	return 0;
}

int msg_item_end(struct wbuf *w, size_t off)
{
	size_t len;

	if (wbuf_error(w))
		return wbuf_error(w);
	if (off > w->len || w->len - off < 5)
		return -EINVAL;
	len = w->len - off - 5;
	if (len > UINT16_MAX) {
		w->err = -EMSGSIZE;
		return -EMSGSIZE;
	}
	w->p[off + 3] = (uint8_t)(len >> 8);
	w->p[off + 4] = (uint8_t)len;
	return 0;
}

static int put_id_list(struct wbuf *w, const uint16_t *ids, size_t n)
{
	if (n > MSG_SUITE_MAX)
		return -EINVAL;
	wbuf_u8(w, (uint8_t)n);
	for (size_t i = 0; i < n; i++)
		wbuf_u16(w, ids[i]);
	return 0;
}

static int put_items(struct wbuf *w, uint8_t type, const struct msg_item *items, size_t n)
{
	int r;

	if (n > MSG_ITEMS_MAX)
		return -EINVAL;
	wbuf_u8(w, (uint8_t)n);
	for (size_t i = 0; i < n; i++) {
		size_t max;

		if ((r = msg_item_max(type, items[i].method, items[i].instance, &max)) < 0)
			return r == -EBADMSG ? -EINVAL : r;
		if (items[i].data.n > max || (items[i].data.n && !items[i].data.p))
			return -EINVAL;
		wbuf_u16(w, items[i].method);
		wbuf_u8(w, items[i].instance);
		wbuf_vec16(w, items[i].data.p, items[i].data.n);
	}
	return 0;
}

static int put_hello(struct wbuf *w, const struct msg_hello *h)
{
	int r;

	if (h->version_min == 0 || h->version_min > h->version_max ||
	    !msg_node_id_valid(h->node_id.p, h->node_id.n) ||
	    !class_valid(h->class_name.p, h->class_name.n) || !h->nonce || h->n_keys == 0 ||
	    h->n_keys > MSG_KEYS_MAX)
		return -EINVAL;
	wbuf_u16(w, h->version_min);
	wbuf_u16(w, h->version_max);
	wbuf_vec8(w, h->node_id.p, h->node_id.n);
	wbuf_vec8(w, h->class_name.p, h->class_name.n);
	wbuf_put(w, h->nonce, MSG_NONCE_LEN);
	wbuf_u8(w, h->combiner);
	wbuf_u16(w, h->n_keys);
	if ((r = put_id_list(w, h->required, h->n_required)) < 0 ||
	    (r = put_id_list(w, h->optional, h->n_optional)) < 0)
		return r;
	wbuf_u8(w, h->min_pq_factors);
	wbuf_u8(w, h->min_families);
	return 0;
}

static int put_select(struct wbuf *w, const struct msg_select *s)
{
	int r;

	if (s->version == 0 || !msg_node_id_valid(s->node_id.p, s->node_id.n) || !s->nonce ||
	    s->n_keys == 0 || s->n_keys > MSG_KEYS_MAX || s->n_suite == 0)
		return -EINVAL;
	wbuf_u16(w, s->version);
	wbuf_vec8(w, s->node_id.p, s->node_id.n);
	wbuf_put(w, s->nonce, MSG_NONCE_LEN);
	wbuf_u8(w, s->combiner);
	wbuf_u16(w, s->n_keys);
	if ((r = put_id_list(w, s->suite, s->n_suite)) < 0 ||
	    (r = put_items(w, MSGT_SELECT, s->items, s->n_items)) < 0)
		return r;
	return 0;
}

int msg_encode(struct wbuf *w, const struct msg *m)
{
	size_t off;
	int r;

	if (m->version == 0)
		return -EINVAL;
	if ((r = msg_frame_begin(w, m->version, m->type, &off)) < 0)
		return r;
	switch (m->type) {
	case MSGT_HELLO:
		r = put_hello(w, &m->u.hello);
		break;
	case MSGT_SELECT:
		r = put_select(w, &m->u.select);
		break;
	case MSGT_REFUSE:
	case MSGT_ABORT:
	case MSGT_REVOKE:
	case MSGT_REVOKE_ACK:
		if (!text_valid(m->u.notice.text.p, m->u.notice.text.n)) {
			r = -EINVAL;
			break;
		}
		wbuf_u16(w, m->u.notice.code);
		wbuf_vec8(w, m->u.notice.text.p, m->u.notice.text.n);
		break;
	case MSGT_KEX1:
	case MSGT_KEX2:
		r = m->u.kex.n_items == 0 ? -EINVAL :
		    put_items(w, m->type, m->u.kex.items, m->u.kex.n_items);
		break;
	case MSGT_CONFIRM:
		if (!m->u.confirm.mac) {
			r = -EINVAL;
			break;
		}
		wbuf_put(w, m->u.confirm.mac, MSG_MAC_LEN);
		break;
	}
	if (r < 0) {
		if (!wbuf_error(w))
			w->len = off;	/* nothing of a refused frame stays in w */
		return r;
	}
	return msg_frame_end(w, off);
}
