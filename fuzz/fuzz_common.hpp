// Helpers shared by the fuzz targets: a per-process in-memory file that path-taking readers can
// open, and a scratch directory. Call from one thread (libFuzzer runs inputs one at a time).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>

namespace cotrack::fuzz {

// A memfd reachable as "/proc/self/fd/N": no disk writes, nothing left behind after a crash.
class MemFile {
 public:
  MemFile() : fd_(::memfd_create("cotrack_fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  ~MemFile() { ::close(fd_); }

  // Replaces the contents; returns the path to open.
  const std::string& write(const void* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    for (size_t done = 0; done < size;) {
      const ssize_t n = ::pwrite(fd_, static_cast<const char*>(data) + done, size - done,
                                 static_cast<off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
    return path_;
  }
  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

// A fresh directory under $TMPDIR (scripts/fuzz.sh points it into build-fuzz/), removed at a
// normal exit. The first call's name is used for the whole process.
inline const std::filesystem::path& scratch_dir(const char* name) {
  static const std::filesystem::path dir = [&] {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / (std::string("cotrack_fuzz_") + name + ".XXXXXX"))
            .string();
    if (!::mkdtemp(tmpl.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    return std::filesystem::path(tmpl);
  }();
  // Registered after `dir` is constructed, so it runs before `dir` is destroyed.
  static const bool cleanup = (std::atexit([] {
                                 std::error_code ec;
                                 std::filesystem::remove_all(dir, ec);
                               }),
                               true);
  (void)cleanup;
  return dir;
}

// Prints a refused input's message when COTRACK_FUZZ_VERBOSE is set (checking seeds, triage);
// silent otherwise, so fuzzing stays fast.
inline void refused(const std::exception& e) {
  static const bool verbose = std::getenv("COTRACK_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "refused: %s\n", e.what());
}

}  // namespace cotrack::fuzz
