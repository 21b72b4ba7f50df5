// Shared helpers for the torch-linked tests. Include this instead of doctest directly:
// torch headers define glog-style CHECK macros that collide with doctest's.
#pragma once

#include <ATen/ATen.h>
#include <torch/csrc/api/include/torch/serialize.h>

#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LT
#undef CHECK_LE
#undef CHECK_GT
#undef CHECK_GE

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace cotrack::test {

// The fixtures folder: $COTRACK_FIXTURES, else ../shared/fixtures next to the repository.
inline std::filesystem::path fixtures_dir() {
  if (const char* env = std::getenv("COTRACK_FIXTURES"); env && *env) return env;
  return COTRACK_FIXTURES_DEFAULT;
}

inline bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

// Returns the fixture's path, or "" when it is missing: then the calling test should return
// early (skipped, with a message). Under CI=true a missing fixture fails the test instead.
inline std::string fixture_or_skip(const std::string& relative) {
  auto path = fixtures_dir() / relative;
  if (std::filesystem::exists(path)) return path.string();
  if (running_in_ci()) {
    FAIL("fixture missing under CI=true: " << path.string() << " (set COTRACK_FIXTURES)");
  } else {
    MESSAGE("skipped: fixture not found: " << path.string() << " (set COTRACK_FIXTURES)");
  }
  return "";
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Loads a plain-dict .pt fixture written by Python (stock torch::pickle_load handles those).
inline c10::Dict<c10::IValue, c10::IValue> load_fixture_dict(const std::string& path) {
  std::string bytes = read_file(path);
  std::vector<char> data(bytes.begin(), bytes.end());
  return torch::pickle_load(data).toGenericDict();
}

inline at::Tensor get(const c10::Dict<c10::IValue, c10::IValue>& d, const std::string& key) {
  auto it = d.find(c10::IValue(key));
  REQUIRE_MESSAGE(it != d.end(), "fixture key missing: " << key);
  return it->value().toTensor();
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  REQUIRE_MESSAGE(a.sizes() == b.sizes(), "shape mismatch " << a.sizes() << " vs " << b.sizes());
  if (a.numel() == 0) return 0.0;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

}  // namespace cotrack::test
