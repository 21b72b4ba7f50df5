// TAP-Vid metrics; see include/cotrack/metrics.hpp for the contract and the reference.
#include "cotrack/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "cotrack/error.hpp"

namespace cotrack {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using Counts = TapVidCounts;

// num / den, with 0 / 0 = NaN as numpy gives (num <= den always holds here).
double ratio(std::int64_t num, std::int64_t den) {
  if (den == 0) return kNaN;
  return static_cast<double>(num) / static_cast<double>(den);
}

// numpy.round: round half to even, independent of the floating-point environment.
double round_half_even(double v) {
  const double lower = std::floor(v);
  const double frac = v - lower;
  if (frac > 0.5) return lower + 1.0;
  if (frac < 0.5) return lower;
  return std::fmod(lower, 2.0) == 0.0 ? lower : lower + 1.0;
}

// The query frame index of `track`; throws InputError unless it lies in [0, T).
int query_frame(const TapVidTrackSet& video, int track) {
  const double t = static_cast<double>(video.query_points[static_cast<std::size_t>(track) * 3]);
  const double rounded = round_half_even(t);
  if (!std::isfinite(t) || rounded < 0.0 || rounded >= static_cast<double>(video.num_frames)) {
    throw InputError(fmt::format("TAP-Vid metrics: track {} has query frame {} outside [0, {})",
                                 track, t, video.num_frames));
  }
  return static_cast<int>(rounded);
}

// Whether (track, frame) is an evaluation frame of `video`, whose query frame is `query`.
bool is_evaluated(const TapVidTrackSet& video, QueryMode mode, int track, int frame, int query) {
  const bool by_mode = mode == QueryMode::kFirst ? frame > query : frame != query;
  return by_mode && video.may_evaluate(track, frame);
}

// Adds evaluation frame k (a flat track-major index) of `video` to `c`.
void count_frame(const TapVidTrackSet& video, std::size_t k, Counts& c) {
  const bool gt_occluded = video.gt_occluded[k] != 0;
  const bool pred_occluded = video.pred_occluded[k] != 0;
  const bool gt_visible = !gt_occluded;
  const bool pred_visible = !pred_occluded;
  const double dx = static_cast<double>(video.pred_tracks[2 * k]) -
                    static_cast<double>(video.gt_tracks[2 * k]);
  const double dy = static_cast<double>(video.pred_tracks[2 * k + 1]) -
                    static_cast<double>(video.gt_tracks[2 * k + 1]);
  const double dist_sq = dx * dx + dy * dy;  // NaN compares false: never within

  ++c.evaluated;
  if (gt_occluded == pred_occluded) ++c.occlusion_agree;
  if (gt_visible) ++c.gt_visible;
  for (int i = 0; i < kTapVidNumThresholds; ++i) {
    const double d = kTapVidThresholdsPx[i];
    const bool within = dist_sq < d * d;
    if (within && gt_visible) {
      ++c.within_visible[i];
      if (pred_visible) ++c.true_positive[i];
    }
    if (pred_visible && (!gt_visible || !within)) ++c.false_positive[i];
  }
}

Counts count_track(const TapVidTrackSet& video, int track, QueryMode mode) {
  Counts c;
  const int query = query_frame(video, track);
  for (int t = 0; t < video.num_frames; ++t) {
    if (is_evaluated(video, mode, track, t, query)) count_frame(video, video.index(track, t), c);
  }
  return c;
}

}  // namespace

void TapVidCounts::add(const TapVidCounts& other) {
  evaluated += other.evaluated;
  occlusion_agree += other.occlusion_agree;
  gt_visible += other.gt_visible;
  for (int i = 0; i < kTapVidNumThresholds; ++i) {
    within_visible[i] += other.within_visible[i];
    true_positive[i] += other.true_positive[i];
    false_positive[i] += other.false_positive[i];
  }
}

