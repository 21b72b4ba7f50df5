// The one error policy of every program: a cotrack::Error becomes one line on stderr,
// "PROGRAM: message", and its documented exit code; any other exception becomes "PROGRAM:
// unexpected error: ..." and exit code kRuntime. Status lines carry the same prefix.
#pragma once

#include <fmt/format.h>

#include <exception>
#include <string>

#include "cotrack/error.hpp"
#include "cotrack/log.hpp"

namespace cotrack::app {

template <typename Body>
int run_guarded(const std::string& program, Body&& body) {
  set_log_prefix(program);
  try {
    return body();
  } catch (const Error& e) {
    fmt::print(stderr, "{}: {}\n", program, e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    // One line: LibTorch's errors append a C++ backtrace after the message.
    const std::string what = e.what();
    fmt::print(stderr, "{}: unexpected error: {}\n", program, what.substr(0, what.find('\n')));
    return static_cast<int>(ExitCode::kRuntime);
  }
}

}  // namespace cotrack::app
