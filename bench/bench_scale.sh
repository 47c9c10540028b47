#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# P5 and P6: how hot-add cost grows with the work, in the VM test bed
# (tests/vm/, q35 under TCG), every method on the same guest kernel in the
# same run.
#
# P6, vCPUs in growing batches: one ADD_CPU of 1, 2 and 3 vCPUs (made by
# QMP device_add first, GPE 2 masked so the guest does not see them) against
# ACPI: device_add of each vCPU, then the agent (bench/vm_agent.c, over
# vsock like Kata's) onlines them as the uevents say they are there.  The
# online step (device_online() of each CPU, the same kernel code on both
# paths) is timed in the guest with ftrace; control overhead = total - it.
# Target: overhead upcall/ACPI <= 0.2 at every batch size.  Measured where
# the bed hot-plugs vCPUs (tests/vm/boot-guest, vcpu_shape): under TCG from
# 6.9 the kernel counts no vCPU that was not there at boot as possible, so
# ACPI cannot hot-add one and P6 is skipped with a line saying so.  QEMU 7.2 under
# TCG aborts when a vCPU is hot-added again after an ACPI hot-remove, so an
# ACPI guest (7 vCPUs possible) gives one sample of each batch size (cores
# 1; 2-3; 4-6) and BENCH_VM_ROUNDS of them are booted in turn.
#
# P5, memory of growing sizes (BENCH_P5_SIZES, default 128M 1G 4G): from
# the request to the memory usable (the blocks online, MemTotal grown):
#   upcall      ADD_MEM of a pc-dimm that QMP added with GPE 3 masked; the
#               module adds and onlines the blocks (movable) before it
#               answers (the agent checks, untimed, that they are online);
#               back: DEL_MEM
#   virtio-mem  a virtio-mem-pci device plugged at boot with requested-size
#               0 and the guest's virtio_mem driver, grown with QMP qom-set
#               of requested-size, the guest onlining new blocks itself
#               (auto_online_blocks=online_movable, as virtio-mem users
#               boot: the driver relies on it), until the agent sees them
#               online; back: requested-size 0 until none is online
#   ACPI        QMP device_add of a pc-dimm, the guest told by ACPI, the
#               agent onlining each block as a udev rule would; back: QMP
#               device_del until QEMU's DEVICE_DELETED (the guest offlined
#               and ejected it)
# Targets: upcall add <= 1.0x virtio-mem and <= 0.5x ACPI at every size;
# the time per 128 MiB block is reported, and removal side by side, and
# the kernel's own work on each path (add_memory_resource() and
# device_online(), traced with ftrace as in P3) apart from the rest.
#
#   bench/bench_scale.sh   (env: BENCH_VM_ROUNDS=3, BENCH_P5_SIZES, and the
#                          bed's UPCALL_TESTBED_KERNEL for the guest kernel)
# Prints "P5-data ..." and "P6-data ..." lines for bench/plot.sh.  Needs
# what bench_vm.sh needs.  Exit 0 whatever the ratios, 1 if the bed could
# not be brought up.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${UPCALL_BUILD:-$top}
export UPCALL_BUILD=$build
hostp=${BENCH_VM_HOST:-$here/build/bench_vm_host}
rounds=${BENCH_VM_ROUNDS:-3}
read -r -a sizes <<<"${BENCH_P5_SIZES:-128M 1G 4G}"
bed=$top/tests/vm
bench_name=P5/P6
dir=$(mktemp -d /tmp/upcall-p5.XXXXXX)
socks=()
# shellcheck source=vm-lib.sh
. "$here/vm-lib.sh"

