/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* maps.c - the seed's mutex map, an rwlock map, a ck_ht map, and lfreactor's
 * table behind struct map_ops.  See maps.h. */
#include "config.h"

#include <ck_ht.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "maps.h"
#ifndef LFR_BENCH_PUBLIC_ONLY
#include "waker_table.h"
#endif

/* ---- a chained hash map, as Rust's HashMap would be used by the seed ------ */

struct node {
	lfr_id id;
	struct lfr_waker waker; /* vtable NULL: none stored yet */
	struct node *next;
};

struct chained {
	pthread_mutex_t mutex;
	pthread_rwlock_t rwlock;
	unsigned long mask;
	struct node **buckets;
};

static unsigned long mix(lfr_id id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return (unsigned long)id;
}

static void *chained_create(unsigned long capacity)
{
	struct chained *m = calloc(1, sizeof(*m));
	unsigned long n = 16;

	while (n < capacity)
		n <<= 1;
	pthread_mutex_init(&m->mutex, NULL);
	pthread_rwlock_init(&m->rwlock, NULL);
	m->mask = n - 1;
	m->buckets = calloc(n, sizeof(*m->buckets));
	return m;
}

static void chained_destroy(void *p)
{
	struct chained *m = p;

	for (unsigned long i = 0; i <= m->mask; i++) {
		struct node *n = m->buckets[i], *next;

		for (; n; n = next) {
			next = n->next;
			lfr_waker_drop(&n->waker);
			free(n);
		}
	}
	free(m->buckets);
	pthread_mutex_destroy(&m->mutex);
	pthread_rwlock_destroy(&m->rwlock);
	free(m);
}

static struct node **slot(struct chained *m, lfr_id id)
{
	struct node **s = &m->buckets[mix(id) & m->mask];

	while (*s && (*s)->id != id)
		s = &(*s)->next;
	return s;
}

static int chained_insert_locked(struct chained *m, lfr_id id)
{
	struct node **s = slot(m, id), *n;

	if (*s)
		return -EEXIST;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->id = id;
	*s = n;
	return 0;
}

static int chained_remove_locked(struct chained *m, lfr_id id)
{
	struct node **s = slot(m, id), *n = *s;

	if (!n)
		return -ENOENT;
	*s = n->next;
	lfr_waker_drop(&n->waker);
	free(n);
	return 0;
}

/* HashMap::insert(id, waker.clone()): clone in, old one dropped */
static int chained_set_locked(struct chained *m, const struct lfr_waker *w,
			      lfr_id id)
{
	struct node *n = *slot(m, id);
	struct lfr_waker old;

	if (!n)
		return -ENOENT;
	old = n->waker;
	n->waker = lfr_waker_clone(w);
	lfr_waker_drop(&old);
	return 0;
}

static bool chained_wake_locked(struct chained *m, lfr_id id)
{
	struct node *n = *slot(m, id);

	if (!n || !n->waker.vtable)
		return false;
	lfr_waker_wake_by_ref(&n->waker);
	return true;
}

#define LOCKED(kind, lock, unlock, call)                                    \
	({                                                                  \
		struct chained *m_ = m;                                     \
		__typeof__(call) r_;                                        \
		lock(&m_->kind);                                            \
		r_ = call;                                                  \
		unlock(&m_->kind);                                          \
		r_;                                                         \
	})

static int seed_insert(void *m, lfr_id id)
{
	return LOCKED(mutex, pthread_mutex_lock, pthread_mutex_unlock,
		      chained_insert_locked(m_, id));
}
static int seed_remove(void *m, lfr_id id)
{
	return LOCKED(mutex, pthread_mutex_lock, pthread_mutex_unlock,
		      chained_remove_locked(m_, id));
}
static int seed_set(void *m, const struct lfr_waker *w, lfr_id id)
{
	return LOCKED(mutex, pthread_mutex_lock, pthread_mutex_unlock,
		      chained_set_locked(m_, w, id));
}
static bool seed_wake(void *m, lfr_id id)
{
	return LOCKED(mutex, pthread_mutex_lock, pthread_mutex_unlock,
		      chained_wake_locked(m_, id));
}

