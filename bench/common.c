/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <sched.h>
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

int bench_nproc(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
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

struct bench_spread bench_spread(const double *v, int n)
{
	struct bench_spread s = { 0, 0, 0 };
	double *c;

	if (n <= 0)
		return s;
	c = malloc(sizeof(*c) * (size_t)n);
	if (!c)
		abort();
	memcpy(c, v, sizeof(*c) * (size_t)n);
	s.med = median(c, n); /* sorts c */
	s.min = c[0];
	s.max = c[n - 1];
	free(c);
	return s;
}

/* ---- the machine ------------------------------------------------------- */

static struct bench_load read_load(void)
{
	struct bench_load l = { false, { 0, 0, 0 } };
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		l.ok = fscanf(f, "%lf %lf %lf", &l.v[0], &l.v[1], &l.v[2]) == 3;
		fclose(f);
	}
	return l;
}

static void cpu_model(char *buf, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) != 0 || !colon)
			continue;
		colon += 1 + (colon[1] == ' ');
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(f);
	for (char *c = buf; *c; c++) /* it goes into a CSV field */
		if (*c == '"' || *c == ',')
			*c = ' ';
}

void bench_machine_start(struct bench_machine *m)
{
	memset(m, 0, sizeof(*m));
	m->nproc = bench_nproc();
	cpu_model(m->cpu, sizeof(m->cpu));
	m->start = read_load();
}

void bench_machine_end(struct bench_machine *m)
{
	m->end = read_load();
}

static void print_load(FILE *f, const char *when, const struct bench_load *l)
{
	if (l->ok)
		fprintf(f, "load average %s: %.2f %.2f %.2f\n", when, l->v[0],
			l->v[1], l->v[2]);
	else
		fprintf(f, "load average %s: unavailable\n", when);
}

void bench_machine_print(FILE *f, const struct bench_machine *m)
{
	fprintf(f, "nproc %d, cpu: %s\n", m->nproc, m->cpu);
	print_load(f, "at start", &m->start);
	if (m->end.ok)
		print_load(f, "at end", &m->end);
}

static void csv_load(FILE *f, const struct bench_load *l)
{
	for (int i = 0; i < 3; i++)
		if (l->ok)
			fprintf(f, ",%.2f", l->v[i]);
		else
			fputs(",", f);
}

void bench_machine_csv(FILE *f, const struct bench_machine *m)
{
	fprintf(f, ",%d", m->nproc);
	csv_load(f, &m->start);
	csv_load(f, &m->end);
	fprintf(f, ",\"%s\"", m->cpu);
}

void bench_print_command(FILE *f, int argc, char **argv)
{
	fprintf(f, "command:");
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (*a && strspn(a, "abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				    "_-+=./,:@%") == strlen(a))
			fprintf(f, " %s", a);
		else
			fprintf(f, " '%s'", a); /* good enough for a log line */
	}
	fprintf(f, "\n");
}

/* ---- latency histograms -------------------------------------------------- */

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

struct hist_node {
	struct hist h;
	struct hist_node *next;
};

static atomic_uint_fast64_t hist_gens = 1;
static __thread struct {
	uint64_t gen;
	struct hist *h;
} my_hist;

void hist_set_init(struct hist_set *s)
{
	pthread_mutex_init(&s->lock, NULL);
	s->head = NULL;
	s->gen = atomic_fetch_add(&hist_gens, 1);
}

struct hist *hist_set_mine(struct hist_set *s)
{
	struct hist_node *n;

	/* a set at the address of a finished one has another generation */
	if (my_hist.gen == s->gen)
		return my_hist.h;
	n = calloc(1, sizeof(*n));
	if (!n)
		abort();
	pthread_mutex_lock(&s->lock);
	n->next = s->head;
	s->head = n;
	pthread_mutex_unlock(&s->lock);
	my_hist.gen = s->gen;
	my_hist.h = &n->h;
	return &n->h;
}

void hist_set_finish(struct hist_set *s, struct hist *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->lock);
	while (s->head) {
		struct hist_node *n = s->head;

		s->head = n->next;
		hist_merge(out, &n->h);
		free(n);
	}
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_destroy(&s->lock);
}

double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

