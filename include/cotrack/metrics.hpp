// TAP-Vid point-tracking metrics (occlusion accuracy, < delta^x, Jaccard), torch-free.
//
// Behaviour matches google-deepmind/tapnet `tapnet/tapvid/evaluation_datasets.py::
// compute_tapvid_metrics` (commit c2cbab8), which co-tracker's evaluator copies verbatim:
//   * Every count is taken over the "evaluation frames" of each track, which depend only on the
//     query frame q = round-half-to-even(query t) and the query mode:
//       kFirst:   frames t > q (strictly after the query frame);
//       kStrided: every frame t != q.
//     Neither mode looks at the ground-truth visibility to build this mask. When the set has an
//     evaluation_mask (sparse ground truth), frames where it is 0 are dropped from it as well:
//     they count neither as visible nor as occluded.
//   * A point is "within d" when the squared distance is strictly below d * d, d in {1,2,4,8,16}.
//   * occlusion_accuracy = #(pred_occluded == gt_occluded) / #eval.
//   * pts_within_d       = #(gt visible and within d) / #(gt visible), ignoring the predicted
//                          occlusion.
//   * jaccard_d          = TP / (#gt visible + FP), TP = gt visible, pred visible and within d;
//                          FP = pred visible and (gt occluded or not within d).
//   * average_* is the mean of the five per-threshold values.
// Per-video metrics sum the counts over all tracks before dividing; the trackwise variant divides
// per track. A 0/0 ratio is NaN (e.g. a kFirst track queried on the last frame).
//
// Coordinates must be in a 256x256 raster, which is what the published numbers assume; see
// rescale_to_tapvid_raster(). All arithmetic is in double.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cotrack {

inline constexpr int kTapVidNumThresholds = 5;
// Pixel thresholds of pts_within[i] and jaccard[i], in the 256x256 raster.
inline constexpr std::array<double, kTapVidNumThresholds> kTapVidThresholdsPx = {1.0, 2.0, 4.0,
                                                                                 8.0, 16.0};
// Side of the square raster the metrics assume, in pixels.
inline constexpr double kTapVidRasterSize = 256.0;

enum class QueryMode {
  kFirst,    // queries are each track's first visible frame; evaluate frames after it
  kStrided,  // queries are sampled every few frames; evaluate all frames but the query frame
};

// Parses "first" / "strided" (the reference's strings); throws UsageError otherwise.
QueryMode parse_query_mode(const std::string& name);
const char* to_string(QueryMode mode);

// One video's ground truth and predictions, track-major (N tracks x T frames), as the reference
// takes them. Co-tracker outputs are frame-major [T][N]; transpose before filling this.
struct TapVidTrackSet {
  int num_tracks = 0;  // N
  int num_frames = 0;  // T
  // [N][3]: (t, y, x) per track, as in the reference (note: row before column). Only t is used;
  // it is rounded half-to-even to a frame index and must land in [0, T).
  std::vector<float> query_points;
  std::vector<std::uint8_t> gt_occluded;    // [N][T], nonzero = occluded (not visible)
  std::vector<float> gt_tracks;             // [N][T][2], (x, y) pixels in the 256x256 raster
  std::vector<std::uint8_t> pred_occluded;  // [N][T], nonzero = predicted occluded
  std::vector<float> pred_tracks;           // [N][T][2], (x, y) pixels in the 256x256 raster
  // [N][T] or empty (= all 1). Nonzero where a frame may be evaluated, e.g. where sparse ground
  // truth has an annotation; the evaluation frames are the query mode's frames where this is
  // nonzero. The reference's `evaluation_points` is that intersection.
  std::vector<std::uint8_t> evaluation_mask;

  // A set of the given shape with all values zero (every point visible, at (0, 0), query t = 0)
  // and no evaluation_mask.
  static TapVidTrackSet zeros(int num_tracks, int num_frames);

  // Flat offset of (track, frame) into gt_occluded / pred_occluded / evaluation_mask; times 2
  // for the tracks.
  std::size_t index(int track, int frame) const {
    return static_cast<std::size_t>(track) * static_cast<std::size_t>(num_frames) +
           static_cast<std::size_t>(frame);
  }

  // False only where evaluation_mask exists and is 0.
  bool may_evaluate(int track, int frame) const {
    return evaluation_mask.empty() || evaluation_mask[index(track, frame)] != 0;
  }

