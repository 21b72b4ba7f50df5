#include <fmt/format.h>

#include <chrono>
#include <memory>

#include "commands.hpp"
#include "cotrack/evaluation.hpp"
#include "cotrack/synth.hpp"
#include "cotrack/track.hpp"
#include "cotrack/track_io.hpp"

namespace cotrack::app {
namespace {

void print_metrics_row(const std::string& name, const TapVidMetrics& m) {
  fmt::print("  {:<26} AJ {:5.1f}  delta_avg {:5.1f}  OA {:5.1f}  (<1px {:5.1f}, <4px {:5.1f})\n",
             name, 100 * m.average_jaccard, 100 * m.average_pts_within_thresh,
             100 * m.occlusion_accuracy, 100 * m.pts_within[0], 100 * m.pts_within[2]);
}

}  // namespace

Command add_demo(CLI::App& app) {
  struct Options {
    ModelOptions model;
    std::string out = "demo_tracks.csv";
    uint64_t seed = 1;
    int frames = 24, points = 16;
  };
  auto o = std::make_shared<Options>();
  Command c;
  c.sub = app.add_subcommand(
      "demo", "Track points on a generated clip with known ground truth and score the result");
  o->model.add_to(c.sub);
  c.sub->add_option("--seed", o->seed, "clip seed")->capture_default_str();
  c.sub->add_option("--frames", o->frames, "clip length")->capture_default_str();
  c.sub->add_option("--points", o->points, "points to track")->capture_default_str();
  c.sub->add_option("--out", o->out, "tracks CSV to write")->capture_default_str();
  c.run = [o] {
    Model model = o->model.load("cotrack demo");
    SynthParams params;
    params.frames = o->frames;
    params.num_points = o->points;
    const SynthClip clip = generate_clip(params, o->seed);
    fmt::print(stderr, "cotrack demo: {} | {} | clip seed {}: {} frames {}x{}, {} points\n",
               model.config().summary(), model.device(), o->seed, clip.frames, clip.width,
               clip.height, clip.num_points);
    TrackOptions options;
    options.visibility_threshold = model.default_visibility_threshold();
    options.confidence_weight = model.default_confidence_weight();
    options.progress = [](int done, int total) {
      fmt::print(stderr, "\r  tracking: frame {}/{}", done, total);
      if (done == total) fmt::print(stderr, "\n");
    };
    const auto t0 = std::chrono::steady_clock::now();
    const TrackTable tracks = track_video(model, frames_of(clip), queries_of(clip), options);
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
    print_metrics_row("cotrack", compute_tapvid_metrics(tapvid_set(clip, tracks),
                                                        QueryMode::kFirst));
    print_metrics_row("static points (baseline)",
                      compute_tapvid_metrics(tapvid_set(clip, static_baseline(clip)),
                                             QueryMode::kFirst));
    write_tracks_csv(tracks, o->out);
    fmt::print("tracked {} frames in {:.1f} s ({:.2f} fps); tracks written to {}\n", clip.frames,
               seconds, clip.frames / seconds, o->out);
    return 0;
  };
  return c;
}

}  // namespace cotrack::app
