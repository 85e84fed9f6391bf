/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delay.h - the delay server and the "multiple threads" client of the Rust
 * book chapter whose mio-based runtime lfreactor rebuilds in C (the
 * "seed" of its design), as functions on lfreactor's executor, TCP and
 * timer futures.  The programs delayserver and seed-runtime are thin mains
 * around them, and the library's test suite runs both in one process.
 */
#ifndef LFR_EXAMPLES_DELAY_H
#define LFR_EXAMPLES_DELAY_H

#include <lfreactor.h>

/* ---- the server: GET /<ms>/<message> answers <message> after <ms> ms ---- */

struct delay_server;

struct delay_server_config {
	int port;     /* 127.0.0.1:port; 0: any free port */
	int threads;  /* executor threads; 0: one per online CPU */
	int idle_ms;  /* a keep-alive connection idle this long is closed;
			 0: DELAY_IDLE_MS */
};

enum {
	DELAY_IDLE_MS = 5000, /* the default idle timeout */
	DELAY_HEAD_MAX = 8192, /* request line and headers, bytes: 431 above */
	DELAY_URL_MAX = 1024   /* the request target, bytes: 414 above */
};

/*
 * delay_server_start_config - listen on 127.0.0.1:config->port and serve
 * HTTP/1.1 on config->threads executor threads of its own, on reactor r.
 * Every thread accepts: each has a listener of its own on the port
 * (SO_REUSEPORT; the kernel spreads connections over them by a hash of
 * the client's address and port) and runs what it accepts; each
 * connection is one task on one thread.  Each
 * request waits on a timer of its own (none for 0 ms): none holds up
 * another.  A connection is kept alive as HTTP/1.1 says (HTTP/1.0: when
 * the client asks for it), its pipelined requests are answered in order,
 * and it is closed once idle for config->idle_ms.  The message is the
 * path's, without the query.  A malformed request gets 400 (405: not GET
 * or HEAD, 414: a URL over DELAY_URL_MAX bytes, 431: a head over
 * DELAY_HEAD_MAX bytes) and its connection is closed.
 * Returns 0 once it is listening, or a negative errno (-EINVAL: r, config
 * or out NULL, a port outside 0-65535, threads or idle_ms negative).
 */
int delay_server_start_config(struct lfr_reactor *r,
			      const struct delay_server_config *config,
			      struct delay_server **out);
/* delay_server_start_config with port, one thread, the default timeout */
int delay_server_start(struct lfr_reactor *r, int port,
		       struct delay_server **out);
/* the port it listens on */
int delay_server_port(const struct delay_server *s);
/* its executor threads */
int delay_server_threads(const struct delay_server *s);
/* connections the listener of executor thread `thread` accepted so far
 * (0 for a thread it does not have) */
unsigned long delay_server_accepted(const struct delay_server *s, int thread);
/* stops it: connections still open are closed without an answer.  The
 * shutdown sequence of lfreactor/executor.h: accept tasks cancelled,
 * executors stopped and freed by their threads, threads joined (the
 * reactor is the caller's) */
void delay_server_stop(struct delay_server *s);

/*
 * Out of fds, the server goes on: each accept task backs off (see
 * lfr_tcp_accept_poll); the first error of a run is logged to stderr, and
 * its end once every listener accepts again, not every try nor every
 * listener; a request that cannot get a timer is answered
 * 503, and an idle connection that cannot get one is closed.  Connections
 * wait in the backlog meanwhile.
 */

/*
 * delay_server_main - the delayserver program: a reactor and the server
 * as config says, "delayserver: listening on 127.0.0.1:PORT with N
 * executor threads" on stdout, then serve until SIGINT or SIGTERM, print
 * "delayserver: connections accepted by thread: N0 N1 ..." on stdout,
 * stop cleanly and return 0 (1: could not start, the reason on stderr).  Call
 * it before starting any thread: it blocks both signals in the calling
 * thread, and the threads it starts inherit that, so the signal always
 * reaches it.  After the first signal a second one, or a clean stop
 * taking over 5 s (SIGALRM), ends the process at once.
 */
int delay_server_main(const struct delay_server_config *config);

/* ---- the client: T executor threads, each spawning R requests ---------- */

struct delay_reply {
	int thread, i;       /* executor thread; request i asks for i * unit */
	int error;           /* 0, or a negative errno; -EPROTO: not a 200 */
	char body[128];      /* the response body, NUL-terminated */
	double elapsed_ms;   /* from the spawn to the last byte */
};

struct delay_fetch {
	int port;
	int threads;         /* executor threads (the book's: 12) */
	int requests;        /* per thread; request i is GET /<i*unit>/HelloWorld<i> */
	int unit_ms;         /* the book's: 1000 */
	/* called on the executor thread as each reply arrives; may be NULL */
	void (*on_reply)(const struct delay_reply *reply, void *arg);
	void *arg;
};

/*
 * delay_fetch_all - run the workload against the server on f->port, all
 * threads sharing reactor r.  Fills replies[thread * requests + i] (an
 * array of threads * requests) and returns how many failed, or a negative
 * errno if it could not start.
 */
int delay_fetch_all(struct lfr_reactor *r, const struct delay_fetch *f,
		    struct delay_reply *replies);

#endif
