// The model that ships in the repository (models/training/cotrack-small-v1.ckpt, the default of
// every command): it loads, and it tracks a textured plane that translates at constant speed.
#include "test_common.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>
#include <vector>

#include "cotrack/engine.hpp"
#include "cotrack/evaluation.hpp"
#include "cotrack/model.hpp"
#include "cotrack/offline.hpp"
#include "cotrack/synth.hpp"

namespace {

// A clip of the generator's periodic background only, side x side pixels, shifted by offset(t)
// pixels on frame t; no noise, blur or brightness change, so every point stays visible apart
// from those that leave the image.
cotrack::SynthClip moving_texture(int side, int frames, uint64_t seed,
                                  const std::function<std::pair<double, double>(int)>& offset) {
  cotrack::SynthParams p;
  p.width = side;
  p.height = side;
  p.frames = frames;
  p.min_objects = 0;
  p.max_objects = 0;
  p.motion = cotrack::SynthMotion::kTranslation;
  p.noise = false;
  p.blur = false;
  p.brightness_change = false;
  cotrack::SynthScene scene = cotrack::build_synth_scene(p, seed);
  REQUIRE(scene.layers.size() == 1);
  auto& transform = scene.layers[0].transform;
  const cotrack::Homography start = transform[0];
  for (int t = 0; t < frames; ++t) {
    const auto [dx, dy] = offset(t);
    transform[t] = cotrack::homography_multiply(cotrack::homography_translation(dx, dy), start);
  }
  const auto points = cotrack::sample_synth_points(scene, 24, 1.0, seed + 1);
  return cotrack::render_synth_clip(scene, points);
}

// Moving by (vx, vy) pixels per frame.
cotrack::SynthClip translating_texture(int side, double vx, double vy, int frames,
                                      uint64_t seed) {
  return moving_texture(side, frames, seed, [&](int t) { return std::pair{vx * t, vy * t}; });
}

// Standing still, jumping by (dx, dy) pixels at frame `jump` and standing still again.
cotrack::SynthClip jumping_texture(int side, double dx, double dy, int jump, int frames,
                                   uint64_t seed) {
  return moving_texture(side, frames, seed, [&](int t) {
    return t < jump ? std::pair{0.0, 0.0} : std::pair{dx, dy};
  });
}

// The errors of `pred` on frames first..end of `clip`, at points well inside the picture
// (points near the border may leave it), sorted.
struct Errors {
  std::vector<double> sorted;
  double median() const { return sorted[sorted.size() / 2]; }
  double within(double px) const {
    return static_cast<double>(std::lower_bound(sorted.begin(), sorted.end(), px) -
                               sorted.begin()) /
           static_cast<double>(sorted.size());
  }
};
Errors errors_inside(const cotrack::SynthClip& clip, const cotrack::TrackTable& pred, int first) {
  Errors e;
  for (int t = first; t < clip.frames; ++t) {
    for (int n = 0; n < clip.num_points; ++n) {
      const float x = clip.x(t, n), y = clip.y(t, n);
      if (x < 8 || y < 8 || x > clip.width - 9 || y > clip.height - 9) continue;
      const size_t i = pred.index(t, n);
      e.sorted.push_back(std::hypot(pred.x_px[i] - x, pred.y_px[i] - y));
    }
  }
  std::sort(e.sorted.begin(), e.sorted.end());
  return e;
}

// Tracks every query of `clip` with `ec` and returns errors_inside from frame `first` on.
Errors track_errors(const cotrack::Model& model, const cotrack::SynthClip& clip,
                    cotrack::EngineConfig ec, int first) {
  const auto queries = cotrack::queries_of(clip);
  ec.max_points = static_cast<int>(queries.size());
  cotrack::OnlineEngine engine(model, ec);
  return errors_inside(clip, cotrack::track_video_with(engine, cotrack::frames_of(clip), queries),
                       first);
}

constexpr int kShippedResolution = 256;

}  // namespace

