#!/bin/sh
# make check's short run of the stress program: a million events with fd
# churn.  LFR_STRESS_WRAPPER (e.g. "valgrind -q --error-exitcode=3") runs
# it under a tool; make stress runs it long.
exec ${LFR_STRESS_WRAPPER:-} "${top_builddir:-.}/tests/stress/wake_stress" \
	--events "${LFR_STRESS_EVENTS:-1000000}" --fds 256
