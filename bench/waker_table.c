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
 * set_waker counted in this process.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
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

struct result {
	double set_per_s, lookups_per_s, allocs_per_set;
};

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

static struct result run_once(const struct map_ops *ops, enum workload wl,
			      int executors, double seconds)
{
	struct run run = { .ops = ops, .wl = wl, .executors = executors };
	struct executor *ex = calloc((size_t)(executors ? executors : 1),
				     sizeof(*ex));
	struct poller poller = { .run = &run };
	pthread_t *t = calloc((size_t)executors + 1, sizeof(*t));
	struct result res = { 0 };
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
	res.set_per_s = (double)total / elapsed;
	res.lookups_per_s = (double)poller.lookups / elapsed;
	res.allocs_per_set = total ? (double)allocs / (double)total : 0;

	ops->destroy(run.map);
	pthread_barrier_destroy(&run.start);
	free(run.ids);
	free(ex);
	free(t);
	return res;
}

static struct result measure(const struct bench_opts *o,
			     const struct map_ops *ops, enum workload wl,
			     int executors)
{
	double a[64], b[64], c[64];
	struct result r;
	int n = o->repeat < 64 ? o->repeat : 64;

	for (int i = 0; i < n; i++) {
		r = run_once(ops, wl, executors, o->seconds);
		a[i] = r.set_per_s;
		b[i] = r.lookups_per_s;
		c[i] = r.allocs_per_set;
	}
	r.set_per_s = median(a, n);
	r.lookups_per_s = median(b, n);
	r.allocs_per_set = median(c, n);
	return r;
}

static const char *plot_script =
	"set multiplot layout 2,3 title 'waker table: executors set wakers while one thread looks ids up and wakes'\n"
	"set xlabel 'executor threads'\n"
	"do for [w in 'same new churn'] {\n"
	"  set title 'set_waker/s, '.w\n  set ylabel 'M set_waker/s'\n"
	"  plot for [d in 'lfreactor seed rwlock ck_ht'] FILE using 3:(strcol(1) eq d && strcol(2) eq w && $3 > 0 ? $4/1e6 : 1/0) with linespoints title d\n"
	"}\n"
	"do for [w in 'same new churn'] {\n"
	"  set title 'epoll-side lookups, '.w\n  set ylabel 'fraction of solo rate'\n  set yrange [0:*]\n"
	"  plot for [d in 'lfreactor seed rwlock ck_ht'] FILE using 3:(strcol(1) eq d && strcol(2) eq w ? $6 : 1/0) with linespoints title d\n"
	"}\n"
	"unset multiplot\n";

int main(int argc, char **argv)
{
	static struct result res[NDESIGNS][NWORKLOADS][64];
	bool measured[NWORKLOADS] = { false };
	struct bench_opts o;
	FILE *csv;

	bench_parse(&o, argc, argv, true,
		    "Sweeps executor threads (0 = the epoll side alone).\n");
	if (o.threads[0] != 0) { /* the solo point is the reference */
		memmove(o.threads + 1, o.threads, sizeof(int) * 63);
		o.threads[0] = 0;
		o.nthreads = o.nthreads < 64 ? o.nthreads + 1 : 64;
	}
	printf("waker_table: %d cores, %.2f s per point, median of %d, "
	       "%d ids per executor\n",
	       ncores(), o.seconds, o.repeat, IDS_PER_EXECUTOR);
	csv = csv_open(&o, "waker_table",
		       "design,workload,executors,set_waker_per_s,lookups_per_s,"
		       "lookup_fraction_of_solo,allocs_per_set_waker");
	for (int w = 0; w < NWORKLOADS; w++)
		for (int d = 0; d < NDESIGNS; d++)
			for (int i = 0; i < o.nthreads; i++) {
				struct result *r = &res[d][w][i];

				if (!bench_selected(&o, designs[d]->name,
						    workload_name[w]))
					continue;
				measured[w] = true;
				progress("%s %s executors=%d", designs[d]->name,
					 workload_name[w], o.threads[i]);
				*r = measure(&o, designs[d], (enum workload)w,
					     o.threads[i]);
				fprintf(csv, "%s,%s,%d,%.0f,%.0f,%.4f,%.4f\n",
					designs[d]->name, workload_name[w],
					o.threads[i], r->set_per_s,
					r->lookups_per_s,
					ratio(r->lookups_per_s, res[d][w][0].lookups_per_s),
					r->allocs_per_set);
			}
	progress("%s", "");
	fclose(csv);

	for (int w = 0; w < NWORKLOADS; w++) {
		if (!measured[w])
			continue;
		printf("\n[%s]  M set_waker/s (x seed) | epoll side M lookups/s "
		       "(fraction of solo) | allocs per set_waker\n",
		       workload_name[w]);
		printf("%4s", "E");
		for (int d = 0; d < NDESIGNS; d++)
			printf(" | %-32s", designs[d]->name);
		printf("\n");
		for (int i = 0; i < o.nthreads; i++) {
			printf("%4d", o.threads[i]);
			for (int d = 0; d < NDESIGNS; d++) {
				struct result *r = &res[d][w][i], *s = &res[1][w][i];
				char cell[64];

				snprintf(cell, sizeof(cell),
					 "%6.2f (%5.2fx) %6.2f (%3.0f%%) %4.2f",
					 r->set_per_s / 1e6,
					 ratio(r->set_per_s, s->set_per_s),
					 r->lookups_per_s / 1e6,
					 100 * ratio(r->lookups_per_s, res[d][w][0].lookups_per_s),
					 r->allocs_per_set);
				printf(" | %-32s", cell);
			}
			printf("\n");
		}
	}
	plot(&o, "waker_table", plot_script);
	return 0;
}
