#include "engine/reference/online_window.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>

#include "cotrack/error.hpp"

namespace cotrack {

OfficialOnline::OfficialOnline(const Network& net, at::Tensor queries)
    : net_(net), queries_(queries.unsqueeze(0)) {}

void OfficialOnline::step(const at::Tensor& chunk, int iters, WindowRecord* record,
                          FirstWindowTrace* trace) {
  const ModelConfig& cfg = net_.config();
  const int S = cfg.window_len, step = cfg.step();
  const int64_t T = chunk.size(0);
  if (T > S || (ind_ > 0 && T < step)) {
    throw InputError(fmt::format("online step: chunk of {} frames (expected {}..{})", T,
                                 ind_ > 0 ? step : 1, S));
  }
  // Normalise and pad to S frames by repeating the last frame.
  at::Tensor video = Network::normalize_frames(chunk);
  if (T < S) {
    video = at::cat({video, video.narrow(0, T - 1, 1).expand({S - T, -1, -1, -1})}, 0);
  }
  at::Tensor fnet_out = net_.encode(video);
  std::vector<at::Tensor> levels = net_.pyramid(Network::l2_normalize(fnet_out));
  if (trace) trace->fnet_out = fnet_out;
  step_pyramid(levels, T, iters, record, trace);
}

void OfficialOnline::step_pyramid(const std::vector<at::Tensor>& levels, int64_t T, int iters,
                                  WindowRecord* record, FirstWindowTrace* trace) {
  const ModelConfig& cfg = net_.config();
  const int S = cfg.window_len, step = cfg.step();
  const int64_t N = queries_.size(1);
  const int64_t C = cfg.latent_dim;
  if (static_cast<int64_t>(levels.size()) != cfg.corr_levels || levels[0].size(0) != S) {
    throw InputError(fmt::format("online step: expected {} pyramid levels of {} frames",
                                 cfg.corr_levels, S));
  }
  if (T < 1 || T > S || (ind_ > 0 && T < step)) {
    throw InputError(fmt::format("online step: chunk of {} frames (expected {}..{})", T,
                                 ind_ > 0 ? step : 1, S));
  }
  const auto opts = levels[0].options();
  const at::Tensor qf = queries_.select(-1, 0).to(at::kLong);  // [1, N]
  const at::Tensor qc = queries_.narrow(-1, 1, 2) / cfg.stride;  // [1, N, 2] feature units

  if (!coords_.defined()) {
    coords_ = at::zeros({1, T, N, 2}, opts);
    vis_ = at::zeros({1, T, N}, opts);
    conf_ = at::zeros({1, T, N}, opts);
  } else {
    const int64_t pad = std::min<int64_t>(step, T - step);
    coords_ = at::constant_pad_nd(coords_, {0, 0, 0, 0, 0, pad});
    vis_ = at::constant_pad_nd(vis_, {0, 0, 0, pad});
    conf_ = at::constant_pad_nd(conf_, {0, 0, 0, pad});
  }

  std::vector<at::Tensor> pyramid;  // [1, S, C, h, w]
  for (const auto& l : levels) pyramid.push_back(l.reshape({1, S, C, l.size(2), l.size(3)}));

  const at::Tensor sample_frames = qf.view({1, 1, N, 1});
  const int left = ind_ == 0 ? 0 : ind_ + step, right = ind_ + S;
  const at::Tensor sample_mask = (sample_frames >= left) & (sample_frames < right);
  const at::Tensor attention_mask = (qf < ind_ + S).reshape({1, 1, N});

  std::vector<at::Tensor> window_support;
  for (int l = 0; l < cfg.corr_levels; ++l) {
    at::Tensor points = at::cat({(qf - ind_).unsqueeze(-1).to(at::kFloat), qc / std::pow(2.0, l)}, -1);
    at::Tensor support = net_.sample_support(pyramid[l], points);  // [1, R*R, N, C]
    if (support_.size() <= static_cast<size_t>(l)) support_.push_back(at::zeros_like(support));
    support_[l] += support * sample_mask;
    window_support.push_back(attention_mask.unsqueeze(1).unsqueeze(-1) * support_[l].unsqueeze(1));
  }

  at::Tensor vis_init = at::zeros({1, S, N, 1}, opts);
  at::Tensor conf_init = at::zeros({1, S, N, 1}, opts);
  at::Tensor coords_init = qc.reshape({1, 1, N, 2}).expand({1, S, N, 2});
  if (ind_ > 0) {
    carry_over_estimates(qf[0], ind_, cfg, coords_, vis_.unsqueeze(-1), conf_.unsqueeze(-1),
                         coords_init, vis_init, conf_init);
  }

  WindowOutput out = net_.forward_window(pyramid, coords_init, window_support, vis_init, conf_init,
                                         iters, trace ? &trace->stages : nullptr);
  coords_.narrow(1, ind_, T).copy_(out.coords.back().narrow(1, 0, T));
  vis_.narrow(1, ind_, T).copy_(out.vis.back().narrow(1, 0, T));
  conf_.narrow(1, ind_, T).copy_(out.conf.back().narrow(1, 0, T));

  if (record) {
    record->coords_init = coords_init[0];
    record->vis_init = vis_init[0].select(-1, 0);
    record->conf_init = conf_init[0].select(-1, 0);
    record->coords = out.coords.back()[0];
    record->vis_logit = out.vis.back()[0];
    record->conf_logit = out.conf.back()[0];
  }
  if (trace) {
    trace->pyramid = levels;
    trace->support.clear();
    for (const auto& s : window_support) trace->support.push_back(s[0][0]);
    trace->iterations = out;
  }
  ind_ += step;
}

}  // namespace cotrack
