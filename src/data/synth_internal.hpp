// Internals of the synthetic-clip generator shared by its sources in src/data/: the random
// streams, small geometry and quantisation, and the texture and motion builders that
// build_synth_scene() (synth.cpp) assembles. See include/cotrack/synth.hpp for the contract.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "cotrack/photo_bank.hpp"
#include "cotrack/synth.hpp"

namespace cotrack {
namespace synth_detail {

constexpr double kPi = 3.14159265358979323846;
constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ULL;

// ---- random numbers ---------------------------------------------------------------------------

inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

inline std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
  return mix64(mix64(seed ^ 0x5EED5EED5EED5EEDULL) + kGolden * (stream + 1));
}

// splitmix64 stream.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next_u64() {
    state_ += kGolden;
    return mix64(state_);
  }
  // Uniform in [0, 1), 53 bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n), n >= 1.
  int below(int n) {
    return static_cast<int>(((next_u64() >> 32) * static_cast<std::uint64_t>(n)) >> 32);
  }
  // Uniform integer in [lo, hi].
  int range(int lo, int hi) { return lo + below(hi - lo + 1); }
  bool chance(double p) { return uniform() < p; }

 private:
  std::uint64_t state_;
};

// ---- small geometry ---------------------------------------------------------------------------

struct Vec2 {
  double x = 0.0;
  double y = 0.0;
};

// A smooth bounded oscillation amp * sin(freq * t + phase), with random freq and phase.
struct Wave {
  double amp = 0.0;
  double freq = 0.0;
  double phase = 0.0;
  Wave() = default;
  Wave(double amplitude, Rng& rng)
      : amp(amplitude), freq(rng.uniform(0.03, 0.2)), phase(rng.uniform(0.0, 2.0 * kPi)) {}
  double at(int t) const { return amp * std::sin(freq * t + phase); }
};

// ---- pixels -------------------------------------------------------------------------------------

// Rounds to the nearest integer in [0, 255] (NaN gives 0).
inline std::uint8_t quantize(float v) {
  if (!(v > 0.0f)) return 0;
  if (v >= 255.0f) return 255;
  return static_cast<std::uint8_t>(static_cast<int>(v + 0.5f));
}

// ---- textures (synth_texture.cpp) -------------------------------------------------------------

// The periodic background texture: colour gradients, multi-octave value noise and many patches.
SynthLayer make_background_texture(int width, int height, Rng& rng);
// An object's texture (a random pattern plus fine noise) and shape mask; no transforms yet.
SynthLayer make_object_texture(int tw, int th, Rng& rng);
// A periodic background tiled from a mirrored photo crop.
SynthLayer make_photo_background(int width, int height, const PhotoBank& photos, Rng& rng);
// An object cut from a photo: a random box of the photo at a random zoom, under a random shape.
SynthLayer make_photo_object(int tw, int th, const PhotoBank& photos, Rng& rng);

// ---- motion (synth_geometry.cpp) --------------------------------------------------------------

// Sets the background's transforms (one per frame) from the camera motion.
// fast: the camera follows a subject, at 60-100% of the speed bound instead of 20-100%.
void set_camera_motion(const SynthParams& params, SynthLayer& bg, Rng& rng, bool fast = false);
// Sets an object's transforms (one per frame) from its own motion.
// followed: the subject the camera follows, starting near the centre and drifting at most 20%
// of the speed bound.
void set_object_motion(const SynthParams& params, SynthLayer& obj, Rng& rng,
                       bool followed = false);
// Gives an object a random non-rigid deformation (SynthLayer::warp): 1-3 waves as long as
// 0.6-2.5 times the object's larger side, whose amplitudes swing back and forth and whose phases
// drift, within a random share of the invertibility bound.
void set_object_deformation(const SynthParams& params, SynthLayer& obj, Rng& rng);
// Appends a limb to the object layers.back() (its transforms set): 1-3 thin segments, each a
// layer in front of the one before, hinged at a point of it and swinging about that joint.
void add_limbs(const SynthParams& params, std::vector<SynthLayer>& layers, Rng& rng);

}  // namespace synth_detail
}  // namespace cotrack
