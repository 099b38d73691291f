/* SPDX-License-Identifier: Apache-2.0 */
/* The push socket's message codec (pushwire.h, docs/push.md). */
#include <errno.h>
#include <string.h>

#include "base/buf.h"
#include "client/pushwire.h"

bool pushwire_token_valid(const char *p, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] <= 0x20 || p[i] > 0x7e)
			return false;
	return true;
}

static bool text_valid(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return false;
	return len <= PUSHWIRE_TEXT_MAX;
}

int pushwire_frame_len(const uint8_t *buf, size_t n)
{
	uint32_t len;

	if (n < PUSHWIRE_HDR_LEN)
		return 0;
	len = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
	if (len == 0 || len > PUSHWIRE_MSG_MAX)
		return -EMSGSIZE;
	if (n < PUSHWIRE_HDR_LEN + (size_t)len)
		return 0;
	return (int)(PUSHWIRE_HDR_LEN + len);
}

static int rd_str(struct rd *r, size_t max, struct pushwire_str *ret)
{
	struct rd v;
	int e;

	if ((e = rd_vec8(r, max, &v)) < 0)
		return -EBADMSG;
	if (!pushwire_token_valid((const char *)v.p, v.n, max))
		return -EBADMSG;
	ret->p = (const char *)v.p;
	ret->len = v.n;
	return 0;
}

static int rd_id(struct rd *r, const uint8_t **ret)
{
	return rd_bytes(r, PUSHWIRE_KEY_ID_LEN, ret);
}

static int rd_pool(struct rd *r, struct pushwire_msg *m)
{
	int e;

	if ((e = rd_str(r, PUSHWIRE_PEER_MAX, &m->peer)) < 0 ||
	    (e = rd_str(r, PUSHWIRE_CLASS_MAX, &m->class_name)) < 0)
		return e;
	return 0;
}

