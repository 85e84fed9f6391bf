/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

/* ---- allocation counting ----------------------------------------------- */

/* The benchmarks link with -Wl,--wrap=malloc (and the rest, Makefile.am):
 * every call from this program and from the statically linked library goes
 * through these, static or dynamic build alike. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **out, size_t align, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t b);
void *__wrap_realloc(void *p, size_t n);
int __wrap_posix_memalign(void **out, size_t align, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);

static __thread unsigned long allocations;

unsigned long thread_allocations(void)
{
	return allocations;
}

void *__wrap_malloc(size_t n)
{
	allocations++;
	return __real_malloc(n);
}

void *__wrap_calloc(size_t a, size_t b)
{
	allocations++;
	return __real_calloc(a, b);
}

void *__wrap_realloc(void *p, size_t n)
{
	allocations++;
	return __real_realloc(p, n);
}

int __wrap_posix_memalign(void **out, size_t align, size_t n)
{
	allocations++;
	return __real_posix_memalign(out, align, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
	allocations++;
	return __real_aligned_alloc(align, n);
}

/* ---- tasks ----------------------------------------------------------------- */

static struct lfr_waker task_clone(void *data)
{
	struct task *t = data;

	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	return task_waker(t);
}

static void task_wake_by_ref(void *data)
{
	struct task *t = data;

	atomic_fetch_add_explicit(&t->wakes, 1, memory_order_relaxed);
}

static void task_drop(void *data)
{
	struct task *t = data;

	atomic_fetch_sub_explicit(&t->refs, 1, memory_order_release);
}

static void task_wake(void *data)
{
	task_wake_by_ref(data);
	task_drop(data);
}

const struct lfr_waker_vtable task_vtable = {
	task_clone, task_wake, task_wake_by_ref, task_drop,
};

struct lfr_waker task_waker(struct task *t)
{
	struct lfr_waker w = { &task_vtable, t };

	return w;
}

/* ---- options, clocks, statistics ----------------------------------------- */

int ncores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double median(double *v, int n)
{
	if (n <= 0)
		return 0;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static unsigned hist_index(uint64_t v)
{
	unsigned e;

	if (v < 16)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	return (e - 3) * 16 + (unsigned)((v >> (e - 4)) & 15);
}

static uint64_t hist_value(unsigned i)
{
	unsigned e;

	if (i < 16)
		return i;
	e = i / 16 + 3;
	return (16ull + i % 16) << (e - 4);
}

void hist_add(struct hist *h, uint64_t ns)
{
	h->b[hist_index(ns)]++;
	h->count++;
}

void hist_merge(struct hist *into, const struct hist *from)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->b[i] += from->b[i];
	into->count += from->count;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t want = (uint64_t)(q * (double)h->count), seen = 0;

	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen > want)
			return hist_value(i);
	}
	return 0;
}

double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

static void usage_exit(const char *argv0, const char *usage)
{
	fprintf(stderr,
		"usage: %s [--threads N,N,...] [--seconds S] [--repeat R] "
		"[--quick] [--out DIR] [--only DESIGN/WORKLOAD]\n%s",
		argv0, usage);
	exit(2);
}

int bench_raise_fd_limit(void)
{
	struct rlimit l;

	if (getrlimit(RLIMIT_NOFILE, &l) != 0)
		return 1024;
	if (l.rlim_cur < l.rlim_max) {
		l.rlim_cur = l.rlim_max;
		setrlimit(RLIMIT_NOFILE, &l);
		getrlimit(RLIMIT_NOFILE, &l);
	}
	return l.rlim_cur > 1 << 30 ? 1 << 30 : (int)l.rlim_cur;
}

void bench_parse(struct bench_opts *o, int argc, char **argv, bool with_zero,
		 const char *usage)
{
	int i, cores = ncores();

	bench_raise_fd_limit(); /* thousands of eventfds */

	memset(o, 0, sizeof(*o));
	o->seconds = 1.0;
	o->repeat = 3;
	o->outdir = "bench/results";
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--quick") == 0) {
			o->quick = true;
		} else if (strcmp(a, "--threads") == 0 && v) {
			char *s = strdup(v), *tok, *save;

			o->nthreads = 0;
			for (tok = strtok_r(s, ",", &save); tok && o->nthreads < 64;
			     tok = strtok_r(NULL, ",", &save)) {
				int n = atoi(tok);

				if (n < 0 || n > BENCH_MAX_THREADS)
					usage_exit(argv[0], usage);
				o->threads[o->nthreads++] = n;
			}
			free(s);
			i++;
		} else if (strcmp(a, "--seconds") == 0 && v) {
			o->seconds = atof(v);
			i++;
		} else if (strcmp(a, "--repeat") == 0 && v) {
			o->repeat = atoi(v);
			i++;
		} else if (strcmp(a, "--only") == 0 && v) {
			o->only = v;
			i++;
		} else if (strcmp(a, "--out") == 0 && v) {
			o->outdir = v;
			i++;
		} else {
			usage_exit(argv[0], usage);
		}
	}
	if (o->seconds <= 0 || o->repeat < 1)
		usage_exit(argv[0], usage);
	if (o->quick) {
		o->seconds = 0.05;
		o->repeat = 1;
	}
	if (!o->nthreads) {
		if (with_zero)
			o->threads[o->nthreads++] = 0;
		for (i = 1; i <= 2 * cores && o->nthreads < 64; i++)
			if (!o->quick || i == 1 || i == 2 * cores)
				o->threads[o->nthreads++] = i;
	}
}

bool bench_selected(const struct bench_opts *o, const char *design,
		    const char *workload)
{
	char name[256];

	if (!o->only)
		return true;
	snprintf(name, sizeof(name), "%s/%s", design, workload);
	return strstr(name, o->only) != NULL;
}

FILE *csv_open(const struct bench_opts *o, const char *name,
	       const char *header)
{
	char path[4096];
	FILE *f;

	mkdir(o->outdir, 0755);
	snprintf(path, sizeof(path), "%s/%s.csv", o->outdir, name);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
	fprintf(f, "%s\n", header);
	return f;
}

void plot(const struct bench_opts *o, const char *name, const char *script)
{
	char path[4096], cmd[8300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.gp", o->outdir, name);
	f = fopen(path, "w");
	if (!f)
		return;
	fprintf(f, "FILE = '%s/%s.csv'\n"
		   "set terminal pngcairo size 1400,860 noenhanced font ',10'\n"
		   "set output '%s/%s.png'\nset datafile separator ','\n"
		   "set key top left font ',9' opaque\nset grid\nset xtics 1\n"
		   "set offsets 0.2,0.2,0,0\n%s",
		o->outdir, name, o->outdir, name, script);
	fclose(f);
	printf("\ncsv: %s/%s.csv\n", o->outdir, name);
	if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
		printf("(gnuplot not installed: %s written, no PNG)\n", path);
		return;
	}
	snprintf(cmd, sizeof(cmd), "gnuplot '%s'", path);
	if (system(cmd) == 0)
		printf("plot: %s/%s.png\n", o->outdir, name);
}

void progress(const char *fmt, ...)
{
	va_list ap;

	if (!isatty(STDERR_FILENO))
		return;
	va_start(ap, fmt);
	fputs("\r\033[K", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}
