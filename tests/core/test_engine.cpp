// The online engine: exact mode against the official streaming output, and the stream
// operations (points added, removed, reset at any time; support points; limits; memory).
#include "test_common.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <memory>
#include <utility>

#include "cotrack/engine.hpp"
#include "cotrack/error.hpp"
#include "cotrack/evaluation.hpp"
#include "cotrack/model.hpp"
#include "cotrack/runtime.hpp"
#include "cotrack/synth.hpp"
#include "engine/motion_prior.hpp"
#include "engine/reacquire.hpp"

using cotrack::test::get;

namespace {

// All final estimates a sink received, by frame then point id.
struct Collected {
  std::map<int64_t, std::map<cotrack::PointId, cotrack::PointEstimate>> rows;
  int64_t calls = 0;
  int64_t last_frame = -1;
  bool in_order = true;
};

void attach(cotrack::OnlineEngine& e, Collected& c) {
  e.set_sink([&c](const cotrack::FrameEstimates& fe) {
    c.in_order = c.in_order && fe.frame_index == c.last_frame + 1;
    c.last_frame = fe.frame_index;
    ++c.calls;
    for (const auto& p : fe.points) c.rows[fe.frame_index][p.id] = p;
  });
}

cotrack::Model small_random_model() {
  cotrack::ModelConfig c = cotrack::ModelConfig::preset_named("cotrack-small");
  c.model_height = 64;
  c.model_width = 64;
  return cotrack::Model::random(c, 11);
}

cotrack::SynthClip small_clip(int frames, int points, uint64_t seed) {
  cotrack::SynthParams p;
  p.width = 64;
  p.height = 64;
  p.frames = frames;
  p.num_points = points;
  return cotrack::generate_clip(p, seed);
}

}  // namespace

TEST_SUITE("parity") {
  TEST_CASE("engine: exact mode, fed frame by frame, reproduces small.pt's streaming tracks") {
    const std::string model_path = cotrack::test::fixture_or_skip("cotracker3/random_online.pth");
    const std::string path = cotrack::test::fixture_or_skip("cotracker3/small.pt");
    if (model_path.empty() || path.empty()) return;
    auto fx = cotrack::test::load_fixture_dict(path);
    cotrack::Model model = cotrack::Model::load(model_path);
    model.set_resolution(96, 128);
    cotrack::OnlineEngine engine(model, cotrack::EngineConfig{});
    Collected got;
    attach(engine, got);

    at::Tensor video = get(fx, "video").permute({0, 2, 3, 1}).contiguous();  // [T, H, W, 3]
    at::Tensor queries = get(fx, "queries");
    const int64_t T = video.size(0), N = queries.size(0);
    const int H = static_cast<int>(video.size(1)), W = static_cast<int>(video.size(2));
    std::vector<cotrack::PointId> ids;
    for (int64_t t = 0; t < T; ++t) {
      engine.push_frame(video[t].data_ptr<uint8_t>(), W, H);
      if (t == 0) {  // all queries known up front, as the official predictor has them
        for (int64_t n = 0; n < N; ++n) {
          auto r = engine.add_point(static_cast<int64_t>(queries[n][0].item<float>()),
                                    queries[n][1].item<float>(), queries[n][2].item<float>());
          REQUIRE(r.status == cotrack::AddPointResult::Status::kOk);
          ids.push_back(r.id);
        }
      }
      engine.step();
    }
    engine.flush();
    CHECK(got.in_order);
    CHECK(got.calls == T);

    at::Tensor ref_xy = get(fx, "tracks"), ref_vis = get(fx, "vis_prob"),
               ref_conf = get(fx, "conf"), ref_visible = get(fx, "vis");
    double max_xy = 0, max_prob = 0;
    int64_t compared = 0, flips = 0;
    for (int64_t n = 0; n < N; ++n) {
      const int64_t qf = static_cast<int64_t>(queries[n][0].item<float>());
      const int64_t start_window = qf < 16 ? 0 : (qf - 8) / 8 * 8;  // first window sampling it
      for (int64_t t = 0; t < T; ++t) {
        const auto& e = got.rows.at(t).at(ids[n]);
        CHECK(e.estimated == (t >= start_window));
        if (!e.estimated) {
          CHECK_FALSE(e.visible);
          continue;
        }
        max_xy = std::max({max_xy, std::abs(e.x_px - ref_xy[t][n][0].item<double>()),
                           std::abs(e.y_px - ref_xy[t][n][1].item<double>())});
        max_prob = std::max({max_prob, std::abs(e.visibility - ref_vis[t][n].item<double>()),
                             std::abs(e.confidence - ref_conf[t][n].item<double>())});
        flips += e.visible != (ref_visible[t][n].item<int>() != 0);
        ++compared;
      }
    }
    MESSAGE("engine vs official: " << compared << " rows, tracks " << max_xy << " px, probs "
                                   << max_prob << ", visibility flips " << flips);
    CHECK(compared == 380);  // every row from each point's first window on
    CHECK(max_xy <= 1e-3);
    CHECK(max_prob <= 1e-4);
    CHECK(flips == 0);
  }
}

