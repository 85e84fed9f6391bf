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
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "baselines/park.h"

enum workload { PINGPONG, BUSY, NWORKLOADS };
static const char *workload_name[] = { "pingpong", "busy" };
static const struct park_ops *designs[] = { &park_lfreactor, &park_futex,
					    &park_futex_always, &park_eventfd,
					    &park_ck_ec };
#define NDESIGNS (int)(sizeof(designs) / sizeof(designs[0]))
#define BASELINE 2 /* futex-always: what the executor had before */
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

struct result {
	double rounds_per_s, wakes_per_s, syscall_share;
};

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

static struct result measure_once(const struct bench_opts *o,
				  const struct park_ops *ops,
				  enum workload wl, int wakers)
{
	struct run r = { .ops = ops, .wakers = wakers };
	int nthreads = wl == PINGPONG ? 2 : 1 + wakers;
	struct worker *w = calloc((size_t)nthreads, sizeof(*w));
	pthread_t *t = calloc((size_t)nthreads, sizeof(*t));
	struct result res = { 0 };
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
	usleep((useconds_t)(o->seconds * 1e6));
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
	res.rounds_per_s = (double)rounds / (t1 - t0);
	res.wakes_per_s = (double)unparks / (t1 - t0);
	res.syscall_share = ratio((double)syscalls, (double)unparks);
	if (wl == PINGPONG)
		res.rounds_per_s /= 2; /* a round trip is two hand-overs */
	pthread_barrier_destroy(&r.start);
	for (int i = 0; i < 2; i++)
		ops->destroy(r.parker[i]);
	free(w);
	free(t);
	return res;
}

static struct result measure(const struct bench_opts *o,
			     const struct park_ops *ops, enum workload wl,
			     int wakers)
{
	double a[64], b[64], c[64];
	struct result res;

	for (int i = 0; i < o->repeat; i++) {
		struct result one = measure_once(o, ops, wl, wakers);

		a[i] = one.rounds_per_s;
		b[i] = one.wakes_per_s;
		c[i] = one.syscall_share;
	}
	res.rounds_per_s = median(a, o->repeat);
	res.wakes_per_s = median(b, o->repeat);
	res.syscall_share = median(c, o->repeat);
	return res;
}

static const char plot_script[] =
	"set multiplot layout 1,2 title 'parking an executor thread'\n"
	"set xlabel 'waker threads'\n"
	"set title 'busy owner: wakes per second'\nset ylabel 'M wakes/s'\n"
	"set yrange [0:*]\n"
	"plot for [d in 'lfreactor futex futex-always eventfd ck_ec'] FILE using 3:(strcol(1) eq d && strcol(2) eq 'busy' ? $5/1e6 : 1/0) with linespoints title d\n"
	"set title 'busy owner: share of unparks making a system call'\n"
	"set ylabel 'share'\nset yrange [0:1]\n"
	"plot for [d in 'lfreactor futex futex-always eventfd ck_ec'] FILE using 3:(strcol(1) eq d && strcol(2) eq 'busy' ? $6 : 1/0) with linespoints title d\n"
	"unset multiplot\n";

static void print_pingpong(struct result res[NDESIGNS][NWORKLOADS][64])
{
	printf("\n[pingpong]  k round trips/s (x futex-always)\n");
	for (int d = 0; d < NDESIGNS; d++)
		printf("  %-13s %8.1f (%4.2fx)\n", designs[d]->name,
		       res[d][PINGPONG][0].rounds_per_s / 1e3,
		       ratio(res[d][PINGPONG][0].rounds_per_s,
			     res[BASELINE][PINGPONG][0].rounds_per_s));
}

static void print_busy(const struct bench_opts *o,
		       struct result res[NDESIGNS][NWORKLOADS][64])
{
	printf("\n[busy]  M wakes/s (x futex-always) | owner k rounds/s | "
	       "share of unparks making a system call\n%4s", "W");
	for (int d = 0; d < NDESIGNS; d++)
		printf(" | %-30s", designs[d]->name);
	printf("\n");
	for (int i = 0; i < o->nthreads; i++) {
		if (o->threads[i] < 1)
			continue;
		printf("%4d", o->threads[i]);
		for (int d = 0; d < NDESIGNS; d++) {
			struct result *r = &res[d][BUSY][i];
			char cell[64];

			snprintf(cell, sizeof(cell), "%5.2f (%4.2fx) %6.1f %5.3f",
				 r->wakes_per_s / 1e6,
				 ratio(r->wakes_per_s, res[BASELINE][BUSY][i].wakes_per_s),
				 r->rounds_per_s / 1e3, r->syscall_share);
			printf(" | %-30s", cell);
		}
		printf("\n");
	}
}

int main(int argc, char **argv)
{
	static struct result res[NDESIGNS][NWORKLOADS][64];
	bool measured[NWORKLOADS] = { false };
	struct bench_opts o;
	FILE *csv;

	bench_parse(&o, argc, argv, false,
		    "Sweeps waker threads for the busy workload; pingpong "
		    "always uses two threads.\n");
	printf("park: %d cores, %.2f s per point, median of %d; busy owner "
	       "works %d ns per wake, wakers pause %d ns\n",
	       ncores(), o.seconds, o.repeat, WORK_NS, PAUSE_NS);
	csv = csv_open(&o, "park",
		       "design,workload,wakers,rounds_per_s,wakes_per_s,"
		       "syscall_share");
	for (int wl = 0; wl < NWORKLOADS; wl++)
		for (int d = 0; d < NDESIGNS; d++)
			for (int i = 0; i < (wl == PINGPONG ? 1 : o.nthreads); i++) {
				int wakers = wl == PINGPONG ? 1 : o.threads[i];
				struct result *r = &res[d][wl][i];

				if (!bench_selected(&o, designs[d]->name,
						    workload_name[wl]) ||
				    wakers < 1)
					continue;
				measured[wl] = true;
				progress("%s %s wakers=%d", designs[d]->name,
					 workload_name[wl], wakers);
				*r = measure(&o, designs[d], (enum workload)wl,
					     wakers);
				fprintf(csv, "%s,%s,%d,%.0f,%.0f,%.4f\n",
					designs[d]->name, workload_name[wl],
					wakers, r->rounds_per_s, r->wakes_per_s,
					r->syscall_share);
			}
	progress("%s", "");
	fclose(csv);

	if (measured[PINGPONG])
		print_pingpong(res);
	if (measured[BUSY])
		print_busy(&o, res);
	plot(&o, "park", plot_script);
	return 0;
}
