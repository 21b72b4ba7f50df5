// Drawing tracks and the HUD onto video frames, the preview window and the video/PNG outputs of
// the live app. No OpenCV types in this header.
//
// Frames are 8-bit, rows of width * 3 bytes, top row first ([H][W][3]); the renderer reads RGB
// (the pipeline's format) and writes BGR (what OpenCV's windows and writers take). Coordinates
// are video pixels with pixel centres at integers: (0, 0) is the centre of the top-left pixel.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cotrack/tracker.hpp"

namespace cotrack {

// What the HUD line shows. Every field is display-only; nothing is validated.
struct HudStats {
  double input_fps = 0, tracked_fps = 0;
  double latency_ms = 0;  // capture to draw; shown as "-" when negative or not finite
  int64_t received = 0, processed = 0, dropped = 0;
  int points = 0;
  int thin = 1;         // processing every thin-th frame, shown as "thin 1/<thin>"
  std::string mode;     // e.g. "cotrack low-latency"; left out when empty
  bool paused = false;  // appends "PAUSED"
  std::string status;   // one line, e.g. "reconnecting (attempt 2)"; left out when empty
  std::string accuracy;  // live accuracy against a known truth (synth source); left out when empty
  std::string streams;   // several streams: which one this is and the totals; left out when empty
};

struct RenderConfig {
  int trail_frames = 32;     // trail estimates per point, 0..4096 (0: no trails)
  bool show_help = false;    // the key/mouse help box in the middle of the frame
  bool show_hud = true;      // the stats band along the top
  bool show_ids = false;     // each point's id next to its marker
  bool show_legend = false;  // a line along the bottom saying what the markers mean
  int marker_radius_px = 4;  // marker radius in video pixels, 1..64

  void validate() const;  // throws UsageError naming the bad setting
};

// Draws a Snapshot onto a frame.
//
// Per track, with only the estimates whose frame <= frame_index considered:
//   * trail: the newest trail_frames estimates that have estimated = true, joined by line
//     segments in the track's colour. Segment k of n (k = n: newest) has opacity
//     0.15 + 0.85 * k / n and thickness from 1 px (oldest) up to max(2, marker_radius_px / 2)
//     (newest), so the trail fades out with age. A segment whose two ends are both occluded is
//     drawn dashed (dashes follow the arc length of the whole trail), 1 px, at 60 % of its
//     opacity; a segment with at least one visible end is drawn solid.
//   * marker: at the estimate for frame_index, or else the newest estimate before it: a filled
//     circle of radius marker_radius_px when visible, a hollow ring (centre left untouched) when
//     occluded, and a small cross when estimated = false (the point's query position, before its
//     first window). Markers have a thin dark outline for contrast. A track with no estimate at
//     or before frame_index draws nothing.
// All trails are drawn before all markers, so a marker is never covered by another trail. Then
// the HUD band (darkened top rows, white text wrapped at " | " to fit the width) and, with
// show_help, the help box. Text size follows the image size (readable from 320x240 to 1080p).
// Everything is anti-aliased (cv::LINE_AA) at sub-pixel positions.
//
// Cost on this project's CPU (one core): about 0.3 ms for the copy and the HUD of a 1280x720
// frame, plus about 11 ms for 256 points with 32-estimate trails (each translucent segment is
// blended in its own small region).
//
// Threading: draw() is const and keeps no state; one Renderer may draw on several threads at once
// as long as the config is not changed meanwhile.
class Renderer {
 public:
  // Throws UsageError for a bad config.
  explicit Renderer(RenderConfig config = {});

  const RenderConfig& config() const { return config_; }
  void set_config(const RenderConfig& config);  // throws UsageError for a bad config

  // rgb: [height][width][3] RGB, must not alias bgr_out. bgr_out is resized to width*height*3 and
  // receives the frame as BGR with the overlays drawn on it; pixels no overlay touches are the
  // exact input colours. Throws InputError for a null frame or a non-positive size.
  void draw(const uint8_t* rgb, int width, int height, const Snapshot& tracks, int64_t frame_index,
            const HudStats& hud, std::vector<uint8_t>& bgr_out) const;

  // The help box's lines ("left click: add point", ...), for --help and the README as well.
  static std::vector<std::string> help_lines();
  // The HUD text as one line (what draw() wraps to fit the frame).
  static std::string hud_text(const HudStats& hud);
  // The colour of point `id` (BGR): golden-ratio hue steps in HSV (saturation 0.85, value 1), so
  // consecutive ids get far-apart hues; the same id always gets the same colour.
  static void color_for(int64_t id, uint8_t& b, uint8_t& g, uint8_t& r);

