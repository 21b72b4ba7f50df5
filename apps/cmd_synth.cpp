#include <fmt/format.h>

#include <memory>

#include "commands.hpp"
#include "cotrack/photo_bank.hpp"
#include "cotrack/synth.hpp"

namespace cotrack::app {

Command add_synth(CLI::App& app) {
  struct Options {
    uint64_t seed = 1;
    std::string out;
    std::string motion = "full";
    std::string photos;
    SynthParams params;
  };
  auto o = std::make_shared<Options>();
  Command c;
  c.sub = app.add_subcommand(
      "synth", "Write a synthetic clip with exact ground truth (frames/, gt.csv, points.csv)");
  c.sub->add_option("--seed", o->seed, "clip seed")->capture_default_str();
  c.sub->add_option("--out", o->out, "output folder")->required();
  c.sub->add_option("--frames", o->params.frames, "frames")->capture_default_str();
  c.sub->add_option("--width", o->params.width, "width")->capture_default_str();
  c.sub->add_option("--height", o->params.height, "height")->capture_default_str();
  c.sub->add_option("--points", o->params.num_points, "ground-truth tracks")
      ->capture_default_str();
  c.sub->add_option("--motion", o->motion, "translation, affine or full")->capture_default_str();
  c.sub->add_option("--max-speed", o->params.max_speed_px, "largest motion, pixels a frame")
      ->capture_default_str();
  c.sub
      ->add_option("--deform-fraction", o->params.deform_fraction,
                   "share of objects that deform non-rigidly")
      ->capture_default_str();
  c.sub
      ->add_option("--articulated-fraction", o->params.articulated_fraction,
                   "share of objects with a swinging limb of 1-3 segments")
      ->capture_default_str();
  c.sub
      ->add_option("--motion-blur-fraction", o->params.motion_blur_fraction,
                   "probability of motion blur (shutter open 30-100% of a frame)")
      ->capture_default_str();
  c.sub
      ->add_option("--follow-fraction", o->params.follow_fraction,
                   "probability that the camera follows the front object (a fast pan behind a "
                   "slow, large subject)")
      ->capture_default_str();
  c.sub->add_option("--photos", o->photos,
                    "texture the clip with the photographs in this folder (JPEG, PNG, PPM)");
  c.run = [o] {
    o->params.motion = parse_synth_motion(o->motion);
    if (!o->photos.empty()) o->params.photos = PhotoBank::load(o->photos);
    write_clip(generate_clip(o->params, o->seed), o->out);
    fmt::print("wrote {} ({} frames {}x{}, {} points)\n", o->out, o->params.frames,
               o->params.width, o->params.height, o->params.num_points);
    return 0;
  };
  return c;
}

}  // namespace cotrack::app
