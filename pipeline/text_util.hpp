// Parsing and rounding shared by the live app's network outputs (the web server, MQTT).
#pragma once

#include <cmath>
#include <exception>
#include <string>

namespace cotrack {

// `text` as a whole decimal integer; false when empty, out of range or followed by anything.
inline bool parse_integer(const std::string& text, long long& out) {
  if (text.empty()) return false;
  size_t used = 0;
  try {
    out = std::stoll(text, &used);
  } catch (const std::exception&) {
    return false;
  }
  return used == text.size();
}

// `v` rounded to `decimals` places (for JSON numbers that say no more than they mean).
inline double round_to(double v, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}

}  // namespace cotrack
