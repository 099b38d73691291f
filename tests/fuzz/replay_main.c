/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Corpus replay without libFuzzer.
 *
 *   fuzz_<name> PATH...
 *
 * Every PATH is a file or a directory; directories are walked (sorted, dot
 * files skipped). Each file is read into a heap buffer of exactly its size,
 * so ASan sees any overread, and handed to LLVMFuzzerTestOneInput() once.
 * Exits non-zero if a path cannot be read or no input was found: an empty
 * replay must not pass as a successful one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#define REPLAY_MAX_INPUT (64U << 20)

/* Optional in a harness; libFuzzer calls it when present, so do we. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static unsigned long replayed;

static int replay_file(const char *path)
{
	struct stat st;
	uint8_t *data = NULL;
	size_t len = 0;
	int fd, r = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if ((size_t)st.st_size > REPLAY_MAX_INPUT) {
		fprintf(stderr, "replay: %s: larger than %u bytes\n", path, REPLAY_MAX_INPUT);
		goto out;
	}
	/* Exactly st_size bytes: an empty input gets a 1-byte buffer it must not read. */
	data = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!data) {
		fprintf(stderr, "replay: %s: out of memory\n", path);
		goto out;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, data + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "replay: %s: short read\n", path);
			goto out;
		}
		len += (size_t)n;
	}
	LLVMFuzzerTestOneInput(data, len);
	replayed++;
	r = 0;
out:
	free(data);
	if (fd >= 0)
		close(fd);
	return r;
}

static int replay_path(const char *path);

static int replay_dir(const char *path)
{
	struct dirent **names;
	int n, r = 0;

	n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char sub[4096];

		if (names[i]->d_name[0] != '.' && r == 0) {
			if (snprintf(sub, sizeof(sub), "%s/%s", path, names[i]->d_name) >=
			    (int)sizeof(sub)) {
				fprintf(stderr, "replay: %s/%s: path too long\n", path,
					names[i]->d_name);
				r = -1;
			} else {
				r = replay_path(sub);
			}
		}
		free(names[i]);
	}
	free(names);
	return r;
}

static int replay_path(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		return replay_dir(path);
	if (S_ISREG(st.st_mode))
		return replay_file(path);
	fprintf(stderr, "replay: %s: not a file or directory\n", path);
	return -1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i]) < 0)
			return 1;
	if (replayed == 0) {
		fprintf(stderr, "replay: no input found\n");
		return 1;
	}
	fprintf(stderr, "replay: %lu inputs, no crash\n", replayed);
	return 0;
}
