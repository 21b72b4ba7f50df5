#!/usr/bin/env bash
# Configures (once) and builds cotrack into ./build with ccache. Extra arguments go to CMake's
# configure step, e.g. scripts/build.sh -DCOTRACK_PIPELINE=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${COTRACK_BUILD_DIR:-build}"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build_dir/CMakeCache.txt" ] || [ $# -gt 0 ]; then
  cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
fi
# Two parallel jobs: each LibTorch translation unit needs ~1 GB and the project machines have 2 cores.
cmake --build "$build_dir" --parallel "${COTRACK_JOBS:-2}"
