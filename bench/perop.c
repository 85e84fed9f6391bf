/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * perop - what one call costs, in ns of process CPU time, one calling
 * thread, N live ids (--ids, default 4096).  Operations:
 *   same      set_waker(id, w) with w the waker already stored (the re-arm)
 *   new       set_waker(id, w) with a different task's waker every call
 *   regdereg  register an eventfd under a fresh id, then deregister it
 * Designs:
 *   lfreactor the public API, lfr_reactor_new(NULL) (its poller idles in
 *             epoll_wait); for same and new N eventfds are registered
 *   seed      the seed's mutex map (bench/baselines/maps.c); its register
 *             is epoll_ctl ADD plus a map insert, its deregister a map
 *             remove plus epoll_ctl DEL, on an epoll instance of its own
 *   ck_ht     Concurrency Kit's ck_ht with a writer mutex, the same way
 *   epoll     raw epoll_ctl ADD + DEL with the pointer in epoll_data
 *             (regdereg only)
 *
 * The clock is CLOCK_PROCESS_CPUTIME_ID, so work the library defers to its
 * own threads (the maintainer dropping replaced wakers and freeing retired
 * entries) counts; after each batch the program sleeps until the process
 * goes quiet before it reads the clock, so that work is charged to the
 * batch that caused it (idle threads cost no CPU time while it waits).
 * Ids are visited in one pseudo-random order, the same for every design,
 * so the cost includes the cache misses of N live registrations.  Each
 * repeat runs every design once per operation, in an order rotated each
 * repeat, so the slow phases of a shared machine fall on all designs; the
 * median over the repeats is reported with its min and max.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "baselines/maps.h"

enum op { SAME, NEW, REGDEREG, NOPS };
static const char *op_name[NOPS] = { "same", "new", "regdereg" };
static const char *op_title[NOPS] = { "same waker", "new waker",
				      "register+deregister" };

enum kind { LFREACTOR, SEED, CK_HT, EPOLL, NDESIGNS };

#ifdef PEROP_SHARED
/* perop-shared: lfreactor through the shared library, whose allocator
 * calls the wrapper does not see */
#define PEROP_NAME "perop-shared"
#define ALLOCS_COUNTED(kind) ((kind) != LFREACTOR)
#else
#define PEROP_NAME "perop"
#define ALLOCS_COUNTED(kind) true
#endif
static const char *design_name[NDESIGNS] = { "lfreactor", "seed", "ck_ht",
					     "epoll" };

#define DEFAULT_IDS 4096
#define DEFAULT_SET_CALLS 2000000ull /* about 0.1-0.2 s of set_waker */
#define REG_DIVISOR 20               /* a register pair costs ~20 set_wakers */
#define QUICK_DIVISOR 20
#define DEFAULT_REPEAT 9
#define QUICK_REPEAT 3
#define MAX_IDS (1 << 20)

/* Quiet means QUIET_INTERVALS sleeps in a row of QUIET_NS each during which
 * the process used under QUIET_CPU_S (0.5% of a CPU: the sleeping thread's
 * own system calls, not a thread at work).  Each sleep outlasts the maintainer's
 * reclaim window (5 ms), so a batch's deferred frees are not mistaken for
 * quiet. */
#define QUIET_NS 20000000L
#define QUIET_INTERVALS 2
#define QUIET_CPU_S 100e-6
#define SETTLE_MAX_S 5.0

struct design {
	enum kind kind;
	const char *name;
	const struct map_ops *map_ops; /* seed, ck_ht */
	void *map;
	struct lfr_reactor *reactor;   /* lfreactor */
	int epfd;                      /* seed, ck_ht, epoll */
	lfr_id *ids;                   /* the live id of index i */
	lfr_id next_id;                /* fresh ids for the maps' register */
	struct task *tasks;            /* index i's tasks: 2i and 2i + 1 */
	unsigned char *which;          /* which of the two is stored */
	bool runs[NOPS];
	double *ns[NOPS];              /* ns per call, one per repeat */
	uint64_t calls[NOPS];          /* measured calls, all repeats */
	unsigned long allocs[NOPS];    /* their allocations */
};

