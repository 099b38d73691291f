/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Classic McEliece methods through the kex vtable: the static-key flow,
 * implicit rejection, length and pin checks, and the call order. One key
 * pair per parameter set per binary (key generation is slow).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/secret.h"
#include "crypto/hash.h"
#include "kex/kex.h"
#include "kex/methods.h"

struct keys {
	const struct kex_method *m;
	const char *name;
	uint16_t id;
	uint8_t category;
	uint8_t *pk;
	struct secret *sk;
};

static struct keys sets[] = {
	{ &kex_mceliece460896, "mceliece460896", KEX_ID_MCELIECE460896, 3, NULL, NULL },
	{ &kex_mceliece6688128, "mceliece6688128", KEX_ID_MCELIECE6688128, 5, NULL, NULL },
};

#define MSG2_CAP 4096	/* above both ciphertext sizes */

static int setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		const struct kex_kem *kem = sets[i].m->kem;

		if (!kem)
			return -1;
		sets[i].pk = malloc(kem->pk_len);
		sets[i].sk = secret_alloc(kem->sk_len);
		if (!sets[i].pk || !sets[i].sk || kem->keypair(sets[i].pk, sets[i].sk->p) != 0)
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		free(sets[i].pk);
		secret_free(sets[i].sk);
	}
	return 0;
}

static struct kex_env env_initiator(const struct keys *k)
{
	return (struct kex_env){
		.static_sk = k->sk,
		.static_pk = k->pk,
		.static_pk_len = k->m->kem->pk_len,
	};
}

static struct kex_env env_responder(const struct keys *k)
{
	return (struct kex_env){
		.peer_static_pk = k->pk,
		.peer_static_pk_len = k->m->kem->pk_len,
	};
}

/* A two-party exchange in memory. */
struct pair {
	const struct kex_method *m;
	void *ci, *cr;
	uint8_t msg1[64], msg2[MSG2_CAP];
	size_t msg1_len, msg2_len;
};

static void pair_start(struct pair *p, const struct keys *k)
{
	struct kex_env ei = env_initiator(k), er = env_responder(k);

	memset(p, 0, sizeof(*p));
	p->m = k->m;
	p->ci = calloc(1, k->m->ctx_size);
	p->cr = calloc(1, k->m->ctx_size);
	assert_non_null(p->ci);
	assert_non_null(p->cr);
	assert_int_equal(p->m->init(p->ci, &ei, KEX_INITIATOR), 0);
	assert_int_equal(p->m->init(p->cr, &er, KEX_RESPONDER), 0);
}

static void pair_msg1(struct pair *p)
{
	struct wbuf w = wbuf_init(p->msg1, sizeof(p->msg1));

	assert_int_equal(p->m->msg1(p->ci, &w), 0);
	assert_true(w.len <= p->m->msg1_max);
	p->msg1_len = w.len;
}

static void pair_msg2(struct pair *p)
{
	struct wbuf w = wbuf_init(p->msg2, sizeof(p->msg2));

	assert_int_equal(p->m->msg2(p->cr, rd_init(p->msg1, p->msg1_len), &w), 0);
	assert_true(w.len <= p->m->msg2_max);
	p->msg2_len = w.len;
}

static void pair_end(struct pair *p)
{
	p->m->done(p->ci);
	p->m->done(p->cr);
	free(p->ci);
	free(p->cr);
}

static void test_metadata(void **state)
{
	const struct keys *k = *state;
	const struct kex_method *m = k->m;

	assert_string_equal(m->name, k->name);
	assert_int_equal(m->id, k->id);
	assert_int_equal(m->family, KEX_FAMILY_CODE);
	assert_int_equal(m->nist_category, k->category);
	assert_true(m->post_quantum);
	assert_int_equal(m->secret_len, KEX_SECRET_LEN);
	assert_int_equal(m->msg1_max, 32);
	assert_non_null(m->kem);
	assert_int_equal(m->msg2_max, m->kem->ct_len);
	assert_int_equal(m->kem->ss_len, KEX_SECRET_LEN);
	assert_true(m->available());
	assert_ptr_equal(kex_method_by_name(k->name), m);
	assert_ptr_equal(kex_method_by_id(k->id), m);
	assert_string_equal(kex_family_name(m->family), "code");
}

