/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmfs-client (include/mfs/client.h): a blocking client of mfsd's push
 * socket (docs/push.md). One handle = one connection; messages are cut with
 * pushwire_frame_len() and checked with pushwire_parse(). Frames that held a
 * key are wiped as soon as the key is copied out.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "client/pushwire.h"
#include "mfs/client.h"

#define CLIENT_IN_MAX (8 * PUSHWIRE_FRAME_MAX)

enum client_state { CS_REQUEST, CS_SUBSCRIBED, CS_BROKEN };

struct mfs_client {
	int fd;
	enum client_state state;
	uint8_t in[CLIENT_IN_MAX];
	size_t in_len;
	char err[PUSHWIRE_TEXT_MAX + 1];
};

static void wipe(void *p, size_t n)
{
	if (n)
		explicit_bzero(p, n);
}

MFS_CLIENT_API void mfs_client_key_wipe(struct mfs_client_key *k)
{
	if (k)
		wipe(k, sizeof(*k));
}

MFS_CLIENT_API int mfs_client_fd(const struct mfs_client *c)
{
	return c ? c->fd : -1;
}

MFS_CLIENT_API const char *mfs_client_error(const struct mfs_client *c)
{
	return c ? c->err : "";
}

MFS_CLIENT_API void mfs_client_key_id_format(const uint8_t id[MFS_CLIENT_KEY_ID_LEN],
					     char out[MFS_CLIENT_KEY_ID_STR_LEN + 1])
{
	static const char hx[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < MFS_CLIENT_KEY_ID_LEN; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hx[id[i] >> 4];
		out[o++] = hx[id[i] & 15];
	}
	out[o] = '\0';
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

MFS_CLIENT_API int mfs_client_key_id_parse(const char *s, uint8_t id[MFS_CLIENT_KEY_ID_LEN])
{
	uint8_t b[MFS_CLIENT_KEY_ID_LEN];
	size_t o = 0;

	if (!s || !id || strlen(s) != MFS_CLIENT_KEY_ID_STR_LEN)
		return -EINVAL;
	for (size_t i = 0; i < MFS_CLIENT_KEY_ID_STR_LEN;) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i++] != '-')
				return -EINVAL;
			continue;
		}
		if ((hi = hexval(s[i])) < 0 || (lo = hexval(s[i + 1])) < 0)
			return -EINVAL;
		b[o++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	memcpy(id, b, sizeof(b));
	return 0;
}

static int send_msg(struct mfs_client *c, const struct pushwire_msg *m)
{
	uint8_t buf[PUSHWIRE_FRAME_MAX];
	size_t off = 0;
	int n, r = 0;

	if (c->state == CS_BROKEN)
		return -EPIPE;
	if ((n = pushwire_encode(m, buf, sizeof(buf))) < 0)
		return n;
	while (off < (size_t)n) {
		ssize_t w = send(c->fd, buf + off, (size_t)n - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = -errno;
			c->state = CS_BROKEN;
			break;
		}
		off += (size_t)w;
	}
	wipe(buf, sizeof(buf));
	return r;
}

/*
 * Read the next message into frame[] and parse it into *m (pointers into
 * frame). timeout_ms < 0: no limit. Returns 1, 0 on timeout, or an error
 * (the connection is then broken).
 */
static int read_msg(struct mfs_client *c, int timeout_ms, uint8_t frame[PUSHWIRE_FRAME_MAX],
		    struct pushwire_msg *m)
{
	int64_t deadline = timeout_ms < 0 ? 0 : mfs_mono_ms() + timeout_ms;
	int r;

	if (c->state == CS_BROKEN)
		return -EPIPE;
	for (;;) {
		int fl = pushwire_frame_len(c->in, c->in_len);

		if (fl < 0) {
			r = -EBADMSG;
			goto broken;
		}
		if (fl > 0) {
			memcpy(frame, c->in, (size_t)fl);
			memmove(c->in, c->in + fl, c->in_len - (size_t)fl);
			wipe(c->in + c->in_len - (size_t)fl, (size_t)fl);
			c->in_len -= (size_t)fl;
			if ((r = pushwire_parse(frame, (size_t)fl, m)) < 0) {
				wipe(frame, PUSHWIRE_FRAME_MAX);
				r = -EBADMSG;
				goto broken;
			}
			return 1;
		}
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int wait = -1;

		if (timeout_ms >= 0) {
			int64_t left = deadline - mfs_mono_ms();

			wait = left > 0 ? (int)left : 0;
		}
		r = poll(&pfd, 1, wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			r = -errno;
			goto broken;
		}
		if (r == 0)
			return 0;
		ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);

		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			r = n == 0 ? -ECONNRESET : -errno;
			goto broken;
		}
		c->in_len += (size_t)n;
	}
