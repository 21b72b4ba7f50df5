#!/usr/bin/env bash
# One command for a newcomer on Debian 12: install the packages, build, track points on a
# built-in synthetic clip with known ground truth (`cotrack demo`), then run the live tracker on
# the built-in synth source, a generated scene with ground truth (`cotrack live`): in a window
# when there is a display (click to add points, q to quit), headless otherwise. Either way the tracked video and the tracks are
# written to out/ and their paths printed.
# Arguments go to both commands, e.g. --model FILE for a downloaded checkpoint (with
# --engine cotrack for the live app).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
mkdir -p out
demo_args=() live_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --engine|--mode|--source) live_args+=("$1" "$2"); shift 2 ;;
    --model|--preset|--resolution|--device|--threads)
      demo_args+=("$1" "$2"); live_args+=("$1" "$2"); shift 2 ;;
    *) demo_args+=("$1"); shift ;;
  esac
done
./build/apps/cotrack demo --out out/demo_tracks.csv "${demo_args[@]}"
echo
echo "Live tracking of the built-in synth source for 15 s (in a window if there is a display: click"
echo "to add a point, h for help, q to quit):"
exec ./build/apps/cotrack live --config config/default.toml --duration 15 \
  --out-video out/live.mp4 --out-tracks out/live_tracks.csv "${live_args[@]}"
