#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# check-links.sh DIR: every relative link in DIR's Markdown files names a
# file or directory that exists in DIR (make dist runs it on the tarball's
# tree, so that the README's links resolve there too).
set -u
dir=${1:?usage: check-links.sh DIR}
cd "$dir" || exit 1
bad=0
for md in $(find . -name '*.md' | sort); do
	base=$(dirname "$md")
	# ](target) of inline links; external, mail and in-page ones aside
	for t in $(awk '{
			s = $0
			while (match(s, /\]\([^) ]*\)/)) {
				t = substr(s, RSTART + 2, RLENGTH - 3)
				sub(/#.*/, "", t)
				if (t != "" && t !~ /^[a-z][a-z+.-]*:/) print t
				s = substr(s, RSTART + RLENGTH)
			}
		}' "$md" | sort -u); do
		[ -e "$base/$t" ] || { echo "$md: broken link: $t"; bad=1; }
	done
done
[ "$bad" -eq 0 ] && echo "links ok in $(find . -name '*.md' | wc -l) Markdown files"
exit "$bad"
