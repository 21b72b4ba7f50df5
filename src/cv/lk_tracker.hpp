// The Lucas-Kanade baseline: a PointTracker that follows each point from frame to frame with
// OpenCV's pyramidal Lucas-Kanade on grey frames, and calls a point occluded when the
// forward-backward check fails. No OpenCV types in this header.
//
// Per frame t (t > the point's query frame), for a point visible at t - 1 at position p:
//   forward  q  = LK(frame t-1 -> frame t, from p);
//   backward p' = LK(frame t -> frame t-1, from q);
//   the point is visible at q when both LK calls converge (OpenCV status 1), |p' - p| <=
//   fb_threshold_px, the mean absolute grey difference between the windows at p and q is at most
//   max_error (when max_error > 0), and q is inside the image (0 <= x <= W - 1, 0 <= y <= H - 1).
//   Otherwise it is occluded from t on.
// Occlusion policy: an occluded point keeps reporting its last visible position p_v (frame t_v),
// with visibility 0. The tracker keeps a grey crop of frame t_v around p_v (about
// (window / 2 + 2) * 2^levels pixels each side) and, on every later frame t, runs the same
// forward-backward test from that crop at p_v to the same region of frame t. When the test
// passes, the point is visible again at the new position and frame-to-frame tracking resumes.
// Matching against the last view of the point itself, not against frame t-1, keeps a point from
// latching onto the occluder's (trackable) texture. A point that moves more than LK's reach
// (roughly window / 2 * 2^levels pixels) while hidden is not found again.
//
// Frames: indices count from 0 since construction or reset_stream(). push_frame() only stores
// the grey frame (every pushed frame stays held until step() has processed it, so call step()
// regularly); step() processes every pushed frame not yet processed, in order. LK has no
// look-ahead, so a processed frame is final at once: step() hands each processed frame's
// estimates to the sink and then returns. Cost: about 2 ms per 256x256 frame with 64 points on
// one core of this project's CPU (the benchmark case in tests/pipeline prints it).
//
// Points: add_point() accepts the newest frame, any future frame (the point starts when that
// frame is processed) or a past frame still held: the last `held_frames` processed frames and all
// unprocessed ones. A point added on an already processed frame is tracked through the held
// frames up to the newest processed one at the next step(); those estimates go to its snapshot
// trail, not to the sink, which already has those frames. Every frame's FrameEstimates lists
// every point that exists when the frame is processed, in id order; before a point's query frame
// its entry is the query position with estimated = false, visible = false, visibility and
// confidence 0. A tracked point has estimated = true and visibility = confidence = 1 when
// visible, 0 when occluded. Point ids increase from 0 and are never reused by one tracker.
//
// Threading: use one tracker from one thread; the sink runs on that thread, inside step() and
// flush(). Snapshots are immutable and may be read from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cotrack/tracker.hpp"

namespace cotrack {

// Defaults tuned on synthetic clips (default SynthParams, seeds 101..140, disjoint from the
// benchmark's 1..30): windows of 9 to 11 pixels give the best average Jaccard (21: about 0.07
// lower, 31: 0.15 lower; larger windows straddle object edges and drift); levels 2..4,
// fb_threshold_px 1..3 and max_error 15..30 change it by less than 0.01. max_error is what
// notices a textured occluder: LK follows the occluder's texture consistently forward and
// backward (forward-backward error under a pixel), but the window's grey levels jump (mean
// absolute difference ~30 against ~0..6 for a visible point).
struct LKConfig {
  int max_points = 256;          // points at once (future and occluded ones included), >= 1
  int window = 11;               // side of the LK window in pixels, odd, in [5, 101]
  int levels = 3;                // pyramid levels above full resolution (OpenCV maxLevel), 0..8
  float fb_threshold_px = 1.5f;  // largest forward-backward error of a visible point, pixels
  // Largest mean absolute grey difference (0..255 units) between the point's window before and
  // after a step (OpenCV's LK error); 0 switches the test off.
  float max_error = 20.f;
  int trail_frames = 32;     // estimates per point kept in snapshots, >= 1
  int held_frames = 8;       // processed frames kept for points added on past frames, >= 2
  int max_iterations = 30;   // LK iterations per pyramid level, >= 1
  double epsilon_px = 0.01;  // LK stops iterating when an update is smaller, > 0

  void validate() const;  // throws UsageError naming the bad setting
};

class LKTracker final : public PointTracker {
 public:
  // Throws UsageError for a bad config.
  explicit LKTracker(LKConfig config = {});
  LKTracker(LKTracker&&) noexcept;
  LKTracker& operator=(LKTracker&&) noexcept;
  ~LKTracker() override;

  // Converts the frame to grey and stores it; tracking happens in step(). Throws InputError for
  // a null frame, a non-positive size or a size other than the first frame's.
  int64_t push_frame(const uint8_t* rgb, int width, int height) override;
  // Processes every unprocessed frame (and catches up points added on past frames). kUpdated
  // with a new snapshot when anything was processed, kNotReady otherwise; window_frames lists
  // the frames handed to the sink.
  StepResult step() override;
  // Same as step(): LK finalises every frame as soon as it is processed.
  StepResult flush() override;
  // kNoFrames before the first frame (the image size is unknown), kFrameGone for a negative or
  // no longer held frame, kOutsideImage outside [0, W-1] x [0, H-1] (or NaN), kTooManyPoints at
  // max_points. The message is one line for logs and the HUD.
  AddPointResult add_point(int64_t frame_index, float x_px, float y_px) override;
  bool remove_point(PointId id) override;
  // Removes every point and estimate; held frames and frame numbering stay, and frames pushed
  // but not processed are still processed (and sent to the sink) by the next step().
  void reset() override;
  // Also drops every frame (unprocessed ones never reach the sink) and the frame size; the next
  // frame is frame 0.
  void reset_stream() override;
  void set_sink(std::function<void(const FrameEstimates&)> sink) override;
  // The snapshot of the last step(), updated also by remove_point(), reset() and reset_stream().
  std::shared_ptr<const Snapshot> snapshot() const override;
  int num_points() const override;
  int64_t frames_received() const override;
  std::string name() const override;  // "lk"

  const LKConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cotrack
