/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lfreactor/reactor.h - epoll, poller threads and a lock-free waker table.
 *
 * The reactor owns an epoll instance and one or more poller threads.  A user
 * takes an id (lfr_reactor_next_id), registers an fd under it
 * (lfr_reactor_register), stores the waker to wake when the fd becomes ready
 * (lfr_reactor_set_waker, again each time it waits), and finally removes it
 * (lfr_reactor_deregister).  Events are edge-triggered, as in mio: a waker is
 * woken when the fd *becomes* ready; the task must then read or write until
 * EAGAIN before it waits again.
 *
 * Wakers live in an RCU-protected concurrent hash table (liburcu cds_lfht,
 * urcu-bp flavor) keyed by id.  No function here takes a lock shared with
 * the pollers: executor threads set wakers while the pollers look them up.
 *
 * Threading rules, in one place:
 *  - Every function may be called from any thread, concurrently with every
 *    other function on the same reactor, except lfr_reactor_free().
 *    Application threads need no set-up (no RCU registration).
 *  - Wakers run on a poller thread inside an RCU read-side critical section
 *    (and, for an event that came before the first waker, on the thread
 *    calling lfr_reactor_set_waker).  They must be short and must not block.
 *    From a waker you may call next_id, register, set_waker, deregister and
 *    stats; never lfr_reactor_free(), and lfr_reactor_shutdown() only
 *    where the waker does not run on one of the reactor's pollers (it
 *    returns -EDEADLK there).
 *  - The library's threads (the pollers, the table's maintainer, and
 *    liburcu's resize helpers for large tables) block all signals, so
 *    signalfd and sigwait users keep their signals.  The maintainer runs
 *    the grace periods (at most one per 2 ms), resizes the table, and
 *    drops what idle or exited threads retired; liburcu's own auto-resize
 *    worker is not used, as in 0.13 it unblocks SIGUSR1.
 *  - Memory a thread retires (a replaced waker, a removed registration)
 *    waits for a grace period in that thread's own blocks; the thread drops
 *    it on a later call, or the maintainer does once the thread has been
 *    idle for about 10 ms or has exited.  A thread that uses more than four
 *    reactors in turn hands the oldest one's part to its maintainer.
 *  - fork(): the pollers do not exist in a child.  A child may only exec or
 *    _exit; it must not use a reactor created by its parent.
 */
#ifndef LFREACTOR_REACTOR_H
#define LFREACTOR_REACTOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <lfreactor/common.h>
#include <lfreactor/waker.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Interest and readiness bits.  Edge-triggered. */
enum {
	LFR_READABLE = 1u << 0, /* EPOLLIN, also peer hang-up and errors */
	LFR_WRITABLE = 1u << 1, /* EPOLLOUT, also hang-up and errors */
};

/* Limits checked by lfr_reactor_new(). */
#define LFR_MAX_POLLERS 64u
#define LFR_MAX_EVENTS_PER_POLL 65536u
#define LFR_MAX_REGISTRATIONS (1ul << 28)

/* Defaults, which lfr_reactor_config_init() writes and a field left 0
 * (or beyond the caller's size) takes. */
#define LFR_DEFAULT_POLLERS 1u
#define LFR_DEFAULT_EVENTS_PER_POLL 256u
#define LFR_DEFAULT_INITIAL_BUCKETS 1024ul
#define LFR_DEFAULT_MAX_REGISTRATIONS (1ul << 20)

/*
 * Growable structs.  struct lfr_reactor_config and struct lfr_reactor_stats
 * are allocated by the caller and may gain fields in later versions of the
 * library, so each starts with size: the bytes of the struct as the
 * caller's header declares it, sizeof(struct ...) when it was compiled.
 * The rules, which keep a program and a library of different versions
 * working together:
 *  - A later version only appends fields at the end; none is removed,
 *    moved or resized.  A field's meaning never changes.
 *  - The library uses the fields that lie wholly within size bytes.  A
 *    config field beyond them takes its default; a stats field beyond them
 *    is not written.
 *  - size must hold the size member and the first field
 *    (LFR_REACTOR_CONFIG_SIZE_MIN, LFR_REACTOR_STATS_SIZE_MIN) and be at
 *    most LFR_STRUCT_SIZE_MAX; else the call returns -EINVAL.
 *  - A config larger than the library's own struct (a program built
 *    against a newer header) is accepted if every byte past the library's
 *    struct is 0: the program asked for nothing this library lacks.  Else
 *    -E2BIG, and the program may retry without the newer fields.
 *  - lfr_reactor_stats() sets size to the bytes it filled: the program
 *    can tell which fields an older library did not know.
 * Set size with lfr_reactor_config_init() for a config, and to
 * sizeof(struct lfr_reactor_stats) before each lfr_reactor_stats().
 * A config of all zeros (size 0) is -EINVAL: size is never guessed.
 */
