// RefinedTracker: Lucas-Kanade at full resolution on top of a coarse tracker. The coarse tracker
// here is a stand-in with known errors: the ground truth of a synthetic clip shifted by a fixed
// bias, with a visibility rule chosen per test. That isolates what the refinement itself does.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include "cotrack/error.hpp"
#include "cotrack/evaluation.hpp"
#include "cotrack/offline.hpp"
#include "cotrack/synth.hpp"
#include "refined_tracker.hpp"

namespace {

using cotrack::AddPointResult;
using cotrack::FrameEstimates;
using cotrack::PointEstimate;
using cotrack::PointId;
using cotrack::RefineConfig;
using cotrack::RefinedTracker;
using cotrack::Snapshot;
using cotrack::StepResult;
using cotrack::SynthClip;
using cotrack::SynthParams;
using cotrack::TrackTable;

enum class CoarseVisibility { kTruth, kOccludedAfterQuery };

// A PointTracker that reports the clip's true positions plus `bias`, finalising every frame as
// soon as it is pushed. Point i (in add_point order) is clip point i.
class BiasedTruthTracker final : public cotrack::PointTracker {
 public:
  BiasedTruthTracker(const SynthClip& clip, float bias_x, float bias_y, CoarseVisibility vis)
      : clip_(clip), bx_(bias_x), by_(bias_y), vis_(vis) {}

  int64_t push_frame(const uint8_t*, int, int) override { return pushed_++; }
  StepResult step() override {
    StepResult r;
    while (done_ < pushed_) {
      const int t = static_cast<int>(done_++);
      FrameEstimates fe;
      fe.frame_index = t;
      for (size_t i = 0; i < query_frames_.size(); ++i) {
        const int n = static_cast<int>(i);
        PointEstimate e;
        e.id = static_cast<PointId>(i);
        if (t < query_frames_[i]) {
          fe.points.push_back(e);
          continue;
        }
        e.estimated = true;
        e.x_px = clip_.x(t, n) + bx_;
        e.y_px = clip_.y(t, n) + by_;
        const bool visible = vis_ == CoarseVisibility::kTruth ? clip_.is_visible(t, n)
                                                              : t == query_frames_[i];
        e.visible = visible;
        e.visibility = e.confidence = visible ? 1.f : 0.f;
        fe.points.push_back(e);
      }
      if (sink_) sink_(fe);
      r.status = StepResult::Status::kUpdated;
      r.window_frames.push_back(t);
    }
    if (r.status == StepResult::Status::kUpdated) r.snapshot = std::make_shared<Snapshot>();
    return r;
  }
  StepResult flush() override { return step(); }
  AddPointResult add_point(int64_t frame_index, float, float) override {
    query_frames_.push_back(static_cast<int>(frame_index));
    AddPointResult r;
    r.id = static_cast<PointId>(query_frames_.size() - 1);
    return r;
  }
  bool remove_point(PointId) override { return false; }
  void reset() override { query_frames_.clear(); }
  void reset_stream() override {
    query_frames_.clear();
    pushed_ = done_ = 0;
  }
  void set_sink(std::function<void(const FrameEstimates&)> sink) override {
    sink_ = std::move(sink);
  }
  std::shared_ptr<const Snapshot> snapshot() const override {
    return std::make_shared<Snapshot>();
  }
  int num_points() const override { return static_cast<int>(query_frames_.size()); }
  int64_t frames_received() const override { return pushed_; }
  std::string name() const override { return "biased truth"; }

