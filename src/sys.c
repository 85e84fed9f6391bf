/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sys.c - the library's allocation function and system calls, each
 * with the seam the tests use to make it fail. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

#include "internal.h"
#include "test_hooks.h"

#ifdef LFR_TEST_HOOKS
struct lfr__test_hooks lfr__hooks = { .fail_alloc_after = -1 };
atomic_ulong lfr__allocations;
atomic_ulong lfr__timerfd_settimes;

int lfr__injected(enum lfr__sys s)
{
	if (!lfr__hooks.fail_sys_errno[s])
		return 0;
	if (lfr__hooks.fail_sys_after[s]-- > 0)
		return 0;
	return lfr__hooks.fail_sys_errno[s];
}
#endif

/* a failure injected into a call that reports through errno */
#define INJECT_ERRNO(s)                                                     \
	do {                                                                \
		int e_ = lfr__injected(s);                                  \
		if (e_) {                                                   \
			errno = e_;                                         \
			return -1;                                          \
		}                                                           \
	} while (0)

int lfr__epoll_create1(int flags)
{
	INJECT_ERRNO(LFR__SYS_EPOLL_CREATE);
	return epoll_create1(flags);
}

int lfr__eventfd(unsigned initval, int flags)
{
	INJECT_ERRNO(LFR__SYS_EVENTFD);
	return eventfd(initval, flags);
}

int lfr__epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
	INJECT_ERRNO(LFR__SYS_EPOLL_CTL);
	return epoll_ctl(epfd, op, fd, event);
}

int lfr__timerfd_settime(int fd, int flags, const struct itimerspec *value)
{
#ifdef LFR_TEST_HOOKS
	atomic_fetch_add_explicit(&lfr__timerfd_settimes, 1,
				  memory_order_relaxed);
#endif
	INJECT_ERRNO(LFR__SYS_TIMERFD_SETTIME);
	return timerfd_settime(fd, flags, value, NULL);
}

/* returns an errno value, as pthread_create does */
int lfr__pthread_create(pthread_t *thread, const pthread_attr_t *attr,
			void *(*fn)(void *), void *arg)
{
	int e = lfr__injected(LFR__SYS_PTHREAD_CREATE);

	return e ? e : pthread_create(thread, attr, fn, arg);
}

void *lfr__alloc(size_t align, size_t size)
{
	void *p;

#ifdef LFR_TEST_HOOKS
	atomic_fetch_add_explicit(&lfr__allocations, 1, memory_order_relaxed);
	if (lfr__hooks.fail_alloc_after == 0)
		return NULL;
	if (lfr__hooks.fail_alloc_after > 0)
		lfr__hooks.fail_alloc_after--;
#endif
	if (align <= sizeof(void *))
		return malloc(size);
	if (posix_memalign(&p, align, size) != 0)
		return NULL;
	return p;
}
