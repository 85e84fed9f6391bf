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
struct lfr_task;

/*
 * Lifetimes.  An executor is reference-counted.  lfr_executor_new gives
 * the owner one reference, which lfr_executor_free releases; every task,
 * and every lfr_executor_ref, holds another, so the executor's memory
 * stays until the last of them is released.  After lfr_executor_free the
 * executor is closed: spawns get -ESHUTDOWN, block_on -ESHUTDOWN, stop
 * does nothing, and no task runs again.
 *
 * Who may use ex, and when.  A call on ex needs ex to be valid for the
 * whole call.  The owner's reference covers the owner's calls and those
 * of its tasks.  A thread that spawns onto (or stops) an executor that
 * another thread may free holds a reference of its own, taken with
 * lfr_executor_ref while it knows ex is valid (for example by the owner,
 * before it starts that thread) and released with lfr_executor_unref when
 * it stops calling.  Then a spawn racing lfr_executor_free returns 0 (the
 * task is then dropped by free, or by the spawn itself if free drained the
 * queue first) or -ESHUTDOWN, and never touches freed memory.  A thread
 * holding no reference must make its calls return before
 * lfr_executor_free may begin (for example, the owner joins it before it
 * frees): no function can be made safe against a pointer that is freed
 * before it is read.  (spawn takes the task's reference before it reads
 * anything else of ex, so a spawn already past its first instruction when
 * free begins is safe either way; that window is not a promise.)
 *
 * Task handles.  lfr_executor_spawn_handle returns a handle to the task.
 * A handle is ended exactly once: by a join that reports (lfr_task_join,
 * or lfr_task_join_poll returning LFR_READY with 0 or -ECANCELED), or by
 * lfr_task_detach; after that the pointer is invalid.  lfr_task_cancel
 * does not end it.  The result of a task is 0 when its poll returned
 * LFR_READY, -ECANCELED when it was dropped before that (cancelled, or
 * still running when its executor was freed).  A task that computes a
 * value stores it where its joiner can read it (in memory the joiner owns,
 * not freed by drop): everything the task did, its drop included, happens
 * before a join reports.  Handles, wakers and executor references may be
 * released in any order, from any thread.
 *
 * Stopping a server.  The shutdown sequence, with one reactor and one
 * executor per thread:
 *   1. Stop accepting: cancel the accept tasks (lfr_task_cancel; their
 *      drop closes the listeners), so nothing new is spawned.
 *   2. Stop the executors: lfr_executor_stop on each, from any thread
 *      (a thread waiting in sigwait or on a signalfd, or a signal
 *      handler); each owner's block_on returns -ECANCELED after the poll
 *      it is in.
 *   3. Shut the reactor down: lfr_reactor_shutdown; no waker runs after
 *      it returns, and I/O calls that tasks' drops make get -ESHUTDOWN
 *      (lfr_tcp_close still closes the fd and frees the socket).
 *   4. Free: each owner thread calls lfr_executor_free (dropping the tasks
 *      still there: joiners get -ECANCELED), then the threads are joined,
 *      then lfr_reactor_free, then handles and references still held are
 *      ended.
 */

/*
 * lfr_executor_new - a new executor.  It belongs to the thread that calls
 * lfr_executor_block_on and lfr_executor_free on it (its owner), which
 * holds the reference this call returns.
 * Returns 0 and stores it in *out, or -EINVAL (out NULL), -ENOMEM.
 * Threads: any.  Blocks: no (one malloc).
 */
LFR_EXTERN int lfr_executor_new(struct lfr_executor **out);

/*
 * lfr_executor_free - close the executor, drop every task that has not
 * finished (drop(state), on this thread; for a task spawned but never
 * polled, on a thread whose wake or spawn races this call) and release the
 * owner's reference.  Joiners of the dropped tasks get -ECANCELED.
 * Wakers and handles of its tasks stay valid: waking, cancelling or
 * ending them later only releases memory.  Spawns that race it get
 * -ESHUTDOWN or are dropped here (see "Who may use ex" above).  NULL is
 * a no-op; a second call on an executor still referenced is a no-op.
 * Threads: the owner, outside block_on.  Blocks: on a mutex shared only
 * with spawns; on handle mutexes, briefly, while it tells joiners.
 */
