/* SPDX-License-Identifier: Apache-2.0 */
/* KME response parsers (kme_json.h). */
#include "daemon/kme_json.h"

#include <errno.h>
#include <jansson.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etsi014/etsi014.h"

/*
 * jansson's memory is wiped when jansson frees it. The block size comes
 * from malloc_usable_size(), not from a header, so memory jansson hands out
 * (json_dumps() strings) can still be released with plain free().
 */
static void *wipe_malloc(size_t n)
{
	return malloc(n);
}

static void wipe_free(void *ptr)
{
	if (!ptr)
		return;
	mfs_wipe(ptr, malloc_usable_size(ptr));
	free(ptr);
}

void kme_json_init(void)
{
	static bool done;

	if (!done) {
		json_set_alloc_funcs(wipe_malloc, wipe_free);
		done = true;
	}
}

__attribute__((format(printf, 3, 4)))
static int bad(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (why && n) {
		va_start(ap, fmt);
		vsnprintf(why, n, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

static json_t *load(const uint8_t *body, size_t len, char *why, size_t n, int *r)
{
	json_error_t e;
	json_t *j;

	kme_json_init();
	if (len > KME_BODY_MAX) {
		*r = -EMSGSIZE;
		bad(why, n, "response larger than %d bytes", KME_BODY_MAX);
		return NULL;
	}
	j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &e);
	if (!j) {
		*r = bad(why, n, "not JSON (%.60s)", e.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		*r = bad(why, n, "not a JSON object");
		return NULL;
	}
	*r = 0;
	return j;
}

static bool is_ext(const char *k)
{
	size_t n = strlen(k);

	return n > 10 && strcmp(k + n - 10, "_extension") == 0;
}

void kme_keys_free(struct kme_keys *k)
{
	secret_free(k->keys);
	memset(k, 0, sizeof(*k));
}

int kme_parse_keys(const uint8_t *body, size_t len, size_t n, size_t bytes,
		   const uint8_t (*want_ids)[KME_KEY_ID_LEN], struct kme_keys *ret, char *why,
		   size_t why_size)
{
	struct kme_keys k = { 0 };
	const char *name;
	json_t *j, *arr, *v;
	bool seen[KME_KEYS_MAX] = { false };
	int r;

	memset(ret, 0, sizeof(*ret));
	if (n == 0 || n > KME_KEYS_MAX || bytes < 1 || bytes > KME_KEY_MAX)
		return -EINVAL;
	if (!(j = load(body, len, why, why_size, &r)))
		return r;
	json_object_foreach(j, name, v) {
		if (strcmp(name, "keys") != 0 && !(is_ext(name) && json_is_object(v))) {
			r = bad(why, why_size, "unexpected member '%.40s' in the key container", name);
			goto out;
		}
	}
	arr = json_object_get(j, "keys");
	if (!json_is_array(arr)) {
		r = bad(why, why_size, "no \"keys\" array");
		goto out;
	}
	if (json_array_size(arr) != n) {
		r = bad(why, why_size, "%zu keys instead of %zu", json_array_size(arr), n);
		goto out;
	}
	k.keys = secret_alloc(n * bytes);
	if (!k.keys) {
		r = -ENOMEM;
		goto out;
	}
	k.n = n;
	k.bytes = bytes;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i), *id, *key;
		const char *ks;
		size_t kl;
		int got;

		if (!json_is_object(e)) {
			r = bad(why, why_size, "key %zu is not an object", i);
			goto out;
		}
		json_object_foreach(e, name, v) {
			if (strcmp(name, "key_ID") != 0 && strcmp(name, "key") != 0 &&
			    !(is_ext(name) && json_is_object(v))) {
				r = bad(why, why_size, "unexpected member '%.40s' in key %zu", name, i);
				goto out;
			}
		}
		id = json_object_get(e, "key_ID");
		key = json_object_get(e, "key");
		if (!json_is_string(id) || !json_is_string(key)) {
			r = bad(why, why_size, "key %zu lacks key_ID or key", i);
			goto out;
		}
		if (etsi014_key_id_parse(json_string_value(id), json_string_length(id), k.ids[i]) < 0) {
			r = bad(why, why_size, "key %zu: key_ID is not a UUID", i);
			goto out;
		}
		for (size_t m = 0; m < i; m++)
			if (memcmp(k.ids[m], k.ids[i], KME_KEY_ID_LEN) == 0) {
				r = bad(why, why_size, "key_ID given twice");
				goto out;
			}
		if (want_ids) {
			size_t m;

			for (m = 0; m < n; m++)
				if (!seen[m] && memcmp(want_ids[m], k.ids[i], KME_KEY_ID_LEN) == 0)
					break;
			if (m == n) {
				r = bad(why, why_size, "key %zu has a key_ID that was not asked for", i);
				goto out;
			}
			seen[m] = true;
		}
		ks = json_string_value(key);
		kl = json_string_length(key);
		if (kl != (size_t)ETSI014_B64_LEN(bytes)) {
			r = bad(why, why_size, "key %zu is not %zu bits", i, 8 * bytes);
			goto out;
		}
		got = etsi014_base64_decode(k.keys->p + i * bytes, bytes, ks, kl);
		if (got < 0 || (size_t)got != bytes) {
			r = bad(why, why_size, "key %zu is not base64 of %zu bits", i, 8 * bytes);
			goto out;
		}
	}
	*ret = k;
	k.keys = NULL;
	r = 0;
out:
	secret_free(k.keys);
	json_decref(j);
	return r;
}

static int get_id(json_t *j, const char *name, char *dst, char *why, size_t n)
{
	json_t *v = json_object_get(j, name);
	const char *s;

	if (!json_is_string(v))
		return bad(why, n, "status: %s missing", name);
	s = json_string_value(v);
	if (json_string_length(v) > KME_ID_MAX || !etsi014_id_valid(s))
		return bad(why, n, "status: %s is not a printable ID of at most %d bytes", name,
			   KME_ID_MAX);
	memcpy(dst, s, json_string_length(v) + 1);
	return 0;
}

static int get_count(json_t *j, const char *name, bool need, uint64_t *dst, char *why, size_t n)
{
	json_t *v = json_object_get(j, name);

	if (!v && !need)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return bad(why, n, "status: %s is not a count", name);
	*dst = (uint64_t)json_integer_value(v);
	return 0;
}

int kme_parse_status(const uint8_t *body, size_t len, const char *master, const char *slave,
		     struct kme_status *ret, char *why, size_t why_size)
{
	struct kme_status st = { 0 };
	json_t *j;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!(j = load(body, len, why, why_size, &r)))
		return r;
	if ((r = get_id(j, "source_KME_ID", st.source_kme, why, why_size)) ||
	    (r = get_id(j, "target_KME_ID", st.target_kme, why, why_size)) ||
	    (r = get_id(j, "master_SAE_ID", st.master_sae, why, why_size)) ||
	    (r = get_id(j, "slave_SAE_ID", st.slave_sae, why, why_size)) ||
	    (r = get_count(j, "key_size", true, &st.key_size, why, why_size)) ||
	    (r = get_count(j, "stored_key_count", true, &st.stored_key_count, why, why_size)) ||
	    (r = get_count(j, "max_key_count", false, &st.max_key_count, why, why_size)) ||
	    (r = get_count(j, "max_key_per_request", true, &st.max_key_per_request, why, why_size)) ||
	    (r = get_count(j, "max_key_size", false, &st.max_key_size, why, why_size)) ||
	    (r = get_count(j, "min_key_size", false, &st.min_key_size, why, why_size)))
		goto out;
	if (strcmp(st.master_sae, master) != 0 || strcmp(st.slave_sae, slave) != 0) {
		r = bad(why, why_size, "status is for SAEs %s -> %s, not %s -> %s", st.master_sae,
			st.slave_sae, master, slave);
		goto out;
	}
	if (st.key_size == 0 || st.key_size % 8 || st.max_key_per_request == 0) {
		r = bad(why, why_size, "status: key_size or max_key_per_request unusable");
		goto out;
	}
	*ret = st;
out:
	json_decref(j);
	return r;
}

void kme_parse_error(const uint8_t *body, size_t len, char *msg, size_t msg_size)
{
	json_t *j, *m;
	char why[8];
	int r;
	size_t k = 0;

	if (!msg_size)
		return;
	msg[0] = '\0';
	if (!(j = load(body, len, why, sizeof(why), &r)))
		return;
	m = json_object_get(j, "message");
	if (json_is_string(m)) {
		const char *s = json_string_value(m);

		for (size_t i = 0; s[i] && k + 1 < msg_size && k < KME_MSG_MAX; i++)
			msg[k++] = (s[i] >= 0x20 && s[i] <= 0x7e) ? s[i] : '?';
		msg[k] = '\0';
	}
	json_decref(j);
}
