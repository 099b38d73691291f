/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qkdsim: the QKD network simulator program (docs/qkdsim.md).
 *
 *   qkdsim run --config FILE [--log-level LEVEL]
 *   qkdsim check --config FILE
 *   qkdsim status [--json] (--socket PATH | --config FILE)
 *   qkdsim eavesdrop LINK on|off (--socket PATH | --config FILE)
 *
 * `run` holds the whole network in one process (struct qnet): a libevent
 * loop ticks the QKD modules every `tick` ms and serves the control socket.
 * The other commands are clients of that socket.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/secret.h"
#include "qkdsim/qconf.h"
#include "qkdsim/qctl.h"
#include "qkdsim/qksa.h"
#include "qkdsim/qnet.h"

enum { EX_OK = 0, EX_FAIL = 1, EX_USAGE = 2 };

static void usage(FILE *f)
{
	fputs("usage: qkdsim run --config FILE [--log-level err|warning|notice|info|debug]\n"
	      "       qkdsim check --config FILE\n"
	      "       qkdsim status [--json] (--socket PATH | --config FILE)\n"
	      "       qkdsim eavesdrop LINK on|off (--socket PATH | --config FILE)\n"
	      "\n"
	      "Simulates a QKD network: QKD links that make identical key at both ends at\n"
	      "their key rate, with a QBER and an abort threshold; KMAs in trusted nodes\n"
	      "that relay keys hop by hop (one-time pad, authenticated, link key used once);\n"
	      "KSAs that hand end-to-end keys to SAEs. `run` starts the network; `status`\n"
	      "shows per-link rate, QBER, pool depth and alarms; `eavesdrop` raises a\n"
	      "link's QBER above its threshold (key generation stops, an alarm is raised).\n"
	      "See docs/qkdsim.md.\n", f);
}

/* ---- run ---- */

struct sim {
	struct qnet net;
	pthread_mutex_t lock;		/* the network: the loop and the KSA workers */
	struct qksa ksa[QCONF_MAX_NODES];
	struct event_base *base;
	struct event *tick_ev, *listen_ev, *sig_ev[2];
	int listen_fd;
	uint64_t t0;
	size_t last_events;
};

struct ctl_conn {
	struct sim *sim;
	struct event *ev;
	int fd;
	size_t len;
	uint8_t buf[QCTL_REQ_MAX + 1];
};

static void log_new_events(struct sim *s)
{
	for (; s->last_events < s->net.n_events; s->last_events++) {
		const struct qnet_event *ev = &s->net.events[s->last_events % QNET_EVENTS];

		if (s->net.n_events - s->last_events > QNET_EVENTS)
			continue;
		if (ev->alarm)
			log_warning("ALARM: %s", ev->text);
		else
			log_notice("%s", ev->text);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct sim *s = arg;
	int r;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&s->lock);
	r = qnet_tick(&s->net, (uint64_t)mfs_mono_ms() - s->t0);
	pthread_mutex_unlock(&s->lock);
	if (r < 0) {
		log_err("key generation failed: %s", mfs_strerror(r));
		event_base_loopbreak(s->base);
	}
	pthread_mutex_lock(&s->lock);
	log_new_events(s);
	pthread_mutex_unlock(&s->lock);
}

static void conn_close(struct ctl_conn *c)
{
	event_free(c->ev);
	close(c->fd);
	free(c);
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void conn_answer(struct ctl_conn *c)
{
	static uint8_t out[QCTL_RESP_MAX];
	struct wbuf w = wbuf_init(out, sizeof(out));
	struct qctl_req req;
	char err[160];

	/* Bring the network up to date first, so status shows now. */
	pthread_mutex_lock(&c->sim->lock);
	qnet_tick(&c->sim->net, (uint64_t)mfs_mono_ms() - c->sim->t0);
	if (qctl_parse(c->buf, c->len, &req, err, sizeof(err)) < 0) {
		int n = snprintf((char *)out, sizeof(out), "error: %s\n", err);

		pthread_mutex_unlock(&c->sim->lock);
		write_all(c->fd, out, (size_t)n);
		log_notice("control: refused request: %s", err);
		return;
	}
	qctl_run(&c->sim->net, &req, &w);
	log_new_events(c->sim);
	pthread_mutex_unlock(&c->sim->lock);
	if (w.err && w.len == 0)
		w.len = (size_t)snprintf((char *)out, sizeof(out), "error: response too large\n");
	/* The client waits; a local socket takes 64 KiB without blocking for long. */
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
	write_all(c->fd, out, w.len);
}

static void on_conn(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_conn *c = arg;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		conn_close(c);
		return;
	}
	n = read(fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		c->len += (size_t)n;
	if (n <= 0 || memchr(c->buf, '\n', c->len) || c->len == sizeof(c->buf)) {
		conn_answer(c);
		conn_close(c);
	}
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct sim *s = arg;
	struct timeval tv = { 2, 0 };
	struct ctl_conn *c;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)what;
	if (cfd < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->ev = event_new(s->base, cfd, EV_READ | EV_PERSIST, on_conn, c))) {
		free(c);
		close(cfd);
		return;
	}
	c->sim = s;
	c->fd = cfd;
	event_add(c->ev, &tv);
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
	struct sim *s = arg;

	(void)what;
	log_notice("signal %d: stopping", (int)fd);
	event_base_loopbreak(s->base);
}

