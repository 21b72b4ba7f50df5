#include "engine_worker.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <map>

#include "cotrack/log.hpp"
#include "steady_clock.hpp"

namespace cotrack {
namespace {

// A frame the worker still holds: its image for display and outputs, and its source number.
struct HeldFrame {
  int64_t index = 0, seq = 0, arrival_ns = 0;
  int width = 0, height = 0;
  std::shared_ptr<const std::vector<uint8_t>> rgb;
};

// Events per second over the last second or more, from a monotonically growing count.
class RateMeter {
 public:
  void reset() { samples_.clear(); }
  double update(int64_t count, int64_t now_ns) {
    samples_.push_back({now_ns, count});
    while (samples_.size() > 2 && now_ns - samples_[1].first >= kSpanNs) samples_.pop_front();
    const auto& [t0, c0] = samples_.front();
    if (now_ns - t0 < kSpanNs / 4) return rate_;
    rate_ = static_cast<double>(count - c0) * 1e9 / static_cast<double>(now_ns - t0);
    return rate_;
  }

 private:
  static constexpr int64_t kSpanNs = 1'000'000'000;
  std::deque<std::pair<int64_t, int64_t>> samples_;
  double rate_ = 0;
};

}  // namespace

struct EngineWorker::Impl {
  PointTracker& tracker;
  FrameRing& ring;
  WorkerConfig cfg;
  FinalSink on_final;
  std::function<void(const LiveView&)> on_view;

  std::thread thread;
  std::atomic<bool> stop{false}, eos{false}, flush_on_stop{false};

  std::mutex command_mutex;
  std::deque<LiveCommand> commands;

  mutable std::mutex view_mutex;
  std::shared_ptr<const LiveView> view = std::make_shared<LiveView>();
  std::string error;
  std::condition_variable finished_cv;

  // Engine-thread state.
  std::deque<HeldFrame> held;
  int stream_width = 0, stream_height = 0;
  int64_t newest_index = -1;
  int64_t display_lag = 0;  // frames between the newest frame and the newest estimated one
  bool paused = false;
  std::string status;
  RateMeter input_rate, tracked_rate;
  int64_t last_start_ns = 0;
  double load_ema = -1;
  std::map<PointId, std::deque<std::pair<int64_t, PointEstimate>>> final_trails;
  std::map<PointId, int64_t> query_frames;

  Impl(PointTracker& t, FrameRing& r, WorkerConfig c, FinalSink f)
      : tracker(t), ring(r), cfg(c), on_final(std::move(f)) {}

  const HeldFrame* find_held(int64_t index) const {
    for (const auto& h : held) {
      if (h.index == index) return &h;
    }
    return nullptr;
  }

  // The frame the window shows: the newest one with estimates, at a steady delay so that the
  // picture moves every frame even when the tracker works in windows.
  const HeldFrame* shown_frame() const {
    if (held.empty()) return nullptr;
    const int64_t want = std::max(newest_index - display_lag, held.front().index);
    const HeldFrame* f = find_held(want);
    return f != nullptr ? f : &held.back();
  }

  void note(std::string line) {
    log_line(line);
    status = std::move(line);
  }

  void handle_final(const FrameEstimates& fe) {
    FinalFrame out;
    out.frame_index = fe.frame_index;
    if (const HeldFrame* h = find_held(fe.frame_index)) {
      out.seq = h->seq;
      out.arrival_ns = h->arrival_ns;
      out.width = h->width;
      out.height = h->height;
      out.rgb = h->rgb;
    } else {
      out.seq = -1;
    }
    out.estimates = fe;
    out.estimates.frame_index = out.seq;
    auto trails = std::make_shared<Snapshot>();
    trails->newest_frame = fe.frame_index;
    trails->final_until = fe.frame_index + 1;
    for (const auto& p : fe.points) {
      auto& trail = final_trails[p.id];
      if (p.estimated) trail.emplace_back(fe.frame_index, p);
      while (static_cast<int>(trail.size()) > cfg.trail_frames) trail.pop_front();
      Snapshot::Track t;
      t.id = p.id;
      t.query_frame = query_frames.count(p.id) ? query_frames[p.id] : fe.frame_index;
      for (const auto& [f, e] : trail) {
        t.frames.push_back(f);
        t.estimates.push_back(e);
      }
      if (!p.estimated) {  // not started yet: its query position, drawn as such
        t.frames.push_back(fe.frame_index);
        t.estimates.push_back(p);
      }
      trails->tracks.push_back(std::move(t));
    }
    // Trails of removed points end with them.
    for (auto it = final_trails.begin(); it != final_trails.end();) {
      const bool present = std::any_of(fe.points.begin(), fe.points.end(),
                                       [&](const PointEstimate& p) { return p.id == it->first; });
      it = present ? std::next(it) : final_trails.erase(it);
    }
    out.trails = std::move(trails);
    if (on_final) on_final(out);
  }

