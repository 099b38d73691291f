// SPDX-License-Identifier: Apache-2.0
/*
 * ETSI GS QKD 014 codec: request parsing and validation, response
 * formatting, key IDs, constant-time base64. Contract in etsi014.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "base/secret.h"
#include "etsi014/etsi014.h"

const char *etsi014_op_name(enum etsi014_op op)
{
	switch (op) {
	case ETSI014_STATUS:
		return "status";
	case ETSI014_ENC_KEYS:
		return "enc_keys";
	case ETSI014_DEC_KEYS:
		return "dec_keys";
	}
	return "?";
}

int etsi014_limits_check(const struct etsi014_limits *l)
{
	if (!l || l->min_key_size < 8 || l->min_key_size % 8 || l->key_size % 8 ||
	    l->max_key_size % 8 || l->min_key_size > l->key_size ||
	    l->key_size > l->max_key_size || l->max_key_size > ETSI014_KEY_MAX_BITS ||
	    l->max_key_per_request < 1 || l->max_key_per_request > ETSI014_KEYS_MAX ||
	    l->max_SAE_ID_count > ETSI014_SAE_IDS_MAX)
		return -EINVAL;
	return 0;
}

void etsi014_error_set(struct etsi014_error *e, int status, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	e->detail_name[0] = 0;
	e->detail_value[0] = 0;
}

bool etsi014_id_valid(const char *s)
{
	size_t n = strnlen(s, ETSI014_ID_MAX + 1);

	if (n == 0 || n > ETSI014_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

/* A printable, truncated copy of untrusted text for an error message. */
static const char *shown(const char *s, size_t len, char *buf, size_t size)
{
	size_t n = len < size - 1 ? len : size - 1;

	for (size_t i = 0; i < n; i++)
		buf[i] = s[i] >= 0x20 && s[i] <= 0x7e && s[i] != '"' && s[i] != '\\' ? s[i] : '?';
	buf[n] = 0;
	return buf;
}

/* ---- key IDs ---------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void etsi014_key_id_format(const uint8_t id[static ETSI014_KEY_ID_LEN],
			   char out[static ETSI014_KEY_ID_STR_LEN + 1])
{
	static const char hx[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < ETSI014_KEY_ID_LEN; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hx[id[i] >> 4];
		out[o++] = hx[id[i] & 15];
	}
	out[o] = 0;
}

int etsi014_key_id_parse(const char *s, size_t len, uint8_t ret[static ETSI014_KEY_ID_LEN])
{
	uint8_t id[ETSI014_KEY_ID_LEN];
	size_t o = 0;

	if (len != ETSI014_KEY_ID_STR_LEN)
		return -EBADMSG;
	for (size_t i = 0; i < len;) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -EBADMSG;
			i++;
			continue;
		}
		if ((hi = hexval(s[i])) < 0 || (lo = hexval(s[i + 1])) < 0)
			return -EBADMSG;
		id[o++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	memcpy(ret, id, sizeof(id));
	return 0;
}

/* ---- base64, constant time (masks instead of tables and branches) ----------- */

/* For 0 <= x, y < 256: 0xff when x < y, else 0. */
static inline unsigned lt(unsigned x, unsigned y)
{
	return ((x - y) >> 8) & 0xff;
}

static inline unsigned eq(unsigned x, unsigned y)
{
	return (((x ^ y) - 1) >> 8) & 0xff;
}

static char b64_char(unsigned x)
{
	unsigned c = (lt(x, 26) & (x + 'A')) |
		     (~lt(x, 26) & lt(x, 52) & (x - 26 + 'a')) |
		     (~lt(x, 52) & lt(x, 62) & (x - 52 + '0')) |
		     (eq(x, 62) & '+') | (eq(x, 63) & '/');

	return (char)(c & 0xff);
}

/* The 6-bit value of c, or 0x100 and more when c is not in the alphabet. */
static unsigned b64_val(unsigned c)
{
	unsigned v = 0, ok = 0, m;

	m = ~lt(c, 'A') & lt(c, 'Z' + 1);
	v |= m & (c - 'A');
	ok |= m;
	m = ~lt(c, 'a') & lt(c, 'z' + 1);
	v |= m & (c - 'a' + 26);
	ok |= m;
	m = ~lt(c, '0') & lt(c, '9' + 1);
	v |= m & (c - '0' + 52);
	ok |= m;
	m = eq(c, '+');
	v |= m & 62;
	ok |= m;
	m = eq(c, '/');
	v |= m & 63;
	ok |= m;
	return (v & 0x3f) | ((~ok & 0xff) << 1 & 0x100);
}

