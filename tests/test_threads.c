/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Many threads at once: ids, wakers set on the same and on different ids
 * while events flow, registration churn while the pollers dispatch, and the
 * register / set_waker / event race repeated until a lost wake-up would
 * show; what a thread retired is dropped whether the thread goes on, stops,
 * exits, or moves to other reactors; the front array grows while
 * registrations come and go; the live count stays exact across threads
 * that register, fail, race and exit.  Sized to finish in seconds on 2 cores;
 * LFR_TEST_SCALE multiplies the iteration counts for longer runs.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <urcu/urcu-bp.h>

#include "helpers.h"

static int scale(void)
{
	const char *s = getenv("LFR_TEST_SCALE");
	int n = s ? atoi(s) : 1;

	return n > 0 ? n : 1;
}

static struct lfr_reactor *new_reactor(unsigned pollers)
{
	struct lfr_reactor_config cfg;
	struct lfr_reactor *r;

	lfr_reactor_config_init(&cfg);
	cfg.pollers = pollers;
	cr_assert_eq(lfr_reactor_new(&cfg, &r), 0);
	return r;
}

TestSuite(threads, .timeout = 120);

/* ---- ids ---------------------------------------------------------------- */

enum { ID_THREADS = 4, IDS_PER_THREAD = 50000 };
struct id_job {
	struct lfr_reactor *r;
	lfr_id *out;
};

static void *take_ids(void *arg)
{
	struct id_job *j = arg;

	for (int i = 0; i < IDS_PER_THREAD; i++)
		j->out[i] = lfr_reactor_next_id(j->r);
	return NULL;
}

static int cmp_id(const void *a, const void *b)
{
	lfr_id x = *(const lfr_id *)a, y = *(const lfr_id *)b;

	return x < y ? -1 : x > y;
}

Test(threads, ids_taken_by_many_threads_are_unique_and_never_zero)
{
	struct lfr_reactor *r = new_reactor(1);
	lfr_id *all = calloc(ID_THREADS * IDS_PER_THREAD, sizeof(*all));
	struct id_job jobs[ID_THREADS];
	pthread_t t[ID_THREADS];

	for (int i = 0; i < ID_THREADS; i++) {
		jobs[i] = (struct id_job){ r, all + i * IDS_PER_THREAD };
		pthread_create(&t[i], NULL, take_ids, &jobs[i]);
	}
	for (int i = 0; i < ID_THREADS; i++)
		pthread_join(t[i], NULL);
	qsort(all, ID_THREADS * IDS_PER_THREAD, sizeof(*all), cmp_id);
	cr_assert_neq(all[0], 0);
	for (int i = 1; i < ID_THREADS * IDS_PER_THREAD; i++)
		cr_assert_neq(all[i], all[i - 1], "id %llu twice",
			      (unsigned long long)all[i]);
	free(all);
	lfr_reactor_free(r);
}

/* ---- wakers set from many threads while events flow ----------------- */

enum { PIPES = 16, SETTERS = 4 };
struct shared_state {
	struct lfr_reactor *r;
	int fds[PIPES][2];
	lfr_id ids[PIPES];
	struct counting_waker a[PIPES], b[PIPES], mine[SETTERS];
	atomic_bool stop;
	int rounds;
};

struct setter {
	struct shared_state *s;
	int index;
};

static void *set_wakers(void *arg)
{
	struct setter *st = arg;
	struct shared_state *s = st->s;

	for (int n = 0; n < s->rounds; n++) {
		for (int i = 1 + st->index; i < PIPES; i += SETTERS) {
			/* mostly the same waker again, sometimes another */
			struct lfr_waker w = cw_waker(n % 8 ? &s->a[i] : &s->b[i]);

			cr_assert_eq(lfr_reactor_set_waker(s->r, &w, s->ids[i]), 0);
		}
		/* pipe 0 is contended: every setter stores its own waker */
		{
			struct lfr_waker w = cw_waker(&s->mine[st->index]);

			cr_assert_eq(lfr_reactor_set_waker(s->r, &w, s->ids[0]), 0);
		}
	}
	return NULL;
}

static void *fire_pipes(void *arg)
{
	struct shared_state *s = arg;
	unsigned seed = 1;

	while (!atomic_load(&s->stop)) {
		int i = (int)(rand_r(&seed) % PIPES);

		fire(s->fds[i][1]);
		drain(s->fds[i][0]);
	}
	return NULL;
}

