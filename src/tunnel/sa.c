/* SPDX-License-Identifier: Apache-2.0 */
#include "tunnel/sa.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/iov.h"
#include "base/secret.h"
#include "crypto/hash.h"
#include "crypto/mac.h"

static const char KDF_SALT[] = "mfsec-tunnel v1";
static const char KDF_INFO[] = "esp aes-256-gcm ";
static const char SPI_LABEL[] = "mfsec-tunnel v1 spi ";

int sa_derive(const uint8_t *key, size_t key_len, const uint8_t id[static KEY_ID_LEN],
	      bool a_to_b, uint8_t ret_key[static ESP_KEY_LEN],
	      uint8_t ret_salt[static ESP_SALT_LEN], uint32_t *ret_spi)
{
	const char *dir = a_to_b ? "a->b" : "b->a";
	uint8_t info[sizeof(KDF_INFO) - 1 + 4 + KEY_ID_LEN];
	uint8_t okm[ESP_KEY_LEN + ESP_SALT_LEN], h[HASH_MAX_LEN];
	struct cbuf parts[3] = {
		CBUF(SPI_LABEL, sizeof(SPI_LABEL) - 1), CBUF(dir, 4), CBUF(id, KEY_ID_LEN),
	};
	int r;

	if (!key || key_len < SA_KEY_MIN || key_len > SA_KEY_MAX)
		return -EINVAL;
	memcpy(info, KDF_INFO, sizeof(KDF_INFO) - 1);
	memcpy(info + sizeof(KDF_INFO) - 1, dir, 4);
	memcpy(info + sizeof(KDF_INFO) - 1 + 4, id, KEY_ID_LEN);
	if ((r = hkdf(HASH_SHA384, (const uint8_t *)KDF_SALT, sizeof(KDF_SALT) - 1, key, key_len,
		      info, sizeof(info), okm, sizeof(okm))) < 0 ||
	    (r = hash_v(HASH_SHA256, parts, 3, h)) < 0)
		goto out;
	memcpy(ret_key, okm, ESP_KEY_LEN);
	memcpy(ret_salt, okm + ESP_KEY_LEN, ESP_SALT_LEN);
	*ret_spi = ((uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3]) |
		   0x80000000U;
out:
	mfs_wipe(okm, sizeof(okm));
	return r;
}

void sa_free(struct sa *sa)
{
	if (!sa)
		return;
	for (unsigned i = 0; i < SA_MAX_WORKERS; i++)
		aead_done(&sa->aead[i]);
	pthread_mutex_destroy(&sa->lock);
	mfs_wipe(sa, sizeof(*sa));
	free(sa);
}

int sa_new(const uint8_t *key, size_t key_len, const uint8_t id[static KEY_ID_LEN],
	   bool a_to_b, bool outbound, const struct sa_limits *lim, unsigned nworkers,
	   uint64_t first_seq, uint64_t reserved, struct sa **ret)
{
	uint8_t k[ESP_KEY_LEN], salt[ESP_SALT_LEN];
	struct sa *sa = NULL;
	uint32_t spi;
	int r;

	if (nworkers == 0 || nworkers > SA_MAX_WORKERS || !lim || lim->max_packets == 0 ||
	    lim->max_packets > SA_MAX_PACKETS_LIMIT || reserved < first_seq)
		return -EINVAL;
	if ((r = sa_derive(key, key_len, id, a_to_b, k, salt, &spi)) < 0)
		goto out;
	sa = calloc(1, sizeof(*sa));
	if (!sa) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(sa->key_id, id, KEY_ID_LEN);
	sa->outbound = outbound;
	sa->lim = *lim;
	sa->nworkers = nworkers;
	atomic_init(&sa->seq, first_seq);
	atomic_init(&sa->reserved, reserved);
	pthread_mutex_init(&sa->lock, NULL);
	replay_init(&sa->win);
	for (unsigned i = 0; i < nworkers; i++) {
		if ((r = aead_init(&sa->aead[i], k)) < 0)
			goto out;
		sa->xf[i].aead = &sa->aead[i];
		memcpy(sa->xf[i].salt, salt, ESP_SALT_LEN);
		sa->xf[i].spi = spi;
		sa->xf[i].no_esn = lim->no_esn;
	}
	*ret = sa;
	sa = NULL;
	r = 0;
out:
	mfs_wipe(k, sizeof(k));
	mfs_wipe(salt, sizeof(salt));
	sa_free(sa);
	return r;
}

