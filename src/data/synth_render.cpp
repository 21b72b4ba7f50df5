// Rendering and ground truth of synthetic scenes: the one cover / colour test shared by the
// renderer and the tracks, compositing, blur, photometric changes and noise, point sampling and
// render_synth_clip().
#include "cotrack/synth.hpp"

#include <algorithm>
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

}  // namespace cotrack
