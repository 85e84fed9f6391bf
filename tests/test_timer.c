/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Timers: one heap behind one timerfd per reactor (lfreactor/timer.h), and
 * lfr_sleep on top of it.
 *
 * Tolerance: a timer must never fire before its deadline; how late it may
 * be is left generous (TOLERANCE_NS), for a loaded 2-core machine. */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "test_hooks.h"

TestSuite(timer, .timeout = 120);

#define MS 1000000ull
#define TOLERANCE_NS (2000 * MS)

/* A waker that records when, and in which order, it was woken.  It holds
 * no reference count: clone returns it again, drop does nothing. */
struct rec {
	int idx;
	_Atomic uint64_t woke_at;
	atomic_int wakes;
};

static atomic_int order_len;
static int order[4096];

static void rec_wake_by_ref(void *data)
{
	struct rec *r = data;

	if (atomic_fetch_add(&r->wakes, 1) == 0) {
		atomic_store(&r->woke_at, lfr_timer_now());
		order[atomic_fetch_add(&order_len, 1) % 4096] = r->idx;
	}
}

PLAIN_WAKER(rec, rec_wake_by_ref)

static unsigned long settimes(void)
{
	return atomic_load(&lfr__timerfd_settimes);
}

/* polls t once with w, expecting PENDING */
static void poll_pending(struct lfr_timer *t, const struct lfr_waker *w)
{
	int err = 1;

	cr_assert_eq(lfr_timer_poll(t, w, &err), LFR_PENDING);
	cr_assert_eq(err, 0);
}

static bool is_ready(struct lfr_timer *t)
{
	struct lfr_waker w = lfr_waker_noop();
	int err = 1;
	enum lfr_poll p = lfr_timer_poll(t, &w, &err);

	cr_assert_eq(err, 0);
	return p == LFR_READY;
}

Test(timer, timers_fire_in_deadline_order_never_early_and_within_tolerance)
{
	enum { N = 40 };
	static struct rec recs[N];
	struct lfr_timer *t[N];
	uint64_t deadline[N], t0;
	struct lfr_reactor *r;
	int perm[N], i;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	for (i = 0; i < N; i++)
		perm[i] = i;
	srand(7);
	for (i = N - 1; i > 0; i--) { /* armed in a shuffled order */
		int j = rand() % (i + 1), k = perm[i];

		perm[i] = perm[j];
		perm[j] = k;
	}
	atomic_store(&order_len, 0);
	t0 = lfr_timer_now();
	for (i = 0; i < N; i++) {
		int k = perm[i];
		struct lfr_waker w = rec_clone(&recs[k]);

		recs[k].idx = k;
		cr_assert_eq(lfr_timer_new(r, &t[k]), 0);
		poll_pending(t[k], &w);
		/* 5 ms apart, from 200 ms on (all armed before the first) */
		deadline[k] = t0 + (uint64_t)(200 + 5 * k) * MS;
		cr_assert_eq(lfr_timer_arm(t[k], deadline[k],
					   LFR_TIMER_DEADLINE), 0);
	}
	cr_assert(WAIT_FOR(atomic_load(&order_len) == N, 10000));
	for (i = 0; i < N; i++) {
		uint64_t woke = atomic_load(&recs[i].woke_at);

		cr_assert_eq(order[i], i, "fired %d-th: timer %d", i, order[i]);
		cr_assert_geq(woke, deadline[i], "timer %d fired early", i);
		cr_assert_lt(woke - deadline[i], TOLERANCE_NS,
			     "timer %d fired %llu ns late", i,
			     (unsigned long long)(woke - deadline[i]));
		cr_assert_eq(atomic_load(&recs[i].wakes), 1);
		cr_assert(is_ready(t[i]));
		lfr_timer_free(t[i]);
	}
	lfr_reactor_free(r);
}

Test(timer, equal_deadlines_fire_in_the_order_they_were_armed)
{
	enum { N = 16 };
	static struct rec recs[N];
	struct lfr_timer *t[N];
	struct lfr_reactor *r;
	uint64_t at;
	int i;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	atomic_store(&order_len, 0);
	at = lfr_timer_now() + 300 * MS; /* all armed before it */
	for (i = 0; i < N; i++) {
		struct lfr_waker w = rec_clone(&recs[i]);

		recs[i].idx = i;
		cr_assert_eq(lfr_timer_new(r, &t[i]), 0);
		poll_pending(t[i], &w);
		cr_assert_eq(lfr_timer_arm(t[i], at, LFR_TIMER_DEADLINE), 0);
	}
	cr_assert(WAIT_FOR(atomic_load(&order_len) == N, 10000));
	for (i = 0; i < N; i++) {
		cr_assert_eq(order[i], i);
		lfr_timer_free(t[i]);
	}
	lfr_reactor_free(r);
}

