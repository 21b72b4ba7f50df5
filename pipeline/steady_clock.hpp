// The one clock for arrival times and latencies in the live pipeline: GstSource stamps frames
// with it, the engine thread measures load and rates with it, and the app measures latency
// against it. Keep every such timestamp on this function so that they compare.
#pragma once

#include <chrono>
#include <cstdint>

namespace cotrack {

// Nanoseconds on std::chrono::steady_clock.
inline int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Unix milliseconds of a steady_ns() instant in the recent past: for timestamps that leave the
// process (the browser view's frames, MQTT messages).
inline int64_t unix_ms_of(int64_t steady) {
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  return now_ms - (steady_ns() - steady) / 1'000'000;
}

}  // namespace cotrack
