/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * timers - lfreactor's timers (one heap behind one timerfd per reactor,
 * lfreactor/timer.h) against one timerfd per timer, registered with the
 * same reactor.  Each run first makes N live timers (LFR_BENCH_TIMERS,
 * default 100000) armed 60-120 s away, split over the threads, then:
 *   arm-cancel  each thread arms a spare timer of its own 1-60 s away and
 *               cancels it, again and again: pairs per second.
 *   arm-reset   each thread resets its live timers in turn to 60-120 s
 *               away (an idle timeout pushed back on every request):
 *               resets per second.
 *   accuracy    one thread arms 1000 more timers at deadlines spread over
 *               the run; the poller's wake of each records how late it
 *               came (p50, p99).  The firing share says none was lost.
 * The sweep, medians, tables, CSV and plot: harness.h.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common.h"
#include "harness.h"

enum design { LFREACTOR, TIMERFD, NDESIGNS };
enum workload { ARM_CANCEL, ARM_RESET, ACCURACY, NWORKLOADS };
enum { OPS_PER_S, LATE_P50, LATE_P99, FIRED_SHARE, NMETRICS };

#define SEC 1000000000ull
#define FIRING 1000

struct ctx {
	int live; /* N */
};

/* one timer of either design */
struct tmr {
	struct lfr_timer *t; /* LFREACTOR */
	int fd;              /* TIMERFD */
	lfr_id id;
};

/* a firing timer's waker: records its lateness on the poller thread */
struct probe {
	uint64_t deadline;
	struct hist_set *hists;
	atomic_int *fired;
	atomic_bool done;
};

static void probe_wake_by_ref(void *data)
{
	struct probe *p = data;
	uint64_t now = now_ns();

	if (atomic_exchange(&p->done, true))
		return; /* a later event of the same timer */
	hist_add(hist_set_mine(p->hists), now > p->deadline ? now - p->deadline
							    : 0);
	atomic_fetch_add(p->fired, 1);
}

static void probe_drop(void *data)
{
	(void)data;
}

static struct lfr_waker probe_clone(void *data);
static const struct lfr_waker_vtable probe_vtable = {
	probe_clone, probe_wake_by_ref, probe_wake_by_ref, probe_drop
};

static struct lfr_waker probe_clone(void *data)
{
	struct lfr_waker w = { &probe_vtable, data };

	return w;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "timers: %s: %s\n", what, lfr_strerror(err));
	exit(1);
}

static void tmr_new(struct lfr_reactor *r, enum design d, struct tmr *t)
{
	int ret;

	if (d == LFREACTOR) {
		ret = lfr_timer_new(r, &t->t);
		if (ret)
			die("lfr_timer_new", ret);
		return;
	}
	t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->fd < 0)
		die("timerfd_create (raise ulimit -n, or LFR_BENCH_TIMERS)",
		    -errno);
	t->id = lfr_reactor_next_id(r);
	ret = lfr_reactor_register(r, t->fd, LFR_READABLE, t->id);
	if (ret)
		die("lfr_reactor_register", ret);
}

/* the deadline (CLOCK_MONOTONIC ns) */
static void tmr_arm(enum design d, struct tmr *t, uint64_t deadline)
{
	struct itimerspec when = { { 0, 0 }, { 0, 0 } };

	if (d == LFREACTOR) {
		lfr_timer_arm(t->t, deadline, LFR_TIMER_DEADLINE);
		return;
	}
	when.it_value.tv_sec = (time_t)(deadline / SEC);
	when.it_value.tv_nsec = (long)(deadline % SEC);
	timerfd_settime(t->fd, TFD_TIMER_ABSTIME, &when, NULL);
}

static void tmr_cancel(enum design d, struct tmr *t)
{
	static const struct itimerspec off = { { 0, 0 }, { 0, 0 } };

	if (d == LFREACTOR)
		lfr_timer_cancel(t->t);
	else
		timerfd_settime(t->fd, 0, &off, NULL);
}

static void tmr_free(struct lfr_reactor *r, enum design d, struct tmr *t)
{
	if (d == LFREACTOR) {
		lfr_timer_free(t->t);
		return;
	}
	lfr_reactor_deregister(r, t->fd, t->id);
	close(t->fd);
}

struct worker {
	enum design d;
	enum workload wl;
	struct tmr *mine; /* its share of the live timers */
	int nmine;
	struct tmr spare;
	atomic_bool *stop;
	pthread_barrier_t *start;
	uint64_t ops, seed;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int i = 0;

