// Plain frame containers shared by the core, the pipeline and the apps (torch-free).
#pragma once

#include <cstdint>
#include <vector>

namespace cotrack {

// A clip held in memory: `count` RGB frames of width x height, bytes [T][H][W][3].
struct VideoFrames {
  int width = 0;
  int height = 0;
  int count = 0;
  std::vector<uint8_t> rgb;

  const uint8_t* frame(int t) const { return rgb.data() + static_cast<size_t>(t) * frame_bytes(); }
  uint8_t* frame(int t) { return rgb.data() + static_cast<size_t>(t) * frame_bytes(); }
  size_t frame_bytes() const { return static_cast<size_t>(width) * height * 3; }
};

// A point to track: frame index in the stream and position in video pixels (0 = centre of the
// first pixel).
struct PointQuery {
  int frame = 0;
  float x_px = 0.f;
  float y_px = 0.f;
};

// Tracks for `points` points over `frames` frames, frame-major: index [t * points + n].
struct TrackTable {
  int frames = 0;
  int points = 0;
  std::vector<float> x_px, y_px;
  std::vector<float> visibility;  // sigmoid(vis logit)
  std::vector<float> confidence;  // sigmoid(conf logit)
  std::vector<uint8_t> visible;   // the visibility rule: visibility * confidence^W > threshold

  size_t index(int t, int n) const { return static_cast<size_t>(t) * points + n; }
};

}  // namespace cotrack
