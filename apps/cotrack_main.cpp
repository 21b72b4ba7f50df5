// cotrack: the command-line entry point. Subcommands are small functions; errors become one
// line on stderr and a documented exit code (README.md, "Exit codes").
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <string>

#include "cotrack/error.hpp"
#include "cotrack/model.hpp"

namespace {

using cotrack::ExitCode;

int run_model_info(const std::string& path) {
  const cotrack::ModelInfo info = cotrack::inspect_model(path);
  fmt::print("file:         {}\n", info.path);
  fmt::print("format:       {}{}\n", info.format,
             info.state_dict_key.empty() ? "" : fmt::format(" (under \"{}\")", info.state_dict_key));
  fmt::print("architecture: {}\n", info.config.summary());
  fmt::print("tensors:      {}\n", info.tensor_count);
  fmt::print("parameters:   {} ({} stored elements)\n", info.parameter_count, info.stored_elements);
  fmt::print("dtype:        {}\n", info.dtype);
  for (const auto& [key, value] : info.metadata) fmt::print("{:<13} {}\n", key + ":", value);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cotrack: real-time point tracking with CoTracker3"};
  app.require_subcommand(1);

  std::string info_path;
  auto* info = app.add_subcommand("model-info", "Print what a model file holds and check it");
  info->add_option("file", info_path, "checkpoint: official scaled_online.pth or a cotrack model")
      ->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : static_cast<int>(ExitCode::kUsage);
  }
  try {
    if (*info) return run_model_info(info_path);
  } catch (const cotrack::Error& e) {
    fmt::print(stderr, "cotrack: {}\n", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    fmt::print(stderr, "cotrack: unexpected error: {}\n", e.what());
    return static_cast<int>(ExitCode::kRuntime);
  }
  return 0;
}
