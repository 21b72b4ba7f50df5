#include "cotrack/evaluation.hpp"

#include <fmt/format.h>

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
  if (pred.frames != clip.frames || pred.points != clip.num_points) {
    throw InputError(fmt::format("evaluation: predictions are {} frames x {} points, the clip has "
                                 "{} x {}",
                                 pred.frames, pred.points, clip.frames, clip.num_points));
  }
  TapVidTrackSet s = TapVidTrackSet::zeros(clip.num_points, clip.frames);
  for (int n = 0; n < clip.num_points; ++n) {
    const int tq = clip.query_frame[n];
    s.query_points[3 * n] = static_cast<float>(tq);
    s.query_points[3 * n + 1] = clip.y(tq, n);
    s.query_points[3 * n + 2] = clip.x(tq, n);
    for (int t = 0; t < clip.frames; ++t) {
      const size_t i = s.index(n, t), p = pred.index(t, n);
      s.gt_occluded[i] = clip.is_visible(t, n) ? 0 : 1;
      s.gt_tracks[2 * i] = clip.x(t, n);
      s.gt_tracks[2 * i + 1] = clip.y(t, n);
      s.pred_occluded[i] = pred.visible[p] ? 0 : 1;
      s.pred_tracks[2 * i] = pred.x_px[p];
      s.pred_tracks[2 * i + 1] = pred.y_px[p];
    }
  }
  rescale_to_tapvid_raster(s, clip.width, clip.height);
  return s;
}

EvalQueries tapvid_queries(const SynthClip& clip, QueryMode mode) {
  constexpr int kStride = 5;  // TAP-Vid's strided sampling
  EvalQueries q;
  for (int n = 0; n < clip.num_points; ++n) {
    for (int t = 0; t < clip.frames; ++t) {
      if (!clip.is_visible(t, n)) continue;
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
    }
  }
  rescale_to_tapvid_raster(s, clip.width, clip.height);
  return s;
}

TrackTable static_baseline(const SynthClip& clip) {
  TrackTable t;
  t.frames = clip.frames;
  t.points = clip.num_points;
  const size_t n = static_cast<size_t>(t.frames) * t.points;
  t.x_px.resize(n);
  t.y_px.resize(n);
  t.visibility.assign(n, 1.f);
  t.confidence.assign(n, 1.f);
  t.visible.assign(n, 1);
  for (int p = 0; p < clip.num_points; ++p) {
    const int tq = clip.query_frame[p];
    for (int s = 0; s < clip.frames; ++s) {
      t.x_px[t.index(s, p)] = clip.x(tq, p);
      t.y_px[t.index(s, p)] = clip.y(tq, p);
    }
  }
  return t;
}

}  // namespace cotrack
