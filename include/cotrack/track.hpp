// Offline tracking of a whole clip with the official online semantics (torch-free header).
#pragma once

#include <functional>

#include "cotrack/model.hpp"
#include "cotrack/video.hpp"

namespace cotrack {

struct TrackOptions {
  int iters = 0;                   // refinement iterations; 0 = the model's default
  double visibility_threshold = 0.6;  // visible = sigmoid(vis) * sigmoid(conf)^w > threshold
  double confidence_weight = 1.0;     // w (1: the official rule)
  int support_grid = 0;            // extra grid points (size x size) tracked jointly, not output
  // Called after each window with the number of frames done (progress bars).
  std::function<void(int frames_done, int frames_total)> progress;
};

// Tracks `queries` through `video` exactly as the official CoTrackerOnlinePredictor does: frames
// are resized to the model resolution, fed in windows [k*step, k*step + window), and the
// results mapped back to video pixels. Throws InputError for bad queries or frames.
TrackTable track_video(const Model& model, const VideoFrames& video,
                       const std::vector<PointQuery>& queries, const TrackOptions& options = {});

}  // namespace cotrack