TEST_SUITE("unit") {
  TEST_CASE("engine: points added mid-stream start at their frame; removal and reset") {
    cotrack::Model model = small_random_model();
    cotrack::OnlineEngine engine(model, cotrack::EngineConfig{});
    Collected got;
    attach(engine, got);
    const auto clip = small_clip(40, 4, 3);
    cotrack::PointId a = -1, b = -1;
    for (int t = 0; t < clip.frames; ++t) {
      engine.push_frame(clip.frame(t), clip.width, clip.height);
      if (t == 0) a = engine.add_point(0, 10.f, 20.f).id;
      if (t == 13) b = engine.add_point(13, 30.f, 31.f).id;
      if (t == 30) CHECK(engine.remove_point(a));
      engine.step();
    }
    engine.flush();
    CHECK(got.calls == clip.frames);
    CHECK(got.in_order);
    // The small preset's window is 8 frames with step 4. a: estimated from frame 0 until
    // removed. b (added on frame 13): frames 0..7 were final before it existed, so they do not
    // list it; window [8, 16) samples its frame 13 and estimates it from frame 8 on.
    CHECK(got.rows.at(0).at(a).estimated);
    CHECK(got.rows.at(5).count(b) == 0);
    CHECK(got.rows.at(8).at(b).estimated);
    CHECK(got.rows.at(12).at(b).estimated);
    CHECK(got.rows.at(39).count(a) == 0);
    CHECK(got.rows.at(39).at(b).estimated);
    CHECK(engine.num_points() == 1);
    CHECK_FALSE(engine.remove_point(a));
    engine.reset();
    CHECK(engine.num_points() == 0);
    CHECK(engine.snapshot()->tracks.empty());
  }

  TEST_CASE("engine: a point shows in the snapshot as soon as it is added, before any window") {
    // The live app draws a click from the snapshot: with no further frame (paused), the point
    // must be there, at its query and visible, yet not claimed as estimated.
    cotrack::Model model = small_random_model();
    cotrack::EngineConfig cfg;
    cfg.mode = cotrack::EngineMode::kLowLatency;
    cotrack::OnlineEngine engine(model, cfg);
    const auto clip = small_clip(12, 4, 3);
    for (int t = 0; t < 6; ++t) {
      engine.push_frame(clip.frame(t), clip.width, clip.height);
      engine.step();
    }
    const cotrack::PointId id = engine.add_point(5, 17.5f, 23.25f).id;
    auto snap = engine.snapshot();
    REQUIRE(snap->tracks.size() == 1);
    const auto& t = snap->tracks[0];
    CHECK(t.id == id);
    REQUIRE(t.frames.size() == 1);
    CHECK(t.frames[0] == 5);
    CHECK(t.estimates[0].x_px == 17.5f);
    CHECK(t.estimates[0].y_px == 23.25f);
    CHECK(t.estimates[0].visible);
    CHECK_FALSE(t.estimates[0].estimated);
    // Once a window has run, the snapshot holds the network's estimates instead.
    for (int t2 = 6; t2 < 12; ++t2) {
      engine.push_frame(clip.frame(t2), clip.width, clip.height);
      engine.step();
    }
    snap = engine.snapshot();
    REQUIRE(snap->tracks.size() == 1);
    CHECK(snap->tracks[0].frames.back() == 11);
    CHECK(snap->tracks[0].estimates.back().estimated);
  }

  TEST_CASE("engine: support points are tracked jointly but never reported") {
    cotrack::Model model = small_random_model();
    cotrack::EngineConfig cfg;
    cfg.support_grid = 3;
    cfg.local_grid = 2;
    cotrack::OnlineEngine engine(model, cfg);
    Collected got;
    attach(engine, got);
    const auto clip = small_clip(16, 2, 4);
    for (int t = 0; t < clip.frames; ++t) {
      engine.push_frame(clip.frame(t), clip.width, clip.height);
      if (t == 0) {
        engine.add_point(0, 12.f, 12.f);
        engine.add_point(0, 40.f, 33.f);
      }
      engine.step();
    }
    engine.flush();
    CHECK(engine.num_points() == 2);
    for (const auto& [f, row] : got.rows) CHECK(row.size() == 2);
    CHECK(engine.snapshot()->tracks.size() == 2);
  }

  TEST_CASE("engine: limits and bad input give clear results, not crashes") {
    cotrack::Model model = small_random_model();
    cotrack::EngineConfig cfg;
    cfg.max_points = 2;
    cotrack::OnlineEngine engine(model, cfg);
    const auto clip = small_clip(30, 1, 5);
    CHECK(engine.add_point(0, 1.f, 1.f).status == cotrack::AddPointResult::Status::kNoFrames);
    engine.push_frame(clip.frame(0), clip.width, clip.height);
    CHECK(engine.add_point(0, 1.f, 1.f).status == cotrack::AddPointResult::Status::kOk);
    CHECK(engine.add_point(0, 2.f, 1.f).status == cotrack::AddPointResult::Status::kOk);
    auto r = engine.add_point(0, 3.f, 1.f);
    CHECK(r.status == cotrack::AddPointResult::Status::kTooManyPoints);
    CHECK(r.message.find("max_points") != std::string::npos);
    engine.reset();
    CHECK(engine.add_point(0, -1.f, 1.f).status == cotrack::AddPointResult::Status::kOutsideImage);
    CHECK(engine.add_point(0, 64.f, 1.f).status == cotrack::AddPointResult::Status::kOutsideImage);
    for (int t = 1; t < 30; ++t) {
      engine.push_frame(clip.frame(t), clip.width, clip.height);
      engine.step();
    }
    CHECK(engine.add_point(0, 5.f, 5.f).status == cotrack::AddPointResult::Status::kFrameGone);
    std::vector<uint8_t> other(32 * 32 * 3);
    CHECK_THROWS_AS(engine.push_frame(other.data(), 32, 32), cotrack::InputError);
    engine.reset_stream();
    CHECK_NOTHROW(engine.push_frame(other.data(), 32, 32));
    cotrack::EngineConfig bad;
    bad.max_points = 0;
    CHECK_THROWS_AS(cotrack::OnlineEngine(model, bad), cotrack::UsageError);
    bad = cotrack::EngineConfig{};
    bad.mode = cotrack::EngineMode::kLowLatency;
    bad.step = 9;
    CHECK_THROWS_AS(cotrack::OnlineEngine(model, bad), cotrack::UsageError);
  }

  TEST_CASE("engine: low-latency mode has an estimate for every frame as it arrives") {
    cotrack::Model model = small_random_model();
    cotrack::EngineConfig cfg;
    cfg.mode = cotrack::EngineMode::kLowLatency;
    cfg.step = 1;
    cfg.iters = 2;
    cotrack::OnlineEngine engine(model, cfg);
    Collected got;
    attach(engine, got);
    const auto clip = small_clip(20, 1, 6);
    for (int t = 0; t < clip.frames; ++t) {
      engine.push_frame(clip.frame(t), clip.width, clip.height);
      if (t == 0) engine.add_point(0, 20.f, 20.f);
      auto r = engine.step();
      REQUIRE(r.snapshot);
      CHECK(r.snapshot->newest_frame == t);  // the newest frame is estimated at once
      CHECK(r.window_frames.back() == t);
    }
    engine.flush();
    CHECK(got.calls == clip.frames);
    CHECK(got.in_order);
  }

  TEST_CASE("engine: the visibility rule weighs the confidence as configured") {
    // The rule itself: visibility * confidence^w > threshold.
    CHECK_FALSE(cotrack::visible_by_rule(0.9f, 0.3f, 0.4, 1.0));  // 0.27
    CHECK(cotrack::visible_by_rule(0.9f, 0.3f, 0.4, 0.0));        // 0.9
    CHECK(cotrack::visible_by_rule(0.9f, 0.3f, 0.4, 0.5));        // 0.49
    CHECK_FALSE(cotrack::visible_by_rule(0.9f, 0.3f, 0.5, 0.5));
    CHECK_FALSE(cotrack::visible_by_rule(0.3f, 1.0f, 0.4, 0.0));
    // Weight 1 is the official float product exactly.
    at::manual_seed(3);
    const at::Tensor v = at::rand({1000}), c = at::rand({1000});
    int differ = 0;
    for (int64_t i = 0; i < 1000; ++i) {
      const float vi = v[i].item<float>(), ci = c[i].item<float>();
      differ += cotrack::visible_by_rule(vi, ci, 0.4, 1.0) != (vi * ci > 0.4);
    }
    CHECK(differ == 0);
    // The engine reports `visible` by the configured rule, and the weight changes the calls.
    cotrack::Model model = small_random_model();
    std::map<double, int> visible_count;
    for (const double w : {1.0, 0.0}) {
      cotrack::EngineConfig cfg;
      cfg.visibility_threshold = 0.3;
      cfg.confidence_weight = w;
      cotrack::OnlineEngine engine(model, cfg);
      Collected got;
      attach(engine, got);
      const auto clip = small_clip(16, 8, 9);
      for (int t = 0; t < clip.frames; ++t) {
        engine.push_frame(clip.frame(t), clip.width, clip.height);
        if (t == 0) {
          for (int n = 0; n < 8; ++n) engine.add_point(0, 8.f + 6.f * n, 10.f + 5.f * n);
        }
        engine.step();
      }
      engine.flush();
      int estimated = 0, by_rule = 0;
      for (const auto& [f, row] : got.rows) {
        for (const auto& [id, e] : row) {
          if (!e.estimated || f == 0) continue;  // the query frame is visible by definition
          ++estimated;
          by_rule += e.visible == cotrack::visible_by_rule(static_cast<float>(e.visibility),
                                                           static_cast<float>(e.confidence), 0.3,
                                                           w);
          visible_count[w] += e.visible;
        }
      }
      REQUIRE(estimated > 0);
      CHECK(by_rule == estimated);
    }
    MESSAGE("visible estimates: weight 1 " << visible_count[1.0] << ", weight 0 "
                                           << visible_count[0.0]);
    CHECK(visible_count[0.0] > visible_count[1.0]);
    cotrack::EngineConfig bad;
    bad.confidence_weight = 1.5;
    CHECK_THROWS_AS(bad.validate(), cotrack::UsageError);
  }

  TEST_CASE("engine: group attention (no virtual tracks) tracks points jointly") {
    cotrack::ModelConfig c = cotrack::ModelConfig::preset_named("cotrack-small-group");
    c.model_height = 64;
    c.model_width = 64;
    cotrack::Model model = cotrack::Model::random(c, 12);
    CHECK(model.config().num_virtual_tracks == 0);
    CHECK(model.config().summary().find("group attention") != std::string::npos);
    const auto clip = small_clip(12, 1, 8);
    // The estimate of a point on the last frame, tracked alone or next to a second point.
    auto last_x = [&](bool with_second) {
      cotrack::OnlineEngine engine(model, cotrack::EngineConfig{});
      Collected got;
      attach(engine, got);
      for (int t = 0; t < clip.frames; ++t) {
        engine.push_frame(clip.frame(t), clip.width, clip.height);
        if (t == 0) {
          engine.add_point(0, 20.f, 20.f);
          if (with_second) engine.add_point(0, 40.f, 30.f);
        }
        engine.step();
      }
      engine.flush();
      REQUIRE(got.calls == clip.frames);
      return got.rows[clip.frames - 1][0].x_px;
    };
    const float alone = last_x(false), joint = last_x(true);
    CHECK(std::isfinite(alone));
    CHECK(alone != joint);  // the second point reaches the first through the space attention
    CHECK(last_x(false) == alone);
  }

  TEST_CASE("engine: low-latency flush between windows uses only frames still held") {
    // With step > 1 the stream can end between two windows; the last window must then start
    // at a frame the engine still holds (this crashed the live app at its end of stream).
    cotrack::Model model = small_random_model();
    for (int step : {2, 3, 4}) {
      for (int frames : {9, 10, 11, 12, 13}) {
        cotrack::EngineConfig cfg;
        cfg.mode = cotrack::EngineMode::kLowLatency;
        cfg.step = step;
        cfg.iters = 1;
        cotrack::OnlineEngine engine(model, cfg);
        Collected got;
        attach(engine, got);
        const auto clip = small_clip(frames, 1, 7);
        for (int t = 0; t < clip.frames; ++t) {
          engine.push_frame(clip.frame(t), clip.width, clip.height);
          if (t == 0) engine.add_point(0, 20.f, 20.f);
          engine.step();
        }
        engine.flush();
        CHECK(got.calls == clip.frames);
        CHECK(got.in_order);
        CHECK(got.rows[frames - 1].begin()->second.estimated);
      }
    }
  }
}

