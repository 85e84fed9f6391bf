/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Leaf futures: the sleep, TCP, NULL out-pointers, accept out of fds,
 * any-fd readiness, listener options, from_fd and Unix-domain sockets. */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

TestSuite(io, .timeout = 60);

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* a task that sleeps ms, then counts itself done */
struct sleeper {
	struct lfr_reactor *r;
	uint64_t ms;
	struct lfr_sleep *sleep;
	atomic_int *done;
	int threads_seen;
};

static enum lfr_poll sleeper_poll(void *state, const struct lfr_waker *w)
{
	struct sleeper *s = state;
	int err;

	if (!s->sleep)
		cr_assert_eq(lfr_sleep_new(s->r, s->ms, &s->sleep), 0);
	if (lfr_sleep_poll(s->sleep, w, &err) == LFR_PENDING)
		return LFR_PENDING;
	cr_assert_eq(err, 0);
	s->threads_seen = count_dir("/proc/self/task");
	lfr_sleep_free(s->sleep);
	s->sleep = NULL;
	if (s->done)
		atomic_fetch_add(s->done, 1);
	return LFR_READY;
}

Test(io, a_sleep_is_ready_after_its_time_and_not_before)
{
	struct lfr_executor *ex;
	struct sleeper s = { .ms = 50 };
	double t0;

	cr_assert_eq(lfr_reactor_new(NULL, &s.r), 0);
	cr_assert_eq(lfr_executor_new(&ex), 0);
	t0 = now();
	cr_assert_eq(lfr_executor_block_on(ex, sleeper_poll, &s), 0);
	cr_assert_geq(now() - t0, 0.050);
	cr_assert_lt(now() - t0, 5.0);
	lfr_executor_free(ex);
	lfr_reactor_free(s.r);
}

/* main: ready when every sleeper is done */
struct all_done {
	atomic_int *done;
	int n;
};

static enum lfr_poll all_done_poll(void *state, const struct lfr_waker *w)
{
	struct all_done *a = state;

	if (atomic_load(a->done) >= a->n)
		return LFR_READY;
	lfr_waker_wake_by_ref(w); /* yield */
	return LFR_PENDING;
}

Test(io, many_sleeps_share_one_thread_and_the_reactor)
{
	enum { N = 200 };
	static struct sleeper s[N];
	struct lfr_executor *ex;
	struct lfr_reactor *r;
	atomic_int done = 0;
	struct all_done all = { &done, N };
	int threads;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_executor_new(&ex), 0);
	threads = count_dir("/proc/self/task");
	for (int i = 0; i < N; i++) {
		s[i] = (struct sleeper){ .r = r, .ms = 10 + (uint64_t)(i % 40),
					 .done = &done };
		cr_assert_eq(lfr_executor_spawn(ex, sleeper_poll, NULL, &s[i]), 0);
	}
	cr_assert_eq(lfr_executor_block_on(ex, all_done_poll, &all), 0);
	for (int i = 0; i < N; i++)
		cr_assert_eq(s[i].threads_seen, threads, "no thread per timer");
	cr_assert_eq(stats_of(r).registrations, 1,
		     "the timer structure's one registration, none per sleep");
	lfr_executor_free(ex);
	lfr_reactor_free(r);
}

Test(io, sleep_errors_are_clean)
{
	struct lfr_reactor *r;
	struct lfr_sleep *s = NULL;
	struct lfr_waker w = lfr_waker_noop();
	int fds, err;

	cr_assert_eq(lfr_sleep_new(NULL, 1, &s), -EINVAL);
	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_sleep_new(r, 1, NULL), -EINVAL);
	cr_assert_eq(lfr_sleep_poll(NULL, &w, &err), LFR_READY);
	cr_assert_eq(err, -EINVAL);
	fds = count_dir("/proc/self/fd");
	cr_assert_eq(lfr_reactor_shutdown(r), 0);
	cr_assert_eq(lfr_sleep_new(r, 1, &s), -ESHUTDOWN);
	cr_assert_null(s);
	cr_assert_eq(count_dir("/proc/self/fd"), fds, "no fd left behind");
	lfr_reactor_free(r);
	lfr_sleep_free(NULL);
}

/* ---- TCP ------------------------------------------------------------------------ */

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };

	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

struct connect_fut {
	struct lfr_reactor *r;
	int port;
	struct lfr_tcp *s;
	int err;
};

static enum lfr_poll connect_fut_poll(void *state, const struct lfr_waker *w)
{
	struct connect_fut *c = state;

	if (!c->s) {
		struct sockaddr_in a = loopback(c->port);

		c->err = lfr_tcp_connect(c->r, (struct sockaddr *)&a, sizeof(a),
					 &c->s);
		if (c->err)
			return LFR_READY;
	}
	return lfr_tcp_connect_poll(c->s, w, &c->err);
}

Test(io, connect_to_a_closed_port_fails_with_econnrefused)
{
	struct sockaddr_in any = loopback(0);
	struct connect_fut c = { 0 };
	struct lfr_executor *ex;
	struct lfr_tcp *l;

	cr_assert_eq(lfr_reactor_new(NULL, &c.r), 0);
	cr_assert_eq(lfr_executor_new(&ex), 0);
	/* a port that was free a moment ago and has no listener now */
	cr_assert_eq(lfr_tcp_listen(c.r, (struct sockaddr *)&any, sizeof(any), 1,
				    &l), 0);
	c.port = lfr_tcp_local_port(l);
	cr_assert_gt(c.port, 0);
	lfr_tcp_close(l);
	cr_assert_eq(lfr_executor_block_on(ex, connect_fut_poll, &c), 0);
	cr_assert_eq(c.err, -ECONNREFUSED, "got %d", c.err);
	lfr_tcp_close(c.s);
	lfr_executor_free(ex);
	lfr_reactor_free(c.r);
}

/* the server side: accept one connection, then echo once or reset it */
struct server {
	struct lfr_tcp *listener, *conn;
	bool reset;          /* close with SO_LINGER 0: the peer sees a reset */
	char buf[64];
	ssize_t n, sent;
	int step, err;
};

static enum lfr_poll server_poll(void *state, const struct lfr_waker *w)
{
	struct server *s = state;

	switch (s->step) {
	case 0:
		if (lfr_tcp_accept_poll(s->listener, w, &s->conn, &s->err) ==
		    LFR_PENDING)
			return LFR_PENDING;
		cr_assert_eq(s->err, 0);
		if (s->reset) {
			struct linger lg = { 1, 0 };

			setsockopt(lfr_tcp_fd(s->conn), SOL_SOCKET, SO_LINGER,
				   &lg, sizeof(lg));
			lfr_tcp_close(s->conn);
			s->conn = NULL;
			return LFR_READY;
		}
		s->step = 1;
		/* fall through */
	case 1:
		if (lfr_tcp_read_poll(s->conn, s->buf, sizeof(s->buf), w, &s->n) ==
		    LFR_PENDING)
			return LFR_PENDING;
		cr_assert_gt(s->n, 0);
		s->step = 2;
		/* fall through */
	case 2:
		while (s->sent < s->n) {
			ssize_t k;

			if (lfr_tcp_write_poll(s->conn, s->buf + s->sent,
					       (size_t)(s->n - s->sent), w, &k) ==
			    LFR_PENDING)
				return LFR_PENDING;
			cr_assert_gt(k, 0);
			s->sent += k;
		}
		lfr_tcp_close(s->conn);
		s->conn = NULL;
		return LFR_READY;
	}
	return LFR_READY;
}

