// Glue between clips with ground truth, tracker output and the TAP-Vid metrics (torch-free).
#pragma once

#include <cstdint>
#include <functional>
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
// Query points are each point's query frame. A clip with sparse ground truth gives the set an
// evaluation_mask of its annotated frames, so the metrics skip the others. Throws InputError
// when the shapes disagree.
TapVidTrackSet tapvid_set(const SynthClip& clip, const TrackTable& predicted);

// Queries as the TAP-Vid protocol derives them from ground truth: kFirst, each point's first
// visible frame; kStrided, every 5th frame (t % 5 == 0) on which the point is visible (one query
// each). Only annotated frames count. Points never visible on an annotated frame give no query.
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

// The label-free forward-backward (cycle) check for any video: a grid of points queried on
// frame 0 is tracked to the last frame; the reversed video is then tracked from the last frame's
// estimates (clamped into the picture, where trackers accept queries) back to frame 0. A good
// tracker returns near its start. Distances are pixels of the frame scaled to 256 wide (x and y
// alike), so that resolutions compare.
inline constexpr double kCycleRasterWidth = 256.0;

struct CycleStats {
  std::vector<double> error_px;  // per grid point: |back at frame 0 - query|, 256-wide pixels
  std::int64_t estimates = 0;    // forward estimates on frames 1..T-1
  std::int64_t outside = 0;      // ... outside the picture (x not in [0, W-1] or y not in [0, H-1])
  std::int64_t far_outside = 0;  // ... more than a frame width (x) or height (y) outside it

  // Pools another clip's stats into these.
  void add(const CycleStats& other);
  // NaN when there are no points (or, for the shares of estimates, no estimates).
  double median_error_px() const;
  double mean_error_px() const;
  double share_within(double px) const;  // share of points with error_px < px
  double outside_share() const;
  double far_outside_share() const;
};

// Tracks `queries` through a video; column n of the result answers queries[n].
using TrackFunction =
    std::function<TrackTable(const VideoFrames& video, const std::vector<PointQuery>& queries)>;

// grid x grid queries on `frame` at the centres of equal cells of a width x height picture.
std::vector<PointQuery> grid_queries(int width, int height, int grid, int frame = 0);
// The frames in reverse order.
VideoFrames reversed(const VideoFrames& video);

// Runs the cycle check on `video` with a grid x grid grid: `track` is called twice (forward,
// then on the reversed video). Throws UsageError for grid < 1, InputError for an empty video or
// a table of the wrong shape; what `track` throws passes through.
CycleStats cycle_check(const VideoFrames& video, int grid, const TrackFunction& track);

}  // namespace cotrack
