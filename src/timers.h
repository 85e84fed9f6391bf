/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * timers.h - the seam between the reactor and its timer structure
 * (src/timer.c).  The reactor keeps one slot for it and frees what is
 * there when it is torn down; timer.c fills the slot on first use.
 */
#ifndef LFR_TIMERS_H
#define LFR_TIMERS_H

#include <lfreactor.h>

struct lfr__timers;

/* the reactor's slot: NULL until the first lfr_timer_new or lfr_sleep_new
 * on it; filled once, by compare-and-swap (under a mutex of timer.c
 * except from a waker), and read without it */
struct lfr__timers *_Atomic *lfr__reactor_timers(struct lfr_reactor *r);

/* called by the reactor's teardown, after the pollers were joined and the
 * table (with the timer structure's registration and waker) destroyed:
 * closes the timerfd and frees the structure.  NULL is a no-op. */
void lfr__timers_free(struct lfr__timers *ts);

#endif /* LFR_TIMERS_H */
