#include "cotrack/synth_stream.hpp"

#include <fmt/format.h>

#include <cmath>
#include <utility>

#include "cotrack/error.hpp"

namespace cotrack {

SynthStream::SynthStream(const SynthParams& params, std::uint64_t seed) {
  params.validate();
  if (params.frames < 2) throw UsageError("synth stream: needs at least 2 scene frames");
  scene_ = build_synth_scene(params, seed);
  clip_ = render_synth_clip(scene_, {});
}

int SynthStream::scene_frame(std::int64_t index) const {
  const std::int64_t period = 2 * (static_cast<std::int64_t>(scene_.frames) - 1);
  const std::int64_t k = index < 0 ? 0 : index % period;
  return static_cast<int>(k < scene_.frames ? k : period - k);
}

const std::uint8_t* SynthStream::frame(std::int64_t index) const {
  return clip_.frame(scene_frame(index));
}

SynthStream::Truth SynthStream::truth(std::int64_t query, float x, float y, std::int64_t t) const {
  Truth out;
  const int tq = scene_frame(query), tt = scene_frame(t);
  const int layer = synth_top_layer(scene_, tq, x, y);
  if (layer < 0) return out;
  const SynthLayer& l = scene_.layers[static_cast<std::size_t>(layer)];
  const auto uv = homography_apply(homography_inverse(l.transform[static_cast<std::size_t>(tq)]), x, y);
  const auto xy = homography_apply(l.transform[static_cast<std::size_t>(tt)], uv[0], uv[1]);
  out.valid = true;
  out.x = static_cast<float>(xy[0]);
  out.y = static_cast<float>(xy[1]);
  const bool inside = out.x >= 0 && out.y >= 0 && out.x <= static_cast<float>(scene_.width - 1) &&
                      out.y <= static_cast<float>(scene_.height - 1);
  out.visible = inside && synth_top_layer(scene_, tt, out.x, out.y) <= layer;
  return out;
}

LiveAccuracy::LiveAccuracy(std::shared_ptr<const SynthStream> stream)
    : stream_(std::move(stream)) {}

void LiveAccuracy::add(const FrameEstimates& frame) {
  const double sx = 256.0 / stream_->width(), sy = 256.0 / stream_->height();
  for (const PointEstimate& p : frame.points) {
    const auto [it, first] =
        queries_.emplace(p.id, Query{frame.frame_index, p.x_px, p.y_px});
    if (first) continue;  // the query frame itself is not scored
    const SynthStream::Truth t = stream_->truth(it->second.frame, it->second.x, it->second.y,
                                                frame.frame_index);
    if (!t.valid) continue;
    ++estimates_;
    if (p.visible == t.visible) ++occlusion_right_;
    if (!t.visible) continue;
    ++visible_;
    const double d = std::hypot((p.x_px - t.x) * sx, (p.y_px - t.y) * sy);
    for (int k = 0; k < 5; ++k) {
      if (d < static_cast<double>(1 << k)) ++within_[k];
    }
    if (d > kFarOffPx) ++far_;
  }
}

LiveAccuracy::Summary LiveAccuracy::summary() const {
  Summary s;
  s.estimates = estimates_;
  s.visible = visible_;
  if (estimates_ > 0) s.occlusion_accuracy = static_cast<double>(occlusion_right_) / estimates_;
  if (visible_ > 0) {
    double sum = 0;
    for (int k = 0; k < 5; ++k) sum += static_cast<double>(within_[k]) / visible_;
    s.delta_avg = sum / 5;
    s.within_8px = static_cast<double>(within_[3]) / visible_;
    s.far_off = static_cast<double>(far_) / visible_;
  }
  return s;
}

}  // namespace cotrack
