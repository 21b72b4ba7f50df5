#include "model/preprocess.hpp"

#include <ATen/ATen.h>

namespace cotrack {

at::Tensor grid_queries(int size, int height, int width) {
  // get_points_on_a_grid(size, (H, W)) at t = 0, in model pixels, row-major (y outer).
  auto opts = at::TensorOptions().dtype(at::kFloat);
  at::Tensor xy;
  if (size == 1) {
    xy = at::tensor({static_cast<float>(width / 2.0), static_cast<float>(height / 2.0)}, opts)
             .view({1, 2});
  } else {
    const double margin = width / 64.0;
    at::Tensor ys = at::linspace(margin, height - margin, size, opts);
    at::Tensor xs = at::linspace(margin, width - margin, size, opts);
    auto g = at::meshgrid({ys, xs}, "ij");
    xy = at::stack({g[1], g[0]}, -1).reshape({-1, 2});
  }
  return at::cat({at::zeros({xy.size(0), 1}, opts), xy}, 1);
}

at::Tensor scale_queries_to_model(const at::Tensor& queries, int video_h, int video_w,
                                  const ModelConfig& cfg) {
  at::Tensor q = queries.clone();
  const at::Tensor factor =
      at::tensor({static_cast<float>((cfg.model_width - 1.0) / (video_w - 1.0)),
                  static_cast<float>((cfg.model_height - 1.0) / (video_h - 1.0))},
                 q.options());
  q.narrow(-1, 1, 2).mul_(factor);
  return q;
}

at::Tensor resize_to_model(const at::Tensor& frames, const ModelConfig& cfg) {
  if (frames.size(2) == cfg.model_height && frames.size(3) == cfg.model_width) return frames;
  return at::upsample_bilinear2d(frames, {cfg.model_height, cfg.model_width},
                                 /*align_corners=*/true, c10::nullopt, c10::nullopt);
}

}  // namespace cotrack