TEST_SUITE("train") {
  TEST_CASE("shipped model: loads and tracks a translating texture within 1 px") {
    const cotrack::Model model = cotrack::Model::load(COTRACK_DEFAULT_MODEL);
    // The resolution it was trained at (see README, Training), which is its default.
    CHECK(model.config().model_height == kShippedResolution);
    CHECK(model.config().model_width == kShippedResolution);
    // The clips are at that resolution. Speeds are given at 128x128 and scaled to it: up to
    // 1.9 px/frame at 128x128, i.e. 3.8 px/frame at the benchmark's 256x256: the
    // range the model was trained on (the generator's anchor speed bound, 4 px/frame at 256).
    const struct {
      double vx, vy;
    } motions[] = {{1.5, -0.75}, {-1.25, 1.0}, {0.5, 1.8}, {-1.9, -0.2}};
    uint64_t seed = 7;
    for (const auto& m : motions) {
      CAPTURE(m.vx);
      CAPTURE(m.vy);
      const double scale = kShippedResolution / 128.0;
      const cotrack::SynthClip clip = translating_texture(
          kShippedResolution, scale * m.vx, scale * m.vy, 24, seed++);
      const auto queries = cotrack::queries_of(clip);
      cotrack::EngineConfig ec;
      ec.max_points = static_cast<int>(queries.size());
      cotrack::OnlineEngine engine(model, ec);
      const cotrack::TrackTable pred =
          cotrack::track_video_with(engine, cotrack::frames_of(clip), queries);
      std::vector<double> errors;
      double sum = 0, worst = 0;
      int count = 0, called_visible = 0;
      for (int t = 1; t < clip.frames; ++t) {
        for (int n = 0; n < clip.num_points; ++n) {
          // Points near the border may leave the image: score those well inside only.
          const float x = clip.x(t, n), y = clip.y(t, n);
          if (x < 8 || y < 8 || x > clip.width - 9 || y > clip.height - 9) continue;
          const size_t i = pred.index(t, n);
          const double err = std::hypot(pred.x_px[i] - x, pred.y_px[i] - y);
          sum += err;
          errors.push_back(err);
          worst = std::max(worst, err);
          called_visible += pred.visible[i];
          ++count;
        }
      }
      REQUIRE(count > 100);
      const double mean = sum / count;
      std::sort(errors.begin(), errors.end());
      const double median = errors[errors.size() / 2];
      const auto share_within = [&](double px) {
        return static_cast<double>(std::lower_bound(errors.begin(), errors.end(), px) -
                                   errors.begin()) /
               count;
      };
      MESSAGE("velocity (" << m.vx << ", " << m.vy << ") px/frame, " << count
                           << " point-frames: median error " << median << " px, mean " << mean
                           << " px, worst " << worst << " px; within 1 px "
                           << 100 * share_within(1.0) << "%, within 2 px "
                           << 100 * share_within(2.0) << "%; called visible "
                           << 100.0 * called_visible / count << "%");
      // The typical point is within 1 px, and most are; a few may be lost (the README's
      // figures say how many), which the mean would hide behind one number.
      CHECK(median < 1.0);
      CHECK(share_within(1.0) > 0.8);
      CHECK(called_visible > 0.9 * count);
    }
  }

  TEST_CASE("shipped model: the motion prior keeps up with a pan beyond the correlation's reach") {
    // 10 px a frame at 256x256, about the goalkeeper clip's camera pan: standing still, new
    // frames start further away than the correlation window reaches and points stay behind.
    const cotrack::Model model = cotrack::Model::load(COTRACK_DEFAULT_MODEL);
    const cotrack::SynthClip clip = translating_texture(kShippedResolution, -10.0, 3.0, 24, 21);
    std::vector<double> medians;
    for (const bool prior : {false, true}) {
      cotrack::EngineConfig ec;
      ec.motion_prior = prior;
      const Errors errors = track_errors(model, clip, ec, 1);
      REQUIRE(errors.sorted.size() > 50);
      const double within2 = errors.within(2.0);
      medians.push_back(errors.median());
      MESSAGE("motion prior " << std::string(prior ? "on" : "off") << ": " << errors.sorted.size()
                              << " point-frames, median error " << medians.back()
                              << " px, within 2 px " << 100 * within2 << "%");
      if (prior) {
        CHECK(medians.back() < 1.5);
        CHECK(within2 > 0.7);
      }
    }
    CHECK(medians[1] < 0.5 * medians[0]);
  }

  TEST_CASE("shipped model: re-acquisition finds points after a jump beyond every reach") {
    // The picture jumps by (-40, -28) px between two frames: the correlation and the motion
    // prior (16 px) cannot follow; matching each point's query patch over the frame can.
    const cotrack::Model model = cotrack::Model::load(COTRACK_DEFAULT_MODEL);
    const cotrack::SynthClip clip = jumping_texture(kShippedResolution, -40, -28, 10, 32, 5);
    std::vector<double> medians;
    for (const bool reacquire : {false, true}) {
      cotrack::EngineConfig ec;
      ec.motion_prior = true;
      ec.reacquire = reacquire;
      const Errors errors = track_errors(model, clip, ec, 20);  // a window after the jump on
      REQUIRE(errors.sorted.size() > 50);
      const double within2 = errors.within(2.0);
      medians.push_back(errors.median());
      MESSAGE("reacquire " << std::string(reacquire ? "on" : "off") << ": " << errors.sorted.size()
                           << " point-frames after the jump, median error " << medians.back()
                           << " px, within 2 px " << 100 * within2 << "%");
      if (reacquire) {
        CHECK(medians.back() < 1.5);
        CHECK(within2 > 0.7);
      }
    }
    CHECK(medians[0] > 10.0);  // without it the points stay behind
  }
}

