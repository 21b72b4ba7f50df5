#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>

#include "commands.hpp"
#include "json_out.hpp"
#include "cotrack/engine.hpp"
#include "cotrack/error.hpp"
#include "cotrack/evaluation.hpp"
#include "cotrack/offline.hpp"
#include "cotrack/photo_bank.hpp"
#include "cotrack/track_io.hpp"
#include "engine_options.hpp"

#ifdef COTRACK_HAVE_PIPELINE
#include "chart.hpp"
#include "lk_tracker.hpp"
#include "video_reader.hpp"
#endif

namespace cotrack::app {
namespace {

struct EvalOptions {
  ModelOptions model;
  std::vector<std::string> clips, engines{"cotrack"};
  int synthetic = 0, first_seed = 1;
  SynthParams synth;   // --synthetic clips: the benchmark's settings unless changed
  std::string photos;  // --synthetic clips textured from these photographs
  EngineOptions engine;  // the cotrack engine's settings
  std::string query_mode = "first", json, chart, strip, predictions, points;
  bool by_horizon = false, cycle = false;
  int cycle_grid = 8;
};


// `v` rounded to `decimals` places, as the JSON files give it; null for NaN and infinities,
// which JSON lacks.
Json metrics_json(const TapVidMetrics& m) {
  Json pts_within = Json::array(), jaccard = Json::array();
  for (int i = 0; i < kTapVidNumThresholds; ++i) {
    pts_within.push_back(rounded(m.pts_within[i], 6));
    jaccard.push_back(rounded(m.jaccard[i], 6));
  }
  Json j;
  j["average_jaccard"] = rounded(m.average_jaccard, 6);
  j["average_pts_within_thresh"] = rounded(m.average_pts_within_thresh, 6);
  j["occlusion_accuracy"] = rounded(m.occlusion_accuracy, 6);
  j["pts_within"] = std::move(pts_within);
  j["jaccard"] = std::move(jaccard);
  return j;
}

// Writes `j` on one line to `path` (--json).
void write_json(const std::string& path, const Json& j) {
  std::ofstream out(path);
  out << j.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
  if (!out) throw Error(ExitCode::kRuntime, fmt::format("{}: cannot write", path));
}

void print_header(const std::string& first, const std::string& last) {
  fmt::print("{:<28} {:>6} {:>6} {:>6}  {:>5} {:>5} {:>5} {:>5} {:>5}  {:>8}\n", first, "AJ",
             "d_avg", "OA", "<1", "<2", "<4", "<8", "<16", last);
}

void print_row(const std::string& name, const TapVidMetrics& m, const std::string& last) {
  fmt::print("{:<28} {:6.1f} {:6.1f} {:6.1f}  {:5.1f} {:5.1f} {:5.1f} {:5.1f} {:5.1f}  {:>8}\n",
             name, 100 * m.average_jaccard, 100 * m.average_pts_within_thresh,
             100 * m.occlusion_accuracy, 100 * m.pts_within[0], 100 * m.pts_within[1],
             100 * m.pts_within[2], 100 * m.pts_within[3], 100 * m.pts_within[4], last);
}

std::string fps_text(double fps) { return fps > 0 ? fmt::format("{:.1f}", fps) : "-"; }

std::string bin_label(const HorizonProfile& h, int i) {
  const int lo = h.bin_start(i), hi = h.bin_end(i);
  if (hi < 0) return fmt::format("{}+", lo);
  return hi == lo + 1 ? fmt::format("{}", lo) : fmt::format("{}-{}", lo, hi - 1);
}

// The metrics by frames from the query, pooled over clips; returns the JSON array.
Json print_horizon(const HorizonProfile& h) {
  print_header("  frames from the query", "visible");
  Json json = Json::array();
  for (int i = 0; i < h.num_bins(); ++i) {
    const auto& counts = h.counts(i);
    if (counts.evaluated == 0) continue;  // beyond the clips' length
    const TapVidMetrics m = h.metrics(i);
    print_row("  " + bin_label(h, i), m, std::to_string(counts.gt_visible));
    Json bin;
    bin["from"] = h.bin_start(i);
    bin["to"] = h.bin_end(i);
    bin["visible"] = counts.gt_visible;
    bin["metrics"] = metrics_json(m);
    json.push_back(std::move(bin));
  }
  return json;
}

// Points within this distance (pixels of the 256-wide frame) count as back home in --cycle.
constexpr double kCycleWithinPx = 4.0;

std::string engine_label(const std::string& name, const EvalOptions& o, const Model* model) {
  if (name != "cotrack") return name;
  return name + " (" + o.engine.label(model) + ")";
}

// Tracks `queries` through `video` with a fresh tracker `name` (cotrack, lk or static); loads
// the model into `model` on first use. Column n of the result answers queries[n].
TrackTable run_engine(const std::string& name, const EvalOptions& o, std::unique_ptr<Model>& model,
                      const VideoFrames& video, const std::vector<PointQuery>& queries) {
  const int max_points = std::max<int>(1, static_cast<int>(queries.size()));
  if (name == "static") return static_tracks(video.count, queries);
  if (name == "cotrack") {
    if (!model) model = std::make_unique<Model>(o.model.load("cotrack eval"));
    EngineOptions engine = o.engine;
    engine.max_points = max_points;
    return track_video_with(*engine.make_tracker(*model), video, queries);
  }
  if (name == "lk") {
#ifdef COTRACK_HAVE_PIPELINE
    LKConfig lc;
    lc.max_points = max_points;
    LKTracker lk(lc);
    return track_video_with(lk, video, queries);
#else
    throw UsageError("eval: the lk engine needs the pipeline build (OpenCV)");
#endif
  }
  throw UsageError(fmt::format("eval: unknown engine '{}' (cotrack, lk, static)", name));
}

// The frames of a clip folder (frames/*.ppm or, in the pipeline build, frames/*.png|jpg or a
// video file in it) or of a video file, without ground truth.
VideoFrames load_frames(const std::string& path) {
  namespace fs = std::filesystem;
  if (fs::exists(fs::path(path) / "frames" / "000000.ppm")) return read_clip_frames(path);
#ifdef COTRACK_HAVE_PIPELINE
  std::string source = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      const std::string ext = entry.path().extension().string();
      if (entry.is_regular_file() &&
          (ext == ".mp4" || ext == ".avi" || ext == ".mkv" || ext == ".mov" || ext == ".webm")) {
        source = entry.path().string();
        break;
      }
    }
  }
  return read_all(source);
#else
  throw InputError(
      fmt::format("{}: no frames/000000.ppm; PNG frames and videos need the "
                  "pipeline build (OpenCV)",
                  path));
#endif
}

