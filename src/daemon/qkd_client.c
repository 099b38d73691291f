/* SPDX-License-Identifier: Apache-2.0 */
/* mfsd's ETSI 014 client for qkd014 (qkd_client.h, docs/qkd014.md). */
#include "base/clock.h"
#include "daemon/qkd_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/secret.h"
#include "daemon/kme_json.h"
#include "etsi014/etsi014.h"

enum xkind { X_STATUS, X_ENC, X_DEC };

struct qpeer;

struct xfer {
	struct qkdc *q;
	struct qpeer *qp;
	enum xkind kind;
	CURL *easy;
	struct curl_slist *hdrs;
	struct secret *body;		/* response, KME_BODY_MAX */
	size_t len;
	bool too_big;
	char req[4096];			/* POST body (key IDs or the key request) */
	/* dec_keys: what was asked */
	char kme[KME_ID_MAX + 1], master[KME_ID_MAX + 1];
	uint8_t ids[KME_KEYS_MAX][KME_KEY_ID_LEN];
	size_t n_ids;
};

struct mkey {
	struct kex_qkd_ref ref;
	struct secret *key;
	bool acked;
	int64_t at_ms;
};

struct skey {
	struct kex_qkd_ref ref;
	struct secret *key;
	int64_t at_ms;
};

struct decreq {
	char kme[KME_ID_MAX + 1], master[KME_ID_MAX + 1];
	uint8_t ids[KME_KEYS_MAX][KME_KEY_ID_LEN];
	size_t n;
	unsigned tries;
};

#define QKDC_DECQ 8

struct qpeer {
	struct cf_peer *cp;
	char name[CF_NAME_MAX + 1];		/* the peer's name (cp is looked up by it) */
	char sae[KME_ID_MAX + 1];		/* the peer's SAE ID */
	char kme_id[KME_ID_MAX + 1];		/* our KME's ID (Status source_KME_ID) */
	struct mkey m[QKDC_MBUF];
	size_t nm;
	struct skey s[QKDC_SBUF];
	size_t ns;
	uint8_t used[QKDC_USED][KME_KEY_ID_LEN];
	size_t nused;
	struct decreq dq[QKDC_DECQ];
	size_t ndq;
	enum cf_qkd_state st;
	int64_t since;
	char why[CF_REASON_MAX];
	unsigned fails;				/* requests failed in a row */
	int64_t next_poll_ms, next_enc_ms, next_dec_ms;
	unsigned enc_backoff_ms, dec_backoff_ms;
	struct xfer *x_status, *x_enc, *x_dec;
};

struct qkdc {
	/* [node] qkd_*, copied: the configuration may be reloaded (qkdc_reconfigure) */
	char sae_id[CONFIG_ID_MAX + 1];
	char cert[CONFIG_PATH_MAX], key[CONFIG_PATH_MAX], ca[CONFIG_PATH_MAX];
	struct cf *cf;
	struct store *st;
	CURLM *multi;
	int ep;
	int64_t timer_ms;			/* curl's timer deadline, -1 none */
	struct qpeer peers[CONFIG_MAX_PEERS];
	size_t n;
	char base[300];				/* https://host:port */
};

static struct qpeer *qpeer_of(struct qkdc *q, const struct cf_peer *cp)
{
	for (size_t i = 0; i < q->n; i++)
		if (q->peers[i].cp == cp)
			return &q->peers[i];
	return NULL;
}

/* ---- health ---- */

static void audit(struct qkdc *q, const char *what, const char *detail)
{
	int r = store_audit_append(q->st, time(NULL), "qkd014", what, detail, 0);

	if (r < 0)
		log_warning("qkd: cannot audit %s: %s", what, strerror(-r));
}

static void went_ok(struct qkdc *q, struct qpeer *qp)
{
	qp->fails = 0;
	if (qp->st == CF_QKD_OUTAGE) {
		char d[256];

		log_notice("peer %s: QKD: KME %s answers again: QKD back (outage since %lld: %s)",
			   qp->cp->cfg.name, q->base, (long long)qp->since, qp->why);
		snprintf(d, sizeof(d), "peer %.64s: KME back after outage since %lld", qp->cp->cfg.name,
			 (long long)qp->since);
		audit(q, "qkd-recovered", d);
	}
	qp->st = CF_QKD_OK;
	qp->why[0] = '\0';
}

