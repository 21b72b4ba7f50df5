// cotrack-bench: the engine alone on frames decoded into memory first. Prints one JSON object per
// run (precision, kernels, ISA and threads included).
// Per-frame latency is the time of push_frame + step for that frame (the work a live stream
// waits for); fps is frames / total time; stage times come from the engine's own timers.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>
#include <memory>
#include <exception>

#include "cotrack/engine.hpp"
#include "cotrack/error.hpp"
#include "cotrack/model.hpp"
#include "resolution.hpp"
#include "cotrack/runtime.hpp"
#include "cotrack/synth.hpp"
#include "engine_options.hpp"
#include "guarded_main.hpp"
#include "json_out.hpp"
#include "percentile.hpp"

using cotrack::app::percentile;

namespace {

using cotrack::app::Json;
using cotrack::app::rounded;

// Which kernels do the matrix work: ATen sends fp32 linear layers and matmuls to the BLAS, bf16
// ones under autocast to oneDNN, and convolutions to oneDNN on the CPU.
Json kernels(cotrack::Precision precision, const std::string& device) {
  if (device.rfind("cuda", 0) == 0) return {{"matmul", "cuBLAS"}, {"conv", "cuDNN"}};
  const std::string blas = cotrack::blas_core().empty()
                               ? std::string("BLAS")
                               : "BLAS (OpenBLAS " + cotrack::blas_core() + ")";
  return {{"matmul", precision == cotrack::Precision::kBf16 ? std::string("oneDNN") : blas},
          {"conv", "oneDNN"}};
}

struct Timing {
  double seconds = 0;
  std::vector<double> latency_ms;
  cotrack::EngineTimings stages;  // the timed frames' share
};

// Feeds warmup + frames frames of `clip` (ping-pong, so motion stays continuous when it loops)
// to a fresh engine; times the last `frames`. With `batcher`, the engine's windows go through it.
Timing time_engine(const cotrack::Model& model, const cotrack::EngineConfig& ec,
                   const cotrack::SynthClip& clip, int points, int warmup, int frames,
                   int rss_every, std::shared_ptr<cotrack::WindowBatcher> batcher = nullptr) {
  cotrack::OnlineEngine engine(model, ec);
  engine.set_window_batcher(std::move(batcher));
  engine.set_sink([](const cotrack::FrameEstimates&) {});
  using Clock = std::chrono::steady_clock;
  Timing out;
  cotrack::EngineTimings before;
  Clock::time_point start;
  const int total = warmup + frames;
  const int clip_frames = clip.frames;
  for (int i = 0; i < total; ++i) {
    if (i == warmup) {
      before = engine.timings();
      start = Clock::now();
    }
    const int period = 2 * (clip_frames - 1);
    const int k = clip_frames > 1 ? i % period : 0;
    const int t = k < clip_frames ? k : period - k;
    const auto t0 = Clock::now();
    const int64_t index = engine.push_frame(clip.frame(t), clip.width, clip.height);
    if (index == 0) {
      for (int n = 0; n < points; ++n) engine.add_point(0, clip.x(0, n), clip.y(0, n));
    }
    engine.step();
    if (i >= warmup) {
      out.latency_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    if (rss_every > 0 && (i + 1) % rss_every == 0) {
      fmt::print(stderr, "{{\"frame\":{},\"rss_mib\":{:.1f}}}\n", i + 1,
                 cotrack::process_memory_mib("VmRSS:"));
    }
  }
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const cotrack::EngineTimings after = engine.timings();
  out.stages.cnn_ms = after.cnn_ms - before.cnn_ms;
  out.stages.correlation_ms = after.correlation_ms - before.correlation_ms;
  out.stages.transformer_ms = after.transformer_ms - before.transformer_ms;
  out.stages.other_ms = after.other_ms - before.other_ms;
  out.stages.windows = after.windows - before.windows;
  return out;
}

// `streams` engines, each on its own clip and thread, started together; with `batch` their
// windows run as batched forward passes. Every stream's Timing.
std::vector<Timing> time_streams(const cotrack::Model& model, const cotrack::EngineConfig& ec,
                                 const std::vector<cotrack::SynthClip>& clips, int points,
                                 int warmup, int frames, bool batch, double batch_wait_ms,
                                 cotrack::WindowBatcherStats* stats) {
  const int n = static_cast<int>(clips.size());
  std::shared_ptr<cotrack::WindowBatcher> batcher =
      batch ? cotrack::make_window_batcher(model, n, batch_wait_ms) : nullptr;
  std::vector<Timing> out(clips.size());
  std::vector<std::exception_ptr> errors(clips.size());
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      try {
        out[i] = time_engine(model, ec, clips[i], points, warmup, frames, 0, batcher);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  if (batcher) *stats = cotrack::window_batcher_stats(*batcher);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  cotrack::pick_blas_kernels(argv);
  const std::string allocator = cotrack::reuse_freed_memory();
  std::string model_path, preset = "cotrack-small", resolution, device = "auto";
  std::string input_size = "640x480";
  int points = 64, frames = 64, warmup = 16, threads = 0, rss_every = 0, repeat = 1;
  std::vector<std::string> precisions{"auto"};  // the commands' default
  cotrack::app::EngineOptions engine_options;
  uint64_t seed = 1;
  int streams = 1;
  std::vector<std::string> batch_modes{"off"};
  double batch_wait_ms = 15.0;
  CLI::App app{"cotrack-bench: time the tracking engine alone (frames decoded into memory "
               "first) and print JSON"};
  app.add_option("--model", model_path, "model file; default: --preset with random weights");
  app.add_option("--preset", preset, "architecture for random weights")->capture_default_str();
  app.add_option("--resolution", resolution, "model input resolution HxW (default: the model's)");
  app.add_option("--input-size", input_size, "video frame size WxH")->capture_default_str();
  app.add_option("--points", points, "tracked points")->capture_default_str();
  app.add_option("--frames", frames, "timed frames")->capture_default_str();
  app.add_option("--warmup", warmup, "untimed frames first")->capture_default_str();
  cotrack::app::EngineOptions::Defaults engine_defaults;
  engine_defaults.max_points_option = false;  // --points sets it
  engine_defaults.local_grid_option = true;
  engine_defaults.precision_option = false;
  engine_options.add_to(&app, engine_defaults);
  app.add_option("--precision", precisions,
                 "fp32, bf16 or auto (bf16 where supported, except for the official "
                 "architecture); a list (fp32,bf16) times each, alternating, one JSON line per run")
      ->delimiter(',')
      ->check(CLI::IsMember({"fp32", "bf16", "auto"}))
      ->capture_default_str();
  app.add_option("--repeat", repeat, "runs per precision")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0 = all cores)")->capture_default_str();
  app.add_option("--device", device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--rss-every", rss_every, "also print RSS every N frames to stderr (memory soak)")
      ->capture_default_str();
  app.add_option("--seed", seed, "clip seed (stream i: seed + i)")->capture_default_str();
  app.add_option("--streams", streams,
                 "engines run at once, each on its own clip and thread (one model); fps is then "
                 "the frames of all streams per second")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--batch-streams", batch_modes,
                 "with --streams: off, on (windows batched into one forward pass), or a list "
                 "(off,on) timed alternately")
      ->delimiter(',')
      ->check(CLI::IsMember({"off", "on"}))
      ->capture_default_str();
  app.add_option("--batch-wait-ms", batch_wait_ms,
                 "with --batch-streams on: how long a window waits for the other streams'")
      ->check(CLI::Range(0.0, 10000.0))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : static_cast<int>(cotrack::ExitCode::kUsage);
  }
  return cotrack::app::run_guarded("cotrack-bench", [&] {
    cotrack::set_num_threads(threads);
    int in_w = 0, in_h = 0;
    char x = 0;
    if (std::sscanf(input_size.c_str(), "%d%c%d", &in_w, &x, &in_h) != 3 || in_w < 8 || in_h < 8) {
      throw cotrack::UsageError(fmt::format("--input-size '{}': expected WxH", input_size));
    }
    cotrack::Model model = model_path.empty()
                               ? cotrack::Model::random(cotrack::ModelConfig::preset_named(preset), 0)
                               : cotrack::Model::load(model_path);
    if (!resolution.empty()) {
      const auto [h, w] = cotrack::app::parse_resolution(resolution);
      model.set_resolution(h, w);
    }
    model.to_device(cotrack::resolve_device(device));

    // A synthetic clip of `clip_frames` frames, looped to any length (decoded up front).
    const int clip_frames = std::min(frames + warmup, 96);
    cotrack::SynthParams sp;
    sp.width = in_w;
    sp.height = in_h;
    sp.frames = clip_frames;
    sp.num_points = points;
    std::vector<cotrack::SynthClip> clips;
    for (int i = 0; i < streams; ++i) clips.push_back(cotrack::generate_clip(sp, seed + i));

    engine_options.max_points = std::max(points, 1);
    const auto& mc = model.config();
    std::vector<cotrack::EngineConfig> configs;
    for (const std::string& p : precisions) {
      engine_options.precision = p;
      configs.push_back(engine_options.to_config(model));
    }
    if (streams == 1) batch_modes = {"off"};
    // One fresh engine per run; with several precisions (or batch modes) the runs alternate, so
    // that a change in the machine's speed affects each alike.
    for (int r = 0; r < repeat; ++r) {
      for (const cotrack::EngineConfig& ec : configs) {
        for (const std::string& batch : batch_modes) {
          cotrack::WindowBatcherStats bstats;
          std::vector<Timing> ts;
          if (streams == 1) {
            ts.push_back(time_engine(model, ec, clips[0], points, warmup, frames, rss_every));
          } else {
            ts = time_streams(model, ec, clips, points, warmup, frames, batch == "on",
                              batch_wait_ms, &bstats);
          }
          // The streams' timed spans overlap; the slowest one bounds the rate of all.
          double seconds = 0;
          Timing t;
          for (const Timing& one : ts) {
            seconds = std::max(seconds, one.seconds);
            t.latency_ms.insert(t.latency_ms.end(), one.latency_ms.begin(), one.latency_ms.end());
            t.stages.cnn_ms += one.stages.cnn_ms;
            t.stages.correlation_ms += one.stages.correlation_ms;
            t.stages.transformer_ms += one.stages.transformer_ms;
            t.stages.other_ms += one.stages.other_ms;
            t.stages.windows += one.stages.windows;
          }
          const int all_frames = frames * streams;
          Json j;
          j["model"] = model_path.empty() ? "random" : model_path;
          j["preset"] = mc.preset;
          j["resolution"] = fmt::format("{}x{}", mc.model_height, mc.model_width);
          j["input"] = fmt::format("{}x{}", in_w, in_h);
          j["points"] = points;
          j["mode"] = cotrack::to_string(ec.mode);
          j["step"] = ec.mode == cotrack::EngineMode::kExact ? mc.step() : std::max(ec.step, 1);
          j["iters"] = ec.iters > 0 ? ec.iters : mc.iters;
          j["precision"] = cotrack::to_string(ec.precision);
          j["motion_prior"] = ec.motion_prior;
          j["reacquire"] = ec.reacquire;
          j["threads"] = cotrack::num_threads();
          j["device"] = model.device();
          j["isa"] = cotrack::cpu_isa();
          j["kernels"] = kernels(ec.precision, model.device());
          j["frames"] = frames;
          if (streams > 1) {
            j["streams"] = streams;
            j["batch_streams"] = batch;
            j["fps_per_stream"] = rounded(frames / seconds, 2);
            if (batch == "on") {
              j["batching"] = {{"batches", bstats.batches},
                               {"windows", bstats.windows},
                               {"largest", bstats.largest},
                               {"wait_ms", batch_wait_ms}};
            }
          }
          j["fps"] = rounded(all_frames / seconds, 2);
          j["latency_ms"] = {{"median", rounded(percentile(t.latency_ms, 0.5), 2)},
                             {"p95", rounded(percentile(t.latency_ms, 0.95), 2)},
                             {"max", rounded(percentile(t.latency_ms, 1.0), 2)}};
          const double per_frame = 1.0 / std::max(all_frames, 1);
          j["stage_ms_per_frame"] = {
              {"cnn", rounded(t.stages.cnn_ms * per_frame, 2)},
              {"correlation", rounded(t.stages.correlation_ms * per_frame, 2)},
              {"transformer", rounded(t.stages.transformer_ms * per_frame, 2)},
              {"other", rounded(t.stages.other_ms * per_frame, 2)}};
          j["windows"] = t.stages.windows;
          j["peak_rss_mib"] = rounded(cotrack::process_memory_mib("VmHWM:"), 2);
          j["allocator"] = allocator;
          j["blas"] = cotrack::blas_core();
          fmt::print("{}\n", j.dump());
          std::fflush(stdout);
        }
      }
    }
    return 0;
  });
}
