// `cotrack live`: the interactive tracker. A GStreamer source feeds the frame ring, the engine
// thread tracks, the main thread draws (window or headless) and writes the outputs.
//
//   capture thread (GStreamer) --ring--> engine thread --LiveView--> main thread (draw, window)
//                                               |                          | clicks, keys
//                                               +--FinalFrame--> output thread (video file)
//                                               +--> tracks file (engine thread, flushed per frame)
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "commands.hpp"
#include "json_out.hpp"
#include "config_file.hpp"
#include "cotrack/engine.hpp"
#include "cotrack/error.hpp"
#include "cotrack/log.hpp"
#include "cotrack/photo_bank.hpp"
#include "cotrack/synth_stream.hpp"
#include "cotrack/runtime.hpp"
#include "cotrack/track_io.hpp"
#include "engine_options.hpp"
#include "engine_worker.hpp"
#include "frame_ring.hpp"
#include "gst_source.hpp"
#include "live_defaults.hpp"
#include "lk_tracker.hpp"
#include "percentile.hpp"
#include "renderer.hpp"
#include "steady_clock.hpp"
#include "synth_source.hpp"
#include "mqtt_link.hpp"
#include "web_server.hpp"

namespace cotrack::app {
namespace {

std::atomic<int> g_signal{0};
// Frames of the synth source's scene, played forward and backward: 5 s each way at 30 fps, and
// 132 MiB of frames at 640x480.
constexpr int kSynthSceneFrames = 150;
// --batch-streams: how long a stream's window waits for the other streams' (half a frame at 30
// fps), bounding the latency batching adds.
constexpr double kBatchWaitMs = 15.0;
extern "C" void on_signal(int sig) { g_signal.store(sig); }

struct LiveOptions {
  std::string config;
  SourceConfig source;  // every stream's source settings; source.spec is set per stream
  std::vector<std::string> sources = {"synth"};  // --source, once per stream
  std::string on_reconnect = "keep";
  std::string engine = "cotrack";
  std::string batch_streams = "auto";  // auto (a GPU and several network streams), on, off
  ModelOptions model;
  EngineOptions net;  // the cotrack engine's settings (and the trail, for every engine)
  std::string points_path;
  int grid = 0;
  int ring_slots = 16, max_thin = 8;
  std::string drop = "thin";
  bool no_window = false;
  std::string out_video, out_tracks, stats_json, screenshot_dir = ".";
  double duration_s = 0;
  int64_t max_frames = 0;
  double log_every_s = 5;
  bool help_overlay = false;
  bool record_overlay = false;
  std::string synth_photos;  // synth source: cut its textures from these photographs
  std::string serve;         // HOST:PORT of the browser view ("" = none)
  std::string serve_token;
  bool serve_token_generated = false;  // set by run_live: one token for every stream's view
  int serve_quality = 80;    // JPEG quality of the browser view's picture
  std::string mqtt;          // mqtt://HOST:PORT/PREFIX ("" = none)
  std::string mqtt_username, mqtt_password, mqtt_cafile;
  int mqtt_queue = 1000;
};

// Renders final frames into the video file on its own thread, so encoding never holds up the
// engine. The queue is bounded: when the encoder falls behind, the engine thread waits (and the
// ring's thinning absorbs it), no frame of the video is lost.
class VideoWorker {
 public:
  // `overlay`: the video also carries the HUD (as the window shows it when the frame was
  // final), point ids and a legend; otherwise only the tracks (run statistics go to the log).
  VideoWorker(const std::string& path, double fps, int trail, bool overlay)
      : path_(path), fps_(fps) {
    render_cfg_.trail_frames = trail;
    render_cfg_.show_hud = overlay;
    render_cfg_.show_ids = overlay;
    render_cfg_.show_legend = overlay;
    thread_ = std::thread([this] { run(); });
  }
  // With the overlay: the HUD's contents, asked for on the engine thread as each frame is final.
  void set_hud_source(std::function<HudStats()> source) { hud_source_ = std::move(source); }
  ~VideoWorker() { close(); }
  void push(const FinalFrame& f) {
    if (!f.rgb) return;
    HudStats hud;
    if (render_cfg_.show_hud && hud_source_) hud = hud_source_();
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [this] { return queue_.size() < kMaxQueued || done_; });
    queue_.push_back({f, std::move(hud)});
    cv_.notify_all();
  }
  void close() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  int64_t frames() const { return frames_; }
  std::string error() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }

 private:
  void run() {
    Renderer renderer(render_cfg_);
    std::vector<uint8_t> bgr;
    std::unique_ptr<VideoOut> out;
    while (true) {
      FinalFrame f;
      HudStats hud;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [this] { return !queue_.empty() || done_; });
        if (queue_.empty()) break;
        f = std::move(queue_.front().first);
        hud = std::move(queue_.front().second);
        queue_.pop_front();
        cv_.notify_all();
      }
      try {
        if (!out) out = std::make_unique<VideoOut>(path_, f.width, f.height, fps_);
        if (f.width != width_ && width_ != 0) continue;  // a new size cannot go in one file
        width_ = f.width;
        renderer.draw(f.rgb->data(), f.width, f.height, *f.trails, f.frame_index, hud, bgr);
        out->write(bgr);
        ++frames_;
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (error_.empty()) error_ = e.what();
      }
    }
    if (out) out->close();
  }

  static constexpr size_t kMaxQueued = 32;
  std::string path_;
  double fps_;
  RenderConfig render_cfg_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::pair<FinalFrame, HudStats>> queue_;
  std::function<HudStats()> hud_source_;
  bool done_ = false;
  std::atomic<int64_t> frames_{0};
  int width_ = 0;
  std::string error_;
};

// One stream's tracker; `model` (the network, shared by every stream) is null for LK.
std::unique_ptr<PointTracker> make_tracker(const LiveOptions& o, const Model* model,
                                           std::shared_ptr<WindowBatcher> batcher,
                                           int& history_frames) {
  if (model == nullptr) {
    LKConfig lc;
    lc.max_points = o.net.max_points;
    lc.trail_frames = o.net.trail;
    history_frames = 16;
    return std::make_unique<LKTracker>(lc);
  }
  history_frames = 2 * model->config().window_len + 8;
  return o.net.make_tracker(*model, std::move(batcher));
}

// The browser view's settings: a server reachable from other machines always needs a token, and
// gets a generated one when none is given.
ServeConfig serve_config(const LiveOptions& o) {
  ServeConfig sc = ServeConfig::parse(o.serve);
  sc.token = o.serve_token;
  sc.jpeg_quality = o.serve_quality;
  if (sc.token.empty() && !sc.loopback()) sc.token = generate_token();
  sc.validate();
  return sc;
}

// The source settings of stream `spec`.
SourceConfig source_for(const LiveOptions& o, const std::string& spec) {
  SourceConfig sc = o.source;
  sc.spec = spec;
  return sc;
}

