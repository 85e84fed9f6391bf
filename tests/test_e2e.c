/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The seed's workload end to end in one process: examples/delay.c's delay
 * server on an ephemeral port and its multi-threaded client, sharing one
 * reactor, every body checked.  (tests/delay-e2e.sh runs the two example
 * programs against each other.)  And the delay server's main
 * (delay_server_main) in a child process out of fds.
 */
#include "config.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../examples/delay.h"

TestSuite(e2e, .timeout = 60);

static struct lfr_reactor *reactor;
static struct delay_server *server;

static void start(void)
{
	cr_assert_eq(lfr_reactor_new(NULL, &reactor), 0);
	cr_assert_eq(delay_server_start(reactor, 0, &server), 0);
	cr_assert_gt(delay_server_port(server), 0);
}

static void stop(void)
{
	delay_server_stop(server);
	lfr_reactor_free(reactor);
}

/* a plain blocking client socket connected to the server */
static int raw_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0,
		     "connect: %s", strerror(errno));
	return fd;
}

static void raw_send(int fd, const char *s)
{
	cr_assert_eq(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* reads until the server closes; returns the bytes read */
static size_t raw_read_all(int fd, char *buf, size_t size)
{
	size_t got = 0;
	ssize_t n;

	while (got < size - 1 &&
	       (n = recv(fd, buf + got, size - 1 - got, 0)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	return got;
}

/* every reply is a 200 with body HelloWorld<i>, not earlier than its delay */
static void check_replies(const struct delay_fetch *f,
			  const struct delay_reply *replies)
{
	for (int t = 0; t < f->threads; t++)
		for (int i = 0; i < f->requests; i++) {
			const struct delay_reply *rp =
				&replies[t * f->requests + i];
			char want[32];

			snprintf(want, sizeof(want), "HelloWorld%d", i);
			cr_assert_eq(rp->thread, t);
			cr_assert_eq(rp->i, i);
			cr_assert_eq(rp->error, 0, "thread %d request %d: %s", t,
				     i, lfr_strerror(rp->error));
			cr_assert_str_eq(rp->body, want);
			cr_assert_geq(rp->elapsed_ms, (double)i * f->unit_ms,
				      "request %d answered after %.1f ms", i,
				      rp->elapsed_ms);
		}
}

Test(e2e, serves_and_fetches_delayed_responses_in_one_process)
{
	struct delay_fetch f = { .threads = 12, .requests = 5, .unit_ms = 100 };
	static struct delay_reply replies[12 * 5];

	start();
	f.port = delay_server_port(server);
	cr_assert_eq(delay_fetch_all(reactor, &f, replies), 0);
	check_replies(&f, replies);
	stop();
}

/* A request waiting a minute holds up no other: the fetch below finishes
 * within the suite's timeout only if the server serves it meanwhile.
 * Stopping the server then closes the waiting connection unanswered. */
/* the seed's workload against the server on two executor threads */
Test(e2e, serves_the_seed_workload_on_two_executor_threads)
{
	struct delay_server_config config = { .threads = 2 };
	struct delay_fetch f = { .threads = 12, .requests = 5, .unit_ms = 20 };
	static struct delay_reply replies[12 * 5];

	cr_assert_eq(lfr_reactor_new(NULL, &reactor), 0);
	cr_assert_eq(delay_server_start_config(reactor, &config, &server), 0);
	cr_assert_eq(delay_server_threads(server), 2);
	f.port = delay_server_port(server);
	cr_assert_eq(delay_fetch_all(reactor, &f, replies), 0);
	check_replies(&f, replies);
	stop();
}

/*
 * Every thread accepts: with a listener per thread on one port
 * (SO_REUSEPORT) the kernel picks a listener by a hash of each
 * connection's addresses and ports, so 64 connections from 64 client
 * ports all land on one of two listeners with a chance of 2 in 2^64.
 * With one accepting thread handing connections out, thread 1 accepts
 * none.  Each connection is held open until all are made, then answered.
 */
Test(e2e, every_executor_thread_accepts_connections)
{
	enum { CONNS = 64 };
	struct delay_server_config config = { .threads = 2 };
	unsigned long accepted[2];
	int fds[CONNS];
	char buf[512], want[32];

	cr_assert_eq(lfr_reactor_new(NULL, &reactor), 0);
	cr_assert_eq(delay_server_start_config(reactor, &config, &server), 0);
	for (int i = 0; i < CONNS; i++)
		fds[i] = raw_connect(delay_server_port(server));
	for (int i = 0; i < CONNS; i++) {
		snprintf(buf, sizeof(buf), "GET /0/c%d HTTP/1.1\r\n"
			 "Connection: close\r\n\r\n", i);
		raw_send(fds[i], buf);
	}
	for (int i = 0; i < CONNS; i++) {
		raw_read_all(fds[i], buf, sizeof(buf));
		close(fds[i]);
		snprintf(want, sizeof(want), "\r\n\r\nc%d", i);
		cr_assert(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0 &&
			  strstr(buf, want), "connection %d got: %s", i, buf);
	}
	/* each was answered, so each was accepted (and counted) before */
	for (int t = 0; t < 2; t++)
		accepted[t] = delay_server_accepted(server, t);
	cr_assert_eq(accepted[0] + accepted[1], CONNS, "%lu + %lu",
		     accepted[0], accepted[1]);
	cr_assert(accepted[0] > 0 && accepted[1] > 0,
		  "thread 0 accepted %lu, thread 1 %lu", accepted[0],
		  accepted[1]);
	cr_assert_eq(delay_server_accepted(server, 2), 0);
	stop();
}

Test(e2e, a_long_request_holds_up_no_other)
{
	struct delay_fetch f = { .threads = 2, .requests = 3, .unit_ms = 20 };
	static struct delay_reply replies[2 * 3];
	char buf[512];
	int fd;

	start();
	f.port = delay_server_port(server);
	fd = raw_connect(f.port);
	raw_send(fd, "GET /60000/long HTTP/1.1\r\n\r\n");
	cr_assert_eq(delay_fetch_all(reactor, &f, replies), 0);
	check_replies(&f, replies);
	stop();
	cr_assert_eq(raw_read_all(fd, buf, sizeof(buf)), 0,
		     "the waiting request was answered: %s", buf);
	close(fd);
}

Test(e2e, a_malformed_request_gets_400_and_the_server_keeps_serving)
{
	struct delay_fetch f = { .threads = 1, .requests = 2, .unit_ms = 10 };
	static struct delay_reply replies[2];
	static const char *bad[] = {
		"BLAH /x\r\n\r\n", "GET /abc/x HTTP/1.1\r\n\r\n",
		"GET /10/ HTTP/1.1\r\n\r\n", "GET /10/x FTP/1.0\r\n\r\n",
	};
	char buf[512];

	start();
	f.port = delay_server_port(server);
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		int fd = raw_connect(f.port);

		raw_send(fd, bad[k]);
		raw_read_all(fd, buf, sizeof(buf));
		close(fd);
		cr_assert(strncmp(buf, "HTTP/1.1 400 Bad Request\r\n", 26) == 0,
			  "request %zu got: %s", k, buf);
	}
	cr_assert_eq(delay_fetch_all(reactor, &f, replies), 0);
	check_replies(&f, replies);
	stop();
}

Test(e2e, an_unreachable_server_fails_each_request_cleanly)
{
	struct delay_fetch f = { .threads = 2, .requests = 2, .unit_ms = 0 };
	static struct delay_reply replies[2 * 2];

	start();
	f.port = delay_server_port(server);
	delay_server_stop(server); /* the port is closed now */
	cr_assert_eq(delay_fetch_all(reactor, &f, replies), 4);
	for (int k = 0; k < 4; k++)
		cr_assert_eq(replies[k].error, -ECONNREFUSED, "%s",
			     lfr_strerror(replies[k].error));
	lfr_reactor_free(reactor);
}

Test(e2e, bad_arguments_are_einval)
{
	struct delay_fetch f = { .port = 8080, .threads = 0, .requests = 1 };
	struct delay_reply reply;

	cr_assert_eq(lfr_reactor_new(NULL, &reactor), 0);
	cr_assert_eq(delay_fetch_all(reactor, &f, &reply), -EINVAL);
	cr_assert_eq(delay_server_start(reactor, 70000, &server), -EINVAL);
	cr_assert_eq(delay_server_start(NULL, 0, &server), -EINVAL);
	cr_assert_eq(delay_server_start_config(reactor, NULL, &server), -EINVAL);
	cr_assert_eq(delay_server_start_config(reactor,
		&(struct delay_server_config){ .threads = -1 }, &server), -EINVAL);
	cr_assert_eq(delay_server_start_config(reactor,
		&(struct delay_server_config){ .idle_ms = -1 }, &server), -EINVAL);
	lfr_reactor_free(reactor);
}

/* ---- out of fds: the delay server's main in a child with a low RLIMIT_NOFILE ---- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* user + system CPU time of pid, in clock ticks */
static long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* fields 14 and 15: utime, stime */
	cr_assert_not_null(p);
	cr_assert_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
			    "%*u %lu %lu", &ut, &st), 2);
	return (long)(ut + st);
}

