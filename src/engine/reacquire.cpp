#include "engine/reacquire.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "cotrack/error.hpp"

namespace cotrack {

std::vector<Reacquisition> reacquire(const at::Tensor& map, const at::Tensor& templates,
                                     const std::vector<float>& start_xy) {
  const int64_t M = templates.size(0), R2 = templates.size(1), C = templates.size(2);
  const int64_t R = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(R2))));
  if (R * R != R2 || R % 2 == 0 || map.dim() != 3 || map.size(0) != C ||
      static_cast<int64_t>(start_xy.size()) != 2 * M) {
    throw Error(ExitCode::kRuntime,
                "reacquire: templates must be [M, R*R, C] with odd R over a [C, h, w] map");
  }
  if (M == 0) return {};
  const int64_t h = map.size(1), w = map.size(2);
  // [M, R(x), R(y), C] -> convolution weights [M, C, R(y), R(x)]; each output cell is the sum of
  // R*R dot products of unit vectors, so dividing by R*R gives the mean cosine similarity.
  const at::Tensor weights =
      templates.to(at::kFloat).view({M, R, R, C}).permute({0, 3, 2, 1}).contiguous();
  const at::Tensor score = (at::conv2d(map.to(at::kFloat).unsqueeze(0), weights, {}, 1, R / 2)
                                .to(at::kFloat) /
                            static_cast<double>(R2))[0]
                               .contiguous();
  const float* s = score.data_ptr<float>();
  const float none = -std::numeric_limits<float>::infinity();
  std::vector<Reacquisition> out(static_cast<size_t>(M));
  for (int64_t m = 0; m < M; ++m) {
    const float* d = s + m * h * w;
    Reacquisition& r = out[static_cast<size_t>(m)];
    const int64_t k = std::max_element(d, d + h * w) - d;
    const int64_t by = k / w, bx = k % w;
    r.best = d[k];
    r.x = static_cast<float>(bx);
    r.y = static_cast<float>(by);
    r.second = none;
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        if (std::abs(y - by) > kReacquireExclusion || std::abs(x - bx) > kReacquireExclusion) {
          r.second = std::max(r.second, d[y * w + x]);
        }
      }
    }
    const float cx = start_xy[static_cast<size_t>(2 * m)];
    const float cy = start_xy[static_cast<size_t>(2 * m + 1)];
    r.current = none;
    if (std::isfinite(cx) && std::isfinite(cy)) {
      const double fx = std::floor(cx), fy = std::floor(cy);
      for (int64_t y = static_cast<int64_t>(fy); y <= static_cast<int64_t>(fy) + 1; ++y) {
        for (int64_t x = static_cast<int64_t>(fx); x <= static_cast<int64_t>(fx) + 1; ++x) {
          if (y >= 0 && y < h && x >= 0 && x < w) r.current = std::max(r.current, d[y * w + x]);
        }
      }
    }
    r.moved = r.best - r.current > kReacquireMargin && r.best - r.second > kReacquireGap &&
              !(std::hypot(cx - r.x, cy - r.y) <= kReacquireMinShift);  // NaN start: far
  }
  return out;
}

}  // namespace cotrack
