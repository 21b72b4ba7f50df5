// The online CoTracker engine: one stream's state, fed one frame at a time (torch-free header).
// Its settings (EngineConfig) are plain values; the engine itself needs LibTorch at link time.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>

#include "cotrack/model.hpp"
#include "cotrack/runtime.hpp"
#include "cotrack/tracker.hpp"

namespace cotrack {

enum class EngineMode {
  kExact,       // official online semantics: window_len frames, step window_len/2, all iterations
  kLowLatency,  // a window ending at every `step`-th frame, motion-extrapolated initialisation
};
EngineMode parse_engine_mode(const std::string& name);  // "exact" | "low-latency"; UsageError
const char* to_string(EngineMode mode);

// The visibility rule: a point is visible when visibility * confidence^weight exceeds the
// threshold (both probabilities; weight 1 is the official rule, in the official float arithmetic).
inline bool visible_by_rule(float visibility, float confidence, double threshold, double weight) {
  const float c = weight == 1.0   ? confidence
                  : weight == 0.0 ? 1.0f
                                  : std::pow(confidence, static_cast<float>(weight));
  return visibility * c > threshold;
}

// Run-time settings (the model file fixes window length, resolution and dimensions).
struct EngineConfig {
  EngineMode mode = EngineMode::kExact;
  int step = 0;                 // low-latency: frames between windows (1..window/2); 0 = 1
  int iters = 0;                // refinement iterations per window; 0 = the model's default
  bool extrapolate = true;      // low-latency: new frames start from linear motion extrapolation
  // New frames start each visible point where its neighbourhood moved (phase correlation of
  // image patches around it, frame to frame) rather than at its last estimate, so that a pan or
  // an object faster than the network's correlation reaches does not leave points behind. Takes
  // the place of `extrapolate`. Off keeps the official semantics.
  bool motion_prior = false;
  // A user point whose estimate no longer looks like its query, while one place of the frame
  // clearly does, starts the window's new frames there (its query feature patch matched over the
  // finest feature map), so that a point that drifted onto the background or comes back after
  // an occlusion is found again. Off keeps the official semantics.
  bool reacquire = false;
  // kBf16: the network's matrix work in bfloat16 (resolve_precision checks the hardware).
  Precision precision = Precision::kFp32;
  // Bound on estimates, as a fraction of the frame's width / height: an estimate further outside
  // the picture is pulled back to that margin and called occluded, so a lost point cannot feed
  // its own drift window after window. Low-latency extrapolation is limited to visible points
  // moving at most this fraction of the frame a frame. 0 = unbounded (the official behaviour).
  float max_outside = 0.25f;
  int max_points = 256;         // user points at once
  int support_grid = 0;         // global grid of size x size support points (0 = none)
  int local_grid = 0;           // local grid of size x size support points around each user point
  float local_grid_extent_px = 50.f;  // side of the local grid, in model pixels
  double visibility_threshold = 0.6;  // visible = vis * conf^confidence_weight > threshold
  // 1: the official rule; 0: the visibility alone, so a visible point the network is unsure of
  // stays visible.
  double confidence_weight = 1.0;
  int trail_frames = 32;        // estimates per point kept in snapshots (for drawing trails)

  void validate() const;  // throws UsageError naming the bad setting
};

// Per-stage time of the windows processed so far (benchmarks).
struct EngineTimings {
  double cnn_ms = 0, correlation_ms = 0, transformer_ms = 0, other_ms = 0;
  int64_t windows = 0, frames_encoded = 0;
};

// Several engines (streams) that share one model can run their windows as one batched forward
// pass: on a GPU a batch of windows costs little more than one window. The first window of a
// batch waits until max_batch windows have joined or max_wait_ms has passed. Windows of
// different track counts are padded and masked; each engine's results equal its own window's up
// to float rounding. On a CPU the work is proportional to the windows, so there it only adds the
// wait.
class WindowBatcher;
struct WindowBatcherStats {
  int64_t batches = 0;  // forward passes run
  int64_t windows = 0;  // windows they carried
  int largest = 0;      // most windows in one pass
};
std::shared_ptr<WindowBatcher> make_window_batcher(const Model& model, int max_batch,
                                                   double max_wait_ms);
WindowBatcherStats window_batcher_stats(const WindowBatcher& batcher);

class OnlineEngine final : public PointTracker {
 public:
  // The model must outlive the engine. Throws UsageError for a bad config.
  OnlineEngine(const Model& model, EngineConfig config);
  OnlineEngine(OnlineEngine&&) noexcept;
  OnlineEngine& operator=(OnlineEngine&&) noexcept;
  ~OnlineEngine() override;

  int64_t push_frame(const uint8_t* rgb, int width, int height) override;
  // Exact mode: a window every step frames once a full window has arrived.
  StepResult step() override;
  StepResult flush() override;
  AddPointResult add_point(int64_t frame_index, float x_px, float y_px) override;
  bool remove_point(PointId id) override;
  void reset() override;
  void reset_stream() override;
  void set_sink(std::function<void(const FrameEstimates&)> sink) override;
  std::shared_ptr<const Snapshot> snapshot() const override;
  int num_points() const override;
  int64_t frames_received() const override;
  std::string name() const override;

  const EngineConfig& config() const;
  EngineTimings timings() const;
  // Runs this engine's windows through `batcher` (made for the same model); null: alone.
  void set_window_batcher(std::shared_ptr<WindowBatcher> batcher);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cotrack
