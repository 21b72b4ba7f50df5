#include <fmt/format.h>

#include <memory>

#include "commands.hpp"

namespace cotrack::app {

Command add_model_info(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  Command c;
  c.sub = app.add_subcommand("model-info", "Print what a model file holds, after checking it");
  c.sub->add_option("file", *path, "official scaled_online.pth or a cotrack model")->required();
  c.run = [path] {
    const ModelInfo info = inspect_model(*path);
    fmt::print("file:         {}\n", info.path);
    fmt::print("format:       {}{}\n", info.format,
               info.state_dict_key.empty() ? ""
                                           : fmt::format(" (under \"{}\")", info.state_dict_key));
    fmt::print("architecture: {}\n", info.config.summary());
    fmt::print("tensors:      {}\n", info.tensor_count);
    fmt::print("parameters:   {} ({} stored elements)\n", info.parameter_count,
               info.stored_elements);
    fmt::print("dtype:        {}\n", info.dtype);
    fmt::print("license:      {}\n", info.license);
    for (const auto& [key, value] : info.metadata) fmt::print("{:<13} {}\n", key + ":", value);
    return 0;
  };
  return c;
}

}  // namespace cotrack::app
