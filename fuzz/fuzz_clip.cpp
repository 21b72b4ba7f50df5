// Fuzzes cotrack::read_clip (src/data/clip_io.cpp) on a clip directory. At start-up a valid tiny
// clip (8x8, 3 frames, 4 points; clip_framing.hpp) is written with write_clip. Framing: byte 0
// picks the file that the rest of the input replaces (gt.csv, points.csv, frames/000000.ppm,
// frames/000002.ppm); the file is restored after each run. InputError is the documented
// refusal; anything else is a finding, and so is an accepted clip with inconsistent shapes.
#include <array>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>

#include "clip_framing.hpp"
#include "cotrack/error.hpp"
#include "cotrack/synth.hpp"
#include "fuzz_common.hpp"

namespace {

using cotrack::fuzz::kClipFiles;

struct Clip {
  std::string dir;
  std::array<std::string, kClipFiles.size()> original;

  Clip() {
    dir = cotrack::fuzz::scratch_dir("clip").string();
    cotrack::write_clip(
        cotrack::generate_clip(cotrack::fuzz::tiny_clip_params(), cotrack::fuzz::kClipSeed), dir);
    for (size_t k = 0; k < kClipFiles.size(); ++k) original[k] = read(k);
  }
  std::string path(size_t k) const { return dir + "/" + kClipFiles[k]; }
  std::string read(size_t k) const {
    std::ifstream in(path(k), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  void write(size_t k, const char* data, size_t size) const {
    std::ofstream out(path(k), std::ios::binary | std::ios::trunc);
    out.write(data, static_cast<std::streamsize>(size));
    if (!out) __builtin_trap();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Clip clip;
  if (size < 1) return -1;
  const size_t k = data[0] % kClipFiles.size();
  clip.write(k, reinterpret_cast<const char*>(data + 1), size - 1);
  cotrack::SynthClip c;
  bool read = false;
  try {
    c = cotrack::read_clip(clip.dir);
    read = true;
  } catch (const cotrack::Error& e) {
    cotrack::fuzz::refused(e);
  }
  clip.write(k, clip.original[k].data(), clip.original[k].size());
  if (read) {  // an accepted clip must be consistent
    try {
      c.validate_shapes();
    } catch (const cotrack::Error&) {
      __builtin_trap();
    }
    for (int q : c.query_frame) {
      if (q < 0 || q >= c.frames) __builtin_trap();
    }
  }
  return 0;
}
