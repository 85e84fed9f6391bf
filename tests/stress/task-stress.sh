#!/bin/sh
# make check's run of the task stress program (cancel, stop and free
# races).  LFR_STRESS_WRAPPER (e.g. "valgrind -q --error-exitcode=3") runs
# it under a tool.
exec ${LFR_STRESS_WRAPPER:-} "${top_builddir:-.}/tests/stress/task_stress" \
	--rounds "${LFR_TASK_STRESS_ROUNDS:-200}"
