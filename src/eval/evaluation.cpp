#include "cotrack/evaluation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "cotrack/error.hpp"

namespace cotrack {

VideoFrames frames_of(const SynthClip& clip) {
  VideoFrames f;
  f.width = clip.width;
  f.height = clip.height;
  f.count = clip.frames;
  f.rgb = clip.rgb;
  return f;
}

std::vector<PointQuery> queries_of(const SynthClip& clip) {
  std::vector<PointQuery> q;
  for (int n = 0; n < clip.num_points; ++n) {
    const int t = clip.query_frame[n];
    q.push_back({t, clip.x(t, n), clip.y(t, n)});
  }
  return q;
}

TapVidTrackSet tapvid_set(const SynthClip& clip, const TrackTable& pred) {
  EvalQueries at_query_frames;
  for (int n = 0; n < clip.num_points; ++n) {
    at_query_frames.point.push_back(n);
    at_query_frames.frame.push_back(clip.query_frame[n]);
  }
  return tapvid_set(clip, at_query_frames, pred);
}

EvalQueries tapvid_queries(const SynthClip& clip, QueryMode mode) {
  constexpr int kStride = 5;  // TAP-Vid's strided sampling
  EvalQueries q;
  for (int n = 0; n < clip.num_points; ++n) {
    for (int t = 0; t < clip.frames; ++t) {
      if (!clip.is_annotated(t, n) || !clip.is_visible(t, n)) continue;
      if (mode == QueryMode::kFirst) {
        q.point.push_back(n);
        q.frame.push_back(t);
        break;
      }
      if (t % kStride == 0) {
        q.point.push_back(n);
        q.frame.push_back(t);
      }
    }
  }
  return q;
}

std::vector<PointQuery> to_point_queries(const SynthClip& clip, const EvalQueries& queries) {
  std::vector<PointQuery> out;
  for (size_t i = 0; i < queries.size(); ++i) {
    const int n = queries.point[i], t = queries.frame[i];
    out.push_back({t, clip.x(t, n), clip.y(t, n)});
  }
  return out;
}

TapVidTrackSet tapvid_set(const SynthClip& clip, const EvalQueries& queries,
                          const TrackTable& pred) {
  const int Q = static_cast<int>(queries.size());
  if (pred.frames != clip.frames || pred.points != Q) {
    throw InputError(fmt::format("evaluation: predictions are {} frames x {} points, expected "
                                 "{} x {} queries",
                                 pred.frames, pred.points, clip.frames, Q));
  }
  TapVidTrackSet s = TapVidTrackSet::zeros(Q, clip.frames);
  if (!clip.annotated.empty()) s.evaluation_mask.assign(static_cast<size_t>(Q) * clip.frames, 0);
  for (int q = 0; q < Q; ++q) {
    const int n = queries.point[q], tq = queries.frame[q];
    s.query_points[3 * q] = static_cast<float>(tq);
    s.query_points[3 * q + 1] = clip.y(tq, n);
    s.query_points[3 * q + 2] = clip.x(tq, n);
    for (int t = 0; t < clip.frames; ++t) {
      const size_t i = s.index(q, t), p = pred.index(t, q);
      s.gt_occluded[i] = clip.is_visible(t, n) ? 0 : 1;
      s.gt_tracks[2 * i] = clip.x(t, n);
      s.gt_tracks[2 * i + 1] = clip.y(t, n);
      s.pred_occluded[i] = pred.visible[p] ? 0 : 1;
      s.pred_tracks[2 * i] = pred.x_px[p];
      s.pred_tracks[2 * i + 1] = pred.y_px[p];
      if (!s.evaluation_mask.empty()) s.evaluation_mask[i] = clip.is_annotated(t, n) ? 1 : 0;
    }
  }
  rescale_to_tapvid_raster(s, clip.width, clip.height);
  return s;
}

TrackTable static_tracks(int frames, const std::vector<PointQuery>& queries) {
  TrackTable t;
  t.frames = frames;
  t.points = static_cast<int>(queries.size());
  const size_t n = static_cast<size_t>(t.frames) * t.points;
  t.x_px.resize(n);
  t.y_px.resize(n);
  t.visibility.assign(n, 1.f);
  t.confidence.assign(n, 1.f);
  t.visible.assign(n, 1);
  for (int q = 0; q < t.points; ++q) {
    for (int f = 0; f < t.frames; ++f) {
      t.x_px[t.index(f, q)] = queries[q].x_px;
      t.y_px[t.index(f, q)] = queries[q].y_px;
    }
  }
  return t;
}

TrackTable static_baseline(const SynthClip& clip) {
  return static_tracks(clip.frames, queries_of(clip));
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double share(std::int64_t part, std::int64_t whole) {
  return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : kNaN;
}

void check_table(const TrackTable& t, int frames, int points, const char* pass) {
  const size_t cells = static_cast<size_t>(frames) * points;
  if (t.frames != frames || t.points != points || t.x_px.size() != cells ||
      t.y_px.size() != cells) {
    throw InputError(fmt::format("cycle check: the {} pass gave {} frames x {} points, expected "
                                 "{} x {}",
                                 pass, t.frames, t.points, frames, points));
  }
}

// v clamped into [0, hi]; a non-finite v becomes 0.
float clamp_into(float v, int hi) {
  return std::isfinite(v) ? std::clamp(v, 0.f, static_cast<float>(hi)) : 0.f;
}

}  // namespace

void CycleStats::add(const CycleStats& other) {
  error_px.insert(error_px.end(), other.error_px.begin(), other.error_px.end());
  estimates += other.estimates;
  outside += other.outside;
  far_outside += other.far_outside;
}

double CycleStats::median_error_px() const {
  if (error_px.empty()) return kNaN;
  std::vector<double> v = error_px;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  if (v.size() % 2 == 1) return v[mid];
  const double upper = v[mid];
  return 0.5 * (*std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid)) + upper);
}

