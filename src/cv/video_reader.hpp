// Reading clips into RGB frames: video files (OpenCV's FFMPEG backend) and directories of images;
// writing frames as the PNG clip format. Only standard types in this header (no OpenCV).
//
// Accepted inputs, decided by what `path` is:
//   * a directory with a `frames/` subdirectory: the images in DIR/frames;
//   * any other directory: the images directly in DIR;
//   * a file with an image extension: a one-frame clip;
//   * any other file: a video, decoded with OpenCV's FFMPEG backend.
// Images are the files ending in .png, .jpg, .jpeg or .ppm (any case; hidden files are skipped),
// in natural name order: runs of digits compare by value, so "2.png" comes before "10.png", and
// zero-padded names ("000000.png", the format of write_frames_png and cotrack::write_clip) sort
// as plain text would. Other files (gt.csv, points.csv, ...) are ignored.
//
// Frames are RGB bytes, rows of width * 3, top row first ([H][W][3]). Grey, 16-bit and RGBA
// images are converted to 8-bit RGB the way cv::imread(IMREAD_COLOR) does.
//
// Errors are InputError with one line naming the file and the reason: a missing path, a
// directory without images, a file no backend can decode, a video without a single decodable
// frame, a corrupt or truncated image, an image (or video frame) whose size differs from the
// first frame's.
//
// A video that ends early -- a truncated file, a damaged frame the decoder cannot get past, or a
// container that announces more frames than it holds -- simply ends: next() returns false after
// the last frame decoded, frame_count() keeps the container's announced number, and
// frames_read() says how many came out. Only an unusable first frame is an error.
//
// Files are decoded with FFMPEG only. OpenCV's default backend order would fall back to
// GStreamer for files FFMPEG rejects, and with OpenCV 4.6 / GStreamer 1.22 that pipeline stalls
// forever on a truncated AVI; live sources (cameras, RTSP) belong to the live pipeline instead.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cotrack/video.hpp"

namespace cotrack {

// Yields the frames of one clip in order. Not thread-safe: use one reader from one thread.
// Movable, not copyable.
class VideoReader {
 public:
  // Opens `path` (see the header comment) and decodes the first frame, so that a clip whose
  // first frame is unusable fails here. Throws InputError.
  explicit VideoReader(const std::string& path);
  VideoReader(VideoReader&&) noexcept;
  VideoReader& operator=(VideoReader&&) noexcept;
  ~VideoReader();

  // The next frame into `rgb` (resized to width * height * 3 bytes) and its size. Returns false
  // at the end of the clip (then leaves the arguments unchanged). Throws InputError for a corrupt
  // image or a frame whose size differs from the first frame's.
  bool next(std::vector<uint8_t>& rgb, int& width, int& height);

  // Number of frames: exact for images, the container's announcement for videos (the stream may
  // end earlier, see above), -1 when the container does not say.
  int frame_count() const;
  // Frames per second from the container; 0 when unknown (image directories, some streams).
  double fps() const;
  // Frame size in pixels, fixed by the first frame (known once the constructor returns).
  int width() const;
  int height() const;
  // Frames returned by next() so far.
  int64_t frames_read() const;
  // "images" or the OpenCV backend's name (e.g. "FFMPEG"), for logs.
  std::string backend() const;
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads a whole clip into memory: every frame, or the first `max_frames` when it is >= 0.
// Throws InputError like VideoReader, and also when the clip has no frame at all.
VideoFrames read_all(const std::string& path, int max_frames = -1);

// Writes the PNG clip format: dir/frames/000000.png, 000001.png, ... (lossless RGB, numbered
// from 0, six digits or more). Creates the directories; removes other image files already in
// dir/frames (the reader would take them for frames of this clip). Throws InputError when
// `video`'s sizes do not match its bytes, Error(kRuntime) when a file cannot be written.
void write_frames_png(const VideoFrames& video, const std::string& dir);

}  // namespace cotrack
