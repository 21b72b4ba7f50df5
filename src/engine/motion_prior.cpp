#include "engine/motion_prior.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace cotrack {
namespace {

// Sub-pixel offset of a phase-correlation peak from its larger neighbour: the peak of a shift by
// a fraction d is a sampled sinc, whose neighbour on d's side holds d / (1 - d) of the centre's
// height (Foroosh, Zerubia and Berthod, 2002), so d = side / (side + centre).
float subpixel_offset(float left, float centre, float right) {
  if (!(centre > 0.f)) return 0.f;
  if (right >= left) return right > 0.f ? right / (right + centre) : 0.f;
  return left > 0.f ? -left / (left + centre) : 0.f;
}

// Phase correlation of each pair of patches a[n], b[n] ([N, P, Q] floats, zero mean).
std::vector<PatchShift> correlate(const at::Tensor& a, const at::Tensor& b) {
  const int64_t N = a.size(0), P = a.size(1), Q = a.size(2);
  // A Hann window keeps the patch borders from correlating with themselves.
  const at::Tensor window = at::outer(at::hann_window(P, /*periodic=*/false, at::kFloat),
                                      at::hann_window(Q, /*periodic=*/false, at::kFloat));
  const at::Tensor fa = at::fft_rfft2(a * window);
  const at::Tensor fb = at::fft_rfft2(b * window);
  at::Tensor cross = fb * fa.conj();
  // Normalised cross-power spectrum: its inverse transform peaks at the shift.
  cross = cross / (cross.abs() + 1e-3);
  const at::Tensor surface = at::fft_irfft2(cross, at::IntArrayRef{P, Q}).contiguous();
  const float* s = surface.data_ptr<float>();
  std::vector<PatchShift> out(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    const float* d = s + n * P * Q;
    const int64_t k = std::max_element(d, d + P * Q) - d;
    const int64_t ky = k / Q, kx = k % Q;
    auto at_ = [&](int64_t y, int64_t x) { return d[((y + P) % P) * Q + ((x + Q) % Q)]; };
    PatchShift& r = out[static_cast<size_t>(n)];
    r.peak = at_(ky, kx);
    r.dx = static_cast<float>(kx > Q / 2 ? kx - Q : kx) +
           subpixel_offset(at_(ky, kx - 1), r.peak, at_(ky, kx + 1));
    r.dy = static_cast<float>(ky > P / 2 ? ky - P : ky) +
           subpixel_offset(at_(ky - 1, kx), r.peak, at_(ky + 1, kx));
  }
  return out;
}

}  // namespace

std::vector<PatchShift> patch_shifts(const at::Tensor& a, const at::Tensor& b,
                                     const at::Tensor& xy, int patch) {
  const int64_t N = xy.size(0), H = a.size(0), W = a.size(1), P = patch;
  if (N == 0) return {};
  // Each point's patch as a sampling grid in grid_sample's [-1, 1] (align_corners) coordinates.
  const at::Tensor offsets = at::arange(P, at::kFloat) - static_cast<double>(P / 2);
  const at::Tensor px = xy.select(1, 0).to(at::kFloat).view({N, 1, 1}) + offsets.view({1, 1, P});
  const at::Tensor py = xy.select(1, 1).to(at::kFloat).view({N, 1, 1}) + offsets.view({1, P, 1});
  const at::Tensor grid = at::stack({(px * (2.0 / (W - 1)) - 1).expand({N, P, P}),
                                     (py * (2.0 / (H - 1)) - 1).expand({N, P, P})},
                                    -1)
                              .view({1, N * P, P, 2});
  auto patches = [&](const at::Tensor& img) {
    const at::Tensor p = at::grid_sampler(img.to(at::kFloat).view({1, 1, H, W}), grid,
                                          /*interpolation_mode=*/0, /*padding_mode=*/1,
                                          /*align_corners=*/true)
                             .view({N, P, P});
    return p - p.mean({1, 2}, /*keepdim=*/true);
  };
  return correlate(patches(a), patches(b));
}

std::vector<float> chain_patch_shifts(const std::function<at::Tensor(int64_t)>& gray,
                                      int64_t begin, int64_t end,
                                      const std::vector<int64_t>& anchor,
                                      const std::vector<float>& start_xy, int patch) {
  const int64_t N = static_cast<int64_t>(anchor.size());
  const int64_t F = std::max<int64_t>(0, end - begin);
  std::vector<float> out(static_cast<size_t>(F * N * 2), std::nanf(""));
  auto cell = [&](int64_t j, int64_t n) { return &out[static_cast<size_t>((j * N + n) * 2)]; };
  for (int64_t n = 0; n < N; ++n) {
    if (anchor[n] < begin || anchor[n] >= end) continue;
    cell(anchor[n] - begin, n)[0] = start_xy[static_cast<size_t>(2 * n)];
    cell(anchor[n] - begin, n)[1] = start_xy[static_cast<size_t>(2 * n + 1)];
  }
  for (int64_t j = 1; j < F; ++j) {
    std::vector<int64_t> active;
    std::vector<float> xy;
    for (int64_t n = 0; n < N; ++n) {
      const float* prev = cell(j - 1, n);
      if (std::isfinite(prev[0]) && !std::isfinite(cell(j, n)[0])) {
        active.push_back(n);
        xy.insert(xy.end(), {prev[0], prev[1]});
      }
    }
    if (active.empty()) continue;
    const at::Tensor a = gray(begin + j - 1);
    const at::Tensor b = gray(begin + j);
    if (!a.defined() || !b.defined()) continue;
    const at::Tensor pts =
        at::from_blob(xy.data(), {static_cast<int64_t>(active.size()), 2}, at::kFloat);
    const auto shifts = patch_shifts(a, b, pts, patch);
    for (size_t i = 0; i < active.size(); ++i) {
      const float* prev = cell(j - 1, active[i]);
      float* cur = cell(j, active[i]);
      cur[0] = prev[0] + shifts[i].dx;
      cur[1] = prev[1] + shifts[i].dy;
    }
  }
  return out;
}

}  // namespace cotrack
