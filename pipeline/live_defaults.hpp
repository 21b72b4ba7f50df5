// The network's settings for live video on a CPU, shared by `cotrack live` and the GStreamer
// element (torch-free).
#pragma once

namespace cotrack {

// cotrack's own models in low-latency mode with a window every 2 frames and 1 iteration at
// 128x128: chosen so that 64 points keep 30 fps within 100 ms on a 2-core machine while still
// leading Lucas-Kanade on the real-video and long-stream evaluation (docs/performance.md,
// docs/evaluation.md). The official weights keep their own resolution.
constexpr const char* kLiveCpuResolution = "128x128";
constexpr int kLiveStep = 2;
constexpr int kLiveIters = 1;

}  // namespace cotrack
