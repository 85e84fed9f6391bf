/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * executor.c - per-thread executors and task handles; see
 * lfreactor/executor.h.
 *
 * Built on the public waker API only.  Lifetimes (all reference counts):
 *  executor  refs: the owner's (lfr_executor_new until lfr_executor_free),
 *            every task's, every lfr_executor_ref.  lfr_executor_free
 *            closes it and drops the owner's; the memory goes with the
 *            last reference, so a waker, a handle or a spawner holding a
 *            reference that outlives free still finds the ready queue,
 *            the park word and the closed flag.  A spawn takes the task's
 *            reference before it reads anything else of the executor.
 *  task      refs: the owner (until the task is over), the ready queue
 *            (while queued), every waker clone, the handle (until join
 *            reports or it is detached).  "over" is set once, by whoever
 *            drops the state; a task with a handle then publishes its
 *            outcome under the handle's mutex (never taken on a wake).
 * A wake enqueues the task only if it was not queued (an exchange on
 * "queued"), then unparks.  After the executor closed, whoever enqueues
 * also drains the queue, so nothing waits in a queue nobody reads.
 * Cancel is a flag and a wake: the owner reads the flag after dequeuing
 * the task, where the wake's exchange on "queued" orders it, and drops the
 * task instead of polling it.  Stop is a flag and an unpark: block_on
 * reads the flag before it parks and after every poll.
 */
#include "config.h"

#define _LGPL_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/wfcqueue.h>

#include <lfreactor/executor.h>

#include "park.h"
#include "internal.h"
#include "test_hooks.h"

/* ThreadSanitizer cannot see the hand-off through the wfcqueue (an
 * inline-asm exchange on the tail, then a plain store of the link): in
 * --enable-tsan builds an enqueue releases the node and a dequeue acquires
 * it (LFR__TSAN_RELEASE and _ACQUIRE, from internal.h). */

struct lfr_task;

struct lfr_executor {
	atomic_long refs;
	atomic_bool closed;
	atomic_bool stopped;
	pthread_mutex_t spawn_lock; /* spawn against close only */
	struct lfr_task *tasks;         /* the owner's list: owned, not over */
	bool running;               /* owner only */
	alignas(LFR__CACHELINE) struct cds_wfcq_head head;   /* its lock: dequeuers */
	alignas(LFR__CACHELINE) struct cds_wfcq_tail tail;
	alignas(LFR__CACHELINE) struct lfr__parker parker;
};

/* what a handle sees; allocated with the task when it has one */
struct join {
	pthread_mutex_t lock;
	pthread_cond_t cond;       /* blocking joiners */
	bool done;                 /* the outcome is in: result */
	int result;                /* 0 or -ECANCELED */
	bool has_waker;
	struct lfr_waker waker;    /* a joining task's, until done */
};

struct lfr_task {
	atomic_long refs;
	atomic_int queued;
	atomic_bool over;          /* state dropped or being dropped */
	atomic_bool cancelled;
	bool owned;                /* on the owner's list: owner thread only */
	struct lfr_executor *ex;
	lfr_poll_fn poll;
	lfr_drop_fn drop;
	void *state;
	struct join *join;         /* NULL: no handle was asked for */
	struct cds_wfcq_node node;
	struct lfr_task *prev, *next;  /* the owner's list */
};

struct task_with_join {
	struct lfr_task task;
	struct join join;
};

/* the executors whose block_on (or free) this thread is inside, innermost
 * first: a blocking join of one of their tasks would wait for itself */
struct frame {
	const struct lfr_executor *ex;
	struct frame *up;
};
static LFR__TLS struct frame *inside;

/* ---- references -------------------------------------------------------------- */

static void ex_unref(struct lfr_executor *ex)
{
	if (atomic_fetch_sub(&ex->refs, 1) != 1)
		return;
	cds_wfcq_destroy(&ex->head, &ex->tail);
	pthread_mutex_destroy(&ex->spawn_lock);
	free(ex);
}

