/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The executor: block_on, spawn, wakes from any thread, lifetimes. */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "helpers.h"

TestSuite(executor, .timeout = 60);

/* a future that is ready once *flag is set, keeping a clone of its waker
 * in *kept for whoever sets the flag */
struct gate_future {
	atomic_bool open;
	atomic_int polls;
	struct lfr_waker kept;
	atomic_bool has_kept;
};

static enum lfr_poll gate_poll(void *state, const struct lfr_waker *w)
{
	struct gate_future *g = state;

	atomic_fetch_add(&g->polls, 1);
	if (atomic_load(&g->open))
		return LFR_READY;
	if (!atomic_load(&g->has_kept)) {
		g->kept = lfr_waker_clone(w);
		atomic_store(&g->has_kept, true);
	}
	return LFR_PENDING;
}

static enum lfr_poll ready_poll(void *state, const struct lfr_waker *w)
{
	(void)w;
	atomic_fetch_add((atomic_int *)state, 1);
	return LFR_READY;
}

Test(executor, block_on_returns_when_the_future_is_ready)
{
	struct lfr_executor *ex;
	atomic_int polls = 0;

	cr_assert_eq(lfr_executor_new(&ex), 0);
	cr_assert_eq(lfr_executor_block_on(ex, ready_poll, &polls), 0);
	cr_assert_eq(atomic_load(&polls), 1);
	lfr_executor_free(ex);
}