TEST_SUITE("unit") {
  TEST_CASE("engine: estimates stay within the margin outside the picture in every mode") {
    // Random weights move points arbitrarily: without a bound they leave the picture for good.
    cotrack::Model model = small_random_model();
    const auto clip = small_clip(64, 9, 5);
    struct Mode {
      cotrack::EngineMode mode;
      int step;
    } modes[] = {{cotrack::EngineMode::kExact, 0},
                 {cotrack::EngineMode::kLowLatency, 1},
                 {cotrack::EngineMode::kLowLatency, 2}};
    for (const auto& m : modes) {
      // The motion prior (cotrack's own models' default) takes the extrapolation's place.
      for (const auto [max_outside, prior] :
           {std::pair{0.25f, false}, std::pair{0.0f, false}, std::pair{0.25f, true}}) {
        CAPTURE(static_cast<int>(m.mode));
        CAPTURE(m.step);
        CAPTURE(max_outside);
        CAPTURE(prior);
        cotrack::EngineConfig cfg;
        cfg.mode = m.mode;
        cfg.step = m.step;
        cfg.iters = 1;
        cfg.max_outside = max_outside;
        cfg.motion_prior = prior;
        cotrack::OnlineEngine engine(model, cfg);
        Collected got;
        attach(engine, got);
        for (int i = 0; i < 400; ++i) {
          const int k = i % 126, t = k < 64 ? k : 126 - k;  // back and forth
          engine.push_frame(clip.frame(t), clip.width, clip.height);
          if (i == 0) {
            for (int n = 0; n < 9; ++n)
              engine.add_point(0, 12.f + 20 * (n % 3), 12.f + 20 * (n / 3));
          }
          engine.step();
        }
        engine.flush();
        REQUIRE(got.calls == 400);
        const float margin_x = 0.25f * clip.width, margin_y = 0.25f * clip.height;
        int beyond = 0, beyond_visible = 0, at_margin = 0;
        for (const auto& [f, row] : got.rows) {
          for (const auto& [id, e] : row) {
            const bool far =
                e.x_px < -margin_x - 1e-3f || e.x_px > clip.width - 1 + margin_x + 1e-3f ||
                e.y_px < -margin_y - 1e-3f || e.y_px > clip.height - 1 + margin_y + 1e-3f;
            beyond += far;
            beyond_visible += far && e.visible;
            const bool edge = std::abs(e.x_px + margin_x) < 1e-3f ||
                              std::abs(e.x_px - (clip.width - 1 + margin_x)) < 1e-3f ||
                              std::abs(e.y_px + margin_y) < 1e-3f ||
                              std::abs(e.y_px - (clip.height - 1 + margin_y)) < 1e-3f;
            if (edge && max_outside > 0) {
              ++at_margin;
              CHECK_FALSE(e.visible);  // pulled back to the margin: called occluded
            }
          }
        }
        if (max_outside > 0) {
          CHECK(beyond == 0);
        } else if (m.mode == cotrack::EngineMode::kLowLatency) {
          // Unbounded, the extrapolation feeds on itself: the bound is what keeps them in.
          CHECK(beyond > 0);
        }
        MESSAGE("mode " << static_cast<int>(m.mode) << " step " << m.step << " max_outside "
                        << max_outside << " motion prior " << prior << ": " << beyond
                        << " estimates beyond the margin, " << at_margin << " held at it");
      }
    }
    cotrack::EngineConfig bad;
    bad.max_outside = -1.f;
    CHECK_THROWS_AS(bad.validate(), cotrack::UsageError);
  }
}