  // A point on engine frame `frame`; when that frame left the tracker's window meanwhile (a
  // click on the frame shown), on the newest frame instead unless `exact_frame`.
  CommandResult add_point(int64_t frame, float x, float y, bool exact_frame = false) {
    CommandResult out;
    AddPointResult r = tracker.add_point(frame, x, y);
    if (r.status == AddPointResult::Status::kFrameGone && newest_index >= 0 && !exact_frame) {
      r = tracker.add_point(newest_index, x, y);  // the frame shown left the window meanwhile
      frame = newest_index;
    }
    if (r.status == AddPointResult::Status::kOk) {
      query_frames[r.id] = frame;
      out.id = r.id;
      return out;
    }
    note(r.message);
    out.message = r.message;
    out.status = r.status == AddPointResult::Status::kFrameGone ||
                         r.status == AddPointResult::Status::kNoFrames
                     ? CommandResult::Status::kGone
                     : CommandResult::Status::kInvalid;
    return out;
  }

  // The engine frame of source frame `seq`, or -1 with `why` when it is not held.
  int64_t index_of_seq(int64_t seq, std::string& why) const {
    for (const auto& h : held) {
      if (h.seq == seq) return h.index;
    }
    if (held.empty()) {
      why = "no frame has arrived yet";
    } else if (seq > held.back().seq) {
      why = fmt::format("frame {} has not arrived yet (newest {})", seq, held.back().seq);
    } else {
      why = fmt::format("frame {} is not held (dropped or too old; frames {}..{} are, not all)",
                        seq, held.front().seq, held.back().seq);
    }
    return -1;
  }

  // Answers wait for the next published view, so that whoever gets one also sees its effect.
  void apply(const LiveCommand& c) {
    const CommandResult r = apply_one(c);
    if (c.done) answers.emplace_back(c.done, r);
  }
  std::vector<std::pair<std::function<void(const CommandResult&)>, CommandResult>> answers;

  CommandResult apply_one(const LiveCommand& c) {
    const HeldFrame* shown = shown_frame();
    const int64_t shown_index = shown != nullptr ? shown->index : newest_index;
    CommandResult out;
    switch (c.kind) {
      case LiveCommand::Kind::kAddPoint:
        if (c.seq >= 0) {
          const int64_t index = index_of_seq(c.seq, out.message);
          if (index < 0) {
            out.status = CommandResult::Status::kGone;
            break;
          }
          out = add_point(index, c.x_px, c.y_px, /*exact_frame=*/true);
        } else {
          out = add_point(c.frame >= 0 ? c.frame : shown_index, c.x_px, c.y_px);
        }
        break;
      case LiveCommand::Kind::kRemoveNearest: {
        const auto snap = tracker.snapshot();
        PointId best = -1;
        double best_d = 1e300;
        for (const auto& t : snap->tracks) {
          float x = 0, y = 0;
          if (!position_on(t, shown_index, x, y)) continue;
          const double d = std::hypot(x - c.x_px, y - c.y_px);
          if (d < best_d) best_d = d, best = t.id;
        }
        if (best >= 0) tracker.remove_point(best);
        out.id = best;
        if (best < 0) {
          out.status = CommandResult::Status::kNotFound;
          out.message = "no point to remove";
        }
        break;
      }
      case LiveCommand::Kind::kRemovePoint:
        out.id = c.id;
        if (!tracker.remove_point(c.id)) {
          out.status = CommandResult::Status::kNotFound;
          out.message = fmt::format("no point with id {}", c.id);
        }
        break;
      case LiveCommand::Kind::kClear:
        tracker.reset();
        break;
      case LiveCommand::Kind::kGrid:
        for (int i = 0; i < c.grid && stream_width > 0; ++i) {
          for (int j = 0; j < c.grid; ++j) {
            const CommandResult r = add_point(shown_index, (stream_width - 1) * (j + 0.5f) / c.grid,
                                              (stream_height - 1) * (i + 0.5f) / c.grid);
            if (r.status != CommandResult::Status::kOk && out.status == CommandResult::Status::kOk) {
              out = r;  // the first refusal (too many points) says why the grid is incomplete
            }
          }
        }
        break;
      case LiveCommand::Kind::kTogglePause:
        paused = !paused;
        ring.set_paused(paused);
        if (!paused) {  // the rates start over: the pause is no measure of them
          input_rate.reset();
          tracked_rate.reset();
        }
        break;
      case LiveCommand::Kind::kSourceState:
        status = c.text;  // shown on the HUD; the app logs source events itself
        break;
      case LiveCommand::Kind::kStreamRestarted:
        if (!cfg.keep_points_on_restart) tracker.reset();
        note(cfg.keep_points_on_restart ? "stream restarted: points kept"
                                        : "stream restarted: points cleared");
        break;
    }
    out.paused = paused;
    return out;
  }

