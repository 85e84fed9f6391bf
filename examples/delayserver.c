/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delayserver - the book's delay server on lfreactor's executor, TCP and
 * timer futures (examples/delay.c): `GET /<ms>/<message>` answers
 * <message> (text/plain) after <ms> milliseconds without holding up other
 * requests, then closes.  A malformed request gets 400 and the server
 * keeps serving.  SIGINT or SIGTERM stops it cleanly.
 *
 *   delayserver [--port 8080]        (listens on 127.0.0.1; 0: any free
 *                                     port, printed on the first line)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delay.h"

int main(int argc, char **argv)
{
	struct lfr_reactor *reactor;
	struct delay_server *server;
	long port = 8080;
	sigset_t stop;
	int ret, sig;

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
	/* every thread started from here on inherits the mask */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	if ((ret = lfr_reactor_new(NULL, &reactor)) ||
	    (ret = delay_server_start(reactor, (int)port, &server))) {
		fprintf(stderr, "delayserver: %s\n", lfr_strerror(ret));
		return 1;
	}
	printf("delayserver: listening on 127.0.0.1:%d\n",
	       delay_server_port(server));
	fflush(stdout);
	sigwait(&stop, &sig);
	delay_server_stop(server);
	lfr_reactor_free(reactor);
	return 0;
}
