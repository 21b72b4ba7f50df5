// Kernels for the CPU where LibTorch 1.13's composition of ops is slow: each is one
// auto-vectorised pass (AVX-512 or AVX2, chosen at run time) and is checked against the ATen
// formulation in the unit tests. Some serve inference, some training (as autograd functions with
// their own gradients); other devices keep the ATen ops.
//
// gelu_tanh: ATen evaluates gelu(x, "tanh") through a slow vectorised tanh: 8.1 ms for 2048x1536
// floats on one core of the project machine, against 2.5 ms for the erf form, and 16.9 ms in bf16.
// For the official architecture that was about a sixth of the transformer's time. The same
// function is 0.5 x (1 + tanh(u)) = x * sigmoid(2u) = x / (1 + exp(-2u)) with
// u = sqrt(2/pi) (x + 0.044715 x^3), which needs one exp, done here with a polynomial.
//
// bilinear_mix: the correlation's last step, two at::lerp calls over broadcast weights plus a cast
// from bf16, about a quarter of the correlation's time.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "model/network.hpp"

namespace cotrack {
namespace {

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define COTRACK_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define COTRACK_VECTOR_CLONES
#endif

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kCubic = 0.044715f;

// exp(z) for z in [-87, 88]: z = n ln2 + r, |r| <= ln2/2, exp(r) by a degree-6 polynomial
// (Cephes' expf coefficients), 2^n put into the exponent bits. Relative error about 2e-7.
inline float exp_poly(float z) {
  z = std::min(std::max(z, -87.0f), 88.0f);
  // n = round(z / ln2): adding and taking away 1.5 * 2^23 rounds to an integer (|n| <= 127).
  constexpr float kRound = 12582912.0f;
  const float n = (z * 1.44269504088896341f + kRound) - kRound;
  float r = z - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

inline float gelu_tanh_one(float x) {
  const float u = kSqrt2OverPi * (x + kCubic * x * x * x);
  return x / (1.0f + exp_poly(-2.0f * u));
}

COTRACK_VECTOR_CLONES
void gelu_tanh_f32(const float* __restrict in, float* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gelu_tanh_one(in[i]);
}

// d gelu / dx = s + x * 2 s (1 - s) * sqrt(2/pi) (1 + 3 * 0.044715 x^2), s = sigmoid(2u).
inline float gelu_tanh_grad_one(float x, float g) {
  const float u = kSqrt2OverPi * (x + kCubic * x * x * x);
  const float s = 1.0f / (1.0f + exp_poly(-2.0f * u));
  const float du = kSqrt2OverPi * (1.0f + 3.0f * kCubic * x * x);
  return g * (s + 2.0f * x * s * (1.0f - s) * du);
}

COTRACK_VECTOR_CLONES
void gelu_tanh_grad_f32(const float* __restrict x, const float* __restrict g,
                        float* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gelu_tanh_grad_one(x[i], g[i]);
}

inline float bf16_to_f32(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Round to nearest even, as c10::BFloat16 does (the results here are never NaN).
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

COTRACK_VECTOR_CLONES
void gelu_tanh_bf16(const uint16_t* __restrict in, uint16_t* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = f32_to_bf16(gelu_tanh_one(bf16_to_f32(in[i])));
}

COTRACK_VECTOR_CLONES
void mix_rows(const float* g00, const float* g10, const float* g01, const float* g11, float fx,
              float fy, float* __restrict out, int64_t k) {
  // at::lerp's formula (the weight is the same for the whole row, so is the branch).
  for (int64_t i = 0; i < k; ++i) {
    const float a = fx < 0.5f ? g00[i] + fx * (g10[i] - g00[i]) : g10[i] - (g10[i] - g00[i]) * (1 - fx);
    const float b = fx < 0.5f ? g01[i] + fx * (g11[i] - g01[i]) : g11[i] - (g11[i] - g01[i]) * (1 - fx);
    out[i] = fy < 0.5f ? a + fy * (b - a) : b - (b - a) * (1 - fy);
  }
}

COTRACK_VECTOR_CLONES
void widen_bf16(const uint16_t* __restrict in, float* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(in[i]);
}

COTRACK_VECTOR_CLONES
void gelu_tanh_grad_bf16(const uint16_t* __restrict x, const uint16_t* __restrict g,
                         uint16_t* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    out[i] = f32_to_bf16(gelu_tanh_grad_one(bf16_to_f32(x[i]), bf16_to_f32(g[i])));
  }
}

bool vectorised_dtype(const at::Tensor& t) {
  return t.device().is_cpu() && (t.scalar_type() == at::kFloat || t.scalar_type() == at::kBFloat16);
}

// A tensor's values as floats or as bf16 bit patterns (uint16_t), for the loops above.
template <typename T>
T* raw(const at::Tensor& t) {
  return reinterpret_cast<T*>(t.data_ptr());
}

// fn(begin, count) over [0, n) in parallel chunks.
template <typename Fn>
void in_chunks(int64_t n, const Fn& fn) {
  at::parallel_for(0, n, 16384, [&](int64_t begin, int64_t end) { fn(begin, end - begin); });
}

at::Tensor gelu_tanh_forward(const at::Tensor& x) {
  const at::Tensor in = x.contiguous();
  at::Tensor out = at::empty_like(in);
  if (in.scalar_type() == at::kFloat) {
    in_chunks(in.numel(), [&](int64_t i, int64_t n) {
      gelu_tanh_f32(raw<float>(in) + i, raw<float>(out) + i, n);
    });
  } else {
    in_chunks(in.numel(), [&](int64_t i, int64_t n) {
      gelu_tanh_bf16(raw<uint16_t>(in) + i, raw<uint16_t>(out) + i, n);
    });
  }
  return out;
}

// grad_out * gelu'(x), in x's dtype (grad_out is cast to it when autograd hands another).
at::Tensor gelu_tanh_backward(const at::Tensor& grad_out, const at::Tensor& x) {
  const at::Tensor in = x.contiguous();
  const at::Tensor g = grad_out.to(in.scalar_type()).contiguous();
  at::Tensor out = at::empty_like(in);
  if (in.scalar_type() == at::kFloat) {
    in_chunks(in.numel(), [&](int64_t i, int64_t n) {
      gelu_tanh_grad_f32(raw<float>(in) + i, raw<float>(g) + i, raw<float>(out) + i, n);
    });
  } else {
    in_chunks(in.numel(), [&](int64_t i, int64_t n) {
      gelu_tanh_grad_bf16(raw<uint16_t>(in) + i, raw<uint16_t>(g) + i, raw<uint16_t>(out) + i, n);
    });
  }
  return out;
}

// Training: the same kernels as an autograd function (ATen's bf16 GELU and its gradient take
// 5.8 and 8.6 ns a value on one core; these, under 1).
class GeluTanhFunction : public torch::autograd::Function<GeluTanhFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    ctx->save_for_backward({x});
    return gelu_tanh_forward(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const at::Tensor x = ctx->get_saved_variables()[0];
    return {gelu_tanh_backward(grads[0], x).view(x.sizes())};
  }
};

// Instance norm of a channels-last map, viewed as N images of P = H*W rows of C values: the
// statistics are per image and channel. The loops below run over `n` contiguous values whose
// per-channel operands repeat with period L (a multiple of C): the caller takes L rows' worth of
// values at once (L = K * C, a multiple of 16), so the inner loop vectorises without tails even
// for C = 24 or 36. `relu` fuses the ReLU that follows most norms in the encoder, in the
// gradient too.
template <typename T>
inline float load(const T* p, int64_t i) {
  if constexpr (std::is_same_v<T, float>) {
    return p[i];
  } else {
    return bf16_to_f32(p[i]);
  }
}

template <typename T>
inline void store(T* p, int64_t i, float v) {
  if constexpr (std::is_same_v<T, float>) {
    p[i] = v;
  } else {
    p[i] = f32_to_bf16(v);
  }
}

// sum[j] += x - shift[j], sq[j] += (x - shift[j])^2, j = position in the period.
template <typename T>
inline void norm_stats(const T* __restrict x, int64_t n, int64_t L, const float* __restrict shift,
                       float* __restrict sum, float* __restrict sq) {
  for (int64_t i = 0; i < n; i += L) {
    for (int64_t j = 0; j < L; ++j) {
      const float v = load(x, i + j) - shift[j];
      sum[j] += v;
      sq[j] += v * v;
    }
  }
}

template <typename T>
inline void norm_apply(const T* __restrict x, int64_t n, int64_t L, const float* __restrict mean,
                       const float* __restrict rstd, bool relu, T* __restrict y) {
  const float floor = relu ? 0.0f : -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; i += L) {
    for (int64_t j = 0; j < L; ++j) {
      store(y, i + j, std::max((load(x, i + j) - mean[j]) * rstd[j], floor));
    }
  }
}

// With z = relu ? g * (xhat > 0) : g: sg[j] += z, sgx[j] += z * xhat.
template <typename T>
inline void norm_grad_stats(const T* __restrict x, const T* __restrict g, int64_t n, int64_t L,
                            const float* __restrict mean, const float* __restrict rstd, bool relu,
                            float* __restrict sg, float* __restrict sgx) {
  const float floor = relu ? 0.0f : -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; i += L) {
    for (int64_t j = 0; j < L; ++j) {
      const float xhat = (load(x, i + j) - mean[j]) * rstd[j];
      const float z = xhat > floor ? load(g, i + j) : 0.0f;
      sg[j] += z;
      sgx[j] += z * xhat;
    }
  }
}

