// cotrack: the command-line entry point. Subcommands are small functions; errors become one
// line on stderr and a documented exit code (README.md, "Exit codes").
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

#ifdef COTRACK_HAVE_PIPELINE
#include "video_reader.hpp"
#endif

#include "cotrack/engine.hpp"
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

// A frame source: fills rgb/width/height and returns true, or returns false at the end.
using FrameSource = std::function<bool(std::vector<uint8_t>&, int&, int&)>;

// Opens a clip directory (PPM frames as written by `cotrack synth`) or, in the pipeline build,
// any video file or image directory OpenCV reads. `total` is the frame count or -1.
FrameSource open_input(const std::string& path, int64_t& total) {
  namespace fs = std::filesystem;
  if (fs::is_directory(path) && fs::exists(fs::path(path) / "frames" / "000000.ppm")) {
    auto clip = std::make_shared<cotrack::SynthClip>(cotrack::read_clip(path));
    total = clip->frames;
    auto next = std::make_shared<int>(0);
    return [clip, next](std::vector<uint8_t>& rgb, int& w, int& h) {
      if (*next >= clip->frames) return false;
      const uint8_t* f = clip->frame((*next)++);
      rgb.assign(f, f + clip->frame_size());
      w = clip->width;
      h = clip->height;
      return true;
    };
  }
#ifdef COTRACK_HAVE_PIPELINE
  auto reader = std::make_shared<cotrack::VideoReader>(path);
  total = reader->frame_count();
  return [reader](std::vector<uint8_t>& rgb, int& w, int& h) { return reader->next(rgb, w, h); };
#else
  throw cotrack::InputError(fmt::format(
      "{}: only clip directories are readable in this build (video files need the pipeline "
      "build with OpenCV)",
      path));
#endif
}

struct TrackCommand {
  std::string model_path;
  std::string preset = "cotrack-small";
  std::string input;
  std::string points_path;
  std::string out = "tracks.csv";
  std::string mode = "exact";
  std::string resolution;
  std::string device = "auto";
  int grid = 0;
  int support_grid = 0;
  int iters = 0;
  int step = 0;
  int threads = 0;
  int max_points = 4096;
};

