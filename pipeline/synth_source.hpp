// The built-in live source "synth[:SEED]": a SynthStream played at the configured frame rate on
// its own thread, like a camera: frames the consumer refuses are gone. Endless (it never ends on
// its own) and live. No GStreamer types, and none used: frames go straight to the callback.
#pragma once

#include <memory>
#include <string>

#include "cotrack/synth_stream.hpp"
#include "gst_source.hpp"

namespace cotrack {

class SynthSource final : public FrameSource {
 public:
  // Plays `stream` at config.fps; frame n of the stream is the n-th frame offered, so the
  // consumer's frame numbers are the stream's. Throws UsageError for a bad config.
  SynthSource(const SourceConfig& config, std::shared_ptr<const SynthStream> stream,
              FrameCallback on_frame, EventCallback on_event);
  SynthSource(const SynthSource&) = delete;
  SynthSource& operator=(const SynthSource&) = delete;
  ~SynthSource() override;  // stops

  void start() override;  // sends kStarted; frames follow at config.fps
  void stop() override;   // prompt and idempotent; no callback runs after it returns
  bool finished() const override { return false; }
  bool is_live() const override { return true; }
  const std::string& description() const override { return description_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string description_;
};

}  // namespace cotrack
