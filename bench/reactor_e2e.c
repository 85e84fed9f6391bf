/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * reactor_e2e - events end to end through epoll, and registration churn.
 *
 * F eventfds, each owned by a task on one of E executor threads.  A firer
 * thread writes to every idle eventfd (stamping the time); the reactor's
 * poller wakes the task's waker, which records write-to-wake latency and
 * pushes the task onto its executor's ready queue (wait-free, with a
 * futex to park); the executor reads the eventfd, re-arms with set_waker
 * (the same waker again) and marks it idle.  Closed loop: F events in
 * flight at most.
 *
 * Reactors, in the same harness:
 *   lfreactor  this library's public API, one poller thread
 *   seed       the seed's design: epoll thread + one mutex around a chained
 *              map; set_waker is HashMap::insert(id, waker.clone()), the
 *              poller locks the map for each event
 *   epoll      raw epoll with the task pointer in epoll_data: no table, no
 *              set_waker; the ceiling for dispatch
 *   libevent   an event_base (evthread_use_pthreads) looping in the poller
 *              thread; each task's event is EV_READ|EV_ET, not persistent,
 *              so executors re-arm it with event_add from their threads
 *              (the cross-thread re-arm a C user would write today)
 *
 * Churn: T threads each register and deregister an eventfd under a fresh id
 * as fast as they can; lfreactor and seed against raw epoll_ctl ADD/DEL.
 *
 * Each run has its own latency histograms (hist_set, common.h), freed when
 * it ends.  The sweep, medians, tables, CSV and plot: harness.h.
 */
#include "config.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <urcu/wfcqueue.h>
#ifdef HAVE_LIBEVENT
#include <event2/event.h>
#include <event2/thread.h>
#endif

#include "common.h"
#include "harness.h"
#include "baselines/maps.h"

enum { IDLE, FIRED };

struct executor;
struct e2e;

/* what an executor stores when it re-arms a conn */
enum rearm {
	REARM_SAME,          /* the same waker (events) */
	REARM_OTHER_VTABLE,  /* the task behind the other vtable (events-new) */
	REARM_SAME_VTABLE,   /* the task behind another data pointer */
};

struct conn {
	_Alignas(64) int fd;
	lfr_id id;
	atomic_int state;
	atomic_long refs;            /* clones held by the reactor */
	_Atomic uint64_t fired_at;
	const struct lfr_waker_vtable *vtable;
	bool other;                  /* events-new: arm with the other waker */
	bool tagged;                 /* events-swap: arm with the tagged one */
	void *lev;                   /* libevent: the task's struct event */
	struct executor *owner;
	struct e2e *run;             /* its histograms */
	struct cds_wfcq_node qnode;
};

struct executor {
	_Alignas(64) struct __cds_wfcq_head head;
	_Alignas(64) struct cds_wfcq_tail tail;
	_Alignas(64) atomic_int sleeping;
	struct e2e *run;
	pthread_t thread;
	uint64_t consumed;
	int errors;
};

struct design;
struct e2e {
	const struct design *d;
	int nconns, nexec;       /* conns owned by executors, executors */
	int total;               /* conns registered (a probe may follow) */
	struct conn *conns;
	struct executor *execs;
	atomic_bool stop;
	enum rearm rearm;            /* which waker each re-arm stores */
	/* lfreactor */
	struct lfr_reactor *reactor;
	/* seed and epoll: our own poller */
	int epfd, stopfd;
	pthread_t poller;
	void *map;
	void *base;                  /* libevent */
	atomic_uint_fast64_t next_id;
	struct hist_set lat;         /* write-to-wake, per waking thread */
};

struct design {
	const char *name;
	int (*start)(struct e2e *);
	void (*stop)(struct e2e *);
	int (*reg)(struct e2e *, int fd, lfr_id id, void *conn);
	int (*arm)(struct e2e *, struct conn *);
	int (*dereg)(struct e2e *, int fd, lfr_id id, struct conn *c);
};