Test(threads, wakers_set_on_same_and_different_ids_while_events_flow)
{
	struct shared_state *s = calloc(1, sizeof(*s));
	struct setter setters[SETTERS];
	pthread_t t[SETTERS], firer;

	s->r = new_reactor(2);
	s->rounds = 20000 * scale();
	for (int i = 0; i < PIPES; i++) {
		cw_init(&s->a[i]);
		cw_init(&s->b[i]);
		test_pipe(s->fds[i]);
		s->ids[i] = lfr_reactor_next_id(s->r);
		cr_assert_eq(lfr_reactor_register(s->r, s->fds[i][0],
						  LFR_READABLE, s->ids[i]), 0);
	}
	for (int i = 0; i < SETTERS; i++)
		cw_init(&s->mine[i]);
	pthread_create(&firer, NULL, fire_pipes, s);
	for (int i = 0; i < SETTERS; i++) {
		setters[i] = (struct setter){ s, i };
		pthread_create(&t[i], NULL, set_wakers, &setters[i]);
	}
	for (int i = 0; i < SETTERS; i++)
		pthread_join(t[i], NULL);
	atomic_store(&s->stop, true);
	pthread_join(firer, NULL);

	/* still live: a fresh waker on every pipe is woken by one event */
	for (int i = 0; i < PIPES; i++) {
		struct counting_waker fresh;
		struct lfr_waker w;

		cw_init(&fresh);
		w = cw_waker(&fresh);
		drain(s->fds[i][0]);
		cr_assert_eq(lfr_reactor_set_waker(s->r, &w, s->ids[i]), 0);
		fire(s->fds[i][1]);
		cr_assert(WAIT_FOR(cw_wakes(&fresh) >= 1, 5000), "pipe %d", i);
		cr_assert_eq(lfr_reactor_deregister(s->r, s->fds[i][0], s->ids[i]), 0);
		lfr_reactor_free(i == PIPES - 1 ? s->r : NULL);
		if (i == PIPES - 1) /* free dropped everything */
			cr_assert_eq(atomic_load(&fresh.refs), 1);
		else
			WAIT_FOR(atomic_load(&fresh.refs) == 1, 5000);
		cr_assert_eq(atomic_load(&fresh.misuse), 0);
	}
	for (int i = 0; i < PIPES; i++) {
		cr_assert_eq(atomic_load(&s->a[i].refs), 1, "pipe %d a", i);
		cr_assert_eq(atomic_load(&s->b[i].refs), 1, "pipe %d b", i);
		cr_assert_eq(atomic_load(&s->a[i].misuse), 0);
		cr_assert_eq(atomic_load(&s->b[i].misuse), 0);
		close_pipe(s->fds[i]);
	}
	for (int i = 0; i < SETTERS; i++) {
		cr_assert_eq(atomic_load(&s->mine[i].refs), 1);
		cr_assert_eq(atomic_load(&s->mine[i].misuse), 0);
	}
	free(s);
}

/* ---- registration churn while the pollers dispatch ------------------ */

enum { CHURNERS = 3 };
struct churner {
	struct lfr_reactor *r;
	int iterations;
	int lost;
	struct counting_waker cw;
};

static void *churn(void *arg)
{
	struct churner *c = arg;
	int fds[2];

	test_pipe(fds);
	for (int n = 0; n < c->iterations; n++) {
		struct lfr_waker w = cw_waker(&c->cw);
		lfr_id id = lfr_reactor_next_id(c->r);
		int before = cw_wakes(&c->cw);

		cr_assert_eq(lfr_reactor_register(c->r, fds[0], LFR_READABLE, id), 0);
		cr_assert_eq(lfr_reactor_set_waker(c->r, &w, id), 0);
		fire(fds[1]);
		/* every other round waits for the wake; the rest deregister
		 * with the event possibly in flight */
		if (n % 2 == 0 && !WAIT_FOR(cw_wakes(&c->cw) > before, 5000))
			c->lost++;
		cr_assert_eq(lfr_reactor_deregister(c->r, fds[0], id), 0);
		drain(fds[0]);
	}
	close_pipe(fds);
	return NULL;
}

Test(threads, register_deregister_churn_while_pollers_dispatch)
{
	struct lfr_reactor *r = new_reactor(2);
	struct churner c[CHURNERS];
	pthread_t t[CHURNERS];
	struct lfr_reactor_stats st;

	for (int i = 0; i < CHURNERS; i++) {
		c[i] = (struct churner){ .r = r, .iterations = 3000 * scale() };
		cw_init(&c[i].cw);
		pthread_create(&t[i], NULL, churn, &c[i]);
	}
	for (int i = 0; i < CHURNERS; i++)
		pthread_join(t[i], NULL);
	st = stats_of(r);
	cr_assert_eq(st.registrations, 0);
	lfr_reactor_free(r);
	for (int i = 0; i < CHURNERS; i++) {
		cr_assert_eq(c[i].lost, 0, "churner %d lost wakes", i);
		cr_assert_eq(atomic_load(&c[i].cw.refs), 1);
		cr_assert_eq(atomic_load(&c[i].cw.misuse), 0);
		cr_assert_geq(cw_wakes(&c[i].cw), c[i].iterations / 2);
	}
}

