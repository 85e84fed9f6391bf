#!/bin/sh
# Runs one Criterion test program for automake's TAP driver.
# LFR_TEST_WRAPPER (e.g. "valgrind -q") runs each test under a tool; then
# tests run in-process, as tools need.
# Criterion runs each test in a child whose sanitizer reports (a leak found
# at its exit, say) do not fail the test, so the output is searched for
# them: one turns the whole program into an error ("Bail out!").
test="$1"; shift
out=$(mktemp) || exit 99
trap 'rm -f "$out"' EXIT
if [ -n "$LFR_TEST_WRAPPER" ]; then
	$LFR_TEST_WRAPPER "$test" --tap=- -j1 "$@" >"$out" 2>&1
else
	"$test" --tap=- "$@" >"$out" 2>&1
fi
rc=$?
cat "$out"
if grep -q -E '^(==[0-9]+==)?ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error: ' "$out"; then
	echo "Bail out! a sanitizer reported an error (above)"
	exit 1
fi
exit "$rc"
