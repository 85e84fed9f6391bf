/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delayserver - the book's delay server as an HTTP/1.1 server on
 * lfreactor's executor, TCP and timer futures (examples/delay.c):
 * `GET /<ms>/<message>` answers <message> (text/plain; the path's, without
 * the query) after <ms> milliseconds without holding up other requests.
 * N executor threads share one reactor; each accepts on a listener of
 * its own on the port (SO_REUSEPORT) and serves what it accepts.  Connections are kept alive as
 * HTTP/1.1 says (HTTP/1.0: when asked), pipelined requests are answered in
 * order, and a connection idle for --idle-ms is closed.  A malformed head
 * gets 400 (a NUL byte included), one over 8 KiB 431, then the
 * connection is closed and the server keeps serving.  SIGINT or SIGTERM
 * stops it cleanly, whatever it is doing (a second one, at once), after
 * printing how many connections each thread accepted.  Out of
 * fds (ulimit -n) it neither spins nor floods stderr: accept backs off
 * until connections close, a request that gets no timer is answered 503,
 * and one line is logged when that starts and one when it ends.
 *
 *   delayserver [--port 8080] [--threads N] [--idle-ms 5000]
 *       --port     127.0.0.1:PORT; 0: any free port, printed on the
 *                  first line
 *       --threads  executor threads (default: one per online CPU)
 *       --idle-ms  how long a keep-alive connection may stay idle
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delay.h"

/* a whole decimal number in [min, max], or -1 */
static long number(const char *s, long min, long max)
{
	char *end;
	long v = strtol(s, &end, 10);

	return end == s || *end || v < min || v > max ? -1 : v;
}

int main(int argc, char **argv)
{
	struct delay_server_config config = { .port = 8080 };
	long v = 0;

	for (int i = 1; i < argc && v >= 0; i++) {
		if (i + 1 >= argc)
			v = -1;
		else if (strcmp(argv[i], "--port") == 0)
			config.port = (int)(v = number(argv[++i], 0, 65535));
		else if (strcmp(argv[i], "--threads") == 0)
			config.threads = (int)(v = number(argv[++i], 1, 1024));
		else if (strcmp(argv[i], "--idle-ms") == 0)
			config.idle_ms = (int)(v = number(argv[++i], 1,
							  86400000));
		else
			v = -1;
	}
	if (v < 0) {
		fprintf(stderr, "usage: %s [--port N] [--threads N] "
			"[--idle-ms MS]\n", argv[0]);
		return 2;
	}
	return delay_server_main(&config);
}
