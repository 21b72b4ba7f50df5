// The hand-over between the capture thread and the engine thread: a fixed pool of frame slots
// that travel through two Boost.Lockfree single-producer single-consumer queues (filled slots to
// the consumer, free slots back to the producer). No OpenCV or GStreamer types.
//
// Drop policy (written down here and in docs/architecture.md, "Drop policy"):
//   kThin (default)  The producer admits every k-th received frame and drops the k - 1 between
//                    them ("thinned"), so the frames the engine sees stay evenly spaced, as a
//                    CoTracker window assumes. k starts at 1 and is set by the consumer: it rises
//                    by one when, after a pop, at least `high_water` frames still wait (the engine
//                    falls behind), and falls by one when, over the last `2 * slots` pops, the
//                    most frames waiting after a pop stayed below high_water / 3 and the engine's
//                    load (set_load: busy time / wall time) would stay under 0.8 at k - 1, i.e.
//                    load * k / (k - 1) < 0.8. Without the load test an engine that just keeps up
//                    at k would be moved to k - 1, fall behind and swing back. k never exceeds
//                    max_thin.
//   kNewest          No thinning: each pop returns the newest waiting frame and drops the older
//                    ones ("stale"). Lowest latency, uneven spacing; meant for frame-to-frame
//                    trackers such as Lucas-Kanade.
//   kNone            Nothing is dropped: a frame that finds the pool empty is refused without
//                    being counted, and its producer must offer it again. Only for sources that
//                    can wait (files played as fast as the engine goes); a live source would stall.
// In every policy a frame that finds no free slot is dropped as "full" (kNone: refused), and
// newest wins: once a frame was dropped as full, the next pop drops every waiting frame but the
// newest ("stale") and raises k, so the engine never works through a backlog of old frames.
//
// Pause (set_paused): frames that arrive while the user paused are counted as "paused", not as
// drops, and not kept.
//
// Accounting: received = processed + thinned + full + stale + paused + waiting, at every
// quiescent moment; after the consumer has drained the ring, waiting is 0.
//
// Threading: offer() from one producer thread (GStreamer's streaming thread); pop(), release(),
// waiting() and wait_for_frame() from one consumer thread (the engine thread); counters() and
// thin() from any thread. offer() never blocks and, once every slot has held a frame of the
// stream's size, never allocates.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/lockfree/spsc_queue.hpp>

namespace cotrack {

enum class DropPolicy { kThin, kNewest, kNone };
DropPolicy parse_drop_policy(const std::string& name);  // "thin" | "newest" | "none"; UsageError
const char* to_string(DropPolicy policy);

struct RingConfig {
  int slots = 16;        // frames in flight: waiting, being processed, or free; 2..1024
  DropPolicy policy = DropPolicy::kThin;
  int max_thin = 8;      // kThin: largest k (process every k-th frame), 1..1000
  int high_water = 0;    // kThin: frames waiting that raise k; 0 = slots / 2

  int effective_high_water() const { return high_water > 0 ? high_water : slots / 2; }
  void validate() const;  // throws UsageError naming the setting (ring-slots, max-thin, ...)
};

// One slot of the pool: a frame as RGB rows of width * 3 bytes.
struct RingFrame {
  std::vector<uint8_t> rgb;
  int width = 0, height = 0;
  int64_t seq = 0;          // index of the frame among all frames the producer received
  int64_t pts_ns = -1;      // source timestamp, -1 when unknown
  int64_t arrival_ns = 0;   // steady clock when the frame arrived
};

struct RingCounters {
  int64_t received = 0;   // frames offered (kNone: frames taken)
  int64_t processed = 0;  // frames handed to the consumer by pop()
  int64_t thinned = 0;    // dropped by thinning
  int64_t full = 0;       // dropped because no slot was free
  int64_t stale = 0;      // dropped by pop() in favour of a newer frame
  int64_t paused = 0;     // arrived while the user paused: not drops (the engine was not behind)
  int64_t dropped() const { return thinned + full + stale; }
  RingCounters& operator+=(const RingCounters& o) {  // sums over several streams' rings
    received += o.received;
    processed += o.processed;
    thinned += o.thinned;
    full += o.full;
    stale += o.stale;
    paused += o.paused;
    return *this;
  }
};

class FrameRing {
 public:
  explicit FrameRing(RingConfig config);  // throws UsageError for a bad config
  FrameRing(const FrameRing&) = delete;
  FrameRing& operator=(const FrameRing&) = delete;
  ~FrameRing();

  enum class Offer { kQueued, kThinned, kFull, kRefused, kPaused };
  // Producer. Copies `height` rows of width * 3 bytes, `stride` bytes apart, into a free slot.
  Offer offer(const uint8_t* rgb, int width, int height, int stride, int64_t pts_ns,
              int64_t arrival_ns);

  // Consumer. The next frame to process by the policy, or nullptr when none waits. The frame
  // stays the caller's until release(); hold at most slots - 1 at once.
  RingFrame* pop();
  void release(RingFrame* frame);
  // Frames waiting (consumer side).
  size_t waiting() const;
  // Waits until a frame may be waiting or `timeout_ms` passed (whichever first); returns
  // waiting() > 0. The producer wakes it without taking a lock.
  bool wait_for_frame(int timeout_ms);
  // Wakes a consumer in wait_for_frame() (e.g. on shutdown).
  void wake();
  // The consumer's load, busy time over wall time (about 1 when it never waits). Until it is
  // set the load counts as 1, so k never falls.
  void set_load(double load) { load_ = load; }
  // While paused, offered frames are counted as `paused` and not kept (kNone: refused, so a file
  // waits). Resuming starts thinning over at k = 1: the pause said nothing about the engine's
  // speed. Any thread.
  void set_paused(bool paused);

  RingCounters counters() const;
  int thin() const { return thin_.load(std::memory_order_relaxed); }
  const RingConfig& config() const { return config_; }

 private:
  void adapt_thin(size_t waiting_after_pop, bool overflowed);

  RingConfig config_;
  std::vector<std::unique_ptr<RingFrame>> pool_;
  boost::lockfree::spsc_queue<RingFrame*> filled_;  // producer -> consumer
  boost::lockfree::spsc_queue<RingFrame*> free_;    // consumer -> producer

  std::atomic<int> thin_{1};
  int skip_ = 0;  // producer: frames still to thin before the next admitted one

  std::atomic<int64_t> received_{0}, processed_{0}, thinned_{0}, full_{0}, stale_{0}, paused_{0};
  std::atomic<bool> is_paused_{false};
  int64_t full_seen_ = 0;         // consumer: `full_` at the last pop
  std::vector<size_t> recent_waiting_;  // consumer: waiting after each of the last pops
  size_t recent_pos_ = 0;
  double load_ = 1.0;  // consumer

  std::mutex wait_mutex_;
  std::condition_variable wait_cv_;
};

}  // namespace cotrack
