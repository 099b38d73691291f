/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mfsd: the MFS Control Function daemon. mfsd*.c are the edge: command
 * line, configuration, identity, key store, sockets, TLS and the event loop
 * (plain epoll); this file is startup, the loop and shutdown, the others
 * are listed in mfsd_int.h. The control logic is src/cf/ (no sockets), the
 * admin API src/ops/. Design: docs/mfsd.md.
 *
 * Why epoll and not libevent: tls.h drives OpenSSL on a raw non-blocking
 * fd and reports what it waits for (tls_conn_want()); a level-triggered
 * epoll interest set that follows it is a dozen lines, whereas libevent's
 * bufferevent_openssl would own the SSL object and its own BIO, bypassing
 * the pinned, checked handshake of tls.h.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/file.h"
#include "base/log.h"
#include "base/secret.h"
#include "cf/keyring.h"
#include "daemon/kme_json.h"
#include "daemon/mfsd_int.h"
#include "daemon/qkd_client.h"
#include "daemon/setup.h"
#include "daemon/supply_run.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: mfsd --config FILE [--foreground] [--log-level LEVEL]\n\n"
		   "The MFS Control Function daemon: keeps pools of multi-factor keys with\n"
		   "its peers over TLS 1.3 (docs/mfsd.md).\n\n"
		   "  -c, --config FILE      configuration file (docs/config.md)\n"
		   "  -f, --foreground       stay in the foreground (default: detach)\n"
		   "  -l, --log-level LEVEL  err, warning, notice, info, debug (overrides the file)\n"
		   "  -h, --help             this text\n\n"
		   "Signals: SIGHUP reloads FILE (checked in full first; on an error the running\n"
		   "configuration stays and 'mfsctl status' shows file:line: reason); SIGTERM and\n"
		   "SIGINT stop the daemon. Static McEliece keys rotate in the background\n"
		   "(static_key_rotate, 'mfsctl rotate-static'; docs/mfsd.md).\n");
}

/* ---- startup ---- */

static int open_state(struct daemon *d)
{
	const char *dir = d->cfg->node.state_dir;
	struct secret *kek = NULL;
	int r;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		log_err("state_dir %s: %s", dir, mfs_strerror(r));
		return r;
	}
	snprintf(d->kek_path, sizeof(d->kek_path), "%s/kek", dir);
	snprintf(d->db_path, sizeof(d->db_path), "%s/keys.db", dir);
	snprintf(d->revoked_path, sizeof(d->revoked_path), "%s/revoked", dir);
	r = store_kek_load(d->kek_path, &kek);
	if (r == -ENOENT) {
		if ((r = store_kek_init(d->kek_path)) < 0) {
			log_err("%s: cannot create the key-encryption key: %s", d->kek_path,
				mfs_strerror(r));
			return r;
		}
		log_notice("created the key-encryption key %s", d->kek_path);
		r = store_kek_load(d->kek_path, &kek);
	}
	if (r < 0) {
		log_err("%s: %s", d->kek_path, mfs_strerror(r));
		return r;
	}
	r = store_open(d->db_path, kek, &d->st);
	secret_free(kek);
	if (r == -EMEDIUMTYPE)
		log_err("%s: cannot open the key store: it has an older schema (1: a row per key, "
			"2: flat pool secrets), which this version (schema %d, protocol version 3) "
			"cannot serve keys from; move it away and restart (new exchanges refill the "
			"pools)", d->db_path, STORE_SCHEMA_VERSION);
	else if (r == -EOPNOTSUPP)
		log_err("%s: cannot open the key store: it was written by a newer version",
			d->db_path);
	else if (r < 0)
		log_err("%s: cannot open the key store: %s", d->db_path, mfs_strerror(r));
	return r;
}

static int load_identity(struct daemon *d)
{
	char key[PATH_MAX], *dir;
	const char *what = NULL;
	int r;

	snprintf(key, sizeof(key), "%s", d->cfg->node.identity_key);
	dir = dirname(key);
	if ((r = identity_load(dir, &d->idn, &what)) < 0) {
		log_err("identity %s: %s: %s", dir, what ? what : "load failed", mfs_strerror(r));
		return r;
	}
	if (strcmp(d->idn->id, d->cfg->node.id) != 0) {
		log_err("%s: node id '%s' but the identity in %s is '%s'", d->cfg->source,
			d->cfg->node.id, dir, d->idn->id);
		return -EINVAL;
	}
	return 0;
}

