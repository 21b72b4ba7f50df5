#include "web_server.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <future>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <thread>

#include "command_json.hpp"
#include "cotrack/error.hpp"
#include "cotrack/track_io.hpp"
#include "steady_clock.hpp"
#include "text_util.hpp"

namespace cotrack {

const char* web_page_html();  // web_page.cpp

namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using Json = nlohmann::json;

constexpr const char* kBoundary = "cotrackframe";
constexpr int64_t kIdleReadNs = 30'000'000'000;  // a keep-alive connection with no request
constexpr int64_t kStalledWriteNs = 10'000'000'000;  // a client that stopped reading
constexpr size_t kMaxQueuedRows = 512;                // per /api/stream client

bool equal_constant_time(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// The value of `key` in a query string or cookie header ("a=1&b=2", "a=1; b=2"), percent-decoded.
std::string find_param(std::string_view s, std::string_view key, char sep) {
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t end = s.find(sep, pos);
    if (end == std::string_view::npos) end = s.size();
    std::string_view item = s.substr(pos, end - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    const size_t eq = item.find('=');
    if (eq != std::string_view::npos && item.substr(0, eq) == key) {
      std::string out;
      const std::string_view v = item.substr(eq + 1);
      auto hex = [](char ch) {
        if (ch >= '0' && ch <= '9') return ch - '0';
        if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
        if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
        return -1;
      };
      for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '%' && i + 2 < v.size() && hex(v[i + 1]) >= 0 && hex(v[i + 2]) >= 0) {
          out += static_cast<char>(hex(v[i + 1]) * 16 + hex(v[i + 2]));
          i += 2;
        } else {
          out += v[i] == '+' ? ' ' : v[i];
        }
      }
      return out;
    }
    pos = end + 1;
  }
  return "";
}

std::string error_body(const std::string& message) {
  return Json{{"error", message}}.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::string tracks_json(const LiveView& view) {
  Json j;
  j["frame"] = view.seq;
  j["width"] = view.width;
  j["height"] = view.height;
  j["paused"] = view.paused;
  j["tracks"] = Json::array();
  if (view.tracks) {
    for (const auto& t : view.tracks->tracks) {
      const PointEstimate* e = estimate_on(t, view.frame_index);
      if (e == nullptr) continue;
      j["tracks"].push_back({{"id", t.id},
                             {"x", round_to(e->x_px, 3)},
                             {"y", round_to(e->y_px, 3)},
                             {"visible", e->visible},
                             {"confidence", round_to(e->confidence, 4)},
                             {"estimated", e->estimated}});
    }
  }
  return j.dump();
}

std::string generate_token() {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 4; ++i) out += fmt::format("{:08x}", rd());
  return out;
}

ServeConfig ServeConfig::parse(const std::string& address) {
  ServeConfig c;
  std::string port_text = address;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find("]:");
    if (close == std::string::npos) {
      throw UsageError(fmt::format("serve '{}': expected [IPV6]:PORT", address));
    }
    c.host = address.substr(1, close - 1);
    port_text = address.substr(close + 2);
  } else if (const size_t colon = address.rfind(':'); colon != std::string::npos) {
    if (address.find(':') != colon) {
      throw UsageError(fmt::format("serve '{}': write an IPv6 address as [ADDRESS]:PORT", address));
    }
    if (colon > 0) c.host = address.substr(0, colon);
    port_text = address.substr(colon + 1);
  }
  long long port = -1;
  if (!parse_integer(port_text, port) || port < 0 || port > 65535) {
    throw UsageError(fmt::format("serve '{}': expected HOST:PORT with a port 0..65535", address));
  }
  c.port = static_cast<int>(port);
  return c;
}

bool ServeConfig::loopback() const {
  if (host == "localhost" || host == "::1") return true;
  boost::system::error_code ec;
  const auto a = net::ip::make_address(host, ec);
  return !ec && a.is_loopback();
}

void ServeConfig::validate() const {
  boost::system::error_code ec;
  if (host != "localhost") {
    net::ip::make_address(host, ec);
    if (ec) throw UsageError(fmt::format("serve: '{}' is not an IP address", host));
  }
  if (port < 0 || port > 65535) throw UsageError("serve: port must be 0..65535");
  if (max_clients < 1) throw UsageError("serve: max clients must be >= 1");
  if (jpeg_quality < 1 || jpeg_quality > 100) throw UsageError("serve-quality: expected 1..100");
  if (!token.empty() && token.size() < 8) {
    throw UsageError("serve-token: use at least 8 characters");
  }
  for (char ch : token) {
    if (ch <= ' ' || ch > '~' || ch == ';' || ch == '&' || ch == '%' || ch == '+') {
      throw UsageError("serve-token: printable ASCII only, without spaces, ';', '&', '%' or '+'");
    }
  }
}

