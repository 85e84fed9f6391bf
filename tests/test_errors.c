/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Bad input: every documented error result, and that a failed call leaves
 * nothing behind.  Each test checks the reactor still works afterwards.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "test_hooks.h"

static struct lfr_reactor *r;
static int p[2];

static void setup(void)
{
	open_reactor_and_pipe(&r, p);
}

static void teardown(void)
{
	close_reactor_and_pipe(r, p);
}

TestSuite(errors, .init = setup, .fini = teardown);

/* registers p[0] under a fresh id and checks a write wakes its waker */
static void assert_pipe_still_works(void)
{
	static struct counting_waker cw;
	struct lfr_waker w;
	lfr_id id;

	cw_init(&cw);
	w = cw_waker(&cw);
	id = register_with_waker(r, p[0], &w);
	fire(p[1]);
	cr_assert(WAIT_FOR(cw_wakes(&cw) == 1, 5000));
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0);
	drain(p[0]);
}

Test(errors, null_reactor_is_einval_everywhere)
{
	struct lfr_waker w = lfr_waker_noop();
	struct lfr_reactor_stats s = { .size = sizeof(s) };

	cr_assert_eq(lfr_reactor_next_id(NULL), 0);
	cr_assert_eq(lfr_reactor_register(NULL, p[0], LFR_READABLE, 1), -EINVAL);
	cr_assert_eq(lfr_reactor_set_waker(NULL, &w, 1), -EINVAL);
	cr_assert_eq(lfr_reactor_deregister(NULL, p[0], 1), -EINVAL);
	cr_assert_eq(lfr_reactor_stats(NULL, &s), -EINVAL);
	cr_assert_eq(lfr_reactor_stats(r, NULL), -EINVAL);
	lfr_reactor_free(NULL);
}

Test(errors, new_rejects_null_out_and_oversized_config)
{
	struct lfr_reactor_config cfg;
	struct lfr_reactor *other = (struct lfr_reactor *)&cfg;

	cr_assert_eq(lfr_reactor_new(NULL, NULL), -EINVAL);
	lfr_reactor_config_init(&cfg);
	cfg.pollers = LFR_MAX_POLLERS + 1;
	cr_assert_eq(lfr_reactor_new(&cfg, &other), -EINVAL);
	cr_assert_eq(other, (struct lfr_reactor *)&cfg, "*out untouched");
	lfr_reactor_config_init(&cfg);
	cfg.events_per_poll = LFR_MAX_EVENTS_PER_POLL + 1;
	cr_assert_eq(lfr_reactor_new(&cfg, &other), -EINVAL);
	cr_assert_eq(other, (struct lfr_reactor *)&cfg, "*out untouched");
}

Test(errors, config_zero_fields_take_defaults)
{
	struct lfr_reactor_config cfg = { .size = sizeof(cfg) };
	struct lfr_reactor *other;

	cr_assert_eq(lfr_reactor_new(&cfg, &other), 0);
	cr_assert_eq(stats_of(other).buckets, LFR_DEFAULT_INITIAL_BUCKETS);
	lfr_reactor_free(other);
	lfr_reactor_config_init(NULL);
}

/* ---- growable structs: config and stats carry their size ----------------- */

#define END(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

Test(errors, config_init_writes_its_size_and_the_defaults)
{
	struct lfr_reactor_config cfg;
	struct lfr_reactor *other;

	memset(&cfg, 0xa5, sizeof(cfg));
	lfr_reactor_config_init(&cfg);
	cr_assert_eq(cfg.size, sizeof(cfg));
	cr_assert_eq(cfg.pollers, 1);
	cr_assert_eq(cfg.events_per_poll, 256);
	cr_assert_eq(cfg.initial_buckets, 1024);
	cr_assert_eq(cfg.max_registrations, 1ul << 20);
	cr_assert_eq(lfr_reactor_new(&cfg, &other), 0);
	cr_assert_eq(stats_of(other).buckets, 1024);
	lfr_reactor_free(other);
}

