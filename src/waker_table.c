/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * waker_table.c - the wakers, keyed by id, in an RCU-protected cds_lfht.
 *
 * The protocol, all of it here:
 *
 *  entry   { node, id, waker, inline, ready, state, fd, published }: one
 *          cache line, from per-thread caches of 64-byte slabs.  Created
 *          by register before the fd enters epoll, removed by deregister
 *          after it left epoll, recycled after a grace period.  Ids come from a
 *          counter and are never reused, so a lookup by id never finds a
 *          newer registration.
 *  front   a direct-mapped array, slot = id & mask, of entry pointers in
 *          front of the lfht.  Ids are dense and the live ones recent, so
 *          most lookups read the slot and the entry's id (the tag) and stop:
 *          one line nobody writes on the re-arm path.  The lfht stays the
 *          authority: a slot that is empty or holds another id sends the
 *          lookup there.  An entry takes its slot when registered if the
 *          slot is free, or when the array grows, and leaves it when
 *          removed, before it is retired (see "front" below).
 *  waker   an atomic pointer to the waker to wake: NULL until the first
 *          set_waker; then the entry's inline slot or a 16-byte box from
 *          the thread's cache; never NULL again.  A replaced waker is
 *          dropped after a grace period, so a poller that loaded it may
 *          still call wake_by_ref on it.
 *  inline  the slot the first waker goes to (no allocation).  Its vtable
 *          is written once, before the pointer names the slot; its data is
 *          atomic.  While the pointer names the slot, a new waker of the
 *          same vtable (an executor's tasks share one) replaces only the
 *          data, by compare-and-swap: no box, nothing else written, the
 *          old data retired with its vtable.  A waker of another vtable
 *          goes to a box, and the pointer leaves the slot for good; the one
 *          setter whose exchange saw it leave closes the slot (exchanges
 *          its data for a marker and retires what it held), so a racing
 *          swap fails and takes the box path instead, and a reader that
 *          finds the marker reloads the pointer (it names the box by then).
 *          model/inline_slot.pml checks this, and that each of those steps
 *          is needed.
 *  ready   readiness bits of events that found no waker.
 *
 *  set_waker (any thread)           dispatch (poller, inside read-side)
 *    w = load(waker)                  w = load(waker)
 *    same waker? return: no write     present? wake it: no write, done
 *    xchg(waker, new)   [seq_cst]     fetch_or(ready, bits)   [seq_cst]
 *    load(ready)        [seq_cst]     w = load(waker)         [seq_cst]
 *    set? xchg(ready,0), wake new     present? xchg(ready,0), wake it
 *
 *  The two middle lines form a Dekker pair: with both sides sequentially
 *  consistent, at least one side sees the other's store, so an event that
 *  raced with the first set_waker is never lost; if both see each other,
 *  the xchg on ready lets exactly one of them wake.  Readiness is recorded
 *  only while the pointer is NULL, so only the first set_waker can race a
 *  recording; a swap of the inline slot's data (its compare-and-swap in the
 *  exchange's place) comes after the pointer named the slot, and checks
 *  ready all the same.
 *
 * Retirement.  Each thread retires what it unlinks (a replaced waker, a
 * removed entry) into blocks of its own (struct lfr__tls, one per thread
 * and table): a store into a block, no atomic instruction, no shared line.
 * A full block is closed with a cookie, the number of the first grace
 * period that will start after it (gp_started + 1, read after the unlinks),
 * and the maintainer is asked for that grace period.  The maintainer runs
 * grace periods (urcu_bp_synchronize_rcu) one at a time, at most one per
 * GP_MIN_INTERVAL_NS, and publishes gp_done; the thread that closed a block
 * drops and recycles its contents on a later call once gp_done has reached
 * its cookie, so boxes and entries return to the cache they came from and
 * the work of dropping is spread over the threads that made it.  A thread
 * with MAX_CLOSED_BLOCKS waiting waits for the grace period instead of
 * growing further (unless it is inside a read-side section, where waiting
 * would deadlock).
 *
 * Those drops run the wakers' drop functions inside the thread's later
 * set_waker, register and deregister calls (reactor.h says so).  On a
 * maintainer thread a call never waits for a grace period: only that
 * thread could end it.
 *
 * A thread that stops retiring would keep its last items forever; the
 * maintainer takes them.  An owner touches its blocks only inside a
 * read-side section, after tls_own().  The maintainer marks an idle
 * thread's state STEAL_REQUESTED, runs a grace period, and only then moves
 * it to STEAL_TAKING: every section that could have missed the request has
 * ended, and every later one sees it and either cancels it (the owner is
 * active again) or waits the few instructions the taking lasts.  Taken
 * items wait for one more grace period on the maintainer's own list (they
 * may have been unlinked during the first).  A thread that exits, or
 * forgets a table to make room in its cache of four tables, leaves its
 * state to the maintainer: it marks it orphan and never touches it again.
 * A state in use by a call still running on the thread (a waker or a drop
 * may call into other reactors) is never the one forgotten; if all four
 * are in use, the new one serves its call alone and is forgotten after.
 *
 * front, the other writer.  Only the maintainer grows the array, and only
 * the maintainer runs the grace periods that items wait for.  It puts the
 * live entries of the lfht in a new array, publishes it, then clears every
 * entry marked removed meanwhile (a remover clears the array it saw, which
 * may be the old one), all inside one read-side section and before its
 * next grace period starts.  A remover marks the entry removed (the mark
 * is also its claim: one remover per entry, before the fd leaves epoll),
 * then loads the current array and clears its slot; the maintainer stores
 * the slot, publishes, then checks the mark: one of the two sees the
 * other.  So no array that a reader starting after an item's grace period
 * can see still points to it.  Register sets an entry's slot before it
 * sets published, and deregister refuses (-ENOENT) an entry not yet
 * published, so no slot is ever written after its entry was retired.
 * model/front.pml checks this, and that dropping any of the three steps
 * breaks it.
 *
 * Everything a lookup returns is used inside the read-side section that
 * found it.
 */
#include "config.h"

#define _LGPL_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <urcu/config.h>

/* the pointer liburcu's inlined read-side code reads: see LFR__TLS.  Only
 * a native thread-local (CONFIG_RCU_TLS); otherwise liburcu reaches it
 * through a function and this name is not liburcu's at all.  Declared both
 * before liburcu's header and after it: clang takes a global's TLS model
 * from the declaration in force where the header's inline functions first
 * use it, gcc from the last declaration. */
#if defined(LFR_URCU_READER_IE) && defined(CONFIG_RCU_TLS)
#define LFR__URCU_READER_IE 1
struct urcu_bp_reader;
extern __thread struct urcu_bp_reader *urcu_bp_reader
	__attribute__((tls_model("initial-exec")));
#endif

#include <urcu/urcu-bp.h>
#include <urcu/rculfhash.h>

#ifdef LFR__URCU_READER_IE
extern __thread struct urcu_bp_reader *urcu_bp_reader
	__attribute__((tls_model("initial-exec")));
#endif

#include "internal.h"
#include "test_hooks.h"
#include "waker_table.h"


