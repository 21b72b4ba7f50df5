// The engine thread, driven through a frame ring with a scripted tracker: frames, commands,
// final estimates and stream restarts. Waits are latches on the worker's own callbacks.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <vector>

#include "engine_worker.hpp"
#include "frame_ring.hpp"

using namespace cotrack;

namespace {

// A tracker whose point n moves +1 px in x per frame from its query position, and whose frames
// become final `lag` frames late (like a windowed tracker).
class ScriptedTracker final : public PointTracker {
 public:
  explicit ScriptedTracker(int lag) : lag_(lag) {}
  int64_t push_frame(const uint8_t*, int width, int height) override {
    width_ = width;
    height_ = height;
    return received_++;
  }
  StepResult step() override {
    finalize(received_ - lag_);
    StepResult r;
    r.status = StepResult::Status::kUpdated;
    r.snapshot = snapshot();
    return r;
  }
  StepResult flush() override {
    finalize(received_);
    return step();
  }
  AddPointResult add_point(int64_t frame, float x, float y) override {
    AddPointResult r;
    if (x < 0 || y < 0 || x > width_ - 1 || y > height_ - 1) {
      r.status = AddPointResult::Status::kOutsideImage;
      r.message = "outside";
      return r;
    }
    r.id = next_id_++;
    points_[r.id] = {frame, x, y};
    return r;
  }
  bool remove_point(PointId id) override { return points_.erase(id) > 0; }
  void reset() override { points_.clear(); }
  void reset_stream() override {
    points_.clear();
    received_ = final_ = 0;
    ++stream_resets;
  }
  void set_sink(std::function<void(const FrameEstimates&)> sink) override { sink_ = sink; }
  std::shared_ptr<const Snapshot> snapshot() const override {
    auto s = std::make_shared<Snapshot>();
    s->newest_frame = final_ - 1;
    s->final_until = final_;
    for (const auto& [id, q] : points_) {
      Snapshot::Track t;
      t.id = id;
      t.query_frame = q.frame;
      if (final_ > q.frame) {
        t.frames.push_back(final_ - 1);
        t.estimates.push_back(estimate(id, final_ - 1));
      }
      s->tracks.push_back(t);
    }
    return s;
  }
  int num_points() const override { return static_cast<int>(points_.size()); }
  int64_t frames_received() const override { return received_; }
  std::string name() const override { return "scripted"; }

  int stream_resets = 0;

 private:
  struct Query {
    int64_t frame;
    float x, y;
  };
  PointEstimate estimate(PointId id, int64_t f) const {
    const Query& q = points_.at(id);
    PointEstimate e;
    e.id = id;
    e.estimated = f >= q.frame;
    e.visible = e.estimated;
    e.x_px = q.x + (e.estimated ? static_cast<float>(f - q.frame) : 0.f);
    e.y_px = q.y;
    return e;
  }
  void finalize(int64_t until) {
    for (; final_ < until; ++final_) {
      FrameEstimates fe;
      fe.frame_index = final_;
      for (const auto& kv : points_) fe.points.push_back(estimate(kv.first, final_));
      if (sink_) sink_(fe);
    }
  }
  int lag_;
  int width_ = 0, height_ = 0;
  int64_t received_ = 0, final_ = 0;
  PointId next_id_ = 0;
  std::map<PointId, Query> points_;
  std::function<void(const FrameEstimates&)> sink_;
};

// Counts views and lets the test wait for a condition on them.
struct ViewLatch {
  std::mutex m;
  std::condition_variable cv;
  int64_t views = 0, last_frame = -1;
  void on_view(const LiveView& v) {
    std::lock_guard<std::mutex> lock(m);
    ++views;
    last_frame = v.frame_index;
    cv.notify_all();
  }
  template <class Pred>
  bool wait(Pred pred) {
    std::unique_lock<std::mutex> lock(m);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return pred(*this); });
  }
};

void offer_frames(FrameRing& ring, int count, int width = 8, int height = 6) {
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * height * 3, 128);
  for (int i = 0; i < count; ++i) {
    while (ring.offer(rgb.data(), width, height, width * 3, i, i) == FrameRing::Offer::kRefused) {
    }
  }
}

// A worker over a scripted tracker and a ring, with a latch on its views.
struct Rig {
  explicit Rig(int lag, RingConfig ring_config = RingConfig{8, DropPolicy::kNone, 8, 0})
      : tracker(lag), ring(ring_config), worker(tracker, ring, WorkerConfig{}, nullptr) {
    worker.set_on_view([this](const LiveView& v) { latch.on_view(v); });
  }
  bool wait_views(int64_t n) {
    return latch.wait([n](ViewLatch& l) { return l.views >= n; });
  }
  ScriptedTracker tracker;
  FrameRing ring;
  EngineWorker worker;
  ViewLatch latch;
};

LiveCommand add_point(float x, float y, int64_t frame = -1) {
  LiveCommand c{LiveCommand::Kind::kAddPoint};
  c.x_px = x;
  c.y_px = y;
  c.frame = frame;
  return c;
}

}  // namespace