#define LFR_STRUCT_SIZE_MAX 4096u

/*
 * Reactor configuration.  Initialise with lfr_reactor_config_init() and set
 * the fields you care about; a field left 0 takes its default.
 */
struct lfr_reactor_config {
	/* bytes of this struct the caller knows (see "Growable structs");
	 * lfr_reactor_config_init() sets it */
	uint32_t size;
	/* poller threads calling epoll_wait on the one epoll instance;
	 * default 1, at most LFR_MAX_POLLERS */
	unsigned pollers;
	/* events one epoll_wait may return (one RCU read-side section covers
	 * the whole batch); default 256, at most LFR_MAX_EVENTS_PER_POLL */
	unsigned events_per_poll;
	/* initial buckets of the waker table, rounded up to a power of two
	 * and capped at the bucket limit (see max_registrations); the table
	 * grows and shrinks by itself within it.  default 1024 */
	unsigned long initial_buckets;
	/* live registrations the table is sized for.  The bucket limit is
	 * half of this, rounded up to a power of two: the buckets never
	 * exceed it, and liburcu reserves that bucket array's address space
	 * (16 bytes a bucket) when the reactor is created.  More
	 * registrations still work, with longer chains.  default 1 << 20
	 * (a limit of 1 << 19 buckets: 8 MiB reserved), at most 1 << 28 */
	unsigned long max_registrations;
};
#define LFR_REACTOR_CONFIG_SIZE_MIN                                          \
	(offsetof(struct lfr_reactor_config, pollers) + sizeof(unsigned))

/*
 * Counters, read at any time with lfr_reactor_stats().  Each is summed from
 * per-poller or per-thread-stripe counters (no shared hot counter), so a
 * snapshot taken while the reactor works is approximate; taken when it is
 * idle, exact.
 */
struct lfr_reactor_stats {
	/* in: the bytes of this struct the caller has, sizeof(struct
	 * lfr_reactor_stats); out: the bytes filled (see "Growable
	 * structs") */
	uint32_t size;
	uint64_t polls;         /* epoll_wait calls that returned events */
	uint64_t events;        /* events for registered-or-stale ids */
	uint64_t wakes;         /* wakers woken, by pollers and by set_waker */
	uint64_t no_waker;      /* events that found no waker yet: recorded */
	uint64_t stale;         /* events whose id was already removed */
	uint64_t registrations; /* registrations live now */
	uint64_t buckets;       /* buckets of the waker table now */
	/* negative errno when one of the reactor's own fds (its epoll fd,
	 * its stop eventfd, the table's eventfd) failed, else 0: a stray
	 * close() elsewhere in the program took it.  -EBADF (or -EINVAL if
	 * the epoll fd's number now names another file).  The first failure
	 * is kept.  Seen when the reactor uses the fd: a poller's next
	 * epoll_wait (the pollers then stop: no event is dispatched any
	 * more), shutdown's wake-up of the pollers, a wake-up of the table's
	 * maintainer.  Such a reactor still shuts down and frees without
	 * hanging (see lfr_reactor_free); free it. */
	int64_t fd_error;
};
#define LFR_REACTOR_STATS_SIZE_MIN                                           \
	(offsetof(struct lfr_reactor_stats, polls) + sizeof(uint64_t))

struct lfr_reactor;

/*
 * lfr_reactor_config_init - fill *config with the defaults and its size.
 *
 * Zeroes the struct, sets size to sizeof(struct lfr_reactor_config) as
 * this header declares it and every other field to its default
 * (LFR_DEFAULT_*).  An inline function, so that size is the caller's and
 * never the library's (see "Growable structs").  No-op on NULL.
 * Threads: any.  Blocks: never.
 */
