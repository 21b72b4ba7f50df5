#include "cotrack/log.hpp"

#include <cstdio>
#include <mutex>

namespace cotrack {
namespace {

std::mutex g_mutex;
std::string g_prefix = "cotrack";
std::function<void(const std::string&)> g_sink;

}  // namespace

void set_log_prefix(std::string prefix) {
  const std::lock_guard<std::mutex> lock(g_mutex);
  g_prefix = std::move(prefix);
}

void set_log_sink(std::function<void(const std::string&)> sink) {
  const std::lock_guard<std::mutex> lock(g_mutex);
  g_sink = std::move(sink);
}

void log_line(const std::string& text) {
  const std::lock_guard<std::mutex> lock(g_mutex);
  if (g_sink) {
    g_sink(text);
    return;
  }
  const std::string line = g_prefix.empty() ? text + "\n" : g_prefix + ": " + text + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace cotrack
