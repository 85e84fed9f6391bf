/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delay.c - the book's delay server and its client on lfreactor; see
 * delay.h.
 * Every connection and every request is a task: a C state machine whose
 * poll function advances it and returns LFR_PENDING after handing its
 * waker to a leaf future (TCP or timer), which hands it to the reactor.
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
#include <time.h>
#include <unistd.h>

#include "delay.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };

	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* ==== the server ========================================================== */

struct delay_server {
	struct lfr_reactor *reactor;
	struct lfr_executor *ex;  /* the server thread's */
	struct lfr_tcp *listener;
	pthread_t thread;
	atomic_bool stop;
	struct lfr_waker waker;   /* the accept task's, for stop */
	sem_t ready;
	int err;
	unsigned long accept_errors; /* in the current run of them */
};

struct conn {
	struct delay_server *server;
	struct lfr_tcp *sock;
	char req[4096];
	size_t got;
	char resp[4096 + 256];
	size_t len, sent;
	struct lfr_sleep *sleep;
	int step;
};

/* "GET /<ms>/<message> HTTP/1.x": 0 and the parts, or -1 */
static int parse(char *req, unsigned long *ms, char **msg)
{
	char *p, *end, *sp;

	if (strncmp(req, "GET /", 5) != 0)
		return -1;
	p = req + 5;
	*ms = strtoul(p, &end, 10);
	if (end == p || *end != '/' || *ms > 600000)
		return -1;
	*msg = end + 1;
	sp = strchr(*msg, ' ');
	if (!sp || sp == *msg || strncmp(sp, " HTTP/1.", 8) != 0)
		return -1;
	*sp = '\0';
	return 0;
}

static void respond(struct conn *c, int status, const char *body)
{
	int n = snprintf(c->resp, sizeof(c->resp),
			 "HTTP/1.1 %s\r\nContent-Type: text/plain\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 status == 200   ? "200 OK"
			 : status == 503 ? "503 Service Unavailable"
					 : "400 Bad Request",
			 strlen(body), body);

	c->len = n > 0 ? (size_t)n : 0;
	c->sent = 0;
}

static enum lfr_poll conn_poll(void *state, const struct lfr_waker *w)
{
	struct conn *c = state;
	unsigned long ms;
	char *msg;
	ssize_t n;
	int err;

	for (;;) {
		switch (c->step) {
		case 0: /* read the request head */
			if (lfr_tcp_read_poll(c->sock, c->req + c->got,
					      sizeof(c->req) - 1 - c->got, w,
					      &n) == LFR_PENDING)
				return LFR_PENDING;
			if (n <= 0)
				return LFR_READY; /* gone or failed: drop */
			c->got += (size_t)n;
			c->req[c->got] = '\0';
			if (!strstr(c->req, "\r\n\r\n")) {
				if (c->got < sizeof(c->req) - 1)
					continue;
				respond(c, 400, "request too long\n");
				c->step = 2;
				continue;
			}
			if (parse(c->req, &ms, &msg) < 0) {
				respond(c, 400, "expected GET /<ms>/<message>\n");
				c->step = 2;
				continue;
			}
			/* out of fds (or memory) for the timer: say so now
			 * rather than drop the connection unanswered */
			if (lfr_sleep_new(c->server->reactor, ms, &c->sleep) != 0) {
				respond(c, 503, "server busy, try again\n");
				c->step = 2;
				continue;
			}
			respond(c, 200, msg);
			c->step = 1;
			continue;
		case 1: /* wait, without holding anyone else up */
			if (lfr_sleep_poll(c->sleep, w, &err) == LFR_PENDING)
				return LFR_PENDING;
			if (err) /* could not wait: the reactor is stopping */
				return LFR_READY;
			c->step = 2;
			continue;
		case 2: /* write the response, then close (in drop) */
			while (c->sent < c->len) {
				if (lfr_tcp_write_poll(c->sock, c->resp + c->sent,
						       c->len - c->sent, w,
						       &n) == LFR_PENDING)
					return LFR_PENDING;
				if (n <= 0)
					return LFR_READY;
				c->sent += (size_t)n;
			}
			return LFR_READY;
		}
	}
}

static void conn_drop(void *state)
{
	struct conn *c = state;

	lfr_sleep_free(c->sleep);
	lfr_tcp_close(c->sock);
	free(c);
}

/* accept's errors that are for good (see lfr_tcp_accept_poll); out of fds
 * or memory, the listener backs off by itself, and any other error
 * belongs to one connection */
static bool accept_fatal(int err)
{
	return err == -ESHUTDOWN || err == -EINVAL || err == -EBADF ||
	       err == -ENOTSOCK;
}

/* connections accepted in one poll at most: then the accept task yields,
 * so that a flood of new ones starves neither the connections (on this
 * thread too) nor the stop */
enum { ACCEPT_BATCH = 64 };

/*
 * The server thread's main future: accepts until stopped.  Out of fds,
 * lfr_tcp_accept_poll returns -EMFILE once per try and parks the task
 * between tries (until a connection closes, or for up to 100 ms): the
 * first error of a run is logged, and its end, not every try.  A run ends
 * when every waiting connection has been accepted (LFR_PENDING, err 0).
 */
