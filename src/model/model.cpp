#include "cotrack/model.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <cstdlib>

#include <cmath>
#include <map>
#include <set>

#include "model/checkpoint/checkpoint.hpp"
#include "cotrack/error.hpp"
#include "model/network.hpp"

namespace cotrack {
namespace {

constexpr const char* kArchPrefix = "arch.";

std::string shape_str(at::IntArrayRef s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + ")";
}

std::string join_limited(const std::vector<std::string>& items, size_t limit) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < limit; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > limit) out += fmt::format(" and {} more", items.size() - limit);
  return out;
}

bool is_learnable(const std::string& name) { return name != "time_emb"; }

struct Validated {
  ModelConfig config;
  ModelInfo info;
  std::vector<std::pair<std::string, at::Tensor>> tensors;  // expected order, float32
};

// Checks names and shapes against the architecture and reports every mismatch in one line.
Validated validate(const std::string& path, Checkpoint ckpt) {
  Validated v;
  v.info.path = path;
  v.info.state_dict_key = ckpt.state_dict_key;
  std::vector<std::pair<std::string, std::string>> arch;
  const bool ours = ckpt.metadata.count("cotrack_format") > 0;
  for (const auto& [key, value] : ckpt.metadata) {
    std::string text;
    switch (value.kind) {
      case MetaValue::Kind::kString:
        text = value.s;
        break;
      case MetaValue::Kind::kInt:
        text = std::to_string(value.i);
        break;
      case MetaValue::Kind::kFloat:
        text = fmt::format("{}", value.f);
        break;
      case MetaValue::Kind::kBool:
        text = value.b ? "true" : "false";
        break;
    }
    if (key.rfind(kArchPrefix, 0) == 0) {
      arch.emplace_back(key.substr(std::string(kArchPrefix).size()), text);
    } else if (key == "license") {
      v.info.license = text;
    } else if (key != "cotrack_format" && key.rfind("train.", 0) != 0) {
      v.info.metadata.emplace_back(key, text);
    }
  }
  // A cotrack-train checkpoint: the weights are the "model." entries; optimiser state is skipped.
  const auto step = ckpt.metadata.find("train.step");
  if (ours && step != ckpt.metadata.end()) {
    std::vector<std::pair<std::string, at::Tensor>> weights;
    for (auto& [name, t] : ckpt.tensors) {
      if (name.rfind("model.", 0) == 0) weights.emplace_back(name.substr(6), t);
    }
    ckpt.tensors = std::move(weights);
    v.info.metadata.emplace_back("trained_steps", std::to_string(step->second.i));
  }
  if (ours) {
    if (arch.empty()) {
      throw ModelError(fmt::format("{}: cotrack model file without architecture entries", path));
    }
    if (ckpt.metadata.at("cotrack_format").kind != MetaValue::Kind::kInt ||
        ckpt.metadata.at("cotrack_format").i != 1) {
      throw ModelError(fmt::format("{}: unsupported cotrack model format version", path));
    }
    try {
      v.config = ModelConfig::from_pairs(arch);
    } catch (const UsageError& e) {
      throw ModelError(fmt::format("{}: bad architecture entry: {}", path, e.what()));
    }
    v.info.format =
        step != ckpt.metadata.end() ? "cotrack training checkpoint" : "cotrack model v1";
  } else {
    v.config = ModelConfig::preset_named("cotracker3-online");
    v.info.format = "official CoTracker3 online state dict";
    if (v.info.license.empty()) {
      v.info.license = "CC-BY-NC-4.0 (the official CoTracker3 weights: non-commercial use only)";
    }
  }
  if (v.info.license.empty()) v.info.license = "not stated in the file";

  std::map<std::string, at::Tensor> by_name;
  std::vector<std::string> duplicates;
  for (auto& [name, t] : ckpt.tensors) {
    if (!by_name.emplace(name, t).second) duplicates.push_back(name);
  }
  const auto expected = expected_parameters(v.config);
  std::vector<std::string> missing, wrong_shape, unexpected;
  std::set<std::string> expected_names;
  std::set<std::string> dtypes;
  for (const auto& [name, shape] : expected) {
    expected_names.insert(name);
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      missing.push_back(name);
      continue;
    }
    const at::Tensor& t = it->second;
    if (t.sizes() != at::IntArrayRef(shape)) {
      wrong_shape.push_back(
          fmt::format("{} is {} (expected {})", name, shape_str(t.sizes()), shape_str(shape)));
      continue;
    }
    if (!at::isFloatingType(t.scalar_type())) {
      wrong_shape.push_back(fmt::format("{} has non-float dtype {}", name,
                                        std::string(c10::toString(t.scalar_type()))));
      continue;
    }
    dtypes.insert(c10::toString(t.scalar_type()));
    at::Tensor f = t.to(at::kFloat).contiguous();
    if (!at::isfinite(f).all().item<bool>()) {
      wrong_shape.push_back(fmt::format("{} holds NaN or Inf", name));
      continue;
    }
    v.tensors.emplace_back(name, f);
    v.info.stored_elements += f.numel();
    if (is_learnable(name)) v.info.parameter_count += f.numel();
  }
  for (const auto& [name, t] : ckpt.tensors) {
    if (!expected_names.count(name)) unexpected.push_back(name);
  }
  if (!missing.empty() || !wrong_shape.empty() || !unexpected.empty() || !duplicates.empty()) {
    std::vector<std::string> parts;
    if (!missing.empty()) parts.push_back(fmt::format("missing {}", join_limited(missing, 4)));
    if (!wrong_shape.empty()) parts.push_back(join_limited(wrong_shape, 4));
    if (!unexpected.empty()) {
      parts.push_back(fmt::format("unexpected {}", join_limited(unexpected, 4)));
    }
    if (!duplicates.empty()) {
      parts.push_back(fmt::format("duplicate {}", join_limited(duplicates, 4)));
    }
    throw ModelError(
        fmt::format("{}: does not match architecture {} ({} problems): {}", path, v.config.preset,
                    missing.size() + wrong_shape.size() + unexpected.size() + duplicates.size(),
                    join_limited(parts, parts.size())));
  }
  v.info.config = v.config;
  v.info.tensor_count = static_cast<int64_t>(v.tensors.size());
  std::string dtype_text;
  for (const auto& d : dtypes) dtype_text += (dtype_text.empty() ? "" : "+") + d;
  v.info.dtype = dtype_text == "Float" ? "float32" : dtype_text + " (converted to float32)";
  return v;
}

