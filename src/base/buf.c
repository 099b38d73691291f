/* SPDX-License-Identifier: Apache-2.0 */
#include "base/buf.h"

#include <errno.h>
#include <string.h>

int rd_bytes(struct rd *r, size_t len, const uint8_t **ret)
{
	if (len > r->n)
		return -EBADMSG;
	if (ret)
		*ret = r->p;
	r->p += len;
	r->n -= len;
	return 0;
}

int rd_copy(struct rd *r, void *out, size_t len)
{
	const uint8_t *p;
	int e = rd_bytes(r, len, &p);

	if (e < 0)
		return e;
	if (len)
		memcpy(out, p, len);
	return 0;
}

static int rd_be(struct rd *r, size_t width, uint64_t *ret)
{
	const uint8_t *p;
	uint64_t v = 0;
	int e;

	if ((e = rd_bytes(r, width, &p)) < 0)
		return e;
	for (size_t i = 0; i < width; i++)
		v = (v << 8) | p[i];
	*ret = v;
	return 0;
}

int rd_u8(struct rd *r, uint8_t *ret)
{
	uint64_t v;
	int e = rd_be(r, 1, &v);

	if (e == 0)
		*ret = (uint8_t)v;
	return e;
}

int rd_u16(struct rd *r, uint16_t *ret)
{
	uint64_t v;
	int e = rd_be(r, 2, &v);

	if (e == 0)
		*ret = (uint16_t)v;
	return e;
}

int rd_u32(struct rd *r, uint32_t *ret)
{
	uint64_t v;
	int e = rd_be(r, 4, &v);

	if (e == 0)
		*ret = (uint32_t)v;
	return e;
}

int rd_u64(struct rd *r, uint64_t *ret)
{
	return rd_be(r, 8, ret);
}

/* Read a width-byte length, then that many bytes; cursor moves only on success. */
static int rd_vec(struct rd *r, size_t width, size_t max, struct rd *ret)
{
	struct rd t = *r;
	const uint8_t *p;
	uint64_t len;
	int e;

	if ((e = rd_be(&t, width, &len)) < 0)
		return e;
	if (len > max)
		return -EMSGSIZE;
	if ((e = rd_bytes(&t, (size_t)len, &p)) < 0)
		return e;
	*ret = rd_init(p, (size_t)len);
	*r = t;
	return 0;
}

int rd_vec8(struct rd *r, size_t max, struct rd *ret)
{
	return rd_vec(r, 1, max, ret);
}

int rd_vec16(struct rd *r, size_t max, struct rd *ret)
{
	return rd_vec(r, 2, max, ret);
}

int rd_vec32(struct rd *r, size_t max, struct rd *ret)
{
	return rd_vec(r, 4, max, ret);
}

int rd_end(const struct rd *r)
{
	return r->n == 0 ? 0 : -EBADMSG;
}

int wbuf_reserve(struct wbuf *w, size_t len, uint8_t **ret)
{
	if (w->err)
		return w->err;
	if (len > w->cap - w->len) {
		w->err = -EMSGSIZE;
		return w->err;
	}
	*ret = w->p + w->len;
	w->len += len;
	return 0;
}

int wbuf_put(struct wbuf *w, const void *p, size_t len)
{
	uint8_t *dst;
	int e = wbuf_reserve(w, len, &dst);

	if (e == 0 && len)
		memcpy(dst, p, len);
	return e;
}

static int wbuf_be(struct wbuf *w, size_t width, uint64_t v)
{
	uint8_t b[8];

	for (size_t i = 0; i < width; i++)
		b[width - 1 - i] = (uint8_t)(v >> (8 * i));
	return wbuf_put(w, b, width);
}

int wbuf_u8(struct wbuf *w, uint8_t v)
{
	return wbuf_be(w, 1, v);
}

int wbuf_u16(struct wbuf *w, uint16_t v)
{
	return wbuf_be(w, 2, v);
}

int wbuf_u32(struct wbuf *w, uint32_t v)
{
	return wbuf_be(w, 4, v);
}

int wbuf_u64(struct wbuf *w, uint64_t v)
{
	return wbuf_be(w, 8, v);
}

static int wbuf_vec(struct wbuf *w, size_t width, const void *p, size_t len)
{
	size_t before = w->len;
	int e;

	if (w->err)
		return w->err;
	if (width < sizeof(size_t) && len >> (8 * width)) {
		w->err = -EMSGSIZE;
		return w->err;
	}
	if ((e = wbuf_be(w, width, len)) < 0 || (e = wbuf_put(w, p, len)) < 0) {
		w->len = before;	/* nothing half-written */
		return e;
	}
	return 0;
}

int wbuf_vec8(struct wbuf *w, const void *p, size_t len)
{
	return wbuf_vec(w, 1, p, len);
}

int wbuf_vec16(struct wbuf *w, const void *p, size_t len)
{
	return wbuf_vec(w, 2, p, len);
}

int wbuf_vec32(struct wbuf *w, const void *p, size_t len)
{
	return wbuf_vec(w, 4, p, len);
}
