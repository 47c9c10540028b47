#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# P3: vCPU (and memory) hot-add through upcall against QEMU's ACPI path,
# same guest kernel, same run, in the VM test bed (tests/vm/).
#
#   upcall guest  the bed as it boots (GPEs 1-3 masked): QMP device_add
#                 creates the vCPU (the guest sees nothing), then one ADD_CPU
#                 through libupcall on the hybrid socket; the module adds and
#                 onlines the CPU before it answers
#   ACPI guest    the same bed booted with --acpi-hotplug (ICH9's CPU and
#                 memory GPEs not masked), QMP device_add, ACPI tells the
#                 guest, and an agent
#                 (bench/vm_agent.c, reached over vsock like Kata's) onlines
#                 the CPU as soon as the kernel's uevent says it is there
#
# Totals are timed on the host around exactly the steps (bench_vm_host):
# upcall: request -> reply (the CPU is online when the guest answers);
# ACPI: device_add -> the agent's answer that the CPU is online.  The
# online step (the kernel's own CPU bring-up, the same code on both paths)
# is timed inside the guest with ftrace (function_graph): the duration of
# device_online(), which both the module's add_cpu() and the agent's write
# to cpuN/online come down to.  Control overhead = total - online step.
#
# QEMU 7.2 under TCG aborts (heap corruption) when a vCPU is hot-added again
# after an ACPI hot-remove, so each ACPI guest gives 3 samples (core-id 1-3
# of -smp 1,maxcpus=4) and BENCH_VM_BOOTS ACPI guests are booted one after
# the other; the upcall guest cycles ADD_CPU/DEL_CPU on the vCPUs it has.
# Samples alternate upcall, ACPI, upcall, ACPI ...
#
# Memory (where the guest module serves ADD_MEM): 128 MiB pc-dimms; upcall:
# ADD_MEM (the dimm was device_add'ed with GPE 3 masked), which the module
# answers once it has onlined the block itself (the agent then checks,
# untimed, that the block is online); ACPI: device_add pc-dimm, then the
# agent onlines it.  (The bed's guests boot with auto_online_blocks=offline;
# with BENCH_VM_MEM_ONLINE=auto both guests online new blocks in the
# kernel, as guests booted with memhp_default_state=online_movable do, and
# ACPI's agent only waits for the block to be online.)
# The online step is device_online() of the block (the module's or the
# agent's write to its state file);
# the kernel's add_memory_resource() (memmap set-up, the same on both
# paths) is reported too, and the overhead without it.
#
#   bench/bench_vm.sh             (env: BENCH_VM_BOOTS=3, BENCH_VM_MEM=2 per
#                                  ACPI guest, 0 to skip memory)
# Needs: the built tree (UPCALL_BUILD), bench_vm_host (BENCH_VM_HOST), and
# what tests/vm/boot-guest needs.  Exit 0 whatever the ratios (a benchmark),
# 1 if the bed could not be brought up.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${UPCALL_BUILD:-$top}
hostp=${BENCH_VM_HOST:-$here/build/bench_vm_host}
boots=${BENCH_VM_BOOTS:-3}
mem_per_boot=${BENCH_VM_MEM:-2}
# BENCH_VM_MEM_ONLINE=auto: both guests online new memory themselves
# (auto_online_blocks=online_movable, as memhp_default_state= would); the
# upcall path is then ADD_MEM alone, the ACPI agent only waits for it, and
# the online step is add_memory_resource() (the online happens inside it).
mem_online=${BENCH_VM_MEM_ONLINE:-agent}
bed=$top/tests/vm

bench_name=P3
dir=$(mktemp -d /tmp/upcall-p3.XXXXXX)

U=$dir/u.sock
socks=("$U")

# shellcheck source=vm-lib.sh
. "$here/vm-lib.sh"

echo "P3: hot-add in the VM test bed (q35, TCG), upcall vs ACPI, same kernel, same run"
date -u '+    %Y-%m-%d %H:%M UTC'

# ---- the upcall guest and the first ACPI guest, booted together
A=$dir/a1.sock
socks+=("$A")
boot "$U" &
bu=$!
boot "$A" --acpi-hotplug &
ba=$!
wait "$bu" || exit 1
wait "$ba" || exit 1