Test(timer, a_reset_to_later_moves_the_deadline_and_to_earlier_fires_sooner)
{
	static struct rec late, soon;
	struct lfr_waker wl = rec_clone(&late), ws = rec_clone(&soon);
	struct lfr_timer *a, *b;
	struct lfr_reactor *r;
	uint64_t t0;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_timer_new(r, &a), 0);
	cr_assert_eq(lfr_timer_new(r, &b), 0);
	poll_pending(a, &wl);
	poll_pending(b, &ws);
	t0 = lfr_timer_now();
	cr_assert_eq(lfr_timer_arm(a, 200 * MS, 0), 0);
	cr_assert_eq(lfr_timer_arm(b, 3600000 * MS, 0), 0); /* an hour */
	cr_assert_eq(lfr_timer_arm(a, 600 * MS, 0), 0);     /* reset: later */
	cr_assert_eq(lfr_timer_arm(b, 10 * MS, 0), 0);      /* reset: sooner */
	cr_assert(WAIT_FOR(atomic_load(&soon.wakes) == 1, 10000));
	cr_assert(is_ready(b));
	cr_assert(WAIT_FOR(atomic_load(&late.wakes) == 1, 10000));
	cr_assert_geq(atomic_load(&late.woke_at), t0 + 600 * MS,
		      "the reset timer fired at its old deadline");
	cr_assert(is_ready(a));
	/* a reset of a fired timer makes it wait again */
	cr_assert_eq(lfr_timer_arm(a, 3600000 * MS, 0), 0);
	cr_assert(!is_ready(a));
	lfr_timer_free(a);
	lfr_timer_free(b);
	lfr_reactor_free(r);
}

Test(timer, a_cancelled_timer_never_fires_and_a_later_arm_wakes_the_task)
{
	static struct rec rc;
	struct lfr_waker w = rec_clone(&rc);
	struct lfr_timer *t;
	struct lfr_reactor *r;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_timer_new(r, &t), 0);
	cr_assert_eq(lfr_timer_cancel(t), 0, "never armed");
	poll_pending(t, &w);
	cr_assert_eq(lfr_timer_arm(t, 200 * MS, 0), 0);
	cr_assert_eq(lfr_timer_cancel(t), 1, "armed, not fired: cancelled");
	cr_assert_eq(lfr_timer_cancel(t), 0);
	sleep_ms(400);
	cr_assert_eq(atomic_load(&rc.wakes), 0, "a cancelled timer fired");
	cr_assert(!is_ready(t));
	/* the waker stayed: arming again wakes it when the time comes */
	poll_pending(t, &w);
	cr_assert_eq(lfr_timer_arm(t, 10 * MS, 0), 0);
	cr_assert(WAIT_FOR(atomic_load(&rc.wakes) == 1, 10000));
	cr_assert(is_ready(t));
	cr_assert_eq(lfr_timer_cancel(t), 0, "fired: nothing to cancel");
	cr_assert(!is_ready(t), "cancelled: not ready any more");
	lfr_timer_free(t);
	lfr_reactor_free(r);
}

Test(timer, a_zero_delay_and_a_past_deadline_are_ready_at_once_without_a_system_call)
{
	static struct rec rc;
	struct lfr_waker w = rec_clone(&rc);
	struct lfr_sleep *s;
	struct lfr_timer *t;
	struct lfr_reactor *r;
	unsigned long calls;
	int err = 1;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_timer_new(r, &t), 0); /* makes the structure */
	calls = settimes();
	cr_assert_eq(lfr_timer_arm(t, 0, 0), 0);
	cr_assert(is_ready(t));
	cr_assert_eq(lfr_timer_arm(t, lfr_timer_now() - 1000, LFR_TIMER_DEADLINE),
		     0);
	cr_assert(is_ready(t));
	cr_assert_eq(lfr_timer_arm(t, 1, LFR_TIMER_DEADLINE), 0);
	cr_assert(is_ready(t));
	/* a task waiting on it is woken by the arm itself */
	cr_assert_eq(lfr_timer_cancel(t), 0);
	poll_pending(t, &w);
	cr_assert_eq(lfr_timer_arm(t, 0, 0), 0);
	cr_assert_eq(atomic_load(&rc.wakes), 1);
	cr_assert_eq(lfr_sleep_new(r, 0, &s), 0);
	cr_assert_eq(lfr_sleep_poll(s, &w, &err), LFR_READY);
	cr_assert_eq(err, 0);
	cr_assert_eq(settimes(), calls, "the timerfd was set");
	lfr_sleep_free(s);
	lfr_timer_free(t);
	lfr_reactor_free(r);
}

