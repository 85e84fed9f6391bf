/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Leaf futures: the timerfd sleep. */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

TestSuite(io, .timeout = 60);

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* a task that sleeps ms, then counts itself done */
struct sleeper {
	struct lfr_reactor *r;
	uint64_t ms;
	struct lfr_sleep *sleep;
	atomic_int *done;
	int threads_seen;
};

static enum lfr_poll sleeper_poll(void *state, const struct lfr_waker *w)
{
	struct sleeper *s = state;
	int err;

	if (!s->sleep)
		cr_assert_eq(lfr_sleep_new(s->r, s->ms, &s->sleep), 0);
	if (lfr_sleep_poll(s->sleep, w, &err) == LFR_PENDING)
		return LFR_PENDING;
	cr_assert_eq(err, 0);
	s->threads_seen = count_dir("/proc/self/task");
	lfr_sleep_free(s->sleep);
	s->sleep = NULL;
	if (s->done)
		atomic_fetch_add(s->done, 1);
	return LFR_READY;
}

Test(io, a_sleep_is_ready_after_its_time_and_not_before)
{
	struct lfr_executor *ex;
	struct sleeper s = { .ms = 50 };
	double t0;

	cr_assert_eq(lfr_reactor_new(NULL, &s.r), 0);
	cr_assert_eq(lfr_executor_new(&ex), 0);
	t0 = now();
	cr_assert_eq(lfr_executor_block_on(ex, sleeper_poll, &s), 0);
	cr_assert_geq(now() - t0, 0.050);
	cr_assert_lt(now() - t0, 5.0);
	lfr_executor_free(ex);
	lfr_reactor_free(s.r);
}

/* main: ready when every sleeper is done */
struct all_done {
	atomic_int *done;
	int n;
};

static enum lfr_poll all_done_poll(void *state, const struct lfr_waker *w)
{
	struct all_done *a = state;

	if (atomic_load(a->done) >= a->n)
		return LFR_READY;
	lfr_waker_wake_by_ref(w); /* yield */
	return LFR_PENDING;
}

Test(io, many_sleeps_share_one_thread_and_the_reactor)
{
	enum { N = 200 };
	static struct sleeper s[N];
	struct lfr_executor *ex;
	struct lfr_reactor *r;
	atomic_int done = 0;
	struct all_done all = { &done, N };
	int threads;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_executor_new(&ex), 0);
	threads = count_dir("/proc/self/task");
	for (int i = 0; i < N; i++) {
		s[i] = (struct sleeper){ .r = r, .ms = 10 + (uint64_t)(i % 40),
					 .done = &done };
		cr_assert_eq(lfr_executor_spawn(ex, sleeper_poll, NULL, &s[i]), 0);
	}
	cr_assert_eq(lfr_executor_block_on(ex, all_done_poll, &all), 0);
	for (int i = 0; i < N; i++)
		cr_assert_eq(s[i].threads_seen, threads, "no thread per timer");
	cr_assert_eq(stats_of(r).registrations, 0, "every timer deregistered");
	lfr_executor_free(ex);
	lfr_reactor_free(r);
}

Test(io, sleep_errors_are_clean)
{
	struct lfr_reactor *r;
	struct lfr_sleep *s = NULL;
	struct lfr_waker w = lfr_waker_noop();
	int fds, err;

	cr_assert_eq(lfr_sleep_new(NULL, 1, &s), -EINVAL);
	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_sleep_new(r, 1, NULL), -EINVAL);
	cr_assert_eq(lfr_sleep_poll(NULL, &w, &err), LFR_READY);
	cr_assert_eq(err, -EINVAL);
	fds = count_dir("/proc/self/fd");
	cr_assert_eq(lfr_reactor_shutdown(r), 0);
	cr_assert_eq(lfr_sleep_new(r, 1, &s), -ESHUTDOWN);
	cr_assert_null(s);
	cr_assert_eq(count_dir("/proc/self/fd"), fds, "no fd left behind");
	lfr_reactor_free(r);
	lfr_sleep_free(NULL);
}
