/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.c - leaf futures, on the reactor's public API only; see
 * lfreactor/io.h. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <lfreactor.h>

#include "test_hooks.h"

struct lfr_sleep {
	struct lfr_reactor *reactor;
	int fd;
	lfr_id id;
	bool done;
};

int lfr_sleep_new(struct lfr_reactor *reactor, uint64_t ms,
		  struct lfr_sleep **out)
{
	struct itimerspec when = { { 0, 0 }, { 0, 0 } };
	struct lfr_sleep *s;
	int ret;

	if (!reactor || !out)
		return -EINVAL;
	s = lfr__alloc(0, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->reactor = reactor;
	s->done = false;
	s->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->fd < 0) {
		ret = -errno;
		free(s);
		return ret;
	}
	/* 0 would disarm the timer: a zero sleep fires after 1 ns */
	when.it_value.tv_sec = (time_t)(ms / 1000);
	when.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
	if (ms == 0)
		when.it_value.tv_nsec = 1;
	s->id = lfr_reactor_next_id(reactor);
	ret = lfr_reactor_register(reactor, s->fd, LFR_READABLE, s->id);
	if (ret == 0 && timerfd_settime(s->fd, 0, &when, NULL) < 0) {
		ret = -errno;
		lfr_reactor_deregister(reactor, s->fd, s->id);
	}
	if (ret) {
		close(s->fd);
		free(s);
		return ret;
	}
	*out = s;
	return 0;
}

/* The edge-triggered pattern every leaf future follows: try; if it would
 * block, store the waker, then try once more (readiness may have come in
 * between).  try returns 1 when done, 0 when it would block. */
static enum lfr_poll poll_io(struct lfr_reactor *r, lfr_id id,
			     const struct lfr_waker *waker,
			     int (*try)(void *ctx), void *ctx, int *err)
{
	int ret;

	if (try(ctx))
		return LFR_READY;
	ret = lfr_reactor_set_waker(r, waker, id);
	if (ret) {
		*err = ret;
		return LFR_READY;
	}
	return try(ctx) ? LFR_READY : LFR_PENDING;
}

static int expired(void *ctx)
{
	struct lfr_sleep *s = ctx;
	uint64_t n;

	if (!s->done && read(s->fd, &n, sizeof(n)) == sizeof(n))
		s->done = true;
	return s->done;
}

enum lfr_poll lfr_sleep_poll(struct lfr_sleep *s, const struct lfr_waker *waker,
			     int *err)
{
	int ignored;

	if (!err)
		err = &ignored;
	*err = 0;
	if (!s) {
		*err = -EINVAL;
		return LFR_READY;
	}
	return poll_io(s->reactor, s->id, waker, expired, s, err);
}

void lfr_sleep_free(struct lfr_sleep *s)
{
	if (!s)
		return;
	lfr_reactor_deregister(s->reactor, s->fd, s->id);
	close(s->fd);
	free(s);
}

/* ---- TCP ---------------------------------------------------------------- */

struct lfr_tcp {
	struct lfr_reactor *reactor;
	int fd;
	lfr_id id;
};

/* takes fd: on failure it is closed */
static int tcp_wrap(struct lfr_reactor *r, int fd, struct lfr_tcp **out)
{
	struct lfr_tcp *s = lfr__alloc(0, sizeof(*s));
	int ret;

	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	s->reactor = r;
	s->fd = fd;
	s->id = lfr_reactor_next_id(r);
	ret = lfr_reactor_register(r, fd, LFR_READABLE | LFR_WRITABLE, s->id);
	if (ret) {
		close(fd);
		free(s);
		return ret;
	}
	*out = s;
	return 0;
}

int lfr_tcp_connect(struct lfr_reactor *reactor, const struct sockaddr *addr,
		    socklen_t len, struct lfr_tcp **out)
{
	int fd, ret;

	if (!reactor || !addr || !out)
		return -EINVAL;
	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, addr, len) < 0 && errno != EINPROGRESS) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return tcp_wrap(reactor, fd, out);
}

struct connect_try {
	struct lfr_tcp *s;
	int *err;
};

