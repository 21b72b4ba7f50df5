// The point commands that arrive as JSON objects (the browser view's POST bodies and MQTT's cmd
// messages): one reading of their fields and one wording of what is wrong with them.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <string>

#include "engine_worker.hpp"

namespace cotrack {

// {"x": X, "y": Y[, "frame": F]} (image pixels; F a source frame number) -> an add-point
// command in `c`. Returns "" or the one line that says what is wrong.
inline std::string add_point_from_json(const nlohmann::json& body, LiveCommand& c) {
  auto number = [&](const char* key, double& v) {
    if (!body.contains(key) || !body[key].is_number()) return false;
    v = body[key].get<double>();
    return std::isfinite(v);
  };
  double x = 0, y = 0;
  if (!number("x", x) || !number("y", y)) {
    return "expected {\"x\": X, \"y\": Y} in image pixels, optionally \"frame\"";
  }
  c = LiveCommand{LiveCommand::Kind::kAddPoint};
  c.x_px = static_cast<float>(x);
  c.y_px = static_cast<float>(y);
  if (body.contains("frame")) {
    if (!body["frame"].is_number_integer() || body["frame"].get<int64_t>() < 0) {
      return "\"frame\": expected a source frame number >= 0";
    }
    c.seq = body["frame"].get<int64_t>();
  }
  return "";
}

// {["n": N]} -> a grid command in `c`: an N x N grid, N 1..64, 4 when not given. Returns "" or
// the one line that says what is wrong.
inline std::string grid_from_json(const nlohmann::json& body, LiveCommand& c) {
  c = LiveCommand{LiveCommand::Kind::kGrid};
  c.grid = 4;
  if (body.contains("n")) {
    if (!body["n"].is_number_integer() || body["n"].get<int64_t>() < 1 ||
        body["n"].get<int64_t>() > 64) {
      return "\"n\": expected an integer 1..64";
    }
    c.grid = body["n"].get<int>();
  }
  return "";
}

}  // namespace cotrack
