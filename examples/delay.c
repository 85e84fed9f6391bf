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
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

/*
 * HTTP is parsed by http_parser (Debian's libhttp-parser-dev, the parser
 * node.js used before llhttp), not by hand: it frames requests (request
 * line, headers, Content-Length and chunked bodies, which are read and
 * skipped), rejects what RFC 7230 does not allow (NUL and other control
 * bytes in the head included), bounds the head
 * (http_parser_set_max_header_size) and says whether the connection stays
 * open (http_should_keep_alive: HTTP/1.1 unless "Connection: close",
 * HTTP/1.0 only with "Connection: keep-alive").  The server pauses it at
 * each request's end, so pipelined requests come out one at a time and are
 * answered in order.
 */

/* one executor thread: its executor, its listener on the shared port (the
 * accept task's, which closes it when dropped) and that task's handle */
struct worker {
	struct delay_server *server;
	struct lfr_executor *ex;
	struct lfr_tcp *listener;
	struct lfr_task *acceptor;
	pthread_t thread;
	bool running;           /* thread started */
	bool failing;           /* its listener is in a run of errors */
	int index;
	atomic_ulong accepted;  /* connections its listener accepted */
};

struct delay_server {
	struct lfr_reactor *reactor;
	struct worker *workers;
	int threads, idle_ms, port;
	/* listeners in a run of resource errors (out of fds): the first to
	 * enter one logs, the last to leave logs the end, so a run is two
	 * lines however many listeners it hits */
	atomic_int failing;
	atomic_ulong accept_errors; /* in the current run */
};

enum {
	IN_SIZE = 4096,   /* read at once; holds what is read and not parsed */
	OUT_SIZE = 4096,  /* responses not yet written (pipelined: several) */
	RESP_MAX = DELAY_URL_MAX + 256, /* the longest response */
	LINGER_MS = 2000, /* after an error: how long to drain the client */
	READS_PER_POLL = 16 /* then the task yields to the others */
};

enum step {
	S_READ,   /* read more of the requests; the idle timeout runs */
	S_PARSE,  /* parse the next request from what was read */
	S_DELAY,  /* wait the request's delay */
	S_WRITE,  /* write the responses, then go on at after_write */
	S_CLOSE,  /* the last response is out: close, draining if needed */
	S_LINGER  /* drain what the client still sends, until it closes */
};

struct conn {
	struct delay_server *server;
	struct lfr_tcp *sock;
	http_parser parser;
	enum step step, after_write;
	bool closing;           /* the response being made is the last */
	bool failed;            /* closing after an error: drain the client */
	/* the request parsed last */
	char url[DELAY_URL_MAX];
	size_t url_len;
	bool url_over;          /* longer than url */
	bool keep_alive, http10, head;
	unsigned method;        /* enum http_method */
	unsigned long ms;
	size_t msg_off, msg_len; /* the message, in url */
	struct lfr_sleep *delay; /* the request's wait */
	struct lfr_sleep *timer; /* the idle (S_READ) or linger timeout */
	double active;          /* ms: last read, last write or linger start */
	size_t pos, end;        /* in[pos..end): read, not yet parsed */
	size_t out_len, sent;
	char in[IN_SIZE];
	char out[OUT_SIZE];
};

static int on_message_begin(http_parser *p)
{
	struct conn *c = p->data;

	c->url_len = 0;
	c->url_over = false;
	c->head = false;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;

	if (len > sizeof(c->url) - c->url_len) {
		c->url_over = true;
		return 0;
	}
	memcpy(c->url + c->url_len, at, len);
	c->url_len += len;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct conn *c = p->data;

	/* an upgrade is not made: the connection closes after the answer */
	c->keep_alive = http_should_keep_alive(p) && !p->upgrade;
	c->http10 = p->http_major == 1 && p->http_minor == 0;
	c->method = p->method;
	c->head = p->method == HTTP_HEAD;
	http_parser_pause(p, 1); /* one request at a time */
	return 0;
}

static const http_parser_settings parser_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_message_complete = on_message_complete,
};

static pthread_once_t parser_once = PTHREAD_ONCE_INIT;

/* http_parser's limit is process-wide */
static void parser_limit(void)
{
	http_parser_set_max_header_size(DELAY_HEAD_MAX);
}

enum { REQ_MORE = 0, REQ_DONE = 1 };

/* parses in[pos..end) to the end of the next request: REQ_DONE with it in
 * c, REQ_MORE when every byte is parsed and no request ends there, or the
 * error status for a malformed head */
