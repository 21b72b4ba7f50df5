// Internal helpers shared by the renderer's outputs (preview_window.cpp, video_out.cpp). Not part
// of the public interface: include only from pipeline/*.cpp.
#pragma once

#include <fmt/format.h>

#include <cstddef>

#include "cotrack/error.hpp"

namespace cotrack {
namespace render_detail {

// Throws InputError (prefixed with `who`) unless `size` is the byte count of a width x height
// BGR frame with a positive size.
inline void check_frame(const char* who, size_t size, int width, int height) {
  if (width <= 0 || height <= 0) {
    throw InputError(
        fmt::format("{}: frame size must be positive (got {}x{})", who, width, height));
  }
  const size_t expected = static_cast<size_t>(width) * static_cast<size_t>(height) * 3;
  if (size != expected) {
    throw InputError(fmt::format("{}: a {}x{} BGR frame needs {} bytes (got {})", who, width,
                                 height, expected, size));
  }
}

}  // namespace render_detail
}  // namespace cotrack
