/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * waker_table - contention on the waker table, lfreactor against the seed.
 *
 * E executor threads each own K live ids and call set_waker on them in
 * turn, while one "epoll-side" thread looks ids up and wakes their wakers
 * in batches of 64, as a poller does.  Designs (bench/baselines/maps.h):
 * lfreactor's table, the seed's mutex map, an rwlock map, ck_ht with a
 * writer lock.  Workloads:
 *   same   the same waker again every call (the common re-arm)
 *   new    a different waker every call (clone, swap, retire the old one)
 *   churn  as same, but 1 call in 16 first removes the id and inserts a
 *          fresh one
 * Reports set_waker/s (all executors), epoll-side lookups/s, that rate as a
 * fraction of its rate with no executors (E = 0), and allocations per
 * set_waker counted in this process.  The sweep (designs interleaved in
 * each repeat), the medians, the table, the CSV and the plot are the
 * harness's (harness.h).
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "harness.h"
#include "baselines/maps.h"

enum workload { SAME, NEW, CHURN, NWORKLOADS };
static const char *workload_name[] = { "same", "new", "churn" };
static const struct map_ops *designs[] = { &map_lfreactor, &map_seed,
					   &map_rwlock, &map_ck_ht };
#define NDESIGNS (int)(sizeof(designs) / sizeof(designs[0]))
#define IDS_PER_EXECUTOR 64
#define BATCH 64

struct run {
	const struct map_ops *ops;
	void *map;
	enum workload wl;
	int executors;
	int nids;
	_Atomic lfr_id *ids; /* executor e owns ids[e*K .. e*K+K-1] */
	atomic_uint_fast64_t next_id;
	atomic_bool stop;
	pthread_barrier_t start;
};

struct executor {
	struct run *run;
	int index;
	struct task a, b;
	uint64_t ops;
	unsigned long allocs;
	int errors;
};

/* the metrics of one run, in the harness's order (metrics[] below) */
enum { SET_PER_S, LOOKUPS_PER_S, ALLOCS_PER_SET, NMETRICS };

static void *executor_main(void *arg)
{
	struct executor *ex = arg;
	struct run *run = ex->run;
	_Atomic lfr_id *ids = run->ids + ex->index * IDS_PER_EXECUTOR;
	struct lfr_waker wa = task_waker(&ex->a), wb = task_waker(&ex->b);
	unsigned long allocs0;
	uint64_t i = 0;

	pthread_barrier_wait(&run->start);
	allocs0 = thread_allocations();
	while (!atomic_load_explicit(&run->stop, memory_order_relaxed)) {
		for (int n = 0; n < 256; n++, i++) {
			unsigned k = (unsigned)(i % IDS_PER_EXECUTOR);
			lfr_id id = atomic_load_explicit(&ids[k],
							 memory_order_relaxed);
			const struct lfr_waker *w = &wa;

			if (run->wl == CHURN && i % 16 == 15) {
				lfr_id fresh = atomic_fetch_add(&run->next_id, 1);

				ex->errors += run->ops->remove(run->map, id) != 0;
				ex->errors += run->ops->insert(run->map, fresh) != 0;
				atomic_store_explicit(&ids[k], fresh,
						      memory_order_relaxed);
				id = fresh;
			}
			if (run->wl == NEW && (i / IDS_PER_EXECUTOR) % 2)
				w = &wb;
			ex->errors += run->ops->set_waker(run->map, w, id) != 0;
		}
	}
	ex->ops = i;
	ex->allocs = thread_allocations() - allocs0;
	return NULL;
}

struct poller {
	struct run *run;
	uint64_t lookups, woke;
};

static void *poller_main(void *arg)
{
	struct poller *p = arg;
	struct run *run = p->run;
	unsigned seed = 12345;

	pthread_barrier_wait(&run->start);
	while (!atomic_load_explicit(&run->stop, memory_order_relaxed)) {
		run->ops->batch_begin(run->map);
		for (int n = 0; n < BATCH; n++) {
			lfr_id id = atomic_load_explicit(
				&run->ids[rand_r(&seed) % (unsigned)run->nids],
				memory_order_relaxed);

			p->woke += run->ops->wake(run->map, id);
		}
		run->ops->batch_end(run->map);
		p->lookups += BATCH;
	}
	return NULL;
}

