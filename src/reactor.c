/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * reactor.c - epoll, poller threads, registration, shutdown, counters.
 *
 * The waker table (waker_table.c) holds the concurrency protocol; this file
 * drives it: register puts the entry in before the fd enters epoll,
 * deregister takes the fd out of epoll before the entry goes, and a poller
 * waits in epoll_wait outside any read-side section, then dispatches a whole
 * batch inside one.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <lfreactor.h>

#include "internal.h"
#include "test_hooks.h"
#include "timers.h"
#include "waker_table.h"

#define LFR__STRIPES 16
#define LFR__STOP_TOKEN 0 /* id 0 is never valid: it marks the eventfd */

/* written by its poller only, read by lfr_reactor_stats */
struct poller {
	alignas(LFR__CACHELINE) atomic_uint_fast64_t polls;
	atomic_uint_fast64_t events, wakes, no_waker, stale;
	struct lfr_reactor *reactor;
	struct epoll_event *events_buf;
	unsigned events_len;
	pthread_t thread;
};

/* a spin lock for the fd numbers fd % LFR__FD_LOCKS: held around one
 * epoll_ctl (or a growth of fd_owner, which takes all of them), never while
 * a waker runs or a grace period is awaited; 0 is unlocked */
#define LFR__FD_LOCKS 64
struct fd_lock {
	alignas(LFR__CACHELINE) atomic_uint held;
};

/* set_waker's wakes, striped by thread so no line is shared by all */
struct stripe {
	alignas(LFR__CACHELINE) atomic_uint_fast64_t wakes;
};

struct lfr_reactor {
	alignas(LFR__CACHELINE) atomic_uint_fast64_t next_id;
	/* read by every call, written once: shares its line with what only
	 * ever gets read */
	alignas(LFR__CACHELINE) struct lfr__table *table;
	atomic_bool closed;
	/* set when no stop wake-up could be armed (both the epoll fd and the
	 * stop eventfd were closed behind the reactor's back): a poller that
	 * comes back from epoll_wait then stops.  Read once per batch, on a
	 * line that is only ever read */
	atomic_bool stop_lost;
	int epfd;
	int stopfd;
	int stopfd2; /* a fresh stop eventfd, armed when stopfd was gone */
	/* pollers shutdown could not join: free then leaks the reactor
	 * rather than free memory they may still use (under shutdown_lock) */
	unsigned unjoined;
	/* the first failure of one of the reactor's own fds, a negative
	 * errno; 0 while none failed */
	atomic_int fd_error;
	/* a poller's epoll_wait failed: the number is not the reactor's any
	 * more, and teardown leaves it alone */
	atomic_bool epfd_lost;
	unsigned npollers;
	struct poller *pollers;
	pthread_attr_t attr; /* all signals blocked; also the table's */
	/* held by the shutdown that joins the pollers: a repeated shutdown
	 * waits for it, so it too returns when no poller wakes anything */
	pthread_mutex_t shutdown_lock;
	struct stripe stripes[LFR__STRIPES];
	/* which registration owns each fd number (see "fd ownership" below);
	 * all zero from lfr_reactor_new's memset, which is their init */
	struct fd_lock fd_locks[LFR__FD_LOCKS];
	lfr_id *fd_owner;   /* [fd_owner_len]; 0: no live registration */
	size_t fd_owner_len;
	/* the timer structure (timer.c), made on first use; freed here */
	struct lfr__timers *_Atomic timers;
};

static atomic_uint next_stripe;
static LFR__TLS unsigned my_stripe_plus1;

static struct stripe *stripe_of(struct lfr_reactor *r)
{
	if (!my_stripe_plus1)
		my_stripe_plus1 = atomic_fetch_add_explicit(
			&next_stripe, 1, memory_order_relaxed) % LFR__STRIPES + 1;
	return &r->stripes[my_stripe_plus1 - 1];
}

static uint64_t count(atomic_uint_fast64_t *c, uint64_t n)
{
	return atomic_fetch_add_explicit(c, n, memory_order_relaxed) + n;
}

/* single writer: a plain load and store, no locked instruction */
static void publish(atomic_uint_fast64_t *c, uint64_t n)
{
	if (n)
		atomic_store_explicit(
			c, atomic_load_explicit(c, memory_order_relaxed) + n,
			memory_order_relaxed);
}

