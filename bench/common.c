/* SPDX-License-Identifier: Apache-2.0 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *name = "bench";

void bench_set_name(const char *n)
{
	name = n;
}

void bench_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

void bench_check(int r, const char *what)
{
	if (r < 0)
		bench_die("%s failed: %d (%s)", what, r, strerror(-r));
}

double bench_clock(clockid_t id)
{
	struct timespec t;

	if (clock_gettime(id, &t) != 0)
		bench_die("clock_gettime: %s", strerror(errno));
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median(const double *v, int n)
{
	double s[BENCH_MAX_REPS];

	if (n <= 0)
		return 0;
	if (n > BENCH_MAX_REPS)
		n = BENCH_MAX_REPS;
	memcpy(s, v, (size_t)n * sizeof(*v));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

double bench_min(const double *v, int n)
{
	double m = n > 0 ? v[0] : 0;

	for (int i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

double bench_max(const double *v, int n)
{
	double m = n > 0 ? v[0] : 0;

	for (int i = 1; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

int bench_spawn(const char *const argv[], pid_t *pid)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	if ((*pid = fork()) < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (*pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(p[1], STDOUT_FILENO);
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	return p[0];
}

char *bench_run_capture(const char *const argv[])
{
	size_t len = 0, cap = 8192;
	char *buf;
	pid_t pid;
	int fd = bench_spawn(argv, &pid), st;

	if (fd < 0)
		return NULL;
	if (!(buf = malloc(cap)))
		bench_die("out of memory");
	for (;;) {
		ssize_t k;

		if (cap - len < 1024 && !(buf = realloc(buf, cap *= 2)))
			bench_die("out of memory");
		k = read(fd, buf + len, cap - len - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	close(fd);
	buf[len] = '\0';
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

const char *bench_find_line(const char *out, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, prefix, n) == 0)
			return l + n;
	return NULL;
}

double bench_field(const char *p, int idx)
{
	char *end;
	double v;

	for (int i = 0; i < idx; i++) {
		p = strpbrk(p, ":\n");
		if (!p || *p != ':')
			return -1;
		p++;
	}
	v = strtod(p, &end);
	return end == p ? -1 : v;
}
