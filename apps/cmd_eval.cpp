#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <memory>

#include "commands.hpp"
#include "cotrack/engine.hpp"
#include "cotrack/error.hpp"
#include "cotrack/evaluation.hpp"
#include "cotrack/offline.hpp"
#include "cotrack/track_io.hpp"

#ifdef COTRACK_HAVE_PIPELINE
#include "chart.hpp"
#include "lk_tracker.hpp"
#include "refined_tracker.hpp"
#endif

namespace cotrack::app {
namespace {

std::string metrics_json(const TapVidMetrics& m) {
  return fmt::format(
      "{{\"average_jaccard\":{:.6f},\"average_pts_within_thresh\":{:.6f},"
      "\"occlusion_accuracy\":{:.6f},\"pts_within\":[{:.6f},{:.6f},{:.6f},{:.6f},{:.6f}],"
      "\"jaccard\":[{:.6f},{:.6f},{:.6f},{:.6f},{:.6f}]}}",
      m.average_jaccard, m.average_pts_within_thresh, m.occlusion_accuracy, m.pts_within[0],
      m.pts_within[1], m.pts_within[2], m.pts_within[3], m.pts_within[4], m.jaccard[0],
      m.jaccard[1], m.jaccard[2], m.jaccard[3], m.jaccard[4]);
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
std::string print_horizon(const HorizonProfile& h) {
  print_header("  frames from the query", "visible");
  std::string json = "[";
  for (int i = 0; i < h.num_bins(); ++i) {
    const TapVidMetrics m = h.metrics(i);
    print_row("  " + bin_label(h, i), m, std::to_string(h.counts(i).gt_visible));
    json += fmt::format("{}{{\"from\":{},\"to\":{},\"visible\":{},\"metrics\":{}}}",
                        i == 0 ? "" : ",", h.bin_start(i), h.bin_end(i), h.counts(i).gt_visible,
                        metrics_json(m));
  }
  return json + "]";
}

}  // namespace

Command add_eval(CLI::App& app) {
  struct Options {
    ModelOptions model;
    std::vector<std::string> clips, engines{"cotrack"};
    int synthetic = 0, first_seed = 1;
    std::string query_mode = "first", mode = "exact", json, chart, strip, predictions, points;
    int iters = 0, step = 0, support_grid = 0;
    double visibility_threshold = 0.6;
    bool refine = false, by_horizon = false;
    float refine_max_offset_px = 0.f;
#ifdef COTRACK_HAVE_PIPELINE
    float refine_anchor_px = RefineConfig{}.anchor_max_px;
    bool refine_redetect = RefineConfig{}.redetect;
#else  // --refine is refused without the pipeline
    float refine_anchor_px = 0.f;
    bool refine_redetect = false;
#endif
  };
  auto o = std::make_shared<Options>();
  Command c;
  c.sub = app.add_subcommand(
      "eval", "Score trackers (or predictions made elsewhere) with the TAP-Vid metrics");
  o->model.add_to(c.sub);
  c.sub->add_option("--clips", o->clips, "clip folders (frames/, gt.csv)");
  c.sub->add_option("--synthetic", o->synthetic,
                    "the synthetic benchmark: N clips from --first-seed on, 256x256, 48 frames")
      ->capture_default_str();
  c.sub->add_option("--first-seed", o->first_seed,
                    "first seed of --synthetic (1: the benchmark; 101..: a disjoint tuning set)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  c.sub->add_option("--engine", o->engines, "cotrack, lk or static (repeatable)")
      ->capture_default_str();
  c.sub->add_option("--mode", o->mode, "cotrack engine mode: exact or low-latency")
      ->capture_default_str();
  c.sub->add_option("--step", o->step, "low-latency window step")->capture_default_str();
  c.sub->add_option("--iters", o->iters, "refinement iterations (0 = model default)")
      ->capture_default_str();
  c.sub->add_option("--support-grid", o->support_grid, "support grid size")
      ->capture_default_str();
  c.sub->add_option("--visibility-threshold", o->visibility_threshold,
                    "cotrack engine: visible when visibility * confidence exceeds this")
      ->capture_default_str();
  c.sub->add_flag("--refine", o->refine,
                  "cotrack engine: refine its estimates with Lucas-Kanade at full resolution");
  c.sub->add_option("--refine-max-offset", o->refine_max_offset_px,
                    "largest distance LK may move a point from the network's estimate, video "
                    "pixels (0 = no limit)")
      ->capture_default_str();
  c.sub->add_option("--refine-anchor", o->refine_anchor_px,
                    "largest correction of a refined point by LK against its query frame, "
                    "video pixels (0 = off)")
      ->capture_default_str();
  c.sub->add_option("--refine-redetect", o->refine_redetect,
                    "also match the query frame at the network's estimate and keep the better "
                    "match")
      ->capture_default_str();
  c.sub->add_option("--query-mode", o->query_mode, "first or strided")->capture_default_str();
  c.sub->add_option("--predictions", o->predictions,
                    "score this tracks.csv (point_id = the query's row in --points) on the one "
                    "clip given with --clips");
  c.sub->add_option("--points", o->points, "queries of --predictions (default: derived)");
  c.sub->add_flag("--by-horizon", o->by_horizon,
                  "also print each tracker's metrics by frames from the query (drift), pooled "
                  "over the clips");
  c.sub->add_option("--json", o->json, "write the results as JSON here");
  c.sub->add_option("--strip", o->strip,
                    "write a side-by-side image strip (PNG/JPEG) of every engine on the first "
                    "clip here");
  c.sub->add_option("--chart", o->chart, "write a PNG bar chart of AJ, delta_avg and OA here");
  c.run = [o] {
    const QueryMode qmode = parse_query_mode(o->query_mode);
    std::vector<SynthClip> clips;
    for (const auto& dir : o->clips) clips.push_back(load_clip(dir));
    for (int s = o->first_seed; s < o->first_seed + o->synthetic; ++s) {
      clips.push_back(generate_clip(SynthParams{}, static_cast<uint64_t>(s)));
    }
    if (clips.empty()) throw UsageError("eval: give --clips DIR... or --synthetic N");

    std::string json = "{\"query_mode\":\"" + o->query_mode + "\",\"clips\":" +
                       std::to_string(clips.size()) + ",\"results\":[";
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
          throw InputError(fmt::format("{}: point_id {} is not a ground-truth point", points,
                                       ids[i]));
        }
        eq.point.push_back(ids[i]);
        eq.frame.push_back(queries[i].frame);
      }
      const TrackTable pred = read_tracks_csv(o->predictions, ids, clips[0].frames);
      const TapVidMetrics m = compute_tapvid_metrics(tapvid_set(clips[0], eq, pred), qmode);
      print_row(o->predictions, m, fps_text(0));
      json += fmt::format("{{\"tracker\":\"{}\",\"metrics\":{}}}]}}\n", o->predictions,
                          metrics_json(m));
      if (!o->json.empty()) std::ofstream(o->json) << json;
      return 0;
    }
    std::unique_ptr<Model> model;
    bool first_result = true;
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
        TrackTable pred;
        if (engine_name == "static") {
          pred = static_tracks(clip.frames, queries);
        } else if (engine_name == "cotrack") {
          if (!model) model = std::make_unique<Model>(o->model.load("cotrack eval"));
          EngineConfig ec;
          ec.mode = parse_engine_mode(o->mode);
          ec.iters = o->iters;
          ec.step = o->step;
          ec.support_grid = o->support_grid;
          ec.visibility_threshold = o->visibility_threshold;
          ec.max_points = std::max<int>(1, static_cast<int>(queries.size()));
          auto engine = std::make_unique<OnlineEngine>(*model, ec);
          if (o->refine) {
#ifdef COTRACK_HAVE_PIPELINE
            RefineConfig rc;
            rc.max_offset_px = o->refine_max_offset_px;
            rc.anchor_max_px = o->refine_anchor_px;
            rc.redetect = o->refine_redetect;
            RefinedTracker refined(std::move(engine), rc);
            pred = track_video_with(refined, video, queries);
#else
            throw UsageError("eval: --refine needs the pipeline build (OpenCV)");
#endif
          } else {
            pred = track_video_with(*engine, video, queries);
          }
        } else if (engine_name == "lk") {
#ifdef COTRACK_HAVE_PIPELINE
          LKConfig lc;
          lc.max_points = std::max<int>(1, static_cast<int>(queries.size()));
          LKTracker lk(lc);
          pred = track_video_with(lk, video, queries);
#else
          throw UsageError("eval: the lk engine needs the pipeline build (OpenCV)");
#endif
        } else {
          throw UsageError(fmt::format("eval: unknown engine '{}' (cotrack, lk, static)",
                                       engine_name));
        }
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        frames += clip.frames;
        const TapVidTrackSet scored = tapvid_set(clip, eq, pred);
        per_clip.push_back(compute_tapvid_metrics(scored, qmode));
        if (o->by_horizon) horizon.add(scored, qmode);
#ifdef COTRACK_HAVE_PIPELINE
        if (k == 0 && !o->strip.empty()) {
          std::string label = engine_name;
          if (engine_name == "cotrack" && o->refine) label += " + LK refinement";
          label += fmt::format("  AJ {:.1f} OA {:.1f}", 100 * per_clip.back().average_jaccard,
                               100 * per_clip.back().occlusion_accuracy);
          strip_rows.push_back({label, std::move(pred)});
        }
#endif
        fmt::print(stderr, "\r  {}: clip {}/{}", engine_name, k + 1, clips.size());
      }
      fmt::print(stderr, "\n");
      const TapVidMetrics mean = average_tapvid_metrics(per_clip);
      std::string label = engine_name;
      if (engine_name == "cotrack") label += " (" + o->mode + (o->refine ? ", refined" : "") + ")";
      print_row(label, mean,
                fps_text(engine_name == "static" ? 0 : frames / std::max(seconds, 1e-9)));
      summary.emplace_back(label, mean);
      const std::string horizon_json =
          o->by_horizon ? ",\"by_horizon\":" + print_horizon(horizon) : std::string();
      json += fmt::format("{}{{\"tracker\":\"{}\",\"fps\":{:.2f},\"metrics\":{}{}}}",
                          first_result ? "" : ",", label, frames / std::max(seconds, 1e-9),
                          metrics_json(mean), horizon_json);
      first_result = false;
    }
    json += "]}\n";
    if (!o->chart.empty()) {
#ifdef COTRACK_HAVE_PIPELINE
      std::vector<BarSeries> series;
      for (const auto& [label, m] : summary) {
        series.push_back({label, {100 * m.average_jaccard, 100 * m.average_pts_within_thresh,
                                  100 * m.occlusion_accuracy}});
      }
      write_bar_chart(o->chart,
                      fmt::format("TAP-Vid metrics, {} clips, queries {}", clips.size(),
                                  o->query_mode),
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
    if (!o->json.empty()) {
      std::ofstream out(o->json);
      out << json;
      if (!out) throw Error(ExitCode::kRuntime, fmt::format("{}: cannot write", o->json));
    }
    return 0;
  };
  return c;
}

}  // namespace cotrack::app