 private:
  const SynthClip& clip_;
  float bx_, by_;
  CoarseVisibility vis_;
  int64_t pushed_ = 0, done_ = 0;
  std::vector<int> query_frames_;  // point i's query frame
  std::function<void(const FrameEstimates&)> sink_;
};

// 160x128 clips of layers that only translate, otherwise the generator's defaults.
SynthParams translating(int frames, int points) {
  SynthParams p;
  p.width = 160;
  p.height = 128;
  p.frames = frames;
  p.num_points = points;
  p.motion = cotrack::SynthMotion::kTranslation;
  return p;
}

// Sub-pixel translation of textured layers, without noise or blur: LK's home ground.
SynthClip translation_clip(uint64_t seed) {
  SynthParams p = translating(20, 48);
  p.camera_motion = true;
  p.brightness_change = false;
  p.noise = false;
  p.blur = false;
  p.max_speed_px = 2.0;
  return cotrack::generate_clip(p, seed);
}

TrackTable run(const SynthClip& clip, CoarseVisibility vis, const RefineConfig& config,
               float bias_x = 2.6f, float bias_y = -1.7f) {
  RefinedTracker refined(std::make_unique<BiasedTruthTracker>(clip, bias_x, bias_y, vis), config);
  return cotrack::track_video_with(refined, cotrack::frames_of(clip), cotrack::queries_of(clip));
}

struct Errors {
  std::vector<double> px;  // per visible point-frame after the query frame
  int predicted_visible = 0;
  double median() const {
    if (px.empty()) return std::numeric_limits<double>::quiet_NaN();
    std::vector<double> v = px;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }
  double fraction_within(double d) const {
    if (px.empty()) return 0.0;
    return double(std::count_if(px.begin(), px.end(), [d](double e) { return e <= d; })) /
           double(px.size());
  }
};

Errors errors_of(const SynthClip& clip, const TrackTable& tracks, int from_frame = 0,
                 int to_frame = std::numeric_limits<int>::max()) {
  Errors out;
  for (int n = 0; n < clip.num_points; ++n) {
    for (int t = std::max(clip.query_frame[n] + 1, from_frame);
         t < std::min(clip.frames, to_frame); ++t) {
      if (!clip.is_visible(t, n)) continue;
      const size_t i = tracks.index(t, n);
      out.px.push_back(std::hypot(tracks.x_px[i] - clip.x(t, n), tracks.y_px[i] - clip.y(t, n)));
      out.predicted_visible += tracks.visible[i];
    }
  }
  return out;
}

}  // namespace

