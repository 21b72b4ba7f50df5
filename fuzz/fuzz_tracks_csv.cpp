// Fuzzes cotrack::read_tracks_csv (src/data/track_io.cpp). Framing: byte 0 is the frame count
// (0..15), byte 1 the point count (0..15) with ids 0..N-1 (byte 1 >= 128: ids 7, 14, 21, ...,
// so ids and columns differ); the rest is tracks.csv. InputError is the documented refusal;
// anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cotrack/error.hpp"
#include "cotrack/track_io.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static cotrack::fuzz::MemFile file;
  if (size < 2) return -1;  // not a framed input: keep it out of the corpus
  const int frames = data[0] % 16;
  const int points = data[1] % 16;
  std::vector<int> ids(points);
  for (int n = 0; n < points; ++n) ids[n] = data[1] >= 128 ? 7 * (n + 1) : n;
  const std::string& path = file.write(data + 2, size - 2);
  try {
    const cotrack::TrackTable t = cotrack::read_tracks_csv(path, ids, frames);
    const size_t n = static_cast<size_t>(frames) * points;
    if (t.frames != frames || t.points != points || t.x_px.size() != n || t.visible.size() != n)
      __builtin_trap();
  } catch (const cotrack::Error& e) {
    cotrack::fuzz::refused(e);
  }
  return 0;
}
