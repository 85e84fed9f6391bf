/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The invariants of DESIGN.md, one test each (or a few), written so that
 * each fails if its invariant is broken.  Test hooks (src/test_hooks.h) stop
 * a poller at a chosen point so rare interleavings happen every run.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <urcu/urcu-bp.h>

#include "helpers.h"
#include "test_hooks.h"

static struct lfr_reactor *r;
static int p[2];

static void setup(void)
{
	open_reactor_and_pipe(&r, p);
}

static void teardown(void)
{
	close_reactor_and_pipe(r, p);
}

/* no readiness is recorded for id: a fresh waker set on it is not woken */
static void assert_nothing_recorded(lfr_id id)
{
	static struct counting_waker fresh;
	struct lfr_waker w;

	cw_init(&fresh);
	w = cw_waker(&fresh);
	cr_assert_eq(lfr_reactor_set_waker(r, &w, id), 0);
	cr_assert_eq(cw_wakes(&fresh), 0);
}

/* A gate a hook can park the poller at: the hook posts "arrived" and waits
 * for "release". */
struct gate {
	sem_t arrived, release;
	atomic_int armed; /* only the first matching call parks */
	lfr_id id;
};
static struct gate gate;

static void gate_init(lfr_id id)
{
	sem_init(&gate.arrived, 0, 0);
	sem_init(&gate.release, 0, 0);
	atomic_store(&gate.armed, 1);
	gate.id = id;
}

static void gate_park(void)
{
	if (atomic_exchange(&gate.armed, 0)) {
		sem_post(&gate.arrived);
		sem_wait(&gate.release);
	}
}

static void hook_park_after_wait(void *arg, int n)
{
	gate_park();
}

static void hook_park_on_found(void *arg, lfr_id id)
{
	if (id == gate.id)
		gate_park();
}

static void park_until_arrived(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	cr_assert_eq(sem_timedwait(&gate.arrived, &ts), 0, "poller parked");
}

TestSuite(invariants, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(lifecycle, .timeout = 60);

/* ---- ids are never reused ------------------------------------------- */

Test(invariants, next_id_is_never_zero_and_strictly_increases)
{
	lfr_id last = 0;

	for (int i = 0; i < 100000; i++) {
		lfr_id id = lfr_reactor_next_id(r);

		cr_assert_gt(id, last);
		last = id;
	}
}

Test(invariants, stale_event_for_removed_id_wakes_nobody_and_is_counted)
{
	static struct counting_waker old_w, new_w;
	struct lfr_waker wo, wn;
	int q[2];
	lfr_id old_id = lfr_reactor_next_id(r), new_id;

	cw_init(&old_w);
	cw_init(&new_w);
	wo = cw_waker(&old_w);
	wn = cw_waker(&new_w);
	test_pipe(q);
	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, old_id), 0);
	cr_assert_eq(lfr_reactor_set_waker(r, &wo, old_id), 0);

	/* the poller takes the event out of epoll, then stops before looking
	 * the id up: the event is in flight */
	gate_init(old_id);
	lfr__hooks.after_wait = hook_park_after_wait;
	fire(p[1]);
	park_until_arrived();

	/* meanwhile the registration goes and a new one comes */
	cr_assert_eq(lfr_reactor_deregister(r, p[0], old_id), 0);
	new_id = lfr_reactor_next_id(r);
	cr_assert_neq(new_id, old_id);
	cr_assert_eq(lfr_reactor_register(r, q[0], LFR_READABLE, new_id), 0);
	cr_assert_eq(lfr_reactor_set_waker(r, &wn, new_id), 0);
	sem_post(&gate.release);

	cr_assert(WAIT_FOR(stats_of(r).stale == 1, 5000),
		  "the stale event found no entry and was counted");
	cr_assert_eq(cw_wakes(&new_w), 0, "not routed to the new registration");
	cr_assert_eq(cw_wakes(&old_w), 0, "its id was gone before lookup");
	cr_assert_eq(lfr_reactor_deregister(r, q[0], new_id), 0);
	close_pipe(q);
}

/* ---- no lost wake-up ------------------------------------------------ */

Test(invariants, event_before_set_waker_is_recorded_and_woken_at_set_waker)
{
	static struct counting_waker cw;
	struct lfr_waker w;
	lfr_id id = lfr_reactor_next_id(r);

	cw_init(&cw);
	w = cw_waker(&cw);
	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, id), 0);
	fire(p[1]);
	cr_assert(WAIT_FOR(stats_of(r).no_waker == 1, 5000),
		  "the poller saw the event with no waker stored");
	cr_assert_eq(cw_wakes(&cw), 0);

	cr_assert_eq(lfr_reactor_set_waker(r, &w, id), 0);
	cr_assert_eq(cw_wakes(&cw), 1, "woken inside set_waker, not lost");
	cr_assert_eq(stats_of(r).wakes, 1);

	/* the readiness was consumed: a second waker is not woken by it */
	assert_nothing_recorded(id);
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0);
}

/* The poller found no waker; before it records the readiness, set_waker
 * publishes one and finds nothing recorded.  The poller's load after its
 * record must see the waker, or the wake is lost for good (edge-triggered).
 */
static struct lfr_waker race_waker;
static void hook_set_waker_before_record(void *arg, lfr_id id)
{
	cr_assert_eq(lfr_reactor_set_waker(r, &race_waker, id), 0);
}

