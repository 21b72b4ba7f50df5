#!/usr/bin/env bash
# One command for a newcomer on Debian 12: install the packages, build, and track points on a
# built-in (synthetic) clip. Pass --model FILE to use a downloaded checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec ./build/apps/cotrack demo "$@"