Test(timer, arming_resetting_and_cancelling_later_timers_make_no_system_call)
{
	enum { N = 1000 };
	static struct lfr_timer *t[N];
	struct lfr_timer *first, *sooner;
	struct lfr_reactor *r;
	unsigned long calls;
	int i;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_timer_new(r, &first), 0);
	calls = settimes();
	cr_assert_eq(lfr_timer_arm(first, 10000 * MS, 0), 0);
	cr_assert_eq(settimes(), calls + 1, "the first deadline sets the timerfd");
	for (i = 0; i < N; i++) {
		cr_assert_eq(lfr_timer_new(r, &t[i]), 0);
		cr_assert_eq(lfr_timer_arm(t[i], (20000 + (uint64_t)i) * MS, 0),
			     0);
	}
	for (i = 0; i < N; i++) /* resets */
		cr_assert_eq(lfr_timer_arm(t[i], (30000 + (uint64_t)i) * MS, 0),
			     0);
	for (i = 0; i < N; i += 2)
		cr_assert_eq(lfr_timer_cancel(t[i]), 1);
	/* the earliest pushed back or cancelled: the timerfd stays early */
	cr_assert_eq(lfr_timer_arm(first, 40000 * MS, 0), 0);
	cr_assert_eq(lfr_timer_cancel(first), 1);
	cr_assert_eq(settimes(), calls + 1, "%lu timerfd_settime calls",
		     settimes() - calls);
	/* a new earliest deadline: one call */
	cr_assert_eq(lfr_timer_new(r, &sooner), 0);
	cr_assert_eq(lfr_timer_arm(sooner, 5000 * MS, 0), 0);
	cr_assert_eq(settimes(), calls + 2);
	for (i = 0; i < N; i++)
		lfr_timer_free(t[i]);
	lfr_timer_free(first);
	lfr_timer_free(sooner);
	lfr_reactor_free(r);
}

Test(timer, a_hundred_thousand_live_timers_fire_and_the_cancelled_ones_do_not)
{
	enum { N = 100000 };
	static struct lfr_timer *t[N];
	static bool cancelled[N];
	static struct counting_waker cw;
	struct lfr_waker w;
	struct lfr_reactor *r;
	unsigned long calls;
	uint64_t base;
	int i, fds, err, ncancelled = 0;

	cw_init(&cw);
	w = cw_waker(&cw);
	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	fds = count_dir("/proc/self/fd");
	cr_assert_eq(lfr_timer_new(r, &t[0]), 0); /* the structure: one fd */
	calls = settimes();
	srand(11);
	base = lfr_timer_now();
	for (i = 0; i < N; i++) {
		if (i)
			cr_assert_eq(lfr_timer_new(r, &t[i]), 0);
		poll_pending(t[i], &w);
		/* random deadlines 1-1.5 s from the start */
		cr_assert_eq(lfr_timer_arm(t[i], base + (1000 + (uint64_t)(rand() %
								    500)) * MS,
					   LFR_TIMER_DEADLINE), 0);
	}
	/* every other one; on a slow machine one may have fired already */
	for (i = 1; i < N; i += 2) {
		cancelled[i] = lfr_timer_cancel(t[i]) == 1;
		ncancelled += cancelled[i];
	}
	/* a new earliest deadline now and then, not per timer */
	cr_assert_lt(settimes() - calls, 200, "%lu timerfd_settime calls",
		     settimes() - calls);
	cr_assert_eq(count_dir("/proc/self/fd"), fds + 1, "one fd in all");
	cr_assert_eq(stats_of(r).registrations, 1);
	cr_assert(WAIT_FOR(cw_wakes(&cw) >= N - ncancelled, 30000),
		  "%d of %d fired", cw_wakes(&cw), N - ncancelled);
	sleep_ms(50);
	cr_assert_eq(cw_wakes(&cw), N - ncancelled, "a cancelled timer fired");
	for (i = 0; i < N; i++) {
		enum lfr_poll p = lfr_timer_poll(t[i], &w, &err);

		cr_assert_eq(p, cancelled[i] ? LFR_PENDING : LFR_READY);
		cr_assert_eq(err, 0);
		lfr_timer_free(t[i]);
	}
	cr_assert_eq(atomic_load(&cw.misuse), 0);
	cr_assert_eq(atomic_load(&cw.refs), 1, "every clone dropped");
	lfr_reactor_free(r);
}

/* each thread arms, resets and cancels timers of its own on one reactor
 * while the poller fires them */
struct armer {
	struct lfr_reactor *r;
	struct counting_waker *cw;
	unsigned seed;
};

enum { ARMERS = 4, PER_ARMER = 2000 };

