#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# gen-man3.sh - write a section-3 manual page for every function the public
# headers export, from the comment above its declaration.  POSIX sh and awk
# only, so a build from the release tarball needs nothing more.
#
#   gen-man3.sh -o DIR [-v VERSION] [-d DATE] HEADER...
#
# A declaration is a line starting with LFR_EXTERN, up to its ';', or a
# one-line "static inline" signature (the header's struct initializers).  Its
# comment is the block comment that ends on the line just above it (several
# declarations in a row share the comment above the first).  The comment's
# shape is the one CONTRIBUTING.md asks for:
#
#   name - what it does.            first line; NAME takes its first sentence
#   Free text ...                   DESCRIPTION
#   Returns ... / Errors ...        RETURN VALUE (each errno on a line
#    -EINVAL  text                    starting with one space: a list item)
#   Threads: ...                    THREADS
#   Blocks: ...                     BLOCKING
#   Ordering: ...                   ORDERING
#
# The keywords start a section at the start of a line or after a sentence
# ("Threads: any.  Blocks: no." is two sections).  Other lines: a blank
# line ends a paragraph, "  - text" is a bullet, a line indented four
# spaces or more (outside a list) is code.  A comment naming several
# functions ("a - ...", later "b - ...") gives one page with every name,
# written under each name (a copy rather than a .so link, which mandoc and
# some man(1)s handle badly).
#
# TYPES shows the named structs and enums and the typedefs of the headers
# that the prototypes use (and those these use), each with its comment.
#
# A declaration whose comment does not start with "its_name - " gets no
# page; the name goes to stderr, and tests/check-man.sh, which wants a page
# for every exported function, fails on it.
set -eu

usage() {
	echo "usage: $0 -o DIR [-v VERSION] [-d DATE] HEADER..." >&2
	exit 2
}

