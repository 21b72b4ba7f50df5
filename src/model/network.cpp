#include "model/network.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <map>

#include "cotrack/error.hpp"
#include "model/precision.hpp"

namespace cotrack {

// Under bf16 autocast on the CPU, update transformers at least this wide run in bf16; narrower
// ones in fp32 (measured on the 2-core AVX-512 EPYC, 1 thread).
constexpr int kMinBf16TransformerWidth = 256;
namespace {

using Shape = std::vector<int64_t>;

// Channel widths of the BasicEncoder stages for a given output dim (official: 64, 96, 128, 128).
std::vector<int64_t> encoder_widths(int latent) {
  return {latent / 2, latent / 4 * 3, latent, latent};
}
constexpr int kEncoderStrides[] = {1, 2, 2, 2};
// Attention products with at most this many multiply-adds per (batch, head) use broadcasting.
constexpr int64_t kBroadcastAttentionMax = 4096;

void add_linear(std::vector<std::pair<std::string, Shape>>& out, const std::string& name,
                int64_t in, int64_t outdim) {
  out.emplace_back(name + ".weight", Shape{outdim, in});
  out.emplace_back(name + ".bias", Shape{outdim});
}

void add_block(std::vector<std::pair<std::string, Shape>>& out, const std::string& name,
               int64_t hidden, int64_t mlp_hidden, bool cross) {
  const std::string attn = cross ? ".cross_attn" : ".attn";
  if (cross) {
    out.emplace_back(name + ".norm_context.weight", Shape{hidden});
    out.emplace_back(name + ".norm_context.bias", Shape{hidden});
  }
  add_linear(out, name + attn + ".to_q", hidden, hidden);
  add_linear(out, name + attn + ".to_kv", hidden, 2 * hidden);
  add_linear(out, name + attn + ".to_out", hidden, hidden);
  add_linear(out, name + ".mlp.fc1", hidden, mlp_hidden);
  add_linear(out, name + ".mlp.fc2", mlp_hidden, hidden);
}

class TensorTable {
 public:
  explicit TensorTable(const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
    for (const auto& [name, t] : tensors) map_[name] = t;
  }
  at::Tensor operator()(const std::string& name) const {
    auto it = map_.find(name);
    if (it == map_.end()) throw ModelError(fmt::format("model weights: missing '{}'", name));
    return it->second;
  }
  LinearWeights linear(const std::string& name) const {
    return {(*this)(name + ".weight"), (*this)(name + ".bias")};
  }
  ConvWeights conv(const std::string& name, int stride, int padding) const {
    return {(*this)(name + ".weight"), (*this)(name + ".bias"), stride, padding};
  }
  BlockWeights block(const std::string& name, bool cross) const {
    const std::string attn = name + (cross ? ".cross_attn" : ".attn");
    BlockWeights b;
    b.attn = {linear(attn + ".to_q"), linear(attn + ".to_kv"), linear(attn + ".to_out")};
    b.fc1 = linear(name + ".mlp.fc1");
    b.fc2 = linear(name + ".mlp.fc2");
    if (cross) {
      b.norm_context_weight = (*this)(name + ".norm_context.weight");
      b.norm_context_bias = (*this)(name + ".norm_context.bias");
    }
    return b;
  }