/* a block of retired items: 4 KiB */
#define BLOCK_ITEMS 254
/* closed blocks one thread may have waiting before it waits itself */
#define MAX_CLOSED_BLOCKS 256
/* free boxes and entries a thread keeps for reuse: as many boxes as may
 * wait for a grace period (they come back in one go, and every new waker
 * of the next window needs one) */
#define BOX_CACHE (MAX_CLOSED_BLOCKS * BLOCK_ITEMS)
#define ENTRY_CACHE 256
#define ENTRY_BATCH 64
/* a slab: one header line, then entries */
#define SLAB_BYTES 4096
#define SLAB_ENTRIES (SLAB_BYTES / LFR__CACHELINE - 1)

/* at most one grace period per 2 ms: the membarrier behind each one
 * interrupts every CPU running the process */
#define GP_MIN_INTERVAL_NS 2000000L
/* a thread that retired nothing for this long has its items taken */
#define STEAL_AFTER_MS 10

/* ThreadSanitizer cannot see what liburcu synchronises with (inline-asm
 * exchanges in cds_lfht, membarrier in synchronize_rcu).  In --enable-tsan
 * builds these annotations tell it: publishing an entry through the table
 * releases it and finding it acquires it; leaving a read-side section
 * releases a token that the grace period acquires, so what a reader did
 * happens before the free that waited for it.  They compile to nothing
 * otherwise. */
static char grace_token __attribute__((unused));

enum {
	ENTRY_INLINE_USED = 1u, /* the inline waker slot was claimed */
	ENTRY_REMOVED = 2u,     /* deleted from the lfht */
};

struct lfr__entry {
	struct cds_lfht_node node;
	lfr_id id;
	_Atomic(struct lfr_waker *) waker;
	/* vtable written once, before the waker pointer first names the
	 * slot; data replaced atomically (__atomic builtins) while it does */
	struct lfr_waker inline_waker;
	atomic_uint ready;
	atomic_uint state;
	int fd;
	atomic_bool published; /* register is done with its front slot */
};
_Static_assert(sizeof(struct lfr__entry) <= LFR__CACHELINE,
	       "an entry fits one cache line");

union box {
	struct lfr_waker waker;
	union box *next; /* in a free list */
};

/* A retired item: a box, an entry, or (for a replaced inline waker, whose
 * slot dies with its entry) a copy of the waker to drop. */
struct item {
	const void *tag; /* &tag_box, &tag_entry, or a waker's vtable */
	void *p;
};
static const char tag_box, tag_entry;
/* the data of an inline slot that was left for a box */
static const char inline_closed;

struct block {
	struct block *next;
	uint64_t cookie;
	unsigned n;
	struct item items[BLOCK_ITEMS];
};

struct slab {
	struct slab *next;
};

enum { STEAL_NONE, STEAL_REQUESTED, STEAL_TAKING };

/* One thread's part of one table.  The owner writes the counters (relaxed
 * stores: one writer) and, inside read-side sections after tls_own(), the
 * blocks; the maintainer reads the counters and takes the blocks only as
 * the header comment says. */
struct lfr__tls {
	struct lfr__tls *next;   /* the table's list, under table->lock */
	struct lfr__table *table;
	atomic_int refs;         /* the table's and the owning thread's */
	atomic_int steal;
	atomic_bool orphan;      /* the owner let go of it */
	atomic_bool dead;        /* its table was destroyed */
	unsigned depth;          /* owner's calls on the table now running */
	bool cached;             /* in one of the owner's tl_slots */
	atomic_ulong activity;   /* retirements so far */
	atomic_ulong pending;    /* items in open and closed blocks */
	atomic_ulong closed;     /* closed blocks */
	struct stripe *stripe;   /* the table's, where its inserts count */
	/* maintainer's: when it last saw activity change */
	unsigned long seen_activity;
	uint64_t seen_ns;
	/* blocks: see above */
	struct block *open;
	struct block *oldest, *newest;
	/* owner-only caches (the maintainer's once orphaned) */
	struct block *spare;
	unsigned nspare;
	union box *boxes;
	unsigned nboxes;
	struct lfr__entry *entries; /* linked through inline_waker.data */
	unsigned nentries;
};

/* Live entries: inserts minus removals, counted in the stripe each thread
 * state was given, so no line is written by every thread.  Summed when
 * read; exact while no insert or removal runs. */
#define STRIPES 16
struct stripe {
	alignas(LFR__CACHELINE) atomic_ulong inserted;
	atomic_ulong removed;
};

struct front {
	unsigned long mask;
	_Atomic(struct lfr__entry *) slot[];
};

struct lfr__table {
	struct cds_lfht *ht;
	_Atomic(struct front *) front;
	atomic_ulong front_slots;  /* its size, readable outside a section */
	unsigned long max_buckets, front_max;
	uint64_t gen;              /* unique per table: the threads' cache key */
	unsigned long min_buckets;
	atomic_ulong buckets;      /* written by the maintainer only */
	int kickfd;                /* eventfd: the maintainer sleeps on it */
	pthread_t maintainer;
	atomic_bool stopping;
	atomic_int fd_error;       /* first failure on kickfd: -errno */
	atomic_bool idle;          /* the maintainer sleeps in poll(kickfd) */
	atomic_bool resize_asked;  /* the live count may call for a resize */
	uint64_t last_gp_ns;       /* maintainer's */
	/* read by every retiring call, written once per grace period */
	alignas(LFR__CACHELINE) atomic_uint_fast64_t gp_started;
	atomic_uint_fast64_t gp_done;
	alignas(LFR__CACHELINE) atomic_uint_fast64_t gp_req;
	/* rare: thread states, the entry pool, slabs */
	alignas(LFR__CACHELINE) pthread_mutex_t lock;
	struct lfr__tls *tls_list;
	struct lfr__tls *maint;    /* the maintainer's: adopted and taken items */
	struct lfr__entry *pool;
	unsigned long npool;
	struct slab *slabs;
	unsigned next_stripe;      /* the next thread state's */
	struct stripe stripes[STRIPES];
};

/* the read-side section, inlined into this file's calls */
static LFR__INLINE void read_lock(void)
{
	urcu_bp_read_lock();
}

static LFR__INLINE void read_unlock(void)
{
	LFR__TSAN_RELEASE(&grace_token);
	urcu_bp_read_unlock();
}

void lfr__read_lock(void)
{
	read_lock();
}

void lfr__read_unlock(void)
{
	read_unlock();
}

bool lfr__read_ongoing(void)
{
	return urcu_bp_read_ongoing();
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* keeps the first failure */
static void kickfd_failed(struct lfr__table *t, int err)
{
	int none = 0;

	atomic_compare_exchange_strong(&t->fd_error, &none, err);
}

/* false if kickfd is gone: only a stray close() of it makes the write fail
 * (the counter is far from overflow) */
static bool kick(struct lfr__table *t)
{
	uint64_t one = 1;

	if (write(t->kickfd, &one, sizeof(one)) == sizeof(one))
		return true;
	kickfd_failed(t, -errno);
	return false;
}

int lfr__table_fd_error(struct lfr__table *t)
{
	return atomic_load_explicit(&t->fd_error, memory_order_relaxed);
}

/* wakes the maintainer if it sleeps; the caller's last store is ordered
 * before the exchange, pairing with the maintainer's store of idle before
 * it looks */
static void wake_maintainer(struct lfr__table *t)
{
	if (atomic_load(&t->idle) && atomic_exchange(&t->idle, false))
		kick(t);
}

/* ---- ids, front array, lookup ----------------------------------------- */

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

	LFR__TSAN_ACQUIRE(node); /* every candidate the table shows us */
	return e->id == *(const lfr_id *)key;
}