// dx = rstd * (z - mean(z) - xhat * mean(z * xhat)); a = mean(z), b = mean(z * xhat).
template <typename T>
inline void norm_grad_apply(const T* __restrict x, const T* __restrict g, int64_t n, int64_t L,
                            const float* __restrict mean, const float* __restrict rstd, bool relu,
                            const float* __restrict a, const float* __restrict b, T* __restrict dx) {
  const float floor = relu ? 0.0f : -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; i += L) {
    for (int64_t j = 0; j < L; ++j) {
      const float xhat = (load(x, i + j) - mean[j]) * rstd[j];
      const float z = xhat > floor ? load(g, i + j) : 0.0f;
      store(dx, i + j, rstd[j] * (z - a[j] - xhat * b[j]));
    }
  }
}

// The vectorised instances, one overload per element type (templates cannot carry
// target_clones).
#define COTRACK_NORM_KERNELS(T)                                                                  \
  COTRACK_VECTOR_CLONES void stats_values(const T* x, int64_t n, int64_t L, const float* shift,  \
                                          float* sum, float* sq) {                               \
    norm_stats(x, n, L, shift, sum, sq);                                                         \
  }                                                                                              \
  COTRACK_VECTOR_CLONES void apply_values(const T* x, int64_t n, int64_t L, const float* mean,   \
                                          const float* rstd, bool relu, T* y) {                  \
    norm_apply(x, n, L, mean, rstd, relu, y);                                                    \
  }                                                                                              \
  COTRACK_VECTOR_CLONES void grad_stats_values(const T* x, const T* g, int64_t n, int64_t L,     \
                                               const float* mean, const float* rstd, bool relu,  \
                                               float* sg, float* sgx) {                          \
    norm_grad_stats(x, g, n, L, mean, rstd, relu, sg, sgx);                                      \
  }                                                                                              \
  COTRACK_VECTOR_CLONES void grad_apply_values(const T* x, const T* g, int64_t n, int64_t L,     \
                                               const float* mean, const float* rstd, bool relu,  \
                                               const float* a, const float* b, T* dx) {          \
    norm_grad_apply(x, g, n, L, mean, rstd, relu, a, b, dx);                                     \
  }
COTRACK_NORM_KERNELS(float)
COTRACK_NORM_KERNELS(uint16_t)
#undef COTRACK_NORM_KERNELS

// Rows are summed in float over blocks of this many rows; the blocks' sums are added in double
// and in order, so the results do not depend on the number of threads.
constexpr int64_t kNormBlock = 64;

// Rows per period: the smallest power of two K with K * C a multiple of 16 (AVX-512's floats)
// and at least 128 values, at most kNormBlock rows.
int64_t rows_per_period(int64_t C) {
  int64_t K = 1;
  while (K < kNormBlock && ((K * C) % 16 != 0 || K * C < 128)) K *= 2;
  return K;
}

