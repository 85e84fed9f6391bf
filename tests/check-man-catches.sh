#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/check-man.sh catches what it is there for, and man/gen-man3.sh
# picks new functions up by itself:
#  - an exported function without a page fails the check;
#  - a new declaration with a well-formed comment gets its page;
#  - one whose comment is not in the "name - summary" shape gets none,
#    with a message, and so fails the check;
#  - a page that does not pass mandoc -T lint fails the check.
set -u
top_builddir=${top_builddir:-.}
srcdir=${srcdir:-$(dirname "$0")/..}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# 1. the real pages against an export list with one function too many
ls "$top_builddir/man/man3" | sed -n 's/\.3$//p' >"$tmp/exports" ||
	fail "no generated pages in $top_builddir/man/man3"
[ -s "$tmp/exports" ] || fail "no generated pages in $top_builddir/man/man3"
LFR_EXPORTS="$tmp/exports" LFR_MAN_DIR="$top_builddir/man" \
	$SHELL "$srcdir/tests/check-man.sh" >"$tmp/out1" 2>&1 ||
	{ cat "$tmp/out1"; fail "the check fails on the real pages"; }
echo lfr_no_such_page >>"$tmp/exports"
if LFR_EXPORTS="$tmp/exports" LFR_MAN_DIR="$top_builddir/man" \
	$SHELL "$srcdir/tests/check-man.sh" >"$tmp/out2" 2>&1; then
	cat "$tmp/out2"; fail "the check passed with lfr_no_such_page missing"
fi
grep -q 'without a man page: lfr_no_such_page' "$tmp/out2" ||
	{ cat "$tmp/out2"; fail "the check did not name the missing page"; }
echo "ok: an exported function without a page fails the check"

# 2. and 3. a header with a new, well-formed function and a badly
# commented one
cat >"$tmp/new.h" <<'H'
/* what a frob holds */
struct lfr_frob {
	int knobs; /* how many */
};

/*
 * lfr_frob_new - make a frob.
 * Returns 0, or -ENOMEM.
 * Threads: any.  Blocks: no.
 */
LFR_EXTERN int lfr_frob_new(struct lfr_frob **out);

/* frees a frob */
LFR_EXTERN void lfr_frob_free(struct lfr_frob *f);
H
${SHELL:-sh} "$srcdir/man/gen-man3.sh" -o "$tmp/man/man3" -v 0 -d 2026-01-01 \
	"$tmp/new.h" 2>"$tmp/gen.err" || fail "gen-man3.sh failed"
[ -s "$tmp/man/man3/lfr_frob_new.3" ] || fail "no page for lfr_frob_new"
grep -q '^\.SH RETURN VALUE' "$tmp/man/man3/lfr_frob_new.3" ||
	fail "lfr_frob_new's page has no RETURN VALUE"
grep -q '^\.SH THREADS' "$tmp/man/man3/lfr_frob_new.3" ||
	fail "lfr_frob_new's page has no THREADS"
grep -q '^struct lfr_frob {' "$tmp/man/man3/lfr_frob_new.3" ||
	fail "lfr_frob_new's page does not show struct lfr_frob"
[ ! -e "$tmp/man/man3/lfr_frob_free.3" ] || fail "a page from a bad comment"
grep -q 'lfr_frob_free' "$tmp/gen.err" || fail "no message for lfr_frob_free"
printf 'lfr_frob_new\nlfr_frob_free\n' >"$tmp/frob-exports"
if LFR_EXPORTS="$tmp/frob-exports" LFR_MAN_DIR="$tmp/man" \
	$SHELL "$srcdir/tests/check-man.sh" >"$tmp/out3" 2>&1; then
	cat "$tmp/out3"; fail "the check passed with lfr_frob_free undocumented"
fi
grep -q 'without a man page: lfr_frob_free$' "$tmp/out3" ||
	{ cat "$tmp/out3"; fail "the check did not name lfr_frob_free"; }
echo "ok: a new function gets its page; a badly commented one fails the check"

# 4. a page mandoc finds fault with fails the check (where mandoc is)
if command -v mandoc >/dev/null 2>&1; then
	mkdir -p "$tmp/bad/man3"
	cp "$tmp/man/man3/lfr_frob_new.3" "$tmp/bad/man3/"
	printf '.BOGUS macro\n' >>"$tmp/bad/man3/lfr_frob_new.3"
	echo lfr_frob_new >"$tmp/one-export"
	if LFR_EXPORTS="$tmp/one-export" LFR_MAN_DIR="$tmp/bad" \
		$SHELL "$srcdir/tests/check-man.sh" >"$tmp/out4" 2>&1; then
		cat "$tmp/out4"; fail "the check passed a page with an unknown macro"
	fi
	grep -q 'BOGUS' "$tmp/out4" || { cat "$tmp/out4"; fail "no lint message"; }
	echo "ok: a page that does not lint fails the check"
else
	echo "mandoc not found: the lint's failure was not tried"
fi