static bool removed(struct lfr__entry *e)
{
	return atomic_load_explicit(&e->state, memory_order_seq_cst) &
	       ENTRY_REMOVED;
}

static struct front *front_new(unsigned long slots)
{
	struct front *f = lfr__alloc(LFR__CACHELINE,
				     sizeof(*f) + slots * sizeof(f->slot[0]));

	if (f) {
		memset(f, 0, sizeof(*f) + slots * sizeof(f->slot[0]));
		f->mask = slots - 1;
	}
	return f;
}

/* id's slot in the current array, which is loaded with order: acquire for
 * lookups, seq_cst after a removal mark (pairing with front_grow's
 * publish-then-check) */
static _Atomic(struct lfr__entry *) *front_slot(struct lfr__table *t,
						 lfr_id id,
						 memory_order order)
{
	struct front *f = atomic_load_explicit(&t->front, order);

	return &f->slot[id & f->mask];
}

/* read-side: the lfht's answer, where the front array had none */
static __attribute__((noinline)) struct lfr__entry *
lookup_table(struct lfr__table *t, lfr_id id)
{
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;

	cds_lfht_lookup(t->ht, hash_id(id), match_id, &id, &iter);
	node = cds_lfht_iter_get_node(&iter);
	return node ? caa_container_of(node, struct lfr__entry, node) : NULL;
}

/* read-side */
static LFR__INLINE struct lfr__entry *lookup(struct lfr__table *t, lfr_id id)
{
	_Atomic(struct lfr__entry *) *slot =
		front_slot(t, id, memory_order_acquire);
	struct lfr__entry *e = atomic_load_explicit(slot, memory_order_acquire);

	if (e && e->id == id &&
	    !(atomic_load_explicit(&e->state, memory_order_acquire) &
	      ENTRY_REMOVED))
		return e;
	return lookup_table(t, id);
}

/* read-side: e's slot, if nobody holds it.  Racing writers of the slot
 * may overwrite each other (no atomic instruction here): that only sends
 * the loser's lookups to the lfht, since removers clear with a CAS. */
static void front_claim(struct lfr__table *t, struct lfr__entry *e)
{
	_Atomic(struct lfr__entry *) *slot =
		front_slot(t, e->id, memory_order_acquire);

	if (!atomic_load_explicit(slot, memory_order_relaxed))
		atomic_store_explicit(slot, e, memory_order_release);
}

/* read-side: after e was marked removed */
static void front_clear(struct lfr__table *t, struct lfr__entry *e)
{
	struct lfr__entry *expected = e;

	atomic_compare_exchange_strong(front_slot(t, e->id, memory_order_seq_cst),
				       &expected, NULL);
}

/* maintainer only: see "front, the other writer" */
static int front_grow(struct lfr__table *t, unsigned long slots)
{
	struct front *nf = front_new(slots), *of;
	struct cds_lfht_iter iter;
	struct lfr__entry *e;
	unsigned long i;

	if (!nf)
		return -ENOMEM;
	read_lock();
	of = atomic_load(&t->front);
	/* every live entry, also those that found their slot taken in the
	 * smaller array; one registered meanwhile may be missed (its
	 * lookups go to the lfht) */
	cds_lfht_for_each_entry(t->ht, &iter, e, node) {
		struct lfr__entry *expected = NULL;

		LFR__TSAN_ACQUIRE(&e->node);
		if (!removed(e))
			atomic_compare_exchange_strong(
				&nf->slot[e->id & nf->mask], &expected, e);
	}
	atomic_store(&t->front, nf);
	atomic_store_explicit(&t->front_slots, slots, memory_order_relaxed);
	for (i = 0; i <= nf->mask; i++) {
		e = atomic_load(&nf->slot[i]);
		if (e && removed(e))
			atomic_compare_exchange_strong(&nf->slot[i], &e, NULL);
	}
	read_unlock();
	urcu_bp_synchronize_rcu();
	LFR__TSAN_ACQUIRE(&grace_token);
	free(of);
	return 0;
}

/* ---- per-thread state -------------------------------------------------- */

#define TL_SLOTS 4
struct tl_slot {
	uint64_t gen;
	struct lfr__tls *tls;
};
static LFR__TLS struct tl_slot tl_slots[TL_SLOTS];
static LFR__TLS unsigned tl_victim;
static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;
static int tl_key_err;
static atomic_uint_fast64_t next_gen = 1;

static void tls_unref(struct lfr__tls *tls)
{
	if (atomic_fetch_sub(&tls->refs, 1) == 1)
		free(tls);
}

/* the owner lets go: the maintainer adopts what is left */
static void tls_forget(struct lfr__tls *tls)
{
	atomic_store(&tls->orphan, true);
	tls_unref(tls);
}

/* set on the maintainer threads: a waker dropped there may call in, and
 * must never wait for a grace period only that thread can run */
static LFR__TLS bool tl_maintainer;

static void tl_exit(void *arg)
{
	unsigned i;

	(void)arg;
	for (i = 0; i < TL_SLOTS; i++) {
		if (tl_slots[i].gen)
			tls_forget(tl_slots[i].tls);
		tl_slots[i].gen = 0;
	}
}

static void tl_make_key(void)
{
	tl_key_err = pthread_key_create(&tl_key, tl_exit);
}

static struct block *block_new(void)
{
	return lfr__alloc(alignof(struct block), sizeof(struct block));
}

/* A slot to (re)use: one whose table is gone, else one not in use by a
 * call running on this thread (a waker or a drop may call into other
 * reactors from inside a call), round robin; NULL if all four are busy. */
static struct tl_slot *tl_victim_slot(void)
{
	unsigned i;

	for (i = 0; i < TL_SLOTS; i++)
		if (!tl_slots[i].gen || atomic_load(&tl_slots[i].tls->dead))
			return &tl_slots[i];
	for (i = 0; i < TL_SLOTS; i++) {
		struct tl_slot *slot = &tl_slots[tl_victim++ % TL_SLOTS];

		if (!slot->tls->depth)
			return slot;
	}
	return NULL;
}

static struct lfr__tls *tls_attach(struct lfr__table *t)
{
	struct lfr__tls *tls;
	struct tl_slot *slot;

	pthread_once(&tl_once, tl_make_key);
	if (tl_key_err)
		return NULL;
	tls = lfr__alloc(LFR__CACHELINE, sizeof(*tls));
	if (!tls)
		return NULL;
	memset(tls, 0, sizeof(*tls));
	tls->table = t;
	atomic_init(&tls->refs, 2);
	tls->spare = block_new();
	if (!tls->spare || pthread_setspecific(tl_key, tl_slots) != 0) {
		free(tls->spare);
		free(tls);
		return NULL;
	}
	tls->spare->next = NULL;
	tls->nspare = 1;
	pthread_mutex_lock(&t->lock);
	tls->next = t->tls_list;
	t->tls_list = tls;
	tls->stripe = &t->stripes[t->next_stripe++ % STRIPES];
	pthread_mutex_unlock(&t->lock);
	slot = tl_victim_slot();
	if (slot) {
		if (slot->gen)
			tls_forget(slot->tls);
		slot->gen = t->gen;
		slot->tls = tls;
		tls->cached = true;
	}
	return tls;
}

