// Synthetic clips; see include/cotrack/synth.hpp for the contract and the conventions.
#include "cotrack/synth.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "cotrack/error.hpp"

namespace cotrack {
namespace {

namespace fs = std::filesystem;

constexpr double kPi = 3.14159265358979323846;
constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ULL;
// Alpha (0..255 units) from which a layer covers a point.
constexpr float kCoverAlpha = 127.5f;
// Texels of transparent border around every object shape.
constexpr int kMaskMargin = 2;
constexpr int kMaxObjects = 64;
constexpr int kGaussianTableBits = 12;

// Random streams of build_synth_scene(); object k uses kStreamObject + 2k and + 2k + 1.
enum Stream : std::uint64_t {
  kStreamScene = 0,
  kStreamBackground = 1,
  kStreamCamera = 2,
  kStreamPhotometric = 3,
  kStreamNoise = 4,
  kStreamPoints = 5,
  kStreamObject = 16,
};

// ---- random numbers ---------------------------------------------------------------------------

std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
  return mix64(mix64(seed ^ 0x5EED5EED5EED5EEDULL) + kGolden * (stream + 1));
}

// splitmix64 stream.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next_u64() {
    state_ += kGolden;
    return mix64(state_);
  }
  // Uniform in [0, 1), 53 bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n), n >= 1.
  int below(int n) {
    return static_cast<int>(((next_u64() >> 32) * static_cast<std::uint64_t>(n)) >> 32);
  }
  // Uniform integer in [lo, hi].
  int range(int lo, int hi) { return lo + below(hi - lo + 1); }
  bool chance(double p) { return uniform() < p; }

 private:
  std::uint64_t state_;
};

// Acklam's rational approximation of the standard normal quantile, |rel. error| < 1.2e-9.
double inverse_normal_cdf(double p) {
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  constexpr double kLow = 0.02425;
  auto tail = [&](double q) {
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  };
  if (p < kLow) return tail(std::sqrt(-2.0 * std::log(p)));
  if (p > 1.0 - kLow) return -tail(std::sqrt(-2.0 * std::log(1.0 - p)));
  const double q = p - 0.5;
  const double r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
}

// 2^kGaussianTableBits standard-normal quantiles at (i + 0.5) / size, rescaled to unit variance.
const std::vector<float>& gaussian_table() {
  static const std::vector<float> table = [] {
    const int size = 1 << kGaussianTableBits;
    std::vector<double> q(size);
    double sum_sq = 0.0;
    for (int i = 0; i < size; ++i) {
      q[i] = inverse_normal_cdf((i + 0.5) / size);
      sum_sq += q[i] * q[i];
    }
    const double norm = 1.0 / std::sqrt(sum_sq / size);
    std::vector<float> out(size);
    for (int i = 0; i < size; ++i) out[i] = static_cast<float>(q[i] * norm);
    return out;
  }();
  return table;
}

// ---- small geometry ---------------------------------------------------------------------------

struct Vec2 {
  double x = 0.0;
  double y = 0.0;
};

Homography make_homography(double a, double b, double c, double d, double e, double f, double g,
                           double h, double i) {
  return Homography{a, b, c, d, e, f, g, h, i};
}

Homography rotation_scale(double angle, double scale) {
  const double c = std::cos(angle) * scale;
  const double s = std::sin(angle) * scale;
  return make_homography(c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0);
}

// Perspective about the origin: (x, y) -> (x, y) / (1 + gx x + gy y).
Homography perspective(double gx, double gy) {
  return make_homography(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, gx, gy, 1.0);
}

bool is_power_of_two(int n) { return n > 0 && (n & (n - 1)) == 0; }

// ---- sampling: the one cover / colour test shared by the renderer and the ground truth ---------

// Bilinear interpolation of four RGBA texels: top = p00 + fx (p10 - p00), bottom likewise,
// out = top + fy (bottom - top), per channel in float. The SSE2 and the portable paths do the
// same operations in the same order (exact at fx = fy = 0).
inline void bilerp_rgba(const std::uint8_t* p00, const std::uint8_t* p10, const std::uint8_t* p01,
                        const std::uint8_t* p11, float fx, float fy, float out[4]) {
#if defined(__SSE2__)
  const __m128i zero = _mm_setzero_si128();
  auto load = [zero](const std::uint8_t* p) {
    std::int32_t bits;
    std::memcpy(&bits, p, sizeof(bits));
    const __m128i bytes = _mm_cvtsi32_si128(bits);
    return _mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_unpacklo_epi8(bytes, zero), zero));
  };
  const __m128 a = load(p00);
  const __m128 b = load(p10);
  const __m128 c = load(p01);
  const __m128 d = load(p11);
  const __m128 vfx = _mm_set1_ps(fx);
  const __m128 top = _mm_add_ps(a, _mm_mul_ps(vfx, _mm_sub_ps(b, a)));
  const __m128 bottom = _mm_add_ps(c, _mm_mul_ps(vfx, _mm_sub_ps(d, c)));
  _mm_storeu_ps(out, _mm_add_ps(top, _mm_mul_ps(_mm_set1_ps(fy), _mm_sub_ps(bottom, top))));
#else
  for (int ch = 0; ch < 4; ++ch) {
    const float a = p00[ch];
    const float c = p01[ch];
    const float top = a + fx * (static_cast<float>(p10[ch]) - a);
    const float bottom = c + fx * (static_cast<float>(p11[ch]) - c);
    out[ch] = top + fy * (bottom - top);
  }
#endif
}

// Bilinear RGBA sample (0..255 units) of `layer` at image point (x, y), mapped through `inv`
// (image -> texture). Returns false when the point maps outside a non-periodic texture. A
// periodic layer wraps and reports alpha 255.
inline bool sample_layer(const SynthLayer& layer, const Homography& inv, double x, double y,
                         float rgba[4]) {
  double u = inv[0] * x + inv[1] * y + inv[2];
  double v = inv[3] * x + inv[4] * y + inv[5];
  // Affine maps skip the division (dividing by exactly 1 would not change u or v).
  if (inv[6] != 0.0 || inv[7] != 0.0 || inv[8] != 1.0) {
    const double den = inv[6] * x + inv[7] * y + inv[8];
    if (!(std::fabs(den) > 1e-12)) return false;
    u /= den;
    v /= den;
  }
  const int tw = layer.tex_width;
  const int th = layer.tex_height;
  int x0;
  int y0;
  int x1;
  int y1;
  float fx;
  float fy;
  if (layer.periodic) {
    constexpr double kLimit = 4.0e15;  // beyond this a double has no fractional part left
    if (!(std::fabs(u) < kLimit && std::fabs(v) < kLimit)) return false;
    std::int64_t iu = static_cast<std::int64_t>(u);
    std::int64_t iv = static_cast<std::int64_t>(v);
    if (static_cast<double>(iu) > u) --iu;
    if (static_cast<double>(iv) > v) --iv;
    fx = static_cast<float>(u - static_cast<double>(iu));
    fy = static_cast<float>(v - static_cast<double>(iv));
    x0 = static_cast<int>(iu & (tw - 1));
    y0 = static_cast<int>(iv & (th - 1));
    x1 = (x0 + 1) & (tw - 1);
    y1 = (y0 + 1) & (th - 1);
  } else {
    if (!(u >= 0.0 && u <= tw - 1 && v >= 0.0 && v <= th - 1)) return false;
    x0 = std::min(static_cast<int>(u), tw - 2);
    y0 = std::min(static_cast<int>(v), th - 2);
    fx = static_cast<float>(u - x0);
    fy = static_cast<float>(v - y0);
    x1 = x0 + 1;
    y1 = y0 + 1;
  }
  const std::uint8_t* tex = layer.rgba.data();
  bilerp_rgba(tex + (static_cast<std::size_t>(y0) * tw + x0) * 4,
              tex + (static_cast<std::size_t>(y0) * tw + x1) * 4,
              tex + (static_cast<std::size_t>(y1) * tw + x0) * 4,
              tex + (static_cast<std::size_t>(y1) * tw + x1) * 4, fx, fy, rgba);
  if (layer.periodic) rgba[3] = 255.0f;
  return true;
}

