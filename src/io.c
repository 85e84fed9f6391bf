/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.c - leaf futures, on the reactor's public API only; see
 * lfreactor/io.h. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lfreactor.h>

#include "internal.h"

/* ---- listeners that wait for an fd (see lfr_tcp_accept_poll) ------------
 *
 * A listener that ran out of fds backs off on a timer of its own, one of
 * the reactor's timer structure (lfreactor/timer.h), made when it started
 * listening: there may be no fd for the structure's timerfd later.  Each
 * listener backing off is also on this process-wide list, and every fd
 * this library closes fires the timers of the listeners on it, so that
 * they try again at once instead of when their delay runs out.  The
 * releasing side reads one counter and takes the lock only when someone
 * waits: closing costs nothing more while no listener backs off.  A
 * release that races a listener going onto the list may be missed; its
 * timer covers that. */

enum { BACKOFF_MIN_MS = 1, BACKOFF_MAX_MS = 100 };

struct listener {
	struct lfr_timer *timer;
	unsigned backoff_ms; /* the delay of the last failure; 0 after a success */
	int backoff_err;     /* the task's: accept waits for timer, for this */
	/* under waiting_lock */
	bool listed;
	struct listener *prev, *next;
};

static pthread_mutex_t waiting_lock = PTHREAD_MUTEX_INITIALIZER;
static struct listener *waiting;
static atomic_uint waiting_count;

static void list_waiting(struct listener *l)
{
	pthread_mutex_lock(&waiting_lock);
	if (!l->listed) {
		l->listed = true;
		l->prev = NULL;
		l->next = waiting;
		if (waiting)
			waiting->prev = l;
		waiting = l;
		atomic_fetch_add(&waiting_count, 1);
	}
	pthread_mutex_unlock(&waiting_lock);
}

/* under waiting_lock */
static void unlist_locked(struct listener *l)
{
	if (!l->listed)
		return;
	if (l->prev)
		l->prev->next = l->next;
	else
		waiting = l->next;
	if (l->next)
		l->next->prev = l->prev;
	l->listed = false;
	atomic_fetch_sub(&waiting_count, 1);
}

static void unlist_waiting(struct listener *l)
{
	pthread_mutex_lock(&waiting_lock);
	unlist_locked(l);
	pthread_mutex_unlock(&waiting_lock);
}

/* an fd was closed: every listener waiting for one tries again now */
static void fd_released(void)
{
	struct listener *l;

	/* the close before the load of the count (a listener adds itself,
	 * then tries accept again).  ThreadSanitizer does not model fences,
	 * so its builds use a read-modify-write, which it does; elsewhere the
	 * fence keeps closes from writing one shared line. */
#ifdef __SANITIZE_THREAD__
	if (atomic_fetch_add_explicit(&waiting_count, 0, memory_order_seq_cst) == 0)
		return;
#else
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&waiting_count, memory_order_relaxed) == 0)
		return;
#endif
	pthread_mutex_lock(&waiting_lock);
	while ((l = waiting)) {
		unlist_locked(l);
		/* A listener unlists itself before it frees its timer, so the
		 * timer lives while this lock is held.  Due in 1 ns, not now:
		 * the poller fires it and runs the task's waker there, outside
		 * this lock (a waker that closes a socket comes back here).
		 * Only if the timerfd cannot be set is it fired here. */
		if (lfr_timer_arm(l->timer, 1, 0))
			lfr_timer_arm(l->timer, 0, 0);
	}
	pthread_mutex_unlock(&waiting_lock);
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

/* ---- any-fd readiness ------------------------------------------------------ */

#define INTEREST_BITS ((unsigned)(LFR_READABLE | LFR_WRITABLE))

struct lfr_fd_watch {
	struct lfr_reactor *reactor;
	int fd;
	lfr_id id;         /* 0: not registered (a set_interest failed) */
	unsigned interest;
	int lost;          /* why id is 0 */
};

static bool interest_ok(unsigned interest)
{
	return interest && !(interest & ~INTEREST_BITS);
}

int lfr_fd_watch_new(struct lfr_reactor *reactor, int fd, unsigned interest,
		     struct lfr_fd_watch **out)
{
	struct lfr_fd_watch *w;
	int ret;

