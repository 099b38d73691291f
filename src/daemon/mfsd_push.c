/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfsd's push socket (docs/push.md): a Unix socket whose clients
 * (encryptors, libmfs-client) get keys pushed; mfsd moves bytes and
 * credentials (SO_PEERCRED, SO_PEERGROUPS), the protocol and the
 * push_allow checks are src/push/.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "daemon/mfsd_int.h"

int mfsd_push_open(struct daemon *d)
{
	const struct config_node *n = &d->cfg->node;
	int r;

	if (!n->push_socket[0])
		return 0;	/* no push socket configured */
	r = mfsd_unix_listen(n->push_socket, "push socket",
			     n->push_socket_owner != CONFIG_NO_GROUP ? (uid_t)n->push_socket_owner :
								       (uid_t)-1,
			     n->push_socket_group != CONFIG_NO_GROUP ? (gid_t)n->push_socket_group :
								       (gid_t)-1,
			     (mode_t)n->push_socket_mode, 16, &d->push_fd);
	if (r < 0)
		return r;
	d->push_listen_ev.kind = EV_PUSH_LISTEN;
	return mfsd_ep_set(d, d->push_fd, &d->push_listen_ev, EPOLLIN, true);
}

void mfsd_push_close(struct daemon *d, struct push_sock *ps)
{
	for (size_t i = 0; i < PUSH_MAX_CONNS; i++)
		if (d->pushes[i] == ps)
			d->pushes[i] = NULL;
	epoll_ctl(d->ep, EPOLL_CTL_DEL, ps->fd, NULL);
	close(ps->fd);
	push_conn_free(ps->pc);
	free(ps);
}

void mfsd_push_accept(struct daemon *d)
{
	for (;;) {
		int fd = accept4(d->push_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ucred cred;
		socklen_t l = sizeof(cred);
		struct push_sock *ps;
		size_t slot = PUSH_MAX_CONNS;
		int r;

		if (fd < 0)
			return;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &l) < 0) {
			close(fd);
			continue;
		}
		for (size_t i = 0; i < PUSH_MAX_CONNS; i++)
			if (!d->pushes[i]) {
				slot = i;
				break;
			}
		if (slot == PUSH_MAX_CONNS || !(ps = calloc(1, sizeof(*ps)))) {
			log_warning("push: refused a client (uid %d): too many connections",
				    (int)cred.uid);
			close(fd);
			continue;
		}
		ps->ev.kind = EV_PUSH;
		ps->fd = fd;
		ps->events = EPOLLIN;
		if ((r = push_conn_new(d->push, (uint32_t)cred.uid, (uint32_t)cred.gid,
				       (uint32_t)cred.pid, &ps->pc)) < 0 ||
		    mfsd_ep_set(d, fd, &ps->ev, EPOLLIN, true) < 0) {
			push_conn_free(ps->pc);
			close(fd);
			free(ps);
			continue;
		}
		{
			/* supplementary groups, for gid:N in push_allow (Linux >= 4.13) */
			gid_t g[PUSH_GROUPS_MAX];
			uint32_t g32[PUSH_GROUPS_MAX];
			socklen_t gl = sizeof(g);

			if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &gl) == 0) {
				for (size_t i = 0; i < gl / sizeof(g[0]); i++)
					g32[i] = (uint32_t)g[i];
				push_conn_set_groups(ps->pc, g32, gl / sizeof(g[0]));
			}
		}
		d->pushes[slot] = ps;
	}
}

/* Write what is pending, follow it with the epoll interest; close when done or broken. */
void mfsd_push_flush(struct daemon *d, struct push_sock *ps)
{
	const uint8_t *out;
	size_t n;
	uint32_t ev;

	while ((n = push_conn_output(ps->pc, &out)) > 0) {
		ssize_t w = send(ps->fd, out, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (w <= 0) {
			mfsd_push_close(d, ps);
			return;
		}
		push_conn_consume(ps->pc, (size_t)w);
	}
	if (push_conn_closing(ps->pc) && n == 0) {
		mfsd_push_close(d, ps);
		return;
	}
	ev = n > 0 ? EPOLLIN | EPOLLOUT : EPOLLIN;
	if (ev != ps->events && mfsd_ep_set(d, ps->fd, &ps->ev, ev, false) == 0)
		ps->events = ev;
}

void mfsd_push_event(struct daemon *d, struct push_sock *ps, uint32_t events)
{
	uint8_t buf[4096];

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		for (;;) {
			ssize_t n = read(ps->fd, buf, sizeof(buf));

			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (n <= 0) {
				mfsd_push_close(d, ps);
				return;
			}
			if (push_conn_input(ps->pc, buf, (size_t)n, time(NULL)) < 0)
				break;
		}
	}
	mfsd_push_flush(d, ps);
}

/* The push layer and each class's push_allow list. */
int mfsd_push_setup(struct daemon *d)
{
	int r;

	if ((r = push_new(d->cf, d->st, (uint32_t)getuid(), &d->push)) < 0)
		return r;
	for (size_t i = 0; i < d->cfg->n_peers; i++) {
		const struct config_peer *cp = &d->cfg->peers[i];

		for (size_t j = 0; j < cp->n_classes; j++) {
			const struct config_class *cc = &cp->classes[j];

			for (size_t k = 0; k < cc->n_push_allow; k++) {
				const struct config_principal *pr = &cc->push_allow[k];

				r = push_allow_add(d->push, cp->name, cc->policy.name,
						   pr->kind == CONFIG_PRINCIPAL_UID ? PUSH_UID :
						   PUSH_GID, pr->id);
				if (r < 0)
					return r;
			}
		}
	}
	return 0;
}