struct WebServer::Impl {
  ServeConfig cfg;
  ServeHooks hooks;
  net::io_context ioc;  // owns the sockets' service; never run
  tcp::acceptor acceptor{ioc};
  std::atomic<bool> stopping{false};
  std::thread accept_thread, encode_thread;

  // A connection and its thread. `op_since` is when the current blocking read or write began (0:
  // none), so the accept thread can close a connection that stalls.
  struct Session {
    tcp::socket socket;
    std::thread thread;
    std::atomic<int> op{0};  // 0 none, 1 reading, 2 writing
    std::atomic<int64_t> op_since{0};
    std::atomic<bool> done{false};
    explicit Session(tcp::socket s) : socket(std::move(s)) {}
    void begin(int o) {
      op_since.store(steady_ns());
      op.store(o);
    }
    void end() { op.store(0); }
  };
  std::mutex sessions_mu;
  std::list<std::shared_ptr<Session>> sessions;

  // The newest encoded picture and the rows for /api/stream; `events` wakes the streaming
  // connections.
  struct Encoded {
    std::shared_ptr<const std::string> jpeg;
    int64_t seq = -1, capture_ms = 0;
    uint64_t serial = 0;
  };
  struct Subscriber {
    std::deque<std::string> rows;
    int64_t dropped = 0;
  };
  std::mutex mu;
  std::condition_variable events;
  Encoded encoded;
  std::list<std::shared_ptr<Subscriber>> subscribers;
  std::atomic<int64_t> n_subscribers{0}, viewers{0}, requests{0}, frames_encoded{0},
      rows_dropped{0}, refused{0}, snapshot_wanted_until{0};

  // The picture waiting for the encoder.
  std::mutex pending_mu;
  std::condition_variable pending_cv;
  std::vector<uint8_t> pending, encoding;
  int pending_w = 0, pending_h = 0;
  int64_t pending_seq = -1, pending_capture_ms = 0;
  bool has_pending = false;

  Impl(ServeConfig c, ServeHooks h) : cfg(std::move(c)), hooks(std::move(h)) {}

  bool wants_frames() const {
    return viewers.load() > 0 || steady_ns() < snapshot_wanted_until.load();
  }