struct bench {
	unsigned nids;
	unsigned *perm;     /* the visiting order of the indexes */
	int *live_fds;      /* registered with lfreactor for same and new */
	int *pool_fds;      /* registered and deregistered by regdereg */
	uint64_t batch[NOPS];
	int repeat;
};

struct summary {
	bool ok;
	double med, min, max;
	double allocs;
};

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	progress("%s", "");
	fputs("perop: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p)
		die("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

static double cpu_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
		die("clock_gettime(CLOCK_PROCESS_CPUTIME_ID): %s",
		    strerror(errno));
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sleeps until the process is quiet; returns its CPU time then. */
static double settle(void)
{
	struct timespec nap = { 0, QUIET_NS };
	double t = cpu_now(), start = now_sec();
	int quiet = 0;

	while (quiet < QUIET_INTERVALS) {
		double u;

		if (now_sec() - start > SETTLE_MAX_S) {
			fprintf(stderr, "perop: warning: the process did not "
				"go quiet within %.0f s\n", SETTLE_MAX_S);
			break;
		}
		nanosleep(&nap, NULL);
		u = cpu_now();
		quiet = u - t < QUIET_CPU_S ? quiet + 1 : 0;
		t = u;
	}
	return t;
}

static int epoll_add(int epfd, int fd, uint64_t data)
{
	/* the events lfreactor asks for with LFR_READABLE */
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET,
				  .data.u64 = data };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int epoll_del(int epfd, int fd)
{
	return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

/* ---- the operations ------------------------------------------------------ */

/* same (flip 0) and new (flip 1): one set_waker per call */
static void set_wakers(const struct bench *b, struct design *d,
		       unsigned char flip, uint64_t calls)
{
	unsigned k = 0;

	for (uint64_t j = 0; j < calls; j++) {
		unsigned i = b->perm[k];
		struct lfr_waker w;
		int ret;

		if (++k == b->nids)
			k = 0;
		d->which[i] ^= flip;
		w = task_waker(&d->tasks[2 * i + d->which[i]]);
		if (d->reactor) {
			ret = lfr_reactor_set_waker(d->reactor, &w, d->ids[i]);
			if (ret < 0)
				die("%s: lfr_reactor_set_waker(id %llu): %s",
				    d->name, (unsigned long long)d->ids[i],
				    lfr_strerror(ret));
		} else {
			ret = d->map_ops->set_waker(d->map, &w, d->ids[i]);
			if (ret < 0)
				die("%s: set_waker(id %llu): %s", d->name,
				    (unsigned long long)d->ids[i],
				    strerror(-ret));
		}
	}
}

static void reg_lfreactor(const struct bench *b, struct design *d,
			  uint64_t calls)
{
	unsigned k = 0;

	for (uint64_t j = 0; j < calls; j++) {
		int fd = b->pool_fds[b->perm[k]], ret;
		lfr_id id = lfr_reactor_next_id(d->reactor);

		if (++k == b->nids)
			k = 0;
		ret = lfr_reactor_register(d->reactor, fd, LFR_READABLE, id);
		if (ret < 0)
			die("%s: lfr_reactor_register(fd %d, id %llu): %s",
			    d->name, fd, (unsigned long long)id,
			    lfr_strerror(ret));
		ret = lfr_reactor_deregister(d->reactor, fd, id);
		if (ret < 0)
			die("%s: lfr_reactor_deregister(fd %d, id %llu): %s",
			    d->name, fd, (unsigned long long)id,
			    lfr_strerror(ret));
	}
}

/* register: epoll_ctl ADD and map insert; deregister: map remove (the seed
 * removes the waker first) and epoll_ctl DEL */
static void reg_map(const struct bench *b, struct design *d, uint64_t calls)
{
	unsigned k = 0;

	for (uint64_t j = 0; j < calls; j++) {
		int fd = b->pool_fds[b->perm[k]], ret;
		lfr_id id = d->next_id++;

		if (++k == b->nids)
			k = 0;
		ret = epoll_add(d->epfd, fd, id);
		if (ret < 0)
			die("%s: epoll_ctl(ADD, fd %d): %s", d->name, fd,
			    strerror(-ret));
		ret = d->map_ops->insert(d->map, id);
		if (ret < 0)
			die("%s: insert(id %llu): %s", d->name,
			    (unsigned long long)id, strerror(-ret));
		ret = d->map_ops->remove(d->map, id);
		if (ret < 0)
			die("%s: remove(id %llu): %s", d->name,
			    (unsigned long long)id, strerror(-ret));
		ret = epoll_del(d->epfd, fd);
		if (ret < 0)
			die("%s: epoll_ctl(DEL, fd %d): %s", d->name, fd,
			    strerror(-ret));
	}
}

static void reg_epoll(const struct bench *b, struct design *d, uint64_t calls)
{
	unsigned k = 0;

	for (uint64_t j = 0; j < calls; j++) {
		unsigned i = b->perm[k];
		int fd = b->pool_fds[i], ret;

		if (++k == b->nids)
			k = 0;
		ret = epoll_add(d->epfd, fd,
				(uint64_t)(uintptr_t)&d->tasks[2 * i]);
		if (ret < 0)
			die("%s: epoll_ctl(ADD, fd %d): %s", d->name, fd,
			    strerror(-ret));
		ret = epoll_del(d->epfd, fd);
		if (ret < 0)
			die("%s: epoll_ctl(DEL, fd %d): %s", d->name, fd,
			    strerror(-ret));
	}
}

static void run_batch(const struct bench *b, struct design *d, enum op op,
		      uint64_t calls)
{
	if (op == SAME || op == NEW)
		set_wakers(b, d, op == NEW, calls);
	else if (d->kind == LFREACTOR)
		reg_lfreactor(b, d, calls);
	else if (d->kind == EPOLL)
		reg_epoll(b, d, calls);
	else
		reg_map(b, d, calls);
}

/* ---- set-up and tear-down -------------------------------------------------- */

static void design_init(const struct bench *b, struct design *d,
			enum kind kind, const struct bench_opts *o)
{
	unsigned n = b->nids;

	d->kind = kind;
	d->name = design_name[kind];
	d->epfd = -1;
	d->map_ops = kind == SEED ? &map_seed : kind == CK_HT ? &map_ck_ht : NULL;
	for (int op = 0; op < NOPS; op++) {
		d->runs[op] = (kind != EPOLL || op == REGDEREG) &&
			      bench_selected(o, d->name, op_name[op]);
		d->ns[op] = xcalloc((size_t)b->repeat, sizeof(double));
	}
	/* tasks on lines of their own, as an executor's would be */
	d->tasks = aligned_alloc(64, 2 * (size_t)n * sizeof(*d->tasks));
	if (!d->tasks)
		die("out of memory for %u tasks", 2 * n);
	for (unsigned i = 0; i < 2 * n; i++) {
		atomic_init(&d->tasks[i].refs, 1);
		atomic_init(&d->tasks[i].wakes, 0);
	}
	d->which = xcalloc(n, 1);
	d->ids = xcalloc(n, sizeof(*d->ids));

	if (kind == LFREACTOR) {
		int ret = lfr_reactor_new(NULL, &d->reactor);

		if (ret < 0)
			die("lfr_reactor_new: %s", lfr_strerror(ret));
		for (unsigned i = 0; i < n; i++) {
			struct lfr_waker w = task_waker(&d->tasks[2 * i]);

			d->ids[i] = lfr_reactor_next_id(d->reactor);
			ret = lfr_reactor_register(d->reactor, b->live_fds[i],
						   LFR_READABLE, d->ids[i]);
			if (ret < 0)
				die("lfreactor: lfr_reactor_register(fd %d): %s",
				    b->live_fds[i], lfr_strerror(ret));
			ret = lfr_reactor_set_waker(d->reactor, &w, d->ids[i]);
			if (ret < 0)
				die("lfreactor: lfr_reactor_set_waker: %s",
				    lfr_strerror(ret));
		}
		return;
	}
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		die("%s: epoll_create1: %s", d->name, strerror(errno));
	/* the same live registrations in every design's epoll set as in
	 * lfreactor's: registering costs more in a fuller set */
	for (unsigned i = 0; i < n; i++) {
		int ret = epoll_add(d->epfd, b->live_fds[i], i + 1);

		if (ret < 0)
			die("%s: epoll_ctl(ADD, fd %d): %s", d->name,
			    b->live_fds[i], strerror(-ret));
	}
	if (!d->map_ops)
		return;
	d->map = d->map_ops->create(2 * (unsigned long)n);
	if (!d->map)
		die("%s: creating the map failed", d->name);
	for (unsigned i = 0; i < n; i++) {
		struct lfr_waker w = task_waker(&d->tasks[2 * i]);
		int ret;

		d->ids[i] = i + 1;
		ret = d->map_ops->insert(d->map, d->ids[i]);
		if (ret == 0)
			ret = d->map_ops->set_waker(d->map, &w, d->ids[i]);
		if (ret < 0)
			die("%s: setting up id %u: %s", d->name, i + 1,
			    strerror(-ret));
	}
	d->next_id = (lfr_id)n + 1;
}

static void design_free(const struct bench *b, struct design *d)
{
	long leaked = 0;

	lfr_reactor_free(d->reactor); /* drops every waker it held */
	if (d->map)
		d->map_ops->destroy(d->map);
	if (d->epfd >= 0 && close(d->epfd) != 0)
		die("%s: close(epoll fd): %s", d->name, strerror(errno));
	/* every reference the design took must be back */
	for (unsigned i = 0; i < 2 * b->nids; i++)
		leaked += atomic_load(&d->tasks[i].refs) - 1;
	if (leaked)
		die("%s: %ld task references not released at the end",
		    d->name, leaked);
	for (int op = 0; op < NOPS; op++)
		free(d->ns[op]);
	free(d->tasks);
	free(d->which);
	free(d->ids);
}

static int *open_eventfds(unsigned n)
{
	int *fds = xcalloc(n, sizeof(*fds));

	for (unsigned i = 0; i < n; i++) {
		fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fds[i] < 0)
			die("eventfd (number %u): %s", i + 1, strerror(errno));
	}
	return fds;
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (close(fds[i]) != 0)
			die("close(%d): %s", fds[i], strerror(errno));
	free(fds);
}

/* Fisher-Yates with a fixed seed: the same order in every run and design */
static unsigned *permutation(unsigned n)
{
	unsigned *p = xcalloc(n, sizeof(*p));
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (unsigned i = 0; i < n; i++)
		p[i] = i;
	for (unsigned i = n - 1; i > 0; i--) {
		unsigned j, t;

		x ^= x << 13; /* xorshift64 */
		x ^= x >> 7;
		x ^= x << 17;
		j = (unsigned)(x % (i + 1));
		t = p[i];
		p[i] = p[j];
		p[j] = t;
	}
	return p;
}

/* ---- options ------------------------------------------------------------------ */

static const char *usage_text =
	"perop: ns of process CPU time per call, one thread, N live ids.\n"
	"  --ids N      live ids, and eventfds per pool (default 4096)\n"
	"  --calls N    set_waker calls per batch (default 2000000, --quick\n"
	"               100000); register+deregister pairs: N / 20\n"
	"  --repeat R   batches per design and operation, interleaved\n"
	"               (default 9, --quick 3, at most 10000); the median\n"
	"               is reported\n"
	"  --only S     substring of design/operation (operations: same,\n"
	"               new, regdereg)\n"
	"  --threads and --seconds have no effect: one calling thread,\n"
	"  fixed batches.\n";

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [--ids N] [--calls N] [--repeat R] "
		"[--quick] [--out DIR] [--only DESIGN/OPERATION]\n%s",
		argv0, usage_text);
	exit(2);
}

