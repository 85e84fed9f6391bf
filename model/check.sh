#!/bin/sh
# Checks model/wake_protocol.pml exhaustively with spin, then checks that
# each broken variant is caught: a model that cannot fail proves nothing.
#   model/check.sh            (spin and a C compiler on PATH)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cp "$here/wake_protocol.pml" .

# verify [-DVARIANT]: prints the error count spin's verifier found
verify() {
	spin -a "$@" wake_protocol.pml >/dev/null
	${CC:-cc} -O2 -DSAFETY -DNOREDUCE -o pan pan.c 2>/dev/null ||
		${CC:-cc} -O2 -DSAFETY -o pan pan.c
	./pan -m100000 >out.txt 2>&1 || true
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' out.txt | head -n 1)
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' out.txt | head -n 1)
	echo "${errors:-?} ${states:-?}"
}

fail=0
set -- $(verify)
if grep -q "Search not completed" out.txt; then
	echo "not ok - wake protocol: search not completed"; fail=1
elif [ "$1" = 0 ]; then
	echo "ok - wake protocol: no errors in $2 states"
else
	echo "not ok - wake protocol: $1 errors"; cat out.txt; fail=1
fi
for v in NO_RECHECK NO_READY FREE_NOW REUSE_KEY; do
	set -- $(verify -D$v)
	if [ "$1" != 0 ] && [ "$1" != "?" ]; then
		echo "ok - broken variant $v is caught ($1 errors)"
	else
		echo "not ok - broken variant $v passed: the model misses it"
		fail=1
	fi
done
exit $fail
