/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* waker.c - helpers over struct lfr_waker; see lfreactor/waker.h. */
#include "config.h"

#include <stddef.h>
#include <lfreactor/waker.h>

static bool has_vtable(const struct lfr_waker *w)
{
	return w && w->vtable;
}

struct lfr_waker lfr_waker_clone(const struct lfr_waker *w)
{
	struct lfr_waker none = { NULL, NULL };

	if (!has_vtable(w) || !w->vtable->clone)
		return none;
	return w->vtable->clone(w->data);
}

void lfr_waker_wake(struct lfr_waker *w)
{
	if (!has_vtable(w))
		return;
	if (w->vtable->wake)
		w->vtable->wake(w->data);
	w->vtable = NULL;
	w->data = NULL;
}

void lfr_waker_wake_by_ref(const struct lfr_waker *w)
{
	if (has_vtable(w) && w->vtable->wake_by_ref)
		w->vtable->wake_by_ref(w->data);
}

void lfr_waker_drop(struct lfr_waker *w)
{
	if (!has_vtable(w))
		return;
	if (w->vtable->drop)
		w->vtable->drop(w->data);
	w->vtable = NULL;
	w->data = NULL;
}

bool lfr_waker_will_wake(const struct lfr_waker *a, const struct lfr_waker *b)
{
	return a && b && a->vtable == b->vtable && a->data == b->data;
}

static struct lfr_waker noop_clone(void *data);
static void noop(void *data)
{
	(void)data;
}

static const struct lfr_waker_vtable noop_vtable = {
	.clone = noop_clone,
	.wake = noop,
	.wake_by_ref = noop,
	.drop = noop,
};

static struct lfr_waker noop_clone(void *data)
{
	struct lfr_waker w = { &noop_vtable, data };

	return w;
}

struct lfr_waker lfr_waker_noop(void)
{
	return noop_clone(NULL);
}