/* ---- the first set_waker racing the first event ---------------------- */

struct race {
	struct lfr_reactor *r;
	int fds[2];
	lfr_id id;
	struct lfr_waker w;
	pthread_barrier_t go, done;
	int iterations;
};

static void *race_firer(void *arg)
{
	struct race *rc = arg;

	for (int n = 0; n < rc->iterations; n++) {
		pthread_barrier_wait(&rc->go);
		fire(rc->fds[1]);
		pthread_barrier_wait(&rc->done);
	}
	return NULL;
}

Test(threads, first_set_waker_racing_first_event_never_loses_the_wake)
{
	struct race rc = { .iterations = 3000 * scale() };
	struct counting_waker cw;
	pthread_t t;
	int lost = 0;

	rc.r = new_reactor(1);
	test_pipe(rc.fds);
	cw_init(&cw);
	rc.w = cw_waker(&cw);
	pthread_barrier_init(&rc.go, NULL, 2);
	pthread_barrier_init(&rc.done, NULL, 2);
	pthread_create(&t, NULL, race_firer, &rc);
	for (int n = 0; n < rc.iterations; n++) {
		int before = cw_wakes(&cw);

		rc.id = lfr_reactor_next_id(rc.r);
		cr_assert_eq(lfr_reactor_register(rc.r, rc.fds[0], LFR_READABLE, rc.id), 0);
		pthread_barrier_wait(&rc.go);
		cr_assert_eq(lfr_reactor_set_waker(rc.r, &rc.w, rc.id), 0);
		if (!WAIT_FOR(cw_wakes(&cw) > before, 5000))
			lost++;
		pthread_barrier_wait(&rc.done);
		cr_assert_eq(lfr_reactor_deregister(rc.r, rc.fds[0], rc.id), 0);
		drain(rc.fds[0]);
	}
	pthread_join(t, NULL);
	lfr_reactor_free(rc.r);
	cr_assert_eq(lost, 0, "%d of %d wakes lost", lost, rc.iterations);
	cr_assert_eq(atomic_load(&cw.refs), 1);
	cr_assert_eq(atomic_load(&cw.misuse), 0);
	close_pipe(rc.fds);
}

/* ---- a million ids through the table ------------------------------------ */

Test(threads, a_million_ids_pass_through_the_table)
{
	struct lfr_reactor *r = new_reactor(1);
	struct lfr_waker w = lfr_waker_noop();
	lfr_id last = 0;
	int fds[2];
	long n = 1000000L * scale();

	test_pipe(fds);
	for (long i = 0; i < n; i++) {
		lfr_id id = lfr_reactor_next_id(r);

		cr_assert_gt(id, last);
		last = id;
		cr_assert_eq(lfr_reactor_register(r, fds[0], LFR_READABLE, id), 0);
		if (i % 64 == 0)
			cr_assert_eq(lfr_reactor_set_waker(r, &w, id), 0);
		cr_assert_eq(lfr_reactor_deregister(r, fds[0], id), 0);
	}
	cr_assert_eq(stats_of(r).registrations, 0);
	lfr_reactor_free(r);
	close_pipe(fds);
}

/* ---- shutdown while other threads call the API --------------------------- */

enum { CALLERS = 3 };
struct caller {
	struct lfr_reactor *r;
	struct counting_waker cw;
	atomic_bool *go;
	long calls, shut;
	int unexpected;
};

/* each result must be what the call does, or -ESHUTDOWN */
static void *call_until_shut(void *arg)
{
	struct caller *c = arg;
	struct lfr_waker w = cw_waker(&c->cw);
	int fds[2];

	test_pipe(fds);
	while (!atomic_load(c->go))
		;
	for (;;) {
		lfr_id id = lfr_reactor_next_id(c->r);
		int a = lfr_reactor_register(c->r, fds[0], LFR_READABLE, id);
		int b = a ? a : lfr_reactor_set_waker(c->r, &w, id);
		int d = a ? a : lfr_reactor_deregister(c->r, fds[0], id);

		c->calls += 3;
		if ((a && a != -ESHUTDOWN) || (b && b != -ESHUTDOWN) ||
		    (d && d != -ESHUTDOWN))
			c->unexpected++;
		if (a == -ESHUTDOWN || d == -ESHUTDOWN) {
			c->shut++;
			break;
		}
	}
	close_pipe(fds);
	return NULL;
}

