/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* park.c - the parking designs of park.h */
#define _GNU_SOURCE
#include <ck_ec.h>
#include <errno.h>
#include <linux/futex.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "park.h"
#include "../../src/park.h"

/* every parker on a cache line of its own */
static void *line_alloc(size_t size)
{
	void *p = aligned_alloc(64, (size + 63) / 64 * 64);

	return p;
}

static long futex(void *word, int op, int val, const struct timespec *ts)
{
	return syscall(SYS_futex, word, op, val, ts, NULL, 0);
}

/* ---- lfreactor: src/park.h ---------------------------------------------- */

static void *lf_create(void)
{
	struct lfr__parker *p = line_alloc(sizeof(*p));

	if (p)
		lfr__parker_init(p);
	return p;
}

static void lf_park(void *p) { lfr__park(p); }
static bool lf_unpark(void *p) { return lfr__unpark(p); }

const struct park_ops park_lfreactor = {
	"lfreactor", lf_create, free, lf_park, lf_unpark,
};

/* ---- futex: lfreactor's word without the spin ----------------------------- */

static void sleep_park(void *p) { lfr__park_sleep(p); }

const struct park_ops park_futex = {
	"futex", lf_create, free, sleep_park, lf_unpark,
};

/* ---- futex-always: the two-state permit ----------------------------------- */

static void *fa_create(void)
{
	atomic_int *p = line_alloc(sizeof(*p));

	if (p)
		atomic_init(p, 0);
	return p;
}

static void fa_park(void *p)
{
	while (atomic_exchange((atomic_int *)p, 0) == 0)
		futex(p, FUTEX_WAIT_PRIVATE, 0, NULL);
}

static bool fa_unpark(void *p)
{
	if (atomic_exchange((atomic_int *)p, 1) != 0)
		return false;
	futex(p, FUTEX_WAKE_PRIVATE, 1, NULL);
	return true;
}

const struct park_ops park_futex_always = {
	"futex-always", fa_create, free, fa_park, fa_unpark,
};

/* ---- eventfd: three states, sleeping in read(2) --------------------------- */

struct efd_parker {
	atomic_int state;
	int fd;
};

static void *efd_create(void)
{
	struct efd_parker *p = line_alloc(sizeof(*p));

	if (!p)
		return NULL;
	atomic_init(&p->state, LFR__PARK_EMPTY);
	p->fd = eventfd(0, EFD_CLOEXEC);
	if (p->fd < 0) {
		free(p);
		return NULL;
	}
	return p;
}

static void efd_destroy(void *v)
{
	struct efd_parker *p = v;

	close(p->fd);
	free(p);
}

static void efd_park(void *v)
{
	struct efd_parker *p = v;
	uint64_t n;

	if (atomic_fetch_sub(&p->state, 1) == LFR__PARK_NOTIFIED)
		return;
	/* PARKED: exactly one write answers it */
	while (read(p->fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	/* NOTIFIED: an exchange, to read (and order after) the latest wake */
	atomic_exchange(&p->state, LFR__PARK_EMPTY);
}

static bool efd_unpark(void *v)
{
	struct efd_parker *p = v;
	uint64_t one = 1;

	if (atomic_exchange(&p->state, LFR__PARK_NOTIFIED) != LFR__PARK_PARKED)
		return false;
	/* the permit is handed over by the eventfd: the reader resets */
	if (write(p->fd, &one, sizeof(one)) < 0)
		abort();
	return true;
}

const struct park_ops park_eventfd = {
	"eventfd", efd_create, efd_destroy, efd_park, efd_unpark,
};

/* ---- ck_ec: an event count on futex operations ---------------------------- */

static _Thread_local bool ec_woke; /* set by ec_wake32 for unpark's result */

static int ec_gettime(const struct ck_ec_ops *ops, struct timespec *out)
{
	(void)ops;
	return clock_gettime(CLOCK_MONOTONIC, out);
}

static void ec_wait32(const struct ck_ec_wait_state *ws, const uint32_t *addr,
		      uint32_t expected, const struct timespec *deadline)
{
	struct timespec rel, *relp = NULL;

	if (deadline) {
		/* FUTEX_WAIT takes a relative time */
		long ns = (deadline->tv_sec - ws->now.tv_sec) * 1000000000L +
			  (deadline->tv_nsec - ws->now.tv_nsec);

		if (ns <= 0)
			return;
		rel.tv_sec = ns / 1000000000L;
		rel.tv_nsec = ns % 1000000000L;
		relp = &rel;
	}
	futex((void *)addr, FUTEX_WAIT_PRIVATE, (int)expected, relp);
}

static void ec_wake32(const struct ck_ec_ops *ops, const uint32_t *addr)
{
	(void)ops;
	ec_woke = true;
	futex((void *)addr, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL);
}

static const struct ck_ec_ops ec_ops = {
	.gettime = ec_gettime,
	.wait32 = ec_wait32,
	.wake32 = ec_wake32,
};
static const struct ck_ec_mode ec_mode = { .ops = &ec_ops };

struct ec_parker {
	struct ck_ec32 ec;
	uint32_t seen; /* owner only: the value its last park returned at */
};

static void *ec_create(void)
{
	struct ec_parker *p = line_alloc(sizeof(*p));

	if (p) {
		ck_ec32_init(&p->ec, 0);
		p->seen = 0;
	}
	return p;
}

static void ec_park(void *v)
{
	struct ec_parker *p = v;

	/* returns at once if the count moved since the last park */
	while (ck_ec32_wait(&p->ec, &ec_mode, p->seen, NULL) != 0)
		;
	p->seen = ck_ec32_value(&p->ec);
}

static bool ec_unpark(void *v)
{
	struct ec_parker *p = v;

	ec_woke = false;
	ck_ec32_inc(&p->ec, &ec_mode);
	return ec_woke;
}

const struct park_ops park_ck_ec = {
	"ck_ec", ec_create, free, ec_park, ec_unpark,
};