TEST_SUITE("worker") {
  TEST_CASE("every frame reaches the final sink once, in order, with its source number") {
    ScriptedTracker tracker(/*lag=*/3);
    FrameRing ring(RingConfig{8, DropPolicy::kNone, 8, 0});
    std::vector<FinalFrame> finals;
    EngineWorker worker(tracker, ring, WorkerConfig{}, [&](const FinalFrame& f) {
      finals.push_back(f);
    });
    REQUIRE(worker.post(add_point(2, 3, /*frame=*/0)));  // before any frame: applied with the first
    worker.start();
    offer_frames(ring, 20);
    worker.end_of_stream();
    REQUIRE(worker.wait_finished(10000));
    CHECK(worker.error().empty());
    REQUIRE(finals.size() == 20u);
    for (size_t i = 0; i < finals.size(); ++i) {
      CHECK(finals[i].frame_index == static_cast<int64_t>(i));
      CHECK(finals[i].seq == static_cast<int64_t>(i));
      CHECK(finals[i].estimates.frame_index == static_cast<int64_t>(i));
      REQUIRE(finals[i].estimates.points.size() == 1u);
      CHECK(finals[i].estimates.points[0].x_px == doctest::Approx(2.0 + i));
      CHECK(static_cast<bool>(finals[i].rgb));
      REQUIRE(static_cast<bool>(finals[i].trails));
      CHECK(finals[i].trails->tracks.size() == 1u);
    }
    const auto c = ring.counters();
    CHECK(c.received == 20);
    CHECK(c.processed == 20);
  }

  TEST_CASE("views show the newest estimated frame at a steady delay; clicks use that frame") {
    Rig rig(/*lag=*/4);
    auto& worker = rig.worker;
    worker.post(add_point(1, 1, /*frame=*/0));
    worker.start();
    offer_frames(rig.ring, 12);
    REQUIRE(rig.wait_views(12));
    // Frames 0..11 arrived; the tracker's estimates end 4 frames behind the newest frame, so
    // the view shows frame 11 - 4, the newest one with estimates.
    auto view = worker.latest();
    CHECK(view->frame_index == 7);
    CHECK(view->tracks->newest_frame == 7);
    // A click without a frame lands on the frame shown.
    worker.post(add_point(3, 3));
    offer_frames(rig.ring, 1);
    // The click publishes a view of its own, then the frame one.
    REQUIRE(rig.latch.wait([&](ViewLatch&) { return worker.latest()->frame_index == 8; }));
    view = worker.latest();
    REQUIRE(view->tracks->tracks.size() == 2u);
    CHECK(view->tracks->tracks[1].query_frame == 7);
    CHECK(view->frame_index == 8);
    worker.stop(true);
  }

  TEST_CASE("a refused point becomes the status line; right click removes the nearest") {
    Rig rig(/*lag=*/0);
    auto& worker = rig.worker;
    worker.start();
    offer_frames(rig.ring, 1);
    REQUIRE(rig.wait_views(1));
    for (float x : {1.f, 6.f, 100.f}) worker.post(add_point(x, 2));
    LiveCommand rm{LiveCommand::Kind::kRemoveNearest};
    rm.x_px = 5;
    rm.y_px = 2;
    worker.post(rm);
    offer_frames(rig.ring, 1);
    // Commands publish views of their own: wait for the frame's.
    REQUIRE(rig.latch.wait([&](ViewLatch&) { return worker.latest()->counters.processed == 2; }));
    auto view = worker.latest();
    CHECK(view->status == "outside");
    REQUIRE(view->tracks->tracks.size() == 1u);
    CHECK(view->tracks->tracks[0].id == 0);  // the point at x = 6 (id 1) was nearest to x = 5
    worker.stop(true);
  }

  TEST_CASE("a frame of another size restarts the stream and keeps the points, scaled") {
    Rig rig(/*lag=*/0);
    auto& worker = rig.worker;
    worker.post(add_point(4, 2, /*frame=*/0));
    worker.start();
    offer_frames(rig.ring, 1, 9, 5);  // x 4 of 0..8, y 2 of 0..4
    REQUIRE(rig.wait_views(1));
    offer_frames(rig.ring, 1, 17, 9);  // twice the size
    REQUIRE(rig.wait_views(2));
    auto view = worker.latest();
    CHECK(rig.tracker.stream_resets == 1);
    CHECK(view->width == 17);
    REQUIRE(view->tracks->tracks.size() == 1u);
    REQUIRE(view->tracks->tracks[0].estimates.size() == 1u);
    CHECK(view->tracks->tracks[0].estimates[0].x_px == doctest::Approx(8));
    CHECK(view->tracks->tracks[0].estimates[0].y_px == doctest::Approx(4));
    CHECK(view->status.find("frame size changed") != std::string::npos);
    worker.stop(true);
  }

  TEST_CASE("a source state reaches the HUD at once, while no frame arrives") {
    Rig rig(/*lag=*/0);
    auto& worker = rig.worker;
    worker.start();
    offer_frames(rig.ring, 1);
    REQUIRE(rig.wait_views(1));
    LiveCommand state{LiveCommand::Kind::kSourceState};
    state.text = "reconnecting in 500 ms (attempt 2)";
    worker.post(state);
    REQUIRE(rig.latch.wait([&](ViewLatch&) { return worker.latest()->status == state.text; }));
    CHECK(rig.ring.counters().processed == 1);  // no frame was needed
    worker.stop(true);
  }

  TEST_CASE("pause: frames that arrive are counted as paused, not drops; clicks show at once") {
    Rig rig(/*lag=*/0, RingConfig{4, DropPolicy::kThin, 8, 0});
    auto& worker = rig.worker;
    auto& ring = rig.ring;
    worker.start();
    offer_frames(ring, 1);
    REQUIRE(rig.wait_views(1));
    worker.post({LiveCommand::Kind::kTogglePause});
    REQUIRE(rig.latch.wait([&](ViewLatch&) { return worker.latest()->paused; }));
    std::vector<uint8_t> rgb(8 * 6 * 3, 0);
    for (int i = 0; i < 10; ++i) {
      CHECK(ring.offer(rgb.data(), 8, 6, 24, 0, 0) == FrameRing::Offer::kPaused);
    }
    auto c = ring.counters();
    CHECK(c.paused == 10);
    CHECK(c.dropped() == 0);
    CHECK(c.processed == 1);
    // A click on the paused frame is drawn while still paused, where it was made.
    worker.post(add_point(3, 2, /*frame=*/-1));
    REQUIRE(rig.latch.wait([&](ViewLatch&) { return worker.latest()->points == 1; }));
    CHECK(worker.latest()->paused);
    CHECK(ring.counters().processed == 1);
    worker.post({LiveCommand::Kind::kTogglePause});
    REQUIRE(rig.latch.wait([&](ViewLatch&) { return !worker.latest()->paused; }));
    offer_frames(ring, 2);
    REQUIRE(rig.latch.wait([&](ViewLatch&) { return ring.counters().processed == 3; }));
    worker.stop(true);
    c = ring.counters();
    CHECK(c.received == c.processed + c.dropped() + c.paused);
    CHECK(c.dropped() == 0);
  }
}

