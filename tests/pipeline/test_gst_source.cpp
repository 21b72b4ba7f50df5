// GstSource: the test pattern, files (lossless and real time), start-up errors, config checks and
// RTSP reconnects against an in-process server. Waits use condition variables; the timeouts are
// upper bounds only.
#include <gst/gst.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "test_util.hpp"

#include "cotrack/error.hpp"
#include "gst_source.hpp"
#include "rtsp_test_server.hpp"

using cotrack::testing::TempDir;
namespace {

namespace fs = std::filesystem;
using cotrack::GstSource;
using cotrack::SourceConfig;
using cotrack::SourceEvent;
using cotrack::SourceFrame;
using cotrack::SourceKind;
using cotrack::testing::RtspTestServer;
using Clock = std::chrono::steady_clock;
using Kind = SourceEvent::Kind;

constexpr auto kWait = std::chrono::seconds(10);  // upper bound for any awaited event

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

const char* name(Kind kind) {
  switch (kind) {
    case Kind::kStarted:
      return "started";
    case Kind::kEndOfStream:
      return "eos";
    case Kind::kError:
      return "error";
    case Kind::kReconnecting:
      return "reconnecting";
    case Kind::kGaveUp:
      return "gave-up";
  }
  return "?";
}

// What a source reported, recorded from its threads; wait() blocks until a predicate holds.
class Recorder {
 public:
  struct Frame {
    int width, height, stride;
    int64_t pts_ns, arrival_ns;
    uint8_t first_byte;
  };

  // Accepts every frame unless `accept` says otherwise.
  std::function<bool(const SourceFrame&)> accept;

  cotrack::FrameCallback frame_callback() {
    return [this](const SourceFrame& f) {
      std::lock_guard<std::mutex> lock(mu_);
      ++offers_;
      if (closed_) ++after_stop_;
      if (accept && !accept(f)) return false;
      frames_.push_back({f.width, f.height, f.stride, f.pts_ns, f.arrival_ns, f.rgb[0]});
      cv_.notify_all();
      return true;
    };
  }

  cotrack::EventCallback event_callback() {
    return [this](const SourceEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) ++after_stop_;
      events_.push_back(e);
      cv_.notify_all();
    };
  }

  // Marks the source stopped: any callback from now on is a contract violation.
  void close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }

  bool wait(const std::function<bool()>& pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kWait, pred);
  }
  bool wait_frames(size_t n) {
    return wait([&] { return frames_.size() >= n; });
  }
  bool wait_event(Kind kind, int count = 1) {
    return wait([&] { return count_locked(kind) >= count; });
  }

  int count(Kind kind) {
    std::lock_guard<std::mutex> lock(mu_);
    return count_locked(kind);
  }
  std::vector<Frame> frames() {
    std::lock_guard<std::mutex> lock(mu_);
    return frames_;
  }
  std::vector<SourceEvent> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  size_t frame_count() {
    std::lock_guard<std::mutex> lock(mu_);
    return frames_.size();
  }
  int offers() {
    std::lock_guard<std::mutex> lock(mu_);
    return offers_;
  }
  int after_stop() {
    std::lock_guard<std::mutex> lock(mu_);
    return after_stop_;
  }

  // Index of the first event of `kind` at or after event `from`, or -1.
  int find(Kind kind, size_t from = 0) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = from; i < events_.size(); ++i)
      if (events_[i].kind == kind) return static_cast<int>(i);
    return -1;
  }

 private:
  int count_locked(Kind kind) const {
    return static_cast<int>(std::count_if(events_.begin(), events_.end(),
                                          [kind](const SourceEvent& e) { return e.kind == kind; }));
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Frame> frames_;
  std::vector<SourceEvent> events_;
  int offers_ = 0;
  int after_stop_ = 0;
  bool closed_ = false;
};

// Stops the source, checks that it was prompt, and returns the time it took in ms.
double timed_stop(GstSource& source, Recorder& rec) {
  const auto t0 = Clock::now();
  source.stop();
  const double ms = ms_since(t0);
  rec.close();
  CHECK(ms < 1000);
  return ms;
}


