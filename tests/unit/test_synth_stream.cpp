// The endless synthetic stream (ping-pong over one rendered scene) and live accuracy against it.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "cotrack/synth_stream.hpp"

namespace {

cotrack::SynthParams small_params(int frames) {
  cotrack::SynthParams p;
  p.width = 96;
  p.height = 64;
  p.frames = frames;
  p.num_points = 32;
  return p;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("synth stream: plays the scene forward and backward without a jump") {
    const cotrack::SynthStream s(small_params(5), 3);
    const int expect[] = {0, 1, 2, 3, 4, 3, 2, 1, 0, 1, 2};
    for (int i = 0; i < 11; ++i) CHECK(s.scene_frame(i) == expect[i]);
    CHECK(s.frame(5) == s.frame(3));
    CHECK(s.frame(8) == s.frame(0));
    CHECK(s.frame(1) != s.frame(2));
  }

  TEST_CASE("synth stream: the truth of a point is the generator's own ground truth") {
    const cotrack::SynthParams p = small_params(12);
    const uint64_t seed = 7;
    const cotrack::SynthStream s(p, seed);
    // The same scene through the generator, with its sampled points.
    const cotrack::SynthScene scene = cotrack::build_synth_scene(p, seed);
    const auto points = cotrack::sample_synth_points(scene, 32, 0.5, 11);
    const cotrack::SynthClip clip = cotrack::render_synth_clip(scene, points);
    for (int t = 0; t < clip.frames; ++t) {  // the rendered frames are the stream's
      REQUIRE(std::equal(clip.frame(t), clip.frame(t) + clip.frame_size(), s.frame(t)));
    }
    int compared = 0, same_visibility = 0;
    double worst = 0;
    for (int n = 0; n < clip.num_points; ++n) {
      const int q = clip.query_frame[n];
      for (int t = 0; t < clip.frames; ++t) {
        // Stream frame 2(T-1) - t shows scene frame t too (the way back).
        for (const int64_t at : {int64_t{t}, int64_t{2 * (clip.frames - 1) - t}}) {
          const auto truth = s.truth(q, clip.x(q, n), clip.y(q, n), at);
          REQUIRE(truth.valid);
          worst = std::max<double>(worst, std::hypot(truth.x - clip.x(t, n), truth.y - clip.y(t, n)));
          same_visibility += truth.visible == clip.is_visible(t, n);
          ++compared;
        }
      }
    }
    CHECK(worst < 1e-2);  // float rounding of the query position only
    CHECK(same_visibility >= compared * 99 / 100);
  }

  TEST_CASE("live accuracy: exact estimates score 1, estimates 40 px off are far off") {
    auto stream = std::make_shared<const cotrack::SynthStream>(small_params(8), 5);
    cotrack::LiveAccuracy exact(stream), off(stream);
    const float qx = 40.f, qy = 30.f;
    for (int64_t t = 0; t < 20; ++t) {
      const auto truth = stream->truth(0, qx, qy, t);
      REQUIRE(truth.valid);
      cotrack::FrameEstimates f;
      f.frame_index = t;
      cotrack::PointEstimate e;
      e.id = 0;
      e.x_px = t == 0 ? qx : truth.x;
      e.y_px = t == 0 ? qy : truth.y;
      e.visible = truth.visible;
      f.points.push_back(e);
      exact.add(f);
      if (t > 0) f.points[0].x_px += 40.f * 96 / 256;  // 40 px in the 256-wide frame
      off.add(f);
    }
    const auto a = exact.summary();
    CHECK(a.estimates == 19);
    REQUIRE(a.visible > 0);
    CHECK(a.delta_avg == doctest::Approx(1.0));
    CHECK(a.occlusion_accuracy == doctest::Approx(1.0));
    CHECK(a.far_off == doctest::Approx(0.0));
    const auto b = off.summary();
    CHECK(b.delta_avg == doctest::Approx(0.0));
    CHECK(b.far_off == doctest::Approx(1.0));
  }
}
