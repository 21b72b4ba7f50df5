#include "video_reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <filesystem>
#include <system_error>
#include <utility>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <opencv2/videoio/registry.hpp>

#include "cotrack/error.hpp"

namespace cotrack {
namespace {

namespace fs = std::filesystem;

// PNG zlib level for write_frames_png: 1 is several times faster than the default 3 and the
// files are barely larger (frames are noisy textures).
constexpr int kPngCompression = 1;

bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".ppm";
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Natural order: digit runs compare by value (then the shorter, less padded run first), other
// characters as bytes; equal keys fall back to plain comparison so the order is total.
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (is_digit(a[i]) && is_digit(b[j])) {
      size_t ie = i, je = j;
      while (ie < a.size() && is_digit(a[ie])) ++ie;
      while (je < b.size() && is_digit(b[je])) ++je;
      size_t is = i, js = j;
      while (is + 1 < ie && a[is] == '0') ++is;
      while (js + 1 < je && b[js] == '0') ++js;
      const size_t alen = ie - is, blen = je - js;
      if (alen != blen) return alen < blen;
      const int c = a.compare(is, alen, b, js, blen);
      if (c != 0) return c < 0;
      if (ie - i != je - j) return ie - i < je - j;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
      ++i;
      ++j;
    }
  }
  if (a.size() - i != b.size() - j) return a.size() - i < b.size() - j;
  return a < b;
}

// The image files of a clip directory in natural name order. Throws InputError.
std::vector<std::string> list_images(const fs::path& dir) {
  std::vector<std::pair<std::string, std::string>> found;  // (file name, full path)
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec)
    throw InputError(fmt::format("{}: cannot list the directory: {}", dir.string(), ec.message()));
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const fs::path& p = it->path();
    const std::string name = p.filename().string();
    if (name.empty() || name[0] == '.' || !is_image_name(p)) continue;
    std::error_code type_ec;
    if (!fs::is_regular_file(p, type_ec)) continue;
    found.emplace_back(name, p.string());
  }
  if (ec)
    throw InputError(fmt::format("{}: cannot list the directory: {}", dir.string(), ec.message()));
  std::sort(found.begin(), found.end(),
            [](const auto& x, const auto& y) { return natural_less(x.first, y.first); });
  std::vector<std::string> files;
  files.reserve(found.size());
  for (auto& f : found) files.push_back(std::move(f.second));
  return files;
}

// Converts a decoded OpenCV image (BGR, BGRA or grey, 8 bit) into RGB bytes at `dst`, which
// holds image.rows * image.cols * 3 bytes. Returns false for other pixel formats.
bool to_rgb(const cv::Mat& image, uint8_t* dst) {
  if (image.depth() != CV_8U) return false;
  cv::Mat out(image.rows, image.cols, CV_8UC3, dst);
  switch (image.channels()) {
    case 1:
      cv::cvtColor(image, out, cv::COLOR_GRAY2RGB);
      return true;
    case 3:
      cv::cvtColor(image, out, cv::COLOR_BGR2RGB);
      return true;
    case 4:
      cv::cvtColor(image, out, cv::COLOR_BGRA2RGB);
      return true;
    default:
      return false;
  }
}

}  // namespace

struct VideoReader::Impl {
  std::string path;
  // Image clip: the files, and the index of the next one to decode.
  bool images = false;
  std::vector<std::string> files;
  size_t next_file = 0;
  // Video.
  cv::VideoCapture capture;
  bool ended = false;
  // A decoded frame not yet handed out (the constructor's first frame).
  cv::Mat pending;
  bool has_pending = false;

  int width = 0;
  int height = 0;
  int frame_count = -1;
  double fps = 0.0;
  int64_t frames_read = 0;

  // The next decoded frame (any OpenCV layout), or false at the end. Throws InputError for a
  // corrupt image.
  bool decode(cv::Mat& out, std::string& source) {
    if (has_pending) {
      out = pending;
      pending.release();
      has_pending = false;
      source = images ? files[next_file - 1] : fmt::format("{}: frame {}", path, frames_read);
      return true;
    }
    if (images) {
      if (next_file >= files.size()) return false;
      source = files[next_file++];
      try {
        out = cv::imread(source, cv::IMREAD_COLOR);
      } catch (const cv::Exception&) {
        out.release();
      }
      if (out.empty()) {
        throw InputError(fmt::format(
            "{}: cannot decode the image (corrupt, truncated or not an image)", source));
      }
      return true;
    }
    if (ended) return false;
    source = fmt::format("{}: frame {}", path, frames_read);
    bool ok = false;
    try {
      ok = capture.read(out);
    } catch (const cv::Exception&) {
      ok = false;
    }
    if (!ok || out.empty()) {
      ended = true;
      capture.release();
      return false;
    }
    return true;
  }
};