inline bool layer_covers(const SynthLayer& layer, const Homography& inv, double x, double y) {
  if (layer.periodic) return true;
  float rgba[4];
  return sample_layer(layer, inv, x, y, rgba) && rgba[3] >= kCoverAlpha;
}

// Inverse transforms of every layer at every frame, [T][L].
std::vector<Homography> all_inverses(const SynthScene& scene) {
  const std::size_t num_layers = scene.layers.size();
  std::vector<Homography> inv(static_cast<std::size_t>(scene.frames) * num_layers);
  for (int t = 0; t < scene.frames; ++t) {
    for (std::size_t k = 0; k < num_layers; ++k) {
      inv[t * num_layers + k] = homography_inverse(scene.layers[k].transform[t]);
    }
  }
  return inv;
}

int top_layer(const SynthScene& scene, const Homography* frame_inverses, double x, double y) {
  for (int k = static_cast<int>(scene.layers.size()) - 1; k >= 0; --k) {
    if (layer_covers(scene.layers[k], frame_inverses[k], x, y)) return k;
  }
  return -1;
}

struct TrackSample {
  float x = 0.0f;
  float y = 0.0f;
  bool visible = false;
};

// The ground truth of `p` at frame t (see the header): float position and visibility.
TrackSample track_sample(const SynthScene& scene, const Homography* frame_inverses,
                         const SynthPoint& p, int t) {
  const auto xy = homography_apply(scene.layers[p.layer].transform[t], p.u, p.v);
  TrackSample s;
  s.x = static_cast<float>(xy[0]);
  s.y = static_cast<float>(xy[1]);
  const bool inside = s.x >= 0.0f && s.x <= static_cast<float>(scene.width - 1) && s.y >= 0.0f &&
                      s.y <= static_cast<float>(scene.height - 1);
  if (!inside) return s;
  for (int k = static_cast<int>(scene.layers.size()) - 1; k > p.layer; --k) {
    if (layer_covers(scene.layers[k], frame_inverses[k], s.x, s.y)) return s;
  }
  s.visible = true;
  return s;
}

// Inclusive pixel box of a layer at one frame; empty when x0 > x1 or y0 > y1.
struct PixelBox {
  int x0 = 0;
  int y0 = 0;
  int x1 = -1;
  int y1 = -1;
};

// Conservative box of the pixels a layer may cover (the whole image for a periodic layer).
PixelBox layer_box(const SynthScene& scene, const SynthLayer& layer, int t) {
  PixelBox full{0, 0, scene.width - 1, scene.height - 1};
  if (layer.periodic) return full;
  const Homography& h = layer.transform[t];
  double min_x = 1e300;
  double min_y = 1e300;
  double max_x = -1e300;
  double max_y = -1e300;
  const double corners[4][2] = {{0.0, 0.0},
                                {layer.tex_width - 1.0, 0.0},
                                {0.0, layer.tex_height - 1.0},
                                {layer.tex_width - 1.0, layer.tex_height - 1.0}};
  for (const auto& c : corners) {
    const double w = h[6] * c[0] + h[7] * c[1] + h[8];
    // A corner at or behind the horizon: the image of the texture is unbounded.
    if (!(w > 1e-9)) return full;
    const double x = (h[0] * c[0] + h[1] * c[1] + h[2]) / w;
    const double y = (h[3] * c[0] + h[4] * c[1] + h[5]) / w;
    min_x = std::min(min_x, x);
    max_x = std::max(max_x, x);
    min_y = std::min(min_y, y);
    max_y = std::max(max_y, y);
  }
  auto clamp_coord = [](double v, int hi) {
    return static_cast<int>(std::max(-1.0, std::min(static_cast<double>(hi) + 1.0, v)));
  };
  PixelBox box;
  box.x0 = std::max(0, clamp_coord(std::floor(min_x) - 1.0, scene.width));
  box.y0 = std::max(0, clamp_coord(std::floor(min_y) - 1.0, scene.height));
  box.x1 = std::min(scene.width - 1, clamp_coord(std::ceil(max_x) + 1.0, scene.width));
  box.y1 = std::min(scene.height - 1, clamp_coord(std::ceil(max_y) + 1.0, scene.height));
  return box;
}

// ---- rendering --------------------------------------------------------------------------------

struct LayerFrame {
  const SynthLayer* layer = nullptr;
  const Homography* inv = nullptr;
  PixelBox box;
};

// Composites the layers front to back into `out` ([H][W][3] floats, 0..255 units).
void composite_frame(const SynthScene& scene, const std::vector<LayerFrame>& layers, float* out) {
  const int width = scene.width;
  std::vector<const LayerFrame*> active;
  active.reserve(layers.size());
  for (int y = 0; y < scene.height; ++y) {
    active.clear();
    for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
      if (it->box.x0 <= it->box.x1 && it->box.y0 <= y && y <= it->box.y1) active.push_back(&*it);
    }
    float* row = out + static_cast<std::size_t>(y) * width * 3;
    for (int x = 0; x < width; ++x) {
      float r = 0.0f;
      float g = 0.0f;
      float b = 0.0f;
      float transmit = 1.0f;
      for (const LayerFrame* lf : active) {
        if (x < lf->box.x0 || x > lf->box.x1) continue;
        float s[4];
        if (!sample_layer(*lf->layer, *lf->inv, x, y, s) || !(s[3] > 0.0f)) continue;
        // An opaque texel takes all that is left, exactly (no rounding of 255 / 255).
        const float w = s[3] >= 255.0f ? transmit : transmit * (s[3] * (1.0f / 255.0f));
        r += w * s[0];
        g += w * s[1];
        b += w * s[2];
        transmit -= w;
        if (!(transmit > 0.0f)) break;
      }
      row[3 * x] = r;
      row[3 * x + 1] = g;
      row[3 * x + 2] = b;
    }
  }
}

