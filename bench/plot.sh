#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Tables and plots from a benchmark's machine-readable lines, for run.sh.
#
#   bench/plot.sh p2 FILE   FILE holds bench_many's output at several session
#                           counts ("P2-data key=value ..." lines): prints the
#                           table, writes bench/plots/p2.svg (req/s and bytes
#                           per session against sessions)
#   bench/plot.sh vm FILE   FILE holds bench_scale.sh's output, one or more
#                           kernels ("P5-data", "P6-data" lines): writes
#                           bench/plots/p5.svg (time against size, add and
#                           remove, three methods, a panel per kernel) and
#                           p6.svg (total and overhead against vCPUs)
#
# The plots need gnuplot (Debian: gnuplot-nox); without it the table is
# still printed and a line says the plot was skipped.
# Env: BENCH_PLOTS (default bench/plots).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
plots=${BENCH_PLOTS:-$here/plots}
kind=${1:-}
in=${2:-}
[ -n "$kind" ] && [ -r "$in" ] || { echo "usage: $0 p2|vm FILE" >&2; exit 2; }

# field NAME LINE: the value of NAME=... in a data line
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# ms LINE NAME...: those fields of a data line, microseconds as ms ("NaN"
# for a missing sample, as gnuplot wants), on one line
ms() {
	local f
	for f in "${@:2}"; do
		awk -v u="$(field "$f" "$1")" 'BEGIN { print (u == "nan" ? "NaN" : u / 1000) }'
	done | tr '\n' ' '
}

have_gnuplot() {
	command -v gnuplot >/dev/null && return 0
	echo "plot: $1 skipped: no gnuplot (Debian: apt-get install gnuplot-nox)"
	return 1
}

# finish SVG: every file in the tree carries an SPDX line, the plots too
finish() {
	sed -i '1a <!-- SPDX-License-Identifier: MIT -->' "$1"
	echo "plot: wrote $1"
}

plot_p2() {
	local dat line n row='  %9s %11s %11s %8s %5s %9s %9s %5s %13s\n'
	dat=$(mktemp)
	trap 'rm -f "$dat"' RETURN
	echo "P2 at scale: medians per session count; targets lib/raw >= 0.70,"
	echo "library memory <= 4096 B per session (malloc below 1,000 sessions, RSS from 1,000)"
	# shellcheck disable=SC2059 # the format is the row's
	printf "$row" sessions "raw req/s" "lib req/s" \
		lib/raw "" "RSS B" "malloc B" "" "open us/sess"
	while read -r line; do
		n=$(field sessions "$line")
		# shellcheck disable=SC2059
		printf "$row" "$n" \
			"$(field raw "$line")" "$(field lib "$line")" "$(field ratio "$line")" \
			"$(field rate "$line")" "$(field rss "$line")" "$(field malloc "$line")" \
			"$(field mem "$line")" "$(field open_us "$line")"
		echo "$n $(field raw "$line") $(field lib "$line") $(field rss "$line") $(field malloc "$line") $(field open_us "$line")" >>"$dat"
	done < <(grep '^P2-data ' "$in")
	grep '^P2 at .*skipped' "$in" | sed 's/^/  /' || true
	[ -s "$dat" ] || { echo "plot: no P2 data in $in" >&2; return 1; }
	have_gnuplot p2.svg || return 0
	mkdir -p "$plots"
	gnuplot <<EOF
set terminal svg size 900,380 dynamic font "sans,11" background "white"
set output "$plots/p2.svg"
set multiplot layout 1,2 title "P2: sessions on one libupcall context, one thread"
set logscale x
set xlabel "sessions"
set key bottom left
set grid
set pointsize 0.8
set format y "%.0s%c"
set ylabel "requests per second"
set yrange [0:*]
plot "$dat" using 1:2 with linespoints title "raw epoll", \
     "$dat" using 1:3 with linespoints title "libupcall"
set ylabel "bytes per session"
set format y "%.0f"
set key bottom right
plot "$dat" using 1:4 with linespoints title "RSS", \
     "$dat" using 1:5 with linespoints title "malloc", \
     4096 with lines dashtype 2 title "target 4096 B"
unset multiplot
EOF
	finish "$plots/p2.svg"
}

