/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pipe-wakeup - the reactor in one page.
 *
 * Registers a set of pipes, lets several "executor" threads set the wakers
 * (each thread owns some pipes and re-arms them every round, as tasks do),
 * fires every pipe from the main thread and prints what was woken.  Then it
 * shows the case a reactor that looks wakers up only when an event comes
 * loses (epoll is edge-triggered: the event is not reported again): an
 * event that arrives between register and set_waker is recorded and
 * handed to the waker at once.
 *
 *   pipe-wakeup [--pipes N] [--threads T] [--rounds R] [--pollers P]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lfreactor.h>

struct pipe_task {
	int fds[2];
	lfr_id id;
	int owner;           /* executor thread that sets its waker */
	atomic_int wakes;
	sem_t *woken;        /* posted by the waker: main waits on it */
};

/* The waker points at a pipe_task that outlives the reactor, so clone and
 * drop have nothing to count.  wake_by_ref runs on a poller thread: short,
 * never blocking (sem_post does not block). */
static struct lfr_waker task_clone(void *data);
static void task_wake_by_ref(void *data)
{
	struct pipe_task *t = data;

	atomic_fetch_add(&t->wakes, 1);
	sem_post(t->woken);
}
static void task_drop(void *data) { (void)data; }
static void task_wake(void *data) { task_wake_by_ref(data); }

static const struct lfr_waker_vtable task_vtable = {
	task_clone, task_wake, task_wake_by_ref, task_drop,
};

static struct lfr_waker task_clone(void *data)
{
	return (struct lfr_waker){ &task_vtable, data };
}

struct executor {
	int index, nthreads, npipes, rounds;
	struct lfr_reactor *reactor;
	struct pipe_task *tasks;
	pthread_barrier_t *armed, *fired;
};

static void *executor_main(void *arg)
{
	struct executor *ex = arg;
	int round, i, ret;

	for (round = 0; round < ex->rounds; round++) {
		for (i = ex->index; i < ex->npipes; i += ex->nthreads) {
			struct lfr_waker w = task_clone(&ex->tasks[i]);

			ret = lfr_reactor_set_waker(ex->reactor, &w,
						    ex->tasks[i].id);
			if (ret) {
				fprintf(stderr, "set_waker: %s\n",
					lfr_strerror(ret));
				exit(1);
			}
		}
		pthread_barrier_wait(ex->armed); /* all wakers set */
		pthread_barrier_wait(ex->fired); /* main fired and drained */
	}
	return NULL;
}

static int wait_woken(sem_t *sem, int n)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	while (n-- > 0)
		while (sem_timedwait(sem, &deadline) < 0)
			if (errno != EINTR)
				return -1;
	return 0;
}

static int option(int argc, char **argv, const char *name, int def)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return atoi(argv[i + 1]);
	return def;
}

