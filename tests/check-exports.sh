#!/bin/sh
# Only lfr_ symbols may leave the shared library (-fvisibility=hidden plus
# LFR_EXTERN on each public declaration).
lib="${top_builddir:-.}/.libs/liblfreactor.so"
[ -f "$lib" ] || { echo "no $lib"; exit 1; }
all=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRW]$/ {print $3}')
[ -n "$all" ] || { echo "no exported symbols found"; exit 1; }
bad=$(printf '%s\n' "$all" | grep -v '^lfr_' || true)
if [ -n "$bad" ]; then
	echo "exported but not lfr_:"; printf '%s\n' "$bad"; exit 1
fi
# and the internal lfr__ ones stay hidden
if printf '%s\n' "$all" | grep -q '^lfr__'; then
	echo "internal lfr__ symbols exported"; exit 1
fi
echo "exports ok: $(printf '%s\n' "$all" | wc -l) lfr_ symbols"