int mfsd_addr_resolve(const struct config_addr *a, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_family = a->family, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	char port[8];
	int r;

	snprintf(port, sizeof(port), "%u", a->port);
	if ((r = getaddrinfo(a->host, port, &hints, &ai)) != 0 || !ai)
		return -EHOSTUNREACH;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int mfsd_ep_set(struct daemon *d, int fd, struct ev *ev, uint32_t events, bool add)
{
	struct epoll_event ee = { .events = events, .data.ptr = ev };

	return epoll_ctl(d->ep, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ee) < 0 ? -errno : 0;
}

int mfsd_unix_listen(const char *path, const char *what, uid_t owner, gid_t group, mode_t mode,
		     int backlog, int *fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (*fd < 0)
		return -errno;
	unlink(path);	/* a stale socket of an earlier run */
	old = umask(0177);
	r = bind(*fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || ((owner != (uid_t)-1 || group != (gid_t)-1) && chown(path, owner, group) < 0) ||
	    chmod(path, mode) < 0 || listen(*fd, backlog) < 0) {
		r = -errno;
		log_err("%s %s: %s", what, path, mfs_strerror(r));
		return r;
	}
	return 0;
}

static int open_listen(struct daemon *d)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, r;

	if ((r = mfsd_addr_resolve(&d->cfg->node.listen, &ss, &len)) < 0)
		return r;
	d->listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (d->listen_fd < 0)
		return -errno;
	setsockopt(d->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(d->listen_fd, (struct sockaddr *)&ss, len) < 0 || listen(d->listen_fd, 16) < 0) {
		r = -errno;
		log_err("listen %s:%u: %s", d->cfg->node.listen.host, d->cfg->node.listen.port,
			mfs_strerror(r));
		return r;
	}
	d->listen_ev.kind = EV_LISTEN;
	return mfsd_ep_set(d, d->listen_fd, &d->listen_ev, EPOLLIN, true);
}

