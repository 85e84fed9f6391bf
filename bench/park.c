/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * park - how an executor thread should park: lfreactor's three-state futex
 * with a short spin (src/park.h) against the same without the spin, the
 * two-state futex it replaced, an eventfd and Concurrency Kit's event
 * count (bench/baselines/park.h).  Workloads:
 *   pingpong  two threads hand a turn back and forth: each unparks the
 *             other and parks until its turn comes back.  Every hand-over
 *             finds the other asleep or about to be: the cost of a real
 *             sleep and wake-up.  Reports round trips per second.
 *   busy      one owner thread runs the tasks woken (1 us of work each)
 *             and parks when none is left, as an executor does; W waker
 *             threads each push a wake (a counter) and unpark it, then
 *             pause 2 us.  With one waker the owner is busy about half
 *             the time, so wakes find it running, parked with a permit
 *             waiting, or asleep; from two wakers on it rarely sleeps.
 *             Reports wakes per second, the owner's rounds per second, and
 *             the share of unparks that made a system call.
 * The sweep, medians, tables, CSV and plot: harness.h.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "harness.h"
#include "baselines/park.h"

enum workload { PINGPONG, BUSY, NWORKLOADS };
static const struct park_ops *designs[] = { &park_lfreactor, &park_futex,
					    &park_futex_always, &park_eventfd,
					    &park_ck_ec };
#define NDESIGNS (int)(sizeof(designs) / sizeof(designs[0]))
#define WORK_NS 1000
#define PAUSE_NS 2000

struct run {
	const struct park_ops *ops;
	void *parker[2];
	_Alignas(64) atomic_int turn;          /* pingpong: whose turn */
	_Alignas(64) atomic_uint_fast64_t pending; /* busy: wakes not yet run */
	_Alignas(64) atomic_bool stop;
	pthread_barrier_t start;
	int wakers;
};

struct worker {
	struct run *run;
	int index;
	uint64_t rounds, unparks, syscalls;
};

/* the metrics of one run, in the harness's order (metrics[] below) */
enum { ROUND_TRIPS_PER_S, WAKES_PER_S, OWNER_ROUNDS_PER_S, SYSCALL_SHARE,
       NMETRICS };

static void spin_ns(uint64_t ns)
{
	uint64_t end = now_ns() + ns;

	while (now_ns() < end)
		;
}

static void *pingpong_thread(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->run;
	int me = w->index, other = 1 - me;

	pthread_barrier_wait(&r->start);
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		while (atomic_load(&r->turn) != me) {
			r->ops->park(r->parker[me]);
			if (atomic_load(&r->stop))
				return NULL;
		}
		w->rounds++;
		atomic_store(&r->turn, other);
		w->unparks++;
		w->syscalls += r->ops->unpark(r->parker[other]);
	}
	return NULL;
}

static void *busy_owner(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->run;

	pthread_barrier_wait(&r->start);
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		uint64_t n = atomic_exchange(&r->pending, 0);

		if (n == 0) {
			r->ops->park(r->parker[0]);
			continue;
		}
		spin_ns(n * WORK_NS); /* run what was woken */
		w->rounds++;
	}
	return NULL;
}

static void *busy_waker(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->run;

	pthread_barrier_wait(&r->start);
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		atomic_fetch_add(&r->pending, 1);
		w->unparks++;
		w->syscalls += r->ops->unpark(r->parker[0]);
		spin_ns(PAUSE_NS);
	}
	return NULL;
}

