// The engine settings shared by `cotrack live`, `track`, `eval` and `cotrack-bench`: one table of
// options with their defaults written once, validated by the parser, and one conversion to the
// engine's EngineConfig. Each command states only what differs for it (EngineOptions::Defaults).
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "cotrack/engine.hpp"
#include "cotrack/model.hpp"
#include "cotrack/tracker.hpp"

namespace cotrack::app {

struct EngineOptions {
  // What a command starts from and which optional settings it offers.
  struct Defaults {
    std::string mode = "exact";
    int low_latency_step = 1;   // the window step --mode low-latency uses unless --step is given
    int low_latency_iters = 0;  // its iterations unless --iters is given (0: the model's)
    int max_points = 256;
    bool max_points_option = true;  // false: the command sets max_points itself (eval)
    bool local_grid_option = true;
    bool trail_option = false;       // live: --trail
    bool refine_option = false;      // live, eval: --refine and its settings (OpenCV build)
    bool precision_option = true;    // false: the command offers its own (cotrack-bench)
  };

  std::string mode;
  // fp32, bf16 or auto (resolve_precision: bf16 where supported, except for the official weights)
  std::string precision = "auto";
  // on, off or auto (resolve_motion_prior: cotrack's own models, not the official weights)
  std::string motion_prior = "auto";
  // on, off or auto (resolve_reacquire: cotrack's own models, not the official weights)
  std::string reacquire = "auto";
  int step = 0;   // 0: the mode's default (exact: window/2; low-latency: Defaults)
  int iters = 0;  // 0: the mode's default (exact: the model's; low-latency: Defaults)
  int max_points = 256;
  int support_grid = 0;
  int local_grid = 0;
  int trail = EngineConfig{}.trail_frames;
  double visibility_threshold = -1;  // < 0: the model's calibrated threshold
  double confidence_weight = -1;     // < 0: the model's
  // --refine: auto (cotrack's own models on large enough video: refines() in
  // refined_tracker.hpp), on (true) or off (false). Commands without the option: off.
  std::string refine = "auto";
  float refine_max_offset_px = 0.f;
  float refine_anchor_px = 0.f;
  bool refine_redetect = false;

  void add_to(CLI::App* sub, const Defaults& defaults);
  // The engine's settings for this model. Throws UsageError for settings that do not apply
  // (--step in exact mode).
  EngineConfig to_config(const Model& model) const;
  // The network tracker these options describe: an OnlineEngine (its windows through `batcher`
  // when given), wrapped in the Lucas-Kanade refinement when --refine is on, or auto with
  // cotrack's own model (OpenCV build; --refine on without it is a UsageError). The model must
  // outlive the tracker.
  std::unique_ptr<PointTracker> make_tracker(const Model& model,
                                             std::shared_ptr<WindowBatcher> batcher = nullptr) const;
  // Whether make_tracker wraps the engine in the refinement for this model.
  bool refines(const Model& model) const;
  // --refine as "on", "off" or "auto" (true and false are its other spellings).
  std::string refine_mode() const;
  // "exact", "low-latency, bf16", "exact, refined", "exact, refine auto" (when auto applies to
  // `model`; without a model, whenever auto is set): for logs and result labels.
  std::string label(const Model* model = nullptr) const;

 private:
  Defaults defaults_;
};

}  // namespace cotrack::app
