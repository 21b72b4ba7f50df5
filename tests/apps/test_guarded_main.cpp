// The programs' error policy (apps/guarded_main.hpp): every failure is one line on stderr.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "cotrack/error.hpp"
#include "guarded_main.hpp"

namespace {

// What run_guarded writes to stderr for `body`, and its return value.
template <typename Body>
std::pair<int, std::string> stderr_of(Body&& body) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("cotrack_guarded_" + std::to_string(::getpid()) + ".txt"))
                               .string();
  std::fflush(stderr);
  const int saved = ::dup(2);
  REQUIRE(std::freopen(path.c_str(), "w", stderr) != nullptr);
  const int code = cotrack::app::run_guarded("prog", body);
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::filesystem::remove(path);
  return {code, text.str()};
}

}  // namespace

TEST_CASE("guarded main: an unexpected error with a backtrace is still one line") {
  // LibTorch's c10::Error appends "Exception raised from ..." and a backtrace to its message.
  const auto [code, text] = stderr_of([]() -> int {
    throw std::runtime_error("expected scalar type BFloat16 but found Float\n"
                             "Exception raised from data_ptr at TensorMethods.cpp:20\nframe #0: ...");
  });
  CHECK(code == static_cast<int>(cotrack::ExitCode::kRuntime));
  CHECK(text == "prog: unexpected error: expected scalar type BFloat16 but found Float\n");
}

TEST_CASE("guarded main: cotrack errors keep their message and exit code") {
  const auto [code, text] = stderr_of([]() -> int { throw cotrack::UsageError("bad --points"); });
  CHECK(code == static_cast<int>(cotrack::UsageError("x").code()));
  CHECK(text == "prog: bad --points\n");
  const auto [ok, none] = stderr_of([]() -> int { return 0; });
  CHECK(ok == 0);
  CHECK(none.empty());
}
