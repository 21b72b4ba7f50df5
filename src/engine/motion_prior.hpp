// Where a point starts on a frame the network has not seen yet (EngineConfig::motion_prior): the
// shift of its neighbourhood from the previous frame, by phase correlation of image patches
// (internal, ATen). A pan or a fast object then starts near where it went, not where it was,
// within reach of the network's correlation.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace cotrack {

struct PatchShift {
  float dx = 0.f, dy = 0.f;  // pixels: content at (x, y) on the first frame is at (x+dx, y+dy)
  float peak = 0.f;          // height of the correlation peak, 0..1 (1: a pure shift)
};

// The side of the patches the engine correlates, in model pixels: shifts up to half of it are
// found (16 px a frame at the shipped model's 256x256).
constexpr int kMotionPriorPatch = 32;

// The shift of the patch x patch neighbourhood of each point from gray frame a to gray frame b
// ([H, W] floats of one size): points `xy` [N, 2] (x, y) in pixels. One batched pass for all
// points; patches reaching past the border repeat the border.
std::vector<PatchShift> patch_shifts(const at::Tensor& a, const at::Tensor& b,
                                     const at::Tensor& xy, int patch);

// The motion prior over frames [begin, end) for N points, as the engine and the training use it:
// point n is at (start_xy[2n], start_xy[2n + 1]) on its anchor frame anchor[n] (in [begin, end);
// anything else: no prior for it), and from there each later frame adds the shift of its
// neighbourhood from the frame before (patch_shifts, all points of a frame in one pass).
// gray(f) is frame f's gray image, or an undefined tensor when frame f is not held (the chain
// stops there). Returns (end - begin) * N * 2 floats, (frame, point, x/y), the anchor frame
// holding the start and NaN where there is no prior.
std::vector<float> chain_patch_shifts(const std::function<at::Tensor(int64_t)>& gray,
                                      int64_t begin, int64_t end,
                                      const std::vector<int64_t>& anchor,
                                      const std::vector<float>& start_xy, int patch);

}  // namespace cotrack