static uint64_t get(atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* keeps the first failure: the later ones usually follow from it */
static void fd_failed(struct lfr_reactor *r, int err)
{
	int none = 0;

	atomic_compare_exchange_strong(&r->fd_error, &none, err);
}

static unsigned ready_bits(uint32_t ev)
{
	unsigned bits = 0;

	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLPRI))
		bits |= LFR_READABLE;
	if (ev & EPOLLOUT)
		bits |= LFR_WRITABLE;
	if ((ev & (EPOLLERR | EPOLLHUP)) || !bits)
		bits |= LFR_READABLE | LFR_WRITABLE;
	return bits;
}

/* the reactor whose poller this thread is, if it is one: shutdown there
 * would join the calling thread */
static LFR__TLS struct lfr_reactor *my_poller_reactor;

static void *poller_main(void *arg)
{
	struct poller *p = arg;
	struct lfr_reactor *r = p->reactor;
	bool stop = false;

	my_poller_reactor = r;

	while (!stop) {
		uint64_t events = 0, wakes = 0, no_waker = 0, stale = 0;
		int i, n;

		LFR__HOOK(before_wait);
		/* never inside a read-side section: a blocked reader would
		 * stall every grace period, and with it every free */
		n = epoll_wait(r->epfd, p->events_buf, (int)p->events_len, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* EBADF or EINVAL: the epoll fd was closed (its number
			 * maybe reused) behind the reactor's back.  No later
			 * wait can succeed: stop instead of spinning */
			fd_failed(r, -errno);
			atomic_store_explicit(&r->epfd_lost, true,
					      memory_order_relaxed);
			break;
		}
		if (n == 0)
			continue;
		if (atomic_load_explicit(&r->stop_lost, memory_order_relaxed))
			break; /* shut down with no stop wake-up left */
		LFR__HOOK(after_wait, n);

		lfr__read_lock();
		for (i = 0; i < n; i++) {
			struct epoll_event *ev = &p->events_buf[i];

			if (ev->data.u64 == LFR__STOP_TOKEN) {
				stop = true;
				continue;
			}
			events++;
			switch (lfr__table_dispatch(r->table, ev->data.u64,
						    ready_bits(ev->events))) {
			case LFR__DISPATCH_STALE:
				stale++;
				break;
			case LFR__DISPATCH_WOKE:
				wakes++;
				break;
			case LFR__DISPATCH_RECORDED_WOKE:
				wakes++;
				/* fall through */
			case LFR__DISPATCH_RECORDED:
				no_waker++;
				break;
			}
		}
		lfr__read_unlock();

		publish(&p->polls, 1);
		publish(&p->events, events);
		publish(&p->wakes, wakes);
		publish(&p->no_waker, no_waker);
		publish(&p->stale, stale);
	}
	return NULL;
}

/*
 * Growable structs (reactor.h): the fields that lie wholly within the
 * caller's size are used, so what counts is where each field ends.
 */
#define END(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

static const size_t config_ends[] = {
	END(struct lfr_reactor_config, pollers),
	END(struct lfr_reactor_config, events_per_poll),
	END(struct lfr_reactor_config, initial_buckets),
	END(struct lfr_reactor_config, max_registrations),
};
static const size_t stats_ends[] = {
	END(struct lfr_reactor_stats, polls),
	END(struct lfr_reactor_stats, events),
	END(struct lfr_reactor_stats, wakes),
	END(struct lfr_reactor_stats, no_waker),
	END(struct lfr_reactor_stats, stale),
	END(struct lfr_reactor_stats, registrations),
	END(struct lfr_reactor_stats, buckets),
	END(struct lfr_reactor_stats, fd_error),
};
/* a field added to either struct goes at its end, and into its list */
_Static_assert(sizeof(struct lfr_reactor_config) ==
		       END(struct lfr_reactor_config, max_registrations),
	       "config_ends ends with the config's last field");
_Static_assert(sizeof(struct lfr_reactor_stats) ==
		       END(struct lfr_reactor_stats, fd_error),
	       "stats_ends ends with the stats' last field");

/* the bytes of the fields that fit wholly in size: the end of the last of
 * them (ends ascending, and the first one within size) */
static size_t fitting(const size_t *ends, size_t n, size_t size)
{
	size_t fit = ends[0];

	for (size_t i = 1; i < n && ends[i] <= size; i++)
		fit = ends[i];
	return fit;
}

static int resolve_config(const struct lfr_reactor_config *in,
			  struct lfr_reactor_config *out)
{
	size_t size;

