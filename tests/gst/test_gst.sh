#!/usr/bin/env bash
# The GStreamer element `cotrack` in real pipelines: gst-inspect documents it; videotestsrc gives
# every frame's rows; on a synth clip read as image files it tracks exactly as `cotrack track`;
# an MP4 goes through decodebin, the element draws, and x264enc writes the result; a live source
# that outruns the network is thinned, never stalled, and the element says so in QoS messages.
# Usage: test_gst.sh BUILD_DIR COTRACK
set -euo pipefail
build=$(cd "$1" && pwd)
cotrack=$2
export GST_PLUGIN_PATH="$build/gst"
export GST_REGISTRY="$(mktemp -d)/registry.bin"  # a fresh plugin scan, never a stale cache
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$(dirname "$GST_REGISTRY")"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok   $*"; }

# 1. gst-inspect-1.0 documents every property and the signals.
inspect=$(gst-inspect-1.0 cotrack) || fail "gst-inspect-1.0 cotrack"
for word in model engine mode resolution step iters threads grid points-location max-points draw \
            tracks-location trail refine precision motion-prior reacquire add-point remove-point clear CotrackTracksMeta; do
  grep -q -- "$word" <<<"$inspect" || fail "gst-inspect-1.0 cotrack does not mention $word"
done
pass "gst-inspect-1.0 cotrack lists the properties and signals"

# 2. videotestsrc, 90 frames, a 4x4 grid: 90 x 16 rows, frames 0..89, and a bus message each.
gst-launch-1.0 -m videotestsrc num-buffers=90 ! video/x-raw,width=640,height=480 ! \
  cotrack grid=4 tracks-location="$tmp/t.csv" ! fakesink > "$tmp/launch.log" 2>&1 \
  || fail "videotestsrc pipeline: $(tail -3 "$tmp/launch.log")"
rows=$(($(wc -l < "$tmp/t.csv") - 1))
[ "$rows" -eq 1440 ] || fail "videotestsrc: $rows rows, expected 90 x 16 = 1440"
frames=$(tail -n +2 "$tmp/t.csv" | cut -d, -f2 | sort -n | uniq -c | awk '$1 == 16' | wc -l)
[ "$frames" -eq 90 ] || fail "videotestsrc: $frames frames with 16 rows each, expected 90"
messages=$(grep -c "cotrack-tracks" "$tmp/launch.log" || true)
[ "$messages" -eq 90 ] || fail "videotestsrc: $messages cotrack-tracks bus messages, expected 90"
pass "videotestsrc num-buffers=90 ! cotrack grid=4: 1440 rows, 90 bus messages"

# 3. A synth clip read as image files: the network through the element tracks exactly as
#    `cotrack track` does (same model, exact mode, one thread, the model's resolution).
"$cotrack" synth --out "$tmp/clip" --frames 24 --width 256 --height 256 --points 12 > /dev/null
gst-launch-1.0 -q multifilesrc location="$tmp/clip/frames/%06d.ppm" \
  caps="image/x-portable-pixmap,framerate=30/1" ! pnmdec ! videoconvert ! \
  cotrack engine=cotrack mode=exact resolution=256x256 threads=1 \
  points-location="$tmp/clip/points.csv" tracks-location="$tmp/element.csv" draw=false ! \
  fakesink > "$tmp/clip.log" 2>&1 || fail "synth clip pipeline: $(tail -3 "$tmp/clip.log")"
"$cotrack" track --input "$tmp/clip" --points "$tmp/clip/points.csv" --mode exact --threads 1 \
  --out "$tmp/track.csv" > /dev/null 2>&1 || fail "cotrack track on the clip"
# Prints the largest position difference in px of two tracks.csv files, or "mismatch" when
# their rows differ in ids, frames or visibility.
compare_tracks() {
  [ "$(wc -l < "$1")" -eq "$(wc -l < "$2")" ] || { echo mismatch; return; }
  paste -d, <(tail -n +2 "$1" | sort -t, -k2,2n -k1,1n) <(tail -n +2 "$2" | sort -t, -k2,2n -k1,1n) |
    awk -F, '{ if ($1 != $7 || $2 != $8 || $5 != $11) { print "mismatch"; exit }
               d = ($3 - $9) ^ 2 + ($4 - $10) ^ 2; if (d > m) m = d }
             END { printf "%.4f\n", sqrt(m) }'
}
worst=$(compare_tracks "$tmp/element.csv" "$tmp/track.csv")
[ "$worst" != "mismatch" ] || fail "synth clip: rows, ids, frames or visibility differ from cotrack track"
awk -v w="$worst" 'BEGIN { exit !(w <= 0.01) }' || fail "synth clip: positions differ by up to $worst px"
pass "synth clip: the element's network tracks match cotrack track's (largest difference $worst px)"

# 3b. The element's defaults are the network at cotrack live's CPU settings: low-latency mode,
#     128x128, a window every 2 frames, 1 iteration.
gst-launch-1.0 -q multifilesrc location="$tmp/clip/frames/%06d.ppm" \
  caps="image/x-portable-pixmap,framerate=30/1" ! pnmdec ! videoconvert ! \
  cotrack points-location="$tmp/clip/points.csv" tracks-location="$tmp/default.csv" draw=false ! \
  fakesink > "$tmp/default.log" 2>&1 || fail "default element: $(tail -3 "$tmp/default.log")"