 private:
  std::map<std::string, at::Tensor> map_;
};

at::Tensor conv(const ConvWeights& w, const at::Tensor& x) {
  return at::conv2d(x, w.weight, w.bias, {w.stride, w.stride}, {w.padding, w.padding});
}

// True when autograd records operations on `t` (training). The faster inference layouts below
// are used only when it does not: a training step builds the same graph as before them.
bool records_grad(const at::Tensor& t) { return at::GradMode::is_enabled() && t.requires_grad(); }

// InstanceNorm2d(affine=False, track_running_stats=False): instance statistics, eps 1e-5, then a
// ReLU when `relu`. On the CPU the encoder runs channels-last (see Network::encode), where
// at::instance_norm would copy to NCHW and back (5x slower). Inference views each image as
// [H*W, C] rows without a copy and batch-normalises them, which is the same per-channel
// statistic; training (autograd) uses a fused kernel with its own gradient instead, since the
// backward of those views cost seconds a step.
at::Tensor instance_norm(const at::Tensor& x, bool relu) {
  at::Tensor y;
  const bool grad = records_grad(x);
  if (grad && instance_norm_channels_last(x, relu, &y)) return y;
  if (!grad && x.device().is_cpu() && x.size(0) > 0 &&
      x.is_contiguous(at::MemoryFormat::ChannelsLast)) {
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    std::vector<at::Tensor> images;
    images.reserve(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n) {
      at::Tensor rows = x.select(0, n).permute({1, 2, 0}).reshape({H * W, C});  // a view
      at::Tensor yn = at::batch_norm(rows, {}, {}, {}, {}, /*training=*/true, /*momentum=*/0.1,
                                     /*eps=*/1e-5, /*cudnn_enabled=*/false);
      images.push_back(yn.view({1, H, W, C}).permute({0, 3, 1, 2}));
    }
    y = N == 1 ? images[0] : at::cat(images, 0);
  } else {
    y = at::instance_norm(x, {}, {}, {}, {}, /*use_input_stats=*/true, /*momentum=*/0.1,
                          /*eps=*/1e-5, /*cudnn_enabled=*/true);
  }
  return relu ? y.relu_() : y;
}

at::Tensor residual_block(const ResidualBlockWeights& w, const at::Tensor& x) {
  at::Tensor y = instance_norm(conv(w.conv1, x), /*relu=*/true);
  y = instance_norm(conv(w.conv2, y), /*relu=*/true);
  at::Tensor shortcut = w.downsample ? instance_norm(conv(*w.downsample, x), /*relu=*/false) : x;
  return (shortcut + y).relu_();
}

at::Tensor linear(const LinearWeights& w, const at::Tensor& x) {
  // The ATen op, as Python's F.linear calls it (torch::nn::functional::linear differs for 3-D).
  // Under CPU bf16 autocast, fixed weights are cast once: autocast casts them on every call
  // otherwise (the same rounding, so the same result), about 5 ms of a 240 ms frame for the
  // official architecture's 22.7M weights at 192x256.
  if (w.bf16 && w.weight.is_cpu() && !w.weight.requires_grad() && cpu_autocast_bf16()) {
    Bf16Copy& c = *w.bf16;
    std::call_once(c.once, [&] {
      const at::NoGradGuard no_grad;
      c.weight = w.weight.to(at::kBFloat16);
      if (w.bias.defined()) c.bias = w.bias.to(at::kBFloat16);
    });
    return at::linear(x, c.weight, c.bias);
  }
  return at::linear(x, w.weight, w.bias);
}

// posenc(x, 0, degrees): [x, sin(x * 2^s) (scale-major), sin(x * 2^s + pi/2)].
at::Tensor posenc(const at::Tensor& x, int degrees) {
  std::vector<float> scale_values;
  for (int i = 0; i < degrees; ++i) scale_values.push_back(static_cast<float>(1 << i));
  at::Tensor scales = at::tensor(scale_values, x.options().dtype(at::kFloat)).to(x.scalar_type());
  auto shape = x.sizes().vec();
  shape.back() = -1;
  at::Tensor xb = (x.unsqueeze(-2) * scales.unsqueeze(1)).reshape(shape);
  at::Tensor four_feat = at::sin(at::cat({xb, xb + 0.5 * M_PI}, -1));
  return at::cat({x, four_feat}, -1);
}

}  // namespace

at::Tensor sincos_time_embedding(int window_len, int dim) {
  auto opts = at::TensorOptions().dtype(at::kDouble);
  at::Tensor omega = at::arange(dim / 2, opts);
  omega /= dim / 2.0;
  omega = 1.0 / at::pow(10000, omega);
  at::Tensor pos = at::linspace(0, window_len - 1, window_len).reshape(-1);
  at::Tensor out = at::einsum("m,d->md", {pos, omega});
  at::Tensor emb = at::cat({at::sin(out), at::cos(out)}, 1);
  return emb.unsqueeze(0).to(at::kFloat);
}

void carry_over_estimates(const at::Tensor& qf, int64_t ind, const ModelConfig& config,
                          const at::Tensor& coords_px, const at::Tensor& vis,
                          const at::Tensor& conf, at::Tensor& coords_init, at::Tensor& vis_init,
                          at::Tensor& conf_init) {
  const int step = config.step(), overlap = config.window_len - step;
  // qf [N] or [B, N]: the query frames of each batch element's points.
  const at::Tensor q = qf.dim() == 1 ? qf.view({1, -1}) : qf;
  const at::Tensor copy_over = (q < ind + overlap).view({q.size(0), 1, q.size(1), 1});
  auto previous = [&](const at::Tensor& buffer) {
    at::Tensor prev = buffer.narrow(1, ind, overlap);
    return at::cat({prev, prev.narrow(1, overlap - 1, 1).expand({-1, step, -1, -1})}, 1);
  };
  coords_init = at::where(copy_over, previous(coords_px / config.stride), coords_init);
  vis_init = at::where(copy_over, previous(vis), vis_init);
  conf_init = at::where(copy_over, previous(conf), conf_init);
}

at::Tensor bilinear_sampler(const at::Tensor& input, const at::Tensor& coords_in) {
  const auto sizes = input.sizes().slice(2);
  at::Tensor coords = coords_in;
  if (sizes.size() == 3) {
    // (t, x, y) -> (x, y, t) to match the (T, H, W) dims of grid_sample.
    coords = coords.index_select(-1, at::tensor({1, 2, 0}, coords.options().dtype(at::kLong)));
  }
  std::vector<float> factors;
  for (auto it = sizes.rbegin(); it != sizes.rend(); ++it) {
    factors.push_back(static_cast<float>(2.0 / std::max<double>(static_cast<double>(*it) - 1, 1)));
  }
  // Built in fp32 (at::tensor has no bf16 constructor), then in the coordinates' dtype.
  coords =
      coords * at::tensor(factors, coords.options().dtype(at::kFloat)).to(coords.scalar_type());
  coords -= 1;
  return at::grid_sampler(input, coords, /*interpolation_mode=*/0, /*padding_mode=*/1,
                          /*align_corners=*/true);
}

std::vector<std::pair<std::string, Shape>> expected_parameters(const ModelConfig& c) {
  std::vector<std::pair<std::string, Shape>> out;
  out.emplace_back("time_emb", Shape{1, c.window_len, c.input_dim()});
  const auto widths = encoder_widths(c.latent_dim);
  out.emplace_back("fnet.conv1.weight", Shape{widths[0], 3, 7, 7});
  out.emplace_back("fnet.conv1.bias", Shape{widths[0]});
  int64_t in = widths[0];
  for (int layer = 0; layer < 4; ++layer) {
    for (int b = 0; b < 2; ++b) {
      const std::string name = fmt::format("fnet.layer{}.{}", layer + 1, b);
      const int64_t block_in = b == 0 ? in : widths[layer];
      const int64_t dim = widths[layer];
      out.emplace_back(name + ".conv1.weight", Shape{dim, block_in, 3, 3});
      out.emplace_back(name + ".conv1.bias", Shape{dim});
      out.emplace_back(name + ".conv2.weight", Shape{dim, dim, 3, 3});
      out.emplace_back(name + ".conv2.bias", Shape{dim});
      if (b == 0 && kEncoderStrides[layer] != 1) {
        out.emplace_back(name + ".downsample.0.weight", Shape{dim, block_in, 1, 1});
        out.emplace_back(name + ".downsample.0.bias", Shape{dim});
      }
    }
    in = widths[layer];
  }
  const int64_t cat_dim = widths[0] + widths[1] + widths[2] + widths[3];
  out.emplace_back("fnet.conv2.weight", Shape{2 * c.latent_dim, cat_dim, 3, 3});
  out.emplace_back("fnet.conv2.bias", Shape{2 * c.latent_dim});
  out.emplace_back("fnet.conv3.weight", Shape{c.latent_dim, 2 * c.latent_dim, 1, 1});
  out.emplace_back("fnet.conv3.bias", Shape{c.latent_dim});

  const int64_t h = c.hidden_size;
  const int64_t mlp = static_cast<int64_t>(c.hidden_size) * c.mlp_ratio;
  if (c.num_virtual_tracks > 0) {
    out.emplace_back("updateformer.virual_tracks", Shape{1, c.num_virtual_tracks, 1, h});
  }
  add_linear(out, "updateformer.input_transform", c.input_dim(), h);
  add_linear(out, "updateformer.flow_head", h, 2);
  add_linear(out, "updateformer.vis_conf_head", h, 2);
  for (int i = 0; i < c.time_depth; ++i) {
    add_block(out, fmt::format("updateformer.time_blocks.{}", i), h, mlp, false);
  }
  if (c.num_virtual_tracks == 0) {  // group attention: every track attends to every other
    for (int i = 0; i < c.space_depth; ++i) {
      add_block(out, fmt::format("updateformer.space_blocks.{}", i), h, mlp, false);
    }
  } else {
    for (int i = 0; i < c.space_depth; ++i) {
      add_block(out, fmt::format("updateformer.space_virtual_blocks.{}", i), h, mlp, false);
    }
    for (int i = 0; i < c.space_depth; ++i) {
      add_block(out, fmt::format("updateformer.space_point2virtual_blocks.{}", i), h, mlp, true);
    }
    for (int i = 0; i < c.space_depth; ++i) {
      add_block(out, fmt::format("updateformer.space_virtual2point_blocks.{}", i), h, mlp, true);
    }
  }
  add_linear(out, "corr_mlp.fc1", c.corr_dim(), c.corr_hidden);
  add_linear(out, "corr_mlp.fc2", c.corr_hidden, c.corr_out);
  return out;
}

Network::Network(ModelConfig config, const std::vector<std::pair<std::string, at::Tensor>>& tensors)
    : config_(std::move(config)), named_(tensors) {
  const TensorTable t(tensors);
  encoder_.conv1 = t.conv("fnet.conv1", 2, 3);
  for (int layer = 0; layer < 4; ++layer) {
    for (int b = 0; b < 2; ++b) {
      const std::string name = fmt::format("fnet.layer{}.{}", layer + 1, b);
      const int stride = b == 0 ? kEncoderStrides[layer] : 1;
      ResidualBlockWeights block;
      block.conv1 = t.conv(name + ".conv1", stride, 1);
      block.conv2 = t.conv(name + ".conv2", 1, 1);
      if (stride != 1) block.downsample = t.conv(name + ".downsample.0", stride, 0);
      encoder_.blocks.push_back(std::move(block));
    }
  }
  encoder_.conv2 = t.conv("fnet.conv2", 1, 1);
  encoder_.conv3 = t.conv("fnet.conv3", 1, 0);
  corr_fc1_ = t.linear("corr_mlp.fc1");
  corr_fc2_ = t.linear("corr_mlp.fc2");
  input_transform_ = t.linear("updateformer.input_transform");
  flow_head_ = t.linear("updateformer.flow_head");
  vis_conf_head_ = t.linear("updateformer.vis_conf_head");
  if (config_.num_virtual_tracks > 0) virtual_tracks_ = t("updateformer.virual_tracks");
  time_emb_ = t("time_emb");
  for (int i = 0; i < config_.time_depth; ++i) {
    time_blocks_.push_back(t.block(fmt::format("updateformer.time_blocks.{}", i), false));
  }
  for (int i = 0; i < config_.space_depth && config_.num_virtual_tracks == 0; ++i) {
    space_blocks_.push_back(t.block(fmt::format("updateformer.space_blocks.{}", i), false));
  }
  for (int i = 0; i < config_.space_depth && config_.num_virtual_tracks > 0; ++i) {
    space_virtual_blocks_.push_back(
        t.block(fmt::format("updateformer.space_virtual_blocks.{}", i), false));
    space_point2virtual_blocks_.push_back(
        t.block(fmt::format("updateformer.space_point2virtual_blocks.{}", i), true));
    space_virtual2point_blocks_.push_back(
        t.block(fmt::format("updateformer.space_virtual2point_blocks.{}", i), true));
  }
}

at::Device Network::device() const { return time_emb_.device(); }

Network Network::to(at::Device device) const {
  std::vector<std::pair<std::string, at::Tensor>> moved;
  moved.reserve(named_.size());
  for (const auto& [name, t] : named_) moved.emplace_back(name, t.to(device));
  return Network(config_, moved);
}

at::Tensor Network::normalize_frames(const at::Tensor& frames) {
  return 2 * (frames / 255.0) - 1.0;
}

at::Tensor Network::encode(const at::Tensor& x_in) const {
  const int64_t H = x_in.size(2), W = x_in.size(3);
  // On the CPU, oneDNN convolutions of these few-channel maps are 2-3x faster channels-last
  // than NCHW (cotrack-bench: CNN 20 -> 12.5 ms per 256x256 frame on 2 cores), forward and
  // backward. Convolutions, norms, ReLU, upsampling and concatenation all keep the layout, so
  // the output is channels-last too; its logical shape and values are the same.
  const bool channels_last = x_in.device().is_cpu();
  at::Tensor x = channels_last ? x_in.contiguous(at::MemoryFormat::ChannelsLast) : x_in;
  x = instance_norm(conv(encoder_.conv1, x), /*relu=*/true);
  std::vector<at::Tensor> stages;
  for (int layer = 0; layer < 4; ++layer) {
    x = residual_block(encoder_.blocks[2 * layer], x);
    x = residual_block(encoder_.blocks[2 * layer + 1], x);
    stages.push_back(x);
  }
  const std::vector<int64_t> out_size{H / config_.stride, W / config_.stride};
  for (auto& s : stages) {
    // In training, LibTorch 1.13's bilinear resampling of channels-last maps is slow: in bf16
    // several times slower than in fp32, and its gradient copies from NCHW back to channels-last
    // (about a tenth of a step for the 128x128 stage). Training resamples with cotrack's own
    // kernel instead (in float, rounded once to the map's type). Inference keeps ATen's op, as
    // the official code computes it.
    at::Tensor resized;
    if (records_grad(s) && resize_channels_last(s, out_size[0], out_size[1], &resized)) {
      s = resized;
      continue;
    }
    s = at::upsample_bilinear2d(s, out_size, /*align_corners=*/true, c10::nullopt, c10::nullopt);
  }
  x = conv(encoder_.conv2, at::cat(stages, 1));
  x = instance_norm(x, /*relu=*/true);
  return conv(encoder_.conv3, x);
}

at::Tensor Network::l2_normalize(const at::Tensor& fmaps) {
  at::Tensor unit;
  if (l2_unit_channels_last(fmaps, &unit)) return unit;  // training
  at::Tensor f = fmaps.permute({0, 2, 3, 1});
  f = f /
      at::sqrt(at::maximum(at::sum(at::square(f), {-1}, /*keepdim=*/true),
                           at::tensor(1e-12, f.options().dtype(at::kFloat)).to(f.scalar_type())));
  return f.permute({0, 3, 1, 2});
}

std::vector<at::Tensor> Network::pyramid(const at::Tensor& fmaps_norm) const {
  std::vector<at::Tensor> levels{fmaps_norm};
  for (int l = 1; l < config_.corr_levels; ++l) {
    at::Tensor pooled;
    if (!pool2_channels_last(levels.back(), &pooled)) {  // training's kernel, else ATen's
      pooled = at::avg_pool2d(levels.back(), {2, 2}, {2, 2});
    }
    levels.push_back(pooled);
  }
  return levels;
}

at::Tensor Network::sample_support(const at::Tensor& fmaps_level, const at::Tensor& points) const {
  // get_support_points: centre [B, N, 1, 1, 3] + offsets (0, d_i, d_j) -> [B, R*R, N, 3], x-major.
  const int64_t B = points.size(0), N = points.size(1);
  const int r = config_.corr_radius, R = config_.corr_window();
  at::Tensor d = at::linspace(-r, r, R, points.options());
  auto grids = at::meshgrid({d, d}, "ij");
  at::Tensor delta = at::stack({at::zeros_like(grids[0]), grids[0], grids[1]}, -1);
  at::Tensor pts = points.reshape({B, N, 1, 1, 3}) + delta.view({1, 1, R, R, 3});
  pts = pts.reshape({B, N, R * R, 3}).permute({0, 2, 1, 3});
  // sample_features5d: [B, T, C, h, w] -> [B, C, T, h, w]; grid [B, R*R, N, 1, 3].
  at::Tensor feats = bilinear_sampler(fmaps_level.permute({0, 2, 1, 3, 4}), pts.unsqueeze(3));
  return feats.permute({0, 2, 3, 1, 4}).view({B, feats.size(2), feats.size(3), feats.size(1)});
}

at::Tensor Network::correlation_features(const at::Tensor& fmaps, const at::Tensor& coords) const {
  // fmaps [B, S, C, h, w]; coords [B*S, N, 2] level feature units -> [B, S, N, R, R, C].
  // The official code samples a 5-D volume of depth 1 at t = 0; that is exactly a 4-D bilinear
  // sample (the depth weight is 1 and its neighbour, clamped by border padding, gets weight 0),
  // and 4-D grid_sample is about 2.5x faster on the CPU.
  const int64_t B = fmaps.size(0), S = fmaps.size(1), C = fmaps.size(2);
  const int64_t N = coords.size(1);
  const int r = config_.corr_radius, R = config_.corr_window();
  at::Tensor d = at::linspace(-r, r, R, coords.options());
  auto grids = at::meshgrid({d, d}, "ij");
  at::Tensor delta = at::stack({grids[0], grids[1]}, -1);  // [R, R, (x, y)] offsets, x-major
  at::Tensor pts = coords.reshape({B * S, N, 1, 1, 2}) + delta.view({1, 1, R, R, 2});
  at::Tensor feat = bilinear_sampler(fmaps.reshape({B * S, C, fmaps.size(3), fmaps.size(4)}),
                                     pts.reshape({B * S, N, R * R, 2}));
  return feat.view({B, S, C, N, R, R}).permute({0, 1, 3, 4, 5, 2});
}

at::Tensor Network::correlation_volume_reference(const at::Tensor& fmaps_level,
                                                 const at::Tensor& coords,
                                                 const at::Tensor& support) const {
  const int64_t B = coords.size(0), S = coords.size(1), N = coords.size(2);
  const int R = config_.corr_window();
  at::Tensor corr_feat = correlation_features(fmaps_level, coords.reshape({B * S, N, 2}));
  at::Tensor volume = at::einsum("btnhwc,bnijc->btnhwij", {corr_feat, support});
  return volume.permute({0, 2, 1, 3, 4, 5, 6}).reshape({B, N, S, R * R * R * R});
}

at::Tensor Network::correlation_volume(const at::Tensor& fmaps_level, const at::Tensor& coords,
                                       const at::Tensor& support) const {
  const int64_t B = fmaps_level.size(0), S = fmaps_level.size(1), C = fmaps_level.size(2);
  const int64_t h = fmaps_level.size(3), w = fmaps_level.size(4);
  const int64_t N = coords.size(2);
  const int r = config_.corr_radius, R = config_.corr_window(), P = R + 1;
  const auto long_opts = coords.options().dtype(at::kLong);
  // Channel-last features, one row per (b, s, y, x).
  at::Tensor rows = fmaps_level.permute({0, 1, 3, 4, 2}).reshape({B * S * h * w, C});
  // Per (b, n, s): the patch origin and the shared fractional offset.
  at::Tensor xy = coords.permute({0, 2, 1, 3});  // [B, N, S, 2]
  at::Tensor base = at::floor(xy);
  at::Tensor frac = xy - base;
  at::Tensor base_l = base.to(at::kLong);
  at::Tensor offs = at::arange(-r, -r + P, long_opts);  // P patch offsets
  // Patch index (a, b): a along x, b along y, matching the x-major sample order (h = x offset).
  at::Tensor px = at::clamp(base_l.select(-1, 0).unsqueeze(-1) + offs, 0, w - 1);  // [B,N,S,P]
  at::Tensor py = at::clamp(base_l.select(-1, 1).unsqueeze(-1) + offs, 0, h - 1);
  at::Tensor frame =
      (at::arange(B, long_opts).view({B, 1, 1}) * S + at::arange(S, long_opts).view({1, 1, S})) *
      (h * w);  // [B, 1, S]
  at::Tensor idx = frame.unsqueeze(-1).unsqueeze(-1) + py.unsqueeze(-2) * w + px.unsqueeze(-1);
  // [B, N, S, P(a), P(b)] -> gathered patch features [B*N, S*P*P, C].
  at::Tensor patch = gather_rows(rows, idx.reshape({-1})).view({B * N, S * P * P, C});
  at::Tensor sup = support.reshape({B * N, R * R, C}).transpose(1, 2);  // [B*N, C, R*R]
  at::Tensor g = at::bmm(patch, sup).view({B * N * S, P, P, R * R});
  // Bilinear mix: along x (a) first, then along y (b), in the coordinates' dtype (fp32 also when
  // autocast ran the product in bf16): [B*N*S, R, R, R*R].
  at::Tensor out = bilinear_mix(g, frac.reshape({B * N * S, 2}));
  return out.reshape({B, N, S, R * R * R * R});
}

at::Tensor Network::attention(const AttentionWeights& w, const at::Tensor& x,
                              const at::Tensor& context, const at::Tensor* key_mask) const {
  const int64_t B = x.size(0), N1 = x.size(1), C = x.size(2);
  const int64_t h = config_.num_heads;
  at::Tensor q = linear(w.to_q, x).reshape({B, N1, h, C / h}).permute({0, 2, 1, 3});
  auto kv = linear(w.to_kv, context).chunk(2, -1);
  const int64_t N2 = context.size(1);
  at::Tensor k = kv[0].reshape({B, N2, h, C / h}).permute({0, 2, 1, 3});
  at::Tensor v = kv[1].reshape({B, N2, h, C / h}).permute({0, 2, 1, 3});
  // Training keeps the matmuls (and the graph it had before the broadcast form).
  const bool tiny = N1 * N2 * (C / h) <= kBroadcastAttentionMax && !records_grad(q);
  at::Tensor out = scaled_dot_attention(q, k, v, /*broadcast=*/tiny && !key_mask, key_mask);
  return linear(w.to_out, out.transpose(1, 2).reshape({B, N1, C}));
}

at::Tensor scaled_dot_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                bool broadcast, const at::Tensor* key_mask) {
  const double scale = std::pow(static_cast<double>(q.size(-1)), -0.5);
  if (key_mask) {
    at::Tensor sim = at::matmul(q, k.transpose(-2, -1)) * scale;
    sim = sim.masked_fill(key_mask->logical_not().view({key_mask->size(0), 1, 1, -1}),
                          -std::numeric_limits<float>::infinity());
    return at::matmul(sim.softmax(-1), v);
  }
  // Many tiny products (time attention: a few frames per track and head) are far faster as one
  // broadcast multiply-and-sum than as a batched matmul, which without MKL runs one small GEMM
  // per batch entry (320 of 8x24x8 for 64 tracks: 0.95 -> 0.37 ms per block on 2 threads).
  // Same sums, in a different order.
  at::Tensor sim =
      broadcast ? (q.unsqueeze(-2) * k.unsqueeze(-3)).sum(-1) : at::matmul(q, k.transpose(-2, -1));
  at::Tensor attn = (sim * scale).softmax(-1);
  return broadcast ? (attn.unsqueeze(-1) * v.unsqueeze(-3)).sum(-2) : at::matmul(attn, v);
}

