// Input preparation shared by the engine, the reference predictor and the tests (internal, ATen).
#pragma once

#include <ATen/core/Tensor.h>

#include "cotrack/model_config.hpp"

namespace cotrack {

// get_points_on_a_grid(size, (H, W)) as queries (0, x, y) in model pixels: [size*size, 3].
at::Tensor grid_queries(int size, int height, int width);
// Maps queries (t, x, y) from video pixels to model pixels as the predictor does: [N, 3].
at::Tensor scale_queries_to_model(const at::Tensor& queries, int video_h, int video_w,
                                  const ModelConfig& cfg);
// Bilinear (align_corners) resize of [T, 3, H, W] float frames to the model resolution.
at::Tensor resize_to_model(const at::Tensor& frames, const ModelConfig& cfg);

}  // namespace cotrack