 private:
  RenderConfig config_;
};

// What the preview window saw between two polls.
struct UiEvent {
  enum class Kind { kLeftClick, kRightClick, kKey, kClosed } kind = Kind::kKey;
  float x = 0, y = 0;  // clicks: image pixels (window coordinates scaled back when resized);
                       // outside the image for a click on a resized window's letterbox
  int key = 0;         // kKey: cv::waitKey's code (low byte: 'q', 27 for Esc, ' ', ...)
};

// An OpenCV HighGUI window (resizable, keeps the aspect ratio, no toolbar so clicks are not
// shifted) that shows BGR frames and reports clicks, keys and its closing.
//
// Threading: create, show, poll and destroy from one thread, the main thread (HighGUI's event
// loop runs inside poll()). Check display_available() first: without a display, HighGUI aborts
// the whole process on the first window.
class PreviewWindow {
 public:
  // True when DISPLAY or WAYLAND_DISPLAY is set and not empty.
  static bool display_available();

  // Opens a window of width x height (window pixels equal image pixels until the user resizes
  // it). Throws Error(kRuntime) when no display is available or the size is not positive.
  PreviewWindow(const std::string& title, int width, int height);
  PreviewWindow(const PreviewWindow&) = delete;
  PreviewWindow& operator=(const PreviewWindow&) = delete;
  ~PreviewWindow();  // destroys the window

  // bgr: [height][width][3]. The frame size may change between calls. A no-op once the window
  // was closed (showing again would reopen it). Throws InputError for a buffer of the wrong size.
  void show(const std::vector<uint8_t>& bgr, int width, int height);
  // Runs the event loop for wait_ms (at least 1 ms; waitKey(0) would block) and returns the
  // events since the last poll: clicks in arrival order, then the key pressed (if any), then
  // kClosed once, when the user has closed the window.
  std::vector<UiEvent> poll(int wait_ms);
  bool closed() const { return closed_; }
  const std::string& title() const { return title_; }

 private:
  static void on_mouse(int event, int x, int y, int flags, void* self);

  std::string title_;
  int image_width_ = 0, image_height_ = 0;  // the last frame shown (for clamping clicks)
  bool closed_ = false;
  bool close_reported_ = false;
  std::mutex mutex_;  // guards clicks_ and the image size (read by the mouse callback)
  std::vector<UiEvent> clicks_;
};

// Writes BGR frames to a video file:
//   .mp4 / .m4v / .mov / .mkv: H.264 (x264enc, ultrafast, zerolatency, 4:2:0) through a GStreamer
//     pipeline (mp4mux, qtmux for .mov, matroskamux for .mkv);
//   .avi: Motion-JPEG through OpenCV's FFMPEG backend.
// The extension is matched case-insensitively. Frames of odd width or height are padded by one
// replicated column/row (4:2:0 needs even sizes), so such a file is one pixel larger.
// Any width works: OpenCV's GStreamer writer skews frames whose width is not a multiple of 4
// (it pushes packed rows, GStreamer expects 4-byte aligned ones), so those are padded to a
// multiple of 4 on the way in and cropped back (videocrop) before the encoder.
//
// close() is cv::VideoWriter::release(): it sends end-of-stream and waits until the muxer has
// written the index (the MP4 moov atom), so a file closed on any orderly path -- including the
// app's SIGINT shutdown, which stops the loop and then calls close() or the destructor -- reads
// back. Never call it from inside a signal handler itself. A file whose writer is never closed
// (the process killed) is not playable as MP4; .mkv survives that better.
//
// Threading: write() and close() may be called from different threads (a mutex serialises them);
// write() after close() is ignored.
class VideoOut {
 public:
  // fps > 0 (the rate written into the file). Throws UsageError for a bad size, fps or an
  // unsupported extension, Error(kRuntime) naming the path when the file cannot be created or no
  // writer opens (e.g. GStreamer's x264enc is missing).
  VideoOut(const std::string& path, int width, int height, double fps);
  VideoOut(const VideoOut&) = delete;
  VideoOut& operator=(const VideoOut&) = delete;
  ~VideoOut();  // close()

  // bgr: [height][width][3] of the size given at construction; throws InputError otherwise.
  void write(const std::vector<uint8_t>& bgr);
  void close();            // finalises the file; idempotent
  int64_t frames() const;  // frames written so far
  const std::string& path() const { return path_; }

 private:
  struct Impl;
  std::string path_;
  std::unique_ptr<Impl> impl_;
};

// Writes bgr ([height][width][3]) as a PNG file; false (never throws) when it cannot.
bool write_png(const std::string& path, const std::vector<uint8_t>& bgr, int width, int height);

}  // namespace cotrack