	memset(out, 0, sizeof(*out));
	if (in) {
		size = in->size;
		if (size < LFR_REACTOR_CONFIG_SIZE_MIN ||
		    size > LFR_STRUCT_SIZE_MAX)
			return -EINVAL;
		/* a newer header's fields, unknown here, must be unset */
		for (size_t i = sizeof(*out); i < size; i++)
			if (((const unsigned char *)in)[i])
				return -E2BIG;
		memcpy(out, in, fitting(config_ends, sizeof(config_ends) /
						sizeof(config_ends[0]),
					size));
	}
	if (out->pollers > LFR_MAX_POLLERS ||
	    out->events_per_poll > LFR_MAX_EVENTS_PER_POLL ||
	    out->max_registrations > LFR_MAX_REGISTRATIONS)
		return -EINVAL;
	out->size = sizeof(*out);
	if (!out->pollers)
		out->pollers = LFR_DEFAULT_POLLERS;
	if (!out->events_per_poll)
		out->events_per_poll = LFR_DEFAULT_EVENTS_PER_POLL;
	if (!out->initial_buckets)
		out->initial_buckets = LFR_DEFAULT_INITIAL_BUCKETS;
	if (!out->max_registrations)
		out->max_registrations = LFR_DEFAULT_MAX_REGISTRATIONS;
	return 0;
}

/* how long stop_pollers waits, with no stop wake-up, for pollers that only
 * an application event can still wake */
#define STOP_LOST_WAIT_NS 200000000l

/* makes every poller's next epoll_wait return the stop token; false if no
 * wake-up could be armed */
static bool wake_pollers(struct lfr_reactor *r)
{
	struct epoll_event ev = { .events = EPOLLIN,
				  .data.u64 = LFR__STOP_TOKEN };
	uint64_t one = 1;
	int fd;

	/* the eventfd is level-triggered and never read: every poller sees
	 * it, each on its next epoll_wait.  The counter is far from
	 * overflow: only a stray close() of stopfd makes this fail */
	if (write(r->stopfd, &one, sizeof(one)) == sizeof(one))
		return true;
	fd_failed(r, -errno);
	r->stopfd = -1; /* not ours any more: teardown leaves it alone */
	/* arm a fresh one, readable from the start; its ADD wakes the
	 * pollers (not the seams of sys.c: this is no path the fault tests
	 * drive) */
	fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return false;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		return false;
	}
	r->stopfd2 = fd;
	return true;
}

/* joins the pollers 0..started-1 and returns how many could not be joined:
 * none, unless both the stop eventfd and the epoll fd were closed behind
 * the reactor's back and no event reached a poller within a short wait */
static unsigned stop_pollers(struct lfr_reactor *r, unsigned started)
{
	struct timespec until;
	unsigned i, left = 0;

	if (!started)
		return 0;
	if (wake_pollers(r)) {
		for (i = 0; i < started; i++)
			pthread_join(r->pollers[i].thread, NULL);
		return 0;
	}
	/* nothing can wake a poller blocked on the (closed) epoll fd but an
	 * application event; one that comes back sees stop_lost and stops.
	 * A poller already stopped by EBADF joins at once */
	atomic_store(&r->stop_lost, true);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += STOP_LOST_WAIT_NS;
	if (until.tv_nsec >= 1000000000l) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000l;
	}
	for (i = 0; i < started; i++)
		if (pthread_timedjoin_np(r->pollers[i].thread, NULL, &until))
			left++;
	return left;
}

/* undo lfr_reactor_new up to what exists; the pollers are already joined */
static void teardown(struct lfr_reactor *r)
{
	unsigned i;

	if (r->table) {
		/* drops every waker, frees every entry and the table */
		lfr__table_destroy(r->table);
	}
	/* after the table: its registration and waker are gone with it */
	lfr__timers_free(atomic_load(&r->timers));
	if (r->pollers) {
		for (i = 0; i < r->npollers; i++)
			free(r->pollers[i].events_buf);
		free(r->pollers);
	}
	free(r->fd_owner);
	if (r->stopfd2 >= 0)
		close(r->stopfd2);
	if (r->stopfd >= 0)
		close(r->stopfd);
	if (r->epfd >= 0 && !atomic_load(&r->epfd_lost))
		close(r->epfd);
	pthread_attr_destroy(&r->attr);
	pthread_mutex_destroy(&r->shutdown_lock);
	free(r);
}

