/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The executor: block_on, spawn, wakes from any thread, lifetimes. */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "test_hooks.h"

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

/* ---- task handles: join, cancel, detach ------------------------------------- */

TestSuite(tasks, .timeout = 120);

/* a task that stays pending until its gate opens; counts polls and drops,
 * and polls after its drop (misuse) */
struct job {
	atomic_bool open;
	atomic_int polls;
	atomic_int drops;
	atomic_int misuse;
	atomic_bool has_kept;
	struct lfr_waker kept;      /* its waker, cloned at the first poll */
};

static enum lfr_poll job_poll(void *state, const struct lfr_waker *w)
{
	struct job *j = state;

	if (atomic_load(&j->drops))
		atomic_fetch_add(&j->misuse, 1);
	atomic_fetch_add(&j->polls, 1);
	if (atomic_load(&j->open))
		return LFR_READY;
	if (!atomic_load(&j->has_kept)) {
		j->kept = lfr_waker_clone(w);
		atomic_store(&j->has_kept, true);
	}
	return LFR_PENDING;
}

static void job_drop(void *state)
{
	atomic_fetch_add(&((struct job *)state)->drops, 1);
}

static void job_release_waker(struct job *j)
{
	if (atomic_exchange(&j->has_kept, false))
		lfr_waker_drop(&j->kept);
}

/* a future that never finishes: block_on returns only when stopped */
static enum lfr_poll forever_poll(void *state, const struct lfr_waker *w)
{
	(void)state;
	(void)w;
	return LFR_PENDING;
}

/* an owner thread running block_on(forever) until stopped */
struct runner {
	struct lfr_executor *ex;
	pthread_t thread;
	atomic_bool started;
	int ret;
};

static void *runner_main(void *arg)
{
	struct runner *r = arg;

	atomic_store(&r->started, true);
	r->ret = lfr_executor_block_on(r->ex, forever_poll, NULL);
	return NULL;
}

static void runner_start(struct runner *r)
{
	cr_assert_eq(lfr_executor_new(&r->ex), 0);
	atomic_store(&r->started, false);
	cr_assert_eq(pthread_create(&r->thread, NULL, runner_main, r), 0);
	while (!atomic_load(&r->started))
		sleep_ms(1);
}

/* stops the runner, joins it, frees its executor */
static void runner_end(struct runner *r)
{
	cr_assert_eq(lfr_executor_stop(r->ex), 0);
	pthread_join(r->thread, NULL);
	cr_assert_eq(r->ret, -ECANCELED);
	lfr_executor_free(r->ex);
}

/* the main future: spawns a job with a handle on its own executor, opens
 * its gate after its first poll, and joins it as a future */
struct joiner {
	struct job job;
	struct lfr_task *handle;
	int step;
	int result;
	int drops_at_join;
	int pendings;
};

static struct lfr_executor *joiner_ex;

static enum lfr_poll join_in_task_poll(void *state, const struct lfr_waker *w)
{
	struct joiner *jn = state;

	switch (jn->step) {
	case 0:
		cr_assert_eq(lfr_executor_spawn_handle(joiner_ex, job_poll,
						       job_drop, &jn->job,
						       &jn->handle), 0);
		jn->step = 1;
		/* fall through */
	case 1:
		if (atomic_load(&jn->job.polls) == 1) {
			/* pending once: open the gate and wake it */
			atomic_store(&jn->job.open, true);
			lfr_waker_wake_by_ref(&jn->job.kept);
			jn->step = 2;
		} else {
			lfr_waker_wake_by_ref(w); /* yield until it ran */
			return LFR_PENDING;
		}
		/* fall through */
	case 2:
		if (lfr_task_join_poll(jn->handle, w, &jn->result) ==
		    LFR_PENDING) {
			jn->pendings++;
			return LFR_PENDING;
		}
		jn->drops_at_join = atomic_load(&jn->job.drops);
		return LFR_READY;
	}
	return LFR_READY;
}

Test(tasks, join_from_a_task_reports_0_after_the_drop)
{
	static struct joiner jn;

	cr_assert_eq(lfr_executor_new(&joiner_ex), 0);
	cr_assert_eq(lfr_executor_block_on(joiner_ex, join_in_task_poll, &jn),
		     0);
	cr_assert_eq(jn.result, 0, "the task returned LFR_READY");
	cr_assert_eq(jn.drops_at_join, 1, "the drop ran before join reported");
	cr_assert_geq(jn.pendings, 1, "the join waited for the task");
	cr_assert_eq(atomic_load(&jn.job.polls), 2);
	job_release_waker(&jn.job);
	lfr_executor_free(joiner_ex);
	cr_assert_eq(atomic_load(&jn.job.drops), 1);
}

