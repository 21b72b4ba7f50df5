#include "cotrack/training.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/version.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>

#include "model/checkpoint/checkpoint.hpp"
#include "cotrack/error.hpp"
#include "cotrack/log.hpp"
#include "cotrack/model.hpp"
#include "cotrack/photo_bank.hpp"
#include "cotrack/runtime.hpp"
#include "cotrack/synth.hpp"
#include "engine/motion_prior.hpp"
#include "model/network.hpp"
#include "model/precision.hpp"

namespace cotrack {
namespace {

constexpr const char* kModelPrefix = "model.";
constexpr const char* kMomentPrefix = "adam_m.";
constexpr const char* kVariancePrefix = "adam_v.";
constexpr double kAdamBeta1 = 0.9, kAdamBeta2 = 0.999, kAdamEps = 1e-8;

volatile std::sig_atomic_t g_stop_requested = 0;
void on_signal(int) { g_stop_requested = 1; }

bool is_decayed(const std::string& name) {
  // Weight decay on matrices and kernels only, not on biases, embeddings or virtual tracks.
  return name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0 &&
         name.find("norm_context") == std::string::npos;
}

// Sliding windows unrolled over a clip, as the official non-streaming forward (training mode).
struct WindowedOutput {
  struct Window {
    int64_t start = 0;
    WindowOutput out;  // per iteration: coords [B,S,N,2] model px, vis/conf [B,S,N] logits
  };
  std::vector<Window> windows;
};

// With prior_threshold >= 0, each window starts its points as the engine's motion prior does
// (EngineConfig::motion_prior): a point carried from the window before, if its last overlapping
// frame calls it visible (sigmoid(vis) * sigmoid(conf)^confidence_weight > prior_threshold), or
// a point whose query lies in the window, starts on each later frame where its neighbourhood
// moved. The starts carry no gradient, as in the engine.
WindowedOutput unrolled_forward(const Network& net, const at::Tensor& video,
                                const at::Tensor& queries, int iters,
                                double prior_threshold = -1, double confidence_weight = 1.0) {
  // video [B, T, 3, H, W] 0..255 at model resolution; queries [B, N, 3] (t, x, y) model px.
  // The B clips are independent: each window runs them as the network's batch.
  const ModelConfig& cfg = net.config();
  const int S = cfg.window_len, step = cfg.step();
  const int64_t B = video.size(0), T = video.size(1), N = queries.size(1), C = cfg.latent_dim;
  at::Tensor fmaps = Network::l2_normalize(
      net.encode(Network::normalize_frames(video.reshape({B * T, 3, video.size(3), video.size(4)}))));
  std::vector<at::Tensor> pyramid;
  for (const auto& l : net.pyramid(fmaps)) {
    pyramid.push_back(l.reshape({B, T, C, l.size(2), l.size(3)}));
  }
  const at::Tensor qf = queries.select(2, 0).to(at::kLong);    // [B, N]
  const at::Tensor qc = queries.narrow(2, 1, 2) / cfg.stride;  // [B, N, 2]
  std::vector<at::Tensor> support;
  for (int l = 0; l < cfg.corr_levels; ++l) {
    at::Tensor pts = at::cat({qf.to(at::kFloat).view({B, N, 1}), qc / std::pow(2.0, l)}, -1);
    support.push_back(net.sample_support(pyramid[l], pts).unsqueeze(1));  // [B,1,R*R,N,C]
  }
  const auto opts = video.options();
  at::Tensor coords_pred = at::zeros({B, T, N, 2}, opts);
  at::Tensor vis_pred = at::zeros({B, T, N, 1}, opts);
  at::Tensor conf_pred = at::zeros({B, T, N, 1}, opts);
  at::Tensor coords_init = qc.view({B, 1, N, 2}).expand({B, S, N, 2});
  at::Tensor vis_init = at::zeros({B, S, N, 1}, opts), conf_init = at::zeros({B, S, N, 1}, opts);

  at::Tensor gray;  // [B, T, H, W] on the CPU, for the motion prior
  std::vector<int64_t> query_frame;  // [B * N]
  std::vector<float> query_xy;       // [B * N * 2]
  if (prior_threshold >= 0) {
    gray = video.detach().mean(2).to(at::kFloat).cpu().contiguous();
    const at::Tensor q = queries.detach().to(at::kFloat).cpu().contiguous();
    const float* qp = q.data_ptr<float>();
    for (int64_t n = 0; n < B * N; ++n) {
      query_frame.push_back(static_cast<int64_t>(qp[3 * n]));
      query_xy.insert(query_xy.end(), {qp[3 * n + 1], qp[3 * n + 2]});
    }
  }
  const int overlap = S - step;

  WindowedOutput result;
  for (int64_t ind = 0; ind + S <= T; ind += step) {
    if (ind > 0) {
      carry_over_estimates(qf, ind, cfg, coords_pred, vis_pred, conf_pred, coords_init, vis_init,
                           conf_init);
    }
    if (prior_threshold >= 0) {
      at::Tensor last_xy, last_visible;
      if (ind > 0) {
        const int64_t a = ind + overlap - 1;
        last_xy = coords_pred.select(1, a).detach().to(at::kFloat).cpu().contiguous();  // [B,N,2]
        const at::Tensor conf = conf_pred.select(1, a).squeeze(-1).sigmoid();
        last_visible = (vis_pred.select(1, a).squeeze(-1).sigmoid() *
                        (confidence_weight == 1.0 ? conf : conf.pow(confidence_weight)))
                           .detach()
                           .to(at::kFloat)
                           .cpu()
                           .contiguous();  // [B, N]
      }
      std::vector<float> init(static_cast<size_t>(B * S * N * 2));
      std::vector<uint8_t> use(static_cast<size_t>(B * S * N), 0);
      for (int64_t b = 0; b < B; ++b) {
        std::vector<int64_t> anchor(static_cast<size_t>(N), -1);
        std::vector<float> start(static_cast<size_t>(2 * N), 0.f);
        const float* xy = ind > 0 ? last_xy.data_ptr<float>() + b * N * 2 : nullptr;
        const float* seen = ind > 0 ? last_visible.data_ptr<float>() + b * N : nullptr;
        const int64_t* qfb = query_frame.data() + b * N;
        const float* qxy = query_xy.data() + b * N * 2;
        for (int64_t n = 0; n < N; ++n) {
          if (ind > 0 && qfb[n] < ind + overlap) {  // carried over
            if (!(seen[n] > prior_threshold)) continue;
            anchor[n] = ind + overlap - 1;
            start[2 * n] = xy[2 * n];
            start[2 * n + 1] = xy[2 * n + 1];
          } else if (qfb[n] >= ind) {
            anchor[n] = qfb[n];
            start[2 * n] = qxy[2 * n];
            start[2 * n + 1] = qxy[2 * n + 1];
          }
        }
        const at::Tensor clip_gray = gray[b];
        const std::vector<float> prior = chain_patch_shifts(
            [&clip_gray](int64_t f) { return clip_gray[f]; }, ind, ind + S, anchor, start,
            kMotionPriorPatch);
        for (int64_t j = 0; j < S; ++j) {
          for (int64_t n = 0; n < N; ++n) {
            const size_t c = static_cast<size_t>(j * N + n);
            const size_t o = static_cast<size_t>(b * S * N) + c;
            if (anchor[n] >= 0 && ind + j > anchor[n] && std::isfinite(prior[2 * c])) {
              use[o] = 1;
              init[2 * o] = prior[2 * c] / static_cast<float>(cfg.stride);
              init[2 * o + 1] = prior[2 * c + 1] / static_cast<float>(cfg.stride);
            }
          }
        }
      }
      const auto dev = coords_init.device();
      const at::Tensor init_t =
          at::from_blob(init.data(), {B, S, N, 2}, at::kFloat).clone().to(dev).to(
              coords_init.scalar_type());
      const at::Tensor use_t =
          at::from_blob(use.data(), {B, S, N, 1}, at::kByte).clone().to(dev).to(at::kBool);
      coords_init = at::where(use_t, init_t, coords_init);
    }
    const at::Tensor mask = (qf < ind + S).view({B, 1, 1, N, 1});
    std::vector<at::Tensor> window_pyramid, window_support;
    for (int l = 0; l < cfg.corr_levels; ++l) {
      window_pyramid.push_back(pyramid[l].narrow(1, ind, S));
      window_support.push_back(support[l] * mask);
    }
    WindowOutput out =
        net.forward_window(window_pyramid, coords_init, window_support, vis_init, conf_init, iters);
    // Out-of-place updates keep autograd simple: later windows read these buffers.
    auto place = [&](const at::Tensor& buffer, const at::Tensor& value) {
      return at::cat({buffer.narrow(1, 0, ind), value, buffer.narrow(1, ind + S, T - ind - S)}, 1);
    };
    coords_pred = place(coords_pred, out.coords.back());
    vis_pred = place(vis_pred, out.vis.back().unsqueeze(-1));
    conf_pred = place(conf_pred, out.conf.back().unsqueeze(-1));
    result.windows.push_back({ind, std::move(out)});
  }
  return result;
}

struct LossTerms {
  at::Tensor total;
  TrainStepStats stats;
};

at::Tensor masked_mean(const at::Tensor& value, const at::Tensor& mask) {
  return (value * mask).sum() / mask.sum().clamp_min(1.0);
}

LossTerms compute_loss(const TrainConfig& tc, const ModelConfig& mc, const WindowedOutput& fwd,
                       const at::Tensor& gt_xy, const at::Tensor& gt_vis, const at::Tensor& qf) {
  // gt_xy [B, T, N, 2] model px; gt_vis [B, T, N] float; qf [B, N] long. Means pool the batch.
  const double to_512 = 512.0 / mc.model_width;
  const int S = mc.window_len;
  LossTerms lt;
  at::Tensor coord_sum = at::zeros({}, gt_xy.options()), occ_sum = at::zeros_like(coord_sum);
  at::Tensor vis_sum = at::zeros_like(coord_sum), conf_sum = at::zeros_like(coord_sum);
  double weight_total = 0, err_sum = 0, err_count = 0, acc_sum = 0, acc_count = 0;
  for (const auto& w : fwd.windows) {
    at::Tensor g = gt_xy.narrow(1, w.start, S);   // [B, S, N, 2]
    at::Tensor v = gt_vis.narrow(1, w.start, S);  // [B, S, N]
    at::Tensor t = at::arange(w.start, w.start + S, qf.options()).view({1, S, 1});
    at::Tensor valid = (t >= qf.unsqueeze(1)).to(g.scalar_type());
    const int n = static_cast<int>(w.out.coords.size());
    for (int i = 0; i < n; ++i) {
      const double wt = std::pow(tc.gamma, n - 1 - i);
      at::Tensor d = (w.out.coords[i] - g) * to_512;
      at::Tensor ad = d.abs();
      at::Tensor huber = at::where(ad < tc.huber_delta_px, 0.5 * d * d,
                                   tc.huber_delta_px * (ad - 0.5 * tc.huber_delta_px))
                             .mean(-1);
      coord_sum = coord_sum + wt * masked_mean(huber, valid * v);
      occ_sum = occ_sum + wt * masked_mean(ad.mean(-1), valid * (1 - v));
      vis_sum = vis_sum + wt * at::binary_cross_entropy_with_logits(w.out.vis[i], v);
      at::Tensor close =
          ((d.detach() * d.detach()).sum(-1) < tc.conf_threshold_px * tc.conf_threshold_px)
              .to(g.scalar_type());
      at::Tensor conf_bce =
          at::binary_cross_entropy_with_logits(w.out.conf[i], close, {}, {}, at::Reduction::None);
      conf_sum = conf_sum + wt * (conf_bce * v).mean();
      weight_total += wt;
      if (i == n - 1) {
        at::Tensor m = valid * v;
        err_sum += (d.detach().norm(2, -1) / to_512 * m).sum().item<double>();
        err_count += m.sum().item<double>();
        at::Tensor pred_vis = (w.out.vis[i].detach() > 0).to(g.scalar_type());
        acc_sum += ((pred_vis == v).to(g.scalar_type()) * valid).sum().item<double>();
        acc_count += valid.sum().item<double>();
      }
    }
  }
  const double norm = weight_total > 0 ? 1.0 / weight_total : 0.0;
  at::Tensor coord = coord_sum * norm, occ = occ_sum * norm, vis = vis_sum * norm,
             conf = conf_sum * norm;
  lt.total = tc.coord_weight * coord + tc.occluded_weight * occ + tc.vis_weight * vis +
             tc.conf_weight * conf;
  lt.stats.loss = lt.total.item<double>();
  lt.stats.coord = coord.item<double>();
  lt.stats.occluded = occ.item<double>();
  lt.stats.vis = vis.item<double>();
  lt.stats.conf = conf.item<double>();
  lt.stats.error_px = err_count > 0 ? err_sum / err_count : 0.0;
  lt.stats.vis_accuracy = acc_count > 0 ? acc_sum / acc_count : 0.0;
  return lt;
}

}  // namespace

struct Trainer::Impl {
  TrainConfig tc;
  ModelConfig mc;
  std::vector<std::pair<std::string, at::Tensor>> params;  // requires_grad leaves
  std::vector<at::Tensor> moment, variance;
  std::unique_ptr<Network> net;
  int64_t step = 0;
  at::Device device{at::kCPU};
  mutable std::map<int64_t, std::vector<std::shared_future<SynthClip>>> prefetched;
  std::shared_ptr<const PhotoBank> photos;
  // Model metadata carried from checkpoint to checkpoint (e.g. "visibility_threshold").
  std::map<std::string, MetaValue> model_meta;