static void run_once(const struct park_ops *ops, enum workload wl,
		     int wakers, double seconds, double *res)
{
	struct run r = { .ops = ops, .wakers = wakers };
	int nthreads = wl == PINGPONG ? 2 : 1 + wakers;
	struct worker *w = calloc((size_t)nthreads, sizeof(*w));
	pthread_t *t = calloc((size_t)nthreads, sizeof(*t));
	uint64_t rounds = 0, unparks = 0, syscalls = 0;
	double t0, t1;

	if (!w || !t)
		abort();
	for (int i = 0; i < 2; i++)
		if (!(r.parker[i] = ops->create()))
			abort();
	pthread_barrier_init(&r.start, NULL, (unsigned)nthreads + 1);
	for (int i = 0; i < nthreads; i++) {
		w[i].run = &r;
		w[i].index = i;
		if (pthread_create(&t[i], NULL,
				   wl == PINGPONG ? pingpong_thread
						  : i == 0 ? busy_owner : busy_waker,
				   &w[i]))
			abort();
	}
	pthread_barrier_wait(&r.start);
	t0 = now_sec();
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&r.stop, true);
	t1 = now_sec();
	/* whoever is parked gets one more permit to see stop */
	for (int i = 0; i < 2; i++)
		ops->unpark(r.parker[i]);
	for (int i = 0; i < nthreads; i++) {
		pthread_join(t[i], NULL);
		rounds += w[i].rounds;
		unparks += w[i].unparks;
		syscalls += w[i].syscalls;
	}
	if (wl == PINGPONG) /* a round trip is two hand-overs */
		res[ROUND_TRIPS_PER_S] = (double)rounds / 2 / (t1 - t0);
	else
		res[OWNER_ROUNDS_PER_S] = (double)rounds / (t1 - t0);
	res[WAKES_PER_S] = (double)unparks / (t1 - t0);
	res[SYSCALL_SHARE] = ratio((double)syscalls, (double)unparks);
	pthread_barrier_destroy(&r.start);
	for (int i = 0; i < 2; i++)
		ops->destroy(r.parker[i]);
	free(w);
	free(t);
}

static void run(void *ctx, int design, int workload, int wakers,
		double seconds, double *out)
{
	(void)ctx;
	run_once(designs[design], (enum workload)workload, wakers, seconds, out);
}

/* pingpong: two threads, one point; busy: the owner beside W wakers */
static const struct bench_workload workloads[NWORKLOADS] = {
	[PINGPONG] = { "pingpong", "two threads hand a turn back and forth "
		       "(each unparks the other, then parks)", 1, false, 1 },
	[BUSY] = { "busy", "one owner runs 1 us per wake and parks when none "
		   "is left; W wakers each add a wake, unpark, pause 2 us",
		   0, false, 1 },
};

#define IN(w) (1u << (w))
static const struct bench_metric metrics[NMETRICS] = {
	[ROUND_TRIPS_PER_S] = { "round_trips_per_s", "k round trips/s", 1e3,
				1, BENCH_RATIO | BENCH_SPREAD, IN(PINGPONG) },
	[WAKES_PER_S] = { "wakes_per_s", "M wakes/s", 1e6, 2,
			  BENCH_RATIO | BENCH_SPREAD, IN(BUSY) },
	[OWNER_ROUNDS_PER_S] = { "owner_rounds_per_s", "owner k rounds/s",
				 1e3, 1, 0, IN(BUSY) },
	[SYSCALL_SHARE] = { "syscall_share", "unparks making a syscall", 1, 3,
			    0, 0 },
};

static const struct bench_panel panels[] = {
	{ BUSY, WAKES_PER_S, false, "busy owner: wakes per second",
	  "M wakes/s", 1e6, false, false, NULL },
	{ BUSY, SYSCALL_SHARE, false,
	  "busy owner: share of unparks making a system call", "share", 1,
	  false, false, "[0:1]" },
};

int main(int argc, char **argv)
{
	const char *names[NDESIGNS];
	char describe[256];
	struct bench_opts o;
	struct bench_spec spec = {
		.program = "park",
		.describe = describe,
		.designs = names,
		.ndesigns = NDESIGNS,
		/* a FUTEX_WAKE on every unpark after a park: what the
		 * third state of src/park.h saves */
		.baseline = "futex-always",
		.workloads = workloads,
		.nworkloads = NWORKLOADS,
		.metrics = metrics,
		.nmetrics = NMETRICS,
		.xname = "wakers",
		.run = run,
		.panels = panels,
		.npanels = (int)(sizeof(panels) / sizeof(panels[0])),
		.plot_cols = 2,
		.plot_title = "parking an executor thread",
		.plot_xlabel = "waker threads",
	};

	for (int d = 0; d < NDESIGNS; d++)
		names[d] = designs[d]->name;
	bench_parse(&o, argc, argv, false,
		    "Sweeps waker threads for the busy workload; pingpong "
		    "always uses two threads.\n");
	snprintf(describe, sizeof(describe),
		 "how an executor thread parks; the busy owner works %d ns "
		 "per wake, wakers pause %d ns", WORK_NS, PAUSE_NS);
	bench_sweep(&spec, &o);
	return 0;
}
