#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The many-core sweep, for a machine with no packages: runs the statically
# linked benchmarks (bench/README.md says how to build them) from the
# repository root and keeps in OUTDIR the tables (*.txt), the CSVs, `lscpu`
# and machine.txt (the estimate, each program's time).  It must fit one
# device session with time to rerun it: at most 4 minutes, on 16 cores as
# anywhere.  The estimate is runs x (seconds + set-up) + perop's fixed
# batches; it is printed first, and the seconds per run are shortened when
# the estimate would pass the budget (more cores, more thread counts).
set -eu
out="${1:?usage: bench/device-run.sh OUTDIR}"
for p in perop waker_table reactor_e2e park footprint; do
	if [ ! -x "bench/$p" ]; then
		echo "bench/$p is missing: build the static binaries first" \
			"(bench/README.md)" >&2
		exit 1
	fi
done
mkdir -p "$out"

budget=240   # seconds, the whole script
seconds=0.3  # per run, unless the budget needs less
repeat=3
perop_repeat=5
perop_s=25   # perop --repeat 5: fixed batches (17 s on the 2-core VM)
fixed_s=5    # footprint, process starts
setup_s=0.02 # per run: eventfds, threads (reactor_e2e's 4096 fds: ~20 ms)

n=$(nproc)
# powers of two to 8, then n - 1 (with the epoll side or the park owner,
# one thread per CPU) and 2n (time-sliced)
threads="0,1,2,4,8"
for t in $((n - 1)) $((2 * n)); do
	case ",$threads," in *",$t,"*) continue ;; esac
	[ "$t" -gt 8 ] && threads="$threads,$t"
done
threads1="${threads#0,}"
nt=$(echo "$threads" | tr ',' '\n' | wc -l)
nt1=$((nt - 1))

# runs per repeat: waker_table 3 workloads x 4 designs x nt (0 included),
# reactor_e2e 5 modes x 4 designs x nt1, park 5 designs x (pingpong + nt1
# busy points)
runs=$(((3 * 4 * nt + 5 * 4 * nt1 + 5 * (1 + nt1)) * repeat))
est() {
	awk -v r="$runs" -v s="$1" -v u="$setup_s" -v f="$((perop_s + fixed_s))" \
		'BEGIN { printf "%.0f", r * (s + u) + f }'
}
estimate=$(est "$seconds")
if [ "$estimate" -gt "$budget" ]; then
	seconds=$(awk -v r="$runs" -v u="$setup_s" -v b="$budget" \
		-v f="$((perop_s + fixed_s))" \
		'BEGIN { s = (b - f) / r - u; printf "%.3f", s < 0.05 ? 0.05 : s }')
	estimate=$(est "$seconds")
fi

{
	echo "date: $(date -u +%FT%TZ)"
	echo "nproc: $n  threads: $threads  (park and reactor_e2e: $threads1)"
	echo "runs: $runs ($repeat repeats) x ($seconds s + ${setup_s} s set-up)" \
		"+ perop ${perop_s} s + ${fixed_s} s = estimate ${estimate} s" \
		"(budget ${budget} s)"
	grep -m1 "model name" /proc/cpuinfo || true
} | tee "$out/machine.txt"
lscpu >"$out/lscpu.txt" 2>&1 || cat /proc/cpuinfo >"$out/lscpu.txt"

# runs one program, its output to the terminal and OUTDIR/NAME.txt; stops
# the script if it fails (a pipe into tee would hide its status)
run() {
	name=$1
	shift
	t0=$(date +%s)
	{ "$@" && rc=0 || rc=$?; echo "$rc" >"$out/.$name.rc"; } 2>&1 |
		tee "$out/$name.txt"
	rc=$(cat "$out/.$name.rc")
	rm -f "$out/.$name.rc"
	echo "$name: $(($(date +%s) - t0)) s, exit $rc" | tee -a "$out/machine.txt"
	[ "$rc" -eq 0 ] || exit "$rc"
}

start=$(date +%s)
# perop first: one thread, process CPU time; the rest load every core
run perop ./bench/perop --repeat "$perop_repeat" --out "$out"
run waker_table ./bench/waker_table --threads "$threads" --seconds "$seconds" \
	--repeat "$repeat" --out "$out"
run reactor_e2e ./bench/reactor_e2e --threads "$threads1" --seconds "$seconds" \
	--repeat "$repeat" --out "$out"
run park ./bench/park --threads "$threads1" --seconds "$seconds" \
	--repeat "$repeat" --out "$out"
run footprint ./bench/footprint --out "$out"
echo "total: $(($(date +%s) - start)) s (estimate ${estimate} s)" |
	tee -a "$out/machine.txt"