  // Track t's position on frame f (estimate_on: its newest estimate up to f, else its first).
  static bool position_on(const Snapshot::Track& t, int64_t f, float& x, float& y) {
    const PointEstimate* e = estimate_on(t, f);
    if (e == nullptr) return false;
    x = e->x_px;
    y = e->y_px;
    return true;
  }

  // Commands wait for the first frame: before it the image size, and so any point, is unknown.
  // Returns whether a command was applied. Before the first frame only source states apply (the
  // others wait for a frame to act on).
  bool apply_commands() {
    std::deque<LiveCommand> todo;
    {
      std::lock_guard<std::mutex> lock(command_mutex);
      if (newest_index < 0) {  // no frame yet: take the source states, keep the rest queued
        std::deque<LiveCommand> keep;
        for (auto& c : commands) {
          (c.kind == LiveCommand::Kind::kSourceState ? todo : keep).push_back(std::move(c));
        }
        commands.swap(keep);
      } else {
        todo.swap(commands);
      }
    }
    for (const auto& c : todo) apply(c);
    return !todo.empty();
  }

  // A frame of another size (a camera or stream that came back different): start the stream
  // over, and put the points back at their last positions, scaled, when they are kept.
  void restart_for_size(int width, int height) {
    std::vector<std::pair<float, float>> keep;
    if (cfg.keep_points_on_restart) {
      const auto snap = tracker.snapshot();  // held: the loop must not outlive it
      for (const auto& t : snap->tracks) {
        float x = 0, y = 0;
        if (position_on(t, newest_index, x, y)) {
          keep.emplace_back(x * (width - 1) / std::max(1, stream_width - 1),
                            y * (height - 1) / std::max(1, stream_height - 1));
        }
      }
    }
    tracker.flush();
    tracker.reset_stream();
    held.clear();
    final_trails.clear();
    query_frames.clear();
    note(fmt::format("frame size changed from {}x{} to {}x{}: tracking restarted{}", stream_width,
                     stream_height, width, height,
                     keep.empty() ? "" : fmt::format(", {} points kept", keep.size())));
    stream_width = width;
    stream_height = height;
    pending_readd = std::move(keep);
  }
  std::vector<std::pair<float, float>> pending_readd;

  void process(RingFrame* f) {
    if (stream_width != 0 && (f->width != stream_width || f->height != stream_height)) {
      restart_for_size(f->width, f->height);
    }
    stream_width = f->width;
    stream_height = f->height;
    HeldFrame h;
    h.seq = f->seq;
    h.arrival_ns = f->arrival_ns;
    h.width = f->width;
    h.height = f->height;
    h.rgb = std::make_shared<const std::vector<uint8_t>>(f->rgb);
    ring.release(f);
    h.index = tracker.push_frame(h.rgb->data(), h.width, h.height);
    newest_index = h.index;
    held.push_back(std::move(h));
    while (static_cast<int>(held.size()) > cfg.history_frames) held.pop_front();
    for (const auto& [x, y] : pending_readd) add_point(newest_index, x, y);
    pending_readd.clear();
    apply_commands();
    tracker.step();
    const auto snap = tracker.snapshot();
    if (!snap->tracks.empty() && snap->newest_frame >= 0) {
      display_lag = std::clamp<int64_t>(std::max(display_lag, newest_index - snap->newest_frame),
                                        0, cfg.history_frames - 1);
    }
  }

