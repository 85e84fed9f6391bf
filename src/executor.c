/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * executor.c - per-thread executors; see lfreactor/executor.h.
 *
 * Built on the public waker API only.  Lifetimes:
 *  core  the part wakers can reach: ready queue, park permit, closed flag.
 *        Reference-counted: the executor holds one reference, every task
 *        one, so a waker that outlives the executor still finds it.
 *  task  reference-counted: the owner (the executor, until the task
 *        finishes), the ready queue (while queued), and every waker clone.
 *        "finished" is set once, by whoever drops the state.
 * A wake enqueues the task only if it was not queued (an exchange on
 * "queued"), then unparks.  After the executor closed, whoever enqueues
 * also drains the queue, so nothing waits in a queue nobody reads.
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

struct core {
	atomic_long refs;
	atomic_bool closed;
	pthread_mutex_t spawn_lock; /* spawn against close only */
	alignas(LFR__CACHELINE) struct cds_wfcq_head head;   /* its lock: dequeuers */
	alignas(LFR__CACHELINE) struct cds_wfcq_tail tail;
	alignas(LFR__CACHELINE) struct lfr__parker parker;
};

struct task {
	atomic_long refs;
	atomic_int queued;
	atomic_bool finished;
	bool owned;                /* on the owner's list: owner thread only */
	struct core *core;
	lfr_poll_fn poll;
	lfr_drop_fn drop;
	void *state;
	struct cds_wfcq_node node;
	struct task *prev, *next;  /* the owner's list */
};

struct lfr_executor {
	struct core *core;
	struct task *tasks;        /* owned, not finished */
	bool running;
};

/* ---- references -------------------------------------------------------------- */

