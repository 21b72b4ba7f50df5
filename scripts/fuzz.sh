#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang (ASan + UBSan) into build-fuzz/ and runs each
# for SECONDS on a working copy of its seed corpus.
#
# Usage: scripts/fuzz.sh [--if-available] [SECONDS=600] [TARGET...]
#        scripts/fuzz.sh --seeds      rewrite the seed corpora in fuzz/corpus/ (make_seeds)
# Targets: checkpoint points_csv tracks_csv clip config (default: all).
#
# fuzz/corpus/<target>/ is the committed seed corpus and is only read; inputs that add coverage
# go to build-fuzz/corpus/<target>/, findings to build-fuzz/artifacts/, logs to build-fuzz/logs/.
# Prints one summary line per target; exits 1 when any target found a crash, leak, timeout or
# out-of-memory (reproduce with: build-fuzz/fuzz_<target> build-fuzz/artifacts/<file>).
# --if-available (the ctest test fuzz.short): without clang or libFuzzer, print "skip" and
# exit 0, unless CI=true. Environment: COTRACK_JOBS (build jobs, default 1), COTRACK_FUZZ_BUILD
# (build folder, default build-fuzz).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${COTRACK_FUZZ_BUILD:-$root/build-fuzz}"
all_targets=(checkpoint points_csv tracks_csv clip config)

if_available=0
seeds=0
while [ $# -gt 0 ]; do
  case "$1" in
    --if-available) if_available=1; shift ;;
    --seeds) seeds=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) break ;;
  esac
done
seconds="${1:-600}"
if [ $# -gt 0 ]; then shift; fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=("${all_targets[@]}"); fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "fuzz: SECONDS must be a positive integer, got '$seconds'" >&2
  exit 2
fi
for t in "${targets[@]}"; do
  if [[ ! " ${all_targets[*]} " =~ " $t " ]]; then
    echo "fuzz: unknown target '$t' (targets: ${all_targets[*]})" >&2
    exit 2
  fi
done

# ---- toolchain ------------------------------------------------------------------------------
missing=""
cxx="$(command -v clang++ || command -v clang++-14 || true)"
cc="$(command -v clang || command -v clang-14 || true)"
if [ -z "$cxx" ] || [ -z "$cc" ]; then
  missing="clang/clang++ not found"
elif ! command -v cmake >/dev/null; then
  missing="cmake not found"
elif ! echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' |
    "$cxx" -x c++ -fsanitize=fuzzer,address,undefined -o /dev/null - 2>/dev/null; then
  missing="clang cannot link -fsanitize=fuzzer,address,undefined (libclang-rt-14-dev missing?)"
fi
if [ -n "$missing" ]; then
  if [ "$if_available" -eq 1 ] && [ "${CI:-}" != "true" ]; then
    echo "fuzz: skip ($missing; scripts/install-deps.sh installs it)"
    exit 0
  fi
  echo "fuzz: $missing" >&2
  exit 1
fi

# ---- build ------------------------------------------------------------------------------------
if [ ! -f "$build/CMakeCache.txt" ]; then
  generator=()
  if command -v ninja >/dev/null; then generator=(-G Ninja); fi
  CC="$cc" CXX="$cxx" cmake -S "$root/fuzz" -B "$build" "${generator[@]}" >/dev/null
fi
# fuzz/CMakeLists.txt defines fuzz_checkpoint only when it finds LibTorch.
have_torch=0
if cmake --build "$build" --target help 2>/dev/null | grep -q 'fuzz_checkpoint'; then have_torch=1; fi
jobs="${COTRACK_JOBS:-1}"

if [ "$seeds" -eq 1 ]; then
  if [ "$have_torch" -eq 0 ]; then
    echo "fuzz: make_seeds needs LibTorch" >&2
    exit 1
  fi
  cmake --build "$build" -j "$jobs" --target make_seeds
  mkdir -p "$build/tmp"
  TMPDIR="$build/tmp" "$build/make_seeds" "$root/fuzz/corpus" "$root/config/default.toml"
  du -sh "$root/fuzz/corpus"/*
  exit 0
fi

build_targets=()
run_targets=()
for t in "${targets[@]}"; do
  if [ "$t" = checkpoint ] && [ "$have_torch" -eq 0 ]; then
    echo "fuzz: checkpoint: skip (LibTorch not found)"
    continue
  fi
  build_targets+=("fuzz_$t")
  run_targets+=("$t")
done
if [ ${#build_targets[@]} -gt 0 ]; then
  cmake --build "$build" -j "$jobs" --target "${build_targets[@]}"
fi

# ---- run --------------------------------------------------------------------------------------
mkdir -p "$build/artifacts" "$build/logs" "$build/tmp"
# UBSan reports abort (the targets are built with -fno-sanitize-recover); keep the stack.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
export TMPDIR="$build/tmp"
stat_of() {  # stat_of LOG NAME: a value of -print_final_stats, or "?"
  local v
  v="$(sed -n "s/^stat::$2: *//p" "$1" | tail -n 1)"
  echo "${v:-?}"
}
summary=()
failed=0
for t in "${run_targets[@]}"; do
  corpus="$build/corpus/$t"
  log="$build/logs/$t.log"
  mkdir -p "$corpus"
  dict=()
  if [ -f "$root/fuzz/$t.dict" ]; then dict=(-dict="$root/fuzz/$t.dict"); fi
  echo "fuzz: $t for ${seconds}s (log: $log)"
  start=$(date +%s)
  rc=0
  "$build/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" "${dict[@]}" \
    "$corpus" "$root/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  elapsed=$(( $(date +%s) - start ))
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)"
  ft="$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)"
  result="ok"
  if [ "$rc" -ne 0 ]; then
    failed=1
    kind="$(grep -o -m 1 -E 'ERROR: libFuzzer: [a-z-]+|ERROR: (Address|Leak|UndefinedBehavior)Sanitizer: [A-Za-z-]+|runtime error: .*' "$log" || true)"
    if [ -z "$kind" ] && grep -q 'runtime error' "$log"; then kind="UBSan runtime error"; fi
    artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
    result="FOUND (${kind:-exit $rc}) ${artifact:-}"
  fi
  line="$(printf 'fuzz: %-10s %4ss  runs %-9s exec/s %-6s cov %-5s ft %-6s new %-4s crashes %s  %s' \
    "$t" "$elapsed" "$(stat_of "$log" number_of_executed_units)" \
    "$(stat_of "$log" average_exec_per_sec)" "${cov:-?}" "${ft:-?}" \
    "$(stat_of "$log" new_units_added)" "$([ "$rc" -eq 0 ] && echo 0 || echo 1)" "$result")"
  echo "$line"
  summary+=("$line")
done
echo "fuzz: summary"
for line in "${summary[@]}"; do echo "$line"; done
exit "$failed"
