#include "cotrack/engine.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <map>

#include "cotrack/error.hpp"
#include "engine/motion_prior.hpp"
#include "engine/reacquire.hpp"
#include "engine/window_batcher.hpp"
#include "model/network.hpp"
#include "model/precision.hpp"
#include "model/preprocess.hpp"

namespace cotrack {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

// One estimate of one point on one frame, in model pixels and logits.
struct Estimate {
  float x = 0.f, y = 0.f, vis = 0.f, conf = 0.f;
};

// A frame held for the window: resized to the model resolution, its pyramid once encoded.
struct CachedFrame {
  int64_t index = 0;
  at::Tensor image;                // [3, Hm, Wm] float 0..255
  std::vector<at::Tensor> levels;  // per level [C, h_l, w_l]; empty until encoded
  at::Tensor gray;                 // [Hm, Wm], for the motion prior only
};

enum class PointKind { kUser, kGlobalGrid, kLocalGrid };

struct TrackPoint {
  PointId id = 0;
  PointKind kind = PointKind::kUser;
  PointId owner = -1;  // the user point a local-grid point belongs to
  int64_t query_frame = 0;
  float qx = 0.f, qy = 0.f;         // model px
  float vx = 0.f, vy = 0.f;         // video px, as given
  bool sampled = false;             // support features taken (the point has started)
  std::vector<at::Tensor> support;  // per level [R*R, C]
  int64_t est_first = 0;            // frame of est.front()
  std::deque<Estimate> est;         // contiguous frames est_first .. est_first + size - 1

  bool has(int64_t f) const {
    return !est.empty() && f >= est_first && f < est_first + static_cast<int64_t>(est.size());
  }
  int64_t last_frame() const { return est_first + static_cast<int64_t>(est.size()) - 1; }
  void set(int64_t f, const Estimate& e) {
    if (est.empty()) {
      est_first = f;
      est.push_back(e);
      return;
    }
    while (f > last_frame()) est.push_back(est.back());  // never happens with contiguous windows
    if (f < est_first) return;                           // older than what is kept
    est[static_cast<size_t>(f - est_first)] = e;
  }
  void trim_before(int64_t f) {
    while (!est.empty() && est_first < f && est.size() > 1) {
      est.pop_front();
      ++est_first;
    }
  }
};

}  // namespace

struct OnlineEngine::Impl {
  const Model& model;
  const Network& net;
  EngineConfig cfg;
  int S = 0, step = 0, iters = 0;
  int width = 0, height = 0;  // video size, fixed by the first frame
  float to_model_x = 1.f, to_model_y = 1.f, to_video_x = 1.f, to_video_y = 1.f;
  int64_t received = 0;       // frames pushed
  int64_t next_ind = 0;       // start of the next window
  int64_t covered_until = 0;  // frames < covered_until have been in a processed window
  int64_t final_until = 0;    // frames < final_until were handed to the sink
  int64_t next_grid_frame = 0;
  std::deque<CachedFrame> frames;
  std::vector<TrackPoint> points;  // insertion order (the order the joint model sees)
  PointId next_id = 0;
  std::function<void(const FrameEstimates&)> sink;
  std::shared_ptr<WindowBatcher> batcher;
  std::shared_ptr<const Snapshot> snap = std::make_shared<Snapshot>();
  EngineTimings times;

  Impl(const Model& m, EngineConfig c) : model(m), net(m.network()), cfg(std::move(c)) {
    cfg.validate();
    const ModelConfig& mc = net.config();
    S = mc.window_len;
    if (cfg.mode == EngineMode::kExact) {
      step = mc.step();
    } else {
      step = cfg.step == 0 ? 1 : cfg.step;
      if (step > mc.step()) {
        throw UsageError(
            fmt::format("engine: low-latency step {} exceeds window/2 = {}", step, mc.step()));
      }
    }
    iters = cfg.iters > 0 ? cfg.iters : mc.iters;
  }