int lfr_reactor_new(const struct lfr_reactor_config *config,
		    struct lfr_reactor **out)
{
	struct lfr_reactor_config cfg;
	struct epoll_event ev = { .events = EPOLLIN };
	struct lfr_reactor *r;
	sigset_t all, old;
	unsigned started = 0, i;
	int ret;

	if (!out)
		return -EINVAL;
	ret = resolve_config(config, &cfg);
	if (ret)
		return ret;

	r = lfr__alloc(alignof(struct lfr_reactor), sizeof(*r));
	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	atomic_init(&r->next_id, 1);
	r->epfd = r->stopfd = r->stopfd2 = -1;
	r->npollers = cfg.pollers;
	pthread_mutex_init(&r->shutdown_lock, NULL);
	sigfillset(&all);
	ret = -pthread_attr_init(&r->attr);
	if (ret) {
		pthread_mutex_destroy(&r->shutdown_lock);
		free(r);
		return ret;
	}
	ret = -pthread_attr_setsigmask_np(&r->attr, &all);
	if (ret)
		goto fail;

	r->epfd = lfr__epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0) {
		ret = -errno;
		goto fail;
	}
	r->stopfd = lfr__eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->stopfd < 0) {
		ret = -errno;
		goto fail;
	}
	ev.data.u64 = LFR__STOP_TOKEN;
	if (lfr__epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->stopfd, &ev) < 0) {
		ret = -errno;
		goto fail;
	}

	r->pollers = lfr__alloc(alignof(struct poller),
				sizeof(*r->pollers) * cfg.pollers);
	if (!r->pollers) {
		ret = -ENOMEM;
		goto fail;
	}
	memset(r->pollers, 0, sizeof(*r->pollers) * cfg.pollers);
	for (i = 0; i < cfg.pollers; i++) {
		struct poller *p = &r->pollers[i];

		p->reactor = r;
		p->events_len = cfg.events_per_poll;
		p->events_buf = lfr__alloc(0, sizeof(*p->events_buf) *
						      cfg.events_per_poll);
		if (!p->events_buf) {
			ret = -ENOMEM;
			goto fail;
		}
	}

	/* Threads inherit the creator's signal mask unless given one: block
	 * everything while any may be created (the attr blocks them too), so
	 * no thread of the library or of liburcu takes the application's
	 * signals. */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = lfr__table_new(cfg.initial_buckets, cfg.max_registrations,
			     &r->attr, &r->table);
	for (i = 0; ret == 0 && i < cfg.pollers; i++) {
		ret = -lfr__pthread_create(&r->pollers[i].thread, &r->attr,
				      poller_main, &r->pollers[i]);
		if (ret == 0) {
			char name[16];

			/* for top, gdb and perf; a failure changes nothing */
			snprintf(name, sizeof(name), "lfr-poll-%u", i % 100u);
			pthread_setname_np(r->pollers[i].thread, name);
			started++;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		goto fail;

	*out = r;
	return 0;

fail:
	if (stop_pollers(r, started) == 0)
		teardown(r);
	return ret;
}

static bool closed(struct lfr_reactor *r)
{
	return atomic_load_explicit(&r->closed, memory_order_acquire);
}

int lfr_reactor_shutdown(struct lfr_reactor *reactor)
{
	int ret = 0;

	if (!reactor)
		return -EINVAL;
	if (my_poller_reactor == reactor)
		return -EDEADLK;
	pthread_mutex_lock(&reactor->shutdown_lock);
	if (atomic_exchange(&reactor->closed, true))
		ret = -ESHUTDOWN;
	else
		reactor->unjoined = stop_pollers(reactor, reactor->npollers);
	pthread_mutex_unlock(&reactor->shutdown_lock);
	return ret;
}

void lfr_reactor_free(struct lfr_reactor *reactor)
{
	if (!reactor)
		return;
	lfr_reactor_shutdown(reactor);
	/* a poller that could not be stopped may still use the reactor and
	 * its table: leak them rather than free under it (only after stray
	 * close() calls took both the epoll fd and the stop eventfd) */
	if (reactor->unjoined)
		return;
	teardown(reactor);
}

struct lfr__timers *_Atomic *lfr__reactor_timers(struct lfr_reactor *r)
{
	return &r->timers;
}

lfr_id lfr_reactor_next_id(struct lfr_reactor *reactor)
{
	if (!reactor)
		return 0;
	return atomic_fetch_add_explicit(&reactor->next_id, 1,
					 memory_order_relaxed);
}

static bool issued(struct lfr_reactor *r, lfr_id id)
{
	return id != 0 &&
	       id < atomic_load_explicit(&r->next_id, memory_order_relaxed);
}

/*
 * fd ownership.  epoll_ctl(DEL) goes by fd number, and a number outlives
 * its file: register A on 7, close 7, a new file gets 7 and is registered
 * as B (ADD succeeds: closing the file dropped A's watch).  A DEL on 7 for
 * A would now take B's watch.  So fd_owner[fd] names the registration that
 * owns the number: set by a register whose ADD succeeded (an older owner is
 * then orphaned: its file was closed, it owns nothing), cleared by its
 * deregister.  A deregister calls DEL only for the owner; any other gets
 * -EBADF and touches no watch.  The ADD or DEL and the owner's update are
 * one step under the number's lock, so no DEL can fall between another
 * registration's ADD and its claim.  The kernel serialises epoll_ctl on one
 * epoll instance anyway (its ep->mtx); this adds an uncontended atomic
 * exchange and a store.
 *
 * fd_owner and fd_owner_len are read under any one lock and written under
 * all of them (a growth, which frees the old array: nobody can hold it).
 */
static void fd_lock(struct lfr_reactor *r, int fd)
{
	atomic_uint *held = &r->fd_locks[(unsigned)fd % LFR__FD_LOCKS].held;
	unsigned spins = 0;

	while (atomic_exchange_explicit(held, 1, memory_order_acquire)) {
		while (atomic_load_explicit(held, memory_order_relaxed)) {
			/* the holder is in a system call: yield soon */
			if (++spins >= 64)
				sched_yield();
		}
	}
}

static void fd_unlock(struct lfr_reactor *r, int fd)
{
	atomic_store_explicit(&r->fd_locks[(unsigned)fd % LFR__FD_LOCKS].held,
			      0, memory_order_release);
}

/* makes fd_owner cover fd; -ENOMEM with nothing changed.  Never shrinks. */
static int fd_reserve(struct lfr_reactor *r, int fd)
{
	size_t len, want = (size_t)fd + 1;
	lfr_id *grown;
	unsigned i;
	int ret = 0;

	fd_lock(r, fd);
	len = r->fd_owner_len;
	fd_unlock(r, fd);
	if (want <= len)
		return 0;
	for (i = 0; i < LFR__FD_LOCKS; i++) /* in order: one grower at a time */
		fd_lock(r, (int)i);
	len = r->fd_owner_len;
	if (want > len) {
		size_t n = len ? len : 64;

		while (n < want)
			n *= 2;
		grown = lfr__alloc(0, n * sizeof(*grown));
		if (grown) {
			if (len)
				memcpy(grown, r->fd_owner, len * sizeof(*grown));
			memset(grown + len, 0, (n - len) * sizeof(*grown));
			free(r->fd_owner);
			r->fd_owner = grown;
			r->fd_owner_len = n;
		} else {
			ret = -ENOMEM;
		}
	}
	for (i = LFR__FD_LOCKS; i-- > 0;)
		fd_unlock(r, (int)i);
	return ret;
}

int lfr_reactor_register(struct lfr_reactor *reactor, int fd,
			 unsigned interest, lfr_id id)
{
	struct epoll_event ev;
	int ret;

	if (!reactor || !interest ||
	    (interest & ~(unsigned)(LFR_READABLE | LFR_WRITABLE)) ||
	    !issued(reactor, id))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	if (closed(reactor))
		return -ESHUTDOWN;

	/* room for fd's owner before anything else: its failure leaves
	 * nothing behind */
	ret = fd_reserve(reactor, fd);
	if (ret)
		return ret;
	ret = lfr__table_insert(reactor->table, id, fd);
	if (ret)
		return ret;

	ev.events = EPOLLET;
	if (interest & LFR_READABLE)
		ev.events |= EPOLLIN | EPOLLRDHUP;
	if (interest & LFR_WRITABLE)
		ev.events |= EPOLLOUT;
	ev.data.u64 = id;
	fd_lock(reactor, fd);
	ret = lfr__epoll_ctl(reactor->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno
									 : 0;
	/* added: fd is a file no live registration watches.  A previous
	 * owner's file was closed; that registration is orphaned */
	if (ret == 0)
		reactor->fd_owner[fd] = id;
	fd_unlock(reactor, fd);
	if (ret) {
		/* no event can name id: the fd never entered epoll.  A
		 * waker a racing set_waker stored is dropped with the entry */
		lfr__table_remove(reactor->table, id);
		return ret;
	}
	return 0;
}

static bool waker_ok(const struct lfr_waker *w)
{
	const struct lfr_waker_vtable *vt = w ? w->vtable : NULL;

	return vt && vt->clone && vt->wake && vt->wake_by_ref && vt->drop;
}

int lfr_reactor_set_waker(struct lfr_reactor *reactor,
			  const struct lfr_waker *waker, lfr_id id)
{
	bool woke;
	int ret;

	if (!reactor || !waker_ok(waker))
		return -EINVAL;
	if (closed(reactor))
		return -ESHUTDOWN;
	ret = lfr__table_set_waker(reactor->table, waker, id, &woke);
	if (woke)
		count(&stripe_of(reactor)->wakes, 1);
	return ret;
}

/* DEL only if id still owns fd: an orphaned registration's number may be
 * another registration's watch now.  -EBADF for an orphan, else what the
 * DEL gives */
static int epoll_del(struct lfr_reactor *r, int fd, lfr_id id)
{
	int ret = -EBADF;

	fd_lock(r, fd);
	if ((size_t)fd < r->fd_owner_len && r->fd_owner[fd] == id) {
		r->fd_owner[fd] = 0;
		ret = lfr__epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL) < 0
			      ? -errno
			      : 0;
	}
	fd_unlock(r, fd);
	return ret;
}

int lfr_reactor_deregister(struct lfr_reactor *reactor, int fd, lfr_id id)
{
	struct lfr__removal rm;
	int ret;

	if (!reactor || id == 0)
		return -EINVAL;
	if (closed(reactor))
		return -ESHUTDOWN;
	ret = lfr__table_find(reactor->table, id, &rm);
	if (ret)
		return ret;
	if (rm.fd != fd) {
		ret = -EINVAL;
	} else if (!lfr__table_claim(&rm)) {
		ret = -ENOENT; /* a concurrent deregister has it */
	} else {
		/* Claimed: of concurrent deregisters only this one goes on.
		 * Out of epoll first, then out of the table: from there no new
		 * event can name id, only those already in a poller's batch,
		 * which the grace period before the free covers.  The DEL is a
		 * short system call inside the read-side section: it only
		 * delays grace periods, and saves a second lookup. */
		ret = epoll_del(reactor, fd, id);
		lfr__table_unlink(reactor->table, &rm);
		/* EBADF: fd was closed first, and its number reused by
		 * another registration (no DEL was made) or by nothing.
		 * ENOENT: closed, and its number reused by a file that was
		 * never registered */
		if (ret == -ENOENT)
			ret = -EBADF;
	}
	lfr__table_finish(reactor->table, &rm);
	return ret;
}

int lfr_reactor_stats(struct lfr_reactor *reactor,
		      struct lfr_reactor_stats *out)
{
	struct lfr_reactor_stats st;
	size_t fit;
	unsigned i;

	if (!reactor || !out || out->size < LFR_REACTOR_STATS_SIZE_MIN ||
	    out->size > LFR_STRUCT_SIZE_MAX)
		return -EINVAL;
	memset(&st, 0, sizeof(st));
	for (i = 0; i < reactor->npollers; i++) {
		struct poller *p = &reactor->pollers[i];

		st.polls += get(&p->polls);
		st.events += get(&p->events);
		st.wakes += get(&p->wakes);
		st.no_waker += get(&p->no_waker);
		st.stale += get(&p->stale);
	}
	for (i = 0; i < LFR__STRIPES; i++)
		st.wakes += get(&reactor->stripes[i].wakes);
	st.registrations = lfr__table_live(reactor->table);
	st.buckets = lfr__table_buckets(reactor->table);
	st.fd_error = atomic_load_explicit(&reactor->fd_error,
					   memory_order_relaxed);
	if (!st.fd_error)
		st.fd_error = lfr__table_fd_error(reactor->table);
	fit = fitting(stats_ends, sizeof(stats_ends) / sizeof(stats_ends[0]),
		      out->size);
	st.size = (uint32_t)fit;
	memcpy(out, &st, fit);
	return 0;
}
