// Rendering and ground truth of synthetic scenes: the one cover / colour test shared by the
// renderer and the tracks, compositing, blur, photometric changes and noise, point sampling and
// render_synth_clip().
#include "cotrack/synth.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "cotrack/error.hpp"
#include "data/synth_internal.hpp"

namespace cotrack {

using synth_detail::derive_seed;
using synth_detail::kGolden;
using synth_detail::mix64;
using synth_detail::quantize;
using synth_detail::Rng;

namespace {

// Alpha (0..255 units) from which a layer covers a point.
constexpr float kCoverAlpha = 127.5f;
constexpr int kGaussianTableBits = 12;

// ---- noise table ------------------------------------------------------------------------------

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

// One warp wave evaluated at one time (SynthWarpWave).
struct WarpTerm {
  double dir_x = 0.0;
  double dir_y = 0.0;
  double freq_x = 0.0;
  double freq_y = 0.0;
  double amp = 0.0;
  double phase = 0.0;
};

// A layer's image -> texture map at one time: the inverse transform, then the warp.
struct LayerMap {
  Homography inv{};
  int waves = 0;
  std::array<WarpTerm, kMaxSynthWarpWaves> warp{};
  double reach = 0.0;  // largest displacement of the warp, texels
};

// q + d(q): the texture point a deformed layer shows at pre-warp texture coordinate q.
inline void apply_warp(const LayerMap& m, double& u, double& v) {
  double du = 0.0;
  double dv = 0.0;
  for (int k = 0; k < m.waves; ++k) {
    const WarpTerm& w = m.warp[k];
    const double s = w.amp * std::sin(w.freq_x * u + w.freq_y * v + w.phase);
    du += s * w.dir_x;
    dv += s * w.dir_y;
  }
  u += du;
  v += dv;
}

// The pre-warp coordinate q with q + d(q) = (u, v): Newton's method (the warp's slope is below
// 0.9, so the map is invertible and its Jacobian I + Dd is too). (u, v) itself when rigid.
inline std::array<double, 2> unwarp(const LayerMap& m, double u, double v) {
  double x = u;
  double y = v;
  if (m.waves == 0) return {x, y};
  for (int iter = 0; iter < 50; ++iter) {
    double fx = x - u;
    double fy = y - v;
    double j00 = 1.0;
    double j01 = 0.0;
    double j10 = 0.0;
    double j11 = 1.0;
    for (int k = 0; k < m.waves; ++k) {
      const WarpTerm& w = m.warp[k];
      const double arg = w.freq_x * x + w.freq_y * y + w.phase;
      const double s = w.amp * std::sin(arg);
      const double c = w.amp * std::cos(arg);
      fx += s * w.dir_x;
      fy += s * w.dir_y;
      j00 += c * w.dir_x * w.freq_x;
      j01 += c * w.dir_x * w.freq_y;
      j10 += c * w.dir_y * w.freq_x;
      j11 += c * w.dir_y * w.freq_y;
    }
    const double det = j00 * j11 - j01 * j10;
    const double dx = (j11 * fx - j01 * fy) / det;
    const double dy = (j00 * fy - j10 * fx) / det;
    x -= dx;
    y -= dy;
    if (std::fabs(dx) + std::fabs(dy) < 1e-12) break;
  }
  return {x, y};
}

// Bilinear RGBA sample (0..255 units) of `layer` at image point (x, y), mapped through `map`
// (image -> texture). Returns false when the point maps outside a non-periodic texture. A
// periodic layer wraps and reports alpha 255.
inline bool sample_layer(const SynthLayer& layer, const LayerMap& map, double x, double y,
                         float rgba[4]) {
  const Homography& inv = map.inv;
  double u = inv[0] * x + inv[1] * y + inv[2];
  double v = inv[3] * x + inv[4] * y + inv[5];
  // Affine maps skip the division (dividing by exactly 1 would not change u or v).
  if (inv[6] != 0.0 || inv[7] != 0.0 || inv[8] != 1.0) {
    const double den = inv[6] * x + inv[7] * y + inv[8];
    if (!(std::fabs(den) > 1e-12)) return false;
    u /= den;
    v /= den;
  }
  apply_warp(map, u, v);
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

inline bool layer_covers(const SynthLayer& layer, const LayerMap& map, double x, double y) {
  if (layer.periodic) return true;
  float rgba[4];
  return sample_layer(layer, map, x, y, rgba) && rgba[3] >= kCoverAlpha;
}

// The texture point a layer shows at image point (x, y).
std::array<double, 2> to_texture(const LayerMap& map, double x, double y) {
  auto q = homography_apply(map.inv, x, y);
  apply_warp(map, q[0], q[1]);
  return q;
}

void set_warp(LayerMap& m, const SynthLayer& layer, int t0, double f) {
  m.waves = static_cast<int>(layer.warp.size());
  m.reach = 0.0;
  for (int k = 0; k < m.waves; ++k) {
    const SynthWarpWave& w = layer.warp[k];
    WarpTerm& term = m.warp[k];
    term.dir_x = w.dir_x;
    term.dir_y = w.dir_y;
    term.freq_x = w.freq_x;
    term.freq_y = w.freq_y;
    term.amp = f == 0.0 ? w.amp[t0] : w.amp[t0] + f * (w.amp[t0 + 1] - w.amp[t0]);
    term.phase = f == 0.0 ? w.phase[t0] : w.phase[t0] + f * (w.phase[t0 + 1] - w.phase[t0]);
    m.reach += std::fabs(term.amp);
  }
}

LayerMap layer_map(const SynthLayer& layer, int t) {
  LayerMap m;
  m.inv = homography_inverse(layer.transform[t]);
  set_warp(m, layer, t, 0.0);
  return m;
}

// A layer's transform at time s (frames; between frames linear in the matrix entries, beyond
// the ends extrapolated from the nearest two frames): the motion within an exposure.
Homography transform_at(const SynthLayer& layer, double s, int& t0, double& f) {
  const int frames = static_cast<int>(layer.transform.size());
  t0 = frames < 2 ? 0 : std::clamp(static_cast<int>(std::floor(s)), 0, frames - 2);
  f = frames < 2 ? 0.0 : s - t0;
  if (f == 0.0) return layer.transform[t0];
  const Homography& a = layer.transform[t0];
  const Homography& b = layer.transform[t0 + 1];
  Homography h;
  for (int i = 0; i < 9; ++i) h[i] = a[i] + f * (b[i] - a[i]);
  return h;
}

// The map of a layer at time s, and its transform there in `transform`.
LayerMap layer_map_at(const SynthLayer& layer, double s, Homography& transform) {
  int t0 = 0;
  double f = 0.0;
  transform = transform_at(layer, s, t0, f);
  LayerMap m;
  m.inv = homography_inverse(transform);
  set_warp(m, layer, t0, f);
  return m;
}

// Maps of every layer at every frame, [T][L].
std::vector<LayerMap> all_maps(const SynthScene& scene) {
  const std::size_t num_layers = scene.layers.size();
  std::vector<LayerMap> maps(static_cast<std::size_t>(scene.frames) * num_layers);
  for (int t = 0; t < scene.frames; ++t) {
    for (std::size_t k = 0; k < num_layers; ++k) {
      maps[t * num_layers + k] = layer_map(scene.layers[k], t);
    }
  }
  return maps;
}

int top_layer(const SynthScene& scene, const LayerMap* frame_maps, double x, double y) {
  for (int k = static_cast<int>(scene.layers.size()) - 1; k >= 0; --k) {
    if (layer_covers(scene.layers[k], frame_maps[k], x, y)) return k;
  }
  return -1;
}

struct TrackSample {
  float x = 0.0f;
  float y = 0.0f;
  bool visible = false;
};

// The ground truth of `p` at frame t (see the header): float position and visibility.
TrackSample track_sample(const SynthScene& scene, const LayerMap* frame_maps, const SynthPoint& p,
                         int t) {
  const auto q = unwarp(frame_maps[p.layer], p.u, p.v);
  const auto xy = homography_apply(scene.layers[p.layer].transform[t], q[0], q[1]);
  TrackSample s;
  s.x = static_cast<float>(xy[0]);
  s.y = static_cast<float>(xy[1]);
  const bool inside = s.x >= 0.0f && s.x <= static_cast<float>(scene.width - 1) && s.y >= 0.0f &&
                      s.y <= static_cast<float>(scene.height - 1);
  if (!inside) return s;
  for (int k = static_cast<int>(scene.layers.size()) - 1; k > p.layer; --k) {
    if (layer_covers(scene.layers[k], frame_maps[k], s.x, s.y)) return s;
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

// Conservative box of the pixels a layer may cover (the whole image for a periodic layer),
// under transform h and a warp that moves texture points by at most `reach` texels.
PixelBox layer_box(const SynthScene& scene, const SynthLayer& layer, const Homography& h,
                   double reach) {
  PixelBox full{0, 0, scene.width - 1, scene.height - 1};
  if (layer.periodic) return full;
  double min_x = 1e300;
  double min_y = 1e300;
  double max_x = -1e300;
  double max_y = -1e300;
  const double lo = -reach;
  const double hi_u = layer.tex_width - 1.0 + reach;
  const double hi_v = layer.tex_height - 1.0 + reach;
  const double corners[4][2] = {{lo, lo}, {hi_u, lo}, {lo, hi_v}, {hi_u, hi_v}};
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

// Renderings a motion-blurred frame t averages: enough that consecutive ones are at most about
// a pixel apart (the largest move of a layer's corners over the exposure), at most 8; 1 without
// motion blur.
int exposure_samples(const SynthScene& scene, int t) {
  if (!(scene.exposure > 0.0) || scene.frames < 2) return 1;
  constexpr int kMaxSamples = 8;
  constexpr double kStepPx = 1.0;
  const double s0 = t - 0.5 * scene.exposure;
  const double s1 = t + 0.5 * scene.exposure;
  double travel = 0.0;
  for (const SynthLayer& layer : scene.layers) {
    int t0 = 0;
    double f = 0.0;
    const Homography a = transform_at(layer, s0, t0, f);
    const Homography b = transform_at(layer, s1, t0, f);
    const double w = layer.periodic ? scene.width - 1.0 : layer.tex_width - 1.0;
    const double h = layer.periodic ? scene.height - 1.0 : layer.tex_height - 1.0;
    const Homography to_tex = layer.periodic ? homography_inverse(a) : homography_identity();
    for (const auto& c : {std::array<double, 2>{0.0, 0.0}, std::array<double, 2>{w, 0.0},
                          std::array<double, 2>{0.0, h}, std::array<double, 2>{w, h}}) {
      // A texture corner of an object, or the texture point at an image corner for the
      // background.
      const auto q = homography_apply(to_tex, c[0], c[1]);
      const auto pa = homography_apply(a, q[0], q[1]);
      const auto pb = homography_apply(b, q[0], q[1]);
      const double d = std::hypot(pb[0] - pa[0], pb[1] - pa[1]);
      if (std::isfinite(d)) travel = std::max(travel, d);
    }
  }
  return std::clamp(static_cast<int>(std::ceil(travel / kStepPx)) + 1, 2, kMaxSamples);
}

struct LayerFrame {
  const SynthLayer* layer = nullptr;
  const LayerMap* map = nullptr;
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
        if (!sample_layer(*lf->layer, *lf->map, x, y, s) || !(s[3] > 0.0f)) continue;
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

}  // namespace

// ---- public API -------------------------------------------------------------------------------

int synth_top_layer(const SynthScene& scene, int frame, double x, double y) {
  if (frame < 0 || frame >= scene.frames) {
    throw UsageError(fmt::format("synth_top_layer: frame {} outside [0, {})", frame, scene.frames));
  }
  for (int k = static_cast<int>(scene.layers.size()) - 1; k >= 0; --k) {
    const SynthLayer& layer = scene.layers[k];
    if (layer_covers(layer, layer_map(layer, frame), x, y)) return k;
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
  const std::vector<LayerMap> maps = all_maps(scene);
  std::vector<PixelBox> boxes(static_cast<std::size_t>(scene.frames) * num_layers);
  for (int t = 0; t < scene.frames; ++t) {
    for (int k = 0; k < num_layers; ++k) {
      boxes[t * num_layers + k] = layer_box(scene, scene.layers[k], scene.layers[k].transform[t],
                                            maps[t * num_layers + k].reach);
    }
  }
  Rng rng(seed);
  auto pick_frame = [&] { return rng.chance(first_fraction) ? 0 : rng.below(scene.frames); };
  // Accepts the candidate when its layer is top-most at (x, y) and the track is visible there.
  auto try_point = [&](int layer, int q, double x, double y, SynthPoint& out) {
    const LayerMap* frame_maps = maps.data() + static_cast<std::size_t>(q) * num_layers;
    if (layer < 0 || top_layer(scene, frame_maps, x, y) != layer) return false;
    const auto uv = to_texture(frame_maps[layer], x, y);
    const SynthPoint p{layer, q, uv[0], uv[1]};
    if (!track_sample(scene, frame_maps, p, q).visible) return false;
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
      const LayerMap* frame_maps = maps.data() + static_cast<std::size_t>(q) * num_layers;
      found = try_point(top_layer(scene, frame_maps, x, y), q, x, y, p);
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

  const std::vector<LayerMap> maps = all_maps(scene);
  std::vector<float> img(static_cast<std::size_t>(scene.width) * scene.height * 3);
  std::vector<float> tmp;
  std::vector<float> sum;
  std::vector<LayerFrame> layer_frames(num_layers);
  std::vector<LayerMap> sub_maps(num_layers);
  for (int t = 0; t < scene.frames; ++t) {
    const LayerMap* frame_maps = maps.data() + static_cast<std::size_t>(t) * num_layers;
    const int samples = exposure_samples(scene, t);
    if (samples == 1) {
      for (int k = 0; k < num_layers; ++k) {
        layer_frames[k].layer = &scene.layers[k];
        layer_frames[k].map = &frame_maps[k];
        layer_frames[k].box =
            layer_box(scene, scene.layers[k], scene.layers[k].transform[t], frame_maps[k].reach);
      }
      composite_frame(scene, layer_frames, img.data());
    } else {
      // Motion blur: the mean of renderings spread evenly over the exposure around t.
      sum.assign(img.size(), 0.0f);
      for (int j = 0; j < samples; ++j) {
        const double s = t + scene.exposure * ((j + 0.5) / samples - 0.5);
        for (int k = 0; k < num_layers; ++k) {
          Homography h;
          sub_maps[k] = layer_map_at(scene.layers[k], s, h);
          layer_frames[k].layer = &scene.layers[k];
          layer_frames[k].map = &sub_maps[k];
          layer_frames[k].box = layer_box(scene, scene.layers[k], h, sub_maps[k].reach);
        }
        composite_frame(scene, layer_frames, img.data());
        for (std::size_t i = 0; i < img.size(); ++i) sum[i] += img[i];
      }
      const float scale = 1.0f / static_cast<float>(samples);
      for (std::size_t i = 0; i < img.size(); ++i) img[i] = sum[i] * scale;
    }
    finish_frame(scene, t, img, tmp, clip.frame(t));
    for (int n = 0; n < clip.num_points; ++n) {
      const TrackSample s = track_sample(scene, frame_maps, points[n], t);
      const std::size_t i = clip.index(t, n);
      clip.tracks[2 * i] = s.x;
      clip.tracks[2 * i + 1] = s.y;
      clip.visible[i] = s.visible ? 1 : 0;
    }
  }
  return clip;
}

}  // namespace cotrack
