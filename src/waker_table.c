/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * waker_table.c - the wakers, keyed by id, in an RCU-protected cds_lfht.
 *
 * The protocol, all of it here:
 *
 *  entry   { node, id, fd, ready, waker } — created by register before the fd
 *          enters epoll, removed by deregister after it left epoll, freed
 *          after a grace period.  Ids come from a counter and are never
 *          reused, so a lookup by id never finds a newer registration.
 *  waker   an atomic pointer to a box { struct lfr_waker }.  NULL until the
 *          first set_waker; then never NULL again.  A replaced box is freed
 *          (and its waker dropped) after a grace period, so a poller that
 *          loaded it may still call wake_by_ref on it.
 *  ready   readiness bits of events that found no waker.
 *
 *  retire  Removed entries and replaced boxes go on one wait-free queue
 *          (wfcqueue: one exchange per retirement).  The table's maintainer
 *          thread takes the whole queue, waits for one grace period for the
 *          whole batch (synchronize_rcu), then frees it.  One grace period
 *          per batch instead of one call_rcu per object keeps the "new
 *          waker every call" path to a malloc and two exchanges.  The same
 *          thread resizes the table when asked.
 *
 *  set_waker (any thread)           dispatch (poller, inside read-side)
 *    box = load(waker)                box = load(waker)
 *    same waker? return: no write     present? wake it: no write, done
 *    xchg(waker, new)   [seq_cst]     fetch_or(ready, bits)   [seq_cst]
 *    load(ready)        [seq_cst]     box = load(waker)       [seq_cst]
 *    set? xchg(ready,0), wake new     present? xchg(ready,0), wake it
 *
 *  The two middle lines form a Dekker pair: with both sides sequentially
 *  consistent, at least one side sees the other's store, so an event that
 *  raced with the first set_waker is never lost; if both see each other,
 *  the xchg on ready lets exactly one of them wake.
 *
 * Everything a lookup returns is used inside the read-side section that
 * found it.
 */
#include "config.h"

#define _LGPL_SOURCE
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <urcu/urcu-bp.h>
#include <urcu/rculfhash.h>
#include <urcu/wfcqueue.h>

#include "test_hooks.h"
#include "waker_table.h"

#define LFR__CACHELINE 64
#define LFR__MAX_BUCKETS (1UL << 24)

/* ThreadSanitizer cannot see what liburcu synchronises with (inline-asm
 * exchanges in cds_lfht and wfcqueue, membarrier in synchronize_rcu).  In
 * --enable-tsan builds these annotations tell it: publishing an entry
 * through the table releases it and finding it acquires it; leaving a
 * read-side section releases a token that the grace period acquires, so
 * what a reader did happens before the free that waited for it.  They
 * compile to nothing otherwise. */
#ifdef __SANITIZE_THREAD__
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define TSAN_ACQUIRE(addr) __tsan_acquire(addr)
#define TSAN_RELEASE(addr) __tsan_release(addr)
#else
#define TSAN_ACQUIRE(addr) ((void)0)
#define TSAN_RELEASE(addr) ((void)0)
#endif
static char grace_token __attribute__((unused));

/* something waiting for a grace period before free(retired) */
struct retired {
	struct cds_wfcq_node node;
	void (*free)(struct retired *r);
};

struct lfr__box {
	struct lfr_waker waker;
	struct retired retired;
};

struct lfr__entry {
	struct cds_lfht_node node;
	lfr_id id;
	_Atomic(struct lfr__box *) waker;
	atomic_uint ready;
	int fd;
	struct retired retired;
};
_Static_assert(sizeof(struct lfr__entry) <= LFR__CACHELINE,
	       "an entry fits one cache line");

struct lfr__table {
	struct cds_lfht *ht;
	unsigned long min_buckets;
	atomic_ulong buckets;      /* written by the maintainer only */
	int kickfd;                /* eventfd: the maintainer sleeps on it */
	pthread_t maintainer;
	atomic_bool stopping;
	atomic_bool idle;          /* the maintainer sleeps in read(kickfd) */
	atomic_ulong resize_live;  /* live entries + 1 when a resize is asked */
	/* dequeued by the maintainer only, so the lock-free head suffices */
	alignas(LFR__CACHELINE) struct __cds_wfcq_head retired_head;
	alignas(LFR__CACHELINE) struct cds_wfcq_tail retired_tail;
};

void lfr__read_lock(void)
{
	urcu_bp_read_lock();
}

