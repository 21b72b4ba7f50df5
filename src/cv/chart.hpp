// A small grouped bar chart written as PNG (for `cotrack eval --chart`). No OpenCV types here.
#pragma once

#include <string>
#include <vector>

namespace cotrack {

struct BarSeries {
  std::string name;            // e.g. the tracker
  std::vector<double> values;  // one per group, in [0, 100]
};

// Groups along x (e.g. "AJ", "delta_avg", "OA"), one bar per series in each group, values
// printed above the bars. Throws Error(kRuntime) naming the path when it cannot be written.
void write_bar_chart(const std::string& path, const std::string& title,
                     const std::vector<std::string>& groups, const std::vector<BarSeries>& series);

}  // namespace cotrack

#include "cotrack/evaluation.hpp"
#include "cotrack/synth.hpp"
#include "cotrack/video.hpp"

namespace cotrack {

// One tracker's answers to a clip's queries (column n answers query n), for write_track_strip.
struct StripRow {
  std::string label;  // e.g. "lk  AJ 55.1"
  TrackTable tracks;
};

// A side-by-side image strip (PNG or JPEG by the path's extension): one row per tracker, one
// column per frame (`columns` frames spread evenly over the clip). On each frame every query
// already started is drawn: the ground truth as a small cross, the tracker's estimate as a dot in
// the same colour (hollow when it calls the point occluded) with its last 8 estimates as a trail,
// and a red line from estimate to truth when they are more than 8 px (at 256x256) apart while the
// point is visible. Throws Error(kRuntime) naming the path when it cannot be written.
void write_track_strip(const std::string& path, const std::string& title, const SynthClip& clip,
                       const EvalQueries& queries, const std::vector<StripRow>& rows,
                       int columns = 6);

}  // namespace cotrack