Test(errors, a_config_size_out_of_range_is_einval)
{
	struct lfr_reactor_config cfg = { 0 };
	struct lfr_reactor *other = (struct lfr_reactor *)&cfg;
	uint32_t bad[] = { 0, 1, LFR_REACTOR_CONFIG_SIZE_MIN - 1,
			   LFR_STRUCT_SIZE_MAX + 1, UINT32_MAX };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg.size = bad[i];
		cr_assert_eq(lfr_reactor_new(&cfg, &other), -EINVAL,
			     "size %u", bad[i]);
		cr_assert_eq(other, (struct lfr_reactor *)&cfg, "*out untouched");
	}
}

/* a program built against an older header: the fields past its size take
 * their defaults, whatever the bytes there hold */
Test(errors, an_older_config_takes_the_defaults_past_its_size)
{
	struct lfr_reactor_config cfg;
	struct lfr_reactor *other;
	int before = count_dir("/proc/self/task");

	memset(&cfg, 0xff, sizeof(cfg)); /* max_registrations: over its limit */
	cfg.size = END(struct lfr_reactor_config, events_per_poll);
	cfg.pollers = 2;
	cfg.events_per_poll = 8;
	cfg.initial_buckets = 4;
	cr_assert_eq(lfr_reactor_new(&cfg, &other), 0);
	cr_assert_eq(count_dir("/proc/self/task"), before + 3,
		     "two pollers and the maintainer: pollers was read");
	cr_assert_eq(stats_of(other).buckets, LFR_DEFAULT_INITIAL_BUCKETS,
		     "initial_buckets, past the size, took its default");
	lfr_reactor_free(other);
}

/* a program built against a newer header: accepted while it sets nothing
 * this library lacks */
Test(errors, a_newer_config_works_unless_it_sets_what_the_library_lacks)
{
	struct {
		struct lfr_reactor_config cfg;
		uint64_t future[3];
	} newer;
	struct lfr_reactor *other = NULL;

	memset(&newer, 0, sizeof(newer));
	lfr_reactor_config_init(&newer.cfg);
	newer.cfg.size = sizeof(newer);
	cr_assert_eq(lfr_reactor_new(&newer.cfg, &other), 0);
	lfr_reactor_free(other);
	other = NULL;
	newer.future[2] = 1;
	cr_assert_eq(lfr_reactor_new(&newer.cfg, &other), -E2BIG);
	cr_assert_null(other);
}

Test(errors, stats_fill_only_what_the_callers_size_holds)
{
	struct {
		struct lfr_reactor_stats st;
		unsigned char after[64];
	} buf;
	const unsigned char *bytes = (const unsigned char *)&buf;
	size_t older = END(struct lfr_reactor_stats, wakes), i;
	struct lfr_reactor_stats full;
	struct lfr_waker w = lfr_waker_noop();
	lfr_id id = register_with_waker(r, p[0], &w);

	fire(p[1]);
	cr_assert(WAIT_FOR(stats_of(r).wakes == 1, 5000));
	full = stats_of(r);
	/* an older program's struct, with three counters; then one whose
	 * size ends inside a field, which is not written */
	for (size_t size = older; size <= older + 4; size += 4) {
		memset(&buf, 0xa5, sizeof(buf));
		buf.st.size = (uint32_t)size;
		cr_assert_eq(lfr_reactor_stats(r, &buf.st), 0);
		cr_assert_eq(buf.st.size, older, "the bytes filled");
		cr_assert_eq(buf.st.polls, full.polls);
		cr_assert_eq(buf.st.events, full.events);
		cr_assert_eq(buf.st.wakes, 1);
		for (i = older; i < sizeof(buf); i++)
			cr_assert_eq(bytes[i], 0xa5, "byte %zu written", i);
	}
	/* a newer program's, larger struct: the library fills its own */
	memset(&buf, 0xa5, sizeof(buf));
	buf.st.size = sizeof(buf);
	cr_assert_eq(lfr_reactor_stats(r, &buf.st), 0);
	cr_assert_eq(buf.st.size, sizeof(buf.st));
	cr_assert_eq(buf.st.registrations, 1);
	cr_assert_eq(buf.st.buckets, full.buckets);
	cr_assert_eq(buf.st.fd_error, 0);
	for (i = sizeof(buf.st); i < sizeof(buf); i++)
		cr_assert_eq(bytes[i], 0xa5, "byte %zu written", i);
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0);
	drain(p[0]);
}