// Separable [1 2 1] / 4 blur of an [H][W][3] image in place; `tmp` is scratch.
void blur_121(std::vector<float>& img, std::vector<float>& tmp, int width, int height) {
  tmp.resize(img.size());
  const std::size_t stride = static_cast<std::size_t>(width) * 3;
  for (int y = 0; y < height; ++y) {
    const float* src = img.data() + y * stride;
    float* dst = tmp.data() + y * stride;
    for (int x = 0; x < width; ++x) {
      const int xl = std::max(x - 1, 0);
      const int xr = std::min(x + 1, width - 1);
      for (int c = 0; c < 3; ++c) {
        dst[3 * x + c] = 0.25f * (src[3 * xl + c] + 2.0f * src[3 * x + c] + src[3 * xr + c]);
      }
    }
  }
  for (int y = 0; y < height; ++y) {
    const float* up = tmp.data() + std::max(y - 1, 0) * stride;
    const float* mid = tmp.data() + y * stride;
    const float* down = tmp.data() + std::min(y + 1, height - 1) * stride;
    float* dst = img.data() + y * stride;
    for (std::size_t i = 0; i < stride; ++i) dst[i] = 0.25f * (up[i] + 2.0f * mid[i] + down[i]);
  }
}

// Rounds to the nearest integer in [0, 255] (NaN gives 0).
inline std::uint8_t quantize(float v) {
  if (!(v > 0.0f)) return 0;
  if (v >= 255.0f) return 255;
  return static_cast<std::uint8_t>(static_cast<int>(v + 0.5f));
}

// Blur, gain / bias, noise and quantisation of frame t (see SynthScene).
void finish_frame(const SynthScene& scene, int t, std::vector<float>& img, std::vector<float>& tmp,
                  std::uint8_t* out) {
  if (scene.blur) blur_121(img, tmp, scene.width, scene.height);
  const float gain = scene.gain[t];
  const float bias = scene.bias[t];
  const std::size_t pixels = static_cast<std::size_t>(scene.width) * scene.height;
  if (scene.noise_sigma > 0.0f) {
    const std::vector<float>& table = gaussian_table();
    const std::uint64_t key = derive_seed(scene.noise_seed, static_cast<std::uint64_t>(t));
    const float sigma = scene.noise_sigma;
    constexpr std::uint64_t kMask = (1u << kGaussianTableBits) - 1;
    for (std::size_t i = 0; i < pixels; ++i) {
      const std::uint64_t h = mix64(key + kGolden * i);
      for (int c = 0; c < 3; ++c) {
        const float n = table[(h >> (kGaussianTableBits * c)) & kMask];
        out[3 * i + c] = quantize(gain * img[3 * i + c] + bias + sigma * n);
      }
    }
  } else {
    for (std::size_t i = 0; i < 3 * pixels; ++i) out[i] = quantize(gain * img[i] + bias);
  }
}

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

// ---- motion -----------------------------------------------------------------------------------

// Positions at frames 0..T-1 with piecewise-linear velocity: keyframes every 6..20 frames hold a
// random velocity of norm <= max_speed, interpolated in between, so |p[t+1] - p[t]| <= max_speed.
// When `steer`, a keyframe reached outside [0, W] x [0, H] points back towards the image centre
// (objects leave and re-enter).
std::vector<Vec2> random_trajectory(Vec2 start, int frames, double max_speed, bool steer,
                                    double width, double height, Rng& rng) {
  auto pick = [&](const Vec2& p) {
    const double speed = max_speed * rng.uniform();
    double angle = rng.uniform(0.0, 2.0 * kPi);
    const bool outside = p.x < 0.0 || p.x > width || p.y < 0.0 || p.y > height;
    if (steer && outside) {
      angle = std::atan2(0.5 * height - p.y, 0.5 * width - p.x) + rng.uniform(-0.6, 0.6);
    }
    return Vec2{speed * std::cos(angle), speed * std::sin(angle)};
  };
  std::vector<Vec2> pos(static_cast<std::size_t>(frames));
  pos[0] = start;
  int key = 0;
  int interval = rng.range(6, 20);
  Vec2 v0 = pick(start);
  Vec2 v1 = pick(start);
  for (int t = 0; t + 1 < frames; ++t) {
    if (t >= key + interval) {
      key += interval;
      interval = rng.range(6, 20);
      v0 = v1;
      v1 = pick(pos[t]);
    }
    const double f = (t + 0.5 - key) / interval;
    pos[t + 1] = {pos[t].x + v0.x + f * (v1.x - v0.x), pos[t].y + v0.y + f * (v1.y - v0.y)};
  }
  return pos;
}

// A smooth bounded oscillation amp * sin(freq * t + phase), with random freq and phase.
struct Wave {
  double amp = 0.0;
  double freq = 0.0;
  double phase = 0.0;
  Wave() = default;
  Wave(double amplitude, Rng& rng)
      : amp(amplitude), freq(rng.uniform(0.03, 0.2)), phase(rng.uniform(0.0, 2.0 * kPi)) {}
  double at(int t) const { return amp * std::sin(freq * t + phase); }
};

struct MotionSwitches {
  bool rotation = false;
  bool scale = false;
  bool perspective = false;
};

MotionSwitches motion_switches(const SynthParams& p) {
  MotionSwitches m;
  m.rotation = p.rotation && p.motion != SynthMotion::kTranslation;
  m.scale = p.scale && p.motion != SynthMotion::kTranslation;
  m.perspective = p.perspective && p.motion == SynthMotion::kFull;
  return m;
}

Vec2 maybe_round(const Vec2& v, bool round) {
  return round ? Vec2{std::nearbyint(v.x), std::nearbyint(v.y)} : v;
}

// Camera: H(t) = T(centre) * R(theta_t) * S(zoom_t) * T(-p_t), p_t the background point seen at
// the image centre.
void set_camera_motion(const SynthParams& params, SynthLayer& bg, Rng& rng) {
  const MotionSwitches sw = motion_switches(params);
  const Vec2 centre =
      params.integer_motion
          ? Vec2{static_cast<double>(params.width / 2), static_cast<double>(params.height / 2)}
          : Vec2{0.5 * (params.width - 1), 0.5 * (params.height - 1)};
  const Vec2 start{rng.uniform(0.0, bg.tex_width), rng.uniform(0.0, bg.tex_height)};
  const double speed = params.max_speed_px * rng.uniform(0.2, 1.0);
  const std::vector<Vec2> path = random_trajectory(
      start, params.frames, params.camera_motion ? speed : 0.0, false, 0.0, 0.0, rng);
  const Wave spin(rng.uniform(0.0, 0.12), rng);
  const Wave zoom(rng.uniform(0.0, 0.15), rng);
  bg.transform.resize(params.frames);
  for (int t = 0; t < params.frames; ++t) {
    const double theta = params.camera_motion && sw.rotation ? spin.at(t) - spin.at(0) : 0.0;
    const double s = params.camera_motion && sw.scale ? std::exp(zoom.at(t) - zoom.at(0)) : 1.0;
    const Vec2 p = maybe_round(path[t], params.integer_motion);
    bg.transform[t] = homography_multiply(
        homography_translation(centre.x, centre.y),
        homography_multiply(rotation_scale(theta, s), homography_translation(-p.x, -p.y)));
  }
}

