// JSON written by the programs (eval --json, live --stats-json, cotrack-bench): keys in the order
// they are set, numbers rounded to the precision they are meaningful to.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>

namespace cotrack::app {

using Json = nlohmann::ordered_json;

// `v` rounded to `decimals` places; null when it is not finite (JSON has no NaN).
inline Json rounded(double v, int decimals) {
  if (!std::isfinite(v)) return nullptr;
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}

}  // namespace cotrack::app
