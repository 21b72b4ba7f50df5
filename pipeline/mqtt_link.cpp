#include "mqtt_link.hpp"

#include <fmt/format.h>
#include <mosquitto.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "command_json.hpp"
#include "cotrack/error.hpp"
#include "cotrack/log.hpp"
#include "text_util.hpp"

namespace cotrack {
namespace {

using Json = nlohmann::json;

// libmosquitto's global state, set up once for the process.
void init_library() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

}  // namespace

MqttConfig MqttConfig::parse(const std::string& url) {
  MqttConfig c;
  std::string rest;
  if (url.rfind("mqtt://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("mqtts://", 0) == 0) {
    rest = url.substr(8);
    c.tls = true;
    c.port = 8883;
  } else {
    throw UsageError(fmt::format("mqtt '{}': expected mqtt://HOST[:PORT][/PREFIX] or mqtts://...",
                                 url));
  }
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) c.prefix = rest.substr(slash + 1);
  while (!c.prefix.empty() && c.prefix.back() == '/') c.prefix.pop_back();
  if (const size_t at = authority.rfind('@'); at != std::string::npos) {
    const std::string user = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t colon = user.find(':');
    c.username = user.substr(0, colon);
    if (colon != std::string::npos) c.password = user.substr(colon + 1);
  }
  if (const size_t colon = authority.rfind(':'); colon != std::string::npos) {
    const std::string port = authority.substr(colon + 1);
    authority = authority.substr(0, colon);
    long long p = -1;
    if (!parse_integer(port, p) || p < 1 || p > 65535) {
      throw UsageError(fmt::format("mqtt '{}': the port must be 1..65535", url));
    }
    c.port = static_cast<int>(p);
  }
  c.host = authority;
  if (c.host.empty()) throw UsageError(fmt::format("mqtt '{}': no broker host", url));
  if (c.prefix.empty()) c.prefix = "cotrack";
  return c;
}

void MqttConfig::validate() const {
  if (host.empty()) throw UsageError("mqtt: no broker host");
  if (prefix.find_first_of("+#") != std::string::npos) {
    throw UsageError(fmt::format("mqtt: the topic prefix '{}' must not contain + or #", prefix));
  }
  if (max_queue < 1) throw UsageError("mqtt-queue: expected >= 1 message");
  if (!cafile.empty() && !std::filesystem::exists(cafile)) {
    throw UsageError(fmt::format("mqtt-cafile {}: no such file", cafile));
  }
  if (!password.empty() && username.empty()) {
    throw UsageError("mqtt: a password needs a user name");
  }
}

std::string mqtt_tracks_json(const std::string& stream, const FrameEstimates& fe,
                             int64_t timestamp_ms) {
  Json j;
  j["stream"] = stream;
  j["frame"] = fe.frame_index;
  j["timestamp"] = timestamp_ms;
  Json points = Json::array();
  for (const auto& p : fe.points) {
    points.push_back({{"id", p.id},
                      {"x", round_to(p.x_px, 3)},
                      {"y", round_to(p.y_px, 3)},
                      {"visible", p.visible},
                      {"confidence", round_to(p.confidence, 4)}});
  }
  j["points"] = std::move(points);
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

struct MqttLink::Impl {
  MqttConfig cfg;
  PostCommand post;
  mosquitto* mosq = nullptr;
  std::atomic<bool> is_connected{false}, stopping{false};

  struct Message {
    std::string topic, payload;
    int qos = 0;
    bool retain = false;
  };
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<Message> queue;
  std::thread sender;
  std::atomic<int64_t> published{0}, dropped{0}, queued_max{0}, connects{0}, commands{0};
  int last_refusal = 0;  // the connection thread's

  void enqueue(Message m) {
    {
      std::lock_guard<std::mutex> lock(mu);
      queue.push_back(std::move(m));
      while (static_cast<int>(queue.size()) > cfg.max_queue) {
        queue.pop_front();
        ++dropped;
      }
      queued_max = std::max<int64_t>(queued_max.load(), static_cast<int64_t>(queue.size()));
    }
    cv.notify_one();
  }

  // Hands queued messages to the connection while it is up.
  void send_loop() {
    while (true) {
      Message m;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [this] { return stopping.load() || (is_connected.load() && !queue.empty()); });
        if (queue.empty() || !is_connected.load()) {
          if (stopping.load()) return;
          continue;
        }
        m = std::move(queue.front());
        queue.pop_front();
      }
      const int rc = mosquitto_publish(mosq, nullptr, m.topic.c_str(),
                                       static_cast<int>(m.payload.size()), m.payload.data(), m.qos,
                                       m.retain);
      if (rc == MOSQ_ERR_SUCCESS) {
        ++published;
      } else if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST) {
        // The connection went away meanwhile: the message waits for the next one.
        std::lock_guard<std::mutex> lock(mu);
        queue.push_front(std::move(m));
        is_connected.store(false);
      } else {
        ++dropped;  // refused for itself (too large for the broker): never sendable
      }
    }
  }

  void on_connect(int rc) {
    if (rc != 0) {
      // Retried in the background; said once per reason, not at every retry.
      if (rc != last_refusal) {
        log_message("mqtt: {}:{} refused the connection: {} (retrying)", cfg.host, cfg.port,
                    mosquitto_connack_string(rc));
      }
      last_refusal = rc;
      return;
    }
    last_refusal = 0;
    ++connects;
    const std::string topic = cfg.prefix + "/+/cmd";
    mosquitto_subscribe(mosq, nullptr, topic.c_str(), 1);
    if (connects.load() > 1) log_message("mqtt: reconnected to {}:{}", cfg.host, cfg.port);
    is_connected.store(true);
    cv.notify_all();
  }

  void on_disconnect(int rc) {
    is_connected.store(false);
    if (rc != 0 && !stopping.load()) {
      log_message("mqtt: lost {}:{} ({}); reconnecting, messages wait (at most {})", cfg.host,
                  cfg.port, mosquitto_strerror(rc), cfg.max_queue);
    }
  }

  // PREFIX/STREAM/cmd: {"cmd": "add", "x", "y"[, "frame"]} | {"cmd": "remove", "id"} |
  // {"cmd": "clear"} | {"cmd": "grid"[, "n"]} | {"cmd": "pause"}; the answer goes to
  // PREFIX/STREAM/result.
  void on_message(const mosquitto_message* m) {
    const std::string topic = m->topic != nullptr ? m->topic : "";
    const std::string head = cfg.prefix + "/";
    if (topic.rfind(head, 0) != 0 || topic.size() < head.size() + 5 ||
        topic.compare(topic.size() - 4, 4, "/cmd") != 0) {
      return;
    }
    ++commands;
    const std::string stream = topic.substr(head.size(), topic.size() - head.size() - 4);
    const std::string result_topic = cfg.prefix + "/" + stream + "/result";
    auto answer = [this, result_topic](Json j) {
      enqueue({result_topic, j.dump(-1, ' ', false, Json::error_handler_t::replace), 0, false});
    };
    const std::string text(static_cast<const char*>(m->payload),
                           static_cast<size_t>(std::max(0, m->payloadlen)));
    const Json body = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object() || !body.contains("cmd") ||
        !body["cmd"].is_string()) {
      answer({{"ok", false}, {"error", "expected a JSON object with \"cmd\""}});
      return;
    }
    const std::string cmd = body["cmd"].get<std::string>();
    LiveCommand c{LiveCommand::Kind::kClear};
    if (cmd == "add") {
      const std::string error = add_point_from_json(body, c);
      if (!error.empty()) {
        answer({{"cmd", cmd}, {"ok", false}, {"error", "add: " + error}});
        return;
      }
    } else if (cmd == "remove") {
      if (!body.contains("id") || !body["id"].is_number_integer()) {
        answer({{"cmd", cmd}, {"ok", false}, {"error", "remove: expected \"id\""}});
        return;
      }
      c.kind = LiveCommand::Kind::kRemovePoint;
      c.id = body["id"].get<int64_t>();
    } else if (cmd == "clear") {
      c.kind = LiveCommand::Kind::kClear;
    } else if (cmd == "grid") {
      const std::string error = grid_from_json(body, c);
      if (!error.empty()) {
        answer({{"cmd", cmd}, {"ok", false}, {"error", "grid: " + error}});
        return;
      }
    } else if (cmd == "pause") {
      c.kind = LiveCommand::Kind::kTogglePause;
    } else {
      answer({{"cmd", cmd}, {"ok", false},
              {"error", "unknown cmd (add, remove, clear, grid, pause)"}});
      return;
    }
    c.done = [answer, cmd](const CommandResult& r) {
      Json j{{"cmd", cmd}, {"ok", r.status == CommandResult::Status::kOk}};
      if (cmd == "add" && r.status == CommandResult::Status::kOk) j["id"] = r.id;
      if (cmd == "pause") j["paused"] = r.paused;
      if (!r.message.empty()) j["error"] = r.message;
      answer(j);
    };
    if (!post(stream, c)) {
      answer({{"cmd", cmd}, {"ok", false}, {"error", "no stream named '" + stream + "'"}});
    }
  }
};