// `per_channel` (C values) repeated K times.
void repeat_period(const float* per_channel, int64_t C, int64_t K, float* out) {
  for (int64_t k = 0; k < K; ++k) std::copy(per_channel, per_channel + C, out + k * C);
}

// fn(n, first row, rows, block index) for every block of every image, in parallel.
template <typename Fn>
void over_blocks(int64_t N, int64_t P, const Fn& fn) {
  const int64_t blocks = (P + kNormBlock - 1) / kNormBlock;
  at::parallel_for(0, N * blocks, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t n = i / blocks, r = (i % blocks) * kNormBlock;
      fn(n, r, std::min(kNormBlock, P - r), i);
    }
  });
}

// A block's two per-period sums, folded to C channels into out[0, C) and out[C, 2C).
void fold_period(const float* first, const float* second, int64_t C, int64_t K, float* out) {
  for (int64_t c = 0; c < C; ++c) {
    float u = 0.0f, v = 0.0f;
    for (int64_t k = 0; k < K; ++k) {
      u += first[k * C + c];
      v += second[k * C + c];
    }
    out[c] = u;
    out[C + c] = v;
  }
}

// part holds two C-vectors per block (2 * N * blocks * C floats); first[n * C + c] (and second)
// become their sums over image n's blocks, in double.
void sum_blocks(const std::vector<float>& part, int64_t N, int64_t P, int64_t C,
                std::vector<double>& first, std::vector<double>& second) {
  const int64_t blocks = (P + kNormBlock - 1) / kNormBlock;
  first.assign(N * C, 0.0);
  second.assign(N * C, 0.0);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t b = 0; b < blocks; ++b) {
      const float* s = part.data() + 2 * (n * blocks + b) * C;
      for (int64_t c = 0; c < C; ++c) {
        first[n * C + c] += s[c];
        second[n * C + c] += s[C + c];
      }
    }
  }
}

constexpr double kInstanceNormEps = 1e-5;

// y = norm(x) (and ReLU); mean and rstd [N * C] for the gradient. The sums are taken about each
// image's first row, which keeps the variance exact for maps far from 0.
template <typename T>
void norm_forward(const T* x, int64_t N, int64_t P, int64_t C, bool relu, float* mean,
                  float* rstd, T* y) {
  const int64_t blocks = (P + kNormBlock - 1) / kNormBlock;
  const int64_t K = rows_per_period(C), L = K * C;
  std::vector<float> shift(N * C);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) shift[n * C + c] = load(x + n * P * C, c);
  }
  std::vector<float> part(2 * N * blocks * C, 0.0f);
  over_blocks(N, P, [&](int64_t n, int64_t r, int64_t rows, int64_t i) {
    std::vector<float> sh(L), sum(L, 0.0f), sq(L, 0.0f);
    repeat_period(shift.data() + n * C, C, K, sh.data());
    const T* xb = x + (n * P + r) * C;
    const int64_t whole = rows - rows % K;  // rows in whole periods; the rest one row at a time
    stats_values(xb, whole * C, L, sh.data(), sum.data(), sq.data());
    stats_values(xb + whole * C, (rows - whole) * C, C, sh.data(), sum.data(), sq.data());
    fold_period(sum.data(), sq.data(), C, K, part.data() + 2 * i * C);
  });
  std::vector<double> sum, sq;
  sum_blocks(part, N, P, C, sum, sq);
  for (int64_t k = 0; k < N * C; ++k) {
    const double m = sum[k] / static_cast<double>(P);
    const double var = std::max(sq[k] / static_cast<double>(P) - m * m, 0.0);
    mean[k] = static_cast<float>(m + shift[k]);
    rstd[k] = static_cast<float>(1.0 / std::sqrt(var + kInstanceNormEps));
  }
  over_blocks(N, P, [&](int64_t n, int64_t r, int64_t rows, int64_t) {
    std::vector<float> m(L), s(L);
    repeat_period(mean + n * C, C, K, m.data());
    repeat_period(rstd + n * C, C, K, s.data());
    const int64_t off = (n * P + r) * C, whole = rows - rows % K;
    apply_values(x + off, whole * C, L, m.data(), s.data(), relu, y + off);
    apply_values(x + off + whole * C, (rows - whole) * C, C, m.data(), s.data(), relu,
                 y + off + whole * C);
  });
}

template <typename T>
void norm_backward(const T* x, const T* g, int64_t N, int64_t P, int64_t C, bool relu,
                   const float* mean, const float* rstd, T* dx) {
  const int64_t blocks = (P + kNormBlock - 1) / kNormBlock;
  const int64_t K = rows_per_period(C), L = K * C;
  std::vector<float> part(2 * N * blocks * C, 0.0f);
  over_blocks(N, P, [&](int64_t n, int64_t r, int64_t rows, int64_t i) {
    std::vector<float> m(L), s(L), sg(L, 0.0f), sgx(L, 0.0f);
    repeat_period(mean + n * C, C, K, m.data());
    repeat_period(rstd + n * C, C, K, s.data());
    const int64_t off = (n * P + r) * C, whole = rows - rows % K;
    grad_stats_values(x + off, g + off, whole * C, L, m.data(), s.data(), relu, sg.data(),
                      sgx.data());
    grad_stats_values(x + off + whole * C, g + off + whole * C, (rows - whole) * C, C, m.data(),
                      s.data(), relu, sg.data(), sgx.data());
    fold_period(sg.data(), sgx.data(), C, K, part.data() + 2 * i * C);
  });
  std::vector<double> sg, sgx;
  sum_blocks(part, N, P, C, sg, sgx);
  std::vector<float> a(N * C), b(N * C);
  for (int64_t k = 0; k < N * C; ++k) {
    a[k] = static_cast<float>(sg[k] / static_cast<double>(P));
    b[k] = static_cast<float>(sgx[k] / static_cast<double>(P));
  }
  over_blocks(N, P, [&](int64_t n, int64_t r, int64_t rows, int64_t) {
    std::vector<float> m(L), s(L), ar(L), br(L);
    repeat_period(mean + n * C, C, K, m.data());
    repeat_period(rstd + n * C, C, K, s.data());
    repeat_period(a.data() + n * C, C, K, ar.data());
    repeat_period(b.data() + n * C, C, K, br.data());
    const int64_t off = (n * P + r) * C, whole = rows - rows % K;
    grad_apply_values(x + off, g + off, whole * C, L, m.data(), s.data(), relu, ar.data(),
                      br.data(), dx + off);
    const int64_t t = off + whole * C;
    grad_apply_values(x + t, g + t, (rows - whole) * C, C, m.data(), s.data(), relu, ar.data(),
                      br.data(), dx + t);
  });
}

