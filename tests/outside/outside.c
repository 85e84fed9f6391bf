/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An outside program: built against the installed library with only
 * `pkg-config --cflags --libs lfreactor`.  It registers a pipe, sets a waker,
 * fires the pipe and checks the waker ran.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <lfreactor.h>

static atomic_int woken;

static struct lfr_waker w_clone(void *data);
static void w_wake_by_ref(void *data) { (void)data; atomic_fetch_add(&woken, 1); }
static void w_drop(void *data) { (void)data; }
static const struct lfr_waker_vtable vt = { w_clone, w_wake_by_ref,
					    w_wake_by_ref, w_drop };
static struct lfr_waker w_clone(void *data)
{
	return (struct lfr_waker){ &vt, data };
}

int main(void)
{
	struct lfr_reactor *r;
	struct lfr_waker w = { &vt, NULL };
	int fds[2], i, ret;
	lfr_id id;

	if (strcmp(lfr_version_string(), LFR_VERSION_STRING) != 0) {
		fprintf(stderr, "header %s, library %s\n", LFR_VERSION_STRING,
			lfr_version_string());
		return 1;
	}
	if ((ret = lfr_reactor_new(NULL, &r)) != 0) {
		fprintf(stderr, "lfr_reactor_new: %s\n", lfr_strerror(ret));
		return 1;
	}
	if (pipe2(fds, O_NONBLOCK) < 0)
		return 1;
	id = lfr_reactor_next_id(r);
	if (lfr_reactor_register(r, fds[0], LFR_READABLE, id) ||
	    lfr_reactor_set_waker(r, &w, id) || write(fds[1], "x", 1) != 1)
		return 1;
	for (i = 0; i < 5000 && atomic_load(&woken) == 0; i++)
		usleep(1000);
	lfr_reactor_deregister(r, fds[0], id);
	lfr_reactor_free(r);
	close(fds[0]);
	close(fds[1]);
	printf("outside program: lfreactor %s, woken %d\n",
	       lfr_version_string(), atomic_load(&woken));
	return atomic_load(&woken) == 1 ? 0 : 1;
}