at::Device parse_device(const std::string& device) {
  try {
    at::Device d(device);
    if (d.is_cuda() && !at::hasCUDA()) {
      throw UsageError(fmt::format("device '{}': this build has no CUDA device available", device));
    }
    if (!d.is_cpu() && !d.is_cuda()) {
      throw UsageError(fmt::format("device '{}': only cpu and cuda are supported", device));
    }
    return d;
  } catch (const c10::Error&) {
    throw UsageError(
        fmt::format("device '{}' is not a valid device name (cpu, cuda, cuda:N)", device));
  }
}

}  // namespace

struct Model::Impl {
  ModelInfo info;
  std::unique_ptr<Network> net;
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

ModelInfo inspect_model(const std::string& path) {
  return validate(path, read_checkpoint(path)).info;
}

Model Model::load(const std::string& path) {
  Validated v = validate(path, read_checkpoint(path));
  auto impl = std::make_unique<Impl>();
  impl->info = v.info;
  impl->net = std::make_unique<Network>(v.config, v.tensors);
  return Model(std::move(impl));
}

Model Model::random(const ModelConfig& config, uint64_t seed) {
  config.validate();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& [name, shape] : expected_parameters(config)) {
    at::Tensor t;
    const bool is_bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (name == "time_emb") {
      t = sincos_time_embedding(config.window_len, config.input_dim());
    } else if (name.find("norm_context.weight") != std::string::npos) {
      t = at::ones(shape);
    } else if (is_bias) {
      t = at::zeros(shape);
    } else if (name == "updateformer.virual_tracks") {
      t = at::randn(shape, gen);
    } else if (shape.size() == 4) {  // conv: kaiming normal, fan_out, relu
      const double fan_out = static_cast<double>(shape[0] * shape[2] * shape[3]);
      t = at::randn(shape, gen) * std::sqrt(2.0 / fan_out);
    } else {  // linear: xavier uniform; heads small so that random models move points gently
      const double bound = std::sqrt(6.0 / static_cast<double>(shape[0] + shape[1]));
      t = (at::rand(shape, gen) * 2 - 1) * bound;
      if (name.find("_head.") != std::string::npos) t = t * 0.01;
    }
    tensors.emplace_back(name, t.to(at::kFloat).contiguous());
  }
  auto impl = std::make_unique<Impl>();
  impl->info.path = "<random>";
  impl->info.format = "random weights";
  impl->info.config = config;
  impl->info.tensor_count = static_cast<int64_t>(tensors.size());
  for (const auto& [name, t] : tensors) {
    impl->info.stored_elements += t.numel();
    if (is_learnable(name)) impl->info.parameter_count += t.numel();
  }
  impl->info.dtype = "float32";
  impl->net = std::make_unique<Network>(config, tensors);
  return Model(std::move(impl));
}