	pthread_barrier_wait(w->start);
	while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
		/* 64 operations between looks at the clock and the flag */
		for (int k = 0; k < 64; k++) {
			uint64_t now = now_ns();

			if (w->wl == ARM_CANCEL) {
				tmr_arm(w->d, &w->spare,
					now + SEC + rnd(&w->seed) % (59 * SEC));
				tmr_cancel(w->d, &w->spare);
			} else {
				tmr_arm(w->d, &w->mine[i],
					now + 60 * SEC + rnd(&w->seed) % (60 * SEC));
				if (++i == w->nmine)
					i = 0;
			}
		}
		w->ops += 64;
	}
	return NULL;
}

/* the firing timers of the accuracy workload, over about seconds; the
 * caller sums the histograms once the reactor is freed (a dispatch in
 * flight may still record until then) */
static int arm_and_wait(struct lfr_reactor *r, enum design d, double seconds,
			struct probe *probes, struct hist_set *hists)
{
	struct tmr *t = calloc(FIRING, sizeof(*t));
	atomic_int fired = 0;
	uint64_t t0, span = (uint64_t)(seconds * 1e9), seed = 88172645463325252ull;
	struct lfr_waker w;
	int i, err;

	if (!t)
		abort();
	t0 = now_ns() + 10000000; /* from 10 ms on */
	for (i = 0; i < FIRING; i++) {
		probes[i].deadline = t0 + rnd(&seed) % (span ? span : 1);
		probes[i].hists = hists;
		probes[i].fired = &fired;
		w = probe_clone(&probes[i]);
		tmr_new(r, d, &t[i]);
		if (d == LFREACTOR) {
			if (lfr_timer_poll(t[i].t, &w, &err) != LFR_PENDING)
				die("lfr_timer_poll", err);
		} else if ((err = lfr_reactor_set_waker(r, &w, t[i].id))) {
			die("lfr_reactor_set_waker", err);
		}
		tmr_arm(d, &t[i], probes[i].deadline);
	}
	/* every deadline passes, then 1 s more at most for the stragglers */
	while (now_ns() < t0 + span + 2000000)
		usleep(1000);
	for (i = 0; i < 1000 && atomic_load(&fired) < FIRING; i++)
		usleep(1000);
	for (i = 0; i < FIRING; i++)
		tmr_free(r, d, &t[i]);
	free(t);
	return atomic_load(&fired);
}

static void run(void *vctx, int design, int workload, int threads,
		double seconds, double *out)
{
	struct ctx *ctx = vctx;
	enum design d = (enum design)design;
	struct lfr_reactor *r;
	struct tmr *live = calloc((size_t)ctx->live, sizeof(*live));
	struct worker *w = calloc((size_t)threads, sizeof(*w));
	pthread_t *th = calloc((size_t)threads, sizeof(*th));
	struct probe *probes = NULL;
	struct hist_set hists;
	static struct hist late; /* 8 KiB: not on the stack */
	pthread_barrier_t start;
	atomic_bool stop = false;
	uint64_t seed = 0x9e3779b97f4a7c15ull, now, ops = 0;
	double t0, t1;
	int i, ret;

	if (!live || !w || !th)
		abort();
	memset(&late, 0, sizeof(late));
	ret = lfr_reactor_new(NULL, &r);
	if (ret)
		die("lfr_reactor_new", ret);
	now = now_ns();
	for (i = 0; i < ctx->live; i++) {
		tmr_new(r, d, &live[i]);
		tmr_arm(d, &live[i], now + 60 * SEC + rnd(&seed) % (60 * SEC));
	}
	if (workload == ACCURACY) {
		probes = calloc(FIRING, sizeof(*probes));
		if (!probes)
			abort();
		hist_set_init(&hists);
		out[FIRED_SHARE] = (double)arm_and_wait(r, d, seconds, probes,
							&hists) / FIRING;
		goto done;
	}
	pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
	for (i = 0; i < threads; i++) {
		int from = (int)((long)ctx->live * i / threads);
		int to = (int)((long)ctx->live * (i + 1) / threads);

		w[i] = (struct worker){ .d = d, .wl = (enum workload)workload,
					.mine = live + from, .nmine = to - from,
					.stop = &stop, .start = &start,
					.seed = seed + 7919u * (uint64_t)(i + 1) };
		if (w[i].nmine == 0) { /* more threads than timers */
			w[i].mine = live;
			w[i].nmine = 1;
		}
		tmr_new(r, d, &w[i].spare);
		if (pthread_create(&th[i], NULL, worker_main, &w[i]))
			abort();
	}
	pthread_barrier_wait(&start);
	t0 = now_sec();
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&stop, true);
	for (i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		ops += w[i].ops;
		tmr_free(r, d, &w[i].spare);
	}
	t1 = now_sec();
	out[OPS_PER_S] = (double)ops / (t1 - t0);
	pthread_barrier_destroy(&start);