int etsi014_base64_encode(char *out, size_t out_size, const uint8_t *in, size_t len)
{
	size_t need = ETSI014_B64_LEN(len), o = 0, i = 0;

	if (len > SIZE_MAX / 2 || out_size <= need)
		return -EMSGSIZE;
	for (; i + 3 <= len; i += 3) {
		unsigned w = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];

		out[o++] = b64_char(w >> 18 & 63);
		out[o++] = b64_char(w >> 12 & 63);
		out[o++] = b64_char(w >> 6 & 63);
		out[o++] = b64_char(w & 63);
	}
	if (len - i == 1) {
		unsigned w = (unsigned)in[i] << 16;

		out[o++] = b64_char(w >> 18 & 63);
		out[o++] = b64_char(w >> 12 & 63);
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		unsigned w = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;

		out[o++] = b64_char(w >> 18 & 63);
		out[o++] = b64_char(w >> 12 & 63);
		out[o++] = b64_char(w >> 6 & 63);
		out[o++] = '=';
	}
	out[o] = 0;
	return (int)o;
}

int etsi014_base64_decode(uint8_t *out, size_t out_size, const char *in, size_t len)
{
	size_t pad = 0, n, o = 0;
	unsigned bad = 0;

	if (len == 0)
		return 0;
	if (len % 4 || len > (size_t)INT32_MAX)
		return -EBADMSG;
	/* Padding positions are public (they give the length). */
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	n = len / 4 * 3 - pad;
	if (n > out_size)
		return -EMSGSIZE;
	for (size_t i = 0; i < len; i += 4) {
		unsigned a = b64_val((uint8_t)in[i]), b = b64_val((uint8_t)in[i + 1]);
		unsigned c = 0, d = 0, w;
		bool last = i + 4 == len;

		if (last && pad == 2) {
			bad |= (unsigned)(in[i + 2] != '=');
		} else {
			c = b64_val((uint8_t)in[i + 2]);
		}
		if (!(last && pad >= 1))
			d = b64_val((uint8_t)in[i + 3]);
		bad |= (a | b | c | d) & 0x100;
		w = (a & 63) << 18 | (b & 63) << 12 | (c & 63) << 6 | (d & 63);
		if (o < n)
			out[o++] = (uint8_t)(w >> 16);
		if (o < n)
			out[o++] = (uint8_t)(w >> 8);
		if (o < n)
			out[o++] = (uint8_t)w;
		/* Non-canonical trailing bits (RFC 4648 §3.5) are refused. */
		if (last && pad == 1)
			bad |= w & 0xff;
		if (last && pad == 2)
			bad |= w & 0xffff;
	}
	if (bad) {
		mfs_wipe(out, n);
		return -EBADMSG;
	}
	return (int)n;
}

/* ---- request parsing ------------------------------------------------------ */

static int unhex2(const char *p)
{
	int hi = hexval(p[0]), lo = hi < 0 ? -1 : hexval(p[1]);

	return hi < 0 || lo < 0 ? -1 : hi << 4 | lo;
}

/*
 * Percent-decode s[0..len) into out (size bytes with the NUL). '+' is a
 * plus sign (path and query values here are IDs and digits). -EBADMSG on a
 * bad escape, a decoded byte outside printable ASCII, or an empty result;
 * -EMSGSIZE when too long.
 */
static int pct_decode(const char *s, size_t len, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			if (len - i < 3 || (c = unhex2(s + i + 1)) < 0)
				return -EBADMSG;
			i += 2;
		}
		if (c < 0x20 || c > 0x7e)
			return -EBADMSG;
		if (o + 1 >= size)
			return -EMSGSIZE;
		out[o++] = (char)c;
	}
	if (o == 0)
		return -EBADMSG;
	out[o] = 0;
	return 0;
}