bool channels_last_norm_applies(const at::Tensor& x) {
  return vectorised_dtype(x) && x.dim() == 4 && x.numel() > 0 &&
         x.is_contiguous(at::MemoryFormat::ChannelsLast);
}

// Returns y; mean and rstd ([N, C] float) are filled for the gradient.
at::Tensor instance_norm_cl_forward(const at::Tensor& x, bool relu, at::Tensor& mean,
                                    at::Tensor& rstd) {
  const int64_t N = x.size(0), C = x.size(1), P = x.size(2) * x.size(3);
  mean = at::empty({N, C}, x.options().dtype(at::kFloat));
  rstd = at::empty({N, C}, x.options().dtype(at::kFloat));
  at::Tensor y = at::empty_like(x, at::MemoryFormat::ChannelsLast);
  if (x.scalar_type() == at::kFloat) {
    norm_forward(raw<float>(x), N, P, C, relu, raw<float>(mean), raw<float>(rstd), raw<float>(y));
  } else {
    norm_forward(raw<uint16_t>(x), N, P, C, relu, raw<float>(mean), raw<float>(rstd),
                 raw<uint16_t>(y));
  }
  return y;
}

at::Tensor instance_norm_cl_backward(const at::Tensor& grad_out, const at::Tensor& x,
                                     const at::Tensor& mean, const at::Tensor& rstd, bool relu) {
  const int64_t N = x.size(0), C = x.size(1), P = x.size(2) * x.size(3);
  const at::Tensor g = grad_out.to(x.scalar_type()).contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor dx = at::empty_like(x, at::MemoryFormat::ChannelsLast);
  if (x.scalar_type() == at::kFloat) {
    norm_backward(raw<float>(x), raw<float>(g), N, P, C, relu, raw<float>(mean), raw<float>(rstd),
                  raw<float>(dx));
  } else {
    norm_backward(raw<uint16_t>(x), raw<uint16_t>(g), N, P, C, relu, raw<float>(mean),
                  raw<float>(rstd), raw<uint16_t>(dx));
  }
  return dx;
}

class InstanceNormClFunction : public torch::autograd::Function<InstanceNormClFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            bool relu) {
    at::Tensor mean, rstd;
    at::Tensor y = instance_norm_cl_forward(x, relu, mean, rstd);
    ctx->save_for_backward({x, mean, rstd});
    ctx->saved_data["relu"] = relu;
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const bool relu = ctx->saved_data["relu"].toBool();
    return {instance_norm_cl_backward(grads[0], saved[0], saved[1], saved[2], relu), at::Tensor()};
  }
};

// Bilinear resizing with align_corners = true (the encoder's resampling of its stages) of a
// channels-last map, for training: LibTorch 1.13's gradient of upsample_bilinear2d on a
// channels-last map works in NCHW and copies the result back, and that copy alone took about a
// tenth of a training step (the 128x128 stage). The weights are ATen's: source = scale * index
// with scale = (in - 1) / (out - 1), the lower neighbour and its successor (clamped), and
// out = wy0 (wx0 x00 + wx1 x01) + wy1 (wx0 x10 + wx1 x11), vectorised over the channels, in float.
// The result keeps the map's type, as ATen's op does, so that under bf16 autocast the
// concatenation of the stages and the convolution after it need no cast either way.
struct Taps {
  int64_t i0, i1;
  float w0, w1;
};

std::vector<Taps> linear_taps(int64_t in, int64_t out) {
  std::vector<Taps> taps(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    // The exact source position (ATen's float product rounds it by up to an ulp).
    const double src = out > 1 ? static_cast<double>(o * (in - 1)) / static_cast<double>(out - 1) : 0.0;
    const int64_t i0 = std::min(static_cast<int64_t>(src), in - 1);
    const float w1 = static_cast<float>(src - static_cast<double>(i0));
    taps[o] = {i0, i0 < in - 1 ? i0 + 1 : i0, 1.f - w1, w1};
  }
  return taps;
}

template <typename T>
inline void blend(const T* __restrict x00, const T* __restrict x01, const T* __restrict x10,
                  const T* __restrict x11, float wx0, float wx1, float wy0, float wy1,
                  float* __restrict out, int64_t C) {
  for (int64_t c = 0; c < C; ++c) {
    out[c] = wy0 * (wx0 * load(x00, c) + wx1 * load(x01, c)) +
             wy1 * (wx0 * load(x10, c) + wx1 * load(x11, c));
  }
}

// One overload per element type (templates cannot carry target_clones).
#define COTRACK_BLEND_ROW(T)                                                                     \
  COTRACK_VECTOR_CLONES void blend_row(const T* x00, const T* x01, const T* x10, const T* x11,   \
                                       float wx0, float wx1, float wy0, float wy1, float* out,   \
                                       int64_t C) {                                              \
    blend(x00, x01, x10, x11, wx0, wx1, wy0, wy1, out, C);                                       \
  }
COTRACK_BLEND_ROW(float)
COTRACK_BLEND_ROW(uint16_t)
#undef COTRACK_BLEND_ROW

COTRACK_VECTOR_CLONES
void add_scaled(const float* __restrict g, float w, float* __restrict acc, int64_t C) {
  for (int64_t c = 0; c < C; ++c) acc[c] += w * g[c];
}

COTRACK_VECTOR_CLONES
void add_scaled(const uint16_t* __restrict g, float w, float* __restrict acc, int64_t C) {
  for (int64_t c = 0; c < C; ++c) acc[c] += w * bf16_to_f32(g[c]);
}

COTRACK_VECTOR_CLONES
void narrow_bf16(const float* __restrict in, uint16_t* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = f32_to_bf16(in[i]);
}