static void *open_job_later(void *arg)
{
	struct job *j = arg;

	while (!atomic_load(&j->has_kept))
		sleep_ms(1);
	sleep_ms(20);
	atomic_store(&j->open, true);
	lfr_waker_wake_by_ref(&j->kept);
	return NULL;
}

Test(tasks, join_from_a_thread_waits_for_the_task)
{
	static struct runner r;
	static struct job j;
	struct lfr_task *h;
	pthread_t t;

	runner_start(&r);
	cr_assert_eq(lfr_executor_spawn_handle(r.ex, job_poll, job_drop, &j,
					       &h), 0);
	pthread_create(&t, NULL, open_job_later, &j);
	cr_assert_eq(lfr_task_join(h), 0);
	cr_assert_eq(atomic_load(&j.drops), 1, "dropped before join returned");
	cr_assert_eq(atomic_load(&j.polls), 2);
	pthread_join(t, NULL);
	job_release_waker(&j);
	runner_end(&r);
	cr_assert_eq(atomic_load(&j.drops), 1);
}

/* a task on executor A joined as a future by the main future of executor B
 * on another thread, with a counting waker polled from a plain thread too */
Test(tasks, join_poll_from_another_executor_and_a_plain_thread)
{
	static struct runner a;
	static struct job j;
	static struct counting_waker cw;
	struct lfr_waker w;
	struct lfr_task *h;
	int result = 42;

	cw_init(&cw);
	w = cw_waker(&cw);
	runner_start(&a);
	cr_assert_eq(lfr_executor_spawn_handle(a.ex, job_poll, job_drop, &j,
					       &h), 0);
	cr_assert_eq(lfr_task_join_poll(h, &w, &result), LFR_PENDING);
	cr_assert_eq(result, 42, "untouched while pending");
	cr_assert_eq(lfr_task_join_poll(h, &w, &result), LFR_PENDING);
	cr_assert_eq(atomic_load(&cw.clones), 1, "the same waker is kept once");
	cr_assert(WAIT_FOR(atomic_load(&j.has_kept), 10000));
	atomic_store(&j.open, true);
	lfr_waker_wake_by_ref(&j.kept);
	cr_assert(WAIT_FOR(cw_wakes(&cw) == 1, 10000), "the joiner is woken");
	cr_assert_eq(lfr_task_join_poll(h, &w, &result), LFR_READY);
	cr_assert_eq(result, 0);
	cr_assert_eq(atomic_load(&cw.refs), 1, "its clone was consumed");
	cr_assert_eq(atomic_load(&cw.misuse), 0);
	job_release_waker(&j);
	runner_end(&a);
}

static enum lfr_poll join_self_poll(void *state, const struct lfr_waker *w)
{
	struct joiner *jn = state;

	(void)w;
	cr_assert_eq(lfr_executor_spawn_handle(joiner_ex, job_poll, job_drop,
					       &jn->job, &jn->handle), 0);
	jn->result = lfr_task_join(jn->handle);
	return LFR_READY;
}

Test(tasks, a_blocking_join_inside_block_on_of_the_tasks_executor_is_edeadlk)
{
	static struct joiner jn;

	cr_assert_eq(lfr_executor_new(&joiner_ex), 0);
	cr_assert_eq(lfr_executor_block_on(joiner_ex, join_self_poll, &jn), 0);
	cr_assert_eq(jn.result, -EDEADLK);
	/* the handle is untouched: it still joins, from outside block_on */
	cr_assert_eq(lfr_task_cancel(jn.handle), 0);
	lfr_executor_free(joiner_ex);
	cr_assert_eq(lfr_task_join(jn.handle), -ECANCELED);
	cr_assert_eq(atomic_load(&jn.job.drops), 1);
}

/* a task whose drop joins a sibling on the same executor, during free */
struct joins_in_drop {
	struct job sibling;
	struct lfr_task *sibling_handle;
	int result;
	atomic_int drops;
};

