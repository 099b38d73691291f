/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfsd's admin socket (docs/admin-api.md): a Unix socket, mode 0600, for
 * root and the daemon's own uid (SO_PEERCRED); length-prefixed JSON
 * requests handled by src/ops/ (admin_handle), one at a time per client.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "base/err.h"
#include "daemon/mfsd_int.h"
#include "daemon/supply_run.h"

int mfsd_admin_open(struct daemon *d)
{
	int r = mfsd_unix_listen(d->cfg->node.admin_socket, "admin socket", (uid_t)-1, (gid_t)-1,
				 0600, 8, &d->admin_fd);

	if (r < 0)
		return r;
	d->admin_listen_ev.kind = EV_ADMIN_LISTEN;
	return mfsd_ep_set(d, d->admin_fd, &d->admin_listen_ev, EPOLLIN, true);
}

void mfsd_admin_close(struct daemon *d, struct admin_conn *a)
{
	for (size_t i = 0; i < MFSD_MAX_ADMIN; i++)
		if (d->admins[i] == a)
			d->admins[i] = NULL;
	epoll_ctl(d->ep, EPOLL_CTL_DEL, a->fd, NULL);
	close(a->fd);
	free(a->out);
	free(a);
}

void mfsd_admin_accept(struct daemon *d)
{
	for (;;) {
		int fd = accept4(d->admin_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ucred cred;
		socklen_t l = sizeof(cred);
		struct admin_conn *a;
		size_t slot = MFSD_MAX_ADMIN;

		if (fd < 0)
			return;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &l) < 0 ||
		    (cred.uid != 0 && cred.uid != getuid())) {
			log_warning("admin: refused a client with uid %d", (int)cred.uid);
			close(fd);
			continue;
		}
		for (size_t i = 0; i < MFSD_MAX_ADMIN; i++)
			if (!d->admins[i])
				slot = i;
		if (slot == MFSD_MAX_ADMIN || !(a = calloc(1, sizeof(*a)))) {
			close(fd);
			continue;
		}
		a->ev.kind = EV_ADMIN;
		a->fd = fd;
		a->uid = cred.uid;
		a->events = EPOLLIN;
		if (mfsd_ep_set(d, fd, &a->ev, EPOLLIN, true) < 0) {
			close(fd);
			free(a);
			continue;
		}
		d->admins[slot] = a;
	}
}

static int admin_reply(struct admin_conn *a, char *json)
{
	size_t n = strlen(json);
	uint8_t *out;

	if (n > ADMIN_RESP_MAX) {
		free(json);
		json = admin_error_json("response too large");
		if (!json)
			return -ENOMEM;
		n = strlen(json);
	}
	if (!(out = malloc(ADMIN_HDR_LEN + n))) {
		free(json);
		return -ENOMEM;
	}
	out[0] = (uint8_t)(n >> 24);
	out[1] = (uint8_t)(n >> 16);
	out[2] = (uint8_t)(n >> 8);
	out[3] = (uint8_t)n;
	memcpy(out + ADMIN_HDR_LEN, json, n);
	free(json);
	free(a->out);
	a->out = out;
	a->out_len = ADMIN_HDR_LEN + n;
	a->out_off = 0;
	return 0;
}

/* mfsctl status: the key supply face's counters as member "supply". */
static char *add_supply_status(struct daemon *d, char *json)
{
	json_t *o = json_loads(json, 0, NULL), *sup = mfsd_supply_status(d->supply);
	char *out = NULL;

	if (o && sup && json_object_set_new(o, "supply", sup) == 0) {
		sup = NULL;
		out = json_dumps(o, JSON_COMPACT);
	}
	json_decref(sup);
	json_decref(o);
	if (!out)
		return json;
	free(json);
	return out;
}

void mfsd_admin_event(struct daemon *d, struct admin_conn *a, uint32_t events)
{
	if (a->out) {
		ssize_t w = write(a->fd, a->out + a->out_off, a->out_len - a->out_off);

		if (w < 0 && errno != EAGAIN) {
			mfsd_admin_close(d, a);
			return;
		}
		if (w > 0)
			a->out_off += (size_t)w;
		if (a->out_off == a->out_len) {
			free(a->out);
			a->out = NULL;
		}
	} else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = read(a->fd, a->in + a->in_len, sizeof(a->in) - a->in_len);
		uint32_t len;

		if (n <= 0) {
			if (n < 0 && errno == EAGAIN)
				return;
			mfsd_admin_close(d, a);
			return;
		}
		a->in_len += (size_t)n;
		if (a->in_len >= ADMIN_HDR_LEN) {
			len = (uint32_t)a->in[0] << 24 | (uint32_t)a->in[1] << 16 |
			      (uint32_t)a->in[2] << 8 | a->in[3];
			if (len > ADMIN_REQ_MAX) {
				mfsd_admin_close(d, a);
				return;
			}
			if (a->in_len >= ADMIN_HDR_LEN + len) {
				struct admin_req req;
				char *json = NULL;

				if (a->in_len != ADMIN_HDR_LEN + len ||
				    admin_req_parse(a->in + ADMIN_HDR_LEN, len, &req) < 0)
					json = admin_error_json("malformed request");
				else if (admin_handle(d->cf, &req, a->uid, time(NULL), &json) < 0)
					json = admin_error_json("out of memory");
				else if (req.cmd == ADMIN_STATUS && d->supply)
					json = add_supply_status(d, json);
				a->in_len = 0;
				if (!json || admin_reply(a, json) < 0) {
					mfsd_admin_close(d, a);
					return;
				}
			}
		}
	}
	uint32_t ev = a->out ? EPOLLOUT : EPOLLIN;

	if (ev != a->events && mfsd_ep_set(d, a->fd, &a->ev, ev, false) == 0)
		a->events = ev;
}