/* One failed request; the second in a row (or a QBER alarm at once) is an outage. */
__attribute__((format(printf, 4, 5)))
static void went_bad(struct qkdc *q, struct qpeer *qp, bool alarm, const char *fmt, ...)
{
	char why[CF_REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	qp->fails++;
	if (qp->st == CF_QKD_OUTAGE || (!alarm && qp->fails < 2)) {
		log_info("peer %s: QKD: %s", qp->cp->cfg.name, why);
		if (qp->st == CF_QKD_OUTAGE && alarm && !strstr(qp->why, "QBER"))
			snprintf(qp->why, sizeof(qp->why), "%s", why);
		return;
	}
	qp->st = CF_QKD_OUTAGE;
	qp->since = time(NULL);
	snprintf(qp->why, sizeof(qp->why), "%s", why);
	if (alarm) {
		char d[256];

		log_warning("peer %s: SECURITY: QKD alarm from KME %s: %s (eavesdropping suspected "
			    "on the relay path; classes using qkd014 are affected)",
			    qp->cp->cfg.name, q->base, why);
		snprintf(d, sizeof(d), "peer %.64s: %.150s", qp->cp->cfg.name, why);
		audit(q, "qkd-alarm", d);
	} else {
		log_warning("peer %s: QKD: KME %s outage: %s", qp->cp->cfg.name, q->base, why);
		audit(q, "qkd-outage", why);
	}
}

/* ---- transfers ---- */

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if (len > x->body->len - x->len) {
		x->too_big = true;
		return 0;	/* curl aborts the transfer */
	}
	memcpy(x->body->p + x->len, p, len);
	x->len += len;
	return len;
}

static void xfer_free(struct xfer *x)
{
	if (!x)
		return;
	if (x->easy) {
		curl_multi_remove_handle(x->q->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->hdrs);
	secret_free(x->body);
	mfs_wipe(x->req, sizeof(x->req));
	free(x);
}

static struct xfer *xfer_new(struct qkdc *q, struct qpeer *qp, enum xkind kind, const char *path_sae,
			     const char *op, const char *post)
{
	struct xfer *x = calloc(1, sizeof(*x));
	char url[512], *esc = NULL;

	if (!x)
		return NULL;
	x->q = q;
	x->qp = qp;
	x->kind = kind;
	if (!(x->body = secret_alloc(KME_BODY_MAX)) || !(x->easy = curl_easy_init()))
		goto fail;
	if (!(esc = curl_easy_escape(x->easy, path_sae, 0)))
		goto fail;
	snprintf(url, sizeof(url), "%s/api/v1/keys/%s/%s", q->base, esc, op);
	curl_free(esc);
	curl_easy_setopt(x->easy, CURLOPT_URL, url);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(x->easy, CURLOPT_SSLCERT, q->cert);
	curl_easy_setopt(x->easy, CURLOPT_SSLKEY, q->key);
	curl_easy_setopt(x->easy, CURLOPT_CAINFO, q->ca);
	curl_easy_setopt(x->easy, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(x->easy, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)QKDC_TIMEOUT_MS);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)QKDC_TIMEOUT_MS);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	if (post) {
		snprintf(x->req, sizeof(x->req), "%s", post);
		/* no "Expect: 100-continue" round trip for larger bodies */
		x->hdrs = curl_slist_append(curl_slist_append(NULL, "Content-Type: application/json"),
					    "Expect:");
		curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->req);
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(x->req));
	}
	if (curl_multi_add_handle(q->multi, x->easy) != CURLM_OK)
		goto fail;
	return x;
fail:
	if (x->easy) {
		curl_easy_cleanup(x->easy);
		x->easy = NULL;
	}
	xfer_free(x);
	return NULL;
}

/* ---- master side: enc_keys, share, take ---- */

static size_t unused_master(const struct qpeer *qp)
{
	return qp->nm;
}

