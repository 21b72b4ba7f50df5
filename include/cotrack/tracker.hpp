// The tracker interface and its value types (torch-free): what the live app, the offline runner
// and the evaluation drive every tracker through, whether it is the CoTracker engine
// (cotrack/engine.hpp), the Lucas-Kanade baseline or the refined tracker.
//
// Threading: a tracker is used from one thread (the engine thread); snapshots it returns are
// immutable and may be read from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace cotrack {

using PointId = int64_t;

// One point's estimate on one frame, in video pixels.
struct PointEstimate {
  PointId id = 0;
  float x_px = 0.f, y_px = 0.f;
  float visibility = 0.f;  // sigmoid(vis logit)
  float confidence = 0.f;  // sigmoid(conf logit)
  bool visible = false;    // by the engine's visibility rule (visible_by_rule in engine.hpp)
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

// The estimate of `track` on frame `f`: its newest one at or before f, else its first one (a
// point added after f); null when it has none.
inline const PointEstimate* estimate_on(const Snapshot::Track& track, int64_t f) {
  for (size_t i = track.frames.size(); i-- > 0;) {
    if (track.frames[i] <= f) return &track.estimates[i];
  }
  return track.estimates.empty() ? nullptr : &track.estimates.front();
}

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

}  // namespace cotrack