Test(threads, shutdown_while_others_call_gives_them_eshutdown)
{
	struct lfr_reactor *r = new_reactor(2);
	struct caller c[CALLERS];
	pthread_t t[CALLERS];
	atomic_bool go = false;

	for (int i = 0; i < CALLERS; i++) {
		c[i] = (struct caller){ .r = r, .go = &go };
		cw_init(&c[i].cw);
		pthread_create(&t[i], NULL, call_until_shut, &c[i]);
	}
	atomic_store(&go, true);
	sleep_ms(100);
	cr_assert_eq(lfr_reactor_shutdown(r), 0);
	for (int i = 0; i < CALLERS; i++)
		pthread_join(t[i], NULL);
	lfr_reactor_free(r);
	for (int i = 0; i < CALLERS; i++) {
		cr_assert_gt(c[i].calls, 0);
		cr_assert_eq(c[i].shut, 1, "caller %d saw the shutdown", i);
		cr_assert_eq(c[i].unexpected, 0, "caller %d", i);
		cr_assert_eq(atomic_load(&c[i].cw.refs), 1);
		cr_assert_eq(atomic_load(&c[i].cw.misuse), 0);
	}
}

/* ---- what a thread retired outlives the thread ------------------------ */

struct leaver {
	struct lfr_reactor *r;
	lfr_id id;
	int fd;
	struct counting_waker *a, *b;
};

static void *set_a_then_b_and_exit(void *arg)
{
	struct leaver *l = arg;
	struct lfr_waker wa = cw_waker(l->a), wb = cw_waker(l->b);

	cr_assert_eq(lfr_reactor_set_waker(l->r, &wa, l->id), 0);
	cr_assert_eq(lfr_reactor_set_waker(l->r, &wb, l->id), 0);
	return NULL;
}

Test(threads, replaced_wakers_of_a_thread_that_exited_are_dropped)
{
	static struct counting_waker a, b;
	struct lfr_reactor *r = new_reactor(1);
	struct leaver l = { .r = r, .a = &a, .b = &b };
	int fds[2];
	pthread_t t;

	cw_init(&a);
	cw_init(&b);
	test_pipe(fds);
	l.id = lfr_reactor_next_id(r);
	l.fd = fds[0];
	cr_assert_eq(lfr_reactor_register(r, fds[0], LFR_READABLE, l.id), 0);
	pthread_create(&t, NULL, set_a_then_b_and_exit, &l);
	pthread_join(t, NULL);

	/* nobody calls the reactor any more: what the thread retired is the
	 * maintainer's to drop */
	cr_assert(WAIT_FOR(atomic_load(&a.refs) == 1, 5000),
		  "a dropped while the reactor lives, refs %d",
		  atomic_load(&a.refs));
	cr_assert_eq(atomic_load(&a.drops), atomic_load(&a.clones));
	cr_assert_eq(atomic_load(&b.refs), 2, "b is still stored");
	fire(fds[1]);
	cr_assert(WAIT_FOR(cw_wakes(&b) == 1, 5000), "and still wakes");
	cr_assert_eq(cw_wakes(&a), 0);
	cr_assert_eq(lfr_reactor_deregister(r, fds[0], l.id), 0);
	lfr_reactor_free(r);
	cr_assert_eq(atomic_load(&b.refs), 1);
	cr_assert_eq(atomic_load(&a.misuse), 0);
	cr_assert_eq(atomic_load(&b.misuse), 0);
	close_pipe(fds);
}

static void *register_set_deregister_and_exit(void *arg)
{
	struct leaver *l = arg;
	struct lfr_waker wa = cw_waker(l->a);

	l->id = lfr_reactor_next_id(l->r);
	cr_assert_eq(lfr_reactor_register(l->r, l->fd, LFR_READABLE, l->id), 0);
	cr_assert_eq(lfr_reactor_set_waker(l->r, &wa, l->id), 0);
	cr_assert_eq(lfr_reactor_deregister(l->r, l->fd, l->id), 0);
	return NULL;
}

Test(threads, the_waker_of_a_registration_removed_by_a_thread_that_exited_is_dropped)
{
	static struct counting_waker a;
	struct lfr_reactor *r = new_reactor(1);
	struct leaver l = { .r = r, .a = &a };
	int fds[2];
	pthread_t t;

	cw_init(&a);
	test_pipe(fds);
	l.fd = fds[0];
	pthread_create(&t, NULL, register_set_deregister_and_exit, &l);
	pthread_join(t, NULL);

	cr_assert(WAIT_FOR(atomic_load(&a.refs) == 1, 5000),
		  "the removed entry's waker dropped while the reactor lives, "
		  "refs %d", atomic_load(&a.refs));
	cr_assert_eq(atomic_load(&a.drops), 1);
	cr_assert_eq(stats_of(r).registrations, 0);
	lfr_reactor_free(r);
	cr_assert_eq(atomic_load(&a.refs), 1);
	cr_assert_eq(atomic_load(&a.misuse), 0);
	close_pipe(fds);
}