/* ---- the task's waker ------------------------------------------------------ */

static long futex(atomic_int *addr, int op, int val)
{
	return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

/* A conn's waker data is the conn's address, or (events-swap) that
 * address with its low bit set: another waker of the same vtable for the
 * same task.  Conns are 64-byte aligned. */
static struct conn *conn_of(void *data)
{
	return (struct conn *)((uintptr_t)data & ~(uintptr_t)1);
}

static void conn_wake_by_ref(void *data)
{
	struct conn *c = conn_of(data);
	struct executor *ex = c->owner;
	uint64_t fired = atomic_load_explicit(&c->fired_at, memory_order_relaxed);

	if (fired)
		hist_add(hist_set_mine(&c->run->lat), now_ns() - fired);
	atomic_store_explicit(&c->fired_at, 0, memory_order_relaxed);
	cds_wfcq_node_init(&c->qnode);
	cds_wfcq_enqueue(&ex->head, &ex->tail, &c->qnode);
	/* pairs with the executor's store of sleeping, then queue check */
	if (atomic_load(&ex->sleeping) && atomic_exchange(&ex->sleeping, 0))
		futex(&ex->sleeping, FUTEX_WAKE_PRIVATE, 1);
}

static struct lfr_waker conn_clone(void *data);
static void conn_drop(void *data)
{
	struct conn *c = conn_of(data);

	atomic_fetch_sub_explicit(&c->refs, 1, memory_order_release);
}
static void conn_wake(void *data)
{
	conn_wake_by_ref(data);
	conn_drop(data);
}
static const struct lfr_waker_vtable conn_vtable = {
	conn_clone, conn_wake, conn_wake_by_ref, conn_drop,
};
static struct lfr_waker conn_clone(void *data)
{
	struct conn *c = conn_of(data);

	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return (struct lfr_waker){ &conn_vtable, data };
}

/* The same task behind another vtable: not will_wake() the first, so
 * alternating the two makes every re-arm store a new waker. */
static struct lfr_waker conn_clone_other(void *data);
static const struct lfr_waker_vtable conn_vtable_other = {
	conn_clone_other, conn_wake, conn_wake_by_ref, conn_drop,
};
static struct lfr_waker conn_clone_other(void *data)
{
	struct conn *c = conn_of(data);

	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return (struct lfr_waker){ &conn_vtable_other, c };
}

/* the waker an executor re-arms c with */
static struct lfr_waker conn_waker(struct conn *c)
{
	return (struct lfr_waker){ c->other ? &conn_vtable_other : c->vtable,
				   (void *)((uintptr_t)c | c->tagged) };
}

/* ---- lfreactor ---------------------------------------------------------- */

static int lfr_start(struct e2e *run)
{
	return lfr_reactor_new(NULL, &run->reactor);
}
static void lfr_stop(struct e2e *run)
{
	lfr_reactor_free(run->reactor);
}
static int lfr_reg(struct e2e *run, int fd, lfr_id id, void *conn)
{
	(void)conn;
	return lfr_reactor_register(run->reactor, fd, LFR_READABLE, id);
}
static int lfr_arm(struct e2e *run, struct conn *c)
{
	struct lfr_waker w = conn_waker(c);

	return lfr_reactor_set_waker(run->reactor, &w, c->id);
}
static int lfr_dereg(struct e2e *run, int fd, lfr_id id, struct conn *c)
{
	(void)c;
	return lfr_reactor_deregister(run->reactor, fd, id);
}
static const struct design d_lfreactor = {
	"lfreactor", lfr_start, lfr_stop, lfr_reg, lfr_arm, lfr_dereg,
};

/* ---- our own poller, for the seed and raw epoll --------------------------- */

static void *seed_poller(void *arg);
static void *epoll_poller(void *arg);

static int own_start(struct e2e *run, void *(*fn)(void *))
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };

	run->epfd = epoll_create1(EPOLL_CLOEXEC);
	run->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (run->epfd < 0 || run->stopfd < 0 ||
	    epoll_ctl(run->epfd, EPOLL_CTL_ADD, run->stopfd, &ev) < 0)
		return -errno;
	return -pthread_create(&run->poller, NULL, fn, run);
}