void lfr__read_unlock(void)
{
	TSAN_RELEASE(&grace_token);
	urcu_bp_read_unlock();
}

/* Ids are dense; a 64-bit finalizer spreads them over the split-ordered
 * buckets (which index by the low bits of the hash). */
static unsigned long hash_id(lfr_id id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	id *= 0xc4ceb9fe1a85ec53ULL;
	id ^= id >> 33;
	return (unsigned long)id;
}

static int match_id(struct cds_lfht_node *node, const void *key)
{
	const struct lfr__entry *e =
		caa_container_of(node, struct lfr__entry, node);

	TSAN_ACQUIRE(node); /* every candidate the table shows us */
	return e->id == *(const lfr_id *)key;
}

/* read-side */
static struct lfr__entry *lookup(struct lfr__table *t, lfr_id id)
{
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;

	cds_lfht_lookup(t->ht, hash_id(id), match_id, &id, &iter);
	node = cds_lfht_iter_get_node(&iter);
	return node ? caa_container_of(node, struct lfr__entry, node) : NULL;
}

static void free_box(struct retired *r)
{
	struct lfr__box *box = caa_container_of(r, struct lfr__box, retired);

	lfr_waker_drop(&box->waker);
	free(box);
}

static void free_entry(struct retired *r)
{
	struct lfr__entry *e = caa_container_of(r, struct lfr__entry, retired);
	struct lfr__box *box =
		atomic_load_explicit(&e->waker, memory_order_acquire);

	/* the entry was unreachable for a grace period, so was its box */
	if (box)
		free_box(&box->retired);
	free(e);
}

static void kick(struct lfr__table *t)
{
	uint64_t one = 1;

	/* cannot fail short of the counter overflowing */
	if (write(t->kickfd, &one, sizeof(one)) != sizeof(one))
		return;
}

/* any thread, read-side or not: never waits */
static void retire(struct lfr__table *t, struct retired *r,
		   void (*fn)(struct retired *))
{
	r->free = fn;
	cds_wfcq_node_init(&r->node);
	/* Only a retirement into an empty queue while the maintainer sleeps
	 * wakes it (a system call); the rest ride along with its batch.  The
	 * enqueue's exchange orders it before the load of idle, pairing with
	 * the maintainer's store of idle before it looks at the queue. */
	if (!cds_wfcq_enqueue(&t->retired_head, &t->retired_tail, &r->node) &&
	    atomic_exchange(&t->idle, false))
		kick(t);
}

/* maintainer only (or destroy, after it stopped): never in a read-side
 * section */
static void reclaim(struct lfr__table *t)
{
	struct __cds_wfcq_head head;
	struct cds_wfcq_tail tail;
	struct cds_wfcq_node *node, *next;

	__cds_wfcq_init(&head, &tail);
	if (__cds_wfcq_splice_blocking(&head, &tail, &t->retired_head,
				       &t->retired_tail) ==
	    CDS_WFCQ_RET_SRC_EMPTY)
		return;
	/* every reader that could still see a spliced object started before
	 * this point; wait for all of them to finish */
	urcu_bp_synchronize_rcu();
	TSAN_ACQUIRE(&grace_token);
	__cds_wfcq_for_each_blocking_safe(&head, &tail, node, next) {
		struct retired *r = caa_container_of(node, struct retired, node);

		r->free(r);
	}
}

static void resize_to_fit(struct lfr__table *t, unsigned long live);

/* How long the maintainer lets retirements gather before it waits out a
 * grace period for them: one grace period and one wake-up per window. */
#define RECLAIM_WINDOW_NS 5000000L

static void *maintainer_main(void *arg)
{
	struct lfr__table *t = arg;
	struct timespec window = { 0, RECLAIM_WINDOW_NS };
	uint64_t v;

	for (;;) {
		unsigned long live;

		/* announce sleep, then look: a retirer that enqueued before
		 * our look is seen by it; one after it sees idle and kicks */
		atomic_store(&t->idle, true);
		atomic_thread_fence(memory_order_seq_cst);
		if (cds_wfcq_empty(&t->retired_head, &t->retired_tail) &&
		    !atomic_load(&t->resize_live) &&
		    !atomic_load(&t->stopping) &&
		    read(t->kickfd, &v, sizeof(v)) < 0 && errno == EINTR)
			continue;
		atomic_store(&t->idle, false);
		if (atomic_load_explicit(&t->stopping, memory_order_acquire))
			return NULL;
		live = atomic_exchange_explicit(&t->resize_live, 0,
						memory_order_acq_rel);
		if (live)
			resize_to_fit(t, live - 1);
		nanosleep(&window, NULL);
		reclaim(t);
	}
}

