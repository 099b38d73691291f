/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/push: latency and keys per second of the push socket (docs/push.md,
 * docs/performance.md), against references measured in the same run:
 *
 *   echo      a raw Unix-socket round trip of the same sizes (a GET_KEY
 *             request of 29 bytes, a KEY reply of 79 bytes): the floor of
 *             any local key interface
 *   take      store_take() of one key on the same SQLite store: the durable
 *             part (one fsync'd commit), which no correct interface avoids
 *   get       mfs_client_get_key() through libmfs-client to the push layer
 *             (src/push/) on a real store: one key per request
 *   stream    a subscription (ahead 16): the client acknowledges each key and
 *             reports it in use; the daemon side tops up with one store_take
 *             per input batch
 *
 * The server side is the push layer that mfsd runs (push_conn_input/output),
 * driven by a minimal poll loop in a thread, not mfsd's epoll loop; the store
 * is on the file system of --dir (default /var/tmp: a real disk, fsync is
 * real). The ratio get / (echo + take) is the cost of the push layer and the
 * library over their two unavoidable parts.
 *
 *   push [--keys N] [--dir DIR] [--markdown]
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"
#include "bench/common.h"
#include "client/pushwire.h"
#include "mfs/client.h"
#include "push/push.h"
#include "push_env.h"

#define REQ_LEN 29	/* GET_KEY for gpu-dc/training */
#define REP_LEN 79	/* KEY with a 32-byte key */

static struct push_env env;
static char sock_path[108];
static int listen_fd = -1, echo_fd = -1;
#define BLOCKS 10	/* echo, take and get alternate in blocks: the same load for each */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[(int)(p * (n - 1))];
}

static int read_full(int fd, void *p, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t r = read(fd, (uint8_t *)p + off, n - off);

		if (r <= 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const void *p, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t r = write(fd, (const uint8_t *)p + off, n - off);

		if (r <= 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

/* ---- servers (one connection each, then the thread ends) ---- */

static void *echo_server(void *arg)
{
	uint8_t req[REQ_LEN], rep[REP_LEN] = { 0, 0, 0, REP_LEN - 4, PW_KEY };
	int fd = accept(echo_fd, NULL, NULL);

	(void)arg;
	if (fd < 0)
		return NULL;
	while (read_full(fd, req, sizeof(req)) == 0 && write_full(fd, rep, sizeof(rep)) == 0)
		;
	close(fd);
	return NULL;
}

static void *push_server(void *arg)
{
	struct push_conn *pc = NULL;
	struct ucred cred;
	socklen_t l = sizeof(cred);
	uint8_t buf[4096];
	int fd = accept(listen_fd, NULL, NULL);

	(void)arg;
	if (fd < 0)
		return NULL;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &l) < 0 ||
	    push_conn_new(env.push, (uint32_t)cred.uid, (uint32_t)cred.gid, (uint32_t)cred.pid,
			  &pc) < 0)
		goto out;
	for (;;) {
		const uint8_t *o;
		size_t n;
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r <= 0)
			break;
		push_conn_input(pc, buf, (size_t)r, PUSH_ENV_NOW);
		while ((n = push_conn_output(pc, &o)) > 0) {
			if (write_full(fd, o, n) < 0)
				goto out;
			push_conn_consume(pc, n);
		}
		if (push_conn_closing(pc))
			break;
	}
out:
	push_conn_free(pc);
	close(fd);
	return NULL;
}

static pthread_t serve(void *(*fn)(void *))
{
	pthread_t t;

	if (pthread_create(&t, NULL, fn, NULL) != 0)
		bench_die("pthread_create");
	return t;
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0)
		bench_die("listen %s: %s", path, strerror(errno));
	return fd;
}

static char echo_path[112];

