#!/usr/bin/env bash
# The engine benchmarks quoted in README.md: cotrack-bench over models, resolutions, point counts
# and modes, one JSON line each. Usage: scripts/bench_engine.sh OFFICIAL_CHECKPOINT [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
ckpt="$1"
threads="${2:-1}"
bench=./build/apps/cotrack-bench
run() { "$bench" --threads "$threads" --input-size 640x480 "$@"; }
for res in 384x512 192x256; do
  for n in 16 64 256; do
    run --model "$ckpt" --resolution "$res" --points "$n" --frames 24 --warmup 8 --mode exact
  done
  run --model "$ckpt" --resolution "$res" --points 16 --frames 24 --warmup 8 --mode low-latency \
    --step 1 --iters 2
done
for preset in cotrack-small cotrack-small-group; do
  run --preset "$preset" --points 64 --frames 64 --warmup 16 --mode exact
  run --preset "$preset" --points 64 --frames 64 --warmup 16 --mode low-latency --step 2 --iters 2
done
