// cotrack: the command-line entry point. Subcommands are small functions; errors become one
// line on stderr and a documented exit code (README.md, "Exit codes").
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "cotrack/error.hpp"
#include "cotrack/evaluation.hpp"
#include "cotrack/model.hpp"
#include "cotrack/runtime.hpp"
#include "cotrack/synth.hpp"
#include "cotrack/track.hpp"
#include "cotrack/track_io.hpp"

namespace {

using cotrack::ExitCode;

int run_model_info(const std::string& path) {
  const cotrack::ModelInfo info = cotrack::inspect_model(path);
  fmt::print("file:         {}\n", info.path);
  fmt::print("format:       {}{}\n", info.format,
             info.state_dict_key.empty() ? "" : fmt::format(" (under \"{}\")", info.state_dict_key));
  fmt::print("architecture: {}\n", info.config.summary());
  fmt::print("tensors:      {}\n", info.tensor_count);
  fmt::print("parameters:   {} ({} stored elements)\n", info.parameter_count, info.stored_elements);
  fmt::print("dtype:        {}\n", info.dtype);
  for (const auto& [key, value] : info.metadata) fmt::print("{:<13} {}\n", key + ":", value);
  return 0;
}

// "HxW" -> (H, W); throws UsageError.
std::pair<int, int> parse_resolution(const std::string& text) {
  int h = 0, w = 0;
  char x = 0, extra = 0;
  if (std::sscanf(text.c_str(), "%d%c%d%c", &h, &x, &w, &extra) != 3 || (x != 'x' && x != 'X') ||
      h <= 0 || w <= 0) {
    throw cotrack::UsageError(fmt::format("--resolution '{}': expected HxW, e.g. 384x512", text));
  }
  return {h, w};
}

struct DemoOptions {
  std::string model_path;
  std::string preset = "cotracker3-online";
  std::string resolution;
  std::string device = "auto";
  std::string out = "demo_tracks.csv";
  uint64_t seed = 1;
  int frames = 24;
  int points = 16;
  int threads = 0;
};

void print_metrics_row(const std::string& name, const cotrack::TapVidMetrics& m) {
  fmt::print("  {:<26} AJ {:5.1f}  delta_avg {:5.1f}  OA {:5.1f}  (<1px {:5.1f}, <4px {:5.1f})\n",
             name, 100 * m.average_jaccard, 100 * m.average_pts_within_thresh,
             100 * m.occlusion_accuracy, 100 * m.pts_within[0], 100 * m.pts_within[2]);
}

int run_demo(const DemoOptions& o) {
  cotrack::set_num_threads(o.threads);
  cotrack::SynthParams params;
  params.frames = o.frames;
  params.num_points = o.points;
  const cotrack::SynthClip clip = cotrack::generate_clip(params, o.seed);

  cotrack::Model model = o.model_path.empty()
                             ? cotrack::Model::random(cotrack::ModelConfig::preset_named(o.preset), 0)
                             : cotrack::Model::load(o.model_path);
  if (!o.resolution.empty()) {
    const auto [h, w] = parse_resolution(o.resolution);
    model.set_resolution(h, w);
  }
  model.to_device(cotrack::resolve_device(o.device));
  fmt::print(stderr, "cotrack demo: {} | model {} | {} | {} threads | clip seed {}: {} frames "
             "{}x{}, {} points\n",
             model.config().summary(), model.info().path, model.device(), cotrack::num_threads(),
             o.seed, clip.frames, clip.width, clip.height, clip.num_points);
  if (o.model_path.empty()) {
    fmt::print(stderr, "cotrack demo: WARNING: no --model given, so the network has random "
               "weights and its tracks are meaningless. Pass --model scaled_online.pth (see "
               "README) for real tracking.\n");
  }
  cotrack::TrackOptions options;
  options.progress = [](int done, int total) {
    fmt::print(stderr, "\r  tracking: frame {}/{}", done, total);
    if (done == total) fmt::print(stderr, "\n");
  };
  const auto t0 = std::chrono::steady_clock::now();
  const cotrack::TrackTable tracks =
      cotrack::track_video(model, cotrack::frames_of(clip), cotrack::queries_of(clip), options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  fmt::print("point  query(frame, x, y)        last frame: predicted -> truth       visible\n");
  const int last = clip.frames - 1;
  for (int n = 0; n < clip.num_points; ++n) {
    const int tq = clip.query_frame[n];
    const size_t i = tracks.index(last, n);
    fmt::print("{:5}  ({:2}, {:6.1f}, {:6.1f})   ({:6.1f}, {:6.1f}) -> ({:6.1f}, {:6.1f})   "
               "{} (truth {})\n",
               n, tq, clip.x(tq, n), clip.y(tq, n), tracks.x_px[i], tracks.y_px[i],
               clip.x(last, n), clip.y(last, n), tracks.visible[i] ? "yes" : "no ",
               clip.is_visible(last, n) ? "yes" : "no");
  }
  fmt::print("TAP-Vid metrics on this clip (queried at each point's query frame):\n");
  print_metrics_row("cotrack", cotrack::compute_tapvid_metrics(
                                   cotrack::tapvid_set(clip, tracks), cotrack::QueryMode::kFirst));
  print_metrics_row("static points (baseline)",
                    cotrack::compute_tapvid_metrics(
                        cotrack::tapvid_set(clip, cotrack::static_baseline(clip)),
                        cotrack::QueryMode::kFirst));
  cotrack::write_tracks_csv(tracks, o.out);
  fmt::print("tracked {} frames in {:.1f} s ({:.2f} fps); tracks written to {}\n", clip.frames,
             seconds, clip.frames / seconds, o.out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cotrack: real-time point tracking with CoTracker3"};
  app.require_subcommand(1);

  std::string info_path;
  auto* info = app.add_subcommand("model-info", "Print what a model file holds and check it");
  info->add_option("file", info_path, "checkpoint: official scaled_online.pth or a cotrack model")
      ->required();

  DemoOptions demo_opts;
  auto* demo = app.add_subcommand(
      "demo", "Track points on a generated clip with known ground truth and score the result");
  demo->add_option("--model", demo_opts.model_path,
                   "model file (official scaled_online.pth or a cotrack model)");
  demo->add_option("--preset", demo_opts.preset, "architecture for random weights (no --model)")
      ->capture_default_str();
  demo->add_option("--resolution", demo_opts.resolution, "model input resolution HxW");
  demo->add_option("--device", demo_opts.device, "auto, cpu, cuda or cuda:N")
      ->capture_default_str();
  demo->add_option("--seed", demo_opts.seed, "clip seed")->capture_default_str();
  demo->add_option("--frames", demo_opts.frames, "clip length")->capture_default_str();
  demo->add_option("--points", demo_opts.points, "points to track")->capture_default_str();
  demo->add_option("--threads", demo_opts.threads, "CPU threads, 0 = all cores")
      ->capture_default_str();
  demo->add_option("--out", demo_opts.out, "tracks CSV to write")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : static_cast<int>(ExitCode::kUsage);
  }
  try {
    if (*info) return run_model_info(info_path);
    if (*demo) return run_demo(demo_opts);
  } catch (const cotrack::Error& e) {
    fmt::print(stderr, "cotrack: {}\n", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    fmt::print(stderr, "cotrack: unexpected error: {}\n", e.what());
    return static_cast<int>(ExitCode::kRuntime);
  }
  return 0;
}