TEST_SUITE("pipeline") {

TEST_CASE("refine: a biased coarse tracker is sharpened to sub-pixel accuracy") {
  for (uint64_t seed = 1; seed <= 2; ++seed) {
    const SynthClip clip = translation_clip(seed);
    const Errors e = errors_of(clip, run(clip, CoarseVisibility::kTruth, RefineConfig{}));
    CAPTURE(seed);
    REQUIRE(e.px.size() > 200);
    // The coarse estimates are all 3.1 px off, none within 1 px. LK chained from the exact query
    // position is sub-pixel on most point-frames; where layers occlude each other or the
    // texture is flat, its chain breaks and restarts from the coarse estimate (seeds 1 and 2:
    // 83% and 77% within 1 px, 95% within 3.5 px).
    CHECK(e.median() < 0.3);
    CHECK(e.fraction_within(1.0) > 0.7);
    CHECK(e.fraction_within(3.5) > 0.9);
    // Visibility is the coarse tracker's, which is the truth here.
    CHECK(e.predicted_visible == static_cast<int>(e.px.size()));
  }
}

TEST_CASE("refine: points the coarse tracker calls occluded are refined all the same") {
  const SynthClip clip = translation_clip(3);
  RefineConfig config;
  config.vouch_visible = false;
  const Errors e = errors_of(clip, run(clip, CoarseVisibility::kOccludedAfterQuery, config));
  REQUIRE(e.px.size() > 200);
  CHECK(e.median() < 0.3);
  CHECK(e.fraction_within(1.0) > 0.7);
  // ... and without vouching their visibility stays the coarse tracker's.
  CHECK(e.predicted_visible == 0);
}

TEST_CASE("refine: a point whose query appearance is found where it is placed is called visible") {
  // The coarse tracker calls every point occluded after its query frame. Where the query
  // frame's patch matches at the refined position, the point is visible after all; where
  // another layer covers the point, the patch mostly does not match and the call stands.
  // (Seeds 3-6: 85% of the visible point-frames are called visible again, and 73 of 199 hidden
  // ones: points just past the frame's edge, and a few under an occluder whose edge stays at
  // the point, so that most of LK's window still shows the point's own surface.)
  int visible_total = 0, visible_called = 0, hidden_total = 0, hidden_called = 0;
  for (uint64_t seed = 3; seed <= 6; ++seed) {
    const SynthClip clip = translation_clip(seed);
    const TrackTable tracks = run(clip, CoarseVisibility::kOccludedAfterQuery, RefineConfig{});
    for (int n = 0; n < clip.num_points; ++n) {
      for (int t = clip.query_frame[n] + 1; t < clip.frames; ++t) {
        const bool called = tracks.visible[tracks.index(t, n)];
        if (clip.is_visible(t, n)) {
          visible_total += 1;
          visible_called += called;
        } else {
          hidden_total += 1;
          hidden_called += called;
        }
      }
    }
  }
  CAPTURE(visible_called);
  CAPTURE(hidden_called);
  CAPTURE(visible_total);
  CAPTURE(hidden_total);
  REQUIRE(visible_total > 1000);
  REQUIRE(hidden_total > 30);
  CHECK(double(visible_called) / visible_total > 0.7);
  // A visible call made by the refinement is right in at least 95% of cases (here 96.9%).
  CHECK(double(visible_called) / (visible_called + hidden_called) > 0.95);
}

TEST_CASE("refine: streams smaller than min_video_pixels pass through unrefined") {
  const SynthClip clip = translation_clip(1);
  const double bias = std::hypot(2.6, -1.7);
  RefineConfig config;
  config.min_video_pixels = int64_t{160} * 128 + 1;  // one pixel more than the clip's frames
  const Errors skipped = errors_of(clip, run(clip, CoarseVisibility::kTruth, config));
  REQUIRE(skipped.px.size() > 200);
  CHECK(skipped.fraction_within(bias - 0.01) == 0.0);
  CHECK(skipped.fraction_within(bias + 0.01) == 1.0);
  config.min_video_pixels = int64_t{160} * 128;
  CHECK(errors_of(clip, run(clip, CoarseVisibility::kTruth, config)).median() < 0.3);
}

TEST_CASE("refine: max_offset_px keeps LK within that distance of the coarse estimate") {
  const SynthClip clip = translation_clip(1);
  RefineConfig config;
  config.max_offset_px = 1.f;  // the bias is 3.1 px: every LK result is refused
  const Errors e = errors_of(clip, run(clip, CoarseVisibility::kTruth, config));
  REQUIRE(e.px.size() > 200);
  const double bias = std::hypot(2.6, -1.7);
  CHECK(e.median() == doctest::Approx(bias).epsilon(0.01));
  config.max_offset_px = 6.f;
  CHECK(errors_of(clip, run(clip, CoarseVisibility::kTruth, config)).median() < 0.3);
}

TEST_CASE("refine: where LK's check fails, the coarse estimate stands") {
  // From frame 10 on, every frame is fresh noise: nothing can be followed there.
  SynthClip clip = translation_clip(2);
  uint64_t state = 12345;
  for (int t = 10; t < clip.frames; ++t) {
    uint8_t* f = clip.frame(t);
    for (size_t i = 0; i < clip.frame_size(); ++i) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      f[i] = static_cast<uint8_t>(state >> 56);
    }
  }
  const double bias = std::hypot(2.6, -1.7);
  const TrackTable tracks = run(clip, CoarseVisibility::kTruth, {});
  // Before the noise, sub-pixel as usual.
  CHECK(errors_of(clip, tracks, 0, 10).median() < 0.3);
  // On the first noise frame, LK from a real frame into noise fails its forward-backward check
  // almost everywhere and the coarse estimate (3.1 px off) stands; LK never finds the truth.
  const Errors first = errors_of(clip, tracks, 10, 11);
  REQUIRE(first.px.size() > 20);
  CHECK(first.fraction_within(bias - 0.5) < 0.05);
  CHECK(first.fraction_within(bias + 0.01) > 0.9);
  const Errors later = errors_of(clip, tracks, 11);
  REQUIRE(later.px.size() > 100);
  CHECK(later.fraction_within(bias - 0.5) < 0.1);
  CHECK(later.predicted_visible == static_cast<int>(later.px.size()));
}