  int user_points() const {
    return static_cast<int>(std::count_if(points.begin(), points.end(), [](const TrackPoint& p) {
      return p.kind == PointKind::kUser;
    }));
  }

  const CachedFrame* frame(int64_t index) const {
    for (const auto& f : frames) {
      if (f.index == index) return &f;
    }
    return nullptr;
  }

  int64_t oldest_frame() const { return frames.empty() ? received : frames.front().index; }

  // ---- points ------------------------------------------------------------------------------

  TrackPoint make_point(PointKind kind, int64_t frame_index, float mx, float my) {
    TrackPoint p;
    p.id = next_id++;
    p.kind = kind;
    p.query_frame = frame_index;
    p.qx = mx;
    p.qy = my;
    p.vx = mx * to_video_x;
    p.vy = my * to_video_y;
    return p;
  }

  void add_local_grid(const TrackPoint& owner) {
    const ModelConfig& mc = net.config();
    const int g = cfg.local_grid;
    const float half = cfg.local_grid_extent_px / 2;
    for (int i = 0; i < g; ++i) {
      for (int j = 0; j < g; ++j) {
        const float fx = g == 1 ? 0.f : -half + 2 * half * static_cast<float>(j) / (g - 1);
        const float fy = g == 1 ? 0.f : -half + 2 * half * static_cast<float>(i) / (g - 1);
        const float x = std::clamp(owner.qx + fx, 0.f, mc.model_width - 1.f);
        const float y = std::clamp(owner.qy + fy, 0.f, mc.model_height - 1.f);
        TrackPoint p = make_point(PointKind::kLocalGrid, owner.query_frame, x, y);
        p.owner = owner.id;
        points.push_back(std::move(p));
      }
    }
  }

  // Global support grid at `frame_index`, replacing the previous one (grids drift off screen).
  void seed_global_grid(int64_t frame_index) {
    if (cfg.support_grid <= 0) return;
    points.erase(
        std::remove_if(points.begin(), points.end(),
                       [](const TrackPoint& p) { return p.kind == PointKind::kGlobalGrid; }),
        points.end());
    const ModelConfig& mc = net.config();
    at::Tensor g = grid_queries(cfg.support_grid, mc.model_height, mc.model_width);
    for (int64_t i = 0; i < g.size(0); ++i) {
      points.push_back(make_point(PointKind::kGlobalGrid, frame_index, g[i][1].item<float>(),
                                  g[i][2].item<float>()));
    }
    next_grid_frame = frame_index + 8 * S;
  }

  // ---- frames and windows ------------------------------------------------------------------

  // Encodes the frames of [first, first + count) that have no pyramid yet, one frame at a time:
  // on CPU a batch of one runs about 25% faster per frame than a batch of eight (measured at
  // 384x512: 0.93 s against 1.16 s per frame), as its activations stay in cache. The official
  // code encodes 16 frames per batch; results differ by float rounding only (~1e-6).
  void encode(int64_t first, int count) {
    const auto t0 = Clock::now();
    for (auto& f : frames) {
      if (f.index < first || f.index >= first + count || !f.levels.empty()) continue;
      at::Tensor fmaps =
          Network::l2_normalize(net.encode(Network::normalize_frames(f.image.unsqueeze(0))));
      for (const auto& l : net.pyramid(fmaps)) f.levels.push_back(l[0]);
      times.frames_encoded += 1;
    }
    times.cnn_ms += ms_since(t0);
  }

