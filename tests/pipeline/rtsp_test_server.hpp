// An RTSP server inside the test process (gst-rtsp-server; Debian ships no test-launch), for
// tests of live sources and of the whole app: serve a launch line at rtsp://127.0.0.1:PORT/test,
// stop it to make clients see the server vanish (error or end of stream), start it again on the
// same port to test reconnects. No GStreamer types in this header.
//
// Threading: the server runs its own GMainContext and GMainLoop on its own thread. Call start(),
// stop() and the accessors from one thread. Initialises GStreamer if nobody has.
#pragma once

#include <memory>
#include <string>

namespace cotrack::testing {

class RtspTestServer {
 public:
  // 320x240 @ 30 moving ball, H.264 baseline, a key frame every half second, no B-frames.
  static constexpr const char* kDefaultLaunch =
      "( videotestsrc is-live=true pattern=ball ! "
      "video/x-raw,width=320,height=240,framerate=30/1 ! "
      "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! "
      "video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 )";

  RtspTestServer();
  RtspTestServer(const RtspTestServer&) = delete;
  RtspTestServer& operator=(const RtspTestServer&) = delete;
  ~RtspTestServer();  // stops

  // Serves `launch` (a gst-rtsp-server launch line with payloaders named pay0, pay1, ...) at
  // `mount` on 127.0.0.1:`port`; port 0 picks a free port. Clients share one media pipeline.
  // Throws std::runtime_error when the port cannot be bound or the server is already running.
  void start(int port = 0, const std::string& launch = kDefaultLaunch,
             const std::string& mount = "/test");
  // Whether the server's network sinks wait for the clock (GStreamer's default, true): they then
  // hold each packet for the media's latency, one frame of a live videotestsrc (33 ms at 30 fps).
  // false sends each packet as soon as it is made, like most cameras (about 1 ms from the
  // payloader to a client's appsink on loopback); use it only with live launch lines, which pace
  // themselves. Takes effect at the next start().
  void set_sync(bool sync);
  // Starts again with the last port, launch line and mount (the port stays reserved for us
  // only by convention: another process could take it in between).
  void restart();
  // Closes every client connection and the listening socket, then ends the server thread:
  // connected clients see the connection drop, new ones are refused. Idempotent.
  void stop();

  bool running() const;
  int port() const;         // the bound port; the last one after stop(); 0 before any start
  std::string url() const;  // rtsp://127.0.0.1:PORT/MOUNT
  int clients() const;      // clients connected now (0 when stopped)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cotrack::testing
