// Reading and writing `torch.save` zip checkpoints without running Python pickles.
//
// Internal header (includes ATen): the pipeline and apps use cotrack/model.hpp instead. The parts,
// next to this file: zip.cpp (the record index), unpickler.cpp (the restricted unpickler),
// reader.cpp and writer.cpp; common.hpp, zip.hpp and unpickler.hpp declare what they share.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace cotrack {

// One scalar metadata value stored next to the weights in cotrack's own model files.
struct MetaValue {
  enum class Kind { kString, kInt, kFloat, kBool } kind = Kind::kString;
  std::string s;
  int64_t i = 0;
  double f = 0.0;
  bool b = false;
};

struct Checkpoint {
  // Tensors in file order, names with any "module." prefix removed. CPU tensors, contiguous,
  // owning their memory (never views of a shared storage that outlives the archive).
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  // Top-level non-tensor entries (cotrack's own files: "cotrack_format", "arch.*" ...).
  std::map<std::string, MetaValue> metadata;
  // Where the state dict was found: "" (top level), "model" or "state_dict".
  std::string state_dict_key;
};

// The "visibility_threshold" metadata entry: a number in [0, 1] written as text. `source` names
// the file in the error; anything else throws cotrack::ModelError.
double parse_visibility_threshold(const std::string& value, const std::string& source);
// The "confidence_weight" metadata entry, the same way.
double parse_confidence_weight(const std::string& value, const std::string& source);

// Reads a torch.save zip archive holding a state dict: an OrderedDict or dict of tensors,
// optionally under a "model" or "state_dict" key, optionally with "module." prefixes. A
// whitelisting pickle interpreter builds only dicts, lists, tuples, strings, numbers and tensors;
// any other global is rejected by name. Throws cotrack::ModelError whose message names the file
// and the problem.
Checkpoint read_checkpoint(const std::string& path);
// Same, from bytes in memory; `name` is used in error messages.
Checkpoint read_checkpoint_bytes(const std::string& bytes, const std::string& name);

// Writes cotrack's own format: a torch.save-compatible zip whose pickle is a dict
// {"cotrack_format": 1, <metadata entries>..., "state_dict": OrderedDict(name -> tensor)}.
// Python's torch.load reads it too. Tensors are written as float32/float16/bfloat16/int64 as given.
void write_checkpoint(const std::string& path,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, MetaValue>& metadata);
std::string write_checkpoint_bytes(const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                                   const std::map<std::string, MetaValue>& metadata);

}  // namespace cotrack
