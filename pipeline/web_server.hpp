// The browser view of `cotrack live --serve`: an HTTP server on its own threads that streams the
// drawn picture as Motion-JPEG, answers a small JSON API and passes points, removals, grid, clear
// and pause to the engine thread as the window's clicks and keys do.
//
//   GET  /                 the page (video with the overlay, buttons, point list)
//   GET  /stream.mjpg      multipart/x-mixed-replace JPEG parts; each part carries X-Frame (the
//                          source frame number) and X-Capture-Ms (when the frame arrived, Unix ms)
//   GET  /snapshot.jpg     the newest drawn picture
//   GET  /api/status       engine, source state, rates, latency, drops, points, viewers
//   GET  /api/tracks       {"frame", "width", "height", "tracks": [{id, x, y, visible, ...}]}
//   GET  /api/stream       server-sent events: one tracks.jsonl row per final frame
//   POST /api/points       {"x": X, "y": Y[, "frame": F]} -> 201 {"id": N, "frame": F}
//   DELETE /api/points/N   -> {"removed": N}
//   POST /api/reset        every point removed
//   POST /api/grid         {"n": N} (optional, default 4): an N x N grid of points
//   POST /api/pause        {"paused": B} (optional; without it the pause toggles) -> {"paused": B}
//
// Every request carries the token when one is set (Authorization: Bearer T, ?token=T or the
// cotrack_token cookie); others get 401. Bad requests get a 4xx with {"error": "one line"}.
// Threads: one accepts (and closes stalled connections), one encodes, one per connection.
// The JPEG is encoded once per drawn frame whatever the number of viewers, and only while
// someone watches. No Boost, OpenCV or JSON types in this header.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cotrack/tracker.hpp"
#include "engine_worker.hpp"

namespace cotrack {

struct ServeConfig {
  std::string host = "127.0.0.1";
  int port = 8091;       // 0: any free port
  std::string token;     // when set, every request must carry it
  int max_clients = 128;  // connections at once; more get 503
  int jpeg_quality = 80;  // 1..100
  size_t max_body_bytes = 16 * 1024;
  int command_timeout_ms = 3000;  // how long a request waits for the engine thread

  // "HOST:PORT", "[IPV6]:PORT", ":PORT" or "PORT" (host 127.0.0.1). Throws UsageError.
  static ServeConfig parse(const std::string& address);
  // Whether `host` is a loopback address (127.0.0.0/8, ::1, localhost).
  bool loopback() const;
  void validate() const;  // throws UsageError naming the bad setting
};

// A fresh random token: 32 hex digits.
std::string generate_token();

// What the server asks the live app for. Hooks run on request threads.
struct ServeHooks {
  std::function<std::string()> status_json;                 // GET /api/status: a JSON object
  std::function<std::shared_ptr<const LiveView>()> latest;  // the engine thread's newest view
  std::function<bool(const LiveCommand&)> post;             // a command for the engine thread
};

// {"frame": seq, "width", "height", "paused", "tracks": [{"id", "x", "y", "visible",
// "confidence", "estimated"}]}: each point's estimate on the view's frame (its newest one before
// that frame, or its query position before its first estimate).
std::string tracks_json(const LiveView& view);

class WebServer {
 public:
  // Binds and listens; throws Error (kUsage) with one line when the address cannot be bound.
  WebServer(ServeConfig config, ServeHooks hooks);
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;
  ~WebServer();  // stop()

  // Closes every connection and joins every thread. Idempotent.
  void stop();
  int port() const;         // the bound port
  std::string url() const;  // http://HOST:PORT/ (with ?token=T when a token is set)

  // A drawn picture (BGR rows of width * 3) of source frame `seq` that arrived at `arrival_ns`
  // (steady clock), for the video stream. Any thread; returns at once (a copy, and only while
  // someone watches). The encoder thread encodes the newest one.
  void publish_frame(const std::vector<uint8_t>& bgr, int width, int height, int64_t seq,
                     int64_t arrival_ns);
  // A final frame's estimates (frame_index = source frame) for /api/stream. Any thread.
  void publish_final(const FrameEstimates& estimates);

  struct Counters {
    int64_t requests = 0;        // requests answered
    int64_t viewers = 0;         // video streams open now
    int64_t subscribers = 0;     // /api/stream clients now
    int64_t frames_encoded = 0;  // JPEGs encoded
    int64_t rows_dropped = 0;    // /api/stream rows a slow client missed
    int64_t refused = 0;         // connections refused with 503 (too many)
  };
  Counters counters() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cotrack
