// Synthetic clip generator: determinism, exact motion, occlusion, visibility, clip files, speed.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "clip_files.hpp"

#include "cotrack/error.hpp"
#include "cotrack/synth.hpp"

namespace {

namespace fs = std::filesystem;
using cotrack::SynthClip;
using cotrack::SynthLayer;
using cotrack::SynthParams;
using cotrack::SynthPoint;
using cotrack::SynthScene;

// Largest per-channel difference counted as "the same colour" between a point's query frame and
// a later visible frame when brightness, noise and blur are off (resampling under rotation,
// zoom and perspective changes the interpolated colour somewhat).
constexpr float kColourTolerance = 40.0f;
constexpr double kMinConsistentFraction = 0.9;

SynthParams clean_params() {
  SynthParams p;
  p.brightness_change = false;
  p.noise = false;
  p.blur = false;
  return p;
}

// Bilinear colour of frame t at (x, y), which must be inside the image.
std::array<float, 3> colour_at(const SynthClip& clip, int t, float x, float y) {
  const int x0 = std::min(static_cast<int>(x), clip.width - 2);
  const int y0 = std::min(static_cast<int>(y), clip.height - 2);
  const float fx = x - x0;
  const float fy = y - y0;
  const std::uint8_t* f = clip.frame(t);
  std::array<float, 3> out{};
  for (int c = 0; c < 3; ++c) {
    auto px = [&](int xx, int yy) {
      return static_cast<float>(f[(static_cast<std::size_t>(yy) * clip.width + xx) * 3 + c]);
    };
    const float top = px(x0, y0) + fx * (px(x0 + 1, y0) - px(x0, y0));
    const float bottom = px(x0, y0 + 1) + fx * (px(x0 + 1, y0 + 1) - px(x0, y0 + 1));
    out[c] = top + fy * (bottom - top);
  }
  return out;
}

bool inside(const SynthClip& clip, float x, float y) {
  return x >= 0.0f && x <= clip.width - 1.0f && y >= 0.0f && y <= clip.height - 1.0f;
}

struct ColourStats {
  int checked = 0;
  int consistent = 0;
  double fraction() const { return checked == 0 ? 0.0 : double(consistent) / checked; }
};

// For every (t, n) with t != query and `use(t, n)`, compares the colour at the track shifted by
// (dx, dy) at t with the colour at the query position.
template <typename Use>
ColourStats colour_consistency(const SynthClip& clip, float dx, float dy, Use use) {
  ColourStats s;
  for (int n = 0; n < clip.num_points; ++n) {
    const int q = clip.query_frame[n];
    const auto ref = colour_at(clip, q, clip.x(q, n), clip.y(q, n));
    for (int t = 0; t < clip.frames; ++t) {
      if (t == q || !use(t, n)) continue;
      const float x = clip.x(t, n) + dx;
      const float y = clip.y(t, n) + dy;
      if (!inside(clip, x, y)) continue;
      const auto got = colour_at(clip, t, x, y);
      float diff = 0.0f;
      for (int c = 0; c < 3; ++c) diff = std::max(diff, std::fabs(got[c] - ref[c]));
      ++s.checked;
      if (diff <= kColourTolerance) ++s.consistent;
    }
  }
  return s;
}

std::string unique_temp_dir(const char* tag) {
  return cotrack::test::unique_temp_dir("cotrack_test_synth_", tag);
}
using cotrack::test::read_clip_error;
using cotrack::test::read_lines;
using cotrack::test::write_lines;

// An empty scene of the given size, photometrically neutral (gain 1, bias 0, no noise or blur).
SynthScene blank_scene(int width, int height, int frames) {
  SynthScene scene;
  scene.width = width;
  scene.height = height;
  scene.frames = frames;
  scene.gain.assign(frames, 1.0f);
  scene.bias.assign(frames, 0.0f);
  return scene;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace

TEST_SUITE("unit") {

TEST_CASE("synth: parameters are validated and the defaults are the benchmark's") {
  const SynthParams defaults;
  CHECK(defaults.width == 256);
  CHECK(defaults.height == 256);
  CHECK(defaults.frames == 48);
  CHECK_NOTHROW(defaults.validate());

  auto rejects = [](auto change) {
    SynthParams p;
    change(p);
    CHECK_THROWS_AS(cotrack::generate_clip(p, 1), cotrack::UsageError);
  };
  rejects([](SynthParams& p) { p.width = 4; });
  rejects([](SynthParams& p) { p.frames = 0; });
  rejects([](SynthParams& p) { p.min_objects = 5, p.max_objects = 3; });
  rejects([](SynthParams& p) { p.max_objects = 1000; });
  rejects([](SynthParams& p) { p.num_points = -1; });
  rejects([](SynthParams& p) { p.query_first_fraction = 1.5; });
  rejects([](SynthParams& p) { p.max_speed_px = std::nan(""); });
  rejects([](SynthParams& p) { p.noise_sigma = -1.0; });
  rejects([](SynthParams& p) { p.deform_fraction = 1.5; });
  rejects([](SynthParams& p) { p.articulated_fraction = 2.0; });
  rejects([](SynthParams& p) { p.motion_blur_fraction = -0.1; });
  rejects([](SynthParams& p) { p.follow_fraction = 1.5; });

  CHECK(cotrack::parse_synth_motion("translation") == cotrack::SynthMotion::kTranslation);
  CHECK(cotrack::parse_synth_motion("affine") == cotrack::SynthMotion::kAffine);
  CHECK(cotrack::parse_synth_motion("full") == cotrack::SynthMotion::kFull);
  CHECK(std::string(cotrack::to_string(cotrack::SynthMotion::kAffine)) == "affine");
  CHECK_THROWS_AS(cotrack::parse_synth_motion("rigid"), cotrack::UsageError);
}

TEST_CASE("synth: a seed determines the clip") {
  const SynthParams p;
  const SynthClip a = cotrack::generate_clip(p, 7);
  const SynthClip b = cotrack::generate_clip(p, 7);
  const SynthClip c = cotrack::generate_clip(p, 8);
  CHECK_NOTHROW(a.validate_shapes());
  CHECK(a.num_points == p.num_points);
  CHECK(a.rgb == b.rgb);
  CHECK(a.tracks == b.tracks);
  CHECK(a.visible == b.visible);
  CHECK(a.query_frame == b.query_frame);
  CHECK(a.layer == b.layer);
  CHECK(a.rgb != c.rgb);
  CHECK(a.tracks != c.tracks);
  // Frames of one clip differ from each other (the scene moves).
  CHECK(!std::equal(a.frame(0), a.frame(0) + a.frame_size(), a.frame(a.frames - 1)));
  // Switching noise off keeps the geometry: the same tracks, different pixels.
  SynthParams quiet = p;
  quiet.noise = false;
  const SynthClip d = cotrack::generate_clip(quiet, 7);
  CHECK(d.tracks == a.tracks);
  CHECK(d.rgb != a.rgb);
}

TEST_CASE("synth: integer translation moves tracks and pixels exactly") {
  SynthParams p = clean_params();
  p.width = 128;
  p.height = 96;
  p.frames = 24;
  p.min_objects = 0;
  p.max_objects = 0;
  p.motion = cotrack::SynthMotion::kTranslation;
  p.integer_motion = true;
  p.max_speed_px = 3.0;
  const SynthScene scene = cotrack::build_synth_scene(p, 11);
  REQUIRE(scene.layers.size() == 1);
  const std::vector<SynthPoint> points = cotrack::sample_synth_points(scene, 48, 0.5, 5);
  const SynthClip clip = cotrack::render_synth_clip(scene, points);

  // The layer transform is an integer translation at every frame.
  const auto& transform = scene.layers[0].transform;
  double max_shift = 0.0;
  for (int t = 0; t < clip.frames; ++t) {
    const cotrack::Homography& h = transform[t];
    CHECK(h[0] == 1.0);
    CHECK(h[1] == 0.0);
    CHECK(h[3] == 0.0);
    CHECK(h[4] == 1.0);
    CHECK(h[6] == 0.0);
    CHECK(h[7] == 0.0);
    CHECK(h[8] == 1.0);
    CHECK(h[2] == std::round(h[2]));
    CHECK(h[5] == std::round(h[5]));
    max_shift = std::max(
        {max_shift, std::fabs(h[2] - transform[0][2]), std::fabs(h[5] - transform[0][5])});
  }
  CHECK(max_shift >= 5.0);  // the test is not vacuous

  // Tracks move by exactly the layer's displacement (up to the float rounding of the track).
  for (int n = 0; n < clip.num_points; ++n) {
    const int q = clip.query_frame[n];
    CHECK(clip.is_visible(q, n));
    for (int t = 0; t < clip.frames; ++t) {
      const double dx = transform[t][2] - transform[q][2];
      const double dy = transform[t][5] - transform[q][5];
      CHECK(std::fabs(clip.x(t, n) - (clip.x(q, n) + dx)) <= 1e-4);
      CHECK(std::fabs(clip.y(t, n) - (clip.y(q, n) + dy)) <= 1e-4);
    }
  }

  // 5x5 patches around a visible point equal the patch around its query position, byte for byte.
  constexpr int kHalf = 2;
  int patches = 0;
  for (int n = 0; n < clip.num_points; ++n) {
    const int q = clip.query_frame[n];
    const int qx = static_cast<int>(std::lround(clip.x(q, n)));
    const int qy = static_cast<int>(std::lround(clip.y(q, n)));
    for (int t = 0; t < clip.frames; ++t) {
      if (t == q || !clip.is_visible(t, n)) continue;
      const int tx = qx + static_cast<int>(transform[t][2] - transform[q][2]);
      const int ty = qy + static_cast<int>(transform[t][5] - transform[q][5]);
      auto fits = [&](int x, int y) {
        return x - kHalf >= 0 && y - kHalf >= 0 && x + kHalf < clip.width &&
               y + kHalf < clip.height;
      };
      if (!fits(qx, qy) || !fits(tx, ty)) continue;
      int sad = 0;
      for (int dy = -kHalf; dy <= kHalf; ++dy) {
        for (int dx = -kHalf; dx <= kHalf; ++dx) {
          for (int c = 0; c < 3; ++c) {
            const int a = clip.frame(q)[((qy + dy) * clip.width + qx + dx) * 3 + c];
            const int b = clip.frame(t)[((ty + dy) * clip.width + tx + dx) * 3 + c];
            sad += std::abs(a - b);
          }
        }
      }
      CHECK(sad == 0);
      ++patches;
    }
  }
  MESSAGE("compared ", patches, " 5x5 patches");
  CHECK(patches >= 100);

  // Whole frames: frame t is frame 0 shifted by the displacement where they overlap.
  const int t = clip.frames - 1;
  const int sx = static_cast<int>(transform[t][2] - transform[0][2]);
  const int sy = static_cast<int>(transform[t][5] - transform[0][5]);
  int mismatches = 0;
  for (int y = std::max(0, sy); y < std::min(clip.height, clip.height + sy); ++y) {
    for (int x = std::max(0, sx); x < std::min(clip.width, clip.width + sx); ++x) {
      for (int c = 0; c < 3; ++c) {
        mismatches += clip.frame(t)[(y * clip.width + x) * 3 + c] !=
                      clip.frame(0)[((y - sy) * clip.width + x - sx) * 3 + c];
      }
    }
  }
  CHECK(mismatches == 0);
}

TEST_CASE("synth: a known occluder hides a background point and releases it") {
  constexpr int kW = 64;
  constexpr int kH = 48;
  constexpr int kT = 20;
  constexpr int kObjW = 24;
  constexpr int kObjH = 12;
  SynthScene scene = blank_scene(kW, kH, kT);

  SynthLayer bg;  // static grey checker, 8-pixel cells
  bg.tex_width = 64;
  bg.tex_height = 64;
  bg.periodic = true;
  bg.rgba.resize(64 * 64 * 4);
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 64; ++x) {
      const std::uint8_t v = ((x / 8 + y / 8) % 2) != 0 ? 200 : 60;
      std::uint8_t* px = &bg.rgba[(y * 64 + x) * 4];
      px[0] = px[1] = px[2] = v;
      px[3] = 255;
    }
  }
  bg.transform.assign(kT, cotrack::homography_identity());

  SynthLayer obj;  // opaque red rectangle sliding right along y = 18 at 5 px per frame
  obj.tex_width = kObjW;
  obj.tex_height = kObjH;
  obj.rgba.resize(kObjW * kObjH * 4);
  for (int i = 0; i < kObjW * kObjH; ++i) {
    obj.rgba[i * 4] = 255;
    obj.rgba[i * 4 + 1] = 0;
    obj.rgba[i * 4 + 2] = 0;
    obj.rgba[i * 4 + 3] = 255;
  }
  auto obj_x = [](int t) { return -20.0 + 5.0 * t; };
  constexpr double kObjY = 18.0;
  for (int t = 0; t < kT; ++t)
    obj.transform.push_back(cotrack::homography_translation(obj_x(t), kObjY));
  scene.layers = {bg, obj};

  const double px = 32.0;
  const double py = 24.0;
  const std::vector<SynthPoint> points = {{0, 0, px, py}, {1, 8, 7.0, 5.0}};
  const SynthClip clip = cotrack::render_synth_clip(scene, points);

  std::vector<int> covered_frames;
  for (int t = 0; t < kT; ++t) {
    const bool covered = obj_x(t) <= px && px <= obj_x(t) + kObjW - 1;  // y always inside
    if (covered) covered_frames.push_back(t);
    INFO("frame ", t);
    CHECK(clip.x(t, 0) == 32.0f);
    CHECK(clip.y(t, 0) == 24.0f);
    CHECK(clip.is_visible(t, 0) == !covered);
    CHECK(cotrack::synth_top_layer(scene, t, px, py) == (covered ? 1 : 0));
    const std::uint8_t* pixel = clip.frame(t) + (24 * kW + 32) * 3;
    if (covered) {
      CHECK(pixel[0] == 255);
      CHECK(pixel[1] == 0);
    } else {
      CHECK(pixel[0] == pixel[1]);
    }
    // The object's own point: visible exactly while inside the image.
    const double ox = obj_x(t) + 7.0;
    CHECK(clip.x(t, 1) == static_cast<float>(ox));
    CHECK(clip.y(t, 1) == static_cast<float>(kObjY + 5.0));
    CHECK(clip.is_visible(t, 1) == (ox >= 0.0 && ox <= kW - 1));
  }
  CHECK(covered_frames == std::vector<int>{6, 7, 8, 9, 10});
}

TEST_CASE("synth: pixel centres are at integer coordinates (align corners)") {
SynthScene scene = blank_scene(20, 16, 2);
SynthLayer bg;  // black, one bright texel at (5, 7)
bg.tex_width = 16;
bg.tex_height = 16;
bg.periodic = true;
bg.rgba.assign(16 * 16 * 4, 0);
for (int c = 0; c < 3; ++c) bg.rgba[(7 * 16 + 5) * 4 + c] = 200;
bg.transform = {cotrack::homography_translation(3.0, 2.0),
                cotrack::homography_translation(3.5, 2.0)};
scene.layers = {bg};
const SynthClip clip = cotrack::render_synth_clip(scene, {SynthPoint{0, 0, 5.0, 7.0}});
auto red = [&](int t, int x, int y) { return clip.frame(t)[(y * clip.width + x) * 3]; };
int lit0 = 0;
for (std::size_t i = 0; i < clip.frame_size(); i += 3) lit0 += clip.frame(0)[i] != 0 ? 1 : 0;
CHECK(lit0 == 1);
CHECK(red(0, 8, 9) == 200);
CHECK(clip.x(0, 0) == 8.0f);
CHECK(clip.y(0, 0) == 9.0f);
// Half a pixel to the right: split evenly between columns 8 and 9.
CHECK(red(1, 8, 9) == 100);
CHECK(red(1, 9, 9) == 100);
CHECK(clip.x(1, 0) == 8.5f);
}

TEST_CASE("synth: photometric model (gain, bias, blur, noise) and scene validation") {
  constexpr int kW = 40;
  constexpr int kH = 30;
  SynthScene scene;
  scene.width = kW;
  scene.height = kH;
  scene.frames = 3;
  SynthLayer bg;  // uniform grey 100
  bg.tex_width = 8;
  bg.tex_height = 8;
  bg.periodic = true;
  bg.rgba.assign(8 * 8 * 4, 100);
  bg.transform.assign(3, cotrack::homography_translation(0.25, -3.5));
  scene.layers = {bg};
  scene.gain = {1.0f, 1.5f, 0.5f};
  scene.bias = {0.0f, 10.0f, -20.0f};
  scene.blur = true;  // a uniform image stays uniform

  const SynthClip flat = cotrack::render_synth_clip(scene, {});
  const std::uint8_t expected[3] = {100, 160, 30};
  for (int t = 0; t < 3; ++t) {
    INFO("frame ", t);
    CHECK(std::all_of(flat.frame(t), flat.frame(t) + flat.frame_size(),
                      [&](std::uint8_t v) { return v == expected[t]; }));
  }

  scene.noise_sigma = 4.0f;
  scene.noise_seed = 1;
  const SynthClip noisy = cotrack::render_synth_clip(scene, {});
  double sum = 0.0;
  double sum_sq = 0.0;
  for (std::size_t i = 0; i < noisy.frame_size(); ++i) {
    const double v = noisy.frame(0)[i];
    sum += v;
    sum_sq += v * v;
  }
  const double n = static_cast<double>(noisy.frame_size());
  const double mean = sum / n;
  const double stddev = std::sqrt(sum_sq / n - mean * mean);
  MESSAGE("noise sigma 4: mean ", mean, ", std ", stddev);
  CHECK(std::fabs(mean - 100.0) < 0.3);
  CHECK(stddev > 3.7);
  CHECK(stddev < 4.3);
  CHECK(!std::equal(noisy.frame(0), noisy.frame(0) + noisy.frame_size(), noisy.frame(1)));
  CHECK(cotrack::render_synth_clip(scene, {}).rgb == noisy.rgb);
  scene.noise_seed = 2;
  CHECK(cotrack::render_synth_clip(scene, {}).rgb != noisy.rgb);

  SynthScene bad = scene;
  bad.layers[0].periodic = false;
  CHECK_THROWS_AS(cotrack::render_synth_clip(bad, {}), cotrack::UsageError);
  bad = scene;
  bad.layers[0].tex_width = 6;
  bad.layers[0].rgba.resize(6 * 8 * 4);
  CHECK_THROWS_AS(cotrack::render_synth_clip(bad, {}), cotrack::UsageError);
  bad = scene;
  bad.gain.pop_back();
  CHECK_THROWS_AS(cotrack::render_synth_clip(bad, {}), cotrack::UsageError);
  CHECK_THROWS_AS(cotrack::render_synth_clip(scene, {SynthPoint{1, 0, 0.0, 0.0}}),
                  cotrack::UsageError);
  CHECK_THROWS_AS(cotrack::render_synth_clip(scene, {SynthPoint{0, 3, 0.0, 0.0}}),
                  cotrack::UsageError);
}

TEST_CASE("synth: visibility follows the layers and visible points keep their colour") {
  SynthParams p = clean_params();
  ColourStats visible_stats;
  ColourStats shifted_stats;
  ColourStats occluded_stats;
  int occluded_inside = 0;
  int outside = 0;
  int layers_with_points = 0;
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    const SynthScene scene = cotrack::build_synth_scene(p, seed);
    const std::vector<SynthPoint> points = cotrack::sample_synth_points(scene, 64, 0.5, seed);
    const SynthClip clip = cotrack::render_synth_clip(scene, points);
    std::vector<int> per_layer(scene.layers.size(), 0);
    for (int n = 0; n < clip.num_points; ++n) {
      ++per_layer[clip.layer[n]];
      CHECK(clip.is_visible(clip.query_frame[n], n));
      for (int t = 0; t < clip.frames; ++t) {
        const float x = clip.x(t, n);
        const float y = clip.y(t, n);
        // The track is the layer's transform applied to the texture point.
        const auto expect = cotrack::homography_apply(scene.layers[points[n].layer].transform[t],
                                                      points[n].u, points[n].v);
        CHECK(x == static_cast<float>(expect[0]));
        CHECK(y == static_cast<float>(expect[1]));
        if (!inside(clip, x, y)) {
          ++outside;
          CHECK(!clip.is_visible(t, n));
          continue;
        }
        const int top = cotrack::synth_top_layer(scene, t, x, y);
        CHECK(clip.is_visible(t, n) == (top <= clip.layer[n]));
        if (!clip.is_visible(t, n)) ++occluded_inside;
      }
    }
    for (int count : per_layer) layers_with_points += count > 0 ? 1 : 0;
    auto add = [](ColourStats& total, const ColourStats& s) {
      total.checked += s.checked;
      total.consistent += s.consistent;
    };
    add(visible_stats, colour_consistency(clip, 0.0f, 0.0f,
                                          [&](int t, int n) { return clip.is_visible(t, n); }));
    add(shifted_stats, colour_consistency(clip, 6.0f, 4.0f,
                                          [&](int t, int n) { return clip.is_visible(t, n); }));
    add(occluded_stats, colour_consistency(clip, 0.0f, 0.0f,
                                           [&](int t, int n) { return !clip.is_visible(t, n); }));
  }
  MESSAGE("colour consistent: visible ", visible_stats.fraction(), " of ", visible_stats.checked,
          "; tracks shifted by (6, 4) ", shifted_stats.fraction(), "; occluded ",
          occluded_stats.fraction(), " of ", occluded_stats.checked);
  CHECK(visible_stats.checked > 5000);
  CHECK(visible_stats.fraction() > kMinConsistentFraction);
  // Controls: the same check rejects wrong tracks and wrong visibility.
  CHECK(shifted_stats.fraction() < kMinConsistentFraction - 0.2);
  CHECK(occluded_stats.fraction() < kMinConsistentFraction - 0.2);
  CHECK(occluded_inside > 100);
  CHECK(outside > 0);
  CHECK(layers_with_points >= 4 * 3);
}

