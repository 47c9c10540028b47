#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Compare two versions of libupcall's sources on P1 in one process:
#   bench/ab_rt.sh DIR_A DIR_B [ROUNDS [ITERS]]
# DIR_A and DIR_B hold libupcall's .c files and headers (e.g. a copy of
# libupcall/ at HEAD, made with `git archive HEAD libupcall | tar -x -C /tmp/a`,
# and the working tree's libupcall/).  Each is built into one relocatable
# object whose global symbols get a prefix (a_ or b_), so both live in one
# binary; ab_main.c then interleaves raw / a / b round by round (see its
# header).  Needs a configured tree (config.h) at the top of the source tree
# or BUILD.  Exit 0 (a benchmark); 2 on a build failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${BUILD:-$top}
[ $# -ge 2 ] || { echo "usage: $0 DIR_A DIR_B [ROUNDS [ITERS]]" >&2; exit 2; }
a=$(cd "$1" && pwd)
b=$(cd "$2" && pwd)
shift 2
out=${BENCH_BUILD:-$here/build}/ab
rm -rf "$out"
mkdir -p "$out"

lib() { # NAME DIR
	local v=$1 src=$2 f
	mkdir -p "$out/$v"
	for f in "$src"/*.c; do
		gcc -O2 -g -fPIC -fvisibility=hidden -pthread -include "$build/config.h" \
			-I"$src" -c "$f" -o "$out/$v/$(basename "$f" .c).o"
	done
	ld -r -o "$out/$v.r.o" "$out/$v"/*.o
	nm -g --defined-only "$out/$v.r.o" | awk -v v="$v" '{ print $3, v "_" $3 }' >"$out/$v.map"
	objcopy --redefine-syms="$out/$v.map" "$out/$v.r.o" "$out/$v.o"
	gcc -O2 -g -Wall -Wextra -DV="$v" -I"$top/libupcall" -c "$here/ab_client.c" \
		-o "$out/client-$v.o"
}
lib a "$a" || exit 2
lib b "$b" || exit 2
gcc -O2 -g -Wall -Wextra -pthread -I"$here" -I"$top/libupcall" -o "$out/ab_rt" \
	"$here/ab_main.c" "$out/client-a.o" "$out/client-b.o" "$out/a.o" "$out/b.o" || exit 2
"$out/ab_rt" "$@"