  // The model's visibility rule: --visibility-threshold and --confidence-weight, else its
  // metadata, else the official 0.6 and 1.
  double visibility_threshold = 0.6;
  double confidence_weight = 1.0;

  // The motion prior's visibility threshold in the unrolled forward; < 0: no prior.
  double prior_threshold() const { return tc.motion_prior ? visibility_threshold : -1; }

  void apply_model_meta() {
    if (tc.visibility_threshold > 1) {
      throw UsageError(
          fmt::format("visibility_threshold {} is not in [0, 1]", tc.visibility_threshold));
    }
    if (tc.visibility_threshold >= 0) {
      model_meta["visibility_threshold"].s = fmt::format("{}", tc.visibility_threshold);
      visibility_threshold = tc.visibility_threshold;
    }
    if (tc.confidence_weight > 1) {
      throw UsageError(fmt::format("confidence_weight {} is not in [0, 1]", tc.confidence_weight));
    }
    if (tc.confidence_weight >= 0) {
      model_meta["confidence_weight"].s = fmt::format("{}", tc.confidence_weight);
      confidence_weight = tc.confidence_weight;
    }
  }

  // Checks the data settings and loads the photos (once; the clips share them read-only).
  void prepare_data() {
    const int S = mc.window_len, step = mc.step();
    auto check_frames = [&](const char* what, int frames) {
      if (frames < S || (frames - S) % step != 0) {
        throw UsageError(fmt::format("{} {} must be {} + a multiple of {}", what, frames, S, step));
      }
    };
    check_frames("clip_frames", tc.clip_frames);
    if (tc.long_clip_frames != 0) check_frames("long_clip_frames", tc.long_clip_frames);
    if (!(tc.long_fraction >= 0 && tc.long_fraction <= 1) ||
        !(tc.photo_fraction >= 0 && tc.photo_fraction <= 1) ||
        !(tc.deform_fraction >= 0 && tc.deform_fraction <= 1) ||
        !(tc.articulated_fraction >= 0 && tc.articulated_fraction <= 1) ||
        !(tc.motion_blur_fraction >= 0 && tc.motion_blur_fraction <= 1) ||
        !(tc.follow_fraction >= 0 && tc.follow_fraction <= 1)) {
      throw UsageError(
          "long_fraction, photo_fraction, deform_fraction, articulated_fraction, "
          "motion_blur_fraction and follow_fraction must be in [0, 1]");
    }
    if (tc.prefetch < 1 || tc.prefetch > 64) throw UsageError("prefetch must be in [1, 64]");
    if (tc.batch < 1 || tc.batch > 256) {
      throw UsageError(fmt::format("batch must be in [1, 256], got {}", tc.batch));
    }
    if (tc.precision != "fp32" && tc.precision != "bf16") {
      throw UsageError(fmt::format("precision '{}': expected fp32 or bf16", tc.precision));
    }
    if (!(tc.min_speed > 0 && tc.max_speed >= tc.min_speed && tc.max_speed <= 64)) {
      throw UsageError(
          fmt::format("speeds must satisfy 0 < min_speed <= max_speed <= 64 (got "
                      "{} and {})",
                      tc.min_speed, tc.max_speed));
    }
    if (!tc.photos.empty()) photos = PhotoBank::load(tc.photos);
  }