static void joins_in_drop_drop(void *state)
{
	struct joins_in_drop *d = state;

	d->result = lfr_task_join(d->sibling_handle);
	atomic_fetch_add(&d->drops, 1);
}

Test(tasks, a_blocking_join_in_a_drop_during_free_is_edeadlk)
{
	static struct joins_in_drop d;
	struct lfr_executor *ex;

	cr_assert_eq(lfr_executor_new(&ex), 0);
	cr_assert_eq(lfr_executor_spawn_handle(ex, job_poll, job_drop,
					       &d.sibling, &d.sibling_handle),
		     0);
	cr_assert_eq(lfr_executor_spawn(ex, forever_poll, joins_in_drop_drop,
					&d), 0);
	lfr_executor_free(ex); /* a hang here is the deadlock (timeout) */
	cr_assert_eq(atomic_load(&d.drops), 1);
	cr_assert_eq(d.result, -EDEADLK);
	cr_assert_eq(lfr_task_join(d.sibling_handle), -ECANCELED);
}

/* ready once the queue has been run through: wakes itself once */
static enum lfr_poll yield_once_poll(void *state, const struct lfr_waker *w)
{
	int *n = state;

	if ((*n)++)
		return LFR_READY;
	lfr_waker_wake_by_ref(w);
	return LFR_PENDING;
}

Test(tasks, cancel_before_the_first_poll_drops_without_polling)
{
	static struct job j;
	struct lfr_executor *ex;
	struct lfr_task *h;
	int n = 0;

	cr_assert_eq(lfr_executor_new(&ex), 0);
	cr_assert_eq(lfr_executor_spawn_handle(ex, job_poll, job_drop, &j, &h),
		     0);
	cr_assert_eq(lfr_task_cancel(h), 0);
	cr_assert_eq(lfr_task_cancel(h), 0, "again: nothing more");
	cr_assert_eq(atomic_load(&j.drops), 0, "not dropped outside a poll");
	cr_assert_eq(lfr_executor_block_on(ex, yield_once_poll, &n), 0);
	cr_assert_eq(atomic_load(&j.polls), 0);
	cr_assert_eq(atomic_load(&j.drops), 1);
	cr_assert_eq(lfr_task_join(h), -ECANCELED);
	lfr_executor_free(ex);
	cr_assert_eq(atomic_load(&j.drops), 1);
}

/* nothing else wakes it: the cancel does, and the parked owner drops it */
Test(tasks, cancel_of_a_pending_task_wakes_it_to_be_dropped)
{
	static struct runner r;
	static struct job j;
	struct lfr_task *h;

	runner_start(&r);
	cr_assert_eq(lfr_executor_spawn_handle(r.ex, job_poll, job_drop, &j,
					       &h), 0);
	cr_assert(WAIT_FOR(atomic_load(&j.has_kept), 10000));
	sleep_ms(20); /* the owner parks; not required */
	cr_assert_eq(lfr_task_cancel(h), 0);
	cr_assert_eq(lfr_task_join(h), -ECANCELED, "a hang: no wake");
	cr_assert_eq(atomic_load(&j.drops), 1);
	cr_assert_eq(atomic_load(&j.polls), 1, "dropped, not polled");
	runner_end(&r);
	job_release_waker(&j);
}

/* a task that cancels itself in its poll: the drop waits for the poll */
struct self_cancel {
	struct lfr_task *handle;
	int polls;
	int drops_seen_in_poll;
	atomic_int drops;
};

static enum lfr_poll self_cancel_poll(void *state, const struct lfr_waker *w)
{
	struct self_cancel *sc = state;

	(void)w;
	sc->polls++;
	cr_assert_eq(lfr_task_cancel(sc->handle), 0);
	sc->drops_seen_in_poll += atomic_load(&sc->drops);
	return LFR_PENDING;
}

static void self_cancel_drop(void *state)
{
	atomic_fetch_add(&((struct self_cancel *)state)->drops, 1);
}

static struct self_cancel the_self_cancel;

static enum lfr_poll spawn_self_cancel_poll(void *state,
					    const struct lfr_waker *w)
{
	struct lfr_executor *ex = state;
	struct self_cancel *sc = &the_self_cancel;

	if (!sc->handle) {
		cr_assert_eq(lfr_executor_spawn_handle(ex, self_cancel_poll,
						       self_cancel_drop, sc,
						       &sc->handle), 0);
		lfr_waker_wake_by_ref(w);
		return LFR_PENDING;
	}
	if (!atomic_load(&sc->drops)) {
		lfr_waker_wake_by_ref(w); /* yield until it is dropped */
		return LFR_PENDING;
	}
	return LFR_READY;
}