/* the client side: connect, write msg, read the reply */
struct client {
	struct connect_fut c;
	const char *msg;
	char reply[64];
	ssize_t got, result;
	int step;
	bool write_until_error;
};

static enum lfr_poll client_poll(void *state, const struct lfr_waker *w)
{
	struct client *cl = state;

	switch (cl->step) {
	case 0:
		if (connect_fut_poll(&cl->c, w) == LFR_PENDING)
			return LFR_PENDING;
		cr_assert_eq(cl->c.err, 0);
		cl->step = 1;
		/* fall through */
	case 1:
		if (cl->write_until_error) {
			/* once the peer reset us, writes fail, with no
			 * SIGPIPE; between writes, yield so the server runs */
			if (lfr_tcp_write_poll(cl->c.s, "x", 1, w, &cl->result) ==
			    LFR_PENDING)
				return LFR_PENDING;
			if (cl->result < 0)
				return LFR_READY;
			lfr_waker_wake_by_ref(w);
			return LFR_PENDING;
		}
		if (lfr_tcp_write_poll(cl->c.s, cl->msg, strlen(cl->msg), w,
				       &cl->result) == LFR_PENDING)
			return LFR_PENDING;
		cr_assert_eq(cl->result, (ssize_t)strlen(cl->msg));
		cl->step = 2;
		/* fall through */
	case 2:
		if (lfr_tcp_read_poll(cl->c.s, cl->reply + cl->got,
				      sizeof(cl->reply) - 1 - (size_t)cl->got, w,
				      &cl->result) == LFR_PENDING)
			return LFR_PENDING;
		if (cl->result > 0) {
			cl->got += cl->result;
			if (cl->got < (ssize_t)strlen(cl->msg))
				return client_poll(state, w);
		}
		return LFR_READY;
	}
	return LFR_READY;
}

/* one executor, one reactor: serves s and runs cl to completion on them,
 * then closes both sockets and frees everything */
static void run_client_and_server(struct server *s, struct client *cl)
{
	struct sockaddr_in any = loopback(0);
	struct lfr_executor *ex;
	struct lfr_reactor *r;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_executor_new(&ex), 0);
	cr_assert_eq(lfr_tcp_listen(r, (struct sockaddr *)&any, sizeof(any), 4,
				    &s->listener), 0);
	cl->c.port = lfr_tcp_local_port(s->listener);
	cl->c.r = r;
	cr_assert_eq(lfr_executor_spawn(ex, server_poll, NULL, s), 0);
	cr_assert_eq(lfr_executor_block_on(ex, client_poll, cl), 0);
	lfr_tcp_close(cl->c.s);
	lfr_tcp_close(s->listener);
	lfr_executor_free(ex);
	lfr_reactor_free(r);
}

Test(io, an_echo_round_trip_on_one_executor)
{
	static struct server s;
	static struct client cl = { .msg = "hello, reactor" };

	run_client_and_server(&s, &cl);
	cr_assert_eq(cl.got, (ssize_t)strlen(cl.msg));
	cr_assert_str_eq(cl.reply, cl.msg);
}

Test(io, a_peer_reset_comes_back_as_econnreset_on_read)
{
	static struct server s = { .reset = true };
	static struct client cl = { .msg = "x" };

	run_client_and_server(&s, &cl);
	cr_assert(cl.result == -ECONNRESET || cl.result == 0,
		  "read gave %zd", cl.result);
}

Test(io, writing_to_a_reset_peer_is_an_error_not_sigpipe)
{
	static struct server s = { .reset = true };
	static struct client cl = { .write_until_error = true };

	run_client_and_server(&s, &cl);
	cr_assert(cl.result == -EPIPE || cl.result == -ECONNRESET,
		  "write gave %zd", cl.result);
}

/* ---- NULL out-pointers: LFR_READY, nothing done, never a crash ------------------ */

/* poll until LFR_READY, for up to ms milliseconds (the call has side
 * effects: WAIT_FOR would make it once more) */
#define POLL_READY(call, ms)                                                 \
	({                                                                   \
		int t_ = 0;                                                  \
		enum lfr_poll p_;                                            \
		while ((p_ = (call)) == LFR_PENDING && t_++ < (ms))          \
			sleep_ms(1);                                         \
		p_ == LFR_READY;                                             \
	})

/* a listener on r and a client connection to it, not yet polled */
static struct lfr_tcp *listen_and_connect(struct lfr_reactor *r,
					  struct lfr_tcp **client)
{
	struct sockaddr_in any = loopback(0), to;
	struct lfr_tcp *l;

	cr_assert_eq(lfr_tcp_listen(r, (struct sockaddr *)&any, sizeof(any), 16,
				    &l), 0);
	to = loopback(lfr_tcp_local_port(l));
	cr_assert_eq(lfr_tcp_connect(r, (struct sockaddr *)&to, sizeof(to),
				     client), 0);
	return l;
}

/* ... and its server side, both connected (polled with the noop waker) */
static struct lfr_tcp *connected_pair(struct lfr_reactor *r,
				      struct lfr_tcp **client,
				      struct lfr_tcp **server)
{
	struct lfr_waker w = lfr_waker_noop();
	struct lfr_tcp *l = listen_and_connect(r, client);
	int err = 1;

	cr_assert(POLL_READY(lfr_tcp_accept_poll(l, &w, server, &err), 2000));
	cr_assert_eq(err, 0);
	cr_assert_not_null(*server);
	cr_assert(POLL_READY(lfr_tcp_connect_poll(*client, &w, &err), 2000));
	cr_assert_eq(err, 0);
	return l;
}

Test(io, connect_poll_with_a_null_err_is_ready_and_does_nothing)
{
	struct lfr_waker w = lfr_waker_noop();
	struct lfr_tcp *l, *c;
	struct lfr_reactor *r;
	int err = 1;

	cr_assert_eq(lfr_tcp_connect_poll(NULL, &w, NULL), LFR_READY);
	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	l = listen_and_connect(r, &c);
	cr_assert_eq(lfr_tcp_connect_poll(c, &w, NULL), LFR_READY);
	/* nothing was consumed: the connect still completes */
	cr_assert(POLL_READY(lfr_tcp_connect_poll(c, &w, &err), 2000));
	cr_assert_eq(err, 0);
	lfr_tcp_close(c);
	lfr_tcp_close(l);
	lfr_reactor_free(r);
}