// Object: H(t) = T(c_t) * R(theta_t) * S(s_t) * P(g_t) * T(-anchor), anchor = texture centre.
void set_object_motion(const SynthParams& params, SynthLayer& obj, Rng& rng) {
  const MotionSwitches sw = motion_switches(params);
  const bool identity_pose = params.integer_motion && params.motion == SynthMotion::kTranslation;
  const double theta0 = identity_pose ? 0.0 : rng.uniform(-kPi, kPi);
  const double scale0 = identity_pose ? 1.0 : std::exp(rng.uniform(-0.25, 0.25));
  const Vec2 start{rng.uniform(0.1, 0.9) * params.width, rng.uniform(0.1, 0.9) * params.height};
  const double speed = params.max_speed_px * rng.uniform(0.2, 1.0);
  const std::vector<Vec2> path =
      random_trajectory(start, params.frames, speed, true, params.width, params.height, rng);
  const double spin_rate = rng.uniform(-0.04, 0.04);  // radians per frame
  const Wave wobble(rng.uniform(0.0, 0.3), rng);
  const Wave breathe(rng.uniform(0.0, 0.25), rng);
  // Perspective coefficients in units of 1 / half-size: |g . (u - anchor)| <= 0.35.
  const double half_w = 0.5 * obj.tex_width;
  const double half_h = 0.5 * obj.tex_height;
  const double tilt_x0 = rng.uniform(-0.12, 0.12);
  const double tilt_y0 = rng.uniform(-0.12, 0.12);
  const Wave tilt_x(rng.uniform(0.0, 0.05), rng);
  const Wave tilt_y(rng.uniform(0.0, 0.05), rng);
  const Vec2 anchor{std::floor(half_w), std::floor(half_h)};
  obj.transform.resize(params.frames);
  for (int t = 0; t < params.frames; ++t) {
    const double theta = theta0 + (sw.rotation ? spin_rate * t + wobble.at(t) - wobble.at(0) : 0.0);
    const double s = scale0 * (sw.scale ? std::exp(breathe.at(t) - breathe.at(0)) : 1.0);
    const double gx = sw.perspective ? (tilt_x0 + tilt_x.at(t)) / half_w : 0.0;
    const double gy = sw.perspective ? (tilt_y0 + tilt_y.at(t)) / half_h : 0.0;
    const Vec2 c = maybe_round(path[t], params.integer_motion);
    Homography h =
        homography_multiply(perspective(gx, gy), homography_translation(-anchor.x, -anchor.y));
    h = homography_multiply(rotation_scale(theta, s), h);
    obj.transform[t] = homography_multiply(homography_translation(c.x, c.y), h);
  }
}

// ---- clip files -------------------------------------------------------------------------------

std::string frame_path(const fs::path& dir, int t) {
  return (dir / "frames" / fmt::format("{:06d}.ppm", t)).string();
}

void write_file(const std::string& path, const char* data, std::size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    throw Error(ExitCode::kRuntime, fmt::format("{}: cannot open for writing", path));
  }
  const bool ok = std::fwrite(data, 1, size, f) == size;
  if (std::fclose(f) != 0 || !ok) {
    throw Error(ExitCode::kRuntime, fmt::format("{}: write failed", path));
  }
}

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open", path));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw InputError(fmt::format("{}: read error", path));
  return data;
}

struct PpmImage {
  int width = 0;
  int height = 0;
  std::string_view pixels;  // into the file data, width * height * 3 bytes
};

// Parses a binary PPM (P6, maxval 255) held in `data`.
PpmImage parse_ppm(const std::string& path, const std::string& data) {
  std::size_t pos = 0;
  auto skip_space = [&] {
    while (pos < data.size()) {
      const char c = data[pos];
      if (c == '#') {
        while (pos < data.size() && data[pos] != '\n') ++pos;
      } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos;
      } else {
        break;
      }
    }
  };
  auto read_int = [&](const char* what) {
    skip_space();
    int value = 0;
    const auto res = std::from_chars(data.data() + pos, data.data() + data.size(), value);
    if (res.ec != std::errc() || value <= 0) {
      throw InputError(
          fmt::format("{}: bad PPM header ({} is not a positive integer)", path, what));
    }
    pos = static_cast<std::size_t>(res.ptr - data.data());
    return value;
  };
  if (data.size() < 2 || data[0] != 'P' || data[1] != '6') {
    throw InputError(fmt::format("{}: not a binary PPM (expected magic 'P6')", path));
  }
  pos = 2;
  PpmImage img;
  img.width = read_int("width");
  img.height = read_int("height");
  const int maxval = read_int("maxval");
  if (maxval != 255) {
    throw InputError(fmt::format("{}: PPM maxval {} unsupported (expected 255)", path, maxval));
  }
  if (pos >= data.size() || !std::isspace(static_cast<unsigned char>(data[pos]))) {
    throw InputError(fmt::format("{}: bad PPM header (no whitespace after maxval)", path));
  }
  ++pos;
  const std::size_t expected = static_cast<std::size_t>(img.width) * img.height * 3;
  if (data.size() - pos != expected) {
    throw InputError(fmt::format("{}: PPM {}x{} needs {} pixel bytes, file has {}", path, img.width,
                                 img.height, expected, data.size() - pos));
  }
  img.pixels = std::string_view(data).substr(pos);
  return img;
}

// Line-by-line CSV reader with a fixed header; rows are split on ','.
class CsvReader {
 public:
  CsvReader(std::string path, const std::string& header) : path_(std::move(path)), in_(path_) {
    if (!in_) throw InputError(fmt::format("{}: cannot open", path_));
    std::string line;
    if (!next_line(line)) throw InputError(fmt::format("{}: empty file (no header)", path_));
    if (line != header) {
      throw InputError(
          fmt::format("{}:{}: expected header '{}', got '{}'", path_, line_, header, line));
    }
  }

