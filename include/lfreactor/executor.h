/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lfreactor/executor.h - one executor per thread: lfr_executor_block_on
 * runs a future to completion on the calling thread,
 * polling the tasks spawned onto this executor meanwhile.  A task's waker
 * pushes it onto its executor's ready queue from any thread and unparks the
 * executor's thread.
 *
 * A task is a C state machine: poll(state, waker) advances it and returns
 * LFR_READY when it is finished, or LFR_PENDING after arranging for the
 * waker (or a clone of it) to be woken when it can make progress — for I/O,
 * by handing it to lfr_reactor_set_waker().
 *
 * Wakers are reference-counted and may outlive their task and executor:
 * waking one whose task finished, or whose executor was freed, does
 * nothing.  The ready queue is liburcu's wfcqueue (a wake is one exchange
 * and takes no lock); a task is queued at most once however often it is
 * woken before it runs.  Parking is one futex word with a permit: a wake
 * that comes before the park is never lost, and a wake that finds the
 * thread running or still spinning costs one atomic exchange and no system
 * call.
 */
#ifndef LFREACTOR_EXECUTOR_H
#define LFREACTOR_EXECUTOR_H

#include <lfreactor/common.h>
#include <lfreactor/waker.h>

#ifdef __cplusplus
extern "C" {
#endif

enum lfr_poll { LFR_PENDING = 0, LFR_READY = 1 };

/* advances state; the waker is lent for the call: clone it to keep it */
typedef enum lfr_poll (*lfr_poll_fn)(void *state, const struct lfr_waker *waker);
/* releases state; may be NULL */
typedef void (*lfr_drop_fn)(void *state);

struct lfr_executor;

/*
 * lfr_executor_new - a new executor.  It belongs to the thread that calls
 * lfr_executor_block_on and lfr_executor_free on it (its owner).
 * Returns 0 and stores it in *out, or -EINVAL (out NULL), -ENOMEM.
 * Threads: any.
 */
LFR_EXTERN int lfr_executor_new(struct lfr_executor **out);

/*
 * lfr_executor_free - drop every task that has not finished (drop(state),
 * on this thread; for a task spawned but never polled, on a thread whose
 * wake races this call) and release the executor.  Wakers of its tasks stay
 * valid: waking or dropping them later only releases memory.  Spawns that
 * race it get -ESHUTDOWN.  NULL is a no-op.
 * Threads: the owner, outside block_on.  Blocks: no.
 */
LFR_EXTERN void lfr_executor_free(struct lfr_executor *ex);

/*
 * lfr_executor_spawn - add a task, polled on the owner thread inside
 * block_on.  On success the executor owns state and calls drop(state) once,
 * after the task is ready or when the executor is freed; on failure
 * nothing was taken.
 * Returns 0, or -EINVAL (ex or poll NULL), -ENOMEM, -ESHUTDOWN (the
 * executor is being freed).
 * Threads: any, including from a task or a waker.  Blocks: on a mutex
 * shared only with lfr_executor_free; one malloc; one wait-free enqueue.
 */
LFR_EXTERN int lfr_executor_spawn(struct lfr_executor *ex, lfr_poll_fn poll,
				  lfr_drop_fn drop, void *state);

/*
 * lfr_executor_block_on - poll(state, waker) until it returns LFR_READY,
 * polling the spawned tasks that are woken meanwhile and parking the thread
 * when none is.  state stays the caller's: it is not dropped.
 * Returns 0, or -EINVAL (ex or poll NULL), -EBUSY (already inside
 * block_on), -ENOMEM.
 * Threads: the owner only.  Blocks: when no task is woken, spins for up
 * to 20 us watching its park word, then sleeps on it (a futex) until a
 * waker of one of its tasks, or of this future, is woken.  Ordering:
 * whatever a thread did before waking a task happens before that task's
 * next poll.
 */
LFR_EXTERN int lfr_executor_block_on(struct lfr_executor *ex, lfr_poll_fn poll,
				     void *state);

#ifdef __cplusplus
}
#endif

#endif /* LFREACTOR_EXECUTOR_H */
