/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lfreactor/io.h - leaf futures on the reactor's public API.
 *
 * A leaf future is polled from a task's poll function with the task's
 * waker: it returns LFR_READY when done, or LFR_PENDING after handing the
 * waker to the reactor (lfr_reactor_set_waker), which wakes the task when
 * the underlying fd becomes ready.  Each owns one fd registered with the
 * reactor (a listener two: see lfr_tcp_listen); many of them mean many
 * fds, never more threads.
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

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <lfreactor/common.h>
#include <lfreactor/executor.h>
#include <lfreactor/reactor.h>

#ifdef __cplusplus
extern "C" {
#endif

struct lfr_sleep;

/*
 * lfr_sleep_new - a future that is ready ms milliseconds from now (a
 * timerfd on CLOCK_MONOTONIC, registered with reactor).
 * Returns 0 and stores it in *out, or -EINVAL (reactor or out NULL),
 * -ENOMEM, -EMFILE/-ENFILE (no fd), or what lfr_reactor_register returns
 * (-ESHUTDOWN); nothing is left behind on failure.
 * Threads: any.  Blocks: no.
 */
LFR_EXTERN int lfr_sleep_new(struct lfr_reactor *reactor, uint64_t ms,
			     struct lfr_sleep **out);

/*
 * lfr_sleep_poll - LFR_READY with *err 0 once the time has come (and ever
 * after); otherwise stores waker with the reactor and returns
 * LFR_PENDING.  If the reactor refuses the waker (-ENOMEM, -ESHUTDOWN,
 * -EINVAL for a NULL waker), *err gets that error and LFR_READY is
 * returned, so the task does not wait for a wake that cannot come: a
 * READY with *err < 0 means the time has not come.  -EINVAL and LFR_READY
 * for a NULL s.
 * err is required: with err NULL nothing is polled and LFR_READY comes
 * back at once, every time (a caller that cannot tell "time's up" from
 * "cannot wait" would mistake a shut-down reactor for a timer that fired;
 * this way the mistake shows on the first poll).
 * Threads: one task at a time (the future is not shared).  Blocks: no.
 */
LFR_EXTERN enum lfr_poll lfr_sleep_poll(struct lfr_sleep *s,
					const struct lfr_waker *waker, int *err);

/*
 * lfr_sleep_free - deregister and close the timer; NULL is a no-op.  A
 * dispatch in flight may still wake the task once (see
 * lfr_reactor_deregister).  The fd it frees ends the back-off of every
 * listener waiting for one (lfr_tcp_accept_poll).
 * Threads: the task's.  Blocks: no (a process-wide mutex while a
 * listener backs off).
 */
LFR_EXTERN void lfr_sleep_free(struct lfr_sleep *s);

/*
 * TCP sockets.  A struct lfr_tcp is a non-blocking socket registered with
 * the reactor (readable and writable interest, one waker: the task's).
 * Every *_poll returns LFR_READY with its result, or LFR_PENDING after
 * storing the waker; results are >= 0 or a negative errno (-ECONNREFUSED,
 * -ECONNRESET, -EPIPE, ...): never a crash, never SIGPIPE.  Out-pointers
 * are required (see the top of this file).
 * Threads: a socket is used by one task at a time.  Blocks: never.
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
 * lfr_tcp_listen - a listening socket on addr (SO_REUSEADDR); port 0
 * picks one, see lfr_tcp_local_port.
 * A listener holds two fds: the socket and the timer (a timerfd,
 * registered with reactor) that lfr_tcp_accept_poll backs off on, made
 * now because there may be no fd to make it when it is needed.
 * Returns 0 and stores the listener in *out, or a negative errno (-EINVAL
 * for a NULL argument, -EMFILE/-ENFILE when either fd cannot be had, the
 * errors of socket(), setsockopt(), bind(), listen() and
 * lfr_reactor_register); nothing is left behind on failure.
 * Threads: any.  Blocks: no.
 */
LFR_EXTERN int lfr_tcp_listen(struct lfr_reactor *reactor,
			      const struct sockaddr *addr, socklen_t len,
			      int backlog, struct lfr_tcp **out);
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
 *   - this library closes an fd (lfr_tcp_close, lfr_sleep_free), in any
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
 * nor IPv6).
 * Threads: any.  Blocks: no.
 */
LFR_EXTERN int lfr_tcp_local_port(struct lfr_tcp *s);
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