# The VM benchmarks: P5 (a panel per kernel) and P6
plot_vm() {
	local tmp k line kernels=() n i cmds
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	while read -r line; do
		k=$(field kernel "$line")
		[ -e "$tmp/p5.$k" ] || kernels+=("$k")
		# size_mib, then ms: upcall, virtio-mem, ACPI add; the same removes
		echo "$(field size_mib "$line") $(ms "$line" u_add v_add a_add u_del v_del a_del)" >>"$tmp/p5.$k"
	done < <(grep '^P5-data ' "$in")
	while read -r line; do
		echo "$(field vcpus "$line") $(ms "$line" u_tot u_ovh a_tot a_ovh)" >>"$tmp/p6"
	done < <(grep '^P6-data ' "$in")
	n=${#kernels[@]}
	[ "$n" -gt 0 ] || { echo "plot: no P5 data in $in" >&2; return 1; }
	have_gnuplot "p5.svg, p6.svg" || return 0
	mkdir -p "$plots"
	cmds=""
	for ((i = 0; i < n; i++)); do
		k=${kernels[i]}
		cmds+="set title \"$k\"
plot \"$tmp/p5.$k\" using 1:2 with linespoints lc 1 lw 2 pt 7 title \"upcall add\", \
     \"$tmp/p5.$k\" using 1:3 with linespoints lc 2 lw 2 pt 7 title \"virtio-mem add\", \
     \"$tmp/p5.$k\" using 1:4 with linespoints lc 3 lw 2 pt 7 title \"ACPI add\", \
     \"$tmp/p5.$k\" using 1:5 with linespoints lc 1 lw 1 pt 6 title \"upcall remove\", \
     \"$tmp/p5.$k\" using 1:6 with linespoints lc 2 lw 1 pt 6 title \"virtio-mem remove\", \
     \"$tmp/p5.$k\" using 1:7 with linespoints lc 3 lw 1 pt 6 title \"ACPI remove\"
"
	done
	gnuplot <<EOF
set terminal svg size $((420 * n + 60)),460 dynamic font "sans,11" background "white"
set output "$plots/p5.svg"
set multiplot layout 1,$n title "P5: memory hot-add and removal, request to usable (TCG guest, medians)"
set logscale xy
set xlabel "MiB added"
set ylabel "ms"
set grid
set pointsize 0.8
set key below maxrows 3 font ",9"
$cmds
unset multiplot
EOF
	finish "$plots/p5.svg"
	[ -s "$tmp/p6" ] || { echo "plot: no P6 data in $in"; return 0; }
	gnuplot <<EOF
set terminal svg size 900,380 dynamic font "sans,11" background "white"
set output "$plots/p6.svg"
set multiplot layout 1,2 title "P6: one request for K vCPUs, upcall vs ACPI (TCG guest, medians)"
set xlabel "vCPUs added at once"
set xtics 1
set grid
set pointsize 0.8
set key top left
set ylabel "total ms"
set yrange [0:*]
plot "$tmp/p6" using 1:2 with linespoints title "upcall", \
     "$tmp/p6" using 1:4 with linespoints title "ACPI"
set ylabel "control overhead ms (total - CPU online)"
plot "$tmp/p6" using 1:3 with linespoints title "upcall", \
     "$tmp/p6" using 1:5 with linespoints title "ACPI"
unset multiplot
EOF
	finish "$plots/p6.svg"
}

case $kind in
p2) plot_p2 ;;
vm) plot_vm ;;
*) echo "usage: $0 p2|vm FILE" >&2; exit 2 ;;
esac