Test(invariants, set_waker_between_empty_load_and_record_still_wakes)
{
	static struct counting_waker cw;
	lfr_id id = lfr_reactor_next_id(r);

	cw_init(&cw);
	race_waker = cw_waker(&cw);
	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, id), 0);
	lfr__hooks.dispatch_no_waker = hook_set_waker_before_record;
	fire(p[1]);
	cr_assert(WAIT_FOR(cw_wakes(&cw) == 1, 5000), "woken by the poller");
	sleep_ms(20);
	cr_assert_eq(cw_wakes(&cw), 1, "exactly once");
	cr_assert_eq(stats_of(r).no_waker, 1);
	lfr__hooks.dispatch_no_waker = NULL;
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0);
}

/* ---- no use after free on deregister ------------------------------ */

Test(invariants, deregister_during_dispatch_frees_only_after_the_dispatch)
{
	static struct counting_waker cw;
	struct lfr_waker w;
	lfr_id id;

	cw_init(&cw);
	w = cw_waker(&cw);
	id = register_with_waker(r, p[0], &w);

	/* the poller has found the entry and holds it, inside its read-side
	 * section, when deregister runs */
	gate_init(id);
	lfr__hooks.dispatch_found = hook_park_on_found;
	fire(p[1]);
	park_until_arrived();
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0,
		     "deregister does not wait for the poller");
	sleep_ms(50);
	cr_assert_eq(atomic_load(&cw.drops), 0,
		     "the waker is not dropped while a poller holds it");

	sem_post(&gate.release);
	cr_assert(WAIT_FOR(atomic_load(&cw.refs) == 1, 5000),
		  "dropped after the grace period");
	cr_assert_leq(cw_wakes(&cw), 1, "at most one in-flight wake");
	cr_assert_eq(atomic_load(&cw.misuse), 0, "never woken after drop");
	cr_assert_eq(atomic_load(&cw.drops), 1);
}

/* ---- set_waker with the same waker writes nothing ------------------ */

Test(invariants, same_waker_again_clones_and_allocates_nothing)
{
	static struct counting_waker cw;
	struct lfr_waker w;
	unsigned long allocs;
	lfr_id id;

	cw_init(&cw);
	w = cw_waker(&cw);
	id = register_with_waker(r, p[0], &w);
	cr_assert_eq(atomic_load(&cw.clones), 1);

	allocs = atomic_load(&lfr__allocations);
	for (int i = 0; i < 10000; i++)
		cr_assert_eq(lfr_reactor_set_waker(r, &w, id), 0);
	cr_assert_eq(atomic_load(&lfr__allocations), allocs, "no allocation");
	cr_assert_eq(atomic_load(&cw.clones), 1, "no clone");
	cr_assert_eq(atomic_load(&cw.drops), 0, "no swap, nothing retired");

	fire(p[1]);
	cr_assert(WAIT_FOR(cw_wakes(&cw) == 1, 5000), "still armed");
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0);
}

/* wakes the waker a set_waker stored, then checks that the replaced one
 * was dropped and only the newest is woken */
static void assert_only_newest_woken(struct counting_waker *old,
				     struct counting_waker *newest, lfr_id id)
{
	cr_assert(WAIT_FOR(atomic_load(&old->refs) == 1, 5000),
		  "old one dropped after the grace period");
	fire(p[1]);
	cr_assert(WAIT_FOR(cw_wakes(newest) == 1, 5000));
	cr_assert_eq(cw_wakes(old), 0, "only the newest waker is woken");
	cr_assert_eq(atomic_load(&old->misuse), 0);
	drain(p[0]);
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0);
	cr_assert(WAIT_FOR(atomic_load(&newest->refs) == 1, 5000),
		  "the newest dropped after deregister");
}

/* a, b and c of vtable kind 0 but b of b_kind, their wakers in w[], and
 * a registration of p[0] with a's waker set */
static lfr_id three_wakers(struct counting_waker *a, struct counting_waker *b,
			   struct counting_waker *c, int b_kind,
			   struct lfr_waker w[3])
{
	cw_init(a);
	cw_init_kind(b, b_kind);
	cw_init(c);
	w[0] = cw_waker(a);
	w[1] = cw_waker(b);
	w[2] = cw_waker(c);
	return register_with_waker(r, p[0], &w[0]);
}

Test(invariants, another_waker_is_cloned_and_the_old_dropped_after_grace)
{
	static struct counting_waker a, b, c;
	struct lfr_waker w[3], *wb = &w[1], *wc = &w[2];
	unsigned long allocs;
	lfr_id id = three_wakers(&a, &b, &c, 0, w);

	/* wakers of the first one's vtable replace it in the entry */
	allocs = atomic_load(&lfr__allocations);
	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(lfr_reactor_set_waker(r, wb, id), 0);
		cr_assert_eq(lfr_reactor_set_waker(r, wc, id), 0);
	}
	cr_assert_eq(lfr_reactor_set_waker(r, wb, id), 0);
	/* only retirement blocks (254 items, 4 KiB each): no box */
	cr_assert_leq(atomic_load(&lfr__allocations) - allocs, 2001 / 254 + 2,
		      "no allocation per waker of the same kind");
	cr_assert_eq(atomic_load(&b.clones), 1001);
	cr_assert(WAIT_FOR(atomic_load(&c.refs) == 1, 5000));
	assert_only_newest_woken(&a, &b, id);
	cr_assert_eq(atomic_load(&c.drops), 1000, "each replaced once");
}