static void *armer_main(void *arg)
{
	struct armer *a = arg;
	struct lfr_waker w = cw_waker(a->cw);
	struct lfr_timer **t = calloc(PER_ARMER, sizeof(*t));
	int i, err, left;

	for (i = 0; i < PER_ARMER; i++) {
		if (lfr_timer_new(a->r, &t[i]) ||
		    lfr_timer_poll(t[i], &w, &err) != LFR_PENDING)
			abort();
		lfr_timer_arm(t[i], (uint64_t)(rand_r(&a->seed) % 20) * MS, 0);
		if (i % 3 == 0) /* a reset */
			lfr_timer_arm(t[i], (uint64_t)(rand_r(&a->seed) % 20) * MS, 0);
		if (i % 7 == 0) { /* cancel and arm again */
			lfr_timer_cancel(t[i]);
			lfr_timer_arm(t[i], MS, 0);
		}
	}
	do { /* every one fires */
		left = 0;
		for (i = 0; i < PER_ARMER; i++)
			if (lfr_timer_poll(t[i], &w, &err) != LFR_READY || err)
				left++;
		if (left)
			sleep_ms(5);
	} while (left);
	for (i = 0; i < PER_ARMER; i++)
		lfr_timer_free(t[i]);
	free(t);
	return NULL;
}

Test(timer, timers_armed_reset_and_cancelled_from_many_threads_all_fire_and_keep_no_waker)
{
	static struct counting_waker cw;
	struct armer a[ARMERS];
	pthread_t th[ARMERS];
	struct lfr_reactor *r;
	int i;

	cw_init(&cw);
	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	for (i = 0; i < ARMERS; i++) {
		a[i] = (struct armer){ r, &cw, (unsigned)i + 1 };
		cr_assert_eq(pthread_create(&th[i], NULL, armer_main, &a[i]), 0);
	}
	for (i = 0; i < ARMERS; i++)
		pthread_join(th[i], NULL);
	/* every timer fired (the threads polled until each was ready) and
	 * each clone of the waker was woken or dropped exactly once */
	cr_assert_gt(cw_wakes(&cw), 0);
	cr_assert_eq(atomic_load(&cw.misuse), 0);
	cr_assert_eq(atomic_load(&cw.refs), 1, "every clone dropped");
	lfr_reactor_free(r);
}

Test(timer, after_shutdown_a_waiting_timer_reports_eshutdown_and_a_fired_one_ready)
{
	struct lfr_waker w = lfr_waker_noop();
	struct lfr_timer *waiting, *fired, *t = NULL;
	struct lfr_reactor *r;
	int err = 1;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_timer_new(r, &waiting), 0);
	cr_assert_eq(lfr_timer_new(r, &fired), 0);
	cr_assert_eq(lfr_timer_arm(waiting, 60000 * MS, 0), 0);
	cr_assert_eq(lfr_timer_arm(fired, 0, 0), 0);
	poll_pending(waiting, &w);
	cr_assert_eq(lfr_reactor_shutdown(r), 0);
	cr_assert_eq(lfr_timer_poll(waiting, &w, &err), LFR_READY);
	cr_assert_eq(err, -ESHUTDOWN, "got %s", lfr_strerror(err));
	cr_assert_eq(lfr_timer_poll(fired, &w, &err), LFR_READY);
	cr_assert_eq(err, 0, "it fired before the shutdown");
	cr_assert_eq(lfr_timer_new(r, &t), -ESHUTDOWN);
	cr_assert_null(t);
	lfr_timer_free(waiting);
	lfr_timer_free(fired);
	lfr_reactor_free(r);
}

Test(timer, errors_are_clean)
{
	struct lfr_waker w = lfr_waker_noop();
	struct lfr_timer *t = NULL;
	struct lfr_reactor *r;
	int err = 1;

	cr_assert_eq(lfr_timer_new(NULL, &t), -EINVAL);
	cr_assert_null(t);
	cr_assert_eq(lfr_timer_arm(NULL, 1, 0), -EINVAL);
	cr_assert_eq(lfr_timer_cancel(NULL), -EINVAL);
	cr_assert_eq(lfr_timer_poll(NULL, &w, &err), LFR_READY);
	cr_assert_eq(err, -EINVAL);
	cr_assert_eq(lfr_timer_poll(NULL, &w, NULL), LFR_READY);
	lfr_timer_free(NULL);
	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_timer_new(r, NULL), -EINVAL);
	cr_assert_eq(lfr_timer_new(r, &t), 0);
	cr_assert_eq(lfr_timer_arm(t, 1, 1u << 5), -EINVAL);
	cr_assert_eq(lfr_timer_poll(t, NULL, &err), LFR_READY, "NULL waker");
	cr_assert_eq(err, -EINVAL);
	cr_assert_eq(lfr_timer_poll(t, &w, NULL), LFR_READY);
	/* a delay that overflows the clock is "never", not "now" */
	cr_assert_eq(lfr_timer_arm(t, UINT64_MAX, 0), 0);
	cr_assert(!is_ready(t));
	lfr_timer_free(t);
	lfr_reactor_free(r);
}

/* A child with RLIMIT_NOFILE just above the fds it has open runs many
 * sleeps at once on one executor: with an fd per sleep they could not
 * all exist.  Exit status 0 when every sleep finished. */