Test(tasks, a_task_cancelled_during_its_poll_is_dropped_after_it)
{
	struct lfr_executor *ex;
	struct self_cancel *sc = &the_self_cancel;

	cr_assert_eq(lfr_executor_new(&ex), 0);
	cr_assert_eq(lfr_executor_block_on(ex, spawn_self_cancel_poll, ex), 0);
	cr_assert_eq(sc->polls, 1);
	cr_assert_eq(sc->drops_seen_in_poll, 0, "never dropped mid-poll");
	cr_assert_eq(atomic_load(&sc->drops), 1);
	cr_assert_eq(lfr_task_join(sc->handle), -ECANCELED);
	lfr_executor_free(ex);
	cr_assert_eq(atomic_load(&sc->drops), 1);
}

struct race {
	struct job *job;
	pthread_barrier_t *go;
	int wakes;
};

static void *wake_in_race(void *arg)
{
	struct race *rc = arg;

	pthread_barrier_wait(rc->go);
	for (int i = 0; i < rc->wakes; i++)
		lfr_waker_wake_by_ref(&rc->job->kept);
	return NULL;
}

/* a task polled once, pending; then a cancel and a wake from another
 * thread race; the owner is parked meanwhile */
Test(tasks, cancel_while_pending_then_a_racing_wake_drops_once)
{
	static struct runner r;
	static struct job j;
	static pthread_barrier_t go;
	struct race rc = { &j, &go, 1 };
	struct lfr_task *h;
	pthread_t t;

	pthread_barrier_init(&go, NULL, 2);
	runner_start(&r);
	cr_assert_eq(lfr_executor_spawn_handle(r.ex, job_poll, job_drop, &j,
					       &h), 0);
	cr_assert(WAIT_FOR(atomic_load(&j.has_kept), 10000));
	pthread_create(&t, NULL, wake_in_race, &rc);
	pthread_barrier_wait(&go);
	cr_assert_eq(lfr_task_cancel(h), 0);
	pthread_join(t, NULL);
	cr_assert_eq(lfr_task_join(h), -ECANCELED);
	cr_assert_eq(atomic_load(&j.drops), 1);
	lfr_waker_wake_by_ref(&j.kept); /* a wake after the drop: nothing */
	runner_end(&r);
	cr_assert_eq(atomic_load(&j.drops), 1, "dropped once");
	cr_assert_eq(atomic_load(&j.misuse), 0, "never polled after its drop");
	cr_assert_leq(atomic_load(&j.polls), 2, "at most the race's poll");
	job_release_waker(&j);
	pthread_barrier_destroy(&go);
}

/* many times: a pending task, woken in a loop from one thread while
 * another cancels it; each is dropped once, never polled after, and its
 * join reports -ECANCELED */
Test(tasks, cancel_racing_wakes_from_another_thread_in_a_loop)
{
	static struct runner r;
	static struct job jobs[500];
	static pthread_barrier_t go;

	pthread_barrier_init(&go, NULL, 2);
	runner_start(&r);
	for (int i = 0; i < 500; i++) {
		struct job *j = &jobs[i];
		struct race rc = { j, &go, 1 + i % 64 };
		struct lfr_task *h;
		pthread_t t;

		cr_assert_eq(lfr_executor_spawn_handle(r.ex, job_poll,
						       job_drop, j, &h), 0);
		cr_assert(WAIT_FOR(atomic_load(&j->has_kept), 10000));
		pthread_create(&t, NULL, wake_in_race, &rc);
		pthread_barrier_wait(&go);
		for (int k = 0; k < i % 7; k++)
			sched_yield();
		cr_assert_eq(lfr_task_cancel(h), 0);
		if (i % 2) {
			cr_assert_eq(lfr_task_join(h), -ECANCELED);
			cr_assert_eq(atomic_load(&j->drops), 1);
		} else {
			lfr_task_detach(h); /* dropped on its own */
		}
		pthread_join(t, NULL);
	}
	runner_end(&r);
	for (int i = 0; i < 500; i++) {
		cr_assert_eq(atomic_load(&jobs[i].drops), 1, "job %d", i);
		cr_assert_eq(atomic_load(&jobs[i].misuse), 0, "job %d", i);
		job_release_waker(&jobs[i]);
	}
	pthread_barrier_destroy(&go);
}

