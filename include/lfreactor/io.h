/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lfreactor/io.h - leaf futures on the reactor's public API.
 *
 * A leaf future is polled from a task's poll function with the task's
 * waker: it returns LFR_READY when done, or LFR_PENDING after handing the
 * waker to the reactor (lfr_reactor_set_waker), which wakes the task when
 * the underlying fd becomes ready.  Each owns one fd registered with the
 * reactor; many of them mean many fds, never more threads.
 */
#ifndef LFREACTOR_IO_H
#define LFREACTOR_IO_H

#include <stdint.h>
#include <lfreactor/common.h>
#include <lfreactor/executor.h>
#include <lfreactor/reactor.h>

#ifdef __cplusplus
extern "C" {
#endif

struct lfr_sleep;

/*
 * lfr_sleep_new - a future that is ready ms milliseconds from now (a
 * timerfd on CLOCK_MONOTONIC, registered with reactor).
 * Returns 0 and stores it in *out, or -EINVAL (reactor or out NULL),
 * -ENOMEM, -EMFILE/-ENFILE (no fd), or what lfr_reactor_register returns
 * (-ESHUTDOWN); nothing is left behind on failure.
 * Threads: any.  Blocks: no.
 */
LFR_EXTERN int lfr_sleep_new(struct lfr_reactor *reactor, uint64_t ms,
			     struct lfr_sleep **out);

/*
 * lfr_sleep_poll - LFR_READY once the time has come (and ever after);
 * otherwise stores waker with the reactor and returns LFR_PENDING.  If the
 * reactor refuses the waker (-ENOMEM, -ESHUTDOWN), *err (when not NULL)
 * gets that error and LFR_READY is returned, so the task does not wait
 * for a wake that cannot come; *err is 0 otherwise (-EINVAL, and
 * LFR_READY, for a NULL s).
 * Threads: one task at a time (the future is not shared).  Blocks: no.
 */
LFR_EXTERN enum lfr_poll lfr_sleep_poll(struct lfr_sleep *s,
					const struct lfr_waker *waker, int *err);

/*
 * lfr_sleep_free - deregister and close the timer; NULL is a no-op.  A
 * dispatch in flight may still wake the task once (see
 * lfr_reactor_deregister).  Threads: the task's.  Blocks: no.
 */
LFR_EXTERN void lfr_sleep_free(struct lfr_sleep *s);

#ifdef __cplusplus
}
#endif

#endif /* LFREACTOR_IO_H */