struct napper {
	struct lfr_reactor *r;
	struct lfr_sleep *s;
	int *done;
};

static enum lfr_poll napper_poll(void *state, const struct lfr_waker *w)
{
	struct napper *n = state;
	int err;

	if (lfr_sleep_poll(n->s, w, &err) == LFR_PENDING)
		return LFR_PENDING;
	if (err)
		_exit(3);
	lfr_sleep_free(n->s);
	n->s = NULL;
	++*n->done;
	return LFR_READY;
}

struct nappers_done {
	int *done, n;
};

static enum lfr_poll nappers_done_poll(void *state, const struct lfr_waker *w)
{
	struct nappers_done *d = state;

	if (*d->done == d->n)
		return LFR_READY;
	lfr_waker_wake_by_ref(w);
	return LFR_PENDING;
}

static long highest_fd(void)
{
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");
	long high = 0;

	if (!d)
		return 1024;
	while ((e = readdir(d)))
		if (atol(e->d_name) > high)
			high = atol(e->d_name);
	closedir(d);
	return high;
}

static int run_sleeps_with_few_fds(int n)
{
	struct napper *naps = calloc((size_t)n, sizeof(*naps));
	struct lfr_executor *ex;
	struct lfr_reactor *r;
	struct rlimit low;
	int done = 0, i;
	struct nappers_done all = { &done, n };

	if (lfr_reactor_new(NULL, &r) || lfr_executor_new(&ex))
		return 1;
	/* room for four more fds: the timer structure's timerfd fits, an fd
	 * per sleep would not */
	low.rlim_cur = low.rlim_max = (rlim_t)highest_fd() + 1 + 4;
	if (setrlimit(RLIMIT_NOFILE, &low))
		return 1;
	for (i = 0; i < n; i++) {
		naps[i].r = r;
		naps[i].done = &done;
		if (lfr_sleep_new(r, 1 + (uint64_t)(i % 50), &naps[i].s))
			return 2;
		if (lfr_executor_spawn(ex, napper_poll, NULL, &naps[i]))
			return 1;
	}
	if (lfr_executor_block_on(ex, nappers_done_poll, &all))
		return 1;
	lfr_executor_free(ex);
	lfr_reactor_free(r);
	free(naps);
	return done == n ? 0 : 4;
}

Test(timer, a_thousand_sleeps_run_under_an_fd_limit_of_a_few)
{
	int status;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(run_sleeps_with_few_fds(1000));
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "the child died");
	cr_assert_eq(WEXITSTATUS(status), 0,
		     "exit %d (2: a sleep could not be made)",
		     WEXITSTATUS(status));
}

/* the timerfd could only refuse if it was closed behind the reactor's
 * back: then the arm fails and leaves the timer disarmed, not armed for a
 * wake that cannot come */
Test(timer, an_arm_the_timerfd_refuses_fails_and_leaves_the_timer_disarmed)
{
	struct lfr_timer *t, *later;
	struct lfr_reactor *r;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_timer_new(r, &t), 0);
	cr_assert_eq(lfr_timer_new(r, &later), 0);
	lfr__hooks.fail_sys_after[LFR__SYS_TIMERFD_SETTIME] = 0;
	lfr__hooks.fail_sys_errno[LFR__SYS_TIMERFD_SETTIME] = EBADF;
	cr_assert_eq(lfr_timer_arm(t, 60000 * MS, 0), -EBADF);
	cr_assert_eq(lfr_timer_cancel(t), 0, "it was left disarmed");
	cr_assert(!is_ready(t));
	lfr__hooks.fail_sys_errno[LFR__SYS_TIMERFD_SETTIME] = 0;
	/* the next arm sets the timerfd again and works */
	cr_assert_eq(lfr_timer_arm(t, 60000 * MS, 0), 0);
	cr_assert_eq(lfr_timer_arm(later, 70000 * MS, 0), 0);
	cr_assert_eq(lfr_timer_cancel(t), 1);
	cr_assert_eq(lfr_timer_cancel(later), 1);
	lfr_timer_free(t);
	lfr_timer_free(later);
	lfr_reactor_free(r);
}

/* A reference model, single-threaded: thousands of random arms (future
 * deadlines, many equal), resets, cancels, arms in the past and frees
 * with fresh timers over a few hundred timers.  Every timer still armed at
 * the end must fire once, in the model's (deadline, arm order) order, and
 * no other timer may fire. */
enum { MODEL_N = 300, MODEL_OPS = 20000 };

static atomic_int model_len;
static int model_order[MODEL_N * 4];

static void model_wake(void *data)
{
	int i = atomic_fetch_add(&model_len, 1);

	if (i < MODEL_N * 4)
		model_order[i] = (int)(intptr_t)data;
}

PLAIN_WAKER(model, model_wake)