TEST_CASE("synth: deformed objects carry their points; a rigid track would not") {
  SynthParams p = clean_params();
  p.deform_fraction = 1.0;
  ColourStats visible_stats;
  ColourStats rigid_stats;
  int deformed_layers = 0;
  double moved = 0.0;  // largest distance between a deformed track and its rigid counterpart
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    const SynthScene scene = cotrack::build_synth_scene(p, seed);
    // Only the warp differs from the rigid scene of the same seed.
    SynthParams rigid_params = clean_params();
    const SynthScene rigid = cotrack::build_synth_scene(rigid_params, seed);
    REQUIRE(rigid.layers.size() == scene.layers.size());
    CHECK(scene.layers[0].warp.empty());
    for (std::size_t k = 1; k < scene.layers.size(); ++k) {
      CHECK(!scene.layers[k].warp.empty());
      CHECK(rigid.layers[k].warp.empty());
      CHECK(scene.layers[k].transform == rigid.layers[k].transform);
      ++deformed_layers;
    }
    const std::vector<SynthPoint> points = cotrack::sample_synth_points(scene, 64, 0.5, seed);
    const SynthClip clip = cotrack::render_synth_clip(scene, points);
    // The same clip with each object point's track replaced by its rigid transform of (u, v).
    SynthClip rigid_tracks = clip;
    for (int n = 0; n < clip.num_points; ++n) {
      CHECK(clip.is_visible(clip.query_frame[n], n));
      if (points[n].layer == 0) continue;
      for (int t = 0; t < clip.frames; ++t) {
        const auto xy = cotrack::homography_apply(scene.layers[points[n].layer].transform[t],
                                                  points[n].u, points[n].v);
        const std::size_t i = clip.index(t, n);
        rigid_tracks.tracks[2 * i] = static_cast<float>(xy[0]);
        rigid_tracks.tracks[2 * i + 1] = static_cast<float>(xy[1]);
        moved = std::max(moved, std::hypot(xy[0] - clip.x(t, n), xy[1] - clip.y(t, n)));
      }
    }
    auto on_object = [&](int t, int n) { return points[n].layer > 0 && clip.is_visible(t, n); };
    auto add = [](ColourStats& total, const ColourStats& s) {
      total.checked += s.checked;
      total.consistent += s.consistent;
    };
    add(visible_stats, colour_consistency(clip, 0.0f, 0.0f, on_object));
    add(rigid_stats, colour_consistency(rigid_tracks, 0.0f, 0.0f, on_object));
  }
  MESSAGE("deformed objects: colour consistent along the tracks ", visible_stats.fraction(),
          " of ", visible_stats.checked, "; along rigid tracks ", rigid_stats.fraction(),
          "; largest warp displacement ", moved, " px");
  CHECK(deformed_layers >= 4 * 3);
  CHECK(moved > 3.0);
  CHECK(visible_stats.checked > 2000);
  CHECK(visible_stats.fraction() > kMinConsistentFraction);
  CHECK(rigid_stats.fraction() < visible_stats.fraction() - 0.05);
}