Test(invariants, a_waker_of_another_vtable_takes_a_box_and_stays_correct)
{
	static struct counting_waker a, b, c;
	struct lfr_waker w[3], *wb = &w[1], *wc = &w[2];
	unsigned long allocs;
	lfr_id id = three_wakers(&a, &b, &c, 1, w);

	allocs = atomic_load(&lfr__allocations);
	cr_assert_eq(lfr_reactor_set_waker(r, wb, id), 0);
	cr_assert_eq(atomic_load(&lfr__allocations), allocs + 1, "one box");
	cr_assert_eq(atomic_load(&b.clones), 1);
	/* the entry's slot was left for good: a and c, of its vtable, now
	 * go in boxes too, and each is dropped once */
	cr_assert_eq(lfr_reactor_set_waker(r, wc, id), 0);
	cr_assert_eq(lfr_reactor_set_waker(r, wb, id), 0);
	cr_assert(WAIT_FOR(atomic_load(&c.refs) == 1, 5000));
	cr_assert_eq(atomic_load(&c.drops), 1);
	assert_only_newest_woken(&a, &b, id);
	cr_assert_eq(atomic_load(&b.drops), 2);
}

/* ---- dispatch writes nothing when a waker is present --------------- */

Test(invariants, dispatch_with_a_waker_records_no_readiness)
{
	static struct counting_waker cw;
	struct lfr_waker w;
	lfr_id id;

	cw_init(&cw);
	w = cw_waker(&cw);
	id = register_with_waker(r, p[0], &w);
	for (int i = 1; i <= 50; i++) {
		fire(p[1]);
		cr_assert(WAIT_FOR(cw_wakes(&cw) == i, 5000));
		drain(p[0]);
	}
	cr_assert_eq(stats_of(r).no_waker, 0, "the record path never ran");
	/* so a later, different waker finds nothing recorded to consume */
	assert_nothing_recorded(id);
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0);
}

/* ---- the poller never blocks inside a read-side section ------------- */

static atomic_int waits_inside_reader, waits;
static void hook_check_reader(void *arg)
{
	atomic_fetch_add(&waits, 1);
	if (urcu_bp_read_ongoing())
		atomic_fetch_add(&waits_inside_reader, 1);
}

static void *synchronize(void *arg)
{
	urcu_bp_synchronize_rcu();
	atomic_store((atomic_int *)arg, 1);
	return NULL;
}

Test(lifecycle, poller_waits_in_epoll_outside_any_read_side_section)
{
	struct lfr_reactor_config cfg;
	static struct counting_waker cw;
	struct lfr_waker w;
	atomic_int done = 0;
	pthread_t t;
	lfr_id id;

	lfr__hooks.before_wait = hook_check_reader;
	lfr_reactor_config_init(&cfg);
	cfg.pollers = 2;
	cr_assert_eq(lfr_reactor_new(&cfg, &r), 0);
	test_pipe(p);
	cw_init(&cw);
	w = cw_waker(&cw);
	id = register_with_waker(r, p[0], &w);
	fire(p[1]);
	cr_assert(WAIT_FOR(cw_wakes(&cw) == 1, 5000));
	cr_assert(WAIT_FOR(atomic_load(&waits) >= 3, 5000));

	/* both pollers now sit in epoll_wait: a grace period must end */
	pthread_create(&t, NULL, synchronize, &done);
	cr_assert(WAIT_FOR(atomic_load(&done), 10000),
		  "synchronize_rcu returned while the pollers were idle");
	pthread_join(t, NULL);
	cr_assert_eq(atomic_load(&waits_inside_reader), 0);
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0);
	teardown();
}

/* ---- the library's threads block all signals ------------------------ */

#define MAX_TASKS 256
static int list_tasks(pid_t *tids)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) && n < MAX_TASKS)
		if (e->d_name[0] != '.')
			tids[n++] = atoi(e->d_name);
	closedir(d);
	return n;
}

static unsigned long long sigblk_of(pid_t tid)
{
	char path[64], line[256];
	unsigned long long mask = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "SigBlk: %llx", &mask) == 1)
			break;
	fclose(f);
	return mask;
}

static bool blocks_all(unsigned long long mask)
{
	for (int sig = 1; sig <= 64; sig++) {
		/* unblockable, or reserved by glibc for its own use */
		if (sig == SIGKILL || sig == SIGSTOP || sig == 32 || sig == 33)
			continue;
		if (!(mask & (1ull << (sig - 1))))
			return false;
	}
	return true;
}

static bool in(pid_t tid, const pid_t *tids, int n)
{
	for (int i = 0; i < n; i++)
		if (tids[i] == tid)
			return true;
	return false;
}

