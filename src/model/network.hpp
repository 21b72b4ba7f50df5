// The CoTracker3 network as functions of read-only weights (internal header, includes ATen).
//
// Shape legend: B batch, S window frames, N tracks, C feature channels, h/w feature map size at a
// pyramid level, R = 2*corr_radius+1. "feature units" are model pixels / stride.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cotrack/model_config.hpp"

namespace cotrack {

// A weight's bf16 copy, made once on first use and shared by the copies of its LinearWeights.
struct Bf16Copy {
  std::once_flag once;
  at::Tensor weight, bias;
};

struct LinearWeights {
  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out]
  // For inference under CPU bf16 autocast: the weights cast once rather than on every call
  // (weights that record gradients, as in training, are always cast afresh).
  std::shared_ptr<Bf16Copy> bf16 = std::make_shared<Bf16Copy>();
};

struct AttentionWeights {
  LinearWeights to_q, to_kv, to_out;
};

// Pre-norm transformer block; `norm_context_*` are set for cross-attention blocks only.
struct BlockWeights {
  AttentionWeights attn;
  LinearWeights fc1, fc2;
  at::Tensor norm_context_weight, norm_context_bias;
};

struct ConvWeights {
  at::Tensor weight, bias;
  int stride = 1;
  int padding = 0;
};

struct ResidualBlockWeights {
  ConvWeights conv1, conv2;
  std::optional<ConvWeights> downsample;  // 1x1 conv, present when stride != 1
};

struct EncoderWeights {
  ConvWeights conv1;                       // 7x7 stride 2
  std::vector<ResidualBlockWeights> blocks;  // layer1..4, two blocks each
  ConvWeights conv2, conv3;
};

// Per-stage tensors of one window's first iteration, recorded for parity tests.
struct WindowTrace {
  std::vector<at::Tensor> corr_volume;  // per level [B*S*N, R^4]
  std::vector<at::Tensor> corr_emb;     // per level [B*S*N, corr_out]
  at::Tensor posenc_input;              // [B, S, N, 4]
  at::Tensor posenc;                    // [B, S, N, posenc_dim]
  at::Tensor tokens;                    // [B, N, S, input_dim] incl. time embedding
  at::Tensor delta;                     // [B, N, S, 4]
};

// Wall time spent in forward_window's stages (CPU timing; on CUDA it measures launches).
struct StageTimes {
  double correlation_ms = 0;  // sampling, 4-D correlation and the correlation MLP
  double transformer_ms = 0;  // tokens and the update transformer
};

// Outputs of forward_window, one entry per iteration.
struct WindowOutput {
  std::vector<at::Tensor> coords;  // [B, S, N, 2] model px
  std::vector<at::Tensor> vis;     // [B, S, N] logits
  std::vector<at::Tensor> conf;    // [B, S, N] logits
};

// softmax(q k^T / sqrt(d)) v per batch and head: q [B, h, N1, d], k and v [B, h, N2, d] ->
// [B, h, N1, d]. `broadcast`: one multiply-and-sum over broadcast operands instead of batched
// matmuls, much faster for tiny products (the network uses it when N1 * N2 * d <= 4096, as in
// time attention over a window of a few frames). Both equal up to float rounding.
// `key_mask` [B, N2] bool: only the keys where it is true are attended to (the matmul form).
// gelu(x, "tanh"); on the CPU (float or bf16) one vectorised pass, several times faster than
// ATen's, and under autograd a function with a vectorised gradient too
// (src/model/cpu_kernels.cpp); elsewhere ATen's.
at::Tensor gelu_tanh(const at::Tensor& x);

// The correlation's bilinear mix of integer-patch products: g [M, P, P, K] (P = R + 1; dims a
// along x, b along y), frac [M, 2] (x, y) -> [M, R, R, K] in frac's dtype,
//   out[m, a, b] = lerp(lerp(g[a, b], g[a+1, b], fx), lerp(g[a, b+1], g[a+1, b+1], fx), fy).
// One pass on the CPU (g float or bf16, frac float), under autograd too when frac records no
// gradient (the network's offsets come from detached coordinates), with a one-pass gradient for
// g in g's type; else two at::lerp calls.
at::Tensor bilinear_mix(const at::Tensor& g, const at::Tensor& frac);

// InstanceNorm2d (no affine, eps 1e-5), followed by a ReLU when `relu`, of a channels-last CPU
// map (float or bf16) in two passes over the rows of C channel values, with an autograd gradient
// of two passes too (src/model/cpu_kernels.cpp). Returns false, leaving *out alone, for any other
// tensor.
bool instance_norm_channels_last(const at::Tensor& x, bool relu, at::Tensor* out);

