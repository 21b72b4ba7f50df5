// EngineConfig's parsing and validation: torch-free, so every program and the pipeline can check
// settings without LibTorch.
#include <fmt/format.h>

#include <string>

#include "cotrack/engine.hpp"
#include "cotrack/error.hpp"

namespace cotrack {

EngineMode parse_engine_mode(const std::string& name) {
  if (name == "exact") return EngineMode::kExact;
  if (name == "low-latency") return EngineMode::kLowLatency;
  throw UsageError(fmt::format("mode '{}': expected exact or low-latency", name));
}

const char* to_string(EngineMode mode) {
  return mode == EngineMode::kExact ? "exact" : "low-latency";
}

void EngineConfig::validate() const {
  auto bad = [](const std::string& what) { throw UsageError("engine: " + what); };
  if (step < 0) bad(fmt::format("step must be >= 0, got {}", step));
  if (iters < 0 || iters > 64) bad(fmt::format("iters must be in 0..64, got {}", iters));
  if (max_points < 1 || max_points > 100000) {
    bad(fmt::format("max_points must be in 1..100000, got {}", max_points));
  }
  if (support_grid < 0 || support_grid > 32) {
    bad(fmt::format("support_grid must be in 0..32, got {}", support_grid));
  }
  if (local_grid < 0 || local_grid > 16) {
    bad(fmt::format("local_grid must be in 0..16, got {}", local_grid));
  }
  if (!(visibility_threshold >= 0 && visibility_threshold <= 1)) {
    bad(fmt::format("visibility_threshold must be in [0, 1], got {}", visibility_threshold));
  }
  if (!(confidence_weight >= 0 && confidence_weight <= 1)) {
    bad(fmt::format("confidence_weight must be in [0, 1], got {}", confidence_weight));
  }
  if (trail_frames < 1 || trail_frames > 100000) {
    bad(fmt::format("trail_frames must be in 1..100000, got {}", trail_frames));
  }
  if (!(max_outside >= 0 && max_outside <= 10)) {
    bad(fmt::format("max_outside must be in [0, 10], got {}", max_outside));
  }
}

}  // namespace cotrack