/* reads fd until it holds a whole line or ms pass; returns what came */
static size_t read_line(int fd, char *buf, size_t size, int ms)
{
	double end = now_s() + ms / 1000.0;
	size_t got = 0;

	buf[0] = '\0';
	while (got < size - 1 && !strchr(buf, '\n') && now_s() < end) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, 50) <= 0)
			continue;
		n = read(fd, buf + got, size - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
	}
	return got;
}

/* a request on a fresh connection: the whole answer within ms, or less */
static size_t request(int port, const char *req, char *buf, size_t size, int ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	double end = now_s() + ms / 1000.0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t got = 0;
	ssize_t n;

	cr_assert_geq(fd, 0);
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	buf[0] = '\0';
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req))
		while (got < size - 1 && now_s() < end &&
		       (n = recv(fd, buf + got, size - 1 - got, 0)) > 0)
			got += (size_t)n;
	buf[got] = '\0';
	close(fd);
	return got;
}

/* the child: the delayserver program, with about 40 fds to spare */
static void serve_out_of_fds(int out, int err)
{
	struct delay_server_config config = { .port = 0 };
	struct rlimit rl;
	struct dirent *e;
	long high = 2;
	DIR *d;

	prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the test */
	dup2(out, 1);
	dup2(err, 2);
	d = opendir("/proc/self/fd");
	while (d && (e = readdir(d)))
		if (atol(e->d_name) > high)
			high = atol(e->d_name);
	if (d)
		closedir(d);
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = (rlim_t)high + 1 + 40;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		_exit(3);
	_exit(delay_server_main(&config)); /* _exit: not Criterion's atexit */
}

