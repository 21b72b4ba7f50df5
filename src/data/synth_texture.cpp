// Textures of synthetic layers: procedural ones (colour noise, gradients, hard-edged patches and
// patterns) and photographic ones (crops of a PhotoBank), objects under a random shape mask.
#include "data/synth_internal.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace cotrack {
namespace synth_detail {
namespace {

// Texels of transparent border around every object shape.
constexpr int kMaskMargin = 2;

// ---- procedural textures ----------------------------------------------------------------------

using Rgb = std::array<float, 3>;

// Float RGB image, [h][w][3], 0..255 units (may leave that range until quantised).
struct FloatImage {
  int w = 0;
  int h = 0;
  std::vector<float> px;
  FloatImage(int width, int height) : w(width), h(height), px(std::size_t(width) * height * 3) {}
  float* at(int x, int y) { return px.data() + (static_cast<std::size_t>(y) * w + x) * 3; }
};

Rgb hsv_to_rgb(double h, double s, double v) {
  const double hh = (h - std::floor(h)) * 6.0;
  const int sector = std::min(5, static_cast<int>(hh));
  const double f = hh - sector;
  const double p = v * (1.0 - s);
  const double q = v * (1.0 - s * f);
  const double r = v * (1.0 - s * (1.0 - f));
  const double table[6][3] = {{v, r, p}, {q, v, p}, {p, v, r}, {p, q, v}, {r, p, v}, {v, p, q}};
  const double* rgb = table[sector];
  return Rgb{static_cast<float>(255.0 * rgb[0]), static_cast<float>(255.0 * rgb[1]),
             static_cast<float>(255.0 * rgb[2])};
}

Rgb random_colour(Rng& rng) {
  const double h = rng.uniform();
  const double s = rng.uniform(0.15, 1.0);
  const double v = rng.uniform(0.12, 1.0);
  return hsv_to_rgb(h, s, v);
}

// A colour whose value differs clearly from `other`'s, so patterns keep their contrast.
Rgb contrasting_colour(const Rgb& other, Rng& rng) {
  const double other_v = std::max({other[0], other[1], other[2]}) / 255.0;
  const double v =
      other_v > 0.55 ? rng.uniform(0.05, other_v - 0.35) : rng.uniform(other_v + 0.35, 1.0);
  const double h = rng.uniform();
  const double s = rng.uniform(0.1, 1.0);
  return hsv_to_rgb(h, s, std::max(0.0, std::min(1.0, v)));
}

void fill(FloatImage& img, const Rgb& c) {
  for (std::size_t i = 0; i < img.px.size(); i += 3) {
    img.px[i] = c[0];
    img.px[i + 1] = c[1];
    img.px[i + 2] = c[2];
  }
}

// Adds colour value noise with lattice spacing `cell` texels and amplitude `amp`. Periodic
// noise (the image size a multiple of `cell`) tiles seamlessly.
void add_value_noise(FloatImage& img, int cell, float amp, bool periodic, Rng& rng) {
  const int gw = periodic ? std::max(1, img.w / cell) : img.w / cell + 2;
  const int gh = periodic ? std::max(1, img.h / cell) : img.h / cell + 2;
  Rgb dir;
  for (float& d : dir) d = static_cast<float>(rng.uniform(0.4, 1.0));
  const float chroma = static_cast<float>(rng.uniform(0.1, 0.5));
  std::vector<float> nodes(static_cast<std::size_t>(gw) * gh * 3);
  for (std::size_t i = 0; i < nodes.size(); i += 3) {
    const float n = static_cast<float>(rng.uniform(-1.0, 1.0));
    for (int c = 0; c < 3; ++c) {
      nodes[i + c] = amp * (n * dir[c] + chroma * static_cast<float>(rng.uniform(-1.0, 1.0)));
    }
  }
  auto axis = [cell, periodic](int n, int g, std::vector<int>& i0, std::vector<int>& i1,
                               std::vector<float>& s) {
    i0.resize(n);
    i1.resize(n);
    s.resize(n);
    for (int k = 0; k < n; ++k) {
      const int i = k / cell;
      const float f = static_cast<float>(k % cell) / static_cast<float>(cell);
      s[k] = f * f * (3.0f - 2.0f * f);
      i0[k] = periodic ? i % g : i;
      i1[k] = periodic ? (i + 1) % g : i + 1;
    }
  };
  std::vector<int> xi0, xi1, yi0, yi1;
  std::vector<float> xs, ys;
  axis(img.w, gw, xi0, xi1, xs);
  axis(img.h, gh, yi0, yi1, ys);
  for (int y = 0; y < img.h; ++y) {
    const float* row0 = nodes.data() + static_cast<std::size_t>(yi0[y]) * gw * 3;
    const float* row1 = nodes.data() + static_cast<std::size_t>(yi1[y]) * gw * 3;
    const float sy = ys[y];
    float* dst = img.at(0, y);
    for (int x = 0; x < img.w; ++x) {
      const float sx = xs[x];
      const float* a = row0 + 3 * xi0[x];
      const float* b = row0 + 3 * xi1[x];
      const float* c = row1 + 3 * xi0[x];
      const float* d = row1 + 3 * xi1[x];
      for (int ch = 0; ch < 3; ++ch) {
        const float top = a[ch] + sx * (b[ch] - a[ch]);
        const float bottom = c[ch] + sx * (d[ch] - c[ch]);
        dst[3 * x + ch] += top + sy * (bottom - top);
      }
    }
  }
}

// Adds smooth periodic colour gradients: a few cosine waves with whole periods per image.
void add_gradients(FloatImage& img, int waves, float amp, Rng& rng) {
  for (int k = 0; k < waves; ++k) {
    const int fx = rng.range(-2, 2);
    const int fy = rng.range(fx == 0 ? 1 : -2, 2);
    const double phase = rng.uniform(0.0, 2.0 * kPi);
    const Rgb col = {static_cast<float>(amp * rng.uniform(-1.0, 1.0)),
                     static_cast<float>(amp * rng.uniform(-1.0, 1.0)),
                     static_cast<float>(amp * rng.uniform(-1.0, 1.0))};
    std::vector<float> cx(img.w);
    std::vector<float> sx(img.w);
    for (int x = 0; x < img.w; ++x) {
      const double a = 2.0 * kPi * fx * x / img.w;
      cx[x] = static_cast<float>(std::cos(a));
      sx[x] = static_cast<float>(std::sin(a));
    }
    for (int y = 0; y < img.h; ++y) {
      const double a = 2.0 * kPi * fy * y / img.h + phase;
      const float cy = static_cast<float>(std::cos(a));
      const float sy = static_cast<float>(std::sin(a));
      float* dst = img.at(0, y);
      for (int x = 0; x < img.w; ++x) {
        const float wave = cx[x] * cy - sx[x] * sy;  // cos(ax + ay)
        for (int c = 0; c < 3; ++c) dst[3 * x + c] += col[c] * wave;
      }
    }
  }
}

enum class PatchKind { kEllipse, kRectangle, kTriangle, kStripes, kChecker, kRing, kCount };

// Draws one random hard-edged patch (ellipse, rotated rectangle, triangle, stripes, checker or
// ring) with radius in [min_r, max_r]; wraps around the edges when `periodic`.
void draw_random_patch(FloatImage& img, bool periodic, double min_r, double max_r, Rng& rng) {
  const auto kind = static_cast<PatchKind>(rng.below(static_cast<int>(PatchKind::kCount)));
  const double cx = rng.uniform(0.0, img.w);
  const double cy = rng.uniform(0.0, img.h);
  const double rx = rng.uniform(min_r, max_r);
  const double ry = kind == PatchKind::kRing ? rx : rx * rng.uniform(0.35, 1.0);
  const double angle = rng.uniform(0.0, kPi);
  const double ca = std::cos(angle);
  const double sa = std::sin(angle);
  const Rgb col = random_colour(rng);
  const Rgb col2 = contrasting_colour(col, rng);
  const float opacity = static_cast<float>(rng.uniform(0.7, 1.0));
  const double period = rng.uniform(2.5, std::max(3.0, rx / 2.0));
  double tri[3][2];
  for (int i = 0; i < 3; ++i) {
    const double a = 2.0 * kPi * i / 3.0 + rng.uniform(-0.5, 0.5);
    const double rho = rng.uniform(0.6, 1.0);
    tri[i][0] = rx * rho * std::cos(a);
    tri[i][1] = ry * rho * std::sin(a);
  }
  const double inner = rx * rng.uniform(0.4, 0.8);
  const int reach = static_cast<int>(std::ceil(std::hypot(rx, ry))) + 1;
  const int x_lo = static_cast<int>(std::floor(cx)) - reach;
  const int y_lo = static_cast<int>(std::floor(cy)) - reach;
  for (int yy = y_lo; yy <= y_lo + 2 * reach; ++yy) {
    int py = yy;
    if (periodic) {
      py = ((yy % img.h) + img.h) % img.h;
    } else if (yy < 0 || yy >= img.h) {
      continue;
    }
    for (int xx = x_lo; xx <= x_lo + 2 * reach; ++xx) {
      int px = xx;
      if (periodic) {
        px = ((xx % img.w) + img.w) % img.w;
      } else if (xx < 0 || xx >= img.w) {
        continue;
      }
      const double dx = xx - cx;
      const double dy = yy - cy;
      const double lx = ca * dx + sa * dy;
      const double ly = -sa * dx + ca * dy;
      bool inside = false;
      bool second = false;  // use col2 instead of col
      switch (kind) {
        case PatchKind::kEllipse:
          inside = (lx * lx) / (rx * rx) + (ly * ly) / (ry * ry) <= 1.0;
          break;
        case PatchKind::kRectangle:
          inside = std::fabs(lx) <= rx && std::fabs(ly) <= ry;
          break;
        case PatchKind::kTriangle: {
          int positive = 0;
          for (int i = 0; i < 3; ++i) {
            const double* p = tri[i];
            const double* q = tri[(i + 1) % 3];
            const double cross = (q[0] - p[0]) * (ly - p[1]) - (q[1] - p[1]) * (lx - p[0]);
            positive += cross >= 0.0 ? 1 : 0;
          }
          inside = positive == 3 || positive == 0;
          break;
        }
        case PatchKind::kStripes:
          inside = std::fabs(lx) <= rx && std::fabs(ly) <= ry;
          second = (static_cast<long>(std::floor(lx / period)) & 1) != 0;
          break;
        case PatchKind::kChecker:
          inside = std::fabs(lx) <= rx && std::fabs(ly) <= ry;
          second = ((static_cast<long>(std::floor(lx / period)) +
                     static_cast<long>(std::floor(ly / period))) &
                    1) != 0;
          break;
        case PatchKind::kRing: {
          const double r2 = lx * lx + ly * ly;
          inside = r2 <= rx * rx && r2 >= inner * inner;
          break;
        }
        case PatchKind::kCount:
          break;
      }
      if (!inside) continue;
      const Rgb& c = second ? col2 : col;
      float* dst = img.at(px, py);
      for (int ch = 0; ch < 3; ++ch) dst[ch] += opacity * (c[ch] - dst[ch]);
    }
  }
}

std::vector<std::uint8_t> to_rgba(const FloatImage& img, const std::vector<std::uint8_t>* alpha) {
  std::vector<std::uint8_t> out(static_cast<std::size_t>(img.w) * img.h * 4);
  const std::size_t n = static_cast<std::size_t>(img.w) * img.h;
  for (std::size_t i = 0; i < n; ++i) {
    for (int c = 0; c < 3; ++c) out[4 * i + c] = quantize(img.px[3 * i + c]);
    out[4 * i + 3] = alpha != nullptr ? (*alpha)[i] : 255;
  }
  return out;
}

// A layer whose texture is `img`: an object under `alpha`, or a periodic background without.
SynthLayer texture_layer(const FloatImage& img, const std::vector<std::uint8_t>* alpha) {
  SynthLayer layer;
  layer.tex_width = img.w;
  layer.tex_height = img.h;
  layer.periodic = alpha == nullptr;
  layer.rgba = to_rgba(img, alpha);
  return layer;
}

}  // namespace

// The periodic background texture: colour gradients, multi-octave value noise and many patches.
SynthLayer make_background_texture(int width, int height, Rng& rng) {
  int size = 64;
  while (size < 2 * std::max(width, height)) size *= 2;
  FloatImage img(size, size);
  fill(img, random_colour(rng));
  add_value_noise(img, std::max(1, size / 4), 70.0f, true, rng);
  add_gradients(img, 3, 35.0f, rng);
  const int octaves[] = {64, 32, 16, 8, 4};
  const float amps[] = {45.0f, 35.0f, 30.0f, 26.0f, 22.0f};
  for (int i = 0; i < 5; ++i) add_value_noise(img, std::min(octaves[i], size), amps[i], true, rng);
  const int patches = size * size / 2500;
  const double max_r = std::max(6.0, size / 12.0);
  for (int i = 0; i < patches; ++i) draw_random_patch(img, true, 2.5, max_r, rng);
  add_value_noise(img, 2, 12.0f, true, rng);
  return texture_layer(img, nullptr);
}

namespace {

enum class MaskKind { kRectangle, kEllipse, kPolygon, kCount };

// Distance from (px, py) to segment a-b.
double segment_distance(double px, double py, const Vec2& a, const Vec2& b) {
  const double ex = b.x - a.x;
  const double ey = b.y - a.y;
  const double len2 = ex * ex + ey * ey;
  double s = len2 > 0.0 ? ((px - a.x) * ex + (py - a.y) * ey) / len2 : 0.0;
  s = std::max(0.0, std::min(1.0, s));
  return std::hypot(px - (a.x + s * ex), py - (a.y + s * ey));
}

// Shape mask of an object texture: alpha = clamp(0.5 - signed distance in texels, 0, 1) * 255,
// the shape inset by kMaskMargin texels so the texture border is transparent.
std::vector<std::uint8_t> make_mask(int tw, int th, Rng& rng) {
  const auto kind = static_cast<MaskKind>(rng.below(static_cast<int>(MaskKind::kCount)));
  const double cx = 0.5 * (tw - 1);
  const double cy = 0.5 * (th - 1);
  const double hx = cx - kMaskMargin;
  const double hy = cy - kMaskMargin;
  const double corner = rng.chance(0.5) ? rng.uniform(0.0, 0.35) * std::min(hx, hy) : 0.0;
  std::vector<Vec2> poly;
  if (kind == MaskKind::kPolygon) {
    const int n = rng.range(3, 8);
    const double rot = rng.uniform(0.0, 2.0 * kPi);
    for (int i = 0; i < n; ++i) {
      const double a = rot + 2.0 * kPi * (i + rng.uniform(-0.3, 0.3)) / n;
      const double rho = rng.uniform(0.55, 1.0);
      // Clamp to the inset box so the margin stays transparent.
      poly.push_back({cx + std::max(-hx, std::min(hx, hx * rho * std::cos(a) * 1.2)),
                      cy + std::max(-hy, std::min(hy, hy * rho * std::sin(a) * 1.2))});
    }
  }
  std::vector<std::uint8_t> alpha(static_cast<std::size_t>(tw) * th);
  for (int y = 0; y < th; ++y) {
    for (int x = 0; x < tw; ++x) {
      const double px = x - cx;
      const double py = y - cy;
      double sd = 0.0;  // negative inside
      switch (kind) {
        case MaskKind::kRectangle: {
          const double qx = std::fabs(px) - (hx - corner);
          const double qy = std::fabs(py) - (hy - corner);
          sd = std::hypot(std::max(qx, 0.0), std::max(qy, 0.0)) + std::min(std::max(qx, qy), 0.0) -
               corner;
          break;
        }
        case MaskKind::kEllipse: {
          const double k = std::hypot(px / hx, py / hy);
          sd = (k - 1.0) * std::min(hx, hy);
          break;
        }
        case MaskKind::kPolygon:
        case MaskKind::kCount: {
          double dist = 1e300;
          bool inside = false;
          const std::size_t n = poly.size();
          for (std::size_t i = 0, j = n - 1; i < n; j = i++) {
            const Vec2& a = poly[i];
            const Vec2& b = poly[j];
            dist = std::min(dist, segment_distance(x, y, a, b));
            if ((a.y > y) != (b.y > y) && x < (b.x - a.x) * (y - a.y) / (b.y - a.y) + a.x) {
              inside = !inside;
            }
          }
          sd = inside ? -dist : dist;
          break;
        }
      }
      const double a = std::max(0.0, std::min(1.0, 0.5 - sd));
      alpha[static_cast<std::size_t>(y) * tw + x] =
          static_cast<std::uint8_t>(static_cast<int>(a * 255.0 + 0.5));
    }
  }
  return alpha;
}

enum class ObjectPattern { kChecker, kStripes, kNoise, kBlobs, kCount };

}  // namespace

// An object's texture (a random pattern plus fine noise) and shape mask; no transforms yet.
SynthLayer make_object_texture(int tw, int th, Rng& rng) {
  FloatImage img(tw, th);
  const Rgb base = random_colour(rng);
  const Rgb other = contrasting_colour(base, rng);
  fill(img, base);
  const auto pattern =
      static_cast<ObjectPattern>(rng.below(static_cast<int>(ObjectPattern::kCount)));
  const double angle = rng.uniform(0.0, kPi);
  const double ca = std::cos(angle);
  const double sa = std::sin(angle);
  switch (pattern) {
    case ObjectPattern::kChecker:
    case ObjectPattern::kStripes: {
      const double period = rng.uniform(3.0, std::max(4.0, std::min(tw, th) / 5.0));
      const Rgb third = random_colour(rng);
      const int colours = pattern == ObjectPattern::kStripes ? rng.range(2, 3) : 2;
      for (int y = 0; y < th; ++y) {
        for (int x = 0; x < tw; ++x) {
          const double lx = ca * x + sa * y;
          const double ly = -sa * x + ca * y;
          long idx = static_cast<long>(std::floor(lx / period));
          if (pattern == ObjectPattern::kChecker) idx += static_cast<long>(std::floor(ly / period));
          const long m = ((idx % colours) + colours) % colours;
          const Rgb& c = m == 0 ? base : (m == 1 ? other : third);
          float* dst = img.at(x, y);
          for (int ch = 0; ch < 3; ++ch) dst[ch] = c[ch];
        }
      }
      break;
    }
    case ObjectPattern::kNoise:
      add_value_noise(img, 16, 60.0f, false, rng);
      add_value_noise(img, 8, 45.0f, false, rng);
      break;
    case ObjectPattern::kBlobs:
    case ObjectPattern::kCount: {
      const int blobs = rng.range(8, 25);
      const double max_r = std::max(3.0, std::min(tw, th) / 5.0);
      for (int i = 0; i < blobs; ++i) draw_random_patch(img, false, 1.5, max_r, rng);
      break;
    }
  }
  const int extra = rng.range(0, 4);
  const double max_r = std::max(3.0, std::min(tw, th) / 6.0);
  for (int i = 0; i < extra; ++i) draw_random_patch(img, false, 1.5, max_r, rng);
  add_value_noise(img, 8, 14.0f, false, rng);
  add_value_noise(img, 4, 12.0f, false, rng);
  const std::vector<std::uint8_t> alpha = make_mask(tw, th, rng);
  return texture_layer(img, &alpha);
}

// ---- photographic textures ----------------------------------------------------------------------

namespace {

// Bilinear RGB sample of `photo` at (x, y) (pixel centres at integers), clamped to the edges.
inline void photo_bilinear(const Photo& photo, double x, double y, float* out) {
  x = std::max(0.0, std::min(x, photo.width - 1.0));
  y = std::max(0.0, std::min(y, photo.height - 1.0));
  const int x0 = std::min(static_cast<int>(x), photo.width - 2);
  const int y0 = std::min(static_cast<int>(y), photo.height - 2);
  const float fx = static_cast<float>(x - x0);
  const float fy = static_cast<float>(y - y0);
  const std::uint8_t* p00 = photo.at(x0, y0);
  const std::uint8_t* p10 = p00 + 3;
  const std::uint8_t* p01 = photo.at(x0, y0 + 1);
  const std::uint8_t* p11 = p01 + 3;
  for (int c = 0; c < 3; ++c) {
    const float top = p00[c] + fx * (p10[c] - p00[c]);
    const float bottom = p01[c] + fx * (p11[c] - p01[c]);
    out[c] = top + fy * (bottom - top);
  }
}

// A w x h image resampled from the photo's axis-aligned box (x0, y0, box_w, box_h), optionally
// mirrored left-right. Downscaling averages k x k bilinear samples per texel (k up to 4) so
// photo detail does not alias.
FloatImage photo_crop(const Photo& photo, double x0, double y0, double box_w, double box_h, int w,
                      int h, bool mirror) {
  FloatImage img(w, h);
  const double sx = box_w / w;
  const double sy = box_h / h;
  const int k = std::max(1, std::min(4, static_cast<int>(std::ceil(std::max(sx, sy)))));
  float sample[3];
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      float acc[3] = {0.f, 0.f, 0.f};
      const int xm = mirror ? w - 1 - x : x;
      for (int j = 0; j < k; ++j) {
        for (int i = 0; i < k; ++i) {
          const double px = x0 + (xm + (i + 0.5) / k) * sx - 0.5;
          const double py = y0 + (y + (j + 0.5) / k) * sy - 0.5;
          photo_bilinear(photo, px, py, sample);
          for (int c = 0; c < 3; ++c) acc[c] += sample[c];
        }
      }
      float* dst = img.at(x, y);
      for (int c = 0; c < 3; ++c) dst[c] = acc[c] / static_cast<float>(k * k);
    }
  }
  return img;
}