Test(lifecycle, library_and_liburcu_threads_block_all_signals)
{
	struct lfr_reactor_config cfg;
	static struct counting_waker a, b;
	struct lfr_waker wa, wb;
	pid_t before[MAX_TASKS], after[MAX_TASKS];
	sigset_t none, now;
	int nb, na, fresh = 0;
	lfr_id id;

	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	nb = list_tasks(before);

	lfr_reactor_config_init(&cfg);
	cfg.pollers = 3;
	cr_assert_eq(lfr_reactor_new(&cfg, &r), 0);
	/* make the table's maintainer run: replace a waker */
	test_pipe(p);
	cw_init(&a);
	cw_init(&b);
	wa = cw_waker(&a);
	wb = cw_waker(&b);
	id = lfr_reactor_next_id(r);
	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, id), 0);
	cr_assert_eq(lfr_reactor_set_waker(r, &wa, id), 0);
	cr_assert_eq(lfr_reactor_set_waker(r, &wb, id), 0);
	cr_assert(WAIT_FOR(atomic_load(&a.refs) == 1, 5000));

	na = list_tasks(after);
	for (int i = 0; i < na; i++) {
		if (in(after[i], before, nb))
			continue;
		fresh++;
		cr_expect(blocks_all(sigblk_of(after[i])),
			  "thread %d blocks only %llx", after[i],
			  sigblk_of(after[i]));
	}
	/* 3 pollers + the table's maintainer */
	cr_assert_geq(fresh, 4, "found %d new threads", fresh);

	pthread_sigmask(SIG_SETMASK, NULL, &now);
	cr_assert_eq(sigismember(&now, SIGTERM), 0,
		     "the caller's own mask is restored");
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0);
	teardown();
}

/* ---- shutdown is clean ------------------------------------------------- */

Test(lifecycle, free_drops_every_waker_reference_it_holds)
{
	enum { N = 64 };
	static struct counting_waker cw[N], spare;
	int fds[N][2];

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cw_init(&spare);
	for (int i = 0; i < N; i++) {
		struct lfr_waker w;
		lfr_id id = lfr_reactor_next_id(r);

		cw_init(&cw[i]);
		w = cw_waker(&cw[i]);
		test_pipe(fds[i]);
		cr_assert_eq(lfr_reactor_register(r, fds[i][0], LFR_READABLE, id), 0);
		if (i % 4 == 1) { /* a replaced waker waits in call_rcu */
			struct lfr_waker s = cw_waker(&spare);

			cr_assert_eq(lfr_reactor_set_waker(r, &s, id), 0);
		}
		if (i % 4 != 3) /* some never get a waker */
			cr_assert_eq(lfr_reactor_set_waker(r, &w, id), 0);
		if (i % 2) /* some have readiness pending or fired */
			fire(fds[i][1]);
	}
	lfr_reactor_free(r);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(atomic_load(&cw[i].refs), 1, "waker %d", i);
		cr_assert_eq(atomic_load(&cw[i].misuse), 0);
		close_pipe(fds[i]);
	}
	cr_assert_eq(atomic_load(&spare.refs), 1);
	cr_assert_eq(atomic_load(&spare.misuse), 0);
}

Test(lifecycle, free_stops_every_poller)
{
	struct lfr_reactor_config cfg;

	lfr_reactor_config_init(&cfg);
	for (unsigned n = 1; n <= 16; n *= 2) {
		cfg.pollers = n;
		cr_assert_eq(lfr_reactor_new(&cfg, &r), 0);
		lfr_reactor_free(r);
	}
}

/* ---- the table grows and shrinks off the callers' threads ------------- */

Test(lifecycle, table_grows_with_registrations_and_shrinks_after)
{
	enum { N = 512 };
	static int fds[N][2];
	static lfr_id ids[N];
	struct lfr_reactor_config cfg;
	struct lfr_waker w = lfr_waker_noop();

	lfr_reactor_config_init(&cfg);
	cfg.initial_buckets = 4;
	cr_assert_eq(lfr_reactor_new(&cfg, &r), 0);
	cr_assert_eq(stats_of(r).buckets, 4);
	for (int i = 0; i < N; i++) {
		test_pipe(fds[i]);
		ids[i] = lfr_reactor_next_id(r);
		cr_assert_eq(lfr_reactor_register(r, fds[i][0], LFR_READABLE, ids[i]), 0);
		cr_assert_eq(lfr_reactor_set_waker(r, &w, ids[i]), 0);
	}
	cr_assert(WAIT_FOR(stats_of(r).buckets >= N / 2, 5000),
		  "grew to %llu buckets", (unsigned long long)stats_of(r).buckets);
	for (int i = 0; i < N; i++) /* every entry still found */
		cr_assert_eq(lfr_reactor_set_waker(r, &w, ids[i]), 0);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(lfr_reactor_deregister(r, fds[i][0], ids[i]), 0);
		close_pipe(fds[i]);
	}
	cr_assert(WAIT_FOR(stats_of(r).buckets <= 16, 5000),
		  "shrank to %llu buckets", (unsigned long long)stats_of(r).buckets);
	lfr_reactor_free(r);
}

/* ---- fork: the child may exec or _exit; the parent's reactor goes on ---- */

Test(lifecycle, fork_leaves_the_parent_reactor_working)
{
	static struct counting_waker cw;
	struct lfr_waker w;
	pid_t child;
	int status;
	lfr_id id;

	setup();
	cw_init(&cw);
	w = cw_waker(&cw);
	id = register_with_waker(r, p[0], &w);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) /* what a child may do: exec, or _exit */
		_exit(execl("/bin/true", "true", (char *)NULL) == 0 ? 0 : 3);
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	fire(p[1]);
	cr_assert(WAIT_FOR(cw_wakes(&cw) == 1, 5000), "the parent's poller runs");
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0);
	teardown();
}

/* ---- limits, repeated shutdown, thread names ------------------------------ */

