// Helpers shared by the pipeline tests.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <system_error>

namespace cotrack::testing {

// A fresh directory under the system temp dir, removed with everything in it when the object
// goes away. `tag` names the test in the directory name.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    const auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
    path_ = std::filesystem::temp_directory_path() /
            ("cotrack_test_" + tag + "_" + std::to_string(ticks));
    std::filesystem::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace cotrack::testing
