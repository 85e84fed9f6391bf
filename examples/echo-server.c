/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * echo-server - a multithreaded TCP echo server: N executor threads share
 * one reactor; the first accepts and spawns each connection onto the
 * executors in turn (spawning onto another thread's executor), and each
 * connection echoes what it reads until the peer closes.
 *
 *   echo-server [--port 7007] [--threads 4]   (127.0.0.1; port 0: any free
 *                                               port, printed first)
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lfreactor.h>

static struct lfr_reactor *reactor;
static struct lfr_executor **executors;
static int nthreads = 4;

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

static enum lfr_poll accept_poll(void *state, const struct lfr_waker *w)
{
	struct lfr_tcp *listener = state, *sock;
	static unsigned next;
	int err;

	while (lfr_tcp_accept_poll(listener, w, &sock, &err) == LFR_READY) {
		struct conn *c;

		if (err)
			continue;
		c = calloc(1, sizeof(*c));
		if (!c) {
			lfr_tcp_close(sock);
			continue;
		}
		c->sock = sock;
		if (lfr_executor_spawn(executors[next++ % (unsigned)nthreads],
				       conn_poll, conn_drop, c))
			conn_drop(c);
	}
	return LFR_PENDING;
}

/* the other executor threads only run what is spawned onto them */
static enum lfr_poll forever(void *state, const struct lfr_waker *w)
{
	(void)state;
	(void)w;
	return LFR_PENDING;
}

static void *executor_thread(void *arg)
{
	lfr_executor_block_on(arg, forever, NULL);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct lfr_tcp *listener;
	long port = 7007;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
			nthreads = atoi(argv[++i]);
		else
			port = -1;
	}
	if (port < 0 || port > 65535 || nthreads < 1) {
		fprintf(stderr, "usage: %s [--port N] [--threads N]\n", argv[0]);
		return 2;
	}
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	executors = calloc((size_t)nthreads, sizeof(*executors));
	if (!executors || (ret = lfr_reactor_new(NULL, &reactor)) ||
	    (ret = lfr_tcp_listen(reactor, (struct sockaddr *)&addr,
				  sizeof(addr), 128, &listener))) {
		fprintf(stderr, "echo-server: %s\n",
			executors ? lfr_strerror(ret) : "out of memory");
		return 1;
	}
	for (int t = 0; t < nthreads; t++) {
		if ((ret = lfr_executor_new(&executors[t]))) {
			fprintf(stderr, "echo-server: %s\n", lfr_strerror(ret));
			return 1;
		}
	}
	printf("echo-server: listening on 127.0.0.1:%d with %d executor "
	       "threads\n", lfr_tcp_local_port(listener), nthreads);
	fflush(stdout);
	for (int t = 1; t < nthreads; t++) {
		pthread_t th;

		pthread_create(&th, NULL, executor_thread, executors[t]);
	}
	lfr_executor_block_on(executors[0], accept_poll, listener);
	return 0;
}