static int open_signals(struct daemon *d)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	if ((d->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	d->signal_ev.kind = EV_SIGNAL;
	return mfsd_ep_set(d, d->sig_fd, &d->signal_ev, EPOLLIN, true);
}

/* ---- main loop ---- */

static void run(struct daemon *d)
{
	struct epoll_event evs[32];

	while (!d->stop) {
		int64_t nms = mfs_mono_ms(), wait_ms = 1000;
		int n;

		qkdc_process(d->qkd, nms);
		if (d->qkd)
			wait_ms = qkdc_wait_ms(d->qkd, nms);
		cf_tick(d->cf, time(NULL));
		push_tick(d->push, time(NULL));
		mfsd_keygen_maybe_start(d);
		for (size_t i = 0; i < MFSD_MAX_PENDING; i++)
			if (d->pending[i] && time(NULL) - d->pending[i]->started > MFSD_TLS_TIMEOUT_S)
				mfsd_conn_close(d, d->pending[i], "TLS handshake timed out");
		for (size_t i = 0; i < d->n_peers; i++) {
			struct peer_rt *p = &d->peers[i];

			if (!p->cfg)
				continue;	/* the slot of a peer removed by a reload */
			if (p->conn && !p->conn->established &&
			    time(NULL) - p->conn->started > MFSD_TLS_TIMEOUT_S) {
				mfsd_conn_close(d, p->conn, "TLS handshake timed out");
				continue;
			}
			if (!p->conn && p->i_connect) {
				if (nms >= p->next_try_ms)
					mfsd_peer_connect(d, p);
				else if (p->next_try_ms - nms < wait_ms)
					wait_ms = p->next_try_ms - nms;
			}
			if (p->conn && p->conn->established) {
				struct conn *c = p->conn;
				int r;

				/* (bytes waiting in the socket: this loop was late, not the peer) */
				if (nms - c->last_rx_ms > MFSD_LINK_IDLE_MS &&
				    recv(c->fd, &(uint8_t){ 0 }, 1, MSG_PEEK | MSG_DONTWAIT) < 0) {
					char why[64];

					snprintf(why, sizeof(why), "nothing received for %lld s",
						 (long long)((nms - c->last_rx_ms) / 1000));
					mfsd_conn_close(d, c, why);
					continue;
				}
				if (nms - c->last_ping_ms >= MFSD_PING_MS &&
				    cf_link_ping(p->cp) == 0)
					c->last_ping_ms = nms;
				r = mfsd_conn_flush(c);
				if (r < 0) {
					mfsd_conn_close(d, c, mfs_strerror(r));
					continue;
				}
				mfsd_conn_update_events(d, c);
			}
		}
		n = epoll_wait(d->ep, evs, 32, (int)wait_ms);
		if (n < 0 && errno != EINTR) {
			log_err("epoll: %s", strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++) {
			struct ev *ev = evs[i].data.ptr;

			switch (ev->kind) {
			case EV_LISTEN:
				mfsd_on_accept(d);
				break;
			case EV_ADMIN_LISTEN:
				mfsd_admin_accept(d);
				break;
			case EV_SIGNAL: {
				struct signalfd_siginfo si;

				while (read(d->sig_fd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP)
						d->reload = true;
					else
						d->stop = true;
				}
				break;
			}
			case EV_CONN:
				if (!((struct conn *)ev)->dead)
					mfsd_conn_event(d, (struct conn *)ev, evs[i].events);
				break;
			case EV_ADMIN:
				mfsd_admin_event(d, (struct admin_conn *)ev, evs[i].events);
				break;
			case EV_QKD:	/* qkdc_process() at the top of the loop */
				break;
			case EV_PUSH_LISTEN:
				mfsd_push_accept(d);
				break;
			case EV_PUSH:
				mfsd_push_event(d, (struct push_sock *)ev, evs[i].events);
				break;
			case EV_KEYGEN:
				mfsd_keygen_done(d);
				break;
			}
		}
		mfsd_conn_reap(d);
		/* a key may have been queued for any subscriber (cf hooks, ticks) */
		for (size_t i = 0; i < PUSH_MAX_CONNS; i++)
			if (d->pushes[i])
				mfsd_push_flush(d, d->pushes[i]);
		if (d->reload && !d->stop) {
			d->reload = false;
			mfsd_reload(d);
			mfsd_conn_reap(d);
		}
	}
	log_notice("stopping");
}

static void daemon_free(struct daemon *d)
{
	for (size_t i = 0; i < d->n_peers; i++) {
		struct conn *c = d->peers[i].conn;

		if (c) {
			if (c->established)
				tls_conn_shutdown(c->tls);
			mfsd_conn_close(d, c, "shutdown");
		}
	}
	for (size_t i = 0; i < MFSD_MAX_PENDING; i++)
		if (d->pending[i])
			mfsd_conn_close(d, d->pending[i], "shutdown");
	for (size_t i = 0; i < MFSD_MAX_ADMIN; i++)
		if (d->admins[i])
			mfsd_admin_close(d, d->admins[i]);
	mfsd_conn_reap(d);
	for (size_t i = 0; i < PUSH_MAX_CONNS; i++)
		if (d->pushes[i])
			mfsd_push_close(d, d->pushes[i]);
	if (d->push_fd >= 0) {
		close(d->push_fd);
		unlink(d->cfg->node.push_socket);
	}
	push_free(d->push);
	if (d->admin_fd >= 0) {
		close(d->admin_fd);
		unlink(d->cfg->node.admin_socket);
	}
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	mfsd_keygen_close(d);
	if (d->sig_fd >= 0)
		close(d->sig_fd);
	if (d->ep >= 0)
		close(d->ep);
	qkdc_free(d->qkd);
	if (d->cf)
		cf_set_revoke_listener(d->cf, NULL, NULL);
	mfsd_supply_stop(d->supply);
	cf_free(d->cf);
	store_close(d->st);
	cf_keys_free(d->keys);
	tls_ctx_free(d->ctx[0]);
	tls_ctx_free(d->ctx[1]);
	identity_free(d->idn);
	config_free(d->cfg);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct daemon d = { .ep = -1, .listen_fd = -1, .admin_fd = -1, .sig_fd = -1,
			    .push_fd = -1, .kg = { .efd = -1 } };
	const char *config_path = NULL, *level_arg = NULL;
	char path[PATH_MAX], config_abs[PATH_MAX];
	struct config_error cerr;
	enum mfs_log_level level;
	bool foreground = false;
	int c, r, rc = 1;

	mfs_log_set_ident("mfsd");
	/* Before any thread or jansson object exists: jansson wipes what it frees (KME answers). */
	kme_json_init();
	while ((c = getopt_long(argc, argv, "c:fl:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'f': foreground = true; break;
		case 'l': level_arg = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || !config_path) {
		fprintf(stderr, "mfsd: %s\n", optind < argc ? "unexpected argument" :
			"--config FILE is required");
		usage(stderr);
		return 2;
	}
	if (level_arg && mfs_log_level_parse(level_arg, &level) < 0) {
		fprintf(stderr, "mfsd: --log-level: '%s' is not err, warning, notice, info or debug\n",
			level_arg);
		return 2;
	}
	if ((r = mfs_harden_process()) < 0) {
		fprintf(stderr, "mfsd: cannot harden the process: %s\n", mfs_strerror(r));
		return 1;
	}
	/* absolute: daemon(3) changes to /, and SIGHUP reads the file again */
	if (!realpath(config_path, config_abs)) {
		fprintf(stderr, "mfsd: %s: %s\n", config_path, strerror(errno));
		return 1;
	}
	d.config_path = config_abs;
	d.have_level_arg = level_arg != NULL;
	d.level_arg = level_arg ? level : MFS_LOG_INFO;
	if ((r = config_load(config_path, NULL, &d.cfg, &cerr)) < 0) {
		fprintf(stderr, "mfsd: %s\n", cerr.text);
		return 1;
	}
	mfs_log_set_level(level_arg ? level : d.cfg->node.log_level);
	/* a static key destruction a crash interrupted: finished before the identity is read */
	if (mfsd_keyring_dir(d.cfg, path, sizeof(path)) == 0 && (r = keyring_recover(path)) < 0)
		log_warning("%s: cannot finish destroying an old static key: %s", path,
			    mfs_strerror(r));
	if ((r = load_identity(&d)) < 0 || (r = open_state(&d)) < 0 ||
	    (r = mfsd_keys_load(d.cfg, &d.keys)) < 0)
		goto out;
	d.n_peers = d.cfg->n_peers;
	for (size_t i = 0; i < d.n_peers; i++) {
		struct peer_rt *p = &d.peers[i];
		enum tls_group g = mfsd_tls_group(&d.cfg->peers[i]);
		char err[TLS_ERR_MAX];

		p->cfg = &d.cfg->peers[i];
		p->i_connect = strcmp(d.cfg->node.id, p->cfg->name) < 0;
		p->backoff_ms = MFSD_RECONNECT_MIN_MS;
		if (!d.ctx[g] && (r = tls_ctx_new(d.idn, g, &d.ctx[g], err, sizeof(err))) < 0) {
			log_err("TLS context (%s): %s", tls_group_name(g), err);
			goto out;
		}
		p->ctx = d.ctx[g];
	}
	r = mfsd_cf_new(d.cfg, d.keys, d.st, d.revoked_path, &d.cf);
	d.keys = NULL;	/* the engine's now */
	if (r < 0) {
		log_err("control engine: %s%s", mfs_strerror(r),
			r == -EBADMSG ? " (the revocation file in state_dir is malformed)" : "");
		goto out;
	}
	for (size_t i = 0; i < d.n_peers; i++)
		d.peers[i].cp = &d.cf->peers[i];
	if ((r = qkdc_new(d.cfg, d.cf, d.st, &d.qkd)) < 0) {
		log_err("QKD client: %s", mfs_strerror(r));
		goto out;
	}
	if ((r = mfsd_push_setup(&d)) < 0)
		goto out;
	if ((d.ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		r = -errno;
		goto out;
	}
	d.qkd_ev.kind = EV_QKD;
	if (d.qkd && (r = mfsd_ep_set(&d, qkdc_fd(d.qkd), &d.qkd_ev, EPOLLIN, true)) < 0) {
		log_err("startup: %s", mfs_strerror(r));
		goto out;
	}
	if ((r = open_signals(&d)) < 0 || (r = open_listen(&d)) < 0 || (r = mfsd_admin_open(&d)) < 0 ||
	    (r = mfsd_push_open(&d)) < 0 || (r = mfsd_keygen_open(&d)) < 0) {
		log_err("startup: %s", mfs_strerror(r));
		goto out;
	}
	if (!foreground && daemon(0, 1) < 0) {
		log_err("cannot detach: %s", strerror(errno));
		goto out;
	}
	/* After daemon(): the workers are threads of the process that stays. */
	if ((r = mfsd_supply_start(d.cfg, d.db_path, d.kek_path, &d.supply)) < 0)
		goto out;
	if (d.supply)
		cf_set_revoke_listener(d.cf, mfsd_supply_revoked, d.supply);
	log_notice("node %s listening on %s:%u, admin socket %s, push socket %s, %zu peer(s)",
		   d.cfg->node.id, d.cfg->node.listen.host, d.cfg->node.listen.port,
		   d.cfg->node.admin_socket,
		   d.cfg->node.push_socket[0] ? d.cfg->node.push_socket : "(none)", d.n_peers);
	run(&d);
	rc = 0;
out:
	daemon_free(&d);
	return rc;
}