static void test_exchange(void **state)
{
	const struct keys *k = *state;
	uint8_t ssi[KEX_SECRET_LEN], ssr[KEX_SECRET_LEN], id[32];
	struct pair p;

	pair_start(&p, k);
	pair_msg1(&p);
	/* msg1 is the key identifier, SHA3-256 of the initiator's static pk */
	assert_int_equal(p.msg1_len, 32);
	assert_int_equal(hash(HASH_SHA3_256, k->pk, k->m->kem->pk_len, id), 0);
	assert_memory_equal(p.msg1, id, 32);
	pair_msg2(&p);
	assert_int_equal(p.msg2_len, k->m->kem->ct_len);
	assert_int_equal(p.m->finish(p.ci, rd_init(p.msg2, p.msg2_len)), 0);
	assert_int_equal(p.m->secret(p.ci, ssi), 0);
	assert_int_equal(p.m->secret(p.cr, ssr), 0);
	assert_memory_equal(ssi, ssr, KEX_SECRET_LEN);
	assert_false(mfs_ct_is_zero(ssi, KEX_SECRET_LEN));
	/* the same secret comes out of the raw KEM view */
	{
		uint8_t ss[KEX_SECRET_LEN];

		assert_int_equal(k->m->kem->decap(ss, p.msg2, p.msg2_len, k->sk->p, k->sk->len), 0);
		assert_memory_equal(ss, ssi, KEX_SECRET_LEN);
	}
	pair_end(&p);
}

/* A flipped ciphertext bit: no error, different secrets (implicit rejection). */
static void test_tampered_ct(void **state)
{
	const struct keys *k = *state;
	uint8_t ssi[KEX_SECRET_LEN], ssr[KEX_SECRET_LEN];
	struct pair p;

	pair_start(&p, k);
	pair_msg1(&p);
	pair_msg2(&p);
	p.msg2[p.msg2_len / 2] ^= 0x10;
	assert_int_equal(p.m->finish(p.ci, rd_init(p.msg2, p.msg2_len)), 0);
	assert_int_equal(p.m->secret(p.ci, ssi), 0);
	assert_int_equal(p.m->secret(p.cr, ssr), 0);
	assert_memory_not_equal(ssi, ssr, KEX_SECRET_LEN);
	pair_end(&p);
}

static void test_bad_lengths(void **state)
{
	const struct keys *k = *state;
	const size_t ct_len = k->m->kem->ct_len;
	const size_t msg1_bad[] = { 0, 31, 33 };
	const size_t msg2_bad[] = { 0, ct_len - 1, ct_len + 1 };
	uint8_t ss[KEX_SECRET_LEN];

	for (size_t i = 0; i < 3; i++) {
		struct pair p;
		struct wbuf w;

		pair_start(&p, k);
		pair_msg1(&p);
		w = wbuf_init(p.msg2, sizeof(p.msg2));
		assert_int_equal(p.m->msg2(p.cr, rd_init(p.msg1, msg1_bad[i]), &w), -EBADMSG);
		assert_int_equal(w.len, 0);
		memset(ss, 0xaa, sizeof(ss));
		assert_int_equal(p.m->secret(p.cr, ss), -EPROTO);
		assert_true(mfs_ct_is_zero(ss, sizeof(ss)));
		pair_end(&p);
	}
	for (size_t i = 0; i < 3; i++) {
		struct pair p;

		pair_start(&p, k);
		pair_msg1(&p);
		pair_msg2(&p);
		assert_int_equal(p.m->finish(p.ci, rd_init(p.msg2, msg2_bad[i])), -EBADMSG);
		assert_int_equal(p.m->secret(p.ci, ss), -EPROTO);
		pair_end(&p);
	}
	/* an output buffer too small for the ciphertext */
	{
		struct pair p;
		struct wbuf w;

		pair_start(&p, k);
		pair_msg1(&p);
		w = wbuf_init(p.msg2, ct_len - 1);
		assert_int_equal(p.m->msg2(p.cr, rd_init(p.msg1, p.msg1_len), &w), -EMSGSIZE);
		pair_end(&p);
	}
}

