/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ETSI GS QKD 014 request parser, etsi014_parse_request()
 * (src/etsi014/etsi014.h), on arbitrary bytes laid out as
 *
 *   byte 0     bits 0-1: method (GET, POST, other), bits 4-5: which limits
 *   then       path '\n' query '\n' content-type '\n' body
 *              (an empty query or content-type is "absent")
 *
 * Checked beyond "no crash, no leak": a failed parse leaves the output
 * untouched and sets a status (400/404/405) and a printable message that
 * formats as a JSON error; an accepted request is within the limits (number,
 * size, key ID count, no duplicate key IDs, printable SAE IDs). The base64
 * decoder and the key container formatter run on the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "etsi014/etsi014.h"
#include "fuzz.h"

static const struct etsi014_limits limits[4] = {
	{ 256, 64, 1024, 128, 0 },
	{ 8, 8, 8192, 1024, 16 },
	{ 256, 256, 256, 1, 0 },
	{ 128, 64, 512, 16, 2 },
};

/* Next '\n'-terminated piece as a NUL-terminated heap string. */
static char *piece(const uint8_t **p, size_t *n)
{
	const uint8_t *nl = memchr(*p, '\n', *n);
	size_t len = nl ? (size_t)(nl - *p) : *n;
	char *s = malloc(len + 1);

	if (!s)
		abort();
	memcpy(s, *p, len);
	s[len] = 0;
	*p += nl ? len + 1 : len;
	*n -= nl ? len + 1 : len;
	return s;
}

static void check_printable(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n > max)
		abort();
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct etsi014_request req, untouched;
	struct etsi014_error err = { 0 };
	struct etsi014_http_in in = { 0 };
	const struct etsi014_limits *lim;
	char *path, *query, *ctype;
	uint8_t *body, out[4096], dec[1024];
	struct wbuf w;
	int r;

	if (size < 1)
		return 0;
	in.method = (enum etsi014_method)(data[0] & 3) % 3;
	lim = &limits[(data[0] >> 4) & 3];
	data++;
	size--;
	path = piece(&data, &size);
	query = piece(&data, &size);
	ctype = piece(&data, &size);
	/* The body in a buffer of exactly its size: an overread is an ASan report. */
	body = malloc(size ? size : 1);
	if (!body)
		abort();
	memcpy(body, data, size);
	in.path = path;
	in.query = query[0] ? query : NULL;
	in.content_type = ctype[0] ? ctype : NULL;
	in.body = body;
	in.body_len = size;

	memset(&req, 0xa5, sizeof(req));
	untouched = req;
	r = etsi014_parse_request(&in, lim, &req, &err);
	if (r < 0) {
		if (memcmp(&req, &untouched, sizeof(req)) != 0)
			abort();
		if (err.status != 400 && err.status != 404 && err.status != 405)
			abort();
		check_printable(err.message, ETSI014_MSG_MAX);
		w = wbuf_init(out, sizeof(out));
		if (etsi014_format_error(&w, &err) < 0)
			abort();
	} else {
		if (err.status)
			abort();
		check_printable(req.sae_id, ETSI014_ID_MAX);
		if (!req.sae_id[0])
			abort();
		if (req.op == ETSI014_ENC_KEYS) {
			const struct etsi014_key_request *k = &req.u.enc;

			if (k->number < 1 || k->number > lim->max_key_per_request ||
			    k->size % 8 || k->size < lim->min_key_size || k->size > lim->max_key_size ||
			    k->n_additional > lim->max_SAE_ID_count)
				abort();
			for (size_t i = 0; i < k->n_additional; i++)
				check_printable(k->additional[i], ETSI014_ID_MAX);
		} else if (req.op == ETSI014_DEC_KEYS) {
			const struct etsi014_key_ids *k = &req.u.dec;

			if (k->n < 1 || k->n > lim->max_key_per_request)
				abort();
			for (size_t i = 0; i < k->n; i++)
				for (size_t j = 0; j < i; j++)
					if (!memcmp(k->id[i], k->id[j], ETSI014_KEY_ID_LEN))
						abort();
		} else if (req.op != ETSI014_STATUS) {
			abort();
		}
	}

	/* base64: decode what is there; whatever decodes re-encodes to the same text */
	r = etsi014_base64_decode(dec, sizeof(dec), (const char *)body, size);
	if (r > 0) {
		char re[1400];

		if (etsi014_base64_encode(re, sizeof(re), dec, (size_t)r) != (int)size ||
		    memcmp(re, body, size) != 0)
			abort();
	}
	free(body);
	free(ctype);
	free(query);
	free(path);
	return 0;
}
