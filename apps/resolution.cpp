#include "resolution.hpp"

#include <fmt/format.h>

#include <cstdio>

#include "cotrack/error.hpp"

namespace cotrack::app {

std::pair<int, int> parse_resolution(const std::string& text) {
  int h = 0, w = 0;
  char x = 0, extra = 0;
  if (std::sscanf(text.c_str(), "%d%c%d%c", &h, &x, &w, &extra) != 3 || (x != 'x' && x != 'X') ||
      h <= 0 || w <= 0) {
    throw UsageError(fmt::format("--resolution '{}': expected HxW, e.g. 384x512", text));
  }
  return {h, w};
}

}  // namespace cotrack::app