/* ---- one thread, more reactors than its cache of tables holds ---------- */

/* a thread keeps its state for 4 tables; a fifth makes it let one go */
enum { REACTORS = 6, REACTOR_ROUNDS = 2000 };

Test(threads, one_thread_on_more_reactors_than_its_cache_holds)
{
	static struct counting_waker a[REACTORS], b[REACTORS];
	struct lfr_reactor *rs[REACTORS];
	int fds[REACTORS][2];
	lfr_id ids[REACTORS];
	int rounds = REACTOR_ROUNDS * scale();

	for (int i = 0; i < REACTORS; i++) {
		rs[i] = new_reactor(1);
		cw_init(&a[i]);
		cw_init(&b[i]);
		test_pipe(fds[i]);
		ids[i] = lfr_reactor_next_id(rs[i]);
		cr_assert_eq(lfr_reactor_register(rs[i], fds[i][0], LFR_READABLE,
						  ids[i]), 0);
	}
	/* round robin: every call finds its reactor evicted from the cache */
	for (int n = 0; n < rounds; n++) {
		for (int i = 0; i < REACTORS; i++) {
			struct lfr_waker w = cw_waker(n % 2 ? &b[i] : &a[i]);

			cr_assert_eq(lfr_reactor_set_waker(rs[i], &w, ids[i]), 0);
		}
	}
	/* the last round stored b everywhere; everything replaced goes */
	for (int i = 0; i < REACTORS; i++) {
		cr_assert(WAIT_FOR(atomic_load(&a[i].refs) == 1 &&
				   atomic_load(&b[i].refs) == 2, 5000),
			  "reactor %d: a refs %d, b refs %d", i,
			  atomic_load(&a[i].refs), atomic_load(&b[i].refs));
		cr_assert_eq(atomic_load(&a[i].drops), atomic_load(&a[i].clones));
		cr_assert_eq(atomic_load(&b[i].drops),
			     atomic_load(&b[i].clones) - 1);
		cr_assert_eq(atomic_load(&a[i].clones) + atomic_load(&b[i].clones),
			     rounds);
	}
	for (int i = 0; i < REACTORS; i++) {
		fire(fds[i][1]);
		cr_assert(WAIT_FOR(cw_wakes(&b[i]) == 1, 5000), "reactor %d", i);
		cr_assert_eq(cw_wakes(&a[i]), 0);
	}
	for (int i = 0; i < REACTORS; i++)
		lfr_reactor_free(rs[i]);
	for (int i = 0; i < REACTORS; i++) {
		cr_assert_eq(atomic_load(&a[i].refs), 1, "reactor %d", i);
		cr_assert_eq(atomic_load(&b[i].refs), 1, "reactor %d", i);
		cr_assert_eq(atomic_load(&a[i].misuse), 0);
		cr_assert_eq(atomic_load(&b[i].misuse), 0);
		close_pipe(fds[i]);
	}
}

/* ---- a thread that retires without pause ------------------------------- */

/* waker_table.c: a block holds 254 retired items, and a thread with 256
 * closed blocks waiting for their grace period waits itself */
enum { BLOCK_ITEMS = 254, MAX_CLOSED_BLOCKS = 256 };
enum { RETIRER_CALLS = 300000 };

struct retirer {
	struct lfr_reactor *r;
	lfr_id id;
	struct counting_waker a, b;
	atomic_long done; /* set_waker calls returned */
};

static void *alternate_wakers(void *arg)
{
	struct retirer *x = arg;

	for (long n = 0; n < RETIRER_CALLS; n++) {
		struct lfr_waker w = cw_waker(n % 2 ? &x->b : &x->a);

		cr_assert_eq(lfr_reactor_set_waker(x->r, &w, x->id), 0);
		atomic_store(&x->done, n + 1);
	}
	return NULL;
}

