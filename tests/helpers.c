/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "test_hooks.h"

static struct lfr_waker cw_clone(void *data);

static void cw_drop(void *data)
{
	struct counting_waker *cw = data;

	atomic_fetch_add(&cw->drops, 1);
	if (atomic_fetch_sub(&cw->refs, 1) <= 0)
		atomic_fetch_add(&cw->misuse, 1);
}

static void cw_wake_by_ref(void *data)
{
	struct counting_waker *cw = data;

	if (atomic_load(&cw->refs) <= 0)
		atomic_fetch_add(&cw->misuse, 1);
	atomic_fetch_add(&cw->wakes, 1);
}

static void cw_wake(void *data)
{
	cw_wake_by_ref(data);
	cw_drop(data);
}

static const struct lfr_waker_vtable cw_vtable[2] = {
	{ cw_clone, cw_wake, cw_wake_by_ref, cw_drop },
	{ cw_clone, cw_wake, cw_wake_by_ref, cw_drop },
};

static struct lfr_waker cw_clone(void *data)
{
	struct counting_waker *cw = data;
	struct lfr_waker none = { NULL, NULL };

	if (atomic_load(&cw->fail_clone))
		return none;
	if (atomic_fetch_add(&cw->refs, 1) <= 0)
		atomic_fetch_add(&cw->misuse, 1);
	atomic_fetch_add(&cw->clones, 1);
	return cw_waker(cw);
}

void plain_waker_drop(void *data)
{
	(void)data;
}

void cw_init(struct counting_waker *cw)
{
	atomic_init(&cw->refs, 1);
	atomic_init(&cw->clones, 0);
	atomic_init(&cw->drops, 0);
	atomic_init(&cw->wakes, 0);
	atomic_init(&cw->misuse, 0);
	atomic_init(&cw->fail_clone, false);
	cw->kind = 0;
}

void cw_init_kind(struct counting_waker *cw, int kind)
{
	cw_init(cw);
	cw->kind = kind;
}

struct lfr_waker cw_waker(struct counting_waker *cw)
{
	struct lfr_waker w = { &cw_vtable[cw->kind], cw };

	return w;
}

int cw_wakes(struct counting_waker *cw)
{
	return atomic_load(&cw->wakes);
}

void test_pipe(int fds[2])
{
	cr_assert_eq(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
}

void close_pipe(int fds[2])
{
	close(fds[0]);
	close(fds[1]);
}

void open_reactor_and_pipe(struct lfr_reactor **r, int fds[2])
{
	cr_assert_eq(lfr_reactor_new(NULL, r), 0);
	test_pipe(fds);
}

void close_reactor_and_pipe(struct lfr_reactor *r, int fds[2])
{
	lfr_reactor_free(r);
	memset(&lfr__hooks, 0, sizeof(lfr__hooks));
	lfr__hooks.fail_alloc_after = -1;
	close_pipe(fds);
}

lfr_id register_with_waker(struct lfr_reactor *r, int fd,
			   const struct lfr_waker *w)
{
	lfr_id id = lfr_reactor_next_id(r);

	cr_assert_eq(lfr_reactor_register(r, fd, LFR_READABLE, id), 0);
	cr_assert_eq(lfr_reactor_set_waker(r, w, id), 0);
	return id;
}

void fire(int fd)
{
	char c = 'x';

	cr_assert_eq(write(fd, &c, 1), 1);
}

void drain(int fd)
{
	char buf[256];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

struct lfr_reactor_stats stats_of(struct lfr_reactor *r)
{
	struct lfr_reactor_stats s = { .size = sizeof(s) };

	cr_assert_eq(lfr_reactor_stats(r, &s), 0);
	cr_assert_eq(s.size, sizeof(s), "every field filled");
	return s;
}

int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}