int pushwire_parse(const uint8_t *frame, size_t n, struct pushwire_msg *ret)
{
	struct pushwire_msg m = { 0 };
	struct rd r = rd_init(frame, n), v;
	uint32_t len;
	uint8_t type, b;
	uint64_t u;
	int e;

	if (rd_u32(&r, &len) < 0 || len == 0)
		return -EBADMSG;
	if (len > PUSHWIRE_MSG_MAX)
		return -EMSGSIZE;
	if (len != r.n || rd_u8(&r, &type) < 0)
		return -EBADMSG;
	m.type = (enum pushwire_type)type;
	switch (type) {
	case PW_HELLO:
		if ((e = rd_u16(&r, &m.version_min)) < 0 || (e = rd_u16(&r, &m.version_max)) < 0 ||
		    (e = rd_str(&r, PUSHWIRE_NAME_MAX, &m.name)) < 0)
			return -EBADMSG;
		if (m.version_min == 0 || m.version_min > m.version_max)
			return -EBADMSG;
		break;
	case PW_GET_KEY:
		if (rd_pool(&r, &m) < 0)
			return -EBADMSG;
		break;
	case PW_GET_KEY_BY_ID:
		if (rd_pool(&r, &m) < 0 || rd_id(&r, &m.key_id) < 0)
			return -EBADMSG;
		break;
	case PW_SUBSCRIBE:
		if (rd_pool(&r, &m) < 0 || rd_u8(&r, &m.direction) < 0 || rd_u8(&r, &m.ahead) < 0)
			return -EBADMSG;
		if (m.direction > 1 || m.ahead == 0 || m.ahead > PUSHWIRE_AHEAD_MAX)
			return -EBADMSG;
		break;
	case PW_INSTALLED:
	case PW_IN_USE:
	case PW_PEER_INSTALLED:
		if (rd_id(&r, &m.key_id) < 0)
			return -EBADMSG;
		break;
	case PW_USAGE:
		if (rd_id(&r, &m.key_id) < 0 || rd_u64(&r, &m.bytes) < 0 ||
		    rd_u64(&r, &m.packets) < 0)
			return -EBADMSG;
		break;
	case PW_HELLO_OK:
		if (rd_u16(&r, &m.version) < 0 || rd_u8(&r, &m.ahead) < 0 || m.version == 0 ||
		    m.ahead == 0 || m.ahead > PUSHWIRE_AHEAD_MAX)
			return -EBADMSG;
		break;
	case PW_KEY:
		if (rd_id(&r, &m.key_id) < 0 || rd_u8(&r, &m.direction) < 0 || m.direction > 1)
			return -EBADMSG;
		if (rd_u64(&r, &u) < 0)
			return -EBADMSG;
		m.not_before = (int64_t)u;
		if (rd_u64(&r, &u) < 0)
			return -EBADMSG;
		m.soft_expiry = (int64_t)u;
		if (rd_u64(&r, &u) < 0)
			return -EBADMSG;
		m.hard_expiry = (int64_t)u;
		if (rd_vec8(&r, PUSHWIRE_KEY_MAX, &v) < 0 || v.n < PUSHWIRE_KEY_MIN)
			return -EBADMSG;
		m.key = v.p;
		m.key_len = v.n;
		break;
	case PW_SUBSCRIBED:
		if (rd_u8(&r, &m.direction) < 0 || rd_u8(&r, &m.ahead) < 0 || m.direction > 1 ||
		    m.ahead == 0 || m.ahead > PUSHWIRE_AHEAD_MAX)
			return -EBADMSG;
		break;
	case PW_RETIRE:
		if (rd_id(&r, &m.key_id) < 0 || rd_u8(&r, &m.reason) < 0 || m.reason == 0 ||
		    m.reason > PWR_MAX)
			return -EBADMSG;
		break;
	case PW_ERROR:
		if (rd_u8(&r, &m.code) < 0 || m.code == 0 || m.code > PWE_MAX ||
		    rd_u8(&r, &b) < 0 || b > 1 || rd_vec8(&r, PUSHWIRE_TEXT_MAX, &v) < 0 ||
		    !text_valid((const char *)v.p, v.n))
			return -EBADMSG;
		m.fatal = b;
		m.text.p = (const char *)v.p;
		m.text.len = v.n;
		break;
	default:
		return -EBADMSG;
	}
	if (rd_end(&r) < 0)
		return -EBADMSG;
	*ret = m;
	return 0;
}

static void w_pool(struct wbuf *w, const struct pushwire_msg *m)
{
	wbuf_vec8(w, m->peer.p, m->peer.len);
	wbuf_vec8(w, m->class_name.p, m->class_name.len);
}

static bool pool_valid(const struct pushwire_msg *m)
{
	return pushwire_token_valid(m->peer.p, m->peer.len, PUSHWIRE_PEER_MAX) &&
	       pushwire_token_valid(m->class_name.p, m->class_name.len, PUSHWIRE_CLASS_MAX);
}