// Bilinear resizing with align_corners = true of a channels-last CPU map (float or bf16) to
// height x width, as at::upsample_bilinear2d computes it, computed in float with a result in x's
// type (channels-last) and, under autograd, a gradient in x's dtype computed in float in one pass
// (src/model/cpu_kernels.cpp). Returns false, leaving *out alone, for any other tensor.
bool resize_channels_last(const at::Tensor& x, int64_t height, int64_t width, at::Tensor* out);

// For training (autograd recording on a channels-last CPU map, float or bf16), one pass each way
// instead of LibTorch 1.13's ops, whose gradients of bf16 channels-last maps are several times
// slower than of fp32 ones (src/model/cpu_kernels.cpp). Each returns false, leaving *out alone,
// for any other tensor or when autograd does not record:
// - pool2: at::avg_pool2d(x, 2, 2), summed in float and rounded once;
// - l2_unit: x / sqrt(max(sum over the channels of x^2, 1e-12)), computed in float.
bool pool2_channels_last(const at::Tensor& x, at::Tensor* out);
bool l2_unit_channels_last(const at::Tensor& x, at::Tensor* out);

// rows.index_select(0, index) for rows [R, C] and a 1-D long index; under autograd on the CPU
// (float or bf16 rows) its gradient adds each gathered row back as a vector into a float buffer
// (src/model/cpu_kernels.cpp), instead of LibTorch 1.13's scalar index_add_.
at::Tensor gather_rows(const at::Tensor& rows, const at::Tensor& index);

at::Tensor scaled_dot_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                bool broadcast, const at::Tensor* key_mask = nullptr);

// Ordered parameter names and shapes of an architecture (the official state_dict order for the
// official preset).
std::vector<std::pair<std::string, std::vector<int64_t>>> expected_parameters(
    const ModelConfig& config);

// The network. Read-only after construction; safe to share between threads.
class Network {
 public:
  // `tensors` must hold exactly expected_parameters(config) (checked by the caller, see model.cpp).
  Network(ModelConfig config, const std::vector<std::pair<std::string, at::Tensor>>& tensors);

  const ModelConfig& config() const { return config_; }
  at::Device device() const;
  // Moves the weights (copies; the original stays valid for other users).
  Network to(at::Device device) const;
  std::vector<std::pair<std::string, at::Tensor>> named_tensors() const { return named_; }

  // frames: [F, 3, H, W] float in 0..255 -> normalised to [-1, 1] as the official model does.
  static at::Tensor normalize_frames(const at::Tensor& frames);
  // x: [F, 3, H, W] in [-1, 1] -> [F, C, H/stride, W/stride] raw encoder output.
  at::Tensor encode(const at::Tensor& x) const;
  // Per-pixel L2 normalisation (eps on the squared norm): [F, C, h, w] -> [F, C, h, w].
  static at::Tensor l2_normalize(const at::Tensor& fmaps);
  // Level 0 = fmaps, level l+1 = 2x2 average pool of level l. Each [F, C, h_l, w_l].
  std::vector<at::Tensor> pyramid(const at::Tensor& fmaps_norm) const;

  // Support features of queries: fmaps_level [B, T, C, h, w]; points (t, x, y) [B, N, 3] in level
  // feature units with t relative to the first frame of fmaps -> [B, R*R, N, C].
  at::Tensor sample_support(const at::Tensor& fmaps_level, const at::Tensor& points) const;

  // The correlation volume of one pyramid level, as the official code defines it: for every
  // frame s, track n, sample offset (h, w) and support offset (i, j),
  //   <bilinear(fmaps[s], coords[s, n] + (d_h, d_w)), support[n, i, j]>
  // with d in [-r, r], border padding and align_corners=True, flattened h-w-i-j.
  //   fmaps_level [B, S, C, h, w]; coords [B, S, N, 2] level units (x, y);
  //   support [B, N, R, R, C] (x-major) -> [B, N, S, R^4] (note: N before S).
  // The R x R samples around a point share one fractional offset, so each is the same bilinear
  // mix of an (R+1) x (R+1) integer patch; the dot products are taken on the patch (one batched
  // matmul per track) and mixed afterwards. Clamping the patch indices to the image equals
  // grid_sample's border padding. Equal to correlation_volume_reference() up to float rounding.
  at::Tensor correlation_volume(const at::Tensor& fmaps_level, const at::Tensor& coords,
                                const at::Tensor& support) const;
  // The official formulation (grid_sample of the R x R neighbourhood, then an einsum), same
  // arguments and result; kept as the reference for tests and benchmarks.
  at::Tensor correlation_volume_reference(const at::Tensor& fmaps_level, const at::Tensor& coords,
                                          const at::Tensor& support) const;

