// Tracks on a message bus: `cotrack live --mqtt mqtt://HOST:PORT/PREFIX` publishes each stream's
// final estimates to PREFIX/STREAM/tracks, its status (retained) to PREFIX/STREAM/status, and
// takes point commands from PREFIX/STREAM/cmd (answers on PREFIX/STREAM/result). libmosquitto
// runs the connection on its own thread and reconnects after a broker restart; outgoing messages
// wait in a bounded queue, so the tracking loop never waits for the broker and a long outage
// costs messages (counted), never frames. No libmosquitto types in this header.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cotrack/tracker.hpp"
#include "engine_worker.hpp"

namespace cotrack {

struct MqttConfig {
  std::string host;
  int port = 1883;
  std::string prefix = "cotrack";  // topics are PREFIX/STREAM/...
  bool tls = false;                // mqtts://
  std::string username, password;
  std::string cafile;              // TLS: the CA certificates (default: the system's)
  std::string client_id;           // default: cotrack-<pid>
  int max_queue = 1000;            // messages waiting while the broker is away

  // "mqtt://[USER[:PASSWORD]@]HOST[:PORT][/PREFIX]" or "mqtts://..." (port 1883 / 8883, prefix
  // cotrack). Throws UsageError.
  static MqttConfig parse(const std::string& url);
  void validate() const;  // throws UsageError
};

// {"stream", "frame", "timestamp" (Unix ms of the frame's arrival), "points": [{"id", "x", "y",
// "visible", "confidence"}]}: the payload of PREFIX/STREAM/tracks.
std::string mqtt_tracks_json(const std::string& stream, const FrameEstimates& estimates,
                             int64_t timestamp_ms);

class MqttLink {
 public:
  // A command that arrived on PREFIX/STREAM/cmd, for the stream's engine thread; returns false
  // for an unknown stream.
  using PostCommand = std::function<bool(const std::string& stream, const LiveCommand& command)>;
  // Connects in the background (the broker may be down at start). Throws Error for a bad
  // setting (TLS files that cannot be read).
  MqttLink(MqttConfig config, PostCommand post);
  MqttLink(const MqttLink&) = delete;
  MqttLink& operator=(const MqttLink&) = delete;
  ~MqttLink();  // stop()

  // Any thread; never blocks on the network.
  void publish_tracks(const std::string& stream, const FrameEstimates& estimates,
                      int64_t timestamp_ms);
  void publish_status(const std::string& stream, const std::string& json);  // retained
  // Sends what waits (up to `timeout_ms`), then disconnects. Idempotent.
  void stop(int timeout_ms = 2000);

  struct Counters {
    int64_t published = 0;   // messages handed to the broker connection
    int64_t dropped = 0;     // messages dropped because the queue was full
    int64_t queued_max = 0;  // the most messages that waited at once
    int64_t connects = 0;    // successful connections (1 + reconnects)
    int64_t commands = 0;    // commands received
  };
  Counters counters() const;
  bool connected() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cotrack
