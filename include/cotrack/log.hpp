// Status lines for people (torch-free): one line each, prefixed with the program's name
// ("cotrack live: ..."), to stderr unless a sink takes them. Library code logs through here, so
// the program decides the prefix and where lines go; results go to stdout or files, not here.
#pragma once

#include <fmt/format.h>

#include <functional>
#include <string>
#include <utility>

namespace cotrack {

// The prefix of every line, set once by the program ("cotrack live", "cotrack-train").
void set_log_prefix(std::string prefix);
// Where lines go instead of stderr (tests, an embedding application); nullptr restores stderr.
// The sink gets the line without prefix or newline. Set it before other threads log.
void set_log_sink(std::function<void(const std::string&)> sink);
// Writes one line; safe from any thread (lines never interleave).
void log_line(const std::string& text);

template <typename... Args>
void log_message(fmt::format_string<Args...> format, Args&&... args) {
  log_line(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace cotrack
