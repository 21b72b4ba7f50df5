// The engine thread of the live app: it drains the frame ring, feeds the tracker, applies the
// commands that the window (clicks, keys) and the source (reconnects) post, and publishes an
// immutable LiveView after every frame. Only this thread touches the tracker.
//
// Frame numbering: the tracker counts the frames it was given (engine frames); a frame's `seq`
// counts every frame the source delivered, dropped ones included. Final estimates go to the
// FinalSink with frame_index replaced by seq, so written tracks line up with the source video.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cotrack/tracker.hpp"
#include "frame_ring.hpp"

namespace cotrack {

// How the engine thread answered a command that asked for an answer (LiveCommand::done).
struct CommandResult {
  enum class Status {
    kOk,
    kInvalid,   // the request cannot be met as asked: outside the image, too many points
    kNotFound,  // no point with that id
    kGone,      // the frame asked for is not held (dropped, too old or not yet received)
  } status = Status::kOk;
  PointId id = -1;      // kAddPoint: the new point
  bool paused = false;  // the pause state after the command
  std::string message;  // one line when not kOk
};

struct LiveCommand {
  enum class Kind {
    kAddPoint,       // at (x_px, y_px) on engine frame `frame`, or on source frame `seq`
                     // (both -1: the newest frame shown)
    kRemoveNearest,  // the point nearest to (x_px, y_px) on the frame shown
    kRemovePoint,    // the point `id`
    kClear,          // every point
    kGrid,           // a grid x grid lattice of points on the frame shown
    kTogglePause,
    kStreamRestarted,  // the source reconnected: keep or reset points (WorkerConfig)
    kSourceState,      // `text` is the source's state for the HUD ("reconnecting ...", "ended")
  } kind;
  float x_px = 0, y_px = 0;
  int64_t frame = -1;
  int64_t seq = -1;  // kAddPoint: a source frame number (as the tracks outputs count frames)
  PointId id = -1;   // kRemovePoint
  int grid = 0;
  std::string text = {};
  // When set, called on the engine thread with the outcome once the command is applied (or
  // refused because too many commands wait: then on the posting thread).
  std::function<void(const CommandResult&)> done = {};
};

// What the window and the HUD show, published by the engine thread after each frame.
struct LiveView {
  int64_t frame_index = -1;  // engine frame of `rgb`: the newest frame with estimates
  int64_t seq = -1;          // its source frame number
  int64_t arrival_ns = 0;    // when it arrived (steady clock)
  int width = 0, height = 0;
  std::shared_ptr<const std::vector<uint8_t>> rgb;  // RGB rows of width * 3
  std::shared_ptr<const Snapshot> tracks;
  RingCounters counters;
  int thin = 1;
  double input_fps = 0, tracked_fps = 0;
  bool paused = false;
  int points = 0;
  std::string status;  // last one-line notice (a refused point, a reconnect), may be empty
};

// A frame whose estimates are final, for the video and track outputs.
struct FinalFrame {
  int64_t frame_index = 0, seq = 0, arrival_ns = 0;
  int width = 0, height = 0;
  std::shared_ptr<const std::vector<uint8_t>> rgb;  // null when no longer held
  FrameEstimates estimates;                          // frame_index = seq
  std::shared_ptr<const Snapshot> trails;  // final estimates up to this frame, for drawing
};

struct WorkerConfig {
  int history_frames = 40;      // frame images kept for display and outputs (>= window + step)
  int trail_frames = 32;        // final estimates per point kept for drawing outputs
  bool keep_points_on_restart = true;  // after a reconnect: keep tracking, or clear the points
  int max_pending_commands = 256;
  bool pause_drops = true;      // while paused, frames are taken from the ring and dropped
};

class EngineWorker {
 public:
  using FinalSink = std::function<void(const FinalFrame&)>;
  // The tracker and ring must outlive the worker. `on_final` runs on the engine thread.
  EngineWorker(PointTracker& tracker, FrameRing& ring, WorkerConfig config, FinalSink on_final);
  EngineWorker(const EngineWorker&) = delete;
  EngineWorker& operator=(const EngineWorker&) = delete;
  ~EngineWorker();  // stops without flushing

  void start();
  // Any thread. Returns false (and drops the command, telling its `done`) when too many wait.
  bool post(const LiveCommand& command);
  // Any thread: the source will deliver nothing more. The worker processes what waits, flushes
  // the tracker (every frame reaches the FinalSink) and finishes.
  void end_of_stream();
  // Stops the thread; with flush, first as end_of_stream(). Idempotent.
  void stop(bool flush);
  bool finished() const { return finished_.load(); }
  // Blocks until finished or the timeout passed; returns finished().
  bool wait_finished(int timeout_ms);
  std::shared_ptr<const LiveView> latest() const;
  // The error that ended the thread (empty if none). The thread catches everything.
  std::string error() const;
  // Called on the engine thread after every published view (tests use it as a latch).
  void set_on_view(std::function<void(const LiveView&)> on_view);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> finished_{false};
};

}  // namespace cotrack
