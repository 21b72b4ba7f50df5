#!/usr/bin/env bash
# Soak of the live app (an hour by default): the live test source at 30 fps with 64 points, headless,
# recording RSS, fps and drop counts every minute. Writes DIR/soak.csv (one row a minute),
# DIR/soak.json (the app's final statistics), DIR/soak.log and DIR/soak.png (a plot; needs
# gnuplot, installed from Debian's gnuplot-nox when missing), and checks:
#   - RSS after warm-up (minute 5 on) stays within 5% of its value at minute 5;
#   - received = processed + dropped at the end.
# Usage: scripts/soak_live.sh [MINUTES=60] [DIR=out/soak] [extra cotrack live args...]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-60}"; dir="${2:-out/soak}"; shift $(( $# > 2 ? 2 : $# ))
mkdir -p "$dir"
./build/apps/cotrack live --no-window --source test --fps 30 --grid 8 \
  --duration $((minutes * 60)) --log-every 60 --stats-json "$dir/soak.json" "$@" \
  2>"$dir/soak.log"
# "cotrack live: 60 s | in 30.0 fps | tracked 30.0 fps | received R processed P dropped D | thin
#  1/K | points N | RSS M MiB" -> minute,rss_mib,input_fps,tracked_fps,received,processed,dropped
{
  echo "minute,rss_mib,input_fps,tracked_fps,received,processed,dropped"
  sed -nE 's/^cotrack live: ([0-9]+) s \| in ([0-9.]+) fps \| tracked ([0-9.]+) fps \| received ([0-9]+) processed ([0-9]+) dropped ([0-9]+) .*RSS ([0-9.]+) MiB$/\1,\7,\2,\3,\4,\5,\6/p' \
    "$dir/soak.log" | awk -F, -v OFS=, '{ $1 = int(($1 + 30) / 60); print }'
} >"$dir/soak.csv"
cat "$dir/soak.json"
awk -F, 'NR > 1 && $1 >= 5 { if (!base) base = $2; d = ($2 - base) / base; if (d < 0) d = -d;
         if (d > worst) worst = d; last = $2 }
         END { printf "RSS from minute 5: %.1f MiB -> %.1f MiB, largest change %.2f%% (limit 5%%)\n",
               base, last, 100 * worst; exit (worst > 0.05) }' "$dir/soak.csv" \
  && echo "soak: RSS flat" || echo "soak: RSS NOT flat"
rec=$(grep -oE '"received": [0-9]+' "$dir/soak.json" | awk '{print $2}')
proc=$(grep -oE '"processed": [0-9]+' "$dir/soak.json" | awk '{print $2}')
drop=$(grep -oE '"dropped": [0-9]+' "$dir/soak.json" | awk '{print $2}')
[ "$rec" -eq $((proc + drop)) ] && echo "soak: received $rec = processed $proc + dropped $drop" \
  || echo "soak: received $rec != processed $proc + dropped $drop"
if ! command -v gnuplot >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends gnuplot-nox >/dev/null
fi
gnuplot <<GP
set terminal pngcairo size 900,420 font ",10"
set output "$dir/soak.png"
set datafile separator ","
set key center right
set xlabel "minute"
set ylabel "RSS (MiB)"
set y2label "frames per second, drops per minute"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set title "cotrack live soak: test source, 30 fps, 64 points"
prev = 0
plot "$dir/soak.csv" every ::1 using 1:2 with linespoints title "RSS (MiB)" axes x1y1, \
     "" every ::1 using 1:4 with lines title "tracked fps" axes x1y2, \
     "" every ::1 using 1:(d = \$7 - prev, prev = \$7, d) with impulses title "dropped per minute" axes x1y2
GP
echo "soak: $dir/soak.csv, $dir/soak.png"
