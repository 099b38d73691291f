/* SPDX-License-Identifier: Apache-2.0 */
/* Static McEliece keys on disk and their rotation records (keyring.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/hex.h"
#include "cf/keyring.h"
#include "crypto/hash.h"
#include "kex/kex.h"

#define KEY_FILE_MAX (2U * 1024 * 1024)

static const uint16_t set_methods[KEYRING_SETS] = { KEX_ID_MCELIECE460896,
						    KEX_ID_MCELIECE6688128 };

uint16_t keyring_method(int set)
{
	return set >= 0 && set < KEYRING_SETS ? set_methods[set] : 0;
}

int keyring_set(uint16_t method)
{
	for (int s = 0; s < KEYRING_SETS; s++)
		if (set_methods[s] == method)
			return s;
	return -1;
}

static const struct kex_kem *kem_of(uint16_t method)
{
	const struct kex_method *m = kex_method_by_id(method);

	return keyring_set(method) >= 0 && m ? m->kem : NULL;
}

void keyring_id16(const uint8_t id[static KEYRING_ID_LEN], char out[static 17])
{
	if (hex_encode(out, 17, id, 8) < 0)
		out[0] = '\0';
}

void keyring_key_free(struct keyring_key *k)
{
	if (!k)
		return;
	secret_free(k->sk);
	free(k->pk);
	free(k);
}

static int path_set(char *dst, const char *src)
{
	size_t n = strlen(src);

	if (n >= PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(dst, src, n + 1);
	return 0;
}

static int read_pk(uint16_t method, const char *path, struct keyring_key *k)
{
	const struct kex_kem *kem = kem_of(method);
	size_t n = 0;
	int r;

	if (!kem)
		return -EOPNOTSUPP;
	if ((r = file_read(path, KEY_FILE_MAX, FILE_NO_FOLLOW, &k->pk, &n)) < 0)
		return r;
	if (n != kem->pk_len)
		return -EBADMSG;
	k->pk_len = n;
	k->method = method;
	if ((r = hash(HASH_SHA3_256, k->pk, n, k->id)) < 0)
		return r;
	return path_set(k->pk_path, path);
}

int keyring_load_pin(uint16_t method, const char *pk_path, const uint8_t *want_id,
		     struct keyring_key **ret)
{
	struct keyring_key *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return -ENOMEM;
	if ((r = read_pk(method, pk_path, k)) < 0)
		goto fail;
	if (want_id && memcmp(want_id, k->id, KEYRING_ID_LEN) != 0) {
		r = -EKEYREJECTED;
		goto fail;
	}
	*ret = k;
	return 0;
fail:
	keyring_key_free(k);
	return r;
}

int keyring_load_own(uint16_t method, const char *sk_path, const char *pk_path,
		     struct keyring_key **ret)
{
	const struct kex_kem *kem = kem_of(method);
	struct keyring_key *k = calloc(1, sizeof(*k));
	struct stat st;
	int r;

	if (!k)
		return -ENOMEM;
	if (!kem) {
		r = -EOPNOTSUPP;
		goto fail;
	}
	if ((r = read_pk(method, pk_path, k)) < 0 ||
	    (r = file_read_secret(sk_path, SECRET_MAX_LEN, FILE_NO_FOLLOW, &k->sk)) < 0)
		goto fail;
	if (k->sk->len != kem->sk_len && k->sk->len != kem->sk_len_alt) {
		r = -EBADMSG;
		goto fail;
	}
	if ((r = path_set(k->sk_path, sk_path)) < 0)
		goto fail;
	k->created = stat(pk_path, &st) == 0 ? (int64_t)st.st_mtime : 0;
	*ret = k;
	return 0;
fail:
	keyring_key_free(k);
	return r;
}

static int dir_ensure(const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int keyring_generate(uint16_t method, const char *dir, int64_t now, struct keyring_key **ret)
{
	const struct kex_kem *kem = kem_of(method);
	const struct kex_method *m = kex_method_by_id(method);
	struct keyring_key *k = NULL;
	char id16[17];
	int r;

	if (!kem || !m)
		return -EOPNOTSUPP;
	if ((r = dir_ensure(dir)) < 0)
		return r;
	if (!(k = calloc(1, sizeof(*k))) || !(k->pk = malloc(kem->pk_len)) ||
	    !(k->sk = secret_alloc(kem->sk_len))) {
		r = -ENOMEM;
		goto fail;
	}
	k->method = method;
	k->pk_len = kem->pk_len;
	k->created = now;
	k->ours = true;
	if ((r = kem->keypair(k->pk, k->sk->p)) < 0 ||
	    (r = hash(HASH_SHA3_256, k->pk, k->pk_len, k->id)) < 0)
		goto fail;
	keyring_id16(k->id, id16);
	if (snprintf(k->sk_path, sizeof(k->sk_path), "%s/%s-%s.sk", dir, m->name, id16) >=
		    (int)sizeof(k->sk_path) ||
	    snprintf(k->pk_path, sizeof(k->pk_path), "%s/%s-%s.pk", dir, m->name, id16) >=
		    (int)sizeof(k->pk_path)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	/* the secret first: a public key file alone is harmless */
	if ((r = file_write_atomic(k->sk_path, k->sk->p, k->sk->len, FILE_SECRET)) < 0)
		goto fail;
	if ((r = file_write_atomic(k->pk_path, k->pk, k->pk_len, FILE_SECRET)) < 0) {
		keyring_destroy_file(k->sk_path);
		goto fail;
	}
	*ret = k;
	return 0;
