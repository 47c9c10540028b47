# SPDX-License-Identifier: MIT
# What the VM benchmarks (bench_vm.sh: P3, bench_scale.sh: P5, P6) share:
# the agent's build, booting the bed, the agent's install, the guest's
# ftrace timing of the kernel's own steps, medians.  Sourced; the caller
# sets here, bed, dir, hostp, bench_name (its messages' prefix) and socks
# (the guests' sockets, stopped on exit with dir removed).
# shellcheck shell=bash

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	local s
	for s in "${socks[@]}"; do "$bed/boot-guest" --stop "$s" >/dev/null 2>&1 || true; done
	rm -rf "$dir"
}
trap cleanup EXIT

agent_port=1234
if [ ! -x "$hostp" ]; then
	"$here/run.sh" --build-only
	hostp=$here/build/bench_vm_host
fi
agent_bin=$(dirname "$hostp")/vm_agent
if [ ! -x "$agent_bin" ] || [ "$here/vm_agent.c" -nt "$agent_bin" ]; then
	gcc -O2 -static -s -Wall -Wextra -o "$agent_bin" "$here/vm_agent.c"
fi

gx() { "$bed/guest-exec" -t 60 "$1" -- "$2"; }
# online_policy SOCKET POLICY: the guest's auto_online_blocks.  Debian's
# 6.1 boots with "offline", 6.12 and 7.x with "online" (into Normal): each
# benchmark says which it measures rather than inherit the kernel's.
online_policy() { gx "$1" "echo $2 > /sys/devices/system/memory/auto_online_blocks" >/dev/null; }
host() { "$hostp" "$@"; }
field() { sed -n "s/.*$1=\([-0-9]*\).*/\1/p" <<<"$2"; }

# One retry: the guest module is rebuilt at every boot, and a concurrent
# make in guest/ (another job's) can break one build.
boot() { # SOCKET [BOOT-GUEST OPTIONS]
	local out
	if ! out=$("$bed/boot-guest" "${@:2}" "$1" 2>&1); then
		sleep 5
		if ! out=$("$bed/boot-guest" "${@:2}" "$1" 2>&1); then
			echo "$out" | tail -20
			echo "$bench_name: could not boot the test bed" >&2
			exit 1
		fi
	fi
}

# Copy the static agent into the guest (guest-exec commands, base64 in
# 96 KB pieces: one argument string is limited to 128 KB) and start it.
install_agent() { # SOCKET
	local s=$1 f
	split -b 98000 -d -a 3 <(base64 -w0 "$agent_bin") "$dir/agent.part."
	gx "$s" 'rm -f /tmp/a.b64' >/dev/null
	for f in "$dir"/agent.part.*; do
		gx "$s" "printf %s $(cat "$f") >> /tmp/a.b64" >/dev/null
	done
	rm -f "$dir"/agent.part.*
	gx "$s" "base64 -d /tmp/a.b64 > /bin/vm_agent && chmod +x /bin/vm_agent && rm /tmp/a.b64 &&
		(setsid /bin/vm_agent $agent_port </dev/null >/dev/null 2>&1 &)" >/dev/null
	for _ in $(seq 50); do
		host agent-ping "$s" "$agent_port" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "$bench_name: the agent does not answer in $s" >&2
	exit 1
}

# ftrace's function_graph on the kernel's common steps, durations on the
# guest's CLOCK_MONOTONIC (trace_clock mono):
#   device_online          onlining a CPU or a memory block: the sysfs write
#                          of the ACPI path's agent and the upcall module's
#                          add_cpu() both come down to it
#   add_memory_resource    adding a memory range (ACPI's __add_memory and the
#                          module's add_memory() both call it)
# Only these two are hooked (set_ftrace_filter): function_graph on every
# kernel function slows a TCG guest several times over.
setup_trace() { # SOCKET
	gx "$1" 'mkdir -p /sys/kernel/tracing; mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null;
		cd /sys/kernel/tracing && echo mono > trace_clock &&
		echo "device_online add_memory_resource" > set_graph_function &&
		echo "device_online add_memory_resource" > set_ftrace_filter &&
		echo 1 > max_graph_depth && echo 1 > options/funcgraph-tail &&
		echo function_graph > current_tracer && echo > trace' >/dev/null
}

# "ONLINE_US ADD_US": the sums of both functions' durations since the last
# call (the trace is cleared for the next sample).  A call is one line,
# "DURATION us | fn();", or, when other events came in between, "fn() {"
# and later "DURATION us | } /* fn */" (funcgraph-tail names it).
kernel_times() { # SOCKET
	gx "$1" 'cat /sys/kernel/tracing/trace; echo > /sys/kernel/tracing/trace' |
		sed -n -e 's/.* \([0-9][0-9.]*\) us *| *\([a-z_]*\)();.*/\2 \1/p' \
			-e 's/.* \([0-9][0-9.]*\) us *| *} \/\* \([a-z_]*\) \*\/.*/\2 \1/p' |
		awk '$1 == "device_online" { o += $2 } $1 == "add_memory_resource" { a += $2 }
		     END { printf "%d %d\n", o, a }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
	if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms() { awk -v u="$1" 'BEGIN { if (u == "nan") print "n/a"; else printf "%.1f", u / 1000 }'; }