static void enc_done(struct qkdc *q, struct qpeer *qp, struct xfer *x, long code, CURLcode cc)
{
	struct kme_keys k;
	char why[160], msg[KME_MSG_MAX + 1];
	int64_t now = mfs_mono_ms();
	size_t n = QKDC_BATCH;

	if (n > QKDC_MBUF - qp->nm)
		n = QKDC_MBUF - qp->nm;
	if (cc != CURLE_OK || code != 200) {
		kme_parse_error(x->body->p, x->len, msg, sizeof(msg));
		went_bad(q, qp, strstr(msg, "QBER") != NULL, "enc_keys failed: %s%s%s",
			 cc != CURLE_OK ? curl_easy_strerror(cc) : "HTTP error", msg[0] ? ": " : "", msg);
		goto retry;
	}
	if (kme_parse_keys(x->body->p, x->len, QKDC_BATCH, QKDC_KEY_BITS / 8, NULL, &k, why,
			   sizeof(why)) < 0) {
		went_bad(q, qp, false, "enc_keys: malformed answer refused: %s", why);
		goto retry;
	}
	{
		uint8_t ids[KME_KEYS_MAX][KME_KEY_ID_LEN];
		size_t got = 0;

		for (size_t i = 0; i < k.n && got < n; i++) {
			struct mkey *m = &qp->m[qp->nm];

			if (!(m->key = secret_dup(k.keys->p + i * k.bytes, k.bytes)))
				break;
			memset(&m->ref, 0, sizeof(m->ref));
			snprintf(m->ref.kme_id, sizeof(m->ref.kme_id), "%s", qp->kme_id);
			snprintf(m->ref.master_sae, sizeof(m->ref.master_sae), "%s",
				 q->sae_id);
			memcpy(m->ref.key_id, k.ids[i], KME_KEY_ID_LEN);
			m->acked = false;
			m->at_ms = now;
			memcpy(ids[got++], k.ids[i], KME_KEY_ID_LEN);
			qp->nm++;
		}
		kme_keys_free(&k);
		if (got && cf_qkd_share(qp->cp, qp->kme_id, q->sae_id,
					(const uint8_t (*)[CF_QKD_ID_LEN])ids, got) < 0)
			log_info("peer %s: QKD: cannot share key IDs (link down)", qp->cp->cfg.name);
		log_debug("peer %s: QKD: %zu keys from enc_keys, shared", qp->cp->cfg.name, got);
	}
	qp->enc_backoff_ms = 0;
	qp->next_enc_ms = now;
	return;
retry:
	qp->enc_backoff_ms = qp->enc_backoff_ms ? 2 * qp->enc_backoff_ms : QKDC_RETRY_MIN_MS;
	if (qp->enc_backoff_ms > QKDC_RETRY_MAX_MS)
		qp->enc_backoff_ms = QKDC_RETRY_MAX_MS;
	qp->next_enc_ms = now + qp->enc_backoff_ms;
}

/* ---- slave side: dec_keys, ack, lookup ---- */