struct model_timer {
	struct lfr_timer *t;
	bool armed;
	uint64_t deadline, seq;
	int idx;
};

static int model_cmp(const void *a, const void *b)
{
	const struct model_timer *x = *(struct model_timer *const *)a;
	const struct model_timer *y = *(struct model_timer *const *)b;

	if (x->deadline != y->deadline)
		return x->deadline < y->deadline ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

Test(timer, random_arms_resets_cancels_and_frees_fire_in_the_models_order)
{
	static struct model_timer m[MODEL_N];
	static struct model_timer *want[MODEL_N];
	struct lfr_reactor *r;
	uint64_t base, seq = 0;
	unsigned seed = (unsigned)lfr_timer_now();
	int i, op, nwant = 0, id = 0;

	srand(seed);
	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	for (i = 0; i < MODEL_N; i++) {
		cr_assert_eq(lfr_timer_new(r, &m[i].t), 0);
		m[i].idx = id++;
	}
	base = lfr_timer_now() + 3000 * MS;
	for (op = 0; op < MODEL_OPS; op++) {
		struct model_timer *x = &m[rand() % MODEL_N];
		struct lfr_waker w = model_clone((void *)(intptr_t)x->idx);
		int err = 1, kind = rand() % 16;

		if (kind < 10) { /* arm or reset, a deadline to come */
			uint64_t d = base + (uint64_t)(rand() % 500);

			cr_assert_eq(lfr_timer_arm(x->t, d,
						   LFR_TIMER_DEADLINE), 0);
			x->armed = true;
			x->deadline = d;
			x->seq = seq++;
			if (lfr_timer_poll(x->t, &w, &err) == LFR_READY &&
			    !err)
				cr_skip_test("a stall of seconds: the deadlines "
					     "came during the operations");
			cr_assert_eq(err, 0);
		} else if (kind < 13) {
			cr_assert_eq(lfr_timer_cancel(x->t), x->armed,
				     "seed %u op %d", seed, op);
			x->armed = false;
		} else if (kind < 14) { /* at once: out of the heap */
			cr_assert_eq(lfr_timer_arm(x->t, 0, 0), 0);
			x->armed = false;
			cr_assert(is_ready(x->t));
		} else { /* a fresh timer in its place */
			lfr_timer_free(x->t);
			cr_assert_eq(lfr_timer_new(r, &x->t), 0);
			x->armed = false;
			x->idx = id++;
		}
	}
	if (lfr_timer_now() >= base - 500 * MS)
		cr_skip_test("the operations took too long on this machine");
	/* what fired at once is done with; the rest fires from here */
	atomic_store(&model_len, 0);
	for (i = 0; i < MODEL_N; i++)
		if (m[i].armed)
			want[nwant++] = &m[i];
	qsort(want, (size_t)nwant, sizeof(*want), model_cmp);
	cr_assert(WAIT_FOR(atomic_load(&model_len) >= nwant, 30000));
	sleep_ms(50); /* time for a wrong extra wake */
	cr_assert_eq(atomic_load(&model_len), nwant, "seed %u", seed);
	for (i = 0; i < nwant; i++)
		cr_assert_eq(model_order[i], want[i]->idx,
			     "seed %u: fired #%d is %d, the model says %d",
			     seed, i, model_order[i], want[i]->idx);
	for (i = 0; i < MODEL_N; i++)
		lfr_timer_free(m[i].t);
	lfr_reactor_free(r);
}

/* With no fd left for the timerfd, the first timer of a reactor (or its
 * first sleep) is -EMFILE and leaves nothing behind; once an fd is free,
 * the next one makes the structure and fires.  In a child: it lowers its
 * RLIMIT_NOFILE. */
static int timers_without_fds(void)
{
	struct lfr_timer *t = NULL;
	struct lfr_sleep *s = NULL;
	struct lfr_reactor *r;
	struct rlimit low;
	int fds[64], n = 0, i;

	if (lfr_reactor_new(NULL, &r))
		return 1;
	low.rlim_cur = low.rlim_max = (rlim_t)highest_fd() + 1;
	if (setrlimit(RLIMIT_NOFILE, &low))
		return 1;
	while (n < 64 && (fds[n] = dup(0)) >= 0) /* fill any gap */
		n++;
	if (n == 64)
		return 1;
	if (lfr_timer_new(r, &t) != -EMFILE || t)
		return 2;
	if (lfr_sleep_new(r, 1, &s) != -EMFILE || s)
		return 3;
	if (lfr_timer_new(r, &t) != -EMFILE || t)
		return 4;
	for (i = 0; i < n; i++)
		close(fds[i]);
	if (lfr_timer_new(r, &t) || lfr_timer_arm(t, 1 * MS, 0))
		return 5;
	if (!WAIT_FOR(is_ready(t), 10000))
		return 6;
	lfr_timer_free(t);
	lfr_reactor_free(r);
	return 0;
}

Test(timer, with_no_fd_for_the_timerfd_a_first_timer_is_emfile_then_works)
{
	int status;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(timers_without_fds());
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "the child died");
	cr_assert_eq(WEXITSTATUS(status), 0, "exit %d", WEXITSTATUS(status));
}