static void own_stop(struct e2e *run)
{
	uint64_t one = 1;

	if (write(run->stopfd, &one, sizeof(one)) != sizeof(one))
		abort();
	pthread_join(run->poller, NULL);
	close(run->epfd);
	close(run->stopfd);
}

static int own_add(struct e2e *run, int fd, uint64_t data)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = data };

	return epoll_ctl(run->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int own_del(struct e2e *run, int fd)
{
	return epoll_ctl(run->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

/* the seed's event loop: for each event, lock the map, find, wake */
static void *seed_poller(void *arg)
{
	struct e2e *run = arg;
	struct epoll_event evs[256];

	for (;;) {
		int n = epoll_wait(run->epfd, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == 0)
				return NULL;
			map_seed.wake(run->map, evs[i].data.u64);
		}
	}
}

static int seed_start(struct e2e *run)
{
	run->map = map_seed.create((unsigned long)run->nconns * 2 + 64);
	return own_start(run, seed_poller);
}
static void seed_stop(struct e2e *run)
{
	own_stop(run);
	map_seed.destroy(run->map);
}
static int seed_reg(struct e2e *run, int fd, lfr_id id, void *conn)
{
	(void)conn;
	return own_add(run, fd, id);
}
static int seed_arm(struct e2e *run, struct conn *c)
{
	struct lfr_waker w = conn_waker(c);

	return seed_map_upsert(run->map, &w, c->id);
}
static int seed_dereg(struct e2e *run, int fd, lfr_id id, struct conn *c)
{
	int ret = map_seed.remove(run->map, id);

	(void)c;
	/* the seed removes the waker first, then deregisters the fd */
	return own_del(run, fd) ? -EBADF : ret == -ENOENT ? 0 : ret;
}
static const struct design d_seed = {
	"seed", seed_start, seed_stop, seed_reg, seed_arm, seed_dereg,
};

/* raw epoll: the handler pointer is the event's data */
static void *epoll_poller(void *arg)
{
	struct e2e *run = arg;
	struct epoll_event evs[256];

	for (;;) {
		int n = epoll_wait(run->epfd, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c == NULL)
				return NULL;
			c->vtable->wake_by_ref(c);
		}
	}
}
static int epoll_start(struct e2e *run)
{
	return own_start(run, epoll_poller);
}
static int epoll_reg(struct e2e *run, int fd, lfr_id id, void *conn)
{
	/* churn has no conn: any non-NULL word will do */
	return own_add(run, fd, conn ? (uint64_t)(uintptr_t)conn : id);
}
static int epoll_arm(struct e2e *run, struct conn *c)
{
	(void)run;
	(void)c;
	return 0;
}
static int epoll_dereg(struct e2e *run, int fd, lfr_id id, struct conn *c)
{
	(void)id;
	(void)c;
	return own_del(run, fd);
}
static const struct design d_epoll = {
	"epoll", epoll_start, own_stop, epoll_reg, epoll_arm, epoll_dereg,
};

#ifdef HAVE_LIBEVENT
static void lev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	c->vtable->wake_by_ref(c);
}

static void *lev_poller(void *arg)
{
	struct e2e *run = arg;

	event_base_loop(run->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static int lev_start(struct e2e *run)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, (void (*)(void))evthread_use_pthreads);
	run->base = event_base_new();
	if (!run->base)
		return -ENOMEM;
	return -pthread_create(&run->poller, NULL, lev_poller, run);
}

