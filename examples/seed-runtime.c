/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * seed-runtime - the book's "multiple threads" workload on lfreactor: each
 * of T executor threads runs a task that spawns R requests
 * `GET /<i*1000>/HelloWorld<i>` (i = 0..R-1) against the delay server, all
 * sharing one reactor; it prints each response's body and exits 0 once all
 * have arrived (about R-1 seconds), non-zero if the server is unreachable.
 *
 *   seed-runtime [--threads 12] [--requests 5] [--port 8080]
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lfreactor.h>

static struct lfr_reactor *reactor;
static int port = 8080, nthreads = 12, nrequests = 5;
static atomic_int failures;

/* one executor thread's main task: waits for its requests */
struct thread_main {
	int index;
	struct lfr_executor *ex;
	atomic_int left;
	struct lfr_waker waker; /* woken by each request that finishes */
	int spawned;
};

struct request {
	struct thread_main *owner;
	int i;
	struct lfr_tcp *sock;
	char out[128];
	size_t out_len, sent;
	char in[4096];
	size_t got;
	int step;
};

static void request_done(struct request *rq, const char *error)
{
	if (error) {
		fprintf(stderr, "seed-runtime: request %d: %s\n", rq->i, error);
		atomic_fetch_add(&failures, 1);
	} else {
		char *body = strstr(rq->in, "\r\n\r\n");

		printf("thread %2d: %s\n", rq->owner->index, body ? body + 4 : "");
	}
	if (atomic_fetch_sub(&rq->owner->left, 1) == 1)
		lfr_waker_wake_by_ref(&rq->owner->waker);
}

static enum lfr_poll request_poll(void *state, const struct lfr_waker *w)
{
	struct request *rq = state;
	ssize_t n;
	int err;

	for (;;) {
		switch (rq->step) {
		case 0: {
			struct sockaddr_in a = { .sin_family = AF_INET };

			a.sin_port = htons((uint16_t)port);
			a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			err = lfr_tcp_connect(reactor, (struct sockaddr *)&a,
					      sizeof(a), &rq->sock);
			if (err) {
				request_done(rq, lfr_strerror(err));
				return LFR_READY;
			}
			rq->out_len = (size_t)snprintf(
				rq->out, sizeof(rq->out),
				"GET /%d/HelloWorld%d HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				"Connection: close\r\n\r\n",
				rq->i * 1000, rq->i);
			rq->step = 1;
			continue;
		}
		case 1:
			if (lfr_tcp_connect_poll(rq->sock, w, &err) == LFR_PENDING)
				return LFR_PENDING;
			if (err) {
				request_done(rq, lfr_strerror(err));
				return LFR_READY;
			}
			rq->step = 2;
			continue;
		case 2:
			if (rq->sent < rq->out_len) {
				if (lfr_tcp_write_poll(rq->sock, rq->out + rq->sent,
						       rq->out_len - rq->sent, w,
						       &n) == LFR_PENDING)
					return LFR_PENDING;
				if (n < 0) {
					request_done(rq, lfr_strerror((int)n));
					return LFR_READY;
				}
				rq->sent += (size_t)n;
				continue;
			}
			rq->step = 3;
			continue;
		case 3: /* until the server closes */
			if (lfr_tcp_read_poll(rq->sock, rq->in + rq->got,
					      sizeof(rq->in) - 1 - rq->got, w,
					      &n) == LFR_PENDING)
				return LFR_PENDING;
			if (n < 0) {
				request_done(rq, lfr_strerror((int)n));
				return LFR_READY;
			}
			rq->got += (size_t)n;
			rq->in[rq->got] = '\0';
			if (n > 0 && rq->got < sizeof(rq->in) - 1)
				continue;
			request_done(rq, strncmp(rq->in, "HTTP/1.1 200", 12)
						 ? "no 200 response" : NULL);
			return LFR_READY;
		}
	}
}

static void request_drop(void *state)
{
	struct request *rq = state;

	lfr_tcp_close(rq->sock);
	free(rq);
}

static enum lfr_poll thread_main_poll(void *state, const struct lfr_waker *w)
{
	struct thread_main *m = state;

	if (!m->spawned) {
		m->spawned = 1;
		m->waker = lfr_waker_clone(w);
		atomic_store(&m->left, nrequests);
		for (int i = 0; i < nrequests; i++) {
			struct request *rq = calloc(1, sizeof(*rq));

			if (!rq) {
				fprintf(stderr, "seed-runtime: out of memory\n");
				exit(1);
			}
			rq->owner = m;
			rq->i = i;
			if (lfr_executor_spawn(m->ex, request_poll, request_drop,
					       rq)) {
				fprintf(stderr, "seed-runtime: spawn failed\n");
				exit(1);
			}
		}
	}
	return atomic_load(&m->left) == 0 ? LFR_READY : LFR_PENDING;
}

static void *thread_run(void *arg)
{
	struct thread_main *m = arg;

	if (lfr_executor_new(&m->ex) ||
	    lfr_executor_block_on(m->ex, thread_main_poll, m)) {
		atomic_fetch_add(&failures, 1);
		return NULL;
	}
	lfr_waker_drop(&m->waker);
	lfr_executor_free(m->ex);
	return NULL;
}

int main(int argc, char **argv)
{
	struct thread_main *mains;
	pthread_t *threads;
	int ret;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--threads") == 0)
			nthreads = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--requests") == 0)
			nrequests = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
		else
			argc = -1;
	}
	if (argc < 0 || argc % 2 == 0 || nthreads < 1 || nrequests < 1 ||
	    port < 1 || port > 65535) {
		fprintf(stderr, "usage: %s [--threads T] [--requests R] "
				"[--port P]\n", argv[0]);
		return 2;
	}
	if ((ret = lfr_reactor_new(NULL, &reactor)) != 0) {
		fprintf(stderr, "seed-runtime: %s\n", lfr_strerror(ret));
		return 1;
	}
	mains = calloc((size_t)nthreads, sizeof(*mains));
	threads = calloc((size_t)nthreads, sizeof(*threads));
	for (int t = 0; t < nthreads; t++) {
		mains[t].index = t;
		pthread_create(&threads[t], NULL, thread_run, &mains[t]);
	}
	for (int t = 0; t < nthreads; t++)
		pthread_join(threads[t], NULL);
	lfr_reactor_free(reactor);
	free(mains);
	free(threads);
	if (atomic_load(&failures)) {
		fprintf(stderr, "seed-runtime: %d requests failed (is the delay "
				"server running on 127.0.0.1:%d?)\n",
			atomic_load(&failures), port);
		return 1;
	}
	return 0;
}