// --mqtt and its options.
MqttConfig mqtt_config(const LiveOptions& o) {
  MqttConfig mc = MqttConfig::parse(o.mqtt);
  if (!o.mqtt_username.empty()) mc.username = o.mqtt_username;
  if (!o.mqtt_password.empty()) mc.password = o.mqtt_password;
  mc.cafile = o.mqtt_cafile;
  mc.max_queue = o.mqtt_queue;
  mc.validate();
  return mc;
}

// Checks every setting before anything starts; returns the ring configuration of each stream.
std::vector<RingConfig> validate(const LiveOptions& o) {
  if (o.sources.empty()) throw UsageError("source: give at least one");
  if (o.sources.size() > 16) throw UsageError("source: at most 16 streams in one process");
  std::vector<RingConfig> rings;
  for (const std::string& spec : o.sources) {
    source_for(o, spec).validate();
    RingConfig rc;
    rc.slots = o.ring_slots;
    rc.max_thin = o.max_thin;
    rc.policy = parse_drop_policy(o.drop);
    rc.validate();
    const SourceKind kind = source_kind(spec);
    if (rc.policy == DropPolicy::kNone && !(kind == SourceKind::kFile && !o.source.realtime)) {
      throw UsageError("drop 'none' needs a source that can wait: a file with realtime = false");
    }
    if (kind == SourceKind::kFile && !o.source.realtime) rc.policy = DropPolicy::kNone;
    rings.push_back(rc);
  }
  if (!o.serve.empty()) {
    const ServeConfig sc = serve_config(o);
    if (sc.port != 0 && sc.port + static_cast<int>(o.sources.size()) - 1 > 65535) {
      throw UsageError("serve: one port per stream from the given one on: they run past 65535");
    }
  }
  if (o.on_reconnect != "keep" && o.on_reconnect != "reset") {
    throw UsageError(fmt::format("on-reconnect '{}': expected keep or reset", o.on_reconnect));
  }
  if (o.grid < 0 || o.grid > 64) throw UsageError("grid: expected 0..64");
  if (o.duration_s < 0) throw UsageError("duration: expected >= 0 seconds");
  if (!o.serve.empty()) serve_config(o);  // throws for a bad address or token
  if (!o.mqtt.empty()) mqtt_config(o);    // throws for a bad URL or setting
  return rings;
}

// Live accuracy against the synth source's truth: fed on the engine thread, read by the main
// thread (HUD, status lines) and the report.
class LiveScore {
 public:
  explicit LiveScore(std::shared_ptr<const SynthStream> stream) : accuracy_(std::move(stream)) {}
  void add(const FrameEstimates& f) {
    const std::lock_guard<std::mutex> lock(mu_);
    accuracy_.add(f);
  }
  LiveAccuracy::Summary summary() const {
    const std::lock_guard<std::mutex> lock(mu_);
    return accuracy_.summary();
  }
  // "truth: delta_avg 71.2 | occlusion 88.0% | far off 2.1%", or "" before anything is scored.
  std::string text() const {
    const LiveAccuracy::Summary a = summary();
    if (a.estimates == 0) return "";
    return fmt::format("truth: delta_avg {:.1f} | occlusion {:.1f}% | far off {:.1f}%",
                       100 * a.delta_avg, 100 * a.occlusion_accuracy, 100 * a.far_off);
  }

 private:
  mutable std::mutex mu_;
  LiveAccuracy accuracy_;
};

HudStats hud_for(const LiveView& view, const std::string& mode_label, int64_t now_ns,
                 const LiveScore* score) {
  HudStats hud;
  if (score) hud.accuracy = score->text();
  hud.input_fps = view.input_fps;
  hud.tracked_fps = view.tracked_fps;
  hud.received = view.counters.received;
  hud.processed = view.counters.processed;
  hud.dropped = view.counters.dropped();
  hud.points = view.points;
  hud.thin = view.thin;
  hud.mode = mode_label;
  hud.paused = view.paused;
  hud.status = view.status;
  hud.latency_ms = view.rgb ? static_cast<double>(now_ns - view.arrival_ns) * 1e-6 : -1.0;
  return hud;
}

constexpr const char* kKeyHint =
    "click: add a point | right-click: remove the nearest | h: show the keys on screen | "
    "space/p: pause | g: grid | c: clear | s: screenshot | q/Esc: quit";

// The window's input: clicks and keys become commands for the engine thread, or change the
// drawing. Returns a quit reason, or "" to go on.
std::string handle_ui_event(const UiEvent& e, const LiveView& shown, const LiveOptions& o,
                            EngineWorker& worker, RenderConfig& render_cfg, Renderer& renderer,
                            const std::vector<uint8_t>& bgr, bool& redraw,
                            const std::string& shot_name) {
  LiveCommand c{LiveCommand::Kind::kAddPoint};
  c.frame = shown.frame_index;
  c.x_px = e.x;
  c.y_px = e.y;
  switch (e.kind) {
    case UiEvent::Kind::kLeftClick:
      if (e.x < 0 || e.y < 0 || e.x > shown.width - 1 || e.y > shown.height - 1) {
        fmt::print(stderr, "cotrack live: click at ({}, {}) is outside the {}x{} image: ignored\n",
                   e.x, e.y, shown.width, shown.height);
      } else {
        worker.post(c);
      }
      return "";
    case UiEvent::Kind::kRightClick:
      c.kind = LiveCommand::Kind::kRemoveNearest;
      worker.post(c);
      return "";
    case UiEvent::Kind::kClosed:
      return "window closed";
    case UiEvent::Kind::kKey:
      break;
  }
  switch (e.key) {
    case 'q':
    case 27:
      return "quit";
    case 'c':
      worker.post({LiveCommand::Kind::kClear});
      break;
    case 'g': {
      LiveCommand g{LiveCommand::Kind::kGrid};
      g.grid = o.grid > 0 ? o.grid : 4;
      worker.post(g);
      break;
    }
    case ' ':
    case 'p':
      worker.post({LiveCommand::Kind::kTogglePause});
      break;
    case 'h':
      render_cfg.show_help = !render_cfg.show_help;
      renderer.set_config(render_cfg);
      redraw = true;
      break;
    case 's': {
      const std::string path =
          (std::filesystem::path(o.screenshot_dir) /
           fmt::format("cotrack-{}{:06d}.png", shot_name, shown.seq))
              .string();
      fmt::print(stderr, "cotrack live: screenshot {} {}\n", path,
                 write_png(path, bgr, shown.width, shown.height) ? "written" : "FAILED");
      break;
    }
    default:
      break;
  }
  return "";
}

// What the source's events tell the main loop.
struct SourceState {
  std::atomic<bool> done{false};    // nothing more will come
  std::atomic<bool> failed{false};  // ... because the source gave up
  std::atomic<int> starts{0};
};

