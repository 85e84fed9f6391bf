/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* harness.c - the sweep, the statistics, the CSV, the tables and the plot
 * of harness.h */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define MAX_DESIGNS 8

struct point {
	int threads;
	double *samples[MAX_DESIGNS]; /* repeat x nmetrics; NULL: not run */
	struct bench_spread st[MAX_DESIGNS][BENCH_MAX_METRICS];
};

struct workload_run {
	struct point *points;
	int npoints;
	bool measured;
};

struct sweep {
	const struct bench_spec *s;
	const struct bench_opts *o;
	struct bench_machine m;
	struct workload_run w[BENCH_MAX_WORKLOADS];
	int baseline, reference; /* design indexes, -1 if none */
};

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	return p;
}

static int design_index(const struct bench_spec *s, const char *name)
{
	for (int d = 0; name && d < s->ndesigns; d++)
		if (strcmp(s->designs[d], name) == 0)
			return d;
	return -1;
}

static bool metric_in(const struct bench_metric *m, int w)
{
	return !m->workloads || (m->workloads >> w & 1);
}

/* the thread counts of workload w: a fixed one, or --threads, from 0 where
 * the workload wants the solo point and without 0 where it does not */
static struct point *points_of(const struct bench_workload *wl,
			       const struct bench_opts *o, int *n)
{
	struct point *p = xcalloc((size_t)o->nthreads + 1, sizeof(*p));
	bool has_zero = false;

	*n = 0;
	if (wl->fixed_threads > 0) {
		p[(*n)++].threads = wl->fixed_threads;
		return p;
	}
	for (int i = 0; i < o->nthreads; i++)
		has_zero |= o->threads[i] == 0;
	if (wl->zero && !has_zero)
		p[(*n)++].threads = 0;
	for (int i = 0; i < o->nthreads; i++)
		if (o->threads[i] > 0 || wl->zero)
			p[(*n)++].threads = o->threads[i];
	return p;
}

static bool oversubscribed(const struct sweep *sw, int w, int threads)
{
	return threads + sw->s->workloads[w].extra_threads > sw->m.nproc;
}

/* R repeats of every selected design at one point, the designs in an
 * order rotated each repeat; then each metric's median and min-max */
static void measure_point(struct sweep *sw, int w, struct point *p,
			  const int *sel, int nsel)
{
	const struct bench_spec *s = sw->s;
	const struct bench_opts *o = sw->o;
	int nm = s->nmetrics;
	double out[BENCH_MAX_METRICS], *v;

	for (int k = 0; k < nsel; k++)
		p->samples[sel[k]] = xcalloc((size_t)o->repeat * (size_t)nm,
					     sizeof(double));
	for (int r = 0; r < o->repeat; r++)
		for (int k = 0; k < nsel; k++) {
			int d = sel[(k + r) % nsel];

			progress("%s %s %s=%d run %d/%d", s->designs[d],
				 s->workloads[w].name, s->xname, p->threads,
				 r + 1, o->repeat);
			memset(out, 0, sizeof(out));
			s->run(s->ctx, d, w, p->threads, o->seconds, out);
			memcpy(p->samples[d] + (size_t)r * nm, out,
			       sizeof(double) * (size_t)nm);
		}
	v = xcalloc((size_t)o->repeat, sizeof(*v));
	for (int k = 0; k < nsel; k++)
		for (int m = 0; m < nm; m++) {
			for (int r = 0; r < o->repeat; r++)
				v[r] = p->samples[sel[k]][(size_t)r * nm + m];
			p->st[sel[k]][m] = bench_spread(v, o->repeat);
		}
	free(v);
}

