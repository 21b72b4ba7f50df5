#!/usr/bin/env bash
# Builds cotrack and runs the test suite through ctest. Labels: unit, parity, train, slow, long,
# pipeline, fuzz, sanitize, install (all by default).
# Usage: scripts/test.sh [ctest args...], e.g. scripts/test.sh -L parity
set -euo pipefail
cd "$(dirname "$0")/.."
export COTRACK_FIXTURES="${COTRACK_FIXTURES:-$(cd .. && pwd)/shared/fixtures}"
scripts/build.sh
cd "${COTRACK_BUILD_DIR:-build}"
ctest --output-on-failure "$@"
