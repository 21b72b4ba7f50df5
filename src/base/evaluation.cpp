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

}  // namespace cotrack
