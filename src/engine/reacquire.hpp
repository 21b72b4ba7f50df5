// Re-acquisition against the query appearance (EngineConfig::reacquire): a point whose estimate no
// longer looks like its query, while one place of the frame clearly does, starts the window's
// new frames at that place (internal, ATen). The network then refines it there as usual. This
// brings back points that drifted onto the background, or that come back after an occlusion or
// from outside the picture, which the network's local correlation cannot reach.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace cotrack {

// The matching: the mean cosine similarity of a point's R x R feature patch around its query
// (the support features the engine samples, L2-normalised) with the same patch around each cell
// of a frame's finest feature map. A point moves to the best cell when that scores at least
// kReacquireMargin above the best of the 2 x 2 cells around its start, and at least
// kReacquireGap above every cell more than kReacquireExclusion cells from it, and lies more
// than kReacquireMinShift cells away. Chosen on the tuning sets (docs/evaluation.md).
constexpr float kReacquireMargin = 0.2f;
constexpr float kReacquireGap = 0.15f;
constexpr int kReacquireExclusion = 2;
constexpr float kReacquireMinShift = 1.5f;

struct Reacquisition {
  bool moved = false;
  float x = 0.f, y = 0.f;  // the best cell, map cells (x, y)
  float best = 0.f;        // its score
  float current = 0.f;     // the best score of the 2 x 2 cells around the start (-inf: outside)
  float second = 0.f;      // the best score away from the best cell (-inf: none)
};

// map [C, h, w] (any floating type): one frame's feature map. templates [M, R*R, C]: each
// point's patch, x-major (index i * R + j holds the offset (x, y) = (i - R/2, j - R/2)), as
// Network::sample_support gives it. start_xy: M (x, y) pairs in map cells, where each point
// would start (may lie outside the map). One batched pass for all points.
std::vector<Reacquisition> reacquire(const at::Tensor& map, const at::Tensor& templates,
                                     const std::vector<float>& start_xy);

}  // namespace cotrack
