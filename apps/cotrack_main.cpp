// cotrack: the command-line entry point. Each subcommand lives in its own cmd_*.cpp; errors
// become one line on stderr and a documented exit code (README.md, "Exit codes").
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "commands.hpp"
#include "config_file.hpp"
#include "guarded_main.hpp"
#include "cotrack/error.hpp"
#include "cotrack/runtime.hpp"

int main(int argc, char** argv) {
  cotrack::pick_blas_kernels(argv);
  using cotrack::ExitCode;
  cotrack::reuse_freed_memory();
  CLI::App app{"cotrack: real-time point tracking with CoTracker3"};
  app.require_subcommand(1);
  std::vector<cotrack::app::Command> commands = {
#ifdef COTRACK_HAVE_PIPELINE
      cotrack::app::add_live(app),
#endif
      cotrack::app::add_demo(app),  cotrack::app::add_track(app), cotrack::app::add_eval(app),
      cotrack::app::add_synth(app), cotrack::app::add_model_info(app)};
  try {
    cotrack::app::parse_with_config(app, argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : static_cast<int>(ExitCode::kUsage);
  } catch (const cotrack::Error& e) {  // a config file's error
    fmt::print(stderr, "cotrack: {}\n", e.what());
    return static_cast<int>(e.code());
  }
  for (const auto& c : commands) {
    if (*c.sub) return cotrack::app::run_guarded("cotrack", c.run);
  }
  return 0;
}
