/*
 * front.pml - the front array of src/waker_table.c: an entry's slot is
 * claimed by register, cleared by deregister, and refilled by the
 * maintainer when it grows the array, while readers look entries up through
 * whichever array they loaded.  Checked by spin: no reader, and no one
 * else, ever reads an entry after it was recycled.
 *
 * One entry under one key; two arrays (0: the first, 1: the grown one),
 * one slot each for the key.  Processes: register (insert), deregister
 * (remove), a reader making two lookups, and the maintainer, which grows
 * the array once and runs the grace periods after which retired entries
 * are recycled; it does one or the other, never both at once, as in the
 * library.  Lookups read the slot's entry (its id, the tag) before they
 * can tell whether it is theirs, so a slot left pointing at a recycled
 * entry is an error even if its id no longer matches.
 *
 * Each broken variant must FAIL (make model-check checks that it does):
 *   -DNO_CLEAN     the maintainer does not clear removed entries from the
 *                  new array after publishing it
 *   -DCLEAR_FIRST  deregister clears the slot before it marks the entry
 *                  removed
 *   -DNO_PUBLISHED deregister does not wait for register to have set its
 *                  slot (the entry's published flag)
 */

bit cur;              /* which array is current */
bit fslot[2];         /* the array's slot holds the entry */
bit linked;           /* in the lfht */
bit inserted, published, removed, retired, recycled;

/* read-side sections, and how many times each process left one */
bit rd_cs, ins_cs, rm_cs;
byte rd_exits, ins_exits, rm_exits;

inline touch()
{
	assert(!recycled)
}

active proctype registerer()
{
	bit f;

	ins_cs = 1;
	linked = 1;                  /* cds_lfht_add_unique */
	inserted = 1;
	f = cur;                     /* front_claim: plain load, then store */
	if
	:: fslot[f] == 0 -> fslot[f] = 1
	:: else -> skip
	fi;
	published = 1;
	ins_cs = 0;
	ins_exits++
}

active proctype deregisterer()
{
	bit f;

#ifdef NO_PUBLISHED
	linked;
#else
	published;
#endif
	rm_cs = 1;
	touch();                     /* found by lookup */
#ifdef CLEAR_FIRST
	f = cur;
	atomic { if :: fslot[f] -> fslot[f] = 0 :: else -> skip fi };
	removed = 1;
	linked = 0;
#else
	removed = 1;                 /* the claim: fetch_or, seq_cst */
	linked = 0;                  /* cds_lfht_del */
	f = cur;                     /* then the current array's slot: CAS */
	atomic { if :: fslot[f] -> fslot[f] = 0 :: else -> skip fi };
#endif
	retired = 1;                 /* into this thread's block */
	rm_cs = 0;
	rm_exits++
}

active proctype reader()
{
	byte n;
	bit f;

	do
	:: n < 2 ->
		n++;
		rd_cs = 1;
		f = cur;
		if
		:: fslot[f] -> touch()   /* reads the tag */
		:: else -> skip
		fi;
		rd_cs = 0;
		rd_exits++
	:: else -> break
	od
}

active proctype maintainer()
{
	bit grown, rc, ic, mc;
	byte rg, ig, mg;

end:	do
	:: !grown ->
		grown = 1;
		/* inside one read-side section of its own: every live entry
		 * of the lfht into the new array, publish, clean */
		if
		:: linked || (inserted && !recycled) ->
			touch();
			if
			:: !removed ->
				atomic { if :: !fslot[1] -> fslot[1] = 1
					 :: else -> skip fi }
			:: else -> skip
			fi
		:: skip                  /* missed: registered meanwhile */
		fi;
		cur = 1;
#ifndef NO_CLEAN
		if
		:: fslot[1] ->
			touch();
			atomic { if :: removed && fslot[1] -> fslot[1] = 0
				 :: else -> skip fi }
		:: else -> skip
		fi
#endif
	:: retired && !recycled ->
		/* a grace period that starts after the retirement */
		atomic { rc = rd_cs; rg = rd_exits; ic = ins_cs; ig = ins_exits;
			 mc = rm_cs; mg = rm_exits }
		(!rc || rd_exits != rg) && (!ic || ins_exits != ig) &&
		(!mc || rm_exits != mg);
		recycled = 1
	od
}