static unsigned long long parse_count(const char *argv0, const char *opt,
				      const char *v, unsigned long long lo,
				      unsigned long long hi)
{
	char *end;
	unsigned long long x = 0;

	errno = 0;
	if (v && *v >= '0' && *v <= '9')
		x = strtoull(v, &end, 10);
	if (!v || *v < '0' || *v > '9' || errno || *end || x < lo || x > hi) {
		fprintf(stderr, "%s: %s %s: want a whole number from %llu to "
			"%llu\n", argv0, opt, v ? v : "(missing)", lo, hi);
		usage(argv0);
	}
	return x;
}

/* Takes --ids and --calls out of argv (bench_parse knows the rest) and
 * notes --repeat, which bench_parse's --quick would override. */
static void parse(struct bench_opts *o, struct bench *b, int argc,
		  char **argv)
{
	char **rest = xcalloc((size_t)argc + 1, sizeof(*rest));
	unsigned long long calls = 0;
	int nrest = 0, repeat = 0;

	b->nids = DEFAULT_IDS;
	for (int i = 0; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (i > 0 && strcmp(argv[i], "--ids") == 0) {
			b->nids = (unsigned)parse_count(argv[0], "--ids", v, 1,
							MAX_IDS);
			i++;
		} else if (i > 0 && strcmp(argv[i], "--calls") == 0) {
			calls = parse_count(argv[0], "--calls", v, 1,
					    1ull << 40);
			i++;
		} else {
			if (i > 0 && strcmp(argv[i], "--repeat") == 0)
				repeat = (int)parse_count(argv[0], "--repeat",
							  v, 1, BENCH_MAX_REPEAT);
			rest[nrest++] = argv[i];
		}
	}
	bench_parse(o, nrest, rest, false, usage_text);
	free(rest);
	o->argc = argc; /* not the freed copy */
	o->argv = argv;

	b->repeat = repeat ? repeat : o->quick ? QUICK_REPEAT : DEFAULT_REPEAT;
	if (!calls)
		calls = DEFAULT_SET_CALLS / (o->quick ? QUICK_DIVISOR : 1);
	b->batch[SAME] = calls;
	b->batch[NEW] = calls;
	b->batch[REGDEREG] = calls / REG_DIVISOR ? calls / REG_DIVISOR : 1;
}

