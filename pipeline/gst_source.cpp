// The runtime of GstSource: builds the GStreamer pipeline from its launch line (gst_launch.cpp),
// takes frames from the appsink, watches the bus on its own thread and, for RTSP, reconnects
// with a backoff.
#include "gst_source.hpp"

#include <fmt/format.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

#include "cotrack/error.hpp"
#include "gst_launch.hpp"
#include "steady_clock.hpp"

namespace cotrack {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The bus thread polls with this timeout, which bounds how long stop() waits for it.
constexpr milliseconds kBusPoll{50};
// Non-RTSP sources: how long start() waits for the pipeline to play or fail.
constexpr milliseconds kStartupTimeout{5000};
// RTSP: a stream that has delivered frames and then sends none for this long is reconnected
// (rtspsrc over TCP waits forever on a server that keeps the connection but sends nothing).
constexpr milliseconds kStallTimeout{5000};
// Files with realtime = false: pause between offers of a refused frame.
constexpr milliseconds kReofferInterval{1};

using gst_detail::kSinkName;

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

// The message of an ERROR message, one line. GStreamer's generic "Internal data stream error."
// gets the flow reason from the debug text, e.g. "(reason not-linked: no video stream?)".
std::string error_text(GstMessage* msg) {
  GError* err = nullptr;
  gchar* debug = nullptr;
  gst_message_parse_error(msg, &err, &debug);
  std::string text = err && err->message ? err->message : "unknown error";
  const bool generic =
      err && err->domain == GST_STREAM_ERROR && err->code == GST_STREAM_ERROR_FAILED;
  const std::string details = debug ? debug : "";
  g_clear_error(&err);
  g_free(debug);
  const size_t at = details.find("reason ");
  if (generic && at != std::string::npos) {
    std::string reason = details.substr(at, details.find_first_of(" \n", at + 7) - at);
    if (reason == "reason not-linked") reason += ": no video stream?";
    if (reason != "reason error") text += " (" + reason + ")";  // "error": says nothing more
  }
  return one_line(text);
}

}  // namespace

// Ownership: the controlling thread owns the pipeline until start() hands it to the bus thread,
// which from then on alone builds, plays, tears down and rebuilds pipelines, and tears the last
// one down when it exits. stop() joins the bus thread; tearing a pipeline down (state NULL)
// waits for its streaming threads, so no FrameCallback outlives the pipeline it came from.
struct GstSource::Impl {
  enum class Startup { kPending, kPlaying, kFailed, kDone };

  SourceConfig config;
  SourceKind kind;
  std::string description;
  FrameCallback on_frame;
  EventCallback on_event;
  bool lossless = false;  // re-offer refused frames (non-live sources with realtime = false)
  std::atomic<bool> live{false};

  // Controlling thread only.
  std::thread bus_thread;

  std::mutex mu;
  std::condition_variable cv;
  bool stop_requested = false;       // guarded by mu
  Startup startup = Startup::kDone;  // guarded by mu
  std::string startup_error;         // guarded by mu

  std::atomic<bool> abort_offers{false};  // ends the re-offer loop before a teardown
  std::atomic<bool> finished{false};
  std::atomic<int64_t> reconnects{0};          // rebuilt pipelines that delivered frames again
  std::atomic<int64_t> reconnect_attempts{0};  // pipelines rebuilt after a failure
  std::atomic<bool> frame_since_build{false};
  std::atomic<int64_t> last_frame_ns{0};

