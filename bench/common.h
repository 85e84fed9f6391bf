/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common.h - what the benchmark programs share: options, clocks, a
 * reference-counted task waker, allocation counting, medians, CSV. */
#ifndef LFR_BENCH_COMMON_H
#define LFR_BENCH_COMMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <lfreactor.h>

#define BENCH_MAX_THREADS 256

struct bench_opts {
	int threads[64];   /* executor thread counts to sweep */
	int nthreads;
	double seconds;    /* per measured point */
	int repeat;        /* points per configuration; the median is kept */
	bool quick;
	const char *outdir; /* CSV and PNG go here */
	const char *only;   /* run only cases whose "design/workload" holds this */
};

bool bench_selected(const struct bench_opts *o, const char *design,
		    const char *workload);

/* --threads 0,1,2,4  --seconds S  --repeat N  --quick  --out DIR  --only S
 * default threads: 0 (where the program wants a solo point) .. 2 x cores */
void bench_parse(struct bench_opts *o, int argc, char **argv, bool with_zero,
		 const char *usage);

/* raises the soft limit on open files to the hard one; returns it */
int bench_raise_fd_limit(void);

double now_sec(void);
uint64_t now_ns(void);
double median(double *v, int n);
double ratio(double a, double b); /* a / b, 0 when b is 0 */
int ncores(void);

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

/* CSV: opens DIR/NAME, writes the header line */
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

void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
