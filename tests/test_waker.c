/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The waker helpers, lfr_strerror and the version API. */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"

Test(waker, clone_takes_a_reference_and_drop_releases_it)
{
	struct counting_waker cw;
	struct lfr_waker w, c;

	cw_init(&cw);
	w = cw_waker(&cw);
	c = lfr_waker_clone(&w);
	cr_assert(lfr_waker_will_wake(&w, &c));
	cr_assert_eq(atomic_load(&cw.refs), 2);
	lfr_waker_drop(&c);
	cr_assert_eq(atomic_load(&cw.refs), 1);
	cr_assert_null(c.vtable, "drop clears the waker");
	cr_assert_eq(atomic_load(&cw.misuse), 0);
}

Test(waker, wake_consumes_and_wake_by_ref_keeps)
{
	struct counting_waker cw;
	struct lfr_waker w, c;

	cw_init(&cw);
	w = cw_waker(&cw);
	c = lfr_waker_clone(&w);
	lfr_waker_wake_by_ref(&c);
	cr_assert_eq(atomic_load(&cw.refs), 2);
	lfr_waker_wake(&c);
	cr_assert_eq(atomic_load(&cw.refs), 1);
	cr_assert_eq(cw_wakes(&cw), 2);
	cr_assert_null(c.vtable, "wake clears the waker");
}

Test(waker, will_wake_compares_vtable_and_data)
{
	struct counting_waker a, b;
	struct lfr_waker wa, wb, noop = lfr_waker_noop();

	cw_init(&a);
	cw_init(&b);
	wa = cw_waker(&a);
	wb = cw_waker(&b);
	cr_assert(lfr_waker_will_wake(&wa, &wa));
	cr_assert_not(lfr_waker_will_wake(&wa, &wb), "other data");
	cr_assert_not(lfr_waker_will_wake(&wa, &noop), "other vtable");
	cr_assert_not(lfr_waker_will_wake(&wa, NULL));
	cr_assert_not(lfr_waker_will_wake(NULL, &wa));
}

Test(waker, helpers_accept_null_and_empty_wakers)
{
	struct lfr_waker empty = { NULL, NULL }, c;

	lfr_waker_wake(NULL);
	lfr_waker_wake(&empty);
	lfr_waker_wake_by_ref(NULL);
	lfr_waker_drop(NULL);
	lfr_waker_drop(&empty);
	c = lfr_waker_clone(NULL);
	cr_assert_null(c.vtable);
	c = lfr_waker_clone(&empty);
	cr_assert_null(c.vtable);
}

Test(waker, noop_waker_clones_to_itself)
{
	struct lfr_waker n = lfr_waker_noop(), c = lfr_waker_clone(&n);

	cr_assert(lfr_waker_will_wake(&n, &c));
	lfr_waker_wake_by_ref(&c);
	lfr_waker_wake(&c);
	lfr_waker_drop(&n);
}

Test(strerror, names_every_documented_result)
{
	int errs[] = { EINVAL, ENOENT, EEXIST, EBADF, EPERM, ENOMEM, EMFILE,
		       EAGAIN, ENOSPC, ESHUTDOWN, E2BIG };

	cr_assert_str_eq(lfr_strerror(0), "success");
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		const char *s = lfr_strerror(-errs[i]);

		cr_assert_not_null(s);
		cr_assert_str_neq(s, "unknown error", "errno %d", errs[i]);
	}
	cr_assert_str_eq(lfr_strerror(-EEXIST), "File exists");
}

Test(strerror, unknown_values_are_named_not_crashed_on)
{
	cr_assert_str_eq(lfr_strerror(1), "unknown error");
	cr_assert_str_eq(lfr_strerror(-100000), "unknown error");
	cr_assert_str_eq(lfr_strerror(-2147483647 - 1), "unknown error");
}

Test(version, runtime_matches_the_header)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%d.%d.%d", LFR_VERSION_MAJOR,
		 LFR_VERSION_MINOR, LFR_VERSION_PATCH);
	cr_assert_str_eq(lfr_version_string(), LFR_VERSION_STRING);
	cr_assert_str_eq(buf, LFR_VERSION_STRING);
	cr_assert_eq(lfr_version(), (unsigned)LFR_VERSION_HEX);
}