/* The responder pinned a different key: -EKEYREJECTED before encapsulating. */
static void test_wrong_pin(void **state)
{
	const struct keys *k = *state;
	const size_t pk_len = k->m->kem->pk_len;
	uint8_t *other = malloc(pk_len);
	void *cr = calloc(1, k->m->ctx_size);
	uint8_t msg2[MSG2_CAP];
	struct kex_env er = env_responder(k);
	struct pair p;
	struct wbuf w;

	assert_non_null(other);
	assert_non_null(cr);
	memcpy(other, k->pk, pk_len);
	other[pk_len - 1] ^= 1;
	er.peer_static_pk = other;
	assert_int_equal(k->m->init(cr, &er, KEX_RESPONDER), 0);

	pair_start(&p, k);
	pair_msg1(&p);
	w = wbuf_init(msg2, sizeof(msg2));
	assert_int_equal(k->m->msg2(cr, rd_init(p.msg1, p.msg1_len), &w), -EKEYREJECTED);
	assert_int_equal(w.len, 0);
	/* the right pin but a tampered key ID */
	p.msg1[0] ^= 0x80;
	w = wbuf_init(msg2, sizeof(msg2));
	assert_int_equal(k->m->msg2(p.cr, rd_init(p.msg1, p.msg1_len), &w), -EKEYREJECTED);
	assert_int_equal(w.len, 0);
	pair_end(&p);
	k->m->done(cr);
	free(cr);
	free(other);
}

static void test_init_needs_keys(void **state)
{
	const struct keys *k = *state;
	const struct kex_method *m = k->m;
	void *c = calloc(1, m->ctx_size);
	struct kex_env e;
	struct secret short_sk = { .p = k->sk->p, .len = k->sk->len - 1 };
	struct secret null_sk = { .p = NULL, .len = k->sk->len };

	assert_non_null(c);
	assert_int_equal(m->init(c, NULL, KEX_INITIATOR), -EINVAL);
	e = (struct kex_env){ 0 };
	assert_int_equal(m->init(c, &e, KEX_INITIATOR), -EINVAL);
	assert_int_equal(m->init(c, &e, KEX_RESPONDER), -EINVAL);
	e = env_initiator(k);
	e.static_sk = NULL;
	assert_int_equal(m->init(c, &e, KEX_INITIATOR), -EINVAL);
	e = env_initiator(k);
	e.static_sk = &short_sk;
	assert_int_equal(m->init(c, &e, KEX_INITIATOR), -EINVAL);
	e = env_initiator(k);
	e.static_sk = &null_sk;
	assert_int_equal(m->init(c, &e, KEX_INITIATOR), -EINVAL);
	e = env_initiator(k);
	e.static_pk = NULL;
	assert_int_equal(m->init(c, &e, KEX_INITIATOR), -EINVAL);
	e = env_initiator(k);
	e.static_pk_len--;
	assert_int_equal(m->init(c, &e, KEX_INITIATOR), -EINVAL);
	/* a responder env is not enough for the initiator, and vice versa */
	e = env_responder(k);
	assert_int_equal(m->init(c, &e, KEX_INITIATOR), -EINVAL);
	e = env_initiator(k);
	assert_int_equal(m->init(c, &e, KEX_RESPONDER), -EINVAL);
	e = env_responder(k);
	e.peer_static_pk_len++;
	assert_int_equal(m->init(c, &e, KEX_RESPONDER), -EINVAL);
	e = env_responder(k);
	assert_int_equal(m->init(c, &e, (enum kex_role)7), -EINVAL);
	/* a failed init leaves a ctx that refuses everything */
	{
		uint8_t buf[64];
		struct wbuf w = wbuf_init(buf, sizeof(buf));

		assert_int_equal(m->msg1(c, &w), -EPROTO);
	}
	m->done(c);
	free(c);
}