Test(errors, a_stats_size_out_of_range_is_einval_and_writes_nothing)
{
	struct lfr_reactor_stats st, before;
	uint32_t bad[] = { 0, sizeof(uint32_t), LFR_REACTOR_STATS_SIZE_MIN - 1,
			   LFR_STRUCT_SIZE_MAX + 1, UINT32_MAX };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&st, 0xa5, sizeof(st));
		st.size = bad[i];
		before = st;
		cr_assert_eq(lfr_reactor_stats(r, &st), -EINVAL, "size %u",
			     bad[i]);
		cr_assert_eq(memcmp(&st, &before, sizeof(st)), 0,
			     "size %u: written", bad[i]);
	}
}

Test(errors, id_zero_and_unissued_ids_are_einval)
{
	lfr_id next = lfr_reactor_next_id(r);

	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, 0), -EINVAL);
	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, next + 1),
		     -EINVAL, "an id next_id has not handed out yet");
	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, ~0ull),
		     -EINVAL);
	cr_assert_eq(lfr_reactor_deregister(r, p[0], 0), -EINVAL);
	assert_pipe_still_works();
}

Test(errors, empty_or_unknown_interest_is_einval)
{
	lfr_id id = lfr_reactor_next_id(r);

	cr_assert_eq(lfr_reactor_register(r, p[0], 0, id), -EINVAL);
	cr_assert_eq(lfr_reactor_register(r, p[0], 1u << 5, id), -EINVAL);
	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE | 1u << 2, id),
		     -EINVAL);
	cr_assert_eq(lfr_reactor_set_waker(r, &(struct lfr_waker){
			     lfr_waker_noop().vtable, NULL }, id),
		     -ENOENT, "nothing was registered");
	assert_pipe_still_works();
}

Test(errors, negative_fd_is_ebadf)
{
	lfr_id id = lfr_reactor_next_id(r);

	cr_assert_eq(lfr_reactor_register(r, -1, LFR_READABLE, id), -EBADF);
	cr_assert_eq(stats_of(r).registrations, 0);
}

Test(errors, closed_fd_is_ebadf_and_rolled_back)
{
	struct lfr_waker w = lfr_waker_noop();
	int q[2];
	lfr_id id = lfr_reactor_next_id(r);

	test_pipe(q);
	close_pipe(q);
	cr_assert_eq(lfr_reactor_register(r, q[0], LFR_READABLE, id), -EBADF);
	cr_assert_eq(lfr_reactor_set_waker(r, &w, id), -ENOENT,
		     "the entry was rolled back");
	cr_assert_eq(stats_of(r).registrations, 0);
}

Test(errors, regular_file_is_eperm_and_rolled_back)
{
	struct lfr_waker w = lfr_waker_noop();
	char path[] = "/tmp/lfr-test-XXXXXX";
	int fd = mkstemp(path);
	lfr_id id = lfr_reactor_next_id(r);

	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(lfr_reactor_register(r, fd, LFR_READABLE, id), -EPERM);
	cr_assert_eq(lfr_reactor_set_waker(r, &w, id), -ENOENT);
	close(fd);
}

Test(errors, duplicate_id_is_eexist_and_keeps_the_first)
{
	static struct counting_waker cw;
	struct lfr_waker w;
	int q[2];
	lfr_id id = lfr_reactor_next_id(r);

	cw_init(&cw);
	w = cw_waker(&cw);
	test_pipe(q);
	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, id), 0);
	cr_assert_eq(lfr_reactor_register(r, q[0], LFR_READABLE, id), -EEXIST);
	cr_assert_eq(lfr_reactor_set_waker(r, &w, id), 0);
	fire(q[1]);
	fire(p[1]);
	cr_assert(WAIT_FOR(cw_wakes(&cw) == 1, 5000));
	sleep_ms(20);
	cr_assert_eq(cw_wakes(&cw), 1, "q never entered epoll");
	cr_assert_eq(stats_of(r).registrations, 1);
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0);
	close_pipe(q);
}

Test(errors, duplicate_fd_is_eexist_and_rolled_back)
{
	struct lfr_waker w = lfr_waker_noop();
	lfr_id a = lfr_reactor_next_id(r), b = lfr_reactor_next_id(r);

	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, a), 0);
	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_WRITABLE, b), -EEXIST);
	cr_assert_eq(lfr_reactor_set_waker(r, &w, b), -ENOENT,
		     "b's entry was rolled back");
	cr_assert_eq(lfr_reactor_deregister(r, p[0], a), 0);
	assert_pipe_still_works();
}