/* ---- results ------------------------------------------------------------------ */

static struct summary summarize(const struct bench *b, const struct design *d,
				enum op op)
{
	struct summary s = { 0 };
	struct bench_spread sp;

	if (!d->runs[op])
		return s;
	sp = bench_spread(d->ns[op], b->repeat);
	s.ok = true;
	s.med = sp.med;
	s.min = sp.min;
	s.max = sp.max;
	s.allocs = d->calls[op] ? (double)d->allocs[op] / (double)d->calls[op]
				: 0;
	return s;
}

static void print_ratio(FILE *f, bool csv, const struct summary *a,
			const struct summary *base)
{
	bool ok = a->ok && base->ok && base->med > 0;

	if (csv && ok)
		fprintf(f, ",%.4f", a->med / base->med);
	else if (csv)
		fputs(",", f);
	else if (ok)
		fprintf(f, " %7.2fx", a->med / base->med);
	else
		fprintf(f, " %8s", "-");
}

int main(int argc, char **argv)
{
	static struct design designs[NDESIGNS];
	struct summary sum[NOPS][NDESIGNS];
	struct bench_machine machine;
	struct bench_opts o;
	struct bench b = { 0 };
	int fd_limit;
	FILE *csv;

	bench_machine_start(&machine);
	bench_print_command(stdout, argc, argv);
	parse(&o, &b, argc, argv);
	bench_machine_print(stdout, &machine);
	printf("perop: ns of process CPU time per call (every thread of the "
	       "process counts), 1 calling thread, %u live ids; batches of "
	       "%llu set_waker calls or %llu register+deregister pairs; "
	       "median of %d repeats, designs interleaved in an order rotated "
	       "each repeat\n",
	       b.nids, (unsigned long long)b.batch[SAME],
	       (unsigned long long)b.batch[REGDEREG], b.repeat);
	fflush(stdout);

	/* lfreactor's N live fds and the pool, plus a few of its own */
	fd_limit = bench_raise_fd_limit();
	if ((long)fd_limit < 2L * b.nids + 64)
		die("%u ids need %ld open files, the limit is %d: use --ids "
		    "%d or less", b.nids, 2L * b.nids + 64, fd_limit,
		    (fd_limit - 64) / 2);
	b.perm = permutation(b.nids);
	b.live_fds = open_eventfds(b.nids);
	b.pool_fds = open_eventfds(b.nids);
	for (int k = 0; k < NDESIGNS; k++)
		design_init(&b, &designs[k], (enum kind)k, &o);

	/* one unmeasured batch each: page faults, table growth, the
	 * allocator's arenas */
	for (int op = 0; op < NOPS; op++)
		for (int k = 0; k < NDESIGNS; k++) {
			if (!designs[k].runs[op])
				continue;
			progress("warm-up: %s %s", op_name[op], designs[k].name);
			run_batch(&b, &designs[k], (enum op)op, b.batch[op]);
			settle();
		}

	for (int r = 0; r < b.repeat; r++)
		for (int op = 0; op < NOPS; op++) {
			struct design *order[NDESIGNS];
			int n = 0;

			for (int k = 0; k < NDESIGNS; k++)
				if (designs[k].runs[op])
					order[n++] = &designs[k];
			for (int k = 0; k < n; k++) {
				struct design *d = order[(k + r) % n];
				unsigned long a0;
				double t0, t1;

				progress("repeat %d/%d: %s %s", r + 1, b.repeat,
					 op_name[op], d->name);
				a0 = thread_allocations();
				t0 = cpu_now();
				run_batch(&b, d, (enum op)op, b.batch[op]);
				d->allocs[op] += thread_allocations() - a0;
				/* the deferred work lands before t1 */
				t1 = settle();
				d->ns[op][r] = (t1 - t0) * 1e9 /
					       (double)b.batch[op];
				d->calls[op] += b.batch[op];
			}
		}
	progress("%s", "");
	bench_machine_end(&machine);

	for (int op = 0; op < NOPS; op++)
		for (int k = 0; k < NDESIGNS; k++)
			sum[op][k] = summarize(&b, &designs[k], (enum op)op);

	printf("\n" PEROP_NAME " results\n");
	bench_machine_print(stdout, &machine);
	printf("%-20s %-10s %9s %-19s %8s %8s %11s\n", "operation", "design",
	       "ns/call", " (min-max)", "x seed", "x epoll", "allocs/call");
	for (int op = 0; op < NOPS; op++)
		for (int k = 0; k < NDESIGNS; k++) {
			struct summary *s = &sum[op][k];
			char spread[64];

			/* not run, or no such operation (raw epoll has
			 * no waker to set): no row */
			if (!s->ok)
				continue;
			snprintf(spread, sizeof(spread), " (%.1f-%.1f)", s->min,
				 s->max);
			printf("%-20s %-10s %9.1f %-19s", op_title[op],
			       design_name[k], s->med, spread);
			print_ratio(stdout, false, s, &sum[op][SEED]);
			print_ratio(stdout, false, s, &sum[op][EPOLL]);
			if (ALLOCS_COUNTED(k))
				printf(" %11.2f\n", s->allocs);
			else
				printf(" %11s\n", "-");
		}

	csv = csv_open(&o, PEROP_NAME,
		       "operation,design,median_ns,min_ns,max_ns,ratio_seed,"
		       "ratio_epoll,allocs_per_call,calls_per_batch,repeats,"
		       "ids," BENCH_MACHINE_CSV_HEAD);
	for (int op = 0; op < NOPS; op++)
		for (int k = 0; k < NDESIGNS; k++) {
			struct summary *s = &sum[op][k];

			if (!s->ok)
				continue;
			fprintf(csv, "%s,%s,%.2f,%.2f,%.2f", op_name[op],
				design_name[k], s->med, s->min, s->max);
			print_ratio(csv, true, s, &sum[op][SEED]);
			print_ratio(csv, true, s, &sum[op][EPOLL]);
			if (ALLOCS_COUNTED(k))
				fprintf(csv, ",%.4f", s->allocs);
			else
				fputc(',', csv);
			fprintf(csv, ",%llu,%d,%u",
				(unsigned long long)b.batch[op], b.repeat,
				b.nids);
			bench_machine_csv(csv, &machine);
			fputc('\n', csv);
		}
	if (fclose(csv) != 0)
		die("writing %s/" PEROP_NAME ".csv: %s", o.outdir,
		    strerror(errno));
	printf("csv: %s/" PEROP_NAME ".csv\n", o.outdir);

	for (int k = 0; k < NDESIGNS; k++)
		design_free(&b, &designs[k]);
	close_fds(b.live_fds, b.nids);
	close_fds(b.pool_fds, b.nids);
	free(b.perm);
	return 0;
}
