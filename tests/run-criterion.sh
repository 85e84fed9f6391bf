#!/bin/sh
# Runs one Criterion test program for automake's TAP driver.
# LFR_TEST_WRAPPER (e.g. "valgrind -q") runs each test under a tool; then
# tests run in-process, as tools need.
test="$1"; shift
if [ -n "$LFR_TEST_WRAPPER" ]; then
	exec $LFR_TEST_WRAPPER "$test" --tap=- -j1 "$@" 2>&1
fi
exec "$test" --tap=- "$@" 2>&1
