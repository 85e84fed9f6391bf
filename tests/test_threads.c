/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Many threads at once: ids, wakers set on the same and on different ids
 * while events flow, registration churn while the pollers dispatch, and the
 * register / set_waker / event race repeated until a lost wake-up would
 * show.  Sized to finish in seconds on 2 cores; LFR_TEST_SCALE multiplies
 * the iteration counts for longer runs.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

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