  // One window [ind, ind + S) with `real` frames present (the rest repeat the last one).
  StepResult process(int64_t ind, int real) {
    const auto t0 = Clock::now();
    const Bf16Autocast autocast(cfg.precision == Precision::kBf16, net.device().type());
    const ModelConfig& mc = net.config();
    const int64_t C = mc.latent_dim;
    const int R2 = mc.corr_window() * mc.corr_window();
    StepResult result;
    for (int j = 0; j < real; ++j) result.window_frames.push_back(ind + j);
    covered_until = std::max(covered_until, ind + real);
    if (points.empty()) return result;

    const double cnn_before = times.cnn_ms;
    encode(ind, real);
    std::vector<at::Tensor> pyramid;  // per level [1, S, C, h, w], stored as [1, S, h, w, C]
    for (int l = 0; l < mc.corr_levels; ++l) {
      std::vector<at::Tensor> per_frame;
      for (int j = 0; j < S; ++j) {
        per_frame.push_back(frame(ind + std::min(j, real - 1))->levels[l].permute({1, 2, 0}));
      }
      // Channel-last, as the correlation gathers it: the window's copy is this stack alone.
      pyramid.push_back(at::stack(per_frame).permute({0, 3, 1, 2}).unsqueeze(0));
    }

    // Support features of points whose query frame is among this window's real frames.
    std::vector<TrackPoint*> to_sample;
    for (auto& p : points) {
      if (!p.sampled && p.query_frame >= ind && p.query_frame < ind + real) to_sample.push_back(&p);
    }
    if (!to_sample.empty()) {
      const int64_t M = static_cast<int64_t>(to_sample.size());
      std::vector<float> q;
      for (auto* p : to_sample) {
        q.insert(q.end(), {static_cast<float>(p->query_frame - ind), p->qx, p->qy});
      }
      at::Tensor pts = at::from_blob(q.data(), {1, M, 3}, at::kFloat).clone().to(net.device());
      at::Tensor t = pts.narrow(-1, 0, 1);
      at::Tensor qc = pts.narrow(-1, 1, 2) / mc.stride;
      for (int l = 0; l < mc.corr_levels; ++l) {
        at::Tensor level_pts = at::cat({t, qc / std::pow(2.0, l)}, -1);
        at::Tensor s = net.sample_support(pyramid[l], level_pts)[0];  // [R*R, M, C]
        for (int64_t m = 0; m < M; ++m) to_sample[m]->support.push_back(s.select(1, m));
      }
      for (auto* p : to_sample) p->sampled = true;
    }

    // Window tensors over all points, in insertion order.
    const int64_t N = static_cast<int64_t>(points.size());
    const std::vector<float> prior =
        cfg.motion_prior ? motion_prior(ind, real) : std::vector<float>{};
    auto prior_at = [&](int j, int64_t n, Estimate& e) {
      const float* c = &prior[static_cast<size_t>((j * N + n) * 2)];
      if (j >= real || !std::isfinite(c[0])) return;
      e.x = c[0];
      e.y = c[1];
      bound(e);
    };
    const std::vector<float> moved =
        cfg.reacquire ? reacquire_starts(ind, real, prior) : std::vector<float>{};
    std::vector<float> init(static_cast<size_t>(S * N * 4));
    for (int64_t n = 0; n < N; ++n) {
      const TrackPoint& p = points[n];
      const bool carry = carries(p, ind);
      for (int j = 0; j < S; ++j) {
        const int64_t f = ind + j;
        Estimate e{p.qx, p.qy, 0.f, 0.f};
        if (!carry && !prior.empty() && f > p.query_frame) prior_at(j, n, e);
        if (carry) {
          const int64_t last = p.last_frame();
          e = p.est[static_cast<size_t>(std::min(f, last) - p.est_first)];
          if (f > last && !prior.empty()) {
            prior_at(j, n, e);
          } else if (f > last && cfg.mode == EngineMode::kLowLatency && cfg.extrapolate &&
                     p.has(last - 1)) {
            const Estimate& prev = p.est[static_cast<size_t>(last - 1 - p.est_first)];
            const float k = static_cast<float>(f - last);
            float vx = e.x - prev.x, vy = e.y - prev.y;
            if (cfg.max_outside > 0) {
              // Only a point seen on its last frame keeps moving, and no faster than the bound.
              const float limit_x = cfg.max_outside * static_cast<float>(mc.model_width);
              const float limit_y = cfg.max_outside * static_cast<float>(mc.model_height);
              const bool seen = e.vis > 0.f;
              vx = seen ? std::clamp(vx, -limit_x, limit_x) : 0.f;
              vy = seen ? std::clamp(vy, -limit_y, limit_y) : 0.f;
            }
            e.x += k * vx;
            e.y += k * vy;
            bound(e);
          }
        }
        if (carry && f > p.last_frame() && !moved.empty() && std::isfinite(moved[2 * n])) {
          e.x = moved[static_cast<size_t>(2 * n)];
          e.y = moved[static_cast<size_t>(2 * n + 1)];
        }
        float* row = &init[static_cast<size_t>((j * N + n) * 4)];
        row[0] = e.x / static_cast<float>(mc.stride);
        row[1] = e.y / static_cast<float>(mc.stride);
        row[2] = e.vis;
        row[3] = e.conf;
      }
    }
    at::Tensor init_t =
        at::from_blob(init.data(), {1, S, N, 4}, at::kFloat).clone().to(net.device());
    at::Tensor coords_init = init_t.narrow(-1, 0, 2);
    at::Tensor vis_init = init_t.narrow(-1, 2, 1);
    at::Tensor conf_init = init_t.narrow(-1, 3, 1);
    std::vector<at::Tensor> support;
    for (int l = 0; l < mc.corr_levels; ++l) {
      std::vector<at::Tensor> per_point;
      for (const auto& p : points) {
        per_point.push_back(p.sampled ? p.support[l] : at::zeros({R2, C}, pyramid[l].options()));
      }
      support.push_back(at::stack(per_point, 1).view({1, 1, R2, N, C}));
    }

    StageTimes st;
    WindowOutput out;
    if (batcher) {
      WindowJob job{pyramid, coords_init, support, vis_init, conf_init, iters,
                    cfg.precision == Precision::kBf16};
      out = batcher->run(job, &st);
    } else {
      out = net.forward_window(pyramid, coords_init, support, vis_init, conf_init, iters, nullptr,
                               &st);
    }
    times.correlation_ms += st.correlation_ms;
    times.transformer_ms += st.transformer_ms;

    at::Tensor res = at::cat({out.coords.back()[0], out.vis.back()[0].unsqueeze(-1),
                              out.conf.back()[0].unsqueeze(-1)},
                             -1)
                         .to(at::kFloat)
                         .cpu()
                         .contiguous();  // [S, N, 4]
    const float* r = res.data_ptr<float>();
    for (int64_t n = 0; n < N; ++n) {
      TrackPoint& p = points[n];
      if (!p.sampled) continue;  // not started: the model's guesses for it are not kept
      for (int j = 0; j < real; ++j) {
        const float* v = r + (j * N + n) * 4;
        Estimate e{v[0], v[1], v[2], v[3]};
        bound(e);
        p.set(ind + j, e);
      }
    }
    times.windows += 1;
    times.other_ms +=
        ms_since(t0) - (times.cnn_ms - cnn_before) - st.correlation_ms - st.transformer_ms;
    result.status = StepResult::Status::kUpdated;
    return result;
  }

