/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* helpers.h - test wakers that count, pipes, and waiting with a deadline. */
#ifndef LFR_TESTS_HELPERS_H
#define LFR_TESTS_HELPERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <lfreactor.h>

/*
 * A reference-counted waker that records what was done to it.  refs starts
 * at 1: the test's own reference.  A wake_by_ref or clone after refs fell to
 * 0 is a use after free and is counted in misuse.
 * The reactor drops its references after a grace period, after the call
 * that retired them returned: a counting_waker must outlive that, so tests
 * keep them static (each Criterion test runs in a process of its own).
 */
struct counting_waker {
	atomic_int refs;
	atomic_int clones;
	atomic_int drops;
	atomic_int wakes;
	atomic_int misuse;
	atomic_bool fail_clone;
	int kind; /* which of two vtables (the same functions) it carries */
};

/* kind 0; cw_init_kind sets 1 for a waker of another vtable, as another
 * executor's would be */
void cw_init(struct counting_waker *cw);
void cw_init_kind(struct counting_waker *cw, int kind);
struct lfr_waker cw_waker(struct counting_waker *cw); /* borrows, no ref */
int cw_wakes(struct counting_waker *cw);

/*
 * A waker with no references to count: clone gives back the same waker,
 * drop does nothing, wake and wake_by_ref both call WAKE(data).  Defines
 * NAME_vtable and NAME_clone(data), which makes one; WAKE must be declared
 * before.  For tests whose wakers only act when woken.
 */
void plain_waker_drop(void *data);
#define PLAIN_WAKER(name, wake)                                              \
	static struct lfr_waker name##_clone(void *data);                    \
	static const struct lfr_waker_vtable name##_vtable = {               \
		name##_clone, wake, wake, plain_waker_drop                   \
	};                                                                   \
	static struct lfr_waker name##_clone(void *data)                     \
	{                                                                    \
		return (struct lfr_waker){ &name##_vtable, data };           \
	}

/* a non-blocking pipe; fire writes one byte, drain reads all */
void test_pipe(int fds[2]);
void close_pipe(int fds[2]);

/* A suite's fixture: a reactor with the default configuration and a pipe;
 * closing it also resets every test hook (src/test_hooks.h). */
void open_reactor_and_pipe(struct lfr_reactor **r, int fds[2]);
void close_reactor_and_pipe(struct lfr_reactor *r, int fds[2]);

/* registers fd readable under a fresh id and sets w on it; returns the id */
lfr_id register_with_waker(struct lfr_reactor *r, int fd,
			   const struct lfr_waker *w);
void fire(int fd);
void drain(int fd);

/* poll cond every millisecond until it holds or ms pass */
#define WAIT_FOR(cond, ms)                                                   \
	({                                                                   \
		int waited_ = 0;                                             \
		while (!(cond) && waited_ < (ms)) {                          \
			sleep_ms(1);                                         \
			waited_++;                                           \
		}                                                            \
		(bool)(cond);                                                \
	})
void sleep_ms(int ms);

struct lfr_reactor_stats stats_of(struct lfr_reactor *r);

/* entries in a directory, dot files aside (fds, threads under /proc) */
int count_dir(const char *path);

#endif
