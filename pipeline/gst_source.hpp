// Live frame sources through GStreamer: a test pattern, a webcam, an RTSP camera, a file or URI,
// or any user pipeline. No GStreamer types in this header.
//
// Source specs (SourceConfig::spec):
//   "test"                  a scrolling checkerboard with a ball moving over it (videotestsrc, live),
//                           width x height @ fps
//   "webcam" | "webcam:DEV" v4l2src device=DEV (default /dev/video0)
//   "rtsp://..."            rtspsrc latency=<rtsp_latency_ms> protocols=<tcp|udp> ! decodebin
//   "gst:PIPELINE"          PIPELINE, which must end where the converter and sink can follow
//   "synth" | "synth:SEED"  the built-in generator stream with ground truth (SynthSource, not
//                           GStreamer; synth_source.hpp), width x height @ fps
//   anything else           a file path or URI, through uridecodebin
// Every source ends in "videoconvert ! videoscale ! video/x-raw,format=RGB ! appsink"; the test
// source and the webcam are asked for width x height at fps (raw video: a webcam that offers that
// size only as MJPEG needs a "gst:" pipeline), other sources keep their own size. An RTSP source
// takes the first video stream of the session and ignores the others.
//
// Threading: frames are delivered on GStreamer's streaming thread through the FrameCallback,
// which must not block. Events (end of stream, errors, reconnects) are delivered on the source's
// own bus thread through the EventCallback. start() and stop() are called from one controlling
// thread. stop() returns once no callback is running and none will run again. Callbacks must not
// throw (an exception from the FrameCallback is reported as a stream error, one from the
// EventCallback is logged and dropped) and must not call start() or stop().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace cotrack {

struct SourceConfig {
  std::string spec = "test";
  int width = 640, height = 480;       // requested size for test and webcam sources
  double fps = 30;                     // requested rate for test and webcam sources
  std::string rtsp_transport = "tcp";  // "tcp" | "udp"
  int rtsp_latency_ms = 0;             // rtspsrc jitter buffer
  // RTSP sources reconnect after an error, an end of stream or 5 s without frames: the first
  // retry after reconnect_initial_ms, doubling up to reconnect_max_ms; 0 attempts = forever.
  // Attempts count consecutive failures: the count and the delay start over once frames flow.
  int reconnect_initial_ms = 250;
  int reconnect_max_ms = 4000;
  int reconnect_attempts = 0;
  // Files, URIs and non-live "gst:" pipelines: true plays them at their own frame rate (like a
  // camera); false decodes as fast as the consumer takes frames (see FrameCallback: the streaming
  // thread waits for room; files are not live, so nothing is lost).
  bool realtime = true;

  void validate() const;  // throws UsageError naming the bad setting
};

enum class SourceKind { kTest, kWebcam, kRtsp, kFile, kCustom, kSynth };
SourceKind source_kind(const std::string& spec);
const char* to_string(SourceKind kind);
// The seed of "synth" (1) or "synth:SEED"; UsageError for anything else after "synth:".
uint64_t synth_seed(const std::string& spec);

// One frame as it leaves GStreamer. `rgb` is valid only during the callback.
struct SourceFrame {
  const uint8_t* rgb = nullptr;  // rows of `stride` bytes, width * 3 of them used, RGB
  int width = 0, height = 0, stride = 0;
  // Buffer timestamp in stream time (starts over after a reconnect), -1 when unknown.
  int64_t pts_ns = -1;
  int64_t arrival_ns = 0;  // steady clock (std::chrono::steady_clock) when the sample arrived
};

struct SourceEvent {
  enum class Kind {
    kStarted,       // the pipeline is playing (again, after a reconnect)
    kEndOfStream,   // a file ended (final) or a live source ended (a reconnect follows)
    kError,         // message holds GStreamer's error, one line; a reconnect may follow
    kReconnecting,  // attempt number in `attempt`, delay in `delay_ms`
    kGaveUp,        // reconnect attempts exhausted, or a source that does not reconnect failed
  } kind;
  std::string message;
  int attempt = 0;
  int delay_ms = 0;
};

// Returns true when the frame was taken, false when it found no room. For live sources and
// realtime files a refused frame is simply gone (the consumer counts it); for files with
// realtime = false the source offers the same frame again (waiting about a millisecond between
// tries) until it is taken or stop() is called, so no frame of a file is lost.
using FrameCallback = std::function<bool(const SourceFrame&)>;
using EventCallback = std::function<void(const SourceEvent&)>;

// What the live app needs of a frame source: GstSource, or SynthSource for "synth".
class FrameSource {
 public:
  virtual ~FrameSource() = default;
  virtual void start() = 0;
  virtual void stop() = 0;
  virtual bool finished() const = 0;
  virtual bool is_live() const = 0;
  virtual const std::string& description() const = 0;
  virtual int64_t reconnects() const { return 0; }
  virtual int64_t reconnect_attempts() const { return 0; }
};

class GstSource final : public FrameSource {
 public:
  // Checks the config and builds the pipeline description; throws UsageError for a bad spec.
  GstSource(SourceConfig config, FrameCallback on_frame, EventCallback on_event);
  GstSource(const GstSource&) = delete;
  GstSource& operator=(const GstSource&) = delete;
  ~GstSource() override;  // stops

  // Starts playing. Throws InputError with one line (naming the source) when the pipeline cannot
  // be built or fails to start, e.g. a missing file or a webcam device that does not exist: for
  // sources other than RTSP, start() waits up to 5 s for the pipeline to play or fail (kStarted
  // may arrive before it returns). For RTSP, a server that does not answer yet is not an error:
  // the source keeps reconnecting. Calling start() while started does nothing; after stop() it
  // starts a fresh pipeline.
  void start() override;
  // Tears the pipeline down; prompt (well under a second), idempotent, safe after a failed start.
  void stop() override;
  // True after kEndOfStream of a file or kGaveUp: no more frames will come.
  bool finished() const override;
  // Test, webcam and RTSP: true; files: false. "gst:" pipelines: before the pipeline plays, true
  // when it contains "is-live=true" or starts with a known live element (v4l2src, rtspsrc,
  // udpsrc, ...); once it plays, what GStreamer's latency query says.
  bool is_live() const override;
  SourceKind kind() const;
  // The GStreamer pipeline, for the start-up summary.
  const std::string& description() const override;
  // Reconnects that worked: rebuilt pipelines whose frames flowed again.
  int64_t reconnects() const override;
  // Pipelines rebuilt after a failure (kReconnecting events) since construction.
  int64_t reconnect_attempts() const override;

  // Initialises GStreamer once per process (safe to call many times).
  static void init();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cotrack
