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
/* whether this thread is inside a read-side section (a waker run by a
 * poller or by set_waker): it must not wait for anything that may wait for
 * a grace period */
bool lfr__read_ongoing(void);

/* The table's one bucket limit, for a table sized for max_registrations
 * live entries: half of that, rounded up to a power of two (at least 1).
 * Its buckets never exceed it; liburcu reserves that many up front. */
unsigned long lfr__table_max_buckets(unsigned long max_registrations);

/* Starts the table's maintainer thread (batched frees, resizes) with attr,
 * which is kept for the table's life (resize helper threads use it).
 * initial_buckets is rounded up to a power of two and capped at the bucket
 * limit.  -ENOMEM (also when the limit's address space cannot be reserved),
 * or an error of eventfd or pthread_create. */
int lfr__table_new(unsigned long initial_buckets,
		   unsigned long max_registrations, pthread_attr_t *attr,
		   struct lfr__table **out);
/* with no other caller and no poller left; outside any read-side section.
 * Stops the maintainer, removes every entry, drops every waker, frees
 * what is retired and the table. */
int lfr__table_destroy(struct lfr__table *t);

/* the first failure of the table's own eventfd (closed behind its back),
 * a negative errno; 0 while none */
int lfr__table_fd_error(struct lfr__table *t);

/* current bucket count */
unsigned long lfr__table_buckets(struct lfr__table *t);
/* entries inserted and not yet removed; exact while no insert or removal
 * runs.  The table resizes itself to it (its maintainer does, when an
 * insert or a removal finds the size off). */
unsigned long lfr__table_live(struct lfr__table *t);

/* -EEXIST if id is in the table; -ENOMEM */
int lfr__table_insert(struct lfr__table *t, lfr_id id, int fd);

/*
 * A removal in steps, so that the caller can act between the claim and the
 * unlink (the reactor takes the fd out of epoll there):
 *
 *   lfr__table_find()    enters a read-side section and finds id's entry
 *   lfr__table_claim()   marks it removed; of concurrent claims one wins
 *   lfr__table_unlink()  (after a won claim) takes it out of the table and
 *                        retires it: freed, its waker dropped, after a
 *                        grace period
 *   lfr__table_finish()  leaves the section (always, after a found entry)
 *
 * Between find and finish the caller is inside a read-side section: it
 * must not wait for a grace period, and should not block.
 */
struct lfr__removal {
	struct lfr__tls *tls;
	struct lfr__entry *entry;
	int fd;  /* the fd the entry was inserted with */
};
/* 0 with the section entered; -ENOENT (absent, or its insert still in
 * progress) or -ENOMEM, with nothing held */
int lfr__table_find(struct lfr__table *t, lfr_id id, struct lfr__removal *rm);
/* read-side: true if this caller is the entry's one remover */
bool lfr__table_claim(struct lfr__removal *rm);
/* read-side, claimed: cannot fail (find made room) */
void lfr__table_unlink(struct lfr__table *t, struct lfr__removal *rm);
void lfr__table_finish(struct lfr__table *t, struct lfr__removal *rm);
/* all four steps with nothing between: 0, -ENOENT, -ENOMEM */
int lfr__table_remove(struct lfr__table *t, lfr_id id);

/* *woke is set when a recorded event was handed to the new waker */
int lfr__table_set_waker(struct lfr__table *t, const struct lfr_waker *waker,
			 lfr_id id, bool *woke);

/* read-side: route one event carrying readiness bits to id's waker */
enum lfr__dispatch lfr__table_dispatch(struct lfr__table *t, lfr_id id,
				       unsigned ready);

#endif /* LFR_WAKER_TABLE_H */