#ifndef __SANITIZE_ADDRESS__ /* ASan reserves terabytes: no RLIMIT_AS */
Test(lifecycle, a_reactor_short_of_address_space_gets_enomem_not_an_abort)
{
	pid_t pid = fork();
	int status;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* what the process maps now, plus 192 MiB: a few reactors fit
		 * (two thread stacks and the table's bucket reservation each),
		 * then creation must fail cleanly */
		struct lfr_reactor *rs[64];
		struct rlimit lim;
		unsigned long pages = 0;
		int n = 0, bad = 0, failed = 0;
		FILE *f = fopen("/proc/self/statm", "r");

		if (!f || fscanf(f, "%lu", &pages) != 1)
			_exit(2);
		fclose(f);
		lim.rlim_cur = lim.rlim_max =
			pages * (rlim_t)sysconf(_SC_PAGESIZE) + (192ul << 20);
		if (setrlimit(RLIMIT_AS, &lim) != 0)
			_exit(2);
		while (n < 64 && !failed) {
			int ret = lfr_reactor_new(NULL, &rs[n]);

			if (ret == 0)
				n++;
			else if (ret == -ENOMEM || ret == -EAGAIN)
				failed = 1;
			else
				bad = 1, failed = 1;
		}
		while (n > 0)
			lfr_reactor_free(rs[--n]);
		_exit(bad ? 3 : failed ? 0 : 4);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "the child died (signal %d)",
		  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	cr_assert_eq(WEXITSTATUS(status), 0,
		     "2: no limit set, 3: another error, 4: never ran out");
}
#endif

Test(lifecycle, max_registrations_above_its_limit_is_einval)
{
	struct lfr_reactor_config cfg;
	struct lfr_reactor *x = NULL;

	lfr_reactor_config_init(&cfg);
	cr_assert_eq(cfg.max_registrations, 1ul << 20, "the documented default");
	cfg.max_registrations = LFR_MAX_REGISTRATIONS + 1;
	cr_assert_eq(lfr_reactor_new(&cfg, &x), -EINVAL);
	cr_assert_null(x);
	cfg.max_registrations = 64; /* small: registrations still go past it */
	cr_assert_eq(lfr_reactor_new(&cfg, &x), 0);
	lfr_reactor_free(x);
}

/* max_registrations / 2, rounded up to a power of two, bounds the buckets:
 * the initial ones (clamped, however large the request) and every resize */
Test(lifecycle, the_bucket_limit_follows_max_registrations)
{
	enum { N = 256 };
	static int fds[N];
	static lfr_id ids[N];
	struct lfr_reactor_config cfg;
	struct lfr_reactor *x;

	lfr_reactor_config_init(&cfg);
	cfg.max_registrations = 100; /* limit: 64 buckets */
	cfg.initial_buckets = ~0ul;
	cr_assert_eq(lfr_reactor_new(&cfg, &x), 0);
	cr_assert_eq(stats_of(x).buckets, 64, "clamped to the limit");
	lfr_reactor_free(x);

	cfg.max_registrations = 64; /* limit: 32 */
	cfg.initial_buckets = 4;
	cr_assert_eq(lfr_reactor_new(&cfg, &x), 0);
	cr_assert_eq(stats_of(x).buckets, 4);
	for (int i = 0; i < N; i++) {
		fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		cr_assert_geq(fds[i], 0);
		ids[i] = lfr_reactor_next_id(x);
		cr_assert_eq(lfr_reactor_register(x, fds[i], LFR_READABLE,
						  ids[i]), 0);
	}
	cr_assert_eq(stats_of(x).registrations, N);
	cr_assert(WAIT_FOR(stats_of(x).buckets == 32, 5000),
		  "grew to %llu buckets",
		  (unsigned long long)stats_of(x).buckets);
	/* N live wants N / 2 buckets: the maintainer is asked again on every
	 * 64th registration or deregistration of a thread, and must say no */
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < N / 2; i++) {
			cr_assert_eq(lfr_reactor_deregister(x, fds[i], ids[i]), 0);
			ids[i] = lfr_reactor_next_id(x);
			cr_assert_eq(lfr_reactor_register(x, fds[i],
							  LFR_READABLE, ids[i]), 0);
		}
		sleep_ms(20);
		cr_assert_eq(stats_of(x).buckets, 32, "above the limit");
	}
	for (int i = 0; i < N; i++) {
		cr_assert_eq(lfr_reactor_deregister(x, fds[i], ids[i]), 0);
		close(fds[i]);
	}
	lfr_reactor_free(x);
}

static atomic_int slow_started, slow_finished;
static void slow_wake(void *data)
{
	(void)data;
	atomic_store(&slow_started, 1);
	sleep_ms(300);
	atomic_store(&slow_finished, 1);
}
PLAIN_WAKER(slow, slow_wake)

static void *shut_down(void *arg)
{
	lfr_reactor_shutdown(arg);
	return NULL;
}