static void lev_stop(struct e2e *run)
{
	event_base_loopbreak(run->base);
	pthread_join(run->poller, NULL);
	event_base_free(run->base);
}

/* churn registers with no task: the thread's one event lives here */
static __thread struct event *churn_event;

static int lev_reg(struct e2e *run, int fd, lfr_id id, void *conn)
{
	struct conn *c = conn;
	struct event *ev = event_new(run->base, fd, EV_READ | EV_ET, lev_cb, c);

	(void)id;
	if (!ev)
		return -ENOMEM;
	if (c)
		c->lev = ev;
	else
		churn_event = ev;
	return event_add(ev, NULL) ? -EINVAL : 0;
}

static int lev_arm(struct e2e *run, struct conn *c)
{
	(void)run;
	return event_add(c->lev, NULL) ? -EINVAL : 0;
}

static int lev_dereg(struct e2e *run, int fd, lfr_id id, struct conn *c)
{
	struct event *ev = c ? c->lev : churn_event;

	(void)run;
	(void)fd;
	(void)id;
	if (!ev)
		return -ENOENT;
	event_free(ev); /* deletes it first */
	if (c)
		c->lev = NULL;
	else
		churn_event = NULL;
	return 0;
}

static const struct design d_libevent = {
	"libevent", lev_start, lev_stop, lev_reg, lev_arm, lev_dereg,
};
#endif

static const struct design *designs[] = {
	&d_lfreactor, &d_seed, &d_epoll,
#ifdef HAVE_LIBEVENT
	&d_libevent,
#endif
};
#define NDESIGNS (int)(sizeof(designs) / sizeof(designs[0]))

/* ---- executors and the firer ------------------------------------------------ */

static void *executor_main(void *arg)
{
	struct executor *ex = arg;
	struct e2e *run = ex->run;

	while (!atomic_load_explicit(&run->stop, memory_order_relaxed)) {
		struct cds_wfcq_node *n =
			__cds_wfcq_dequeue_blocking(&ex->head, &ex->tail);
		struct conn *c;
		uint64_t v;

		if (!n) {
			/* park: announce, re-check, sleep; the waker's
			 * exchange on sleeping pairs with this */
			atomic_store(&ex->sleeping, 1);
			if (!cds_wfcq_empty(&ex->head, &ex->tail) ||
			    atomic_load(&run->stop)) {
				atomic_store(&ex->sleeping, 0);
				continue;
			}
			futex(&ex->sleeping, FUTEX_WAIT_PRIVATE, 1);
			continue;
		}
		c = caa_container_of(n, struct conn, qnode);
		if (read(c->fd, &v, sizeof(v)) != sizeof(v))
			ex->errors++;
		if (run->rearm == REARM_OTHER_VTABLE)
			c->other = !c->other;
		else if (run->rearm == REARM_SAME_VTABLE)
			c->tagged = !c->tagged;
		ex->errors += run->d->arm(run, c) != 0;
		atomic_store_explicit(&c->state, IDLE, memory_order_release);
		ex->consumed++;
	}
	return NULL;
}

static void *firer_main(void *arg)
{
	struct e2e *run = arg;
	uint64_t one = 1;
	int i = 0;

	while (!atomic_load_explicit(&run->stop, memory_order_relaxed)) {
		int fired = 0;

		for (int n = 0; n < run->nconns; n++, i = (i + 1) % run->nconns) {
			struct conn *c = &run->conns[i];
			int idle = IDLE;

			if (!atomic_compare_exchange_strong(&c->state, &idle, FIRED))
				continue;
			atomic_store_explicit(&c->fired_at, now_ns(),
					      memory_order_relaxed);
			if (write(c->fd, &one, sizeof(one)) != sizeof(one))
				abort();
			fired++;
		}
		if (!fired)
			sched_yield();
	}
	return NULL;
}