"$cotrack" track --input "$tmp/clip" --points "$tmp/clip/points.csv" --mode low-latency \
  --resolution 128x128 --step 2 --iters 1 --threads 1 --out "$tmp/track-live.csv" > /dev/null 2>&1 \
  || fail "cotrack track at the live settings"
worst=$(compare_tracks "$tmp/default.csv" "$tmp/track-live.csv")
[ "$worst" != "mismatch" ] || fail "default element: rows, ids, frames or visibility differ from cotrack track at the live settings"
awk -v w="$worst" 'BEGIN { exit !(w <= 0.01) }' || fail "default element: positions differ by up to $worst px"
pass "the element's defaults track as cotrack track at the live settings (largest difference $worst px)"

# 4. An MP4 through decodebin; the element draws on the frames and the result is encoded.
gst-launch-1.0 -q videotestsrc num-buffers=60 pattern=ball ! video/x-raw,width=320,height=240 ! \
  videoconvert ! x264enc ! mp4mux ! filesink location="$tmp/in.mp4" > /dev/null 2>&1 \
  || fail "writing the test MP4"
gst-launch-1.0 -q filesrc location="$tmp/in.mp4" ! decodebin ! videoconvert ! \
  cotrack grid=3 tracks-location="$tmp/file.jsonl" ! videoconvert ! x264enc ! mp4mux ! \
  filesink location="$tmp/out.mp4" > "$tmp/file.log" 2>&1 \
  || fail "MP4 pipeline: $(tail -3 "$tmp/file.log")"
[ "$(wc -l < "$tmp/file.jsonl")" -eq 60 ] || fail "MP4: $(wc -l < "$tmp/file.jsonl") rows, expected 60"
grep -q '"points":\[{"id":0,' "$tmp/file.jsonl" || fail "MP4: rows without points"
[ -s "$tmp/out.mp4" ] || fail "MP4: no output video"
pass "filesrc ! decodebin ! cotrack ! x264enc: 60 frames tracked and drawn"

# 5. A live source faster than the network: frames are thinned, the pipeline keeps its clock
#    (no stall) and QoS messages report the drops.
start=$(date +%s%N)
gst-launch-1.0 -m videotestsrc is-live=true num-buffers=90 ! \
  video/x-raw,width=640,height=480,framerate=30/1 ! \
  cotrack engine=cotrack resolution=384x512 step=1 iters=4 threads=1 grid=4 \
  tracks-location="$tmp/live.csv" ! \
  fakesink sync=true > "$tmp/live.log" 2>&1 || fail "live pipeline: $(tail -3 "$tmp/live.log")"
elapsed=$(( ($(date +%s%N) - start) / 1000000000 ))
grep -q "qos" "$tmp/live.log" || fail "live: no QoS message"
live_frames=$(tail -n +2 "$tmp/live.csv" | cut -d, -f2 | sort -u | wc -l)
[ "$live_frames" -lt 90 ] || fail "live: all 90 frames tracked; the engine was expected to fall behind"
[ "$live_frames" -gt 0 ] || fail "live: nothing tracked"
[ "$elapsed" -lt 30 ] || fail "live: took $elapsed s for 3 s of video"
pass "live: $live_frames of 90 frames tracked, QoS messages posted, done in $elapsed s"

# 6. Bad settings: one clear error, no crash.
if gst-launch-1.0 videotestsrc num-buffers=2 ! cotrack mode=exact step=3 ! fakesink > "$tmp/bad.log" 2>&1; then
  fail "mode=exact step=3 was accepted"
fi
grep -q "step 3: exact mode runs a window every 4 frames" "$tmp/bad.log" || fail "mode=exact step=3: $(cat "$tmp/bad.log")"
if gst-launch-1.0 videotestsrc num-buffers=2 ! cotrack engine=nope ! fakesink > "$tmp/bad.log" 2>&1; then
  fail "engine=nope was accepted"
fi
grep -q "engine 'nope': expected lk or cotrack" "$tmp/bad.log" || fail "engine=nope: $(cat "$tmp/bad.log")"
if gst-launch-1.0 videotestsrc num-buffers=2 ! cotrack engine=cotrack model=/nonexistent.ckpt ! \
    fakesink > "$tmp/bad.log" 2>&1; then
  fail "a missing model was accepted"
fi
grep -q "nonexistent.ckpt: no such file" "$tmp/bad.log" || fail "missing model: $(cat "$tmp/bad.log")"
if gst-launch-1.0 videotestsrc num-buffers=2 ! cotrack engine=cotrack refine=maybe ! \
    fakesink > "$tmp/bad.log" 2>&1; then
  fail "refine=maybe was accepted"
fi
grep -q "refine 'maybe': expected auto, on or off" "$tmp/bad.log" || fail "refine=maybe: $(cat "$tmp/bad.log")"
pass "bad settings give one clear error"