TEST_CASE("synth: limbs stay hinged to their parent and carry their points") {
  SynthParams p = clean_params();
  p.articulated_fraction = 1.0;
  p.deform_fraction = 1.0;  // articulated objects stay rigid
  ColourStats limb_stats;
  int limbs = 0;
  int swinging = 0;
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    const SynthScene scene = cotrack::build_synth_scene(p, seed);
    const SynthScene rigid = cotrack::build_synth_scene(clean_params(), seed);
    // Bodies keep the transforms of the scene without limbs; every other layer is a segment
    // hinged on the layer before it.
    std::vector<bool> is_limb(scene.layers.size(), false);
    std::size_t next_body = 1;
    for (std::size_t k = 1; k < scene.layers.size(); ++k) {
      if (next_body < rigid.layers.size() &&
          scene.layers[k].transform == rigid.layers[next_body].transform) {
        ++next_body;
        CHECK(scene.layers[k].warp.empty());
        continue;
      }
      is_limb[k] = true;
      ++limbs;
      // parent^-1 * limb at frame t, composed with its inverse at frame 0, turns about the joint:
      // its fixed point is the same at every frame.
      const auto& parent = scene.layers[k - 1].transform;
      const auto& limb = scene.layers[k].transform;
      const auto rel0 = cotrack::homography_multiply(cotrack::homography_inverse(parent[0]), limb[0]);
      const auto back0 = cotrack::homography_inverse(rel0);
      double fx0 = 0.0;
      double fy0 = 0.0;
      bool have = false;
      double max_angle = 0.0;
      bool same_point = true;
      for (int t = 1; t < scene.frames; ++t) {
        const auto rel = cotrack::homography_multiply(cotrack::homography_inverse(parent[t]), limb[t]);
        const auto n = cotrack::homography_multiply(rel, back0);  // a rotation about the joint
        const double angle = std::atan2(n[3], n[0]);
        max_angle = std::max(max_angle, std::fabs(angle));
        if (std::fabs(angle) < 0.05) continue;
        // (I - A) p = b
        const double a00 = 1 - n[0], a01 = -n[1], a10 = -n[3], a11 = 1 - n[4];
        const double det = a00 * a11 - a01 * a10;
        const double fx = (a11 * n[2] - a01 * n[5]) / det;
        const double fy = (a00 * n[5] - a10 * n[2]) / det;
        if (!have) {
          fx0 = fx, fy0 = fy, have = true;
        } else if (std::hypot(fx - fx0, fy - fy0) > 1e-6 * (1 + std::hypot(fx0, fy0))) {
          same_point = false;
        }
      }
      CHECK(same_point);
      if (max_angle > 0.2) ++swinging;
    }
    CHECK(next_body == rigid.layers.size());  // every body found, in order
    const std::vector<SynthPoint> points = cotrack::sample_synth_points(scene, 96, 0.5, seed);
    const SynthClip clip = cotrack::render_synth_clip(scene, points);
    const ColourStats st = colour_consistency(clip, 0.0f, 0.0f, [&](int t, int n) {
      return is_limb[points[n].layer] && clip.is_visible(t, n);
    });
    limb_stats.checked += st.checked;
    limb_stats.consistent += st.consistent;
  }
  MESSAGE("limbs ", limbs, " (", swinging, " swing by more than 0.2 rad); colour consistent on limbs ",
          limb_stats.fraction(), " of ", limb_stats.checked);
  CHECK(limbs >= 4 * 3);
  CHECK(swinging > limbs / 2);
  CHECK(limb_stats.checked > 1000);
  CHECK(limb_stats.fraction() > kMinConsistentFraction);
}

