/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * internal.h - what every part of the library shares: the cache-line size,
 * the one allocation function and the system-call wrappers (src/sys.c).
 *
 * The wrappers are the calls the test variant of the library can make fail
 * (src/test_hooks.h); in the installed library each is the plain call.
 */
#ifndef LFR_INTERNAL_H
#define LFR_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <sys/epoll.h>

/* what alignas() uses to keep data written by different threads apart */
#define LFR__CACHELINE 64

/* For the short steps of the hot paths that gcc would otherwise call out
 * of line (set_waker's retirement bookkeeping): inlined, a new waker costs
 * about 10% less (bench/perop, interleaved runs). */
#define LFR__INLINE inline __attribute__((always_inline))

/* The library's thread-locals (and liburcu-bp's reader pointer, see
 * waker_table.c) use the initial-exec model: an access is one load from
 * the thread pointer, where a shared library's default model calls
 * __tls_get_addr each time (four such calls in a set_waker).  The cost: the
 * library's thread-locals, under 200 bytes, come from the static TLS
 * block, so a dlopen() of the library after start-up needs glibc's
 * surplus for them (it keeps some for this); musl refuses such a dlopen
 * (linking the library at start-up works everywhere). */
#define LFR__TLS _Thread_local __attribute__((tls_model("initial-exec")))

/* Every allocation of the library: align 0 or at most sizeof(void *) is
 * malloc's, more is posix_memalign's.  NULL when out of memory.  Freed
 * with free(). */
void *lfr__alloc(size_t align, size_t size);

/* the library's system calls: each returns what the call it wraps does */
int lfr__epoll_create1(int flags);
int lfr__eventfd(unsigned initval, int flags);
int lfr__epoll_ctl(int epfd, int op, int fd, struct epoll_event *event);
struct itimerspec;
int lfr__timerfd_settime(int fd, int flags, const struct itimerspec *value);
/* an errno value, as pthread_create returns */
int lfr__pthread_create(pthread_t *thread, const pthread_attr_t *attr,
			void *(*fn)(void *), void *arg);

/* ThreadSanitizer annotations for hand-offs it cannot see (through
 * liburcu's inline code); nothing outside --enable-tsan builds.  Each use
 * says which hand-off it marks. */
#ifdef __SANITIZE_THREAD__
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define LFR__TSAN_ACQUIRE(addr) __tsan_acquire(addr)
#define LFR__TSAN_RELEASE(addr) __tsan_release(addr)
#else
#define LFR__TSAN_ACQUIRE(addr) ((void)0)
#define LFR__TSAN_RELEASE(addr) ((void)0)
#endif

#endif /* LFR_INTERNAL_H */
