/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * maps.h - the designs lfreactor's waker table is measured against, behind
 * one interface:
 *  - "seed":   the seed's design, one pthread_mutex_t around a chained hash
 *              map of id -> waker.  set_waker clones the waker and drops the
 *              old one under the lock, as HashMap::insert(id, w.clone())
 *              does; the epoll side looks up and wakes under the same lock.
 *  - "rwlock": the same map behind a pthread_rwlock_t: set_waker and
 *              register take it for writing, the epoll side for reading.
 *  - "ck_ht":  Concurrency Kit's ck_ht (one writer, lock-free readers) with a
 *              mutex serialising writers.  The value is the waker's data
 *              pointer (all wakers share one vtable here).  Old values are
 *              not reclaimed safely (tasks outlive the run), which flatters
 *              it: a real one needs ck_epoch or RCU on top.
 *  - "lfreactor": lfreactor's own table (src/waker_table.c), called through
 *              its internal interface, the epoll side inside one read-side
 *              section per batch as the poller does.
 */
#ifndef LFR_BENCH_MAPS_H
#define LFR_BENCH_MAPS_H

#include <stdbool.h>
#include <lfreactor.h>

struct map_ops {
	const char *name;
	void *(*create)(unsigned long capacity);
	void (*destroy)(void *m);
	int (*insert)(void *m, lfr_id id);
	int (*remove)(void *m, lfr_id id);
	int (*set_waker)(void *m, const struct lfr_waker *w, lfr_id id);
	/* epoll side: look id up and wake its waker; true if one was woken */
	bool (*wake)(void *m, lfr_id id);
	/* around a batch of wake calls */
	void (*batch_begin)(void *m);
	void (*batch_end)(void *m);
};

extern const struct map_ops map_lfreactor, map_seed, map_rwlock, map_ck_ht;

/* The seed's set_waker exactly: HashMap::insert(id, waker.clone()) under the
 * mutex, creating the entry if it is absent (its register does not touch
 * the map).  m is a map_seed map. */
int seed_map_upsert(void *m, const struct lfr_waker *w, lfr_id id);

#endif