done:
	for (i = 0; i < ctx->live; i++)
		tmr_free(r, d, &live[i]);
	lfr_reactor_free(r);
	if (probes) {
		hist_set_finish(&hists, &late);
		out[LATE_P50] = (double)hist_quantile(&late, 0.50);
		out[LATE_P99] = (double)hist_quantile(&late, 0.99);
		free(probes);
	}
	free(live);
	free(w);
	free(th);
}

static bool applies(int design, int workload)
{
	(void)design;
	(void)workload;
	return true;
}

static const struct bench_workload workloads[NWORKLOADS] = {
	[ARM_CANCEL] = { "arm-cancel", "each thread arms a spare timer 1-60 s "
			 "away and cancels it, among N live timers", 0, false,
			 1 },
	[ARM_RESET] = { "arm-reset", "each thread pushes its live timers back "
			"to 60-120 s away, in turn", 0, false, 1 },
	[ACCURACY] = { "accuracy", "1000 timers spread over the run, among N "
		       "live ones: how late the wake comes", 1, false, 1 },
};

#define IN(w) (1u << (w))
static const struct bench_metric metrics[NMETRICS] = {
	[OPS_PER_S] = { "ops_per_s", "M ops/s", 1e6, 2,
			BENCH_RATIO | BENCH_SPREAD,
			IN(ARM_CANCEL) | IN(ARM_RESET) },
	[LATE_P50] = { "late_p50_ns", "p50 late us", 1e3, 1, BENCH_SPREAD,
		       IN(ACCURACY) },
	[LATE_P99] = { "late_p99_ns", "p99 late us", 1e3, 1, BENCH_SPREAD,
		       IN(ACCURACY) },
	[FIRED_SHARE] = { "fired_share", "fired", 1, 3, 0, IN(ACCURACY) },
};

static const struct bench_panel panels[] = {
	{ ARM_CANCEL, OPS_PER_S, false, "arm+cancel pairs per second",
	  "M pairs/s", 1e6, false, false, NULL },
	{ ARM_RESET, OPS_PER_S, false, "resets per second", "M resets/s", 1e6,
	  false, false, NULL },
};

int main(int argc, char **argv)
{
	static const char *const names[NDESIGNS] = { "lfreactor", "timerfd" };
	const char *env = getenv("LFR_BENCH_TIMERS");
	struct ctx ctx = { env ? atoi(env) : 100000 };
	char describe[256];
	struct bench_opts o;
	struct bench_spec spec = {
		.program = "timers",
		.describe = describe,
		.designs = names,
		.ndesigns = NDESIGNS,
		.baseline = "timerfd",
		.workloads = workloads,
		.nworkloads = NWORKLOADS,
		.metrics = metrics,
		.nmetrics = NMETRICS,
		.xname = "threads",
		.applies = applies,
		.run = run,
		.ctx = &ctx,
		.panels = panels,
		.npanels = (int)(sizeof(panels) / sizeof(panels[0])),
		.plot_cols = 2,
		.plot_title = "timers: one heap and timerfd against a timerfd "
			      "per timer",
		.plot_xlabel = "threads arming",
	};
	bool want_fds = false;
	int limit;

	bench_parse(&o, argc, argv, false,
		    "Workloads: arm-cancel, arm-reset (swept over threads), "
		    "accuracy (one thread).\n"
		    "LFR_BENCH_TIMERS sets the live timers (default 100000, "
		    "10000 with --quick;\nthe timerfd design needs that many "
		    "fds: ulimit -n).\n");
	if (o.quick && !env)
		ctx.live = 10000;
	if (ctx.live < 1) {
		fprintf(stderr, "timers: LFR_BENCH_TIMERS=%s: want 1 or more\n",
			env);
		return 2;
	}
	limit = bench_raise_fd_limit();
	for (int wl = 0; wl < NWORKLOADS; wl++)
		want_fds |= bench_selected(&o, "timerfd", workloads[wl].name);
	if (want_fds && limit < ctx.live + FIRING + 256) {
		if (env) {
			fprintf(stderr, "timers: %d live timers need %d fds for "
				"the timerfd design, the limit is %d: raise "
				"ulimit -n or lower LFR_BENCH_TIMERS\n",
				ctx.live, ctx.live + FIRING + 256, limit);
			return 2;
		}
		/* the default does not fit: as many as do, said in the
		 * description */
		ctx.live = limit - FIRING - 256;
		if (ctx.live < 1) {
			fprintf(stderr, "timers: ulimit -n %d is too low\n",
				limit);
			return 2;
		}
	}
	snprintf(describe, sizeof(describe),
		 "%d live timers armed 60-120 s away%s; 1 poller; lateness is "
		 "deadline-to-wake on the poller, the lower bound of a bucket "
		 "about 6%% wide", ctx.live,
		 want_fds && !env && ctx.live < (o.quick ? 10000 : 100000)
			 ? " (cut to fit ulimit -n)" : "");
	bench_sweep(&spec, &o);
	return 0;
}