// `v` with one decimal, or "-" where it is not finite.
std::string fixed1(double v) { return std::isfinite(v) ? fmt::format("{:.1f}", v) : "-"; }

// The clips of --synthetic: seeds first_seed.. with the settings and photographs asked for.
std::vector<SynthClip> synthetic_clips(const EvalOptions& o) {
  SynthParams sp = o.synth;
  if (!o.photos.empty()) sp.photos = PhotoBank::load(o.photos);
  std::vector<SynthClip> clips;
  for (int s = o.first_seed; s < o.first_seed + o.synthetic; ++s) {
    clips.push_back(generate_clip(sp, static_cast<uint64_t>(s)));
  }
  return clips;
}

// cotrack eval --cycle: the forward-backward check of every engine on every clip, without labels.
int run_cycle(const EvalOptions& o) {
  std::vector<VideoFrames> videos;
  for (const auto& path : o.clips) videos.push_back(load_frames(path));
  for (const auto& clip : synthetic_clips(o)) videos.push_back(frames_of(clip));
  if (videos.empty()) throw UsageError("eval: give --clips DIR|VIDEO... or --synthetic N");

  fmt::print(
      "cycle check: {0}x{0} grid on frame 0, tracked to the last frame, then back to "
      "frame 0 on the reversed video\n"
      "  fb_med, fb_mean: distance from the start at frame 0, in pixels of the frame scaled "
      "to {1:.0f} wide\n"
      "  <{2:.0f}px: % of points back within {2:.0f} px; out, far: % of forward estimates "
      "(frames 1..T-1) outside the picture, and more than a frame size outside it\n",
      o.cycle_grid, kCycleRasterWidth, kCycleWithinPx);
  fmt::print("{:<28} {:>7} {:>7} {:>6} {:>6} {:>6}  {:>8}\n", "tracker", "fb_med", "fb_mean",
             fmt::format("<{:.0f}px", kCycleWithinPx), "out", "far", "fps");
  Json json;
  json["check"] = "cycle";
  json["grid"] = o.cycle_grid;
  json["clips"] = videos.size();
  json["raster_width"] = std::lround(kCycleRasterWidth);
  json["within_px"] = std::lround(kCycleWithinPx);
  json["results"] = Json::array();
  std::unique_ptr<Model> model;
  for (size_t e = 0; e < o.engines.size(); ++e) {
    const std::string& name = o.engines[e];
    CycleStats pooled;
    double seconds = 0;
    int64_t frames = 0;
    for (size_t k = 0; k < videos.size(); ++k) {
      const TrackFunction track = [&](const VideoFrames& video,
                                      const std::vector<PointQuery>& queries) {
        const auto t0 = std::chrono::steady_clock::now();
        TrackTable table = run_engine(name, o, model, video, queries);
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        frames += video.count;
        return table;
      };
      pooled.add(cycle_check(videos[k], o.cycle_grid, track));
      fmt::print(stderr, "\r  {}: clip {}/{}", name, k + 1, videos.size());
    }
    fmt::print(stderr, "\n");
    const double fps = name == "static" ? 0 : frames / std::max(seconds, 1e-9);
    const std::string label = engine_label(name, o, model.get());
    fmt::print("{:<28} {:>7} {:>7} {:>6} {:>6} {:>6}  {:>8}\n", label,
               fixed1(pooled.median_error_px()), fixed1(pooled.mean_error_px()),
               fixed1(100 * pooled.share_within(kCycleWithinPx)),
               fixed1(100 * pooled.outside_share()), fixed1(100 * pooled.far_outside_share()),
               fps_text(fps));
    Json result;
    result["tracker"] = label;
    result["fps"] = rounded(fps, 2);
    result["points"] = pooled.error_px.size();
    result["median_error_px"] = rounded(pooled.median_error_px(), 6);
    result["mean_error_px"] = rounded(pooled.mean_error_px(), 6);
    result["within"] = rounded(pooled.share_within(kCycleWithinPx), 6);
    result["outside"] = rounded(pooled.outside_share(), 6);
    result["far_outside"] = rounded(pooled.far_outside_share(), 6);
    json["results"].push_back(std::move(result));
  }
  if (!o.json.empty()) write_json(o.json, json);
  return 0;
}

}  // namespace