bool sa_exhausted(const struct sa *sa, uint64_t now_ns)
{
	uint64_t used = sa->outbound ? atomic_load(&sa->seq) : atomic_load(&sa->packets);

	if (sa->lim.expiry_ns && now_ns >= sa->lim.expiry_ns)
		return true;
	if (used >= sa->lim.max_packets)
		return true;
	return sa->lim.max_bytes && atomic_load(&sa->bytes) >= sa->lim.max_bytes;
}

int sa_seal(struct sa *sa, unsigned worker, uint64_t now_ns, uint8_t next_header,
	    uint8_t *pkt, size_t len, size_t cap)
{
	uint64_t seq, bytes;
	int r;

	if (sa->lim.expiry_ns && now_ns >= sa->lim.expiry_ns)
		return -EKEYEXPIRED;
	seq = atomic_fetch_add(&sa->seq, 1) + 1;
	if (seq > sa->lim.max_packets)
		return -EKEYEXPIRED;
	if (seq > atomic_load(&sa->reserved))
		return -EAGAIN;
	bytes = atomic_fetch_add(&sa->bytes, len) + len;
	if (sa->lim.max_bytes && bytes > sa->lim.max_bytes)
		return -EKEYEXPIRED;
	r = esp_seal(&sa->xf[worker], seq, next_header, pkt, len, cap);
	if (r > 0) {
		atomic_fetch_add(&sa->packets, 1);
		if (!atomic_load_explicit(&sa->used, memory_order_relaxed))
			atomic_store(&sa->used, true);
	}
	return r;
}

int sa_open(struct sa *sa, unsigned worker, uint64_t now_ns, uint8_t *pkt, size_t len,
	    uint8_t *ret_nh, size_t *ret_len)
{
	uint32_t spi, seq_lo;
	uint64_t seq;
	int r;

	if ((r = esp_parse(pkt, len, &spi, &seq_lo)) < 0)
		return r;
	if (sa->lim.expiry_ns && now_ns >= sa->lim.expiry_ns)
		return -EKEYEXPIRED;
	pthread_mutex_lock(&sa->lock);
	seq = sa->lim.no_esn ? seq_lo : replay_infer(&sa->win, seq_lo);
	r = replay_check(&sa->win, seq);
	pthread_mutex_unlock(&sa->lock);
	if (r < 0) {
		atomic_fetch_add(&sa->replay_drop, 1);
		return r;
	}
	if (seq > sa->lim.max_packets)
		return -EKEYEXPIRED;
	r = esp_open(&sa->xf[worker], seq, pkt, len, ret_nh, ret_len);
	if (r == -EKEYREJECTED)
		atomic_fetch_add(&sa->auth_fail, 1);
	if (r < 0 && r != -ENODATA)
		return r;
	pthread_mutex_lock(&sa->lock);
	r = replay_update(&sa->win, seq) < 0 ? -EALREADY : r;
	pthread_mutex_unlock(&sa->lock);
	if (r == -EALREADY) {
		atomic_fetch_add(&sa->replay_drop, 1);
		return r;
	}
	atomic_fetch_add(&sa->packets, 1);
	atomic_fetch_add(&sa->bytes, len);
	if (!atomic_load_explicit(&sa->used, memory_order_relaxed))
		atomic_store(&sa->used, true);
	return r;
}

