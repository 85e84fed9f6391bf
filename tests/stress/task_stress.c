/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * task_stress - task handles, cancel, stop and free under races.
 *
 * Three phases, each checked at its end:
 *  cancel   one executor thread runs block_on; for every job the main
 *           thread spawns it with a handle, waits for its first poll, then
 *           cancels it while a waker thread wakes it; half the handles are
 *           joined (-ECANCELED), half detached.  Every job is dropped
 *           exactly once and never polled after its drop.
 *  stop     a spawner thread holding a reference spawns (with and without
 *           handles, cancelling, joining and detaching some) while the main
 *           thread stops the executor and frees it.  Every accepted spawn
 *           is dropped exactly once, a refused one (-ESHUTDOWN) never.
 *  free     the same with the owner running block_on for one round of the
 *           queue and freeing at once.
 * Plain C (no test framework), so ThreadSanitizer, valgrind and
 * AddressSanitizer can run it.
 *
 *   task_stress [--rounds N]   (default 200)
 *
 * Exits 0 and prints "task_stress: ok ..." when every invariant held.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lfreactor.h>

#define CHECK(c)                                                             \
	do {                                                                 \
		if (!(c)) {                                                  \
			fprintf(stderr, "task_stress: %s:%d: %s\n", __FILE__, \
				__LINE__, #c);                               \
			exit(1);                                             \
		}                                                            \
	} while (0)

/* ---- cancel racing wakes ---------------------------------------------------- */

struct job {
	atomic_int polls;
	atomic_int drops;
	atomic_int misuse;         /* polled after its drop */
	atomic_bool has_kept;
	struct lfr_waker kept;     /* cloned at the first poll */
	int owner_only;            /* written by poll and drop: the owner's */
};

static enum lfr_poll job_poll(void *state, const struct lfr_waker *w)
{
	struct job *j = state;

	if (atomic_load(&j->drops))
		atomic_fetch_add(&j->misuse, 1);
	atomic_fetch_add(&j->polls, 1);
	j->owner_only++;
	if (!atomic_load(&j->has_kept)) {
		j->kept = lfr_waker_clone(w);
		atomic_store(&j->has_kept, true);
	}
	return LFR_PENDING;
}

static void job_drop(void *state)
{
	struct job *j = state;

	j->owner_only = -1;
	atomic_fetch_add(&j->drops, 1);
}

static enum lfr_poll forever_poll(void *state, const struct lfr_waker *w)
{
	(void)state;
	(void)w;
	return LFR_PENDING;
}

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
	CHECK(lfr_executor_new(&r->ex) == 0);
	atomic_store(&r->started, false);
	CHECK(pthread_create(&r->thread, NULL, runner_main, r) == 0);
	while (!atomic_load(&r->started))
		sched_yield();
}

/* the waker thread wakes the job published in "current" until told to end */
static _Atomic(struct job *) current;
static atomic_bool waker_done;

static void *waker_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&waker_done)) {
		struct job *j = atomic_load(&current);

		if (j)
			lfr_waker_wake_by_ref(&j->kept);
		else
			sched_yield();
	}
	return NULL;
}

static void phase_cancel(int rounds)
{
	struct job *jobs = calloc((size_t)rounds, sizeof(*jobs));
	struct runner r;
	pthread_t w;

	CHECK(jobs);
	runner_start(&r);
	atomic_store(&waker_done, false);
	CHECK(pthread_create(&w, NULL, waker_main, NULL) == 0);
	for (int i = 0; i < rounds; i++) {
		struct job *j = &jobs[i];
		struct lfr_task *h;

		CHECK(lfr_executor_spawn_handle(r.ex, job_poll, job_drop, j,
						&h) == 0);
		while (!atomic_load(&j->has_kept))
			sched_yield();
		atomic_store(&current, j);
		for (int k = 0; k < i % 5; k++)
			sched_yield();
		CHECK(lfr_task_cancel(h) == 0);
		if (i % 2) {
			CHECK(lfr_task_join(h) == -ECANCELED);
			CHECK(atomic_load(&j->drops) == 1);
			CHECK(j->owner_only == -1); /* the drop happened before */
		} else {
			lfr_task_detach(h);
		}
	}
	atomic_store(&waker_done, true);
	pthread_join(w, NULL);
	CHECK(lfr_executor_stop(r.ex) == 0);
	pthread_join(r.thread, NULL);
	CHECK(r.ret == -ECANCELED);
	lfr_executor_free(r.ex);
	for (int i = 0; i < rounds; i++) {
		CHECK(atomic_load(&jobs[i].drops) == 1);
		CHECK(atomic_load(&jobs[i].misuse) == 0);
		lfr_waker_drop(&jobs[i].kept);
	}
	free(jobs);
}

