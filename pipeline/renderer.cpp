// Drawing onto video frames: track trails, point markers, the HUD band and the help box
// (Renderer). The preview window is in preview_window.cpp, the video and PNG outputs in
// video_out.cpp.
#include "renderer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "cotrack/error.hpp"

namespace cotrack {
namespace {

// Sub-pixel drawing: OpenCV's `shift` argument, coordinates in 1/16 pixel.
constexpr int kShift = 4;
constexpr float kOne = 1 << kShift;

const cv::Scalar kOutline(20, 20, 20);
const cv::Scalar kWhite(255, 255, 255);
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;

constexpr double kOldestOpacity = 0.15;
constexpr double kOccludedOpacityFactor = 0.6;
constexpr double kHudBandKeep = 0.4;  // the HUD band keeps 40 % of the frame's brightness
constexpr double kHelpBoxKeep = 0.3;  // the help box keeps 30 %

// A point in fixed-point coordinates relative to `origin` (whole pixels).
cv::Point fixed(float x, float y, cv::Point origin = {}) {
  return {static_cast<int>(std::lround((x - origin.x) * kOne)),
          static_cast<int>(std::lround((y - origin.y) * kOne))};
}

cv::Scalar track_color(int64_t id) {
  uint8_t b, g, r;
  Renderer::color_for(id, b, g, r);
  return {static_cast<double>(b), static_cast<double>(g), static_cast<double>(r)};
}

// Calls draw(target, origin) to draw into `img` at opacity `alpha`: directly when alpha >= 1,
// otherwise into a copy of the region `box` (clipped to the image) that is then blended back, so
// the cost follows the size of what is drawn, not of the frame. `origin` is the top-left corner
// of `target` in image pixels.
template <typename DrawFn>
void draw_blended(cv::Mat& img, cv::Rect box, double alpha, DrawFn draw) {
  if (alpha >= 1.0) {
    draw(img, cv::Point(0, 0));
    return;
  }
  box &= cv::Rect(0, 0, img.cols, img.rows);
  if (box.empty() || alpha <= 0.0) return;
  cv::Mat roi = img(box);
  cv::Mat layer = roi.clone();
  draw(layer, box.tl());
  cv::addWeighted(layer, alpha, roi, 1.0 - alpha, 0.0, roi);
}

cv::Rect segment_box(cv::Point2f a, cv::Point2f b, int thickness) {
  const int m = thickness + 2;
  const int x0 = static_cast<int>(std::floor(std::min(a.x, b.x))) - m;
  const int y0 = static_cast<int>(std::floor(std::min(a.y, b.y))) - m;
  const int x1 = static_cast<int>(std::ceil(std::max(a.x, b.x))) + m;
  const int y1 = static_cast<int>(std::ceil(std::max(a.y, b.y))) + m;
  return {x0, y0, x1 - x0 + 1, y1 - y0 + 1};
}

bool finite(const PointEstimate& e) { return std::isfinite(e.x_px) && std::isfinite(e.y_px); }

// Draws one track's trail: `trail` holds the estimates to join, oldest first.
void draw_trail(cv::Mat& img, const std::vector<const PointEstimate*>& trail,
                const cv::Scalar& color, int max_thickness, float dash_px) {
  const size_t n = trail.size();
  if (n < 2) return;
  float arc = 0.f;  // arc length of the trail before the current segment (for dashes)
  for (size_t k = 1; k < n; ++k) {
    const PointEstimate& e0 = *trail[k - 1];
    const PointEstimate& e1 = *trail[k];
    const cv::Point2f a(e0.x_px, e0.y_px), b(e1.x_px, e1.y_px);
    const float len = static_cast<float>(cv::norm(b - a));
    const double age_t = static_cast<double>(k) / static_cast<double>(n - 1);  // (0, 1]
    double alpha = kOldestOpacity + (1.0 - kOldestOpacity) * age_t;
    int thickness =
        1 + static_cast<int>(std::lround(age_t * static_cast<double>(max_thickness - 1)));
    const bool dashed = !e0.visible && !e1.visible;
    if (dashed) {
      alpha *= kOccludedOpacityFactor;
      thickness = 1;
    }
    draw_blended(img, segment_box(a, b, thickness), alpha, [&](cv::Mat& target, cv::Point o) {
      if (!dashed || len <= 0.f) {
        cv::line(target, fixed(a.x, a.y, o), fixed(b.x, b.y, o), color, thickness, cv::LINE_AA,
                 kShift);
        return;
      }
      // Dashes on at arc positions s with floor(s / dash_px) even.
      float s = arc;
      const float end = arc + len;
      while (s < end) {
        const float period_start = std::floor(s / dash_px) * dash_px;
        const bool on = static_cast<int64_t>(std::floor(s / dash_px)) % 2 == 0;
        const float next = std::min(end, period_start + dash_px);
        if (on) {
          const cv::Point2f p = a + (b - a) * ((s - arc) / len);
          const cv::Point2f q = a + (b - a) * ((next - arc) / len);
          cv::line(target, fixed(p.x, p.y, o), fixed(q.x, q.y, o), color, 1, cv::LINE_AA, kShift);
        }
        s = next;
      }
    });
    arc += len;
  }
}

void draw_marker(cv::Mat& img, const PointEstimate& e, const cv::Scalar& color, int radius) {
  const cv::Point c = fixed(e.x_px, e.y_px);
  const int r = static_cast<int>(radius * kOne);
  if (!e.estimated) {
    const int d = r;
    const cv::Point d1(d, d), d2(d, -d);
    cv::line(img, c - d1, c + d1, kOutline, 3, cv::LINE_AA, kShift);
    cv::line(img, c - d2, c + d2, kOutline, 3, cv::LINE_AA, kShift);
    cv::line(img, c - d1, c + d1, color, 1, cv::LINE_AA, kShift);
    cv::line(img, c - d2, c + d2, color, 1, cv::LINE_AA, kShift);
  } else if (e.visible) {
    cv::circle(img, c, r + static_cast<int>(kOne), kOutline, cv::FILLED, cv::LINE_AA, kShift);
    cv::circle(img, c, r, color, cv::FILLED, cv::LINE_AA, kShift);
  } else {
    const int ring = std::max(2, radius / 2);
    cv::circle(img, c, r, kOutline, ring + 2, cv::LINE_AA, kShift);
    cv::circle(img, c, r, color, ring, cv::LINE_AA, kShift);
  }
}

// Font scale and stroke for an image size: about 8 px high glyphs at 240 rows, 17 px at 720.
struct TextStyle {
  double scale = 0.5;
  int thickness = 1;
  int line_h = 0;    // distance between baselines
  int baseline = 0;  // descent below the baseline
  int pad = 0;       // margin around text blocks
};

TextStyle text_style(double scale) {
  TextStyle s;
  s.scale = scale;
  s.thickness = scale >= 0.9 ? 2 : 1;
  int baseline = 0;
  const cv::Size size = cv::getTextSize("Ag|", kFont, s.scale, s.thickness, &baseline);
  s.baseline = baseline;
  s.pad = std::max(2, static_cast<int>(std::lround(size.height * 0.35)));
  s.line_h = size.height + baseline + s.pad / 2 + 1;
  return s;
}

TextStyle text_style_for(int width, int height) {
  const double scale = std::clamp(std::min(width, height) / 720.0 * 0.8, 0.38, 1.2);
  return text_style(scale);
}

int text_width(const std::string& text, const TextStyle& s) {
  int baseline = 0;
  return cv::getTextSize(text, kFont, s.scale, s.thickness, &baseline).width;
}

// Splits `text` at " | " and packs the pieces greedily into lines no wider than max_width (a
// piece wider than that gets a line of its own and is cut off at the image edge).
std::vector<std::string> wrap(const std::string& text, int max_width, const TextStyle& s) {
  static const std::string kSep = " | ";
  std::vector<std::string> pieces;
  size_t start = 0;
  while (true) {
    const size_t pos = text.find(kSep, start);
    pieces.push_back(
        text.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) break;
    start = pos + kSep.size();
  }
  std::vector<std::string> lines;
  for (const std::string& piece : pieces) {
    if (!lines.empty() && text_width(lines.back() + kSep + piece, s) <= max_width) {
      lines.back() += kSep + piece;
    } else {
      lines.push_back(piece);
    }
  }
  return lines;
}

void darken(cv::Mat& img, cv::Rect box, double keep) {
  box &= cv::Rect(0, 0, img.cols, img.rows);
  if (box.empty()) return;
  cv::Mat roi = img(box);
  roi.convertTo(roi, -1, keep, 0.0);
}

void draw_hud(cv::Mat& img, const HudStats& hud) {
  const TextStyle s = text_style_for(img.cols, img.rows);
  const std::vector<std::string> lines = wrap(Renderer::hud_text(hud), img.cols - 2 * s.pad, s);
  const int band_h = static_cast<int>(lines.size()) * s.line_h + s.pad;
  darken(img, cv::Rect(0, 0, img.cols, band_h), kHudBandKeep);
  for (size_t i = 0; i < lines.size(); ++i) {
    const int y = s.pad / 2 + static_cast<int>(i + 1) * s.line_h - s.baseline - s.pad / 2;
    cv::putText(img, lines[i], cv::Point(s.pad, y), kFont, s.scale, kWhite, s.thickness,
                cv::LINE_AA);
  }
}

int hud_band_height(const cv::Mat& img, const HudStats& hud) {
  const TextStyle s = text_style_for(img.cols, img.rows);
  const size_t n = wrap(Renderer::hud_text(hud), img.cols - 2 * s.pad, s).size();
  return static_cast<int>(n) * s.line_h + s.pad;
}

// The help box, centred in the area below `top`; the text shrinks until the box fits.
void draw_help(cv::Mat& img, int top) {
  const std::vector<std::string> lines = Renderer::help_lines();
  TextStyle s = text_style_for(img.cols, img.rows);
  int box_w = 0, box_h = 0;
  for (int attempt = 0; attempt < 8; ++attempt) {
    int widest = 0;
    for (const std::string& line : lines) widest = std::max(widest, text_width(line, s));
    box_w = widest + 2 * s.pad;
    box_h = static_cast<int>(lines.size()) * s.line_h + 2 * s.pad;
    const double fit = std::min(static_cast<double>(img.cols) / box_w,
                                static_cast<double>(img.rows - top) / box_h);
    if (fit >= 1.0 || s.scale <= 0.2) break;
    s = text_style(std::max(0.2, s.scale * fit * 0.97));
  }
  const int x0 = std::max(0, (img.cols - box_w) / 2);
  const int y0 = std::max(0, top + (img.rows - top - box_h) / 2);
  const cv::Rect box(x0, y0, box_w, box_h);
  darken(img, box, kHelpBoxKeep);
  cv::rectangle(img, box & cv::Rect(0, 0, img.cols, img.rows), cv::Scalar(180, 180, 180), 1,
                cv::LINE_AA);
  for (size_t i = 0; i < lines.size(); ++i) {
    const int y = y0 + s.pad + static_cast<int>(i + 1) * s.line_h - s.baseline - s.pad / 2;
    cv::putText(img, lines[i], cv::Point(x0 + s.pad, y), kFont, s.scale, kWhite, s.thickness,
                cv::LINE_AA);
  }
}

}  // namespace

// ---- Renderer -----------------------------------------------------------------------------

void RenderConfig::validate() const {
  if (trail_frames < 0 || trail_frames > 4096) {
    throw UsageError(fmt::format("trail_frames must be in [0, 4096] (got {})", trail_frames));
  }
  if (marker_radius_px < 1 || marker_radius_px > 64) {
    throw UsageError(fmt::format("marker_radius_px must be in [1, 64] (got {})", marker_radius_px));
  }
}

Renderer::Renderer(RenderConfig config) : config_(config) { config_.validate(); }

void Renderer::set_config(const RenderConfig& config) {
  config.validate();
  config_ = config;
}

std::vector<std::string> Renderer::help_lines() {
  return {"left click: add point",
          "right click: remove nearest point",
          "c: clear points",
          "g: grid of points",
          "space/p: pause",
          "s: screenshot",
          "h: help",
          "q/Esc: quit"};
}

std::string Renderer::hud_text(const HudStats& hud) {
  const std::string latency = std::isfinite(hud.latency_ms) && hud.latency_ms >= 0
                                  ? fmt::format("{:.0f} ms", hud.latency_ms)
                                  : std::string("-");
  std::string text = fmt::format(
      "in {:.1f} fps | tracked {:.1f} fps | latency {} | drops {} | points {} | thin 1/{}",
      hud.input_fps, hud.tracked_fps, latency, hud.dropped, hud.points, std::max(1, hud.thin));
  if (!hud.mode.empty()) text += " | " + hud.mode;
  if (hud.paused) text += " | PAUSED";
  if (!hud.status.empty()) text += " | " + hud.status;
  if (!hud.accuracy.empty()) text += " | " + hud.accuracy;
  if (!hud.streams.empty()) text += " | " + hud.streams;
  return text;
}

void Renderer::color_for(int64_t id, uint8_t& b, uint8_t& g, uint8_t& r) {
  constexpr double kGoldenRatioConjugate = 0.6180339887498949;
  constexpr double kHueStart = 0.08;  // id 0 starts orange-ish rather than pure red
  constexpr double kSaturation = 0.85;
  constexpr double kValue = 1.0;
  // Hue in [0, 1): the fractional part of start + id * phi' (ids are small: precise enough).
  double hue = std::fmod(kHueStart + static_cast<double>(id) * kGoldenRatioConjugate, 1.0);
  if (hue < 0) hue += 1.0;
  const double h6 = hue * 6.0;
  const int sector = std::min(5, static_cast<int>(h6));
  const double f = h6 - sector;
  const double v = kValue, p = v * (1 - kSaturation), q = v * (1 - kSaturation * f),
               t = v * (1 - kSaturation * (1 - f));
  const double rgb[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
  auto to_byte = [](double x) { return static_cast<uint8_t>(std::lround(x * 255.0)); };
  r = to_byte(rgb[sector][0]);
  g = to_byte(rgb[sector][1]);
  b = to_byte(rgb[sector][2]);
}

void Renderer::draw(const uint8_t* rgb, int width, int height, const Snapshot& tracks,
                    int64_t frame_index, const HudStats& hud, std::vector<uint8_t>& bgr_out) const {
  if (rgb == nullptr) throw InputError("renderer: null frame");
  if (width <= 0 || height <= 0) {
    throw InputError(
        fmt::format("renderer: frame size must be positive (got {}x{})", width, height));
  }
  bgr_out.resize(static_cast<size_t>(width) * static_cast<size_t>(height) * 3);
  const cv::Mat src(height, width, CV_8UC3, const_cast<uint8_t*>(rgb));
  cv::Mat img(height, width, CV_8UC3, bgr_out.data());
  cv::cvtColor(src, img, cv::COLOR_RGB2BGR);

  const int radius = config_.marker_radius_px;
  const int max_thickness = std::max(2, radius / 2);
  const float dash_px = static_cast<float>(std::max(3, radius));

  // Per track: the marker estimate (newest at or before frame_index) and the trail.
  std::vector<const PointEstimate*> markers(tracks.tracks.size(), nullptr);
  std::vector<const PointEstimate*> trail;
  for (size_t t = 0; t < tracks.tracks.size(); ++t) {
    const Snapshot::Track& track = tracks.tracks[t];
    const size_t n = std::min(track.frames.size(), track.estimates.size());
    // frames ascend: the estimates to consider are [0, end).
    const size_t end = static_cast<size_t>(
        std::upper_bound(track.frames.begin(), track.frames.begin() + n, frame_index) -
        track.frames.begin());
    if (end == 0) continue;
    if (finite(track.estimates[end - 1])) markers[t] = &track.estimates[end - 1];
    trail.clear();
    for (size_t i = end; i-- > 0 && static_cast<int>(trail.size()) < config_.trail_frames;) {
      const PointEstimate& e = track.estimates[i];
      if (!e.estimated) break;  // before the point's first window: no track yet
      if (finite(e)) trail.push_back(&e);
    }
    std::reverse(trail.begin(), trail.end());
    draw_trail(img, trail, track_color(track.id), max_thickness, dash_px);
  }
  for (size_t t = 0; t < tracks.tracks.size(); ++t) {
    if (markers[t] != nullptr) {
      draw_marker(img, *markers[t], track_color(tracks.tracks[t].id), radius);
    }
  }
  if (config_.show_ids) {
    const TextStyle st = text_style_for(img.cols, img.rows);
    for (size_t t = 0; t < tracks.tracks.size(); ++t) {
      if (markers[t] == nullptr) continue;
      const cv::Point at(static_cast<int>(markers[t]->x_px) + radius + 2,
                         static_cast<int>(markers[t]->y_px) - radius - 2);
      const std::string id = std::to_string(tracks.tracks[t].id);
      cv::putText(img, id, at, kFont, st.scale * 0.8, kOutline, st.thickness + 2, cv::LINE_AA);
      cv::putText(img, id, at, kFont, st.scale * 0.8, track_color(tracks.tracks[t].id),
                  st.thickness, cv::LINE_AA);
    }
  }
  if (config_.show_legend) {
    const TextStyle st = text_style_for(img.cols, img.rows);
    const std::string legend = "filled: visible | ring: occluded | cross: no estimate yet";
    const int band_h = st.line_h + st.pad;
    darken(img, cv::Rect(0, img.rows - band_h, img.cols, band_h), kHudBandKeep);
    cv::putText(img, legend, cv::Point(st.pad, img.rows - st.pad / 2 - st.baseline), kFont,
                st.scale, kWhite, st.thickness, cv::LINE_AA);
  }

  int top = 0;
  if (config_.show_hud) {
    draw_hud(img, hud);
    top = hud_band_height(img, hud);
  }
  if (config_.show_help) draw_help(img, top);
}

}  // namespace cotrack
