#!/usr/bin/env bash
# Installs everything cotrack needs from Debian 12 packages (run as root, or with sudo).
# Usage: scripts/install-deps.sh [--core]   (--core: only what the core library and its tests need)
set -euo pipefail

core=(build-essential cmake ninja-build pkg-config ccache
      libtorch-dev libopenblas0-openmp
      libfmt-dev doctest-dev libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libstb-dev
      clang libclang-rt-14-dev)
pipeline=(libopencv-dev
          libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
          gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
          gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools
          libboost-dev xvfb xauth xdotool
          python3 chromium-headless-shell libmosquitto-dev mosquitto mosquitto-clients openssl)

packages=("${core[@]}")
if [ "${1:-}" != "--core" ]; then packages+=("${pipeline[@]}"); fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi
echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
  -o DPkg::Lock::Timeout=600 "${missing[@]}"
