/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * waker_table.h - internal: the table of wakers keyed by id.
 *
 * The whole concurrency story of wakers lives in waker_table.c.  Functions
 * marked "read-side" must be called inside lfr__read_lock()/unlock(); the
 * others take the read-side lock themselves where they need it.
 */
#ifndef LFR_WAKER_TABLE_H
#define LFR_WAKER_TABLE_H

#include <pthread.h>
#include <stdbool.h>
#include <lfreactor/waker.h>

struct lfr__table;

/* what one event did, for the reactor's counters */
enum lfr__dispatch {
	LFR__DISPATCH_STALE,    /* no entry: id removed */
	LFR__DISPATCH_WOKE,     /* a waker was present and woken */
	LFR__DISPATCH_RECORDED, /* no waker: readiness recorded */
	LFR__DISPATCH_RECORDED_WOKE, /* recorded, then a waker appeared */
};

void lfr__read_lock(void);
void lfr__read_unlock(void);

/* Starts the table's maintainer thread (batched frees, resizes) with attr,
 * which is kept for the table's life (resize helper threads use it). */
int lfr__table_new(unsigned long initial_buckets, unsigned long max_buckets,
		   pthread_attr_t *attr, struct lfr__table **out);
/* with no other caller and no poller left; outside any read-side section.
 * Stops the maintainer, removes every entry, drops every waker, frees
 * what is retired and the table. */
int lfr__table_destroy(struct lfr__table *t);

/* the first failure of the table's own eventfd (closed behind its back),
 * a negative errno; 0 while none */
int lfr__table_fd_error(struct lfr__table *t);

/* current bucket count, and whether live entries call for another */
unsigned long lfr__table_buckets(struct lfr__table *t);
bool lfr__table_wants_resize(struct lfr__table *t, unsigned long live);
/* asks the maintainer to fit the buckets to live entries; never waits */
void lfr__table_request_resize(struct lfr__table *t, unsigned long live);

int lfr__table_insert(struct lfr__table *t, lfr_id id, int fd);
int lfr__table_remove(struct lfr__table *t, lfr_id id);
/* Removes id if it is registered with fd, calling unwatch(ctx, fd) first
 * (its result in *unwatched); -ENOENT, or -EINVAL on another fd, with
 * nothing called or changed. */
int lfr__table_remove_fd(struct lfr__table *t, lfr_id id, int fd,
			 int (*unwatch)(void *ctx, int fd), void *ctx,
			 int *unwatched);

/* *woke is set when a recorded event was handed to the new waker */
int lfr__table_set_waker(struct lfr__table *t, const struct lfr_waker *waker,
			 lfr_id id, bool *woke);

/* read-side: route one event carrying readiness bits to id's waker */
enum lfr__dispatch lfr__table_dispatch(struct lfr__table *t, lfr_id id,
				       unsigned ready);

#endif /* LFR_WAKER_TABLE_H */
