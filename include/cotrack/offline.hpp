// Running any PointTracker over a clip held in memory (torch-free; `cotrack eval` uses it).
#pragma once

#include <vector>

#include "cotrack/tracker.hpp"
#include "cotrack/video.hpp"

namespace cotrack {

// Tracks `queries` through `video` with `tracker` and returns a table with a row for every frame
// and query (column n = queries[n]).
//
// Protocol: reset_stream(); push frame 0; add every query in order (frame 0 is then the newest
// frame, later query frames are future ones); step(); then for each further frame push and
// step(); finally flush(). The table is filled from the sink's FrameEstimates; before a query's
// frame its row holds the query position, not visible, visibility and confidence 0.
//
// The tracker's sink is replaced for the run and cleared (set to an empty function) on return,
// also when an exception leaves. Throws InputError for an empty or inconsistent video, a query
// frame outside [0, video.count) or a query the tracker refuses (the message names the query and
// the tracker's reason), and Error(kRuntime) when the tracker breaks the sink contract (a frame
// delivered twice, out of order, or never).
TrackTable track_video_with(PointTracker& tracker, const VideoFrames& video,
                            const std::vector<PointQuery>& queries);

}  // namespace cotrack