Test(lifecycle, a_repeated_shutdown_returns_only_when_no_poller_wakes_anything)
{
	struct lfr_reactor *x;
	struct lfr_waker w = { &slow_vtable, NULL };
	pthread_t first;
	int q[2];
	lfr_id id;

	cr_assert_eq(lfr_reactor_new(NULL, &x), 0);
	test_pipe(q);
	id = lfr_reactor_next_id(x);
	cr_assert_eq(lfr_reactor_register(x, q[0], LFR_READABLE, id), 0);
	cr_assert_eq(lfr_reactor_set_waker(x, &w, id), 0);
	fire(q[1]);
	cr_assert(WAIT_FOR(atomic_load(&slow_started), 5000));
	/* the first shutdown joins a poller busy in a 300 ms wake */
	pthread_create(&first, NULL, shut_down, x);
	/* the first shutdown has begun once calls see -ESHUTDOWN (an id
	 * never registered gives -ENOENT before) */
	cr_assert(WAIT_FOR(lfr_reactor_deregister(x, q[0], id + 1000) ==
			   -ESHUTDOWN, 5000));
	cr_assert_eq(lfr_reactor_shutdown(x), -ESHUTDOWN);
	cr_assert(atomic_load(&slow_finished),
		  "the repeated shutdown returned while a poller still woke");
	pthread_join(first, NULL);
	lfr_reactor_free(x);
	close_pipe(q);
}

/* a waker that shuts its reactor down, recording what shutdown returned */
static struct lfr_reactor *shutting;
static atomic_int shutdown_result = 1;
static atomic_int shutdown_wakes;
static void shutter_wake(void *data)
{
	(void)data;
	atomic_store(&shutdown_result, lfr_reactor_shutdown(shutting));
	atomic_fetch_add(&shutdown_wakes, 1);
}
PLAIN_WAKER(shutter, shutter_wake)

/* on a poller, shutdown would join the thread calling it: it refuses */
static void shutdown_from_a_pollers_waker(unsigned pollers)
{
	struct lfr_reactor_config cfg;
	struct lfr_waker w = { &shutter_vtable, NULL };
	int q[2];
	lfr_id id;

	lfr_reactor_config_init(&cfg);
	cfg.pollers = pollers;
	cr_assert_eq(lfr_reactor_new(&cfg, &shutting), 0);
	test_pipe(q);
	id = lfr_reactor_next_id(shutting);
	cr_assert_eq(lfr_reactor_register(shutting, q[0], LFR_READABLE, id), 0);
	cr_assert_eq(lfr_reactor_set_waker(shutting, &w, id), 0);
	fire(q[1]);
	cr_assert(WAIT_FOR(atomic_load(&shutdown_wakes) == 1, 5000));
	cr_assert_eq(atomic_load(&shutdown_result), -EDEADLK);
	/* nothing was done: the reactor still dispatches */
	drain(q[0]);
	cr_assert_eq(lfr_reactor_set_waker(shutting, &w, id), 0);
	fire(q[1]);
	cr_assert(WAIT_FOR(atomic_load(&shutdown_wakes) == 2, 5000));
	cr_assert_eq(atomic_load(&shutdown_result), -EDEADLK);
	cr_assert_eq(lfr_reactor_shutdown(shutting), 0);
	lfr_reactor_free(shutting);
	close_pipe(q);
}

Test(lifecycle, shutdown_from_a_waker_on_the_only_poller_is_edeadlk_and_does_nothing)
{
	shutdown_from_a_pollers_waker(1);
}

Test(lifecycle, shutdown_from_a_waker_on_one_of_four_pollers_is_edeadlk_and_does_nothing)
{
	shutdown_from_a_pollers_waker(4);
}

Test(lifecycle, shutdown_from_a_waker_run_inside_set_waker_shuts_down)
{
	struct lfr_waker w = { &shutter_vtable, NULL };
	int q[2];
	lfr_id id;

	cr_assert_eq(lfr_reactor_new(NULL, &shutting), 0);
	test_pipe(q);
	id = lfr_reactor_next_id(shutting);
	cr_assert_eq(lfr_reactor_register(shutting, q[0], LFR_READABLE, id), 0);
	fire(q[1]); /* recorded: no waker yet */
	cr_assert(WAIT_FOR(stats_of(shutting).no_waker == 1, 5000));
	/* the recorded event wakes w here, on this thread, inside set_waker */
	cr_assert_eq(lfr_reactor_set_waker(shutting, &w, id), 0);
	cr_assert_eq(atomic_load(&shutdown_wakes), 1);
	cr_assert_eq(atomic_load(&shutdown_result), 0);
	cr_assert_eq(lfr_reactor_set_waker(shutting, &w, id), -ESHUTDOWN);
	lfr_reactor_free(shutting);
	close_pipe(q);
}

Test(lifecycle, the_library_threads_are_named)
{
	struct lfr_reactor_config cfg;
	struct lfr_reactor *x;
	pid_t tids[MAX_TASKS];
	int n, polls = 0, maint = 0;

	lfr_reactor_config_init(&cfg);
	cfg.pollers = 2;
	cr_assert_eq(lfr_reactor_new(&cfg, &x), 0);
	n = list_tasks(tids);
	for (int i = 0; i < n; i++) {
		char path[64], name[32] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tids[i]);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(name, sizeof(name), f)) {
			polls += strncmp(name, "lfr-poll-", 9) == 0;
			maint += strcmp(name, "lfr-maint\n") == 0;
		}
		fclose(f);
	}
	lfr_reactor_free(x);
	cr_assert_eq(polls, 2, "two pollers named lfr-poll-N");
	cr_assert_geq(maint, 1, "the maintainer named lfr-maint");
}

/* ---- a stray close() of one of the reactor's own fds -------------------- */

/* the reactor's epoll fd and eventfds: the fds lfr_reactor_new opened,
 * told apart by /proc/self/fd; the stop eventfd is the one the epoll fd
 * watches (its fdinfo lists it as a tfd), the other is the table's */
struct own_fds {
	int epfd, stopfd, kickfd;
};

