/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * park.h - a park permit for one owner thread (internal).
 *
 * One futex word with three states:
 *   EMPTY     no permit; the owner is running
 *   NOTIFIED  a permit is waiting for the owner's next park
 *   PARKED    the owner is (about to be) asleep in FUTEX_WAIT
 * lfr__unpark stores NOTIFIED with one exchange and makes a system call
 * only when the exchange found PARKED, so wakes aimed at a running (or
 * spinning) owner cost one atomic instruction.  lfr__park first watches
 * the word for up to LFR__PARK_SPIN_NS (20 us), then
 * consumes a permit with one decrement (NOTIFIED -> EMPTY) or announces
 * itself (EMPTY -> PARKED) and sleeps until an unpark turns PARKED into
 * NOTIFIED.  The spin is short because executor threads may outnumber
 * cores; bench/park measures what it buys and costs.
 *
 * Ordering: everything the unparking thread did before lfr__unpark
 * happens before the owner's return from the lfr__park that consumes its
 * permit (both are sequentially consistent read-modify-writes on the word).
 * A permit given before the park is never lost (model/park.pml checks it);
 * permits do not add up.
 *
 * Why three states: with two (asleep or not), every unpark after a park
 * must make a FUTEX_WAKE, since it cannot tell a sleeping owner from one
 * that has already woken; PARKED says when the system call is needed.
 * bench/park measures this word against a two-state futex, an eventfd and
 * Concurrency Kit's event count (bench/README.md).
 */
#ifndef LFR_PARK_H
#define LFR_PARK_H

#include <linux/futex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <urcu/arch.h>

enum { LFR__PARK_EMPTY = 0, LFR__PARK_NOTIFIED = 1, LFR__PARK_PARKED = -1 };
/* how long lfr__park watches the word before it sleeps: about the cost of
 * a futex sleep and wake-up as measured on a 2-core VM: an owner woken
 * within it pays for neither (bench/park compares it with no spin) */
#define LFR__PARK_SPIN_NS 20000

struct lfr__parker {
	atomic_int state;
};

static inline void lfr__parker_init(struct lfr__parker *p)
{
	atomic_init(&p->state, LFR__PARK_EMPTY);
}

/* Any thread.  Never blocks.  Returns true when it had to wake a sleeping
 * owner (one FUTEX_WAKE), false when one exchange was enough. */
static inline bool lfr__unpark(struct lfr__parker *p)
{
	if (atomic_exchange(&p->state, LFR__PARK_NOTIFIED) != LFR__PARK_PARKED)
		return false;
	syscall(SYS_futex, &p->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	return true;
}

/* The owner only.  Returns at once if a permit is waiting, else sleeps
 * until lfr__unpark, without spinning first; the permit is consumed. */
static inline void lfr__park_sleep(struct lfr__parker *p)
{
	if (atomic_fetch_sub(&p->state, 1) == LFR__PARK_NOTIFIED)
		return; /* NOTIFIED -> EMPTY */
	for (;;) {     /* EMPTY -> PARKED: sleep while it stays so */
		int expected = LFR__PARK_NOTIFIED;

		syscall(SYS_futex, &p->state, FUTEX_WAIT_PRIVATE,
			LFR__PARK_PARKED, NULL, NULL, 0);
		/* woken, interrupted or spurious: go only with a permit */
		if (atomic_compare_exchange_strong(&p->state, &expected,
						   LFR__PARK_EMPTY))
			return;
	}
}

static inline long long lfr__park_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The owner only.  lfr__park_sleep after watching the word for up to
 * LFR__PARK_SPIN_NS: a permit that arrives meanwhile is taken without a
 * system call on either side. */
static inline void lfr__park(struct lfr__parker *p)
{
	long long deadline = 0;

	for (unsigned i = 0;; i++) {
		int expected = LFR__PARK_NOTIFIED;

		if (atomic_load_explicit(&p->state, memory_order_relaxed) ==
			    LFR__PARK_NOTIFIED &&
		    atomic_compare_exchange_strong(&p->state, &expected,
						   LFR__PARK_EMPTY))
			return;
		if (i % 32 == 0) { /* the clock costs about 30 pauses */
			long long now = lfr__park_now_ns();

			if (!deadline)
				deadline = now + LFR__PARK_SPIN_NS;
			else if (now >= deadline)
				break;
		}
		caa_cpu_relax();
	}
	lfr__park_sleep(p);
}

#endif /* LFR_PARK_H */