int lfr__table_new(unsigned long initial_buckets, pthread_attr_t *attr,
		   struct lfr__table **out)
{
	struct lfr__table *t = lfr__alloc(alignof(struct lfr__table), sizeof(*t));
	unsigned long size = 1;
	int ret;

	if (!t)
		return -ENOMEM;
	memset(t, 0, sizeof(*t));
	while (size < initial_buckets)
		size <<= 1;
	t->min_buckets = size;
	atomic_init(&t->buckets, size);
	__cds_wfcq_init(&t->retired_head, &t->retired_tail);
	t->kickfd = lfr__eventfd(0, EFD_CLOEXEC);
	if (t->kickfd < 0) {
		ret = -errno;
		free(t);
		return ret;
	}
	/* No CDS_LFHT_AUTO_RESIZE: in liburcu 0.13 it starts a resize worker
	 * that unblocks SIGUSR1 for itself.  The maintainer resizes instead.
	 * attr (signals blocked) also serves the table's resize helpers. */
	t->ht = cds_lfht_new_flavor(size, size, LFR__MAX_BUCKETS, 0,
				    &urcu_bp_flavor, attr);
	if (!t->ht) {
		close(t->kickfd);
		free(t);
		return -ENOMEM;
	}
	ret = -lfr__pthread_create(&t->maintainer, attr, maintainer_main, t);
	if (ret) {
		cds_lfht_destroy(t->ht, NULL);
		close(t->kickfd);
		free(t);
		return ret;
	}
	*out = t;
	return 0;
}

int lfr__table_destroy(struct lfr__table *t)
{
	int ret;

	atomic_store(&t->stopping, true);
	kick(t);
	pthread_join(t->maintainer, NULL);
	reclaim(t);
	ret = cds_lfht_destroy(t->ht, NULL);
	close(t->kickfd);
	free(t);
	return ret;
}

unsigned long lfr__table_buckets(struct lfr__table *t)
{
	return atomic_load_explicit(&t->buckets, memory_order_relaxed);
}

/* Aim for 1 to 2 entries per bucket; shrink only below 1/8 so a table at a
 * boundary does not flap. */
bool lfr__table_wants_resize(struct lfr__table *t, unsigned long live)
{
	unsigned long size = lfr__table_buckets(t);

	return (live > 2 * size && size < LFR__MAX_BUCKETS) ||
	       (live < size / 8 && size > t->min_buckets);
}

static void resize_to_fit(struct lfr__table *t, unsigned long live)
{
	unsigned long target = t->min_buckets;

	if (!lfr__table_wants_resize(t, live))
		return;
	while (target < live && target < LFR__MAX_BUCKETS)
		target <<= 1;
	/* waits for grace periods: only ever on the maintainer */
	cds_lfht_resize(t->ht, target);
	atomic_store_explicit(&t->buckets, target, memory_order_relaxed);
}

void lfr__table_request_resize(struct lfr__table *t, unsigned long live)
{
	if (atomic_exchange(&t->resize_live, live + 1) == 0 &&
	    atomic_exchange(&t->idle, false))
		kick(t);
}

int lfr__table_insert(struct lfr__table *t, lfr_id id, int fd)
{
	struct lfr__entry *e = lfr__alloc(LFR__CACHELINE, LFR__CACHELINE);
	struct cds_lfht_node *got;

	if (!e)
		return -ENOMEM;
	cds_lfht_node_init(&e->node);
	e->id = id;
	e->fd = fd;
	atomic_init(&e->waker, NULL);
	atomic_init(&e->ready, 0);

	lfr__read_lock();
	/* add_unique issues full barriers around its commit: the entry is
	 * published before the caller's epoll_ctl(ADD). */
	TSAN_RELEASE(&e->node);
	got = cds_lfht_add_unique(t->ht, hash_id(id), match_id, &id, &e->node);
	lfr__read_unlock();
	if (got != &e->node) {
		free(e);
		return -EEXIST;
	}
	return 0;
}

/* read-side; 0 if this caller removed it */
static int remove_entry(struct lfr__table *t, struct lfr__entry *e)
{
	if (cds_lfht_del(t->ht, &e->node) != 0)
		return -ENOENT; /* another remover won */
	retire(t, &e->retired, free_entry);
	return 0;
}