#define MAX_FD 4096
static void open_fds(bool *open)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	cr_assert_not_null(d);
	memset(open, 0, MAX_FD * sizeof(*open));
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) < MAX_FD &&
		    atoi(e->d_name) != dirfd(d)) /* the listing's own */
			open[atoi(e->d_name)] = true;
	closedir(d);
}

static bool epoll_watches(int epfd, int fd)
{
	char path[64], line[256];
	bool found = false;
	FILE *f;
	int tfd;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", epfd);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "tfd: %d", &tfd) == 1 && tfd == fd)
			found = true;
	fclose(f);
	return found;
}

static struct lfr_reactor *new_reactor_finding_fds(unsigned pollers,
						   struct own_fds *own)
{
	static bool before[MAX_FD], after[MAX_FD];
	struct lfr_reactor_config cfg;
	struct lfr_reactor *x;
	int eventfds[2], nev = 0;

	lfr_reactor_config_init(&cfg);
	cfg.pollers = pollers;
	open_fds(before);
	cr_assert_eq(lfr_reactor_new(&cfg, &x), 0);
	open_fds(after);
	own->epfd = -1;
	for (int fd = 0; fd < MAX_FD; fd++) {
		char path[64], target[64] = "";

		if (before[fd] || !after[fd])
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (readlink(path, target, sizeof(target) - 1) < 0)
			continue;
		if (strcmp(target, "anon_inode:[eventpoll]") == 0) {
			cr_assert_eq(own->epfd, -1, "one epoll fd");
			own->epfd = fd;
		} else if (strcmp(target, "anon_inode:[eventfd]") == 0) {
			cr_assert_lt(nev, 2, "two eventfds");
			eventfds[nev++] = fd;
		}
	}
	cr_assert_neq(own->epfd, -1);
	cr_assert_eq(nev, 2);
	cr_assert_neq(epoll_watches(own->epfd, eventfds[0]),
		      epoll_watches(own->epfd, eventfds[1]),
		      "the epoll fd watches the stop eventfd only");
	own->stopfd = eventfds[!epoll_watches(own->epfd, eventfds[0])];
	own->kickfd = eventfds[epoll_watches(own->epfd, eventfds[0])];
	return x;
}

static atomic_bool call_done;

static void *free_reactor(void *arg)
{
	lfr_reactor_free(arg);
	atomic_store(&call_done, true);
	return NULL;
}

static void *shut_down_reactor(void *arg)
{
	lfr_reactor_shutdown(arg);
	atomic_store(&call_done, true);
	return NULL;
}

/* runs fn(x) on a thread of its own; fails the test if it takes 5 s */
static void returns_in_time(void *(*fn)(void *), struct lfr_reactor *x,
			    const char *what)
{
	pthread_t t;

	atomic_store(&call_done, false);
	cr_assert_eq(pthread_create(&t, NULL, fn, x), 0);
	cr_assert(WAIT_FOR(atomic_load(&call_done), 5000), "%s hung", what);
	pthread_join(t, NULL);
}

static bool read_task_file(pid_t tid, const char *file, char *buf, int len)
{
	char path[64];
	bool ok;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/%s", tid, file);
	f = fopen(path, "r");
	if (!f)
		return false;
	ok = fgets(buf, len, f) != NULL;
	fclose(f);
	return ok;
}

/* the pollers alive; with in_wait, those asleep in epoll_wait */
static int count_pollers(bool in_wait)
{
	pid_t tids[MAX_TASKS];
	int n = list_tasks(tids), polls = 0;

	for (int i = 0; i < n; i++) {
		char name[32] = "", wchan[64] = "";

		if (!read_task_file(tids[i], "comm", name, sizeof(name)) ||
		    strncmp(name, "lfr-poll-", 9) != 0)
			continue;
		if (!in_wait ||
		    (read_task_file(tids[i], "wchan", wchan, sizeof(wchan)) &&
		     strstr(wchan, "epoll")))
			polls++;
	}
	return polls;
}

static int pollers_running(void)
{
	return count_pollers(false);
}

Test(lifecycle, a_stray_close_of_the_epoll_fd_stops_the_pollers_and_free_returns)
{
	static struct counting_waker cw;
	struct lfr_waker w;
	struct own_fds own;
	struct lfr_reactor *x;
	lfr_id id;
	int q[2];

	/* two pollers: the event brings one back to a failing epoll_wait,
	 * the other stays blocked until free wakes it */
	x = new_reactor_finding_fds(2, &own);
	cw_init(&cw);
	w = cw_waker(&cw);
	test_pipe(q);
	id = register_with_waker(x, q[0], &w);
	cr_assert_eq(stats_of(x).fd_error, 0);
	/* both asleep in epoll_wait first (where /proc shows wchan; else a
	 * poller not yet there stops at once, and the count below is 0) */
	WAIT_FOR(count_pollers(true) == 2, 2000);
	cr_assert_eq(close(own.epfd), 0);
	fire(q[1]);
	cr_assert(WAIT_FOR(stats_of(x).fd_error == -EBADF, 5000),
		  "fd_error %lld", (long long)stats_of(x).fd_error);
	cr_assert(WAIT_FOR(pollers_running() == 1, 5000),
		  "the poller that saw EBADF stopped instead of spinning: %d",
		  pollers_running());
	cr_assert_eq(cw_wakes(&cw), 1);
	cr_assert_eq(lfr_reactor_deregister(x, q[0], id), -EBADF);
	returns_in_time(free_reactor, x, "lfr_reactor_free");
	cr_assert_eq(pollers_running(), 0);
	cr_assert_eq(atomic_load(&cw.refs), 1);
	close_pipe(q);
}

