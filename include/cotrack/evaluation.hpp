// Glue between clips with ground truth, tracker output and the TAP-Vid metrics (torch-free).
#pragma once

#include <vector>

#include "cotrack/metrics.hpp"
#include "cotrack/synth.hpp"
#include "cotrack/video.hpp"

namespace cotrack {

// The clip's frames as a VideoFrames (a copy).
VideoFrames frames_of(const SynthClip& clip);
// Each ground-truth point queried at its query frame and position.
std::vector<PointQuery> queries_of(const SynthClip& clip);

// Ground truth and predictions in the metric's track-major layout, rescaled to 256x256.
// Query points are each point's query frame. Throws InputError when the shapes disagree.
TapVidTrackSet tapvid_set(const SynthClip& clip, const TrackTable& predicted);

// Queries as the TAP-Vid protocol derives them from ground truth: kFirst, each point's first
// visible frame; kStrided, every 5th frame on which the point is visible (one query each).
// Points never visible give no query.
struct EvalQueries {
  std::vector<int> point;  // ground-truth point of each query
  std::vector<int> frame;  // its query frame
  size_t size() const { return point.size(); }
};
EvalQueries tapvid_queries(const SynthClip& clip, QueryMode mode);
std::vector<PointQuery> to_point_queries(const SynthClip& clip, const EvalQueries& queries);
// Ground truth of each query's point against predictions whose column n answers query n.
TapVidTrackSet tapvid_set(const SynthClip& clip, const EvalQueries& queries,
                          const TrackTable& predicted);

// A trivial baseline: every query stays at its position and is always visible.
TrackTable static_tracks(int frames, const std::vector<PointQuery>& queries);
// static_tracks for each ground-truth point queried at its query frame.
TrackTable static_baseline(const SynthClip& clip);

}  // namespace cotrack
