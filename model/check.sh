#!/bin/sh
# Checks the models exhaustively with spin, then checks that each broken
# variant is caught: a model that cannot fail proves nothing.
#   model/wake_protocol.pml  set_waker against dispatch, retire, reuse
#   model/inline_slot.pml    the inline slot's swaps against a box's close
#   model/park.pml           the executor's park permit (src/park.h)
#   model/front.pml          the waker table's front array and its growth
#   model/check.sh           (spin and a C compiler on PATH)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cp "$here/wake_protocol.pml" "$here/inline_slot.pml" "$here/park.pml" \
	"$here/front.pml" .

# verify MODEL [-DVARIANT]: prints the error count spin's verifier found
verify() {
	model=$1
	shift
	spin -a "$@" "$model" >/dev/null
	${CC:-cc} -O2 -DSAFETY -DNOREDUCE -o pan pan.c 2>/dev/null ||
		${CC:-cc} -O2 -DSAFETY -o pan pan.c
	./pan -m100000 >out.txt 2>&1 || true
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' out.txt | head -n 1)
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' out.txt | head -n 1)
	echo "${errors:-?} ${states:-?}"
}

# check MODEL VARIANT...: the model passes, each variant fails
check() {
	model=$1
	shift
	set -- "$model" $(verify "$model") "$@"
	if grep -q "Search not completed" out.txt; then
		echo "not ok - $1: search not completed"; fail=1
	elif [ "$2" = 0 ]; then
		echo "ok - $1: no errors in $3 states"
	else
		echo "not ok - $1: $2 errors"; cat out.txt; fail=1
	fi
	shift 3
	for v in "$@"; do
		set -- $(verify "$model" -D$v)
		if [ "$1" != 0 ] && [ "$1" != "?" ]; then
			echo "ok - $model: broken variant $v is caught ($1 errors)"
		else
			echo "not ok - $model: broken variant $v passed: the model misses it"
			fail=1
		fi
	done
}

fail=0
check wake_protocol.pml NO_RECHECK NO_READY FREE_NOW REUSE_KEY
check inline_slot.pml NO_CLOSE SWAP_XCHG NO_RELOAD DROP_NOW
check park.pml SPLIT_PARK SPLIT_UNPARK
check front.pml NO_CLEAN CLEAR_FIRST NO_PUBLISHED
exit $fail