static void dec_done(struct qkdc *q, struct qpeer *qp, struct xfer *x, long code, CURLcode cc)
{
	struct kme_keys k;
	char why[160], msg[KME_MSG_MAX + 1];
	int64_t now = mfs_mono_ms();
	struct decreq *d = &qp->dq[0];

	if (cc != CURLE_OK || code != 200) {
		kme_parse_error(x->body->p, x->len, msg, sizeof(msg));
		if (cc == CURLE_OK && code == 400) {
			/* not found (or refused): retrying does not help; the master ages them out */
			log_warning("peer %s: QKD: dec_keys refused (%s): %zu shared key IDs dropped",
				    qp->cp->cfg.name, msg[0] ? msg : "HTTP 400", d->n);
			d->tries = 99;
		} else {
			went_bad(q, qp, strstr(msg, "QBER") != NULL, "dec_keys failed: %s%s%s",
				 cc != CURLE_OK ? curl_easy_strerror(cc) : "HTTP error",
				 msg[0] ? ": " : "", msg);
		}
		goto retry;
	}
	if (kme_parse_keys(x->body->p, x->len, x->n_ids, QKDC_KEY_BITS / 8,
			   (const uint8_t (*)[KME_KEY_ID_LEN])x->ids, &k, why, sizeof(why)) < 0) {
		went_bad(q, qp, false, "dec_keys: malformed answer refused: %s", why);
		d->tries = 99;
		goto retry;
	}
	{
		uint8_t ids[KME_KEYS_MAX][KME_KEY_ID_LEN];
		size_t got = 0;

		for (size_t i = 0; i < k.n; i++) {
			struct skey *s;

			if (qp->ns == QKDC_SBUF) {
				/* full: drop the oldest (it would age out anyway) */
				secret_free(qp->s[0].key);
				memmove(&qp->s[0], &qp->s[1], (QKDC_SBUF - 1) * sizeof(qp->s[0]));
				qp->ns--;
			}
			s = &qp->s[qp->ns];
			if (!(s->key = secret_dup(k.keys->p + i * k.bytes, k.bytes)))
				break;
			memset(&s->ref, 0, sizeof(s->ref));
			snprintf(s->ref.kme_id, sizeof(s->ref.kme_id), "%s", x->kme);
			snprintf(s->ref.master_sae, sizeof(s->ref.master_sae), "%s", x->master);
			memcpy(s->ref.key_id, k.ids[i], KME_KEY_ID_LEN);
			s->at_ms = now;
			qp->ns++;
			memcpy(ids[got++], k.ids[i], KME_KEY_ID_LEN);
		}
		kme_keys_free(&k);
		if (got)
			cf_qkd_ack(qp->cp, (const uint8_t (*)[CF_QKD_ID_LEN])ids, got);
	}
	qp->dec_backoff_ms = 0;
	memmove(&qp->dq[0], &qp->dq[1], (qp->ndq - 1) * sizeof(qp->dq[0]));
	qp->ndq--;
	qp->next_dec_ms = now;
	return;
retry:
	if (++d->tries >= 3) {
		memmove(&qp->dq[0], &qp->dq[1], (qp->ndq - 1) * sizeof(qp->dq[0]));
		qp->ndq--;
	}
	qp->dec_backoff_ms = qp->dec_backoff_ms ? 2 * qp->dec_backoff_ms : QKDC_RETRY_MIN_MS;
	if (qp->dec_backoff_ms > QKDC_RETRY_MAX_MS)
		qp->dec_backoff_ms = QKDC_RETRY_MAX_MS;
	qp->next_dec_ms = now + qp->dec_backoff_ms;
}

static void status_done(struct qkdc *q, struct qpeer *qp, struct xfer *x, long code, CURLcode cc)
{
	struct kme_status st;
	char why[160], msg[KME_MSG_MAX + 1];

	qp->next_poll_ms = mfs_mono_ms() + QKDC_POLL_MS;
	if (cc != CURLE_OK || code != 200) {
		kme_parse_error(x->body->p, x->len, msg, sizeof(msg));
		went_bad(q, qp, strstr(msg, "QBER") != NULL, "status failed: %s%s%s",
			 cc != CURLE_OK ? curl_easy_strerror(cc) : "HTTP error", msg[0] ? ": " : "", msg);
		return;
	}
	if (kme_parse_status(x->body->p, x->len, q->sae_id, qp->sae, &st, why,
			     sizeof(why)) < 0) {
		went_bad(q, qp, false, "status: malformed answer refused: %s", why);
		return;
	}
	snprintf(qp->kme_id, sizeof(qp->kme_id), "%s", st.source_kme);
	went_ok(q, qp);
}

static void finish(struct qkdc *q)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(q->multi, &left))) {
		struct xfer *x = NULL;
		long code = 0;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		if (!x)
			continue;
		switch (x->kind) {
		case X_STATUS:
			x->qp->x_status = NULL;
			status_done(q, x->qp, x, code, m->data.result);
			break;
		case X_ENC:
			x->qp->x_enc = NULL;
			enc_done(q, x->qp, x, code, m->data.result);
			break;
		case X_DEC:
			x->qp->x_dec = NULL;
			dec_done(q, x->qp, x, code, m->data.result);
			break;
		}
		xfer_free(x);
	}
}

