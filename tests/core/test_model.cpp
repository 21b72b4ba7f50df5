// Model loading: architecture checks with every mismatch reported, cotrack's own model files,
// presets with random weights, and the resolution setting.
#include "test_common.hpp"

#include <ATen/ATen.h>

#include <unistd.h>

#include <filesystem>
#include <map>

#include "model/checkpoint/checkpoint.hpp"
#include "cotrack/error.hpp"
#include "cotrack/model.hpp"
#include "cotrack/runtime.hpp"
#include "model/network.hpp"
#include "model/precision.hpp"

namespace {

using Tensors = std::vector<std::pair<std::string, at::Tensor>>;

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("cotrack_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

// An official-format state dict (no metadata) for the given architecture, random values.
Tensors official_like(const cotrack::ModelConfig& c) {
  Tensors t;
  for (const auto& [name, shape] : cotrack::expected_parameters(c)) {
    t.emplace_back(name, at::randn(shape));
  }
  return t;
}

// Metadata that makes a written file a cotrack model of architecture `c`.
std::map<std::string, cotrack::MetaValue> meta_for(const cotrack::ModelConfig& c) {
  std::map<std::string, cotrack::MetaValue> meta;
  for (const auto& [k, v] : c.to_pairs()) meta["arch." + k].s = v;
  return meta;
}

std::string error_of(const std::string& path) {
  try {
    cotrack::Model::load(path);
  } catch (const cotrack::ModelError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("model: official key list has the released model's 188 entries and sizes") {
    const auto params = cotrack::expected_parameters(cotrack::ModelConfig{});
    CHECK(params.size() == 188);
    int64_t total = 0;
    for (const auto& [name, shape] : params) {
      int64_t n = 1;
      for (auto s : shape) n *= s;
      total += n;
    }
    CHECK(total == 25403460);  // model spec: 25,385,700 parameters + 17,760 time_emb
    CHECK(params.front().first == "time_emb");
    CHECK(params.back().first == "corr_mlp.fc2.bias");
  }

  TEST_CASE("model: the stored time embedding equals the recomputed one") {
    const std::string path = cotrack::test::fixture_or_skip("cotracker3/random_online.pth");
    if (path.empty()) return;
    const auto ckpt = cotrack::read_checkpoint(path);
    CHECK(ckpt.tensors.front().first == "time_emb");
    CHECK(at::equal(ckpt.tensors.front().second, cotrack::sincos_time_embedding(16, 1110)));
  }

  TEST_CASE("model: every mismatch is reported at once, in one line") {
    cotrack::ModelConfig c;
    Tensors t = official_like(c);
    t.erase(t.begin() + 5);                                       // a missing key
    t[10].second = at::zeros({3, 3});                             // a wrong shape
    t.emplace_back("updateformer.extra.weight", at::zeros({2}));  // an unexpected key
    const std::string path = temp_path("mismatch.pth");
    cotrack::write_checkpoint(path, t, meta_for(c));
    const std::string msg = error_of(path);
    std::filesystem::remove(path);
    CHECK(msg.find("3 problems") != std::string::npos);
    CHECK(msg.find("missing") != std::string::npos);
    CHECK(msg.find("(3,3)") != std::string::npos);
    CHECK(msg.find("updateformer.extra.weight") != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  }

  TEST_CASE("model: NaN weights and integer tensors are refused") {
    cotrack::ModelConfig c;
    Tensors t = official_like(c);
    t[3].second[0][0][0][0] = std::nan("");
    t[4].second = t[4].second.to(at::kLong);
    const std::string path = temp_path("nan.pth");
    cotrack::write_checkpoint(path, t, meta_for(c));
    const std::string msg = error_of(path);
    std::filesystem::remove(path);
    CHECK(msg.find("NaN") != std::string::npos);
    CHECK(msg.find("non-float") != std::string::npos);
  }

  TEST_CASE("model: fp16 weights load as float32") {
    cotrack::ModelConfig c;
    Tensors t = official_like(c);
    for (auto& [name, tensor] : t) tensor = tensor.to(at::kHalf);
    const std::string path = temp_path("half.pth");
    cotrack::write_checkpoint(path, t, meta_for(c));
    cotrack::Model m = cotrack::Model::load(path);
    const cotrack::ModelInfo info = cotrack::inspect_model(path);
    std::filesystem::remove(path);
    CHECK(info.dtype.find("converted to float32") != std::string::npos);
    CHECK((m.network().named_tensors()[7].second.scalar_type() == at::kFloat));
    CHECK(at::equal(m.network().named_tensors()[7].second, t[7].second.to(at::kFloat)));
  }

  TEST_CASE("model: a cotrack model file carries its architecture and round-trips") {
    cotrack::ModelConfig c;
    c.preset = "test-small";
    c.latent_dim = 32;
    c.hidden_size = 64;
    c.num_heads = 4;
    c.time_depth = 2;
    c.space_depth = 1;
    c.num_virtual_tracks = 8;
    c.corr_hidden = 32;
    c.corr_out = 16;
    c.window_len = 8;
    c.model_height = 64;
    c.model_width = 64;
    cotrack::Model a = cotrack::Model::random(c, 7);
    const std::string path = temp_path("own.cotrack");
    a.save(path);
    cotrack::Model b = cotrack::Model::load(path);
    const cotrack::ModelInfo info = cotrack::inspect_model(path);
    std::filesystem::remove(path);
    CHECK(info.format == "cotrack model v1");
    CHECK((b.config().to_pairs() == c.to_pairs()));
    CHECK(b.info().parameter_count == a.info().parameter_count);
    const auto ta = a.network().named_tensors(), tb = b.network().named_tensors();
    REQUIRE(ta.size() == tb.size());
    for (size_t i = 0; i < ta.size(); ++i) {
      CHECK(ta[i].first == tb[i].first);
      CHECK(at::equal(ta[i].second, tb[i].second));
    }
  }

  TEST_CASE("model: a model file whose weights do not match its stated architecture") {
    cotrack::ModelConfig c;
    c.latent_dim = 64;  // says 64 channels, but holds the official 128-channel weights
    Tensors t = official_like(cotrack::ModelConfig{});
    std::map<std::string, cotrack::MetaValue> meta = meta_for(c);
    const std::string path = temp_path("wrongarch.cotrack");
    cotrack::write_checkpoint(path, t, meta);
    const std::string msg = error_of(path);
    meta["arch.bogus_key"].s = "1";
    cotrack::write_checkpoint(path, t, meta);
    const std::string msg2 = error_of(path);
    std::filesystem::remove(path);
    CHECK(msg.find("does not match architecture") != std::string::npos);
    CHECK(msg2.find("unknown key 'bogus_key'") != std::string::npos);
    cotrack::write_checkpoint(path, t, {});
    CHECK(error_of(path).find("without architecture") != std::string::npos);
    std::filesystem::remove(path);
  }

  TEST_CASE("model: random presets are deterministic; resolution is validated") {
    cotrack::Model a = cotrack::Model::random(cotrack::ModelConfig{}, 3);
    cotrack::Model b = cotrack::Model::random(cotrack::ModelConfig{}, 3);
    CHECK(at::equal(a.network().named_tensors()[1].second, b.network().named_tensors()[1].second));
    CHECK(a.info().parameter_count == 25385700);
    a.set_resolution(96, 128);
    CHECK(a.config().model_height == 96);
    CHECK_THROWS_AS(a.set_resolution(97, 128), cotrack::UsageError);
    CHECK_THROWS_AS(a.set_resolution(16, 16), cotrack::UsageError);
    CHECK_THROWS_AS(a.to_device("tpu"), cotrack::UsageError);
    CHECK_THROWS_AS(cotrack::ModelConfig::preset_named("nope"), cotrack::UsageError);
  }

  TEST_CASE("model: patch-based correlation equals the official grid_sample formulation") {
    // Both radii in use (3: official, 2: cotrack-small); points inside, on the border, just
    // outside and far outside the feature map, where border padding decides the result.
    for (const std::string preset : {"cotracker3-online", "cotrack-small"}) {
      CAPTURE(preset);
      cotrack::ModelConfig c = cotrack::ModelConfig::preset_named(preset);
      const cotrack::Model model = cotrack::Model::random(c, 5);
      const cotrack::Network& net = model.network();
      const int R = c.corr_window();
      const int64_t B = 2, S = 3, N = 7, C = 16, h = 12, w = 20;
      at::manual_seed(3);
      at::Tensor fmaps = at::randn({B, S, C, h, w});
      at::Tensor coords = at::rand({B, S, N, 2}) * at::tensor({w - 1.f, h - 1.f});
      coords.index_put_({0, 0, 0}, at::tensor({0.f, 0.f}));
      coords.index_put_({0, 1, 1}, at::tensor({w - 1.f, h - 1.f}));
      coords.index_put_({0, 2, 2}, at::tensor({-0.4f, 5.5f}));
      coords.index_put_({1, 0, 3}, at::tensor({w - 0.7f, -2.25f}));
      coords.index_put_({1, 1, 4}, at::tensor({-30.f, 400.f}));
      coords.index_put_({1, 2, 5}, at::tensor({3.f, 4.f}));  // integer: zero fractional part
      at::Tensor support = at::randn({B, N, R, R, C});
      const at::Tensor fast = net.correlation_volume(fmaps, coords, support);
      const at::Tensor ref = net.correlation_volume_reference(fmaps, coords, support);
      REQUIRE(fast.sizes() == ref.sizes());
      CHECK(fast.size(-1) == R * R * R * R);
      const double diff = (fast - ref).abs().max().item<double>();
      MESSAGE(preset << ": max |patch - grid_sample| = " << diff
                     << ", max |ref| = " << ref.abs().max().item<double>());
      CHECK(diff < 1e-4);
    }
  }
  TEST_CASE("model: the vectorised tanh GELU equals ATen's") {
    at::manual_seed(12);
    // Odd length (a vector tail), the whole range up to where the result saturates, and beyond.
    const at::Tensor x = at::cat({at::randn({100003}) * 4, at::linspace(-30, 30, 6001),
                                  at::tensor({-1e4f, -100.f, -9.5f, 0.f, 1e-30f, 9.5f, 100.f, 1e4f})});
    const at::Tensor ref = at::gelu(x.to(at::kDouble), "tanh");
    const at::Tensor fast = cotrack::gelu_tanh(x);
    REQUIRE((fast.scalar_type() == at::kFloat));
    REQUIRE(fast.sizes() == x.sizes());
    // Relative to max(|y|, 1e-3): the float formula's own rounding, a few units of 1e-7.
    const at::Tensor err = (fast.to(at::kDouble) - ref).abs() / ref.abs().clamp_min(1e-3);
    const double worst = err.max().item<double>();
    const double aten_worst =
        ((at::gelu(x, "tanh").to(at::kDouble) - ref).abs() / ref.abs().clamp_min(1e-3)).max().item<double>();
    MESSAGE("max relative error: vectorised " << worst << ", ATen float " << aten_worst);
    CHECK(worst < 2e-6);
    CHECK(fast.isfinite().all().item<bool>());
    // A non-contiguous view gives the same values as its contiguous copy.
    const at::Tensor m = at::randn({64, 96}).t();
    CHECK(at::equal(cotrack::gelu_tanh(m), cotrack::gelu_tanh(m.contiguous())));
    // bf16: within bf16's rounding of the exact result (ATen's own bf16 GELU differs by as much).
    const at::Tensor xb = x.to(at::kBFloat16);
    const at::Tensor fb = cotrack::gelu_tanh(xb);
    REQUIRE((fb.scalar_type() == at::kBFloat16));
    const at::Tensor refb = at::gelu(xb.to(at::kDouble), "tanh");
    const double worst_b =
        ((fb.to(at::kDouble) - refb).abs() / refb.abs().clamp_min(1e-2)).max().item<double>();
    MESSAGE("bf16 max relative error " << worst_b);
    CHECK(worst_b <= 1.0 / 256);
    // Under autograd: the exact gradient within the dtype's rounding (ATen's bf16 gradient is
    // further off: 0.23 relative on these values).
    for (const auto dtype : {at::kFloat, at::kBFloat16}) {
      const at::Tensor base = x.narrow(0, 90000, 16000).to(dtype).view({40, 400});
      const at::Tensor upstream = at::randn({40, 400}).to(dtype);
      const at::Tensor a = base.clone().requires_grad_(true);
      const at::Tensor b = base.clone().requires_grad_(true);
      const at::Tensor ya = cotrack::gelu_tanh(a);
      const at::Tensor yb = at::gelu(b, "tanh");
      ya.backward(upstream);
      yb.backward(upstream);
      REQUIRE(a.grad().defined());
      REQUIRE((a.grad().scalar_type() == dtype));
      const at::Tensor ref = at::gelu_backward(upstream.to(at::kDouble), base.to(at::kDouble), "tanh");
      const double tol = dtype == at::kFloat ? 2e-5 : 1.0 / 64;
      const double err = ((a.grad().to(at::kDouble) - ref).abs() / ref.abs().clamp_min(0.1)).max().item<double>();
      const double aten = ((b.grad().to(at::kDouble) - ref).abs() / ref.abs().clamp_min(0.1)).max().item<double>();
      MESSAGE(std::string(c10::toString(dtype)) << " gradient: max error " << err << " (ATen " << aten << ")");
      CHECK(err < tol);
      // The forward values are those of the inference path.
      CHECK(at::equal(ya.detach(), cotrack::gelu_tanh(base)));
    }
  }
  TEST_CASE("model: the one-pass bilinear mix equals two lerps") {
    at::manual_seed(13);
    const int64_t M = 37, P = 8, R = P - 1, K = 49;
    at::Tensor frac = at::rand({M, 2});
    // The lerp formula switches at 0.5; both sides and the ends.
    frac[0][0] = 0.f, frac[0][1] = 0.4999f, frac[1][0] = 0.5f, frac[1][1] = 0.99999f;
    for (const auto dtype : {at::kFloat, at::kBFloat16}) {
      const at::Tensor g = (at::randn({M, P, P, K}) * 5).to(dtype);
      const at::Tensor gf = g.to(at::kFloat);
      const at::Tensor fx = frac.select(1, 0).view({M, 1, 1, 1});
      const at::Tensor fy = frac.select(1, 1).view({M, 1, 1, 1});
      const at::Tensor gx = at::lerp(gf.narrow(1, 0, R), gf.narrow(1, 1, R), fx);
      const at::Tensor ref = at::lerp(gx.narrow(2, 0, R), gx.narrow(2, 1, R), fy);
      const at::Tensor out = cotrack::bilinear_mix(g, frac);
      REQUIRE(out.sizes() == ref.sizes());
      REQUIRE((out.scalar_type() == at::kFloat));
      const double diff = (out - ref).abs().max().item<double>();
      MESSAGE(std::string(c10::toString(dtype)) << ": max |one pass - lerps| = " << diff);
      CHECK(diff < 1e-5);
      // Not a copy of a corner: a mix of the four neighbours that changes with the offsets.
      CHECK(!at::allclose(out, gf.narrow(1, 0, R).narrow(2, 0, R)));
      // Under autograd (training: the offsets record no gradient) the same values, and the
      // gradient of g equals the two lerps' in double, in g's type.
      const at::Tensor gg = g.clone().requires_grad_(true);
      const at::Tensor out_g = cotrack::bilinear_mix(gg, frac);
      CHECK(at::equal(out_g.detach(), out));
      const at::Tensor upstream = at::randn(out.sizes());
      out_g.backward(upstream);
      REQUIRE((gg.grad().scalar_type() == dtype));
      const at::Tensor gd = g.to(at::kDouble).requires_grad_(true);
      const at::Tensor fd = frac.to(at::kDouble);
      const at::Tensor gxd = at::lerp(gd.narrow(1, 0, R), gd.narrow(1, 1, R),
                                      fd.select(1, 0).view({M, 1, 1, 1}));
      at::lerp(gxd.narrow(2, 0, R), gxd.narrow(2, 1, R), fd.select(1, 1).view({M, 1, 1, 1}))
          .backward(upstream.to(at::kDouble));
      const double gerr = ((gg.grad().to(at::kDouble) - gd.grad()).abs().max() /
                           gd.grad().abs().max()).item<double>();
      MESSAGE(std::string(c10::toString(dtype)) << ": gradient max error " << gerr);
      CHECK(gerr < (dtype == at::kFloat ? 1e-6 : 1.0 / 128));
    }
    // A non-contiguous g (a view with a stride) gives the same result as its copy.
    const at::Tensor wide = at::randn({M, P, P, 2 * K});
    const at::Tensor view = wide.narrow(3, 0, K);
    CHECK(at::equal(cotrack::bilinear_mix(view, frac), cotrack::bilinear_mix(view.contiguous(), frac)));
  }
  TEST_CASE("model: the channels-last instance norm equals ATen's, forward and gradient") {
    at::manual_seed(14);
    // Odd sizes (vector tails, a last row block shorter than the others) and maps far from 0,
    // where a variance taken as E[x^2] - E[x]^2 in float would lose its digits.
    const int64_t N = 3, C = 37, H = 29, W = 23;
    const at::Tensor base = at::randn({N, C, H, W}) * 3 + at::randn({1, C, 1, 1}) * 50;
    const at::Tensor upstream = at::randn({N, C, H, W});
    for (const auto dtype : {at::kFloat, at::kBFloat16}) {
      for (const bool relu : {false, true}) {
        const at::Tensor x = base.to(dtype).contiguous(at::MemoryFormat::ChannelsLast);
        // The reference: ATen's op in double, on the same (rounded) input.
        const at::Tensor xd = x.to(at::kDouble).contiguous().requires_grad_(true);
        at::Tensor ref = at::instance_norm(xd, {}, {}, {}, {}, true, 0.1, 1e-5, false);
        if (relu) ref = ref.relu();
        ref.backward(upstream.to(at::kDouble));
        const at::Tensor xg = x.clone().requires_grad_(true);
        at::Tensor y;
        REQUIRE(cotrack::instance_norm_channels_last(xg, relu, &y));
        REQUIRE((y.scalar_type() == dtype));
        REQUIRE(y.is_contiguous(at::MemoryFormat::ChannelsLast));
        y.backward(upstream.to(dtype));
        REQUIRE(xg.grad().defined());
        // Relative to max(|y|, 1): bf16 keeps 8 significant bits, so its rounding alone is 1/512.
        const double tol = dtype == at::kFloat ? 1e-5 : 1.0 / 128;
        const double fwd = ((y.to(at::kDouble) - ref.detach()).abs() /
                            ref.detach().abs().clamp_min(1.0)).max().item<double>();
        // Gradients here are about 1/3 (the upstream times rstd); relative to their largest.
        const at::Tensor gref = xd.grad();
        const double bwd = ((xg.grad().to(at::kDouble) - gref).abs().max() /
                            gref.abs().max()).item<double>();
        const std::string label = std::string(c10::toString(dtype)) + (relu ? " + relu" : "");
        MESSAGE(label << ": forward max error " << fwd << ", gradient " << bwd);
        CHECK(fwd < tol);
        CHECK(bwd < tol);
        // The inference path gives the autograd path's values.
        at::Tensor y_plain;
        REQUIRE(cotrack::instance_norm_channels_last(x, relu, &y_plain));
        CHECK(at::equal(y_plain, y.detach()));
      }
    }
    // Any other layout or dtype is left to ATen.
    at::Tensor untouched;
    CHECK_FALSE(cotrack::instance_norm_channels_last(base.contiguous(), true, &untouched));
    CHECK_FALSE(cotrack::instance_norm_channels_last(
        base.to(at::kDouble).contiguous(at::MemoryFormat::ChannelsLast), true, &untouched));
    CHECK_FALSE(untouched.defined());
  }
  TEST_CASE("model: the channels-last bilinear resize equals ATen's, forward and gradient") {
    at::manual_seed(15);
    const int64_t N = 2, C = 37, H = 29, W = 23;
    const at::Tensor base = at::randn({N, C, H, W}) * 4;
    // Down (the encoder's first stage), up (its deeper stages), the same size, a single row.
    for (const auto& [Ho, Wo] : std::vector<std::pair<int64_t, int64_t>>{
             {13, 11}, {64, 50}, {H, W}, {1, 5}}) {
      // The upstream gradient as the concatenation's gradient gives it: a channel slice of a
      // wider channels-last map.
      const at::Tensor wide = at::randn({N, C + 5, Ho, Wo}).contiguous(at::MemoryFormat::ChannelsLast);
      const at::Tensor upstream = wide.narrow(1, 2, C);
      for (const auto dtype : {at::kFloat, at::kBFloat16}) {
        const std::string label =
            std::string(c10::toString(dtype)) + " to " + std::to_string(Ho) + "x" + std::to_string(Wo);
        INFO(label);
        const at::Tensor x = base.to(dtype).contiguous(at::MemoryFormat::ChannelsLast);
        // The reference: ATen's op in double on the same (rounded) input.
        const at::Tensor xd = x.to(at::kDouble).requires_grad_(true);
        const at::Tensor ref = at::upsample_bilinear2d(xd, {Ho, Wo}, /*align_corners=*/true,
                                                       c10::nullopt, c10::nullopt);
        ref.backward(upstream.to(at::kDouble));
        const at::Tensor xg = x.clone().requires_grad_(true);
        at::Tensor y;
        REQUIRE(cotrack::resize_channels_last(xg, Ho, Wo, &y));
        REQUIRE((y.scalar_type() == dtype));
        REQUIRE(y.sizes() == ref.sizes());
        REQUIRE(y.is_contiguous(at::MemoryFormat::ChannelsLast));
        // Under autocast the upstream gradient comes in the map's type (the concatenation and
        // the convolution after it run in bf16); the kernel reads the slice where it lies.
        y.backward(upstream.to(dtype));
        REQUIRE(xg.grad().defined());
        REQUIRE((xg.grad().scalar_type() == dtype));
        // Float arithmetic with exact source positions (ATen's float op is off by up to 1e-6 of
        // the largest value here); bf16 results are rounded to bf16's 8 significant bits, and
        // the bf16 gradient starts from the upstream gradient rounded the same way.
        const double fwd = ((y.to(at::kDouble) - ref.detach()).abs().max() /
                            ref.detach().abs().max()).item<double>();
        const at::Tensor gref = xd.grad();
        const double bwd = ((xg.grad().to(at::kDouble) - gref).abs().max() /
                            gref.abs().max()).item<double>();
        MESSAGE(label << ": forward max error " << fwd << ", gradient " << bwd);
        CHECK(fwd < (dtype == at::kFloat ? 1e-6 : 1.0 / 256));
        CHECK(bwd < (dtype == at::kFloat ? 1e-6 : 1.0 / 64));
        if (dtype == at::kBFloat16) {
          // A float upstream gradient (what autograd hands without autocast) gives the gradient
          // of the same rounded values.
          const at::Tensor xf = x.clone().requires_grad_(true);
          at::Tensor yf;
          REQUIRE(cotrack::resize_channels_last(xf, Ho, Wo, &yf));
          yf.backward(upstream.to(dtype).to(at::kFloat));
          CHECK(at::equal(xf.grad(), xg.grad()));
        }
        // The inference path gives the autograd path's values.
        at::Tensor y_plain;
        REQUIRE(cotrack::resize_channels_last(x, Ho, Wo, &y_plain));
        CHECK(at::equal(y_plain, y.detach()));
      }
    }
    at::Tensor untouched;
    CHECK_FALSE(cotrack::resize_channels_last(base.contiguous(), 8, 8, &untouched));
    CHECK_FALSE(cotrack::resize_channels_last(
        base.to(at::kDouble).contiguous(at::MemoryFormat::ChannelsLast), 8, 8, &untouched));
    CHECK_FALSE(untouched.defined());
  }
  TEST_CASE("model: the channels-last pyramid pooling and L2 normalisation equal ATen's") {
    at::manual_seed(17);
    // Odd sizes (a dropped last row and column, vector tails), rows of very different norms
    // and one all-zero row, which the 1e-12 floor keeps finite.
    const int64_t N = 2, C = 37, H = 29, W = 23;
    at::Tensor base = at::randn({N, C, H, W}) * at::rand({N, 1, H, W}) * 4;
    base.select(0, 1).select(1, 3).select(1, 5).zero_();
    for (const auto dtype : {at::kFloat, at::kBFloat16}) {
      INFO(std::string(c10::toString(dtype)));
      const at::Tensor x = base.to(dtype).contiguous(at::MemoryFormat::ChannelsLast);
      const at::Tensor xd = x.to(at::kDouble).requires_grad_(true);
      // The reference: the ATen formulation the engine runs, in double on the same input.
      const at::Tensor fd = xd.permute({0, 2, 3, 1});
      const at::Tensor unit_ref =
          (fd / at::sqrt(at::clamp_min(at::sum(at::square(fd), {-1}, true), 1e-12)))
              .permute({0, 3, 1, 2});
      const at::Tensor pool_ref = at::avg_pool2d(xd, {2, 2}, {2, 2});
      for (const bool pool : {false, true}) {
        INFO((pool ? "pool2" : "l2_unit"));
        const at::Tensor ref = pool ? pool_ref : unit_ref;
        const at::Tensor upstream = at::randn(ref.sizes(), at::kDouble);
        if (xd.grad().defined()) xd.mutable_grad() = at::Tensor();
        ref.backward(upstream, /*retain_graph=*/true);
        const at::Tensor xg = x.clone().requires_grad_(true);
        at::Tensor y;
        REQUIRE((pool ? cotrack::pool2_channels_last(xg, &y) : cotrack::l2_unit_channels_last(xg, &y)));
        REQUIRE((y.scalar_type() == dtype));
        REQUIRE(y.sizes() == ref.sizes());
        REQUIRE(y.is_contiguous(at::MemoryFormat::ChannelsLast));
        y.backward(upstream.to(dtype));
        REQUIRE((xg.grad().scalar_type() == dtype));
        const double fwd = ((y.to(at::kDouble) - ref.detach()).abs().max() /
                            ref.detach().abs().max()).item<double>();
        const at::Tensor gref = xd.grad();
        // Relative to each row's largest gradient: the zero row's is a million times the others.
        const double bwd = ((xg.grad().to(at::kDouble) - gref).abs() /
                            gref.abs().amax({1}, true).clamp_min(1e-30)).max().item<double>();
        MESSAGE(std::string(c10::toString(dtype)) << (pool ? " pool2" : " l2_unit")
                                                  << ": forward max error " << fwd << ", gradient "
                                                  << bwd);
        // Float arithmetic; bf16 results are rounded to 8 significant bits once.
        CHECK(fwd < (dtype == at::kFloat ? 1e-6 : 1.0 / 128));
        CHECK(bwd < (dtype == at::kFloat ? 1e-5 : 1.0 / 64));
        CHECK(at::isfinite(xg.grad()).all().item<bool>());
      }
      // Without autograd recording, the network keeps ATen's ops.
      at::Tensor untouched;
      CHECK_FALSE(cotrack::pool2_channels_last(x, &untouched));
      CHECK_FALSE(cotrack::l2_unit_channels_last(x, &untouched));
      CHECK_FALSE(untouched.defined());
    }
    // Nor for another layout or type.
    at::Tensor untouched;
    const at::Tensor plain = base.clone().requires_grad_(true);
    CHECK_FALSE(cotrack::pool2_channels_last(plain, &untouched));
    CHECK_FALSE(cotrack::l2_unit_channels_last(
        base.to(at::kDouble).contiguous(at::MemoryFormat::ChannelsLast).requires_grad_(true),
        &untouched));
    CHECK_FALSE(untouched.defined());
  }
  TEST_CASE("model: the row gather's gradient equals index_select's") {
    at::manual_seed(16);
    const int64_t R = 97, C = 37, M = 500;  // many repeated rows, a vector tail
    const at::Tensor base = at::randn({R, C});
    const at::Tensor index = at::randint(0, R, {M}, at::TensorOptions().dtype(at::kLong));
    const at::Tensor upstream = at::randn({M, C});
    for (const auto dtype : {at::kFloat, at::kBFloat16}) {
      INFO(std::string(c10::toString(dtype)));
      // The reference: index_select's gradient in double on the same (rounded) rows.
      const at::Tensor rd = base.to(dtype).to(at::kDouble).clone().requires_grad_(true);
      rd.index_select(0, index).backward(upstream.to(at::kDouble));
      const at::Tensor rows = base.to(dtype).clone().requires_grad_(true);
      const at::Tensor y = cotrack::gather_rows(rows, index);
      CHECK(at::equal(y.detach(), rows.detach().index_select(0, index)));
      y.backward(upstream.to(dtype));
      REQUIRE(rows.grad().defined());
      REQUIRE((rows.grad().scalar_type() == dtype));
      const at::Tensor gref = rd.grad();
      const double err = ((rows.grad().to(at::kDouble) - gref).abs().max() /
                          gref.abs().max()).item<double>();
      MESSAGE(std::string(c10::toString(dtype)) << ": gradient max error " << err);
      // Float sums of a few rows; bf16 keeps 8 significant bits (of its upstream and its result).
      CHECK(err < (dtype == at::kFloat ? 1e-6 : 1.0 / 64));
    }
    // Without a gradient to record it is index_select itself.
    CHECK(at::equal(cotrack::gather_rows(base, index), base.index_select(0, index)));
  }
  TEST_CASE("model: broadcast attention equals the matmul formulation") {
    // The shapes the small model sends down each path (time attention over 8 frames: broadcast;
    // virtual-track cross-attention: matmul), and an edge case with a single key.
    struct Shape { int64_t B, h, N1, N2, d; };
    at::manual_seed(11);
    for (const Shape s : {Shape{80, 4, 8, 8, 24}, Shape{8, 4, 16, 64, 24}, Shape{3, 2, 5, 1, 7}}) {
      INFO("B " << s.B << " N1 " << s.N1 << " N2 " << s.N2 << " d " << s.d);
      const at::Tensor q = at::randn({s.B, s.h, s.N1, s.d}) * 3;
      const at::Tensor k = at::randn({s.B, s.h, s.N2, s.d});
      const at::Tensor v = at::randn({s.B, s.h, s.N2, s.d});
      const at::Tensor fast = cotrack::scaled_dot_attention(q, k, v, /*broadcast=*/true);
      const at::Tensor ref = cotrack::scaled_dot_attention(q, k, v, /*broadcast=*/false);
      REQUIRE(fast.sizes() == ref.sizes());
      CHECK(fast.size(2) == s.N1);
      const double diff = (fast - ref).abs().max().item<double>();
      MESSAGE("max |broadcast - matmul| = " << diff);
      CHECK(diff < 1e-5);
      // Both are attention: rows of weights sum to 1, so v's all-ones input returns ones.
      const at::Tensor ones = cotrack::scaled_dot_attention(q, k, at::ones_like(v), true);
      CHECK((ones - 1).abs().max().item<double>() < 1e-5);
    }
  }
}

TEST_SUITE("unit") {
  // Inference shortcuts in the update transformer: the virtual tracks' first time block is a
  // constant of the weights, and bf16 weights are cast once. Both are taken only for weights
  // without gradients, so marking weights as trainable runs the plain computation.
  TEST_CASE("model: the inference shortcuts give the plain transformer's output") {
    const cotrack::Model model =
        cotrack::Model::random(cotrack::ModelConfig::preset_named("cotracker3-online"), 5);
    const cotrack::Network& net = model.network();
    REQUIRE(net.config().num_virtual_tracks > 0);
    at::manual_seed(3);
    const at::Tensor x = at::randn({1, 6, 16, net.config().input_dim()});
    const at::NoGradGuard no_grad;
    auto mark = [&](bool all, bool trainable) {
      for (auto& [name, t] : net.named_tensors()) {
        if (all || name == "updateformer.virual_tracks") t.set_requires_grad(trainable);
      }
    };
    const at::Tensor fast = net.update_transformer(x);
    mark(false, true);
    const at::Tensor plain = net.update_transformer(x);
    mark(false, false);
    REQUIRE(fast.sizes() == plain.sizes());
    const double diff = (fast - plain).abs().max().item<double>();
    MESSAGE("fp32: max |shortcut - plain| = " << diff << " of " << plain.abs().max().item<double>());
    CHECK(diff < 1e-4);
    if (!cotrack::cpu_has_bf16()) {
      MESSAGE("bf16 part skipped: this CPU has no bf16 instructions");
      return;
    }
    const cotrack::Bf16Autocast autocast(true, at::kCPU);
    // Weights cast once are the weights autocast casts on every call: the same output, exactly.
    mark(false, true);
    const at::Tensor cached = net.update_transformer(x);
    mark(true, true);
    const at::Tensor per_call = net.update_transformer(x);
    mark(true, false);
    CHECK(at::equal(cached, per_call));
    // The constant virtual tracks come from fp32: within bf16's rounding of the plain bf16 pass.
    const at::Tensor fast_bf16 = net.update_transformer(x);
    REQUIRE((fast_bf16.scalar_type() == per_call.scalar_type()));
    const double diff_bf16 = (fast_bf16 - per_call).abs().max().item<double>();
    const double bf16_error = (per_call.to(at::kFloat) - plain).abs().max().item<double>();
    MESSAGE("bf16: max |shortcut - plain| = " << diff_bf16 << ", bf16 against fp32: " << bf16_error);
    CHECK(diff_bf16 < 2 * bf16_error);
    CHECK(diff_bf16 > 0);
  }
}
