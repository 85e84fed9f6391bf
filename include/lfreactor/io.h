/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lfreactor/io.h - leaf futures on the reactor's public API.
 *
 * A leaf future is polled from a task's poll function with the task's
 * waker: it returns LFR_READY when done, or LFR_PENDING after handing the
 * waker to the reactor (lfr_reactor_set_waker), which wakes the task when
 * the underlying fd becomes ready.  Each owns one fd registered with the
 * reactor; many of them mean many fds, never more threads.
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
 * lfr_sleep_poll - LFR_READY once the time has come (and ever after);
 * otherwise stores waker with the reactor and returns LFR_PENDING.  If the
 * reactor refuses the waker (-ENOMEM, -ESHUTDOWN), *err (when not NULL)
 * gets that error and LFR_READY is returned, so the task does not wait
 * for a wake that cannot come; *err is 0 otherwise (-EINVAL, and
 * LFR_READY, for a NULL s).
 * Threads: one task at a time (the future is not shared).  Blocks: no.
 */
LFR_EXTERN enum lfr_poll lfr_sleep_poll(struct lfr_sleep *s,
					const struct lfr_waker *waker, int *err);

/*
 * lfr_sleep_free - deregister and close the timer; NULL is a no-op.  A
 * dispatch in flight may still wake the task once (see
 * lfr_reactor_deregister).  Threads: the task's.  Blocks: no.
 */
LFR_EXTERN void lfr_sleep_free(struct lfr_sleep *s);

/*
 * TCP sockets.  A struct lfr_tcp is a non-blocking socket registered with
 * the reactor (readable and writable interest, one waker: the task's).
 * Every *_poll returns LFR_READY with its result, or LFR_PENDING after
 * storing the waker; results are >= 0 or a negative errno (-ECONNREFUSED,
 * -ECONNRESET, -EPIPE, ...): never a crash, never SIGPIPE.
 * Threads: a socket is used by one task at a time.  Blocks: never.
 */
struct lfr_tcp;

/* starts connecting to addr; the result comes from lfr_tcp_connect_poll.
 * Returns 0, or -EINVAL (NULL argument) and the errors of socket(),
 * connect() (other than EINPROGRESS) and lfr_reactor_register. */
LFR_EXTERN int lfr_tcp_connect(struct lfr_reactor *reactor,
			       const struct sockaddr *addr, socklen_t len,
			       struct lfr_tcp **out);
/* LFR_READY when the connection is made (*err 0) or failed (*err <0) */
LFR_EXTERN enum lfr_poll lfr_tcp_connect_poll(struct lfr_tcp *s,
					      const struct lfr_waker *waker,
					      int *err);

/* a listening socket on addr (SO_REUSEADDR); port 0 picks one, see
 * lfr_tcp_local_port.  Returns 0 or a negative errno. */
LFR_EXTERN int lfr_tcp_listen(struct lfr_reactor *reactor,
			      const struct sockaddr *addr, socklen_t len,
			      int backlog, struct lfr_tcp **out);
/* LFR_READY with a new connection in *out (*err 0), or *err < 0 */
LFR_EXTERN enum lfr_poll lfr_tcp_accept_poll(struct lfr_tcp *listener,
					     const struct lfr_waker *waker,
					     struct lfr_tcp **out, int *err);

/* LFR_READY with *result bytes read (0: end of stream) or a negative
 * errno */
LFR_EXTERN enum lfr_poll lfr_tcp_read_poll(struct lfr_tcp *s, void *buf,
					   size_t len,
					   const struct lfr_waker *waker,
					   ssize_t *result);
/* LFR_READY with *result bytes written (some, maybe not all) or a
 * negative errno (-EPIPE when the peer is gone: no signal) */
LFR_EXTERN enum lfr_poll lfr_tcp_write_poll(struct lfr_tcp *s,
					    const void *buf, size_t len,
					    const struct lfr_waker *waker,
					    ssize_t *result);

/* the bound port of s (host order), or a negative errno */
LFR_EXTERN int lfr_tcp_local_port(struct lfr_tcp *s);
/* the socket's fd, for options; it stays the library's: do not close it */
LFR_EXTERN int lfr_tcp_fd(struct lfr_tcp *s);
/* deregisters and closes; NULL is a no-op */
LFR_EXTERN void lfr_tcp_close(struct lfr_tcp *s);

#ifdef __cplusplus
}
#endif

#endif /* LFREACTOR_IO_H */