Test(threads, a_thread_retiring_without_pause_is_bounded_and_loses_nothing)
{
	/* every call but the first retires one waker: the first goes in the
	 * entry, each later one replaces the other */
	const long free_calls = (long)MAX_CLOSED_BLOCKS * BLOCK_ITEMS;
	static struct retirer x;
	int fds[2];
	pthread_t t;
	long stalled;

	x.r = new_reactor(1);
	cw_init(&x.a);
	cw_init(&x.b);
	test_pipe(fds);
	x.id = lfr_reactor_next_id(x.r);
	cr_assert_eq(lfr_reactor_register(x.r, fds[0], LFR_READABLE, x.id), 0);

	/* a reader that stays: no grace period ends, nothing retired can be
	 * dropped, so only back-pressure stops the retirer */
	urcu_bp_read_lock();
	pthread_create(&t, NULL, alternate_wakers, &x);
	if (!WAIT_FOR(atomic_load(&x.done) >= free_calls, 5000)) {
		urcu_bp_read_unlock();
		cr_assert_fail("waited too early, after %ld calls",
			       atomic_load(&x.done));
	}
	sleep_ms(100);
	stalled = atomic_load(&x.done);
	urcu_bp_read_unlock();
	cr_assert_leq(stalled, free_calls + BLOCK_ITEMS + 1,
		      "went on to %ld calls with nothing dropped", stalled);

	/* the reader left: it goes on to the end */
	pthread_join(t, NULL);
	cr_assert_eq(atomic_load(&x.done), RETIRER_CALLS);
	cr_assert(WAIT_FOR(atomic_load(&x.a.refs) == 1 &&
			   atomic_load(&x.b.refs) == 2, 5000),
		  "all but the stored waker dropped: a refs %d, b refs %d",
		  atomic_load(&x.a.refs), atomic_load(&x.b.refs));
	cr_assert_eq(atomic_load(&x.a.clones) + atomic_load(&x.b.clones),
		     RETIRER_CALLS);
	cr_assert_eq(atomic_load(&x.a.clones), atomic_load(&x.a.drops));
	cr_assert_eq(atomic_load(&x.b.clones), atomic_load(&x.b.drops) + 1);
	cr_assert_eq(lfr_reactor_deregister(x.r, fds[0], x.id), 0);
	lfr_reactor_free(x.r);
	cr_assert_eq(atomic_load(&x.b.refs), 1);
	cr_assert_eq(atomic_load(&x.a.misuse), 0);
	cr_assert_eq(atomic_load(&x.b.misuse), 0);
	close_pipe(fds);
}

/* ---- the front array grows while other threads deregister -------------- */

/* Each grower keeps a window of live registrations, half on eventfds and
 * half on pipes, and widens it in steps: 4 growers x 4..64 live ones take
 * the table from 16 to 256 slots, one doubling or more at a time, while
 * the oldest registration of every window is removed at each step.  The
 * widest step lasts until the table has grown to fit it.  Every
 * registration gets a decoy waker, replaced at once, and its own waker;
 * the test then lets go of its references, so a waker woken after the
 * reactor dropped it counts as misuse. */
enum { GROWERS = 4, GROW_WINDOW = 64, GROW_STEPS = 5, GROW_PER_STEP = 1000,
       GROW_LAST_MAX = 20 * GROW_PER_STEP,
       GROW_MAX = (GROW_STEPS - 1) * GROW_PER_STEP + GROW_LAST_MAX };
static atomic_bool grown; /* the table fits the widest step */
static pthread_barrier_t grow_step; /* the growers widen together */
/* removed ids each grower keeps trying: a removed entry that a grown
 * array still held would be found again after the array was published */
enum { GROW_GONE = 16 };

struct grow_slot {
	int rd, wr; /* an eventfd: rd == wr */
	lfr_id id;  /* 0: free */
	struct counting_waker *decoy, *mine;
};

struct grower {
	struct lfr_reactor *r;
	struct grow_slot slot[GROW_WINDOW];
	struct counting_waker *pool; /* two per registration */
	int used;
	lfr_id gone[GROW_GONE]; /* the last ones removed */
	unsigned ngone;
	int lost, still_set;
};

static void signal_slot(struct grow_slot *s)
{
	if (s->rd == s->wr)
		cr_assert_eq(eventfd_write(s->wr, 1), 0);
	else
		fire(s->wr);
}

static void give_away(struct counting_waker *cw)
{
	struct lfr_waker w = cw_waker(cw);

	lfr_waker_drop(&w);
}

static void grow_register(struct grower *g, struct grow_slot *s)
{
	struct lfr_waker wd, wm;

	s->decoy = &g->pool[g->used++];
	s->mine = &g->pool[g->used++];
	cw_init(s->decoy);
	cw_init(s->mine);
	wd = cw_waker(s->decoy);
	wm = cw_waker(s->mine);
	s->id = lfr_reactor_next_id(g->r);
	cr_assert_eq(lfr_reactor_register(g->r, s->rd, LFR_READABLE, s->id), 0);
	cr_assert_eq(lfr_reactor_set_waker(g->r, &wd, s->id), 0);
	cr_assert_eq(lfr_reactor_set_waker(g->r, &wm, s->id), 0);
	give_away(s->decoy);
	give_away(s->mine);
	signal_slot(s);
}