broken:
	c->state = CS_BROKEN;
	return r;
}

/* An ERROR reply: remember its text, map its code. */
static int error_reply(struct mfs_client *c, const struct pushwire_msg *m)
{
	memcpy(c->err, m->text.p, m->text.len);
	c->err[m->text.len] = '\0';
	if (m->fatal)
		c->state = CS_BROKEN;
	return pushwire_error_errno(m->code);
}

/* Wait for the reply to a request: one of want, or ERROR. */
static int reply(struct mfs_client *c, enum pushwire_type want, uint8_t frame[PUSHWIRE_FRAME_MAX],
		 struct pushwire_msg *m)
{
	int r = read_msg(c, MFS_CLIENT_TIMEOUT_MS, frame, m);

	if (r == 0) {
		c->state = CS_BROKEN;
		return -ETIMEDOUT;
	}
	if (r < 0)
		return r;
	if (m->type == PW_ERROR)
		return error_reply(c, m);
	if (m->type != want) {
		c->state = CS_BROKEN;
		return -EBADMSG;
	}
	return 0;
}

static void key_from(const struct pushwire_msg *m, struct mfs_client_key *k)
{
	memcpy(k->id, m->key_id, MFS_CLIENT_KEY_ID_LEN);
	k->direction = m->direction ? MFS_CLIENT_INBOUND : MFS_CLIENT_OUTBOUND;
	k->not_before = m->not_before;
	k->soft_expiry = m->soft_expiry;
	k->hard_expiry = m->hard_expiry;
	k->key_len = m->key_len;
	memcpy(k->key, m->key, m->key_len);
}

MFS_CLIENT_API int mfs_client_open(const char *path, const char *name, struct mfs_client **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t frame[PUSHWIRE_FRAME_MAX];
	struct pushwire_msg m = { .type = PW_HELLO, .version_min = 1,
				  .version_max = PUSHWIRE_VERSION };
	struct mfs_client *c = NULL;
	int r;

	if (!ret)
		return -EINVAL;
	if (!path)
		path = MFS_CLIENT_DEFAULT_SOCKET;
	if (!name)
		name = "client";
	if (strlen(path) >= sizeof(sa.sun_path) ||
	    !pushwire_token_valid(name, strlen(name), PUSHWIRE_NAME_MAX))
		return -EINVAL;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		r = -errno;
		free(c);
		return r;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto fail;
	}
	m.name.p = name;
	m.name.len = strlen(name);
	if ((r = send_msg(c, &m)) < 0 || (r = reply(c, PW_HELLO_OK, frame, &m)) < 0)
		goto fail;
	if (m.version != PUSHWIRE_VERSION) {
		r = -EPROTONOSUPPORT;
		goto fail;
	}
	*ret = c;
	return 0;
fail:
	mfs_client_close(c);
	return r;
}

MFS_CLIENT_API void mfs_client_close(struct mfs_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	wipe(c, sizeof(*c));
	free(c);
}

static int pool_msg(struct pushwire_msg *m, const char *peer, const char *class_name)
{
	if (!peer || !class_name)
		return -EINVAL;
	m->peer.p = peer;
	m->peer.len = strlen(peer);
	m->class_name.p = class_name;
	m->class_name.len = strlen(class_name);
	if (!pushwire_token_valid(peer, m->peer.len, PUSHWIRE_PEER_MAX) ||
	    !pushwire_token_valid(class_name, m->class_name.len, PUSHWIRE_CLASS_MAX))
		return -EINVAL;
	return 0;
}

/* Starts a request: the connection must take one; clears the last error, sets m's peer and class. */
static int request_begin(struct mfs_client *c, struct pushwire_msg *m, const char *peer,
			 const char *class_name)
{
	if (c->state != CS_REQUEST)
		return c->state == CS_BROKEN ? -EPIPE : -EPROTO;
	c->err[0] = '\0';
	return pool_msg(m, peer, class_name);
}

static int get(struct mfs_client *c, const char *peer, const char *class_name,
	       const uint8_t *id, struct mfs_client_key *ret)
{
	uint8_t frame[PUSHWIRE_FRAME_MAX];
	struct pushwire_msg m = { .type = id ? PW_GET_KEY_BY_ID : PW_GET_KEY, .key_id = id };
	int r;

	if (!c || !ret)
		return -EINVAL;
	if ((r = request_begin(c, &m, peer, class_name)) < 0)
		return r;
	if ((r = send_msg(c, &m)) < 0)
		return r;
	if ((r = reply(c, PW_KEY, frame, &m)) == 0) {
		if (id && memcmp(m.key_id, id, MFS_CLIENT_KEY_ID_LEN) != 0) {
			c->state = CS_BROKEN;
			r = -EBADMSG;
		} else {
			key_from(&m, ret);
		}
	}
	wipe(frame, sizeof(frame));
	return r;
}