Test(executor, bad_arguments_are_einval)
{
	struct lfr_executor *ex;

	cr_assert_eq(lfr_executor_new(NULL), -EINVAL);
	cr_assert_eq(lfr_executor_new(&ex), 0);
	cr_assert_eq(lfr_executor_spawn(NULL, ready_poll, NULL, NULL), -EINVAL);
	cr_assert_eq(lfr_executor_spawn(ex, NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(lfr_executor_block_on(NULL, ready_poll, NULL), -EINVAL);
	cr_assert_eq(lfr_executor_block_on(ex, NULL, NULL), -EINVAL);
	lfr_executor_free(ex);
	lfr_executor_free(NULL);
}

static void *open_later(void *arg)
{
	struct gate_future *g = arg;

	while (!atomic_load(&g->has_kept))
		sleep_ms(1);
	sleep_ms(20);
	atomic_store(&g->open, true);
	lfr_waker_wake(&g->kept); /* consumes the clone */
	return NULL;
}

Test(executor, a_wake_from_another_thread_runs_the_task)
{
	static struct gate_future g;
	struct lfr_executor *ex;
	pthread_t t;

	cr_assert_eq(lfr_executor_new(&ex), 0);
	pthread_create(&t, NULL, open_later, &g);
	cr_assert_eq(lfr_executor_block_on(ex, gate_poll, &g), 0);
	pthread_join(t, NULL);
	cr_assert_eq(atomic_load(&g.polls), 2, "pending once, then ready");
	lfr_executor_free(ex);
}

/* a spawned task that waits on a gate; counts its drops */
struct spawned {
	struct gate_future gate;
	atomic_int drops;
};

static void spawned_drop(void *state)
{
	atomic_fetch_add(&((struct spawned *)state)->drops, 1);
}

static enum lfr_poll spawned_poll(void *state, const struct lfr_waker *w)
{
	return gate_poll(&((struct spawned *)state)->gate, w);
}

/* the main future: ready when the task's gate was polled n times; until
 * then it yields (wakes itself) so the executor polls it again */
struct until_polled {
	struct spawned *task;
	int n;
};

static enum lfr_poll until_polled_poll(void *state, const struct lfr_waker *w)
{
	struct until_polled *u = state;

	if (atomic_load(&u->task->gate.polls) >= u->n)
		return LFR_READY;
	lfr_waker_wake_by_ref(w);
	return LFR_PENDING;
}

Test(executor, repeated_wakes_queue_a_task_once)
{
	static struct spawned s;
	struct until_polled first = { &s, 1 }, second = { &s, 2 };
	struct lfr_executor *ex;
	struct lfr_waker w;

	cr_assert_eq(lfr_executor_new(&ex), 0);
	cr_assert_eq(lfr_executor_spawn(ex, spawned_poll, spawned_drop, &s), 0);
	/* spawn queued it: one poll, which keeps a waker */
	cr_assert_eq(lfr_executor_block_on(ex, until_polled_poll, &first), 0);
	w = lfr_waker_clone(&s.gate.kept);
	for (int i = 0; i < 100; i++)
		lfr_waker_wake_by_ref(&w);
	/* a hundred wakes before it runs: it runs once */
	cr_assert_eq(lfr_executor_block_on(ex, until_polled_poll, &second), 0);
	cr_assert_eq(atomic_load(&s.gate.polls), 2, "queued once");
	lfr_waker_drop(&w);
	lfr_waker_drop(&s.gate.kept);
	lfr_executor_free(ex);
	cr_assert_eq(atomic_load(&s.drops), 1, "free dropped the pending task");
}

Test(executor, free_drops_spawned_tasks_never_polled)
{
	static struct spawned s[4];
	struct lfr_executor *ex;

	cr_assert_eq(lfr_executor_new(&ex), 0);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(lfr_executor_spawn(ex, spawned_poll, spawned_drop,
						&s[i]), 0);
	lfr_executor_free(ex);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(atomic_load(&s[i].drops), 1);
		cr_assert_eq(atomic_load(&s[i].gate.polls), 0);
	}
}

Test(executor, a_waker_outliving_its_task_and_executor_is_safe)
{
	static struct spawned s;
	struct until_polled once = { &s, 1 };
	struct lfr_executor *ex;
	struct lfr_waker late;

	cr_assert_eq(lfr_executor_new(&ex), 0);
	cr_assert_eq(lfr_executor_spawn(ex, spawned_poll, spawned_drop, &s), 0);
	cr_assert_eq(lfr_executor_block_on(ex, until_polled_poll, &once), 0);
	late = lfr_waker_clone(&s.gate.kept);
	lfr_executor_free(ex);
	cr_assert_eq(atomic_load(&s.drops), 1);
	/* the task and the executor are gone; their wakers still work */
	lfr_waker_wake_by_ref(&late);
	lfr_waker_wake(&s.gate.kept);
	lfr_waker_drop(&late);
	cr_assert_eq(atomic_load(&s.gate.polls), 1, "nothing ran after free");
}

/* ---- spawning onto another thread's executor ---------------------------- */

struct counter_task {
	atomic_int *done;
};

static enum lfr_poll count_poll(void *state, const struct lfr_waker *w)
{
	(void)w;
	atomic_fetch_add(((struct counter_task *)state)->done, 1);
	return LFR_READY;
}

static void count_drop(void *state)
{
	free(state);
}

struct wait_count {
	atomic_int *done;
	int n;
};

static enum lfr_poll wait_count_poll(void *state, const struct lfr_waker *w)
{
	struct wait_count *c = state;

	if (atomic_load(c->done) >= c->n)
		return LFR_READY;
	lfr_waker_wake_by_ref(w);
	return LFR_PENDING;
}

struct owner {
	struct lfr_executor *ex;
	atomic_int done;
	atomic_bool ready;
};

static void *owner_main(void *arg)
{
	struct owner *o = arg;
	struct wait_count wc = { &o->done, 3000 };

	atomic_store(&o->ready, true);
	cr_assert_eq(lfr_executor_block_on(o->ex, wait_count_poll, &wc), 0);
	return NULL;
}

Test(executor, tasks_spawned_from_other_threads_run_on_the_owner)
{
	static struct owner o;
	pthread_t t;

	cr_assert_eq(lfr_executor_new(&o.ex), 0);
	pthread_create(&t, NULL, owner_main, &o);
	for (int i = 0; i < 3000; i++) {
		struct counter_task *c = malloc(sizeof(*c));

		c->done = &o.done;
		cr_assert_eq(lfr_executor_spawn(o.ex, count_poll, count_drop, c), 0);
	}
	pthread_join(t, NULL);
	cr_assert_eq(atomic_load(&o.done), 3000);
	lfr_executor_free(o.ex);
}

/* ---- no lost wake-up between park and wake --------------------------------- */

/* ping-pong: the main future waits for the other thread to bump "turn";
 * each bump comes with a wake, racing the executor's park */
struct pingpong {
	atomic_int turn;
	atomic_int seen;
	struct lfr_waker waker;
	atomic_bool has_waker;
	int rounds;
};

static enum lfr_poll pong_poll(void *state, const struct lfr_waker *w)
{
	struct pingpong *p = state;

	if (!atomic_load(&p->has_waker)) {
		p->waker = lfr_waker_clone(w);
		atomic_store(&p->has_waker, true);
	}
	atomic_store(&p->seen, atomic_load(&p->turn));
	return atomic_load(&p->turn) >= p->rounds ? LFR_READY : LFR_PENDING;
}

static void *ping_main(void *arg)
{
	struct pingpong *p = arg;

	while (!atomic_load(&p->has_waker))
		;
	for (int i = 1; i <= p->rounds; i++) {
		while (atomic_load(&p->seen) < i - 1)
			; /* the executor saw the last turn: it may park now */
		atomic_store(&p->turn, i);
		lfr_waker_wake_by_ref(&p->waker);
	}
	return NULL;
}

/* a lost wake-up hangs block_on: the timeout turns that into a failure.
 * The protocol itself is checked exhaustively in model/park.pml. */
Test(executor, a_wake_racing_the_park_is_never_lost, .timeout = 60)
{
	static struct pingpong p = { .rounds = 100000 };
	struct lfr_executor *ex;
	pthread_t t;

	cr_assert_eq(lfr_executor_new(&ex), 0);
	pthread_create(&t, NULL, ping_main, &p);
	cr_assert_eq(lfr_executor_block_on(ex, pong_poll, &p), 0,
		     "a lost wake-up would hang here (test timeout)");
	pthread_join(t, NULL);
	cr_assert_eq(atomic_load(&p.turn), p.rounds);
	lfr_waker_drop(&p.waker);
	lfr_executor_free(ex);
}

/* ---- with the reactor: a task waits for a pipe ----------------------------- */

struct pipe_read {
	struct lfr_reactor *r;
	int fd;
	lfr_id id;
	char got;
};

static enum lfr_poll pipe_read_poll(void *state, const struct lfr_waker *w)
{
	struct pipe_read *pr = state;

	if (read(pr->fd, &pr->got, 1) == 1)
		return LFR_READY;
	/* not ready: re-arm, then read again (edge-triggered) */
	cr_assert_eq(lfr_reactor_set_waker(pr->r, w, pr->id), 0);
	return read(pr->fd, &pr->got, 1) == 1 ? LFR_READY : LFR_PENDING;
}

static void *write_later(void *arg)
{
	sleep_ms(30);
	fire(*(int *)arg);
	return NULL;
}

Test(executor, a_task_waits_for_a_pipe_through_the_reactor)
{
	struct lfr_executor *ex;
	struct pipe_read pr = { 0 };
	int fds[2];
	pthread_t t;

	cr_assert_eq(lfr_reactor_new(NULL, &pr.r), 0);
	cr_assert_eq(lfr_executor_new(&ex), 0);
	test_pipe(fds);
	pr.fd = fds[0];
	pr.id = lfr_reactor_next_id(pr.r);
	cr_assert_eq(lfr_reactor_register(pr.r, fds[0], LFR_READABLE, pr.id), 0);
	pthread_create(&t, NULL, write_later, &fds[1]);
	cr_assert_eq(lfr_executor_block_on(ex, pipe_read_poll, &pr), 0);
	pthread_join(t, NULL);
	cr_assert_eq(pr.got, 'x');
	cr_assert_eq(lfr_reactor_deregister(pr.r, fds[0], pr.id), 0);
	lfr_reactor_free(pr.r); /* drops the reactor's waker clone */
	lfr_executor_free(ex);
	close_pipe(fds);
}
