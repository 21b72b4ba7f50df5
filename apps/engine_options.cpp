#include "engine_options.hpp"

#include <fmt/format.h>

#include <utility>

#include "cotrack/error.hpp"
#include "cotrack/runtime.hpp"

#ifdef COTRACK_HAVE_PIPELINE
#include "refined_tracker.hpp"
#endif

namespace cotrack::app {

void EngineOptions::add_to(CLI::App* sub, const Defaults& defaults) {
  defaults_ = defaults;
  mode = defaults.mode;
  max_points = defaults.max_points;
  sub->add_option("--mode", mode, "cotrack engine: exact (the official semantics) or low-latency")
      ->check(CLI::IsMember({"exact", "low-latency"}))
      ->capture_default_str();
  sub->add_option("--step", step,
                  fmt::format("low-latency: frames between windows (0: {})",
                              defaults.low_latency_step))
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--iters", iters,
                  defaults.low_latency_iters > 0
                      ? fmt::format("refinement iterations per window (0: the model's; {} in "
                                    "low-latency mode)",
                                    defaults.low_latency_iters)
                      : std::string("refinement iterations per window (0: the model's)"))
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  if (defaults.precision_option) {
    sub->add_option("--precision", precision,
                    "the network's arithmetic: fp32, bf16 (CPUs with bf16 instructions, CUDA) or "
                    "auto (bf16 where supported, except for the official weights: fp32)")
        ->check(CLI::IsMember({"fp32", "bf16", "auto"}))
        ->capture_default_str();
  }
  sub->add_option("--motion-prior", motion_prior,
                  "new frames start each visible point where its neighbourhood moved (pans, fast "
                  "objects): on, off or auto (cotrack's own models; the official weights keep the "
                  "official semantics)")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  sub->add_option("--reacquire", reacquire,
                  "a point that no longer looks like its query, while one place of the frame "
                  "clearly does, continues from there (drift, occlusions, points coming back): "
                  "on, off or auto (cotrack's own models; the official weights keep the "
                  "official semantics)")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  sub->add_option("--visibility-threshold", visibility_threshold,
                  "visible when visibility * confidence^W exceeds this (default: the model's "
                  "calibrated threshold, else 0.6)")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--confidence-weight", confidence_weight,
                  "visible when visibility * confidence^W exceeds the threshold: 1 is the official "
                  "rule, 0 the visibility alone (default: the model's, else 1)")
      ->check(CLI::Range(0.0, 1.0));
  if (defaults.max_points_option) {
    sub->add_option("--max-points", max_points, "points at once")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
  }
  sub->add_option("--support-grid", support_grid,
                  "N x N support points tracked jointly with the points, not output")
      ->check(CLI::Range(0, 32))
      ->capture_default_str();
  if (defaults.local_grid_option) {
    sub->add_option("--local-grid", local_grid, "N x N support points around each point")
        ->check(CLI::Range(0, 16))
        ->capture_default_str();
  }
  if (defaults.trail_option) {
    sub->add_option("--trail", trail, "trail length in frames")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
  }
  if (!defaults.refine_option) {
    refine = "off";
    return;
  }
#ifdef COTRACK_HAVE_PIPELINE
  refine_anchor_px = RefineConfig{}.anchor_max_px;
  refine_redetect = RefineConfig{}.redetect;
  const std::string automatic = fmt::format(
      "cotrack's own models, on video of at least {:g}x the model input's pixels",
      kAutoRefineMinPixelRatio);
#else
  const std::string automatic = "off in this build without OpenCV";
#endif
  // An option that may stand alone (`--refine` means on) and takes its value as the next
  // argument too (`--refine off`), as the docs write it.
  sub->add_option("--refine", refine,
                  "Lucas-Kanade at full resolution refines the network's estimates: on (true), "
                  "off (false) or auto (" + automatic + "); default auto; alone: on")
      ->expected(0, 1)
      ->default_str("on")
      ->option_text("[auto|on|off]")
      ->check(CLI::IsMember({"auto", "on", "off", "true", "false"}));
  sub->add_option("--refine-max-offset", refine_max_offset_px,
                  "largest distance LK may move a point from the network's estimate, video "
                  "pixels (0 = no limit)")
      ->capture_default_str();
  sub->add_option("--refine-anchor", refine_anchor_px,
                  "largest correction of a refined point by LK against its query frame, video "
                  "pixels (0 = off)")
      ->capture_default_str();
  sub->add_option("--refine-redetect", refine_redetect,
                  "also match the query frame at the network's estimate and keep the better match")
      ->capture_default_str();
}

EngineConfig EngineOptions::to_config(const Model& model) const {
  EngineConfig ec;
  ec.mode = parse_engine_mode(mode);
  if (ec.mode == EngineMode::kExact) {
    if (step != 0) {
      throw UsageError(fmt::format("--step {}: exact mode steps by half a window ({} frames); "
                                   "--step applies to --mode low-latency",
                                   step, model.config().step()));
    }
    ec.iters = iters;
  } else {
    ec.step = step > 0 ? step : defaults_.low_latency_step;
    ec.iters = iters > 0 ? iters : defaults_.low_latency_iters;
  }
  ec.max_points = max_points;
  ec.support_grid = support_grid;
  ec.local_grid = local_grid;
  ec.trail_frames = trail;
  ec.visibility_threshold =
      visibility_threshold >= 0 ? visibility_threshold : model.default_visibility_threshold();
  ec.confidence_weight =
      confidence_weight >= 0 ? confidence_weight : model.default_confidence_weight();
  ec.precision = resolve_precision(precision, model);
  ec.motion_prior = resolve_motion_prior(motion_prior, model);
  ec.reacquire = resolve_reacquire(reacquire, model);
  ec.validate();
  return ec;
}

std::string EngineOptions::refine_mode() const {
  if (refine == "true") return "on";
  if (refine == "false") return "off";
  return refine;
}

bool EngineOptions::refines(const Model& model) const {
#ifdef COTRACK_HAVE_PIPELINE
  return cotrack::refines(refine_mode(), model);
#else
  (void)model;
  return refine_mode() == "on";  // make_tracker refuses it; auto: the engine alone
#endif
}

std::unique_ptr<PointTracker> EngineOptions::make_tracker(
    const Model& model, std::shared_ptr<WindowBatcher> batcher) const {
  auto engine = std::make_unique<OnlineEngine>(model, to_config(model));
  engine->set_window_batcher(std::move(batcher));
#ifdef COTRACK_HAVE_PIPELINE
  RefineConfig rc;
  rc.max_offset_px = refine_max_offset_px;
  rc.anchor_max_px = refine_anchor_px;
  rc.redetect = refine_redetect;
  return refine_as(refine_mode(), std::move(engine), model, rc);
#else
  if (refines(model)) throw UsageError("--refine needs the OpenCV build (COTRACK_PIPELINE=ON)");
  return engine;
#endif
}

std::string EngineOptions::label(const Model* model) const {
  const bool on = refine_mode() == "on";
  const bool automatic = refine == "auto" && (model == nullptr || refines(*model));
  // With a model, the precision it resolves to; without, the setting unless it is fp32.
  const std::string arithmetic = model ? to_string(resolve_precision(precision, *model)) : precision;
  return mode + (arithmetic == "fp32" ? "" : ", " + arithmetic) +
         (on ? ", refined" : automatic ? ", refine auto" : "");
}

}  // namespace cotrack::app
