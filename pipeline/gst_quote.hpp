// Quoting for GStreamer launch lines (gst_parse_launch), shared by the source and the video
// writer.
#pragma once

#include <string>

namespace cotrack {

// `text` as one launch-line value: double-quoted, with \ and " escaped, so that spaces, '!' and
// '=' inside it survive.
inline std::string gst_quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace cotrack
