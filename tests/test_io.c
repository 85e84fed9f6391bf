/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Leaf futures: the timerfd sleep. */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
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
	cr_assert_eq(stats_of(r).registrations, 0, "every timer deregistered");
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