Test(tasks, a_detached_task_runs_on)
{
	static struct runner r;
	static struct job j;
	struct lfr_task *h;
	pthread_t t;

	runner_start(&r);
	cr_assert_eq(lfr_executor_spawn_handle(r.ex, job_poll, job_drop, &j,
					       &h), 0);
	lfr_task_detach(h);
	pthread_create(&t, NULL, open_job_later, &j);
	cr_assert(WAIT_FOR(atomic_load(&j.drops) == 1, 10000),
		  "it finished without a handle");
	cr_assert_eq(atomic_load(&j.polls), 2);
	pthread_join(t, NULL);
	job_release_waker(&j);
	runner_end(&r);
	cr_assert_eq(atomic_load(&j.drops), 1);
}

/* a handle, a waker and an executor reference outlive the executor, and
 * are released in each order */
Test(tasks, handles_wakers_and_references_outlive_the_executor)
{
	static struct job j[3];
	struct lfr_executor *ex, *ref;
	struct lfr_task *h[3];
	struct lfr_waker w[3];
	int n = 0;

	cr_assert_eq(lfr_executor_new(&ex), 0);
	ref = lfr_executor_ref(ex);
	cr_assert_eq(ref, ex);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(lfr_executor_spawn_handle(ex, job_poll, job_drop,
						       &j[i], &h[i]), 0);
	cr_assert_eq(lfr_executor_block_on(ex, yield_once_poll, &n), 0);
	for (int i = 0; i < 3; i++) {
		cr_assert(atomic_load(&j[i].has_kept));
		w[i] = lfr_waker_clone(&j[i].kept);
	}
	lfr_executor_free(ex);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(atomic_load(&j[i].drops), 1);
	/* the executor is closed, its memory held by ref and the tasks */
	cr_assert_eq(lfr_executor_spawn(ref, job_poll, job_drop, &j[0]),
		     -ESHUTDOWN);
	cr_assert_eq(lfr_executor_block_on(ref, yield_once_poll, &n),
		     -ESHUTDOWN);
	cr_assert_eq(lfr_executor_stop(ref), 0);
	/* handle first, then wakers, then the reference */
	cr_assert_eq(lfr_task_join(h[0]), -ECANCELED);
	lfr_waker_wake(&w[0]);
	job_release_waker(&j[0]);
	/* the reference first, then the handle, then the wakers */
	lfr_executor_unref(ref);
	cr_assert_eq(lfr_task_cancel(h[1]), 0);
	lfr_task_detach(h[1]);
	lfr_waker_drop(&w[1]);
	job_release_waker(&j[1]);
	/* wakers, then the handle last */
	lfr_waker_wake_by_ref(&w[2]);
	lfr_waker_drop(&w[2]);
	job_release_waker(&j[2]);
	cr_assert_eq(lfr_task_join(h[2]), -ECANCELED);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(atomic_load(&j[i].drops), 1);
		cr_assert_eq(atomic_load(&j[i].misuse), 0);
		cr_assert_eq(atomic_load(&j[i].polls), 1);
	}
}

Test(tasks, bad_arguments)
{
	struct lfr_executor *ex;
	struct lfr_task *h = (struct lfr_task *)&h;
	struct lfr_waker w = lfr_waker_noop();
	int result = 1;
	static struct job j;

	cr_assert_eq(lfr_executor_new(&ex), 0);
	cr_assert_eq(lfr_executor_spawn_handle(NULL, job_poll, NULL, NULL, &h),
		     -EINVAL);
	cr_assert_eq(lfr_executor_spawn_handle(ex, NULL, NULL, NULL, &h),
		     -EINVAL);
	cr_assert_eq(lfr_executor_spawn_handle(ex, job_poll, NULL, NULL, NULL),
		     -EINVAL);
	cr_assert_eq(h, (struct lfr_task *)&h, "untouched on failure");
	cr_assert_eq(lfr_task_join(NULL), -EINVAL);
	cr_assert_eq(lfr_task_cancel(NULL), -EINVAL);
	lfr_task_detach(NULL);
	cr_assert_eq(lfr_task_join_poll(NULL, &w, &result), LFR_READY);
	cr_assert_eq(result, -EINVAL);
	cr_assert_eq(lfr_executor_stop(NULL), -EINVAL);
	cr_assert_null(lfr_executor_ref(NULL));
	lfr_executor_unref(NULL);
	/* a live handle: NULL waker or result leave it as it was */
	cr_assert_eq(lfr_executor_spawn_handle(ex, job_poll, job_drop, &j, &h),
		     0);
	result = 1;
	cr_assert_eq(lfr_task_join_poll(h, NULL, &result), LFR_READY);
	cr_assert_eq(result, -EINVAL);
	cr_assert_eq(lfr_task_join_poll(h, &w, NULL), LFR_READY);
	cr_assert_eq(lfr_task_join_poll(h, &w, &result), LFR_PENDING);
	lfr_executor_free(ex);
	cr_assert_eq(lfr_task_join_poll(h, &w, &result), LFR_READY);
	cr_assert_eq(result, -ECANCELED);
	cr_assert_eq(atomic_load(&j.drops), 1);
}

