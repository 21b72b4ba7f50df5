// Renderer (exact copy where nothing is drawn, markers, trails, colours, HUD, help), VideoOut
// (MP4/MKV/AVI that read back, one-line errors), write_png, and PreviewWindow: the display check,
// and clicks/keys/closing under a private Xvfb (skipped with a message when Xvfb or xdotool is
// missing). The window case runs in a child process (this binary again) so that Qt's connection
// to the X server dies with the child, not with this test binary.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "test_util.hpp"

#include <opencv2/core.hpp>
#include <opencv2/highgui.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "cotrack/engine.hpp"
#include "cotrack/error.hpp"
#include "renderer.hpp"

using cotrack::testing::TempDir;
namespace {

namespace fs = std::filesystem;
using cotrack::HudStats;
using cotrack::PointEstimate;
using cotrack::PreviewWindow;
using cotrack::RenderConfig;
using cotrack::Renderer;
using cotrack::Snapshot;
using cotrack::UiEvent;
using cotrack::VideoOut;

struct Bgr {
  int b = 0, g = 0, r = 0;
};

Bgr color_of(int64_t id) {
  uint8_t b, g, r;
  Renderer::color_for(id, b, g, r);
  return {b, g, r};
}

Bgr pixel(const std::vector<uint8_t>& bgr, int width, int x, int y) {
  const size_t i = (static_cast<size_t>(y) * width + x) * 3;
  return {bgr[i], bgr[i + 1], bgr[i + 2]};
}

int max_diff(Bgr a, Bgr b) {
  return std::max({std::abs(a.b - b.b), std::abs(a.g - b.g), std::abs(a.r - b.r)});
}

// An RGB frame with a smooth pattern (every pixel distinct enough to catch a channel swap).
std::vector<uint8_t> pattern_rgb(int width, int height) {
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &rgb[(static_cast<size_t>(y) * width + x) * 3];
      p[0] = static_cast<uint8_t>(20 + (x * 200) / width);   // R
      p[1] = static_cast<uint8_t>(30 + (y * 180) / height);  // G
      p[2] = static_cast<uint8_t>((x + y) % 256);            // B
    }
  }
  return rgb;
}

std::vector<uint8_t> uniform_rgb(int width, int height, uint8_t value) {
  return std::vector<uint8_t>(static_cast<size_t>(width) * height * 3, value);
}

PointEstimate estimate(int64_t id, float x, float y, bool visible, bool estimated = true) {
  PointEstimate e;
  e.id = id;
  e.x_px = x;
  e.y_px = y;
  e.visible = visible;
  e.estimated = estimated;
  e.visibility = visible ? 1.f : 0.f;
  e.confidence = visible ? 1.f : 0.f;
  return e;
}

Snapshot::Track one_point_track(int64_t id, int64_t frame, float x, float y, bool visible,
                                bool estimated = true) {
  Snapshot::Track t;
  t.id = id;
  t.query_frame = frame;
  t.frames = {frame};
  t.estimates = {estimate(id, x, y, visible, estimated)};
  return t;
}

RenderConfig no_hud() {
  RenderConfig c;
  c.show_hud = false;
  return c;
}


