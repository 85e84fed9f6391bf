/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lfreactor/io.h - leaf futures on the reactor's public API.
 *
 * A leaf future is polled from a task's poll function with the task's
 * waker: it returns LFR_READY when done, or LFR_PENDING after handing the
 * waker to the reactor (lfr_reactor_set_waker), which wakes the task when
 * the underlying fd becomes ready.  A socket owns one fd registered with
 * the reactor (a listener also a timer: see lfr_tcp_listen); an fd watch registers
 * the caller's fd; a sleep is a timer of the reactor's timer structure
 * (lfreactor/timer.h) and owns none.  Many of them never mean more
 * threads.
 *
 * Out-pointers.  The err, result and out arguments of the *_poll
 * functions are required.  A poll function given a NULL one does nothing
 * -- no I/O, no waker stored, nothing read, written, accepted or consumed
 * -- and returns LFR_READY at once, so that a task never waits for a wake
 * that cannot come and never loses data it was not told about; the
 * out-pointers it was given get -EINVAL (err, result) or NULL (out).  A
 * NULL future (s, listener) gives LFR_READY with -EINVAL the same way.
 * Never a crash.
 */
#ifndef LFREACTOR_IO_H
#define LFREACTOR_IO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <lfreactor/common.h>
#include <lfreactor/executor.h>
#include <lfreactor/reactor.h>
#include <lfreactor/timer.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Sleeps.  A struct lfr_sleep is a timer (lfreactor/timer.h) armed once:
 * it costs no fd and no registration of its own, only a slot in the
 * reactor's timer structure.
 */
struct lfr_sleep;

/*
 * lfr_sleep_new - a future that is ready ms milliseconds from now, on
 * CLOCK_MONOTONIC (lfr_timer_new, then lfr_timer_arm with ms * 1000000
 * ns).  A sleep of 0 is ready at once, with no system call.
 * Returns 0 and stores it in *out, or -EINVAL (reactor or out NULL),
 * -ENOMEM, -ESHUTDOWN, or -EMFILE/-ENFILE and what lfr_reactor_register
 * returns when this is the reactor's first timer (see lfr_timer_new);
 * nothing is left behind on failure.
 * Threads: any.  Blocks: the timer structure's mutex.
 */
LFR_EXTERN int lfr_sleep_new(struct lfr_reactor *reactor, uint64_t ms,
			     struct lfr_sleep **out);

/*
 * lfr_sleep_poll - LFR_READY with *err 0 once the time has come (and ever
 * after); otherwise keeps waker to wake then and returns LFR_PENDING.
 * If the time has not come and the reactor was shut down, or waker is
 * NULL or its clone fails, *err gets -ESHUTDOWN, -EINVAL or -ENOMEM and
 * LFR_READY is returned, so the task does not wait for a wake that cannot
 * come: a READY with *err < 0 means the time has not come.  -EINVAL and
 * LFR_READY for a NULL s.
 * err is required: with err NULL nothing is polled and LFR_READY comes
 * back at once, every time (a caller that cannot tell "time's up" from
 * "cannot wait" would mistake a shut-down reactor for a timer that fired;
 * this way the mistake shows on the first poll).
 * Threads: one task at a time (the future is not shared).  Blocks: the
 * timer structure's mutex until the sleep is over (see lfr_timer_poll).
 */
LFR_EXTERN enum lfr_poll lfr_sleep_poll(struct lfr_sleep *s,
					const struct lfr_waker *waker, int *err);

/*
 * lfr_sleep_free - cancel and free the sleep, dropping the waker it holds;
 * NULL is a no-op.  It closes no fd.
 * Threads: the task's.  Blocks: the timer structure's mutex.
 */
LFR_EXTERN void lfr_sleep_free(struct lfr_sleep *s);

/*
 * Any-fd readiness.  A struct lfr_fd_watch registers an fd the caller owns
 * (a UDP socket, an eventfd, a signalfd, a pipe, a tty, ...) with the
 * reactor and waits until it is readable or writable.
 *
 * Level-triggered for the caller: each poll asks the fd for its state
 * (poll(2) with a zero timeout, one system call), so LFR_READY comes back
 * as long as the fd is ready -- a task need not read or write until
 * EAGAIN before it polls again.  Underneath, the wake-ups are the
 * reactor's edge-triggered events: a task that got LFR_PENDING is woken
 * when the fd becomes ready for its interest (or errs or hangs up).
 * The result of a poll is the readiness found, never 0: LFR_READABLE and
 * LFR_WRITABLE (only the bits in the interest), and LFR_FD_ERROR and
 * LFR_FD_HANGUP whatever the interest (as epoll reports them).
 */