static int chained_upsert_locked(struct chained *m, const struct lfr_waker *w,
				 lfr_id id)
{
	int ret = chained_insert_locked(m, id);

	return ret == 0 || ret == -EEXIST ? chained_set_locked(m, w, id) : ret;
}

int seed_map_upsert(void *m, const struct lfr_waker *w, lfr_id id)
{
	return LOCKED(mutex, pthread_mutex_lock, pthread_mutex_unlock,
		      chained_upsert_locked(m_, w, id));
}

static int rw_insert(void *m, lfr_id id)
{
	return LOCKED(rwlock, pthread_rwlock_wrlock, pthread_rwlock_unlock,
		      chained_insert_locked(m_, id));
}
static int rw_remove(void *m, lfr_id id)
{
	return LOCKED(rwlock, pthread_rwlock_wrlock, pthread_rwlock_unlock,
		      chained_remove_locked(m_, id));
}
static int rw_set(void *m, const struct lfr_waker *w, lfr_id id)
{
	return LOCKED(rwlock, pthread_rwlock_wrlock, pthread_rwlock_unlock,
		      chained_set_locked(m_, w, id));
}
static bool rw_wake(void *m, lfr_id id)
{
	return LOCKED(rwlock, pthread_rwlock_rdlock, pthread_rwlock_unlock,
		      chained_wake_locked(m_, id));
}

static void nothing(void *m)
{
	(void)m;
}

const struct map_ops map_seed = {
	"seed", chained_create, chained_destroy, seed_insert, seed_remove,
	seed_set, seed_wake, nothing, nothing,
};

const struct map_ops map_rwlock = {
	"rwlock", chained_create, chained_destroy, rw_insert, rw_remove,
	rw_set, rw_wake, nothing, nothing,
};

/* ---- ck_ht: lock-free readers, one writer at a time ---------------------- */

struct ckmap {
	ck_ht_t ht;
	pthread_mutex_t writer;
	const struct lfr_waker_vtable *_Atomic vtable; /* shared by all */
};

static void *ck_malloc_(size_t n)
{
	return malloc(n);
}
static void *ck_realloc_(void *p, size_t old, size_t n, bool defer)
{
	(void)old;
	(void)defer;
	return realloc(p, n);
}
static void ck_free_(void *p, size_t n, bool defer)
{
	(void)n;
	/* a deferred free needs a grace period; this benchmark's table does
	 * not grow during a run, so only destroy frees, after the readers */
	(void)defer;
	free(p);
}
static struct ck_malloc ck_allocator = { ck_malloc_, ck_realloc_, ck_free_ };

static void *ck_create(unsigned long capacity)
{
	struct ckmap *m = calloc(1, sizeof(*m));

	pthread_mutex_init(&m->writer, NULL);
	if (!ck_ht_init(&m->ht, CK_HT_MODE_DIRECT, NULL, &ck_allocator,
			capacity * 4 + 64, 0x5eed)) {
		free(m);
		return NULL;
	}
	return m;
}

static void ck_drop_value(struct ckmap *m, uintptr_t v)
{
	struct lfr_waker w = { m->vtable, (void *)v };

	if (v)
		lfr_waker_drop(&w);
}

static void ck_destroy(void *p)
{
	struct ckmap *m = p;
	ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
	ck_ht_entry_t *e;

	while (ck_ht_next(&m->ht, &it, &e))
		ck_drop_value(m, ck_ht_entry_value_direct(e));
	ck_ht_destroy(&m->ht);
	pthread_mutex_destroy(&m->writer);
	free(m);
}

static ck_ht_hash_t ck_key(struct ckmap *m, ck_ht_entry_t *e, lfr_id id,
			   uintptr_t value)
{
	ck_ht_hash_t h;

	ck_ht_hash_direct(&h, &m->ht, (uintptr_t)id);
	ck_ht_entry_set_direct(e, h, (uintptr_t)id, value);
	return h;
}