static int parse_path(const char *path, struct etsi014_request *req, struct etsi014_error *err)
{
	static const char prefix[] = ETSI014_PATH_PREFIX;
	size_t plen = strnlen(path, ETSI014_PATH_MAX + 1), pre = sizeof(prefix) - 1;
	const char *rest, *slash, *op;
	int r;

	if (plen > ETSI014_PATH_MAX) {
		etsi014_error_set(err, 400, "request path too long");
		return -EMSGSIZE;
	}
	if (plen <= pre || memcmp(path, prefix, pre) != 0)
		goto notfound;
	rest = path + pre;
	slash = strchr(rest, '/');
	if (!slash || slash == rest)
		goto notfound;
	op = slash + 1;
	if (!strcmp(op, "status"))
		req->op = ETSI014_STATUS;
	else if (!strcmp(op, "enc_keys"))
		req->op = ETSI014_ENC_KEYS;
	else if (!strcmp(op, "dec_keys"))
		req->op = ETSI014_DEC_KEYS;
	else
		goto notfound;
	r = pct_decode(rest, (size_t)(slash - rest), req->sae_id, sizeof(req->sae_id));
	if (r < 0) {
		etsi014_error_set(err, 400, r == -EMSGSIZE ? "SAE ID in path longer than %d bytes" :
				  "SAE ID in path is not printable ASCII", ETSI014_ID_MAX);
		return r;
	}
	return 0;
notfound:
	etsi014_error_set(err, 404, "not found: the endpoints are " ETSI014_PATH_PREFIX
			  "{SAE_ID}/status, enc_keys and dec_keys");
	return -ENOENT;
}

/* Decimal digits only, no sign, no leading '+', at most 10 digits. */
static int parse_uint(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0 || len > 10)
		return -EBADMSG;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EBADMSG;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*ret = v;
	return 0;
}

static int check_number(int64_t v, const struct etsi014_limits *lim, unsigned *ret,
			struct etsi014_error *err)
{
	if (v < 1 || v > (int64_t)lim->max_key_per_request) {
		etsi014_error_set(err, 400, "number shall be between 1 and max_key_per_request (%u)",
				  lim->max_key_per_request);
		return -EINVAL;
	}
	*ret = (unsigned)v;
	return 0;
}

static int check_size(int64_t v, const struct etsi014_limits *lim, unsigned *ret,
		      struct etsi014_error *err)
{
	if (v > 0 && v % 8) {
		etsi014_error_set(err, 400, ETSI014_ERR_SIZE_MULT8);
		return -EINVAL;
	}
	if (v < (int64_t)lim->min_key_size || v > (int64_t)lim->max_key_size) {
		etsi014_error_set(err, 400,
				  "size shall be between min_key_size (%u) and max_key_size (%u)",
				  lim->min_key_size, lim->max_key_size);
		return -EINVAL;
	}
	*ret = (unsigned)v;
	return 0;
}

static int parse_query(const char *q, struct etsi014_request *req, const struct etsi014_limits *lim,
		       struct etsi014_error *err)
{
	size_t qlen = strnlen(q, ETSI014_QUERY_MAX + 1);
	bool seen_number = false, seen_size = false, seen_id = false;
	char sh[48];
	int r;

