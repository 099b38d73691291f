/* SPDX-License-Identifier: Apache-2.0 */
/* The group commit's writer thread (see commit.h). */
#include "cf/commit.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/log.h"
#include "store/store.h"

struct cf_committer {
	struct store *st;		/* the thread's own handle */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* todo grew, or stop */
	pthread_cond_t done_cond;	/* done grew */
	struct cf_batch *todo, *todo_tail, *done, *done_tail;
	size_t queued;			/* submitted, not collected */
	bool stop;
	int efd;
};

static void push(struct cf_batch **head, struct cf_batch **tail, struct cf_batch *b)
{
	b->next = NULL;
	if (*tail)
		(*tail)->next = b;
	else
		*head = b;
	*tail = b;
}

static struct cf_batch *pop(struct cf_batch **head, struct cf_batch **tail)
{
	struct cf_batch *b = *head;

	if (b && !(*head = b->next))
		*tail = NULL;
	return b;
}

static void *writer(void *arg)
{
	struct cf_committer *c = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct cf_batch *b;

		while (!c->todo && !c->stop)
			pthread_cond_wait(&c->cond, &c->lock);
		if (!(b = pop(&c->todo, &c->todo_tail)))
			break;	/* stop, and nothing left */
		pthread_mutex_unlock(&c->lock);
		b->result = store_put(c->st, b->in, b->n, b->now);	/* the fsync */
		pthread_mutex_lock(&c->lock);
		push(&c->done, &c->done_tail, b);
		pthread_cond_broadcast(&c->done_cond);
		if (write(c->efd, &one, sizeof(one)) < 0)
			log_debug("commit: eventfd write failed");
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int cf_committer_new(const char *db_path, const struct secret *kek, struct cf_committer **ret)
{
	struct cf_committer *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->efd = -1;
	if ((r = store_open(db_path, kek, &c->st)) < 0)
		goto fail;
	if ((c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		r = -errno;
		goto fail;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	pthread_cond_init(&c->done_cond, NULL);
	if ((r = -pthread_create(&c->thread, NULL, writer, c)) < 0) {
		pthread_cond_destroy(&c->done_cond);
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->lock);
		goto fail;
	}
	*ret = c;
	return 0;
fail:
	if (c->efd >= 0)
		close(c->efd);
	store_close(c->st);
	free(c);
	return r;
}

int cf_committer_fd(const struct cf_committer *c)
{
	return c->efd;
}

void cf_committer_submit(struct cf_committer *c, struct cf_batch *b)
{
	pthread_mutex_lock(&c->lock);
	push(&c->todo, &c->todo_tail, b);
	c->queued++;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

struct cf_batch *cf_committer_done(struct cf_committer *c, bool wait)
{
	struct cf_batch *b;
	uint64_t v;

	pthread_mutex_lock(&c->lock);
	while (wait && !c->done && c->queued)
		pthread_cond_wait(&c->done_cond, &c->lock);
	if ((b = pop(&c->done, &c->done_tail)))
		c->queued--;
	if (!c->done && read(c->efd, &v, sizeof(v)) < 0)
		v = 0;	/* nothing to clear (EAGAIN) */
	pthread_mutex_unlock(&c->lock);
	return b;
}

void cf_committer_free(struct cf_committer *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->done_cond);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	close(c->efd);
	store_close(c->st);
	free(c);
}