static int next_request(struct conn *c)
{
	while (c->pos < c->end) {
		size_t n = http_parser_execute(&c->parser, &parser_settings,
					       c->in + c->pos, c->end - c->pos);
		enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);

		c->pos += n;
		if (e == HPE_PAUSED) {
			http_parser_pause(&c->parser, 0);
			return REQ_DONE;
		}
		if (e != HPE_OK)
			return e == HPE_HEADER_OVERFLOW ? 431 : 400;
	}
	c->pos = c->end = 0;
	return REQ_MORE;
}

/* the request's target is /<ms>/<message>[?query]: 0 with c->ms and the
 * message set, or the error status */
static int check_request(struct conn *c)
{
	struct http_parser_url u;
	const char *path, *p;
	size_t len, i = 1;

	if (c->method != HTTP_GET && c->method != HTTP_HEAD)
		return 405;
	if (c->url_over)
		return 414;
	http_parser_url_init(&u);
	if (http_parser_parse_url(c->url, c->url_len, 0, &u) != 0 ||
	    !(u.field_set & (1u << UF_PATH)))
		return 400;
	path = c->url + u.field_data[UF_PATH].off;
	len = u.field_data[UF_PATH].len;
	if (len < 4 || path[0] != '/')
		return 400;
	c->ms = 0;
	for (p = path + 1; i < len && *p >= '0' && *p <= '9'; p++, i++) {
		c->ms = c->ms * 10 + (unsigned long)(*p - '0');
		if (c->ms > 600000)
			return 400;
	}
	if (i == 1 || i + 1 >= len || *p != '/')
		return 400;
	c->msg_off = (size_t)(p + 1 - c->url);
	c->msg_len = len - i - 1;
	return 0;
}

static const char *status_line(int status)
{
	switch (status) {
	case 200: return "200 OK";
	case 405: return "405 Method Not Allowed\r\nAllow: GET, HEAD";
	case 414: return "414 URI Too Long";
	case 431: return "431 Request Header Fields Too Large";
	case 503: return "503 Service Unavailable";
	default: return "400 Bad Request";
	}
}

/* appends a response to out, which has room (see RESP_MAX) */
static void respond(struct conn *c, int status, const char *body, size_t len)
{
	size_t room = sizeof(c->out) - c->out_len;
	int n = snprintf(c->out + c->out_len, room,
			 "HTTP/1.1 %s\r\nContent-Type: text/plain\r\n"
			 "Content-Length: %zu\r\n%s\r\n", status_line(status),
			 len, c->closing  ? "Connection: close\r\n"
			      : c->http10 ? "Connection: keep-alive\r\n"
					  : "");

	if (n < 0 || (size_t)n + len > room) /* not with RESP_MAX */
		return;
	c->out_len += (size_t)n;
	if (!c->head) {
		memcpy(c->out + c->out_len, body, len);
		c->out_len += len;
	}
}

/* the limits respond_error names */
_Static_assert(DELAY_URL_MAX == 1024 && DELAY_HEAD_MAX == 8192, "say so");

static void respond_error(struct conn *c, int status)
{
	const char *why = status == 405 ? "only GET and HEAD are served\n"
			: status == 414 ? "the URL is over 1024 bytes\n"
			: status == 431 ? "the request head is over 8192 bytes\n"
			: status == 503 ? "server busy, try again\n"
					: "expected GET /<ms>/<message>\n";

	c->closing = c->failed = true;
	c->head = false;
	respond(c, status, why, strlen(why));
}

/* writes what is in out first, if anything, then goes on at next */
static void flush_then(struct conn *c, enum step next)
{
	c->step = c->out_len ? S_WRITE : next;
	c->after_write = next;
}

/*
 * The timeout of a connection waiting to read: LFR_PENDING until limit_ms
 * have passed since c->active, then LFR_READY; LFR_READY too when no timer
 * can be had (out of fds or memory: the connection is closed).  The timer
 * is not moved at each request: when it fires early, a new one covers what
 * is left, so a busy connection makes about one every limit_ms.
 */
static enum lfr_poll timeout_poll(struct conn *c, int limit_ms,
				  const struct lfr_waker *w)
{
	for (;;) {
		int err;

		if (!c->timer) {
			double left = c->active + limit_ms - now_ms();

			if (left <= 0 || lfr_sleep_new(c->server->reactor,
						       (uint64_t)left + 1,
						       &c->timer) != 0)
				return LFR_READY;
		}
		if (lfr_sleep_poll(c->timer, w, &err) == LFR_PENDING)
			return LFR_PENDING;
		lfr_sleep_free(c->timer);
		c->timer = NULL;
		if (err)
			return LFR_READY;
	}
}

