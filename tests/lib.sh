# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Helpers sourced by tests/run, tests/vm/demo and the VM checks.

upcall_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# upcall_build [DIR [CONFIGURE ARGS...]]: configure (once) and build the
# library, CLI and test programs; sets UPCALL_BUILD.  A source tree that
# was configured in place is built in place (automake forbids both).
upcall_build() {
	# Already built by the caller (make vm-check)?
	[ -n "${UPCALL_BUILD:-}" ] && [ -x "$UPCALL_BUILD/tools/upcall" ] && return 0
	local dir=${1:-${UPCALL_BUILD_DIR:-$upcall_top/build}}
	[ $# -gt 0 ] && shift
	[ -f "$upcall_top/config.status" ] && dir=$upcall_top
	[ -x "$upcall_top/configure" ] || (cd "$upcall_top" && autoreconf -fi)
	mkdir -p "$dir"
	[ -f "$dir/Makefile" ] || (cd "$dir" && "$upcall_top/configure" --quiet \
		--enable-python PYTHON=/usr/bin/python3 "$@")
	make -C "$dir" -j"$(nproc)" --quiet
	make -C "$dir" -j"$(nproc)" --quiet tests/fake-guest
	UPCALL_BUILD=$dir
}

# Monotonic-ish wall clock in seconds, and seconds since a stamp.
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