fail:
	keyring_key_free(k);
	return r;
}

int keyring_store_pin(const char *dir, const char *peer, uint16_t method, const uint8_t *pk,
		      size_t pk_len, struct keyring_key **ret)
{
	const struct kex_kem *kem = kem_of(method);
	const struct kex_method *m = kex_method_by_id(method);
	struct keyring_key *k = NULL;
	char id16[17];
	int r;

	if (!kem || !m || pk_len != kem->pk_len)
		return -EINVAL;
	if ((r = dir_ensure(dir)) < 0)
		return r;
	if (!(k = calloc(1, sizeof(*k))) || !(k->pk = malloc(pk_len))) {
		r = -ENOMEM;
		goto fail;
	}
	memcpy(k->pk, pk, pk_len);
	k->pk_len = pk_len;
	k->method = method;
	k->ours = true;
	if ((r = hash(HASH_SHA3_256, pk, pk_len, k->id)) < 0)
		goto fail;
	keyring_id16(k->id, id16);
	if (snprintf(k->pk_path, sizeof(k->pk_path), "%s/pin-%s-%s-%s.pk", dir, peer, m->name,
		     id16) >= (int)sizeof(k->pk_path)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	/* public, but 0600 like the rest of the state directory */
	if ((r = file_write_atomic(k->pk_path, pk, pk_len, FILE_SECRET | FILE_OVERWRITE)) < 0)
		goto fail;
	*ret = k;
	return 0;
fail:
	keyring_key_free(k);
	return r;
}

int keyring_own_path(const char *dir, uint16_t method, char *out, size_t size)
{
	const struct kex_method *m = kex_method_by_id(method);
	int w;

	if (!m)
		return -EINVAL;
	w = snprintf(out, size, "%s/own-%s", dir, m->name);
	return w < 0 || (size_t)w >= size ? -ENAMETOOLONG : 0;
}

int keyring_pin_path(const char *dir, const char *peer, uint16_t method, char *out, size_t size)
{
	const struct kex_method *m = kex_method_by_id(method);
	int w;

	if (!m)
		return -EINVAL;
	w = snprintf(out, size, "%s/pin-%s-%s", dir, peer, m->name);
	return w < 0 || (size_t)w >= size ? -ENAMETOOLONG : 0;
}

int keyring_destroy_file(const char *path)
{
	static const uint8_t zero[4096];
	struct stat st;
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		/* overwrite in place before the unlink (best effort on COW file systems) */
		for (off_t off = 0; off < st.st_size;) {
			size_t n = (size_t)(st.st_size - off) < sizeof(zero) ?
				   (size_t)(st.st_size - off) : sizeof(zero);
			ssize_t w = pwrite(fd, zero, n, off);

			if (w <= 0) {
				r = -errno;
				break;
			}
			off += w;
		}
		if (fsync(fd) < 0 && !r)
			r = -errno;
	}
	close(fd);
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return r;
}

/* ---- records ---- */

struct record {
	bool have_base, have_cur, have_prev;
	uint8_t base[KEYRING_ID_LEN], cur[KEYRING_ID_LEN], prev[KEYRING_ID_LEN];
	long long cur_created, prev_since;
	char cur_sk[PATH_MAX], cur_pk[PATH_MAX], prev_sk[PATH_MAX], prev_pk[PATH_MAX];
	char destroy[KEYRING_DESTROY_MAX][PATH_MAX];
	size_t n_destroy;
};

static int parse_id_time(const char *v, uint8_t id[static KEYRING_ID_LEN], long long *t)
{
	char *end;

	if (strlen(v) < 2 * KEYRING_ID_LEN ||
	    hex_decode(id, KEYRING_ID_LEN, v, 2 * KEYRING_ID_LEN) < 0)
		return -EBADMSG;
	v += 2 * KEYRING_ID_LEN;
	if (!t)
		return *v ? -EBADMSG : 0;
	if (*v != ' ')
		return -EBADMSG;
	errno = 0;
	*t = strtoll(v + 1, &end, 10);
	return errno || *end || end == v + 1 ? -EBADMSG : 0;
}

