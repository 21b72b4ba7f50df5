#include "synth_source.hpp"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "cotrack/error.hpp"
#include "steady_clock.hpp"

namespace cotrack {

struct SynthSource::Impl {
  SourceConfig config;
  std::shared_ptr<const SynthStream> stream;
  FrameCallback on_frame;
  EventCallback on_event;
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  bool stop_requested = false;
  int64_t next_index = 0;  // frames continue after a stop() and start()

  // Offers frame after frame at the configured rate until stop(); a late frame goes out at once
  // (the schedule does not slip: after a stall the source catches up, as a camera's timestamps).
  void run() {
    using Clock = std::chrono::steady_clock;
    const auto period = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / config.fps));
    const auto t0 = Clock::now();
    const int64_t first = next_index;
    const size_t stride = static_cast<size_t>(stream->width()) * 3;
    for (;;) {
      const int64_t n = next_index;
      {
        std::unique_lock<std::mutex> lock(mu);
        if (cv.wait_until(lock, t0 + period * (n - first), [this] { return stop_requested; })) {
          return;
        }
      }
      SourceFrame f;
      f.rgb = stream->frame(n);
      f.width = stream->width();
      f.height = stream->height();
      f.stride = static_cast<int>(stride);
      f.pts_ns = static_cast<int64_t>(static_cast<double>(n) * 1e9 / config.fps);
      f.arrival_ns = steady_ns();
      on_frame(f);
      next_index = n + 1;
    }
  }
};

SynthSource::SynthSource(const SourceConfig& config, std::shared_ptr<const SynthStream> stream,
                         FrameCallback on_frame, EventCallback on_event)
    : impl_(std::make_unique<Impl>()) {
  config.validate();
  if (!stream) throw UsageError("synth source: no stream");
  impl_->config = config;
  impl_->stream = std::move(stream);
  impl_->on_frame = std::move(on_frame);
  impl_->on_event = std::move(on_event);
  description_ = fmt::format(
      "generator scene (seed {}), {}x{} at {} fps: {} frames played forward and backward, with "
      "ground truth for every point",
      synth_seed(config.spec), impl_->stream->width(), impl_->stream->height(), config.fps,
      impl_->stream->scene_frames());
}

SynthSource::~SynthSource() { stop(); }

void SynthSource::start() {
  if (impl_->thread.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop_requested = false;
  }
  if (impl_->on_event) impl_->on_event(SourceEvent{SourceEvent::Kind::kStarted, {}, 0, 0});
  impl_->thread = std::thread([this] { impl_->run(); });
}

void SynthSource::stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop_requested = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace cotrack