// A gradient accumulated in float, in `type` (float or bf16, as vectorised_dtype allows).
at::Tensor narrowed_to(const at::Tensor& acc, at::ScalarType type) {
  if (type == at::kFloat) return acc;
  at::Tensor out = at::empty_like(acc, acc.options().dtype(type));
  in_chunks(acc.numel(), [&](int64_t b, int64_t n) {
    narrow_bf16(raw<float>(acc) + b, raw<uint16_t>(out) + b, n);
  });
  return out;
}

template <typename T>
void resize_forward(const T* x, int64_t N, int64_t C, int64_t Hi, int64_t Wi, int64_t Ho,
                    int64_t Wo, T* out) {
  const std::vector<Taps> ty = linear_taps(Hi, Ho), tx = linear_taps(Wi, Wo);
  at::parallel_for(0, N * Ho, 1, [&](int64_t begin, int64_t end) {
    // bf16 rows are blended in float and rounded once.
    std::vector<float> row(std::is_same_v<T, float> ? 0 : static_cast<size_t>(Wo * C));
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / Ho, oy = r % Ho;
      const Taps& y = ty[oy];
      const T* row0 = x + ((n * Hi + y.i0) * Wi) * C;
      const T* row1 = x + ((n * Hi + y.i1) * Wi) * C;
      float* dst = nullptr;
      if constexpr (std::is_same_v<T, float>) {
        dst = out + r * Wo * C;
      } else {
        dst = row.data();
      }
      for (int64_t ox = 0; ox < Wo; ++ox) {
        const Taps& t = tx[ox];
        blend_row(row0 + t.i0 * C, row0 + t.i1 * C, row1 + t.i0 * C, row1 + t.i1 * C, t.w0, t.w1,
                  y.w0, y.w1, dst + ox * C, C);
      }
      if constexpr (!std::is_same_v<T, float>) narrow_bf16(dst, out + r * Wo * C, Wo * C);
    }
  });
}

// dx[n] (float, [Hi, Wi, C]) from g (float or bf16): element (n, c, oy, ox) at
// g + n*gn + oy*gh + ox*gw + c.
template <typename G>
void resize_backward(const G* g, int64_t gn, int64_t gh, int64_t gw, int64_t N, int64_t C,
                     int64_t Hi, int64_t Wi, int64_t Ho, int64_t Wo, float* dx) {
  const std::vector<Taps> ty = linear_taps(Hi, Ho), tx = linear_taps(Wi, Wo);
  at::parallel_for(0, N, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      float* d = dx + n * Hi * Wi * C;
      std::fill(d, d + Hi * Wi * C, 0.f);
      for (int64_t oy = 0; oy < Ho; ++oy) {
        const Taps& y = ty[oy];
        for (int64_t ox = 0; ox < Wo; ++ox) {
          const Taps& t = tx[ox];
          const G* gp = g + n * gn + oy * gh + ox * gw;
          add_scaled(gp, y.w0 * t.w0, d + (y.i0 * Wi + t.i0) * C, C);
          add_scaled(gp, y.w0 * t.w1, d + (y.i0 * Wi + t.i1) * C, C);
          add_scaled(gp, y.w1 * t.w0, d + (y.i1 * Wi + t.i0) * C, C);
          add_scaled(gp, y.w1 * t.w1, d + (y.i1 * Wi + t.i1) * C, C);
        }
      }
    }
  });
}

at::Tensor resize_cl_forward(const at::Tensor& x, int64_t Ho, int64_t Wo) {
  const int64_t N = x.size(0), C = x.size(1), Hi = x.size(2), Wi = x.size(3);
  at::Tensor out = at::empty({N, C, Ho, Wo}, x.options(), at::MemoryFormat::ChannelsLast);
  if (x.scalar_type() == at::kFloat) {
    resize_forward(raw<float>(x), N, C, Hi, Wi, Ho, Wo, raw<float>(out));
  } else {
    resize_forward(raw<uint16_t>(x), N, C, Hi, Wi, Ho, Wo, raw<uint16_t>(out));
  }
  return out;
}

// The gradient with respect to x (`x_type` its dtype, channels-last) of resize_cl_forward. A
// float or bf16 gradient whose channels are contiguous (such as a channel slice of the
// concatenation's gradient) is read where it lies.
at::Tensor resize_cl_backward(const at::Tensor& grad_out, at::ScalarType x_type, int64_t Hi,
                              int64_t Wi) {
  at::Tensor g = vectorised_dtype(grad_out) ? grad_out : grad_out.to(at::kFloat);
  if (g.stride(1) != 1 || g.stride(3) < g.size(1) || g.stride(2) < g.size(3) * g.stride(3)) {
    g = g.contiguous(at::MemoryFormat::ChannelsLast);
  }
  const int64_t N = g.size(0), C = g.size(1), Ho = g.size(2), Wo = g.size(3);
  at::Tensor dx = at::empty({N, C, Hi, Wi}, g.options().dtype(at::kFloat),
                            at::MemoryFormat::ChannelsLast);
  if (g.scalar_type() == at::kFloat) {
    resize_backward(raw<float>(g), g.stride(0), g.stride(2), g.stride(3), N, C, Hi, Wi, Ho, Wo,
                    raw<float>(dx));
  } else {
    resize_backward(raw<uint16_t>(g), g.stride(0), g.stride(2), g.stride(3), N, C, Hi, Wi, Ho,
                    Wo, raw<float>(dx));
  }
  return narrowed_to(dx, x_type);
}

class ResizeClFunction : public torch::autograd::Function<ResizeClFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            int64_t Ho, int64_t Wo) {
    ctx->saved_data["type"] = static_cast<int64_t>(x.scalar_type());
    ctx->saved_data["h"] = x.size(2);
    ctx->saved_data["w"] = x.size(3);
    return resize_cl_forward(x, Ho, Wo);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto type = static_cast<at::ScalarType>(ctx->saved_data["type"].toInt());
    return {resize_cl_backward(grads[0], type, ctx->saved_data["h"].toInt(),
                               ctx->saved_data["w"].toInt()),
            at::Tensor(), at::Tensor()};
  }
};