/* the metrics of one run, in the harness's order (metrics[] below) */
enum { EVENTS_PER_S, PAIRS_PER_S, PROBES_PER_S, P50_NS, P99_NS, P999_NS,
       NMETRICS };


/* The probe's waker: records write-to-wake latency and tells the prober. */
static atomic_bool probe_woken;
static struct lfr_waker probe_clone(void *data);
static void probe_wake_by_ref(void *data)
{
	struct conn *c = data;
	uint64_t fired = atomic_exchange(&c->fired_at, 0);

	if (fired)
		hist_add(hist_set_mine(&c->run->lat), now_ns() - fired);
	atomic_store_explicit(&probe_woken, true, memory_order_release);
}
static void probe_wake(void *data)
{
	probe_wake_by_ref(data);
	conn_drop(data);
}
static const struct lfr_waker_vtable probe_vtable = {
	probe_clone, probe_wake, probe_wake_by_ref, conn_drop,
};
static struct lfr_waker probe_clone(void *data)
{
	struct conn *c = data;

	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return (struct lfr_waker){ &probe_vtable, c };
}


static lfr_id take_id(struct e2e *run)
{
	return run->d == &d_lfreactor ? lfr_reactor_next_id(run->reactor)
				      : atomic_fetch_add(&run->next_id, 1);
}

/* Starts design d with nconns tasks (the first `owned` spread over nexec
 * executors), each an eventfd registered and armed with vtable. */
static void setup(struct e2e *run, const struct design *d, int nexec,
		  int nconns, int owned)
{
	memset(run, 0, sizeof(*run));
	run->d = d;
	run->nexec = nexec;
	run->nconns = owned;
	run->total = nconns;
	atomic_init(&run->next_id, 1);
	hist_set_init(&run->lat);
	run->conns = aligned_alloc(64, sizeof(*run->conns) * (size_t)nconns);
	run->execs = aligned_alloc(64, sizeof(*run->execs) * (size_t)nexec);
	memset(run->conns, 0, sizeof(*run->conns) * (size_t)nconns);
	memset(run->execs, 0, sizeof(*run->execs) * (size_t)nexec);
	if (d->start(run)) {
		fprintf(stderr, "%s: start failed\n", d->name);
		exit(1);
	}
	for (int e = 0; e < nexec; e++) {
		run->execs[e].run = run;
		__cds_wfcq_init(&run->execs[e].head, &run->execs[e].tail);
	}
	for (int i = 0; i < nconns; i++) {
		struct conn *c = &run->conns[i];

		c->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		c->id = take_id(run);
		c->owner = i < owned ? &run->execs[i % nexec] : NULL;
		c->run = run;
		c->vtable = i < owned ? &conn_vtable : &probe_vtable;
		if (c->fd < 0 || d->reg(run, c->fd, c->id, c) || d->arm(run, c)) {
			fprintf(stderr, "%s: setup failed (fds: ulimit -n?)\n",
				d->name);
			exit(1);
		}
	}
}

/* undoes setup; errors from earlier steps are added in, and any ends it.
 * The latencies are taken once the design has stopped: no thread records
 * into the run's histograms any more. */
static void teardown(struct e2e *run, int errors, const char *mode,
		     struct hist *lat)
{
	for (int i = 0; i < run->total; i++) {
		struct conn *c = &run->conns[i];

		errors += run->d->dereg(run, c->fd, c->id, c) != 0;
		close(c->fd);
	}
	run->d->stop(run);
	hist_set_finish(&run->lat, lat);
	if (errors) {
		fprintf(stderr, "%s %s: %d errors\n", run->d->name, mode, errors);
		exit(1);
	}
	free(run->conns);
	free(run->execs);
}

static void quantiles(const struct hist *h, double *out)
{
	out[P50_NS] = (double)hist_quantile(h, 0.50);
	out[P99_NS] = (double)hist_quantile(h, 0.99);
	out[P999_NS] = (double)hist_quantile(h, 0.999);
}