// Runs a finite pipeline to its end; false (and the reason in `error`) if it fails.
bool run_pipeline(const std::string& description, std::string* error) {
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch(description.c_str(), &err);
  if (!pipeline) {
    *error = err ? err->message : "parse failed";
    g_clear_error(&err);
    return false;
  }
  g_clear_error(&err);
  gst_object_ref_sink(pipeline);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* msg = gst_bus_timed_pop_filtered(
      bus, 10 * GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  bool ok = msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS;
  if (!ok) *error = msg ? "pipeline error" : "pipeline timed out";
  if (msg) gst_message_unref(msg);
  gst_object_unref(bus);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
  return ok;
}

// A 20-frame 64x48 H.264 MP4 at 30 fps.
fs::path write_mp4(const fs::path& dir, int frames) {
  const fs::path path = dir / "clip.mp4";
  std::string error;
  const bool ok = run_pipeline(
      "videotestsrc num-buffers=" + std::to_string(frames) +
          " pattern=ball ! video/x-raw,width=64,height=48,framerate=30/1 ! videoconvert ! "
          "video/x-raw,format=I420 ! x264enc ! mp4mux ! filesink location=\"" +
          path.string() + "\"",
      &error);
  REQUIRE_MESSAGE(ok, error);
  return path;
}

// The message of the UsageError that validate() throws, or "" when it accepts the config.
std::string usage_error(const SourceConfig& config) {
  try {
    config.validate();
  } catch (const cotrack::UsageError& e) {
    return e.what();
  }
  return {};
}

// The message of the InputError that start() throws, or "" when it starts.
std::string start_error(const std::string& spec) {
  SourceConfig config;
  config.spec = spec;
  GstSource source(config, nullptr, nullptr);
  try {
    source.start();
  } catch (const cotrack::InputError& e) {
    source.stop();  // safe after a failed start
    CHECK_FALSE(source.finished());
    return e.what();
  }
  return {};
}

}  // namespace