int main(int argc, char **argv)
{
	int npipes = option(argc, argv, "--pipes", 8);
	int nthreads = option(argc, argv, "--threads", 4);
	int rounds = option(argc, argv, "--rounds", 3);
	struct lfr_reactor_config cfg;
	struct lfr_reactor_stats st;
	struct lfr_reactor *reactor;
	struct pipe_task *tasks, early;
	struct executor *ex;
	pthread_t *threads;
	pthread_barrier_t armed, fired;
	sem_t woken;
	char byte = 'x';
	int i, round, ret;

	if (npipes < 1 || nthreads < 1 || rounds < 1) {
		fprintf(stderr, "usage: %s [--pipes N] [--threads T] "
				"[--rounds R] [--pollers P] (all >= 1)\n",
			argv[0]);
		return 2;
	}
	lfr_reactor_config_init(&cfg);
	cfg.pollers = (unsigned)option(argc, argv, "--pollers", 2);
	ret = lfr_reactor_new(&cfg, &reactor);
	if (ret) {
		fprintf(stderr, "lfr_reactor_new: %s\n", lfr_strerror(ret));
		return 1;
	}
	printf("lfreactor %s: %d pipes, %d executor threads, %u pollers\n",
	       lfr_version_string(), npipes, nthreads, cfg.pollers);

	sem_init(&woken, 0, 0);
	tasks = calloc((size_t)npipes, sizeof(*tasks));
	ex = calloc((size_t)nthreads, sizeof(*ex));
	threads = calloc((size_t)nthreads, sizeof(*threads));
	if (!tasks || !ex || !threads)
		return 1;
	for (i = 0; i < npipes; i++) {
		struct pipe_task *t = &tasks[i];

		if (pipe2(t->fds, O_NONBLOCK | O_CLOEXEC) < 0) {
			perror("pipe2");
			return 1;
		}
		t->id = lfr_reactor_next_id(reactor);
		t->owner = i % nthreads;
		t->woken = &woken;
		ret = lfr_reactor_register(reactor, t->fds[0], LFR_READABLE,
					   t->id);
		if (ret) {
			fprintf(stderr, "register: %s\n", lfr_strerror(ret));
			return 1;
		}
	}

	pthread_barrier_init(&armed, NULL, (unsigned)nthreads + 1);
	pthread_barrier_init(&fired, NULL, (unsigned)nthreads + 1);
	for (i = 0; i < nthreads; i++) {
		ex[i] = (struct executor){ i, nthreads, npipes, rounds,
					   reactor, tasks, &armed, &fired };
		pthread_create(&threads[i], NULL, executor_main, &ex[i]);
	}
	for (round = 0; round < rounds; round++) {
		pthread_barrier_wait(&armed);
		for (i = 0; i < npipes; i++)
			if (write(tasks[i].fds[1], &byte, 1) != 1)
				return 1;
		if (wait_woken(&woken, npipes) < 0) {
			fprintf(stderr, "round %d: not every pipe was woken\n",
				round);
			return 1;
		}
		for (i = 0; i < npipes; i++)
			if (read(tasks[i].fds[0], &byte, 1) != 1)
				return 1;
		pthread_barrier_wait(&fired);
	}
	for (i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);

	for (i = 0; i < npipes; i++)
		printf("pipe %2d  id %-3llu  waker set by thread %d  woken %d "
		       "times\n",
		       i, (unsigned long long)tasks[i].id, tasks[i].owner,
		       atomic_load(&tasks[i].wakes));

	/* an event before the first set_waker: recorded, not lost */
	memset(&early, 0, sizeof(early));
	early.woken = &woken;
	if (pipe2(early.fds, O_NONBLOCK | O_CLOEXEC) < 0)
		return 1;
	early.id = lfr_reactor_next_id(reactor);
	lfr_reactor_register(reactor, early.fds[0], LFR_READABLE, early.id);
	if (write(early.fds[1], &byte, 1) != 1)
		return 1;
	do { /* until a poller has seen the event and found no waker */
		st.size = sizeof(st); /* the bytes we have, before each call */
		lfr_reactor_stats(reactor, &st);
		usleep(1000);
	} while (st.no_waker == 0);
	{
		struct lfr_waker w = task_clone(&early);

		lfr_reactor_set_waker(reactor, &w, early.id);
	}
	printf("early event: fired before set_waker, woken %s\n",
	       atomic_load(&early.wakes) == 1 ? "inside set_waker (not lost)"
					      : "NEVER (lost)");

	for (i = 0; i < npipes; i++) {
		lfr_reactor_deregister(reactor, tasks[i].fds[0], tasks[i].id);
		close(tasks[i].fds[0]);
		close(tasks[i].fds[1]);
	}
	lfr_reactor_deregister(reactor, early.fds[0], early.id);
	close(early.fds[0]);
	close(early.fds[1]);

	st.size = sizeof(st);
	lfr_reactor_stats(reactor, &st);
	printf("stats: events %llu, wakes %llu, no-waker %llu, stale %llu, "
	       "live registrations %llu\n",
	       (unsigned long long)st.events, (unsigned long long)st.wakes,
	       (unsigned long long)st.no_waker, (unsigned long long)st.stale,
	       (unsigned long long)st.registrations);
	lfr_reactor_free(reactor);
	free(tasks);
	free(ex);
	free(threads);
	sem_destroy(&woken);
	return atomic_load(&early.wakes) == 1 ? 0 : 1;
}