static void run_events(const struct design *d, int nexec, int nconns,
		       enum rearm rearm, double seconds, double *out)
{
	struct e2e run;
	struct hist h;
	pthread_t firer;
	uint64_t total = 0;
	double t0, elapsed;
	int errors = 0;

	setup(&run, d, nexec, nconns, nconns);
	run.rearm = rearm;
	for (int e = 0; e < nexec; e++)
		pthread_create(&run.execs[e].thread, NULL, executor_main,
			       &run.execs[e]);
	pthread_create(&firer, NULL, firer_main, &run);
	t0 = now_sec();
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&run.stop, true);
	elapsed = now_sec() - t0;
	pthread_join(firer, NULL);
	for (int e = 0; e < nexec; e++) {
		atomic_store(&run.execs[e].sleeping, 0);
		futex(&run.execs[e].sleeping, FUTEX_WAKE_PRIVATE, 1);
		pthread_join(run.execs[e].thread, NULL);
		total += run.execs[e].consumed;
		errors += run.execs[e].errors;
	}
	teardown(&run, errors, "events", &h);
	out[EVENTS_PER_S] = (double)total / elapsed;
	quantiles(&h, out);
}

/* ---- latency under re-arming executors --------------------------------------- */

/* an executor whose tasks keep re-arming: set_waker on each in turn */
static void *rearm_main(void *arg)
{
	struct executor *ex = arg;
	struct e2e *run = ex->run;
	int index = (int)(ex - run->execs);

	while (!atomic_load_explicit(&run->stop, memory_order_relaxed))
		for (int i = index; i < run->nconns; i += run->nexec)
			ex->errors += run->d->arm(run, &run->conns[i]) != 0;
	return NULL;
}

static void run_latency(const struct design *d, int nexec, int nconns,
			double seconds, double *out)
{
	struct e2e run;
	struct conn *probe;
	struct timespec gap = { 0, 50000 };
	struct hist h;
	uint64_t one = 1, v, probes = 0;
	double t0, elapsed;
	int errors = 0;

	/* the last conn is the probe, owned by nobody */
	setup(&run, d, nexec, nconns + 1, nconns);
	probe = &run.conns[nconns];
	for (int e = 0; e < nexec; e++)
		pthread_create(&run.execs[e].thread, NULL, rearm_main,
			       &run.execs[e]);
	t0 = now_sec();
	while (now_sec() - t0 < seconds) {
		uint64_t deadline;

		nanosleep(&gap, NULL);
		atomic_store(&probe_woken, false);
		atomic_store(&probe->fired_at, now_ns());
		if (write(probe->fd, &one, sizeof(one)) != sizeof(one))
			abort();
		deadline = now_ns() + 1000000000ull;
		while (!atomic_load_explicit(&probe_woken, memory_order_acquire)) {
			if (now_ns() > deadline) {
				fprintf(stderr, "%s: probe lost\n", d->name);
				exit(1);
			}
			sched_yield();
		}
		if (read(probe->fd, &v, sizeof(v)) != sizeof(v))
			errors++;
		errors += d->arm(&run, probe) != 0;
		probes++;
	}
	elapsed = now_sec() - t0;
	atomic_store(&run.stop, true);
	for (int e = 0; e < nexec; e++) {
		pthread_join(run.execs[e].thread, NULL);
		errors += run.execs[e].errors;
	}
	teardown(&run, errors, "latency", &h);
	out[PROBES_PER_S] = (double)probes / elapsed;
	quantiles(&h, out);
}

/* ---- registration churn ---------------------------------------------------- */

struct churner {
	struct e2e *run;
	pthread_barrier_t *start;
	uint64_t pairs;
	int errors;
};

