// VideoReader / read_all / write_frames_png: byte-exact image clips, MP4 through GStreamer and
// FFMPEG, early ends, and the one-line errors.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "test_util.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <opencv2/videoio/registry.hpp>

#include "cotrack/error.hpp"
#include "cotrack/evaluation.hpp"
#include "cotrack/synth.hpp"
#include "video_reader.hpp"

using cotrack::testing::TempDir;
namespace {

namespace fs = std::filesystem;
using cotrack::VideoFrames;


// A small clip of textured frames. `clean` switches off noise and blur (kinder to lossy codecs).
VideoFrames test_video(int width, int height, int frames, bool clean, uint64_t seed = 3) {
  cotrack::SynthParams p;
  p.width = width;
  p.height = height;
  p.frames = frames;
  p.num_points = 1;
  if (clean) {
    p.noise = false;
    p.blur = false;
  }
  return cotrack::frames_of(cotrack::generate_clip(p, seed));
}

// Writes an RGB frame as an image file through OpenCV (which wants BGR).
void write_image(const fs::path& file, const uint8_t* rgb, int width, int height) {
  const cv::Mat src(height, width, CV_8UC3, const_cast<uint8_t*>(rgb));
  cv::Mat bgr;
  cv::cvtColor(src, bgr, cv::COLOR_RGB2BGR);
  REQUIRE(cv::imwrite(file.string(), bgr));
}

void write_bytes(const fs::path& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// The InputError message of `f()`, "" when it does not throw one. Also checks it is one line.
template <typename F>
std::string input_error(F f) {
  try {
    f();
  } catch (const cotrack::InputError& e) {
    CHECK(e.code() == cotrack::ExitCode::kInput);
    const std::string msg = e.what();
    CHECK(msg.find('\n') == std::string::npos);
    return msg;
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Mean absolute difference per byte between two frames of the same size.
double mean_abs_diff(const uint8_t* a, const uint8_t* b, size_t bytes) {
  double sum = 0.0;
  for (size_t i = 0; i < bytes; ++i) sum += std::abs(int(a[i]) - int(b[i]));
  return sum / static_cast<double>(bytes);
}

// Writes `video` as H.264 MP4: GStreamer's x264enc when available (see toolchain.md), else
// FFMPEG's 'mp4v'. `faststart` puts the index first (GStreamer only), so a truncated copy still
// opens. Returns the writer used, "" when none could open.
std::string write_mp4(const VideoFrames& video, const fs::path& file, bool faststart) {
  const cv::Size size(video.width, video.height);
  cv::VideoWriter writer;
  std::string used;
  if (cv::videoio_registry::hasBackend(cv::CAP_GSTREAMER)) {
    const std::string pipeline =
        "appsrc ! videoconvert ! video/x-raw,format=I420 ! x264enc ! mp4mux" +
        std::string(faststart ? " faststart=true" : "") + " ! filesink location=" + file.string();
    if (writer.open(pipeline, cv::CAP_GSTREAMER, 0, 25.0, size, true)) used = "gstreamer x264";
  }
  if (used.empty() &&
      writer.open(file.string(), cv::CAP_FFMPEG, cv::VideoWriter::fourcc('m', 'p', '4', 'v'),
                  25.0, size, true)) {
    used = "ffmpeg mp4v";
  }
  if (used.empty()) return used;
  cv::Mat bgr;
  for (int t = 0; t < video.count; ++t) {
    const cv::Mat rgb(video.height, video.width, CV_8UC3, const_cast<uint8_t*>(video.frame(t)));
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    writer.write(bgr);
  }
  writer.release();
  return used;
}

}  // namespace

TEST_SUITE("pipeline") {

TEST_CASE("video_reader: PNG frames round-trip byte for byte") {
  const VideoFrames video = test_video(48, 40, 6, /*clean=*/false);
  TempDir dir("reader_png");
  cotrack::write_frames_png(video, dir.str());
  CHECK(fs::exists(dir.path() / "frames" / "000000.png"));
  CHECK(fs::exists(dir.path() / "frames" / "000005.png"));

  cotrack::VideoReader reader(dir.str());
  CHECK(reader.frame_count() == 6);
  CHECK(reader.fps() == 0.0);
  CHECK(reader.width() == 48);
  CHECK(reader.height() == 40);
  CHECK(reader.backend() == "images");
  std::vector<uint8_t> rgb;
  int width = 0, height = 0, t = 0;
  while (reader.next(rgb, width, height)) {
    REQUIRE(t < video.count);
    CHECK(width == 48);
    CHECK(height == 40);
    CHECK(std::equal(rgb.begin(), rgb.end(), video.frame(t)));
    ++t;
  }
  CHECK(t == 6);
  CHECK(reader.frames_read() == 6);
  CHECK_FALSE(reader.next(rgb, width, height));

  const VideoFrames back = cotrack::read_all(dir.str());
  CHECK(back.width == video.width);
  CHECK(back.height == video.height);
  CHECK(back.count == video.count);
  CHECK(back.rgb == video.rgb);
  // The frames directory itself also works, and max_frames cuts the clip.
  CHECK(cotrack::read_all((dir.path() / "frames").string()).rgb == video.rgb);
  const VideoFrames first3 = cotrack::read_all(dir.str(), 3);
  CHECK(first3.count == 3);
  CHECK(std::equal(first3.rgb.begin(), first3.rgb.end(), video.rgb.begin()));
  CHECK(cotrack::read_all(dir.str(), 0).count == 0);

  // Writing a shorter clip over it leaves no stale frames behind.
  const VideoFrames shorter = test_video(48, 40, 2, /*clean=*/false, 9);
  cotrack::write_frames_png(shorter, dir.str());
  CHECK(cotrack::read_all(dir.str()).rgb == shorter.rgb);
}

TEST_CASE("video_reader: reads the PPM clips of cotrack::write_clip exactly") {
  cotrack::SynthParams p;
  p.width = 40;
  p.height = 32;
  p.frames = 5;
  p.num_points = 4;
  const cotrack::SynthClip clip = cotrack::generate_clip(p, 17);
  TempDir dir("reader_ppm");
  cotrack::write_clip(clip, dir.str());
  const VideoFrames back = cotrack::read_all(dir.str());
  CHECK(back.width == clip.width);
  CHECK(back.height == clip.height);
  CHECK(back.count == clip.frames);
  CHECK(back.rgb == clip.rgb);
  // A single image file is a one-frame clip.
  const VideoFrames one = cotrack::read_all((dir.path() / "frames" / "000003.ppm").string());
  CHECK(one.count == 1);
  CHECK(std::equal(one.rgb.begin(), one.rgb.end(), clip.frame(3)));
}

TEST_CASE("video_reader: natural name order; other files are ignored") {
  TempDir dir("reader_order");
  const VideoFrames video = test_video(16, 12, 3, /*clean=*/false);
  // Plain text order would be img10, img2, img9; natural order is img2, img9, img10.
  write_image(dir.path() / "img9.png", video.frame(0), 16, 12);
  write_image(dir.path() / "img10.PPM", video.frame(1), 16, 12);
  write_image(dir.path() / "img2.ppm", video.frame(2), 16, 12);
  write_bytes(dir.path() / "notes.txt", "not a frame");
  write_bytes(dir.path() / ".hidden.png", "not a frame either");
  const VideoFrames back = cotrack::read_all(dir.str());
  REQUIRE(back.count == 3);
  CHECK(std::equal(back.frame(0), back.frame(0) + back.frame_bytes(), video.frame(2)));
  CHECK(std::equal(back.frame(1), back.frame(1) + back.frame_bytes(), video.frame(0)));
  CHECK(std::equal(back.frame(2), back.frame(2) + back.frame_bytes(), video.frame(1)));
}

TEST_CASE("video_reader: MP4 written through OpenCV reads back") {
  const VideoFrames video = test_video(128, 96, 12, /*clean=*/true);
  TempDir dir("reader_mp4");
  const fs::path file = dir.path() / "clip.mp4";
  const std::string writer = write_mp4(video, file, /*faststart=*/true);
  REQUIRE_MESSAGE(!writer.empty(), "neither GStreamer x264enc nor FFMPEG mp4v can write MP4");
  MESSAGE("MP4 written with ", writer);

  cotrack::VideoReader reader(file.string());
  CHECK(reader.frame_count() == 12);
  CHECK(std::fabs(reader.fps() - 25.0) < 0.01);
  CHECK(reader.width() == 128);
  CHECK(reader.height() == 96);
  CHECK(reader.backend() == "FFMPEG");

  const VideoFrames back = cotrack::read_all(file.string());
  REQUIRE(back.count == 12);
  REQUIRE(back.width == 128);
  REQUIRE(back.height == 96);
  double worst = 0.0;
  for (int t = 0; t < back.count; ++t) {
    worst = std::max(worst, mean_abs_diff(back.frame(t), video.frame(t), video.frame_bytes()));
  }
  MESSAGE("worst mean absolute difference per byte after the codec: ", worst);
  CHECK(worst < 8.0);
  // Control: neighbouring frames differ much more, so the check sees frame order too.
  CHECK(mean_abs_diff(back.frame(5), video.frame(6), video.frame_bytes()) > 2 * worst);

  SUBCASE("a truncated file ends early without an error") {
    const fs::path cut = dir.path() / "cut.mp4";
    fs::copy_file(file, cut);
    fs::resize_file(cut, fs::file_size(file) * 6 / 10);
    VideoFrames partial;
    CHECK_NOTHROW(partial = cotrack::read_all(cut.string()));
    MESSAGE("truncated to 60%: ", partial.count, " of 12 frames");
    CHECK(partial.count >= 1);
    CHECK(partial.count < 12);
  }
}

TEST_CASE("video_reader: errors are one line naming the file") {
  TempDir dir("reader_errors");
  const std::string missing = (dir.path() / "nope.mp4").string();
  std::string msg = input_error([&] { cotrack::VideoReader r(missing); });
  CHECK(contains(msg, missing));
  CHECK(contains(msg, "no such file"));
  CHECK(contains(input_error([&] { cotrack::read_all(missing); }), missing));

  const fs::path empty = dir.path() / "empty";
  fs::create_directories(empty / "frames");
  msg = input_error([&] { cotrack::read_all(empty.string()); });
  CHECK(contains(msg, (empty / "frames").string()));
  CHECK(contains(msg, "no frames"));

  const fs::path text_video = dir.path() / "text.mp4";
  write_bytes(text_video, "this is not a video at all");
  msg = input_error([&] { cotrack::read_all(text_video.string()); });
  CHECK(contains(msg, text_video.string()));

  const VideoFrames video = test_video(32, 24, 4, /*clean=*/false);
  const fs::path clip = dir.path() / "clip";
  SUBCASE("corrupt PNG in the middle") {
    cotrack::write_frames_png(video, clip.string());
    const fs::path bad = clip / "frames" / "000002.png";
    write_bytes(bad, "\x89PNG\r\n\x1a\n garbage");
    msg = input_error([&] { cotrack::read_all(clip.string()); });
    CHECK(contains(msg, bad.string()));
    CHECK(contains(msg, "cannot decode"));
    // The frames before it come out of a reader; the error comes with the bad one.
    cotrack::VideoReader reader(clip.string());
    std::vector<uint8_t> rgb;
    int w = 0, h = 0;
    CHECK(reader.next(rgb, w, h));
    CHECK(reader.next(rgb, w, h));
    CHECK(contains(input_error([&] { reader.next(rgb, w, h); }), "000002.png"));
  }
  SUBCASE("truncated PNG as the first frame") {
    cotrack::write_frames_png(video, clip.string());
    const fs::path bad = clip / "frames" / "000000.png";
    fs::resize_file(bad, fs::file_size(bad) / 2);
    CHECK(contains(input_error([&] { cotrack::VideoReader r(clip.string()); }), bad.string()));
  }
  SUBCASE("a frame of another size") {
    cotrack::write_frames_png(video, clip.string());
    const VideoFrames other = test_video(24, 24, 1, /*clean=*/false);
    const fs::path odd = clip / "frames" / "000003.png";
    write_image(odd, other.frame(0), 24, 24);
    msg = input_error([&] { cotrack::read_all(clip.string()); });
    CHECK(contains(msg, odd.string()));
    CHECK(contains(msg, "24x24"));
    CHECK(contains(msg, "32x24"));
  }
  SUBCASE("write_frames_png rejects inconsistent frames") {
    VideoFrames broken = video;
    broken.rgb.pop_back();
    CHECK(contains(input_error([&] { cotrack::write_frames_png(broken, clip.string()); }),
                   "bytes"));
  }
}

}  // TEST_SUITE("pipeline")
