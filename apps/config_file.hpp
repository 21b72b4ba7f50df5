// Config files for the commands: TOML whose keys are the long option names of a subcommand
// (`source = "test"` for `--source test`). The command line overrides the file. One option
// table (the CLI11 options) drives the command line, the file and --help.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace cotrack::app {

// The arguments that apply `path` to `sub`: "--key" "value" for every key whose option the
// command line did not set (flags as "--key=true|false", arrays as repeated values). Throws
// UsageError with one line naming the file and line for a syntax error, an unknown key (with the
// nearest valid key), a nested table or a value of the wrong kind.
std::vector<std::string> config_file_args(const CLI::App& sub, const std::string& path);

// The valid key nearest to `key` by edit distance, or "" when none is close.
std::string nearest_name(const std::string& key, const std::vector<std::string>& names);

// Parses argv; when the chosen subcommand has a `--config FILE` option that was given, parses
// again with the file's settings added (so the command line wins). CLI::ParseError propagates.
void parse_with_config(CLI::App& app, int argc, char** argv);

// "key=value key=value ..." for every long option of `sub` with a value (set or default): the
// effective settings, printed once at start.
std::string effective_settings(const CLI::App& sub);

}  // namespace cotrack::app