  // Next non-empty row, split into fields; false at the end of the file.
  bool next(std::vector<std::string_view>& fields) {
    while (next_line(current_)) {
      if (current_.empty()) continue;
      fields.clear();
      std::size_t start = 0;
      while (true) {
        const std::size_t comma = current_.find(',', start);
        fields.emplace_back(std::string_view(current_).substr(start, comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      return true;
    }
    if (in_.bad()) throw InputError(fmt::format("{}: read error", path_));
    return false;
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw InputError(fmt::format("{}:{}: {}", path_, line_, why));
  }

  long long parse_int(std::string_view s, const char* what) const {
    long long v = 0;
    const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || res.ec != std::errc() || res.ptr != s.data() + s.size()) {
      fail(fmt::format("{} '{}' is not an integer", what, s));
    }
    return v;
  }

  double parse_float(std::string_view s, const char* what) const {
    double v = 0.0;
    const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || res.ec != std::errc() || res.ptr != s.data() + s.size() || !std::isfinite(v)) {
      fail(fmt::format("{} '{}' is not a finite number", what, s));
    }
    return v;
  }

  const std::string& path() const { return path_; }
  int line() const { return line_; }

 private:
  bool next_line(std::string& line) {
    if (!std::getline(in_, line)) return false;
    ++line_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
  }

  std::string path_;
  std::ifstream in_;
  std::string current_;
  int line_ = 0;
};

}  // namespace

// ---- public API -------------------------------------------------------------------------------

SynthMotion parse_synth_motion(const std::string& name) {
  if (name == "translation") return SynthMotion::kTranslation;
  if (name == "affine") return SynthMotion::kAffine;
  if (name == "full") return SynthMotion::kFull;
  throw UsageError(
      fmt::format("synth motion '{}' unknown (expected 'translation', 'affine' or 'full')", name));
}

const char* to_string(SynthMotion motion) {
  switch (motion) {
    case SynthMotion::kTranslation:
      return "translation";
    case SynthMotion::kAffine:
      return "affine";
    case SynthMotion::kFull:
      return "full";
  }
  return "?";
}

void SynthParams::validate() const {
  auto check_int = [](const char* name, long long v, long long lo, long long hi) {
    if (v < lo || v > hi) {
      throw UsageError(fmt::format("synth {} = {} out of range [{}, {}]", name, v, lo, hi));
    }
  };
  auto check_real = [](const char* name, double v, double lo, double hi) {
    if (!(v >= lo && v <= hi)) {
      throw UsageError(fmt::format("synth {} = {} out of range [{}, {}]", name, v, lo, hi));
    }
  };
  check_int("width", width, 8, 8192);
  check_int("height", height, 8, 8192);
  check_int("frames", frames, 1, 100000);
  check_int("min_objects", min_objects, 0, kMaxObjects);
  check_int("max_objects", max_objects, min_objects, kMaxObjects);
  check_int("num_points", num_points, 0, 1000000);
  check_real("query_first_fraction", query_first_fraction, 0.0, 1.0);
  check_real("max_speed_px", max_speed_px, 0.0, std::max(width, height));
  check_real("noise_sigma", noise_sigma, 0.0, 64.0);
  check_real("photo_object_fraction", photo_object_fraction, 0.0, 1.0);
  if (motion != SynthMotion::kTranslation && motion != SynthMotion::kAffine &&
      motion != SynthMotion::kFull) {
    throw UsageError("synth motion has an invalid value");
  }
}

void SynthClip::validate_shapes() const {
  if (width <= 0 || height <= 0 || frames <= 0 || num_points < 0) {
    throw InputError(fmt::format("synth clip: bad dimensions {}x{}, {} frames, {} points", width,
                                 height, frames, num_points));
  }
  const std::size_t tn = static_cast<std::size_t>(frames) * num_points;
  auto check = [](const char* name, std::size_t actual, std::size_t expected) {
    if (actual != expected) {
      throw InputError(
          fmt::format("synth clip: {} has {} values, expected {}", name, actual, expected));
    }
  };
  check("rgb", rgb.size(), frame_size() * frames);
  check("tracks", tracks.size(), 2 * tn);
  check("visible", visible.size(), tn);
  check("query_frame", query_frame.size(), static_cast<std::size_t>(num_points));
  check("layer", layer.size(), static_cast<std::size_t>(num_points));
  if (!annotated.empty()) check("annotated", annotated.size(), tn);
  for (int n = 0; n < num_points; ++n) {
    if (query_frame[n] < 0 || query_frame[n] >= frames) {
      throw InputError(fmt::format("synth clip: point {} has query frame {} outside [0, {})", n,
                                   query_frame[n], frames));
    }
    if (!is_annotated(query_frame[n], n)) {
      throw InputError(fmt::format("synth clip: point {} has no ground truth at its query frame {}",
                                   n, query_frame[n]));
    }
  }
}

Homography homography_identity() { return make_homography(1, 0, 0, 0, 1, 0, 0, 0, 1); }

Homography homography_translation(double dx, double dy) {
  return make_homography(1, 0, dx, 0, 1, dy, 0, 0, 1);
}

Homography homography_multiply(const Homography& a, const Homography& b) {
  Homography out{};
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) {
      out[3 * r + c] = a[3 * r] * b[c] + a[3 * r + 1] * b[3 + c] + a[3 * r + 2] * b[6 + c];
    }
  }
  return out;
}

Homography homography_inverse(const Homography& h) {
  const Homography adj = {
      h[4] * h[8] - h[5] * h[7], h[2] * h[7] - h[1] * h[8], h[1] * h[5] - h[2] * h[4],
      h[5] * h[6] - h[3] * h[8], h[0] * h[8] - h[2] * h[6], h[2] * h[3] - h[0] * h[5],
      h[3] * h[7] - h[4] * h[6], h[1] * h[6] - h[0] * h[7], h[0] * h[4] - h[1] * h[3]};
  const double det = h[0] * adj[0] + h[1] * adj[3] + h[2] * adj[6];
  double scale = 0.0;
  for (double v : h) scale = std::max(scale, std::fabs(v));
  if (!(std::fabs(det) > 1e-12 * scale * scale * scale) || !std::isfinite(det)) {
    throw UsageError("homography is singular");
  }
  if (det == 1.0) return adj;
  Homography inv;
  for (int i = 0; i < 9; ++i) inv[i] = adj[i] / det;
  return inv;
}

std::array<double, 2> homography_apply(const Homography& h, double x, double y) {
  const double w = h[6] * x + h[7] * y + h[8];
  return {(h[0] * x + h[1] * y + h[2]) / w, (h[3] * x + h[4] * y + h[5]) / w};
}