  // Builds the pipeline with its appsink wired to this object. nullptr and `error` on failure.
  GstElement* build(std::string* error) {
    GError* err = nullptr;
    GstParseContext* ctx = gst_parse_context_new();
    GstElement* pipeline =
        gst_parse_launch_full(description.c_str(), ctx, GST_PARSE_FLAG_FATAL_ERRORS, &err);
    gst_parse_context_free(ctx);
    if (pipeline) gst_object_ref_sink(pipeline);  // parse returns a floating reference
    if (!pipeline || err) {
      *error = one_line(err ? err->message : "cannot build the pipeline");
      g_clear_error(&err);
      if (pipeline) gst_object_unref(pipeline);
      return nullptr;
    }
    GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), kSinkName);
    if (!sink || !GST_IS_APP_SINK(sink)) {
      *error = "the pipeline has no appsink named " + std::string(kSinkName);
      if (sink) gst_object_unref(sink);
      gst_object_unref(pipeline);
      return nullptr;
    }
    GstAppSinkCallbacks callbacks{};
    callbacks.new_sample = &Impl::on_new_sample;
    gst_app_sink_set_callbacks(GST_APP_SINK(sink), &callbacks, this, nullptr);
    gst_object_unref(sink);
    return pipeline;
  }

  static void teardown(GstElement* pipeline) {
    if (!pipeline) return;
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(pipeline);
  }

  static GstFlowReturn on_new_sample(GstAppSink* sink, gpointer user) {
    return static_cast<Impl*>(user)->deliver(sink);
  }

  GstFlowReturn deliver(GstAppSink* sink) {
    GstSample* sample = gst_app_sink_pull_sample(sink);
    if (!sample) return GST_FLOW_FLUSHING;
    SourceFrame frame;
    frame.arrival_ns = steady_ns();
    GstBuffer* buffer = gst_sample_get_buffer(sample);
    GstCaps* caps = gst_sample_get_caps(sample);
    GstVideoInfo info;
    GstVideoFrame video;
    if (!buffer || !caps || !gst_video_info_from_caps(&info, caps) ||
        !gst_video_frame_map(&video, &info, buffer, GST_MAP_READ)) {
      gst_sample_unref(sample);
      GST_ELEMENT_ERROR(sink, STREAM, FORMAT, ("cannot read an RGB frame from the appsink"),
                        (nullptr));
      return GST_FLOW_ERROR;
    }
    frame.rgb = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&video, 0));
    frame.width = GST_VIDEO_FRAME_WIDTH(&video);
    frame.height = GST_VIDEO_FRAME_HEIGHT(&video);
    frame.stride = GST_VIDEO_FRAME_PLANE_STRIDE(&video, 0);
    frame.pts_ns =
        GST_BUFFER_PTS_IS_VALID(buffer) ? static_cast<int64_t>(GST_BUFFER_PTS(buffer)) : -1;
    last_frame_ns.store(frame.arrival_ns);
    frame_since_build.store(true);
    GstFlowReturn ret = GST_FLOW_OK;
    try {
      if (lossless) {
        while (!on_frame(frame) && !abort_offers.load())
          std::this_thread::sleep_for(kReofferInterval);
      } else {
        on_frame(frame);
      }
    } catch (const std::exception& e) {
      const std::string what = one_line(e.what());
      GST_ELEMENT_ERROR(sink, LIBRARY, FAILED, ("frame callback failed: %s", what.c_str()),
                        (nullptr));
      ret = GST_FLOW_ERROR;
    } catch (...) {
      GST_ELEMENT_ERROR(sink, LIBRARY, FAILED, ("frame callback failed"), (nullptr));
      ret = GST_FLOW_ERROR;
    }
    gst_video_frame_unmap(&video);
    gst_sample_unref(sample);
    return ret;
  }

  void emit(SourceEvent::Kind kind, std::string message = {}, int attempt = 0, int delay_ms = 0) {
    if (!on_event) return;
    SourceEvent event{kind, std::move(message), attempt, delay_ms};
    try {
      on_event(event);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "GstSource::emit: event callback threw: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "GstSource::emit: event callback threw\n");
    }
  }

  bool stopping() {
    std::lock_guard<std::mutex> lock(mu);
    return stop_requested;
  }

  // Waits up to `delay`; true when stop() was requested meanwhile.
  bool wait_stop(milliseconds delay) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, delay, [this] { return stop_requested; });
  }

  // Asks what feeds the appsink (the sink itself answers "not live" when it does not sync).
  void query_live(GstElement* pipeline) {
    GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), kSinkName);
    if (!sink) return;
    GstPad* pad = gst_element_get_static_pad(sink, "sink");
    GstQuery* query = gst_query_new_latency();
    if (pad && gst_pad_peer_query(pad, query)) {
      gboolean is_live = FALSE;
      gst_query_parse_latency(query, &is_live, nullptr, nullptr);
      live.store(is_live != FALSE);
    }
    gst_query_unref(query);
    if (pad) gst_object_unref(pad);
    gst_object_unref(sink);
  }

  // The bus thread: reports what the pipeline says and, for RTSP, rebuilds it after failures.
  void run_bus(GstElement* pipeline) {
    const bool reconnecting = kind == SourceKind::kRtsp;
    int attempt = 0;  // consecutive failures since frames last flowed
    int delay_ms = config.reconnect_initial_ms;
    bool started = false;  // kStarted sent for this pipeline
    GstBus* bus = gst_element_get_bus(pipeline);

    auto drop_pipeline = [&] {
      abort_offers.store(true);
      if (bus) gst_object_unref(bus);
      bus = nullptr;
      teardown(pipeline);
      pipeline = nullptr;
    };
    auto give_up = [&](std::string message) {
      drop_pipeline();
      finished.store(true);
      emit(SourceEvent::Kind::kGaveUp, std::move(message));
    };

    while (!stopping()) {
      if (!pipeline) {  // finished: nothing to watch until stop()
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [this] { return stop_requested; });
        break;
      }
      if (attempt > 0 && frame_since_build.load()) {
        reconnects.fetch_add(1);
        attempt = 0;
        delay_ms = config.reconnect_initial_ms;
      }

      std::string failure;  // set when the RTSP pipeline must be rebuilt
      GstMessage* msg = gst_bus_timed_pop_filtered(
          bus, static_cast<GstClockTime>(kBusPoll.count()) * GST_MSECOND,
          static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_EOS |
                                      GST_MESSAGE_STATE_CHANGED));
      if (!msg) {
        if (reconnecting && frame_since_build.load() &&
            steady_ns() - last_frame_ns.load() > std::chrono::nanoseconds(kStallTimeout).count()) {
          failure = fmt::format("no frames for {} ms", kStallTimeout.count());
          emit(SourceEvent::Kind::kError, failure);
        } else {
          continue;
        }
      } else if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_STATE_CHANGED) {
        GstState new_state = GST_STATE_NULL;
        gst_message_parse_state_changed(msg, nullptr, &new_state, nullptr);
        const bool mine = GST_MESSAGE_SRC(msg) == GST_OBJECT(pipeline);
        gst_message_unref(msg);
        if (!mine || new_state != GST_STATE_PLAYING || started) continue;
        started = true;
        if (kind == SourceKind::kCustom) query_live(pipeline);
        {
          std::lock_guard<std::mutex> lock(mu);
          if (startup == Startup::kPending) startup = Startup::kPlaying;
        }
        cv.notify_all();
        emit(SourceEvent::Kind::kStarted);
        continue;
      } else if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS) {
        gst_message_unref(msg);
        if (reconnecting) {
          failure = "end of stream";
          emit(SourceEvent::Kind::kEndOfStream, failure);
        } else {
          drop_pipeline();
          finished.store(true);
          emit(SourceEvent::Kind::kEndOfStream);
          continue;
        }
      } else {  // GST_MESSAGE_ERROR
        const std::string text = error_text(msg);
        gst_message_unref(msg);
        if (!reconnecting) {
          bool during_startup = false;
          {
            std::lock_guard<std::mutex> lock(mu);
            if (startup == Startup::kPending) {
              startup = Startup::kFailed;
              startup_error = text;
              during_startup = true;
            }
          }
          if (during_startup) {  // start() throws; no events
            cv.notify_all();
            drop_pipeline();
            continue;
          }
          emit(SourceEvent::Kind::kError, text);
          give_up(text);
          continue;
        }
        failure = text;
        emit(SourceEvent::Kind::kError, text);
      }

      // RTSP: rebuild after a backoff, until the attempts run out or stop() is called.
      while (!failure.empty()) {
        drop_pipeline();
        ++attempt;
        if (config.reconnect_attempts > 0 && attempt > config.reconnect_attempts) {
          give_up(fmt::format("{} reconnect attempts failed; last error: {}",
                              config.reconnect_attempts, failure));
          break;
        }
        reconnect_attempts.fetch_add(1);
        emit(SourceEvent::Kind::kReconnecting, failure, attempt, delay_ms);
        if (wait_stop(milliseconds(delay_ms))) break;
        delay_ms = static_cast<int>(
            std::min<int64_t>(config.reconnect_max_ms, delay_ms > 0 ? int64_t{delay_ms} * 2 : 1));

        std::string error;
        pipeline = build(&error);
        if (!pipeline) {
          emit(SourceEvent::Kind::kError, error);
          give_up(error);
          break;
        }
        bus = gst_element_get_bus(pipeline);
        started = false;
        frame_since_build.store(false);
        abort_offers.store(false);
        failure.clear();
        if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
          GstMessage* err = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
          failure = err ? error_text(err) : "the pipeline does not start";
          if (err) gst_message_unref(err);
          emit(SourceEvent::Kind::kError, failure);
        }
      }
    }
    drop_pipeline();
  }
};