/* ---- scheduling ---- */

static void age(struct qpeer *qp, int64_t now)
{
	for (size_t i = 0; i < qp->nm;) {
		if (!qp->m[i].acked && now - qp->m[i].at_ms > QKDC_ACK_WAIT_MS) {
			secret_free(qp->m[i].key);
			qp->m[i] = qp->m[--qp->nm];
			memset(&qp->m[qp->nm], 0, sizeof(qp->m[0]));
		} else {
			i++;
		}
	}
	while (qp->ns && now - qp->s[0].at_ms > QKDC_SLAVE_TTL_MS) {
		secret_free(qp->s[0].key);
		memmove(&qp->s[0], &qp->s[1], (qp->ns - 1) * sizeof(qp->s[0]));
		qp->ns--;
	}
}

static void schedule(struct qkdc *q, struct qpeer *qp, int64_t now)
{
	age(qp, now);
	if (!qp->x_status && now >= qp->next_poll_ms) {
		qp->x_status = xfer_new(q, qp, X_STATUS, qp->sae, "status", NULL);
		qp->next_poll_ms = now + QKDC_POLL_MS;
	}
	if (!qp->x_enc && qp->cp->up && qp->st == CF_QKD_OK && qp->kme_id[0] &&
	    now >= qp->next_enc_ms && unused_master(qp) + QKDC_BATCH <= QKDC_MBUF &&
	    unused_master(qp) < QKDC_LOW) {
		char body[64];

		snprintf(body, sizeof(body), "{\"number\":%d,\"size\":%d}", QKDC_BATCH, QKDC_KEY_BITS);
		qp->x_enc = xfer_new(q, qp, X_ENC, qp->sae, "enc_keys", body);
	}
	if (!qp->x_dec && qp->ndq && now >= qp->next_dec_ms) {
		struct decreq *d = &qp->dq[0];
		char body[4096];
		struct wbuf w = wbuf_init(body, sizeof(body) - 1);

		wbuf_put(&w, "{\"key_IDs\":[", 12);
		for (size_t i = 0; i < d->n; i++) {
			char id[ETSI014_KEY_ID_STR_LEN + 1];

			etsi014_key_id_format(d->ids[i], id);
			if (i)
				wbuf_u8(&w, ',');
			wbuf_put(&w, "{\"key_ID\":\"", 11);
			wbuf_put(&w, id, ETSI014_KEY_ID_STR_LEN);
			wbuf_put(&w, "\"}", 2);
		}
		wbuf_put(&w, "]}", 2);
		if (wbuf_error(&w)) {	/* cannot happen: 64 IDs fit; drop the batch */
			memmove(&qp->dq[0], &qp->dq[1], (qp->ndq - 1) * sizeof(qp->dq[0]));
			qp->ndq--;
			return;
		}
		body[w.len] = '\0';
		qp->x_dec = xfer_new(q, qp, X_DEC, d->master, "dec_keys", body);
		if (qp->x_dec) {
			snprintf(qp->x_dec->kme, sizeof(qp->x_dec->kme), "%s", d->kme);
			snprintf(qp->x_dec->master, sizeof(qp->x_dec->master), "%s", d->master);
			memcpy(qp->x_dec->ids, d->ids, d->n * KME_KEY_ID_LEN);
			qp->x_dec->n_ids = d->n;
		}
	}
}