TEST_SUITE("worker") {
  TEST_CASE("commands with an answer: the new id, a source frame, removal by id, refusals") {
    Rig rig(/*lag=*/0);
    auto& worker = rig.worker;
    worker.start();
    offer_frames(rig.ring, 3);
    REQUIRE(rig.latch.wait([&](ViewLatch&) { return worker.latest()->counters.processed == 3; }));
    std::mutex m;
    std::vector<CommandResult> answers;
    auto answered = [&](LiveCommand c) {
      c.done = [&](const CommandResult& r) {
        std::lock_guard<std::mutex> lock(m);
        answers.push_back(r);
      };
      return c;
    };
    LiveCommand on_seq = add_point(2, 3);
    on_seq.seq = 1;  // offer_frames numbers the source frames 0, 1, 2
    worker.post(answered(on_seq));
    LiveCommand gone = add_point(2, 3);
    gone.seq = 7;
    worker.post(answered(gone));
    worker.post(answered(add_point(100, 3)));
    LiveCommand rm{LiveCommand::Kind::kRemovePoint};
    rm.id = 0;
    worker.post(answered(rm));
    worker.post(answered(rm));
    worker.post(answered(LiveCommand{LiveCommand::Kind::kTogglePause}));
    REQUIRE(rig.latch.wait([&](ViewLatch&) {
      std::lock_guard<std::mutex> lock(m);
      return answers.size() == 6;
    }));
    using S = CommandResult::Status;
    CHECK(answers[0].status == S::kOk);
    CHECK(answers[0].id == 0);
    CHECK(answers[1].status == S::kGone);
    CHECK(answers[1].message.find("frame 7 has not arrived") != std::string::npos);
    CHECK(answers[2].status == S::kInvalid);
    CHECK(answers[2].message == "outside");
    CHECK(answers[3].status == S::kOk);
    CHECK(answers[4].status == S::kNotFound);
    CHECK(answers[5].paused);
    worker.stop(true);
  }

  TEST_CASE("a command refused because too many wait is answered on the posting thread") {
    ScriptedTracker tracker(0);
    FrameRing ring(RingConfig{8, DropPolicy::kNone, 8, 0});
    WorkerConfig wc;
    wc.max_pending_commands = 1;
    EngineWorker worker(tracker, ring, wc, nullptr);  // not started: commands wait
    CHECK(worker.post(add_point(1, 1)));
    bool told = false;
    LiveCommand c = add_point(2, 2);
    c.done = [&](const CommandResult& r) { told = r.status == CommandResult::Status::kInvalid; };
    CHECK_FALSE(worker.post(c));
    CHECK(told);
  }
}