at::Tensor Network::block(const BlockWeights& w, const at::Tensor& x, const at::Tensor* context,
                          const at::Tensor* key_mask) const {
  const int64_t C = x.size(-1);
  auto norm = [C](const at::Tensor& t) { return at::layer_norm(t, {C}, {}, {}, 1e-6, true); };
  at::Tensor y = norm(x);
  if (context) {
    at::Tensor ctx =
        at::layer_norm(*context, {C}, w.norm_context_weight, w.norm_context_bias, 1e-5, true);
    y = x + attention(w.attn, y, ctx, key_mask);
  } else {
    y = x + attention(w.attn, y, y, key_mask);
  }
  at::Tensor hidden = gelu_tanh(linear(w.fc1, norm(y)));
  return y + linear(w.fc2, hidden);
}

at::Tensor Network::update_transformer(const at::Tensor& input,
                                       const at::Tensor* track_mask) const {
  at::Tensor tokens = linear(input_transform_, input);
  const int64_t B = tokens.size(0), T = tokens.size(2);
  // Space attention runs over [B * T] rows of tracks: the mask per row.
  at::Tensor row_mask;
  if (track_mask) {
    row_mask = track_mask->to(at::kBool).unsqueeze(1).expand({B, T, track_mask->size(1)})
                   .reshape({B * T, track_mask->size(1)});
  }
  const at::Tensor* space_mask = track_mask ? &row_mask : nullptr;
  const int64_t V = config_.num_virtual_tracks;
  // With fixed weights, the virtual tracks' pass through the first time block is a constant:
  // that block then runs on the point tracks alone, and the virtual tracks join after it.
  const bool constant_virtual = V > 0 && !time_blocks_.empty() && !virtual_tracks_.requires_grad();
  if (constant_virtual) {
    // The type the concatenation would give (fp32 under bf16 autocast): the residual stream's.
    tokens = tokens.to(at::promote_types(tokens.scalar_type(), virtual_tracks_.scalar_type()));
  } else if (V > 0) {
    tokens = at::cat({tokens, virtual_tracks_.repeat({B, 1, T, 1})}, 1);
  }
  const int64_t N = tokens.size(1) + (constant_virtual ? V : 0);
  const size_t space_blocks = std::max(space_virtual_blocks_.size(), space_blocks_.size());
  const size_t space_every = space_blocks == 0 ? 0 : time_blocks_.size() / space_blocks;
  size_t j = 0;
  for (size_t i = 0; i < time_blocks_.size(); ++i) {
    const int64_t rows = tokens.size(1);
    at::Tensor time_tokens = tokens.contiguous().view({B * rows, T, -1});
    time_tokens = block(time_blocks_[i], time_tokens, nullptr);
    tokens = time_tokens.view({B, rows, T, -1});
    if (constant_virtual && i == 0) {
      const at::Tensor virt = virtual_after_first_time_block().to(tokens.scalar_type());
      tokens = at::cat({tokens, virt.view({1, V, 1, -1}).expand({B, V, T, virt.size(-1)})}, 1);
    }
    if (space_every > 0 && i % space_every == 0) {
      at::Tensor space = tokens.permute({0, 2, 1, 3}).contiguous().view({B * T, N, -1});
      if (V == 0) {
        space = block(space_blocks_[j], space, nullptr, space_mask);  // tracks attend directly
        tokens = space.view({B, T, N, -1}).permute({0, 2, 1, 3});
        ++j;
        continue;
      }
      at::Tensor points = space.narrow(1, 0, N - V);
      at::Tensor virt = space.narrow(1, N - V, V);
      virt = block(space_virtual2point_blocks_[j], virt, &points, space_mask);
      virt = block(space_virtual_blocks_[j], virt, nullptr);
      points = block(space_point2virtual_blocks_[j], points, &virt);
      space = at::cat({points, virt}, 1);
      tokens = space.view({B, T, N, -1}).permute({0, 2, 1, 3});
      ++j;
    }
  }
  tokens = tokens.narrow(1, 0, N - V);
  return at::cat({linear(flow_head_, tokens), linear(vis_conf_head_, tokens)}, -1);
}

