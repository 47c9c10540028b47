#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The exported ABI, three ways, must agree: the version script's global
# symbols, the dynamic symbols the built library defines, and the functions
# the public header declares; and, where the source tree has it, the Debian
# symbols file (a symbol missing there fails the package build's lintian
# run much later).  Run by make check with top_srcdir and top_builddir in
# the environment.
set -euo pipefail

top_srcdir=${top_srcdir:-$(dirname "$0")/..}
top_builddir=${top_builddir:-.}
map=$top_srcdir/libupcall/libupcall.map
header=$top_srcdir/libupcall/upcall/upcall.h
lib=$top_builddir/libupcall/.libs/libupcall.so.1

for f in "$map" "$header" "$lib"; do
	if [ ! -e "$f" ]; then
		echo "check-symbols: $f: not found" >&2
		exit 1
	fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Symbols of every version node outside its "local:" part.  A node without
# "global:" is global throughout.
sed -e 's,/\*.*\*/,,g' -e 's,#.*,,' "$map" | awk '
	/\{/			{ in_node = 1; global = 1 }
	/^[ \t]*global:/	{ global = 1; next }
	/^[ \t]*local:/		{ global = 0; next }
	/\}/			{ in_node = 0 }
	in_node && global {
		gsub(/[ \t;]/, "")
		if ($0 ~ /^[A-Za-z_][A-Za-z0-9_]*$/)
			print
	}' | sort -u >"$tmp/map"

# Defined dynamic symbols of code and data; version nodes are type A.
nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRW]$/ { print $3 }' |
	sed 's/@.*//' | sort -u >"$tmp/lib"

# Functions declared in the public header: the first upcall_*( of each
# declaration's first line.
grep -E '^[a-z].*\bupcall_[a-z_0-9]*\(' "$header" | grep -v '^typedef' |
	sed -E 's/^[^(]*\b(upcall_[a-z_0-9]*)\(.*/\1/' | sort -u >"$tmp/header"

status=0
if ! diff -u --label libupcall.map --label libupcall.so.1 \
	"$tmp/map" "$tmp/lib"; then
	echo "check-symbols: the map file and the library's exports differ" >&2
	status=1
fi
if ! diff -u --label libupcall.map --label upcall.h \
	"$tmp/map" "$tmp/header"; then
	echo "check-symbols: the map file and the public header differ" >&2
	status=1
fi
debsyms=$top_srcdir/debian/libupcall1.symbols
if [ -e "$debsyms" ]; then
	sed -n 's/^ \(upcall_[a-z_0-9]*\)@.*/\1/p' "$debsyms" | sort -u >"$tmp/deb"
	if ! diff -u --label libupcall.map --label debian/libupcall1.symbols \
		"$tmp/map" "$tmp/deb"; then
		echo "check-symbols: the map file and the Debian symbols file differ" >&2
		status=1
	fi
fi
[ $status -eq 0 ] && echo "check-symbols: $(wc -l <"$tmp/map") symbols agree"
exit $status
