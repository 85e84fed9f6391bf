/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bufferevent-echo - examples/echo-server's job on libevent's
 * bufferevents, the baseline of bench/echo: each connection echoes what
 * it reads until the peer closes.  --threads 1: one event_base and one
 * listener, libevent's usual server; --threads N: N threads, each its own
 * event_base and SO_REUSEPORT listener on the same port (the kernel
 * spreads the connections), as echo-server.  SIGINT or SIGTERM stops it.
 *
 *   bufferevent-echo [--port 7007] [--threads 1]
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

struct server {
	struct event_base *base;
	struct evconnlistener *listener;
	pthread_t thread;
};

static void echo_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	bufferevent_write_buffer(bev, bufferevent_get_input(bev));
}

static void echo_event(struct bufferevent *bev, short what, void *arg)
{
	(void)arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bufferevent_free(bev);
}

static void accepted(struct evconnlistener *l, evutil_socket_t fd,
		     struct sockaddr *sa, int len, void *arg)
{
	struct event_base *base = arg;
	struct bufferevent *bev;
	int one = 1;

	(void)l;
	(void)sa;
	(void)len;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		evutil_closesocket(fd);
		return;
	}
	bufferevent_setcb(bev, echo_read, NULL, echo_event, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void *serve(void *arg)
{
	struct server *s = arg;

	event_base_dispatch(s->base);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	long port = 7007, threads = 1;
	struct server *servers;
	sigset_t stop;
	int sig;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
			threads = strtol(argv[++i], NULL, 10);
		else
			port = -1;
	}
	if (port < 0 || port > 65535 || threads < 1 || threads > 1024) {
		fprintf(stderr, "usage: %s [--port N] [--threads N]\n", argv[0]);
		return 2;
	}
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	servers = calloc((size_t)threads, sizeof(*servers));
	if (!servers)
		return 1;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (long t = 0; t < threads; t++) {
		struct server *s = &servers[t];
		unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
				 (threads > 1 ? LEV_OPT_REUSEABLE_PORT : 0);

		addr.sin_port = htons((uint16_t)port);
		s->base = event_base_new();
		s->listener = s->base ? evconnlistener_new_bind(s->base,
			accepted, s->base, flags, -1, (struct sockaddr *)&addr,
			sizeof(addr)) : NULL;
		if (!s->listener) {
			fprintf(stderr, "bufferevent-echo: cannot listen on "
				"port %ld\n", port);
			return 1;
		}
		if (t == 0) { /* port 0: the others take the one picked */
			struct sockaddr_in got;
			socklen_t glen = sizeof(got);

			getsockname(evconnlistener_get_fd(s->listener),
				    (struct sockaddr *)&got, &glen);
			port = ntohs(got.sin_port);
		}
	}
	for (long t = 0; t < threads; t++)
		if (pthread_create(&servers[t].thread, NULL, serve, &servers[t]))
			return 1;
	printf("bufferevent-echo: listening on 127.0.0.1:%ld with %ld "
	       "threads\n", port, threads);
	fflush(stdout);
	sigwait(&stop, &sig);
	return 0; /* a benchmark's baseline: the process's end frees it all */
}