	if (qlen > ETSI014_QUERY_MAX) {
		etsi014_error_set(err, 400, "query string longer than %d bytes", ETSI014_QUERY_MAX);
		return -EMSGSIZE;
	}
	for (size_t i = 0; i < qlen;) {
		const char *item = q + i, *amp = memchr(item, '&', qlen - i), *eqs;
		size_t ilen = amp ? (size_t)(amp - item) : qlen - i, nlen;
		char val[ETSI014_KEY_ID_STR_LEN + 8];
		size_t vlen;
		uint64_t v;

		i += ilen + 1;
		if (ilen == 0)
			continue;
		eqs = memchr(item, '=', ilen);
		nlen = eqs ? (size_t)(eqs - item) : ilen;
		if (!eqs || (r = pct_decode(eqs + 1, ilen - nlen - 1, val, sizeof(val))) < 0) {
			etsi014_error_set(err, 400, "query parameter \"%s\" needs a value",
					  shown(item, nlen, sh, sizeof(sh)));
			return -EBADMSG;
		}
		vlen = strlen(val);
		if (req->op == ETSI014_ENC_KEYS && nlen == 6 && !memcmp(item, "number", 6)) {
			if (seen_number) {
				etsi014_error_set(err, 400, "query parameter \"number\" given twice");
				return -EBADMSG;
			}
			seen_number = true;
			if (parse_uint(val, vlen, &v) < 0) {
				etsi014_error_set(err, 400, "number shall be a decimal integer");
				return -EBADMSG;
			}
			if ((r = check_number((int64_t)v, lim, &req->u.enc.number, err)) < 0)
				return r;
		} else if (req->op == ETSI014_ENC_KEYS && nlen == 4 && !memcmp(item, "size", 4)) {
			if (seen_size) {
				etsi014_error_set(err, 400, "query parameter \"size\" given twice");
				return -EBADMSG;
			}
			seen_size = true;
			if (parse_uint(val, vlen, &v) < 0) {
				etsi014_error_set(err, 400, "size shall be a decimal integer");
				return -EBADMSG;
			}
			if ((r = check_size((int64_t)v, lim, &req->u.enc.size, err)) < 0)
				return r;
			req->u.enc.has_size = true;
		} else if (req->op == ETSI014_DEC_KEYS && nlen == 6 && !memcmp(item, "key_ID", 6)) {
			if (seen_id) {
				etsi014_error_set(err, 400, "GET dec_keys takes one key_ID; "
						  "use POST for several");
				return -EBADMSG;
			}
			seen_id = true;
			if (etsi014_key_id_parse(val, vlen, req->u.dec.id[0]) < 0) {
				etsi014_error_set(err, 400, "key_ID is not a UUID");
				return -EBADMSG;
			}
			req->u.dec.n = 1;
		} else {
			etsi014_error_set(err, 400, "unknown query parameter \"%s\" for %s",
					  shown(item, nlen, sh, sizeof(sh)), etsi014_op_name(req->op));
			return -EBADMSG;
		}
	}
	if (req->op == ETSI014_DEC_KEYS && !seen_id) {
		etsi014_error_set(err, 400, "key_ID missing");
		return -EBADMSG;
	}
	return 0;
}

static int json_int_member(json_t *v, const char *name, int64_t *ret, struct etsi014_error *err)
{
	if (!json_is_integer(v)) {
		etsi014_error_set(err, 400, "%s shall be an integer", name);
		return -EBADMSG;
	}
	*ret = json_integer_value(v);
	return 0;
}

static int parse_enc_body(json_t *root, struct etsi014_request *req,
			  const struct etsi014_limits *lim, struct etsi014_error *err)
{
	struct etsi014_key_request *kr = &req->u.enc;
	const char *name;
	json_t *v;
	char sh[48];
	int64_t n;
	int r;

	json_object_foreach(root, name, v) {
		if (!strcmp(name, "number")) {
			if ((r = json_int_member(v, "number", &n, err)) < 0 ||
			    (r = check_number(n, lim, &kr->number, err)) < 0)
				return r;
		} else if (!strcmp(name, "size")) {
			if ((r = json_int_member(v, "size", &n, err)) < 0 ||
			    (r = check_size(n, lim, &kr->size, err)) < 0)
				return r;
			kr->has_size = true;
		} else if (!strcmp(name, "additional_slave_SAE_IDs")) {
			size_t i;
			json_t *s;

			if (!json_is_array(v)) {
				etsi014_error_set(err, 400,
						  "additional_slave_SAE_IDs shall be an array of strings");
				return -EBADMSG;
			}
			if (json_array_size(v) > lim->max_SAE_ID_count) {
				etsi014_error_set(err, 400, "additional_slave_SAE_IDs: at most "
						  "max_SAE_ID_count (%u) allowed", lim->max_SAE_ID_count);
				return -EINVAL;
			}
			json_array_foreach(v, i, s) {
				const char *id = json_string_value(s);

				if (!id || json_string_length(s) != strlen(id) || !etsi014_id_valid(id)) {
					etsi014_error_set(err, 400, "additional_slave_SAE_IDs[%zu] is "
							  "not a valid SAE ID", i);
					return -EBADMSG;
				}
				for (size_t j = 0; j < i; j++)
					if (!strcmp(kr->additional[j], id)) {
						etsi014_error_set(err, 400, "additional_slave_SAE_IDs "
								  "lists an SAE twice");
						return -EINVAL;
					}
				memcpy(kr->additional[i], id, strlen(id) + 1);
			}
			kr->n_additional = json_array_size(v);
		} else if (!strcmp(name, "extension_mandatory") ||
			   !strcmp(name, "extension_optional")) {
			bool mandatory = name[10] == 'm';
			size_t i;
			json_t *e;

			if (!json_is_array(v)) {
				etsi014_error_set(err, 400, "%s shall be an array of objects", name);
				return -EBADMSG;
			}
			json_array_foreach(v, i, e) {
				if (!json_is_object(e) || json_object_size(e) != 1) {
					etsi014_error_set(err, 400, "%s[%zu] shall be an object with "
							  "one member", name, i);
					return -EBADMSG;
				}
			}
			if (mandatory && json_array_size(v) > 0) {
				/* We support no extension: name the first one (spec §6.2 example). */
				const char *ext = json_object_iter_key(
					json_object_iter(json_array_get(v, 0)));

				etsi014_error_set(err, 400, ETSI014_ERR_EXT_MANDATORY);
				snprintf(err->detail_name, sizeof(err->detail_name),
					 "extension_mandatory_unsupported");
				snprintf(err->detail_value, sizeof(err->detail_value),
					 "%s is not supported", shown(ext, strlen(ext), sh, sizeof(sh)));
				return -EOPNOTSUPP;
			}
			if (!mandatory)
				kr->has_ext_optional = true;
		} else {
			etsi014_error_set(err, 400, "unknown member \"%s\" in the key request",
					  shown(name, strlen(name), sh, sizeof(sh)));
			return -EBADMSG;
		}
	}
	return 0;
}

