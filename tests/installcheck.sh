#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# make installcheck (make distcheck runs it after its install): what a user
# of the installed library gets, through nothing but pkg-config.
#  - an outside program links shared, and runs;
#  - `pkg-config --cflags` carries only the include directory (no header of
#    the library includes liburcu's);
#  - the README's static link gives a binary without liblfreactor.so and
#    liburcu's (ldd), and -static one without any shared library;
#  - every exported function has an installed man page, lfreactor(7) too;
#  - the installed examples build.
# Environment: CC, PKG_CONFIG, srcdir, includedir, libdir, mandir,
# exampledir (set by Makefile.am).
set -u
: "${CC:=cc}" "${PKG_CONFIG:=pkg-config}"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH
outside="$srcdir/tests/outside/outside.c"
ldd_of() {
	if command -v ldd >/dev/null 2>&1; then ldd "$1" 2>&1
	else readelf -d "$1" 2>&1 | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; fi
}

# shared
$CC -o "$tmp/shared" "$outside" $($PKG_CONFIG --cflags --libs lfreactor) ||
	fail "shared link"
LD_LIBRARY_PATH="$libdir" "$tmp/shared" || fail "the shared program failed"
ldd_of "$tmp/shared" | grep -q 'liblfreactor\.so' ||
	fail "the shared program does not use liblfreactor.so"
echo "ok: shared link"

# --cflags: the include directory or nothing (a system one), no other -I
for f in $($PKG_CONFIG --cflags lfreactor); do
	[ "$f" = "-I$includedir" ] || fail "pkg-config --cflags gives $f"
done
echo "ok: pkg-config --cflags: $($PKG_CONFIG --cflags lfreactor)"

# static: lfreactor and liburcu from their archives, libc shared
$CC -o "$tmp/static" "$outside" $($PKG_CONFIG --cflags lfreactor) \
	-Wl,-Bstatic $($PKG_CONFIG --static --libs lfreactor) -Wl,-Bdynamic ||
	fail "static link (-Wl,-Bstatic)"
LD_LIBRARY_PATH= "$tmp/static" || fail "the static program failed"
ldd_of "$tmp/static" >"$tmp/ldd"
if grep -q 'liblfreactor\|liburcu' "$tmp/ldd"; then
	cat "$tmp/ldd"; fail "the static program still needs a shared lfreactor or liburcu"
fi
echo "ok: static link of lfreactor (-Wl,-Bstatic ... -Wl,-Bdynamic)"

# fully static
$CC -static -o "$tmp/all-static" "$outside" \
	$($PKG_CONFIG --static --cflags --libs lfreactor) ||
	fail "static link (-static)"
"$tmp/all-static" || fail "the -static program failed"
if ldd_of "$tmp/all-static" | grep -q '\.so'; then
	ldd_of "$tmp/all-static"; fail "the -static program needs shared libraries"
fi
echo "ok: fully static link (-static)"

# man pages: the installed library's functions against the installed pages
nm -D --defined-only "$libdir/liblfreactor.so" |
	awk '$2 ~ /^[TW]$/ {print $3}' >"$tmp/exports"
LFR_EXPORTS="$tmp/exports" LFR_MAN_DIR="$mandir" \
	LFR_MAN7="$mandir/man7/lfreactor.7" \
	${SHELL:-sh} "$srcdir/tests/check-man.sh" || fail "installed man pages"

# the installed examples
cd "$exampledir" || fail "no $exampledir"
# (delay.c parses HTTP with http_parser: libhttp-parser-dev)
http=""
printf '#include <http_parser.h>\nint main(void) { return 0; }\n' >"$tmp/hp.c"
$CC -o "$tmp/hp" "$tmp/hp.c" -lhttp_parser 2>/dev/null && http=yes
for prog in "pipe-wakeup.c" "delayserver.c delay.c" "seed-runtime.c delay.c" \
	    "echo-server.c"; do
	extra=""
	case $prog in *delay.c*)
		if [ -z "$http" ]; then
			echo "skipped: $prog (no http_parser: libhttp-parser-dev)"
			continue
		fi
		extra=-lhttp_parser ;;
	esac
	# shellcheck disable=SC2086
	$CC -o "$tmp/example" $prog $($PKG_CONFIG --cflags --libs lfreactor) $extra ||
		fail "the installed example $prog does not build"
done
echo "ok: the installed examples build"