	if (!reactor || !out || !interest_ok(interest))
		return -EINVAL;
	w = lfr__alloc(0, sizeof(*w));
	if (!w)
		return -ENOMEM;
	*w = (struct lfr_fd_watch){ .reactor = reactor, .fd = fd,
				    .interest = interest };
	w->id = lfr_reactor_next_id(reactor);
	ret = lfr_reactor_register(reactor, fd, interest, w->id);
	if (ret) {
		free(w);
		return ret;
	}
	*out = w;
	return 0;
}

struct watch_try {
	struct lfr_fd_watch *w;
	int *result;
};

/* level-triggered: the fd's state now, whatever the events were */
static int try_watch(void *ctx)
{
	struct watch_try *t = ctx;
	unsigned interest = t->w->interest, bits = 0;
	struct pollfd p = { .fd = t->w->fd };
	int n;

	if (interest & LFR_READABLE)
		p.events |= POLLIN | POLLRDHUP;
	if (interest & LFR_WRITABLE)
		p.events |= POLLOUT;
	do
		n = poll(&p, 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		*t->result = -errno;
		return 1;
	}
	if (p.revents & POLLNVAL) {
		*t->result = -EBADF;
		return 1;
	}
	if (p.revents & POLLIN)
		bits |= LFR_READABLE;
	if (p.revents & POLLOUT)
		bits |= LFR_WRITABLE;
	if (p.revents & POLLERR)
		bits |= LFR_FD_ERROR;
	if (p.revents & (POLLHUP | POLLRDHUP))
		bits |= LFR_FD_HANGUP;
	*t->result = (int)bits;
	return bits != 0;
}

enum lfr_poll lfr_fd_watch_poll(struct lfr_fd_watch *w,
				const struct lfr_waker *waker, int *result)
{
	struct watch_try t = { w, result };
	enum lfr_poll p;
	int err = 0;

	if (!result) /* nowhere to put it: do nothing (see io.h) */
		return LFR_READY;
	*result = 0;
	if (!w) {
		*result = -EINVAL;
		return LFR_READY;
	}
	if (!w->id) {
		*result = w->lost;
		return LFR_READY;
	}
	p = poll_io(w->reactor, w->id, waker, try_watch, &t, &err);
	if (err)
		*result = err;
	return p;
}

int lfr_fd_watch_set_interest(struct lfr_fd_watch *w, unsigned interest)
{
	unsigned old;
	lfr_id id;
	int ret, back;

	if (!w || !interest_ok(interest))
		return -EINVAL;
	if (w->id && interest == w->interest)
		return 0;
	old = w->interest;
	if (w->id) {
		ret = lfr_reactor_deregister(w->reactor, w->fd, w->id);
		if (ret && ret != -EBADF)
			return ret; /* still registered as it was */
		w->id = 0;
		w->lost = ret ? ret : -EBADF;
		if (ret) /* fd was closed: nothing to register again */
			return ret;
	}
	/* a new id: an event in flight for the old one reaches nobody */
	id = lfr_reactor_next_id(w->reactor);
	ret = lfr_reactor_register(w->reactor, w->fd, interest, id);
	if (ret == 0) {
		w->id = id;
		w->interest = interest;
		return 0;
	}
	id = lfr_reactor_next_id(w->reactor);
	back = lfr_reactor_register(w->reactor, w->fd, old, id);
	if (back == 0)
		w->id = id;
	else
		w->lost = ret;
	return ret;
}

void lfr_fd_watch_free(struct lfr_fd_watch *w)
{
	if (!w)
		return;
	if (w->id)
		lfr_reactor_deregister(w->reactor, w->fd, w->id);
	free(w);
}

/* ---- TCP ---------------------------------------------------------------- */

struct lfr_tcp {
	struct lfr_reactor *reactor;
	int fd;
	lfr_id id;
	struct listener *listen; /* listeners only */
};