static int parse_dec_body(json_t *root, struct etsi014_request *req,
			  const struct etsi014_limits *lim, struct etsi014_error *err)
{
	struct etsi014_key_ids *ki = &req->u.dec;
	const char *name;
	json_t *v, *ids = NULL;
	char sh[48];

	json_object_foreach(root, name, v) {
		if (!strcmp(name, "key_IDs")) {
			ids = v;
		} else if (!strcmp(name, "key_IDs_extension")) {
			if (!json_is_object(v)) {
				etsi014_error_set(err, 400, "key_IDs_extension shall be an object");
				return -EBADMSG;
			}
		} else {
			etsi014_error_set(err, 400, "unknown member \"%s\" in the key IDs request",
					  shown(name, strlen(name), sh, sizeof(sh)));
			return -EBADMSG;
		}
	}
	if (!ids) {
		etsi014_error_set(err, 400, "key_IDs missing");
		return -EBADMSG;
	}
	if (!json_is_array(ids) || json_array_size(ids) == 0) {
		etsi014_error_set(err, 400, "key_IDs shall be a non-empty array of objects");
		return -EBADMSG;
	}
	if (json_array_size(ids) > lim->max_key_per_request) {
		etsi014_error_set(err, 400, "key_IDs: at most max_key_per_request (%u) per request",
				  lim->max_key_per_request);
		return -EINVAL;
	}
	for (size_t i = 0; i < json_array_size(ids); i++) {
		json_t *e = json_array_get(ids, i), *id, *ext;

		if (!json_is_object(e)) {
			etsi014_error_set(err, 400, "key_IDs[%zu] shall be an object", i);
			return -EBADMSG;
		}
		id = json_object_get(e, "key_ID");
		if (!json_is_string(id) ||
		    etsi014_key_id_parse(json_string_value(id), json_string_length(id),
					 ki->id[i]) < 0) {
			etsi014_error_set(err, 400, "key_IDs[%zu].key_ID %s", i,
					  id ? "is not a UUID" : "missing");
			return -EBADMSG;
		}
		ext = json_object_get(e, "key_ID_extension");
		if (ext && !json_is_object(ext)) {
			etsi014_error_set(err, 400, "key_IDs[%zu].key_ID_extension shall be an object",
					  i);
			return -EBADMSG;
		}
		for (size_t j = 0; j < i; j++)
			if (!memcmp(ki->id[j], ki->id[i], ETSI014_KEY_ID_LEN)) {
				etsi014_error_set(err, 400, "key_IDs lists key_ID %zu twice", j);
				return -EINVAL;
			}
	}
	ki->n = json_array_size(ids);
	return 0;
}

static bool content_type_json(const char *ct)
{
	static const char want[] = "application/json";

	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, sizeof(want) - 1) != 0)
		return false;
	ct += sizeof(want) - 1;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == 0 || *ct == ';';
}