info=$("$build/tools/upcall" --socket "$U" info 2>&1 || true)
mem_ok=0
if grep -q "mem-add" <<<"$info" && grep -q "mem-del" <<<"$info" && [ "$mem_per_boot" -gt 0 ]; then
	mem_ok=1
fi
block=$(sed -n 's/^memory block size: //p' <<<"$info")
block=$((${block:-0x8000000}))
echo "    upcall guest: $(grep '^operations' <<<"$info")"

# The upcall guest's vCPUs exist in QEMU from here on (GPE 2 masked: the
# guest does not see them); upcall adds and removes APIC id 1..3 in turn.
dadd=()
for core in 1 2 3; do
	out=$(host qmp "$U.qmp" "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"max-x86_64-cpu\",\"id\":\"cpu$core\",\"socket-id\":0,\"core-id\":$core,\"thread-id\":0}}")
	dadd+=("$(field total_us "$out")")
done
install_agent "$U"
setup_trace "$U"
# Memory for the upcall guest: one pc-dimm at 4 GiB, invisible to the
# guest; ADD_MEM/DEL_MEM cycle on it.
mem_addr=$((0x100000000))
mem_size=$block
if [ "$mem_ok" -eq 1 ]; then
	host qmp "$U.qmp" "{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":\"memory-backend-ram\",\"id\":\"m-u\",\"size\":$mem_size}}" >/dev/null
	host qmp "$U.qmp" "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"pc-dimm\",\"id\":\"d-u\",\"memdev\":\"m-u\",\"addr\":$mem_addr}}" >/dev/null
fi

set_mem_policy() { # SOCKET
	if [ "$mem_online" = auto ]; then online_policy "$1" online_movable; else
		online_policy "$1" offline; fi
}
set_mem_policy "$U"

prep_acpi() { # SOCKET
	set_mem_policy "$1"
	install_agent "$1"
	setup_trace "$1"
}
prep_acpi "$A"

