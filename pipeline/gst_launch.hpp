// The launch-line builder of GstSource: turns a SourceConfig into the gst_parse_launch
// description that ends in the appsink (gst_launch.cpp). Internal to pipeline/; no GStreamer
// types here. The builder's public functions (source_kind, to_string, SourceConfig::validate)
// are declared in gst_source.hpp.
#pragma once

#include <string>

#include "gst_source.hpp"

namespace cotrack {
namespace gst_detail {

// The appsink that ends every launch line; the runtime finds it by this name.
inline constexpr const char* kSinkName = "cotrack_sink";

// A source's launch line and how the runtime treats the source.
struct LaunchLine {
  std::string description;  // for gst_parse_launch, ends in the appsink named kSinkName
  bool live = false;  // a live source ("gst:": a guess, until GStreamer's latency query answers)
  bool lossless = false;  // re-offer refused frames (non-live sources with realtime = false)
};

// The launch line for a validated `config` whose spec is of kind `kind`. Call after
// GstSource::init(). Throws InputError for a file spec that is neither a URI nor a file name.
LaunchLine launch_line(const SourceConfig& config, SourceKind kind);

}  // namespace gst_detail
}  // namespace cotrack