Test(io, accept_poll_with_a_null_out_pointer_is_ready_and_accepts_nothing)
{
	struct lfr_waker w = lfr_waker_noop();
	struct lfr_tcp *l, *c, *out = (struct lfr_tcp *)&w;
	struct lfr_reactor *r;
	int err = 1;

	cr_assert_eq(lfr_tcp_accept_poll(NULL, &w, NULL, NULL), LFR_READY);
	cr_assert_eq(lfr_tcp_accept_poll(NULL, &w, &out, NULL), LFR_READY);
	cr_assert_null(out);
	cr_assert_eq(lfr_tcp_accept_poll(NULL, &w, NULL, &err), LFR_READY);
	cr_assert_eq(err, -EINVAL);
	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	l = listen_and_connect(r, &c);
	sleep_ms(20); /* the connection is waiting in the backlog */
	out = (struct lfr_tcp *)&w;
	cr_assert_eq(lfr_tcp_accept_poll(l, &w, &out, NULL), LFR_READY);
	cr_assert_null(out);
	err = 1;
	cr_assert_eq(lfr_tcp_accept_poll(l, &w, NULL, &err), LFR_READY);
	cr_assert_eq(err, -EINVAL);
	cr_assert_eq(lfr_tcp_accept_poll(l, &w, NULL, NULL), LFR_READY);
	/* none of them took the waiting connection */
	cr_assert(POLL_READY(lfr_tcp_accept_poll(l, &w, &out, &err), 2000));
	cr_assert_eq(err, 0);
	cr_assert_not_null(out);
	lfr_tcp_close(out);
	lfr_tcp_close(c);
	lfr_tcp_close(l);
	lfr_reactor_free(r);
}

Test(io, read_and_write_poll_with_a_null_result_are_ready_and_move_no_data)
{
	struct lfr_waker w = lfr_waker_noop();
	struct lfr_tcp *l, *c, *s;
	struct lfr_reactor *r;
	char buf[16];
	ssize_t n = 0;

	cr_assert_eq(lfr_tcp_read_poll(NULL, buf, sizeof(buf), &w, NULL),
		     LFR_READY);
	cr_assert_eq(lfr_tcp_write_poll(NULL, "x", 1, &w, NULL), LFR_READY);
	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	l = connected_pair(r, &c, &s);
	cr_assert_eq(lfr_tcp_write_poll(c, "ping", 4, &w, &n), LFR_READY);
	cr_assert_eq(n, 4);
	sleep_ms(20);
	cr_assert_eq(lfr_tcp_read_poll(s, buf, sizeof(buf), &w, NULL), LFR_READY);
	/* nothing was read: the four bytes are still there */
	cr_assert(POLL_READY(lfr_tcp_read_poll(s, buf, sizeof(buf), &w, &n),
			     2000));
	cr_assert_eq(n, 4);
	cr_assert(memcmp(buf, "ping", 4) == 0);
	/* nothing was written */
	cr_assert_eq(lfr_tcp_write_poll(c, "x", 1, &w, NULL), LFR_READY);
	sleep_ms(20);
	cr_assert_eq(lfr_tcp_read_poll(s, buf, sizeof(buf), &w, &n), LFR_PENDING);
	lfr_tcp_close(s);
	lfr_tcp_close(c);
	lfr_tcp_close(l);
	lfr_reactor_free(r);
}

/* without err a shut-down reactor could not be told from a timer that
 * fired: a sleep polled without err never waits, from the first poll */
Test(io, sleep_poll_without_err_is_ready_at_once_and_with_err_reports_shutdown)
{
	struct lfr_waker w = lfr_waker_noop();
	struct lfr_reactor *r;
	struct lfr_sleep *s;
	int err = 1;

	cr_assert_eq(lfr_sleep_poll(NULL, &w, NULL), LFR_READY);
	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_sleep_new(r, 60000, &s), 0);
	cr_assert_eq(lfr_sleep_poll(s, &w, NULL), LFR_READY);
	/* nothing was consumed: with err it is the sleep it was */
	cr_assert_eq(lfr_sleep_poll(s, &w, &err), LFR_PENDING);
	cr_assert_eq(err, 0);
	cr_assert_eq(lfr_reactor_shutdown(r), 0);
	cr_assert_eq(lfr_sleep_poll(s, &w, NULL), LFR_READY);
	cr_assert_eq(lfr_sleep_poll(s, &w, &err), LFR_READY);
	cr_assert_eq(err, -ESHUTDOWN, "a shutdown is an error, not the time");
	lfr_sleep_free(s);
	lfr_reactor_free(r);
}

/* ---- accept out of fds: an error, then a back-off, never a spin ------------------ */

/* Uses up every fd the process may open, with the soft RLIMIT_NOFILE
 * lowered to 64 above the highest fd open now (so that it takes few).
 * Criterion's asserts are left until release_fds: they may need an fd. */
struct fd_hog {
	struct rlimit saved;
	int fds[256];
	int n;
};

static void exhaust_fds(struct fd_hog *h)
{
	struct rlimit low;
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");
	long high = 0;
	int fd;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (atol(e->d_name) > high)
			high = atol(e->d_name);
	closedir(d);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &h->saved), 0);
	low = h->saved;
	low.rlim_cur = (rlim_t)high + 1 + 64;
	cr_assert_leq(low.rlim_cur, h->saved.rlim_cur);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	h->n = 0;
	while (h->n < 256 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		h->fds[h->n++] = fd;
	cr_assert_lt(h->n, 256);
	cr_assert_eq(errno, EMFILE);
}

static void release_fds(struct fd_hog *h)
{
	while (h->n > 0)
		close(h->fds[--h->n]);
	setrlimit(RLIMIT_NOFILE, &h->saved);
}