static int open_control(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	old = umask(0077);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, 16) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int cmd_run(const char *config)
{
	struct qconf *cfg;
	struct qconf_error err;
	struct sim s = { .listen_fd = -1 };
	struct timeval tv;
	int r;

	mfs_log_set_ident("qkdsim");
	if ((r = mfs_harden_process()) < 0)
		log_warning("cannot harden the process: %s", mfs_strerror(r));
	if (qconf_load(config, &cfg, &err) < 0) {
		fprintf(stderr, "qkdsim: %s\n", err.text);
		return EX_FAIL;
	}
	if (!cfg->control[0]) {
		fprintf(stderr, "qkdsim: %s: [qkdsim] control socket missing\n", config);
		free(cfg);
		return EX_FAIL;
	}
	s.t0 = (uint64_t)mfs_mono_ms();
	if ((r = qnet_init(&s.net, cfg, 0)) < 0) {
		fprintf(stderr, "qkdsim: cannot build the network: %s\n", mfs_strerror(r));
		return EX_FAIL;
	}
	pthread_mutex_init(&s.lock, NULL);
	for (size_t i = 0; i < s.net.cfg->n_nodes; i++) {
		char kerr[ETSI014_ERR_LEN] = "";

		if (!s.net.cfg->nodes[i].ksa_listen[0])
			continue;
		if ((r = qksa_new(&s.ksa[i], &s.net, &s.lock, (int)i, kerr, sizeof(kerr))) < 0 ||
		    (r = qksa_start(&s.ksa[i])) < 0) {
			fprintf(stderr, "qkdsim: node %s: KSA on %s: %s\n", s.net.cfg->nodes[i].name,
				s.net.cfg->nodes[i].ksa_listen, kerr[0] ? kerr : mfs_strerror(r));
			for (size_t j = 0; j <= i; j++)
				qksa_free(&s.ksa[j]);
			qnet_free(&s.net);
			return EX_FAIL;
		}
		log_notice("node %s: KSA (ETSI GS QKD 014) on %s (port %u), KME ID %s",
			   s.net.cfg->nodes[i].name, s.net.cfg->nodes[i].ksa_listen,
			   etsi014_server_port(s.ksa[i].srv), s.net.cfg->nodes[i].kme_id);
	}
	if ((s.listen_fd = open_control(s.net.cfg->control)) < 0) {
		fprintf(stderr, "qkdsim: %s: cannot listen: %s\n", s.net.cfg->control,
			strerror(-s.listen_fd));
		for (size_t j = 0; j < QCONF_MAX_NODES; j++)
			qksa_free(&s.ksa[j]);
		qnet_free(&s.net);
		return EX_FAIL;
	}
	signal(SIGPIPE, SIG_IGN);
	s.base = event_base_new();
	tv.tv_sec = s.net.cfg->tick_ms / 1000;
	tv.tv_usec = (s.net.cfg->tick_ms % 1000) * 1000;
	s.tick_ev = event_new(s.base, -1, EV_PERSIST, on_tick, &s);
	s.listen_ev = event_new(s.base, s.listen_fd, EV_READ | EV_PERSIST, on_accept, &s);
	s.sig_ev[0] = evsignal_new(s.base, SIGTERM, on_signal, &s);
	s.sig_ev[1] = evsignal_new(s.base, SIGINT, on_signal, &s);
	if (!s.base || !s.tick_ev || !s.listen_ev || !s.sig_ev[0] || !s.sig_ev[1] ||
	    event_add(s.tick_ev, &tv) || event_add(s.listen_ev, NULL) ||
	    event_add(s.sig_ev[0], NULL) || event_add(s.sig_ev[1], NULL)) {
		fprintf(stderr, "qkdsim: cannot set up the event loop\n");
		r = -ENOMEM;
	} else {
		log_notice("running: %zu nodes, %zu links, control socket %s, tick %u ms",
			   s.net.cfg->n_nodes, s.net.cfg->n_links, s.net.cfg->control,
			   s.net.cfg->tick_ms);
		r = event_base_dispatch(s.base) < 0 ? -EIO : 0;
	}
	unlink(s.net.cfg->control);
	for (int i = 0; i < 2; i++)
		if (s.sig_ev[i])
			event_free(s.sig_ev[i]);
	if (s.tick_ev)
		event_free(s.tick_ev);
	if (s.listen_ev)
		event_free(s.listen_ev);
	if (s.base)
		event_base_free(s.base);
	close(s.listen_fd);
	for (size_t j = 0; j < QCONF_MAX_NODES; j++)
		qksa_free(&s.ksa[j]);
	qnet_free(&s.net);
	return r < 0 ? EX_FAIL : EX_OK;
}