int sadb_init(struct sadb *db, uint64_t switch_delay_ns, uint64_t grace_ns)
{
	pthread_rwlockattr_t a;
	int r;

	memset(db, 0, sizeof(*db));
	db->switch_delay_ns = switch_delay_ns;
	db->grace_ns = grace_ns;
	pthread_rwlockattr_init(&a);
	/* Data threads hold the read lock back to back; let the control thread in. */
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	r = -pthread_rwlock_init(&db->lock, &a);
	pthread_rwlockattr_destroy(&a);
	return r;
}

void sadb_done(struct sadb *db)
{
	sa_free(db->out);
	sa_free(db->pending);
	for (unsigned i = 0; i < SADB_IN_MAX; i++)
		sa_free(db->in[i]);
	pthread_rwlock_destroy(&db->lock);
	db->out = db->pending = NULL;
	memset(db->in, 0, sizeof(db->in));
}

struct sa *sadb_in_lookup(struct sadb *db, uint32_t spi)
{
	for (unsigned i = 0; i < SADB_IN_MAX; i++)
		if (db->in[i] && sa_spi(db->in[i]) == spi)
			return db->in[i];
	return NULL;
}

static struct sa *in_by_id(struct sadb *db, const uint8_t id[static KEY_ID_LEN], unsigned *ret_i)
{
	for (unsigned i = 0; i < SADB_IN_MAX; i++)
		if (db->in[i] && memcmp(db->in[i]->key_id, id, KEY_ID_LEN) == 0) {
			if (ret_i)
				*ret_i = i;
			return db->in[i];
		}
	return NULL;
}

static void in_remove(struct sadb *db, unsigned i)
{
	sa_free(db->in[i]);
	db->in[i] = NULL;
	db->in_retire_ns[i] = 0;
}

static bool out_has(const struct sadb *db, const uint8_t id[static KEY_ID_LEN])
{
	return (db->out && memcmp(db->out->key_id, id, KEY_ID_LEN) == 0) ||
	       (db->pending && memcmp(db->pending->key_id, id, KEY_ID_LEN) == 0);
}

int sadb_install_in(struct sadb *db, struct sa *in, uint64_t now_ns)
{
	unsigned slot = SADB_IN_MAX;

	if (!in || in->outbound)
		return -EINVAL;
	if (in_by_id(db, in->key_id, NULL) || sadb_in_lookup(db, sa_spi(in)))
		return -EEXIST;
	for (unsigned i = 0; i < SADB_IN_MAX; i++)
		if (!db->in[i]) {
			slot = i;
			break;
		}
	if (slot == SADB_IN_MAX) {
		/*
		 * Full: drop the inbound SA that retires first, else the oldest,
		 * never that of the key we send on or are about to.
		 */
		uint64_t best = UINT64_MAX;

		for (unsigned i = 0; i < SADB_IN_MAX; i++) {
			uint64_t t = db->in_retire_ns[i] ? db->in_retire_ns[i] :
				     (1ULL << 63) + db->in_gen[i];

			if (out_has(db, db->in[i]->key_id))
				continue;
			if (t < best) {
				best = t;
				slot = i;
			}
		}
		if (slot == SADB_IN_MAX)
			return -ENOSPC;
		in_remove(db, slot);
	}
	db->in[slot] = in;
	db->in_gen[slot] = ++db->gen;
	(void)now_ns;
	db->in_retire_ns[slot] = 0;
	return 0;
}

int sadb_install_out(struct sadb *db, struct sa *out, uint64_t now_ns)
{
	if (!out || !out->outbound)
		return -EINVAL;
	if (out_has(db, out->key_id))
		return -EEXIST;
	if (!db->out || sa_exhausted(db->out, now_ns)) {
		sa_free(db->out);
		db->out = out;	/* nothing to break */
	} else {
		sa_free(db->pending);	/* a newer key supersedes one never switched to */
		db->pending = out;
		db->pending_since_ns = now_ns;
	}
	return 0;
}

