/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pool keys and key IDs (docs/protocol.md §7).
 */
#include "proto/pool.h"

#include <errno.h>
#include <string.h>

#include "base/secret.h"
#include "crypto/mac.h"

#define KEY_INFO "mfsec v2 key"

void pool_exchange_id_from(uint8_t id[static POOL_ID_LEN])
{
	id[6] = (uint8_t)((id[6] & 0x0f) | 0x80);	/* version 8 */
	id[8] = 0x80;					/* variant 10, direction 0 */
	id[9] = 0;					/* index 0 */
}

bool pool_exchange_id_valid(const uint8_t id[static POOL_ID_LEN])
{
	return (id[6] & 0xf0) == 0x80 && id[8] == 0x80 && id[9] == 0;
}

void pool_key_id(const uint8_t xid[static POOL_ID_LEN], unsigned d, unsigned i,
		 uint8_t out[static POOL_ID_LEN])
{
	memcpy(out, xid, POOL_ID_LEN);
	out[8] = (uint8_t)(0x80 | (d & 1));
	out[9] = (uint8_t)i;
}

uint64_t pool_tag(const uint8_t xid[static POOL_ID_LEN])
{
	uint64_t t = 0;

	for (size_t k = 0; k < 8; k++)
		t = t << 8 | xid[k];
	return t;
}

int pool_key_id_parse(const uint8_t id[static POOL_ID_LEN], uint64_t *ret_tag, unsigned *ret_d,
		      unsigned *ret_i, uint8_t ret_xid[static POOL_ID_LEN])
{
	if ((id[6] & 0xf0) != 0x80 || (id[8] & 0xfe) != 0x80 || id[9] >= POOL_KEYS_MAX)
		return -EINVAL;
	*ret_tag = pool_tag(id);
	*ret_d = id[8] & 1;
	*ret_i = id[9];
	memcpy(ret_xid, id, POOL_ID_LEN);
	pool_exchange_id_from(ret_xid);
	return 0;
}

int pool_key_derive(const uint8_t *secret, unsigned d, unsigned i, size_t len, uint8_t *out)
{
	uint8_t info[sizeof(KEY_INFO) - 1 + 5];
	size_t l = sizeof(KEY_INFO) - 1;
	int r;

	if (!secret || !out || d > 1 || i >= POOL_KEYS_MAX || len < 1 || len > POOL_KEY_MAX_LEN)
		return -EINVAL;
	memcpy(info, KEY_INFO, l);
	info[l] = (uint8_t)d;
	info[l + 1] = (uint8_t)(i >> 8);
	info[l + 2] = (uint8_t)i;
	info[l + 3] = (uint8_t)(len >> 8);
	info[l + 4] = (uint8_t)len;
	r = hkdf_expand(HASH_SHA384, secret, POOL_SECRET_LEN, info, sizeof(info), out, len);
	if (r < 0)
		mfs_wipe(out, len);
	return r < 0 ? r : 0;
}