// The gradient of a row gather (the correlation's patches): LibTorch 1.13 adds the rows one
// scalar at a time for bf16 (index_add_, about 2 ns a value); here each row is added as a vector
// into a float buffer, then narrowed to the rows' dtype.
class GatherRowsFunction : public torch::autograd::Function<GatherRowsFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& rows,
                            const at::Tensor& index) {
    ctx->save_for_backward({index});
    ctx->saved_data["rows"] = rows.size(0);
    ctx->saved_data["type"] = static_cast<int64_t>(rows.scalar_type());
    return rows.index_select(0, index);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const at::Tensor index = ctx->get_saved_variables()[0].contiguous();
    const int64_t R = ctx->saved_data["rows"].toInt();
    const auto type = static_cast<at::ScalarType>(ctx->saved_data["type"].toInt());
    const at::Tensor g = grads[0].to(at::kFloat).contiguous();
    const int64_t M = g.size(0), C = g.size(1);
    at::Tensor acc = at::zeros({R, C}, g.options());
    const int64_t* ix = index.data_ptr<int64_t>();
    const float* gp = raw<float>(g);
    float* ap = raw<float>(acc);
    for (int64_t m = 0; m < M; ++m) add_scaled(gp + m * C, 1.f, ap + ix[m] * C, C);
    return {narrowed_to(acc, type), at::Tensor()};
  }
};

// 2x2 mean pooling with stride 2 of a channels-last map (the correlation pyramid's levels), for
// training: LibTorch 1.13's avg_pool2d gradient of a bf16 channels-last map took about 30 ms a
// call for a 24-frame clip, five times its fp32 time. The sum runs in ATen's order, in float,
// and is rounded to the map's type once; a last odd row or column is dropped, as avg_pool2d does.
template <typename T>
inline void pool_cell(const T* __restrict x00, const T* __restrict x01, const T* __restrict x10,
                      const T* __restrict x11, T* __restrict out, int64_t C) {
  for (int64_t c = 0; c < C; ++c) {
    store(out, c, (((load(x00, c) + load(x01, c)) + load(x10, c)) + load(x11, c)) / 4.f);
  }
}

template <typename T>
inline void spread_cell(const float* __restrict g, T* __restrict d0, T* __restrict d1,
                        T* __restrict d2, T* __restrict d3, int64_t C) {
  for (int64_t c = 0; c < C; ++c) {
    const float v = g[c] / 4.f;
    store(d0, c, v);
    store(d1, c, v);
    store(d2, c, v);
    store(d3, c, v);
  }
}

// x / sqrt(max(sum over the row of x^2, 1e-12)) for one row of C values (the features' L2
// normalisation), in float; returns the divisor.
template <typename T>
inline float unit_row(const T* __restrict x, T* __restrict y, int64_t C) {
  float sq = 0.f;
  for (int64_t c = 0; c < C; ++c) sq += load(x, c) * load(x, c);
  const float n = std::sqrt(std::max(sq, 1e-12f));
  for (int64_t c = 0; c < C; ++c) store(y, c, load(x, c) / n);
  return n;
}

// The gradient of unit_row: (g - y (g . y)) / n with y = x / n while the norm exceeds the floor,
// else g / n (the floor is a constant).
template <typename T>
inline void unit_row_grad(const T* __restrict x, const float* __restrict g, float n,
                          T* __restrict dx, int64_t C) {
  float dot = 0.f, sq = 0.f;
  for (int64_t c = 0; c < C; ++c) {
    dot += g[c] * (load(x, c) / n);
    sq += load(x, c) * load(x, c);
  }
  if (!(sq > 1e-12f)) dot = 0.f;
  for (int64_t c = 0; c < C; ++c) store(dx, c, (g[c] - (load(x, c) / n) * dot) / n);
}

// One overload per element type (templates cannot carry target_clones).
#define COTRACK_POOL_KERNELS(T)                                                                  \
  COTRACK_VECTOR_CLONES void pool_cell_row(const T* r0, const T* r1, T* out, int64_t Wo,         \
                                           int64_t C) {                                          \
    for (int64_t ox = 0; ox < Wo; ++ox) {                                                        \
      pool_cell(r0 + 2 * ox * C, r0 + (2 * ox + 1) * C, r1 + 2 * ox * C, r1 + (2 * ox + 1) * C,  \
                out + ox * C, C);                                                                \
    }                                                                                            \
  }                                                                                              \
  COTRACK_VECTOR_CLONES void spread_cell_row(const float* g, T* r0, T* r1, int64_t Wo,           \
                                             int64_t C) {                                        \
    for (int64_t ox = 0; ox < Wo; ++ox) {                                                        \
      spread_cell(g + ox * C, r0 + 2 * ox * C, r0 + (2 * ox + 1) * C, r1 + 2 * ox * C,           \
                  r1 + (2 * ox + 1) * C, C);                                                     \
    }                                                                                            \
  }                                                                                              \
  COTRACK_VECTOR_CLONES float unit_row_of(const T* x, T* y, int64_t C) {                         \
    return unit_row(x, y, C);                                                                    \
  }                                                                                              \
  COTRACK_VECTOR_CLONES void unit_row_grad_of(const T* x, const float* g, float n, T* dx,        \
                                              int64_t C) {                                       \
    unit_row_grad(x, g, n, dx, C);                                                               \
  }
COTRACK_POOL_KERNELS(float)
COTRACK_POOL_KERNELS(uint16_t)
#undef COTRACK_POOL_KERNELS

template <typename T>
void pool2_cl(const T* x, int64_t N, int64_t C, int64_t Hi, int64_t Wi, T* out) {
  const int64_t Ho = Hi / 2, Wo = Wi / 2;
  at::parallel_for(0, N * Ho, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / Ho, oy = r % Ho;
      const T* r0 = x + (n * Hi + 2 * oy) * Wi * C;
      pool_cell_row(r0, r0 + Wi * C, out + r * Wo * C, Wo, C);
    }
  });
}