Test(errors, set_waker_on_unknown_or_removed_id_is_enoent)
{
	struct lfr_waker w = lfr_waker_noop();
	lfr_id id = lfr_reactor_next_id(r);

	cr_assert_eq(lfr_reactor_set_waker(r, &w, id), -ENOENT);
	cr_assert_eq(lfr_reactor_set_waker(r, &w, 0), -ENOENT);
	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, id), 0);
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0);
	cr_assert_eq(lfr_reactor_set_waker(r, &w, id), -ENOENT);
}

Test(errors, bad_wakers_are_einval)
{
	struct lfr_waker_vtable partial = *lfr_waker_noop().vtable;
	struct lfr_waker none = { NULL, NULL }, w = { &partial, NULL };
	lfr_id id = lfr_reactor_next_id(r);

	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, id), 0);
	cr_assert_eq(lfr_reactor_set_waker(r, NULL, id), -EINVAL);
	cr_assert_eq(lfr_reactor_set_waker(r, &none, id), -EINVAL);
	partial.wake_by_ref = NULL;
	cr_assert_eq(lfr_reactor_set_waker(r, &w, id), -EINVAL);
	partial = *lfr_waker_noop().vtable;
	partial.clone = NULL;
	cr_assert_eq(lfr_reactor_set_waker(r, &w, id), -EINVAL);
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0);
}

Test(errors, failed_clone_is_enomem_and_keeps_the_old_waker)
{
	static struct counting_waker a, b;
	struct lfr_waker wa, wb;
	lfr_id id = lfr_reactor_next_id(r);

	cw_init(&a);
	cw_init(&b);
	wa = cw_waker(&a);
	wb = cw_waker(&b);
	atomic_store(&b.fail_clone, true);
	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, id), 0);
	cr_assert_eq(lfr_reactor_set_waker(r, &wa, id), 0);
	cr_assert_eq(lfr_reactor_set_waker(r, &wb, id), -ENOMEM);
	fire(p[1]);
	cr_assert(WAIT_FOR(cw_wakes(&a) == 1, 5000), "old waker still set");
	cr_assert_eq(cw_wakes(&b), 0);
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0);
}

Test(errors, failed_allocations_are_enomem_and_leave_nothing)
{
	static struct counting_waker cw, cw2, cw3;
	struct lfr_waker w, w2, w3;
	struct lfr_reactor *other = NULL;
	lfr_id id = lfr_reactor_next_id(r);

	cw_init(&cw);
	cw_init_kind(&cw2, 1);
	cw_init(&cw3);
	w = cw_waker(&cw);
	w2 = cw_waker(&cw2);
	w3 = cw_waker(&cw3);
	/* this thread's first entry: its state on this table and a slab */
	lfr__hooks.fail_alloc_after = 0;
	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, id), -ENOMEM);
	lfr__hooks.fail_alloc_after = -1;
	cr_assert_eq(lfr_reactor_set_waker(r, &w, id), -ENOENT);

	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, id), 0);
	/* the first waker lives in the entry: no allocation to fail */
	lfr__hooks.fail_alloc_after = 0;
	cr_assert_eq(lfr_reactor_set_waker(r, &w, id), 0);
	lfr__hooks.fail_alloc_after = -1;
	/* the first replacement takes this thread's spare retirement block,
	 * the second makes a new spare */
	cr_assert_eq(lfr_reactor_set_waker(r, &w3, id), 0);
	cr_assert_eq(lfr_reactor_set_waker(r, &w, id), 0);
	/* another waker of its vtable replaces it in the entry: nothing
	 * to allocate */
	lfr__hooks.fail_alloc_after = 0;
	cr_assert_eq(lfr_reactor_set_waker(r, &w3, id), 0);
	/* a waker of another vtable needs a box */
	cr_assert_eq(lfr_reactor_set_waker(r, &w2, id), -ENOMEM);
	lfr__hooks.fail_alloc_after = -1;
	cr_assert_eq(atomic_load(&cw2.clones), 0, "no clone left behind");
	fire(p[1]);
	cr_assert(WAIT_FOR(cw_wakes(&cw3) == 1, 5000), "the old waker stays");
	cr_assert_eq(cw_wakes(&cw), 0);
	cr_assert(WAIT_FOR(atomic_load(&cw.refs) == 1, 5000), "w dropped");
	drain(p[0]);

	for (long n = 0; n < 4; n++) { /* reactor, pollers, events, table */
		lfr__hooks.fail_alloc_after = n;
		cr_assert_eq(lfr_reactor_new(NULL, &other), -ENOMEM, "n=%ld", n);
		cr_assert_null(other);
	}
	lfr__hooks.fail_alloc_after = -1;
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0);
	cr_assert(WAIT_FOR(atomic_load(&cw3.refs) == 1, 5000));
	cr_assert_eq(atomic_load(&cw3.misuse) + atomic_load(&cw.misuse), 0);
	assert_pipe_still_works();
}

