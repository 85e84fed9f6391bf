/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * park.h - ways for an executor thread to park until a waker unparks it,
 * behind one interface, measured by bench/park:
 *  - "lfreactor":    src/park.h, what the executor uses: a three-state futex
 *                    word; unpark makes a system call only when the owner
 *                    is asleep; park watches the word for up to 20 us
 *                    before it sleeps.
 *  - "futex":        the same word without the spin (lfr__park_sleep).
 *  - "futex-always": the two-state futex permit lfreactor's executor had
 *                    before: unpark makes FUTEX_WAKE whenever the permit
 *                    goes from 0 to 1, asleep or not.
 *  - "eventfd":      the three-state word of "lfreactor", sleeping in
 *                    read(2) on an eventfd and woken by write(2), as a
 *                    reactor-integrated parker would.
 *  - "ck_ec":        Concurrency Kit's event count (ck_ec32) on futex
 *                    operations: unpark increments it (a wake only when a
 *                    waiter flagged itself), park waits for a value newer
 *                    than the last it saw, spinning briefly first.
 */
#ifndef LFR_BENCH_PARK_H
#define LFR_BENCH_PARK_H

#include <stdbool.h>

struct park_ops {
	const char *name;
	void *(*create)(void);   /* NULL on failure */
	void (*destroy)(void *p);
	void (*park)(void *p);   /* owner only */
	bool (*unpark)(void *p); /* true when it made a wake system call */
};

extern const struct park_ops park_lfreactor, park_futex_always, park_eventfd,
	park_ck_ec, park_futex;

#endif
