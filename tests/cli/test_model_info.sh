#!/usr/bin/env bash
# `cotrack model-info`: what it prints for a good file, and one line + exit code for bad ones.
# Usage: test_model_info.sh PATH_TO_COTRACK
set -u
cotrack="$1"
fixtures="${COTRACK_FIXTURES:-$(dirname "$0")/../../../shared/fixtures}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
passes=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
expect() {  # expect NAME WANT_RC GOT_RC [grep pattern in output file]
  local name="$1" want="$2" got="$3" pattern="${4:-}"
  if [ "$got" != "$want" ]; then
    echo "FAIL $name: exit code $got, expected $want"; failures=$((failures + 1)); return
  fi
  if [ -n "$pattern" ] && ! grep -qE "$pattern" "$tmp/out"; then
    echo "FAIL $name: output lacks /$pattern/:"; cat "$tmp/out"; failures=$((failures + 1)); return
  fi
  echo "ok   $name"; passes=$((passes + 1))
}

if [ -f "$fixtures/cotracker3/random_online.pth" ]; then
  "$cotrack" model-info "$fixtures/cotracker3/random_online.pth" >"$tmp/out" 2>&1
  expect "official checkpoint" 0 $? "tensors: +188"
  grep -q "official CoTracker3" "$tmp/out" || fail "official: format line"
  grep -qE "parameters: +25385700 " "$tmp/out" || fail "official: parameter count"
  grep -qE "^license: +CC-BY-NC-4.0" "$tmp/out" || fail "official: licence line"
  # A truncated copy: one line, exit 3.
  head -c 1000000 "$fixtures/cotracker3/random_online.pth" >"$tmp/truncated.pth"
  "$cotrack" model-info "$tmp/truncated.pth" >"$tmp/out" 2>&1
  expect "truncated checkpoint" 3 $? "truncated.pth"
  [ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "truncated: not one line"
elif [ "${CI:-}" = "true" ]; then
  fail "fixture missing under CI=true: $fixtures"
else
  echo "skip official checkpoint: fixtures not found at $fixtures"
fi

# The shipped model names its licence (packagers read it here).
shipped="$(dirname "$0")/../../models/training/cotrack-small-v1.ckpt"
"$cotrack" model-info "$shipped" >"$tmp/out" 2>&1
expect "shipped model" 0 $? "^license: +Apache-2.0$"

head -c 4096 /dev/urandom >"$tmp/junk.pth"
"$cotrack" model-info "$tmp/junk.pth" >"$tmp/out" 2>&1
expect "random bytes" 3 $? "junk.pth: "
[ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "junk: not one line"

"$cotrack" model-info "$tmp/does-not-exist.pth" >"$tmp/out" 2>&1
expect "missing file" 3 $? "does-not-exist.pth"

"$cotrack" model-info >"$tmp/out" 2>&1
expect "missing argument" 2 $?

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
