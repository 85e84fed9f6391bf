/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Failing system calls: each failure comes back as a clean error, and the
 * failed call leaves nothing behind (no fd, no thread, no registration;
 * memory is checked by the ASan build, which runs this suite too).
 * The seams are in src/test_hooks.h.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "helpers.h"
#include "test_hooks.h"

static int fds(void)
{
	return count_dir("/proc/self/fd") - 1; /* the directory's own fd */
}

static int threads(void)
{
	return count_dir("/proc/self/task");
}

static void inject(enum lfr__sys s, long after, int err)
{
	lfr__hooks.fail_sys_after[s] = after;
	lfr__hooks.fail_sys_errno[s] = err;
}

static void clear(void)
{
	memset(lfr__hooks.fail_sys_errno, 0, sizeof(lfr__hooks.fail_sys_errno));
}

/* lfr_reactor_new with s failing on call n must fail with -err and leave
 * the fds and threads it found */
static void assert_new_rolls_back(enum lfr__sys s, long n, int err,
				  unsigned pollers)
{
	struct lfr_reactor_config cfg;
	struct lfr_reactor *r = NULL;
	int f = fds(), t = threads();

	lfr_reactor_config_init(&cfg);
	cfg.pollers = pollers;
	inject(s, n, err);
	cr_assert_eq(lfr_reactor_new(&cfg, &r), -err, "call %ld", n);
	clear();
	cr_assert_null(r, "*out untouched");
	cr_assert_eq(fds(), f, "no fd left behind (call %ld)", n);
	cr_assert_eq(threads(), t, "no thread left behind (call %ld)", n);
}

TestSuite(faults, .fini = clear, .timeout = 60);

Test(faults, new_fails_cleanly_when_epoll_create1_fails)
{
	assert_new_rolls_back(LFR__SYS_EPOLL_CREATE, 0, EMFILE, 1);
}

Test(faults, new_fails_cleanly_when_either_eventfd_fails)
{
	assert_new_rolls_back(LFR__SYS_EVENTFD, 0, ENFILE, 1); /* stop fd */
	assert_new_rolls_back(LFR__SYS_EVENTFD, 1, ENFILE, 1); /* table's */
}

Test(faults, new_fails_cleanly_when_epoll_ctl_fails)
{
	assert_new_rolls_back(LFR__SYS_EPOLL_CTL, 0, ENOMEM, 1);
}

Test(faults, new_fails_cleanly_when_any_thread_fails_to_start)
{
	/* the table's maintainer, then each of three pollers */
	for (long n = 0; n < 4; n++)
		assert_new_rolls_back(LFR__SYS_PTHREAD_CREATE, n, EAGAIN, 3);
}

Test(faults, new_fails_cleanly_when_out_of_fds)
{
	struct lfr_reactor *r = NULL;
	struct rlimit old, low;
	int f = fds(), t = threads(), lowest = dup(0);

	/* the limit is on fd numbers: leave room for one, the epoll fd */
	cr_assert_geq(lowest, 0);
	close(lowest);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)lowest + 1;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	cr_assert_eq(lfr_reactor_new(NULL, &r), -EMFILE);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	cr_assert_null(r);
	cr_assert_eq(fds(), f);
	cr_assert_eq(threads(), t);
}

Test(faults, register_rolls_back_when_epoll_ctl_fails)
{
	struct lfr_reactor *r;
	struct lfr_waker w = lfr_waker_noop();
	int p[2];
	lfr_id id;

	open_reactor_and_pipe(&r, p);
	id = lfr_reactor_next_id(r);
	inject(LFR__SYS_EPOLL_CTL, 0, ENOSPC);
	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, id), -ENOSPC);
	clear();
	cr_assert_eq(lfr_reactor_set_waker(r, &w, id), -ENOENT, "rolled back");
	cr_assert_eq(stats_of(r).registrations, 0);
	id = lfr_reactor_next_id(r);
	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, id), 0,
		     "the fd never entered epoll: it registers now");
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0);
	close_reactor_and_pipe(r, p);
}

Test(faults, deregister_returns_epoll_ctl_failure_and_still_removes_the_id)
{
	struct lfr_reactor *r;
	struct lfr_waker w = lfr_waker_noop();
	int p[2];
	lfr_id id;

	open_reactor_and_pipe(&r, p);
	id = lfr_reactor_next_id(r);
	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, id), 0);
	inject(LFR__SYS_EPOLL_CTL, 0, ENOMEM);
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), -ENOMEM);
	clear();
	cr_assert_eq(lfr_reactor_set_waker(r, &w, id), -ENOENT, "id gone");
	cr_assert_eq(stats_of(r).registrations, 0);
	/* the fd may still be watched: its events are stale, never routed */
	fire(p[1]);
	cr_assert(WAIT_FOR(stats_of(r).stale == 1, 5000));
	close_reactor_and_pipe(r, p);
}