MqttLink::MqttLink(MqttConfig config, PostCommand post)
    : impl_(std::make_unique<Impl>()) {
  config.validate();
  init_library();
  Impl& d = *impl_;
  d.cfg = std::move(config);
  d.post = std::move(post);
  const std::string id =
      d.cfg.client_id.empty() ? fmt::format("cotrack-{}", ::getpid()) : d.cfg.client_id;
  d.mosq = mosquitto_new(id.c_str(), /*clean_session=*/true, &d);
  if (d.mosq == nullptr) throw Error(ExitCode::kRuntime, "mqtt: cannot create a client");
  mosquitto_connect_callback_set(d.mosq, [](mosquitto*, void* self, int rc) {
    static_cast<Impl*>(self)->on_connect(rc);
  });
  mosquitto_disconnect_callback_set(d.mosq, [](mosquitto*, void* self, int rc) {
    static_cast<Impl*>(self)->on_disconnect(rc);
  });
  mosquitto_message_callback_set(d.mosq, [](mosquitto*, void* self, const mosquitto_message* m) {
    static_cast<Impl*>(self)->on_message(m);
  });
  if (!d.cfg.username.empty()) {
    mosquitto_username_pw_set(d.mosq, d.cfg.username.c_str(),
                              d.cfg.password.empty() ? nullptr : d.cfg.password.c_str());
  }
  if (d.cfg.tls) {
    const char* cafile = d.cfg.cafile.empty() ? nullptr : d.cfg.cafile.c_str();
    const char* capath = d.cfg.cafile.empty() ? "/etc/ssl/certs" : nullptr;
    const int rc = mosquitto_tls_set(d.mosq, cafile, capath, nullptr, nullptr, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      mosquitto_destroy(d.mosq);
      throw Error(ExitCode::kUsage, fmt::format("mqtt: TLS setup failed: {}", mosquitto_strerror(rc)));
    }
  }
  mosquitto_reconnect_delay_set(d.mosq, 1, 4, /*exponential=*/true);
  // The broker may be down now: connect_async returns at once and the loop keeps trying.
  const int rc = mosquitto_connect_async(d.mosq, d.cfg.host.c_str(), d.cfg.port, /*keepalive=*/10);
  if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_ERRNO) {
    mosquitto_destroy(d.mosq);
    throw Error(ExitCode::kUsage, fmt::format("mqtt {}:{}: {}", d.cfg.host, d.cfg.port,
                                              mosquitto_strerror(rc)));
  }
  if (rc == MOSQ_ERR_ERRNO) {
    log_message("mqtt: {}:{} not reachable yet; retrying in the background", d.cfg.host,
                d.cfg.port);
  }
  mosquitto_loop_start(d.mosq);
  d.sender = std::thread([&d] { d.send_loop(); });
}

