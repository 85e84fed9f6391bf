/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * harness.h - the sweep the contention benchmarks share (waker_table,
 * reactor_e2e, park): designs x workloads x thread counts x repeats, with
 * every design run once per repeat, one after another in an order rotated
 * each repeat, so that the slow phases of a shared machine fall on all
 * designs alike.  For each point it keeps every run's metrics and reports
 * their median with the min-max; it writes one CSV row per point, prints a
 * table per workload with ratios against a named baseline design, and
 * writes (and, with gnuplot, draws) a plot of what was measured only.
 * Every table and CSV row carries nproc, the CPU model and the load average
 * at start and end (bench_machine, common.h).
 */
#ifndef LFR_BENCH_HARNESS_H
#define LFR_BENCH_HARNESS_H

#include <stdbool.h>

#include "common.h"

#define BENCH_MAX_METRICS 8
#define BENCH_MAX_WORKLOADS 8

enum {
	/* table and CSV: the median over the baseline's (and the
	 * reference's) at the same point */
	BENCH_RATIO = 1 << 0,
	/* table: the min-max of the runs beside the median, when there is
	 * more than one (the CSV always has them) */
	BENCH_SPREAD = 1 << 1,
	/* table and CSV: the median as a fraction of the same design's at 0
	 * threads; for the workloads swept from 0 */
	BENCH_SOLO = 1 << 2,
	/* counts what the swept threads do: at 0 threads there is nothing to
	 * count, and the table shows "-" rather than a 0 and its ratios */
	BENCH_SWEPT = 1 << 3,
};

struct bench_metric {
	const char *name;   /* CSV column; _min, _max, _x_<design>, _of_solo */
	const char *head;   /* table column */
	double scale;       /* the table shows value / scale */
	int decimals;       /* in the table */
	unsigned flags;     /* BENCH_RATIO | BENCH_SPREAD | BENCH_SOLO |
			     * BENCH_SWEPT */
	unsigned workloads; /* bit w: measured in workload w; 0: in all */
};

struct bench_workload {
	const char *name;
	const char *title;  /* the table's heading, after "[name] " */
	int fixed_threads;  /* > 0: one point at this count, not the sweep */
	bool zero;          /* swept from 0 (added when --threads lacks it) */
	/* threads a run has besides the swept ones (a poller, a firer): with
	 * these, rows running more threads than nproc are marked */
	int extra_threads;
};

/* One panel of the plot: a metric of a workload against thread count, a
 * line per design that measured it.  Panels of workloads not measured are
 * left out. */
struct bench_panel {
	int workload, metric;
	bool solo;          /* the fraction of solo rather than the value */
	const char *title, *ylabel;
	double scale;       /* y = value / scale */
	bool logy;
	bool from1;         /* leave the 0-thread point out */
	const char *yrange; /* NULL: [0:*], or [*:*] with logy */
};

struct bench_spec {
	const char *program;  /* CSV, plot and table names */
	const char *describe; /* what it measures, its fixed sizes: a line */
	const char *const *designs;
	int ndesigns;
	const char *baseline;  /* design the ratios are against */
	const char *reference; /* a second one, or NULL */
	const struct bench_workload *workloads;
	int nworkloads;
	const struct bench_metric *metrics;
	int nmetrics;
	const char *xname;     /* what the thread count counts: "executors" */
	/* NULL, or whether design d has workload w at all */
	bool (*applies)(int design, int workload);
	/* one run: fills out[nmetrics] (zeroed first); exits on failure */
	void (*run)(void *ctx, int design, int workload, int threads,
		    double seconds, double *out);
	void *ctx;
	const struct bench_panel *panels;
	int npanels;
	int plot_cols;         /* panels per row, at most */
	const char *plot_title;
	const char *plot_xlabel;
};

/* Prints the command, the description, the machine and the method, runs
 * the sweep, prints the tables under the machine's load at start and end,
 * and writes PROGRAM.csv and PROGRAM.gp (PROGRAM.png with gnuplot) in
 * o->outdir. */
void bench_sweep(const struct bench_spec *spec, const struct bench_opts *o);

#endif