// dx ([N, Hi, Wi, C]) from g (float, [N, Ho, Wo, C] contiguous).
template <typename T>
void pool2_cl_grad(const float* g, int64_t N, int64_t C, int64_t Hi, int64_t Wi, T* dx) {
  const int64_t Ho = Hi / 2, Wo = Wi / 2;
  at::parallel_for(0, N * Hi, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t y = r % Hi;
      T* row = dx + r * Wi * C;
      if (y >= 2 * Ho) {
        std::memset(row, 0, sizeof(T) * Wi * C);  // a dropped odd row
        continue;
      }
      if (y % 2 == 1) continue;  // written with the row above
      const int64_t n = r / Hi;
      spread_cell_row(g + (n * Ho + y / 2) * Wo * C, row, row + Wi * C, Wo, C);
      if (Wi > 2 * Wo) {  // a dropped odd column
        std::memset(row + 2 * Wo * C, 0, sizeof(T) * C);
        std::memset(row + Wi * C + 2 * Wo * C, 0, sizeof(T) * C);
      }
    }
  });
}

at::Tensor pool2_cl_forward(const at::Tensor& x) {
  const int64_t N = x.size(0), C = x.size(1), Hi = x.size(2), Wi = x.size(3);
  at::Tensor out = at::empty({N, C, Hi / 2, Wi / 2}, x.options(), at::MemoryFormat::ChannelsLast);
  if (x.scalar_type() == at::kFloat) {
    pool2_cl(raw<float>(x), N, C, Hi, Wi, raw<float>(out));
  } else {
    pool2_cl(raw<uint16_t>(x), N, C, Hi, Wi, raw<uint16_t>(out));
  }
  return out;
}

// g as float, channels-last and contiguous in that layout.
at::Tensor float_channels_last(const at::Tensor& g) {
  return g.to(at::kFloat).contiguous(at::MemoryFormat::ChannelsLast);
}

class Pool2ClFunction : public torch::autograd::Function<Pool2ClFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    ctx->saved_data["type"] = static_cast<int64_t>(x.scalar_type());
    ctx->saved_data["n"] = x.size(0);
    ctx->saved_data["c"] = x.size(1);
    ctx->saved_data["h"] = x.size(2);
    ctx->saved_data["w"] = x.size(3);
    return pool2_cl_forward(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto type = static_cast<at::ScalarType>(ctx->saved_data["type"].toInt());
    const int64_t N = ctx->saved_data["n"].toInt(), C = ctx->saved_data["c"].toInt();
    const int64_t Hi = ctx->saved_data["h"].toInt(), Wi = ctx->saved_data["w"].toInt();
    const at::Tensor g = float_channels_last(grads[0]);
    at::Tensor dx = at::empty({N, C, Hi, Wi}, g.options().dtype(type), at::MemoryFormat::ChannelsLast);
    if (type == at::kFloat) {
      pool2_cl_grad(raw<float>(g), N, C, Hi, Wi, raw<float>(dx));
    } else {
      pool2_cl_grad(raw<float>(g), N, C, Hi, Wi, raw<uint16_t>(dx));
    }
    return {dx};
  }
};

// Returns y (x's type and layout); norms ([rows] float) is filled for the gradient.
at::Tensor l2_unit_cl_forward(const at::Tensor& x, at::Tensor& norms) {
  const int64_t C = x.size(1), rows = x.numel() / C;
  norms = at::empty({rows}, x.options().dtype(at::kFloat));
  at::Tensor y = at::empty_like(x, at::MemoryFormat::ChannelsLast);
  float* np = raw<float>(norms);
  const bool f32 = x.scalar_type() == at::kFloat;
  at::parallel_for(0, rows, 256, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      np[r] = f32 ? unit_row_of(raw<float>(x) + r * C, raw<float>(y) + r * C, C)
                  : unit_row_of(raw<uint16_t>(x) + r * C, raw<uint16_t>(y) + r * C, C);
    }
  });
  return y;
}

class L2UnitClFunction : public torch::autograd::Function<L2UnitClFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    at::Tensor norms;
    at::Tensor y = l2_unit_cl_forward(x, norms);
    ctx->save_for_backward({x, norms});
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const float* np = raw<float>(saved[1]);
    const at::Tensor g = float_channels_last(grads[0]);
    const int64_t C = x.size(1), rows = x.numel() / C;
    at::Tensor dx = at::empty_like(x, at::MemoryFormat::ChannelsLast);
    const bool f32 = x.scalar_type() == at::kFloat;
    at::parallel_for(0, rows, 256, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        if (f32) {
          unit_row_grad_of(raw<float>(x) + r * C, raw<float>(g) + r * C, np[r],
                           raw<float>(dx) + r * C, C);
        } else {
          unit_row_grad_of(raw<uint16_t>(x) + r * C, raw<float>(g) + r * C, np[r],
                           raw<uint16_t>(dx) + r * C, C);
        }
      }
    });
    return {dx};
  }
};

// The one-pass mix (g float or bf16, contiguous or not; frac float): see bilinear_mix.
at::Tensor bilinear_mix_cpu(const at::Tensor& g, const at::Tensor& frac) {
  const int64_t M = g.size(0), P = g.size(1), K = g.size(3), R = P - 1;
  const at::Tensor in = g.contiguous();
  const at::Tensor f = frac.reshape({M, 2}).contiguous();
  at::Tensor out = at::empty({M, R, R, K}, frac.options());
  const float* fr = raw<float>(f);
  float* dst = raw<float>(out);
  const bool bf16 = in.scalar_type() == at::kBFloat16;
  const float* src_f = bf16 ? nullptr : raw<float>(in);
  const uint16_t* src_b = bf16 ? raw<uint16_t>(in) : nullptr;
  const int64_t plane = P * P * K;
  at::parallel_for(0, M, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> widened(bf16 ? plane : 0);
    for (int64_t m = begin; m < end; ++m) {
      const float* gm = src_f ? src_f + m * plane : widened.data();
      if (bf16) widen_bf16(src_b + m * plane, widened.data(), plane);
      const float fx = fr[2 * m], fy = fr[2 * m + 1];
      float* om = dst + m * R * R * K;
      for (int64_t a = 0; a < R; ++a) {
        for (int64_t b = 0; b < R; ++b) {
          const float* g00 = gm + (a * P + b) * K;
          mix_rows(g00, g00 + P * K, g00 + K, g00 + P * K + K, fx, fy, om + (a * R + b) * K, K);
        }
      }
    }
  });
  return out;
}

