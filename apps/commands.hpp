// The `cotrack` subcommands. Each adds itself to the CLI and returns the function that runs it;
// errors leave as cotrack::Error and become one line and an exit code in main().
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "cotrack/model.hpp"
#include "cotrack/synth.hpp"
#include "resolution.hpp"

namespace cotrack::app {

struct Command {
  CLI::App* sub = nullptr;
  std::function<int()> run;
};

Command add_model_info(CLI::App& app);
Command add_demo(CLI::App& app);
Command add_track(CLI::App& app);
Command add_synth(CLI::App& app);
Command add_eval(CLI::App& app);
#ifdef COTRACK_HAVE_PIPELINE
Command add_live(CLI::App& app);  // cmd_live.cpp: the live app (GStreamer, OpenCV)
#endif

// The shipped model's file name, and where the programs find it: $COTRACK_MODEL when set, else
// PREFIX/share/cotrack/models/ next to an installed program, else the source tree's models/.
constexpr const char* kDefaultModelName = "cotrack-small-v1.ckpt";
std::string default_model_path();

// The model options shared by the commands that run one.
struct ModelOptions {
  std::string path;
  std::string preset;  // set: random weights of this architecture instead of the default model
  std::string resolution;
  // The resolution a command gives cotrack's own models on a CPU when --resolution is not set
  // (live: a size that keeps camera rate); empty: the model's. The official weights keep theirs.
  std::string own_cpu_resolution;
  std::string device = "auto";
  int threads = 0;

  void add_to(CLI::App* sub);
  // Loads --model, else builds --preset with random weights (warning on stderr), else loads the
  // default model; applies resolution and device, and sets the thread count.
  Model load(const char* who) const;
};

// A frame source: fills rgb/width/height and returns true, or returns false at the end.
using FrameSource = std::function<bool(std::vector<uint8_t>&, int&, int&)>;
// A clip folder (PPM frames as `cotrack synth` writes) or, in the pipeline build, any video file
// or image folder OpenCV reads. `total` is set to the frame count, or -1 when unknown.
FrameSource open_input(const std::string& path, int64_t& total);

// A clip folder with ground truth (gt.csv, points.csv) whose frames are frames/*.ppm or, in the
// pipeline build, frames/*.png|jpg or a video file (video.mp4, .avi, .mkv, .mov, .webm) in it.
SynthClip load_clip(const std::string& dir);

}  // namespace cotrack::app