static void *churn_main(void *arg)
{
	struct churner *ch = arg;
	struct e2e *run = ch->run;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	pthread_barrier_wait(ch->start);
	while (!atomic_load_explicit(&run->stop, memory_order_relaxed)) {
		for (int n = 0; n < 64; n++) {
			lfr_id id = take_id(run);

			ch->errors += run->d->reg(run, fd, id, NULL) != 0;
			ch->errors += run->d->dereg(run, fd, id, NULL) != 0;
		}
		ch->pairs += 64;
	}
	close(fd);
	return NULL;
}

static double run_churn(const struct design *d, int threads, double seconds)
{
	struct e2e run = { .d = d, .nconns = 64 };
	struct churner ch[BENCH_MAX_THREADS];
	pthread_t t[BENCH_MAX_THREADS];
	pthread_barrier_t start;
	uint64_t total = 0;
	double t0, elapsed;
	int errors = 0;

	atomic_init(&run.next_id, 1);
	if (d->start(&run))
		exit(1);
	pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
	for (int i = 0; i < threads; i++) {
		ch[i] = (struct churner){ &run, &start, 0, 0 };
		pthread_create(&t[i], NULL, churn_main, &ch[i]);
	}
	pthread_barrier_wait(&start);
	t0 = now_sec();
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&run.stop, true);
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		total += ch[i].pairs;
		errors += ch[i].errors;
	}
	elapsed = now_sec() - t0;
	d->stop(&run);
	pthread_barrier_destroy(&start);
	if (errors) {
		fprintf(stderr, "%s churn: %d errors\n", d->name, errors);
		exit(1);
	}
	return (double)total / elapsed;
}

/* ---- main ----------------------------------------------------------------------- */

enum mode { EVENTS, EVENTS_NEW, EVENTS_SWAP, LATENCY, CHURN, NMODES };

struct ctx {
	int nconns;
};

static void run(void *arg, int design, int mode, int threads, double seconds,
		double *out)
{
	const struct ctx *ctx = arg;

	switch ((enum mode)mode) {
	case EVENTS:
	case EVENTS_NEW:
	case EVENTS_SWAP:
		run_events(designs[design], threads, ctx->nconns,
			   mode == EVENTS_NEW    ? REARM_OTHER_VTABLE
			   : mode == EVENTS_SWAP ? REARM_SAME_VTABLE
						 : REARM_SAME,
			   seconds, out);
		break;
	case LATENCY:
		run_latency(designs[design], threads, ctx->nconns, seconds, out);
		break;
	default:
		out[PAIRS_PER_S] = run_churn(designs[design], threads, seconds);
		break;
	}
}

/* besides the E executors: the poller and the firer (events), the poller
 * and the prober (latency); churn's poller has nothing to wait for */
static const struct bench_workload workloads[NMODES] = {
	[EVENTS] = { "events", "E executors consume and re-arm every eventfd "
		     "a firer writes (closed loop; latency includes queueing)",
		     0, false, 2 },
	[EVENTS_NEW] = { "events-new", "the same, each re-arm with a new "
			 "waker (the same task behind the other of two "
			 "vtables); epoll and libevent re-arm as in events",
			 0, false, 2 },
	[EVENTS_SWAP] = { "events-swap", "the same, each re-arm with a new "
			  "waker of the same vtable (the task behind a second "
			  "data pointer); epoll and libevent re-arm as in "
			  "events", 0, false, 2 },
	[LATENCY] = { "latency", "write-to-wake of a probe fired every 50 us "
		      "while E executors re-arm their tasks", 0, false, 2 },
	[CHURN] = { "churn", "E threads register and deregister an eventfd "
		    "under a fresh id", 0, false, 0 },
};