/* a plain socket connected to port: it waits in the listener's backlog */
static int waiting_client(int port)
{
	struct sockaddr_in a = loopback(port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Polls l every millisecond for ms milliseconds or until a connection
 * comes, as a task woken all the time would: counts the tries that failed
 * (LFR_READY with an error) and checks that every other poll was
 * LFR_PENDING with the error it backs off for.  Returns the connection or
 * NULL. */
struct tries {
	int failed, pending, other;
	int last_err;
	double last_failure;
};

static struct lfr_tcp *poll_accept_for(struct lfr_tcp *l,
				       const struct lfr_waker *w, int ms,
				       struct tries *t)
{
	double end = now() + ms / 1000.0;
	struct lfr_tcp *c;
	int err;

	while (now() < end) {
		if (lfr_tcp_accept_poll(l, w, &c, &err) == LFR_READY) {
			if (!err)
				return c;
			if (err == -EMFILE) {
				t->failed++;
				t->last_failure = now();
			} else {
				t->other++;
			}
			t->last_err = err;
		} else if (err == -EMFILE) {
			t->pending++;
		} else {
			t->other++;
			t->last_err = err;
		}
		sleep_ms(1);
	}
	return NULL;
}

Test(io, out_of_fds_accept_returns_emfile_then_backs_off_without_spinning)
{
	static struct counting_waker cw;
	static struct fd_hog hog;
	struct sockaddr_in any = loopback(0);
	struct tries t = { 0 }, first = { 0 };
	struct lfr_tcp *l, *c = NULL;
	struct lfr_reactor *r;
	struct lfr_waker w;
	int client, err = 0, wakes;
	enum lfr_poll p;
	double freed;

	cw_init(&cw);
	w = cw_waker(&cw);
	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_tcp_listen(r, (struct sockaddr *)&any, sizeof(any), 16,
				    &l), 0);
	client = waiting_client(lfr_tcp_local_port(l));
	exhaust_fds(&hog);
	p = lfr_tcp_accept_poll(l, &w, &c, &err);
	/* 300 ms of polls every millisecond: the listener tries on its own
	 * schedule (1, 2, 4, ... 100 ms apart), the other polls are PENDING */
	poll_accept_for(l, &w, 300, &t);
	wakes = cw_wakes(&cw);
	/* one fd comes free, outside the library: the timer notices */
	close(hog.fds[--hog.n]);
	freed = now();
	c = poll_accept_for(l, &w, 1000, &first);
	freed = now() - freed;
	release_fds(&hog);

	cr_assert_eq(p, LFR_READY);
	cr_assert_eq(err, -EMFILE, "got %s", lfr_strerror(err));
	cr_assert_eq(t.other, 0, "unexpected %s", lfr_strerror(t.last_err));
	cr_assert_geq(t.failed, 3, "it tries again by itself");
	cr_assert_leq(t.failed, 15, "%d tries in 300 ms: a spin", t.failed);
	cr_assert_gt(t.pending, 2 * t.failed,
		     "between tries, polls are PENDING: %d against %d tries",
		     t.pending, t.failed);
	/* (a poll that reads the timer first takes the event from the poller) */
	cr_assert_geq(wakes, 1, "the timer wakes the task");
	cr_assert_not_null(c, "the waiting connection was never accepted");
	cr_assert_lt(freed, 0.5, "accepted %.3f s after an fd came free", freed);
	lfr_tcp_close(c);
	close(client);
	lfr_tcp_close(l);
	lfr_reactor_free(r);
}

Test(io, a_listener_out_of_fds_tries_again_at_once_when_the_library_closes_one)
{
	static struct counting_waker cw;
	static struct fd_hog hog;
	struct sockaddr_in any = loopback(0);
	struct tries t = { 0 }, after = { 0 };
	struct lfr_tcp *l, *l2, *c = NULL;
	struct lfr_reactor *r;
	struct lfr_waker w;
	double woken = -1, t0;
	int client, wakes;

	cw_init(&cw);
	w = cw_waker(&cw);
	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_tcp_listen(r, (struct sockaddr *)&any, sizeof(any), 16,
				    &l), 0);
	/* fds of the library */
	cr_assert_eq(lfr_tcp_listen(r, (struct sockaddr *)&any, sizeof(any), 16,
				    &l2), 0);
	client = waiting_client(lfr_tcp_local_port(l));
	exhaust_fds(&hog);
	/* until the back-off is 100 ms: tries at 0, 1, 3, 7, ... 127, 227 ms */
	poll_accept_for(l, &w, 230, &t);
	while (now() - t.last_failure > 0.005 && !t.other)
		poll_accept_for(l, &w, 1, &t);
	wakes = cw_wakes(&cw);
	t0 = now();
	lfr_tcp_close(l2); /* frees its fds now */
	if (WAIT_FOR(cw_wakes(&cw) > wakes, 1000))
		woken = now() - t0;
	c = poll_accept_for(l, &w, 1000, &after);
	release_fds(&hog);

	cr_assert_eq(t.other, 0, "unexpected %s", lfr_strerror(t.last_err));
	cr_assert_geq(woken, 0, "never woken");
	cr_assert_lt(woken, 0.060,
		     "woken %.3f s after the release, as by the 100 ms timer",
		     woken);
	cr_assert_not_null(c, "the waiting connection was never accepted");
	lfr_tcp_close(c);
	close(client);
	lfr_tcp_close(l);
	lfr_reactor_free(r);
}

Test(io, a_listener_backing_off_can_be_closed_and_reports_a_shutdown)
{
	static struct counting_waker cw;
	static struct fd_hog hog;
	struct sockaddr_in any = loopback(0);
	struct lfr_tcp *l1, *l2, *c = NULL;
	struct lfr_reactor *r;
	struct lfr_waker w;
	int client, err1 = 0, err2 = 0, err3 = 0, wakes, polls = 0;
	enum lfr_poll p3;
	bool woken;

	cw_init(&cw);
	w = cw_waker(&cw);
	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_tcp_listen(r, (struct sockaddr *)&any, sizeof(any), 16,
				    &l1), 0);
	cr_assert_eq(lfr_tcp_listen(r, (struct sockaddr *)&any, sizeof(any), 16,
				    &l2), 0);
	client = waiting_client(lfr_tcp_local_port(l2));
	close(waiting_client(lfr_tcp_local_port(l1)));
	exhaust_fds(&hog);
	lfr_tcp_accept_poll(l1, &w, &c, &err1);
	lfr_tcp_accept_poll(l2, &w, &c, &err2);
	sleep_ms(10); /* both timers (1 ms) fired: each woke its task once */
	/* l2's task polls as woken: it tries, fails and backs off again,
	 * its waker kept by its timer (2 ms) */
	lfr_tcp_accept_poll(l2, &w, &c, &err2);
	wakes = cw_wakes(&cw);
	/* l1 leaves the list before it is freed; the fds its close frees wake
	 * l2 (ASan: the release does not touch l1) */
	lfr_tcp_close(l1);
	woken = WAIT_FOR(cw_wakes(&cw) > wakes, 50);
	while (hog.n < 256 && (hog.fds[hog.n] = open("/dev/null", O_RDONLY)) >= 0)
		hog.n++;
	/* before l2 tries again, the reactor is shut down: the try it is due
	 * may still fail with -EMFILE, then comes -ESHUTDOWN, never PENDING */
	cr_assert_eq(lfr_reactor_shutdown(r), 0);
	do
		p3 = lfr_tcp_accept_poll(l2, &w, &c, &err3);
	while (p3 == LFR_READY && err3 == -EMFILE && ++polls < 2);
	release_fds(&hog);

	cr_assert_eq(err1, -EMFILE);
	cr_assert_eq(err2, -EMFILE);
	cr_assert(woken, "closing l1 woke l2, still backing off");
	cr_assert_eq(p3, LFR_READY, "a shut-down reactor cannot wake: READY");
	cr_assert_null(c);
	cr_assert_eq(err3, -ESHUTDOWN, "got %s", lfr_strerror(err3));
	close(client);
	lfr_tcp_close(l2);
	lfr_reactor_free(r);
}

/* a waker whose wake closes a socket: code a custom executor may run */
static struct lfr_tcp *closed_by_wake;
static atomic_int close_wakes;
static void closing_wake(void *data)
{
	struct lfr_tcp *s = closed_by_wake;

	(void)data;
	closed_by_wake = NULL;
	if (s)
		lfr_tcp_close(s); /* a library close: it ends back-offs too */
	atomic_fetch_add(&close_wakes, 1);
}
PLAIN_WAKER(closing, closing_wake)

