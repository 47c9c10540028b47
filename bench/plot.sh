#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Tables and plots from a benchmark's machine-readable lines, for run.sh.
#
#   bench/plot.sh p2 FILE   FILE holds bench_many's output at several session
#                           counts ("P2-data key=value ..." lines): prints the
#                           table, writes bench/plots/p2.svg (req/s and bytes
#                           per session against sessions)
#
# The plots need gnuplot (Debian: gnuplot-nox); without it the table is
# still printed and a line says the plot was skipped.
# Env: BENCH_PLOTS (default bench/plots).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
plots=${BENCH_PLOTS:-$here/plots}
kind=${1:-}
in=${2:-}
[ -n "$kind" ] && [ -r "$in" ] || { echo "usage: $0 p2 FILE" >&2; exit 2; }

# field NAME LINE: the value of NAME=... in a data line
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

plot_p2() {
	local dat line n
	dat=$(mktemp)
	trap 'rm -f "$dat"' RETURN
	echo "P2 at scale: medians per session count; targets lib/raw >= 0.70,"
	echo "library memory <= 4096 B per session (malloc below 1,000 sessions, RSS from 1,000)"
	printf '  %9s %11s %11s %8s %5s %9s %9s %5s %13s\n' sessions "raw req/s" "lib req/s" \
		lib/raw "" "RSS B" "malloc B" "" "open us/sess"
	while read -r line; do
		n=$(field sessions "$line")
		printf '  %9s %11s %11s %8s %5s %9s %9s %5s %13s\n' "$n" \
			"$(field raw "$line")" "$(field lib "$line")" "$(field ratio "$line")" \
			"$(field rate "$line")" "$(field rss "$line")" "$(field malloc "$line")" \
			"$(field mem "$line")" "$(field open_us "$line")"
		echo "$n $(field raw "$line") $(field lib "$line") $(field rss "$line") $(field malloc "$line") $(field open_us "$line")" >>"$dat"
	done < <(grep '^P2-data ' "$in")
	grep '^P2 at .*skipped' "$in" | sed 's/^/  /' || true
	[ -s "$dat" ] || { echo "plot: no P2 data in $in" >&2; return 1; }
	if ! command -v gnuplot >/dev/null; then
		echo "plot: p2.svg skipped: no gnuplot (Debian: apt-get install gnuplot-nox)"
		return 0
	fi
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
	# Every file in the tree carries an SPDX line, the plots too.
	sed -i '1a <!-- SPDX-License-Identifier: MIT -->' "$plots/p2.svg"
	echo "plot: wrote $plots/p2.svg"
}

case $kind in
p2) plot_p2 ;;
*) echo "usage: $0 p2 FILE" >&2; exit 2 ;;
esac