static inline void lfr_reactor_config_init(struct lfr_reactor_config *config)
{
	if (!config)
		return;
	memset(config, 0, sizeof(*config));
	config->size = sizeof(*config);
	config->pollers = LFR_DEFAULT_POLLERS;
	config->events_per_poll = LFR_DEFAULT_EVENTS_PER_POLL;
	config->initial_buckets = LFR_DEFAULT_INITIAL_BUCKETS;
	config->max_registrations = LFR_DEFAULT_MAX_REGISTRATIONS;
}

/*
 * lfr_reactor_new - create a reactor and start its poller threads.
 *
 * config may be NULL for the defaults; else its size must be set (see
 * "Growable structs"): lfr_reactor_config_init() does.  On success stores
 * the reactor in *out and returns 0.  Errors (nothing is left behind; *out
 * is untouched):
 *  -EINVAL  out is NULL; config->size is below LFR_REACTOR_CONFIG_SIZE_MIN
 *           or above LFR_STRUCT_SIZE_MAX; or a config field is above its
 *           limit
 *  -E2BIG   config is larger than this library's struct and a byte past
 *           it is not 0 (a field from a newer header this library lacks)
 *  -ENOMEM  out of memory, or of address space for the table's buckets
 *           (see max_registrations): never an abort
 *  -EMFILE, -ENFILE  no fd for epoll or the eventfd
 *  -EAGAIN  a thread could not be created
 * Threads: any thread; the calling thread's signal mask is briefly set to
 * block all signals while threads are created, then restored.
 * Blocks: on thread creation only.
 */
LFR_EXTERN int lfr_reactor_new(const struct lfr_reactor_config *config,
			       struct lfr_reactor **out);

/*
 * lfr_reactor_shutdown - stop the reactor while other threads may still
 * call it.
 *
 * Marks the reactor closed, then wakes the pollers and joins them: after it
 * returns no poller wakes anything.  A register, set_waker or deregister
 * that starts after the mark returns -ESHUTDOWN and changes nothing; one
 * already running completes as it would have (a set_waker in flight may
 * still wake its waker for an event recorded earlier).  next_id and stats
 * keep working.  Registrations stay, with their wakers, until
 * lfr_reactor_free().
 * Returns 0; -ESHUTDOWN if the reactor was already shut down (also then
 * only once no poller wakes anything: a repeated call waits for the one
 * still joining the pollers); -EINVAL if reactor is NULL; -EDEADLK, and
 * nothing is done, when called on one of this reactor's own poller
 * threads (from a waker it runs), which shutdown would have to join.
 * Threads: any thread but this reactor's pollers, concurrently with every
 * call but lfr_reactor_free().  A waker that wants the reactor shut down
 * hands that to another thread (wakes a task that calls it); a waker run
 * inside lfr_reactor_set_waker, on the caller's thread, may call it.
 * Blocks: until the pollers exit (a mutex held while they are joined).
 * (If stray close() calls took both the epoll fd and the stop eventfd,
 * a poller nothing can reach is waited for 200 ms, then left running:
 * see lfr_reactor_free.)
 * Ordering: the mark is sequentially consistent; a call that reads it
 * closed happens after it.
 */
LFR_EXTERN int lfr_reactor_shutdown(struct lfr_reactor *reactor);

/*
 * lfr_reactor_free - stop and destroy the reactor.
 *
 * Wakes the pollers through the eventfd and joins them, removes every
 * registration, stops the table's maintainer, waits one grace period and
 * frees everything retired (dropping every waker reference the reactor
 * held), and closes its epoll fd and eventfds.
 * Registered fds stay open: the caller owns them.  NULL is a no-op.
 * Shuts the reactor down first if lfr_reactor_shutdown() has not.
 * Threads: one thread, once, after every other call on this reactor has
 * returned (shut it down first to make other threads stop calling: they
 * get -ESHUTDOWN); calls racing free itself are undefined.  Never from a
 * waker or any RCU read-side critical section (it would wait for itself).
 * Blocks: until the pollers and the maintainer exit and one grace period
 * has passed for what was retired.
 * If a stray close() took one of the reactor's own fds, free still
 * returns: the pollers are stopped through a fresh eventfd when the stop
 * eventfd is gone, and the maintainer, which never sleeps more than a
 * second, sees the stop within one when its eventfd is.  Only if both the epoll fd and the stop eventfd are gone
 * and a poller stays blocked (nothing can reach its epoll_wait) for
 * 200 ms does free leak the reactor, its table and that thread, rather
 * than free memory the poller may still use; stats' fd_error says so.
 * A number the reactor saw fail is not closed again (it may name another
 * file by then); one closed behind its back that it never used again is.
 */