static int parse_body(const struct etsi014_http_in *in, struct etsi014_request *req,
		      const struct etsi014_limits *lim, struct etsi014_error *err)
{
	json_error_t jerr;
	json_t *root;
	int r;

	if (in->body_len > ETSI014_BODY_MAX) {
		etsi014_error_set(err, 400, "request body larger than %d bytes", ETSI014_BODY_MAX);
		return -EMSGSIZE;
	}
	if (in->content_type && !content_type_json(in->content_type)) {
		etsi014_error_set(err, 400, "Content-Type shall be application/json");
		return -EBADMSG;
	}
	if (in->body_len == 0 && req->op == ETSI014_ENC_KEYS)
		return 0;	/* an empty Key request, as {} */
	root = json_loadb((const char *)in->body, in->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		etsi014_error_set(err, 400, "request body is not valid JSON (line %d column %d)",
				  jerr.line, jerr.column);
		return -EBADMSG;
	}
	if (!json_is_object(root)) {
		etsi014_error_set(err, 400, "request body shall be a JSON object");
		r = -EBADMSG;
	} else if (req->op == ETSI014_ENC_KEYS) {
		r = parse_enc_body(root, req, lim, err);
	} else {
		r = parse_dec_body(root, req, lim, err);
	}
	json_decref(root);
	return r;
}

int etsi014_parse_request(const struct etsi014_http_in *in, const struct etsi014_limits *lim,
			  struct etsi014_request *ret, struct etsi014_error *err)
{
	struct etsi014_request *rq;
	const char *allow;
	int r;

	/*
	 * Parse into a scratch struct, then commit: *ret stays untouched on
	 * failure. The scratch lives on the heap (the struct is ~17 KiB).
	 */
	if (!(rq = calloc(1, sizeof(*rq)))) {
		etsi014_error_set(err, 503, "out of memory");
		return -ENOMEM;
	}
	if ((r = etsi014_limits_check(lim)) < 0) {
		etsi014_error_set(err, 503, "server limits are inconsistent");
		goto out;
	}
	if ((r = parse_path(in->path, rq, err)) < 0)
		goto out;
	allow = rq->op == ETSI014_STATUS ? "GET" : "GET, POST";
	if (in->method == ETSI014_OTHER || (rq->op == ETSI014_STATUS && in->method != ETSI014_GET)) {
		etsi014_error_set(err, 405, "method not allowed for %s (allowed: %s)",
				  etsi014_op_name(rq->op), allow);
		snprintf(err->detail_name, sizeof(err->detail_name), "Allow");
		snprintf(err->detail_value, sizeof(err->detail_value), "%s", allow);
		r = -EOPNOTSUPP;
		goto out;
	}
	if (rq->op == ETSI014_ENC_KEYS) {
		rq->u.enc.number = 1;
		rq->u.enc.size = lim->key_size;
	}
	if (in->method == ETSI014_GET) {
		if (in->body_len) {
			etsi014_error_set(err, 400, "GET takes no body; use POST");
			r = -EBADMSG;
			goto out;
		}
		if (in->query && in->query[0]) {
			if (rq->op == ETSI014_STATUS) {
				etsi014_error_set(err, 400, "status takes no query parameters");
				r = -EBADMSG;
				goto out;
			}
			if ((r = parse_query(in->query, rq, lim, err)) < 0)
				goto out;
		} else if (rq->op == ETSI014_DEC_KEYS) {
			etsi014_error_set(err, 400, "key_ID missing");
			r = -EBADMSG;
			goto out;
		}
	} else {
		if (in->query && in->query[0]) {
			etsi014_error_set(err, 400, "POST takes no query parameters; "
					  "put them in the JSON body");
			r = -EBADMSG;
			goto out;
		}
		if ((r = parse_body(in, rq, lim, err)) < 0)
			goto out;
	}
	memcpy(ret, rq, sizeof(*rq));
	r = 0;
out:
	mfs_wipe(rq, sizeof(*rq));
	free(rq);
	return r;
}

/* ---- response formatting -------------------------------------------------- */

static void put_str(struct wbuf *w, const char *s)
{
	wbuf_put(w, s, strlen(s));
}