static enum lfr_poll accept_poll(void *state, const struct lfr_waker *w)
{
	struct delay_server *s = state;
	struct lfr_tcp *sock;
	int err;

	if (!s->waker.vtable) {
		s->waker = lfr_waker_clone(w);
		sem_post(&s->ready);
	}
	for (int n = 0;; n++) {
		struct conn *c;

		if (atomic_load(&s->stop))
			return LFR_READY;
		if (n == ACCEPT_BATCH) {
			lfr_waker_wake_by_ref(w); /* yield: poll me again */
			return LFR_PENDING;
		}
		if (lfr_tcp_accept_poll(s->listener, w, &sock, &err) ==
		    LFR_PENDING)
			break;
		if (err) {
			if (accept_fatal(err)) {
				fprintf(stderr, "delayserver: accept: %s; no "
					"longer accepting\n", lfr_strerror(err));
				return LFR_READY;
			}
			if (s->accept_errors++ == 0)
				fprintf(stderr, "delayserver: accept: %s; "
					"retrying as connections close\n",
					lfr_strerror(err));
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			lfr_tcp_close(sock);
			continue;
		}
		c->server = s;
		c->sock = sock;
		if (lfr_executor_spawn(s->ex, conn_poll, conn_drop, c))
			conn_drop(c);
	}
	if (!err && s->accept_errors) { /* caught up: no connection waits */
		fprintf(stderr, "delayserver: accepting again (%lu failed "
			"accepts)\n", s->accept_errors);
		s->accept_errors = 0;
	}
	return LFR_PENDING;
}

static void *server_thread(void *arg)
{
	struct delay_server *s = arg;

	s->err = lfr_executor_new(&s->ex);
	if (!s->err)
		s->err = lfr_executor_block_on(s->ex, accept_poll, s);
	/* after stop: drops connections still waiting; NULL is a no-op */
	lfr_executor_free(s->ex);
	if (s->err) /* block_on fails before its first poll, or never */
		sem_post(&s->ready);
	return NULL;
}

int delay_server_start(struct lfr_reactor *r, int port,
		       struct delay_server **out)
{
	struct sockaddr_in addr = loopback(port);
	struct delay_server *s;
	int ret;

	if (!r || !out || port < 0 || port > 65535)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->reactor = r;
	sem_init(&s->ready, 0, 0);
	ret = lfr_tcp_listen(r, (struct sockaddr *)&addr, sizeof(addr), 128,
			     &s->listener);
	if (!ret)
		ret = -pthread_create(&s->thread, NULL, server_thread, s);
	if (ret) {
		lfr_tcp_close(s->listener);
		sem_destroy(&s->ready);
		free(s);
		return ret;
	}
	sem_wait(&s->ready); /* listening and its waker kept, or failed */
	if (s->err) {
		ret = s->err;
		pthread_join(s->thread, NULL);
		lfr_tcp_close(s->listener);
		sem_destroy(&s->ready);
		free(s);
		return ret;
	}
	*out = s;
	return 0;
}

int delay_server_port(const struct delay_server *s)
{
	return lfr_tcp_local_port(s->listener);
}

void delay_server_stop(struct delay_server *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, true);
	lfr_waker_wake_by_ref(&s->waker);
	pthread_join(s->thread, NULL);
	lfr_waker_drop(&s->waker);
	lfr_tcp_close(s->listener);
	sem_destroy(&s->ready);
	free(s);
}

int delay_server_main(int port)
{
	struct lfr_reactor *reactor;
	struct delay_server *server;
	sigset_t stop;
	int ret, sig;

	/* every thread started from here on inherits the mask: the signals
	 * come to sigwait below, whatever the other threads are doing */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	if ((ret = lfr_reactor_new(NULL, &reactor))) {
		fprintf(stderr, "delayserver: %s\n", lfr_strerror(ret));
		return 1;
	}
	if ((ret = delay_server_start(reactor, port, &server))) {
		fprintf(stderr, "delayserver: %s\n", lfr_strerror(ret));
		lfr_reactor_free(reactor);
		return 1;
	}
	printf("delayserver: listening on 127.0.0.1:%d\n",
	       delay_server_port(server));
	fflush(stdout);
	sigwait(&stop, &sig);
	/* A second SIGINT or SIGTERM ends the process at once, and so does
	 * SIGALRM if the clean stop below takes more than 5 s */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
	alarm(5);
	delay_server_stop(server);
	lfr_reactor_free(reactor);
	alarm(0);
	return 0;
}

/* ==== the client ========================================================== */

struct fetch_run {
	struct lfr_reactor *reactor;
	const struct delay_fetch *f;
	struct delay_reply *replies;
	atomic_int failures;
};

/* one executor thread's main task: spawns its requests, waits for them */
struct thread_main {
	struct fetch_run *run;
	int index;
	struct lfr_executor *ex;
	atomic_int left;
	struct lfr_waker waker; /* woken by the request that finishes last */
	int spawned;
	int err;
};