  // Whether window [ind, ...) starts point p from its estimates of earlier windows.
  static bool carries(const TrackPoint& p, int64_t ind) {
    return p.sampled && !p.est.empty() && p.last_frame() >= ind;
  }

  bool visible(const Estimate& m) const {
    return visible_by_rule(sigmoid(m.vis), sigmoid(m.conf), cfg.visibility_threshold,
                           cfg.confidence_weight);
  }

  // The motion prior for window [ind, ind + real): each point's start on the frames after its
  // anchor (its last estimate, or its query in its first window), chained frame to frame by the
  // shift of its neighbourhood. [S * N * 2] model px; NaN where there is none.
  std::vector<float> motion_prior(int64_t ind, int real) const {
    const int64_t N = static_cast<int64_t>(points.size());
    std::vector<int64_t> anchor(static_cast<size_t>(N), -1);
    std::vector<float> start(static_cast<size_t>(2 * N), 0.f);
    for (int64_t n = 0; n < N; ++n) {
      const TrackPoint& p = points[n];
      if (carries(p, ind)) {
        // A point called occluded stays put: its neighbourhood shows what hides it.
        const Estimate& e = p.est[static_cast<size_t>(p.last_frame() - p.est_first)];
        if (!visible(e)) continue;
        anchor[n] = p.last_frame();
        start[2 * n] = e.x;
        start[2 * n + 1] = e.y;
      } else if (p.query_frame >= ind) {
        anchor[n] = p.query_frame;
        start[2 * n] = p.qx;
        start[2 * n + 1] = p.qy;
      }
    }
    std::vector<float> chained = chain_patch_shifts(
        [this](int64_t f) {
          const CachedFrame* c = frame(f);
          return c != nullptr ? c->gray : at::Tensor();
        },
        ind, ind + real, anchor, start, kMotionPriorPatch);
    chained.resize(static_cast<size_t>(S * N * 2), std::nanf(""));  // frames >= real: none
    return chained;
  }

