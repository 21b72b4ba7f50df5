// The clip that fuzz_clip writes at start-up and the files its input byte 0 chooses from;
// shared with make_seeds.cpp.
#pragma once

#include <array>
#include <cstdint>

#include "cotrack/synth.hpp"

namespace cotrack::fuzz {

constexpr std::array<const char*, 4> kClipFiles = {"gt.csv", "points.csv", "frames/000000.ppm",
                                                   "frames/000002.ppm"};
constexpr uint64_t kClipSeed = 1;

inline SynthParams tiny_clip_params() {
  SynthParams p;
  p.width = 8;
  p.height = 8;
  p.frames = 3;
  p.num_points = 4;
  p.min_objects = 1;
  p.max_objects = 1;
  return p;
}

}  // namespace cotrack::fuzz
