#!/usr/bin/env bash
# The evaluation that matches real use: cotrack's network against Lucas-Kanade on
#   photo      photo-textured clips, 48 frames at 256x256 (20 clips, seeds 1001..1020)
#   long       photo-textured streams, 300 frames at 640x480 (3 clips, seeds 2001..2003)
#   real       real video with keypoint ground truth (data/realvideo, sparse annotations)
#   benchmark  the procedural benchmark, 48 frames at 256x256 (30 clips, seeds 1..30)
# each by horizon (frames from the query), plus the label-free forward-backward check on the real
# clips. The photos are data/photos/eval, which training never sees (scripts/fetch_photos.sh);
# the real clips come from scripts/fetch_real_video.sh.
#
# Usage: scripts/eval_real_use.sh OUT_DIR [cotrack eval options, e.g. --model M --threads 1]
# Writes OUT_DIR/<set>.txt (the printed tables) and OUT_DIR/<set>.json for each set it can run.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/eval_real_use.sh OUT_DIR [cotrack eval options]}
shift
mkdir -p "$out"
cotrack=${COTRACK:-build/apps/cotrack}
photos=${COTRACK_EVAL_PHOTOS:-data/photos/eval}
real=${COTRACK_REAL_VIDEO:-data/realvideo}

run() {
  local name=$1
  shift
  echo "== $name"
  "$cotrack" eval --engine cotrack --engine lk --by-horizon --json "$out/$name.json" "$@" 2>&1 |
    grep -v -e 'clip [0-9]*/' -e '^cotrack eval: using' | tee "$out/$name.txt"
}

if [ -d "$photos" ]; then
  run photo --synthetic 20 --first-seed 1001 --photos "$photos" "$@"
  run long --synthetic 3 --first-seed 2001 --frames 300 --width 640 --height 480 \
    --photos "$photos" "$@"
else
  echo "eval_real_use: no $photos (scripts/fetch_photos.sh): photo sets skipped" >&2
fi
if compgen -G "$real/*/gt.csv" >/dev/null; then
  clips=("$real"/*/gt.csv)
  clips=("${clips[@]%/gt.csv}")
  run real --clips "${clips[@]}" "$@"
  echo "== real, forward-backward"
  "$cotrack" eval --cycle --engine cotrack --engine lk --clips "${clips[@]}" \
    --json "$out/real_cycle.json" "$@" 2>&1 | grep -v -e 'clip [0-9]*/' -e '^cotrack eval: using' |
    tee "$out/real_cycle.txt"
else
  echo "eval_real_use: no clips in $real (scripts/fetch_real_video.sh): real set skipped" >&2
fi
run benchmark --synthetic 30 "$@"
