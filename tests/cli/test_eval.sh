#!/usr/bin/env bash
# `cotrack eval`: the label-free --cycle check on clip folders with and without gt.csv, sparse
# ground truth in a clip folder, and one line + exit code for bad flag combinations. Uses only
# the static engine, so no model is loaded.
# Usage: test_eval.sh PATH_TO_COTRACK
set -u
cotrack="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
passes=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
expect() {  # expect NAME WANT_RC GOT_RC [grep pattern in output file]
  local name="$1" want="$2" got="$3" pattern="${4:-}"
  if [ "$got" != "$want" ]; then
    echo "FAIL $name: exit code $got, expected $want"; cat "$tmp/out"
    failures=$((failures + 1)); return
  fi
  if [ -n "$pattern" ] && ! grep -qE "$pattern" "$tmp/out"; then
    echo "FAIL $name: output lacks /$pattern/:"; cat "$tmp/out"; failures=$((failures + 1)); return
  fi
  echo "ok   $name"; passes=$((passes + 1))
}

"$cotrack" synth --seed 2 --out "$tmp/clip" --frames 8 --width 64 --height 48 --points 6 \
  >/dev/null 2>&1 || fail "synth"

"$cotrack" eval --cycle --synthetic 1 --engine static --json "$tmp/c.json" >"$tmp/out" 2>/dev/null
expect "cycle on --synthetic" 0 $? "^static +0\.0 +0\.0 +100\.0 +0\.0 +0\.0"
grep -q "scaled to 256 wide" "$tmp/out" || fail "cycle: says how errors are scaled"
grep -q '"check":"cycle","grid":8,' "$tmp/c.json" || fail "cycle: json"
grep -q '"points":64,' "$tmp/c.json" || fail "cycle: 8x8 points in json"

mkdir -p "$tmp/frames_only" && cp -r "$tmp/clip/frames" "$tmp/frames_only/"
"$cotrack" eval --cycle --cycle-grid 3 --clips "$tmp/frames_only" --engine static \
  --json "$tmp/f.json" >"$tmp/out" 2>/dev/null
expect "cycle on a folder without gt.csv" 0 $? "^cycle check: 3x3 grid"
grep -q '"points":9,' "$tmp/f.json" || fail "cycle: 3x3 points in json"

"$cotrack" eval --clips "$tmp/frames_only" --engine static >"$tmp/out" 2>&1
expect "metrics need gt.csv" 4 $? "gt.csv: cannot open"

# Sparse ground truth: drop point 0's rows on frames 1, 2 and 3 (its query frame kept).
q0=$(awk -F, 'NR == 2 {print $2}' "$tmp/clip/points.csv")
awk -F, -v q="$q0" 'NR == 1 || $1 != 0 || $2 == q || $2 == 0 || $2 > 3' "$tmp/clip/gt.csv" \
  >"$tmp/gt.csv" && mv "$tmp/gt.csv" "$tmp/clip/gt.csv"
[ "$(wc -l <"$tmp/clip/gt.csv")" -lt 49 ] || fail "sparse: rows were not dropped"
"$cotrack" eval --clips "$tmp/clip" --engine static >"$tmp/out" 2>/dev/null
expect "sparse gt.csv" 0 $? "^static "

# The JSON holds each clip's own metrics beside the mean, named as given.
"$cotrack" eval --clips "$tmp/clip" "$tmp/clip" --engine static --json "$tmp/p.json" \
  >"$tmp/out" 2>/dev/null
expect "two clips with --json" 0 $? "^static "
[ "$(grep -o "\"clip\":\"$tmp/clip\"" "$tmp/p.json" | wc -l)" -eq 2 ] \
  || fail "json: one entry per clip under \"clips\": $(cat "$tmp/p.json")"
"$cotrack" eval --synthetic 2 --frames 8 --width 64 --height 64 --engine static \
  --json "$tmp/s.json" >"$tmp/out" 2>/dev/null
grep -q '"clip":"seed 1".*"clip":"seed 2"' "$tmp/s.json" || fail "json: synthetic clips named by seed"

"$cotrack" eval --cycle --synthetic 1 --engine static --by-horizon >"$tmp/out" 2>&1
expect "--cycle excludes --by-horizon" 2 $? "excludes"
"$cotrack" eval --cycle-grid 4 --synthetic 1 >"$tmp/out" 2>&1
expect "--cycle-grid needs --cycle" 2 $? "requires --cycle"
"$cotrack" eval --cycle --cycle-grid 0 --synthetic 1 >"$tmp/out" 2>&1
expect "--cycle-grid range" 2 $? "not in range"

# --refine takes its value as the next argument or after '=', and stands alone for on.
for form in "--refine off" "--refine=off" "--refine --by-horizon" "--by-horizon --refine"; do
  # shellcheck disable=SC2086  # the form is split into its words on purpose
  "$cotrack" eval --synthetic 1 --frames 8 --width 64 --height 64 --engine static $form \
    >"$tmp/out" 2>&1
  expect "eval $form" 0 $? "^static "
done
"$cotrack" eval --synthetic 1 --engine static --refine sometimes >"$tmp/out" 2>&1
expect "--refine with a bad value" 2 $? "sometimes not in"
"$cotrack" eval --synthetic 1 --engine static --reacquire maybe >"$tmp/out" 2>&1
expect "--reacquire with a bad value" 2 $? "maybe not in {auto,on,off}"

# Photo-textured clips: a folder of images (PPM here), and one clear line for a bad folder.
mkdir -p "$tmp/photos"
cp "$tmp/clip/frames/000000.ppm" "$tmp/photos/a.ppm"
cp "$tmp/clip/frames/000003.ppm" "$tmp/photos/b.ppm"
"$cotrack" synth --seed 3 --out "$tmp/photo_clip" --frames 6 --width 80 --height 60 --points 5 \
  --photos "$tmp/photos" >"$tmp/out" 2>&1
expect "synth --photos" 0 $? "^wrote"
cmp -s "$tmp/photo_clip/frames/000000.ppm" "$tmp/clip/frames/000000.ppm" &&
  fail "synth --photos: frames differ from a procedural clip"
"$cotrack" eval --synthetic 2 --frames 10 --width 80 --height 60 --photos "$tmp/photos" \
  --engine static --by-horizon >"$tmp/out" 2>&1
expect "eval --synthetic --photos --frames --width --height" 0 $? "^static "
"$cotrack" synth --seed 3 --out "$tmp/x" --photos "$tmp/nowhere" >"$tmp/out" 2>&1
expect "synth --photos on a missing folder" 4 $? "is not a folder"
[ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "synth --photos on a missing folder: one line"
: >"$tmp/photos/broken.jpg"
"$cotrack" eval --synthetic 1 --photos "$tmp/photos" --engine static >"$tmp/out" 2>&1
expect "eval --photos with an undecodable file" 4 $? "cannot decode .*broken.jpg"

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
