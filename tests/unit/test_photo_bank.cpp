// Photographs as synthetic textures: loading, errors, and clips cut from them.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "cotrack/error.hpp"
#include "cotrack/photo_bank.hpp"
#include "cotrack/synth.hpp"

namespace {

namespace fs = std::filesystem;
using cotrack::Photo;
using cotrack::PhotoBank;
using cotrack::SynthClip;
using cotrack::SynthParams;

std::string unique_temp_dir(const char* tag) {
  const auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
  const fs::path dir = fs::temp_directory_path() /
                       ("cotrack_test_photos_" + std::string(tag) + "_" + std::to_string(ticks));
  fs::create_directories(dir);
  return dir.string();
}

// A smooth photo-like image: red grows to the right, green downwards, blue oscillates.
Photo gradient_photo(int w, int h) {
  Photo p;
  p.width = w;
  p.height = h;
  p.name = "gradient";
  p.rgb.resize(static_cast<std::size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      std::uint8_t* px = p.rgb.data() + (static_cast<std::size_t>(y) * w + x) * 3;
      px[0] = static_cast<std::uint8_t>(20 + 215 * x / (w - 1));
      px[1] = static_cast<std::uint8_t>(20 + 215 * y / (h - 1));
      px[2] = static_cast<std::uint8_t>(128 + 90 * std::sin(x / 9.0) * std::cos(y / 11.0));
    }
  }
  return p;
}

Photo constant_photo(int w, int h, std::array<std::uint8_t, 3> colour) {
  Photo p;
  p.width = w;
  p.height = h;
  p.name = "constant";
  for (int i = 0; i < w * h; ++i) p.rgb.insert(p.rgb.end(), colour.begin(), colour.end());
  return p;
}

void write_ppm(const std::string& path, const Photo& p) {
  std::ofstream out(path, std::ios::binary);
  out << "P6\n" << p.width << " " << p.height << "\n255\n";
  out.write(reinterpret_cast<const char*>(p.rgb.data()),
            static_cast<std::streamsize>(p.rgb.size()));
}

std::string load_error(const std::string& dir) {
  try {
    PhotoBank::load(dir);
  } catch (const cotrack::InputError& e) {
    return e.what();
  }
  return "";
}

SynthParams clean_params(std::shared_ptr<const PhotoBank> photos) {
  SynthParams p;
  p.brightness_change = false;
  p.noise = false;
  p.blur = false;
  p.photos = std::move(photos);
  return p;
}

}  // namespace

TEST_CASE("photos: a folder of images loads in name order, small and other files skipped") {
  const std::string dir = unique_temp_dir("load");
  write_ppm(dir + "/b.ppm", gradient_photo(64, 48));
  write_ppm(dir + "/a.ppm", constant_photo(40, 40, {10, 20, 30}));
  write_ppm(dir + "/tiny.ppm", constant_photo(16, 16, {1, 2, 3}));  // under 32 px: skipped
  std::ofstream(dir + "/notes.txt") << "not an image";
  const auto bank = PhotoBank::load(dir);
  REQUIRE(bank->size() == 2);
  CHECK((*bank)[0].name == "a.ppm");
  CHECK((*bank)[0].width == 40);
  CHECK((*bank)[0].rgb[2] == 30);
  CHECK((*bank)[1].name == "b.ppm");
  CHECK((*bank)[1].width == 64);
  CHECK((*bank)[1].height == 48);
  CHECK((*bank)[1].rgb == gradient_photo(64, 48).rgb);
  fs::remove_all(dir);
}

TEST_CASE("photos: a missing, empty or corrupt folder is one clear error") {
  CHECK(load_error("/nonexistent/cotrack-photos").find("is not a folder") != std::string::npos);
  const std::string dir = unique_temp_dir("errors");
  CHECK(load_error(dir).find("no JPEG, PNG or PPM") != std::string::npos);
  std::ofstream(dir + "/broken.jpg") << "\xff\xd8 this is not a JPEG";
  const std::string err = load_error(dir);
  CHECK(err.find("cannot decode") != std::string::npos);
  CHECK(err.find("broken.jpg") != std::string::npos);
  fs::remove_all(dir);
  CHECK_THROWS_AS(PhotoBank::from_photos({}), cotrack::UsageError);
  Photo bad = gradient_photo(8, 8);
  bad.rgb.pop_back();
  CHECK_THROWS_AS(PhotoBank::from_photos({bad}), cotrack::UsageError);
}

TEST_CASE("photos: clip textures come from the photographs, deterministically") {
  SynthParams p = clean_params(PhotoBank::from_photos({constant_photo(300, 200, {200, 40, 90})}));
  p.photo_object_fraction = 1.0;
  p.num_points = 16;
  p.frames = 4;
  const SynthClip a = cotrack::generate_clip(p, 5);
  const SynthClip b = cotrack::generate_clip(p, 5);
  CHECK(a.rgb == b.rgb);
  CHECK(a.tracks == b.tracks);
  // Every layer is the one colour under a mild per-layer colour cast, so every pixel keeps its
  // hue: red well above blue, blue above green. Procedural textures break this.
  int off_hue = 0;
  for (std::size_t i = 0; i < a.rgb.size(); i += 3) {
    const int r = a.rgb[i], g = a.rgb[i + 1], bl = a.rgb[i + 2];
    if (!(r > 1.6 * bl && bl > 1.6 * g)) ++off_hue;
  }
  CHECK(off_hue == 0);
  const SynthClip procedural = cotrack::generate_clip(clean_params(nullptr), 5);
  CHECK(procedural.rgb != a.rgb);
}

TEST_CASE("photos: tracks on photo textures follow the rendered content") {
  SynthParams p = clean_params(PhotoBank::from_photos({gradient_photo(400, 300)}));
  p.photo_object_fraction = 1.0;
  p.frames = 24;
  p.num_points = 64;
  const SynthClip clip = cotrack::generate_clip(p, 11);
  // The colour at a visible point's track stays the colour at its query position.
  int checked = 0, consistent = 0;
  for (int n = 0; n < clip.num_points; ++n) {
    const int q = clip.query_frame[n];
    auto colour = [&](int t) {
      const int x = static_cast<int>(std::lround(clip.x(t, n)));
      const int y = static_cast<int>(std::lround(clip.y(t, n)));
      const std::uint8_t* px = clip.frame(t) + (static_cast<std::size_t>(y) * clip.width + x) * 3;
      return std::array<int, 3>{px[0], px[1], px[2]};
    };
    const auto ref = colour(q);
    for (int t = 0; t < clip.frames; ++t) {
      if (t == q || !clip.is_visible(t, n)) continue;
      const auto got = colour(t);
      int diff = 0;
      for (int c = 0; c < 3; ++c) diff = std::max(diff, std::abs(got[c] - ref[c]));
      ++checked;
      if (diff <= 40) ++consistent;
    }
  }
  REQUIRE(checked > 200);
  CHECK(static_cast<double>(consistent) / checked >= 0.9);
}

TEST_CASE("photos: photo_object_fraction is checked") {
  SynthParams p;
  p.photo_object_fraction = 1.5;
  CHECK_THROWS_AS(p.validate(), cotrack::UsageError);
}