/* The close that ends a back-off wakes the listener's task; that wake
 * runs the task's waker, which may close a socket itself (here: another
 * listener).  It must not run where the process-wide list of waiting
 * listeners is held, or that close waits for itself. */
Test(io, a_waker_woken_by_a_released_fd_may_close_a_socket)
{
	static struct fd_hog hog;
	struct sockaddr_in any = loopback(0);
	struct lfr_tcp *l, *other, *trigger, *c = NULL;
	struct lfr_reactor *r;
	struct lfr_waker w = { &closing_vtable, NULL };
	int client, err = 0, wakes;
	bool woken;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_tcp_listen(r, (struct sockaddr *)&any, sizeof(any), 16,
				    &l), 0);
	cr_assert_eq(lfr_tcp_listen(r, (struct sockaddr *)&any, sizeof(any), 16,
				    &other), 0);
	cr_assert_eq(lfr_tcp_listen(r, (struct sockaddr *)&any, sizeof(any), 16,
				    &trigger), 0);
	client = waiting_client(lfr_tcp_local_port(l));
	exhaust_fds(&hog);
	lfr_tcp_accept_poll(l, &w, &c, &err);
	sleep_ms(10); /* its first back-off (1 ms) fired: the wake closed
		       * nothing yet (closed_by_wake is NULL) */
	lfr_tcp_accept_poll(l, &w, &c, &err); /* backs off again, 2 ms */
	closed_by_wake = other;
	wakes = atomic_load(&close_wakes);
	lfr_tcp_close(trigger); /* releases an fd: l's task is woken */
	woken = WAIT_FOR(atomic_load(&close_wakes) > wakes && !closed_by_wake,
			 5000);
	release_fds(&hog);

	cr_assert_eq(err, -EMFILE, "got %s", lfr_strerror(err));
	cr_assert(woken, "the wake ran and closed the other listener");
	close(client);
	lfr_tcp_close(l);
	lfr_reactor_free(r);
}

/* ---- any-fd readiness -------------------------------------------------------------- */

/* polls w with the counting waker: the result, or 0 when PENDING */
static int watch_now(struct lfr_fd_watch *w, struct counting_waker *cw)
{
	struct lfr_waker k = cw_waker(cw);
	int res = 12345;
	enum lfr_poll p = lfr_fd_watch_poll(w, &k, &res);

	if (p == LFR_PENDING) {
		cr_assert_eq(res, 0);
		return 0;
	}
	cr_assert_neq(res, 0, "READY with nothing ready");
	return res;
}

Test(io, a_watch_on_udp_reports_readable_then_writable_after_an_interest_change)
{
	static struct counting_waker cw;
	struct sockaddr_in any = loopback(0), to;
	socklen_t len = sizeof(to);
	struct lfr_fd_watch *w;
	struct lfr_reactor *r;
	int rx, tx, wakes;
	char buf[16];

	cw_init(&cw);
	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	rx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(rx, (struct sockaddr *)&any, sizeof(any)), 0);
	cr_assert_eq(getsockname(rx, (struct sockaddr *)&to, &len), 0);
	cr_assert_eq(lfr_fd_watch_new(r, rx, LFR_READABLE, &w), 0);
	cr_assert_eq(watch_now(w, &cw), 0, "nothing to read yet");
	wakes = cw_wakes(&cw);
	cr_assert_eq(sendto(tx, "dgram", 5, 0, (struct sockaddr *)&to, len), 5);
	cr_assert(WAIT_FOR(cw_wakes(&cw) > wakes, 5000), "not woken");
	cr_assert_eq(watch_now(w, &cw), LFR_READABLE);
	/* level-triggered: still readable until the datagram is read */
	cr_assert_eq(watch_now(w, &cw), LFR_READABLE);
	cr_assert_eq(recv(rx, buf, sizeof(buf), 0), 5);
	cr_assert_eq(watch_now(w, &cw), 0);
	/* a UDP socket is always writable: only reported with that interest */
	cr_assert_eq(lfr_fd_watch_set_interest(w, LFR_WRITABLE), 0);
	cr_assert_eq(watch_now(w, &cw), LFR_WRITABLE);
	cr_assert_eq(lfr_fd_watch_set_interest(w, LFR_READABLE | LFR_WRITABLE), 0);
	cr_assert_eq(sendto(tx, "x", 1, 0, (struct sockaddr *)&to, len), 1);
	cr_assert(WAIT_FOR(watch_now(w, &cw) == (LFR_READABLE | LFR_WRITABLE),
			   5000));
	cr_assert_eq(lfr_fd_watch_set_interest(w, LFR_WRITABLE), 0);
	cr_assert_eq(watch_now(w, &cw), LFR_WRITABLE, "readable is not asked for");
	cr_assert_eq(stats_of(r).registrations, 1, "one registration throughout");
	lfr_fd_watch_free(w);
	cr_assert_eq(stats_of(r).registrations, 0);
	cr_assert_eq(fcntl(rx, F_GETFD), FD_CLOEXEC, "the fd stays open");
	close(rx);
	close(tx);
	cr_assert_eq(atomic_load(&cw.misuse), 0);
	lfr_reactor_free(r);
}

Test(io, a_watch_on_an_eventfd_wakes_on_a_write_and_sees_writable)
{
	static struct counting_waker cw;
	struct lfr_fd_watch *w;
	struct lfr_reactor *r;
	uint64_t one = 1, n;
	int efd, wakes;

	cw_init(&cw);
	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cr_assert_geq(efd, 0);
	cr_assert_eq(lfr_fd_watch_new(r, efd, LFR_READABLE, &w), 0);
	cr_assert_eq(watch_now(w, &cw), 0);
	wakes = cw_wakes(&cw);
	cr_assert_eq(write(efd, &one, sizeof(one)), sizeof(one));
	cr_assert(WAIT_FOR(cw_wakes(&cw) > wakes, 5000), "not woken");
	cr_assert_eq(watch_now(w, &cw), LFR_READABLE);
	cr_assert_eq(read(efd, &n, sizeof(n)), sizeof(n));
	cr_assert_eq(watch_now(w, &cw), 0);
	cr_assert_eq(lfr_fd_watch_set_interest(w, LFR_WRITABLE), 0);
	cr_assert_eq(watch_now(w, &cw), LFR_WRITABLE);
	/* a full counter is not writable; a read makes it so and wakes */
	n = UINT64_MAX - 1;
	cr_assert_eq(write(efd, &n, sizeof(n)), sizeof(n));
	cr_assert_eq(watch_now(w, &cw), 0);
	wakes = cw_wakes(&cw);
	cr_assert_eq(read(efd, &n, sizeof(n)), sizeof(n));
	cr_assert(WAIT_FOR(cw_wakes(&cw) > wakes, 5000), "not woken");
	cr_assert_eq(watch_now(w, &cw), LFR_WRITABLE);
	lfr_fd_watch_free(w);
	close(efd);
	lfr_reactor_free(r);
}

