#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the benchmarks against the in-tree libupcall and run them:
#   P1  bench_rt     request round trip vs a raw 1024-byte ping-pong
#   P2  bench_many   10, 1,000 and 10,000 sessions on one context vs a raw
#                    epoll baseline (BENCH_SCALE), then a table of the three
#   P3  bench_vm.sh  vCPU (and memory) hot-add, upcall vs ACPI, in the VM
#                    test bed (only with --vm: boots two guests, ~2-4 min)
#   P5  bench_scale.sh  memory of growing sizes, upcall vs virtio-mem vs
#   P6                  ACPI; vCPU batches of 1-3, upcall vs ACPI; on each
#                    kernel of BENCH_KERNELS (default "6.1 6.12 7.x"; with
#                    --vm, ~3 min per kernel), then their plots
# Every benchmark prints its per-round numbers, the medians, the ratio, the
# target and PASS or MISS; this script exits 0 whatever the ratios are (a
# benchmark reports, it does not gate), non-zero only if something could not
# be built or run.  The whole output is also kept in $BENCH_BUILD/last-run.txt.
# Plots (SVG, with gnuplot from Debian's gnuplot-nox, skipped with a line
# saying so without it) go to bench/plots/, which bench/RESULTS.md embeds.
#
#   bench/run.sh [--vm] [--vm-only] [--build-only]
# Env: BUILD (configured tree, default the top of the source tree),
# BENCH_BUILD (default bench/build), BENCH_PIN, BENCH_ROUNDS, BENCH_ITERS,
# BENCH_SCALE (session counts for P2, default "10 1000 10000"), BENCH_MSECS
# (see the programs' headers).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${BUILD:-$top}
out=${BENCH_BUILD:-$here/build}
vm=0
host=1
build_only=0

while [ $# -gt 0 ]; do
	case $1 in
	--vm) vm=1 ;;
	--vm-only) vm=1; host=0 ;;
	--build-only) build_only=1 ;;
	*) echo "usage: $0 [--vm] [--vm-only] [--build-only]" >&2; exit 2 ;;
	esac
	shift
done

lib=$build/libupcall/.libs
if [ ! -e "$lib/libupcall.so" ]; then
	echo "bench: building the library in $build"
	make -C "$build" --quiet
fi
mkdir -p "$out"
cflags=(-O2 -g -Wall -Wextra -pthread -I"$top/libupcall")
# shellcheck disable=SC2054 # commas belong to -Wl,
ldflags=(-L"$lib" -lupcall -Wl,-rpath,"$lib")
for p in bench_rt bench_many bench_vm_host; do
	gcc "${cflags[@]}" -o "$out/$p" "$here/$p.c" "${ldflags[@]}"
done
[ "$build_only" -eq 1 ] && exit 0

{
	echo "== machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
		"kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "== library: $(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)"
	if [ "$host" -eq 1 ]; then
		echo
		"$out/bench_rt"
		: >"$out/p2.txt"
		for n in ${BENCH_SCALE:-10 1000 10000}; do
			echo
			rc=0
			"$out/bench_many" --sessions "$n" | tee -a "$out/p2.txt" || rc=$?
			# 77: the fd limit is too low for n; the line says so.
			[ $rc -eq 0 ] || [ $rc -eq 77 ] || exit $rc
		done
		echo
		"$here/plot.sh" p2 "$out/p2.txt"
	fi
	if [ "$vm" -eq 1 ]; then
		echo
		BENCH_VM_HOST=$out/bench_vm_host UPCALL_BUILD=$build "$here/bench_vm.sh"
		: >"$out/vm-scale.txt"
		for k in ${BENCH_KERNELS:-6.1 6.12 7.x}; do
			echo
			UPCALL_TESTBED_KERNEL=$k BENCH_VM_HOST=$out/bench_vm_host \
				UPCALL_BUILD=$build "$here/bench_scale.sh" | tee -a "$out/vm-scale.txt"
		done
		echo
		"$here/plot.sh" vm "$out/vm-scale.txt"
	fi
} 2>&1 | tee "$out/last-run.txt"
exit "${PIPESTATUS[0]}"
