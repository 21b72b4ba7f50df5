// LKTracker: accuracy on synthetic clips with exact ground truth, the forward-backward occlusion
// policy, the PointTracker contract (points, frames, sink, snapshots) and track_video_with.
// The last case prints the benchmark row (seeds 1..30, default SynthParams).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include "cotrack/error.hpp"
#include "cotrack/evaluation.hpp"
#include "cotrack/metrics.hpp"
#include "cotrack/synth.hpp"
#include "lk_tracker.hpp"
#include "cotrack/offline.hpp"

namespace {

using cotrack::AddPointResult;
using cotrack::FrameEstimates;
using cotrack::LKConfig;
using cotrack::LKTracker;
using cotrack::StepResult;
using cotrack::SynthClip;
using cotrack::SynthParams;
using cotrack::TrackTable;
using Status = AddPointResult::Status;

double median(std::vector<double> v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double error_px(const SynthClip& clip, const TrackTable& tracks, int t, int n) {
  const size_t i = tracks.index(t, n);
  return std::hypot(tracks.x_px[i] - clip.x(t, n), tracks.y_px[i] - clip.y(t, n));
}

cotrack::TapVidMetrics metrics_of(const SynthClip& clip, const TrackTable& tracks) {
  return cotrack::compute_tapvid_metrics(cotrack::tapvid_set(clip, tracks),
                                         cotrack::QueryMode::kFirst);
}

TrackTable track_lk(const SynthClip& clip, const LKConfig& config = {}) {
  LKTracker tracker(config);
  return cotrack::track_video_with(tracker, cotrack::frames_of(clip), cotrack::queries_of(clip));
}

// A layer with an opaque, smooth random texture of strong contrast: random colours on a grid of
// `cell`-texel squares, bilinearly interpolated (periodic over the texture).
cotrack::SynthLayer blob_texture(int width, int height, uint64_t seed, int cell = 4) {
  auto hash = [seed](uint64_t i) {
    uint64_t z = i + (seed + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  const int grid_w = (width + cell - 1) / cell, grid_h = (height + cell - 1) / cell;
  auto node = [&](int i, int j, int c) {
    const uint64_t gi = static_cast<uint64_t>(i % grid_w), gj = static_cast<uint64_t>(j % grid_h);
    return static_cast<double>(hash((gj * grid_w + gi) * 3 + c) % 256);
  };
  cotrack::SynthLayer layer;
  layer.tex_width = width;
  layer.tex_height = height;
  layer.rgba.resize(static_cast<size_t>(width) * height * 4);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const int i = x / cell, j = y / cell;
      const double ax = double(x % cell) / cell, ay = double(y % cell) / cell;
      uint8_t* px = &layer.rgba[(static_cast<size_t>(y) * width + x) * 4];
      for (int c = 0; c < 3; ++c) {
        const double top = (1 - ax) * node(i, j, c) + ax * node(i + 1, j, c);
        const double bottom = (1 - ax) * node(i, j + 1, c) + ax * node(i + 1, j + 1, c);
        px[c] = static_cast<uint8_t>(std::lround((1 - ay) * top + ay * bottom));
      }
      px[3] = 255;
    }
  }
  return layer;
}

// A grey frame of the given size whose pixels are all `value`.
std::vector<uint8_t> flat_frame(int width, int height, uint8_t value = 128) {
  return std::vector<uint8_t>(static_cast<size_t>(width) * height * 3, value);
}

// Records what a tracker hands to its sink.
struct SinkLog {
  std::vector<FrameEstimates> frames;
  std::function<void(const FrameEstimates&)> sink() {
    return [this](const FrameEstimates& f) { frames.push_back(f); };
  }
  std::vector<int64_t> indices() const {
    std::vector<int64_t> out;
    for (const FrameEstimates& f : frames) out.push_back(f.frame_index);
    return out;
  }
};

std::vector<int64_t> range(int64_t from, int64_t to) {
  std::vector<int64_t> out;
  for (int64_t t = from; t < to; ++t) out.push_back(t);
  return out;
}

}  // namespace

TEST_SUITE("pipeline") {

TEST_CASE("lk: integer translation without noise is tracked to sub-pixel accuracy") {
  SynthParams p;
  p.width = 128;
  p.height = 96;
  p.frames = 24;
  p.motion = cotrack::SynthMotion::kTranslation;
  p.integer_motion = true;
  p.brightness_change = false;
  p.noise = false;
  p.blur = false;
  p.max_speed_px = 3.0;
  std::vector<double> errors;
  int visible = 0, predicted_visible = 0;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    const SynthClip clip = cotrack::generate_clip(p, seed);
    const TrackTable tracks = track_lk(clip);
    for (int n = 0; n < clip.num_points; ++n) {
      for (int t = clip.query_frame[n]; t < clip.frames; ++t) {
        if (!clip.is_visible(t, n)) continue;
        errors.push_back(error_px(clip, tracks, t, n));
        ++visible;
        predicted_visible += tracks.visible[tracks.index(t, n)];
      }
    }
  }
  const double med = median(errors);
  const double visible_fraction = double(predicted_visible) / visible;
  MESSAGE("integer translation: median error ", med, " px over ", errors.size(),
          " visible samples; predicted visible on ", visible_fraction, " of them");
  CHECK(errors.size() > 1000);
  CHECK(med < 0.5);
  CHECK(visible_fraction > 0.8);
}

TEST_CASE("lk: beats the static-point baseline on default clips") {
  for (uint64_t seed : {4u, 5u}) {
    const SynthClip clip = cotrack::generate_clip(SynthParams{}, seed);
    const cotrack::TapVidMetrics lk = metrics_of(clip, track_lk(clip));
    const cotrack::TapVidMetrics still = metrics_of(clip, cotrack::static_baseline(clip));
    MESSAGE("seed ", seed, ": AJ lk ", lk.average_jaccard, " static ", still.average_jaccard,
            "; delta_avg lk ", lk.average_pts_within_thresh, " static ",
            still.average_pts_within_thresh);
    CHECK(lk.average_jaccard > still.average_jaccard + 0.2);
    CHECK(lk.average_pts_within_thresh > still.average_pts_within_thresh + 0.2);
  }
}

TEST_CASE("lk: a textured occluder hides a point; it is held and re-acquired, not dragged") {
  // A static textured background and a textured rectangle sliding right over point 0.
  constexpr int kW = 96, kH = 64, kT = 24;
  cotrack::SynthScene scene;
  scene.width = kW;
  scene.height = kH;
  scene.frames = kT;
  scene.gain.assign(kT, 1.0f);
  scene.bias.assign(kT, 0.0f);
  cotrack::SynthLayer background = blob_texture(64, 64, 1);
  background.periodic = true;
  background.transform.assign(kT, cotrack::homography_identity());
  cotrack::SynthLayer object = blob_texture(24, 16, 2);
  for (int t = 0; t < kT; ++t) {
    object.transform.push_back(cotrack::homography_translation(-20.0 + 5.0 * t, 24.0));
  }
  scene.layers = {background, object};
  // Point 0 on the background at (48, 32); point 1 on the object, 5 px per frame to the right.
  const SynthClip clip =
      cotrack::render_synth_clip(scene, {{0, 0, 48.0, 32.0}, {1, 4, 6.0, 8.0}});
  const TrackTable tracks = track_lk(clip);

  std::vector<int> covered;
  for (int t = 0; t < kT; ++t) {
    if (!clip.is_visible(t, 0)) covered.push_back(t);
  }
  REQUIRE(covered.size() >= 3);
  for (int t = 0; t < kT; ++t) {
    INFO("frame ", t);
    const size_t i = tracks.index(t, 0);
    // Held near its place: dragged along, it would move 5 px per frame. (On the first covered
    // frame the occluder's edge sits on the point and LK may still move it a little.)
    CHECK(error_px(clip, tracks, t, 0) < 2.0);
    if (t > covered.front() && t <= covered.back()) CHECK(tracks.visible[i] == 0);
    if (t < covered.front() - 1) CHECK(tracks.visible[i] == 1);
    // Re-acquired once the occluder has moved on (its window sees it a frame or two longer).
    if (t > covered.back() + 2) {
      CHECK(tracks.visible[i] == 1);
      CHECK(error_px(clip, tracks, t, 0) < 0.5);
    }
  }
  // The point on the object is tracked while its window is inside the image.
  const int half_window = LKConfig{}.window / 2;
  for (int t = clip.query_frame[1]; t < kT; ++t) {
    if (clip.x(t, 1) - half_window < 0.f || clip.x(t, 1) + half_window > kW - 1.f) continue;
    INFO("object point, frame ", t);
    CHECK(tracks.visible[tracks.index(t, 1)] == 1);
    CHECK(error_px(clip, tracks, t, 1) < 0.5);
  }
}

TEST_CASE("lk: points: limits, image bounds, held frames, future frames, remove, reset") {
  constexpr int kW = 40, kH = 30;
  const std::vector<uint8_t> frame = flat_frame(kW, kH);
  LKConfig config;
  config.max_points = 3;
  config.held_frames = 3;
  config.trail_frames = 4;
  LKTracker tracker(config);
  CHECK(tracker.name() == "lk");
  SinkLog log;
  tracker.set_sink(log.sink());

  // Nothing to do, no frame size yet.
  CHECK(tracker.step().status == StepResult::Status::kNotReady);
  CHECK(tracker.add_point(0, 1.f, 1.f).status == Status::kNoFrames);

  CHECK(tracker.push_frame(frame.data(), kW, kH) == 0);
  CHECK(tracker.frames_received() == 1);
  const AddPointResult a = tracker.add_point(0, 10.f, 10.f);
  CHECK(a.status == Status::kOk);
  CHECK(a.id == 0);
  const std::vector<std::pair<float, float>> outside = {
      {-0.1f, 5.f}, {kW - 0.99f, 5.f}, {5.f, kH - 0.5f}, {std::nanf(""), 5.f}};
  for (const auto& [x, y] : outside) {
    const AddPointResult r = tracker.add_point(0, x, y);
    CHECK(r.status == Status::kOutsideImage);
    CHECK(!r.message.empty());
  }
  CHECK(tracker.add_point(0, kW - 1.f, kH - 1.f).status == Status::kOk);  // the last pixel
  const AddPointResult future = tracker.add_point(5, 20.f, 15.f);
  CHECK(future.status == Status::kOk);
  const AddPointResult full = tracker.add_point(0, 3.f, 3.f);
  CHECK(full.status == Status::kTooManyPoints);
  CHECK(!full.message.empty());
  CHECK(tracker.num_points() == 3);
  CHECK(tracker.remove_point(1));
  CHECK_FALSE(tracker.remove_point(1));
  CHECK(tracker.num_points() == 2);
  // Before any step, the snapshot already shows each point at its query position, not started
  // (the live window draws a click at once, also while paused).
  {
    const auto before = tracker.snapshot();
    REQUIRE(before->tracks.size() == 2);
    REQUIRE(before->tracks[1].estimates.size() == 1);
    CHECK(before->tracks[1].frames[0] == 5);
    CHECK_FALSE(before->tracks[1].estimates[0].estimated);
    CHECK(before->tracks[1].estimates[0].id == future.id);
  }

  StepResult r = tracker.step();
  CHECK(r.status == StepResult::Status::kUpdated);
  REQUIRE(static_cast<bool>(r.snapshot));
  CHECK(r.window_frames == std::vector<int64_t>{0});
  CHECK(r.snapshot->newest_frame == 0);
  CHECK(r.snapshot->final_until == 1);
  REQUIRE(r.snapshot->tracks.size() == 2);
  CHECK(r.snapshot->tracks[0].id == 0);
  CHECK(r.snapshot->tracks[1].id == future.id);
  CHECK(r.snapshot->tracks[1].query_frame == 5);
  CHECK(tracker.step().status == StepResult::Status::kNotReady);

  for (int t = 1; t < 10; ++t) CHECK(tracker.push_frame(frame.data(), kW, kH) == t);
  r = tracker.step();
  CHECK(r.window_frames == range(1, 10));
  CHECK(log.indices() == range(0, 10));
  // Every frame lists both points in id order; the future point is its query until frame 5.
  for (const FrameEstimates& f : log.frames) {
    INFO("frame ", f.frame_index);
    REQUIRE(f.points.size() == 2);
    CHECK(f.points[0].id == 0);
    CHECK(f.points[0].estimated);
    const cotrack::PointEstimate& e = f.points[1];
    CHECK(e.id == future.id);
    CHECK(e.x_px == 20.f);
    CHECK(e.y_px == 15.f);
    CHECK(e.estimated == (f.frame_index >= 5));
    if (f.frame_index < 5) {
      CHECK_FALSE(e.visible);
      CHECK(e.visibility == 0.f);
    }
    if (f.frame_index == 5) {
      CHECK(e.visible);
      CHECK(e.visibility == 1.f);
      CHECK(e.confidence == 1.f);
    }
  }
  // Trails hold the last trail_frames estimates, ending at the newest frame.
  REQUIRE(r.snapshot->tracks.size() == 2);
  CHECK(r.snapshot->tracks[0].frames == range(6, 10));
  CHECK(r.snapshot->tracks[0].estimates.size() == 4);

  // Held frames: the last three processed ones (7, 8, 9); older ones are gone.
  const AddPointResult gone = tracker.add_point(6, 5.f, 5.f);
  CHECK(gone.status == Status::kFrameGone);
  CHECK(gone.message.find("6") != std::string::npos);
  CHECK(tracker.add_point(-1, 5.f, 5.f).status == Status::kFrameGone);
  const AddPointResult late = tracker.add_point(7, 12.f, 12.f);
  CHECK(late.status == Status::kOk);
  // It is tracked through the held frames at the next step; the sink already has them.
  log.frames.clear();
  r = tracker.step();
  CHECK(r.status == StepResult::Status::kUpdated);
  CHECK(r.window_frames.empty());
  CHECK(log.frames.empty());
  REQUIRE(r.snapshot->tracks.size() == 3);
  CHECK(r.snapshot->tracks[2].id == late.id);
  CHECK(r.snapshot->tracks[2].frames == range(7, 10));
  CHECK(r.snapshot->tracks[2].estimates.front().x_px == 12.f);

  // Pushed but not yet processed frames are held too; each reaches the sink once.
  tracker.push_frame(frame.data(), kW, kH);
  tracker.push_frame(frame.data(), kW, kH);
  CHECK(tracker.remove_point(0));
  CHECK(tracker.add_point(11, 30.f, 20.f).status == Status::kOk);
  r = tracker.flush();
  CHECK(r.window_frames == range(10, 12));
  CHECK(log.indices() == range(10, 12));
  CHECK(log.frames.back().points.size() == 3);
  CHECK(tracker.flush().status == StepResult::Status::kNotReady);

  // reset(): points go, frames and numbering stay.
  tracker.reset();
  CHECK(tracker.num_points() == 0);
  CHECK(tracker.snapshot()->tracks.empty());
  CHECK(tracker.frames_received() == 12);
  CHECK(tracker.add_point(11, 5.f, 5.f).status == Status::kOk);
  CHECK(tracker.push_frame(frame.data(), kW, kH) == 12);

  // Another frame size needs reset_stream(), which restarts numbering and forgets the size.
  const std::vector<uint8_t> small = flat_frame(20, 10);
  CHECK_THROWS_AS(tracker.push_frame(small.data(), 20, 10), cotrack::InputError);
  CHECK_THROWS_AS(tracker.push_frame(nullptr, kW, kH), cotrack::InputError);
  log.frames.clear();
  tracker.reset_stream();
  CHECK(tracker.frames_received() == 0);
  CHECK(tracker.num_points() == 0);
  CHECK(tracker.add_point(0, 1.f, 1.f).status == Status::kNoFrames);
  CHECK(tracker.push_frame(small.data(), 20, 10) == 0);
  CHECK(tracker.add_point(0, 15.f, 5.f).status == Status::kOk);
  CHECK(tracker.add_point(0, 25.f, 5.f).status == Status::kOutsideImage);
  tracker.step();
  CHECK(log.indices() == std::vector<int64_t>{0});  // frame 12 of the old stream never came
}

TEST_CASE("lk: config validation") {
  auto rejects = [](auto change) {
    LKConfig c;
    change(c);
    CHECK_THROWS_AS(LKTracker{c}, cotrack::UsageError);
  };
  rejects([](LKConfig& c) { c.window = 10; });
  rejects([](LKConfig& c) { c.window = 3; });
  rejects([](LKConfig& c) { c.levels = -1; });
  rejects([](LKConfig& c) { c.max_points = 0; });
  rejects([](LKConfig& c) { c.fb_threshold_px = 0.f; });
  rejects([](LKConfig& c) { c.max_error = std::nanf(""); });
  rejects([](LKConfig& c) { c.trail_frames = 0; });
  rejects([](LKConfig& c) { c.held_frames = 1; });
  rejects([](LKConfig& c) { c.max_iterations = 0; });
  rejects([](LKConfig& c) { c.epsilon_px = 0.0; });
  CHECK_NOTHROW(LKTracker{LKConfig{}});
}

TEST_CASE("lk: track_video_with fills every frame and point") {
  SynthParams p;
  p.width = 64;
  p.height = 48;
  p.frames = 10;
  p.num_points = 6;
  const SynthClip clip = cotrack::generate_clip(p, 2);
  const cotrack::VideoFrames video = cotrack::frames_of(clip);
  std::vector<cotrack::PointQuery> queries = {{0, 10.f, 10.f}, {7, 30.f, 20.f}, {9, 5.f, 40.f}};
  LKTracker tracker;
  const TrackTable table = cotrack::track_video_with(tracker, video, queries);
  CHECK(table.frames == 10);
  CHECK(table.points == 3);
  CHECK(table.x_px.size() == 30);
  CHECK(table.visible.size() == 30);
  for (int n = 0; n < 3; ++n) {
    const cotrack::PointQuery& q = queries[n];
    for (int t = 0; t <= q.frame; ++t) {
      INFO("point ", n, " frame ", t);
      const size_t i = table.index(t, n);
      CHECK(table.x_px[i] == q.x_px);
      CHECK(table.y_px[i] == q.y_px);
      CHECK(table.visible[i] == (t == q.frame ? 1 : 0));
      CHECK(table.visibility[i] == (t == q.frame ? 1.f : 0.f));
    }
  }
  // The tracker stays usable (its sink was cleared) and a second run gives the same table.
  CHECK(tracker.push_frame(video.frame(0), video.width, video.height) >= 0);
  CHECK(tracker.step().status == StepResult::Status::kUpdated);
  const TrackTable again = cotrack::track_video_with(tracker, video, queries);
  CHECK(again.x_px == table.x_px);
  CHECK(again.visible == table.visible);

  queries.push_back({10, 1.f, 1.f});
  CHECK_THROWS_AS(cotrack::track_video_with(tracker, video, queries), cotrack::InputError);
  queries.back() = {3, 100.f, 1.f};
  try {
    cotrack::track_video_with(tracker, video, queries);
    FAIL("no error for a query outside the image");
  } catch (const cotrack::InputError& e) {
    CHECK(std::string(e.what()).find("query 3") != std::string::npos);
  }
  CHECK_THROWS_AS(cotrack::track_video_with(tracker, cotrack::VideoFrames{}, {}),
                  cotrack::InputError);
}

TEST_CASE("lk: benchmark row (seeds 1..30, default SynthParams, queried first)") {
  const SynthParams p;
  std::vector<cotrack::TapVidMetrics> lk, still;
  double track_seconds = 0.0;
  int frames = 0;
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    const SynthClip clip = cotrack::generate_clip(p, seed);
    const cotrack::VideoFrames video = cotrack::frames_of(clip);
    const std::vector<cotrack::PointQuery> queries = cotrack::queries_of(clip);
    LKTracker tracker;
    const auto start = std::chrono::steady_clock::now();
    const TrackTable tracks = cotrack::track_video_with(tracker, video, queries);
    track_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    frames += clip.frames;
    lk.push_back(metrics_of(clip, tracks));
    still.push_back(metrics_of(clip, cotrack::static_baseline(clip)));
  }
  const cotrack::TapVidMetrics m = cotrack::average_tapvid_metrics(lk);
  const cotrack::TapVidMetrics s = cotrack::average_tapvid_metrics(still);
  const LKConfig c;
  MESSAGE("LK (window ", c.window, ", levels ", c.levels, ", fb ", c.fb_threshold_px,
          " px, max_error ", c.max_error, ") on 30 clips 256x256x48, 64 points: AJ ",
          m.average_jaccard, ", delta_avg ", m.average_pts_within_thresh, ", OA ",
          m.occlusion_accuracy, ", ", 1000.0 * track_seconds / frames, " ms/frame");
  MESSAGE("static baseline: AJ ", s.average_jaccard, ", delta_avg ", s.average_pts_within_thresh,
          ", OA ", s.occlusion_accuracy);
  CHECK(m.average_jaccard > s.average_jaccard + 0.3);
  CHECK(m.average_pts_within_thresh > s.average_pts_within_thresh + 0.3);
  // The forward-backward check beats calling every point visible.
  CHECK(m.occlusion_accuracy > s.occlusion_accuracy);
}

}  // TEST_SUITE("pipeline")
