/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * seed-runtime - the book's "multiple threads" workload on lfreactor
 * (examples/delay.c): each of T executor threads runs a task that spawns
 * R requests `GET /<i*1000>/HelloWorld<i>` (i = 0..R-1) against the delay
 * server, all sharing one reactor; it prints each response's body as it
 * arrives and exits 0 once all have (about R-1 seconds), non-zero with a
 * clear message if the server is unreachable.
 *
 *   seed-runtime [--threads 12] [--requests 5] [--port 8080]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delay.h"

static void print_reply(const struct delay_reply *rp, void *arg)
{
	(void)arg;
	if (rp->error)
		fprintf(stderr, "seed-runtime: request %d: %s\n", rp->i,
			rp->error == -EPROTO ? "no 200 response"
					     : lfr_strerror(rp->error));
	else
		printf("thread %2d: %s\n", rp->thread, rp->body);
}

int main(int argc, char **argv)
{
	struct delay_fetch f = { .port = 8080, .threads = 12, .requests = 5,
				 .unit_ms = 1000, .on_reply = print_reply };
	struct lfr_reactor *reactor;
	struct delay_reply *replies;
	int ret;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--threads") == 0)
			f.threads = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--requests") == 0)
			f.requests = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--port") == 0)
			f.port = atoi(argv[i + 1]);
		else
			argc = -1;
	}
	if (argc < 0 || argc % 2 == 0 || f.threads < 1 || f.requests < 1 ||
	    f.threads > 4096 || f.requests > 4096 || f.port < 1 ||
	    f.port > 65535) {
		fprintf(stderr, "usage: %s [--threads T] [--requests R] "
				"[--port P]\n", argv[0]);
		return 2;
	}
	replies = calloc((size_t)f.threads * (size_t)f.requests,
			 sizeof(*replies));
	if (!replies || (ret = lfr_reactor_new(NULL, &reactor)) != 0) {
		fprintf(stderr, "seed-runtime: %s\n",
			lfr_strerror(replies ? ret : -ENOMEM));
		return 1;
	}
	ret = delay_fetch_all(reactor, &f, replies);
	lfr_reactor_free(reactor);
	free(replies);
	if (ret < 0) {
		fprintf(stderr, "seed-runtime: %s\n", lfr_strerror(ret));
		return 1;
	}
	if (ret > 0) {
		fprintf(stderr, "seed-runtime: %d requests failed (is the delay "
				"server running on 127.0.0.1:%d?)\n", ret, f.port);
		return 1;
	}
	return 0;
}