static int record_parse(char *text, struct record *rec)
{
	char *line, *save = NULL;

	memset(rec, 0, sizeof(*rec));
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *v = strchr(line, ' ');
		int r = 0;

		if (!v)
			return -EBADMSG;
		*v++ = '\0';
		if (!strcmp(line, "base")) {
			r = parse_id_time(v, rec->base, NULL);
			rec->have_base = true;
		} else if (!strcmp(line, "cur")) {
			r = parse_id_time(v, rec->cur, &rec->cur_created);
			rec->have_cur = true;
		} else if (!strcmp(line, "prev")) {
			r = parse_id_time(v, rec->prev, &rec->prev_since);
			rec->have_prev = true;
		} else if (!strcmp(line, "cur_sk")) {
			r = path_set(rec->cur_sk, v);
		} else if (!strcmp(line, "cur_pk")) {
			r = path_set(rec->cur_pk, v);
		} else if (!strcmp(line, "prev_sk")) {
			r = path_set(rec->prev_sk, v);
		} else if (!strcmp(line, "prev_pk")) {
			r = path_set(rec->prev_pk, v);
		} else if (!strcmp(line, "destroy")) {
			if (rec->n_destroy == KEYRING_DESTROY_MAX)
				return -EBADMSG;
			r = path_set(rec->destroy[rec->n_destroy++], v);
		} else {
			return -EBADMSG;
		}
		if (strcmp(line, "base") && strcmp(line, "cur") && strcmp(line, "prev") && v[0] != '/')
			return -EBADMSG;	/* paths are absolute (the configuration resolves them) */
		if (r < 0)
			return -EBADMSG;
	}
	if (!rec->have_cur || !rec->cur_pk[0])
		return -EBADMSG;
	return 0;
}

/*
 * A file a record may have destroyed: a regular file of exactly the size of
 * a McEliece public or secret key. A damaged record therefore cannot make
 * mfsd remove anything else (recovery runs before anything is checked).
 */
static bool key_sized(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT;	/* nothing to do */
	if (!S_ISREG(st.st_mode))
		return false;
	for (int s = 0; s < KEYRING_SETS; s++) {
		const struct kex_kem *kem = kem_of(set_methods[s]);

		if (kem && ((size_t)st.st_size == kem->pk_len || (size_t)st.st_size == kem->sk_len ||
			    (size_t)st.st_size == kem->sk_len_alt))
			return true;
	}
	return false;
}

static int destroy_listed(const char *path)
{
	return key_sized(path) ? keyring_destroy_file(path) : -EPERM;
}

/*
 * Parse a record's bytes (bounded, no NUL, "key value" lines of the keys
 * above, absolute paths).
 */
static int record_parse_bytes(const uint8_t *data, size_t len, struct record *rec)
{
	char *text;
	int r;

	if (len > KEYRING_RECORD_MAX || memchr(data, '\0', len))
		return -EBADMSG;
	if (!(text = malloc(len + 1)))
		return -ENOMEM;
	memcpy(text, data, len);
	text[len] = '\0';
	r = record_parse(text, rec);
	free(text);
	return r;
}

int keyring_check_record(const uint8_t *data, size_t len)
{
	struct record *rec = calloc(1, sizeof(*rec));
	int r;

	if (!rec)
		return -ENOMEM;
	r = record_parse_bytes(data, len, rec);
	free(rec);
	return r;
}

static int record_read(const char *path, struct record *rec)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r;

	if ((r = file_read(path, KEYRING_RECORD_MAX, FILE_NO_FOLLOW, &data, &len)) < 0)
		return r;
	r = record_parse_bytes(data, len, rec);
	free(data);
	return r;
}

static bool in_dir(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && path[n] == '/' && !strchr(path + n + 1, '/');
}