at::Tensor Network::virtual_after_first_time_block() const {
  std::call_once(cache_->once, [&] {
    const at::NoGradGuard no_grad;
    const CpuAutocastOff fp32;  // computed once, so in fp32 also for bf16 inference
    const int64_t V = virtual_tracks_.size(1), C = virtual_tracks_.size(-1);
    // One frame: attention over identical tokens returns their value, whatever the window length.
    cache_->virtual_tokens =
        block(time_blocks_[0], virtual_tracks_.to(at::kFloat).reshape({V, 1, C}), nullptr)
            .reshape({V, C});
  });
  return cache_->virtual_tokens;
}

WindowOutput Network::forward_window(const std::vector<at::Tensor>& pyramid, at::Tensor coords,
                                     const std::vector<at::Tensor>& support, at::Tensor vis,
                                     at::Tensor conf, int iters, WindowTrace* trace,
                                     StageTimes* times, const at::Tensor* track_mask) const {
  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  const int64_t B = pyramid[0].size(0), S = pyramid[0].size(1);
  const int64_t N = coords.size(2);
  const int R = config_.corr_window();
  const int64_t C = config_.latent_dim;
  const at::Tensor scale =
      at::tensor({static_cast<float>(config_.model_width) / static_cast<float>(config_.stride),
                  static_cast<float>(config_.model_height) / static_cast<float>(config_.stride)},
                 coords.options().dtype(at::kFloat))
          .to(coords.scalar_type());
  at::Tensor time_emb = time_emb_;
  if (S != time_emb_.size(1)) {
    time_emb = at::upsample_linear1d(time_emb_.permute({0, 2, 1}), {S}, /*align_corners=*/false,
                                     c10::optional<double>())
                   .permute({0, 2, 1});
  }
  // The query support viewed per level as [B, N, R, R, C], x-major.
  std::vector<at::Tensor> support_view;
  for (const auto& s : support) {
    support_view.push_back(s.view({B, 1, R, R, N, C}).squeeze(1).permute({0, 3, 1, 2, 4}));
  }

  // correlation_volume gathers feature rows channel-last; for inference, lay each level out
  // that way once per window rather than once per iteration (free when the caller's pyramid
  // already is, as the engine's). Training keeps its per-iteration copies and its graph.
  std::vector<at::Tensor> levels = pyramid;
  if (!records_grad(pyramid[0])) {
    for (auto& p : levels) p = p.permute({0, 1, 3, 4, 2}).contiguous().permute({0, 1, 4, 2, 3});
  }

  WindowOutput out;
  for (int it = 0; it < iters; ++it) {
    coords = coords.detach();
    const auto t_corr = Clock::now();
    std::vector<at::Tensor> corr_embs;
    for (int l = 0; l < config_.corr_levels; ++l) {
      // Rows in (b, n, s) order: the MLP works row by row, and only its small output is
      // permuted back to (b, s, n).
      at::Tensor volume = correlation_volume(levels[l], coords / std::pow(2.0, l),
                                             support_view[l]);  // [B, N, S, R^4]
      at::Tensor emb = linear(corr_fc2_, at::gelu(linear(corr_fc1_, volume)));
      emb = emb.permute({0, 2, 1, 3});  // [B, S, N, corr_out]
      if (trace && it == 0) {
        trace->corr_volume.push_back(volume.permute({0, 2, 1, 3}).reshape({B * S * N, -1}));
        trace->corr_emb.push_back(emb.reshape({B * S * N, -1}));
      }
      corr_embs.push_back(emb);
    }
    at::Tensor corr = at::cat(corr_embs, -1);  // [B, S, N, levels * corr_out]
    const auto t_transformer = Clock::now();
    if (times) times->correlation_ms += ms_since(t_corr);

    at::Tensor fwd = coords.narrow(1, 0, S - 1) - coords.narrow(1, 1, S - 1);
    at::Tensor bwd = coords.narrow(1, 1, S - 1) - coords.narrow(1, 0, S - 1);
    fwd = at::constant_pad_nd(fwd, {0, 0, 0, 0, 0, 1});
    bwd = at::constant_pad_nd(bwd, {0, 0, 0, 0, 1, 0});
    fwd = fwd / scale;
    bwd = bwd / scale;
    at::Tensor pe_in = at::cat({fwd, bwd}, -1);
    at::Tensor pe = posenc(pe_in, config_.posenc_degrees);

    at::Tensor x = at::cat({vis, conf, corr, pe}, -1).permute({0, 2, 1, 3}).reshape({B * N, S, -1});
    x = x + time_emb;
    x = x.view({B, N, S, -1});
    at::Tensor delta;
    if (records_grad(x) || x.device().type() != at::kCPU ||
        config_.hidden_size >= kMinBf16TransformerWidth) {
      delta = update_transformer(x, track_mask);
    } else {
      // A narrow transformer (cotrack-small's 96) runs faster in fp32 than with autocast's
      // casts, on the CPU: 13.4 against 16.0 ms a frame (the official 384 wide: the opposite,
      // 325 against 496 ms). Inference only; training keeps one precision.
      const CpuAutocastOff fp32;
      delta = update_transformer(fp32.was_on() ? x.to(at::kFloat) : x, track_mask);
    }
    if (times) times->transformer_ms += ms_since(t_transformer);
    if (trace && it == 0) {
      trace->posenc_input = pe_in;
      trace->posenc = pe;
      trace->tokens = x;
      trace->delta = delta;
    }
    at::Tensor d_coords = delta.narrow(-1, 0, 2).permute({0, 2, 1, 3});
    at::Tensor d_vis = delta.narrow(-1, 2, 1).permute({0, 2, 1, 3});
    at::Tensor d_conf = delta.narrow(-1, 3, 1).permute({0, 2, 1, 3});
    vis = vis + d_vis;
    conf = conf + d_conf;
    coords = coords + d_coords;
    out.coords.push_back(coords.narrow(-1, 0, 2) * static_cast<double>(config_.stride));
    out.vis.push_back(vis.select(-1, 0));
    out.conf.push_back(conf.select(-1, 0));
  }
  return out;
}

}  // namespace cotrack
