/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * echo-load - a small bounded load client for echo servers (bench/echo):
 * C connections to 127.0.0.1:PORT, each sending one message of S bytes,
 * waiting for all S to come back, then sending the next, for T seconds,
 * on one epoll thread.  Prints one line:
 *   msgs_per_s=N p50_us=N p99_us=N msgs=N errors=N
 * (latency: from the message's first write to its last byte read back).
 * Exits 1 when a connection fails or no message came back.
 *
 *   echo-load --port N [--conns 16] [--size 64] [--seconds 1]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
	int fd;
	size_t sent, got;
	double start;
};

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	long port = 0, conns = 16, size = 64;
	double seconds = 1, end;
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct epoll_event evs[256];
	struct conn *cs;
	char *msg, *buf;
	float *lat = NULL;
	size_t nlat = 0, cap = 0;
	long errors = 0;
	int ep;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			port = strtol(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--conns") == 0)
			conns = strtol(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--size") == 0)
			size = strtol(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--seconds") == 0)
			seconds = strtod(argv[i + 1], NULL);
		else
			port = 0;
	}
	if (argc % 2 == 0 || port < 1 || port > 65535 || conns < 1 ||
	    conns > 100000 || size < 1 || size > 1 << 20 || seconds <= 0) {
		fprintf(stderr, "usage: %s --port N [--conns 16] [--size 64] "
			"[--seconds 1]\n", argv[0]);
		return 2;
	}
	cs = calloc((size_t)conns, sizeof(*cs));
	msg = malloc((size_t)size);
	buf = malloc((size_t)size);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!cs || !msg || !buf || ep < 0)
		return 1;
	memset(msg, 'x', (size_t)size);
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (long i = 0; i < conns; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cs[i] };
		int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0 || connect(fd, (struct sockaddr *)&addr,
				      sizeof(addr)) < 0) {
			perror("echo-load: connect");
			return 1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		cs[i].fd = fd;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
	/* messages up to the socket buffer go out in one blocking send */
	end = now_us() + seconds * 1e6;
	for (long i = 0; i < conns; i++) {
		cs[i].start = now_us();
		if (send(cs[i].fd, msg, (size_t)size, MSG_NOSIGNAL) != size)
			errors++;
	}
	while (now_us() < end) {
		int n = epoll_wait(ep, evs, 256, 100);

		for (int k = 0; k < n; k++) {
			struct conn *c = evs[k].data.ptr;
			ssize_t r = recv(c->fd, buf, (size_t)(size - (long)c->got),
					 MSG_DONTWAIT);

			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				errors++;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				continue;
			}
			c->got += (size_t)r;
			if (c->got < (size_t)size)
				continue;
			if (nlat == cap) {
				cap = cap ? cap * 2 : 1 << 16;
				lat = realloc(lat, cap * sizeof(*lat));
				if (!lat)
					return 1;
			}
			lat[nlat++] = (float)(now_us() - c->start);
			c->got = 0;
			c->start = now_us();
			if (send(c->fd, msg, (size_t)size, MSG_NOSIGNAL) != size)
				errors++;
		}
	}
	if (!nlat) {
		fprintf(stderr, "echo-load: no message came back\n");
		return 1;
	}
	qsort(lat, nlat, sizeof(*lat), cmp);
	printf("msgs_per_s=%.0f p50_us=%.1f p99_us=%.1f msgs=%zu errors=%ld\n",
	       nlat / seconds, lat[nlat / 2], lat[nlat * 99 / 100], nlat, errors);
	for (long i = 0; i < conns; i++)
		close(cs[i].fd);
	return errors ? 1 : 0;
}