int keyring_load_record(const char *path, uint16_t method, bool own, struct keyring_slot *ret)
{
	struct keyring_slot slot = { 0 };
	struct record *rec = calloc(1, sizeof(*rec));
	char dir[PATH_MAX];
	char *slash;
	int r;

	if (!rec)
		return -ENOMEM;
	if ((r = record_read(path, rec)) < 0)
		goto out;
	if ((r = path_set(dir, path)) < 0)
		goto out;
	if ((slash = strrchr(dir, '/')))
		*slash = '\0';
	for (size_t i = 0; i < rec->n_destroy; i++)
		destroy_listed(rec->destroy[i]);
	r = own ? keyring_load_own(method, rec->cur_sk, rec->cur_pk, &slot.cur) :
		  keyring_load_pin(method, rec->cur_pk, rec->cur, &slot.cur);
	if (r < 0)
		goto out;
	if (own && memcmp(slot.cur->id, rec->cur, KEYRING_ID_LEN) != 0) {
		r = -EKEYREJECTED;
		goto out;
	}
	slot.cur->created = rec->cur_created;
	slot.cur->ours = in_dir(dir, rec->cur_pk);
	if (rec->have_prev) {
		r = own ? keyring_load_own(method, rec->prev_sk, rec->prev_pk, &slot.prev) :
			  keyring_load_pin(method, rec->prev_pk, rec->prev, &slot.prev);
		if (r == 0 && own && memcmp(slot.prev->id, rec->prev, KEYRING_ID_LEN) != 0)
			r = -EKEYREJECTED;
		if (r < 0)
			goto out;
		slot.prev->ours = in_dir(dir, rec->prev_pk);
		slot.prev_since = rec->prev_since;
	}
	slot.have_base = rec->have_base;
	memcpy(slot.base, rec->base, KEYRING_ID_LEN);
	*ret = slot;
	memset(&slot, 0, sizeof(slot));
out:
	keyring_key_free(slot.cur);
	keyring_key_free(slot.prev);
	free(rec);
	return r;
}

static int put(char *buf, size_t size, size_t *off, const char *key, const char *val)
{
	int w = snprintf(buf + *off, size - *off, "%s %s\n", key, val);

	if (w < 0 || (size_t)w >= size - *off)
		return -EMSGSIZE;
	*off += (size_t)w;
	return 0;
}

static int put_id(char *buf, size_t size, size_t *off, const char *key, const uint8_t *id,
		  const long long *t)
{
	char v[2 * KEYRING_ID_LEN + 32];

	if (hex_encode(v, 2 * KEYRING_ID_LEN + 1, id, KEYRING_ID_LEN) < 0)
		return -EINVAL;
	if (t)
		snprintf(v + 2 * KEYRING_ID_LEN, sizeof(v) - 2 * KEYRING_ID_LEN, " %lld", *t);
	return put(buf, size, off, key, v);
}

int keyring_save_record(const char *path, const struct keyring_slot *slot,
			const char *const *destroy)
{
	char *buf = malloc(KEYRING_RECORD_MAX);
	size_t off = 0;
	int r;

	if (!buf)
		return -ENOMEM;
	if (!slot->cur) {
		r = -EINVAL;
		goto out;
	}
	long long created = slot->cur->created, since = slot->prev_since;

	if ((slot->have_base && (r = put_id(buf, KEYRING_RECORD_MAX, &off, "base", slot->base, NULL)) < 0) ||
	    (r = put_id(buf, KEYRING_RECORD_MAX, &off, "cur", slot->cur->id, &created)) < 0 ||
	    (slot->cur->sk && (r = put(buf, KEYRING_RECORD_MAX, &off, "cur_sk", slot->cur->sk_path)) < 0) ||
	    (r = put(buf, KEYRING_RECORD_MAX, &off, "cur_pk", slot->cur->pk_path)) < 0)
		goto out;
	if (slot->prev &&
	    ((r = put_id(buf, KEYRING_RECORD_MAX, &off, "prev", slot->prev->id, &since)) < 0 ||
	     (slot->prev->sk && (r = put(buf, KEYRING_RECORD_MAX, &off, "prev_sk", slot->prev->sk_path)) < 0) ||
	     (r = put(buf, KEYRING_RECORD_MAX, &off, "prev_pk", slot->prev->pk_path)) < 0))
		goto out;
	for (size_t i = 0; destroy && destroy[i]; i++)
		if (destroy[i][0] && (r = put(buf, KEYRING_RECORD_MAX, &off, "destroy", destroy[i])) < 0)
			goto out;
	r = file_write_atomic(path, buf, off, FILE_SECRET | FILE_OVERWRITE);
out:
	free(buf);
	return r;
}

int keyring_recover(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		struct record *rec;
		char path[PATH_MAX];

		if (strncmp(e->d_name, "own-", 4) != 0 && strncmp(e->d_name, "pin-", 4) != 0)
			continue;
		if (strchr(e->d_name, '.'))
			continue;	/* a key file (pin-…-<id>.pk), a temporary file */
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path) ||
		    !(rec = calloc(1, sizeof(*rec))))
			continue;
		if (record_read(path, rec) == 0)
			for (size_t i = 0; i < rec->n_destroy; i++)
				if (destroy_listed(rec->destroy[i]) < 0)
					r = -EIO;
		free(rec);
	}
	closedir(d);
	return r;
}