void SynthScene::validate() const {
  if (width < 2 || height < 2 || frames < 1) {
    throw UsageError(
        fmt::format("synth scene: bad size {}x{} with {} frames", width, height, frames));
  }
  if (layers.empty() || !layers[0].periodic) {
    throw UsageError("synth scene: layer 0 must exist and be periodic (the background)");
  }
  for (std::size_t k = 0; k < layers.size(); ++k) {
    const SynthLayer& l = layers[k];
    if (l.tex_width < 2 || l.tex_height < 2 || l.tex_width > (1 << 20) ||
        l.tex_height > (1 << 20)) {
      throw UsageError(fmt::format("synth scene: layer {} texture {}x{} (need >= 2x2)", k,
                                   l.tex_width, l.tex_height));
    }
    if (l.periodic && (!is_power_of_two(l.tex_width) || !is_power_of_two(l.tex_height))) {
      throw UsageError(
          fmt::format("synth scene: periodic layer {} texture {}x{} is not a power of two", k,
                      l.tex_width, l.tex_height));
    }
    const std::size_t texels = static_cast<std::size_t>(l.tex_width) * l.tex_height;
    if (l.rgba.size() != texels * 4) {
      throw UsageError(fmt::format("synth scene: layer {} has {} texture bytes, expected {}", k,
                                   l.rgba.size(), texels * 4));
    }
    if (l.transform.size() != static_cast<std::size_t>(frames)) {
      throw UsageError(fmt::format("synth scene: layer {} has {} transforms, expected {}", k,
                                   l.transform.size(), frames));
    }
    for (const Homography& h : l.transform) {
      for (double v : h) {
        if (!std::isfinite(v)) {
          throw UsageError(fmt::format("synth scene: layer {} has a non-finite transform", k));
        }
      }
    }
  }
  if (gain.size() != static_cast<std::size_t>(frames) ||
      bias.size() != static_cast<std::size_t>(frames)) {
    throw UsageError(fmt::format("synth scene: gain / bias have {} / {} values, expected {}",
                                 gain.size(), bias.size(), frames));
  }
  for (int t = 0; t < frames; ++t) {
    if (!std::isfinite(gain[t]) || !std::isfinite(bias[t])) {
      throw UsageError(fmt::format("synth scene: gain / bias of frame {} not finite", t));
    }
  }
  if (!(noise_sigma >= 0.0f && noise_sigma <= 1000.0f)) {
    throw UsageError(fmt::format("synth scene: noise_sigma {} out of range", noise_sigma));
  }
}

SynthScene build_synth_scene(const SynthParams& params, std::uint64_t seed) {
  params.validate();
  SynthScene scene;
  scene.width = params.width;
  scene.height = params.height;
  scene.frames = params.frames;

  Rng scene_rng(derive_seed(seed, kStreamScene));
  const int num_objects = scene_rng.range(params.min_objects, params.max_objects);
  const bool blur = scene_rng.chance(0.5);

  Rng bg_rng(derive_seed(seed, kStreamBackground));
  const PhotoBank* photos = params.photos.get();
  scene.layers.push_back(photos != nullptr
                             ? make_photo_background(params.width, params.height, *photos, bg_rng)
                             : make_background_texture(params.width, params.height, bg_rng));
  Rng camera_rng(derive_seed(seed, kStreamCamera));
  set_camera_motion(params, scene.layers[0], camera_rng);

  const int min_side = std::min(params.width, params.height);
  for (int k = 0; k < num_objects; ++k) {
    Rng tex_rng(derive_seed(seed, kStreamObject + 2 * k));
    Rng motion_rng(derive_seed(seed, kStreamObject + 2 * k + 1));
    const double side = tex_rng.uniform(0.15, 0.45) * min_side;
    const double aspect = std::exp(tex_rng.uniform(-0.5, 0.5));
    const int tw = std::max(8, static_cast<int>(std::lround(side * std::sqrt(aspect))));
    const int th = std::max(8, static_cast<int>(std::lround(side / std::sqrt(aspect))));
    if (photos != nullptr && tex_rng.chance(params.photo_object_fraction)) {
      scene.layers.push_back(make_photo_object(tw, th, *photos, tex_rng));
    } else {
      scene.layers.push_back(make_object_texture(tw, th, tex_rng));
    }
    set_object_motion(params, scene.layers.back(), motion_rng);
  }

  Rng photo_rng(derive_seed(seed, kStreamPhotometric));
  const double gain0 = photo_rng.uniform(0.85, 1.15);
  const double bias0 = photo_rng.uniform(-10.0, 10.0);
  const Wave gain_wave(photo_rng.uniform(0.0, 0.12), photo_rng);
  const Wave bias_wave(photo_rng.uniform(0.0, 10.0), photo_rng);
  scene.gain.resize(params.frames);
  scene.bias.resize(params.frames);
  for (int t = 0; t < params.frames; ++t) {
    scene.gain[t] =
        params.brightness_change ? static_cast<float>(gain0 * (1.0 + gain_wave.at(t))) : 1.0f;
    scene.bias[t] = params.brightness_change ? static_cast<float>(bias0 + bias_wave.at(t)) : 0.0f;
  }
  scene.noise_sigma = params.noise ? static_cast<float>(params.noise_sigma) : 0.0f;
  scene.blur = params.blur && blur;
  scene.noise_seed = derive_seed(seed, kStreamNoise);
  return scene;
}

int synth_top_layer(const SynthScene& scene, int frame, double x, double y) {
  if (frame < 0 || frame >= scene.frames) {
    throw UsageError(fmt::format("synth_top_layer: frame {} outside [0, {})", frame, scene.frames));
  }
  for (int k = static_cast<int>(scene.layers.size()) - 1; k >= 0; --k) {
    const SynthLayer& layer = scene.layers[k];
    if (layer_covers(layer, homography_inverse(layer.transform[frame]), x, y)) return k;
  }
  return -1;
}