// A long clip where frame-to-frame LK drifts: noise, blur and a brightness change on every frame,
// sub-pixel translation only (so the query frame's patch stays a faithful template).
SynthClip drifting_clip(uint64_t seed) {
  SynthParams p = translating(48, 48);
  p.query_first_fraction = 1.0;
  p.max_speed_px = 2.0;
  p.noise_sigma = 8.0;
  return cotrack::generate_clip(p, seed);
}

TEST_CASE("refine: anchoring to the query frame stops the chain's drift") {
  for (uint64_t seed = 1; seed <= 2; ++seed) {
    const SynthClip clip = drifting_clip(seed);
    RefineConfig chained;
    chained.anchor_max_px = 0.f;
    // The coarse tracker knows the truth; errors 32 to 47 frames after the query.
    const Errors off = errors_of(clip, run(clip, CoarseVisibility::kTruth, chained, 0.f, 0.f), 32);
    const Errors on =
        errors_of(clip, run(clip, CoarseVisibility::kTruth, RefineConfig{}, 0.f, 0.f), 32);
    CAPTURE(seed);
    REQUIRE(on.px.size() > 200);
    REQUIRE(on.px.size() == off.px.size());
    // Chained LK alone has drifted by then (medians 2.0 and 2.1 px); anchored, it stays near the
    // point (0.39 and 0.50 px), although each correction may move it by at most 1 px.
    CHECK(off.median() > 1.5);
    CHECK(on.median() < 0.6);
    CHECK(on.fraction_within(0.5) > off.fraction_within(0.5) + 0.25);
  }
}

TEST_CASE("refine: re-detection brings chains that went astray back to the point") {
  // Textured objects pass over each other: the chain can follow an occluder, or a point on an
  // object's edge can follow the other layer. The coarse tracker knows the truth; the query
  // frame's patch tells where it is right. Pooled over three clips.
  Errors off, on;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    const SynthClip clip = cotrack::generate_clip(translating(48, 64), seed);
    RefineConfig without;
    without.redetect = false;
    const Errors a = errors_of(clip, run(clip, CoarseVisibility::kTruth, without, 0.f, 0.f));
    const Errors b = errors_of(clip, run(clip, CoarseVisibility::kTruth, {}, 0.f, 0.f));
    off.px.insert(off.px.end(), a.px.begin(), a.px.end());
    on.px.insert(on.px.end(), b.px.begin(), b.px.end());
  }
  REQUIRE(on.px.size() > 3000);
  // Measured: more than 4 px off on 20.3% of the visible point-frames without re-detection and
  // 15.2% with it; within 1 px on 61.8% and 69.4%.
  CHECK(1.0 - on.fraction_within(4.0) < 0.85 * (1.0 - off.fraction_within(4.0)));
  CHECK(on.fraction_within(1.0) > off.fraction_within(1.0) + 0.04);
}

TEST_CASE("refine: bad settings are refused with the setting's name") {
  const SynthClip clip = translation_clip(1);
  auto make = [&](const RefineConfig& c) {
    RefinedTracker r(std::make_unique<BiasedTruthTracker>(clip, 0.f, 0.f, CoarseVisibility::kTruth),
                     c);
  };
  RefineConfig c;
  c.max_offset_px = -1.f;
  CHECK_THROWS_WITH_AS(make(c), doctest::Contains("max_offset_px"), cotrack::UsageError);
  c.max_offset_px = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(make(c), cotrack::UsageError);
  c = RefineConfig{};
  c.window = 4;
  CHECK_THROWS_WITH_AS(make(c), doctest::Contains("window"), cotrack::UsageError);
  c = RefineConfig{};
  c.anchor_max_px = -0.5f;
  CHECK_THROWS_WITH_AS(make(c), doctest::Contains("anchor_max_px"), cotrack::UsageError);
  c.anchor_max_px = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(make(c), cotrack::UsageError);
  c = RefineConfig{};
  c.fb_threshold_px = 0.f;
  CHECK_THROWS_WITH_AS(make(c), doctest::Contains("fb_threshold_px"), cotrack::UsageError);
  c = RefineConfig{};
  c.min_video_pixels = -1;
  CHECK_THROWS_WITH_AS(make(c), doctest::Contains("min_video_pixels"), cotrack::UsageError);
  CHECK_NOTHROW(make(RefineConfig{}));
}

}  // TEST_SUITE