/* a waker of the stored one's vtable whose clone has another vtable needs a
 * box after all: when that fails, the clone is dropped (once, before the
 * call returns) and the old waker stays */
Test(errors, failed_box_after_a_clone_of_another_vtable_drops_the_clone)
{
	static struct counting_waker a, c, b;
	struct lfr_waker wa, wc, wb;
	lfr_id id;

	cw_init(&a);
	cw_init(&c);
	cw_init(&b);
	wa = cw_waker(&a);
	wc = cw_waker(&c);
	wb = cw_waker(&b); /* carries vtable 0 ... */
	b.kind = 1;        /* ... and its clone returns vtable 1 */
	id = register_with_waker(r, p[0], &wa);
	/* two replacements in the entry: this thread has a spare
	 * retirement block, and no box in its cache */
	cr_assert_eq(lfr_reactor_set_waker(r, &wc, id), 0);
	cr_assert_eq(lfr_reactor_set_waker(r, &wa, id), 0);
	lfr__hooks.fail_alloc_after = 0;
	cr_assert_eq(lfr_reactor_set_waker(r, &wb, id), -ENOMEM);
	lfr__hooks.fail_alloc_after = -1;
	cr_assert_eq(atomic_load(&b.clones), 1);
	cr_assert_eq(atomic_load(&b.drops), 1, "the clone dropped once");
	cr_assert_eq(atomic_load(&b.refs), 1);
	fire(p[1]);
	cr_assert(WAIT_FOR(cw_wakes(&a) == 1, 5000), "the old waker stays");
	drain(p[0]);
	cr_assert_eq(cw_wakes(&b), 0);
	/* with memory, it goes to a box and is the one woken */
	cr_assert_eq(lfr_reactor_set_waker(r, &wb, id), 0);
	fire(p[1]);
	cr_assert(WAIT_FOR(cw_wakes(&b) == 1, 5000));
	drain(p[0]);
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0);
	cr_assert(WAIT_FOR(atomic_load(&b.refs) == 1 &&
			   atomic_load(&a.refs) == 1 &&
			   atomic_load(&c.refs) == 1, 5000));
	cr_assert_eq(atomic_load(&b.drops), 2);
	cr_assert_eq(atomic_load(&a.misuse) + atomic_load(&b.misuse) +
		     atomic_load(&c.misuse), 0);
}

Test(errors, deregister_unknown_id_is_enoent_and_changes_nothing)
{
	lfr_id id = lfr_reactor_next_id(r), other = lfr_reactor_next_id(r);

	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, id), 0);
	cr_assert_eq(lfr_reactor_deregister(r, p[0], other), -ENOENT);
	cr_assert_eq(stats_of(r).registrations, 1, "id still registered");
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0);
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), -ENOENT, "twice");
}

Test(errors, deregister_with_another_fd_is_einval_and_changes_nothing)
{
	int q[2];
	lfr_id id = lfr_reactor_next_id(r);

	test_pipe(q);
	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, id), 0);
	cr_assert_eq(lfr_reactor_deregister(r, q[0], id), -EINVAL);
	cr_assert_eq(lfr_reactor_deregister(r, -1, id), -EINVAL);
	cr_assert_eq(stats_of(r).registrations, 1);
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), 0);
	close_pipe(q);
}