// Its gradient with respect to g, in g's type: each output row adds into the four patch rows
// it mixed, with the weights of the two lerps ((1 - f) and f along each axis), in float.
at::Tensor bilinear_mix_cpu_grad(const at::Tensor& grad_out, const at::Tensor& frac, int64_t P,
                                 at::ScalarType type) {
  const at::Tensor d = grad_out.to(at::kFloat).contiguous();
  const at::Tensor f = frac.reshape({d.size(0), 2}).contiguous();
  const int64_t M = d.size(0), K = d.size(3), R = P - 1, plane = P * P * K;
  at::Tensor dg = at::empty({M, P, P, K}, d.options().dtype(type));
  const float* dp = raw<float>(d);
  const float* fr = raw<float>(f);
  at::parallel_for(0, M, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> acc(static_cast<size_t>(plane));
    for (int64_t m = begin; m < end; ++m) {
      float* a0 = type == at::kFloat ? raw<float>(dg) + m * plane : acc.data();
      std::fill(a0, a0 + plane, 0.f);
      const float fx = fr[2 * m], fy = fr[2 * m + 1];
      const float w00 = (1 - fx) * (1 - fy), w10 = fx * (1 - fy), w01 = (1 - fx) * fy,
                  w11 = fx * fy;
      for (int64_t a = 0; a < R; ++a) {
        for (int64_t b = 0; b < R; ++b) {
          const float* row = dp + ((m * R + a) * R + b) * K;
          float* c00 = a0 + (a * P + b) * K;
          add_scaled(row, w00, c00, K);
          add_scaled(row, w10, c00 + P * K, K);
          add_scaled(row, w01, c00 + K, K);
          add_scaled(row, w11, c00 + P * K + K, K);
        }
      }
      if (type != at::kFloat) narrow_bf16(a0, raw<uint16_t>(dg) + m * plane, plane);
    }
  });
  return dg;
}

// Training: the mix as an autograd function. The offsets come from coordinates that the network
// detaches, so only g has a gradient.
class BilinearMixFunction : public torch::autograd::Function<BilinearMixFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& g,
                            const at::Tensor& frac) {
    ctx->save_for_backward({frac});
    ctx->saved_data["p"] = g.size(1);
    ctx->saved_data["type"] = static_cast<int64_t>(g.scalar_type());
    return bilinear_mix_cpu(g, frac);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const at::Tensor frac = ctx->get_saved_variables()[0];
    const auto type = static_cast<at::ScalarType>(ctx->saved_data["type"].toInt());
    return {bilinear_mix_cpu_grad(grads[0], frac, ctx->saved_data["p"].toInt(), type),
            at::Tensor()};
  }
};

}  // namespace

at::Tensor bilinear_mix(const at::Tensor& g, const at::Tensor& frac) {
  const int64_t M = g.size(0), P = g.size(1), R = P - 1;
  const bool cpu = vectorised_dtype(g) && frac.device().is_cpu() && g.dim() == 4 &&
                   g.size(2) == P && frac.scalar_type() == at::kFloat;
  const bool grad = at::GradMode::is_enabled() && (g.requires_grad() || frac.requires_grad());
  if (cpu && !grad) return bilinear_mix_cpu(g, frac);
  if (cpu && !frac.requires_grad()) return BilinearMixFunction::apply(g, frac);
  const at::Tensor gf = g.to(frac.scalar_type());
  const at::Tensor fx = frac.select(-1, 0).view({M, 1, 1, 1});
  const at::Tensor fy = frac.select(-1, 1).view({M, 1, 1, 1});
  const at::Tensor gx = at::lerp(gf.narrow(1, 0, R), gf.narrow(1, 1, R), fx);  // [M,R,P,K]
  return at::lerp(gx.narrow(2, 0, R), gx.narrow(2, 1, R), fy);                // [M,R,R,K]
}

at::Tensor gelu_tanh(const at::Tensor& x) {
  if (!vectorised_dtype(x)) return at::gelu(x, "tanh");
  if (at::GradMode::is_enabled() && x.requires_grad()) return GeluTanhFunction::apply(x);
  return gelu_tanh_forward(x);
}

bool instance_norm_channels_last(const at::Tensor& x, bool relu, at::Tensor* out) {
  if (!channels_last_norm_applies(x)) return false;
  if (at::GradMode::is_enabled() && x.requires_grad()) {
    *out = InstanceNormClFunction::apply(x, relu);
  } else {
    at::Tensor mean, rstd;
    *out = instance_norm_cl_forward(x, relu, mean, rstd);
  }
  return true;
}

bool resize_channels_last(const at::Tensor& x, int64_t height, int64_t width, at::Tensor* out) {
  if (!channels_last_norm_applies(x) || height < 1 || width < 1) return false;
  if (at::GradMode::is_enabled() && x.requires_grad()) {
    *out = ResizeClFunction::apply(x, height, width);
  } else {
    *out = resize_cl_forward(x, height, width);
  }
  return true;
}

at::Tensor gather_rows(const at::Tensor& rows, const at::Tensor& index) {
  const bool fast = vectorised_dtype(rows) && rows.dim() == 2 && index.dim() == 1 &&
                    index.scalar_type() == at::kLong && index.device().is_cpu() &&
                    at::GradMode::is_enabled() && rows.requires_grad();
  if (!fast) return rows.index_select(0, index);
  // Out-of-range indices fail in the forward's index_select, before the backward reads them.
  return GatherRowsFunction::apply(rows, index);
}

bool pool2_channels_last(const at::Tensor& x, at::Tensor* out) {
  if (!channels_last_norm_applies(x) || x.size(2) < 2 || x.size(3) < 2) return false;
  if (!(at::GradMode::is_enabled() && x.requires_grad())) return false;
  *out = Pool2ClFunction::apply(x);
  return true;
}

bool l2_unit_channels_last(const at::Tensor& x, at::Tensor* out) {
  if (!channels_last_norm_applies(x)) return false;
  if (!(at::GradMode::is_enabled() && x.requires_grad())) return false;
  *out = L2UnitClFunction::apply(x);
  return true;
}

}  // namespace cotrack