static void measure(struct sweep *sw)
{
	const struct bench_spec *s = sw->s;

	for (int w = 0; w < s->nworkloads; w++) {
		struct workload_run *wr = &sw->w[w];
		int sel[MAX_DESIGNS], nsel = 0;

		for (int d = 0; d < s->ndesigns; d++)
			if (bench_selected(sw->o, s->designs[d],
					   s->workloads[w].name) &&
			    (!s->applies || s->applies(d, w)))
				sel[nsel++] = d;
		wr->points = points_of(&s->workloads[w], sw->o, &wr->npoints);
		wr->measured = nsel > 0 && wr->npoints > 0;
		for (int i = 0; wr->measured && i < wr->npoints; i++)
			measure_point(sw, w, &wr->points[i], sel, nsel);
	}
	progress("%s", "");
}

/* the median of design d's metric m over design `over`'s at the same
 * point; false when either is missing or the divisor is 0 */
static bool point_ratio(const struct point *p, int d, int over, int m,
			double *r)
{
	if (over < 0 || !p->samples[d] || !p->samples[over] ||
	    !(p->st[over][m].med > 0))
		return false;
	*r = p->st[d][m].med / p->st[over][m].med;
	return true;
}

/* design d's metric m at p as a fraction of its own at 0 threads */
static bool point_solo(const struct workload_run *wr, const struct point *p,
		       int d, int m, double *r)
{
	for (int i = 0; i < wr->npoints; i++) {
		const struct point *z = &wr->points[i];

		if (z->threads == 0 && z->samples[d] && z->st[d][m].med > 0) {
			*r = p->st[d][m].med / z->st[d][m].med;
			return true;
		}
	}
	return false;
}

static bool has_solo(const struct sweep *sw, const struct bench_metric *m,
		     int w)
{
	return (m->flags & BENCH_SOLO) && sw->s->workloads[w].zero;
}

/* ---- CSV ---------------------------------------------------------------- */

/* a design's name as part of a column name */
static void csv_name(FILE *f, const char *prefix, const char *design)
{
	fprintf(f, ",%s_x_", prefix);
	for (const char *c = design; *c; c++)
		fputc(*c == '-' ? '_' : *c, f);
}

static void csv_num(FILE *f, double v)
{
	if (v >= 1000 || v <= -1000)
		fprintf(f, ",%.0f", v);
	else
		fprintf(f, ",%.4f", v);
}

static void csv_opt(FILE *f, bool ok, double v)
{
	if (ok)
		fprintf(f, ",%.4f", v);
	else
		fputs(",", f);
}

static void csv_row(FILE *f, const struct sweep *sw, int w, int d,
		    const struct point *p)
{
	const struct bench_spec *s = sw->s;
	const struct workload_run *wr = &sw->w[w];

	fprintf(f, "%s,%s,%d,%d", s->designs[d], s->workloads[w].name,
		p->threads, sw->o->repeat);
	for (int m = 0; m < s->nmetrics; m++) {
		const struct bench_metric *me = &s->metrics[m];
		const struct bench_spread *st = &p->st[d][m];
		bool in = metric_in(me, w), ok;
		double r = 0;

		if (in) {
			csv_num(f, st->med);
			csv_num(f, st->min);
			csv_num(f, st->max);
		} else {
			fputs(",,,", f);
		}
		/* r is set by the test: not an argument beside it */
		if (me->flags & BENCH_RATIO) {
			ok = in && point_ratio(p, d, sw->baseline, m, &r);
			csv_opt(f, ok, r);
		}
		if ((me->flags & BENCH_RATIO) && sw->reference >= 0) {
			ok = in && point_ratio(p, d, sw->reference, m, &r);
			csv_opt(f, ok, r);
		}
		if (me->flags & BENCH_SOLO) {
			ok = in && has_solo(sw, me, w) &&
			     point_solo(wr, p, d, m, &r);
			csv_opt(f, ok, r);
		}
	}
	bench_machine_csv(f, &sw->m);
	fputc('\n', f);
}

