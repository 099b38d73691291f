/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded reader and capped writer for untrusted and wire bytes.
 *
 * struct rd is a cursor passed by value: nothing to free, nothing to leak.
 * Every read checks the remaining length by subtraction and either consumes
 * exactly what it returns or leaves the cursor untouched and fails with
 * -EBADMSG. Returned pointers point into the input buffer.
 *
 * struct wbuf writes into caller-provided storage with a hard cap. A write
 * that would exceed the cap fails with -EMSGSIZE, writes nothing and makes
 * the buffer sticky-failed, so a chain of writes can be checked once at the
 * end with wbuf_error().
 */
#ifndef MFS_BASE_BUF_H
#define MFS_BASE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rd {
	const uint8_t *p;
	size_t n;
};

static inline struct rd rd_init(const void *p, size_t n)
{
	return (struct rd){ .p = p, .n = n };
}

int rd_u8(struct rd *r, uint8_t *ret);
int rd_u16(struct rd *r, uint16_t *ret);		/* big-endian */
int rd_u32(struct rd *r, uint32_t *ret);		/* big-endian */
int rd_u64(struct rd *r, uint64_t *ret);		/* big-endian */
/* Take exactly len bytes; *ret points into the input. */
int rd_bytes(struct rd *r, size_t len, const uint8_t **ret);
/* Copy exactly len bytes into out. */
int rd_copy(struct rd *r, void *out, size_t len);
/* Length-prefixed sub-reader (u8/u16/u32 prefix); -EMSGSIZE if length > max. */
int rd_vec8(struct rd *r, size_t max, struct rd *ret);
int rd_vec16(struct rd *r, size_t max, struct rd *ret);
int rd_vec32(struct rd *r, size_t max, struct rd *ret);
/* -EBADMSG if any byte is left. */
int rd_end(const struct rd *r);

struct wbuf {
	uint8_t *p;
	size_t len;	/* bytes written */
	size_t cap;	/* hard cap */
	int err;	/* first error, sticky */
};

static inline struct wbuf wbuf_init(void *p, size_t cap)
{
	return (struct wbuf){ .p = p, .len = 0, .cap = cap, .err = 0 };
}

int wbuf_put(struct wbuf *w, const void *p, size_t len);
int wbuf_u8(struct wbuf *w, uint8_t v);
int wbuf_u16(struct wbuf *w, uint16_t v);
int wbuf_u32(struct wbuf *w, uint32_t v);
int wbuf_u64(struct wbuf *w, uint64_t v);
/* Length-prefixed bytes; -EMSGSIZE if len does not fit the prefix. */
int wbuf_vec8(struct wbuf *w, const void *p, size_t len);
int wbuf_vec16(struct wbuf *w, const void *p, size_t len);
int wbuf_vec32(struct wbuf *w, const void *p, size_t len);
/*
 * Reserve len bytes to be filled by the caller (e.g. by a KEM writing its
 * ciphertext in place); *ret points at them. Counts as written.
 */
int wbuf_reserve(struct wbuf *w, size_t len, uint8_t **ret);
static inline int wbuf_error(const struct wbuf *w)
{
	return w->err;
}
/* View of what has been written so far. */
static inline struct rd wbuf_rd(const struct wbuf *w)
{
	return rd_init(w->p, w->len);
}

#endif