// The source's events: a restart resets (or keeps) the engine's points, the end of a stream that
// does not reconnect or a source that gives up ends the run.
EventCallback source_events(const std::string& spec, SourceKind kind, EngineWorker& worker,
                            SourceState& state, const std::string& label) {
  // Each event is logged and shown on the HUD, so an outage is visible while no frame comes.
  auto show = [&worker, label](std::string text) {
    log_line(label + text);
    LiveCommand c{LiveCommand::Kind::kSourceState};
    c.text = std::move(text);
    worker.post(c);
  };
  return [spec, kind, &worker, &state, show](const SourceEvent& e) {
    switch (e.kind) {
      case SourceEvent::Kind::kStarted:
        if (state.starts.fetch_add(1) > 0) {
          worker.post({LiveCommand::Kind::kStreamRestarted});
        }
        break;
      case SourceEvent::Kind::kEndOfStream:
        // Only RTSP reconnects; for every other source the end is final.
        show(kind == SourceKind::kRtsp ? "end of stream (reconnecting)" : "end of stream");
        if (kind != SourceKind::kRtsp) state.done.store(true);
        break;
      case SourceEvent::Kind::kError:
        show(fmt::format("source {}: {}", spec, e.message));
        break;
      case SourceEvent::Kind::kReconnecting:
        show(fmt::format("reconnecting in {} ms (attempt {})", e.delay_ms, e.attempt));
        break;
      case SourceEvent::Kind::kGaveUp:
        show(fmt::format("source {} gave up: {}", spec, e.message));
        state.failed.store(true);
        state.done.store(true);
        break;
    }
  };
}

// Whether to open a window: asked for and a display present. Says so when there is none.
bool use_window(const LiveOptions& o) {
  const bool window = !o.no_window && PreviewWindow::display_available();
  if (window) fmt::print(stderr, "cotrack live: {}\n", kKeyHint);
  if (!o.no_window && !window) {
    fmt::print(stderr, "cotrack live: no display (DISPLAY is not set): running headless{}\n",
               o.out_video.empty() && o.out_tracks.empty()
                   ? "; add --out-video or --out-tracks to keep the result"
                   : "");
  }
  return window;
}

// The settings in effect and the engine, before the source starts.
void print_setup(const LiveOptions& o, const CLI::App& sub, const std::string& mode_label,
                 const Model* model) {
  fmt::print(stderr, "cotrack live: settings: {}\n", effective_settings(sub));
  if (o.engine == "lk") {
    fmt::print(stderr, "cotrack live: engine lk, the Lucas-Kanade baseline\n");
  } else {
    // The window schedule in effect: the model summary names the model's own iterations.
    const EngineConfig ec = o.net.to_config(*model);
    const int iters = ec.iters > 0 ? ec.iters : model->config().iters;
    const int step =
        ec.mode == EngineMode::kLowLatency ? std::max(ec.step, 1) : model->config().step();
    const std::string schedule = fmt::format("a window every {} frames, {} iteration{}", step,
                                             iters, iters == 1 ? "" : "s");
    fmt::print(stderr, "cotrack live: engine {} ({}) | {} | {}\n", mode_label, schedule,
               model->config().summary(), model->device());
  }
}

// The files the engine thread writes every final frame into (--out-tracks, --out-video).
struct LiveOutputs {
  std::unique_ptr<TrackWriter> tracks;
  std::unique_ptr<VideoWorker> video;
  std::unique_ptr<LiveScore> score;  // with the synth source
  std::unique_ptr<WebServer> server;  // --serve: its /api/stream
  MqttLink* mqtt = nullptr;           // --mqtt (shared by the streams): PREFIX/`name`/tracks
  std::string name;

  // For the engine worker; `this` must outlive it.
  EngineWorker::FinalSink sink() {
    return [this](const FinalFrame& f) {
      if (tracks) tracks->write(f.estimates);
      if (video) video->push(f);
      if (score) score->add(f.estimates);
      if (server) server->publish_final(f.estimates);
      if (mqtt) mqtt->publish_tracks(name, f.estimates, unix_ms_of(f.arrival_ns));
    };
  }
};

// `path` for stream `name` when there are `count` streams: unchanged for one stream, else with
// "-NAME" before the extension (tracks.csv -> tracks-1.csv).
std::string stream_path(const std::string& path, const std::string& name, size_t count) {
  if (path.empty() || count == 1) return path;
  const std::filesystem::path p(path);
  return (p.parent_path() / (p.stem().string() + "-" + name + p.extension().string())).string();
}

LiveOutputs open_outputs(const LiveOptions& o, const std::string& tracks_path,
                         const std::string& video_path) {
  LiveOutputs out;
  if (!tracks_path.empty()) out.tracks = std::make_unique<TrackWriter>(tracks_path);
  if (!video_path.empty()) {
    // Fail now, not at the first frame, when the file cannot be written.
    const auto dir = std::filesystem::absolute(video_path).parent_path();
    if (!std::filesystem::is_directory(dir)) {
      throw Error(ExitCode::kRuntime, fmt::format("{}: cannot write the video: no directory {}",
                                                  video_path, dir.string()));
    }
    out.video =
        std::make_unique<VideoWorker>(video_path, o.source.fps, o.net.trail, o.record_overlay);
  }
  return out;
}

WorkerConfig worker_config(const LiveOptions& o, int history_frames) {
  WorkerConfig wc;
  wc.history_frames = history_frames;
  wc.trail_frames = o.net.trail;
  wc.keep_points_on_restart = o.on_reconnect == "keep";
  return wc;
}

// The points of --points and --grid, queued for the engine before it starts.
void post_initial_points(const LiveOptions& o, const std::vector<PointQuery>& points,
                         EngineWorker& worker) {
  for (const auto& q : points) {
    LiveCommand c{LiveCommand::Kind::kAddPoint};
    c.frame = q.frame;
    c.x_px = q.x_px;
    c.y_px = q.y_px;
    worker.post(c);
  }
  if (o.grid > 0) {
    LiveCommand c{LiveCommand::Kind::kGrid};
    c.grid = o.grid;
    worker.post(c);
  }
}

// What the main thread draws with, and the window it shows in (opened at the first frame).
struct Screen {
  Screen(const LiveOptions& o, bool with_window, std::string window_title)
      : window(with_window), title(std::move(window_title)), render_cfg(config_for(o)),
        renderer(render_cfg) {}
  static RenderConfig config_for(const LiveOptions& o) {
    RenderConfig rc;
    rc.trail_frames = o.net.trail;
    rc.show_help = o.help_overlay;
    return rc;
  }

  bool window;  // a window is wanted and a display present
  std::string title;
  std::unique_ptr<PreviewWindow> win;
  RenderConfig render_cfg;
  Renderer renderer;
  std::vector<uint8_t> bgr;  // the last frame drawn
};