static void test_call_order(void **state)
{
	const struct keys *k = *state;
	const struct kex_method *m = k->m;
	uint8_t buf[MSG2_CAP], ss[KEX_SECRET_LEN];
	struct wbuf w = wbuf_init(buf, sizeof(buf));
	struct pair p;
	void *z = calloc(1, m->ctx_size);

	/* a zeroed ctx refuses everything; done() is safe on it and on NULL */
	assert_non_null(z);
	assert_int_equal(m->msg1(z, &w), -EPROTO);
	assert_int_equal(m->msg2(z, rd_init(buf, 32), &w), -EPROTO);
	assert_int_equal(m->finish(z, rd_init(buf, m->kem->ct_len)), -EPROTO);
	assert_int_equal(m->secret(z, ss), -EPROTO);
	assert_int_equal(w.len, 0);
	m->done(z);
	m->done(NULL);
	free(z);

	pair_start(&p, k);
	/* initiator: no msg2; finish and secret only after msg1 */
	assert_int_equal(m->msg2(p.ci, rd_init(buf, 32), &w), -EPROTO);
	assert_int_equal(m->finish(p.ci, rd_init(buf, m->kem->ct_len)), -EPROTO);
	assert_int_equal(m->secret(p.ci, ss), -EPROTO);
	/* responder: no msg1, no finish, no secret before msg2 */
	assert_int_equal(m->msg1(p.cr, &w), -EPROTO);
	assert_int_equal(m->finish(p.cr, rd_init(buf, m->kem->ct_len)), -EPROTO);
	assert_int_equal(m->secret(p.cr, ss), -EPROTO);
	assert_int_equal(w.len, 0);

	pair_msg1(&p);
	w = wbuf_init(buf, sizeof(buf));
	assert_int_equal(m->msg1(p.ci, &w), -EPROTO);		/* twice */
	assert_int_equal(m->secret(p.ci, ss), -EPROTO);		/* before finish */
	pair_msg2(&p);
	assert_int_equal(m->msg2(p.cr, rd_init(p.msg1, p.msg1_len), &w), -EPROTO);
	assert_int_equal(w.len, 0);
	assert_int_equal(m->finish(p.ci, rd_init(p.msg2, p.msg2_len)), 0);
	assert_int_equal(m->finish(p.ci, rd_init(p.msg2, p.msg2_len)), -EPROTO);
	assert_int_equal(m->secret(p.ci, ss), 0);
	memset(ss, 0xaa, sizeof(ss));
	assert_int_equal(m->secret(p.ci, ss), -EPROTO);		/* once */
	assert_true(mfs_ct_is_zero(ss, sizeof(ss)));
	/* done() wipes: the responder's secret is gone afterwards */
	m->done(p.cr);
	assert_true(mfs_ct_is_zero(p.cr, m->ctx_size));
	assert_int_equal(m->secret(p.cr, ss), -EPROTO);
	pair_end(&p);
}

