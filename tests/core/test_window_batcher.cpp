// WindowBatcher: the windows of several engines (streams) run as one forward pass, with tracks
// padded and masked, and every engine gets the tracks it gets alone.
#include "test_common.hpp"

#include <cmath>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "cotrack/engine.hpp"
#include "cotrack/error.hpp"
#include "cotrack/evaluation.hpp"
#include "cotrack/model.hpp"
#include "cotrack/synth.hpp"

namespace {

using Rows = std::map<int64_t, std::map<cotrack::PointId, cotrack::PointEstimate>>;

cotrack::SynthClip clip_of(int points, uint64_t seed) {
  cotrack::SynthParams p;
  p.width = 96;
  p.height = 80;
  p.frames = 21;  // windows at 0, 4, ..., and a flush of the last frames
  p.num_points = points;
  return cotrack::generate_clip(p, seed);
}

// Tracks `clip` through `engine` from its query points; the final rows the sink received.
Rows track(cotrack::OnlineEngine& engine, const cotrack::SynthClip& clip) {
  Rows rows;
  engine.set_sink([&rows](const cotrack::FrameEstimates& fe) {
    for (const auto& p : fe.points) rows[fe.frame_index][p.id] = p;
  });
  for (int t = 0; t < clip.frames; ++t) {
    engine.push_frame(clip.frame(t), clip.width, clip.height);
    if (t == 0) {
      for (int n = 0; n < clip.num_points; ++n) {
        const int q = clip.query_frame[n];
        REQUIRE(engine.add_point(q, clip.x(q, n), clip.y(q, n)).status ==
                cotrack::AddPointResult::Status::kOk);
      }
    }
    engine.step();
  }
  engine.flush();
  return rows;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("batcher: engines that share a batcher get the tracks each gets alone") {
    for (const char* preset : {"cotrack-small", "cotrack-small-group"}) {
      CAPTURE(preset);
      cotrack::ModelConfig c = cotrack::ModelConfig::preset_named(preset);
      c.model_height = 64;
      c.model_width = 64;
      const cotrack::Model model = cotrack::Model::random(c, 21);
      // Different track counts, so the smaller window is padded and masked.
      const std::vector<cotrack::SynthClip> clips = {clip_of(5, 1), clip_of(9, 2)};

      std::vector<Rows> alone;
      for (const auto& clip : clips) {
        cotrack::OnlineEngine engine(model, cotrack::EngineConfig{});
        alone.push_back(track(engine, clip));
      }

      auto batcher = cotrack::make_window_batcher(model, 2, 5000.0);
      std::vector<std::unique_ptr<cotrack::OnlineEngine>> engines;
      std::vector<Rows> batched(clips.size());
      for (size_t i = 0; i < clips.size(); ++i) {
        engines.push_back(std::make_unique<cotrack::OnlineEngine>(model, cotrack::EngineConfig{}));
        engines.back()->set_window_batcher(batcher);
      }
      std::vector<std::thread> threads;
      for (size_t i = 0; i < clips.size(); ++i) {
        threads.emplace_back([&, i] { batched[i] = track(*engines[i], clips[i]); });
      }
      for (auto& t : threads) t.join();

      // Both streams have the same window schedule: every window ran paired with the other's.
      const cotrack::WindowBatcherStats st = cotrack::window_batcher_stats(*batcher);
      CHECK(st.largest == 2);
      CHECK(st.windows == 2 * st.batches);
      CHECK(st.windows == engines[0]->timings().windows + engines[1]->timings().windows);

      for (size_t i = 0; i < clips.size(); ++i) {
        REQUIRE(batched[i].size() == alone[i].size());
        double worst = 0;
        int flips = 0;
        for (const auto& [frame, points] : alone[i]) {
          for (const auto& [id, a] : points) {
            const cotrack::PointEstimate& b = batched[i].at(frame).at(id);
            worst = std::max({worst, std::abs(double(a.x_px) - b.x_px),
                              std::abs(double(a.y_px) - b.y_px)});
            flips += a.visible != b.visible;
          }
        }
        CAPTURE(i);
        CHECK(worst < 1e-3);
        CHECK(flips == 0);
      }
    }
  }

  TEST_CASE("batcher: bad settings are refused with one line") {
    cotrack::ModelConfig c = cotrack::ModelConfig::preset_named("cotrack-small");
    c.model_height = 64;
    c.model_width = 64;
    const cotrack::Model model = cotrack::Model::random(c, 3);
    CHECK_THROWS_WITH_AS(cotrack::make_window_batcher(model, 0, 1.0),
                         doctest::Contains("max_batch"), cotrack::UsageError);
    CHECK_THROWS_WITH_AS(cotrack::make_window_batcher(model, 2, -1.0),
                         doctest::Contains("max_wait_ms"), cotrack::UsageError);
  }
}