  // Re-acquisition (EngineConfig::reacquire) for window [ind, ind + real): for each user point
  // carried from the windows before, its query patch is matched over the first frame after its
  // estimates (at the finest level), against where it would start there (the motion prior's
  // start, else its last estimate). [N * 2] model px where it moves, NaN elsewhere.
  std::vector<float> reacquire_starts(int64_t ind, int real, const std::vector<float>& prior) const {
    const int64_t N = static_cast<int64_t>(points.size());
    std::vector<float> out(static_cast<size_t>(2 * N), std::nanf(""));
    const float cell = static_cast<float>(net.config().stride);  // level 0
    std::map<int64_t, std::vector<int64_t>> by_frame;  // first frame after the estimates
    for (int64_t n = 0; n < N; ++n) {
      const TrackPoint& p = points[n];
      if (p.kind != PointKind::kUser || !carries(p, ind)) continue;
      if (p.last_frame() + 1 < ind + real) by_frame[p.last_frame() + 1].push_back(n);
    }
    for (const auto& [f0, ns] : by_frame) {
      const CachedFrame* c = frame(f0);
      if (c == nullptr || c->levels.empty()) continue;
      std::vector<at::Tensor> templates;
      std::vector<float> start;
      for (int64_t n : ns) {
        const TrackPoint& p = points[n];
        templates.push_back(p.support[0]);
        const Estimate& e = p.est.back();  // its last estimate
        float sx = e.x, sy = e.y;
        if (!prior.empty()) {
          const float* pr = &prior[static_cast<size_t>(((f0 - ind) * N + n) * 2)];
          if (std::isfinite(pr[0])) {
            sx = pr[0];
            sy = pr[1];
          }
        }
        start.insert(start.end(), {sx / cell, sy / cell});
      }
      const auto found = reacquire(c->levels[0], at::stack(templates), start);
      for (size_t m = 0; m < ns.size(); ++m) {
        if (!found[m].moved) continue;
        out[static_cast<size_t>(2 * ns[m])] = found[m].x * cell;
        out[static_cast<size_t>(2 * ns[m] + 1)] = found[m].y * cell;
      }
    }
    return out;
  }