TEST_SUITE("slow") {
  TEST_CASE("engine: memory stays flat over a 10,000-frame stream") {
    cotrack::ModelConfig c = cotrack::ModelConfig::preset_named("cotrack-small");
    c.model_height = 32;
    c.model_width = 32;
    cotrack::Model model = cotrack::Model::random(c, 1);
    cotrack::EngineConfig cfg;
    cfg.trail_frames = 64;
    cfg.iters = 1;  // memory, not accuracy, is under test: keep the 10,000 frames quick
    cotrack::OnlineEngine engine(model, cfg);
    int64_t sunk = 0;
    engine.set_sink([&sunk](const cotrack::FrameEstimates& fe) { sunk += !fe.points.empty(); });
    const auto clip = small_clip(64, 16, 9);  // 64x64 frames, looped back and forth
    double warm = 0;
    for (int i = 0; i < 10000; ++i) {
      const int k = i % 126, t = k < 64 ? k : 126 - k;
      engine.push_frame(clip.frame(t), clip.width, clip.height);
      if (i == 0) {
        for (int n = 0; n < 16; ++n) {
          REQUIRE(engine.add_point(0, 8.f + 12 * (n % 4), 8.f + 12 * (n / 4)).status ==
                  cotrack::AddPointResult::Status::kOk);
        }
      }
      if (i == 5000) {  // replace half of the points mid-stream
        for (int n = 0; n < 8; ++n) engine.remove_point(n);
        for (int n = 0; n < 8; ++n) engine.add_point(i, 10.f + n, 20.f);
      }
      engine.step();
      if (i == 1000) warm = cotrack::process_memory_mib("VmRSS:");
    }
    engine.flush();
    const double end = cotrack::process_memory_mib("VmRSS:");
    MESSAGE("RSS after 1,000 frames " << warm << " MiB, after 10,000 frames " << end << " MiB");
    CHECK(sunk == 10000);
    CHECK(end <= warm * 1.05 + 4.0);
    CHECK(engine.snapshot()->tracks.size() == 16);
    for (const auto& t : engine.snapshot()->tracks) CHECK(t.frames.size() <= 64);
  }
}