Command add_eval(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  Command c;
  c.sub = app.add_subcommand(
      "eval",
      "Score trackers (or predictions made elsewhere) with the TAP-Vid metrics, or without "
      "labels by tracking forward and back (--cycle)");
  o->model.add_to(c.sub);
  c.sub->add_option("--clips", o->clips,
                    "clip folders (frames/, gt.csv; gt.csv may have rows on annotated frames "
                    "only); with --cycle also folders without gt.csv and video files");
  c.sub
      ->add_option("--synthetic", o->synthetic,
                   "the synthetic benchmark: N clips from --first-seed on, 256x256, 48 frames")
      ->capture_default_str();
  c.sub
      ->add_option("--first-seed", o->first_seed,
                   "first seed of --synthetic (1: the benchmark; 101..: a disjoint tuning set)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  c.sub->add_option("--frames", o->synth.frames, "frames of each --synthetic clip")
      ->capture_default_str();
  c.sub->add_option("--width", o->synth.width, "width of the --synthetic clips")
      ->capture_default_str();
  c.sub->add_option("--height", o->synth.height, "height of the --synthetic clips")
      ->capture_default_str();
  c.sub
      ->add_option("--max-speed", o->synth.max_speed_px,
                   "largest motion of a --synthetic clip's layers, pixels a frame")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 256.0));
  c.sub
      ->add_option("--deform-fraction", o->synth.deform_fraction,
                   "share of a --synthetic clip's objects that deform non-rigidly")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  c.sub
      ->add_option("--articulated-fraction", o->synth.articulated_fraction,
                   "share of a --synthetic clip's objects with a swinging limb")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  c.sub
      ->add_option("--motion-blur-fraction", o->synth.motion_blur_fraction,
                   "share of --synthetic clips with motion blur")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  c.sub
      ->add_option("--follow-fraction", o->synth.follow_fraction,
                   "share of --synthetic clips whose camera follows the front object")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  c.sub
      ->add_option("--synthetic-points", o->synth.num_points,
                   "ground-truth tracks per --synthetic clip")
      ->capture_default_str();
  c.sub->add_option("--photos", o->photos,
                    "texture the --synthetic clips with the photographs in this folder "
                    "(scripts/fetch_photos.sh; data/photos/eval is held out from training)");
  c.sub->add_option("--engine", o->engines, "cotrack, lk or static (repeatable)")
      ->capture_default_str();
  EngineOptions::Defaults engine_defaults;
  engine_defaults.max_points_option = false;  // every query of a clip is tracked at once
  engine_defaults.refine_option = true;
  o->engine.add_to(c.sub, engine_defaults);
  c.sub->add_option("--query-mode", o->query_mode, "first or strided")->capture_default_str();
  auto* predictions =
      c.sub->add_option("--predictions", o->predictions,
                        "score this tracks.csv (point_id = the query's row in --points) on the one "
                        "clip given with --clips");
  auto* points =
      c.sub->add_option("--points", o->points, "queries of --predictions (default: derived)");
  auto* by_horizon =
      c.sub->add_flag("--by-horizon", o->by_horizon,
                      "also print each tracker's metrics by frames from the query (drift), pooled "
                      "over the clips");
  c.sub->add_option("--json", o->json, "write the results as JSON here");
  auto* strip = c.sub->add_option(
      "--strip", o->strip,
      "write a side-by-side image strip (PNG/JPEG) of every engine on the first clip here");
  auto* chart =
      c.sub->add_option("--chart", o->chart, "write a PNG bar chart of AJ, delta_avg and OA here");
  auto* cycle = c.sub->add_flag(
      "--cycle", o->cycle,
      "label-free check instead of the metrics: track a grid from frame 0 to the last frame and "
      "back on the reversed video; print the forward-backward error at frame 0 (pixels of the "
      "frame scaled to 256 wide) and the share of estimates outside the picture. Ground truth "
      "is not read. A tracker that never moves (static) scores 0: this measures consistency, "
      "not accuracy");
  cycle->excludes(predictions)
      ->excludes(points)
      ->excludes(by_horizon)
      ->excludes(strip)
      ->excludes(chart);
  c.sub->add_option("--cycle-grid", o->cycle_grid, "--cycle: points per side of the grid")
      ->capture_default_str()
      ->check(CLI::Range(1, 64))
      ->needs(cycle);
  c.run = [o] {
    if (o->cycle) return run_cycle(*o);
    const QueryMode qmode = parse_query_mode(o->query_mode);
    std::vector<SynthClip> clips;
    for (const auto& dir : o->clips) clips.push_back(load_clip(dir));
    for (auto& clip : synthetic_clips(*o)) clips.push_back(std::move(clip));
    if (clips.empty()) throw UsageError("eval: give --clips DIR... or --synthetic N");

    Json json;
    json["query_mode"] = o->query_mode;
    json["clips"] = clips.size();
    json["results"] = Json::array();
    print_header("tracker", "fps");

    if (!o->predictions.empty()) {
      if (clips.size() != 1 || o->clips.size() != 1) {
        throw UsageError("eval: --predictions scores exactly one clip folder (--clips DIR)");
      }
      // Queries: point_id = the ground-truth point, frame = its query frame.
      const std::string points = o->points.empty() ? o->clips[0] + "/points.csv" : o->points;
      std::vector<int> ids;
      const auto queries = read_points_csv(points, &ids);
      EvalQueries eq;
      for (size_t i = 0; i < ids.size(); ++i) {
        if (ids[i] < 0 || ids[i] >= clips[0].num_points) {
          throw InputError(
              fmt::format("{}: point_id {} is not a ground-truth point", points, ids[i]));
        }
        eq.point.push_back(ids[i]);
        eq.frame.push_back(queries[i].frame);
      }
      const TrackTable pred = read_tracks_csv(o->predictions, ids, clips[0].frames);
      const TapVidMetrics m = compute_tapvid_metrics(tapvid_set(clips[0], eq, pred), qmode);
      print_row(o->predictions, m, fps_text(0));
      Json result;
      result["tracker"] = o->predictions;
      result["metrics"] = metrics_json(m);
      json["results"].push_back(std::move(result));
      if (!o->json.empty()) write_json(o->json, json);
      return 0;
    }
    std::unique_ptr<Model> model;
    std::vector<std::pair<std::string, TapVidMetrics>> summary;
#ifdef COTRACK_HAVE_PIPELINE
    std::vector<StripRow> strip_rows;
#else
    if (!o->strip.empty()) throw UsageError("eval: --strip needs the pipeline build (OpenCV)");
#endif
    for (const auto& engine_name : o->engines) {
      std::vector<TapVidMetrics> per_clip;
      HorizonProfile horizon;
      double seconds = 0;
      int64_t frames = 0;
      for (size_t k = 0; k < clips.size(); ++k) {
        const SynthClip& clip = clips[k];
        const EvalQueries eq = tapvid_queries(clip, qmode);
        const auto queries = to_point_queries(clip, eq);
        const VideoFrames video = frames_of(clip);
        const auto t0 = std::chrono::steady_clock::now();
        TrackTable pred = run_engine(engine_name, *o, model, video, queries);
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        frames += clip.frames;
        const TapVidTrackSet scored = tapvid_set(clip, eq, pred);
        per_clip.push_back(compute_tapvid_metrics(scored, qmode));
        if (o->by_horizon) horizon.add(scored, qmode);
#ifdef COTRACK_HAVE_PIPELINE
        if (k == 0 && !o->strip.empty()) {
          std::string label = engine_name;
          if (engine_name == "cotrack" && model && o->engine.refines(*model)) {
            label += " + LK refinement";
          }
          label += fmt::format("  AJ {:.1f} OA {:.1f}", 100 * per_clip.back().average_jaccard,
                               100 * per_clip.back().occlusion_accuracy);
          strip_rows.push_back({label, std::move(pred)});
        }
#endif
        fmt::print(stderr, "\r  {}: clip {}/{}", engine_name, k + 1, clips.size());
      }
      fmt::print(stderr, "\n");
      const TapVidMetrics mean = average_tapvid_metrics(per_clip);
      const std::string label = engine_label(engine_name, *o, model.get());
      print_row(label, mean,
                fps_text(engine_name == "static" ? 0 : frames / std::max(seconds, 1e-9)));
      summary.emplace_back(label, mean);
      Json result;
      result["tracker"] = label;
      result["fps"] = rounded(frames / std::max(seconds, 1e-9), 2);
      result["metrics"] = metrics_json(mean);
      // Each clip's own figures, in the order given: the mean above averages them.
      result["clips"] = Json::array();
      for (size_t k = 0; k < per_clip.size(); ++k) {
        result["clips"].push_back(
            {{"clip", o->clips.empty() ? fmt::format("seed {}", o->first_seed + k) : o->clips[k]},
             {"metrics", metrics_json(per_clip[k])}});
      }
      if (o->by_horizon) result["by_horizon"] = print_horizon(horizon);
      json["results"].push_back(std::move(result));
    }
    if (!o->chart.empty()) {
#ifdef COTRACK_HAVE_PIPELINE
      std::vector<BarSeries> series;
      for (const auto& [label, m] : summary) {
        series.push_back({label,
                          {100 * m.average_jaccard, 100 * m.average_pts_within_thresh,
                           100 * m.occlusion_accuracy}});
      }
      write_bar_chart(
          o->chart,
          fmt::format("TAP-Vid metrics, {} clips, queries {}", clips.size(), o->query_mode),
          {"AJ", "delta_avg", "OA"}, series);
#else
      throw UsageError("eval: --chart needs the pipeline build (OpenCV)");
#endif
    }
#ifdef COTRACK_HAVE_PIPELINE
    if (!o->strip.empty()) {
      write_track_strip(o->strip,
                        o->clips.empty()
                            ? fmt::format("synthetic benchmark clip, seed {}", o->first_seed)
                            : o->clips[0],
                        clips[0], tapvid_queries(clips[0], qmode), strip_rows);
    }
#endif
    if (!o->json.empty()) write_json(o->json, json);
    return 0;
  };
  return c;
}

}  // namespace cotrack::app