/* Timers freed just as they fall due: each thread arms a timer for a few
 * microseconds, polls it (so it holds a clone of the waker) and frees it
 * after a random short wait, before, during or after the poller fires it.
 * Every clone is woken or dropped exactly once, and nothing is used after
 * it was freed (ASan, in CI). */
struct freer {
	struct lfr_reactor *r;
	struct counting_waker *cw;
	unsigned seed;
};

static void *freer_main(void *arg)
{
	struct freer *f = arg;
	struct lfr_waker w = cw_waker(f->cw);
	int i, err;

	for (i = 0; i < 3000; i++) {
		struct lfr_timer *t;
		struct timespec pause = { 0, rand_r(&f->seed) % 100000 };

		if (lfr_timer_new(f->r, &t))
			abort();
		lfr_timer_arm(t, (uint64_t)(rand_r(&f->seed) % 50000), 0);
		lfr_timer_poll(t, &w, &err);
		if (err)
			abort();
		if (i % 4)
			nanosleep(&pause, NULL);
		if (i % 5 == 0)
			lfr_timer_cancel(t);
		lfr_timer_free(t);
	}
	return NULL;
}

Test(timer, timers_freed_as_they_fire_wake_or_drop_each_clone_once)
{
	static struct counting_waker cw;
	struct freer f[ARMERS];
	pthread_t th[ARMERS];
	struct lfr_reactor *r;
	int i;

	cw_init(&cw);
	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	for (i = 0; i < ARMERS; i++) {
		f[i] = (struct freer){ r, &cw, (unsigned)i + 7 };
		cr_assert_eq(pthread_create(&th[i], NULL, freer_main, &f[i]), 0);
	}
	for (i = 0; i < ARMERS; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(atomic_load(&cw.misuse), 0);
	cr_assert_eq(atomic_load(&cw.refs), 1, "every clone dropped once");
	lfr_reactor_free(r);
}

/* Every allocation of a reactor's first timer failing in turn: -ENOMEM
 * and nothing left behind (no fd, no registration), or success; then the
 * timer works. */
Test(timer, each_failed_allocation_of_a_first_timer_is_enomem_and_leaves_nothing)
{
	struct lfr_reactor *r;
	struct lfr_timer *t;
	long k;
	int fds, ret = -ENOMEM;

	for (k = 0; ret == -ENOMEM && k < 100; k++) {
		cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
		fds = count_dir("/proc/self/fd");
		t = NULL;
		lfr__hooks.fail_alloc_after = k;
		ret = lfr_timer_new(r, &t);
		lfr__hooks.fail_alloc_after = -1;
		if (ret == -ENOMEM) {
			cr_assert_null(t);
			cr_assert_leq(count_dir("/proc/self/fd"), fds + 1);
			/* a structure made stays, with its one registration */
			cr_assert_eq(stats_of(r).registrations,
				     (uint64_t)(count_dir("/proc/self/fd") -
						fds));
		}
		if (ret == -ENOMEM)
			cr_assert_eq(lfr_timer_new(r, &t), 0, "after %ld", k);
		else
			cr_assert_eq(ret, 0, "%s", lfr_strerror(ret));
		cr_assert_eq(lfr_timer_arm(t, 1 * MS, 0), 0);
		cr_assert(WAIT_FOR(is_ready(t), 10000), "after %ld", k);
		lfr_timer_free(t);
		lfr_reactor_free(r);
	}
	cr_assert_eq(ret, 0);
	cr_assert_gt(k, 1, "an allocation was made to fail");
}

/* Two threads make the first timers of a reactor at once, with one fd to
 * spare: the structure needs one timerfd, so both get a timer (neither
 * may fail for an fd only the first timer needs).  In a child, over many
 * fresh reactors, to catch both in the making together. */
struct first_timer {
	struct lfr_reactor *r;
	pthread_barrier_t *go;
	struct lfr_timer *t;
	int ret;
};

static void *first_timer_main(void *arg)
{
	struct first_timer *f = arg;

	pthread_barrier_wait(f->go);
	f->ret = lfr_timer_new(f->r, &f->t);
	return NULL;
}

static int racing_first_timers(void)
{
	struct rlimit lim, low;
	int round, failed = 0;

	if (getrlimit(RLIMIT_NOFILE, &lim))
		return 1;
	for (round = 0; round < 300; round++) {
		struct first_timer f[2];
		pthread_barrier_t go;
		pthread_t th[2];
		struct lfr_reactor *r;
		int fds[64], n = 0, i;

		if (setrlimit(RLIMIT_NOFILE, &lim) || lfr_reactor_new(NULL, &r))
			return 1;
		low = lim;
		low.rlim_cur = (rlim_t)highest_fd() + 2;
		if (setrlimit(RLIMIT_NOFILE, &low))
			return 1;
		while (n < 64 && (fds[n] = dup(0)) >= 0) /* fill any gap */
			n++;
		if (n == 0 || n == 64)
			return 1;
		close(fds[--n]); /* one fd to spare */
		pthread_barrier_init(&go, NULL, 2);
		for (i = 0; i < 2; i++) {
			f[i] = (struct first_timer){ r, &go, NULL, 1 };
			if (pthread_create(&th[i], NULL, first_timer_main, &f[i]))
				return 1;
		}
		for (i = 0; i < 2; i++) {
			pthread_join(th[i], NULL);
			if (f[i].ret)
				failed++;
			lfr_timer_free(f[i].t);
		}
		pthread_barrier_destroy(&go);
		lfr_reactor_free(r);
		while (n)
			close(fds[--n]);
	}
	return failed ? 2 : 0;
}

Test(timer, two_threads_making_the_first_timers_at_once_need_one_fd)
{
	int status;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(racing_first_timers());
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "the child died");
	cr_assert_eq(WEXITSTATUS(status), 0,
		     "exit %d (2: a timer failed for want of a second fd)",
		     WEXITSTATUS(status));
}