  // Throws InputError when a vector's size does not match N and T (evaluation_mask: or empty).
  void validate_shapes() const;
};

// Metrics of one video (or of one track, or a mean over videos); values in [0, 1] or NaN.
struct TapVidMetrics {
  double occlusion_accuracy = 0.0;
  std::array<double, kTapVidNumThresholds> pts_within{};  // index i <-> kTapVidThresholdsPx[i]
  std::array<double, kTapVidNumThresholds> jaccard{};     // index i <-> kTapVidThresholdsPx[i]
  double average_jaccard = 0.0;                           // mean of jaccard
  double average_pts_within_thresh = 0.0;                 // mean of pts_within
};

// Per-video metrics (the reference with get_trackwise_metrics=False, for a batch of one).
// Throws InputError on bad shapes or a query frame outside [0, T).
TapVidMetrics compute_tapvid_metrics(const TapVidTrackSet& video, QueryMode mode);

// Per-track metrics, one entry per track (the reference with get_trackwise_metrics=True).
// Entries are NaN where the track has no evaluation frames or no visible ground truth.
std::vector<TapVidMetrics> compute_tapvid_trackwise_metrics(const TapVidTrackSet& video,
                                                            QueryMode mode);

// Field-wise arithmetic mean over videos: the benchmark number (the paper reports it x100).
// Like numpy's mean, a NaN in any video makes that field NaN; an empty list gives all NaN.
TapVidMetrics average_tapvid_metrics(const std::vector<TapVidMetrics>& per_video);

// The integer counts behind every metric, over some set of evaluation frames; counts of disjoint
// sets add. metrics_from_counts() turns them into the metrics (0 / 0 gives NaN).
struct TapVidCounts {
  std::int64_t evaluated = 0;        // evaluation frames
  std::int64_t occlusion_agree = 0;  // ... with pred_occluded == gt_occluded
  std::int64_t gt_visible = 0;       // ... with the ground truth visible
  std::array<std::int64_t, kTapVidNumThresholds> within_visible{};  // gt visible and within d
  std::array<std::int64_t, kTapVidNumThresholds> true_positive{};   // ... and predicted visible
  std::array<std::int64_t, kTapVidNumThresholds> false_positive{};  // pred visible, not a match

  void add(const TapVidCounts& other);
};
TapVidMetrics metrics_from_counts(const TapVidCounts& counts);

// The metrics by distance from the query frame, to show drift. The evaluation frames t of every
// track (the same as compute_tapvid_metrics' for the mode and evaluation_mask) are binned by
// h = |t - q|; bin i holds starts[i] <= h < starts[i + 1], and the last bin is open. Counts
// pool over all tracks of all videos added, so a bin's metrics are ratios of pooled counts, not
// means of per-video values.
class HorizonProfile {
 public:
  // `starts` must be strictly increasing and start at 1 or more; throws UsageError otherwise.
  explicit HorizonProfile(std::vector<int> starts = {1, 4, 8, 16, 32, 64, 128, 256});
  // Throws InputError on bad shapes or query frames, as compute_tapvid_metrics.
  void add(const TapVidTrackSet& video, QueryMode mode);

  int num_bins() const { return static_cast<int>(starts_.size()); }
  int bin_start(int i) const { return starts_.at(static_cast<std::size_t>(i)); }
  // One past the bin's last distance; -1 for the open last bin.
  int bin_end(int i) const;
  const TapVidCounts& counts(int i) const { return counts_.at(static_cast<std::size_t>(i)); }
  TapVidMetrics metrics(int i) const { return metrics_from_counts(counts(i)); }

 private:
  std::vector<int> starts_;
  std::vector<TapVidCounts> counts_;
};

// Rescales pixel coordinates of a width x height video to the 256x256 metric raster:
// x' = x * 256 / width, y' = y * 256 / height. This is a pure scale with no half-pixel offset,
// exactly what the TAP-Vid loaders do (they multiply [0, 1]-normalised points by 256 after
// resizing the frames to 256x256). `xy` holds (x, y) pairs; throws UsageError if its size is odd
// or width / height are not positive.
void rescale_xy_to_tapvid_raster(std::vector<float>& xy, int width, int height);

// Applies rescale_xy_to_tapvid_raster() to gt_tracks and pred_tracks, and scales the (y, x) part
// of query_points the same way (t is unchanged). The metrics themselves read only t.
void rescale_to_tapvid_raster(TapVidTrackSet& video, int width, int height);

}  // namespace cotrack
