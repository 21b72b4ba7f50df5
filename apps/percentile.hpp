// Percentiles of timing samples, as the benchmark programs print them.
#pragma once

#include <algorithm>
#include <vector>

namespace cotrack::app {

// The sample at rank floor(p * n) of the sorted values (p in [0, 1]); 0 when there are none.
inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

}  // namespace cotrack::app
