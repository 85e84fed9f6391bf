/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * footprint - memory per live registration: N eventfds registered, each
 * with its own waker stored.  Heap bytes from mallinfo2 (entries and waker
 * boxes), and resident bytes from /proc/self/statm, which also sees the
 * table's buckets that liburcu maps itself (and the kernel-side epoll
 * items, which are not in this process's memory, are not counted).
 *   footprint [--out DIR] [N]     (default 10000; DIR/footprint.csv)
 */
#include "config.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common.h"

/* resident bytes, from /proc/self/statm */
static double resident(void)
{
	long pages = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (double)res * (double)sysconf(_SC_PAGESIZE);
}

int main(int argc, char **argv)
{
	int limit = bench_raise_fd_limit() - 64;
	int n = limit < 10000 ? limit : 10000;
	struct bench_opts o = { .outdir = "bench/results" };
	struct bench_machine machine;
	struct lfr_reactor *r;
	struct task *tasks;
	int *fds;
	lfr_id *ids;
	struct lfr_reactor_stats st;
	size_t before, after;
	double rss_before, rss_after;
	FILE *csv;

	bench_machine_start(&machine);
	bench_print_command(stdout, argc, argv);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
			o.outdir = argv[++i];
		} else if (i == argc - 1 && argv[i][0] != '-') {
			n = atoi(argv[i]);
		} else {
			n = 0;
			break;
		}
	}
	tasks = aligned_alloc(64, sizeof(*tasks) * (size_t)(n > 0 ? n : 1));
	fds = calloc((size_t)(n > 0 ? n : 1), sizeof(*fds));
	ids = calloc((size_t)(n > 0 ? n : 1), sizeof(*ids));
	if (n < 1 || !tasks || !fds || !ids ||
	    lfr_reactor_new(NULL, &r) != 0) {
		fprintf(stderr, "usage: %s [--out DIR] [N >= 1]\n", argv[0]);
		return 2;
	}
	for (int i = 0; i < n; i++) {
		fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fds[i] < 0) {
			perror("eventfd (ulimit -n?)");
			return 1;
		}
		atomic_init(&tasks[i].refs, 1);
	}
	usleep(100000); /* let the maintainer settle */
	before = mallinfo2().uordblks + mallinfo2().hblkhd;
	rss_before = resident();
	for (int i = 0; i < n; i++) {
		struct lfr_waker w = task_waker(&tasks[i]);

		ids[i] = lfr_reactor_next_id(r);
		if (lfr_reactor_register(r, fds[i], LFR_READABLE, ids[i]) ||
		    lfr_reactor_set_waker(r, &w, ids[i]))
			return 1;
	}
	usleep(100000); /* a resize the registrations asked for */
	after = mallinfo2().uordblks + mallinfo2().hblkhd;
	rss_after = resident();
	st.size = sizeof(st);
	lfr_reactor_stats(r, &st);
	bench_machine_end(&machine);
	bench_machine_print(stdout, &machine);
	printf("footprint: %d registrations, a waker each: %.1f bytes of heap "
	       "and %.1f resident bytes per registration (table of %llu "
	       "buckets)\n",
	       n, (double)(after - before) / n, (rss_after - rss_before) / n,
	       (unsigned long long)st.buckets);
	csv = csv_open(&o, "footprint",
		       "registrations,heap_bytes_per_registration,"
		       "resident_bytes_per_registration,buckets,"
		       BENCH_MACHINE_CSV_HEAD);
	fprintf(csv, "%d,%.1f,%.1f,%llu", n, (double)(after - before) / n,
		(rss_after - rss_before) / n, (unsigned long long)st.buckets);
	bench_machine_csv(csv, &machine);
	fputc('\n', csv);
	if (fclose(csv) != 0) {
		perror("footprint.csv");
		return 1;
	}
	printf("csv: %s/footprint.csv\n", o.outdir);
	for (int i = 0; i < n; i++) {
		lfr_reactor_deregister(r, fds[i], ids[i]);
		close(fds[i]);
	}
	lfr_reactor_free(r);
	free(tasks);
	free(fds);
	free(ids);
	return 0;
}