int sadb_install(struct sadb *db, struct sa *out, struct sa *in, uint64_t now_ns)
{
	int r;

	if (!out || !in || !out->outbound || in->outbound ||
	    memcmp(out->key_id, in->key_id, KEY_ID_LEN) != 0)
		return -EINVAL;
	if (out_has(db, out->key_id))
		return -EEXIST;
	/* Make before break: receive on the new key first. */
	if ((r = sadb_install_in(db, in, now_ns)) < 0)
		return r;
	return sadb_install_out(db, out, now_ns);	/* cannot fail: checked above */
}

int sadb_retire(struct sadb *db, const uint8_t id[static KEY_ID_LEN], uint64_t now_ns)
{
	if (!db->out || memcmp(db->out->key_id, id, KEY_ID_LEN) != 0)
		return -ENOENT;
	if (!db->out->retired) {
		db->out->retired = true;
		db->out->retired_ns = now_ns;
	}
	return 0;
}

int sadb_peer_ready(struct sadb *db, const uint8_t id[static KEY_ID_LEN])
{
	if (db->pending && memcmp(db->pending->key_id, id, KEY_ID_LEN) == 0) {
		db->pending->peer_ready = true;
		return 0;
	}
	if (db->out && memcmp(db->out->key_id, id, KEY_ID_LEN) == 0) {
		db->out->peer_ready = true;
		return 0;
	}
	return -ENOENT;
}

int sadb_withdraw(struct sadb *db, const uint8_t id[static KEY_ID_LEN])
{
	unsigned i;
	int r = -ENOENT;

	if (in_by_id(db, id, &i)) {
		in_remove(db, i);
		r = 0;
	}
	if (db->pending && memcmp(db->pending->key_id, id, KEY_ID_LEN) == 0) {
		sa_free(db->pending);
		db->pending = NULL;
		r = 0;
	}
	if (db->out && memcmp(db->out->key_id, id, KEY_ID_LEN) == 0) {
		sa_free(db->out);
		/* Fail closed unless a newer key is ready. */
		db->out = db->pending;
		db->pending = NULL;
		r = 0;
	}
	return r;
}

bool sadb_tick(struct sadb *db, uint64_t now_ns)
{
	bool changed = false;

	if (db->pending) {
		struct sa *pin = in_by_id(db, db->pending->key_id, NULL);
		bool peer_ready = db->pending->peer_ready || (pin && atomic_load(&pin->used));

		bool cur_gone = !db->out || sa_exhausted(db->out, now_ns);
		uint64_t since = db->pending_since_ns;

		if (db->pending->hold && db->out && db->out->retired_ns > since)
			since = db->out->retired_ns;
		if (sa_exhausted(db->pending, now_ns)) {
			sa_free(db->pending);
			db->pending = NULL;
		} else if (db->pending->hold && !cur_gone && !db->out->retired) {
			/* pushed ahead of need: wait until the current key is retired */
		} else if (cur_gone || peer_ready || now_ns - since >= db->switch_delay_ns) {
			sa_free(db->out);
			db->out = db->pending;
			db->pending = NULL;
			changed = true;
		}
	}
	if (db->out && sa_exhausted(db->out, now_ns)) {
		/* Fail closed: nothing is sent until a new key arrives. */
		sa_free(db->out);
		db->out = NULL;
		changed = true;
	}
	/* The peer sends on a new inbound SA: the older ones go after the grace period. */
	for (unsigned i = 0; i < SADB_IN_MAX; i++) {
		struct sa *s = db->in[i];

		if (!s || s->used_seen || !atomic_load(&s->used))
			continue;
		s->used_seen = true;
		for (unsigned j = 0; j < SADB_IN_MAX; j++)
			if (db->in[j] && j != i && db->in_gen[j] < db->in_gen[i] &&
			    !db->in_retire_ns[j])
				db->in_retire_ns[j] = now_ns + db->grace_ns;
	}
	for (unsigned i = 0; i < SADB_IN_MAX; i++) {
		struct sa *s = db->in[i];

		if (!s)
			continue;
		if ((db->in_retire_ns[i] && now_ns >= db->in_retire_ns[i]) ||
		    (s->lim.expiry_ns && now_ns >= s->lim.expiry_ns))
			in_remove(db, i);
	}
	return changed;
}