TapVidMetrics metrics_from_counts(const TapVidCounts& c) {
  TapVidMetrics m;
  m.occlusion_accuracy = ratio(c.occlusion_agree, c.evaluated);
  double sum_jaccard = 0.0;
  double sum_within = 0.0;
  for (int i = 0; i < kTapVidNumThresholds; ++i) {
    m.pts_within[i] = ratio(c.within_visible[i], c.gt_visible);
    m.jaccard[i] = ratio(c.true_positive[i], c.gt_visible + c.false_positive[i]);
    sum_jaccard += m.jaccard[i];
    sum_within += m.pts_within[i];
  }
  m.average_jaccard = sum_jaccard / kTapVidNumThresholds;
  m.average_pts_within_thresh = sum_within / kTapVidNumThresholds;
  return m;
}

namespace {

void check_size(const char* name, std::size_t actual, std::size_t expected) {
  if (actual != expected) {
    throw InputError(fmt::format("TAP-Vid metrics: {} has {} values, expected {}", name, actual,
                                 expected));
  }
}

void check_raster_args(int width, int height) {
  if (width <= 0 || height <= 0) {
    throw UsageError(fmt::format("TAP-Vid rescale: video size {}x{} must be positive", width,
                                 height));
  }
}

// v * 256 / extent, evaluated in double in that order, rounded once to float.
float scale_to_raster(float v, int extent) {
  return static_cast<float>(static_cast<double>(v) * kTapVidRasterSize /
                            static_cast<double>(extent));
}

}  // namespace

QueryMode parse_query_mode(const std::string& name) {
  if (name == "first") return QueryMode::kFirst;
  if (name == "strided") return QueryMode::kStrided;
  throw UsageError("unknown TAP-Vid query mode '" + name + "' (expected 'first' or 'strided')");
}

const char* to_string(QueryMode mode) {
  return mode == QueryMode::kFirst ? "first" : "strided";
}

TapVidTrackSet TapVidTrackSet::zeros(int num_tracks, int num_frames) {
  if (num_tracks < 0 || num_frames < 0) {
    throw UsageError(fmt::format("TAP-Vid track set: negative shape {}x{}", num_tracks,
                                 num_frames));
  }
  TapVidTrackSet s;
  s.num_tracks = num_tracks;
  s.num_frames = num_frames;
  const std::size_t nt =
      static_cast<std::size_t>(num_tracks) * static_cast<std::size_t>(num_frames);
  s.query_points.assign(static_cast<std::size_t>(num_tracks) * 3, 0.0f);
  s.gt_occluded.assign(nt, 0);
  s.gt_tracks.assign(nt * 2, 0.0f);
  s.pred_occluded.assign(nt, 0);
  s.pred_tracks.assign(nt * 2, 0.0f);
  return s;
}

void TapVidTrackSet::validate_shapes() const {
  if (num_tracks < 0 || num_frames < 0) {
    throw InputError(fmt::format("TAP-Vid metrics: negative shape {}x{}", num_tracks,
                                 num_frames));
  }
  const std::size_t nt =
      static_cast<std::size_t>(num_tracks) * static_cast<std::size_t>(num_frames);
  check_size("query_points", query_points.size(), static_cast<std::size_t>(num_tracks) * 3);
  check_size("gt_occluded", gt_occluded.size(), nt);
  check_size("gt_tracks", gt_tracks.size(), nt * 2);
  check_size("pred_occluded", pred_occluded.size(), nt);
  check_size("pred_tracks", pred_tracks.size(), nt * 2);
  if (!evaluation_mask.empty()) check_size("evaluation_mask", evaluation_mask.size(), nt);
}

TapVidMetrics compute_tapvid_metrics(const TapVidTrackSet& video, QueryMode mode) {
  video.validate_shapes();
  Counts total;
  for (int n = 0; n < video.num_tracks; ++n) total.add(count_track(video, n, mode));
  return metrics_from_counts(total);
}