// One stream: its source, engine thread, outputs and window. Each stream has its own tracker and
// points; with the network, every stream's engine shares one model.
struct Stream {
  std::string name;   // "0", "1", ...: output file suffixes, window titles
  std::string label;  // "" with one stream, else "[NAME] " before its log lines
  SourceConfig source;
  SourceKind kind = SourceKind::kSynth;
  std::string tracks_path, video_path;
  std::unique_ptr<PointTracker> tracker;
  std::shared_ptr<const SynthStream> synth;
  LiveOutputs outputs;
  std::unique_ptr<FrameRing> ring;
  std::unique_ptr<EngineWorker> worker;
  SourceState state;
  std::unique_ptr<cotrack::FrameSource> source_ptr;
  std::unique_ptr<Screen> screen;
  // The main loop's.
  std::shared_ptr<const LiveView> shown;        // the view on screen (may be null)
  std::shared_ptr<const LiveView> placeholder;  // the frameless view last drawn
  std::vector<double> latencies_ms;             // arrival -> drawn, of the frames drawn unpaused
  std::string end;  // why its engine finished: "" while running
};

using Streams = std::vector<std::unique_ptr<Stream>>;

std::string status_json(const LiveView& view, const Stream& st, const std::string& mode_label);

// Draws the stream's newest view (and shows it), or a dark placeholder while a camera that does
// not answer has news.
// `totals`: with several streams, this stream's name and the sums for the HUD ("" with one).
void draw_stream(const LiveOptions& o, const std::string& mode_label, Stream& st,
                 WebServer* server, const std::string& totals) {  // server: the stream's view
  Screen& screen = *st.screen;
  const LiveScore* score = st.outputs.score.get();
  auto view = st.worker->latest();
  if (screen.window && !st.shown && !view->rgb && !view->status.empty() &&
      view != st.placeholder) {
    // No frame yet but news from the source (a camera that does not answer, reconnecting):
    // open the window on a dark picture that says so, rather than nothing.
    st.placeholder = view;
    const int w = o.source.width, h = o.source.height;
    const std::vector<uint8_t> dark(static_cast<size_t>(w) * h * 3, 24);
    screen.renderer.draw(dark.data(), w, h, Snapshot{}, 0,
                         hud_for(*view, mode_label, steady_ns(), score), screen.bgr);
    if (!screen.win) screen.win = std::make_unique<PreviewWindow>(screen.title, w, h);
    screen.win->show(screen.bgr, w, h);
  }
  if (view != st.shown && view->rgb) {
    st.shown = view;
    HudStats hud = hud_for(*view, mode_label, steady_ns(), score);
    hud.streams = totals;
    screen.renderer.draw(view->rgb->data(), view->width, view->height, *view->tracks,
                         view->frame_index, hud, screen.bgr);
    if (!view->paused) st.latencies_ms.push_back(hud.latency_ms);
    if (server) {
      server->publish_frame(screen.bgr, view->width, view->height, view->seq, view->arrival_ns);
    }
    if (screen.window) {
      if (!screen.win) {
        screen.win = std::make_unique<PreviewWindow>(screen.title, view->width, view->height);
      }
      screen.win->show(screen.bgr, view->width, view->height);
    }
  }
}

// The main thread until a reason to stop: draws each stream's newest view, shows it, handles
// the windows' input and prints a status line per stream every --log-every seconds. The run
// ends when every stream has ended.
std::string run_main_loop(const LiveOptions& o, const std::string& mode_label, Streams& streams,
                          int64_t t_start, MqttLink* mqtt) {
  std::string quit_reason;
  int64_t next_log_ns = t_start + static_cast<int64_t>(o.log_every_s * 1e9);
  int64_t next_status_ns = t_start;
  const bool any_window = std::any_of(streams.begin(), streams.end(),
                                      [](const auto& st) { return st->screen->window; });
  while (quit_reason.empty()) {
    if (g_signal.load() != 0)
      quit_reason = g_signal.load() == SIGINT ? "interrupted" : "terminated";
    const double elapsed_s = (steady_ns() - t_start) * 1e-9;
    if (o.duration_s > 0 && elapsed_s >= o.duration_s) quit_reason = "duration reached";
    bool all_ended = true, all_at_max = o.max_frames > 0;
    std::string worst;  // engine error > source failed > end of stream
    double total_fps = 0;
    int64_t total_drops = 0;
    for (const auto& sp : streams) {
      const auto v = sp->worker->latest();
      total_fps += v->tracked_fps;
      total_drops += v->counters.dropped();
    }
    for (auto& sp : streams) {
      Stream& st = *sp;
      EngineWorker& worker = *st.worker;
      if (st.state.done.load() && !worker.finished()) worker.end_of_stream();
      if (worker.finished() && st.end.empty()) {
        st.end = !worker.error().empty()   ? "engine error"
                 : st.state.failed.load() ? "source failed"
                                          : "end of stream";
      }
      all_ended = all_ended && !st.end.empty();
      if (st.end == "engine error" || (st.end == "source failed" && worst != "engine error")) {
        worst = st.end;
      }
      if (o.max_frames > 0 && st.end.empty() &&
          worker.latest()->counters.processed < o.max_frames) {
        all_at_max = false;  // a stream that ended early does not hold the others
      }
      const std::string totals =
          streams.size() < 2 ? std::string()
                             : fmt::format("stream [{}] of {} | all: tracked {:.1f} fps, drops {}",
                                           st.name, streams.size(), total_fps, total_drops);
      draw_stream(o, mode_label, st, st.outputs.server.get(), totals);
    }
    if (quit_reason.empty() && all_ended) quit_reason = worst.empty() ? "end of stream" : worst;
    if (quit_reason.empty() && all_at_max) quit_reason = "max-frames";
    bool polled = false;
    for (auto& sp : streams) {
      Stream& st = *sp;
      Screen& screen = *st.screen;
      if (!screen.win) continue;
      polled = true;
      for (const UiEvent& e : screen.win->poll(std::max<int>(1, 5 / static_cast<int>(streams.size())))) {
        if (!st.shown || !quit_reason.empty()) continue;
        bool redraw = false;
        quit_reason = handle_ui_event(e, *st.shown, o, *st.worker, screen.render_cfg,
                                      screen.renderer, screen.bgr, redraw, st.label.empty() ? "" : st.name + "-");
        if (redraw) st.shown = nullptr;
      }
    }
    if (!polled) std::this_thread::sleep_for(std::chrono::milliseconds(any_window ? 5 : 2));
    if (mqtt && steady_ns() >= next_status_ns) {  // PREFIX/STREAM/status, once a second
      next_status_ns += 1'000'000'000;
      for (auto& sp : streams) {
        mqtt->publish_status(sp->name, status_json(*sp->worker->latest(), *sp, mode_label));
      }
    }
    if (o.log_every_s > 0 && steady_ns() >= next_log_ns) {
      next_log_ns += static_cast<int64_t>(o.log_every_s * 1e9);
      for (auto& sp : streams) {
        const Stream& st = *sp;
        if (!st.shown) continue;
        const auto c = st.shown->counters;
        const std::string truth = st.outputs.score ? st.outputs.score->text() : std::string();
        fmt::print(stderr,
                   "cotrack live: {}{:.0f} s | in {:.1f} fps | tracked {:.1f} fps | received {} "
                   "processed {} dropped {} | thin 1/{} | points {} | RSS {:.0f} MiB{}\n",
                   st.label, elapsed_s, st.shown->input_fps, st.shown->tracked_fps, c.received,
                   c.processed, c.dropped(), st.shown->thin, st.shown->points,
                   process_memory_mib("VmRSS:"), truth.empty() ? "" : " | " + truth);
      }
      if (streams.size() > 1) {
        RingCounters all;
        for (const auto& sp : streams) all += sp->ring->counters();
        fmt::print(stderr,
                   "cotrack live: all {} streams: tracked {:.1f} fps | received {} processed {} "
                   "dropped {}\n",
                   streams.size(), total_fps, all.received, all.processed, all.dropped());
      }
    }
  }
  return quit_reason;
}

