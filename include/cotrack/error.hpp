// Errors and process exit codes shared by the library and the apps.
#pragma once

#include <stdexcept>
#include <string>

namespace cotrack {

// Exit codes of every cotrack program (documented in README.md).
enum class ExitCode : int {
  kOk = 0,
  kRuntime = 1,     // an unexpected failure while running
  kUsage = 2,       // bad command line or config file
  kModel = 3,       // checkpoint cannot be read or does not match the architecture
  kInput = 4,       // input video, frames, points or clip cannot be read
  kInterrupted = 130,
};

// One-line, user-facing error. `what()` names the file or setting and the reason.
class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

// Checkpoint/model file problems (exit code kModel).
class ModelError : public Error {
 public:
  explicit ModelError(const std::string& message) : Error(ExitCode::kModel, message) {}
};

// Bad input data: frames, points, clips (exit code kInput).
class InputError : public Error {
 public:
  explicit InputError(const std::string& message) : Error(ExitCode::kInput, message) {}
};

// Bad settings: CLI flags, config keys, out-of-range values (exit code kUsage).
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(ExitCode::kUsage, message) {}
};

}  // namespace cotrack
