// A small grouped bar chart written as PNG (for `cotrack eval --chart`). No OpenCV types here.
#pragma once

#include <string>
#include <vector>

namespace cotrack {

struct BarSeries {
  std::string name;            // e.g. the tracker
  std::vector<double> values;  // one per group, in [0, 100]
};

// Groups along x (e.g. "AJ", "delta_avg", "OA"), one bar per series in each group, values
// printed above the bars. Throws Error(kRuntime) naming the path when it cannot be written.
void write_bar_chart(const std::string& path, const std::string& title,
                     const std::vector<std::string>& groups, const std::vector<BarSeries>& series);

}  // namespace cotrack