int lfr__table_remove_fd(struct lfr__table *t, lfr_id id, int fd,
			 int (*unwatch)(void *ctx, int fd), void *ctx,
			 int *unwatched)
{
	struct lfr__entry *e;
	int ret;

	lfr__read_lock();
	e = lookup(t, id);
	if (!e) {
		ret = -ENOENT;
	} else if (e->fd != fd) {
		ret = -EINVAL;
	} else {
		/* a short system call inside the section: it only delays
		 * grace periods, and saves a second lookup */
		*unwatched = unwatch(ctx, fd);
		ret = remove_entry(t, e);
	}
	lfr__read_unlock();
	return ret;
}

int lfr__table_remove(struct lfr__table *t, lfr_id id)
{
	struct lfr__entry *e;
	int ret = -ENOENT;

	lfr__read_lock();
	e = lookup(t, id);
	if (e)
		ret = remove_entry(t, e);
	lfr__read_unlock();
	return ret;
}

unsigned long lfr__table_drain(struct lfr__table *t)
{
	struct cds_lfht_iter iter;
	struct lfr__entry *e;
	unsigned long n = 0;

	lfr__read_lock();
	cds_lfht_for_each_entry(t->ht, &iter, e, node) {
		TSAN_ACQUIRE(&e->node);
		if (remove_entry(t, e) == 0)
			n++;
	}
	lfr__read_unlock();
	return n;
}

/* read-side: hand recorded readiness to box, once */
static bool consume_ready(struct lfr__entry *e, struct lfr__box *box)
{
	if (atomic_exchange_explicit(&e->ready, 0, memory_order_seq_cst) == 0)
		return false;
	lfr_waker_wake_by_ref(&box->waker);
	return true;
}

int lfr__table_set_waker(struct lfr__table *t, const struct lfr_waker *waker,
			 lfr_id id, bool *woke)
{
	struct lfr__entry *e;
	struct lfr__box *cur, *box;
	int ret = 0;

	*woke = false;
	lfr__read_lock();
	e = lookup(t, id);
	if (!e) {
		ret = -ENOENT;
		goto out;
	}
	/* The common re-arm: the stored waker already wakes the same task.
	 * Nothing is written, so the entry's line stays shared with the
	 * pollers.  No readiness can be pending here: it is only recorded
	 * while no waker is stored, and consumed by whoever stored one. */
	cur = atomic_load_explicit(&e->waker, memory_order_acquire);
	if (cur && lfr_waker_will_wake(&cur->waker, waker))
		goto out;

	box = lfr__alloc(alignof(struct lfr__box), sizeof(*box));
	if (!box) {
		ret = -ENOMEM;
		goto out;
	}
	box->waker = lfr_waker_clone(waker);
	if (!box->waker.vtable) {
		free(box);
		ret = -ENOMEM;
		goto out;
	}
	cur = atomic_exchange_explicit(&e->waker, box, memory_order_seq_cst);
	if (cur)
		retire(t, &cur->retired, free_box);
	/* the check half of publish-then-check; a plain load first keeps the
	 * exchange (a write) off the path where nothing was recorded */
	if (atomic_load_explicit(&e->ready, memory_order_seq_cst) != 0)
		*woke = consume_ready(e, box);
out:
	lfr__read_unlock();
	return ret;
}

enum lfr__dispatch lfr__table_dispatch(struct lfr__table *t, lfr_id id,
				       unsigned ready)
{
	struct lfr__entry *e = lookup(t, id);
	struct lfr__box *box;

	if (!e)
		return LFR__DISPATCH_STALE;
	LFR__HOOK(dispatch_found, id);
	box = atomic_load_explicit(&e->waker, memory_order_acquire);
	if (box) {
		lfr_waker_wake_by_ref(&box->waker);
		return LFR__DISPATCH_WOKE;
	}
	LFR__HOOK(dispatch_no_waker, id);
	/* record-then-load: pairs with set_waker's publish-then-check */
	atomic_fetch_or_explicit(&e->ready, ready, memory_order_seq_cst);
	box = atomic_load_explicit(&e->waker, memory_order_seq_cst);
	if (box && consume_ready(e, box))
		return LFR__DISPATCH_RECORDED_WOKE;
	return LFR__DISPATCH_RECORDED;
}