const ModelConfig& Model::config() const { return impl_->net->config(); }
const ModelInfo& Model::info() const { return impl_->info; }
Precision resolve_precision(const std::string& requested, const Model& model) {
  return resolve_precision(requested, model.device(), model.official_semantics());
}

namespace {
// on / off / auto, where auto is on for cotrack's own models only.
bool resolve_own_default(const std::string& requested, const Model& model, const char* what) {
  if (requested == "on") return true;
  if (requested == "off") return false;
  if (requested == "auto") return !model.official_semantics();
  throw UsageError(fmt::format("{} '{}': expected auto, on or off", what, requested));
}
}  // namespace

bool resolve_motion_prior(const std::string& requested, const Model& model) {
  return resolve_own_default(requested, model, "motion prior");
}

bool resolve_reacquire(const std::string& requested, const Model& model) {
  return resolve_own_default(requested, model, "reacquire");
}

bool Model::official_semantics() const {
  const std::string& format = impl_->info.format;
  return format.rfind("official", 0) == 0 ||
         (format == "random weights" && config().preset == "cotracker3-online");
}
const Network& Model::network() const { return *impl_->net; }
std::string Model::device() const { return impl_->net->device().str(); }

void Model::set_resolution(int height, int width) {
  ModelConfig c = impl_->net->config();
  c.model_height = height;
  c.model_width = width;
  c.validate();
  impl_->net = std::make_unique<Network>(c, impl_->net->named_tensors());
  impl_->info.config = c;
}

void Model::to_device(const std::string& device) {
  const at::Device d = parse_device(device);
  if (d == impl_->net->device()) return;
  impl_->net = std::make_unique<Network>(impl_->net->to(d));
}

void Model::save(const std::string& path) const {
  std::map<std::string, MetaValue> meta;  // the writer adds "cotrack_format"
  for (const auto& [key, value] : config().to_pairs()) {
    MetaValue m;
    m.kind = MetaValue::Kind::kString;
    m.s = value;
    meta[kArchPrefix + key] = m;
  }
  for (const auto& [key, value] : impl_->info.metadata) {
    MetaValue m;
    m.kind = MetaValue::Kind::kString;
    m.s = value;
    meta[key] = m;
  }
  std::vector<std::pair<std::string, at::Tensor>> cpu;
  for (const auto& [name, t] : impl_->net->named_tensors()) cpu.emplace_back(name, t.cpu());
  write_checkpoint(path, cpu, meta);
}

double Model::default_visibility_threshold() const {
  constexpr double kOfficialRule = 0.6;
  for (const auto& [key, value] : impl_->info.metadata) {
    if (key == "visibility_threshold") return parse_visibility_threshold(value, impl_->info.path);
  }
  return kOfficialRule;
}

double Model::default_confidence_weight() const {
  for (const auto& [key, value] : impl_->info.metadata) {
    if (key == "confidence_weight") return parse_confidence_weight(value, impl_->info.path);
  }
  return 1.0;
}

}  // namespace cotrack