static void task_unref(struct lfr_task *t)
{
	if (atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	if (t->join) {
		pthread_cond_destroy(&t->join->cond);
		pthread_mutex_destroy(&t->join->lock);
	}
	ex_unref(t->ex);
	free(t);
}

/* the handle learns the outcome; the joining task is woken, blocking
 * joiners are signalled.  Whoever drops the state, after the drop. */
static void publish(struct join *j, int result)
{
	struct lfr_waker w = { 0 };
	bool had;

	pthread_mutex_lock(&j->lock);
	j->done = true;
	j->result = result;
	had = j->has_waker;
	if (had)
		w = j->waker;
	j->has_waker = false;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
	if (had)
		lfr_waker_wake(&w); /* user code: outside the lock */
}

/* drops the state, once, and the owner's reference; ex is needed only
 * for a task on the owner's list.  result: 0 (the poll returned
 * LFR_READY) or -ECANCELED (dropped before). */
static void finish(struct lfr_executor *ex, struct lfr_task *t, int result)
{
	if (atomic_exchange(&t->over, true))
		return;
	if (t->drop)
		t->drop(t->state);
	if (t->owned) {
		if (t->prev)
			t->prev->next = t->next;
		else
			ex->tasks = t->next;
		if (t->next)
			t->next->prev = t->prev;
	}
	if (t->join)
		publish(t->join, result);
	task_unref(t);
}

static struct lfr_task *dequeue(struct lfr_executor *ex)
{
	struct cds_wfcq_node *n = cds_wfcq_dequeue_blocking(&ex->head, &ex->tail);
	struct lfr_task *t;

	if (!n)
		return NULL;
	t = caa_container_of(n, struct lfr_task, node);
	LFR__TSAN_ACQUIRE(&t->node);
	/* From here a wake queues it again.  An exchange, not a store: it
	 * reads the last wake's exchange (each writes 1, even on a 1), so
	 * what a waker did before a wake that found the task queued happens
	 * before this poll (a cancel's flag among it); a wake after it reads
	 * 0 and queues the task. */
	atomic_exchange(&t->queued, 0);
	return t;
}

/* After close: empties the queue.  A spawned task never polled is not on
 * the owner's list, so it is finished here; the others are finished by the
 * owner's walk of its list. */
static void drain_closed(struct lfr_executor *ex)
{
	struct lfr_task *t;

	while ((t = dequeue(ex))) {
		if (!t->owned)
			finish(NULL, t, -ECANCELED);
		task_unref(t); /* the queue's */
	}
}

static void enqueue(struct lfr_task *t)
{
	struct lfr_executor *ex = t->ex;

	atomic_fetch_add(&t->refs, 1); /* the queue's */
	cds_wfcq_node_init(&t->node);
	LFR__TSAN_RELEASE(&t->node);
	cds_wfcq_enqueue(&ex->head, &ex->tail, &t->node);
	/* the enqueue's exchange orders this load after it; close stores
	 * the flag before its own drain: one of the two sees the task */
	if (atomic_load(&ex->closed))
		drain_closed(ex);
	else
		lfr__unpark(&ex->parker);
}

/* ---- the tasks' waker ------------------------------------------------------- */

static struct lfr_waker task_clone(void *data);

static void task_wake_by_ref(void *data)
{
	struct lfr_task *t = data;

	if (atomic_load(&t->over) || atomic_exchange(&t->queued, 1))
		return;
	enqueue(t);
}

static void task_drop(void *data)
{
	task_unref(data);
}

static void task_wake(void *data)
{
	task_wake_by_ref(data);
	task_drop(data);
}

static const struct lfr_waker_vtable task_vtable = {
	task_clone, task_wake, task_wake_by_ref, task_drop,
};

static struct lfr_waker task_clone(void *data)
{
	struct lfr_task *t = data;

	atomic_fetch_add(&t->refs, 1);
	return (struct lfr_waker){ &task_vtable, t };
}

/* ---- the executor ----------------------------------------------------------- */

int lfr_executor_new(struct lfr_executor **out)
{
	struct lfr_executor *ex;

	if (!out)
		return -EINVAL;
	ex = lfr__alloc(alignof(struct lfr_executor), sizeof(*ex));
	if (!ex)
		return -ENOMEM;
	memset(ex, 0, sizeof(*ex));
	atomic_init(&ex->refs, 1); /* the owner's */
	pthread_mutex_init(&ex->spawn_lock, NULL);
	cds_wfcq_init(&ex->head, &ex->tail);
	lfr__parker_init(&ex->parker);
	*out = ex;
	return 0;
}

struct lfr_executor *lfr_executor_ref(struct lfr_executor *ex)
{
	if (ex)
		atomic_fetch_add(&ex->refs, 1);
	return ex;
}

void lfr_executor_unref(struct lfr_executor *ex)
{
	if (ex)
		ex_unref(ex);
}

/* a task holding the executor reference the caller took for it */
static struct lfr_task *task_new(struct lfr_executor *ex, lfr_poll_fn poll,
			     lfr_drop_fn drop, void *state, bool handle)
{
	struct lfr_task *t;

	if (handle) {
		struct task_with_join *tj = lfr__alloc(0, sizeof(*tj));

		if (!tj)
			return NULL;
		memset(tj, 0, sizeof(*tj));
		t = &tj->task;
		t->join = &tj->join;
		pthread_mutex_init(&t->join->lock, NULL);
		pthread_cond_init(&t->join->cond, NULL);
	} else {
		t = lfr__alloc(0, sizeof(*t));
		if (!t)
			return NULL;
		memset(t, 0, sizeof(*t));
	}
	atomic_init(&t->refs, handle ? 2 : 1); /* the owner's, the handle's */
	t->poll = poll;
	t->drop = drop;
	t->state = state;
	t->ex = ex;
	return t;
}

static int spawn(struct lfr_executor *ex, lfr_poll_fn poll, lfr_drop_fn drop,
		 void *state, struct lfr_task **handle)
{
	struct lfr_task *t;
	bool closed;

	/* the task's reference first: from here a free racing this spawn
	 * leaves the executor's memory alone until the reference goes */
	atomic_fetch_add(&ex->refs, 1);
	LFR__HOOK(spawn_entered);
	t = task_new(ex, poll, drop, state, handle != NULL);
	if (!t) {
		ex_unref(ex);
		return -ENOMEM;
	}
	/* close happens under the same lock: a task enqueued here before it
	 * is seen by close's drain */
	pthread_mutex_lock(&ex->spawn_lock);
	closed = atomic_load(&ex->closed);
	if (!closed) {
		atomic_store(&t->queued, 1);
		enqueue(t);
	}
	pthread_mutex_unlock(&ex->spawn_lock);
	if (closed) { /* nothing was taken; nobody else saw t */
		atomic_store(&t->refs, 1);
		t->drop = NULL;
		atomic_store(&t->over, true);
		task_unref(t);
		return -ESHUTDOWN;
	}
	if (handle)
		*handle = t;
	return 0;
}

int lfr_executor_spawn(struct lfr_executor *ex, lfr_poll_fn poll,
		       lfr_drop_fn drop, void *state)
{
	if (!ex || !poll)
		return -EINVAL;
	return spawn(ex, poll, drop, state, NULL);
}

int lfr_executor_spawn_handle(struct lfr_executor *ex, lfr_poll_fn poll,
			      lfr_drop_fn drop, void *state,
			      struct lfr_task **out)
{
	if (!ex || !poll || !out)
		return -EINVAL;
	return spawn(ex, poll, drop, state, out);
}

/* polls t once, or drops it if it was cancelled; the owner thread */
static void run(struct lfr_executor *ex, struct lfr_task *t)
{
	struct lfr_waker w = { &task_vtable, t };

	if (atomic_load(&t->over))
		return;
	if (!t->owned) {
		t->owned = true;
		t->next = ex->tasks;
		if (ex->tasks)
			ex->tasks->prev = t;
		ex->tasks = t;
	}
	if (atomic_load(&t->cancelled))
		finish(ex, t, -ECANCELED);
	else if (t->poll(t->state, &w) == LFR_READY)
		finish(ex, t, 0);
}

int lfr_executor_block_on(struct lfr_executor *ex, lfr_poll_fn poll,
			  void *state)
{
	struct lfr_task *main_task, *t;
	struct frame frame;
	int ret = 0;

	if (!ex || !poll)
		return -EINVAL;
	if (ex->running)
		return -EBUSY;
	if (atomic_load(&ex->closed))
		return -ESHUTDOWN;
	if (atomic_load(&ex->stopped))
		return -ECANCELED;
	atomic_fetch_add(&ex->refs, 1); /* the main task's */
	main_task = task_new(ex, poll, NULL, state, false);
	if (!main_task) {
		ex_unref(ex);
		return -ENOMEM;
	}
	ex->running = true;
	frame = (struct frame){ ex, inside };
	inside = &frame;
	atomic_fetch_add(&main_task->refs, 1); /* ours, to read over */
	run(ex, main_task);
	while (!atomic_load(&main_task->over)) {
		if (atomic_load(&ex->stopped)) {
			ret = -ECANCELED;
			break;
		}
		while ((t = dequeue(ex))) {
			run(ex, t);
			task_unref(t); /* the queue's */
			if (atomic_load_explicit(&ex->stopped,
						 memory_order_relaxed))
				break;
		}
		/* a stop stores its flag before it unparks: either the
		 * load at the top sees it, or its permit ends this park */
		if (!atomic_load(&main_task->over) &&
		    !atomic_load(&ex->stopped))
			lfr__park(&ex->parker);
	}
	if (ret)
		finish(ex, main_task, -ECANCELED); /* off the list; no drop */
	task_unref(main_task);
	inside = frame.up;
	ex->running = false;
	return ret;
}

/* stop and ref are documented async-signal-safe: lock-free atomics only */
_Static_assert(ATOMIC_BOOL_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2 &&
		       ATOMIC_LONG_LOCK_FREE == 2,
	       "lfr_executor_stop needs lock-free atomics");

int lfr_executor_stop(struct lfr_executor *ex)
{
	int saved_errno = errno;

	if (!ex)
		return -EINVAL;
	atomic_store(&ex->stopped, true);
	lfr__unpark(&ex->parker);
	errno = saved_errno; /* async-signal-safe: the futex call may set it */
	return 0;
}

void lfr_executor_free(struct lfr_executor *ex)
{
	struct lfr_task *t;
	struct frame frame;
	bool was_closed;

	if (!ex)
		return;
	pthread_mutex_lock(&ex->spawn_lock);
	was_closed = atomic_exchange(&ex->closed, true);
	pthread_mutex_unlock(&ex->spawn_lock);
	if (was_closed)
		return; /* the owner's reference is gone already */
	frame = (struct frame){ ex, inside }; /* drops that join: -EDEADLK */
	inside = &frame;
	drain_closed(ex);
	while ((t = ex->tasks))
		finish(ex, t, -ECANCELED);
	inside = frame.up;
	ex_unref(ex);
}

/* ---- task handles ----------------------------------------------------------- */

/* the handle's end: a stored joining waker is dropped, outside the lock */
static void handle_release(struct lfr_task *t)
{
	struct join *j = t->join;
	struct lfr_waker w = { 0 };
	bool had;

	pthread_mutex_lock(&j->lock);
	had = j->has_waker;
	if (had)
		w = j->waker;
	j->has_waker = false;
	pthread_mutex_unlock(&j->lock);
	if (had)
		lfr_waker_drop(&w);
	task_unref(t);
}

enum lfr_poll lfr_task_join_poll(struct lfr_task *t,
				 const struct lfr_waker *waker, int *result)
{
	struct join *j;
	struct lfr_waker fresh, old = { 0 };
	bool had = false;
	int r;

	if (!result)
		return LFR_READY;
	if (!t) {
		*result = -EINVAL;
		return LFR_READY;
	}
	j = t->join;
	pthread_mutex_lock(&j->lock);
	if (j->done)
		goto done;
	if (!waker || !waker->vtable) {
		pthread_mutex_unlock(&j->lock);
		*result = -EINVAL;
		return LFR_READY;
	}
	if (j->has_waker && lfr_waker_will_wake(&j->waker, waker)) {
		pthread_mutex_unlock(&j->lock);
		return LFR_PENDING;
	}
	pthread_mutex_unlock(&j->lock);
	fresh = lfr_waker_clone(waker); /* user code: outside the lock */
	if (!fresh.vtable) { /* nothing could wake the joiner: keep the old */
		*result = -ENOMEM;
		return LFR_READY;
	}
	pthread_mutex_lock(&j->lock);
	if (j->done) {
		pthread_mutex_unlock(&j->lock);
		lfr_waker_drop(&fresh);
		pthread_mutex_lock(&j->lock);
		goto done;
	}
	had = j->has_waker;
	if (had)
		old = j->waker;
	j->waker = fresh;
	j->has_waker = true;
	pthread_mutex_unlock(&j->lock);
	if (had)
		lfr_waker_drop(&old);
	return LFR_PENDING;
done:
	r = j->result;
	pthread_mutex_unlock(&j->lock);
	handle_release(t);
	*result = r;
	return LFR_READY;
}

int lfr_task_join(struct lfr_task *t)
{
	struct join *j;
	int r;

	if (!t)
		return -EINVAL;
	for (struct frame *f = inside; f; f = f->up)
		if (f->ex == t->ex)
			return -EDEADLK;
	j = t->join;
	pthread_mutex_lock(&j->lock);
	while (!j->done)
		pthread_cond_wait(&j->cond, &j->lock);
	r = j->result;
	pthread_mutex_unlock(&j->lock);
	handle_release(t);
	return r;
}

int lfr_task_cancel(struct lfr_task *t)
{
	if (!t)
		return -EINVAL;
	atomic_store(&t->cancelled, true);
	task_wake_by_ref(t); /* to its next poll boundary */
	return 0;
}

void lfr_task_detach(struct lfr_task *t)
{
	if (t)
		handle_release(t);
}