int exit_code_for(const std::string& quit_reason) {
  if (quit_reason == "source failed") return static_cast<int>(ExitCode::kInput);
  if (quit_reason == "interrupted" || quit_reason == "terminated") {
    return static_cast<int>(ExitCode::kInterrupted);
  }
  return 0;
}

// `j` on one line, as {"key": value, "key": {...}}: the layout that scripts/bench_live.sh,
// scripts/soak_live.sh and tests/cli/test_live.sh read with grep ("key": number).
std::string one_line(const Json& j) {
  if (!j.is_object() || j.empty()) return j.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::string out;
  for (const auto& item : j.items()) {
    out += out.empty() ? "{" : ", ";
    out += Json(item.key()).dump(-1, ' ', false, Json::error_handler_t::replace);
    out += ": " + one_line(item.value());
  }
  return out + "}";
}

// One stream's statistics.
struct StreamStats {
  std::string name, source;
  RingCounters counters;
  std::vector<double> latencies_ms;
  int points = 0;
  int64_t reconnects = 0, reconnect_attempts = 0;
  std::optional<LiveAccuracy::Summary> accuracy;  // synth source
  std::optional<WebServer::Counters> serve;       // --serve
};

// The run's statistics: what the final lines say, for --stats-json.
struct RunStats {
  std::optional<MqttLink::Counters> mqtt;
  std::optional<WindowBatcherStats> batching;  // --batch-streams
  std::string engine, stop;
  std::string precision;  // the network's, resolved ("" for LK)
  bool motion_prior = false;  // the network's, resolved
  bool reacquire = false;     // the network's, resolved
  int threads = 0;
  double seconds = 0;
  std::vector<StreamStats> streams;
};

// Frames, rates, latency, points and reconnects of one stream, or of all together.
void add_counts(Json& j, const RingCounters& c, const std::vector<double>& latencies_ms,
                int points, int64_t reconnects, int64_t reconnect_attempts, double seconds) {
  j["received"] = c.received;
  j["processed"] = c.processed;
  j["dropped"] = c.dropped();
  j["thinned"] = c.thinned;
  j["full"] = c.full;
  j["stale"] = c.stale;
  j["paused"] = c.paused;
  j["input_fps"] = rounded(c.received / seconds, 2);
  j["processed_fps"] = rounded(c.processed / seconds, 2);
  j["latency_ms"] = {{"median", rounded(percentile(latencies_ms, 0.5), 2)},
                     {"p95", rounded(percentile(latencies_ms, 0.95), 2)},
                     {"samples", latencies_ms.size()}};
  j["points"] = points;
  j["reconnects"] = reconnects;
  j["reconnect_attempts"] = reconnect_attempts;
}

Json accuracy_json(const LiveAccuracy::Summary& a) {
  return {{"delta_avg", rounded(a.delta_avg, 4)},
          {"within_8px", rounded(a.within_8px, 4)},
          {"occlusion_accuracy", rounded(a.occlusion_accuracy, 4)},
          {"far_off", rounded(a.far_off, 4)},
          {"far_off_px", LiveAccuracy::kFarOffPx},
          {"estimates", a.estimates},
          {"visible", a.visible}};
}

// The whole run first (the sums over the streams), then "streams": each stream on its own.
Json stats_json(const RunStats& s) {
  RingCounters total;
  std::vector<double> latencies;
  int points = 0;
  int64_t reconnects = 0, attempts = 0;
  std::string sources;
  Json streams = Json::array();
  for (const StreamStats& st : s.streams) {
    const RingCounters& c = st.counters;
    total += c;
    latencies.insert(latencies.end(), st.latencies_ms.begin(), st.latencies_ms.end());
    points += st.points;
    reconnects += st.reconnects;
    attempts += st.reconnect_attempts;
    sources += (sources.empty() ? "" : ",") + st.source;
    Json one;
    one["name"] = st.name;
    one["source"] = st.source;
    add_counts(one, c, st.latencies_ms, st.points, st.reconnects, st.reconnect_attempts,
               s.seconds);
    if (st.accuracy) one["accuracy"] = accuracy_json(*st.accuracy);
    if (st.serve) {
      one["serve"] = {{"requests", st.serve->requests}, {"frames_encoded", st.serve->frames_encoded}};
    }
    streams.push_back(one);
  }
  Json j;
  j["source"] = sources;
  j["engine"] = s.engine;
  if (!s.precision.empty()) {
    j["precision"] = s.precision;
    j["motion_prior"] = s.motion_prior;
    j["reacquire"] = s.reacquire;
  }
  j["threads"] = s.threads;
  j["seconds"] = rounded(s.seconds, 3);
  add_counts(j, total, latencies, points, reconnects, attempts, s.seconds);
  if (s.streams.size() == 1 && s.streams[0].accuracy) {
    j["accuracy"] = accuracy_json(*s.streams[0].accuracy);
  }
  if (s.streams.size() == 1 && s.streams[0].serve) {
    const WebServer::Counters& sv = *s.streams[0].serve;
    j["serve"] = {{"requests", sv.requests},
                  {"frames_encoded", sv.frames_encoded},
                  {"rows_dropped", sv.rows_dropped},
                  {"refused", sv.refused}};
  }
  if (s.mqtt) {
    j["mqtt"] = {{"published", s.mqtt->published},
                 {"dropped", s.mqtt->dropped},
                 {"queued_max", s.mqtt->queued_max},
                 {"connects", s.mqtt->connects},
                 {"commands", s.mqtt->commands}};
  }
  if (s.batching) {
    j["batching"] = {{"batches", s.batching->batches},
                     {"windows", s.batching->windows},
                     {"largest", s.batching->largest}};
  }
  j["peak_rss_mib"] = rounded(process_memory_mib("VmHWM:"), 1);
  j["stop"] = s.stop;
  j["streams"] = streams;
  return j;
}