LFR_EXTERN void lfr_reactor_free(struct lfr_reactor *reactor);

/*
 * lfr_reactor_next_id - a fresh id for one registration.
 *
 * Returns a value never returned before by this reactor, and never 0;
 * returns 0 if reactor is NULL.  Ids are single-use: register each once.
 * Threads: any, concurrently.  Lock-free (one relaxed fetch-and-add); gives
 * no ordering beyond uniqueness.
 */
LFR_EXTERN lfr_id lfr_reactor_next_id(struct lfr_reactor *reactor);

/*
 * lfr_reactor_register - watch fd for interest under id.
 *
 * Creates the id's table entry first, then adds fd to epoll (edge-triggered),
 * so an event that arrives before the first lfr_reactor_set_waker() is
 * recorded, not lost: set_waker wakes the new waker at once.  The caller
 * keeps ownership of fd; deregister it before closing it.
 * The registration owns fd's number until it is deregistered, or until a
 * later register of the same number succeeds: that is only possible once
 * fd was closed (closing a file ends its epoll watch), and it orphans this
 * registration, which then owns nothing; its deregister returns -EBADF and
 * cannot touch the new registration's watch.
 * Returns 0 or (nothing is left registered on failure):
 *  -EINVAL  reactor NULL; interest 0 or with bits other than LFR_READABLE |
 *           LFR_WRITABLE; id 0 or an id this reactor's next_id has not yet
 *           handed out
 *  -EEXIST  id is already registered, or fd is already registered (under
 *           any id)
 *  -EBADF   fd is negative or not open
 *  -EPERM   fd does not support epoll (a regular file or directory)
 *  -ENOMEM  out of memory (also growing the reactor's table of fd owners,
 *           an array indexed by fd)
 *  -ENOSPC  the user's epoll watch limit
 *  -ESHUTDOWN  the reactor was shut down
 * Registering an id that was deregistered before is a caller error the
 * library cannot always detect; it would let a stale event reach the new
 * registration.  Take a new id instead.
 * Threads: any, concurrently, including from a waker.
 * Blocks: the entry comes from this thread's cache without a lock in the
 * common case (refilled 64 at a time under a mutex, from a slab of 63
 * entries when none is free); may drop wakers this thread retired earlier
 * (see the threading rules); one epoll_ctl system call, made under a spin
 * lock shared by the fd numbers equal modulo 64 (held for that call only;
 * it yields the CPU while waiting).  The first fd at or above the fd-owner
 * array's size grows it (doubling, from 64) with all 64 locks held.
 * Ordering: the entry is published (full barrier) before epoll_ctl(ADD);
 * the ADD and the claim of fd's number are one step under fd's lock, so a
 * deregister of fd by another registration is wholly before or after it.
 */
LFR_EXTERN int lfr_reactor_register(struct lfr_reactor *reactor, int fd,
				    unsigned interest, lfr_id id);

