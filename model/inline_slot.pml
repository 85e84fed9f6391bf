/*
 * inline_slot.pml - an entry's inline waker slot (src/waker_table.c:
 * inline_swap, current_waker, lfr__table_set_waker, lfr__table_dispatch,
 * drop_item): swaps of its data by compare-and-swap racing a move to a box
 * that closes the slot, with dispatch and grace-period drops, checked
 * exhaustively by spin.
 *
 * Spin explores every interleaving of sequentially consistent steps; the
 * library's exchanges and compare-and-swaps are seq_cst, and a reader that
 * loads the closed marker (acquire) sees the box exchange that came first.
 *
 * One entry whose pointer already names its inline slot (vtable V, data:
 * waker reference X, from its first set_waker; model/wake_protocol.pml
 * checks that one against a recorded event).  Two setters swap in a new
 * reference of vtable V (S1, S2); a third (B) installs one of vtable W,
 * which takes a box.  A poller dispatches once; a deregister retires the
 * entry at any point (later lookups miss it); a reclaimer drops each
 * retired batch once every read-side section open when it took the batch
 * has ended (setters' sections too: they read boxes).  A box is named by
 * the reference it holds: each reference lives in one place.  Each step
 * makes one access to shared memory; an item is retired in the step that
 * unlinked it, as its grace period starts after that.
 *
 * Checked:
 *  - every reference is dropped exactly once: none twice, none left when
 *    all calls ended and everything retired was dropped;
 *  - no reference is woken, no box or entry read, after its drop;
 *  - dispatch never wakes the closed marker, nobody retires it;
 *  - the pointer never names the inline slot again after leaving it
 *    (asserted at each exchange of the pointer).
 *
 * Each broken variant must FAIL (make model-check checks that it does):
 *   -DNO_CLOSE    the box setter reads the slot's data instead of
 *                 exchanging it for the marker
 *   -DSWAP_XCHG   the swap exchanges the data unconditionally, so it can
 *                 write into a closed slot
 *   -DNO_RELOAD   dispatch wakes the data it read, the marker included
 *   -DDROP_NOW    a replaced reference is dropped at once, not after a
 *                 grace period
 */

#define INL    0      /* the pointer names the inline slot */
#define X      1      /* the references: X in the slot at the start, */
#define R1     2      /* S1's, */
#define R2     3      /* S2's, */
#define RB     4      /* B's; a pointer holding one names its box */
#define CLOSED 5      /* the inline slot's marker */
#define NREFS  5

#define V 0           /* the inline slot's vtable, S1's and S2's */
#define W 1           /* B's */

#define ENTRY 32      /* the entry's bit in a retired batch */

byte ptr = INL;       /* the entry's waker pointer */
byte data = X;        /* the inline slot's data */
bit inline_used = 1;  /* ENTRY_INLINE_USED: the slot was claimed */
bit left;             /* the pointer left the slot */
bit removed, entry_freed;

bit made[NREFS];      /* cloned (X was, before the race) */
#define MADE(r) (r == X || made[r])
bit dropped[NREFS];

/* read-side sections (one bit per reader), and those the reclaimer waits
 * for: a reader leaving its section clears its bit in both */
byte cs, waiting;
byte retired;         /* retired, not yet taken: a bit per reference, ENTRY */
bit reclaiming;       /* the reclaimer holds a batch */
byte done;            /* callers finished */

/* leaves the read-side section; the caller is done */
inline leave(me)
{
	atomic {
		cs = cs & ~me; waiting = waiting & ~me; done++;
		cur = 0; d = 0; w = 0; ok = 0
	}
}

inline drop(r)
{
	assert(r != CLOSED && !dropped[r]);
	dropped[r] = 1
}

/* in the step that unlinked r: the grace period starts after it */
inline retire(r)
{
	assert(r != CLOSED && MADE(r));
#ifdef DROP_NOW
	drop(r)
#else
	retired = retired | (1 << r)
#endif
}

inline wake(r)
{
	assert(r != CLOSED && !dropped[r])
}

