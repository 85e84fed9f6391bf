/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common.h - what the benchmark programs share: options, clocks, a
 * reference-counted task waker, allocation counting, medians, CSV, the
 * machine a run was made on, latency histograms.  The sweep itself is in
 * harness.h. */
#ifndef LFR_BENCH_COMMON_H
#define LFR_BENCH_COMMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <lfreactor.h>

#define BENCH_MAX_THREADS 256
/* --repeat above this is refused: samples are kept per run, and a sweep of
 * more is a mistake rather than a measurement */
#define BENCH_MAX_REPEAT 10000
#define BENCH_MAX_POINTS 64 /* entries in --threads */

struct bench_opts {
	int threads[BENCH_MAX_POINTS]; /* executor thread counts to sweep */
	int nthreads;
	double seconds;    /* per run */
	int repeat;        /* runs per point; the median is kept */
	bool quick;
	const char *outdir; /* CSV and PNG go here */
	const char *only;  /* run only cases whose "design/workload" holds it */
	int argc;          /* the command, for the header */
	char **argv;
};

bool bench_selected(const struct bench_opts *o, const char *design,
		    const char *workload);

/* --threads 0,1,2,4  --seconds S  --repeat N  --quick  --out DIR  --only S
 * default threads: 0 (where the program wants a solo point) .. 2 x nproc;
 * --quick: 0.05 s, one repeat, threads 1 and 2 x nproc, where --seconds,
 * --repeat and --threads do not say otherwise.  Makes --out's directory. */
void bench_parse(struct bench_opts *o, int argc, char **argv, bool with_zero,
		 const char *usage);

/* raises the soft limit on open files to the hard one; returns it */
int bench_raise_fd_limit(void);

double now_sec(void);
uint64_t now_ns(void);
double median(double *v, int n); /* sorts v */
double ratio(double a, double b); /* a / b, 0 when b is 0 */

/* median, min and max of n values (v is left as it is) */
struct bench_spread {
	double med, min, max;
};
struct bench_spread bench_spread(const double *v, int n);

/* what `nproc` prints: the CPUs this process may run on */
int bench_nproc(void);

/* ---- the machine a run was made on ------------------------------------- */

struct bench_load {
	bool ok;
	double v[3];
};

struct bench_machine {
	int nproc;
	char cpu[256];            /* model name, without commas or quotes */
	struct bench_load start, end;
};

/* nproc, CPU model and load average now; _end takes the load again */
void bench_machine_start(struct bench_machine *m);
void bench_machine_end(struct bench_machine *m);
/* "nproc N, cpu: X" and the load averages known so far, one line each */
void bench_machine_print(FILE *f, const struct bench_machine *m);
/* CSV columns with the same, appended to every row */
#define BENCH_MACHINE_CSV_HEAD \
	"nproc,load1_start,load5_start,load15_start,load1_end,load5_end," \
	"load15_end,cpu"
void bench_machine_csv(FILE *f, const struct bench_machine *m); /* ",..." */

/* "command: ./bench/x --y z" */
void bench_print_command(FILE *f, int argc, char **argv);

/* A task as an executor would hold it: a reference count and a wake count,
 * on a line of its own. */
struct task {
	_Alignas(64) atomic_long refs;
	atomic_long wakes;
};
extern const struct lfr_waker_vtable task_vtable;
struct lfr_waker task_waker(struct task *t);

/* Allocations made by the calling thread (malloc, calloc, realloc,
 * posix_memalign, aligned_alloc are wrapped in this program). */
unsigned long thread_allocations(void);

/* CSV: opens DIR/NAME.csv, writes the header line unless it is NULL */
FILE *csv_open(const struct bench_opts *o, const char *name,
	       const char *header);
/* says where DIR/NAME.csv is, writes DIR/NAME.gp (script, with FILE set to
 * that CSV) and runs gnuplot on it if gnuplot is installed; says where the
 * PNG is */
void plot(const struct bench_opts *o, const char *name, const char *script);

/* Latency histogram: 16 sub-buckets per power of two (about 6% wide). */
#define HIST_BUCKETS 1024
struct hist {
	uint64_t count;
	uint64_t b[HIST_BUCKETS];
};
void hist_add(struct hist *h, uint64_t ns);
void hist_merge(struct hist *into, const struct hist *from);
uint64_t hist_quantile(const struct hist *h, double q); /* ns */

/* The histograms of one run, one per thread that records into it: a thread
 * gets its own on its first record, so recording takes no lock, and the set
 * frees them all when the run ends.  Every run starts threads of its own
 * (pollers, executors); a registry that outlived runs would grow with each. */
struct hist_node;
struct hist_set {
	pthread_mutex_t lock;
	struct hist_node *head;
	uint64_t gen; /* unique to this set: a thread's cached histogram is
		       * its own only while the generations match */
};
void hist_set_init(struct hist_set *s);
struct hist *hist_set_mine(struct hist_set *s); /* the calling thread's */
/* sums the set into *out and frees it: no thread may record into it any
 * more (join them first) */
void hist_set_finish(struct hist_set *s, struct hist *out);

void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