out=
version=
date=
while getopts o:v:d: opt; do
	case $opt in
	o) out=$OPTARG ;;
	v) version=$OPTARG ;;
	d) date=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ -n "$out" ] && [ $# -gt 0 ] || usage
mkdir -p "$out"

exec ${AWK:-awk} -v out="$out" -v version="$version" -v date="$date" '
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
function indent(s) { match(s, /^ */); return RLENGTH }

# roff-safe text: backslashes escaped, no control character at the start
function esc(s) {
	gsub(/\\/, "\\e", s)
	if (s ~ /^[.]/ || substr(s, 1, 1) == "\047")
		s = "\\&" s
	return s
}

# esc(), with the names of documented functions in bold
function text(s,    r, t) {
	s = esc(s)
	r = ""
	while (match(s, /lfr_[A-Za-z0-9_]+/)) {
		t = substr(s, RSTART, RLENGTH)
		r = r substr(s, 1, RSTART - 1) ((t in declared) ? "\\fB" t "\\fR" : t)
		s = substr(s, RSTART + RLENGTH)
	}
	return r s
}

# prints roff text s to f in lines of at most 79 bytes, where it can
function wrap(s, f,    n, w, i, l) {
	n = split(s, w, " ")
	l = ""
	for (i = 1; i <= n; i++) {
		if (l != "" && length(l) + 1 + length(w[i]) > 79) {
			print l > f
			l = ""
		}
		if (l == "" && (w[i] ~ /^[.]/ || substr(w[i], 1, 1) == "\047"))
			w[i] = "\\&" w[i]
		l = (l == "") ? w[i] : l " " w[i]
	}
	if (l != "")
		print l > f
}

# a prototype in lines of at most 79 bytes, broken after commas, the
# arguments lined up after the parenthesis
function proto(d, f,    p, n, a, i, l, pad) {
	p = index(d, "(")
	if (length(d) <= 79 || !p) {
		print "\\fB" esc(d) "\\fR" > f
		return
	}
	pad = sprintf("%" p "s", "")
	n = split(substr(d, p + 1), a, ", ")
	l = substr(d, 1, p)
	for (i = 1; i <= n; i++) {
		if (i > 1 && length(l) + 2 + length(a[i]) > 79) {
			print "\\fB" esc(l) ",\\fR" > f
			l = pad a[i]
		} else
			l = (i > 1) ? l ", " a[i] : l a[i]
	}
	print "\\fB" esc(l) "\\fR" > f
}

function basename(p) { sub(/.*\//, "", p); return p }

# ---- reading: comments and the declarations that follow them ------------

FNR == 1 { incomment = 0; indecl = 0; group = 0; hascomment = 0 }

indecl {
	decl[ndecl] = decl[ndecl] " " $0
	if (/;/) { indecl = 0; enddecl() }
	next
}

incomment {
	line = $0
	if (sub(/[ \t]*\*\/.*$/, "", line))
		incomment = 0
	if (sub(/^[ \t]*\*( |$)/, "", line) || line != "")
		cline[ncomment, ++clen[ncomment]] = line
	if (!incomment)
		hascomment = 1
	next
}

/^\/\*/ {
	ncomment++
	clen[ncomment] = 0
	group = 0
	hascomment = 0
	line = $0
	sub(/^\/\*+ ?/, "", line)
	incomment = 1
	if (sub(/[ \t]*\*\/.*$/, "", line))
		incomment = 0
	if (line != "")
		cline[ncomment, ++clen[ncomment]] = line
	if (!incomment)
		hascomment = 1
	next
}

# an inline function of a header (the init of a struct, which must see the
# caller sizeof) is documented like an exported one: its signature on
# one line, the body after it
/^static inline [^;{]*\)[ \t]*$/ {
	$0 = "LFR_EXTERN " substr($0, 15) ";"
}

/^LFR_EXTERN/ {
	ndecl++
	decl[ndecl] = $0
	dheader[ndecl] = basename(FILENAME)
	if (hascomment && !group) {
		ngroup++
		group = ngroup
		gcomment[group] = ncomment
		gheader[group] = basename(FILENAME)
	}
	dgroup[ndecl] = hascomment ? group : 0
	if (/;/) enddecl(); else indecl = 1
	next
}

# the types a page shows: named structs and enums, and typedefs
intype {
	tdef[tkey] = tdef[tkey] "\n" $0
	if (/^}/)
		intype = 0
	next
}

/^(struct|enum) lfr_[A-Za-z0-9_]+ \{/ {
	tkey = $1 " " $2
	newtype()
	if (!/}/)
		intype = 1
	next
}

/^typedef .*;/ {
	if (match($0, /\(\*[A-Za-z0-9_]+\)/))
		tkey = substr($0, RSTART + 2, RLENGTH - 3)
	else {
		tkey = $0
		sub(/;.*/, "", tkey)
		sub(/.*[ *]/, "", tkey)
	}
	newtype()
	next
}

{ group = 0; hascomment = 0 }

function newtype() {
	tdef[tkey] = $0
	tcomm[tkey] = hascomment ? ncomment : 0
	group = 0
	hascomment = 0
}

# the types text refers to, in order, each once, after those in seen
function type_refs(src, list,    t) {
	while (match(src, /(struct |enum )?lfr_[A-Za-z0-9_]+/)) {
		t = substr(src, RSTART, RLENGTH)
		src = substr(src, RSTART + RLENGTH)
		sub(/ /, "\034", t)
		if (!(t in tdef) || (" " list " ") ~ (" " t " "))
			continue
		list = list " " t
	}
	return list
}

function enddecl(    d, n) {
	d = decl[ndecl]
	gsub(/[ \t]+/, " ", d)
	sub(/^LFR_EXTERN /, "", d)
	gsub(/\( /, "(", d)
	gsub(/ \)/, ")", d)
	decl[ndecl] = trim(d)
	n = d
	sub(/\(.*/, "", n)
	sub(/.*[ *]/, "", n)
	dname[ndecl] = n
	declared[n] = 1
	if (dgroup[ndecl])
		gdecls[dgroup[ndecl]] = gdecls[dgroup[ndecl]] " " ndecl
}

# ---- writing -------------------------------------------------------------

function section_of(kw) {
	if (kw ~ /^(Returns|Errors)/) return "RETURN VALUE"
	if (kw ~ /^Threads:/) return "THREADS"
	if (kw ~ /^Blocks:/) return "BLOCKING"
	return "ORDERING"
}

# appends line l (indentation kept) to section sec of the page
function add(sec, l) { body[sec, ++blen[sec]] = l }

# the text after "first - " up to the end of its paragraph or the first
# keyword; NAME takes its first sentence
function summary_of(g, first,    c, i, l, s) {
	c = gcomment[g]
	s = cline[c, 1]
	sub(/^[^ ]* - /, "", s)
	for (i = 2; i <= clen[c]; i++) {
		l = cline[c, i]
		if (l == "" || indent(l) > 0 || l ~ /^[A-Za-z_][A-Za-z0-9_]* - / ||
		    l ~ /^(Returns|Errors|Threads:|Blocks:|Ordering:)/)
			break
		s = s " " l
	}
	return s
}

# the comment of group g split into sections; a "name - " line starts a
# paragraph of the description
function split_comment(g,    c, i, l, sec, kw, nm, cap) {
	c = gcomment[g]
	sec = "DESCRIPTION"
	cap = 0
	for (i = 1; i <= clen[c]; i++) {
		l = cline[c, i]
		# a keyword at the end of the line above: this line starts it
		if (cap && l != "")
			l = toupper(substr(l, 1, 1)) substr(l, 2)
		cap = 0
		if (l ~ /^[A-Za-z_][A-Za-z0-9_]* - /) {
			nm = l
			sub(/ - .*/, "", nm)
			if (nm in ingroup) {
				if (blen["DESCRIPTION"])
					add("DESCRIPTION", "")
				sub(/ - /, "() - ", l)
				named[nm] = 1
				sec = "DESCRIPTION"
			}
		}
		# keywords: at the start of the line or after a sentence
		while (indent(l) == 0 && l != "") {
			if (match(l, /^(Returns|Errors|Threads:|Blocks:|Ordering:)/)) {
				kw = substr(l, 1, RLENGTH)
				sec = section_of(kw)
				if (kw ~ /:$/) {
					l = trim(substr(l, RLENGTH + 1))
					l = toupper(substr(l, 1, 1)) substr(l, 2)
					cap = (l == "")
				}
				if (l == "" || !match(l, /[.)] +(Returns|Errors|Threads:|Blocks:|Ordering:)/))
					break
			}
			if (!match(l, /[.)] +(Returns|Errors|Threads:|Blocks:|Ordering:)/))
				break
			add(sec, substr(l, 1, RSTART))
			l = trim(substr(l, RSTART + 1))
		}
		if (l != "" || blen[sec])
			add(sec, l)
	}
}

# section sec as roff: paragraphs, tagged errno lists, bullets, code
function render(sec, f,    i, l, ind, t, mode, itemind, pp, tag, k) {
	mode = ""
	pp = 0
	for (i = 1; i <= blen[sec]; i++) {
		l = body[sec, i]
		if (trim(l) == "") {
			if (mode == "code") { print ".fi" > f; print ".RE" > f }
			if (mode != "") pp = 1
			mode = ""
			continue
		}
		ind = indent(l)
		t = trim(l)
		if ((mode == "tp" || mode == "ip") && ind > itemind) {
			wrap(text(t), f)
			continue
		}
		if (mode == "code" && ind >= 4) {
			print esc(substr(l, 5)) > f
			continue
		}
		if (mode == "code") { print ".fi" > f; print ".RE" > f; pp = 1; mode = "" }
		if (ind == 1 && t !~ /^- /) {
			k = index(t, "  ")
			tag = k ? substr(t, 1, k - 1) : t
			print ".TP" > f
			print "\\fB" esc(tag) "\\fR" > f
			if (k)
				wrap(text(trim(substr(t, k))), f)
			mode = "tp"
			itemind = ind
			pp = 0
			continue
		}
		if (ind >= 1 && t ~ /^- /) {
			print ".IP \\(bu 2" > f
			wrap(text(substr(t, 3)), f)
			mode = "ip"
			itemind = ind
			pp = 0
			continue
		}
		if (ind >= 4) {
			if (mode != "" || pp) print ".PP" > f
			print ".RS 4" > f
			print ".nf" > f
			print esc(substr(l, 5)) > f
			mode = "code"
			pp = 0
			continue
		}
		if (mode == "tp" || mode == "ip" || (pp && mode == ""))
			print ".PP" > f
		wrap(text(t), f)
		mode = "p"
		pp = 0
	}
	if (mode == "code") { print ".fi" > f; print ".RE" > f }
}

function first_sentence(s,    k) {
	s = trim(s)
	if (match(s, /\.( |$)/))
		s = substr(s, 1, RSTART - 1)
	return s
}

END {
	# a type key "struct x" is kept as "struct\034x" in lists split at " "
	for (t in tdef)
		if (t ~ / /) {
			u = t
			sub(/ /, "\034", u)
			tdef[u] = tdef[t]
			tcomm[u] = tcomm[t]
		}
	nsec = split("DESCRIPTION|RETURN VALUE|THREADS|BLOCKING|ORDERING|TYPES", secs, "|")
	for (d = 1; d <= ndecl; d++)
		if (!dgroup[d])
			printf "%s: %s has no comment: no page\n", dheader[d], dname[d] > "/dev/stderr"
	for (g = 1; g <= ngroup; g++) {
		split(trim(gdecls[g]), ds, " ")
		for (k in ingroup) delete ingroup[k]
		for (k in named) delete named[k]
		for (k in blen) delete blen[k]
		for (k in body) delete body[k]
		for (k in ds) ingroup[dname[ds[k]]] = 1
		first = dname[ds[1]]
		if (cline[gcomment[g], 1] !~ ("^" first " - ")) {
			for (k = 1; k in ds; k++)
				printf "%s: the comment above %s does not start with \"%s - \": no page\n", gheader[g], dname[ds[k]], dname[ds[k]] > "/dev/stderr"
			continue
		}
		summary = summary_of(g, first)
		split_comment(g)
		# the types of the prototypes, and the types those refer to
		types = ""
		for (k = 1; k in ds; k++)
			types = type_refs(decl[ds[k]], types)
		nt = split(types, tl, " ")
		for (k = 1; k <= nt; k++)
			types = type_refs(tdef[tl[k]], types)
		nt = split(types, tl, " ")
		for (k = 1; k <= nt; k++) {
			if (k > 1)
				add("TYPES", "")
			c = tcomm[tl[k]]
			for (i = 1; c && i <= clen[c]; i++)
				add("TYPES", cline[c, i])
			if (c)
				add("TYPES", "")
			n = split(tdef[tl[k]], tlines, "\n")
			for (i = 1; i <= n; i++) {
				l = tlines[i]
				while (sub(/^    /, "\t", l))
					;
				while (match(l, /^\t+/))
					l = sprintf("%" (4 * RLENGTH) "s", "") substr(l, RLENGTH + 1)
				add("TYPES", "    " l)
			}
		}
		f = out "/" first ".3"
		names = first
		for (k = 2; k in ds; k++)
			if (dname[ds[k]] in named)
				names = names ", " dname[ds[k]]
			else
				printf "%s: the comment above %s has no \"%s - \" line: no page for it\n", gheader[g], dname[ds[k]], dname[ds[k]] > "/dev/stderr"
		printf ".\\\" Generated by man/gen-man3.sh from %s: edit the header, not this page.\n", gheader[g] > f
		printf ".TH %s 3 \"%s\" \"lfreactor %s\" \"lfreactor Manual\"\n", toupper(first), date, version > f
		print ".SH NAME" > f
		wrap(names " \\- " esc(first_sentence(summary)), f)
		print ".SH SYNOPSIS" > f
		print ".nf" > f
		print ".B #include <lfreactor.h>" > f
		print ".PP" > f
		for (k = 1; k in ds; k++)
			if (dname[ds[k]] in named)
				proto(decl[ds[k]], f)
		print ".fi" > f
		print ".PP" > f
		print "Compile and link with \\fIpkg\\-config \\-\\-cflags \\-\\-libs lfreactor\\fR." > f
		for (s = 1; s <= nsec; s++) {
			if (!blen[secs[s]])
				continue
			print ".SH " secs[s] > f
			render(secs[s], f)
		}
		print ".SH SEE ALSO" > f
		see = ".BR lfreactor (7)"
		for (h = 1; h <= ngroup; h++) {
			split(trim(gdecls[h]), hs, " ")
			if (h != g && gheader[h] == gheader[g] && cline[gcomment[h], 1] ~ ("^" dname[hs[1]] " - "))
				see = see ",\n.BR " dname[hs[1]] " (3)"
		}
		print see > f
		close(f)
		for (k = 2; k in ds; k++)
			if (dname[ds[k]] in named) {
				l = out "/" dname[ds[k]] ".3"
				while ((getline line < f) > 0)
					print line > l
				close(f)
				close(l)
			}
	}
}
' "$@"