  void listen() {
    boost::system::error_code ec;
    const auto address = net::ip::make_address(cfg.host == "localhost" ? "127.0.0.1" : cfg.host);
    const tcp::endpoint ep(address, static_cast<unsigned short>(cfg.port));
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      throw Error(ExitCode::kUsage,
                  fmt::format("serve {}:{}: cannot listen: {}", cfg.host, cfg.port, ec.message()));
    }
    acceptor.non_blocking(true);
  }

  // Accepts connections; every 200 ms also closes stalled ones and joins finished ones.
  void accept_loop() {
    while (!stopping.load()) {
      pollfd p{acceptor.native_handle(), POLLIN, 0};
      const int ready = ::poll(&p, 1, 200);
      if (ready > 0) {
        boost::system::error_code ec;
        tcp::socket s(ioc);
        acceptor.accept(s, ec);
        if (!ec) start_session(std::move(s));
      }
      reap(false);
    }
  }

  void start_session(tcp::socket s) {
    boost::system::error_code ec;
    s.non_blocking(false, ec);
    s.set_option(tcp::no_delay(true), ec);
    auto session = std::make_shared<Session>(std::move(s));
    std::lock_guard<std::mutex> lock(sessions_mu);
    if (static_cast<int>(sessions.size()) >= cfg.max_clients) {
      ++refused;
      const std::string busy = fmt::format(
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
          "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
          error_body("too many connections").size(), error_body("too many connections"));
      ::send(session->socket.native_handle(), busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      session->socket.close(ec);
      return;
    }
    session->thread = std::thread([this, session] {
      try {
        serve(*session);
      } catch (const std::exception&) {
        // A connection's failure ends that connection only.
      }
      boost::system::error_code ignored;
      session->socket.shutdown(tcp::socket::shutdown_both, ignored);
      session->done.store(true);
    });
    sessions.push_back(std::move(session));
  }

  // Joins finished sessions; shuts down stalled ones (or all, when stopping).
  void reap(bool all) {
    std::vector<std::shared_ptr<Session>> finished;
    {
      std::lock_guard<std::mutex> lock(sessions_mu);
      const int64_t now = steady_ns();
      for (auto it = sessions.begin(); it != sessions.end();) {
        Session& s = **it;
        if (s.done.load()) {
          finished.push_back(*it);
          it = sessions.erase(it);
          continue;
        }
        const int op = s.op.load();
        const int64_t age = now - s.op_since.load();
        if (all || (op == 1 && age > kIdleReadNs) || (op == 2 && age > kStalledWriteNs)) {
          ::shutdown(s.socket.native_handle(), SHUT_RDWR);  // unblocks its read or write
        }
        ++it;
      }
    }
    for (auto& s : finished) {
      if (s->thread.joinable()) s->thread.join();
    }
  }

  void encode_loop() {
    std::vector<uchar> jpeg;
    const std::vector<int> params{cv::IMWRITE_JPEG_QUALITY, cfg.jpeg_quality};
    while (true) {
      int w = 0, h = 0;
      int64_t seq = 0, capture_ms = 0;
      {
        std::unique_lock<std::mutex> lock(pending_mu);
        pending_cv.wait(lock, [this] { return has_pending || stopping.load(); });
        if (stopping.load()) return;
        std::swap(pending, encoding);
        has_pending = false;
        w = pending_w;
        h = pending_h;
        seq = pending_seq;
        capture_ms = pending_capture_ms;
      }
      const cv::Mat bgr(h, w, CV_8UC3, encoding.data());
      if (!cv::imencode(".jpg", bgr, jpeg, params)) continue;
      auto data = std::make_shared<const std::string>(jpeg.begin(), jpeg.end());
      {
        std::lock_guard<std::mutex> lock(mu);
        encoded.jpeg = std::move(data);
        encoded.seq = seq;
        encoded.capture_ms = capture_ms;
        ++encoded.serial;
      }
      ++frames_encoded;
      events.notify_all();
    }
  }

  // ---- one connection ----

  using Request = http::request<http::string_body>;

  bool write_all(Session& s, const std::vector<net::const_buffer>& buffers) {
    boost::system::error_code ec;
    s.begin(2);
    net::write(s.socket, buffers, ec);
    s.end();
    return !ec;
  }

  bool reply(Session& s, const Request& req, http::status status, const std::string& body,
             const std::string& type = "application/json",
             const std::vector<std::pair<std::string, std::string>>& extra = {}) {
    http::response<http::string_body> res{status, req.version()};
    res.set(http::field::server, "cotrack");
    res.set(http::field::content_type, type);
    res.set(http::field::cache_control, "no-store");
    for (const auto& [k, v] : extra) res.set(k, v);
    res.keep_alive(req.keep_alive());
    res.body() = body;
    res.prepare_payload();
    boost::system::error_code ec;
    s.begin(2);
    http::write(s.socket, res, ec);
    s.end();
    ++requests;
    return !ec && req.keep_alive();
  }

  bool reply_error(Session& s, const Request& req, http::status status, const std::string& msg) {
    return reply(s, req, status, error_body(msg));
  }

  bool authorized(const Request& req, std::string_view query) const {
    if (cfg.token.empty()) return true;
    const auto auth_field = req[http::field::authorization];
    const std::string_view auth(auth_field.data(), auth_field.size());
    const std::string_view bearer = "Bearer ";
    if (auth.size() > bearer.size() && auth.substr(0, bearer.size()) == bearer &&
        equal_constant_time(std::string(auth.substr(bearer.size())), cfg.token)) {
      return true;
    }
    const std::string from_query = find_param(query, "token", '&');
    if (!from_query.empty() && equal_constant_time(from_query, cfg.token)) return true;
    const auto cookie = req[http::field::cookie];
    const std::string from_cookie =
        find_param(std::string_view(cookie.data(), cookie.size()), "cotrack_token", ';');
    return !from_cookie.empty() && equal_constant_time(from_cookie, cfg.token);
  }

  void serve(Session& s) {
    boost::beast::flat_buffer buffer;
    while (!stopping.load()) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(cfg.max_body_bytes);
      parser.header_limit(16 * 1024);
      boost::system::error_code ec;
      s.begin(1);
      http::read(s.socket, buffer, parser, ec);
      s.end();
      if (ec == http::error::end_of_stream || ec == net::error::eof ||
          ec == net::error::connection_reset || ec == net::error::broken_pipe) {
        return;
      }
      if (ec) {
        Request bad;
        bad.version(11);
        bad.keep_alive(false);
        if (ec == http::error::body_limit) {
          reply_error(s, bad, http::status::payload_too_large,
                      fmt::format("request body over {} bytes", cfg.max_body_bytes));
        } else if (ec == http::error::header_limit) {
          reply_error(s, bad, http::status::request_header_fields_too_large, "headers too large");
        } else if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
          reply_error(s, bad, http::status::bad_request, "malformed HTTP request: " + ec.message());
        }
        return;
      }
      if (!handle(s, parser.get())) return;
    }
  }

  // Answers one request; returns whether the connection stays open for the next.
  bool handle(Session& s, const Request& req) {
    const std::string target(req.target());
    const size_t q = target.find('?');
    const std::string path = target.substr(0, q);
    const std::string query = q == std::string::npos ? "" : target.substr(q + 1);
    const auto method = req.method();
    if (!authorized(req, query)) {
      return reply(s, req, http::status::unauthorized,
                   error_body("missing or wrong token (send Authorization: Bearer TOKEN or "
                              "?token=TOKEN)"),
                   "application/json", {{"WWW-Authenticate", "Bearer"}});
    }
    auto allow = [&](http::verb v, const char* allowed) {
      if (method == v) return true;
      reply(s, req, http::status::method_not_allowed,
            error_body(fmt::format("{} {}: use {}", std::string(req.method_string()), path,
                                   allowed)),
            "application/json", {{"Allow", allowed}});
      return false;
    };
    if (path == "/" || path == "/index.html") {
      if (!allow(http::verb::get, "GET")) return req.keep_alive();
      return reply(s, req, http::status::ok, web_page_html(), "text/html; charset=utf-8");
    }
    if (path == "/stream.mjpg") {
      if (!allow(http::verb::get, "GET")) return req.keep_alive();
      stream_video(s);
      return false;
    }
    if (path == "/snapshot.jpg") {
      if (!allow(http::verb::get, "GET")) return req.keep_alive();
      return snapshot(s, req);
    }
    if (path == "/api/status") {
      if (!allow(http::verb::get, "GET")) return req.keep_alive();
      Json j = Json::parse(hooks.status_json());
      j["viewers"] = viewers.load();
      j["subscribers"] = n_subscribers.load();
      return reply(s, req, http::status::ok, j.dump());
    }
    if (path == "/api/tracks") {
      if (!allow(http::verb::get, "GET")) return req.keep_alive();
      return reply(s, req, http::status::ok, tracks_json(*hooks.latest()));
    }
    if (path == "/api/stream") {
      if (!allow(http::verb::get, "GET")) return req.keep_alive();
      stream_rows(s);
      return false;
    }
    if (path == "/api/points") {
      if (!allow(http::verb::post, "POST")) return req.keep_alive();
      return add_point(s, req);
    }
    if (path.rfind("/api/points/", 0) == 0) {
      if (!allow(http::verb::delete_, "DELETE")) return req.keep_alive();
      const std::string id_text = path.substr(std::string("/api/points/").size());
      long long id = -1;
      if (!parse_integer(id_text, id) || id < 0) {
        return reply_error(s, req, http::status::bad_request,
                           fmt::format("'{}' is not a point id", id_text));
      }
      LiveCommand c{LiveCommand::Kind::kRemovePoint};
      c.id = id;
      return command(s, req, c, [&](const CommandResult&) {
        return Json{{"removed", id}};
      });
    }
    if (path == "/api/reset") {
      if (!allow(http::verb::post, "POST")) return req.keep_alive();
      return command(s, req, LiveCommand{LiveCommand::Kind::kClear},
                     [](const CommandResult&) { return Json{{"ok", true}}; });
    }
    if (path == "/api/grid") {
      if (!allow(http::verb::post, "POST")) return req.keep_alive();
      Json body;
      if (!parse_body(s, req, body)) return false;
      LiveCommand c{LiveCommand::Kind::kGrid};
      const std::string error = grid_from_json(body, c);
      if (!error.empty()) return reply_error(s, req, http::status::bad_request, error);
      const int n = c.grid;
      return command(s, req, c, [n](const CommandResult&) { return Json{{"grid", n}}; });
    }
    if (path == "/api/pause") {
      if (!allow(http::verb::post, "POST")) return req.keep_alive();
      Json body;
      if (!parse_body(s, req, body)) return false;
      if (body.contains("paused")) {
        if (!body["paused"].is_boolean()) {
          return reply_error(s, req, http::status::bad_request, "\"paused\": expected true or false");
        }
        const bool now = hooks.latest()->paused;
        if (now == body["paused"].get<bool>()) {
          return reply(s, req, http::status::ok, Json{{"paused", now}}.dump());
        }
      }
      return command(s, req, LiveCommand{LiveCommand::Kind::kTogglePause},
                     [](const CommandResult& r) { return Json{{"paused", r.paused}}; });
    }
    return reply_error(s, req, http::status::not_found, fmt::format("no such page: {}", path));
  }

  // The body as a JSON object ({} when empty); answers 400 and returns false when malformed.
  bool parse_body(Session& s, const Request& req, Json& out) {
    if (req.body().empty()) {
      out = Json::object();
      return true;
    }
    out = Json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
    if (out.is_discarded() || !out.is_object()) {
      reply_error(s, req, http::status::bad_request, "the body is not a JSON object");
      return false;
    }
    return true;
  }

  bool add_point(Session& s, const Request& req) {
    Json body;
    if (!parse_body(s, req, body)) return false;
    LiveCommand c{LiveCommand::Kind::kAddPoint};
    const std::string error = add_point_from_json(body, c);
    if (!error.empty()) return reply_error(s, req, http::status::bad_request, error);
    return command(s, req, c, [](const CommandResult& r) { return Json{{"id", r.id}}; },
                   http::status::created);
  }

  // Posts `c` to the engine thread, waits for its answer and replies.
  template <class OnOk>
  bool command(Session& s, const Request& req, LiveCommand c, OnOk on_ok,
               http::status ok_status = http::status::ok) {
    auto promise = std::make_shared<std::promise<CommandResult>>();
    auto future = promise->get_future();
    c.done = [promise](const CommandResult& r) { promise->set_value(r); };
    hooks.post(c);
    if (future.wait_for(std::chrono::milliseconds(cfg.command_timeout_ms)) !=
        std::future_status::ready) {
      return reply_error(s, req, http::status::service_unavailable,
                         "the engine did not answer in time (no frame yet?)");
    }
    const CommandResult r = future.get();
    switch (r.status) {
      case CommandResult::Status::kOk:
        return reply(s, req, ok_status, on_ok(r).dump());
      case CommandResult::Status::kInvalid:
        return reply_error(s, req, http::status::unprocessable_entity, r.message);
      case CommandResult::Status::kNotFound:
        return reply_error(s, req, http::status::not_found, r.message);
      case CommandResult::Status::kGone:
        return reply_error(s, req, http::status::conflict, r.message);
    }
    return reply_error(s, req, http::status::internal_server_error, "unknown outcome");
  }

  bool snapshot(Session& s, const Request& req) {
    std::shared_ptr<const std::string> jpeg;
    {
      std::unique_lock<std::mutex> lock(mu);
      const uint64_t serial = encoded.serial;
      // Without viewers nothing is encoded: ask for the next picture and wait for it.
      snapshot_wanted_until.store(steady_ns() + 2'000'000'000);
      events.wait_for(lock, std::chrono::seconds(2),
                      [&] { return encoded.serial != serial || stopping.load(); });
      jpeg = encoded.jpeg;
    }
    if (!jpeg) {
      return reply_error(s, req, http::status::service_unavailable, "no picture yet");
    }
    return reply(s, req, http::status::ok, *jpeg, "image/jpeg");
  }

  void stream_video(Session& s) {
    const std::string head = fmt::format(
        "HTTP/1.1 200 OK\r\nServer: cotrack\r\nContent-Type: multipart/x-mixed-replace; "
        "boundary={}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        kBoundary);
    if (!write_all(s, {net::buffer(head)})) return;
    ++requests;
    ++viewers;
    uint64_t last = 0;
    while (!stopping.load()) {
      Encoded e;
      {
        std::unique_lock<std::mutex> lock(mu);
        events.wait_for(lock, std::chrono::seconds(1),
                        [&] { return encoded.serial != last || stopping.load(); });
        if (encoded.serial == last || !encoded.jpeg) continue;
        e = encoded;
      }
      last = e.serial;
      const std::string part = fmt::format(
          "--{}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nX-Frame: {}\r\n"
          "X-Capture-Ms: {}\r\n\r\n",
          kBoundary, e.jpeg->size(), e.seq, e.capture_ms);
      const std::string tail = "\r\n";
      if (!write_all(s, {net::buffer(part), net::buffer(*e.jpeg), net::buffer(tail)})) break;
    }
    --viewers;
  }

  void stream_rows(Session& s) {
    const std::string head =
        "HTTP/1.1 200 OK\r\nServer: cotrack\r\nContent-Type: text/event-stream\r\n"
        "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
    if (!write_all(s, {net::buffer(head)})) return;
    ++requests;
    auto sub = std::make_shared<Subscriber>();
    {
      std::lock_guard<std::mutex> lock(mu);
      subscribers.push_back(sub);
    }
    ++n_subscribers;
    while (!stopping.load()) {
      std::string out;
      {
        std::unique_lock<std::mutex> lock(mu);
        events.wait_for(lock, std::chrono::seconds(5),
                        [&] { return !sub->rows.empty() || stopping.load(); });
        if (sub->dropped > 0) {
          out += fmt::format("event: dropped\ndata: {{\"rows\":{}}}\n\n", sub->dropped);
          sub->dropped = 0;
        }
        for (const std::string& row : sub->rows) out += "data: " + row + "\n\n";
        sub->rows.clear();
      }
      if (out.empty()) out = ": keep-alive\n\n";  // finds clients that went away
      if (!write_all(s, {net::buffer(out)})) break;
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      subscribers.remove(sub);
    }
    --n_subscribers;
  }
};

WebServer::WebServer(ServeConfig config, ServeHooks hooks)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(hooks))) {
  impl_->cfg.validate();
  impl_->listen();
  impl_->accept_thread = std::thread([this] { impl_->accept_loop(); });
  impl_->encode_thread = std::thread([this] { impl_->encode_loop(); });
}

