// Fuzzes the TOML config reader (apps/config_file.cpp) the way `cotrack live --config FILE`
// uses it: parse_with_config() on a subcommand with options of every kind the apps use, then
// effective_settings(). The input is the whole config file. cotrack::Error (UsageError) is the
// documented refusal; CLI::ParseError can only come from the fixed command line, so it is a
// finding too, as is anything else.
#include <CLI/CLI.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "config_file.hpp"
#include "cotrack/error.hpp"
#include "fuzz_common.hpp"

namespace {

struct Settings {
  std::string config, source = "test", drop = "thin";
  int width = 640, fps = 30, max_points = 256;
  double duration_s = 0.0, threshold = 0.6;
  bool no_window = false, refine = false;
  std::vector<double> point;
  std::vector<int> sizes;
};

void add_options(CLI::App& sub, Settings& s) {
  sub.add_option("--config", s.config, "TOML file of settings");
  sub.add_option("--source", s.source, "test, webcam, a file or an RTSP URL")
      ->capture_default_str();
  sub.add_option("--width", s.width, "capture width")
      ->capture_default_str()
      ->check(CLI::Range(16, 8192));
  sub.add_option("--fps", s.fps, "capture rate")->capture_default_str();
  sub.add_option("--max-points", s.max_points, "points at once")->capture_default_str();
  sub.add_option("--duration", s.duration_s, "stop after S seconds")->capture_default_str();
  sub.add_option("--threshold", s.threshold, "visibility threshold")->check(CLI::Range(0.0, 1.0));
  sub.add_option("--drop", s.drop, "thin or newest")->check(CLI::IsMember({"thin", "newest"}));
  sub.add_flag("--no-window", s.no_window, "headless");
  sub.add_flag("--refine", s.refine, "refine each point");
  sub.add_option("--point", s.point, "x y of a start point")->expected(2);
  sub.add_option("--sizes", s.sizes, "a list of sizes");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static cotrack::fuzz::MemFile file;
  const std::string& path = file.write(data, size);
  CLI::App app("fuzz");
  Settings settings;
  CLI::App* live = app.add_subcommand("live", "the live app");
  add_options(*live, settings);
  std::vector<std::string> args = {"cotrack", "live", "--config", path};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  try {
    cotrack::app::parse_with_config(app, static_cast<int>(argv.size()), argv.data());
    (void)cotrack::app::effective_settings(*live);
  } catch (const cotrack::Error& e) {
    cotrack::fuzz::refused(e);
  }
  return 0;
}