TEST_SUITE("long") {
  TEST_CASE("shipped model: a 10000-frame 640x480 stream stays within the margin in every mode") {
    // A 300-frame stream from the generator (objects, occlusions, points leaving the picture)
    // played back and forth, so the stream is endless in effect.
    cotrack::SynthParams p;
    p.width = 640;
    p.height = 480;
    p.frames = 300;
    p.num_points = 16;
    const cotrack::SynthClip clip = cotrack::generate_clip(p, 777);
    cotrack::Model model = cotrack::Model::load(COTRACK_DEFAULT_MODEL);
    model.set_resolution(128, 128);  // the bound, not accuracy, is under test: keep it quick
    struct Mode {
      cotrack::EngineMode mode;
      int step, iters;
    } modes[] = {{cotrack::EngineMode::kLowLatency, 2, 2}, {cotrack::EngineMode::kExact, 0, 0}};
    for (const auto& m : modes) {
      CAPTURE(static_cast<int>(m.mode));
      cotrack::EngineConfig ec;
      ec.mode = m.mode;
      ec.step = m.step;
      ec.iters = m.iters;
      ec.motion_prior = cotrack::resolve_motion_prior("auto", model);  // as the commands run it
      ec.reacquire = cotrack::resolve_reacquire("auto", model);
      cotrack::OnlineEngine engine(model, ec);
      // The margin holds in model pixels; mapped to video pixels (align-corners scaling) it
      // is up to (W - 1) / (w - 1) * w / W larger: 0.6% at 128 wide. Allow 1%.
      const float margin_x = 1.01f * ec.max_outside * p.width;
      const float margin_y = 1.01f * ec.max_outside * p.height;
      int64_t rows = 0, beyond = 0, outside = 0;
      float worst = 0;
      engine.set_sink([&](const cotrack::FrameEstimates& fe) {
        for (const auto& e : fe.points) {
          ++rows;
          const float dx = std::max(-e.x_px, e.x_px - (p.width - 1));
          const float dy = std::max(-e.y_px, e.y_px - (p.height - 1));
          outside += dx > 0 || dy > 0;
          beyond += dx > margin_x + 0.5f || dy > margin_y + 0.5f || !std::isfinite(e.x_px) ||
                    !std::isfinite(e.y_px);
          worst = std::max({worst, dx, dy});
        }
      });
      constexpr int kFrames = 10000;
      for (int i = 0; i < kFrames; ++i) {
        const int period = 2 * clip.frames - 2, k = i % period;
        const int t = k < clip.frames ? k : period - k;
        engine.push_frame(clip.frame(t), clip.width, clip.height);
        if (i == 0) {
          for (int n = 0; n < clip.num_points; ++n) {
            if (clip.query_frame[n] != 0) continue;
            engine.add_point(0, clip.x(0, n), clip.y(0, n));
          }
          for (int n = 0; n < 8; ++n) engine.add_point(0, 40.f + 80 * n, 60.f + 50 * n);
        }
        if (i % 2500 == 1250) engine.add_point(i, 320.f, 240.f);  // points added mid-stream
        engine.step();
      }
      engine.flush();
      MESSAGE("mode " << static_cast<int>(m.mode) << ": " << rows << " estimates, " << outside
                      << " outside the picture, worst " << worst << " px outside (margin "
                      << margin_x << " x " << margin_y << ")");
      CHECK(rows >= 10000 * 8);
      CHECK(beyond == 0);
    }
  }
}
