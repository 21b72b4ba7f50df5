// Synthetic clips: parameters, scene assembly and generate_clip(); see include/cotrack/synth.hpp
// for the contract and the conventions. The parts: synth_texture.cpp (textures),
// synth_geometry.cpp (homographies, motion), synth_render.cpp (rendering, ground truth, point
// sampling) and clip_io.cpp (clip directories on disk).
#include "cotrack/synth.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cotrack/error.hpp"
#include "data/synth_internal.hpp"

namespace cotrack {

using synth_detail::derive_seed;
using synth_detail::make_background_texture;
using synth_detail::make_object_texture;
using synth_detail::make_photo_background;
using synth_detail::make_photo_object;
using synth_detail::Rng;
using synth_detail::set_camera_motion;
using synth_detail::add_limbs;
using synth_detail::set_object_deformation;
using synth_detail::set_object_motion;
using synth_detail::Wave;

namespace {

constexpr int kMaxObjects = 64;

// Random streams of build_synth_scene(); object k uses kStreamObject + 2k and + 2k + 1.
enum Stream : std::uint64_t {
  kStreamScene = 0,
  kStreamBackground = 1,
  kStreamCamera = 2,
  kStreamPhotometric = 3,
  kStreamNoise = 4,
  kStreamPoints = 5,
  kStreamMotionBlur = 6,
  kStreamDeform = 7,  // object k: derive_seed(derive_seed(seed, kStreamDeform), k)
  kStreamLimbs = 8,   // object k: derive_seed(derive_seed(seed, kStreamLimbs), k)
  kStreamFollow = 9,
  kStreamObject = 16,
};

bool is_power_of_two(int n) { return n > 0 && (n & (n - 1)) == 0; }

// Mean colour of a layer's opaque texels.
std::array<double, 3> mean_colour(const SynthLayer& l) {
  std::array<double, 3> sum{};
  double n = 0.0;
  for (std::size_t i = 0; i + 3 < l.rgba.size(); i += 4) {
    if (l.rgba[i + 3] == 0) continue;
    for (int c = 0; c < 3; ++c) sum[c] += l.rgba[i + c];
    n += 1.0;
  }
  for (double& v : sum) v = n > 0.0 ? v / n : 127.5;
  return sum;
}

// A followed subject is weakly textured, as animals and clothes are: the layers from `first` on
// (the subject and its limbs) take the subject's mean colour and keep a share `contrast` of
// their own variation about their mean.
void flatten_subject(std::vector<SynthLayer>& layers, std::size_t first, double contrast) {
  const std::array<double, 3> target = mean_colour(layers[first]);
  for (std::size_t k = first; k < layers.size(); ++k) {
    SynthLayer& l = layers[k];
    const std::array<double, 3> own = mean_colour(l);
    for (std::size_t i = 0; i + 3 < l.rgba.size(); i += 4) {
      for (int c = 0; c < 3; ++c) {
        const double v = target[c] + contrast * (l.rgba[i + c] - own[c]);
        l.rgba[i + c] = static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
    }
  }
}

}  // namespace

// ---- public API -------------------------------------------------------------------------------

SynthMotion parse_synth_motion(const std::string& name) {
  if (name == "translation") return SynthMotion::kTranslation;
  if (name == "affine") return SynthMotion::kAffine;
  if (name == "full") return SynthMotion::kFull;
  throw UsageError(
      fmt::format("synth motion '{}' unknown (expected 'translation', 'affine' or 'full')", name));
}

const char* to_string(SynthMotion motion) {
  switch (motion) {
    case SynthMotion::kTranslation:
      return "translation";
    case SynthMotion::kAffine:
      return "affine";
    case SynthMotion::kFull:
      return "full";
  }
  return "?";
}

void SynthParams::validate() const {
  auto check_int = [](const char* name, long long v, long long lo, long long hi) {
    if (v < lo || v > hi) {
      throw UsageError(fmt::format("synth {} = {} out of range [{}, {}]", name, v, lo, hi));
    }
  };
  auto check_real = [](const char* name, double v, double lo, double hi) {
    if (!(v >= lo && v <= hi)) {
      throw UsageError(fmt::format("synth {} = {} out of range [{}, {}]", name, v, lo, hi));
    }
  };
  check_int("width", width, 8, 8192);
  check_int("height", height, 8, 8192);
  check_int("frames", frames, 1, 100000);
  check_int("min_objects", min_objects, 0, kMaxObjects);
  check_int("max_objects", max_objects, min_objects, kMaxObjects);
  check_int("num_points", num_points, 0, 1000000);
  check_real("query_first_fraction", query_first_fraction, 0.0, 1.0);
  check_real("max_speed_px", max_speed_px, 0.0, std::max(width, height));
  check_real("noise_sigma", noise_sigma, 0.0, 64.0);
  check_real("photo_object_fraction", photo_object_fraction, 0.0, 1.0);
  check_real("deform_fraction", deform_fraction, 0.0, 1.0);
  check_real("articulated_fraction", articulated_fraction, 0.0, 1.0);
  check_real("motion_blur_fraction", motion_blur_fraction, 0.0, 1.0);
  check_real("follow_fraction", follow_fraction, 0.0, 1.0);
  if (motion != SynthMotion::kTranslation && motion != SynthMotion::kAffine &&
      motion != SynthMotion::kFull) {
    throw UsageError("synth motion has an invalid value");
  }
}

void SynthScene::validate() const {
  if (width < 2 || height < 2 || frames < 1) {
    throw UsageError(
        fmt::format("synth scene: bad size {}x{} with {} frames", width, height, frames));
  }
  if (layers.empty() || !layers[0].periodic) {
    throw UsageError("synth scene: layer 0 must exist and be periodic (the background)");
  }
  auto validate_warp = [this](const SynthLayer& l, std::size_t k) {
    if (l.warp.size() > static_cast<std::size_t>(kMaxSynthWarpWaves)) {
      throw UsageError(fmt::format("synth scene: layer {} has {} warp waves (at most {})", k,
                                   l.warp.size(), kMaxSynthWarpWaves));
    }
    for (const SynthWarpWave& w : l.warp) {
      if (w.amp.size() != static_cast<std::size_t>(frames) ||
          w.phase.size() != static_cast<std::size_t>(frames)) {
        throw UsageError(fmt::format("synth scene: layer {} warp has {} / {} values, expected {}",
                                     k, w.amp.size(), w.phase.size(), frames));
      }
      const double dir = std::hypot(w.dir_x, w.dir_y);
      if (!(std::fabs(dir - 1.0) < 1e-6) || !std::isfinite(w.freq_x) || !std::isfinite(w.freq_y)) {
        throw UsageError(fmt::format(
            "synth scene: layer {} warp needs a unit direction and finite frequencies", k));
      }
    }
    for (int t = 0; t < frames; ++t) {
      double slope = 0.0;
      for (const SynthWarpWave& w : l.warp) {
        if (!std::isfinite(w.amp[t]) || !std::isfinite(w.phase[t])) {
          throw UsageError(fmt::format("synth scene: layer {} warp not finite at frame {}", k, t));
        }
        slope += std::fabs(w.amp[t]) * std::hypot(w.freq_x, w.freq_y);
      }
      if (!(slope <= 0.9)) {
        throw UsageError(fmt::format(
            "synth scene: layer {} warp slope {:.3f} at frame {} (at most 0.9, to stay invertible)",
            k, slope, t));
      }
    }
  };
  for (std::size_t k = 0; k < layers.size(); ++k) {
    const SynthLayer& l = layers[k];
    if (l.tex_width < 2 || l.tex_height < 2 || l.tex_width > (1 << 20) ||
        l.tex_height > (1 << 20)) {
      throw UsageError(fmt::format("synth scene: layer {} texture {}x{} (need >= 2x2)", k,
                                   l.tex_width, l.tex_height));
    }
    if (l.periodic && (!is_power_of_two(l.tex_width) || !is_power_of_two(l.tex_height))) {
      throw UsageError(
          fmt::format("synth scene: periodic layer {} texture {}x{} is not a power of two", k,
                      l.tex_width, l.tex_height));
    }
    const std::size_t texels = static_cast<std::size_t>(l.tex_width) * l.tex_height;
    if (l.rgba.size() != texels * 4) {
      throw UsageError(fmt::format("synth scene: layer {} has {} texture bytes, expected {}", k,
                                   l.rgba.size(), texels * 4));
    }
    if (l.transform.size() != static_cast<std::size_t>(frames)) {
      throw UsageError(fmt::format("synth scene: layer {} has {} transforms, expected {}", k,
                                   l.transform.size(), frames));
    }
    for (const Homography& h : l.transform) {
      for (double v : h) {
        if (!std::isfinite(v)) {
          throw UsageError(fmt::format("synth scene: layer {} has a non-finite transform", k));
        }
      }
    }
    validate_warp(l, k);
  }
  if (!(exposure >= 0.0 && exposure <= 1.0)) {
    throw UsageError(fmt::format("synth scene: exposure {} outside [0, 1]", exposure));
  }
  if (gain.size() != static_cast<std::size_t>(frames) ||
      bias.size() != static_cast<std::size_t>(frames)) {
    throw UsageError(fmt::format("synth scene: gain / bias have {} / {} values, expected {}",
                                 gain.size(), bias.size(), frames));
  }
  for (int t = 0; t < frames; ++t) {
    if (!std::isfinite(gain[t]) || !std::isfinite(bias[t])) {
      throw UsageError(fmt::format("synth scene: gain / bias of frame {} not finite", t));
    }
  }
  if (!(noise_sigma >= 0.0f && noise_sigma <= 1000.0f)) {
    throw UsageError(fmt::format("synth scene: noise_sigma {} out of range", noise_sigma));
  }
}

SynthScene build_synth_scene(const SynthParams& params, std::uint64_t seed) {
  params.validate();
  SynthScene scene;
  scene.width = params.width;
  scene.height = params.height;
  scene.frames = params.frames;

  Rng scene_rng(derive_seed(seed, kStreamScene));
  const int num_objects = scene_rng.range(params.min_objects, params.max_objects);
  const bool blur = scene_rng.chance(0.5);
  // Whether the camera follows the front object (the last one drawn), from a stream of its own,
  // so that clips without a followed subject keep every other draw.
  Rng follow_rng(derive_seed(seed, kStreamFollow));
  const bool follow = follow_rng.chance(params.follow_fraction) && num_objects > 0;

  Rng bg_rng(derive_seed(seed, kStreamBackground));
  const PhotoBank* photos = params.photos.get();
  scene.layers.push_back(photos != nullptr
                             ? make_photo_background(params.width, params.height, *photos, bg_rng)
                             : make_background_texture(params.width, params.height, bg_rng));
  Rng camera_rng(derive_seed(seed, kStreamCamera));
  set_camera_motion(params, scene.layers[0], camera_rng, /*fast=*/follow);

  const int min_side = std::min(params.width, params.height);
  for (int k = 0; k < num_objects; ++k) {
    Rng tex_rng(derive_seed(seed, kStreamObject + 2 * k));
    Rng motion_rng(derive_seed(seed, kStreamObject + 2 * k + 1));
    const bool subject = follow && k == num_objects - 1;
    const double side =
        (subject ? tex_rng.uniform(0.35, 0.6) : tex_rng.uniform(0.15, 0.45)) * min_side;
    const double aspect = std::exp(tex_rng.uniform(-0.5, 0.5));
    const int tw = std::max(8, static_cast<int>(std::lround(side * std::sqrt(aspect))));
    const int th = std::max(8, static_cast<int>(std::lround(side / std::sqrt(aspect))));
    if (photos != nullptr && tex_rng.chance(params.photo_object_fraction)) {
      scene.layers.push_back(make_photo_object(tw, th, *photos, tex_rng));
    } else {
      scene.layers.push_back(make_object_texture(tw, th, tex_rng));
    }
    set_object_motion(params, scene.layers.back(), motion_rng, /*followed=*/subject);
    Rng deform_rng(derive_seed(derive_seed(seed, kStreamDeform), static_cast<std::uint64_t>(k)));
    Rng limb_rng(derive_seed(derive_seed(seed, kStreamLimbs), static_cast<std::uint64_t>(k)));
    const bool deform = deform_rng.chance(params.deform_fraction);
    const bool articulated =
        limb_rng.chance(subject ? std::max(0.5, params.articulated_fraction)
                                : params.articulated_fraction);
    const std::size_t body = scene.layers.size() - 1;
    if (deform && !articulated) set_object_deformation(params, scene.layers.back(), deform_rng);
    if (articulated) add_limbs(params, scene.layers, limb_rng);
    if (subject) flatten_subject(scene.layers, body, follow_rng.uniform(0.15, 0.5));
  }

  Rng photo_rng(derive_seed(seed, kStreamPhotometric));
  const double gain0 = photo_rng.uniform(0.85, 1.15);
  const double bias0 = photo_rng.uniform(-10.0, 10.0);
  const Wave gain_wave(photo_rng.uniform(0.0, 0.12), photo_rng);
  const Wave bias_wave(photo_rng.uniform(0.0, 10.0), photo_rng);
  scene.gain.resize(params.frames);
  scene.bias.resize(params.frames);
  for (int t = 0; t < params.frames; ++t) {
    scene.gain[t] =
        params.brightness_change ? static_cast<float>(gain0 * (1.0 + gain_wave.at(t))) : 1.0f;
    scene.bias[t] = params.brightness_change ? static_cast<float>(bias0 + bias_wave.at(t)) : 0.0f;
  }
  scene.noise_sigma = params.noise ? static_cast<float>(params.noise_sigma) : 0.0f;
  scene.blur = params.blur && blur;
  scene.noise_seed = derive_seed(seed, kStreamNoise);
  Rng motion_blur_rng(derive_seed(seed, kStreamMotionBlur));
  if (motion_blur_rng.chance(params.motion_blur_fraction)) {
    scene.exposure = motion_blur_rng.uniform(0.3, 1.0);
  }
  return scene;
}

SynthClip generate_clip(const SynthParams& params, std::uint64_t seed) {
  const SynthScene scene = build_synth_scene(params, seed);
  const std::vector<SynthPoint> points = sample_synth_points(
      scene, params.num_points, params.query_first_fraction, derive_seed(seed, kStreamPoints));
  return render_synth_clip(scene, points);
}

}  // namespace cotrack
