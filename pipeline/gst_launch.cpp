// The launch-line builder of GstSource: source specs (source_kind, to_string), the check of a
// SourceConfig, and the gst_parse_launch description for each kind of source (file URIs,
// quoting, the caps and the appsink at the end). The runtime is in gst_source.cpp.
#include "gst_launch.hpp"

#include <fmt/format.h>
#include <gst/gst.h>

#include <algorithm>
#include <cctype>
#include <string>

#include "cotrack/error.hpp"
#include "gst_quote.hpp"

namespace cotrack {
namespace {

using gst_detail::kSinkName;

// appsink queue: the callback takes each sample at once, so two is plenty.
constexpr int kAppSinkMaxBuffers = 2;
constexpr int kMinSide = 16, kMaxSide = 8192;
constexpr double kMaxFps = 1000;

// Elements whose output is live: a "gst:" pipeline that starts with one is live.
constexpr const char* kLiveSources[] = {
    "v4l2src",   "rtspsrc",      "udpsrc",       "tcpclientsrc",     "srtsrc",
    "ximagesrc", "pipewiresrc",  "libcamerasrc", "nvarguscamerasrc", "pulsesrc",
    "alsasrc",   "autovideosrc", "ristsrc",      "webrtcbin",        "shmsrc",
};

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

std::string framerate(double fps) {
  int num = 0, den = 1;
  gst_util_double_to_fraction(fps, &num, &den);
  return fmt::format("{}/{}", num, den);
}

bool custom_looks_live(const std::string& pipeline) {
  if (pipeline.find("is-live=true") != std::string::npos) return true;
  const size_t begin = pipeline.find_first_not_of(" \t");
  if (begin == std::string::npos) return false;
  const size_t end = pipeline.find_first_of(" \t!", begin);
  const std::string first = pipeline.substr(begin, end == std::string::npos ? end : end - begin);
  for (const char* name : kLiveSources)
    if (first == name) return true;
  return false;
}

std::string file_uri(const std::string& spec) {
  if (gst_uri_is_valid(spec.c_str())) return spec;
  GError* err = nullptr;
  gchar* uri = gst_filename_to_uri(spec.c_str(), &err);
  if (!uri) {
    const std::string msg = err ? err->message : "not a file name";
    g_clear_error(&err);
    throw InputError(fmt::format("source '{}': {}", spec, msg));
  }
  std::string out = uri;
  g_free(uri);
  return out;
}

}  // namespace

SourceKind source_kind(const std::string& spec) {
  if (spec == "test") return SourceKind::kTest;
  if (spec == "synth" || starts_with(spec, "synth:")) return SourceKind::kSynth;
  if (spec == "webcam" || starts_with(spec, "webcam:")) return SourceKind::kWebcam;
  if (starts_with(spec, "gst:")) return SourceKind::kCustom;
  const size_t scheme_end = spec.find("://");
  if (scheme_end != std::string::npos) {
    std::string scheme = spec.substr(0, scheme_end);
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (starts_with(scheme, "rtsp")) return SourceKind::kRtsp;  // rtsp, rtsps, rtspt, ...
  }
  return SourceKind::kFile;
}

const char* to_string(SourceKind kind) {
  switch (kind) {
    case SourceKind::kTest:
      return "test";
    case SourceKind::kWebcam:
      return "webcam";
    case SourceKind::kRtsp:
      return "rtsp";
    case SourceKind::kFile:
      return "file";
    case SourceKind::kCustom:
      return "custom";
    case SourceKind::kSynth:
      return "synth";
  }
  return "unknown";
}

uint64_t synth_seed(const std::string& spec) {
  if (spec == "synth") return 1;
  const std::string digits = spec.substr(6);
  if (digits.empty() || digits.size() > 19 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    throw UsageError(fmt::format("source '{}': expected synth or synth:SEED (a whole number)",
                                 spec));
  }
  return std::stoull(digits);
}

void SourceConfig::validate() const {
  if (spec.empty()) throw UsageError("source must not be empty (test, webcam, rtsp://..., a file)");
  if (spec == "gst:" || spec == "webcam:")
    throw UsageError(fmt::format("source '{}' names no pipeline or device", spec));
  if (source_kind(spec) == SourceKind::kSynth) synth_seed(spec);
  if (width < kMinSide || width > kMaxSide)
    throw UsageError(fmt::format("width = {} out of range [{}, {}]", width, kMinSide, kMaxSide));
  if (height < kMinSide || height > kMaxSide)
    throw UsageError(fmt::format("height = {} out of range [{}, {}]", height, kMinSide, kMaxSide));
  if (!(fps > 0 && fps <= kMaxFps))
    throw UsageError(fmt::format("fps = {} out of range (0, {}]", fps, kMaxFps));
  if (rtsp_transport != "tcp" && rtsp_transport != "udp")
    throw UsageError(fmt::format("rtsp-transport = '{}': expected tcp or udp", rtsp_transport));
  if (rtsp_latency_ms < 0)
    throw UsageError(fmt::format("rtsp-latency-ms = {} must be >= 0", rtsp_latency_ms));
  if (reconnect_initial_ms < 0)
    throw UsageError(fmt::format("reconnect-initial-ms = {} must be >= 0", reconnect_initial_ms));
  if (reconnect_max_ms < 0)
    throw UsageError(fmt::format("reconnect-max-ms = {} must be >= 0", reconnect_max_ms));
  if (reconnect_initial_ms > reconnect_max_ms)
    throw UsageError(fmt::format("reconnect-initial-ms = {} exceeds reconnect-max-ms = {}",
                                 reconnect_initial_ms, reconnect_max_ms));
  if (reconnect_attempts < 0)
    throw UsageError(
        fmt::format("reconnect-attempts = {} must be >= 0 (0 = forever)", reconnect_attempts));
}

namespace gst_detail {

LaunchLine launch_line(const SourceConfig& config, SourceKind kind) {
  LaunchLine line;
  const std::string fps = framerate(config.fps);
  const std::string size = fmt::format("width={},height={}", config.width, config.height);
  std::string head;
  bool sized = false;
  switch (kind) {
    case SourceKind::kTest:
      // A checkerboard scrolling left 2 px a frame (corners everywhere, known motion) with an
      // orange ball moving over it on its own path: something worth tracking, and an occluder.
      head = fmt::format(
          "videotestsrc is-live=true pattern=checkers-8 horizontal-speed=2 ! "
          "video/x-raw,{0},framerate={1} ! cotrack_mix.  "
          "videotestsrc is-live=true pattern=ball background-color=0x00000000 "
          "foreground-color=0xffff5020 ! video/x-raw,format=BGRA,{0},framerate={1} ! "
          "cotrack_mix.  compositor name=cotrack_mix",
          size, fps);
      sized = true;
      line.live = true;
      break;
    case SourceKind::kWebcam: {
      const std::string device =
          config.spec == "webcam" ? std::string("/dev/video0") : config.spec.substr(7);
      head = fmt::format("v4l2src device={} ! video/x-raw,{},framerate={}", gst_quote(device), size,
                         fps);
      sized = true;
      line.live = true;
      break;
    }
    case SourceKind::kRtsp:
      head = fmt::format(
          "rtspsrc location={} latency={} protocols={} ! application/x-rtp,media=video ! "
          "decodebin",
          gst_quote(config.spec), config.rtsp_latency_ms, config.rtsp_transport);
      line.live = true;
      break;
    case SourceKind::kFile:
      head = fmt::format("uridecodebin uri={}", gst_quote(file_uri(config.spec)));
      line.live = false;
      break;
    case SourceKind::kCustom:
      head = config.spec.substr(4);
      line.live = custom_looks_live(head);
      break;
    case SourceKind::kSynth:
      throw UsageError("source synth is not a GStreamer source (SynthSource plays it)");
  }
  // Live sources are paced already: render at once and drop what the consumer cannot take.
  // Non-live ones play at their own rate (sync) or, with realtime = false, as fast as frames are
  // taken, losing none.
  const bool live = line.live;
  line.lossless = !live && !config.realtime;
  const bool sync = !live && config.realtime;
  line.description = fmt::format(
      "{} ! videoconvert ! videoscale ! video/x-raw,format=RGB{} ! appsink name={} "
      "emit-signals=false enable-last-sample=false max-buffers={} drop={} sync={}",
      head, sized ? "," + size : std::string(), kSinkName, kAppSinkMaxBuffers,
      line.lossless ? "false" : "true", sync ? "true" : "false");
  return line;
}

}  // namespace gst_detail
}  // namespace cotrack