static void grow_deregister(struct grower *g, struct grow_slot *s)
{
	struct lfr_waker noop = lfr_waker_noop();

	if (!WAIT_FOR(cw_wakes(s->mine) >= 1, 5000))
		g->lost++;
	cr_assert_eq(lfr_reactor_deregister(g->r, s->rd, s->id), 0);
	if (lfr_reactor_set_waker(g->r, &noop, s->id) != -ENOENT)
		g->still_set++;
	g->gone[g->ngone++ % GROW_GONE] = s->id;
	drain(s->rd);
	s->id = 0;
}

/* the ids removed lately are still gone */
static void grow_check_gone(struct grower *g)
{
	struct lfr_waker noop = lfr_waker_noop();

	for (unsigned k = 0; k < GROW_GONE && k < g->ngone; k++)
		if (lfr_reactor_set_waker(g->r, &noop, g->gone[k]) != -ENOENT)
			g->still_set++;
}

static void *grow_and_churn(void *arg)
{
	struct grower *g = arg;
	int window = GROW_WINDOW >> (GROW_STEPS - 1);

	for (int step = 0; step < GROW_STEPS; step++, window *= 2) {
		bool last = step == GROW_STEPS - 1;

		pthread_barrier_wait(&grow_step);
		for (int n = 0; n < GROW_PER_STEP ||
				(last && !atomic_load(&grown) && n < GROW_LAST_MAX);
		     n++) {
			struct grow_slot *s = &g->slot[n % window];

			if (s->id)
				grow_deregister(g, s);
			grow_register(g, s);
			grow_check_gone(g);
		}
	}
	for (int j = 0; j < GROW_WINDOW; j++)
		if (g->slot[j].id)
			grow_deregister(g, &g->slot[j]);
	return NULL;
}

Test(threads, the_front_array_grows_while_other_threads_deregister)
{
	static struct grower g[GROWERS];
	struct lfr_reactor_config cfg;
	struct lfr_reactor *r;
	pthread_t t[GROWERS];
	uint64_t most = 0;
	int joined = 0;

	lfr_reactor_config_init(&cfg);
	cfg.pollers = 2;
	cfg.initial_buckets = 16;
	cr_assert_eq(lfr_reactor_new(&cfg, &r), 0);
	pthread_barrier_init(&grow_step, NULL, GROWERS);
	for (int i = 0; i < GROWERS; i++) {
		g[i].r = r;
		g[i].pool = calloc(2 * GROW_MAX, sizeof(*g[i].pool));
		for (int j = 0; j < GROW_WINDOW; j++) {
			struct grow_slot *s = &g[i].slot[j];
			int fds[2];

			if (j % 2) {
				test_pipe(fds);
				s->rd = fds[0];
				s->wr = fds[1];
			} else {
				s->rd = s->wr = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
				cr_assert_geq(s->rd, 0);
			}
		}
		pthread_create(&t[i], NULL, grow_and_churn, &g[i]);
	}
	/* the table's size, while it grows */
	while (joined < GROWERS) {
		uint64_t b = stats_of(r).buckets;

		most = b > most ? b : most;
		if (most >= GROWERS * GROW_WINDOW)
			atomic_store(&grown, true);
		if (pthread_tryjoin_np(t[joined], NULL) == 0)
			joined++;
		else
			sleep_ms(1);
	}
	cr_assert_geq(most, GROWERS * GROW_WINDOW,
		      "the table grew only to %llu buckets",
		      (unsigned long long)most);
	cr_assert_eq(stats_of(r).registrations, 0);
	lfr_reactor_free(r);
	for (int i = 0; i < GROWERS; i++) {
		cr_assert_eq(g[i].lost, 0, "grower %d lost wakes", i);
		cr_assert_eq(g[i].still_set, 0,
			     "grower %d: set_waker found a removed id", i);
		for (int k = 0; k < g[i].used; k += 2) {
			struct counting_waker *d = &g[i].pool[k],
					      *m = &g[i].pool[k + 1];

			cr_assert_eq(cw_wakes(d), 0, "grower %d: decoy %d woken",
				     i, k / 2);
			cr_assert_eq(cw_wakes(m), 1, "grower %d: waker %d woken %d "
				     "times", i, k / 2, cw_wakes(m));
			cr_assert_eq(atomic_load(&d->misuse), 0);
			cr_assert_eq(atomic_load(&m->misuse), 0);
			cr_assert_eq(atomic_load(&d->refs), 0);
			cr_assert_eq(atomic_load(&m->refs), 0);
		}
		for (int j = 0; j < GROW_WINDOW; j++) {
			struct grow_slot *s = &g[i].slot[j];

			close(s->rd);
			if (s->wr != s->rd)
				close(s->wr);
		}
		free(g[i].pool);
	}
}

/* ---- the live count, kept by the table across threads ------------------- */

