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

// A trivial baseline: every point stays at its query position and is always visible.
TrackTable static_baseline(const SynthClip& clip);

}  // namespace cotrack