block=$((0x8000000))	# x86_64's memory block below 64 GiB of RAM
gib=$((1 << 30))
# The pc-dimms' (and ACPI's) layout above 4 GiB: each size at the next
# GiB boundary; the virtio-mem region sits at 4 GiB in its own guest.
declare -A addr bytes nblk
total=0
cursor=$((4 * gib))
for sz in "${sizes[@]}"; do
	b=$(numfmt --from=iec "$sz")
	[ $((b % block)) -eq 0 ] || { echo "BENCH_P5_SIZES: $sz is not whole 128 MiB blocks" >&2; exit 2; }
	bytes[$sz]=$b
	nblk[$sz]=$((b / block))
	addr[$sz]=$cursor
	cursor=$(((cursor + b + gib - 1) / gib * gib))
	total=$((total + b))
	if [ "$b" -gt "${vmem_size:-0}" ]; then vmem_size=$b; fi
done
maxmem="$(((cursor - 4 * gib) / gib + 1))G"
vmem_args="-object memory-backend-ram,id=vmem0,size=$vmem_size"
vmem_args+=" -device virtio-mem-pci,id=vm0,memdev=vmem0,requested-size=0,memaddr=$((4 * gib))"

echo "P5/P6: cost as the work grows, in the VM test bed (q35, TCG), same kernel, same run"
date -u '+    %Y-%m-%d %H:%M UTC'

# ---- the upcall guest and the virtio-mem guest, booted together
U=$dir/u.sock V=$dir/v.sock
socks+=("$U" "$V")
UPCALL_TESTBED_MAXMEM=$maxmem boot "$U" &
bu=$!
UPCALL_TESTBED_MAXMEM=$maxmem UPCALL_TESTBED_MODULES=virtio_mem \
	UPCALL_TESTBED_QEMU_ARGS=$vmem_args boot "$V" &
bv=$!
wait "$bu" || exit 1
wait "$bv" || exit 1
kver=$(gx "$U" 'uname -r')
echo "    guests: $kver, memory blocks of $((block >> 20)) MiB"
p6=1
if [ "$(cat "$U.run/vcpus" 2>/dev/null || echo hotplug)" != hotplug ]; then
	p6=0
	echo "P6 on $kver: skipped: under TCG this kernel takes no vCPU that was not there at boot, so ACPI cannot hot-add one to compare with"
fi

qmpu() { host qmp "$U.qmp" "$1" >/dev/null; }
[ $p6 -eq 0 ] || for core in 1 2 3; do
	qmpu "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"max-x86_64-cpu\",\"id\":\"cpu$core\",\"socket-id\":0,\"core-id\":$core,\"thread-id\":0}}"
done
for sz in "${sizes[@]}"; do
	qmpu "{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":\"memory-backend-ram\",\"id\":\"m-$sz\",\"size\":${bytes[$sz]}}}"
	qmpu "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"pc-dimm\",\"id\":\"d-$sz\",\"memdev\":\"m-$sz\",\"addr\":${addr[$sz]}}}"
done
install_agent "$U"
setup_trace "$U"
install_agent "$V"
setup_trace "$V"
online_policy "$V" online_movable

# Samples, space-separated per key, in microseconds
declare -A u6_tot u6_on a6_tot a6_on u5_add u5_del v5_add v5_del a5_add a5_del u5_k v5_k a5_k
row() { printf '    %-6s %-11s %-6s %10s %12s   %s\n' "$@"; }
row round sample path "total ms" "online ms" detail
ids() { seq -s ' ' 1 "$1"; }	# APIC ids 1..K

