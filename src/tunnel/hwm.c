/* SPDX-License-Identifier: Apache-2.0 */
#include "tunnel/hwm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/hex.h"

static int hwm_path(const char *dir, const uint8_t id[static KEY_ID_LEN], char *out, size_t size)
{
	char hex[2 * KEY_ID_LEN + 1];
	int n;

	if (hex_encode(hex, sizeof(hex), id, KEY_ID_LEN) < 0)
		return -EINVAL;
	n = snprintf(out, size, "%s/%s.seq", dir, hex);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int hwm_load(const char *dir, const uint8_t id[static KEY_ID_LEN], uint64_t *ret)
{
	char path[4096], *end;
	uint8_t *data = NULL;
	unsigned long long v;
	size_t len;
	int r;

	if ((r = hwm_path(dir, id, path, sizeof(path))) < 0)
		return r;
	r = file_read(path, 64, FILE_NO_FOLLOW, &data, &len);
	if (r == -ENOENT) {
		*ret = 0;
		return 0;
	}
	if (r < 0)
		return r;
	errno = 0;
	v = strtoull((const char *)data, &end, 10);
	if (errno || end == (char *)data || (*end != '\n' && *end != '\0') ||
	    len == 0 || data[0] < '0' || data[0] > '9')
		r = -EBADMSG;
	else
		*ret = v;
	free(data);
	return r;
}

int hwm_store(const char *dir, const uint8_t id[static KEY_ID_LEN], uint64_t mark)
{
	char path[4096], buf[32];
	int r, n;

	if ((r = hwm_path(dir, id, path, sizeof(path))) < 0)
		return r;
	n = snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)mark);
	return file_write_atomic(path, buf, (size_t)n, FILE_OVERWRITE);
}