static void run_once(const struct map_ops *ops, enum workload wl,
		     int executors, double seconds, double *res)
{
	struct run run = { .ops = ops, .wl = wl, .executors = executors };
	struct executor *ex = calloc((size_t)(executors ? executors : 1),
				     sizeof(*ex));
	struct poller poller = { .run = &run };
	pthread_t *t = calloc((size_t)executors + 1, sizeof(*t));
	uint64_t total = 0;
	unsigned long allocs = 0;
	double t0, elapsed;
	int owners = executors ? executors : 1, errors = 0;

	run.nids = owners * IDS_PER_EXECUTOR;
	run.ids = calloc((size_t)run.nids, sizeof(*run.ids));
	atomic_init(&run.next_id, 1);
	run.map = ops->create((unsigned long)run.nids * 2);
	if (!run.map) {
		fprintf(stderr, "%s: create failed\n", ops->name);
		exit(1);
	}
	/* every id starts with its owner's waker A stored */
	for (int e = 0; e < owners; e++) {
		struct lfr_waker wa;

		ex[e].run = &run;
		ex[e].index = e;
		atomic_init(&ex[e].a.refs, 1);
		atomic_init(&ex[e].b.refs, 1);
		wa = task_waker(&ex[e].a);
		for (int k = 0; k < IDS_PER_EXECUTOR; k++) {
			lfr_id id = atomic_fetch_add(&run.next_id, 1);

			atomic_init(&run.ids[e * IDS_PER_EXECUTOR + k], id);
			if (ops->insert(run.map, id) || ops->set_waker(run.map, &wa, id)) {
				fprintf(stderr, "%s: setup failed\n", ops->name);
				exit(1);
			}
		}
	}
	pthread_barrier_init(&run.start, NULL, (unsigned)executors + 2);
	for (int e = 0; e < executors; e++)
		pthread_create(&t[e], NULL, executor_main, &ex[e]);
	pthread_create(&t[executors], NULL, poller_main, &poller);
	pthread_barrier_wait(&run.start);
	t0 = now_sec();
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&run.stop, true);
	for (int e = 0; e <= executors; e++)
		pthread_join(t[e], NULL);
	elapsed = now_sec() - t0;

	for (int e = 0; e < executors; e++) {
		total += ex[e].ops;
		allocs += ex[e].allocs;
		errors += ex[e].errors;
	}
	if (errors) {
		fprintf(stderr, "%s/%s: %d calls failed\n", ops->name,
			workload_name[wl], errors);
		exit(1);
	}
	if (poller.lookups && poller.woke == 0) {
		fprintf(stderr, "%s/%s: the epoll side woke nobody\n",
			ops->name, workload_name[wl]);
		exit(1);
	}
	res[SET_PER_S] = (double)total / elapsed;
	res[LOOKUPS_PER_S] = (double)poller.lookups / elapsed;
	res[ALLOCS_PER_SET] = total ? (double)allocs / (double)total : 0;

	ops->destroy(run.map);
	pthread_barrier_destroy(&run.start);
	free(run.ids);
	free(ex);
	free(t);
}

static void run(void *ctx, int design, int workload, int executors,
		double seconds, double *out)
{
	(void)ctx;
	run_once(designs[design], (enum workload)workload, executors, seconds,
		 out);
}

/* E executors plus the epoll side: E + 1 threads at work */
static const struct bench_workload workloads[NWORKLOADS] = {
	{ "same", "the same waker every call (the re-arm)", 0, true, 1 },
	{ "new", "a different waker every call (two tasks alternate)", 0,
	  true, 1 },
	{ "churn", "as same, but 1 call in 16 first removes its id and "
	  "inserts a fresh one", 0, true, 1 },
};

static const struct bench_metric metrics[NMETRICS] = {
	[SET_PER_S] = { "set_waker_per_s", "M set_waker/s", 1e6, 2,
			BENCH_RATIO | BENCH_SPREAD | BENCH_SWEPT, 0 },
	[LOOKUPS_PER_S] = { "lookups_per_s", "M lookups/s", 1e6, 2,
			    BENCH_SOLO | BENCH_SPREAD, 0 },
	[ALLOCS_PER_SET] = { "allocs_per_set_waker", "allocs/set_waker", 1,
			     2, BENCH_SWEPT, 0 },
};

static const struct bench_panel panels[] = {
	{ SAME, SET_PER_S, false, "set_waker/s, same", "M set_waker/s", 1e6,
	  false, true, NULL },
	{ NEW, SET_PER_S, false, "set_waker/s, new", "M set_waker/s", 1e6,
	  false, true, NULL },
	{ CHURN, SET_PER_S, false, "set_waker/s, churn", "M set_waker/s", 1e6,
	  false, true, NULL },
	{ SAME, LOOKUPS_PER_S, true, "epoll-side lookups, same",
	  "fraction of solo rate", 1, false, false, NULL },
	{ NEW, LOOKUPS_PER_S, true, "epoll-side lookups, new",
	  "fraction of solo rate", 1, false, false, NULL },
	{ CHURN, LOOKUPS_PER_S, true, "epoll-side lookups, churn",
	  "fraction of solo rate", 1, false, false, NULL },
};

int main(int argc, char **argv)
{
	const char *names[NDESIGNS];
	char describe[256];
	struct bench_opts o;
	struct bench_spec spec = {
		.program = "waker_table",
		.describe = describe,
		.designs = names,
		.ndesigns = NDESIGNS,
		.baseline = "seed",
		.workloads = workloads,
		.nworkloads = NWORKLOADS,
		.metrics = metrics,
		.nmetrics = NMETRICS,
		.xname = "executors",
		.run = run,
		.panels = panels,
		.npanels = (int)(sizeof(panels) / sizeof(panels[0])),
		.plot_cols = 3,
		.plot_title = "waker table: executors set wakers while one "
			      "thread looks ids up and wakes",
		.plot_xlabel = "executor threads",
	};

	for (int d = 0; d < NDESIGNS; d++)
		names[d] = designs[d]->name;
	bench_parse(&o, argc, argv, true,
		    "Sweeps executor threads (0 = the epoll side alone, always "
		    "measured:\nit is the reference of the fraction of solo).\n");
	snprintf(describe, sizeof(describe),
		 "E executors call set_waker on %d ids each while one thread "
		 "looks random ids up and wakes them in batches of %d; "
		 "allocations counted per set_waker",
		 IDS_PER_EXECUTOR, BATCH);
	bench_sweep(&spec, &o);
	return 0;
}