static void write_csv(const struct sweep *sw)
{
	const struct bench_spec *s = sw->s;
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.csv", sw->o->outdir, s->program);
	f = csv_open(sw->o, s->program, NULL); /* the header is built here */
	fprintf(f, "design,workload,%s,repeats", s->xname);
	for (int m = 0; m < s->nmetrics; m++) {
		const struct bench_metric *me = &s->metrics[m];

		fprintf(f, ",%s,%s_min,%s_max", me->name, me->name, me->name);
		if (me->flags & BENCH_RATIO) {
			csv_name(f, me->name, s->baseline);
			if (sw->reference >= 0)
				csv_name(f, me->name, s->reference);
		}
		if (me->flags & BENCH_SOLO)
			fprintf(f, ",%s_of_solo", me->name);
	}
	fprintf(f, ",%s\n", BENCH_MACHINE_CSV_HEAD);

	/* a design's points in a row: gnuplot breaks a line at a row that is
	 * not the line's */
	for (int w = 0; w < s->nworkloads; w++) {
		const struct workload_run *wr = &sw->w[w];

		for (int d = 0; d < s->ndesigns && wr->measured; d++)
			for (int i = 0; i < wr->npoints; i++)
				if (wr->points[i].samples[d])
					csv_row(f, sw, w, d, &wr->points[i]);
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "writing %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* ---- tables ------------------------------------------------------------- */

#define CELL 40
#define MAX_COLS (2 + BENCH_MAX_METRICS * 5)

struct table {
	int cols, rows, cap;
	char (*cell)[MAX_COLS][CELL];
	bool left[MAX_COLS];
};

static char *cell(struct table *t, int row, int col)
{
	if (row >= t->cap) {
		t->cap = t->cap ? 2 * t->cap : 16;
		t->cell = realloc(t->cell, sizeof(*t->cell) * (size_t)t->cap);
		if (!t->cell)
			abort();
	}
	if (row >= t->rows) {
		memset(t->cell[row], 0, sizeof(t->cell[row]));
		t->rows = row + 1;
	}
	return t->cell[row][col];
}

static void __attribute__((format(printf, 4, 5)))
put(struct table *t, int row, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cell(t, row, col), CELL, fmt, ap);
	va_end(ap);
}

static void put_ratio(struct table *t, int row, int col, bool ok, double r)
{
	if (!ok)
		put(t, row, col, "-");
	else if (r < 0.1)
		put(t, row, col, "%.2gx", r); /* two digits, not 0.00x */
	else
		put(t, row, col, "%.2fx", r);
}

static void table_print(const struct table *t)
{
	int width[MAX_COLS] = { 0 };

	for (int r = 0; r < t->rows; r++)
		for (int c = 0; c < t->cols; c++) {
			int n = (int)strlen(t->cell[r][c]);

			if (n > width[c])
				width[c] = n;
		}
	for (int r = 0; r < t->rows; r++) {
		for (int c = 0; c < t->cols; c++)
			printf("%s%*s", c ? "  " : "", t->left[c] ? -width[c] :
			       width[c], t->cell[r][c]);
		printf("\n");
	}
}

/* one run has no spread to show */
static bool show_spread(const struct sweep *sw, const struct bench_metric *m)
{
	return (m->flags & BENCH_SPREAD) && sw->o->repeat > 1;
}

/* design d's cells at point p from column c on: each metric's median,
 * min-max, ratios and fraction of solo, as the heading row names them */
static void table_cells(struct table *t, int row, int c,
			const struct sweep *sw, int w, const struct point *p,
			int d)
{
	const struct bench_spec *s = sw->s;

	for (int m = 0; m < s->nmetrics; m++) {
		const struct bench_metric *me = &s->metrics[m];
		const struct bench_spread *st = &p->st[d][m];
		double r = 0;
		bool ok, none;

		if (!metric_in(me, w))
			continue;
		/* nothing was counted: "-", no spread, no ratios */
		none = (me->flags & BENCH_SWEPT) && p->threads == 0;
		if (none)
			put(t, row, c++, "-");
		else
			put(t, row, c++, "%.*f", me->decimals,
			    st->med / me->scale);
		if (show_spread(sw, me) && !none)
			put(t, row, c, "(%.*f-%.*f)", me->decimals,
			    st->min / me->scale, me->decimals,
			    st->max / me->scale);
		if (show_spread(sw, me))
			c++;
		if (me->flags & BENCH_RATIO) {
			ok = !none && point_ratio(p, d, sw->baseline, m, &r);
			put_ratio(t, row, c++, ok, r);
		}
		if ((me->flags & BENCH_RATIO) && sw->reference >= 0) {
			ok = !none &&
			     point_ratio(p, d, sw->reference, m, &r);
			put_ratio(t, row, c++, ok, r);
		}
		if (has_solo(sw, me, w)) {
			if (point_solo(&sw->w[w], p, d, m, &r))
				put(t, row, c, "%.0f%%", 100 * r);
			else
				put(t, row, c, "-");
			c++;
		}
	}
}

static void print_table(const struct sweep *sw, int w)
{
	const struct bench_spec *s = sw->s;
	const struct bench_workload *wl = &s->workloads[w];
	const struct workload_run *wr = &sw->w[w];
	struct table t = { 0 };
	bool marked = false;
	int row = 0, c = 0;

	/* the heading row */
	t.left[1] = true;
	put(&t, row, c++, "%s", s->xname);
	put(&t, row, c++, "design");
	for (int m = 0; m < s->nmetrics; m++) {
		const struct bench_metric *me = &s->metrics[m];

		if (!metric_in(me, w))
			continue;
		put(&t, row, c++, "%s", me->head);
		if (show_spread(sw, me)) {
			t.left[c] = true;
			put(&t, row, c++, "(min-max)");
		}
		if (me->flags & BENCH_RATIO)
			put(&t, row, c++, "x %s", s->baseline);
		if ((me->flags & BENCH_RATIO) && sw->reference >= 0)
			put(&t, row, c++, "x %s", s->reference);
		if (has_solo(sw, me, w))
			put(&t, row, c++, "of solo");
	}
	t.cols = c;

	/* a row per design and point, the count on the point's first */
	for (int i = 0; i < wr->npoints; i++) {
		const struct point *p = &wr->points[i];
		bool first = true, over = oversubscribed(sw, w, p->threads);

		marked |= over;
		for (int d = 0; d < s->ndesigns; d++) {
			if (!p->samples[d])
				continue;
			row++;
			if (first)
				put(&t, row, 0, "%s%d", over ? "*" : "",
				    p->threads);
			first = false;
			put(&t, row, 1, "%s", s->designs[d]);
			table_cells(&t, row, 2, sw, w, p, d);
		}
	}
	printf("\n[%s] %s\n", wl->name, wl->title);
	if (marked && wl->extra_threads)
		printf("* these rows run more threads (%s + %d) than nproc "
		       "(%d): their wall-clock rates include time-slicing\n",
		       s->xname, wl->extra_threads, sw->m.nproc);
	else if (marked)
		printf("* these rows run more threads than nproc (%d): their "
		       "wall-clock rates include time-slicing\n", sw->m.nproc);
	table_print(&t);
	free(t.cell);
}

/* ---- the plot ----------------------------------------------------------- */

/* the CSV column (from 1) of metric m's median, or of its fraction of solo */
static int csv_column(const struct sweep *sw, int m, bool solo)
{
	int col = 5;

	for (int k = 0; k < m; k++) {
		unsigned fl = sw->s->metrics[k].flags;

		col += 3;
		if (fl & BENCH_RATIO)
			col += sw->reference >= 0 ? 2 : 1;
		if (fl & BENCH_SOLO)
			col++;
	}
	if (solo) {
		unsigned fl = sw->s->metrics[m].flags;

		col += 3;
		if (fl & BENCH_RATIO)
			col += sw->reference >= 0 ? 2 : 1;
	}
	return col;
}

/* the points of a panel that gnuplot can draw, and their ranges */
struct extent {
	int n;
	double xlo, xhi, ylo, yhi; /* y as plotted: value / scale */
	int nx;                    /* the thread counts drawn, once each */
	int xs[BENCH_MAX_POINTS + 1];
};

static void add_x(struct extent *e, int x)
{
	for (int i = 0; i < e->nx; i++)
		if (e->xs[i] == x)
			return;
	if (e->nx < BENCH_MAX_POINTS + 1)
		e->xs[e->nx++] = x;
}

/* adds design d's drawable points in panel pa to *e; returns how many */
static int curve_extent(const struct sweep *sw, const struct bench_panel *pa,
			int d, struct extent *e)
{
	const struct workload_run *wr = &sw->w[pa->workload];
	int n = 0;

	for (int i = 0; i < wr->npoints; i++) {
		const struct point *p = &wr->points[i];
		double v = 0, x = p->threads;

		if (!p->samples[d] || (pa->from1 && p->threads < 1))
			continue;
		if (pa->solo && !point_solo(wr, p, d, pa->metric, &v))
			continue;
		if (!pa->solo)
			v = p->st[d][pa->metric].med;
		v /= pa->scale > 0 ? pa->scale : 1;
		if (pa->logy && !(v > 0))
			continue; /* log scale: undefined */
		add_x(e, p->threads);
		if (!e->n++) {
			e->xlo = e->xhi = x;
			e->ylo = e->yhi = v;
		}
		e->xlo = x < e->xlo ? x : e->xlo;
		e->xhi = x > e->xhi ? x : e->xhi;
		e->ylo = v < e->ylo ? v : e->ylo;
		e->yhi = v > e->yhi ? v : e->yhi;
		n++;
	}
	return n;
}

static bool panel_extent(const struct sweep *sw, const struct bench_panel *pa,
			 struct extent *e)
{
	memset(e, 0, sizeof(*e));
	if (!sw->w[pa->workload].measured ||
	    (pa->solo && !has_solo(sw, &sw->s->metrics[pa->metric],
				   pa->workload)))
		return false;
	for (int d = 0; d < sw->s->ndesigns; d++)
		curve_extent(sw, pa, d, e);
	return e->n > 0;
}

/* the x axis spans the thread counts drawn, a little wider so that the
 * end points are not on the frame, with a tic at each count and none
 * between; y ranges gnuplot would find empty (one value) are widened here
 * rather than by gnuplot with a warning */
static void panel_ranges(FILE *f, const struct bench_panel *pa,
			 const struct extent *e)
{
	double pad = (e->xhi - e->xlo) / 20;

	if (pad < 0.5)
		pad = 0.5;
	fprintf(f, "set xrange [%g:%g]\nset xtics (", e->xlo - pad,
		e->xhi + pad);
	for (int i = 0; i < e->nx; i++)
		fprintf(f, "%s%d", i ? ", " : "", e->xs[i]);
	fprintf(f, ")\n");
	if (pa->yrange)
		fprintf(f, "set yrange %s\n", pa->yrange);
	else if (pa->logy && e->ylo == e->yhi)
		fprintf(f, "set yrange [%g:%g]\n", e->ylo / 2, e->yhi * 2);
	else if (pa->logy)
		fprintf(f, "set yrange [*:*]\n");
	else if (e->yhi <= 0)
		fprintf(f, "set yrange [0:1]\n");
	else
		fprintf(f, "set yrange [0:*]\n");
}

static void write_plot(const struct sweep *sw)
{
	const struct bench_spec *s = sw->s;
	char *script = NULL, path[4096];
	struct extent e;
	size_t len = 0;
	int n = 0, cols;
	FILE *f;

	for (int i = 0; i < s->npanels; i++)
		n += panel_extent(sw, &s->panels[i], &e);
	if (!n) {
		/* an earlier run's plot would pass for this one's */
		snprintf(path, sizeof(path), "%s/%s.png", sw->o->outdir,
			 s->program);
		unlink(path);
		printf("\ncsv: %s/%s.csv\n(no plot: nothing measured that "
		       "it draws)\n", sw->o->outdir, s->program);
		return;
	}
	cols = n < s->plot_cols ? n : s->plot_cols;
	f = open_memstream(&script, &len);
	if (!f)
		abort();
	fprintf(f, "set multiplot layout %d,%d title '%s'\nset xlabel '%s'\n",
		(n + cols - 1) / cols, cols, s->plot_title, s->plot_xlabel);
	for (int i = 0; i < s->npanels; i++) {
		const struct bench_panel *pa = &s->panels[i];
		const char *sep = "plot ";
		int col = csv_column(sw, pa->metric, pa->solo);

		if (!panel_extent(sw, pa, &e))
			continue;
		fprintf(f, "set title '%s'\nset ylabel '%s'\n%s\n", pa->title,
			pa->ylabel, pa->logy ? "set logscale y" :
					       "unset logscale y");
		panel_ranges(f, pa, &e);
		/* a line only for the designs with a point in this panel */
		for (int d = 0; d < s->ndesigns; d++) {
			struct extent mine = { 0 };

			if (!curve_extent(sw, pa, d, &mine))
				continue;
			fprintf(f, "%sFILE using 3:(strcol(1) eq '%s' && "
				"strcol(2) eq '%s'", sep, s->designs[d],
				s->workloads[pa->workload].name);
			if (pa->from1)
				fprintf(f, " && $3 > 0");
			if (pa->logy)
				fprintf(f, " && $%d > 0", col);
			fprintf(f, " ? $%d/%g : 1/0) with linespoints "
				"title '%s'", col,
				pa->scale > 0 ? pa->scale : 1, s->designs[d]);
			sep = ", \\\n     ";
		}
		fprintf(f, "\n");
	}
	fprintf(f, "unset multiplot\n");
	fclose(f);
	plot(sw->o, s->program, script);
	free(script);
}

/* ---- the sweep ---------------------------------------------------------- */

void bench_sweep(const struct bench_spec *s, const struct bench_opts *o)
{
	struct sweep sw = { .s = s, .o = o };

	if (s->ndesigns > MAX_DESIGNS || s->nmetrics > BENCH_MAX_METRICS ||
	    s->nworkloads > BENCH_MAX_WORKLOADS) {
		fprintf(stderr, "%s: too many designs, metrics or workloads "
			"for the harness\n", s->program);
		exit(1);
	}
	sw.baseline = design_index(s, s->baseline);
	sw.reference = design_index(s, s->reference);
	bench_machine_start(&sw.m);
	bench_print_command(stdout, o->argc, o->argv);
	printf("%s: %s\n", s->program, s->describe);
	if (o->repeat == 1)
		printf("%.3g s per run, one run per point (no median, no "
		       "spread: a smoke run)\n", o->seconds);
	else
		printf("%.3g s per run, median of %d runs per point with the "
		       "min-max; each repeat runs every design once, in an "
		       "order rotated each repeat\n", o->seconds, o->repeat);
	bench_machine_print(stdout, &sw.m);
	fflush(stdout);

	measure(&sw);
	bench_machine_end(&sw.m);
	write_csv(&sw);

	printf("\n%s results (ratios: medians over %s's at the same point)\n",
	       s->program, s->baseline);
	bench_machine_print(stdout, &sw.m);
	for (int w = 0; w < s->nworkloads; w++)
		if (sw.w[w].measured)
			print_table(&sw, w);
	write_plot(&sw);

	for (int w = 0; w < s->nworkloads; w++) {
		for (int i = 0; i < sw.w[w].npoints; i++)
			for (int d = 0; d < s->ndesigns; d++)
				free(sw.w[w].points[i].samples[d]);
		free(sw.w[w].points);
	}
}
