/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Static key generation for a rotation (cf_rot_due, docs/mfsd.md "Static
 * key rotation"): on a worker thread of its own, reported through an
 * eventfd, so the event loop and the exchanges never wait for it.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "cf/keyring.h"
#include "daemon/mfsd_int.h"
#include "daemon/setup.h"

static void *keygen_main(void *arg)
{
	struct keygen *kg = arg;
	uint64_t one = 1;

	int64_t t0 = mfs_mono_ms();

	kg->err = keyring_generate(kg->method, kg->dir, kg->now, &kg->key);
	kg->ms = mfs_mono_ms() - t0;
	/* the loop reads it; a failed write leaves the thread to be joined at exit */
	if (write(kg->efd, &one, sizeof(one)) != sizeof(one))
		kg->err = kg->err < 0 ? kg->err : -EIO;
	return NULL;
}

void mfsd_keygen_maybe_start(struct daemon *d)
{
	struct keygen *kg = &d->kg;
	uint16_t method;
	int r;

	if (kg->running || kg->efd < 0 || !cf_rot_due(d->cf, time(NULL), &method))
		return;
	kg->method = method;
	kg->now = time(NULL);
	kg->key = NULL;
	kg->err = 0;
	cf_rot_started(d->cf, method);
	if ((r = pthread_create(&kg->th, NULL, keygen_main, kg)) != 0) {
		cf_rot_failed(d->cf, method, -r, time(NULL));
		return;
	}
	kg->running = true;
	log_info("static key rotation: generating a new %s key",
		 kex_method_name(method));
}

void mfsd_keygen_done(struct daemon *d)
{
	struct keygen *kg = &d->kg;
	uint64_t v;

	if (read(kg->efd, &v, sizeof(v)) != sizeof(v) || !kg->running)
		return;
	pthread_join(kg->th, NULL);
	kg->running = false;
	if (kg->err < 0) {
		cf_rot_failed(d->cf, kg->method, kg->err, time(NULL));
	} else {
		log_info("static key rotation: new %s pair generated and written in %lld ms "
			 "(worker thread)", kex_method_name(kg->method), (long long)kg->ms);
		cf_rot_install(d->cf, kg->key, time(NULL));	/* takes the key */
	}
	kg->key = NULL;
}

int mfsd_keygen_open(struct daemon *d)
{
	struct keygen *kg = &d->kg;

	if (mfsd_keyring_dir(d->cfg, kg->dir, sizeof(kg->dir)) < 0)
		return -ENAMETOOLONG;
	if ((kg->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		return -errno;
	kg->ev.kind = EV_KEYGEN;
	return mfsd_ep_set(d, kg->efd, &kg->ev, EPOLLIN, true);
}

void mfsd_keygen_close(struct daemon *d)
{
	struct keygen *kg = &d->kg;

	if (kg->running) {
		/* at most one key generation: wait for it, then remove what it wrote */
		pthread_join(kg->th, NULL);
		kg->running = false;
		if (kg->key) {
			keyring_destroy_file(kg->key->sk_path);
			keyring_destroy_file(kg->key->pk_path);
			keyring_key_free(kg->key);
			kg->key = NULL;
		}
	}
	if (kg->efd >= 0)
		close(kg->efd);
	kg->efd = -1;
}