enum {
	/* POLLERR: an error is pending (a socket's SO_ERROR; a pipe whose
	 * read end is closed) */
	LFR_FD_ERROR = 1u << 2,
	/* POLLHUP, or POLLRDHUP with readable interest: a peer or the other
	 * end hung up; what is left may still be read */
	LFR_FD_HANGUP = 1u << 3,
};

struct lfr_fd_watch;

/*
 * lfr_fd_watch_new - watch fd for interest (LFR_READABLE, LFR_WRITABLE or
 * both) on reactor.  fd stays the caller's: it must stay open until
 * lfr_fd_watch_free, which does not close it.  fd should be non-blocking
 * for the caller's own reads and writes; the watch does not change it.
 * Returns 0 and stores the watch in *out, or (nothing left behind):
 *  -EINVAL  reactor or out NULL; interest 0 or with other bits
 *  -ENOMEM
 *  and what lfr_reactor_register returns: -EBADF (fd not open), -EPERM
 *  (a regular file or directory: epoll cannot watch it), -EEXIST (fd is
 *  registered with the reactor already), -ENOSPC, -ESHUTDOWN.
 * Threads: any.  Blocks: one epoll_ctl (see lfr_reactor_register).
 */
LFR_EXTERN int lfr_fd_watch_new(struct lfr_reactor *reactor, int fd,
				unsigned interest, struct lfr_fd_watch **out);

/*
 * lfr_fd_watch_poll - LFR_READY with *result > 0, the readiness found
 * (see above), or with *result < 0: -EBADF (fd was closed), -EINVAL (w
 * NULL, or waker NULL), or the reactor's refusal of the waker (-ENOMEM,
 * -ESHUTDOWN, so the task does not wait for a wake that cannot come).
 * Otherwise stores waker with the reactor and returns LFR_PENDING with
 * *result 0.  result is required: NULL does nothing and returns
 * LFR_READY (see the top of this file).  Nothing is read or written.
 * Threads: one task at a time per watch.  Blocks: no (one or two poll(2)
 * calls with a zero timeout).
 * Ordering: the waker is stored and the fd then asked again, so readiness
 * that comes in between is returned, not lost.
 */
LFR_EXTERN enum lfr_poll lfr_fd_watch_poll(struct lfr_fd_watch *w,
					   const struct lfr_waker *waker,
					   int *result);

/*
 * lfr_fd_watch_set_interest - wait for interest from the next poll on.
 * The fd is registered again under a new id (two epoll_ctl calls; none if
 * the interest is unchanged), so the waker stored by an earlier poll is
 * dropped: a task that changes the interest polls the watch again before
 * it waits.
 * Returns 0, or -EINVAL (w NULL, interest 0 or with other bits; nothing
 * changed), or the reactor's error (-ENOMEM, -ENOSPC, -ESHUTDOWN, -EBADF):
 * the watch then keeps its old interest if it could be registered again
 * with it, else every poll returns that error.
 * Threads: the task that polls w.  Blocks: two epoll_ctl calls.
 */
LFR_EXTERN int lfr_fd_watch_set_interest(struct lfr_fd_watch *w,
					 unsigned interest);

/*
 * lfr_fd_watch_free - deregister and free the watch; the fd stays open
 * (the caller's).  A dispatch in flight may still wake the task once (see
 * lfr_reactor_deregister).  NULL is a no-op.
 * Threads: the task's, with no other call on w in flight.  Blocks: one
 * epoll_ctl.
 */
LFR_EXTERN void lfr_fd_watch_free(struct lfr_fd_watch *w);

/*
 * TCP sockets.  A struct lfr_tcp is a non-blocking socket registered with
 * the reactor (readable and writable interest, one waker: the task's).
 * Every *_poll returns LFR_READY with its result, or LFR_PENDING after
 * storing the waker; results are >= 0 or a negative errno (-ECONNREFUSED,
 * -ECONNRESET, -EPIPE, ...): never a crash, never SIGPIPE.  Out-pointers
 * are required (see the top of this file).
 * Threads: a socket is used by one task at a time.  Blocks: never.
 *
 * Unix-domain stream sockets work the same way: give lfr_tcp_connect,
 * lfr_tcp_listen or lfr_tcp_listen_opts a struct sockaddr_un (AF_UNIX,
 * SOCK_STREAM).  The socket file of a listener is the caller's: bind fails
 * with -EADDRINUSE while it exists, and lfr_tcp_close does not unlink it.
 * lfr_tcp_local_port gives -EAFNOSUPPORT for them; lfr_tcp_local_addr
 * gives the path.
 */
