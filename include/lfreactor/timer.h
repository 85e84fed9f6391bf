/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lfreactor/timer.h - timers: leaf futures that are ready at a time on
 * CLOCK_MONOTONIC, with nanosecond resolution.
 *
 * Every timer of a reactor lives in that reactor's one timer structure: a
 * 4-ary min-heap of deadlines (each timer knows its slot, so a cancel or a
 * reset is O(log n)) behind a single timerfd registered with the reactor.
 * The structure is made by the first lfr_timer_new (or lfr_sleep_new) on
 * the reactor -- one fd and one registration from then on, whatever the
 * number of timers -- and freed by lfr_reactor_free.  It never keeps the
 * reactor from shutting down.
 *
 * Why per reactor and not per executor: the reactor is what a timer needs
 * to fire (its pollers wait on the timerfd; an executor only parks on a
 * futex), lfr_sleep_new already takes a reactor, and a timer can then be
 * armed by any thread and polled by a task on any executor.  The price is
 * one structure shared by every thread that arms timers on the reactor.
 *
 * System calls.  Arming, resetting and cancelling a timer make none in the
 * common case: the timerfd is re-armed (one timerfd_settime) only when a
 * timer becomes earlier than the time the timerfd is set for.  A cancel, or
 * a reset to later, of the earliest timer leaves the timerfd as it is: it
 * fires early once, finds nothing due and is set for the new earliest.  A
 * delay of 0, or a deadline not later than now, makes the timer ready at
 * once, without a system call (a clock read through the vDSO at most).
 *
 * Firing.  When the timerfd fires, its waker runs on a poller thread: it
 * takes every due timer out of the heap and wakes the waker its task left
 * there (wakers are woken outside the lock).  A poll also looks at the
 * clock: a timer whose deadline has passed is ready even if the timerfd's
 * event has not been handled yet.  Timers with the same deadline fire in
 * the order they were armed.
 *
 * Locking.  The structure has one mutex, held for a heap operation (and,
 * rarely, one timerfd_settime or a read of the timerfd): by arm, cancel,
 * poll (unless the timer already fired) and free, and by the timerfd's
 * waker on the poller thread.  It is not on the reactor's set_waker or
 * dispatch paths: those take no lock.  So every function here may block
 * briefly on that mutex; none ever waits for a timer.
 *
 * Out-pointers: as for every poll function (see lfreactor/io.h), err is
 * required; a poll with err NULL does nothing and returns LFR_READY.
 */
#ifndef LFREACTOR_TIMER_H
#define LFREACTOR_TIMER_H

#include <stdint.h>
#include <lfreactor/common.h>
#include <lfreactor/executor.h>
#include <lfreactor/reactor.h>

