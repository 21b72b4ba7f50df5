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

}  // namespace cotrack