VideoReader::VideoReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  Impl& d = *impl_;
  d.path = path;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    throw InputError(fmt::format("{}: no such file or directory", path));
  }
  if (fs::is_directory(status)) {
    const fs::path frames_dir = fs::path(path) / "frames";
    const bool sub = fs::is_directory(frames_dir, ec);
    const fs::path dir = sub ? frames_dir : fs::path(path);
    d.images = true;
    d.files = list_images(dir);
    if (d.files.empty()) {
      throw InputError(
          fmt::format("{}: no frames (no .png, .jpg, .jpeg or .ppm files)", dir.string()));
    }
  } else if (is_image_name(path)) {
    d.images = true;
    d.files = {path};
  } else {
    // FFMPEG only: see the header on why not OpenCV's fallback to GStreamer.
    const int api = cv::videoio_registry::hasBackend(cv::CAP_FFMPEG) ? cv::CAP_FFMPEG : cv::CAP_ANY;
    bool opened = false;
    try {
      opened = d.capture.open(path, api);
    } catch (const cv::Exception&) {
      opened = false;
    }
    if (!opened) {
      throw InputError(fmt::format(
          "{}: cannot open as a video (not a video, or a format FFMPEG cannot read)", path));
    }
    const double count = d.capture.get(cv::CAP_PROP_FRAME_COUNT);
    if (std::isfinite(count) && count >= 1.0 && count <= INT_MAX) {
      d.frame_count = static_cast<int>(std::lround(count));
    }
    const double fps = d.capture.get(cv::CAP_PROP_FPS);
    if (std::isfinite(fps) && fps > 0.0 && fps < 10000.0) d.fps = fps;
  }
  if (d.images) d.frame_count = static_cast<int>(d.files.size());

  std::string source;
  if (!d.decode(d.pending, source)) {
    throw InputError(fmt::format("{}: no decodable video frame", path));
  }
  d.has_pending = true;
  d.width = d.pending.cols;
  d.height = d.pending.rows;
}

VideoReader::VideoReader(VideoReader&&) noexcept = default;
VideoReader& VideoReader::operator=(VideoReader&&) noexcept = default;
VideoReader::~VideoReader() = default;

bool VideoReader::next(std::vector<uint8_t>& rgb, int& width, int& height) {
  Impl& d = *impl_;
  cv::Mat image;
  std::string source;
  if (!d.decode(image, source)) return false;
  if (image.cols != d.width || image.rows != d.height) {
    throw InputError(fmt::format("{}: frame is {}x{}, the clip's first frame is {}x{}", source,
                                 image.cols, image.rows, d.width, d.height));
  }
  rgb.resize(static_cast<size_t>(d.width) * d.height * 3);
  if (!to_rgb(image, rgb.data())) {
    throw InputError(fmt::format("{}: unsupported pixel format ({} channels, depth {})", source,
                                 image.channels(), image.depth()));
  }
  width = d.width;
  height = d.height;
  ++d.frames_read;
  return true;
}

int VideoReader::frame_count() const { return impl_->frame_count; }
double VideoReader::fps() const { return impl_->fps; }
int VideoReader::width() const { return impl_->width; }
int VideoReader::height() const { return impl_->height; }
int64_t VideoReader::frames_read() const { return impl_->frames_read; }
const std::string& VideoReader::path() const { return impl_->path; }

std::string VideoReader::backend() const {
  if (impl_->images) return "images";
  return impl_->capture.isOpened() ? impl_->capture.getBackendName() : "FFMPEG";
}

VideoFrames read_all(const std::string& path, int max_frames) {
  VideoReader reader(path);
  VideoFrames video;
  video.width = reader.width();
  video.height = reader.height();
  const size_t frame_bytes = video.frame_bytes();
  // Reserve what the container announces, within reason (announcements can be wrong).
  constexpr size_t kMaxReserveBytes = size_t{1} << 31;
  int expected = reader.frame_count();
  if (max_frames >= 0 && (expected < 0 || expected > max_frames)) expected = max_frames;
  if (expected > 0 && static_cast<size_t>(expected) * frame_bytes <= kMaxReserveBytes) {
    video.rgb.reserve(static_cast<size_t>(expected) * frame_bytes);
  }
  std::vector<uint8_t> frame;
  int width = 0, height = 0;
  while ((max_frames < 0 || video.count < max_frames) && reader.next(frame, width, height)) {
    video.rgb.insert(video.rgb.end(), frame.begin(), frame.end());
    ++video.count;
  }
  return video;
}

void write_frames_png(const VideoFrames& video, const std::string& dir) {
  if (video.width <= 0 || video.height <= 0 || video.count < 0 ||
      video.rgb.size() != static_cast<size_t>(video.count) * video.frame_bytes()) {
    throw InputError(
        fmt::format("{}: cannot write frames: the video is {}x{} x {} frames but holds {} bytes",
                    dir, video.width, video.height, video.count, video.rgb.size()));
  }
  const fs::path frames_dir = fs::path(dir) / "frames";
  std::error_code ec;
  fs::create_directories(frames_dir, ec);
  if (ec) {
    throw Error(ExitCode::kRuntime, fmt::format("{}: cannot create the directory: {}",
                                                frames_dir.string(), ec.message()));
  }
  for (const std::string& stale : list_images(frames_dir)) {
    fs::remove(stale, ec);
    if (ec) {
      throw Error(ExitCode::kRuntime,
                  fmt::format("{}: cannot remove the old frame: {}", stale, ec.message()));
    }
  }
  const std::vector<int> params = {cv::IMWRITE_PNG_COMPRESSION, kPngCompression};
  cv::Mat bgr;
  for (int t = 0; t < video.count; ++t) {
    // cv::Mat needs a non-const pointer; the frame is only read.
    const cv::Mat rgb(video.height, video.width, CV_8UC3, const_cast<uint8_t*>(video.frame(t)));
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    const std::string file = (frames_dir / fmt::format("{:06d}.png", t)).string();
    bool ok = false;
    try {
      ok = cv::imwrite(file, bgr, params);
    } catch (const cv::Exception&) {
      ok = false;
    }
    if (!ok) throw Error(ExitCode::kRuntime, fmt::format("{}: cannot write the frame", file));
  }
}

}  // namespace cotrack