/* a joining waker that cannot be cloned, or has no vtable, is an error
 * the caller sees, not a PENDING nothing will end; the waker stored
 * before stays and is woken when the task is over */
Test(tasks, join_poll_with_an_uncloneable_or_empty_waker_fails_and_keeps_the_old)
{
	static struct counting_waker kept, failing;
	static struct job j;
	struct lfr_waker empty = { NULL, NULL }, w;
	struct lfr_executor *ex;
	struct lfr_task *h;
	int result = 1;

	cw_init(&kept);
	cw_init(&failing);
	atomic_store(&failing.fail_clone, true);
	cr_assert_eq(lfr_executor_new(&ex), 0);
	cr_assert_eq(lfr_executor_spawn_handle(ex, job_poll, job_drop, &j, &h),
		     0);
	w = cw_waker(&kept);
	cr_assert_eq(lfr_task_join_poll(h, &w, &result), LFR_PENDING);
	w = cw_waker(&failing);
	result = 1;
	cr_assert_eq(lfr_task_join_poll(h, &w, &result), LFR_READY,
		     "a failed clone: no PENDING without a waker");
	cr_assert_eq(result, -ENOMEM);
	result = 1;
	cr_assert_eq(lfr_task_join_poll(h, &empty, &result), LFR_READY);
	cr_assert_eq(result, -EINVAL);
	cr_assert_eq(atomic_load(&kept.drops), 0, "the old waker stays");
	lfr_executor_free(ex);
	cr_assert_eq(cw_wakes(&kept), 1, "and is woken at the task's end");
	w = lfr_waker_noop();
	cr_assert_eq(lfr_task_join_poll(h, &w, &result), LFR_READY);
	cr_assert_eq(result, -ECANCELED);
	cr_assert_eq(atomic_load(&kept.misuse), 0);
	cr_assert_eq(atomic_load(&kept.refs), 1);
}

Test(tasks, spawn_handle_out_of_memory_takes_nothing)
{
	static struct job j;
	struct lfr_executor *ex;
	struct lfr_task *h = NULL;

	cr_assert_eq(lfr_executor_new(&ex), 0);
	lfr__hooks.fail_alloc_after = 0;
	cr_assert_eq(lfr_executor_spawn_handle(ex, job_poll, job_drop, &j, &h),
		     -ENOMEM);
	lfr__hooks.fail_alloc_after = -1;
	cr_assert_null(h);
	lfr_executor_free(ex);
	cr_assert_eq(atomic_load(&j.drops), 0);
}

/* ---- stop ------------------------------------------------------------------- */

TestSuite(stop, .timeout = 120);

Test(stop, stop_from_another_thread_ends_a_parked_block_on)
{
	static struct runner r;

	runner_start(&r);
	sleep_ms(50); /* long enough to be parked; not required */
	runner_end(&r); /* a missed stop hangs here: the test times out */
}

Test(stop, stop_before_block_on_polls_nothing)
{
	struct lfr_executor *ex;
	atomic_int polls = 0;

	cr_assert_eq(lfr_executor_new(&ex), 0);
	cr_assert_eq(lfr_executor_stop(ex), 0);
	cr_assert_eq(lfr_executor_block_on(ex, ready_poll, &polls), -ECANCELED);
	cr_assert_eq(lfr_executor_block_on(ex, ready_poll, &polls), -ECANCELED,
		     "stop is for good");
	cr_assert_eq(atomic_load(&polls), 0);
	lfr_executor_free(ex);
}