// Per-channel gain (a mild colour cast) so repeated photos do not look identical.
void jitter_colour(FloatImage& img, Rng& rng) {
  const float g = static_cast<float>(rng.uniform(0.8, 1.2));
  const float cast[3] = {g * static_cast<float>(rng.uniform(0.92, 1.08)),
                         g * static_cast<float>(rng.uniform(0.92, 1.08)),
                         g * static_cast<float>(rng.uniform(0.92, 1.08))};
  for (std::size_t i = 0; i < img.px.size(); ++i) img.px[i] *= cast[i % 3];
}

}  // namespace

// A periodic size x size background: a random square crop of a photo fills one quadrant and is
// mirrored into the other three, so the tile repeats without seams.
SynthLayer make_photo_background(int width, int height, const PhotoBank& photos, Rng& rng) {
  int size = 64;
  while (size < 2 * std::max(width, height)) size *= 2;
  const Photo& photo = photos[static_cast<std::size_t>(rng.below(static_cast<int>(photos.size())))];
  const int half = size / 2;
  const double side = std::min(photo.width, photo.height) * rng.uniform(0.55, 1.0);
  const double x0 = rng.uniform(0.0, photo.width - side);
  const double y0 = rng.uniform(0.0, photo.height - side);
  FloatImage quad = photo_crop(photo, x0, y0, side, side, half, half, rng.chance(0.5));
  jitter_colour(quad, rng);
  FloatImage img(size, size);
  for (int y = 0; y < size; ++y) {
    const int qy = y < half ? y : size - 1 - y;
    for (int x = 0; x < size; ++x) {
      const int qx = x < half ? x : size - 1 - x;
      const float* src = quad.at(qx, qy);
      float* dst = img.at(x, y);
      for (int c = 0; c < 3; ++c) dst[c] = src[c];
    }
  }
  return texture_layer(img, nullptr);
}

// An object cut from a photo: a random box of the photo at a random zoom, under a random shape.
SynthLayer make_photo_object(int tw, int th, const PhotoBank& photos, Rng& rng) {
  const Photo& photo = photos[static_cast<std::size_t>(rng.below(static_cast<int>(photos.size())))];
  // Photo pixels per texel: from 0.5 (magnified) up to what still fits in the photo.
  const double fit =
      std::min(static_cast<double>(photo.width) / tw, static_cast<double>(photo.height) / th);
  const double lo = std::min(0.5, fit);
  const double zoom = std::exp(rng.uniform(std::log(lo), std::log(std::max(lo, fit))));
  const double box_w = std::min<double>(tw * zoom, photo.width);
  const double box_h = std::min<double>(th * zoom, photo.height);
  const double x0 = rng.uniform(0.0, photo.width - box_w);
  const double y0 = rng.uniform(0.0, photo.height - box_h);
  FloatImage img = photo_crop(photo, x0, y0, box_w, box_h, tw, th, rng.chance(0.5));
  jitter_colour(img, rng);
  const std::vector<std::uint8_t> alpha = make_mask(tw, th, rng);
  return texture_layer(img, &alpha);
}

}  // namespace synth_detail
}  // namespace cotrack