  // Pulls an estimate (model pixels) further than cfg.max_outside outside the picture back to
  // that margin and calls it occluded (a visibility logit of at most kOutsideVisLogit).
  void bound(Estimate& e) const {
    if (cfg.max_outside <= 0) return;
    constexpr float kOutsideVisLogit = -8.f;
    const ModelConfig& mc = net.config();
    const float mx = cfg.max_outside * static_cast<float>(mc.model_width);
    const float my = cfg.max_outside * static_cast<float>(mc.model_height);
    const float x = std::clamp(e.x, -mx, static_cast<float>(mc.model_width - 1) + mx);
    const float y = std::clamp(e.y, -my, static_cast<float>(mc.model_height - 1) + my);
    if (x != e.x || y != e.y || !std::isfinite(e.x) || !std::isfinite(e.y)) {
      e.x = std::isfinite(x) ? x : 0.5f * static_cast<float>(mc.model_width - 1);
      e.y = std::isfinite(y) ? y : 0.5f * static_cast<float>(mc.model_height - 1);
      e.vis = std::min(e.vis, kOutsideVisLogit);
    }
  }

  PointEstimate report(const TrackPoint& p, int64_t f) const {
    PointEstimate e;
    e.id = p.id;
    if (p.has(f) && p.sampled) {
      const Estimate& m = p.est[static_cast<size_t>(f - p.est_first)];
      e.x_px = m.x * to_video_x;
      e.y_px = m.y * to_video_y;
      e.visibility = sigmoid(m.vis);
      e.confidence = sigmoid(m.conf);
      e.visible = visible(m);
      e.estimated = true;
    } else {
      e.x_px = p.vx;
      e.y_px = p.vy;
    }
    return e;
  }

  // Hands frames < until to the sink, drops what no window or trail needs, publishes a snapshot.
  void finalize(int64_t until) {
    until = std::min(until, received);
    for (int64_t f = final_until; f < until; ++f) {
      if (!sink) continue;
      FrameEstimates fe;
      fe.frame_index = f;
      for (const auto& p : points) {
        if (p.kind == PointKind::kUser) fe.points.push_back(report(p, f));
      }
      sink(fe);
    }
    final_until = std::max(final_until, until);
    const int64_t keep_frames_from = std::min(next_ind, received - 1);
    while (!frames.empty() && frames.front().index < keep_frames_from) frames.pop_front();
    int64_t newest = -1;
    for (const auto& p : points) {
      if (p.sampled && !p.est.empty()) newest = std::max(newest, p.last_frame());
    }
    const int64_t keep_est_from = std::min(next_ind, newest - cfg.trail_frames + 1);
    for (auto& p : points) p.trim_before(std::min(keep_est_from, final_until));
    publish(newest);
  }

  void publish(int64_t newest) {
    auto s = std::make_shared<Snapshot>();
    s->newest_frame = newest;
    s->final_until = final_until;
    for (const auto& p : points) {
      if (p.kind != PointKind::kUser) continue;
      Snapshot::Track t;
      t.id = p.id;
      t.query_frame = p.query_frame;
      if (p.sampled && !p.est.empty()) {
        const int64_t from = std::max(p.est_first, p.last_frame() - cfg.trail_frames + 1);
        for (int64_t f = from; f <= p.last_frame(); ++f) {
          t.frames.push_back(f);
          t.estimates.push_back(report(p, f));
        }
      } else {
        // Before its first window a point is where it was placed, visible on its query frame
        // (not estimated): a click shows at once, also while no frame comes (paused).
        PointEstimate e = report(p, p.query_frame);
        e.visible = true;
        e.visibility = 1.f;
        e.confidence = 1.f;
        t.frames.push_back(p.query_frame);
        t.estimates.push_back(e);
      }
      s->tracks.push_back(std::move(t));
    }
    snap = std::move(s);
  }
};

OnlineEngine::OnlineEngine(const Model& model, EngineConfig config)
    : impl_(std::make_unique<Impl>(model, std::move(config))) {}
OnlineEngine::OnlineEngine(OnlineEngine&&) noexcept = default;
OnlineEngine& OnlineEngine::operator=(OnlineEngine&&) noexcept = default;
OnlineEngine::~OnlineEngine() = default;