std::vector<SynthPoint> sample_synth_points(const SynthScene& scene, int num_points,
                                            double first_fraction, std::uint64_t seed) {
  scene.validate();
  if (num_points < 0) throw UsageError(fmt::format("synth num_points {} < 0", num_points));
  if (!(first_fraction >= 0.0 && first_fraction <= 1.0)) {
    throw UsageError(fmt::format("synth query_first_fraction {} outside [0, 1]", first_fraction));
  }
  const int num_layers = static_cast<int>(scene.layers.size());
  const std::vector<Homography> inv = all_inverses(scene);
  std::vector<PixelBox> boxes(static_cast<std::size_t>(scene.frames) * num_layers);
  for (int t = 0; t < scene.frames; ++t) {
    for (int k = 0; k < num_layers; ++k) {
      boxes[t * num_layers + k] = layer_box(scene, scene.layers[k], t);
    }
  }
  Rng rng(seed);
  auto pick_frame = [&] { return rng.chance(first_fraction) ? 0 : rng.below(scene.frames); };
  // Accepts the candidate when its layer is top-most at (x, y) and the track is visible there.
  auto try_point = [&](int layer, int q, double x, double y, SynthPoint& out) {
    const Homography* frame_inv = inv.data() + static_cast<std::size_t>(q) * num_layers;
    if (layer < 0 || top_layer(scene, frame_inv, x, y) != layer) return false;
    const auto uv = homography_apply(frame_inv[layer], x, y);
    const SynthPoint p{layer, q, uv[0], uv[1]};
    if (!track_sample(scene, frame_inv, p, q).visible) return false;
    out = p;
    return true;
  };
  constexpr int kTriesPerLayer = 64;
  constexpr int kFallbackTries = 100000;
  const double max_x = scene.width - 1.0;
  const double max_y = scene.height - 1.0;
  std::vector<SynthPoint> points;
  points.reserve(num_points);
  for (int i = 0; i < num_points; ++i) {
    const int target = num_layers == 1 || rng.chance(1.0 / 3.0) ? 0 : rng.range(1, num_layers - 1);
    SynthPoint p;
    bool found = false;
    for (int attempt = 0; attempt < kTriesPerLayer && !found; ++attempt) {
      const int q = pick_frame();
      const PixelBox& b = boxes[static_cast<std::size_t>(q) * num_layers + target];
      if (b.x0 > b.x1 || b.y0 > b.y1) continue;
      const double x = rng.uniform(std::max(0.0, b.x0 - 0.5), std::min(max_x, b.x1 + 0.5));
      const double y = rng.uniform(std::max(0.0, b.y0 - 0.5), std::min(max_y, b.y1 + 0.5));
      found = try_point(target, q, x, y, p);
    }
    for (int attempt = 0; attempt < kFallbackTries && !found; ++attempt) {
      const int q = pick_frame();
      const double x = rng.uniform(0.0, max_x);
      const double y = rng.uniform(0.0, max_y);
      const Homography* frame_inv = inv.data() + static_cast<std::size_t>(q) * num_layers;
      found = try_point(top_layer(scene, frame_inv, x, y), q, x, y, p);
    }
    if (!found) {
      throw Error(ExitCode::kRuntime, "synth: no visible location to sample a point from");
    }
    points.push_back(p);
  }
  return points;
}

SynthClip render_synth_clip(const SynthScene& scene, const std::vector<SynthPoint>& points) {
  scene.validate();
  const int num_layers = static_cast<int>(scene.layers.size());
  for (std::size_t n = 0; n < points.size(); ++n) {
    const SynthPoint& p = points[n];
    if (p.layer < 0 || p.layer >= num_layers || p.query_frame < 0 ||
        p.query_frame >= scene.frames || !std::isfinite(p.u) || !std::isfinite(p.v)) {
      throw UsageError(
          fmt::format("synth point {}: layer {} / query frame {} / (u, v) = ({}, {}) invalid", n,
                      p.layer, p.query_frame, p.u, p.v));
    }
  }
  SynthClip clip;
  clip.width = scene.width;
  clip.height = scene.height;
  clip.frames = scene.frames;
  clip.num_points = static_cast<int>(points.size());
  clip.rgb.resize(clip.frame_size() * clip.frames);
  clip.tracks.resize(2 * static_cast<std::size_t>(clip.frames) * clip.num_points);
  clip.visible.resize(static_cast<std::size_t>(clip.frames) * clip.num_points);
  clip.query_frame.resize(clip.num_points);
  clip.layer.resize(clip.num_points);
  for (int n = 0; n < clip.num_points; ++n) {
    clip.query_frame[n] = points[n].query_frame;
    clip.layer[n] = points[n].layer;
  }

  const std::vector<Homography> inv = all_inverses(scene);
  std::vector<float> img(static_cast<std::size_t>(scene.width) * scene.height * 3);
  std::vector<float> tmp;
  std::vector<LayerFrame> layer_frames(num_layers);
  for (int t = 0; t < scene.frames; ++t) {
    const Homography* frame_inv = inv.data() + static_cast<std::size_t>(t) * num_layers;
    for (int k = 0; k < num_layers; ++k) {
      layer_frames[k].layer = &scene.layers[k];
      layer_frames[k].inv = &frame_inv[k];
      layer_frames[k].box = layer_box(scene, scene.layers[k], t);
    }
    composite_frame(scene, layer_frames, img.data());
    finish_frame(scene, t, img, tmp, clip.frame(t));
    for (int n = 0; n < clip.num_points; ++n) {
      const TrackSample s = track_sample(scene, frame_inv, points[n], t);
      const std::size_t i = clip.index(t, n);
      clip.tracks[2 * i] = s.x;
      clip.tracks[2 * i + 1] = s.y;
      clip.visible[i] = s.visible ? 1 : 0;
    }
  }
  return clip;
}

SynthClip generate_clip(const SynthParams& params, std::uint64_t seed) {
  const SynthScene scene = build_synth_scene(params, seed);
  const std::vector<SynthPoint> points = sample_synth_points(
      scene, params.num_points, params.query_first_fraction, derive_seed(seed, kStreamPoints));
  return render_synth_clip(scene, points);
}

void write_clip(const SynthClip& clip, const std::string& dir) {
  clip.validate_shapes();
  const fs::path root(dir);
  std::error_code ec;
  fs::create_directories(root / "frames", ec);
  if (ec) {
    throw Error(ExitCode::kRuntime, fmt::format("{}: cannot create directory: {}",
                                                (root / "frames").string(), ec.message()));
  }
  const std::string header = fmt::format("P6\n{} {}\n255\n", clip.width, clip.height);
  std::string data;
  for (int t = 0; t < clip.frames; ++t) {
    data.assign(header);
    data.append(reinterpret_cast<const char*>(clip.frame(t)), clip.frame_size());
    write_file(frame_path(root, t), data.data(), data.size());
  }
  // Frames left over from a longer clip would be read back as part of this one.
  for (int t = clip.frames;; ++t) {
    const std::string stale = frame_path(root, t);
    if (!fs::exists(stale, ec)) break;
    if (!fs::remove(stale, ec)) {
      throw Error(ExitCode::kRuntime, fmt::format("{}: cannot remove stale frame", stale));
    }
  }
  fmt::memory_buffer gt;
  fmt::format_to(std::back_inserter(gt), "point_id,frame,x,y,visible\n");
  for (int n = 0; n < clip.num_points; ++n) {
    for (int t = 0; t < clip.frames; ++t) {
      if (!clip.is_annotated(t, n)) continue;
      fmt::format_to(std::back_inserter(gt), "{},{},{:.4f},{:.4f},{}\n", n, t, clip.x(t, n),
                     clip.y(t, n), clip.is_visible(t, n) ? 1 : 0);
    }
  }
  write_file((root / "gt.csv").string(), gt.data(), gt.size());
  fmt::memory_buffer pts;
  fmt::format_to(std::back_inserter(pts), "point_id,frame,x,y\n");
  for (int n = 0; n < clip.num_points; ++n) {
    const int q = clip.query_frame[n];
    fmt::format_to(std::back_inserter(pts), "{},{},{:.4f},{:.4f}\n", n, q, clip.x(q, n),
                   clip.y(q, n));
  }
  write_file((root / "points.csv").string(), pts.data(), pts.size());
}