double CycleStats::mean_error_px() const {
  if (error_px.empty()) return kNaN;
  return std::accumulate(error_px.begin(), error_px.end(), 0.0) /
         static_cast<double>(error_px.size());
}

double CycleStats::share_within(double px) const {
  const auto n = std::count_if(error_px.begin(), error_px.end(), [px](double e) { return e < px; });
  return share(n, static_cast<std::int64_t>(error_px.size()));
}

double CycleStats::outside_share() const { return share(outside, estimates); }
double CycleStats::far_outside_share() const { return share(far_outside, estimates); }

std::vector<PointQuery> grid_queries(int width, int height, int grid, int frame) {
  if (grid < 1) throw UsageError(fmt::format("cycle check: grid {} must be 1 or more", grid));
  std::vector<PointQuery> q;
  q.reserve(static_cast<size_t>(grid) * grid);
  for (int j = 0; j < grid; ++j) {
    for (int i = 0; i < grid; ++i) {
      // Cell centres (pixel centres are at integers, so the picture spans [-0.5, W - 0.5]),
      // kept on pixels where the grid is finer than the picture.
      q.push_back({frame, clamp_into(static_cast<float>((i + 0.5) * width / grid - 0.5), width - 1),
                   clamp_into(static_cast<float>((j + 0.5) * height / grid - 0.5), height - 1)});
    }
  }
  return q;
}

VideoFrames reversed(const VideoFrames& video) {
  VideoFrames r;
  r.width = video.width;
  r.height = video.height;
  r.count = video.count;
  r.rgb.resize(video.rgb.size());
  const size_t bytes = video.frame_bytes();
  for (int t = 0; t < video.count; ++t) {
    std::copy_n(video.frame(video.count - 1 - t), bytes, r.frame(t));
  }
  return r;
}

CycleStats cycle_check(const VideoFrames& video, int grid, const TrackFunction& track) {
  if (video.count < 1 || video.width < 1 || video.height < 1 ||
      video.rgb.size() != static_cast<size_t>(video.count) * video.frame_bytes()) {
    throw InputError(fmt::format("cycle check: the video is {}x{} x {} frames with {} bytes",
                                 video.width, video.height, video.count, video.rgb.size()));
  }
  const int T = video.count, W = video.width, H = video.height;
  const std::vector<PointQuery> start = grid_queries(W, H, grid);
  const int N = static_cast<int>(start.size());
  const TrackTable fwd = track(video, start);
  check_table(fwd, T, N, "forward");

  CycleStats s;
  for (int t = 1; t < T; ++t) {
    for (int n = 0; n < N; ++n) {
      const float x = fwd.x_px[fwd.index(t, n)], y = fwd.y_px[fwd.index(t, n)];
      ++s.estimates;
      // Written so that NaN counts as outside.
      if (!(x >= 0 && x <= W - 1 && y >= 0 && y <= H - 1)) ++s.outside;
      if (!(x >= -W && x <= 2 * W - 1 && y >= -H && y <= 2 * H - 1)) ++s.far_outside;
    }
  }

  std::vector<PointQuery> back_queries(static_cast<size_t>(N));
  for (int n = 0; n < N; ++n) {
    const size_t i = fwd.index(T - 1, n);
    back_queries[n] = {0, clamp_into(fwd.x_px[i], W - 1), clamp_into(fwd.y_px[i], H - 1)};
  }
  const TrackTable back = track(reversed(video), back_queries);
  check_table(back, T, N, "backward");

  const double scale = kCycleRasterWidth / W;
  s.error_px.reserve(static_cast<size_t>(N));
  for (int n = 0; n < N; ++n) {
    const size_t i = back.index(T - 1, n);  // reversed frame T - 1 = frame 0
    const double dx = static_cast<double>(back.x_px[i]) - start[n].x_px;
    const double dy = static_cast<double>(back.y_px[i]) - start[n].y_px;
    const double e = std::hypot(dx, dy) * scale;
    s.error_px.push_back(std::isfinite(e) ? e : std::numeric_limits<double>::infinity());
  }
  return s;
}

}  // namespace cotrack