# refused PROPERTY=VALUE MESSAGE: the element refuses the setting with MESSAGE and stops.
refused() {
  if gst-launch-1.0 videotestsrc num-buffers=2 ! cotrack engine=cotrack "$1" ! \
      fakesink > "$tmp/bad.log" 2>&1; then
    fail "$1 was accepted"
  fi
  grep -q "$2" "$tmp/bad.log" || fail "$1: $(cat "$tmp/bad.log")"
  pass "$1 is refused with one line"
}
refused precision=fp16 "precision 'fp16': expected fp32, bf16 or auto"
refused motion-prior=yes "motion prior 'yes': expected auto, on or off"
refused reacquire=yes "reacquire 'yes': expected auto, on or off"

# 7. The refinement: refine=on and refine=off both track every frame; the refined positions differ.
for r in on off; do
  gst-launch-1.0 -q videotestsrc pattern=ball num-buffers=16 ! video/x-raw,width=320,height=240 ! \
    cotrack engine=cotrack mode=exact refine=$r grid=2 tracks-location="$tmp/refine-$r.csv" \
    draw=false ! fakesink > "$tmp/refine.log" 2>&1 || fail "refine=$r: $(tail -3 "$tmp/refine.log")"
  [ "$(wc -l < "$tmp/refine-$r.csv")" -eq 65 ] || fail "refine=$r: $(wc -l < "$tmp/refine-$r.csv") lines, expected 65"
done
cmp -s "$tmp/refine-on.csv" "$tmp/refine-off.csv" && fail "refine=on wrote the same tracks as refine=off"
pass "refine=on and refine=off: 16 frames x 4 points each, different positions"

# 8. precision: fp32 and bf16 (where the CPU has bf16 instructions) both track every frame, and
# the arithmetic differs; auto, the default, runs the shipped model as bf16 does there.
if grep -qw avx512_bf16 /proc/cpuinfo; then
  for p in fp32 bf16 auto; do
    gst-launch-1.0 -q videotestsrc pattern=ball num-buffers=16 ! video/x-raw,width=320,height=240 ! \
      cotrack engine=cotrack mode=exact refine=off precision=$p grid=2 \
      tracks-location="$tmp/precision-$p.csv" draw=false ! fakesink > "$tmp/precision.log" 2>&1 ||
      fail "precision=$p: $(tail -3 "$tmp/precision.log")"
    [ "$(wc -l < "$tmp/precision-$p.csv")" -eq 65 ] ||
      fail "precision=$p: $(wc -l < "$tmp/precision-$p.csv") lines, expected 65"
  done
  cmp -s "$tmp/precision-fp32.csv" "$tmp/precision-bf16.csv" &&
    fail "precision=bf16 wrote the same tracks as precision=fp32"
  cmp -s "$tmp/precision-auto.csv" "$tmp/precision-bf16.csv" ||
    fail "precision=auto did not track as bf16 does on this CPU"
  pass "precision=fp32, bf16 and auto: 16 frames x 4 points each; auto is bf16 here"
else
  echo "skip precision=bf16: this CPU has no bf16 instructions"
fi
# 9. The motion prior: on and off both track every frame of a picture that pans 8 px a frame; the
# starts differ, so the tracks do; auto, the default, is on for the shipped model.
for m in on off auto; do
  gst-launch-1.0 -q videotestsrc pattern=smpte horizontal-speed=8 num-buffers=16 ! \
    video/x-raw,width=320,height=240 ! cotrack engine=cotrack mode=exact refine=off motion-prior=$m \
    grid=2 tracks-location="$tmp/prior-$m.csv" draw=false ! fakesink > "$tmp/prior.log" 2>&1 ||
    fail "motion-prior=$m: $(tail -3 "$tmp/prior.log")"
  [ "$(wc -l < "$tmp/prior-$m.csv")" -eq 65 ] ||
    fail "motion-prior=$m: $(wc -l < "$tmp/prior-$m.csv") lines, expected 65"
done
cmp -s "$tmp/prior-on.csv" "$tmp/prior-off.csv" && fail "motion-prior=on wrote the same tracks as off"
cmp -s "$tmp/prior-auto.csv" "$tmp/prior-on.csv" || fail "motion-prior=auto did not track as on does"
pass "motion-prior=on, off and auto: 16 frames x 4 points each; auto is on for the shipped model"
# 10. Re-acquisition off and on both track every frame.
for r in on off; do
  gst-launch-1.0 -q videotestsrc pattern=smpte horizontal-speed=8 num-buffers=16 ! \
    video/x-raw,width=320,height=240 ! cotrack engine=cotrack mode=exact refine=off reacquire=$r \
    grid=2 tracks-location="$tmp/reacquire-$r.csv" draw=false ! fakesink > "$tmp/reacquire.log" 2>&1 ||
    fail "reacquire=$r: $(tail -3 "$tmp/reacquire.log")"
  [ "$(wc -l < "$tmp/reacquire-$r.csv")" -eq 65 ] ||
    fail "reacquire=$r: $(wc -l < "$tmp/reacquire-$r.csv") lines, expected 65"
done
pass "reacquire=on and off: 16 frames x 4 points each"
echo "test_gst: all checks passed"