/* A JSON string of printable ASCII: only '"' and '\\' need escaping. */
static int put_json_str(struct wbuf *w, const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n > max)
		return -EINVAL;
	wbuf_u8(w, '"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e)
			return -EINVAL;
		if (s[i] == '"' || s[i] == '\\')
			wbuf_u8(w, '\\');
		wbuf_u8(w, (uint8_t)s[i]);
	}
	wbuf_u8(w, '"');
	return 0;
}

static void put_uint(struct wbuf *w, uint64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%llu", (unsigned long long)v);

	wbuf_put(w, b, (size_t)n);
}

int etsi014_format_status(struct wbuf *w, const struct etsi014_status *st)
{
	static const char *const names[] = { "source_KME_ID", "target_KME_ID", "master_SAE_ID",
					     "slave_SAE_ID" };
	const char *ids[] = { st->source_KME_ID, st->target_KME_ID, st->master_SAE_ID,
			      st->slave_SAE_ID };
	const struct { const char *name; uint64_t v; } nums[] = {
		{ "key_size", st->key_size },
		{ "stored_key_count", st->stored_key_count },
		{ "max_key_count", st->max_key_count },
		{ "max_key_per_request", st->max_key_per_request },
		{ "max_key_size", st->max_key_size },
		{ "min_key_size", st->min_key_size },
		{ "max_SAE_ID_count", st->max_SAE_ID_count },
	};

	for (size_t i = 0; i < 4; i++)
		if (!etsi014_id_valid(ids[i]))
			return -EINVAL;
	wbuf_u8(w, '{');
	for (size_t i = 0; i < 4; i++) {
		if (i)
			wbuf_u8(w, ',');
		wbuf_u8(w, '"');
		put_str(w, names[i]);
		put_str(w, "\":");
		put_json_str(w, ids[i], ETSI014_ID_MAX);
	}
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		put_str(w, ",\"");
		put_str(w, nums[i].name);
		put_str(w, "\":");
		put_uint(w, nums[i].v);
	}
	wbuf_u8(w, '}');
	return wbuf_error(w);
}

size_t etsi014_keys_json_max(size_t n, size_t key_bytes)
{
	/* {"keys":[ ... ]} + per key {"key_ID":"<36>","key":"<b64>"}, */
	return 12 + n * (sizeof("{\"key_ID\":\"\",\"key\":\"\"},") + ETSI014_KEY_ID_STR_LEN +
			 ETSI014_B64_LEN(key_bytes)) + 1;
}

int etsi014_format_keys(struct wbuf *w, const struct etsi014_key *keys, size_t n)
{
	char id[ETSI014_KEY_ID_STR_LEN + 1];

	put_str(w, "{\"keys\":[");
	for (size_t i = 0; i < n; i++) {
		uint8_t *dst;
		size_t b64 = ETSI014_B64_LEN(keys[i].len);
		char *tmp;

		if (keys[i].len == 0 || keys[i].len > ETSI014_KEY_MAX_BYTES)
			return -EINVAL;
		etsi014_key_id_format(keys[i].id, id);
		put_str(w, i ? ",{\"key_ID\":\"" : "{\"key_ID\":\"");
		put_str(w, id);
		put_str(w, "\",\"key\":\"");
		/* Encode straight into the output: one more byte for the encoder's NUL. */
		if (wbuf_reserve(w, b64 + 1, &dst) < 0)
			return wbuf_error(w);
		tmp = (char *)dst;
		etsi014_base64_encode(tmp, b64 + 1, keys[i].key, keys[i].len);
		w->len--;	/* drop the NUL */
		put_str(w, "\"}");
	}
	put_str(w, "]}");
	return wbuf_error(w);
}

int etsi014_format_error(struct wbuf *w, const struct etsi014_error *e)
{
	int r;

	put_str(w, "{\"message\":");
	if ((r = put_json_str(w, e->message, ETSI014_MSG_MAX)) < 0)
		return r;
	if (e->detail_name[0] && strcmp(e->detail_name, "Allow") != 0) {
		put_str(w, ",\"details\":[{");
		if ((r = put_json_str(w, e->detail_name, sizeof(e->detail_name) - 1)) < 0)
			return r;
		wbuf_u8(w, ':');
		if ((r = put_json_str(w, e->detail_value, ETSI014_MSG_MAX)) < 0)
			return r;
		put_str(w, "}]");
	}
	wbuf_u8(w, '}');
	return wbuf_error(w);
}