VideoFrames read_clip_frames(const std::string& dir) {
  const fs::path root(dir);
  VideoFrames video;
  std::error_code ec;
  for (int t = 0;; ++t) {
    const std::string path = frame_path(root, t);
    if (!fs::exists(path, ec)) {
      if (t == 0) throw InputError(fmt::format("{}: missing (a clip needs frame 0)", path));
      break;
    }
    const std::string data = read_whole_file(path);
    const PpmImage img = parse_ppm(path, data);
    if (t == 0) {
      video.width = img.width;
      video.height = img.height;
    } else if (img.width != video.width || img.height != video.height) {
      throw InputError(fmt::format("{}: frame is {}x{}, frame 0 is {}x{}", path, img.width,
                                   img.height, video.width, video.height));
    }
    video.rgb.insert(video.rgb.end(), img.pixels.begin(), img.pixels.end());
    video.count = t + 1;
  }
  return video;
}

SynthClip read_clip(const std::string& dir) { return read_clip(dir, read_clip_frames(dir)); }

SynthClip read_clip(const std::string& dir, const VideoFrames& video) {
  const fs::path root(dir);
  SynthClip clip;
  clip.width = video.width;
  clip.height = video.height;
  clip.frames = video.count;
  clip.rgb = video.rgb;
  if (clip.frames < 1 || clip.rgb.size() != clip.frame_size() * clip.frames) {
    throw InputError(fmt::format("{}: the clip has no frames", dir));
  }
  const int frames = clip.frames;

  struct Row {
    long long n;
    int t;
    float x;
    float y;
    bool visible;
    int line;
  };
  std::vector<Row> rows;
  std::vector<std::string_view> f;
  CsvReader gt((root / "gt.csv").string(), "point_id,frame,x,y,visible");
  long long max_id = -1;
  while (gt.next(f)) {
    if (f.size() != 5) {
      gt.fail(fmt::format("expected 5 fields (point_id,frame,x,y,visible), got {}", f.size()));
    }
    Row r;
    r.n = gt.parse_int(f[0], "point_id");
    const long long t = gt.parse_int(f[1], "frame");
    r.x = static_cast<float>(gt.parse_float(f[2], "x"));
    r.y = static_cast<float>(gt.parse_float(f[3], "y"));
    const long long vis = gt.parse_int(f[4], "visible");
    if (r.n < 0) gt.fail(fmt::format("point_id {} is negative", r.n));
    if (t < 0 || t >= frames) {
      gt.fail(fmt::format("frame {} outside [0, {}) (the clip has {} frames)", t, frames, frames));
    }
    if (vis != 0 && vis != 1) gt.fail(fmt::format("visible {} is not 0 or 1", vis));
    r.t = static_cast<int>(t);
    r.visible = vis == 1;
    r.line = gt.line();
    max_id = std::max(max_id, r.n);
    rows.push_back(r);
  }
  const long long num_points = max_id + 1;
  // Checked before allocating N x T: every point needs a row, so there are at most `rows` points,
  // and the dense [T][N] arrays must stay within reason for sparse files too.
  constexpr long long kMaxEntries = 1LL << 28;  // T x N
  if (num_points > static_cast<long long>(rows.size())) {
    throw InputError(
        fmt::format("{}: point_id {} implies {} points, but the file has only {} "
                    "rows (every point needs at least one)",
                    gt.path(), max_id, num_points, rows.size()));
  }
  if (num_points * frames > kMaxEntries) {
    throw InputError(fmt::format("{}: {} points x {} frames exceeds the limit of {} entries",
                                 gt.path(), num_points, frames, kMaxEntries));
  }
  clip.num_points = static_cast<int>(num_points);
  const std::size_t tn = static_cast<std::size_t>(num_points) * frames;
  clip.tracks.assign(2 * tn, 0.0f);
  clip.visible.assign(tn, 0);
  std::vector<int> seen_line(tn, 0);
  std::vector<int> first_line(static_cast<std::size_t>(num_points), 0);  // 0 = no row yet
  for (const Row& r : rows) {
    const std::size_t i = clip.index(r.t, static_cast<int>(r.n));
    if (seen_line[i] != 0) {
      throw InputError(fmt::format("{}:{}: duplicate row for point {} frame {} (first on line {})",
                                   gt.path(), r.line, r.n, r.t, seen_line[i]));
    }
    seen_line[i] = r.line;
    if (first_line[r.n] == 0) first_line[r.n] = r.line;
    clip.tracks[2 * i] = r.x;
    clip.tracks[2 * i + 1] = r.y;
    clip.visible[i] = r.visible ? 1 : 0;
  }
  for (int n = 0; n < clip.num_points; ++n) {
    if (first_line[n] == 0) {
      throw InputError(
          fmt::format("{}: no row for point {} (point ids must run from 0 to {} "
                      "without gaps)",
                      gt.path(), n, max_id));
    }
  }
  // Sparse ground truth: the (t, n) without a row are not annotated.
  if (rows.size() != tn) {
    clip.annotated.resize(tn);
    for (std::size_t i = 0; i < tn; ++i) clip.annotated[i] = seen_line[i] != 0 ? 1 : 0;
  }

  CsvReader pts((root / "points.csv").string(), "point_id,frame,x,y");
  clip.query_frame.assign(clip.num_points, -1);
  clip.layer.assign(clip.num_points, -1);
  while (pts.next(f)) {
    if (f.size() != 4) {
      pts.fail(fmt::format("expected 4 fields (point_id,frame,x,y), got {}", f.size()));
    }
    const long long n = pts.parse_int(f[0], "point_id");
    const long long t = pts.parse_int(f[1], "frame");
    pts.parse_float(f[2], "x");
    pts.parse_float(f[3], "y");
    if (n < 0 || n >= clip.num_points) {
      pts.fail(fmt::format("point_id {} not in gt.csv (which has points 0..{})", n,
                           clip.num_points - 1));
    }
    if (t < 0 || t >= frames) pts.fail(fmt::format("frame {} outside [0, {})", t, frames));
    if (clip.query_frame[n] >= 0) pts.fail(fmt::format("duplicate row for point {}", n));
    if (!clip.is_annotated(static_cast<int>(t), static_cast<int>(n))) {
      pts.fail(
          fmt::format("point {} is queried on frame {}, where gt.csv has no row for it", n, t));
    }
    clip.query_frame[n] = static_cast<int>(t);
  }
  for (int n = 0; n < clip.num_points; ++n) {
    if (clip.query_frame[n] < 0) {
      throw InputError(fmt::format("{}: no row for point {}", pts.path(), n));
    }
  }
  return clip;
}

}  // namespace cotrack