void qkdc_process(struct qkdc *q, int64_t now_ms)
{
	struct epoll_event evs[16];
	int n, running;

	if (!q)
		return;
	n = epoll_wait(q->ep, evs, 16, 0);
	for (int i = 0; i < n; i++) {
		int flags = 0;

		if (evs[i].events & EPOLLIN)
			flags |= CURL_CSELECT_IN;
		if (evs[i].events & EPOLLOUT)
			flags |= CURL_CSELECT_OUT;
		if (evs[i].events & (EPOLLERR | EPOLLHUP))
			flags |= CURL_CSELECT_ERR;
		curl_multi_socket_action(q->multi, evs[i].data.fd, flags, &running);
	}
	if (q->timer_ms >= 0 && now_ms >= q->timer_ms) {
		q->timer_ms = -1;
		curl_multi_socket_action(q->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	finish(q);
	for (size_t i = 0; i < q->n; i++)
		schedule(q, &q->peers[i], now_ms);
	/* new transfers start on curl's timer (set by add_handle) */
	if (q->timer_ms >= 0 && mfs_mono_ms() >= q->timer_ms) {
		q->timer_ms = -1;
		curl_multi_socket_action(q->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		finish(q);
	}
}

int64_t qkdc_wait_ms(const struct qkdc *q, int64_t now_ms)
{
	int64_t w = 1000;

	if (!q)
		return w;
	if (q->timer_ms >= 0)
		w = q->timer_ms <= now_ms ? 0 : q->timer_ms - now_ms;
	for (size_t i = 0; i < q->n; i++) {
		const struct qpeer *qp = &q->peers[i];
		int64_t t[] = { qp->next_poll_ms, qp->ndq ? qp->next_dec_ms : INT64_MAX };

		for (size_t k = 0; k < 2; k++)
			if (t[k] != INT64_MAX)
				w = t[k] <= now_ms ? 0 : (t[k] - now_ms < w ? t[k] - now_ms : w);
	}
	return w > 1000 ? 1000 : w;
}

int qkdc_fd(const struct qkdc *q)
{
	return q ? q->ep : -1;
}

/* curl tells which sockets to watch */
static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct qkdc *q = userp;
	struct epoll_event ee = { .data.fd = s };

	(void)e;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(q->ep, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	ee.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	if (epoll_ctl(q->ep, EPOLL_CTL_MOD, s, &ee) < 0 && errno == ENOENT)
		epoll_ctl(q->ep, EPOLL_CTL_ADD, s, &ee);
	return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
	struct qkdc *q = userp;

	(void)m;
	q->timer_ms = timeout_ms < 0 ? -1 : mfs_mono_ms() + timeout_ms;
	return 0;
}

/* ---- cf_qkd_ops ---- */

static enum cf_qkd_state op_state(void *arg, const struct cf_peer *p, int64_t *since, char *why,
				  size_t n)
{
	struct qpeer *qp = qpeer_of(arg, p);

	if (!qp)
		return CF_QKD_NONE;
	if (qp->st == CF_QKD_OUTAGE) {
		*since = qp->since;
		snprintf(why, n, "%s", qp->why);
	}
	return qp->st == CF_QKD_NONE ? CF_QKD_OUTAGE : qp->st;
}

static size_t op_ready(void *arg, const struct cf_peer *p)
{
	struct qpeer *qp = qpeer_of(arg, p);
	size_t n = 0;

	for (size_t i = 0; qp && i < qp->nm; i++)
		n += qp->m[i].acked;
	return n;
}

static int op_take(void *arg, struct cf_peer *p, struct kex_qkd_ref *ref, struct secret **ret)
{
	struct qpeer *qp = qpeer_of(arg, p);

	for (size_t i = 0; qp && i < qp->nm; i++) {
		if (!qp->m[i].acked)
			continue;
		*ref = qp->m[i].ref;
		*ret = qp->m[i].key;
		/* handed over once: gone from the buffer */
		memmove(&qp->m[i], &qp->m[i + 1], (qp->nm - i - 1) * sizeof(qp->m[0]));
		qp->nm--;
		memset(&qp->m[qp->nm], 0, sizeof(qp->m[0]));
		return 0;
	}
	return -EAGAIN;
}

static int op_lookup(void *arg, struct cf_peer *p, const struct kex_qkd_ref *ref,
		     struct secret **ret)
{
	struct qpeer *qp = qpeer_of(arg, p);

	if (!qp)
		return -ENOKEY;
	for (size_t i = 0; i < qp->nused && i < QKDC_USED; i++)
		if (memcmp(qp->used[i], ref->key_id, KME_KEY_ID_LEN) == 0)
			return -EALREADY;
	for (size_t i = 0; i < qp->ns; i++) {
		struct skey *s = &qp->s[i];

		if (memcmp(s->ref.key_id, ref->key_id, KME_KEY_ID_LEN) != 0 ||
		    strcmp(s->ref.kme_id, ref->kme_id) != 0 ||
		    strcmp(s->ref.master_sae, ref->master_sae) != 0)
			continue;
		*ret = s->key;
		memcpy(qp->used[qp->nused++ % QKDC_USED], ref->key_id, KME_KEY_ID_LEN);
		memmove(&qp->s[i], &qp->s[i + 1], (qp->ns - i - 1) * sizeof(qp->s[0]));
		qp->ns--;
		memset(&qp->s[qp->ns], 0, sizeof(qp->s[0]));
		return 0;
	}
	return -ENOKEY;
}

static void op_offered(void *arg, struct cf_peer *p, const char *kme, const char *master,
		       const uint8_t (*ids)[CF_QKD_ID_LEN], size_t n)
{
	struct qpeer *qp = qpeer_of(arg, p);
	struct decreq *d;

	if (!qp || n == 0 || n > KME_KEYS_MAX)
		return;
	if (strcmp(master, qp->sae) != 0) {
		log_warning("peer %s: QKD: key IDs shared for master SAE %s, but the peer's SAE is %s: "
			    "ignored", p->cfg.name, master, qp->sae);
		return;
	}
	if (qp->ndq == QKDC_DECQ) {
		log_warning("peer %s: QKD: too many key-ID batches waiting; one dropped", p->cfg.name);
		return;
	}
	d = &qp->dq[qp->ndq++];
	memset(d, 0, sizeof(*d));
	snprintf(d->kme, sizeof(d->kme), "%s", kme);
	snprintf(d->master, sizeof(d->master), "%s", master);
	memcpy(d->ids, ids, n * KME_KEY_ID_LEN);
	d->n = n;
}

static void op_fetched(void *arg, struct cf_peer *p, const uint8_t (*ids)[CF_QKD_ID_LEN], size_t n)
{
	struct qpeer *qp = qpeer_of(arg, p);

	for (size_t j = 0; qp && j < n; j++)
		for (size_t i = 0; i < qp->nm; i++)
			if (memcmp(qp->m[i].ref.key_id, ids[j], KME_KEY_ID_LEN) == 0)
				qp->m[i].acked = true;
}

static const struct cf_qkd_ops ops = {
	.state = op_state, .ready = op_ready, .take = op_take, .lookup = op_lookup,
	.offered = op_offered, .fetched = op_fetched,
};

/* ---- setup ---- */

static void qpeer_clear(struct qpeer *qp)
{
	xfer_free(qp->x_status);
	xfer_free(qp->x_enc);
	xfer_free(qp->x_dec);
	for (size_t k = 0; k < qp->nm; k++)
		secret_free(qp->m[k].key);
	for (size_t k = 0; k < qp->ns; k++)
		secret_free(qp->s[k].key);
	memset(qp, 0, sizeof(*qp));
}

void qkdc_reconfigure(struct qkdc *q, const struct config *cfg)
{
	struct qpeer *old;
	size_t n_old;

	if (!q || !(old = calloc(CONFIG_MAX_PEERS, sizeof(*old))))
		return;
	n_old = q->n;
	memcpy(old, q->peers, sizeof(q->peers));
	memset(q->peers, 0, sizeof(q->peers));
	q->n = 0;
	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct config_peer *pc = &cfg->peers[i];
		struct qpeer *qp;
		size_t k;

		if (!pc->qkd_sae_id[0])
			continue;
		qp = &q->peers[q->n++];
		/* a peer kept with the same SAE keeps its buffers and state */
		for (k = 0; k < n_old; k++)
			if (old[k].cp && !strcmp(old[k].name, pc->name) && !strcmp(old[k].sae, pc->qkd_sae_id))
				break;
		if (k < n_old) {
			*qp = old[k];
			memset(&old[k], 0, sizeof(old[k]));
			qp->cp = cf_peer_by_name(q->cf, pc->name);
			continue;
		}
		qp->cp = cf_peer_by_name(q->cf, pc->name);
		snprintf(qp->name, sizeof(qp->name), "%s", pc->name);
		snprintf(qp->sae, sizeof(qp->sae), "%s", pc->qkd_sae_id);
		/*
		 * Presumed working until this node sees otherwise (two failed
		 * polls): exchanges wait (bounded, CF_QKD_WAIT_S) for the first
		 * keys rather than start without QKD.
		 */
		qp->st = CF_QKD_OK;
	}
	for (size_t k = 0; k < n_old; k++)	/* removed, or its SAE changed: keys wiped */
		if (old[k].cp)
			qpeer_clear(&old[k]);
	/* transfers point at their peer: repoint them at the moved entries */
	for (size_t i = 0; i < q->n; i++) {
		struct xfer *xs[] = { q->peers[i].x_status, q->peers[i].x_enc, q->peers[i].x_dec };

		for (size_t k = 0; k < 3; k++)
			if (xs[k])
				xs[k]->qp = &q->peers[i];
	}
	free(old);
}

int qkdc_new(const struct config *cfg, struct cf *cf, struct store *st, struct qkdc **ret)
{
	const struct config_node *nd = &cfg->node;
	struct qkdc *q;

	*ret = NULL;
	for (size_t i = 0; i < cfg->n_peers; i++)
		for (size_t c = 0; c < cfg->peers[i].n_classes; c++) {
			const struct class_policy *pol = &cfg->peers[i].classes[c].policy;

			for (size_t k = 0; k < pol->n_required; k++)
				if (pol->required[k] == KEX_ID_QKD014 &&
				    (!nd->qkd_kme.port || !cfg->peers[i].qkd_sae_id[0])) {
					log_err("%s: class %s of peer %s requires qkd014, which needs "
						"qkd_kme (with qkd_sae_id, qkd_cert, qkd_key, qkd_ca) in "
						"[node] and qkd_sae_id in [peer %s]", cfg->source,
						pol->name, cfg->peers[i].name, cfg->peers[i].name);
					return -EINVAL;
				}
		}
	if (!nd->qkd_kme.port)
		return 0;
	if (!nd->qkd_sae_id[0] || !nd->qkd_cert[0] || !nd->qkd_key[0] || !nd->qkd_ca[0]) {
		log_err("%s: qkd_kme needs qkd_sae_id, qkd_cert, qkd_key and qkd_ca in [node]",
			cfg->source);
		return -EINVAL;
	}
	kme_json_init();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -EIO;
	if (!(q = calloc(1, sizeof(*q))))
		return -ENOMEM;
	snprintf(q->sae_id, sizeof(q->sae_id), "%s", nd->qkd_sae_id);
	snprintf(q->cert, sizeof(q->cert), "%s", nd->qkd_cert);
	snprintf(q->key, sizeof(q->key), "%s", nd->qkd_key);
	snprintf(q->ca, sizeof(q->ca), "%s", nd->qkd_ca);
	q->cf = cf;
	q->st = st;
	q->timer_ms = -1;
	q->ep = epoll_create1(EPOLL_CLOEXEC);
	q->multi = curl_multi_init();
	if (q->ep < 0 || !q->multi) {
		qkdc_free(q);
		return -ENOMEM;
	}
	curl_multi_setopt(q->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(q->multi, CURLMOPT_SOCKETDATA, q);
	curl_multi_setopt(q->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(q->multi, CURLMOPT_TIMERDATA, q);
	snprintf(q->base, sizeof(q->base), nd->qkd_kme.family == AF_INET6 ? "https://[%s]:%u" :
		 "https://%s:%u", nd->qkd_kme.host, nd->qkd_kme.port);
	qkdc_reconfigure(q, cfg);
	cf_set_qkd(cf, &ops, q);
	log_notice("QKD: ETSI 014 client for KME %s as SAE %s, %zu peer(s)", q->base, nd->qkd_sae_id,
		   q->n);
	*ret = q;
	return 0;
}

void qkdc_free(struct qkdc *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->n; i++)
		qpeer_clear(&q->peers[i]);
	if (q->multi)
		curl_multi_cleanup(q->multi);
	if (q->ep >= 0)
		close(q->ep);
	if (q->cf)
		cf_set_qkd(q->cf, NULL, NULL);
	free(q);
	curl_global_cleanup();
}
