#!/usr/bin/env bash
# Chooses a model's visibility rule on the tuning sets, which are disjoint from the evaluation
# (scripts/eval_real_use.sh):
#   photo  photo-textured clips, 48 frames at 256x256 (10 clips, seeds 3001..3010)
#   long   a photo-textured stream, 300 frames at 640x480 (seed 4001)
#   proc   procedural clips, 48 frames at 256x256 (10 clips, seeds 101..110)
# A point is visible when visibility * confidence^W exceeds the threshold T. For each weight W and
# threshold T it prints the network's AJ and OA on each set and the mean AJ. The winner is the
# rule with the best mean AJ among those whose OA is at least 70 on every set (the OA floor of a
# tracker whose points should not vanish while in view); when none reaches it, the best mean AJ.
# Store the winner in a checkpoint with `cotrack-train --visibility-threshold T
# --confidence-weight W` (0 further steps: --steps equal to its step).
#
# Usage: scripts/calibrate_threshold.sh [--model M] [--threads N] [--resolution HxW]
#        [--weights "W..."] [T...]
#        (default weights 0 0.25 1, thresholds 0.3 0.4 0.5 0.6; default model: the shipped one)
# Environment: COTRACK (default build/apps/cotrack), COTRACK_EVAL_PHOTOS (default data/photos/eval).
set -euo pipefail
cd "$(dirname "$0")/.."
cotrack=${COTRACK:-build/apps/cotrack}
photos=${COTRACK_EVAL_PHOTOS:-data/photos/eval}
args=()
thresholds=()
weights=(0 0.25 1)
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model|--threads|--resolution) args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    --weights) read -r -a weights <<< "${2:?--weights needs a value}"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "calibrate_threshold: unknown option $1" >&2; exit 2 ;;
    *) thresholds+=("$1"); shift ;;
  esac
done
[ ${#thresholds[@]} -gt 0 ] || thresholds=(0.3 0.4 0.5 0.6)
if [ ! -d "$photos" ]; then
  echo "calibrate_threshold: no $photos (scripts/fetch_photos.sh builds it)" >&2
  exit 2
fi

# AJ and OA of the network on one set with one rule: "AJ OA".
score() {
  local w=$1 t=$2 set=$3 a=()
  case $set in
    photo) a=(--synthetic 10 --first-seed 3001 --photos "$photos") ;;
    long) a=(--synthetic 1 --first-seed 4001 --frames 300 --width 640 --height 480 --photos "$photos") ;;
    proc) a=(--synthetic 10 --first-seed 101) ;;
  esac
  "$cotrack" eval --engine cotrack "${args[@]}" --confidence-weight "$w" \
    --visibility-threshold "$t" "${a[@]}" 2>&1 |
    awk '/^cotrack \(/ { n = split($0, f, ")"); split(f[n], v, " "); print v[1], v[3] }'
}

best=""
best_aj=-1
best_floor=0  # 1 once a rule meets the OA floor on every set
printf '%-7s %-9s %-13s %-13s %-13s %s\n' weight threshold "photo AJ/OA" "long AJ/OA" "proc AJ/OA" \
  "mean AJ"
for w in "${weights[@]}"; do
  for t in "${thresholds[@]}"; do
    line=$(printf '%-7s %-9s' "$w" "$t")
    sum=0
    floor=1
    for set in photo long proc; do
      read -r aj oa < <(score "$w" "$t" "$set")
      [ -n "${aj:-}" ] || { echo "calibrate_threshold: no result for $set at $w/$t" >&2; exit 1; }
      line+=$(printf ' %-13s' "$aj/$oa")
      sum=$(awk -v s="$sum" -v a="$aj" 'BEGIN { print s + a }')
      awk -v o="$oa" 'BEGIN { exit !(o < 70) }' && floor=0
    done
    mean=$(awk -v s="$sum" 'BEGIN { printf "%.2f", s / 3 }')
    echo "$line $mean$([ $floor = 1 ] || echo ' (OA below 70)')"
    if [ $floor -gt $best_floor ] ||
      { [ $floor = $best_floor ] && awk -v m="$mean" -v b="$best_aj" 'BEGIN { exit !(m > b) }'; }; then
      best="weight $w, threshold $t"
      best_aj=$mean
      best_floor=$floor
    fi
  done
done
echo "calibrate_threshold: best mean AJ $best_aj at $best$([ $best_floor = 1 ] ||
  echo ' (no rule reaches OA 70 on every set)')"
