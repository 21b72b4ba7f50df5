// A loaded tracker model: architecture + read-only weights (torch-free public header).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cotrack/model_config.hpp"
#include "cotrack/runtime.hpp"

namespace cotrack {

class Network;

// What a model file holds, for `cotrack model-info` and logs.
struct ModelInfo {
  std::string path;
  std::string format;            // "official CoTracker3 state dict" or "cotrack model v1"
  std::string state_dict_key;    // "" or "model"/"state_dict" when the weights were nested
  ModelConfig config;
  int64_t tensor_count = 0;
  int64_t parameter_count = 0;   // learnable parameters (buffers such as time_emb excluded)
  int64_t stored_elements = 0;   // every stored element, buffers included
  std::string dtype;             // "float32" or e.g. "float16 (converted to float32)"
  std::vector<std::pair<std::string, std::string>> metadata;  // non-architecture entries
  // The weights' licence: the file's "license" entry (cotrack's own models: Apache-2.0), the
  // official CoTracker3 licence for an official state dict, else "not stated in the file".
  std::string license;
};

class Model {
 public:
  // Loads an official CoTracker3 online checkpoint (recognised by its keys; `resolution_hw`
  // overrides the model resolution, which the official file does not store) or a cotrack model
  // file (which carries its architecture). Every key and shape is checked and all mismatches are
  // reported at once. Throws ModelError.
  static Model load(const std::string& path);
  // A model with random weights (tests, benchmarks). Deterministic for a seed.
  static Model random(const ModelConfig& config, uint64_t seed);

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const ModelConfig& config() const;
  const ModelInfo& info() const;
  // The visibility threshold the model was calibrated for: its metadata entry
  // "visibility_threshold" (set by cotrack-train --visibility-threshold), else the official
  // rule's 0.6. The engine calls a point visible when visibility * confidence^w (below) exceeds
  // it.
  double default_visibility_threshold() const;
  // The weight of the confidence in that rule: a point is visible when
  // visibility * confidence^w exceeds the threshold. The metadata entry "confidence_weight" (set
  // by cotrack-train --confidence-weight), else the official rule's 1.
  double default_confidence_weight() const;
  // True for the official CoTracker3 weights and for random weights of the official
  // architecture: the models whose `auto` settings keep the official semantics (fp32 arithmetic,
  // no refinement). False for cotrack's own models.
  bool official_semantics() const;
  // Changes the input resolution (a run-time setting; it also scales the motion encoding).
  void set_resolution(int height, int width);
  // "cpu" or "cuda[:N]". Throws UsageError when the device is not available.
  void to_device(const std::string& device);
  std::string device() const;

  // Writes a cotrack model file (weights + architecture). Atomic: temp file then rename.
  void save(const std::string& path) const;

  // Internal: the network, for the engine and tests (src/network.hpp).
  const Network& network() const;

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// resolve_precision (runtime.hpp) for `model`: on its device, and with auto keeping fp32 for a
// model with the official semantics.
Precision resolve_precision(const std::string& requested, const Model& model);
// Whether the engine's motion prior (EngineConfig::motion_prior) is on for the setting
// `requested` ("on", "off" or "auto"): auto is on for cotrack's own models and off for those with
// the official semantics, whose exact mode stays the official code's. UsageError otherwise.
bool resolve_motion_prior(const std::string& requested, const Model& model);
// Whether the engine re-acquires lost points (EngineConfig::reacquire) for `requested` ("on",
// "off" or "auto"): auto as for the motion prior. UsageError otherwise.
bool resolve_reacquire(const std::string& requested, const Model& model);

// Reads and validates a model file without building the network (`cotrack model-info`).
ModelInfo inspect_model(const std::string& path);

}  // namespace cotrack
