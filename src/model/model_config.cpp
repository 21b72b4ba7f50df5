#include "cotrack/model_config.hpp"

#include <fmt/format.h>

#include <charconv>
#include <map>
#include <functional>

#include "cotrack/error.hpp"

namespace cotrack {
namespace {

// One table drives to_pairs, from_pairs and validation of the integer fields.
struct IntField {
  const char* name;
  int ModelConfig::*member;
  int min_value;
  int max_value;
};

constexpr IntField kIntFields[] = {
    {"stride", &ModelConfig::stride, 1, 64},
    {"latent_dim", &ModelConfig::latent_dim, 8, 4096},
    {"corr_radius", &ModelConfig::corr_radius, 1, 8},
    {"corr_levels", &ModelConfig::corr_levels, 1, 8},
    {"corr_hidden", &ModelConfig::corr_hidden, 1, 16384},
    {"corr_out", &ModelConfig::corr_out, 1, 16384},
    {"hidden_size", &ModelConfig::hidden_size, 8, 16384},
    {"num_heads", &ModelConfig::num_heads, 1, 256},
    {"time_depth", &ModelConfig::time_depth, 1, 64},
    {"space_depth", &ModelConfig::space_depth, 0, 64},
    {"num_virtual_tracks", &ModelConfig::num_virtual_tracks, 0, 4096},
    {"mlp_ratio", &ModelConfig::mlp_ratio, 1, 16},
    {"window_len", &ModelConfig::window_len, 2, 1024},
    {"posenc_degrees", &ModelConfig::posenc_degrees, 1, 32},
    {"model_height", &ModelConfig::model_height, 8, 16384},
    {"model_width", &ModelConfig::model_width, 8, 16384},
    {"iters", &ModelConfig::iters, 1, 64},
};

int parse_int(const std::string& key, const std::string& text) {
  int value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) {
    throw UsageError(fmt::format("model config: '{}' must be an integer, got '{}'", key, text));
  }
  return value;
}

}  // namespace

void ModelConfig::validate() const {
  for (const auto& f : kIntFields) {
    const int v = this->*f.member;
    if (v < f.min_value || v > f.max_value) {
      throw UsageError(fmt::format("model config: {} = {} is out of range [{}, {}]", f.name, v,
                                   f.min_value, f.max_value));
    }
  }
  if (hidden_size % num_heads != 0) {
    throw UsageError(fmt::format("model config: hidden_size {} is not divisible by num_heads {}",
                                 hidden_size, num_heads));
  }
  if (latent_dim % 4 != 0) {
    throw UsageError(fmt::format("model config: latent_dim {} must be a multiple of 4", latent_dim));
  }
  if (window_len % 2 != 0) {
    throw UsageError(fmt::format("model config: window_len {} must be even", window_len));
  }
  if (space_depth > 0 && time_depth % space_depth != 0) {
    throw UsageError(fmt::format("model config: time_depth {} must be a multiple of space_depth {}",
                                 time_depth, space_depth));
  }
  const int min_side = stride * (1 << (corr_levels - 1));
  if (model_height % stride != 0 || model_width % stride != 0 || model_height < min_side ||
      model_width < min_side) {
    throw UsageError(fmt::format(
        "model config: resolution {}x{} must be a multiple of {} and at least {} per side",
        model_height, model_width, stride, min_side));
  }
}

std::string ModelConfig::summary() const {
  return fmt::format(
      "{}: {}x{}, window {} (step {}), latent {}, corr r{} x{} levels, transformer {}x{} heads "
      "{}+{} blocks, {}, {} iters",
      preset, model_height, model_width, window_len, step(), latent_dim, corr_radius, corr_levels,
      hidden_size, num_heads, time_depth, space_depth,
      num_virtual_tracks > 0 ? fmt::format("{} virtual tracks", num_virtual_tracks)
                             : std::string("group attention"),
      iters);
}

std::vector<std::pair<std::string, std::string>> ModelConfig::to_pairs() const {
  std::vector<std::pair<std::string, std::string>> out;
  out.emplace_back("preset", preset);
  for (const auto& f : kIntFields) out.emplace_back(f.name, std::to_string(this->*f.member));
  return out;
}

ModelConfig ModelConfig::from_pairs(const std::vector<std::pair<std::string, std::string>>& pairs) {
  ModelConfig config;
  for (const auto& [key, value] : pairs) {
    if (key == "preset") {
      config.preset = value;
      continue;
    }
    bool found = false;
    for (const auto& f : kIntFields) {
      if (key == f.name) {
        config.*f.member = parse_int(key, value);
        found = true;
        break;
      }
    }
    if (!found) throw UsageError(fmt::format("model config: unknown key '{}'", key));
  }
  config.validate();
  return config;
}

std::vector<std::string> ModelConfig::preset_names() {
  return {"cotracker3-online", "cotrack-small", "cotrack-small-group"};
}

ModelConfig ModelConfig::preset_named(const std::string& name) {
  if (name == "cotracker3-online") return ModelConfig{};
  if (name == "cotrack-small") {
    // Sized for CPU real time: 128x128 input, 48 feature channels, 5x5 correlation at 3 levels,
    // a 96-wide transformer with 2 time + 2 space blocks over 16 virtual tracks, window 8.
    ModelConfig c;
    c.preset = name;
    c.latent_dim = 48;
    c.corr_radius = 2;
    c.corr_levels = 3;
    c.corr_hidden = 96;
    c.corr_out = 48;
    c.hidden_size = 96;
    c.num_heads = 4;
    c.time_depth = 2;
    c.space_depth = 2;
    c.num_virtual_tracks = 16;
    c.window_len = 8;
    c.model_height = 128;
    c.model_width = 128;
    c.iters = 4;
    return c;
  }
  if (name == "cotrack-small-group") {
    // cotrack-small with the CoTracker paper's group attention: each space block is one
    // self-attention over all tracks (num_virtual_tracks = 0) instead of three blocks routed
    // through virtual tracks. With tens of points it is as cheap, and a third of the weights.
    ModelConfig c = preset_named("cotrack-small");
    c.preset = name;
    c.num_virtual_tracks = 0;
    return c;
  }
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw UsageError(fmt::format("unknown model preset '{}' (known: {})", name, known));
}

}  // namespace cotrack