Test(io, a_watch_on_a_pipe_reports_hang_up_and_error_and_follows_its_interest)
{
	static struct counting_waker cw;
	struct lfr_fd_watch *rd, *wr;
	struct lfr_reactor *r;
	char buf[4096];
	int p[2], wakes, res;

	cw_init(&cw);
	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	test_pipe(p);
	cr_assert_eq(lfr_fd_watch_new(r, p[0], LFR_READABLE, &rd), 0);
	cr_assert_eq(lfr_fd_watch_new(r, p[1], LFR_WRITABLE, &wr), 0);
	cr_assert_eq(watch_now(rd, &cw), 0);
	cr_assert_eq(watch_now(wr, &cw), LFR_WRITABLE);
	/* fill the pipe: the write end waits, and wakes when it drains */
	while (write(p[1], buf, sizeof(buf)) > 0)
		;
	cr_assert_eq(watch_now(wr, &cw), 0);
	cr_assert_eq(watch_now(rd, &cw), LFR_READABLE);
	wakes = cw_wakes(&cw);
	drain(p[0]);
	cr_assert(WAIT_FOR(cw_wakes(&cw) > wakes, 5000), "not woken");
	cr_assert_eq(watch_now(wr, &cw), LFR_WRITABLE);
	/* the write end asks for readable now: a pipe's write end never is */
	cr_assert_eq(lfr_fd_watch_set_interest(wr, LFR_READABLE), 0);
	cr_assert_eq(watch_now(wr, &cw), 0);
	cr_assert_eq(lfr_fd_watch_set_interest(wr, LFR_WRITABLE), 0);
	/* the writer goes: the reader sees a hang-up (and nothing to read) */
	cr_assert_eq(watch_now(rd, &cw), 0);
	wakes = cw_wakes(&cw);
	lfr_fd_watch_free(wr);
	close(p[1]);
	cr_assert(WAIT_FOR(cw_wakes(&cw) > wakes, 5000), "not woken");
	res = watch_now(rd, &cw);
	cr_assert(res & LFR_FD_HANGUP, "got %#x", res);
	lfr_fd_watch_free(rd);
	/* the reader goes: the writer sees an error */
	test_pipe(p);
	cr_assert_eq(lfr_fd_watch_new(r, p[1], LFR_WRITABLE, &wr), 0);
	close(p[0]);
	res = watch_now(wr, &cw);
	cr_assert(res & LFR_FD_ERROR, "got %#x", res);
	lfr_fd_watch_free(wr);
	close(p[1]);
	lfr_reactor_free(r);
}

Test(io, fd_watch_errors_are_clean)
{
	struct lfr_waker k = lfr_waker_noop();
	struct lfr_fd_watch *w = NULL;
	struct lfr_reactor *r;
	int p[2], res = 1, file;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	test_pipe(p);
	cr_assert_eq(lfr_fd_watch_new(NULL, p[0], LFR_READABLE, &w), -EINVAL);
	cr_assert_eq(lfr_fd_watch_new(r, p[0], 0, &w), -EINVAL);
	cr_assert_eq(lfr_fd_watch_new(r, p[0], 1u << 4, &w), -EINVAL);
	cr_assert_eq(lfr_fd_watch_new(r, p[0], LFR_READABLE, NULL), -EINVAL);
	cr_assert_eq(lfr_fd_watch_new(r, -1, LFR_READABLE, &w), -EBADF);
	file = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	cr_assert_eq(lfr_fd_watch_new(r, file, LFR_READABLE, &w), -EPERM);
	close(file);
	cr_assert_null(w);
	cr_assert_eq(lfr_fd_watch_poll(NULL, &k, &res), LFR_READY);
	cr_assert_eq(res, -EINVAL);
	cr_assert_eq(lfr_fd_watch_poll(NULL, &k, NULL), LFR_READY);
	cr_assert_eq(lfr_fd_watch_set_interest(NULL, LFR_READABLE), -EINVAL);
	cr_assert_eq(lfr_fd_watch_new(r, p[0], LFR_READABLE, &w), 0);
	cr_assert_eq(lfr_fd_watch_new(r, p[0], LFR_READABLE, &w), -EEXIST);
	cr_assert_eq(lfr_fd_watch_set_interest(w, 0), -EINVAL);
	cr_assert_eq(lfr_fd_watch_poll(w, NULL, &res), LFR_READY, "NULL waker");
	cr_assert_eq(res, -EINVAL);
	fire(p[1]);
	/* a NULL result does nothing: the byte is still there */
	cr_assert_eq(lfr_fd_watch_poll(w, &k, NULL), LFR_READY);
	cr_assert_eq(lfr_fd_watch_poll(w, &k, &res), LFR_READY);
	cr_assert_eq(res, LFR_READABLE);
	cr_assert_eq(lfr_reactor_shutdown(r), 0);
	drain(p[0]);
	cr_assert_eq(lfr_fd_watch_poll(w, &k, &res), LFR_READY);
	cr_assert_eq(res, -ESHUTDOWN);
	cr_assert_eq(lfr_fd_watch_set_interest(w, LFR_WRITABLE), -ESHUTDOWN);
	cr_assert_eq(lfr_fd_watch_poll(w, &k, &res), LFR_READY);
	cr_assert_eq(res, -ESHUTDOWN, "still registered: the old interest");
	lfr_fd_watch_free(w);
	lfr_fd_watch_free(NULL);
	close_pipe(p);
	lfr_reactor_free(r);
}

/* ---- listeners on every thread, from_fd, Unix sockets ----------------------------- */

Test(io, two_listeners_with_so_reuseport_on_one_port_both_accept)
{
	enum { CLIENTS = 64 };
	struct lfr_waker k = lfr_waker_noop();
	struct sockaddr_in any = loopback(0), at;
	struct lfr_listen_opts o;
	struct lfr_tcp *l[2], *c;
	struct lfr_reactor *r;
	int clients[CLIENTS], got[2] = { 0, 0 }, i, err, tries = 0;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	lfr_listen_opts_init(&o);
	o.flags = LFR_LISTEN_REUSEPORT;
	cr_assert_eq(lfr_tcp_listen_opts(r, (struct sockaddr *)&any, sizeof(any),
					 &o, &l[0]), 0);
	at = loopback(lfr_tcp_local_port(l[0]));
	/* without SO_REUSEPORT the port is taken */
	cr_assert_eq(lfr_tcp_listen(r, (struct sockaddr *)&at, sizeof(at), 16, &c),
		     -EADDRINUSE);
	cr_assert_eq(lfr_tcp_listen_opts(r, (struct sockaddr *)&at, sizeof(at),
					 &o, &l[1]), 0);
	cr_assert_eq(lfr_tcp_local_port(l[1]), lfr_tcp_local_port(l[0]));
	for (i = 0; i < CLIENTS; i++)
		clients[i] = waiting_client(ntohs(at.sin_port));
	/* the kernel spreads them by a hash of the client's port: all 64 on
	 * one listener has odds of 2^-63 */
	while (got[0] + got[1] < CLIENTS && tries++ < 5000) {
		for (i = 0; i < 2; i++)
			while (lfr_tcp_accept_poll(l[i], &k, &c, &err) ==
			       LFR_READY) {
				cr_assert_eq(err, 0, "%s", lfr_strerror(err));
				got[i]++;
				lfr_tcp_close(c);
			}
		if (got[0] + got[1] < CLIENTS)
			sleep_ms(1);
	}
	cr_assert_eq(got[0] + got[1], CLIENTS, "%d + %d accepted", got[0], got[1]);
	cr_assert_gt(got[0], 0, "the first listener accepted none");
	cr_assert_gt(got[1], 0, "the second listener accepted none");
	for (i = 0; i < CLIENTS; i++)
		close(clients[i]);
	lfr_tcp_close(l[0]);
	lfr_tcp_close(l[1]);
	lfr_reactor_free(r);
}