TEST_SUITE("gst_source") {
  TEST_CASE("source kinds and descriptions") {
    CHECK(cotrack::source_kind("test") == SourceKind::kTest);
    CHECK(cotrack::source_kind("webcam") == SourceKind::kWebcam);
    CHECK(cotrack::source_kind("webcam:/dev/video2") == SourceKind::kWebcam);
    CHECK(cotrack::source_kind("rtsp://cam/stream") == SourceKind::kRtsp);
    CHECK(cotrack::source_kind("RTSPS://cam/stream") == SourceKind::kRtsp);
    CHECK(cotrack::source_kind("gst:videotestsrc") == SourceKind::kCustom);
    CHECK(cotrack::source_kind("clip.mp4") == SourceKind::kFile);
    CHECK(cotrack::source_kind("http://host/clip.mp4") == SourceKind::kFile);
    CHECK(std::string(cotrack::to_string(SourceKind::kRtsp)) == "rtsp");

    SourceConfig config;
    config.spec = "rtsp://127.0.0.1:8554/x y";
    config.rtsp_transport = "udp";
    GstSource rtsp(config, nullptr, nullptr);
    CHECK(rtsp.is_live());
    CHECK(rtsp.description().find("location=\"rtsp://127.0.0.1:8554/x y\"") != std::string::npos);
    CHECK(rtsp.description().find("latency=0 protocols=udp") != std::string::npos);

    config.spec = "/tmp/some clip.mp4";
    config.realtime = false;
    GstSource file(config, nullptr, nullptr);
    CHECK_FALSE(file.is_live());
    CHECK(file.description().find("uri=\"file:///tmp/some%20clip.mp4\"") != std::string::npos);
    CHECK(file.description().find("drop=false sync=false") != std::string::npos);

    config.spec = "gst:videotestsrc is-live=true";
    CHECK(GstSource(config, nullptr, nullptr).is_live());
    config.spec = "gst:  v4l2src device=/dev/video1 ! videorate";
    CHECK(GstSource(config, nullptr, nullptr).is_live());
    config.spec = "gst:videotestsrc";
    CHECK_FALSE(GstSource(config, nullptr, nullptr).is_live());
  }

  TEST_CASE("test source: frames of the requested size, increasing pts, prompt stop") {
    Recorder rec;
    SourceConfig config;
    config.spec = "test";
    config.width = 160;
    config.height = 120;
    config.fps = 30;
    GstSource source(config, rec.frame_callback(), rec.event_callback());
    CHECK(source.kind() == SourceKind::kTest);
    CHECK(source.is_live());
    const auto t0 = Clock::now();
    source.start();
    source.start();  // already started: nothing happens
    REQUIRE(rec.wait_frames(10));
    const double first_ten_ms = ms_since(t0);
    CHECK(rec.count(Kind::kStarted) == 1);
    const double stop_ms = timed_stop(source, rec);
    source.stop();  // idempotent
    MESSAGE("test source 160x120@30: 10 frames after " << first_ten_ms << " ms, stop " << stop_ms
                                                       << " ms");

    const auto frames = rec.frames();
    for (size_t i = 0; i < frames.size(); ++i) {
      CHECK(frames[i].width == 160);
      CHECK(frames[i].height == 120);
      CHECK(frames[i].stride >= 160 * 3);
      CHECK(frames[i].pts_ns >= 0);
      if (i > 0) {
        CHECK(frames[i].pts_ns > frames[i - 1].pts_ns);
        CHECK(frames[i].arrival_ns >= frames[i - 1].arrival_ns);
      }
    }
    CHECK(rec.after_stop() == 0);
    CHECK_FALSE(source.finished());
    CHECK(rec.count(Kind::kError) == 0);
  }

  TEST_CASE("file, realtime = false: every frame once, in order, despite refusals; then EOS") {
    TempDir dir("gst_source");
    constexpr int kFrames = 20;
    const fs::path clip = write_mp4(dir.path(), kFrames);

    Recorder rec;
    int offer = 0;
    rec.accept = [&offer](const SourceFrame&) { return offer++ % 2 == 1; };  // refuse every other
    SourceConfig config;
    config.spec = clip.string();
    config.realtime = false;
    GstSource source(config, rec.frame_callback(), rec.event_callback());
    CHECK(source.kind() == SourceKind::kFile);
    CHECK_FALSE(source.is_live());
    const auto t0 = Clock::now();
    source.start();
    REQUIRE(rec.wait_event(Kind::kEndOfStream));
    const double run_ms = ms_since(t0);
    CHECK(source.finished());
    timed_stop(source, rec);
    MESSAGE("20-frame MP4, realtime=false: start to EOS " << run_ms << " ms");

    const auto frames = rec.frames();
    REQUIRE(frames.size() == kFrames);
    CHECK(rec.offers() == 2 * kFrames);
    for (size_t i = 0; i < frames.size(); ++i) {
      CHECK(frames[i].width == 64);
      CHECK(frames[i].height == 48);
      if (i > 0) CHECK(frames[i].pts_ns > frames[i - 1].pts_ns);
    }
    // 30 fps: the last frame is 19/30 s after the first.
    CHECK(std::abs(frames.back().pts_ns - frames.front().pts_ns - 19 * 1000000000LL / 30) <
          2000000);
    CHECK(rec.count(Kind::kStarted) == 1);
    CHECK(rec.count(Kind::kError) == 0);
    CHECK(rec.count(Kind::kGaveUp) == 0);
    CHECK(rec.after_stop() == 0);
  }

  TEST_CASE("file, realtime = true: plays at the file's own rate") {
    TempDir dir("gst_source");
    constexpr int kFrames = 10;
    const fs::path clip = write_mp4(dir.path(), kFrames);
    Recorder rec;
    SourceConfig config;
    config.spec = clip.string();
    config.realtime = true;
    GstSource source(config, rec.frame_callback(), rec.event_callback());
    CHECK(source.description().find("sync=true") != std::string::npos);
    source.start();
    REQUIRE(rec.wait_event(Kind::kEndOfStream));
    source.stop();
    rec.close();
    const auto frames = rec.frames();
    REQUIRE(frames.size() == kFrames);
    // 9 frame intervals at 30 fps are 300 ms of presentation: synced playback cannot be faster.
    const double span_ms = (frames.back().arrival_ns - frames.front().arrival_ns) / 1e6;
    CHECK(span_ms > 250);
    MESSAGE("10-frame MP4, realtime=true: first to last frame " << span_ms << " ms (300 nominal)");
  }

  TEST_CASE("gst: pipelines: non-live ones are lossless with realtime = false; liveness queried") {
    Recorder rec;
    rec.accept = [](const SourceFrame& f) { return f.width == 32; };
    SourceConfig config;
    config.spec = "gst:videotestsrc num-buffers=7 ! video/x-raw,width=32,height=24";
    config.realtime = false;
    GstSource source(config, rec.frame_callback(), rec.event_callback());
    CHECK(source.kind() == SourceKind::kCustom);
    CHECK_FALSE(source.is_live());
    source.start();
    REQUIRE(rec.wait_event(Kind::kEndOfStream));
    CHECK(source.finished());
    CHECK_FALSE(source.is_live());
    timed_stop(source, rec);
    CHECK(rec.frame_count() == 7);
    CHECK(rec.frames().back().height == 24);

    Recorder live_rec;
    config.spec = "gst:videotestsrc is-live=true ! video/x-raw,width=32,height=24,framerate=60/1";
    GstSource live(config, live_rec.frame_callback(), live_rec.event_callback());
    CHECK(live.is_live());
    live.start();
    REQUIRE(live_rec.wait_frames(2));
    CHECK(live.is_live());
    timed_stop(live, live_rec);
    CHECK(live_rec.after_stop() == 0);
  }

  TEST_CASE("start-up failures are one-line input errors naming the source") {
    TempDir dir("gst_source");
    const std::string missing = (dir.path() / "missing.mp4").string();
    std::string msg = start_error(missing);
    CHECK(msg.find(missing) != std::string::npos);
    MESSAGE("missing file: " << msg);

    msg = start_error("webcam:/dev/video_nonexistent");
    CHECK(msg.find("/dev/video_nonexistent") != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
    MESSAGE("missing webcam: " << msg);

    msg = start_error("gst:no_such_element_xyz");
    CHECK(msg.find("no_such_element_xyz") != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
    MESSAGE("bad pipeline: " << msg);
  }

  TEST_CASE("bad settings are usage errors naming the key") {
    CHECK(usage_error(SourceConfig{}).empty());
    auto with = [](const std::function<void(SourceConfig&)>& change) {
      SourceConfig config;
      change(config);
      return usage_error(config);
    };
    CHECK(with([](SourceConfig& c) { c.spec = ""; }).find("source") != std::string::npos);
    CHECK(with([](SourceConfig& c) { c.spec = "gst:"; }).find("source") != std::string::npos);
    CHECK(with([](SourceConfig& c) { c.width = 15; }).find("width") != std::string::npos);
    CHECK(with([](SourceConfig& c) { c.height = 8193; }).find("height") != std::string::npos);
    CHECK(with([](SourceConfig& c) { c.fps = 0; }).find("fps") != std::string::npos);
    CHECK(with([](SourceConfig& c) { c.fps = 1001; }).find("fps") != std::string::npos);
    CHECK(with([](SourceConfig& c) { c.rtsp_transport = "http"; }).find("rtsp-transport") !=
          std::string::npos);
    CHECK(with([](SourceConfig& c) { c.rtsp_latency_ms = -1; }).find("rtsp-latency-ms") !=
          std::string::npos);
    CHECK(with([](SourceConfig& c) { c.reconnect_initial_ms = -1; }).find("reconnect-initial-ms") !=
          std::string::npos);
    CHECK(with([](SourceConfig& c) {
            c.reconnect_initial_ms = 5000;
          }).find("reconnect-initial-ms") != std::string::npos);
    CHECK(with([](SourceConfig& c) { c.reconnect_max_ms = -1; }).find("reconnect-max-ms") !=
          std::string::npos);
    CHECK(with([](SourceConfig& c) { c.reconnect_attempts = -1; }).find("reconnect-attempts") !=
          std::string::npos);

    SourceConfig bad;
    bad.width = 8;
    CHECK_THROWS_AS(GstSource(bad, nullptr, nullptr), cotrack::UsageError);
  }

  TEST_CASE("rtsp: frames, server loss, reconnect on the same port, frames again") {
    RtspTestServer server;
    server.set_sync(false);  // send frames as they are encoded, like a camera
    server.start();
    const int port = server.port();
    REQUIRE(port > 0);

    Recorder rec;
    SourceConfig config;
    config.spec = server.url();
    config.rtsp_latency_ms = 0;
    config.reconnect_initial_ms = 100;
    config.reconnect_max_ms = 400;
    GstSource source(config, rec.frame_callback(), rec.event_callback());
    const auto t0 = Clock::now();
    source.start();
    REQUIRE(rec.wait_frames(5));
    const double first_ms = ms_since(t0);
    CHECK(server.clients() == 1);
    const auto first = rec.frames();
    CHECK(first.back().width == 320);
    CHECK(first.back().height == 240);

    const auto t_loss = Clock::now();
    server.stop();
    CHECK(server.clients() == 0);
    REQUIRE(rec.wait_event(Kind::kReconnecting));
    const double detect_ms = ms_since(t_loss);
    const int lost_at = rec.find(Kind::kReconnecting);
    const bool reported =
        rec.find(Kind::kError) == lost_at - 1 || rec.find(Kind::kEndOfStream) == lost_at - 1;
    CHECK(reported);
    const size_t frames_before = rec.frame_count();

    const auto t_back = Clock::now();
    server.start(port);
    CHECK(server.port() == port);
    REQUIRE(rec.wait_frames(frames_before + 5));
    const double back_ms = ms_since(t_back);
    CHECK(source.reconnects() >= 1);
    CHECK(source.reconnect_attempts() >= source.reconnects());
    CHECK(rec.count(Kind::kStarted) >= 2);
    CHECK_FALSE(source.finished());
    const double stop_ms = timed_stop(source, rec);
    CHECK(rec.after_stop() == 0);
    CHECK(rec.count(Kind::kGaveUp) == 0);

    std::string events;
    for (const auto& e : rec.events())
      events += std::string(name(e.kind)) + (e.message.empty() ? "" : "(" + e.message + ")") + " ";
    MESSAGE("rtsp loopback: first 5 frames after "
            << first_ms << " ms; server loss seen after " << detect_ms << " ms; frames again "
            << back_ms << " ms after restart; stop " << stop_ms << " ms; events: " << events);
  }

  TEST_CASE("rtsp: server down at start is not an error; gives up after the attempts") {
    RtspTestServer probe;  // find a port nobody listens on
    probe.start();
    const std::string url = probe.url();
    probe.stop();

    Recorder rec;
    SourceConfig config;
    config.spec = url;
    config.reconnect_initial_ms = 50;
    config.reconnect_max_ms = 100;
    config.reconnect_attempts = 2;
    GstSource source(config, rec.frame_callback(), rec.event_callback());
    CHECK_NOTHROW(source.start());
    REQUIRE(rec.wait_event(Kind::kGaveUp));
    CHECK(source.finished());
    CHECK(rec.count(Kind::kReconnecting) == 2);
    CHECK(rec.count(Kind::kError) == 3);
    CHECK(source.reconnect_attempts() == 2);
    CHECK(source.reconnects() == 0);  // none worked
    const auto events = rec.events();
    REQUIRE(events.size() >= 2);
    CHECK(events.back().kind == Kind::kGaveUp);
    const int second =
        rec.find(Kind::kReconnecting, static_cast<size_t>(rec.find(Kind::kReconnecting) + 1));
    REQUIRE(second >= 0);
    CHECK(events[second].attempt == 2);
    CHECK(events[second].delay_ms == 100);
    CHECK(rec.frame_count() == 0);
    timed_stop(source, rec);
  }

  TEST_CASE("rtsp: stop() is prompt while waiting to reconnect") {
    RtspTestServer probe;
    probe.start();
    const std::string url = probe.url();
    probe.stop();

    Recorder rec;
    SourceConfig config;
    config.spec = url;
    config.reconnect_initial_ms = 60000;
    config.reconnect_max_ms = 60000;
    GstSource source(config, rec.frame_callback(), rec.event_callback());
    source.start();
    REQUIRE(rec.wait_event(Kind::kReconnecting));
    timed_stop(source, rec);
    CHECK_FALSE(source.finished());
  }
}
