// cotrack-train: trains cotrack's own model on synthetic clips (see cotrack/training.hpp).
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <string>
#include <tuple>

#include "cotrack/error.hpp"
#include "cotrack/runtime.hpp"
#include "cotrack/training.hpp"
#include "guarded_main.hpp"
#include "resolution.hpp"

int main(int argc, char** argv) {
  cotrack::pick_blas_kernels(argv);
  cotrack::reuse_freed_memory();
  cotrack::TrainConfig c;
  CLI::App app{
      "cotrack-train: train cotrack's own point-tracking model on synthetic clips. "
      "Resumes from OUT/checkpoint.ckpt when it exists."};
  app.add_option("--preset", c.preset, "architecture to train")->capture_default_str();
  app.add_option("--init", c.init, "start from this model file instead of random weights");
  std::string resolution;
  app.add_option("--resolution", resolution,
                 "train at this model input resolution HxW (default: the model's; it is saved "
                 "as the model's own)");
  app.add_option("--out", c.out_dir, "output folder")->capture_default_str();
  app.add_option("--steps", c.steps, "total optimisation steps")->capture_default_str();
  app.add_option("--clip-frames", c.clip_frames, "frames per training clip")->capture_default_str();
  app.add_option("--long-clip-frames", c.long_clip_frames, "frames of the long clips (0: none)")
      ->capture_default_str();
  app.add_option("--long-fraction", c.long_fraction, "share of steps on long clips")
      ->capture_default_str();
  app.add_option("--photos", c.photos,
                 "folder of photographs to texture clips with (scripts/fetch_photos.sh)");
  app.add_option("--photo-fraction", c.photo_fraction, "share of clips textured from --photos")
      ->capture_default_str();
  app.add_option("--deform-fraction", c.deform_fraction,
                 "share of objects that bend and ripple (non-rigid deformation)")
      ->capture_default_str();
  app.add_option("--articulated-fraction", c.articulated_fraction,
                 "share of objects with a swinging limb of 1-3 segments (legs, arms)")
      ->capture_default_str();
  app.add_option("--follow-fraction", c.follow_fraction,
                 "share of clips whose camera follows the front object (a fast pan behind a "
                 "slow, large subject)")
      ->capture_default_str();
  app.add_option("--motion-blur-fraction", c.motion_blur_fraction,
                 "share of clips rendered with motion blur (shutter open 30-100% of a frame)")
      ->capture_default_str();
  app.add_option("--prefetch", c.prefetch, "clips generated ahead in background threads")
      ->capture_default_str();
  app.add_option("--min-speed", c.min_speed,
                 "slowest per-clip motion bound, pixels a frame at 256 wide")
      ->capture_default_str();
  app.add_option("--max-speed", c.max_speed,
                 "fastest per-clip motion bound (drawn log-uniformly between the two)")
      ->capture_default_str();
  app.add_flag("--motion-prior", c.motion_prior,
               "start each window's new frames where each point's neighbourhood moved (the "
               "engine's motion prior, on at inference for cotrack's own models) instead of at "
               "the last estimate");
  app.add_option("--precision", c.precision,
                 "fp32, or bf16: the forward pass in bf16 under autocast (weights and optimiser "
                 "state stay fp32)")
      ->capture_default_str();
  app.add_option("--points", c.points, "tracks per clip")->capture_default_str();
  app.add_option("--batch", c.batch,
                 "clips per step, run together as the network's batch (for GPUs; a step's clips "
                 "have the same length)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--iters", c.iters, "refinement iterations")->capture_default_str();
  app.add_option("--lr", c.lr, "peak learning rate")->capture_default_str();
  app.add_option("--weight-decay", c.weight_decay, "AdamW weight decay")->capture_default_str();
  app.add_option("--warmup", c.warmup_fraction, "fraction of steps of linear warm-up")
      ->capture_default_str();
  app.add_option("--decay", c.decay_fraction, "final fraction of steps with cosine decay")
      ->capture_default_str();
  app.add_option("--translation-until", c.translation_until,
                 "curriculum: translation-only clips until this fraction of the steps")
      ->capture_default_str();
  app.add_option("--affine-until", c.affine_until,
                 "curriculum: affine motion (no perspective) until this fraction")
      ->capture_default_str();
  app.add_option("--grad-clip", c.grad_clip, "max gradient norm")->capture_default_str();
  app.add_option("--seed", c.seed, "data and init seed")->capture_default_str();
  app.add_option("--threads", c.threads, "CPU threads (0 = all cores)")->capture_default_str();
  app.add_option("--device", c.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--log-every", c.log_every, "progress line every N steps")->capture_default_str();
  app.add_option("--save-every", c.save_every, "checkpoint every N steps")->capture_default_str();
  app.add_option("--keep-every", c.keep_every,
                 "also keep the model of every Nth step as OUT/model-step-N.cotrack (0: never)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--max-minutes", c.max_minutes, "stop (after saving) after this wall time")
      ->capture_default_str();
  app.add_option("--visibility-threshold", c.visibility_threshold,
                 "store this calibrated visibility threshold in the model (the commands' "
                 "default; -1 keeps the checkpoint's)")
      ->capture_default_str();
  app.add_option("--confidence-weight", c.confidence_weight,
                 "store this weight of the confidence in the visibility rule in the model "
                 "(visible when visibility * confidence^w exceeds the threshold; -1 keeps the "
                 "checkpoint's)")
      ->capture_default_str();
  app.add_flag("--time-schedule", c.time_schedule,
               "learning-rate schedule by wall time: from the resumed step to --steps over "
               "--max-minutes");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : static_cast<int>(cotrack::ExitCode::kUsage);
  }
  return cotrack::app::run_guarded("cotrack-train", [&] {
    if (!resolution.empty()) {
      std::tie(c.height, c.width) = cotrack::app::parse_resolution(resolution);
    }
    return cotrack::run_training(c);
  });
}