WebServer::~WebServer() { stop(); }

void WebServer::stop() {
  if (impl_->stopping.exchange(true)) return;
  {
    std::lock_guard<std::mutex> lock(impl_->pending_mu);
  }
  impl_->pending_cv.notify_all();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
  }
  impl_->events.notify_all();
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  if (impl_->encode_thread.joinable()) impl_->encode_thread.join();
  impl_->reap(/*all=*/true);
  while (true) {
    {
      std::lock_guard<std::mutex> lock(impl_->sessions_mu);
      if (impl_->sessions.empty()) break;
    }
    impl_->events.notify_all();
    impl_->reap(/*all=*/true);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
}

int WebServer::port() const { return impl_->acceptor.local_endpoint().port(); }

std::string WebServer::url() const {
  const std::string& host = impl_->cfg.host;
  const bool v6 = host.find(':') != std::string::npos;
  return fmt::format("http://{}{}{}:{}/{}", v6 ? "[" : "", host, v6 ? "]" : "", port(),
                     impl_->cfg.token.empty() ? "" : "?token=" + impl_->cfg.token);
}

void WebServer::publish_frame(const std::vector<uint8_t>& bgr, int width, int height, int64_t seq,
                              int64_t arrival_ns) {
  if (!impl_->wants_frames() || bgr.size() < static_cast<size_t>(width) * height * 3) return;
  const int64_t capture_ms = unix_ms_of(arrival_ns);
  {
    std::lock_guard<std::mutex> lock(impl_->pending_mu);
    impl_->pending.assign(bgr.begin(), bgr.begin() + static_cast<ptrdiff_t>(width) * height * 3);
    impl_->pending_w = width;
    impl_->pending_h = height;
    impl_->pending_seq = seq;
    impl_->pending_capture_ms = capture_ms;
    impl_->has_pending = true;
  }
  impl_->pending_cv.notify_one();
}

void WebServer::publish_final(const FrameEstimates& estimates) {
  if (impl_->n_subscribers.load() == 0) return;
  const std::string row = tracks_jsonl_row(estimates);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (auto& sub : impl_->subscribers) {
      sub->rows.push_back(row);
      if (sub->rows.size() > kMaxQueuedRows) {
        sub->rows.pop_front();
        ++sub->dropped;
        ++impl_->rows_dropped;
      }
    }
  }
  impl_->events.notify_all();
}

WebServer::Counters WebServer::counters() const {
  Counters c;
  c.requests = impl_->requests.load();
  c.viewers = impl_->viewers.load();
  c.subscribers = impl_->n_subscribers.load();
  c.frames_encoded = impl_->frames_encoded.load();
  c.rows_dropped = impl_->rows_dropped.load();
  c.refused = impl_->refused.load();
  return c;
}

}  // namespace cotrack