struct lfr_tcp;

/*
 * lfr_tcp_connect - start connecting a new socket to addr; the result
 * comes from lfr_tcp_connect_poll.
 * Returns 0 and stores the socket in *out, or -EINVAL (NULL argument) and
 * the errors of socket(), connect() (other than EINPROGRESS) and
 * lfr_reactor_register; nothing is left behind on failure.
 * Threads: any.  Blocks: no.
 */
LFR_EXTERN int lfr_tcp_connect(struct lfr_reactor *reactor,
			       const struct sockaddr *addr, socklen_t len,
			       struct lfr_tcp **out);
/*
 * lfr_tcp_connect_poll - LFR_READY when the connection is made (*err 0)
 * or failed (*err < 0); otherwise stores waker and returns LFR_PENDING.
 * err is required: with err NULL nothing is done and LFR_READY comes back.
 * Threads: one task at a time per socket.  Blocks: no.
 */
LFR_EXTERN enum lfr_poll lfr_tcp_connect_poll(struct lfr_tcp *s,
					      const struct lfr_waker *waker,
					      int *err);

/*
 * lfr_tcp_listen - a listening socket on addr (SO_REUSEADDR; backlog as
 * listen(2) takes it; for SO_REUSEPORT and other options see
 * lfr_tcp_listen_opts); port 0 picks one, see lfr_tcp_local_port.
 * A listener holds one fd, the socket, and a timer of the reactor's timer
 * structure (lfreactor/timer.h) that lfr_tcp_accept_poll backs off on,
 * made now because there may be no fd for the structure's timerfd when it
 * is needed (the first timer of a reactor makes it).
 * Returns 0 and stores the listener in *out, or a negative errno (-EINVAL
 * for a NULL argument, -EMFILE/-ENFILE when the socket or the reactor's
 * timerfd cannot be had, the errors of socket(), setsockopt(), bind(),
 * listen() and lfr_reactor_register, -ESHUTDOWN); nothing is left behind
 * on failure.
 * Threads: any.  Blocks: no.
 */
LFR_EXTERN int lfr_tcp_listen(struct lfr_reactor *reactor,
			      const struct sockaddr *addr, socklen_t len,
			      int backlog, struct lfr_tcp **out);

/* flags of struct lfr_listen_opts */
enum {
	/* SO_REUSEPORT: several listeners (one per executor thread, say) on
	 * the same address and port, the kernel spreading connections over
	 * them.  Every listener on the port must set it (and be of the same
	 * user).  IPv4 and IPv6 only */
	LFR_LISTEN_REUSEPORT = 1u << 0,
	/* leave SO_REUSEADDR off (it is on by default) */
	LFR_LISTEN_NO_REUSEADDR = 1u << 1,
};

/*
 * Options of lfr_tcp_listen_opts.  Fill with lfr_listen_opts_init, then set
 * the fields you want: size tells the library which version of the struct
 * the caller was built with, so fields can be added later (the rules of
 * "Growable structs" in lfreactor/reactor.h).
 */
struct lfr_listen_opts {
	uint32_t size;  /* sizeof(struct lfr_listen_opts), set by init */
	int backlog;    /* listen(2)'s backlog; 0: SOMAXCONN (the kernel caps
			 * it at net.core.somaxconn) */
	unsigned flags; /* LFR_LISTEN_* */
};

/*
 * lfr_listen_opts_init - fill *opts with the defaults and its size:
 * backlog SOMAXCONN, SO_REUSEADDR on, SO_REUSEPORT off.
 * An inline function, so that size is the caller's and never the
 * library's.  No-op on NULL.
 * Threads: any.  Blocks: never.
 */
static inline void lfr_listen_opts_init(struct lfr_listen_opts *opts)
{
	if (!opts)
		return;
	memset(opts, 0, sizeof(*opts));
	opts->size = sizeof(*opts);
	opts->backlog = SOMAXCONN;
}