/* ---- clients ---- */

static int socket_of(const char *sock, const char *config, char *out, size_t size)
{
	struct qconf *cfg;
	struct qconf_error err;

	if (sock) {
		snprintf(out, size, "%s", sock);
		return 0;
	}
	if (!config) {
		fprintf(stderr, "qkdsim: give --socket PATH or --config FILE\n");
		return -EINVAL;
	}
	if (qconf_load(config, &cfg, &err) < 0) {
		fprintf(stderr, "qkdsim: %s\n", err.text);
		return -EINVAL;
	}
	snprintf(out, size, "%s", cfg->control);
	free(cfg);
	return 0;
}

static int request(const char *path, const char *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];
	bool error = false, first = true;
	ssize_t n;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "qkdsim: %s: socket path too long\n", path);
		return EX_FAIL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "qkdsim: %s: cannot connect: %s (is `qkdsim run` running?)\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return EX_FAIL;
	}
	write_all(fd, (const uint8_t *)req, strlen(req));
	shutdown(fd, SHUT_WR);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (first && n >= 7 && memcmp(buf, "error: ", 7) == 0)
			error = true;
		first = false;
		fwrite(buf, 1, (size_t)n, error ? stderr : stdout);
	}
	close(fd);
	if (first) {
		fprintf(stderr, "qkdsim: %s: no answer\n", path);
		return EX_FAIL;
	}
	return error ? EX_FAIL : EX_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"log-level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL, *sock = NULL, *cmd;
	bool json = false;
	char path[QCONF_PATH_MAX], req[QCTL_REQ_MAX + 1];
	enum mfs_log_level level;
	int o;

	while ((o = getopt_long(argc, argv, "c:s:jl:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': config = optarg; break;
		case 's': sock = optarg; break;
		case 'j': json = true; break;
		case 'l':
			if (mfs_log_level_parse(optarg, &level) < 0) {
				fprintf(stderr, "qkdsim: unknown log level '%s'\n", optarg);
				return EX_USAGE;
			}
			mfs_log_set_level(level);
			break;
		case 'h': usage(stdout); return EX_OK;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	cmd = argv[optind++];
	if (strcmp(cmd, "help") == 0) {
		usage(stdout);
		return EX_OK;
	}
	if (strcmp(cmd, "run") == 0 || strcmp(cmd, "check") == 0) {
		if (!config || optind != argc) {
			fprintf(stderr, "qkdsim: %s needs --config FILE and nothing else\n", cmd);
			return EX_USAGE;
		}
		if (cmd[0] == 'c') {
			struct qconf *cfg;
			struct qconf_error err;

			if (qconf_load(config, &cfg, &err) < 0) {
				fprintf(stderr, "qkdsim: %s\n", err.text);
				return EX_FAIL;
			}
			printf("%s: %zu nodes, %zu links, control socket %s\n", config, cfg->n_nodes,
			       cfg->n_links, cfg->control[0] ? cfg->control : "(none)");
			free(cfg);
			return EX_OK;
		}
		return cmd_run(config);
	}
	if (strcmp(cmd, "status") == 0) {
		if (optind != argc) {
			fprintf(stderr, "qkdsim: status takes no arguments besides options\n");
			return EX_USAGE;
		}
		if (socket_of(sock, config, path, sizeof(path)) < 0)
			return EX_USAGE;
		return request(path, json ? "status json\n" : "status\n");
	}
	if (strcmp(cmd, "eavesdrop") == 0) {
		if (argc - optind != 2 || (strcmp(argv[optind + 1], "on") && strcmp(argv[optind + 1], "off"))) {
			fprintf(stderr, "qkdsim: usage: qkdsim eavesdrop LINK on|off (--socket PATH | --config FILE)\n");
			return EX_USAGE;
		}
		if (!qconf_name_valid(argv[optind], strnlen(argv[optind], QCONF_NAME_MAX + 1))) {
			fprintf(stderr, "qkdsim: '%s' is not a link name\n", argv[optind]);
			return EX_USAGE;
		}
		if (socket_of(sock, config, path, sizeof(path)) < 0)
			return EX_USAGE;
		snprintf(req, sizeof(req), "eavesdrop %s %s\n", argv[optind], argv[optind + 1]);
		return request(path, req);
	}
	fprintf(stderr, "qkdsim: unknown command '%s'\n", cmd);
	usage(stderr);
	return EX_USAGE;
}
