/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Static Classic McEliece keys of a node and its peers, and their rotation
 * on disk (docs/mfsd.md "Static key rotation").
 *
 * A node holds one own key pair per parameter set ("own" slot) and, per
 * peer and set, the peer's pinned public key ("pin" slot). Each slot has a
 * current key and, while a rotation's grace period lasts, the previous one.
 *
 * Until the first rotation the keys are the files named by the
 * configuration. A rotation writes the new pair into the keyring directory
 * (state_dir/static/, 0700) as <method>-<id16>.sk / .pk, each atomically and
 * 0600, and then commits a small record file, also written atomically:
 *
 *   own-<method>          the own pair in use and the previous one
 *   pin-<peer>-<method>   a peer's re-pinned key, the previous pin, and the
 *                         configuration pin it started from ("base")
 *
 * Record lines (one "key value" per line; a path is the rest of the line):
 *
 *   base HEX                 pin: SHA3-256 pinned by the configuration
 *   cur HEX CREATED          the current key id, its creation time
 *   cur_sk PATH, cur_pk PATH its files
 *   prev HEX SINCE           the previous key id, when it was replaced
 *   prev_sk PATH, prev_pk PATH
 *   destroy PATH             a file still to be wiped and removed
 *
 * Commit order makes every crash safe: new files are complete before the
 * record names them; a file is destroyed only after a record that no
 * longer uses it (and names it under "destroy") is on disk, and the
 * destruction is finished at the next load (keyring_recover()). A record
 * whose "base" differs from the configuration's pin is ignored: the
 * operator has pinned another key by hand since.
 *
 * Nothing here logs or keeps global state; keyring_generate() is safe to
 * call from a worker thread (it touches only its own arguments).
 */
#ifndef MFS_CF_KEYRING_H
#define MFS_CF_KEYRING_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/secret.h"
#include "proto/handshake.h"

#define KEYRING_SETS 2			/* mceliece460896, mceliece6688128 */
#define KEYRING_ID_LEN HS_STATIC_ID_LEN
#define KEYRING_RECORD_MAX 16384
#define KEYRING_DESTROY_MAX 8

/* One static key: an own pair (sk set) or a pinned public key. */
struct keyring_key {
	uint16_t method;
	uint8_t *pk;
	size_t pk_len;
	struct secret *sk;		/* own keys only */
	uint8_t id[KEYRING_ID_LEN];	/* SHA3-256(pk) */
	int64_t created;		/* own: generation time (file time for a configured key) */
	bool ours;			/* the files are in the keyring directory (may be destroyed) */
	char sk_path[PATH_MAX];
	char pk_path[PATH_MAX];
};

struct keyring_slot {
	struct keyring_key *cur, *prev;
	int64_t prev_since;		/* when prev was replaced */
	bool have_base;
	uint8_t base[KEYRING_ID_LEN];	/* pins: the configuration's pin */
};

/* Method id of a set index and back (-1 when not a McEliece set). */
uint16_t keyring_method(int set);
int keyring_set(uint16_t method);

void keyring_key_free(struct keyring_key *k);

/*
 * Read an own pair (sizes checked: sk_len or sk_len_alt, pk_len) or a pin
 * (pk_len; want_id, if not NULL, must equal SHA3-256 of the file:
 * -EKEYREJECTED otherwise). *ret: keyring_key_free().
 */
int keyring_load_own(uint16_t method, const char *sk_path, const char *pk_path,
		     struct keyring_key **ret);
int keyring_load_pin(uint16_t method, const char *pk_path, const uint8_t *want_id,
		     struct keyring_key **ret);

/*
 * A fresh own pair of method, written into dir (created 0700 if missing) as
 * <method>-<id16>.sk and .pk, atomically, 0600, both fsync'd. Slow (keygen
 * 40-300 ms plus 0.5-1 MiB written): for a worker thread. *ret:
 * keyring_key_free().
 */
int keyring_generate(uint16_t method, const char *dir, int64_t now, struct keyring_key **ret);

/* A copy of a pinned public key pk into dir as pin-<peer>-<method>-<id16>.pk (atomic). */
int keyring_store_pin(const char *dir, const char *peer, uint16_t method, const uint8_t *pk,
		      size_t pk_len, struct keyring_key **ret);

/*
 * Record files. path: keyring_own_path() / keyring_pin_path(). load:
 * -ENOENT when there is no record; otherwise it fills the slot (keys read
 * and their ids checked) and finishes pending destructions. save: commits
 * slot atomically, listing the files in destroy[] (NULL-terminated, may be
 * NULL) as still to destroy.
 */
int keyring_own_path(const char *dir, uint16_t method, char *out, size_t size);
int keyring_pin_path(const char *dir, const char *peer, uint16_t method, char *out, size_t size);
int keyring_load_record(const char *path, uint16_t method, bool own, struct keyring_slot *ret);
int keyring_save_record(const char *path, const struct keyring_slot *slot,
			const char *const *destroy);

/*
 * Check the bytes of a record file with the parser keyring_load_record()
 * uses: 0, -EBADMSG (bounded: KEYRING_RECORD_MAX bytes, no NUL, known keys,
 * 64-hex-digit ids, absolute paths under PATH_MAX, at most
 * KEYRING_DESTROY_MAX "destroy" lines), -ENOMEM. A "destroy" line is
 * acted on only for a regular file of a McEliece key's exact size, so a
 * damaged record cannot make mfsd remove anything else.
 */
int keyring_check_record(const uint8_t *data, size_t len);

/* Wipe (overwrite with zeros, fsync) and remove a key file; a missing file is fine. */
int keyring_destroy_file(const char *path);

/* Finish the destructions a record lists (mfsd calls this before loading its identity). */
int keyring_recover(const char *dir);

/* The first 16 hex digits of an id (for names and logs), into out[17]. */
void keyring_id16(const uint8_t id[static KEYRING_ID_LEN], char out[static 17]);

#endif
