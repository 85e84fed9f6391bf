/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * timer.c - one timer structure per reactor: a 4-ary min-heap of deadlines
 * behind one timerfd, and lfr_sleep on top of it.  See lfreactor/timer.h.
 *
 * Everything in the structure is under its mutex, except a timer's state,
 * which is also read without it (a fired timer's poll takes no lock).
 * The timerfd is kept set for a time no later than the earliest deadline
 * (armed_ns), or unset (0): arming only calls timerfd_settime when the new
 * earliest deadline is earlier than armed_ns.  Cancelling or pushing back
 * the earliest timer leaves the timerfd early; its waker then finds nothing
 * due and sets it for the real earliest deadline.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <lfreactor.h>

#include "internal.h"
#include "timers.h"
#include "waker_table.h"

#define ARITY 4
#define NOT_QUEUED SIZE_MAX
#define FIRE_BATCH 32 /* wakers woken per pass, outside the lock */

enum { IDLE, ARMED, FIRED };

/* 24 bytes: the heap compares without touching the timers */
struct slot {
	uint64_t deadline;
	uint64_t seq; /* arm order: equal deadlines fire first-armed first */
	struct lfr_timer *t;
};

struct lfr__timers {
	pthread_mutex_t lock;
	struct slot *heap;
	size_t len, cap;
	size_t reserved; /* live timers: cap never falls below it */
	uint64_t seq;
	uint64_t armed_ns; /* the timerfd's deadline; 0: not set */
	struct lfr_reactor *r;
	int fd;
	lfr_id id;
	struct lfr_waker waker; /* the timerfd's, data = this structure */
};

struct lfr_timer {
	struct lfr__timers *ts;
	size_t index;      /* in ts->heap, or NOT_QUEUED */
	atomic_int state;  /* written under ts->lock */
	bool has_waker;
	struct lfr_waker waker;
};

uint64_t lfr_timer_now(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/* ---- the heap (under ts->lock) ------------------------------------------- */

static bool before(const struct slot *a, const struct slot *b)
{
	return a->deadline < b->deadline ||
	       (a->deadline == b->deadline && a->seq < b->seq);
}

static void place(struct lfr__timers *ts, size_t i, struct slot s)
{
	ts->heap[i] = s;
	s.t->index = i;
}

static void sift_up(struct lfr__timers *ts, size_t i, struct slot s)
{
	while (i > 0) {
		size_t parent = (i - 1) / ARITY;

		if (!before(&s, &ts->heap[parent]))
			break;
		place(ts, i, ts->heap[parent]);
		i = parent;
	}
	place(ts, i, s);
}

static void sift_down(struct lfr__timers *ts, size_t i, struct slot s)
{
	for (;;) {
		size_t first = i * ARITY + 1, best, c, end;

		if (first >= ts->len)
			break;
		end = first + ARITY < ts->len ? first + ARITY : ts->len;
		best = first;
		for (c = first + 1; c < end; c++)
			if (before(&ts->heap[c], &ts->heap[best]))
				best = c;
		if (!before(&ts->heap[best], &s))
			break;
		place(ts, i, ts->heap[best]);
		i = best;
	}
	place(ts, i, s);
}

static void heap_push(struct lfr__timers *ts, struct lfr_timer *t,
		      uint64_t deadline)
{
	struct slot s = { deadline, ts->seq++, t };

	/* cap >= reserved >= queued timers: there is room */
	sift_up(ts, ts->len++, s);
}

static void heap_remove(struct lfr__timers *ts, struct lfr_timer *t)
{
	size_t i = t->index;
	struct slot last;

	t->index = NOT_QUEUED;
	last = ts->heap[--ts->len];
	if (i == ts->len)
		return;
	/* the last slot fills the hole, then moves whichever way it must */
	if (i > 0 && before(&last, &ts->heap[(i - 1) / ARITY]))
		sift_up(ts, i, last);
	else
		sift_down(ts, i, last);
}

/* ---- the timerfd (under ts->lock) ---------------------------------------- */

static int set_timerfd(struct lfr__timers *ts, uint64_t deadline)
{
	struct itimerspec when = { { 0, 0 }, { 0, 0 } };

	/* 0 would disarm it: a deadline that is already past is 1 ns */
	if (deadline == 0)
		deadline = 1;
	when.it_value.tv_sec = (time_t)(deadline / 1000000000u);
	when.it_value.tv_nsec = (long)(deadline % 1000000000u);
	if (lfr__timerfd_settime(ts->fd, TFD_TIMER_ABSTIME, &when) < 0) {
		ts->armed_ns = 0;
		return -errno;
	}
	ts->armed_ns = deadline;
	return 0;
}

/* the timerfd set no later than the earliest deadline, if there is one */
static int cover_earliest(struct lfr__timers *ts)
{
	if (ts->len == 0)
		return 0;
	if (ts->armed_ns && ts->armed_ns <= ts->heap[0].deadline)
		return 0;
	return set_timerfd(ts, ts->heap[0].deadline);
}

/* t is due: out of the heap, fired, its waker moved to *out (if it has
 * one); returns whether it had one */
static bool fire_locked(struct lfr__timers *ts, struct lfr_timer *t,
			struct lfr_waker *out)
{
	if (t->index != NOT_QUEUED)
		heap_remove(ts, t);
	atomic_store_explicit(&t->state, FIRED, memory_order_release);
	if (!t->has_waker)
		return false;
	*out = t->waker;
	t->has_waker = false;
	return true;
}

/* ---- the timerfd's waker, on a poller thread ----------------------------- */

static void timers_fire(void *data)
{
	struct lfr__timers *ts = data;
	struct lfr_waker due[FIRE_BATCH];
	bool more = true;

	while (more) {
		uint64_t now = lfr_timer_now(), n;
		int popped = 0, woken = 0, i;

		pthread_mutex_lock(&ts->lock);
		/* consumed: a one-shot timerfd that expired is unset now.
		 * Under the lock, so no arm reads armed_ns in between */
		if (read(ts->fd, &n, sizeof(n)) == sizeof(n))
			ts->armed_ns = 0;
		while (ts->len && ts->heap[0].deadline <= now &&
		       popped < FIRE_BATCH) {
			popped++;
			if (fire_locked(ts, ts->heap[0].t, &due[woken]))
				woken++;
		}
		more = popped == FIRE_BATCH;
		if (!more && ts->len)
			/* an early or stale event leaves armed_ns set for a
			 * time still to come; a failure here (the timerfd was
			 * closed behind our back) leaves polls to the clock */
			cover_earliest(ts);
		pthread_mutex_unlock(&ts->lock);
		/* outside the lock: a waker may arm a timer itself */
		for (i = 0; i < woken; i++)
			lfr_waker_wake(&due[i]);
	}
}

static struct lfr_waker timers_clone(void *data);
static void timers_drop(void *data)
{
	(void)data; /* the structure lives as long as the reactor */
}

static const struct lfr_waker_vtable timers_vtable = {
	.clone = timers_clone,
	.wake = timers_fire,
	.wake_by_ref = timers_fire,
	.drop = timers_drop,
};

static struct lfr_waker timers_clone(void *data)
{
	struct lfr_waker w = { &timers_vtable, data };

	return w;
}

/* ---- the structure ------------------------------------------------------- */

void lfr__timers_free(struct lfr__timers *ts)
{
	if (!ts)
		return;
	/* the reactor removed the registration: the fd is only closed */
	close(ts->fd);
	free(ts->heap);
	pthread_mutex_destroy(&ts->lock);
	free(ts);
}

/* the structure's own teardown while the reactor lives: it lost the race
 * to fill the slot (made inside a waker), or failed half-way */
static void timers_discard(struct lfr__timers *ts, bool registered)
{
	if (registered)
		lfr_reactor_deregister(ts->r, ts->fd, ts->id);
	close(ts->fd);
	pthread_mutex_destroy(&ts->lock);
	free(ts);
}

static int timers_new(struct lfr_reactor *r, struct lfr__timers **out)
{
	struct lfr__timers *ts = lfr__alloc(0, sizeof(*ts));
	int ret;

	if (!ts)
		return -ENOMEM;
	memset(ts, 0, sizeof(*ts));
	ts->r = r;
	ts->waker = timers_clone(ts);
	ts->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ts->fd < 0) {
		ret = -errno;
		free(ts);
		return ret;
	}
	pthread_mutex_init(&ts->lock, NULL);
	ts->id = lfr_reactor_next_id(r);
	ret = lfr_reactor_register(r, ts->fd, LFR_READABLE, ts->id);
	if (ret) {
		timers_discard(ts, false);
		return ret;
	}
	/* stays for the life of the reactor: every expiry wakes it */
	ret = lfr_reactor_set_waker(r, &ts->waker, ts->id);
	if (ret) {
		timers_discard(ts, true);
		return ret;
	}
	*out = ts;
	return 0;
}

/* Making a structure is serialised: a second thread that made one of its
 * own while the first was in the making would need a second timerfd, and
 * fail where only one fd was left (the first timer's error, for a later
 * one).  Taken only while a reactor has no structure yet.  A thread inside
 * a read-side section (a waker) never waits for it: the maker may be
 * waiting for a grace period, which waits for that thread.  If it is
 * taken, such a thread makes a structure of its own, and the loser of the
 * compare-and-swap that publishes them discards its own. */
static pthread_mutex_t making = PTHREAD_MUTEX_INITIALIZER;

/* the reactor's structure, made on first use; 0 or a negative errno */
static int timers_of(struct lfr_reactor *r, struct lfr__timers **out)
{
	struct lfr__timers *_Atomic *slot = lfr__reactor_timers(r);
	struct lfr__timers *ts, *none = NULL;
	bool locked;
	int ret = 0;

	ts = atomic_load_explicit(slot, memory_order_acquire);
	if (ts) {
		*out = ts;
		return 0;
	}
	if (lfr__read_ongoing()) {
		locked = pthread_mutex_trylock(&making) == 0;
	} else {
		pthread_mutex_lock(&making);
		locked = true;
	}
	ts = atomic_load_explicit(slot, memory_order_acquire);
	if (!ts) {
		ret = timers_new(r, &ts);
		if (!ret && !atomic_compare_exchange_strong_explicit(
				    slot, &none, ts, memory_order_acq_rel,
				    memory_order_acquire)) {
			timers_discard(ts, true); /* another thread's won */
			ts = none;
		}
	}
	if (locked)
		pthread_mutex_unlock(&making);
	if (ret)
		return ret;
	*out = ts;
	return 0;
}

/* 0 while the reactor can still wake the structure's waker; -ESHUTDOWN
 * once it was shut down (the waker is stored already: this writes
 * nothing, it is the reactor's re-arm path) */
static int timers_alive(struct lfr__timers *ts)
{
	return lfr_reactor_set_waker(ts->r, &ts->waker, ts->id);
}

/* ---- timers -------------------------------------------------------------- */

int lfr_timer_new(struct lfr_reactor *reactor, struct lfr_timer **out)
{
	struct lfr__timers *ts;
	struct lfr_timer *t;
	int ret;

	if (!reactor || !out)
		return -EINVAL;
	ret = timers_of(reactor, &ts);
	if (ret)
		return ret;
	ret = timers_alive(ts);
	if (ret)
		return ret;
	t = lfr__alloc(0, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->ts = ts;
	t->index = NOT_QUEUED;
	atomic_init(&t->state, IDLE);
	t->has_waker = false;
	t->waker = (struct lfr_waker){ NULL, NULL };

	pthread_mutex_lock(&ts->lock);
	if (ts->reserved == ts->cap) {
		size_t cap = ts->cap ? 2 * ts->cap : 64;
		struct slot *grown = NULL;

		if (cap <= SIZE_MAX / sizeof(*grown))
			grown = lfr__alloc(0, cap * sizeof(*grown));
		if (!grown) {
			pthread_mutex_unlock(&ts->lock);
			free(t);
			return -ENOMEM;
		}
		if (ts->len)
			memcpy(grown, ts->heap, ts->len * sizeof(*grown));
		free(ts->heap);
		ts->heap = grown;
		ts->cap = cap;
	}
	ts->reserved++;
	pthread_mutex_unlock(&ts->lock);
	*out = t;
	return 0;
}

int lfr_timer_arm(struct lfr_timer *t, uint64_t ns, unsigned flags)
{
	struct lfr__timers *ts;
	struct lfr_waker w;
	uint64_t deadline, now = 0;
	bool wake = false;
	int ret = 0;

	if (!t || (flags & ~(unsigned)LFR_TIMER_DEADLINE))
		return -EINVAL;
	ts = t->ts;
	if (flags & LFR_TIMER_DEADLINE) {
		deadline = ns;
		if (deadline)
			now = lfr_timer_now();
	} else if (ns) {
		now = lfr_timer_now();
		deadline = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
	} else {
		deadline = 0; /* a zero delay: no clock read */
	}

	pthread_mutex_lock(&ts->lock);
	if (t->index != NOT_QUEUED)
		heap_remove(ts, t);
	if (deadline <= now) {
		wake = fire_locked(ts, t, &w);
	} else {
		atomic_store_explicit(&t->state, ARMED, memory_order_relaxed);
		heap_push(ts, t, deadline);
		if (ts->heap[0].t == t) {
			ret = cover_earliest(ts);
			if (ret) { /* a timer nothing would fire: disarm it */
				heap_remove(ts, t);
				atomic_store_explicit(&t->state, IDLE,
						      memory_order_relaxed);
			}
		}
	}
	pthread_mutex_unlock(&ts->lock);
	if (wake)
		lfr_waker_wake(&w);
	return ret;
}

int lfr_timer_cancel(struct lfr_timer *t)
{
	int was_armed;

	if (!t)
		return -EINVAL;
	pthread_mutex_lock(&t->ts->lock);
	was_armed = t->index != NOT_QUEUED;
	if (was_armed)
		heap_remove(t->ts, t);
	atomic_store_explicit(&t->state, IDLE, memory_order_relaxed);
	pthread_mutex_unlock(&t->ts->lock);
	return was_armed;
}

enum lfr_poll lfr_timer_poll(struct lfr_timer *t, const struct lfr_waker *waker,
			     int *err)
{
	struct lfr__timers *ts;
	struct lfr_waker old = { NULL, NULL };
	bool fired;
	int ret = 0;

	if (!err) /* no way to report a failure: never wait (see io.h) */
		return LFR_READY;
	*err = 0;
	if (!t) {
		*err = -EINVAL;
		return LFR_READY;
	}
	if (atomic_load_explicit(&t->state, memory_order_acquire) == FIRED)
		return LFR_READY;
	ts = t->ts;
	pthread_mutex_lock(&ts->lock);
	/* due by the clock though the timerfd's event is not handled yet */
	if (t->index != NOT_QUEUED &&
	    ts->heap[t->index].deadline <= lfr_timer_now())
		fire_locked(ts, t, &old);
	fired = atomic_load_explicit(&t->state, memory_order_relaxed) == FIRED;
	if (!fired && (!waker || !waker->vtable)) {
		ret = -EINVAL;
	} else if (!fired && (!t->has_waker ||
			      !lfr_waker_will_wake(&t->waker, waker))) {
		/* the clone is the caller's code: outside the lock, then the
		 * state looked at again (the timer may have fired since) */
		struct lfr_waker w;

		pthread_mutex_unlock(&ts->lock);
		lfr_waker_drop(&old);
		old = (struct lfr_waker){ NULL, NULL };
		w = lfr_waker_clone(waker);
		pthread_mutex_lock(&ts->lock);
		fired = atomic_load_explicit(&t->state, memory_order_relaxed) ==
			FIRED;
		if (!w.vtable) {
			ret = -ENOMEM; /* the old one stays */
		} else if (fired) {
			old = w;
		} else {
			if (t->has_waker)
				old = t->waker;
			t->waker = w;
			t->has_waker = true;
		}
	}
	pthread_mutex_unlock(&ts->lock);
	lfr_waker_drop(&old); /* outside the lock: a drop may do anything */
	if (fired)
		return LFR_READY;
	if (!ret)
		ret = timers_alive(ts);
	*err = ret;
	return ret ? LFR_READY : LFR_PENDING;
}

void lfr_timer_free(struct lfr_timer *t)
{
	struct lfr__timers *ts;

	if (!t)
		return;
	ts = t->ts;
	pthread_mutex_lock(&ts->lock);
	if (t->index != NOT_QUEUED)
		heap_remove(ts, t);
	ts->reserved--;
	pthread_mutex_unlock(&ts->lock);
	if (t->has_waker)
		lfr_waker_drop(&t->waker);
	free(t);
}

/* ---- sleep: a timer armed once -------------------------------------------- */

struct lfr_sleep {
	struct lfr_timer *timer;
};

int lfr_sleep_new(struct lfr_reactor *reactor, uint64_t ms,
		  struct lfr_sleep **out)
{
	struct lfr_sleep *s;
	uint64_t ns;
	int ret;

	if (!reactor || !out)
		return -EINVAL;
	s = lfr__alloc(0, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = lfr_timer_new(reactor, &s->timer);
	if (ret) {
		free(s);
		return ret;
	}
	ns = ms > UINT64_MAX / 1000000u ? UINT64_MAX : ms * 1000000u;
	ret = lfr_timer_arm(s->timer, ns, 0);
	if (ret) {
		lfr_timer_free(s->timer);
		free(s);
		return ret;
	}
	*out = s;
	return 0;
}

enum lfr_poll lfr_sleep_poll(struct lfr_sleep *s, const struct lfr_waker *waker,
			     int *err)
{
	if (!err) /* see io.h: nothing polled */
		return LFR_READY;
	if (!s) {
		*err = -EINVAL;
		return LFR_READY;
	}
	return lfr_timer_poll(s->timer, waker, err);
}

void lfr_sleep_free(struct lfr_sleep *s)
{
	if (!s)
		return;
	lfr_timer_free(s->timer);
	free(s);
}