/* on failure fd is left as it was: the caller closes it or keeps it */
static int tcp_wrap_keep(struct lfr_reactor *r, int fd, struct lfr_tcp **out)
{
	struct lfr_tcp *s = lfr__alloc(0, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	s->reactor = r;
	s->fd = fd;
	s->listen = NULL;
	s->id = lfr_reactor_next_id(r);
	ret = lfr_reactor_register(r, fd, LFR_READABLE | LFR_WRITABLE, s->id);
	if (ret) {
		free(s);
		return ret;
	}
	*out = s;
	return 0;
}

/* takes fd: on failure it is closed */
static int tcp_wrap(struct lfr_reactor *r, int fd, struct lfr_tcp **out)
{
	int ret = tcp_wrap_keep(r, fd, out);

	if (ret)
		close(fd);
	return ret;
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

	if (!err) /* nowhere to put the result: do nothing (see io.h) */
		return LFR_READY;
	*err = 0;
	if (!s) {
		*err = -EINVAL;
		return LFR_READY;
	}
	return poll_io(s->reactor, s->id, waker, try_connect, &c, err);
}

/* the listener and its back-off timer */
static int listener_new(struct lfr_reactor *r, struct listener **out)
{
	struct listener *l = lfr__alloc(0, sizeof(*l));
	int ret;

	if (!l)
		return -ENOMEM;
	*l = (struct listener){ .timer = NULL };
	ret = lfr_timer_new(r, &l->timer);
	if (ret) {
		free(l);
		return ret;
	}
	*out = l;
	return 0;
}

static void listener_free(struct listener *l)
{
	if (!l)
		return;
	unlist_waiting(l); /* before the timer goes: see fd_released */
	lfr_timer_free(l->timer);
	free(l);
}

/* the fields of the first struct lfr_listen_opts */
#define LISTEN_OPTS_V1_SIZE                                                  \
	(offsetof(struct lfr_listen_opts, flags) + sizeof(unsigned))
#define LISTEN_FLAGS (LFR_LISTEN_REUSEPORT | LFR_LISTEN_NO_REUSEADDR)

/* the caller's options, checked, into *o */
static int listen_opts(const struct lfr_listen_opts *in,
		       struct lfr_listen_opts *o)
{
	lfr_listen_opts_init(o);
	if (!in)
		return 0;
	if (in->size < LISTEN_OPTS_V1_SIZE || in->size > LFR_STRUCT_SIZE_MAX)
		return -EINVAL;
	if (in->size > sizeof(*o)) { /* a newer caller: what we do not know
				       * must be unused */
		const unsigned char *tail = (const unsigned char *)in + sizeof(*o);
		size_t i;

		for (i = 0; i < in->size - sizeof(*o); i++)
			if (tail[i])
				return -E2BIG;
	}
	if (in->backlog < 0 || (in->flags & ~(unsigned)LISTEN_FLAGS))
		return -EINVAL;
	if (in->backlog)
		o->backlog = in->backlog;
	o->flags = in->flags;
	return 0;
}

/* a listening socket on fd: its back-off timer, then the registration;
 * on failure fd is left as it was */
static int listener_wrap(struct lfr_reactor *r, int fd, struct lfr_tcp **out)
{
	struct listener *l = NULL;
	int ret = listener_new(r, &l);

	if (ret)
		return ret;
	ret = tcp_wrap_keep(r, fd, out);
	if (ret) {
		listener_free(l);
		return ret;
	}
	(*out)->listen = l;
	return 0;
}

/* a socket for addr with flags' options, bound, listening with backlog
 * (as listen(2) takes it), registered */
static int listen_on(struct lfr_reactor *reactor, const struct sockaddr *addr,
		     socklen_t len, int backlog, unsigned flags,
		     struct lfr_tcp **out)
{
	int fd, one = 1, ret;

	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if ((!(flags & LFR_LISTEN_NO_REUSEADDR) &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) ||
	    ((flags & LFR_LISTEN_REUSEPORT) &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    bind(fd, addr, len) < 0 || listen(fd, backlog) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	ret = listener_wrap(reactor, fd, out);
	if (ret)
		close(fd);
	return ret;
}

int lfr_tcp_listen_opts(struct lfr_reactor *reactor,
			const struct sockaddr *addr, socklen_t len,
			const struct lfr_listen_opts *opts,
			struct lfr_tcp **out)
{
	struct lfr_listen_opts o;
	int ret;

	if (!reactor || !addr || !out)
		return -EINVAL;
	ret = listen_opts(opts, &o);
	if (ret)
		return ret;
	return listen_on(reactor, addr, len, o.backlog, o.flags, out);
}

int lfr_tcp_listen(struct lfr_reactor *reactor, const struct sockaddr *addr,
		   socklen_t len, int backlog, struct lfr_tcp **out)
{
	if (!reactor || !addr || !out)
		return -EINVAL;
	return listen_on(reactor, addr, len, backlog, 0, out);
}

int lfr_tcp_from_fd(struct lfr_reactor *reactor, int fd, struct lfr_tcp **out)
{
	int type, accepting, flags, ret;
	socklen_t len = sizeof(type);

	if (!reactor || !out)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -errno;
	if (type != SOCK_STREAM)
		return -EINVAL;
	len = sizeof(accepting);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) < 0)
		return -errno;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return -errno;
	if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	ret = accepting ? listener_wrap(reactor, fd, out)
			: tcp_wrap_keep(reactor, fd, out);
	if (ret && !(flags & O_NONBLOCK))
		fcntl(fd, F_SETFL, flags); /* the caller's again, as it was */
	return ret;
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

/* accept failed for want of fds or memory: nothing to gain from trying
 * again before one is released */
static bool out_of_resources(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOBUFS ||
	       err == -ENOMEM || err == -ENOSPC;
}

static void start_backoff(struct listener *l, const struct lfr_waker *waker,
			  int err)
{
	unsigned ms = l->backoff_ms ? 2 * l->backoff_ms : BACKOFF_MIN_MS;
	int ignored;

	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	/* fails only if the timerfd was closed behind the reactor's back;
	 * then no back-off: a timer that never fires would stop the
	 * listener for good */
	if (lfr_timer_arm(l->timer, (uint64_t)ms * 1000000u, 0))
		return;
	l->backoff_ms = ms;
	l->backoff_err = err;
	/* the task is woken when it is time to try again even if it returns
	 * LFR_PENDING now without polling again; if the timer cannot keep
	 * the waker, the next poll reports it */
	lfr_timer_poll(l->timer, waker, &ignored);
	list_waiting(l);
}

enum lfr_poll lfr_tcp_accept_poll(struct lfr_tcp *listener,
				  const struct lfr_waker *waker,
				  struct lfr_tcp **out, int *err)
{
	struct accept_try a = { listener, out, err };
	struct listener *l;
	enum lfr_poll p;

	if (out)
		*out = NULL;
	if (err)
		*err = (!out || !listener) ? -EINVAL : 0;
	if (!out || !err || !listener) /* see io.h: nothing is accepted */
		return LFR_READY;
	l = listener->listen;
	if (l && l->backoff_err) {
		p = lfr_timer_poll(l->timer, waker, err);
		if (p == LFR_PENDING) {
			*err = l->backoff_err; /* still waiting for an fd */
			return p;
		}
		if (*err)
			return p;
		l->backoff_err = 0;
		unlist_waiting(l);
	}
	p = poll_io(listener->reactor, listener->id, waker, try_accept, &a, err);
	if (l && p == LFR_READY) {
		if (out_of_resources(*err))
			start_backoff(l, waker, *err);
		else if (!*err)
			l->backoff_ms = 0;
	}
	return p;
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

	if (!result) /* nowhere to put the count: move no data (see io.h) */
		return LFR_READY;
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

int lfr_tcp_local_addr(struct lfr_tcp *s, struct sockaddr *addr,
		       socklen_t *len)
{
	if (!s || !addr || !len)
		return -EINVAL;
	return getsockname(s->fd, addr, len) < 0 ? -errno : 0;
}

int lfr_tcp_fd(struct lfr_tcp *s)
{
	return s ? s->fd : -EINVAL;
}

void lfr_tcp_close(struct lfr_tcp *s)
{
	if (!s)
		return;
	listener_free(s->listen);
	lfr_reactor_deregister(s->reactor, s->fd, s->id);
	close(s->fd);
	free(s);
	fd_released();
}