static enum lfr_poll conn_poll(void *state, const struct lfr_waker *w)
{
	struct conn *c = state;
	int reads = 0, status, err;
	ssize_t n;

	for (;;) {
		switch (c->step) {
		case S_READ:
			if (++reads > READS_PER_POLL) {
				lfr_waker_wake_by_ref(w); /* yield: poll me again */
				return LFR_PENDING;
			}
			if (lfr_tcp_read_poll(c->sock, c->in, sizeof(c->in), w,
					      &n) == LFR_READY) {
				if (n <= 0) /* closed by the peer, or failed */
					return LFR_READY;
				c->pos = 0;
				c->end = (size_t)n;
				c->active = now_ms();
				c->step = S_PARSE;
				continue;
			}
			/* idle (or a head coming slowly): closed after idle_ms */
			return timeout_poll(c, c->server->idle_ms, w);
		case S_PARSE:
			if (c->out_len > sizeof(c->out) - RESP_MAX) {
				flush_then(c, S_PARSE);
				continue;
			}
			status = next_request(c);
			if (status == REQ_MORE) {
				flush_then(c, S_READ);
				continue;
			}
			if (status == REQ_DONE)
				status = check_request(c);
			if (status) {
				respond_error(c, status);
				flush_then(c, S_CLOSE);
				continue;
			}
			c->closing = !c->keep_alive;
			if (c->ms == 0) {
				respond(c, 200, c->url + c->msg_off, c->msg_len);
				if (c->closing)
					flush_then(c, S_CLOSE);
				continue;
			}
			/* out of fds (or memory) for the timer: say so now
			 * rather than drop the connection unanswered */
			if (lfr_sleep_new(c->server->reactor, c->ms, &c->delay)) {
				respond_error(c, 503);
				flush_then(c, S_CLOSE);
				continue;
			}
			/* the answers before this one go out meanwhile */
			flush_then(c, S_DELAY);
			continue;
		case S_DELAY: /* without holding anyone else up */
			if (lfr_sleep_poll(c->delay, w, &err) == LFR_PENDING)
				return LFR_PENDING;
			lfr_sleep_free(c->delay);
			c->delay = NULL;
			if (err) /* could not wait: the reactor is stopping */
				return LFR_READY;
			respond(c, 200, c->url + c->msg_off, c->msg_len);
			if (c->closing)
				flush_then(c, S_CLOSE);
			else
				c->step = S_PARSE;
			continue;
		case S_WRITE:
			while (c->sent < c->out_len) {
				if (lfr_tcp_write_poll(c->sock, c->out + c->sent,
						       c->out_len - c->sent, w,
						       &n) == LFR_PENDING)
					return LFR_PENDING;
				if (n <= 0)
					return LFR_READY;
				c->sent += (size_t)n;
			}
			c->sent = c->out_len = 0;
			c->active = now_ms();
			c->step = c->after_write;
			continue;
		case S_CLOSE:
			/* Closing a socket with unread data makes the kernel
			 * send a reset, which may destroy the response before
			 * the client reads it.  With nothing unread, close now;
			 * otherwise (an error, bytes after the last request)
			 * send FIN and drain the client until it closes.
			 * Draining every connection would also cover bytes
			 * still on their way from a client that pipelines
			 * past its own Connection: close, at the price of a
			 * wake-up per connection (about 10 us of CPU per
			 * request here with 16 connections); like most
			 * servers, this one does not. */
			if (!c->failed && c->pos == c->end &&
			    (lfr_tcp_read_poll(c->sock, c->in, sizeof(c->in), w,
					       &n) == LFR_PENDING || n <= 0))
				return LFR_READY;
			shutdown(lfr_tcp_fd(c->sock), SHUT_WR);
			lfr_sleep_free(c->timer);
			c->timer = NULL;
			c->active = now_ms();
			c->step = S_LINGER;
			continue;
		case S_LINGER:
			if (++reads > READS_PER_POLL) {
				lfr_waker_wake_by_ref(w);
				return LFR_PENDING;
			}
			if (lfr_tcp_read_poll(c->sock, c->in, sizeof(c->in), w,
					      &n) == LFR_READY) {
				if (n <= 0)
					return LFR_READY;
				continue; /* discarded */
			}
			return timeout_poll(c, LINGER_MS, w);
		}
	}
}

