/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The seed's workload end to end in one process: examples/delay.c's delay
 * server on an ephemeral port and its multi-threaded client, sharing one
 * reactor, every body checked.  (tests/delay-e2e.sh runs the two example
 * programs against each other.)
 */
#include "config.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
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
	lfr_reactor_free(reactor);
}
