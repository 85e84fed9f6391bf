/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.c - leaf futures, on the reactor's public API only; see
 * lfreactor/io.h. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
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

static bool expired(struct lfr_sleep *s)
{
	uint64_t n;

	if (!s->done && read(s->fd, &n, sizeof(n)) == sizeof(n))
		s->done = true;
	return s->done;
}

enum lfr_poll lfr_sleep_poll(struct lfr_sleep *s, const struct lfr_waker *waker,
			     int *err)
{
	int ret;

	if (err)
		*err = s ? 0 : -EINVAL;
	if (!s || expired(s))
		return LFR_READY;
	ret = lfr_reactor_set_waker(s->reactor, waker, s->id);
	if (ret) {
		if (err)
			*err = ret;
		return LFR_READY;
	}
	/* edge-triggered: it may have expired between the read and the
	 * set_waker; look again now that the waker is stored */
	return expired(s) ? LFR_READY : LFR_PENDING;
}

void lfr_sleep_free(struct lfr_sleep *s)
{
	if (!s)
		return;
	lfr_reactor_deregister(s->reactor, s->fd, s->id);
	close(s->fd);
	free(s);
}