/* this thread's state on t, for one call: pair with tls_leave() */
static LFR__INLINE struct lfr__tls *tls_enter(struct lfr__table *t)
{
	struct lfr__tls *tls = NULL;
	unsigned i;

	for (i = 0; i < TL_SLOTS; i++)
		if (tl_slots[i].gen == t->gen) {
			tls = tl_slots[i].tls;
			break;
		}
	if (!tls)
		tls = tls_attach(t);
	if (tls)
		tls->depth++;
	return tls;
}

static LFR__INLINE void tls_leave(struct lfr__tls *tls)
{
	/* a state no slot could hold served this call only */
	if (--tls->depth == 0 && !tls->cached)
		tls_forget(tls);
}

/* read-side: before the owner touches its blocks */
static LFR__INLINE void tls_own(struct lfr__tls *tls)
{
	int s = atomic_load_explicit(&tls->steal, memory_order_acquire);

	while (s != STEAL_NONE) {
		if (s == STEAL_REQUESTED) {
			/* active again: cancel */
			if (atomic_compare_exchange_weak(&tls->steal, &s,
							 STEAL_NONE))
				return;
		} else {
			/* the maintainer is moving a few pointers; it waits
			 * for nothing meanwhile */
			sched_yield();
			s = atomic_load_explicit(&tls->steal,
						 memory_order_acquire);
		}
	}
}