for ((r = 1; r <= rounds; r++)); do
	A=$dir/a$r.sock
	socks+=("$A")
	UPCALL_TESTBED_VCPUS=7 UPCALL_TESTBED_MAXMEM=$maxmem boot "$A" --acpi-hotplug
	# The agent onlines new blocks, as a udev rule would; a kernel whose
	# policy onlines them itself (Debian's 6.12: "online", into Normal,
	# where they cannot be removed reliably) is told not to.
	online_policy "$A" offline
	install_agent "$A"
	setup_trace "$A"

	# ---- P6: one batch of K vCPUs, K = 1, 2, 3
	core=1
	[ $p6 -eq 0 ] || for k in 1 2 3; do
		# shellcheck disable=SC2046 # the ids are words
		out=$(host upcall-cpu "$U" add $(ids $k))
		t=$(field total_us "$out")
		read -r w _ < <(kernel_times "$U")
		# shellcheck disable=SC2046
		host upcall-cpu "$U" del $(ids $k) >/dev/null
		kernel_times "$U" >/dev/null
		u6_tot[$k]+=" $t" u6_on[$k]+=" $w"
		row "$r" "$k vCPU" upcall "$(ms "$t")" "$(ms "$w")" "ADD_CPU of APIC ids $(ids $k), result $(field result "$out")"
		args=()
		for ((i = 0; i < k; i++, core++)); do args+=("c$core" "$core"); done
		out=$(host acpi-cpu "$A.qmp" "$A" "$agent_port" "${args[@]}")
		t=$(field total_us "$out")
		read -r w _ < <(kernel_times "$A")
		a6_tot[$k]+=" $t" a6_on[$k]+=" $w"
		row "$r" "$k vCPU" acpi "$(ms "$t")" "$(ms "$w")" "device_add x$k $(ms "$(field device_add_us "$out")") ms, then the agent onlines them"
	done

	# ---- P5: each size added and removed by each method
	for sz in "${sizes[@]}"; do
		a=${addr[$sz]} b=${bytes[$sz]} n=${nblk[$sz]}
		out=$(host upcall-mem "$U" "$a" "$b" "$agent_port" $((a / block)) "$n")
		t=$(field total_us "$out")
		read -r on ad < <(kernel_times "$U")
		u5_k[$sz]+=" $((on + ad))"
		out=$(host upcall-mem-del "$U" "$a" "$b")
		d=$(field total_us "$out")
		kernel_times "$U" >/dev/null
		u5_add[$sz]+=" $t" u5_del[$sz]+=" $d"
		row "$r" "+$sz" upcall "$(ms "$t")" "" "ADD_MEM of $n blocks; DEL_MEM $(ms "$d") ms"

		out=$(host vmem "$V.qmp" "$V" "$agent_port" vm0 "$b" $((4 * gib / block)) "$n")
		t=$(field total_us "$out")
		# Onlined by the policy inside add_memory_resource()
		read -r on ad < <(kernel_times "$V")
		v5_k[$sz]+=" $((on + ad))"
		out=$(host vmem "$V.qmp" "$V" "$agent_port" vm0 0 $((4 * gib / block)) "$n")
		d=$(field total_us "$out")
		kernel_times "$V" >/dev/null
		v5_add[$sz]+=" $t" v5_del[$sz]+=" $d"
		row "$r" "+$sz" virtio-mem "$(ms "$t")" "" "requested-size $sz until $n blocks are online; back to 0 $(ms "$d") ms"

		if out=$(host acpi-mem "$A.qmp" "$A" "$agent_port" "d$sz" "$a" "$b" $((a / block)) "$n" 2>&1); then
			t=$(field total_us "$out")
			a5_add[$sz]+=" $t"
			read -r on ad < <(kernel_times "$A")
			a5_k[$sz]+=" $((on + ad))"
			if out=$(host acpi-mem-del "$A.qmp" "d$sz" 2>&1); then
				d=$(field total_us "$out")
				a5_del[$sz]+=" $d"
			else
				d=nan
				echo "    (ACPI device_del of $sz failed: $out)"
			fi
			row "$r" "+$sz" acpi "$(ms "$t")" "" "device_add pc-dimm, the agent onlines $n blocks; device_del $(ms "$d") ms"
		else
			echo "    (ACPI pc-dimm $sz failed: $out)"
		fi
	done
	"$bed/boot-guest" --stop "$A" >/dev/null 2>&1 || true
done