Test(errors, deregister_after_close_is_ebadf_but_removes_the_entry)
{
	struct lfr_waker w = lfr_waker_noop();
	int q[2];
	lfr_id id = lfr_reactor_next_id(r);

	test_pipe(q);
	cr_assert_eq(lfr_reactor_register(r, q[0], LFR_READABLE, id), 0);
	close_pipe(q);
	cr_assert_eq(lfr_reactor_deregister(r, q[0], id), -EBADF);
	cr_assert_eq(lfr_reactor_set_waker(r, &w, id), -ENOENT, "id gone");
	cr_assert_eq(stats_of(r).registrations, 0);
	cr_assert_eq(lfr_reactor_deregister(r, q[0], id), -ENOENT);
}

Test(errors, calls_after_shutdown_are_eshutdown_and_change_nothing)
{
	static struct counting_waker cw;
	struct lfr_waker w;
	lfr_id id = lfr_reactor_next_id(r), late = lfr_reactor_next_id(r);

	cw_init(&cw);
	w = cw_waker(&cw);
	cr_assert_eq(lfr_reactor_register(r, p[0], LFR_READABLE, id), 0);
	cr_assert_eq(lfr_reactor_set_waker(r, &w, id), 0);
	cr_assert_eq(lfr_reactor_shutdown(r), 0);
	cr_assert_eq(lfr_reactor_shutdown(r), -ESHUTDOWN, "once");
	cr_assert_eq(lfr_reactor_shutdown(NULL), -EINVAL);
	cr_assert_eq(lfr_reactor_set_waker(r, &w, id), -ESHUTDOWN);
	cr_assert_eq(lfr_reactor_deregister(r, p[0], id), -ESHUTDOWN);
	cr_assert_eq(lfr_reactor_register(r, p[1], LFR_WRITABLE, late), -ESHUTDOWN);
	cr_assert_eq(stats_of(r).registrations, 1, "nothing changed");
	cr_assert_neq(lfr_reactor_next_id(r), 0, "ids still come");
	fire(p[1]);
	sleep_ms(50);
	cr_assert_eq(cw_wakes(&cw), 0, "no poller runs after shutdown");
	cr_assert_str_neq(lfr_strerror(-ESHUTDOWN), "unknown error");
	/* teardown frees it: the waker is dropped there */
}

/* register A on a pipe, close it, and register B on the pipe that reuses
 * its numbers: A is orphaned */
Test(errors, deregister_of_orphaned_fd_is_ebadf_and_keeps_the_new_watch)
{
	static struct counting_waker cw;
	struct lfr_waker w;
	int q[2], q2[2], old_fd;
	lfr_id a = lfr_reactor_next_id(r), b;

	cw_init(&cw);
	w = cw_waker(&cw);
	test_pipe(q);
	old_fd = q[0];
	cr_assert_eq(lfr_reactor_register(r, q[0], LFR_READABLE, a), 0);
	close_pipe(q);
	test_pipe(q2);
	cr_assert_eq(q2[0], old_fd, "the lowest free number is reused");
	b = register_with_waker(r, q2[0], &w);

	cr_assert_eq(lfr_reactor_deregister(r, old_fd, a), -EBADF,
		     "A owns nothing since B took the number");
	cr_assert_eq(lfr_reactor_set_waker(r, &w, a), -ENOENT, "A is gone");
	cr_assert_eq(stats_of(r).registrations, 1, "B stays");
	fire(q2[1]);
	cr_assert(WAIT_FOR(cw_wakes(&cw) == 1, 5000), "B is still in epoll");
	cr_assert_eq(lfr_reactor_deregister(r, q2[0], b), 0);
	close_pipe(q2);
}

/* threads that close before they deregister, beside threads that do it
 * right on the same fd numbers */
#define CHURN_MS 1000
#define WAKE_TIMEOUT_MS 2000

struct churn {
	atomic_bool stop;
	atomic_int missed;       /* a correct thread's wake-up never came */
	atomic_int bad_dereg;    /* a correct thread's deregister failed */
	atomic_int setup_failed; /* pipe or register failed */
	atomic_long rounds;
};

static struct churn churn;

