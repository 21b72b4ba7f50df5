// Fuzzes cotrack::read_points_csv (src/data/track_io.cpp): the input is the whole points.csv.
// InputError is the documented refusal; anything else (another exception, a sanitizer report,
// a hang, a huge allocation) is a finding.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cotrack/error.hpp"
#include "cotrack/track_io.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static cotrack::fuzz::MemFile file;
  const std::string& path = file.write(data, size);
  try {
    std::vector<int> ids;
    const std::vector<cotrack::PointQuery> points = cotrack::read_points_csv(path, &ids);
    if (ids.size() != points.size()) __builtin_trap();
  } catch (const cotrack::Error& e) {
    cotrack::fuzz::refused(e);
  }
  return 0;
}
