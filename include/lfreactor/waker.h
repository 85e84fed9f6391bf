/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lfreactor/waker.h - the C form of a Rust RawWaker.
 *
 * A waker is a pair { vtable, data }: a reference to "something to wake"
 * (usually a task) that the reactor keeps per registration and wakes when the
 * registration's fd becomes ready.  The library never looks inside data; it
 * only calls the vtable.  Each struct lfr_waker value owns one reference:
 * clone makes another, wake and drop release it.
 */
#ifndef LFREACTOR_WAKER_H
#define LFREACTOR_WAKER_H

#include <stdbool.h>
#include <lfreactor/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct lfr_waker;

/*
 * The four operations of a waker.  All must be non-NULL for the reactor to
 * accept it.  They may be called from any thread, concurrently with each
 * other on clones of the same waker:
 *  - the reactor calls wake_by_ref on a poller thread, inside an RCU
 *    read-side critical section, and from lfr_reactor_set_waker() on the
 *    caller's thread; it must be short and must not block (no sleeping
 *    locks, no epoll_wait, no lfr_reactor_free()).
 *  - the reactor calls clone from lfr_reactor_set_waker() on the caller's
 *    thread.  To report failure (out of memory), clone returns a waker whose
 *    vtable is NULL; set_waker then fails with -ENOMEM.
 *  - the reactor calls drop once no poller can still hold the reference:
 *    on the thread that replaced or deregistered it, during a later
 *    set_waker, register or deregister call there (possibly inside an RCU
 *    read-side section, when that call came from a waker), on the table's
 *    maintainer thread, or in lfr_reactor_free().
 */
struct lfr_waker_vtable {
	struct lfr_waker (*clone)(void *data);
	void (*wake)(void *data);        /* wake, releasing this reference */
	void (*wake_by_ref)(void *data); /* wake, keeping it */
	void (*drop)(void *data);        /* release it */
};

struct lfr_waker {
	const struct lfr_waker_vtable *vtable;
	void *data;
};

/*
 * lfr_waker_clone - a new reference to the same wakeable thing.
 * Returns vtable->clone(data); a waker with NULL vtable if w is NULL, has no
 * vtable, or the clone failed.
 * Threads: any.  Blocks on whatever the vtable's clone does (normally not).
 */
LFR_EXTERN struct lfr_waker lfr_waker_clone(const struct lfr_waker *w);

/*
 * lfr_waker_wake - wake and release the reference: *w is cleared to
 * { NULL, NULL } and must not be used again.  No-op on NULL or an empty
 * waker.
 * Threads: any.
 */
LFR_EXTERN void lfr_waker_wake(struct lfr_waker *w);

/*
 * lfr_waker_wake_by_ref - wake, keeping the reference.  No-op on NULL or
 * an empty waker.
 * Threads: any.
 */
LFR_EXTERN void lfr_waker_wake_by_ref(const struct lfr_waker *w);

/*
 * lfr_waker_drop - release the reference without waking; *w is cleared to
 * { NULL, NULL }.  No-op on NULL or an empty waker.
 * Threads: any.
 */
LFR_EXTERN void lfr_waker_drop(struct lfr_waker *w);

/*
 * lfr_waker_will_wake - true when a and b name the same vtable and the same
 * data, so waking either wakes the same thing.  false if either is NULL.
 * Used by lfr_reactor_set_waker() to skip storing a waker it already has.
 * Threads: any.  Reads only; never blocks.
 */
LFR_EXTERN bool lfr_waker_will_wake(const struct lfr_waker *a,
				    const struct lfr_waker *b);

/*
 * lfr_waker_noop - a waker whose operations do nothing; clone returns it
 * again.  Handy as a placeholder and in tests.
 * Threads: any.
 */
LFR_EXTERN struct lfr_waker lfr_waker_noop(void);

#ifdef __cplusplus
}
#endif

#endif /* LFREACTOR_WAKER_H */