static void *closes_first(void *arg)
{
	(void)arg;
	while (!atomic_load(&churn.stop)) {
		int q[2];
		lfr_id id = lfr_reactor_next_id(r);

		if (pipe2(q, O_NONBLOCK | O_CLOEXEC) != 0 ||
		    lfr_reactor_register(r, q[0], LFR_READABLE, id) != 0) {
			atomic_fetch_add(&churn.setup_failed, 1);
			return NULL;
		}
		close_pipe(q);
		sched_yield(); /* let another thread take the numbers */
		lfr_reactor_deregister(r, q[0], id);
	}
	return NULL;
}

static void *does_it_right(void *arg)
{
	struct counting_waker *cw = arg;
	struct lfr_waker w = cw_waker(cw);
	int target = 0;

	while (!atomic_load(&churn.stop)) {
		int q[2];
		lfr_id id = lfr_reactor_next_id(r);

		if (pipe2(q, O_NONBLOCK | O_CLOEXEC) != 0 ||
		    lfr_reactor_register(r, q[0], LFR_READABLE, id) != 0 ||
		    lfr_reactor_set_waker(r, &w, id) != 0) {
			atomic_fetch_add(&churn.setup_failed, 1);
			return NULL;
		}
		target++;
		if (write(q[1], "x", 1) != 1) /* no cr_assert off the main thread */
			atomic_fetch_add(&churn.setup_failed, 1);
		if (!WAIT_FOR(cw_wakes(cw) >= target, WAKE_TIMEOUT_MS)) {
			atomic_fetch_add(&churn.missed, 1);
			target = cw_wakes(cw);
		}
		if (lfr_reactor_deregister(r, q[0], id) != 0)
			atomic_fetch_add(&churn.bad_dereg, 1);
		close_pipe(q);
		atomic_fetch_add(&churn.rounds, 1);
	}
	return NULL;
}

Test(errors, close_before_deregister_never_costs_others_a_wakeup,
     .timeout = 60)
{
	static struct counting_waker cws[2];
	pthread_t bad[2], good[2];
	int i;

	for (i = 0; i < 2; i++) {
		cw_init(&cws[i]);
		cr_assert_eq(pthread_create(&bad[i], NULL, closes_first, NULL), 0);
		cr_assert_eq(pthread_create(&good[i], NULL, does_it_right,
					    &cws[i]), 0);
	}
	sleep_ms(CHURN_MS);
	atomic_store(&churn.stop, true);
	for (i = 0; i < 2; i++) {
		pthread_join(bad[i], NULL);
		pthread_join(good[i], NULL);
	}
	cr_assert_eq(atomic_load(&churn.setup_failed), 0);
	cr_assert_eq(atomic_load(&churn.missed), 0,
		     "every correct registration's wake-up arrived (%ld rounds)",
		     atomic_load(&churn.rounds));
	cr_assert_eq(atomic_load(&churn.bad_dereg), 0);
	cr_assert_gt(atomic_load(&churn.rounds), 100, "the threads ran");
}

Test(errors, growing_the_fd_owner_array_fails_with_enomem_and_leaves_nothing)
{
	struct lfr_waker w = lfr_waker_noop();
	int high = 4000, fd;
	lfr_id id = lfr_reactor_next_id(r), warm = lfr_reactor_next_id(r);

	/* this thread's state on the table exists: the next allocation of
	 * a register is the array's growth */
	cr_assert_eq(lfr_reactor_register(r, p[1], LFR_WRITABLE, warm), 0);
	cr_assert_eq(lfr_reactor_deregister(r, p[1], warm), 0);
	fd = dup2(p[0], high);
	cr_assert_eq(fd, high, "dup2: %s", strerror(errno));
	lfr__hooks.fail_alloc_after = 0;
	cr_assert_eq(lfr_reactor_register(r, fd, LFR_READABLE, id), -ENOMEM);
	lfr__hooks.fail_alloc_after = -1;
	cr_assert_eq(lfr_reactor_set_waker(r, &w, id), -ENOENT, "no entry");
	cr_assert_eq(stats_of(r).registrations, 0);
	id = lfr_reactor_next_id(r);
	cr_assert_eq(lfr_reactor_register(r, fd, LFR_READABLE, id), 0,
		     "fd never entered epoll");
	cr_assert_eq(lfr_reactor_deregister(r, fd, id), 0);
	close(fd);
	assert_pipe_still_works();
}

/* Every size from the smallest to a newer header's: the config's fields
 * that lie wholly within size are read, the bytes past it never (they hold
 * values over every limit), and a newer caller's zero tail is accepted;
 * stats fill exactly the whole fields within size and nothing past them. */