/*
 * lfr_reactor_set_waker - store the waker to wake on id's next event.
 *
 * If the stored waker will_wake() the same as *waker, nothing is written:
 * no clone, no allocation, no store (the common re-arm; lock-free and
 * allocation-free).  Otherwise a clone of *waker is stored and swapped in
 * atomically: the first waker of a registration in the registration's own
 * entry, where a later waker of the same vtable replaces it (compare-and-
 * swap, no box); once a waker of another vtable was set, wakers go
 * in 16-byte boxes from this thread's cache (malloc only when the cache is
 * empty).  The replaced waker is dropped after a grace period, normally by
 * this thread on a later call (see the threading rules).  Then, if an
 * event was recorded while no waker was stored, the readiness is consumed
 * and the new waker is woken (wake_by_ref) before this call returns.
 * Returns 0 or:
 *  -EINVAL  reactor or waker NULL, or waker has a NULL vtable or operation
 *  -ENOENT  id is not registered (never was, or was deregistered)
 *  -ENOMEM  out of memory, or waker's clone failed; the old waker stays
 *  -ESHUTDOWN  the reactor was shut down
 * Threads: any, concurrently (also on the same id: the calls take effect in
 * some order, and the waker of the one that takes effect last stays),
 * including from a waker.
 * Blocks: takes no lock; never on the re-arm.  When a different waker is
 * stored it may drop wakers this thread retired a grace period ago (their
 * drop runs here), and a thread with more than about 65000 retired wakers
 * waiting waits for the next grace period (not from inside a waker: there
 * it never waits).
 * Ordering: the new waker is published and the readiness then checked with
 * sequentially consistent operations, pairing with the poller's record-
 * then-load, so an event racing with this call always wakes someone.
 */
LFR_EXTERN int lfr_reactor_set_waker(struct lfr_reactor *reactor,
				     const struct lfr_waker *waker, lfr_id id);

/*
 * lfr_reactor_deregister - stop watching fd and remove id.
 *
 * Removes fd from epoll first, then id's entry; the entry and its waker are
 * freed (the waker dropped) after a grace period, so a poller still holding
 * them stays safe.  Consequence: a dispatch already in flight when this call
 * returns may still wake the old waker, at most once.  After that the id is
 * gone: later events for it are counted as stale and wake nobody.
 * Returns 0 or:
 *  -EINVAL  reactor NULL, id 0, or fd is not the fd registered under id
 *           (nothing is changed)
 *  -ENOENT  id is not registered (nothing is changed)
 *  -ESHUTDOWN  the reactor was shut down (nothing is changed)
 *  -ENOMEM  this thread's first call on this reactor could not allocate
 *           its state (nothing is changed)
 *  -EBADF   fd was already closed: the entry is still removed and the id is
 *           gone, but the kernel may keep watching the open file if fd had
 *           duplicates.  Deregister before close.  Also when the
 *           registration was orphaned (fd was closed and its number then
 *           registered again, under another id, see lfr_reactor_register):
 *           then no epoll_ctl(DEL) is made, so the watch of the number's
 *           current registration stays and keeps waking its waker; the
 *           entry is still removed.
 *  other    epoll_ctl(DEL) failed otherwise (-ENOMEM): the id is removed
 *           all the same; events the kernel still reports for fd are
 *           counted as stale and wake nobody.
 * Threads: any, concurrently, including from a waker.  If two threads
 * deregister the same id at once, one gets 0 and the other -ENOENT.
 * Blocks: at most one epoll_ctl system call (none for an orphaned
 * registration), under fd's spin lock as in lfr_reactor_register; the
 * entry waits for a grace period in this thread's blocks, like
 * set_waker's replaced wakers, and may wait for one under the same
 * back-pressure.
 * Ordering: the check that id still owns fd, the epoll_ctl(DEL) and the
 * release of the number are one step under fd's lock: a register of the
 * same number by another id is wholly before it (then this call gets
 * -EBADF) or wholly after (then its watch is untouched).
 */
LFR_EXTERN int lfr_reactor_deregister(struct lfr_reactor *reactor, int fd,
				      lfr_id id);

/*
 * lfr_reactor_stats - read the counters into *out.
 *
 * out->size must be set first, to sizeof(struct lfr_reactor_stats).  Fills
 * the fields that lie wholly within out->size bytes, writes nothing past
 * them, and sets out->size to the bytes it filled: at most its own
 * struct's size, so a program built against a newer header sees which
 * fields this library left alone (see "Growable structs").
 * Returns 0, or -EINVAL (nothing written) if reactor or out is NULL, or
 * out->size is below LFR_REACTOR_STATS_SIZE_MIN or above
 * LFR_STRUCT_SIZE_MAX.
 * Threads: any, any time, including from a waker.  Never blocks; relaxed
 * loads only, so counters may lag by one batch.
 */
LFR_EXTERN int lfr_reactor_stats(struct lfr_reactor *reactor,
				 struct lfr_reactor_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* LFREACTOR_REACTOR_H */
