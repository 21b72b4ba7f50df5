#!/usr/bin/env bash
# Trains cotrack's model on a CUDA machine that has PyTorch but none of the Debian packages.
#
#   scripts/train_gpu.sh vendor
#       On a machine with the Debian packages (scripts/install-deps.sh --core): copies the
#       header-only dependencies (fmt, CLI11, stb_image) into .gpu-deps/include, an ignored
#       folder that travels with the checkout to the GPU machine.
#   scripts/train_gpu.sh build [--debian]
#       Builds cotrack-train into build-gpu/ against the LibTorch of `python3 -c 'import torch'`
#       (its CMake prefix), with the headers from .gpu-deps/include. --debian builds against the
#       system LibTorch instead: the same configure line, checkable on a machine without a GPU.
#   scripts/train_gpu.sh train MINUTES OUT_DIR [cotrack-train options...]
#       Builds if needed, copies the committed checkpoint into OUT_DIR (unless OUT_DIR already
#       has one), and resumes training on the GPU for MINUTES of wall time with a learning rate
#       schedule that ends its cosine decay when the time ends (--time-schedule). OUT_DIR then
#       holds checkpoint.ckpt (resumable), model.cotrack and log.jsonl. Each step trains on a
#       batch of COTRACK_BATCH clips (default 8; a later --batch option wins), since one clip a
#       step leaves most of a GPU idle. This default has not been timed on a GPU yet.
#   scripts/train_gpu.sh bench OUT_FILE [MODEL]
#       Builds if needed and appends cotrack-bench's JSON lines for the GPU to OUT_FILE: the model
#       (default: the committed checkpoint) at 256x256 and 384x512 with 64 and 256 points, fp32 and
#       bf16 alternating, then 4 streams with their windows batched and not (--batch-streams
#       off,on), 3 runs each. A few minutes on an H100; run it after `train` in the same call.
#
# Environment: COTRACK_CHECKPOINT (default models/training/cotrack-small-v1.ckpt),
# COTRACK_PHOTOS (default data/photos/train when it exists; see scripts/fetch_photos.sh),
# COTRACK_BATCH (clips per training step, default 8),
# JOBS (default: all cores).
set -euo pipefail
cd "$(dirname "$0")/.."

vendor_dir=.gpu-deps/include
build_dir=build-gpu

vendor() {
  rm -rf "$vendor_dir"
  mkdir -p "$vendor_dir/stb"
  cp -r /usr/include/fmt "$vendor_dir/"
  cp -r /usr/include/CLI "$vendor_dir/"
  cp -r /usr/include/nlohmann "$vendor_dir/"
  cp /usr/include/stb/stb_image.h "$vendor_dir/stb/"
  echo "train_gpu: header-only dependencies in $vendor_dir ($(du -sh "$vendor_dir" | cut -f1))"
}

build() {
  local torch_args=() std=17
  if [ "${1:-}" = "--debian" ]; then
    build_dir=build-gpu-check
  else
    local prefix version
    prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
    version=$(python3 -c 'import torch; print(torch.__version__.split("+")[0])')
    torch_args=(-DCMAKE_PREFIX_PATH="$prefix"
                -DTORCH_CUDA_ARCH_LIST=9.0)
    # ATen's headers need C++20 from LibTorch 2.13 on.
    if python3 -c "import sys; v=tuple(int(x) for x in '$version'.split('.')[:2]); sys.exit(v < (2, 13))"; then
      std=20
    fi
    echo "train_gpu: LibTorch $version from $prefix, C++$std"
  fi
  [ -d "$vendor_dir" ] || { echo "train_gpu: $vendor_dir missing: run 'scripts/train_gpu.sh vendor' first" >&2; exit 2; }
  local generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCOTRACK_PIPELINE=OFF -DCOTRACK_TESTS=OFF -DCMAKE_CXX_STANDARD=$std \
    -DCOTRACK_VENDOR_INCLUDE="$PWD/$vendor_dir" \
    -DCMAKE_EXE_LINKER_FLAGS=-Wl,--no-as-needed "${torch_args[@]}"
  cmake --build "$build_dir" --target cotrack-train cotrack-bench --parallel "${JOBS:-$(nproc)}"
  echo "train_gpu: built $build_dir/apps/cotrack-train and cotrack-bench"
}

train() {
  local minutes=${1:?minutes} out=${2:?output folder}
  shift 2
  [ -x "$build_dir/apps/cotrack-train" ] || build
  mkdir -p "$out"
  if [ ! -f "$out/checkpoint.ckpt" ]; then
    cp "${COTRACK_CHECKPOINT:-models/training/cotrack-small-v1.ckpt}" "$out/checkpoint.ckpt"
  fi
  local photos=()
  local photo_dir=${COTRACK_PHOTOS:-data/photos/train}
  [ -d "$photo_dir" ] && photos=(--photos "$photo_dir")
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
  "$build_dir/apps/cotrack-train" --device cuda --out "$out" --max-minutes "$minutes" \
    --time-schedule --prefetch "$(( $(nproc) > 4 ? $(nproc) - 2 : 2 ))" \
    --batch "${COTRACK_BATCH:-8}" "${photos[@]}" "$@"
}

bench() {
  local out=${1:?output file} model=${2:-${COTRACK_CHECKPOINT:-models/training/cotrack-small-v1.ckpt}}
  [ -x "$build_dir/apps/cotrack-bench" ] || build
  local b="$build_dir/apps/cotrack-bench"
  for res in 256x256 384x512; do
    for points in 64 256; do
      "$b" --device cuda --model "$model" --resolution "$res" --points "$points" --frames 128 \
        --precision fp32,bf16 --repeat 3 | tee -a "$out"
    done
  done
  "$b" --device cuda --model "$model" --points 64 --frames 128 --streams 4 \
    --batch-streams off,on --repeat 3 | tee -a "$out"
}

case "${1:-}" in
  vendor) vendor ;;
  build) shift; build "$@" ;;
  train) shift; train "$@" ;;
  bench) shift; bench "$@" ;;
  *) sed -n '2,25p' "$0"; exit 2 ;;
esac
