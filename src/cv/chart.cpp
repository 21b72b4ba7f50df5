#include "chart.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "cotrack/error.hpp"

#include <cmath>

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

namespace {

// A distinct, saturated colour for point n (golden-ratio hue steps), BGR.
cv::Scalar point_colour(int n) {
  const double hue = std::fmod(n * 0.618033988749895, 1.0) * 180.0;
  cv::Mat hsv(1, 1, CV_8UC3, cv::Scalar(hue, 230, 255)), bgr;
  cv::cvtColor(hsv, bgr, cv::COLOR_HSV2BGR);
  const auto c = bgr.at<cv::Vec3b>(0, 0);
  return {static_cast<double>(c[0]), static_cast<double>(c[1]), static_cast<double>(c[2])};
}

void write_image(const std::string& path, const cv::Mat& img, const char* what) {
  bool ok = false;
  try {
    ok = cv::imwrite(path, img, {cv::IMWRITE_JPEG_QUALITY, 88});
  } catch (const cv::Exception&) {
    ok = false;
  }
  if (!ok) throw Error(ExitCode::kRuntime, fmt::format("{}: cannot write the {}", path, what));
}

}  // namespace

void write_track_strip(const std::string& path, const std::string& title, const SynthClip& clip,
                       const EvalQueries& queries, const std::vector<StripRow>& rows,
                       int columns) {
  constexpr int kLabelW = 170, kHeaderH = 56, kGap = 4, kTrail = 8;
  const auto font = cv::FONT_HERSHEY_SIMPLEX;
  columns = std::clamp(columns, 1, std::max(1, clip.frames));
  const int w = clip.width, h = clip.height;
  const double to256 = 256.0 / std::max(w, h);
  const int n_rows = static_cast<int>(rows.size());
  cv::Mat img(kHeaderH + n_rows * (h + kGap), kLabelW + columns * (w + kGap), CV_8UC3,
              cv::Scalar(255, 255, 255));
  cv::putText(img, title, {8, 22}, font, 0.6, {0, 0, 0}, 1, cv::LINE_AA);
  cv::putText(img, "x truth   o estimate (hollow: called occluded)   red: > 8 px off", {8, 44},
              font, 0.45, {60, 60, 60}, 1, cv::LINE_AA);
  for (int c = 0; c < columns; ++c) {
    const int t = columns == 1 ? 0 : (clip.frames - 1) * c / (columns - 1);
    const int x0 = kLabelW + c * (w + kGap);
    cv::putText(img, fmt::format("frame {}", t), {x0 + 4, kHeaderH - 2}, font, 0.45,
                {0, 0, 0}, 1, cv::LINE_AA);
    // The RGB frame, converted once per column.
    const cv::Mat rgb(h, w, CV_8UC3, const_cast<std::uint8_t*>(clip.frame(t)));
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    for (int r = 0; r < n_rows; ++r) {
      const TrackTable& tt = rows[r].tracks;
      if (tt.points != static_cast<int>(queries.size()) || tt.frames != clip.frames) {
        throw InputError(fmt::format("track strip: row '{}' has {}x{} tracks, expected {}x{}",
                                     rows[r].label, tt.frames, tt.points, clip.frames,
                                     queries.size()));
      }
      const int y0 = kHeaderH + r * (h + kGap);
      cv::Mat cell = img(cv::Rect(x0, y0, w, h));
      bgr.copyTo(cell);
      for (int q = 0; q < static_cast<int>(queries.size()); ++q) {
        const int n = queries.point[q];
        if (queries.frame[q] > t) continue;
        const cv::Scalar colour = point_colour(q);
        const cv::Point2f gt(clip.x(t, n), clip.y(t, n));
        const bool gt_vis = clip.is_visible(t, n);
        const size_t i = tt.index(t, q);
        const cv::Point2f est(tt.x_px[i], tt.y_px[i]);
        for (int s = std::max(queries.frame[q], t - kTrail); s < t; ++s) {
          const size_t a = tt.index(s, q), b = tt.index(s + 1, q);
          cv::line(cell, {cvRound(tt.x_px[a]), cvRound(tt.y_px[a])},
                   {cvRound(tt.x_px[b]), cvRound(tt.y_px[b])}, colour, 1, cv::LINE_AA);
        }
        const double dx = (est.x - gt.x) * to256, dy = (est.y - gt.y) * to256;
        if (gt_vis) {
          if (std::hypot(dx, dy) > 8.0) cv::line(cell, est, gt, {0, 0, 255}, 1, cv::LINE_AA);
          cv::drawMarker(cell, gt, colour, cv::MARKER_CROSS, 7, 1, cv::LINE_AA);
        }
        const bool est_vis = tt.visible[i] != 0;
        cv::circle(cell, est, 3, est_vis ? colour : cv::Scalar(255, 255, 255),
                   est_vis ? cv::FILLED : 1, cv::LINE_AA);
        if (est_vis) cv::circle(cell, est, 3, {0, 0, 0}, 1, cv::LINE_AA);
      }
      if (c == 0) {
        // The label, wrapped on spaces into lines of at most ~18 characters.
        std::vector<std::string> lines{""};
        std::string word;
        const std::string text = rows[r].label + " ";
        for (char ch : text) {
          if (ch != ' ') {
            word += ch;
            continue;
          }
          if (!lines.back().empty() && lines.back().size() + word.size() > 18) lines.push_back("");
          lines.back() += (lines.back().empty() ? "" : " ") + word;
          word.clear();
        }
        for (size_t l = 0; l < lines.size(); ++l) {
          cv::putText(img, lines[l], {8, y0 + 24 + 20 * static_cast<int>(l)}, font, 0.5,
                      {0, 0, 0}, 1, cv::LINE_AA);
        }
      }
    }
  }
  write_image(path, img, "track strip");
}

}  // namespace cotrack