// Sets (or unsets, with nullopt) an environment variable and restores it on destruction.
class EnvGuard {
 public:
  explicit EnvGuard(const char* name) : name_(name) {
    const char* v = std::getenv(name);
    if (v != nullptr) saved_ = std::string(v);
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;
  ~EnvGuard() { set(saved_); }
  void set(const std::optional<std::string>& value) const {
    if (value) {
      setenv(name_, value->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> saved_;
};

struct ReadBack {
  int frames = 0;
  int width = 0, height = 0;
  cv::Mat first;
};

ReadBack read_back(const std::string& path) {
  ReadBack out;
  cv::VideoCapture cap(path, cv::CAP_FFMPEG);
  REQUIRE_MESSAGE(cap.isOpened(), "cannot read back " << path);
  cv::Mat frame;
  while (cap.read(frame)) {
    if (out.frames == 0) {
      out.width = frame.cols;
      out.height = frame.rows;
      out.first = frame.clone();
    }
    ++out.frames;
  }
  return out;
}

// Writes `frames` frames of a moving gradient; returns the first frame (BGR).
std::vector<uint8_t> write_clip(VideoOut& out, int width, int height, int frames) {
  std::vector<uint8_t> first;
  for (int f = 0; f < frames; ++f) {
    std::vector<uint8_t> bgr(static_cast<size_t>(width) * height * 3);
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        uint8_t* p = &bgr[(static_cast<size_t>(y) * width + x) * 3];
        p[0] = static_cast<uint8_t>(40 + x);
        p[1] = static_cast<uint8_t>(60 + y);
        p[2] = static_cast<uint8_t>(100 + 4 * f);
      }
    }
    if (f == 0) first = bgr;
    out.write(bgr);
  }
  return first;
}

double mean_abs_diff(const cv::Mat& a, const std::vector<uint8_t>& b, int width, int height) {
  const cv::Mat bm(height, width, CV_8UC3, const_cast<uint8_t*>(b.data()));
  cv::Mat diff;
  cv::absdiff(a(cv::Rect(0, 0, width, height)), bm, diff);
  const cv::Scalar m = cv::mean(diff);
  return (m[0] + m[1] + m[2]) / 3.0;
}

}  // namespace

TEST_SUITE("renderer") {
  TEST_CASE("the BGR copy is exact where nothing is drawn") {
    const int w = 320, h = 240;
    const std::vector<uint8_t> rgb = pattern_rgb(w, h);
    Snapshot snap;
    snap.tracks.push_back(one_point_track(0, 5, 60.f, 150.f, true));
    std::vector<uint8_t> bgr;
    Renderer renderer;  // HUD on
    renderer.draw(rgb.data(), w, h, snap, 5, HudStats{}, bgr);
    REQUIRE(bgr.size() == static_cast<size_t>(w * h * 3));
    for (const auto& [x, y] : {std::pair{300, 230}, std::pair{200, 120}, std::pair{5, 235}}) {
      const size_t i = (static_cast<size_t>(y) * w + x) * 3;
      CHECK(bgr[i + 0] == rgb[i + 2]);
      CHECK(bgr[i + 1] == rgb[i + 1]);
      CHECK(bgr[i + 2] == rgb[i + 0]);
    }
    // Without HUD and tracks the output is the input, channel-swapped, byte for byte.
    Renderer plain(no_hud());
    plain.draw(rgb.data(), w, h, Snapshot{}, 0, HudStats{}, bgr);
    bool exact = true;
    for (size_t i = 0; i < bgr.size(); i += 3) {
      exact = exact && bgr[i] == rgb[i + 2] && bgr[i + 1] == rgb[i + 1] && bgr[i + 2] == rgb[i];
    }
    CHECK(exact);
    CHECK_THROWS_AS(plain.draw(nullptr, w, h, Snapshot{}, 0, HudStats{}, bgr), cotrack::InputError);
    CHECK_THROWS_AS(plain.draw(rgb.data(), 0, h, Snapshot{}, 0, HudStats{}, bgr),
                    cotrack::InputError);
  }

  TEST_CASE("a visible point is a filled disc in its colour, an occluded one a hollow ring") {
    const int w = 320, h = 240;
    const std::vector<uint8_t> rgb = uniform_rgb(w, h, 90);
    const Bgr background{90, 90, 90};
    Snapshot snap;
    snap.tracks.push_back(one_point_track(3, 7, 100.f, 120.f, /*visible=*/true));
    snap.tracks.push_back(one_point_track(4, 7, 200.f, 120.f, /*visible=*/false));
    std::vector<uint8_t> bgr;
    Renderer renderer(no_hud());
    const int r = renderer.config().marker_radius_px;
    renderer.draw(rgb.data(), w, h, snap, 7, HudStats{}, bgr);

    const Bgr c3 = color_of(3), c4 = color_of(4);
    CHECK(max_diff(pixel(bgr, w, 100, 120), c3) == 0);
    CHECK(max_diff(pixel(bgr, w, 101, 121), c3) == 0);
    CHECK(max_diff(pixel(bgr, w, 100 + r + 4, 120), background) == 0);  // beyond the outline

    CHECK(max_diff(pixel(bgr, w, 200, 120), background) == 0);  // hollow centre
    CHECK(max_diff(pixel(bgr, w, 200 + r, 120), c4) <= 8);      // the ring
    CHECK(max_diff(pixel(bgr, w, 200, 120 - r), c4) <= 8);

    // A later frame shows the newest estimate at or before it; an earlier one shows nothing.
    renderer.draw(rgb.data(), w, h, snap, 50, HudStats{}, bgr);
    CHECK(max_diff(pixel(bgr, w, 100, 120), c3) == 0);
    renderer.draw(rgb.data(), w, h, snap, 6, HudStats{}, bgr);
    CHECK(max_diff(pixel(bgr, w, 100, 120), background) == 0);
    CHECK(max_diff(pixel(bgr, w, 200 + r, 120), background) == 0);
  }

  TEST_CASE("a point not yet estimated is a cross at its query position") {
    const int w = 160, h = 120;
    const std::vector<uint8_t> rgb = uniform_rgb(w, h, 90);
    Snapshot snap;
    snap.tracks.push_back(one_point_track(2, 0, 80.f, 60.f, false, /*estimated=*/false));
    std::vector<uint8_t> bgr;
    Renderer renderer(no_hud());
    const int r = renderer.config().marker_radius_px;
    renderer.draw(rgb.data(), w, h, snap, 0, HudStats{}, bgr);
    const Bgr c = color_of(2);
    CHECK(max_diff(pixel(bgr, w, 80, 60), c) <= 8);
    CHECK(max_diff(pixel(bgr, w, 80 + r / 2, 60 + r / 2), c) <= 8);
    CHECK(max_diff(pixel(bgr, w, 80 - r / 2, 60 + r / 2), c) <= 8);
    CHECK(max_diff(pixel(bgr, w, 80 + r / 2, 60), Bgr{90, 90, 90}) > 0);  // between the arms
    CHECK(max_diff(pixel(bgr, w, 80 + r / 2, 60), c) > 40);
  }

  TEST_CASE("the trail joins the estimates up to frame_index and fades with age") {
    const int w = 320, h = 240;
    const std::vector<uint8_t> rgb = uniform_rgb(w, h, 60);
    const Bgr background{60, 60, 60};
    Snapshot snap;
    Snapshot::Track t;
    t.id = 5;
    const float xs[] = {40.f, 80.f, 120.f, 160.f, 240.f};
    for (int f = 0; f < 5; ++f) {
      t.frames.push_back(10 + f);
      t.estimates.push_back(estimate(5, xs[f], 100.f, true));
    }
    snap.tracks.push_back(t);
    std::vector<uint8_t> bgr;
    Renderer renderer(no_hud());
    renderer.draw(rgb.data(), w, h, snap, /*frame_index=*/13, HudStats{}, bgr);
    const Bgr c = color_of(5);
    // Newest segment (frames 12 -> 13): full opacity through the midpoint.
    CHECK(max_diff(pixel(bgr, w, 140, 100), c) <= 12);
    // Oldest segment (10 -> 11): drawn, but faint.
    const Bgr oldest = pixel(bgr, w, 60, 100);
    CHECK(max_diff(oldest, background) > 0);
    CHECK(max_diff(oldest, c) > 60);
    // Middle segment: in between.
    const Bgr middle = pixel(bgr, w, 100, 100);
    CHECK(max_diff(middle, background) > max_diff(oldest, background));
    // Frame 14 is after frame_index: no segment 13 -> 14, marker at frame 13.
    CHECK(max_diff(pixel(bgr, w, 200, 100), background) == 0);
    CHECK(max_diff(pixel(bgr, w, 160, 100), c) == 0);
    // Far from the line nothing changes.
    CHECK(max_diff(pixel(bgr, w, 140, 110), background) == 0);

    // trail_frames = 2 keeps only the newest two estimates: one segment.
    RenderConfig short_trail = no_hud();
    short_trail.trail_frames = 2;
    Renderer(short_trail).draw(rgb.data(), w, h, snap, 13, HudStats{}, bgr);
    CHECK(max_diff(pixel(bgr, w, 140, 100), c) <= 12);
    CHECK(max_diff(pixel(bgr, w, 100, 100), background) == 0);
    CHECK(max_diff(pixel(bgr, w, 60, 100), background) == 0);
  }

  TEST_CASE("a segment between two occluded estimates is dashed and thin") {
    const int w = 320, h = 240;
    const std::vector<uint8_t> rgb = uniform_rgb(w, h, 60);
    const Bgr background{60, 60, 60};
    Snapshot snap;
    Snapshot::Track t;
    t.id = 1;
    t.frames = {0, 1, 2};
    t.estimates = {estimate(1, 20.f, 100.f, false), estimate(1, 220.f, 100.f, false),
                   estimate(1, 260.f, 100.f, true)};
    snap.tracks.push_back(t);
    std::vector<uint8_t> bgr;
    Renderer(no_hud()).draw(rgb.data(), w, h, snap, 2, HudStats{}, bgr);
    int on = 0, off = 0;
    for (int x = 30; x < 210; ++x) {
      (max_diff(pixel(bgr, w, x, 100), background) > 0 ? on : off) += 1;
      // 1 px: two rows away the line leaves no trace.
      CHECK(max_diff(pixel(bgr, w, x, 102), background) == 0);
    }
    CHECK(on > 40);
    CHECK(off > 40);
    // The segment to the visible estimate is solid.
    for (int x = 228; x < 252; ++x) CHECK(max_diff(pixel(bgr, w, x, 100), background) > 0);
  }

  TEST_CASE("colours are stable per id and differ between ids") {
    const Bgr a = color_of(0), b = color_of(1);
    CHECK(max_diff(a, b) > 60);
    CHECK(max_diff(color_of(7), color_of(7)) == 0);
    for (int64_t i = 0; i < 16; ++i) {
      for (int64_t j = i + 1; j < 16; ++j) CHECK(max_diff(color_of(i), color_of(j)) > 0);
    }
    const Bgr big = color_of(123456789);
    const Bgr negative = color_of(-3);
    CHECK(std::max({big.b, big.g, big.r}) == 255);  // value 1: one channel saturates
    CHECK(std::max({negative.b, negative.g, negative.r}) == 255);
  }

  TEST_CASE("the HUD band darkens the top rows and wraps on small frames") {
    HudStats hud;
    hud.input_fps = 30;
    hud.tracked_fps = 29.8;
    hud.latency_ms = 45;
    hud.dropped = 12;
    hud.points = 5;
    hud.thin = 2;
    hud.mode = "cotrack low-latency";
    CHECK(Renderer::hud_text(hud) ==
          "in 30.0 fps | tracked 29.8 fps | latency 45 ms | drops 12 | points 5 | thin 1/2 | "
          "cotrack low-latency");
    hud.paused = true;
    hud.status = "reconnecting (attempt 2)";
    CHECK(Renderer::hud_text(hud).find("| PAUSED | reconnecting (attempt 2)") != std::string::npos);
    hud.streams = "stream [1] of 2 | all: tracked 59.6 fps, drops 12";
    CHECK(Renderer::hud_text(hud).find("attempt 2) | stream [1] of 2 | all: tracked 59.6 fps") !=
          std::string::npos);
    HudStats unknown;
    unknown.latency_ms = -1;
    CHECK(Renderer::hud_text(unknown).find("latency - |") != std::string::npos);

    // Rows of the band that are darker than the frame, across the whole width.
    auto band_rows = [](int w, int h, const HudStats& stats) {
      const std::vector<uint8_t> rgb = uniform_rgb(w, h, 200);
      std::vector<uint8_t> bgr;
      Renderer().draw(rgb.data(), w, h, Snapshot{}, 0, stats, bgr);
      int rows = 0;
      while (rows < h && pixel(bgr, w, w - 1, rows).b < 200) ++rows;
      // The band is dark, and below it the frame is untouched.
      CHECK(pixel(bgr, w, w - 1, 0).b < 120);
      CHECK(pixel(bgr, w, w / 2, rows + 2).b == 200);
      return rows;
    };
    const int one_line_720p = band_rows(1280, 720, HudStats{});
    const int small = band_rows(320, 240, HudStats{});
    const int small_long = band_rows(320, 240, hud);
    CHECK(one_line_720p > 10);
    CHECK(one_line_720p < 60);
    CHECK(small > 8);
    CHECK(small_long > small);  // wrapped onto more lines
    CHECK(small_long < 120);

    // Without the HUD the top rows stay as they are.
    const std::vector<uint8_t> rgb = uniform_rgb(320, 240, 200);
    std::vector<uint8_t> bgr;
    Renderer(no_hud()).draw(rgb.data(), 320, 240, Snapshot{}, 0, hud, bgr);
    CHECK(pixel(bgr, 320, 319, 0).b == 200);
    CHECK(pixel(bgr, 320, 5, 5).b == 200);
  }

  TEST_CASE("the help box lists the controls in the middle of the frame") {
    const std::vector<std::string> lines = Renderer::help_lines();
    REQUIRE(lines.size() == 8);
    CHECK(lines.front() == "left click: add point");
    CHECK(lines.back() == "q/Esc: quit");
    for (const auto& [w, h] : {std::pair{320, 240}, std::pair{1280, 720}}) {
      const std::vector<uint8_t> rgb = uniform_rgb(w, h, 200);
      std::vector<uint8_t> bgr;
      RenderConfig config;
      config.show_help = true;
      Renderer(config).draw(rgb.data(), w, h, Snapshot{}, 0, HudStats{}, bgr);
      int darker = 0;  // pixels of the middle row that the box darkened
      for (int x = 0; x < w; ++x) darker += pixel(bgr, w, x, h * 2 / 3).b < 200;
      CHECK(darker > w / 4);
      CHECK(pixel(bgr, w, 0, h - 1).b == 200);  // the box stays clear of the corners
    }
  }

  TEST_CASE("RenderConfig is validated") {
    RenderConfig c;
    c.marker_radius_px = 0;
    CHECK_THROWS_AS(Renderer{c}, cotrack::UsageError);
    c = RenderConfig{};
    c.trail_frames = -1;
    CHECK_THROWS_AS(Renderer{c}, cotrack::UsageError);
    Renderer r;
    CHECK_THROWS_AS(r.set_config(c), cotrack::UsageError);
    c.trail_frames = 0;
    r.set_config(c);
    CHECK(r.config().trail_frames == 0);
  }

  TEST_CASE("VideoOut writes an MP4 that reads back with every frame") {
    TempDir dir("renderer_mp4");
    const std::string path = dir.file("out.mp4");
    std::vector<uint8_t> first;
    {
      VideoOut out(path, 160, 120, 30.0);
      first = write_clip(out, 160, 120, 10);
      CHECK(out.frames() == 10);
      out.close();
      out.close();       // idempotent
      out.write(first);  // ignored after close
      CHECK(out.frames() == 10);
    }
    const ReadBack back = read_back(path);
    CHECK(back.frames == 10);
    CHECK(back.width == 160);
    CHECK(back.height == 120);
    CHECK(mean_abs_diff(back.first, first, 160, 120) < 8.0);
  }

  TEST_CASE("VideoOut closed from another thread mid-stream (the shutdown path) reads back") {
    TempDir dir("renderer_shutdown");
    const std::string path = dir.file("live.mp4");
    VideoOut out(path, 160, 120, 30.0);
    std::atomic<bool> stop{false};
    std::thread writer([&] {
      std::vector<uint8_t> frame(160 * 120 * 3, 128);
      while (!stop.load()) out.write(frame);  // writes after close() are ignored
    });
    while (out.frames() < 15) std::this_thread::yield();
    out.close();  // as the app does after SIGINT, while the writer thread is still running
    stop = true;
    writer.join();
    const ReadBack back = read_back(path);
    CHECK(back.frames == out.frames());
    CHECK(back.width == 160);
  }

  TEST_CASE("VideoOut: MKV, AVI and odd frame sizes; the destructor closes") {
    TempDir dir("renderer_formats");
    for (const std::string name : {"out.mkv", "out.AVI"}) {
      CAPTURE(name);
      const std::string path = dir.file(name);
      std::vector<uint8_t> first;
      {
        VideoOut out(path, 160, 120, 25.0);
        first = write_clip(out, 160, 120, 6);
      }  // no close(): the destructor finalises
      const ReadBack back = read_back(path);
      CHECK(back.frames == 6);
      CHECK(back.width == 160);
      CHECK(back.height == 120);
      CHECK(mean_abs_diff(back.first, first, 160, 120) < 8.0);
    }
    // Widths that are not multiples of 4 (OpenCV's GStreamer writer skews those unless padded)
    // and odd sizes (padded to even for 4:2:0).
    struct Case {
      std::string name;
      int w, h, out_w, out_h;
    };
    for (const Case& c :
         {Case{"w162.mp4", 162, 120, 162, 120}, Case{"odd.mp4", 161, 121, 162, 122},
          Case{"w163.mkv", 163, 90, 164, 90}, Case{"odd.avi", 161, 121, 162, 122}}) {
      CAPTURE(c.name);
      const std::string path = dir.file(c.name);
      std::vector<uint8_t> first;
      {
        VideoOut out(path, c.w, c.h, 30.0);
        first = write_clip(out, c.w, c.h, 4);
        CHECK_THROWS_AS(out.write(std::vector<uint8_t>(10)), cotrack::InputError);
      }
      const ReadBack back = read_back(path);
      CHECK(back.frames == 4);
      CHECK(back.width == c.out_w);
      CHECK(back.height == c.out_h);
      CHECK(mean_abs_diff(back.first, first, c.w, c.h) < 8.0);
    }
  }

  TEST_CASE("VideoOut errors name the path") {
    const std::string bad = "/nonexistent/dir/x.mp4";
    try {
      VideoOut out(bad, 160, 120, 30.0);
      FAIL("no exception");
    } catch (const cotrack::Error& e) {
      CHECK(e.code() == cotrack::ExitCode::kRuntime);
      CHECK(std::string(e.what()).find(bad) != std::string::npos);
      CHECK(std::string(e.what()).find('\n') == std::string::npos);
    }
    TempDir dir("renderer_errors");
    CHECK_THROWS_AS(VideoOut(dir.file("x.gif"), 160, 120, 30.0), cotrack::UsageError);
    CHECK_THROWS_AS(VideoOut(dir.file("x.mp4"), 0, 120, 30.0), cotrack::UsageError);
    CHECK_THROWS_AS(VideoOut(dir.file("x.mp4"), 160, 120, 0.0), cotrack::UsageError);
    CHECK_FALSE(fs::exists(dir.file("x.gif")));
  }

  TEST_CASE("write_png writes a screenshot that reads back exactly") {
    TempDir dir("renderer_png");
    const int w = 64, h = 48;
    const std::vector<uint8_t> rgb = pattern_rgb(w, h);  // any bytes will do as BGR
    const std::string path = dir.file("shot.png");
    REQUIRE(cotrack::write_png(path, rgb, w, h));
    const cv::Mat back = cv::imread(path, cv::IMREAD_COLOR);
    REQUIRE(back.cols == w);
    REQUIRE(back.rows == h);
    CHECK(std::equal(rgb.begin(), rgb.end(), back.ptr<uint8_t>(0)));
    CHECK_FALSE(cotrack::write_png("/nonexistent/dir/shot.png", rgb, w, h));
    CHECK_FALSE(cotrack::write_png(dir.file("short.png"), rgb, w + 1, h));
  }

  TEST_CASE("PreviewWindow::display_available follows DISPLAY and WAYLAND_DISPLAY") {
    EnvGuard display("DISPLAY");
    EnvGuard wayland("WAYLAND_DISPLAY");
    display.set(std::nullopt);
    wayland.set(std::nullopt);
    CHECK_FALSE(PreviewWindow::display_available());
    CHECK_THROWS_AS(PreviewWindow("no display", 64, 48), cotrack::Error);
    display.set(std::string());
    CHECK_FALSE(PreviewWindow::display_available());
    display.set(std::string(":99"));
    CHECK(PreviewWindow::display_available());
    display.set(std::nullopt);
    wayland.set(std::string("wayland-0"));
    CHECK(PreviewWindow::display_available());
  }
}

namespace {

bool have_program(const char* name) {
  return std::system(("command -v " + std::string(name) + " >/dev/null 2>&1").c_str()) == 0;
}

// An Xvfb server on a free display number, stopped (by its pid) on destruction.
class Xvfb {
 public:
  Xvfb() {
    for (int n = 87; n < 140; ++n) {
      if (fs::exists("/tmp/.X" + std::to_string(n) + "-lock") ||
          fs::exists("/tmp/.X11-unix/X" + std::to_string(n))) {
        continue;
      }
      const std::string disp = ":" + std::to_string(n);
      std::fflush(nullptr);  // or the child would write this process's buffered output again
      const pid_t pid = fork();
      if (pid == 0) {
        const int null_fd = open("/dev/null", O_WRONLY);
        if (null_fd >= 0) {
          dup2(null_fd, STDOUT_FILENO);
          dup2(null_fd, STDERR_FILENO);
        }
        execlp("Xvfb", "Xvfb", disp.c_str(), "-screen", "0", "1024x768x24", "-nolisten", "tcp",
               static_cast<char*>(nullptr));
        _exit(127);
      }
      if (pid < 0) return;
      const std::string socket = "/tmp/.X11-unix/X" + std::to_string(n);
      for (int i = 0; i < 100 && !fs::exists(socket); ++i) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) break;  // exited: try the next number
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (fs::exists(socket)) {
        pid_ = pid;
        display_ = ":" + std::to_string(n);
        return;
      }
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
  Xvfb(const Xvfb&) = delete;
  Xvfb& operator=(const Xvfb&) = delete;
  ~Xvfb() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  const std::string& display() const { return display_; }  // empty when it did not start

 private:
  pid_t pid_ = -1;
  std::string display_;
};

constexpr const char* kChildEnv = "COTRACK_TEST_WINDOW_CHILD";
constexpr const char* kWindowTitle = "cotrack renderer test";

std::string run_xdotool(const std::string& args) {
  std::string out;
  FILE* p = popen(("xdotool " + args + " 2>/dev/null").c_str(), "r");
  if (p == nullptr) return out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// Polls the window until an event of `kind` arrives (or about 3 s pass).
std::optional<UiEvent> wait_for(PreviewWindow& window, UiEvent::Kind kind) {
  for (int i = 0; i < 150; ++i) {
    for (const UiEvent& e : window.poll(20)) {
      if (e.kind == kind) return e;
    }
  }
  return std::nullopt;
}

}  // namespace

TEST_SUITE("renderer") {
  // Runs in the child started by the next case (DISPLAY is the private Xvfb); a no-op otherwise.
  TEST_CASE("PreviewWindow under Xvfb (child)") {
    if (std::getenv(kChildEnv) == nullptr) return;
    const int w = 320, h = 240;
    PreviewWindow window(kWindowTitle, w, h);
    std::vector<uint8_t> bgr;
    Renderer().draw(pattern_rgb(w, h).data(), w, h, Snapshot{}, 0, HudStats{}, bgr);
    window.show(bgr, w, h);
    for (int i = 0; i < 10; ++i) CHECK(window.poll(20).empty());
    const std::string id = run_xdotool(std::string("search --sync --name '") + kWindowTitle + "'");
    REQUIRE_MESSAGE(!id.empty(), "xdotool found no window");
    const std::string win = id.substr(0, id.find('\n'));

    run_xdotool("mousemove --window " + win + " 100 80 click 1");
    std::optional<UiEvent> e = wait_for(window, UiEvent::Kind::kLeftClick);
    REQUIRE(e);
    CHECK(e->x == doctest::Approx(100).epsilon(0.02));
    CHECK(e->y == doctest::Approx(80).epsilon(0.02));

    run_xdotool("mousemove --window " + win + " 250 30 click 3");
    e = wait_for(window, UiEvent::Kind::kRightClick);
    REQUIRE(e);
    CHECK(std::abs(e->x - 250) <= 1);
    CHECK(std::abs(e->y - 30) <= 1);

    run_xdotool("key --window " + win + " q");
    e = wait_for(window, UiEvent::Kind::kKey);
    REQUIRE(e);
    CHECK(e->key == 'q');

    // Resized to twice the size, window pixels map back to image pixels.
    cv::resizeWindow(kWindowTitle, 2 * w, 2 * h);
    for (int i = 0; i < 10; ++i) window.poll(20);
    run_xdotool("mousemove --window " + win + " 200 160 click 1");
    e = wait_for(window, UiEvent::Kind::kLeftClick);
    REQUIRE(e);
    CHECK(std::abs(e->x - 100) <= 2);
    CHECK(std::abs(e->y - 80) <= 2);

    // Gone (as when the user closes it): kClosed once, and show() is a no-op from then on.
    cv::destroyWindow(kWindowTitle);
    e = wait_for(window, UiEvent::Kind::kClosed);
    REQUIRE(e);
    CHECK(window.closed());
    window.show(bgr, w, h);
    for (const UiEvent& later : window.poll(20)) CHECK(later.kind != UiEvent::Kind::kClosed);
    // Tells the parent that this case ran to the end (a filter matching nothing also exits 0).
    if (FILE* f = std::fopen(std::getenv(kChildEnv), "w")) std::fclose(f);
  }

  TEST_CASE("PreviewWindow reports clicks, keys and closing (private Xvfb)") {
    if (std::getenv(kChildEnv) != nullptr) return;
    if (!have_program("Xvfb") || !have_program("xdotool")) {
      MESSAGE("skipped: Xvfb or xdotool is not installed");
      return;
    }
    Xvfb xvfb;
    if (xvfb.display().empty()) {
      MESSAGE("skipped: Xvfb did not start");
      return;
    }
    TempDir dir("renderer_window");
    const std::string self = fs::read_symlink("/proc/self/exe").string();
    const std::string log = dir.file("child.log"), done = dir.file("child.done");
    const std::string cmd = std::string("env ") + kChildEnv + "='" + done +
                            "' DISPLAY=" + xvfb.display() + " QT_QPA_PLATFORM=xcb '" + self +
                            "' -ts=renderer '-tc=PreviewWindow under Xvfb (child)' >'" + log +
                            "' 2>&1";
    const int status = std::system(cmd.c_str());
    std::string text;
    if (FILE* f = std::fopen(log.c_str(), "r")) {
      char buf[512];
      while (std::fgets(buf, sizeof buf, f) != nullptr) text += buf;
      std::fclose(f);
    }
    CHECK_MESSAGE(status == 0, "the window child failed:\n" << text);
    CHECK_MESSAGE(fs::exists(done), "the window child did not run to the end:\n" << text);
  }
}
