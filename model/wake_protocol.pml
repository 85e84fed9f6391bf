/*
 * wake_protocol.pml - lfreactor's register / set_waker / dispatch /
 * deregister protocol (src/waker_table.c, src/reactor.c), with the
 * readiness hand-off and grace-period frees, checked exhaustively by spin.
 *
 * Spin explores every interleaving of sequentially consistent steps, which
 * is what the library's seq_cst operations give the Dekker pair
 * (publish-then-check in set_waker, record-then-load in dispatch).
 *
 * Entry 1 is registered under key 1; its fd fires up to twice; a setter
 * stores waker A then waker B; a deregister may race all of it and is then
 * followed by a second registration (entry 2, waker C) under a fresh key 2.
 * A poller dispatches; a reclaimer frees retired boxes and entries after a
 * grace period.
 *
 * Checked:
 *  - no box is woken after it was freed, no freed entry is read;
 *  - a stale event for key 1 never wakes entry 2's waker C;
 *  - no lost wake-up: without a deregister, an event fired after register
 *    wakes one of entry 1's wakers, however it races set_waker.
 *
 * Each broken variant must FAIL (make model-check checks that it does):
 *   -DNO_RECHECK  dispatch does not load the waker again after recording
 *   -DNO_READY    set_waker does not look at recorded readiness
 *   -DFREE_NOW    replaced boxes are freed at once, not after a grace period
 *   -DREUSE_KEY   the second registration reuses key 1
 */

#define NONE 0
#define A 1
#define B 2
#define C 3

#ifdef REUSE_KEY
#define KEY2 1
#else
#define KEY2 2
#endif

byte slot[3];         /* key -> entry linked in the table (0: none) */
bit in_epoll;         /* entry 1's fd is in epoll */
byte waker[3];        /* entry -> box stored */
bit ready[3];         /* entry -> readiness recorded while no box */
bit entry_freed[3];
bit box_freed[4];
byte wakes[4];        /* box -> wakes */

/* read-side sections, and how many times each reader left one */
bit poller_cs, setter_cs;
byte poller_exits, setter_exits;

/* retired objects, not yet taken by the reclaimer */
bit box_retired[4];
bit entry_retired;

chan epoll = [2] of { byte };   /* keys of events epoll_wait returned */
byte in_flight;                 /* fired, not yet dispatched */
bit registered, fired, dereg_ran, setter_done, firer_done, dereg_done;

inline wake(box)
{
	assert(!box_freed[box]);
	wakes[box]++
}

active proctype poller()
{
	byte key, e, w;
end:	do
	:: epoll ? key ->
		poller_cs = 1;           /* read lock, after epoll_wait */
		e = slot[key];
		if
		:: e == 0 -> skip        /* stale: counted, nobody woken */
		:: else ->
			assert(!entry_freed[e]);
			w = waker[e];
			if
			:: w != NONE -> wake(w)
			:: else ->
				ready[e] = 1;    /* record: fetch_or, seq_cst */
#ifndef NO_RECHECK
				w = waker[e];    /* then load, seq_cst */
				if
				:: w != NONE ->
					atomic { if
						 :: ready[e] -> ready[e] = 0; wake(w)
						 :: else -> skip
						 fi }
				:: else -> skip
				fi
#endif
			fi
		fi;
		poller_cs = 0;
		poller_exits++;
		in_flight--
	od
}

inline retire_box(box)
{
#ifdef FREE_NOW
	box_freed[box] = 1
#else
	box_retired[box] = 1
#endif
}

/* set_waker(key 1, box): one read-side section */
inline set_waker(box)
{
	setter_cs = 1;
	e = slot[1];
	if
	:: e == 0 -> skip                    /* -ENOENT */
	:: else ->
		assert(!entry_freed[e]);
		cur = waker[e];
		if
		:: cur == box -> skip        /* the same waker: no write */
		:: else ->
			atomic { cur = waker[e]; waker[e] = box };  /* xchg */
			if
			:: cur != NONE -> retire_box(cur)
			:: else -> skip
			fi;
#ifndef NO_READY
			if
			:: ready[e] ->               /* check: load, seq_cst */
				atomic { if
					 :: ready[e] -> ready[e] = 0; wake(box)
					 :: else -> skip
					 fi }
			:: else -> skip
			fi
#endif
		fi
	fi;
	setter_cs = 0;
	setter_exits++
}

active proctype setter()
{
	byte e, cur;
	registered;
	set_waker(A);
	set_waker(A);    /* the re-arm */
	set_waker(B);
	setter_done = 1
}

active proctype firer()
{
	registered;
	byte n;
	do
	:: atomic { in_epoll && n < 2 ->
		n++; in_flight++; epoll ! 1; fired = 1 }
	:: break
	od;
	firer_done = 1
}

active proctype deregisterer()
{
	registered;
	if
	:: skip
	:: dereg_ran = 1;
	   in_epoll = 0;                   /* epoll_ctl(DEL) first */
	   slot[1] = 0;                    /* then cds_lfht_del */
	   entry_retired = 1;
	   /* a new registration: entry 2 under KEY2, waker C; its own fd
	    * never fires, so any wake of C is a stale event misrouted */
	   waker[2] = C;
	   slot[KEY2] = 2
	fi;
	dereg_done = 1
}

/* takes what is retired, waits until every reader that was inside a
 * read-side section then has left it (synchronize_rcu), frees the batch */
active proctype reclaimer()
{
	bit ba, bb, en, p, s;
	byte pg, sg;
end:	do
	:: atomic { (box_retired[A] || box_retired[B] || entry_retired) ->
		ba = box_retired[A]; bb = box_retired[B]; en = entry_retired;
		box_retired[A] = 0; box_retired[B] = 0; entry_retired = 0;
		p = poller_cs; pg = poller_exits; s = setter_cs; sg = setter_exits }
		(!p || poller_exits != pg) && (!s || setter_exits != sg);
		atomic {
			if :: ba -> box_freed[A] = 1 :: else -> skip fi;
			if :: bb -> box_freed[B] = 1 :: else -> skip fi;
			if
			:: en -> entry_freed[1] = 1;
				/* the entry's last box goes with it */
				if
				:: waker[1] != NONE -> box_freed[waker[1]] = 1
				:: else -> skip
				fi
			:: else -> skip
			fi
		}
	od
}

active proctype checker()
{
	/* quiet: everyone done and every fired event dispatched */
	(setter_done && firer_done && dereg_done && in_flight == 0);
	assert(wakes[C] == 0);
	if
	:: fired && !dereg_ran -> assert(wakes[A] + wakes[B] > 0)
	:: else -> skip
	fi
}

init
{
	/* register: the entry is linked before epoll_ctl(ADD) */
	slot[1] = 1;
	in_epoll = 1;
	registered = 1
}
