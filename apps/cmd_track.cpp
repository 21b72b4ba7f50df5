#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>

#include "commands.hpp"
#include "cotrack/engine.hpp"
#include "cotrack/error.hpp"
#include "cotrack/track_io.hpp"
#include "engine_options.hpp"

namespace cotrack::app {

Command add_track(CLI::App& app) {
  struct Options {
    ModelOptions model;
    EngineOptions engine;
    std::string input, points_path, out = "tracks.csv";
    int grid = 0;
  };
  auto o = std::make_shared<Options>();
  Command c;
  c.sub = app.add_subcommand("track", "Track points through a video, image folder or clip folder");
  o->model.add_to(c.sub);
  c.sub->add_option("--input", o->input, "video file, image folder or clip folder")->required();
  c.sub->add_option("--points", o->points_path, "points.csv: point_id,frame,x,y");
  c.sub->add_option("--grid", o->grid, "also track an N x N grid of points from frame 0")
      ->capture_default_str();
  EngineOptions::Defaults engine_defaults;
  engine_defaults.max_points = 4096;
  engine_defaults.refine_option = true;
  o->engine.add_to(c.sub, engine_defaults);
  c.sub->add_option("--out", o->out, "tracks.csv or tracks.jsonl")->capture_default_str();
  c.run = [o] {
    if (o->points_path.empty() && o->grid <= 0) {
      throw UsageError("track: give --points FILE and/or --grid N");
    }
    std::vector<int> ids;
    std::vector<PointQuery> queries;
    if (!o->points_path.empty()) queries = read_points_csv(o->points_path, &ids);
    Model model = o->model.load("cotrack track");
    const std::unique_ptr<PointTracker> tracker = o->engine.make_tracker(model);
    PointTracker& engine = *tracker;
    int64_t total = -1;
    FrameSource next = open_input(o->input, total);
    fmt::print(stderr, "cotrack track: {} | {} | {} | input {}\n", model.config().summary(),
               model.device(), o->engine.label(&model), o->input);

    // Engine point ids map back to the ids of points.csv; grid points are numbered after them.
    std::map<PointId, int> out_id;
    TrackWriter writer(o->out);
    engine.set_sink([&](const FrameEstimates& fe) {
      FrameEstimates mapped = fe;
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
        for (size_t i = 0; i < queries.size(); ++i) {
          if (total >= 0 && queries[i].frame >= total) {
            throw InputError(fmt::format("{}: point {} is on frame {}, the video has {}",
                                         o->points_path, ids[i], queries[i].frame, total));
          }
          auto r = engine.add_point(queries[i].frame, queries[i].x_px, queries[i].y_px);
          if (r.status != AddPointResult::Status::kOk) {
            throw InputError(fmt::format("{}: point {}: {}", o->points_path, ids[i], r.message));
          }
          out_id[r.id] = ids[i];
        }
        int next_id = ids.empty() ? 0 : *std::max_element(ids.begin(), ids.end()) + 1;
        for (int i = 0; i < o->grid; ++i) {
          for (int j = 0; j < o->grid; ++j) {
            const float gx = (w - 1) * (j + 0.5f) / o->grid, gy = (h - 1) * (i + 0.5f) / o->grid;
            out_id[engine.add_point(0, gx, gy).id] = next_id++;
          }
        }
      }
      engine.step();
      ++frame;
      if (total > 0) {
        fmt::print(stderr, "\r  [{:<30}] frame {}/{}",
                   std::string(static_cast<size_t>(30 * frame / total), '#'), frame, total);
      } else if (frame % 10 == 0) {
        fmt::print(stderr, "\r  frame {}", frame);
      }
    }
    if (frame == 0) throw InputError(fmt::format("{}: no frames", o->input));
    engine.flush();
    writer.close();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print(stderr, "\n");
    fmt::print("tracked {} points over {} frames in {:.1f} s ({:.1f} fps); {} rows written to {}\n",
               out_id.size(), frame, s, frame / s, writer.rows(), o->out);
    return 0;
  };
  return c;
}

}  // namespace cotrack::app
