/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A writer thread for the asynchronous group commit (cf.h
 * cf_link_commit_begin/end): it runs each batch's store_put() on a store
 * handle of its own, so the daemon's event loop goes on with the
 * handshakes while the fsync is under way.
 *
 *   cf_committer_new()      start the thread (opens its own handle)
 *   cf_committer_submit()   a batch from cf_link_commit_begin()
 *   cf_committer_fd()       an eventfd, readable when batches are done
 *   cf_committer_done()     the next done batch (b->result set): give it
 *                           to cf_link_commit_end() on the engine's thread
 *   cf_committer_free()     after every batch was collected
 *
 * Batches are stored in the order they were submitted. The thread touches
 * nothing but the batch (its in[] and result) and its own store handle.
 */
#ifndef MFS_CF_COMMIT_H
#define MFS_CF_COMMIT_H

#include <stdbool.h>

#include "base/secret.h"
#include "cf/cf.h"

struct cf_committer;

/* Open db_path with kek (store_open) for the thread and start it. */
int cf_committer_new(const char *db_path, const struct secret *kek, struct cf_committer **ret);
/* Readable (an eventfd) while done batches wait to be collected. */
int cf_committer_fd(const struct cf_committer *c);
/* Queue b (not NULL); its store_put() runs with b->now. */
void cf_committer_submit(struct cf_committer *c, struct cf_batch *b);
/* The oldest done batch, or NULL; wait: block until there is one (NULL when none is queued). */
struct cf_batch *cf_committer_done(struct cf_committer *c, bool wait);
/* Stop the thread (after the queued batches), close its handle. NULL-safe. */
void cf_committer_free(struct cf_committer *c);

#endif