MqttLink::~MqttLink() { stop(0); }

void MqttLink::publish_tracks(const std::string& stream, const FrameEstimates& estimates,
                              int64_t timestamp_ms) {
  impl_->enqueue({impl_->cfg.prefix + "/" + stream + "/tracks",
                  mqtt_tracks_json(stream, estimates, timestamp_ms), 0, false});
}

void MqttLink::publish_status(const std::string& stream, const std::string& json) {
  impl_->enqueue({impl_->cfg.prefix + "/" + stream + "/status", json, 1, true});
}

void MqttLink::stop(int timeout_ms) {
  Impl& d = *impl_;
  if (d.mosq == nullptr) return;
  // Let what waits go out while connected, up to the timeout.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline && d.is_connected.load()) {
    {
      std::lock_guard<std::mutex> lock(d.mu);
      if (d.queue.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  d.stopping.store(true);
  d.cv.notify_all();
  if (d.sender.joinable()) d.sender.join();
  if (timeout_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));  // in flight
  mosquitto_disconnect(d.mosq);
  mosquitto_loop_stop(d.mosq, /*force=*/false);
  mosquitto_destroy(d.mosq);
  d.mosq = nullptr;
}

MqttLink::Counters MqttLink::counters() const {
  Counters c;
  c.published = impl_->published.load();
  c.dropped = impl_->dropped.load();
  c.queued_max = impl_->queued_max.load();
  c.connects = impl_->connects.load();
  c.commands = impl_->commands.load();
  return c;
}

bool MqttLink::connected() const { return impl_->is_connected.load(); }

}  // namespace cotrack