TEST_CASE("synth: a followed subject drifts slowly near the centre while the background pans") {
  SynthParams p = clean_params();
  p.max_speed_px = 10.0;
  p.frames = 40;
  SynthParams f = p;
  f.follow_fraction = 1.0;
  // Per-frame motion of a point under a layer's transforms.
  auto steps = [](const std::vector<cotrack::Homography>& h, double x, double y, bool inverse) {
    std::vector<double> out;
    for (std::size_t t = 0; t + 1 < h.size(); ++t) {
      const auto a = cotrack::homography_apply(inverse ? cotrack::homography_inverse(h[t]) : h[t],
                                               x, y);
      const auto b = cotrack::homography_apply(
          inverse ? cotrack::homography_inverse(h[t + 1]) : h[t + 1], x, y);
      out.push_back(std::hypot(b[0] - a[0], b[1] - a[1]));
    }
    return out;
  };
  auto mean = [](const std::vector<double>& v) {
    double s = 0.0;
    for (double x : v) s += x;
    return s / static_cast<double>(v.size());
  };
  double pan_plain = 0.0, pan_follow = 0.0;
  std::size_t limbs = 0;
  const int seeds = 6;
  for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
    const SynthScene plain = cotrack::build_synth_scene(p, seed);
    const SynthScene follow = cotrack::build_synth_scene(f, seed);
    const std::size_t subject = plain.layers.size() - 1;  // the front object (no limbs in plain)
    REQUIRE(subject >= 1);
    REQUIRE(follow.layers.size() >= plain.layers.size());
    limbs += follow.layers.size() - plain.layers.size();
    // The objects behind the subject move as they do without it.
    for (std::size_t k = 1; k < subject; ++k) {
      CHECK(follow.layers[k].transform == plain.layers[k].transform);
    }
    // The subject is large, starts near the centre and drifts at most 20% of the bound a frame.
    const cotrack::SynthLayer& s = follow.layers[subject];
    const double min_side = std::min(p.width, p.height);
    CHECK(static_cast<double>(s.tex_width) * s.tex_height >= 0.34 * 0.34 * min_side * min_side);
    const double ax = std::floor(0.5 * s.tex_width), ay = std::floor(0.5 * s.tex_height);
    const auto start = cotrack::homography_apply(s.transform[0], ax, ay);
    CHECK(start[0] >= 0.35 * p.width - 1e-9);
    CHECK(start[0] <= 0.65 * p.width + 1e-9);
    CHECK(start[1] >= 0.35 * p.height - 1e-9);
    CHECK(start[1] <= 0.65 * p.height + 1e-9);
    // It and its limbs are weakly textured and of one colour.
    std::array<double, 3> body_mean{};
    for (std::size_t k = subject; k < follow.layers.size(); ++k) {
      const cotrack::SynthLayer& l = follow.layers[k];
      std::array<double, 3> sum{}, sq{};
      double n = 0.0;
      for (std::size_t i = 0; i + 3 < l.rgba.size(); i += 4) {
        if (l.rgba[i + 3] == 0) continue;
        for (int c = 0; c < 3; ++c) sum[c] += l.rgba[i + c], sq[c] += l.rgba[i + c] * l.rgba[i + c];
        n += 1.0;
      }
      REQUIRE(n > 0.0);
      for (int c = 0; c < 3; ++c) {
        const double m = sum[c] / n;
        if (k == subject) body_mean[c] = m;
        CHECK(std::fabs(m - body_mean[c]) <= 3.0);
        CHECK(std::sqrt(std::max(0.0, sq[c] / n - m * m)) <= 40.0);
      }
    }
    const std::vector<double> drift = steps(s.transform, ax, ay, false);
    CHECK(*std::max_element(drift.begin(), drift.end()) <= 0.2 * p.max_speed_px + 1e-9);
    // The background point at the image centre moves by the camera's path: in follow mode at
    // least 0.6 * 0.5 of the bound at its keyframes, so at least half of that on average.
    const double cx = 0.5 * (p.width - 1), cy = 0.5 * (p.height - 1);
    const double pan = mean(steps(follow.layers[0].transform, cx, cy, true));
    CHECK(pan >= 0.15 * p.max_speed_px);
    pan_follow += pan / seeds;
    pan_plain += mean(steps(plain.layers[0].transform, cx, cy, true)) / seeds;
  }
  MESSAGE("mean pan a frame: ", pan_follow, " px following a subject, ", pan_plain,
          " px otherwise; ", limbs, " limb segments on 6 subjects");
  CHECK(pan_follow > pan_plain);
  CHECK(limbs > 0);
}

