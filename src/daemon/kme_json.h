/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The responses of an ETSI GS QKD 014 KME, as the qkd014 client reads them.
 * A KME's answer is untrusted input: every parser here is bounded
 * (KME_BODY_MAX bytes, jansson with duplicate members refused) and checks
 * what the client asked for, all or nothing:
 *
 *   key container (enc_keys / dec_keys): an object whose "keys" array holds
 *     exactly the number of keys asked for; each key_ID a UUID in canonical
 *     text, no ID twice; each "key" standard base64 of exactly the key size
 *     asked for (a short or long key is refused, never cut or padded); for
 *     dec_keys exactly the IDs asked for (a key for another ID - for another
 *     SAE, say - is refused). Unknown members are refused except the
 *     spec's *_extension objects.
 *   status: the Status object; its SAE IDs must be the ones asked about.
 *   error: the "message" string (printable ASCII, cut at KME_MSG_MAX).
 *
 * Key bytes go to secret memory; jansson's own copies are wiped when it
 * frees them (kme_json_init() installs wiping allocators).
 */
#ifndef MFS_DAEMON_KME_JSON_H
#define MFS_DAEMON_KME_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/secret.h"

#define KME_BODY_MAX (256 * 1024)
#define KME_KEYS_MAX 64			/* keys per request (= CF_QKD_IDS_MAX) */
#define KME_KEY_ID_LEN 16
#define KME_ID_MAX 64
#define KME_MSG_MAX 160
#define KME_KEY_MIN 32			/* bytes; = KEX_QKD_KEY_MIN */
#define KME_KEY_MAX 1024

struct kme_keys {
	size_t n, bytes;
	uint8_t ids[KME_KEYS_MAX][KME_KEY_ID_LEN];
	struct secret *keys;		/* n * bytes */
};

struct kme_status {
	char source_kme[KME_ID_MAX + 1], target_kme[KME_ID_MAX + 1];
	char master_sae[KME_ID_MAX + 1], slave_sae[KME_ID_MAX + 1];
	uint64_t key_size, stored_key_count, max_key_count, max_key_per_request;
	uint64_t max_key_size, min_key_size;
};

/* Install jansson allocators that wipe what they free (once, before any parse). */
void kme_json_init(void);

/*
 * A key container for n keys of bytes each; want_ids (dec_keys) or NULL
 * (enc_keys). 0 and *ret (kme_keys_free()), or -EBADMSG / -EMSGSIZE with a
 * reason in why[] (never key material).
 */
int kme_parse_keys(const uint8_t *body, size_t len, size_t n, size_t bytes,
		   const uint8_t (*want_ids)[KME_KEY_ID_LEN], struct kme_keys *ret, char *why,
		   size_t why_size);
void kme_keys_free(struct kme_keys *k);

/* Status for master/slave SAE IDs. */
int kme_parse_status(const uint8_t *body, size_t len, const char *master, const char *slave,
		     struct kme_status *ret, char *why, size_t why_size);

/* The message of an Error object, printable; "" when there is none. Never fails. */
void kme_parse_error(const uint8_t *body, size_t len, char *msg, size_t msg_size);

#endif
