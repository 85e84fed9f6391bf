/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wake_stress - every event written is observed, under churn.
 *
 * F eventfds, each owned by one of E executor threads.  A writer thread
 * fires every idle eventfd; the reactor's pollers wake its task; the owner
 * reads it, sometimes swaps in a new waker, sometimes deregisters it and
 * registers it again under a fresh id, then re-arms it and marks it idle.
 * Each eventfd has three tasks: two share a vtable (a new waker of the
 * stored one's vtable replaces it inside the entry), the third has a vtable
 * of its own (it moves the waker to a box).  H hammer threads (default 2,
 * each pausing 10 us every 64 calls) meanwhile set random wakers of random
 * eventfds, so set_waker races set_waker on one id and those moves race
 * each other and the pollers.
 * A lost wake-up leaves an eventfd fired forever: at the end every one must
 * be idle again.  Wakers are reference-counted; a wake or clone after the
 * last reference was dropped is counted and fails the run.  Ids handed out
 * must never repeat.  Every --pause events an executor sleeps 8-14 ms, about
 * the time after which the table's maintainer takes an idle thread's
 * retired wakers, so it often wakes up while they are being taken.  Plain
 * C (no test framework), so ThreadSanitizer, valgrind and
 * AddressSanitizer can run it.
 *
 *   wake_stress [--events N] [--fds F] [--executors E] [--pollers P]
 *               [--pause N]  (0: never) [--hammers H]
 *
 * Exits 0 and prints "wake_stress: ok ..." when every invariant held.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <lfreactor.h>

enum { IDLE, FIRED, WOKEN };

struct task {
	const struct lfr_waker_vtable *vt;
	atomic_int refs;     /* the test's own reference + the reactor's */
	atomic_int misuse;   /* woken or cloned after the last drop */
	atomic_long wakes;
	struct slot *slot;
};

#define NTASKS 3

struct slot {
	int fd;
	_Atomic lfr_id id;   /* the hammers read it while its owner churns */
	atomic_int state;
	int owner;
	struct task tasks[NTASKS]; /* the waker moves among these */
	int current;
};

static struct lfr_reactor *reactor;
static struct slot *slots;
static int nslots, nexec, nhammers;
static long pause_every;
static long target;
static atomic_long fired, consumed;
static atomic_bool stop;
static atomic_int errors;

static struct lfr_waker task_clone(void *data);

static void task_wake_by_ref(void *data)
{
	struct task *t = data;
	int idle = FIRED;

	if (atomic_load(&t->refs) <= 0)
		atomic_fetch_add(&t->misuse, 1);
	atomic_fetch_add(&t->wakes, 1);
	/* a wake for a fired slot hands it to its owner; other wakes (a
	 * stale edge, a spurious one) change nothing */
	atomic_compare_exchange_strong(&t->slot->state, &idle, WOKEN);
}

static void task_drop(void *data)
{
	struct task *t = data;

	if (atomic_fetch_sub(&t->refs, 1) <= 0)
		atomic_fetch_add(&t->misuse, 1);
}

static void task_wake(void *data)
{
	task_wake_by_ref(data);
	task_drop(data);
}

/* the same functions under two vtables: two kinds of waker */
static const struct lfr_waker_vtable vtables[2] = {
	{ task_clone, task_wake, task_wake_by_ref, task_drop },
	{ task_clone, task_wake, task_wake_by_ref, task_drop },
};

static struct lfr_waker task_clone(void *data)
{
	struct task *t = data;

	if (atomic_fetch_add(&t->refs, 1) <= 0)
		atomic_fetch_add(&t->misuse, 1);
	return (struct lfr_waker){ t->vt, t };
}

static void check(int ret, const char *what)
{
	if (ret) {
		fprintf(stderr, "wake_stress: %s: %s\n", what, lfr_strerror(ret));
		atomic_fetch_add(&errors, 1);
	}
}

static struct lfr_waker waker_of(struct slot *s, int k)
{
	return (struct lfr_waker){ s->tasks[k].vt, &s->tasks[k] };
}

static void arm(struct slot *s)
{
	struct lfr_waker w = waker_of(s, s->current);

	check(lfr_reactor_set_waker(reactor, &w, atomic_load(&s->id)),
	      "set_waker");
}

/* any task of a slot wakes the slot: a hammer's waker loses no wake-up */
static void *hammer_main(void *arg)
{
	unsigned seed = (unsigned)(intptr_t)arg * 104729u + 7;
	long calls = 0;

	while (!atomic_load(&stop)) {
		struct slot *s = &slots[rand_r(&seed) % (unsigned)nslots];
		struct lfr_waker w = waker_of(s, (int)(rand_r(&seed) % NTASKS));
		int ret = lfr_reactor_set_waker(reactor, &w,
						atomic_load(&s->id));

		if (ret != -ENOENT) /* the owner may have just churned it */
			check(ret, "hammer set_waker");
		/* a pause now and then: the others keep most of the CPU (under
		 * valgrind, which runs one thread at a time, a hammer that only
		 * yields takes nearly all of it) */
		if (++calls % 64 == 0) {
			struct timespec ts = { 0, 10000 };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static void *writer_main(void *arg)
{
	uint64_t one = 1;

	(void)arg;
	while (!atomic_load(&stop)) {
		int any = 0;

		for (int i = 0; i < nslots && atomic_load(&fired) < target; i++) {
			int idle = IDLE;

			if (!atomic_compare_exchange_strong(&slots[i].state, &idle,
							    FIRED))
				continue;
			atomic_fetch_add(&fired, 1);
			if (write(slots[i].fd, &one, sizeof(one)) != sizeof(one))
				atomic_fetch_add(&errors, 1);
			any = 1;
		}
		if (!any)
			sched_yield();
	}
	return NULL;
}

static void *executor_main(void *arg)
{
	int index = (int)(intptr_t)arg;
	unsigned seed = (unsigned)index * 7919u + 1;
	long handled = 0;

	while (!atomic_load(&stop)) {
		int any = 0;

		for (int i = index; i < nslots; i += nexec) {
			struct slot *s = &slots[i];
			uint64_t v;

			if (atomic_load(&s->state) != WOKEN)
				continue;
			any = 1;
			if (read(s->fd, &v, sizeof(v)) != sizeof(v))
				atomic_fetch_add(&errors, 1);
			atomic_fetch_add(&consumed, 1);
			if (pause_every && ++handled % pause_every == 0) {
				struct timespec ts = {
					0, (8 + (long)(rand_r(&seed) % 7)) * 1000000
				};

				nanosleep(&ts, NULL);
			}
			switch (rand_r(&seed) % 16) {
			case 0:
				/* churn: a fresh registration, idle before its
				 * first waker, so the writer may fire into the
				 * gap: that event must be recorded and handed
				 * to the waker by set_waker */
				check(lfr_reactor_deregister(reactor, s->fd,
							     atomic_load(&s->id)),
				      "deregister");
				atomic_store(&s->id,
					     lfr_reactor_next_id(reactor));
				check(lfr_reactor_register(reactor, s->fd,
							   LFR_READABLE,
							   atomic_load(&s->id)),
				      "register");
				atomic_store(&s->state, IDLE);
				arm(s);
				continue;
			case 1: /* another waker, of either kind */
				s->current = (s->current + 1 +
					      (int)(rand_r(&seed) % 2)) % NTASKS;
				break;
			}
			arm(s);
			atomic_store(&s->state, IDLE);
		}
		if (!any)
			sched_yield();
	}
	return NULL;
}

static long option(int argc, char **argv, const char *name, long def)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return atol(argv[i + 1]);
	return def;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	struct lfr_reactor_config cfg;
	struct lfr_reactor_stats st;
	pthread_t writer, *execs, *hammers;
	double t0, deadline;
	int stuck = 0, misuse = 0;

	target = option(argc, argv, "--events", 1000000);
	nslots = (int)option(argc, argv, "--fds", 256);
	nexec = (int)option(argc, argv, "--executors", 3);
	pause_every = option(argc, argv, "--pause", 4096);
	nhammers = (int)option(argc, argv, "--hammers", 2);
	lfr_reactor_config_init(&cfg);
	cfg.pollers = (unsigned)option(argc, argv, "--pollers", 2);
	if (target < 1 || nslots < 1 || nexec < 1 || pause_every < 0 ||
	    nhammers < 0 ||
	    lfr_reactor_new(&cfg, &reactor) != 0) {
		fprintf(stderr, "usage: %s [--events N] [--fds F] "
				"[--executors E] [--pollers P] [--pause N] "
				"[--hammers H]\n",
			argv[0]);
		return 2;
	}
	slots = calloc((size_t)nslots, sizeof(*slots));
	execs = calloc((size_t)nexec, sizeof(*execs));
	hammers = calloc((size_t)nhammers + 1, sizeof(*hammers));
	for (int i = 0; i < nslots; i++) {
		struct slot *s = &slots[i];

		s->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		s->owner = i % nexec;
		for (int k = 0; k < NTASKS; k++) {
			atomic_init(&s->tasks[k].refs, 1);
			s->tasks[k].slot = s;
			s->tasks[k].vt = &vtables[k == NTASKS - 1];
		}
		atomic_init(&s->id, lfr_reactor_next_id(reactor));
		check(lfr_reactor_register(reactor, s->fd, LFR_READABLE,
					   atomic_load(&s->id)),
		      "register");
		arm(s);
	}
	t0 = now();
	pthread_create(&writer, NULL, writer_main, NULL);
	for (int e = 0; e < nexec; e++)
		pthread_create(&execs[e], NULL, executor_main, (void *)(intptr_t)e);
	for (int h = 0; h < nhammers; h++)
		pthread_create(&hammers[h], NULL, hammer_main, (void *)(intptr_t)h);

	/* all events fired and consumed, or a slot stuck: a lost wake-up */
	deadline = now() + 5;
	for (;;) {
		long c = atomic_load(&consumed);

		if (c >= target)
			break;
		if (now() > deadline) {
			stuck = 1;
			break;
		}
		if (c != atomic_load(&consumed) || c == 0)
			deadline = now() + 5;
		usleep(1000);
		if (atomic_load(&consumed) != c)
			deadline = now() + 5;
	}
	atomic_store(&stop, true);
	pthread_join(writer, NULL);
	for (int e = 0; e < nexec; e++)
		pthread_join(execs[e], NULL);
	for (int h = 0; h < nhammers; h++)
		pthread_join(hammers[h], NULL);
	st.size = sizeof(st);
	lfr_reactor_stats(reactor, &st);

	for (int i = 0; i < nslots; i++) {
		int state = atomic_load(&slots[i].state);

		if (state == FIRED) {
			fprintf(stderr, "wake_stress: fd %d fired and never woken\n",
				slots[i].fd);
			stuck = 1;
		}
		check(lfr_reactor_deregister(reactor, slots[i].fd,
					     atomic_load(&slots[i].id)),
		      "deregister");
	}
	lfr_reactor_free(reactor);
	for (int i = 0; i < nslots; i++) {
		for (int k = 0; k < NTASKS; k++) {
			misuse += atomic_load(&slots[i].tasks[k].misuse);
			if (atomic_load(&slots[i].tasks[k].refs) != 1) {
				fprintf(stderr, "wake_stress: a waker holds %d refs "
						"after free\n",
					atomic_load(&slots[i].tasks[k].refs));
				misuse++;
			}
		}
		close(slots[i].fd);
	}
	free(slots);
	free(execs);
	free(hammers);
	if (stuck || misuse || atomic_load(&errors)) {
		fprintf(stderr, "wake_stress: FAILED: %s, %d misuses, %d errors\n",
			stuck ? "a wake-up was lost" : "no lost wake-up", misuse,
			atomic_load(&errors));
		return 1;
	}
	printf("wake_stress: ok: %ld events fired and observed in %.1f s, "
	       "%llu stale, %llu recorded before a waker, no lost wake-up, no "
	       "use after drop\n",
	       atomic_load(&fired), now() - t0, (unsigned long long)st.stale,
	       (unsigned long long)st.no_waker);
	return 0;
}