MFS_CLIENT_API int mfs_client_get_key(struct mfs_client *c, const char *peer,
				      const char *class_name, struct mfs_client_key *ret)
{
	return get(c, peer, class_name, NULL, ret);
}

MFS_CLIENT_API int mfs_client_get_key_by_id(struct mfs_client *c, const char *peer,
					    const char *class_name,
					    const uint8_t id[MFS_CLIENT_KEY_ID_LEN],
					    struct mfs_client_key *ret)
{
	if (!id)
		return -EINVAL;
	return get(c, peer, class_name, id, ret);
}

MFS_CLIENT_API int mfs_client_subscribe(struct mfs_client *c, const char *peer,
					const char *class_name, enum mfs_client_direction dir,
					unsigned ahead)
{
	uint8_t frame[PUSHWIRE_FRAME_MAX];
	struct pushwire_msg m = { .type = PW_SUBSCRIBE };
	int r;

	if (!c || (dir != MFS_CLIENT_OUTBOUND && dir != MFS_CLIENT_INBOUND) || ahead == 0 ||
	    ahead > MFS_CLIENT_AHEAD_MAX)
		return -EINVAL;
	if ((r = request_begin(c, &m, peer, class_name)) < 0)
		return r;
	m.direction = (uint8_t)dir;
	m.ahead = (uint8_t)ahead;
	if ((r = send_msg(c, &m)) < 0 || (r = reply(c, PW_SUBSCRIBED, frame, &m)) < 0)
		return r;
	c->state = CS_SUBSCRIBED;
	return 0;
}

MFS_CLIENT_API int mfs_client_next(struct mfs_client *c, int timeout_ms,
				   struct mfs_client_event *ev)
{
	uint8_t frame[PUSHWIRE_FRAME_MAX];
	struct pushwire_msg m;
	int r;

	if (!c || !ev)
		return -EINVAL;
	if (c->state != CS_SUBSCRIBED)
		return c->state == CS_BROKEN ? -EPIPE : -EPROTO;
	if ((r = read_msg(c, timeout_ms, frame, &m)) <= 0)
		return r;
	memset(ev, 0, sizeof(*ev));
	switch (m.type) {
	case PW_KEY:
		ev->type = MFS_CLIENT_EV_KEY;
		key_from(&m, &ev->key);
		memcpy(ev->id, m.key_id, MFS_CLIENT_KEY_ID_LEN);
		r = 1;
		break;
	case PW_RETIRE:
		ev->type = MFS_CLIENT_EV_RETIRE;
		memcpy(ev->id, m.key_id, MFS_CLIENT_KEY_ID_LEN);
		ev->reason = m.reason;
		r = 1;
		break;
	case PW_PEER_INSTALLED:
		ev->type = MFS_CLIENT_EV_PEER_INSTALLED;
		memcpy(ev->id, m.key_id, MFS_CLIENT_KEY_ID_LEN);
		r = 1;
		break;
	case PW_ERROR:
		r = error_reply(c, &m);
		c->state = CS_BROKEN;
		break;
	default:
		c->state = CS_BROKEN;
		r = -EBADMSG;
		break;
	}
	wipe(frame, sizeof(frame));
	return r;
}

static int report(struct mfs_client *c, enum pushwire_type type, const uint8_t *id,
		  uint64_t bytes, uint64_t packets)
{
	struct pushwire_msg m = { .type = type, .key_id = id, .bytes = bytes,
				  .packets = packets };

	if (!c || !id)
		return -EINVAL;
	if (c->state != CS_SUBSCRIBED)
		return c->state == CS_BROKEN ? -EPIPE : -EPROTO;
	return send_msg(c, &m);
}

MFS_CLIENT_API int mfs_client_ack(struct mfs_client *c, const uint8_t id[MFS_CLIENT_KEY_ID_LEN])
{
	return report(c, PW_INSTALLED, id, 0, 0);
}

MFS_CLIENT_API int mfs_client_in_use(struct mfs_client *c,
				     const uint8_t id[MFS_CLIENT_KEY_ID_LEN])
{
	return report(c, PW_IN_USE, id, 0, 0);
}

MFS_CLIENT_API int mfs_client_usage(struct mfs_client *c, const uint8_t id[MFS_CLIENT_KEY_ID_LEN],
				    uint64_t bytes, uint64_t packets)
{
	return report(c, PW_USAGE, id, bytes, packets);
}