/* a task stops its own executor: block_on returns after its poll, and the
 * main future's waker does nothing afterwards */
static enum lfr_poll stop_self_poll(void *state, const struct lfr_waker *w)
{
	struct lfr_executor *ex = state;

	(void)w;
	cr_assert_eq(lfr_executor_stop(ex), 0);
	return LFR_PENDING;
}

Test(stop, a_task_stops_its_own_executor)
{
	static struct job j;
	struct lfr_executor *ex;
	struct lfr_task *h;

	cr_assert_eq(lfr_executor_new(&ex), 0);
	cr_assert_eq(lfr_executor_spawn_handle(ex, job_poll, job_drop, &j, &h),
		     0);
	cr_assert_eq(lfr_executor_block_on(ex, stop_self_poll, ex), -ECANCELED);
	lfr_executor_free(ex);
	cr_assert_eq(lfr_task_join(h), -ECANCELED);
	cr_assert_eq(atomic_load(&j.drops), 1);
	job_release_waker(&j);
}

static struct lfr_executor *signalled_ex;

static void stop_on_signal(int sig)
{
	(void)sig;
	lfr_executor_stop(signalled_ex);
}

Test(stop, stop_from_a_signal_handler_on_the_parked_owner)
{
	static struct runner r;
	struct sigaction sa = { .sa_handler = stop_on_signal };

	runner_start(&r);
	signalled_ex = r.ex;
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	sleep_ms(50);
	pthread_kill(r.thread, SIGUSR1); /* runs on the parked thread */
	pthread_join(r.thread, NULL);
	cr_assert_eq(r.ret, -ECANCELED);
	lfr_executor_free(r.ex);
}

struct sigwaiter {
	sigset_t set;
	struct lfr_executor *ex;
};

static void *sigwait_then_stop(void *arg)
{
	struct sigwaiter *sw = arg;
	int sig;

	sigwait(&sw->set, &sig);
	lfr_executor_stop(sw->ex);
	return NULL;
}

Test(stop, stop_from_a_thread_waiting_on_signals)
{
	static struct runner r;
	static struct sigwaiter sw;
	pthread_t t;

	sigemptyset(&sw.set);
	sigaddset(&sw.set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &sw.set, NULL); /* inherited by both */
	runner_start(&r);
	sw.ex = r.ex;
	pthread_create(&t, NULL, sigwait_then_stop, &sw);
	pthread_kill(t, SIGUSR2);
	pthread_join(t, NULL);
	pthread_join(r.thread, NULL);
	cr_assert_eq(r.ret, -ECANCELED);
	lfr_executor_free(r.ex);
}

/* counts each spawned task's polls and drops */
struct counted {
	atomic_int polls;
	atomic_int drops;
};

static enum lfr_poll counted_poll(void *state, const struct lfr_waker *w)
{
	(void)w;
	atomic_fetch_add(&((struct counted *)state)->polls, 1);
	return LFR_READY;
}

static void counted_drop(void *state)
{
	atomic_fetch_add(&((struct counted *)state)->drops, 1);
}

struct spawner {
	struct lfr_executor *ex;   /* a reference of its own */
	struct counted *tasks;
	int max;
	int ok;                    /* spawned: 0 returned */
	int refused;               /* -ESHUTDOWN */
	bool handles;              /* spawn with handles, join or detach */
	atomic_bool go;
};

static void *spawner_main(void *arg)
{
	struct spawner *sp = arg;

	while (!atomic_load(&sp->go))
		;
	for (int i = 0; i < sp->max; i++) {
		struct lfr_task *h;
		int ret = sp->handles ?
			lfr_executor_spawn_handle(sp->ex, counted_poll,
						  counted_drop, &sp->tasks[i],
						  &h) :
			lfr_executor_spawn(sp->ex, counted_poll, counted_drop,
					   &sp->tasks[i]);

		if (ret == -ESHUTDOWN) {
			sp->refused++;
			break; /* for good */
		}
		cr_assert_eq(ret, 0);
		sp->ok++;
		if (sp->handles && i % 3 == 0)
			cr_assert_eq(lfr_task_cancel(h), 0);
		if (sp->handles && i % 2)
			lfr_task_detach(h);
		else if (sp->handles)
			cr_assert(lfr_task_join(h) == 0 ||
				  atomic_load(&sp->tasks[i].polls) == 0);
	}
	lfr_executor_unref(sp->ex);
	return NULL;
}