LFR_EXTERN void lfr_executor_free(struct lfr_executor *ex);

/*
 * lfr_executor_ref - take another reference to ex, for a thread that may
 * call spawn or stop while the owner frees it.
 * Returns ex (NULL for NULL).
 * Threads: any thread for which ex is valid (holding a reference, or
 * ordered before the owner's free).  Blocks: no; async-signal-safe.
 */
LFR_EXTERN struct lfr_executor *lfr_executor_ref(struct lfr_executor *ex);

/*
 * lfr_executor_unref - release a reference taken with lfr_executor_ref;
 * the last reference frees the executor's memory.  NULL is a no-op.
 * Threads: any, including from a task or a waker.  Blocks: no (may call
 * free()).
 */
LFR_EXTERN void lfr_executor_unref(struct lfr_executor *ex);

/*
 * lfr_executor_spawn - add a detached task, polled on the owner thread
 * inside block_on.  On success the executor owns state and calls
 * drop(state) once, after the task is ready or when the executor is freed;
 * on failure nothing was taken.
 * Returns 0, or -EINVAL (ex or poll NULL), -ENOMEM, -ESHUTDOWN (the
 * executor is being freed or was freed).
 * Threads: any, including from a task or a waker, with ex valid for the
 * call (see "Who may use ex" above).  Blocks: on a mutex shared only with
 * lfr_executor_free; one malloc; one wait-free enqueue.
 */
LFR_EXTERN int lfr_executor_spawn(struct lfr_executor *ex, lfr_poll_fn poll,
				  lfr_drop_fn drop, void *state);

/*
 * lfr_executor_spawn_handle - lfr_executor_spawn, and a handle to the
 * task in *out, to join, cancel or detach it (see "Task handles" above).
 * The handle must be ended (join or detach) or its memory leaks.  *out is
 * stored before the call returns, after the task was queued: the task may
 * have run, even finished, by then (on the owner thread), so it must not
 * read *out itself unless the spawner is its own owner thread.
 * Returns 0 and stores the handle in *out, or -EINVAL (ex, poll or out
 * NULL), -ENOMEM, -ESHUTDOWN; on failure nothing was taken and *out is
 * untouched.
 * Threads: as lfr_executor_spawn.  Blocks: as lfr_executor_spawn.
 */
LFR_EXTERN int lfr_executor_spawn_handle(struct lfr_executor *ex,
					 lfr_poll_fn poll, lfr_drop_fn drop,
					 void *state, struct lfr_task **out);

/*
 * lfr_executor_block_on - poll(state, waker) until it returns LFR_READY,
 * polling the spawned tasks that are woken meanwhile and parking the thread
 * when none is.  state stays the caller's: it is not dropped.
 * Returns 0, or -EINVAL (ex or poll NULL), -EBUSY (already inside
 * block_on), -ENOMEM, -ESHUTDOWN (lfr_executor_free closed it; reached
 * through a reference), -ECANCELED
 * (lfr_executor_stop was called: before this call, which then polls
 * nothing, or during it, which then returns after the poll it is in,
 * without polling the future again; the future's wakers then do
 * nothing).
 * Threads: the owner only.  Blocks: when no task is woken, spins for up
 * to 20 us watching its park word, then sleeps on it (a futex) until a
 * waker of one of its tasks, or of this future, is woken, or until
 * lfr_executor_stop.  Ordering: whatever a thread did before waking a
 * task happens before that task's next poll.
 */
LFR_EXTERN int lfr_executor_block_on(struct lfr_executor *ex, lfr_poll_fn poll,
				     void *state);

