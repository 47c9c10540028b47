#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ABI guard: compare the built libupcall.so.1 with the committed baseline
# (libupcall/abi/libupcall.so.1.abi, abidw's XML of LIBUPCALL_1.0) using
# libabigail's abidiff.  Added functions (and enumerators added to an enum)
# pass; a removed function, a function moved to another version node, a
# changed signature, or any other change to a public type (upcall_info, the
# enums, the callback types) fails.  Only the public headers' types count:
# the opaque structs' private layouts may change freely.
#
# Run by make check with top_srcdir and top_builddir in the environment.
# Exit status: 0 compatible, 1 ABI change, 77 skipped (no abidiff, or a
# library built without -g), 99 abidiff failed.  With UPCALL_REQUIRE_ABI=1
# (CI) a skip is an error.
#
#   tests/check-abi.sh --update   rewrite the baseline from the library
#                                 built in the current directory
#
# Update the baseline only together with a new version node in
# libupcall.map (additions), a new soname (anything incompatible), or a
# field that takes over reserved space in a public struct (same size, no
# other member moved: upcall_info.cpu_mode took reserved[0], arch the
# word after it); the commit shows abidiff's report of the old baseline
# against the new.  Not a libabigail suppression for such a field:
# has_data_member_inserted_* hides every change to the struct that does
# not shrink it.
set -euo pipefail

top_srcdir=${top_srcdir:-$(dirname "$0")/..}
top_builddir=${top_builddir:-.}
baseline=$top_srcdir/libupcall/abi/libupcall.so.1.abi
headers=$top_srcdir/libupcall/upcall
lib=$top_builddir/libupcall/.libs/libupcall.so.1

skip() {
	echo "check-abi: SKIP: $*" >&2
	[ "${UPCALL_REQUIRE_ABI:-0}" = 1 ] && exit 99
	exit 77
}

if [ ! -e "$lib" ]; then
	echo "check-abi: $lib: not found" >&2
	exit 99
fi
for tool in abidiff abidw abilint; do
	command -v $tool >/dev/null ||
		skip "$tool not found (Debian: abigail-tools)"
done
# Without DWARF abidiff compares symbol names only and hides type changes.
case $(LC_ALL=C readelf -S "$lib") in
*.debug_info*) ;;
*)	skip "$lib has no debug info (build with CFLAGS=-g)";;
esac

if [ "${1:-}" = "--update" ]; then
	# Stable output: no paths, no line numbers, type ids by hash.
	abidw --no-corpus-path --no-comp-dir-path --no-show-locs \
		--type-id-style hash --exported-interfaces-only \
		--headers-dir "$headers" --drop-private-types \
		--out-file "$baseline.tmp" "$lib"
	# abidiff recognises the file by its first bytes: comments go inside.
	# Source paths are made relative to the top of the tree.
	sed -e "s|path='[^']*/\\(libupcall/[^']*\\)'|path='\\1'|" -e '1a\
  <!-- SPDX-License-Identifier: MIT -->\
  <!-- Baseline of LIBUPCALL_1.0, made by check-abi.sh (update option) -->' \
		"$baseline.tmp" >"$baseline"
	rm -f "$baseline.tmp"
	echo "check-abi: wrote $baseline"
	exit 0
fi

if [ ! -e "$baseline" ]; then
	echo "check-abi: $baseline: not found" >&2
	exit 99
fi

# abidiff reads a baseline it cannot parse as an empty ABI, and passes.
if ! abilint --noout "$baseline"; then
	echo "check-abi: $baseline: unreadable" >&2
	exit 99
fi

status=0
# No --headers-dir2 here: abidiff 2.2 then filters out changes of public
# structs whose members use libc typedefs (uint32_t -> uint64_t).
report=$(abidiff --no-added-syms "$baseline" "$lib" 2>&1) || status=$?

# abidiff's status is a bit field: 1 error, 2 usage, 4 ABI change,
# 8 incompatible change (implies 4).
if [ $((status & 3)) -ne 0 ]; then
	printf '%s\n' "$report" >&2
	echo "check-abi: abidiff failed (status $status)" >&2
	exit 99
fi
if [ $status -ne 0 ]; then
	printf '%s\n' "$report"
	if [ $((status & 8)) -ne 0 ]; then
		echo "check-abi: INCOMPATIBLE change to the LIBUPCALL_1.0 ABI" >&2
	else
		echo "check-abi: the ABI of existing interfaces changed" \
			"(see above); if this is intended and compatible," \
			"run tests/check-abi.sh --update in the build directory" >&2
	fi
	exit 1
fi
echo "check-abi: $(grep -c '<elf-symbol ' "$baseline") symbols of the baseline unchanged"
