// Where a point starts on a frame the network has not seen yet (EngineConfig::motion_prior): the
// shift of its neighbourhood from the previous frame, by phase correlation of image patches
// (internal, ATen). A pan or a fast object then starts near where it went, not where it was,
// within reach of the network's correlation.
#pragma once

#include <ATen/core/Tensor.h>

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

}  // namespace cotrack
