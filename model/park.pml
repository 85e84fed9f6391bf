/*
 * park.pml - the executor's park permit (src/park.h), checked with spin.
 *
 * One owner runs what is queued and parks when the queue is empty; two
 * wakers each queue WAKES items and unpark it.  The futex is modelled as
 * FUTEX_WAIT = "sleep if the word still holds PARKED" (one atomic step)
 * and FUTEX_WAKE = "wake the sleeper, if any"; one spurious wake-up is
 * explored at any point.  A lost wake-up leaves the owner asleep with work queued
 * and nobody left to wake it: an invalid end state, which spin reports.
 *
 * Broken variants, each of which must be caught (model/check.sh):
 *   SPLIT_PARK    park reads the word, then writes it (no single decrement)
 *   SPLIT_UNPARK  unpark reads the word, then writes it (no exchange)
 */
#define EMPTY    0
#define NOTIFIED 1
#define PARKED   255   /* -1 in the C code: byte arithmetic wraps */
#define WAKES    2

byte state = EMPTY;
bool asleep = false;   /* in FUTEX_WAIT */
byte spurious = 0;     /* spurious wake-ups so far (one is explored) */
byte queued = 0;       /* items enqueued */
byte ran = 0;          /* items the owner ran */

inline unpark() {
	byte old;
#ifdef SPLIT_UNPARK
	old = state;
	state = NOTIFIED;
#else
	atomic { old = state; state = NOTIFIED }
#endif
	if
	:: old == PARKED -> asleep = false   /* FUTEX_WAKE */
	:: else -> skip
	fi
}

inline park() {
	byte old;
#ifdef SPLIT_PARK
	old = state;
	state = old - 1;
#else
	atomic { old = state; state = state - 1 }
#endif
	if
	:: old == NOTIFIED -> skip
	:: else ->
		do
		:: atomic { if :: state == PARKED -> asleep = true
			       :: else -> skip fi };
		   if
		   :: !asleep -> skip            /* woken, or never slept */
		   :: asleep && spurious < 1 ->  /* a spurious wake-up */
			spurious++; asleep = false
		   fi;
		   atomic {
			if
			:: state == NOTIFIED -> state = EMPTY; break
			:: else -> skip
			fi
		   }
		od
	fi
}

proctype waker() {
	byte i = 0;
	do
	:: i < WAKES -> queued++; unpark(); i++
	:: else -> break
	od
}

active proctype owner() {
	run waker(); run waker();
	do
	:: ran < 2 * WAKES ->
		if
		:: ran < queued -> ran++   /* dequeue and run */
		:: else -> park()
		fi
	:: else -> break
	od
}