static void set_counter(atomic_ulong *c, unsigned long v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

static unsigned long counter(atomic_ulong *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* read-side, owned: a retirement will find room (a spare block always
 * exists, whatever the maintainer takes) */
static LFR__INLINE int reserve(struct lfr__tls *tls)
{
	if (tls->spare)
		return 0;
	tls->spare = block_new();
	if (!tls->spare)
		return -ENOMEM;
	tls->spare->next = NULL;
	tls->nspare = 1;
	return 0;
}

static void request_gp(struct lfr__table *t, uint64_t cookie)
{
	uint_fast64_t cur = atomic_load(&t->gp_req);

	while (cur < cookie &&
	       !atomic_compare_exchange_weak(&t->gp_req, &cur, cookie))
		;
	wake_maintainer(t);
}

static void append_closed(struct lfr__tls *tls, struct block *b)
{
	b->next = NULL;
	if (tls->newest)
		tls->newest->next = b;
	else
		tls->oldest = b;
	tls->newest = b;
}

/* read-side, owned, after reserve(): retire {tag, p}, unlinked by this
 * thread with a seq_cst operation */
static LFR__INLINE void retire(struct lfr__table *t, struct lfr__tls *tls,
			       const void *tag, void *p)
{
	struct block *b = tls->open;
	unsigned long pending = counter(&tls->pending);

	if (!b || b->n == BLOCK_ITEMS) {
		if (b) {
			/* read after every unlink in b: grace period cookie
			 * starts after them all */
			b->cookie = atomic_load(&t->gp_started) + 1;
			append_closed(tls, b);
			set_counter(&tls->closed, counter(&tls->closed) + 1);
			request_gp(t, b->cookie);
		}
		b = tls->spare;
		tls->spare = b->next;
		tls->nspare--;
		b->n = 0;
		tls->open = b;
	}
	b->items[b->n].tag = tag;
	b->items[b->n].p = p;
	b->n++;
	set_counter(&tls->activity, counter(&tls->activity) + 1);
	set_counter(&tls->pending, pending + 1);
	if (pending == 0) {
		/* a sleeping maintainer must come back to take these if this
		 * thread goes quiet */
		atomic_thread_fence(memory_order_seq_cst);
		wake_maintainer(t);
	}
}

/* read-side, owned: the closed blocks whose grace period has ended */
static LFR__INLINE struct block *take_done(struct lfr__table *t,
					  struct lfr__tls *tls)
{
	struct block *head = tls->oldest, *last = NULL, *b;
	unsigned long items = 0, blocks = 0;
	uint64_t done;

	if (!head)
		return NULL;
	done = atomic_load_explicit(&t->gp_done, memory_order_acquire);
	for (b = head; b && b->cookie <= done; b = b->next) {
		last = b;
		items += b->n;
		blocks++;
	}
	if (!last)
		return NULL;
	tls->oldest = last->next;
	if (!tls->oldest)
		tls->newest = NULL;
	last->next = NULL;
	set_counter(&tls->pending, counter(&tls->pending) - items);
	set_counter(&tls->closed, counter(&tls->closed) - blocks);
	return head;
}

static void box_put(struct lfr__tls *tls, union box *b)
{
	if (tls->nboxes >= BOX_CACHE) {
		free(b);
		return;
	}
	b->next = tls->boxes;
	tls->boxes = b;
	tls->nboxes++;
}

static union box *box_get(struct lfr__tls *tls)
{
	union box *b = tls->boxes;

	if (!b)
		return lfr__alloc(alignof(union box), sizeof(union box));
	tls->boxes = b->next;
	tls->nboxes--;
	return b;
}

/* the inline slot's data, while the waker pointer names the slot */
static void *inline_data(struct lfr__entry *e, int order)
{
	return __atomic_load_n(&e->inline_waker.data, order);
}

static struct lfr__entry *entry_next(struct lfr__entry *e)
{
	return e->inline_waker.data;
}

/* moves up to n entries from *from (a list) to *to; returns how many */
static unsigned long move_entries(struct lfr__entry **from,
				  struct lfr__entry **to, unsigned long n)
{
	unsigned long moved = 0;

	while (moved < n && *from) {
		struct lfr__entry *e = *from;

		*from = entry_next(e);
		e->inline_waker.data = *to;
		*to = e;
		moved++;
	}
	return moved;
}

static void entry_put(struct lfr__tls *tls, struct lfr__entry *e)
{
	struct lfr__table *t = tls->table;

	e->inline_waker.data = tls->entries;
	tls->entries = e;
	if (++tls->nentries <= ENTRY_CACHE)
		return;
	pthread_mutex_lock(&t->lock);
	t->npool += move_entries(&tls->entries, &t->pool, ENTRY_BATCH);
	pthread_mutex_unlock(&t->lock);
	tls->nentries -= ENTRY_BATCH;
}

static struct lfr__entry *entry_get(struct lfr__tls *tls)
{
	struct lfr__table *t = tls->table;
	struct lfr__entry *e;
	unsigned long moved;

	if (!tls->entries) {
		pthread_mutex_lock(&t->lock);
		if (!t->pool) {
			struct slab *s = lfr__alloc(LFR__CACHELINE, SLAB_BYTES);
			unsigned i;

			if (!s) {
				pthread_mutex_unlock(&t->lock);
				return NULL;
			}
			s->next = t->slabs;
			t->slabs = s;
			for (i = 0; i < SLAB_ENTRIES; i++) {
				e = (struct lfr__entry *)((char *)s +
					LFR__CACHELINE * (i + 1));
				e->inline_waker.data = t->pool;
				t->pool = e;
			}
			t->npool += SLAB_ENTRIES;
		}
		moved = move_entries(&t->pool, &tls->entries, ENTRY_BATCH);
		tls->nentries += moved;
		t->npool -= moved;
		pthread_mutex_unlock(&t->lock);
	}
	e = tls->entries;
	tls->entries = entry_next(e);
	tls->nentries--;
	return e;
}

/* drop what an item holds and recycle its memory into tls's caches; user
 * code (the waker's drop) runs last, after this thread's state is whole */
static LFR__INLINE void drop_item(struct lfr__tls *tls,
				  const struct item *it)
{
	struct lfr_waker w = { NULL, NULL };

	if (it->tag == &tag_box) {
		union box *b = it->p;

		w = b->waker;
		box_put(tls, b);
	} else if (it->tag == &tag_entry) {
		struct lfr__entry *e = it->p;
		struct lfr_waker *cur = atomic_load_explicit(
			&e->waker, memory_order_relaxed);

		/* the slot a box replaced was closed and retired then */
		if (cur == &e->inline_waker) {
			w.vtable = cur->vtable;
			w.data = inline_data(e, __ATOMIC_RELAXED);
		} else if (cur) {
			w = *cur;
			box_put(tls, (union box *)cur);
		}
		entry_put(tls, e);
	} else {
		w.vtable = it->tag;
		w.data = it->p;
	}
	/* lfr_waker_drop's work, without its call (a block drops 254) */
	if (w.vtable && w.vtable->drop)
		w.vtable->drop(w.data);
}

/* drops every item of a list of blocks; keeps one spare block */
static void drop_blocks(struct lfr__tls *tls, struct block *b)
{
	while (b) {
		struct block *next = b->next;
		unsigned i;

		for (i = 0; i < b->n; i++)
			drop_item(tls, &b->items[i]);
		if (tls->nspare < 2) {
			b->next = tls->spare;
			tls->spare = b;
			tls->nspare++;
		} else {
			free(b);
		}
		b = next;
	}
}

/* outside any read-side section; after a call that retired: drop what has
 * waited out its grace period, or wait for it when too much waits */
static __attribute__((noinline)) void
settle_slow(struct lfr__table *t, struct lfr__tls *tls, struct block *done)
{
	uint64_t cookie = 0;

	if (done)
		drop_blocks(tls, done);
	if (counter(&tls->closed) < MAX_CLOSED_BLOCKS || urcu_bp_read_ongoing() ||
	    tl_maintainer)
		return;
	/* back-pressure: the oldest block's cookie, read while owning */
	read_lock();
	tls_own(tls);
	if (tls->oldest)
		cookie = tls->oldest->cookie;
	read_unlock();
	if (!cookie)
		return;
	request_gp(t, cookie);
	while (atomic_load_explicit(&t->gp_done, memory_order_acquire) < cookie) {
		struct timespec ts = { 0, 100000 };

		nanosleep(&ts, NULL);
	}
	read_lock();
	tls_own(tls);
	done = take_done(t, tls);
	read_unlock();
	drop_blocks(tls, done);
}

/* the same, out of line only when there is something to do */
static LFR__INLINE void settle(struct lfr__table *t, struct lfr__tls *tls,
			       struct block *done)
{
	if (__builtin_expect(done != NULL, 0) ||
	    __builtin_expect(counter(&tls->closed) >= MAX_CLOSED_BLOCKS, 0))
		settle_slow(t, tls, done);
}

/* ---- the maintainer ---------------------------------------------------- */

/* maintainer only, outside read-side sections */
static void run_gp(struct lfr__table *t)
{
	uint64_t now = mono_ns(), n;

	if (now - t->last_gp_ns < GP_MIN_INTERVAL_NS) {
		struct timespec ts = {
			0, (long)(GP_MIN_INTERVAL_NS - (now - t->last_gp_ns))
		};

		nanosleep(&ts, NULL);
	}
	t->last_gp_ns = mono_ns();
	n = atomic_load(&t->gp_started) + 1;
	atomic_store(&t->gp_started, n);
	urcu_bp_synchronize_rcu();
	LFR__TSAN_ACQUIRE(&grace_token);
	atomic_store_explicit(&t->gp_done, n, memory_order_release);
}

/* maintainer only: append blocks to its own list, to wait for the next
 * grace period */
static void maint_adopt(struct lfr__table *t, struct block *b)
{
	uint64_t cookie = atomic_load(&t->gp_started) + 1;

	while (b) {
		struct block *next = b->next;

		b->cookie = cookie;
		append_closed(t->maint, b);
		/* the counts take_done() will subtract */
		set_counter(&t->maint->pending,
			    counter(&t->maint->pending) + b->n);
		set_counter(&t->maint->closed, counter(&t->maint->closed) + 1);
		b = next;
	}
}

/* under t->lock: the blocks of tls, which nobody else touches now */
static struct block *tls_take_blocks(struct lfr__tls *tls)
{
	struct block *head = tls->oldest;

	if (tls->open && tls->open->n) {
		tls->open->next = head;
		head = tls->open;
		tls->open = NULL;
	}
	tls->oldest = tls->newest = NULL;
	set_counter(&tls->pending, 0);
	set_counter(&tls->closed, 0);
	return head;
}

/* frees what a tls holds besides its blocks (after they were taken) */
static void tls_release_caches(struct lfr__tls *tls)
{
	struct lfr__table *t = tls->table;
	struct block *b;

	while (tls->boxes) {
		union box *bx = tls->boxes;

		tls->boxes = bx->next;
		free(bx);
	}
	tls->nboxes = 0;
	t->npool += move_entries(&tls->entries, &t->pool, ~0UL);
	tls->nentries = 0;
	while ((b = tls->spare)) {
		tls->spare = b->next;
		free(b);
	}
	free(tls->open);
	tls->open = NULL;
	tls->nspare = 0;
}

/* One pass over the thread states: adopt orphans, ask idle ones for their
 * items.  Returns how many were asked; *busy is set when some thread has
 * items waiting that it may still drop itself. */
static unsigned scan_threads(struct lfr__table *t, uint64_t now, bool ask,
			     bool *busy)
{
	struct lfr__tls **pp, *tls;
	unsigned asked = 0;

	*busy = false;
	pthread_mutex_lock(&t->lock);
	for (pp = &t->tls_list; (tls = *pp);) {
		if (atomic_load(&tls->orphan)) {
			*pp = tls->next;
			maint_adopt(t, tls_take_blocks(tls));
			tls_release_caches(tls);
			tls_unref(tls);
			continue;
		}
		pp = &tls->next;
		if (!counter(&tls->pending))
			continue;
		*busy = true;
		if (counter(&tls->activity) != tls->seen_activity) {
			tls->seen_activity = counter(&tls->activity);
			tls->seen_ns = now;
		} else if (ask &&
			   now - tls->seen_ns >= STEAL_AFTER_MS * 1000000ull &&
			   atomic_load(&tls->steal) == STEAL_NONE) {
			atomic_store(&tls->steal, STEAL_REQUESTED);
			asked++;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return asked;
}

/* after a grace period that followed the requests */
static void take_requested(struct lfr__table *t)
{
	struct lfr__tls *tls;

	pthread_mutex_lock(&t->lock);
	for (tls = t->tls_list; tls; tls = tls->next) {
		int s = STEAL_REQUESTED;

		if (!atomic_compare_exchange_strong(&tls->steal, &s,
						    STEAL_TAKING))
			continue;
		maint_adopt(t, tls_take_blocks(tls));
		atomic_store_explicit(&tls->steal, STEAL_NONE,
				      memory_order_release);
	}
	pthread_mutex_unlock(&t->lock);
}

static void resize_to_fit(struct lfr__table *t);

/* how often a maintainer whose kickfd was closed behind its back looks
 * for work, as nobody can wake it */
#define KICK_LOST_POLL_MS 10
/* the longest an idle maintainer sleeps: kickfd closed behind its back
 * while it sleeps in poll() leaves no write that can reach that poll, so
 * it must look at stopping by itself (a wake-up a second costs an idle
 * reactor nothing measurable; no thread cancellation, which ASan and
 * liburcu's locks make unsafe) */
#define IDLE_POLL_MAX_MS 1000

static void *maintainer_main(void *arg)
{
	struct lfr__table *t = arg;
	struct lfr__tls *m = t->maint;
	bool busy = false, kick_lost = false;

	tl_maintainer = true;
	for (;;) {
		struct pollfd pfd = { .fd = t->kickfd, .events = POLLIN };
		unsigned asked;
		uint64_t v;
		int timeout = -1;

		/* announce sleep, then look: a thread that asked before our
		 * look is seen by it; one after it sees idle and kicks */
		atomic_store(&t->idle, true);
		atomic_thread_fence(memory_order_seq_cst);
		if (atomic_load(&t->stopping) || atomic_load(&t->resize_asked) ||
		    atomic_load(&t->gp_req) > atomic_load(&t->gp_done) ||
		    m->oldest)
			timeout = 0;
		else if (busy)
			timeout = STEAL_AFTER_MS;
		else
			scan_threads(t, mono_ns(), false, &busy);
		if (m->oldest) /* the scan may have adopted an orphan's */
			timeout = 0;
		else if (busy && timeout < 0)
			timeout = STEAL_AFTER_MS;
		if (timeout != 0) {
			int n;

			if (kick_lost &&
			    (timeout < 0 || timeout > KICK_LOST_POLL_MS))
				timeout = KICK_LOST_POLL_MS;
			else if (timeout < 0)
				timeout = IDLE_POLL_MAX_MS;
			n = kick_lost ? poll(NULL, 0, timeout)
				      : poll(&pfd, 1, timeout);
			if (n > 0 && (pfd.revents & POLLNVAL)) {
				/* kickfd was closed: sleep by the clock */
				kickfd_failed(t, -EBADF);
				kick_lost = true;
				continue;
			}
			if (n > 0 && read(t->kickfd, &v, sizeof(v)) < 0)
				continue; /* EINTR or EAGAIN: look again */
		}
		atomic_store(&t->idle, false);
		if (atomic_load_explicit(&t->stopping, memory_order_acquire))
			return NULL;
		if (atomic_exchange(&t->resize_asked, false))
			resize_to_fit(t);
		asked = scan_threads(t, mono_ns(), true, &busy);
		if (asked || m->oldest ||
		    atomic_load(&t->gp_req) > atomic_load(&t->gp_done)) {
			run_gp(t);
			take_requested(t);
		}
		drop_blocks(m, take_done(t, m));
	}
}

/* ---- table life -------------------------------------------------------- */

/* liburcu reserves the lfht's largest bucket array up front (mmap) and
 * aborts when it cannot: try the same reservation first, so that a process
 * short of address space gets -ENOMEM instead */
static bool can_reserve(unsigned long buckets)
{
	size_t len = buckets * sizeof(struct cds_lfht_node);
	void *p = mmap(NULL, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return false;
	munmap(p, len);
	return true;
}

unsigned long lfr__table_max_buckets(unsigned long max_registrations)
{
	unsigned long n = 1;

	while (n < max_registrations / 2)
		n <<= 1;
	return n;
}

int lfr__table_new(unsigned long initial_buckets,
		   unsigned long max_registrations, pthread_attr_t *attr,
		   struct lfr__table **out)
{
	struct lfr__table *t = lfr__alloc(alignof(struct lfr__table), sizeof(*t));
	unsigned long size = 1;
	int ret = -ENOMEM;

	if (!t)
		return -ENOMEM;
	memset(t, 0, sizeof(*t));
	t->max_buckets = lfr__table_max_buckets(max_registrations);
	while (size < initial_buckets && size < t->max_buckets)
		size <<= 1;
	t->min_buckets = size;
	t->front_max = 2 * t->max_buckets;
	t->gen = atomic_fetch_add(&next_gen, 1);
	atomic_init(&t->buckets, size);
	pthread_mutex_init(&t->lock, NULL);
	t->kickfd = -1;
	t->front = front_new(size);
	if (!t->front)
		goto fail;
	atomic_init(&t->front_slots, size);
	t->maint = lfr__alloc(LFR__CACHELINE, sizeof(*t->maint));
	if (!t->maint)
		goto fail;
	memset(t->maint, 0, sizeof(*t->maint));
	t->maint->table = t;
	atomic_init(&t->maint->refs, 1);
	t->kickfd = lfr__eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->kickfd < 0) {
		ret = -errno;
		goto fail;
	}
	/* No CDS_LFHT_AUTO_RESIZE: in liburcu 0.13 it starts a resize worker
	 * that unblocks SIGUSR1 for itself.  The maintainer resizes instead.
	 * attr (signals blocked) also serves the table's resize helpers. */
	if (!can_reserve(t->max_buckets))
		goto fail;
	t->ht = cds_lfht_new_flavor(size, size, t->max_buckets, 0,
				    &urcu_bp_flavor, attr);
	if (!t->ht)
		goto fail;
	ret = -lfr__pthread_create(&t->maintainer, attr, maintainer_main, t);
	if (ret) {
		cds_lfht_destroy(t->ht, NULL);
		goto fail;
	}
	pthread_setname_np(t->maintainer, "lfr-maint");
	*out = t;
	return 0;
fail:
	if (t->kickfd >= 0)
		close(t->kickfd);
	free(t->maint);
	free(t->front);
	pthread_mutex_destroy(&t->lock);
	free(t);
	return ret;
}

static void drain(struct lfr__table *t);

int lfr__table_destroy(struct lfr__table *t)
{
	struct lfr__tls *tls;
	struct slab *s;
	unsigned i;
	int ret;

	atomic_store(&t->stopping, true);
	/* if kickfd is gone the maintainer sees stopping within
	 * IDLE_POLL_MAX_MS */
	kick(t);
	pthread_join(t->maintainer, NULL);
	drain(t);
	/* no caller and no poller is left: one grace period covers every
	 * reader there ever was */
	urcu_bp_synchronize_rcu();
	LFR__TSAN_ACQUIRE(&grace_token);
	/* this thread's slot: the state would outlive the table otherwise
	 * (exit() runs no thread-exit destructor on the main thread) */
	for (i = 0; i < TL_SLOTS; i++)
		if (tl_slots[i].gen == t->gen) {
			tl_slots[i].gen = 0;
			tls_unref(tl_slots[i].tls);
		}
	/* the other threads' states: they make no call on this table any
	 * more, and a thread's exit only flips orphan and drops a reference */
	while ((tls = t->tls_list)) {
		t->tls_list = tls->next;
		atomic_store(&tls->dead, true);
		drop_blocks(t->maint, tls_take_blocks(tls));
		tls_release_caches(tls);
		tls_unref(tls);
	}
	drop_blocks(t->maint, tls_take_blocks(t->maint));
	tls_release_caches(t->maint);
	free(t->maint);
	while ((s = t->slabs)) {
		t->slabs = s->next;
		free(s);
	}
	ret = cds_lfht_destroy(t->ht, NULL);
	free(atomic_load(&t->front));
	if (!atomic_load(&t->fd_error)) /* else not ours any more */
		close(t->kickfd);
	pthread_mutex_destroy(&t->lock);
	free(t);
	return ret;
}

unsigned long lfr__table_buckets(struct lfr__table *t)
{
	return atomic_load_explicit(&t->buckets, memory_order_relaxed);
}

unsigned long lfr__table_live(struct lfr__table *t)
{
	unsigned long in = 0, out = 0;
	unsigned i;

	for (i = 0; i < STRIPES; i++) {
		in += counter(&t->stripes[i].inserted);
		out += counter(&t->stripes[i].removed);
	}
	/* while calls run, a removal may be summed before its insert */
	return in > out ? in - out : 0;
}

/* Aim for 1 to 2 entries per bucket; shrink only below 1/8 so a table at a
 * boundary does not flap.  The front array grows with it, never shrinks. */
static bool wants_resize(struct lfr__table *t, unsigned long live)
{
	unsigned long size = lfr__table_buckets(t);
	unsigned long slots = atomic_load_explicit(&t->front_slots,
						   memory_order_relaxed);

	return (live > 2 * size && size < t->max_buckets) ||
	       (live < size / 8 && size > t->min_buckets) ||
	       (live > slots && slots < t->front_max);
}

/* maintainer only */
static void resize_to_fit(struct lfr__table *t)
{
	unsigned long live = lfr__table_live(t);
	unsigned long target = t->min_buckets, slots, have;

	if (!wants_resize(t, live))
		return;
	have = atomic_load_explicit(&t->front_slots, memory_order_relaxed);
	for (slots = have; slots < live && slots < t->front_max;)
		slots <<= 1;
	/* a failed allocation leaves the old array: lookups miss more */
	if (slots > have)
		front_grow(t, slots);
	while (target < live && target < t->max_buckets)
		target <<= 1;
	if (target == lfr__table_buckets(t))
		return;
	/* waits for grace periods: only ever on the maintainer */
	cds_lfht_resize(t->ht, target);
	atomic_store_explicit(&t->buckets, target, memory_order_relaxed);
}

/* An insert or removal counts itself in its thread's stripe; every
 * RESIZE_CHECK_EVERY-th count of a stripe looks at the live count and, if
 * the size no longer fits it, asks the maintainer to resize (never waits) */
#define RESIZE_CHECK_EVERY 64
static void count(struct lfr__table *t, atomic_ulong *c)
{
	unsigned long n = atomic_fetch_add_explicit(c, 1,
						    memory_order_relaxed) + 1;

	if (n % RESIZE_CHECK_EVERY || !wants_resize(t, lfr__table_live(t)))
		return;
	if (!atomic_exchange(&t->resize_asked, true))
		wake_maintainer(t);
}

/* ---- the calls --------------------------------------------------------- */

int lfr__table_insert(struct lfr__table *t, lfr_id id, int fd)
{
	struct lfr__tls *tls = tls_enter(t);
	struct lfr__entry *e;
	struct cds_lfht_node *got;
	struct block *done = NULL;
	int ret = 0;

	if (!tls)
		return -ENOMEM;
	read_lock();
	tls_own(tls);
	/* the rollback of a failed register retires this entry: room first */
	if (reserve(tls) || !(e = entry_get(tls))) {
		ret = -ENOMEM;
		goto out;
	}
	done = take_done(t, tls);
	cds_lfht_node_init(&e->node);
	e->id = id;
	e->fd = fd;
	e->inline_waker.vtable = NULL;
	e->inline_waker.data = NULL;
	atomic_init(&e->waker, NULL);
	atomic_init(&e->ready, 0);
	atomic_init(&e->state, 0);
	atomic_init(&e->published, false);

	/* add_unique issues full barriers around its commit: the entry is
	 * published before the caller's epoll_ctl(ADD). */
	LFR__TSAN_RELEASE(&e->node);
	got = cds_lfht_add_unique(t->ht, hash_id(id), match_id, &id, &e->node);
	if (got != &e->node) {
		/* never visible: straight back to the cache */
		entry_put(tls, e);
		ret = -EEXIST;
		goto out;
	}
	/* a slot held by a live registration stays with it: long-lived
	 * registrations keep their fast path under churn */
	front_claim(t, e);
	atomic_store_explicit(&e->published, true, memory_order_release);
out:
	read_unlock();
	if (!ret)
		count(t, &tls->stripe->inserted);
	settle(t, tls, done);
	tls_leave(tls);
	return ret;
}

int lfr__table_find(struct lfr__table *t, lfr_id id, struct lfr__removal *rm)
{
	struct lfr__tls *tls = tls_enter(t);
	struct lfr__entry *e;
	int ret = 0;

	if (!tls)
		return -ENOMEM;
	read_lock();
	tls_own(tls);
	e = lookup(t, id);
	/* a registration still in progress is not there yet */
	if (!e || !atomic_load_explicit(&e->published, memory_order_acquire))
		ret = -ENOENT;
	else
		ret = reserve(tls); /* the unlink's retirement finds room */
	if (ret) {
		read_unlock();
		tls_leave(tls);
		return ret;
	}
	rm->tls = tls;
	rm->entry = e;
	rm->fd = e->fd;
	return 0;
}

bool lfr__table_claim(struct lfr__removal *rm)
{
	return !(atomic_fetch_or(&rm->entry->state, ENTRY_REMOVED) &
		 ENTRY_REMOVED);
}

void lfr__table_unlink(struct lfr__table *t, struct lfr__removal *rm)
{
	struct lfr__entry *e = rm->entry;

	cds_lfht_del(t->ht, &e->node); /* the claim makes it ours to del */
	front_clear(t, e);
	retire(t, rm->tls, &tag_entry, e);
	count(t, &rm->tls->stripe->removed);
}

void lfr__table_finish(struct lfr__table *t, struct lfr__removal *rm)
{
	struct block *done = take_done(t, rm->tls);

	read_unlock();
	settle(t, rm->tls, done);
	tls_leave(rm->tls);
}

int lfr__table_remove(struct lfr__table *t, lfr_id id)
{
	struct lfr__removal rm;
	int ret = lfr__table_find(t, id, &rm);

	if (ret)
		return ret;
	if (lfr__table_claim(&rm))
		lfr__table_unlink(t, &rm);
	else
		ret = -ENOENT; /* another remover has it */
	lfr__table_finish(t, &rm);
	return ret;
}

/* destroy only, with the maintainer stopped and no poller or caller left:
 * an entry can be dropped as soon as it is out (its memory is a slab's,
 * freed with the table).  Wakers are dropped outside read-side sections,
 * a batch at a time. */
static void drain(struct lfr__table *t)
{
	struct cds_lfht_iter iter;
	struct lfr__entry *e, *batch[64];
	unsigned n, i;

	do {
		n = 0;
		read_lock();
		cds_lfht_for_each_entry(t->ht, &iter, e, node) {
			LFR__TSAN_ACQUIRE(&e->node);
			atomic_fetch_or(&e->state, ENTRY_REMOVED);
			cds_lfht_del(t->ht, &e->node);
			front_clear(t, e);
			batch[n++] = e;
			if (n == 64)
				break;
		}
		read_unlock();
		for (i = 0; i < n; i++) {
			struct item it = { &tag_entry, batch[i] };

			drop_item(t->maint, &it);
		}
	} while (n);
}

/* read-side: hand recorded readiness to w, once */
static bool consume_ready(struct lfr__entry *e, const struct lfr_waker *w)
{
	if (atomic_exchange_explicit(&e->ready, 0, memory_order_seq_cst) == 0)
		return false;
	w->vtable->wake_by_ref(w->data);
	return true;
}

/* read-side: a copy of the waker e names now; false while it has none.
 * The pointer is loaded with order.  A slot read as closed was left for a
 * box before it was closed, so the reload finds the box. */
static bool current_waker(struct lfr__entry *e, struct lfr_waker *out,
			  memory_order order)
{
	for (;;) {
		struct lfr_waker *w = atomic_load_explicit(&e->waker, order);

		if (!w)
			return false;
		if (w != &e->inline_waker) {
			*out = *w;
			return true;
		}
		out->vtable = w->vtable;
		out->data = inline_data(e, __ATOMIC_ACQUIRE);
		if (out->data != &inline_closed)
			return true;
	}
}

/* read-side: replace the inline slot's data with that of c, a waker of
 * the slot's vtable, unless the slot was closed; the replaced data is
 * retired.  The compare-and-swap is the publish of set_waker's
 * publish-then-check. */
static bool inline_swap(struct lfr__table *t, struct lfr__tls *tls,
			struct lfr__entry *e, const struct lfr_waker *c)
{
	void *d = inline_data(e, __ATOMIC_RELAXED);

	while (d != &inline_closed)
		if (__atomic_compare_exchange_n(&e->inline_waker.data, &d,
						c->data, false,
						__ATOMIC_SEQ_CST,
						__ATOMIC_RELAXED)) {
			retire(t, tls, c->vtable, d);
			return true;
		}
	return false;
}

int lfr__table_set_waker(struct lfr__table *t, const struct lfr_waker *waker,
			 lfr_id id, bool *woke)
{
	struct lfr__tls *tls;
	struct lfr__entry *e;
	struct lfr_waker *cur, *w, c, undo = { NULL, NULL };
	struct block *done;
	bool cloned = false;
	int ret = 0;

	*woke = false;
	read_lock();
	e = lookup(t, id);
	if (!e) {
		read_unlock();
		return -ENOENT;
	}
	/* The common re-arm: the stored waker already wakes the same task.
	 * Nothing is written, so the entry's line stays shared with the
	 * pollers.  No readiness can be pending here: it is only recorded
	 * while no waker is stored, and consumed by whoever stored one. */
	cur = atomic_load_explicit(&e->waker, memory_order_acquire);
	if (cur && cur->vtable == waker->vtable &&
	    (cur == &e->inline_waker ? inline_data(e, __ATOMIC_RELAXED)
				     : cur->data) == waker->data) {
		read_unlock();
		return 0;
	}

	tls = tls_enter(t);
	if (!tls) {
		read_unlock();
		return -ENOMEM;
	}
	tls_own(tls);
	done = take_done(t, tls);
	if (reserve(tls)) {
		ret = -ENOMEM;
		goto out;
	}
	/* a waker of the inline slot's kind (an executor's tasks share one
	 * vtable) replaces the slot's data: no box, nothing else written */
	if (cur == &e->inline_waker && waker->vtable == cur->vtable) {
		c = waker->vtable->clone(waker->data); /* checked by the reactor */
		if (!c.vtable) {
			ret = -ENOMEM;
			goto out;
		}
		cloned = true;
		if (c.vtable == cur->vtable && inline_swap(t, tls, e, &c))
			goto check;
	}
	/* the first waker goes in the entry's own slot, once */
	if (!(atomic_load_explicit(&e->state, memory_order_relaxed) &
	      ENTRY_INLINE_USED) &&
	    !(atomic_fetch_or(&e->state, ENTRY_INLINE_USED) &
	      ENTRY_INLINE_USED)) {
		w = &e->inline_waker;
	} else {
		w = (struct lfr_waker *)box_get(tls);
		if (!w) {
			if (cloned)
				undo = c;
			ret = -ENOMEM;
			goto out;
		}
	}
	if (!cloned) {
		c = waker->vtable->clone(waker->data);
		if (!c.vtable) {
			if (w != &e->inline_waker)
				box_put(tls, (union box *)w);
			ret = -ENOMEM;
			goto out;
		}
	}
	w->vtable = c.vtable;
	if (w == &e->inline_waker)
		__atomic_store_n(&w->data, c.data, __ATOMIC_RELAXED);
	else
		w->data = c.data;
	cur = atomic_exchange_explicit(&e->waker, w, memory_order_seq_cst);
	if (cur == &e->inline_waker) {
		/* the slot is left for good (the pointer never names it
		 * again, and only this exchange saw it leave): close it, so
		 * that a racing inline_swap fails, and retire what it held */
		void *d = __atomic_exchange_n(&cur->data, (void *)&inline_closed,
					      __ATOMIC_SEQ_CST);

		retire(t, tls, cur->vtable, d);
	} else if (cur) {
		retire(t, tls, &tag_box, cur);
	}
check:
	/* the check half of publish-then-check; a plain load first keeps the
	 * exchange (a write) off the path where nothing was recorded */
	if (atomic_load_explicit(&e->ready, memory_order_seq_cst) != 0)
		*woke = consume_ready(e, &c);
out:
	read_unlock();
	if (undo.vtable)
		lfr_waker_drop(&undo); /* user code, outside the section */
	settle(t, tls, done);
	tls_leave(tls);
	return ret;
}

enum lfr__dispatch lfr__table_dispatch(struct lfr__table *t, lfr_id id,
				       unsigned ready)
{
	struct lfr__entry *e = lookup(t, id);
	struct lfr_waker w;

	if (!e)
		return LFR__DISPATCH_STALE;
	LFR__HOOK(dispatch_found, id);
	if (current_waker(e, &w, memory_order_acquire)) {
		w.vtable->wake_by_ref(w.data);
		return LFR__DISPATCH_WOKE;
	}
	LFR__HOOK(dispatch_no_waker, id);
	/* record-then-load: pairs with set_waker's publish-then-check */
	atomic_fetch_or_explicit(&e->ready, ready, memory_order_seq_cst);
	if (current_waker(e, &w, memory_order_seq_cst) && consume_ready(e, &w))
		return LFR__DISPATCH_RECORDED_WOKE;
	return LFR__DISPATCH_RECORDED;
}
