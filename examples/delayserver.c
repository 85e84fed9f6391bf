/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delayserver - the book's delay server on lfreactor's executor, TCP and
 * timer futures (examples/delay.c): `GET /<ms>/<message>` answers
 * <message> (text/plain) after <ms> milliseconds without holding up other
 * requests, then closes.  A malformed request gets 400 and the server
 * keeps serving.  SIGINT or SIGTERM stops it cleanly, whatever it is
 * doing (a second one, at once).  Out of fds (ulimit -n) it neither spins
 * nor floods stderr: accept backs off until connections close, a request
 * that gets no timer is answered 503, and one line is logged when that
 * starts and one when it ends.
 *
 *   delayserver [--port 8080]        (listens on 127.0.0.1; 0: any free
 *                                     port, printed on the first line)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delay.h"

int main(int argc, char **argv)
{
	long port = 8080;

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
	return delay_server_main((int)port);
}