static int connect_raw(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memcpy(sa.sun_path, echo_path, strlen(echo_path) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		bench_die("connect %s: %s", sock_path, strerror(errno));
	return fd;
}

static void fill_store(size_t n)
{
	while (n > 0) {
		size_t k = n > POOL_KEYS_MAX ? POOL_KEYS_MAX : n;	/* keys of one exchange at most */

		bench_check(push_env_put(&env, k, NULL, NULL), "push_env_put");
		n -= k;
	}
}

static void row(bool markdown, const char *what, double p50, double p99, double per_s)
{
	if (markdown)
		printf("| %-34s | %10.1f | %10.1f | %12.0f |\n", what, p50, p99, per_s);
	else
		printf("%-36s p50 %8.1f us  p99 %8.1f us  %10.0f /s\n", what, p50, p99, per_s);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keys", required_argument, NULL, 'n' },
		{ "dir", required_argument, NULL, 'd' },
		{ "markdown", no_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
	bool markdown = false;
	int n = 2000, c;
	double *echo, *take, *get, t0, stream_s, get_total, echo_total, take_total;
	struct mfs_client *cl;
	pthread_t th;

	bench_set_name("push");
	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': n = (int)strtol(optarg, NULL, 10); break;
		case 'd': dir = optarg; break;
		case 'm': markdown = true; break;
		case 'h':
			printf("Usage: push [--keys N] [--dir DIR] [--markdown]\n\n"
			       "Push socket latency and keys/s against a raw Unix-socket echo and a bare\n"
			       "store_take in the same run (docs/performance.md). The key store goes to\n"
			       "DIR (default $TMPDIR or /var/tmp): use a real disk.\n");
			return 0;
		default: return 2;
		}
	}
	if (n < 10 || n > 1000000)
		bench_die("--keys: 10..1000000");
	mfs_log_set_level(MFS_LOG_ERR);
	if (setenv("TMPDIR", dir, 1) != 0)
		bench_die("setenv");
	bench_check(push_env_open_in(&env, dir, 1ULL << 40), "push_env_open");
	echo = calloc((size_t)n, sizeof(double));
	take = calloc((size_t)n, sizeof(double));
	get = calloc((size_t)n, sizeof(double));
	if (!echo || !take || !get)
		bench_die("out of memory");
	if (strlen(env.dir) + sizeof("/push.sock") > sizeof(sock_path))
		bench_die("--dir: path too long for a Unix socket");
	memcpy(sock_path, env.dir, strlen(env.dir));
	memcpy(sock_path + strlen(env.dir), "/push.sock", sizeof("/push.sock"));
	memcpy(echo_path, sock_path, strlen(sock_path) + 1);
	echo_path[strlen(echo_path) - 4] = 'e';	/* push.seck: the echo's socket */
	listen_fd = listen_on(sock_path);
	echo_fd = listen_on(echo_path);
	fill_store(3 * (size_t)n + 64);

	/* echo, take, get: BLOCKS rounds of n/BLOCKS each, interleaved */
	{
		uint8_t req[REQ_LEN] = { 0, 0, 0, REQ_LEN - 4, PW_GET_KEY }, rep[REP_LEN];
		pthread_t te = serve(echo_server);
		int fd = connect_raw(), per = n / BLOCKS, i = 0;
		double tb;

		th = serve(push_server);
		bench_check(mfs_client_open(sock_path, "bench", &cl), "mfs_client_open");
		echo_total = take_total = get_total = 0;
		n = per * BLOCKS;
		for (int b = 0; b < BLOCKS; b++, i += per) {
			tb = bench_clock(CLOCK_MONOTONIC);
			for (int j = i; j < i + per; j++) {
				t0 = bench_clock(CLOCK_MONOTONIC);
				if (write_full(fd, req, sizeof(req)) < 0 ||
				    read_full(fd, rep, sizeof(rep)) < 0)
					bench_die("echo");
				echo[j] = bench_clock(CLOCK_MONOTONIC) - t0;
			}
			echo_total += bench_clock(CLOCK_MONOTONIC) - tb;
			tb = bench_clock(CLOCK_MONOTONIC);
			for (int j = i; j < i + per; j++) {
				struct store_key k = { 0 };

				t0 = bench_clock(CLOCK_MONOTONIC);
				bench_check(store_take(env.st, PUSH_ENV_PEER, PUSH_ENV_CLASS, "bench",
						       PUSH_ENV_NOW, 1, &k), "store_take");
				take[j] = bench_clock(CLOCK_MONOTONIC) - t0;
				store_key_done(&k);
			}
			take_total += bench_clock(CLOCK_MONOTONIC) - tb;
			tb = bench_clock(CLOCK_MONOTONIC);
			for (int j = i; j < i + per; j++) {
				struct mfs_client_key k;

				t0 = bench_clock(CLOCK_MONOTONIC);
				bench_check(mfs_client_get_key(cl, PUSH_ENV_PEER, PUSH_ENV_CLASS, &k),
					    "get_key");
				get[j] = bench_clock(CLOCK_MONOTONIC) - t0;
				mfs_client_key_wipe(&k);
			}
			get_total += bench_clock(CLOCK_MONOTONIC) - tb;
		}
		close(fd);
		pthread_join(te, NULL);
		mfs_client_close(cl);
		pthread_join(th, NULL);
	}

	/* stream: a subscription, 16 ahead; ack + in use for every key */
	th = serve(push_server);
	bench_check(mfs_client_open(sock_path, "bench", &cl), "mfs_client_open");
	bench_check(mfs_client_subscribe(cl, PUSH_ENV_PEER, PUSH_ENV_CLASS, MFS_CLIENT_OUTBOUND,
					 16), "subscribe");
	t0 = bench_clock(CLOCK_MONOTONIC);
	for (int got = 0; got < n;) {
		struct mfs_client_event ev;
		int r = mfs_client_next(cl, 10000, &ev);

		if (r <= 0)
			bench_die("stream: %d after %d keys", r, got);
		if (ev.type != MFS_CLIENT_EV_KEY)
			continue;
		got++;
		mfs_client_key_wipe(&ev.key);
		bench_check(mfs_client_ack(cl, ev.id), "ack");
		bench_check(mfs_client_in_use(cl, ev.id), "in_use");
	}
	stream_s = bench_clock(CLOCK_MONOTONIC) - t0;
	mfs_client_close(cl);
	pthread_join(th, NULL);

	{
		double e50 = pct(echo, n, 0.5), e99 = pct(echo, n, 0.99);
		double t50 = pct(take, n, 0.5), t99 = pct(take, n, 0.99);
		double g50 = pct(get, n, 0.5), g99 = pct(get, n, 0.99);

		if (markdown)
			printf("| %d keys, store in %s | p50 µs | p99 µs | per second |\n"
			       "|---|---:|---:|---:|\n", n, dir);
		else
			printf("push: %d keys per mode, store in %s\n", n, dir);
		row(markdown, "echo (raw Unix socket, 29/79 B)", e50 * 1e6, e99 * 1e6, n / echo_total);
		row(markdown, "store_take (1 key, fsync)", t50 * 1e6, t99 * 1e6, n / take_total);
		row(markdown, "mfs_client_get_key", g50 * 1e6, g99 * 1e6, n / get_total);
		printf(markdown ? "| %-34s | %10.1f | %10s | %12.0f |\n" :
				  "%-36s p50 %8.1f us  p99 %8s     %10.0f /s\n",
		       "subscription (ahead 16), mean", stream_s / n * 1e6, "-", n / stream_s);
		printf("%sratio get p50 / (echo p50 + take p50) = %.2f; stream keys/s / take keys/s = %.2f\n",
		       markdown ? "\n" : "", g50 / (e50 + t50), (n / stream_s) / (n / take_total));
	}
	close(listen_fd);
	close(echo_fd);
	push_env_close(&env);
	free(echo);
	free(take);
	free(get);
	return 0;
}