# med KEY ARRAY-NAME: the median of that key's samples, "nan" if none
med() { local -n _a=$2; tr ' ' '\n' <<<"${_a[$1]:-}" | { grep . || true; } | median; }
# The per-sample overheads total - online step, for key K
ovh6() { # TOTALS STEPS K
	local -n _t=$1 _w=$2
	local -a t w
	read -r -a t <<<"${_t[$3]}"
	read -r -a w <<<"${_w[$3]}"
	for i in "${!t[@]}"; do echo $((t[i] - w[i])); done | median
}
ratio() { awk -v u="$1" -v a="$2" 'BEGIN { if (u == "nan" || a == "nan" || a == 0) print "nan"; else printf "%.3f", u / a }'; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "nan" || b == "nan") ? "nan" : a - b }'; }
# per US: ms per 128 MiB block of the current size ($n blocks)
per() { awk -v u="$1" -v n="$n" 'BEGIN { if (u == "nan") print "n/a"; else printf "%.2f", u / n / 1000 }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r == "nan" ? "n/a" : r <= t ? "PASS" : "MISS") }'; }

echo
[ $p6 -eq 0 ] || echo "    P6 vCPUs on $kver, medians of $rounds rounds (ms): total, online step, control overhead"
[ $p6 -eq 0 ] || for k in 1 2 3; do
	ut=$(med "$k" u6_tot) at=$(med "$k" a6_tot)
	uo=$(ovh6 u6_tot u6_on "$k") ao=$(ovh6 a6_tot a6_on "$k")
	rr=$(ratio "$uo" "$ao")
	printf '      %d vCPU  upcall %8s %8s %8s   acpi %8s %8s %8s\n' "$k" \
		"$(ms "$ut")" "$(ms "$(med "$k" u6_on)")" "$(ms "$uo")" \
		"$(ms "$at")" "$(ms "$(med "$k" a6_on)")" "$(ms "$ao")"
	echo "P6 $kver $k vCPU: control overhead upcall/ACPI = $rr, target <= 0.20: $(verdict "$rr" 0.2)" \
		"(totals: $(ratio "$ut" "$at"))"
	echo "P6-data kernel=$kver vcpus=$k u_tot=$ut u_ovh=$uo a_tot=$at a_ovh=$ao"
done

echo
echo "    P5 memory on $kver, medians of $rounds rounds (ms): add (per 128 MiB block), remove"
for sz in "${sizes[@]}"; do
	n=${nblk[$sz]}
	ua=$(med "$sz" u5_add) va=$(med "$sz" v5_add) aa=$(med "$sz" a5_add)
	ud=$(med "$sz" u5_del) vd=$(med "$sz" v5_del) ad=$(med "$sz" a5_del)
	printf '      +%-5s add: upcall %9s (%s/block)  virtio-mem %9s (%s/block)  acpi %9s (%s/block)\n' "$sz" \
		"$(ms "$ua")" "$(per "$ua")" "$(ms "$va")" "$(per "$va")" "$(ms "$aa")" "$(per "$aa")"
	printf '      -%-5s remove: upcall %9s  virtio-mem %9s  acpi %9s\n' "$sz" "$(ms "$ud")" "$(ms "$vd")" "$(ms "$ad")"
	uk=$(med "$sz" u5_k) vk=$(med "$sz" v5_k) ak=$(med "$sz" a5_k)
	printf '      +%-5s the kernel'"'"'s own work (add_memory_resource + device_online): upcall %s, virtio-mem %s, acpi %s;\n' \
		"$sz" "$(ms "$uk")" "$(ms "$vk")" "$(ms "$ak")"
	printf '             the rest (control overhead): upcall %s, virtio-mem %s, acpi %s\n' \
		"$(ms "$(sub "$ua" "$uk")")" "$(ms "$(sub "$va" "$vk")")" "$(ms "$(sub "$aa" "$ak")")"
	rv=$(ratio "$ua" "$va") ra=$(ratio "$ua" "$aa")
	echo "P5 $kver +$sz add: upcall/virtio-mem = $rv, target <= 1.00: $(verdict "$rv" 1.0);" \
		"upcall/ACPI = $ra, target <= 0.50: $(verdict "$ra" 0.5)"
	echo "P5-data kernel=$kver size_mib=$((${bytes[$sz]} >> 20)) blocks=$n u_add=$ua v_add=$va a_add=$aa u_del=$ud v_del=$vd a_del=$ad u_kernel=$uk v_kernel=$vk a_kernel=$ak"
done
exit 0
