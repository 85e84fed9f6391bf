/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* alloc.c - the library's one allocation function, and the test seams. */
#include "config.h"

#include <stdlib.h>

#include "test_hooks.h"

#ifdef LFR_TEST_HOOKS
struct lfr__test_hooks lfr__hooks = { .fail_alloc_after = -1 };
atomic_ulong lfr__allocations;
#endif

void *lfr__alloc(size_t align, size_t size)
{
	void *p;

#ifdef LFR_TEST_HOOKS
	atomic_fetch_add_explicit(&lfr__allocations, 1, memory_order_relaxed);
	if (lfr__hooks.fail_alloc_after == 0)
		return NULL;
	if (lfr__hooks.fail_alloc_after > 0)
		lfr__hooks.fail_alloc_after--;
#endif
	if (align <= sizeof(void *))
		return malloc(size);
	if (posix_memalign(&p, align, size) != 0)
		return NULL;
	return p;
}