// After the shutdown: the final line of each stream, the outputs written and --stats-json.
// Returns the exit code: `exit_code`, or kRuntime when a video could not be written.
int report(const LiveOptions& o, const RunStats& s, const Streams& streams, int exit_code) {
  for (size_t i = 0; i < streams.size(); ++i) {
    const Stream& st = *streams[i];
    const StreamStats& ss = s.streams[i];
    const RingCounters& c = ss.counters;
    fmt::print(stderr,
               "cotrack live: {}stopped ({}) after {:.1f} s: received {} = processed {} + dropped "
               "{} (thinned {}, full {}, stale {}){}; latency median {:.1f} ms, p95 {:.1f} ms\n",
               st.label, s.stop, s.seconds, c.received, c.processed, c.dropped(), c.thinned,
               c.full, c.stale, c.paused > 0 ? fmt::format(" + paused {}", c.paused) : std::string(),
               percentile(ss.latencies_ms, 0.5), percentile(ss.latencies_ms, 0.95));
    if (st.outputs.tracks) {
      fmt::print("tracks: {} ({} rows)\n", st.tracks_path, st.outputs.tracks->rows());
    }
    if (st.outputs.video) {
      if (!st.outputs.video->error().empty()) {
        fmt::print(stderr, "cotrack live: {}video output failed: {}\n", st.label,
                   st.outputs.video->error());
        exit_code = static_cast<int>(ExitCode::kRuntime);
      }
      fmt::print("video: {} ({} frames)\n", st.video_path, st.outputs.video->frames());
    }
  }
  if (!o.stats_json.empty()) {
    std::ofstream js(o.stats_json);
    js << one_line(stats_json(s)) << '\n';
    if (!js) throw Error(ExitCode::kRuntime, o.stats_json + ": cannot write the stats file");
  }
  return exit_code;
}

// One line for settings that the chosen engine ignores, and for a headless run that would track
// nothing: the user learns it at start, not from empty outputs.
void warn_unused(const LiveOptions& o, const CLI::App& sub, bool window) {
  if (o.engine == "lk") {
    std::string unused;
    for (const char* name : {"model", "preset", "resolution", "device", "mode", "step", "iters",
                             "precision", "motion-prior", "reacquire", "visibility-threshold",
                             "confidence-weight", "support-grid",
                             "local-grid", "refine", "refine-max-offset", "refine-anchor",
                             "refine-redetect", "batch-streams"}) {
      const CLI::Option* opt = sub.get_option_no_throw(std::string("--") + name);
      if (opt != nullptr && opt->count() > 0) unused += fmt::format(" --{}", name);
    }
    if (!unused.empty()) {
      log_message("engine lk ignores{}: they set the cotrack engine (--engine cotrack)", unused);
    }
  }
  if (!window && o.grid == 0 && o.points_path.empty() && o.serve.empty()) {
    log_message("headless with no points: nothing will be tracked (add --grid N or --points "
                "FILE)");
  }
}