int pushwire_encode(const struct pushwire_msg *m, uint8_t *out, size_t cap)
{
	struct wbuf w = wbuf_init(out, cap);
	size_t len;
	int e;

	if (cap < PUSHWIRE_HDR_LEN)
		return -EMSGSIZE;
	wbuf_u32(&w, 0);	/* patched below */
	wbuf_u8(&w, (uint8_t)m->type);
	switch (m->type) {
	case PW_HELLO:
		if (m->version_min == 0 || m->version_min > m->version_max ||
		    !pushwire_token_valid(m->name.p, m->name.len, PUSHWIRE_NAME_MAX))
			return -EINVAL;
		wbuf_u16(&w, m->version_min);
		wbuf_u16(&w, m->version_max);
		wbuf_vec8(&w, m->name.p, m->name.len);
		break;
	case PW_GET_KEY:
	case PW_GET_KEY_BY_ID:
	case PW_SUBSCRIBE:
		if (!pool_valid(m) || (m->type == PW_GET_KEY_BY_ID && !m->key_id))
			return -EINVAL;
		w_pool(&w, m);
		if (m->type == PW_GET_KEY_BY_ID)
			wbuf_put(&w, m->key_id, PUSHWIRE_KEY_ID_LEN);
		if (m->type == PW_SUBSCRIBE) {
			if (m->direction > 1 || m->ahead == 0 || m->ahead > PUSHWIRE_AHEAD_MAX)
				return -EINVAL;
			wbuf_u8(&w, m->direction);
			wbuf_u8(&w, m->ahead);
		}
		break;
	case PW_INSTALLED:
	case PW_IN_USE:
	case PW_PEER_INSTALLED:
	case PW_USAGE:
	case PW_RETIRE:
		if (!m->key_id)
			return -EINVAL;
		wbuf_put(&w, m->key_id, PUSHWIRE_KEY_ID_LEN);
		if (m->type == PW_USAGE) {
			wbuf_u64(&w, m->bytes);
			wbuf_u64(&w, m->packets);
		} else if (m->type == PW_RETIRE) {
			if (m->reason == 0 || m->reason > PWR_MAX)
				return -EINVAL;
			wbuf_u8(&w, m->reason);
		}
		break;
	case PW_HELLO_OK:
		if (m->version == 0 || m->ahead == 0 || m->ahead > PUSHWIRE_AHEAD_MAX)
			return -EINVAL;
		wbuf_u16(&w, m->version);
		wbuf_u8(&w, m->ahead);
		break;
	case PW_KEY:
		if (!m->key_id || !m->key || m->direction > 1 || m->key_len < PUSHWIRE_KEY_MIN ||
		    m->key_len > PUSHWIRE_KEY_MAX)
			return -EINVAL;
		wbuf_put(&w, m->key_id, PUSHWIRE_KEY_ID_LEN);
		wbuf_u8(&w, m->direction);
		wbuf_u64(&w, (uint64_t)m->not_before);
		wbuf_u64(&w, (uint64_t)m->soft_expiry);
		wbuf_u64(&w, (uint64_t)m->hard_expiry);
		wbuf_vec8(&w, m->key, m->key_len);
		break;
	case PW_SUBSCRIBED:
		if (m->direction > 1 || m->ahead == 0 || m->ahead > PUSHWIRE_AHEAD_MAX)
			return -EINVAL;
		wbuf_u8(&w, m->direction);
		wbuf_u8(&w, m->ahead);
		break;
	case PW_ERROR:
		if (m->code == 0 || m->code > PWE_MAX || !text_valid(m->text.p, m->text.len))
			return -EINVAL;
		wbuf_u8(&w, m->code);
		wbuf_u8(&w, m->fatal ? 1 : 0);
		wbuf_vec8(&w, m->text.p, m->text.len);
		break;
	default:
		return -EINVAL;
	}
	if ((e = wbuf_error(&w)) < 0)
		return e;
	len = w.len - PUSHWIRE_HDR_LEN;
	if (len > PUSHWIRE_MSG_MAX)
		return -EMSGSIZE;
	out[0] = (uint8_t)(len >> 24);
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	return (int)w.len;
}

static const int error_errno[PWE_MAX + 1] = {
	[PWE_MALFORMED] = EBADMSG,
	[PWE_VERSION] = EPROTONOSUPPORT,
	[PWE_DENIED] = EACCES,
	[PWE_UNKNOWN] = ENOENT,
	[PWE_NO_KEY] = ENOKEY,
	[PWE_ALREADY] = EALREADY,
	[PWE_EXPIRED] = EKEYEXPIRED,
	[PWE_REVOKED] = EKEYREVOKED,
	[PWE_UNAVAILABLE] = EAGAIN,
	[PWE_STATE] = EPROTO,
	[PWE_BUSY] = EBUSY,
};

int pushwire_error_errno(uint8_t code)
{
	if (code == 0 || code > PWE_MAX)
		return -EPROTO;
	return -error_errno[code];
}

uint8_t pushwire_errno_error(int err)
{
	if (err < 0)
		err = -err;
	for (uint8_t c = 1; c <= PWE_MAX; c++)
		if (error_errno[c] == err)
			return c;
	return PWE_UNAVAILABLE;
}
