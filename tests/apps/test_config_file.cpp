// Config files (apps/config_file.cpp): TOML keys are the long options; the command line wins;
// every mistake is one UsageError naming the file and line.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "config_file.hpp"
#include "cotrack/error.hpp"

namespace {

// A subcommand like the live app's, with an option of each kind.
struct Cli {
  CLI::App app{"test"};
  CLI::App* sub = nullptr;
  std::string config, source = "test", mode = "exact", refine = "auto";
  int width = 640;
  double threshold = 0.6;
  bool no_window = false;
  std::vector<std::string> engines;
  Cli() {
    sub = app.add_subcommand("live");
    sub->add_option("--config", config);
    sub->add_option("--source", source);
    sub->add_option("--mode", mode)->check(CLI::IsMember({"exact", "low-latency"}));
    sub->add_option("--width", width);
    sub->add_option("--visibility-threshold", threshold)->check(CLI::Range(0.0, 1.0));
    sub->add_flag("--no-window", no_window);
    sub->add_option("--refine", refine)  // alone: on; or a value, as the engine options' refine
        ->expected(0, 1)
        ->default_str("on")
        ->check(CLI::IsMember({"auto", "on", "off", "true", "false"}));
    sub->add_option("--engine", engines);
  }
  void parse(std::vector<std::string> args) {
    args.insert(args.begin(), "test");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    cotrack::app::parse_with_config(app, static_cast<int>(argv.size()), argv.data());
  }
};

std::string write_toml(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("cotrack_cfg_test_" + name + ".toml");
  std::ofstream(path) << text;
  return path.string();
}

// The UsageError's message, or "" when parsing succeeded.
std::string error_of(Cli& cli, const std::vector<std::string>& args) {
  try {
    cli.parse(args);
  } catch (const cotrack::UsageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("config file: values of every kind apply, and the command line wins") {
  const std::string path = write_toml("good", "source = \"rtsp://cam/1\"\nwidth = 1280\n"
                                              "visibility-threshold = 0.4\nno-window = true\n"
                                              "engine = [\"cotrack\", \"lk\"]\nmode = \"exact\"\n");
  Cli cli;
  cli.parse({"live", "--config", path, "--width", "320"});
  CHECK(cli.source == "rtsp://cam/1");
  CHECK(cli.width == 320);  // the command line's value
  CHECK(cli.threshold == doctest::Approx(0.4));
  CHECK(cli.no_window);
  CHECK(cli.engines == std::vector<std::string>{"cotrack", "lk"});
  const std::string settings = cotrack::app::effective_settings(*cli.sub);
  CHECK(settings.find("width=320") != std::string::npos);
  CHECK(settings.find("source=rtsp://cam/1") != std::string::npos);
}

TEST_CASE("config file: an option whose value is optional takes true, false or a value") {
  for (const auto& [text, want] : std::vector<std::pair<std::string, std::string>>{
           {"refine = \"off\"\n", "off"}, {"refine = false\n", "false"},
           {"refine = true\n", "true"}}) {
    Cli cli;
    cli.parse({"live", "--config", write_toml("optional", text)});
    CHECK(cli.refine == want);
  }
  Cli cli;
  const std::string bad = write_toml("optional_bad", "refine = \"sometimes\"\n");
  CHECK(error_of(cli, {"live", "--config", bad}).find(bad + ": ") == 0);
  Cli cli2;
  const std::string list = write_toml("optional_list", "refine = [\"on\"]\n");
  CHECK(error_of(cli2, {"live", "--config", list}).find("takes one value, not a list") !=
        std::string::npos);
}

TEST_CASE("config file: mistakes are one line naming the file and the line") {
  Cli cli;
  const std::string typo = write_toml("typo", "source = \"test\"\nwidht = 3\n");
  const std::string e1 = error_of(cli, {"live", "--config", typo});
  CHECK(e1.find(typo + ":2: unknown key 'widht'") != std::string::npos);
  CHECK(e1.find("did you mean 'width'?") != std::string::npos);

  Cli cli2;
  const std::string syntax = write_toml("syntax", "source = \"test\"\nwidth = = 3\n");
  CHECK(error_of(cli2, {"live", "--config", syntax}).find(syntax + ":2:") == 0);

  Cli cli3;
  const std::string table = write_toml("table", "[source]\nx = 1\n");
  CHECK(error_of(cli3, {"live", "--config", table}).find("is a table") != std::string::npos);

  Cli cli4;
  const std::string kind = write_toml("kind", "no-window = \"yes\"\n");
  CHECK(error_of(cli4, {"live", "--config", kind}).find("must be true or false") !=
        std::string::npos);

  Cli cli5;  // a value the option's own check refuses: the file is named
  const std::string range = write_toml("range", "visibility-threshold = 3.0\n");
  CHECK(error_of(cli5, {"live", "--config", range}).find(range + ": ") == 0);

  Cli cli6;
  const std::string list = write_toml("list", "width = [1, 2]\n");
  CHECK(error_of(cli6, {"live", "--config", list}).find("takes one value, not a list") !=
        std::string::npos);

  Cli cli7;
  CHECK(error_of(cli7, {"live", "--config", "/nonexistent/cotrack.toml"})
            .find("/nonexistent/cotrack.toml") != std::string::npos);
}

TEST_CASE("config file: nearest_name suggests only close keys") {
  const std::vector<std::string> names{"source", "width", "height", "visibility-threshold"};
  CHECK(cotrack::app::nearest_name("heigth", names) == "height");
  CHECK(cotrack::app::nearest_name("visibility_threshold", names) == "visibility-threshold");
  CHECK(cotrack::app::nearest_name("completely-different", names).empty());
}
