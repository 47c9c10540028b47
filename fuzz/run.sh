#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build and run the hardening checks of fuzz/:
#   fault_inject   the guest resets the stream at every byte offset of the
#                  handshake and of a reply (against the in-tree libupcall.so),
#                  with the context's fd and again with the caller polling
#                  the sockets (--io)
#   fuzz_reply     libupcall's pure parsers (libupcall/proto.c built in)
#   fuzz_stream    a real session fed the input in pieces (libupcall's
#                  sources built in, instrumented; its socket in memory)
#   fuzz_validate  the guest module's request validation in user space
#                  (guest/upcall_validate.c)
# Each fuzzer starts from its seed corpus (fuzz/corpus/<harness>, written by
# fuzz/gen-corpus.py) and runs for a bounded time.  Exit status: non-zero if
# the fault-injection test fails or any fuzzer finds a crash, leak, timeout
# or sanitizer report (the reproducer is left in $FUZZ_BUILD/artifacts/).
#
#   fuzz/run.sh [SECONDS]          seconds per fuzzer (default $FUZZ_SECONDS or 60)
#   fuzz/run.sh --build-only
#   fuzz/run.sh --no-fault | --fault-only
# Env: FUZZ_BUILD (default fuzz/build), CLANG (default clang), BUILD (the
# configured tree with libupcall/.libs; default the top of the source tree).
# Needs clang with libFuzzer (Debian: clang, libclang-rt-14-dev) and python3.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${BUILD:-$top}
out=${FUZZ_BUILD:-$here/build}
cc=${CLANG:-clang}
secs=${FUZZ_SECONDS:-60}
do_fault=1
do_fuzz=1
build_only=0

while [ $# -gt 0 ]; do
	case $1 in
	--build-only) build_only=1 ;;
	--no-fault) do_fault=0 ;;
	--fault-only) do_fuzz=0 ;;
	[0-9]*) secs=$1 ;;
	*) echo "usage: $0 [SECONDS] [--build-only] [--no-fault | --fault-only]" >&2; exit 2 ;;
	esac
	shift
done

mkdir -p "$out/artifacts"
if [ "$do_fuzz" -eq 1 ]; then
	command -v "$cc" >/dev/null ||
		{ echo "fuzz: $cc not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
	# libupcall's sources want config.h (configure's) for _GNU_SOURCE and
	# the version; without a configured tree, say the same on the command line.
	if [ -f "$build/config.h" ]; then
		cfg=(-include "$build/config.h")
	else
		cfg=(-D_GNU_SOURCE -DPACKAGE_VERSION='"fuzz"')
	fi
	# shellcheck disable=SC2054 # commas belong to -fsanitize=
	san=(-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined)
	warn=(-Wall -Wextra -Wno-unused-parameter)

	echo "fuzz: building in $out"
	"$cc" "${san[@]}" -fsanitize=fuzzer "${warn[@]}" "${cfg[@]}" -I"$top/libupcall" \
		-o "$out/fuzz_reply" "$here/fuzz_reply.c" "$top/libupcall/proto.c"
	# fuzz_stream: libupcall's sources with their socket calls sent to the
	# harness's in-memory stream (fuzz-io.h), then the harness.
	rm -rf "$out/fuzz_stream.obj"
	mkdir -p "$out/fuzz_stream.obj"
	(cd "$out/fuzz_stream.obj" &&
		"$cc" "${san[@]}" -fsanitize=fuzzer-no-link "${warn[@]}" "${cfg[@]}" \
			-include "$here/fuzz-io.h" -I"$top/libupcall" -c "$top"/libupcall/*.c)
	"$cc" "${san[@]}" -fsanitize=fuzzer "${warn[@]}" "${cfg[@]}" -I"$top/libupcall" -pthread \
		-o "$out/fuzz_stream" "$here/fuzz_stream.c" "$out"/fuzz_stream.obj/*.o
	"$cc" "${san[@]}" -fsanitize=fuzzer "${warn[@]}" -I"$top/guest" -I"$top/guest/include" \
		-o "$out/fuzz_validate" "$here/fuzz_validate.c" "$top/guest/upcall_validate.c"
fi

status=0
if [ "$do_fault" -eq 1 ]; then
	lib=$build/libupcall/.libs
	if [ ! -e "$lib/libupcall.so" ]; then
		echo "fuzz: $lib/libupcall.so missing: run make first" >&2
		exit 2
	fi
	gcc -O2 -g -Wall -Wextra -pthread -I"$top/libupcall" -o "$out/fault_inject" \
		"$here/fault_inject.c" -L"$lib" -lupcall -Wl,-rpath,"$lib"
fi
[ "$build_only" -eq 1 ] && exit 0

if [ "$do_fault" -eq 1 ]; then
	echo "== fault_inject"
	"$out/fault_inject" | tail -n 40 || status=1
	echo "== fault_inject --io (the caller polls the sockets)"
	"$out/fault_inject" --io | tail -n 40 || status=1
fi

if [ "$do_fuzz" -eq 1 ]; then
	for h in fuzz_reply fuzz_stream fuzz_validate; do
		work=$out/corpus/$h
		mkdir -p "$work"
		case $h in
		fuzz_validate) maxlen=1100 ;;
		*) maxlen=8192 ;;
		esac
		echo "== $h: ${secs}s from $(find "$here/corpus/$h" -type f | wc -l) seeds"
		if "$out/$h" -max_total_time="$secs" -max_len="$maxlen" -timeout=10 \
			-rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix="$out/artifacts/$h-" "$work" "$here/corpus/$h" \
			>"$out/$h.log" 2>&1; then
			grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$out/$h.log" |
				tr '\n' ' '
			echo
			echo "ok   - $h: no crash"
		else
			tail -n 30 "$out/$h.log"
			echo "FAIL - $h: see $out/$h.log and $out/artifacts/"
			status=1
		fi
	done
fi
exit $status