#ifdef __cplusplus
extern "C" {
#endif

/* flags of lfr_timer_arm */
enum {
	/* ns is a deadline on CLOCK_MONOTONIC (as lfr_timer_now gives),
	 * not a delay from now */
	LFR_TIMER_DEADLINE = 1u << 0,
};

struct lfr_timer;

/*
 * lfr_timer_now - the time on CLOCK_MONOTONIC in nanoseconds, the clock
 * deadlines are given in.
 * Threads: any.  Blocks: no (a vDSO clock read).
 */
LFR_EXTERN uint64_t lfr_timer_now(void);

/*
 * lfr_timer_new - a timer on reactor, not armed (a poll of it waits until
 * it is armed and its time comes).
 * The first timer of a reactor makes the reactor's timer structure: a
 * timerfd, registered with the reactor, and a waker for it.  A slot in the
 * heap is reserved for every timer, so arming one never allocates.
 * Returns 0 and stores the timer in *out, or:
 *  -EINVAL  reactor or out NULL
 *  -ENOMEM  out of memory
 *  -EMFILE, -ENFILE  no fd for the timerfd (the first timer of the reactor
 *           only)
 *  -ESHUTDOWN  the reactor was shut down
 *  and what lfr_reactor_register returns for the timerfd.  *out is
 *  untouched on failure, and no timer is left behind; the reactor's timer
 *  structure, once made, stays until lfr_reactor_free, whatever the call
 *  that made it returned.
 * Threads: any.  Blocks: the timer structure's mutex; growing the heap
 * (doubling) copies it under the mutex.  While a reactor has no structure
 * yet, a process-wide mutex held while one is made (a timerfd and its
 * registration), so that threads making a reactor's first timers at once
 * make one structure and need one fd.  A waker never waits for it: one
 * racing a thread that holds it makes a structure of its own, which the
 * loser of the two then discards.
 */
LFR_EXTERN int lfr_timer_new(struct lfr_reactor *reactor,
			     struct lfr_timer **out);

/*
 * lfr_timer_arm - arm t: ready ns nanoseconds from now, or, with
 * LFR_TIMER_DEADLINE in flags, when CLOCK_MONOTONIC reaches ns.  Arming a
 * timer that is armed or has fired resets it: only the new time counts,
 * and until then it is not ready.  A delay of 0, or a deadline not after
 * now, makes it ready at once; a task whose waker t holds (it polled t
 * and got LFR_PENDING) is then woken by this call.  A delay so long that
 * the deadline would overflow means "never".
 * Returns 0, or -EINVAL (t NULL, or an unknown flag; t is unchanged), or
 * the error of timerfd_settime (only if the reactor's timerfd was closed
 * behind its back: -EBADF; t is then disarmed).
 * Threads: any, concurrently with every call on t but lfr_timer_free.
 * Blocks: the timer structure's mutex; a timerfd_settime when t becomes the
 * earliest timer and is earlier than the time the timerfd is set for.
 * Ordering: what the arming thread did before this call happens before
 * the poll that finds t ready.
 */
LFR_EXTERN int lfr_timer_arm(struct lfr_timer *t, uint64_t ns,
			     unsigned flags);

/*
 * lfr_timer_cancel - disarm t.  A task polling it waits again (its waker
 * stays with t: a later arm wakes it when that time comes).
 * Returns 1 if t was armed and had not fired, 0 if it was not armed or
 * had already fired (either way it is now disarmed and not ready), or
 * -EINVAL (t NULL).
 * Threads: any, concurrently with every call on t but lfr_timer_free.
 * Blocks: the timer structure's mutex; never a system call.
 */
LFR_EXTERN int lfr_timer_cancel(struct lfr_timer *t);

/*
 * lfr_timer_poll - LFR_READY with *err 0 once t's time has come (and ever
 * after, until it is armed again or cancelled); otherwise keeps (a clone
 * of) waker to wake when it comes and returns LFR_PENDING, *err 0.  A
 * timer never armed, or cancelled, is PENDING.
 * If the time has not come and the reactor was shut down, or waker is
 * NULL or cannot be cloned, *err gets -ESHUTDOWN, -EINVAL or -ENOMEM and
 * LFR_READY comes back (the task must not wait for a wake that cannot
 * come): a READY with *err < 0 means the time has not come.  A timer that
 * fired before the shutdown still reads READY with *err 0.
 * t NULL: LFR_READY with -EINVAL.  err NULL: nothing is done, LFR_READY.
 * Threads: one task at a time polls t; arm and cancel may race it from
 * other threads.  Blocks: no lock once t has fired; else the timer
 * structure's mutex.  Ordering: a wake from the timerfd's waker happens
 * after t was marked fired, so the poll it leads to is READY.
 */
LFR_EXTERN enum lfr_poll lfr_timer_poll(struct lfr_timer *t,
					const struct lfr_waker *waker,
					int *err);

/*
 * lfr_timer_free - disarm t, drop the waker it holds, free it.  NULL is a
 * no-op.  Free every timer of a reactor before the reactor.
 * Threads: any, once, when no other call on t is in flight.  A wake from
 * the timerfd's waker racing it only wakes the task (the waker was taken
 * out of t under the mutex).
 * Blocks: the timer structure's mutex.
 */
LFR_EXTERN void lfr_timer_free(struct lfr_timer *t);

#ifdef __cplusplus
}
#endif

#endif /* LFREACTOR_TIMER_H */