int64_t OnlineEngine::push_frame(const uint8_t* rgb, int width, int height) {
  Impl& s = *impl_;
  if (width < 2 || height < 2 || rgb == nullptr) {
    throw InputError(fmt::format("frame {}: bad frame ({}x{})", s.received, width, height));
  }
  if (s.width == 0) {
    const ModelConfig& mc = s.net.config();
    s.width = width;
    s.height = height;
    s.to_model_x = static_cast<float>((mc.model_width - 1.0) / (width - 1.0));
    s.to_model_y = static_cast<float>((mc.model_height - 1.0) / (height - 1.0));
    s.to_video_x = static_cast<float>((width - 1.0) / (mc.model_width - 1.0));
    s.to_video_y = static_cast<float>((height - 1.0) / (mc.model_height - 1.0));
  } else if (width != s.width || height != s.height) {
    throw InputError(fmt::format("frame {}: size changed from {}x{} to {}x{} mid-stream",
                                 s.received, s.width, s.height, width, height));
  }
  c10::InferenceMode guard;
  CachedFrame f;
  f.index = s.received;
  at::Tensor img = at::from_blob(const_cast<uint8_t*>(rgb), {1, height, width, 3}, at::kByte)
                       .permute({0, 3, 1, 2})
                       .to(s.net.device())
                       .to(at::kFloat);
  f.image = resize_to_model(img, s.net.config())[0].contiguous();
  if (s.cfg.motion_prior) f.gray = f.image.mean(0);
  s.frames.push_back(std::move(f));
  if (s.cfg.support_grid > 0 && s.received >= s.next_grid_frame) s.seed_global_grid(s.received);
  return s.received++;
}

StepResult OnlineEngine::step() {
  Impl& s = *impl_;
  c10::InferenceMode guard;
  StepResult r;
  if (s.cfg.mode == EngineMode::kExact) {
    if (s.received < s.next_ind + s.S) return r;
    r = s.process(s.next_ind, s.S);
    s.next_ind += s.step;
    s.finalize(s.next_ind);
  } else {
    if (s.received - s.covered_until < s.step && s.covered_until > 0) return r;
    if (s.received == 0) return r;
    const int64_t ind = std::max<int64_t>(0, s.received - s.S);
    r = s.process(ind, static_cast<int>(s.received - ind));
    s.next_ind = std::max<int64_t>(0, s.received + s.step - s.S);
    s.finalize(s.next_ind);
  }
  if (r.status != StepResult::Status::kUpdated) r.status = StepResult::Status::kUpdated;
  r.snapshot = s.snap;
  return r;
}

StepResult OnlineEngine::flush() {
  Impl& s = *impl_;
  c10::InferenceMode guard;
  StepResult r;
  while (s.cfg.mode == EngineMode::kExact && s.received >= s.next_ind + s.S) {
    r = s.process(s.next_ind, s.S);
    s.next_ind += s.step;
    s.finalize(s.next_ind);
  }
  if (s.received > s.covered_until) {
    // Low-latency: the stream may end between two windows, when frames before received - S
    // were already let go; the last window then starts at the oldest frame still held.
    const int64_t ind = s.cfg.mode == EngineMode::kExact
                            ? s.next_ind
                            : std::max<int64_t>(s.oldest_frame(), s.received - s.S);
    r = s.process(ind, static_cast<int>(s.received - ind));
  }
  s.next_ind = s.received;
  s.finalize(s.received);
  r.status = StepResult::Status::kUpdated;
  r.snapshot = s.snap;
  return r;
}

