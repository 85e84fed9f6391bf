#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every function the library exports has a section-3 page, and every page
# (man/man3/*.3 as generated from the headers, man/lfreactor.7) passes
# `mandoc -T lint`.  A function whose header comment does not start with
# "its_name - " has no page (man/gen-man3.sh says so), and fails here.
#
# LFR_EXPORTS: a file with the exported names, one a line (default: the
# dynamic symbols of .libs/liblfreactor.so, as tests/check-exports.sh reads
# them); LFR_MAN_DIR: the directory holding man3/ (default man/ of the
# build tree); MANDOC: the linter (default mandoc).
# tests/check-man-catches.sh runs this with the first two changed.
top_builddir=${top_builddir:-.}
srcdir=${srcdir:-$(dirname "$0")/..}
mandir=${LFR_MAN_DIR:-$top_builddir/man}
man7=${LFR_MAN7:-$top_builddir/man/lfreactor.7}

if [ -n "${LFR_EXPORTS:-}" ]; then
	names=$(cat "$LFR_EXPORTS")
else
	lib="$top_builddir/.libs/liblfreactor.so"
	[ -f "$lib" ] || { echo "no $lib"; exit 1; }
	names=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TW]$/ {print $3}')
fi
[ -n "$names" ] || { echo "no exported functions found"; exit 1; }

missing=""
n=0
for f in $names; do
	n=$((n + 1))
	[ -s "$mandir/man3/$f.3" ] || missing="$missing $f"
done
if [ -n "$missing" ]; then
	echo "exported but without a man page:$missing"
	echo "(give each declaration a comment whose first line is"
	echo " \"name - what it does\": see man/gen-man3.sh and CONTRIBUTING.md)"
	exit 1
fi
echo "man pages ok: $n exported functions, each with its page"

mandoc=${MANDOC:-mandoc}
if ! command -v "$mandoc" >/dev/null 2>&1; then
	echo "$mandoc not found: the pages were not linted (Debian: apt-get install mandoc)"
	exit 0
fi
# from the directory above man3/, as man(1) reads pages
out=$(cd "$mandir" && "$mandoc" -T lint -W style man3/*.3 2>&1) || true
out7=$("$mandoc" -T lint -W style "$man7" 2>&1) || true
if [ -n "$out$out7" ]; then
	printf '%s\n' "$out" "$out7" | sed '/^$/d'
	echo "mandoc -T lint found the problems above"
	exit 1
fi
echo "mandoc -T lint: every page clean"
