/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * echo-server - a multithreaded TCP echo server: N executor threads share
 * one reactor; the first accepts and spawns each connection onto the
 * executors in turn (spawning onto another thread's executor), and each
 * connection echoes what it reads until the peer closes.
 *
 * SIGINT or SIGTERM stops it cleanly, whatever it is doing (a second one,
 * at once).  Out of fds (ulimit -n) it neither spins nor floods stderr:
 * accept backs off until connections close (lfr_tcp_accept_poll), and one
 * line is logged when that starts and one when it ends.
 *
 *   echo-server [--port 7007] [--threads N]   (127.0.0.1; port 0: any free
 *                                               port, printed first;
 *                                               threads: one per online
 *                                               CPU by default)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lfreactor.h>

static struct lfr_reactor *reactor;
static struct lfr_tcp *listener;
static int nthreads; /* 0 until set: one per online CPU */
static atomic_bool stopping;
static sem_t started;

/* one executor thread: thread 0 accepts, the others run what is spawned
 * onto them; each keeps its main task's waker, for the stop */
struct worker {
	struct lfr_executor *ex;
	struct lfr_waker waker;
	pthread_t thread;
	int index;
};
static struct worker *workers;

struct conn {
	struct lfr_tcp *sock;
	char buf[4096];
	ssize_t len, sent;
};

static enum lfr_poll conn_poll(void *state, const struct lfr_waker *w)
{
	struct conn *c = state;
	ssize_t n;

	for (;;) {
		while (c->sent < c->len) {
			if (lfr_tcp_write_poll(c->sock, c->buf + c->sent,
					       (size_t)(c->len - c->sent), w,
					       &n) == LFR_PENDING)
				return LFR_PENDING;
			if (n <= 0)
				return LFR_READY;
			c->sent += n;
		}
		if (lfr_tcp_read_poll(c->sock, c->buf, sizeof(c->buf), w, &n) ==
		    LFR_PENDING)
			return LFR_PENDING;
		if (n <= 0) /* closed by the peer, or reset */
			return LFR_READY;
		c->len = n;
		c->sent = 0;
	}
}

static void conn_drop(void *state)
{
	struct conn *c = state;

	lfr_tcp_close(c->sock);
	free(c);
}

/* the first poll of a worker's main task: keep its waker for the stop */
static void first_poll(struct worker *me, const struct lfr_waker *w)
{
	if (!me->waker.vtable) {
		me->waker = lfr_waker_clone(w);
		sem_post(&started);
	}
}

/* accept's errors that are for good (see lfr_tcp_accept_poll) */
static bool accept_fatal(int err)
{
	return err == -ESHUTDOWN || err == -EINVAL || err == -EBADF ||
	       err == -ENOTSOCK;
}

/* connections accepted in one poll at most: then the task yields, so
 * that the connections on this thread and the stop get their turn */
enum { ACCEPT_BATCH = 64 };

/* Out of fds, lfr_tcp_accept_poll returns -EMFILE once per try and parks
 * this task between tries: the first error of a run is logged, and its end
 * (every waiting connection accepted), not every try. */
static enum lfr_poll accept_poll(void *state, const struct lfr_waker *w)
{
	static unsigned long errors; /* in the current run */
	static unsigned next;
	struct worker *me = state;
	struct lfr_tcp *sock;
	int err;

	first_poll(me, w);
	for (int n = 0;; n++) {
		struct conn *c;

		if (atomic_load(&stopping))
			return LFR_READY;
		if (n == ACCEPT_BATCH) {
			lfr_waker_wake_by_ref(w); /* yield: poll me again */
			return LFR_PENDING;
		}
		if (lfr_tcp_accept_poll(listener, w, &sock, &err) == LFR_PENDING)
			break;
		if (err) {
			if (accept_fatal(err)) {
				fprintf(stderr, "echo-server: accept: %s; no "
					"longer accepting\n", lfr_strerror(err));
				return LFR_READY;
			}
			if (errors++ == 0)
				fprintf(stderr, "echo-server: accept: %s; "
					"retrying as connections close\n",
					lfr_strerror(err));
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			lfr_tcp_close(sock);
			continue;
		}
		c->sock = sock;
		if (lfr_executor_spawn(workers[next++ % (unsigned)nthreads].ex,
				       conn_poll, conn_drop, c))
			conn_drop(c);
	}
	if (!err && errors) { /* caught up: no connection waits */
		fprintf(stderr, "echo-server: accepting again (%lu failed "
			"accepts)\n", errors);
		errors = 0;
	}
	return LFR_PENDING;
}

/* the other executor threads only run what is spawned onto them */
static enum lfr_poll until_stopped(void *state, const struct lfr_waker *w)
{
	first_poll(state, w);
	return atomic_load(&stopping) ? LFR_READY : LFR_PENDING;
}

static void *worker_thread(void *arg)
{
	struct worker *me = arg;

	int ret = lfr_executor_block_on(me->ex, me->index ? until_stopped
							   : accept_poll, me);

	if (ret && !me->waker.vtable) { /* failed before its first poll */
		fprintf(stderr, "echo-server: %s\n", lfr_strerror(ret));
		sem_post(&started);
	}
	/* drops the connections still open; the owner's job */
	lfr_executor_free(me->ex);
	return NULL;
}

static void stop_worker(struct worker *w)
{
	if (w->waker.vtable)
		lfr_waker_wake_by_ref(&w->waker);
	pthread_join(w->thread, NULL);
	if (w->waker.vtable)
		lfr_waker_drop(&w->waker);
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	long port = 7007;
	sigset_t stop;
	int ret, sig;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
			nthreads = atoi(argv[++i]) ?: -1;
		else
			port = -1;
	}
	if (nthreads == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		nthreads = cpus > 0 ? (int)cpus : 1;
	}
	if (port < 0 || port > 65535 || nthreads < 1) {
		fprintf(stderr, "usage: %s [--port N] [--threads N]\n", argv[0]);
		return 2;
	}
	/* every thread started from here on inherits the mask: the signals
	 * come to sigwait below, whatever the executors are doing */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	sem_init(&started, 0, 0);
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	workers = calloc((size_t)nthreads, sizeof(*workers));
	if (!workers || (ret = lfr_reactor_new(NULL, &reactor)) ||
	    (ret = lfr_tcp_listen(reactor, (struct sockaddr *)&addr,
				  sizeof(addr), 128, &listener))) {
		fprintf(stderr, "echo-server: %s\n",
			workers ? lfr_strerror(ret) : "out of memory");
		return 1;
	}
	for (int t = 0; t < nthreads; t++) {
		workers[t].index = t;
		if ((ret = lfr_executor_new(&workers[t].ex))) {
			fprintf(stderr, "echo-server: %s\n", lfr_strerror(ret));
			return 1;
		}
	}
	for (int t = 0; t < nthreads; t++) {
		if ((ret = pthread_create(&workers[t].thread, NULL,
					  worker_thread, &workers[t]))) {
			fprintf(stderr, "echo-server: %s\n", strerror(ret));
			return 1;
		}
	}
	for (int t = 0; t < nthreads; t++) /* every waker kept */
		while (sem_wait(&started) < 0)
			;
	printf("echo-server: listening on 127.0.0.1:%d with %d executor "
	       "threads\n", lfr_tcp_local_port(listener), nthreads);
	fflush(stdout);
	sigwait(&stop, &sig);
	/* A second SIGINT or SIGTERM ends the process at once, and so does
	 * SIGALRM if the clean stop below takes more than 5 s */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
	alarm(5);
	atomic_store(&stopping, true);
	/* the acceptor first: nothing is spawned onto the others after it */
	for (int t = 0; t < nthreads; t++)
		stop_worker(&workers[t]);
	lfr_tcp_close(listener);
	lfr_reactor_free(reactor);
	free(workers);
	sem_destroy(&started);
	alarm(0);
	return 0;
}
