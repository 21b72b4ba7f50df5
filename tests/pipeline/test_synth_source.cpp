// The built-in "synth[:SEED]" source: the stream's frames in order at the configured rate, a
// prompt stop, and the spec's seed checked.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "cotrack/error.hpp"
#include "cotrack/synth_stream.hpp"
#include "synth_source.hpp"

TEST_CASE("synth source: the spec names the kind and the seed") {
  CHECK(cotrack::source_kind("synth") == cotrack::SourceKind::kSynth);
  CHECK(cotrack::source_kind("synth:42") == cotrack::SourceKind::kSynth);
  CHECK(cotrack::synth_seed("synth") == 1);
  CHECK(cotrack::synth_seed("synth:42") == 42);
  cotrack::SourceConfig bad;
  bad.spec = "synth:4x";
  CHECK_THROWS_AS(bad.validate(), cotrack::UsageError);
  bad.spec = "synth:";
  CHECK_THROWS_AS(bad.validate(), cotrack::UsageError);
}

TEST_CASE("synth source: the stream's frames, in order, at the configured rate") {
  cotrack::SynthParams sp;
  sp.width = 64;
  sp.height = 48;
  sp.frames = 6;
  sp.num_points = 0;
  auto stream = std::make_shared<const cotrack::SynthStream>(sp, 9);
  cotrack::SourceConfig config;
  config.spec = "synth:9";
  config.width = 64;
  config.height = 48;
  config.fps = 100;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<bool> matches;
  std::vector<int64_t> arrivals;
  int started = 0;
  cotrack::SynthSource source(
      config, stream,
      [&](const cotrack::SourceFrame& f) {
        std::lock_guard<std::mutex> lock(mu);
        const int64_t n = static_cast<int64_t>(matches.size());
        const uint8_t* want = stream->frame(n);
        matches.push_back(f.width == 64 && f.height == 48 && f.stride == 64 * 3 &&
                          std::equal(want, want + 64 * 48 * 3, f.rgb));
        arrivals.push_back(f.arrival_ns);
        cv.notify_all();
        return matches.size() % 3 != 0;  // refusals change nothing: the next frame follows
      },
      [&](const cotrack::SourceEvent& e) {
        if (e.kind == cotrack::SourceEvent::Kind::kStarted) ++started;
      });
  CHECK(source.is_live());
  CHECK_FALSE(source.finished());
  const auto t0 = std::chrono::steady_clock::now();
  source.start();
  {
    std::unique_lock<std::mutex> lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return matches.size() >= 25; }));
  }
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  source.stop();
  const size_t after_stop = matches.size();
  source.stop();  // idempotent
  CHECK(started == 1);
  CHECK(std::all_of(matches.begin(), matches.end(), [](bool m) { return m; }));
  // 25 frames at 100 fps: 240 ms of schedule at least.
  CHECK(elapsed >= std::chrono::milliseconds(235));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(matches.size() == after_stop);  // nothing after stop()
}
