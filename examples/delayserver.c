/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delayserver - the book's delay server on lfreactor's executor, TCP and
 * timer futures: `GET /<ms>/<message>` answers <message> (text/plain)
 * after <ms> milliseconds without holding up other requests, then closes.
 * A malformed request gets 400 and the server keeps serving.
 *
 *   delayserver [--port 8080]        (listens on 127.0.0.1; 0: any free
 *                                     port, printed on the first line)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lfreactor.h>

static struct lfr_reactor *reactor;
static struct lfr_executor *executor;

struct conn {
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
			 status == 200 ? "200 OK" : "400 Bad Request",
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
			respond(c, 200, msg);
			if (lfr_sleep_new(reactor, ms, &c->sleep) != 0)
				return LFR_READY;
			c->step = 1;
			continue;
		case 1: /* wait, without holding anyone else up */
			if (lfr_sleep_poll(c->sleep, w, &err) == LFR_PENDING)
				return LFR_PENDING;
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

static enum lfr_poll accept_poll(void *state, const struct lfr_waker *w)
{
	struct lfr_tcp *listener = state, *sock;
	int err;

	/* accepts every pending connection; never ready */
	while (lfr_tcp_accept_poll(listener, w, &sock, &err) == LFR_READY) {
		struct conn *c;

		if (err) {
			fprintf(stderr, "delayserver: accept: %s\n",
				lfr_strerror(err));
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			lfr_tcp_close(sock);
			continue;
		}
		c->sock = sock;
		if (lfr_executor_spawn(executor, conn_poll, conn_drop, c))
			conn_drop(c);
	}
	return LFR_PENDING;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct lfr_tcp *listener;
	long port = 8080;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
			port = strtol(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "usage: %s [--port N]\n", argv[0]);
			return 2;
		}
	}
	if (port < 0 || port > 65535) {
		fprintf(stderr, "delayserver: bad port\n");
		return 2;
	}
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((ret = lfr_reactor_new(NULL, &reactor)) ||
	    (ret = lfr_executor_new(&executor)) ||
	    (ret = lfr_tcp_listen(reactor, (struct sockaddr *)&addr,
				  sizeof(addr), 128, &listener))) {
		fprintf(stderr, "delayserver: %s\n", lfr_strerror(ret));
		return 1;
	}
	printf("delayserver: listening on 127.0.0.1:%d\n",
	       lfr_tcp_local_port(listener));
	fflush(stdout);
	lfr_executor_block_on(executor, accept_poll, listener);
	return 0;
}
