// The file outputs of the live app: the video writer (VideoOut: H.264 through a GStreamer
// pipeline, Motion-JPEG through OpenCV's FFMPEG backend) and write_png for screenshots.
#include "renderer.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "cotrack/error.hpp"
#include "gst_quote.hpp"
#include "render_internal.hpp"

namespace cotrack {
namespace {

std::string lower_extension(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

}  // namespace

using render_detail::check_frame;

// ---- VideoOut -----------------------------------------------------------------------------

struct VideoOut::Impl {
  std::mutex mutex;
  cv::VideoWriter writer;
  int width = 0, height = 0;          // frames given to write()
  int enc_width = 0, enc_height = 0;  // frames given to the encoder (even for H.264)
  // Frames handed to OpenCV's writer: for GStreamer, width rounded up to a multiple of 4 (see
  // the constructor) and cropped back to enc_width inside the pipeline.
  int feed_width = 0, feed_height = 0;
  cv::Mat padded;
  int64_t frames = 0;
  bool closed = false;
};

VideoOut::VideoOut(const std::string& path, int width, int height, double fps)
    : path_(path), impl_(std::make_unique<Impl>()) {
  if (width <= 0 || height <= 0) {
    throw UsageError(
        fmt::format("video out: {}: frame size must be positive (got {}x{})", path, width, height));
  }
  if (!(fps > 0) || !std::isfinite(fps)) {
    throw UsageError(fmt::format("video out: {}: fps must be positive (got {})", path, fps));
  }
  const std::string ext = lower_extension(path);
  std::string mux;
  if (ext == ".mp4" || ext == ".m4v") {
    mux = "mp4mux fragment-duration=1000";  // fragmented: a killed recording stays playable
  } else if (ext == ".mov") {
    mux = "qtmux fragment-duration=1000";
  } else if (ext == ".mkv") {
    mux = "matroskamux";
  } else if (ext != ".avi") {
    throw UsageError(fmt::format(
        "video out: {}: unsupported extension '{}' (use .mp4, .m4v, .mov, .mkv or .avi)", path,
        ext));
  }
  // Creating the file first gives a precise reason (GStreamer's filesink only says it failed).
  std::FILE* probe = std::fopen(path.c_str(), "wb");
  if (probe == nullptr) {
    throw Error(ExitCode::kRuntime,
                fmt::format("video out: cannot create {}: {}", path, std::strerror(errno)));
  }
  std::fclose(probe);

  impl_->width = width;
  impl_->height = height;
  // 4:2:0 needs even sizes (OpenCV's FFMPEG writer would drop the odd column/row instead).
  impl_->enc_width = impl_->feed_width = (width + 1) / 2 * 2;
  impl_->enc_height = impl_->feed_height = (height + 1) / 2 * 2;
  bool opened = false;
  if (!mux.empty()) {
    // OpenCV's GStreamer writer pushes packed BGR rows (width * 3 bytes) while GStreamer assumes
    // rows padded to 4 bytes, which skews every frame whose width is not a multiple of 4: feed
    // such frames padded to a multiple of 4 and crop them back.
    impl_->feed_width = (width + 3) / 4 * 4;
    const int crop = impl_->feed_width - impl_->enc_width;
    const std::string pipeline = fmt::format(
        "appsrc ! {}videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=ultrafast "
        "tune=zerolatency ! h264parse ! {} ! filesink location={}",
        crop > 0 ? fmt::format("videocrop right={} ! ", crop) : std::string(), mux,
        gst_quote(path));
    opened = impl_->writer.open(pipeline, cv::CAP_GSTREAMER, /*fourcc=*/0, fps,
                                cv::Size(impl_->feed_width, impl_->feed_height),
                                /*isColor=*/true);
  } else {
    opened = impl_->writer.open(path, cv::CAP_FFMPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'),
                                fps, cv::Size(impl_->feed_width, impl_->feed_height),
                                /*isColor=*/true);
  }
  if (!opened || !impl_->writer.isOpened()) {
    std::remove(path.c_str());
    throw Error(ExitCode::kRuntime,
                fmt::format("video out: cannot open a writer for {} ({})", path,
                            mux.empty() ? "OpenCV FFMPEG backend, MJPG"
                                        : "GStreamer videocrop, x264enc + " + mux +
                                              "; x264enc needs gstreamer1.0-plugins-ugly"));
  }
}

VideoOut::~VideoOut() { close(); }

void VideoOut::write(const std::vector<uint8_t>& bgr) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (impl_->closed) return;
  check_frame("video out", bgr.size(), impl_->width, impl_->height);
  const cv::Mat img(impl_->height, impl_->width, CV_8UC3, const_cast<uint8_t*>(bgr.data()));
  if (impl_->feed_width != impl_->width || impl_->feed_height != impl_->height) {
    cv::copyMakeBorder(img, impl_->padded, 0, impl_->feed_height - impl_->height, 0,
                       impl_->feed_width - impl_->width, cv::BORDER_REPLICATE);
    impl_->writer.write(impl_->padded);
  } else {
    impl_->writer.write(img);
  }
  ++impl_->frames;
}

void VideoOut::close() {
  if (!impl_) return;
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (impl_->closed) return;
  impl_->closed = true;
  impl_->writer.release();
}

int64_t VideoOut::frames() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->frames;
}

// ---- PNG ----------------------------------------------------------------------------------

bool write_png(const std::string& path, const std::vector<uint8_t>& bgr, int width, int height) {
  if (width <= 0 || height <= 0 ||
      bgr.size() != static_cast<size_t>(width) * static_cast<size_t>(height) * 3) {
    return false;
  }
  const cv::Mat img(height, width, CV_8UC3, const_cast<uint8_t*>(bgr.data()));
  try {
    return cv::imwrite(path, img);
  } catch (const cv::Exception&) {
    return false;
  }
}

}  // namespace cotrack