/*
 * lfr_executor_stop - make block_on on ex return -ECANCELED: the one
 * running now after the poll it is in (at once if it is parked), and every
 * later one at once, without polling.  Stop is for good.  Tasks are not
 * dropped (lfr_executor_free does that) and spawns still succeed; what is
 * spawned after a stop is not polled, only dropped by free.  A poll that
 * never returns is not interrupted.
 * Returns 0, or -EINVAL (ex NULL).
 * Threads: any, with ex valid for the call (see "Who may use ex" above),
 * including a task of ex itself, a waker, a thread that waits on signals
 * and a signal handler: it is async-signal-safe (one atomic store, one
 * atomic exchange and at most one FUTEX_WAKE system call; errno is kept).
 * Blocks: no.
 * Ordering: what the caller did before the stop happens before block_on
 * returns -ECANCELED.
 */
LFR_EXTERN int lfr_executor_stop(struct lfr_executor *ex);

/*
 * lfr_task_join_poll - a future for the task's end, to poll from a task.
 * LFR_READY with *result 0 (the task's poll returned LFR_READY) or
 * -ECANCELED (it was dropped before): the handle is then ended.
 * LFR_PENDING after storing a clone of waker (the same waker again
 * clones nothing; a different one replaces it), woken once the task is
 * over.  Errors leave the handle as it was (and a waker stored before):
 * LFR_READY with *result -EINVAL for a NULL task, or a NULL waker or one
 * with a NULL vtable while the task is still running, -ENOMEM when the
 * waker's clone fails; with result NULL nothing is done and LFR_READY
 * returned.  A
 * task that stops polling a join it began (its drop, say) ends the handle
 * with lfr_task_detach, which drops the stored waker.
 * Threads: any, one at a time per handle.  Blocks: on the handle's mutex,
 * briefly (never held across user code).  Ordering: everything the task
 * did, its drop included, happens before a LFR_READY.
 */
LFR_EXTERN enum lfr_poll lfr_task_join_poll(struct lfr_task *task,
					    const struct lfr_waker *waker,
					    int *result);

/*
 * lfr_task_join - wait until the task is over, end the handle and return
 * its result.
 * Returns 0 (the task's poll returned LFR_READY) or -ECANCELED (dropped
 * before: cancelled, or its executor freed), the handle then ended; or,
 * the handle untouched, -EINVAL (task NULL), -EDEADLK (the calling
 * thread is inside lfr_executor_block_on of the task's executor, which
 * would never poll the task again while it waits, or inside its
 * lfr_executor_free, in a drop; said whether or not the task is over).  On the owner thread outside block_on it waits for ever
 * unless the task is over: nothing else polls it.
 * Threads: any but the owner of the task's executor; not from a waker
 * (it blocks a poller).  Blocks: until the task is over, on the handle's
 * mutex and condition variable.  Ordering: everything the task did, its
 * drop included, happens before it returns.
 */
LFR_EXTERN int lfr_task_join(struct lfr_task *task);

/*
 * lfr_task_cancel - ask for the task to be dropped: at its next poll
 * boundary the owner calls drop(state) instead of poll, never during a
 * poll; a task that is not queued is woken for it.  A task that finished
 * first stays finished (its join reports 0).  Drop runs once, however
 * cancels, wakes and free race.  The handle stays the caller's: join or
 * detach it.  Cancelling again does nothing more.
 * Returns 0, or -EINVAL (task NULL).
 * Threads: any, including from a task (itself too: it is dropped after
 * the poll it is in) or a waker.  Blocks: no; one atomic store and one
 * wake (after its executor was freed, a wake that drains its queue).
 */
LFR_EXTERN int lfr_task_cancel(struct lfr_task *task);

/*
 * lfr_task_detach - end the handle without waiting; the task runs on, as
 * if spawned with lfr_executor_spawn.  A joining waker stored by
 * lfr_task_join_poll is dropped.  NULL is a no-op.
 * Threads: any.  Blocks: on the handle's mutex, briefly.
 */
LFR_EXTERN void lfr_task_detach(struct lfr_task *task);

#ifdef __cplusplus
}
#endif

#endif /* LFREACTOR_EXECUTOR_H */