  // The iterative refinement of one window.
  //   pyramid: per level [B, S, C, h, w]; coords [B, S, N, 2] feature units;
  //   support: per level [B, 1, R*R, N, C] (already masked); vis, conf [B, S, N, 1] logits;
  //   track_mask: as update_transformer's (windows batched with padded tracks).
  WindowOutput forward_window(const std::vector<at::Tensor>& pyramid, at::Tensor coords,
                              const std::vector<at::Tensor>& support, at::Tensor vis,
                              at::Tensor conf, int iters, WindowTrace* trace = nullptr,
                              StageTimes* times = nullptr,
                              const at::Tensor* track_mask = nullptr) const;

  // Transformer: x [B, N, S, input_dim] -> [B, N, S, 4] = (dx, dy, dvis, dconf).
  // `track_mask` [B, N] bool (true: a real track) lets windows of different track counts share
  // one batch: padded tracks are left out of every attention over tracks, so the real tracks'
  // outputs are those of their own window alone (up to float rounding).
  at::Tensor update_transformer(const at::Tensor& x, const at::Tensor* track_mask = nullptr) const;

 private:
  at::Tensor correlation_features(const at::Tensor& fmaps_level, const at::Tensor& coords) const;
  // `key_mask` [B, N_keys] bool: attend only to the keys where it is true (null: all).
  at::Tensor block(const BlockWeights& w, const at::Tensor& x, const at::Tensor* context,
                   const at::Tensor* key_mask = nullptr) const;
  at::Tensor attention(const AttentionWeights& w, const at::Tensor& x, const at::Tensor& context,
                       const at::Tensor* key_mask = nullptr) const;

  // Inference only (weights without gradients): the virtual tracks after the first time block,
  // [V, hidden] fp32. Their tokens enter that block identical in every frame, window and
  // iteration, so its output is a constant of the weights: computed once, on first use.
  at::Tensor virtual_after_first_time_block() const;

  struct InferenceCache {
    std::once_flag once;
    at::Tensor virtual_tokens;
  };

  ModelConfig config_;
  std::vector<std::pair<std::string, at::Tensor>> named_;
  std::shared_ptr<InferenceCache> cache_ = std::make_shared<InferenceCache>();
  EncoderWeights encoder_;
  LinearWeights corr_fc1_, corr_fc2_;
  LinearWeights input_transform_, flow_head_, vis_conf_head_;
  at::Tensor virtual_tracks_;  // [1, V, 1, hidden]
  at::Tensor time_emb_;        // [1, window_len, input_dim]
  // Space attention: space_blocks_ (group attention, num_virtual_tracks = 0) or the three
  // virtual-track block lists of CoTracker3.
  std::vector<BlockWeights> time_blocks_, space_blocks_, space_virtual_blocks_,
      space_point2virtual_blocks_, space_virtual2point_blocks_;
};

// The official initialisation of the window starting at frame `ind`: queries whose frame `qf`
// ([N] long, or [B, N] for a batch) is before ind + overlap take the previous estimates for the
// overlap frames and repeat the last one for the new frames; the others keep `*_init` (query
// point, zero logits).
//   coords_px [B, T, N, 2] model px; vis, conf [B, T, N, 1] logits; *_init [B, S, N, .].
void carry_over_estimates(const at::Tensor& qf, int64_t ind, const ModelConfig& config,
                          const at::Tensor& coords_px, const at::Tensor& vis,
                          const at::Tensor& conf, at::Tensor& coords_init, at::Tensor& vis_init,
                          at::Tensor& conf_init);

// The official 1-D sin-cos time embedding, [1, window_len, input_dim] float32.
at::Tensor sincos_time_embedding(int window_len, int dim);

// Grid sampling with the official `bilinear_sampler` arithmetic (align_corners, border padding).
// input [B, C, H, W] with coords [B, Ho, Wo, 2] as (x, y), or input [B, C, T, H, W] with coords
// [B, To, Ho, Wo, 3] as (t, x, y). Coordinates are in input pixels (0 = first pixel centre).
at::Tensor bilinear_sampler(const at::Tensor& input, const at::Tensor& coords);

}  // namespace cotrack