static int try_connect(void *ctx)
{
	struct connect_try *c = ctx;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	int soerr = 0;
	socklen_t elen = sizeof(soerr);

	if (getsockopt(c->s->fd, SOL_SOCKET, SO_ERROR, &soerr, &elen) < 0) {
		*c->err = -errno;
		return 1;
	}
	if (soerr) {
		*c->err = -soerr;
		return 1;
	}
	/* connected once it has a peer; still in progress otherwise */
	if (getpeername(c->s->fd, (struct sockaddr *)&peer, &plen) == 0)
		return 1;
	return errno == ENOTCONN ? 0 : (*c->err = -errno, 1);
}

enum lfr_poll lfr_tcp_connect_poll(struct lfr_tcp *s,
				   const struct lfr_waker *waker, int *err)
{
	struct connect_try c = { s, err };

	*err = 0;
	if (!s) {
		*err = -EINVAL;
		return LFR_READY;
	}
	return poll_io(s->reactor, s->id, waker, try_connect, &c, err);
}

int lfr_tcp_listen(struct lfr_reactor *reactor, const struct sockaddr *addr,
		   socklen_t len, int backlog, struct lfr_tcp **out)
{
	int fd, one = 1, ret;

	if (!reactor || !addr || !out)
		return -EINVAL;
	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, addr, len) < 0 || listen(fd, backlog) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return tcp_wrap(reactor, fd, out);
}

struct accept_try {
	struct lfr_tcp *s;
	struct lfr_tcp **out;
	int *err;
};

static int try_accept(void *ctx)
{
	struct accept_try *a = ctx;
	int fd = accept4(a->s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		*a->err = -errno;
		return 1;
	}
	*a->err = tcp_wrap(a->s->reactor, fd, a->out);
	return 1;
}

enum lfr_poll lfr_tcp_accept_poll(struct lfr_tcp *listener,
				  const struct lfr_waker *waker,
				  struct lfr_tcp **out, int *err)
{
	struct accept_try a = { listener, out, err };

	*err = 0;
	if (!listener || !out) {
		*err = -EINVAL;
		return LFR_READY;
	}
	return poll_io(listener->reactor, listener->id, waker, try_accept, &a,
		       err);
}

struct rw_try {
	struct lfr_tcp *s;
	void *buf;
	size_t len;
	ssize_t *result;
	bool write;
};

static int try_rw(void *ctx)
{
	struct rw_try *t = ctx;
	ssize_t n = t->write ? send(t->s->fd, t->buf, t->len, MSG_NOSIGNAL)
			     : recv(t->s->fd, t->buf, t->len, 0);

	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		*t->result = -errno;
		return 1;
	}
	*t->result = n;
	return 1;
}

static enum lfr_poll rw_poll(struct lfr_tcp *s, void *buf, size_t len,
			     bool write, const struct lfr_waker *waker,
			     ssize_t *result)
{
	struct rw_try t = { s, buf, len, result, write };
	int err = 0;
	enum lfr_poll p;

	if (!s || (!buf && len)) {
		*result = -EINVAL;
		return LFR_READY;
	}
	p = poll_io(s->reactor, s->id, waker, try_rw, &t, &err);
	if (err)
		*result = err;
	return p;
}

enum lfr_poll lfr_tcp_read_poll(struct lfr_tcp *s, void *buf, size_t len,
				const struct lfr_waker *waker, ssize_t *result)
{
	return rw_poll(s, buf, len, false, waker, result);
}

enum lfr_poll lfr_tcp_write_poll(struct lfr_tcp *s, const void *buf,
				 size_t len, const struct lfr_waker *waker,
				 ssize_t *result)
{
	return rw_poll(s, (void *)buf, len, true, waker, result);
}

int lfr_tcp_local_port(struct lfr_tcp *s)
{
	struct sockaddr_storage a;
	socklen_t len = sizeof(a);

	if (!s)
		return -EINVAL;
	if (getsockname(s->fd, (struct sockaddr *)&a, &len) < 0)
		return -errno;
	if (a.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&a)->sin_port);
	if (a.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
	return -EAFNOSUPPORT;
}

int lfr_tcp_fd(struct lfr_tcp *s)
{
	return s ? s->fd : -EINVAL;
}

void lfr_tcp_close(struct lfr_tcp *s)
{
	if (!s)
		return;
	lfr_reactor_deregister(s->reactor, s->fd, s->id);
	close(s->fd);
	free(s);
}
