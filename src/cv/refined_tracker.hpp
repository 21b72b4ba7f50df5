// Sub-pixel refinement of a coarse tracker's final estimates with Lucas-Kanade at full video
// resolution: the hybrid the training issue suggests. The network finds where a point went
// (large motion, occlusion, re-detection) at its low model resolution; a short LK step from the
// point's refined position on the previous frame recovers the sub-pixel precision that a
// stride-4 feature map at 128x128 cannot give. No OpenCV types in this header.
//
// For each final frame t of the coarse tracker and each point with an estimate n_t:
//   - on the point's query frame, the refined position is the query position itself;
//   - when the point had an estimate on t - 1 (refined position r_{t-1}, coarse n_{t-1}), LK
//     runs from r_{t-1} on frame t - 1 to frame t, starting from r_{t-1} + (n_t - n_{t-1}) (the
//     network's motion), and back again. Its result q is kept when both LK calls converge, the
//     forward-backward error is at most fb_threshold_px and, when max_offset_px > 0,
//     |q - n_t| <= max_offset_px. This runs whether or not the coarse tracker calls the point
//     visible: a point the network calls occluded by mistake keeps its sub-pixel track;
//   - otherwise the refined position is n_t, and the chain restarts from it on t + 1.
// When anchor_max_px > 0, the result r_t of that step is then checked against the point's
// appearance on its query frame, which a frame-to-frame chain slowly drifts away from: LK runs
// from the query position, in a brightness-normalised patch of the query frame, to the patch of
// frame t around r_t, and back. Its result a replaces r_t (and so also feeds the chain) when both
// calls converge, the forward-backward error is at most fb_threshold_px and |a - r_t| <=
// anchor_max_px. With `redetect`, when the coarse estimate n_t is more than anchor_max_px from
// r_t, the same match is also tried from n_t: a chain that followed an occluder or drifted off
// is brought back to where the network sees the point, if the query frame's patch agrees. Of
// the matches that pass, the one of lower residual (mean absolute difference) wins; when none
// passes, r_t stands. The patches are 3 * window pixels wide and LK runs without a pyramid there,
// so the match only looks near its start.
// With `vouch_visible`, a point whose query-frame match passed is called visible: its query
// appearance was found where it is placed. Otherwise visibility and confidence stay the coarse
// tracker's (calling a point occluded where LK failed changed AJ by +0.1 and cost 0.5 OA on the
// tuning set, so a failed match says nothing). Points are refined in frame
// order, as frames become final, so the refined estimates reach the sink with the coarse
// tracker's delay. A stream whose frames have fewer than min_video_pixels pixels is not refined
// at all: the coarse estimates pass through (decided on its first frame).
//
// Threading: as PointTracker (one thread; the sink runs inside step() and flush()).
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>

#include "cotrack/model.hpp"
#include "cotrack/tracker.hpp"

namespace cotrack {

// The refinement's default (`--refine auto`, the GStreamer element's refine=auto): cotrack's own
// models are refined on video with at least this many times the model input's pixels. Below it,
// on the photo tuning clips (model 256x256), the refinement cost 8 AJ at 256x256 and 4 at
// 384x384 and was level at 512x512; above it, on 640x480 photo streams and real video, it
// gains (docs/evaluation.md). The official weights are never refined by default: their exact
// mode keeps the official semantics.
inline constexpr double kAutoRefineMinPixelRatio = 3.0;
// (Inline: cotrack_cv does not link the model; the apps and the element that call these do.)
// min_video_pixels for `auto` with this model at its current resolution.
inline int64_t auto_refine_min_pixels(const Model& model) {
  const ModelConfig& mc = model.config();
  return static_cast<int64_t>(
      std::ceil(kAutoRefineMinPixelRatio * mc.model_width * mc.model_height));
}
// Whether the refine setting `mode` ("on", "off" or "auto") refines this model's estimates: auto
// refines cotrack's own models, not those with the official semantics.
inline bool refines(const std::string& mode, const Model& model) {
  return mode == "on" || (mode == "auto" && !model.official_semantics());
}

struct RefineConfig {
  int window = 11;              // LK window side, odd, 5..101
  int levels = 2;               // pyramid levels above full resolution, 0..8
  // Largest accepted distance of LK's result from the coarse estimate, video px; 0 = no limit.
  // On the tuning set (seeds 101..115, step 6,804) no limit beat 12 px by 2.6 AJ.
  float max_offset_px = 0.f;
  float fb_threshold_px = 1.f;  // largest forward-backward error, video px
  // Largest correction by LK against the query frame, video px; 0 = off (and no re-detection).
  // On the tuning set (seeds 101..115, step 12,400): 56.5 AJ off, 57.3 at 1 px, 57.2 at 2 and 4
  // px without re-detection; 58.2 at 1 px with it, 57.5 at 0.5 px.
  float anchor_max_px = 1.f;
  bool redetect = true;  // also match from the coarse estimate (needs anchor_max_px > 0)
  // A passed query-frame match makes the point visible (needs anchor_max_px > 0).
  bool vouch_visible = true;
  // Streams with fewer pixels per frame pass through unrefined; 0 = refine every stream.
  int64_t min_video_pixels = 0;
  int max_iterations = 30;
  double epsilon_px = 0.01;

  void validate() const;  // throws UsageError naming the bad setting
};

class RefinedTracker final : public PointTracker {
 public:
  // Takes over `coarse` (its sink is set by this tracker). Throws UsageError for a bad config.
  RefinedTracker(std::unique_ptr<PointTracker> coarse, RefineConfig config = {});
  RefinedTracker(RefinedTracker&&) noexcept;
  RefinedTracker& operator=(RefinedTracker&&) noexcept;
  ~RefinedTracker() override;

  int64_t push_frame(const uint8_t* rgb, int width, int height) override;
  StepResult step() override;
  StepResult flush() override;
  AddPointResult add_point(int64_t frame_index, float x_px, float y_px) override;
  bool remove_point(PointId id) override;
  void reset() override;
  void reset_stream() override;
  void set_sink(std::function<void(const FrameEstimates&)> sink) override;
  // The coarse tracker's snapshot with refined positions on the frames already final.
  std::shared_ptr<const Snapshot> snapshot() const override;
  int num_points() const override;
  int64_t frames_received() const override;
  std::string name() const override;  // "<coarse name> + lk refinement"

  PointTracker& coarse();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The network tracker `engine` for `model`, wrapped in the refinement as the refine setting
// `mode` ("on", "off" or "auto") asks; with auto, only streams of at least
// auto_refine_min_pixels are refined. `config` holds the refinement's other settings.
inline std::unique_ptr<PointTracker> refine_as(const std::string& mode,
                                               std::unique_ptr<PointTracker> engine,
                                               const Model& model, RefineConfig config = {}) {
  if (!refines(mode, model)) return engine;
  if (mode == "auto") config.min_video_pixels = auto_refine_min_pixels(model);
  return std::make_unique<RefinedTracker>(std::move(engine), config);
}

}  // namespace cotrack
