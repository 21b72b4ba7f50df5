#!/usr/bin/env bash
# `cmake --install` into a temporary prefix: the installed cotrack finds its model there, and a
# program builds against the installed CMake package and tracks a point.
# Usage: test_install.sh BUILD_DIR SOURCE_DIR
set -u
build="$1"
src="$2"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
ok() { echo "ok   $*"; }

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 \
  && ok "install into a temporary prefix" || { fail "install"; cat "$tmp/install.log"; }
for f in bin/cotrack bin/cotrack-train bin/cotrack-bench lib/libcotrack_core.a \
         include/cotrack/cotrack.hpp lib/cmake/cotrack/cotrackConfig.cmake \
         lib/pkgconfig/cotrack.pc share/cotrack/models/cotrack-small-v1.ckpt \
         share/cotrack/config/default.toml share/doc/cotrack/LICENSE \
         lib/gstreamer-1.0/libgstcotrack.so; do
  [ -e "$tmp/prefix/$f" ] || fail "not installed: $f"
done

# The installed program finds the installed model (not the source tree's), and runs.
"$tmp/prefix/bin/cotrack" demo >"$tmp/demo.log" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "using the default model $tmp/prefix/share/cotrack/models/" "$tmp/demo.log" \
  && ok "installed cotrack demo uses the installed model" || { fail "demo: exit $rc"; cat "$tmp/demo.log"; }
COTRACK_MODEL="$tmp/missing.ckpt" "$tmp/prefix/bin/cotrack" demo >"$tmp/env.log" 2>&1
[ $? -ne 0 ] && grep -q "missing.ckpt" "$tmp/env.log" && ok "COTRACK_MODEL overrides the default" \
  || { fail "COTRACK_MODEL ignored"; cat "$tmp/env.log"; }

# The installed GStreamer element tracks with the network.
GST_PLUGIN_PATH="$tmp/prefix/lib/gstreamer-1.0" GST_REGISTRY="$tmp/registry.bin" \
  gst-launch-1.0 -q videotestsrc num-buffers=10 ! video/x-raw,width=256,height=256 ! \
  cotrack engine=cotrack grid=2 tracks-location="$tmp/gst.csv" ! fakesink >"$tmp/gst.log" 2>&1
[ $? -eq 0 ] && [ "$(wc -l < "$tmp/gst.csv")" -eq 41 ] \
  && ok "the installed GStreamer element tracks (10 frames x 4 points)" \
  || { fail "installed GStreamer element"; cat "$tmp/gst.log"; }

# A ten-line program against the installed package.
cmake -S "$src/tests/install/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$tmp/consumer.log" 2>&1 \
  && cmake --build "$tmp/consumer" >>"$tmp/consumer.log" 2>&1 \
  && "$tmp/consumer/consumer" "$tmp/prefix/share/cotrack/models/cotrack-small-v1.ckpt" \
     >>"$tmp/consumer.log" 2>&1 \
  && ok "a program built with find_package(cotrack) tracks a point" \
  || { fail "consumer"; tail -30 "$tmp/consumer.log"; }

# CPack's Debian package, with its library dependencies found from the binaries.
cpack --config "$build/CPackConfig.cmake" -G DEB -B "$tmp/deb" >"$tmp/cpack.log" 2>&1
deb=$(ls "$tmp"/deb/cotrack_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] && dpkg-deb -I "$deb" | grep -q "Depends:.*libtorch" \
  && dpkg-deb -c "$deb" 2>/dev/null | grep -q "share/cotrack/models/cotrack-small-v1.ckpt" \
  && ok "cpack: $(basename "$deb") depends on libtorch and holds the model" \
  || { fail "cpack"; tail -20 "$tmp/cpack.log"; }

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