// GET /api/status: what the HUD says, as JSON.
std::string status_json(const LiveView& view, const Stream& st, const std::string& mode_label) {
  const LiveScore* score = st.outputs.score.get();
  const HudStats hud = hud_for(view, mode_label, steady_ns(), score);
  Json j;
  j["stream"] = st.name;
  j["time"] = unix_ms_of(steady_ns());
  j["engine"] = mode_label;
  j["source"] = st.source.spec;
  const bool reconnecting = view.status.rfind("reconnecting", 0) == 0 ||
                            view.status == "end of stream (reconnecting)";
  j["source_state"] = st.state.failed.load() ? "failed"
                      : st.state.done.load() ? "ended"
                      : reconnecting         ? "reconnecting"
                      : view.seq < 0         ? "waiting"
                                             : "running";
  j["notice"] = view.status;
  j["frame"] = view.seq;
  j["width"] = view.width;
  j["height"] = view.height;
  j["input_fps"] = rounded(view.input_fps, 2);
  j["tracked_fps"] = rounded(view.tracked_fps, 2);
  j["latency_ms"] = hud.latency_ms >= 0 ? Json(rounded(hud.latency_ms, 1)) : Json();
  j["received"] = view.counters.received;
  j["processed"] = view.counters.processed;
  j["dropped"] = view.counters.dropped();
  j["thin"] = view.thin;
  j["paused"] = view.paused;
  j["points"] = view.points;
  if (score) j["accuracy"] = score->text();
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// --serve: the browser view of stream `st` (stream N on the given port + N), listening before
// the source starts.
std::unique_ptr<WebServer> start_server(const LiveOptions& o, const Stream& st, size_t index,
                                        const std::string& mode_label) {
  EngineWorker& worker = *st.worker;
  ServeHooks hooks;
  hooks.latest = [&worker] { return worker.latest(); };
  hooks.post = [&worker](const LiveCommand& c) { return worker.post(c); };
  hooks.status_json = [&worker, &st, mode_label] {
    return status_json(*worker.latest(), st, mode_label);
  };
  ServeConfig sc = serve_config(o);
  if (sc.port != 0) sc.port += static_cast<int>(index);
  auto server = std::make_unique<WebServer>(sc, hooks);
  fmt::print(stderr, "cotrack live: {}browser view at {}{}\n", st.label, server->url(),
             sc.token.empty() ? ""
             : o.serve_token_generated
                 ? " (a generated token: requests without it get 401; --serve-token sets one)"
                 : " (requests without the token get 401)");
  return server;
}

// --batch-streams: one batcher for every stream's network windows, or null.
std::shared_ptr<WindowBatcher> batch_streams(const LiveOptions& o, const Model* model) {
  if (model == nullptr || o.batch_streams == "off") return nullptr;
  const bool gpu = model->device() != "cpu";
  const size_t n = o.sources.size();
  if (n < 2) {
    if (o.batch_streams == "on") log_message("--batch-streams on: one stream, nothing to batch");
    return nullptr;
  }
  if (o.batch_streams == "auto" && !gpu) return nullptr;
  log_message("batching the windows of {} streams into one forward pass on {} (a window waits "
              "up to {:g} ms for the others){}",
              n, model->device(), kBatchWaitMs, gpu ? "" : "; on a CPU this only adds the wait");
  return make_window_batcher(*model, static_cast<int>(n), kBatchWaitMs);
}

// Builds stream `index` of the run: its tracker, outputs, ring, engine thread, source and screen
// (nothing runs yet).
std::unique_ptr<Stream> make_stream(const LiveOptions& o, size_t index, const RingConfig& rc,
                                    const Model* model, std::shared_ptr<WindowBatcher> batcher,
                                    const std::string& mode_label,
                                    const std::vector<PointQuery>& initial_points, bool window) {
  const size_t n = o.sources.size();
  auto st = std::make_unique<Stream>();
  st->name = std::to_string(index);
  st->label = n > 1 ? "[" + st->name + "] " : "";
  st->source = source_for(o, o.sources[index]);
  st->kind = source_kind(st->source.spec);
  int history_frames = 16;
  st->tracker = make_tracker(o, model, std::move(batcher), history_frames);
  st->tracks_path = stream_path(o.out_tracks, st->name, n);
  st->video_path = stream_path(o.out_video, st->name, n);
  st->outputs = open_outputs(o, st->tracks_path, st->video_path);
  if (st->kind == SourceKind::kSynth) {
    SynthParams sp;
    sp.width = o.source.width;
    sp.height = o.source.height;
    sp.frames = kSynthSceneFrames;
    sp.num_points = 0;
    sp.max_speed_px = 4.0 * o.source.width / 256.0;  // the benchmark's motion at this size
    if (!o.synth_photos.empty()) sp.photos = PhotoBank::load(o.synth_photos);
    st->synth = std::make_shared<const SynthStream>(sp, synth_seed(st->source.spec));
    st->outputs.score = std::make_unique<LiveScore>(st->synth);
  }
  st->ring = std::make_unique<FrameRing>(rc);
  st->worker = std::make_unique<EngineWorker>(*st->tracker, *st->ring,
                                              worker_config(o, history_frames), st->outputs.sink());
  EngineWorker& worker = *st->worker;
  if (st->outputs.video && o.record_overlay) {
    const LiveScore* score = st->outputs.score.get();
    st->outputs.video->set_hud_source([&worker, mode_label, score] {
      const auto view = worker.latest();
      return hud_for(*view, mode_label, steady_ns(), score);
    });
  }
  if (!o.serve.empty()) st->outputs.server = start_server(o, *st, index, mode_label);
  FrameRing& ring = *st->ring;
  FrameCallback to_ring = [&ring](const SourceFrame& f) {
    return ring.offer(f.rgb, f.width, f.height, f.stride, f.pts_ns, f.arrival_ns) !=
           FrameRing::Offer::kRefused;
  };
  EventCallback events = source_events(st->source.spec, st->kind, worker, st->state, st->label);
  if (st->synth) {
    st->source_ptr = std::make_unique<SynthSource>(st->source, st->synth, to_ring, events);
  } else {
    GstSource::init();
    st->source_ptr = std::make_unique<GstSource>(st->source, to_ring, events);
  }
  post_initial_points(o, initial_points, worker);
  st->screen = std::make_unique<Screen>(
      o, window, n > 1 ? fmt::format("cotrack [{}] {}", st->name, st->source.spec) : "cotrack");
  return st;
}

int run_live(LiveOptions& o, const CLI::App& sub) {
  set_log_prefix("cotrack live");  // the engine thread's status lines
  const std::vector<RingConfig> rings = validate(o);
  if (!o.serve.empty() && o.serve_token.empty() && !ServeConfig::parse(o.serve).loopback()) {
    o.serve_token = generate_token();  // the same for every stream's view
    o.serve_token_generated = true;
  }
  std::vector<PointQuery> initial_points;
  if (!o.points_path.empty()) initial_points = read_points_csv(o.points_path);
  const bool window = use_window(o);

  // With the network, one model in memory for every stream.
  std::unique_ptr<Model> model;
  if (o.engine != "lk") model = std::make_unique<Model>(o.model.load("cotrack live"));
  warn_unused(o, sub, window);
  const std::string mode_label =
      o.engine == "lk" ? std::string("lk") : fmt::format("cotrack {}", o.net.label(model.get()));
  print_setup(o, sub, mode_label, model.get());

  const std::shared_ptr<WindowBatcher> batcher = batch_streams(o, model.get());
  Streams streams;
  for (size_t i = 0; i < o.sources.size(); ++i) {
    streams.push_back(
        make_stream(o, i, rings[i], model.get(), batcher, mode_label, initial_points, window));
  }

  // --mqtt: one connection for every stream; commands reach the stream named in the topic.
  std::unique_ptr<MqttLink> mqtt;
  if (!o.mqtt.empty()) {
    const MqttConfig mc = mqtt_config(o);
    mqtt = std::make_unique<MqttLink>(mc, [&streams](const std::string& name, const LiveCommand& c) {
      for (auto& st : streams) {
        if (st->name == name) return st->worker->post(c);
      }
      return false;
    });
    for (auto& st : streams) {
      st->outputs.mqtt = mqtt.get();
      st->outputs.name = st->name;
    }
    fmt::print(stderr, "cotrack live: mqtt {}:{}: tracks on {}/STREAM/tracks, status on "
               "{}/STREAM/status, commands from {}/STREAM/cmd (streams {})\n", mc.host, mc.port,
               mc.prefix, mc.prefix, mc.prefix,
               streams.size() == 1 ? std::string("0") : fmt::format("0..{}", streams.size() - 1));
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  for (auto& st : streams) st->worker->start();
  try {
    for (auto& st : streams) st->source_ptr->start();
  } catch (...) {
    for (auto& st : streams) {
      st->source_ptr->stop();
      st->worker->stop(false);
    }
    throw;
  }
  for (auto& st : streams) {
    fmt::print(stderr, "cotrack live: {}source {} ({}): {}\n", st->label, st->source.spec,
               to_string(st->kind), st->source_ptr->description());
  }

  const int64_t t_start = steady_ns();
  const std::string quit_reason = run_main_loop(o, mode_label, streams, t_start, mqtt.get());
  const int exit_code = exit_code_for(quit_reason);

  // Shut down in order: no new frames, the engines finish what they have (every frame reaches
  // the outputs), then the outputs close.
  for (auto& st : streams) st->source_ptr->stop();
  for (auto& st : streams) st->worker->end_of_stream();
  std::string engine_error;
  for (auto& st : streams) {
    st->worker->stop(/*flush=*/true);
    if (engine_error.empty() && !st->worker->error().empty()) {
      engine_error = st->label + st->worker->error();
    }
    if (st->outputs.server) st->outputs.server->stop();
    if (st->outputs.video) st->outputs.video->close();
    if (st->outputs.tracks) st->outputs.tracks->close();
    st->screen->win.reset();
  }
  if (mqtt) {  // the last status says the stream stopped; then what waits goes out
    for (auto& st : streams) {
      Json j = Json::parse(status_json(*st->worker->latest(), *st, mode_label));
      j["source_state"] = "stopped";
      mqtt->publish_status(st->name, j.dump());
    }
    mqtt->stop();
  }

  RunStats stats;
  stats.engine = mode_label;
  if (model) {
    const EngineConfig ec = o.net.to_config(*model);
    stats.precision = to_string(ec.precision);
    stats.motion_prior = ec.motion_prior;
    stats.reacquire = ec.reacquire;
  }
  stats.threads = num_threads();
  stats.stop = quit_reason;
  stats.seconds = (steady_ns() - t_start) * 1e-9;
  if (mqtt) stats.mqtt = mqtt->counters();
  if (batcher) stats.batching = window_batcher_stats(*batcher);
  for (const auto& st : streams) {
    StreamStats ss;
    ss.name = st->name;
    ss.source = st->source.spec;
    ss.counters = st->ring->counters();
    ss.latencies_ms = st->latencies_ms;
    ss.points = st->shown ? st->shown->points : 0;
    ss.reconnects = st->source_ptr->reconnects();
    ss.reconnect_attempts = st->source_ptr->reconnect_attempts();
    if (st->outputs.score) ss.accuracy = st->outputs.score->summary();
    if (st->outputs.server) ss.serve = st->outputs.server->counters();
    stats.streams.push_back(std::move(ss));
  }
  const int code = report(o, stats, streams, exit_code);
  if (!engine_error.empty()) throw Error(ExitCode::kRuntime, "engine thread: " + engine_error);
  return code;
}

}  // namespace

Command add_live(CLI::App& app) {
  auto o = std::make_shared<LiveOptions>();
  Command c;
  c.sub = app.add_subcommand("live",
                             "Track points live from a camera, RTSP stream or file "
                             "(click to add points)");
  CLI::App* s = c.sub;
  s->footer(fmt::format("In the window: {}.", kKeyHint));
  s->add_option("--config", o->config, "TOML file of settings (keys = these long options)");
  s->add_option("--source", o->sources,
                "synth[:SEED] (a generator stream with ground truth: the HUD shows live "
                "accuracy), test, webcam[:DEVICE], rtsp://..., a file or URI, or gst:PIPELINE; "
                "repeat for several streams, each with its own engine, points and outputs")
      ->capture_default_str();
  s->add_option("--synth-photos", o->synth_photos,
                "synth source: cut its background and objects from the photographs in this folder "
                "(scripts/fetch_photos.sh)");
  s->add_option("--width", o->source.width, "synth/test/webcam frame width")->capture_default_str();
  s->add_option("--height", o->source.height, "synth/test/webcam frame height")
      ->capture_default_str();
  s->add_option("--fps", o->source.fps, "synth/test/webcam frame rate (and the output video's)")
      ->capture_default_str();
  s->add_option("--rtsp-transport", o->source.rtsp_transport, "tcp or udp")->capture_default_str();
  s->add_option("--rtsp-latency-ms", o->source.rtsp_latency_ms, "RTSP jitter buffer")
      ->capture_default_str();
  s->add_option("--reconnect-initial-ms", o->source.reconnect_initial_ms,
                "first reconnect delay (doubles each attempt)")
      ->capture_default_str();
  s->add_option("--reconnect-max-ms", o->source.reconnect_max_ms, "longest reconnect delay")
      ->capture_default_str();
  s->add_option("--reconnect-attempts", o->source.reconnect_attempts,
                "reconnect attempts before giving up, 0 = forever")
      ->capture_default_str();
  s->add_option("--on-reconnect", o->on_reconnect, "keep or reset the points after a reconnect")
      ->capture_default_str();
  s->add_option("--realtime", o->source.realtime,
                "files: play at their frame rate (true) or as fast as tracking goes (false)")
      ->capture_default_str();
  s->add_option("--engine", o->engine,
                "cotrack (the network) or lk (the Lucas-Kanade baseline: no model, least CPU)")
      ->check(CLI::IsMember({"lk", "cotrack"}))
      ->capture_default_str();
  // One thread: on a 2-core machine the network with 2 OpenMP threads ran about 3x slower live
  // than with 1, sharing the cores with GStreamer's capture and the drawing (docs/performance.md).
  o->model.threads = 1;
  o->model.own_cpu_resolution = kLiveCpuResolution;
  o->model.add_to(s);
  EngineOptions::Defaults net_defaults;
  net_defaults.mode = "low-latency";
  net_defaults.low_latency_step = kLiveStep;
  net_defaults.low_latency_iters = kLiveIters;
  net_defaults.trail_option = true;
  net_defaults.refine_option = true;
  o->net.add_to(s, net_defaults);
  s->add_option("--points", o->points_path, "points.csv to track from the start");
  s->add_option("--grid", o->grid, "an N x N grid of points on the first frame (key g adds one)")
      ->capture_default_str();
  s->add_option("--ring-slots", o->ring_slots, "frames in flight between capture and engine")
      ->capture_default_str();
  s->add_option("--drop", o->drop, "when the engine falls behind: thin, newest (or none: files)")
      ->capture_default_str();
  s->add_option("--max-thin", o->max_thin, "thin: process at least every N-th frame")
      ->capture_default_str();
  s->add_flag("--no-window", o->no_window, "never open a window (headless)");
  s->add_flag("--help-overlay", o->help_overlay, "start with the key help shown");
  s->add_option("--out-video", o->out_video, "write the tracked video (MP4)");
  s->add_flag("--record-overlay", o->record_overlay,
              "the video also shows the HUD, the point ids and a legend of the markers");
  s->add_option("--out-tracks", o->out_tracks, "write tracks.csv or tracks.jsonl");
  s->add_option("--screenshot-dir", o->screenshot_dir, "where key s writes PNGs")
      ->capture_default_str();
  s->add_option("--duration", o->duration_s, "stop after S seconds (0 = at the end)")
      ->capture_default_str();
  s->add_option("--max-frames", o->max_frames, "stop after N processed frames (0 = no limit)")
      ->capture_default_str();
  s->add_option("--log-every", o->log_every_s, "seconds between status lines (0 = none)")
      ->capture_default_str();
  s->add_option("--stats-json", o->stats_json, "write fps, drops and latency as JSON at exit");
  s->add_option("--batch-streams", o->batch_streams,
                "with several network streams, run their windows as one batched forward pass: "
                "on, off, or auto (on a GPU)")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  s->add_option("--serve", o->serve,
                "HOST:PORT: a browser view with the overlay, clicks and a JSON API "
                "(docs/serve.md); binds 127.0.0.1 unless told otherwise");
  s->add_option("--serve-token", o->serve_token,
                "the token every --serve request must carry (generated when --serve binds a "
                "non-loopback address without one)");
  s->add_option("--mqtt", o->mqtt,
                "mqtt://[USER[:PASSWORD]@]HOST[:PORT][/PREFIX] (or mqtts://): publish each "
                "stream's tracks and status, take commands (docs/mqtt.md)");
  s->add_option("--mqtt-username", o->mqtt_username, "MQTT user name");
  s->add_option("--mqtt-password", o->mqtt_password, "MQTT password");
  s->add_option("--mqtt-cafile", o->mqtt_cafile, "mqtts: the CA certificates (default: the system's)");
  s->add_option("--mqtt-queue", o->mqtt_queue,
                "MQTT messages kept while the broker is away; older ones are dropped and counted")
      ->capture_default_str();
  s->add_option("--serve-quality", o->serve_quality,
                "JPEG quality 1..100 of the browser view's picture (bandwidth per viewer)")
      ->capture_default_str();
  c.run = [o, s] { return run_live(*o, *s); };
  return c;
}

}  // namespace cotrack::app
