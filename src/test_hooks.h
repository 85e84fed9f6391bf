/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_hooks.h - seams for the test suite, compiled only into the test
 * variant of the library (liblfreactor-test.la, -DLFR_TEST_HOOKS).  In the
 * installed library every hook compiles to nothing.
 *
 * Hooks let a test stop a poller at a chosen point of the protocol and make
 * the other side move, so interleavings that are rare in the wild are forced
 * every run.  Set them before lfr_reactor_new() and clear them after
 * lfr_reactor_free(); they are plain globals.
 */
#ifndef LFR_TEST_HOOKS_H
#define LFR_TEST_HOOKS_H

#include <stdatomic.h>
#include <lfreactor/common.h>

/* system calls a test can make fail (their wrappers: src/internal.h) */
enum lfr__sys {
	LFR__SYS_EPOLL_CREATE,
	LFR__SYS_EVENTFD,
	LFR__SYS_EPOLL_CTL,
	LFR__SYS_PTHREAD_CREATE,
	LFR__SYS_TIMERFD_SETTIME,
	LFR__SYS_COUNT
};

#ifdef LFR_TEST_HOOKS

struct lfr__test_hooks {
	void *arg;
	/* poller: about to call epoll_wait (outside any read-side section) */
	void (*before_wait)(void *arg);
	/* poller: epoll_wait returned n > 0 events, read lock not yet taken */
	void (*after_wait)(void *arg, int n);
	/* dispatch: entry for id found, waker not yet loaded (read-side) */
	void (*dispatch_found)(void *arg, lfr_id id);
	/* dispatch: no waker stored, readiness not yet recorded (read-side) */
	void (*dispatch_no_waker)(void *arg, lfr_id id);
	/* executor spawn: the task's executor reference taken, nothing else
	 * of the executor read yet */
	void (*spawn_entered)(void *arg);
	/* the next fail_alloc_after allocations succeed, then one fails;
	 * negative: never fail */
	long fail_alloc_after;
	/* the same per system call: fail_sys_after[s] calls succeed, then
	 * one fails with fail_sys_errno[s]; 0 in fail_sys_errno: never */
	long fail_sys_after[LFR__SYS_COUNT];
	int fail_sys_errno[LFR__SYS_COUNT];
};

extern struct lfr__test_hooks lfr__hooks;
extern atomic_ulong lfr__allocations;
/* timerfd_settime calls made through lfr__timerfd_settime */
extern atomic_ulong lfr__timerfd_settimes;

#define LFR__HOOK(name, ...)                                                 \
	do {                                                                 \
		if (lfr__hooks.name)                                         \
			lfr__hooks.name(lfr__hooks.arg, ##__VA_ARGS__);      \
	} while (0)

#else

#define LFR__HOOK(name, ...) ((void)0)

#endif

/* The errno an injected failure of s gives now, or 0 to make the call.
 * Always 0 in the installed library. */
#ifdef LFR_TEST_HOOKS
int lfr__injected(enum lfr__sys s);
#else
#define lfr__injected(s) 0
#endif

#endif /* LFR_TEST_HOOKS_H */