  // A uniform number in [0, 1) fixed by the step's clip seed and a salt (per-step data choices).
  double step_draw(int64_t data_step, uint64_t salt) const {
    uint64_t z = clip_seed(data_step) ^ (salt * 0xD1B54A32D192ED03ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-53;
  }

  void build(const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
    params.clear();
    for (const auto& [name, t] : tensors) {
      at::Tensor p = t.detach().clone().to(device);
      if (name != "time_emb") p.set_requires_grad(true);
      params.emplace_back(name, p);
    }
    net = std::make_unique<Network>(mc, params);
    if (moment.empty()) {
      for (const auto& [name, p] : params) {
        moment.push_back(at::zeros_like(p).detach());
        variance.push_back(at::zeros_like(p).detach());
      }
    }
  }

  // A resolution in the train config overrides the model's (a run-time setting of the network:
  // no weight depends on it).
  void apply_resolution() {
    if (tc.height == 0 && tc.width == 0) return;
    mc.model_height = tc.height;
    mc.model_width = tc.width;
    mc.validate();
  }

  // The clip of batch element `b` of step `data_step`. Its data draws and seed use the key
  // data_step * batch + b (the step itself with a batch of 1); the clip length is the first
  // element's, so that a step's clips stack; the curriculum follows the step.
  SynthParams synth_params(int64_t data_step, int b = 0) const {
    const int64_t key = clip_key(data_step, b), first = clip_key(data_step, 0);
    SynthParams sp;
    sp.width = mc.model_width;
    sp.height = mc.model_height;
    sp.frames = tc.long_clip_frames > 0 && step_draw(first, 1) < tc.long_fraction
                    ? tc.long_clip_frames
                    : tc.clip_frames;
    if (photos && step_draw(key, 2) < tc.photo_fraction) sp.photos = photos;
    sp.num_points = tc.points;
    sp.deform_fraction = tc.deform_fraction;
    sp.articulated_fraction = tc.articulated_fraction;
    sp.motion_blur_fraction = tc.motion_blur_fraction;
    sp.follow_fraction = tc.follow_fraction;
    const double speed =
        tc.max_speed > tc.min_speed
            ? std::exp(std::log(tc.min_speed) +
                       step_draw(key, 3) * (std::log(tc.max_speed) - std::log(tc.min_speed)))
            : tc.min_speed;
    sp.max_speed_px = speed * mc.model_width / 256.0;
    const double progress = static_cast<double>(data_step) / std::max<int64_t>(1, tc.steps);
    sp.motion = progress < tc.translation_until ? SynthMotion::kTranslation
                : progress < tc.affine_until    ? SynthMotion::kAffine
                                                : SynthMotion::kFull;
    return sp;
  }

  int64_t clip_key(int64_t data_step, int b) const { return data_step * tc.batch + b; }

  uint64_t clip_seed(int64_t key) const {
    return tc.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(key);
  }

  std::vector<SynthClip> generate_batch(int64_t data_step) const {
    std::vector<SynthClip> clips;
    for (int b = 0; b < tc.batch; ++b) {
      clips.push_back(generate_clip(synth_params(data_step, b), clip_seed(clip_key(data_step, b))));
    }
    return clips;
  }

  // The clips of a step, generated in background threads ahead of time (one per clip).
  std::vector<SynthClip> clips(int64_t data_step) const {
    auto launch = [this](int64_t s) {
      if (!prefetched.count(s)) {
        std::vector<std::shared_future<SynthClip>>& batch = prefetched[s];
        for (int b = 0; b < tc.batch; ++b) {
          const SynthParams sp = synth_params(s, b);
          const uint64_t seed = clip_seed(clip_key(s, b));
          batch.push_back(
              std::async(std::launch::async, [sp, seed] { return generate_clip(sp, seed); })
                  .share());
        }
      }
    };
    for (int k = 0; k <= tc.prefetch; ++k) launch(data_step + k);
    std::vector<SynthClip> out;
    for (auto& f : prefetched[data_step]) out.push_back(f.get());
    for (auto it = prefetched.begin(); it != prefetched.end();) {
      it = it->first <= data_step ? prefetched.erase(it) : std::next(it);
    }
    return out;
  }

  LossTerms loss_on(const std::vector<SynthClip>& batch) const {
    const SynthClip& c0 = batch.front();
    const int64_t T = c0.frames, N = c0.num_points;
    std::vector<at::Tensor> video, gt_xy, gt_vis, queries, query_frames;
    for (const SynthClip& c : batch) {
      if (c.frames != T || c.num_points != N || c.width != c0.width || c.height != c0.height) {
        throw Error(ExitCode::kRuntime, "training: the clips of a batch differ in shape");
      }
      video.push_back(
          at::from_blob(const_cast<uint8_t*>(c.rgb.data()), {T, c.height, c.width, 3}, at::kByte)
              .permute({0, 3, 1, 2}));
      gt_xy.push_back(at::from_blob(const_cast<float*>(c.tracks.data()), {T, N, 2}, at::kFloat));
      gt_vis.push_back(at::from_blob(const_cast<uint8_t*>(c.visible.data()), {T, N}, at::kByte));
      std::vector<float> q;
      std::vector<int64_t> qf;
      for (int n = 0; n < N; ++n) {
        const int t = c.query_frame[n];
        q.insert(q.end(), {static_cast<float>(t), c.x(t, n), c.y(t, n)});
        qf.push_back(t);
      }
      queries.push_back(at::from_blob(q.data(), {N, 3}, at::kFloat).clone());
      query_frames.push_back(at::tensor(qf, at::TensorOptions().dtype(at::kLong)));
    }
    const at::Tensor v = at::stack(video).to(device).to(at::kFloat);  // [B, T, 3, H, W]
    const at::Tensor xy = at::stack(gt_xy).to(device);
    const at::Tensor vis = at::stack(gt_vis).to(device).to(at::kFloat);
    const at::Tensor q = at::stack(queries).to(device);
    const at::Tensor qf = at::stack(query_frames).to(device);
    WindowedOutput fwd =
        unrolled_forward(*net, v, q, tc.iters, prior_threshold(), confidence_weight);
    return compute_loss(tc, mc, fwd, xy, vis, qf);
  }

  double schedule_position = -1;  // >= 0: overrides the step in lr_at()

  double lr_at(int64_t s) const {
    const double at = schedule_position >= 0 ? schedule_position : static_cast<double>(s);
    const double p = at / static_cast<double>(std::max<int64_t>(1, tc.steps));
    if (p < tc.warmup_fraction) return tc.lr * (p / tc.warmup_fraction);
    const double decay_start = 1.0 - tc.decay_fraction;
    if (p < decay_start) return tc.lr;
    const double q = std::min(1.0, (p - decay_start) / std::max(1e-9, tc.decay_fraction));
    return tc.lr * 0.5 * (1.0 + std::cos(M_PI * q));
  }
};

Trainer::Trainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Trainer::Trainer(Trainer&&) noexcept = default;
Trainer& Trainer::operator=(Trainer&&) noexcept = default;
Trainer::~Trainer() = default;

Trainer::Trainer(const TrainConfig& config) : impl_(std::make_unique<Impl>()) {
  impl_->tc = config;
  impl_->device = at::Device(resolve_device(config.device));
  Model m = config.init.empty()
                ? Model::random(ModelConfig::preset_named(config.preset), config.seed)
                : Model::load(config.init);
  impl_->mc = m.config();
  impl_->visibility_threshold = m.default_visibility_threshold();
  impl_->confidence_weight = m.default_confidence_weight();
  impl_->apply_resolution();
  impl_->prepare_data();
  impl_->apply_model_meta();
  if (config.steps < 1 || config.points < 1 || config.iters < 1) {
    throw UsageError("steps, points and iters must be positive");
  }
  impl_->build(m.network().named_tensors());
}

Trainer Trainer::resume(const std::string& path, const TrainConfig& overrides) {
  Checkpoint ck = read_checkpoint(path);
  auto impl = std::make_unique<Impl>();
  impl->tc = overrides;
  impl->device = at::Device(resolve_device(overrides.device));
  std::vector<std::pair<std::string, std::string>> arch;
  for (const auto& [k, v] : ck.metadata) {
    if (k.rfind("arch.", 0) == 0) arch.emplace_back(k.substr(5), v.s);
    if (k == "train.step") impl->step = v.i;
    if (k == "visibility_threshold") {
      impl->model_meta[k] = v;
      impl->visibility_threshold = parse_visibility_threshold(v.s, path);
    }
    if (k == "confidence_weight") {
      impl->model_meta[k] = v;
      impl->confidence_weight = parse_confidence_weight(v.s, path);
    }
  }
  impl->apply_model_meta();
  impl->mc = ModelConfig::from_pairs(arch);
  impl->apply_resolution();
  impl->prepare_data();
  std::map<std::string, at::Tensor> by_name(ck.tensors.begin(), ck.tensors.end());
  std::vector<std::pair<std::string, at::Tensor>> weights;
  for (const auto& [name, shape] : expected_parameters(impl->mc)) {
    auto get = [&](const std::string& key) {
      auto it = by_name.find(key);
      if (it == by_name.end()) throw ModelError(fmt::format("{}: missing '{}'", path, key));
      return it->second.to(impl->device);
    };
    weights.emplace_back(name, get(kModelPrefix + name));
    impl->moment.push_back(get(kMomentPrefix + name));
    impl->variance.push_back(get(kVariancePrefix + name));
  }
  impl->build(weights);
  return Trainer(std::move(impl));
}

TrainStepStats Trainer::step() {
  Impl& s = *impl_;
  const std::vector<SynthClip> c = s.clips(s.step);
  for (auto& [name, p] : s.params) {
    if (p.grad().defined()) p.mutable_grad() = at::Tensor();
  }
  LossTerms lt;
  {
    const Bf16Autocast autocast(s.tc.precision == "bf16", s.device.type());
    lt = s.loss_on(c);
  }
  lt.total.backward();
  // Global gradient norm clipping, then AdamW with decoupled weight decay.
  double sq = 0;
  for (auto& [name, p] : s.params) {
    if (p.grad().defined()) sq += p.grad().pow(2).sum().item<double>();
  }
  const double norm = std::sqrt(sq);
  const double clip = norm > s.tc.grad_clip ? s.tc.grad_clip / (norm + 1e-6) : 1.0;
  const double lr = s.lr_at(s.step);
  const int64_t t = s.step + 1;
  const double bc1 = 1 - std::pow(kAdamBeta1, t), bc2 = 1 - std::pow(kAdamBeta2, t);
  {
    at::NoGradGuard no_grad;
    for (size_t i = 0; i < s.params.size(); ++i) {
      at::Tensor& p = s.params[i].second;
      if (!p.grad().defined()) continue;
      at::Tensor g = p.grad() * clip;
      s.moment[i].mul_(kAdamBeta1).add_(g, 1 - kAdamBeta1);
      s.variance[i].mul_(kAdamBeta2).addcmul_(g, g, 1 - kAdamBeta2);
      if (is_decayed(s.params[i].first)) p.mul_(1 - lr * s.tc.weight_decay);
      at::Tensor denom = (s.variance[i] / bc2).sqrt_().add_(kAdamEps);
      p.addcdiv_(s.moment[i], denom, -lr / bc1);
    }
  }
  lt.stats.step = s.step;
  lt.stats.grad_norm = norm;
  lt.stats.lr = lr;
  ++s.step;
  return lt.stats;
}

TrainStepStats Trainer::evaluate(int64_t data_step) const {
  at::NoGradGuard no_grad;
  LossTerms lt = impl_->loss_on(impl_->generate_batch(data_step));
  lt.stats.step = data_step;
  return lt.stats;
}

int64_t Trainer::current_step() const { return impl_->step; }
void Trainer::set_schedule_position(double position) { impl_->schedule_position = position; }
const ModelConfig& Trainer::model_config() const { return impl_->mc; }
const TrainConfig& Trainer::config() const { return impl_->tc; }

void Trainer::save(const std::string& path) const {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (size_t i = 0; i < impl_->params.size(); ++i) {
    const std::string& name = impl_->params[i].first;
    tensors.emplace_back(kModelPrefix + name, impl_->params[i].second.detach().cpu());
    tensors.emplace_back(kMomentPrefix + name, impl_->moment[i].cpu());
    tensors.emplace_back(kVariancePrefix + name, impl_->variance[i].cpu());
  }
  std::map<std::string, MetaValue> meta;
  for (const auto& [k, v] : impl_->mc.to_pairs()) meta["arch." + k].s = v;
  meta["train.step"].kind = MetaValue::Kind::kInt;
  meta["train.step"].i = impl_->step;
  meta["train.seed"].kind = MetaValue::Kind::kInt;
  meta["train.seed"].i = static_cast<int64_t>(impl_->tc.seed);
  meta["license"].s = "Apache-2.0";
  for (const auto& [k, v] : impl_->model_meta) meta[k] = v;
  write_checkpoint(path, tensors, meta);
}

void Trainer::export_model(const std::string& path) const {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& [name, p] : impl_->params) tensors.emplace_back(name, p.detach().cpu());
  std::map<std::string, MetaValue> meta;
  for (const auto& [k, v] : impl_->mc.to_pairs()) meta["arch." + k].s = v;
  meta["trained_steps"].s = std::to_string(impl_->step);
  meta["license"].s = "Apache-2.0";
  for (const auto& [k, v] : impl_->model_meta) meta[k] = v;
  write_checkpoint(path, tensors, meta);
}

int run_training(const TrainConfig& config) {
  set_num_threads(config.threads);
  std::filesystem::create_directories(config.out_dir);
  const std::string ckpt = config.out_dir + "/checkpoint.ckpt";
  const std::string model = config.out_dir + "/model.cotrack";
  Trainer trainer = std::filesystem::exists(ckpt) ? Trainer::resume(ckpt, config) : Trainer(config);
  log_message(
      "{} | {} steps from step {} | {}clips {}f x {} points | {} "
             "threads | out {}",
             trainer.model_config().summary(), config.steps, trainer.current_step(),
             config.batch > 1 ? fmt::format("{} ", config.batch) : "", config.clip_frames,
             config.points, num_threads(), config.out_dir);
  if (config.long_clip_frames > 0) {
    log_message("{:.0f}% of clips have {} frames",
               100 * config.long_fraction, config.long_clip_frames);
  }
  if (!config.photos.empty()) {
    log_message("{:.0f}% of clips textured from the photos in {}",
               100 * config.photo_fraction, config.photos);
  }
  if (config.deform_fraction > 0 || config.articulated_fraction > 0 ||
      config.motion_blur_fraction > 0) {
    log_message("{:.0f}% of objects deform, {:.0f}% have a limb, {:.0f}% of clips have motion blur",
                100 * config.deform_fraction, 100 * config.articulated_fraction,
                100 * config.motion_blur_fraction);
  }
  if (config.follow_fraction > 0) {
    log_message("{:.0f}% of clips follow a subject (a fast pan behind a slow, large object)",
                100 * config.follow_fraction);
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::ofstream jsonl(config.out_dir + "/log.jsonl", std::ios::app);
  const auto start = std::chrono::steady_clock::now();
  auto minutes = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60;
  };
  double ema_loss = -1, ema_err = -1;
  const int64_t first = trainer.current_step();
  if (config.time_schedule && config.max_minutes <= 0) {
    throw UsageError("a time schedule needs a time limit (max_minutes > 0)");
  }
  while (trainer.current_step() < config.steps && !g_stop_requested &&
         (config.max_minutes <= 0 || minutes() < config.max_minutes)) {
    if (config.time_schedule) {
      trainer.set_schedule_position(static_cast<double>(first) +
                                    static_cast<double>(config.steps - first) *
                                        std::min(1.0, minutes() / config.max_minutes));
    }
    const TrainStepStats st = trainer.step();
    ema_loss = ema_loss < 0 ? st.loss : 0.95 * ema_loss + 0.05 * st.loss;
    ema_err = ema_err < 0 ? st.error_px : 0.95 * ema_err + 0.05 * st.error_px;
    jsonl << fmt::format(
        "{{\"step\":{},\"loss\":{:.5f},\"coord\":{:.5f},\"occluded\":{:.5f},\"vis\":{:.5f},"
        "\"conf\":{:.5f},\"error_px\":{:.4f},\"vis_acc\":{:.4f},\"grad_norm\":{:.4f},"
        "\"lr\":{:.3e},\"minutes\":{:.2f}}}\n",
        st.step, st.loss, st.coord, st.occluded, st.vis, st.conf, st.error_px, st.vis_accuracy,
        st.grad_norm, st.lr, minutes());
    const int64_t done = trainer.current_step();
    if (done % config.log_every == 0 || done == config.steps) {
      const double per_step = minutes() * 60 / static_cast<double>(done - first);
      log_message("step {}/{} loss {:.3f} (avg {:.3f}) err {:.2f}px (avg {:.2f}) vis acc {:.2f} "
                 "lr {:.1e} | {:.2f} s/step, ETA {:.1f} h",
                 done, config.steps, st.loss, ema_loss, st.error_px, ema_err, st.vis_accuracy,
                 st.lr, per_step, per_step * static_cast<double>(config.steps - done) / 3600);
      jsonl.flush();
    }
    if (done % config.save_every == 0 || done == config.steps) {
      trainer.save(ckpt);
      trainer.export_model(model);
    }
    if (config.keep_every > 0 && done % config.keep_every == 0) {
      trainer.export_model(fmt::format("{}/model-step-{}.cotrack", config.out_dir, done));
    }
  }
  trainer.save(ckpt);
  trainer.export_model(model);
  log_message("stopped at step {}; checkpoint {}, model {}",
             trainer.current_step(), ckpt, model);
  return g_stop_requested ? static_cast<int>(ExitCode::kInterrupted) : 0;
}

}  // namespace cotrack
