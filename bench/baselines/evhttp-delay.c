/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * evhttp-delay - examples/delayserver's job on libevent's evhttp, the
 * baseline of bench/http: `GET /<ms>/<message>` answers <message>
 * (text/plain; the path's, without the query) after <ms> ms, on an
 * event_base timer (no fd per request).  --threads 1: one event_base and
 * one listener, libevent's usual server; --threads N: N threads, each its
 * own event_base, evhttp and SO_REUSEPORT listener on the same port (the
 * kernel spreads the connections).  The limits are delayserver's: 8 KiB
 * heads, GET and HEAD only, keep-alive connections idle for --idle-ms
 * closed (evhttp counts whole seconds: rounded up).  SIGINT or SIGTERM
 * stops it.
 *
 *   evhttp-delay [--port 8080] [--threads 1] [--idle-ms 5000]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/util.h>

struct server {
	struct event_base *base;
	struct evhttp *http;
	struct evconnlistener *listener;
	pthread_t thread;
};

struct pending {
	struct evhttp_request *req;
	struct evbuffer *body;
};

static void reply(struct evhttp_request *req, struct evbuffer *body)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Content-Type", "text/plain");
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
}

static void delayed(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;

	reply(p->req, p->body); /* evhttp frees a request whose client left */
	free(p);
}

static void handle(struct evhttp_request *req, void *arg)
{
	struct event_base *base = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	unsigned long ms = 0;
	const char *p;
	struct evbuffer *body;
	struct pending *pend;
	struct timeval tv;

	if (!path || path[0] != '/' || path[1] < '0' || path[1] > '9')
		goto bad;
	for (p = path + 1; *p >= '0' && *p <= '9'; p++)
		if ((ms = ms * 10 + (unsigned long)(*p - '0')) > 600000)
			goto bad;
	if (*p != '/' || !p[1])
		goto bad;
	body = evbuffer_new();
	if (!body || evbuffer_add(body, p + 1, strlen(p + 1)) < 0)
		goto busy;
	if (ms == 0) {
		reply(req, body);
		return;
	}
	pend = malloc(sizeof(*pend));
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (pend) {
		pend->req = req;
		pend->body = body;
		if (event_base_once(base, -1, EV_TIMEOUT, delayed, pend, &tv) == 0)
			return;
		free(pend);
	}
	evbuffer_free(body);
busy:
	evhttp_send_error(req, 503, "Service Unavailable");
	return;
bad:
	evhttp_send_error(req, 400, "expected GET /<ms>/<message>");
}

static void *loop(void *arg)
{
	struct server *s = arg;

	event_base_dispatch(s->base);
	return NULL;
}

/* a base, an evhttp and its listener on port (0: any; *bound gets it) */
static int server_new(struct server *s, int port, int reuseport,
		      int idle_ms, int *bound)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct sockaddr_in got;
	socklen_t len = sizeof(got);
	unsigned flags = LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
			 LEV_OPT_CLOSE_ON_EXEC;
	int one = 1;

	if (reuseport)
		flags |= LEV_OPT_REUSEABLE_PORT;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->base = event_base_new();
	s->http = s->base ? evhttp_new(s->base) : NULL;
	if (!s->http)
		return -1;
	s->listener = evconnlistener_new_bind(s->base, NULL, NULL, flags, 1024,
					      (struct sockaddr *)&a, sizeof(a));
	if (!s->listener)
		return -1;
	/* as delayserver: accepted sockets inherit TCP_NODELAY */
	setsockopt(evconnlistener_get_fd(s->listener), IPPROTO_TCP,
		   TCP_NODELAY, &one, sizeof(one));
	if (!evhttp_bind_listener(s->http, s->listener))
		return -1;
	evhttp_set_timeout(s->http, (idle_ms + 999) / 1000);
	evhttp_set_max_headers_size(s->http, 8192);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(s->http, handle, s->base);
	if (getsockname(evconnlistener_get_fd(s->listener),
			(struct sockaddr *)&got, &len) < 0)
		return -1;
	*bound = ntohs(got.sin_port);
	return 0;
}

int main(int argc, char **argv)
{
	int port = 8080, threads = 1, idle_ms = 5000, sig;
	struct server *servers;
	sigset_t stop;

	for (int i = 1; i < argc; i++) {
		if (i + 1 < argc && strcmp(argv[i], "--port") == 0)
			port = atoi(argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0)
			threads = atoi(argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "--idle-ms") == 0)
			idle_ms = atoi(argv[++i]);
		else
			threads = 0;
	}
	if (port < 0 || port > 65535 || threads < 1 || idle_ms < 1) {
		fprintf(stderr, "usage: %s [--port N] [--threads N] "
			"[--idle-ms MS]\n", argv[0]);
		return 2;
	}
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads(); /* loopexit from this thread */
	servers = calloc((size_t)threads, sizeof(*servers));
	if (!servers)
		return 1;
	for (int t = 0; t < threads; t++) {
		if (server_new(&servers[t], port, threads > 1, idle_ms, &port) ||
		    pthread_create(&servers[t].thread, NULL, loop, &servers[t])) {
			fprintf(stderr, "evhttp-delay: cannot listen or start: "
				"%s\n", strerror(errno));
			return 1;
		}
	}
	printf("evhttp-delay: listening on 127.0.0.1:%d with %d event_base "
	       "threads\n", port, threads);
	fflush(stdout);
	sigwait(&stop, &sig);
	for (int t = 0; t < threads; t++)
		event_base_loopexit(servers[t].base, NULL);
	for (int t = 0; t < threads; t++) {
		pthread_join(servers[t].thread, NULL);
		evhttp_free(servers[t].http); /* frees its listener too */
		event_base_free(servers[t].base);
	}
	free(servers);
	return 0;
}