Test(lifecycle, a_stray_close_of_the_stop_eventfd_still_joins_the_pollers)
{
	static struct counting_waker cw;
	struct lfr_waker w;
	struct own_fds own;
	struct lfr_reactor *x;
	int q[2];

	x = new_reactor_finding_fds(3, &own);
	cw_init(&cw);
	w = cw_waker(&cw);
	test_pipe(q);
	register_with_waker(x, q[0], &w);
	cr_assert_eq(close(own.stopfd), 0);
	returns_in_time(shut_down_reactor, x, "lfr_reactor_shutdown");
	cr_assert_eq(pollers_running(), 0, "every poller was joined");
	cr_assert_eq(stats_of(x).fd_error, -EBADF);
	returns_in_time(free_reactor, x, "lfr_reactor_free");
	/* a poller left running would dispatch this into freed memory */
	fire(q[1]);
	sleep_ms(20);
	cr_assert_eq(cw_wakes(&cw), 0);
	cr_assert_eq(atomic_load(&cw.refs), 1);
	close_pipe(q);
}

Test(lifecycle, a_stray_close_of_the_maintainers_eventfd_does_not_hang_free)
{
	/* the maintainer asleep in poll() on the closed fd, or awake and
	 * about to poll it (POLLNVAL) */
	static const int sleeps_ms[] = { 20, 0, 50, 1, 20, 5, 100, 0 };

	for (unsigned i = 0; i < sizeof(sleeps_ms) / sizeof(*sleeps_ms); i++) {
		struct own_fds own;
		struct lfr_reactor *x = new_reactor_finding_fds(1, &own);
		struct lfr_waker w = lfr_waker_noop();
		int q[2];

		lfr_id id;

		test_pipe(q);
		id = register_with_waker(x, q[0], &w);
		sleep_ms(sleeps_ms[i]);
		cr_assert_eq(close(own.kickfd), 0);
		/* the reactor keeps working: a deregister retires its entry,
		 * which the maintainer frees in a grace period (then the
		 * maintainer is busy a while; else it sleeps in poll()) */
		if (i % 2)
			cr_assert_eq(lfr_reactor_deregister(x, q[0], id), 0);
		returns_in_time(free_reactor, x, "lfr_reactor_free");
		close_pipe(q);
	}
}

Test(lifecycle, stray_closes_of_the_epoll_fd_and_the_stop_eventfd_still_free)
{
	static struct counting_waker cw;
	struct lfr_waker w;
	struct own_fds own;
	struct lfr_reactor *x;
	int q[2];

	/* the poller stops on EBADF; with the stop eventfd gone too no
	 * wake-up can be armed, and free joins it in its bounded wait */
	x = new_reactor_finding_fds(1, &own);
	cw_init(&cw);
	w = cw_waker(&cw);
	test_pipe(q);
	register_with_waker(x, q[0], &w);
	cr_assert_eq(close(own.epfd), 0);
	fire(q[1]);
	cr_assert(WAIT_FOR(pollers_running() == 0, 5000));
	cr_assert_eq(close(own.stopfd), 0);
	returns_in_time(free_reactor, x, "lfr_reactor_free");
	cr_assert_eq(atomic_load(&cw.refs), 1);
	close_pipe(q);
}

/* One thread using more reactors in turn than it keeps state for: every
 * call may hand the oldest reactor's state to its maintainer.  Registers,
 * re-arms, replaces wakers and deregisters on six reactors round robin;
 * every waker reference is dropped once the reactors are freed and
 * nothing leaks (LeakSanitizer, in CI). */
Test(lifecycle, a_thread_rotating_over_six_reactors_keeps_every_waker_count)
{
	enum { R = 6, ROUNDS = 3000 };
	static struct counting_waker cw[2];
	struct lfr_reactor *rs[R];
	struct lfr_waker w[2];
	int q[2], i, k;

	for (k = 0; k < 2; k++) {
		cw_init(&cw[k]);
		w[k] = cw_waker(&cw[k]);
	}
	for (i = 0; i < R; i++)
		cr_assert_eq(lfr_reactor_new(NULL, &rs[i]), 0);
	test_pipe(q);
	for (k = 0; k < ROUNDS; k++) {
		struct lfr_reactor *x = rs[k % R];
		lfr_id id = lfr_reactor_next_id(x);

		cr_assert_eq(lfr_reactor_register(x, q[0], LFR_READABLE, id), 0);
		cr_assert_eq(lfr_reactor_set_waker(x, &w[0], id), 0);
		cr_assert_eq(lfr_reactor_set_waker(x, &w[0], id), 0);
		cr_assert_eq(lfr_reactor_set_waker(x, &w[1], id), 0);
		cr_assert_eq(lfr_reactor_deregister(x, q[0], id), 0);
	}
	for (i = 0; i < R; i++)
		lfr_reactor_free(rs[i]);
	close_pipe(q);
	for (k = 0; k < 2; k++) {
		cr_assert_eq(atomic_load(&cw[k].misuse), 0);
		cr_assert_eq(atomic_load(&cw[k].refs), 1, "waker %d", k);
		cr_assert_eq(atomic_load(&cw[k].clones), ROUNDS);
	}
}
