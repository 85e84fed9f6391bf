/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * waker_table.c - the wakers, keyed by id, in an RCU-protected cds_lfht.
 *
 * The protocol, all of it here:
 *
 *  entry   { node, id, fd, ready, waker } — created by register before the fd
 *          enters epoll, removed by deregister after it left epoll, freed by
 *          call_rcu after a grace period.  Ids come from a counter and are
 *          never reused, so a lookup by id never finds a newer registration.
 *  waker   an atomic pointer to a box { struct lfr_waker, rcu_head }.  NULL
 *          until the first set_waker; then never NULL again.  A replaced box
 *          is freed (and its waker dropped) by call_rcu, so a poller that
 *          loaded it may still call wake_by_ref on it.
 *  ready   readiness bits of events that found no waker.
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
#include <urcu/urcu-bp.h>
#include <urcu/rculfhash.h>

#include "test_hooks.h"
#include "waker_table.h"

#define LFR__CACHELINE 64
#define LFR__MAX_BUCKETS (1UL << 24)

struct lfr__box {
	struct lfr_waker waker;
	struct rcu_head rcu;
};

struct lfr__entry {
	struct cds_lfht_node node;
	lfr_id id;
	_Atomic(struct lfr__box *) waker;
	atomic_uint ready;
	int fd;
	struct rcu_head rcu;
};
_Static_assert(sizeof(struct lfr__entry) <= LFR__CACHELINE,
	       "an entry fits one cache line");

struct lfr__table {
	struct cds_lfht *ht;
	unsigned long min_buckets;
	atomic_ulong buckets; /* written by lfr__table_resize's caller only */
};

void lfr__read_lock(void)
{
	urcu_bp_read_lock();
}

void lfr__read_unlock(void)
{
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

static void free_box(struct rcu_head *head)
{
	struct lfr__box *box = caa_container_of(head, struct lfr__box, rcu);

	lfr_waker_drop(&box->waker);
	free(box);
}

static void free_entry(struct rcu_head *head)
{
	struct lfr__entry *e = caa_container_of(head, struct lfr__entry, rcu);
	struct lfr__box *box =
		atomic_load_explicit(&e->waker, memory_order_acquire);

	if (box)
		free_box(&box->rcu);
	free(e);
}

int lfr__table_new(unsigned long initial_buckets, pthread_attr_t *attr,
		   struct lfr__table **out)
{
	struct lfr__table *t = lfr__alloc(0, sizeof(*t));
	unsigned long size = 1;

	if (!t)
		return -ENOMEM;
	while (size < initial_buckets)
		size <<= 1;
	t->min_buckets = size;
	atomic_init(&t->buckets, size);
	/* No CDS_LFHT_AUTO_RESIZE: in liburcu 0.13 it starts a resize worker
	 * that unblocks SIGUSR1 for itself.  The reactor resizes instead, from
	 * a thread of its own (lfr__table_resize). */
	t->ht = cds_lfht_new_flavor(size, size, LFR__MAX_BUCKETS, 0,
				    &urcu_bp_flavor, attr);
	if (!t->ht) {
		free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

int lfr__table_destroy(struct lfr__table *t)
{
	int ret = cds_lfht_destroy(t->ht, NULL);

	if (ret == 0)
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

void lfr__table_resize(struct lfr__table *t, unsigned long live)
{
	unsigned long target = t->min_buckets;

	if (!lfr__table_wants_resize(t, live))
		return;
	while (target < live && target < LFR__MAX_BUCKETS)
		target <<= 1;
	cds_lfht_resize(t->ht, target);
	atomic_store_explicit(&t->buckets, target, memory_order_relaxed);
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
	got = cds_lfht_add_unique(t->ht, hash_id(id), match_id, &id, &e->node);
	lfr__read_unlock();
	if (got != &e->node) {
		free(e);
		return -EEXIST;
	}
	return 0;
}

int lfr__table_check(struct lfr__table *t, lfr_id id, int fd)
{
	struct lfr__entry *e;
	int ret;

	lfr__read_lock();
	e = lookup(t, id);
	ret = !e ? -ENOENT : e->fd != fd ? -EINVAL : 0;
	lfr__read_unlock();
	return ret;
}

/* read-side; 0 if this caller removed it */
static int remove_entry(struct lfr__table *t, struct lfr__entry *e)
{
	if (cds_lfht_del(t->ht, &e->node) != 0)
		return -ENOENT; /* another remover won */
	urcu_bp_call_rcu(&e->rcu, free_entry);
	return 0;
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
		urcu_bp_call_rcu(&cur->rcu, free_box);
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