/*
 * lfr_tcp_listen_opts - lfr_tcp_listen with options: the socket is made,
 * its options set, then bound and listening.  opts NULL: the defaults.
 * Returns 0 and stores the listener in *out, or (nothing left behind):
 *  -EINVAL  reactor, addr or out NULL; opts->size smaller than the first
 *           version of the struct; a negative backlog; an unknown flag
 *  -E2BIG   opts->size is larger than this library's struct and the
 *           fields it does not know are not zero
 *  -EADDRINUSE  the address is taken (by a listener without
 *           SO_REUSEPORT, or of another user; for AF_UNIX, the path
 *           exists)
 *  and the errors of socket(), setsockopt(), bind(), listen() and
 *  lfr_reactor_register, and lfr_timer_new's for the back-off timer (see
 *  lfr_tcp_listen).
 * Threads: any.  Blocks: no.
 */
LFR_EXTERN int lfr_tcp_listen_opts(struct lfr_reactor *reactor,
				   const struct sockaddr *addr, socklen_t len,
				   const struct lfr_listen_opts *opts,
				   struct lfr_tcp **out);

/*
 * lfr_tcp_from_fd - wrap an existing stream socket, connected or
 * listening (AF_INET, AF_INET6 or AF_UNIX; made by the application, say,
 * with options of its own, or inherited), and register it with reactor.
 * A listening socket (SO_ACCEPTCONN) becomes a listener: it gets the
 * back-off timer of lfr_tcp_listen (no fd) and works with
 * lfr_tcp_accept_poll.  The socket is made non-blocking; FD_CLOEXEC is
 * left as it is.
 * Ownership: on success the struct lfr_tcp owns fd -- lfr_tcp_close
 * closes it, and the caller must not; on failure fd stays the caller's,
 * open and with its flags as they were.
 * Returns 0 and stores it in *out, or:
 *  -EINVAL  reactor or out NULL; fd not a stream socket (SOCK_DGRAM,
 *           SOCK_SEQPACKET, ...)
 *  -EBADF   fd negative or not open;  -ENOTSOCK  fd is not a socket
 *  -ENOMEM, -EMFILE/-ENFILE (a listener's timer: the reactor's timerfd
 *  if it has none yet), and what
 *  lfr_reactor_register returns (-EEXIST: fd is registered already).
 * Threads: any.  Blocks: no.
 */
LFR_EXTERN int lfr_tcp_from_fd(struct lfr_reactor *reactor, int fd,
			       struct lfr_tcp **out);
/*
 * lfr_tcp_accept_poll - LFR_READY with a new connection in *out and *err
 * 0, or with *out NULL and *err < 0; LFR_PENDING, *out NULL, after storing
 * waker: *err 0 when no connection is waiting, or the error the listener
 * backs off for (below) while it does.  out and err are required: if
 * either is NULL nothing is accepted (the other gets NULL or -EINVAL) and
 * LFR_READY comes back.
 *
 * Out of fds, it does not spin.  When accept fails for want of resources
 * -- -EMFILE (the process is at RLIMIT_NOFILE), -ENFILE (the system is
 * out of files), -ENOBUFS, -ENOMEM (for the socket, or to register the
 * new connection, which is then closed), -ENOSPC (epoll's
 * max_user_watches) -- the call returns LFR_READY with that error, and
 * the listener backs off: the polls that follow do not call accept but
 * return LFR_PENDING with that error in *err, and waker stored on the
 * listener's timer, until
 *   - this library closes an fd (lfr_tcp_close), in any
 *     thread, for any reactor: the release wakes every listener backing
 *     off, at once (one that races the failure may be missed: then the
 *     timer); or
 *   - the back-off delay has passed: 1 ms after a failure that follows a
 *     success, doubled after each further failure, at most 100 ms (so an
 *     fd the application closes itself is noticed within 100 ms, and a
 *     listener that stays out of fds tries about 10 times a second);
 * then the next poll tries again, returning the connection, or the error
 * again and backing off longer.  The waker is stored on the timer with the
 * error already: a task may poll again at once (LFR_PENDING) or return
 * LFR_PENDING itself; it is woken when it is time to try again.  A task
 * that loops
 *     while (lfr_tcp_accept_poll(l, w, &c, &err) == LFR_READY)
 * and skips resource errors therefore parks between tries, and the
 * connections it serves, on its own thread too, get to finish and free
 * their fds.  One error comes back per try: to log a run of them once,
 * log the first, and its end at the first LFR_PENDING with *err 0 (every
 * waiting connection accepted).  Meanwhile connections stay in the
 * kernel's backlog, waiting, not dropped; when it is full the kernel
 * drops new SYNs and clients resend them.  (The "reserve fd" trick -- keep a spare fd, close it on EMFILE,
 * accept and close the waiting connection, reopen the spare -- is not
 * used: in a multithreaded process another thread may take the freed fd
 * first, and it refuses clients that a moment later could be served.  A
 * server that would rather refuse than make clients wait can still do it
 * itself with the error this returns.)
 *
 * Other errors: -ECONNABORTED and what accept passes on from a pending
 * connection (-EPROTO, -ENETDOWN, -EHOSTUNREACH, -EPERM, ...) are that
 * connection's, which is gone: poll again at once.  -ESHUTDOWN (the
 * reactor was shut down; a listener backing off may first make the try it
 * is due), -EINVAL (NULL argument, or not a listener) and -EBADF are for
 * good: the next poll returns the same; stop accepting.
 * Threads: one task at a time per listener.  Blocks: never (a
 * process-wide mutex, briefly, when a back-off starts or ends).
 */
