// The one-include API (cotrack/cotrack.hpp): its usage example, as a user would write it, builds
// from that header alone and delivers every frame's estimates once, in order.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "cotrack/cotrack.hpp"

TEST_SUITE("unit") {
  TEST_CASE("cotrack.hpp: the usage example tracks a point on every frame") {
    cotrack::ModelConfig mc = cotrack::ModelConfig::preset_named("cotrack-small");
    mc.model_height = 64;
    mc.model_width = 64;
    cotrack::Model model = cotrack::Model::random(mc, 3);
    cotrack::EngineConfig config;
    config.visibility_threshold = model.default_visibility_threshold();
    cotrack::OnlineEngine engine(model, config);
    std::vector<int64_t> frames;
    std::vector<cotrack::PointId> ids;
    engine.set_sink([&](const cotrack::FrameEstimates& f) {
      frames.push_back(f.frame_index);
      for (const auto& p : f.points) ids.push_back(p.id);
    });
    const int width = 80, height = 60, count = 13;
    std::vector<uint8_t> rgb(static_cast<size_t>(width * height * 3));
    cotrack::PointId id = -1;
    for (int t = 0; t < count; ++t) {
      for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>((i * 7 + t * 3) % 251);
      const int64_t index = engine.push_frame(rgb.data(), width, height);
      CHECK(index == t);
      if (index == 0) {
        const cotrack::AddPointResult added = engine.add_point(0, 40.f, 30.f);
        REQUIRE(added.status == cotrack::AddPointResult::Status::kOk);
        id = added.id;
      }
      engine.step();
    }
    engine.flush();
    REQUIRE(frames.size() == static_cast<size_t>(count));
    for (int t = 0; t < count; ++t) CHECK(frames[static_cast<size_t>(t)] == t);
    REQUIRE(ids.size() == static_cast<size_t>(count));
    for (const cotrack::PointId got : ids) CHECK(got == id);
  }
}
