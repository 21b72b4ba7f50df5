// The frame ring and its drop policies, driven step by step from the test thread (and one
// two-thread run synchronised by the queue itself, no sleeps).
#include <doctest/doctest.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "cotrack/error.hpp"
#include "frame_ring.hpp"

using cotrack::DropPolicy;
using cotrack::FrameRing;
using cotrack::RingConfig;
using cotrack::RingFrame;

namespace {

// A 4x2 frame whose first byte says which frame it is.
FrameRing::Offer offer(FrameRing& ring, int tag) {
  std::vector<uint8_t> rgb(4 * 2 * 3, static_cast<uint8_t>(tag));
  return ring.offer(rgb.data(), 4, 2, 4 * 3, tag, tag);
}

void check_balance(const FrameRing& ring) {
  const auto c = ring.counters();
  CHECK(c.received == c.processed + c.dropped() + static_cast<int64_t>(ring.waiting()));
}

}  // namespace

TEST_SUITE("ring") {
  TEST_CASE("frames pass in order with their data, strides and timestamps") {
    FrameRing ring(RingConfig{4, DropPolicy::kThin, 8, 0});
    // A padded source: 4 pixels of 3 bytes in rows of 16 bytes.
    std::vector<uint8_t> padded(16 * 2, 0);
    for (int y = 0; y < 2; ++y)
      for (int i = 0; i < 12; ++i) padded[16 * y + i] = static_cast<uint8_t>(10 * y + i);
    CHECK(ring.offer(padded.data(), 4, 2, 16, 123, 456) == FrameRing::Offer::kQueued);
    CHECK(offer(ring, 7) == FrameRing::Offer::kQueued);
    RingFrame* a = ring.pop();
    REQUIRE(a != nullptr);
    CHECK(a->width == 4);
    CHECK(a->height == 2);
    CHECK(a->seq == 0);
    CHECK(a->pts_ns == 123);
    CHECK(a->arrival_ns == 456);
    REQUIRE(a->rgb.size() == 24u);
    CHECK(a->rgb[11] == 11);
    CHECK(a->rgb[12] == 10);  // second row starts at stride 16 in the source
    RingFrame* b = ring.pop();
    REQUIRE(b != nullptr);
    CHECK(b->seq == 1);
    CHECK(b->rgb[0] == 7);
    CHECK(ring.pop() == nullptr);
    ring.release(a);
    ring.release(b);
    check_balance(ring);
  }

  TEST_CASE("a full pool drops as full; the next pop keeps only the newest and thins more") {
    FrameRing ring(RingConfig{4, DropPolicy::kThin, 8, 0});
    for (int i = 0; i < 4; ++i) CHECK(offer(ring, i) == FrameRing::Offer::kQueued);
    CHECK(offer(ring, 4) == FrameRing::Offer::kFull);
    CHECK(ring.counters().full == 1);
    RingFrame* f = ring.pop();
    REQUIRE(f != nullptr);
    CHECK(f->rgb[0] == 3);  // newest wins: frames 0..2 are stale
    CHECK(ring.counters().stale == 3);
    CHECK(ring.waiting() == 0u);
    CHECK(ring.thin() == 2);
    ring.release(f);
    check_balance(ring);
    // With k = 2 every second frame is thinned.
    CHECK(offer(ring, 5) == FrameRing::Offer::kQueued);
    CHECK(offer(ring, 6) == FrameRing::Offer::kThinned);
    CHECK(offer(ring, 7) == FrameRing::Offer::kQueued);
    CHECK(offer(ring, 8) == FrameRing::Offer::kThinned);
    check_balance(ring);
  }

  TEST_CASE("thinning keeps admitted frames evenly spaced, rises with backlog, relaxes") {
    // 8 slots, high water 4. The engine takes one frame per three frame intervals, so at
    // thinning k it is busy 3 / k of the time. k = 3 would leave it no margin; the ring settles
    // at k = 4 (load 0.75) and keeps the admitted frames exactly 4 apart.
    FrameRing ring(RingConfig{8, DropPolicy::kThin, 8, 4});
    std::vector<int64_t> seqs;
    int tag = 0;
    for (int round = 0; round < 300; ++round) {
      ring.set_load(std::min(1.0, 3.0 / ring.thin()));
      for (int i = 0; i < 3; ++i) offer(ring, tag++);
      if (RingFrame* f = ring.pop()) {
        seqs.push_back(f->seq);
        ring.release(f);
      }
    }
    CHECK(ring.thin() == 4);
    CHECK(ring.counters().full == 0);
    REQUIRE(seqs.size() > 20);
    for (size_t i = seqs.size() - 10; i < seqs.size(); ++i) CHECK(seqs[i] - seqs[i - 1] == 4);
    // A faster engine (it drains everything, busy a fifth of the time) lets k fall back to 1.
    ring.set_load(0.2);
    for (int round = 0; round < 300; ++round) {
      offer(ring, tag++);
      while (RingFrame* f = ring.pop()) ring.release(f);
    }
    CHECK(ring.thin() == 1);
    check_balance(ring);
  }

  TEST_CASE("thinning never exceeds max_thin") {
    FrameRing ring(RingConfig{4, DropPolicy::kThin, 2, 2});
    for (int round = 0; round < 100; ++round) {
      for (int i = 0; i < 10; ++i) offer(ring, i);
      if (RingFrame* f = ring.pop()) ring.release(f);
    }
    CHECK(ring.thin() == 2);
    check_balance(ring);
  }

  TEST_CASE("newest policy: each pop returns the newest frame, the rest are stale") {
    FrameRing ring(RingConfig{8, DropPolicy::kNewest, 8, 0});
    for (int i = 0; i < 5; ++i) CHECK(offer(ring, i) == FrameRing::Offer::kQueued);
    RingFrame* f = ring.pop();
    REQUIRE(f != nullptr);
    CHECK(f->rgb[0] == 4);
    CHECK(ring.counters().stale == 4);
    CHECK(ring.thin() == 1);
    ring.release(f);
    check_balance(ring);
  }

  TEST_CASE("none policy refuses without counting, and loses nothing") {
    FrameRing ring(RingConfig{2, DropPolicy::kNone, 8, 0});
    CHECK(offer(ring, 0) == FrameRing::Offer::kQueued);
    CHECK(offer(ring, 1) == FrameRing::Offer::kQueued);
    CHECK(offer(ring, 2) == FrameRing::Offer::kRefused);
    CHECK(ring.counters().received == 2);
    RingFrame* f = ring.pop();
    REQUIRE(f != nullptr);
    CHECK(f->rgb[0] == 0);
    ring.release(f);
    CHECK(offer(ring, 2) == FrameRing::Offer::kQueued);
    CHECK(ring.counters().dropped() == 0);
    check_balance(ring);
  }

  TEST_CASE("two threads: every frame is processed or counted as dropped") {
    FrameRing ring(RingConfig{4, DropPolicy::kThin, 8, 0});
    constexpr int kFrames = 20000;
    std::thread producer([&] {
      for (int i = 0; i < kFrames; ++i) offer(ring, i);
    });
    int64_t popped = 0, last_seq = -1;
    bool ordered = true;
    while (true) {
      const auto c = ring.counters();
      if (c.received == kFrames && ring.waiting() == 0) break;
      if (RingFrame* f = ring.pop()) {
        ordered = ordered && f->seq > last_seq;
        last_seq = f->seq;
        ++popped;
        ring.release(f);
      } else {
        ring.wait_for_frame(1);
      }
    }
    producer.join();
    while (RingFrame* f = ring.pop()) {
      ++popped;
      ring.release(f);
    }
    const auto c = ring.counters();
    CHECK(ordered);
    CHECK(c.received == kFrames);
    CHECK(c.processed == popped);
    CHECK(c.processed + c.dropped() == kFrames);
  }

  TEST_CASE("bad settings are one-line usage errors") {
    CHECK_THROWS_AS(FrameRing(RingConfig{1, DropPolicy::kThin, 8, 0}), cotrack::UsageError);
    CHECK_THROWS_AS(FrameRing(RingConfig{4, DropPolicy::kThin, 0, 0}), cotrack::UsageError);
    CHECK_THROWS_AS(FrameRing(RingConfig{4, DropPolicy::kThin, 8, 4}), cotrack::UsageError);
    CHECK_THROWS_AS(cotrack::parse_drop_policy("oldest"), cotrack::UsageError);
    CHECK(cotrack::parse_drop_policy("newest") == DropPolicy::kNewest);
  }
}
