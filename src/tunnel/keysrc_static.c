/* SPDX-License-Identifier: Apache-2.0 */
#include "tunnel/keysrc.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "base/file.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/secret.h"

#define STATIC_FILE_MAX 4096

struct static_src {
	char *path;
	int sfd;
	uint8_t last_id[KEY_ID_LEN];
	bool have_last;
};

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int keysrc_static_parse(const char *text, size_t len, uint8_t id[static KEY_ID_LEN],
			uint8_t *key, size_t *key_len, const char **ret_why)
{
	size_t i = 0;

	while (i < len) {
		size_t start = i, a, b;

		while (i < len && text[i] != '\n')
			i++;
		/* Line [start, i). */
		if (i == start || text[start] == '#') {
			i++;
			continue;
		}
		a = start;
		while (a < i && is_hex(text[a]))
			a++;
		if (a - start != 2 * KEY_ID_LEN || a >= i || text[a] != ' ') {
			*ret_why = "expected a key ID of 32 hex digits, one space, the key";
			return -EBADMSG;
		}
		b = a + 1;
		while (b < i && is_hex(text[b]))
			b++;
		if (b < i && !(b + 1 == i && text[b] == '\r')) {
			*ret_why = "unexpected character after the key";
			return -EBADMSG;
		}
		if ((b - a - 1) % 2 || (b - a - 1) / 2 < SA_KEY_MIN || (b - a - 1) / 2 > SA_KEY_MAX) {
			*ret_why = "the key must be 64 to 128 hex digits";
			return -EBADMSG;
		}
		if (hex_decode(id, KEY_ID_LEN, text + start, 2 * KEY_ID_LEN) < 0 ||
		    hex_decode(key, (b - a - 1) / 2, text + a + 1, b - a - 1) < 0) {
			*ret_why = "bad hex";
			return -EBADMSG;
		}
		*key_len = (b - a - 1) / 2;
		return 0;
	}
	*ret_why = "no key line";
	return -EBADMSG;
}

static int static_fd(void *ctx)
{
	return ((struct static_src *)ctx)->sfd;
}

static int static_dispatch(void *ctx, const struct key_sink *sink)
{
	struct static_src *s = ctx;
	struct signalfd_siginfo si;
	struct secret *text = NULL, *key = NULL;
	struct tunnel_key k = { 0 };
	const char *why = "";
	int r;

	while (read(s->sfd, &si, sizeof(si)) == sizeof(si))
		;	/* drain: any number of SIGHUPs means "read the file again" */
	if ((r = file_read_secret(s->path, STATIC_FILE_MAX, FILE_SECRET, &text)) < 0) {
		log_err("static key file %s: %s", s->path,
			r == -EPERM ? "readable by group or others (chmod 600)" : strerror(-r));
		goto out;
	}
	if (!(key = secret_alloc(SA_KEY_MAX))) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = keysrc_static_parse((const char *)text->p, text->len, k.id, key->p, &k.key_len,
				     &why)) < 0) {
		log_err("static key file %s: %s", s->path, why);
		goto out;
	}
	if (s->have_last && memcmp(s->last_id, k.id, KEY_ID_LEN) == 0) {
		r = 0;
		goto out;
	}
	k.key = key->p;
	if ((r = sink->install(sink->ctx, &k)) < 0)
		goto out;
	memcpy(s->last_id, k.id, KEY_ID_LEN);
	s->have_last = true;
out:
	mfs_wipe(&k, sizeof(k));
	secret_free(key);
	secret_free(text);
	return r;
}

static void static_free(void *ctx)
{
	struct static_src *s = ctx;

	if (!s)
		return;
	if (s->sfd >= 0)
		close(s->sfd);
	free(s->path);
	free(s);
}

static const struct key_source_ops static_ops = {
	.name = "static-key-file (test/bench aid)",
	.fd = static_fd,
	.dispatch = static_dispatch,
	.free = static_free,
};

int keysrc_static_new(const char *path, struct key_source *ret)
{
	struct static_src *s;
	sigset_t set;

	if (!path || !*path)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return -ENOMEM;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	s->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->sfd < 0) {
		int r = -errno;

		static_free(s);
		return r;
	}
	ret->ops = &static_ops;
	ret->ctx = s;
	return 0;
}
