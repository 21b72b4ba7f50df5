#include "chart.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "cotrack/error.hpp"

namespace cotrack {

void write_bar_chart(const std::string& path, const std::string& title,
                     const std::vector<std::string>& groups, const std::vector<BarSeries>& series) {
  constexpr int kWidth = 900, kHeight = 420, kLeft = 60, kRight = 20, kTop = 50, kBottom = 80;
  const cv::Scalar kPalette[] = {{180, 119, 31}, {14, 127, 255}, {44, 160, 44},
                                 {40, 39, 214},  {189, 103, 148}, {75, 86, 140}};
  cv::Mat img(kHeight, kWidth, CV_8UC3, cv::Scalar(255, 255, 255));
  const int plot_h = kHeight - kTop - kBottom, plot_w = kWidth - kLeft - kRight;
  const auto font = cv::FONT_HERSHEY_SIMPLEX;
  cv::putText(img, title, {kLeft, 30}, font, 0.6, {0, 0, 0}, 1, cv::LINE_AA);
  for (int v = 0; v <= 100; v += 20) {
    const int y = kTop + plot_h - plot_h * v / 100;
    cv::line(img, {kLeft, y}, {kWidth - kRight, y}, {225, 225, 225}, 1);
    cv::putText(img, std::to_string(v), {kLeft - 35, y + 5}, font, 0.4, {80, 80, 80}, 1,
                cv::LINE_AA);
  }
  const int n_groups = static_cast<int>(groups.size());
  const int n_series = std::max<int>(1, static_cast<int>(series.size()));
  const int group_w = plot_w / std::max(1, n_groups);
  const int bar_w = std::max(4, (group_w - 20) / n_series);
  for (int g = 0; g < n_groups; ++g) {
    const int x0 = kLeft + g * group_w + 10;
    for (int s = 0; s < static_cast<int>(series.size()); ++s) {
      if (g >= static_cast<int>(series[s].values.size())) continue;
      const double v = std::clamp(series[s].values[g], 0.0, 100.0);
      const int h = static_cast<int>(plot_h * v / 100);
      const cv::Point a(x0 + s * bar_w, kTop + plot_h - h), b(x0 + (s + 1) * bar_w - 3, kTop + plot_h);
      cv::rectangle(img, a, b, kPalette[s % 6], cv::FILLED);
      cv::putText(img, fmt::format("{:.1f}", series[s].values[g]), {a.x, a.y - 4}, font, 0.35,
                  {0, 0, 0}, 1, cv::LINE_AA);
    }
    cv::putText(img, groups[g], {x0, kTop + plot_h + 20}, font, 0.5, {0, 0, 0}, 1, cv::LINE_AA);
  }
  for (int s = 0; s < static_cast<int>(series.size()); ++s) {
    const cv::Point p(kLeft + 10 + s * 220, kHeight - 25);
    cv::rectangle(img, p, p + cv::Point(14, -10), kPalette[s % 6], cv::FILLED);
    cv::putText(img, series[s].name, p + cv::Point(20, 0), font, 0.45, {0, 0, 0}, 1, cv::LINE_AA);
  }
  bool ok = false;
  try {
    ok = cv::imwrite(path, img);
  } catch (const cv::Exception&) {
    ok = false;
  }
  if (!ok) throw Error(ExitCode::kRuntime, fmt::format("{}: cannot write the chart", path));
}

}  // namespace cotrack