struct request {
	struct thread_main *owner;
	struct delay_reply *reply;
	double started;
	struct lfr_tcp *sock;
	char out[128];
	size_t out_len, sent;
	char in[4096];
	size_t got;
	int step;
};

static void request_done(struct request *rq, int error)
{
	struct fetch_run *run = rq->owner->run;
	struct delay_reply *rp = rq->reply;
	char *body = strstr(rq->in, "\r\n\r\n");

	if (!error && strncmp(rq->in, "HTTP/1.1 200", 12) != 0)
		error = -EPROTO;
	rp->error = error;
	rp->elapsed_ms = now_ms() - rq->started;
	snprintf(rp->body, sizeof(rp->body), "%s", body && !error ? body + 4 : "");
	if (error)
		atomic_fetch_add(&run->failures, 1);
	if (run->f->on_reply)
		run->f->on_reply(rp, run->f->arg);
	if (atomic_fetch_sub(&rq->owner->left, 1) == 1)
		lfr_waker_wake_by_ref(&rq->owner->waker);
}

static enum lfr_poll request_poll(void *state, const struct lfr_waker *w)
{
	struct request *rq = state;
	const struct delay_fetch *f = rq->owner->run->f;
	ssize_t n;
	int err;

	for (;;) {
		switch (rq->step) {
		case 0: {
			struct sockaddr_in a = loopback(f->port);

			err = lfr_tcp_connect(rq->owner->run->reactor,
					      (struct sockaddr *)&a, sizeof(a),
					      &rq->sock);
			if (err) {
				request_done(rq, err);
				return LFR_READY;
			}
			rq->out_len = (size_t)snprintf(
				rq->out, sizeof(rq->out),
				"GET /%d/HelloWorld%d HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				"Connection: close\r\n\r\n",
				rq->reply->i * f->unit_ms, rq->reply->i);
			rq->step = 1;
			continue;
		}
		case 1:
			if (lfr_tcp_connect_poll(rq->sock, w, &err) == LFR_PENDING)
				return LFR_PENDING;
			if (err) {
				request_done(rq, err);
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
					request_done(rq, (int)n);
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
				request_done(rq, (int)n);
				return LFR_READY;
			}
			rq->got += (size_t)n;
			rq->in[rq->got] = '\0';
			if (n > 0 && rq->got < sizeof(rq->in) - 1)
				continue;
			request_done(rq, 0);
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
	const struct delay_fetch *f = m->run->f;

	if (!m->spawned) {
		m->spawned = 1;
		m->waker = lfr_waker_clone(w);
		atomic_store(&m->left, f->requests);
		for (int i = 0; i < f->requests; i++) {
			struct request *rq = calloc(1, sizeof(*rq));
			int err = -ENOMEM;

			if (rq) {
				rq->owner = m;
				rq->reply = &m->run->replies[m->index * f->requests + i];
				rq->reply->thread = m->index;
				rq->reply->i = i;
				rq->started = now_ms();
				err = lfr_executor_spawn(m->ex, request_poll,
							 request_drop, rq);
			}
			if (err) {
				free(rq);
				m->err = err;
				return LFR_READY; /* free drops those spawned */
			}
		}
	}
	return atomic_load(&m->left) == 0 ? LFR_READY : LFR_PENDING;
}

static void *fetch_thread(void *arg)
{
	struct thread_main *m = arg;

	m->err = lfr_executor_new(&m->ex);
	if (!m->err) {
		int err = lfr_executor_block_on(m->ex, thread_main_poll, m);

		if (err)
			m->err = err;
		lfr_executor_free(m->ex);
	}
	if (m->waker.vtable)
		lfr_waker_drop(&m->waker);
	return NULL;
}

int delay_fetch_all(struct lfr_reactor *r, const struct delay_fetch *f,
		    struct delay_reply *replies)
{
	struct fetch_run run = { .reactor = r, .f = f, .replies = replies };
	struct thread_main *mains;
	pthread_t *threads;
	int started = 0, ret = 0;

	if (!r || !f || !replies || f->threads < 1 || f->requests < 1 ||
	    f->unit_ms < 0 || f->port < 1 || f->port > 65535)
		return -EINVAL;
	memset(replies, 0, sizeof(*replies) * (size_t)f->threads *
				   (size_t)f->requests);
	mains = calloc((size_t)f->threads, sizeof(*mains));
	threads = calloc((size_t)f->threads, sizeof(*threads));
	if (!mains || !threads)
		ret = -ENOMEM;
	for (; !ret && started < f->threads; started++) {
		mains[started].run = &run;
		mains[started].index = started;
		ret = -pthread_create(&threads[started], NULL, fetch_thread,
				      &mains[started]);
		if (ret)
			break;
	}
	for (int t = 0; t < started; t++) {
		pthread_join(threads[t], NULL);
		if (mains[t].err && !ret)
			ret = mains[t].err;
	}
	free(mains);
	free(threads);
	return ret ? ret : atomic_load(&run.failures);
}
