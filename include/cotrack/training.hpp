// Training cotrack's own model on synthetic clips (torch-free header; the work is in src/).
//
// The recipe is CoTracker3's: sliding windows unrolled over a longer clip, each initialised from
// the previous window's estimates; the loss sums over windows and refinement iterations with a
// discount gamma^(iters-1-i): Huber on visible points' coordinates, a lighter L1 on occluded
// ones, BCE on visibility, and BCE on confidence whose target is "error below a threshold".
// Distances are measured in pixels of a 512-wide frame, as the official recipe's thresholds are.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "cotrack/model_config.hpp"

namespace cotrack {

struct TrainConfig {
  std::string preset = "cotrack-small";  // architecture, unless `init` names a model file
  std::string init;                      // optional model file to start from
  // Model input resolution to train at (0: the preset's, the init model's or, on resume, the
  // checkpoint's). Clips are rendered at it, and the checkpoint records it as the model's own.
  int height = 0, width = 0;
  std::string out_dir = "runs/train";    // checkpoint.ckpt, model.cotrack, log.jsonl
  int64_t steps = 20000;
  int clip_frames = 24;        // window_len + k * step
  // Long clips: a share long_fraction of the steps use clips of long_clip_frames frames (also
  // window_len + k * step), so the unrolled windows learn what happens 30+ frames from a query.
  int long_clip_frames = 0;    // 0: every clip has clip_frames
  double long_fraction = 0.0;  // in [0, 1]
  // Real photographs (a folder of JPEG/PNG/PPM, see photo_bank.hpp) as textures for a share
  // photo_fraction of the clips; the rest keep the procedural textures.
  std::string photos;
  double photo_fraction = 0.75;  // in [0, 1]
  // Shares of objects that deform non-rigidly and of clips with motion blur
  // (SynthParams::deform_fraction, motion_blur_fraction): what real cameras film.
  double deform_fraction = 0.0;       // in [0, 1]
  double articulated_fraction = 0.0;  // in [0, 1]: SynthParams::articulated_fraction
  double motion_blur_fraction = 0.0;  // in [0, 1]
  double follow_fraction = 0.0;       // in [0, 1]: SynthParams::follow_fraction
  int prefetch = 2;              // clips generated ahead of time in background threads
  // "fp32", or "bf16": the forward pass under autocast (bf16 matrix work, fp32 weights, AdamW
  // state and loss), on CPUs with bf16 instructions and on CUDA.
  std::string precision = "fp32";
  // Bound on every layer's motion per frame, in pixels of a 256-wide frame, drawn per clip
  // log-uniformly in [min_speed, max_speed]: live cameras pan and shake faster than the 4 px a
  // frame of the procedural benchmark.
  double min_speed = 4.0, max_speed = 4.0;
  // Start each window's new frames from the engine's motion prior (EngineConfig::motion_prior),
  // as inference with cotrack's own models does, instead of from the last estimate.
  bool motion_prior = false;
  int points = 48;             // ground-truth tracks per clip
  int batch = 1;               // clips per step, run as the network's batch (equal lengths)
  int iters = 4;               // refinement iterations in training
  double lr = 5e-4;            // peak learning rate (AdamW)
  double weight_decay = 1e-4;
  double warmup_fraction = 0.05;  // linear warm-up, then constant ...
  double decay_fraction = 0.2;    // ... then cosine decay to zero over the last fraction
  double grad_clip = 1.0;      // max global gradient norm
  double gamma = 0.8;          // iteration discount
  double huber_delta_px = 6.0;      // in 512-wide pixels
  double conf_threshold_px = 12.0;  // in 512-wide pixels
  double coord_weight = 0.05, occluded_weight = 0.01, vis_weight = 1.0, conf_weight = 1.0;
  // Curriculum: translation-only clips until this fraction of the steps, affine until the next.
  double translation_until = 0.15, affine_until = 0.35;
  uint64_t seed = 1;
  int threads = 1;
  std::string device = "auto";
  int log_every = 10;
  int save_every = 100;
  int keep_every = 0;  // also keep out_dir/model-step-N.cotrack every N steps (0: never), for curves
  double max_minutes = 0;  // stop (after saving) when this wall time is reached; 0 = no limit
  // Learning-rate schedule by wall time: the schedule's position moves from the resumed step to
  // `steps` over max_minutes, however many steps fit, so a time-boxed run (a GPU lease) ends its
  // cosine decay when its time ends. Needs max_minutes > 0.
  bool time_schedule = false;
  // Calibrated visibility threshold written into the checkpoint and the exported model
  // (metadata "visibility_threshold", the commands' default); < 0 keeps the checkpoint's.
  double visibility_threshold = -1;
  // The weight of the confidence in the visibility rule, stored the same way (metadata
  // "confidence_weight"); < 0 keeps the checkpoint's.
  double confidence_weight = -1;
};

struct TrainStepStats {
  int64_t step = 0;  // the step this was (0-based)
  double loss = 0, coord = 0, occluded = 0, vis = 0, conf = 0;
  double error_px = 0;  // mean final-iteration error on visible valid points, model pixels
  double vis_accuracy = 0;
  double grad_norm = 0;
  double lr = 0;
};

// Owns the model, the optimiser state and the data stream. Call from one thread.
class Trainer {
 public:
  explicit Trainer(const TrainConfig& config);
  // Restores weights, optimiser state, step and config from a checkpoint written by save().
  static Trainer resume(const std::string& checkpoint_path, const TrainConfig& overrides);
  Trainer(Trainer&&) noexcept;
  Trainer& operator=(Trainer&&) noexcept;
  ~Trainer();

  // One optimisation step on the clip of the current step (deterministic in seed and step).
  TrainStepStats step();
  // Loss of the current weights on the clip that step `data_step` uses, without updating.
  TrainStepStats evaluate(int64_t data_step) const;
  int64_t current_step() const;
  // Places the learning-rate schedule at `position` (a fractional step) instead of the current
  // step, for time-based schedules; a negative value goes back to the step.
  void set_schedule_position(double position);
  // The checkpoint (weights + AdamW moments + step), atomically replaced.
  void save(const std::string& checkpoint_path) const;
  // The model alone, as a cotrack model file.
  void export_model(const std::string& model_path) const;
  const TrainConfig& config() const;
  const ModelConfig& model_config() const;

 private:
  struct Impl;
  explicit Trainer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The cotrack-train program's loop: resumes from out_dir/checkpoint.ckpt when present, logs a
// progress line to stderr and JSON lines to out_dir/log.jsonl, saves every save_every steps.
int run_training(const TrainConfig& config);

}  // namespace cotrack