/* Raw KEM view: exact lengths, secret zeroed on failure. */
static void test_kem_view(void **state)
{
	const struct keys *k = *state;
	const struct kex_kem *kem = k->m->kem;
	uint8_t ct[MSG2_CAP], ss[KEX_SECRET_LEN], ss2[KEX_SECRET_LEN];

	assert_int_equal(kem->sk_len, k->sk->len);
	assert_int_equal(kem->sk_len_alt, 0);
	memset(ss, 0xaa, sizeof(ss));
	assert_int_equal(kem->encap(ct, ss, k->pk, kem->pk_len - 1), -EBADMSG);
	assert_true(mfs_ct_is_zero(ss, sizeof(ss)));
	assert_int_equal(kem->encap(ct, ss, k->pk, kem->pk_len), 0);
	memset(ss2, 0xaa, sizeof(ss2));
	assert_int_equal(kem->decap(ss2, ct, kem->ct_len + 1, k->sk->p, k->sk->len), -EBADMSG);
	assert_true(mfs_ct_is_zero(ss2, sizeof(ss2)));
	memset(ss2, 0xaa, sizeof(ss2));
	assert_int_equal(kem->decap(ss2, ct, kem->ct_len, k->sk->p, k->sk->len - 1), -EINVAL);
	assert_true(mfs_ct_is_zero(ss2, sizeof(ss2)));
	assert_int_equal(kem->decap(ss2, ct, kem->ct_len, k->sk->p, k->sk->len), 0);
	assert_memory_equal(ss, ss2, sizeof(ss));
}

/* A precomputed key ID gives the same exchange; a wrong one is caught by the pin check. */
static void test_precomputed_key_id(void **state)
{
	const struct keys *k = *state;
	struct kex_env ei = env_initiator(k), er = env_responder(k);
	uint8_t id[32], bad[32], msg1[64], msg2[MSG2_CAP], ss_i[32], ss_r[32];
	void *ci = calloc(1, k->m->ctx_size), *cr = calloc(1, k->m->ctx_size);
	struct wbuf w1 = wbuf_init(msg1, sizeof(msg1)), w2 = wbuf_init(msg2, sizeof(msg2));

	assert_non_null(ci);
	assert_non_null(cr);
	assert_int_equal(hash(HASH_SHA3_256, k->pk, k->m->kem->pk_len, id), 0);
	ei.static_pk_id = id;
	er.static_pk_id = id;
	assert_int_equal(k->m->init(ci, &ei, KEX_INITIATOR), 0);
	assert_int_equal(k->m->init(cr, &er, KEX_RESPONDER), 0);
	assert_int_equal(k->m->msg1(ci, &w1), 0);
	assert_memory_equal(msg1, id, sizeof(id));	/* the key ID is what travels */
	assert_int_equal(k->m->msg2(cr, rd_init(msg1, w1.len), &w2), 0);
	assert_int_equal(k->m->finish(ci, rd_init(msg2, w2.len)), 0);
	assert_int_equal(k->m->secret(ci, ss_i), 0);
	assert_int_equal(k->m->secret(cr, ss_r), 0);
	assert_memory_equal(ss_i, ss_r, sizeof(ss_i));
	k->m->done(ci);
	k->m->done(cr);

	/* a responder whose cached ID is stale refuses the initiator's real one */
	memcpy(bad, id, sizeof(bad));
	bad[5] ^= 1;
	er.static_pk_id = bad;
	ei.static_pk_id = NULL;
	w1 = wbuf_init(msg1, sizeof(msg1));
	w2 = wbuf_init(msg2, sizeof(msg2));
	assert_int_equal(k->m->init(ci, &ei, KEX_INITIATOR), 0);
	assert_int_equal(k->m->init(cr, &er, KEX_RESPONDER), 0);
	assert_int_equal(k->m->msg1(ci, &w1), 0);
	assert_int_equal(k->m->msg2(cr, rd_init(msg1, w1.len), &w2), -EKEYREJECTED);
	k->m->done(ci);
	k->m->done(cr);
	free(ci);
	free(cr);
}

#define FOR_SETS(fn) \
	cmocka_unit_test_prestate(fn, &sets[0]), cmocka_unit_test_prestate(fn, &sets[1])

int main(void)
{
	const struct CMUnitTest tests[] = {
		FOR_SETS(test_metadata),
		FOR_SETS(test_exchange),
		FOR_SETS(test_tampered_ct),
		FOR_SETS(test_bad_lengths),
		FOR_SETS(test_wrong_pin),
		FOR_SETS(test_init_needs_keys),
		FOR_SETS(test_call_order),
		FOR_SETS(test_kem_view),
		FOR_SETS(test_precomputed_key_id),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