Test(io, listen_options_are_checked)
{
	struct sockaddr_in any = loopback(0);
	struct {
		struct lfr_listen_opts o;
		char future[8];
	} big;
	struct lfr_listen_opts o;
	struct lfr_tcp *l = NULL;
	struct lfr_reactor *r;
	int fds;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	fds = count_dir("/proc/self/fd");
	lfr_listen_opts_init(&o);
	cr_assert_eq(o.size, sizeof(o));
	cr_assert_gt(o.backlog, 0);
	cr_assert_eq(o.flags, 0u);
	o.flags = 1u << 7;
	cr_assert_eq(lfr_tcp_listen_opts(r, (struct sockaddr *)&any, sizeof(any),
					 &o, &l), -EINVAL);
	lfr_listen_opts_init(&o);
	o.backlog = -1;
	cr_assert_eq(lfr_tcp_listen_opts(r, (struct sockaddr *)&any, sizeof(any),
					 &o, &l), -EINVAL);
	lfr_listen_opts_init(&o);
	o.size = 4;
	cr_assert_eq(lfr_tcp_listen_opts(r, (struct sockaddr *)&any, sizeof(any),
					 &o, &l), -EINVAL);
	lfr_listen_opts_init(&o);
	o.size = LFR_STRUCT_SIZE_MAX + 1; /* never read that far */
	cr_assert_eq(lfr_tcp_listen_opts(r, (struct sockaddr *)&any, sizeof(any),
					 &o, &l), -EINVAL);
	memset(&big, 0, sizeof(big));
	lfr_listen_opts_init(&big.o);
	big.o.size = sizeof(big);
	big.future[3] = 1;
	cr_assert_eq(lfr_tcp_listen_opts(r, (struct sockaddr *)&any, sizeof(any),
					 &big.o, &l), -E2BIG);
	cr_assert_eq(lfr_tcp_listen_opts(NULL, (struct sockaddr *)&any,
					 sizeof(any), NULL, &l), -EINVAL);
	cr_assert_null(l);
	cr_assert_eq(count_dir("/proc/self/fd"), fds, "no fd left behind");
	big.future[3] = 0; /* a newer caller's zeroed fields are fine */
	cr_assert_eq(lfr_tcp_listen_opts(r, (struct sockaddr *)&any, sizeof(any),
					 &big.o, &l), 0);
	lfr_tcp_close(l);
	cr_assert_eq(lfr_tcp_listen_opts(r, (struct sockaddr *)&any, sizeof(any),
					 NULL, &l), 0, "NULL: the defaults");
	lfr_tcp_close(l);
	lfr_reactor_free(r);
}

/* a round trip over a connected pair: a writes, b reads it back */
static void round_trip(struct lfr_tcp *a, struct lfr_tcp *b)
{
	struct lfr_waker k = lfr_waker_noop();
	char buf[16] = { 0 };
	ssize_t n;

	cr_assert(POLL_READY(lfr_tcp_write_poll(a, "ping", 4, &k, &n), 2000));
	cr_assert_eq(n, 4);
	cr_assert(POLL_READY(lfr_tcp_read_poll(b, buf, sizeof(buf), &k, &n),
			     2000));
	cr_assert_eq(n, 4);
	cr_assert_str_eq(buf, "ping");
}

Test(io, from_fd_wraps_a_connected_socket_and_owns_it)
{
	struct lfr_tcp *a, *b;
	struct lfr_reactor *r;
	int sv[2], flags;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(lfr_tcp_from_fd(r, sv[0], &a), 0);
	cr_assert_eq(lfr_tcp_from_fd(r, sv[1], &b), 0);
	cr_assert_eq(lfr_tcp_fd(a), sv[0]);
	flags = fcntl(sv[0], F_GETFL);
	cr_assert(flags & O_NONBLOCK, "made non-blocking");
	cr_assert_eq(lfr_tcp_from_fd(r, sv[0], &b), -EEXIST);
	round_trip(a, b);
	round_trip(b, a);
	lfr_tcp_close(a);
	lfr_tcp_close(b);
	cr_assert_eq(fcntl(sv[0], F_GETFD), -1, "closed by lfr_tcp_close");
	cr_assert_eq(errno, EBADF);
	lfr_reactor_free(r);
}

Test(io, from_fd_wraps_a_listening_socket_with_options_of_its_own)
{
	struct lfr_waker k = lfr_waker_noop();
	struct sockaddr_in any = loopback(0);
	struct lfr_tcp *l, *c, *s, *none;
	struct lfr_reactor *r;
	int fd, one = 1, err;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* blocking */
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)),
		     0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&any, sizeof(any)), 0);
	cr_assert_eq(listen(fd, 8), 0);
	cr_assert_eq(lfr_tcp_from_fd(r, fd, &l), 0);
	any = loopback(lfr_tcp_local_port(l));
	cr_assert_eq(lfr_tcp_connect(r, (struct sockaddr *)&any, sizeof(any), &c),
		     0);
	/* a listener: it accepts, and never blocks */
	cr_assert(POLL_READY(lfr_tcp_accept_poll(l, &k, &s, &err), 2000));
	cr_assert_eq(err, 0);
	cr_assert(POLL_READY(lfr_tcp_connect_poll(c, &k, &err), 2000));
	cr_assert_eq(err, 0);
	round_trip(c, s);
	cr_assert_eq(lfr_tcp_accept_poll(l, &k, &none, &err), LFR_PENDING,
		     "a blocking accept would hang here");
	cr_assert_null(none);
	lfr_tcp_close(s);
	lfr_tcp_close(c);
	lfr_tcp_close(l);
	lfr_reactor_free(r);
}