static int ck_insert(void *p, lfr_id id)
{
	struct ckmap *m = p;
	ck_ht_entry_t e;
	ck_ht_hash_t h = ck_key(m, &e, id, 0);
	bool ok;

	pthread_mutex_lock(&m->writer);
	ok = ck_ht_put_spmc(&m->ht, h, &e);
	pthread_mutex_unlock(&m->writer);
	return ok ? 0 : -EEXIST;
}

static int ck_remove(void *p, lfr_id id)
{
	struct ckmap *m = p;
	ck_ht_entry_t e;
	ck_ht_hash_t h = ck_key(m, &e, id, 0);
	int ret = -ENOENT;

	pthread_mutex_lock(&m->writer);
	if (ck_ht_remove_spmc(&m->ht, h, &e)) {
		ck_drop_value(m, ck_ht_entry_value_direct(&e));
		ret = 0;
	}
	pthread_mutex_unlock(&m->writer);
	return ret;
}

static int ck_set(void *p, const struct lfr_waker *w, lfr_id id)
{
	struct ckmap *m = p;
	ck_ht_entry_t e;
	ck_ht_hash_t h = ck_key(m, &e, id, 0);
	struct lfr_waker c;
	uintptr_t old;
	int ret = -ENOENT;

	pthread_mutex_lock(&m->writer);
	if (ck_ht_get_spmc(&m->ht, h, &e)) {
		old = ck_ht_entry_value_direct(&e);
		c = lfr_waker_clone(w);
		m->vtable = c.vtable;
		ck_key(m, &e, id, (uintptr_t)c.data);
		ck_ht_set_spmc(&m->ht, h, &e);
		ck_drop_value(m, old);
		ret = 0;
	}
	pthread_mutex_unlock(&m->writer);
	return ret;
}

static bool ck_wake(void *p, lfr_id id)
{
	struct ckmap *m = p;
	ck_ht_entry_t e;
	ck_ht_hash_t h = ck_key(m, &e, id, 0);
	uintptr_t v;

	if (!ck_ht_get_spmc(&m->ht, h, &e))
		return false;
	v = ck_ht_entry_value_direct(&e);
	if (!v)
		return false;
	m->vtable->wake_by_ref((void *)v);
	return true;
}

const struct map_ops map_ck_ht = {
	"ck_ht", ck_create, ck_destroy, ck_insert, ck_remove,
	ck_set, ck_wake, nothing, nothing,
};

#ifndef LFR_BENCH_PUBLIC_ONLY
/* (left out where the library is linked as a shared library, whose
 * internal functions are hidden) */
/* ---- lfreactor's table ----------------------------------------------------- */

static void *lfr_create(unsigned long capacity)
{
	struct lfr__table *t;

	return lfr__table_new(capacity, 2 * capacity, NULL, &t) ? NULL : t;
}

static void lfr_destroy(void *t)
{
	lfr__table_destroy(t);
}

static int lfr_insert(void *t, lfr_id id)
{
	return lfr__table_insert(t, id, -1);
}

static int lfr_remove(void *t, lfr_id id)
{
	return lfr__table_remove(t, id);
}

static int lfr_set(void *t, const struct lfr_waker *w, lfr_id id)
{
	bool woke;

	return lfr__table_set_waker(t, w, id, &woke);
}

static bool lfr_wake(void *t, lfr_id id)
{
	enum lfr__dispatch d = lfr__table_dispatch(t, id, LFR_READABLE);

	return d == LFR__DISPATCH_WOKE || d == LFR__DISPATCH_RECORDED_WOKE;
}

static void lfr_begin(void *t)
{
	(void)t;
	lfr__read_lock();
}

static void lfr_end(void *t)
{
	(void)t;
	lfr__read_unlock();
}

const struct map_ops map_lfreactor = {
	"lfreactor", lfr_create, lfr_destroy, lfr_insert, lfr_remove,
	lfr_set, lfr_wake, lfr_begin, lfr_end,
};
#endif