TEST_SUITE("unit") {
  TEST_CASE("runtime: OpenBLAS never runs its generic kernels on a CPU with AVX2 and FMA") {
    // main() called pick_blas_kernels, as every cotrack program does. On a CPU that OpenBLAS
    // 0.3.21 does not know (Sapphire Rapids) it would otherwise pick "Prescott" (SSE3), 3 to 4
    // times slower in the transformer's matmuls.
    const std::string core = cotrack::blas_core();
    MESSAGE("OpenBLAS kernels: " << (core.empty() ? std::string("(not OpenBLAS)") : core));
    __builtin_cpu_init();
    if (core.empty() || !__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return;
    CHECK_FALSE(cotrack::is_generic_blas_core(core));
  }
}

TEST_SUITE("unit") {
  TEST_CASE("motion prior: phase correlation finds each neighbourhood's shift") {
    // Two renderings of the generator's background alone (no objects, noise, blur or lighting
    // change), each moved by its own known shift a frame at 256x256. The picture is the first
    // rendering's left half beside the second's right half: two regions that move differently.
    const struct {
      double dx, dy;
    } left[] = {{3.4, -1.7}, {-9.0, 0.0}, {0.0, 6.5}, {-14.2, 4.3}, {0.3, 0.2}},
      right[] = {{-5.0, 2.0}, {7.5, -3.0}, {0.0, 0.0}, {12.0, 9.0}, {-2.6, 0.0}};
    const int n = static_cast<int>(std::size(left));
    auto render = [&](const auto& shifts, uint64_t seed) {
      cotrack::SynthParams p;
      p.width = p.height = 256;
      p.frames = n + 1;
      p.min_objects = p.max_objects = 0;
      p.motion = cotrack::SynthMotion::kTranslation;
      p.noise = p.blur = p.brightness_change = false;
      cotrack::SynthScene scene = cotrack::build_synth_scene(p, seed);
      REQUIRE(scene.layers.size() == 1);
      auto& transform = scene.layers[0].transform;
      const cotrack::Homography start = transform[0];
      double ox = 0, oy = 0;
      for (int t = 0; t <= n; ++t) {
        if (t > 0) {
          ox += shifts[t - 1].dx;
          oy += shifts[t - 1].dy;
        }
        transform[t] =
            cotrack::homography_multiply(cotrack::homography_translation(ox, oy), start);
      }
      return cotrack::render_synth_clip(scene, cotrack::sample_synth_points(scene, 4, 1.0, seed));
    };
    const cotrack::SynthClip a = render(left, 17), b = render(right, 23);
    auto gray = [](const cotrack::SynthClip& c, int t) {
      return at::from_blob(const_cast<uint8_t*>(c.frame(t)), {c.height, c.width, 3}, at::kByte)
          .to(at::kFloat)
          .mean(-1);
    };
    auto picture = [&](int t) {
      return at::cat({gray(a, t).narrow(1, 0, 128), gray(b, t).narrow(1, 128, 128)}, 1);
    };
    // A 256x256 patch around the centre of a 256x256 picture is the picture.
    auto whole_shift = [](const at::Tensor& from, const at::Tensor& to) {
      return cotrack::patch_shifts(from, to, at::tensor({128.f, 128.f}).view({1, 2}), 256)[0];
    };
    // One point in the middle of each half; the patches stay inside their half.
    const at::Tensor points = at::tensor({64.f, 128.f, 192.f, 128.f}).view({2, 2});
    for (int t = 1; t <= n; ++t) {
      const auto got = cotrack::patch_shifts(picture(t - 1), picture(t), points, 64);
      REQUIRE(got.size() == 2);
      const auto& l = left[t - 1];
      const auto& r = right[t - 1];
      MESSAGE("left (" << l.dx << ", " << l.dy << "): found (" << got[0].dx << ", " << got[0].dy
                       << "), peak " << got[0].peak << "; right (" << r.dx << ", " << r.dy
                       << "): found (" << got[1].dx << ", " << got[1].dy << "), peak "
                       << got[1].peak);
      CHECK(std::abs(got[0].dx - l.dx) < 0.3);
      CHECK(std::abs(got[0].dy - l.dy) < 0.3);
      CHECK(std::abs(got[1].dx - r.dx) < 0.3);
      CHECK(std::abs(got[1].dy - r.dy) < 0.3);
      // The whole picture: the left rendering's full frame moves by the left shift.
      const cotrack::PatchShift whole = whole_shift(gray(a, t - 1), gray(a, t));
      MESSAGE("whole picture: found (" << whole.dx << ", " << whole.dy << "), peak " << whole.peak);
      CHECK(std::abs(whole.dx - l.dx) < 0.3);
      CHECK(std::abs(whole.dy - l.dy) < 0.3);
      CHECK(whole.peak > 0.2f);
    }
    // Unrelated pictures (independent noise) have no clear peak.
    at::manual_seed(3);
    const cotrack::PatchShift none =
        whole_shift(at::rand({256, 256}) * 255, at::rand({256, 256}) * 255);
    MESSAGE("unrelated pictures: peak " << none.peak);
    CHECK(none.peak < 0.1f);
  }
}

TEST_SUITE("unit") {
  TEST_CASE("reacquire: a point moves to the one place that matches its query patch") {
    at::manual_seed(11);
    constexpr int C = 16, H = 32, W = 32, R = 5;
    at::Tensor map = at::randn({C, H, W});
    // A patch repeated at two places: its points must not move (no clear match).
    map.narrow(1, 22, 5).narrow(2, 20, 5).copy_(map.narrow(1, 22, 5).narrow(2, 4, 5));
    map = map / map.norm(2, 0, true);
    // The R x R patch around cell (x, y), x-major, as Network::sample_support orders it.
    auto patch = [&](int x, int y) {
      at::Tensor t = at::empty({R * R, C});
      for (int i = 0; i < R; ++i) {
        for (int j = 0; j < R; ++j) t[i * R + j] = map.select(2, x + i - R / 2).select(1, y + j - R / 2);
      }
      return t;
    };
    const at::Tensor templates = at::stack({patch(20, 10), patch(20, 10), patch(20, 10),
                                            patch(6, 24)});
    const float nan = std::nanf("");
    const std::vector<float> start = {5.f, 5.f,      // far from its match: moves
                                      20.4f, 10.6f,  // at its match: stays
                                      nan, nan,      // no start (outside): moves
                                      14.f, 8.f};    // two equal matches: stays
    const auto got = cotrack::reacquire(map, templates, start);
    REQUIRE(got.size() == 4);
    for (size_t m = 0; m < got.size(); ++m) {
      MESSAGE("point " << m << ": moved " << got[m].moved << " to (" << got[m].x << ", "
                       << got[m].y << "), best " << got[m].best << ", current "
                       << got[m].current << ", second " << got[m].second);
    }
    CHECK(got[0].moved);
    CHECK(got[0].x == 20.f);
    CHECK(got[0].y == 10.f);
    CHECK(got[0].best > 0.99f);
    CHECK_FALSE(got[1].moved);
    CHECK(got[2].moved);
    CHECK(got[2].x == 20.f);
    CHECK(got[2].y == 10.f);
    CHECK_FALSE(got[3].moved);
    CHECK(got[3].best - got[3].second < 0.05f);
    // Shapes that do not fit are an error, not a crash.
    CHECK_THROWS_AS(cotrack::reacquire(map, at::zeros({1, 24, C}), {0.f, 0.f}), cotrack::Error);
  }

  TEST_CASE("precision: which models keep the official semantics under auto") {
    const auto official = cotrack::Model::random(cotrack::ModelConfig::preset_named("cotracker3-online"), 1);
    const auto small = cotrack::Model::random(cotrack::ModelConfig::preset_named("cotrack-small"), 1);
    CHECK(official.official_semantics());
    CHECK_FALSE(small.official_semantics());
    CHECK(cotrack::resolve_precision("auto", official) == cotrack::Precision::kFp32);
    CHECK(cotrack::resolve_precision("auto", small) ==
          (cotrack::cpu_has_bf16() ? cotrack::Precision::kBf16 : cotrack::Precision::kFp32));
    const auto shipped = cotrack::Model::load(COTRACK_DEFAULT_MODEL);
    CHECK_FALSE(shipped.official_semantics());
    const std::string path = cotrack::test::fixture_or_skip("cotracker3/random_online.pth");
    if (path.empty()) return;
    CHECK(cotrack::Model::load(path).official_semantics());
    // The motion prior follows the same rule.
    CHECK_FALSE(cotrack::resolve_motion_prior("auto", official));
    CHECK(cotrack::resolve_motion_prior("auto", small));
    CHECK(cotrack::resolve_motion_prior("on", official));
    CHECK_FALSE(cotrack::resolve_motion_prior("off", small));
    CHECK_THROWS_AS(cotrack::resolve_motion_prior("yes", small), cotrack::UsageError);
    // So does re-acquisition.
    CHECK_FALSE(cotrack::resolve_reacquire("auto", official));
    CHECK(cotrack::resolve_reacquire("auto", small));
    CHECK(cotrack::resolve_reacquire("on", official));
    CHECK_FALSE(cotrack::resolve_reacquire("off", small));
    CHECK_THROWS_AS(cotrack::resolve_reacquire("1", small), cotrack::UsageError);
  }
  TEST_CASE("precision: resolve_precision follows the hardware and refuses unknown names") {
    CHECK(cotrack::resolve_precision("fp32", "cpu") == cotrack::Precision::kFp32);
    CHECK(cotrack::resolve_precision("auto", "cpu") ==
          (cotrack::cpu_has_bf16() ? cotrack::Precision::kBf16 : cotrack::Precision::kFp32));
    CHECK(cotrack::resolve_precision("bf16", "cuda:0") == cotrack::Precision::kBf16);
    CHECK(cotrack::resolve_precision("auto", "cuda:0") == cotrack::Precision::kBf16);
    // auto keeps the official weights' numerics; asking for bf16 still gets it.
    CHECK(cotrack::resolve_precision("auto", "cuda:0", /*official_semantics=*/true) ==
          cotrack::Precision::kFp32);
    CHECK(cotrack::resolve_precision("auto", "cpu", true) == cotrack::Precision::kFp32);
    CHECK(cotrack::resolve_precision("bf16", "cuda:0", true) == cotrack::Precision::kBf16);
    CHECK_THROWS_AS(cotrack::resolve_precision("fp16", "cpu"), cotrack::UsageError);
    if (cotrack::cpu_has_bf16()) {
      CHECK(cotrack::resolve_precision("bf16", "cpu") == cotrack::Precision::kBf16);
    } else {
      CHECK_THROWS_AS(cotrack::resolve_precision("bf16", "cpu"), cotrack::UsageError);
    }
  }

  TEST_CASE("precision: bf16 windows give fp32's tracks to a fraction of a pixel") {
    if (!cotrack::cpu_has_bf16()) {
      MESSAGE("skipped: this CPU has no bf16 instructions");
      return;
    }
    cotrack::Model model = small_random_model();
    const cotrack::SynthClip clip = small_clip(16, 8, 5);
    std::map<cotrack::Precision, Collected> got;
    for (const auto precision : {cotrack::Precision::kFp32, cotrack::Precision::kBf16}) {
      cotrack::EngineConfig cfg;
      cfg.precision = precision;
      cotrack::OnlineEngine engine(model, cfg);
      attach(engine, got[precision]);
      for (int t = 0; t < clip.frames; ++t) {
        engine.push_frame(clip.frame(t), clip.width, clip.height);
        if (t == 0) {
          for (int n = 0; n < clip.num_points; ++n) engine.add_point(0, clip.x(0, n), clip.y(0, n));
        }
        engine.step();
      }
      engine.flush();
    }
    const auto& a = got[cotrack::Precision::kFp32].rows;
    const auto& b = got[cotrack::Precision::kBf16].rows;
    REQUIRE(a.size() == static_cast<size_t>(clip.frames));
    REQUIRE(b.size() == a.size());
    std::vector<double> drift;
    for (const auto& [f, row] : a) {
      for (const auto& [id, p] : row) {
        const auto& q = b.at(f).at(id);
        drift.push_back(std::hypot(p.x_px - q.x_px, p.y_px - q.y_px));
      }
    }
    std::sort(drift.begin(), drift.end());
    const double median = drift[drift.size() / 2];
    MESSAGE("bf16 against fp32: median drift " << median << " px, largest " << drift.back());
    CHECK(median < 0.05);  // measured 0.005 px on this clip: bf16 keeps 8 bits of mantissa
    CHECK(median > 0.0);   // the bf16 path really ran
  }
}
