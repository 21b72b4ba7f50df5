// An endless synthetic video with ground truth for any point (torch-free): the live app's
// built-in source `synth[:SEED]`, and live accuracy scoring against it.
//
// The stream renders one generator scene of `scene_frames` frames once and plays it forward and
// backward (ping-pong: 0, 1, ..., T-1, T-2, ..., 1, 0, 1, ...), so motion stays continuous, memory
// stays bounded and no frame is rendered while streaming. Any point placed on any frame has an
// exact track: the layer under it at that frame carries it (see synth.hpp's scene model).
#pragma once

#include <cstdint>
#include <map>
#include <memory>

#include "cotrack/synth.hpp"
#include "cotrack/tracker.hpp"

namespace cotrack {

class SynthStream {
 public:
  // Renders the scene: params.frames frames of params.width x params.height (at least 2 frames).
  SynthStream(const SynthParams& params, std::uint64_t seed);

  int width() const { return scene_.width; }
  int height() const { return scene_.height; }
  int scene_frames() const { return scene_.frames; }
  // The scene frame shown at stream frame `index` (>= 0).
  int scene_frame(std::int64_t index) const;
  // RGB rows of width * 3 bytes; valid as long as the stream.
  const std::uint8_t* frame(std::int64_t index) const;

  struct Truth {
    bool valid = false;  // false: no layer covers the query point (cannot happen inside the image)
    float x = 0.f, y = 0.f;
    bool visible = false;  // inside the picture and no layer above the point's own covers it
  };
  // Where the point at (x, y) on stream frame `query` truly is at stream frame `t`.
  Truth truth(std::int64_t query, float x, float y, std::int64_t t) const;

 private:
  SynthScene scene_;
  SynthClip clip_;
};

// Live accuracy of a tracker's final estimates against a SynthStream, in the TAP-Vid way
// (positions compared in a frame scaled to 256x256): each point's query is its first estimate.
class LiveAccuracy {
 public:
  explicit LiveAccuracy(std::shared_ptr<const SynthStream> stream);
  // Scores one frame's final estimates; frame_index is the stream frame number.
  void add(const FrameEstimates& frame);

  struct Summary {
    std::int64_t estimates = 0;  // scored point-frames (query frames excluded)
    std::int64_t visible = 0;    // of them, truly visible
    double delta_avg = 0;        // mean over 1, 2, 4, 8, 16 px of the share of visible within
    double within_8px = 0;       // share of visible estimates within 8 px
    double occlusion_accuracy = 0;  // share whose visible flag matches the truth
    double far_off = 0;  // share of visible estimates more than kFarOffPx from the truth
  };
  static constexpr double kFarOffPx = 32;  // twice TAP-Vid's largest threshold
  Summary summary() const;

 private:
  struct Query {
    std::int64_t frame;
    float x, y;
  };
  std::shared_ptr<const SynthStream> stream_;
  std::map<PointId, Query> queries_;
  std::int64_t estimates_ = 0, visible_ = 0, occlusion_right_ = 0, far_ = 0;
  std::int64_t within_[5] = {0, 0, 0, 0, 0};
};

}  // namespace cotrack