enum { LIVE_THREADS = 4, LIVE_FDS = 32 };
struct live_job {
	struct lfr_reactor *r;
	int fds[LIVE_FDS];
	lfr_id kept[LIVE_FDS];
	int keep;       /* registrations left in place when the thread exits */
	int rounds;
	int bad;        /* unexpected results */
};

/* Registers and deregisters its eventfds round after round, with failures
 * mixed in that must not count (a register of an fd already registered is
 * rolled back, a deregister with the wrong fd or twice changes nothing),
 * and exits with keep of them registered. */
static void *live_churn(void *arg)
{
	struct live_job *j = arg;
	lfr_id ids[LIVE_FDS];

	for (int round = 0; round < j->rounds; round++) {
		bool last = round == j->rounds - 1;

		for (int k = 0; k < LIVE_FDS; k++) {
			ids[k] = lfr_reactor_next_id(j->r);
			j->bad += lfr_reactor_register(j->r, j->fds[k],
						       LFR_READABLE, ids[k]) != 0;
		}
		j->bad += lfr_reactor_register(j->r, j->fds[0], LFR_READABLE,
				lfr_reactor_next_id(j->r)) != -EEXIST;
		j->bad += lfr_reactor_deregister(j->r, j->fds[1], ids[0]) !=
			  -EINVAL;
		for (int k = 0; k < LIVE_FDS; k++) {
			if (last && k < j->keep) {
				j->kept[k] = ids[k];
				continue;
			}
			j->bad += lfr_reactor_deregister(j->r, j->fds[k],
							 ids[k]) != 0;
			j->bad += lfr_reactor_deregister(j->r, j->fds[k],
							 ids[k]) != -ENOENT;
		}
	}
	return NULL;
}

struct live_racer {
	struct lfr_reactor *r;
	const int *fds;
	const lfr_id *ids;
	int n, won, bad;
};

static void *live_race(void *arg)
{
	struct live_racer *c = arg;

	for (int k = 0; k < c->n; k++) {
		int ret = lfr_reactor_deregister(c->r, c->fds[k], c->ids[k]);

		if (ret == 0)
			c->won++;
		else if (ret != -ENOENT)
			c->bad++;
	}
	return NULL;
}

Test(threads, the_live_count_is_exact_after_concurrent_registers_and_deregisters)
{
	enum { RACED = 128 };
	static struct live_job j[LIVE_THREADS];
	static int rfds[RACED];
	static lfr_id rids[RACED];
	struct lfr_reactor *r = new_reactor(1);
	struct live_racer c[2];
	pthread_t t[LIVE_THREADS];
	uint64_t kept = 0;

	for (int i = 0; i < LIVE_THREADS; i++) {
		j[i] = (struct live_job){ .r = r, .keep = 3 * i + 1,
					  .rounds = 200 * scale() };
		for (int k = 0; k < LIVE_FDS; k++) {
			j[i].fds[k] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			cr_assert_geq(j[i].fds[k], 0);
		}
		kept += j[i].keep;
		pthread_create(&t[i], NULL, live_churn, &j[i]);
	}
	for (int i = 0; i < LIVE_THREADS; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(j[i].bad, 0, "thread %d: %d unexpected results",
			     i, j[i].bad);
	}
	/* the threads exited: what they counted stays with the table */
	cr_assert_eq(stats_of(r).registrations, kept);
	for (int i = 0; i < LIVE_THREADS; i++)
		for (int k = 0; k < j[i].keep; k++) {
			cr_assert_eq(lfr_reactor_deregister(r, j[i].fds[k],
							    j[i].kept[k]), 0);
			cr_assert_eq(stats_of(r).registrations, --kept);
		}

	/* two threads deregister the same ids: each is counted out once */
	for (int k = 0; k < RACED; k++) {
		rfds[k] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		cr_assert_geq(rfds[k], 0);
		rids[k] = lfr_reactor_next_id(r);
		cr_assert_eq(lfr_reactor_register(r, rfds[k], LFR_READABLE,
						  rids[k]), 0);
	}
	cr_assert_eq(stats_of(r).registrations, RACED);
	for (int i = 0; i < 2; i++) {
		c[i] = (struct live_racer){ r, rfds, rids, RACED, 0, 0 };
		pthread_create(&t[i], NULL, live_race, &c[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(c[0].bad + c[1].bad, 0);
	cr_assert_eq(c[0].won + c[1].won, RACED, "one deregister wins each");
	cr_assert_eq(stats_of(r).registrations, 0);
	lfr_reactor_free(r);
	for (int i = 0; i < LIVE_THREADS; i++)
		for (int k = 0; k < LIVE_FDS; k++)
			close(j[i].fds[k]);
	for (int k = 0; k < RACED; k++)
		close(rfds[k]);
}
