// Pieces of the official online predictor, shared by track_video and the tests (internal).
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>
#include <vector>

#include "cotrack/model_config.hpp"

namespace cotrack {

// get_points_on_a_grid(size, (H, W)) as queries (0, x, y) in model pixels: [size*size, 3].
at::Tensor grid_queries(int size, int height, int width);
// Maps queries (t, x, y) from video pixels to model pixels as the predictor does: [N, 3].
at::Tensor scale_queries_to_model(const at::Tensor& queries, int video_h, int video_w,
                                  const ModelConfig& cfg);
// Bilinear (align_corners) resize of [T, 3, H, W] float frames to the model resolution.
at::Tensor resize_to_model(const at::Tensor& frames, const ModelConfig& cfg);
// The README feeding loop: [ind, min(ind + window, T)) for ind = 0, step, ... < T - step.
std::vector<std::pair<int64_t, int64_t>> official_chunks(int64_t frames, int window, int step);

}  // namespace cotrack