/*
 * 100 connections at once, each with a request waiting 100 ms, against a
 * server with about 40 fds: it runs out, for sockets and for timers.
 * Once the load is gone the server answers again within 1 s, idles (under
 * 10% CPU), logged a handful of lines, not one per try, and a SIGTERM
 * stops it cleanly within 1 s.
 */
Test(e2e, out_of_fds_the_delay_server_recovers_idles_logs_little_and_stops_on_sigterm)
{
	enum { LOAD = 100 };
	static char log[1 << 16];
	int out[2], errp[2], load[LOAD], port = 0, status = -1, lines = 0;
	char buf[4096], *p;
	double t0, answered, stopped = -1;
	long ticks, hz = sysconf(_SC_CLK_TCK);
	size_t logged = 0;
	pid_t pid, w;
	ssize_t n;

	cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(errp, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		serve_out_of_fds(out[1], errp[1]);
	close(out[1]);
	close(errp[1]);
	read_line(out[0], buf, sizeof(buf), 10000);
	p = strstr(buf, "listening on 127.0.0.1:");
	cr_assert_not_null(p, "the server did not start: %s", buf);
	port = atoi(p + strlen("listening on 127.0.0.1:"));
	cr_assert_gt(port, 0);

	/* the load: more connections than the server has fds */
	for (int i = 0; i < LOAD; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		char req[64];
		int len = snprintf(req, sizeof(req),
				   "GET /100/load%d HTTP/1.1\r\n\r\n", i);

		a.sin_port = htons((uint16_t)port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		load[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert_geq(load[i], 0);
		cr_assert_eq(connect(load[i], (struct sockaddr *)&a, sizeof(a)), 0,
			     "connect %d: %s", i, strerror(errno));
		cr_assert_eq(send(load[i], req, (size_t)len, MSG_NOSIGNAL), len);
	}
	msleep(300); /* the server works at its limit meanwhile */
	for (int i = 0; i < LOAD; i++)
		close(load[i]);

	/* the load is gone: an answer within 1 s */
	t0 = now_s();
	request(port, "GET /0/again HTTP/1.1\r\nConnection: close\r\n\r\n",
		buf, sizeof(buf), 1000);
	answered = now_s() - t0;
	cr_assert(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0 &&
		  strstr(buf, "\r\n\r\nagain"),
		  "no answer %.3f s after the load: \"%s\"", answered, buf);
	cr_assert_lt(answered, 1.0);

	/* idle: under 10% of a CPU over a second */
	msleep(100);
	ticks = cpu_ticks(pid);
	msleep(1000);
	ticks = cpu_ticks(pid) - ticks;
	cr_assert_lt(ticks, hz / 10, "%ld ticks of %ld in an idle second",
		     ticks, hz);

	/* SIGTERM: a clean exit within 1 s */
	t0 = now_s();
	kill(pid, SIGTERM);
	while ((w = waitpid(pid, &status, WNOHANG)) == 0 && now_s() - t0 < 1.0)
		msleep(5);
	if (w == pid)
		stopped = now_s() - t0;
	else
		kill(pid, SIGKILL);
	cr_assert_eq(w, pid, "still running 1 s after SIGTERM");
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "status %#x after SIGTERM", status);
	cr_assert_lt(stopped, 1.0);

	/* stderr: the run of errors was logged, once, not per try */
	while (logged < sizeof(log) - 1 &&
	       (n = read(errp[0], log + logged, sizeof(log) - 1 - logged)) > 0)
		logged += (size_t)n;
	log[logged] = '\0';
	for (char *q = log; (q = strchr(q, '\n')); q++)
		lines++;
	cr_assert(strstr(log, "Too many open files"),
		  "the server never ran out of fds: the test tests nothing:\n%s",
		  log);
	cr_assert_leq(lines, 10, "%d lines logged:\n%.2000s", lines, log);
	close(out[0]);
	close(errp[0]);
}
