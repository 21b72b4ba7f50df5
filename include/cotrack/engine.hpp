// The online tracking engine: one stream's state, fed one frame at a time (torch-free header).
//
// Threading: an engine is used from one thread (the engine thread); snapshots it returns are
// immutable and may be read from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cotrack/model.hpp"

namespace cotrack {

using PointId = int64_t;

enum class EngineMode {
  kExact,       // official online semantics: window_len frames, step window_len/2, all iterations
  kLowLatency,  // a window ending at every `step`-th frame, motion-extrapolated initialisation
};
EngineMode parse_engine_mode(const std::string& name);  // "exact" | "low-latency"; UsageError
const char* to_string(EngineMode mode);

// Run-time settings (the model file fixes window length, resolution and dimensions).
struct EngineConfig {
  EngineMode mode = EngineMode::kExact;
  int step = 0;                 // low-latency: frames between windows (1..window/2); 0 = 1
  int iters = 0;                // refinement iterations per window; 0 = the model's default
  bool extrapolate = true;      // low-latency: new frames start from linear motion extrapolation
  // Bound on estimates, as a fraction of the frame's width / height: an estimate further outside
  // the picture is pulled back to that margin and called occluded, so a lost point cannot feed
  // its own drift window after window. Low-latency extrapolation is limited to visible points
  // moving at most this fraction of the frame a frame. 0 = unbounded (the official behaviour).
  float max_outside = 0.25f;
  int max_points = 256;         // user points at once
  int support_grid = 0;         // global grid of size x size support points (0 = none)
  int local_grid = 0;           // local grid of size x size support points around each user point
  float local_grid_extent_px = 50.f;  // side of the local grid, in model pixels
  double visibility_threshold = 0.6;  // visible = vis * conf > threshold
  int trail_frames = 32;        // estimates per point kept in snapshots (for drawing trails)

  void validate() const;  // throws UsageError naming the bad setting
};

// One point's estimate on one frame, in video pixels.
struct PointEstimate {
  PointId id = 0;
  float x_px = 0.f, y_px = 0.f;
  float visibility = 0.f;  // sigmoid(vis logit)
  float confidence = 0.f;  // sigmoid(conf logit)
  bool visible = false;    // visibility * confidence > threshold
  bool estimated = false;  // false before the point's first window (position = query point)
};

// Final estimates of one frame: no later window will change them. Handed to the sink in frame
// order, exactly once per frame.
struct FrameEstimates {
  int64_t frame_index = 0;
  std::vector<PointEstimate> points;  // points that existed on that frame, in id order
};

// The newest view of every tracked point, for drawing. Immutable once published.
struct Snapshot {
  int64_t newest_frame = -1;     // newest frame with an estimate
  int64_t final_until = 0;       // frames < final_until are final
  struct Track {
    PointId id = 0;
    int64_t query_frame = 0;
    std::vector<int64_t> frames;  // ascending, at most trail_frames, ending at newest_frame
    std::vector<PointEstimate> estimates;
  };
  std::vector<Track> tracks;  // user points only, in id order
};

struct StepResult {
  enum class Status { kNotReady, kUpdated } status = Status::kNotReady;
  std::shared_ptr<const Snapshot> snapshot;  // set when kUpdated
  std::vector<int64_t> window_frames;        // frame indices the processed window used
};

struct AddPointResult {
  enum class Status { kOk, kTooManyPoints, kOutsideImage, kFrameGone, kNoFrames } status =
      Status::kOk;
  PointId id = -1;
  std::string message;  // one line, for logs and the HUD
};

// Per-stage time of the windows processed so far (benchmarks).
struct EngineTimings {
  double cnn_ms = 0, correlation_ms = 0, transformer_ms = 0, other_ms = 0;
  int64_t windows = 0, frames_encoded = 0;
};

// What every tracker offers (the CoTracker engine, the Lucas-Kanade baseline): the live app,
// the offline CLI and the evaluation drive trackers through this interface only.
class PointTracker {
 public:
  virtual ~PointTracker() = default;
  // Appends the next frame (RGB, rows of width*3 bytes) and returns its frame index. The first
  // frame fixes the size; a frame of another size throws InputError (call reset_stream first).
  virtual int64_t push_frame(const uint8_t* rgb, int width, int height) = 0;
  // Processes what the frames so far allow (a window, or one frame for trackers without one).
  virtual StepResult step() = 0;
  // End of stream: processes what is left and finalises every frame (the sink sees them all).
  virtual StepResult flush() = 0;
  // A point at (x, y) video pixels, tracked from frame `frame_index` on. The frame may be the
  // newest one, a future one (tracked once it arrives) or an older one still held.
  virtual AddPointResult add_point(int64_t frame_index, float x_px, float y_px) = 0;
  virtual bool remove_point(PointId id) = 0;
  // Removes every point and all estimates; frame numbering continues.
  virtual void reset() = 0;
  // Also forgets the frames and the frame size; frame numbering restarts at 0.
  virtual void reset_stream() = 0;
  // Called with each frame's final estimates, in frame order, once per frame.
  virtual void set_sink(std::function<void(const FrameEstimates&)> sink) = 0;
  virtual std::shared_ptr<const Snapshot> snapshot() const = 0;
  virtual int num_points() const = 0;
  virtual int64_t frames_received() const = 0;
  virtual std::string name() const = 0;  // "cotrack (exact)", "lk", ...
};

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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cotrack
