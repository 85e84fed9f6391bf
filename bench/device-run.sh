#!/bin/sh
# The many-core sweep, for a machine with no packages: run the statically
# linked benchmarks (see bench/README.md) from the repository root and keep
# the CSVs (and the tables, in OUTDIR/*.txt) in OUTDIR.
set -eu
out="${1:?usage: bench/device-run.sh OUTDIR}"
mkdir -p "$out"
n=$(nproc)
threads="0,1,2,4,8"
for t in 12 15 16 24 32; do
	[ "$t" -le $((2 * n)) ] && threads="$threads,$t"
done
echo "cores: $n  threads: $threads" | tee "$out/machine.txt"
./bench/waker_table --threads "$threads" --seconds 1 --repeat 3 --out "$out" \
	| tee "$out/waker_table.txt"
./bench/reactor_e2e --threads "${threads#0,}" --seconds 1 --repeat 3 --out "$out" \
	| tee "$out/reactor_e2e.txt"