AddPointResult OnlineEngine::add_point(int64_t frame_index, float x_px, float y_px) {
  Impl& s = *impl_;
  AddPointResult r;
  if (s.width == 0) {
    r.status = AddPointResult::Status::kNoFrames;
    r.message = "add point: no frame has arrived yet, so the image size is unknown";
    return r;
  }
  if (s.user_points() >= s.cfg.max_points) {
    r.status = AddPointResult::Status::kTooManyPoints;
    r.message = fmt::format("add point: already tracking the maximum of {} points (max_points)",
                            s.cfg.max_points);
    return r;
  }
  if (!(x_px >= 0 && y_px >= 0 && x_px <= s.width - 1 && y_px <= s.height - 1)) {
    r.status = AddPointResult::Status::kOutsideImage;
    r.message = fmt::format("add point: ({}, {}) is outside the {}x{} image", x_px, y_px, s.width,
                            s.height);
    return r;
  }
  // A point's support features come from its query frame, which must still be held (or come).
  const int64_t earliest = std::max(s.next_ind, s.oldest_frame());
  if (frame_index < earliest || frame_index < 0) {
    r.status = AddPointResult::Status::kFrameGone;
    r.message = fmt::format("add point: frame {} is no longer held (oldest usable: {})",
                            frame_index, earliest);
    return r;
  }
  TrackPoint p =
      s.make_point(PointKind::kUser, frame_index, x_px * s.to_model_x, y_px * s.to_model_y);
  p.vx = x_px;
  p.vy = y_px;
  r.id = p.id;
  s.points.push_back(p);
  if (s.cfg.local_grid > 0) s.add_local_grid(p);
  s.publish(s.snap->newest_frame);  // shown at once, also while no frame comes (paused)
  return r;
}

bool OnlineEngine::remove_point(PointId id) {
  Impl& s = *impl_;
  const auto before = s.points.size();
  s.points.erase(std::remove_if(s.points.begin(), s.points.end(),
                                [id](const TrackPoint& p) {
                                  return (p.kind == PointKind::kUser && p.id == id) ||
                                         (p.kind == PointKind::kLocalGrid && p.owner == id);
                                }),
                 s.points.end());
  const bool removed = s.points.size() != before;
  if (removed) s.publish(s.snap->newest_frame);
  return removed;
}

void OnlineEngine::reset() {
  Impl& s = *impl_;
  s.points.clear();
  s.next_grid_frame = s.received;
  s.publish(-1);
}

void OnlineEngine::reset_stream() {
  Impl& s = *impl_;
  s.points.clear();
  s.frames.clear();
  s.width = s.height = 0;
  s.received = s.next_ind = s.covered_until = s.final_until = s.next_grid_frame = 0;
  s.publish(-1);
}

void OnlineEngine::set_window_batcher(std::shared_ptr<WindowBatcher> batcher) {
  impl_->batcher = std::move(batcher);
}

std::shared_ptr<WindowBatcher> make_window_batcher(const Model& model, int max_batch,
                                                   double max_wait_ms) {
  if (!(max_wait_ms >= 0)) {
    throw UsageError(fmt::format("window batcher: max_wait_ms must be >= 0 (got {})", max_wait_ms));
  }
  return std::make_shared<WindowBatcher>(
      model.network(), max_batch,
      std::chrono::microseconds(static_cast<int64_t>(max_wait_ms * 1000.0)));
}

WindowBatcherStats window_batcher_stats(const WindowBatcher& batcher) { return batcher.stats(); }

void OnlineEngine::set_sink(std::function<void(const FrameEstimates&)> sink) {
  impl_->sink = std::move(sink);
}

std::shared_ptr<const Snapshot> OnlineEngine::snapshot() const { return impl_->snap; }
int OnlineEngine::num_points() const { return impl_->user_points(); }
int64_t OnlineEngine::frames_received() const { return impl_->received; }
const EngineConfig& OnlineEngine::config() const { return impl_->cfg; }
EngineTimings OnlineEngine::timings() const { return impl_->times; }
std::string OnlineEngine::name() const {
  return fmt::format("cotrack ({})", to_string(impl_->cfg.mode));
}

}  // namespace cotrack