u_tot=() u_win=() a_tot=() a_win=() a_dev=() a_wait=() a_write=()
um_tot=() um_on=() um_add=() am_tot=() am_on=() am_add=() am_dev=()
apic=0
printf '    %-7s %-6s %10s %12s %12s   %s\n' sample path "total ms" "online ms" "overhead ms" "detail"
for ((b = 1; b <= boots; b++)); do
	if [ "$b" -gt 1 ]; then
		"$bed/boot-guest" --stop "$A" >/dev/null 2>&1 || true
		A=$dir/a$b.sock
		socks+=("$A")
		boot "$A" --acpi-hotplug
		prep_acpi "$A"
	fi
	for core in 1 2 3; do
		# upcall: ADD_CPU of one APIC id, timed; then DEL_CPU (not timed)
		apic=$((apic % 3 + 1))
		out=$(host upcall-cpu "$U" add "$apic")
		t=$(field total_us "$out")
		read -r w _ < <(kernel_times "$U")
		host upcall-cpu "$U" del "$apic" >/dev/null
		kernel_times "$U" >/dev/null
		u_tot+=("$t") u_win+=("$w")
		printf '    %-7s %-6s %10s %12s %12s   %s\n' "$b.$core" upcall "$(ms "$t")" "$(ms "$w")" \
			"$(ms $((t - w)))" "ADD_CPU APIC id $apic, result $(field result "$out")"
		# ACPI: device_add, the agent onlines it
		out=$(host acpi-cpu "$A.qmp" "$A" "$agent_port" "cpu$core" "$core")
		t=$(field total_us "$out")
		read -r w _ < <(kernel_times "$A")
		read -r _ _ wait_us write_us < <(sed -n 's/.*agent=\(.*\)/\1/p' <<<"$out")
		a_tot+=("$t") a_win+=("$w") a_dev+=("$(field device_add_us "$out")")
		a_wait+=("$wait_us") a_write+=("$write_us")
		printf '    %-7s %-6s %10s %12s %12s   %s\n' "$b.$core" acpi "$(ms "$t")" "$(ms "$w")" \
			"$(ms $((t - w)))" "device_add $(ms "$(field device_add_us "$out")") ms, CPU there $(ms "$wait_us") ms after the agent call, online write $(ms "$write_us") ms"
	done
	if [ "$mem_ok" -eq 1 ]; then
		for ((k = 1; k <= mem_per_boot; k++)); do
			first=$((mem_addr / block))
			agent_args=("$agent_port" "$first" 1)
			[ "$mem_online" = auto ] && agent_args=()
			out=$(host upcall-mem "$U" "$mem_addr" "$mem_size" "${agent_args[@]}") || {
				echo "    upcall ADD_MEM failed: $out"; mem_ok=0; break; }
			t=$(field total_us "$out")
			read -r wr ad < <(kernel_times "$U")
			# auto: the block is onlined inside add_memory_resource()
			[ "$mem_online" = auto ] && wr=$ad
			um_tot+=("$t") um_on+=("$wr") um_add+=("$ad")
			printf '    %-7s %-6s %10s %12s %12s   %s\n' "$b.m$k" upcall "$(ms "$t")" "$(ms "$wr")" \
				"$(ms $((t - wr)))" "ADD_MEM $(ms "$(field add_us "$out")") ms (add_memory_resource $(ms "$ad") ms), the module onlined 1 block"
			host upcall-mem-del "$U" "$mem_addr" "$mem_size" >/dev/null 2>&1 ||
				echo "    (upcall DEL_MEM failed: later upcall memory samples may fail)"
			kernel_times "$U" >/dev/null
			a_addr=$((mem_addr + k * mem_size))
			wait_arg=()
			[ "$mem_online" = auto ] && wait_arg=(wait)
			out=$(host acpi-mem "$A.qmp" "$A" "$agent_port" "d$k" "$a_addr" "$mem_size" \
				$((a_addr / block)) 1 "${wait_arg[@]}") || { echo "    ACPI pc-dimm failed: $out"; break; }
			t=$(field total_us "$out")
			read -r wr ad < <(kernel_times "$A")
			[ "$mem_online" = auto ] && wr=$ad
			am_tot+=("$t") am_on+=("$wr") am_add+=("$ad") am_dev+=("$(field device_add_us "$out")")
			printf '    %-7s %-6s %10s %12s %12s   %s\n' "$b.m$k" acpi "$(ms "$t")" "$(ms "$wr")" \
				"$(ms $((t - wr)))" "device_add pc-dimm $(ms "$(field device_add_us "$out")") ms (add_memory_resource $(ms "$ad") ms), then the agent $([ "$mem_online" = auto ] && echo 'sees the block online' || echo 'onlines 1 block')"
		done
	fi
done

# The channels' own round trips (nothing hot-added): what every request
# pays on this bed (socat, QEMU's user network, the guest's relay, vsock
# loopback) before the guest does any work.
u_rtt=$(field rtt_us "$(host upcall-rtt "$U" 21)")
a_rtt=$(field rtt_us "$(host agent-ping "$A" "$agent_port" 21)")

ovh() { # TOTALS STEPS: the per-sample differences
	local -n _t=$1 _w=$2
	local i
	for i in "${!_t[@]}"; do echo $((_t[i] - _w[i])); done
}

mu_t=$(printf '%s\n' "${u_tot[@]}" | median)
mu_w=$(printf '%s\n' "${u_win[@]}" | median)
mu_o=$(ovh u_tot u_win | median)
ma_t=$(printf '%s\n' "${a_tot[@]}" | median)
ma_w=$(printf '%s\n' "${a_win[@]}" | median)
ma_o=$(ovh a_tot a_win | median)
md=$(printf '%s\n' "${dadd[@]}" | median)
echo "    vCPU, medians of ${#u_tot[@]} samples per path (ms):"
printf '      %-8s total %8s   online step %8s   control overhead %8s\n' \
	upcall "$(ms "$mu_t")" "$(ms "$mu_w")" "$(ms "$mu_o")" acpi "$(ms "$ma_t")" "$(ms "$ma_w")" "$(ms "$ma_o")"