int run_track(const TrackCommand& o) {
  cotrack::set_num_threads(o.threads);
  if (o.points_path.empty() && o.grid <= 0) {
    throw cotrack::UsageError("track: give --points FILE and/or --grid N");
  }
  std::vector<int> ids;
  std::vector<cotrack::PointQuery> queries;
  if (!o.points_path.empty()) queries = cotrack::read_points_csv(o.points_path, &ids);
  cotrack::Model model = o.model_path.empty()
                             ? cotrack::Model::random(cotrack::ModelConfig::preset_named(o.preset), 0)
                             : cotrack::Model::load(o.model_path);
  if (!o.resolution.empty()) {
    const auto [h, w] = parse_resolution(o.resolution);
    model.set_resolution(h, w);
  }
  model.to_device(cotrack::resolve_device(o.device));
  cotrack::EngineConfig ec;
  ec.mode = cotrack::parse_engine_mode(o.mode);
  ec.iters = o.iters;
  ec.step = o.step;
  ec.support_grid = o.support_grid;
  ec.max_points = o.max_points;
  cotrack::OnlineEngine engine(model, ec);
  int64_t total = -1;
  FrameSource next = open_input(o.input, total);
  fmt::print(stderr, "cotrack track: {} | {} | {} mode | {} threads | input {}\n",
             model.config().summary(), model.device(), o.mode, cotrack::num_threads(), o.input);
  if (o.model_path.empty()) {
    fmt::print(stderr, "cotrack track: WARNING: no --model given: random weights, meaningless "
               "tracks\n");
  }

  // The engine's point ids map back to the ids of points.csv (grid points follow them).
  std::map<cotrack::PointId, int> out_id;
  cotrack::TrackWriter writer(o.out);
  engine.set_sink([&](const cotrack::FrameEstimates& fe) {
    cotrack::FrameEstimates mapped = fe;
    for (auto& p : mapped.points) p.id = out_id.at(p.id);
    writer.write(mapped);
  });
  std::vector<uint8_t> rgb;
  int w = 0, h = 0;
  int64_t frame = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (next(rgb, w, h)) {
    engine.push_frame(rgb.data(), w, h);
    if (frame == 0) {
      int next_grid_id = ids.empty() ? 0 : *std::max_element(ids.begin(), ids.end()) + 1;
      for (size_t i = 0; i < queries.size(); ++i) {
        if (total >= 0 && queries[i].frame >= total) {
          throw cotrack::InputError(fmt::format("{}: point {} is on frame {}, the video has {}",
                                                o.points_path, ids[i], queries[i].frame, total));
        }
        auto r = engine.add_point(queries[i].frame, queries[i].x_px, queries[i].y_px);
        if (r.status != cotrack::AddPointResult::Status::kOk) {
          throw cotrack::InputError(fmt::format("{}: point {}: {}", o.points_path, ids[i],
                                                r.message));
        }
        out_id[r.id] = ids[i];
      }
      for (int i = 0; i < o.grid; ++i) {
        for (int j = 0; j < o.grid; ++j) {
          const float gx = o.grid == 1 ? (w - 1) / 2.f : (w - 1) * (j + 0.5f) / o.grid;
          const float gy = o.grid == 1 ? (h - 1) / 2.f : (h - 1) * (i + 0.5f) / o.grid;
          out_id[engine.add_point(0, gx, gy).id] = next_grid_id++;
        }
      }
    }
    engine.step();
    ++frame;
    if (total > 0) {
      fmt::print(stderr, "\r  [{:<30}] frame {}/{}", std::string(30 * frame / total, '#'), frame,
                 total);
    } else if (frame % 10 == 0) {
      fmt::print(stderr, "\r  frame {}", frame);
    }
  }
  if (frame == 0) throw cotrack::InputError(fmt::format("{}: no frames", o.input));
  engine.flush();
  writer.close();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print(stderr, "\n");
  fmt::print("tracked {} points over {} frames in {:.1f} s ({:.1f} fps); {} rows written to {}\n",
             out_id.size(), frame, s, frame / s, writer.rows(), o.out);
  return 0;
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

  TrackCommand track_opts;
  auto* track = app.add_subcommand("track", "Track points through a video or clip directory");
  track->add_option("--model", track_opts.model_path, "model file");
  track->add_option("--preset", track_opts.preset, "architecture for random weights (no --model)")
      ->capture_default_str();
  track->add_option("--input", track_opts.input, "video file, image folder or clip folder")
      ->required();
  track->add_option("--points", track_opts.points_path, "points.csv: point_id,frame,x,y");
  track->add_option("--grid", track_opts.grid, "also track an N x N grid from frame 0")
      ->capture_default_str();
  track->add_option("--support-grid", track_opts.support_grid,
                    "N x N support points tracked jointly, not written")
      ->capture_default_str();
  track->add_option("--mode", track_opts.mode, "exact or low-latency")->capture_default_str();
  track->add_option("--step", track_opts.step, "low-latency window step")->capture_default_str();
  track->add_option("--iters", track_opts.iters, "refinement iterations (0 = model default)")
      ->capture_default_str();
  track->add_option("--resolution", track_opts.resolution, "model input resolution HxW");
  track->add_option("--device", track_opts.device, "auto, cpu, cuda or cuda:N")
      ->capture_default_str();
  track->add_option("--threads", track_opts.threads, "CPU threads, 0 = all cores")
      ->capture_default_str();
  track->add_option("--max-points", track_opts.max_points, "point limit")->capture_default_str();
  track->add_option("--out", track_opts.out, "tracks.csv or tracks.jsonl")->capture_default_str();

  uint64_t synth_seed = 1;
  std::string synth_out;
  cotrack::SynthParams synth_params;
  std::string synth_motion = "full";
  auto* synth = app.add_subcommand(
      "synth", "Write a synthetic clip with exact ground truth (frames/, gt.csv, points.csv)");
  synth->add_option("--seed", synth_seed, "clip seed")->capture_default_str();
  synth->add_option("--out", synth_out, "output folder")->required();
  synth->add_option("--frames", synth_params.frames, "frames")->capture_default_str();
  synth->add_option("--width", synth_params.width, "width")->capture_default_str();
  synth->add_option("--height", synth_params.height, "height")->capture_default_str();
  synth->add_option("--points", synth_params.num_points, "ground-truth tracks")
      ->capture_default_str();
  synth->add_option("--motion", synth_motion, "translation, affine or full")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : static_cast<int>(ExitCode::kUsage);
  }
  try {
    if (*info) return run_model_info(info_path);
    if (*demo) return run_demo(demo_opts);
    if (*track) return run_track(track_opts);
    if (*synth) {
      synth_params.motion = cotrack::parse_synth_motion(synth_motion);
      cotrack::write_clip(cotrack::generate_clip(synth_params, synth_seed), synth_out);
      fmt::print("wrote {} ({} frames {}x{}, {} points)\n", synth_out, synth_params.frames,
                 synth_params.width, synth_params.height, synth_params.num_points);
      return 0;
    }
  } catch (const cotrack::Error& e) {
    fmt::print(stderr, "cotrack: {}\n", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    fmt::print(stderr, "cotrack: unexpected error: {}\n", e.what());
    return static_cast<int>(ExitCode::kRuntime);
  }
  return 0;
}