Test(errors, every_config_and_stats_size_reads_and_writes_whole_fields_only)
{
	static const size_t ends[] = {
		END(struct lfr_reactor_config, pollers),
		END(struct lfr_reactor_config, events_per_poll),
		END(struct lfr_reactor_config, initial_buckets),
		END(struct lfr_reactor_config, max_registrations),
	};
	static const size_t st_ends[] = {
		END(struct lfr_reactor_stats, polls),
		END(struct lfr_reactor_stats, events),
		END(struct lfr_reactor_stats, wakes),
		END(struct lfr_reactor_stats, no_waker),
		END(struct lfr_reactor_stats, stale),
		END(struct lfr_reactor_stats, registrations),
		END(struct lfr_reactor_stats, buckets),
		END(struct lfr_reactor_stats, fd_error),
	};
	struct {
		struct lfr_reactor_config cfg;
		unsigned char tail[16];
	} c;
	struct {
		struct lfr_reactor_stats st;
		unsigned char tail[16];
	} s;
	unsigned char *cb = (unsigned char *)&c, *sb = (unsigned char *)&s;
	struct lfr_reactor *other;
	size_t size, i, want;

	for (size = LFR_REACTOR_CONFIG_SIZE_MIN; size <= sizeof(c); size++) {
		memset(&c, 0xff, sizeof(c));
		memset(&c.cfg, 0, size < sizeof(c.cfg) ? size : sizeof(c.cfg));
		if (size > sizeof(c.cfg)) /* a newer caller's unset fields */
			memset(c.tail, 0, size - sizeof(c.cfg));
		c.cfg.size = (uint32_t)size;
		/* the fields within size: valid values */
		for (i = 0; i < 4 && ends[i] <= size; i++) {
			if (i == 0)
				c.cfg.pollers = 2;
			else if (i == 1)
				c.cfg.events_per_poll = 8;
			else if (i == 2)
				c.cfg.initial_buckets = 64;
			else
				c.cfg.max_registrations = 1024;
		}
		other = NULL;
		cr_assert_eq(lfr_reactor_new(&c.cfg, &other), 0, "size %zu",
			     size);
		lfr_reactor_free(other);
		if (size > sizeof(c.cfg)) {
			cb[size - 1] = 1;
			cr_assert_eq(lfr_reactor_new(&c.cfg, &other), -E2BIG,
				     "size %zu", size);
		}
	}
	/* the largest size there is: a zero tail is fine, a set byte not */
	{
		static union {
			struct lfr_reactor_config cfg;
			struct lfr_reactor_stats st;
			unsigned char bytes[LFR_STRUCT_SIZE_MAX];
		} max;

		memset(&max, 0, sizeof(max));
		lfr_reactor_config_init(&max.cfg);
		max.cfg.size = LFR_STRUCT_SIZE_MAX;
		cr_assert_eq(lfr_reactor_new(&max.cfg, &other), 0);
		lfr_reactor_free(other);
		max.bytes[LFR_STRUCT_SIZE_MAX - 1] = 1;
		cr_assert_eq(lfr_reactor_new(&max.cfg, &other), -E2BIG);
		memset(&max, 0xa5, sizeof(max));
		max.st.size = LFR_STRUCT_SIZE_MAX;
		cr_assert_eq(lfr_reactor_stats(r, &max.st), 0);
		cr_assert_eq(max.st.size, sizeof(max.st));
		for (i = sizeof(max.st); i < sizeof(max); i++)
			cr_assert_eq(max.bytes[i], 0xa5, "byte %zu written", i);
	}
	for (size = LFR_REACTOR_STATS_SIZE_MIN; size <= sizeof(s); size++) {
		want = st_ends[0];
		for (i = 1; i < 8 && st_ends[i] <= size; i++)
			want = st_ends[i];
		memset(&s, 0xa5, sizeof(s));
		s.st.size = (uint32_t)size;
		cr_assert_eq(lfr_reactor_stats(r, &s.st), 0);
		cr_assert_eq(s.st.size, want, "size %zu", size);
		for (i = want; i < sizeof(s); i++)
			cr_assert_eq(sb[i], 0xa5, "size %zu: byte %zu written",
				     size, i);
	}
}