static void __attribute__((noreturn, format(printf, 3, 4)))
usage_exit(const char *argv0, const char *usage, const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		fprintf(stderr, "%s: ", argv0);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fprintf(stderr,
		"usage: %s [--threads N,N,...] [--seconds S] [--repeat R] "
		"[--quick] [--out DIR] [--only DESIGN/WORKLOAD]\n%s",
		argv0, usage);
	exit(2);
}

/* a whole number in [lo, hi], or the usage */
static long parse_int(const char *argv0, const char *usage, const char *opt,
		      const char *v, long lo, long hi)
{
	char *end;
	long x;

	errno = 0;
	x = strtol(v, &end, 10);
	if (errno || end == v || *end || x < lo || x > hi)
		usage_exit(argv0, usage, "%s %s: want a whole number from %ld "
			   "to %ld", opt, v, lo, hi);
	return x;
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

/* mkdir -p */
static int make_dirs(const char *dir)
{
	char path[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, n + 1);
	for (char *c = path + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			return -errno;
		*c = '/';
	}
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

void bench_parse(struct bench_opts *o, int argc, char **argv, bool with_zero,
		 const char *usage)
{
	int i, ret, cores = bench_nproc();
	bool seconds_set = false, repeat_set = false;

	bench_raise_fd_limit(); /* thousands of eventfds */

	memset(o, 0, sizeof(*o));
	o->seconds = 1.0;
	o->repeat = 3;
	o->outdir = "bench/results";
	o->argc = argc;
	o->argv = argv;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--quick") == 0) {
			o->quick = true;
			continue;
		}
		if (!v)
			usage_exit(argv[0], usage, "%s: unknown, or its value "
				   "is missing", a);
		if (strcmp(a, "--threads") == 0) {
			char *s = strdup(v), *tok, *save;

			if (!s)
				abort();
			o->nthreads = 0;
			for (tok = strtok_r(s, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				if (o->nthreads == BENCH_MAX_POINTS)
					usage_exit(argv[0], usage, "--threads: "
						   "at most %d counts",
						   BENCH_MAX_POINTS);
				o->threads[o->nthreads++] = (int)parse_int(
					argv[0], usage, "--threads", tok, 0,
					BENCH_MAX_THREADS);
			}
			free(s);
			if (!o->nthreads)
				usage_exit(argv[0], usage, "--threads: empty");
		} else if (strcmp(a, "--seconds") == 0) {
			char *end;

			o->seconds = strtod(v, &end);
			if (end == v || *end || !(o->seconds > 0) ||
			    o->seconds > 3600)
				usage_exit(argv[0], usage, "--seconds %s: want "
					   "more than 0 and at most 3600", v);
			seconds_set = true;
		} else if (strcmp(a, "--repeat") == 0) {
			o->repeat = (int)parse_int(argv[0], usage, "--repeat",
						   v, 1, BENCH_MAX_REPEAT);
			repeat_set = true;
		} else if (strcmp(a, "--only") == 0) {
			o->only = v;
		} else if (strcmp(a, "--out") == 0) {
			o->outdir = v;
		} else {
			usage_exit(argv[0], usage, "%s: unknown option", a);
		}
		i++;
	}
	/* now, not when the CSV is written after minutes of runs */
	ret = make_dirs(o->outdir);
	if (ret < 0 || access(o->outdir, W_OK) != 0) {
		fprintf(stderr, "%s: --out %s: %s\n", argv[0], o->outdir,
			strerror(ret < 0 ? -ret : errno));
		exit(1);
	}
	/* --quick shortens what was not asked for explicitly */
	if (o->quick && !seconds_set)
		o->seconds = 0.05;
	if (o->quick && !repeat_set)
		o->repeat = 1;
	if (!o->nthreads) {
		if (with_zero)
			o->threads[o->nthreads++] = 0;
		for (i = 1; i <= 2 * cores && o->nthreads < BENCH_MAX_POINTS;
		     i++)
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

	(void)make_dirs(o->outdir); /* if it fails, fopen says why */
	snprintf(path, sizeof(path), "%s/%s.csv", o->outdir, name);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
	if (header)
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
		   "set key outside right top vertical font ',9'\nset grid\n"
		   "set offsets 0,0,graph 0.05,0\n%s",
		o->outdir, name, o->outdir, name, script);
	fclose(f);
	printf("\ncsv: %s/%s.csv\n", o->outdir, name);
	fflush(stdout); /* before gnuplot's own output */
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