std::vector<TapVidMetrics> compute_tapvid_trackwise_metrics(const TapVidTrackSet& video,
                                                            QueryMode mode) {
  video.validate_shapes();
  std::vector<TapVidMetrics> out;
  out.reserve(static_cast<std::size_t>(video.num_tracks));
  for (int n = 0; n < video.num_tracks; ++n) {
    out.push_back(metrics_from_counts(count_track(video, n, mode)));
  }
  return out;
}

TapVidMetrics average_tapvid_metrics(const std::vector<TapVidMetrics>& per_video) {
  TapVidMetrics mean;
  for (const TapVidMetrics& m : per_video) {
    mean.occlusion_accuracy += m.occlusion_accuracy;
    for (int i = 0; i < kTapVidNumThresholds; ++i) {
      mean.pts_within[i] += m.pts_within[i];
      mean.jaccard[i] += m.jaccard[i];
    }
    mean.average_jaccard += m.average_jaccard;
    mean.average_pts_within_thresh += m.average_pts_within_thresh;
  }
  const double count = per_video.empty() ? kNaN : static_cast<double>(per_video.size());
  mean.occlusion_accuracy /= count;
  for (int i = 0; i < kTapVidNumThresholds; ++i) {
    mean.pts_within[i] /= count;
    mean.jaccard[i] /= count;
  }
  mean.average_jaccard /= count;
  mean.average_pts_within_thresh /= count;
  return mean;
}

void rescale_xy_to_tapvid_raster(std::vector<float>& xy, int width, int height) {
  check_raster_args(width, height);
  if (xy.size() % 2 != 0) {
    throw UsageError(fmt::format("TAP-Vid rescale: {} values is not a list of (x, y) pairs",
                                 xy.size()));
  }
  for (std::size_t i = 0; i < xy.size(); i += 2) {
    xy[i] = scale_to_raster(xy[i], width);
    xy[i + 1] = scale_to_raster(xy[i + 1], height);
  }
}

void rescale_to_tapvid_raster(TapVidTrackSet& video, int width, int height) {
  check_raster_args(width, height);
  video.validate_shapes();
  rescale_xy_to_tapvid_raster(video.gt_tracks, width, height);
  rescale_xy_to_tapvid_raster(video.pred_tracks, width, height);
  for (std::size_t i = 0; i < video.query_points.size(); i += 3) {
    video.query_points[i + 1] = scale_to_raster(video.query_points[i + 1], height);  // y
    video.query_points[i + 2] = scale_to_raster(video.query_points[i + 2], width);   // x
  }
}

HorizonProfile::HorizonProfile(std::vector<int> starts) : starts_(std::move(starts)) {
  if (starts_.empty() || starts_.front() < 1) {
    throw UsageError("horizon profile: bins must start at a distance of 1 frame or more");
  }
  for (std::size_t i = 1; i < starts_.size(); ++i) {
    if (starts_[i] <= starts_[i - 1]) {
      throw UsageError("horizon profile: bin starts must be strictly increasing");
    }
  }
  counts_.resize(starts_.size());
}

int HorizonProfile::bin_end(int i) const {
  return i + 1 < num_bins() ? bin_start(i + 1) : -1;
}

void HorizonProfile::add(const TapVidTrackSet& video, QueryMode mode) {
  video.validate_shapes();
  // Counted into a copy, so that a bad query frame leaves the profile as it was.
  std::vector<TapVidCounts> counts = counts_;
  for (int n = 0; n < video.num_tracks; ++n) {
    const int query = query_frame(video, n);
    for (int t = 0; t < video.num_frames; ++t) {
      if (!is_evaluated(video, mode, n, t, query)) continue;
      // The last bin starting at or before |t - q|; none when |t - q| < starts_[0].
      const int horizon = t > query ? t - query : query - t;
      const auto bin = std::upper_bound(starts_.begin(), starts_.end(), horizon);
      if (bin == starts_.begin()) continue;
      count_frame(video, video.index(n, t),
                  counts[static_cast<std::size_t>(bin - starts_.begin() - 1)]);
    }
  }
  counts_ = std::move(counts);
}

}  // namespace cotrack
