// SPDX-License-Identifier: Apache-2.0
/*
 * ETSI GS QKD 014, client side: requests an SAE sends, responses it reads
 * (untrusted). Contract in etsi014.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/secret.h"
#include "etsi014/etsi014.h"

static void put(struct wbuf *w, const char *s)
{
	wbuf_put(w, s, strlen(s));
}

int etsi014_format_key_request(struct wbuf *w, unsigned number, unsigned size)
{
	char b[64];
	int n;

	if (number && size)
		n = snprintf(b, sizeof(b), "{\"number\":%u,\"size\":%u}", number, size);
	else if (number)
		n = snprintf(b, sizeof(b), "{\"number\":%u}", number);
	else if (size)
		n = snprintf(b, sizeof(b), "{\"size\":%u}", size);
	else
		n = snprintf(b, sizeof(b), "{}");
	wbuf_put(w, b, (size_t)n);
	return wbuf_error(w);
}

int etsi014_format_key_ids(struct wbuf *w, const uint8_t (*ids)[ETSI014_KEY_ID_LEN], size_t n)
{
	char id[ETSI014_KEY_ID_STR_LEN + 1];

	if (n < 1 || n > ETSI014_KEYS_MAX)
		return -EINVAL;
	put(w, "{\"key_IDs\":[");
	for (size_t i = 0; i < n; i++) {
		etsi014_key_id_format(ids[i], id);
		put(w, i ? ",{\"key_ID\":\"" : "{\"key_ID\":\"");
		put(w, id);
		put(w, "\"}");
	}
	put(w, "]}");
	return wbuf_error(w);
}

static json_t *load(const uint8_t *body, size_t len, int *r)
{
	json_t *root;

	*r = 0;
	if (len > ETSI014_RESP_MAX) {
		*r = -EMSGSIZE;
		return NULL;
	}
	root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL);
	if (!root || !json_is_object(root)) {
		json_decref(root);
		*r = -EBADMSG;
		return NULL;
	}
	return root;
}

static int get_id(json_t *o, const char *name, char out[static ETSI014_ID_MAX + 1])
{
	json_t *v = json_object_get(o, name);
	const char *s = json_string_value(v);

	if (!s || json_string_length(v) != strlen(s) || !etsi014_id_valid(s))
		return -EBADMSG;
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int get_uint(json_t *o, const char *name, uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(o, name);
	json_int_t n;

	if (!json_is_integer(v))
		return -EBADMSG;
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n > max)
		return -EBADMSG;
	*out = (uint64_t)n;
	return 0;
}

int etsi014_parse_status(const uint8_t *body, size_t len, struct etsi014_status *ret)
{
	struct etsi014_status st = { 0 };
	uint64_t v[7];
	json_t *root;
	int r;

	if (!(root = load(body, len, &r)))
		return r;
	if ((r = get_id(root, "source_KME_ID", st.source_KME_ID)) < 0 ||
	    (r = get_id(root, "target_KME_ID", st.target_KME_ID)) < 0 ||
	    (r = get_id(root, "master_SAE_ID", st.master_SAE_ID)) < 0 ||
	    (r = get_id(root, "slave_SAE_ID", st.slave_SAE_ID)) < 0 ||
	    (r = get_uint(root, "key_size", UINT32_MAX, &v[0])) < 0 ||
	    (r = get_uint(root, "stored_key_count", 1ULL << 53, &v[1])) < 0 ||
	    (r = get_uint(root, "max_key_count", 1ULL << 53, &v[2])) < 0 ||
	    (r = get_uint(root, "max_key_per_request", UINT32_MAX, &v[3])) < 0 ||
	    (r = get_uint(root, "max_key_size", UINT32_MAX, &v[4])) < 0 ||
	    (r = get_uint(root, "min_key_size", UINT32_MAX, &v[5])) < 0 ||
	    (r = get_uint(root, "max_SAE_ID_count", UINT32_MAX, &v[6])) < 0)
		goto out;
	st.key_size = (unsigned)v[0];
	st.stored_key_count = v[1];
	st.max_key_count = v[2];
	st.max_key_per_request = (unsigned)v[3];
	st.max_key_size = (unsigned)v[4];
	st.min_key_size = (unsigned)v[5];
	st.max_SAE_ID_count = (unsigned)v[6];
	*ret = st;
out:
	json_decref(root);
	return r;
}

/* jansson keeps the base64 text of keys: wiped before release. */
static void wipe_strings(json_t *keys)
{
	size_t i;
	json_t *k;

	json_array_foreach(keys, i, k) {
		json_t *v = json_object_get(k, "key");

		if (json_is_string(v))
			mfs_wipe((char *)json_string_value(v), json_string_length(v));
	}
}

int etsi014_parse_keys(const uint8_t *body, size_t len, struct etsi014_key *keys, size_t max,
		       size_t *ret_n)
{
	json_t *root, *arr, *k;
	size_t i, n;
	int r;

	if (!(root = load(body, len, &r)))
		return r;
	arr = json_object_get(root, "keys");
	if (!arr)
		arr = json_object_get(root, "Keys");
	if (!json_is_array(arr) || (n = json_array_size(arr)) == 0) {
		r = -EBADMSG;
		goto out;
	}
	if (n > max) {
		r = -EMSGSIZE;
		goto out;
	}
	json_array_foreach(arr, i, k) {
		json_t *id = json_object_get(k, "key_ID"), *key = json_object_get(k, "key");
		int kl;

		if (!json_is_object(k) || !json_is_string(id) || !json_is_string(key) ||
		    etsi014_key_id_parse(json_string_value(id), json_string_length(id),
					 keys[i].id) < 0) {
			r = -EBADMSG;
			break;
		}
		kl = etsi014_base64_decode(keys[i].key, ETSI014_KEY_MAX_BYTES, json_string_value(key),
					   json_string_length(key));
		if (kl <= 0) {
			r = kl == 0 ? -EBADMSG : kl;
			break;
		}
		keys[i].len = (size_t)kl;
	}
	if (r < 0) {
		mfs_wipe(keys, (i < n ? i + 1 : n) * sizeof(*keys));
		goto out;
	}
	*ret_n = n;
out:
	if (arr)
		wipe_strings(arr);
	json_decref(root);
	return r;
}

int etsi014_parse_error(const uint8_t *body, size_t len, char msg[static ETSI014_MSG_MAX + 1])
{
	json_t *root, *m;
	const char *s;
	size_t n;
	int r;

	if (!(root = load(body, len, &r)))
		return r;
	m = json_object_get(root, "message");
	if (!(s = json_string_value(m))) {
		json_decref(root);
		return -EBADMSG;
	}
	n = json_string_length(m) < ETSI014_MSG_MAX ? json_string_length(m) : ETSI014_MSG_MAX;
	for (size_t i = 0; i < n; i++)
		msg[i] = s[i] >= 0x20 && s[i] <= 0x7e ? s[i] : '?';
	msg[n] = 0;
	json_decref(root);
	return 0;
}
