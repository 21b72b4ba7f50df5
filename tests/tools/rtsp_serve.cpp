// rtsp_serve: serves the RTSP test stream (tests/pipeline/rtsp_test_server.hpp) until SIGINT or
// SIGTERM, for the live app's end-to-end tests and its RTSP benchmark.
// Usage: rtsp_serve [PORT] [WIDTHxHEIGHT] [nosync]   (port 0 or none: a free port)
// nosync sends each packet as soon as it is encoded, like most cameras; by default the server
// holds each one for a frame (gst-rtsp-server's own pacing, 33 ms at 30 fps).
// Prints "rtsp://127.0.0.1:PORT/test" on stdout once serving.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "rtsp_test_server.hpp"

namespace {
volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_signal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 0;
  int w = 320, h = 240;
  if (argc > 2 && std::sscanf(argv[2], "%dx%d", &w, &h) != 2) {
    std::fprintf(stderr, "rtsp_serve: size '%s': expected WIDTHxHEIGHT\n", argv[2]);
    return 2;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  const std::string launch =
      "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=" + std::to_string(w) +
      ",height=" + std::to_string(h) +
      ",framerate=30/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! "
      "video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 )";
  cotrack::testing::RtspTestServer server;
  if (argc > 3 && std::string(argv[3]) == "nosync") server.set_sync(false);
  try {
    server.start(port, launch);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rtsp_serve: %s\n", e.what());
    return 1;
  }
  std::printf("%s\n", server.url().c_str());
  std::fflush(stdout);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  server.stop();
  return 0;
}
