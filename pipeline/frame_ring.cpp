#include "frame_ring.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "cotrack/error.hpp"

namespace cotrack {

DropPolicy parse_drop_policy(const std::string& name) {
  if (name == "thin") return DropPolicy::kThin;
  if (name == "newest") return DropPolicy::kNewest;
  if (name == "none") return DropPolicy::kNone;
  throw UsageError(fmt::format("drop '{}': expected thin, newest or none", name));
}

const char* to_string(DropPolicy policy) {
  switch (policy) {
    case DropPolicy::kThin: return "thin";
    case DropPolicy::kNewest: return "newest";
    case DropPolicy::kNone: return "none";
  }
  return "?";
}

void RingConfig::validate() const {
  if (slots < 2 || slots > 1024) {
    throw UsageError(fmt::format("ring-slots {}: expected 2..1024", slots));
  }
  if (max_thin < 1 || max_thin > 1000) {
    throw UsageError(fmt::format("max-thin {}: expected 1..1000", max_thin));
  }
  if (high_water < 0 || high_water >= slots) {
    throw UsageError(
        fmt::format("high-water {}: expected 0 (= ring-slots / 2) .. ring-slots - 1", high_water));
  }
}

FrameRing::FrameRing(RingConfig config)
    : config_((config.validate(), config)),
      filled_(static_cast<size_t>(config.slots)),
      free_(static_cast<size_t>(config.slots)),
      recent_waiting_(static_cast<size_t>(2 * config.slots), 0) {
  pool_.reserve(static_cast<size_t>(config_.slots));
  for (int i = 0; i < config_.slots; ++i) {
    pool_.push_back(std::make_unique<RingFrame>());
    free_.push(pool_.back().get());
  }
}

FrameRing::~FrameRing() = default;

FrameRing::Offer FrameRing::offer(const uint8_t* rgb, int width, int height, int stride,
                                  int64_t pts_ns, int64_t arrival_ns) {
  if (is_paused_.load(std::memory_order_acquire)) {
    if (config_.policy == DropPolicy::kNone) return Offer::kRefused;
    received_.fetch_add(1, std::memory_order_relaxed);
    paused_.fetch_add(1, std::memory_order_relaxed);
    return Offer::kPaused;
  }
  if (config_.policy == DropPolicy::kThin) {
    if (skip_ > 0) {
      --skip_;
      received_.fetch_add(1, std::memory_order_relaxed);
      thinned_.fetch_add(1, std::memory_order_relaxed);
      return Offer::kThinned;
    }
  }
  RingFrame* slot = nullptr;
  if (!free_.pop(slot)) {
    if (config_.policy == DropPolicy::kNone) return Offer::kRefused;
    received_.fetch_add(1, std::memory_order_relaxed);
    full_.fetch_add(1, std::memory_order_relaxed);
    return Offer::kFull;
  }
  if (config_.policy == DropPolicy::kThin) skip_ = thin_.load(std::memory_order_relaxed) - 1;
  const size_t row = static_cast<size_t>(width) * 3;
  slot->rgb.resize(row * static_cast<size_t>(height));
  if (stride == static_cast<int>(row)) {
    std::memcpy(slot->rgb.data(), rgb, slot->rgb.size());
  } else {
    for (int y = 0; y < height; ++y) {
      std::memcpy(slot->rgb.data() + row * y, rgb + static_cast<size_t>(stride) * y, row);
    }
  }
  slot->width = width;
  slot->height = height;
  slot->seq = received_.fetch_add(1, std::memory_order_relaxed);
  slot->pts_ns = pts_ns;
  slot->arrival_ns = arrival_ns;
  filled_.push(slot);  // cannot fail: the queue holds as many entries as there are slots
  wait_cv_.notify_one();
  return Offer::kQueued;
}

RingFrame* FrameRing::pop() {
  RingFrame* frame = nullptr;
  if (!filled_.pop(frame)) return nullptr;
  const int64_t full_now = full_.load(std::memory_order_relaxed);
  const bool overflowed = full_now != full_seen_;
  full_seen_ = full_now;
  if (config_.policy == DropPolicy::kNewest || overflowed) {
    RingFrame* newer = nullptr;
    while (filled_.pop(newer)) {
      release(frame);
      stale_.fetch_add(1, std::memory_order_relaxed);
      frame = newer;
    }
  }
  processed_.fetch_add(1, std::memory_order_relaxed);
  if (config_.policy == DropPolicy::kThin) adapt_thin(waiting(), overflowed);
  return frame;
}

void FrameRing::adapt_thin(size_t waiting_after_pop, bool overflowed) {
  recent_waiting_[recent_pos_] = waiting_after_pop;
  recent_pos_ = (recent_pos_ + 1) % recent_waiting_.size();
  const size_t high = static_cast<size_t>(config_.effective_high_water());
  int k = thin();
  if ((overflowed || waiting_after_pop >= high) && k < config_.max_thin) {
    ++k;
    std::fill(recent_waiting_.begin(), recent_waiting_.end(), high);  // wait a full span to relax
  } else if (k > 1) {
    const size_t most = *std::max_element(recent_waiting_.begin(), recent_waiting_.end());
    if (3 * most < high && load_ * k / (k - 1) < 0.8) {
      --k;
      std::fill(recent_waiting_.begin(), recent_waiting_.end(), high);
    }
  }
  thin_.store(k, std::memory_order_relaxed);
}

void FrameRing::release(RingFrame* frame) {
  if (frame != nullptr) free_.push(frame);
}

size_t FrameRing::waiting() const { return filled_.read_available(); }

bool FrameRing::wait_for_frame(int timeout_ms) {
  if (waiting() > 0) return true;
  std::unique_lock<std::mutex> lock(wait_mutex_);
  // The producer notifies without the lock, so a wake-up can slip between the check above and
  // the wait: the timeout bounds that case.
  wait_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                    [this] { return waiting() > 0; });
  return waiting() > 0;
}

void FrameRing::wake() { wait_cv_.notify_all(); }

void FrameRing::set_paused(bool paused) {
  if (!paused) thin_.store(1, std::memory_order_relaxed);
  is_paused_.store(paused, std::memory_order_release);
}

RingCounters FrameRing::counters() const {
  RingCounters c;
  // Read the drop counters before `received`, so that a concurrent offer can only make
  // received look larger than the sum, never smaller.
  c.processed = processed_.load(std::memory_order_acquire);
  c.thinned = thinned_.load(std::memory_order_acquire);
  c.full = full_.load(std::memory_order_acquire);
  c.stale = stale_.load(std::memory_order_acquire);
  c.paused = paused_.load(std::memory_order_acquire);
  c.received = received_.load(std::memory_order_acquire);
  return c;
}

}  // namespace cotrack
