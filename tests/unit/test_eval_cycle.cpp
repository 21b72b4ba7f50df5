// The label-free forward-backward check (cotrack eval --cycle) with stand-in trackers whose
// behaviour is known: one that follows the true motion, one that drifts, one that leaves the
// picture, and the static baseline.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <doctest/doctest.h>

#include "cotrack/error.hpp"
#include "cotrack/evaluation.hpp"

namespace {

using cotrack::CycleStats;
using cotrack::PointQuery;
using cotrack::TrackTable;
using cotrack::VideoFrames;

constexpr int kWidth = 64;
constexpr int kHeight = 48;
constexpr int kFrames = 8;

// Frame t carries its original time t in its first byte, so a stand-in tracker can tell which
// way the video runs.
VideoFrames stamped_video(int frames = kFrames) {
  VideoFrames v;
  v.width = kWidth;
  v.height = kHeight;
  v.count = frames;
  v.rgb.assign(static_cast<size_t>(frames) * v.frame_bytes(), 0);
  for (int t = 0; t < frames; ++t) v.frame(t)[0] = static_cast<uint8_t>(t);
  return v;
}

TrackTable empty_table(int frames, int points) {
  TrackTable t;
  t.frames = frames;
  t.points = points;
  const size_t cells = static_cast<size_t>(frames) * points;
  t.x_px.resize(cells);
  t.y_px.resize(cells);
  t.visibility.assign(cells, 1.f);
  t.confidence.assign(cells, 1.f);
  t.visible.assign(cells, 1);
  return t;
}

// A perfect tracker for a scene translating by (vx, vy) px per original frame.
cotrack::TrackFunction follows_motion(float vx, float vy) {
  return [vx, vy](const VideoFrames& video, const std::vector<PointQuery>& queries) {
    TrackTable t = empty_table(video.count, static_cast<int>(queries.size()));
    for (size_t n = 0; n < queries.size(); ++n) {
      const PointQuery& q = queries[n];
      const int t0 = video.frame(q.frame)[0];
      for (int f = 0; f < video.count; ++f) {
        const int dt = video.frame(f)[0] - t0;
        t.x_px[t.index(f, static_cast<int>(n))] = q.x_px + vx * dt;
        t.y_px[t.index(f, static_cast<int>(n))] = q.y_px + vy * dt;
      }
    }
    return t;
  };
}

// A tracker that drifts right by `px` per processed frame, whichever way the video runs.
cotrack::TrackFunction drifts(float px) {
  return [px](const VideoFrames& video, const std::vector<PointQuery>& queries) {
    TrackTable t = empty_table(video.count, static_cast<int>(queries.size()));
    for (size_t n = 0; n < queries.size(); ++n) {
      for (int f = 0; f < video.count; ++f) {
        t.x_px[t.index(f, static_cast<int>(n))] = queries[n].x_px + px * f;
        t.y_px[t.index(f, static_cast<int>(n))] = queries[n].y_px;
      }
    }
    return t;
  };
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("eval: grid queries and reversed video") {
    const auto q = cotrack::grid_queries(256, 128, 8);
    REQUIRE(q.size() == 64);
    CHECK(q.front().frame == 0);
    CHECK(q.front().x_px == doctest::Approx(15.5));
    CHECK(q.front().y_px == doctest::Approx(7.5));
    CHECK(q.back().x_px == doctest::Approx(239.5));
    CHECK(q.back().y_px == doctest::Approx(119.5));
    for (const PointQuery& p : cotrack::grid_queries(4, 3, 10)) {  // finer than the picture
      CHECK(p.x_px >= 0.f);
      CHECK(p.x_px <= 3.f);
      CHECK(p.y_px >= 0.f);
      CHECK(p.y_px <= 2.f);
    }
    CHECK_THROWS_AS(cotrack::grid_queries(8, 8, 0), cotrack::UsageError);

    const VideoFrames v = stamped_video();
    const VideoFrames r = cotrack::reversed(v);
    REQUIRE(r.count == v.count);
    for (int t = 0; t < v.count; ++t) CHECK(r.frame(t)[0] == kFrames - 1 - t);
  }

  TEST_CASE("eval: a tracker that follows the motion comes back") {
    const CycleStats s = cotrack::cycle_check(stamped_video(), 4, follows_motion(1.f, -0.5f));
    REQUIRE(s.error_px.size() == 16);
    CHECK(s.median_error_px() < 1e-3);
    CHECK(s.mean_error_px() < 1e-3);
    CHECK(s.share_within(4.0) == 1.0);
    CHECK(s.estimates == 16 * (kFrames - 1));
    CHECK(s.outside == 0);
    CHECK(s.far_outside == 0);

    // The static baseline is consistent too: the check measures consistency, not accuracy.
    const CycleStats still =
        cotrack::cycle_check(stamped_video(), 4, [](const VideoFrames& v, const auto& q) {
          return cotrack::static_tracks(v.count, q);
        });
    CHECK(still.median_error_px() == 0.0);
  }

  TEST_CASE("eval: drift adds up on the way back, in pixels of a 256-wide frame") {
    constexpr float kDrift = 0.25f;  // px per frame, both ways
    const CycleStats s = cotrack::cycle_check(stamped_video(), 4, drifts(kDrift));
    const double expected = 2 * kDrift * (kFrames - 1) * 256.0 / kWidth;  // 14 px
    CHECK(s.median_error_px() == doctest::Approx(expected));
    CHECK(s.mean_error_px() == doctest::Approx(expected));
    CHECK(s.share_within(4.0) == 0.0);
    CHECK(s.share_within(15.0) == 1.0);
  }

  TEST_CASE("eval: estimates outside the picture are counted, and clamped for the way back") {
    int call = 0;
    const auto leaves = [&](const VideoFrames& video, const std::vector<PointQuery>& queries) {
      ++call;
      TrackTable t = empty_table(video.count, static_cast<int>(queries.size()));
      for (size_t n = 0; n < queries.size(); ++n) {
        const PointQuery& q = queries[n];
        if (call == 2) {  // the way back starts inside the picture
          CHECK(q.x_px >= 0.f);
          CHECK(q.x_px <= kWidth - 1.f);
        }
        for (int f = 0; f < video.count; ++f) {
          const size_t i = t.index(f, static_cast<int>(n));
          // Forward: just outside (even n) or far outside (odd n) from frame 1 on.
          t.x_px[i] = call == 1 && f > 0 ? (n % 2 == 0 ? -10.f : -100.f) : q.x_px;
          t.y_px[i] = q.y_px;
        }
      }
      return t;
    };
    const CycleStats s = cotrack::cycle_check(stamped_video(), 4, leaves);
    CHECK(call == 2);
    CHECK(s.outside_share() == 1.0);
    CHECK(s.far_outside_share() == 0.5);
    CHECK(s.median_error_px() > 4.0);  // came back at the left edge
  }

  TEST_CASE("eval: cycle stats pool, and edge cases") {
    CycleStats a;
    a.error_px = {1.0, 3.0};
    a.estimates = 4;
    a.outside = 1;
    CycleStats b;
    b.error_px = {10.0, 2.0};
    b.estimates = 4;
    b.far_outside = 2;
    a.add(b);
    CHECK(a.median_error_px() == doctest::Approx(2.5));
    CHECK(a.mean_error_px() == doctest::Approx(4.0));
    CHECK(a.share_within(4.0) == doctest::Approx(0.75));
    CHECK(a.outside_share() == doctest::Approx(0.125));
    CHECK(a.far_outside_share() == doctest::Approx(0.25));
    CHECK(std::isnan(CycleStats{}.median_error_px()));

    // One frame: back where it started, no estimates after frame 0.
    const CycleStats one = cotrack::cycle_check(stamped_video(1), 2, drifts(1.f));
    CHECK(one.median_error_px() == 0.0);
    CHECK(std::isnan(one.outside_share()));

    // A table of the wrong shape is refused.
    const auto short_table = [](const VideoFrames& v, const std::vector<PointQuery>& q) {
      return empty_table(v.count - 1, static_cast<int>(q.size()));
    };
    CHECK_THROWS_AS(cotrack::cycle_check(stamped_video(), 2, short_table), cotrack::InputError);
    CHECK_THROWS_AS(cotrack::cycle_check(VideoFrames{}, 2, drifts(0.f)), cotrack::InputError);
  }
}