static void check_counted(const struct spawner *sp)
{
	for (int i = 0; i < sp->max; i++) {
		const struct counted *c = &sp->tasks[i];

		cr_assert_eq(atomic_load(&c->drops), i < sp->ok ? 1 : 0,
			     "task %d: each accepted spawn dropped once", i);
		cr_assert_leq(atomic_load(&c->polls), 1, "task %d", i);
	}
}

/* spawns race a stop; then the owner frees while they go on */
Test(stop, stop_racing_spawn)
{
	enum { N = 4000 };
	static struct counted tasks[2][N];

	for (int round = 0; round < 2; round++) {
		struct runner r;
		struct spawner sp = { .tasks = tasks[round], .max = N,
				      .handles = round == 1 };
		pthread_t t;

		runner_start(&r);
		sp.ex = lfr_executor_ref(r.ex);
		pthread_create(&t, NULL, spawner_main, &sp);
		atomic_store(&sp.go, true);
		sched_yield();
		cr_assert_eq(lfr_executor_stop(r.ex), 0);
		pthread_join(r.thread, NULL);
		cr_assert_eq(r.ret, -ECANCELED);
		lfr_executor_free(r.ex); /* spawns still running: -ESHUTDOWN */
		pthread_join(t, NULL);
		check_counted(&sp);
	}
}

/* ---- spawn racing free ------------------------------------------------------ */

/* many times: a spawner holding a reference spawns while the owner runs
 * and frees; every spawn either is accepted and dropped once, or gets
 * -ESHUTDOWN; nothing is touched after it is freed (ASan in CI) */
Test(stop, spawn_racing_free_in_a_loop)
{
	enum { ROUNDS = 200, N = 256 };
	static struct counted tasks[N];

	for (int round = 0; round < ROUNDS; round++) {
		struct lfr_executor *ex;
		struct spawner sp = { .tasks = tasks, .max = N,
				      .handles = round % 2 };
		pthread_t t;
		int n = 0;

		memset(tasks, 0, sizeof(tasks));
		cr_assert_eq(lfr_executor_new(&ex), 0);
		sp.ex = lfr_executor_ref(ex);
		pthread_create(&t, NULL, spawner_main, &sp);
		atomic_store(&sp.go, true);
		for (int k = 0; k < round % 5; k++)
			sched_yield();
		cr_assert_eq(lfr_executor_block_on(ex, yield_once_poll, &n), 0);
		lfr_executor_free(ex);
		pthread_join(t, NULL);
		check_counted(&sp);
	}
}

/* the race, forced: a spawn has begun (its reference taken) when
 * the owner frees, and goes on after free returned.  Without the
 * reference first, spawn reads the freed executor (ASan: heap use after
 * free) */
struct in_flight {
	struct lfr_executor *ex;
	sem_t entered, freed;
	int ret;
	struct counted task;
};

static void spawn_entered(void *arg)
{
	struct in_flight *f = arg;

	sem_post(&f->entered);
	while (sem_wait(&f->freed) < 0)
		;
}

static void *spawn_in_flight(void *arg)
{
	struct in_flight *f = arg;

	f->ret = lfr_executor_spawn(f->ex, counted_poll, counted_drop,
				    &f->task);
	return NULL;
}

Test(stop, a_spawn_in_flight_when_free_runs_gets_eshutdown)
{
	static struct in_flight f;
	pthread_t t;

	sem_init(&f.entered, 0, 0);
	sem_init(&f.freed, 0, 0);
	cr_assert_eq(lfr_executor_new(&f.ex), 0);
	lfr__hooks.arg = &f;
	lfr__hooks.spawn_entered = spawn_entered;
	pthread_create(&t, NULL, spawn_in_flight, &f);
	while (sem_wait(&f.entered) < 0)
		;
	lfr_executor_free(f.ex);
	sem_post(&f.freed);
	pthread_join(t, NULL);
	lfr__hooks.spawn_entered = NULL;
	cr_assert_eq(f.ret, -ESHUTDOWN);
	cr_assert_eq(atomic_load(&f.task.drops), 0, "nothing was taken");
	cr_assert_eq(atomic_load(&f.task.polls), 0);
}
