/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * echo-server - a multithreaded TCP echo server: N executor threads share
 * one reactor; each accepts on a listener of its own on the port
 * (SO_REUSEPORT) and runs what it accepts, and each connection echoes
 * what it reads until the peer closes.
 *
 * SIGINT or SIGTERM stops it cleanly, whatever it is doing (a second one,
 * at once), after printing how many connections each thread accepted.  Out of fds (ulimit -n) it neither spins nor floods stderr:
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
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lfreactor.h>

static struct lfr_reactor *reactor;
static int nthreads; /* 0 until set: one per online CPU */

/* atomic: a listener enters a run of resource errors and another leaves
 * its own at once, on two threads */
static atomic_int failing_listeners; /* in a run of resource errors */
static atomic_ulong accept_errors;   /* in the current run */

/* one executor thread: its listener on the shared port belongs to its
 * accept task (whose drop closes it); the handle is for the stop */
struct worker {
	struct lfr_executor *ex;
	struct lfr_tcp *listener;
	struct lfr_task *acceptor;
	pthread_t thread;
	bool failing;           /* its listener is in a run of errors */
	int index;
	atomic_ulong accepted;
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

/* accept's errors that are for good (see lfr_tcp_accept_poll) */
static bool accept_fatal(int err)
{
	return err == -ESHUTDOWN || err == -EINVAL || err == -EBADF ||
	       err == -ENOTSOCK;
}

/* connections accepted in one poll at most: then the task yields, so
 * that the connections on this thread and the stop get their turn */
enum { ACCEPT_BATCH = 64 };

/* A listener enters a run of resource errors (err < 0) or leaves it (err
 * 0).  The first listener to enter one logs it, the last to leave logs
 * its end: two lines a run, not one per try nor per listener. */
static void failing(struct worker *me, int err)
{
	bool on = err < 0;

	if (me->failing == on)
		return;
	me->failing = on;
	if (on && atomic_fetch_add(&failing_listeners, 1) == 0)
		fprintf(stderr, "echo-server: accept: %s; retrying as "
			"connections close\n", lfr_strerror(err));
	else if (!on && atomic_fetch_sub(&failing_listeners, 1) == 1)
		fprintf(stderr, "echo-server: accepting again (%lu failed "
			"accepts)\n", atomic_exchange(&accept_errors, 0));
}

/* A worker's accept task: accepts on its own listener and runs each
 * connection on its own executor, until cancelled.  Out of fds,
 * lfr_tcp_accept_poll returns -EMFILE once per try and parks this task
 * between tries; its run ends when every waiting connection is accepted. */
static enum lfr_poll accept_poll(void *state, const struct lfr_waker *w)
{
	struct worker *me = state;
	struct lfr_tcp *sock;
	int err;

	for (int n = 0;; n++) {
		struct conn *c;

		if (n == ACCEPT_BATCH) {
			lfr_waker_wake_by_ref(w); /* yield: poll me again */
			return LFR_PENDING;
		}
		if (lfr_tcp_accept_poll(me->listener, w, &sock, &err) ==
		    LFR_PENDING)
			break;
		if (err) {
			if (accept_fatal(err)) {
				fprintf(stderr, "echo-server: accept: %s; "
					"thread %d no longer accepting\n",
					lfr_strerror(err), me->index);
				return LFR_READY;
			}
			if (err == -EMFILE || err == -ENFILE ||
			    err == -ENOBUFS || err == -ENOMEM ||
			    err == -ENOSPC) {
				atomic_fetch_add(&accept_errors, 1);
				failing(me, err);
			}
			continue;
		}
		atomic_fetch_add_explicit(&me->accepted, 1,
					  memory_order_relaxed);
		c = calloc(1, sizeof(*c));
		if (!c) {
			lfr_tcp_close(sock);
			continue;
		}
		c->sock = sock;
		if (lfr_executor_spawn(me->ex, conn_poll, conn_drop, c))
			conn_drop(c);
	}
	if (!err) /* caught up: no connection waits */
		failing(me, 0);
	return LFR_PENDING;
}

/* the accept task's end: cancelled, failed, or dropped by free */
static void accept_drop(void *state)
{
	struct worker *me = state;

	failing(me, 0);
	lfr_tcp_close(me->listener);
	me->listener = NULL;
}

/* a worker's main future: run the tasks until lfr_executor_stop */
static enum lfr_poll forever(void *state, const struct lfr_waker *w)
{
	(void)state;
	(void)w;
	return LFR_PENDING;
}

static void *worker_thread(void *arg)
{
	struct worker *me = arg;
	int ret = lfr_executor_block_on(me->ex, forever, NULL);

	if (ret != -ECANCELED)
		fprintf(stderr, "echo-server: thread %d: %s\n", me->index,
			lfr_strerror(ret));
	/* drops the connections still open and the accept task, if it is
	 * still there; the owner's job */
	lfr_executor_free(me->ex);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct lfr_listen_opts opts;
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
	workers = calloc((size_t)nthreads, sizeof(*workers));
	if (!workers || (ret = lfr_reactor_new(NULL, &reactor))) {
		fprintf(stderr, "echo-server: %s\n",
			workers ? lfr_strerror(ret) : "out of memory");
		return 1;
	}
	/* a listener per thread on one port (SO_REUSEPORT): the kernel
	 * spreads connections over them by a hash of addresses and ports.
	 * The first picks the port when asked for 0, the others take it. */
	lfr_listen_opts_init(&opts);
	opts.flags = LFR_LISTEN_REUSEPORT;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int t = 0; t < nthreads; t++) {
		struct worker *w = &workers[t];

		w->index = t;
		addr.sin_port = htons((uint16_t)port);
		if ((ret = lfr_executor_new(&w->ex)) ||
		    (ret = lfr_tcp_listen_opts(reactor, (struct sockaddr *)&addr,
					       sizeof(addr), &opts,
					       &w->listener)) ||
		    (t == 0 && (ret = port = lfr_tcp_local_port(w->listener)) < 0) ||
		    (ret = lfr_executor_spawn_handle(w->ex, accept_poll,
						     accept_drop, w,
						     &w->acceptor))) {
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
	printf("echo-server: listening on 127.0.0.1:%ld with %d executor "
	       "threads\n", port, nthreads);
	fflush(stdout);
	sigwait(&stop, &sig);
	/* A second SIGINT or SIGTERM ends the process at once, and so does
	 * SIGALRM if the clean stop below takes more than 5 s */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
	alarm(5);
	printf("echo-server: connections accepted by thread:");
	for (int t = 0; t < nthreads; t++)
		printf(" %lu", atomic_load(&workers[t].accepted));
	printf("\n");
	fflush(stdout);
	/* the shutdown sequence of lfreactor/executor.h: stop accepting,
	 * stop the executors (each thread then frees its own), join, shut
	 * the reactor down, free it */
	for (int t = 0; t < nthreads; t++)
		lfr_task_cancel(workers[t].acceptor);
	for (int t = 0; t < nthreads; t++)
		lfr_executor_stop(workers[t].ex);
	for (int t = 0; t < nthreads; t++) {
		pthread_join(workers[t].thread, NULL);
		lfr_task_detach(workers[t].acceptor);
	}
	lfr_reactor_shutdown(reactor);
	lfr_reactor_free(reactor);
	free(workers);
	alarm(0);
	return 0;
}