#define IN(m) (1u << (m))
static const struct bench_metric metrics[NMETRICS] = {
	[EVENTS_PER_S] = { "events_per_s", "M events/s", 1e6, 3,
			   BENCH_RATIO | BENCH_SPREAD, IN(EVENTS) | IN(EVENTS_NEW) | IN(EVENTS_SWAP) },
	[PAIRS_PER_S] = { "pairs_per_s", "M reg+dereg/s", 1e6, 3,
			  BENCH_RATIO | BENCH_SPREAD, IN(CHURN) },
	[PROBES_PER_S] = { "probes_per_s", "probes/s", 1, 0, 0, IN(LATENCY) },
	[P50_NS] = { "p50_ns", "p50 us", 1e3, 1, 0,
		     IN(EVENTS) | IN(EVENTS_NEW) | IN(EVENTS_SWAP) | IN(LATENCY) },
	[P99_NS] = { "p99_ns", "p99 us", 1e3, 1, BENCH_RATIO | BENCH_SPREAD,
		     IN(EVENTS) | IN(EVENTS_NEW) | IN(EVENTS_SWAP) | IN(LATENCY) },
	[P999_NS] = { "p999_ns", "p99.9 us", 1e3, 1, 0,
		      IN(EVENTS) | IN(EVENTS_NEW) | IN(EVENTS_SWAP) | IN(LATENCY) },
};

static const struct bench_panel panels[] = {
	{ EVENTS, EVENTS_PER_S, false, "events/s (executors consume and re-arm)",
	  "M events/s", 1e6, false, false, NULL },
	{ EVENTS_NEW, EVENTS_PER_S, false,
	  "events/s, a new waker every re-arm", "M events/s", 1e6, false,
	  false, NULL },
	{ EVENTS_SWAP, EVENTS_PER_S, false,
	  "events/s, a new waker of the same vtable every re-arm",
	  "M events/s", 1e6, false, false, NULL },
	{ LATENCY, P99_NS, false, "write-to-wake p99 while executors re-arm",
	  "microseconds", 1e3, true, false, NULL },
	{ LATENCY, P50_NS, false, "write-to-wake p50 while executors re-arm",
	  "microseconds", 1e3, true, false, NULL },
	{ CHURN, PAIRS_PER_S, false, "register+deregister/s", "M pairs/s", 1e6,
	  false, false, NULL },
};

int main(int argc, char **argv)
{
	const char *names[NDESIGNS];
	const char *env = getenv("LFR_BENCH_FDS");
	struct ctx ctx = { env ? atoi(env) : 4096 };
	char describe[256];
	struct bench_opts o;
	struct bench_spec spec = {
		.program = "reactor_e2e",
		.describe = describe,
		.designs = names,
		.ndesigns = NDESIGNS,
		.baseline = "seed",
		.reference = "epoll",
		.workloads = workloads,
		.nworkloads = NMODES,
		.metrics = metrics,
		.nmetrics = NMETRICS,
		.xname = "threads",
		.run = run,
		.ctx = &ctx,
		.panels = panels,
		.npanels = (int)(sizeof(panels) / sizeof(panels[0])),
		.plot_cols = 2,
		.plot_title = "end to end through epoll (eventfds)",
		.plot_xlabel = "threads",
	};

	for (int d = 0; d < NDESIGNS; d++)
		names[d] = designs[d]->name;
	bench_parse(&o, argc, argv, false,
		    "Modes: events (throughput), events-new (the same, a new waker\n"
		    "of the other vtable every re-arm), events-swap (a new waker\n"
		    "of the same vtable every re-arm), latency (a probe fired every\n"
		    "50 us while executors re-arm), churn.  --only seed/latency\n"
		    "LFR_BENCH_FDS sets the number of eventfds (default 4096).\n");
	if (o.quick && !env)
		ctx.nconns = 256;
	if (ctx.nconns < 1) {
		fprintf(stderr, "reactor_e2e: LFR_BENCH_FDS=%s: want 1 or more\n",
			env);
		return 2;
	}
	snprintf(describe, sizeof(describe),
		 "%d eventfds, 1 poller; latency is write-to-wake, the lower "
		 "bound of a bucket about 6%% wide", ctx.nconns);
	bench_sweep(&spec, &o);
	return 0;
}