/* A waker on a poller makes the first timer of another reactor: it runs
 * inside a read-side section, where it must not wait for a thread making
 * a structure (that one may wait for a grace period), and still gets one. */
static struct lfr_reactor *maker_target;
static struct lfr_timer *made;
static atomic_int made_ret = 1;

static void maker_wake(void *data)
{
	(void)data;
	if (atomic_load(&made_ret) != 1)
		return;
	atomic_store(&made_ret, lfr_timer_new(maker_target, &made));
}

PLAIN_WAKER(maker, maker_wake)

Test(timer, a_waker_on_a_poller_makes_the_first_timer_of_a_reactor)
{
	struct lfr_waker w = { &maker_vtable, NULL };
	struct lfr_reactor *r;
	int q[2];
	lfr_id id;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_reactor_new(NULL, &maker_target), 0);
	test_pipe(q);
	id = lfr_reactor_next_id(r);
	cr_assert_eq(lfr_reactor_register(r, q[0], LFR_READABLE, id), 0);
	cr_assert_eq(lfr_reactor_set_waker(r, &w, id), 0);
	fire(q[1]);
	cr_assert(WAIT_FOR(atomic_load(&made_ret) != 1, 5000));
	cr_assert_eq(atomic_load(&made_ret), 0, "%s",
		     lfr_strerror(atomic_load(&made_ret)));
	cr_assert_eq(lfr_timer_arm(made, 1 * MS, 0), 0);
	cr_assert(WAIT_FOR(is_ready(made), 10000));
	lfr_timer_free(made);
	cr_assert_eq(lfr_reactor_deregister(r, q[0], id), 0);
	lfr_reactor_free(r);
	lfr_reactor_free(maker_target);
	close_pipe(q);
}

/* a waker whose clone arms another timer of the same reactor: the
 * caller's code, which poll must not run under the heap's lock */
static struct lfr_timer *armed_by_clone;
static atomic_int clones;
static const struct lfr_waker_vtable arming_vtable;
static struct lfr_waker arming_clone(void *data)
{
	if (armed_by_clone)
		lfr_timer_arm(armed_by_clone, 60ull * 1000000000u, 0);
	atomic_fetch_add(&clones, 1);
	return (struct lfr_waker){ &arming_vtable, data };
}
static void arming_nop(void *data)
{
	(void)data;
}
static const struct lfr_waker_vtable arming_vtable = {
	arming_clone, arming_nop, arming_nop, arming_nop
};

Test(timer, a_waker_whose_clone_arms_a_timer_can_wait_on_one)
{
	struct lfr_reactor *r;
	struct lfr_timer *t, *other;
	struct lfr_waker w = { &arming_vtable, NULL };
	int err = 1;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_timer_new(r, &t), 0);
	cr_assert_eq(lfr_timer_new(r, &other), 0);
	armed_by_clone = other;
	cr_assert_eq(lfr_timer_arm(t, 60ull * 1000000000u, 0), 0);
	cr_assert_eq(lfr_timer_poll(t, &w, &err), LFR_PENDING);
	cr_assert_eq(err, 0);
	cr_assert_eq(atomic_load(&clones), 1);
	cr_assert_eq(lfr_timer_cancel(other), 1, "the clone armed it");
	armed_by_clone = NULL;
	lfr_timer_free(other);
	lfr_timer_free(t);
	lfr_reactor_free(r);
}