echo "      ACPI detail: device_add $(ms "$(printf '%s\n' "${a_dev[@]}" | median)") ms," \
	"CPU present $(ms "$(printf '%s\n' "${a_wait[@]}" | median)") ms after the agent call," \
	"the agent's online write $(ms "$(printf '%s\n' "${a_write[@]}" | median)") ms (device_online() in it: the online step)"
echo "      upcall guest: QMP device_add of a vCPU (done once per vCPU, before the requests) $(ms "$md") ms"
echo "      channel round trips on this bed: upcall GET_INFO $(ms "$u_rtt") ms, agent ping $(ms "$a_rtt") ms"
echo "      so: upcall overhead = $(ms "$u_rtt") ms round trip + $(ms $((${mu_o%.*} - u_rtt))) ms in the guest (map, register, reply);" \
	"ACPI overhead = $(ms "$a_rtt") ms round trip + $(ms $((${ma_o%.*} - a_rtt))) ms (device_add, GPE, AML, ACPI scan, uevent, agent)"
ratio=$(awk -v u="$mu_o" -v a="$ma_o" 'BEGIN { printf "%.3f", u / a }')
ratio_d=$(awk -v u="$mu_o" -v d="$md" -v a="$ma_o" 'BEGIN { printf "%.3f", (u + d) / a }')
verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 0.2 ? "PASS" : "MISS") }')
echo "P3 vCPU control overhead upcall/ACPI = $ratio, target <= 0.20: $verdict" \
	"(counting QEMU's device_add in the upcall path too: $ratio_d)"
echo "P3 vCPU total upcall/ACPI = $(awk -v u="$mu_t" -v a="$ma_t" 'BEGIN { printf "%.3f", u / a }') (information)"

if [ "${#um_tot[@]}" -gt 0 ] && [ "${#am_tot[@]}" -gt 0 ]; then
	mmu_t=$(printf '%s\n' "${um_tot[@]}" | median)
	mmu_o=$(ovh um_tot um_on | median)
	mma_t=$(printf '%s\n' "${am_tot[@]}" | median)
	mma_o=$(ovh am_tot am_on | median)
	# With auto-online, the online step is add_memory_resource() itself.
	nested=0
	[ "$mem_online" = auto ] && nested=1
	mmu_k=$(for i in "${!um_tot[@]}"; do echo $((um_tot[i] - um_add[i] - (1 - nested) * um_on[i])); done | median)
	mma_k=$(for i in "${!am_tot[@]}"; do echo $((am_tot[i] - am_add[i] - (1 - nested) * am_on[i])); done | median)
	[ "$mem_online" = auto ] &&
		echo "      (onlined by the kernel inside add_memory_resource(): the online step column is add_memory_resource())"
	echo "    memory (128 MiB, onlined by: $mem_online), medians of ${#um_tot[@]} / ${#am_tot[@]} samples (ms):"
	printf '      %-8s total %8s   online step %8s   control overhead %8s\n' \
		upcall "$(ms "$mmu_t")" "$(ms "$(printf '%s\n' "${um_on[@]}" | median)")" "$(ms "$mmu_o")" \
		acpi "$(ms "$mma_t")" "$(ms "$(printf '%s\n' "${am_on[@]}" | median)")" "$(ms "$mma_o")"
	r=$(awk -v u="$mmu_o" -v a="$mma_o" 'BEGIN { printf "%.3f", u / a }')
	echo "      add_memory_resource: upcall $(ms "$(printf '%s\n' "${um_add[@]}" | median)") ms," \
		"ACPI $(ms "$(printf '%s\n' "${am_add[@]}" | median)") ms; overhead without it: upcall $(ms "$mmu_k") ms, ACPI $(ms "$mma_k") ms"
	echo "P3 memory control overhead upcall/ACPI = $r, target <= 0.20:" \
		"$(awk -v r="$r" 'BEGIN { print (r <= 0.2 ? "PASS" : "MISS") }')" \
		"(without add_memory_resource: $(awk -v u="$mmu_k" -v a="$mma_k" 'BEGIN { printf "%.3f", u / a }'))"
else
	echo "P3 memory: not measured (the guest module does not serve ADD_MEM/DEL_MEM, or BENCH_VM_MEM=0)"
fi
exit 0