Test(io, from_fd_refuses_what_is_no_stream_socket_and_leaves_it_as_it_was)
{
	struct lfr_tcp *s = NULL;
	struct lfr_reactor *r;
	int p[2], udp, flags;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_eq(lfr_tcp_from_fd(r, p[0], &s), -ENOTSOCK);
	udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	flags = fcntl(udp, F_GETFL);
	cr_assert_eq(lfr_tcp_from_fd(r, udp, &s), -EINVAL);
	cr_assert_eq(fcntl(udp, F_GETFL), flags, "flags unchanged");
	cr_assert_eq(lfr_tcp_from_fd(r, -1, &s), -EBADF);
	cr_assert_eq(lfr_tcp_from_fd(r, 1000000, &s), -EBADF);
	cr_assert_eq(lfr_tcp_from_fd(NULL, udp, &s), -EINVAL);
	cr_assert_eq(lfr_tcp_from_fd(r, udp, NULL), -EINVAL);
	cr_assert_null(s);
	cr_assert_eq(fcntl(p[0], F_GETFD), FD_CLOEXEC, "still open: the caller's");
	/* a failure after the socket was made non-blocking undoes that */
	{
		struct lfr_fd_watch *w;
		int sv[2];

		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
					sv), 0);
		cr_assert_eq(lfr_fd_watch_new(r, sv[0], LFR_READABLE, &w), 0);
		flags = fcntl(sv[0], F_GETFL);
		cr_assert_eq(flags & O_NONBLOCK, 0);
		cr_assert_eq(lfr_tcp_from_fd(r, sv[0], &s), -EEXIST);
		cr_assert_eq(fcntl(sv[0], F_GETFL), flags, "blocking again");
		lfr_fd_watch_free(w);
		close(sv[0]);
		close(sv[1]);
	}
	close(p[0]);
	close(p[1]);
	close(udp);
	lfr_reactor_free(r);
}

Test(io, unix_domain_stream_sockets_listen_accept_and_echo)
{
	struct lfr_waker k = lfr_waker_noop();
	struct sockaddr_un at = { .sun_family = AF_UNIX }, got;
	socklen_t len = sizeof(got);
	char dir[] = "/tmp/lfr-unix-XXXXXX";
	struct lfr_tcp *l, *c, *s, *taken = NULL;
	struct lfr_reactor *r;
	int err;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(at.sun_path, sizeof(at.sun_path), "%s/sock", dir);
	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_tcp_listen_opts(r, (struct sockaddr *)&at, sizeof(at),
					 NULL, &l), 0);
	cr_assert_eq(lfr_tcp_listen_opts(r, (struct sockaddr *)&at, sizeof(at),
					 NULL, &taken), -EADDRINUSE,
		     "the path exists");
	cr_assert_null(taken);
	cr_assert_eq(lfr_tcp_local_port(l), -EAFNOSUPPORT);
	cr_assert_eq(lfr_tcp_local_addr(l, (struct sockaddr *)&got, &len), 0);
	cr_assert_eq(got.sun_family, AF_UNIX);
	cr_assert_str_eq(got.sun_path, at.sun_path);
	cr_assert_eq(lfr_tcp_local_addr(l, NULL, &len), -EINVAL);
	cr_assert_eq(lfr_tcp_connect(r, (struct sockaddr *)&at, sizeof(at), &c), 0);
	cr_assert(POLL_READY(lfr_tcp_accept_poll(l, &k, &s, &err), 2000));
	cr_assert_eq(err, 0);
	cr_assert(POLL_READY(lfr_tcp_connect_poll(c, &k, &err), 2000));
	cr_assert_eq(err, 0);
	round_trip(c, s);
	round_trip(s, c);
	lfr_tcp_close(s);
	lfr_tcp_close(c);
	lfr_tcp_close(l);
	cr_assert_eq(unlink(at.sun_path), 0, "the socket file stays the caller's");
	rmdir(dir);
	lfr_reactor_free(r);
}

Test(io, local_addr_of_an_ipv4_listener_names_its_port)
{
	struct sockaddr_in any = loopback(0), got;
	socklen_t len = sizeof(got);
	struct lfr_reactor *r;
	struct lfr_tcp *l;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	cr_assert_eq(lfr_tcp_listen(r, (struct sockaddr *)&any, sizeof(any), 4, &l),
		     0);
	cr_assert_eq(lfr_tcp_local_addr(l, (struct sockaddr *)&got, &len), 0);
	cr_assert_eq(len, sizeof(got));
	cr_assert_eq(ntohs(got.sin_port), lfr_tcp_local_port(l));
	cr_assert_eq(lfr_tcp_local_addr(NULL, (struct sockaddr *)&got, &len),
		     -EINVAL);
	lfr_tcp_close(l);
	lfr_reactor_free(r);
}

Test(io, a_listener_holds_one_fd_its_back_off_timer_none)
{
	struct sockaddr_in any = loopback(0);
	struct lfr_reactor *r;
	struct lfr_tcp *l1, *l2;
	int fds, before = count_dir("/proc/self/fd");

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	fds = count_dir("/proc/self/fd");
	cr_assert_eq(lfr_tcp_listen(r, (struct sockaddr *)&any, sizeof(any), 4,
				    &l1), 0);
	/* the first: its socket and the reactor's timerfd */
	cr_assert_eq(count_dir("/proc/self/fd"), fds + 2);
	cr_assert_eq(lfr_tcp_listen(r, (struct sockaddr *)&any, sizeof(any), 4,
				    &l2), 0);
	cr_assert_eq(count_dir("/proc/self/fd"), fds + 3, "one fd more");
	lfr_tcp_close(l2);
	lfr_tcp_close(l1);
	cr_assert_eq(count_dir("/proc/self/fd"), fds + 1, "the timerfd stays");
	lfr_reactor_free(r);
	cr_assert_eq(count_dir("/proc/self/fd"), before,
		     "the timerfd closed with the reactor");
}

/* listen options at the largest size there is: a zero tail is accepted,
 * a set last byte is -E2BIG and leaves no fd behind */
Test(io, listen_options_of_the_largest_size_are_checked_to_their_last_byte)
{
	static union {
		struct lfr_listen_opts o;
		unsigned char bytes[LFR_STRUCT_SIZE_MAX];
	} max;
	struct sockaddr_in any = loopback(0);
	struct lfr_tcp *l = NULL;
	struct lfr_reactor *r;
	int fds;

	cr_assert_eq(lfr_reactor_new(NULL, &r), 0);
	memset(&max, 0, sizeof(max));
	lfr_listen_opts_init(&max.o);
	max.o.size = LFR_STRUCT_SIZE_MAX;
	cr_assert_eq(lfr_tcp_listen_opts(r, (struct sockaddr *)&any, sizeof(any),
					 &max.o, &l), 0);
	lfr_tcp_close(l);
	l = NULL;
	fds = count_dir("/proc/self/fd");
	max.bytes[LFR_STRUCT_SIZE_MAX - 1] = 1;
	cr_assert_eq(lfr_tcp_listen_opts(r, (struct sockaddr *)&any, sizeof(any),
					 &max.o, &l), -E2BIG);
	cr_assert_null(l);
	cr_assert_eq(count_dir("/proc/self/fd"), fds);
	lfr_reactor_free(r);
}