GstSource::GstSource(SourceConfig config, FrameCallback on_frame, EventCallback on_event)
    : impl_(std::make_unique<Impl>()) {
  config.validate();
  init();
  Impl& s = *impl_;
  s.kind = source_kind(config.spec);
  s.on_frame = on_frame ? std::move(on_frame) : [](const SourceFrame&) { return true; };
  s.on_event = std::move(on_event);

  gst_detail::LaunchLine line = gst_detail::launch_line(config, s.kind);
  s.live = line.live;
  s.lossless = line.lossless;
  s.description = std::move(line.description);
  s.config = std::move(config);
}

GstSource::~GstSource() { stop(); }

void GstSource::start() {
  Impl& s = *impl_;
  if (s.bus_thread.joinable()) return;
  const bool wait_for_start = s.kind != SourceKind::kRtsp;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.stop_requested = false;
    s.startup = wait_for_start ? Impl::Startup::kPending : Impl::Startup::kDone;
    s.startup_error.clear();
  }
  s.abort_offers = false;
  s.finished = false;
  s.frame_since_build = false;

  std::string error;
  GstElement* pipeline = s.build(&error);
  if (!pipeline) throw InputError(fmt::format("source '{}': {}", s.config.spec, error));
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE &&
      wait_for_start) {
    GstBus* bus = gst_element_get_bus(pipeline);
    GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    error = msg ? error_text(msg) : "the pipeline does not start";
    if (msg) gst_message_unref(msg);
    gst_object_unref(bus);
    s.abort_offers = true;
    Impl::teardown(pipeline);
    throw InputError(fmt::format("source '{}': {}", s.config.spec, error));
  }
  // A failed RTSP start leaves its ERROR on the bus: the bus thread reconnects.
  s.bus_thread = std::thread([&s, pipeline] { s.run_bus(pipeline); });
  if (!wait_for_start) return;

  std::unique_lock<std::mutex> lock(s.mu);
  s.cv.wait_for(lock, kStartupTimeout, [&s] { return s.startup != Impl::Startup::kPending; });
  if (s.startup == Impl::Startup::kFailed) {
    error = s.startup_error;
    lock.unlock();
    stop();
    throw InputError(fmt::format("source '{}': {}", s.config.spec, error));
  }
  s.startup = Impl::Startup::kDone;  // later errors are events
}

void GstSource::stop() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.stop_requested = true;
  }
  s.abort_offers = true;
  s.cv.notify_all();
  if (s.bus_thread.joinable()) s.bus_thread.join();
}

bool GstSource::finished() const { return impl_->finished.load(); }
bool GstSource::is_live() const { return impl_->live.load(); }
SourceKind GstSource::kind() const { return impl_->kind; }
const std::string& GstSource::description() const { return impl_->description; }
int64_t GstSource::reconnects() const { return impl_->reconnects.load(); }
int64_t GstSource::reconnect_attempts() const { return impl_->reconnect_attempts.load(); }

void GstSource::init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!gst_is_initialized()) gst_init(nullptr, nullptr);
  });
}

}  // namespace cotrack