static void conn_drop(void *state)
{
	struct conn *c = state;

	lfr_sleep_free(c->delay);
	lfr_sleep_free(c->timer);
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
 * so that a flood of new ones starves neither the connections on this
 * thread nor the stop */
enum { ACCEPT_BATCH = 64 };

/* a listener enters a run of resource errors (err < 0: that one) or
 * leaves it (err 0) */
static void failing(struct worker *me, int err)
{
	struct delay_server *s = me->server;
	bool on = err < 0;

	if (me->failing == on)
		return;
	me->failing = on;
	if (on && atomic_fetch_add(&s->failing, 1) == 0)
		fprintf(stderr, "delayserver: accept: %s; retrying as "
			"connections close\n", lfr_strerror(err));
	else if (!on && atomic_fetch_sub(&s->failing, 1) == 1)
		fprintf(stderr, "delayserver: accepting again (%lu failed "
			"accepts)\n", atomic_exchange(&s->accept_errors, 0));
}

/*
 * A worker's accept task: accepts on its own listener and runs each
 * connection as a task of its own executor, until cancelled.  Out of fds,
 * lfr_tcp_accept_poll returns -EMFILE once per try and parks the task
 * between tries (until a connection closes, or for up to 100 ms); see
 * failing() for what is logged.  A listener's run ends when every
 * connection waiting on it has been accepted (LFR_PENDING, err 0).
 */
static enum lfr_poll accept_poll(void *state, const struct lfr_waker *w)
{
	struct worker *me = state;
	struct lfr_tcp *sock;
	int err;

	for (int n = 0;; n++) {
		struct conn *c;

		if (n == ACCEPT_BATCH) {
			lfr_waker_wake_by_ref(w); /* yield: poll me again */
			return LFR_PENDING;
		}
		if (lfr_tcp_accept_poll(me->listener, w, &sock, &err) ==
		    LFR_PENDING)
			break;
		if (err) {
			if (accept_fatal(err)) {
				fprintf(stderr, "delayserver: accept: %s; "
					"thread %d no longer accepting\n",
					lfr_strerror(err), me->index);
				return LFR_READY;
			}
			if (err == -EMFILE || err == -ENFILE ||
			    err == -ENOBUFS || err == -ENOMEM ||
			    err == -ENOSPC) {
				atomic_fetch_add(&me->server->accept_errors, 1);
				failing(me, err);
			}
			continue;
		}
		atomic_fetch_add_explicit(&me->accepted, 1,
					  memory_order_relaxed);
		c = malloc(sizeof(*c));
		if (!c) {
			lfr_tcp_close(sock);
			continue;
		}
		memset(c, 0, offsetof(struct conn, in));
		c->server = me->server;
		c->sock = sock;
		c->step = S_READ;
		c->active = now_ms();
		http_parser_init(&c->parser, HTTP_REQUEST);
		c->parser.data = c;
		if (lfr_executor_spawn(me->ex, conn_poll, conn_drop, c))
			conn_drop(c);
	}
	if (!err) /* caught up: no connection waits */
		failing(me, 0);
	return LFR_PENDING;
}

/* the accept task's end (cancelled, failed, or dropped by free) */
static void accept_drop(void *state)
{
	struct worker *me = state;

	failing(me, 0);
	lfr_tcp_close(me->listener);
	me->listener = NULL;
}

/* a worker's main future: run the tasks until lfr_executor_stop */
static enum lfr_poll forever(void *state, const struct lfr_waker *w)
{
	(void)state;
	(void)w;
	return LFR_PENDING;
}

static void *worker_thread(void *arg)
{
	struct worker *me = arg;
	char name[16];
	int err;

	snprintf(name, sizeof(name), "delay-ex%d", me->index);
	pthread_setname_np(pthread_self(), name);
	err = lfr_executor_block_on(me->ex, forever, NULL);
	if (err != -ECANCELED)
		fprintf(stderr, "delayserver: thread %d: %s\n", me->index,
			lfr_strerror(err));
	/* drops the connections still open, and the accept task if it is
	 * still there (closing the listener); the owner's job */
	lfr_executor_free(me->ex);
	return NULL;
}

/*
 * The shutdown sequence of lfreactor/executor.h, without the reactor's
 * (the caller's): stop accepting (cancel the accept tasks), stop the
 * executors, let each thread free its own, join them.  Also undoes a
 * start that failed half-way.
 */
static void server_free(struct delay_server *s)
{
	for (int t = 0; t < s->threads; t++)
		if (s->workers[t].acceptor)
			lfr_task_cancel(s->workers[t].acceptor);
	for (int t = 0; t < s->threads; t++)
		if (s->workers[t].ex)
			lfr_executor_stop(s->workers[t].ex);
	for (int t = 0; t < s->threads; t++) {
		struct worker *w = &s->workers[t];

		if (w->running)
			pthread_join(w->thread, NULL); /* it freed w->ex */
		else
			lfr_executor_free(w->ex); /* drops the accept task */
		lfr_task_detach(w->acceptor);
		lfr_tcp_close(w->listener); /* when no task took it */
	}
	free(s->workers);
	free(s);
}

int delay_server_start_config(struct lfr_reactor *r,
			      const struct delay_server_config *config,
			      struct delay_server **out)
{
	struct lfr_listen_opts opts;
	struct delay_server *s;
	int ret = 0, one = 1;

	if (!r || !config || !out || config->port < 0 ||
	    config->port > 65535 || config->threads < 0 || config->idle_ms < 0)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->reactor = r;
	s->idle_ms = config->idle_ms ? config->idle_ms : DELAY_IDLE_MS;
	s->threads = config->threads;
	s->port = config->port;
	if (!s->threads) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		s->threads = cpus > 0 ? (int)cpus : 1;
	}
	s->workers = calloc((size_t)s->threads, sizeof(*s->workers));
	if (!s->workers) {
		free(s);
		return -ENOMEM;
	}
	pthread_once(&parser_once, parser_limit);
	/* a listener per thread on one port: the kernel spreads the
	 * connections over them (by a hash of the addresses and ports).  The
	 * first picks the port when asked for 0; the others take it. */
	lfr_listen_opts_init(&opts);
	opts.flags = LFR_LISTEN_REUSEPORT;
	for (int t = 0; !ret && t < s->threads; t++) {
		struct worker *w = &s->workers[t];
		struct sockaddr_in addr = loopback(s->port);

		w->server = s;
		w->index = t;
		ret = lfr_executor_new(&w->ex);
		if (!ret)
			ret = lfr_tcp_listen_opts(r, (struct sockaddr *)&addr,
						  sizeof(addr), &opts,
						  &w->listener);
		if (!ret && t == 0) {
			ret = lfr_tcp_local_port(w->listener);
			s->port = ret > 0 ? ret : 0;
			ret = ret > 0 ? 0 : ret;
		}
		/* accepted sockets inherit it: small responses go out at once */
		if (!ret)
			setsockopt(lfr_tcp_fd(w->listener), IPPROTO_TCP,
				   TCP_NODELAY, &one, sizeof(one));
		/* the task owns the listener from here on */
		if (!ret)
			ret = lfr_executor_spawn_handle(w->ex, accept_poll,
							accept_drop, w,
							&w->acceptor);
	}
	for (int t = 0; !ret && t < s->threads; t++) {
		ret = -pthread_create(&s->workers[t].thread, NULL,
				      worker_thread, &s->workers[t]);
		s->workers[t].running = !ret;
	}
	if (ret) {
		server_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

int delay_server_start(struct lfr_reactor *r, int port,
		       struct delay_server **out)
{
	struct delay_server_config config = { .port = port, .threads = 1 };

	return delay_server_start_config(r, &config, out);
}

int delay_server_port(const struct delay_server *s)
{
	return s->port;
}

int delay_server_threads(const struct delay_server *s)
{
	return s->threads;
}

unsigned long delay_server_accepted(const struct delay_server *s, int thread)
{
	if (!s || thread < 0 || thread >= s->threads)
		return 0;
	return atomic_load(&s->workers[thread].accepted);
}

void delay_server_stop(struct delay_server *s)
{
	if (s)
		server_free(s);
}

int delay_server_main(const struct delay_server_config *config)
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
	if ((ret = delay_server_start_config(reactor, config, &server))) {
		fprintf(stderr, "delayserver: %s\n", lfr_strerror(ret));
		lfr_reactor_free(reactor);
		return 1;
	}
	printf("delayserver: listening on 127.0.0.1:%d with %d executor "
	       "threads\n", delay_server_port(server),
	       delay_server_threads(server));
	fflush(stdout);
	sigwait(&stop, &sig);
	/* A second SIGINT or SIGTERM ends the process at once, and so does
	 * SIGALRM if the clean stop below takes more than 5 s */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
	alarm(5);
	printf("delayserver: connections accepted by thread:");
	for (int t = 0; t < delay_server_threads(server); t++)
		printf(" %lu", delay_server_accepted(server, t));
	printf("\n");
	fflush(stdout);
	delay_server_stop(server);
	lfr_reactor_shutdown(reactor);
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
