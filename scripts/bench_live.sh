#!/usr/bin/env bash
# Live-app benchmark: end-to-end latency (frame arrival at the appsink -> overlay drawn) and
# sustained fps, headless, for the built-in synth source and for an RTSP stream served on
# loopback. Runs each case RUNS times for SECONDS and prints each run's JSON and the medians.
# Usage: scripts/bench_live.sh [SECONDS=20] [RUNS=3] [extra cotrack live args...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"; runs="${2:-3}"; shift $(( $# > 2 ? 2 : $# ))
cotrack=./build/apps/cotrack
serve=./build/pipeline/rtsp_serve
tmp=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$tmp"' EXIT

"$serve" 0 640x480 nosync >"$tmp/url" &
server=$!
for _ in $(seq 100); do grep -q rtsp "$tmp/url" 2>/dev/null && break; sleep 0.1; done
url=$(head -1 "$tmp/url")

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
field() { grep -oE "\"$2\": [0-9.]+" "$1" | head -1 | awk '{print $2}'; }

run_case() {  # run_case NAME ARGS...
  local name="$1"; shift
  local lat=() p95=() fps=() drops=()
  for r in $(seq "$runs"); do
    "$cotrack" live --no-window --duration "$seconds" --log-every 0 \
      --stats-json "$tmp/s.json" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
    echo "$name run $r: $(cat "$tmp/s.json")"
    lat+=("$(field "$tmp/s.json" median)"); p95+=("$(field "$tmp/s.json" p95)")
    fps+=("$(field "$tmp/s.json" processed_fps)")
    drops+=("$(field "$tmp/s.json" dropped)")
  done
  printf '%s: median of %s runs: latency median %s ms, p95 %s ms, processed %s fps, dropped %s\n' \
    "$name" "$runs" "$(printf '%s\n' "${lat[@]}" | median)" "$(printf '%s\n' "${p95[@]}" | median)" \
    "$(printf '%s\n' "${fps[@]}" | median)" "$(printf '%s\n' "${drops[@]}" | median)" | tee -a "$tmp/summary"
}

run_case "synth 640x480 lk 16 pts" --engine lk --source synth --grid 4 "$@"
run_case "rtsp 640x480 lk 16 pts" --engine lk --source "$url" --grid 4 "$@"
run_case "synth 640x480 network (live defaults) 64 pts" --source synth --grid 8 "$@"
run_case "rtsp 640x480 network (live defaults) 64 pts" --source "$url" --grid 8 "$@"
echo
cat "$tmp/summary"
