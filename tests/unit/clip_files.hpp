// Helpers for unit tests that write and read clip folders.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cotrack/error.hpp"
#include "cotrack/synth.hpp"

namespace cotrack::test {

// A fresh path under the temp folder (not created): prefix, tag and a clock tick.
inline std::string unique_temp_dir(const std::string& prefix, const char* tag) {
  const auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
  return (std::filesystem::temp_directory_path() /
          (prefix + std::string(tag) + "_" + std::to_string(ticks)))
      .string();
}

inline std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

inline void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::trunc);
  for (const std::string& line : lines) out << line << '\n';
}

// The message of the InputError that read_clip(dir) throws ("" if none).
inline std::string read_clip_error(const std::string& dir) {
  try {
    cotrack::read_clip(dir);
  } catch (const cotrack::InputError& e) {
    CHECK(e.code() == cotrack::ExitCode::kInput);
    return e.what();
  }
  return "";
}

}  // namespace cotrack::test