  void publish() {
    auto v = std::make_shared<LiveView>();
    if (const HeldFrame* shown = shown_frame()) {
      v->frame_index = shown->index;
      v->seq = shown->seq;
      v->arrival_ns = shown->arrival_ns;
      v->width = shown->width;
      v->height = shown->height;
      v->rgb = shown->rgb;
    }
    v->tracks = tracker.snapshot();
    v->counters = ring.counters();
    v->thin = ring.thin();
    const int64_t now = steady_ns();
    v->input_fps = input_rate.update(v->counters.received, now);
    v->tracked_fps = tracked_rate.update(newest_index + 1, now);
    v->paused = paused;
    v->points = tracker.num_points();
    v->status = status;
    {
      std::lock_guard<std::mutex> lock(view_mutex);
      view = v;
    }
    for (auto& [done, result] : answers) done(result);
    answers.clear();
    if (on_view) on_view(*v);
  }

  void run() {
    tracker.set_sink([this](const FrameEstimates& fe) { handle_final(fe); });
    bool last_paused = false;
    while (!stop.load()) {
      const bool applied = apply_commands();
      // A command shows at once, also while paused or while the source sends nothing.
      if (paused != last_paused || applied) {
        last_paused = paused;
        publish();
      }
      // While paused, frames stay in the ring; when it fills, the ring drops them as full and
      // the first pop after the pause keeps only the newest.
      RingFrame* f = paused ? nullptr : ring.pop();
      if (f == nullptr) {
        if (eos.load() && ring.waiting() == 0 && !paused) break;
        if (paused && eos.load()) break;
        ring.wait_for_frame(paused ? 20 : 5);
        continue;
      }
      const int64_t t0 = steady_ns();
      process(f);
      publish();
      // The load the ring's thinning needs: busy time over wall time, averaged over ~10 frames.
      const int64_t t1 = steady_ns();
      if (last_start_ns > 0 && t0 > last_start_ns) {
        const double load = static_cast<double>(t1 - t0) / static_cast<double>(t1 - last_start_ns);
        load_ema = load_ema < 0 ? load : 0.9 * load_ema + 0.1 * load;
        ring.set_load(load_ema);
      }
      last_start_ns = t0;
    }
    if (eos.load() || flush_on_stop.load()) {
      while (RingFrame* f = ring.pop()) process(f);
      tracker.flush();
      publish();
    }
  }
};

EngineWorker::EngineWorker(PointTracker& tracker, FrameRing& ring, WorkerConfig config,
                           FinalSink on_final)
    : impl_(std::make_unique<Impl>(tracker, ring, config, std::move(on_final))) {}

EngineWorker::~EngineWorker() { stop(false); }

void EngineWorker::start() {
  impl_->thread = std::thread([this] {
    try {
      impl_->run();
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(impl_->view_mutex);
      impl_->error = e.what();
    } catch (...) {
      std::lock_guard<std::mutex> lock(impl_->view_mutex);
      impl_->error = "unknown exception in the engine thread";
    }
    {
      std::lock_guard<std::mutex> lock(impl_->view_mutex);
      finished_.store(true);
    }
    impl_->finished_cv.notify_all();
  });
}

bool EngineWorker::post(const LiveCommand& command) {
  {
    std::lock_guard<std::mutex> lock(impl_->command_mutex);
    if (static_cast<int>(impl_->commands.size()) < impl_->cfg.max_pending_commands) {
      impl_->commands.push_back(command);
      return true;
    }
  }
  if (command.done) {
    CommandResult r;
    r.status = CommandResult::Status::kInvalid;
    r.message = "too many commands waiting for the engine";
    command.done(r);
  }
  return false;
}

void EngineWorker::end_of_stream() {
  impl_->eos.store(true);
  impl_->ring.wake();
}

void EngineWorker::stop(bool flush) {
  if (flush) impl_->flush_on_stop.store(true);
  impl_->stop.store(true);
  impl_->ring.wake();
  if (impl_->thread.joinable()) impl_->thread.join();
}

bool EngineWorker::wait_finished(int timeout_ms) {
  std::unique_lock<std::mutex> lock(impl_->view_mutex);
  impl_->finished_cv.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                              [this] { return finished_.load(); });
  return finished_.load();
}

std::shared_ptr<const LiveView> EngineWorker::latest() const {
  std::lock_guard<std::mutex> lock(impl_->view_mutex);
  return impl_->view;
}

std::string EngineWorker::error() const {
  std::lock_guard<std::mutex> lock(impl_->view_mutex);
  return impl_->error;
}

void EngineWorker::set_on_view(std::function<void(const LiveView&)> on_view) {
  impl_->on_view = std::move(on_view);
}

}  // namespace cotrack