TEST_CASE("synth: motion blur smears a moving edge and leaves the ground truth alone") {
  constexpr int kW = 64;
  constexpr int kH = 16;
  constexpr int kT = 6;
  constexpr double kSpeed = 8.0;  // px per frame
  SynthScene scene = blank_scene(kW, kH, kT);
  SynthLayer bg;  // uniform black
  bg.tex_width = 2;
  bg.tex_height = 2;
  bg.periodic = true;
  bg.rgba = {0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255};
  bg.transform.assign(kT, cotrack::homography_identity());
  SynthLayer bar;  // opaque white bar, 16 px wide, sliding right
  bar.tex_width = 16;
  bar.tex_height = 40;
  bar.rgba.assign(16 * 40 * 4, 255);
  for (int t = 0; t < kT; ++t) {
    bar.transform.push_back(cotrack::homography_translation(4.0 + kSpeed * t, -10.0));
  }
  scene.layers = {bg, bar};
  const std::vector<SynthPoint> points = {{1, 0, 8.0, 18.0}, {0, 0, 50.0, 8.0}};
  const SynthClip sharp = cotrack::render_synth_clip(scene, points);
  scene.exposure = 1.0;
  const SynthClip blurred = cotrack::render_synth_clip(scene, points);
  CHECK(blurred.tracks == sharp.tracks);
  CHECK(blurred.visible == sharp.visible);
  // Row 8 of frame 3: pixels strictly between black and white, and the total brightness.
  auto row_stats = [&](const SynthClip& c) {
    int grey = 0;
    double total = 0.0;
    const std::uint8_t* f = c.frame(3) + static_cast<std::size_t>(8) * kW * 3;
    for (int x = 0; x < kW; ++x) {
      grey += f[3 * x] > 25 && f[3 * x] < 230 ? 1 : 0;
      total += f[3 * x];
    }
    return std::pair<int, double>{grey, total};
  };
  const auto [sharp_grey, sharp_total] = row_stats(sharp);
  const auto [blur_grey, blur_total] = row_stats(blurred);
  MESSAGE("grey pixels on the bar's row: sharp ", sharp_grey, ", blurred ", blur_grey,
          "; brightness ", sharp_total, " and ", blur_total);
  CHECK(sharp_grey <= 2);
  CHECK(blur_grey >= 10);  // both edges smeared over about 8 px
  // The bar keeps its brightness: 16 texels span 15 to 16 pixel centres, by sub-pixel position.
  CHECK(blur_total >= 15 * 255 - 1);
  CHECK(blur_total <= 16 * 255 + 1);

  scene.exposure = 1.5;
  CHECK_THROWS_AS(cotrack::render_synth_clip(scene, points), cotrack::UsageError);
  scene.exposure = 0.0;
  // A warp steeper than the invertibility bound is refused.
  cotrack::SynthWarpWave wave;
  wave.freq_x = 0.5;
  wave.amp.assign(kT, 1.0);
  wave.amp[2] = 2.0;  // slope 1.0 at frame 2
  wave.phase.assign(kT, 0.0);
  scene.layers[1].warp = {wave};
  CHECK_THROWS_AS(cotrack::render_synth_clip(scene, points), cotrack::UsageError);
  scene.layers[1].warp[0].amp[2] = 1.0;
  CHECK_NOTHROW(cotrack::render_synth_clip(scene, points));
}