/* set_waker(ref, of vtable vt) by the reader whose bit is me */
inline set_waker(me, vt, ref)
{
	atomic {
		cs = cs | me;                       /* read lock, lookup */
		if
		:: removed -> ok = 1                /* -ENOENT */
		:: else ->
			assert(!entry_freed);
			made[ref] = 1;              /* the clone */
			cur = ptr;
			/* the same-waker test reads a box's waker */
			assert(cur == INL || !dropped[cur])
		fi
	};
	if
	:: ok -> skip
	:: !ok && cur == INL && vt == V ->          /* inline_swap */
#ifdef SWAP_XCHG
		atomic { d = data; data = ref; retire(d); ok = 1 }
#else
		d = data;
		do
		:: d == CLOSED -> break             /* the box path */
		:: else ->
			atomic {
				if
				:: data == d -> data = ref; retire(d); ok = 1
				:: else -> d = data
				fi
			};
			if
			:: ok -> break
			:: else -> skip
			fi
		od
#endif
	:: else -> skip
	fi;
	if
	:: !ok ->
		atomic {
			/* the first waker goes in the slot, once (claimed
			 * before the race: always a box here) */
			if
			:: !inline_used -> inline_used = 1; w = INL
			:: else -> w = ref          /* a box */
			fi;
			assert(!(left && w == INL));
			cur = ptr; ptr = w;                 /* xchg */
			if
			:: cur == INL && w != INL -> left = 1
			:: cur != INL -> retire(cur)        /* the box replaced */
			:: else -> skip
			fi
		};
		if
		:: cur == INL ->                    /* close the slot */
#ifdef NO_CLOSE
			atomic { d = data; retire(d) }
#else
			atomic { d = data; data = CLOSED; retire(d) }
#endif
		:: else -> skip
		fi
	:: else -> skip
	fi;
	leave(me)
}

active proctype swapper1()
{
	byte cur, w, d;
	bit ok;
	set_waker(2, V, R1)
}

active proctype swapper2()
{
	byte cur, w, d;
	bit ok;
	set_waker(4, V, R2)
}

active proctype boxer()
{
	byte cur, w, d;
	bit ok;
	set_waker(8, W, RB)
}

/* lfr__table_dispatch with a waker present: current_waker, then wake */
active proctype poller()
{
	byte cur, d, w;
	bit ok;
	atomic {
		cs = cs | 1;                        /* read lock, lookup */
		if
		:: removed -> ok = 1                /* stale */
		:: else -> assert(!entry_freed); cur = ptr
		fi
	};
	do
	:: ok -> break
	:: !ok && cur == INL ->
		d = data;
#ifndef NO_RELOAD
		if
		:: d == CLOSED -> cur = ptr         /* reload */
		:: else -> w = d; break
		fi
#else
		w = d; break
#endif
	:: !ok && cur != INL -> w = cur; break      /* the box's */
	od;
	atomic {
		if
		:: !ok -> wake(w)
		:: else -> skip
		fi;
		leave(1)
	}
}

/* deregister: unlinked (later lookups miss it), then retired */
active proctype deregisterer()
{
	atomic { removed = 1; retired = retired | ENTRY; done++ }
}

/* takes what is retired, waits until every section open then has ended
 * (synchronize_rcu), then drops the batch; an entry's drop drops the
 * waker its pointer names (drop_item) */
active proctype reclaimer()
{
	byte batch, r;
end:	do
	:: atomic { retired != 0 ->
		batch = retired; retired = 0; reclaiming = 1; waiting = cs }
		atomic { waiting == 0 ->
			r = X;
			do
			:: r < CLOSED ->
				if
				:: batch & (1 << r) -> drop(r)
				:: else -> skip
				fi;
				r++
			:: else -> break
			od;
			if
			:: batch & ENTRY ->
				entry_freed = 1;
				if
				:: ptr == INL -> drop(data)
				:: else -> drop(ptr)
				fi
			:: else -> skip
			fi;
			r = 0; batch = 0; reclaiming = 0
		}
	od
}

/* quiet: every call ended and everything retired was dropped */
active proctype checker()
{
	byte r;
	atomic {
		done == 5 && retired == 0 && !reclaiming ->
		r = X;
		do
		:: r < CLOSED -> assert(MADE(r) == dropped[r]); r++
		:: else -> break
		od
	}
}
