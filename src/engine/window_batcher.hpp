// Internal: the windows of several engines that share one network, run as one forward pass
// (include/cotrack/engine.hpp has the torch-free handle, WindowBatcher).
//
// An engine that has a window to run calls run() from its own thread. The first caller of a
// batch waits until max_batch windows have joined or max_wait has passed, then pads the windows
// to the largest track count, runs them as one batch with the padded tracks masked out of the
// attention over tracks, and hands each caller its own window's result; the others wait for it.
// Windows join only a batch of the same iterations and precision. On a GPU one batch of B windows
// costs little more than one window; on a CPU the work is proportional, so batching is for GPUs.
#pragma once

#include <ATen/ATen.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "cotrack/engine.hpp"
#include "model/network.hpp"

namespace cotrack {

// One engine's window: the arguments of Network::forward_window, batch size 1.
struct WindowJob {
  std::vector<at::Tensor> pyramid;  // per level [1, S, C, h, w]
  at::Tensor coords;                // [1, S, N, 2]
  std::vector<at::Tensor> support;  // per level [1, 1, R*R, N, C]
  at::Tensor vis, conf;             // [1, S, N, 1]
  int iters = 0;
  bool bf16 = false;
};

class WindowBatcher {
 public:
  // max_wait >= 0 (make_window_batcher checks it); throws UsageError for max_batch < 1.
  WindowBatcher(const Network& net, int max_batch, std::chrono::microseconds max_wait);

  // The window's last iteration (WindowOutput with one entry each: coords [1, S, N, 2], vis and
  // conf [1, S, N]); `times` receives this window's share of the batch's stage times.
  WindowOutput run(const WindowJob& job, StageTimes* times);

  WindowBatcherStats stats() const;

 private:
  struct Batch {
    std::vector<const WindowJob*> jobs;
    std::vector<WindowOutput> results;
    StageTimes times;
    bool done = false;
    std::exception_ptr error;
  };
  void compute(Batch& batch) const;

  const Network& net_;
  const int max_batch_;
  const std::chrono::microseconds max_wait_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<Batch> open_;  // the batch that new windows join, if any
  WindowBatcherStats stats_;
};

}  // namespace cotrack