TEST_CASE("synth: points leaving the image are invisible") {
  SynthParams p;
  p.width = 96;
  p.height = 80;
  p.frames = 32;
  p.max_speed_px = 8.0;
  int outside = 0;
  int returned = 0;  // visible again after having been outside
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    const SynthClip clip = cotrack::generate_clip(p, seed);
    for (int n = 0; n < clip.num_points; ++n) {
      CHECK(clip.is_visible(clip.query_frame[n], n));
      bool was_outside = false;
      for (int t = 0; t < clip.frames; ++t) {
        const bool in = inside(clip, clip.x(t, n), clip.y(t, n));
        if (!in) {
          ++outside;
          was_outside = true;
          CHECK(!clip.is_visible(t, n));
        } else if (was_outside && clip.is_visible(t, n)) {
          ++returned;
          was_outside = false;
        }
      }
    }
  }
  MESSAGE("outside samples ", outside, ", re-entries ", returned);
  CHECK(outside > 100);
}

TEST_CASE("synth: write_clip / read_clip round trip and malformed files") {
  SynthParams p;
  p.width = 48;
  p.height = 40;
  p.frames = 6;
  p.num_points = 10;
  const SynthClip clip = cotrack::generate_clip(p, 21);
  const std::string dir = unique_temp_dir("roundtrip");
  cotrack::write_clip(clip, dir);
  CHECK(fs::exists(fs::path(dir) / "frames" / "000000.ppm"));
  CHECK(fs::exists(fs::path(dir) / "frames" / "000005.ppm"));
  CHECK(read_lines((fs::path(dir) / "gt.csv").string()).at(0) == "point_id,frame,x,y,visible");
  CHECK(read_lines((fs::path(dir) / "points.csv").string()).at(0) == "point_id,frame,x,y");

  const SynthClip back = cotrack::read_clip(dir);
  CHECK_NOTHROW(back.validate_shapes());
  CHECK(back.width == clip.width);
  CHECK(back.height == clip.height);
  CHECK(back.frames == clip.frames);
  REQUIRE(back.num_points == clip.num_points);
  CHECK(back.rgb == clip.rgb);
  CHECK(back.visible == clip.visible);
  CHECK(back.query_frame == clip.query_frame);
  CHECK(back.layer == std::vector<int>(clip.num_points, -1));
  float max_err = 0.0f;
  for (std::size_t i = 0; i < clip.tracks.size(); ++i) {
    max_err = std::max(max_err, std::fabs(back.tracks[i] - clip.tracks[i]));
  }
  CHECK(max_err <= 6e-5f);

  // Frames from elsewhere (PNG folders, videos): gt.csv and points.csv still come from dir; the
  // ground truth must fit the given frames.
  cotrack::VideoFrames frames;
  frames.width = clip.width;
  frames.height = clip.height;
  frames.count = clip.frames;
  frames.rgb = clip.rgb;
  const SynthClip with_frames = cotrack::read_clip(dir, frames);
  CHECK(with_frames.rgb == clip.rgb);
  CHECK(with_frames.tracks == back.tracks);
  CHECK(with_frames.query_frame == back.query_frame);
  frames.count = 2;  // gt.csv has rows for frames 2..5: not this clip's
  frames.rgb.resize(frames.frame_bytes() * 2);
  CHECK_THROWS_AS(cotrack::read_clip(dir, frames), cotrack::InputError);

  // Writing a shorter clip into the same directory removes the stale frames.
  SynthParams short_params = p;
  short_params.frames = 3;
  cotrack::write_clip(cotrack::generate_clip(short_params, 3), dir);
  CHECK(cotrack::read_clip(dir).frames == 3);
  cotrack::write_clip(clip, dir);

  const std::string gt = (fs::path(dir) / "gt.csv").string();
  const std::vector<std::string> lines = read_lines(gt);
  SUBCASE("bad number") {
    std::vector<std::string> bad = lines;
    bad[2] = "0,1,abc,2.0,1";  // line 3
    write_lines(gt, bad);
    const std::string msg = read_clip_error(dir);
    CHECK(msg.find("gt.csv:3:") != std::string::npos);
    CHECK(msg.find("abc") != std::string::npos);
  }
  SUBCASE("wrong field count") {
    std::vector<std::string> bad = lines;
    bad[4] = "0,3,1.0,2.0";  // line 5
    write_lines(gt, bad);
    CHECK(read_clip_error(dir).find("gt.csv:5:") != std::string::npos);
  }
  SUBCASE("frame out of range") {
    std::vector<std::string> bad = lines;
    bad[1] = "0,99,1.0,2.0,1";
    write_lines(gt, bad);
    CHECK(read_clip_error(dir).find("gt.csv:2: frame 99") != std::string::npos);
  }
  SUBCASE("duplicate and missing rows") {
    std::vector<std::string> bad = lines;
    bad[3] = bad[2];
    write_lines(gt, bad);
    CHECK(read_clip_error(dir).find("gt.csv:4: duplicate") != std::string::npos);
    // A missing row is an unannotated frame (sparse ground truth); a point without any row is
    // an error.
    bad = lines;
    bad.erase(bad.begin() + 1, bad.begin() + 7);  // every row of point 0 (6 frames)
    write_lines(gt, bad);
    CHECK(read_clip_error(dir).find("no row for point 0") != std::string::npos);
  }
  SUBCASE("bad header and truncated frame") {
    std::vector<std::string> bad = lines;
    bad[0] = "id,frame,x,y,visible";
    write_lines(gt, bad);
    CHECK(read_clip_error(dir).find("gt.csv:1: expected header") != std::string::npos);
    write_lines(gt, lines);
    const fs::path frame = fs::path(dir) / "frames" / "000002.ppm";
    fs::resize_file(frame, fs::file_size(frame) - 1);
    CHECK(read_clip_error(dir).find("000002.ppm") != std::string::npos);
  }
  SUBCASE("points.csv names an unknown point") {
    const std::string pts = (fs::path(dir) / "points.csv").string();
    std::vector<std::string> bad = read_lines(pts);
    bad[1] = "42,0,1.0,1.0";
    write_lines(pts, bad);
    CHECK(read_clip_error(dir).find("points.csv:2: point_id 42") != std::string::npos);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST_CASE("synth: the 30 benchmark clips are valid; generation speed") {
  const SynthParams p;
  std::vector<double> ms_per_frame;
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    const auto start = std::chrono::steady_clock::now();
    const SynthClip clip = cotrack::generate_clip(p, seed);
    const auto stop = std::chrono::steady_clock::now();
    ms_per_frame.push_back(std::chrono::duration<double, std::milli>(stop - start).count() /
                           clip.frames);
    CHECK_NOTHROW(clip.validate_shapes());
    CHECK(clip.num_points == 64);
    int at_zero = 0;
    int on_objects = 0;
    for (int n = 0; n < clip.num_points; ++n) {
      CHECK(clip.is_visible(clip.query_frame[n], n));
      at_zero += clip.query_frame[n] == 0 ? 1 : 0;
      on_objects += clip.layer[n] > 0 ? 1 : 0;
    }
    CHECK(at_zero >= 16);
    CHECK(on_objects >= 16);
  }
  MESSAGE("generate_clip, default params (256x256, 48 frames, 64 points): median ",
          median(ms_per_frame), " ms/frame, min ",
          *std::min_element(ms_per_frame.begin(), ms_per_frame.end()), ", max ",
          *std::max_element(ms_per_frame.begin(), ms_per_frame.end()),
          " (whole clip incl. scene)");
}

}  // TEST_SUITE("unit")