/* ---- spawns racing stop and free -------------------------------------------- */

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

enum { PER_ROUND = 128 };

struct spawner {
	struct lfr_executor *ex;   /* its own reference */
	struct counted tasks[PER_ROUND];
	int ok;
};

static void *spawner_main(void *arg)
{
	struct spawner *sp = arg;

	for (int i = 0; i < PER_ROUND; i++) {
		struct lfr_task *h = NULL;
		int ret = i % 2 ?
			lfr_executor_spawn_handle(sp->ex, counted_poll,
						  counted_drop, &sp->tasks[i],
						  &h) :
			lfr_executor_spawn(sp->ex, counted_poll, counted_drop,
					   &sp->tasks[i]);

		if (ret == -ESHUTDOWN)
			break;
		CHECK(ret == 0);
		sp->ok++;
		if (!h)
			continue;
		if (i % 3 == 0)
			CHECK(lfr_task_cancel(h) == 0);
		if (i % 4 == 1) {
			lfr_task_detach(h);
		} else {
			int r = lfr_task_join(h);

			CHECK(r == 0 || r == -ECANCELED);
			CHECK(atomic_load(&sp->tasks[i].drops) == 1);
		}
	}
	lfr_executor_unref(sp->ex);
	return NULL;
}

static void check_spawner(const struct spawner *sp)
{
	for (int i = 0; i < PER_ROUND; i++) {
		CHECK(atomic_load(&sp->tasks[i].drops) == (i < sp->ok));
		CHECK(atomic_load(&sp->tasks[i].polls) <= 1);
	}
}

static void phase_stop(int rounds)
{
	for (int round = 0; round < rounds; round++) {
		struct spawner *sp = calloc(1, sizeof(*sp));
		struct runner r;
		pthread_t t;

		CHECK(sp);
		runner_start(&r);
		sp->ex = lfr_executor_ref(r.ex);
		CHECK(pthread_create(&t, NULL, spawner_main, sp) == 0);
		for (int k = 0; k < round % 7; k++)
			sched_yield();
		CHECK(lfr_executor_stop(r.ex) == 0);
		pthread_join(r.thread, NULL);
		CHECK(r.ret == -ECANCELED);
		lfr_executor_free(r.ex);
		pthread_join(t, NULL);
		check_spawner(sp);
		free(sp);
	}
}

static enum lfr_poll yield_once_poll(void *state, const struct lfr_waker *w)
{
	int *n = state;

	if ((*n)++)
		return LFR_READY;
	lfr_waker_wake_by_ref(w);
	return LFR_PENDING;
}

static void phase_free(int rounds)
{
	for (int round = 0; round < rounds; round++) {
		struct spawner *sp = calloc(1, sizeof(*sp));
		struct lfr_executor *ex;
		pthread_t t;
		int n = 0;

		CHECK(sp);
		CHECK(lfr_executor_new(&ex) == 0);
		sp->ex = lfr_executor_ref(ex);
		CHECK(pthread_create(&t, NULL, spawner_main, sp) == 0);
		for (int k = 0; k < round % 7; k++)
			sched_yield();
		CHECK(lfr_executor_block_on(ex, yield_once_poll, &n) == 0);
		lfr_executor_free(ex);
		pthread_join(t, NULL);
		check_spawner(sp);
		free(sp);
	}
}

int main(int argc, char **argv)
{
	int rounds = 200;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: %s [--rounds N]\n", argv[0]);
			return 2;
		}
	}
	if (rounds < 1) {
		fprintf(stderr, "task_stress: --rounds must be at least 1\n");
		return 2;
	}
	phase_cancel(rounds);
	phase_stop(rounds);
	phase_free(rounds);
	printf("task_stress: ok, %d rounds of cancel, stop and free races\n",
	       rounds);
	return 0;
}