static void core_unref(struct core *c)
{
	if (atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	cds_wfcq_destroy(&c->head, &c->tail);
	pthread_mutex_destroy(&c->spawn_lock);
	free(c);
}

static void task_unref(struct task *t)
{
	if (atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	core_unref(t->core);
	free(t);
}

/* drops the state, once, and the owner's reference; ex is needed only
 * for a task on the owner's list */
static void finish(struct lfr_executor *ex, struct task *t)
{
	if (atomic_exchange(&t->finished, true))
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
	task_unref(t);
}

static struct task *dequeue(struct core *c)
{
	struct cds_wfcq_node *n = cds_wfcq_dequeue_blocking(&c->head, &c->tail);
	struct task *t;

	if (!n)
		return NULL;
	t = caa_container_of(n, struct task, node);
	/* From here a wake queues it again.  An exchange, not a store: it
	 * reads the last wake's exchange (each writes 1, even on a 1), so
	 * what a waker did before a wake that found the task queued happens
	 * before this poll; a wake after it reads 0 and queues the task. */
	atomic_exchange(&t->queued, 0);
	return t;
}

/* After close: empties the queue.  A spawned task never polled is not on
 * the owner's list, so it is finished here; the others are finished by the
 * owner's walk of its list. */
static void drain_closed(struct core *c)
{
	struct task *t;

	while ((t = dequeue(c))) {
		if (!t->owned)
			finish(NULL, t);
		task_unref(t); /* the queue's */
	}
}

static void enqueue(struct task *t)
{
	struct core *c = t->core;

	atomic_fetch_add(&t->refs, 1); /* the queue's */
	cds_wfcq_node_init(&t->node);
	cds_wfcq_enqueue(&c->head, &c->tail, &t->node);
	/* the enqueue's exchange orders this load after it; close stores
	 * the flag before its own drain: one of the two sees the task */
	if (atomic_load(&c->closed))
		drain_closed(c);
	else
		lfr__unpark(&c->parker);
}

/* ---- the tasks' waker ------------------------------------------------------- */

static struct lfr_waker task_clone(void *data);

static void task_wake_by_ref(void *data)
{
	struct task *t = data;

	if (atomic_load(&t->finished) || atomic_exchange(&t->queued, 1))
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
	struct task *t = data;

	atomic_fetch_add(&t->refs, 1);
	return (struct lfr_waker){ &task_vtable, t };
}

/* ---- the executor ----------------------------------------------------------- */

int lfr_executor_new(struct lfr_executor **out)
{
	struct lfr_executor *ex;
	struct core *c;

	if (!out)
		return -EINVAL;
	ex = lfr__alloc(0, sizeof(*ex));
	c = ex ? lfr__alloc(alignof(struct core), sizeof(*c)) : NULL;
	if (!c) {
		free(ex);
		return -ENOMEM;
	}
	memset(ex, 0, sizeof(*ex));
	memset(c, 0, sizeof(*c));
	atomic_init(&c->refs, 1);
	pthread_mutex_init(&c->spawn_lock, NULL);
	cds_wfcq_init(&c->head, &c->tail);
	lfr__parker_init(&c->parker);
	ex->core = c;
	*out = ex;
	return 0;
}

static struct task *task_new(struct core *c, lfr_poll_fn poll,
			     lfr_drop_fn drop, void *state)
{
	struct task *t = lfr__alloc(0, sizeof(*t));

	if (!t)
		return NULL;
	memset(t, 0, sizeof(*t));
	atomic_init(&t->refs, 1); /* the owner's */
	t->poll = poll;
	t->drop = drop;
	t->state = state;
	t->core = c;
	atomic_fetch_add(&c->refs, 1);
	return t;
}

int lfr_executor_spawn(struct lfr_executor *ex, lfr_poll_fn poll,
		       lfr_drop_fn drop, void *state)
{
	struct core *c;
	struct task *t;
	int ret = 0;

	if (!ex || !poll)
		return -EINVAL;
	c = ex->core;
	t = task_new(c, poll, drop, state);
	if (!t)
		return -ENOMEM;
	/* close happens under the same lock: a task enqueued here before it
	 * is seen by close's drain */
	pthread_mutex_lock(&c->spawn_lock);
	if (atomic_load(&c->closed)) {
		ret = -ESHUTDOWN;
	} else {
		atomic_store(&t->queued, 1);
		enqueue(t);
	}
	pthread_mutex_unlock(&c->spawn_lock);
	if (ret) {
		t->drop = NULL; /* nothing was taken */
		atomic_store(&t->finished, true);
		task_unref(t);
	}
	return ret;
}

/* polls t once; the owner thread */
static void run(struct lfr_executor *ex, struct task *t)
{
	struct lfr_waker w = { &task_vtable, t };

	if (!t->owned) {
		t->owned = true;
		t->next = ex->tasks;
		if (ex->tasks)
			ex->tasks->prev = t;
		ex->tasks = t;
	}
	if (!atomic_load(&t->finished) && t->poll(t->state, &w) == LFR_READY)
		finish(ex, t);
}

int lfr_executor_block_on(struct lfr_executor *ex, lfr_poll_fn poll,
			  void *state)
{
	struct task *main_task, *t;

	if (!ex || !poll)
		return -EINVAL;
	if (ex->running)
		return -EBUSY;
	main_task = task_new(ex->core, poll, NULL, state);
	if (!main_task)
		return -ENOMEM;
	ex->running = true;
	atomic_fetch_add(&main_task->refs, 1); /* ours, to read finished */
	run(ex, main_task);
	while (!atomic_load(&main_task->finished)) {
		while ((t = dequeue(ex->core))) {
			run(ex, t);
			task_unref(t); /* the queue's */
		}
		if (!atomic_load(&main_task->finished))
			lfr__park(&ex->core->parker);
	}
	task_unref(main_task);
	ex->running = false;
	return 0;
}

void lfr_executor_free(struct lfr_executor *ex)
{
	struct core *c;
	struct task *t;

	if (!ex)
		return;
	c = ex->core;
	pthread_mutex_lock(&c->spawn_lock);
	atomic_store(&c->closed, true);
	pthread_mutex_unlock(&c->spawn_lock);
	drain_closed(c);
	while ((t = ex->tasks))
		finish(ex, t);
	core_unref(c);
	free(ex);
}
