#!/bin/sh
# The many-core sweep, for a machine with no packages: run the statically
# linked benchmarks (see bench/README.md) from the repository root and keep
# the CSVs (and the tables, in OUTDIR/*.txt) in OUTDIR.  Sized to finish in
# about 5 minutes on 16 cores (0.5 s per point, median of 3), so that one
# device session can run it once and rerun it if needed.
set -eu
out="${1:?usage: bench/device-run.sh OUTDIR}"
mkdir -p "$out"
n=$(nproc)
threads="0,1,2,4,8"
for t in 15 $((2 * n)); do
	[ "$t" -gt 8 ] && [ "$t" -le $((2 * n)) ] && threads="$threads,$t"
done
echo "cores: $n  threads: $threads  $(date -u +%FT%TZ)" | tee "$out/machine.txt"
grep -m1 "model name" /proc/cpuinfo >>"$out/machine.txt" || true
./bench/waker_table --threads "$threads" --seconds 0.5 --repeat 3 --out "$out" \
	| tee "$out/waker_table.txt"
./bench/reactor_e2e --threads "${threads#0,}" --seconds 0.5 --repeat 3 --out "$out" \
	| tee "$out/reactor_e2e.txt"
./bench/park --threads 1,2,4,8,15 --seconds 0.5 --repeat 3 --out "$out" \
	| tee "$out/park.txt"
