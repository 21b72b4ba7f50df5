// The official CoTracker3 online step (CoTrackerThreeOnline.forward with is_online=True), with
// its state made explicit. Internal header (ATen).
//
// Feeding contract (as the official predictor): call k receives frames [k*step, k*step + window)
// of the stream, clipped at the end of the video (between step+1 and window frames), at model
// resolution. Queries are fixed for the whole stream.
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>
#include <vector>

#include "model/network.hpp"

namespace cotrack {

// The official README feeding loop: [ind, min(ind + window, T)) for ind = 0, step, ... < T - step.
std::vector<std::pair<int64_t, int64_t>> official_chunks(int64_t frames, int window, int step);

// Per-window tensors for parity tests and diagnostics (batch dimension dropped).
struct WindowRecord {
  at::Tensor coords_init;  // [S, N, 2] feature units
  at::Tensor vis_init;     // [S, N] logits
  at::Tensor conf_init;    // [S, N] logits
  at::Tensor coords;       // [S, N, 2] model px, last iteration
  at::Tensor vis_logit;    // [S, N]
  at::Tensor conf_logit;   // [S, N]
};

// Everything a caller may want from the first window (stage parity).
struct FirstWindowTrace {
  at::Tensor fnet_out;                  // [S, C, h, w]
  std::vector<at::Tensor> pyramid;      // per level [S, C, h_l, w_l]
  std::vector<at::Tensor> support;      // per level [R*R, N, C], masked as used in window 0
  WindowTrace stages;                   // iteration 0 stages
  WindowOutput iterations;              // every iteration's outputs
};

class OfficialOnline {
 public:
  // queries: [N, 3] (t, x, y) with t the absolute frame index and x, y in model pixels.
  OfficialOnline(const Network& net, at::Tensor queries);

  // chunk: [T, 3, H, W] float 0..255 at model resolution, T <= window_len.
  // Returns nothing; read coords()/vis_prob()/conf_prob() for the full history so far.
  void step(const at::Tensor& chunk, int iters, WindowRecord* record = nullptr,
            FirstWindowTrace* trace = nullptr);
  // The same step from an already computed feature pyramid of the padded window: levels
  // [window_len, C, h_l, w_l] (L2-normalised); `frames` = real frames in the chunk.
  void step_pyramid(const std::vector<at::Tensor>& levels, int64_t frames, int iters,
                    WindowRecord* record = nullptr, FirstWindowTrace* trace = nullptr);

  at::Tensor coords() const { return coords_[0]; }                 // [T_so_far, N, 2] model px
  at::Tensor vis_logit() const { return vis_[0]; }                  // [T_so_far, N]
  at::Tensor conf_logit() const { return conf_[0]; }                // [T_so_far, N]
  at::Tensor support(int level) const { return support_[level][0]; }  // [R*R, N, C]
  int online_ind() const { return ind_; }

 private:
  const Network& net_;
  at::Tensor queries_;  // [1, N, 3]
  int ind_ = 0;
  std::vector<at::Tensor> support_;  // per level [1, R*R, N, C], accumulated
  at::Tensor coords_, vis_, conf_;   // [1, T, N, 2], [1, T, N] logits
};

}  // namespace cotrack