LFR_EXTERN enum lfr_poll lfr_tcp_accept_poll(struct lfr_tcp *listener,
					     const struct lfr_waker *waker,
					     struct lfr_tcp **out, int *err);

/*
 * lfr_tcp_read_poll - read up to len bytes into buf: LFR_READY with
 * *result bytes read (0: end of stream) or a negative errno; LFR_PENDING
 * after storing waker when nothing is there to read.
 * result is required: with result NULL nothing is read and LFR_READY
 * comes back.
 * Threads: one task at a time per socket.  Blocks: never.
 */
LFR_EXTERN enum lfr_poll lfr_tcp_read_poll(struct lfr_tcp *s, void *buf,
					   size_t len,
					   const struct lfr_waker *waker,
					   ssize_t *result);
/*
 * lfr_tcp_write_poll - write up to len bytes of buf: LFR_READY with
 * *result bytes written (some, maybe not all) or a negative errno (-EPIPE
 * when the peer is gone: no signal); LFR_PENDING after storing waker when
 * the socket's buffer is full.
 * result is required: with result NULL nothing is written and LFR_READY
 * comes back.
 * Threads: one task at a time per socket.  Blocks: never.
 */
LFR_EXTERN enum lfr_poll lfr_tcp_write_poll(struct lfr_tcp *s,
					    const void *buf, size_t len,
					    const struct lfr_waker *waker,
					    ssize_t *result);

/*
 * lfr_tcp_local_port - the port s is bound to.
 * Returns the port (host order), or a negative errno (-EINVAL for NULL,
 * the errors of getsockname(), -EAFNOSUPPORT for a socket neither IPv4
 * nor IPv6: a Unix-domain socket, see lfr_tcp_local_addr).
 * Threads: any.  Blocks: no.
 */
LFR_EXTERN int lfr_tcp_local_port(struct lfr_tcp *s);
/*
 * lfr_tcp_local_addr - the address s is bound to (getsockname): any
 * family, a Unix-domain socket's path too.  *len is the size of addr on
 * entry and the address's size on return (larger than given: the address
 * was cut short).
 * Returns 0, or -EINVAL (an argument NULL) and getsockname's errors.
 * Threads: any.  Blocks: no.
 */
LFR_EXTERN int lfr_tcp_local_addr(struct lfr_tcp *s, struct sockaddr *addr,
				  socklen_t *len);
/*
 * lfr_tcp_fd - the socket's fd, for setsockopt() and the like.  It stays
 * the library's: do not close it.
 * Returns the fd, or -EINVAL for NULL.
 * Threads: any.  Blocks: no.
 */
LFR_EXTERN int lfr_tcp_fd(struct lfr_tcp *s);
/*
 * lfr_tcp_close - deregister and close the socket (a listener: its timer
 * too) and free s; NULL is a no-op.  A dispatch in flight may still wake
 * the task once (see lfr_reactor_deregister).  The fd it frees ends the
 * back-off of every listener waiting for one (lfr_tcp_accept_poll).
 * Threads: the task's.  Blocks: no (a process-wide mutex while a listener
 * backs off).
 */
LFR_EXTERN void lfr_tcp_close(struct lfr_tcp *s);

#ifdef __cplusplus
}
#endif

#endif /* LFREACTOR_IO_H */
